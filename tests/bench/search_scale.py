"""The search figures at scale: the embedded SQLite index at BENCH_SEARCH_DOCS documents (1.6M: 1M
contacts, 300k deals, 300k tickets, scaled together), searched with the plan's query mix as a rep and
as an admin against the 50 ms p95 target; then a reindex of BENCH_REINDEX_DOCS contacts (1M; 0 leaves
it out) through the real search service, with a searcher querying throughout.

    python -m tests.bench.search_scale        (these figures alone; `make bench` runs them too)

The index is built straight through the adapter's `upsert_many` from the synthetic corpus
(tests/bench/search_corpus.py) with the search service's own document rules, and kept under
var/bench/ keyed by the corpus version and size: a re-run measures the same file without rebuilding.

Each query is parsed by the search service's own parser (search.query.search_query, default facets
and all) with the access tokens the service computes for the caller (crm_common.access.reach_of).
"""

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.bench import search_corpus
from tests.bench.load import percentile

SEARCH_P95_TARGET_MS = 50.0
RSS_TARGET_MB = 250.0
BUILD_BATCH = 5000
WARMUP_ROUNDS = 2
MEASURED_ROUNDS = 20
SHARES = {"contact": 1_000_000 / 1_600_000, "deal": 300_000 / 1_600_000, "ticket": 300_000 / 1_600_000}


