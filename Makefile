# One entry point for every task; CI (.ci/run) calls these same targets.
# Needs only python3 (3.11+) on the PATH: the first target run creates .venv and installs
# the pinned dependencies (constraints.txt) into it.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV_DB := data/musical_instrument_reviews.sqlite
ROWS ?= 231392

.DEFAULT_GOAL := help
.PHONY: help install run data test test-sqlite test-fast mutation sql-mutations replica-tools lint \
	format lock clean vendor-docs vendor-charts vendor-axe browser-tools screenshots explorer-timing image container-tools container-base compose-up compose-load \
	compose-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $@

install: $(BIN)/.installed ## Create .venv and install the pinned dependencies

$(DEV_DB): | $(BIN)/.installed
	$(BIN)/python scripts/generate_dev_data.py --rows $(ROWS) --output $@

data: $(DEV_DB) ## Build the development SQLite database if it is missing

run: install data ## Serve the API on the development database (http://127.0.0.1:8000)
	$(BIN)/reviews-api serve

# CI (root, a fresh clone, CI=true) installs what the container and replica tests need first.
test: install $(if $(filter true,$(CI)),container-tools replica-tools browser-tools) ## Run the whole test suite (needs PostgreSQL: fails, never skips, without it)
	$(BIN)/pytest

replica-tools: ## As root: pgbouncer from apt when missing (the replica tests need it)
	scripts/replica-tools

browser-tools: ## As root: Debian's chromium from apt when missing (the browser tests need it)
	scripts/browser-tools

screenshots: install data ## Screenshots of the explorer (landing and entity views, 375 and 1280 px) into docs/
	$(BIN)/python scripts/explorer_browser.py screenshots --output docs

explorer-timing: install data ## The explorer's first view, timed by the browser (Navigation Timing), on loopback
	$(BIN)/python scripts/explorer_browser.py timing

test-fast: install ## The fast tier only: the request path in process on SQLite (seconds)
	$(BIN)/pytest tests/fast

test-sqlite: install ## Run only the tests that need no PostgreSQL (SQLITE_ONLY=1; not in CI)
	SQLITE_ONLY=1 $(BIN)/pytest

mutation: install ## Mutation score of the request path against the fast tier (mutmut; minutes)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results --all true > mutants/results.txt
	awk -F': ' '{n[$$2]++} END {for (s in n) print n[s], s}' mutants/results.txt | sort -rn
	@echo "survivors: grep survived mutants/results.txt; a diff: .venv/bin/mutmut show NAME"

sql-mutations: install ## Hand-written SQL mutations, each must be caught (needs PostgreSQL; minutes)
	$(BIN)/python scripts/sql_mutations.py

lint: install ## ruff, mypy on service/, sqlfluff on the SQL
	$(BIN)/ruff check service tests scripts
	$(BIN)/ruff format --check service tests scripts
	$(BIN)/mypy
	$(BIN)/sqlfluff lint queries migrations

format: install ## Rewrite Python and SQL in the house style
	$(BIN)/ruff format service tests scripts
	$(BIN)/ruff check --fix service tests scripts
	$(BIN)/sqlfluff fix queries migrations

lock: ## Re-pin constraints.txt from a fresh resolve of pyproject.toml
	rm -rf /tmp/reviews-api-lock && $(PYTHON) -m venv /tmp/reviews-api-lock
	/tmp/reviews-api-lock/bin/python -m pip install --quiet --upgrade pip
	/tmp/reviews-api-lock/bin/python -m pip install --quiet --editable '.[dev]'
	/tmp/reviews-api-lock/bin/python -m pip freeze --exclude-editable | sort > constraints.txt

clean: ## Remove the virtual environment and caches (keeps the database)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

SWAGGER_UI_VERSION := 5.35.0
vendor-docs: ## Refresh the vendored Swagger UI (service/http/static/swagger-ui) from the npm registry
	rm -rf /tmp/reviews-api-swagger && mkdir -p /tmp/reviews-api-swagger
	cd /tmp/reviews-api-swagger && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) && tar xzf swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz
	cp /tmp/reviews-api-swagger/package/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE,favicon-32x32.png} service/http/static/swagger-ui/

UPLOT_VERSION := 1.6.32
vendor-charts: ## Refresh the vendored uPlot (service/http/static/uplot), the explorer's charts, from npm
	rm -rf /tmp/reviews-api-uplot && mkdir -p /tmp/reviews-api-uplot
	cd /tmp/reviews-api-uplot && npm pack --silent uplot@$(UPLOT_VERSION) && tar xzf uplot-$(UPLOT_VERSION).tgz
	cp /tmp/reviews-api-uplot/package/{LICENSE,dist/uPlot.iife.min.js,dist/uPlot.min.css} service/http/static/uplot/
	printf 'uplot %s from the npm registry (`make vendor-charts` refreshes it).\nsha256 of uplot-%s.tgz: %s\n' \
		$(UPLOT_VERSION) $(UPLOT_VERSION) "$$(sha256sum /tmp/reviews-api-uplot/uplot-$(UPLOT_VERSION).tgz | cut -d' ' -f1)" \
		> service/http/static/uplot/VERSION

AXE_CORE_VERSION := 4.14.1
vendor-axe: ## Refresh the vendored axe-core (tests/vendor/axe-core), test-only, from npm
	rm -rf /tmp/reviews-api-axe && mkdir -p /tmp/reviews-api-axe
	cd /tmp/reviews-api-axe && npm pack --silent axe-core@$(AXE_CORE_VERSION) && tar xzf axe-core-$(AXE_CORE_VERSION).tgz
	cp /tmp/reviews-api-axe/package/{LICENSE,axe.min.js} tests/vendor/axe-core/
	printf 'axe-core %s from the npm registry (`make vendor-axe` refreshes it), used by the tests only.\nsha256 of axe-core-%s.tgz: %s\n' \
		$(AXE_CORE_VERSION) $(AXE_CORE_VERSION) "$$(sha256sum /tmp/reviews-api-axe/axe-core-$(AXE_CORE_VERSION).tgz | cut -d' ' -f1)" \
		> tests/vendor/axe-core/VERSION

IMAGE ?= reviews-api:local
BASE_IMAGE ?= python:3.11-slim
image: ## Build the container image: Docker if an engine answers, else podman (BASE_IMAGE=...)
	IMAGE=$(IMAGE) BASE_IMAGE=$(BASE_IMAGE) scripts/container-image

container-tools: ## As root where no Docker engine answers: podman and mmdebstrap from apt
	scripts/container-tools

container-base: ## As root where no registry answers: stand-in base images (README)
	scripts/container-base

compose-up: install image ## db, migrate, api with Compose (needs .env: see .env.example)
	PODMAN_COMPOSE=$(BIN)/podman-compose scripts/compose up

compose-load: install ## Load $REVIEWS_DATA_DIR/$REVIEWS_SOURCE into the compose database
	PODMAN_COMPOSE=$(BIN)/podman-compose scripts/compose load

compose-down: install ## Stop the compose services (keeps the database volume)
	PODMAN_COMPOSE=$(BIN)/podman-compose scripts/compose down
