"""Where each document type comes from: the owning service's list RPC, paged as the platform.

Every page is asked for in `created_at` order (with the store's id tie-break): a keyset that holds
still while records change, so a pass sees every record that existed when it started exactly
once, and records created meanwhile land after it (their events index them anyway).

The next page is asked for before a page is handed over: the source service prepares it while this
one is indexed."""

from collections.abc import Callable, Iterator

import eventlet

# type -> (the proxy attribute on the service, the list RPC)
SOURCES = {
    "contact": ("contacts", "list_contacts"),
    "company": ("contacts", "list_companies"),
    "interaction": ("contacts", "list_interactions"),
    "deal": ("sales", "list_deals"),
    "order": ("sales", "list_orders"),
    "ticket": ("service_desk", "list_tickets"),
}
PAGE_SIZE = 200
PAGE_SORT = "created_at"


def lister(service, doc_type: str) -> Callable[[dict], dict]:
    """The list RPC of `doc_type`'s source, called as `system`: the reindex and the check need
    every record, not the caller's reach (they hand no record to the caller)."""
    proxy_name, method = SOURCES[doc_type]
    return getattr(getattr(service, proxy_name).as_system(), method)


def pages(service, doc_type: str, cursor: str | None = None) -> Iterator[tuple[list[dict], str | None]]:
    """(records, the cursor after them) per page, from `cursor` (a resumed job's) to the end."""
    list_page = lister(service, doc_type)

    def ask(after: str | None):
        return eventlet.spawn(list_page, {"limit": PAGE_SIZE, "sort": PAGE_SORT, "cursor": after})

    pending = ask(cursor)
    while True:
        page = pending.wait()
        cursor = page.get("next_cursor")
        if cursor is not None:
            pending = ask(cursor)
        yield page["data"], cursor
        if cursor is None:
            return
