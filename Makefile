# leadlink: `make run` serves the demo, `make test` runs lint, types and the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_ARGS ?=
PYTEST_ARGS ?=
SOAK_ARGS ?=

.PHONY: help run test test-fast lint typecheck pytest fmt bench soak screenshots lock clean
.DEFAULT_GOAL := help

# The lock files pin every package `make run`, the Dockerfile and CI install (the serving
# protocol subclasses uvicorn internals: an unpinned upgrade could break it silently).
$(RUN_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# openapi-python-client (the generated-client test) pins an older Typer than leadlink's CLI
# needs, so it lives in a virtualenv of its own inside .venv.
OPENAPI_CLIENT := $(VENV)/tools/openapi-python-client
OPENAPI_CLIENT_VERSION := 0.29.1

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.lock
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e '.[dev]'
	$(PYTHON) -m venv $(OPENAPI_CLIENT)
	$(OPENAPI_CLIENT)/bin/pip install --quiet 'openapi-python-client==$(OPENAPI_CLIENT_VERSION)'
	touch $@

help:  ## list the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

run: $(RUN_STAMP)  ## migrate the SQLite file under ./var, seed the demo once, serve on :8000
	$(BIN)/leadlink migrate
	$(BIN)/leadlink demo
	$(BIN)/leadlink serve

test: lint typecheck pytest  ## everything CI runs (CI=true makes the PostgreSQL suite mandatory)

test-fast: $(DEV_STAMP)  ## the edit loop: SQLite only, no slow or PostgreSQL-only tests
	LEADLINK_TEST_BACKENDS=sqlite $(BIN)/pytest -m "not slow and not postgresql_only" $(PYTEST_ARGS)

lint: $(DEV_STAMP)  ## ruff check, ruff format --check and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)  ## mypy --strict over app, bench and tests
	$(BIN)/mypy app bench tests

pytest: $(DEV_STAMP)  ## the whole suite, one xdist worker per core; PYTEST_ARGS="-k …" narrows it
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: $(DEV_STAMP)  ## ruff format and ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)  ## bare ASGI vs leadlink under wrk; BENCH_ARGS="--database both" etc.
	$(BIN)/python -m bench.run $(BENCH_ARGS)

soak: $(DEV_STAMP)  ## kill -9 under load at 10 random moments per backend; SOAK_ARGS="--rounds 3"
	$(BIN)/python -m tests.reliability.soak $(SOAK_ARGS)

screenshots: $(DEV_STAMP)  ## the README's images in docs/images/, from a fresh demo in Chromium
	$(BIN)/python -m tests.browser.screenshots

lock: $(DEV_STAMP)  ## pin every dependency again after a change in pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--quiet --custom-compile-command "make lock" -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 -c requirements-dev.lock \
		--quiet --custom-compile-command "make lock" -o requirements.lock

clean:  ## remove the venv, artifacts and caches
	rm -rf $(VENV) var test-artifacts .mypy_cache .ruff_cache
