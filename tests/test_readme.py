"""Every ```python block in README.md runs as written (from the project root, in a temp copy of data/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tokfree.errors import DataError

from _markdown import python_blocks

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = python_blocks(ROOT / "README.md")


def test_readme_has_snippets():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_readme_snippet_runs(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "data", tmp_path / "data")
    namespace: dict = {}
    # Snippets build on each other (a trained tokenizer, a saved file), as a reader runs them in order.
    for block in BLOCKS[: number + 1]:
        try:
            exec(compile(block, f"README.md snippet {number}", "exec"), namespace)
        except DataError as err:  # the real-vocabulary snippet needs `make data`
            pytest.skip(f"the real vocabularies were not fetched (run `make data`): {err}")
