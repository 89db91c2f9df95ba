"""Builds the benchmark corpus: ~100 MB of English text from Debian packages, cached and reproducible.

Recipe (research/perf-anchors.md "Corpus"): `apt-get download` (no install) of dict-gcide (Webster
1913), linux-doc-6.x (kernel Documentation reST), python3.x-doc (reST sources), dict-foldoc,
dict-jargon, dict-devil, fortunes and debian-reference-en; `dpkg-deb -x` into the cache; plain text
from each; plus this machine's /usr/share/doc texts (copyright, changelogs, READMEs, NEWS; <= 1 MB
each) and the CPython standard library's .py files (code, ~6% of the pool). Documents are
deduplicated, shuffled with seed 1234 and joined; `corpus_<N>mb.txt` is the first N MB of that,
cut at a newline, so the 10 MB corpus is a prefix of the 100 MB one.

When apt cannot fetch the packages (no network, not Debian) the builder says so and falls back to
text every Debian/Python machine has (man pages, /usr/share/doc, the standard library); those files
are named `corpus_local_*` so results from the two recipes are never mixed up.

Everything lives in `benchmarks/.corpus/` (git-ignored); `manifest.json` there records the package
versions, the bytes each source gave, and the sha256 of every corpus file written.

    python benchmarks/corpus.py [--size-mb 100 10] [--local]
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from tokfree._corpora import cut_documents
from tokfree.data._fetch import sha256_file as sha256

CACHE = Path(__file__).resolve().parent / ".corpus"
DEBS = CACHE / "debs"
ROOT = DEBS / "root"  # where dpkg-deb -x unpacks the packages
SEED = 1234
MAX_FILE = 1 << 20  # skip local files larger than this: a few huge changelogs would dominate the pool
CHUNK = 32 * 1024  # monolithic sources (dictionaries, fortunes, a book) are cut into ~32 KB documents
# Every bench vocabulary has this special token; tokfree refuses text containing it by default and HF
# would split it out, so the corpus must not contain it (Python's docs and stdlib do not, but be sure).
SPECIAL = "<|endoftext|>"

# (package, or a metapackage whose first "Depends:" names the versioned package) in the recipe's order.
PACKAGES = ["dict-gcide", "linux-doc", "python3-doc", "dict-foldoc", "dict-jargon", "dict-devil", "fortunes", "debian-reference-en"]
METAPACKAGES = {"linux-doc": "linux-doc-6.1", "python3-doc": "python3.11-doc"}  # fallback names (bookworm)


class AptUnavailable(RuntimeError):
    """apt could not fetch the recipe's packages."""


