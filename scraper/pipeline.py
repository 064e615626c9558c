"""The run, stage by stage. This is the only module that wires the stages:

0. ``sinks``     finish the outputs of a run that was killed (``recover``)
1. ``discover``  sources -> candidate URLs (feeds, sitemaps, URL lists) or pages
                 read from disk (files, WARC)
2. ``store``     drop URLs a past run already handled, unless their page sent
                 validators: those are asked again with a conditional GET
                 (skipped too when the source dates the item before that check);
                 pages read from disk are compared by content digest
3. ``fetch``     candidates -> pages (async httpx, polite, retried, capped);
                 a 304 ends there, counted as ``not_modified``; a host that asked
                 a past run to back off for long is ``deferred`` to a later run
4. ``extract``   pages -> articles (worker processes, time limit per page;
                 ``clean`` and ``normalise`` run inside this stage); each page
                 goes with its site's rules and learned template (``rules``,
                 ``templates``), and each article comes back with what its page
                 shows of that template, which the ``store`` counts
5. dedup         an article already emitted with the same text is not emitted
                 again; changed text is emitted as the next ``version``
5b. ``dedup``    story clusters: each article to emit joins the story of a
                 near-duplicate seen in this or a past run (MinHash LSH in the
                 state) or starts one: ``story_id``, ``duplicate_of``, and the
                 agency of a story first seen on its own site as ``source``;
                 ``output.duplicates`` keeps, marks or drops later copies
6. ``sinks``     append each batch to the run's journal and fsync it, in the
                 ``store`` transaction that claims its articles (one another run
                 emitted meanwhile is left out) and marks them emitted; at the end
                 the journal becomes the run's outputs and ``report.json``, and
                 ``latest`` points there (a run that emitted nothing leaves only
                 its report, in the state); run folders past
                 ``keep_runs``/``keep_days`` are pruned

Before stage 1 the run takes the lock of each source in the ``store`` (a source
another host is running is skipped and named in the report). Stage 4 runs on a Dask
cluster instead of local processes when the config names an ``engine``
(``cluster``).

A page that fails at any stage is counted in the ``RunReport`` by source and
reason, and the run goes on. A signal (``Stop``) cancels discovery and every fetch
in flight or queued (counted ``cancelled``, left unseen for the next run); pages
already fetched are extracted, and the outputs and report are still written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from functools import partial
from itertools import islice
from types import FrameType

import httpx
from tenacity.wait import wait_base

from .config import FilesSource, Settings
from .dedup import Clusters, credited
from .discover import candidates, source_pages
from .errors import DiscoverError, NotAnArticle, ScrapeError, SinkError
from .extract import ExtractPool, Outcome
from .fetch import Deferred, Fetcher, Resolver, system_resolver
from .models import Article, Candidate, Fetched, RunReport, utc_now
from .report import drift
from .rules import RuleBook
from .sinks import (
    JOURNAL,
    REPORT,
    RunOutput,
    Sinks,
    drop_from_journal,
    iter_journal,
    run_started,
    write_report,
)
from .store import Store, Validators, open_store
from .templates import SiteTemplates, page_url, site_of

log = logging.getLogger(__name__)

BATCH_SIZE = 50
MIN_ARTICLES_FOR_MEDIAN = 3
HISTORY = 20

# Exit codes of a run (the CLI adds 2 for usage and 75 for a held lock).
OK, SOME_FAILED, ALL_FAILED = 0, 1, 3


class Stop:
    """Signal handler: the first signal cancels every fetch in flight or queued and
    lets the pages already fetched be extracted and written; a second one
    interrupts at once."""

    def __init__(self) -> None:
        self.signum = 0
        self._callbacks: list[tuple[asyncio.AbstractEventLoop, Callable[[], object]]] = []
        self._at_once = False

    def __call__(self, signum: int, frame: FrameType | None = None) -> None:
        if self.signum or self._at_once:
            self.signum = self.signum or signum
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s: cancelling the fetches, finishing the pages in hand", _name(signum))
        for loop, callback in list(self._callbacks):
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)

    def __bool__(self) -> bool:
        return bool(self.signum)

    @contextmanager
    def at_once(self) -> Iterator[None]:
        """Inside the block the first signal interrupts at once (KeyboardInterrupt):
        for a wait before anything is done, such as for the run lock."""
        self._at_once = True
        try:
            yield
        finally:
            self._at_once = False

    @contextmanager
    def on_stop(self, callback: Callable[[], object]) -> Iterator[None]:
        """Run ``callback`` in this event loop on the first signal while inside the
        block (at once if it came already)."""
        entry = (asyncio.get_running_loop(), callback)
        self._callbacks.append(entry)
        if self.signum:
            entry[0].call_soon(callback)
        try:
            yield
        finally:
            self._callbacks.remove(entry)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def content_digest(body: bytes) -> str:
    return "sha1:" + hashlib.sha1(body).hexdigest()


def exit_code(report: RunReport, signum: int = 0) -> int:
    if signum:
        return 128 + signum
    if report.failed and not any(s.got_through for s in report.sources.values()):
        return ALL_FAILED
    return SOME_FAILED if report.failed else OK


class Run:
    """State of one run: report, pending batch and the ids emitted so far."""

    def __init__(
        self, settings: Settings, store: Store, output: RunOutput, full: bool = False
    ) -> None:
        self.settings = settings
        self.store = store
        self.output = output
        self.full = full
        self.report = RunReport(run_id=output.folder.name, full=full)
        self.pending: list[tuple[Article, list[str], Validators | None]] = []
        self.pending_sources: dict[str, str] = {}
        self.emitted_ids: set[str] = set()
        self.clusters = Clusters(store, self.report.run_id)
        self.on_page: Callable[[RunReport], None] | None = None
        self.rules = RuleBook(settings.site_rules())
        learn = settings.template.learn
        self.templates = SiteTemplates(settings.template, store) if learn else None

    def steer(self, page: Fetched) -> Fetched:
        """Stage 4's input: ``page`` with the rules and learned template of its site."""
        if not (self.rules or self.templates):
            return page
        where = page_url(page)
        update: dict[str, object] = {}
        if (rules := self.rules.for_url(where)) is not None:
            update["rules"] = rules
        if self.templates is not None and (template := self.templates.template(site_of(where))):
            update["template"] = template
        return page.model_copy(update=update) if update else page

    def learn(self, page: Fetched, outcome: Outcome) -> None:
        """What an extracted page shows of its site's template."""
        if self.templates is not None and isinstance(outcome, Article):
            self.templates.learn(site_of(page_url(page) or outcome.url), outcome)

    def fail(self, source: str, url: str, reason: str, message: str) -> None:
        extra = {"url": url, "reason": reason, "source": source}
        log.warning("%s %s: %s", reason, url, message, extra=extra)
        self.report.fail(source, url, reason, message)

    def unreadable(self, source: str, where: str, exc: DiscoverError) -> None:
        """A file, record or sitemap of ``source`` that could not be read."""
        self.fail(source, where, exc.reason, str(exc))

    def tick(self) -> None:
        if self.on_page:
            self.on_page(self.report)

    def admit(self, candidate: Candidate) -> Candidate | None:
        """Stage 2: a candidate to fetch (conditionally if a past run handled it)."""
        if self.full or not self.store.seen_url(candidate.url):
            return candidate
        past = self.store.validators(candidate.url)
        unchanged = (
            candidate.modified and past and past.checked and candidate.modified <= past.checked
        )
        if past is None or unchanged:
            self.report.source(candidate.source).skipped_seen += 1
            return None
        return candidate.model_copy(update={"etag": past.etag, "last_modified": past.last_modified})

    def admit_page(self, page: Fetched) -> Validators | None:
        """Stage 2 for a page read from disk: its digest, or None when a past run
        handled the same bytes."""
        digest = Validators(page.url, content_digest(page.body), None)
        if self.full or not self.store.seen_url(page.url):
            return digest
        past = self.store.validators(page.url)
        counts = self.report.source(page.source)
        if past is not None and past.etag != digest.etag:
            return digest
        if past is None:  # seen before digests were kept
            counts.skipped_seen += 1
        else:
            counts.not_modified += 1
        self.store.touch(page.url)
        return None

    def take(
        self,
        source: str,
        outcome: Outcome,
        urls: list[str],
        validators: Validators | None = None,
    ) -> None:
        """Stage 5: keep a new or changed article, count everything else."""
        counts = self.report.source(source)
        if isinstance(outcome, NotAnArticle):
            self.fail(source, urls[0], outcome.reason, str(outcome))
            self.store.mark_urls(urls, validators=validators)
        elif isinstance(outcome, ScrapeError):
            self.fail(source, urls[0], getattr(outcome, "reason", "extract"), str(outcome))
        else:
            counts.extracted += 1
            counts.words.append(outcome.word_count)
            self._dedup(source, outcome, urls, validators)
        self.tick()

    def _dedup(
        self, source: str, article: Article, urls: list[str], validators: Validators | None
    ) -> None:
        urls = list(dict.fromkeys([*urls, article.url, article.canonical_url]))
        past = self.store.emitted(article.id)
        if article.id in self.emitted_ids:
            self.report.source(source).skipped_seen += 1
        elif past and past.content_hash == article.content_hash:
            self.report.source(source).unchanged += 1
        else:
            if past:
                update = {"version": past.version + 1, "previous_hash": past.content_hash}
                article = article.model_copy(update=update)
            clustered = self.cluster(article)
            if clustered is None:
                self.report.source(source).duplicates_dropped += 1
                self.store.mark_urls(urls, article.id, validators)
                return
            article = clustered
            self.emitted_ids.add(article.id)
            self.pending.append((article, urls, validators))
            self.pending_sources[article.id] = source
            self.report.source(source).emitted += 1
            if len(self.pending) >= BATCH_SIZE:
                self.flush()
            return
        self.store.mark_urls(urls, article.id, validators)

    def cluster(self, article: Article) -> Article | None:
        """Stage 5b: ``article`` in its story, or None for a later copy that
        ``output.duplicates: drop`` leaves out."""
        assigned = self.clusters.assign(article)
        mode = self.settings.output.duplicates
        if assigned.duplicate_of is not None and mode == "drop":
            return None
        if mode == "keep":
            assigned.duplicate_of = None
        return credited(article, assigned)

    def flush(self) -> None:
        """Stage 6: make the pending batch durable, then remember it (and the
        stories its articles joined)."""
        self.clusters.save()
        self.report.stories = self.clusters.largest()
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        sources, self.pending_sources = self.pending_sources, {}
        for article in self.store.emit(batch, self.output.write, self.report.run_id):
            counts = self.report.source(sources[article.id])  # another run emitted it
            counts.emitted -= 1
            counts.skipped_seen += 1

    def finish(self, started: float, signum: int = 0) -> RunReport:
        """Write the outputs and the report, then record the run in the state; a
        run that emitted nothing keeps no folder (``output.skip_empty_runs``) and
        leaves ``latest`` where it was. Then old run folders are pruned."""
        report = self.report
        self.flush()
        if self.templates is not None:
            self.templates.save()
        keep = self.output.keeps_folder
        if keep:
            self.output.finish()
        for counts in report.sources.values():
            if len(counts.words) >= MIN_ARTICLES_FOR_MEDIAN:
                counts.median_words = statistics.median(counts.words)
        report.seconds = round(time.monotonic() - started, 3)
        report.finished = utc_now()
        report.interrupted = bool(signum)
        report.exit_code = exit_code(report, signum)
        if not signum:  # a run cut short is no measure of its sources
            report.warnings = drift(report, self.store.recent_runs(HISTORY))
        for warning in report.warnings:
            log.warning("%s", warning.message(), extra={"source": warning.source})
        folder = self.output.folder
        if keep:
            write_report(folder, report)
            self.output.sinks.point_latest(folder)
            self.store.record_run(report)
        else:
            self.store.record_run(report)  # first: a crash before the folder goes is recovered
            self.output.discard()
        self.prune()
        return report

    def prune(self) -> None:
        output = self.settings.output
        try:
            removed = self.output.sinks.prune(output.keep_runs, output.keep_days, utc_now())
        except SinkError as exc:
            log.warning("%s", exc)  # the run's own outputs are complete
            return
        if removed:
            log.info("removed %d old run folder(s) (output.keep_runs/keep_days)", len(removed))


