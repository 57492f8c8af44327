"""Message templates per key, channel and language: admins write them, admins and managers read and
preview them, and `_render` turns a key into the subject and body a delivery carries (the admin's
template, else the built-in default). A mixin of NotificationsService."""

import logging
import os

from nameko.rpc import rpc

from crm_common.access import ADMIN, MANAGER, require_role
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.schema import Field, validate

from . import template_rules as rules
from .delivery_rules import stamp
from .store import NOTIFICATION_TEMPLATES

log = logging.getLogger(__name__)

TEMPLATE_FIELDS = {
    "key": Field("choice", required=True, choices=tuple(rules.CATALOG), nullable=False),
    "channel": Field("choice", required=True, choices=rules.CHANNELS, nullable=False),
    "language": Field("choice", required=True, choices=rules.LANGUAGES, nullable=False),
    "subject": Field("text", max_length=rules.MAX_SUBJECT_SOURCE),
    "body": Field("text", required=True, max_length=max(rules.MAX_BODY_SOURCE.values()), nullable=False),
    "description": Field("text", max_length=500),
}
IDENTITY = ("key", "channel", "language")
SERVER_OWNED = ("id", "variables", "version", "created_at", "updated_at", "created_by", "updated_by")
FILTERABLE = ("key", "channel", "language", "created_at", "updated_at")
SORTABLE = ("key", "channel", "language", "created_at", "updated_at")
READERS = (ADMIN, MANAGER)
# Who the built-in company_name is when the caller gives none.
DEFAULT_COMPANY_NAME = "Customer Service"


def _checked_text(key: str, channel: str, subject: str | None, body: str) -> None:
    errors = rules.template_problems(key, channel, subject, body)
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) in the template", errors)


