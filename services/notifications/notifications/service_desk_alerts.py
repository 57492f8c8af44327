"""What the service desk tells people: new tickets to the customer's owner, tickets assigned to an
agent, customer replies, mentions in staff comments, SLA warnings and escalations (each a notice of
its kind, told as the kind's rule says; see notices.py), and the emails a customer gets about their
ticket: acknowledgement, staff replies, the satisfaction survey (queued in `deliveries` for the
email channel, announced with `message_queued`). A mixin of NotificationsService.

A breach itself (`ticket_sla_breached`) makes no notice here: the policy's ladder decides who hears
of it (its steps at or after the due time arrive as `ticket_escalated`; the built-in default tells
the assignee and the team's managers), so nobody is told twice; the breach goes on the customer's
timeline through contacts."""

from crm_common.runtime.events import handle_event

from . import delivery_rules, domain, template_rules
from .mentions import plain

# The ticket fields `message_queued` carries, for the contacts timeline's access rules.
TICKET_SNAPSHOT = ("id", "version", "contact_id", "company_id", "team_id", "assignee_id", "contact_owner_id")


def _metric(name: str | None) -> str:
    return (name or "resolution").replace("_", " ")


def _done(actions: list | None) -> str:
    """The escalation's actions besides telling people, as the inbox shows them."""
    said = []
    for action in actions or []:
        if not isinstance(action, dict):
            continue
        if action.get("type") == "reassign":
            said.append(f"reassigned to {action.get('to')}")
        elif action.get("type") == "raise_priority":
            said.append(f"priority raised to {action.get('to')}")
    return f"; {', '.join(said)}" if said else ""


