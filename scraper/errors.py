"""The project's exceptions. Callers only ever see these; third-party errors are
wrapped at the stage boundary with ``raise ... from exc``.

    ScrapeError
    ├── ConfigError        config file missing, unreadable, or invalid (names the field)
    ├── DiscoverError      a source, or a file or sitemap of it, could not be read; ``reason``
    ├── FetchError         a page could not be fetched; ``reason`` is a short code
    │   └── BlockedURL     refused before any request (bad URL, private address, robots)
    ├── ExtractError       a page could not be turned into an article
    │   └── NotAnArticle   the page holds no article text
    ├── StoreError         the state (SQLite file or PostgreSQL database) could not be used
    │   ├── LockedError    another run holds the state lock
    │   ├── StateFileError the state is corrupt, foreign, or from a newer version
    │   └── StateUnreachable the PostgreSQL server cannot be reached (try again later)
    ├── EngineError        the cluster (Dask scheduler) cannot be used, or a task failed
    └── SinkError          an output file could not be written
"""

from __future__ import annotations


class ScrapeError(Exception):
    """Base class of every error this package raises."""


class ConfigError(ScrapeError):
    pass


class DiscoverError(ScrapeError):
    """``reason`` counts it in the run report: ``discover`` (a source could not be
    listed), ``sitemap`` (a child sitemap was skipped), ``sitemap_limit``,
    ``too_large``, ``truncated``, ``corrupt``, ``not_warc``, ``unreadable``."""

    def __init__(self, message: str, reason: str = "discover") -> None:
        super().__init__(message)
        self.reason = reason


class FetchError(ScrapeError):
    """``reason`` is one of: dns, connect, timeout, http_4xx, http_5xx, too_large,
    redirects, robots, not_html, private_address, bad_url, decoding, deferred.

    Each names what actually went wrong: a page whose host could not be resolved,
    reached or allowed fails as ``dns``, ``connect``, ``timeout`` or
    ``private_address`` even when that happened while fetching its robots.txt;
    ``robots`` means robots.txt disallows the page, or answered in a way that
    disallows the host (a 5xx, a redirect loop), and the message says which."""

    def __init__(self, message: str, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class BlockedURL(FetchError):
    pass


class ExtractError(ScrapeError):
    reason = "extract"


class NotAnArticle(ExtractError):
    reason = "no_article"


class StoreError(ScrapeError):
    pass


class LockedError(StoreError):
    pass


class StateFileError(StoreError):
    pass


class StateUnreachable(StoreError):
    pass


class EngineError(ScrapeError):
    pass


class SinkError(ScrapeError):
    pass
