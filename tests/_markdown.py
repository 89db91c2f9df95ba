"""The ```python blocks of a Markdown page, as the README and docs tests run them."""

from __future__ import annotations

import re
from pathlib import Path

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """Every fenced ```python block of `page`, in order (other fences, e.g. ```bash, are skipped)."""
    return _PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))
