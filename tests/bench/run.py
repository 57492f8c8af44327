"""The benchmark harness: the gateway's RPC hop against its own ping and a naive gateway, and search freshness.

    python -m tests.bench.run        (from the repository root; `make bench`)

The gateway runs in production mode with bench-only secrets, and every request to it carries the bearer
token of the admin, signed in once: both gateway rows (ping and the RPC read) pay the same authentication
(a JWT verify, the session, user and team lookups and a rate-limit bucket write in the gateway's SQLite
store). Rate limits are set far above the load, so no request is throttled. The naive gateway checks no
credential: it stands for the cheapest possible hop.

Then the forecast figure (tests/bench/forecast.py): BENCH_FORECAST_DEALS (300000; 0 leaves it out) deals written
into the sales store, their rollups rebuilt by the sales service, and GET /api/v1/reports/forecast timed through
the gateway as an admin and as a manager over BENCH_FORECAST_CALLS (100, at least 50) calls each.

Then the import figure (tests/bench/imports.py): BENCH_IMPORT_ROWS (100000; 0 leaves it out) contacts
from a CSV through the gateway, with dedupe, timed from the POST until the import job completes.

Last, the search figures at scale (tests/bench/search_scale.py): search p95 over the query mix as a rep
and as an admin on an embedded index of BENCH_SEARCH_DOCS (1600000; 0 leaves it out) documents, built once
through the adapter and cached under var/bench/; then a reindex of BENCH_REINDEX_DOCS (1000000; 0 leaves it
out) contacts written into the contacts store, through the search service, with a searcher querying
throughout. After the import: the contacts it writes would otherwise be deduplicated against a million.

Settings from the environment: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONCURRENCY (16),
BENCH_FRESHNESS_WRITES (50), BENCH_IMPORT_ROWS (100000), BENCH_DRAIN_SECONDS (1800: how long to wait after
the import for the outbox and search; 0: not at all), BENCH_SEARCH_DOCS (1600000), BENCH_SEARCH_ROUNDS (20),
BENCH_REINDEX_DOCS (1000000), BENCH_GENERATOR (auto | wrk | python), GATEWAY_WORKERS / GATEWAY_THREADS.
"""

import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.devstack import GATEWAY, ROOT, SERVICES, Stack, ensure_broker
from crm_common.testing import private_vhost
from tests.bench import cpu
from tests.bench.forecast import (
    REBUILD_TIMEOUT_SECONDS,
    forecast_checks,
    forecast_lines,
    measure_forecast,
)
from tests.bench.imports import DRAIN_TIMEOUT_SECONDS, IMPORT_TARGET_SECONDS, IMPORT_TIMEOUT_SECONDS, measure_import
from tests.bench.load import Generator, LoadResult, choose_generator, percentile
from tests.bench.search_scale import ScaleSettings, measure_search_scale, search_scale_checks, search_scale_lines

PORT_OFFSET = 2100
NAIVE_PORT = GATEWAY.port + PORT_OFFSET + 50
STACK_DIR = os.path.join(ROOT, "var", "bench", "stack")
RESULTS_DIR = os.path.join(ROOT, "var", "bench")

RPC_OVER_PING_TARGET = 0.5
RPC_OVER_NAIVE_TARGET = 3.0
FRESHNESS_P95_TARGET_MS = 300.0
FRESHNESS_POLL_SECONDS = 0.01
FRESHNESS_TIMEOUT_SECONDS = 10.0

# Bench-only secrets: the gateway starts in production mode, so it must get real-looking ones.
BENCH_SIGNING_KEY = "bench-signing-key-not-a-secret-0123456789abcdef"
BENCH_ADMIN_EMAIL = "admin@bench.test"
BENCH_ADMIN_PASSWORD = "bench-admin-password"
# Far above anything one machine can send: the benchmark measures the bucket write, never a 429.
BENCH_RATE_LIMIT = "100000/100000"
BENCH_RATE_ROLES = ("admin", "manager", "sales_rep", "support_agent", "viewer", "anonymous")
# At least an hour, and longer if the settings make the run longer: the one token must outlive the run.
MIN_TOKEN_TTL_SECONDS = 3600


