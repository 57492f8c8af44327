"""Notification rules, without any I/O."""

from notifications import domain


def test_one_event_gives_one_notification_per_recipient():
    first = domain.in_app("usr-1", "evt-1", "T", "B", "ticket", "t1", "now")
    again = domain.in_app("usr-1", "evt-1", "T", "B", "ticket", "t1", "now")
    other = domain.in_app("usr-2", "evt-1", "T", "B", "ticket", "t1", "now")
    assert first["id"] == again["id"] != other["id"]
    assert first["read"] is False and first["channel"] == "in_app"
