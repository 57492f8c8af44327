"""Orders: purchase history through the API, batches and won deals (a mixin of SalesService)."""

from datetime import datetime, timedelta

from nameko.rpc import rpc

from crm_common.access import (
    CUSTOMER_WRITERS,
    and_filters,
    may_assign_owner,
    may_change_owner,
    owner_filter,
    reach_of,
    require_role,
)
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import events, money, schemas
from .store import ORDERS
from .valuation import iso, parse_time

MAX_BATCH_ROWS = 1000
# A won deal's order follows these fields of the deal while it stays won.
DEAL_ORDER_FIELDS = ("amount", "currency", "line_items", "owner_id", "shared_with")
# The states of a won deal's order that its deal, reopened or lost, cancels; later ones stay.
CANCELLABLE = ("pending", "confirmed")
# An order may be dated up to a day ahead (time zones, a shop's clock); history imports date them in the past.
MAX_AHEAD = timedelta(days=1)


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, [{"field": field, "message": message}])


def order_time(value: str | None, now: datetime) -> str:
    """`ordered_at` in the stored form (UTC, Z); now when not given; at most a day ahead."""
    if value is None:
        return iso(now)
    moment = parse_time(value)
    if moment > now + MAX_AHEAD:
        raise _problem("ordered_at", "must not be more than a day in the future")
    return iso(moment)


def order_in_reach(reach, order: dict) -> bool:
    return reach.sees_owner(order.get("owner_id"), order.get("shared_with") or (), poolable=False)


def subjects_of(*orders: dict | None) -> list[tuple[str, str]]:
    """The customers whose figures the orders count in (each once)."""
    found: dict[tuple[str, str], None] = {}
    for order in orders:
        for subject_type in ("contact", "company"):
            if order and order.get(f"{subject_type}_id"):
                found[(subject_type, order[f"{subject_type}_id"])] = None
    return list(found)


