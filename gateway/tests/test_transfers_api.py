"""CSV upload and download at the edge: decoding, record-boundary parts, limits, and the RPC calls made."""

import codecs
import io
import json

import pytest

from crm_common.errors import Conflict, ValidationFailed
from gateway import uploads
from gateway.app import create_app

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SECURITY, sign_in

JOB = {"id": "imp1", "version": 1, "status": "queued"}


def test_text_is_read_as_utf8_utf16_or_gb18030_and_named_encodings_are_honoured():
    text = "姓名,邮箱\n张伟,zw@example.cn\n"
    assert uploads.decode_csv(codecs.BOM_UTF8 + text.encode()) == text
    assert uploads.decode_csv(text.encode("utf-16")) == text
    assert uploads.decode_csv(text.encode("gb18030")) == text
    assert uploads.decode_csv("naïve\r1\r".encode("latin-1"), "latin-1") == "naïve\n1\n"
    with pytest.raises(ValidationFailed) as refused:
        uploads.decode_csv(text.encode("gb18030"), "utf-8")
    assert refused.value.errors[0]["field"] == "file"
    with pytest.raises(ValidationFailed):
        uploads.decode_csv(b"email\n\x80\xff@example.cn\n")
    with pytest.raises(ValidationFailed) as refused:
        uploads.decode_csv(b"a", "ebcdic")
    assert refused.value.errors[0]["field"] == "encoding"


def test_parts_end_at_record_boundaries_and_join_back_to_the_file():
    text = 'name,note\nA,"one\nline two"\nB,"say ""hi""\n"\nC,plain\n' * 50
    parts = uploads.split_records(text, limit=40)
    assert "".join(parts) == text and len(parts) > 10
    assert all(part.count('"') % 2 == 0 for part in parts)
    assert uploads.split_records("") == [""]
    assert uploads.split_records("email\na@b.cn") == ["email\na@b.cn"]


def multipart(text: bytes, **fields) -> dict:
    return {"file": (io.BytesIO(text), "客户.csv"), **fields}


