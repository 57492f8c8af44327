"""Other services' facts about a customer, projected into its timeline and its access data."""

from crm_common.ids import utc_now
from crm_common.redirects import moved_references
from crm_common.runtime.events import handle_event

from . import domain, schemas
from .customers import SUBJECTS
from .store import DEAL_LINKS, MERGES, REF_ACCESS, SALES_MARKS, SERVICE_LINKS, TIMELINE

# How the timeline names the channel a message went out on (notifications' message_sent).
MESSAGE_CHANNELS = {"email": "Email", "sms": "SMS"}


class ProjectionHandlers:
    """Event handlers of ContactsService (a mixin)."""

    def _newest_access(self, tx, ref_type: str, record: dict, access: list[str]) -> tuple[list[str], int]:
        """The record's newest known access tokens and their version: events of one record reach
        their handlers in any order, and an older one must not roll the tokens back."""
        key = f"{ref_type}:{record['id']}"
        version = record.get("version") or 0
        known = tx[REF_ACCESS].get(key)
        if known is not None and known["source_version"] >= version:
            return known["access"], known["source_version"]
        tx[REF_ACCESS].put({"id": key, "access": access, "source_version": version})
        return access, version

    def _on_survivors(self, tx, record: dict) -> dict:
        """The record with its contact and company as they are now: a fact about a customer merged
        a moment before it arrived belongs to the survivor."""
        return {**record, **moved_references(tx[MERGES], record)}

    def _project(
        self, tx, event, kind: str, ref_type: str, summary: str, access: list[str] | None, record: dict | None = None
    ) -> None:
        """An entry on the record's contact and company (the payload's, unless `record` is given);
        `access` None: seen by whoever sees them."""
        record = self._on_survivors(tx, event.payload if record is None else record)
        version = None
        if access is not None:
            access, version = self._newest_access(tx, ref_type, record, access)
        if record.get("contact_id") and self._is_erased(tx, record["contact_id"]):
            summary = "Personal data erased"  # a late event must not bring the person's words back
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id")):
            if record.get(key):
                tx[TIMELINE].put(
                    domain.timeline_entry(
                        subject_type,
                        record[key],
                        kind,
                        event.source,
                        summary,
                        ref_type,
                        record["id"],
                        event.occurred_at,
                        event.event_id,
                        access,
                        version,
                    )
                )

    def _reproject_access(self, tx, ref_type: str, record: dict, access: list[str]) -> None:
        """A deal or ticket changed hands: its entries follow its newest access tokens."""
        access, version = self._newest_access(tx, ref_type, record, access)
        for entry in list(tx[TIMELINE].iterate({"ref.id": record["id"], "ref.type": ref_type})):
            if (entry.get("ref_version") or 0) < version:
                tx[TIMELINE].put({**entry, "access": access, "ref_version": version})

    def _follow_deal(self, tx, deal: dict) -> None:
        """Keep each customer's count of open deals (reclaim rules and segments read it)."""
        known = tx[DEAL_LINKS].get(deal["id"])
        if known is not None and known["source_version"] >= (deal.get("version") or 0):
            return
        deal = self._on_survivors(tx, deal)
        link = {
            "id": deal["id"],
            "contact_id": deal.get("contact_id"),
            "company_id": deal.get("company_id"),
            "open": deal.get("status", "open") == "open",
            "source_version": deal.get("version") or 0,
        }
        tx[DEAL_LINKS].put(link)
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id")):
            for subject_id in {(known or {}).get(key), link[key]} - {None}:
                self._recount_open_deals(tx, subject_type, subject_id, key)

    def _recount_open_deals(self, tx, subject_type: str, subject_id: str, key: str) -> None:
        current = tx[SUBJECTS[subject_type]].get(subject_id)
        if current is None:
            return
        count = tx[DEAL_LINKS].count({key: subject_id, "open": True})
        if current.get("open_deal_count") != count:
            updated = {**current, "open_deal_count": count, "updated_at": utc_now()}
            self._store_change(tx, subject_type, current, updated, ["open_deal_count"], None)

    def _newer_mark(self, tx, mark_id: str, occurred_at: str) -> bool:
        """Whether a sales fact (a grade, a churn risk) is newer than the last one applied: they
        may arrive out of order, and an older one must not win."""
        known = tx[SALES_MARKS].get(mark_id)
        if known is not None and known["occurred_at"] >= occurred_at:
            return False
        tx[SALES_MARKS].put({"id": mark_id, "occurred_at": occurred_at})
        return True

    def _set_sales_fact(self, tx, event, field: str, allowed: tuple, summary: str) -> None:
        fact = event.payload
        subject_type = fact.get("subject_type")
        value = fact.get(field)
        if subject_type not in SUBJECTS or (value is not None and value not in allowed):
            raise ValueError(f"unusable {event.event_type} payload: {subject_type!r} {value!r}")
        if not self._newer_mark(tx, f"{field}:{fact['id']}", event.occurred_at):
            return
        current = tx[SUBJECTS[subject_type]].get(fact["id"])
        if current is None or current.get(field) == value:
            return
        updated = {**current, field: value, "updated_at": utc_now()}
        stored = self._store_change(tx, subject_type, current, updated, [field], None)
        tx[TIMELINE].put(
            domain.timeline_entry(
                subject_type,
                stored["id"],
                subject_type,
                event.source,
                summary,
                subject_type,
                stored["id"],
                event.occurred_at,
                event.event_id,
            )
        )

    # sales

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        deal = event.payload
        summary = f"Deal {deal['title']} opened ({deal['amount']} {deal['currency']})"
        self._project(tx, event, "deal", "deal", summary, domain.deal_access(deal))
        self._follow_deal(tx, deal)

    @handle_event("sales", "deal_updated")
    def on_deal_updated(self, tx, event) -> None:
        deal = event.payload
        summary = domain.deal_change_summary(deal, deal.get("changes") or [])
        if summary:
            self._project(tx, event, "deal", "deal", summary, domain.deal_access(deal))
        self._reproject_access(tx, "deal", deal, domain.deal_access(deal))
        self._follow_deal(tx, deal)

    @handle_event("sales", "order_created")
    def on_order_created(self, tx, event) -> None:
        order = event.payload
        summary = f"Order placed: {order['amount']} {order['currency']} ({order.get('status') or 'new'})"
        self._project(tx, event, "order", "order", summary, domain.order_access(order))

    @handle_event("sales", "order_updated")
    def on_order_updated(self, tx, event) -> None:
        order = event.payload
        if "status" in (order.get("changes") or []):
            summary = f"Order {order['amount']} {order['currency']} is now {order['status']}"
            self._project(tx, event, "order", "order", summary, domain.order_access(order))
        self._reproject_access(tx, "order", order, domain.order_access(order))

    @handle_event("sales", "customer_graded")
    def on_customer_graded(self, tx, event) -> None:
        grade = event.payload.get("value_grade")
        self._set_sales_fact(tx, event, "value_grade", schemas.VALUE_GRADES, f"Value grade is now {grade or 'none'}")

    @handle_event("sales", "churn_risk_changed")
    def on_churn_risk_changed(self, tx, event) -> None:
        level = event.payload.get("churn_risk")
        reason = event.payload.get("reason")
        summary = f"Churn risk is now {level or 'none'}" + (f": {reason}" if reason else "")
        self._set_sales_fact(tx, event, "churn_risk", schemas.CHURN_LEVELS, summary)

    @handle_event("sales", "lead_scored")
    def on_lead_scored(self, tx, event) -> None:
        """The contact's lead score, and the stage it calls for: only ever forward along the
        qualifying stages, from the stage the contact holds now (a rep may have moved it since)."""
        fact = event.payload
        score, stage = fact.get("score"), fact.get("lifecycle_stage")
        if fact.get("subject_type") != "contact" or isinstance(score, bool) or not isinstance(score, int):
            raise ValueError(f"unusable lead_scored payload: {fact.get('subject_type')!r} {score!r}")
        if stage is not None and stage not in schemas.SCORED_STAGES:
            raise ValueError(f"unusable lead_scored stage {stage!r}")
        if not self._newer_mark(tx, f"lead_score:{fact['id']}", event.occurred_at):
            return
        current = tx[SUBJECTS["contact"]].get(fact["id"])
        if current is None:
            return
        changes = {"lead_score": score}
        order = schemas.SCORED_STAGES
        held = current.get("lifecycle_stage")
        if stage and held in order and order.index(stage) > order.index(held):
            changes["lifecycle_stage"] = stage
        # The score moved the stage, not whoever logged the interaction behind it.
        updated, changed = domain.apply_changes(current, changes, utc_now(), "system")
        if not changed:
            return
        stored = self._store_change(tx, "contact", current, updated, changed, None)
        if "lifecycle_stage" in changed:
            tx[TIMELINE].put(
                domain.timeline_entry(
                    "contact",
                    stored["id"],
                    "contact",
                    event.source,
                    f"Lead score {score}: stage {stage}",
                    "contact",
                    stored["id"],
                    event.occurred_at,
                    event.event_id,
                )
            )

    # service desk

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        ticket = event.payload
        for link in domain.service_links(self._on_survivors(tx, ticket), event.occurred_at):
            tx[SERVICE_LINKS].put(link)
        summary = f"Ticket {ticket['subject']} ({ticket['priority']})"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_updated")
    def on_ticket_updated(self, tx, event) -> None:
        # A ticket handed to another team links its customers to that team too; the old team's
        # link stays (a later issue: links counted per open ticket).
        ticket = event.payload
        for link in domain.service_links(self._on_survivors(tx, ticket), event.occurred_at):
            if tx[SERVICE_LINKS].get(link["id"]) is None:
                tx[SERVICE_LINKS].put(link)
        summary = domain.ticket_change_summary(ticket, ticket.get("changes") or [])
        if summary:
            self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))
        self._reproject_access(tx, "ticket", ticket, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_sla_breached")
    def on_ticket_sla_breached(self, tx, event) -> None:
        ticket = event.payload
        target = (ticket.get("target") or "resolution").replace("_", " ")
        summary = f"Ticket {ticket['subject']} breached its {target} target (due {ticket.get('due_at')})"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_satisfaction_rated")
    def on_ticket_satisfaction_rated(self, tx, event) -> None:
        ticket = event.payload
        comment = f": {ticket['comment'][:200]}" if ticket.get("comment") else ""
        summary = f"Satisfaction {ticket['score']}/5 on ticket {ticket['subject']}{comment}"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_commented")
    def on_ticket_commented(self, tx, event) -> None:
        # Public replies only: internal notes are the team's, not the customer's story.
        comment, ticket = event.payload.get("comment") or {}, event.payload.get("ticket") or {}
        if not comment.get("public") or not ticket.get("id"):
            return
        said = (comment.get("body") or "")[:200]
        if comment.get("author_type") == "customer":
            summary = f"The customer wrote on ticket {ticket.get('subject')}: {said}"
        else:
            summary = f"Reply to the customer on ticket {ticket.get('subject')}: {said}"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket), record=ticket)

    @handle_event("service_desk", "ticket_escalated")
    def on_ticket_escalated(self, tx, event) -> None:
        ticket = event.payload
        when = "before its SLA due time" if ticket.get("reason") == "warning" else "after an SLA breach"
        summary = f"Ticket {ticket['subject']} escalated {when}"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_merged")
    def on_ticket_merged(self, tx, event) -> None:
        # The duplicates' own ticket_updated (closed, merged_into) say the rest.
        survivor = event.payload
        merged = len(survivor.get("merged_ids") or [])
        summary = f"Ticket {survivor['subject']}: {merged} duplicate ticket(s) merged into it"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(survivor))

    # notifications

    @handle_event("notifications", "message_queued")
    def on_message_queued(self, tx, event) -> None:
        """An email to the customer about a ticket, queued: on the timeline with the ticket's access
        (who sees the ticket sees it); another kind of message with the customer's."""
        message = event.payload
        channel = MESSAGE_CHANNELS.get(message.get("channel") or "email", "Message")
        summary = f"{channel} to the customer queued: {message.get('subject') or ''}".rstrip(": ")
        ticket = message.get("ticket")
        if isinstance(ticket, dict) and ticket.get("id"):
            record = {**ticket, "contact_id": message.get("contact_id") or ticket.get("contact_id")}
            self._project(tx, event, "message", "ticket", summary, domain.ticket_access(ticket), record=record)
        else:
            self._project(tx, event, "message", "message", summary, None)

    @handle_event("notifications", "message_sent")
    def on_message_sent(self, tx, event) -> None:
        """A message to the customer went out: about a ticket, with the ticket's access (as
        message_queued); any other with the customer's."""
        message = event.payload
        subject = f": {message['subject']}" if message.get("subject") else ""
        channel = MESSAGE_CHANNELS.get(message.get("channel") or "", "Message")
        summary = f"{channel} sent{subject}"
        ticket = message.get("ticket")
        if isinstance(ticket, dict) and ticket.get("id"):
            record = {**ticket, "contact_id": message.get("contact_id") or ticket.get("contact_id")}
            self._project(tx, event, "message", "ticket", summary, domain.ticket_access(ticket), record=record)
        else:
            self._project(tx, event, "message", "message", summary, None)
