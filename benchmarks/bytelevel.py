"""Exact byte-level probabilities from tokenized LMs on held-out Python code (issue 6): mid-token
completion, continuation scoring, fill-in-the-middle, ensembles of two vocabularies, and speed, in
one command.

The models are the code pair of `tokfree.training.train_lm --pair 1024,4096` (one BPE tokenizer per
size, gpt4 pre-tokenizer, the same tiny CausalLM settings; max_len 128 tokens). `--models DIR` reuses
a trained pair (`DIR/bpe-1024`, `DIR/bpe-4096`); otherwise they are trained (~8 min) into
`--cache` with

    .venv/bin/python -m tokfree.training.train_lm --pair 1024,4096 --data data/_domain/code/train.jsonl.gz \
        --heldout data/_domain/code/heldout.jsonl.gz --out CACHE

Everything is measured on `domain_documents(data, "code", "heldout")` with one seed:

1. Completion (E4): `--cuts` cut points at uniformly random byte positions (documents weighted by
   length). The prompt is the text from the first line start at or after `cut - --prompt-bytes`
   up to the cut, fed as the start of a text (the models' max_len is 128 tokens; a 160-byte prompt
   is ~50-70 tokens). Per model, the cut is "mid-token" when no token of that model's encoding of
   prompt + the next 64 bytes starts at the cut. For naive, healing (k=1) and byte (ByteLM):
   greedy `complete(max_bytes=16)`, scored by exact match of the first byte, of the first 8 bytes,
   and of the identifier remainder (the longest run of [A-Za-z0-9_] at the start of the true and of
   the generated 16 bytes must be equal; an empty run means the next byte is not an identifier
   byte); and `score_continuation` of the true next 24 bytes, in bits per byte.
2. FIM: `--fim` spans of 4-12 bytes inside lines of at least 24 bytes; prefix = up to
   `--prompt-bytes` bytes from a line start, suffix = the next 8 bytes after the span;
   `fim(mode="plain", max_bytes=12, temperature=0, suffix_ends_text=False)` for each method; exact
   match of the middle.
2b. FIM with FIM-trained models (`train_lm --pair <--fim-sizes> --fim-rate 0.5 --steps 800`,
   trained into `--fim-cache` unless `--fim-models DIR`; default bpe-1024 only): `--infill` identifier infills (cut inside an
   identifier, middle = the rest of it, suffix = the next 64 bytes); `fim(mode="spm")` per method,
   exact match (with and without the stop) and `fim_score` bits per byte.
3. Ensemble: `--snippets` snippets of `--snippet-bytes` bytes (from line starts, each scored as the
   start of a text, no end of text); per model the teacher-forced chain of `ByteState.logp_next`;
   mixture and product of the two computed from those rows (checked against `ByteEnsemble` on the
   first snippet); mixture weight tuned on the first `--dev` snippets, reported on the rest.
4. Speed: per model, `prefill` of 160-byte prompts and greedy generation of 64 bytes (bytes/s, LM
   contexts per byte), against token-level greedy decoding of the same model (tokens/s, bytes/s).

    .venv/bin/python benchmarks/bytelevel.py [--models /tmp/tokfree-runs/code-pair] [--fim-models /tmp/tokfree-runs/fim-pair]
        [--cuts 120] [--fim 24] [--infill 200] [--snippets 24] [--snippet-bytes 192] [--dev 6]

Writes `benchmarks/results/bytelevel.md` and `bytelevel.png` (`--results DIR` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import tokfree  # noqa: E402
from tokfree._corpora import domain_documents  # noqa: E402
from tokfree.bytelevel import EOT, ByteEnsemble, ByteLM, complete, fim, fim_score, score_continuation  # noqa: E402
from tokfree.bytelevel.adapters import TorchTokenLM  # noqa: E402
from tokfree.nn import CausalLM  # noqa: E402
from tokfree.training.fim import fim_token_ids  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1024, 4096)
METHODS = ("naive", "healing", "byte")
IDENT = re.compile(rb"[A-Za-z0-9_]*")
LN2 = math.log(2)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- models ---------------------------------------------------------------------------------------


#: Extra training arguments of the FIM-trained pair (half the rows SPM examples, twice the steps).
FIM_TRAINING = ["--fim-rate", "0.5", "--steps", "800"]


def ensure_models(models: Path | None, cache: Path, extra: list[str] = (), minutes: int = 8, sizes: tuple[int, ...] = SIZES) -> Path:
    folder = models or cache
    if all((folder / f"bpe-{v}" / "model.safetensors").exists() for v in sizes):
        return folder
    if models is not None:
        raise SystemExit(f"{models}: expected " + ", ".join(f"bpe-{v}/" for v in sizes) + " with model.safetensors")
    command = [sys.executable, "-m", "tokfree.training.train_lm", "--pair", ",".join(map(str, sizes)), *extra,
               "--data", str(DATA / "_domain/code/train.jsonl.gz"), "--heldout", str(DATA / "_domain/code/heldout.jsonl.gz"), "--out", str(cache)]
    log(f"training a code pair (~{minutes} min): " + " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)
    return cache


def load(folder: Path, size: int, device: str) -> tuple[ByteLM, TorchTokenLM, tokfree.Tokenizer]:
    d = folder / f"bpe-{size}"
    tok = tokfree.Tokenizer.from_file(d / "tokenizer.json")
    lm = TorchTokenLM(CausalLM.load(d, device=device), bos_id=0, eos_id=0, device=device, truncate=True)
    return ByteLM(lm, tok), lm, tok


# --- sampling -------------------------------------------------------------------------------------


def line_start_after(doc: bytes, position: int) -> int:
    """The first line start at or after `position` (or `position` itself when none before the cut)."""
    position = max(0, position)
    if position == 0 or doc[position - 1 : position] == b"\n":
        return position
    found = doc.find(b"\n", position)
    return found + 1 if found != -1 else position


def sample_cuts(docs: list[bytes], n: int, rng: random.Random, prompt_bytes: int, after: int) -> list[tuple[int, int, int]]:
    """(doc index, prompt start, cut) for n cuts at uniformly random byte positions."""
    weights = [max(0, len(d) - 32 - after) for d in docs]
    out = []
    while len(out) < n:
        i = rng.choices(range(len(docs)), weights=weights)[0]
        cut = rng.randrange(32, len(docs[i]) - after)
        start = line_start_after(docs[i], cut - prompt_bytes)
        if cut - start >= 16:
            out.append((i, start, cut))
    return out


def mid_token(tok: tokfree.Tokenizer, text: bytes, cut: int) -> bool:
    enc = tok.encode(text.decode("utf-8", errors="replace"), offsets=True)
    starts = {s for s, _ in enc.offsets}
    return cut not in starts


def ident(data: bytes) -> bytes:
    return IDENT.match(data).group(0)


# --- 1. completion ------------------------------------------------------------------------------


def run_completion(models: dict, docs: list[bytes], cuts: list, gen_bytes: int, score_bytes: int) -> list[dict]:
    rows = []
    for n, (i, start, cut) in enumerate(cuts):
        doc = docs[i]
        prompt, truth = doc[start:cut], doc[cut : cut + gen_bytes]
        target = doc[cut : cut + score_bytes]
        for size, (blm, _, tok) in models.items():
            mid = mid_token(tok, doc[start : cut + 64], cut - start)
            for method in METHODS:
                started = time.perf_counter()
                out = complete(blm, prompt, max_bytes=gen_bytes, method=method)
                logp = score_continuation(blm, prompt, target, method=method)
                rows.append({"n": n, "model": f"bpe-{size}", "mid": mid, "method": method,
                             "em1": out[:1] == truth[:1], "em8": out[:8] == truth[:8], "word": ident(out) == ident(truth),
                             "bpb": -logp / LN2 / len(target) if logp > -math.inf else math.inf,
                             "seconds": time.perf_counter() - started, "out": out, "truth": truth})
        if n % 5 == 4:
            log(f"  completion {n + 1}/{len(cuts)}")
    return rows


def summarise(rows: list[dict], cut_column: str, metrics) -> list[dict]:
    """One row per model x (mid-token / boundary / all) x method: n, `metrics(selected rows)`, and
    the mean finite bits/byte with the count of -inf scores."""
    out = []
    for model in sorted({r["model"] for r in rows}):
        for where, mid in (("mid-token", True), ("boundary", False), ("all", None)):
            for method in METHODS:
                sel = [r for r in rows if r["model"] == model and r["method"] == method and (mid is None or r["mid"] == mid)]
                if sel:
                    finite = [r["bpb"] for r in sel if math.isfinite(r["bpb"])]
                    out.append({"model": model, cut_column: where, "method": method, "n": len(sel), **metrics(sel),
                                "bpb": sum(finite) / len(finite) if finite else None, "score -inf": len(sel) - len(finite)})
    return out


def summarise_completion(rows: list[dict]) -> list[dict]:
    out = summarise(rows, "cut", lambda sel: {"EM first byte": sum(r["em1"] for r in sel) / len(sel), "EM 8 bytes": sum(r["em8"] for r in sel) / len(sel),
                                              "EM identifier rest": sum(r["word"] for r in sel) / len(sel)})
    return [{**r, "bits/byte (24 B)": r.pop("bpb")} for r in out]


# --- 2. FIM ---------------------------------------------------------------------------------------


def sample_spans(docs: list[bytes], n: int, rng: random.Random, prompt_bytes: int, suffix_bytes: int) -> list[tuple[bytes, bytes, bytes]]:
    lines = []
    for d in docs:
        at = 0
        for line in d.split(b"\n"):
            if len(line.strip()) >= 24 and at > 0:
                lines.append((d, at, len(line)))
            at += len(line) + 1
    out = []
    while len(out) < n:
        d, at, length = rng.choice(lines)
        span = rng.randint(4, 12)
        indent = len(d[at : at + length]) - len(d[at : at + length].lstrip())
        if length - indent - span - suffix_bytes < 1:
            continue
        s = at + rng.randrange(indent + 1, length - span - suffix_bytes + 1)
        start = line_start_after(d, s - prompt_bytes)
        out.append((d[start:s], d[s : s + span], d[s + span : s + span + suffix_bytes]))
    return out


def run_fim(models: dict, spans: list, max_bytes: int) -> list[dict]:
    rows = []
    for n, (prefix, middle, suffix) in enumerate(spans):
        for size, (blm, _, _) in models.items():
            for method in METHODS:
                started = time.perf_counter()
                out = fim(blm, prefix, suffix, mode="plain", max_bytes=max_bytes, temperature=0.0, suffix_ends_text=False, method=method)
                greedy = complete(blm, prefix, max_bytes=len(middle), method=method)
                rows.append({"n": n, "model": f"bpe-{size}", "method": method, "em": out == middle, "greedy_em": greedy == middle,
                             "len": len(out), "seconds": time.perf_counter() - started})
        log(f"  fim {n + 1}/{len(spans)}")
    return rows


def sample_infill(docs: list[bytes], n: int, rng: random.Random, prompt_bytes: int, suffix_bytes: int) -> list[tuple[bytes, bytes, bytes]]:
    """Identifier infilling: a cut at a uniformly random byte inside an identifier-like run
    ([A-Za-z0-9_], at least one byte of it before and after the cut); the middle is the rest of
    the run, the prefix from the first line start at or after `prompt_bytes` before the cut, the
    suffix the next `suffix_bytes` bytes after the middle."""
    out = []
    while len(out) < n:
        d = rng.choices(docs, weights=[len(x) for x in docs])[0]
        s = rng.randrange(prompt_bytes, len(d) - suffix_bytes - 64)
        if not (IDENT.match(d, s - 1).end() > s - 1 and IDENT.match(d, s).end() > s):
            continue
        end = IDENT.match(d, s).end()
        start = line_start_after(d, s - prompt_bytes)
        out.append((d[start:s], d[s:end], d[end : end + suffix_bytes]))
    return out


def run_fim_trained(models: dict, spans: list) -> list[dict]:
    """Greedy middles (at most len(middle) + 1 bytes: enough to tell whether the model stops right)
    and middle scores per model and method."""
    rows = []
    for n, (prefix, middle, suffix) in enumerate(spans):
        for size, (blm, _, tok) in models.items():
            ids = fim_token_ids(tok)
            mid = mid_token(tok, prefix + middle + suffix[:16], len(prefix))
            for method in METHODS:
                started = time.perf_counter()
                out = fim(blm, prefix, suffix, mode="spm", fim_ids=ids, max_bytes=len(middle) + 1, method=method)
                logp = fim_score(blm, prefix, middle, suffix, mode="spm", fim_ids=ids, method=method)
                rows.append({"n": n, "model": f"bpe-{size}", "method": method, "mid": mid, "em": out == middle, "em_text": out[: len(middle)] == middle,
                             "em1": out[:1] == middle[:1], "bpb": -logp / LN2 / (len(middle) + 1) if logp > -math.inf else math.inf,
                             "seconds": time.perf_counter() - started, "out": out, "truth": middle})
        if n % 10 == 9:
            log(f"  fim (trained) {n + 1}/{len(spans)}")
    return rows


def summarise_fim_trained(rows: list[dict]) -> list[dict]:
    out = summarise(rows, "prefix ends", lambda sel: {"EM middle": sum(r["em"] for r in sel) / len(sel),
                                                      "EM middle bytes": sum(r["em_text"] for r in sel) / len(sel),
                                                      "EM first byte": sum(r["em1"] for r in sel) / len(sel),
                                                      "s per span": sum(r["seconds"] for r in sel) / len(sel)})
    return [{**r, "bits/byte (middle + end)": r.pop("bpb")} for r in out]


# --- 3. ensemble ----------------------------------------------------------------------------------


def member_rows(blm: ByteLM, text: bytes) -> np.ndarray:
    """(len(text), 257) teacher-forced next-byte log-probs from the start of a text."""
    state = blm.prefill(b"")
    rows = []
    for byte in text:
        rows.append(state.logp_next())
        state = state.advance(byte)
    return np.stack(rows)


def combine(a: np.ndarray, b: np.ndarray, w: float, mode: str) -> np.ndarray:
    """Per-byte mixture / product of two (T, 257) log-prob arrays, weight w on the first (as ByteEnsemble)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "mixture":
            out = np.logaddexp(math.log(w) + a if w > 0 else np.full_like(a, -np.inf), math.log(1 - w) + b if w < 1 else np.full_like(b, -np.inf))
        else:
            out = w * a + (1 - w) * b
            out = np.where(np.isnan(out), -np.inf, out)
    return out - np.logaddexp.reduce(out, axis=1, keepdims=True)


