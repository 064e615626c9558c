"""Outputs, one directory per run under ``<output.dir>/runs/<run id>/``, and a
``latest`` link to the newest finished one.

While a run goes on, its records are appended to a journal
(``.records.jsonl.partial``) and fsynced batch by batch; only then does the state
mark them emitted. When the run ends, the journal becomes the run's outputs, each
written under a temporary name and renamed when complete:

* ``records.jsonl``: one ``Article`` per line (JSON Schema: ``scrape schema``);
* ``text/<id>.txt``: the seed-format text of each article (``id`` is hex, never
  page text, so file names are safe), written into a hidden folder that is made
  durable in one sweep and then renamed to ``text``;
* ``records.parquet``: the same records for DuckDB or pandas (needs pyarrow);
* ``report.json``: what the run did (written by the pipeline).

Every output file gets the mode of a plain new file, 0o666 less the umask.
``latest`` moves to a folder only once every file in it is on disk.

A run killed before its end leaves its journal behind. The next run finishes it
(``recover``): the complete lines are kept, a torn last line is dropped (that page
is fetched again), and the state learns the kept records, so each article lands in
exactly one output.

A run folder is deleted (an empty run's, or an old one by ``prune``) by renaming it
to a hidden name first, so a crash midway leaves nothing that reads as a run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import SinkError
from .models import Article, RunReport
from .normalise import article_seed_text

RECORDS = "records.jsonl"
PARQUET = "records.parquet"
JOURNAL = ".records.jsonl.partial"
REPORT = "report.json"
TEXT = "text"
TEXT_PARTIAL = ".text.partial"
RUNS = "runs"
LATEST = "latest"
REMOVED = ".removed"  # runs/.<run id>.removed: a run folder being deleted
RUN_TIME = "%Y-%m-%dT%H-%M-%SZ"
_RUN_NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)(?:-(\d+))?")


def run_name(started: datetime) -> str:
    return started.strftime(RUN_TIME)


def run_started(name: str) -> tuple[datetime, int] | None:
    """When the run of folder ``name`` started, and its number within that second
    (``-2`` for the second run); None for a folder not named by a run."""
    match = _RUN_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        started = datetime.strptime(match[1], RUN_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    return started, int(match[2] or 1)


def file_mode() -> int:
    """The mode ``open()`` gives a new file, 0o666 less the umask (``mkstemp``
    makes 0o600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes its entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Sequence[Path]) -> None:
    """Make the files at ``paths`` durable in one sweep: ask the kernel to start
    writing them all, then fsync each. An fsync right after each write waits for
    each file in turn; started together, the writes overlap and the fsyncs find
    most of the work done (less than half the cost: benchmarks/README.md)."""
    if hasattr(os, "posix_fadvise"):
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # starts the writeback
            finally:
                os.close(fd)
    for path in paths:
        fsync_path(path)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SinkError(f"cannot write {path}: {exc}") from exc
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise SinkError(f"cannot write {path}: {exc}") from exc
        raise


def iter_journal(path: Path) -> Iterator[tuple[Article, int]]:
    """The records of a journal up to its first incomplete line, each with the
    byte offset where its line ends."""
    end = 0
    with path.open("rb") as lines:
        for line in lines:
            if not line.endswith(b"\n"):
                return
            try:
                article = Article.model_validate_json(line)
            except ValidationError:
                return
            end += len(line)
            yield article, end


def drop_from_journal(path: Path, ids: set[str]) -> None:
    """Rewrite a killed run's journal without the records of ``ids`` (emitted by
    another run since), atomically; a torn last line goes too."""
    kept = [a.model_dump_json().encode() + b"\n" for a, _ in iter_journal(path) if a.id not in ids]
    atomic_write(path, b"".join(kept))


