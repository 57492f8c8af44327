"""RPC entrypoints of the reindex and the consistency check: both run as jobs in a thread of
their own (jobs.py), so the call answers at once with the job, which the gateway then polls."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.errors import BadRequest
from crm_common.runtime.rpc import ServiceRpc

from . import consistency, jobs, reindex


class MaintenanceRpc:
    """RPC entrypoints of the reindex and the consistency check (admins and the platform only)."""

    contacts = ServiceRpc("contacts")
    sales = ServiceRpc("sales")
    service_desk = ServiceRpc("service_desk")
    threads = jobs.JobThreads()

    @rpc
    def start_reindex(self, types: list | None = None) -> dict:
        """Starts (or resumes a dead) reindex of `types` (all when None): the job, running."""
        require_role(self.caller, (ADMIN,), "reindex search")
        job, holder = jobs.claim(self.store, "reindex", reindex.checked_types(types), self.caller.user_id, {})
        self.threads(lambda: reindex.run_reindex(self.store, self.index, self, job, holder))
        return jobs.public(job)

    @rpc
    def get_reindex(self, reindex_id: str) -> dict:
        """A reindex or consistency job by id (the gateway polls both here)."""
        require_role(self.caller, (ADMIN,), "read reindex jobs")
        return jobs.get(self.store, reindex_id)

    @rpc
    def list_reindexes(self, query: dict | None = None) -> dict:
        """Reindex and consistency jobs, newest first (`kind`, `status` filter them)."""
        require_role(self.caller, (ADMIN,), "read reindex jobs")
        return jobs.list_jobs(self.store, query)

    @rpc
    def check_consistency(self, types: list | None = None, fix: bool = False) -> dict:
        """Starts a consistency check of `types` (all when None), fixing what it finds with `fix`."""
        require_role(self.caller, (ADMIN,), "check the search index")
        if not isinstance(fix, bool):
            raise BadRequest("fix must be true or false")
        extra = {"fix": fix, "report": {}}
        job, holder = jobs.claim(self.store, "consistency", reindex.checked_types(types), self.caller.user_id, extra)
        self.threads(lambda: consistency.run_check(self.store, self.index, self, job, holder))
        return jobs.public(job)
