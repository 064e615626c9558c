"""The state in a PostgreSQL database, shared by the runs of several hosts.

``PgStore`` keeps the tables of ``store.Store`` and runs its queries (the SQL both
databases accept); what is PostgreSQL's own is here: the schema and its migrations,
the connection (psycopg 3), the transactions and the locks.

* **Locks.** There is no lock on the whole state: a run takes an advisory lock per
  source (``pg_try_advisory_lock``, held by its connection until it ends, even if
  the host dies), and skips a source whose lock another host holds (``wait``: waits
  for it instead).
* **Exactly once.** An article is claimed (inserted, or its version raised) in the
  transaction that writes its record to the journal and marks it emitted: a second
  host claiming the same article waits for that transaction, then finds it taken.
  Every transaction locks rows in one order (articles, then URLs, each sorted), so
  two hosts never deadlock. The row names the run that emitted it, so a host killed
  before its claim committed recovers its journal without what another host emitted
  since (``Store.recover_emitted``).
* **Schema.** ``scraper_schema`` holds the schema version; a run migrates it under an
  advisory lock, so two hosts starting at once migrate it once. A database whose
  schema is newer than this code, or that holds tables named like ours without
  being a state, is refused (``StateFileError``), never changed.

A URL that libpq cannot use, a refused login or a missing database raise
``StoreError``; a server that cannot be reached (refused, timed out, unknown host)
raises ``StateUnreachable``. ``copy_from_sqlite`` moves a state file's content
into a new PostgreSQL state (``scrape copy-state``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from .config import StateUrl
from .errors import StateFileError, StateUnreachable, StoreError
from .models import RunReport
from .store import Store, _recent_runs, _template_sites, _template_view, take_lock
from .templates import SiteView

APPLICATION = "scraper"
CONNECT_TIMEOUT = 10  # seconds
RUN_LOCK = ".run.lock"  # in the output folder
# PG_MIGRATIONS[i] takes the schema from version i to i + 1 (the versions are this
# backend's own: a PostgreSQL state started with the SQLite schema's version 3).
PG_MIGRATIONS = [
    """
    CREATE TABLE seen_urls (
        url TEXT PRIMARY KEY,
        article_id TEXT,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        canonical_url TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        title TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        last_seen TEXT
    );
    CREATE TABLE validators (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        checked TEXT NOT NULL
    );
    CREATE TABLE runs (
        id BIGSERIAL PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        report TEXT NOT NULL,
        run_id TEXT,
        exit_code INTEGER
    );
    CREATE TABLE hosts (host TEXT PRIMARY KEY, not_before TEXT NOT NULL);
    CREATE TABLE stories (
        id TEXT PRIMARY KEY,
        first_article TEXT NOT NULL,
        title TEXT NOT NULL,
        agency TEXT,
        copies INTEGER NOT NULL,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE story_members (
        member BIGSERIAL PRIMARY KEY,
        article_id TEXT NOT NULL UNIQUE,
        story_id TEXT NOT NULL,
        shingles INTEGER NOT NULL,
        signature BYTEA NOT NULL
    );
    CREATE TABLE story_bands (
        band INTEGER NOT NULL,
        member BIGINT NOT NULL,
        PRIMARY KEY (band, member)
    );
    """,
    "ALTER TABLE articles ADD COLUMN emitted_by TEXT",  # as the SQLite schema's version 4
    # as the SQLite schema's version 5: learned site templates
    """
    CREATE TABLE template_pages (
        site TEXT NOT NULL,
        page BIGINT NOT NULL,
        seen TEXT NOT NULL,
        PRIMARY KEY (site, page)
    );
    CREATE TABLE template_prints (
        site TEXT NOT NULL,
        fingerprint BIGINT NOT NULL,
        pages INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        sample TEXT,
        PRIMARY KEY (site, fingerprint)
    );
    """,
]
PG_SCHEMA_VERSION = len(PG_MIGRATIONS)
TEMPLATES_SCHEMA = 3  # the version that added the template tables
TABLES = (
    "seen_urls",
    "articles",
    "validators",
    "runs",
    "hosts",
    "stories",
    "story_members",
    "story_bands",
    "template_pages",
    "template_prints",
)
# SQLSTATE classes of a server that answered but refused: a bad login (28), a
# database that does not exist (3D).
_REFUSED = ("28", "3D")
_REFUSED_WORDS = ("authentication", "does not exist", "pg_hba.conf", "password")


def lock_key(namespace: str, name: str) -> int:
    """A 64-bit advisory lock key for ``name`` (stable across hosts and versions)."""
    digest = hashlib.blake2b(f"{APPLICATION} {namespace} {name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


MIGRATION_LOCK = lock_key("schema", "migration")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _failure(url: StateUrl, doing: str, exc: psycopg.Error) -> StoreError:
    """The project's error for a psycopg one: unreachable (retry later) or refused."""
    message = f"{doing} the state database {url.redacted()}: {_one_line(exc)}"
    sqlstate = exc.sqlstate or ""
    text = str(exc).lower()
    refused = sqlstate.startswith(_REFUSED) or any(word in text for word in _REFUSED_WORDS)
    if isinstance(exc, psycopg.OperationalError) and not refused and not sqlstate:
        return StateUnreachable(message)
    return StoreError(message)


def _marks(sql: str) -> str:
    """The shared queries' ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("?", "%s")


class _Connection:
    """A psycopg connection with the part of ``sqlite3.Connection``'s interface the
    shared queries use; its errors become the project's."""

    def __init__(self, conn: psycopg.Connection[Any], url: StateUrl) -> None:
        self.conn = conn
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        try:
            # No parameters: the simple protocol, which takes several statements.
            return self.conn.execute(_marks(sql) if params else sql, params or None)
        except psycopg.Error as exc:
            raise _failure(self.url, "cannot use", exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(_marks(sql), rows)
        except psycopg.Error as exc:
            raise _failure(self.url, "cannot use", exc) from exc

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()


def connect(url: StateUrl) -> _Connection:
    try:
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION
        )
    except psycopg.Error as exc:
        raise _failure(url, "cannot connect to", exc) from exc
    return _Connection(conn, url)


def _schema_version(db: _Connection) -> int | None:
    """The state's schema version; None when the database holds no state yet. Raises
    ``StateFileError`` for a database that is not a state."""
    exists = db.execute("SELECT to_regclass('scraper_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        found = db.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ANY(?)",
            (list(TABLES),),
        ).fetchall()
        if found:
            names = ", ".join(sorted(row[0] for row in found))
            raise StateFileError(
                f"the database {db.url.redacted()} holds tables named like the state's "
                f"({names}) but is no scraper state; give the state a database of its own"
            )
        return None
    row = db.execute("SELECT application, version FROM scraper_schema").fetchone()
    if row is None or row[0] != APPLICATION:
        raise StateFileError(f"the database {db.url.redacted()} is not a scraper state")
    version = int(row[1])
    if version > PG_SCHEMA_VERSION:
        raise StateFileError(
            f"the state database {db.url.redacted()} has schema version {version}, newer "
            f"than this scraper's {PG_SCHEMA_VERSION}: upgrade scraper"
        )
    return version


def _migrate(db: _Connection) -> None:
    """Bring the schema to ``PG_SCHEMA_VERSION``, one host at a time."""
    try:
        with db.conn.transaction():
            db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            version = _schema_version(db)
            if version is None:
                db.execute("CREATE TABLE scraper_schema (application TEXT, version INTEGER)")
                db.execute("INSERT INTO scraper_schema VALUES (?, 0)", (APPLICATION,))
                version = 0
            for step in range(version, PG_SCHEMA_VERSION):
                db.execute(PG_MIGRATIONS[step])
                db.execute("UPDATE scraper_schema SET version = ?", (step + 1,))
    except psycopg.Error as exc:
        raise _failure(db.url, "cannot migrate", exc) from exc


class PgStore(Store):
    """``Store`` on a PostgreSQL database; use as a context manager (the connection,
    and the source locks it takes, last until the block ends)."""

    RUN_ORDER = "id"
    LATER_NOT_BEFORE = "greatest(hosts.not_before, excluded.not_before)"

    def __init__(self, url: StateUrl, wait: bool = False) -> None:
        super().__init__(".", wait)
        self.url = url

    @property
    def location(self) -> str:
        return self.url.redacted()

    def __enter__(self) -> PgStore:
        db = connect(self.url)
        try:
            _migrate(db)
        except BaseException:
            db.close()
            raise
        self.db = db
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.db is not None:
            self.db.close()  # ends the session: its advisory locks are released
            self.db = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def lock_outputs(self, folder: Path) -> None:
        """Hold ``<folder>/.run.lock``: runs of several hosts share the state, but a
        host's output folder takes one run at a time (two cron runs overlapping)."""
        self._lock_file = take_lock(folder / RUN_LOCK, self.wait, "the output folder")

    def lock_sources(self, names: Iterable[str]) -> list[str]:
        """Take each source's advisory lock (sorted, so two waiting hosts cannot
        deadlock); the names another host holds, or none with ``wait``."""
        db = self._conn()
        held = []
        for name in sorted(set(names)):
            key = lock_key("source", name)
            if self.wait:
                db.execute("SELECT pg_advisory_lock(?)", (key,))
            elif not db.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0]:
                held.append(name)
        return held

    def _lock_site(self, db: Any, site: str) -> None:
        """Hosts learning one site's template take turns (an advisory lock held to the
        end of the transaction), so their row locks cannot deadlock."""
        db.execute("SELECT pg_advisory_xact_lock(?)", (lock_key("template", site),))

    @contextmanager
    def _transaction(self) -> Iterator[_Connection]:
        db = self._conn()
        try:
            with db.conn.transaction():
                yield db
        except psycopg.Error as exc:
            raise _failure(self.url, "cannot write", exc) from exc


