"""Contacts rules, without any I/O."""

from contacts import domain


def test_chinese_names_read_family_name_first_without_a_space():
    assert domain.display_name({"id": "1", "first_name": "伟明", "last_name": "张"}) == "张伟明"


def test_western_names_read_given_name_first():
    assert domain.display_name({"id": "1", "first_name": "Ada", "last_name": "Lovelace"}) == "Ada Lovelace"


def test_a_nameless_contact_is_shown_by_email_then_id():
    assert domain.display_name({"id": "1", "email": "a@b.co"}) == "a@b.co"
    assert domain.display_name({"id": "c-1"}) == "c-1"


def test_a_new_contact_is_owned_by_its_creator_unless_given_an_owner():
    mine = domain.new_contact({"first_name": "A"}, "usr-1", "2026-01-01T00:00:00Z")
    theirs = domain.new_contact({"first_name": "A", "owner_id": "usr-2"}, "usr-1", "2026-01-01T00:00:00Z")
    assert mine["owner_id"] == "usr-1" and theirs["owner_id"] == "usr-2"
    assert mine["lifecycle_stage"] == "lead" and mine["created_by"] == "usr-1"


def test_emails_are_stored_lower_case():
    assert domain.new_contact({"email": " Ada@Example.COM "}, "u", "t")["email"] == "ada@example.com"


def test_only_real_changes_are_reported_and_the_display_name_follows():
    contact = domain.new_contact({"first_name": "A", "last_name": "B"}, "u", "t0")
    updated, changed = domain.apply_changes(contact, {"first_name": "A", "last_name": "C"}, "t1")
    assert changed == ["last_name"] and updated["display_name"] == "A C" and updated["updated_at"] == "t1"
    same, none = domain.apply_changes(contact, {"first_name": "A"}, "t2")
    assert none == [] and same["updated_at"] == "t0"


def test_timeline_entries_from_one_event_share_an_id_so_replays_do_not_duplicate():
    first = domain.timeline_entry("contact", "c1", "deal", "sales", "s", "deal", "d1", "t", "evt-1")
    again = domain.timeline_entry("contact", "c1", "deal", "sales", "s", "deal", "d1", "t", "evt-1")
    assert first["id"] == again["id"] == "c1:evt-1"
    assert set(domain.public_timeline_entry(first)) == {"id", "kind", "occurred_at", "source", "summary", "ref"}
