"""``config.yaml`` as typed pydantic models.

Every key is checked: an unknown key, a wrong type, a number that is not finite or
out of its range, or a pattern RE2 cannot take raises ``ConfigError`` with one line
naming the field path (``sources[1].url: Field required``), before anything is
written. Relative paths are resolved against the directory of the config file, so
cron can run from anywhere.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import re2
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    PlainValidator,
    Tag,
    ValidationError,
    field_validator,
)
from pydantic_core import core_schema

from .errors import ConfigError

DEFAULT_USER_AGENT = "scraper/0.1 (+https://example.org/scraper; news monitoring)"

# Upper bounds: a value past them is a typo, and would overflow a clock or a date.
MAX_TIMEOUT = 3600.0  # seconds, any single timeout (network operation, page extraction)
MAX_DELAY = 3600.0  # seconds between two requests to a host, or one backoff wait
MAX_RETRY_AFTER = 86400.0  # a Retry-After honoured within a run, at most a day
MAX_WORKERS = 256
MAX_BODY_BYTES = 1_000_000_000
MAX_ITEMS = 10_000_000
MAX_DURATION = timedelta(days=36525)  # max_age and --since: a hundred years
MAX_NAME_LENGTH = 200
MAX_USER_AGENT_LENGTH = 512
MAX_CONFIG_BYTES = 10_000_000
MAX_SELECTOR_LENGTH = 1000
MAX_PHRASE_LENGTH = 500

# C0 and C1 control characters and the Unicode line and paragraph separators: they
# could split one log line in two or rewrite the terminal.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _printable(value: str) -> str:
    if CONTROL_CHARS.search(value):
        raise ValueError(f"control character in {value!r}")
    return value


def _plain_path(value: Path) -> Path:
    if "\0" in str(value):
        raise ValueError(f"NUL character in path {str(value)!r}")
    return value


Text = Annotated[str, AfterValidator(_printable)]
FilePath = Annotated[Path, AfterValidator(_plain_path)]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MAX_ENGINE_WORKERS = 256
_LOCAL_ENGINE = re.compile(r"local:(\d{1,4})")


class StateUrl(str):
    """``state:`` given as a PostgreSQL URL (``postgresql://user@host:5432/db``)
    rather than an SQLite file; the password, if the URL holds one, is never shown."""

    @classmethod
    def checked(cls, value: str) -> StateUrl:
        """The URL, or ``ValueError`` saying in one line what is wrong with it."""
        from psycopg import conninfo

        if CONTROL_CHARS.search(value) or any(ch.isspace() for ch in value):
            raise ValueError("space or control character in the PostgreSQL URL")
        url = cls(value)
        try:
            conninfo.conninfo_to_dict(value)
        except Exception as exc:  # psycopg.ProgrammingError: libpq refused it
            why = " ".join(str(exc).split()).replace(value, url.redacted())
            raise ValueError(f"bad PostgreSQL URL {url.redacted()}: {why}") from None
        return url

    def redacted(self) -> str:
        """The URL with its password (if any) replaced by ``***``."""
        parts = urlsplit(self)
        if parts.password is None:
            return str(self)
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{user}:***@{host}").geturl()


def state_location(value: object) -> StateUrl | Path:
    """A PostgreSQL URL as a ``StateUrl``; anything else as the path of an SQLite file."""
    if isinstance(value, str) and value.strip().lower().startswith(POSTGRES_SCHEMES):
        return value if isinstance(value, StateUrl) else StateUrl.checked(value.strip())
    if not isinstance(value, str | Path):
        raise ValueError("expected a file path or a postgresql:// URL")
    return _plain_path(Path(value))


StateLocation = Annotated[
    StateUrl | Path,
    PlainValidator(state_location),
    PlainSerializer(str, return_type=str),
]


def parse_engine(text: str) -> str:
    """An engine address, checked: ``local:N`` (a local cluster of N workers, 1 to
    ``MAX_ENGINE_WORKERS``) or ``tcp://host:port`` (a running Dask scheduler).
    Raises ``ValueError`` saying what is wrong."""
    text = text.strip()
    if match := _LOCAL_ENGINE.fullmatch(text):
        if not 1 <= int(match[1]) <= MAX_ENGINE_WORKERS:
            raise ValueError(f"local:N takes 1 to {MAX_ENGINE_WORKERS} workers, not {match[1]}")
        return text
    if text.startswith(("tcp://", "tls://")):
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad scheduler address {text!r}: {exc}") from None
        extra = parts.path or parts.query or parts.fragment or CONTROL_CHARS.search(text)
        if parts.hostname and port and not extra:
            return text
    raise ValueError(
        f"engine address {text!r} is neither local:N nor tcp://host:port (a Dask scheduler)"
    )


EngineAddress = Annotated[str, AfterValidator(parse_engine)]


Format = Literal["jsonl", "text", "parquet"]


class OutputConfig(_Strict):
    dir: FilePath = Path("out")
    formats: list[Format] = ["jsonl", "text"]  # pydantic copies mutable defaults
    captions_inline: bool = False
    # Later copies of a story: emitted as they are (keep), emitted with
    # ``duplicate_of`` set (mark), or not emitted (drop).
    duplicates: Literal["keep", "mark", "drop"] = "mark"
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
    user_agent: Text = Field(DEFAULT_USER_AGENT, min_length=1, max_length=MAX_USER_AGENT_LENGTH)
    timeout: float = Field(20.0, gt=0, le=MAX_TIMEOUT)
    concurrency: int = Field(8, ge=1, le=256)
    host_concurrency: int = Field(2, ge=1, le=64)
    per_host_delay: float = Field(1.0, ge=0, le=MAX_DELAY)
    max_crawl_delay: float = Field(30.0, ge=0, le=MAX_DELAY)
    retries: int = Field(3, ge=0, le=20)
    backoff_max: float = Field(30.0, ge=0, le=MAX_DELAY)
    retry_after_max: float = Field(120.0, ge=0, le=MAX_RETRY_AFTER)
    respect_robots: bool = True
    robots_timeout: float = Field(5.0, gt=0, le=MAX_TIMEOUT)
    max_bytes: int = Field(5_000_000, ge=1024, le=MAX_BODY_BYTES)
    max_redirects: int = Field(5, ge=0, le=30)
    http2: bool = True


class ExtractConfig(_Strict):
    timeout: float = Field(30.0, gt=0, le=MAX_TIMEOUT)
    workers: int = Field(0, ge=0, le=MAX_WORKERS, description="0 means one per core")


class TemplateConfig(_Strict):
    """Learned per-site templates (``templates``): a block seen outside the body on at
    least ``min_pages`` pages of a site, and on at least ``min_share`` of the site's
    pages since it was first seen, is template; what was not seen for ``max_age`` is
    forgotten."""

    learn: bool = True
    min_pages: int = Field(5, ge=2, le=100_000)
    min_share: float = Field(0.3, gt=0, le=1)
    max_age: timedelta = Field(timedelta(days=60), gt=timedelta(0), le=MAX_DURATION)

    _duration = field_validator("max_age", mode="before")(lambda cls, v: parse_duration(v))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """``90``, ``"90s"``, ``"15m"``, ``"12h"``, ``"2d"``, ``"1w"`` (else left to pydantic).

    Raises ``ValueError`` for a duration longer than ``MAX_DURATION``, which would
    overflow a date."""
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = float(match[1]) * _UNITS[match[2]]
        if not seconds <= MAX_DURATION.total_seconds():  # inf too
            raise ValueError(f"{value.strip()} is longer than {MAX_DURATION.days} days")
        return timedelta(seconds=seconds)
    return value


# RE2 matches in time linear in the URL (no backtracking), and keeps quiet about
# the patterns it refuses: the error is reported once, as a config error.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class UrlPattern:
    """A user's regular expression (RE2 syntax: no backreferences or lookaround),
    compiled when the config is loaded, so no pattern can hang a run."""

    def __init__(self, text: str) -> None:
        try:
            self.regex = re2.compile(text, _RE2_OPTIONS)
        except re2.error as exc:
            why = exc.args[0] if exc.args else exc
            why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
            raise ValueError(f"{why} (patterns are RE2: no backreferences or lookaround)") from None
        self.text = text

    def search(self, url: str) -> bool:
        return self.regex.search(url) is not None

    def __repr__(self) -> str:
        return f"UrlPattern({self.text!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> UrlPattern:
        return self  # immutable

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda p: p.text),
        )


class _Source(_Strict):
    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    allow_private: bool = False
    max_items: int | None = Field(None, ge=1, le=MAX_ITEMS)
    include: list[UrlPattern] = []
    exclude: list[UrlPattern] = []
    since: datetime | None = None
    max_age: timedelta | None = Field(None, gt=timedelta(0), le=MAX_DURATION)

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
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"bad URL {value!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if CONTROL_CHARS.search(value) or any(ch.isspace() for ch in value):
        raise ValueError(f"space or control character in URL {value!r}")
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
    # Sitemap files read per run (the index, its children, robots.txt's list): a
    # bound on indexes that list each other or grow without end.
    max_files: int = Field(1000, ge=1)

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
    path: FilePath


def check_selector(selector: str) -> str:
    """``selector`` if lexbor can use it, else ``ValueError`` naming it."""
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except (SelectolaxError, ValueError) as exc:
        raise ValueError(f"bad CSS selector {selector!r}: {exc}") from None
    return selector


Selector = Annotated[
    str, Field(min_length=1, max_length=MAX_SELECTOR_LENGTH), AfterValidator(check_selector)
]
Phrase = Annotated[Text, Field(min_length=1, max_length=MAX_PHRASE_LENGTH)]


class SiteRule(_Strict):
    """Declarative rules for one site (``rules``): ``site`` is a host; the rule applies
    to it and to its subdomains."""

    site: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    remove: list[Selector] = []
    keep: list[Selector] = []
    stop_phrases: list[Phrase] = []
    end_at: list[Phrase] = []
    source: Text | None = Field(None, min_length=1, max_length=MAX_NAME_LENGTH)

    @field_validator("site")
    @classmethod
    def _host(cls, site: str) -> str:
        host = site.strip().lower().removeprefix("www.").rstrip(".")
        if not host or "/" in host or any(ch.isspace() for ch in host):
            raise ValueError(f"site must be a host such as example.com, not {site!r}")
        return host


class RulesFile(_Strict):
    """A YAML file of site rules, named by the config."""

    include: FilePath


def _rule_kind(value: object) -> str:
    is_file = isinstance(value, RulesFile) or (isinstance(value, dict) and "include" in value)
    return "file" if is_file else "rule"


Rule = Annotated[
    Annotated[SiteRule, Tag("rule")] | Annotated[RulesFile, Tag("file")],
    Discriminator(_rule_kind),
]


Source = Annotated[
    UrlsSource | FeedSource | SitemapSource | ListingSource | FilesSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("urls", "feed", "sitemap", "listing", "files")
RULE_KINDS = ("rule", "file")


class Settings(_Strict):
    output: OutputConfig = Field(default_factory=OutputConfig)
    # An SQLite file, or a PostgreSQL URL shared by several hosts.
    state: StateLocation = Path("out/state.sqlite")
    # Extraction on a Dask cluster (``local:N`` or ``tcp://host:8786``) instead of
    # the local worker processes.
    engine: EngineAddress | None = None
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    template: TemplateConfig = Field(default_factory=TemplateConfig)
    # Per-site rules, or files of them (``- include: rules/portals.yaml``), which
    # ``load_settings`` reads in their place.
    rules: list[Rule] = []
    sources: list[Source] = Field(min_length=1)

    # ``rules:`` with every example commented out is an empty key
    _no_rules = field_validator("rules", mode="before")(lambda cls, v: [] if v is None else v)

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
        if isinstance(self.state, Path):
            copy.state = base / self.state
        for source in copy.sources:
            if isinstance(source, FilesSource):
                source.path = base / source.path
        for rule in copy.rules:
            if isinstance(rule, RulesFile):
                rule.include = base / rule.include
        return copy

    def site_rules(self) -> list[SiteRule]:
        """The rules of the config (files already read in by ``load_settings``)."""
        return [rule for rule in self.rules if isinstance(rule, SiteRule)]


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i > 0 and isinstance(loc[i - 1], int) and item in SOURCE_TYPES + RULE_KINDS:
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


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; raises ``OSError`` unless it is a regular file of at
    most ``limit`` bytes. A FIFO or a device is refused without blocking on it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > limit:
            raise OSError(f"larger than {limit} bytes")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise OSError(f"larger than {limit} bytes")
    return data


def load_settings(path: str | Path) -> Settings:
    """Read, validate and resolve a config file, and the rules files it names."""
    path = Path(path)
    data = _yaml_file(path, "config")
    settings = parse_settings(data, str(path)).resolved(path.resolve().parent)
    return settings.model_copy(update={"rules": read_rules(settings.rules)})


def read_rules(rules: list[SiteRule | RulesFile]) -> list[SiteRule | RulesFile]:
    """``rules`` with each file named read in its place: a YAML list of site rules (or
    a mapping whose ``rules`` key holds it). A file that cannot be read or holds a bad
    rule raises ``ConfigError`` naming the file and the field."""
    read: list[SiteRule | RulesFile] = []
    for rule in rules:
        if isinstance(rule, SiteRule):
            read.append(rule)
            continue
        path = rule.include
        data = _yaml_file(path, "rules file")
        if isinstance(data, dict) and set(data) == {"rules"}:
            data = data["rules"]
        if not isinstance(data, list):
            raise ConfigError(f"{path}: expected a list of site rules")
        for i, item in enumerate(data):
            try:
                read.append(SiteRule.model_validate(item))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = _field_path(("rules", i, *err["loc"]))
                raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    return read


def _yaml_file(path: Path, what: str) -> object:
    """The YAML document of ``path`` (read with ``yaml.safe_load``), or
    ``ConfigError`` in one line."""
    try:
        text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {problem}{where}") from exc