def bpb(rows: np.ndarray, text: bytes) -> float:
    return float(-rows[np.arange(len(text)), list(text)].sum() / LN2 / len(text))


def run_ensemble(models: dict, snippets: list[bytes], dev: int) -> tuple[list[dict], dict]:
    names = [f"bpe-{s}" for s in models]
    rows = {name: [] for name in names}
    for k, text in enumerate(snippets):
        for (size, (blm, _, _)), name in zip(models.items(), names):
            rows[name].append(member_rows(blm, text))
        log(f"  ensemble snippet {k + 1}/{len(snippets)}")
    # Check the numpy combination against ByteEnsemble itself on the first 48 bytes of the first snippet.
    blms = [m[0] for m in models.values()]
    text = snippets[0][:48]
    check = {}
    for mode in ("mixture", "product"):
        ens = ByteEnsemble(blms, [0.5, 0.5], mode=mode)
        state, total = ens.prefill(b""), 0.0
        for byte in text:
            total += float(state.logp_next()[byte])
            state = state.advance(byte)
        mine = combine(rows[names[0]][0][:48], rows[names[1]][0][:48], 0.5, mode)
        check[mode] = abs(total - float(mine[np.arange(48), list(text)].sum()))
    test = range(dev, len(snippets))

    def mean_bpb(fn) -> float:
        total = sum(-fn(k)[np.arange(len(snippets[k])), list(snippets[k])].sum() for k in test)
        return float(total / LN2 / sum(len(snippets[k]) for k in test))

    def dev_bpb(w: float, mode: str) -> float:
        return sum(bpb(combine(rows[names[0]][k], rows[names[1]][k], w, mode), snippets[k]) for k in range(dev))

    grid = [round(x, 2) for x in np.linspace(0, 1, 21)]
    best_mix = min(grid, key=lambda w: dev_bpb(w, "mixture"))
    best_prod = min(grid, key=lambda w: dev_bpb(w, "product"))
    out = [{"model": names[0], "weight on bpe-1024": 1.0, "bits/byte": mean_bpb(lambda k: rows[names[0]][k])},
           {"model": names[1], "weight on bpe-1024": 0.0, "bits/byte": mean_bpb(lambda k: rows[names[1]][k])},
           {"model": "mixture, equal", "weight on bpe-1024": 0.5, "bits/byte": mean_bpb(lambda k: combine(rows[names[0]][k], rows[names[1]][k], 0.5, "mixture"))},
           {"model": "mixture, tuned on dev", "weight on bpe-1024": best_mix, "bits/byte": mean_bpb(lambda k: combine(rows[names[0]][k], rows[names[1]][k], best_mix, "mixture"))},
           {"model": "product, equal", "weight on bpe-1024": 0.5, "bits/byte": mean_bpb(lambda k: combine(rows[names[0]][k], rows[names[1]][k], 0.5, "product"))},
           {"model": "product, tuned on dev", "weight on bpe-1024": best_prod, "bits/byte": mean_bpb(lambda k: combine(rows[names[0]][k], rows[names[1]][k], best_prod, "product"))}]
    return out, check


