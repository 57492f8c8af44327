"""The benchmark's forecast figure: GET /api/v1/reports/forecast through the gateway over BENCH_FORECAST_DEALS
(300000; 0 leaves it out) deals, timed as an admin and as a manager, against the 200 ms target.

    python -m tests.bench.forecast     (this figure alone, on a platform of its own; `make bench` runs it too)

Creating that many deals through the API would take longer than the rest of the benchmark, so the deals are
written straight into the bench platform's sales store (the SQLite file the running service uses), built by
the service's own rules (`sales.domain.new_deal` / `apply_deal_changes`: stages, won and lost, close times,
furthest stage). Then the sales service recomputes its rollups from them through its own RPC
`rebuild_deal_rollups`, as an admin would after an upgrade: the report reads exactly what the service keeps.
The users, the teams, the second pipeline and the quotas go through the API.

The data: FORECAST_REPS reps in teams of FORECAST_TEAM_SIZE, each with a manager and a quarterly quota; two
pipelines; deals created over the last 18 months, closing up to 8 months later, in three currencies; about
55% open (a tenth without an expected close date), 28% won, 17% lost. Each call asks for the current quarter
grouped by owner (the rows a sales meeting looks at), after a few warm-up calls.
"""

import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from tests.bench.imports import Http
from tests.bench.load import percentile

FORECAST_TARGET_MS = 200.0
FORECAST_REPS = 40
FORECAST_TEAM_SIZE = 10
WARMUP_CALLS = 5
SEED_CHUNK = 5000
REBUILD_TIMEOUT_SECONDS = 600.0
PASSWORD = "bench-forecast-password"
CURRENCIES = (("CNY", 0.80), ("USD", 0.15), ("EUR", 0.05))
RENEWALS = {
    "name": "Renewals",
    "stages": [
        {"id": "renewal_due", "name": "Renewal due", "probability": 40},
        {"id": "quote_sent", "name": "Quote sent", "probability": 70},
        {"id": "renewed", "name": "Renewed", "probability": 100},
        {"id": "churned", "name": "Churned", "probability": 0},
    ],
}


def _created(api: Http, path: str, body: dict) -> dict:
    status, answer = api.json("POST", path, json.dumps(body).encode(), "application/json")
    if status != 201:
        raise RuntimeError(f"POST {path} answered {status}: {answer}")
    return answer


def organisation(gateway_url: str, headers: dict[str, str]) -> dict:
    """Reps in teams with a manager each, a quarterly quota per rep, and the Renewals pipeline."""
    api = Http(gateway_url, headers)
    run = f"{random.randrange(16**6):06x}"
    reps = [
        _created(api, "/api/v1/users", _user(f"rep{i}.{run}@forecast.bench", "sales_rep"))["id"]
        for i in range(FORECAST_REPS)
    ]
    managers = []
    for number, start in enumerate(range(0, FORECAST_REPS, FORECAST_TEAM_SIZE)):
        email = f"manager{number}.{run}@forecast.bench"
        manager = _created(api, "/api/v1/users", _user(email, "manager"))
        members = reps[start : start + FORECAST_TEAM_SIZE]
        _created(
            api,
            "/api/v1/teams",
            {"name": f"Forecast {number} {run}", "member_ids": members, "manager_ids": [manager["id"]]},
        )
        managers.append({"id": manager["id"], "email": email, "members": members})
    today = datetime.now(UTC).date()
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    for rep in reps:
        quota = {"owner_id": rep, "period": quarter, "amount": f"{random.randrange(200, 900) * 1000}.00"}
        _created(api, "/api/v1/quotas", {**quota, "currency": "CNY"})
    # The default pipeline is created the first time pipelines are read.
    status, pipelines = api.json("GET", "/api/v1/pipelines")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/pipelines answered {status}: {pipelines}")
    renewals = _created(api, "/api/v1/pipelines", RENEWALS)
    return {"reps": reps, "managers": managers, "pipeline_ids": ["default", renewals["id"]]}


