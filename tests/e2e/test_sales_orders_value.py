"""Orders and customer value through the gateway on RabbitMQ: an order history posted as a batch grades the
contact (contacts consumes customer_graded) and flags the drop in its monthly orders (churn report, the
contact's churn_risk), single orders reach the timeline, a won deal makes an order, and reps see only
their own customers in the value reports."""

import uuid
from datetime import UTC, datetime

import pytest

from crm_common.testing import eventually


def _months_ago(count: int) -> str:
    """The 10th of the month `count` months before this one, as a time."""
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}-10T09:00:00Z"


@pytest.fixture(scope="module")
def reps(api):
    tag = uuid.uuid4().hex[:8]
    return (
        api.new_user(f"orders-rep-{tag}@e2e.test", ["sales_rep"]),
        api.new_user(f"orders-other-{tag}@e2e.test", ["sales_rep"]),
    )


def _contact(client, name: str) -> dict:
    return client.create("/contacts", {"first_name": name, "last_name": uuid.uuid4().hex[:6]})


def test_an_order_history_grades_the_contact_and_its_drop_is_a_churn_risk(api, reps):
    rep, _ = reps
    customer = _contact(rep, "Dropping")
    # Two orders a month for the twelve months before the last three full months, none since: a 100% drop.
    history = [
        {"contact_id": customer["id"], "ordered_at": _months_ago(months), "amount": "5000.00", "currency": "CNY"}
        for months in range(4, 16)
        for _ in range(2)
    ]
    bad = rep.post("/orders/batch", {"orders": [*history, {"contact_id": customer["id"], "currency": "CNY"}]})
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["errors"]] == [f"orders[{len(history)}].amount"]
    dry = rep.post("/orders/batch", {"orders": history, "dry_run": True})
    assert (dry.status_code, dry.json()["count"]) == (200, 24)
    dry = rep.post("/orders/batch?dry_run=true", {"orders": history})  # the query says it for a JSON body too
    assert (dry.status_code, dry.json()["ids"]) == (200, [])
    assert rep.get("/orders", params={"contact_id": customer["id"]}).json()["data"] == []

    done = rep.post("/orders/batch", {"orders": history})
    assert done.status_code == 201, done.text
    assert len(done.json()["ids"]) == 24

    # R 3 (last order 3-4 months ago), F 5 (24 orders), M 3 (120 000 CNY): 11, a B.
    graded = eventually(lambda: (c := rep.get(f"/contacts/{customer['id']}").json())["value_grade"] and c)
    assert (graded["value_grade"], graded["churn_risk"]) == ("B", "high")

    risks = rep.get("/reports/churn-risk").json()
    row = next(r for r in risks["data"] if r["subject_id"] == customer["id"])
    assert row["churn_risk"] == "high"
    assert row["churn_reason"].startswith("orders per month down 100%")
    assert [m["count"] for m in row["churn_evidence"]["months"]] == [2] * 12 + [0] * 3
    assert rep.get("/reports/churn-risk", params={"churn_risk": "medium"}).json()["data"] == []