def _int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        value = int(float(raw))
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SystemExit(f"{name} must be at least 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class ScaleSettings:
    docs: int  # BENCH_SEARCH_DOCS: the index size (0 leaves the query figure out)
    reindex_docs: int  # BENCH_REINDEX_DOCS: contacts reindexed through the service (0 leaves it out)
    rounds: int  # BENCH_SEARCH_ROUNDS: timed runs of each query per caller

    @classmethod
    def from_env(cls) -> "ScaleSettings":
        return cls(
            docs=_int_setting("BENCH_SEARCH_DOCS", 1_600_000),
            reindex_docs=_int_setting("BENCH_REINDEX_DOCS", 1_000_000),
            rounds=max(1, _int_setting("BENCH_SEARCH_ROUNDS", MEASURED_ROUNDS)),
        )

    def counts(self) -> dict[str, int]:
        return {doc_type: round(self.docs * share) for doc_type, share in SHARES.items()}


def index_path(results_dir: str, counts: dict[str, int]) -> str:
    size = "-".join(f"{doc_type}{n}" for doc_type, n in counts.items())
    return os.path.join(results_dir, f"search-index-v{search_corpus.CORPUS_VERSION}-{size}.db")


def _corpus_docs(counts: dict[str, int]):
    """(type, docs) batches built by the search service's own rules."""
    from search import domain

    sources = {
        "contact": (search_corpus.contacts, domain.contact_doc),
        "deal": (search_corpus.deals, domain.deal_doc),
        "ticket": (search_corpus.tickets, domain.ticket_doc),
    }
    for doc_type, count in counts.items():
        records, build = sources[doc_type]
        batch = []
        for record in records(count):
            batch.append(build(record))
            if len(batch) == BUILD_BATCH:
                yield doc_type, batch
                batch = []
        if batch:
            yield doc_type, batch


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm", ".complete"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def build_index(path: str, counts: dict[str, int]) -> dict:
    """The cached index at `path` if a build finished there (its `.complete` marker holds the build's
    figures), else a fresh build through `upsert_many`."""
    from crm_common.search_index.sqlite_fts import SqliteFtsIndex

    marker = path + ".complete"
    if os.path.exists(marker):
        with open(marker) as fh:
            return {**json.load(fh), "cached": True}
    _remove(path)
    index = SqliteFtsIndex(path)
    total, started, written = sum(counts.values()), time.monotonic(), 0
    try:
        for _doc_type, batch in _corpus_docs(counts):
            written += index.upsert_many(batch)
            if written % 100_000 < BUILD_BATCH:
                elapsed = time.monotonic() - started
                print(f"    {written}/{total} docs, {written / elapsed:.0f} docs/s", flush=True)
    finally:
        index.close()
    seconds = time.monotonic() - started
    built = {
        "docs": written,
        "counts": counts,
        "seconds": round(seconds, 1),
        "docs_per_second": round(written / seconds),
        "file_mb": round(os.path.getsize(path) / 1e6),
        "built_at": datetime.now(UTC).isoformat(),
    }
    with open(marker, "w") as fh:
        json.dump(built, fh)
    return {**built, "cached": False}


# --- the query mix ----------------------------------------------------------------------------

SURNAMES = ("Johnson", "Martinez", "Nguyen", "Patel", "Kim")
TYPOS = ("Jonhson", "Martinze", "Ngyuen", "Ptael", "Robinsno")  # one swap or slip each
CHINESE_NAMES = ("王芳", "李娜", "张伟", "刘洋", "陈静")
REP = "bench-rep-07"


def query_mix(round_number: int) -> list[tuple[str, dict]]:
    """The plan's six queries, each round with other values (so the figure is not one cached term)."""
    rnd = random.Random(round_number)
    pick = round_number % len(SURNAMES)
    owner = search_corpus.owner_ids()[round_number % search_corpus.OWNERS]
    return [
        ("surname", {"q": SURNAMES[pick]}),
        ("typo'd surname", {"q": TYPOS[pick]}),
        ("Chinese name, 2 chars", {"q": CHINESE_NAMES[pick]}),
        ("phone, last 4 digits", {"q": f"{rnd.randrange(10000):04d}"}),
        ("email domain, small company", {"q": search_corpus.company_domain(200 + rnd.randrange(39_000))}),
        (
            "surname, owner filter",
            {
                "q": SURNAMES[(pick + 1) % len(SURNAMES)],
                "filter": json.dumps({"owner_id": owner}),
            },
        ),
    ]


def owner_filtered(mix: list[tuple[str, dict]], owner: str) -> list[tuple[str, dict]]:
    """The rep's owner filter names the rep ("my customers"): another rep's would find nothing."""
    return [
        (name, {**params, "filter": json.dumps({"owner_id": owner})} if "filter" in params else params)
        for name, params in mix
    ]


def callers() -> dict:
    """A rep (their own customers and the pool) and an admin, with the tokens the service computes."""
    from crm_common.access import reach_of
    from crm_common.caller import Caller

    return {
        "rep": reach_of(Caller(REP, ("sales_rep",))).tokens(),
        "admin": reach_of(Caller("bench-admin", ("admin",))).tokens(),
    }


def warm_page_cache(path: str) -> float:
    """Read the index file once, as a serving index would have it in memory: this machine's memory
    manager gives idle file pages back, and a cold read of a random page is a disk seek. Seconds taken."""
    started = time.monotonic()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass
    return round(time.monotonic() - started, 1)


def timed_queries(path: str, rounds: int) -> dict:
    """Each query of the mix `rounds` times per caller (after WARMUP_ROUNDS), parsed by the service's
    parser: per-query and overall p50/p95 for each caller, and the hits' totals (sanity)."""
    from crm_common.ids import utc_now
    from crm_common.search_index.sqlite_fts import SqliteFtsIndex
    from search.query import search_query

    index = SqliteFtsIndex(path)
    results: dict = {}
    try:
        for who, tokens in callers().items():
            per_query: dict[str, list[float]] = {}
            totals: dict[str, list[int]] = {}
            for round_number in range(-WARMUP_ROUNDS, rounds):
                mix = query_mix(round_number)
                for name, params in owner_filtered(mix, REP) if who == "rep" else mix:
                    parsed = search_query(params, tokens, utc_now())
                    started = time.perf_counter()
                    answer = index.search(parsed)
                    elapsed = (time.perf_counter() - started) * 1000
                    if round_number >= 0:
                        per_query.setdefault(name, []).append(elapsed)
                        totals.setdefault(name, []).append(answer.total)
            every = sorted(ms for times in per_query.values() for ms in times)
            results[who] = {
                "queries": len(every),
                "p50_ms": round(percentile(every, 50), 1),
                "p95_ms": round(percentile(every, 95), 1),
                "max_ms": round(every[-1], 1),
                "by_query": {
                    name: {
                        "p50_ms": round(percentile(sorted(times), 50), 1),
                        "p95_ms": round(percentile(sorted(times), 95), 1),
                        "max_ms": round(max(times), 1),
                        "median_total": sorted(totals[name])[len(totals[name]) // 2],
                    }
                    for name, times in per_query.items()
                },
            }
    finally:
        index.close()
    return results


# --- the reindex through the service ----------------------------------------------------------

SEED_CHUNK = 5000
REINDEX_POLL_SECONDS = 1.0
REINDEX_TIMEOUT_SECONDS = 3 * 3600.0
RPC_TIMEOUT_SECONDS = 30.0
SEARCHER_PAUSE_SECONDS = 0.05  # between two searches: a user's pace, not a load test


def seed_contacts(data_dir: str, count: int) -> dict:
    """Write `count` contacts into the contacts service's own SQLite store while it runs (WAL: it
    keeps serving), with the service's collection specs; no events: only the reindex finds them."""
    from contacts.store import CONTACTS, SPECS
    from crm_common.store import open_store

    store = open_store(f"sqlite:///{os.path.join(data_dir, 'contacts.db')}", SPECS, timeout=60.0)
    started = time.monotonic()
    try:
        chunk: list[dict] = []
        for contact in search_corpus.contacts(count, seed=12):
            chunk.append({k: v for k, v in contact.items() if k != "version"})
            if len(chunk) == SEED_CHUNK:
                with store.transaction() as tx:
                    tx[CONTACTS].insert_many(chunk)
                chunk = []
        if chunk:
            with store.transaction() as tx:
                tx[CONTACTS].insert_many(chunk)
    finally:
        store.close()
    return {"contacts": count, "seconds": round(time.monotonic() - started, 1)}


def rss_mb(leader: int | None) -> float | None:
    """Resident memory of a process and the processes of its group (a service is one of those)."""
    if leader is None:
        return None
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != leader:
                continue
            with open(f"/proc/{entry}/status") as fh:
                total_kb += next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:")), 0)
        except (OSError, ValueError):
            continue  # gone meanwhile
    return round(total_kb / 1024, 1)


class Searcher:
    """A thread asking search.search over RPC (the query mix, as the rep and as the admin in turn)
    until told to stop: the latency and the failures a user would meet during the reindex."""

    def __init__(self, amqp_uri: str):
        import threading

        self.amqp_uri = amqp_uri
        self.times_ms: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-searcher", daemon=True)

    def __enter__(self) -> "Searcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=RPC_TIMEOUT_SECONDS + 5)

    def _run(self) -> None:
        from crm_common.caller import Caller
        from gateway.rpc import RpcClient

        client = RpcClient(self.amqp_uri, name="bench-searcher")
        who = [Caller(REP, ("sales_rep",)), Caller("bench-admin", ("admin",))]
        try:
            round_number = 0
            while not self._stop.is_set():
                for _name, params in query_mix(round_number):
                    caller = who[(len(self.times_ms) + len(self.errors)) % 2]
                    if caller.user_id == REP:
                        params = owner_filtered([("", params)], REP)[0][1]
                    started = time.perf_counter()
                    try:
                        client.call("search", "search", {"query": params}, caller, RPC_TIMEOUT_SECONDS)
                        self.times_ms.append((time.perf_counter() - started) * 1000)
                    except Exception as exc:  # noqa: BLE001 - every failure a user would see is counted
                        self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    self._stop.wait(SEARCHER_PAUSE_SECONDS)
                round_number += 1
        finally:
            client.close()

    def summary(self) -> dict:
        ordered = sorted(self.times_ms)
        return {
            "searches": len(ordered),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "p50_ms": round(percentile(ordered, 50), 1) if ordered else None,
            "p95_ms": round(percentile(ordered, 95), 1) if ordered else None,
            "max_ms": round(ordered[-1], 1) if ordered else None,
        }


def measure_reindex(stack, count: int) -> dict:
    """Seed the contacts store, then search.start_reindex(["contact"]) as an admin over RPC, polled
    until done, with the searcher running throughout and the search service's RSS sampled."""
    from crm_common.caller import Caller
    from crm_common.devstack import SERVICES
    from gateway.rpc import RpcClient

    print(f"  writing {count} contacts into the contacts store ...", flush=True)
    seeded = seed_contacts(stack.data_dir, count)
    search_pid = stack.pid(next(c for c in SERVICES if c.name == "search"))
    admin = Caller("bench-admin", ("admin",))
    client = RpcClient(stack.amqp_uri, name="bench-reindex")
    rss_samples: list[float] = []
    try:
        rss_before = rss_mb(search_pid)
        print("  search.start_reindex(['contact']) with a searcher querying throughout ...", flush=True)
        with Searcher(stack.amqp_uri) as searcher:
            time.sleep(2)  # the searcher's first answers come from the index as it stood
            started = time.monotonic()
            job = client.call("search", "start_reindex", {"types": ["contact"]}, admin, RPC_TIMEOUT_SECONDS)
            last_report = started
            while job["status"] == "running":
                if time.monotonic() - started > REINDEX_TIMEOUT_SECONDS:
                    raise RuntimeError(f"the reindex still runs after {REINDEX_TIMEOUT_SECONDS:g} s: {job}")
                time.sleep(REINDEX_POLL_SECONDS)
                job = client.call("search", "get_reindex", {"reindex_id": job["id"]}, admin, RPC_TIMEOUT_SECONDS)
                sample = rss_mb(search_pid)
                if sample is not None:
                    rss_samples.append(sample)
                if time.monotonic() - last_report >= 30:
                    last_report = time.monotonic()
                    read = job["counts"]["contact"]["read"]
                    print(f"    {read} read, {read / (last_report - started):.0f} docs/s, RSS {sample} MB", flush=True)
            seconds = time.monotonic() - started
        if job["status"] != "done":
            raise RuntimeError(f"the reindex ended {job['status']}: {job.get('error')}")
    finally:
        client.close()
    counts = job["counts"]["contact"]
    return {
        "seeded": seeded,
        "job_id": job["id"],
        "read": counts["read"],
        "written": counts["written"],
        "seconds": round(seconds, 1),
        "docs_per_second": round(counts["read"] / seconds),
        "search_rss_mb": {"before": rss_before, "max": max(rss_samples, default=None)},
        "searcher": searcher.summary(),
    }


# --- the section: figures, checks, lines ------------------------------------------------------


def measure_search_scale(stack, settings: ScaleSettings, results_dir: str) -> dict:
    """The query figure (no platform needed: the adapter in this process) and, given a running
    platform, the reindex figure."""
    figures: dict = {"settings": {"docs": settings.docs, "reindex_docs": settings.reindex_docs}}
    if settings.docs:
        counts = settings.counts()
        path = index_path(results_dir, counts)
        print(f"  index of {sum(counts.values())} docs at {path} ...", flush=True)
        built = build_index(path, counts)
        how = "reusing the cached index, built" if built["cached"] else "built"
        print(f"  {how}: {built['docs']} docs in {built['seconds']:.0f} s", flush=True)
        warmed = warm_page_cache(path)
        print(f"  the query mix, {settings.rounds} rounds as a rep and as an admin ...", flush=True)
        figures["index"] = {
            "path": path,
            "build": built,
            "page_cache_warmed_seconds": warmed,
            "queries": timed_queries(path, settings.rounds),
        }
    if settings.reindex_docs and stack is not None:
        figures["reindex"] = measure_reindex(stack, settings.reindex_docs)
    return figures


def search_scale_checks(figures: dict | None) -> list[dict]:
    if not figures:
        return []
    checks = []
    index = figures.get("index")
    if index:
        size = f"{index['build']['docs'] / 1e6:.1f}M"
        for who, row in index["queries"].items():
            checks.append(
                {
                    "name": f"search {size} p95 {who}",
                    "value": row["p95_ms"],
                    "target": f"<= {SEARCH_P95_TARGET_MS:g} ms",
                    "pass": row["p95_ms"] <= SEARCH_P95_TARGET_MS,
                }
            )
    reindex = figures.get("reindex")
    if reindex:
        searcher = reindex["searcher"]
        checks.append(
            {
                "name": "search p95 in reindex",
                "value": searcher["p95_ms"],
                "target": f"<= {SEARCH_P95_TARGET_MS:g} ms",
                "pass": searcher["p95_ms"] is not None
                and searcher["p95_ms"] <= SEARCH_P95_TARGET_MS
                and searcher["errors"] == 0,
            }
        )
        rss = reindex["search_rss_mb"]["max"]
        checks.append(
            {
                "name": "search RSS in reindex",
                "value": rss,
                "target": f"<= {RSS_TARGET_MB:g} MB",
                "pass": rss is not None and rss <= RSS_TARGET_MB,
            }
        )
    return checks


def search_scale_lines(figures: dict | None) -> list[str]:
    if not figures:
        return []
    lines = []
    index = figures.get("index")
    if index:
        built = index["build"]
        how = "reused from cache, built" if built["cached"] else "built"
        lines.append(
            f"  search index: {built['docs']} docs ({', '.join(f'{n} {t}s' for t, n in built['counts'].items())}) "
            f"{how} through upsert_many in {built['seconds']:.0f} s = {built['docs_per_second']} docs/s, "
            f"{built['file_mb']} MB; corpus v{search_corpus.CORPUS_VERSION}; file read once into the page cache "
            f"({index['page_cache_warmed_seconds']:.0f} s) before {WARMUP_ROUNDS} warm-up rounds"
        )
        for who, row in index["queries"].items():
            lines.append(
                f"    as {who}: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms, max {row['max_ms']:.1f} ms "
                f"over {row['queries']} queries"
            )
            for name, q in row["by_query"].items():
                lines.append(
                    f"      {name:<30} p50 {q['p50_ms']:>6.1f}  p95 {q['p95_ms']:>6.1f}  max {q['max_ms']:>6.1f} ms"
                    f"  (median total {q['median_total']})"
                )
    reindex = figures.get("reindex")
    if reindex:
        s, rss = reindex["searcher"], reindex["search_rss_mb"]
        lines += [
            (
                f"  reindex: {reindex['seeded']['contacts']} contacts written into the contacts store in "
                f"{reindex['seeded']['seconds']:.0f} s; search.start_reindex(['contact']) read {reindex['read']}, "
                f"wrote {reindex['written']} in {reindex['seconds']:.0f} s = {reindex['docs_per_second']} docs/s; "
                f"search RSS {rss['before']} MB before, max {rss['max']} MB"
            ),
            (
                f"    searcher during the reindex (RPC search.search, rep and admin in turn): {s['searches']} "
                "searches, "
                f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms, errors {s['errors']}"
            ),
        ]
        if reindex["read"] < 1_000_000:
            lines.append(
                f"    (a reindex of {reindex['read']} documents: at this rate 1M takes about "
                f"{1_000_000 / reindex['docs_per_second'] / 60:.0f} min)"
            )
    return lines


def main() -> int:
    """These figures alone (the reindex on a bench platform of its own), printed and written to var/bench/."""
    from crm_common.config import DEFAULT_AMQP_URI
    from crm_common.devstack import ensure_broker
    from crm_common.testing import private_vhost
    from tests.bench.run import RESULTS_DIR, Settings, running_stack

    settings = ScaleSettings.from_env()
    base_uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    figures = measure_search_scale(None, ScaleSettings(settings.docs, 0, settings.rounds), RESULTS_DIR)
    if settings.reindex_docs:
        ensure_broker(base_uri)
        with private_vhost(base_uri) as amqp_uri, running_stack(amqp_uri, Settings.from_env()) as stack:
            figures.update(measure_search_scale(stack, ScaleSettings(0, settings.reindex_docs, 1), RESULTS_DIR))
    figures["settings"] = {"docs": settings.docs, "reindex_docs": settings.reindex_docs, "rounds": settings.rounds}
    print("\n".join(search_scale_lines(figures)))
    for check in search_scale_checks(figures):
        unit = " MB" if check["name"].endswith("RSS in reindex") else " ms"
        verdict = "PASS" if check["pass"] else "MISS"
        print(f"{check['name']:<28}{check['value']:>9.1f}{unit}{check['target']:>14}  {verdict}")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"search-scale-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json")
    with open(path, "w") as fh:
        fh.write(json.dumps({"search_scale": figures, "checks": search_scale_checks(figures)}, indent=2) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
