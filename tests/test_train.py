"""How ``benchmarks.train`` aligns blocks with the corpora's truths, and groups pages
into folds by site."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.train import (
    DEFAULT_CORPORA,
    SEED,
    assign_folds,
    domain_of,
    label_by_body,
    label_by_snippets,
    labels_for,
    model_args,
)

BODY = (
    "The council agreed on Monday to rebuild the old bridge over the river.\n"
    "Work will start in the spring and last two years, the mayor said."
)


def test_a_block_mostly_in_the_true_body_is_body_and_one_mostly_out_is_not():
    texts = [
        "The council agreed on Monday to rebuild the old bridge over the river.",
        "Sign up for our newsletter to get the best stories every morning.",
        # about half in the truth: no label either way
        "Work will start in the spring and the football season ends in May at the stadium.",
    ]
    labels, weights = label_by_body(texts, BODY)
    assert labels[:2] == [1, 0]
    assert weights == [1.0, 1.0, 0.0]


def test_a_body_block_split_differently_from_the_truth_still_aligns():
    texts = [
        "The council agreed on Monday to rebuild",
        "the old bridge over the river. Work will start in the spring",
    ]
    assert label_by_body(texts, BODY) == ([1, 1], [1.0, 1.0])


def test_body_alignment_ignores_case_and_punctuation_and_skips_wordless_blocks():
    texts = ["THE COUNCIL AGREED, ON MONDAY, TO REBUILD THE OLD BRIDGE!", "— · —"]
    assert label_by_body(texts, BODY) == ([1, 0], [1.0, 0.0])


def test_snippets_label_the_blocks_that_hold_them_and_nothing_else():
    texts = [
        "Home News Sport",
        "The council agreed on Monday to rebuild the old bridge.",
        "Work will start in the spring.",
        "Share this story",
        "Unrelated block nobody mentions",
    ]
    labels, weights = label_by_snippets(
        texts, with_=["agreed on Monday to rebuild"], without=["Share this story", "Home News"]
    )
    assert [label for label, w in zip(labels, weights, strict=True) if w] == [0, 1, 0]
    assert weights == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_a_snippet_spanning_two_blocks_labels_both():
    texts = ["The council agreed on Monday", "to rebuild the old bridge.", "Advert"]
    labels, weights = label_by_snippets(texts, ["agreed on Monday to rebuild the"], [])
    assert labels == [1, 1, 0] and weights == [1.0, 1.0, 0.0]


def test_a_block_holding_both_kinds_of_snippet_gets_no_weight():
    texts = ["The council agreed on Monday. Share this story"]
    assert label_by_snippets(texts, ["agreed on Monday"], ["Share this story"]) == ([0], [0.0])


def test_a_without_snippet_overrides_the_body_overlap():
    texts = ["The council agreed on Monday to rebuild the old bridge over the river."]
    row = {"body": BODY, "without": ["agreed on Monday to rebuild"]}
    assert labels_for(texts, row) == ([0], [1.0])


def test_domains_group_hosts_of_one_site():
    assert domain_of("https://www.example.co.uk/a/b") == "example.co.uk"
    assert domain_of("https://news.example.com/x") == "example.com"
    assert domain_of("https://blog.example.com/y") == "example.com"
    assert domain_of("hard::example.org-some-page.html") == "example.org"
    assert (
        domain_of("https://web.archive.org/web/20130217080612/http://tv.example.de/p")
        == "example.de"
    )


def test_folds_keep_every_domain_in_one_fold_and_balance_pages():
    domains = ["a.com"] * 5 + ["b.com"] * 3 + ["c.com"] * 3 + ["d.com"] * 2 + ["e.com"]
    folds = assign_folds(domains, 3)
    by_domain: dict[str, set[int]] = {}
    for domain, fold in zip(domains, folds, strict=True):
        by_domain.setdefault(domain, set()).add(fold)
    assert all(len(f) == 1 for f in by_domain.values())
    sizes = [folds.count(f) for f in range(3)]
    assert max(sizes) - min(sizes) <= 2
    assert folds == assign_folds(domains, 3)  # deterministic


def test_the_card_records_only_the_arguments_that_shape_the_model():
    def args(corpora: Path, no_oof: bool, seed: int = SEED) -> argparse.Namespace:
        return argparse.Namespace(corpora=corpora, no_oof=no_oof, seed=seed, cache=Path("/tmp/c"))

    assert model_args(args(DEFAULT_CORPORA, False)) == []
    assert model_args(args(Path("other"), True)) == ["other", "--no-oof"]
    assert model_args(args(DEFAULT_CORPORA, False, seed=7)) == ["--seed", "7"]
