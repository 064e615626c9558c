"""Polite, bounded HTTP fetching with httpx.

One ``Fetcher`` per run wraps ``httpx.AsyncClient`` (HTTP/2 when ``h2`` is there);
tests inject a transport (respx) and a resolver. Every request:

* is refused unless the scheme is http(s) and the address is public
  (``allow_private`` lifts this per source). The check runs at connect time on the
  very addresses the connection then uses, so DNS cannot rebind in between, and
  again on every redirect hop, up to ``max_redirects``;
* waits for robots.txt (protego; fetched once per host with a short timeout; a 4xx
  allows everything and a 5xx or network failure disallows everything, as RFC 9309
  says), for a free slot of the host (``host_concurrency``) and for the host's
  delay: ``per_host_delay`` or the robots Crawl-delay, shared by every source.
  When robots.txt cannot be fetched, the host's pages fail with the reason it
  could not (``dns``, ``connect``, ``timeout``, ``private_address``), and with
  ``robots`` only when robots.txt itself (its status, say) disallows them;
* is retried by tenacity on timeouts, connection errors, 429 and 5xx, with
  exponential backoff and jitter, honouring ``Retry-After`` up to a cap. A 429 or
  503 also slows the whole host down, not just the URL;
* sends the validators of a past copy (conditional GET); a 304 comes back as a
  ``Fetched`` with status 304 and no body;
* streams the body and stops at ``max_bytes`` of *decoded* bytes, so a gzip bomb
  is cut off as early as an honest huge page.

A host's "not before" time (from a 429 or 503 and its Retry-After, uncapped) is
kept in ``not_before`` so the state can carry it to the next run. A host given
one by a past run is waited for when it is near, and its URLs are ``Deferred``
(left for a later run, not failed) when it is further than ``retry_after_max``.
Within the run that got the 429, the capped wait above applies.

Every failure is a ``FetchError`` with a short ``reason`` code for the run report.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from .config import FetchConfig
from .errors import BlockedURL, FetchError
from .models import Candidate, Fetched, utc_now

Resolver = Callable[[str, int], Awaitable[list[str]]]

HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
SLOW_DOWN_CODES = frozenset({429, 503})
ROBOTS_REDIRECTS = 5  # RFC 9309 asks crawlers to follow at least five
# A robots.txt that cannot be fetched for these reasons means the host cannot be
# reached (or may not be): its pages fail with the same reason. Anything else (a
# 5xx, a redirect loop...) fails them as ``robots``.
UNREACHABLE_REASONS = frozenset({"dns", "connect", "timeout", "private_address"})


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how often and how long to wait."""

    attempts: int = 4
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    retry_reasons: frozenset[str] = frozenset({"timeout", "connect"})
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 1.0
    retry_after_cap: float = 120.0

    @classmethod
    def from_config(cls, config: FetchConfig) -> RetryPolicy:
        return cls(
            attempts=config.retries + 1,
            backoff_max=config.backoff_max,
            retry_after_cap=config.retry_after_max,
        )

    def should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, FetchError) or isinstance(exc, BlockedURL):
            return False
        return exc.reason in self.retry_reasons or exc.status in self.retry_statuses


