"""The notifications nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from nameko.rpc import rpc

from crm_common.listing import parse_limit
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store

from . import domain
from .store import CONTACT_OWNERS, NOTIFICATIONS, SPECS


class NotificationsService(ServiceBase):
    name = "notifications"
    store = Store(SPECS)

    @rpc
    def list_notifications(self, query: dict) -> dict:
        """The caller's own inbox, newest first."""
        flt: dict = {"recipient_id": self.caller.user_id}
        if query.get("unread") in ("true", "1", True):
            flt["read"] = False
        page = self.store[NOTIFICATIONS].find(
            flt, [("created_at", -1)], parse_limit(query.get("limit")), query.get("cursor") or None
        )
        return {"data": page.items, "next_cursor": page.next_cursor}

    def _owner(self, tx, contact_id: str) -> dict:
        known = tx[CONTACT_OWNERS].get(contact_id)
        if known is None:
            raise domain.OwnerUnknown(f"owner of contact {contact_id} not known yet")
        return known  # a deleted contact has no owner: nobody is notified

    def _remember_owner(self, tx, contact: dict, deleted: bool = False) -> None:
        """Keep the newest known owner per contact; an older event never rolls it back."""
        known = tx[CONTACT_OWNERS].get(contact["id"])
        if known is not None and known["source_version"] >= contact["version"]:
            return
        tx[CONTACT_OWNERS].put(
            {
                "id": contact["id"],
                "owner_id": None if deleted else contact.get("owner_id"),
                "name": contact.get("display_name") or contact["id"],
                "deleted": deleted,
                "source_version": contact["version"],
            }
        )

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        contact = event.payload
        self._remember_owner(tx, contact)
        if contact.get("owner_id") and contact["owner_id"] != event.actor:
            tx[NOTIFICATIONS].put(
                domain.in_app(
                    contact["owner_id"],
                    event.event_id,
                    "New customer assigned to you",
                    f"{contact['display_name']} is now yours",
                    "contact",
                    contact["id"],
                    event.occurred_at,
                )
            )

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        self._remember_owner(tx, event.payload)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        self._remember_owner(tx, event.payload, deleted=True)

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        deal = event.payload
        owner = self._owner(tx, deal["contact_id"])
        if owner["owner_id"] and owner["owner_id"] != event.actor:
            tx[NOTIFICATIONS].put(
                domain.in_app(
                    owner["owner_id"],
                    event.event_id,
                    "New deal for your customer",
                    f"{deal['title']} for {owner['name']}",
                    "deal",
                    deal["id"],
                    event.occurred_at,
                )
            )

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        # Unlike a deal, a ticket usually comes from the customer: the owner hears of it even
        # when they logged it themselves, so the inbox lists every open service issue.
        ticket = event.payload
        owner = self._owner(tx, ticket["contact_id"])
        if owner["owner_id"]:
            tx[NOTIFICATIONS].put(
                domain.in_app(
                    owner["owner_id"],
                    event.event_id,
                    "New ticket from your customer",
                    f"{ticket['subject']} ({ticket['priority']}) from {owner['name']}",
                    "ticket",
                    ticket["id"],
                    event.occurred_at,
                )
            )
