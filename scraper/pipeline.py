"""The run, stage by stage. This is the only module that wires the stages:

1. ``discover``  sources -> candidate URLs (feeds, sitemaps, URL lists) or pages
                 read from disk (files, WARC)
2. ``store``     drop URLs a past run already handled, unless their page sent
                 validators: those are asked again with a conditional GET
                 (skipped too when the source dates the item before that check)
3. ``fetch``     candidates -> pages (async httpx, polite, retried, capped);
                 a 304 ends there, counted as ``not_modified``
4. ``extract``   pages -> articles (worker processes, time limit per page;
                 ``clean`` and ``normalise`` run inside this stage)
5. dedup         drop articles already emitted, by id (hash of the canonical URL)
6. ``sinks``     write each batch atomically, then ``store`` marks it emitted

A page that fails at any stage is counted in the ``RunReport`` by reason and the
run goes on. Records are written in batches and marked seen only once written, so
an interrupted run loses nothing: what it had not written is fetched again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from tenacity.wait import wait_base

from .config import FilesSource, Settings
from .discover import candidates, iter_pages
from .errors import DiscoverError, NotAnArticle, ScrapeError
from .extract import ExtractPool, Outcome
from .fetch import Fetcher, Resolver, system_resolver
from .models import Article, Candidate, Fetched, RunReport, utc_now
from .sinks import Sinks, atomic_write
from .store import Store, Validators

log = logging.getLogger(__name__)

BATCH_SIZE = 50
REPORT_FILE = "report.json"


class Run:
    """State of one run: report, pending batch and the ids emitted so far."""

    def __init__(self, settings: Settings, store: Store, sinks: Sinks) -> None:
        self.settings = settings
        self.store = store
        self.sinks = sinks
        self.report = RunReport()
        self.pending: list[tuple[Article, list[str], Validators | None]] = []
        self.emitted_ids: set[str] = set()

    def fail(self, url: str, reason: str, message: str) -> None:
        log.warning("%s: %s", reason, message)
        self.report.fail(url, reason, message)

    def is_new_url(self, url: str) -> bool:
        if self.store.seen_url(url):
            self.report.skipped_seen += 1
            return False
        return True

    def admit(self, candidate: Candidate) -> Candidate | None:
        """Stage 2: a candidate to fetch (conditionally if a past run handled it)."""
        if not self.store.seen_url(candidate.url):
            return candidate
        past = self.store.validators(candidate.url)
        unchanged = (
            candidate.modified and past and past.checked and candidate.modified <= past.checked
        )
        if past is None or unchanged:
            self.report.skipped_seen += 1
            return None
        return candidate.model_copy(update={"etag": past.etag, "last_modified": past.last_modified})

    def take(self, outcome: Outcome, urls: list[str], validators: Validators | None = None) -> None:
        """Stage 5: keep a new article, count everything else."""
        if isinstance(outcome, NotAnArticle):
            self.fail(urls[0], outcome.reason, str(outcome))
            self.store.mark_urls(urls, validators=validators)
            return
        if isinstance(outcome, ScrapeError):
            self.fail(urls[0], getattr(outcome, "reason", "extract"), str(outcome))
            return
        self.report.extracted += 1
        urls = list(dict.fromkeys([*urls, outcome.url, outcome.canonical_url]))
        if outcome.id in self.emitted_ids or self.store.seen_article(outcome.id):
            self.report.skipped_seen += 1
            self.store.mark_urls(urls, outcome.id, validators)
            return
        self.emitted_ids.add(outcome.id)
        self.pending.append((outcome, urls, validators))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        """Stage 6: write the pending batch, then remember it."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.sinks.write([article for article, _, _ in batch])
        self.store.mark_emitted(batch)
        self.report.emitted += len(batch)


def run_files(run: Run, source: FilesSource, pool: ExtractPool) -> None:
    """Stages 1, 2, 4 and 5 for pages stored on disk (no fetching)."""

    def on_error(path: str, exc: DiscoverError) -> None:
        run.fail(path, "discover", str(exc))

    def new_pages() -> Iterator[Fetched]:
        for page in iter_pages(source.path, source.name, on_error=on_error):
            run.report.discovered += 1
            if run.is_new_url(page.url):
                yield page

    try:
        for page, outcome in pool.map(new_pages()):
            run.take(outcome, [page.url])
    except DiscoverError as exc:
        run.fail(str(source.path), "discover", str(exc))


async def run_web(
    run: Run,
    fetcher: Fetcher,
    pool: ExtractPool,
) -> None:
    """Stages 1-5 for feeds, sitemaps and URL lists, fetching concurrently."""
    settings = run.settings
    queue: asyncio.Queue[Candidate | None] = asyncio.Queue(maxsize=settings.fetch.concurrency * 4)
    extracting = asyncio.Semaphore(pool.workers * 2)

    async def produce() -> None:
        for source in settings.sources:
            if isinstance(source, FilesSource):
                continue
            try:
                async for found in candidates(source, fetcher):
                    run.report.discovered += 1
                    if candidate := run.admit(found):
                        await queue.put(candidate)
            except DiscoverError as exc:
                run.fail(getattr(source, "url", source.name), "discover", str(exc))

    async def consume() -> None:
        while (candidate := await queue.get()) is not None:
            try:
                page = await fetcher.fetch(candidate)
            except ScrapeError as exc:
                run.fail(candidate.url, getattr(exc, "reason", "fetch"), str(exc))
                continue
            if page.status == 304:
                run.report.not_modified += 1
                run.store.touch(candidate.url)
                continue
            run.report.fetched += 1
            async with extracting:
                outcome = await pool.extract_async(page)
            validators = None
            if page.etag or page.last_modified:
                validators = Validators(candidate.url, page.etag, page.last_modified)
            run.take(outcome, [candidate.url, page.url], validators)

    consumers = [asyncio.create_task(consume()) for _ in range(settings.fetch.concurrency)]
    try:
        await produce()
    finally:
        for _ in consumers:
            await queue.put(None)
        await asyncio.gather(*consumers, return_exceptions=True)


async def run(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = system_resolver,
    wait: wait_base | None = None,
    workers: int | None = None,
) -> RunReport:
    """Run every source of ``settings`` once and write the outputs."""
    started = utc_now().isoformat()
    clock = time.monotonic()
    sinks = Sinks(settings.output.dir, settings.output.formats, settings.output.captions_inline)
    with Store(settings.state) as store:
        sinks.remove_stale_temp_files()
        state = Run(settings, store, sinks)
        workers = settings.extract.workers if workers is None else workers
        with ExtractPool(workers, settings.extract.timeout) as pool:
            try:
                for source in settings.sources:
                    if isinstance(source, FilesSource):
                        run_files(state, source, pool)
                if any(not isinstance(s, FilesSource) for s in settings.sources):
                    async with Fetcher(settings.fetch, transport, resolver, wait=wait) as fetcher:
                        await run_web(state, fetcher, pool)
            finally:
                state.flush()
                state.report.seconds = time.monotonic() - clock
                report_json = state.report.model_dump_json(indent=2)
                store.record_run(started, report_json)
                atomic_write(Path(settings.output.dir) / REPORT_FILE, report_json.encode())
        return state.report
