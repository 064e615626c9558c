import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from scraper.models import Article, RunReport, utc_now
from scraper.store import (
    SCHEMA_VERSION,
    LockedError,
    StateFileError,
    Store,
    Validators,
    read_runs,
)


def article(url: str, text: str = "p", version: int = 1) -> Article:
    return Article(url=url, canonical_url=url, title="T", paragraphs=[text], version=version)


def test_emitted_articles_and_their_urls_are_remembered_across_opens(tmp_path):
    path = tmp_path / "state.sqlite"
    a = article("https://x.example/a")
    with Store(path) as store:
        assert not store.seen_url("https://x.example/a?utm_source=feed")
        store.mark_emitted([(a, ["https://x.example/a?utm_source=feed", a.canonical_url], None)])
    with Store(path) as store:
        assert store.seen_url("https://x.example/a?utm_source=feed")
        assert store.emitted(a.id).content_hash == a.content_hash
        assert store.emitted(a.id).version == 1
        assert store.emitted(article("https://x.example/b").id) is None
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_version_never_goes_back(tmp_path):
    url = "https://x.example/a"
    with Store(tmp_path / "s.sqlite") as store:
        store.mark_emitted([(article(url, "two", version=2), [url], None)])
        store.mark_emitted([(article(url, "one", version=1), [url], None)])  # a late replay
        assert store.emitted(article(url).id).version == 2
        assert store.emitted(article(url).id).content_hash == article(url, "two").content_hash


def test_validators_are_kept_and_a_304_refreshes_their_check_time(tmp_path):
    url = "https://x.example/a"
    with Store(tmp_path / "s.sqlite") as store:
        store.mark_urls([url], validators=Validators(url, '"e1"', None))
        first = store.validators(url)
        assert first.etag == '"e1"' and first.last_modified is None
        store.touch(url)
        assert store.validators(url).checked >= first.checked


def test_only_one_run_holds_the_lock_and_wait_blocks_until_it_is_released(tmp_path):
    path = tmp_path / "state.sqlite"
    with Store(path), pytest.raises(LockedError, match="--wait"), Store(path):
        pass
    got = []
    holder = Store(path).__enter__()

    def second():
        with Store(path, wait=True):
            got.append(time.monotonic())

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    assert got == []
    released = time.monotonic()
    holder.__exit__(None, None, None)
    thread.join(5)
    assert got and got[0] >= released


def test_host_backoff_survives_to_the_next_run_until_it_expires(tmp_path):
    path = tmp_path / "s.sqlite"
    soon, past = utc_now() + timedelta(hours=1), utc_now() - timedelta(seconds=5)
    with Store(path) as store:
        store.save_backoff({"a.example": soon, "b.example": past})
    with Store(path) as store:
        assert store.backoff() == {"a.example": soon}


def test_run_history_is_kept_newest_first_and_readable_without_the_lock(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for n in range(3):
            report = RunReport(run_id=f"r{n}", exit_code=0)
            report.source("wire").emitted = n
            store.record_run(report)
        runs = read_runs(path, limit=2)  # while the lock is held
    assert [r.run_id for r in runs] == ["r2", "r1"]
    assert runs[0].sources["wire"].emitted == 2


def test_a_state_file_of_the_unversioned_layout_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE seen_urls (url TEXT PRIMARY KEY, article_id TEXT, first_seen TEXT NOT NULL);
        CREATE TABLE articles (id TEXT PRIMARY KEY, canonical_url TEXT NOT NULL,
            content_hash TEXT NOT NULL, title TEXT NOT NULL, first_seen TEXT NOT NULL);
        CREATE TABLE validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,
            checked TEXT NOT NULL);
        CREATE TABLE runs (started TEXT NOT NULL, finished TEXT NOT NULL, report TEXT NOT NULL);
        INSERT INTO articles VALUES ('abc', 'https://x.example/a', 'h1', 'T', '2026-01-01');
        INSERT INTO seen_urls VALUES ('https://x.example/a', 'abc', '2026-01-01');
        INSERT INTO runs VALUES ('2026-01-01', '2026-01-01', '{"emitted": 3, "failures": {}}');
        """
    )
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.seen_url("https://x.example/a")
        assert store.emitted("abc").version == 1 and store.emitted("abc").content_hash == "h1"
        assert store.backoff() == {}
        assert store.recent_runs() == []  # an old-shape report is not a run of today


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is my thesis, not a database" * 200, "corrupt or not a state file"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "corrupt or not a state file"),
    ],
)
def test_a_corrupt_or_foreign_file_is_refused_and_left_untouched(tmp_path, content, message):
    path = tmp_path / "state.sqlite"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=message):
        Store(path).__enter__()
    assert path.read_bytes() == content
    with pytest.raises(StateFileError):
        read_runs(path)


def test_another_programs_sqlite_file_is_not_a_state_file(tmp_path):
    path = tmp_path / "notes.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    with pytest.raises(StateFileError, match="not a scraper state file"):
        Store(path).__enter__()
    assert sqlite3.connect(path).execute("SELECT body FROM notes").fetchall() == [("keep me",)]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (0,)


def test_a_state_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path):
        pass
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateFileError, match="newer"):
        Store(path).__enter__()


def test_a_directory_at_the_state_path_is_refused(tmp_path):
    (tmp_path / "state.sqlite").mkdir()
    with pytest.raises(StateFileError, match="not a file"):
        Store(tmp_path / "state.sqlite").__enter__()
    with pytest.raises(StateFileError, match="no state file"):
        read_runs(tmp_path / "missing.sqlite")
