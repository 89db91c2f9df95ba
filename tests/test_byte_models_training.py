"""The issue-7 training harness (tokfree.training.byte_models, mrt5_runs): windows cover the text
exactly, sampled windows are whole words, the held-out measurement equals an independent sum, and
the MrT5 runs report what their models do."""

from __future__ import annotations

import math
import random

import pytest

torch = pytest.importorskip("torch")

from tokfree.training import byte_models as bm  # noqa: E402
from tokfree.training import mrt5_runs  # noqa: E402
from tokfree.words import word_boundaries  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

DOCS = [
    "It was the best of times, it was the worst of times; it was the age of wisdom.\n" * 6,
    "Call me Ishmael. Some years ago — never mind how long precisely — having little money.\n" * 5,
    "naïve café déjà vu\tcamelCaseWords and_snake_case 12345 😀!\n" * 4,
]
TINY = bm.Budget(steps=2, batch_size=2, positions=12, lr=1e-3, d_model=32, n_layers=1, n_heads=2, d_byte=16, max_word_bytes=8)


def test_word_windows_cover_every_byte_once():
    windows = bm.word_windows(DOCS, 7, max_word_bytes=8)
    assert b"".join(windows) == "".join(DOCS).encode()
    for w in windows:  # at most 7 words each, whole words
        assert len(word_boundaries(w.decode(), max_bytes=8)) - 1 <= 7
    with pytest.raises(bm.TokfreeError, match="n_words=0"):
        bm.word_windows(DOCS, 0, max_word_bytes=8)


def test_word_sampler_draws_whole_word_windows():
    sampler = bm._WordSampler(DOCS, 5, 8, seed=0)
    data = [d.encode() for d in DOCS]
    for window in sampler.sample(40):
        hits = [(i, d.find(window)) for i, d in enumerate(data) if window in d]
        assert hits, window
        i, at = hits[0]
        starts = set(word_boundaries(DOCS[i], max_bytes=8))
        assert at in starts and at + len(window) in starts  # starts and ends at word boundaries of the document
        between = [b for b in starts if at <= b <= at + len(window)]
        assert len(between) == 6  # exactly 5 words
    with pytest.raises(bm.TokfreeError, match="more than 500 words"):
        bm._WordSampler(DOCS, 500, 8, seed=0)


@pytest.mark.parametrize("kind", bm.WORD_MODELS)
def test_word_models_train_and_measure_bits_per_byte(kind):
    model, run = bm.train_word_model(kind, DOCS, TINY, show_progress=False)
    assert len(run.train_loss) == 2 and all(math.isfinite(x) for x in run.train_loss)
    assert run.bytes_per_position > 1 and run.parameters == sum(p.numel() for p in model.parameters())
    heldout = [DOCS[0][:200], DOCS[2][:150]]
    got = bm.heldout_bits_per_byte(model, heldout, TINY)
    windows = bm.word_windows(heldout, TINY.positions, max_word_bytes=TINY.max_word_bytes)
    nats = -sum(model.log_prob(windows, end_of_text=False))  # an independent path: per-text log-probs
    assert got == pytest.approx(nats / math.log(2) / sum(len(w) for w in windows), rel=1e-5)
    with pytest.raises(bm.TokfreeError, match="kind='x'"):
        bm.train_word_model("x", DOCS, TINY)


def test_byte_baseline_is_a_byte_tokenizer_and_noise_is_seeded():
    model, tok, run = bm.train_byte_baseline(DOCS, TINY, show_progress=False)
    assert tok.vocab_size == 257 and run.bytes_per_position == 1.0
    text = DOCS[2]
    assert len(tok.encode(text, disallowed_special=())) == len(text.encode())
    assert bm.noisy_docs(DOCS, 0.1, 3) == bm.noisy_docs(DOCS, 0.1, 3) != DOCS


def test_mrt5_runs_report_their_models():
    docs = [d.encode() for d in DOCS]
    model, curves, seconds = mrt5_runs.train_mrt5(docs, 0.5, steps=3, seed=0, batch_size=2, window=48, show_progress=False)
    assert len(curves["ce"]) == len(curves["ratio"]) == len(curves["alpha"]) == 3 and curves["alpha"][0] == 0.0  # controller delayed
    pairs = mrt5_runs.span_pairs(mrt5_runs._windows(docs, 48), random.Random(0))
    measured = mrt5_runs.evaluate(model, pairs)
    ids, mask, _ = mrt5_runs.collate_pairs(pairs, model.config)
    with torch.no_grad():
        encoding = model.encode(ids, mask, hard_delete=True)
    assert measured["deletion ratio"] == pytest.approx(encoding.deletion_ratio)
    assert measured["encoder length / input"] == pytest.approx(float(encoding.key_mask.sum()) / float(mask.sum()))
    assert 0 < measured["ce"] < 10


