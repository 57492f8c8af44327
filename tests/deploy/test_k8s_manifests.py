"""The Kubernetes manifests under deploy/k8s: every overlay renders with `kubectl kustomize`, its core
objects validate strictly against the Kubernetes schemas (`kubernetes-validate --strict`), and the
platform's policies hold as tests: non-root, read-only root filesystems, no capabilities, seccomp,
requests and limits, probes, graceful shutdown, default-deny NetworkPolicies with only the intended
allowances, every credential in a Secret (and none in a ConfigMap), and the wiring of the
operators' custom resources, which no schema here knows (RabbitMQ, MongoDB, Elasticsearch, the
Prometheus Operator).

kubectl and kubernetes-validate come from `make k8s-lint` (pinned in constraints.txt); `make test`
runs it first.
"""

import base64
import re
import subprocess
import sys
import urllib.parse
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
KUBECTL, VALIDATE = BIN / "kubectl", BIN / "kubernetes-validate"
OVERLAYS = ["dev", "prod"]

# name -> (port, component)
APPS = {
    "gateway": 8000,
    "contacts": 8101,
    "sales": 8102,
    "service-desk": 8103,
    "notifications": 8104,
    "search": 8105,
}
SERVICES = [name for name in APPS if name != "gateway"]
STORE_ENV = {name: name.upper().replace("-", "_") + "_STORE_URL" for name in APPS}
# Custom resources: kubernetes-validate has no schema for them, so it only warns; checked below.
CUSTOM_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("rabbitmq.com/v1beta1", "Vhost"),
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
    ("rabbitmq.com/v1beta1", "Exchange"),
    ("rabbitmq.com/v1beta1", "Queue"),
    ("rabbitmq.com/v1beta1", "Binding"),
    ("rabbitmq.com/v1beta1", "Policy"),
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
    ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# Settings whose values are credentials (or URLs that carry them): Secrets only.
CREDENTIAL_NAME = re.compile(r"(SECRET|PASSWORD|_TOKEN|_KEY|_URI|_STORE_URL|_INDEX_URL|SMTP_URL|SMS_PROVIDER_URL)$")
NOT_CREDENTIALS = {"MONGODB_TEST_URL", "ELASTICSEARCH_TEST_URL"}


def tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path.name} is missing from {BIN}: run `make k8s-lint` (it installs the pinned tools)")
    return str(path)


