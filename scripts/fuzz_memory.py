"""Does memory level off while fuzzing? Two drivers without atheris, RSS printed as they go.

    python scripts/fuzz_memory.py cache      # one BPE tokenizer, 2.4M random words: the Rust piece cache's bound
    python scripts/fuzz_memory.py roundtrip  # fuzz_roundtrip's test_one on 400k random inputs (11 tokenizers)

docs/hardening.md quotes both (2026-12-07: +36 MB per tokenizer, flat after 400k words; 881 MB
after 400k round-trip inputs, +12 MB over the last 25k).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024


def cache() -> None:
    import tokfree

    texts = (ROOT / "README.md").read_text(encoding="utf-8").splitlines(keepends=True)
    tok = tokfree.train_bpe(iter(texts * 3), 600, show_progress=False)
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyzéü"
    print("start", rss_mb(), "MB", flush=True)
    for step in range(1, 13):
        for _ in range(50_000):
            tok.encode(" ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(3, 12))) for _ in range(4)))
        print(step * 200_000, "words", rss_mb(), "MB", flush=True)


def roundtrip() -> None:
    import tokfree  # noqa: F401  imported first, so the harness's instrumenting import is a no-op

    sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
    import fuzz_roundtrip

    rng = random.Random(0)
    print("start", rss_mb(), "MB", flush=True)
    for i in range(1, 400_001):
        fuzz_roundtrip.test_one(rng.randbytes(rng.randint(1, 300)))
        if i % 25_000 == 0:
            print(i, "inputs", rss_mb(), "MB", flush=True)


if __name__ == "__main__":
    {"cache": cache, "roundtrip": roundtrip}[sys.argv[1] if len(sys.argv) > 1 else "cache"]()
