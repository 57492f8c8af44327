"""Ownership and the customer pool: claim, release, assign and bulk hand-over of customers, the pool
settings, the reclaim rules and the scheduled reclaim run that warns owners and returns customers."""

import logging
import time

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import (
    ADMIN,
    CUSTOMER_WRITERS,
    MANAGER,
    SALES_REP,
    SYSTEM,
    VIEWER,
    and_filters,
    may_assign_owner,
    may_change_owner,
    reach_of,
    require_role,
)
from crm_common.config import float_setting, int_setting
from crm_common.errors import Conflict, CrmError, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query

from . import domain, events, pool, schemas
from .customers import SUBJECTS
from .store import CONTACTS, HAND_OVERS, POOL_CLAIMS, POOL_SETTINGS, RECLAIM_NOTICES, RECLAIM_RULES

log = logging.getLogger(__name__)

SETTINGS_ID = "pool"
POOL_READERS = (ADMIN, MANAGER, SALES_REP, VIEWER)
POOL_FILTERABLE = (*schemas.CONTACT_FILTERABLE, "pool.entered_at", "pool.previous_owner_id")
POOL_SORTABLE = (*schemas.CONTACT_SORTABLE, "pool.entered_at")
RULE_FILTERABLE = ("name", "active", "created_at")
RULE_SORTABLE = ("created_at", "name")
MAX_REASON = 500
CLAIM_ATTEMPTS = 3  # a claim that meets a concurrent one re-reads and tries again
RECLAIM_INTERVAL_SECONDS = int_setting("POOL_RECLAIM_INTERVAL_SECONDS", 3600)
# A reclaim run started by an admin stops after this many actions (the timer finishes the rest),
# so the request answers within the gateway's timeout.
RECLAIM_RUN_MAX_ACTIONS = 500
# A hand-over moves records in transactions of this many; the request moves what it can in
# HAND_OVER_SYNC_SECONDS, the timer (every HAND_OVER_POLL_SECONDS) the rest.
HAND_OVER_CHUNK = 100
HAND_OVER_SYNC_SECONDS = 1.0
HAND_OVER_TICK_SECONDS = 30.0
HAND_OVER_POLL_SECONDS = float_setting("HAND_OVER_POLL_SECONDS", 2.0)
HAND_OVER_MAX_FAILURES = 5
MAX_HAND_OVER_RECIPIENTS = 50


def now() -> str:
    """The pool's clock: tests move it to run reclaim rules days later."""
    return utc_now()


def _reason(value, field: str = "reason") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise ValidationFailed(
            f"invalid {field}", [{"field": field, "message": f"must be text of at most {MAX_REASON} characters"}]
        )
    return value.strip() or None


