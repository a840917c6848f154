# One word per task. Everything goes through scripts/dev.py, which creates .venv and installs the lock file.
PY ?= python3

.PHONY: run test lint typecheck contract bench bench-registry bench-exchange lock migrate seed keys deploy-check

run:        ## start PostgreSQL (embedded unless DATABASE_URL), migrate, seed the demo county, serve on :8000
	$(PY) scripts/dev.py run

test:       ## the whole suite against PostgreSQL (TEST_DATABASE_URL, or an embedded one)
	$(PY) scripts/dev.py test

lint:       ## ruff (lint + format check), mypy --strict over app code and tests, the import rules
	$(PY) scripts/dev.py lint

typecheck:  ## mypy --strict over app code and tests
	$(PY) scripts/dev.py typecheck

contract:   ## the API contract: merged OpenAPI → var/openapi.json, Spectral, Redocly, openapi-typescript + tsc; ARGS="kotlin"
	.venv/bin/python scripts/contract.py $(ARGS)

bench:      ## gateway vs direct benchmark (prints a table); ARGS="--quick" for a short run
	$(PY) scripts/dev.py bench $(ARGS)

bench-registry: ## registry benchmark: card vs raw asyncpg, keyset depth, bulk vs COPY; ARGS="--quick"
	$(PY) scripts/dev.py bench-registry $(ARGS)

bench-exchange: ## exchange benchmark (issue #15): export vs COPY, the change feed, a full pull; ARGS="--quick"
	flock /tmp/jingzhun-bench.lock .venv/bin/python bench/exchange.py $(ARGS)

migrate:
	$(PY) scripts/dev.py migrate

seed:
	$(PY) scripts/dev.py seed

keys:
	$(PY) scripts/dev.py gen-keys

deploy-check: ## validate docker-compose.yml and deploy/k8s manifests (no Docker engine needed)
	.venv/bin/python deploy/validate.py

lock:       ## re-resolve the lock files from pyproject.toml (needs uv: pip install uv)
	uv pip compile pyproject.toml --universal --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --universal --python-version 3.11 --extra dev -o requirements-dev.lock
