# Two commands matter: `make demo` and `make test`. Both install what they need first.
# (`make test-fast` skips the four slow recipe runs; CI always runs `make test`.)
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e ".[dev,data]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lstm-deploy run recipes/quickstart.yaml -o runs/quickstart

lint: $(STAMP)
	$(VENV)/bin/ruff check lstm_deploy tests examples benchmarks

# Two passes: everything but the `slow` recipes (files kept whole per worker, so module fixtures
# are built once), then the slow recipes spread one test per worker. CI runs both (.ci/run).
test: lint
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" --durations=20
	$(PY) -m pytest -n 2 --dist load -q -m slow --durations=10

test-fast: lint
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