class OrdersRpc:
    """RPC entrypoints of orders, and the order a won deal makes."""

    def _visible_order(self, source, order_id: str) -> dict:
        order = source[ORDERS].get(order_id)
        if order is None or not order_in_reach(reach_of(self.caller), order):
            raise NotFound(f"order {order_id} not found")
        return order

    def _order_customer(self, fields: dict) -> dict:
        """The order's contact and company checked as the caller sees them (an unknown or unseen one is
        the same 422); the company defaults to the contact's."""
        if not fields.get("contact_id") and not fields.get("company_id"):
            raise _problem("contact_id", "an order needs a contact_id or a company_id")
        resolved = {}
        if fields.get("contact_id"):
            contact = self._visible_customer(self.store, "contact", fields["contact_id"])
            if contact is None:
                raise _problem("contact_id", "no such contact")
            resolved["company_id"] = fields.get("company_id") or contact.get("company_id")
        if fields.get("company_id") and self._visible_customer(self.store, "company", fields["company_id"]) is None:
            raise _problem("company_id", "no such company")
        return {**fields, **resolved}

    def _new_order(self, data: dict, now: datetime, owner_error: ValidationFailed | Forbidden) -> dict:
        fields = validate(data, schemas.ORDER_FIELDS, server_owned=schemas.ORDER_SERVER_OWNED)
        owner_id = fields.get("owner_id", self.caller.user_id)
        if not may_assign_owner(self.caller, owner_id):
            raise owner_error
        fields = self._order_customer(fields)
        order = {
            "id": new_id(),
            "contact_id": None,
            "company_id": None,
            "deal_id": None,
            "line_items": [],
            "status": "confirmed",
            "payment_method": None,
            "reference": None,
            "notes": None,
            **fields,
            "owner_id": owner_id,
            "shared_with": list(dict.fromkeys(fields.get("shared_with") or [])),
            "created_by": self.caller.user_id,
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        order["ordered_at"] = order_time(fields.get("ordered_at"), now)
        order["line_items"] = money.line_items(order["line_items"])
        order["amount"] = money.settled_amount(order["line_items"], fields.get("amount"))
        return order

    @rpc
    def create_order(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create orders")
        # The customers are checked before the transaction: the check may ask the contacts service.
        order = self._new_order(data, self._clock(), Forbidden("you may not give an order to that owner"))
        with self.store.transaction() as tx:
            order.update(self._surviving_customers(tx, order))  # its customer was merged meanwhile
            stored = tx[ORDERS].insert(order)
            self.emit(tx, events.ORDER_CREATED, stored)
            self._refresh_customer_value(tx, subjects_of(stored))
        return stored

    @rpc
    def import_orders(self, rows: list, dry_run: bool = False) -> dict:
        """Orders in a batch (a history import), all or none: any invalid row is a 422 naming every
        problem as `orders[<row>].<field>` (rows counted from 0), and nothing is written."""
        require_role(self.caller, CUSTOMER_WRITERS, "import orders")
        if not isinstance(rows, list) or not rows:
            raise _problem("orders", "must be a non-empty list of orders")
        if len(rows) > MAX_BATCH_ROWS:
            raise _problem("orders", f"must hold at most {MAX_BATCH_ROWS} orders")
        now = self._clock()
        orders, errors = [], []
        for index, row in enumerate(rows):
            owner_error = _problem("owner_id", "you may not give an order to that owner")
            try:
                orders.append(self._new_order(row, now, owner_error))
            except ValidationFailed as exc:
                errors += [{**e, "field": f"orders[{index}].{e['field']}".rstrip(".")} for e in exc.errors]
        if errors:
            raise ValidationFailed(f"{len(errors)} invalid field(s); no order was imported", errors)
        if dry_run:
            return {"dry_run": True, "count": len(orders), "ids": []}
        with self.store.transaction() as tx:
            for order in orders:
                order.update(self._surviving_customers(tx, order))
            stored = tx[ORDERS].insert_many(orders)
            self.emit_many(tx, events.ORDER_CREATED, stored)
            self._refresh_customer_value(tx, subjects_of(*stored))
        return {"dry_run": False, "count": len(stored), "ids": [o["id"] for o in stored]}

    @rpc
    def get_order(self, order_id: str) -> dict:
        return self._visible_order(self.store, order_id)

    @rpc
    def list_orders(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.ORDER_FILTERABLE, sortable=schemas.ORDER_SORTABLE, default_sort="-ordered_at"
        )
        flt = and_filters(owner_filter(reach_of(self.caller), pool=False), q.filter)
        page = self.store[ORDERS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_order(self, order_id: str, data: dict, expected_version: int | None = None) -> dict:
        """A partial change; an order is never deleted (it is cancelled or refunded instead)."""
        require_role(self.caller, CUSTOMER_WRITERS, "change orders")
        changes = validate(data, schemas.ORDER_UPDATE_FIELDS, partial=True, server_owned=schemas.ORDER_SERVER_OWNED)
        now = self._clock()
        with self.store.transaction() as tx:
            current = self._visible_order(tx, order_id)
            if "owner_id" in changes and not may_change_owner(self.caller, current["owner_id"], changes["owner_id"]):
                raise Forbidden("you may not give this order to that owner")
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"order {order_id} is at version {current['version']}")
            if "shared_with" in changes:
                changes["shared_with"] = list(dict.fromkeys(changes["shared_with"]))
            if "ordered_at" in changes:
                changes["ordered_at"] = order_time(changes["ordered_at"], now)
            updated = {**current, **changes}
            if "line_items" in changes:
                updated["line_items"] = money.line_items(changes["line_items"])
            if "line_items" in changes or "amount" in changes:
                updated["amount"] = money.settled_amount(
                    updated.get("line_items"), changes.get("amount"), current["amount"]
                )
            changed = [name for name in updated if updated[name] != current.get(name)]
            if not changed:
                return current
            stored = tx[ORDERS].replace({**updated, "updated_at": iso(now)}, expected_version)
            self.emit(tx, events.ORDER_UPDATED, {**stored, "changes": changed})
            self._refresh_customer_value(tx, subjects_of(stored))
        return stored

    # the order of a won deal

    def _sync_deal_order(self, tx, deal: dict, previous_status: str | None) -> None:
        """Called in the deal's transaction when its status changes, or one of DEAL_ORDER_FIELDS of a
        won deal: a won deal has an order (id `deal-<deal id>`, confirmed and dated at the win) that
        follows the deal's amount, currency, line items, owner and sharing while the deal stays won.
        A deal reopened or lost after it was won cancels that order while it is still `pending` or
        `confirmed`; one already paid, shipped, completed or refunded stays (money moved: a person
        sorts it out). Calling it again for the same deal changes nothing."""
        order_id = f"deal-{deal['id']}"
        current = tx[ORDERS].get(order_id)
        now = self._clock()
        if deal["status"] == "won":
            followed = {
                "line_items": money.line_items(deal.get("line_items")),
                "amount": deal["amount"],
                "currency": deal["currency"],
                "owner_id": deal["owner_id"],
                "shared_with": list(deal.get("shared_with") or []),
            }
            if current is None:
                won_at = deal.get("closed_at") or iso(now)
                order = {
                    "contact_id": deal.get("contact_id"),
                    "company_id": deal.get("company_id"),
                    **followed,
                    "ordered_at": iso(parse_time(won_at)),
                    "status": "confirmed",
                    "id": order_id,
                    "deal_id": deal["id"],
                    "payment_method": None,
                    "reference": None,
                    "notes": None,
                    "created_by": self.caller.user_id,
                    "created_at": iso(now),
                    "updated_at": iso(now),
                }
                order.update(self._surviving_customers(tx, order))
                stored = tx[ORDERS].insert(order)
                self.emit(tx, events.ORDER_CREATED, stored)
                self._refresh_customer_value(tx, subjects_of(stored))
                return
            fields = dict(followed)
            if current["status"] == "cancelled":  # won again after a reopening: the order stands again
                won_at = deal.get("closed_at") or iso(now)
                fields.update(status="confirmed", ordered_at=iso(parse_time(won_at)))
            changed = [name for name, value in fields.items() if current.get(name) != value]
            if not changed:
                return
            stored = tx[ORDERS].replace({**current, **fields, "updated_at": iso(now)}, current["version"])
            self.emit(tx, events.ORDER_UPDATED, {**stored, "changes": changed})
            self._refresh_customer_value(tx, subjects_of(current, stored))
        elif previous_status == "won" and current is not None and current["status"] in CANCELLABLE:
            stored = tx[ORDERS].replace({**current, "status": "cancelled", "updated_at": iso(now)}, current["version"])
            self.emit(tx, events.ORDER_UPDATED, {**stored, "changes": ["status"]})
            self._refresh_customer_value(tx, subjects_of(stored))