# --- 4. speed -------------------------------------------------------------------------------------


def run_speed(models: dict, prompts: list[bytes], warmup: bytes, gen_bytes: int, gen_tokens: int, device: str) -> list[dict]:
    out = []
    for size, (blm, lm, tok) in models.items():
        complete(blm, warmup, max_bytes=4)  # first-call costs (torch, masks) are not steady state
        lm.clear_cache()
        pre_s = pre_ctx = gen_s = gen_ctx = 0.0
        made = 0
        for prompt in prompts:
            before = sum(blm.calls)
            started = time.perf_counter()
            state = blm.prefill(prompt)
            logp = state.logp_next()
            pre_s += time.perf_counter() - started
            pre_ctx += sum(blm.calls) - before
            before = sum(blm.calls)
            started = time.perf_counter()
            for _ in range(gen_bytes):
                byte = int(np.argmax(logp))
                if byte == EOT:
                    break
                state = state.advance(byte)
                logp = state.logp_next()
                made += 1
            gen_s += time.perf_counter() - started
            gen_ctx += sum(blm.calls) - before
        # Token level: greedy decoding of the same model from the prompt's tokens (KV cache, one step per token).
        lm.clear_cache()
        tok_s, tokens, tok_bytes = 0.0, 0, 0
        for prompt in prompts:
            ids = tok.encode(prompt.decode("utf-8", errors="replace"))
            lm.next_logprobs([ids])
            started = time.perf_counter()
            for _ in range(gen_tokens):
                nxt = int(np.argmax(lm.next_logprobs([ids])[0][1:])) + 1  # id 0 is <|endoftext|>
                ids = ids + [nxt]
                tokens += 1
                tok_bytes += len(tok.decode_bytes([nxt]))
            tok_s += time.perf_counter() - started
        out.append({"model": f"bpe-{size}", "device": device, "prefill s (160 B)": pre_s / len(prompts),
                    "prefill contexts": pre_ctx / len(prompts), "byte-level bytes/s": made / gen_s,
                    "contexts/byte (steady)": gen_ctx / made, "token-level tokens/s": tokens / tok_s,
                    "token-level bytes/s": tok_bytes / tok_s, "slowdown (bytes/s)": (tok_bytes / tok_s) / (made / gen_s)})
    return out


