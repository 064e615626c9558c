import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scraper.models import Drift, RunReport
from scraper.report import drift, status_table

STARTED = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def run(
    n: int,
    emitted: int = 20,
    words: float | None = 600.0,
    failed: int = 0,
    source: str = "wire",
    interrupted: bool = False,
) -> RunReport:
    """Run number ``n`` (runs are six hours apart) with one source."""
    started = STARTED + timedelta(hours=6 * n)
    report = RunReport(
        run_id=started.strftime("%Y-%m-%dT%H-%M-%SZ"),
        started=started,
        interrupted=interrupted,
    )
    counts = report.source(source)
    counts.discovered = emitted + failed + 5
    counts.fetched = emitted
    counts.extracted = emitted
    counts.emitted = emitted
    counts.median_words = words
    if failed:
        counts.failures["http_error"] = failed
    return report


def steady_history(runs: int = 10, source: str = "wire") -> list[RunReport]:
    """Identical past runs, newest first."""
    return [run(n, source=source) for n in reversed(range(runs))]


def noisy_history(rng: random.Random, runs: int = 20) -> list[RunReport]:
    return [
        run(
            n,
            emitted=rng.randint(15, 25),
            words=rng.uniform(500, 700),
            failed=1 if rng.random() < 0.2 else 0,
        )
        for n in reversed(range(runs))
    ]


def test_drift_fires_when_pages_lose_their_body_text():
    [alert] = drift(run(10, words=30.0), steady_history())
    assert alert == Drift(
        source="wire", figure="median_words", value=30.0, usual=600.0, low=150.0, high=1050.0
    )
    assert alert.message() == (
        "drift: source 'wire': median words 30 is far outside its usual 600 (expected 150 to 1050)"
    )


def test_drift_fires_when_a_steady_source_emits_nothing():
    [alert] = drift(run(10, emitted=0, words=None), steady_history())
    assert (alert.figure, alert.value, alert.usual, alert.low, alert.high) == (
        "emitted",
        0.0,
        20.0,
        5.0,
        35.0,
    )


def test_drift_fires_when_every_page_fails():
    alerts = drift(run(10, emitted=0, words=None, failed=20), steady_history())
    assert [a.figure for a in alerts] == ["emitted", "failed_share"]
    share = alerts[1]
    assert (share.value, share.usual, share.low, share.high) == pytest.approx((1.0, 0.0, 0.0, 0.3))


def test_drift_stays_quiet_on_ordinary_noise():
    rng = random.Random(7)
    history = noisy_history(rng, runs=40)
    # every run of the noisy stream, judged against the runs before it
    for i in range(len(history) - 5):
        assert drift(history[i], history[i + 1 :]) == [], history[i].run_id
    assert drift(run(40, emitted=16, words=520.0, failed=2), history) == []


def test_drift_still_fires_through_noise():
    history = noisy_history(random.Random(7))
    alerts = drift(run(20, emitted=18, words=35.0), history)
    assert [(a.figure, a.value) for a in alerts] == [("median_words", 35.0)]


def test_drift_tolerates_small_absolute_changes_in_a_small_source():
    # a source of a few short briefs a run: floors keep the range from collapsing
    history = [run(n, emitted=3, words=80.0) for n in range(10, 0, -1)]
    assert drift(run(11, emitted=0, words=150.0), history) == []
    [alert] = drift(run(11, emitted=13, words=150.0), history)
    assert (alert.figure, alert.low, alert.high) == ("emitted", 0.0, 12.0)


def test_drift_needs_five_past_runs():
    assert drift(run(10, emitted=0, words=30.0, failed=20), steady_history(4)) == []
    assert len(drift(run(10, emitted=0, words=30.0, failed=20), steady_history(5))) == 3