@cache
def render_text(target: str) -> str:
    done = subprocess.run([tool(KUBECTL), "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {target} failed:\n{done.stderr}"
    return done.stdout


@cache
def render(target: str) -> tuple:
    return tuple(doc for doc in yaml.safe_load_all(render_text(target)) if doc)


def objects(target: str, kind: str) -> list[dict]:
    return [doc for doc in render(target) if doc["kind"] == kind]


def one(target: str, kind: str, name: str) -> dict:
    found = [doc for doc in objects(target, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{target}: expected one {kind}/{name}, found {len(found)}"
    return found[0]


def secret_data(target: str) -> dict[str, dict[str, str]]:
    out = {}
    for secret in objects(target, "Secret"):
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        out[secret["metadata"]["name"]] = data
    return out


def workloads(target: str) -> list[dict]:
    return [doc for doc in render(target) if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def app_deployments(target: str) -> dict[str, dict]:
    return {name: one(target, "Deployment", name) for name in APPS}


def main_container(deployment: dict) -> dict:
    name = deployment["metadata"]["name"]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return container


def env_of(target: str, deployment: dict) -> dict[str, tuple[str, str]]:
    """Every environment variable of the main container -> (source kind, source name)."""
    container = main_container(deployment)
    configmaps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in objects(target, "ConfigMap")}
    secrets = secret_data(target)
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            env.update({k: ("ConfigMap", name) for k in configmaps[name]})
        else:
            name = source["secretRef"]["name"]
            env.update({k: ("Secret", name) for k in secrets[name]})
    for item in container.get("env", []):
        env[item["name"]] = ("value", "") if "value" in item else ("ref", str(item["valueFrom"]))
    return env


def labels_match(selector: dict, labels: dict) -> bool:
    if set(selector) - {"matchLabels", "matchExpressions"}:
        raise AssertionError(f"unexpected selector {selector}")
    assert not selector.get("matchExpressions"), "the checks below only understand matchLabels"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def policies_for(target: str, pod_labels: dict, policy_type: str) -> list[dict]:
    return [
        p
        for p in objects(target, "NetworkPolicy")
        if policy_type in p["spec"]["policyTypes"] and labels_match(p["spec"]["podSelector"], pod_labels)
    ]


def pod_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


# --- rendering and schema validation ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_renders_and_validates_strictly(target, tmp_path):
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render_text(target))
    done = subprocess.run(
        [tool(VALIDATE), "--strict", "--quiet", str(rendered)], capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "ERROR" not in output, output
    # A warning is acceptable only for a custom resource (no schema for it here): anything else
    # (a typo in a core apiVersion, an unknown kind) fails.
    for line in output.splitlines():
        if line.startswith("WARN"):
            match = re.search(r"kind (\w+) with api version (\S+) ", line)
            assert match and (match.group(2), match.group(1)) in CUSTOM_KINDS, line
    groups = {(doc["apiVersion"], doc["kind"]) for doc in render(target) if "/" in doc["apiVersion"]}
    custom = {
        (api, kind) for api, kind in groups if "." in api.split("/")[0] and not api.split("/")[0].endswith("k8s.io")
    }
    assert custom <= CUSTOM_KINDS, f"custom resources nobody checks: {custom - CUSTOM_KINDS}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_uses_its_own_namespace_with_pod_security_labels(overlay):
    (namespace,) = objects(f"overlays/{overlay}", "Namespace")
    name = namespace["metadata"]["name"]
    assert "pod-security.kubernetes.io/enforce" in namespace["metadata"]["labels"]
    for doc in render(f"overlays/{overlay}"):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == name, f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_component_is_included_when_it_exists(overlay):
    kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    if (K8S / "monitoring" / "kustomization.yaml").exists():
        assert "../../monitoring" in kustomization.get("components", [])
        assert objects(f"overlays/{overlay}", "ServiceMonitor"), "the component's ServiceMonitors are missing"
        monitored = {
            sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            for sm in objects(f"overlays/{overlay}", "ServiceMonitor")
            if "matchLabels" in sm["spec"]["selector"]
        }
        assert set(APPS) <= monitored


# --- every workload: security context, resources, probes ------------------------------------------


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_every_container_runs_non_root_read_only_without_capabilities(target):
    assert workloads(target)
    for workload in workloads(target):
        where = f"{target}: {workload['kind']}/{workload['metadata']['name']}"
        pod = workload["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, where
        assert isinstance(pod_sc.get("runAsUser"), int) and pod_sc["runAsUser"] > 0, where
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert pod.get("automountServiceAccountToken") is False, where
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
        mounts_of_volume = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            here = f"{where} container {container['name']}"
            sc = container.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, here
            assert sc.get("readOnlyRootFilesystem") is True, here
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], here
            assert not sc.get("capabilities", {}).get("add"), here
            assert sc.get("privileged") in (None, False), here
            assert sc.get("runAsNonRoot", True) is True and sc.get("runAsUser", 1) > 0, here
            assert sc.get("seccompProfile", {"type": "RuntimeDefault"})["type"] == "RuntimeDefault", here
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{here}: {part}"
            # A read-only root filesystem needs a writable /tmp.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in mounts_of_volume[tmp[0]["name"]], f"{here}: no emptyDir /tmp"


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_every_long_running_container_has_startup_liveness_and_readiness_probes(target):
    for workload in workloads(target):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{target}: {workload['metadata']['name']}/{container['name']} {probe}"


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_apps_probe_healthz_and_readyz_on_their_port(target):
    for name, deployment in app_deployments(target).items():
        container = main_container(deployment)
        assert container["ports"] == [{"name": "http", "containerPort": APPS[name], "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        # Readiness must fail fast (it drops first on SIGTERM); liveness must be slower than it.
        ready, live = container["readinessProbe"], container["livenessProbe"]
        assert ready["periodSeconds"] * ready["failureThreshold"] < live["periodSeconds"] * live["failureThreshold"]


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_graceful_shutdown_leaves_time_for_endpoints_to_drain(target):
    for name, deployment in app_deployments(target).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == 30, name
        sleep = main_container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
        # A few seconds for the endpoints and the ingress to forget the pod, the rest for shutdown.
        assert 2 <= sleep <= 10 and pod["terminationGracePeriodSeconds"] - sleep >= 20, name


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_each_app_has_service_account_service_hpa_and_pdb(target):
    for name, deployment in app_deployments(target).items():
        labels = pod_labels(deployment)
        assert labels["app.kubernetes.io/part-of"] == "crm"
        assert labels["app.kubernetes.io/component"] == ("gateway" if name == "gateway" else "service")
        account = one(target, "ServiceAccount", name)
        assert account["automountServiceAccountToken"] is False
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name
        service = one(target, "Service", name)
        assert labels_match({"matchLabels": service["spec"]["selector"]}, labels)
        assert service["spec"]["ports"][0]["port"] == APPS[name]
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        hpa = one(target, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        pdb = one(target, "PodDisruptionBudget", name)
        assert labels_match(pdb["spec"]["selector"], labels)
        # Never minAvailable == replicas: that would block every node drain.
        assert pdb["spec"].get("maxUnavailable") == 1
        # Topology of the event queues is declared before a service first runs.
        if name != "gateway":
            init = deployment["spec"]["template"]["spec"]["initContainers"]
            assert init[0]["command"][:3] == ["python", "-m", "crm_common.runtime.topology"]
            module, cls = init[0]["command"][3].split(":")
            package = module.split(".")[0]
            source = (ROOT / "services" / name / package / (module.split(".")[1] + ".py")).read_text()
            assert f"class {cls}(" in source


# --- configuration and credentials ----------------------------------------------------------------


def credential_settings_in_code() -> set[str]:
    names = set()
    pattern = re.compile(r"""(?:environ(?:\.get)?[\[(]\s*|_setting\(\s*|setting\(\s*)["']([A-Z][A-Z0-9_]+)["']""")
    for folder in ("libs", "services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            if "tests" in path.parts:
                continue
            names.update(pattern.findall(path.read_text(encoding="utf-8")))
    names |= set(STORE_ENV.values())  # built as f"{SERVICE}_STORE_URL" in crm_common.config
    return {n for n in names if CREDENTIAL_NAME.search(n) and n not in NOT_CREDENTIALS}


def test_the_credential_list_covers_what_the_code_reads():
    found = credential_settings_in_code()
    for expected in (
        "AMQP_URI",
        "GATEWAY_SIGNING_KEY",
        "CRM_ADMIN_PASSWORD",
        "NOTIFICATIONS_UNSUBSCRIBE_SECRET",
        "SMTP_URL",
        "SMS_PROVIDER_TOKEN",
        "SEARCH_INDEX_URL",
        "CONTACTS_STORE_URL",
    ):
        assert expected in found


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_every_credential_the_code_reads_comes_from_a_secret(target):
    secrets = secret_data(target)
    in_secrets = {key for data in secrets.values() for key in data}
    assert credential_settings_in_code() <= in_secrets
    needs = {
        "gateway": {"AMQP_URI", "GATEWAY_STORE_URL", "GATEWAY_SIGNING_KEY", "CRM_ADMIN_EMAIL", "CRM_ADMIN_PASSWORD"},
        "notifications": {"NOTIFICATIONS_UNSUBSCRIBE_SECRET", "SMTP_URL", "SMS_PROVIDER_TOKEN"},
        "search": {"SEARCH_INDEX_URL"},
    }
    for name, deployment in app_deployments(target).items():
        env = env_of(target, deployment)
        for key in needs.get(name, set()) | {"AMQP_URI", STORE_ENV[name]}:
            assert env.get(key, ("missing",))[0] == "Secret", f"{target}: {name} gets {key} from {env.get(key)}"
        for key, (kind, _) in env.items():
            if CREDENTIAL_NAME.search(key):
                assert kind == "Secret", f"{target}: {name} gets credential {key} from a {kind}"
        # A service sees only its own store's credentials, never another service's.
        others = {STORE_ENV[o] for o in APPS if o != name}
        assert not others & set(env), f"{name} can read {others & set(env)}"


USERINFO = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_no_credential_in_a_configmap_or_a_plain_env_value(target):
    for cm in objects(target, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            assert not CREDENTIAL_NAME.search(key), f"{cm['metadata']['name']}: {key}"
            assert not USERINFO.search(value), f"{cm['metadata']['name']}: {key} holds a URL with a password"
            if "grafana_dashboard" not in cm["metadata"].get("labels", {}):
                assert not re.search(r"(?i)(password|passwd|secret|token)\s*[:=]\s*\S", value), key
    for workload in workloads(target):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                if "value" in item:
                    assert not CREDENTIAL_NAME.search(item["name"]) and not USERINFO.search(item["value"])


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_secret_values_are_clearly_fake_placeholders(target):
    for name, data in secret_data(target).items():
        for key, value in data.items():
            where = f"{target}: Secret {name} key {key}"
            url = urllib.parse.urlsplit(value) if "://" in value else None
            if url and url.password:
                assert url.password.startswith("CHANGE-ME"), where
            elif re.search(r"(?i)(password|secret|token|signing_key)$", key) and value:
                assert value.startswith("CHANGE-ME"), where
            if url and url.hostname and "." in url.hostname:
                assert url.hostname.endswith((".invalid", ".example.com")) or "svc" in url.hostname, where


# --- NetworkPolicies ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_default_deny_for_ingress_and_egress(target):
    deny = [
        p
        for p in objects(target, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1


def ingress_peers(target: str, labels: dict) -> list[tuple[dict, list]]:
    peers = []
    for policy in policies_for(target, labels, "Ingress"):
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule open to every source"
            for peer in rule["from"]:
                peers.append((peer, rule.get("ports")))
    return peers


PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_only_the_gateway_is_reachable_from_outside_and_services_only_from_the_gateway(target):
    for name, deployment in app_deployments(target).items():
        labels = pod_labels(deployment)
        peers = ingress_peers(target, labels)
        assert peers, name
        for peer, ports in peers:
            assert "ipBlock" not in peer, f"{name}: ingress from an address block"
            assert ports, f"{name}: ingress on every port"
            if peer == PROMETHEUS:
                assert [p["port"] for p in ports] == ["http"]
            elif name == "gateway":
                assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
                assert [p["port"] for p in ports] == [8000]
            else:
                assert peer == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}, (name, peer)


def allowed_egress(target: str, labels: dict) -> list[tuple[dict, list]]:
    out = []
    for policy in policies_for(target, labels, "Egress"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: egress to everywhere"
            for peer in rule["to"]:
                out.append((peer, sorted(str(p["port"]) for p in rule.get("ports", []))))
    return out


DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
BROKER = {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "rabbitmq"}}}
MONGODB = {"podSelector": {"matchLabels": {"app": "crm-mongodb-svc"}}}
ELASTICSEARCH = {"podSelector": {"matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": "crm"}}}


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_apps_reach_only_dns_the_broker_and_their_own_datastore(target):
    for name, deployment in app_deployments(target).items():
        egress = allowed_egress(target, pod_labels(deployment))
        assert (DNS, ["53", "53"]) in egress and (BROKER, ["5672"]) in egress, name
        for peer, ports in egress:
            if peer in (DNS, BROKER):
                continue
            if peer == MONGODB:
                assert target == "overlays/prod" and ports == ["27017"], name
            elif peer == ELASTICSEARCH:
                assert name == "search" and ports == ["9200"], name
            else:
                # Only notifications leaves the cluster (email, SMS, webhooks), never to private ranges.
                assert name == "notifications", (name, peer)
                block = peer["ipBlock"]
                assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"]
                assert set(ports) <= {"25", "465", "587", "443"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_datastores_accept_the_platform_and_nothing_open(overlay):
    target = f"overlays/{overlay}"
    for policy in objects(target, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), policy["metadata"]["name"]
    broker_labels = {"app.kubernetes.io/component": "rabbitmq"}
    peers = ingress_peers(target, broker_labels)
    assert (
        {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "crm"}}},
        [{"protocol": "TCP", "port": 5672}],
    ) in peers


# --- overlays -------------------------------------------------------------------------------------


def test_dev_runs_single_replicas_on_sqlite_volumes_with_one_rabbitmq():
    target = "overlays/dev"
    secrets = secret_data(target)
    claims = {pvc["metadata"]["name"] for pvc in objects(target, "PersistentVolumeClaim")}
    for name, deployment in app_deployments(target).items():
        assert deployment["spec"].get("replicas", 1) == 1
        assert one(target, "HorizontalPodAutoscaler", name)["spec"]["maxReplicas"] == 1
        # One SQLite writer: never two pods on the same volume during a rollout.
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}}
        assert f"{name}-data" in claims
        mount = [m for m in main_container(deployment)["volumeMounts"] if m["name"] == "data"][0]
        store = [v for k, v in secrets[f"{name}-secrets"].items() if k == STORE_ENV[name]][0]
        assert store.startswith("sqlite:///" + mount["mountPath"] + "/"), store
    assert secrets["search-secrets"]["SEARCH_INDEX_URL"].startswith("sqlite:////var/lib/crm/")
    (settings,) = [cm for cm in objects(target, "ConfigMap") if cm["metadata"]["name"].startswith("crm-settings")]
    assert settings["data"]["CRM_ENV"] == "development"
    (broker,) = objects(target, "StatefulSet")
    assert broker["metadata"]["name"] == "rabbitmq" and broker["spec"]["replicas"] == 1
    assert broker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "rabbitmq"
    uri = urllib.parse.urlsplit(secrets["crm-broker"]["AMQP_URI"])
    assert uri.hostname == one(target, "Service", "rabbitmq")["metadata"]["name"]
    user = secrets["rabbitmq-default-user"]
    assert (uri.username, uri.password) == (user["username"], user["password"])
    # No mail or SMS provider in development: messages wait queued.
    assert secrets["notifications-secrets"]["SMTP_URL"] == ""


def crs(kind: str) -> list[dict]:
    return objects("overlays/prod", kind)


def test_prod_runs_several_replicas_with_autoscaling_spread_over_nodes():
    target = "overlays/prod"
    (settings,) = [cm for cm in objects(target, "ConfigMap") if cm["metadata"]["name"].startswith("crm-settings")]
    assert settings["data"]["CRM_ENV"] == "production"
    for name, deployment in app_deployments(target).items():
        hpa = one(target, "HorizontalPodAutoscaler", name)
        assert deployment["spec"]["replicas"] >= 2 and hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
        keys = {c["topologyKey"] for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_prod_rabbitmq_cluster_with_quorum_queues_and_a_dead_letter_policy():
    secrets = secret_data("overlays/prod")
    (cluster,) = crs("RabbitmqCluster")
    assert cluster["spec"]["replicas"] >= 3 and cluster["spec"]["replicas"] % 2 == 1
    assert "persistence" in cluster["spec"] and {"requests", "limits"} <= set(cluster["spec"]["resources"])
    ref = {"name": cluster["metadata"]["name"]}
    topology = [d for d in render("overlays/prod") if d["apiVersion"] == "rabbitmq.com/v1beta1" and d is not cluster]
    assert {d["kind"] for d in topology} == {"Vhost", "User", "Permission", "Exchange", "Queue", "Binding", "Policy"}
    for doc in topology:
        assert doc["spec"]["rabbitmqClusterReference"] == ref, doc["metadata"]["name"]
    (vhost,) = crs("Vhost")
    assert vhost["spec"]["defaultQueueType"] == "quorum"
    uri = urllib.parse.urlsplit(secrets["crm-broker"]["AMQP_URI"])
    assert uri.hostname == cluster["metadata"]["name"] and uri.port == 5672
    assert urllib.parse.unquote(uri.path[1:]) == vhost["spec"]["name"]
    (user,) = crs("User")
    credentials = secrets[user["spec"]["importCredentialsSecret"]["name"]]
    assert (uri.username, uri.password) == (credentials["username"], credentials["password"])
    (permission,) = crs("Permission")
    assert permission["spec"]["vhost"] == vhost["spec"]["name"]
    assert permission["spec"]["userReference"] == {"name": user["metadata"]["name"]}
    (policy,) = crs("Policy")
    (exchange,) = crs("Exchange")
    (queue,) = crs("Queue")
    (binding,) = crs("Binding")
    assert policy["spec"]["vhost"] == exchange["spec"]["vhost"] == queue["spec"]["vhost"] == vhost["spec"]["name"]
    assert policy["spec"]["applyTo"] == "queues"
    # The event queues the services declare (crm_common.runtime.topology) match the pattern.
    topology_source = (ROOT / "libs" / "crm_common" / "runtime" / "topology.py").read_text()
    assert 'f"evt-{' in topology_source and re.match(policy["spec"]["pattern"], "evt-sales-deal_won--search.on")
    definition = policy["spec"]["definition"]
    assert definition["dead-letter-exchange"] == exchange["spec"]["name"]
    assert definition["dead-letter-strategy"] == "at-least-once" and definition["overflow"] == "reject-publish"
    assert isinstance(definition["delivery-limit"], int) and definition["delivery-limit"] > 0
    assert queue["spec"]["type"] == "quorum" and queue["spec"]["durable"] is True
    assert (binding["spec"]["source"], binding["spec"]["destination"]) == (
        exchange["spec"]["name"],
        queue["spec"]["name"],
    )
    assert binding["spec"]["destinationType"] == "queue"


def test_prod_mongodb_replica_set_one_database_and_user_per_service_majority_writes():
    secrets = secret_data("overlays/prod")
    (mongo,) = crs("MongoDBCommunity")
    spec = mongo["spec"]
    assert spec["type"] == "ReplicaSet" and spec["members"] >= 3 and spec["members"] % 2 == 1
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    users = {u["name"]: u for u in spec["users"]}
    databases = set()
    for name in APPS:
        url = urllib.parse.urlsplit(secrets[f"{name}-secrets"][STORE_ENV[name]])
        query = urllib.parse.parse_qs(url.query)
        assert url.scheme == "mongodb"
        assert query["w"] == ["majority"] and query["replicaSet"] == [mongo["metadata"]["name"]]
        hosts = [h.rsplit("@", 1)[-1] for h in url.netloc.split(",")]
        assert len(hosts) == spec["members"]
        assert all(h.split(".")[1].split(":")[0] == f"{mongo['metadata']['name']}-svc" for h in hosts)
        user = users[urllib.parse.unquote(url.username)]
        database = url.path[1:]
        assert user["roles"] == [{"name": "readWrite", "db": database}], name
        assert query["authSource"] == [user["db"]]
        assert secrets[user["passwordSecretRef"]["name"]]["password"] == urllib.parse.unquote(url.password)
        databases.add(database)
    assert len(databases) == len(APPS) == len(users)


def test_prod_elasticsearch_cluster_for_the_search_index():
    secrets = secret_data("overlays/prod")
    (es,) = crs("Elasticsearch")
    assert sum(n["count"] for n in es["spec"]["nodeSets"]) >= 3
    assert re.fullmatch(r"8\.\d+\.\d+", es["spec"]["version"])
    url = urllib.parse.urlsplit(secrets["search-secrets"]["SEARCH_INDEX_URL"])
    assert url.hostname == f"{es['metadata']['name']}-es-http" and url.port == 9200
    # The adapter has no CA setting: plain HTTP inside the cluster must be what ECK serves.
    assert url.scheme == "http" and es["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"] is True
    (realm,) = es["spec"]["auth"]["fileRealm"]
    user = secrets[realm["secretName"]]
    assert (user["username"], user["password"]) == (url.username, url.password)
    (roles_ref,) = es["spec"]["auth"]["roles"]
    roles = yaml.safe_load(secrets[roles_ref["secretName"]]["roles.yml"])
    assert user["roles"] in roles and roles[user["roles"]]["indices"][0]["names"] == ["crm-search*"]


def test_prod_ingress_serves_the_gateway_over_tls_with_cert_manager():
    (ingress,) = objects("overlays/prod", "Ingress")
    assert ingress["metadata"]["annotations"].get("cert-manager.io/cluster-issuer")
    (tls,) = ingress["spec"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in tls["hosts"] and tls["secretName"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    assert not objects("overlays/dev", "Ingress")
    # Nothing else is exposed.
    for overlay in OVERLAYS:
        for service in objects(f"overlays/{overlay}", "Service"):
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]
