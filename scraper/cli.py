"""The ``scrape`` command: argument parsing and exit codes only.

    scrape --config config.yaml                 run every source, write outputs
    scrape extract INPUT... [--url URL] [--format jsonl|text] [-o OUT] [--workers N]
    scrape clean-text FILE... [-o OUT] [--captions-inline]

Exit codes: 0 success; 1 some pages failed (the run still completed) or the run
was interrupted; 2 bad usage or bad config; 3 another run holds the state lock.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from . import pipeline
from .clean import clean_lines
from .config import load_settings
from .discover import iter_pages
from .errors import ConfigError, ScrapeError
from .extract import ExtractPool
from .models import Article, Fetched
from .normalise import article_seed_text, body_lines, parse_seed_text, seed_text
from .store import LockedError

OK, FAILED, USAGE, LOCKED = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"scrape: {message} (see scrape --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scrape", description="Scrape and clean syndicated news pages.")
    parser.add_argument("--config", type=Path, help="run every source of this config file")
    parser.add_argument("--workers", type=int, help="extraction processes (default: config)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ext = sub.add_parser("extract", help="extract articles from local HTML or WARC files")
    ext.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    ext.add_argument("--url", help="page URL (for a single HTML input)")
    ext.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    ext.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    ext.add_argument("--workers", type=int, default=0, help="processes; 1 = in-process")
    ext.add_argument("--timeout", type=float, default=30.0, help="seconds per page")
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
    with _output(args.output) as out, ExtractPool(args.workers, args.timeout) as pool:
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


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _error(str(exc))
        return USAGE
    try:
        report = asyncio.run(pipeline.run(settings, workers=args.workers))
    except LockedError as exc:
        _error(str(exc))
        return LOCKED
    except KeyboardInterrupt:
        _error("interrupted; records written so far are kept")
        return FAILED
    except ScrapeError as exc:
        _error(str(exc))
        return FAILED
    print(report.summary(), file=sys.stderr)
    return FAILED if report.failed else OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="scrape: %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "extract":
            return cmd_extract(args)
        if args.command == "clean-text":
            return cmd_clean_text(args)
        if args.config is None:
            build_parser().print_usage(sys.stderr)
            _error("give --config FILE, or a command (extract, clean-text)")
            return USAGE
        return cmd_run(args)
    except BrokenPipeError:
        return OK


if __name__ == "__main__":
    sys.exit(main())
