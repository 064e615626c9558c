"""Reading run reports: the drift alert and the ``scrape status`` table.

Sites change templates without warning, and a scraper then quietly emits empty or
polluted text. ``drift`` compares each source's figures of a run with the same
source's recent runs and flags those far outside their usual range, with a robust
rule (median and median absolute deviation) so that one odd past run cannot hide a
change. ``status_table`` renders recent runs as plain text for a terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import median
from typing import TYPE_CHECKING

from .models import Drift, RunReport, SourceReport, StorySize

if TYPE_CHECKING:
    from .config import TemplateConfig
    from .templates import SiteView

HISTORY_LIMIT = 20  # past values used per figure, newest first
MIN_HISTORY = 5  # fewer past values than this and a figure is never flagged
MAD_SCALE = 1.4826  # makes the MAD estimate a standard deviation for normal noise
RELATIVE_SPREAD = 0.25  # of |median|: large counts vary more in absolute terms
TOLERANCE = 3.0  # spreads away from the median before a value is flagged
# The smallest spread per figure, so that a perfectly steady history does not
# turn ordinary noise (one failed page, a couple fewer articles) into an alert.
SPREAD_FLOOR = {"emitted": 3.0, "failed_share": 0.1, "median_words": 50.0}

NO_RUNS = "no runs recorded yet"
TITLE_CHARS = 70  # a story title in `scrape status`, cut to one terminal line


def figure_value(counts: SourceReport, figure: str) -> float | None:
    value = getattr(counts, figure)
    return None if value is None else float(value)


def past_values(source: str, figure: str, history: list[RunReport]) -> list[float]:
    """The figure over the usable past runs of ``source``, newest first."""
    values = []
    for run in history:
        counts = run.sources.get(source)
        if run.interrupted or counts is None:
            continue
        value = figure_value(counts, figure)
        if value is not None:
            values.append(value)
        if len(values) == HISTORY_LIMIT:
            break
    return values


def figure_drift(source: str, figure: str, value: float, past: list[float]) -> Drift | None:
    if len(past) < MIN_HISTORY:
        return None
    usual = median(past)
    mad = median(abs(v - usual) for v in past)
    spread = max(MAD_SCALE * mad, RELATIVE_SPREAD * abs(usual), SPREAD_FLOOR[figure])
    if abs(value - usual) <= TOLERANCE * spread:
        return None
    return Drift(
        source=source,
        figure=figure,
        value=value,
        usual=usual,
        low=max(0.0, usual - TOLERANCE * spread),
        high=usual + TOLERANCE * spread,
    )


def drift(report: RunReport, history: list[RunReport]) -> list[Drift]:
    """Figures of ``report``'s sources far outside their range in ``history``
    (earlier runs, newest first), sorted by source then figure."""
    found = []
    for source, counts in report.sources.items():
        for figure in SPREAD_FLOOR:
            value = figure_value(counts, figure)
            if value is None:
                continue
            alert = figure_drift(source, figure, value, past_values(source, figure, history))
            if alert is not None:
                found.append(alert)
    return sorted(found, key=lambda d: (d.source, d.figure))


# Header, and whether the column holds numbers (right-aligned). Headers are short
# (304: not modified) and numbers are one space apart, so that a row fits a
# 100-column terminal with room for the notes.
COLUMNS = (
    ("run", False),
    ("started", False),
    ("secs", True),
    ("exit", True),
    ("found", True),
    ("fetch", True),
    ("304", True),
    ("emit", True),
    ("fail", True),
    ("notes", False),
)


def iso_utc(moment: datetime) -> str:
    # Reports written by older versions may hold naive datetimes; they were UTC.
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_notes(run: RunReport) -> str:
    notes = ["interrupted"] if run.interrupted else []
    if run.warnings:
        n = len(run.warnings)
        notes.append(f"{n} drift warning{'s' if n != 1 else ''}")
    return ", ".join(notes)


def run_row(run: RunReport) -> list[str]:
    return [
        run.run_id,
        iso_utc(run.started),
        f"{run.seconds:.0f}",
        "-" if run.exit_code is None else str(run.exit_code),
        str(run.discovered),
        str(run.fetched),
        str(run.not_modified),
        str(run.emitted),
        str(run.failed),
        run_notes(run),
    ]


def aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    numeric = [is_number for _, is_number in COLUMNS]
    lines = []
    for row in rows:
        line = ""
        for i, cell in enumerate(row):
            if i:
                line += " " if numeric[i - 1] and numeric[i] else "  "
            line += cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
        lines.append(line.rstrip())
    return lines


def status_table(runs: list[RunReport]) -> str:
    """The runs (newest first) as an aligned table, then the drift warnings of the
    most recent run that has any."""
    if not runs:
        return NO_RUNS
    lines = aligned([[header for header, _ in COLUMNS], *(run_row(run) for run in runs)])
    warned = next((run for run in runs if run.warnings), None)
    if warned is not None:
        lines.append("")
        lines.extend(f"{warned.run_id}: {w.message()}" for w in warned.warnings)
    if runs[0].stories:
        lines.append("")
        lines.append(f"{runs[0].run_id}: largest story clusters (copies, story id, title)")
        lines.extend(story_line(story) for story in runs[0].stories)
    return "\n".join(lines)


def story_line(story: StorySize) -> str:
    title = story.title if len(story.title) <= TITLE_CHARS else story.title[: TITLE_CHARS - 1] + "…"
    return f"{story.copies:5d}  {story.story_id}  {title}"


def templates_table(views: list[SiteView], settings: TemplateConfig, site: str | None) -> list[str]:
    """``scrape templates``: per site, its pages and template blocks; with ``site``,
    each template block of that site (pages seen on, share, where and a sample)."""
    days = settings.max_age.total_seconds() / 86400
    rule = (
        f"template: seen outside the body on >= {settings.min_pages} pages and on >= "
        f"{settings.min_share:.0%} of the site's pages since first seen; last {days:g} days"
    )
    if not views:
        return ["no site templates learned yet", rule]
    if site is None:
        lines = [f"{'pages':>7}  {'template blocks':>15}  site"]
        for view in views:
            found = view.template(settings.min_pages, settings.min_share)
            lines.append(f"{len(view.page_times):7}  {len(found):15}  {view.site}")
        return [*lines, rule]
    view = views[0]
    found = view.template(settings.min_pages, settings.min_share)
    lines = [
        f"{view.site}: {len(view.page_times)} pages learned, {len(found)} template blocks",
        rule,
        f"{'pages':>7}  {'share':>5}  block",
    ]
    for learned in found:
        sample = learned.sample or f"(fingerprint {learned.print})"
        lines.append(f"{learned.pages:7}  {view.share(learned):5.0%}  {sample}")
    return lines
