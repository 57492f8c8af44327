"""How each entity becomes a search document: its title, searchable text, filter fields and
access tokens (who may find it: the same rules as the owning service's reads)."""

import re

from crm_common.access import record_tokens
from crm_common.search_index import SearchDoc


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def _custom_text(record: dict) -> str:
    """Custom field values are searchable: text and choices as written, numbers and dates too."""
    values = []
    for value in (record.get("custom_fields") or {}).values():
        values.extend(value if isinstance(value, list) else [value])
    return " ".join(str(v) for v in values if v is not None and not isinstance(v, bool))


def _phones(*phones: str | None) -> list[str]:
    """Each phone as written and as bare digits, so any fragment of either finds it."""
    return [form for phone in phones if phone for form in (phone, _digits(phone))]


TYPES = ("contact", "company", "interaction", "deal", "ticket", "order")


def _number(value) -> float | None:
    """Amounts travel as decimal strings ("1200.50"); the index ranges over numbers."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _line_items_text(record: dict) -> str:
    return " ".join(
        filter(
            None, (text for item in record.get("line_items") or () for text in (item.get("product"), item.get("sku")))
        )
    )


def _doc(doc_type: str, record: dict, title: str, body: str, fields: dict, access: list[str]) -> SearchDoc:
    """Every doc carries its record's created_at and updated_at, in `fields` too (they are ranged)."""
    created_at = record.get("created_at") or ""
    updated_at = record.get("updated_at") or created_at
    return SearchDoc(
        doc_type,
        record["id"],
        title,
        record["version"],
        body,
        {**fields, "created_at": created_at or None, "updated_at": updated_at or None},
        updated_at,
        access,
        created_at,
    )


def contact_doc(contact: dict) -> SearchDoc:
    # Both name orders are searchable; the title is the contacts service's display name.
    names = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name"), contact.get("local_name")]))
    body = " ".join(
        filter(
            None,
            [
                names,
                contact.get("email"),
                *(contact.get("other_emails") or []),
                *_phones(contact.get("phone"), *(contact.get("other_phones") or [])),
                contact.get("title"),
                " ".join(contact.get("tags") or []),
                " ".join(contact.get("interests") or []),
                _custom_text(contact),
            ],
        )
    )
    fields = {
        "owner_id": contact.get("owner_id"),
        "lifecycle_stage": contact.get("lifecycle_stage"),
        "status": contact.get("status"),
        "company_id": contact.get("company_id"),
        "value_grade": contact.get("value_grade"),
        "value_score": _number(contact.get("value_score")),
    }
    return _doc("contact", contact, contact["display_name"], body, fields, customer_access(contact))


def company_doc(company: dict) -> SearchDoc:
    body = " ".join(
        filter(
            None,
            [
                company.get("local_name"),
                company.get("tax_id"),
                company.get("account_number"),
                company.get("industry"),
                company.get("email"),
                *_phones(company.get("phone")),
                company.get("website"),
                " ".join(company.get("tags") or []),
                _custom_text(company),
            ],
        )
    )
    fields = {
        "owner_id": company.get("owner_id"),
        "industry": company.get("industry"),
        "value_grade": company.get("value_grade"),
    }
    return _doc("company", company, company["name"], body, fields, customer_access(company))


def deal_doc(deal: dict) -> SearchDoc:
    """deal_updated carries the stage's name: then the deal is found by it too."""
    body = " ".join(
        filter(
            None,
            [
                f"{deal['amount']} {deal['currency']}",
                deal.get("stage_name"),
                _line_items_text(deal),
                deal.get("lost_reason"),
            ],
        )
    )
    fields = {
        "owner_id": deal.get("owner_id"),
        "stage_id": deal.get("stage_id"),
        "status": deal.get("status"),
        "pipeline_id": deal.get("pipeline_id"),
        "amount": _number(deal.get("amount")),
        "currency": deal.get("currency"),
        "expected_close_date": deal.get("expected_close_date"),
        "contact_id": deal.get("contact_id"),
        "company_id": deal.get("company_id"),
    }
    return _doc("deal", deal, deal["title"], body, fields, deal_access(deal))


