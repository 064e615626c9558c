"""State and sinks benchmark: what the SQLite state and the run outputs cost per article.

Run from the project root:

    python -m benchmarks.state [--articles 10000] [--formats jsonl,text] [--rounds 3] \
        [--dir TMP] [--text-sync sweep|fsync-each|syncfs|none]

`--articles` articles are built in memory first (about 600 words over 12 paragraphs,
a title, a standfirst, one or two captions, a feed URL and its canonical URL; the same
every time), so extraction is not measured. Each round then works in a fresh
temporary directory (under `--dir`, which should be on the disk the real state and
outputs would use: fsync is what this measures) and drives `scraper.store.Store` and
`scraper.sinks.Sinks` the way `scraper.pipeline` does, one new run per pass:

* first run: for each article `store.seen_url(url)` and `store.emitted(id)`; the new
  ones are batched by `BATCH_SIZE`, each batch journalled (`output.write`, fsync) and
  then committed (`store.mark_emitted`, with the page's validators); at the end
  `output.finish()`, then `report.json`, the `latest` link and `store.record_run`;
* rerun, skipped: the same articles again, nothing changed: the same lookups, nothing
  emitted (a source whose items are skipped as seen);
* rerun, 304: `seen_url`, `validators` and `touch`, the path of a page asked again
  with a conditional GET that answers 304;
* rerun, 200 unchanged: `seen_url`, `validators`, `emitted` and `mark_urls`, the path
  of a page fetched again whose text did not change.

Timings are the best of `--rounds` rounds for each pass; sizes come from the first
round (state file and WAL at the end of the first run and after the reruns, the first
run's folder).

`--text-sync` swaps how `finish` makes the text files durable before they are renamed
into place, to compare: `sweep` (what `scraper.sinks.sync_files` does: start the
writeback of every file, then fsync each), `fsync-each` (an fsync per file, no
writeback started first), `syncfs` (one `syncfs(2)` of the whole file system, Linux:
flushes every process's dirty data on it) and `none` (no sync: the floor, not durable).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scraper import sinks as sinks_module
from scraper.models import Article, Caption, RunReport, utc_now
from scraper.pipeline import BATCH_SIZE
from scraper.sinks import Sinks, fsync_path, write_report
from scraper.store import Store, Validators

SOURCE = "bench"
STATE = "state.sqlite"
PHASES = ("open", "state", "journal", "commit", "finish", "record", "close")
FETCHED_AT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
WORDS = """
the of and to in a is that for on was with he it as at by said from his an be have
has are which but not this they had were who been their its more after one will two
year new would than also first people government last over years up into about
police city minister country week state out other when time could president party
told there some all between world against percent people water million market
council report health school since during while under before three city company
plans public month local family court economy energy news officials support workers
house children hospital election team season game river bridge road station budget
housing prices rates bank trade talks leaders deal vote law study research climate
weather storm summer winter village region coast farmers students teachers doctors
nurses police fire service staff union strike protest meeting plan scheme project
data figures results growth jobs sales costs homes streets centre park museum
""".split()
NAMES = "Ada Ben Chloe Dev Elena Farid Grace Hugo Ines Jonas Kofi Lena Maya Nils Omar Priya".split()


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, words: int) -> str:
    sentences: list[str] = []
    while sum(s.count(" ") + 1 for s in sentences) < words:
        sentences.append(sentence(rng, 8, 20))
    return " ".join(sentences)


def make_articles(count: int, seed: int = 1) -> list[Article]:
    rng = random.Random(seed)
    articles = []
    for i in range(count):
        title = " ".join(rng.choices(WORDS, k=rng.randint(6, 11))).title()
        slug = "-".join(title.lower().split()[:6])
        site = f"news{i % 25}.example"
        canonical = f"https://www.{site}/2026/11/{slug}-{i}"
        captions = [
            Caption(
                text=sentence(rng, 8, 16),
                credit=f"Photo: {rng.choice(NAMES)} {rng.choice(NAMES)}son",
                position=rng.randint(0, 11),
            )
            for _ in range(rng.randint(1, 2))
        ]
        articles.append(
            Article(
                url=f"{canonical}?ref=rss",
                canonical_url=canonical,
                title=title,
                standfirst=sentence(rng, 18, 30),
                authors=[f"{rng.choice(NAMES)} {rng.choice(NAMES)}son"],
                published=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                site=site,
                source=SOURCE,
                language="en",
                paragraphs=[paragraph(rng, 44) for _ in range(12)],
                captions=captions,
                fetched_at=FETCHED_AT,
            )
        )
    return articles


def page_validators(article: Article) -> Validators:
    return Validators(
        article.url, f'"{article.content_hash[:16]}"', "Wed, 25 Nov 2026 06:00:00 GMT"
    )


# What one pass does per article in the state, before any batch: the article to emit,
# or None.
Step = Callable[[Store, Article], Article | None]


def new_or_changed(store: Store, article: Article) -> Article | None:
    store.seen_url(article.url)
    past = store.emitted(article.id)
    return article if past is None or past.content_hash != article.content_hash else None


def recheck_304(store: Store, article: Article) -> None:
    if store.seen_url(article.url) and store.validators(article.url):
        store.touch(article.url)


def refetch_unchanged(store: Store, article: Article) -> None:
    store.seen_url(article.url)
    validators = store.validators(article.url)
    store.emitted(article.id)
    store.mark_urls([article.url, article.canonical_url], article.id, validators)


PASSES: dict[str, Step] = {
    "first run": new_or_changed,
    "rerun, skipped": new_or_changed,
    "rerun, 304": recheck_304,
    "rerun, 200 unchanged": refetch_unchanged,
}


@dataclass
class Pass:
    """Seconds by phase of one pass, and the per-article cost of each tenth of it."""

    name: str
    articles: int
    emitted: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    tenths: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - start


def state_bytes(path: Path) -> int:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def folder_size(folder: Path) -> tuple[int, int, int]:
    """Bytes, files and bytes allocated on disk under ``folder``."""
    stats = [p.stat() for p in folder.rglob("*") if p.is_file()]
    return sum(s.st_size for s in stats), len(stats), sum(s.st_blocks * 512 for s in stats)


def run_pass(
    name: str, step: Step, articles: list[Article], root: Path, formats: list[str]
) -> tuple[Pass, Path, int]:
    """One run over ``articles``: its timings, its run folder and the state's bytes
    (file and WAL) just before the store closed."""
    result = Pass(name, len(articles))
    started = utc_now()
    sinks = Sinks(root / "out", formats)
    tenth = max(1, len(articles) // 10)
    gc.collect()
    with ExitStack() as stack:
        with result.phase("open"):
            store = stack.enter_context(Store(root / STATE))
            output = sinks.new_run(started)
        pending: list[tuple[Article, list[str], Validators | None]] = []
        mark = time.perf_counter()
        for i, article in enumerate(articles):
            with result.phase("state"):
                emit = step(store, article)
            if emit is not None:
                urls = list(dict.fromkeys([emit.url, emit.canonical_url]))
                pending.append((emit, urls, page_validators(emit)))
            if len(pending) >= BATCH_SIZE or (i == len(articles) - 1 and pending):
                with result.phase("journal"):
                    output.write([a for a, _, _ in pending])
                with result.phase("commit"):
                    store.mark_emitted(pending)
                result.emitted += len(pending)
                pending = []
            if (i + 1) % tenth == 0:
                now = time.perf_counter()
                result.tenths.append((now - mark) / tenth)
                mark = now
        with result.phase("finish"):
            output.finish()
        with result.phase("record"):
            report = RunReport(run_id=output.folder.name, started=started, finished=utc_now())
            report.source(SOURCE).emitted = result.emitted
            report.seconds = round(result.total, 3)
            write_report(output.folder, report)
            sinks.point_latest(output.folder)
            store.record_run(report)
        open_bytes = state_bytes(root / STATE)
        closing = time.perf_counter()
    result.seconds["close"] = time.perf_counter() - closing  # the WAL checkpoint
    return result, output.folder, open_bytes


@dataclass
class Sizes:
    state_open: int  # state file + WAL at the end of the first run
    state_first: int  # after the first run closed the state
    state_reruns: int  # after the reruns
    run_folder: tuple[int, int, int]


def one_round(
    articles: list[Article], formats: list[str], parent: Path | None
) -> tuple[list[Pass], Sizes]:
    with tempfile.TemporaryDirectory(prefix="bench-state-", dir=parent) as tmp:
        root = Path(tmp)
        passes = []
        for name, step in PASSES.items():
            result, folder, open_bytes = run_pass(name, step, articles, root, formats)
            passes.append(result)
            if name == "first run":
                first = (open_bytes, state_bytes(root / STATE), folder_size(folder))
        return passes, Sizes(first[0], first[1], state_bytes(root / STATE), first[2])


def fsync_each(paths: Sequence[Path]) -> None:
    for path in paths:
        fsync_path(path)


def syncfs(paths: Sequence[Path]) -> None:
    if not paths:
        return
    fd = os.open(paths[0].parent, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(fd)


def no_sync(paths: Sequence[Path]) -> None:
    pass


TEXT_SYNC: dict[str, Callable[[Sequence[Path]], None]] = {
    "sweep": sinks_module.sync_files,
    "fsync-each": fsync_each,
    "syncfs": syncfs,
    "none": no_sync,
}


def ms(seconds: float, articles: int) -> str:
    return f"{1000 * seconds / articles:.3f}"


def print_table(best: dict[str, Pass]) -> None:
    head = ["pass", "s", "ms/article", *(f"{p} ms/a" for p in PHASES), "emitted"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for p in best.values():
        cells = [p.name, f"{p.total:.2f}", ms(p.total, p.articles)]
        cells += [ms(p.seconds[name], p.articles) for name in PHASES]
        print("| " + " | ".join([*cells, str(p.emitted)]) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--formats", default="jsonl,text", help="comma-separated output formats")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, help="where the temporary directories go")
    ap.add_argument("--text-sync", choices=TEXT_SYNC, default="sweep", help="see the docstring")
    args = ap.parse_args(argv)
    formats = args.formats.split(",")
    sinks_module.sync_files = TEXT_SYNC[args.text_sync]  # type: ignore[assignment]

    clock = time.perf_counter()
    articles = make_articles(args.articles)
    words = sum(a.word_count for a in articles) / len(articles)
    print(
        f"{len(articles)} articles ({words:.0f} words each on average) built in "
        f"{time.perf_counter() - clock:.1f} s; formats {','.join(formats)}, "
        f"batches of {BATCH_SIZE}, {args.rounds} rounds, text sync {args.text_sync}"
    )
    best: dict[str, Pass] = {}
    sizes: Sizes | None = None
    for rnd in range(max(1, args.rounds)):
        passes, round_sizes = one_round(articles, formats, args.dir)
        sizes = sizes or round_sizes
        for p in passes:
            tenths = " ".join(f"{1000 * t:.2f}" for t in p.tenths)
            print(f"round {rnd + 1} {p.name}: {p.total:.2f} s; ms/article by tenth: {tenths}")
            if p.name not in best or p.total < best[p.name].total:
                best[p.name] = p
    assert sizes is not None
    print()
    print_table(best)
    n = len(articles)
    size, files, allocated = sizes.run_folder
    print()
    print(
        f"state file + WAL: {sizes.state_open} bytes at the end of the first run (open), "
        f"{sizes.state_first} bytes closed ({sizes.state_first / n:.0f} bytes/article), "
        f"{sizes.state_reruns} bytes after the 3 reruns"
    )
    print(
        f"first run's folder: {size} bytes in {files} files ({size / n:.0f} bytes/article), "
        f"{allocated} bytes allocated"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
