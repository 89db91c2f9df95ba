"""A short pass of every atheris harness in tests/fuzz (the CI part of `make fuzz`).

Each harness runs in a subprocess from its committed seeds for a bounded number of inputs and a few
seconds; a crash (an exception other than TokfreeError, a failed invariant, a Rust panic) makes
libFuzzer exit non-zero, and the test shows the tail of its log.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ = Path(__file__).parent / "fuzz"
HARNESSES = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))


def test_every_harness_has_seeds() -> None:
    assert HARNESSES, "no harness found in tests/fuzz"
    for name in HARNESSES:
        assert any((FUZZ / "corpus" / name).iterdir()), f"tests/fuzz/corpus/{name} holds no seed"


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_short_pass(name: str, tmp_path: Path) -> None:
    work = tmp_path / "corpus"
    work.mkdir()
    command = [sys.executable, str(FUZZ / f"fuzz_{name}.py"), str(work), str(FUZZ / "corpus" / name),
               "-runs=400", "-max_total_time=8", "-seed=1", f"-artifact_prefix={tmp_path}/"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"fuzz_{name} crashed:\n{result.stderr[-4000:]}"
