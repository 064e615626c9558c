"""The ``scrape`` command: argument parsing, logging and exit codes only.

    scrape --config config.yaml [--full] [--since 2d] [--wait]   run every source
    scrape status --config config.yaml          recent runs and drift warnings
    scrape schema                               JSON Schema of a records.jsonl line
    scrape extract INPUT... [--url URL] [--format jsonl|text] [-o OUT] [--workers N]
                   [--timeout S] [--max-bytes N] [--in-process] [--stories]
                   [--no-learn] [--state STATE]
    scrape extract INPUT... --cluster local:N|tcp://HOST:PORT [-o DIR] [--parquet]
                   [--stories] [--timeout S] [--max-bytes N] [--format jsonl|text]
    scrape clean-text FILE... [-o OUT] [--captions-inline]
    scrape explain URL|FILE [--config CONFIG] [--url URL] [--html OUT.html]
    scrape templates --config config.yaml [SITE]  what was learned of each site
    scrape copy-state STATE_FILE POSTGRESQL_URL  move an SQLite state into PostgreSQL

Exit codes: 0 success; 1 some pages failed (the run still completed); 2 bad usage,
bad config, a state file that is corrupt or not a state file, a state database that
refuses the login or does not exist, or an output or state location that cannot be
created or written; 3 every source failed or nothing could be fetched, or the state
database or the Dask scheduler cannot be reached (try again later); 75 another run
holds the state lock; 130 or 143 the run was stopped by SIGINT or SIGTERM (its
outputs and report are written).

Every message goes to stderr as one line: control characters in file names, URLs
or page text are escaped (``\x1b``, ``\n``, ``\u2028``), never written raw.
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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TextIO

from . import pipeline
from .archives import extract_learning
from .clean import clean_lines
from .config import (
    CONTROL_CHARS,
    MAX_TIMEOUT,
    MAX_WORKERS,
    POSTGRES_SCHEMES,
    FetchConfig,
    Settings,
    StateUrl,
    TemplateConfig,
    load_settings,
    parse_duration,
    parse_engine,
    read_regular_file,
    state_location,
)
from .discover import DEFAULT_MAX_BYTES, iter_pages
from .errors import (
    ConfigError,
    DiscoverError,
    EngineError,
    ExtractError,
    LockedError,
    ScrapeError,
    SinkError,
    StateUnreachable,
    StoreError,
)
from .extract import ExtractPool
from .fetch import Fetcher
from .models import Article, Candidate, Fetched, RunReport, utc_now
from .normalise import article_seed_text, body_lines, parse_seed_text, seed_text
from .report import status_table, templates_table
from .rules import RuleBook
from .store import KEEP_RUNS, open_store, read_runs, read_templates
from .templates import SiteTemplates, page_url, site_of

OK, FAILED, USAGE, UNREACHABLE, LOCKED = 0, 1, 2, 3, 75
MAX_TEXT_BYTES = 50_000_000  # one seed-format dump given to clean-text


def escape_controls(text: str) -> str:
    """``text`` with control characters and line separators written as escapes
    (``\\x1b``, ``\\r``, ``\\n``, ``\\u2028``), so it stays one line and cannot
    move the cursor of a terminal."""
    return CONTROL_CHARS.sub(lambda m: repr(m[0])[1:-1], text)


IN_PROCESS_HELP = "extract in this process, for profiling (no hard time limit)"
CLUSTER_HELP = (
    "extract on a Dask cluster: local:N starts N workers on this host, tcp://HOST:PORT "
    "uses a running scheduler"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"scrape: {escape_controls(message)} (see scrape --help)\n")


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(value: str) -> int:
        try:
            number: int | None = int(value)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, not {value!r}"
            )
        return number

    return parse


def _seconds(value: str) -> float:
    """An argparse type: a time limit, more than 0 and at most ``MAX_TIMEOUT`` seconds."""
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = None
    if seconds is None or not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds, not {value!r}"
        )
    return seconds


def _engine(value: str) -> str:
    """An argparse type: an engine address (``config.parse_engine``)."""
    try:
        return parse_engine(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _state(value: str) -> StateUrl | Path:
    """An argparse type: a state file or PostgreSQL URL."""
    try:
        return state_location(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _state_url(value: str) -> StateUrl:
    """An argparse type: a PostgreSQL URL."""
    if not value.lower().startswith(POSTGRES_SCHEMES):
        raise argparse.ArgumentTypeError(f"not a postgresql:// URL: {value!r}")
    try:
        return StateUrl.checked(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scrape", description="Scrape and clean syndicated news pages.")
    parser.add_argument("--config", type=Path, help="run every source of this config file")
    parser.add_argument(
        "--workers",
        type=_int_in(0, MAX_WORKERS),
        help="extraction processes; 0 = one per core (default: config)",
    )
    parser.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    parser.add_argument(
        "--cluster",
        dest="run_engine",
        type=_engine,
        metavar="ADDRESS",
        help=CLUSTER_HELP + " (default: engine: in the config)",
    )
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
    st.add_argument(
        "-n", "--runs", type=_int_in(1, KEEP_RUNS), default=10, help="how many runs to show"
    )

    sub.add_parser("schema", help="print the JSON Schema of a records.jsonl line")

    ext = sub.add_parser("extract", help="extract articles from local HTML or WARC files")
    ext.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    ext.add_argument("--url", help="page URL (for a single HTML input)")
    ext.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    ext.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    ext.add_argument(
        "--workers",
        type=_int_in(0, MAX_WORKERS),
        help="processes (default: one per core)",
    )
    ext.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per page")
    ext.add_argument(
        "--max-bytes",
        type=_byte_count,
        default=DEFAULT_MAX_BYTES,
        help="cap on a page (a file, a WARC record) after decompression; a larger one "
        "is skipped as too_large (default: %(default)s, as fetch.max_bytes)",
    )
    ext.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    ext.add_argument("--captions-inline", action="store_true")
    ext.add_argument(
        "--cluster",
        type=_engine,
        metavar="ADDRESS",
        help=CLUSTER_HELP + "; -o then names a directory of partitions",
    )
    ext.add_argument(
        "--parquet", action="store_true", help="with --cluster -o DIR: a Parquet file per partition"
    )
    ext.add_argument(
        "--stories",
        action="store_true",
        help="story clusters over all the inputs: story_id and duplicate_of",
    )
    ext.add_argument(
        "--no-learn",
        action="store_true",
        help="one pass: do not learn the templates of sites with many pages in the inputs",
    )
    ext.add_argument(
        "--state",
        type=_state,
        metavar="STATE",
        help="read and update the learned templates of this run state (SQLite file or "
        "postgresql:// URL)",
    )

    xp = sub.add_parser("explain", help="why each block of one page is in or out of its record")
    xp.add_argument("target", metavar="URL|FILE", help="an http(s) URL (fetched) or an HTML file")
    xp.add_argument(
        "--config",
        type=Path,
        dest="explain_config",
        metavar="CONFIG",
        help="apply this config's site rules and learned templates, and its fetch settings",
    )
    xp.add_argument("--url", help="the page's URL, for a FILE")
    xp.add_argument("--html", type=Path, metavar="OUT.html", help="also write an HTML report")

    tp = sub.add_parser("templates", help="the site templates learned in the state")
    tp.add_argument(
        "--config",
        type=Path,
        dest="templates_config",
        required=True,
        metavar="CONFIG",
        help="the config whose state to read",
    )
    tp.add_argument("site", nargs="?", help="list the template blocks of this site")

    cp = sub.add_parser("copy-state", help="copy an SQLite state file into a new PostgreSQL state")
    cp.add_argument("state_file", type=Path, metavar="STATE_FILE")
    cp.add_argument("url", type=_state_url, metavar="POSTGRESQL_URL")

    ct = sub.add_parser("clean-text", help="re-clean seed-format text dumps")
    ct.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ct.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    ct.add_argument("--captions-inline", action="store_true", help="keep caption lines")
    return parser


def _make_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents); raises ``OSError`` naming the reason."""
    for ancestor in (folder, *folder.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                raise NotADirectoryError(f"{ancestor} is not a directory")
            break
    folder.mkdir(parents=True, exist_ok=True)


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears only once complete. A target that cannot be
    written is a ``SinkError`` raised before any work is done."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        if path.is_dir():
            raise IsADirectoryError("is a directory")
        _make_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _error(message: str) -> None:
    print(f"scrape: {escape_controls(message)}", file=sys.stderr)


def _byte_count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of bytes")
    return int(value)


def _input_pages(
    args: argparse.Namespace, failures: list[str], not_pages: Counter[str], report: bool = True
) -> Iterator[Fetched]:
    """The pages of the inputs; each file or record that cannot be read is named on
    one line of stderr (unless not ``report``), and each WARC record that is no page
    counted by reason."""

    def on_error(where: str, exc: DiscoverError) -> None:
        failures.append(where)
        if report:
            _error(f"{exc.reason} {where}: {exc}")

    def on_skip(reason: str) -> None:
        not_pages[reason] += 1

    for path in args.inputs:
        try:
            for page in iter_pages(path, "extract", args.max_bytes, on_error, on_skip=on_skip):
                yield page.model_copy(update={"url": args.url}) if args.url else page
        except ScrapeError as exc:
            failures.append(str(path))
            if report:
                _error(str(exc))


class _Records:
    """Writes records to ``out`` as JSON lines or seed-format text."""

    def __init__(self, out: TextIO, text: bool, captions_inline: bool) -> None:
        self.out, self.text, self.captions_inline = out, text, captions_inline
        self.first = True

    def __call__(self, article: Article) -> None:
        if self.text:
            lead = "" if self.first else "\n"
            self.out.write(lead + article_seed_text(article, self.captions_inline))
        else:
            self.out.write(article.model_dump_json() + "\n")
        self.first = False


def _in_stories() -> Callable[[Article], Article]:
    """Each article in its story, over everything extracted so far (in memory)."""
    from .cluster import Stories, with_story
    from .dedup import Copy

    stories = Stories()
    return lambda article: with_story(article, stories.assign([Copy.of(article)])[0])


def _passed_over(not_pages: Counter[str]) -> None:
    if not_pages:
        counts = ", ".join(f"{reason}={n}" for reason, n in sorted(not_pages.items()))
        _error(f"passed over {sum(not_pages.values())} WARC records that are no page ({counts})")


def cmd_extract(args: argparse.Namespace) -> int:
    if args.url and (len(args.inputs) > 1 or args.inputs[0].is_dir()):
        _error("--url applies to a single HTML file")
        return USAGE
    if args.cluster:
        return cmd_extract_cluster(args)
    if args.parquet:
        _error("--parquet needs --cluster and -o DIR (partitions)")
        return USAGE
    failures: list[str] = []
    not_pages: Counter[str] = Counter()
    in_story = _in_stories() if args.stories else None

    def pages(quiet: bool) -> Iterator[Fetched]:
        if quiet:  # read again: what it reports was reported the first time
            return _input_pages(args, [], Counter(), report=False)
        return _input_pages(args, failures, not_pages)

    try:
        with ExitStack() as stack:
            store = stack.enter_context(open_store(args.state)) if args.state else None
            templates = SiteTemplates(TemplateConfig(learn=not args.no_learn), store)
            out = stack.enter_context(_output(args.output))
            pool = stack.enter_context(
                ExtractPool(args.workers or 0, args.timeout, in_process=args.in_process)
            )
            write = _Records(out, args.format == "text", args.captions_inline)

            def emit(page: Fetched, outcome: object) -> None:
                if not isinstance(outcome, Article):
                    failures.append(page.url)
                    _error(f"{page.url}: {outcome}")
                    return
                write(in_story(outcome) if in_story else outcome)

            if args.no_learn:
                for page, outcome in pool.map(pages(False)):
                    emit(page, outcome)
            else:
                learning = extract_learning(pages, pool, templates, emit)
                if learning.sites:
                    _error(
                        f"learned the templates of {len(learning.sites)} site(s) in a first "
                        f"pass; extracted {learning.again} page(s) again with them"
                    )
    except StoreError as exc:
        return _state_failed(exc)
    _passed_over(not_pages)
    return FAILED if failures else OK


def cmd_extract_cluster(args: argparse.Namespace) -> int:
    """``scrape extract --cluster``: partitions to ``-o DIR``, or records to stdout."""
    from .cluster import Options, connect, extract_archives

    for given, flag in ((args.url, "--url"), (args.workers is not None, "--workers")):
        if given:
            _error(f"{flag} does not apply with --cluster (workers are the cluster's)")
            return USAGE
    if args.state:
        _error("--state does not apply with --cluster (a cluster does not learn templates)")
        return USAGE
    if args.in_process:
        _error("--in-process does not apply with --cluster")
        return USAGE
    if args.output is not None and args.format == "text":
        _error("with --cluster, -o DIR receives JSONL partitions; --format text is for stdout")
        return USAGE
    if args.parquet and args.output is None:
        _error("--parquet needs -o DIR")
        return USAGE
    if args.output is not None:
        try:
            _make_dir(args.output)
        except OSError as exc:
            raise SinkError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    options = Options(args.timeout, args.max_bytes, args.parquet, args.stories)
    write = _Records(sys.stdout, args.format == "text", args.captions_inline)
    try:
        with connect(args.cluster) as client:
            summary = extract_archives(client, args.inputs, options, args.output, write, _error)
    except EngineError as exc:
        _error(str(exc))
        return UNREACHABLE
    sys.stdout.flush()
    _passed_over(summary.counts.not_pages)
    if args.output is not None:
        failed = ", ".join(f"{k}={v}" for k, v in sorted(summary.counts.failures.items()))
        _error(
            f"{summary.partitions} partition(s) in {args.output} "
            f"({summary.skipped} finished by an earlier run, {summary.failed_partitions} "
            f"failed): {summary.counts.records} records, "
            f"{sum(summary.counts.failures.values())} pages failed"
            + (f" ({failed})" if failed else "")
        )
    return FAILED if summary.failed else OK


def cmd_clean_text(args: argparse.Namespace) -> int:
    """Each input that is missing, not a regular file (a FIFO would block for ever)
    or over ``MAX_TEXT_BYTES`` is one failure (exit 1); the others are cleaned."""
    failed = False
    docs: list[str] = []
    for path in args.files:
        try:
            data = read_regular_file(path, MAX_TEXT_BYTES)
        except OSError as exc:
            _error(f"cannot read {path}: {exc.strerror or exc}")
            failed = True
            continue
        title, lines = parse_seed_text(data.decode("utf-8", errors="replace"))
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


def _since(value: str) -> datetime:
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
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


def _prepare_dirs(settings: Settings) -> bool:
    """Create the output and state directories, or say in one line why not (before
    the state or a run folder is touched)."""
    folders = [("output", settings.output.dir)]
    if not isinstance(settings.state, StateUrl):
        folders.insert(0, ("state", settings.state.parent))
    for what, folder in folders:
        try:
            _make_dir(folder)
        except OSError as exc:
            _error(f"cannot create the {what} directory {folder}: {exc.strerror or exc}")
            return False
    return True


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None or not _prepare_dirs(settings):
        return USAGE
    if args.run_engine:
        settings.engine = args.run_engine
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
    except (StateUnreachable, EngineError) as exc:  # try again later
        _error(str(exc))
        return UNREACHABLE
    except (StoreError, SinkError) as exc:  # the state or the outputs cannot be written
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


def _state_failed(exc: StoreError) -> int:
    """One line for a state that cannot be used, and the exit code that says why."""
    _error(str(exc))
    if isinstance(exc, LockedError):
        return LOCKED
    return UNREACHABLE if isinstance(exc, StateUnreachable) else USAGE


def cmd_status(args: argparse.Namespace) -> int:
    settings = _load(args.status_config)
    if settings is None:
        return USAGE
    try:
        runs = read_runs(settings.state, args.runs)
    except StoreError as exc:
        return _state_failed(exc)
    print("\n".join(map(escape_controls, status_table(runs).split("\n"))))
    return OK


def cmd_copy_state(args: argparse.Namespace) -> int:
    from .store_pg import copy_from_sqlite

    if not args.state_file.is_file():
        _error(f"no state file at {args.state_file}")
        return USAGE
    try:
        copied = copy_from_sqlite(args.state_file, args.url)
    except StoreError as exc:
        return _state_failed(exc)
    counts = ", ".join(f"{table}={n}" for table, n in copied.items())
    _error(f"copied {args.state_file} into {args.url.redacted()}: {counts}")
    return OK


def cmd_templates(args: argparse.Namespace) -> int:
    settings = _load(args.templates_config)
    if settings is None:
        return USAGE
    template = settings.template
    try:
        views = read_templates(
            settings.state, args.site, utc_now() - template.max_age, template.min_pages
        )
    except StoreError as exc:
        return _state_failed(exc)
    print("\n".join(map(escape_controls, templates_table(views, template, args.site))))
    return OK


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import DEFAULT_TIMEOUT, explain, report_html, report_text

    settings = _load(args.explain_config) if args.explain_config else None
    if args.explain_config and settings is None:
        return USAGE
    target: str = args.target
    is_url = target.lower().startswith(("http://", "https://"))
    if is_url and args.url:
        _error("--url applies to a FILE")
        return USAGE
    fetch = settings.fetch if settings else FetchConfig()
    if args.html is not None and args.html.is_dir():
        _error(f"cannot write {args.html}: is a directory")
        return USAGE
    try:
        if is_url:
            page = asyncio.run(_fetch_one(Fetcher(fetch), target))
        else:
            page = _one_page(Path(target), fetch.max_bytes)
    except ScrapeError as exc:
        _error(f"{getattr(exc, 'reason', 'unreadable')} {target}: {exc}")
        return FAILED
    url = args.url or page.url
    where = url if url.startswith(("http://", "https://")) else page_url(page)
    site_rules = RuleBook(settings.site_rules()).for_url(where) if settings else None
    template: frozenset[int] = frozenset()
    if settings is not None and (site := site_of(where)) is not None:
        template = _learned(settings, site)
    timeout = settings.extract.timeout if settings else DEFAULT_TIMEOUT
    try:
        found = explain(
            page.body,
            url,
            encoding=page.encoding,
            site_rules=site_rules,
            template=template,
            timeout=timeout,
        )
    except ExtractError as exc:
        _error(f"unreadable {target}: {exc}")
        return FAILED
    print(report_text(found))
    if args.html is not None:
        with _output(args.html) as out:
            out.write(report_html(found))
    return OK if found.article is not None else FAILED


async def _fetch_one(fetcher: Fetcher, url: str) -> Fetched:
    async with fetcher:
        return await fetcher.fetch(Candidate(url=url, source="explain"))


def _one_page(path: Path, max_bytes: int) -> Fetched:
    """The one page of an HTML file (a WARC record too, when it holds only one)."""
    problems: list[ScrapeError] = []
    pages = iter_pages(path, "explain", max_bytes, lambda where, exc: problems.append(exc))
    found = list(islice(pages, 2))
    if problems:
        raise problems[0]
    if not found:
        raise DiscoverError("holds no HTML page", "not_html")
    if len(found) > 1:
        raise DiscoverError("holds several pages; explain takes one", "unreadable")
    return found[0]


def _learned(settings: Settings, site: str) -> frozenset[int]:
    """The learned template of ``site`` in the config's state (none if it has none)."""
    template = settings.template
    if not template.learn:
        return frozenset()
    try:
        views = read_templates(
            settings.state, site, utc_now() - template.max_age, template.min_pages
        )
    except StoreError as exc:
        _error(f"the learned templates are not applied: {exc}")
        return frozenset()
    found = views[0].template(template.min_pages, template.min_share) if views else []
    return frozenset(p.print for p in found)


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


class _TextFormatter(logging.Formatter):
    """One line per record, with control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


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
        handler.setFormatter(_TextFormatter("scrape: %(message)s"))
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
        if args.command == "copy-state":
            return cmd_copy_state(args)
        if args.command == "explain":
            return cmd_explain(args)
        if args.command == "templates":
            return cmd_templates(args)
        if args.config is None:
            build_parser().print_usage(sys.stderr)
            _error(
                "give --config FILE, or a command (status, schema, extract, explain, "
                "templates, clean-text, copy-state)"
            )
            return USAGE
        return cmd_run(args)
    except SinkError as exc:  # -o cannot be written
        _error(str(exc))
        return USAGE
    except BrokenPipeError:
        return OK


if __name__ == "__main__":
    sys.exit(main())
