"""The notifications nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from datetime import UTC, datetime

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.redirects import MAX_HOPS
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store

from . import delivery_rules, domain, events
from .campaigns import CampaignsRpc
from .dispatch import DeliveriesRpc
from .inbox import InboxRpc
from .mentions import MentionAlerts
from .notices import Notices
from .preferences import PreferencesRpc
from .sales_alerts import SalesAlerts
from .service_desk_alerts import ServiceDeskAlerts
from .store import (
    CONTACT_OWNERS,
    DELIVERIES,
    ERASED_SUBJECTS,
    NOTICE_DIGEST_ENTRIES,
    NOTIFICATIONS,
    OPT_OUTS,
    SPECS,
)
from .templates import TemplatesRpc
from .webhook_feed import WebhookFeed
from .webhooks import WebhooksRpc


class NotificationsService(
    InboxRpc,
    Notices,
    PreferencesRpc,
    SalesAlerts,
    ServiceDeskAlerts,
    MentionAlerts,
    TemplatesRpc,
    WebhooksRpc,  # before DeliveriesRpc: its delivery hooks call the dispatcher's own
    WebhookFeed,
    DeliveriesRpc,
    CampaignsRpc,
    ServiceBase,
):
    name = "notifications"
    store = Store(SPECS)

    def _now(self) -> datetime:
        """The clock: tests replace it to drive timers (retries, campaigns) deterministically."""
        return datetime.now(UTC)

    def _owner(self, tx, contact_id: str) -> dict:
        if self._erased(tx, contact_id):
            return {"id": contact_id, "owner_id": None, "name": "", "deleted": True}  # nobody is told
        known = tx[CONTACT_OWNERS].get(contact_id)
        for _ in range(MAX_HOPS):  # a merged contact's deals and tickets are its survivor's
            if known is None or not known.get("merged_into"):
                break
            known = tx[CONTACT_OWNERS].get(known["merged_into"])
        if known is None:
            raise domain.OwnerUnknown(f"owner of contact {contact_id} not known yet")
        return known  # a deleted contact has no owner: nobody is notified

    def _remember_owner(self, tx, contact: dict, deleted: bool = False) -> None:
        """Keep the newest known owner per contact; an older event never rolls it back, nor brings
        back an erased contact."""
        if self._erased(tx, contact["id"]):
            return
        known = tx[CONTACT_OWNERS].get(contact["id"])
        if known is not None and (known["source_version"] >= contact["version"] or known.get("merged_into")):
            return
        tx[CONTACT_OWNERS].put(
            {
                "id": contact["id"],
                "owner_id": None if deleted else contact.get("owner_id"),
                "name": contact.get("display_name") or contact["id"],
                # where the service desk's emails to the customer go, in which language
                "email": None if deleted else contact.get("email"),
                "preferred_language": contact.get("preferred_language"),
                "deleted": deleted,
                "source_version": contact["version"],
            }
        )

    def _tell_about_contact(
        self, tx, event, kind: str, audiences: dict, title: str, body: str, contact_id: str
    ) -> None:
        """A notice about a customer (its body names them, so `contact_id` lets an erasure find it)."""
        self._notify(tx, event, kind, audiences, title, body, "contact", {"id": contact_id, "contact_id": contact_id})

    def _tell_new_owner(self, tx, event, contact: dict) -> None:
        # Who takes a customer themselves needs no notice.
        owner = contact.get("owner_id")
        body = f"{contact.get('display_name') or contact['id']} is now yours"
        audiences = {"owner": [owner] if owner != event.actor else []}
        title = "New customer assigned to you"
        self._tell_about_contact(tx, event, "customer_assigned", audiences, title, body, contact["id"])

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        contact = event.payload
        if self._erased(tx, contact["id"]):
            return
        self._remember_owner(tx, contact)
        self._tell_new_owner(tx, event, contact)

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        self._remember_owner(tx, event.payload)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        self._remember_owner(tx, event.payload, deleted=True)

    # the customer pool

    @handle_event("contacts", "pool_reclaim_warned")
    def on_pool_reclaim_warned(self, tx, event) -> None:
        # The advance notice: the owner can act (an interaction, a deal) before the customer goes back.
        notice = event.payload
        if self._erased(tx, notice["contact_id"]):
            return
        name = notice.get("display_name") or notice["contact_id"]
        body = f"{name} goes back to the pool on {notice['reclaim_at'][:10]} (UTC): {notice['reason']}"
        audiences = {"owner": [notice["owner_id"]]}
        title = "Customer returns to the pool soon"
        self._tell_about_contact(tx, event, "pool_reclaim_warning", audiences, title, body, notice["contact_id"])

    @handle_event("contacts", "contact_reclaimed")
    def on_contact_reclaimed(self, tx, event) -> None:
        contact = event.payload
        if self._erased(tx, contact["id"]):
            return
        self._remember_owner(tx, contact)
        body = f"{contact.get('display_name') or contact['id']} went back to the pool: {contact.get('reason')}"
        audiences = {"former_owner": [contact.get("from_owner_id")]}
        title = "Customer returned to the pool"
        self._tell_about_contact(tx, event, "pool_reclaimed", audiences, title, body, contact["id"])

    # Claims and releases tell nobody (the actor is the owner, or the owner's manager acted), but
    # every event of a contact needs a consumer, or the outbox holds back its later events.
    @handle_event("contacts", "contact_claimed")
    def on_contact_claimed(self, tx, event) -> None:
        self._remember_owner(tx, event.payload)

    @handle_event("contacts", "contact_released")
    def on_contact_released(self, tx, event) -> None:
        self._remember_owner(tx, event.payload)

    @handle_event("contacts", "contact_assigned")
    def on_contact_assigned(self, tx, event) -> None:
        # One by one; a bulk hand-over is told once per recipient (customers_handed_over).
        contact = event.payload
        if self._erased(tx, contact["id"]):
            return
        self._remember_owner(tx, contact)
        if not contact.get("hand_over_id"):
            self._tell_new_owner(tx, event, contact)

    @handle_event("contacts", "customers_handed_over")
    def on_customers_handed_over(self, tx, event) -> None:
        job = event.payload
        moved_by_owner = {owner_id: moved for owner_id, moved in (job.get("moved_by_owner") or {}).items() if moved}
        kind, ref_type = "customers_handed_over", "hand_over"
        for owner_id, moved in moved_by_owner.items():
            if owner_id not in (event.actor, job.get("requested_by")):
                body = f"{moved} customer(s) of {job['from_owner_id']} are now yours"
                audiences = {"recipient": [owner_id]}
                title = "Customers handed over to you"
                self._notify(tx, event, kind, audiences, title, body, ref_type, job, with_rule_user_ids=False)
        if moved_by_owner:
            # The rule's user_ids: one notice of their own about the whole hand-over.
            shares = ", ".join(f"{moved} to {owner_id}" for owner_id, moved in moved_by_owner.items())
            total = sum(moved_by_owner.values())
            body = f"{total} customer(s) of {job['from_owner_id']} were handed over: {shares}"
            title = "Customers handed over"
            self._notify(tx, event, kind, {}, title, body, ref_type, job, suffix=":summary")

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)
        deal = event.payload
        if self._erased(tx, deal["contact_id"]):
            return  # the deal's title may name the person: nobody is told
        owner = self._owner(tx, deal["contact_id"])
        audiences = {"customer_owner": [owner["owner_id"]] if owner["owner_id"] != event.actor else []}
        body = f"{deal['title']} for {owner['name']}"
        self._notify(tx, event, "deal_created", audiences, "New deal for your customer", body, "deal", deal)

    # personal data

    def _erased(self, source, contact_id: str) -> bool:
        """Whether the contact was erased: late events about it must not bring its name back."""
        return source[ERASED_SUBJECTS].get(contact_id) is not None

    def _about_contact(self, source, contact_id: str) -> list[dict]:
        """The notifications about a contact: its own (ref) and its deals' and tickets' (contact_id)."""
        found = {n["id"]: n for n in source[NOTIFICATIONS].iterate({"contact_id": contact_id})}
        found.update({n["id"]: n for n in source[NOTIFICATIONS].iterate({"ref.id": contact_id, "ref.type": "contact"})})
        return sorted(found.values(), key=lambda n: (n["created_at"], n["id"]))

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """What notifications holds about a contact, for the contacts service's export (admins and
        the platform only: it reads every recipient's inbox)."""
        require_role(self.caller, (ADMIN,), "export personal data")
        return {
            "notifications": self._about_contact(self.store, contact_id),
            "deliveries": list(self.store[DELIVERIES].iterate({"contact_id": contact_id}, [("created_at", 1)])),
            # staff emails and SMS whose text names the customer, and digest entries (waiting, or
            # sent with the `digest_delivery_id` of the digest email that told them)
            "staff_notices": self._staff_notices_about(self.store, contact_id),
            "digest_entries": self._digest_entries_about(self.store, contact_id),
            "opt_outs": list(self.store[OPT_OUTS].iterate({"contact_id": contact_id}, [("id", 1)])),
            "contact_owner": self.store[CONTACT_OWNERS].get(contact_id),
        }

    def _staff_notices_about(self, source, contact_id: str) -> list[dict]:
        return list(source[DELIVERIES].iterate({"about_contact_id": contact_id}, [("created_at", 1)]))

    def _digest_entries_about(self, source, contact_id: str) -> list[dict]:
        entries = source[NOTICE_DIGEST_ENTRIES].iterate({"about_contact_id": contact_id})
        return sorted(entries, key=lambda e: (e["created_at"], e["id"]))

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        contact_id = event.payload["id"]
        scrubbed, messages, forgotten = 0, 0, False
        moment = self._now()
        # The contacts merged into it (`merged_ids`) are the same person: notifications about them
        # are not re-pointed by a merge, so they are scrubbed and remembered as erased here too.
        for erased_id in (contact_id, *(event.payload.get("merged_ids") or [])):
            tx[ERASED_SUBJECTS].put(
                {"id": erased_id, "erasure_id": event.payload["erasure_id"], "erased_at": event.occurred_at}
            )
            for notification in self._about_contact(tx, erased_id):
                if notification["body"] != domain.ERASED_TEXT:
                    self._put_in_app(tx, domain.scrubbed_notification(notification))
                    scrubbed += 1
            # Messages to the person, staff notices naming them, and the digest emails that told
            # an entry about them (a queued one is cancelled: nothing more goes out); a digest
            # entry keeps its place, not its words.
            digests = []
            for entry in self._digest_entries_about(tx, erased_id):
                if entry.get("digest_delivery_id"):
                    digests.append(tx[DELIVERIES].get(entry["digest_delivery_id"]))
                if entry["body"] != domain.ERASED_TEXT:
                    tx[NOTICE_DIGEST_ENTRIES].replace({**entry, "body": domain.ERASED_TEXT}, entry["version"])
                    messages += 1
            messages_and_notices = {
                delivery["id"]: delivery
                for delivery in (
                    *tx[DELIVERIES].iterate({"contact_id": erased_id}),
                    *self._staff_notices_about(tx, erased_id),
                    *digests,
                )
                if delivery is not None
            }
            for delivery in messages_and_notices.values():
                if not delivery_rules.is_scrubbed(delivery):
                    tx[DELIVERIES].replace(delivery_rules.scrubbed(delivery, moment), delivery["version"])
                    messages += 1
            forgotten = bool(tx[CONTACT_OWNERS].delete(erased_id)) or forgotten
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": contact_id,
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {
                    "notifications_scrubbed": scrubbed,
                    "deliveries_scrubbed": messages,
                    "owner_projection_removed": forgotten,
                },
            },
        )

    @handle_event("contacts", "erasure_completed")
    def on_erasure_completed(self, tx, event) -> None:
        """Tell the admin who asked for an erasure that every service has scrubbed (it runs in
        the background: the request only answered that it had started)."""
        erasure = event.payload
        body = f"Erasure of contact {erasure['contact_id']} completed"
        # The record names no person (no `contact_id`): nothing for a later export or erasure to find.
        about = {"id": erasure["id"]}
        audiences = {"requester": [erasure.get("requested_by")]}
        self._notify(tx, event, "erasure_completed", audiences, "Erasure completed", body, "erasure", about)

    # merged customers

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        """A merged contact points at its survivor for good: a deal or ticket event still naming it
        notifies the survivor's owner. (Companies have no owner projection here.)"""
        survivor = event.payload
        self._remember_owner(tx, survivor)
        for old_id in survivor.get("merged_ids") or []:
            if self._erased(tx, old_id):
                continue
            known = tx[CONTACT_OWNERS].get(old_id) or {}
            tx[CONTACT_OWNERS].put(
                {
                    "id": old_id,
                    "owner_id": None,
                    "name": known.get("name") or old_id,
                    "deleted": True,
                    "merged_into": survivor["id"],
                    "source_version": known.get("source_version") or 0,
                }
            )
