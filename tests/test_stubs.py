"""The type stubs tokfree/_rust.pyi match the compiled module (mypy's stubtest, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_rust_stubs_match_the_compiled_module(tmp_path: Path) -> None:
    pytest.importorskip("mypy.stubtest")
    # mypy also analyses the parent package (tokfree/__init__.py) and, by default, everything it
    # imports, numpy's and torch's stubs included: 60 s instead of 1 s. The stub itself imports only
    # the standard library, which is still read, so skipping the rest checks the same thing.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nfollow_imports = skip\n", encoding="utf-8")
    # The cache goes to tmp_path: the run leaves nothing in the tree and never reads a stale cache.
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tokfree._rust", "--mypy-config-file", str(config)],
        cwd=ROOT,
        env={**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy_cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
