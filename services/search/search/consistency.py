"""The consistency check: each type's source ids and versions against the index's, reporting
documents `missing` (a source record not indexed), `stale` (indexed at an older version) and
`orphaned` (indexed, but no longer in the source: deleted, merged or erased upstream); with `fix`,
the first two are re-indexed from the source and the orphans tombstoned.

One type at a time, the source's (id -> version) map is held in memory (about 100 bytes a record:
~100 MB for a million), then the index's versions are paged against it in id order. Events keep
flowing meanwhile: a fix writes through the version guard, so it never undoes a newer event, and a
document whose record was created after the check started is not called an orphan."""

import logging

from crm_common.search_index import SearchIndex
from crm_common.store import DocumentStore

from . import jobs, reindex, sources
from .domain import searchable

log = logging.getLogger(__name__)

EXAMPLES = 100  # ids listed per finding
INDEX_PAGE = 1000


def _finding() -> dict:
    return {"count": 0, "examples": []}


def _note(finding: dict, doc_id: str) -> None:
    finding["count"] += 1
    if len(finding["examples"]) < EXAMPLES:
        finding["examples"].append(doc_id)


class _Run:
    """One run of a check: the job as last saved, and the heartbeat every page of either side
    (a long pass must not look dead to the next start)."""

    def __init__(self, store: DocumentStore, index: SearchIndex, service, job: dict, holder: str):
        self.store, self.index, self.service, self.job, self.holder = store, index, service, job, holder

    def beat(self, changes: dict | None = None) -> None:
        self.job = jobs.save(self.store, self.job, self.holder, changes or {})

    def read_source(self, doc_type: str) -> tuple[dict[str, int], dict[str, int]]:
        """(searchable id -> version, unsearchable id -> version) of the whole source."""
        expected: dict[str, int] = {}
        excluded: dict[str, int] = {}
        for records, _cursor in sources.pages(self.service, doc_type):
            for record in records:
                (expected if searchable(doc_type, record) else excluded)[record["id"]] = record["version"]
            read = {"read": len(expected) + len(excluded), "written": 0}
            self.beat({"counts": {**self.job["counts"], doc_type: read}})
        return expected, excluded

    def compare(self, doc_type: str, expected: dict[str, int], excluded: dict[str, int]):
        """(report, ids to re-index, {orphan id: version to tombstone at}) of one type."""
        report = {"missing": _finding(), "stale": _finding(), "orphaned": _finding()}
        unseen = dict(expected)
        to_index: set[str] = set()
        orphans: dict[str, int] = {}
        after = None
        while True:
            rows = self.index.versions(doc_type, after, INDEX_PAGE)
            for doc_id, version, deleted in rows:
                source_version = unseen.pop(doc_id, None)
                if source_version is not None:
                    if deleted or version < source_version:
                        _note(report["missing" if deleted else "stale"], doc_id)
                        to_index.add(doc_id)
                elif not deleted and self._orphaned(doc_type, doc_id):
                    _note(report["orphaned"], doc_id)
                    # The tombstone must outrank the live version; a merged ticket's own may be higher.
                    orphans[doc_id] = max(version + 1, excluded.get(doc_id, 0))
            self.beat()
            if len(rows) < INDEX_PAGE:
                break
            after = rows[-1][0]
        for doc_id in unseen:
            _note(report["missing"], doc_id)
            to_index.add(doc_id)
        return report, to_index, orphans

    def _orphaned(self, doc_type: str, doc_id: str) -> bool:
        """Not in the source pass: an orphan unless its record is newer than the check (created
        after it started, so the pass could not see it)."""
        doc = self.index.get(doc_type, doc_id)
        return doc is not None and (doc.created_at or doc.updated_at) < self.job["started_at"]

    def fix(self, doc_type: str, to_index: set[str], orphans: dict[str, int]) -> int:
        """Re-index the missing and stale records from a second pass over the source (through the
        version guard), tombstone the orphans; how many documents were written or removed."""
        written = 0
        if to_index:
            for records, _cursor in sources.pages(self.service, doc_type):
                wanted = [r for r in records if r["id"] in to_index]
                if wanted:
                    written += reindex.write_page(self.index, doc_type, wanted)
                self.beat()
        for doc_id, version in orphans.items():
            written += int(self.index.delete(doc_type, doc_id, version))
        return written


def run_check(store: DocumentStore, index: SearchIndex, service, job: dict, holder: str) -> None:
    """Check (and with the job's `fix`, repair) each type in turn; the report grows per type."""
    run = _Run(store, index, service, job, holder)
    try:
        for doc_type in job["types"]:
            expected, excluded = run.read_source(doc_type)
            report, to_index, orphans = run.compare(doc_type, expected, excluded)
            report["fixed"] = run.fix(doc_type, to_index, orphans) if job["fix"] else 0
            counts = {
                **run.job["counts"],
                doc_type: {"read": len(expected) + len(excluded), "written": report["fixed"]},
            }
            run.beat({"counts": counts, "report": {**run.job["report"], doc_type: report}})
        jobs.save(store, run.job, holder, {"status": "done"}, finished=True)
    except jobs.TakenOver:
        log.warning("consistency check %s was taken over by another run; this one stops", job["id"])
    except Exception as exc:
        log.exception("consistency check %s failed", job["id"])
        reindex.fail(store, run.job, holder, exc)
