"""`ByteEnsemble`: several byte-level LMs (`ByteLM`s whose tokenizers may differ) combined at every
byte into one byte-level LM with the `ByteLM` state API.

Modes (weights w_i >= 0, normalised to sum 1; p_i = model i's next-byte distribution over 257
outcomes, x = the bytes so far):

* "mixture": p(b | x) = sum_i w_i p_i(b | x), the per-byte weighted mean (Phan et al.'s ensemble).
  A model that gives x probability 0 drops out and the others' weights are renormalised.
* "product": p(b | x) proportional to prod_i p_i(b | x) ** w_i (log-linear, renormalised over the 257
  outcomes); the support is the intersection of the models' supports.
* "posterior": the sequence-level mixture P(x) = sum_i w_i P_i(x); its next-byte distribution is the
  mixture with posterior weights w_i P_i(x) / sum_j w_j P_j(x) (prefill scores the prompt under each
  model, one byte at a time).

This module combines distributions only; each model's exactness comes from `ByteLM`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from tokfree.bytelevel.bytelm import EOT, _as_bytes, chain_logprob, sample_bytes
from tokfree.errors import TokfreeError

__all__ = ["ByteEnsemble", "EnsembleState"]

_MODES = ("mixture", "product", "posterior")


class EnsembleState:
    """The member states after a byte prefix. Immutable: `advance` returns a new state.

    Example:
        >>> state = ens.prefill(b"Hello wor")
        >>> state.logp_next().shape
        (257,)
    """

    def __init__(self, owner: ByteEnsemble, data: bytes, states: list[Any], logw: np.ndarray) -> None:
        self._owner = owner
        self.data = data
        self.states = states  # one member state per model (None where the model gave x probability 0)
        self._logw = logw  # (M,) float64: log weights at this byte (posterior: log w_i P_i(x), unnormalised)
        self._member: list[np.ndarray | None] | None = None
        self._logp: np.ndarray | None = None

    def _members(self) -> list[np.ndarray | None]:
        """Each model's (257,) log-probs, None where its prefix has probability 0."""
        if self._member is None:
            out: list[np.ndarray | None] = []
            for state, logw in zip(self.states, self._logw):
                if state is None or logw == -np.inf:
                    out.append(None)
                    continue
                try:
                    out.append(state.logp_next())
                except TokfreeError:  # probability-0 prefix under this model
                    out.append(None)
            self._member = out
        return self._member

    def logp_next(self) -> np.ndarray:
        """(257,) float64 log-probabilities of the next byte and of end of text (index 256).

        Raises:
            TokfreeError: no distribution is defined (every model gives the prefix probability 0,
                or in product mode the supports do not intersect).
        """
        if self._logp is None:
            members = self._members()
            live = [(lw, lp) for lw, lp in zip(self._logw, members) if lp is not None]
            if not live:
                raise TokfreeError(f"the prefix {self.data[-20:]!r} (last 20 bytes) has probability 0 under every model of the ensemble")
            logw = np.array([lw for lw, _ in live])
            logw = logw - np.logaddexp.reduce(logw)
            rows = np.stack([lp for _, lp in live])  # (M, 257)
            if self._owner.mode == "product":
                if len(live) < sum(1 for w in self._owner.weights if w > 0):
                    raise TokfreeError(f"product ensemble: a model gives the prefix {self.data[-20:]!r} probability 0")
                with np.errstate(invalid="ignore"):
                    scores = (np.exp(logw)[:, None] * rows).sum(axis=0)
                scores = np.where(np.isnan(scores), -np.inf, scores)
            else:
                scores = np.logaddexp.reduce(logw[:, None] + rows, axis=0)
            total = np.logaddexp.reduce(scores)
            if total == -np.inf:
                raise TokfreeError(f"product ensemble: no byte after {self.data[-20:]!r} has positive probability under every model")
            self._logp = scores - total
        return self._logp

    def advance(self, byte: int) -> EnsembleState:
        """The state after one more byte (0..255).

        Raises:
            TokfreeError: `byte` is not in 0..255.
        """
        if not isinstance(byte, (int, np.integer)) or not 0 <= byte <= 255:
            raise TokfreeError(f"byte={byte!r}: pass an int in 0..255 (EOT ends the text; there is nothing to advance past it)")
        byte = int(byte)
        logw = self._logw.copy()
        if self._owner.mode == "posterior":
            for i, lp in enumerate(self._members()):
                logw[i] = logw[i] + lp[byte] if lp is not None else -np.inf
        states = [state.advance(byte) if state is not None else None for state in self.states]
        return EnsembleState(self._owner, self.data + bytes([byte]), states, logw)


