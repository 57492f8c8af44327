"""CSV import and export through the gateway: a multipart upload with Chinese names and a mapping,
its progress to completion, its refused rows, a dry run, and exports cut to each caller's reach."""

import csv
import io
import json
import uuid

import pytest

from crm_common.testing import eventually

PASSWORD = "import-export-password-1"


@pytest.fixture(scope="module")
def people(api):
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"rep-{tag}@transfer.test", ["sales_rep"], PASSWORD)
    other = api.new_user(f"other-{tag}@transfer.test", ["sales_rep"], PASSWORD)
    viewer = api.new_user(f"viewer-{tag}@transfer.test", ["viewer"], PASSWORD)
    return tag, rep, other, viewer


def upload(client, text: str, encoding: str = "utf-8-sig", **options) -> dict:
    form = {k: json.dumps(v) if isinstance(v, dict) else str(v).lower() for k, v in options.items()}
    response = client.request(
        "POST", "/imports", files={"file": ("客户名单.csv", text.encode(encoding), "text/csv")}, data=form
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/api/v1/imports/{response.json()['id']}")
    return response.json()


def finished(client, path: str) -> dict:
    def done():
        job = client.get(path).json()
        assert job["status"] in ("completed", "failed"), job
        return job

    return eventually(done, timeout=30)


def test_a_rep_imports_a_spreadsheet_with_chinese_names_and_sees_its_refused_rows(people):
    tag, rep, _, _ = people
    text = (
        "姓,名,邮箱,手机,标签,备注\n"
        f"张,伟,zhang.wei@{tag}.cn,13800138000,vip;{tag},老客户\n"
        f"王,芳,wang.fang@{tag}.cn,,{tag},\n"
        f"李,娜,not-an-email,,{tag},\n"
        f"张,伟,ZHANG.WEI@{tag}.cn,,{tag},repeat of row 2\n"
    )
    mapping = {"姓": "last_name", "名": "first_name", "邮箱": "email", "手机": "phone", "标签": "tags", "备注": None}
    job = upload(rep, text, "gb18030", mapping=mapping)
    assert job["status"] == "queued" and job["total_rows"] == 4 and job["file_name"] == "客户名单.csv"
    assert job["mapping"] == {k: v for k, v in mapping.items() if v} and job["ignored_columns"] == ["备注"]
    done = finished(rep, f"/imports/{job['id']}")
    assert done["status"] == "completed", done
    assert (done["created"], done["skipped"], done["failed"], done["percent"]) == (2, 1, 1, 100.0)
    refused = rep.get(f"/imports/{job['id']}/errors").json()
    assert refused["data"] == [
        {"row": 4, "errors": [{"field": "email", "message": "must be an email address", "column": "邮箱"}]}
    ]
    mine = rep.get("/contacts", params={"filter": json.dumps({"tags": {"contains": tag}})}).json()["data"]
    assert sorted(c["display_name"] for c in mine) == ["张伟", "王芳"]
    assert {c["owner_id"] for c in mine} == {rep.user["id"]} and {c["source_channel"] for c in mine} == {"import"}
    assert [j["id"] for j in rep.get("/imports").json()["data"]][0] == job["id"]


def test_a_dry_run_reports_without_writing_and_bad_columns_are_refused_at_once(people):
    tag, rep, _, viewer = people
    text = f"first_name,email\nDry,dry@{tag}.dry\nRun,nope\n"
    done = finished(rep, f"/imports/{upload(rep, text, dry_run=True)['id']}")
    assert (done["dry_run"], done["created"], done["failed"]) == (True, 1, 1)
    assert rep.get("/contacts", params={"email": f"dry@{tag}.dry"}).json()["data"] == []
    refused = rep.post("/imports", files={"file": ("x.csv", b"first_name\nX\n")}, data={"mapping": '{"nope": "email"}'})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "mapping.nope"
    assert viewer.post("/imports", files={"file": ("x.csv", b"email\na@b.cn\n")}).status_code == 403
    raw = rep.post("/imports", data=b"email\n", headers={"Content-Type": "text/csv"})
    assert raw.status_code == 422 and raw.json()["errors"][0]["field"] == "file"


def exported(client, body: dict) -> list[dict]:
    response = client.post("/exports", body)
    assert response.status_code == 202, response.text
    done = finished(client, f"/exports/{response.json()['id']}")
    assert done["status"] == "completed", done
    download = client.get(f"/exports/{done['id']}/download")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert download.content.startswith(b"\xef\xbb\xbf")  # Excel reads Chinese right only with the BOM
    return list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))


def test_an_export_holds_the_callers_reach_and_imports_back(api, people):
    tag, rep, other, viewer = people
    other.create("/contacts", {"first_name": "Hidden", "last_name": "赵", "tags": [tag, "export"]})
    rep.create("/contacts", {"first_name": "=1+1", "last_name": "钱", "tags": [tag, "export"]})
    body = {"filter": {"tags": {"contains": "export"}}, "sort": "first_name"}
    rows = exported(rep, {**body, "filter": {"and": [{"tags": {"contains": tag}}, body["filter"]]}})
    assert [(r["last_name"], r["first_name"]) for r in rows] == [("钱", "'=1+1")]
    assert rows[0]["tags"] == f"{tag};export" and rows[0]["owner_id"] == rep.user["id"]
    everything = exported(api, {"filter": {"tags": {"contains": tag}}, "fields": ["last_name", "email"]})
    assert sorted(r["last_name"] for r in everything) == ["张", "王", "赵", "钱"]
    assert list(everything[0]) == ["last_name", "email"]
    # The export's own header feeds a new import; the formula cell comes back as it was.
    again = "\n".join([",".join(["first_name", "last_name", "email"]), f"'=1+1,孙,sun@{tag}.cn"]) + "\n"
    done = finished(rep, f"/imports/{upload(rep, again)['id']}")
    assert done["created"] == 1
    sun = rep.get("/contacts", params={"email": f"sun@{tag}.cn"}).json()["data"][0]
    assert sun["first_name"] == "=1+1"
