"""Shared fixtures: the bundled corpora, and tokenizers trained on them once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokfree._corpora import load_corpora

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ["gpt2", "gpt4", "o200k", "llama3", "whitespace", "none"]


@pytest.fixture(scope="session")
def corpora() -> dict[str, list[str]]:
    return load_corpora(ROOT / "data")


@pytest.fixture(scope="session")
def documents(corpora) -> list[str]:
    return [text for texts in corpora.values() for text in texts]


@pytest.fixture(scope="session")
def trained(documents):
    """preset -> a 2000-token tokfree tokenizer trained on all bundled documents."""
    import tokfree

    cache: dict[str, object] = {}

    def get(preset: str):
        if preset not in cache:
            cache[preset] = tokfree.train_bpe(
                iter(documents), 2000, pre_tokenizer=preset, special_tokens=["<|endoftext|>", "<pad>"], show_progress=False
            )
        return cache[preset]

    return get


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny torch models gain nothing from a second thread, and a busy shared core stalls both
    (use with `pytestmark = pytest.mark.usefixtures("torch_one_thread")`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
