# The front door. `make help` lists every target; each is a one-liner calling the `influence` CLI.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INFLUENCE := $(BIN)/influence
SAMPLE := data/sample
ACCOUNTS_LIST := data/sample-accounts.csv
# One BLAS/OpenMP thread per process: small inputs get slower, not faster, with more (scikit-learn #30662).
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast test-spark lint audit bench data train evaluate serve score report mlflow-ui eval-real clean

help: ## List every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create the local virtual environment and install the package with dev tools

$(SAMPLE)/accounts.parquet: | $(VENV)/.installed
	$(INFLUENCE) generate --out $(SAMPLE) --accounts 200 --seed 7

data: $(VENV)/.installed ## Regenerate the committed sample dataset (200 accounts, seed 7)
	$(INFLUENCE) generate --out $(SAMPLE) --accounts 200 --seed 7 --overwrite

run: $(VENV)/.installed $(SAMPLE)/accounts.parquet ## The main job: validate the sample, print the ranked DMU of 3 open deals, score the account list
	$(INFLUENCE) validate $(SAMPLE)
	$(INFLUENCE) dmu $(SAMPLE) --top 3
	$(INFLUENCE) score $(SAMPLE) --accounts $(ACCOUNTS_LIST) --out reports/scores.csv --deals-out reports/deals.csv

test: $(VENV)/.installed ## Run the whole test suite
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed ## Run the tests not marked slow
	$(BIN)/python -m pytest -q -m "not slow"

test-spark: $(VENV)/.installed ## Install the Spark extra (pyspark; needs Java 17) and run the Spark tests
	@command -v java >/dev/null || { echo "test-spark: Java 17 is needed (apt-get install -y openjdk-17-jre-headless)"; exit 1; }
	$(BIN)/python -c 'import pyspark' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[spark]'
	$(BIN)/python -m pytest -q tests/spark

lint: $(VENV)/.installed ## ruff on src and tests, then pip-audit (NOT AUDITED offline: a warning; AUDIT_STRICT=1 fails)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(call run_audit,$(if $(AUDIT_STRICT),$(AUDIT_STRICT),0),make lint)

# pip-audit of the installed packages (the editable influence itself skipped). It needs PyPI's per-version JSON
# API (or OSV with -s osv); offline it would skip every package and still say "no known vulnerabilities", so it
# runs --strict and a package it could not check, an unreachable service or a timeout is reported as one loud
# "NOT AUDITED: ..." line. That fails the target when strict (arg 1 = 1: `make audit`, or AUDIT_STRICT=1) and is
# a warning otherwise (`make lint`). Known vulnerabilities found always fail. docs/privacy.md.
AUDIT_TIMEOUT ?= 300
define run_audit
	@log=$$(mktemp); timeout $(AUDIT_TIMEOUT) $(BIN)/pip-audit --strict --local --skip-editable --progress-spinner off > $$log 2>&1; rc=$$?; \
	if [ $$rc -eq 0 ]; then cat $$log; rm -f $$log; exit 0; fi; \
	if ! grep -qiE 'found [0-9]+ known vulnerabilit' $$log && { [ $$rc -eq 124 ] || grep -qE 'could not be audited|ConnectionError|Max retries|Name or service not known|Failed to resolve|Temporary failure in name resolution|timed out' $$log; }; then \
	  why=$$( [ $$rc -eq 124 ] && echo "pip-audit timed out after $(AUDIT_TIMEOUT) s" || grep -m1 -E 'could not be audited|Error' $$log | cut -c1-160); \
	  echo "NOT AUDITED: dependencies were NOT checked for known vulnerabilities: the vulnerability service could not be reached or does not know these versions ($$why)."; \
	  echo "  Run make audit where pypi.org's JSON API is reachable, or: $(BIN)/pip-audit -s osv (needs api.osv.dev)."; \
	  rm -f $$log; \
	  if [ "$(1)" = 1 ]; then echo "$(2): failing because the audit is strict (AUDIT_STRICT=1 or make audit)"; exit 1; fi; \
	  echo "$(2): continuing without the audit (set AUDIT_STRICT=1 to make this fail)"; exit 0; \
	fi; cat $$log; rm -f $$log; exit $$rc
endef

audit: $(VENV)/.installed ## pip-audit of the installed packages; fails when NOT AUDITED (needs pypi.org; AUDIT_STRICT=0 to warn only)
	$(call run_audit,$(if $(AUDIT_STRICT),$(AUDIT_STRICT),1),make audit)

bench: $(VENV)/.installed ## Benchmarks; figures go to docs/benchmarks.md by hand, with the machine
	$(BIN)/python -m influence.bench

TRAIN_DATA := data/interim/train-2000-seed11
EVAL_DATA := data/interim/eval-500-seed2027
$(TRAIN_DATA)/accounts.parquet: | $(VENV)/.installed
	$(INFLUENCE) generate --out $(TRAIN_DATA) --accounts 2000 --seed 11
$(EVAL_DATA)/accounts.parquet: | $(VENV)/.installed
	$(INFLUENCE) generate --out $(EVAL_DATA) --accounts 500 --seed 2027

train: $(VENV)/.installed $(TRAIN_DATA)/accounts.parquet ## Train the shipped default model (2,000 generated accounts, seed 11) into models/
	$(INFLUENCE) train $(TRAIN_DATA) --name influence-default --seed 42 --synthetic --report reports/train

evaluate: $(VENV)/.installed $(EVAL_DATA)/accounts.parquet ## Evaluate the default model on 500 fresh generated accounts (seed 2027) -> reports/
	$(INFLUENCE) evaluate $(EVAL_DATA) --report reports --json reports/metrics.json

serve: $(VENV)/.installed $(SAMPLE)/accounts.parquet ## Serve the scoring API on http://127.0.0.1:8000 (/docs) with the sample deals' maps at /deals
	$(INFLUENCE) serve --data $(SAMPLE)

score: $(VENV)/.installed $(SAMPLE)/accounts.parquet ## Batch-score the sample accounts to reports/scores.parquet + reports/deals.csv (docs/scoring.md)
	$(INFLUENCE) score $(SAMPLE) $(if $(wildcard $(ACCOUNTS_LIST)),--accounts $(ACCOUNTS_LIST),) --out reports/scores.parquet --deals-out reports/deals.csv

report: $(VENV)/.installed $(SAMPLE)/accounts.parquet ## Self-contained HTML account report (DMU maps) for the sample account list -> reports/sample-dmu.html
	$(INFLUENCE) report $(SAMPLE) --accounts $(ACCOUNTS_LIST) --out reports/sample-dmu.html

eval-real: $(VENV)/.installed ## Zero-label check on real Enron mail (../shared/data/enron-dev): Senior/Junior AUC vs baselines
	$(INFLUENCE) eval-real --json reports/eval-real.json

mlflow-ui: $(VENV)/.installed ## MLflow UI over the project's tracking store on http://127.0.0.1:5000
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns/mlflow.db}"

clean: ## Remove the virtual environment and derived files (never data/sample or models/)
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
