# fedi-forum: `make run` serves a demo instance, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev install-bench run reset test lint peer bench bench-quick mutation clean

$(VENV)/.runtime: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev
install-bench: $(VENV)/.bench

## run: create the virtualenv, initialise data/ and keys/, make sure a demo discussion
## exists, and serve on http://$(HOST):$(PORT)
run: install
	$(BIN)/fedi-forum serve --demo --host $(HOST) --port $(PORT)

## reset: start the demo over (removes data/ and the generated keys; keeps keys/README.md)
reset:
	rm -rf data
	rm -f keys/*.pem keys/*.secret

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## peer: the independent ActivityPub peer of tests/interop (Fedify, from npm, versions
## pinned by its package-lock.json); skipped without Node.js
PEER := tests/interop/fedify_peer
$(PEER)/node_modules/.installed: $(PEER)/package.json $(PEER)/package-lock.json
	npm ci --prefix $(PEER) --no-audit --no-fund --loglevel=error
	touch $@
peer:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(PEER)/node_modules/.installed; \
	else echo "npm not found: the Fedify interop test will be skipped"; fi

## test: lint, type-check and the whole test suite; the integration tests again on
## PostgreSQL (127.0.0.1:5432, or FEDI_FORUM_TEST_POSTGRES_URL; the store's own tests
## run on both engines in the first pass)
test: lint peer
	$(BIN)/pytest
	$(BIN)/pytest --engine postgresql tests/integration

# when this make started, in the benches' result names' format: the goal table refuses
# older results (a bench that failed or did not run), never showing them as new
BENCH_START := $(shell date +%Y%m%dT%H%M%S)

## bench: every goal of the performance issue, medians of 3, then the goal table
## (bench/README.md; about 40 minutes)
bench: install-bench
	$(BIN)/python bench/html_page.py --replies 5000
	$(BIN)/python bench/inbox.py --workers 2
	$(BIN)/python bench/keys.py
	$(BIN)/python bench/flood.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/faulty.py
	$(BIN)/python bench/recovery.py
	$(BIN)/python bench/reads.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/ning.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/goals.py --since $(BENCH_START)

## bench-quick: one short run of each, smaller sizes (about five minutes after the venv)
bench-quick: install-bench
	$(BIN)/python bench/html_page.py --runs 1 --seconds 2 --replies 2000
	$(BIN)/python bench/inbox.py --runs 1 --seconds 2 --requests 10000 --workers 2 --g6-seconds 4
	$(BIN)/python bench/keys.py --runs 1 --new 200 --seconds 2
	$(BIN)/python bench/flood.py --runs 1 --seconds 6
	$(BIN)/python bench/fanout.py --runs 1
	$(BIN)/python bench/faulty.py --runs 1
	$(BIN)/python bench/recovery.py --runs 2
	$(BIN)/python bench/reads.py --runs 1 --seconds 2 --replies 2000
	$(BIN)/python bench/engines.py --runs 1 --seconds 2 --requests 10000
	$(BIN)/python bench/growth.py --notes 5000 --discussions 500
	$(BIN)/python bench/ning.py --messages 5000
	$(BIN)/python bench/search.py --notes 5000
	$(BIN)/python bench/goals.py --since $(BENCH_START)

## mutation: mutation testing of the security core with mutmut (not part of `make test`;
## scope, score and the mutants judged equivalent: docs/mutation.md; a few minutes)
mutation: install-dev
	$(BIN)/python -m pip install --quiet -c constraints.txt "mutmut==3.8.1"
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

clean:
	rm -rf mutants $(VENV) .pytest_cache .mypy_cache .ruff_cache $(PEER)/node_modules
