"""A real Prometheus (the Debian package's binary) on loopback scrapes the running platform's
/metrics endpoints, with the job names the ServiceMonitors give them, and finds every target up
within 60 s; then the recording rules load against it."""

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from crm_common.devstack import GATEWAY, SERVICES

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "k8s" / "monitoring" / "rules"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def prometheus(stack, tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make monitoring-tools` installs it (Debian package prometheus)"
    jobs = [
        {
            # The Kubernetes Service names (service-desk), as the ServiceMonitors' job labels.
            "job_name": component.name.replace("_", "-"),
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{stack.port(component)}"]}],
        }
        for component in (GATEWAY, *SERVICES)
    ]
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({**config, "scrape_configs": jobs}))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", {job["job_name"] for job in jobs}, tmp_path / "prometheus.log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_prometheus_finds_every_target_of_the_platform_up(prometheus) -> None:
    url, jobs, log = prometheus
    deadline = time.monotonic() + 60
    health: dict = {}
    while time.monotonic() < deadline:
        try:
            targets = get_json(f"{url}/api/v1/targets?state=active")["data"]["activeTargets"]
            health = {t["labels"]["job"]: (t["health"], t.get("lastError")) for t in targets}
        except OSError:
            pass  # not listening yet
        if set(health) == jobs and all(state == "up" for state, _ in health.values()):
            break
        time.sleep(0.5)
    assert set(health) == jobs and all(state == "up" for state, _ in health.values()), (health, log.read_text()[-2000:])

    # The rule files loaded and evaluate against real series (no rule in error).
    groups = get_json(f"{url}/api/v1/rules")["data"]["groups"]
    assert {g["file"] for g in groups} == {str(p) for p in RULES.glob("*.yml")}
    broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") == "err"]
    assert not broken, broken
    up = get_json(f"{url}/api/v1/query?query=sum(up)")["data"]["result"]
    assert float(up[0]["value"][1]) == len(jobs)
