"""Service desk rules, without any I/O."""

from datetime import UTC, datetime

from service_desk import domain

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_new_ticket_is_new_normal_and_not_breached_by_default():
    ticket = domain.new_ticket({"subject": "S", "contact_id": "c"}, "usr-1", NOW)
    assert (ticket["status"], ticket["priority"], ticket["breached"]) == ("new", "normal", False)
    assert ticket["created_at"] == "2026-11-23T09:00:00.000000Z"


def test_a_new_ticket_waits_for_its_sla_and_starts_its_clocks_when_the_request_arrived():
    ticket = domain.new_ticket({"subject": "S", "contact_id": "c"}, "u", NOW)
    assert ticket["received_at"] == ticket["created_at"]
    assert (ticket["sla"], ticket["first_response_due_at"], ticket["resolution_due_at"]) == (None, None, None)
    assert (ticket["first_responded_at"], ticket["resolved_at"], ticket["closed_at"], ticket["merged_into"]) == (
        None,
        None,
        None,
        None,
    )
    assert (ticket["reopened_count"], ticket["escalation_level"], ticket["satisfaction"]) == (0, 0, None)
    received = domain.new_ticket(
        {"subject": "S", "contact_id": "c", "received_at": "2026-11-22T09:00:00.000000Z"}, "u", NOW
    )
    assert received["received_at"] == "2026-11-22T09:00:00.000000Z"


def test_a_status_brings_its_stamps():
    ticket = domain.new_ticket({"subject": "S", "contact_id": "c"}, "u", NOW)
    resolved, changed = domain.apply_ticket_changes(ticket, {"status": "resolved"}, NOW)
    assert (changed, resolved["resolved_at"]) == (["status", "resolved_at"], "2026-11-23T09:00:00.000000Z")
    reopened, changed = domain.apply_ticket_changes(resolved, {"status": "reopened"}, NOW)
    assert (changed, reopened["reopened_count"], reopened["resolved_at"]) == (
        ["status", "reopened_count", "resolved_at"],
        1,
        None,
    )
    assert domain.apply_ticket_changes(reopened, {"status": "reopened"}, NOW) == (reopened, [])
