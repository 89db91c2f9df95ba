"""`train_superword`: tokens that cross whitespace (SuperBPE), or supertokens (TokenAdapt).

SuperBPE (Liu et al. 2025) is a two-stage curriculum. Stage 1 is ordinary BPE with whitespace
pre-tokenization up to a transition size `t`, so the first tokens are subwords. Stage 2 keeps those
merges and continues on text split only at digits (in groups of up to 3) and line breaks, so merges
can join words: ", and", " of the", " in the". Two rules from SuperBPE keep stage-2 tokens sane: at
most `max_words_per_token` words (non-empty runs between spaces, 4 by default) and no token holding
": " (a colon glued to the next word). Stage 2 is `extend_bpe`'s merge loop: each line is first
segmented by the stage-1 merges (as the encoder will), then merges continue from there.

Line breaks stay boundaries (SuperBPE's own stage 2 splits only digits; its issue #9 shows the cost:
duplicates such as " applications.\\n" beside " applications"), so a pre-token is at most a line;
the encoder merges a pre-token in O(n log n) (a heap over linked symbols), so a whole paragraph
on one line costs no more than its length.

Supertokens (TokenAdapt's SuperTokenizer, KL3M's RandomChunkSplit) get multi-word tokens in one
pass instead: the training text is cut into random-length character chunks (seeded; lengths drawn
like SuperTokenizer's, about 4-23 characters, anywhere, inside words too) and BPE learns on the
chunks, split like stage 2; encoding then splits text like stage 2.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from tokfree import _rust
from tokfree._text import call_on_texts
from tokfree.errors import TokfreeError
from tokfree.tokenizer import Tokenizer
from tokfree.io.sources import TextInputs, can_reread, iter_texts
from tokfree.trainers.bpe import check_merge_limits, count_pretokens, train_bpe
from tokfree.trainers.extend import extend_counted

__all__ = ["SUPERWORD_PATTERN", "chunk_randomly", "train_superword"]

#: Stage 2 (and encoding): digits in groups of up to 3, line breaks, and everything else between them.
#: The "superword" pre-tokenizer preset (a linear-time scanner) splits exactly like this regex.
SUPERWORD_PATTERN = r"\p{N}{1,3}|[\r\n]+|[^\p{N}\r\n]+"

#: SuperTokenizer's chunk-length buckets (characters) and their probabilities.
CHUNK_BUCKETS: tuple[tuple[int, int, float], ...] = (
    (4, 5, 0.044), (6, 7, 0.091), (8, 9, 0.146), (10, 11, 0.171), (12, 13, 0.185),
    (14, 15, 0.171), (16, 17, 0.146), (18, 19, 0.091), (20, 21, 0.044), (22, 23, 0.011),
)  # fmt: skip


def chunk_randomly(text: str, rng: random.Random) -> list[str]:
    """`text` cut into chunks of random length (SuperTokenizer's distribution); they concatenate
    back to `text`. A rest shorter than the shortest bucket is the last chunk."""
    weights = [p for _, _, p in CHUNK_BUCKETS]
    shortest = CHUNK_BUCKETS[0][0]
    chunks: list[str] = []
    start = 0
    while start < len(text):
        if len(text) - start < shortest:
            chunks.append(text[start:])
            break
        low, high, _ = rng.choices(CHUNK_BUCKETS, weights)[0]
        length = rng.randint(low, high)
        chunks.append(text[start : start + length])
        start += length
    return chunks


def train_superword(
    inputs: TextInputs,
    vocab_size: int,
    *,
    text_column: str | None = None,
    method: str = "superbpe",
    transition: int | None = None,
    pre_tokenizer: str = "gpt4",
    max_words_per_token: int | None = 4,
    forbidden: Iterable[str] = (": ",),
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: int | None = None,
    seed: int = 0,
    show_progress: bool = True,
) -> Tokenizer:
    """Trains a tokenizer whose tokens may span several words.

    Args:
        inputs: files/globs, a dataset or an iterable of texts, as for `train_bpe`. "superbpe"
            reads the corpus twice (stage 1, stage 2): files and datasets are read again, other
            texts are kept in memory.
        text_column: the dataset column or JSONL field holding the text (None: "text"), as for `train_bpe`.
        vocab_size: tokens in the result, counting special and byte tokens (fewer if the corpus
            runs out of pairs seen `min_frequency` times).
        method: "superbpe" (two stages) or "supertoken" (random chunks, one stage).
        transition: "superbpe": the stage-1 vocabulary size t (default: half of `vocab_size`;
            at least the 256 bytes + special tokens; SuperBPE found t at 40% of the final size best).
        pre_tokenizer: the stage-1 (whitespace) pre-tokenizer; "gpt4" splits digits like stage 2.
        max_words_per_token: longest new token in words (None: no limit). SuperBPE uses 4.
        forbidden: strings no stage-2 token may contain (SuperBPE: ": ").
        special_tokens, min_frequency, max_token_length, show_progress: as for `train_bpe`.
        seed: "supertoken": the seed of the random chunking.

    Example:
        >>> texts = ["the cat sat on the mat, and the dog sat on the log"] * 50
        >>> tok = train_superword(iter(texts), 300, show_progress=False)
        >>> len(tok.encode(texts[0])) < 10 and tok.decode(tok.encode(texts[0])) == texts[0]
        True
    """
    if method not in ("superbpe", "supertoken"):
        raise TokfreeError(f"method={method!r}: use 'superbpe' (two-stage curriculum) or 'supertoken' (random chunks)")
    check_merge_limits(min_frequency, max_token_length, None)
    if max_words_per_token is not None and (isinstance(max_words_per_token, bool) or not isinstance(max_words_per_token, int) or max_words_per_token < 1):
        raise TokfreeError(f"max_words_per_token={max_words_per_token!r} must be None or an int >= 1")
    specials = list(special_tokens)
    base_size = 256 + len(specials)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= base_size:
        raise TokfreeError(f"vocab_size={vocab_size!r} must be an int above 256 byte tokens + {len(specials)} special tokens = {base_size}")
    if method == "superbpe":
        transition = max(base_size, vocab_size // 2) if transition is None else transition
        if isinstance(transition, bool) or not isinstance(transition, int) or not base_size <= transition <= vocab_size:
            raise TokfreeError(f"transition={transition!r} must be an int from {base_size} to vocab_size={vocab_size}")
        # Both stages read the corpus: files and datasets are read again, texts are kept.
        kept = None if can_reread(inputs) else list(inputs)  # type: ignore[arg-type]
        stage1 = train_bpe(
            inputs if kept is None else iter(kept),
            transition,
            text_column=text_column,
            pre_tokenizer=pre_tokenizer,
            special_tokens=specials,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            show_progress=show_progress,
        )
        again = inputs if kept is None else iter(kept)
        counter = count_pretokens(again, "superword", text_column=text_column, show_progress=show_progress)
    else:
        stage1 = train_bpe(iter(["x"]), base_size, special_tokens=specials, min_frequency=1, show_progress=False)  # bytes only
        rng = random.Random(seed)
        counter = _rust.PretokenCounter("superword")
        for text in iter_texts(inputs, text_column=text_column):
            call_on_texts(counter.add_texts, chunk_randomly(text, rng))
    return extend_counted(
        stage1,
        counter,
        vocab_size - stage1.vocab_size,
        min_frequency,
        max_token_length,
        None,
        show_progress,
        max_words=max_words_per_token,
        forbidden=tuple(s.encode("utf-8") for s in forbidden),
        same_pre_tokenizer=False,
    )
