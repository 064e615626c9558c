import gzip
import io

import httpx
import pytest
import respx
from tenacity import wait_none
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from scraper.config import FeedSource, FetchConfig, SitemapSource, UrlsSource
from scraper.discover import candidates, gunzip, iter_pages
from scraper.errors import DiscoverError
from scraper.fetch import Fetcher

from .conftest import public_resolver

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>One</title><link>/news/one?utm_source=rss</link></item>
<item><title>Two</title><link>https://news.example/news/two#comments</link></item>
<item><title>Dup</title><link>https://news.example/news/two</link></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>t</title><entry><title>A</title><link href="https://news.example/a"/><id>x</id></entry></feed>"""
INDEX = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.example/sm-1.xml.gz</loc></sitemap></sitemapindex>"""
URLSET = b"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://news.example/s1</loc></url><url><loc>https://news.example/s2</loc></url></urlset>"""


def fetcher_for(router: respx.Router) -> Fetcher:
    return Fetcher(
        FetchConfig(per_host_delay=0, respect_robots=False, retries=0),
        transport=httpx.MockTransport(router.handler),
        resolver=public_resolver,
        wait=wait_none(),
    )


async def collect(source, fetcher) -> list[str]:
    return [c.url async for c in candidates(source, fetcher)]


async def test_rss_links_are_resolved_canonicalised_and_deduplicated():
    router = respx.Router()
    router.get("https://news.example/feed").mock(return_value=httpx.Response(200, content=RSS))
    async with fetcher_for(router) as fetcher:
        urls = await collect(
            FeedSource(name="f", type="feed", url="https://news.example/feed"), fetcher
        )
    assert urls == ["https://news.example/news/one", "https://news.example/news/two"]


async def test_atom_feed():
    router = respx.Router()
    router.get("https://news.example/atom").mock(return_value=httpx.Response(200, content=ATOM))
    async with fetcher_for(router) as fetcher:
        urls = await collect(
            FeedSource(name="f", type="feed", url="https://news.example/atom"), fetcher
        )
    assert urls == ["https://news.example/a"]


async def test_not_a_feed_is_a_discover_error():
    router = respx.Router()
    router.get("https://news.example/feed").mock(
        return_value=httpx.Response(200, content=b"<html>")
    )
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="not a feed"):
            await collect(
                FeedSource(name="f", type="feed", url="https://news.example/feed"), fetcher
            )


async def test_sitemap_index_with_gzip_child():
    router = respx.Router()
    router.get("https://news.example/sitemap.xml").mock(
        return_value=httpx.Response(200, content=INDEX)
    )
    router.get("https://news.example/sm-1.xml.gz").mock(
        return_value=httpx.Response(200, content=gzip.compress(URLSET))
    )
    source = SitemapSource(
        name="s", type="sitemap", url="https://news.example/sitemap.xml", max_items=1
    )
    async with fetcher_for(router) as fetcher:
        assert await collect(source, fetcher) == ["https://news.example/s1"]


async def test_urls_source():
    source = UrlsSource(
        name="u", type="urls", urls=["https://A.example/x#y", "https://a.example/x"]
    )
    async with fetcher_for(respx.Router()) as fetcher:
        assert await collect(source, fetcher) == ["https://a.example/x"]


def test_gzip_bomb_is_refused():
    with pytest.raises(DiscoverError, match="inflates"):
        gunzip(gzip.compress(b"a" * 2_000_000), limit=1_000_000)


def write_warc(path, pages: dict[str, bytes]) -> None:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, body in pages.items():
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=io.BytesIO(body), http_headers=headers
                )
            )
        headers = StatusAndHeaders(
            "404 Not Found", [("Content-Type", "text/html")], protocol="HTTP/1.1"
        )
        writer.write_record(
            writer.create_warc_record(
                "https://x.example/404",
                "response",
                payload=io.BytesIO(b"gone"),
                http_headers=headers,
            )
        )


def test_warc_responses_are_read_with_their_target_uri(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, {"https://x.example/a": b"<p>a</p>", "https://x.example/b": b"<p>b</p>"})
    pages = list(iter_pages(path))
    assert [p.url for p in pages] == ["https://x.example/a", "https://x.example/b"]
    assert pages[0].body == b"<p>a</p>"
    assert pages[0].encoding == "utf-8"


def test_directories_gz_files_and_bad_files(tmp_path):
    (tmp_path / "a.html").write_bytes(b"<p>a</p>")
    (tmp_path / "b.htm.gz").write_bytes(gzip.compress(b"<p>b</p>"))
    (tmp_path / "c.html.gz").write_bytes(b"not gzip")
    (tmp_path / "notes.txt").write_text("skip me")
    errors = []
    pages = list(iter_pages(tmp_path, on_error=lambda where, exc: errors.append(where)))
    assert [p.body for p in pages] == [b"<p>a</p>", b"<p>b</p>"]
    assert errors == [str(tmp_path / "c.html.gz")]
    with pytest.raises(DiscoverError, match="no such file"):
        list(iter_pages(tmp_path / "missing"))
