"""Who hears of what, and how: the notification rules (one per notice kind; every signed-in user
reads them, only admins change them) and each user's own notification preferences (channels,
quiet hours, digest, mutes). A mixin of NotificationsService; notices.py applies both."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.errors import NotFound, PreconditionFailed

from . import notice_rules as rules
from .delivery_rules import stamp
from .store import NOTIFICATION_PREFERENCES, NOTIFICATION_RULES


def _check_version(name: str, current: dict, expected_version: int | None) -> None:
    """If-Match: a stored document's version, 0 for built-in defaults never stored."""
    if expected_version is not None and current["version"] != expected_version:
        raise PreconditionFailed(f"{name} is at version {current['version']}")


def _store_new_or_changed(tx, collection: str, doc: dict, current: dict) -> dict:
    if current["version"] == 0:  # the built-in defaults: the first write stores it, at version 1
        return tx[collection].insert({name: value for name, value in doc.items() if name != "version"})
    return tx[collection].replace(doc, current["version"])


class PreferencesRpc:
    """RPC entrypoints of notification rules and the caller's notification preferences."""

    @rpc
    def get_notification_preferences(self, account_email: str | None = None) -> dict:
        """The caller's own preferences: stored, else the defaults with their account email."""
        return self.store[NOTIFICATION_PREFERENCES].get(self.caller.user_id) or rules.default_preferences(
            self.caller.user_id, account_email
        )

    @rpc
    def update_notification_preferences(
        self, data: dict, expected_version: int | None = None, account_email: str | None = None
    ) -> dict:
        """A partial change of the caller's preferences (the first one stores them, version 1):
        `quiet_hours` null clears them, `muted` replaces the whole map. Returns what is stored."""
        user_id = self.caller.user_id
        with self.store.transaction() as tx:
            current = tx[NOTIFICATION_PREFERENCES].get(user_id) or rules.default_preferences(user_id, account_email)
            _check_version("your notification preferences", current, expected_version)
            changed = rules.changed_preferences(current, data)
            if current["version"] and changed == current:
                return current
            now = stamp(self._now())
            changed.update(updated_at=now, created_at=current.get("created_at") or now)
            return _store_new_or_changed(tx, NOTIFICATION_PREFERENCES, changed, current)

    def _rule_of(self, source, notification_rule_id: str) -> dict:
        if not isinstance(notification_rule_id, str) or notification_rule_id not in rules.KINDS:
            raise NotFound(f"no notification rule {notification_rule_id}")
        return self._notice_rule(source, notification_rule_id)

    @rpc
    def list_notification_rules(self, query: dict | None = None) -> dict:
        """Every kind's rule, in catalog order: who hears what is no secret among colleagues."""
        return {"data": [self._notice_rule(self.store, kind) for kind in rules.KINDS], "next_cursor": None}

    @rpc
    def get_notification_rule(self, notification_rule_id: str) -> dict:
        return self._rule_of(self.store, notification_rule_id)

    @rpc
    def update_notification_rule(
        self, notification_rule_id: str, data: dict, expected_version: int | None = None
    ) -> dict:
        """A partial change of a kind's rule: audiences, user_ids, channels, enabled, urgent, mandatory."""
        require_role(self.caller, (ADMIN,), "change notification rules")
        with self.store.transaction() as tx:
            current = self._rule_of(tx, notification_rule_id)
            _check_version(f"notification rule {notification_rule_id}", current, expected_version)
            changed = rules.changed_rule(current, data)
            changed.update(customized=True, updated_at=stamp(self._now()), updated_by=self.caller.user_id)
            return _store_new_or_changed(tx, NOTIFICATION_RULES, changed, current)