def _user(email: str, role: str) -> dict:
    return {"email": email, "name": email.split("@")[0], "password": PASSWORD, "roles": [role]}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deals(count: int, reps: list[str], pipelines: dict[str, dict], seed: int = 11):
    """`count` deals as the sales service would have written them, oldest first."""
    from sales import domain

    rnd = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=548)
    pipeline_ids = list(pipelines)
    open_stages = {pid: [s["id"] for s in p["stages"] if 0 < s["probability"] < 100] for pid, p in pipelines.items()}
    currencies, weights = zip(*CURRENCIES, strict=True)
    contact_ids = [f"bench-contact-{i}" for i in range(5000)]
    for i in range(count):
        created = start + timedelta(seconds=int(548 * 86400 * i / count))
        pipeline = pipelines[pipeline_ids[0] if rnd.random() < 0.75 else pipeline_ids[1]]
        close_date = None if rnd.random() < 0.05 else (created + timedelta(days=rnd.randrange(0, 240))).date()
        fields = {
            "title": f"Bench deal {i}",
            "amount": f"{rnd.randrange(1000, 200000)}.{rnd.randrange(100):02d}",
            "currency": rnd.choices(currencies, weights)[0],
            "contact_id": rnd.choice(contact_ids),
            "owner_id": rnd.choice(reps),
            "stage_id": rnd.choice(open_stages[pipeline["id"]]),
            "expected_close_date": close_date.isoformat() if close_date else None,
        }
        deal = domain.new_deal(fields, pipeline, fields["owner_id"], _stamp(created))
        outcome = rnd.random()
        if outcome < 0.45:
            closed = min(created + timedelta(days=rnd.randrange(3, 150), seconds=rnd.randrange(86400)), now)
            change = {"status": "won"} if outcome < 0.28 else {"status": "lost", "lost_reason": "price"}
            deal, _ = domain.apply_deal_changes(deal, change, pipeline, _stamp(closed))
        yield deal


def seed_store(data_dir: str, count: int, reps: list[str]) -> dict:
    """Write the deals into the sales service's SQLite file while it runs (WAL: it keeps serving)."""
    from crm_common.store import open_store
    from sales.store import DEALS, PIPELINES, SPECS

    store = open_store(f"sqlite:///{os.path.join(data_dir, 'sales.db')}", SPECS, timeout=60.0)
    try:
        pipelines = {p["id"]: p for p in store[PIPELINES].iterate(None, [("id", 1)])}
        started = time.monotonic()
        chunk: list[dict] = []
        for deal in deals(count, reps, pipelines):
            chunk.append(deal)
            if len(chunk) == SEED_CHUNK:
                with store.transaction() as tx:
                    tx[DEALS].insert_many(chunk)
                chunk = []
        if chunk:
            with store.transaction() as tx:
                tx[DEALS].insert_many(chunk)
        return {"seconds": round(time.monotonic() - started, 1), "pipelines": sorted(pipelines)}
    finally:
        store.close()


def rebuild_rollups(amqp_uri: str, admin_id: str) -> dict:
    """The sales service's own rebuild, called over RPC as the admin (not through the gateway: its
    RPC timeout is meant for requests, not for a rebuild of every deal)."""
    from crm_common.caller import Caller
    from gateway.rpc import RpcClient

    client = RpcClient(amqp_uri, name="bench-forecast")
    try:
        started = time.monotonic()
        answer = client.call("sales", "rebuild_deal_rollups", {}, Caller(admin_id, ("admin",)), REBUILD_TIMEOUT_SECONDS)
        return {**answer, "seconds": round(time.monotonic() - started, 1)}
    finally:
        client.close()


def timed_calls(gateway_url: str, headers: dict[str, str], path: str, calls: int) -> dict:
    """Sequential calls on one keep-alive connection, after a warm-up: latency as a client sees it."""
    from tests.bench.run import JsonClient

    client = JsonClient(gateway_url, headers)
    try:
        for _ in range(WARMUP_CALLS):
            client.request("GET", path)
        times_ms: list[float] = []
        answer = None
        for _ in range(calls):
            started = time.perf_counter()
            status, answer = client.request("GET", path)
            times_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {answer}")
    finally:
        client.close()
    ordered = sorted(times_ms)
    return {
        "calls": calls,
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(sum(ordered) / len(ordered), 1),
        "rows": len(answer["rows"]),
        "open_count": answer["totals"][0]["open_count"],
        "won_count": answer["totals"][0]["won_count"],
    }


