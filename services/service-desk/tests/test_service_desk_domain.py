"""Service desk rules, without any I/O."""

from datetime import UTC, datetime

from service_desk import domain

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_new_ticket_is_new_normal_and_not_breached_by_default():
    ticket = domain.new_ticket({"subject": "S", "contact_id": "c"}, "usr-1", NOW)
    assert (ticket["status"], ticket["priority"], ticket["breached"]) == ("new", "normal", False)
    assert ticket["created_at"] == "2026-11-23T09:00:00.000000Z"


def test_urgent_tickets_get_tighter_targets_than_low_ones():
    urgent = domain.new_ticket({"subject": "S", "contact_id": "c", "priority": "urgent"}, "u", NOW)
    low = domain.new_ticket({"subject": "S", "contact_id": "c", "priority": "low"}, "u", NOW)
    assert urgent["first_response_due_at"] == "2026-11-23T10:00:00.000000Z"
    assert urgent["resolution_due_at"] < low["resolution_due_at"]