def _user_id(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationFailed(f"invalid {field}", [{"field": field, "message": "must be a user id"}])
    return value


def _with(summary: str, reason: str | None) -> str:
    return f"{summary}: {reason}" if reason else summary


class _Skipped(Exception):
    """Another run or request acted on this record first: roll back and move on."""


class PoolRpc:
    """RPC entrypoints and timers of the customer pool (a mixin of ContactsService)."""

    # settings

    def _pool_settings(self, source) -> dict:
        stored = source[POOL_SETTINGS].get(SETTINGS_ID)
        meta = {"version": 0, "updated_at": None, "updated_by": None}
        if stored is not None:
            meta = {k: stored.get(k) for k in meta}
        return {**pool.settings_with_defaults(stored), **meta}

    @rpc
    def get_pool_settings(self) -> dict:
        require_role(self.caller, POOL_READERS, "read the pool settings")
        return self._pool_settings(self.store)

    @rpc
    def update_pool_settings(self, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, (ADMIN,), "change the pool settings")
        changes = pool.validate_settings(data)
        with self.store.transaction() as tx:
            current = tx[POOL_SETTINGS].get(SETTINGS_ID)
            version = current["version"] if current else 0
            if expected_version is not None and expected_version != version:
                raise PreconditionFailed(f"the pool settings are at version {version}")
            doc = {
                **pool.settings_with_defaults(current),
                **changes,
                "id": SETTINGS_ID,
                "updated_at": now(),
                "updated_by": self.caller.user_id,
            }
            if current is None:
                try:
                    tx[POOL_SETTINGS].insert(doc)
                except Conflict:
                    raise PreconditionFailed("the pool settings changed meanwhile") from None
            else:
                tx[POOL_SETTINGS].replace(doc, version)
            return self._pool_settings(tx)

    # the pool

    @rpc
    def list_pool(self, query: dict) -> dict:
        """Customers with no owner in the caller's reach, newest arrivals first unless sorted."""
        q = parse_list_query(query, filterable=POOL_FILTERABLE, sortable=POOL_SORTABLE, default_sort="-pool.entered_at")
        flt = and_filters({"owner_id": None}, self._reach_filter(reach_of(self.caller), "contact"), q.filter)
        page = self.store[CONTACTS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    def _retrying(self, attempt):
        """Run `attempt` again when a concurrent write got there first (its re-read then decides)."""
        for tries in range(CLAIM_ATTEMPTS):
            try:
                return attempt()
            except PreconditionFailed:
                if tries == CLAIM_ATTEMPTS - 1:
                    raise Conflict("the customer changed hands meanwhile; try again") from None

    def _count_claim(self, tx, user_id: str, day: str) -> None:
        key = f"{user_id}:{day}"
        counter = tx[POOL_CLAIMS].get(key)
        if counter is None:
            try:
                tx[POOL_CLAIMS].insert({"id": key, "user_id": user_id, "day": day, "count": 1})
            except Conflict:
                raise PreconditionFailed("a concurrent claim counted first") from None
        else:
            tx[POOL_CLAIMS].replace({**counter, "count": counter["count"] + 1}, counter["version"])

    def _drop_notice(self, tx, contact_id: str) -> None:
        """An owner change withdraws any reclaim notice: it was given to the previous owner."""
        tx[RECLAIM_NOTICES].delete(contact_id)

    def _move_contact(
        self,
        tx,
        current: dict,
        new_owner_id: str | None,
        why: str,
        summary: str,
        event_type: str,
        extra: dict,
        moment: str,
        actor: str | None = None,
    ) -> dict:
        """The pool's one way to hand a contact on: its owner history (`why`), the change with its
        timeline `summary` and events (`event_type` carries `from_owner_id` and `extra`), and any
        reclaim notice withdrawn."""
        updated = domain.change_owner(current, new_owner_id, actor or self.caller.user_id, why, moment)
        extra = {"from_owner_id": current.get("owner_id"), **extra}
        stored = self._store_change(tx, "contact", current, updated, ["owner_id"], summary, event_type, extra)
        self._drop_notice(tx, current["id"])
        return stored

    @rpc
    def claim_contact(self, contact_id: str) -> dict:
        """Take a customer from the pool for oneself, within the pool's claim limits (409 names the cap)."""
        require_role(self.caller, CUSTOMER_WRITERS, "claim customers from the pool")
        return self._retrying(lambda: self._claim(contact_id))

    def _claim(self, contact_id: str) -> dict:
        user_id = self.caller.user_id
        with self.store.transaction() as tx:
            moment = now()
            current = self._visible(tx, "contact", contact_id, reach_of(self.caller))
            if current.get("owner_id") is not None:
                mine = " (it is already yours)" if current["owner_id"] == user_id else ""
                raise Conflict(f"contact {contact_id} is not in the pool{mine}")
            settings = self._pool_settings(tx)
            pool.check_cooldown(current, user_id, settings, moment)
            day = pool.claim_day(moment)
            counter = tx[POOL_CLAIMS].get(f"{user_id}:{day}")
            owned = tx[CONTACTS].count({"owner_id": user_id})
            pool.check_claim_limits(settings, owned, counter["count"] if counter else 0)
            reason = "claimed from the pool"
            summary = f"Claimed from the pool by {user_id}"
            extra = {"reason": reason}
            stored = self._move_contact(tx, current, user_id, reason, summary, events.CONTACT_CLAIMED, extra, moment)
            self._count_claim(tx, user_id, day)
        return stored

    @rpc
    def release_contact(self, contact_id: str, reason: str | None = None) -> dict:
        """Return a customer to the pool: its owner, their manager or an admin."""
        require_role(self.caller, CUSTOMER_WRITERS, "release customers to the pool")
        reason = _reason(reason)
        user_id = self.caller.user_id
        with self.store.transaction() as tx:
            moment = now()
            current = self._visible(tx, "contact", contact_id, reach_of(self.caller))
            owner_id = current.get("owner_id")
            if owner_id is None:
                raise Conflict(f"contact {contact_id} is already in the pool")
            roles = set(self.caller.roles)
            manages = MANAGER in roles and owner_id in self.caller.managed_user_ids
            if owner_id != user_id and not manages and not roles & {ADMIN, SYSTEM}:
                raise Forbidden("only the customer's owner, their manager or an admin may release it")
            summary = _with(f"Released to the pool by {user_id}", reason)
            why = reason or "released to the pool"
            released = events.CONTACT_RELEASED
            return self._move_contact(tx, current, None, why, summary, released, {"reason": reason}, moment)

    @rpc
    def assign_contact(self, contact_id: str, owner_id: str, reason: str | None = None) -> dict:
        """Give a customer to someone: managers within the teams they manage, admins to anyone.
        Claim limits do not apply (they bound what reps take, not what managers give)."""
        require_role(self.caller, (MANAGER,), "assign customers")
        owner_id = _user_id(owner_id, "owner_id")
        reason = _reason(reason)
        with self.store.transaction() as tx:
            moment = now()
            current = self._visible(tx, "contact", contact_id, reach_of(self.caller))
            previous = current.get("owner_id")
            if previous == owner_id:
                return current
            if not may_change_owner(self.caller, previous, owner_id):
                raise Forbidden("you may move customers only among yourself and the members of the teams you manage")
            summary = _with(f"Assigned to {owner_id} by {self.caller.user_id}", reason)
            why = reason or "assigned"
            extra = {"reason": reason}
            return self._move_contact(tx, current, owner_id, why, summary, events.CONTACT_ASSIGNED, extra, moment)

    # bulk hand-over

    @rpc
    def hand_over(
        self, from_owner_id: str, to_owner_ids: list, reason: str | None = None, include_companies: bool = True
    ) -> dict:
        """Move every contact (and company) of `from_owner_id` to `to_owner_ids`, round-robin, as a
        job: the call moves what it can in about a second and the timer the rest; follow it with
        `get_hand_over`. Each record keeps its history and timeline; the owner history says who and why."""
        require_role(self.caller, (MANAGER,), "hand customers over")
        from_owner_id = _user_id(from_owner_id, "from_owner_id")
        reason = _reason(reason)
        if (
            not isinstance(to_owner_ids, list)
            or not 1 <= len(to_owner_ids) <= MAX_HAND_OVER_RECIPIENTS
            or len(set(map(str, to_owner_ids))) != len(to_owner_ids)
        ):
            raise ValidationFailed(
                "invalid to_owner_ids",
                [{"field": "to_owner_ids", "message": f"must list 1-{MAX_HAND_OVER_RECIPIENTS} distinct user ids"}],
            )
        to_owner_ids = [_user_id(u, "to_owner_ids") for u in to_owner_ids]
        if from_owner_id in to_owner_ids:
            raise ValidationFailed(
                "invalid to_owner_ids", [{"field": "to_owner_ids", "message": "must not include from_owner_id"}]
            )
        if not isinstance(include_companies, bool):
            raise ValidationFailed(
                "invalid include_companies", [{"field": "include_companies", "message": "must be true or false"}]
            )
        if not all(may_change_owner(self.caller, from_owner_id, to) for to in to_owner_ids) or not all(
            may_assign_owner(self.caller, to, creating=False) for to in to_owner_ids
        ):
            raise Forbidden("you may hand over customers only among the members of the teams you manage")
        moment = now()
        with self.store.transaction() as tx:
            running = tx[HAND_OVERS].find({"from_owner_id": from_owner_id, "status": "running"}, limit=1).items
            if running:
                raise Conflict(f"a hand-over of {from_owner_id}'s customers is already running", running)
            job = {
                "id": new_id(),
                "status": "running",
                "from_owner_id": from_owner_id,
                "to_owner_ids": to_owner_ids,
                "reason": reason,
                "include_companies": include_companies,
                "requested_by": self.caller.user_id,
                "created_at": moment,
                "updated_at": moment,
                "finished_at": None,
                "phase": "contact",
                "total_contacts": tx[CONTACTS].count({"owner_id": from_owner_id}),
                "total_companies": tx[SUBJECTS["company"]].count({"owner_id": from_owner_id})
                if include_companies
                else 0,
                "moved_contacts": 0,
                "moved_companies": 0,
                "moved_by_owner": {to: 0 for to in to_owner_ids},
                "failures": 0,
                "last_error": None,
            }
            tx[HAND_OVERS].insert(job)
        self._advance_hand_over(job["id"], time.monotonic() + HAND_OVER_SYNC_SECONDS)
        return self.store[HAND_OVERS].get(job["id"])

    @rpc
    def get_hand_over(self, hand_over_id: str) -> dict:
        require_role(self.caller, (MANAGER,), "follow hand-overs")
        job = self.store[HAND_OVERS].get(hand_over_id)
        roles = set(self.caller.roles)
        if job is None or not (
            roles & {ADMIN, SYSTEM}
            or job["requested_by"] == self.caller.user_id
            or job["from_owner_id"] in self.caller.managed_user_ids
        ):
            raise NotFound(f"hand-over {hand_over_id} not found")
        return job

    def _advance_hand_over(self, job_id: str, deadline: float) -> None:
        """Move the job's next chunks, one transaction each, until it is done or time is up. The
        job's version is checked in every chunk, so two runners never move the same records."""
        while time.monotonic() < deadline:
            try:
                if not self._hand_over_chunk(job_id):
                    return
            except (PreconditionFailed, Conflict):
                return  # another runner holds this job right now
            except Exception as exc:  # a bug or an outage: note it, give up after a few tries
                log.exception("hand-over %s failed a chunk", job_id)
                self._note_hand_over_failure(job_id, exc)
                return

    def _note_hand_over_failure(self, job_id: str, exc: Exception) -> None:
        with self.store.transaction() as tx:
            job = tx[HAND_OVERS].get(job_id)
            if job is None or job["status"] != "running":
                return
            failures = job["failures"] + 1
            detail = exc.detail if isinstance(exc, CrmError) else type(exc).__name__
            failed = failures >= HAND_OVER_MAX_FAILURES
            tx[HAND_OVERS].replace(
                {
                    **job,
                    "failures": failures,
                    "last_error": detail,
                    "status": "failed" if failed else "running",
                    "finished_at": now() if failed else None,
                },
                job["version"],
            )

    def _hand_over_chunk(self, job_id: str) -> bool:
        """One transaction of the job; False when there is nothing more to do."""
        with self.store.transaction() as tx:
            job = tx[HAND_OVERS].get(job_id)
            if job is None or job["status"] != "running":
                return False
            moment = now()
            subject_type = job["phase"]
            batch = (
                tx[SUBJECTS[subject_type]]
                .find({"owner_id": job["from_owner_id"]}, [("created_at", 1)], HAND_OVER_CHUNK)
                .items
            )
            progress = dict(job, updated_at=moment, moved_by_owner=dict(job["moved_by_owner"]))
            if not batch:
                if subject_type == "contact" and job["include_companies"]:
                    progress["phase"] = "company"
                else:
                    progress.update(status="done", finished_at=moment)
                    self.emit(tx, events.CUSTOMERS_HANDED_OVER, {k: v for k, v in progress.items() if k != "version"})
                tx[HAND_OVERS].replace(progress, job["version"])
                return progress["status"] == "running"
            recipients = job["to_owner_ids"]
            for record in batch:
                moved = progress["moved_contacts"] + progress["moved_companies"]
                to = recipients[moved % len(recipients)]
                why = job["reason"] or "handed over"
                summary = _with(
                    f"Handed over from {job['from_owner_id']} to {to} by {job['requested_by']}", job["reason"]
                )
                if subject_type == "contact":
                    extra = {"reason": job["reason"], "hand_over_id": job_id}
                    assigned = events.CONTACT_ASSIGNED
                    self._move_contact(tx, record, to, why, summary, assigned, extra, moment, job["requested_by"])
                    progress["moved_contacts"] += 1
                else:
                    updated = domain.change_owner(record, to, job["requested_by"], why, moment)
                    self._store_change(tx, "company", record, updated, ["owner_id"], summary)
                    progress["moved_companies"] += 1
                progress["moved_by_owner"][to] += 1
            tx[HAND_OVERS].replace(progress, job["version"])
            return True

    @timer(interval=HAND_OVER_POLL_SECONDS)
    def continue_hand_overs(self) -> None:
        """Finish the hand-overs the requests started (each instance may help; chunks never overlap)."""
        running = self.store[HAND_OVERS].find({"status": "running"}, [("created_at", 1)], 20).items
        deadline = time.monotonic() + HAND_OVER_TICK_SECONDS
        for job in running:
            self._advance_hand_over(job["id"], deadline)

    # reclaim rules

    def _rule(self, source, rule_id: str) -> dict:
        rule = source[RECLAIM_RULES].get(rule_id)
        if rule is None:
            raise NotFound(f"reclaim rule {rule_id} not found")
        return rule

    @rpc
    def create_reclaim_rule(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "set reclaim rules")
        fields = pool.validate_rule(data)
        moment = now()
        rule = {
            "id": new_id(),
            **fields,
            "created_by": self.caller.user_id,
            "created_at": moment,
            "updated_at": moment,
        }
        with self.store.transaction() as tx:
            return tx[RECLAIM_RULES].insert(rule)

    @rpc
    def list_reclaim_rules(self, query: dict) -> dict:
        require_role(self.caller, POOL_READERS, "read reclaim rules")
        q = parse_list_query(query, filterable=RULE_FILTERABLE, sortable=RULE_SORTABLE, booleans=("active",))
        page = self.store[RECLAIM_RULES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def get_reclaim_rule(self, rule_id: str) -> dict:
        require_role(self.caller, POOL_READERS, "read reclaim rules")
        return self._rule(self.store, rule_id)

    @rpc
    def update_reclaim_rule(self, rule_id: str, data: dict, expected_version: int | None = None) -> dict:
        """Notices already given keep their reclaim date; a rule that stops matching clears them."""
        require_role(self.caller, (ADMIN,), "set reclaim rules")
        changes = pool.validate_rule(data, current={})
        with self.store.transaction() as tx:
            current = self._rule(tx, rule_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"reclaim rule {rule_id} is at version {current['version']}")
            changed = {k: v for k, v in changes.items() if current.get(k) != v}
            if not changed:
                return current
            return tx[RECLAIM_RULES].replace({**current, **changed, "updated_at": now()}, current["version"])

    @rpc
    def delete_reclaim_rule(self, rule_id: str, expected_version: int | None = None) -> None:
        """Its outstanding notices are withdrawn by the next run."""
        require_role(self.caller, (ADMIN,), "set reclaim rules")
        with self.store.transaction() as tx:
            current = self._rule(tx, rule_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"reclaim rule {rule_id} is at version {current['version']}")
            tx[RECLAIM_RULES].delete(rule_id, current["version"])

    # the reclaim run

    @rpc
    def run_reclaim(self) -> dict:
        """Run the reclaim rules now (admin); the same run the timer makes. Stops after
        RECLAIM_RUN_MAX_ACTIONS actions with `complete` false; the next run goes on."""
        require_role(self.caller, (ADMIN,), "run the reclaim rules")
        return self._reclaim(RECLAIM_RUN_MAX_ACTIONS)

    @timer(interval=RECLAIM_INTERVAL_SECONDS)
    def reclaim_on_schedule(self) -> None:
        try:
            counts = self._reclaim(None)
        except Exception:
            log.exception("the scheduled reclaim run failed; the next one tries again")
            return
        if counts["warned"] or counts["reclaimed"] or counts["cleared"]:
            log.info("reclaim run: %s", counts)

    def _reclaim(self, max_actions: int | None) -> dict:
        """First the notices already given: reclaim those that ran out, clear those that no longer
        hold; then each active rule: warn the owners of the customers it matches. Each action is
        one transaction, and concurrent runs (two instances) cannot repeat one: a notice is
        inserted under the contact's id, and taken out with a version check before a reclaim."""
        counts = {"warned": 0, "reclaimed": 0, "cleared": 0, "complete": True}

        def room() -> bool:
            acted = counts["warned"] + counts["reclaimed"] + counts["cleared"]
            if max_actions is not None and acted >= max_actions:
                counts["complete"] = False
                return False
            return True

        moment = now()
        rules: dict[str, dict] = {}
        for rule in self.store[RECLAIM_RULES].iterate(None, [("created_at", 1)]):
            rules[rule["id"]] = rule
        for notice in self.store[RECLAIM_NOTICES].iterate(None, [("reclaim_at", 1)]):
            if not room():
                return counts
            contact = self.store[CONTACTS].get(notice["id"])
            decision = pool.decide(notice, rules.get(notice["rule_id"]), contact, moment)
            if decision in ("reclaim", "clear") and self._act_on_notice(notice["id"], rules, moment):
                counts["reclaimed" if decision == "reclaim" else "cleared"] += 1
        for rule in rules.values():
            if not rule.get("active", True):
                continue
            flt = pool.rule_filter(rule["conditions"], moment)
            for contact in self.store[CONTACTS].iterate(flt, [("id", 1)]):
                if self.store[RECLAIM_NOTICES].get(contact["id"]) is not None:
                    continue  # one notice at a time, from the first rule that matched
                if not room():
                    return counts
                if self._warn(contact["id"], rule, moment):
                    counts["warned"] += 1
        return counts

    def _warn(self, contact_id: str, rule: dict, moment: str) -> bool:
        try:
            with self.store.transaction() as tx:
                contact = tx[CONTACTS].get(contact_id)
                if pool.decide(None, rule, contact, moment) != "warn":
                    raise _Skipped
                notice = pool.new_notice(contact, rule, moment)
                tx[RECLAIM_NOTICES].insert(notice)  # Conflict: another run warned first
                self._pool_entry(
                    tx,
                    contact,
                    moment,
                    f"Reclaim notice to {notice['owner_id']}: back to the pool on {notice['reclaim_at'][:10]} "
                    f"unless this changes ({notice['reason']})",
                    f"pool-notice:{moment}",
                )
                self.emit(
                    tx,
                    events.POOL_RECLAIM_WARNED,
                    {
                        "id": contact_id,
                        "contact_id": contact_id,
                        "owner_id": notice["owner_id"],
                        "display_name": contact.get("display_name"),
                        "rule_id": rule["id"],
                        "rule_name": rule["name"],
                        "warned_at": moment,
                        "reclaim_at": notice["reclaim_at"],
                        "reason": notice["reason"],
                    },
                )
            return True
        except (_Skipped, Conflict, PreconditionFailed):
            return False

    def _act_on_notice(self, contact_id: str, rules: dict, moment: str) -> bool:
        """Reclaim or clear, on the notice and contact as they are inside the transaction."""
        try:
            with self.store.transaction() as tx:
                notice = tx[RECLAIM_NOTICES].get(contact_id)
                if notice is None:
                    raise _Skipped
                contact = tx[CONTACTS].get(contact_id)
                decision = pool.decide(notice, rules.get(notice["rule_id"]), contact, moment)
                if decision not in ("reclaim", "clear"):
                    raise _Skipped
                # The version check makes this run the only one acting on the notice.
                if not tx[RECLAIM_NOTICES].delete(contact_id, notice["version"]):
                    raise _Skipped
                if decision == "clear":
                    if contact is not None:
                        why = (
                            "it changed hands"
                            if contact.get("owner_id") != notice["owner_id"]
                            else "it no longer matches"
                        )
                        self._pool_entry(
                            tx, contact, moment, f"Reclaim notice withdrawn: {why}", f"pool-notice-cleared:{moment}"
                        )
                    return True
                summary = f"Returned to the pool from {contact['owner_id']}: {notice['reason']}"
                extra = {"reason": notice["reason"], "rule_id": notice["rule_id"]}
                why, reclaimed = notice["reason"], events.CONTACT_RECLAIMED
                self._move_contact(tx, contact, None, why, summary, reclaimed, extra, moment)
            return True
        except (_Skipped, Conflict, PreconditionFailed):
            return False

    def _pool_entry(self, tx, contact: dict, moment: str, summary: str, hint: str) -> None:
        self._own_entry(tx, "contact", {**contact, "updated_at": moment}, summary, hint)