def gateway_store_kind() -> str:
    """The stack inherits GATEWAY_STORE_URL when set; only its scheme is reported (a URL may hold a password)."""
    url = os.environ.get("GATEWAY_STORE_URL", "")
    return url.split(":", 1)[0] if url else "SQLite"


def authentication_note() -> str:
    return (
        "gateway rows (ping, rpc_get) include authentication: every request carries the admin's bearer token "
        "(signed in once) and pays one JWT verify, the session, user and team lookups and a rate-limit bucket "
        f"write in the gateway's {gateway_store_kind()} store; the naive rows check no credential"
    )


@dataclass(frozen=True)
class Settings:
    seconds: int
    warmup_seconds: int
    concurrency: int
    freshness_writes: int
    generator: str
    import_rows: int = 100_000
    forecast_deals: int = 300_000
    forecast_calls: int = 100
    search_scale: ScaleSettings = ScaleSettings(1_600_000, 1_000_000, 20)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            seconds=_positive_int("BENCH_SECONDS", 10),
            warmup_seconds=_positive_int("BENCH_WARMUP_SECONDS", 2),
            concurrency=_positive_int("BENCH_CONCURRENCY", 16),
            freshness_writes=_positive_int("BENCH_FRESHNESS_WRITES", 50),
            generator=os.environ.get("BENCH_GENERATOR", "auto"),
            import_rows=_positive_int("BENCH_IMPORT_ROWS", 100_000, minimum=0),
            forecast_deals=_positive_int("BENCH_FORECAST_DEALS", 300_000, minimum=0),
            forecast_calls=_positive_int("BENCH_FORECAST_CALLS", 100, minimum=50),
            search_scale=ScaleSettings.from_env(),
        )


def _positive_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        # wrk takes whole seconds, so fractional settings are rounded rather than refused.
        value = round(float(raw))
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {raw!r}")
    return value


