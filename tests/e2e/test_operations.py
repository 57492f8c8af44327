"""Every process answers its liveness, readiness and Prometheus endpoints, and the metrics move."""

import re

import requests

from crm_common.devstack import GATEWAY, SERVICES
from crm_common.testing import eventually


def _scrape(stack, component) -> str:
    response = requests.get(f"http://127.0.0.1:{stack.port(component)}/metrics", timeout=5)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_every_process_is_live_and_ready(stack):
    for component in (*SERVICES, GATEWAY):
        base = f"http://127.0.0.1:{stack.port(component)}"
        assert requests.get(base + "/healthz", timeout=5).status_code == 200, component.name
        ready = requests.get(base + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True, (component.name, ready.text)


def test_metrics_count_rpc_calls_published_and_handled_events_and_search_freshness(api, stack):
    contacts, search = SERVICES[0], next(s for s in SERVICES if s.name == "search")
    before = _scrape(stack, contacts)
    api.create("/contacts", {"first_name": "Metric", "last_name": "Counter"})

    def counted():
        after = _scrape(stack, contacts)
        return _sample(after, "crm_rpc_duration_seconds_count", method="create_contact", outcome="ok") > _sample(
            before, "crm_rpc_duration_seconds_count", method="create_contact", outcome="ok"
        ) and _sample(after, "crm_events_published_total", event_type="contact_created") > _sample(
            before, "crm_events_published_total", event_type="contact_created"
        )

    eventually(counted)

    def handled_by_search():
        text = _scrape(stack, search)
        return text if _sample(text, "crm_events_handled_total", handler="on_contact_created") else None

    search_metrics = eventually(handled_by_search)
    assert _sample(search_metrics, "crm_search_freshness_seconds_count", type="contact") > 0
    assert re.search(r'^crm_outbox_backlog\{service="contacts"\} ', _scrape(stack, contacts), re.M)
    gateway = _scrape(stack, GATEWAY)
    assert _sample(gateway, "crm_http_requests_total", method="POST", route="/api/v1/contacts", status="201") > 0