def test_mrt5_run_all_measures_every_run_and_control():
    results = mrt5_runs.run_all(DOCS, DOCS[:2], steps=2, continue_steps=3, seed=0, targets=(0.5,), window=48, show_progress=False)
    names = [r["run"] for r in results.rows]
    assert names == ["no deletion", "target 0.5", "no deletion, all but 1 byte/row deleted at test"]
    assert isinstance(results.rows[1]["random deletion at that ratio: loss cost"], float)
    reference = results.rows[0]["held-out CE (nats/target)"]
    assert results.rows[0]["loss cost"] == 0.0 and results.rows[0]["held-out deletion ratio"] == 0.0
    for row in results.rows:
        assert row["loss cost"] == pytest.approx(row["held-out CE (nats/target)"] / reference - 1)
    assert set(results.curves) == {"pretraining", "no deletion", "target 0.5"} and len(results.curves["target 0.5"]["ce"]) == 3
    assert results.settings["span corruption"]["cost"] == pytest.approx(
        results.settings["span corruption"]["all but 1 byte/row deleted ce"] / results.settings["span corruption"]["ce"] - 1)
    with pytest.raises(ValueError, match="task='spans'"):
        mrt5_runs.run_all(DOCS, DOCS[:1], steps=1, continue_steps=1, seed=0, task="spans", show_progress=False)


def test_mrt5_infill_scores_only_the_masked_bytes():
    docs = [d.encode() for d in DOCS]
    model, _, _ = mrt5_runs.train_mrt5(docs, None, steps=1, seed=0, batch_size=2, window=48, show_progress=False, task="infill",
                                       cross_rotary=True, logit_bound=8.0)
    pairs = mrt5_runs.fill_pairs(mrt5_runs._windows(docs, 48)[:4], random.Random(0), mean_span=3)
    ids, mask, labels = mrt5_runs.collate_pairs(pairs, model.config)
    scored = mrt5_runs.infill_mask(ids, labels)
    assert int(scored.sum()) == sum(inp.count(mrt5_runs.MASK_ID) for inp, _ in pairs)
    with torch.no_grad():  # the infill CE by hand: the full logits, the masked positions only
        decoder = torch.cat([torch.full_like(labels[:, :1], model.config.bos_id), labels[:, :-1]], 1)
        logits = model(ids, decoder, mask, gate=torch.zeros(ids.shape)).logits
        want = torch.nn.functional.cross_entropy(logits[scored], labels[scored])
    got = mrt5_runs.evaluate(model, pairs, control="open", infill=True)
    assert got["ce"] == pytest.approx(want.item(), rel=1e-5)
    assert got["ce"] != pytest.approx(mrt5_runs.evaluate(model, pairs, control="open")["ce"], rel=1e-3)
    with pytest.raises(ValueError, match="loss_mask selects no real label"):
        mrt5_runs.mrt5_loss(model, ids, labels, mask, loss_mask=torch.zeros_like(scored))


def test_mrt5_ramp_raises_the_target_linearly():
    docs = [d.encode() for d in DOCS]
    run = {"steps": 4, "seed": 0, "batch_size": 2, "window": 48, "show_progress": False, "delay": 2}
    _, ramped, _ = mrt5_runs.train_mrt5(docs, 0.4, ramp=2, **run)
    _, flat, _ = mrt5_runs.train_mrt5(docs, 0.4, **run)
    assert ramped["alpha"][:3] == flat["alpha"][:3] == [0.0, 0.0, 0.0]  # delayed: alpha 0 for 2 updates, used one step later
    assert ramped["ratio"][2] == flat["ratio"][2]  # identical runs so far
    # the first update after the delay: alpha = 0.1 kp err + ki err, err = target - ratio, and the
    # ramped target is half way (step 3 of delay 2 + ramp 2)
    r = flat["ratio"][2]
    assert ramped["alpha"][3] == pytest.approx(flat["alpha"][3] * (0.2 - r) / (0.4 - r), rel=1e-6)
    assert ramped["alpha"][3] > 0


