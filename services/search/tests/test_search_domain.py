"""How records become search documents, without any I/O."""

from search import domain

CONTACT = {
    "id": "c1",
    "version": 3,
    "first_name": "伟明",
    "last_name": "张",
    "display_name": "张伟明",
    "email": "zhang@example.cn",
    "phone": "+86 138-1234-5678",
    "tags": ["vip"],
    "owner_id": "usr-1",
    "lifecycle_stage": "customer",
    "company_id": "co1",
    "value_grade": "A",
    "updated_at": "2026-11-23T00:00:00Z",
}


def test_a_contact_is_found_by_its_display_name_both_name_orders_and_bare_phone_digits():
    doc = domain.contact_doc(CONTACT)
    assert doc.title == "张伟明" and doc.version == 3
    assert "伟明 张" in doc.body and "8613812345678" in doc.body and "zhang@example.cn" in doc.body


def test_filter_fields_carry_owner_stage_and_grade_for_permission_aware_search():
    doc = domain.contact_doc({**CONTACT, "value_score": 87, "created_at": "2026-01-02T00:00:00.000000Z"})
    assert doc.fields == {
        "owner_id": "usr-1",
        "lifecycle_stage": "customer",
        "status": None,
        "company_id": "co1",
        "value_grade": "A",
        "value_score": 87.0,
        "created_at": "2026-01-02T00:00:00.000000Z",
        "updated_at": "2026-11-23T00:00:00Z",
    }
    assert (doc.created_at, doc.updated_at) == ("2026-01-02T00:00:00.000000Z", "2026-11-23T00:00:00Z")


def test_deals_and_tickets_are_searchable_by_title():
    deal = domain.deal_doc(
        {
            "id": "d1",
            "version": 1,
            "title": "ERP",
            "amount": "1.00",
            "currency": "CNY",
            "owner_id": "u",
            "stage_id": "s",
            "status": "open",
            "contact_id": "c",
            "updated_at": "t",
        }
    )
    ticket = domain.ticket_doc(
        {
            "id": "t1",
            "version": 2,
            "subject": "Login fails",
            "description": "after update",
            "priority": "high",
            "status": "new",
            "contact_id": "c",
            "updated_at": "t",
        }
    )
    assert (deal.type, deal.title) == ("deal", "ERP") and (ticket.type, ticket.title) == ("ticket", "Login fails")


def test_a_deal_carries_its_stage_amount_and_close_date_and_is_found_by_its_stage_name_and_products():
    doc = domain.deal_doc(
        {
            "id": "d1",
            "version": 4,
            "title": "ERP rollout",
            "amount": "12000.50",
            "currency": "CNY",
            "owner_id": "u1",
            "stage_id": "st-proposal",
            "stage_name": "Proposal",
            "status": "open",
            "pipeline_id": "default",
            "expected_close_date": "2026-12-31",
            "contact_id": "c1",
            "company_id": None,
            "line_items": [{"product": "Licence", "sku": "LIC-9", "quantity": "1", "unit_price": "12000.50"}],
            "created_at": "2026-11-01T00:00:00.000000Z",
            "updated_at": "2026-11-02T00:00:00.000000Z",
        }
    )
    assert "Proposal" in doc.body and "LIC-9" in doc.body
    assert doc.fields["amount"] == 12000.5 and doc.fields["expected_close_date"] == "2026-12-31"
    assert (doc.fields["stage_id"], doc.fields["pipeline_id"], doc.fields["currency"]) == (
        "st-proposal",
        "default",
        "CNY",
    )


def test_an_order_is_titled_by_its_reference_and_seen_like_a_deal():
    order = {
        "id": "o1",
        "version": 2,
        "reference": "PO-2026-17",
        "amount": "300.00",
        "currency": "USD",
        "status": "paid",
        "owner_id": "u1",
        "shared_with": ["u2"],
        "ordered_at": "2026-11-20T10:00:00.000000Z",
        "contact_id": "c1",
        "company_id": "k1",
        "deal_id": None,
        "line_items": [{"product": "Support plan", "sku": None, "quantity": "1", "unit_price": "300"}],
        "notes": "deliver before Christmas",
        "created_at": "2026-11-20T10:00:00.000000Z",
        "updated_at": "2026-11-21T10:00:00.000000Z",
    }
    doc = domain.order_doc(order)
    assert (doc.type, doc.title, doc.version) == ("order", "Order PO-2026-17", 2)
    assert "Support plan" in doc.body and "Christmas" in doc.body
    assert doc.fields["amount"] == 300.0 and doc.fields["ordered_at"] == "2026-11-20T10:00:00.000000Z"
    assert doc.access == ["owner:u1", "user:u2"]
    assert domain.order_doc({**order, "reference": None}).title == "Order o1"


def test_a_ticket_counts_under_its_customers_owner_and_a_merged_duplicate_is_not_searchable():
    ticket = {"id": "t1", "version": 1, "subject": "Printer", "contact_owner_id": "u1", "kind": "incident"}
    doc = domain.ticket_doc({**ticket, "updated_at": "t"})
    assert (doc.fields["owner_id"], doc.fields["kind"]) == ("u1", "incident")
    assert domain.searchable("ticket", ticket)
    assert not domain.searchable("ticket", {**ticket, "merged_into": "t0"})
