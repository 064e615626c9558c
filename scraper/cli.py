"""The ``scrape`` command: argument parsing, logging and exit codes only.

    scrape --config config.yaml [--full] [--since 2d] [--wait]   run every source
    scrape status --config config.yaml          recent runs and drift warnings
    scrape schema                               JSON Schema of a records.jsonl line
    scrape extract INPUT... [--url URL] [--format jsonl|text] [-o OUT] [--workers N]
                   [--timeout S] [--in-process]
    scrape clean-text FILE... [-o OUT] [--captions-inline]

Exit codes: 0 success; 1 some pages failed (the run still completed); 2 bad usage,
bad config, or a state file that is corrupt or not a state file; 3 every source
failed or nothing could be fetched; 75 another run holds the state lock; 130 or
143 the run was stopped by SIGINT or SIGTERM (its outputs and report are written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from . import pipeline
from .clean import clean_lines
from .config import Settings, load_settings, parse_duration
from .discover import iter_pages
from .errors import ConfigError, LockedError, ScrapeError, StateFileError, StoreError
from .extract import ExtractPool
from .models import Article, Fetched, RunReport, utc_now
from .normalise import article_seed_text, body_lines, parse_seed_text, seed_text
from .report import status_table
from .store import read_runs

OK, FAILED, USAGE, LOCKED = 0, 1, 2, 75
IN_PROCESS_HELP = "extract in this process, for profiling (no hard time limit)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"scrape: {message} (see scrape --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scrape", description="Scrape and clean syndicated news pages.")
    parser.add_argument("--config", type=Path, help="run every source of this config file")
    parser.add_argument("--workers", type=_workers, help="extraction processes (default: config)")
    parser.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    parser.add_argument(
        "--full", action="store_true", help="fetch every URL again, ignoring seen URLs"
    )
    parser.add_argument(
        "--since", type=_since, help="only items dated after this (2d, 12h, 2026-11-01)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for a running run instead of exiting 75"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr as text lines (default) or one JSON object per line",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    st = sub.add_parser("status", help="recent runs and drift warnings, from the state")
    st.add_argument(
        "--config",
        type=Path,
        dest="status_config",
        required=True,
        metavar="CONFIG",
        help="the config whose state to read",
    )
    st.add_argument("-n", "--runs", type=int, default=10, help="how many runs to show")

    sub.add_parser("schema", help="print the JSON Schema of a records.jsonl line")

    ext = sub.add_parser("extract", help="extract articles from local HTML or WARC files")
    ext.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    ext.add_argument("--url", help="page URL (for a single HTML input)")
    ext.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    ext.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    ext.add_argument(
        "--workers", type=_workers, default=0, help="processes (default: one per core)"
    )
    ext.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per page")
    ext.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    ext.add_argument("--captions-inline", action="store_true")

    ct = sub.add_parser("clean-text", help="re-clean seed-format text dumps")
    ct.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ct.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    ct.add_argument("--captions-inline", action="store_true", help="keep caption lines")
    return parser


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears only once complete."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _error(message: str) -> None:
    print(f"scrape: {message}", file=sys.stderr)


def _input_pages(inputs: list[Path], url: str | None, failures: list[str]) -> Iterator[Fetched]:
    def on_error(where: str, exc: ScrapeError) -> None:
        failures.append(where)
        _error(str(exc))

    for path in inputs:
        try:
            for page in iter_pages(path, "extract", on_error=on_error):
                yield page.model_copy(update={"url": url}) if url else page
        except ScrapeError as exc:
            failures.append(str(path))
            _error(str(exc))


def cmd_extract(args: argparse.Namespace) -> int:
    if args.url and (len(args.inputs) > 1 or args.inputs[0].is_dir()):
        _error("--url applies to a single HTML file")
        return USAGE
    failures: list[str] = []
    first = True
    with (
        _output(args.output) as out,
        ExtractPool(args.workers, args.timeout, in_process=args.in_process) as pool,
    ):
        for page, outcome in pool.map(_input_pages(args.inputs, args.url, failures)):
            if not isinstance(outcome, Article):
                failures.append(page.url)
                _error(f"{page.url}: {outcome}")
                continue
            if args.format == "jsonl":
                out.write(outcome.model_dump_json() + "\n")
            else:
                out.write(
                    ("" if first else "\n") + article_seed_text(outcome, args.captions_inline)
                )
            first = False
    return FAILED if failures else OK


def cmd_clean_text(args: argparse.Namespace) -> int:
    failed = False
    docs: list[str] = []
    for path in args.files:
        try:
            title, lines = parse_seed_text(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            _error(f"cannot read {path}: {exc.strerror or exc}")
            failed = True
            continue
        cleaned = clean_lines(lines)
        article = Article(
            url="",
            canonical_url="",
            title=title,
            paragraphs=cleaned.lines,
            captions=cleaned.captions,
        )
        docs.append(seed_text(title, body_lines(article, args.captions_inline)))
    with _output(args.output) as out:
        out.write("\n".join(docs))
    return FAILED if failed else OK


def _workers(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of processes (0 = one per core)"
        )
    return count


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def _since(value: str) -> datetime:
    duration = parse_duration(value)
    if isinstance(duration, timedelta):
        return utc_now() - duration
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a duration (90m, 12h, 2d) nor a date (2026-11-01)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _load(path: Path) -> Settings | None:
    try:
        return load_settings(path)
    except ConfigError as exc:
        _error(str(exc))
        return None


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return USAGE
    if args.since:
        for source in settings.sources:
            source.since = max(args.since, source.since) if source.since else args.since
    stop = pipeline.Stop()
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    progress = _progress(args)
    try:
        report = asyncio.run(
            pipeline.run(
                settings,
                workers=args.workers,
                in_process=args.in_process,
                full=args.full,
                wait_lock=args.wait,
                stop=stop,
                on_page=progress.update if progress else None,
            )
        )
    except LockedError as exc:
        _error(str(exc))
        return LOCKED
    except StateFileError as exc:
        _error(str(exc))
        return USAGE
    except KeyboardInterrupt:
        _error("interrupted at once; the next run finishes what was written")
        return 128 + (stop.signum or signal.SIGINT)
    except ScrapeError as exc:
        _error(str(exc))
        return FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if progress:
            progress.close()
    if args.log_format == "json":
        summary = report.summary().removeprefix("scrape: ")
        fields = {"run_id": report.run_id, "exit_code": report.exit_code, **report.totals}
        print(_JsonFormatter.line("INFO", summary, **fields), file=sys.stderr)
    else:
        print(report.summary(), file=sys.stderr)
    return report.exit_code if report.exit_code is not None else FAILED


def cmd_status(args: argparse.Namespace) -> int:
    settings = _load(args.status_config)
    if settings is None:
        return USAGE
    try:
        runs = read_runs(settings.state, args.runs)
    except StoreError as exc:
        _error(str(exc))
        return USAGE
    print(status_table(runs))
    return OK


def cmd_schema(args: argparse.Namespace) -> int:
    schema = Article.model_json_schema(mode="serialization")
    print(json.dumps(schema, indent=2))
    return OK


class _Progress:
    """A live count of the pages handled, on a terminal only."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(unit=" pages", file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, report: RunReport) -> None:
        self.bar.set_postfix(emitted=report.emitted, failed=report.failed, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _progress(args: argparse.Namespace) -> _Progress | None:
    if args.log_format == "json" or not sys.stderr.isatty():
        return None
    return _Progress()


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    FIELDS = ("url", "reason", "source")

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)}
        return self.line(record.levelname, record.getMessage(), **extra)

    @staticmethod
    def line(level: str, message: str, **fields: object) -> str:
        stamp = utc_now().isoformat().replace("+00:00", "Z")
        return json.dumps({"time": stamp, "level": level, "message": message, **fields})


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment, which tests swap."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _setup_logging(args: argparse.Namespace) -> None:
    handler = _StderrHandler()
    if args.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("scrape: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if args.verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        if args.command == "extract":
            return cmd_extract(args)
        if args.command == "clean-text":
            return cmd_clean_text(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "schema":
            return cmd_schema(args)
        if args.config is None:
            build_parser().print_usage(sys.stderr)
            _error("give --config FILE, or a command (status, schema, extract, clean-text)")
            return USAGE
        return cmd_run(args)
    except BrokenPipeError:
        return OK


if __name__ == "__main__":
    sys.exit(main())
