# rdlab — the two commands a new machine needs are `make study` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.rdlab-installed

.PHONY: setup study smoke test lint typecheck unit integration k8s-check bench reproduce clean

# Idempotent: the venv is built once and re-synced only when pyproject.toml changes.
# pip takes torch/torchvision from this machine's disk; uv/poetry would fetch CUDA builds.
setup: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

study: setup
	$(BIN)/python studies/rd_frontier.py

smoke: setup
	$(BIN)/python studies/rd_frontier.py --smoke-test

lint: setup
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

typecheck: setup
	$(BIN)/python -m mypy

# The fast part: every test that needs no Ray cluster, no server and no browser
# (markers in pyproject.toml), a few minutes on 2 cores.
UNIT_TESTS := not ray and not server and not browser
unit: setup
	$(BIN)/python -m pytest -q -m "$(UNIT_TESTS)"

# The rest: studies on a real Ray cluster, MLflow/PostgreSQL/S3 servers, Chromium.
integration: setup
	$(BIN)/python -m pytest -q -m "not ($(UNIT_TESTS))"

k8s-check: setup
	$(BIN)/python k8s/check.py

# Everything: lint, types, manifests, and the whole pytest suite (unit, then the rest).
test: lint typecheck k8s-check unit integration

bench: setup
	$(BIN)/python studies/benchmarks/run_all.py

reproduce: setup
	$(BIN)/python studies/reproductions/run_all.py

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
