"""What sales tells people: tasks assigned to them, reminders and overdue tasks, rotting deals and
churn-risk alerts (a mixin of NotificationsService: in-app inbox entries, one per event and recipient)."""

from crm_common.runtime.events import handle_event

from . import domain


class SalesAlerts:
    """Handlers of the sales service's task, deal and churn events."""

    def _about_erased(self, tx, record: dict) -> bool:
        # A task or deal names its customer in its title: once the person is erased, nobody is told.
        return bool(record.get("contact_id")) and self._erased(tx, record["contact_id"])

    def _task_assigned(self, tx, event, title: str) -> None:
        task = event.payload
        if task.get("assignee_id") == event.actor or self._about_erased(tx, task):
            return  # who assigns a task to themselves needs no notice
        body = f"{task['title']} (due {domain.shown_time(task.get('due_at'))})"
        self._tell(tx, event, [task.get("assignee_id")], title, body, "task", task)

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
        self._tell(tx, event, [task.get("assignee_id")], "Task reminder", body, "task", task)

    @handle_event("sales", "task_overdue")
    def on_task_overdue(self, tx, event) -> None:
        # The escalation goes to the assignee and to whoever created the task (often their manager):
        # sales knows no manager of a user, the gateway owns teams.
        task = event.payload
        if self._about_erased(tx, task):
            return
        due = domain.shown_time(task.get("due_at"))
        body = f"{task['title']} was due {due} and is not done (assigned to {task['assignee_id']})"
        recipients = [task.get("assignee_id"), task.get("created_by")]
        self._tell(tx, event, recipients, "Task overdue", body, "task", task)

    @handle_event("sales", "deal_rotting")
    def on_deal_rotting(self, tx, event) -> None:
        deal = event.payload
        if self._about_erased(tx, deal):
            return
        stage = deal.get("stage_name") or deal.get("stage_id")
        body = f"{deal['title']} has been in {stage} for more than {deal.get('rotting_days')} days"
        self._tell(tx, event, [deal.get("owner_id")], "Deal is rotting", body, "deal", deal)

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
        self._tell(tx, event, [change.get("owner_id")], title, body, ref_type, about)
