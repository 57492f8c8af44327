"""Customer satisfaction (CSAT): the survey a resolved ticket asks for, and the answer recorded on
it, once (a mixin of ServiceDeskService)."""

from datetime import datetime

from nameko.rpc import rpc

from crm_common.access import ADMIN, MANAGER, SUPPORT_AGENT, require_role
from crm_common.config import int_setting
from crm_common.errors import Conflict, ValidationFailed
from crm_common.schema import Field, validate

from . import events
from .domain import DONE_STATUSES, stamp
from .store import TICKETS

# Who records a customer's answer (the survey's integration runs as `system`; staff type in one
# given by phone or email).
CSAT_RECORDERS = (ADMIN, MANAGER, SUPPORT_AGENT)
# An answer at or below this score is low: sales follows it up with the customer's owner.
LOW_CSAT_SCORE = int_setting("LOW_CSAT_SCORE", 2)
SATISFACTION_FIELDS = {
    "score": Field("int", required=True, nullable=False),
    "comment": Field("text", max_length=2000),
}


def satisfaction_view(ticket: dict) -> dict:
    """The ticket's survey as the API shows it: every key present, null until known."""
    answer = ticket.get("satisfaction") or {}
    return {
        "ticket_id": ticket["id"],
        "status": answer.get("status"),
        "requested_at": answer.get("requested_at"),
        "score": answer.get("score"),
        "comment": answer.get("comment"),
        "answered_at": answer.get("answered_at"),
        "recorded_by": answer.get("recorded_by"),
    }


def _score_problem(score: int) -> list[dict]:
    if not 1 <= score <= 5:
        return [{"field": "score", "message": "must be a whole number from 1 to 5"}]
    return []


class SatisfactionRpc:
    """RPC entrypoints of CSAT, and the survey request the ticket write path calls."""

    def _request_satisfaction(self, ticket: dict, now: datetime) -> dict:
        """The ticket with its survey requested when it is resolved (or closed) and was never asked:
        a ticket reopened and resolved again is not asked twice. The caller stores it, then
        announces the request with `_announce_survey`."""
        if ticket.get("satisfaction") or ticket.get("status") not in DONE_STATUSES or ticket.get("merged_into"):
            return ticket
        return {**ticket, "satisfaction": {"status": "requested", "requested_at": stamp(now)}}

    def _announce_survey(self, tx, stored: dict) -> None:
        """`ticket_satisfaction_requested` for a stored ticket whose survey was just requested."""
        self.emit(tx, events.TICKET_SATISFACTION_REQUESTED, stored)

    @rpc
    def get_satisfaction(self, ticket_id: str) -> dict:
        return satisfaction_view(self._visible_ticket(self.store, ticket_id))

    @rpc
    def record_satisfaction(self, ticket_id: str, data: dict) -> dict:
        """The customer's answer (score 1-5, an optional comment), once per ticket, on a resolved
        or closed ticket; announced with `ticket_satisfaction_rated` (`low` at or below LOW_CSAT_SCORE)."""
        require_role(self.caller, CSAT_RECORDERS, "record satisfaction answers")
        fields = validate(data, SATISFACTION_FIELDS)
        problems = _score_problem(fields["score"])
        if problems:
            raise ValidationFailed("1 invalid field(s)", problems)
        now = self._now()
        with self.store.transaction() as tx:
            current = self._visible_ticket(tx, ticket_id)
            if current.get("status") not in DONE_STATUSES:
                raise Conflict(
                    f"ticket {ticket_id} is {current.get('status')}: only resolved or closed tickets are rated"
                )
            known = current.get("satisfaction") or {}
            if known.get("status") == "answered":
                raise Conflict(f"ticket {ticket_id} was rated already", [satisfaction_view(current)])
            answer = {
                "status": "answered",
                "requested_at": known.get("requested_at"),
                "score": fields["score"],
                "comment": fields.get("comment") or None,
                "answered_at": stamp(now),
                "recorded_by": self.caller.user_id,
            }
            updated = {**current, "satisfaction": answer, "updated_at": stamp(now)}
            stored = tx[TICKETS].replace(updated, current["version"])
            self.emit(
                tx,
                events.TICKET_SATISFACTION_RATED,
                {
                    **stored,
                    "score": answer["score"],
                    "comment": answer["comment"],
                    "low": answer["score"] <= LOW_CSAT_SCORE,
                },
            )
        return satisfaction_view(stored)
