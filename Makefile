# Run `make` (or `make help`) to list the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOC ?= _toc.yml
# The data package the book is built on. DATA=path builds this book on another package of this
# study's shape (the real de-identified data, say): the check, the chapters' kernels and the
# Sphinx build (title, footer, metadata) all read it.
DATA ?= data
export COMPENDIUM_DATA := $(abspath $(DATA))
LAB_ARGS ?=
LINT_DIRS = $(wildcard src tests bench)

.PHONY: help check book verify accept bench test lint data validate serve clean clean-all pdf lab

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

## Say which chapters the data package (DATA) supports, and what any other one lacks (book runs it first)
check: $(STAMP)
	$(BIN)/python -m compendium check --data $(DATA) --toc $(TOC)

## Build the HTML book: check, run only chapters whose code, data or package code changed, then render; fails on any warning or failing cell
book: check
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

## Validate the data package (DATA, default data/)
validate: $(STAMP)
	$(BIN)/python -m compendium validate $(DATA)

## Build the book as one PDF, offline (Chromium prints the HTML book): _build/pdf/compendium.pdf
pdf: book
	$(BIN)/python -m compendium.build.pdf --toc $(TOC) --out _build/pdf/compendium.pdf

## Open the chapters as notebooks in JupyterLab via jupytext (LAB_ARGS=--allow-root when root)
lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=. --LabApp.app_settings_dir=src/compendium/resources/jupyterlab --LabApp.default_url=/lab/tree/book/intro.md $(LAB_ARGS)

## Build the book and serve it on http://127.0.0.1:8000
serve: book
	$(BIN)/python -m http.server -d _build/html 8000 --bind 127.0.0.1

## Remove built HTML and executed notebooks (keeps the execution cache)
clean:
	rm -rf _build/html _build/jupyter_execute

## Remove all of _build (including the execution cache) and .venv
clean-all:
	rm -rf _build $(VENV)
