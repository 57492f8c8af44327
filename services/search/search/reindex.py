"""The full reindex: every record of the sources, paged over RPC, rebuilt into documents and
written in place with `upsert_many`. Search answers throughout (there is no second index to swap
in), and the version guard keeps any newer state an event wrote meanwhile."""

import logging

from prometheus_client import Counter

from crm_common.errors import BadRequest
from crm_common.search_index import SearchIndex
from crm_common.store import DocumentStore

from . import jobs, sources
from .domain import BUILDERS, TYPES, searchable

log = logging.getLogger(__name__)

# Documents per write transaction: a source page in one commit. The service runs the write in an
# OS thread (index.ThreadedIndex) and searches read a snapshot beside it, so neither waits for it;
# only the next event's write queues behind it, for the page's time.
WRITE_CHUNK = 200

REINDEXED = Counter(
    "crm_search_reindex_documents_total", "Documents written by reindexes and consistency fixes", ["type"]
)


def checked_types(types) -> list[str]:
    """None (or empty): every type; else a list of known types, in the order given."""
    if types in (None, [], ""):
        return list(TYPES)
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise BadRequest("types must be a list of document types")
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise BadRequest(f"types: unknown type(s) {', '.join(unknown)}; use {', '.join(TYPES)}")
    return list(dict.fromkeys(types))


def write_page(index: SearchIndex, doc_type: str, records: list[dict]) -> int:
    """Index a page of source records (a merged duplicate ticket is tombstoned instead); how many
    documents were written."""
    docs = [BUILDERS[doc_type](r) for r in records if searchable(doc_type, r)]
    for record in records:
        if not searchable(doc_type, record):
            index.delete(doc_type, record["id"], record["version"])
    written = 0
    for start in range(0, len(docs), WRITE_CHUNK):
        written += index.upsert_many(docs[start : start + WRITE_CHUNK])
    REINDEXED.labels(doc_type).inc(written)
    return written


def run_reindex(store: DocumentStore, index: SearchIndex, service, job: dict, holder: str) -> None:
    """Work through the job's types from where it stands (a taken-over job resumes at its last
    saved page), saving the counts and the cursor after every page."""
    try:
        counts, progress = job["counts"], dict(job["progress"])
        for doc_type in job["types"]:
            if progress.get(doc_type) == jobs.DONE:
                continue
            for records, cursor in sources.pages(service, doc_type, progress.get(doc_type)):
                written = write_page(index, doc_type, records)
                tally = counts[doc_type]
                counts = {
                    **counts,
                    doc_type: {"read": tally["read"] + len(records), "written": tally["written"] + written},
                }
                progress[doc_type] = cursor if cursor is not None else jobs.DONE
                job = jobs.save(store, job, holder, {"counts": counts, "progress": progress})
        jobs.save(store, job, holder, {"status": "done"}, finished=True)
    except jobs.TakenOver:
        log.warning("reindex %s was taken over by another run; this one stops", job["id"])
    except Exception as exc:  # the sources or the index failed: the job says so, a new start retries
        log.exception("reindex %s failed", job["id"])
        fail(store, job, holder, exc)


def fail(store: DocumentStore, job: dict, holder: str, exc: Exception) -> None:
    try:
        jobs.save(
            store, job, holder, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}, finished=True
        )
    except Exception:  # the store is down too: the heartbeat goes stale and the next start takes over
        log.exception("could not record the failure of job %s", job["id"])
