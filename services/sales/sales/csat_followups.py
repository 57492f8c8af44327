"""Low satisfaction answers from the service desk become a follow-up task for the customer's owner
(a mixin of SalesService: the task goes through the task rules and `task_created` like any other)."""

from crm_common.caller import SYSTEM_USER
from crm_common.runtime.events import handle_event

from . import events, task_rules
from .store import TASKS

# The owner has a day to call the unhappy customer back.
FOLLOW_UP_HOURS = 24


def follow_up_fields(rating: dict, due_at: str) -> dict | None:
    """The task a low CSAT answer calls for: for the customer's owner, else the ticket's assignee
    (none when neither is known); the customer's comment in the description (an erasure scrubs
    descriptions)."""
    assignee = rating.get("contact_owner_id") or rating.get("assignee_id")
    score = rating.get("score")
    if not assignee or not isinstance(score, int) or isinstance(score, bool):
        return None
    comment = rating.get("comment")
    said = f'The customer said: "{comment}"' if comment else "The customer left no comment."
    return {
        "title": f"Follow up: satisfaction {score}/5 on {rating.get('subject') or 'a ticket'}"[:200],
        "description": f"Ticket {rating['id']} was rated {score}/5. {said}"[:5000],
        "kind": "call",
        "priority": "high",
        "assignee_id": assignee,
        "due_at": due_at,
        "contact_id": rating.get("contact_id"),
        "company_id": rating.get("company_id"),
    }


class CsatFollowUps:
    """Handler of the service desk's satisfaction answers."""

    @handle_event("service_desk", "ticket_satisfaction_rated")
    def on_ticket_satisfaction_rated(self, tx, event) -> None:
        # Runs once per event (the processed mark commits with the task): a redelivered answer adds
        # no second task; a ticket is rated only once.
        rating = event.payload
        if rating.get("low") is not True:
            return
        now = self._now()
        fields = follow_up_fields(rating, task_rules.shifted(now, "due_at", minutes=FOLLOW_UP_HOURS * 60))
        if fields is None:
            return
        task = task_rules.new_task(fields, SYSTEM_USER, now)
        task.update(self._surviving_customers(tx, task))  # its customer was merged meanwhile
        stored = tx[TASKS].insert(task)
        self.emit(tx, events.TASK_CREATED, stored)