def test_continuation_pairs_cut_at_word_starts_and_noise_only_the_context():
    docs = [d * 3 for d in DOCS]
    pairs = bm.continuation_pairs(docs, rate=0.2, seed=1, context_chars=40, target_chars=12)
    assert len(pairs) > 10
    assert bm.continuation_pairs(docs, rate=0.2, seed=1, context_chars=40, target_chars=12) == pairs  # seeded
    for p in pairs:
        assert any(p.context + p.target in d for d in docs)  # the target follows its context in a document
        assert p.target[0] == " " and p.target[1].isalpha() and not p.context[-1].isspace()
        assert 40 - 16 <= len(p.context) < 40 and len(p.target) >= 12  # from the first word start within 40 chars
    assert sum(p.noisy_context != p.context for p in pairs) > len(pairs) // 2
    assert all(p.noisy_context.count(" ") == p.context.count(" ") for p in pairs)  # typo_noise keeps whitespace


def _direct_token_score(model, tok, pairs, noisy):
    """-log p(target | context) by one forward per pair, summed in bits, over target bytes."""
    from tokfree.training.train_lm import separator_id

    total = 0.0
    for p in pairs:
        context = [separator_id(tok), *tok.encode(p.noisy_context if noisy else p.context, disallowed_special=())]
        target = tok.encode(p.target, disallowed_special=())
        ids = torch.tensor([context + target])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids[:, :-1]).double(), -1)[0]
        total -= sum(float(logp[len(context) - 1 + j, t]) for j, t in enumerate(target))
    return total / math.log(2) / sum(len(p.target.encode()) for p in pairs)


@pytest.mark.parametrize("noisy", [False, True])
def test_continuation_score_of_a_token_model_equals_a_direct_sum(noisy):
    budget = bm.Budget(steps=2, batch_size=2, positions=96, lr=1e-3, d_model=32, n_layers=1, n_heads=2)
    model, tok, _ = bm.train_byte_baseline(DOCS, budget, show_progress=False)
    pairs = bm.continuation_pairs(DOCS, rate=0.1, seed=0, context_chars=30, target_chars=10)[:7]
    got = bm.continuation_bits_per_byte(model, pairs, noisy=noisy, tokenizer=tok, batch_size=3)
    assert got == pytest.approx(_direct_token_score(model, tok, pairs, noisy), rel=1e-6)


@pytest.mark.parametrize("kind", bm.WORD_MODELS)
def test_continuation_score_of_a_word_model_equals_its_byte_log_probs(kind):
    model, _ = bm.train_word_model(kind, DOCS, TINY, show_progress=False)
    pairs = bm.continuation_pairs(DOCS, rate=0.1, seed=0, context_chars=20, target_chars=6)[:5]
    pairs = [p for p in pairs if len(bm.word_windows([p.noisy_context + p.target], 100, max_word_bytes=8)) == 1]
    got = bm.continuation_bits_per_byte(model, pairs, noisy=True, batch_size=2)
    # Independent paths: chained next-byte probabilities (HAT), chained next-word probabilities (pool).
    nats = 0.0
    for p in pairs:
        data, skip = (p.noisy_context + p.target).encode(), len(p.noisy_context.encode())
        if kind == "hat":
            nats -= sum(float(model.next_byte_log_probs(data[:i])[data[i]]) for i in range(skip, len(data)))
        else:
            bounds = [b for b in word_boundaries(data.decode(), max_bytes=8) if b >= skip]
            nats -= sum(float(model.next_word_log_probs(data[:a], [data[a:b]])[0]) for a, b in zip(bounds, bounds[1:]))
    assert got == pytest.approx(nats / math.log(2) / sum(len(p.target.encode()) for p in pairs), rel=1e-4)


def test_continuation_longer_than_the_window_raises():
    budget = bm.Budget(steps=1, batch_size=2, positions=16, lr=1e-3, d_model=32, n_layers=1, n_heads=2)
    model, tok, _ = bm.train_byte_baseline(DOCS, budget, show_progress=False)
    pairs = bm.continuation_pairs(DOCS, rate=0.1, seed=0, context_chars=30, target_chars=20)[:2]
    with pytest.raises(bm.TokfreeError, match="does not fit the model's window of 16"):
        bm.continuation_bits_per_byte(model, pairs, noisy=False, tokenizer=tok)


