# tokenrelay: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what they need first: a virtualenv with the package, and Kafka's jars.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install kafka run test lint unit integration bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

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

bench: install kafka
	@echo "The benchmark harness is not built yet (see the benchmark issue)." >&2; exit 2

clean:
	rm -rf $(VENV) .tokenrelay
