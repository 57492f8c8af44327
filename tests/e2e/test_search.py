"""Search through the real platform: records written through the gateway are found by a two-character
Chinese name, a typo'd surname, a phone's last four digits and an email domain, with facets, highlights,
filters and date ranges; two sales reps each see their own customers only (hits, totals and facets);
a reindex runs to done while searches keep answering, and a consistency check then finds nothing missing."""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_common.testing import eventually

FRESH_SECONDS = 10  # from the write to searchable
JOB_SECONDS = 30  # a reindex or consistency check of the suite's few records
# What every record of the module carries, by type: 3 contacts, 2 companies, 3 deals, 1 order, 1 ticket.
TYPE_COUNTS = {"contact": 3, "company": 2, "deal": 3, "order": 1, "ticket": 1}
REP_A_COUNTS = {"contact": 2, "company": 1, "deal": 2, "order": 1, "ticket": 1}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def world(api):
    """Two reps with look-alike customers: the same Chinese name, email domain and phone ending, so
    that every query that finds rep A's customer would find rep B's too if reach leaked."""
    tag = "sx" + uuid.uuid4().hex[:8]
    started = datetime.now(UTC) - timedelta(seconds=2)
    rep_a = api.new_user(f"search-a-{tag}@e2e.test", ["sales_rep"])
    rep_b = api.new_user(f"search-b-{tag}@e2e.test", ["sales_rep"])
    a, b = rep_a.user["id"], rep_b.user["id"]
    domain = f"lotus{tag}.example.cn"
    last4 = f"{random.randint(0, 9999):04d}"
    company_a = api.create("/companies", {"name": f"Lotus Trading {tag}", "owner_id": a, "tags": [tag]})
    company_b = api.create("/companies", {"name": f"Lotus Holdings {tag}", "owner_id": b, "tags": [tag]})
    customer = {"first_name": "静怡", "last_name": "欧阳", "tags": [tag]}
    jingyi_a = api.create(
        "/contacts",
        {
            **customer,
            "email": f"jingyi@{domain}",
            "phone": f"+86 139 1{last4[:3]} {last4}",
            "company_id": company_a["id"],
            "owner_id": a,
        },
    )
    jingyi_b = _look_alike(api, customer, domain, last4, company_b["id"], b)
    thistlewood = api.create(
        "/contacts", {"first_name": "Margaret", "last_name": "Thistlewood", "owner_id": a, "tags": [tag]}
    )
    deal = {"currency": "CNY", "contact_id": jingyi_a["id"], "owner_id": a}
    big_deal = api.create("/deals", {**deal, "title": f"Lotus ERP rollout {tag}", "amount": "250000.00"})
    small_deal = api.create("/deals", {**deal, "title": f"Lotus support plan {tag}", "amount": "800.00"})
    deal_b = api.create(
        "/deals",
        {
            "title": f"Lotus ERP upgrade {tag}",
            "amount": "90000.00",
            "currency": "CNY",
            "contact_id": jingyi_b["id"],
            "owner_id": b,
        },
    )
    order = api.create(
        "/orders",
        {
            "contact_id": jingyi_a["id"],
            "amount": "1200.00",
            "currency": "CNY",
            "owner_id": a,
            "reference": f"PO-{tag}",
            "notes": f"Oolong tea samples {tag}",
        },
    )
    ticket = api.create(
        "/tickets", {"subject": f"Invoice missing {tag}", "contact_id": jingyi_a["id"], "priority": "high"}
    )
    ids = {
        "company_a": company_a["id"],
        "company_b": company_b["id"],
        "jingyi_a": jingyi_a["id"],
        "jingyi_b": jingyi_b["id"],
        "thistlewood": thistlewood["id"],
        "big_deal": big_deal["id"],
        "small_deal": small_deal["id"],
        "deal_b": deal_b["id"],
        "order": order["id"],
        "ticket": ticket["id"],
    }
    rep_b_ids = {ids["company_b"], ids["jingyi_b"], ids["deal_b"]}
    world = {
        "tag": tag,
        "started": started,
        "domain": domain,
        "last4": last4,
        "rep_a": rep_a,
        "rep_b": rep_b,
        "a": a,
        "b": b,
        "ids": ids,
        "rep_b_ids": rep_b_ids,
        "rep_a_ids": set(ids.values()) - rep_b_ids,
    }
    # Everything indexed, the ticket under its customer's owner (which follows from the contact's event).
    eventually(lambda: _search(api, tag, facets="type,owner_id")["facets"]["type"] == TYPE_COUNTS, FRESH_SECONDS)
    eventually(lambda: _search(rep_a, tag)["total"] == sum(REP_A_COUNTS.values()), FRESH_SECONDS)
    return world


