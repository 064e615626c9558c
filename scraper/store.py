"""The state: the URLs past runs handled, the HTTP validators
(ETag, Last-Modified, or a digest for local files) of the pages behind them, the
content hash, version and first/last-seen times of each emitted article, per-host
back-off times, the recent run reports, and the story clusters (each article's
MinHash signature and its LSH band keys, see ``dedup``). ``Store`` keeps it in an
SQLite file (WAL); ``store_pg.PgStore`` keeps the same tables in a PostgreSQL
database that several hosts share (``open_store`` picks by the ``state:`` given).
The queries are written once, in the SQL both accept; what differs between the two
(schema, locks, connections) lives in one place per backend.

The schema has a version (``PRAGMA user_version``) and is migrated in place; the
file is marked as ours (``PRAGMA application_id``). A file that is corrupt, another
program's, or newer than this code is refused (``StateFileError``), never replaced.

An article is marked emitted only after its record is on disk (see ``sinks``), so
a run that is killed half-way loses nothing. A lock file (``<state>.lock``) keeps
two runs from working on the same state file at once (PostgreSQL: a lock per source).
An article is claimed in the same transaction that records it emitted (``emit``),
so of two runs that find one article at once, only one writes it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .dedup import NewMember, Signature, Story, StoryMember
from .errors import LockedError, StateFileError, StoreError
from .models import Article, RunReport, utc_now
from .templates import MAX_PRINTS_PER_SITE, Learned, SiteView

if TYPE_CHECKING:  # the PostgreSQL backend is imported only when a URL is given
    from .config import StateUrl

APPLICATION_ID = 0x53435250  # "SCRP": marks the file as this tool's state
# MIGRATIONS[i] takes the schema from version i to i + 1; a fresh file runs them
# all. Version 0 is the layout written before the schema was versioned.
MIGRATIONS = [
    """
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
    """,
    """
    ALTER TABLE articles ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE articles ADD COLUMN last_seen TEXT;
    UPDATE articles SET last_seen = first_seen;
    CREATE TABLE hosts (host TEXT PRIMARY KEY, not_before TEXT NOT NULL);
    ALTER TABLE runs ADD COLUMN run_id TEXT;
    ALTER TABLE runs ADD COLUMN exit_code INTEGER;
    """,
    # Story clusters (dedup). ``member`` is a small key for the band index, which
    # holds one row per band of each article's MinHash; without a rowid, a band row
    # is stored once, in its index.
    """
    CREATE TABLE stories (
        id TEXT PRIMARY KEY,
        first_article TEXT NOT NULL,
        title TEXT NOT NULL,
        agency TEXT,
        copies INTEGER NOT NULL,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE story_members (
        member INTEGER PRIMARY KEY,
        article_id TEXT NOT NULL UNIQUE,
        story_id TEXT NOT NULL,
        shingles INTEGER NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TABLE story_bands (
        band INTEGER NOT NULL,
        member INTEGER NOT NULL,
        PRIMARY KEY (band, member)
    ) WITHOUT ROWID;
    """,
    # The run that emitted an article's version: a killed run's journal keeps only
    # what no other run emitted meanwhile (several hosts on one PostgreSQL state).
    "ALTER TABLE articles ADD COLUMN emitted_by TEXT",
    # Learned site templates (``templates``): the pages learned per site, and the
    # fingerprints of blocks seen outside their bodies, with the pages they were on.
    """
    CREATE TABLE template_pages (
        site TEXT NOT NULL,
        page INTEGER NOT NULL,
        seen TEXT NOT NULL,
        PRIMARY KEY (site, page)
    ) WITHOUT ROWID;
    CREATE TABLE template_prints (
        site TEXT NOT NULL,
        fingerprint INTEGER NOT NULL,
        pages INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        sample TEXT,
        PRIMARY KEY (site, fingerprint)
    ) WITHOUT ROWID;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
TEMPLATES_SCHEMA = 5  # the version that added the template tables
_V0_TABLES = {"seen_urls", "articles", "validators", "runs"}
KEEP_RUNS = 500


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends back for a URL handled by a past run."""

    url: str
    etag: str | None
    last_modified: str | None
    checked: datetime | None = None


@dataclass(frozen=True)
class Emitted:
    """The last emitted version of an article."""

    content_hash: str
    version: int


# In the SQL that SQLite (3.35+) and PostgreSQL both accept, with ``?`` marks.
_SAVE_VALIDATORS = """
INSERT INTO validators VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET
    etag = excluded.etag, last_modified = excluded.last_modified, checked = excluded.checked
"""
_SAVE_URL = "INSERT INTO seen_urls VALUES (?, ?, ?) ON CONFLICT (url) DO NOTHING"
_SAVE_ARTICLE = """
INSERT INTO articles
    (id, canonical_url, content_hash, title, first_seen, version, last_seen, emitted_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    content_hash = excluded.content_hash, title = excluded.title,
    version = excluded.version, last_seen = excluded.last_seen,
    emitted_by = excluded.emitted_by
WHERE excluded.version >= articles.version
"""
# A page counts once; a fingerprint's sample is kept from its second page on (most are
# seen once: teaser cards and the like).
_LEARN_PAGE = (
    "INSERT INTO template_pages VALUES (?, ?, ?) ON CONFLICT (site, page) DO NOTHING RETURNING page"
)
_LEARN_PRINT = """
INSERT INTO template_prints (site, fingerprint, pages, first_seen, last_seen, sample)
VALUES (?, ?, 1, ?, ?, NULL)
ON CONFLICT (site, fingerprint) DO UPDATE SET
    pages = template_prints.pages + 1, last_seen = excluded.last_seen,
    sample = coalesce(template_prints.sample, ?)
"""
# An article is claimed when it is new or this is a newer version: of two runs that
# emit one version at once, the second finds it claimed (PostgreSQL makes it wait for
# the first's transaction to end) and leaves it out.
_CLAIM_ARTICLE = _SAVE_ARTICLE.replace(">=", ">") + "RETURNING id"
Batch = Sequence[tuple[Article, list[str], "Validators | None"]]


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """An open, checked and migrated state file; never replaces what it finds."""
    if path.exists() and not path.is_file():
        raise StateFileError(f"state path {path} is not a file")
    try:
        if read_only:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StateFileError(f"cannot open state file {path}: {exc}") from exc
    try:
        _check(db, path)
        if not read_only:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileError(
            f"state file {path} is corrupt or not a state file ({exc}); "
            "move it aside to start afresh"
        ) from exc
    except StateFileError:
        db.close()
        raise
    return db


def _check(db: sqlite3.Connection, path: Path) -> None:
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if app_id != APPLICATION_ID and not tables <= _V0_TABLES:
        raise StateFileError(f"{path} is an SQLite file but not a scraper state file")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateFileError(
            f"state file {path} has schema version {version}, newer than this "
            f"scraper's {SCHEMA_VERSION}: upgrade scraper"
        )
    if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
        raise StateFileError(f"state file {path} is corrupt; move it aside to start afresh")


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for step in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {step + 1}")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class Store:
    """The run's state in an SQLite file; use as a context manager to hold the lock
    (``wait``: block until a running run releases it instead of failing at once).

    This is the interface the pipeline uses; ``store_pg.PgStore`` implements it on
    PostgreSQL, overriding the connection, the locks and the few statements below."""

    # The column that orders runs by insertion.
    RUN_ORDER = "rowid"
    LATER_NOT_BEFORE = "max(not_before, excluded.not_before)"

    def __init__(self, path: str | Path, wait: bool = False) -> None:
        self.path = Path(path)
        self.wait = wait
        self._lock_file: IO[str] | None = None
        self.db: Any = None

    @property
    def location(self) -> str:
        """Where the state is, for messages."""
        return str(self.path)

    def __enter__(self) -> Store:
        self._lock_file = take_lock(Path(f"{self.path}.lock"), self.wait, "state")
        try:
            self.db = _connect(self.path)
        except StoreError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _conn(self) -> Any:
        """The open connection (``sqlite3.Connection``, or the PostgreSQL backend's
        equivalent: ``execute``, ``executemany``, ``in_transaction``)."""
        if self.db is None:
            raise StoreError("state file is not open")
        return self.db

    def lock_outputs(self, folder: Path) -> None:
        """Hold the lock of the run's output folder while the state is open: one run
        at a time finishes and writes there. The state file's lock does it."""

    def lock_sources(self, names: Iterable[str]) -> list[str]:
        """Take the lock of each source; the names held by a run elsewhere, which this
        run must skip. The state file's lock covers every source: none."""
        return []

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One commit for every statement inside (the connection autocommits)."""
        db = self._conn()
        try:
            db.execute("BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot write state {self.path}: {exc}") from exc
            raise

    def seen_url(self, url: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM seen_urls WHERE url = ?", (url,)).fetchone()
        return row is not None

    def emitted(self, article_id: str) -> Emitted | None:
        row = (
            self._conn()
            .execute("SELECT content_hash, version FROM articles WHERE id = ?", (article_id,))
            .fetchone()
        )
        return Emitted(row[0], row[1]) if row else None

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
        """Remember URLs that need not be fetched again (duplicate, unchanged, not
        an article), and the validators of the page."""
        now = utc_now().isoformat()
        # Rows are locked in one order in every transaction (articles, then URLs,
        # each sorted), so runs sharing a PostgreSQL state never deadlock.
        with self._transaction() as db:
            if article_id:
                db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", (now, article_id))
            db.executemany(_SAVE_URL, [(u, article_id, now) for u in sorted(set(urls))])
            if validators:
                v = validators
                db.execute(_SAVE_VALIDATORS, (v.url, v.etag, v.last_modified, now))

    def touch(self, url: str) -> None:
        """Note that ``url`` was found unchanged (HTTP 304) now."""
        now = utc_now().isoformat()
        with self._transaction() as db:
            db.execute("UPDATE validators SET checked = ? WHERE url = ?", (now, url))
            db.execute(
                "UPDATE articles SET last_seen = ? WHERE id = "
                "(SELECT article_id FROM seen_urls WHERE url = ?)",
                (now, url),
            )

    def mark_emitted(
        self, articles: Iterable[tuple[Article, list[str], Validators | None]]
    ) -> None:
        """Record emitted articles (a version never goes back), every URL they were
        found under and the validators of the page, in one transaction."""
        batch = list(articles)
        now = utc_now().isoformat()
        with self._transaction() as db:
            for a, _, _ in sorted(batch, key=lambda item: item[0].id):
                db.execute(
                    _SAVE_ARTICLE,
                    (a.id, a.canonical_url, a.content_hash, a.title, now, a.version, now, None),
                )
            self._remember(db, batch, now)

    def recover_emitted(self, batch: Batch, run_id: str) -> list[Article]:
        """Record the articles a killed run ``run_id`` had written to its journal,
        except those another run has emitted at the same version since (its claim
        was never committed): those are returned, to be left out of its outputs."""
        now = utc_now().isoformat()
        with self._transaction() as db:
            taken: set[str] = set()
            for a, _, _ in sorted(batch, key=lambda item: item[0].id):
                values = (a.id, a.canonical_url, a.content_hash, a.title, now, a.version, now)
                if db.execute(_CLAIM_ARTICLE, (*values, run_id)).fetchone() is not None:
                    continue  # new, or newer than what the state had: now ours
                # The claim locked the row (PostgreSQL), so this reads it as it stays.
                row = db.execute(
                    "SELECT version, emitted_by FROM articles WHERE id = ?", (a.id,)
                ).fetchone()
                if row[0] == a.version and row[1] not in (None, run_id):
                    taken.add(a.id)
            self._remember(db, [item for item in batch if item[0].id not in taken], now)
        return [a for a, _, _ in batch if a.id in taken]

    def emit(
        self, batch: Batch, write: Callable[[list[Article]], None], run_id: str = ""
    ) -> list[Article]:
        """Claim the articles of ``batch`` that no other run emitted (new, or a newer
        version), ``write`` those (it returns once they are durable), and record them
        with every URL they were found under, in one transaction; returns the
        articles left out because another run had emitted them. A failure in
        ``write`` claims nothing. ``run_id`` names the run in the state."""
        now = utc_now().isoformat()
        with self._transaction() as db:
            claimed: set[str] = set()
            for a, _, _ in sorted(batch, key=lambda item: item[0].id):
                values = (a.id, a.canonical_url, a.content_hash, a.title, now, a.version, now)
                if db.execute(_CLAIM_ARTICLE, (*values, run_id or None)).fetchone() is not None:
                    claimed.add(a.id)
            write([a for a, _, _ in batch if a.id in claimed])
            self._remember(db, batch, now)
        return [a for a, _, _ in batch if a.id not in claimed]

    def _remember(self, db: Any, batch: Batch, now: str) -> None:
        """The URLs and validators of emitted articles, in the transaction ``db``."""
        urls = {u: a.id for a, found, _ in batch for u in found}
        db.executemany(_SAVE_URL, [(u, urls[u], now) for u in sorted(urls)])
        for _, _, v in sorted(batch, key=lambda item: item[2].url if item[2] else ""):
            if v:
                db.execute(_SAVE_VALIDATORS, (v.url, v.etag, v.last_modified, now))

    def backoff(self) -> dict[str, datetime]:
        """Hosts that asked not to be contacted before a time still to come."""
        now = utc_now()
        rows = self._conn().execute("SELECT host, not_before FROM hosts").fetchall()
        until = {host: datetime.fromisoformat(when) for host, when in rows}
        return {host: when for host, when in until.items() if when > now}

    def save_backoff(self, until: dict[str, datetime]) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM hosts WHERE not_before < ?", (utc_now().isoformat(),))
            db.executemany(
                "INSERT INTO hosts VALUES (?, ?) ON CONFLICT (host) DO UPDATE SET "
                f"not_before = {self.LATER_NOT_BEFORE}",
                [(host, until[host].isoformat()) for host in sorted(until)],
            )

    def record_run(self, report: RunReport) -> None:
        """Keep the run in the history (the last ``KEEP_RUNS`` runs)."""
        finished = (report.finished or utc_now()).isoformat()
        row = (report.started.isoformat(), finished, report.model_dump_json())
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (started, finished, report, run_id, exit_code) "
                "VALUES (?, ?, ?, ?, ?)",
                (*row, report.run_id, report.exit_code),
            )
            order = self.RUN_ORDER
            db.execute(
                f"DELETE FROM runs WHERE {order} NOT IN "
                f"(SELECT {order} FROM runs ORDER BY {order} DESC LIMIT {KEEP_RUNS})"
            )

    def has_run(self, run_id: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row is not None

    def recent_runs(self, limit: int = 20) -> list[RunReport]:
        return _recent_runs(self._conn(), limit, self.RUN_ORDER)

    def story_member(self, article_id: str) -> StoryMember | None:
        """The story an article joined in a past run, if it did."""
        row = (
            self._conn()
            .execute(
                "SELECT article_id, story_id, shingles, signature FROM story_members "
                "WHERE article_id = ?",
                (article_id,),
            )
            .fetchone()
        )
        return _member(row) if row else None

    def story_candidates(self, band_keys: list[int]) -> list[StoryMember]:
        """Articles sharing at least one band key with a signature."""
        if not band_keys:
            return []
        marks = ", ".join("?" * len(band_keys))
        rows = self._conn().execute(
            "SELECT article_id, story_id, shingles, signature FROM story_members WHERE member IN "
            f"(SELECT DISTINCT member FROM story_bands WHERE band IN ({marks}))",
            band_keys,
        )
        return [_member(row) for row in rows]

    def story(self, story_id: str) -> Story | None:
        row = (
            self._conn()
            .execute(
                "SELECT id, first_article, title, agency, copies FROM stories WHERE id = ?",
                (story_id,),
            )
            .fetchone()
        )
        return Story(*row) if row else None

    def add_story_members(self, members: list[NewMember]) -> None:
        """Record copies in their stories (a story starts with its first copy), with
        their band keys, in one transaction."""
        now = utc_now().isoformat()
        joined: dict[str, list[NewMember]] = {}
        added: set[str] = set()
        with self._transaction() as db:
            for new in sorted(members, key=lambda n: n.member.article_id):
                m = new.member
                row = db.execute(
                    "INSERT INTO story_members (article_id, story_id, shingles, signature) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (article_id) DO NOTHING RETURNING member",
                    (m.article_id, m.story_id, m.signature.shingles, m.signature.to_bytes()),
                ).fetchone()
                if row is None:
                    continue
                db.executemany(
                    "INSERT INTO story_bands (band, member) VALUES (?, ?) "
                    "ON CONFLICT (band, member) DO NOTHING",
                    [(key, row[0]) for key in new.band_keys],
                )
                added.add(m.article_id)
            for new in members:  # in the order they joined: a new story's first copy first
                if new.member.article_id in added:
                    joined.setdefault(new.member.story_id, []).append(new)
            for story_id in sorted(joined):
                first, copies = joined[story_id][0], len(joined[story_id])
                agency = next((n.agency for n in joined[story_id] if n.agency), None)
                db.execute(
                    "INSERT INTO stories (id, first_article, title, agency, copies, first_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "copies = stories.copies + excluded.copies, "
                    "agency = coalesce(stories.agency, excluded.agency)",
                    (story_id, first.member.article_id, first.title, agency, copies, now),
                )

    def _lock_site(self, db: Any, site: str) -> None:
        """Keep other writers off a site's templates until the transaction ends (the
        state file's lock does it)."""

    def learn_templates(
        self,
        site: str,
        pages: dict[int, tuple[tuple[int, str], ...]],
        now: datetime,
        cutoff: datetime,
    ) -> None:
        """Count the fingerprints each page (by its key) showed outside its body, once
        per page; forget what was not seen since ``cutoff``; keep at most
        ``MAX_PRINTS_PER_SITE`` fingerprints of the site."""
        seen, oldest = now.isoformat(), cutoff.isoformat()
        with self._transaction() as db:
            self._lock_site(db, site)
            db.execute("DELETE FROM template_pages WHERE site = ? AND seen < ?", (site, oldest))
            db.execute(
                "DELETE FROM template_prints WHERE site = ? AND last_seen < ?", (site, oldest)
            )
            for page in sorted(pages):
                if db.execute(_LEARN_PAGE, (site, page, seen)).fetchone() is None:
                    continue  # learned before
                db.executemany(
                    _LEARN_PRINT,
                    [(site, value, seen, seen, sample) for value, sample in sorted(pages[page])],
                )
            count = db.execute(
                "SELECT count(*) FROM template_prints WHERE site = ?", (site,)
            ).fetchone()[0]
            if count > MAX_PRINTS_PER_SITE:
                db.execute(
                    "DELETE FROM template_prints WHERE site = ? AND fingerprint IN "
                    "(SELECT fingerprint FROM template_prints WHERE site = ? "
                    "ORDER BY pages, last_seen, fingerprint LIMIT ?)",
                    (site, site, count - MAX_PRINTS_PER_SITE),
                )

    def template_view(self, site: str, cutoff: datetime, min_pages: int) -> SiteView:
        return _template_view(self._conn(), site, cutoff, min_pages)


def _template_view(db: Any, site: str, cutoff: datetime, min_pages: int) -> SiteView:
    """What the state knows of ``site`` since ``cutoff``: its pages, and its
    fingerprints seen on at least ``min_pages`` of them."""
    oldest = cutoff.isoformat()
    times = db.execute(
        "SELECT seen FROM template_pages WHERE site = ? AND seen >= ? ORDER BY seen",
        (site, oldest),
    ).fetchall()
    rows = db.execute(
        "SELECT fingerprint, pages, first_seen, last_seen, sample FROM template_prints "
        "WHERE site = ? AND pages >= ? AND last_seen >= ?",
        (site, min_pages, oldest),
    ).fetchall()
    learned = [
        Learned(
            row[0], row[1], datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3]), row[4]
        )
        for row in rows
    ]
    return SiteView(site, [datetime.fromisoformat(t[0]) for t in times], learned)


def _template_sites(db: Any, cutoff: datetime) -> list[str]:
    rows = db.execute(
        "SELECT site, count(*) FROM template_pages WHERE seen >= ? GROUP BY site",
        (cutoff.isoformat(),),
    ).fetchall()
    return [site for site, _ in sorted(rows, key=lambda row: (-row[1], row[0]))]


def take_lock(path: Path, wait: bool, what: str) -> IO[str]:
    """The lock file at ``path``, locked for this process (``wait``: until a run that
    holds it ends; else ``LockedError`` at once); unlock by closing it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "a")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise StoreError(f"cannot create {what} in {path.parent}: {exc}") from exc
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError as exc:
        lock.close()
        raise LockedError(
            f"another run holds the lock {path}; try again later or use --wait"
        ) from exc
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _member(row: tuple[str, str, int, bytes]) -> StoryMember:
    article_id, story_id, shingles, signature = row
    return StoryMember(article_id, story_id, Signature.from_bytes(signature, shingles))


def _recent_runs(db: Any, limit: int, order: str = Store.RUN_ORDER) -> list[RunReport]:
    # Runs recorded before the schema was versioned have no run id, and reports of
    # another shape (they would read as empty runs started now).
    rows = db.execute(
        f"SELECT report FROM runs WHERE run_id IS NOT NULL ORDER BY {order} DESC LIMIT ?",
        (limit,),
    )
    runs = []
    for (report,) in rows:
        try:
            runs.append(RunReport.model_validate_json(report))
        except ValueError:
            continue  # a run recorded before reports had their current shape
    return runs


def open_store(location: StateUrl | Path, wait: bool = False) -> Store:
    """The state at ``location``: a PostgreSQL URL, or else an SQLite file (open it
    with ``with``)."""
    from .config import StateUrl

    if isinstance(location, StateUrl):
        from .store_pg import PgStore

        return PgStore(location, wait=wait)
    return Store(location, wait=wait)


def read_templates(
    location: StateUrl | str | Path, site: str | None, cutoff: datetime, min_pages: int
) -> list[SiteView]:
    """What a state learned of each site (or of ``site``), most pages first, read
    without taking any lock."""
    from .config import StateUrl

    if isinstance(location, StateUrl):
        from .store_pg import read_pg_templates

        return read_pg_templates(location, site, cutoff, min_pages)
    path = Path(location)
    if not path.exists():
        raise StateFileError(f"no state file at {path}: no run has finished yet")
    db = _connect(path, read_only=True)
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < TEMPLATES_SCHEMA:
            return []  # written before templates were learned
        sites = [site] if site else _template_sites(db, cutoff)
        return [_template_view(db, name, cutoff, min_pages) for name in sites]
    except sqlite3.DatabaseError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc}") from exc
    finally:
        db.close()


def read_runs(location: StateUrl | str | Path, limit: int = 20) -> list[RunReport]:
    """The recent runs of a state, newest first, read without taking any lock."""
    from .config import StateUrl

    if isinstance(location, StateUrl):
        from .store_pg import read_pg_runs

        return read_pg_runs(location, limit)
    path = Path(location)
    if not path.exists():
        raise StateFileError(f"no state file at {path}: no run has finished yet")
    db = _connect(path, read_only=True)
    try:
        return _recent_runs(db, limit)
    except sqlite3.DatabaseError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc}") from exc
    finally:
        db.close()