def measure_forecast(stack, admin_headers: dict[str, str], deal_count: int, calls: int) -> dict:
    """Seed, rebuild the rollups, then time the report as the admin and as the first team's manager."""
    from tests.bench.run import JsonClient

    org = organisation(stack.gateway_url, admin_headers)
    print(f"  writing {deal_count} deals into the sales store ...", flush=True)
    seeded = seed_store(stack.data_dir, deal_count, org["reps"])
    status, me = JsonClient(stack.gateway_url, admin_headers).request("GET", "/api/v1/me")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/me answered {status}: {me}")
    print("  rebuilding the deal rollups (sales.rebuild_deal_rollups) ...", flush=True)
    rebuilt = rebuild_rollups(stack.amqp_uri, me["id"])
    if rebuilt["deals"] < deal_count:
        raise RuntimeError(f"the rebuild counted {rebuilt['deals']} deals, fewer than the {deal_count} written")
    manager = org["managers"][0]
    status, token = JsonClient(stack.gateway_url).request(
        "POST", "/api/v1/auth/token", {"email": manager["email"], "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"signing in as {manager['email']} answered {status}: {token}")
    manager_headers = {"Authorization": f"Bearer {token['access_token']}"}
    path = "/api/v1/reports/forecast?group_by=owner"
    print(f"  GET {path}: {calls} calls as the admin, then as a manager ...", flush=True)
    admin = timed_calls(stack.gateway_url, admin_headers, path, calls)
    as_manager = timed_calls(stack.gateway_url, manager_headers, path, calls)
    return {
        "deals": deal_count,
        "reps": len(org["reps"]),
        "manager_reps": len(manager["members"]),
        "pipelines": seeded["pipelines"],
        "seed_seconds": seeded["seconds"],
        "rebuild_seconds": rebuilt["seconds"],
        "rebuilt_deals": rebuilt["deals"],
        "buckets": rebuilt["buckets"],
        "query": path,
        "target_ms": FORECAST_TARGET_MS,
        "admin": admin,
        "manager": as_manager,
    }


def forecast_checks(forecast: dict | None) -> list[dict]:
    if not forecast:
        return []
    return [
        {
            "name": f"forecast {forecast['deals'] // 1000}k p95 {who}",
            "value": forecast[who]["p95_ms"],
            "target": f"<= {FORECAST_TARGET_MS:g} ms",
            "pass": forecast[who]["p95_ms"] <= FORECAST_TARGET_MS,
        }
        for who in ("admin", "manager")
    ]


def forecast_lines(forecast: dict | None) -> list[str]:
    if not forecast:
        return []
    a, m = forecast["admin"], forecast["manager"]
    return [
        (
            f"  forecast: {forecast['deals']} deals written into the sales store in {forecast['seed_seconds']:.1f} s, "
            f"rollups rebuilt by the service in {forecast['rebuild_seconds']:.1f} s ({forecast['buckets']} buckets); "
            f"{forecast['query']}"
        ),
        (
            f"    admin ({forecast['reps']} reps, {a['rows']} rows): p50 {a['p50_ms']:.1f} ms, "
            f"p95 {a['p95_ms']:.1f} ms, max {a['max_ms']:.1f} ms over {a['calls']} calls; "
            f"manager ({forecast['manager_reps']} reps, "
            f"{m['rows']} rows): p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms, max {m['max_ms']:.1f} ms"
        ),
    ]


def main() -> int:
    """This figure alone: a bench platform of its own, the figure printed and written to var/bench/."""
    from crm_common.config import DEFAULT_AMQP_URI
    from crm_common.devstack import ensure_broker
    from crm_common.testing import private_vhost
    from tests.bench.run import RESULTS_DIR, Settings, running_stack, sign_in

    settings = Settings.from_env()
    if not settings.forecast_deals:
        print("BENCH_FORECAST_DEALS is 0: nothing to measure")
        return 0
    base_uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    ensure_broker(base_uri)
    with private_vhost(base_uri) as amqp_uri, running_stack(amqp_uri, settings) as stack:
        forecast = measure_forecast(
            stack, sign_in(stack.gateway_url, settings), settings.forecast_deals, settings.forecast_calls
        )
    print("\n".join(forecast_lines(forecast)))
    for check in forecast_checks(forecast):
        print(
            f"{check['name']:<28}{check['value']:>9.1f} ms{check['target']:>14}  {'PASS' if check['pass'] else 'MISS'}"
        )
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"forecast-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json")
    with open(path, "w") as fh:
        fh.write(json.dumps({"forecast": forecast, "checks": forecast_checks(forecast)}, indent=2) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