def test_mrt5_controls_override_the_gate():
    docs = [d.encode() for d in DOCS]
    model, _, _ = mrt5_runs.train_mrt5(docs, None, steps=2, seed=0, batch_size=2, window=48, show_progress=False)
    pairs = mrt5_runs.span_pairs(mrt5_runs._windows(docs, 48), random.Random(0))
    rows = len(pairs)
    everything = mrt5_runs.evaluate(model, pairs, control="all")
    n_real = sum(len(inp) + 1 for inp, _ in pairs)  # collate_pairs appends eos to the input
    assert everything["encoder length / input"] == pytest.approx(rows / n_real)  # one kept byte per row
    half = mrt5_runs.evaluate(model, pairs, control="random", rate=0.5, seed=3)
    assert 0.4 < half["deletion ratio"] < 0.6
    assert mrt5_runs.evaluate(model, pairs, control="random", rate=0.5, seed=3) == half  # seeded
    with pytest.raises(ValueError, match="control='x'"):
        mrt5_runs.evaluate(model, pairs, control="x")


def test_mrt5_fill_pairs_mask_in_place():
    text = bytes(range(97, 97 + 26)) * 4
    (inp, tgt), = mrt5_runs.fill_pairs([text], random.Random(0), mean_span=3)
    assert tgt == list(text) and len(inp) == len(text)
    masked = [i for i, b in enumerate(inp) if b == mrt5_runs.MASK_ID]
    assert all(inp[i] == text[i] for i in range(len(text)) if i not in masked)
    assert len(masked) == round(0.15 * len(text))  # corrupt_spans' 15%
    # the same spans as span corruption with the same seed: the masked runs are the spans
    source, target = mrt5_runs.span_pairs([text], random.Random(0), mean_span=3)[0]
    assert sum(b not in mrt5_runs.SENTINELS for b in target) == len(masked)


@pytest.mark.parametrize("task", ["spans", "denoise", "prefix"])
def test_mrt5_task_pairs(task):
    texts = [bytes(range(97, 97 + 26)) * 4]
    (inp, tgt), = mrt5_runs.task_pairs(task, texts, random.Random(0), mean_span=3)
    if task == "prefix":
        assert inp + tgt == list(texts[0]) and len(tgt) == mrt5_runs.PREFIX_TARGET
    elif task == "denoise":
        assert tgt == list(texts[0]) and any(i in mrt5_runs.SENTINELS for i in inp)
    else:
        assert inp[0] not in mrt5_runs.SENTINELS or tgt[0] == inp[0]
        assert len(inp) + len(tgt) == len(texts[0]) + 2 * sum(i in mrt5_runs.SENTINELS for i in inp)


def test_unit_starts_by_hand_and_shared_by_noisy_text():
    assert bm.unit_starts("ab  cd\né f") == [0, 2, 3, 6, 9]  # "ab", " ", " cd", "\né", " f" (é is 2 bytes)
    assert bm.unit_starts(" x") == [0]
    text = DOCS[1]
    for seed in range(20):  # at 30% some one-letter words vanish; the units still pair up
        noisy = bm.noisy_docs([text], 0.3, seed)[0]
        assert len(bm.unit_starts(noisy)) == len(bm.unit_starts(text))


@pytest.mark.parametrize("kind", ["byte", "pool", "hat"])
def test_unit_losses_add_up_to_the_heldout_measurement(kind):
    heldout = [DOCS[0][:200], DOCS[2][:150]]
    tok = None
    if kind == "byte":
        budget = bm.Budget(steps=2, batch_size=2, positions=24, lr=1e-3, d_model=32, n_layers=1, n_heads=2)
        model, tok, _ = bm.train_byte_baseline(DOCS, budget, show_progress=False)
    else:
        budget = TINY
        model, _ = bm.train_word_model(kind, DOCS, budget, show_progress=False)
    units = bm.unit_losses(model, heldout, budget, tokenizer=tok, batch_size=3)
    assert [len(u) for u in units] == [len(bm.unit_starts(d)) for d in heldout]
    n_bytes = sum(len(d.encode()) for d in heldout)
    total = bm.heldout_bits_per_byte(model, heldout, budget, tokenizer=tok) * math.log(2) * n_bytes
    got = sum(float(u.sum()) for u in units)
    if tok is None:
        assert got == pytest.approx(total, rel=1e-5)
    else:  # the token stream also pays for the separators after each document, which belong to no unit
        assert got < total and got == pytest.approx(total, rel=0.05)
        # the first unit's loss is its tokens' losses: the byte tokenizer gives one token per byte
        from tokfree.training.train_lm import separator_id

        ids = [separator_id(tok), *tok.encode(heldout[0], disallowed_special=())][: budget.positions + 1]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).double(), -1)[0]
        first = bm.unit_starts(heldout[0])[1]  # the first window holds the whole first unit
        assert float(units[0][0]) == pytest.approx(-sum(float(logp[j, ids[j + 1]]) for j in range(first)), rel=1e-6)
