"""Scoring functions for the three extraction corpora (see /work/shared/corpora/README.md).

All functions are pure: they take the predicted text and the truth of one page, or a list
of per-page results, and return numbers.

- aeb: 4-token shingle precision/recall (article-extraction-benchmark), `shingle_scores`
  per page, `mean_pr_f1` over pages.
- trafeval: with/without snippet counts, `snippet_counts` per page, `counts_pr_f1` over
  the summed counts.
- wcxb: lower-cased word-multiset P/R/F1, `word_scores` per page, and the shares of
  `with` snippets found and `without` snippets leaked, `snippet_shares`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def shingles(text: str, n: int = 4) -> Counter[str]:
    """Multiset of `n`-token shingles.

    As in the reference script, a text of fewer than `n` tokens is one shorter shingle.
    """
    toks = tokens(text)
    if not toks:
        return Counter()
    return Counter(" ".join(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1)))


def shingle_scores(pred: str, truth: str) -> tuple[float, float]:
    """Per-page (precision, recall) on 4-token shingle multisets (aeb).

    tp, fp and fn are the multiset intersection and the two differences. (Dividing
    them by tp+fp+fn, as the reference script does, does not change the ratios.)
    Edge cases:
    - truth and prediction both empty: P = R = 1;
    - empty prediction (tp+fp == 0) with a non-empty truth: P = R = 0;
    - empty truth (tp+fn == 0) with a non-empty prediction: P = 0, R = 1.
    The reference script instead leaves a page out of the precision mean when tp+fp == 0
    and out of the recall mean when tp+fn == 0; here such pages are scored so that a
    failing extractor is penalised. The two agree whenever neither text is empty.
    """
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    if tp + fp == 0 and tp + fn == 0:
        return 1.0, 1.0
    if tp + fp == 0:
        return 0.0, 0.0
    if tp + fn == 0:
        return 0.0, 1.0
    return tp / (tp + fp), tp / (tp + fn)


def mean_pr_f1(pages: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Means of per-page precision and recall, and F1 = 2PR/(P+R) of the means."""
    if not pages:
        return 0.0, 0.0, 0.0
    p = sum(x[0] for x in pages) / len(pages)
    r = sum(x[1] for x in pages) / len(pages)
    return p, r, f1(p, r)


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def snippet_counts(
    pred: str, with_: Iterable[str], without: Iterable[str]
) -> tuple[int, int, int, int]:
    """(tp, fn, fp, tn) for one page (trafeval): whitespace-normalised substring tests."""
    text = normalise_space(pred)
    found = [normalise_space(s) in text for s in with_]
    leaked = [normalise_space(s) in text for s in without]
    return sum(found), len(found) - sum(found), sum(leaked), len(leaked) - sum(leaked)


def counts_pr_f1(counts: Iterable[tuple[int, int, int, int]]) -> tuple[float, float, float]:
    """Precision, recall and F from (tp, fn, fp, tn) counts summed over pages."""
    tp = fn = fp = 0
    for c in counts:
        tp, fn, fp = tp + c[0], fn + c[1], fp + c[2]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, f1(p, r)


def word_scores(pred: str, truth: str) -> tuple[float, float, float]:
    """Per-page (precision, recall, F1) on lower-cased `\\w+` multisets (wcxb).

    Empty truth and empty prediction score 1; otherwise an empty side scores 0.
    """
    t = Counter(tokens(truth.lower()))
    p = Counter(tokens(pred.lower()))
    if not t and not p:
        return 1.0, 1.0, 1.0
    if not t or not p:
        return 0.0, 0.0, 0.0
    overlap = sum((t & p).values())
    prec, rec = overlap / sum(p.values()), overlap / sum(t.values())
    return prec, rec, f1(prec, rec)


def snippet_shares(
    pred: str, with_: Sequence[str], without: Sequence[str]
) -> tuple[float | None, float | None]:
    """Share of `with` snippets found and of `without` snippets leaked on one page (wcxb).

    Plain case-insensitive substring tests (no whitespace normalisation, as in the
    published figures); None when the page has no snippets of that kind (such pages are
    left out of the average).
    """
    text = pred.lower()

    def share(snips: Sequence[str]) -> float | None:
        if not snips:
            return None
        return sum(s.lower() in text for s in snips) / len(snips)

    return share(with_), share(without)


def mean_defined(values: Iterable[float | None]) -> float:
    """Mean of the values that are not None (0 if there are none)."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else 0.0
