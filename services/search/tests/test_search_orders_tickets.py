"""Orders are indexed from their events; a ticket merge takes the duplicates out of search (no broker)."""

from crm_common.caller import Caller

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
OTHER_REP = Caller("u2", ("sales_rep",), ("t-sales",))
NOW = "2026-11-23T09:00:00.000000Z"


def order(version: int = 1, **changes) -> dict:
    return {
        "id": "o1",
        "version": version,
        "reference": "PO-7781",
        "amount": "250.00",
        "currency": "CNY",
        "status": "pending",
        "owner_id": "u1",
        "shared_with": [],
        "ordered_at": NOW,
        "contact_id": "c1",
        "company_id": None,
        "deal_id": None,
        "line_items": [{"product": "Teapot", "sku": "TP-1", "quantity": "1", "unit_price": "250"}],
        "notes": None,
        "created_at": NOW,
        "updated_at": NOW,
        **changes,
    }


def ticket(ticket_id: str, version: int = 1, **changes) -> dict:
    return {
        "id": ticket_id,
        "version": version,
        "subject": f"Printer jam {ticket_id}",
        "description": "the printer jams",
        "status": "open",
        "priority": "normal",
        "kind": "incident",
        "team_id": "t-help",
        "assignee_id": None,
        "contact_owner_id": "u1",
        "merged_into": None,
        "created_at": NOW,
        "updated_at": NOW,
        **changes,
    }


def hits(search, caller: Caller, text: str, **query) -> list[str]:
    return [h["id"] for h in search(caller).search({"q": text, **query})["data"]]


def test_an_order_is_found_by_its_reference_and_products_by_its_owner_only(search, deliver) -> None:
    deliver("sales", "order_created", order())
    assert hits(search, REP, "PO-7781") == ["o1"] and hits(search, REP, "teapot", types="order") == ["o1"]
    assert hits(search, OTHER_REP, "teapot") == []
    deliver("sales", "order_updated", order(2, status="paid", changes=["status"]))
    (hit,) = search(ADMIN).search({"q": "teapot", "facets": "status"})["data"]
    assert hit["fields"]["status"] == "paid"
    deliver("sales", "order_updated", order(1, status="cancelled"))  # late and older: ignored
    assert search(ADMIN).search({"q": "teapot", "facets": "status"})["facets"] == {"status": {"paid": 1}}


def test_a_ticket_merge_removes_the_duplicates_whichever_event_comes_first(search, deliver) -> None:
    for ticket_id in ("survivor", "dup-1", "dup-2"):
        deliver("service_desk", "ticket_created", ticket(ticket_id))
    # dup-1's own update (closed, merged_into) arrives before the merge; dup-2's after it.
    deliver("service_desk", "ticket_updated", ticket("dup-1", 2, status="closed", merged_into="survivor"))
    deliver("service_desk", "ticket_merged", {**ticket("survivor"), "merged_ids": ["dup-1", "dup-2"]})
    assert hits(search, ADMIN, "printer") == ["survivor"]
    deliver("service_desk", "ticket_updated", ticket("dup-2", 2, status="closed", merged_into="survivor"))
    assert hits(search, ADMIN, "printer") == ["survivor"]
    # A late, older update of a duplicate cannot bring it back.
    deliver("service_desk", "ticket_updated", ticket("dup-1", 1))
    assert hits(search, ADMIN, "printer") == ["survivor"]
