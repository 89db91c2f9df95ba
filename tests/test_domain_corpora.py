"""The domain corpora in data/_domain (issue 4): both splits present, held-out text not in train,
term lists readable, bad arguments rejected by name."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tokfree._corpora import DOMAINS, TERM_DOMAINS, domain_documents, domain_terms, load_corpora
from tokfree.errors import TokfreeError

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("domain", DOMAINS)
def test_both_splits_non_empty(domain):
    for split in ("train", "heldout"):
        docs = domain_documents(DATA, domain, split)
        assert docs and all(isinstance(d, str) and d.strip() for d in docs)
    assert len(domain_documents(DATA, domain, "train")) > len(domain_documents(DATA, domain, "heldout"))


@pytest.mark.parametrize("domain", DOMAINS)
def test_heldout_not_in_train(domain):
    train = set(domain_documents(DATA, domain, "train"))
    heldout = domain_documents(DATA, domain, "heldout")
    assert not [d[:80] for d in heldout if d in train]
    assert len(set(heldout)) == len(heldout)


def test_legal_heldout_prefixes_not_in_train():
    prefixes = {d[:200] for d in domain_documents(DATA, "legal", "train")}
    assert not [d[:80] for d in domain_documents(DATA, "legal", "heldout") if d[:200] in prefixes]


@pytest.mark.parametrize("domain", DOMAINS)
def test_records_have_unique_ids(domain):
    for split in ("train", "heldout"):
        with gzip.open(DATA / "_domain" / domain / f"{split}.jsonl.gz", "rt", encoding="utf-8") as lines:
            ids = [json.loads(line)["id"] for line in lines]
        assert len(ids) == len(set(ids)) and ids == sorted(ids)


@pytest.mark.parametrize("domain", TERM_DOMAINS)
def test_terms_parse(domain):
    terms = domain_terms(DATA, domain)
    assert 40 <= len(terms) <= 70
    assert len(set(terms)) == len(terms)
    assert all(t == t.strip() and t and not t.startswith("#") for t in terms)


def test_domain_corpora_not_in_demo_corpora():
    assert "_domain" not in load_corpora(DATA)


@pytest.mark.parametrize(
    "call, names",
    [
        (lambda: domain_documents(DATA, "medical", "train"), ["'medical'", "legal", "english"]),
        (lambda: domain_documents(DATA, "legal", "test"), ["'test'", "train", "heldout"]),
        (lambda: domain_terms(DATA, "english"), ["'english'", "legal", "financial", "code"]),
    ],
)
def test_bad_arguments(call, names):
    with pytest.raises(TokfreeError) as info:
        call()
    assert all(name in str(info.value) for name in names)