class ByteEnsemble:
    """Byte-level LMs combined at every byte (mixture, product or posterior mixture).

    Args:
        models: `ByteLM`s (their tokenizers and vocabularies may differ) or other byte-level models
            with `prefill(prompt) -> state`, `state.logp_next()`, `state.advance(byte)`.
        weights: one weight >= 0 per model (normalised to sum 1); None = uniform.
        mode: "mixture", "product" or "posterior" (see the module docstring).

    Raises:
        TokfreeError: no models, a weight count that differs from the model count, a negative weight,
            all weights zero, or an unknown mode.

    Example:
        >>> ens = ByteEnsemble([ByteLM(lm_a, tok_a), ByteLM(lm_b, tok_b)], [0.5, 0.5], mode="mixture")
        >>> ens.generate(b"def f(", 40, temperature=0)
        >>> ens.score("hello")
    """

    def __init__(self, models: Sequence[Any], weights: Sequence[float] | None = None, *, mode: Literal["mixture", "product", "posterior"] = "mixture") -> None:
        if not models:
            raise TokfreeError("models is empty: an ensemble needs at least one byte-level LM")
        if mode not in _MODES:
            raise TokfreeError(f"mode={mode!r}: choose one of {_MODES}")
        if weights is None:
            weights = [1.0] * len(models)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(models),) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise TokfreeError(f"weights={list(weights)!r}: need one finite weight >= 0 per model ({len(models)}), not all zero")
        self.models = list(models)
        self.weights = w / w.sum()
        self.mode = mode

    def prefill(self, prompt: bytes | str) -> EnsembleState:
        """The state after `prompt` (which may end mid-token for any member).

        Raises:
            TokfreeError: `prompt` is neither bytes nor str.
        """
        data = _as_bytes(prompt, "prompt")
        with np.errstate(divide="ignore"):
            logw = np.log(self.weights)
        if self.mode == "posterior":  # log w_i P_i(prompt): chained member log-probs
            for i, model in enumerate(self.models):
                if logw[i] > -np.inf and data:
                    logw[i] += _chain(model.prefill(b""), data)
        states = [model.prefill(data) if lw > -np.inf else None for model, lw in zip(self.models, logw)]
        return EnsembleState(self, data, states, logw)

    def score(self, text: bytes | str, *, eot: bool = True) -> float:
        """log P(text) under the ensemble: chained next-byte log-probs (plus end of text when `eot`).
        In posterior mode it equals log sum_i w_i P_i(text). -inf if impossible."""
        return chain_logprob(self.prefill(b""), _as_bytes(text, "text"), eot=eot)

    def generate(self, prompt: bytes | str, max_bytes: int, *, temperature: float = 1.0, top_p: float = 1.0, seed: int | None = None) -> bytes:
        """Samples up to `max_bytes` bytes after `prompt` from the combined byte distribution (as
        `ByteLM.generate`; temperature 0 is greedy).

        Raises:
            TokfreeError: a negative `max_bytes` or `temperature`, or `top_p` outside (0, 1].
        """
        return sample_bytes(self.prefill(prompt), max_bytes, temperature=temperature, top_p=top_p, seed=seed)


def _chain(state: Any, data: bytes) -> float:
    """log P(data) from `state` (-inf once a byte is impossible or the prefix has probability 0)."""
    total = 0.0
    for byte in data:
        try:
            value = float(state.logp_next()[byte])
        except TokfreeError:
            return -math.inf
        if value == -math.inf:
            return -math.inf
        total += value
        state = state.advance(byte)
    return total
