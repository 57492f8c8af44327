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
    fields = domain.contact_doc(CONTACT).fields
    assert fields == {"owner_id": "usr-1", "lifecycle_stage": "customer", "company_id": "co1", "value_grade": "A"}


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
