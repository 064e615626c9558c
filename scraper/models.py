"""Typed records passed between the pipeline stages.

``Candidate`` (a URL to fetch) -> ``Fetched`` (bytes of a page, from the web or a
local file) -> ``Article`` (the clean record users consume) ; ``RunReport`` counts
what happened during a run.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

_WORD = re.compile(r"\w+")


def url_id(url: str) -> str:
    """Stable 16-hex id of a (canonical) URL."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class FeedOrigin(BaseModel):
    """A feed item's ``<source>``: the publisher the feed credits for the item."""

    name: str = ""
    url: str | None = None


class Candidate(BaseModel):
    """A URL discovered by a source, not fetched yet."""

    url: str
    source: str
    allow_private: bool = False
    # When the source last changed it (sitemap lastmod, feed date), if it says.
    modified: datetime | None = None
    # Validators of the copy handled by a past run, sent back as a conditional GET.
    etag: str | None = None
    last_modified: str | None = None
    # The feed item's <source>, when the URL came from a feed that gives one.
    origin: FeedOrigin | None = None


class SiteRules(BaseModel):
    """The declarative rules a user gave for one site (``rules:`` in the config): CSS
    selectors whose blocks are removed or kept whatever the model says, phrases whose
    blocks are removed, markers the body ends at, and a fixed ``source``."""

    model_config = ConfigDict(frozen=True)

    site: str
    remove: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    stop_phrases: tuple[str, ...] = ()
    end_at: tuple[str, ...] = ()
    source: str | None = None


class Fetched(BaseModel):
    """A page's raw bytes and where they came from; status 304 has no body. ``rules``
    and ``template`` steer the extraction of the page's site: the user's rules, and the
    fingerprints of the blocks learned as the site's template (``templates``)."""

    url: str
    source: str
    body: bytes
    status: int = 200
    content_type: str | None = None
    encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime = Field(default_factory=utc_now)
    origin: FeedOrigin | None = None
    rules: SiteRules | None = None
    template: frozenset[int] = frozenset()


class Caption(BaseModel):
    text: str
    credit: str | None = None
    # Number of body paragraphs before the caption, so it can be put back inline.
    position: int | None = None
    # Text seen just before the caption in the page, used to find ``position``.
    position_hint: str | None = Field(None, exclude=True)


class RelatedLink(BaseModel):
    title: str
    url: str | None = None
    source: str | None = None


