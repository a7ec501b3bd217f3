# Seawall: `make run` starts it on embedded SQLite with a demo bank; `make test` runs every test;
# `make test-fast` runs unit and API tests in parallel, leaving out those marked slow or e2e; `make docs` builds the site.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= $(or $(SEAWALL_DATA_DIR),./seawall-data)
STAMP := $(VENV)/.installed

.PHONY: run test test-fast docs lint bench fuzz clean lock vuln-check

# Dependencies come only from requirements.lock (exact versions, hashes checked); `make lock` renews it.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/seawall db upgrade
	$(BIN)/seawall demo seed
	@mkdir -p $(DATA); \
	if [ ! -s $(DATA)/admin-api-key ]; then \
	  umask 077; $(BIN)/seawall apikey create --role admin --name make-run 2>/dev/null | tail -n 1 > $(DATA)/admin-api-key; \
	fi; \
	echo ""; echo "Admin API key (also in $(DATA)/admin-api-key):"; cat $(DATA)/admin-api-key; \
	echo "Console and API: http://127.0.0.1:8000  (API reference: http://127.0.0.1:8000/docs)"; echo ""
	$(BIN)/seawall serve

test: $(STAMP)
	bash scripts/test-prereqs
	$(BIN)/python scripts/vuln-check
	HYPOTHESIS_PROFILE=full $(BIN)/python -m pytest -q -n 2

# A longer schemathesis run than the one in `make test`, on both databases, in a private network namespace.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	bash scripts/test-prereqs
	$(BIN)/python -m tests.fuzz_api --database sqlite --max-examples $(FUZZ_EXAMPLES)
	$(BIN)/python -m tests.fuzz_api --database postgres --max-examples $(FUZZ_EXAMPLES)

# Bytecode caches on even where the environment sets PYTHONDONTWRITEBYTECODE: without them every worker and every
# `seawall` process a test starts compiles Seawall and re-rewrites the test modules' asserts (docs/testing.md).
test-fast: $(STAMP)
	PYTHONDONTWRITEBYTECODE= HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -q -n 2 -m "not slow and not e2e and not postgres"

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks connectors
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_hashing.py

vuln-check: $(STAMP)
	$(BIN)/python scripts/vuln-check

lock:
	$(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet uv
	.lock-venv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
	  --no-header --quiet --upgrade -o requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build *.egg-info
