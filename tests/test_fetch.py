import asyncio
import gzip
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from tenacity import wait_none

from scraper.config import FetchConfig
from scraper.errors import BlockedURL, FetchError
from scraper.fetch import Fetcher, RetryPolicy, parse_retry_after
from scraper.models import Candidate, FeedOrigin

from .conftest import public_resolver

HTML = b"<html><body><article><p>Hello world.</p></article></body></html>"


def make_fetcher(router: respx.Router, resolver=public_resolver, **config) -> Fetcher:
    config = {"per_host_delay": 0, "respect_robots": False, "retries": 2, **config}
    return Fetcher(
        FetchConfig(**config),
        transport=httpx.MockTransport(router.handler),
        resolver=resolver,
        wait=wait_none(),
    )


def page(url: str, allow_private: bool = False) -> Candidate:
    return Candidate(url=url, source="test", allow_private=allow_private)


def html_response(status: int = 200, body: bytes = HTML, **headers) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/html", **headers})


async def test_user_agent_comes_from_the_config():
    router = respx.Router()
    route = router.get("https://news.example/a").mock(return_value=html_response())
    async with make_fetcher(router, user_agent="TestBot/1.0") as fetcher:
        fetched = await fetcher.fetch(page("https://news.example/a"))
    assert fetched.body == HTML
    assert route.calls.last.request.headers["user-agent"] == "TestBot/1.0"


async def test_the_fetched_page_keeps_its_feed_items_source():
    router = respx.Router()
    router.get("https://news.example/a").mock(return_value=html_response())
    origin = FeedOrigin(name="Reuters", url="https://www.reuters.com/rss")
    async with make_fetcher(router) as fetcher:
        fetched = await fetcher.fetch(
            page("https://news.example/a").model_copy(update={"origin": origin})
        )
    assert fetched.origin == origin


async def test_503_is_retried_until_it_succeeds():
    router = respx.Router()
    route = router.get("https://news.example/a").mock(
        side_effect=[html_response(503), html_response(503), html_response()]
    )
    async with make_fetcher(router) as fetcher:
        fetched = await fetcher.fetch(page("https://news.example/a"))
    assert fetched.status == 200
    assert route.call_count == 3


async def test_404_is_not_retried():
    router = respx.Router()
    route = router.get("https://news.example/gone").mock(return_value=html_response(404))
    async with make_fetcher(router) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://news.example/gone"))
    assert info.value.reason == "http_4xx"
    assert route.call_count == 1


async def test_retries_stop_after_the_configured_attempts():
    router = respx.Router()
    route = router.get("https://news.example/a").mock(return_value=html_response(500))
    async with make_fetcher(router, retries=2) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://news.example/a"))
    assert info.value.reason == "http_5xx"
    assert route.call_count == 3


async def test_429_is_retried_and_retry_after_is_read():
    router = respx.Router()
    route = router.get("https://news.example/a").mock(
        side_effect=[html_response(429, **{"retry-after": "0"}), html_response()]
    )
    async with make_fetcher(router) as fetcher:
        await fetcher.fetch(page("https://news.example/a"))
    assert route.call_count == 2
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None


async def test_timeouts_and_connection_errors_are_typed_and_retried():
    router = respx.Router()
    slow = router.get("https://news.example/slow").mock(side_effect=httpx.ReadTimeout("slow"))
    down = router.get("https://down.example/").mock(side_effect=httpx.ConnectError("refused"))
    async with make_fetcher(router) as fetcher:
        with pytest.raises(FetchError) as slow_info:
            await fetcher.fetch(page("https://news.example/slow"))
        with pytest.raises(FetchError) as down_info:
            await fetcher.fetch(page("https://down.example/"))
    assert (slow_info.value.reason, slow.call_count) == ("timeout", 3)
    assert (down_info.value.reason, down.call_count) == ("connect", 3)


