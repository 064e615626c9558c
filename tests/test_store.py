import sqlite3

import pytest

from scraper.models import Article
from scraper.store import LockedError, Store


def article(url: str) -> Article:
    return Article(url=url, canonical_url=url, title="T", paragraphs=["p"])


def test_emitted_articles_and_their_urls_are_remembered_across_opens(tmp_path):
    path = tmp_path / "state.sqlite"
    a = article("https://x.example/a")
    with Store(path) as store:
        assert not store.seen_url("https://x.example/a?utm_source=feed")
        store.mark_emitted([(a, ["https://x.example/a?utm_source=feed", a.canonical_url], None)])
    with Store(path) as store:
        assert store.seen_url("https://x.example/a?utm_source=feed")
        assert store.seen_article(a.id)
        assert not store.seen_article(article("https://x.example/b").id)
    rows = sqlite3.connect(path).execute("SELECT id, canonical_url FROM articles").fetchall()
    assert rows == [(a.id, a.canonical_url)]


def test_only_one_run_holds_the_lock(tmp_path):
    path = tmp_path / "state.sqlite"
    with Store(path), pytest.raises(LockedError), Store(path):
        pass
    with Store(path):
        pass  # released


def test_run_reports_are_kept(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.record_run("2026-01-01T00:00:00", '{"emitted": 1}')
    rows = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT report FROM runs").fetchall()
    assert rows == [('{"emitted": 1}',)]
