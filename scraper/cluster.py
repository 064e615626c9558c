"""Extraction on a Dask cluster: ``scrape extract --cluster`` over archives, and runs
whose config names an ``engine:``.

The engine is Dask's ``distributed`` (pure Python, a local cluster starts in about a
second); ``local:N`` starts a cluster of N worker processes on this host,
``tcp://host:8786`` connects to a running scheduler. A task runs in a worker's
thread, where no signal can stop a page, and trafilatura and lxml are not
thread-safe: so every task extracts in its worker thread's own ``ExtractPool`` (one
extraction process, kept from task to task), whose per-page time limit holds. A
worker must therefore be allowed children (``distributed.worker.daemon: false``).

**Archives** (``extract_archives``). The inputs are cut into partitions: one per
WARC file, one per ``HTML_BATCH`` HTML files. Each partition is one task, which
writes to ``DIR``:

* ``<name>.jsonl``: its records, in input order (``<name>.parquet`` too with
  ``parquet``; ``<name>.copies`` with ``stories``: what story clustering needs);
* ``<name>.done``: the marker, written last: what the partition was made from (the
  files' paths, sizes and times, and the options), its counts (records, failures
  by reason, WARC records that are no page) and the SHA-256 of each output.

Outputs are written under temporary names and renamed, with the marker, under a
lock on the partition: a task killed at any point leaves no partition half-written
(the engine runs it again), and of two attempts that both finish, the files and
the marker are those of one. A rerun skips every partition whose marker matches
its inputs and outputs. Without ``DIR`` the records come back to this process and
are written in input order as each partition finishes.

**Stories across partitions** (``stories``): a second pass, in input order, on
this host: every task ships each record's ``dedup.Copy`` (its MinHash), this host
assigns the stories as one run would (``dedup.Clusters`` over an index in memory),
and a third pass of tasks writes each partition's ``story_id`` and
``duplicate_of`` into its records (only where they changed). So a story split
across two WARC files gets one ``story_id``, the same as ``scrape extract
--stories`` without a cluster gives.

**Runs** (``ClusterPool``): the pages a run fetches or reads are extracted one task
each; the run itself (state, dedup, outputs) stays on its host.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import re
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .dedup import Assigned, Clusters, Copy, MemoryIndex, Signature, credited
from .discover import iter_input_files, iter_pages
from .errors import DiscoverError, EngineError, ExtractError, ScrapeError, SinkError
from .extract import ExtractPool, Outcome
from .models import Article, Fetched
from .sinks import ParquetWriter, atomic_write, fsync_path

log = logging.getLogger(__name__)

HTML_BATCH = 500  # HTML files per partition
MARKER = ".done"
MARKER_FORMAT = 1
# Failed pages named per partition (their count is always exact).
MAX_ERRORS = 1000
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
NAME_CHARS = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` on the engine at ``address`` (checked by
    ``config.parse_engine``): a local cluster it starts, or a running scheduler."""
    import dask

    logging.getLogger("distributed").setLevel(logging.ERROR)
    dask.config.set({"distributed.worker.daemon": False})  # workers start extraction processes
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if address.startswith("local:"):
            cluster = LocalCluster(
                n_workers=int(address.removeprefix("local:")),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: none is taken from another cluster
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # OSError, TimeoutError; RuntimeError when workers fail to start
        if cluster is not None:
            cluster.close()
        why = " ".join(str(exc).split()) or type(exc).__name__
        doing = (
            "start a local cluster"
            if address.startswith("local:")
            else "reach the Dask scheduler at"
        )
        raise EngineError(f"cannot {doing} {address}: {why}") from exc
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# Worker side ----------------------------------------------------------------------

_thread = threading.local()


def worker_pool(timeout: float) -> ExtractPool:
    """This worker thread's extraction pool, kept from task to task."""
    if multiprocessing.current_process().daemon:
        raise EngineError(
            "this Dask worker cannot start extraction processes: start workers with "
            "DASK_DISTRIBUTED__WORKER__DAEMON=False"
        )
    pool: ExtractPool | None = getattr(_thread, "pool", None)
    if pool is None or pool.timeout != timeout:
        if pool is not None:
            pool.close()
        pool = _thread.pool = ExtractPool(1, timeout)
    return pool


def extract_one(page: Fetched, timeout: float) -> Outcome:
    """A run's page, extracted on a worker (the task of ``ClusterPool``)."""
    return worker_pool(timeout).submit(page).result()


@dataclass(frozen=True)
class Options:
    """What decides a partition's records (part of its marker)."""

    timeout: float
    max_bytes: int
    parquet: bool = False
    stories: bool = False


@dataclass(frozen=True)
class Partition:
    name: str  # file names in DIR: from the input file names, never from page text
    files: tuple[str, ...]  # absolute paths


@dataclass
class Counts:
    """What a partition's task did."""

    records: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    not_pages: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # one line each, at most MAX_ERRORS

    def fail(self, reason: str, message: str) -> None:
        self.failures[reason] += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)