def recover(sinks: Sinks, store: Store) -> None:
    """Finish the outputs of runs that were killed: the state first learns every
    complete record of their journals, so none is emitted twice. A record another
    run emitted since (a host killed before its claim was committed) is left out. A
    killed run that emitted nothing loses its folder like any empty run (with
    ``skip_empty_runs``); either way the state gets its report unless it has one."""
    for folder in sinks.unfinished():
        journal = folder / JOURNAL
        journalled = journal.exists()
        records = iter_journal(journal) if journalled else iter(())
        count = 0
        taken: set[str] = set()
        while batch := [(a, [a.url, a.canonical_url], None) for a, _ in islice(records, 500)]:
            taken.update(a.id for a in store.recover_emitted(batch, folder.name))
            count += len(batch)
        if taken:
            drop_from_journal(journal, taken)
            count -= len(taken)
        report = RunReport(run_id=folder.name, interrupted=True)
        if started := run_started(folder.name):
            report.started = started[0]
        report.note = f"killed before it finished; {count} records recovered"
        if journalled and not count and sinks.skip_empty_runs:
            if not store.has_run(folder.name):
                store.record_run(report)
            sinks.remove(folder)
            log.warning("removed the folder of killed run %s (it emitted nothing)", folder)
            continue
        sinks.finish(folder)
        if not (folder / REPORT).exists():
            write_report(folder, report)
        if not store.has_run(folder.name):
            store.record_run(report)
        log.warning("finished the outputs of killed run %s (%d records)", folder, count)