def test_an_order_reaches_the_timeline_and_a_csv_batch_is_all_or_nothing(reps):
    rep, _ = reps
    customer = _contact(rep, "Timeline")
    order = rep.create(
        "/orders",
        {
            "contact_id": customer["id"],
            "currency": "CNY",
            "payment_method": "wechat_pay",
            "line_items": [{"product": "Green tea", "quantity": "4", "unit_price": "25.50"}],
        },
    )
    assert (order["amount"], order["status"], order["owner_id"]) == ("102.00", "confirmed", rep.user["id"])
    paid = rep.patch(f"/orders/{order['id']}", {"status": "paid"}, headers={"If-Match": f'"{order["version"]}"'})
    assert paid.status_code == 200, paid.text
    assert rep.request("DELETE", f"/orders/{order['id']}").status_code == 405

    def entries():
        data = rep.get(f"/contacts/{customer['id']}/timeline").json()["data"]
        summaries = [e["summary"] for e in data if e["kind"] == "order"]
        return summaries if len(summaries) == 2 else None

    assert sorted(eventually(entries)) == ["Order 102.00 CNY is now paid", "Order placed: 102.00 CNY (confirmed)"]

    header = "contact_id,ordered_at,amount,currency,payment_method\n"
    good_row = f"{customer['id']},{_months_ago(1)},80.00,CNY,cash\n"
    refused = rep.request(
        "POST", "/orders/batch", data=header + good_row + f"{customer['id']},,80.00,XYZ,\n", headers=CSV
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["orders[1].currency"]
    imported = rep.request("POST", "/orders/batch", data=header + good_row, headers=CSV)
    assert imported.status_code == 201, imported.text
    assert rep.get(f"/orders/{imported.json()['ids'][0]}").json()["payment_method"] == "cash"


CSV = {"Content-Type": "text/csv; charset=utf-8"}


def test_a_won_deal_makes_an_order_and_reopening_cancels_it(reps):
    rep, _ = reps
    customer = _contact(rep, "Deal")
    deal = rep.create("/deals", {"title": "Tea", "amount": "900.00", "currency": "CNY", "contact_id": customer["id"]})
    assert rep.patch(f"/deals/{deal['id']}", {"status": "won"}).status_code == 200
    order = rep.get(f"/orders/deal-{deal['id']}").json()
    assert (order["deal_id"], order["amount"], order["status"]) == (deal["id"], "900.00", "confirmed")
    assert rep.patch(f"/deals/{deal['id']}", {"status": "open"}).status_code == 200
    assert rep.get(f"/orders/deal-{deal['id']}").json()["status"] == "cancelled"


def test_reps_see_only_their_own_customers_and_sales_in_the_value_report(api, reps):
    rep, other = reps
    mine, theirs = _contact(rep, "Mine"), _contact(other, "Theirs")
    rep.create("/orders", {"contact_id": mine["id"], "amount": "300.00", "currency": "CNY"})
    other.create("/orders", {"contact_id": theirs["id"], "amount": "700.00", "currency": "USD"})
    assert other.post("/orders", {"contact_id": mine["id"], "amount": "1.00", "currency": "CNY"}).status_code == 422

    def customers(client) -> set[str]:
        report = client.get("/reports/customer-value", params={"pareto_rows": 200}).json()
        return {r["id"] for r in report["pareto"]["customers"]["rows"]}

    assert mine["id"] in eventually(lambda: customers(rep) if mine["id"] in customers(rep) else None)
    assert theirs["id"] not in customers(rep)
    assert customers(other) == {theirs["id"]}
    report = other.get("/reports/customer-value").json()
    assert (report["currency"], report["pareto"]["reps"]["rows"][0]["amount"]) == ("CNY", "4970.00")  # 700 x 7.10
    assert [r["id"] for r in report["pareto"]["reps"]["rows"]] == [other.user["id"]]
    assert {
        r["id"]
        for r in api.get("/reports/customer-value", params={"pareto_rows": 200}).json()["pareto"]["reps"]["rows"]
    } >= {
        rep.user["id"],
        other.user["id"],
    }


def test_settings_are_read_by_reps_and_changed_by_admins_who_also_run_the_grading(api, reps):
    rep, _ = reps
    settings = rep.get("/sales-settings")
    assert settings.status_code == 200
    assert settings.json()["value_grading"]["grade_min_scores"] == {"A": 13, "B": 10, "C": 7}
    assert rep.patch("/sales-settings", {"churn": {"recent_months": 2}}).status_code == 403
    refused = api.patch("/sales-settings", {"churn": {"high_drop": "0.1"}})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["churn.high_drop"]
    assert rep.post("/grading-runs").status_code == 403
    run = api.post("/grading-runs")
    assert run.status_code == 200, run.text
    assert run.json()["evaluated"] >= 1
