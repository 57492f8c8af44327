"""Writes what this folder derives from its sources: the PrometheusRule objects from the plain rule
files rules/*.yml (their `groups`, unchanged), and the Grafana dashboards dashboards/*.json.
Run `python deploy/k8s/monitoring/generate.py` after changing either; tests/deploy/test_monitoring.py
fails while the written files differ from what this produces."""

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SERVICES = ("contacts", "sales", "service-desk", "notifications", "search")
# The `service` label of the services' metrics is their nameko name (service_desk, not service-desk).
NAMEKO = {name: name.replace("-", "_") for name in SERVICES}
NEW_CUSTOMERS = 'crm_events_published_total{service="contacts", event_type=~"contact_created|company_created"}'
SLA_BREACHES = 'crm_events_published_total{service="service_desk", event_type="ticket_sla_breached"}'
DS = {"type": "prometheus", "uid": "${datasource}"}


def prometheus_rule(rule_file: Path) -> str:
    groups = yaml.safe_load(rule_file.read_text())["groups"]
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"crm-{rule_file.stem}", "labels": {"app.kubernetes.io/part-of": "crm"}},
        "spec": {"groups": groups},
    }
    header = f"# GENERATED from rules/{rule_file.name} by generate.py: edit that file, then run generate.py.\n"
    return header + yaml.safe_dump(obj, sort_keys=False, width=1000, allow_unicode=True)


# dashboards


def panel(title: str, exprs: list[tuple[str, str]], unit: str = "short", kind: str = "timeseries") -> dict:
    return {
        "type": kind,
        "title": title,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(uid: str, title: str, panels: list[dict], tags: list[str]) -> dict:
    for i, p in enumerate(panels):
        width = 8 if p["type"] == "stat" else 12
        per_row = 24 // width
        p["id"] = i + 1
        p["gridPos"] = {
            "h": 4 if p["type"] == "stat" else 8,
            "w": width,
            "x": (i % per_row) * width,
            "y": i // per_row * 8,
        }
    return {
        "uid": uid,
        "title": title,
        "tags": ["crm", *tags],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
        },
        "panels": panels,
    }


def overview() -> dict:
    return dashboard(
        "crm-platform-overview",
        "CRM / Platform overview",
        [
            panel(
                "Targets up",
                [('sum by (job) (up{job=~"gateway|contacts|sales|service-desk|notifications|search"})', "{{job}}")],
            ),
            panel("Gateway requests per second", [("crm:http_requests:rate5m", "requests/s")], "reqps"),
            panel("Gateway 5xx ratio", [("crm:http_errors:ratio_rate5m", "5xx")], "percentunit"),
            panel("Gateway p95 latency", [("crm:http_request_duration_seconds:p95_5m", "p95")], "s"),
            panel(
                "RPC error ratio by service", [("service:crm_rpc_errors:ratio_rate5m", "{{service}}")], "percentunit"
            ),
            panel("RPC p95 latency by service", [("service:crm_rpc_duration_seconds:p95_5m", "{{service}}")], "s"),
            panel(
                "Events handled / failed per second",
                [
                    ("service:crm_events_handled:rate5m", "{{service}} handled"),
                    ("service:crm_events_failed:rate5m", "{{service}} failed"),
                ],
                "ops",
            ),
            panel("Outbox backlog", [("service:crm_outbox_backlog:max", "{{service}}")]),
            panel("Dead letters parked", [("service:crm_dead_letters:max", "{{service}}")]),
            panel("RabbitMQ ready messages by queue", [("queue:rabbitmq_queue_messages_ready:sum", "{{queue}}")]),
            panel("RabbitMQ consumers by queue", [("queue:rabbitmq_queue_consumers:sum", "{{queue}}")]),
            panel(
                "Pod restarts (15 min)",
                [
                    (
                        "sum by (pod) (increase(kube_pod_container_status_restarts_total"
                        '{container=~"gateway|contacts|sales|service-desk|notifications|search"}[15m]))',
                        "{{pod}}",
                    )
                ],
            ),
        ],
        ["overview"],
    )


def business() -> dict:
    return dashboard(
        "crm-business",
        "CRM / Business",
        [
            panel(
                "New customers (24 h)",
                [
                    (
                        f"sum(increase({NEW_CUSTOMERS}[1d]))",
                        "new customers",
                    )
                ],
                kind="stat",
            ),
            panel("Open pipeline value", [("currency:crm_pipeline_value:max", "{{currency}}")], kind="stat"),
            panel(
                "SLA compliance (24 h)", [("crm:tickets_sla_compliance:ratio_1d", "compliance")], "percentunit", "stat"
            ),
            panel(
                "New customers per hour",
                [
                    (
                        f"sum by (event_type) (increase({NEW_CUSTOMERS}[1h]))",
                        "{{event_type}}",
                    ),
                ],
            ),
            panel("Pipeline value by currency", [("currency:crm_pipeline_value:max", "{{currency}}")]),
            panel("Open deals by currency", [("max by (currency) (crm_pipeline_open_deals)", "{{currency}}")]),
            panel(
                "Tickets resolved per hour by SLA outcome",
                [("sum by (sla) (increase(crm_tickets_resolved_total[1h]))", "{{sla}}")],
            ),
            panel(
                "SLA breaches per hour",
                [
                    (
                        f"sum(increase({SLA_BREACHES}[1h]))",
                        "breaches",
                    )
                ],
            ),
        ],
        ["business"],
    )


