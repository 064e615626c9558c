"""Scrape syndicated news pages and clean them into seed-format article records."""

from .config import Settings, load_settings
from .errors import (
    BlockedURL,
    ConfigError,
    DiscoverError,
    EngineError,
    ExtractError,
    FetchError,
    LockedError,
    NotAnArticle,
    ScrapeError,
    SinkError,
    StateFileError,
    StateUnreachable,
    StoreError,
)
from .extract import extract
from .models import Article, Caption, RelatedLink, RunReport
from .normalise import article_seed_text
from .pipeline import run

__all__ = [
    "Article",
    "BlockedURL",
    "Caption",
    "ConfigError",
    "DiscoverError",
    "EngineError",
    "ExtractError",
    "FetchError",
    "LockedError",
    "NotAnArticle",
    "RelatedLink",
    "RunReport",
    "ScrapeError",
    "Settings",
    "SinkError",
    "StateFileError",
    "StateUnreachable",
    "StoreError",
    "article_seed_text",
    "extract",
    "load_settings",
    "run",
]
