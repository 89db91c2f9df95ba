# `make demo` and `make test` each create .venv and install tokfree with all extras on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when the packaging changes; rebuild the extension when Rust sources change.
INSTALLED := $(VENV)/.installed
BUILT     := $(VENV)/.built
RUST_SRC  := $(shell find rust_ext/src -name '*.rs' 2>/dev/null) rust_ext/Cargo.toml

.PHONY: demo test test-rust test-python develop bench clean

$(INSTALLED): pyproject.toml rust_ext/Cargo.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[all,dev]"
	touch $(INSTALLED) $(BUILT)

$(BUILT): $(INSTALLED) $(RUST_SRC)
	$(VENV)/bin/maturin develop --release --quiet --skip-install
	touch $(BUILT)

develop: $(BUILT)

demo: $(BUILT)
	$(VENV)/bin/tokfree demo

test: test-rust test-python

test-python: $(BUILT)
	$(PY) -m pytest

# The Rust core's own tests (no Python needed); debug build keeps compile time low.
test-rust:
	cd rust_ext && cargo test --quiet --no-default-features

bench: $(BUILT)
	$(PY) benchmarks/bench_encode.py
	$(PY) benchmarks/bench_train.py --size-mb 100

clean:
	rm -rf $(VENV) rust_ext/target
