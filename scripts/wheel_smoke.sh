#!/usr/bin/env bash
# Wheel smoke test: build the release wheel, install it into a fresh venv (no source tree, no
# extras), and use it from a directory outside the checkout. Catches what an editable install
# hides: files missing from the wheel (the .pyi stubs, py.typed, data modules), imports that only
# resolve against the source tree, and undeclared runtime dependencies.
#
# Usage: scripts/wheel_smoke.sh [python]   (default: .venv/bin/python, whose maturin builds)
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="${1:-$ROOT/.venv/bin/python}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tokfree-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Same profile as `make develop` (release, rust_ext/target), so after `make test` this links from cache.
"$PY" -m maturin build --release --quiet --out "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/tokfree-*.whl)"
echo "wheel-smoke: built $(basename "$WHEEL")"

# The stubs and the typing marker must ship in the wheel, not only sit in the source tree.
CONTENTS="$(unzip -l "$WHEEL")"
for member in tokfree/_rust.pyi tokfree/py.typed tokfree/__init__.py; do
    grep -q " $member\$" <<<"$CONTENTS" || { echo "wheel-smoke: $member is missing from the wheel" >&2; exit 1; }
done
grep -Eq ' tokfree/_rust\.[^ ]*\.so$' <<<"$CONTENTS" || { echo "wheel-smoke: no compiled tokfree/_rust in the wheel" >&2; exit 1; }

# A fresh venv from the system interpreter; the wheel's only runtime dependency (tqdm) from PyPI.
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$WHEEL"

# Run from outside the checkout with PYTHONPATH unset, so only the installed copy can be imported.
mkdir "$WORK/run"
cd "$WORK/run"
# The console script the wheel declares.
env -u PYTHONPATH "$WORK/venv/bin/tokfree" --help >/dev/null
env -u PYTHONPATH TOKFREE_VENV="$WORK/venv" "$WORK/venv/bin/python" - <<'EOF'
"""Import the installed tokfree, train, encode, decode, save and load."""
import os
from pathlib import Path

import tokfree
import tokfree._rust

venv = Path(os.environ["TOKFREE_VENV"]).resolve()
for module in (tokfree, tokfree._rust):
    location = Path(module.__file__).resolve()
    if venv not in location.parents:
        raise SystemExit(f"wheel-smoke: {module.__name__} was imported from {location}, not from {venv}")

corpus = ["the lowest newest widest", "low lower lowest", "new newer newest"] * 50
tok = tokfree.train_bpe(iter(corpus), vocab_size=270, special_tokens=["<|endoftext|>"], show_progress=False)
if tok.vocab_size != 270:
    raise SystemExit(f"wheel-smoke: vocab_size {tok.vocab_size}, expected 270")
text = "the lowest naïve café"
ids = tok.encode(text)
if tok.decode(ids) != text or tok.decode_bytes(ids) != text.encode():
    raise SystemExit("wheel-smoke: encode/decode did not round-trip")
if tok.encode_batch([text] * 4, num_threads=2) != [ids] * 4:
    raise SystemExit("wheel-smoke: encode_batch disagrees with encode")
tok.save("tokenizer.json")
if tokfree.Tokenizer.from_file("tokenizer.json").encode(text) != ids:
    raise SystemExit("wheel-smoke: tokenizer.json did not load back to the same ids")
print(f"wheel-smoke: ok (tokfree {tokfree.__version__} from {Path(tokfree.__file__).parent})")
EOF
