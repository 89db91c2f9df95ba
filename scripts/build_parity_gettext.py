"""Build `data/_parity/coreutils.jsonl.gz`: GNU coreutils' messages in English and their translations,
a parallel corpus for token premiums (issue 5) that does not need /usr/share/locale.

    python scripts/build_parity_gettext.py [--domain coreutils] [--locale-dir /usr/share/locale] [--out FILE]

Reads the installed catalogs with `tokfree.eval.load_gettext` (English msgids, the singular form of
plural messages, the header left out, segment ids = SHA-1 prefixes of the msgids) and writes them in
the JSON Lines format of `tokfree.eval.load_parallel_jsonl` (English first: the default reference).
Every language is kept when the gzipped file stays within 1.5 MB; otherwise only the fully
translated ones (coverage 1.0). Deterministic: languages and segments in sorted order, gzip mtime 0,
so the same catalogs give a byte-identical file. Prints the Debian package version, each language's
catalog version (Project-Id-Version) and the output's sha256, for data/SOURCE.md.
"""

from __future__ import annotations

import argparse
import gettext
import gzip
import hashlib
import io
import json
import subprocess
from pathlib import Path

from tokfree.eval import load_gettext

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 1_500_000


def encode(corpus) -> bytes:
    """The corpus as gzipped JSON Lines, reference first, then the languages in sorted order."""
    order = [corpus.reference, *sorted(code for code in corpus.segments if code != corpus.reference)]
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        for code in order:
            record = {"language": code, "name": corpus.names[code], "segments": corpus.segments[code]}
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    return buffer.getvalue()


def package_version(domain: str) -> str:
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", domain], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no dpkg)"
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", default="coreutils")
    parser.add_argument("--locale-dir", type=Path, default=Path("/usr/share/locale"))
    parser.add_argument("--out", type=Path, default=None, help="default: data/_parity/<domain>.jsonl.gz")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "data" / "_parity" / f"{args.domain}.jsonl.gz"

    for min_coverage in (0.0, 1.0):
        corpus = load_gettext(args.domain, args.locale_dir, min_coverage=min_coverage)
        data = encode(corpus)
        if len(data) <= MAX_BYTES:
            break
        print(f"all {len(corpus.segments) - 1} languages: {len(data):,} bytes gzipped > {MAX_BYTES:,}; keeping the fully translated ones")
    else:
        raise SystemExit(f"even the fully translated languages take {len(data):,} bytes gzipped > {MAX_BYTES:,}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)

    print(f"Debian package {args.domain} {package_version(args.domain)}; {len(corpus.segments['en'])} messages")
    for code in sorted(corpus.segments):
        if code == "en":
            continue
        with open(args.locale_dir / code / "LC_MESSAGES" / f"{args.domain}.mo", "rb") as file:
            info = gettext.GNUTranslations(file).info()
        print(f"  {code:6} {corpus.names[code]:24} {len(corpus.segments[code]):5} messages  {info.get('project-id-version', '?')}")
    text_bytes = len(gzip.decompress(data))
    print(f"wrote {out}: {len(corpus.segments)} languages, {text_bytes:,} bytes ({len(data):,} gzipped), sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