async def test_unresolvable_host_is_a_dns_error():
    async def no_dns(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    router = respx.Router()
    async with make_fetcher(router, resolver=no_dns) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://nowhere.invalid/"))
    assert info.value.reason == "dns"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"])
async def test_private_addresses_are_refused_unless_allowed(address):
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    router = respx.Router()
    route = router.get("http://intranet.example/").mock(return_value=html_response())
    async with make_fetcher(router, resolver=resolve) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page("http://intranet.example/"))
        assert info.value.reason == "private_address"
        assert route.call_count == 0
        await fetcher.fetch(page("http://intranet.example/", allow_private=True))
    assert route.call_count == 1


async def test_non_http_schemes_are_refused():
    async with make_fetcher(respx.Router()) as fetcher:
        with pytest.raises(BlockedURL):
            await fetcher.fetch(page("file:///etc/passwd"))


async def test_every_redirect_hop_is_checked():
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "localhost" else ["93.184.216.34"]

    router = respx.Router()
    router.get("https://news.example/r").mock(
        return_value=httpx.Response(302, headers={"location": "http://localhost/admin"})
    )
    async with make_fetcher(router, resolver=resolve) as fetcher:
        with pytest.raises(BlockedURL):
            await fetcher.fetch(page("https://news.example/r"))


async def test_redirects_are_followed_and_capped():
    router = respx.Router()
    router.get("https://news.example/old").mock(
        return_value=httpx.Response(301, headers={"location": "/new"})
    )
    router.get("https://news.example/new").mock(return_value=html_response())
    router.get("https://news.example/loop").mock(
        return_value=httpx.Response(302, headers={"location": "/loop"})
    )
    async with make_fetcher(router, max_redirects=3) as fetcher:
        fetched = await fetcher.fetch(page("https://news.example/old"))
        assert fetched.url == "https://news.example/new"
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://news.example/loop"))
    assert info.value.reason == "redirects"


async def test_large_bodies_and_gzip_bombs_are_refused():
    bomb = gzip.compress(b"<p>" + b"a" * 3_000_000)
    router = respx.Router()
    router.get("https://news.example/big").mock(return_value=html_response(body=b"x" * 70_000))
    router.get("https://news.example/bomb").mock(
        return_value=html_response(body=bomb, **{"content-encoding": "gzip"})
    )
    async with make_fetcher(router, max_bytes=64_000) as fetcher:
        for url in ("https://news.example/big", "https://news.example/bomb"):
            with pytest.raises(FetchError) as info:
                await fetcher.fetch(page(url))
            assert info.value.reason == "too_large"


async def test_non_html_is_skipped_with_a_reason():
    router = respx.Router()
    router.get("https://news.example/x.pdf").mock(
        return_value=httpx.Response(
            200, content=b"%PDF", headers={"content-type": "application/pdf"}
        )
    )
    async with make_fetcher(router) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://news.example/x.pdf"))
    assert info.value.reason == "not_html"


async def test_robots_txt_is_respected():
    router = respx.Router()
    robots = router.get("https://news.example/robots.txt").mock(
        return_value=httpx.Response(200, text="User-agent: *\nDisallow: /private/\n")
    )
    router.get("https://news.example/ok").mock(return_value=html_response())
    blocked = router.get("https://news.example/private/a").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True) as fetcher:
        await fetcher.fetch(page("https://news.example/ok"))
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page("https://news.example/private/a"))
    assert info.value.reason == "robots"
    assert blocked.call_count == 0
    assert robots.call_count == 1


async def test_robots_server_error_disallows_and_404_allows():
    router = respx.Router()
    robots = router.get("https://a.example/robots.txt").mock(return_value=httpx.Response(500))
    router.get("https://b.example/robots.txt").mock(return_value=httpx.Response(404))
    router.get("https://b.example/p").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True, retries=0) as fetcher:
        for path in ("/p", "/q"):
            with pytest.raises(BlockedURL) as info:
                await fetcher.fetch(page(f"https://a.example{path}"))
            assert info.value.reason == "robots"
            assert "robots.txt of https://a.example could not be fetched (HTTP 500" in str(
                info.value
            )
        await fetcher.fetch(page("https://b.example/p"))
    assert robots.call_count == 1  # the failure is remembered for the host


