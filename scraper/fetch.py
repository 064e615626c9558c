"""Polite, bounded HTTP fetching with httpx.

One ``Fetcher`` per run wraps an ``httpx.AsyncClient`` whose transport can be
injected (tests pass respx or a mock transport). Every request:

* is refused unless the scheme is http(s) and, after DNS resolution, the address is
  public (``allow_private`` lifts this per source); redirects are followed by hand so
  every hop is checked, up to ``max_redirects``;
* waits for robots.txt (protego, once per host, RFC 9309 on fetch failures) and for
  the per-host delay;
* is retried by tenacity on timeouts, connection errors, 429 and 5xx, with
  exponential backoff and jitter, honouring ``Retry-After`` up to a cap;
* streams the body and stops at ``max_bytes`` of *decoded* bytes, so a gzip bomb
  is cut off as early as an honest huge page.

Every failure is a ``FetchError`` with a short ``reason`` code for the run report.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

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
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class _Host:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0
    robots: Protego | None = None
    robots_checked: bool = False


class Fetcher:
    """Fetches pages under one config; use as ``async with Fetcher(cfg) as f``."""

    def __init__(
        self,
        config: FetchConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        policy: RetryPolicy | None = None,
        wait: wait_base | None = None,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.policy = policy or RetryPolicy(attempts=config.retries + 1)
        backoff = wait or wait_exponential_jitter(
            initial=self.policy.backoff_initial,
            max=self.policy.backoff_max,
            jitter=self.policy.jitter,
        )
        self.wait = backoff if wait is not None else _RetryAfterWait(self.policy, backoff)
        self.client = httpx.AsyncClient(
            transport=transport,
            http2=transport is None and _has_h2(),
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=config.concurrency * 2),
        )
        self.hosts: dict[str, _Host] = {}
        self.requests = 0

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

    async def fetch(self, candidate: Candidate) -> Fetched:
        """An HTML page; raises ``FetchError``."""
        return await self.get(candidate.url, candidate.source, candidate.allow_private, HTML_TYPES)

    async def get(
        self,
        url: str,
        source: str,
        allow_private: bool = False,
        accept: tuple[str, ...] | None = None,
    ) -> Fetched:
        """Any resource (feeds, sitemaps, pages), retried under the policy."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.policy.attempts)),
            wait=self.wait,
            retry=retry_if_exception(self.policy.should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._get_once(url, source, allow_private, accept)
        raise AssertionError("unreachable")

    async def _get_once(
        self, url: str, source: str, allow_private: bool, accept: tuple[str, ...] | None
    ) -> Fetched:
        for _ in range(self.config.max_redirects + 1):
            await self._check_url(url, allow_private)
            await self._wait_turn(url, allow_private)
            response = await self._request(url, accept)
            if response.status in REDIRECT_CODES and response.location:
                url = urljoin(url, response.location)
                continue
            if response.status >= 400:
                raise HTTPStatusError(url, response.status, response.retry_after)
            return Fetched(
                url=url,
                source=source,
                body=response.body,
                status=response.status,
                content_type=response.content_type,
                encoding=response.encoding,
            )
        raise FetchError(f"more than {self.config.max_redirects} redirects: {url}", "redirects")

    async def _check_url(self, url: str, allow_private: bool) -> None:
        await self._check_address(url, allow_private)
        if self.config.respect_robots and not await self._robots_allow(url, allow_private):
            raise BlockedURL(f"disallowed by robots.txt: {url}", "robots")

    async def _robots_allow(self, url: str, allow_private: bool) -> bool:
        parts = urlsplit(url)
        host = self.hosts.setdefault(parts.netloc.lower(), _Host())
        if not host.robots_checked:
            host.robots_checked = True
            host.robots = await self._load_robots(f"{parts.scheme}://{parts.netloc}", allow_private)
        if host.robots is None:
            return True
        return bool(host.robots.can_fetch(url, self.config.user_agent))

    async def _load_robots(self, origin: str, allow_private: bool) -> Protego | None:
        """Parsed robots.txt; None allows everything (4xx), and a server or network
        failure disallows everything, as RFC 9309 says."""
        robots_url = f"{origin}/robots.txt"
        try:
            url = robots_url
            for _ in range(5):
                await self._check_address(url, allow_private)
                response = await self._request(url, None, timeout=min(self.config.timeout, 10))
                if response.status in REDIRECT_CODES and response.location:
                    url = urljoin(url, response.location)
                    continue
                break
        except FetchError:
            return Protego.parse("User-agent: *\nDisallow: /")
        if 400 <= response.status < 500:
            return None
        if response.status >= 500 or response.status in REDIRECT_CODES:
            return Protego.parse("User-agent: *\nDisallow: /")
        return Protego.parse(response.body.decode("utf-8", errors="replace"))

    async def _check_address(self, url: str, allow_private: bool) -> None:
        """Refuse non-http(s) URLs and, unless allowed, non-public addresses."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise BlockedURL(f"not an http(s) URL: {url}", "bad_url")
        if allow_private:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self.resolver(parts.hostname, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve {parts.hostname}: {exc}", "dns") from exc
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise BlockedURL(
                f"{parts.hostname} resolves to a non-public address", "private_address"
            )

    async def _wait_turn(self, url: str, allow_private: bool) -> None:
        """Sleep until this host may be asked again (``per_host_delay``)."""
        host = self.hosts.setdefault(urlsplit(url).netloc.lower(), _Host())
        async with host.lock:
            now = time.monotonic()
            if host.next_at > now:
                await asyncio.sleep(host.next_at - now)
            host.next_at = time.monotonic() + self.config.per_host_delay

    async def _request(
        self, url: str, accept: tuple[str, ...] | None, timeout: float | None = None
    ) -> _Response:
        self.requests += 1
        deadline = timeout or self.config.timeout
        try:
            return await asyncio.wait_for(self._stream(url, accept), deadline * 3)
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
        except httpx.HTTPError as exc:
            raise FetchError(f"HTTP error for {url}: {exc}", "connect") from exc

    async def _stream(self, url: str, accept: tuple[str, ...] | None) -> _Response:
        cap = self.config.max_bytes
        async with self.client.stream("GET", url) as resp:
            content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            result = _Response(
                status=resp.status_code,
                location=resp.headers.get("location"),
                content_type=content_type or None,
                encoding=resp.charset_encoding,
                retry_after=parse_retry_after(resp.headers.get("retry-after")),
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
    body: bytes = b""


def _has_h2() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True