class ServiceDeskAlerts:
    """Handlers of the service desk's ticket events."""

    def _ticket_of_erased(self, tx, ticket: dict) -> bool:
        # A ticket's subject and comments may name its customer: once erased, nobody is told.
        return bool(ticket.get("contact_id")) and self._erased(tx, ticket["contact_id"])

    def _tell_about_ticket(
        self, tx, event, kind: str, audiences: dict, title: str, body: str, ticket: dict, suffix: str = ""
    ) -> None:
        """The notice of `kind` about the ticket, with its customer's `contact_id` for an erasure to
        find (the body quotes the ticket's subject); nothing about an erased customer. `suffix`
        keeps it apart from another notice of the same event to the same person."""
        if self._ticket_of_erased(tx, ticket):
            return
        self._notify(tx, event, kind, audiences, title, body, "ticket", ticket, suffix)

    def _tell_assignee(self, tx, event, ticket: dict, title: str, suffix: str = "") -> None:
        assignee = ticket.get("assignee_id")
        if not assignee:
            return
        due = domain.shown_time(ticket.get("resolution_due_at"))
        body = f"{ticket.get('subject')} ({ticket.get('priority')}, resolution due {due})"
        # Who assigns a ticket to themselves needs no notice; the rule's user_ids hear of it all the same.
        audiences = {"assignee": [assignee] if assignee != event.actor else []}
        self._tell_about_ticket(tx, event, "ticket_assigned", audiences, title, body, ticket, suffix)

    def _email_customer(self, tx, event, kind: str, ticket: dict, comment: str = "") -> None:
        """Queue the email of `kind` to the ticket's customer (the survivor of a merged contact);
        nothing for an erased or deleted contact or one without an email address. A contact not
        known here yet fails with OwnerUnknown, and the event is retried."""
        contact_id = ticket.get("contact_id")
        if not contact_id or self._erased(tx, contact_id):
            return
        contact = self._owner(tx, contact_id)
        if contact.get("deleted"):
            return
        to = contact.get("email")
        if not to:
            return
        language = template_rules.resolve_language(contact.get("preferred_language"))
        values = {
            "customer_name": template_rules.customer_name(contact.get("name"), language, contact["id"]),
            "ticket_subject": ticket.get("subject") or "",
            "ticket_id": ticket["id"],
            "reply_body": comment,
            "survey_url": "",  # no survey page: the customer answers the email with a score
        }
        values = {name: value for name, value in values.items() if name in template_rules.CATALOG[kind].variables}
        subject, body = self._render(tx, kind, "email", language, values)
        snapshot = {name: ticket.get(name) for name in TICKET_SNAPSHOT}
        delivery = delivery_rules.new_delivery(
            channel="email",
            to=to,
            dedupe_key=f"{event.event_id}:{kind}:email",  # one per event and kind
            kind=kind,
            created_at=event.occurred_at,
            subject=subject,
            body=body,
            language=language,
            contact_id=contact["id"],
            event_id=event.event_id,
            ref={"type": "ticket", "id": ticket["id"]},
            ticket={**snapshot, "contact_id": contact["id"]},
        )
        self._queue_delivery(tx, delivery)

    # assignment

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        # Unlike a deal, a ticket usually comes from the customer: the owner hears of it even when
        # they logged it themselves, so the inbox lists every open service issue. The assignee gets
        # a notice of its own (the owner may be the assignee too), and the customer an acknowledgement.
        ticket = event.payload
        owner = self._owner(tx, ticket["contact_id"])
        body = f"{ticket['subject']} ({ticket['priority']}) from {owner['name']}"
        audiences = {"customer_owner": [owner["owner_id"]]}
        self._tell_about_ticket(tx, event, "ticket_created", audiences, "New ticket from your customer", body, ticket)
        self._tell_assignee(tx, event, ticket, "Ticket assigned to you", suffix=":assignee")
        self._email_customer(tx, event, "ticket_acknowledgement", ticket)

    @handle_event("service_desk", "ticket_updated")
    def on_ticket_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        ticket = event.payload
        if "assignee_id" in (ticket.get("changes") or []):
            self._tell_assignee(tx, event, ticket, "Ticket assigned to you")

    # replies

    @handle_event("service_desk", "ticket_commented")
    def on_ticket_commented(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        comment = event.payload.get("comment") or {}
        ticket = event.payload.get("ticket") or {}
        if comment.get("author_type") == "customer":
            audiences = {"assignee": [ticket.get("assignee_id")]}
            body = f"{ticket.get('subject')}: {(comment.get('body') or '')[:200]}"
            title = "Customer replied on a ticket"
            self._tell_about_ticket(tx, event, "ticket_customer_reply", audiences, title, body, ticket)
            return
        # A staff comment, public or an internal note, tells the colleagues it mentions.
        if not self._ticket_of_erased(tx, ticket):
            heading = ticket.get("subject") or ticket["id"]
            self._tell_mentioned(tx, event, comment.get("body"), heading, "ticket", ticket, f"comment:{comment['id']}")
        if comment.get("public"):  # the customer reads the mentions as plain names
            self._email_customer(tx, event, "ticket_reply", ticket, plain(comment.get("body")))

    # SLA

    @handle_event("service_desk", "ticket_sla_warning")
    def on_ticket_sla_warning(self, tx, event) -> None:
        ticket = event.payload
        metric, due = _metric(ticket.get("metric")), domain.shown_time(ticket.get("due_at"))
        body = f"{ticket.get('subject')}: the {metric} target is due {due}"
        audiences = {"recipients": ticket.get("recipient_ids") or []}
        self._tell_about_ticket(tx, event, "sla_warning", audiences, "Ticket SLA due soon", body, ticket)

    @handle_event("service_desk", "ticket_escalated")
    def on_ticket_escalated(self, tx, event) -> None:
        ticket = event.payload
        if ticket.get("reason") == "warning":
            return  # a step before the due time: its recipients were told by ticket_sla_warning
        body = f"{ticket.get('subject')} ({ticket.get('priority')}) is past its SLA{_done(ticket.get('actions'))}"
        audiences = {"recipients": ticket.get("recipient_ids") or []}
        self._tell_about_ticket(tx, event, "sla_escalated", audiences, "Ticket escalated", body, ticket)

    # satisfaction

    @handle_event("service_desk", "ticket_satisfaction_requested")
    def on_ticket_satisfaction_requested(self, tx, event) -> None:
        self._email_customer(tx, event, "satisfaction_survey", event.payload)
