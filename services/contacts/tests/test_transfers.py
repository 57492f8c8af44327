"""CSV import and export jobs on a real SQLite store, no broker: the runner's step run directly."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts import transfers
from contacts.service import ContactsService
from contacts.store import CONTACTS, EXPORT_CHUNKS, IMPORT_CHUNKS, IMPORT_ERRORS, IMPORTS, SPECS, TIMELINE
from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1"))
OTHER_REP = Caller("u3", ("sales_rep",), ("t-east",), teammate_ids=("u3",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "v1"))
SYSTEM = Caller("system", ("system",))

CHINESE = (
    "last_name,first_name,email,phone,tags\n"
    "张,伟,zhang.wei@example.cn,13800138000,vip;北京\n"
    "王,芳,wang.fang@example.cn,,\n"
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def run_all(store: DocumentStore, instance: str = "runner-a") -> None:
    """What the timer does, until no job is left to work on."""
    runner = service(store, SYSTEM)
    for _ in range(1000):
        if not runner.run_transfers_once(budget=60, instance=instance):
            return
    raise AssertionError("the runner never ran out of work")


def imported(store: DocumentStore, caller: Caller, text: str, **options) -> dict:
    job = service(store, caller).create_import(options, text)
    run_all(store)
    return service(store, caller).get_import(job["id"])


def contacts(store: DocumentStore) -> list[dict]:
    return list(store[CONTACTS].iterate(None, [("created_at", 1)]))


def events(store: DocumentStore, event_type: str) -> list[dict]:
    return [row["event"] for row in store[OUTBOX].iterate() if row["event"]["event_type"] == event_type]


def errors(store: DocumentStore, caller: Caller, import_id: str) -> dict[int, list[dict]]:
    page = service(store, caller).list_import_errors(import_id, {"limit": "200"})
    return {e["row"]: e["errors"] for e in page["data"]}


# imports


def test_rows_are_created_as_the_uploader_with_timeline_and_events(store):
    job = imported(store, REP, CHINESE)
    assert job["status"] == "completed"
    assert (job["total_rows"], job["processed_rows"], job["created"], job["failed"]) == (2, 2, 2, 0)
    assert job["percent"] == 100.0 and job["started_at"] and job["finished_at"]
    zhang, wang = contacts(store)
    assert zhang["display_name"] == "张伟" and zhang["tags"] == ["vip", "北京"] and zhang["phone"] == "13800138000"
    assert (zhang["owner_id"], zhang["created_by"], zhang["source_channel"]) == ("u1", "u1", "import")
    assert wang["email"] == "wang.fang@example.cn"
    created = events(store, "contact_created")
    assert {e["payload"]["id"] for e in created} == {zhang["id"], wang["id"]}
    assert {e["actor"] for e in created} == {"u1"}
    assert store[TIMELINE].count({"subject_id": zhang["id"]}) == 1
    assert store[IMPORT_CHUNKS].count() == 0  # the uploaded rows are gone once imported


def test_a_bad_row_is_recorded_with_its_row_number_and_column_and_the_others_are_imported(store):
    text = (
        "Name,E-mail,Stage,Owner\n"
        "Ada,ada@example.com,lead,\n"
        "Bob,not-an-email,customer,\n"
        "Cy,cy@example.com,royalty,\n"
        "Di,di@example.com,lead,u3\n"
        "Ed,ed@example.com,lead,,surplus\n"
    )
    mapping = {"Name": "first_name", "E-mail": "email", "Stage": "lifecycle_stage", "Owner": "owner_id"}
    job = imported(store, REP, text, mapping=mapping)
    assert (job["created"], job["failed"], job["processed_rows"]) == (1, 4, 5)
    found = errors(store, REP, job["id"])
    assert list(found) == [3, 4, 5, 6]
    assert found[3] == [{"field": "email", "message": "must be an email address", "column": "E-mail"}]
    assert found[4][0]["field"] == "lifecycle_stage" and found[4][0]["column"] == "Stage"
    assert found[5] == [{"field": "", "message": "you may not give a record to that owner"}]
    assert found[6] == [{"field": "", "message": "the row has 5 cells; the header has 4 columns"}]
    assert [c["first_name"] for c in contacts(store)] == ["Ada"]


def test_mapping_problems_are_refused_before_anything_is_stored(store):
    with pytest.raises(ValidationFailed) as refused:
        service(store, REP).create_import({"mapping": {"Mail": "e_mail", "Missing": "phone"}}, "Mail,Name\nx@y.cn,X\n")
    fields = [e["field"] for e in refused.value.errors]
    assert fields == ["mapping.Missing", "mapping.Mail"]
    with pytest.raises(ValidationFailed) as refused:
        service(store, REP).create_import({"entity": "company"}, "tax_id\n123\n")
    assert refused.value.errors == [{"field": "mapping", "message": "a new company needs a column for name"}]
    with pytest.raises(ValidationFailed):
        service(store, REP).create_import({"dedupe": "merge"}, CHINESE)
    with pytest.raises(ValidationFailed):
        service(store, REP).create_import({}, "email\n")  # a header and no rows
    assert store[IMPORTS].count() == 0 and store[IMPORT_CHUNKS].count() == 0


def test_a_required_custom_field_needs_a_column(store):
    service(store, ADMIN).create_custom_field(
        {"entity": "contact", "key": "region", "label": "Region", "type": "text", "required": True}
    )
    with pytest.raises(ValidationFailed) as refused:
        service(store, REP).create_import({}, CHINESE)
    assert "custom_fields.region" in refused.value.errors[0]["message"]
    job = imported(store, REP, "email,custom_fields.region\na@b.cn,华东\n")
    assert job["created"] == 1 and contacts(store)[0]["custom_fields"] == {"region": "华东"}


def test_custom_field_definitions_are_read_once_per_transaction_and_never_kept_beyond(store, monkeypatch):
    admin = service(store, ADMIN)
    region = admin.create_custom_field({"entity": "contact", "key": "region", "label": "Region", "type": "text"})
    admin.create_contact({"first_name": "A", "custom_fields": {"region": "east"}})
    service(store, ADMIN).delete_custom_field(region["id"])  # another request
    with pytest.raises(ValidationFailed):
        admin.create_contact({"first_name": "B", "custom_fields": {"region": "west"}})
    admin.update_custom_field(region["id"], {"active": True})
    assert admin.create_contact({"first_name": "C", "custom_fields": {"region": "west"}})["custom_fields"]
    text = "email,custom_fields.region\n" + "".join(f"r{i}@example.cn,华东\n" for i in range(5))
    job = service(store, REP).create_import({}, text)
    reads = []
    iterate = store["custom_fields"].iterate

    def counted(*args, **kwargs):
        reads.append(args)
        return iterate(*args, **kwargs)

    monkeypatch.setattr(store["custom_fields"], "iterate", counted)
    run_all(store)
    assert service(store, REP).get_import(job["id"])["created"] == 5
    assert len(reads) == 1  # one chunk, one transaction: one read for its five rows


def test_a_dry_run_checks_every_row_and_writes_nothing(store):
    service(store, REP).create_contact({"first_name": "Old", "email": "zhang.wei@example.cn"})
    before = (store[CONTACTS].count(), store[OUTBOX].count(), store[TIMELINE].count())
    text = CHINESE + "李,,li@@example.cn,,\n"
    job = imported(store, REP, text, dry_run=True, dedupe="skip")
    assert job["status"] == "completed" and job["dry_run"] is True
    assert (job["created"], job["skipped"], job["failed"]) == (1, 1, 1)
    assert list(errors(store, REP, job["id"])) == [4]
    assert (store[CONTACTS].count(), store[OUTBOX].count(), store[TIMELINE].count()) == before


def test_a_dry_run_of_updates_checks_the_rights_on_the_duplicate(store):
    service(store, OTHER_REP).create_contact({"first_name": "Theirs", "email": "theirs@example.cn"})
    service(store, REP).create_contact({"first_name": "Mine", "email": "mine@example.cn"})
    text = f"email,title\ntheirs@example.cn,Boss\nmine@example.cn,{'x' * 101}\nmine@example.cn,CTO\n"
    job = imported(store, REP, text, dry_run=True, dedupe="update")
    assert (job["updated"], job["failed"]) == (1, 2)
    found = errors(store, REP, job["id"])
    assert "outside your reach" in found[2][0]["message"]
    assert found[3] == [{"field": "title", "message": "must be at most 100 characters", "column": "title"}]
    assert {c["title"] for c in contacts(store)} == {None}


@pytest.mark.parametrize(
    ("dedupe", "counts", "titles"),
    [
        ("skip", (0, 0, 2), {None}),
        ("update", (0, 2, 0), {"CTO"}),
        ("create", (2, 0, 0), {None, "CTO"}),
    ],
)
def test_a_duplicate_row_is_skipped_applied_or_created_as_asked(store, dedupe, counts, titles):
    mine = service(store, REP).create_contact({"first_name": "Wei", "last_name": "Zhang", "email": "zw@example.cn"})
    shared = service(store, REP).create_contact({"first_name": "Fang", "phone": "+86 138 0013 8000"})
    text = "email,phone,last_name,title\nZW@example.cn,,Zhang,CTO\n,13800138000,Li,CTO\n"
    job = imported(store, REP, text, dedupe=dedupe)
    assert (job["created"], job["updated"], job["skipped"]) == counts
    assert {c["title"] for c in contacts(store)} == titles
    if dedupe == "update":
        changed = service(store, REP).get_contact(mine["id"])
        assert changed["version"] == 2 and changed["phone"] is None  # an empty cell changes nothing
        assert service(store, REP).get_contact(shared["id"])["title"] == "CTO"
        assert len(events(store, "contact_updated")) == 2


def test_a_row_repeating_an_earlier_row_of_the_file_is_a_duplicate_too(store):
    text = "email,first_name\nsame@example.cn,A\nSAME@example.cn,B\n"
    job = imported(store, REP, text)
    assert (job["created"], job["skipped"]) == (1, 1)


def test_a_row_updating_a_contact_created_earlier_in_its_chunk_finds_it_written(store):
    text = "email,first_name,title\nsame@example.cn,A,\nother@example.cn,B,\nSAME@example.cn,A,CTO\n"
    job = imported(store, REP, text, dedupe="update")
    assert (job["created"], job["updated"], job["failed"]) == (2, 1, 0)
    same = next(c for c in contacts(store) if c["email"] == "same@example.cn")
    assert (same["version"], same["title"]) == (2, "CTO")
    outbox = store[OUTBOX].iterate(None, [("id", 1)])
    its_events = [row["event"]["event_type"] for row in outbox if row["event"]["payload"]["id"] == same["id"]]
    assert its_events == ["contact_created", "contact_updated"]


def test_a_contact_row_names_its_company(store):
    acme = service(store, REP).create_company({"name": "Acme 有限公司"})
    service(store, OTHER_REP).create_company({"name": "Hidden Ltd"})
    text = "email,company\na@acme.cn,Acme 有限公司\nb@hidden.cn,Hidden Ltd\n"
    job = imported(store, REP, text, mapping={"company": "company_name"})
    assert (job["created"], job["failed"]) == (1, 1)
    assert contacts(store)[0]["company_id"] == acme["id"]
    assert errors(store, REP, job["id"])[3] == [
        {"field": "company_name", "message": "no company you can see has this name", "column": "company"}
    ]


def test_companies_import_too(store):
    job = imported(store, MANAGER, "name,tax_id,owner_id\n华为技术有限公司,91440300,u1\n", entity="company")
    assert job["created"] == 1
    company = store["companies"].find().items[0]
    assert (company["name"], company["owner_id"]) == ("华为技术有限公司", "u1")


def test_a_large_file_comes_in_parts_numbered_as_one_and_a_repeated_part_is_harmless(store, monkeypatch):
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "2")
    rep = service(store, REP)
    job = rep.create_import({}, "email\na@x.cn\nb@x.cn\nc@x.cn\n", complete=False)
    assert job["status"] == "uploading"
    rep.append_import_rows(job["id"], 1, "d@x.cn\n\nbad\n")
    again = rep.append_import_rows(job["id"], 1, "d@x.cn\n\nbad\n")
    assert again["total_rows"] == 5
    with pytest.raises(Conflict):
        rep.append_import_rows(job["id"], 3, "f@x.cn\n")
    with pytest.raises(NotFound):
        service(store, OTHER_REP).append_import_rows(job["id"], 2, "f@x.cn\n")
    done = rep.append_import_rows(job["id"], 2, "f@x.cn\n", complete=True)
    assert (done["status"], done["total_rows"]) == ("queued", 6)
    run_all(store)
    finished = rep.get_import(job["id"])
    assert (finished["created"], finished["failed"]) == (5, 1)
    assert list(errors(store, REP, job["id"])) == [7]  # row 6 was blank


def test_an_upload_abandoned_half_way_fails_after_the_timeout(store, monkeypatch):
    job = service(store, REP).create_import({}, CHINESE, complete=False)
    monkeypatch.setenv("IMPORT_UPLOAD_TIMEOUT_SECONDS", "0")
    run_all(store)
    failed = service(store, REP).get_import(job["id"])
    assert (failed["status"], failed["error"]) == ("failed", "the upload did not finish")
    assert store[IMPORT_CHUNKS].count() == 0 and store[CONTACTS].count() == 0


class Crash(BaseException):
    """The process dying mid-chunk (not an error a row could cause)."""


def test_an_import_resumes_after_a_crash_without_repeating_or_losing_a_row(store, monkeypatch):
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "3")
    text = "email\n" + "".join(f"p{i}@example.cn\n" for i in range(10))
    job = service(store, REP).create_import({}, text)
    original = ContactsService._new_record
    calls = {"n": 0}

    def dying_create(self, tx, subject_type, data, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the second row of the second chunk
            raise Crash()
        return original(self, tx, subject_type, data, **kwargs)

    monkeypatch.setattr(ContactsService, "_new_record", dying_create)
    with pytest.raises(Crash):
        service(store, SYSTEM).run_transfers_once(budget=60, instance="runner-a")
    monkeypatch.setattr(ContactsService, "_new_record", original)
    halfway = store[IMPORTS].get(job["id"])
    assert (halfway["status"], halfway["processed_rows"], store[CONTACTS].count()) == ("running", 3, 3)
    # Another instance waits for the dead one's lease, then takes over.
    assert service(store, SYSTEM).run_transfers_once(budget=60, instance="runner-b") is False
    store[IMPORTS].replace({**halfway, "lease": {"owner": "runner-a", "until": 0}})
    run_all(store, instance="runner-b")
    done = service(store, REP).get_import(job["id"])
    assert (done["status"], done["created"], done["processed_rows"]) == ("completed", 10, 10)
    assert sorted(c["email"] for c in contacts(store)) == sorted(f"p{i}@example.cn" for i in range(10))


def test_a_row_failing_unexpectedly_is_recorded_and_the_rest_of_its_chunk_imported(store, monkeypatch):
    original = ContactsService._new_record

    def buggy_create(self, tx, subject_type, data, **kwargs):
        if data.get("email") == "bug@example.cn":
            raise RuntimeError("a bug")
        return original(self, tx, subject_type, data, **kwargs)

    monkeypatch.setattr(ContactsService, "_new_record", buggy_create)
    job = imported(store, REP, "email\nok1@example.cn\nbug@example.cn\nok2@example.cn\n")
    assert (job["created"], job["failed"], job["processed_rows"]) == (2, 1, 3)
    assert "internal error" in errors(store, REP, job["id"])[3][0]["message"]
    assert sorted(c["email"] for c in contacts(store)) == ["ok1@example.cn", "ok2@example.cn"]


def test_who_may_import_and_see_an_import(store):
    with pytest.raises(Forbidden):
        service(store, VIEWER).create_import({}, CHINESE)
    job = service(store, REP).create_import({}, CHINESE)
    with pytest.raises(NotFound):
        service(store, OTHER_REP).get_import(job["id"])
    with pytest.raises(NotFound):
        service(store, OTHER_REP).cancel_import(job["id"])
    assert service(store, ADMIN).get_import(job["id"])["id"] == job["id"]
    assert [j["id"] for j in service(store, REP).list_imports({})["data"]] == [job["id"]]
    assert service(store, OTHER_REP).list_imports({})["data"] == []
    assert len(service(store, ADMIN).list_imports({"where": {"status": "queued"}})["data"]) == 1
    public = service(store, REP).get_import(job["id"])
    assert "caller" not in public and public["mapping"] == {
        c: c for c in ("last_name", "first_name", "email", "phone", "tags")
    }


def test_a_cancelled_import_stops_and_drops_its_waiting_rows(store):
    job = service(store, REP).create_import({}, CHINESE)
    cancelled = service(store, REP).cancel_import(job["id"])
    assert cancelled["status"] == "cancelled"
    run_all(store)
    assert store[CONTACTS].count() == 0 and store[IMPORT_CHUNKS].count() == 0
    with pytest.raises(Conflict):
        service(store, REP).cancel_import(job["id"])


def test_errors_of_a_finished_import_page_in_row_order(store):
    text = "email\n" + "".join("bad\n" for _ in range(5))
    job = imported(store, REP, text)
    first = service(store, REP).list_import_errors(job["id"], {"limit": "2"})
    assert [e["row"] for e in first["data"]] == [2, 3]
    rest = service(store, REP).list_import_errors(job["id"], {"limit": "10", "cursor": first["next_cursor"]})
    assert [e["row"] for e in rest["data"]] == [4, 5, 6] and rest["next_cursor"] is None
    assert store[IMPORT_ERRORS].count() == 5


# exports


def exported(store: DocumentStore, caller: Caller, options: dict) -> tuple[dict, list[dict]]:
    job = service(store, caller).create_export(options)
    with pytest.raises(Conflict):
        service(store, caller).read_export_chunk(job["id"], 0)
    run_all(store)
    done = service(store, caller).get_export(job["id"])
    text, n = "", 0
    while n is not None:
        chunk = service(store, caller).read_export_chunk(job["id"], n)
        text, n = text + chunk["csv"], chunk["next"]
    return done, list(csv.DictReader(io.StringIO(text)))


def test_an_export_holds_only_what_its_creator_may_see(store, monkeypatch):
    monkeypatch.setenv("EXPORT_CHUNK_ROWS", "2")
    for i in range(3):
        service(store, REP).create_contact({"first_name": f"Mine{i}", "last_name": "张", "tags": ["vip", "北京"]})
    service(store, OTHER_REP).create_contact({"first_name": "Theirs", "tags": ["vip"]})
    done, rows = exported(store, REP, {"filter": {"tags": {"contains": "vip"}}, "sort": "first_name"})
    assert (done["status"], done["total_rows"], done["exported_rows"], done["chunks"]) == ("completed", 3, 3, 2)
    assert [r["first_name"] for r in rows] == ["Mine0", "Mine1", "Mine2"]
    assert rows[0]["tags"] == "vip;北京" and rows[0]["display_name"] == "张Mine0"
    _, everything = exported(store, ADMIN, {"fields": ["first_name"]})
    assert sorted(r["first_name"] for r in everything) == ["Mine0", "Mine1", "Mine2", "Theirs"]
    assert list(everything[0]) == ["first_name"]


def test_an_export_of_a_segment_uses_its_filter_and_entity(store):
    service(store, REP).create_company({"name": "Acme", "industry": "retail"})
    service(store, REP).create_company({"name": "Other", "industry": "mining"})
    segment = service(store, REP).create_segment(
        {"name": "Retail", "entity": "company", "filter": {"industry": "retail"}}
    )
    done, rows = exported(store, REP, {"segment_id": segment["id"], "fields": ["name", "industry"]})
    assert done["entity"] == "company" and rows == [{"name": "Acme", "industry": "retail"}]
    with pytest.raises(ValidationFailed):
        service(store, OTHER_REP).create_export({"segment_id": segment["id"]})  # a private segment of someone else


def test_a_bad_export_request_is_refused_with_the_field_at_fault(store):
    for options, field in (
        ({"filter": {"password": "x"}}, "filter"),
        ({"sort": "salary"}, "sort"),
        ({"fields": ["id", "password"]}, "fields"),
        ({"entity": "deal"}, "entity"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            service(store, REP).create_export(options)
        assert refused.value.errors[0]["field"] == field


def test_an_export_is_seen_by_its_creator_and_expires(store, monkeypatch):
    service(store, REP).create_contact({"first_name": "A"})
    done, _ = exported(store, REP, {})
    with pytest.raises(NotFound):
        service(store, OTHER_REP).read_export_chunk(done["id"], 0)
    assert service(store, VIEWER).create_export({})["total_rows"] == 1  # viewers export what they see
    monkeypatch.setenv("EXPORT_RETENTION_SECONDS", "-1")
    store[transfers.EXPORTS].replace({**store[transfers.EXPORTS].get(done["id"]), "expires_at": "2000-01-01T00:00:00Z"})
    run_all(store)
    assert service(store, REP).get_export(done["id"])["status"] == "expired"
    assert store[EXPORT_CHUNKS].count({"export_id": done["id"]}) == 0


def test_an_export_failing_unexpectedly_fails_for_good(store, monkeypatch):
    service(store, REP).create_contact({"first_name": "A"})
    job = service(store, REP).create_export({})

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(transfers.csv_io, "render_csv", broken)
    run_all(store)
    failed = service(store, REP).get_export(job["id"])
    assert failed["status"] == "failed" and "internal error" in failed["error"]