# --- report ---------------------------------------------------------------------------------------


def plot(summary: list[dict], infill_summary: list[dict], path: Path) -> None:
    plt = harness._pyplot()
    colors = {"naive": "#d95f02", "healing": "#7570b3", "byte": "#1b9e77"}
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    groups = [(m, c) for m in ("bpe-1024", "bpe-4096") for c in ("mid-token", "boundary")]
    fim_groups = [(m, c) for m in sorted({r["model"] for r in infill_summary}) for c in ("mid-token", "boundary")]
    for ax, metric, title in ((axes[0], "EM 8 bytes", "greedy completion: exact match of the next 8 bytes"),
                              (axes[1], "bits/byte (24 B)", "score_continuation: bits/byte of the true next 24 bytes")):
        width = 0.27
        for j, method in enumerate(METHODS):
            ys = []
            for model, cut in groups:
                row = next((r for r in summary if r["model"] == model and r["cut"] == cut and r["method"] == method), None)
                ys.append(row[metric] if row and row[metric] is not None else 0.0)
            bars = ax.bar([g + (j - 1) * width for g in range(len(groups))], ys, width * 0.95, label=method, color=colors[method])
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.set_xticks(range(len(groups)), [f"{m}\n{c}" for m, c in groups], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.margins(y=0.15)
        ax.legend(fontsize=8)
    for j, method in enumerate(METHODS):
        ys = []
        for model, cut in fim_groups:
            row = next((r for r in infill_summary if r["model"] == model and r["prefix ends"] == cut and r["method"] == method), None)
            ys.append(row["EM middle bytes"] if row else 0.0)
        bars = axes[2].bar([g + (j - 1) * 0.27 for g in range(len(fim_groups))], ys, 0.26, label=method, color=colors[method])
        axes[2].bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    axes[2].set_xticks(range(len(fim_groups)), [f"FIM {m}\nprefix ends {c}" for m, c in fim_groups], fontsize=8)
    axes[2].set_title("FIM-trained models (SPM): the middle's bytes generated exactly", fontsize=9)
    axes[2].margins(y=0.15)
    axes[2].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=None, help="a trained pair (DIR/bpe-1024, DIR/bpe-4096)")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parent / ".corpus" / "bytelevel-code-pair")
    parser.add_argument("--fim-models", type=Path, default=None, help="a FIM-trained pair (train_lm --pair 1024,4096 --fim-rate 0.5 --steps 800)")
    parser.add_argument("--fim-cache", type=Path, default=Path(__file__).resolve().parent / ".corpus" / "bytelevel-fim-pair")
    parser.add_argument("--fim-sizes", default="1024", help="vocabulary sizes of the FIM-trained models (comma-separated)")
    parser.add_argument("--infill", type=int, default=160, help="identifier infills for the FIM-trained models")
    parser.add_argument("--cuts", type=int, default=120)
    parser.add_argument("--fim", type=int, default=24)
    parser.add_argument("--snippets", type=int, default=24)
    parser.add_argument("--snippet-bytes", type=int, default=192)
    parser.add_argument("--dev", type=int, default=6)
    parser.add_argument("--prompt-bytes", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    folder = ensure_models(args.models, args.cache)
    fim_sizes = tuple(int(v) for v in args.fim_sizes.split(","))
    fim_folder = ensure_models(args.fim_models, args.fim_cache, FIM_TRAINING, minutes=8 * len(fim_sizes), sizes=fim_sizes)
    docs = [d.encode() for d in domain_documents(DATA, "code", "heldout")]
    device = "cpu"
    models = {size: load(folder, size, device) for size in SIZES}
    fim_models = {size: load(fim_folder, size, device) for size in fim_sizes}
    paths = {"models": str(folder), "cache": str(args.cache), "fim_models": str(fim_folder), "fim_cache": str(args.fim_cache), "results": str(args.results)}
    recorder = harness.Recorder("bytelevel", vars(args) | paths, results_dir=args.results)
    started_all = time.perf_counter()
    timings = {}

    cuts = sample_cuts(docs, args.cuts, rng, args.prompt_bytes, after=64)
    spans = sample_spans(docs, args.fim, rng, args.prompt_bytes, suffix_bytes=8)
    infill = sample_infill(docs, args.infill, random.Random(args.seed + 1), 128, 64)
    snippets = []
    while len(snippets) < args.snippets:
        i = rng.choices(range(len(docs)), weights=[len(d) for d in docs])[0]
        s = line_start_after(docs[i], rng.randrange(len(docs[i])))
        if len(docs[i]) - s >= args.snippet_bytes:
            snippets.append(docs[i][s : s + args.snippet_bytes])

    log("1. completion")
    t = time.perf_counter()
    rows = run_completion(models, docs, cuts, 16, 24)
    timings["completion"] = time.perf_counter() - t
    summary = summarise_completion(rows)
    log("2. fim")
    t = time.perf_counter()
    fim_rows = run_fim(models, spans, 12)
    timings["fim"] = time.perf_counter() - t
    log("2b. fim, FIM-trained pair")
    t = time.perf_counter()
    infill_rows = run_fim_trained(fim_models, infill)
    timings["fim_trained"] = time.perf_counter() - t
    infill_summary = summarise_fim_trained(infill_rows)
    log("3. ensemble")
    t = time.perf_counter()
    ens_rows, check = run_ensemble(models, snippets, args.dev)
    timings["ensemble"] = time.perf_counter() - t
    log("4. speed")
    t = time.perf_counter()
    speed_prompts = [docs[i][start:cut] for i, start, cut in cuts[:4]]
    warmup = docs[cuts[-1][0]][cuts[-1][1] : cuts[-1][2]]
    speed = run_speed(models, speed_prompts, warmup, 64, 32, "cpu")
    if torch.cuda.is_available():
        gpu = {size: load(folder, size, "cuda") for size in SIZES}
        speed += run_speed(gpu, speed_prompts, warmup, 64, 32, "cuda")
    timings["speed"] = time.perf_counter() - t
    total = time.perf_counter() - started_all

    for row in summary + infill_summary + ens_rows + speed:
        recorder.add(kind="summary", **row)
    recorder.add(kind="fim_trained", rows=[{k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in r.items()} for r in infill_rows])
    recorder.add(kind="fim", rows=[{k: v for k, v in r.items()} for r in fim_rows])
    recorder.write()

    fim_summary = []
    for size in SIZES:
        for method in METHODS:
            sel = [r for r in fim_rows if r["model"] == f"bpe-{size}" and r["method"] == method]
            fim_summary.append({"model": f"bpe-{size}", "method": method, "n": len(sel), "FIM exact match": sum(r["em"] for r in sel) / len(sel),
                                "greedy continuation exact match": sum(r["greedy_em"] for r in sel) / len(sel),
                                "mean middle length": sum(r["len"] for r in sel) / len(sel), "s per span": sum(r["seconds"] for r in sel) / len(sel)})
    mid_share = {m: sum(r["mid"] for r in rows if r["model"] == m and r["method"] == "byte") / len(cuts) for m in ("bpe-1024", "bpe-4096")}
    seconds = {m: {method: sum(r["seconds"] for r in rows if r["model"] == m and r["method"] == method) / len(cuts) for method in METHODS} for m in ("bpe-1024", "bpe-4096")}
    examples = [r for r in rows if r["model"] == "bpe-4096" and r["mid"]][: 3 * 3]

    long = {f"bpe-{size}": sum(len(tok.encode(docs[i][start : cut + 24].decode("utf-8", errors="replace"))) > models[SIZES[0]][1].model.config.max_len - 1 for i, start, cut in cuts)
            for size, (_, _, tok) in models.items()}
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    plot(summary, infill_summary, results / "bytelevel.png")
    fim_logs = {size: json.loads((fim_folder / f"bpe-{size}" / "training.json").read_text()) for size in fim_sizes}
    fim_mid = {size: sum(r["mid"] for r in infill_rows if r["model"] == f"bpe-{size}" and r["method"] == "byte") / len(infill) for size in fim_sizes}
    infill_examples = [r for r in infill_rows if r["model"] == f"bpe-{fim_sizes[-1]}" and r["mid"]][: 3 * 4]
    command = "python benchmarks/bytelevel.py " + " ".join(a if " " not in a else repr(a) for a in (argv if argv is not None else sys.argv[1:]))
    gpu_note = "measured" if torch.cuda.is_available() else "n/a (no CUDA on this machine)"
    lines = [
        recorder.header("Byte-level LMs from tokenized LMs on held-out Python code (issue 6)"),
        f"Command: `{command}` ({total / 60:.1f} min: completion {timings['completion']:.0f} s, FIM {timings['fim']:.0f} s + "
        f"{timings['fim_trained']:.0f} s, "
        f"ensemble {timings['ensemble']:.0f} s, speed {timings['speed']:.0f} s). Models: `{folder}` (the code pair of "
        "`tokfree.training.train_lm --pair 1024,4096`: 1.3M-parameter CausalLMs, 4 layers, d_model 128, max_len 128, 400 steps; "
        "held-out 2.079 / 2.001 bits/byte token-level). The numbers describe tiny models: what transfers is the comparison "
        "between methods on the same model, not the absolute level.",
        "",
        f"Data: `domain_documents(data, 'code', 'heldout')` ({len(docs)} files, {sum(map(len, docs)):,} bytes), seed {args.seed}. "
        f"Every prompt is the text from the first line start at or after `cut - {args.prompt_bytes}` bytes up to the cut, given as the "
        "start of a text (BOS + prompt; the models saw windows of 128 tokens). `TorchTokenLM(truncate=True)`: a context longer "
        "than max_len - 1 = 127 tokens is cut to its last 128 tokens (with BOS) as a sliding window; prompt + the 24 scored bytes "
        "exceed 127 tokens at " + ", ".join(f"{long[m]} of {len(cuts)} cuts for {m}" for m in long) + " (only the last scored bytes "
        "are affected); FIM texts, snippets and speed prompts stay below.",
        "",
        "## 1. Mid-token completion and continuation scoring",
        "",
        f"{len(cuts)} cuts at uniformly random byte positions. A cut is *mid-token* for a model when no token of its encoding "
        f"of the prompt + 64 bytes starts there: {mid_share['bpe-1024']:.0%} of the cuts for bpe-1024, {mid_share['bpe-4096']:.0%} "
        "for bpe-4096. Greedy `complete(max_bytes=16, method=...)`: *EM first byte* / *EM 8 bytes*: the first 1 / 8 generated bytes "
        "equal the text's; *EM identifier rest*: the longest [A-Za-z0-9_] run at the start of the output equals the one at the "
        "start of the true 16 bytes (empty = the next byte is not an identifier byte; both must agree). "
        "*bits/byte (24 B)*: -`score_continuation(prompt, next 24 bytes, method=...)` / ln 2 / 24.",
        "",
        "Comparability: the byte score is log P(prompt + c) - log P(prompt) summed over every token path, a proper "
        "conditional distribution over byte strings, so its bits/byte are comparable across models and with the "
        "ensemble. Naive is the single path enc(prompt) + enc(c) (prompt and continuation tokenized separately), healing "
        "the single path after backing off the prompt's last token; both are lower bounds on the probability their own "
        "decoding procedure gives c, and at a mid-token cut naive scores a tokenization the model never saw in training. "
        "They are comparable with the byte score as 'probability given to the true bytes', not as a normalised byte-level model "
        "(`score -inf`: the method gives the true continuation probability 0; such cuts are left out of its mean). "
        "The 24 bytes usually end mid-token too: the byte score counts the paths whose last token runs past their end (the text "
        "is scored as a prefix), while naive and healing score enc(c) as a complete tokenization; that is part of why byte-level "
        "bits/byte are lower even at token-boundary cuts.",
        "",
        harness.markdown_table(summary, ["model", "cut", "method", "n", "EM first byte", "EM 8 bytes", "EM identifier rest", "bits/byte (24 B)", "score -inf"]),
        "",
        "Seconds per cut (complete + score_continuation): "
        + "; ".join(f"{m}: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds[m].items()) for m in seconds) + ".",
        "",
        "Examples (bpe-4096, mid-token cuts; truth / naive / healing / byte):",
        "",
    ]
    for k in range(0, len(examples), 3):
        group = examples[k : k + 3]
        lines.append(f"- `{group[0]['truth']!r}`: " + " / ".join(f"`{r['out']!r}`" for r in group))
    lines += [
        "",
        "## 2. Fill-in-the-middle with a left-to-right model (`fim(mode='plain')`)",
        "",
        f"{len(spans)} spans of 4-12 bytes inside lines of >= 24 bytes (not the indentation); prefix = up to {args.prompt_bytes} bytes "
        "from a line start, suffix = the next 8 bytes. `fim(blm, prefix, suffix, mode='plain', max_bytes=12, temperature=0, "
        "suffix_ends_text=False, method=...)`: the candidates are the prefixes of the greedy 12-byte continuation, reranked by "
        "log P(prefix + middle + suffix); *greedy continuation exact match*: the greedy continuation of the middle's length "
        "equals the middle (no suffix used).",
        "",
        harness.markdown_table(fim_summary, ["model", "method", "n", "FIM exact match", "greedy continuation exact match", "mean middle length", "s per span"]),
        "",
        "A left-to-right model this small rarely reproduces a middle exactly (it cannot see the suffix while generating): section "
        "2b repeats FIM with models trained for it.",
        "",
        "## 2b. Fill-in-the-middle with FIM-trained models (`fim(mode='spm')`)",
        "",
        f"Models: `{fim_folder}`, the same settings as the pair, trained with `{' '.join(FIM_TRAINING)}`: half the training rows are SPM "
        "examples `[S] <PRE> <SUF> suffix <MID> prefix middle [S]` split at a *token* boundary of the document's own tokenization "
        "(`tokfree.training.fim`); token-level held-out bits/byte (left-to-right text) "
        + "; ".join(f"bpe-{v}: {fim_logs[v]['heldout_bits_per_byte']:.3f} ({fim_logs[v]['seconds'] / 60:.0f} min of training on a "
                    "shared machine)" for v in fim_sizes) + ".",
        "",
        f"{len(infill)} identifier infills: a cut at a uniformly random byte inside an identifier-like run ([A-Za-z0-9_], at least "
        "one byte of it before and after the cut); the middle is the rest of the run (mean "
        f"{sum(len(m) for _, m, _ in infill) / len(infill):.1f} bytes), the prefix from the first line start at or after 128 bytes "
        "before the cut, the suffix the next 64 bytes. The prefix ends mid-token (no token of the model's encoding of prefix + "
        "middle + 16 bytes starts at the cut) for " + ", ".join(f"{fim_mid[v]:.0%} (bpe-{v})" for v in fim_sizes) + " of them. Context `<PRE> <SUF> enc(suffix) <MID>`, then: *naive* greedy tokens after enc(prefix); *healing* backs off the "
        "prefix's last token and constrains the first generated token to extend it; *byte* `ByteLM.prefill(prefix, end='boundary')` "
        "and greedy bytes. Each generates until the model's end-of-middle token ([S]) or len(middle) + 1 bytes. *EM middle*: the "
        "output is exactly the middle (the model also stops there); *EM middle bytes*: the output starts with the middle (where "
        "it stops aside); *EM first byte*; *bits/byte*: -`fim_score(prefix, middle, suffix, mode='spm', method=...)` / ln 2 / "
        "(middle bytes + 1), the end of the middle counted as one more symbol (naive and healing score their single token path, "
        "byte the sum over paths).",
        "",
        harness.markdown_table(infill_summary, ["model", "prefix ends", "method", "n", "EM middle", "EM middle bytes", "EM first byte", "bits/byte (middle + end)", "score -inf", "s per span"]),
        "",
        f"Examples (FIM bpe-{fim_sizes[-1]}, prefix ends mid-token; truth / naive / healing / byte):",
        "",
        *[f"- `{g[0]['truth']!r}`: " + " / ".join(f"`{r['out']!r}`" for r in g) for g in (infill_examples[k : k + 3] for k in range(0, len(infill_examples), 3))],
        "",
        "## 3. Ensembles of the two vocabularies",
        "",
        f"{len(snippets)} snippets of {args.snippet_bytes} bytes (each from a line start, scored as the start of a text, no end of "
        f"text): teacher-forced `ByteState.logp_next` chains per model; mixture and product are computed from those rows "
        f"exactly as `ByteEnsemble` does (checked against `ByteEnsemble` on 48 bytes: |difference| {check['mixture']:.1e} "
        f"(mixture), {check['product']:.1e} (product) nats: float32 forward passes batched differently). Weights tuned on a grid of 0.05 over the first {args.dev} snippets "
        f"(dev); bits/byte over the other {len(snippets) - args.dev}.",
        "",
        harness.markdown_table(ens_rows, ["model", "weight on bpe-1024", "bits/byte"]),
        "",
        "## 4. Speed",
        "",
        f"Per model: `prefill` of {len(speed_prompts)} prompts of the completion sample (mean over prompts) and greedy generation of 64 "
        "bytes after each (`logp_next` + `advance`); LM contexts counted at `ByteLM` (each is one row of next-token log-probs; "
        "rows come from the KV cache of a prefix, one incremental step). Token level: greedy decoding of 32 tokens from the "
        f"prompt's tokens with the same `TorchTokenLM` (one step per token). Single process, `torch.set_num_threads(2)`. GPU: {gpu_note}.",
        "",
        harness.markdown_table(speed, ["model", "device", "prefill s (160 B)", "prefill contexts", "byte-level bytes/s", "contexts/byte (steady)",
                                       "token-level tokens/s", "token-level bytes/s", "slowdown (bytes/s)"]),
        "",
        "![completion, scoring and FIM](bytelevel.png)",
        "",
    ]
    (results / "bytelevel.md").write_text("\n".join(lines), encoding="utf-8")
    log(f"wrote {results / 'bytelevel.md'} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
