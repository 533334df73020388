# Run `make` (or `make help`) to list the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOC ?= _toc.yml
LINT_DIRS = $(wildcard src tests bench)

.PHONY: help book verify accept bench test lint data validate serve clean clean-all

## Show this help (the default goal)
help:
	@awk '/^## /{desc=substr($$0,4); next} \
	     /^[a-zA-Z0-9_.\/-]+:/{if(desc){t=$$1; sub(/:.*/,"",t); printf "  %-18s %s\n", t, desc}; desc=""; next} \
	     {desc=""}' $(MAKEFILE_LIST)

## Create .venv and install the package with its pinned test extra
.venv/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e ".[test]"
	# rfc3987-syntax (via pytest-notebook->nbdime->jsonschema[format-nongpl]) makes each nbformat validate ~2 s slower; nothing needs it.
	$(BIN)/pip uninstall -y rfc3987-syntax
	touch $@

## Build the HTML book: run only chapters whose code, data or package code changed, then render; fails on any warning or failing cell
book: $(STAMP)
	$(BIN)/python -m compendium.build.execution --toc $(TOC)
	$(BIN)/jupyter-book build . --toc $(TOC) --builder html -W -n --keep-going

## Re-execute every chapter from scratch and diff its outputs against tests/reference
verify: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 tests/test_verify.py

## Accept the chapters' current outputs as the new references (then review and commit tests/reference)
accept: $(STAMP)
	$(BIN)/python -m compendium.build.verification accept --toc $(TOC)

## Time cold, no-change and incremental builds and the analysis functions at scale (in a temporary copy)
bench: $(STAMP)
	$(BIN)/python bench/benchmark.py

## Install the pinned JavaScript test tools (axe-core) from package-lock.json
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## Run lint, build the book (-W), then the whole test suite, browser tests included
test: $(STAMP) node_modules/.installed
	$(MAKE) lint
	$(MAKE) book
	$(BIN)/python -m pytest -n 2

## Check style with ruff (src, tests, bench if present)
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)

## Regenerate the synthetic data packages: this study's (data/) and the example study's
data: $(STAMP)
	$(BIN)/python -m compendium synth --spec spec/spec.yaml --seed 2017 --out data
	$(BIN)/python -m compendium synth --spec examples/restwell/spec/spec.yaml --seed 2017 --out examples/restwell/data

## Validate the data package in data/
validate: $(STAMP)
	$(BIN)/python -m compendium validate data

## Build the book and serve it on http://127.0.0.1:8000
serve: book
	$(BIN)/python -m http.server -d _build/html 8000 --bind 127.0.0.1

## Remove built HTML and executed notebooks (keeps the execution cache)
clean:
	rm -rf _build/html _build/jupyter_execute

## Remove all of _build (including the execution cache) and .venv
clean-all:
	rm -rf _build $(VENV)