def test_drift_skips_interrupted_runs_and_other_sources():
    history = [
        *(run(n, emitted=0, words=20.0, interrupted=True) for n in range(20, 10, -1)),
        *(run(n, emitted=0, words=20.0, source="other") for n in range(10, 0, -1)),
        *steady_history(5),
    ]
    alerts = drift(run(21, words=30.0), history)
    assert [(a.figure, a.usual) for a in alerts] == [("median_words", 600.0)]


def test_drift_uses_only_the_twenty_most_recent_values():
    # 20 recent runs at 30 words (the new normal) hide the older 600-word runs
    history = [run(n, words=30.0) for n in range(40, 20, -1)] + steady_history(20)
    assert drift(run(41, words=30.0), history) == []
    assert [a.usual for a in drift(run(41, words=600.0), history)] == [30.0]


def test_drift_skips_missing_figures_and_sorts_by_source():
    history = [run(n, source=name) for n in range(10, 0, -1) for name in ("wire", "agency", "blog")]
    for past in history:
        if "blog" in past.sources:
            past.sources["blog"].median_words = None  # too few articles to have one
    report = run(11, words=30.0, source="wire")
    report.sources["agency"] = run(11, words=30.0, source="agency").sources["agency"]
    report.sources["blog"] = run(11, words=30.0, source="blog").sources["blog"]
    alerts = drift(report, history)
    assert [(a.source, a.figure) for a in alerts] == [
        ("agency", "median_words"),
        ("wire", "median_words"),
    ]
    assert drift(run(11, emitted=20, words=None), steady_history()) == []


def with_warning(report: RunReport, source: str = "wire") -> RunReport:
    report.warnings = [Drift(source=source, figure="emitted", value=0, usual=20, low=5, high=35)]
    return report


def test_status_table_lists_runs_newest_first_with_headers():
    older = run(0, failed=2)
    older.exit_code, older.seconds = 1, 61.7
    newer = run(1, emitted=7, interrupted=True)
    newer.exit_code, newer.seconds = 130, 3.2
    lines = status_table([newer, older]).splitlines()
    assert lines[0].split() == [
        "run", "started", "secs", "exit", "found", "fetch", "304", "emit", "fail", "notes"
    ]  # fmt: skip
    assert lines[1].split() == [
        "2026-11-24T12-00-00Z", "2026-11-24T12:00:00Z", "3", "130", "12", "7", "0", "7", "0",
        "interrupted",
    ]  # fmt: skip
    assert lines[2].split() == [
        "2026-11-24T06-00-00Z", "2026-11-24T06:00:00Z", "62", "1", "27", "20", "0", "20", "2",
    ]  # fmt: skip
    assert len(lines) == 3
    assert len({line.index("2026-11-24T", 1) for line in lines[1:]}) == 1  # aligned


def test_status_table_shows_a_dash_for_a_missing_exit_code_and_utc_times():
    report = run(0)
    plus_two = timezone(timedelta(hours=2))
    report.started = datetime(2026, 11, 24, 9, 30, 5, 123456, tzinfo=plus_two)
    row = status_table([report]).splitlines()[1].split()
    assert row[1:4] == ["2026-11-24T07:30:05Z", "0", "-"]


def test_status_table_lists_the_warnings_of_the_latest_run_that_has_any():
    runs = [run(3), with_warning(run(2), "agency"), with_warning(run(1), "old")]
    text = status_table(runs)
    lines = text.splitlines()
    assert lines[2].endswith("  1 drift warning")
    assert lines[3].endswith("  1 drift warning")
    assert lines[-2:] == [
        "",
        "2026-11-24T18-00-00Z: drift: source 'agency': emitted 0 is far outside its usual 20 "
        "(expected 5 to 35)",
    ]
    assert "'old'" not in text
    assert all(len(line) <= 100 for line in lines[:-1])


def test_status_table_has_no_warning_section_without_warnings():
    assert len(status_table([run(1), run(0)]).splitlines()) == 3


def test_status_table_without_runs():
    assert status_table([]) == "no runs recorded yet"
