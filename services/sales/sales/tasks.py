"""Tasks and reminders: due dates, assignees, reminders, overdue escalation and return visits
(a mixin of SalesService)."""


class TasksRpc:
    pass
