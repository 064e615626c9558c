"""The state on a real PostgreSQL server (the session's throwaway one): the same
behaviour as the SQLite file, shared by several hosts: a lock per source, articles
emitted once whichever host finds them, story clusters seen by every host, and its
own schema versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from scraper.cli import main
from scraper.config import StateUrl, parse_settings
from scraper.errors import ConfigError, StateFileError, StateUnreachable, StoreError
from scraper.models import Article, RunReport
from scraper.store import Store, Validators, open_store, read_runs, read_templates
from scraper.store_pg import PG_SCHEMA_VERSION, PgStore, copy_from_sqlite, lock_key

from .conftest import FIXTURES, ROOT, all_records, latest_report, write_config
from .pgserver import free_port
from .test_cluster import STORY, story_page


def article(url: str, text: str = "p", version: int = 1) -> Article:
    return Article(url=url, canonical_url=url, title="T", paragraphs=[text], version=version)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """A state location of each backend: the same tests hold for both."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return StateUrl.checked(request.getfixturevalue("pg_url"))


def test_both_backends_keep_articles_urls_validators_backoff_and_runs(location):
    a = article("https://x.example/a")
    with open_store(location) as store:
        assert not store.seen_url("https://x.example/a?utm_source=feed")
        lost = store.emit([(a, ["https://x.example/a?utm_source=feed", a.url], None)], list)
        assert lost == []
        store.mark_urls(
            ["https://x.example/b"], validators=Validators("https://x.example/b", '"e"', None)
        )
        store.touch("https://x.example/b")
        store.save_backoff({"slow.example": RunReport().started.replace(year=2999)})
        store.save_backoff({"slow.example": RunReport().started.replace(year=2998)})
        store.record_run(RunReport(run_id="r1"))
    with open_store(location) as store:
        assert store.seen_url("https://x.example/a?utm_source=feed")
        assert store.emitted(a.id).content_hash == a.content_hash
        assert store.validators("https://x.example/b").etag == '"e"'
        assert store.backoff()["slow.example"].year == 2999  # the later time is kept
        assert [r.run_id for r in store.recent_runs()] == ["r1"]


def test_both_backends_keep_story_clusters(location):
    from scraper.dedup import Clusters

    text = " ".join(STORY["paragraphs"])
    first = Article(
        url="https://wire.example/a",
        canonical_url="https://wire.example/a",
        title="A",
        paragraphs=[text],
    )
    copy = Article(
        url="https://portal.example/b",
        canonical_url="https://portal.example/b",
        title="B",
        paragraphs=[text, "More."],
    )
    with open_store(location) as store:
        clusters = Clusters(store, "r1")
        clusters.assign(first)
        clusters.save()
    with open_store(location) as store:
        assigned = Clusters(store, "r2").assign(copy)
        assert (assigned.story_id, assigned.duplicate_of) == (first.id, first.id)
        assert store.story(first.id).first_article == first.id


def test_an_article_claimed_by_one_host_is_left_out_by_the_other(pg_url):
    """Host A holds its transaction open while its journal is written; host B,
    emitting the same article, waits for it and then finds it taken."""
    url = StateUrl.checked(pg_url)
    a = article("https://x.example/shared")
    writing, release = threading.Event(), threading.Event()
    written: dict[str, list[str]] = {}

    def slow_write(articles: list[Article]) -> None:
        writing.set()
        release.wait(30)
        written["a"] = [x.id for x in articles]

    with open_store(url) as host_a, open_store(url) as host_b:
        first = threading.Thread(target=lambda: host_a.emit([(a, [a.url], None)], slow_write))
        first.start()
        assert writing.wait(30)
        second: dict[str, object] = {}

        def emit_b() -> None:
            second["lost"] = host_b.emit(
                [(a, [a.url], None)],
                lambda arts: second.setdefault("written", [x.id for x in arts]),
            )

        other = threading.Thread(target=emit_b)
        other.start()
        time.sleep(0.5)
        assert other.is_alive()  # B waits for A's claim to commit
        release.set()
        first.join(30)
        other.join(30)
    assert written["a"] == [a.id]
    assert second["written"] == [] and [x.id for x in second["lost"]] == [a.id]


