"""Lead scoring: the rules (admins write them), each contact's explainable score in `lead_scores`
recomputed from contacts' customer and interaction events, and `lead_scored`, which moves a
lead's lifecycle stage forward in contacts (a mixin of SalesService)."""

import logging
import time

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, MANAGER, SALES_REP, VIEWER, require_role
from crm_common.config import float_setting, int_setting
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.runtime.events import handle_event
from crm_common.schema import validate

from . import events, lead_scoring
from .store import LEAD_INTERACTIONS, LEAD_SCORES, LEAD_SCORING_RULES, LEAD_SCORING_STATE

log = logging.getLogger(__name__)

RULE_READERS = (ADMIN, MANAGER, SALES_REP, VIEWER)
STATE_ID = "rules"
# The timer rescores the scores an interaction's leaving its window changes, and after a rule
# change every score: LEAD_SCORING_BATCH per transaction, batch after batch for at most
# LEAD_SCORING_TICK_SECONDS per tick (see the README for the time a rule change takes to reach 1M contacts).
POLL_SECONDS = float_setting("LEAD_SCORING_POLL_SECONDS", 60.0)
BATCH = int_setting("LEAD_SCORING_BATCH", 500)
TICK_SECONDS = float_setting("LEAD_SCORING_TICK_SECONDS", 45.0)


