"""Worst-case inputs: time per byte against prose, growth per doubling, and crashes.

Inputs, each exactly N UTF-8 bytes for N doubling from --min-kib (64 KiB) to --max-kib (4 MiB):
prose (the encode corpus; the baseline), one repeated letter, spaces, newlines, random bytes
decoded with errors="replace", random letters with no spaces, and prose with its whitespace
removed. Each is one `encode` call (tokfree `encode`, tiktoken `encode_ordinary`, HF `encode`,
sentencepiece `encode`), with the shared vocabulary of vocab.py (sentencepiece: its own model).

Each (library, input) runs in its own subprocess over the whole size series, smallest first, so a
panic (tiktoken raises PanicException, a BaseException, on >= 1 MiB of spaces with the GPT-2
pattern) or a hard crash is recorded as "crash" at that size without stopping the bench; larger
sizes of that series are then not run. A series that exceeds --timeout is stopped the same way.

Reported: median seconds of --repeats calls per size; "x prose" = time per byte over prose's time
per byte at the same size (DESIGN.md target: <= 2); growth = t(N) / t(N/2) (2.0 = linear); the
ids' sha1, to show where tokfree's output equals tiktoken's and HF's.

    python benchmarks/bench_pathological.py [--min-kib 64] [--max-kib 4096] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import harness  # noqa: E402
import vocab as vocabs  # noqa: E402

LIBRARIES = ("tokfree", "tiktoken", "hf", "spm")
INPUTS = ("prose", "one letter", "spaces", "newlines", "random bytes", "letters no spaces", "prose no whitespace")


def _fit(text: str, size: int) -> str:
    """The longest prefix of `text` (repeated if needed) that is at most `size` UTF-8 bytes."""
    data = text.encode("utf-8")
    if len(data) < size:
        data = data * (size // len(data) + 1)
    return data[:size].decode("utf-8", errors="ignore")  # drops a character cut in two at the end


def make_input(name: str, size: int, prose: str) -> str:
    """Input `name` of `size` UTF-8 bytes; deterministic (seeded)."""
    rng = random.Random(f"{name}/{size}")
    if name == "prose":
        return _fit(prose, size)
    if name == "one letter":
        return "a" * size
    if name == "spaces":
        return " " * size
    if name == "newlines":
        return "\n" * size
    if name == "random bytes":
        return _fit(rng.randbytes(size).decode("utf-8", errors="replace"), size)
    if name == "letters no spaces":
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=size))
    if name == "prose no whitespace":
        return _fit(re.sub(r"\s+", "", prose), size)
    raise ValueError(f"unknown input {name!r}")


def encoder(library: str, vocab: vocabs.Vocab):
    if library == "tokfree":
        tok = vocabs.load_tokfree(vocab)
        return tok.encode
    if library == "tiktoken":
        return vocabs.load_tiktoken(vocab).encode_ordinary
    if library == "hf":
        hf = vocabs.load_hf(vocab)
        return lambda text: hf.encode(text, add_special_tokens=False).ids
    if library == "spm":
        return vocabs.load_spm(vocab).encode
    raise ValueError(f"unknown library {library!r}")


def child(spec: dict) -> None:
    encode = encoder(spec["library"], vocabs.Vocab(Path(spec["vocab"])))
    prose = Path(spec["corpus"]).read_text(encoding="utf-8")
    encode(make_input(spec["input"], 4096, prose))  # warm-up: first-call costs (caches, lazy init) are not the input's
    for size in spec["sizes"]:
        text = make_input(spec["input"], size, prose)
        harness.emit({"started": size})  # if the process dies now, the parent knows at which size
        try:
            timing, ids = harness.measure(lambda text=text: encode(text), repeats=spec["repeats"], warmup=0)
        except BaseException as err:  # noqa: BLE001 - tiktoken's Rust panics arrive as PanicException (a BaseException)
            harness.emit({"size": size, "error": f"crash: {type(err).__name__}: {str(err)[:100]}"})
            return
        ids = list(ids)
        harness.emit({"size": size, "bytes": len(text.encode("utf-8")), "tokens": len(ids),
                      "ids_sha1": hashlib.sha1(array("q", ids).tobytes()).hexdigest(), **timing.as_dict()})
        if timing.median > spec["max_call_seconds"]:
            harness.emit({"stopped": f"one call took {timing.median:.1f} s; larger sizes not run"})
            return


def series(library: str, name: str, sizes: list[int], spec_base: dict, timeout: float) -> list[dict]:
    """One child over the size series; a record per size (measured, crashed, or not run)."""
    spec = {**spec_base, "library": library, "input": name, "sizes": sizes}
    result = harness.run_child([harness.python(), __file__, "--child", json.dumps(spec)],
                               env={"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}, timeout=timeout)
    done = {r["size"]: r for r in result.records if "size" in r}
    started = [r["started"] for r in result.records if "started" in r]
    stopped = next((r["stopped"] for r in result.records if "stopped" in r), None)
    rows, failed = [], None
    for size in sizes:
        row = {"library": library, "input": name, "size": size, "peak_rss_mb": result.peak_rss_mb}
        if size in done:
            row.update(done[size])
            failed = failed or (row["error"] if "error" in row else None)
        elif failed or stopped:
            row["error"] = f"not run ({'after ' + failed if failed else stopped})"
        elif started and started[-1] == size:
            row["error"] = failed = result.failure() or "crash: the process ended without a result"
        else:
            row["error"] = "not run"
        rows.append(row)
    return rows


def analyze(rows: list[dict]) -> None:
    """Adds per-byte time, x prose (same library, same size), growth per doubling, and id agreement."""
    by = {(r["library"], r["input"], r["size"]): r for r in rows}
    for r in rows:
        if "seconds_median" not in r:
            continue
        r["ns_per_byte"] = r["seconds_median"] / r["bytes"] * 1e9
        prose = by.get((r["library"], "prose", r["size"]))
        if prose and "seconds_median" in prose:
            r["x_prose"] = r["ns_per_byte"] / (prose["seconds_median"] / prose["bytes"] * 1e9)
        half = by.get((r["library"], r["input"], r["size"] // 2))
        if half and "seconds_median" in half:
            r["growth"] = r["seconds_median"] / half["seconds_median"]
        if r["library"] == "tokfree":
            for peer in ("tiktoken", "hf"):
                other = by.get((peer, r["input"], r["size"]))
                if other and "ids_sha1" in other:
                    r[f"same_ids_{peer}"] = other["ids_sha1"] == r["ids_sha1"]


def _kib(size: int) -> str:
    return f"{size // 1024} KiB" if size < 1 << 20 else f"{size >> 20} MiB"


def summarize(rec: harness.Recorder, rows: list[dict], sizes: list[int], libraries: list[str], inputs: list[str], results: Path) -> str:
    by = {(r["library"], r["input"], r["size"]): r for r in rows}
    checkpoints = [s for s in (1 << 20, 4 << 20) if s in sizes] or [sizes[-1]]
    big, small = checkpoints[-1], checkpoints[0]
    summary, ok = [], {}
    for name in inputs:
        for library in libraries:
            row = {"input": name, "library": library}
            for size in checkpoints:
                r = by.get((library, name, size), {})
                row[f"ms at {_kib(size)}"] = r["seconds_median"] * 1e3 if "seconds_median" in r else str(r.get("error", "")).split(":")[0].split(" (")[0]
                row[f"x prose at {_kib(size)}"] = r.get("x_prose")
            growth = [by[(library, name, s)].get("growth") for s in sizes if by.get((library, name, s), {}).get("growth")]
            row["max growth per doubling"] = max(growth) if growth else None
            a, b = by.get((library, name, small), {}), by.get((library, name, big), {})
            if big != small and "seconds_median" in a and "seconds_median" in b:
                row[f"t({_kib(big)}) / t({_kib(small)})"] = b["seconds_median"] / a["seconds_median"]
            errors = [by[(library, name, s)]["error"] for s in sizes if "error" in by.get((library, name, s), {})]
            row["failure"] = errors[0] if errors else ""
            if library == "tokfree":
                same = [v for s in sizes for p in ("tiktoken", "hf") if (v := by[(library, name, s)].get(f"same_ids_{p}")) is not None]
                row["ids = tiktoken/HF"] = f"{'yes' if all(same) else '**NO**'} ({sum(same)}/{len(same)} compared)" if same else "n/a"
                if name != "prose":
                    ratios = [by.get((library, name, s), {}).get("x_prose") for s in checkpoints]
                    met = not errors and all(r is not None and r <= 2 for r in ratios)
                    growth_text = f"; t({_kib(big)}) / t({_kib(small)}) = {harness.fmt(row[f't({_kib(big)}) / t({_kib(small)})'])}" if f"t({_kib(big)}) / t({_kib(small)})" in row else ""
                    ok[name] = (f"x prose {' / '.join(harness.fmt(r) or '-' for r in ratios)} at {' / '.join(_kib(s) for s in checkpoints)}"
                                f"{growth_text}{'; ' + errors[0] if errors else ''}: {harness.verdict(met)}")
            summary.append(row)
    cols = ["input", "library"] + [c for size in checkpoints for c in (f"ms at {_kib(size)}", f"x prose at {_kib(size)}")]
    cols += ([f"t({_kib(big)}) / t({_kib(small)})"] if big != small else []) + ["max growth per doubling", "ids = tiktoken/HF", "failure"]
    detail = []
    for name in inputs:
        for library in libraries:
            row = {"input": name, "library": library}
            for size in sizes:
                r = by.get((library, name, size), {})
                if "seconds_median" in r:
                    row[_kib(size)] = f"{r['seconds_median'] * 1e3:.3g} ms" + (f" ({r['growth']:.2f}x)" if "growth" in r else "")
                else:
                    row[_kib(size)] = "crash" if str(r.get("error", "")).startswith("crash") else ("-" if r else "")
            detail.append(row)
    tokfree_checks = [f"- {name}: {verdict}" for name, verdict in ok.items()]
    text = "\n".join([
        rec.header("Pathological-input benchmark"),
        "One `encode` call per input (tiktoken: `encode_ordinary`), each input exactly N UTF-8 bytes; median of the repeats. "
        "`x prose` = time per byte / prose's time per byte, same library and size (target <= 2). Growth = t(N)/t(N/2): 2.0 is linear. "
        "tokfree, tiktoken and HF share one vocabulary; sentencepiece uses its own model and its default normalization (which drops "
        "repeated whitespace, so its spaces/newlines rows do far less work).\n",
        harness.markdown_table(summary, cols),
        f"\n## tokfree against the target (<= 2x prose per byte at {', '.join(_kib(s) for s in checkpoints)}, no crash)\n",
        *tokfree_checks,
        "\n## Every size (median ms; growth over the previous size in brackets)\n",
        harness.markdown_table(detail, ["input", "library"] + [_kib(s) for s in sizes]),
        "",
    ])
    (results / "pathological.md").write_text(text, encoding="utf-8")
    return text


def plot(rows: list[dict], inputs: list[str], path: Path, title: str) -> None:
    panels, failures = {}, {}
    for name in inputs:
        for library in sorted({r["library"] for r in rows}):
            rs = sorted((r for r in rows if r["input"] == name and r["library"] == library), key=lambda r: r["size"])
            panels.setdefault(name, {})[library] = ([r["size"] / 1024 for r in rs], [r.get("seconds_median") for r in rs])
            crash = next((r for r in rs if str(r.get("error", "")).startswith("crash")), None)
            if crash:
                failures.setdefault(name, {})[library] = (crash["size"] / 1024, "crash")
    harness.line_grid(path, panels, title=title, xlabel="input KiB", ylabel="seconds per call", failures=failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-kib", type=int, default=None, help="smallest input (default 64; --quick: 16)")
    parser.add_argument("--max-kib", type=int, default=None, help="largest input (default 4096; --quick: 256)")
    parser.add_argument("--repeats", type=int, default=None, help="calls per size (default 3; --quick: 1)")
    parser.add_argument("--size-mb", type=float, default=None, help="prose source: the encode corpus (default 10; --quick: 2)")
    parser.add_argument("--vocab-mb", type=float, default=None, help="corpus of the shared vocabulary (default 100; --quick: 2)")
    parser.add_argument("--vocab-size", type=int, default=None, help="default 32000 (--quick: 8000)")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated subset of: " + ", ".join(INPUTS))
    parser.add_argument("--max-call-seconds", type=float, default=60, help="stop a series after a call this slow")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per (library, input) series")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--local-corpus", action="store_true")
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    min_kib = args.min_kib or (16 if args.quick else 64)
    max_kib = args.max_kib or (256 if args.quick else 4096)
    repeats = args.repeats or (1 if args.quick else 3)
    size_mb = args.size_mb or (2 if args.quick else 10)
    vocab_mb = args.vocab_mb or (2 if args.quick else 100)
    vocab_size = args.vocab_size or (8000 if args.quick else 32000)
    libraries = [name.strip() for name in args.libraries.split(",")]
    inputs = [name.strip() for name in args.inputs.split(",")]
    unknown = set(inputs) - set(INPUTS)
    if unknown:
        parser.error(f"unknown inputs {sorted(unknown)}; choose from {', '.join(INPUTS)}")
    if "prose" not in inputs:
        inputs.insert(0, "prose")  # the baseline every ratio needs
    sizes = []
    size = min_kib * 1024
    while size <= max_kib * 1024:
        sizes.append(size)
        size *= 2

    prose_path = corpus.build(size_mb, local=args.local_corpus)
    vocab = vocabs.shared(corpus.build(vocab_mb, local=args.local_corpus), vocab_size)
    rec = harness.Recorder("pathological", {"sizes": sizes, "repeats": repeats, "vocab_mb": vocab_mb, "vocab_size": vocab_size,
                                            "prose": prose_path.name, "quick": args.quick}, args.results)
    base = {"vocab": str(vocab.directory), "corpus": str(prose_path), "repeats": repeats, "max_call_seconds": args.max_call_seconds}
    rows = []
    for name in inputs:
        for library in libraries:
            got = series(library, name, sizes, base, args.timeout)
            rows += got
            print(f"  {name:22} {library:9} " + "  ".join(f"{r['seconds_median'] * 1e3:.3g}ms" if "seconds_median" in r else "crash"
                                                         if str(r.get("error", "")).startswith("crash") else "-" for r in got), flush=True)
    analyze(rows)
    for r in rows:
        rec.add(kind="measurement", **r)
    args.results.mkdir(parents=True, exist_ok=True)
    print(summarize(rec, rows, sizes, libraries, inputs, args.results))
    plot(rows, inputs, args.results / "pathological.png", f"one encode call per input, {_kib(sizes[0])}..{_kib(sizes[-1])} "
         f"({rec.machine['cores']}-core {rec.machine['cpu'][:20]})")
    print(f"wrote {rec.write()}, pathological.md, pathological.png")


if __name__ == "__main__":
    main()
