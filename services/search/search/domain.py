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
        customer_access(contact),
    )


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
    return SearchDoc(
        "company",
        company["id"],
        company["name"],
        company["version"],
        body,
        {"owner_id": company.get("owner_id"), "industry": company.get("industry")},
        company["updated_at"],
        customer_access(company),
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
        deal_access(deal),
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
            "team_id": ticket.get("team_id"),
            "priority": ticket.get("priority"),
            "status": ticket.get("status"),
            "contact_id": ticket.get("contact_id"),
        },
        ticket["updated_at"],
        ticket_access(ticket),
    )


def interaction_doc(interaction: dict) -> SearchDoc:
    """Found by its subject, summary, outcome and participants; seen by who sees its customer."""
    kind = interaction["kind"]
    title = interaction.get("subject") or f"{kind.capitalize()} {interaction['occurred_at'][:10]}"
    participants = [
        value for person in interaction.get("participants") or () for value in (person.get("name"), person.get("email"))
    ]
    body = " ".join(filter(None, [kind, interaction.get("summary"), interaction.get("outcome"), *participants]))
    return SearchDoc(
        "interaction",
        interaction["id"],
        title,
        interaction["version"],
        body,
        {
            "owner_id": interaction.get("owner_id"),
            "contact_id": interaction.get("contact_id"),
            "company_id": interaction.get("company_id"),
            "kind": kind,
        },
        interaction["updated_at"],
        customer_access(interaction),
    )


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