# --- fetching ---------------------------------------------------------------------------------------


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def _resolve(package: str) -> str:
    """The versioned package behind a metapackage ("linux-doc" -> "linux-doc-6.1"), else `package`."""
    if package not in METAPACKAGES:
        return package
    try:
        out = _run(["apt-cache", "depends", package], timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return METAPACKAGES[package]
    match = re.search(r"^\s*Depends:\s*(\S+)", out, re.MULTILINE)
    return match.group(1) if match else METAPACKAGES[package]


def _lists_present() -> bool:
    return any(Path("/var/lib/apt/lists").glob("*_Packages*"))


def fetch_packages(log=print) -> dict[str, str]:
    """Downloads (once) and unpacks the recipe's .debs; returns package -> .deb file name."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AptUnavailable("apt-get/dpkg-deb not found (not a Debian system)")
    DEBS.mkdir(parents=True, exist_ok=True)
    if not _lists_present():
        log("apt package lists are missing; running apt-get update")
        _run(["apt-get", "update", "-qq"], timeout=600)
    names = [_resolve(p) for p in PACKAGES]
    missing = [n for n in names if not list(DEBS.glob(f"{n}_*.deb"))]
    if missing:
        log(f"apt-get download {' '.join(missing)}")
        # The sandbox user "_apt" cannot write into root's cache dir; downloading as root is fine here.
        command = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"]
        result = _run([*command, *missing], cwd=DEBS, timeout=1800)
        if result.returncode != 0:
            # A 404 usually means stale package lists (the mirror moved on to a newer version).
            log("apt-get download failed; running apt-get update and retrying once")
            _run(["apt-get", "update", "-qq"], timeout=600)
            still = [n for n in missing if not list(DEBS.glob(f"{n}_*.deb"))]
            result = _run([*command, *still], cwd=DEBS, timeout=1800)
            if result.returncode != 0:
                raise AptUnavailable(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}")
    debs = {}
    for name in names:
        deb = max(DEBS.glob(f"{name}_*.deb"))
        debs[name] = deb.name
        stamp = ROOT / ".unpacked" / deb.name
        if not stamp.exists():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(ROOT)], check=True)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
    return debs


# --- text extraction --------------------------------------------------------------------------------


# GCIDE (40 MB of UTF-8) holds 3 stray Windows-1252 bytes (0x92 for an apostrophe): read those as
# cp1252 instead of dropping the whole dictionary.
codecs.register_error("tokfree_cp1252", lambda err: (err.object[err.start : err.end].decode("cp1252", errors="replace"), err.end))


def _text(path: Path, limit: int | None = None, *, lenient: bool = False) -> str | None:
    """UTF-8 text of a file (gunzipped if .gz/.dz), or None if unreadable, not UTF-8, empty or too big.

    `lenient` reads bytes that are not UTF-8 as Windows-1252 instead of refusing the file.
    """
    try:
        data = path.read_bytes()
        if path.suffix in (".gz", ".dz"):
            data = gzip.decompress(data)  # dictzip (.dz) is gzip with an index in the header
        if limit is not None and len(data) > limit:
            return None
        text = data.decode("utf-8", errors="tokfree_cp1252" if lenient else "strict")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    return text if text.strip() else None


def _chunks(text: str, size: int = CHUNK) -> Iterator[str]:
    """`text` cut at blank lines into documents of about `size` characters."""
    current, length = [], 0
    for paragraph in re.split(r"(?<=\n)\n", text):
        current.append(paragraph)
        length += len(paragraph) + 1
        if length >= size:
            yield "\n".join(current)
            current, length = [], 0
    if current:
        yield "\n".join(current)


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())


def debian_sources() -> Iterator[tuple[str, str]]:
    """(source, document) pairs from the unpacked packages."""
    docs = ROOT / "usr/share/doc"
    for path in _files(docs, "linux-doc-*/Documentation/**/*"):
        if re.search(r"\.(rst|txt)(\.gz)?$", path.name) and (text := _text(path)):
            yield "linux-doc", text
    for path in _files(docs, "python3*/html/_sources/**/*.txt"):
        if text := _text(path):
            yield "python-doc", text
    for name in ("gcide", "foldoc", "jargon", "devil"):
        for path in _files(ROOT / "usr/share/dictd", f"{name}.dict*"):
            if text := _text(path, lenient=True):
                yield from ((f"dict-{name}", chunk) for chunk in _chunks(text))
    for path in _files(ROOT / "usr/share/games/fortunes", "*"):
        if path.suffix != ".dat" and (text := _text(path)):
            # Fortunes are separated by lines holding only "%": make them paragraphs.
            yield from (("fortunes", chunk) for chunk in _chunks(re.sub(r"(?m)^%\n", "\n", text)))
    for path in _files(ROOT / "usr/share/debian-reference", "*.en.txt*"):
        if text := _text(path):
            yield from (("debian-reference", chunk) for chunk in _chunks(text))


_DOC_NAMES = re.compile(r"^(copyright|changelog.*|NEWS.*|README.*|.*\.(txt|md|rst))(\.gz)?$", re.IGNORECASE)


def local_sources(*, man_pages: bool = False) -> Iterator[tuple[str, str]]:
    """(source, document) pairs from this machine: /usr/share/doc texts and the stdlib (and man pages)."""
    if man_pages:
        for path in _files(Path("/usr/share/man"), "man*/*.gz"):
            if text := _text(path, MAX_FILE):
                yield "man-pages", text
    for path in _files(Path("/usr/share/doc"), "**/*"):
        if _DOC_NAMES.match(path.name) and (text := _text(path, MAX_FILE)):
            yield "usr-share-doc", text
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in _files(stdlib, "**/*.py"):
        # site-packages (whatever is installed) and the test suite are not "the standard library's code".
        if not {"site-packages", "dist-packages", "test", "tests"} & set(path.relative_to(stdlib).parts) and (text := _text(path, MAX_FILE)):
            yield "python-stdlib", text


# --- assembling ---------------------------------------------------------------------------------------


def _prefix_name(recipe: str, size_mb: float) -> str:
    return f"corpus_{'local_' if recipe == 'local' else ''}{size_mb:g}mb.txt"


def _manifest() -> dict:
    path = CACHE / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_manifest(manifest: dict) -> None:
    (CACHE / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def build_pool(recipe: str, log=print) -> Path:
    """The whole shuffled, deduplicated pool for `recipe` ("debian" or "local"), built once."""
    CACHE.mkdir(exist_ok=True)
    out = CACHE / ("pool_local.txt" if recipe == "local" else "pool.txt")
    if out.exists():
        return out
    manifest = _manifest()
    if recipe == "debian":
        debs = fetch_packages(log)
        sources = [*debian_sources(), *local_sources()]
    else:
        debs = {}
        sources = list(local_sources(man_pages=True))
    documents, seen, per_source = [], set(), {}
    for source, text in sources:
        text = text.replace(SPECIAL, "")
        digest = hashlib.sha1(text.encode("utf-8")).digest()
        if digest in seen:
            continue
        seen.add(digest)
        documents.append(text if text.endswith("\n") else text + "\n")
        stats = per_source.setdefault(source, {"documents": 0, "bytes": 0})
        stats["documents"] += 1
        stats["bytes"] += len(documents[-1].encode("utf-8"))
    random.Random(SEED).shuffle(documents)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(documents), encoding="utf-8")
    tmp.rename(out)
    manifest[out.name] = {"recipe": recipe, "packages": debs, "sources": per_source, "documents": len(documents),
                          "bytes": out.stat().st_size, "seed": SEED, "sha256": sha256(out)}
    _save_manifest(manifest)
    log(f"pool {out.name}: {len(documents)} documents, {out.stat().st_size / 1e6:.1f} MB from "
        + ", ".join(f"{s} {v['bytes'] / 1e6:.1f} MB" for s, v in sorted(per_source.items(), key=lambda kv: -kv[1]["bytes"])))
    return out


def build(size_mb: float, *, local: bool = False, log=print) -> Path:
    """The path of the first `size_mb` MB (10^6 bytes) of the pool, cut at a newline; cached.

    Uses the Debian recipe unless `local` is set or apt cannot fetch the packages (then the local
    recipe, with a message saying so).
    """
    recipe = "local" if local else "debian"
    out = CACHE / _prefix_name(recipe, size_mb)
    if out.exists():
        return out
    if recipe == "debian" and not (CACHE / "pool.txt").exists():
        try:
            build_pool("debian", log)
        except (AptUnavailable, OSError, subprocess.SubprocessError) as err:
            log(f"*** could not fetch the Debian packages ({err}); falling back to the LOCAL corpus recipe "
                "(man pages, /usr/share/doc, stdlib). Results are not comparable with the Debian corpus. ***")
            return build(size_mb, local=True, log=log)
    pool = build_pool(recipe, log)
    data = pool.read_bytes()
    target = int(size_mb * 1_000_000)
    if len(data) < target:
        log(f"warning: the {recipe} pool has only {len(data) / 1e6:.1f} MB; repeating it to reach {size_mb:g} MB")
        data = (data + b"\n") * (target // (len(data) + 1) + 1)
    cut = data.rfind(b"\n", 0, target) + 1 or target  # keep whole lines (and whole UTF-8 characters)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data[:cut])
    tmp.rename(out)
    manifest = _manifest()
    manifest[out.name] = {"recipe": recipe, "pool": pool.name, "bytes": cut, "sha256": sha256(out)}
    _save_manifest(manifest)
    return out


def describe(path: Path) -> dict:
    """What a corpus file is, for result records: name, recipe, bytes, sha256 (from the manifest)."""
    entry = _manifest().get(path.name, {})
    return {"name": path.name, "recipe": entry.get("recipe", "unknown"), "bytes": path.stat().st_size, "sha256": entry.get("sha256")}


def documents(path: Path, doc_bytes: int = 8192) -> list[str]:
    """`path` cut into documents of about `doc_bytes` UTF-8 bytes, at line ends."""
    return cut_documents(path.read_text(encoding="utf-8"), doc_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, nargs="+", default=[100, 10])
    parser.add_argument("--local", action="store_true", help="use the local recipe (no apt)")
    args = parser.parse_args()
    for size in args.size_mb:
        path = build(size, local=args.local)
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    sys.exit(main())
