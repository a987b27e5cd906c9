# snncc developer entry points.  Two environments:
#   .venv       Python 3.11: snncc with the compiler (torch CPU), examples and test extras
#   .venv-lava  Python 3.10: lava-nc 0.10.0 + snncc core, used by the Lava backend/tests
# Both are built once and re-built only when pyproject.toml changes (stamp files).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Python for .venv (3.11: the torch 2.13.0 CPU wheel is the one this project is built on)
PYTHON      ?= python3
# Python 3.10 for .venv-lava; if empty: python3.10 on PATH, else $(pyenv root)/versions/3.10*
LAVA_PYTHON ?=
VENV        := .venv
LAVA_VENV   := .venv-lava
PIP_FLAGS   ?= --disable-pip-version-check
TORCH_PIN   ?= torch==2.13.0

DEMO_OUT    := examples/out
export SNNCC_LAVA_PYTHON ?= $(CURDIR)/$(LAVA_VENV)/bin/python

.PHONY: help venv lava-env browser demo test bench docs clean distclean

help:
	@echo "make venv       build .venv (Python 3.11, snncc[compiler,examples,test,docs], torch==2.13.0 CPU, xylosim)"
	@echo "make docs       build the documentation site into build/site (mkdocs --strict)"
	@echo "make lava-env   build .venv-lava (Python 3.10, lava-nc==0.10.0, snncc core)"
	@echo "make demo       train the digits example (once), compile it for Loihi, verify it"
	@echo "make test       run the test suite (Lava tests use .venv-lava)"
	@echo "make bench      run bench/run_all.py"
	@echo "make clean      remove build outputs; 'make distclean' also removes both venvs"

venv: $(VENV)/.stamp

# torch goes in first, pinned to the CPU wheel on local disk (TORCH_PIN): the package itself
# asks only torch>=2.5, which that install then satisfies; an unpinned torch would pull a
# multi-GB CUDA build.
$(VENV)/.stamp: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
	  || { echo "error: $(VENV) needs Python >= 3.10; rm -rf $(VENV) and set PYTHON=python3.11" >&2; exit 1; }
	$(VENV)/bin/pip install $(PIP_FLAGS) '$(TORCH_PIN)'
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[compiler,examples,test,docs]' '$(TORCH_PIN)'
	# SpikingJelly for tests/test_frameworks.py: its wheel declares torchaudio/tensorboard,
	# which its neurons do not need, so it goes in without them (loguru comes with [test]).
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps spikingjelly==2.0.0
	# SynSense's Xylo simulator, the oracle of the Xylo target: no wheels, pip builds its sdist
	# with g++ and pybind11 (about 1 min).  Never samna / rockpool[xylo] (see docs/xylo.md).
	$(VENV)/bin/pip install $(PIP_FLAGS) xylosim==0.1.3
	@touch $@

lava-env: $(LAVA_VENV)/.stamp

# lava-nc 0.10.0 supports Python 3.10 only.  snncc's core needs only numpy + networkx,
# which lava-nc already pulls in (pinned to its own versions), hence --no-deps.
$(LAVA_VENV)/.stamp: pyproject.toml
	@if ! test -x $(LAVA_VENV)/bin/python; then \
	  py="$(strip $(LAVA_PYTHON))"; \
	  if [ -z "$$py" ]; then \
	    for p in python3.10 "$$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.10*/bin/python; do \
	      if "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then py=$$p; break; fi; \
	    done; \
	  fi; \
	  if [ -z "$$py" ]; then \
	    echo "error: no working Python 3.10 found for $(LAVA_VENV) (lava-nc 0.10.0 needs 3.10)." >&2; \
	    echo "  install one, e.g. 'pyenv install 3.10' (Debian 12 ships no python3.10 package)," >&2; \
	    echo "  or point to it: make lava-env LAVA_PYTHON=/path/to/python3.10" >&2; \
	    exit 1; \
	  fi; \
	  echo "creating $(LAVA_VENV) with $$py"; \
	  "$$py" -m venv $(LAVA_VENV); \
	fi
	@$(LAVA_VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' \
	  || { echo "error: $(LAVA_VENV) is not Python 3.10; rm -rf $(LAVA_VENV) and retry" >&2; exit 1; }
	$(LAVA_VENV)/bin/pip install $(PIP_FLAGS) lava-nc==0.10.0 h5py
	# lava-dl's netx loader (for the netx HDF5 check): its wheel pins torch 2.3, which the
	# loader does not need, so it goes in without dependencies (see backends/lava/netx_import.py).
	$(LAVA_VENV)/bin/pip install $(PIP_FLAGS) --no-deps lava-dl==0.6.0
	$(LAVA_VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

# Trained once; delete examples/out (or 'make clean') to retrain.
$(DEMO_OUT)/model.pt: | $(VENV)/.stamp
	$(VENV)/bin/python examples/train_digits_mlp.py --out $(DEMO_OUT)

demo: venv $(DEMO_OUT)/model.pt
	$(VENV)/bin/snncc compile $(DEMO_OUT)/model.pt --target loihi -o build/digits
	$(VENV)/bin/snncc verify $(DEMO_OUT)/model.pt --target loihi \
	  --data $(DEMO_OUT)/inputs.npz --json build/digits-verify.json --html build/digits-verify.html

test: venv lava-env browser
	$(VENV)/bin/python -m pytest -q

# Headless Chromium renders report.html in tests/test_report.py.  Debian's package, installed
# only when missing and we are root with apt-get (CI); otherwise that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends chromium >/dev/null) \
	      || echo "note: could not install chromium; the HTML rendering test will be skipped"; \
	    else echo "note: no chromium (apt-get install chromium); the HTML rendering test will be skipped"; fi; }

docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: venv lava-env
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf build $(DEMO_OUT) .pytest_cache
	find . -path ./$(VENV) -prune -o -path ./$(LAVA_VENV) -prune -o \
	  -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(LAVA_VENV)