class Article(BaseModel):
    """A clean article record; ``id``, ``text``, ``word_count`` and
    ``content_hash`` are derived from the other fields."""

    model_config = ConfigDict(extra="ignore")

    url: str
    canonical_url: str
    title: str
    standfirst: str | None = None
    authors: list[str] = Field(default_factory=list)
    published: str | None = None
    site: str | None = None
    # Who wrote the text (an agency or partner's canonical name), which kind of
    # evidence said so (see ``attribution.EVIDENCE_ORDER``, and ``cluster``), and
    # the original's URL when known.
    source: str | None = None
    source_evidence: str | None = None
    source_url: str | None = None
    language: str | None = None
    # Where the body was read: the page's DOM, the JSON-LD ``articleBody``, or the
    # state an app-rendered page embeds (``embedded``).
    extraction: Literal["dom", "jsonld", "embedded_state"] = "dom"
    paragraphs: list[str] = Field(default_factory=list)
    captions: list[Caption] = Field(default_factory=list)
    fetched_at: datetime = Field(default_factory=utc_now)
    related: list[RelatedLink] = Field(default_factory=list)
    # 1 when first emitted; each change of the text emits the next version, which
    # carries the content hash of the one before.
    version: int = 1
    previous_hash: str | None = None
    # Every copy of one story (on any site, in any run) shares ``story_id``, the id
    # of its first-seen copy; later copies name it in ``duplicate_of``.
    story_id: str | None = None
    duplicate_of: str | None = None
    # Fingerprints (with a sample) of the page's blocks outside the body, from the worker to
    # the run that learns the site's template (``templates``); never written out.
    _template_prints: tuple[tuple[int, str], ...] = PrivateAttr(default=())
    # The fingerprints of the blocks its body holds: a page whose site turns out to
    # have one of them in its template is worth extracting again.
    _template_kept: tuple[int, ...] = PrivateAttr(default=())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return url_id(self.canonical_url)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def word_count(self) -> int:
        return len(_WORD.findall(self.text))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_hash(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()


COUNTS = (
    "discovered",
    "fetched",
    "not_modified",
    "skipped_seen",
    "unchanged",
    "deferred",
    "cancelled",
    "extracted",
    "emitted",
)


class SourceReport(BaseModel):
    """What one run did for one source. ``skipped_seen``: handled by a past run and
    not asked again; ``unchanged``: fetched again, same text; ``deferred``: left for
    a later run because the host asked us to back off; ``not_pages``: WARC records
    read and passed over as no page, by reason (``not_response``, ``not_http``,
    ``not_200``, ``not_html``): unlike ``failures``, they do not fail the run;
    ``cancelled``: left for the next run because a signal stopped the run before or
    while it was fetched."""

    discovered: int = 0
    fetched: int = 0
    not_modified: int = 0
    skipped_seen: int = 0
    unchanged: int = 0
    deferred: int = 0
    cancelled: int = 0
    extracted: int = 0
    emitted: int = 0
    # Later copies of a story not emitted (``output.duplicates: drop``).
    duplicates_dropped: int = 0
    failures: Counter[str] = Field(default_factory=Counter)
    not_pages: Counter[str] = Field(default_factory=Counter)
    # Median word count of the articles extracted in this run (the drift alert's input).
    median_words: float | None = None
    words: list[int] = Field(default_factory=list, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def failed_share(self) -> float | None:
        """Failed pages over pages tried, if any were: a page tried was either
        extracted or failed (at fetching or at extraction)."""
        tried = self.extracted + self.failed
        return self.failed / tried if tried else None

    @property
    def got_through(self) -> bool:
        """Whether any page of the source was reached, or needed no fetching."""
        return bool(self.fetched or self.not_modified or self.skipped_seen or self.deferred)


class Drift(BaseModel):
    """A source figure far outside its range over the recent runs."""

    source: str
    figure: str  # emitted, failed_share or median_words
    value: float
    usual: float  # median over the recent runs
    low: float
    high: float

    def message(self) -> str:
        return (
            f"drift: source {self.source!r}: {self.figure.replace('_', ' ')} {self.value:g} is "
            f"far outside its usual {self.usual:g} (expected {self.low:g} to {self.high:g})"
        )


class StorySize(BaseModel):
    """A story cluster and its copies found in one run."""

    story_id: str
    title: str
    copies: int


class RunReport(BaseModel):
    """What one run did; written as ``report.json``. ``summary()`` is the one line
    printed to stderr. Totals over the sources are derived."""

    run_id: str = ""
    started: datetime = Field(default_factory=utc_now)
    finished: datetime | None = None
    exit_code: int | None = None
    interrupted: bool = False
    full: bool = False
    note: str | None = None
    seconds: float = 0.0
    sources: dict[str, SourceReport] = Field(default_factory=dict)
    warnings: list[Drift] = Field(default_factory=list)
    # The stories with the most copies in this run (``scrape status`` shows them).
    stories: list[StorySize] = Field(default_factory=list)
    # Sources skipped because a run on another host held their lock (shared state).
    held_elsewhere: list[str] = Field(default_factory=list)
    errors: list[dict[str, str]] = Field(default_factory=list)

    def source(self, name: str) -> SourceReport:
        return self.sources.setdefault(name, SourceReport())

    def _total(self, count: str) -> int:
        return sum(getattr(s, count) for s in self.sources.values())

    @property
    def discovered(self) -> int:
        return self._total("discovered")

    @property
    def fetched(self) -> int:
        return self._total("fetched")

    @property
    def not_modified(self) -> int:
        return self._total("not_modified")

    @property
    def skipped_seen(self) -> int:
        return self._total("skipped_seen")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def deferred(self) -> int:
        return self._total("deferred")

    @property
    def cancelled(self) -> int:
        return self._total("cancelled")

    @property
    def extracted(self) -> int:
        return self._total("extracted")

    @property
    def emitted(self) -> int:
        return self._total("emitted")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def totals(self) -> dict[str, int]:
        totals = {count: self._total(count) for count in (*COUNTS, "failed")}
        return totals | {"not_pages": sum(self.not_pages.values())}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def not_pages(self) -> Counter[str]:
        return sum((s.not_pages for s in self.sources.values()), Counter())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failures(self) -> Counter[str]:
        return sum((s.failures for s in self.sources.values()), Counter())

    @property
    def failed(self) -> int:
        return self._total("failed")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pages_per_second(self) -> float:
        pages = self.fetched + self.not_modified + self.failed
        return round(pages / self.seconds, 2) if self.seconds > 0 else 0.0

    def fail(self, source: str, url: str, reason: str, message: str) -> None:
        self.source(source).failures[reason] += 1
        if len(self.errors) < 1000:
            self.errors.append({"source": source, "url": url, "reason": reason, "message": message})

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items()))
        total_not_pages = sum(self.not_pages.values())
        passed_over = ", ".join(f"{k}={v}" for k, v in sorted(self.not_pages.items()))
        return (
            f"scrape: discovered={self.discovered} fetched={self.fetched} "
            f"not_modified={self.not_modified} seen={self.skipped_seen} "
            f"unchanged={self.unchanged} extracted={self.extracted} emitted={self.emitted} "
            f"failed={self.failed}"
            + (f" ({reasons})" if reasons else "")
            + (f" deferred={self.deferred}" if self.deferred else "")
            + (f" not_pages={total_not_pages} ({passed_over})" if total_not_pages else "")
            + (f" cancelled={self.cancelled}" if self.cancelled else "")
            + f" in {self.seconds:.1f}s"
            + (" (interrupted)" if self.interrupted else "")
            + (
                f"; held by another host: {', '.join(self.held_elsewhere)}"
                if self.held_elsewhere
                else ""
            )
            + (f"; {len(self.warnings)} drift warning(s)" if self.warnings else "")
        )
