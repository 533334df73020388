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
# `make bench ONLY=scale` (or build) measures one part of the benchmark.
ONLY ?=
LINT_DIRS = $(wildcard src tests bench tools)
# Every package, transitive ones included, with its hashes (made by `make lock` from pyproject.toml).
LOCK := requirements/lock.txt
# uv, pinned and hashed in requirements/uv.txt, lives apart from .venv so that syncing .venv to
# the lock never removes it.
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
# uv builds .venv in seconds; INSTALLER=pip is the fallback (same lock, same hashes, minutes).
INSTALLER ?= uv
# Where the browser tests expect Debian's Chromium (tools/system-packages installs it).
CHROMIUM ?= /usr/bin/chromium
# uv uses the Python that PYTHON names and never downloads one of its own.
export UV_PYTHON_DOWNLOADS := never
# Python caches what it compiles (__pycache__): uv does not compile the lock's ~9,800 modules at
# install as pip does (41 s here), so the ~1,300 that the book imports are compiled on first use
# (about 4 s, once), and only if PYTHONDONTWRITEBYTECODE, set on some machines, is not set.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help check book verify accept bench test lint data validate serve clean clean-all pdf lab lock system

## Show this help (the default goal)
help:
	@awk '/^## /{desc=substr($$0,4); next} \
	     /^[a-zA-Z0-9_.\/-]+:/{if(desc){t=$$1; sub(/:.*/,"",t); printf "  %-18s %s\n", t, desc}; desc=""; next} \
	     {desc=""}' $(MAKEFILE_LIST)

# rfc3987-syntax (via pytest-notebook->nbdime->jsonschema[format-nongpl]) makes each nbformat
# validation ~2 s slower and nothing needs it: requirements/excludes.txt keeps it out of the lock,
# and installing the lock without resolving dependencies (uv pip sync, pip --no-deps) never fetches it.
$(if $(filter $(INSTALLER),uv pip),,$(error INSTALLER must be uv or pip, not '$(INSTALLER)'))
ifeq ($(INSTALLER),uv)
INSTALL_NEEDS := $(UV)
endif
# uv pip sync adds, replaces and removes packages until .venv holds the lock and nothing else, so
# an existing .venv is kept: deleting one takes longer than syncing it.

## Create .venv with exactly the packages of requirements/lock.txt (hash-checked), then the package itself (editable)
.venv/.installed: pyproject.toml $(LOCK) $(INSTALL_NEEDS)
	$(PYTHON) tools/lock.py check
ifeq ($(INSTALLER),pip)
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --no-deps --require-hashes -r $(LOCK)
	$(BIN)/pip install --no-deps -e .
else
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install --python $(BIN)/python --no-deps -e .
endif
	touch $@

# The pinned uv (requirements/uv.txt), installed with pip: the only package pip installs here.
$(UV): requirements/uv.txt
	rm -rf $(UV_HOME)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes --target $(UV_HOME) -r requirements/uv.txt
	touch $@

## Lock every dependency again after editing pyproject.toml (requirements/*.txt; LOCK_FLAGS=--upgrade moves all)
lock: $(UV)
	$(PYTHON) tools/lock.py compile --uv $(UV) $(LOCK_FLAGS)

## Install the Debian packages the tests need (chromium, npm) as root with apt-get, or print the command and stop
system:
	CHROMIUM=$(CHROMIUM) bash tools/system-packages

## Say which chapters the data package (DATA) supports, and what any other one lacks (book checks it first)
check: $(STAMP)
	$(BIN)/python -m compendium check --data $(DATA) --toc $(TOC)

## Build the HTML book: check, run only chapters whose code, data or package code changed, render only if anything changed; fails on any warning or failing cell
book: $(STAMP)
	$(BIN)/python -m compendium.build.pipeline --data $(DATA) --toc $(TOC)

## Re-execute every chapter from scratch and report each table cell, value and figure that differs from tests/reference (VERBOSE=1: the raw diff too)
verify: $(STAMP)
	$(BIN)/python -m compendium.build.verification verify --toc $(TOC)$(if $(VERBOSE), --verbose)

## Accept the chapters' current outputs as the new references (then review and commit tests/reference)
accept: $(STAMP)
	$(BIN)/python -m compendium.build.verification accept --toc $(TOC)

## Time cold, no-change and incremental builds, the analysis and validation at scale (ONLY=build or ONLY=scale for one part)
bench: $(STAMP)
	$(BIN)/python bench/benchmark.py $(if $(ONLY),--only $(ONLY))

## Install the pinned JavaScript test tools (axe-core) from package-lock.json
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## Install what the tests need (system, then .venv and axe-core), lint, build the book (-W), run the whole suite
test: system
	$(MAKE) --no-print-directory node_modules/.installed lint
	$(MAKE) book
	$(BIN)/python -m pytest -n 2

## Check style with ruff (src, tests, bench, tools)
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

## Remove all of _build (including the execution cache), .venv and .uv
clean-all:
	rm -rf _build $(VENV) $(UV_HOME)
