"""Reindex and consistency-check jobs in the service's store: one running at a time, progress and
a heartbeat written every page, and a job whose process died taken over by the next start.

The lease (one document, `current`) is what makes "one at a time" hold across instances: starting
inserts or replaces it at a known version, so two starts racing cannot both win. A job's `holder`
names the run working on it; a run that finds another holder has been taken over and stops."""

from datetime import UTC, datetime, timedelta

from nameko.extensions import DependencyProvider

from crm_common.config import float_setting
from crm_common.errors import Conflict, NotFound, PreconditionFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.store import CollectionSpec, DocumentStore, Index

JOBS = "search_jobs"
JOB_LEASE = "search_job_lease"
LEASE_ID = "current"
STORE_SPECS = (
    CollectionSpec(JOBS, (Index(("started_at",)), Index(("kind", "started_at")))),
    CollectionSpec(JOB_LEASE),
)
KINDS = ("reindex", "consistency")
JOB_FILTERABLE = ("kind", "status")
JOB_SORTABLE = ("started_at",)
DONE = "done"  # a type's progress mark once it is finished
INTERNAL = ("holder", "progress", "version")  # bookkeeping the RPC answers leave out


class TakenOver(Exception):
    """Another run holds the job now (this one was thought dead): stop without writing."""


def stale_after() -> timedelta:
    """A running job whose heartbeat is older than this is taken to be dead (SEARCH_JOB_STALE_SECONDS)."""
    return timedelta(seconds=float_setting("SEARCH_JOB_STALE_SECONDS", 120.0))


def _is_stale(job: dict, now: datetime) -> bool:
    beat = datetime.fromisoformat(job["heartbeat_at"].replace("Z", "+00:00"))
    return beat < now - stale_after()


def public(job: dict) -> dict:
    return {k: v for k, v in job.items() if k not in INTERNAL}


def _new_job(kind: str, types: list[str], holder: str, started_by: str, extra: dict) -> dict:
    now = utc_now()
    return {
        "id": new_id(),
        "kind": kind,
        "status": "running",
        "types": types,
        "counts": {t: {"read": 0, "written": 0} for t in types},
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": None,
        "error": None,
        "started_by": started_by,
        "holder": holder,
        "progress": {},
        **extra,
    }


def claim(store: DocumentStore, kind: str, types: list[str], started_by: str, extra: dict) -> tuple[dict, str]:
    """The job to run now and the holder to run it as: a new one, or the same kind's dead job
    resumed (a dead job of the other kind is marked failed). Conflict while a live job runs."""
    holder = new_id()
    try:
        with store.transaction() as tx:
            lease = tx[JOB_LEASE].get(LEASE_ID)
            current = tx[JOBS].get(lease["job_id"]) if lease else None
            if current is not None and current["status"] == "running":
                if not _is_stale(current, datetime.now(UTC)):
                    raise Conflict(f"{current['kind']} job {current['id']} is running; one job runs at a time")
                if current["kind"] == kind:
                    # At the version read: of two starts taking it over at once, one wins.
                    job = tx[JOBS].replace({**current, "holder": holder, "heartbeat_at": utc_now()}, current["version"])
                    return job, holder
                failed = {**current, "status": "failed", "finished_at": utc_now(), "error": "its process stopped"}
                tx[JOBS].replace(failed, current["version"])
            job = tx[JOBS].insert(_new_job(kind, types, holder, started_by, extra))
            if lease is None:
                tx[JOB_LEASE].insert({"id": LEASE_ID, "job_id": job["id"]})
            else:
                tx[JOB_LEASE].replace({**lease, "job_id": job["id"]}, lease["version"])
            return job, holder
    except PreconditionFailed:
        raise Conflict("another job was started at the same moment") from None


def save(store: DocumentStore, job: dict, holder: str, changes: dict, finished: bool = False) -> dict:
    """Write the job's progress (and heartbeat) as `holder`; TakenOver when it holds it no more."""
    with store.transaction() as tx:
        current = tx[JOBS].get(job["id"])
        if current is None or current["holder"] != holder or current["status"] != "running":
            raise TakenOver(job["id"])
        now = utc_now()
        updated = {**current, **changes, "heartbeat_at": now}
        if finished:
            updated["finished_at"] = now
            lease = tx[JOB_LEASE].get(LEASE_ID)
            if lease is not None and lease["job_id"] == job["id"]:
                tx[JOB_LEASE].delete(LEASE_ID, lease["version"])
        return tx[JOBS].replace(updated, current["version"])


def get(store: DocumentStore, job_id: str) -> dict:
    job = store[JOBS].get(job_id) if isinstance(job_id, str) else None
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return public(job)


def list_jobs(store: DocumentStore, query: dict | None) -> dict:
    q = parse_list_query(query or {}, filterable=JOB_FILTERABLE, sortable=JOB_SORTABLE, default_sort="-started_at")
    page = store[JOBS].find(q.filter, q.sort, q.limit, q.cursor)
    return {"data": [public(job) for job in page.items], "next_cursor": page.next_cursor}


class JobThreads(DependencyProvider):
    """Starts a job's run beside the workers: it outlives the RPC that started it, and the
    container kills it when the service stops (the next start then takes the job over)."""

    def get_dependency(self, worker_ctx):
        return self.container.spawn_managed_thread
