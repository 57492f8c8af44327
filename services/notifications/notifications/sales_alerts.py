"""What sales tells people: tasks assigned to them, reminders and overdue tasks, won and rotting
deals and churn-risk alerts (a mixin of NotificationsService: each a notice of its kind, told as the
kind's rule says; see notices.py)."""

from crm_common.runtime.events import handle_event

from . import domain


class SalesAlerts:
    """Handlers of the sales service's task, deal and churn events."""

    def _about_erased(self, tx, record: dict) -> bool:
        # A task or deal names its customer in its title: once the person is erased, nobody is told.
        return bool(record.get("contact_id")) and self._erased(tx, record["contact_id"])

    def _task_assigned(self, tx, event, title: str) -> None:
        task = event.payload
        assignee = task.get("assignee_id")
        if not assignee or self._about_erased(tx, task):
            return
        body = f"{task['title']} (due {domain.shown_time(task.get('due_at'))})"
        # Who assigns a task to themselves needs no notice; the rule's user_ids hear of it all the same.
        audiences = {"assignee": [assignee] if assignee != event.actor else []}
        self._notify(tx, event, "task_assigned", audiences, title, body, "task", task)

    @handle_event("sales", "task_created")
    def on_task_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        # Return visits the sales timers plan arrive this way too: created by the system, for the owner.
        self._task_assigned(tx, event, "New task assigned to you")

    @handle_event("sales", "task_updated")
    def on_task_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        if "assignee_id" in (event.payload.get("changes") or []):
            self._task_assigned(tx, event, "Task assigned to you")

    @handle_event("sales", "task_reminder_due")
    def on_task_reminder_due(self, tx, event) -> None:
        task = event.payload
        if self._about_erased(tx, task):
            return
        body = f"{task['title']} is due {domain.shown_time(task.get('due_at'))}"
        audiences = {"assignee": [task.get("assignee_id")]}
        self._notify(tx, event, "task_reminder", audiences, "Task reminder", body, "task", task)

    @handle_event("sales", "task_overdue")
    def on_task_overdue(self, tx, event) -> None:
        # The escalation goes to the assignee and to whoever created the task (often their manager):
        # sales knows no manager of a user, the gateway owns teams.
        task = event.payload
        if self._about_erased(tx, task):
            return
        due = domain.shown_time(task.get("due_at"))
        body = f"{task['title']} was due {due} and is not done (assigned to {task['assignee_id']})"
        audiences = {"assignee": [task.get("assignee_id")], "creator": [task.get("created_by")]}
        self._notify(tx, event, "task_overdue", audiences, "Task overdue", body, "task", task)

    @handle_event("sales", "deal_updated")
    def on_deal_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        deal = event.payload
        if "status" in (deal.get("changes") or []) and deal.get("status") == "won":
            self._deal_won(tx, event, deal)

    def _deal_won(self, tx, event, deal: dict) -> None:
        # Who won it needs no notice; the rule's user_ids (a sales director) hear of every win.
        if self._about_erased(tx, deal):
            return
        owner = deal.get("owner_id")
        body = f"{deal['title']} ({deal['amount']} {deal.get('currency')})" if deal.get("amount") else deal["title"]
        audiences = {"owner": [owner] if owner != event.actor else []}
        self._notify(tx, event, "deal_won", audiences, "Deal won", body, "deal", deal)

    @handle_event("sales", "deal_rotting")
    def on_deal_rotting(self, tx, event) -> None:
        deal = event.payload
        if self._about_erased(tx, deal):
            return
        stage = deal.get("stage_name") or deal.get("stage_id")
        body = f"{deal['title']} has been in {stage} for more than {deal.get('rotting_days')} days"
        self._notify(
            tx, event, "deal_rotting", {"owner": [deal.get("owner_id")]}, "Deal is rotting", body, "deal", deal
        )

    @handle_event("sales", "churn_risk_changed")
    def on_churn_risk_changed(self, tx, event) -> None:
        change = event.payload
        contact_id = change["id"] if change.get("subject_type") == "contact" else None
        if contact_id and self._erased(tx, contact_id):
            return
        # The name goes in the body only: an erasure scrubs bodies, titles stay.
        name = change.get("display_name") or change["id"]
        if change.get("churn_risk"):
            title = f"Customer at risk of churning ({change['churn_risk']})"
            body = f"{name}: {change.get('reason') or 'orders less than before'}"
        else:
            title = "Churn risk cleared"
            body = f"{name} orders as before again"
        ref_type = change.get("subject_type") or "contact"
        about = {"id": change["id"], "contact_id": contact_id}
        self._notify(tx, event, "churn_risk", {"owner": [change.get("owner_id")]}, title, body, ref_type, about)
