"""The `tokfree` command line, run as a user would (a subprocess), against the Python API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tokfree


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokfree", *args], input=stdin, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory, corpora):
    folder = tmp_path_factory.mktemp("corpus")
    paths = []
    for name, texts in corpora.items():
        path = folder / f"{name}.txt"
        path.write_text("\n\n".join(texts), encoding="utf-8")
        paths.append(str(path))
    return folder, paths


def test_train_encode_stats(files, tmp_path):
    folder, paths = files
    out = tmp_path / "tok.json"
    result = run("train", "--input", str(folder / "*.txt"), "--vocab-size", "1000", "--pre-tokenizer", "gpt4",
                 "--special-token", "<|endoftext|>", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    tok = tokfree.Tokenizer.from_file(out)
    assert tok.vocab_size == 1000 and tok.pre_tokenizer == "gpt4" and tok.special_tokens == {"<|endoftext|>": 0}
    # The same training through the Python API gives the same file.
    tokfree.train_bpe(paths, 1000, pre_tokenizer="gpt4", special_tokens=["<|endoftext|>"], show_progress=False).save(tmp_path / "api.json")
    assert (tmp_path / "api.json").read_bytes() == out.read_bytes()

    text = "Hello tokfree, ça va? 12345"
    ids = run("encode", "--tokenizer", str(out), "-", stdin=text)
    assert ids.returncode == 0, ids.stderr
    assert [int(i) for i in ids.stdout.split()] == tok.encode(text)
    tokens = run("encode", "--tokenizer", str(out), "--tokens", "-", stdin="Hi there")
    assert "".join(json.loads(tokens.stdout)) == "HiĠthere"  # byte-level strings: space is Ġ

    stats = run("stats", "--tokenizer", str(out), *paths)
    assert stats.returncode == 0, stats.stderr
    rows = {line.split()[0]: line.split() for line in stats.stdout.splitlines()[2:]}
    for path in paths:
        content = open(path, encoding="utf-8").read()
        _, n_bytes, n_chars, n_tokens, bytes_per_token, _ = rows[path]
        assert int(n_bytes) == len(content.encode()) and int(n_chars) == len(content)
        assert int(n_tokens) == len(tok.encode(content, allowed_special="all"))
        assert float(bytes_per_token) == pytest.approx(len(content.encode()) / int(n_tokens), abs=1e-3)
    assert "total" in rows


def test_errors_exit_2_with_one_line(tmp_path):
    result = run("train", "--input", str(tmp_path / "none*.txt"), "--vocab-size", "300", "--out", str(tmp_path / "x.json"), "--quiet")
    assert result.returncode == 2
    assert result.stderr.startswith("tokfree: error:") and "none*.txt" in result.stderr
    result = run("encode", "--tokenizer", str(tmp_path / "missing.json"), "-", stdin="x")
    assert result.returncode == 2 and "missing.json" in result.stderr


def test_eval_compares_tokenizers_as_the_api_measures_them(files, tmp_path):
    folder, paths = files
    small = tokfree.train_bpe(paths, 300, show_progress=False)
    large = tokfree.train_bpe(paths, 2000, show_progress=False)
    small.save(tmp_path / "small.json")
    large.save(tmp_path / "large.json", format="tokfree")
    terms = tmp_path / "terms.txt"
    terms.write_text("the\n\nprogramming language\n", encoding="utf-8")
    plot = tmp_path / "eval.png"
    result = run("eval", "--tokenizer", str(tmp_path / "small.json"), "--tokenizer", str(tmp_path / "large.json"),
                 "--terms", str(terms), "--plot", str(plot), *paths)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["tokenizer", "vocab", "bytes/token", "tokens/char", "fertility", "whole", "words", "vocab", "used", "tokens/term"]
    from tokfree.eval import compression, term_fragmentation

    documents = [open(path, encoding="utf-8").read() for path in paths]
    for line, tok in zip(lines[2:4], (small, large)):
        cells = line.split()
        report = compression(tok, documents)
        assert float(cells[2]) == pytest.approx(report.bytes_per_token, abs=1e-3)
        assert float(cells[4]) == pytest.approx(report.fertility, abs=1e-3)
        assert float(cells[7]) == pytest.approx(term_fragmentation(tok, ["the", "programming language"]), abs=1e-3)
    # A larger vocabulary compresses better on the text it was trained on.
    assert float(lines[3].split()[2]) > float(lines[2].split()[2])
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_names_a_bad_tokenizer(files):
    _, paths = files
    result = run("eval", "--tokenizer", "no-such-tokenizer.json", paths[0])
    assert result.returncode == 2 and "no-such-tokenizer.json" in result.stderr


def test_train_domain_recipe_and_extend(files, tmp_path):
    _, paths = files
    legal = [p for p in paths if p.endswith("legal.txt")]
    out = tmp_path / "domain.json"
    result = run("train", "--recipe", "domain", "--input", *legal, "--vocab-size", "4000", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    tok = tokfree.Tokenizer.from_file(out)
    api = tokfree.trainers.train_domain_bpe(legal, 4000, show_progress=False)
    assert tok.vocab_size == 4096 and tok.to_parts() == api.to_parts()  # 4000 rounded up to a multiple of 128

    grown = tmp_path / "grown.json"
    result = run("extend", "--base", str(out), "--input", *legal, "--new-tokens", "50", "--out", str(grown), "--quiet")
    assert result.returncode == 0, result.stderr
    extended = tokfree.Tokenizer.from_file(grown)
    assert extended.vocab_size == 4096 + 50
    assert extended.to_parts().vocab[:4096 - 13] == tok.to_parts().vocab


def test_train_and_encode_hybrid(tmp_path):
    import gzip

    from tokfree.models.hybrid import HybridTokenizer

    records = [json.loads(line) for line in gzip.open("data/_morph/turkish_treebank.jsonl.gz", "rt", encoding="utf-8")]
    corpus = tmp_path / "tr.txt"
    corpus.write_text("\n".join(r["text"] for r in records if r["split"] == "train")[:100_000], encoding="utf-8")
    out = tmp_path / "hybrid.json"
    refused = run("train", "--recipe", "hybrid", "--language", "data/morph/turkish", "--input", str(corpus), "--vocab-size", "600", "--out", str(out), "--quiet")
    assert refused.returncode == 2 and "--format tokfree" in refused.stderr  # HF cannot hold it
    result = run("train", "--recipe", "hybrid", "--language", "data/morph/turkish", "--input", str(corpus), "--vocab-size", "600",
                 "--format", "tokfree", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    tok = HybridTokenizer.from_file(out)
    text = "Kitabı İstanbul'da okudum."
    ids = run("encode", "--tokenizer", str(out), "-", stdin=text)
    assert ids.returncode == 0, ids.stderr
    assert [int(i) for i in ids.stdout.split()] == tok.encode(text)
    assert tok.decode([int(i) for i in ids.stdout.split()]) == text
    tokens = run("encode", "--tokenizer", str(out), "--tokens", "-", stdin="evlerde")
    assert json.loads(tokens.stdout) == ["ev", "ler", "de"]


def test_transplant_writes_a_model_with_the_new_tokenizer(files, tmp_path):
    torch = pytest.importorskip("torch")
    from tokfree.merging import transplant
    from tokfree.nn import CausalLM, CausalLMConfig

    _, paths = files
    texts = [open(p, encoding="utf-8").read()[:20000] for p in paths]
    old = tokfree.train_bpe(iter(texts), 300, special_tokens=["<|endoftext|>"], show_progress=False)
    new = tokfree.train_bpe(iter(texts), 500, special_tokens=["<|endoftext|>"], show_progress=False)
    model = CausalLM(CausalLMConfig(vocab_size=old.vocab_size, d_model=16, n_layers=1, n_heads=2, max_len=32), seed=0)
    model.save(tmp_path / "old")
    old.save(tmp_path / "old" / "tokenizer.json")
    new.save(tmp_path / "new.json")
    result = run("transplant", "--model", str(tmp_path / "old"), "--new-tokenizer", str(tmp_path / "new.json"),
                 "--out", str(tmp_path / "out"), "--method", "mean", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "shared 300" in result.stdout
    loaded = CausalLM.load(tmp_path / "out")
    expected = transplant(model, old, new, method="mean").input
    assert torch.equal(loaded.embed.weight, expected)  # the API's rows, written exactly
    assert tokfree.Tokenizer.from_file(tmp_path / "out" / "tokenizer.json").encode("hello world") == new.encode("hello world")
    bad = run("transplant", "--model", str(tmp_path / "missing"), "--new-tokenizer", str(tmp_path / "new.json"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "missing" in bad.stderr and "Traceback" not in bad.stderr