class ScoringRpc:
    """RPC entrypoints, event handlers and the timer of lead scoring."""

    # rules

    def _seeded_rules(self, tx) -> list[dict]:
        """The rules, seeding the defaults the first time they are read (and only then)."""
        if tx[LEAD_SCORING_STATE].get(STATE_ID) is None:
            at = self._now()
            for rule in lead_scoring.default_rules(at):
                if tx[LEAD_SCORING_RULES].get(rule["id"]) is None:
                    tx[LEAD_SCORING_RULES].insert(rule)
            tx[LEAD_SCORING_STATE].insert({"id": STATE_ID, "seeded_at": at, "rescan_after": None})
        return list(tx[LEAD_SCORING_RULES].iterate(None, [("name", 1)]))

    def _seed_rules(self) -> None:
        if self.store[LEAD_SCORING_STATE].get(STATE_ID) is not None:
            return
        try:
            with self.store.transaction() as tx:
                self._seeded_rules(tx)
        except Conflict:  # another worker seeded them first
            pass

    def _rules_changed(self, tx) -> None:
        """Every score is rescored from the first (by the timer, in batches; a read at once)."""
        state = tx[LEAD_SCORING_STATE].get(STATE_ID)
        tx[LEAD_SCORING_STATE].replace({**state, "rescan_after": "", "rules_changed_at": self._now()}, state["version"])

    def _rule(self, source, rule_id: str) -> dict:
        rule = source[LEAD_SCORING_RULES].get(rule_id)
        if rule is None:
            raise NotFound(f"lead scoring rule {rule_id} not found")
        return rule

    @staticmethod
    def _check_rule(rule: dict) -> None:
        problems = lead_scoring.rule_problems(rule)
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid field(s)", problems)

    @rpc
    def create_lead_scoring_rule(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "change lead scoring rules")
        fields = validate(data, lead_scoring.RULE_FIELDS, server_owned=lead_scoring.RULE_SERVER_OWNED)
        at = self._now()
        rule = {
            "id": new_id(),
            "description": None,
            "active": True,
            "max_points": None,
            **fields,
            "created_by": self.caller.user_id,
            "created_at": at,
            "updated_at": at,
        }
        self._check_rule(rule)
        with self.store.transaction() as tx:
            if len(self._seeded_rules(tx)) >= lead_scoring.MAX_RULES:
                raise Conflict(f"there are already {lead_scoring.MAX_RULES} lead scoring rules; change or delete one")
            stored = tx[LEAD_SCORING_RULES].insert(rule)
            self._rules_changed(tx)
        return stored

    @rpc
    def list_lead_scoring_rules(self, query: dict) -> dict:
        require_role(self.caller, RULE_READERS, "read lead scoring rules")
        q = parse_list_query(
            query,
            filterable=lead_scoring.RULE_FILTERABLE,
            sortable=lead_scoring.RULE_SORTABLE,
            default_sort="name",
            booleans=("active",),
        )
        self._seed_rules()
        page = self.store[LEAD_SCORING_RULES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def get_lead_scoring_rule(self, lead_scoring_rule_id: str) -> dict:
        require_role(self.caller, RULE_READERS, "read lead scoring rules")
        self._seed_rules()
        return self._rule(self.store, lead_scoring_rule_id)

    @rpc
    def update_lead_scoring_rule(
        self, lead_scoring_rule_id: str, data: dict, expected_version: int | None = None
    ) -> dict:
        require_role(self.caller, (ADMIN,), "change lead scoring rules")
        changes = validate(data, lead_scoring.RULE_FIELDS, partial=True, server_owned=lead_scoring.RULE_SERVER_OWNED)
        self._seed_rules()
        with self.store.transaction() as tx:
            current = self._rule(tx, lead_scoring_rule_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"lead scoring rule {lead_scoring_rule_id} is at version {current['version']}")
            if all(current.get(name) == value for name, value in changes.items()):
                return current
            updated = {**current, **changes, "updated_at": self._now()}
            self._check_rule(updated)
            stored = tx[LEAD_SCORING_RULES].replace(updated, current["version"])
            self._rules_changed(tx)
        return stored

    @rpc
    def delete_lead_scoring_rule(self, lead_scoring_rule_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, (ADMIN,), "change lead scoring rules")
        self._seed_rules()
        with self.store.transaction() as tx:
            current = self._rule(tx, lead_scoring_rule_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"lead scoring rule {lead_scoring_rule_id} is at version {current['version']}")
            tx[LEAD_SCORING_RULES].delete(lead_scoring_rule_id, current["version"])
            self._rules_changed(tx)

    # scores

    def _store_score(
        self, tx, contact_id: str, known: dict | None, changes: dict, at: str, rules: list[dict] | None = None
    ) -> dict:
        """Score the contact under the rules in force at `at` with `changes` (a new profile) over
        what is known; write it when anything moved, and publish `lead_scored` when the score did."""
        current = {
            **(known or {"id": contact_id, "subject_type": "contact", "profile": None, "source_version": 0}),
            "deleted": False,
            **changes,
        }
        interactions = self._recent_interactions(tx, contact_id)
        if rules is None:
            rules = self._seeded_rules(tx)
        result = lead_scoring.evaluate(rules, current["profile"], interactions, at)
        updated = {**current, **result}
        if known is not None and all(known.get(name) == value for name, value in updated.items()):
            return known
        updated["computed_at"] = at
        stored = (
            tx[LEAD_SCORES].insert(updated) if known is None else tx[LEAD_SCORES].replace(updated, known["version"])
        )
        if stored["score"] != (known["score"] if known else 0):
            thresholds = self._settings(tx)["lead_scoring"]
            stage = lead_scoring.stage_called_for(
                stored["score"], (stored["profile"] or {}).get("lifecycle_stage"), thresholds
            )
            payload = {"subject_type": "contact", "id": contact_id, "score": stored["score"]}
            self.emit(tx, events.LEAD_SCORED, {**payload, "breakdown": stored["breakdown"], "lifecycle_stage": stage})
        return stored

    def _rescore(self, tx, contact_id: str, at: str) -> None:
        known = tx[LEAD_SCORES].get(contact_id)
        if known is None or not known.get("deleted"):
            self._store_score(tx, contact_id, known, {}, at)

    def _rescore_contact(self, tx, contact: dict) -> None:
        """A contact as contacts published it (created, updated; `deleted` true when deleted or
        merged away): its profile, newest version wins; a deleted contact's score is dropped for
        good, with the profile it was computed from."""
        known = tx[LEAD_SCORES].get(contact["id"])
        if known is not None and known.get("deleted"):
            return  # ids do not come back
        at = self._now()
        if contact.get("deleted"):
            tomb = {
                "id": contact["id"],
                "subject_type": "contact",
                "deleted": True,
                "profile": None,
                "source_version": contact.get("version") or 0,
                "score": 0,
                "breakdown": [],
                "recheck_at": None,
                "computed_at": at,
            }
            if known is None:
                tx[LEAD_SCORES].insert(tomb)
            else:
                tx[LEAD_SCORES].replace(tomb, known["version"])
            return
        version = contact.get("version") or 0
        if known is not None and known.get("source_version", 0) > version:
            return  # an older version of the contact arrived after a newer one
        changes = {"profile": lead_scoring.profile_of(contact), "source_version": version}
        self._store_score(tx, contact["id"], known, changes, at)

    def _follow_interaction(self, tx, interaction: dict, deleted: bool = False) -> None:
        """Keep what engagement rules read of an interaction (newest version wins; a delete is
        final) and rescore the contacts it concerned and concerns."""
        known = tx[LEAD_INTERACTIONS].get(interaction["id"])
        version = interaction.get("version") or 0
        if known is not None and (known["deleted"] or known["source_version"] > version):
            return
        if deleted:
            facts = {**lead_scoring.interaction_facts(known or {}), "contact_id": None}
        elif known is None and not interaction.get("contact_id"):
            return  # logged for a company only: no contact to score
        else:
            facts = lead_scoring.interaction_facts(interaction)
        tx[LEAD_INTERACTIONS].put({"id": interaction["id"], **facts, "source_version": version, "deleted": deleted})
        at = self._now()
        for contact_id in dict.fromkeys(c for c in ((known or {}).get("contact_id"), facts["contact_id"]) if c):
            self._rescore(tx, contact_id, at)

    @handle_event("contacts", "interaction_logged")
    def on_interaction_logged(self, tx, event) -> None:
        self._follow_interaction(tx, event.payload)

    @handle_event("contacts", "interaction_updated")
    def on_interaction_updated(self, tx, event) -> None:
        # also a merge moving the interaction to the surviving contact: both are rescored
        self._follow_interaction(tx, event.payload)

    @handle_event("contacts", "interaction_deleted")
    def on_interaction_deleted(self, tx, event) -> None:
        self._follow_interaction(tx, event.payload, deleted=True)

    @rpc
    def get_lead_score(self, contact_id: str) -> dict:
        """To whoever may see the contact (the one reach check, `_visible_customer`). Read-only: the score
        is computed now, under the rules in force, from the newest profile known and the contact's
        interactions, and neither stored nor announced (the events and the timer do that)."""
        record = self._visible_customer(self.store, "contact", contact_id, remember=False)
        if record is None:
            raise NotFound(f"contact {contact_id} not found")
        known = self.store[LEAD_SCORES].get(contact_id)
        if known is not None and known.get("deleted"):
            raise NotFound(f"contact {contact_id} not found")
        profile = (known or {}).get("profile")
        if "source_version" not in record and (record.get("version") or 0) > (known or {}).get("source_version", 0):
            # contacts answered with a newer profile than its events have brought so far
            profile = lead_scoring.profile_of(record)
        at = self._now()
        result = lead_scoring.evaluate(
            self._current_rules(), profile, self._recent_interactions(self.store, contact_id), at
        )
        unchanged = known is not None and all(known.get(k) == v for k, v in result.items())
        thresholds = self._settings()["lead_scoring"]
        return {
            "contact_id": contact_id,
            "score": result["score"],
            "breakdown": result["breakdown"],
            "qualification": lead_scoring.qualification(result["score"], thresholds),
            "thresholds": {name: thresholds[name] for name in ("marketing_qualified", "sales_qualified")},
            "computed_at": known["computed_at"] if unchanged and profile == known.get("profile") else at,
        }

    def _current_rules(self) -> list[dict]:
        """The rules in force, without seeding them (the defaults when no one has read or written them yet)."""
        if self.store[LEAD_SCORING_STATE].get(STATE_ID) is None:
            return sorted(lead_scoring.default_rules(self._now()), key=lambda rule: rule["name"])
        return list(self.store[LEAD_SCORING_RULES].iterate(None, [("name", 1)]))

    @staticmethod
    def _recent_interactions(source, contact_id: str) -> list[dict]:
        return (
            source[LEAD_INTERACTIONS]
            .find(
                {"contact_id": contact_id, "deleted": False},
                [("occurred_at", -1)],
                lead_scoring.MAX_RECENT_INTERACTIONS,
            )
            .items
        )

    # the timer

    def _rescore_claimed(self, seen: dict, at: str) -> bool:
        """Rescore a score as it was seen; False when another instance (or an event) got to it first."""
        try:
            with self.store.transaction() as tx:
                known = tx[LEAD_SCORES].get(seen["id"])
                if known is None or known["version"] != seen["version"] or known.get("deleted"):
                    return False
                self._store_score(tx, seen["id"], known, {}, at)
        except (PreconditionFailed, Conflict):
            return False
        return True

    def _rescan_batch(self, limit: int, at: str) -> int | None:
        """The next batch of scores after a rule change, rescored and then claimed (the state's cursor
        moved on) in one transaction: a crash, or another instance claiming it first, rolls the whole
        batch back, so none is lost nor announced twice. None when there is nothing (more) to do now."""
        try:
            with self.store.transaction() as tx:
                state = tx[LEAD_SCORING_STATE].get(STATE_ID)
                if state is None or state.get("rescan_after") is None:
                    return None
                batch = tx[LEAD_SCORES].find({"id": {"$gt": state["rescan_after"]}}, [("id", 1)], limit).items
                rules = self._seeded_rules(tx)
                scored = 0
                for known in batch:
                    if not known.get("deleted"):
                        self._store_score(tx, known["id"], known, {}, at, rules)
                        scored += 1
                claimed = {**state, "rescan_after": batch[-1]["id"] if len(batch) == limit else None}
                tx[LEAD_SCORING_STATE].replace(claimed, state["version"])
        except (PreconditionFailed, Conflict):
            return None  # another instance took this batch, or a rule changed again: the next tick goes on
        return scored

    def _continue_rescan(self, limit: int, at: str, deadline: float) -> int:
        """Batch after batch of the rescan until it is done or `deadline` (time.monotonic) passes."""
        rescored = 0
        while time.monotonic() < deadline:
            scored = self._rescan_batch(limit, at)
            if scored is None:
                break
            rescored += scored
        return rescored

    def _refresh_lead_scores(self, limit: int, seconds: float = TICK_SECONDS) -> dict:
        """Scores whose interactions left a window by now, then the rescan after a rule change (for
        at most `seconds`)."""
        deadline = time.monotonic() + seconds
        at = self._now()
        due = self.store[LEAD_SCORES].find({"recheck_at": {"$lte": at}}, [("recheck_at", 1)], limit).items
        decayed = sum(self._rescore_claimed(doc, at) for doc in due)
        return {"decayed": decayed, "rescored": self._continue_rescan(limit, at, deadline)}

    @timer(interval=POLL_SECONDS)
    def refresh_lead_scores(self) -> None:
        try:
            counts = self._refresh_lead_scores(BATCH)
        except Exception:
            log.exception("refreshing lead scores failed; the next tick tries again")
            return
        if counts["decayed"] or counts["rescored"]:
            log.info("lead scores refreshed: %s", counts)