def test_a_failed_write_claims_nothing(pg_url):
    url = StateUrl.checked(pg_url)
    a = article("https://x.example/a")

    def broken(articles: list[Article]) -> None:
        raise OSError("disk full")

    with open_store(url) as store:
        with pytest.raises(OSError):
            store.emit([(a, [a.url], None)], broken)
        assert store.emitted(a.id) is None and not store.seen_url(a.url)
        assert store.emit([(a, [a.url], None)], list) == []


def test_a_newer_version_is_claimed_and_an_older_one_is_not(pg_url):
    url = StateUrl.checked(pg_url)
    with open_store(url) as store:
        assert store.emit([(article("https://x.example/a", "one"), [], None)], list) == []
        v2 = article("https://x.example/a", "two", version=2)
        assert store.emit([(v2, [], None)], list) == []
        assert store.emit([(v2, [], None)], list) == [v2]  # the same version again
        assert store.emitted(v2.id).version == 2


def fixture_config(tmp_path: Path, name: str, state: str, source: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_config(
        folder,
        [{"name": source, "type": "files", "path": str(FIXTURES / "pages")}],
        state=state,
    )


def state_report(pg_url: str) -> dict:
    """The report of the newest run on the shared state."""
    return read_runs(StateUrl.checked(pg_url), 1)[0].model_dump(mode="json")


def runs_of(config: Path) -> list[Path]:
    runs = config.parent / "out" / "runs"
    return list(runs.iterdir()) if runs.exists() else []


def test_two_cron_runs_on_one_postgresql_state_never_emit_an_article_twice(tmp_path, pg_url):
    """Two hosts (processes) run different sources that find the same articles, at
    the same time: each article is written by exactly one of them."""
    configs = [fixture_config(tmp_path, f"host{i}", pg_url, f"source{i}") for i in (1, 2)]
    command = [sys.executable, "-m", "scraper.cli", "--workers", "1", "--config"]
    runs = [subprocess.Popen([*command, str(c)], cwd=ROOT, stderr=subprocess.PIPE) for c in configs]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()
    records = [r for c in configs for r in all_records(c.parent / "out")]
    ids = [r["id"] for r in records]
    pages = len(list((FIXTURES / "pages").glob("*.html")))
    assert len(ids) == len(set(ids)) == pages
    # one of the two may have emitted nothing, and so kept no run folder: the shared
    # state has both reports
    reports = read_runs(StateUrl.checked(pg_url), 2)
    assert {r.run_id for r in reports} >= {p.name for c in configs for p in runs_of(c)}
    assert sum(r.emitted for r in reports) == pages


def test_a_source_held_by_another_host_is_skipped_and_reported(tmp_path, pg_url, capsys):
    config = fixture_config(tmp_path, "host", pg_url, "archive")
    with psycopg.connect(pg_url, autocommit=True) as other_host:
        other_host.execute("SELECT pg_advisory_lock(%s)", (lock_key("source", "archive"),))
        assert main(["--config", str(config)]) == 0
        err = capsys.readouterr().err
        assert "source 'archive' is being run by another host: skipped" in err
        assert "held by another host: archive" in err
        report = state_report(pg_url)  # a run that emitted nothing keeps no folder
        assert report["held_elsewhere"] == ["archive"] and report["totals"]["emitted"] == 0
    assert main(["--config", str(config)]) == 0  # released: this run takes it
    assert latest_report(config.parent / "out")["totals"]["emitted"] == 7


def test_story_clusters_are_shared_by_hosts(tmp_path, pg_url):
    for name, url, page in (
        (
            "wire",
            "https://wire.example/summit",
            story_page(STORY["title"], STORY["paragraphs"], "Wire"),
        ),
        (
            "portal",
            "https://portal.example/b",
            story_page("Summit deal", STORY["paragraphs"], "Portal"),
        ),
    ):
        pages = tmp_path / f"{name}-pages"
        pages.mkdir()
        html = page.replace(b"<head>", f"<head><link rel='canonical' href='{url}'>".encode())
        (pages / "story.html").write_bytes(html)
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(
            folder, [{"name": name, "type": "files", "path": str(pages)}], state=pg_url
        )
        assert main(["--config", str(config)]) == 0
    first, copy = (
        all_records(tmp_path / "wire" / "out")[0],
        all_records(tmp_path / "portal" / "out")[0],
    )
    assert copy["story_id"] == first["id"] and copy["duplicate_of"] == first["id"]


def test_scrape_status_reads_the_runs_of_a_postgresql_state(tmp_path, pg_url, capsys):
    config = fixture_config(tmp_path, "host", pg_url, "archive")
    assert main(["--config", str(config)]) == 0
    run_id = latest_report(config.parent / "out")["run_id"]
    capsys.readouterr()
    assert main(["status", "--config", str(config)]) == 0
    assert run_id in capsys.readouterr().out


def test_two_hosts_opening_a_new_database_at_once_migrate_it_once(pg_url):
    url = StateUrl.checked(pg_url)
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            with PgStore(url):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT version FROM scraper_schema").fetchall() == [(PG_SCHEMA_VERSION,)]


def test_a_database_with_a_newer_schema_is_refused_and_left_alone(pg_url, tmp_path, capsys):
    url = StateUrl.checked(pg_url)
    with PgStore(url):
        pass
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("UPDATE scraper_schema SET version = 99")
    with pytest.raises(StateFileError, match="schema version 99, newer than"):
        PgStore(url).__enter__()
    config = fixture_config(tmp_path, "host", pg_url, "archive")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "upgrade scraper" in err and err.count("\n") == 1
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT version FROM scraper_schema").fetchone() == (99,)


def test_a_database_holding_other_tables_of_those_names_is_refused(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("CREATE TABLE articles (x INTEGER)")
    with pytest.raises(StateFileError, match=r"tables named like the state's \(articles\)"):
        PgStore(StateUrl.checked(pg_url)).__enter__()


def test_an_unreachable_server_exits_3_and_a_missing_database_exits_2(tmp_path, postgres, capsys):
    dead = f"postgresql://scraper:secret@127.0.0.1:{free_port()}/state"
    with pytest.raises(StateUnreachable):
        PgStore(StateUrl.checked(dead)).__enter__()
    config = fixture_config(tmp_path, "dead", dead, "archive")
    assert main(["--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("scrape: cannot connect to the state database postgresql://scraper:***@")
    assert "secret" not in err and err.count("\n") == 1
    assert not (tmp_path / "dead" / "out" / "runs").exists()  # nothing written

    missing = postgres.url("no_such_database")
    with pytest.raises(StoreError) as exc:
        PgStore(StateUrl.checked(missing)).__enter__()
    assert not isinstance(exc.value, StateUnreachable)
    config = fixture_config(tmp_path, "missing", missing, "archive")
    assert main(["--config", str(config)]) == 2
    assert 'database "no_such_database" does not exist' in capsys.readouterr().err


def test_a_bad_postgresql_url_is_a_config_error_naming_the_field():
    sources = [{"name": "a", "type": "files", "path": "x"}]
    with pytest.raises(ConfigError, match=r"^config: state: .*bad PostgreSQL URL") as exc:
        parse_settings({"sources": sources, "state": "postgresql://u:pw@h/db?nosuch=1"})
    assert "pw" not in str(exc.value)
    settings = parse_settings({"sources": sources, "state": "postgresql://u@h:5432/db"})
    assert isinstance(settings.state, StateUrl)
    assert isinstance(parse_settings({"sources": sources}).state, Path)


def test_sqlite_state_takes_no_source_lock(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.lock_sources(["a", "b"]) == []


def test_copy_state_moves_an_sqlite_state_so_a_run_on_postgresql_finds_nothing_new(
    tmp_path, pg_url, capsys
):
    local = fixture_config(tmp_path, "local", str(tmp_path / "local" / "state.sqlite"), "archive")
    assert main(["--config", str(local)]) == 0
    first_run = latest_report(local.parent / "out")["run_id"]
    capsys.readouterr()

    assert main(["copy-state", str(tmp_path / "local" / "state.sqlite"), pg_url]) == 0
    err = capsys.readouterr().err
    assert "articles=7" in err and "runs=1" in err and err.count("\n") == 1

    shared = fixture_config(tmp_path, "shared", pg_url, "archive")
    assert main(["--config", str(shared), "--full"]) == 0
    report = state_report(pg_url)  # a run that emitted nothing keeps no folder
    assert report["totals"]["emitted"] == 0 and report["totals"]["unchanged"] == 7
    assert main(["status", "--config", str(shared)]) == 0
    assert first_run in capsys.readouterr().out

    from scraper.dedup import Clusters

    with open_store(StateUrl.checked(pg_url)) as store:  # new members follow the copied ones
        clusters = Clusters(store, "r3")
        clusters.assign(article("https://x.example/new", " ".join(STORY["paragraphs"])))
        clusters.save()
        assert store.story_member(article("https://x.example/new").id) is not None

    assert main(["copy-state", str(tmp_path / "local" / "state.sqlite"), pg_url]) == 2
    assert "is not empty: copy into a new one" in capsys.readouterr().err


def test_with_wait_a_run_waits_for_a_source_held_elsewhere(tmp_path, pg_url):
    config = fixture_config(tmp_path, "host", pg_url, "archive")
    command = [sys.executable, "-m", "scraper.cli", "--workers", "1", "--wait", "--config"]
    with psycopg.connect(pg_url, autocommit=True) as other_host:
        other_host.execute("SELECT pg_advisory_lock(%s)", (lock_key("source", "archive"),))
        waiting = subprocess.Popen([*command, str(config)], cwd=ROOT, stderr=subprocess.PIPE)
        time.sleep(2.0)
        assert waiting.poll() is None  # still waiting for the lock
    _, err = waiting.communicate(timeout=120)  # the other session ended, its lock with it
    assert waiting.returncode == 0, err.decode()
    assert latest_report(config.parent / "out")["totals"]["emitted"] == 7


def test_a_killed_hosts_journal_keeps_only_what_no_other_host_emitted_since(tmp_path, pg_url):
    """Host A is killed after its journal's fsync, before its claim commits; host B
    then emits one of A's articles. A's next run finishes A's outputs without it."""
    from scraper.models import utc_now
    from scraper.pipeline import recover
    from scraper.sinks import Sinks

    url = StateUrl.checked(pg_url)
    sinks = Sinks(tmp_path / "out", ["jsonl"])
    output = sinks.new_run(utc_now())
    mine, shared = article("https://x.example/mine"), article("https://x.example/shared")
    older = article("https://x.example/older")

    def journal_then_die(articles: list[Article]) -> None:
        output.write(articles)
        raise KeyboardInterrupt  # as a kill: the transaction is rolled back

    with open_store(url) as host_a:
        assert host_a.emit([(older, [older.url], None)], output.write, output.folder.name) == []
        with pytest.raises(KeyboardInterrupt):
            batch = [(mine, [mine.url], None), (shared, [shared.url], None)]
            host_a.emit(batch, journal_then_die, output.folder.name)
    output.journal.close()
    with open_store(url) as host_b:
        assert host_b.emit([(shared, [shared.url], None)], list, "host-b-run") == []
        newer = article("https://x.example/older", "changed", version=2)
        assert host_b.emit([(newer, [newer.url], None)], list, "host-b-run") == []
    with open_store(url) as host_a:
        recover(sinks, host_a)
        assert host_a.emitted(mine.id) is not None and host_a.seen_url(mine.url)
        assert host_a.emitted(older.id).version == 2  # a recovery never takes a version back
    kept = (output.folder / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in kept] == [older.id, mine.id]


def test_two_runs_sharing_an_output_folder_take_turns_even_on_a_shared_state(
    tmp_path, pg_url, capsys
):
    from scraper.store import take_lock
    from scraper.store_pg import RUN_LOCK

    config = fixture_config(tmp_path, "host", pg_url, "archive")
    held = take_lock(config.parent / "out" / RUN_LOCK, False, "the output folder")
    try:
        assert main(["--config", str(config)]) == 75
        assert "another run holds the lock" in capsys.readouterr().err
        assert not (config.parent / "out" / "runs").exists()
    finally:
        held.close()
    assert main(["--config", str(config)]) == 0


def test_without_postgresql_the_tests_fail_saying_how_to_install_it(tmp_path):
    from .pgserver import BIN_VARIABLE

    env = {**os.environ, BIN_VARIABLE: str(tmp_path / "no-postgresql-here")}
    test = "tests/test_store_pg.py::test_a_failed_write_claims_nothing"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "apt-get install postgresql-15" in done.stdout
    assert "1 error" in done.stdout and "skipped" not in done.stdout


# --- learned site templates ---------------------------------------------------------


def _learn(store: Store, pages: dict[int, tuple[tuple[int, str], ...]], days_ago: int = 0) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    store.learn_templates("site.example", pages, when, when - timedelta(days=60))


def test_both_backends_count_each_template_block_once_per_page(location):
    chrome = ((11, "div.top: Our newsroom"), (-12, "p.legal: No reproduction"))
    with open_store(location) as store:
        for page in range(6):
            _learn(store, {page: (*chrome, (1000 + page, "p: a teaser of its own"))})
        _learn(store, {0: chrome})  # seen again: not counted again
        view = store.template_view("site.example", datetime.now(UTC) - timedelta(days=60), 5)
    assert len(view.page_times) == 6
    assert {p.print: p.pages for p in view.prints} == {11: 6, -12: 6}
    assert {p.sample for p in view.prints} == {"div.top: Our newsroom", "p.legal: No reproduction"}
    assert {p.print for p in view.template(5, 0.3)} == {11, -12}
    cutoff = datetime.now(UTC) - timedelta(days=60)
    listed = read_templates(location, None, cutoff, 5)
    assert [v.site for v in listed] == ["site.example"]


def test_both_backends_forget_what_was_not_seen_for_max_age(location):
    with open_store(location) as store:
        for page in range(6):
            _learn(store, {page: ((7, "div: old chrome"),)}, days_ago=90)
        _learn(store, {100: ((8, "div: new chrome"),)})
        view = store.template_view("site.example", datetime.now(UTC) - timedelta(days=60), 1)
    assert [p.print for p in view.prints] == [8]
    assert len(view.page_times) == 1


def test_a_site_keeps_at_most_its_share_of_fingerprints(location, monkeypatch):
    monkeypatch.setattr("scraper.store.MAX_PRINTS_PER_SITE", 10)
    with open_store(location) as store:
        for page in range(5):
            prints = ((1, "div: chrome"), *((1000 + page * 100 + i, "p: teaser") for i in range(8)))
            _learn(store, {page: prints})
        view = store.template_view("site.example", datetime.now(UTC) - timedelta(days=60), 1)
    assert len(view.prints) == 10
    assert {p.print: p.pages for p in view.prints}[1] == 5  # the most seen stays


def test_templates_are_copied_into_postgresql(tmp_path, pg_url):
    with Store(tmp_path / "s.sqlite") as store:
        for page in range(5):
            _learn(store, {page: ((3, "div: chrome"),)})
    copied = copy_from_sqlite(tmp_path / "s.sqlite", StateUrl.checked(pg_url))
    assert copied["template_pages"] == 5 and copied["template_prints"] == 1
