"""Outputs, one directory per run under ``<output.dir>/runs/<run id>/``, and a
``latest`` link to the newest finished one.

While a run goes on, its records are appended to a journal
(``.records.jsonl.partial``) and fsynced batch by batch; only then does the state
mark them emitted. When the run ends, the journal becomes the run's outputs, each
written to a temporary name and renamed when complete:

* ``records.jsonl``: one ``Article`` per line (JSON Schema: ``scrape schema``);
* ``text/<id>.txt``: the seed-format text of each article (``id`` is hex, never
  page text, so file names are safe);
* ``records.parquet``: the same records for DuckDB or pandas (needs pyarrow);
* ``report.json``: what the run did (written by the pipeline).

A run killed before its end leaves its journal behind. The next run finishes it
(``recover``): the complete lines are kept, a torn last line is dropped (that page
is fetched again), and the state learns the kept records, so each article lands in
exactly one output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
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
RUNS = "runs"
LATEST = "latest"


def run_name(started: datetime) -> str:
    return started.strftime("%Y-%m-%dT%H-%M-%SZ")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SinkError(f"cannot write {path}: {exc}") from exc
    try:
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
    """Writes the outputs of runs under ``out_dir`` in the configured formats."""

    def __init__(self, out_dir: Path, formats: Sequence[str], captions_inline: bool = False):
        self.out_dir = Path(out_dir)
        self.formats = tuple(formats)
        self.captions_inline = captions_inline

    def new_run(self, started: datetime) -> RunOutput:
        base = self.out_dir / RUNS / run_name(started)
        folder, n = base, 1
        while folder.exists():  # two runs in one second
            n += 1
            folder = base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir(parents=True)
            return RunOutput(self, folder)
        except OSError as exc:
            raise SinkError(f"cannot create run directory {folder}: {exc}") from exc

    def unfinished(self) -> Iterator[Path]:
        """Run directories whose run was killed before finishing its outputs or its
        report (call while holding the run lock)."""
        for tmp in self.out_dir.glob(f".{LATEST}.*.tmp"):
            tmp.unlink(missing_ok=True)
        runs = self.out_dir / RUNS
        if runs.is_dir():
            for folder in sorted(runs.iterdir()):
                if not folder.is_dir():
                    continue  # not ours: left alone
                if (folder / JOURNAL).exists() or not (folder / REPORT).exists():
                    yield folder

    def finish(self, folder: Path) -> None:
        """Turn the journal of ``folder`` into the run's outputs (idempotent)."""
        journal = folder / JOURNAL
        try:
            for stale in [*folder.glob(".*.tmp"), *folder.glob("text/.*.tmp")]:
                stale.unlink()
            if not journal.exists():
                return  # finished already
            good = 0
            parquet = ParquetWriter(folder / PARQUET) if "parquet" in self.formats else None
            for article, end in iter_journal(journal):
                good = end
                if "text" in self.formats:
                    text = article_seed_text(article, self.captions_inline)
                    atomic_write(folder / "text" / f"{article.id}.txt", text.encode())
                if parquet:
                    parquet.add(article)
            if parquet:
                parquet.close()
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
        """Make ``<out_dir>/latest`` a link to ``folder``, atomically."""
        link = self.out_dir / LATEST
        tmp = self.out_dir / f".{LATEST}.{os.getpid()}.tmp"
        try:
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(folder.relative_to(self.out_dir), target_is_directory=True)
            os.replace(tmp, link)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot point {link} at {folder}: {exc}") from exc


def write_report(folder: Path, report: RunReport) -> None:
    atomic_write(folder / REPORT, report.model_dump_json(indent=2).encode())


class RunOutput:
    """The journal of one run: ``write`` returns once the batch is on disk."""

    def __init__(self, sinks: Sinks, folder: Path) -> None:
        self.sinks = sinks
        self.folder = folder
        self.journal = (folder / JOURNAL).open("ab")

    def write(self, articles: Sequence[Article]) -> None:
        if not articles:
            return
        try:
            self.journal.write(b"".join(a.model_dump_json().encode() + b"\n" for a in articles))
            self.journal.flush()
            os.fsync(self.journal.fileno())
        except OSError as exc:
            raise SinkError(f"cannot write output in {self.folder}: {exc}") from exc

    def finish(self) -> None:
        self.journal.close()
        self.sinks.finish(self.folder)


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
