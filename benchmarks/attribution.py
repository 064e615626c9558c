"""Source attribution benchmark: ``source`` against hand labels on real pages.

Run from the project root:

    python -m benchmarks.attribution [--corpora ../shared/corpora] [--all] [-v]

``benchmarks/attribution_labels.jsonl`` holds one line per labelled page: the
corpus, the page id and the expected ``source`` (null for a page with no agency or
partner evidence for its text). Pages are read from the development corpora at run
time; nothing of them is stored here. Prints precision (right values among the
values given), recall (right values among the pages that have a source), the null
rate on the pages without evidence, and the evidence kinds that decided. ``--all``
also runs every other page of the corpora and lists those given a value (an
unlabelled page given a value is a candidate false value to look at).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

from scraper.errors import ScrapeError
from scraper.extract import extract

LABELS = Path(__file__).with_name("attribution_labels.jsonl")
DEFAULT_CORPORA = Path("../shared/corpora")  # as laid out beside the project
CORPORA = ("aeb", "trafeval", "wcxb")
TARGETS = {"precision": 0.97, "recall": 0.90, "null_rate": 0.99}


def page_index(root: Path) -> dict[tuple[str, str], tuple[str, Path]]:
    """(corpus, id) -> (url, page file) for every page of the corpora."""
    index = {}
    for corpus in CORPORA:
        with (root / corpus / "truth.jsonl").open(encoding="utf-8") as rows:
            for line in rows:  # not splitlines(): bodies hold U+2028
                row = json.loads(line)
                index[(corpus, row["id"])] = (row["url"], root / corpus / row["file"])
    return index


def attribute(url: str, path: Path) -> tuple[str | None, str | None]:
    try:
        article = extract(gzip.decompress(path.read_bytes()), url)
    except ScrapeError:
        return None, None
    return article.source, article.source_evidence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument(
        "--all", action="store_true", help="also list unlabelled pages given a value"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every labelled page")
    args = parser.parse_args(argv)
    index = page_index(args.corpora)
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    given = right = with_source = without = null_kept = 0
    kinds: Counter[str] = Counter()
    wrong = []
    for label in labels:
        url, path = index[(label["corpus"], label["id"])]
        source, evidence = attribute(url, path)
        expected = label["source"]
        if source is not None:
            given += 1
            kinds[evidence or "?"] += 1
            right += source == expected
        if expected is not None:
            with_source += 1
        else:
            without += 1
            null_kept += source is None
        if source != expected:
            wrong.append(
                f"  {label['corpus']}/{label['id']}: expected {expected}, got {source} ({evidence})"
            )
        if args.verbose:
            print(f"{label['corpus']}/{label['id']}: {expected} -> {source} ({evidence})")
    figures = {
        "precision": right / given if given else 1.0,
        "recall": right / with_source if with_source else 1.0,
        "null_rate": null_kept / without if without else 1.0,
    }
    print(f"labelled pages: {len(labels)} ({with_source} with a source, {without} without)")
    for name, value in figures.items():
        verdict = "met" if value >= TARGETS[name] else "NOT met"
        print(f"{name:10} {value:.3f}  (target >= {TARGETS[name]:.2f}: {verdict})")
    print("evidence kinds:", ", ".join(f"{k}={v}" for k, v in kinds.most_common()))
    if wrong:
        print("pages not as labelled:")
        print("\n".join(wrong))
    if args.all:
        labelled = {(label["corpus"], label["id"]) for label in labels}
        others = [key for key in index if key not in labelled]
        valued = []
        for key in others:
            source, evidence = attribute(*index[key])
            if source is not None:
                valued.append(f"  {key[0]}/{key[1]}: {source} ({evidence})")
        print(f"unlabelled pages: {len(others)}, given a value: {len(valued)}")
        print("\n".join(valued))
    return 0 if all(v >= TARGETS[k] for k, v in figures.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
