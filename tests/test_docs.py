"""Every ```python block of every docs/*.md page runs as written, docs/index.md links every page,
and docs/api.md is what scripts/api_reference.py generates now.

A page's blocks share one namespace and run in order, as a reader runs them, in a temp directory
that links the repository's data/ (and docs/, for pages that read a neighbour). Pages are picked up
by glob, so a new page is tested without touching this file.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from tokfree.errors import DataError

from _markdown import python_blocks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Generated or navigational pages: they hold no examples of their own.
NO_EXAMPLES = {"api.md", "index.md"}
PAGES = sorted(page.name for page in DOCS.glob("*.md") if page.name not in NO_EXAMPLES)

@pytest.mark.parametrize("name", PAGES)
def test_page_has_an_example(name: str) -> None:
    assert python_blocks(DOCS / name), f"docs/{name} has no ```python block; add a runnable example"


@pytest.mark.usefixtures("torch_one_thread")  # tiny models: a busy shared core stalls a second thread
@pytest.mark.parametrize("name", PAGES)
def test_page_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for folder in ("data", "docs"):
        os.symlink(ROOT / folder, tmp_path / folder)
    namespace: dict[str, object] = {"__name__": f"docs_{Path(name).stem}"}
    for number, block in enumerate(python_blocks(DOCS / name)):
        try:
            exec(compile(block, f"docs/{name} block {number}", "exec"), namespace)
        except DataError as err:  # an example over the real vocabularies needs `make data`
            pytest.skip(f"the real vocabularies were not fetched (run `make data`): {err}")


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)\)", index))
    assert linked == {page.name for page in DOCS.glob("*.md")} - {"index.md"}


def test_api_reference_is_current() -> None:
    """docs/api.md is regenerated in memory and compared: a changed docstring or signature must be
    followed by `make docs` (python scripts/api_reference.py)."""
    for extra in ("torch", "numba", "dask"):  # the generator imports every subpackage
        pytest.importorskip(extra)
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "scripts" / "api_reference.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = (DOCS / "api.md").read_text(encoding="utf-8")
    assert generator.render(generator.public_modules()) == committed, "docs/api.md is stale: run `make docs`"