class JsonClient:
    """One keep-alive connection for the harness's own calls (set-up and freshness polling)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.headers = dict(headers or {})  # sent on every request, e.g. Authorization
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if payload is not None else {})}
        # Only a GET is retried: a POST the server did take must not create a second contact.
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                # The server may close an idle keep-alive connection between two calls.
                self.close()
                if attempt == attempts:
                    raise
                continue
            if response.will_close:
                self.close()
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, raw.decode(errors="replace")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def token_ttl_seconds(settings: Settings) -> int:
    """Four rows of warm-up and measurement plus freshness polling, with a wide margin."""
    rows = 4
    worst_freshness = settings.freshness_writes * (FRESHNESS_TIMEOUT_SECONDS + 1)
    planned = rows * (settings.warmup_seconds + settings.seconds) + worst_freshness
    if settings.import_rows:
        planned += IMPORT_TIMEOUT_SECONDS + DRAIN_TIMEOUT_SECONDS
    if settings.forecast_deals:
        planned += REBUILD_TIMEOUT_SECONDS
    return max(MIN_TOKEN_TTL_SECONDS, int(2 * planned) + 600)


def bench_env(settings: Settings) -> dict[str, str]:
    """Production mode with bench secrets, limits that never throttle, and a token that outlives the run."""
    return {
        "CRM_ENV": "production",
        "GATEWAY_SIGNING_KEY": BENCH_SIGNING_KEY,
        "CRM_ADMIN_EMAIL": BENCH_ADMIN_EMAIL,
        "CRM_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD,
        "GATEWAY_RATE_LIMITS": ",".join(f"{role}={BENCH_RATE_LIMIT}" for role in BENCH_RATE_ROLES),
        "ACCESS_TOKEN_TTL_SECONDS": str(token_ttl_seconds(settings)),
    }


def sign_in(gateway_url: str, settings: Settings) -> dict[str, str]:
    """Sign in once as the bench admin; answer the headers every benchmarked request carries."""
    status, answer = JsonClient(gateway_url).request(
        "POST", "/api/v1/auth/token", {"email": BENCH_ADMIN_EMAIL, "password": BENCH_ADMIN_PASSWORD}
    )
    if status != 200 or not isinstance(answer, dict) or "access_token" not in answer:
        raise RuntimeError(f"signing in as {BENCH_ADMIN_EMAIL} answered {status}: {answer}")
    if answer.get("token_type", "").lower() != "bearer":
        raise RuntimeError(f"signing in answered token_type {answer.get('token_type')!r}, not Bearer")
    wanted = token_ttl_seconds(settings)
    if int(answer.get("expires_in", 0)) < wanted:
        raise RuntimeError(f"the access token expires in {answer.get('expires_in')} s; the bench needs {wanted} s")
    return {"Authorization": f"Bearer {answer['access_token']}"}


@contextmanager
def running_stack(amqp_uri: str, settings: Settings) -> Iterator[Stack]:
    stack = Stack(STACK_DIR, amqp_uri, port_offset=PORT_OFFSET, extra_env=bench_env(settings))
    # A run killed with -9 leaves processes bound to a vhost that no longer exists, and old data: start clean.
    stack.down()
    shutil.rmtree(STACK_DIR, ignore_errors=True)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@dataclass(frozen=True)
class NaiveGateway:
    url: str
    pid: int


@contextmanager
def naive_gateway(stack: Stack) -> Iterator[NaiveGateway]:
    """The naive gateway under the very gunicorn command line the real gateway runs with."""
    command = stack.command(GATEWAY)
    if command[-1] != GATEWAY.target:
        raise RuntimeError(f"unexpected gateway command line: {command}")
    command[command.index("--bind") + 1] = f"127.0.0.1:{NAIVE_PORT}"
    command[-1] = "tests.bench.naive_gateway:create_app()"
    os.makedirs(stack.log_dir, exist_ok=True)
    with open(os.path.join(stack.log_dir, "naive_gateway.log"), "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=stack.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{NAIVE_PORT}"
    try:
        _wait_http_ok(url + "/readyz", process, timeout=30)
        yield NaiveGateway(url, process.pid)
    finally:
        _stop_group(process)


def _wait_http_ok(url: str, process: subprocess.Popen, timeout: float) -> None:
    client = JsonClient(url)
    path = urllib.parse.urlsplit(url).path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}; see var/bench/stack/log/")
        try:
            if client.request("GET", path)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:g}s")


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _expect_200(base_url: str, path: str, headers: dict[str, str]) -> None:
    """Load on a broken endpoint would measure error pages: refuse to start instead."""
    status, body = JsonClient(base_url, headers).request("GET", path)
    if status != 200:
        raise RuntimeError(f"GET {base_url}{path} answered {status}: {body}")


def cpu_groups(stack: Stack, naive: NaiveGateway) -> dict:
    contacts, *others = SERVICES
    other_leaders = [stack.pid(service) for service in others]
    return {
        "gateway": cpu.process_group(stack.pid(GATEWAY)),
        "naive gateway": cpu.process_group(naive.pid),
        "contacts": cpu.process_group(stack.pid(contacts)),
        "rabbitmq": cpu.broker_group,
        "other services": lambda by_pid: set().union(*(cpu.process_group(pid)(by_pid) for pid in other_leaders)),
    }


def measure_throughput(
    generator: Generator, settings: Settings, targets: dict[str, str], groups: dict, headers: dict[str, str]
) -> tuple[dict[str, LoadResult], dict[str, dict]]:
    """Every row sends the same request headers; the naive gateway ignores the Authorization header."""
    results, cpu_use = {}, {}
    for name, url in targets.items():
        print(f"  {name:<10} {url}: warm-up {settings.warmup_seconds} s, measure {settings.seconds} s ...", flush=True)
        generator.run(url, settings.warmup_seconds, settings.concurrency, headers)
        before = cpu.snapshot()
        results[name] = generator.run(url, settings.seconds, settings.concurrency, headers)
        cpu_use[name] = cpu.cpu_split(before, cpu.snapshot(), groups, results[name].responses)
    return results, cpu_use


def measure_freshness(gateway_url: str, writes: int, headers: dict[str, str]) -> dict:
    """Create a contact, then poll search until it is found: the delay a user sees between the two."""
    client = JsonClient(gateway_url, headers)
    delays_ms: list[float] = []
    timeouts = 0
    for i in range(writes):
        token = f"fresh{uuid.uuid4().hex[:12]}"
        status, created = client.request(
            "POST",
            "/api/v1/contacts",
            {"first_name": "Fresh", "last_name": f"Bench{i}", "email": f"{token}@bench.example.com"},
        )
        if status != 201:
            raise RuntimeError(f"creating a contact answered {status}: {created}")
        written = time.monotonic()
        deadline = written + FRESHNESS_TIMEOUT_SECONDS
        found = None
        while found is None and time.monotonic() < deadline:
            status, page = client.request("GET", f"/api/v1/search?q={token}")
            if status == 200 and any(hit.get("id") == created["id"] for hit in page.get("data", [])):
                found = time.monotonic()
            else:
                time.sleep(FRESHNESS_POLL_SECONDS)
        if found is None:
            timeouts += 1
            delays_ms.append(FRESHNESS_TIMEOUT_SECONDS * 1000)  # counted at the timeout, so p95 cannot hide it
        else:
            delays_ms.append((found - written) * 1000)
    client.close()
    ordered = sorted(delays_ms)
    return {
        "writes": writes,
        "timeouts": timeouts,
        "poll_interval_ms": FRESHNESS_POLL_SECONDS * 1000,
        "timeout_ms": FRESHNESS_TIMEOUT_SECONDS * 1000,
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(sum(ordered) / len(ordered), 1),
    }


def machine_info(generator: Generator) -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=False, capture_output=True, text=True).stdout

    commit, dirty = git("rev-parse", "--short", "HEAD").strip(), git("status", "--porcelain").strip()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "generator": generator.name,
        "git_commit": commit or None,
        "git_dirty": bool(dirty),
    }


def checks(
    results: dict[str, LoadResult],
    freshness: dict,
    imported: dict | None = None,
    forecast: dict | None = None,
    search_scale: dict | None = None,
) -> list[dict]:
    rpc = results["rpc_get"].ok_rps

    def ratio(name: str, other: str, target: float) -> dict:
        base = results[other].ok_rps
        value = rpc / base if base else None
        return {
            "name": f"{name} / {other}",
            "value": round(value, 3) if value is not None else None,
            "target": f">= {target:g}x",
            "pass": value is not None and value >= target,
        }

    return [
        ratio("rpc_get", "ping", RPC_OVER_PING_TARGET),
        ratio("rpc_get", "naive_get", RPC_OVER_NAIVE_TARGET),
        ratio("rpc_get", "naive_per_request", RPC_OVER_NAIVE_TARGET),
        {
            "name": "search freshness p95",
            "value": freshness["p95_ms"],
            "target": f"<= {FRESHNESS_P95_TARGET_MS:g} ms",
            "pass": freshness["p95_ms"] <= FRESHNESS_P95_TARGET_MS and freshness["timeouts"] == 0,
        },
        *(
            [
                {
                    "name": f"import {imported['rows'] // 1000}k rows",
                    "value": imported["seconds"],
                    "target": f"<= {IMPORT_TARGET_SECONDS:g} s",
                    "pass": imported["status"] == "completed" and imported["seconds"] <= IMPORT_TARGET_SECONDS,
                }
            ]
            if imported
            else []
        ),
        *forecast_checks(forecast),
        *search_scale_checks(search_scale),
    ]


ROW_LABELS = {
    "ping": "ping      GET /api/v1/ping (auth, no RPC)",
    "rpc_get": "rpc_get   GET /api/v1/contacts/{id} (auth)",
    "naive_get": "naive_get GET /api/v1/contacts/{id} (proxy per thread)",
    "naive_per_request": "naive_per_request (proxy per request)",
}


def _fmt(value: float | None, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def render(report: dict) -> str:
    s, m, f = report["settings"], report["machine"], report["freshness"]
    dirty = " (dirty)" if m["git_dirty"] else ""
    lines = [
        f"CRM gateway benchmark  {report['timestamp']}  commit {m['git_commit']}{dirty}",
        (
            f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
            f"load average at start {m['load_average_at_start'][0]}"
        ),
        f"gateway: gunicorn gthread, {s['gateway_workers']} workers x {s['gateway_threads']} threads (naive: the same)",
        f"auth: {report['authentication']['note']}",
        (
            f"load: {m['generator']}; {s['concurrency']} keep-alive connections; "
            f"{s['seconds']} s each after {s['warmup_seconds']} s warm-up"
        ),
        "",
        f"{'endpoint':<52}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}",
    ]
    for name, row in report["throughput"].items():
        lines.append(
            f"{ROW_LABELS[name]:<52}{row['ok_rps']:>10.1f}{_fmt(row['p50_ms']):>10}"
            f"{_fmt(row['p99_ms']):>10}{row['errors']:>8}"
        )
    groups = list(next(iter(report["cpu"].values()))["ms_per_request"])
    lines += [
        "",
        "CPU ms per request in each measured run (every process shares the same cores):",
        f"{'':<11}" + "".join(f"{name:>15}" for name in groups) + f"{'others, cores':>15}{'idle':>7}",
    ]
    for name, use in report["cpu"].items():
        lines.append(
            f"{name:<11}"
            + "".join(f"{_fmt(use['ms_per_request'][g], 2):>15}" for g in groups)
            + f"{_fmt(use['other_processes_cores'], 2):>15}{_fmt(use['machine_idle_pct']) + '%':>7}"
        )
    lines += ["", f"{'check':<28}{'measured':>12}{'target':>14}  result"]
    for check in report["checks"]:
        name = check["name"]
        unit = (
            " MB"
            if name.endswith("RSS in reindex")
            else " ms"
            if name.startswith(("search", "forecast"))
            else " s"
            if name.startswith("import")
            else "x"
        )
        value = f"{check['value']:.2f}{unit}" if check["value"] is not None else "n/a"
        lines.append(f"{check['name']:<28}{value:>12}{check['target']:>14}  {'PASS' if check['pass'] else 'MISS'}")
    lines += [
        (
            f"  freshness over {f['writes']} writes: p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, "
            f"max {f['max_ms']:.1f} ms, timeouts {f['timeouts']} (poll every {f['poll_interval_ms']:g} ms)"
        ),
        "  req/s counts 200 answers only; errors = non-200 answers + socket errors and timeouts",
        *forecast_lines(report.get("forecast")),
    ]
    imported = report.get("import")
    if imported:
        drained, found = imported["outbox_drained_seconds"], imported["search_caught_up_seconds"]
        per_row = imported["cpu_ms_per_row"]["ms_per_request"]
        lines += [
            (
                f"  import: {imported['rows']} rows ({imported['csv_bytes'] / 1e6:.1f} MB CSV, "
                f"{imported['repeated_rows']} repeating an earlier row) {imported['status']} in "
                f"{imported['seconds']:.1f} s = {imported['rows_per_second']:.0f} rows/s (upload answered in "
                f"{imported['upload_seconds']:.1f} s); created {imported['created']}, skipped {imported['skipped']}, "
                f"failed {imported['failed']}"
            ),
            (
                f"  after the POST: outbox drained at {_fmt(drained)} s, search found the last row at {_fmt(found)} s; "
                "CPU ms per row: " + ", ".join(f"{name} {_fmt(ms, 2)}" for name, ms in per_row.items())
            ),
        ]
    lines += search_scale_lines(report.get("search_scale"))
    for name, row in report["throughput"].items():
        if row["errors"]:
            log = "naive_gateway.log" if name.startswith("naive") else "gateway.log"
            lines.append(
                f"  WARNING {name}: {row['non200']} non-200 answers, {row['socket_errors']} socket errors; "
                f"see {os.path.join(STACK_DIR, 'log', log)}"
            )
    return "\n".join(lines)


def write_report(report: dict) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamped = os.path.join(RESULTS_DIR, f"bench-{report['timestamp'].replace(':', '')}.json")
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    for path in (stamped, os.path.join(RESULTS_DIR, "latest.json")):
        with open(path, "w") as fh:
            fh.write(text)
    return stamped


def run(settings: Settings) -> dict:
    timestamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    generator = choose_generator(settings.generator)
    print(f"load generator: {generator.name}", flush=True)
    base_uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    ensure_broker(base_uri)
    machine = machine_info(generator)
    with (
        private_vhost(base_uri) as amqp_uri,
        running_stack(amqp_uri, settings) as stack,
        naive_gateway(stack) as naive,
    ):
        auth = sign_in(stack.gateway_url, settings)
        status, contact = JsonClient(stack.gateway_url, auth).request(
            "POST", "/api/v1/contacts", {"first_name": "Bench", "last_name": "Mark", "email": "bench@example.com"}
        )
        if status != 201:
            raise RuntimeError(f"creating the benchmark contact answered {status}: {contact}")
        contact_path = f"/api/v1/contacts/{contact['id']}"
        targets = {
            "ping": stack.gateway_url + "/api/v1/ping",
            "rpc_get": stack.gateway_url + contact_path,
            "naive_get": naive.url + contact_path,
            "naive_per_request": naive.url + "/per-request" + contact_path,
        }
        for url in targets.values():
            parsed = urllib.parse.urlsplit(url)
            _expect_200(f"{parsed.scheme}://{parsed.netloc}", parsed.path, auth)
        print("throughput:", flush=True)
        results, cpu_use = measure_throughput(generator, settings, targets, cpu_groups(stack, naive), auth)
        print(f"freshness: {settings.freshness_writes} writes ...", flush=True)
        freshness = measure_freshness(stack.gateway_url, settings.freshness_writes, auth)
        forecast = None
        if settings.forecast_deals:
            print(f"forecast: {settings.forecast_deals} deals ...", flush=True)
            forecast = measure_forecast(stack, auth, settings.forecast_deals, settings.forecast_calls)
        imported = None
        if settings.import_rows:
            # Last: the outbox then has the import's events to publish, which would disturb the rows above.
            print(f"import: {settings.import_rows} rows through POST /api/v1/imports ...", flush=True)
            contacts_url = f"http://127.0.0.1:{stack.port(SERVICES[0])}"
            imported = measure_import(
                stack.gateway_url, contacts_url, auth, settings.import_rows, cpu_groups(stack, naive)
            )
        search_scale = None
        if settings.search_scale.docs or settings.search_scale.reindex_docs:
            print("search at scale:", flush=True)
            search_scale = measure_search_scale(stack, settings.search_scale, RESULTS_DIR)
    return {
        "timestamp": timestamp,
        "machine": machine,
        "settings": {
            "seconds": settings.seconds,
            "warmup_seconds": settings.warmup_seconds,
            "concurrency": settings.concurrency,
            "keep_alive": True,
            "gateway_workers": int(os.environ.get("GATEWAY_WORKERS", "2")),
            "gateway_threads": int(os.environ.get("GATEWAY_THREADS", "8")),
            "freshness_writes": settings.freshness_writes,
            "import_rows": settings.import_rows,
            "forecast_deals": settings.forecast_deals,
            "forecast_calls": settings.forecast_calls,
            "search_docs": settings.search_scale.docs,
            "reindex_docs": settings.search_scale.reindex_docs,
        },
        "authentication": {
            "note": authentication_note(),
            "gateway_rows": ["ping", "rpc_get"],
            "per_request": [
                "one HS256 JWT verify",
                "session lookup",
                "user lookup",
                "team membership lookup",
                "rate-limit bucket read and write (one transaction)",
            ],
            "store": gateway_store_kind(),
            "credential": "Authorization: Bearer <access token of the admin, signed in once>",
            "gateway_mode": "production (CRM_ENV=production, bench secrets)",
            "rate_limits": bench_env(settings)["GATEWAY_RATE_LIMITS"],
            "access_token_ttl_seconds": token_ttl_seconds(settings),
            "naive_rows": "no credential check (the Authorization header is sent and ignored)",
        },
        "throughput": {name: result.to_dict() for name, result in results.items()},
        "cpu": cpu_use,
        "freshness": freshness,
        "import": imported,
        "forecast": forecast,
        "search_scale": search_scale,
        "checks": checks(results, freshness, imported, forecast, search_scale),
    }


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM unwinds like Ctrl-C, so the stack, the naive gateway and the vhost are all torn down.
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = run(Settings.from_env())
    except KeyboardInterrupt:
        print("interrupted; platform stopped", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - any failure of the harness itself ends in a traceback and exit 1
        traceback.print_exc()
        print(f"benchmark harness failed; logs in {os.path.join(STACK_DIR, 'log')}", file=sys.stderr)
        return 1
    print()
    print(render(report))
    print(f"\nwritten: {write_report(report)} and {os.path.join(RESULTS_DIR, 'latest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