def run_files(run: Run, source: FilesSource, pool: ExtractPool, stop: Stop) -> None:
    """Stages 1, 2, 4 and 5 for pages stored on disk (no fetching)."""
    counts = run.report.source(source.name)

    def on_skip(reason: str) -> None:
        counts.not_pages[reason] += 1

    def new_pages() -> Iterator[Fetched]:
        max_bytes = run.settings.fetch.max_bytes
        on_error = partial(run.unreadable, source.name)
        for page in source_pages(source, max_bytes, on_error, on_skip):
            if stop:
                return
            counts.discovered += 1
            if digest := run.admit_page(page):
                counts.fetched += 1
                # the digest travels with its page: two records of one archive may
                # share a URL
                yield run.steer(page.model_copy(update={"etag": digest.etag}))

    try:
        for page, outcome in pool.map(new_pages()):
            run.learn(page, outcome)
            run.take(source.name, outcome, [page.url], Validators(page.url, page.etag, None))
    except DiscoverError as exc:
        run.unreadable(source.name, str(source.path), exc)


async def run_web(run: Run, fetcher: Fetcher, pool: ExtractPool, stop: Stop) -> None:
    """Stages 1-5 for feeds, sitemaps and URL lists, fetching concurrently. A stop
    cancels discovery and every fetch in flight or queued: those URLs are counted
    ``cancelled`` and stay unseen, so the next run fetches them."""
    settings = run.settings
    queue: asyncio.Queue[Candidate | None] = asyncio.Queue(maxsize=settings.fetch.concurrency * 4)
    extracting = asyncio.Semaphore(pool.workers * 2)
    fetching: set[asyncio.Task[Fetched]] = set()

    async def produce() -> None:
        for source in settings.sources:
            if isinstance(source, FilesSource) or stop:
                continue
            counts = run.report.source(source.name)
            try:
                on_error = partial(run.unreadable, source.name)
                async for found in candidates(source, fetcher, on_error):
                    counts.discovered += 1
                    if candidate := run.admit(found):
                        await enqueue(candidate)
            except Deferred:
                counts.deferred += 1
            except DiscoverError as exc:
                run.unreadable(source.name, getattr(source, "url", source.name), exc)

    async def enqueue(candidate: Candidate) -> None:
        try:
            await queue.put(candidate)
        except asyncio.CancelledError:
            run.report.source(candidate.source).cancelled += 1
            raise

    async def fetch(candidate: Candidate) -> Fetched | None:
        """The page, or None when a stop cancelled its fetch."""
        task = asyncio.create_task(fetcher.fetch(candidate))
        fetching.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this consumer itself is cancelled, not just its fetch
            return None
        finally:
            fetching.discard(task)

    async def consume() -> None:
        while (candidate := await queue.get()) is not None:
            counts = run.report.source(candidate.source)
            if stop:
                counts.cancelled += 1  # stays unseen for the next run
                continue
            try:
                page = await fetch(candidate)
            except Deferred:
                counts.deferred += 1
                run.tick()
                continue
            except ScrapeError as exc:
                run.fail(candidate.source, candidate.url, getattr(exc, "reason", "fetch"), str(exc))
                run.tick()
                continue
            if page is None:
                counts.cancelled += 1
                run.tick()
                continue
            if page.status == 304:
                counts.not_modified += 1
                run.store.touch(candidate.url)
                run.tick()
                continue
            counts.fetched += 1
            page = run.steer(page)
            async with extracting:
                outcome = await pool.extract_async(page)
            run.learn(page, outcome)
            validators = None
            if page.etag or page.last_modified:
                validators = Validators(candidate.url, page.etag, page.last_modified)
            run.take(candidate.source, outcome, [candidate.url, page.url], validators)

    def cancel() -> None:
        producer.cancel()
        for task in fetching:
            task.cancel()

    failure: list[BaseException] = []

    def give_up(consumer: asyncio.Task[None]) -> None:
        """A consumer that raised (the outputs cannot be written, say) ends the stage:
        the error is raised once every task has stopped, never swallowed."""
        error = None if consumer.cancelled() else consumer.exception()
        if error is None or failure:
            return
        failure.append(error)
        cancel()
        for task in consumers:
            task.cancel()
        while not queue.empty():  # room for the end markers
            queue.get_nowait()

    consumers = [asyncio.create_task(consume()) for _ in range(settings.fetch.concurrency)]
    for consumer in consumers:
        consumer.add_done_callback(give_up)
    producer = asyncio.create_task(produce())
    with stop.on_stop(cancel):
        try:
            await producer
        except asyncio.CancelledError:
            if not (stop or failure):
                raise
        finally:
            for _ in consumers:
                await queue.put(None)
            await asyncio.gather(*consumers, return_exceptions=True)
    if failure:
        raise failure[0]