def order_doc(order: dict) -> SearchDoc:
    """Titled by its reference (the customer's order number) or its id; found by its products,
    SKUs and notes. Seen like a deal: its owner and whom it is shared with."""
    title = f"Order {order.get('reference') or order['id']}"
    body = " ".join(
        filter(
            None,
            [
                f"{order['amount']} {order['currency']}",
                order.get("reference"),
                _line_items_text(order),
                order.get("notes"),
            ],
        )
    )
    fields = {
        "owner_id": order.get("owner_id"),
        "status": order.get("status"),
        "amount": _number(order.get("amount")),
        "currency": order.get("currency"),
        "ordered_at": order.get("ordered_at"),
        "contact_id": order.get("contact_id"),
        "company_id": order.get("company_id"),
        "deal_id": order.get("deal_id"),
    }
    return _doc("order", order, title, body, fields, deal_access(order))


def ticket_doc(ticket: dict) -> SearchDoc:
    """`owner_id` is its customer's owner (the sales side's "mine"); `assignee_id` and `team_id`
    the service desk's."""
    body = " ".join(filter(None, [ticket.get("description"), ticket.get("category")]))
    fields = {
        "owner_id": ticket.get("contact_owner_id"),
        "assignee_id": ticket.get("assignee_id"),
        "team_id": ticket.get("team_id"),
        "priority": ticket.get("priority"),
        "status": ticket.get("status"),
        "kind": ticket.get("kind"),
        "contact_id": ticket.get("contact_id"),
        "company_id": ticket.get("company_id"),
    }
    return _doc("ticket", ticket, ticket["subject"], body, fields, ticket_access(ticket))


def ticket_is_searchable(ticket: dict) -> bool:
    """A duplicate merged into another ticket is closed for good and leaves the index: its
    comments live on the survivor, which is what search should lead to."""
    return not ticket.get("merged_into")


def interaction_doc(interaction: dict) -> SearchDoc:
    """Found by its subject, summary, outcome and participants; seen by who sees its customer."""
    kind = interaction["kind"]
    title = interaction.get("subject") or f"{kind.capitalize()} {interaction['occurred_at'][:10]}"
    participants = [
        value for person in interaction.get("participants") or () for value in (person.get("name"), person.get("email"))
    ]
    body = " ".join(filter(None, [kind, interaction.get("summary"), interaction.get("outcome"), *participants]))
    fields = {
        "owner_id": interaction.get("owner_id"),
        "contact_id": interaction.get("contact_id"),
        "company_id": interaction.get("company_id"),
        "kind": kind,
        "occurred_at": interaction.get("occurred_at"),
    }
    return _doc("interaction", interaction, title, body, fields, customer_access(interaction))


BUILDERS = {
    "contact": contact_doc,
    "company": company_doc,
    "interaction": interaction_doc,
    "deal": deal_doc,
    "ticket": ticket_doc,
    "order": order_doc,
}


def searchable(doc_type: str, record: dict) -> bool:
    """Whether a source record belongs in the index at all (the reindex and the check ask)."""
    return ticket_is_searchable(record) if doc_type == "ticket" else True


def customer_access(record: dict) -> list[str]:
    """Contacts and companies: their owner (or the pool) and whom they are shared with. Support
    agents' reach through their tickets is not indexed: they find those customers through lists."""
    return record_tokens(record.get("owner_id"), record.get("shared_with") or ())


def deal_access(deal: dict) -> list[str]:
    return record_tokens(deal.get("owner_id"), deal.get("shared_with") or (), poolable=False)


def ticket_access(ticket: dict) -> list[str]:
    """Its team, its assignee and its customer's owner; a pool customer's ticket is not the pool's."""
    return record_tokens(
        ticket.get("contact_owner_id"),
        team_ids=[ticket.get("team_id")],
        user_ids=[ticket.get("assignee_id")],
        poolable=False,
    )
