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

from pydantic import BaseModel, ConfigDict, Field, computed_field

_WORD = re.compile(r"\w+")


def url_id(url: str) -> str:
    """Stable 16-hex id of a (canonical) URL."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


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


class Fetched(BaseModel):
    """A page's raw bytes and where they came from; status 304 has no body."""

    url: str
    source: str
    body: bytes
    status: int = 200
    content_type: str | None = None
    encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime = Field(default_factory=utc_now)


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
    source: str | None = None
    language: str | None = None
    paragraphs: list[str] = Field(default_factory=list)
    captions: list[Caption] = Field(default_factory=list)
    fetched_at: datetime = Field(default_factory=utc_now)
    related: list[RelatedLink] = Field(default_factory=list)

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


class RunReport(BaseModel):
    """What one run did; its ``summary()`` is the one line printed to stderr."""

    discovered: int = 0
    fetched: int = 0
    not_modified: int = 0
    skipped_seen: int = 0
    extracted: int = 0
    emitted: int = 0
    failures: Counter[str] = Field(default_factory=Counter)
    errors: list[dict[str, str]] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def fail(self, url: str, reason: str, message: str) -> None:
        self.failures[reason] += 1
        if len(self.errors) < 1000:
            self.errors.append({"url": url, "reason": reason, "message": message})

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items()))
        return (
            f"scrape: discovered={self.discovered} fetched={self.fetched} "
            f"not_modified={self.not_modified} seen={self.skipped_seen} "
            f"extracted={self.extracted} emitted={self.emitted} failed={self.failed}"
            + (f" ({reasons})" if reasons else "")
            + f" in {self.seconds:.1f}s"
        )
