"""The SQLite state file: which URLs and articles a past run already emitted, and
the HTTP validators (ETag, Last-Modified) of the pages behind them.

A URL is marked seen only after its record has been written by the sinks, so a
run that is killed half-way loses nothing: its unwritten pages are fetched again
next time. The file also holds a lock (``<state>.lock``) so two cron runs never
work on the same state at once.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from .errors import StoreError
from .models import Article, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_urls (
    url TEXT PRIMARY KEY,
    article_id TEXT,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    canonical_url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    checked TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    report TEXT NOT NULL
);
"""


class LockedError(StoreError):
    """Another run holds the state lock."""


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back for a URL handled by a past run."""

    url: str
    etag: str | None
    last_modified: str | None
    checked: datetime | None = None


_SAVE_VALIDATORS = "INSERT OR REPLACE INTO validators VALUES (?, ?, ?, ?)"


class Store:
    """Seen URLs and articles; use as a context manager to hold the lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_file: IO[str] | None = None
        self.db: sqlite3.Connection | None = None

    def __enter__(self) -> Store:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(f"{self.path}.lock", "w")  # noqa: SIM115 - held for the whole run
        except OSError as exc:
            raise StoreError(f"cannot create state in {self.path.parent}: {exc}") from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.close()
            raise LockedError(f"another run holds the lock {self.path}.lock") from exc
        self._lock_file = lock
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self.__exit__(None, None, None)
            raise StoreError(f"cannot open state file {self.path}: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _conn(self) -> sqlite3.Connection:
        if self.db is None:
            raise StoreError("state file is not open")
        return self.db

    def seen_url(self, url: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM seen_urls WHERE url = ?", (url,)).fetchone()
        return row is not None

    def seen_article(self, article_id: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row is not None

    def validators(self, url: str) -> Validators | None:
        row = (
            self._conn()
            .execute("SELECT etag, last_modified, checked FROM validators WHERE url = ?", (url,))
            .fetchone()
        )
        if row is None:
            return None
        return Validators(url, row[0], row[1], datetime.fromisoformat(row[2]))

    def mark_urls(
        self,
        urls: Iterable[str],
        article_id: str | None = None,
        validators: Validators | None = None,
    ) -> None:
        """Remember URLs that need not be fetched again (emitted or duplicate)."""
        now = utc_now().isoformat()
        try:
            with self._conn():
                self._conn().executemany(
                    "INSERT OR IGNORE INTO seen_urls VALUES (?, ?, ?)",
                    [(u, article_id, now) for u in urls],
                )
                if validators:
                    v = validators
                    self._conn().execute(_SAVE_VALIDATORS, (v.url, v.etag, v.last_modified, now))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write state {self.path}: {exc}") from exc

    def touch(self, url: str) -> None:
        """Note that ``url`` was found unchanged (HTTP 304) now."""
        try:
            self._conn().execute(
                "UPDATE validators SET checked = ? WHERE url = ?", (utc_now().isoformat(), url)
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write state {self.path}: {exc}") from exc

    def mark_emitted(
        self, articles: Iterable[tuple[Article, list[str], Validators | None]]
    ) -> None:
        """Record emitted articles, every URL they were found under and the validators
        of the page, in one transaction."""
        now = utc_now().isoformat()
        db = self._conn()
        try:
            db.execute("BEGIN")
            for article, urls, v in articles:
                db.execute(
                    "INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?, ?)",
                    (article.id, article.canonical_url, article.content_hash, article.title, now),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO seen_urls VALUES (?, ?, ?)",
                    [(u, article.id, now) for u in urls],
                )
                if v:
                    db.execute(_SAVE_VALIDATORS, (v.url, v.etag, v.last_modified, now))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"cannot write state {self.path}: {exc}") from exc

    def record_run(self, started: str, report_json: str) -> None:
        try:
            self._conn().execute(
                "INSERT INTO runs VALUES (?, ?, ?)", (started, utc_now().isoformat(), report_json)
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write state {self.path}: {exc}") from exc
