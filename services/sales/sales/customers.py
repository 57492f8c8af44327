"""What sales hears about customers: the `customers` projection from contacts' events, merges
(deals, orders and tasks follow the survivor), personal-data export and erasure (a mixin of SalesService)."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, reach_of, require_role
from crm_common.errors import NotFound
from crm_common.ids import utc_now
from crm_common.redirects import moved_references, surviving_id
from crm_common.runtime.events import handle_event

from . import domain, events
from .store import CUSTOMER_STATS, CUSTOMERS, DEALS, LEAD_SCORES, MERGED_CUSTOMERS, ORDERS, TASKS


def customer_key(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


class CustomerHandlers:
    """Handlers of contacts' events and the personal-data RPC."""

    # the customers projection

    def _customer(self, source, subject_type: str, subject_id: str) -> dict | None:
        """The customer as sales last heard of it (deleted ones included), or None."""
        return source[CUSTOMERS].get(customer_key(subject_type, subject_id))

    def _visible_customer(self, source, subject_type: str, subject_id: str, remember: bool = True) -> dict | None:
        """The one reach check of a customer: the customer if the caller may see it, else None. The
        projection answers when it shows the customer in reach (a document with `source_version`);
        otherwise the contacts service does, as the caller (the projection may not have heard of a new
        customer, or of a hand-over to the caller, yet; a support agent sees a ticket's customer), and
        its record is returned, and, with `remember`, kept in the projection."""
        customer = self._customer(source, subject_type, subject_id)
        if customer is not None:
            if customer.get("deleted"):
                return None
            if reach_of(self.caller).sees_owner(customer.get("owner_id"), customer.get("shared_with") or ()):
                return customer
        try:
            if subject_type == "contact":
                record = self.contacts.get_contact(subject_id)
            else:
                record = self.contacts.get_company(subject_id)
        except NotFound:
            return None
        if remember and record.get("version"):
            # What contacts answered is at least as new as what the projection holds: keep it, so the
            # figures of a customer created a moment ago carry its owner before its event arrives.
            with self.store.transaction() as tx:
                self._project_customer(tx, subject_type, record, deleted=False)
        return record

    def _project_customer(self, tx, subject_type: str, record: dict, deleted: bool) -> dict | None:
        """Keep the newest version contacts announced; the customer's figures follow its owner and name."""
        key = customer_key(subject_type, record["id"])
        before = tx[CUSTOMERS].get(key)
        version = record.get("version") or 0
        if before is not None and before.get("source_version", 0) >= version:
            return None  # an older event arriving late
        if deleted:
            doc = {**(before or {"owner_id": None, "shared_with": [], "display_name": None}), "deleted": True}
        else:
            doc = {
                "owner_id": record.get("owner_id"),
                "shared_with": list(record.get("shared_with") or []),
                "display_name": record.get("display_name") or record.get("name"),
                "deleted": False,
            }
            if subject_type == "contact":
                doc.update(company_id=record.get("company_id"), lifecycle_stage=record.get("lifecycle_stage"))
        doc.update(id=key, subject_type=subject_type, subject_id=record["id"], source_version=version)
        tx[CUSTOMERS].put(doc)
        self._follow_customer(tx, doc)
        return doc

    def _follow_customer(self, tx, customer: dict) -> None:
        """The customer's figures carry its owner, sharing and name for the reports' reach; a new
        owner (or a deleted customer) re-plans its return visits."""
        stats = tx[CUSTOMER_STATS].get(customer["id"])
        if stats is None:
            return
        following = {k: customer.get(k) for k in ("owner_id", "shared_with", "display_name", "deleted")}
        if all(stats.get(k) == v for k, v in following.items()):
            return
        stored = tx[CUSTOMER_STATS].replace({**stats, **following}, stats["version"])
        if stats.get("owner_id") != stored["owner_id"] or stats.get("deleted") != stored["deleted"]:
            self._plan_return_visit(tx, stored)

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        if self._project_customer(tx, "contact", event.payload, deleted=False) is not None:
            self._rescore_contact(tx, event.payload)

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        if self._project_customer(tx, "contact", event.payload, deleted=False) is not None:
            self._rescore_contact(tx, event.payload)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        if self._project_customer(tx, "contact", event.payload, deleted=True) is not None:
            self._rescore_contact(tx, {**event.payload, "deleted": True})

    @handle_event("contacts", "company_created")
    def on_company_created(self, tx, event) -> None:
        self._project_customer(tx, "company", event.payload, deleted=False)

    @handle_event("contacts", "company_updated")
    def on_company_updated(self, tx, event) -> None:
        self._project_customer(tx, "company", event.payload, deleted=False)

    @handle_event("contacts", "company_deleted")
    def on_company_deleted(self, tx, event) -> None:
        self._project_customer(tx, "company", event.payload, deleted=True)

    # personal data

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """What sales holds about a contact, for the contacts service's export (admins and the
        platform only: it ignores record visibility)."""
        require_role(self.caller, (ADMIN,), "export personal data")
        oldest_first = [("created_at", 1)]
        return {
            "deals": list(self.store[DEALS].iterate({"contact_id": contact_id}, oldest_first)),
            "orders": list(self.store[ORDERS].iterate({"contact_id": contact_id}, [("ordered_at", 1)])),
            "tasks": list(self.store[TASKS].iterate({"contact_id": contact_id}, [("due_at", 1)])),
            "lead_score": self.store[LEAD_SCORES].get(contact_id),
            "customer_value": self.store[CUSTOMER_STATS].get(customer_key("contact", contact_id)),
        }

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        # Deals and orders are business records (amounts, stages, lines, owner): they stay, still
        # pointing at the erased contact's id, which resolves to nobody any more. What is free text
        # about the person goes: order notes, task descriptions; so do the lead score's profile
        # snapshot and the name sales copied. Each scrubbed order and task is announced like any
        # other change, so search and webhook subscribers drop the text too.
        contact_id = event.payload["id"]
        scrubbed = 0
        for order in list(tx[ORDERS].iterate({"contact_id": contact_id})):
            if order.get("notes"):
                stored = tx[ORDERS].replace({**order, "notes": None, "updated_at": utc_now()}, order["version"])
                self.emit(tx, events.ORDER_UPDATED, {**stored, "changes": ["notes"]})
                scrubbed += 1
        tasks = list(tx[TASKS].iterate({"contact_id": contact_id}))
        for task in tasks:
            if task.get("description"):
                stored = tx[TASKS].replace({**task, "description": None, "updated_at": utc_now()}, task["version"])
                self.emit(tx, events.TASK_UPDATED, {**stored, "changes": ["description"]})
                scrubbed += 1
        if tx[LEAD_SCORES].delete(contact_id):
            scrubbed += 1
        for collection in (CUSTOMERS, CUSTOMER_STATS):
            held = tx[collection].get(customer_key("contact", contact_id))
            if held is not None and held.get("display_name"):
                tx[collection].replace({**held, "display_name": None}, held["version"])
                scrubbed += 1
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": contact_id,
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {
                    "deals_kept": tx[DEALS].count({"contact_id": contact_id}),
                    "orders_kept": tx[ORDERS].count({"contact_id": contact_id}),
                    "tasks_kept": len(tasks),
                    "scrubbed": scrubbed,
                },
            },
        )

    # merged customers

    def _survivor(self, tx, subject_type: str, subject_id: str) -> str:
        return surviving_id(tx[MERGED_CUSTOMERS], subject_type, subject_id)

    def _surviving_customers(self, tx, record: dict) -> dict:
        return moved_references(tx[MERGED_CUSTOMERS], record)

    def _follow_merge(self, tx, event, subject_type: str) -> None:
        """Deals, orders and tasks of the merged customers now point at the survivor; each change
        is announced (deal_updated, order_updated, task_updated), so the timeline, the open-deal
        counts and search follow. The survivor's figures are recomputed; the merged ones' are dropped
        quietly (no churn or grade news about a customer that is gone)."""
        key = f"{subject_type}_id"
        merged_ids = event.payload.get("merged_ids") or []
        for old_id in merged_ids:
            tx[MERGED_CUSTOMERS].put(
                {"id": f"{subject_type}:{old_id}", "merged_into": event.payload["id"], "merged_at": event.occurred_at}
            )
        survivor = self._survivor(tx, subject_type, event.payload["id"])
        for old_id in merged_ids:
            for deal in list(tx[DEALS].iterate({key: old_id})):
                stored = tx[DEALS].replace({**deal, key: survivor, "updated_at": utc_now()}, deal["version"])
                pipeline = self._pipeline(stored["pipeline_id"])
                stage = domain.stage_name(pipeline, stored["stage_id"]) if pipeline else stored["stage_id"]
                self.emit(tx, events.DEAL_UPDATED, {**stored, "changes": [key], "stage_name": stage})
            for order in list(tx[ORDERS].iterate({key: old_id})):
                stored = tx[ORDERS].replace({**order, key: survivor, "updated_at": utc_now()}, order["version"])
                self.emit(tx, events.ORDER_UPDATED, {**stored, "changes": [key]})
            for task in list(tx[TASKS].iterate({key: old_id})):
                stored = tx[TASKS].replace({**task, key: survivor, "updated_at": utc_now()}, task["version"])
                self.emit(tx, events.TASK_UPDATED, {**stored, "changes": [key]})
            if subject_type == "contact":
                self._rescore_contact(tx, {"id": old_id, "deleted": True})
        for old_id in merged_ids:
            if old_id != survivor:
                self._drop_customer_value(tx, subject_type, old_id)
        self._refresh_customer_value(tx, [(subject_type, survivor)])

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "contact")

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "company")
