"""Static checks of every image's Dockerfile and of compose.yaml (no Docker engine needed).

Each Dockerfile: a builder stage and a runtime stage, a base pinned to an exact Python patch tag
(or a digest), never `latest`, no ADD of URLs, a numeric non-root USER in the final stage, no build
tools or package installs in the final stage, exec-form ENTRYPOINT/CMD/HEALTHCHECK, the port the
component listens on by default, a read-only-root-friendly layout. compose.yaml: valid against the
compose specification (`docker compose config -q` when the plugin exists, else the JSON schema
vendored here: tests/deploy/compose-spec.json, from compose-spec via Debian's docker-compose 1.29.2,
Apache-2.0), and consistent with the Dockerfiles."""

import json
import os
import re
import shlex
import subprocess

import jsonschema
import pytest
import yaml

from crm_common.devstack import GATEWAY, ROOT, SERVICES

HERE = os.path.dirname(os.path.abspath(__file__))
COMPONENTS = {c.folder: c for c in (*SERVICES, GATEWAY)}
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
BUILD_TOOLS = ("apt-get", "apk ", "gcc", "build-essential", "make ", "pip install", "pip wheel", "curl", "wget")


def parse(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blanks dropped."""
    instructions, pending = [], ""
    with open(path) as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            full = (pending + line).strip()
            pending = ""
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[dict]:
    result = []
    for keyword, args in instructions:
        if keyword == "FROM":
            parts = args.split()
            flags = [p for p in parts if p.startswith("--")]
            rest = [p for p in parts if not p.startswith("--")]
            name = rest[2] if len(rest) == 3 and rest[1].upper() == "AS" else None
            result.append({"image": rest[0], "name": name, "flags": flags, "body": []})
        else:
            assert result, "an instruction before the first FROM"
            result[-1]["body"].append((keyword, args))
    return result


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and value and all(isinstance(v, str) for v in value), args
    return value


DOCKERFILES = sorted(os.path.join(folder, "Dockerfile") for folder in COMPONENTS)


def test_every_component_has_a_dockerfile_and_no_other_exists():
    skipped = {".venv", "var", "node_modules", ".git"}
    found = sorted(
        os.path.relpath(os.path.join(d, "Dockerfile"), ROOT)
        for d, _, files in os.walk(ROOT)
        if "Dockerfile" in files and not skipped & set(os.path.relpath(d, ROOT).split(os.sep))
    )
    assert found == DOCKERFILES


@pytest.fixture(params=DOCKERFILES)
def dockerfile(request):
    path = os.path.join(ROOT, request.param)
    instructions = parse(path)
    return request.param, COMPONENTS[os.path.dirname(request.param)], instructions, stages(instructions)


def test_multi_stage_with_a_pinned_base(dockerfile):
    name, _, _, built = dockerfile
    assert len(built) >= 2, f"{name}: build in a builder stage, copy only the virtualenv to the runtime"
    names = {s["name"] for s in built if s["name"]}
    for stage in built:
        image = stage["image"]
        assert "latest" not in image, f"{name}: {image}"
        assert not any(f.startswith("--platform") for f in stage["flags"]), f"{name}: no --platform pin"
        if image in names:
            continue
        assert PINNED_BASE.match(image), f"{name}: base {image!r} is not pinned to an exact python:3.11.x tag"
    bases = {s["image"] for s in built if s["image"] not in names}
    assert len(bases) == 1, f"{name}: builder and runtime must share one base, got {bases}"
    final = built[-1]
    copies = [args for keyword, args in final["body"] if keyword == "COPY" and "--from=" in args]
    assert any("/opt/venv" in args for args in copies), f"{name}: the runtime copies the virtualenv from the builder"


def test_final_stage_is_small_and_runs_as_a_numeric_non_root_user(dockerfile):
    name, _, _, built = dockerfile
    body = built[-1]["body"]
    users = [args for keyword, args in body if keyword == "USER"]
    assert users, f"{name}: no USER in the final stage"
    user = users[-1]
    assert re.fullmatch(r"\d+(:\d+)?", user), f"{name}: USER {user!r} must be numeric (uid[:gid])"
    assert all(int(part) != 0 for part in user.split(":")), f"{name}: USER must not be root"
    # Nothing after USER switches back, and the last instruction runs as that user.
    assert [k for k, _ in body].index("USER") > max(i for i, (k, _) in enumerate(body) if k == "RUN")
    for keyword, args in body:
        if keyword == "RUN":
            for tool in BUILD_TOOLS:
                assert tool not in args, f"{name}: final stage runs {tool!r}: build in the builder stage"
    env = " ".join(args for keyword, args in body if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env, f"{name}: the root filesystem is read-only at run time"


def test_no_add_of_urls_and_exec_form_everywhere(dockerfile):
    name, _, instructions, _ = dockerfile
    for keyword, args in instructions:
        if keyword == "ADD":
            assert not re.search(r"\b(https?|git)://|git@", args), f"{name}: ADD of a URL"
            pytest.fail(f"{name}: use COPY, not ADD")
        if keyword in ("ENTRYPOINT", "CMD"):
            exec_form(args)
        if keyword == "HEALTHCHECK":
            flags_and_cmd = args.split(" CMD ", 1)
            assert len(flags_and_cmd) == 2, f"{name}: HEALTHCHECK CMD [...]"
            exec_form(flags_and_cmd[1])
    assert [k for k, _ in instructions].count("ENTRYPOINT") == 1, f"{name}: one exec-form ENTRYPOINT"


def test_copied_sources_exist_and_are_not_ignored(dockerfile):
    name, _, instructions, _ = dockerfile
    with open(os.path.join(ROOT, ".dockerignore")) as fh:
        ignored = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    for keyword, args in instructions:
        if keyword != "COPY" or "--from=" in args:
            continue
        *sources, _target = shlex.split(args)
        for source in sources:
            assert os.path.exists(os.path.join(ROOT, source)), f"{name}: COPY {source}: not in the repository"
            assert source.rstrip("/") not in ignored, f"{name}: COPY {source} is excluded by .dockerignore"


def test_ports_entrypoint_and_healthcheck_match_the_component(dockerfile):
    name, component, _, built = dockerfile
    body = built[-1]["body"]
    exposed = [args for keyword, args in body if keyword == "EXPOSE"]
    assert exposed == [str(component.port)], f"{name}: EXPOSE {exposed}, the component listens on {component.port}"
    health = [args for keyword, args in body if keyword == "HEALTHCHECK"]
    assert health and f"127.0.0.1:{component.port}/healthz" in health[0], f"{name}: HEALTHCHECK on /healthz"
    entrypoint = exec_form(next(args for keyword, args in body if keyword == "ENTRYPOINT"))
    cmd = [exec_form(args) for keyword, args in body if keyword == "CMD"]
    command = entrypoint + (cmd[-1] if cmd else [])
    assert component.target in command, f"{name}: runs {command}, expected {component.target}"
    env = " ".join(args for keyword, args in body if keyword == "ENV")
    if component is GATEWAY:
        assert command[0] == "gunicorn" and f"0.0.0.0:{component.port}" in command
        assert "PROMETHEUS_MULTIPROC_DIR=/tmp/" in env, "only /tmp is writable besides the data volume"
        assert "/dev/shm" not in " ".join(command)
    else:
        assert command[:4] == ["nameko", "run", "--config", "config.yml"], command
        # The port the service binds by default (its config.yml) and the one the image sets.
        with open(os.path.join(ROOT, component.folder, "config.yml")) as fh:
            config = fh.read()
        prefix = component.name.upper()
        assert f"${{{prefix}_HTTP_ADDRESS:0.0.0.0:{component.port}}}" in config
        assert f"{prefix}_HTTP_ADDRESS=0.0.0.0:{component.port}" in env
        workdirs = [args for keyword, args in body if keyword == "WORKDIR"]
        copies = [args for keyword, args in body if keyword == "COPY" and "--from=" not in args]
        assert f"{component.folder}/config.yml {workdirs[-1]}/config.yml" in copies, f"{name}: config.yml in WORKDIR"
    assert "CRM_DATA_DIR=/var/lib/crm" in env and "SHUTDOWN_DRAIN_SECONDS=" in env


# ---- compose.yaml ----


def _compose() -> dict:
    with open(os.path.join(ROOT, "compose.yaml")) as fh:
        return yaml.safe_load(fh)


def _compose_plugin() -> bool:
    try:
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def test_compose_file_is_valid():
    if _compose_plugin():
        done = subprocess.run(
            ["docker", "compose", "-f", "compose.yaml", "config", "-q"], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    with open(os.path.join(HERE, "compose-spec.json")) as fh:
        schema = json.load(fh)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(_compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_vendored_schema_rejects_a_broken_compose_file():
    with open(os.path.join(HERE, "compose-spec.json")) as fh:
        schema = json.load(fh)
    broken = _compose()
    broken["services"]["gateway"]["restart_policy"] = "always"  # not a service key
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_compose_builds_every_image_and_hardens_every_container():
    services = _compose()["services"]
    built = {s["build"]["dockerfile"]: name for name, s in services.items() if "build" in s}
    assert sorted(built) == DOCKERFILES
    for name in built.values():
        service = services[name]
        assert services[name]["build"]["context"] == "."
        assert service.get("read_only") is True, f"{name}: read-only root filesystem"
        assert "/tmp" in service.get("tmpfs", []), f"{name}: /tmp is the only writable path besides the data"
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert any(v.endswith(":/var/lib/crm") for v in service.get("volumes", [])), f"{name}: data volume"
        assert "user" not in service or re.fullmatch(r"[1-9]\d*(:\d+)?", str(service["user"])), name
    rabbit = services["rabbitmq"]["image"]
    assert "latest" not in rabbit and ":" in rabbit
    # Only the gateway is published, on loopback, on its default port.
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"gateway": [f"127.0.0.1:{GATEWAY.port}:{GATEWAY.port}"]}