def test_a_multipart_upload_queues_an_import_with_its_options(client, rpc):
    rpc.answers[("contacts", "create_import")] = JOB
    response = client.post(
        "/api/v1/imports",
        data=multipart(
            "姓,名\n张,伟\n".encode("gb18030"),
            mapping=json.dumps({"姓": "last_name", "名": "first_name"}),
            dry_run="true",
            dedupe="update",
            delimiter="comma",
        ),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/api/v1/imports/imp1")
    (_, method, _, kwargs), *_ = [c for c in rpc.calls if c[1] == "create_import"]
    assert kwargs == {
        "options": {
            "dedupe": "update",
            "mapping": {"姓": "last_name", "名": "first_name"},
            "dry_run": True,
            "delimiter": ",",
            "file_name": "客户.csv",
        },
        "csv_text": "姓,名\n张,伟\n",
        "complete": True,
    }


def test_a_large_upload_travels_as_several_calls(client, rpc, monkeypatch):
    monkeypatch.setattr(uploads, "PART_CHARS", 30)
    rpc.answers[("contacts", "create_import")] = {**JOB, "status": "uploading"}
    rpc.answers[("contacts", "append_import_rows")] = JOB
    body = "email\n" + "".join(f"person{i}@example.cn\n" for i in range(10))
    response = client.post("/api/v1/imports?entity=contact", data=body.encode(), content_type="text/csv")
    assert response.status_code == 202
    calls = [kwargs for _, method, _, kwargs in rpc.calls if method in ("create_import", "append_import_rows")]
    assert calls[0]["complete"] is False and calls[0]["options"] == {"entity": "contact"}
    assert [c["part"] for c in calls[1:]] == list(range(1, len(calls)))
    assert [c["complete"] for c in calls[1:]] == [False] * (len(calls) - 2) + [True]
    assert "".join(c["csv_text"] for c in calls) == body


def test_a_failed_part_cancels_the_half_uploaded_import(client, rpc, monkeypatch):
    monkeypatch.setattr(uploads, "PART_CHARS", 10)
    rpc.answers[("contacts", "create_import")] = {**JOB, "status": "uploading"}
    rpc.answers[("contacts", "append_import_rows")] = ValidationFailed("bad", [{"field": "file", "message": "bad"}])
    response = client.post("/api/v1/imports", data=b"email\na@b.cn\nc@d.cn\n", content_type="text/csv")
    assert response.status_code == 422
    assert ("contacts", "cancel_import") in [(s, m) for s, m, _, _ in rpc.calls]


@pytest.mark.parametrize(
    "data,content_type,field",
    [
        ({"dry_run": "maybe", "file": (io.BytesIO(b"email\n"), "a.csv")}, "multipart/form-data", "dry_run"),
        ({"mapping": "{not json", "file": (io.BytesIO(b"email\n"), "a.csv")}, "multipart/form-data", "mapping"),
        ({"owner": "u1", "file": (io.BytesIO(b"email\n"), "a.csv")}, "multipart/form-data", "owner"),
        ({"entity": "contact"}, "multipart/form-data", "file"),
    ],
)
def test_bad_upload_options_are_refused_before_any_call(client, rpc, data, content_type, field):
    response = client.post("/api/v1/imports", data=data, content_type=content_type)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == field
    assert rpc.calls == []


def test_an_upload_that_is_not_csv_is_415(client, rpc):
    response = client.post("/api/v1/imports", json={"csv": "email\n"})
    assert response.status_code == 415 and response.mimetype == "application/problem+json"


def test_uploads_have_their_own_body_limit(rpc, gateway_store, monkeypatch):
    monkeypatch.setenv("GATEWAY_MAX_UPLOAD_BYTES", "4096")
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "1024")
    app = create_app(rpc, store=gateway_store, security=SECURITY)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)['access_token']}"
    rpc.answers[("contacts", "create_import")] = JOB
    rpc.answers[("contacts", "create_contact")] = {"id": "c1", "version": 1}
    fits = b"email\n" + b"a@b.cn\n" * 400  # ~2.8 KB: over the body limit, under the upload limit
    assert client.post("/api/v1/imports", data=fits, content_type="text/csv").status_code == 202
    too_big = b"email\n" + b"a@b.cn\n" * 700
    refused = client.post("/api/v1/imports", data=too_big, content_type="text/csv")
    assert refused.status_code == 413 and refused.mimetype == "application/problem+json"
    as_multipart = client.post(
        "/api/v1/imports", data={"file": (io.BytesIO(too_big), "a.csv")}, content_type="multipart/form-data"
    )
    assert as_multipart.status_code == 413
    other = client.post(
        "/api/v1/contacts", data=json.dumps({"first_name": "x" * 2000}), content_type="application/json"
    )
    assert other.status_code == 413


def test_an_export_downloads_chunk_by_chunk_with_a_byte_order_mark(client, rpc):
    rpc.answers[("contacts", "get_export")] = {"id": "exp1", "entity": "contact", "created_at": "2024-05-01T00:00Z"}
    chunks = iter([{"csv": "id,last_name\r\nc1,张\r\n", "next": 1}, {"csv": "c2,王\r\n", "next": None}])
    original = rpc.call

    def call(service, method, caller, timeout=None, **kwargs):
        if method == "read_export_chunk":
            rpc.calls.append((service, method, caller, kwargs))
            return next(chunks)
        return original(service, method, caller, timeout, **kwargs)

    rpc.call = call
    response = client.get("/api/v1/exports/exp1/download")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts-2024-05-01.csv"'
    assert response.data == codecs.BOM_UTF8 + "id,last_name\r\nc1,张\r\nc2,王\r\n".encode()
    assert [c[3]["n"] for c in rpc.calls if c[1] == "read_export_chunk"] == [0, 1]


def test_an_export_not_yet_completed_is_a_409_problem(client, rpc):
    rpc.answers[("contacts", "get_export")] = {"id": "exp1", "entity": "contact", "created_at": "2024-05-01T00:00Z"}
    rpc.answers[("contacts", "read_export_chunk")] = Conflict("export exp1 is running, not completed")
    response = client.get("/api/v1/exports/exp1/download")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"


def test_an_export_request_goes_to_the_service_as_given(client, rpc):
    rpc.answers[("contacts", "create_export")] = {"id": "exp1", "version": 1, "status": "queued"}
    body = {"entity": "contact", "filter": {"tags": {"contains": "vip"}}, "fields": ["email"]}
    response = client.post("/api/v1/exports", json=body)
    assert response.status_code == 202 and response.headers["Location"].endswith("/api/v1/exports/exp1")
    assert rpc.calls[-1][3] == {"options": body}
