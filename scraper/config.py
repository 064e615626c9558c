"""``config.yaml`` as typed pydantic models.

Every key is checked: an unknown key or a wrong type raises ``ConfigError`` with one
line naming the field path (``sources[1].url: Field required``). Relative paths are
resolved against the directory of the config file, so cron can run from anywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .errors import ConfigError

DEFAULT_USER_AGENT = "scraper/0.1 (+https://example.org/scraper; news monitoring)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Format = Literal["jsonl", "text", "parquet"]


class OutputConfig(_Strict):
    dir: Path = Path("out")
    formats: list[Format] = ["jsonl", "text"]  # pydantic copies mutable defaults
    captions_inline: bool = False
    # Finished run folders kept: the newest ``keep_runs``, none started more than
    # ``keep_days`` ago (null: no limit); ``latest`` and unrecovered ones always stay.
    keep_runs: int | None = Field(200, ge=1)
    keep_days: float | None = Field(None, gt=0)
    skip_empty_runs: bool = True  # a run that emitted nothing leaves its report in the state only

    @field_validator("formats")
    @classmethod
    def _parquet_needs_pyarrow(cls, formats: list[str]) -> list[str]:
        if "parquet" in formats:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ValueError("parquet needs pyarrow: pip install 'scraper[parquet]'") from None
        return formats


class FetchConfig(_Strict):
    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = Field(20.0, gt=0)
    concurrency: int = Field(8, ge=1, le=256)
    host_concurrency: int = Field(2, ge=1, le=64)
    per_host_delay: float = Field(1.0, ge=0)
    max_crawl_delay: float = Field(30.0, ge=0)
    retries: int = Field(3, ge=0, le=20)
    backoff_max: float = Field(30.0, ge=0)
    retry_after_max: float = Field(120.0, ge=0)
    respect_robots: bool = True
    robots_timeout: float = Field(5.0, gt=0)
    max_bytes: int = Field(5_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0, le=30)
    http2: bool = True


class ExtractConfig(_Strict):
    timeout: float = Field(30.0, gt=0)
    workers: int = Field(0, ge=0, description="0 means one per core")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """``90``, ``"90s"``, ``"15m"``, ``"12h"``, ``"2d"``, ``"1w"`` (else left to pydantic)."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    return value


class _Source(_Strict):
    name: str = Field(min_length=1)
    allow_private: bool = False
    max_items: int | None = Field(None, ge=1)
    include: list[re.Pattern[str]] = []
    exclude: list[re.Pattern[str]] = []
    since: datetime | None = None
    max_age: timedelta | None = Field(None, gt=timedelta(0))

    _duration = field_validator("max_age", mode="before")(lambda cls, v: parse_duration(v))

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    def wants(self, url: str) -> bool:
        """Whether ``url`` passes the ``include``/``exclude`` patterns."""
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)

    def cutoff(self, now: datetime) -> datetime | None:
        """Items dated before this are skipped (``since`` / ``max_age``)."""
        limits = [t for t in (self.since, self.max_age and now - self.max_age) if t]
        return max(limits) if limits else None


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class UrlsSource(_Source):
    type: Literal["urls"]
    urls: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _check(cls, urls: list[str]) -> list[str]:
        return [_http_url(u) for u in urls]


class FeedSource(_Source):
    type: Literal["feed"]
    url: str

    _check = field_validator("url")(lambda cls, v: _http_url(v))


class SitemapSource(_Source):
    type: Literal["sitemap"]
    url: str

    _check = field_validator("url")(lambda cls, v: _http_url(v))


class ListingSource(_Source):
    type: Literal["listing"]
    url: str
    link_selector: str = Field(min_length=1)
    follow: str | None = None
    max_pages: int = Field(1, ge=1, le=1000)

    _check = field_validator("url")(lambda cls, v: _http_url(v))

    @field_validator("link_selector", "follow")
    @classmethod
    def _selector(cls, selector: str | None) -> str | None:
        from selectolax.lexbor import LexborHTMLParser, SelectolaxError

        if selector:
            try:
                LexborHTMLParser("<p></p>").css(selector)
            except (SelectolaxError, ValueError) as exc:
                raise ValueError(f"bad CSS selector {selector!r}: {exc}") from None
        return selector


class FilesSource(_Source):
    type: Literal["files"]
    path: Path


Source = Annotated[
    UrlsSource | FeedSource | SitemapSource | ListingSource | FilesSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("urls", "feed", "sitemap", "listing", "files")


class Settings(_Strict):
    output: OutputConfig = Field(default_factory=OutputConfig)
    state: Path = Path("out/state.sqlite")
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    sources: list[Source] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source name(s): {', '.join(dupes)}")
        return sources

    def resolved(self, base: Path) -> Settings:
        """A copy whose relative paths are taken from ``base``."""
        copy = self.model_copy(deep=True)
        copy.output.dir = base / self.output.dir
        copy.state = base / self.state
        for source in copy.sources:
            if isinstance(source, FilesSource):
                source.path = base / source.path
        return copy


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i > 0 and isinstance(loc[i - 1], int) and item in SOURCE_TYPES:
            continue  # the discriminator tag pydantic inserts for unions
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def parse_settings(data: object, origin: str = "config") -> Settings:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{origin}: {_field_path(err['loc'])}: {err['msg']}{more}") from None


def load_settings(path: str | Path) -> Settings:
    """Read, validate and resolve a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config is not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {problem}{where}") from exc
    return parse_settings(data, str(path)).resolved(path.resolve().parent)
