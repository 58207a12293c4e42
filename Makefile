# One task runner for developers, CI and the README.
.PHONY: help deps node python test lint test-rust test-node test-python test-interop package-check reliability bench bench-smoke bench-deps demo fmt clean
.PHONY: chromium test-browser
.PHONY: dist dist-check version-check

help:
	@echo "make test   - install what the tests need, lint (rustfmt, clippy -D warnings), every suite"
	@echo "make node   - build the npm package (addon included) in place"
	@echo "make python - build the Python package into .venv"
	@echo "make demo   - an Express app and a FastAPI app sharing sessions (BACKEND=sqlite|redis)"
	@echo "make test-browser - the demo's active-devices page in headless Chromium (make chromium installs it)"
	@echo "make bench  - omnisession against its peers, ratios and plots in bench/results"
	@echo "make reliability - the full races, faults, fuzzing, leak and exit runs (long)"
	@echo "make fmt    - format the Rust sources"

# Tests start their own redis-server processes (single node, TLS, cluster, Sentinel) and need openssl
# for the TLS certificates. Installed from Debian's packages when missing.
deps:
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1 \
	    || ! command -v openssl >/dev/null 2>&1; then \
	  echo "installing redis-server, redis-tools and openssl"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    redis-server redis-tools openssl >/dev/null; \
	fi

# The demo's "active devices" page is driven in headless Chromium (examples/demo/chromium.mjs,
# tests/browser/), Debian's package. Installed when missing.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

VENV := .venv
PY := $(VENV)/bin/python

test: deps lint test-rust test-node test-browser test-python test-interop package-check bench-smoke

# The npm package: `npm install` runs its `prepare` script, which builds the addon (napi build).
node: deps
	npm install --no-audit --no-fund

# The Python package, built into a venv of its own with its test extras (maturin develop).
python: $(PY)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --quiet --extras test

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip 'maturin>=1.9.4,<2'

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# --workspace includes cli/tests: the `omnisession` admin command against real SQLite files,
# session directories, a redis-server and a Redis Cluster (about 30 s).
test-rust: deps
	cargo test --workspace
	cargo run --quiet -p omnisession --example demo >/dev/null

# tests/next-app pins Next and React in a lockfile of its own (npm ci, only when it changed);
# tests/node/next.test.mjs builds, serves and hot-reloads it.
test-node: node tests/next-app/node_modules/.package-lock.json
	npm test
	npm run test:express-session

tests/next-app/node_modules/.package-lock.json: tests/next-app/package-lock.json
	cd tests/next-app && npm ci --no-audit --no-fund --ignore-scripts

# tests/python/test_examples.py runs the demo, which drives the devices page in Chromium.
test-python: python chromium
	$(PY) -m pytest -q

# The demo's devices page in headless Chromium, against its Express and FastAPI apps (about 30 s).
test-browser: node python chromium
	PYTHON=$(PY) node --test tests/browser/

# The packages users install: built as `make dist` builds them, then installed the way users
# install them, with no Rust toolchain, and run (`make dist-check`; its sdist test is the build
# from source that pip does where no wheel fits).
package-check: dist
	$(MAKE) dist-check

# Node, Python and (where go exists: optional) Go processes sharing one SQLite file and one Redis.
test-interop: node python
	$(PY) -m pytest -q tests/interop
	@if command -v go >/dev/null 2>&1; then \
	  cargo test -p omnisession --test interop_go -- --ignored; \
	else \
	  echo "Go interop not run: go is not installed (optional, see README)"; \
	fi

# Benchmarks against the peers (bench/README.md): the peers are pinned in bench's own manifests.
bench-deps: node python
	cd bench && npm install --no-audit --no-fund
	$(PY) -m pip install --quiet -r bench/requirements.txt

# The bench times release builds of both bindings, made apart from the debug ones the tests load
# from the working tree (a debug build is 5-30x slower; bench/run.py refuses to time one): the
# runners load them through NAPI_RS_NATIVE_LIBRARY_PATH and PYTHONPATH.
BENCH_BUILD ?= target/bench-bindings
bench: deps bench-deps
	cargo build --release --quiet -p omnisession-node
	rm -rf $(BENCH_BUILD) && mkdir -p $(BENCH_BUILD)
	cp $${CARGO_TARGET_DIR:-target}/release/libomnisession_node.so $(BENCH_BUILD)/omnisession.node
	$(VENV)/bin/maturin build --release --quiet -o $(BENCH_BUILD)/wheels
	$(PY) -m zipfile -e $(BENCH_BUILD)/wheels/omnisession-*.whl $(BENCH_BUILD)/py
	NAPI_RS_NATIVE_LIBRARY_PATH=$(abspath $(BENCH_BUILD))/omnisession.node PYTHONPATH=$(abspath $(BENCH_BUILD))/py \
	  $(PY) bench/run.py $(BENCH_ARGS)