class Sinks:
    """Writes the outputs of runs under ``out_dir`` in the configured formats
    (``skip_empty_runs``: a run that emitted nothing keeps no folder)."""

    def __init__(
        self,
        out_dir: Path,
        formats: Sequence[str],
        captions_inline: bool = False,
        skip_empty_runs: bool = False,
    ):
        self.out_dir = Path(out_dir)
        self.formats = tuple(formats)
        self.captions_inline = captions_inline
        self.skip_empty_runs = skip_empty_runs

    def new_run(
        self, started: datetime, taken: Callable[[str], bool] = lambda _: False
    ) -> RunOutput:
        """A new run folder, named by ``started`` and never by a name ``taken``
        already (a run that emitted nothing has its report but no folder)."""
        base = self.out_dir / RUNS / run_name(started)
        folder, n = base, 1
        while folder.exists() or taken(folder.name):  # two runs in one second
            n += 1
            folder = base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir(parents=True)
            return RunOutput(self, folder)
        except OSError as exc:
            raise SinkError(f"cannot create run directory {folder}: {exc}") from exc

    def unfinished(self) -> Iterator[Path]:
        """Run directories whose run was killed before finishing its outputs or its
        report (call while holding the run lock). What a killed deletion left is
        deleted first."""
        for tmp in self.out_dir.glob(f".{LATEST}.*.tmp"):
            tmp.unlink(missing_ok=True)
        runs = self.out_dir / RUNS
        if runs.is_dir():
            for trash in runs.glob(f".*{REMOVED}"):
                shutil.rmtree(trash, ignore_errors=True)
            for folder in sorted(runs.iterdir()):
                if not folder.is_dir() or folder.name.startswith("."):
                    continue  # not ours: left alone
                if (folder / JOURNAL).exists() or not (folder / REPORT).exists():
                    yield folder

    def finish(self, folder: Path) -> None:
        """Turn the journal of ``folder`` into the run's outputs (idempotent)."""
        journal = folder / JOURNAL
        try:
            for stale in folder.glob(".*.tmp"):
                stale.unlink()
            if (folder / TEXT_PARTIAL).exists():
                shutil.rmtree(folder / TEXT_PARTIAL)
            if not journal.exists():
                return  # finished already
            if (folder / TEXT).exists():
                shutil.rmtree(folder / TEXT)  # a killed finish's: made again from the journal
            good = 0
            parquet = ParquetWriter(folder / PARQUET) if "parquet" in self.formats else None
            texts = TextFiles(folder) if "text" in self.formats else None
            for article, end in iter_journal(journal):
                good = end
                if texts:
                    texts.add(f"{article.id}.txt", article_seed_text(article, self.captions_inline))
                if parquet:
                    parquet.add(article)
            if parquet:
                parquet.close()
            if texts:
                texts.close()
            if good < journal.stat().st_size:
                with journal.open("r+b") as out:  # drop a torn last line
                    out.truncate(good)
                    os.fsync(out.fileno())
            if "jsonl" in self.formats:
                os.replace(journal, folder / RECORDS)
            else:
                journal.unlink()
        except OSError as exc:
            raise SinkError(f"cannot write output in {folder}: {exc}") from exc

    def point_latest(self, folder: Path) -> None:
        """Make ``<out_dir>/latest`` a link to ``folder``, atomically, once the
        names in ``folder`` are on disk too (its files are already)."""
        link = self.out_dir / LATEST
        tmp = self.out_dir / f".{LATEST}.{os.getpid()}.tmp"
        try:
            fsync_path(folder)
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(folder.relative_to(self.out_dir), target_is_directory=True)
            os.replace(tmp, link)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot point {link} at {folder}: {exc}") from exc

    def remove(self, folder: Path) -> None:
        """Delete a run folder: renamed to a hidden name first (atomic), so a crash
        midway leaves no half folder that reads as a run."""
        trash = folder.with_name(f".{folder.name}{REMOVED}")
        try:
            if trash.exists():
                shutil.rmtree(trash)
            os.replace(folder, trash)
            shutil.rmtree(trash)
        except OSError as exc:
            raise SinkError(f"cannot remove run folder {folder}: {exc}") from exc

    def prune(self, keep_runs: int | None, keep_days: float | None, now: datetime) -> list[Path]:
        """Delete the finished run folders beyond the newest ``keep_runs`` and those
        started more than ``keep_days`` before ``now``; never the folder ``latest``
        points to, one still to be recovered (a journal, or no report yet), or a
        folder not named by a run. Returns the deleted folders."""
        runs = self.out_dir / RUNS
        if (keep_runs is None and keep_days is None) or not runs.is_dir():
            return []
        link = self.out_dir / LATEST
        latest = link.resolve() if link.is_symlink() else None
        finished = []
        for folder in runs.iterdir():
            started = run_started(folder.name)
            if started is None or folder.is_symlink() or not folder.is_dir():
                continue
            if (folder / JOURNAL).exists() or not (folder / REPORT).exists():
                continue
            finished.append((started, folder))
        finished.sort(reverse=True)
        cutoff = now - timedelta(days=keep_days) if keep_days is not None else None
        removed = []
        for rank, ((started_at, _), folder) in enumerate(finished):
            surplus = keep_runs is not None and rank >= keep_runs
            old = cutoff is not None and started_at < cutoff
            if (surplus or old) and folder.resolve() != latest:
                self.remove(folder)
                removed.append(folder)
        return removed


