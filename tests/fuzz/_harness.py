"""Shared pieces of the atheris harnesses in tests/fuzz: the bundled training text, the run loop.

Each harness is a script (`python tests/fuzz/fuzz_X.py [libFuzzer args]`); this module is not a test.
A harness calls `run(test_one)`: atheris.Setup + Fuzz, with libFuzzer's arguments from sys.argv.
Only `TokfreeError` (and subclasses) may escape tokfree; anything else is a crash, which atheris
reports with the input that caused it.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"


def training_texts(n: int = 20) -> list[str]:
    """The first `n` documents of the bundled English corpus (about 320 kB for 20): enough for small vocabularies."""
    with gzip.open(ROOT / "data" / "english" / "python_docs.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


def instrument_tokfree(*, trace_comparisons: bool = True) -> atheris.import_hook.HookManager:
    """A context in which importing tokfree instruments its Python code for coverage.

    `trace_comparisons=False` leaves out atheris's comparison (dataflow) hooks: atheris 3.0's
    `_trace_cmp` leaks the result of every `==`/`<` whose result is not a bool (about 5 kB per
    input in fuzz_merging, whose numpy masks are compared elementwise: 1.5 GB in two minutes),
    so the numpy-heavy harnesses keep branch coverage only.
    """
    if trace_comparisons:
        return atheris.instrument_imports(include=["tokfree"])
    return atheris.import_hook.HookManager({"tokfree"}, set(), enable_loader_override=True, trace_dataflow=False)


def run(test_one: Callable[[bytes], None]) -> None:
    """Runs libFuzzer on `test_one` with the command line's arguments (corpus folders, -runs=, -max_total_time=)."""
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
