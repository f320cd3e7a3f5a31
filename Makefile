# tokenrelay: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what they need first: a virtualenv with the package, and Kafka's jars.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install kafka run test lint unit integration bench clean

install: $(STAMP)
install: web

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# The browser client: Node and Chromium when missing, the npm libraries (npm ci, again only
# when package-lock.json changed), and their browser builds copied to app/static/vendor/.
web:
	bash infra/system-packages.sh
	[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
	node app/static/tools/vendor.mjs

kafka:
	bash infra/system-packages.sh
	bash infra/kafka/broker.sh fetch

run: install kafka
	$(BIN)/tokenrelay up

lint: install
	$(BIN)/ruff check app agents tests

unit: install
	$(BIN)/python -m pytest tests/unit -q

integration: install kafka
	$(BIN)/python -m pytest tests/integration -q

test: install kafka lint
	$(BIN)/python -m pytest tests -q

# The benchmark suite (bench/README.md): Python extras (plots, psutil, py-spy), the peer's npm
# packages, then `python -m bench`. QUICK=1 runs the short set (< 3 min) instead of the full one
# and writes bench/results/quick/ (only a full run writes bench/results/README.md).
bench: install kafka $(BENCH_STAMP)
	[ bench/peer/node_modules/.package-lock.json -nt bench/peer/package-lock.json ] || \
		(cd bench/peer && npm ci --no-audit --no-fund --loglevel=error)
	$(BIN)/python -m bench $(if $(filter-out 0,$(QUICK)),--quick)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	rm -f $(VENV)/.bench-* && touch $@

clean:
	rm -rf $(VENV) .tokenrelay
