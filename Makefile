# tokenrelay: `make run` starts everything locally, `make test` runs the whole suite.
# Each installs what it needs first: `run` the package, the page's libraries and Kafka's jars;
# `test` also the test tools, Chromium, PostgreSQL, nginx.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.test-$(shell cksum pyproject.toml | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install kafka run cluster test lint unit integration bench soak clean

# `install`: everything the tests need; `make run` takes only $(STAMP), the package itself.
install: $(TEST_STAMP)
install: web

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.installed-* && touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.test-* && touch $@

# The browser client: the Debian packages (all of them for the tests; PACKAGES=run: only what
# running needs), the npm libraries (npm ci, again only when package-lock.json changed), and
# their browser builds copied to app/static/vendor/.
PACKAGES ?= all
web:
	bash infra/system-packages.sh $(PACKAGES)
	[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
	node app/static/tools/vendor.mjs

kafka:
	bash infra/system-packages.sh $(PACKAGES)
	bash infra/kafka/broker.sh fetch

# Only what running needs: no Chromium, PostgreSQL, Redis or nginx; no Kafka jars when
# TOKENRELAY_KAFKA names a broker. `tokenrelay up` prints a line per component, then the URL.
run: PACKAGES = run
run: $(STAMP) web
	$(if $(TOKENRELAY_KAFKA),,bash infra/kafka/broker.sh fetch)
	$(BIN)/tokenrelay up

# 3 brokers (replication 3), 2 workers and 2 edges behind nginx, all on 127.0.0.1
# (docs/cluster.md): what `run` installs, and nginx. Ctrl-C stops what it started.
cluster: PACKAGES = cluster
cluster: $(STAMP) web
	bash infra/kafka/broker.sh fetch
	$(BIN)/tokenrelay cluster up

# mypy --strict ([tool.mypy] in pyproject.toml): 12 s of CPU from a cold cache, <1 s warm.
lint: install
	$(BIN)/ruff check app agents tests
	$(BIN)/mypy app agents

unit: install
	$(BIN)/python -m pytest tests/unit -q

integration: install kafka
	$(BIN)/python -m pytest tests/integration -q

# The suite mostly waits (on Kafka, process starts, timeouts): two pytest processes, each with
# its own broker, share most of it on 2 cores (a file's tests stay together, so a module's stack
# starts once). SOLO runs after, alone: the chaos run (three brokers) loads the machine enough
# to fail timing-bound tests beside it (a browser test's cursor sample, a cancel's upstream
# close, seen in clean-clone runs), and the browser and rolling-restart tests need a quiet one.
TEST_JOBS ?= 2
SOLO := tests/e2e tests/integration/test_chaos.py tests/integration/test_rolling_restart.py
test: install kafka lint
	$(BIN)/python -m pytest tests -q -n $(TEST_JOBS) --dist loadfile $(addprefix --ignore=,$(SOLO))
	$(BIN)/python -m pytest -q $(SOLO)

# The benchmark suite (bench/README.md): Python extras (plots, psutil, py-spy), the peer's npm
# packages, then `python -m bench`. QUICK=1 runs the short set (< 3 min) instead of the full one
# and writes bench/results/quick/ (only a full run writes bench/results/README.md).
bench: install kafka $(BENCH_STAMP)
	[ bench/peer/node_modules/.package-lock.json -nt bench/peer/package-lock.json ] || \
		(cd bench/peer && npm ci --no-audit --no-fund --loglevel=error)
	$(BIN)/python -m bench $(if $(filter-out 0,$(QUICK)),--quick)

# The soak (bench/results/soak.md): SOAK_RESPONSES demo responses in flight for SOAK_MINUTES
# against a broker + worker + edge it starts; worker and edge RSS and open fds must stay flat.
# SOAK_RATE tokens/s each. Not part of `make test` (30 minutes).
SOAK_MINUTES ?= 30
SOAK_RESPONSES ?= 300
SOAK_RATE ?= 10
soak: install kafka $(BENCH_STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --responses $(SOAK_RESPONSES) \
		--rate $(SOAK_RATE)

$(BENCH_STAMP): $(TEST_STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	rm -f $(VENV)/.bench-* && touch $@

clean:
	rm -rf $(VENV) .tokenrelay
