# Entry points of the CRM platform. `make run` and `make test` do all their own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := -e libs[nameko] -e services/contacts -e services/sales -e services/service-desk \
            -e services/notifications -e services/search -e gateway
TEST_PACKAGES := pytest pytest-timeout mongomock aiosmtpd requests openapi-spec-validator schemathesis
PROJECT_FILES := constraints.txt libs/pyproject.toml gateway/pyproject.toml $(wildcard services/*/pyproject.toml)

.PHONY: help venv broker run stop status test test-fast bench lint openapi clean

help:
	@echo "make run    start the whole platform with demo data (embedded stores, local RabbitMQ)"
	@echo "make stop   stop what make run started"
	@echo "make test   run every test (unit, contract, integration, end to end)"
	@echo "make bench  measure the gateway hop and search freshness; writes var/bench/"
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
test: broker
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: broker
	@$(PY) -m tests.bench.run

lint: venv
	@$(PY) -m pip install -q -c constraints.txt ruff && $(VENV)/bin/ruff check libs services gateway tests && $(VENV)/bin/ruff format --check libs services gateway tests

# The committed OpenAPI document; gateway/tests fail when it is stale.
openapi: venv
	@$(PY) -m gateway.openapi gateway/openapi.json
	@echo "wrote gateway/openapi.json"

clean: stop
	rm -rf var