class _RetryAfterWait(wait_base):
    """Exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self, policy: RetryPolicy, backoff: wait_base) -> None:
        self.policy = policy
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = self.backoff(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.policy.retry_after_cap))
        return float(wait)


class Deferred(FetchError):
    """The host asked not to be contacted again before a time after the run's patience."""

    def __init__(self, url: str, until: datetime) -> None:
        super().__init__(f"host asked to wait until {until.isoformat()}: {url}", "deferred")
        self.until = until


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int, retry_after: float | None) -> None:
        reason = "http_5xx" if status >= 500 else "http_4xx"
        super().__init__(f"HTTP {status} for {url}", reason, status)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (when - utc_now()).total_seconds()) if when.tzinfo else None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host``, looked up in a daemon thread of its own: a lookup
    stuck on a dead DNS server is abandoned with a cancelled fetch, where
    ``loop.getaddrinfo`` would hold the run's exit until it returned."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[str]] = loop.create_future()

    def settle(result: list[str] | None, error: BaseException | None) -> None:
        if answer.done():
            return  # cancelled meanwhile
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result or [])

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
            outcome: tuple[list[str] | None, BaseException | None] = (found, None)
        except Exception as exc:
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed first
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=lookup, name=f"dns {host}", daemon=True).start()
    return await answer


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_checked(
    resolver: Resolver, host: str, port: int, allow_private: bool
) -> list[str]:
    """The addresses of ``host``; raises unless every one may be contacted."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses = [host.strip("[]")]
    except ValueError:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve {host}: {exc}", "dns") from exc
    if not addresses:
        raise FetchError(f"cannot resolve {host}: no address", "dns")
    if not allow_private and (private := [a for a in addresses if not is_public_address(a)]):
        where = host if private == [host] else f"{host} ({private[0]})"
        raise BlockedURL(f"{where} is a non-public address", "private_address")
    return addresses


def with_private_hint(exc: BlockedURL, source: str | None) -> BlockedURL:
    """``exc``, saying how to allow the address when it is a private one."""
    if exc.reason != "private_address" or not source:
        return exc
    hint = f"{exc}; set allow_private: true on source '{source}' to fetch it"
    return BlockedURL(hint, exc.reason)


class _PinnedBackend(httpcore.AnyIOBackend):
    """Connects only to addresses that ``resolve_checked`` returned for the host."""

    def __init__(self, resolver: Resolver, allow_private: bool) -> None:
        self.resolver = resolver
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_checked(self.resolver, host, port, self.allow_private)
        error: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with ``_PinnedBackend`` under its connection pool."""

    def __init__(
        self, resolver: Resolver, allow_private: bool, http2: bool, limits: httpx.Limits
    ) -> None:
        super().__init__(http2=http2, limits=limits, trust_env=False)
        # httpx has no hook for a network backend: rebuild its pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http2=http2,
            network_backend=_PinnedBackend(resolver, allow_private),
        )


@dataclass
class _Host:
    """Politeness state of one host, shared by every source of the run."""

    slots: asyncio.Semaphore
    delay: float
    base_delay: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0
    robots: Protego | None = None
    # Why robots.txt could not be had, as (message, reason), by ``allow_private``:
    # every page of the host then fails with it and robots.txt is not asked again
    # (a source that allows private addresses may still get it).
    robots_failures: dict[bool, tuple[str, str]] = field(default_factory=dict)


