"""Comments on tickets: public replies, internal notes and the customer's own messages, and what
each does to its ticket's workflow and SLA (a mixin of ServiceDeskService)."""

from nameko.rpc import rpc

from crm_common.access import and_filters, reach_of, require_role
from crm_common.errors import ValidationFailed
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas
from .store import TICKET_COMMENTS


class CommentsRpc:
    """RPC entrypoints of ticket comments."""

    @rpc
    def add_ticket_comment(self, ticket_id: str, data: dict) -> dict:
        """A comment on a ticket in reach, with its effects on the ticket (first response, status)
        stored and announced in the same transaction: ticket_updated when the ticket changed, then
        ticket_commented ({comment, ticket})."""
        require_role(self.caller, domain.COMMENTERS, "comment on tickets")
        now = self._now()
        fields = validate(data, schemas.COMMENT_FIELDS, server_owned=schemas.COMMENT_SERVER_OWNED)
        if fields.get("author_type") == "customer" and fields.get("public") is False:
            message = "a customer's message is public"
            raise ValidationFailed(message, [{"field": "public", "message": message}])
        domain.check_attachments(fields.get("attachments"))
        with self.store.transaction() as tx:
            ticket = self._visible_ticket(tx, ticket_id)
            comment = domain.new_comment(fields, ticket["id"], self.caller.user_id, now)
            domain.check_may_comment(self.caller, reach_of(self.caller), ticket, comment)
            stored = tx[TICKET_COMMENTS].insert(comment)
            ticket, _ = self._change_ticket(tx, ticket, domain.comment_effects(ticket, comment, now), now)
            self.emit(tx, events.TICKET_COMMENTED, {"comment": stored, "ticket": ticket})
        return stored

    @rpc
    def list_ticket_comments(self, ticket_id: str, query: dict) -> dict:
        """The comments of a ticket in reach, oldest first (cursor paged): every member of staff
        who sees the ticket reads its internal notes too."""
        q = parse_list_query(
            query,
            filterable=schemas.COMMENT_FILTERABLE,
            sortable=("created_at",),
            default_sort="created_at",
            booleans=("public",),
        )
        ticket = self._visible_ticket(self.store, ticket_id)
        flt = and_filters({"ticket_id": ticket["id"]}, q.filter)
        page = self.store[TICKET_COMMENTS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}