async def test_a_robots_txt_on_an_unknown_host_fails_the_page_as_dns_not_robots():
    async def resolve(host: str, port: int) -> list[str]:
        if host == "gone.example":
            raise OSError("Name or service not known")
        return ["93.184.216.34"]

    router = respx.Router()
    robots = router.get("https://gone.example/robots.txt").mock(return_value=httpx.Response(200))
    async with make_fetcher(router, resolver=resolve, respect_robots=True) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://gone.example/a"))
    assert info.value.reason == "dns" and robots.call_count == 0


async def test_a_robots_txt_that_cannot_be_reached_fails_the_page_with_that_reason():
    router = respx.Router()
    router.get("https://down.example/robots.txt").mock(side_effect=httpx.ConnectError("refused"))
    route = router.get("https://down.example/a").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page("https://down.example/a"))
    assert info.value.reason == "connect" and route.call_count == 0
    assert str(info.value).startswith("robots.txt of https://down.example could not be fetched")


async def test_a_robots_txt_redirecting_out_of_http_disallows_the_host_as_robots():
    router = respx.Router()
    router.get("https://news.example/robots.txt").mock(
        return_value=httpx.Response(301, headers={"location": "ftp://files.example/robots.txt"})
    )
    route = router.get("https://news.example/a").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page("https://news.example/a"))
    assert info.value.reason == "robots" and route.call_count == 0
    assert "not an http(s) URL" in str(info.value)


async def test_a_private_address_names_the_source_to_allow_it():
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.5"]

    router = respx.Router()
    route = router.get("http://intranet.example/a").mock(return_value=html_response())
    async with make_fetcher(router, resolver=resolve, respect_robots=True) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.get("http://intranet.example/a", "wire")
    assert info.value.reason == "private_address" and route.call_count == 0
    assert str(info.value) == (
        "intranet.example (10.0.0.5) is a non-public address; "
        "set allow_private: true on source 'wire' to fetch it"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://news.example:99999/a",
        "http://[::1/a",
        "http://news.example:port/a",
        "http:///a",
        "http://xn--a.example/a",
        "http://news\x00.example/a",
    ],
)
async def test_a_malformed_url_is_a_bad_url_failure_not_a_crash(url):
    async with make_fetcher(respx.Router()) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page(url))
    assert info.value.reason == "bad_url"


def test_retry_policy_is_data():
    policy = RetryPolicy()
    assert policy.should_retry(FetchError("x", "http_5xx", 503))
    assert policy.should_retry(FetchError("x", "http_4xx", 429))
    assert not policy.should_retry(FetchError("x", "http_4xx", 404))
    assert not policy.should_retry(BlockedURL("x", "robots"))


async def test_conditional_get_sends_validators_and_returns_304():
    router = respx.Router()
    route = router.get("https://news.example/a").mock(
        side_effect=[
            html_response(etag='"v1"', **{"last-modified": "Tue, 24 Nov 2026 08:00:00 GMT"}),
            httpx.Response(304),
        ]
    )
    async with make_fetcher(router) as fetcher:
        first = await fetcher.fetch(page("https://news.example/a"))
        assert (first.etag, first.last_modified) == ('"v1"', "Tue, 24 Nov 2026 08:00:00 GMT")
        again = page("https://news.example/a").model_copy(
            update={"etag": first.etag, "last_modified": first.last_modified}
        )
        second = await fetcher.fetch(again)
    assert second.status == 304 and second.body == b""
    sent = route.calls.last.request.headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    assert "if-none-match" not in route.calls[0].request.headers


async def test_a_429_slows_the_whole_host_not_just_the_url():
    asked: dict[str, float] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        asked.setdefault(request.url.path, time.monotonic())
        if request.url.path == "/a" and "429" not in asked:
            asked["429"] = time.monotonic()
            return httpx.Response(429, headers={"retry-after": "5"})
        return html_response()

    fetcher = Fetcher(
        FetchConfig(per_host_delay=0, respect_robots=False, retries=1, retry_after_max=1.0),
        transport=httpx.MockTransport(handler),
        resolver=public_resolver,
        wait=wait_none(),
    )
    async with fetcher:
        await fetcher.fetch(page("https://news.example/a"))
        await fetcher.fetch(page("https://news.example/b"))
        await fetcher.fetch(page("https://other.example/c"))
    # /b waited for the Retry-After of /a, capped at 1 s; the other host did not.
    assert 0.95 <= asked["/b"] - asked["429"] < 3
    assert asked["/c"] - asked["/b"] < 0.5


