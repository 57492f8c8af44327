"""The monitoring component (deploy/k8s/monitoring): the rule files pass `promtool check rules` and
their unit tests, every alert has a unit test, the PrometheusRule objects and dashboards are what
generate.py makes of their sources, the component renders, every dashboard query parses, and every
query names only metrics the platform exports or the README documents as external."""

import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "rules" / "tests").glob("*.yml"))
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
SOURCES = [ROOT / "libs", ROOT / "services", ROOT / "gateway"]


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make monitoring-tools` installs it (Debian package prometheus)"
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=MONITORING)


def test_the_rule_files_pass_promtool_check() -> None:
    assert RULE_FILES
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_unit_tests_pass() -> None:
    assert RULE_TESTS
    result = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def rules() -> list[dict]:
    return [
        rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def test_every_alert_has_a_unit_test_and_a_runbook_entry() -> None:
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts and alerts <= tested, f"alerts without a firing unit test: {sorted(alerts - tested)}"
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{rule['alert'].lower()}"


def test_the_generated_files_are_up_to_date() -> None:
    """One source: the PrometheusRule objects carry the plain files' groups unchanged."""
    generate = runpy.run_path(str(MONITORING / "generate.py"))
    stale = [
        str(p.relative_to(ROOT)) for p, text in generate["outputs"]().items() if not p.exists() or p.read_text() != text
    ]
    assert not stale, f"run `python deploy/k8s/monitoring/generate.py`: {stale}"
    for path in RULE_FILES:
        generated = yaml.safe_load((MONITORING / f"prometheusrule-{path.stem}.yaml").read_text())
        assert generated["kind"] == "PrometheusRule" and generated["apiVersion"] == "monitoring.coreos.com/v1"
        assert generated["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"]


def kubectl() -> str | None:
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


def test_the_component_renders_with_monitors_rules_and_dashboards() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert (kustomization["apiVersion"], kustomization["kind"]) == ("kustomize.config.k8s.io/v1alpha1", "Component")
    assert kubectl() is not None, "kubectl is missing: `make test` installs it (make k8s-lint)"
    result = subprocess.run([kubectl(), "kustomize", str(MONITORING)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceMonitor"}
    assert set(monitors) == {"gateway", "contacts", "sales", "service-desk", "notifications", "search"}
    for name, monitor in monitors.items():
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "PrometheusRule"} == {
        f"crm-{p.stem}" for p in RULE_FILES
    }
    (dashboards,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert set(dashboards["data"]) == {p.name for p in DASHBOARDS}


def test_the_monitors_match_the_base_services() -> None:
    """Each ServiceMonitor selects a Service of the base by its labels and names a port it has."""
    base = ROOT / "deploy" / "k8s" / "base"
    services = list(base.glob("*/service.yaml"))
    assert services, "the base has no Service"
    by_name = {}
    for path in services:
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj["kind"] == "Service":
                by_name[obj["metadata"]["name"]] = obj
    for monitor in yaml.safe_load_all((MONITORING / "servicemonitors.yaml").read_text()):
        if not monitor or monitor["kind"] != "ServiceMonitor":
            continue
        service = by_name[monitor["metadata"]["name"]]
        labels = {**service["metadata"]["labels"], "app.kubernetes.io/part-of": "crm"}  # base adds part-of
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert "http" in {p["name"] for p in service["spec"]["ports"]}


# dashboards


def dashboard_exprs() -> list[tuple[str, str, str]]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"] and board["panels"], path.name
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((path.name, panel["title"], target["expr"]))
    return found


def test_the_dashboards_cover_the_platform_each_service_and_the_business() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert {"crm-platform-overview", "crm-business", "crm-gateway"} <= names
    assert {f"crm-{s}" for s in ("contacts", "sales", "service-desk", "notifications", "search")} <= names
    business = " ".join(expr for name, _, expr in dashboard_exprs() if name == "crm-business.json")
    for needed in ("contact_created", "crm_pipeline_value", "crm:tickets_sla_compliance:ratio_1d"):
        assert needed in business


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    assert exprs
    group = {
        "name": "dashboards",
        "rules": [{"record": f"dashboard:query_{i}", "expr": e} for i, (_, _, e) in enumerate(exprs)],
    }
    rule_file = tmp_path / "dashboards.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [group]}))
    result = subprocess.run([promtool(), "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# metric names

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression reads."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        name, rest = match.group(), expr[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in KEYWORDS or re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


def exported_metrics() -> set[str]:
    """Every metric the platform's code defines, with the sample names prometheus_client gives it."""
    pattern = re.compile(
        r"\b(Counter|Gauge|Histogram|Summary|GaugeMetricFamily|CounterMetricFamily)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\""
    )
    found: set[str] = set()
    for root in SOURCES:
        for path in root.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for kind, name in pattern.findall(path.read_text()):
                if kind.startswith("Counter"):
                    found.add(name.removesuffix("_total") + "_total")
                elif kind in ("Histogram", "Summary"):
                    found.update(
                        {name + "_count", name + "_sum"} | ({name + "_bucket"} if kind == "Histogram" else set())
                    )
                else:
                    found.add(name)
    return found


def documented_external() -> set[str]:
    """The README's list of metrics other exporters provide (RabbitMQ plugin, kube-state-metrics, ...)."""
    text = (MONITORING / "README.md").read_text()
    section = text.split("## External metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([a-zA-Z_:][a-zA-Z0-9_:]*)`", section, re.MULTILINE))


def test_the_inventory_finds_the_platform_metrics() -> None:
    exported = exported_metrics()
    for name in (
        "crm_rpc_duration_seconds_bucket",
        "crm_http_requests_total",
        "crm_outbox_backlog",
        "crm_search_freshness_seconds_bucket",
        "crm_pipeline_value",
        "crm_tickets_resolved_total",
        "crm_rate_limit_fallbacks_total",
    ):
        assert name in exported
    assert metric_names('sum by (le) (rate(a_b{x="y"}[5m])) / on (q) up unless c:d') == {"a_b", "up", "c:d"}


def test_every_query_names_only_exported_or_documented_metrics() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    known = exported_metrics() | documented_external() | recorded
    queries = [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for r in rules()]
    queries += [(f"{name}: {title}", expr) for name, title, expr in dashboard_exprs()]
    unknown = {(where, name) for where, expr in queries for name in metric_names(expr) if name not in known}
    assert not unknown, f"metrics nobody exports or documents: {sorted(unknown)}"
    # and every documented external metric is really used (the list is no wish list)
    used = {name for _, expr in queries for name in metric_names(expr)}
    assert documented_external() <= used, sorted(documented_external() - used)
