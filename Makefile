# Two entry points for a fresh machine (see README):
#   make demo   install, build the demo territory store, and serve the web map on
#               http://$(HOST):$(PORT)/ until Ctrl+C (make demo PORT=8080 for another port)
#   make test   install everything the tests need, then run them
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STORE  ?= var/territoire.gpkg
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: demo test install install-dev system-deps assets lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[reports]"
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; fi

install-dev: $(BIN)/python system-deps
	$(BIN)/pip install --quiet -e ".[reports,dev]"
	@if [ -f package.json ]; then npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; fi

system-deps:
	bash .ci/system-deps.sh

demo: install
	QPV_STORE=$(STORE) QPV_HOST=$(HOST) QPV_PORT=$(PORT) $(BIN)/qpv demo
	QPV_STORE=$(STORE) $(BIN)/qpv fond construire
	@echo "Carte sur http://$(HOST):$(PORT)/ (Ctrl+C pour arrêter)"
	QPV_STORE=$(STORE) QPV_HOST=$(HOST) QPV_PORT=$(PORT) $(BIN)/qpv servir

# the store tests run on both backends: PostGIS from Debian's packages on loopback
# (.ci/postgres.sh installs and starts it), in a database of this run only that .ci/test.sh
# creates then drops, unless QPV_TEST_POSTGIS names a database
test: install-dev
	bash .ci/test.sh $(BIN)/python

lint:
	$(BIN)/ruff check geo layers webmap tests bench data/build_demo.py
	$(BIN)/mypy

bench: install
	$(BIN)/pip install --quiet -e ".[reports,bench]"
	bash .ci/bench-deps.sh
	$(BIN)/python bench/bench_import.py

clean:
	rm -rf $(VENV) var node_modules webmap/static/vendor
