"""`TokenLM` adapters for torch models: `TorchTokenLM` (a `tokfree.nn.CausalLM`) and `HFTokenLM`
(a Hugging Face `transformers` causal LM).

Both answer `next_logprobs(contexts)` with float64 log-softmax rows, batch the contexts of one call
(right padding: causal attention never lets a real position see a later padding slot), and keep an
LRU cache of rows keyed by the context tuple. Within one call, a context that is a prefix of another
is read off the longer one's forward pass (the byte-level converter asks for every prefix of its
cover contexts at once). `TorchTokenLM` also keeps the KV cache of recent contexts, so a context
that extends a recent one by a few tokens costs a forward over only the new tokens: one step per
token during byte-by-byte generation.

The context given to the model is `[bos_id] + context`: the start of the text is the BOS id (for
models trained by `tokfree.training.train_lm`, the end-of-text separator). Log-probabilities equal
a direct model call up to float32 rounding (about 1e-6): the same context may be computed in a
batch, from scratch or incrementally.

This module imports torch, never transformers (`HFTokenLM` takes a model the caller built); the
`TokenLM` interface is `tokfree.bytelevel.protocol.TokenLM`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tokfree.errors import TokfreeError
from tokfree.nn.layers import LayerCache
from tokfree.nn.lm import CausalLM, KVCache

__all__ = ["HFTokenLM", "TorchTokenLM"]

Context = tuple[int, ...]


@dataclass
class _State:
    """A context's KV cache (model positions 0..n-1, BOS included) and its next-token row."""

    keys: list[torch.Tensor]  # per layer (H, n, Dh)
    values: list[torch.Tensor]
    row: np.ndarray  # (V,) float64

    @property
    def positions(self) -> int:
        return self.keys[0].shape[1] if self.keys else 0


@dataclass
class _Plan:
    """One forward: the model sees `new` after the cached `past` (None: from scratch); it answers
    every context in `members` (all prefixes of the longest one, `leaf`)."""

    leaf: Context
    members: list[Context]
    past_key: Context | None = None
    past: _State | None = None
    new: list[int] = field(default_factory=list)
    offset: int = 0  # model position of new[0]
    window: bool = False  # a truncated context: answer only the leaf, keep no state