# Every scenario with a handful of ops, so the harness cannot rot; numbers go to bench/results/smoke.
bench-smoke: deps bench-deps
	$(PY) bench/run.py --smoke

# The full reliability run (docs/reliability.md): races at ROUNDS rounds, faults, Redis
# failovers (Sentinel and Cluster, more of them in a row), fuzzing for FUZZ_SECONDS per target
# (nightly Rust, cargo-fuzz installed on first use), a million ops per host for leaks, 500
# Python exits, 100+ worker threads. `make test` runs the short versions.
ROUNDS ?= 1000
FUZZ_SECONDS ?= 60
reliability: deps node python
	OMNISESSION_RELIABILITY_ROUNDS=$(ROUNDS) cargo test -p omnisession --release \
	  --test reliability_races --test reliability_faults --test redis_sentinel \
	  --test redis_cluster_failover -- --nocapture --test-threads 1
	core/fuzz/run.sh $(FUZZ_SECONDS)
	node tests/reliability/node_leak.mjs --ops 1000000
	$(PY) tests/reliability/python_leak.py --ops 1000000
	$(PY) tests/reliability/python_exit.py 500
	node tests/reliability/node_workers.mjs --sequential 100 --concurrent 100 --parallel 4

# An Express app and a FastAPI app sharing one session store (BACKEND=sqlite or redis).
BACKEND ?= sqlite
demo: node python chromium
	BACKEND=$(BACKEND) PYTHON=$(PY) node examples/demo/run.mjs

# Release artifacts (packaging/): the npm packages in napi-rs's layout and the Python wheel and
# sdist, release builds in a target dir of their own (DIST_TARGET), checked by packaging/check_dist.py.
# Linked against glibc GLIBC (zig through cargo-zigbuild and maturin --zig, in a tools venv of
# their own), so they load on any Linux x64 with that glibc or newer; maturin's own manylinux audit
# (--auditwheel check) refuses a wheel that needs more, and auditwheel show says it again.
# `make dist-check` installs them the way users do, with no Rust toolchain on PATH (tests/package/dist_check.py).
DIST ?= dist
DIST_TARGET ?= /tmp/dist-target
GLIBC ?= 2.17
DIST_TOOLS := $(DIST_TARGET)/tools
# napi (cargo-zigbuild) and maturin --zig link with different wrappers, so each has its own
# target dir or every run rebuilds both: the wheel in DIST_TARGET, the addon in DIST_TARGET/node.
DIST_ENV := PATH=$(abspath $(DIST_TOOLS))/bin:$$PATH

version-check:
	python3 packaging/versions.py

$(DIST_TOOLS)/bin/cargo-zigbuild:
	python3 -m venv $(DIST_TOOLS)
	$(DIST_TOOLS)/bin/pip install --quiet 'cargo-zigbuild==0.24.1' 'ziglang==0.17.1' 'auditwheel==6.8.2'

dist: version-check $(PY) $(DIST_TOOLS)/bin/cargo-zigbuild
	rm -rf $(DIST)
	mkdir -p $(DIST)
	$(DIST_ENV) CARGO_TARGET_DIR=$(DIST_TARGET)/node python3 packaging/npm_pack.py --dist $(DIST) --glibc $(GLIBC)
	$(DIST_ENV) CARGO_TARGET_DIR=$(DIST_TARGET) $(VENV)/bin/maturin build --release --strip --target x86_64-unknown-linux-gnu \
	  --zig --compatibility manylinux_$(subst .,_,$(GLIBC)) --auditwheel check --out $(DIST)
	$(VENV)/bin/maturin sdist --out $(DIST)
	$(DIST_ENV) python3 packaging/check_dist.py $(DIST) --glibc $(GLIBC)

dist-check: $(PY)
	rm -f $(DIST_TARGET)/dist-check-times.txt
	DIST=$(abspath $(DIST)) DIST_TARGET=$(DIST_TARGET) $(PY) -m pytest -q -p no:cacheprovider tests/package/dist_check.py
	@cat $(DIST_TARGET)/dist-check-times.txt

fmt:
	cargo fmt --all

clean:
	cargo clean