class TemplatesRpc:
    """RPC entrypoints of the notification templates, and `_render` for whoever queues a message."""

    def _existing_template(self, source, template_id: str) -> dict:
        doc = source[NOTIFICATION_TEMPLATES].get(template_id) if isinstance(template_id, str) else None
        if doc is None:
            raise NotFound(f"notification template {template_id} not found")
        return doc

    def _template_for(self, source, key: str, channel: str, language: str) -> dict | None:
        found = source[NOTIFICATION_TEMPLATES].find({"key": key, "channel": channel, "language": language}, None, 1)
        return found.items[0] if found.items else None

    def _refuse_taken(self, tx, key: str, channel: str, language: str) -> None:
        taken = self._template_for(tx, key, channel, language)
        if taken is not None:
            raise Conflict(
                f"a {language} {channel} template for {key} exists already: change that one",
                [{"id": taken["id"], "key": key, "channel": channel, "language": language}],
            )

    @rpc
    def get_notification_template_catalog(self) -> dict:
        """The template keys, their variables with sample values, and the built-in defaults."""
        require_role(self.caller, READERS, "read notification templates")
        return {"data": rules.catalog_view(), "channels": list(rules.CHANNELS), "languages": list(rules.LANGUAGES)}

    @rpc
    def create_notification_template(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "write notification templates")
        fields = validate(data, TEMPLATE_FIELDS, server_owned=SERVER_OWNED)
        fields.setdefault("subject", None)
        _checked_text(fields["key"], fields["channel"], fields["subject"], fields["body"])
        now = stamp(self._now())
        doc = {
            "id": new_id(),
            **fields,
            "description": fields.get("description"),
            "variables": rules.variables_used(fields["subject"], fields["body"]),
            "created_by": self.caller.user_id,
            "updated_by": self.caller.user_id,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.transaction() as tx:
            self._refuse_taken(tx, doc["key"], doc["channel"], doc["language"])
            try:
                return tx[NOTIFICATION_TEMPLATES].insert(doc)
            except Conflict:  # the same key, channel and language, written meanwhile
                raise Conflict(
                    f"a {doc['language']} {doc['channel']} template for {doc['key']} exists already"
                ) from None

    @rpc
    def get_notification_template(self, notification_template_id: str) -> dict:
        require_role(self.caller, READERS, "read notification templates")
        return self._existing_template(self.store, notification_template_id)

    @rpc
    def list_notification_templates(self, query: dict | None = None) -> dict:
        """The templates admins wrote (the built-in defaults are in the catalog)."""
        require_role(self.caller, READERS, "read notification templates")
        q = parse_list_query(query or {}, filterable=FILTERABLE, sortable=SORTABLE, default_sort="key")
        page = self.store[NOTIFICATION_TEMPLATES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_notification_template(
        self, notification_template_id: str, data: dict, expected_version: int | None = None
    ) -> dict:
        """A partial change of `subject`, `body`, `description`; key, channel and language are what
        the template is for, and cannot change (create another one)."""
        require_role(self.caller, (ADMIN,), "write notification templates")
        fields = validate(data, TEMPLATE_FIELDS, partial=True, server_owned=SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._existing_template(tx, notification_template_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(
                    f"notification template {notification_template_id} is at version {current['version']}"
                )
            moved = [name for name in IDENTITY if name in fields and fields[name] != current[name]]
            if moved:
                raise ValidationFailed(
                    "a template's key, channel and language cannot change",
                    [{"field": name, "message": "cannot be changed: create another template"} for name in moved],
                )
            updated = {**current, **fields}
            if all(current.get(name) == value for name, value in fields.items()):
                return current
            _checked_text(updated["key"], updated["channel"], updated.get("subject"), updated["body"])
            updated["variables"] = rules.variables_used(updated.get("subject"), updated["body"])
            updated.update(updated_by=self.caller.user_id, updated_at=stamp(self._now()))
            return tx[NOTIFICATION_TEMPLATES].replace(updated, current["version"])

    @rpc
    def delete_notification_template(self, notification_template_id: str, expected_version: int | None = None) -> None:
        """The built-in default applies again to its key, channel and language."""
        require_role(self.caller, (ADMIN,), "write notification templates")
        with self.store.transaction() as tx:
            current = self._existing_template(tx, notification_template_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(
                    f"notification template {notification_template_id} is at version {current['version']}"
                )
            if not tx[NOTIFICATION_TEMPLATES].delete(notification_template_id, expected_version):
                raise NotFound(f"notification template {notification_template_id} not found")

    @rpc
    def preview_notification_template(self, data: dict, variables: dict | None = None) -> dict:
        """Render a draft `{key, channel, language, subject, body}`, a stored `{template_id}`, or
        what is in force for `{key, channel, language}` (the admin's template, else the default),
        with the catalog's sample values overridden by `variables`. The draft is validated as a
        create would be: ValidationFailed names each problem."""
        require_role(self.caller, READERS, "preview notification templates")
        if isinstance(data, dict) and "template_id" in data:
            validate(data, {"template_id": Field("id", required=True, max_length=64, nullable=False)})
            template = self._existing_template(self.store, data["template_id"])
        else:
            fields = validate(data, TEMPLATE_FIELDS, partial=True, server_owned=SERVER_OWNED)
            missing = [{"field": name, "message": "is required"} for name in IDENTITY if name not in fields]
            if missing:
                raise ValidationFailed(f"{len(missing)} invalid field(s)", missing)
            if "body" in fields:
                template = {**fields, "subject": fields.get("subject")}
                _checked_text(template["key"], template["channel"], template["subject"], template["body"])
            else:
                key, channel, language = (fields[name] for name in IDENTITY)
                template = self._template_for(self.store, key, channel, language) or rules.default_template(
                    key, channel, language
                )
        given = {} if variables is None else variables
        errors = rules.value_problems(template["key"], given)
        if errors:
            raise ValidationFailed(f"{len(errors)} invalid variable(s)", errors)
        values = {**rules.sample_values(template["key"], template["language"]), **given}
        try:
            subject, body = rules.render(template.get("subject"), template["body"], values)
        except rules.RenderFailed as exc:
            raise ValidationFailed(
                f"the template cannot render: {exc}", [{"field": "body", "message": str(exc)}]
            ) from None
        return {
            "key": template["key"],
            "channel": template["channel"],
            "language": template["language"],
            "template_id": template.get("id"),
            "subject": subject,
            "body": body,
            "variables_used": rules.variables_used(template.get("subject"), template["body"]),
        }

    def _render(self, source, key: str, channel: str, language: str | None, variables: dict) -> tuple[str | None, str]:
        """The subject (None for sms) and body of a message of `key` on `channel` in the template
        language for `language` (zh* -> zh-CN, else en): the admin's template, else the built-in
        default. `company_name` defaults to the COMPANY_NAME setting. An admin template that cannot
        render with these values (it was valid when written) gives way to the default, logged."""
        language = rules.resolve_language(language)
        values = {"company_name": os.environ.get("COMPANY_NAME") or DEFAULT_COMPANY_NAME, **variables}
        template = self._template_for(source, key, channel, language)
        if template is not None:
            try:
                return rules.render(template.get("subject"), template["body"], values)
            except rules.RenderFailed as exc:
                log.warning("notification template %s cannot render, the default is used: %s", template["id"], exc)
        default = rules.default_template(key, channel, language)
        return rules.render(default["subject"], default["body"], values)