async def test_crawl_delay_from_robots_spaces_requests():
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(200, text="User-agent: *\nCrawl-delay: 0.3\n")
        times.append(time.monotonic())
        return html_response()

    fetcher = Fetcher(
        FetchConfig(per_host_delay=0, respect_robots=True),
        transport=httpx.MockTransport(handler),
        resolver=public_resolver,
    )
    async with fetcher:
        await asyncio.gather(*(fetcher.fetch(page(f"https://news.example/{i}")) for i in range(3)))
    assert len(times) == 3
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.28


async def test_robots_is_fetched_once_per_host_with_its_short_timeout():
    router = respx.Router()
    robots = router.get("https://news.example/robots.txt").mock(
        return_value=httpx.Response(200, text="User-agent: *\nDisallow: /private/\n")
    )
    router.get(url__regex=r"https://news.example/p/\d").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True, robots_timeout=2.5) as fetcher:
        await asyncio.gather(
            *(fetcher.fetch(page(f"https://news.example/p/{i}")) for i in range(6))
        )
    assert robots.call_count == 1
    assert robots.calls.last.request.extensions["timeout"]["read"] == 2.5


async def test_a_robots_timeout_disallows_the_host_and_says_so():
    router = respx.Router()
    robots = router.get("https://news.example/robots.txt").mock(
        side_effect=httpx.ReadTimeout("slow")
    )
    route = router.get("https://news.example/a").mock(return_value=html_response())
    async with make_fetcher(router, respect_robots=True) as fetcher:
        with pytest.raises(BlockedURL) as info:
            await fetcher.fetch(page("https://news.example/a"))
    assert info.value.reason == "timeout" and route.call_count == 0
    assert "robots.txt of https://news.example could not be fetched (timed out" in str(info.value)
    assert robots.call_count == 1  # a blocked page is not retried


async def test_host_concurrency_limits_requests_in_flight_per_host():
    in_flight: dict[str, int] = {"news.example": 0, "other.example": 0}
    peak: dict[str, int] = dict(in_flight)

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        await asyncio.sleep(0.02)
        in_flight[host] -= 1
        return html_response()

    fetcher = Fetcher(
        FetchConfig(per_host_delay=0, respect_robots=False, host_concurrency=2, concurrency=16),
        transport=httpx.MockTransport(handler),
        resolver=public_resolver,
    )
    urls = [f"https://{h}/{i}" for h in in_flight for i in range(8)]
    async with fetcher:
        await asyncio.gather(*(fetcher.fetch(page(u)) for u in urls))
    assert peak == {"news.example": 2, "other.example": 2}


async def test_a_redirect_without_location_is_an_error():
    router = respx.Router()
    router.get("https://news.example/r").mock(return_value=httpx.Response(301))
    async with make_fetcher(router) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(page("https://news.example/r"))
    assert info.value.reason == "redirects"


def test_retry_after_as_an_http_date():
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(soon) or 0) <= 30


async def test_the_real_transport_connects_to_the_checked_address_only():
    """No transport injected: the address check runs at connect time on the address
    the connection then uses, so a name cannot be re-resolved to something else."""
    from .server import LoopbackServer, page_route

    resolved: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    with LoopbackServer() as server:
        server.routes["/a"] = page_route("daily8_starmer")
        port = server.server_address[1]
        config = FetchConfig(per_host_delay=0, respect_robots=False, retries=0)
        async with Fetcher(config, resolver=to_loopback) as fetcher:
            with pytest.raises(BlockedURL) as info:
                await fetcher.fetch(page(f"http://news.example:{port}/a"))
            assert info.value.reason == "private_address"
            assert server.hits["/a"] == 0
            fetched = await fetcher.fetch(page(f"http://news.example:{port}/a", True))
    assert fetched.status == 200 and server.hits["/a"] == 1
    assert server.requests[-1][1]["Host"] == f"news.example:{port}"
    assert resolved == ["news.example", "news.example"]