class TextFiles:
    """The ``text/<id>.txt`` files of a run: written into a hidden folder with no
    fsync each, made durable in one sweep, then renamed to ``text`` at once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.partial = folder / TEXT_PARTIAL
        self.partial.mkdir()
        self.paths: list[Path] = []

    def add(self, name: str, text: str) -> None:
        path = self.partial / name
        path.write_bytes(text.encode())
        self.paths.append(path)

    def close(self) -> None:
        sync_files(self.paths)
        fsync_path(self.partial)
        os.replace(self.partial, self.folder / TEXT)
        fsync_path(self.folder)  # ``text`` is on disk before the journal is renamed


def write_report(folder: Path, report: RunReport) -> None:
    atomic_write(folder / REPORT, report.model_dump_json(indent=2).encode())


class RunOutput:
    """The journal of one run: ``write`` returns once the batch is on disk."""

    def __init__(self, sinks: Sinks, folder: Path) -> None:
        self.sinks = sinks
        self.folder = folder
        self.journal = (folder / JOURNAL).open("ab")
        self.records = 0

    @property
    def keeps_folder(self) -> bool:
        """Whether the run's folder stays when it ends: it holds records, or empty
        runs keep theirs too."""
        return bool(self.records) or not self.sinks.skip_empty_runs

    def write(self, articles: Sequence[Article]) -> None:
        if not articles:
            return
        try:
            self.journal.write(b"".join(a.model_dump_json().encode() + b"\n" for a in articles))
            self.journal.flush()
            os.fsync(self.journal.fileno())
        except OSError as exc:
            raise SinkError(f"cannot write output in {self.folder}: {exc}") from exc
        self.records += len(articles)

    def finish(self) -> None:
        self.journal.close()
        self.sinks.finish(self.folder)

    def discard(self) -> None:
        """End a run that keeps no folder: the folder goes, journal and all."""
        self.journal.close()
        self.sinks.remove(self.folder)


def _parquet_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("id", text),
            ("version", pa.int64()),
            ("previous_hash", text),
            ("url", text),
            ("canonical_url", text),
            ("title", text),
            ("standfirst", text),
            ("authors", pa.list_(text)),
            ("published", text),
            ("site", text),
            ("source", text),
            ("language", text),
            ("extraction", text),
            ("text", text),
            ("paragraphs", pa.list_(text)),
            ("word_count", pa.int64()),
            ("content_hash", text),
            ("fetched_at", pa.timestamp("s", tz="UTC")),
            (
                "captions",
                pa.list_(pa.struct([("text", text), ("credit", text), ("position", pa.int64())])),
            ),
            ("related", pa.list_(pa.struct([("title", text), ("url", text), ("source", text)]))),
        ]
    )


class ParquetWriter:
    """Writes records to ``path`` in row groups, then renames it into place."""

    ROWS = 1000

    def __init__(self, path: Path) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise SinkError(
                "the parquet format needs pyarrow: pip install 'scraper[parquet]'"
            ) from exc
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, file_mode())
        finally:
            os.close(fd)
        self.schema = _parquet_schema()
        self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.rows: list[dict[str, Any]] = []

    def add(self, article: Article) -> None:
        self.rows.append(article.model_dump())
        if len(self.rows) >= self.ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []

    def close(self) -> None:
        try:
            self._flush()
            self.writer.close()
            with open(self.tmp, "rb") as done:
                os.fsync(done.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:
            Path(self.tmp).unlink(missing_ok=True)
            raise
