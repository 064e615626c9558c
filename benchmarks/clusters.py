"""Story cluster benchmark: pairwise precision and recall, cost and state size.

Run from the project root:

    python -m benchmarks.clusters [--corpora ../shared/corpora] [--seed 15] [--dir TMP]

The synthetic set is built at run time from development-corpus bodies (aeb and wcxb
pages with at least 4 paragraphs and 150 words): every body is a story, published
1 to 6 times (at least 2,000 articles in at least 600 stories). Each later copy
gets one or more of the issue's edits: the headline reworded, the last paragraphs
trimmed (up to a third), a paragraph added (another story's, at the top, middle
or end), an "originally appeared on ..." line appended. The hand-written reports
of one event by two outlets (``fixtures/stories/same_event.json``, en/de/fr/es)
are added as stories of their own. Copies are shuffled and fed to
``scraper.dedup.Clusters`` over a real ``scraper.store.Store`` in two runs (the
store is closed and opened again half-way), as the pipeline does.

Prints pairwise precision and recall (pairs of copies put in one story), the
same-event pairs kept apart, the clustering cost per article (signature, lookup,
verification and saving, batched as the pipeline does) and the state's growth in
bytes per article (file pages after a checkpoint, divided by the articles).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

from scraper.dedup import Clusters
from scraper.models import Article
from scraper.store import Store

DEFAULT_CORPORA = Path("../shared/corpora")  # as laid out beside the project
SAME_EVENT = Path(__file__).resolve().parent.parent / "fixtures" / "stories" / "same_event.json"
MIN_PARAGRAPHS = 4
MIN_WORDS = 150
MAX_COPIES = 6
MIN_ARTICLES = 2000
MIN_STORIES = 600
BATCH = 50  # the pipeline's BATCH_SIZE: stories are saved once per batch
TARGETS = {"precision": 0.99, "recall": 0.95}
MAX_MS_PER_ARTICLE = 1.0
MAX_BYTES_PER_ARTICLE = 1000
CREDITS = (
    "This article originally appeared on The Conversation.",
    "This story was originally published by KFF Health News.",
    "Originally appeared on the Daily Ledger.",
)


def bodies(root: Path) -> list[list[str]]:
    found = []
    for corpus in ("aeb", "wcxb"):
        with (root / corpus / "truth.jsonl").open(encoding="utf-8") as rows:
            for line in rows:
                body = json.loads(line).get("body") or ""
                paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
                if len(paragraphs) >= MIN_PARAGRAPHS and len(body.split()) >= MIN_WORDS:
                    found.append(paragraphs)
    return found


def edited(paragraphs: list[str], others: list[list[str]], rng: random.Random) -> list[str]:
    """A later copy: one or more of the issue's edits (the headline is reworded by
    the caller)."""
    copy = list(paragraphs)
    edits = rng.sample(["trim", "add", "credit", "title"], rng.randint(1, 3))
    if "trim" in edits:
        cut = rng.randint(1, max(1, len(copy) // 3))
        copy = copy[:-cut]
    if "add" in edits:
        extra = rng.choice(rng.choice(others))
        copy.insert(rng.choice([0, len(copy) // 2, len(copy)]), extra)
    if "credit" in edits:
        copy.append(rng.choice(CREDITS))
    return copy


def article(story: int, copy: int, title: str, paragraphs: list[str]) -> Article:
    url = f"https://site{copy}.example/story/{story}"
    return Article(url=url, canonical_url=url, title=title, paragraphs=paragraphs)


def build(root: Path, seed: int) -> list[tuple[int, Article]]:
    rng = random.Random(seed)
    sources = bodies(root)
    items: list[tuple[int, Article]] = []
    for story, paragraphs in enumerate(sources):
        copies = rng.randint(1, MAX_COPIES)
        for copy in range(copies):
            text = paragraphs if copy == 0 else edited(paragraphs, sources, rng)
            title = f"Story {story}" + ("" if copy == 0 else f", reworded {copy}")
            items.append((story, article(story, copy, title, text)))
    story = len(sources)
    for event in json.loads(SAME_EVENT.read_text(encoding="utf-8")):
        for report in event["reports"]:
            items.append((story, article(story, 0, report["title"], report["paragraphs"])))
            story += 1
    rng.shuffle(items)
    return items


def pairs(groups: dict[object, list[int]]) -> set[tuple[int, int]]:
    return {pair for members in groups.values() for pair in combinations(sorted(members), 2)}


def state_bytes(path: Path) -> int:
    with Store(path) as store:
        db = store._conn()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    return int((pages - free) * size)


def run(items: list[tuple[int, Article]], path: Path) -> tuple[dict[int, str], float]:
    """Story ids in two runs over one state; the seconds spent clustering."""
    assigned: dict[int, str] = {}
    spent = 0.0
    half = len(items) // 2
    for part, name in ((items[:half], "run-1"), (items[half:], "run-2")):
        with Store(path) as store:
            clusters = Clusters(store, name)
            start = time.perf_counter()
            for i, (_, art) in enumerate(part, start=1):
                offset = 0 if name == "run-1" else half
                assigned[offset + i - 1] = clusters.assign(art).story_id
                if i % BATCH == 0:
                    clusters.save()
            clusters.save()
            spent += time.perf_counter() - start
    return assigned, spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=None, help="where the state file goes")
    args = parser.parse_args(argv)
    items = build(args.corpora, args.seed)
    stories = len({story for story, _ in items})
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "state.sqlite"
        empty = state_bytes(path)
        assigned, seconds = run(items, path)
        grown = state_bytes(path) - empty
    truth: dict[object, list[int]] = {}
    found: dict[object, list[int]] = {}
    for i, (story, _) in enumerate(items):
        truth.setdefault(story, []).append(i)
        found.setdefault(assigned[i], []).append(i)
    true_pairs, found_pairs = pairs(truth), pairs(found)
    right = len(true_pairs & found_pairs)
    figures = {
        "precision": right / len(found_pairs) if found_pairs else 1.0,
        "recall": right / len(true_pairs) if true_pairs else 1.0,
    }
    events = json.loads(SAME_EVENT.read_text(encoding="utf-8"))
    first_event_story = stories - 2 * len(events)
    apart = 0
    for n in range(len(events)):
        a, b = first_event_story + 2 * n, first_event_story + 2 * n + 1
        ia = next(i for i, (s, _) in enumerate(items) if s == a)
        ib = next(i for i, (s, _) in enumerate(items) if s == b)
        apart += assigned[ia] != assigned[ib]
    sizes = Counter(len(m) for m in truth.values())
    ms = 1000 * seconds / len(items)
    per_article = grown / len(items)
    print(
        f"articles: {len(items)} in {stories} stories (copies per story: {dict(sorted(sizes.items()))})"
    )
    print(f"pairs: {len(true_pairs)} true, {len(found_pairs)} found, {right} right")
    for name, value in figures.items():
        verdict = "met" if value >= TARGETS[name] else "NOT met"
        print(f"{name:10} {value:.4f}  (target >= {TARGETS[name]:.2f}: {verdict})")
    print(f"same-event pairs kept apart: {apart} of {len(events)}")
    verdict = "met" if ms <= MAX_MS_PER_ARTICLE else "NOT met"
    print(f"cost       {ms:.3f} ms per article  (target <= {MAX_MS_PER_ARTICLE}: {verdict})")
    verdict = "met" if per_article <= MAX_BYTES_PER_ARTICLE else "NOT met"
    print(
        f"state      {per_article:.0f} bytes per article  (target <= {MAX_BYTES_PER_ARTICLE}: {verdict})"
    )
    met = (
        all(v >= TARGETS[k] for k, v in figures.items())
        and apart == len(events)
        and ms <= MAX_MS_PER_ARTICLE
        and per_article <= MAX_BYTES_PER_ARTICLE
        and len(items) >= MIN_ARTICLES
        and stories >= MIN_STORIES
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