def service_common(name: str) -> list[dict]:
    svc = NAMEKO[name]
    sel = f'service="{svc}"'
    return [
        panel("Pods up", [(f'sum(up{{job="{name}"}})', "up")], kind="stat"),
        panel(
            "RPC calls per second by method",
            [(f"sum by (method) (rate(crm_rpc_duration_seconds_count{{{sel}}}[5m]))", "{{method}}")],
            "reqps",
        ),
        panel("RPC error ratio", [(f"service:crm_rpc_errors:ratio_rate5m{{{sel}}}", "errors")], "percentunit"),
        panel(
            "RPC p95 latency by method",
            [
                (
                    "histogram_quantile(0.95, sum by (method, le) "
                    f"(rate(crm_rpc_duration_seconds_bucket{{{sel}}}[5m])))",
                    "{{method}}",
                )
            ],
            "s",
        ),
        panel(
            "Event handlers: handled / failed per second",
            [
                (f"sum by (handler) (rate(crm_events_handled_total{{{sel}}}[5m]))", "{{handler}} handled"),
                (f"sum by (handler) (rate(crm_events_failed_total{{{sel}}}[5m]))", "{{handler}} failed"),
            ],
            "ops",
        ),
        panel(
            "Dead letters (parked) and dead-lettered per hour",
            [
                (f"service:crm_dead_letters:max{{{sel}}}", "parked"),
                (f"sum(increase(crm_events_dead_lettered_total{{{sel}}}[1h]))", "dead-lettered / h"),
            ],
        ),
        panel(
            "Outbox backlog and events published per second",
            [
                (f"service:crm_outbox_backlog:max{{{sel}}}", "backlog"),
                (f"sum by (event_type) (rate(crm_events_published_total{{{sel}}}[5m]))", "{{event_type}} /s"),
            ],
        ),
        panel("Process memory", [(f'process_resident_memory_bytes{{job="{name}"}}', "{{instance}}")], "bytes"),
        panel("Process CPU", [(f'rate(process_cpu_seconds_total{{job="{name}"}}[5m])', "{{instance}}")], "percentunit"),
        panel(
            "Restarts (15 min)",
            [
                (
                    f'sum by (pod) (increase(kube_pod_container_status_restarts_total{{container="{name}"}}[15m]))',
                    "{{pod}}",
                )
            ],
        ),
    ]


EXTRA = {
    "sales": [
        panel("Open pipeline value by currency", [("currency:crm_pipeline_value:max", "{{currency}}")]),
        panel("Open deals by currency", [("max by (currency) (crm_pipeline_open_deals)", "{{currency}}")]),
    ],
    "service-desk": [
        panel(
            "Tickets resolved per hour by SLA outcome",
            [("sum by (sla) (increase(crm_tickets_resolved_total[1h]))", "{{sla}}")],
        ),
        panel("SLA compliance (24 h)", [("crm:tickets_sla_compliance:ratio_1d", "compliance")], "percentunit"),
    ],
    "search": [
        panel("Freshness p95 by type", [("type:crm_search_freshness_seconds:p95_5m", "{{type}}")], "s"),
        panel("Searchable documents by type", [("max by (type) (crm_search_documents)", "{{type}}")]),
        panel(
            "Documents reindexed per second",
            [("sum by (type) (rate(crm_search_reindex_documents_total[5m]))", "{{type}}")],
            "ops",
        ),
    ],
    "contacts": [
        panel(
            "Customers created per hour",
            [
                (
                    f"sum by (event_type) (increase({NEW_CUSTOMERS}[1h]))",
                    "{{event_type}}",
                )
            ],
        ),
    ],
}


def gateway() -> dict:
    return dashboard(
        "crm-gateway",
        "CRM / Gateway",
        [
            panel("Pods up", [('sum(up{job="gateway"})', "up")], kind="stat"),
            panel(
                "Requests per second by status",
                [("sum by (status) (rate(crm_http_requests_total[5m]))", "{{status}}")],
                "reqps",
            ),
            panel("5xx ratio", [("crm:http_errors:ratio_rate5m", "5xx")], "percentunit"),
            panel("p95 latency", [("crm:http_request_duration_seconds:p95_5m", "p95")], "s"),
            panel("p95 latency by route", [("route:crm_http_request_duration_seconds:p95_5m", "{{route}}")], "s"),
            panel(
                "Busiest routes",
                [("topk(10, sum by (route) (rate(crm_http_requests_total[5m])))", "{{route}}")],
                "reqps",
            ),
            panel("Open event streams", [("sum(crm_event_streams)", "streams")]),
            panel(
                "Rate-limit fallbacks and audit write failures per second",
                [
                    ("sum(rate(crm_rate_limit_fallbacks_total[5m]))", "rate-limit fallbacks"),
                    ("sum(rate(crm_audit_write_failures_total[5m]))", "audit write failures"),
                ],
                "ops",
            ),
            panel(
                "Restarts (15 min)",
                [
                    (
                        'sum by (pod) (increase(kube_pod_container_status_restarts_total{container="gateway"}[15m]))',
                        "{{pod}}",
                    )
                ],
            ),
        ],
        ["gateway"],
    )


def dashboards() -> dict[str, dict]:
    found = {"crm-platform-overview": overview(), "crm-business": business(), "crm-gateway": gateway()}
    for name in SERVICES:
        found[f"crm-{name}"] = dashboard(
            f"crm-{name}", f"CRM / {name}", service_common(name) + EXTRA.get(name, []), [name]
        )
    return found


def outputs() -> dict[Path, str]:
    files = {HERE / f"prometheusrule-{p.stem}.yaml": prometheus_rule(p) for p in sorted((HERE / "rules").glob("*.yml"))}
    for name, board in dashboards().items():
        files[HERE / "dashboards" / f"{name}.json"] = json.dumps(board, indent=2, ensure_ascii=False) + "\n"
    return files


if __name__ == "__main__":
    for path, text in outputs().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE)}", file=sys.stderr)
