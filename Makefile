# wizardpy — `make demo` and `make test` do everything on a fresh machine (Python 3.11 + gcc).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
NATIVE := $(wildcard native/*.c native/*.h native/*.py)
DEMO_WASM ?= workloads/lindblad/lindblad.debug.wasm  # built with -g: names and file:line in the report

.PHONY: all install demo test test-all workloads bench clean tools fuzz asan

all: install

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

$(STAMP): $(VENV)/bin/python pyproject.toml setup.py $(NATIVE)
	$(PIP) install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian tools some tests drive (genhtml renders our LCOV output). Installed when missing.
tools:
	@command -v genhtml >/dev/null 2>&1 || { echo "installing lcov (genhtml)"; \
	  (apt-get update -qq && apt-get install -y -qq lcov >/dev/null) || \
	  echo "warning: could not install lcov; the genhtml test will fail"; }

demo: install
	$(VENV)/bin/wizardpy run --monitor coverage $(DEMO_WASM)

test: install tools
	$(PY) -m pytest -q -n 2

test-all: install tools
	$(PY) -m pytest -q -n 2 -m ''

# Robustness campaigns (tests/fuzz/): 10,000 mutated binaries (no crash/hang/stray exception in
# any tier) and 2,000 wasm-tools smith modules compared with wasmtime (plain and with random
# probes). FUZZ_SEED=N reproduces a run; findings go to build/fuzz/.
FUZZ_SEED ?= $(shell date +%s)
FUZZ_N ?= 10000
SMITH_N ?= 2000
fuzz: install
	$(PY) tests/fuzz/mutate.py -n $(FUZZ_N) --seed $(FUZZ_SEED)
	$(PY) tests/fuzz/smith_diff.py -n $(SMITH_N) --seed $(FUZZ_SEED)

# Memory safety of native/: the extension built with -fsanitize=address,undefined (build/asan/,
# loaded through LD_PRELOAD of gcc's libasan/libubsan) runs the spec suite (int tier), the fuzz
# sample and the native/limits/probe-error tests. See tests/fuzz/asan_build.py.
asan: install
	$(PY) tests/fuzz/asan_build.py --run

workloads: install
	$(PY) workloads/build.py

bench: install
	$(PY) -m bench suite

clean:
	rm -rf $(VENV) build *.egg-info wizardpy/_native*.so wizardpy/_native.c