def _lru_get(cache: OrderedDict, key: Any) -> Any:
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _lru_put(cache: OrderedDict, key: Any, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _chains(misses: list[Context]) -> list[tuple[Context, list[Context]]]:
    """Groups contexts into (leaf, members): every member is a prefix of its leaf, each context is in
    one group. In sorted order a context that is a prefix of any other is a prefix of the next one."""
    ordered = sorted(set(misses))
    groups: list[tuple[Context, list[Context]]] = []
    pending: list[Context] = []
    for i, ctx in enumerate(ordered):
        pending.append(ctx)
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if nxt is None or nxt[: len(ctx)] != ctx:
            groups.append((ctx, pending))
            pending = []
    return groups


def _check_ids(keys: list[Context], vocab_size: int) -> None:
    for key in keys:
        if key and (min(key) < 0 or max(key) >= vocab_size):
            bad = min(key) if min(key) < 0 else max(key)
            raise TokfreeError(f"context id {bad} is outside the model's vocabulary 0..{vocab_size - 1}")


class _RowCache:
    """The shared `next_logprobs`: row LRU, de-duplication, prefix chains; subclasses compute misses."""

    vocab_size: int
    eos_id: int | None

    def __init__(self, row_cache_size: int) -> None:
        if row_cache_size < 0:
            raise TokfreeError(f"row_cache_size is {row_cache_size}; it must be >= 0")
        self.row_cache_size = row_cache_size
        self._rows: OrderedDict[Context, np.ndarray] = OrderedDict()
        #: Counters: "contexts" asked, "row_hits" answered from the cache, "forwards" model calls,
        #: "positions" real token positions fed to the model.
        self.stats = {"contexts": 0, "row_hits": 0, "forwards": 0, "positions": 0}

    def next_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(contexts), vocab_size) float64 log-probabilities of the next token after each context.

        Args:
            contexts: token-id contexts; an empty one is the start of the text.

        Returns:
            float64 rows, each logsumexp 0.

        Raises:
            TokfreeError: an id outside the vocabulary, or (without truncation) a context longer
                than the model accepts.
        """
        keys = [tuple(int(t) for t in c) for c in contexts]
        _check_ids(keys, self.vocab_size)
        self.stats["contexts"] += len(keys)
        found: dict[Context, np.ndarray] = {}
        misses: list[Context] = []
        for key in keys:
            if key in found:
                continue
            row = _lru_get(self._rows, key)
            if row is not None:
                found[key] = row
                self.stats["row_hits"] += 1
            else:
                found[key] = None  # type: ignore[assignment]
                misses.append(key)
        if misses:
            computed = self._compute(misses)
            for key in misses:
                found[key] = computed[key]
                if self.row_cache_size:
                    _lru_put(self._rows, key, computed[key], self.row_cache_size)
        out = np.empty((len(keys), self.vocab_size), dtype=np.float64)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def clear_cache(self) -> None:
        """Forgets every cached row (and KV state)."""
        self._rows.clear()

    def _compute(self, misses: list[Context]) -> dict[Context, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


def _log_softmax64(logits: torch.Tensor) -> np.ndarray:
    """(N, V) logits -> float64 log-softmax rows as numpy."""
    return torch.log_softmax(logits.detach().to("cpu", torch.float64), dim=-1).numpy()


class TorchTokenLM(_RowCache):
    """A `tokfree.nn.CausalLM` as a `TokenLM`, with row and KV caches.

    Args:
        model: the model; moved to `device` and put in eval mode.
        bos_id: the id fed before every context (the start of the text).
        eos_id: the id meaning "the text ends here" (None: the model never ends a text).
        device: where the model runs.
        cache_size: contexts whose KV cache is kept (LRU). Each costs n_layers * 2 * d_model *
            (len + 1) floats: 64 contexts of 500 tokens at d_model 128, 4 layers = 130 MB.
        row_cache_size: contexts whose log-prob row is kept (LRU), vocab_size * 8 bytes each.
        max_batch_tokens: padded token positions per forward pass.
        truncate: a context longer than the model's max_len - 1 keeps its last max_len tokens of
            `[bos_id] + context` (a sliding window, as in training, which samples windows
            mid-stream) instead of raising; such contexts are computed from scratch.

    A context is served, in order of preference, from the row cache; from a longer context of the
    same call; from the KV cache of its longest cached prefix (up to `max_backoff` tokens back),
    feeding only the remaining tokens; or from scratch.

    Example:
        >>> lm = TorchTokenLM(model, bos_id=0, eos_id=0)
        >>> rows = lm.next_logprobs([[], [17, 42]])       # start of text, and after two tokens
        >>> rows = lm.next_logprobs([[17, 42, 7]])        # one incremental step over the cached [17, 42]
    """

    def __init__(
        self,
        model: CausalLM,
        *,
        bos_id: int,
        eos_id: int | None,
        device: str | torch.device = "cpu",
        cache_size: int = 64,
        row_cache_size: int = 1024,
        max_batch_tokens: int = 16384,
        max_backoff: int = 64,
        truncate: bool = False,
    ) -> None:
        super().__init__(row_cache_size)
        if not isinstance(model, CausalLM):
            raise TokfreeError(f"model is a {type(model).__name__}; TorchTokenLM wraps a tokfree.nn.CausalLM (use HFTokenLM for transformers models)")
        self.vocab_size = model.config.vocab_size
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if value is not None and not 0 <= value < self.vocab_size:
                raise TokfreeError(f"{name} {value} is outside the model's vocabulary 0..{self.vocab_size - 1}")
        if cache_size < 0 or max_batch_tokens < 1 or max_backoff < 0:
            raise TokfreeError("cache_size and max_backoff must be >= 0 and max_batch_tokens >= 1")
        self.model = model.to(device).eval()
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.cache_size = cache_size
        self.max_batch_tokens = max_batch_tokens
        self.max_backoff = max_backoff
        self.truncate = truncate
        self._states: OrderedDict[Context, _State] = OrderedDict()

    def clear_cache(self) -> None:
        """Forgets every cached row and KV state."""
        super().clear_cache()
        self._states.clear()

    # --- planning -------------------------------------------------------------------------------

    def _plan(self, misses: list[Context]) -> list[_Plan]:
        max_len = self.model.config.max_len
        fits = [c for c in misses if len(c) + 1 <= max_len]
        long = [c for c in misses if len(c) + 1 > max_len]
        if long and not self.truncate:
            raise TokfreeError(
                f"a context of {max(map(len, long))} tokens (+ BOS) is longer than the model's max_len {max_len}; "
                "pass truncate=True to keep the last max_len tokens, or shorten the text"
            )
        plans = []
        for leaf, members in _chains(fits):
            shortest = len(members[0])
            past_key, past = None, None
            for n in range(min(shortest, len(leaf)), max(-1, shortest - self.max_backoff - 1), -1):
                state = _lru_get(self._states, leaf[:n])
                if state is not None:
                    past_key, past = leaf[:n], state
                    break
            if past is None:
                plans.append(_Plan(leaf, members, new=[self.bos_id, *leaf], offset=0))
            else:
                plans.append(_Plan(leaf, members, past_key, past, new=list(leaf[len(past_key) :]), offset=len(past_key) + 1))
        for ctx in long:
            window = [self.bos_id, *ctx][-max_len:]
            plans.append(_Plan(ctx, [ctx], new=window, offset=0, window=True))
        return plans

    # --- running --------------------------------------------------------------------------------

    def _compute(self, misses: list[Context]) -> dict[Context, np.ndarray]:
        out: dict[Context, np.ndarray] = {}
        plans = self._plan(misses)
        for plan in plans:  # members answered by the cached state itself need no forward
            if plan.past is not None and plan.members[0] == plan.past_key:
                out[plan.past_key] = plan.past.row
        todo = [p for p in plans if p.new]
        fresh = sorted((p for p in todo if p.past is None), key=lambda p: len(p.new))
        cached = sorted((p for p in todo if p.past is not None), key=lambda p: (p.past.positions, len(p.new)))
        with torch.inference_mode():
            for batch in self._batches(fresh, lambda p: len(p.new)):
                self._run(batch, out)
            for batch in self._batches(cached, lambda p: p.past.positions + len(p.new)):
                self._run(batch, out)
        return out

    def _batches(self, plans: list[_Plan], cost: Any) -> list[list[_Plan]]:
        batches: list[list[_Plan]] = []
        current: list[_Plan] = []
        for plan in plans:  # sorted by cost: the last plan of a batch is its widest
            if current and (len(current) + 1) * cost(plan) > self.max_batch_tokens:
                batches.append(current)
                current = []
            current.append(plan)
        if current:
            batches.append(current)
        return batches

    def _run(self, batch: list[_Plan], out: dict[Context, np.ndarray]) -> None:
        model = self.model
        device = model.device
        b = len(batch)
        t = max(len(p.new) for p in batch)
        ids = torch.zeros(b, t, dtype=torch.long)
        new_lengths = [len(p.new) for p in batch]
        for i, plan in enumerate(batch):
            ids[i, : len(plan.new)] = torch.tensor(plan.new, dtype=torch.long)
        # Right padding needs no mask from scratch (causal attention: a real position never sees a
        # later slot, and positions stay below max_len); after a cache it keeps the padding slots'
        # positions from running past max_len.
        attention_mask = None
        if batch[0].past is not None and min(new_lengths) != t:
            attention_mask = torch.arange(t)[None, :] < torch.tensor(new_lengths)[:, None]
        past = self._stack_states([p.past for p in batch]) if batch[0].past is not None else None
        logits, cache = model.forward_cached(ids.to(device), past, attention_mask=None if attention_mask is None else attention_mask.to(device))
        self.stats["forwards"] += 1
        self.stats["positions"] += sum(new_lengths)
        # Gather the logits every member needs: member of length n reads model position n (BOS at 0).
        rows_at: list[tuple[int, int]] = []
        owners: list[Context] = []
        for i, plan in enumerate(batch):
            for member in plan.members:
                if plan.window:
                    rows_at.append((i, len(plan.new) - 1))
                elif plan.past is None or len(member) >= plan.offset:
                    rows_at.append((i, len(member) - plan.offset))
                else:
                    continue
                owners.append(member)
        index = torch.tensor(rows_at, dtype=torch.long, device=device)
        rows = _log_softmax64(logits[index[:, 0], index[:, 1]])
        for member, row in zip(owners, rows):
            out[member] = row
        if self.cache_size:
            s = past.size if past is not None else 0
            for i, plan in enumerate(batch):
                if plan.window:
                    continue
                keys, values = [], []
                for layer in cache.layers:
                    k, v = layer.keys[i], layer.values[i]  # (H, S + T, Dh)
                    if cache.key_mask is not None:
                        real = cache.key_mask[i]
                    else:
                        real = torch.ones(k.shape[1], dtype=torch.bool, device=k.device)
                    real = real.clone()
                    real[s + len(plan.new) :] = False  # this row's right padding
                    keys.append(k[:, real].clone())
                    values.append(v[:, real].clone())
                _lru_put(self._states, plan.leaf, _State(keys, values, out[plan.leaf]), self.cache_size)

    def _stack_states(self, states: list[_State | None]) -> KVCache:
        """The states as one left-padded batch cache."""
        device = self.model.device
        lengths = [s.positions for s in states]  # type: ignore[union-attr]
        width = max(lengths)
        n_layers = len(states[0].keys)  # type: ignore[union-attr]
        layers = []
        for layer in range(n_layers):
            ks, vs = [], []
            for state in states:
                k, v = state.keys[layer], state.values[layer]  # type: ignore[union-attr]
                pad = width - k.shape[1]
                if pad:
                    k = torch.cat((k.new_zeros(k.shape[0], pad, k.shape[2]), k), dim=1)
                    v = torch.cat((v.new_zeros(v.shape[0], pad, v.shape[2]), v), dim=1)
                ks.append(k)
                vs.append(v)
            layers.append(LayerCache(torch.stack(ks).to(device), torch.stack(vs).to(device)))
        key_mask = None
        if min(lengths) != width:
            key_mask = (torch.arange(width)[None, :] >= (width - torch.tensor(lengths))[:, None]).to(device)
        return KVCache(tuple(layers), key_mask, torch.tensor(lengths, dtype=torch.long, device=device))


class HFTokenLM(_RowCache):
    """A Hugging Face `transformers` causal LM (e.g. `GPT2LMHeadModel`) as a `TokenLM`.

    Args:
        model: the model (any module whose call with `input_ids` and `attention_mask` returns an
            object with `.logits` of shape (B, T, V)); put in eval mode.
        bos_id: the id fed before every context; None feeds the context alone (then the empty
            context, the start of the text, cannot be scored).
        eos_id: the end-of-text id (default: `model.config.eos_token_id`).
        row_cache_size: contexts whose log-prob row is kept (LRU).
        max_batch_tokens: padded token positions per forward pass.

    No KV cache is kept: every missing context costs a forward from scratch (contexts of one call
    that are prefixes of each other share one). `transformers` is not imported by this module.

    Example:
        >>> from transformers import GPT2Config, GPT2LMHeadModel           # doctest: +SKIP
        >>> lm = HFTokenLM(GPT2LMHeadModel(GPT2Config(n_layer=2)), bos_id=50256)  # doctest: +SKIP
        >>> lm.next_logprobs([[], [15496]]).shape                            # doctest: +SKIP
        (2, 50257)
    """

    def __init__(
        self,
        model: Any,
        *,
        bos_id: int | None = None,
        eos_id: int | None = None,
        row_cache_size: int = 1024,
        max_batch_tokens: int = 16384,
    ) -> None:
        super().__init__(row_cache_size)
        config = getattr(model, "config", None)
        vocab = getattr(config, "vocab_size", None)
        if not isinstance(vocab, int):
            raise TokfreeError(f"model {type(model).__name__} has no config.vocab_size; HFTokenLM wraps a transformers causal LM")
        self.model = model.eval()
        self.vocab_size = vocab
        self.bos_id = bos_id
        self.eos_id = eos_id if eos_id is not None else getattr(config, "eos_token_id", None)
        self.max_batch_tokens = max_batch_tokens

    def _compute(self, misses: list[Context]) -> dict[Context, np.ndarray]:
        lead = [] if self.bos_id is None else [self.bos_id]
        if not lead and any(len(c) == 0 for c in misses):
            raise TokfreeError("the empty context (start of text) needs a BOS id; pass bos_id= to HFTokenLM")
        groups = sorted(_chains(misses), key=lambda g: len(g[0]))
        device = next(self.model.parameters()).device
        out: dict[Context, np.ndarray] = {}
        batch: list[tuple[Context, list[Context]]] = []

        def run() -> None:
            seqs = [lead + list(leaf) for leaf, _ in batch]
            t = max(map(len, seqs))
            ids = torch.zeros(len(seqs), t, dtype=torch.long)
            mask = torch.zeros(len(seqs), t, dtype=torch.long)
            for i, seq in enumerate(seqs):
                ids[i, : len(seq)] = torch.tensor(seq)
                mask[i, : len(seq)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            self.stats["forwards"] += 1
            self.stats["positions"] += int(mask.sum())
            at = [(i, len(m) + len(lead) - 1) for i, (_, members) in enumerate(batch) for m in members]
            index = torch.tensor(at, dtype=torch.long, device=logits.device)
            rows = _log_softmax64(logits[index[:, 0], index[:, 1], : self.vocab_size])
            for member, row in zip((m for _, members in batch for m in members), rows):
                out[member] = row

        for group in groups:
            width = len(group[0]) + len(lead)
            if batch and (len(batch) + 1) * width > self.max_batch_tokens:
                run()
                batch = []
            batch.append(group)
        if batch:
            run()
        return out