@dataclass
class PartitionResult:
    partition: Partition
    counts: Counts
    skipped: bool = False  # finished by an earlier run (its marker matched)
    lines: list[str] | None = None  # the records, when there is no DIR
    copies: list[Copy] | None = None  # with ``stories``, when there is no DIR


def fingerprint(partition: Partition, options: Options) -> str:
    """What a partition is made from: its files (path, size, time) and the options."""
    files = []
    for name in partition.files:
        try:
            info = os.stat(name)
            files.append([name, info.st_size, info.st_mtime_ns])
        except OSError:
            files.append([name, None, None])
    data = {"format": MARKER_FORMAT, "files": files, "options": asdict(options)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _pages(partition: Partition, options: Options, counts: Counts) -> Iterator[Fetched]:
    def on_error(where: str, exc: DiscoverError) -> None:
        counts.fail(exc.reason, f"{exc.reason} {where}: {exc}")

    def on_skip(reason: str) -> None:
        counts.not_pages[reason] += 1

    for name in partition.files:
        try:
            yield from iter_pages(
                Path(name), "extract", options.max_bytes, on_error, on_skip=on_skip
            )
        except ScrapeError as exc:
            counts.fail(getattr(exc, "reason", "unreadable"), str(exc))


def copy_line(copy: Copy) -> str:
    sig = base64.b64encode(copy.signature.to_bytes()).decode()
    data = {"id": copy.article_id, "title": copy.title, "agency": copy.agency}
    return json.dumps(data | {"shingles": copy.signature.shingles, "signature": sig})


def parse_copy(line: str) -> Copy:
    data = json.loads(line)
    sig = Signature.from_bytes(base64.b64decode(data["signature"]), data["shingles"])
    return Copy(data["id"], data["title"], sig, data["agency"])


class _Staged:
    """Output files written under temporary names in DIR, renamed on ``commit``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        self.tag = uuid.uuid4().hex[:12]
        self.moves: list[tuple[Path, Path]] = []
        self._open: list[IO[bytes]] = []

    def temp(self, suffix: str) -> Path:
        tmp = self.folder / f".{self.name}{suffix}.{self.tag}.tmp"
        self.moves.append((tmp, self.folder / f"{self.name}{suffix}"))
        return tmp

    def open(self, suffix: str) -> IO[bytes]:
        out = self.temp(suffix).open("wb")
        self._open.append(out)
        return out

    def close(self) -> None:
        for out in self._open:
            out.flush()
            os.fsync(out.fileno())
            out.close()
        self._open = []

    def discard(self) -> None:
        for out in self._open:
            out.close()
        for tmp, _ in self.moves:
            tmp.unlink(missing_ok=True)

    def commit(self, marker: dict[str, Any], kept: Sequence[Path] = ()) -> None:
        """Rename the outputs into place and write the marker (with the digest of
        each output, and of the files ``kept`` as they are), under the partition's
        lock, the old marker removed first: a partition and its marker agree."""
        self.close()
        outputs = {final.name: _sha256(tmp) for tmp, final in self.moves}
        marker["outputs"] = outputs | {path.name: _sha256(path) for path in kept}
        with _locked(self.folder / f".{self.name}.lock"):
            (self.folder / f"{self.name}{MARKER}").unlink(missing_ok=True)
            for tmp, final in self.moves:
                os.replace(tmp, final)
            data = json.dumps(marker, indent=1, sort_keys=True).encode()
            atomic_write(self.folder / f"{self.name}{MARKER}", data)
            fsync_path(self.folder)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def extract_partition(
    partition: Partition, options: Options, out_dir: str | None
) -> PartitionResult:
    """The task: extract a partition's pages and write its outputs and marker to
    ``out_dir`` (or return its records when there is none)."""
    pool = worker_pool(options.timeout)
    counts = Counts()
    lines: list[str] = []
    copies: list[Copy] = []
    staged = _Staged(Path(out_dir), partition.name) if out_dir else None
    try:
        records = staged.open(".jsonl") if staged else None
        extra = staged.open(".copies") if staged and options.stories else None
        parquet = ParquetWriter(staged.temp(".parquet")) if staged and options.parquet else None
        for page, outcome in pool.map(_pages(partition, options, counts)):
            if not isinstance(outcome, Article):
                counts.fail(getattr(outcome, "reason", "extract"), f"{page.url}: {outcome}")
                continue
            counts.records += 1
            line = outcome.model_dump_json()
            copy = Copy.of(outcome) if options.stories else None
            if records is None:
                lines.append(line)
                if copy is not None:
                    copies.append(copy)
                continue
            records.write(line.encode() + b"\n")
            if extra is not None and copy is not None:
                extra.write(copy_line(copy).encode() + b"\n")
            if parquet is not None:
                parquet.add(outcome)
        if parquet is not None:
            parquet.close()
        if staged is not None:
            marker = {
                "fingerprint": fingerprint(partition, options),
                "files": list(partition.files),
                "records": counts.records,
                "failures": dict(counts.failures),
                "not_pages": dict(counts.not_pages),
                "errors": counts.errors,
                "stories": None,
            }
            staged.commit(marker)
    except OSError as exc:
        raise SinkError(f"cannot write partition {partition.name} in {out_dir}: {exc}") from exc
    finally:
        if staged is not None:
            staged.discard()
    if staged is not None:
        return PartitionResult(partition, counts)
    return PartitionResult(
        partition, counts, lines=lines, copies=copies if options.stories else None
    )


def with_story(article: Article, assigned: Assigned) -> Article:
    """``article`` in its story (a story given by an earlier pass is replaced)."""
    if article.source_evidence == "cluster":
        article = article.model_copy(update={"source": None, "source_evidence": None})
    return credited(article, assigned)


def _assigned_digest(assigned: Sequence[Assigned]) -> str:
    data = json.dumps([asdict(a) for a in assigned]).encode()
    return hashlib.sha256(data).hexdigest()


def annotate_partition(out_dir: str, name: str, assigned: list[Assigned], parquet: bool) -> bool:
    """The third pass's task: write the stories into a partition's records, unless
    they are there already; whether it rewrote the partition."""
    folder = Path(out_dir)
    marker = json.loads((folder / f"{name}{MARKER}").read_bytes())
    digest = _assigned_digest(assigned)
    if marker.get("stories") == digest:
        return False
    staged = _Staged(folder, name)
    try:
        out = staged.open(".jsonl")
        table = ParquetWriter(staged.temp(".parquet")) if parquet else None
        with (folder / f"{name}.jsonl").open("rb") as lines:
            for line, story in zip(lines, assigned, strict=True):
                article = with_story(Article.model_validate_json(line), story)
                out.write(article.model_dump_json().encode() + b"\n")
                if table is not None:
                    table.add(article)
        if table is not None:
            table.close()
        marker["stories"] = digest
        copies = folder / f"{name}.copies"
        staged.commit(marker, kept=[copies] if copies.exists() else [])
    except OSError as exc:
        raise SinkError(f"cannot write partition {name} in {out_dir}: {exc}") from exc
    finally:
        staged.discard()
    return True


# Client side ----------------------------------------------------------------------


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._-")[:NAME_CHARS] or "input"


def _short_hash(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:8]


def plan(inputs: Sequence[Path], on_error: Callable[[str, str], None]) -> list[Partition]:
    """The partitions of the inputs, in input order: one per WARC file, one per
    ``HTML_BATCH`` HTML files in a row. An input that cannot be listed goes to
    ``on_error`` (reason, message)."""
    partitions: list[Partition] = []
    batch: list[str] = []

    def close_batch() -> None:
        if batch:
            name = f"html-{_safe(Path(batch[0]).stem)}-{_short_hash(*batch)}"
            partitions.append(Partition(name, tuple(batch)))
            batch.clear()

    for path in inputs:
        try:
            for file in iter_input_files(path):
                absolute = str(file.resolve())
                if file.name.lower().endswith((".warc", ".warc.gz")):
                    close_batch()
                    name = f"{_safe(file.name)}-{_short_hash(absolute)}"
                    partitions.append(Partition(name, (absolute,)))
                else:
                    batch.append(absolute)
                    if len(batch) >= HTML_BATCH:
                        close_batch()
        except DiscoverError as exc:
            on_error(exc.reason, str(exc))
    close_batch()
    return partitions


def finished(folder: Path, partition: Partition, options: Options) -> Counts | None:
    """The counts of a partition an earlier run finished, when its marker matches
    its inputs and options and every output is there as the marker says."""
    try:
        marker = json.loads((folder / f"{partition.name}{MARKER}").read_bytes())
        if marker.get("fingerprint") != fingerprint(partition, options):
            return None
        for name, digest in marker["outputs"].items():
            if _sha256(folder / name) != digest:
                return None
        return Counts(
            marker["records"],
            Counter(marker["failures"]),
            Counter(marker["not_pages"]),
            list(marker["errors"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clear_temps(folder: Path, partitions: Sequence[Partition]) -> None:
    """Temporary files of killed attempts at these partitions (none is running)."""
    for partition in partitions:
        name = glob_escape(partition.name)
        # ``..<name>...``: the temporary file of the Parquet writer, named after ours.
        for tmp in [*folder.glob(f".{name}.*.tmp"), *folder.glob(f"..{name}.*.tmp")]:
            tmp.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@dataclass
class Summary:
    """What ``extract_archives`` did, over every partition."""

    partitions: int = 0
    skipped: int = 0
    failed_partitions: int = 0
    counts: Counts = field(default_factory=Counts)

    def add(self, counts: Counts) -> None:
        self.counts.records += counts.records
        self.counts.failures += counts.failures
        self.counts.not_pages += counts.not_pages

    @property
    def failed(self) -> int:
        return sum(self.counts.failures.values()) + self.failed_partitions


def _task_failure(partition: Partition, exc: BaseException) -> str:
    why = " ".join(str(exc).split()) or type(exc).__name__
    return f"partition {partition.name} failed on the cluster ({type(exc).__name__}: {why})"


def extract_archives(
    client: Any,
    inputs: Sequence[Path],
    options: Options,
    out_dir: Path | None,
    write: Callable[[Article], None],
    on_error: Callable[[str], None],
) -> Summary:
    """Extract ``inputs`` on the cluster of ``client``. With ``out_dir``, each
    partition lands there with its marker (finished ones are skipped); without it,
    each record goes to ``write``, in input order. Failures go to ``on_error``, one
    line each, in input order."""
    summary = Summary()
    partitions = plan(
        inputs, lambda reason, message: _input_failed(summary, on_error, reason, message)
    )
    summary.partitions = len(partitions)
    if out_dir is None:
        _stream(client, partitions, options, summary, write, on_error)
    else:
        _write_partitions(client, partitions, options, out_dir, summary, on_error)
    return summary


def _submit(client: Any, partition: Partition, options: Options, out_dir: Path | None) -> Any:
    folder = str(out_dir) if out_dir is not None else None
    key = _key("extract", partition)
    return client.submit(extract_partition, partition, options, folder, pure=False, key=key)


def _outcome(
    future: Any, partition: Partition, summary: Summary, on_error: Callable[[str], None]
) -> PartitionResult | None:
    """A task's result, or None (counted and reported) when it failed for good."""
    try:
        result: PartitionResult = future.result()
        return result
    except Exception as exc:
        summary.failed_partitions += 1
        on_error(_task_failure(partition, exc))
        return None
    finally:
        future.release()


def _tally(result: PartitionResult, summary: Summary, on_error: Callable[[str], None]) -> None:
    summary.add(result.counts)
    for message in result.counts.errors:
        on_error(message)


def _stream(
    client: Any,
    partitions: Sequence[Partition],
    options: Options,
    summary: Summary,
    write: Callable[[Article], None],
    on_error: Callable[[str], None],
) -> None:
    """Records to ``write`` in input order; a few partitions are submitted ahead of
    the one written, so results wait on the workers for a short while only."""
    stories = Stories() if options.stories else None
    ahead = 2 * max(1, sum(client.nthreads().values()))
    todo = iter(partitions)
    window: deque[tuple[Partition, Any]] = deque()
    while True:
        while len(window) < ahead and (partition := next(todo, None)) is not None:
            window.append((partition, _submit(client, partition, options, None)))
        if not window:
            return
        partition, future = window.popleft()
        result = _outcome(future, partition, summary, on_error)
        if result is None:
            continue
        _tally(result, summary, on_error)
        assigned = stories.assign(result.copies or []) if stories is not None else None
        for i, line in enumerate(result.lines or []):
            article = Article.model_validate_json(line)
            write(with_story(article, assigned[i]) if assigned is not None else article)


def _write_partitions(
    client: Any,
    partitions: Sequence[Partition],
    options: Options,
    out_dir: Path,
    summary: Summary,
    on_error: Callable[[str], None],
) -> None:
    """Each partition not finished before, written to ``out_dir`` by its task."""
    from distributed import as_completed

    _clear_temps(out_dir, partitions)
    results: dict[str, PartitionResult] = {}
    futures = {}
    for partition in partitions:
        if (done := finished(out_dir, partition, options)) is not None:
            results[partition.name] = PartitionResult(partition, done, skipped=True)
            summary.skipped += 1
        else:
            futures[_submit(client, partition, options, out_dir)] = partition
    for future in as_completed(futures):
        if (result := _outcome(future, futures[future], summary, on_error)) is not None:
            results[result.partition.name] = result
    for partition in partitions:
        if partition.name in results:
            _tally(results[partition.name], summary, on_error)
    if options.stories:
        _annotate(client, out_dir, partitions, results, options, Stories(), summary, on_error)
    _clear_temps(out_dir, partitions)  # of attempts killed with their worker


def _input_failed(
    summary: Summary, on_error: Callable[[str], None], reason: str, message: str
) -> None:
    summary.counts.failures[reason] += 1
    on_error(message)


def _key(kind: str, partition: Partition) -> str:
    return f"{kind}-{partition.name}-{uuid.uuid4().hex[:8]}"


class Stories:
    """The second pass: stories assigned in input order, as one run would (saved to
    the index every ``SAVE_EVERY`` copies, as a run saves every batch: the copies not
    yet saved are searched one by one)."""

    SAVE_EVERY = 50

    def __init__(self) -> None:
        self.clusters = Clusters(MemoryIndex())

    def assign(self, copies: Sequence[Copy]) -> list[Assigned]:
        assigned = []
        for copy in copies:
            assigned.append(self.clusters.place(copy))
            if len(self.clusters.pending) >= self.SAVE_EVERY:
                self.clusters.save()
        return assigned


def _annotate(
    client: Any,
    out_dir: Path,
    partitions: Sequence[Partition],
    results: dict[str, PartitionResult],
    options: Options,
    stories: Stories,
    summary: Summary,
    on_error: Callable[[str], None],
) -> None:
    """The second pass over the finished partitions, then the third (tasks)."""
    futures = {}
    for partition in partitions:
        if partition.name not in results:
            break  # a failed partition: the stories after it would change once it is done
        with (out_dir / f"{partition.name}.copies").open(encoding="utf-8") as lines:
            assigned = stories.assign([parse_copy(line) for line in lines])
        future = client.submit(
            annotate_partition,
            str(out_dir),
            partition.name,
            assigned,
            options.parquet,
            pure=False,
            key=_key("stories", partition),
        )
        futures[future] = partition
    for future, partition in futures.items():
        try:
            future.result()
        except Exception as exc:
            summary.failed_partitions += 1
            on_error(_task_failure(partition, exc))


class ClusterPool(ExtractPool):
    """``ExtractPool`` on a Dask cluster, for a run: each page is one task (its
    per-page time limit is the worker's pool's), and every page gets one outcome
    (a task lost with its workers is an ``extract`` failure)."""

    def __init__(self, client: Any, timeout: float) -> None:
        threads = sum(client.nthreads().values()) or 1
        super().__init__(threads, timeout)
        self.client = client
        self._running: set[Any] = set()
        self._lock = threading.Lock()

    def submit(self, page: Fetched) -> Future[Outcome]:
        done: Future[Outcome] = Future()
        task = self.client.submit(extract_one, page, self.timeout, pure=False)

        def settle(finished: Any) -> None:
            try:
                outcome = finished.result()
            except Exception as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                outcome = ExtractError(f"extraction task failed on the cluster: {why}")
            with self._lock:
                self._running.discard(finished)
            done.set_result(outcome)

        with self._lock:
            self._running.add(task)  # a future nobody holds is cancelled
        task.add_done_callback(settle)
        return done

    def close(self) -> None:
        with self._lock:
            running, self._running = list(self._running), set()
        for task in running:
            task.cancel()


@contextmanager
def engine_pool(address: str, timeout: float) -> Iterator[ClusterPool]:
    """A run's extraction on the engine at ``address``."""
    with connect(address) as client:
        pool = ClusterPool(client, timeout)
        try:
            yield pool
        finally:
            pool.close()
