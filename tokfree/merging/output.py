"""An output layer for very large, growing vocabularies: top-k candidates by logit, then exact scores.

A language model scores the next token by ``logit_j = h · e_j + b_j`` over the rows ``e_j`` of its
output matrix. With dynamic tokenization (research/tokenizer-papers.md section 4.4) the vocabulary
is the base vocabulary plus up to ~1M merged tokens whose output embeddings a hypernetwork
predicted, and scoring every row at every step is what makes generation slow. `TopKOutput` finds
the k best rows for a batch of hidden states and returns their exact float32 logits, sorted; the
generation helpers (`TopKOutput.log_probs`, `.sample`, `.greedy` and the loop `generate`) work on
that truncated distribution (a softmax over the k candidates only).

Two indexes:

* ``"exact"``: every row is scored, in chunks of `chunk_size` rows, keeping a running top-k, so a
  (B, N) logit matrix never exists. The result is `torch.topk` of the full logits.
* ``"ivf"``: an inverted file. Seeded spherical k-means over a sample of the rows gives `n_lists`
  unit centroids; every row goes to the centroid with the largest dot product; the rows are
  stored list by list (a copy, in the weight's dtype). A query gives each list a score, visits
  the `n_probe` best lists (more if they hold fewer than k rows) and scores *every* row in them
  exactly, so the only error is a top-k row in a list that was not visited, and
  ``n_probe = n_lists`` is exact. What is clustered and how a list is scored is the `partition`:

  - ``"direction"`` (default): k-means over the directions ``e_j / |e_j|``; a list's score is the
    mean logit of its rows, ``h · mean(e) + mean(b)`` (exact by linearity). Scoring a list by the
    dot product with its unit centroid is the heuristic that ignores row norms and biases; the
    mean logit keeps both, and leaving the bias out of the clustering keeps cells coherent in the
    directions h selects.
  - ``"norm-completed"``: the reduction of maximum inner product to nearest neighbour on the unit
    sphere (Bachrach et al. 2014): ``y_j = [e_j, b_j, sqrt(M² - |e_j|² - b_j²)] / M`` with
    ``M = max_j |[e_j, b_j]|`` and ``q = [h, 1, 0]`` give ``q · y_j = logit_j / M`` for every j, so
    the best logit is the ``y_j`` nearest to q; k-means runs on the ``y_j`` and a list's score is
    ``q · c``, the ordinary IVF approximation of nearest-neighbour search.

  Why "direction" is the default although "norm-completed" is the textbook reduction: in both the
  visited rows are scored exactly, so the partition only decides which rows get looked at, and
  neither makes IVF exact below ``n_probe = n_lists``. The reduction puts rows much shorter than
  the longest one near the pole (the norm coordinate, which q does not see): with M set by the
  longest row, a typical ``y_j`` is mostly norm coordinate, so unrelated rows look alike, and
  k-means makes cells that mix many directions (one seen holding 9x its share of rows, its
  centroid 0.99 along the pole); queries rarely visit them. Measured with
  benchmarks/topk_output.py (1M seeded rows, D=128, in 2000 clusters with noise 0.5, norms spread
  by exp(0.2 z), bias std 0.5; 1000 lists; 64 queries): recall@10 of "direction" 0.998 at
  n_probe 16 and 1.000 at 32, of "norm-completed" 0.67 at 16 and 0.75 at 63 (100k rows: 1.000
  against 0.988 at n_probe 5). A variant of this file that clustered ``[e, b]`` (the bias folded
  into the direction) stalled at 0.87-0.96 for n_probe 1-64 on 200k such rows in 900 clusters
  (without biases it reached 1.00: the bias coordinate dominated the clustering). Rows with
  little cluster structure need many probes whatever the partition (noise 3.0: recall@10 0.12 at
  n_probe 16 and 0.30 at 63 on 1M rows; noise 1.0: 0.955 and 0.977); `recall` measures it on
  your rows.

`TopKOutput.extend` appends rows (new ids N .. N+n-1) and assigns them to the existing centroids; no
k-means is rerun. New rows wait in an append buffer (scanned exactly, filtered to the visited
lists, so results do not depend on where a row is stored) and are merged into the list-ordered
storage when the buffer passes 1/32 of the table (a new copy of the table, amortised over the
rows added). The "direction" list scores follow the added rows. With "norm-completed", a new row
longer than M gets norm coordinate 0 (it is assigned by its direction). Rebuild the output when
many added rows are far from the rows it was built from (`recall` shows when).

Everything runs on the device of `weight` (hidden states are moved there) under `torch.no_grad`:
this is an inference layer, not a differentiable one. Logits are float32 whatever the weight dtype.
This file holds no hypernetwork, no tokenizer and no model: the caller maps a sampled id (base or
merged) to an input embedding in `generate`'s `step_fn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from tokfree.errors import TokfreeError

__all__ = ["INDEX_KINDS", "PARTITIONS", "TopKOutput", "generate"]

INDEX_KINDS = ("exact", "ivf")
IndexKind = Literal["exact", "ivf"]
PARTITIONS = ("direction", "norm-completed")
PartitionKind = Literal["direction", "norm-completed"]

# New rows wait in the append buffer until it holds this fraction of the list-ordered rows (or
# _REPACK_MIN_ROWS): the buffer is scanned in full for every query, so at 1/32 it costs at most
# ~3% of an exact scan, and each repack (one copy of the table) is paid for by N/32 new rows.
_REPACK_FRACTION = 32
_REPACK_MIN_ROWS = 4096
# n_probe defaults to ceil(n_lists / this): see the `TopKOutput` docstring for measured recall.
_DEFAULT_PROBE_DIVISOR = 16
# A (chunk, n_lists) score block while training k-means and assigning rows: 16k x 1000 floats = 64 MB.
_ASSIGN_CHUNK = 16_384


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"an int >= {low}" if high is None else f"an int in {low}..{high}"
        raise TokfreeError(f"{name}={value!r} must be {bound}")
    return int(value)


def _check_temperature(temperature: object) -> None:
    ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not ok or not math.isfinite(temperature) or temperature < 0:
        raise TokfreeError(f"temperature={temperature!r} must be a finite number >= 0 (0 = greedy)")


def _check_rows(name: str, rows: object, dim: int | None) -> Tensor:
    """A finite float (n, D) tensor, detached."""
    if not isinstance(rows, Tensor):
        raise TokfreeError(f"{name} is a {type(rows).__name__}; pass a float torch.Tensor of shape (rows, dim)")
    if rows.dim() != 2 or (dim is not None and rows.shape[1] != dim):
        want = "(rows, dim)" if dim is None else f"(rows, {dim})"
        raise TokfreeError(f"{name} has shape {tuple(rows.shape)}; it must be {want}")
    if not rows.is_floating_point():
        raise TokfreeError(
            f"{name} has dtype {rows.dtype}; it must be a float tensor (float32, float16 or bfloat16): cast it with .float()"
        )
    if rows.shape[1] < 1:
        raise TokfreeError(f"{name} has shape {tuple(rows.shape)}; the embedding width must be at least 1")
    rows = rows.detach()
    if rows.numel() and not bool(torch.isfinite(rows).all()):
        raise TokfreeError(f"{name} holds NaN or infinite values; every output embedding must be finite")
    return rows


def _check_bias(name: str, bias: object, n: int, device: torch.device) -> Tensor:
    """A finite float32 (n,) tensor on `device`, or zeros when `bias` is None."""
    if bias is None:
        return torch.zeros(n, dtype=torch.float32, device=device)
    if not isinstance(bias, Tensor):
        raise TokfreeError(f"{name} is a {type(bias).__name__}; pass a float torch.Tensor of shape ({n},) or None")
    if tuple(bias.shape) != (n,):
        raise TokfreeError(f"{name} has shape {tuple(bias.shape)}; it must be ({n},), one bias per row")
    if not bias.is_floating_point():
        raise TokfreeError(f"{name} has dtype {bias.dtype}; it must be a float tensor: cast it with .float()")
    bias = bias.detach().to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(bias).all()):
        raise TokfreeError(f"{name} holds NaN or infinite values; every bias must be finite")
    return bias


class _AppendBuffer:
    """Rows added by `extend`, in id order, with spare capacity (grown by half, so appends are amortised)."""

    def __init__(self, dim: int, dtype: torch.dtype, device: torch.device) -> None:
        self.n = 0
        self.rows = torch.empty(0, dim, dtype=dtype, device=device)  # (capacity, D)
        self.bias = torch.empty(0, dtype=torch.float32, device=device)  # (capacity,)
        self.ids = torch.empty(0, dtype=torch.long, device=device)  # (capacity,)
        self.lists = torch.empty(0, dtype=torch.long, device=device)  # (capacity,)

    def append(self, rows: Tensor, bias: Tensor, ids: Tensor, lists: Tensor) -> None:
        need = self.n + rows.shape[0]
        if need > self.rows.shape[0]:
            capacity = max(need, self.rows.shape[0] * 3 // 2, 1024)
            for name in ("rows", "bias", "ids", "lists"):
                old = getattr(self, name)
                new = old.new_empty((capacity, *old.shape[1:]))
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.rows[self.n : need] = rows
        self.bias[self.n : need] = bias
        self.ids[self.n : need] = ids
        self.lists[self.n : need] = lists
        self.n = need

    def view(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        n = self.n
        return self.rows[:n], self.bias[:n], self.ids[:n], self.lists[:n]

    def clear(self) -> None:
        self.n = 0


class TopKOutput:
    """The k best rows of a large output matrix for a batch of hidden states, with exact logits.

    Args:
        weight: (N, D) float output embeddings (row j scores token id j). The exact index keeps a
            reference (no copy; do not modify it in place); the IVF index keeps a copy in list order.
        bias: (N,) float output bias, or None (no bias).
        index: ``"exact"`` (score every row, chunked) or ``"ivf"`` (inverted file; see the module
            docstring).
        partition: IVF only: ``"direction"`` (default: k-means on row directions, lists scored by
            their mean logit) or ``"norm-completed"`` (k-means on the norm-completed unit vectors).
        n_lists: IVF only: the number of k-means centroids (lists); default ``round(sqrt(N))``.
        n_probe: IVF only: how many lists a query visits by default (`candidates` can override it);
            default ``ceil(n_lists / 16)``. Recall grows and speed falls with it; ``n_lists`` is exact.
        chunk_size: rows scored at once: the largest temporary is a (B, chunk_size) float32 block
            (plus a float32 copy of a chunk of rows when the weight is float16/bfloat16).
        train_size: IVF only: rows sampled to train k-means; default ``min(N, 64 * n_lists)``.
        n_iter: IVF only: the most k-means iterations (it stops early once no row changes list).
        seed: IVF only: seeds the sample and the initial centroids (same seed, same index).
        show_progress: IVF only: show a tqdm bar while training and assigning rows.

    Raises:
        TokfreeError: a weight that is not a finite float (N, D) tensor, a bias not of shape (N,),
            an unknown index, IVF options with ``index="exact"``, or an option out of range.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> weight, bias = torch.randn(1000, 16, generator=g), torch.randn(1000, generator=g)
        >>> hidden = torch.randn(2, 16, generator=g)
        >>> out = TopKOutput(weight, bias, chunk_size=256)
        >>> ids, logits = out.candidates(hidden, 5)
        >>> torch.equal(ids, (hidden @ weight.T + bias).topk(5).indices)
        True
        >>> ivf = TopKOutput(weight, bias, index="ivf", n_lists=32, n_probe=32, show_progress=False)
        >>> torch.equal(ivf.candidates(hidden, 5)[0], ids)
        True
        >>> ivf.extend(torch.randn(3, 16, generator=g)).tolist()
        [1000, 1001, 1002]
    """

    def __init__(
        self,
        weight: Tensor,  # (N, D)
        bias: Tensor | None = None,  # (N,)
        *,
        index: IndexKind = "exact",
        partition: PartitionKind | None = None,
        n_lists: int | None = None,
        n_probe: int | None = None,
        chunk_size: int = 65_536,
        train_size: int | None = None,
        n_iter: int = 10,
        seed: int = 0,
        show_progress: bool = True,
    ) -> None:
        weight = _check_rows("weight", weight, None)
        n, dim = weight.shape
        if n < 1:
            raise TokfreeError("weight has 0 rows; an output layer needs at least one token")
        self._device = weight.device
        self._dtype = weight.dtype
        self._dim = dim
        self._num_rows = n
        bias_f = _check_bias("bias", bias, n, self._device)
        if index not in INDEX_KINDS:
            raise TokfreeError(f"index={index!r} is not one of {INDEX_KINDS}; pick 'exact' (every row) or 'ivf' (inverted file)")
        self._kind: str = index
        self._chunk = _check_int("chunk_size", chunk_size, 1)
        self._buffer = _AppendBuffer(dim, self._dtype, self._device)
        if index == "exact":
            for name, value in (("n_lists", n_lists), ("n_probe", n_probe), ("train_size", train_size), ("partition", partition)):
                if value is not None:
                    raise TokfreeError(f"{name}={value!r} applies to index='ivf' only; drop it or pass index='ivf'")
            self._n_lists = 1
            self._n_probe = 1
            self._max_norm = 0.0
            self._main_rows = weight  # (N, D) no copy
            self._main_bias = bias_f  # (N,)
            self._main_ids = torch.arange(n, device=self._device)
            self._partition = None
            self._list_sizes = torch.tensor([n], device=self._device)
            self._offsets = [0, n]
            return
        if partition is None:
            partition = "direction"
        if partition not in PARTITIONS:
            raise TokfreeError(f"partition={partition!r} is not one of {PARTITIONS}; 'direction' is the default")
        self._partition = partition
        self._n_lists = max(1, round(math.sqrt(n))) if n_lists is None else _check_int("n_lists", n_lists, 1, n)
        default_probe = max(1, math.ceil(self._n_lists / _DEFAULT_PROBE_DIVISOR))
        self._n_probe = default_probe if n_probe is None else _check_int("n_probe", n_probe, 1, self._n_lists)
        if train_size is None:
            train_size = min(n, 64 * self._n_lists)
        train_size = _check_int("train_size", train_size, self._n_lists, n)
        n_iter = _check_int("n_iter", n_iter, 1)
        if not _is_int(seed):
            raise TokfreeError(f"seed={seed!r} must be an int")
        with torch.no_grad():
            self._build(weight, bias_f, train_size, n_iter, seed, show_progress)

    # -- building -----------------------------------------------------------------------------------

    def _augment(self, rows: Tensor, bias: Tensor) -> Tensor:
        """The float32 unit vectors k-means clusters, for rows (n, D) and bias (n,).

        "direction": (n, D) ``e / |e|`` (the bias is left out); "norm-completed": (n, D+2)
        ``[e, b, sqrt(M² - |e|² - b²)] / M``.
        """
        if self._partition == "direction":
            return F.normalize(rows.float(), dim=1)
        x = torch.cat((rows.float(), bias[:, None]), dim=1)
        if self._partition == "norm-completed":
            # A row added later may be longer than M: norm coordinate 0, then renormalised (its direction).
            rest = (self._max_norm**2 - x.pow(2).sum(1)).clamp(min=0.0).sqrt()
            x = torch.cat((x, rest[:, None]), dim=1)
        return F.normalize(x, dim=1)

    def _assign(self, rows: Tensor, bias: Tensor) -> Tensor:
        """(n,) long: the centroid with the largest dot product for each row's unit vector."""
        out = torch.empty(rows.shape[0], dtype=torch.long, device=self._device)
        for s in range(0, rows.shape[0], _ASSIGN_CHUNK):
            y = self._augment(rows[s : s + _ASSIGN_CHUNK], bias[s : s + _ASSIGN_CHUNK])
            out[s : s + _ASSIGN_CHUNK] = (y @ self._centroids.T).argmax(1)
        return out

    def _build(self, weight: Tensor, bias: Tensor, train_size: int, n_iter: int, seed: int, show_progress: bool) -> None:
        n, lists = weight.shape[0], self._n_lists
        sq_max = 0.0
        for s in range(0, n, _ASSIGN_CHUNK):
            block = weight[s : s + _ASSIGN_CHUNK].float().pow(2).sum(1) + bias[s : s + _ASSIGN_CHUNK].pow(2)
            sq_max = max(sq_max, float(block.max()))
        self._max_norm = math.sqrt(sq_max) if sq_max > 0 else 1.0
        # The sample and the starting centroids come from a CPU generator, so an index built on the GPU
        # from the same rows and seed starts from the same centroids.
        generator = torch.Generator().manual_seed(seed)
        sample = torch.randperm(n, generator=generator)[:train_size].sort().values.to(self._device)
        y = self._augment(weight[sample], bias[sample])  # (S, D) or (S, D+2)
        # Random sample rows start the centroids. k-means++ starts measured no better (200k
        # clustered rows, uniform or Zipf-sized clusters: recall@10 equal for "direction", within
        # 0.11 either way for "norm-completed") and cost 5.5 s more per 1M-row build.
        start = torch.randperm(train_size, generator=generator)[:lists].to(self._device)
        self._centroids = y[start].clone()  # (L, D) or (L, D+2)
        bar = tqdm(total=n_iter + 1, desc="ivf k-means", unit="it", disable=not show_progress)
        previous: Tensor | None = None
        for _ in range(n_iter):
            assign = torch.cat(
                [(y[s : s + _ASSIGN_CHUNK] @ self._centroids.T).argmax(1) for s in range(0, train_size, _ASSIGN_CHUNK)]
            )
            sums = torch.zeros_like(self._centroids).index_add_(0, assign, y)
            empty = (torch.bincount(assign, minlength=lists) == 0).nonzero().flatten()
            if empty.numel():
                # An empty cell restarts at a random sample row (seeded): every list stays usable.
                pick = torch.randint(train_size, (empty.numel(),), generator=generator).to(self._device)
                sums[empty] = y[pick]
            self._centroids = F.normalize(sums, dim=1)
            bar.update(1)
            if previous is not None and torch.equal(previous, assign) and not empty.numel():
                break
            previous = assign
        bar.set_description("ivf assign")
        assign = self._assign(weight, bias)  # (N,)
        bar.update(bar.total - bar.n)
        bar.close()
        # Sum of [e, b] per list: the "direction" partition scores a list by its rows' mean logit.
        self._list_sums = torch.zeros(lists, self._dim + 1, device=self._device)
        for s in range(0, n, _ASSIGN_CHUNK):
            x = torch.cat((weight[s : s + _ASSIGN_CHUNK].float(), bias[s : s + _ASSIGN_CHUNK, None]), dim=1)
            self._list_sums.index_add_(0, assign[s : s + _ASSIGN_CHUNK], x)
        self._store_lists(weight, bias, torch.arange(n, device=self._device), assign)

    def _store_lists(self, rows: Tensor, bias: Tensor, ids: Tensor, assign: Tensor) -> None:
        """Keep rows (n, D), bias (n,) and ids (n,) grouped by their list (n,), list after list."""
        order = torch.argsort(assign, stable=True)
        self._main_rows = rows[order]
        self._main_bias = bias[order]
        self._main_ids = ids[order]
        self._list_sizes = torch.bincount(assign, minlength=self._n_lists)
        self._offsets = [0, *torch.cumsum(self._list_sizes, 0).tolist()]  # a list: read per visited list
        self._buffer.clear()
        self._update_probe_vectors()

    def _update_probe_vectors(self) -> None:
        """(L, D+1) vectors v with list score ``h · v[:D] + v[D]``; an empty list scores -inf."""
        if self._partition == "direction":
            # The mean of the list's [e, b]: by linearity q · mean = the mean logit of its rows.
            vectors = self._list_sums / self._list_sizes.clamp(min=1)[:, None].float()
        else:
            # The centroid's first D+1 coordinates: q · c with q = [h, 1, 0] (nearest centroid to q).
            vectors = self._centroids[:, : self._dim + 1].clone()
        vectors[self._list_sizes == 0] = 0.0
        vectors[self._list_sizes == 0, self._dim] = float("-inf")
        self._probe_vectors = vectors

    # -- public properties --------------------------------------------------------------------------

    @property
    def num_rows(self) -> int:
        """N: the number of rows (token ids 0 .. N-1), including rows added by `extend`."""
        return self._num_rows

    @property
    def dim(self) -> int:
        """D: the width of the hidden states and of the rows."""
        return self._dim

    @property
    def device(self) -> torch.device:
        """Where the rows live and the search runs."""
        return self._device

    @property
    def index(self) -> str:
        """``"exact"`` or ``"ivf"``."""
        return self._kind

    @property
    def partition(self) -> str | None:
        """``"direction"`` or ``"norm-completed"`` for an IVF index, None for the exact index."""
        return self._partition

    @property
    def n_lists(self) -> int:
        """The number of IVF lists (1 for the exact index)."""
        return self._n_lists

    @property
    def n_probe(self) -> int:
        """How many lists a query visits unless `candidates` is told otherwise (1 for exact)."""
        return self._n_probe

    @property
    def list_sizes(self) -> Tensor:
        """(n_lists,) long: the rows in each list, including rows added by `extend` (a copy)."""
        return self._list_sizes.clone()

    # -- search ---------------------------------------------------------------------------------------

    def _check_hidden(self, hidden: object, name: str = "hidden") -> Tensor:
        if not isinstance(hidden, Tensor):
            raise TokfreeError(f"{name} is a {type(hidden).__name__}; pass a float torch.Tensor of shape (batch, {self._dim})")
        if hidden.dim() != 2 or hidden.shape[1] != self._dim:
            hint = "; take the last position with hidden[:, -1]" if hidden.dim() == 3 else ""
            raise TokfreeError(f"{name} has shape {tuple(hidden.shape)}; it must be (batch, {self._dim}){hint}")
        if not hidden.is_floating_point():
            raise TokfreeError(f"{name} has dtype {hidden.dtype}; it must be a float tensor")
        return hidden.detach().to(device=self._device, dtype=torch.float32)

    def _check_k(self, k: object) -> int:
        if not _is_int(k) or not 1 <= k <= self._num_rows:
            raise TokfreeError(f"k={k!r} must be an int in 1..{self._num_rows} (the number of rows)")
        return int(k)

    def _check_probe(self, n_probe: object) -> int:
        if n_probe is None:
            return self._n_probe
        return _check_int("n_probe", n_probe, 1, self._n_lists)

    @staticmethod
    def _merge(best_v: Tensor, best_i: Tensor, v: Tensor, i: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The k largest of two (B, *) candidate sets, sorted descending."""
        v, i = torch.cat((best_v, v), 1), torch.cat((best_i, i), 1)
        top_v, top_j = v.topk(min(k, v.shape[1]), dim=1)
        return top_v, i.gather(1, top_j)

    def _scan_block(
        self, h: Tensor, rows: Tensor, bias: Tensor, ids: Tensor, k: int, best: tuple[Tensor, Tensor], allowed: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Merge the rows (n, D) into the running best (B, *) of every query; `allowed` (B, n) bool masks rows."""
        best_v, best_i = best
        for s in range(0, rows.shape[0], self._chunk):
            e = min(s + self._chunk, rows.shape[0])
            logits = torch.addmm(bias[s:e], h, rows[s:e].float().T)  # (B, chunk) = h·e + b
            if allowed is not None:
                logits = logits.masked_fill(~allowed[:, s:e], float("-inf"))
            v, j = logits.topk(min(k, e - s), dim=1)
            best_v, best_i = self._merge(best_v, best_i, v, ids[s:e][j], k)
        return best_v, best_i

    def _scan_all(self, h: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """(B, k) ids and logits of the exact top-k: chunks of the stored rows, then the append buffer."""
        b = h.shape[0]
        best = (h.new_empty(b, 0), torch.empty(b, 0, dtype=torch.long, device=self._device))
        best = self._scan_block(h, self._main_rows, self._main_bias, self._main_ids, k, best, None)
        rows, bias, ids, _ = self._buffer.view()
        best_v, best_i = self._scan_block(h, rows, bias, ids, k, best, None)
        return best_i, best_v

    def _scan_lists(self, h: Tensor, k: int, n_probe: int) -> tuple[Tensor, Tensor]:
        """(B, k) ids and logits of the IVF top-k: each query scores every row of its best lists
        (visiting enough lists to hold k rows)."""
        b, lists = h.shape[0], self._n_lists
        vectors = self._probe_vectors
        scores = torch.addmm(vectors[:, self._dim], h, vectors[:, : self._dim].T)  # (B, L) list scores
        ranked = scores.argsort(dim=1, descending=True)  # (B, L)
        held = self._list_sizes[ranked].cumsum(1)  # (B, L) rows in the best 1, 2, ... lists
        n_visit = ((held < k).sum(1) + 1).clamp(min=n_probe)  # (B,)
        visit_sorted = torch.arange(lists, device=self._device)[None, :] < n_visit[:, None]
        probed = torch.zeros(b, lists, dtype=torch.bool, device=self._device).scatter_(1, ranked, visit_sorted)  # (B, L)
        n_visit_rows = n_visit.tolist()
        ranked_rows = ranked[:, : max(n_visit_rows)].tolist()
        offsets, rows, bias, ids = self._offsets, self._main_rows, self._main_bias, self._main_ids
        best_v = h.new_full((b, k), float("-inf"))
        best_i = torch.full((b, k), -1, dtype=torch.long, device=self._device)
        # One query at a time, one list at a time: each list is a contiguous slice, scored in place
        # (16 lists of 1000 rows, D=128, CPU: 0.5 ms as slices, 16 ms through index_select).
        for q in range(b):
            hq = h[q]
            pieces: list[Tensor] = []
            starts: list[int] = []
            held_rows = 0
            q_v, q_i = best_v[q : q + 1], best_i[q : q + 1]
            for lst in ranked_rows[q][: n_visit_rows[q]]:
                for s in range(offsets[lst], offsets[lst + 1], self._chunk):
                    e = min(s + self._chunk, offsets[lst + 1])
                    if held_rows + e - s > self._chunk:
                        q_v, q_i = self._reduce_pieces(pieces, starts, ids, q_v, q_i, k)
                        pieces, starts, held_rows = [], [], 0
                    pieces.append(torch.addmv(bias[s:e], rows[s:e].float(), hq))  # (n,) = h·e + b
                    starts.append(s)
                    held_rows += e - s
            if pieces:
                q_v, q_i = self._reduce_pieces(pieces, starts, ids, q_v, q_i, k)
            best_v[q : q + 1], best_i[q : q + 1] = q_v, q_i
        brows, bbias, bids, blists = self._buffer.view()
        if brows.shape[0]:
            best_v, best_i = self._scan_block(h, brows, bbias, bids, k, (best_v, best_i), probed[:, blists])
        return best_i, best_v

    @staticmethod
    def _reduce_pieces(
        pieces: list[Tensor], starts: list[int], ids: Tensor, best_v: Tensor, best_i: Tensor, k: int
    ) -> tuple[Tensor, Tensor]:
        """Merge one query's logits of several row slices into its running best (1, k)."""
        logits = torch.cat(pieces)  # (n,)
        v, j = logits.topk(min(k, logits.shape[0]))
        # Position in the concatenation -> row position: the slice it falls in, plus its offset there.
        lengths = torch.tensor([p.shape[0] for p in pieces], device=logits.device)
        ends = lengths.cumsum(0)
        piece = torch.searchsorted(ends, j, right=True)
        positions = torch.tensor(starts, device=logits.device)[piece] + j - (ends - lengths)[piece]
        return TopKOutput._merge(best_v, best_i, v[None], ids[positions][None], k)

    def candidates(self, hidden: Tensor, k: int, *, n_probe: int | None = None) -> tuple[Tensor, Tensor]:
        """The k best rows for each hidden state, with their exact logits, best first.

        Args:
            hidden: (B, D) float final hidden states (moved to the output's device, scored in float32).
            k: how many candidates per row, 1 .. num_rows.
            n_probe: IVF only: lists to visit instead of the default `n_probe` (1 .. n_lists); the
                exact index ignores it.

        Returns:
            (B, k) long token ids and (B, k) float32 logits ``h · e + b``, sorted descending. The exact
            index returns `torch.topk` of the full logits (equal values may come in another order).

        Raises:
            TokfreeError: hidden not a float (B, D) tensor, k or n_probe out of range.

        Example:
            >>> out = TopKOutput(torch.eye(4), torch.tensor([0.0, 0.0, 0.5, 0.0]))
            >>> out.candidates(torch.tensor([[0.0, 1.0, 0.0, 0.0]]), 2)
            (tensor([[1, 2]]), tensor([[1.0000, 0.5000]]))
        """
        h = self._check_hidden(hidden)
        k = self._check_k(k)
        n_probe = self._check_probe(n_probe)
        with torch.no_grad():
            if h.shape[0] == 0:
                return torch.empty(0, k, dtype=torch.long, device=self._device), h.new_empty(0, k)
            if self._kind == "exact":
                return self._scan_all(h, k)
            return self._scan_lists(h, k, n_probe)

    def log_probs(self, hidden: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The truncated next-token distribution: a log-softmax over the k candidates only.

        Args:
            hidden: (B, D) float hidden states.
            k: candidates per row (the support of the distribution).

        Returns:
            (B, k) long ids and (B, k) float32 log-probabilities (each row's exp sums to 1), best first.

        Raises:
            TokfreeError: as for `candidates`.

        Example:
            >>> out = TopKOutput(torch.eye(3))
            >>> ids, lp = out.log_probs(torch.tensor([[2.0, 0.0, 0.0]]), 2)
            >>> ids.tolist(), round(float(lp.exp().sum()), 6)
            ([[0, 1]], 1.0)
        """
        ids, logits = self.candidates(hidden, k)
        return ids, torch.log_softmax(logits, dim=1)

    def sample(
        self, hidden: Tensor, *, k: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """One token per row from the truncated distribution (top-k sampling).

        Args:
            hidden: (B, D) float hidden states.
            k: candidates per row.
            temperature: samples from ``softmax(logits / temperature)`` over the candidates;
                0 takes the best candidate (greedy).
            generator: a torch.Generator on the output's device for reproducible draws.

        Returns:
            (B,) long sampled ids and (B,) float32 their log-probabilities under the truncated
            distribution at temperature 1 (the model's, whatever temperature sampled them).

        Raises:
            TokfreeError: a negative or non-finite temperature, or as for `candidates`.

        Example:
            >>> out = TopKOutput(torch.eye(3))
            >>> g = torch.Generator().manual_seed(0)
            >>> ids, lp = out.sample(torch.tensor([[9.0, 0.0, 0.0]]), k=3, generator=g)
            >>> ids.tolist()
            [0]
        """
        _check_temperature(temperature)
        ids, logits = self.candidates(hidden, k)
        log_probs = torch.log_softmax(logits, dim=1)
        if temperature == 0:
            choice = torch.zeros(ids.shape[0], 1, dtype=torch.long, device=ids.device)  # candidates are sorted
        else:
            # Subtract the best logit first so a tiny temperature cannot overflow to inf - inf.
            probs = torch.softmax((logits - logits[:, :1]) / temperature, dim=1)
            choice = torch.multinomial(probs, 1, generator=generator)
        return ids.gather(1, choice)[:, 0], log_probs.gather(1, choice)[:, 0]

    def greedy(self, hidden: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The best candidate per row and its log-probability under the truncated distribution.

        Args:
            hidden: (B, D) float hidden states.
            k: candidates per row (only the log-probability depends on it).

        Returns:
            (B,) long ids and (B,) float32 log-probabilities.

        Raises:
            TokfreeError: as for `candidates`.

        Example:
            >>> TopKOutput(torch.eye(3)).greedy(torch.tensor([[0.0, 0.0, 1.0]]), 1)
            (tensor([2]), tensor([0.]))
        """
        return self.sample(hidden, k=k, temperature=0.0)

    def recall(self, hidden: Tensor, k: int, *, reference: Tensor | None = None, n_probe: int | None = None) -> float:
        """The fraction of the exact top-k ids that `candidates` finds (1.0 for the exact index).

        Args:
            hidden: (B, D) float hidden states.
            k: the k of top-k.
            reference: (B, k) integer ids of the exact top-k (for example from an exact `TopKOutput`
                over the same rows); None computes them here by scoring every row.
            n_probe: IVF lists to visit, as in `candidates`.

        Returns:
            hits / (B * k), where a hit is a reference id among the row's k candidates. Rows tied at
            the k-th logit can count as misses.

        Raises:
            TokfreeError: a reference of another shape or dtype, or as for `candidates`.

        Example:
            >>> g = torch.Generator().manual_seed(0)
            >>> out = TopKOutput(torch.randn(500, 8, generator=g), index="ivf", n_lists=10, n_probe=10, show_progress=False)
            >>> out.recall(torch.randn(4, 8, generator=g), 10)
            1.0
        """
        ids, _ = self.candidates(hidden, k, n_probe=n_probe)
        if reference is None:
            with torch.no_grad():
                reference = self._scan_all(self._check_hidden(hidden), k)[0]
        elif not isinstance(reference, Tensor) or tuple(reference.shape) != tuple(ids.shape):
            shape = tuple(reference.shape) if isinstance(reference, Tensor) else type(reference).__name__
            raise TokfreeError(f"reference is {shape}; it must be a (batch, k) = {tuple(ids.shape)} tensor of exact top-k ids")
        elif reference.is_floating_point() or reference.dtype == torch.bool:
            raise TokfreeError(f"reference has dtype {reference.dtype}; it must hold integer token ids")
        if ids.numel() == 0:
            return 1.0
        # Offset each row's ids by row * N so one isin compares rows with their own reference only.
        shift = torch.arange(ids.shape[0], device=self._device)[:, None] * self._num_rows
        reference = reference.to(device=self._device, dtype=torch.long)
        hits = torch.isin(reference + shift, ids + shift).sum()
        return float(hits) / reference.numel()

    # -- growing --------------------------------------------------------------------------------------

    def extend(self, weight_rows: Tensor, bias_rows: Tensor | None = None) -> Tensor:
        """Append rows for new tokens; they get the next ids and the IVF lists of their nearest centroids.

        No k-means is rerun. The rows are copied (in the output's dtype, on its device); the caller's
        tensors are not kept.

        Args:
            weight_rows: (n, D) float output embeddings of the new tokens.
            bias_rows: (n,) float biases, or None for zero bias.

        Returns:
            (n,) long the new ids, ``num_rows .. num_rows + n - 1`` (before the call).

        Raises:
            TokfreeError: rows that are not a finite float (n, D) tensor, or biases not of shape (n,).

        Example:
            >>> out = TopKOutput(torch.eye(2))
            >>> out.extend(torch.tensor([[0.0, 5.0]]), torch.tensor([1.0])).tolist()
            [2]
            >>> out.greedy(torch.tensor([[0.0, 1.0]]), 3)[0].tolist()
            [2]
        """
        rows = _check_rows("weight_rows", weight_rows, self._dim)
        n = rows.shape[0]
        if rows.dtype != self._dtype:
            rows = rows.to(dtype=self._dtype)
            if not bool(torch.isfinite(rows).all()):
                raise TokfreeError(f"weight_rows overflow {self._dtype} (the output's dtype); scale them or build the output in float32")
        rows = rows.to(device=self._device)
        bias = _check_bias("bias_rows", bias_rows, n, self._device)
        ids = torch.arange(self._num_rows, self._num_rows + n, device=self._device)
        if n == 0:
            return ids
        with torch.no_grad():
            if self._kind == "exact":
                lists = torch.zeros(n, dtype=torch.long, device=self._device)
            else:
                lists = self._assign(rows, bias)
                self._list_sums.index_add_(0, lists, torch.cat((rows.float(), bias[:, None]), dim=1))
            self._buffer.append(rows, bias, ids, lists)
            self._list_sizes += torch.bincount(lists, minlength=self._n_lists)
            self._num_rows += n
            if self._kind == "ivf":
                if self._buffer.n > max(_REPACK_MIN_ROWS, self._main_rows.shape[0] // _REPACK_FRACTION):
                    self._repack()
                else:
                    self._update_probe_vectors()
        return ids

    def _repack(self) -> None:
        """Merge the append buffer into the list-ordered rows (a new copy of the table; centroids unchanged)."""
        brows, bbias, bids, blists = self._buffer.view()
        main_lists = torch.repeat_interleave(
            torch.arange(self._n_lists, device=self._device), self._list_sizes - torch.bincount(blists, minlength=self._n_lists)
        )
        self._store_lists(
            torch.cat((self._main_rows, brows)),
            torch.cat((self._main_bias, bbias)),
            torch.cat((self._main_ids, bids)),
            torch.cat((main_lists, blists)),
        )

    def __repr__(self) -> str:
        extra = ""
        if self._kind == "ivf":
            extra = f", partition={self._partition!r}, n_lists={self._n_lists}, n_probe={self._n_probe}"
        return f"TopKOutput(num_rows={self._num_rows}, dim={self._dim}, index={self._kind!r}{extra}, device={self._device})"


def generate(
    step_fn: Callable[[Tensor], Tensor],
    output: TopKOutput,
    prompt_state: Tensor,  # (B, D)
    *,
    max_tokens: int,
    k: int = 64,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    stop_ids: Iterable[int] = (),
) -> tuple[Tensor, Tensor]:
    """Generate up to `max_tokens` tokens per row over a dynamic vocabulary, model-agnostic.

    Each step takes the k candidates of the current hidden state from `output`, picks one (greedy at
    temperature 0, else sampled from the temperature-scaled truncated distribution) and calls
    ``step_fn(ids)`` for the next hidden state. `step_fn` owns the model and its cache: it maps each
    id (a base token or a merged one) to an input embedding and runs the LM one position. It is not
    called after the last token, and after a row has produced a stop id it keeps receiving that
    stop id (a valid id) while other rows go on; the loop ends early once every row has stopped.

    Args:
        step_fn: ``(B,) long ids -> (B, D) float hidden state`` after feeding those ids.
        output: the output layer over the whole vocabulary.
        prompt_state: (B, D) float hidden state at the last prompt position (it predicts token 1).
        max_tokens: the most tokens per row (>= 0).
        k: candidates per step, the support of the truncated distribution.
        temperature: 0 for greedy, otherwise the sampling temperature.
        generator: a torch.Generator on the output's device for reproducible sampling.
        stop_ids: ids that end a row (the stop id itself is kept in the output).

    Returns:
        (B, max_tokens) long generated ids, -1 after a row's stop id, and (B, max_tokens) float32
        their log-probabilities under the truncated distribution at temperature 1 (0 after a stop).

    Raises:
        TokfreeError: a bad option, a stop id outside the vocabulary, or a step_fn result that is not
            a float (B, D) tensor.

    Example:
        >>> table = torch.eye(4)  # token j's output row; here also the next hidden state after j
        >>> out = TopKOutput(table)
        >>> ids, lp = generate(lambda ids: table[(ids + 1) % 4], out, table[:1], max_tokens=5, k=2)
        >>> ids.tolist()
        [[0, 1, 2, 3, 0]]
        >>> generate(lambda ids: table[(ids + 1) % 4], out, table[:1], max_tokens=5, k=2, stop_ids=[2])[0].tolist()
        [[0, 1, 2, -1, -1]]
    """
    if not isinstance(output, TopKOutput):
        raise TokfreeError(f"output is a {type(output).__name__}; pass a TopKOutput")
    if not callable(step_fn):
        raise TokfreeError(f"step_fn is a {type(step_fn).__name__}; pass a function from (B,) ids to (B, D) hidden states")
    hidden = output._check_hidden(prompt_state, "prompt_state")
    max_tokens = _check_int("max_tokens", max_tokens, 0)
    output._check_k(k)
    _check_temperature(temperature)
    stops = list(stop_ids)
    for stop in stops:
        if not _is_int(stop) or not 0 <= stop < output.num_rows:
            raise TokfreeError(f"stop id {stop!r} must be an int token id in 0..{output.num_rows - 1}")
    b, device = hidden.shape[0], output.device
    stop_t = torch.tensor(stops, dtype=torch.long, device=device)
    ids = torch.full((b, max_tokens), -1, dtype=torch.long, device=device)
    log_probs = torch.zeros(b, max_tokens, dtype=torch.float32, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    fed = torch.zeros(b, dtype=torch.long, device=device)
    with torch.no_grad():
        for t in range(max_tokens):
            token, lp = output.sample(hidden, k=k, temperature=temperature, generator=generator)
            ids[:, t] = token.masked_fill(done, -1)
            log_probs[:, t] = lp.masked_fill(done, 0.0)
            fed = torch.where(done, fed, token)
            done |= torch.isin(token, stop_t)
            if t == max_tokens - 1 or bool(done.all()):
                break
            hidden = step_fn(fed)
            if not isinstance(hidden, Tensor) or hidden.dim() != 2 or hidden.shape[0] != b or hidden.shape[1] != output.dim:
                shape = tuple(hidden.shape) if isinstance(hidden, Tensor) else type(hidden).__name__
                raise TokfreeError(
                    f"step_fn returned {shape}; it must return a ({b}, {output.dim}) float hidden state "
                    "(take hidden[:, -1] of a (B, T, D) output)"
                )
    return ids, log_probs