def _look_alike(api, customer: dict, domain: str, last4: str, company_id: str, owner: str) -> dict:
    """Rep B's look-alike of rep A's customer: a likely duplicate, so created on purpose."""
    body = {
        **customer,
        "email": f"ouyang.jy@{domain}",
        "phone": f"+86 158 2{last4[1:]} {last4}",
        "company_id": company_id,
        "owner_id": owner,
    }
    response = api.post("/contacts?allow_duplicate=true", body)
    assert response.status_code == 201, response.text
    return response.json()


def _search(client, q: str = "", **params) -> dict:
    response = client.get("/search", params={"q": q, "limit": 200, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    # Nothing is counted that is not shown (every query here fits one page).
    assert body["total"] == len(body["data"]) and body["total_relation"] == "eq", body
    assert sum(body["facets"].get("type", {}).values()) == body["total"], body
    return body


def _ids(body: dict) -> set[str]:
    return {hit["id"] for hit in body["data"]}


def _hit(body: dict, record_id: str) -> dict:
    return next(hit for hit in body["data"] if hit["id"] == record_id)


def test_a_chinese_name_is_found_by_two_characters(world):
    body = _search(world["rep_a"], "静怡")
    assert world["ids"]["jingyi_a"] in _ids(body)
    assert any("<mark>" in text for text in _hit(body, world["ids"]["jingyi_a"])["highlights"])


def test_a_typo_in_a_western_surname_still_finds_the_customer(world):
    for typo in ("Thistlewod", "Thsitlewood"):
        body = _search(world["rep_a"], typo)
        assert world["ids"]["thistlewood"] in _ids(body), typo
        highlights = " ".join(_hit(body, world["ids"]["thistlewood"])["highlights"])
        assert "<mark>Thistlewood</mark>" in highlights, highlights


def test_the_last_four_digits_of_a_phone_and_an_email_domain_find_the_customer(world):
    for q in (world["last4"], world["domain"]):
        body = _search(world["rep_a"], q, types="contact")
        assert world["ids"]["jingyi_a"] in _ids(body), q
        assert any("<mark>" in text for text in _hit(body, world["ids"]["jingyi_a"])["highlights"]), q


def test_facets_count_types_and_owners(world, api):
    body = _search(api, world["tag"], facets="type,owner_id")
    assert body["facets"]["type"] == TYPE_COUNTS
    owners = body["facets"]["owner_id"]
    assert owners[world["a"]] == sum(REP_A_COUNTS.values()) and owners[world["b"]] == 3
    assert set(body["facets"]) == {"type", "owner_id"}
    assert all(hit["score"] > 0 and "<mark>" in " ".join(hit["highlights"]) for hit in body["data"])


@pytest.mark.parametrize("query", ["tag", "静怡", "last4", "domain", "Lotus"])
def test_a_rep_never_sees_another_reps_customer_in_hits_totals_or_facets(world, api, query):
    q = world.get(query, query)
    facets = "type,owner_id,stage_id,status,value_grade,priority"
    mine, theirs = world["rep_a_ids"], world["rep_b_ids"]
    for client, own, other, other_owner in (
        (world["rep_a"], mine, theirs, world["b"]),
        (world["rep_b"], theirs, mine, world["a"]),
    ):
        body = _search(client, q, facets=facets)
        assert not _ids(body) & other, query
        assert other_owner not in body["facets"]["owner_id"], query
        if query == "tag":  # the module's own records only: exact counts
            assert _ids(body) == own and body["total"] == len(own)
    everyone = _ids(_search(api, q, facets=facets))
    assert world["ids"]["jingyi_a"] in everyone and world["ids"]["jingyi_b"] in everyone


def test_a_filter_and_ranges_narrow_the_results(world, api):
    tag, ids = world["tag"], world["ids"]
    by_owner = _search(api, tag, filter=f'{{"owner_id": "{world["b"]}"}}')
    assert _ids(by_owner) == world["rep_b_ids"]
    big = _search(api, tag, types="deal", range='{"amount": [100000, null]}')
    assert _ids(big) == {ids["big_deal"]}
    browse = _search(api, "", filter=f'{{"owner_id": "{world["a"]}", "type": "deal"}}')  # no text: browsing
    assert _ids(browse) == {ids["big_deal"], ids["small_deal"]}
    assert _ids(_search(api, tag, created_from=_iso(world["started"]))) == set(ids.values())
    assert _search(api, tag, created_to=_iso(world["started"]))["total"] == 0
    assert _search(api, tag, updated_from=_iso(datetime.now(UTC) + timedelta(days=1)))["total"] == 0


@pytest.mark.parametrize("name", ["filter", "range"])
def test_malformed_json_in_filter_or_range_is_a_problem_naming_it(api, name):
    response = api.get("/search", params={"q": "x", name: '{"owner_id": '})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert name in response.json()["detail"]


def test_an_order_and_a_ticket_are_found(world):
    ids, tag = world["ids"], world["tag"]
    orders = _search(world["rep_a"], f"oolong {tag}", types="order")
    assert _ids(orders) == {ids["order"]} and orders["data"][0]["type"] == "order"
    tickets = _search(world["rep_a"], f"invoice {tag}", facets="type,priority")
    assert _ids(tickets) == {ids["ticket"]} and tickets["facets"]["priority"] == {"high": 1}
    assert _search(world["rep_b"], f"invoice {tag}")["total"] == 0


def _start(api, path: str, body: dict) -> dict:
    """Start a job, waiting out one that another test started (one job runs at a time: 409)."""
    deadline = time.monotonic() + JOB_SECONDS
    while True:
        response = api.post(path, body)
        if response.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"{path}/{response.json()['id']}")
    return response.json()


def _finished(api, path: str, job_id: str, while_waiting=lambda: None) -> dict:
    deadline = time.monotonic() + JOB_SECONDS
    while True:
        response = api.get(f"{path}/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < deadline, f"{path} {job_id} still running after {JOB_SECONDS} s: {job}"
        while_waiting()
        time.sleep(0.2)


def test_a_reindex_runs_to_done_while_searches_keep_answering(world, api):
    rep_a = world["rep_a"]
    assert rep_a.post("/search/reindex", {}).status_code == 403
    assert rep_a.post("/search/consistency-check", {"fix": True}).status_code == 403
    job = _start(api, "/search/reindex", {})
    assert job["kind"] == "reindex" and job["status"] in ("running", "done")
    assert rep_a.get(f"/search/reindex/{job['id']}").status_code == 403
    answers = []

    def search_meanwhile():
        answers.append(_search(rep_a, world["tag"])["total"])

    done = _finished(api, "/search/reindex", job["id"], search_meanwhile)
    assert done["status"] == "done", done
    assert set(done["types"]) == {"contact", "company", "interaction", "deal", "order", "ticket"}
    assert all(done["counts"][kind]["read"] >= count for kind, count in TYPE_COUNTS.items()), done["counts"]
    assert done["finished_at"] and done["error"] is None
    # Searches answered throughout, with the rep's own records every time.
    assert all(total == sum(REP_A_COUNTS.values()) for total in answers), answers
    assert _ids(_search(rep_a, world["tag"])) == world["rep_a_ids"]
    listed = api.get("/search/reindex", params={"kind": "reindex"})
    assert listed.status_code == 200 and job["id"] in {j["id"] for j in listed.json()["data"]}
    assert api.get(f"/search/consistency-check/{job['id']}").status_code == 404  # a reindex, not a check


def test_a_consistency_check_after_the_reindex_finds_nothing_missing(world, api):
    job = _start(api, "/search/consistency-check", {"types": ["contact", "deal", "order", "ticket"], "fix": False})
    assert job["kind"] == "consistency"
    done = _finished(api, "/search/consistency-check", job["id"])
    assert done["status"] == "done", done
    for kind in ("contact", "deal", "order", "ticket"):
        assert done["report"][kind]["missing"]["count"] == 0, done["report"][kind]
    assert api.get(f"/search/reindex/{job['id']}").status_code == 404  # a check, not a reindex