def read_pg_runs(url: StateUrl, limit: int = 20) -> list[RunReport]:
    """The recent runs kept in a PostgreSQL state, newest first."""
    db = connect(url)
    try:
        if _schema_version(db) is None:
            raise StateFileError(f"no state in {url.redacted()}: no run has finished yet")
        return _recent_runs(db, limit, PgStore.RUN_ORDER)
    finally:
        db.close()


def read_pg_templates(
    url: StateUrl, site: str | None, cutoff: datetime, min_pages: int
) -> list[SiteView]:
    """What a PostgreSQL state learned of each site (or of ``site``)."""
    db = connect(url)
    try:
        version = _schema_version(db)
        if version is None:
            raise StateFileError(f"no state in {url.redacted()}: no run has finished yet")
        if version < TEMPLATES_SCHEMA:
            return []  # written before templates were learned
        sites = [site] if site else _template_sites(db, cutoff)
        return [_template_view(db, name, cutoff, min_pages) for name in sites]
    finally:
        db.close()


# Each table's columns, copied as they are (runs in the order they were recorded).
_COPIED = {
    "seen_urls": "url, article_id, first_seen",
    "articles": (
        "id, canonical_url, content_hash, title, first_seen, version, last_seen, emitted_by"
    ),
    "validators": "url, etag, last_modified, checked",
    "hosts": "host, not_before",
    "runs": "started, finished, report, run_id, exit_code",
    "stories": "id, first_article, title, agency, copies, first_seen",
    "story_members": "member, article_id, story_id, shingles, signature",
    "story_bands": "band, member",
    "template_pages": "site, page, seen",
    "template_prints": "site, fingerprint, pages, first_seen, last_seen, sample",
}
COPY_ROWS = 5000


def copy_from_sqlite(path: Path, url: StateUrl) -> dict[str, int]:
    """Copy the SQLite state file at ``path`` (migrated first, under its run lock)
    into the PostgreSQL state at ``url``, which must hold no state yet, in one
    transaction; the rows copied per table."""
    copied: dict[str, int] = {}
    with Store(path) as source, PgStore(url) as target:
        db = target._conn()
        if any(db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in _COPIED):
            raise StoreError(
                f"the state database {url.redacted()} is not empty: copy into a new one"
            )
        with target._transaction() as out:
            for table, columns in _COPIED.items():
                order = " ORDER BY rowid" if table == "runs" else ""
                rows = source._conn().execute(f"SELECT {columns} FROM {table}{order}")
                marks = ", ".join("?" * len(columns.split(",")))
                copied[table] = 0
                while batch := rows.fetchmany(COPY_ROWS):
                    out.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
                    copied[table] += len(batch)
            out.execute(
                "SELECT setval(pg_get_serial_sequence('story_members', 'member'), "
                "coalesce(max(member), 0) + 1, false) FROM story_members"
            )
    return copied
