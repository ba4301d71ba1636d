# leadlink: `make run` serves the demo, `make test` runs lint, types and the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BENCH_ARGS ?=

.PHONY: run test lint typecheck pytest fmt bench clean

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# openapi-python-client (the generated-client test) pins an older Typer than leadlink's CLI
# needs, so it lives in a virtualenv of its own inside .venv.
OPENAPI_CLIENT := $(VENV)/tools/openapi-python-client
OPENAPI_CLIENT_VERSION := 0.29.1

$(DEV_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(PYTHON) -m venv $(OPENAPI_CLIENT)
	$(OPENAPI_CLIENT)/bin/pip install --quiet 'openapi-python-client==$(OPENAPI_CLIENT_VERSION)'
	touch $@

run: $(RUN_STAMP)  ## migrate the SQLite file under ./var, seed the demo once, serve on :8000
	$(BIN)/leadlink migrate
	$(BIN)/leadlink demo
	$(BIN)/leadlink serve

test: lint typecheck pytest  ## everything CI runs (CI=true makes the PostgreSQL suite mandatory)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy app bench

pytest: $(DEV_STAMP)
	$(BIN)/pytest

fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)  ## bare ASGI vs leadlink under wrk; BENCH_ARGS="--database both" etc.
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var test-artifacts .mypy_cache .ruff_cache
