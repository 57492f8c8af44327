"""How each entity becomes a search document: its title, searchable text and filter fields."""

import re

from crm_common.search_index import SearchDoc


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def contact_doc(contact: dict) -> SearchDoc:
    # Both name orders are searchable; the title is the contacts service's display name.
    names = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")]))
    body = " ".join(
        filter(
            None,
            [
                names,
                contact.get("email"),
                contact.get("phone"),
                _digits(contact.get("phone")),
                " ".join(contact.get("tags") or []),
            ],
        )
    )
    return SearchDoc(
        "contact",
        contact["id"],
        contact["display_name"],
        contact["version"],
        body,
        {
            "owner_id": contact.get("owner_id"),
            "lifecycle_stage": contact.get("lifecycle_stage"),
            "company_id": contact.get("company_id"),
            "value_grade": contact.get("value_grade"),
        },
        contact["updated_at"],
    )


def company_doc(company: dict) -> SearchDoc:
    body = " ".join(filter(None, [company.get("tax_id"), company.get("industry")]))
    return SearchDoc(
        "company",
        company["id"],
        company["name"],
        company["version"],
        body,
        {"owner_id": company.get("owner_id"), "industry": company.get("industry")},
        company["updated_at"],
    )


def deal_doc(deal: dict) -> SearchDoc:
    return SearchDoc(
        "deal",
        deal["id"],
        deal["title"],
        deal["version"],
        f"{deal['amount']} {deal['currency']}",
        {
            "owner_id": deal.get("owner_id"),
            "stage_id": deal.get("stage_id"),
            "status": deal.get("status"),
            "contact_id": deal.get("contact_id"),
        },
        deal["updated_at"],
    )


def ticket_doc(ticket: dict) -> SearchDoc:
    return SearchDoc(
        "ticket",
        ticket["id"],
        ticket["subject"],
        ticket["version"],
        ticket.get("description") or "",
        {
            "assignee_id": ticket.get("assignee_id"),
            "priority": ticket.get("priority"),
            "status": ticket.get("status"),
            "contact_id": ticket.get("contact_id"),
        },
        ticket["updated_at"],
    )
