"""The public API on small hand-derived examples."""

from __future__ import annotations

import tokfree


def test_public_surface():
    assert set(tokfree.__all__) == {"Encoding", "Tokenizer", "TokfreeError", "__version__", "train_bpe"}
    assert issubclass(tokfree.TokfreeError, ValueError)


def test_hand_trained_vocabulary():
    # "ab ab ab" with the whitespace preset: pieces "ab", " ab", " ab" -> words (a,b) x1, (' ',a,b) x2.
    # Step 1: (a,b)=3, (' ',a)=2 -> "ab" (id 257, after 1 special + 256 bytes).
    # Step 2: words (ab) x1, (' ',ab) x2 -> (' ',ab)=2 -> " ab" (id 258). vocab_size 259 stops here.
    tok = tokfree.train_bpe(iter(["ab ab ab"]), 259, pre_tokenizer="whitespace", special_tokens=["<s>"], show_progress=False)
    assert tok.vocab_size == 259
    assert tok.id_to_token(0) == b"<s>"
    assert tok.id_to_token(1 + ord("a")) == b"a"
    assert tok.id_to_token(257) == b"ab" and tok.id_to_token(258) == b" ab"
    assert tok.id_to_token(259) is None
    assert tok.token_to_id(" ab") == 258 and tok.token_to_id(b"<s>") == 0 and tok.token_to_id("zz") is None
    assert tok.encode("ab ab abc") == [257, 258, 258, 1 + ord("c")]
    assert tok.pre_tokenizer == "whitespace"


def test_min_frequency_stops_early():
    # Every pair occurs once: with min_frequency=2 nothing is merged.
    tok = tokfree.train_bpe(iter(["abcdef"]), 300, min_frequency=2, show_progress=False)
    assert tok.vocab_size == 256


def test_max_token_length():
    tok = tokfree.train_bpe(iter(["aaaaaaaa " * 50]), 300, max_token_length=2, show_progress=False)
    assert max(len(tok.id_to_token(i)) for i in range(tok.vocab_size)) == 2


def test_offsets_by_hand():
    tok = tokfree.train_bpe(iter(["naïve café " * 10]), 256 + 3, min_frequency=2, show_progress=False)
    encoding = tok.encode("naïve café", offsets=True)
    assert isinstance(encoding, tokfree.Encoding)
    # "naïve café" is 12 bytes (ï and é are 2 each); the spans tile them in order.
    assert encoding.offsets[0][0] == 0 and encoding.offsets[-1][1] == 12
    assert all(a[1] == b[0] for a, b in zip(encoding.offsets, encoding.offsets[1:]))


def test_batch_equals_loop_for_any_thread_count():
    tok = tokfree.train_bpe(iter(["the quick brown fox jumps over the lazy dog"] * 20), 300, show_progress=False)
    texts = [f"the {i} quick foxes jump" for i in range(200)]
    expected = [tok.encode(text) for text in texts]
    for threads in (None, 1, 2, 3):
        assert tok.encode_batch(texts, num_threads=threads) == expected


def test_train_from_files_equals_train_from_texts(tmp_path):
    texts = ["first file\nwith two lines\n", "second file, ça va?\n"]
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"{i}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    from_files = tokfree.train_bpe([str(tmp_path / "*.txt")], 280, min_frequency=1, show_progress=False)
    from_texts = tokfree.train_bpe(iter(texts), 280, min_frequency=1, show_progress=False)
    assert from_files.to_parts() == from_texts.to_parts()
    assert tokfree.train_bpe(paths[0], 280, min_frequency=1, show_progress=False).vocab_size <= 280