def _extraction(
    settings: Settings, workers: int, in_process: bool
) -> AbstractContextManager[ExtractPool]:
    """Stage 4's pool: worker processes here, or the config's engine."""
    if settings.engine:
        from .cluster import engine_pool

        return engine_pool(settings.engine, settings.extract.timeout)
    return ExtractPool(workers, settings.extract.timeout, in_process=in_process)


async def run(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = system_resolver,
    wait: wait_base | None = None,
    workers: int | None = None,
    *,
    in_process: bool = False,
    full: bool = False,
    wait_lock: bool = False,
    stop: Stop | None = None,
    on_page: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Run every source of ``settings`` once and write the outputs."""
    stop = stop if stop is not None else Stop()
    clock = time.monotonic()
    started: datetime = utc_now()
    output = settings.output
    sinks = Sinks(output.dir, output.formats, output.captions_inline, output.skip_empty_runs)
    with ExitStack() as stack:
        with stop.at_once():  # waiting for a running run's lock (--wait): nothing done yet
            store = stack.enter_context(open_store(settings.state, wait=wait_lock))
        store.lock_outputs(output.dir)
        recover(sinks, store)
        held = store.lock_sources(source.name for source in settings.sources)
        for name in held:
            log.warning("source %r is being run by another host: skipped", name)
        mine = [source for source in settings.sources if source.name not in held]
        settings = settings.model_copy(update={"sources": mine})
        state = Run(settings, store, sinks.new_run(started, store.has_run), full)
        state.report.started = started
        state.report.held_elsewhere = held
        state.on_page = on_page
        workers = settings.extract.workers if workers is None else workers
        fetcher_backoff = store.backoff()
        with _extraction(settings, workers, in_process) as pool:
            for source in settings.sources:
                if isinstance(source, FilesSource) and not stop:
                    run_files(state, source, pool, stop)
            if any(not isinstance(s, FilesSource) for s in settings.sources):
                async with Fetcher(
                    settings.fetch, transport, resolver, wait=wait, not_before=fetcher_backoff
                ) as fetcher:
                    try:
                        await run_web(state, fetcher, pool, stop)
                    finally:
                        store.save_backoff(fetcher.not_before)
        return state.finish(clock, stop.signum)