class Fetcher:
    """Fetches pages under one config; use as ``async with Fetcher(cfg) as f``."""

    def __init__(
        self,
        config: FetchConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        policy: RetryPolicy | None = None,
        wait: wait_base | None = None,
        not_before: dict[str, datetime] | None = None,
    ) -> None:
        self.config = config
        # Wall-clock times before which a host must not be asked again (by host name):
        # those of past runs, then this run's too, for the state to keep.
        self.inherited: dict[str, datetime] = dict(not_before or {})
        self.not_before: dict[str, datetime] = dict(self.inherited)
        self.resolver = resolver
        self.policy = policy or RetryPolicy.from_config(config)
        backoff = wait or wait_exponential_jitter(
            initial=self.policy.backoff_initial,
            max=self.policy.backoff_max,
            jitter=self.policy.jitter,
        )
        self.wait = backoff if wait is not None else _RetryAfterWait(self.policy, backoff)
        # An injected transport cannot check addresses at connect time, so they are
        # checked before each request instead.
        self.precheck = transport is not None
        self.http2 = config.http2 and _has_h2()
        limits = httpx.Limits(max_connections=config.concurrency * 2)
        self.clients = {
            allow: self._client(
                transport or PinnedTransport(resolver, allow, self.http2, limits), limits
            )
            for allow in (False, True)
        }
        self.hosts: dict[str, _Host] = {}
        self.requests = 0

    def _client(
        self, transport: httpx.AsyncBaseTransport, limits: httpx.Limits
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport,
            headers={"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(self.config.timeout),
            follow_redirects=False,
            limits=limits,
            trust_env=False,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def fetch(self, candidate: Candidate) -> Fetched:
        """An HTML page, or status 304 when the validators still match."""
        validators = {
            "If-None-Match": candidate.etag,
            "If-Modified-Since": candidate.last_modified,
        }
        headers = {k: v for k, v in validators.items() if v}
        page = await self.get(
            candidate.url, candidate.source, candidate.allow_private, HTML_TYPES, headers
        )
        page.origin = candidate.origin
        return page

    async def get(
        self,
        url: str,
        source: str,
        allow_private: bool = False,
        accept: tuple[str, ...] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fetched:
        """Any resource (feeds, sitemaps, pages), retried under the policy."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.policy.attempts)),
            wait=self.wait,
            retry=retry_if_exception(self.policy.should_retry),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get_once(url, source, allow_private, accept, headers or {})
        except BlockedURL as exc:
            raise with_private_hint(exc, source) from exc
        raise AssertionError("unreachable")

    async def _get_once(
        self,
        url: str,
        source: str,
        allow_private: bool,
        accept: tuple[str, ...] | None,
        headers: dict[str, str],
    ) -> Fetched:
        for _ in range(self.config.max_redirects + 1):
            check_http_url(url)
            self._check_deferred(url)
            await self._check_url(url, allow_private)
            host = self._host(url)
            async with host.slots:
                await self._wait_turn(host)
                response = await self._request(url, allow_private, accept, headers)
            if response.status in SLOW_DOWN_CODES:
                self._slow_down(host, response.retry_after)
                self._remember_backoff(url, response.retry_after or host.delay)
            elif response.status < 300:
                host.delay = max(host.base_delay, host.delay / 2)
            if response.status in REDIRECT_CODES and response.location:
                url = urljoin(url, response.location)
                continue
            if response.status >= 400:
                raise HTTPStatusError(url, response.status, response.retry_after)
            if response.status >= 300 and response.status != 304:
                raise FetchError(
                    f"HTTP {response.status} without a usable Location: {url}", "redirects"
                )
            return Fetched(
                url=url,
                source=source,
                body=response.body,
                status=response.status,
                content_type=response.content_type,
                encoding=response.encoding,
                etag=response.etag,
                last_modified=response.last_modified,
            )
        raise FetchError(f"more than {self.config.max_redirects} redirects: {url}", "redirects")

    def _host(self, url: str) -> _Host:
        key = urlsplit(url).netloc.lower()
        if key not in self.hosts:
            delay = self.config.per_host_delay
            host = _Host(asyncio.Semaphore(self.config.host_concurrency), delay, delay)
            if until := self.inherited.get(key):
                wait = (until - utc_now()).total_seconds()
                host.next_at = time.monotonic() + max(0.0, wait)
            self.hosts[key] = host
        return self.hosts[key]

    def _check_deferred(self, url: str) -> None:
        until = self.inherited.get(urlsplit(url).netloc.lower())
        if until and (until - utc_now()).total_seconds() > self.policy.retry_after_cap:
            raise Deferred(url, until)

    async def _check_url(self, url: str, allow_private: bool) -> None:
        await self._precheck(url, allow_private)
        if self.config.respect_robots:
            robots = await self._robots(url, allow_private)
            if not robots.can_fetch(url, self.config.user_agent):
                raise BlockedURL(f"disallowed by robots.txt: {url}", "robots")

    async def _precheck(self, url: str, allow_private: bool) -> None:
        if self.precheck:
            await self._resolve(url, allow_private)

    async def _resolve(self, url: str, allow_private: bool) -> None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await resolve_checked(self.resolver, parts.hostname or "", port, allow_private)

    async def robots(
        self, url: str, allow_private: bool = False, source: str | None = None
    ) -> Protego:
        """The robots.txt rules of ``url``'s host, fetched once per run. Raises
        ``BlockedURL`` when robots.txt could not be had (see ``_load_robots``)."""
        try:
            return await self._robots(url, allow_private)
        except BlockedURL as exc:
            raise with_private_hint(exc, source) from exc

    async def _robots(self, url: str, allow_private: bool) -> Protego:
        self._check_deferred(url)
        host = self._host(url)
        async with host.robots_lock:
            if host.robots is None and allow_private not in host.robots_failures:
                # The host's own address first: a page on a private or unknown host
                # fails as such, not as one whose robots.txt could not be had.
                await self._resolve(url, allow_private)
                parts = urlsplit(url)
                origin = f"{parts.scheme}://{parts.netloc}"
                try:
                    host.robots = await self._load_robots(origin, allow_private)
                except FetchError as exc:
                    reason = exc.reason if exc.reason in UNREACHABLE_REASONS else "robots"
                    message = f"robots.txt of {origin} could not be fetched ({exc})"
                    host.robots_failures[allow_private] = (
                        f"{message}, so the host is not crawled (RFC 9309)",
                        reason,
                    )
                else:
                    self._apply_crawl_delay(host, host.robots)
        if host.robots is None:
            raise BlockedURL(*host.robots_failures[allow_private])
        return host.robots

    def _apply_crawl_delay(self, host: _Host, robots: Protego) -> None:
        crawl_delay = robots.crawl_delay(self.config.user_agent)
        if crawl_delay:
            host.base_delay = max(
                host.base_delay, min(float(crawl_delay), self.config.max_crawl_delay)
            )
            host.delay = max(host.delay, host.base_delay)

    async def _load_robots(self, origin: str, allow_private: bool) -> Protego:
        """The rules at ``origin``; a 4xx allows everything. A 5xx, a network failure
        or too many redirects raise ``FetchError``: the host is then disallowed."""
        url = f"{origin}/robots.txt"
        for _ in range(ROBOTS_REDIRECTS + 1):
            check_http_url(url)
            await self._precheck(url, allow_private)
            response = await self._request(
                url, allow_private, None, {}, timeout=self.config.robots_timeout
            )
            if response.status in REDIRECT_CODES and response.location:
                url = urljoin(url, response.location)
                continue
            if 400 <= response.status < 500:
                return Protego.parse("")
            if response.status >= 300:
                raise FetchError(f"HTTP {response.status} for {url}", "robots", response.status)
            return Protego.parse(response.body.decode("utf-8", errors="replace"))
        raise FetchError(f"more than {ROBOTS_REDIRECTS} redirects: {url}", "robots")

    async def _wait_turn(self, host: _Host) -> None:
        """Sleep until this host may be asked again."""
        async with host.lock:
            now = time.monotonic()
            if host.next_at > now:
                await asyncio.sleep(host.next_at - now)
            host.next_at = time.monotonic() + host.delay

    def _slow_down(self, host: _Host, retry_after: float | None) -> None:
        """Back off the whole host after a 429 or 503: its delay doubles (within the
        policy's backoff caps) and nobody asks it again before its Retry-After."""
        policy = self.policy
        ceiling = max(policy.backoff_max, host.base_delay)
        host.delay = min(max(host.delay * 2, policy.backoff_initial), ceiling)
        pause = host.delay if retry_after is None else min(retry_after, policy.retry_after_cap)
        host.next_at = max(host.next_at, time.monotonic() + pause)

    def _remember_backoff(self, url: str, seconds: float) -> None:
        key = urlsplit(url).netloc.lower()
        until = utc_now() + timedelta(seconds=seconds)
        self.not_before[key] = max(until, self.not_before.get(key, until))

    async def _request(
        self,
        url: str,
        allow_private: bool,
        accept: tuple[str, ...] | None,
        headers: dict[str, str],
        timeout: float | None = None,
    ) -> _Response:
        self.requests += 1
        deadline = timeout or self.config.timeout
        client = self.clients[allow_private]
        try:
            return await asyncio.wait_for(
                self._stream(client, url, accept, headers, deadline), deadline * 3
            )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise FetchError(f"timed out: {url}", "timeout") from exc
        except httpx.ConnectError as exc:
            text = str(exc)
            reason = "dns" if "name" in text.lower() and "known" in text.lower() else "connect"
            raise FetchError(f"cannot connect to {urlsplit(url).netloc}: {text}", reason) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise FetchError(f"connection dropped: {url}: {exc}", "connect") from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"undecodable body: {url}: {exc}", "decoding") from exc
        except (httpx.InvalidURL, UnicodeError) as exc:  # a host name IDNA refuses, say
            raise BlockedURL(f"bad URL {url!r}: {exc}", "bad_url") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"HTTP error for {url}: {exc}", "connect") from exc

    async def _stream(
        self,
        client: httpx.AsyncClient,
        url: str,
        accept: tuple[str, ...] | None,
        headers: dict[str, str],
        timeout: float,
    ) -> _Response:
        cap = self.config.max_bytes
        async with client.stream("GET", url, headers=headers, timeout=timeout) as resp:
            content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            result = _Response(
                status=resp.status_code,
                location=resp.headers.get("location"),
                content_type=content_type or None,
                encoding=resp.charset_encoding,
                retry_after=parse_retry_after(resp.headers.get("retry-after")),
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
            )
            if resp.status_code >= 300:
                return result
            if accept and content_type and not content_type.startswith(accept):
                raise FetchError(f"not HTML ({content_type}): {url}", "not_html")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchError(f"body of {declared} bytes exceeds {cap}: {url}", "too_large")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"body exceeds {cap} bytes: {url}", "too_large")
                chunks.append(chunk)
            result.body = b"".join(chunks)
            return result


@dataclass
class _Response:
    status: int
    location: str | None
    content_type: str | None
    encoding: str | None
    retry_after: float | None
    etag: str | None = None
    last_modified: str | None = None
    body: bytes = b""


def check_http_url(url: str) -> None:
    """Raises ``BlockedURL`` (``bad_url``) unless ``url`` is a well-formed http(s) URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise BlockedURL(f"bad URL {url!r}: {exc}", "bad_url") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BlockedURL(f"not an http(s) URL: {url!r}", "bad_url")


def _has_h2() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True
