import gzip
import io
import json
import os
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from tenacity import wait_none
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from scraper.config import (
    FeedSource,
    FetchConfig,
    FilesSource,
    ListingSource,
    SitemapSource,
    UrlsSource,
)
from scraper.discover import SITEMAP_DEPTH, candidates, gunzip, iter_pages, source_pages
from scraper.errors import DiscoverError
from scraper.fetch import Fetcher
from scraper.models import Fetched

from .conftest import public_resolver
from .server import LoopbackServer, Route, text

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


def fetcher_for(router: respx.Router, **config) -> Fetcher:
    config = {"per_host_delay": 0, "respect_robots": False, "retries": 0, **config}
    return Fetcher(
        FetchConfig(**config),
        transport=httpx.MockTransport(router.handler),
        resolver=public_resolver,
        wait=wait_none(),
    )


async def collect(source, fetcher) -> list[str]:
    return [c.url async for c in candidates(source, fetcher)]


async def collect_reporting(source, fetcher) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The candidate URLs, and the (where, reason, message) of each part reported."""
    errors: list[tuple[str, str, str]] = []

    def on_error(where: str, exc: DiscoverError) -> None:
        errors.append((where, exc.reason, str(exc)))

    return [c.url async for c in candidates(source, fetcher, on_error)], errors


async def collect_dated(source, fetcher) -> list[tuple[str, datetime | None]]:
    return [(c.url, c.modified) async for c in candidates(source, fetcher)]


def serve(router: respx.Router, pages: dict[str, bytes], **headers: str) -> dict[str, respx.Route]:
    """One route per URL, answering 200 with the given body."""
    return {
        url: router.get(url).mock(return_value=httpx.Response(200, content=body, headers=headers))
        for url, body in pages.items()
    }


async def test_rss_links_are_resolved_canonicalised_and_deduplicated():
    router = respx.Router()
    router.get("https://news.example/feed").mock(return_value=httpx.Response(200, content=RSS))
    async with fetcher_for(router) as fetcher:
        urls = await collect(
            FeedSource(name="f", type="feed", url="https://news.example/feed"), fetcher
        )
    assert urls == ["https://news.example/news/one", "https://news.example/news/two"]


async def test_a_feed_item_source_element_travels_with_its_candidate():
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><link>https://portal.example/a</link>
    <source url="https://apnews.com/rss">Associated Press</source></item>
    <item><link>https://portal.example/b</link></item></channel></rss>"""
    router = respx.Router()
    router.get("https://portal.example/feed").mock(return_value=httpx.Response(200, content=rss))
    source = FeedSource(name="f", type="feed", url="https://portal.example/feed")
    async with fetcher_for(router) as fetcher:
        found = [c async for c in candidates(source, fetcher)]
    origins = [(c.origin.name, c.origin.url) if c.origin else None for c in found]
    assert origins == [("Associated Press", "https://apnews.com/rss"), None]


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


def test_gzip_bomb_is_refused_as_too_large():
    with pytest.raises(DiscoverError, match="exceeds max_bytes") as exc:
        gunzip(gzip.compress(b"a" * 2_000_000), limit=1_000_000)
    assert exc.value.reason == "too_large"


def test_gunzip_reads_every_member_and_the_zero_padding_between_them():
    data = gzip.compress(b"<urlset>") + b"\0" * 4 + gzip.compress(b"</urlset>")
    assert gunzip(data) == b"<urlset></urlset>"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (gzip.compress(b"x" * 1000)[:-9], "truncated"),
        (gzip.compress(b"first member") + b"not gzip", "corrupt"),
    ],
)
def test_gunzip_names_the_damage(data, reason):
    with pytest.raises(DiscoverError) as exc:
        gunzip(data)
    assert exc.value.reason == reason


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


def test_a_gzip_error_names_the_file(tmp_path):
    bad = tmp_path / "c.html.gz"
    bad.write_bytes(b"not gzip at all")
    errors = []
    list(iter_pages(bad, on_error=lambda where, exc: errors.append((where, str(exc)))))
    assert errors == [(str(bad), errors[0][1])]
    assert errors[0][1].startswith("corrupt gzip data")


def test_an_input_that_is_neither_file_nor_directory_is_named_as_such(tmp_path):
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    with pytest.raises(DiscoverError, match="not a regular file or directory"):
        list(iter_pages(fifo))


# JSON Feed

JSON_FEED_URL = "https://news.example/feeds/main.json"


def json_feed(*items: dict) -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": list(items)}
    ).encode()


def json_feed_source(**options) -> FeedSource:
    return FeedSource(name="j", type="feed", url=JSON_FEED_URL, **options)


async def test_json_feed_items_link_by_url_then_external_url_then_id():
    router = respx.Router()
    body = json_feed(
        {"id": "1", "url": "https://news.example/by-url", "external_url": "https://x.example/"},
        {"id": "2", "external_url": "https://other.example/by-external-url"},
        {"id": "https://news.example/by-id"},
        {"id": "4", "url": "/rooted"},
        {"id": "5", "url": "relative"},
        "not an item",
    )
    serve(router, {JSON_FEED_URL: body}, **{"content-type": "application/feed+json"})
    async with fetcher_for(router) as fetcher:
        urls = await collect(json_feed_source(), fetcher)
    assert urls == [
        "https://news.example/by-url",
        "https://other.example/by-external-url",
        "https://news.example/by-id",
        "https://news.example/rooted",
        "https://news.example/feeds/relative",
    ]


async def test_json_feed_id_that_is_not_a_url_is_not_taken_as_a_link():
    router = respx.Router()
    serve(router, {JSON_FEED_URL: json_feed({"id": "12345"}, {"id": "tag:news.example,2024:9"})})
    async with fetcher_for(router) as fetcher:
        assert await collect(json_feed_source(), fetcher) == []


async def test_json_feed_dates_become_candidate_modified():
    router = respx.Router()
    body = json_feed(
        {
            "url": "https://news.example/edited",
            "date_published": "2024-05-01T08:00:00Z",
            "date_modified": "2024-05-02T09:30:00+02:00",
        },
        {"url": "https://news.example/published", "date_published": "2024-05-03T10:00:00Z"},
        {"url": "https://news.example/undated"},
        {"url": "https://news.example/garbled", "date_published": "last Tuesday"},
    )
    serve(router, {JSON_FEED_URL: body})
    async with fetcher_for(router) as fetcher:
        found = await collect_dated(json_feed_source(), fetcher)
    assert found == [
        ("https://news.example/edited", datetime(2024, 5, 2, 7, 30, tzinfo=UTC)),
        ("https://news.example/published", datetime(2024, 5, 3, 10, 0, tzinfo=UTC)),
        ("https://news.example/undated", None),
        ("https://news.example/garbled", None),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"items": [', "not a feed: bad JSON: "),
        (
            b'{"version": "https://jsonfeed.org/version/1.1"}',
            "not a feed: JSON without an items list",
        ),
        (b'{"items": {"url": "https://news.example/a"}}', "not a feed: JSON without an items list"),
    ],
)
async def test_bad_json_feed_is_a_discover_error_naming_the_source(body, message):
    router = respx.Router()
    serve(router, {JSON_FEED_URL: body})
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match=f"^j: {message}"):
            await collect(json_feed_source(), fetcher)


# Dated feed items, since and max_age

FEED_URL = "https://news.example/feed"


def rss(*items: tuple[str, datetime | None]) -> bytes:
    entries = "".join(
        f"<item><link>{link}</link>"
        + (f"<pubDate>{format_datetime(date)}</pubDate>" if date else "")
        + "</item>"
        for link, date in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel>{entries}</channel></rss>'.encode()


async def test_rss_and_atom_entry_dates_become_candidate_modified():
    router = respx.Router()
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <entry><link href="https://news.example/atom"/><id>urn:x</id>
    <published>2024-05-01T00:00:00Z</published><updated>2024-05-04T12:00:00+01:00</updated></entry>
    </feed>"""
    rss_body = b"""<?xml version="1.0"?><rss version="2.0"><channel>
    <item><link>https://news.example/rss</link><pubDate>Tue, 07 May 2024 10:00:00 +0200</pubDate></item>
    <item><link>https://news.example/undated</link></item></channel></rss>"""
    serve(router, {"https://news.example/atom.xml": atom, FEED_URL: rss_body})
    async with fetcher_for(router) as fetcher:
        found = await collect_dated(
            FeedSource(name="a", type="feed", url="https://news.example/atom.xml"), fetcher
        )
        found += await collect_dated(FeedSource(name="r", type="feed", url=FEED_URL), fetcher)
    assert found == [
        ("https://news.example/atom", datetime(2024, 5, 4, 11, 0, tzinfo=UTC)),
        ("https://news.example/rss", datetime(2024, 5, 7, 8, 0, tzinfo=UTC)),
        ("https://news.example/undated", None),
    ]


async def test_rss_guid_that_is_not_a_url_is_not_taken_as_a_link():
    router = respx.Router()
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel>
    <item><guid isPermaLink="false">12345</guid></item>
    <item><guid>https://news.example/permalink</guid></item></channel></rss>"""
    serve(router, {FEED_URL: body})
    async with fetcher_for(router) as fetcher:
        urls = await collect(FeedSource(name="r", type="feed", url=FEED_URL), fetcher)
    assert urls == ["https://news.example/permalink"]


async def test_since_drops_items_dated_before_it_and_keeps_undated_ones():
    router = respx.Router()
    body = rss(
        ("https://news.example/old", datetime(2024, 4, 30, 23, 59, tzinfo=UTC)),
        ("https://news.example/on-the-cutoff", datetime(2024, 5, 1, tzinfo=UTC)),
        ("https://news.example/new", datetime(2024, 5, 2, tzinfo=UTC)),
        ("https://news.example/undated", None),
    )
    serve(router, {FEED_URL: body})
    source = FeedSource(name="f", type="feed", url=FEED_URL, since="2024-05-01T00:00:00Z")
    async with fetcher_for(router) as fetcher:
        urls = await collect(source, fetcher)
    assert urls == [
        "https://news.example/on-the-cutoff",
        "https://news.example/new",
        "https://news.example/undated",
    ]


async def test_max_age_drops_items_older_than_it():
    now = datetime.now(UTC)
    router = respx.Router()
    body = json_feed(
        {"url": "https://news.example/3d", "date_published": (now - timedelta(days=3)).isoformat()},
        {"url": "https://news.example/1d", "date_published": (now - timedelta(days=1)).isoformat()},
        {"url": "https://news.example/undated"},
    )
    serve(router, {JSON_FEED_URL: body})
    async with fetcher_for(router) as fetcher:
        urls = await collect(json_feed_source(max_age="2d"), fetcher)
    assert urls == ["https://news.example/1d", "https://news.example/undated"]


# Sitemaps

SITEMAP_URL = "https://news.example/sitemap.xml"
SM_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
IMAGE_NS = 'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"'


def urlset(*entries: str) -> bytes:
    return f"<urlset {SM_NS} {NEWS_NS} {IMAGE_NS}>{''.join(entries)}</urlset>".encode()


def sitemap_index(*children: tuple[str, str | None]) -> bytes:
    entries = "".join(
        f"<sitemap><loc>{loc}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for loc, lastmod in children
    )
    return f"<sitemapindex {SM_NS}>{entries}</sitemapindex>".encode()


def sitemap_source(url: str = SITEMAP_URL, **options) -> SitemapSource:
    return SitemapSource(name="s", type="sitemap", url=url, **options)


async def test_google_news_publication_date_is_preferred_over_lastmod():
    router = respx.Router()
    body = urlset(
        "<url><loc>https://news.example/news</loc><lastmod>2024-01-01</lastmod>"
        "<news:news><news:publication>"
        "<news:name>N</news:name><news:language>en</news:language></news:publication>"
        "<news:publication_date>2024-05-06T07:08:09+00:00</news:publication_date>"
        "<news:title>T</news:title></news:news></url>",
        "<url><loc>https://news.example/lastmod</loc><lastmod>2024-02-03</lastmod></url>",
        "<url><loc>https://news.example/undated</loc></url>",
    )
    serve(router, {SITEMAP_URL: body})
    async with fetcher_for(router) as fetcher:
        found = await collect_dated(sitemap_source(), fetcher)
    assert found == [
        ("https://news.example/news", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("https://news.example/lastmod", datetime(2024, 2, 3, tzinfo=UTC)),
        ("https://news.example/undated", None),
    ]


async def test_sitemap_index_child_modified_before_the_cutoff_is_not_fetched():
    router = respx.Router()
    routes = serve(
        router,
        {
            SITEMAP_URL: sitemap_index(
                ("https://news.example/sm-old.xml", "2024-04-01T00:00:00Z"),
                ("https://news.example/sm-new.xml", "2024-05-10T00:00:00Z"),
                ("https://news.example/sm-undated.xml", None),
            ),
            "https://news.example/sm-old.xml": urlset(
                "<url><loc>https://news.example/never</loc></url>"
            ),
            "https://news.example/sm-new.xml": urlset(
                "<url><loc>https://news.example/stale</loc><lastmod>2024-04-02</lastmod></url>",
                "<url><loc>https://news.example/fresh</loc><lastmod>2024-05-09</lastmod></url>",
            ),
            "https://news.example/sm-undated.xml": urlset(
                "<url><loc>https://news.example/kept</loc></url>"
            ),
        },
    )
    async with fetcher_for(router) as fetcher:
        urls = await collect(sitemap_source(since="2024-05-01T00:00:00Z"), fetcher)
    assert urls == ["https://news.example/fresh", "https://news.example/kept"]
    assert routes["https://news.example/sm-old.xml"].call_count == 0


async def test_gzip_sitemap_without_a_gz_name_or_content_encoding_is_read():
    router = respx.Router()
    body = gzip.compress(urlset("<url><loc>https://news.example/z</loc></url>"))
    serve(router, {SITEMAP_URL: body}, **{"content-type": "application/octet-stream"})
    async with fetcher_for(router) as fetcher:
        assert await collect(sitemap_source(), fetcher) == ["https://news.example/z"]


async def test_corrupt_gzip_sitemap_is_a_discover_error():
    router = respx.Router()
    serve(
        router,
        {
            "https://news.example/sm.xml.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff"
        },
    )
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="https://news.example/sm.xml.gz: corrupt gzip"):
            await collect(sitemap_source("https://news.example/sm.xml.gz"), fetcher)


async def test_truncated_gzip_sitemap_is_a_discover_error():
    body = gzip.compress(
        urlset(*[f"<url><loc>https://news.example/{n}</loc></url>" for n in range(50)])
    )
    router = respx.Router()
    serve(router, {"https://news.example/sm.xml.gz": body[: len(body) // 2]})
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="truncated gzip"):
            await collect(sitemap_source("https://news.example/sm.xml.gz"), fetcher)


def nested_indexes(levels: int) -> tuple[dict[str, bytes], str]:
    """``levels`` sitemap indexes each listing the next, then a urlset; and its URL."""
    indexes = [f"https://news.example/idx-{n}.xml" for n in range(levels)]
    leaf = "https://news.example/leaf.xml"
    pages = {
        url: sitemap_index((child, None))
        for url, child in zip(indexes, [*indexes[1:], leaf], strict=True)
    }
    pages[leaf] = urlset("<url><loc>https://news.example/deep</loc></url>")
    return pages, leaf


async def test_nested_sitemap_indexes_are_followed_up_to_the_depth_cap():
    router = respx.Router()
    pages, _ = nested_indexes(SITEMAP_DEPTH)
    serve(router, pages)
    async with fetcher_for(router) as fetcher:
        urls = await collect(sitemap_source("https://news.example/idx-0.xml"), fetcher)
    assert urls == ["https://news.example/deep"]


async def test_sitemap_indexes_nested_deeper_than_the_cap_are_not_followed_and_reported():
    router = respx.Router()
    pages, leaf = nested_indexes(SITEMAP_DEPTH + 1)
    routes = serve(router, pages)
    source = sitemap_source("https://news.example/idx-0.xml")
    async with fetcher_for(router) as fetcher:
        urls, errors = await collect_reporting(source, fetcher)
    assert urls == []
    assert routes[leaf].call_count == 0
    assert errors == [
        (
            source.url,
            "sitemap_limit",
            "s: sitemaps not read: 1 (indexes nested more than 3 deep)",
        )
    ]
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="nested more than 3 deep"):
            await collect(source, fetcher)  # without on_error, the limit is raised


async def test_image_loc_before_the_page_loc_is_not_taken_as_the_page_url():
    router = respx.Router()
    body = urlset(
        "<url><image:image><image:loc>https://cdn.example/photo.jpg</image:loc></image:image>"
        "<loc>https://news.example/story</loc></url>"
    )
    serve(router, {SITEMAP_URL: body})
    async with fetcher_for(router) as fetcher:
        assert await collect(sitemap_source(), fetcher) == ["https://news.example/story"]


# Sitemaps listed in robots.txt

ROBOTS_URL = "https://news.example/robots.txt"


async def test_sitemaps_listed_in_robots_txt_are_read():
    router = respx.Router()
    robots = (
        b"User-agent: *\nDisallow: /private/\n"
        b"Sitemap: https://news.example/sm-a.xml\nSitemap: https://cdn.example/sm-b.xml\n"
    )
    serve(
        router,
        {
            ROBOTS_URL: robots,
            "https://news.example/sm-a.xml": urlset("<url><loc>https://news.example/a</loc></url>"),
            "https://cdn.example/sm-b.xml": urlset("<url><loc>https://news.example/b</loc></url>"),
        },
    )
    async with fetcher_for(router) as fetcher:
        urls = await collect(sitemap_source(ROBOTS_URL), fetcher)
    assert urls == ["https://news.example/a", "https://news.example/b"]


async def test_robots_txt_is_fetched_once_per_host_per_run():
    router = respx.Router()
    routes = serve(
        router,
        {
            ROBOTS_URL: b"User-agent: *\nAllow: /\nSitemap: https://news.example/sm.xml\n",
            "https://news.example/sm.xml": urlset("<url><loc>https://news.example/a</loc></url>"),
        },
    )
    async with fetcher_for(router, respect_robots=True) as fetcher:
        first = await collect(sitemap_source(ROBOTS_URL), fetcher)
        second = await collect(SitemapSource(name="again", type="sitemap", url=ROBOTS_URL), fetcher)
    assert first == second == ["https://news.example/a"]
    assert routes[ROBOTS_URL].call_count == 1


@pytest.mark.parametrize("status", [200, 404])
async def test_robots_txt_listing_no_sitemaps_is_a_discover_error(status):
    router = respx.Router()
    router.get(ROBOTS_URL).mock(
        return_value=httpx.Response(status, content=b"User-agent: *\nDisallow:\n")
    )
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="^s: .*robots.txt lists no sitemaps"):
            await collect(sitemap_source(ROBOTS_URL), fetcher)


# Listing pages

SECTION_URL = "https://news.example/section/"


def listing_page(links: list[str], next_href: str | None = None, base: str | None = None) -> bytes:
    head = f'<base href="{base}">' if base else ""
    body = "".join(f'<h2 class="headline"><a href="{href}">x</a></h2>' for href in links)
    body += '<a href="/about">about</a>'
    if next_href:
        body += f'<a rel="next" href="{next_href}">next</a>'
    return f"<html><head>{head}</head><body>{body}</body></html>".encode()


def listing_source(url: str = SECTION_URL, **options) -> ListingSource:
    options = {"name": "l", "link_selector": "h2.headline a", "follow": "a[rel=next]", **options}
    return ListingSource(type="listing", url=url, **options)


async def test_listing_links_are_resolved_against_base_href():
    router = respx.Router()
    page = listing_page(["story-1", "/story-2", "https://other.example/3"], base="/archive/")
    serve(router, {SECTION_URL: page}, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        urls = await collect(listing_source(), fetcher)
    assert urls == [
        "https://news.example/archive/story-1",
        "https://news.example/story-2",
        "https://other.example/3",
    ]


async def test_listing_links_without_base_href_are_resolved_against_the_page():
    router = respx.Router()
    serve(router, {SECTION_URL: listing_page(["story-1"])}, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        assert await collect(listing_source(), fetcher) == ["https://news.example/section/story-1"]


async def test_listing_pagination_stops_at_max_pages():
    router = respx.Router()
    pages = {
        SECTION_URL: listing_page(["/p1"], next_href="page/2"),
        f"{SECTION_URL}page/2": listing_page(["/p2"], next_href="/section/page/3"),
        f"{SECTION_URL}page/3": listing_page(["/p3"], next_href="/section/page/4"),
    }
    routes = serve(router, pages, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        urls = await collect(listing_source(max_pages=2), fetcher)
    assert urls == ["https://news.example/p1", "https://news.example/p2"]
    assert routes[f"{SECTION_URL}page/3"].call_count == 0


@pytest.mark.parametrize(
    "start", ["https://news.example/section/", "https://News.example:443/section/#top"]
)
async def test_listing_pagination_stops_on_a_link_back_to_a_visited_page(start):
    router = respx.Router()
    pages = {
        SECTION_URL: listing_page(["/p1"], next_href="/section/page/2"),
        f"{SECTION_URL}page/2": listing_page(["/p2"], next_href="/section/#top"),
    }
    routes = serve(router, pages, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        urls = await collect(listing_source(start, max_pages=10), fetcher)
    assert urls == ["https://news.example/p1", "https://news.example/p2"]
    assert [route.call_count for route in routes.values()] == [1, 1]


async def test_listing_drops_non_http_links():
    router = respx.Router()
    page = listing_page(
        ["javascript:void(0)", "mailto:desk@news.example", "tel:+441234", "/real", "ftp://x/y"]
    )
    serve(router, {SECTION_URL: page}, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        assert await collect(listing_source(), fetcher) == ["https://news.example/real"]


async def test_listing_javascript_next_link_ends_pagination():
    router = respx.Router()
    page = listing_page(["/p1"], next_href="javascript:loadMore()")
    serve(router, {SECTION_URL: page}, **{"content-type": "text/html"})
    async with fetcher_for(router) as fetcher:
        urls = await collect(listing_source(max_pages=5), fetcher)
    assert urls == ["https://news.example/p1"]


# include / exclude, max_items, canonicalisation


@pytest.mark.parametrize("kind", ["urls", "feed", "sitemap", "listing"])
async def test_include_and_exclude_apply_to_every_web_source_type(kind):
    links = [
        "https://news.example/world/1",
        "https://news.example/world/live/2",
        "https://news.example/sport/3",
    ]
    router = respx.Router()
    serve(
        router,
        {
            FEED_URL: rss(*[(link, None) for link in links]),
            SITEMAP_URL: urlset(*[f"<url><loc>{link}</loc></url>" for link in links]),
        },
    )
    serve(router, {SECTION_URL: listing_page(links)}, **{"content-type": "text/html"})
    filters = {"name": "x", "include": ["/world/"], "exclude": [r"/live/"]}
    source = {
        "urls": UrlsSource(type="urls", urls=links, **filters),
        "feed": FeedSource(type="feed", url=FEED_URL, **filters),
        "sitemap": SitemapSource(type="sitemap", url=SITEMAP_URL, **filters),
        "listing": listing_source(**filters),
    }[kind]
    async with fetcher_for(router) as fetcher:
        assert await collect(source, fetcher) == ["https://news.example/world/1"]


async def test_include_and_exclude_see_the_canonical_url():
    source = UrlsSource(
        name="u",
        type="urls",
        urls=["https://NEWS.example/a?utm_source=x", "https://news.example/b#utm_campaign"],
        include=[r"^https://news\.example/"],
        exclude=["utm_"],
    )
    async with fetcher_for(respx.Router()) as fetcher:
        urls = await collect(source, fetcher)
    assert urls == ["https://news.example/a", "https://news.example/b"]


async def test_max_items_counts_only_items_that_pass_the_filters():
    source = UrlsSource(
        name="u",
        type="urls",
        urls=[
            "https://news.example/video/1",
            "https://news.example/a",
            "https://news.example/a#dup",
            "https://news.example/video/2",
            "https://news.example/b",
            "https://news.example/c",
        ],
        exclude=["/video/"],
        max_items=2,
    )
    async with fetcher_for(respx.Router()) as fetcher:
        assert await collect(source, fetcher) == [
            "https://news.example/a",
            "https://news.example/b",
        ]


async def test_max_items_counts_only_items_newer_than_the_cutoff():
    router = respx.Router()
    old, new = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    body = rss(
        ("https://news.example/old-1", old),
        ("https://news.example/new-1", new),
        ("https://news.example/old-2", old),
        ("https://news.example/new-2", new),
        ("https://news.example/new-3", new),
    )
    serve(router, {FEED_URL: body})
    source = FeedSource(name="f", type="feed", url=FEED_URL, since="2024-03-01", max_items=2)
    async with fetcher_for(router) as fetcher:
        assert await collect(source, fetcher) == [
            "https://news.example/new-1",
            "https://news.example/new-2",
        ]


async def test_canonical_variants_of_one_url_are_deduplicated():
    source = UrlsSource(
        name="u",
        type="urls",
        urls=[
            "https://News.Example:443/a?id=1&utm_source=x&utm_medium=y#comments",
            "https://news.example/a?id=1",
            "http://news.example:80/a?id=1",
            "https://news.example:8443/a?id=1",
        ],
    )
    async with fetcher_for(respx.Router()) as fetcher:
        assert await collect(source, fetcher) == [
            "https://news.example/a?id=1",
            "http://news.example/a?id=1",
            "https://news.example:8443/a?id=1",
        ]


# Sitemap indexes on a real server: each sitemap read once, a failing child
# skipped and reported, the whole bounded by max_files


def loopback_fetcher(**config) -> Fetcher:
    config = {"per_host_delay": 0, "respect_robots": False, "retries": 0, **config}
    return Fetcher(FetchConfig(**config), wait=wait_none())


def loopback_source(server: LoopbackServer, path: str, **options) -> SitemapSource:
    return SitemapSource(
        name="s", type="sitemap", url=server.base + path, allow_private=True, **options
    )


def xml(body: bytes) -> Route:
    return text(body.decode(), "application/xml")


async def test_a_child_sitemap_that_fails_is_reported_and_its_siblings_are_read():
    with LoopbackServer() as server:
        base = server.base
        server.routes["/index.xml"] = xml(
            sitemap_index(
                (f"{base}/sm-1.xml", None),
                (f"{base}/missing.xml", None),
                (f"{base}/sm-2.xml", None),
            )
        )
        server.routes["/sm-1.xml"] = xml(urlset(f"<url><loc>{base}/a</loc></url>"))
        server.routes["/sm-2.xml"] = xml(urlset(f"<url><loc>{base}/b</loc></url>"))
        async with loopback_fetcher() as fetcher:
            urls, errors = await collect_reporting(loopback_source(server, "/index.xml"), fetcher)
    assert urls == [f"{base}/a", f"{base}/b"]
    assert [(where, reason) for where, reason, _ in errors] == [(f"{base}/missing.xml", "sitemap")]
    assert "HTTP 404" in errors[0][2]


async def test_a_self_referencing_index_is_fetched_once():
    with LoopbackServer() as server:
        base = server.base
        server.routes["/index.xml"] = xml(
            sitemap_index(
                (f"{base}/index.xml", None),
                (f"{base}/index.xml?utm_source=loop", None),
                (f"{base}/leaf.xml", None),
            )
        )
        server.routes["/leaf.xml"] = xml(urlset(f"<url><loc>{base}/a</loc></url>"))
        async with loopback_fetcher() as fetcher:
            urls, errors = await collect_reporting(loopback_source(server, "/index.xml"), fetcher)
        assert server.hits == {"/index.xml": 1, "/leaf.xml": 1}
    assert urls == [f"{base}/a"] and errors == []


def mutual_children(server: LoopbackServer, count: int) -> None:
    """An index of ``count`` child indexes, each listing all the children and a
    urlset of its own page."""
    base = server.base
    children = [(f"{base}/child-{i}.xml", None) for i in range(count)]
    server.routes["/index.xml"] = xml(sitemap_index(*children))
    for i in range(count):
        own = (f"{base}/leaf-{i}.xml", None)
        server.routes[f"/child-{i}.xml"] = xml(sitemap_index(*children, own))
        server.routes[f"/leaf-{i}.xml"] = xml(urlset(f"<url><loc>{base}/page-{i}</loc></url>"))


async def test_200_children_that_list_each_other_are_each_fetched_once():
    with LoopbackServer() as server:
        mutual_children(server, 200)
        async with loopback_fetcher() as fetcher:
            urls, errors = await collect_reporting(loopback_source(server, "/index.xml"), fetcher)
        hits = dict(server.hits)
    assert sorted(urls) == sorted(f"{server.base}/page-{i}" for i in range(200))
    assert errors == []
    assert len(hits) == 401 and set(hits.values()) == {1}


async def test_max_files_bounds_the_sitemaps_read_and_reports_those_left_unread():
    with LoopbackServer() as server:
        mutual_children(server, 200)
        source = loopback_source(server, "/index.xml", max_files=50)
        async with loopback_fetcher() as fetcher:
            urls, errors = await collect_reporting(source, fetcher)
        hits = dict(server.hits)
    assert sum(hits.values()) == 50 and set(hits.values()) == {1}
    assert urls == []  # breadth first: the index and 49 of its children, no leaf yet
    assert [(where, reason) for where, reason, _ in errors] == [(source.url, "sitemap_limit")]
    # 151 children, and the leaves of the 49 children read
    assert errors[0][2] == "s: sitemaps not read: 200 (max_files 50 reached)"


async def test_a_gzip_sitemap_inflating_past_max_bytes_is_too_large_and_its_siblings_are_read():
    big = urlset(*[f"<url><loc>https://news.example/{n}</loc></url>" for n in range(20_000)])
    router = respx.Router()
    serve(
        router,
        {
            SITEMAP_URL: sitemap_index(
                ("https://news.example/big.xml.gz", None), ("https://news.example/ok.xml", None)
            ),
            "https://news.example/big.xml.gz": gzip.compress(big),
            "https://news.example/ok.xml": urlset("<url><loc>https://news.example/ok</loc></url>"),
        },
    )
    assert len(gzip.compress(big)) < 100_000 < len(big)
    async with fetcher_for(router, max_bytes=100_000) as fetcher:
        urls, errors = await collect_reporting(sitemap_source(), fetcher)
    assert urls == ["https://news.example/ok"]
    assert [(where, reason) for where, reason, _ in errors] == [
        ("https://news.example/big.xml.gz", "too_large")
    ]


async def test_a_gzip_sitemap_of_several_members_is_read_whole():
    router = respx.Router()
    first = "<url><loc>https://news.example/1</loc></url>"
    second = "<url><loc>https://news.example/2</loc></url>"
    whole = urlset(first, second).decode()
    cut = whole.index(second)
    body = gzip.compress(whole[:cut].encode()) + gzip.compress(whole[cut:].encode())
    serve(router, {"https://news.example/sm.xml.gz": body})
    async with fetcher_for(router) as fetcher:
        urls = await collect(sitemap_source("https://news.example/sm.xml.gz"), fetcher)
    assert urls == ["https://news.example/1", "https://news.example/2"]


async def test_a_sitemap_listed_in_robots_txt_that_fails_is_reported_and_the_others_read():
    router = respx.Router()
    robots = b"Sitemap: https://news.example/gone.xml\nSitemap: https://news.example/sm.xml\n"
    serve(
        router,
        {
            ROBOTS_URL: robots,
            "https://news.example/sm.xml": urlset("<url><loc>https://news.example/a</loc></url>"),
        },
    )
    router.get("https://news.example/gone.xml").mock(return_value=httpx.Response(410))
    async with fetcher_for(router) as fetcher:
        urls, errors = await collect_reporting(sitemap_source(ROBOTS_URL), fetcher)
    assert urls == ["https://news.example/a"]
    assert [(where, reason) for where, reason, _ in errors] == [
        ("https://news.example/gone.xml", "sitemap")
    ]


async def test_the_root_sitemap_failing_still_fails_the_source():
    router = respx.Router()
    router.get(SITEMAP_URL).mock(return_value=httpx.Response(404))
    async with fetcher_for(router) as fetcher:
        with pytest.raises(DiscoverError, match="HTTP 404") as exc:
            await collect_reporting(sitemap_source(), fetcher)
    assert exc.value.reason == "discover"


async def test_a_url_too_broken_to_canonicalise_is_passed_on_for_the_fetch_stage_to_refuse():
    router = respx.Router()
    body = urlset(
        "<url><loc>https://news.example:99999/bad-port</loc></url>",
        "<url><loc>http://[oops/bad-host</loc></url>",
        "<url><loc>https://news.example/good</loc></url>",
    )
    serve(router, {SITEMAP_URL: body})
    async with fetcher_for(router) as fetcher:
        assert await collect(sitemap_source(), fetcher) == [
            "https://news.example:99999/bad-port",
            "http://[oops/bad-host",
            "https://news.example/good",
        ]


# Local inputs: every page capped, every damage and every record that is no page
# counted by reason


def warc_record(
    url: str,
    body: bytes = b"<p>page</p>",
    kind: str = "response",
    status: str = "200 OK",
    ctype: str = "text/html; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
    http: bool = True,
    warc_content_type: str | None = None,
) -> bytes:
    """One uncompressed WARC record."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    http_headers = (
        StatusAndHeaders(status, [("Content-Type", ctype), *headers], protocol="HTTP/1.1")
        if http
        else None
    )
    record = writer.create_warc_record(
        url,
        kind,
        payload=io.BytesIO(body),
        http_headers=http_headers,
        warc_content_type=warc_content_type,
    )
    writer.write_record(record)
    return out.getvalue()


def gzip_members(*records: bytes) -> bytes:
    """Records as a .warc.gz is written: one gzip member each."""
    return b"".join(gzip.compress(record) for record in records)


def read_reporting(path, **options) -> tuple[list[Fetched], list[tuple[str, str]], list[str]]:
    """The pages, the (where, reason) of each failure and the reason of each record
    passed over."""
    errors: list[tuple[str, str]] = []
    skipped: list[str] = []
    pages = list(
        iter_pages(
            path,
            on_error=lambda where, exc: errors.append((where, exc.reason)),
            on_skip=skipped.append,
            **options,
        )
    )
    return pages, errors, skipped


def test_a_warc_record_past_max_bytes_is_too_large_and_the_records_after_it_are_read(tmp_path):
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = zeros.compress(b"\0" * 20_000_000) + zeros.flush()  # 20 KB that inflate to 20 MB
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(
        gzip_members(
            warc_record("https://x.example/a", b"<p>a</p>"),
            warc_record("https://x.example/bomb", bomb, headers=(("Content-Encoding", "gzip"),)),
            warc_record("https://x.example/huge", b"<p>" + b"x" * 200_000),
            warc_record("https://x.example/b", b"<p>b</p>"),
        )
    )
    pages, errors, _ = read_reporting(path, max_bytes=100_000)
    assert [(p.url, p.body) for p in pages] == [
        ("https://x.example/a", b"<p>a</p>"),
        ("https://x.example/b", b"<p>b</p>"),
    ]
    assert errors == [
        ("https://x.example/bomb", "too_large"),
        ("https://x.example/huge", "too_large"),
    ]


def test_a_gzip_encoded_record_within_max_bytes_is_decoded(tmp_path):
    path = tmp_path / "crawl.warc"
    body = gzip.compress(b"<p>encoded</p>")
    path.write_bytes(
        warc_record("https://x.example/e", body, headers=(("Content-Encoding", "gzip"),))
    )
    assert [p.body for p in iter_pages(path)] == [b"<p>encoded</p>"]


@pytest.mark.parametrize("compressed", [True, False])
def test_a_truncated_warc_keeps_the_records_before_the_cut_and_is_reported(tmp_path, compressed):
    records = [warc_record(f"https://x.example/{n}", b"<p>%d</p>" % n * 500) for n in range(3)]
    data = gzip_members(*records) if compressed else b"".join(records)
    path = tmp_path / ("crawl.warc.gz" if compressed else "crawl.warc")
    path.write_bytes(data[: len(data) - 300])
    pages, errors, _ = read_reporting(path)
    assert [p.url for p in pages] == ["https://x.example/0", "https://x.example/1"]
    assert errors == [(str(path), "truncated")]


def test_a_text_file_named_warc_is_not_warc_and_warcio_prints_nothing(tmp_path, capfd):
    path = tmp_path / "notes.warc"
    path.write_bytes(b"shopping list\neggs\nmilk\n" * 5)
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    pages, errors, _ = read_reporting(tmp_path)
    assert pages == []
    assert errors == [(str(empty), "not_warc"), (str(path), "not_warc")]
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda r: r + b"this is not a record\r\n\r\n", id="junk after a record"),
        pytest.param(
            lambda r: r.replace(b"Content-Length: ", b"Content-Length: 1", 1), id="wrong length"
        ),
    ],
)
def test_a_damaged_warc_is_corrupt_and_warcio_prints_nothing(tmp_path, capfd, damage):
    first = warc_record("https://x.example/a", b"<p>a</p>")
    path = tmp_path / "crawl.warc"
    path.write_bytes(first + damage(warc_record("https://x.example/b")) + first)
    _, errors, _ = read_reporting(path)
    assert errors and errors[-1] == (str(path), "corrupt")
    assert capfd.readouterr() == ("", "")


def test_records_that_are_no_page_are_passed_over_by_reason(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(
        gzip_members(
            warc_record("https://x.example/", b"", kind="warcinfo", http=False),
            warc_record("https://x.example/a", b"<p>a</p>"),
            warc_record("https://x.example/a", b"{}", kind="metadata", http=False),
            warc_record("https://x.example/gone", b"gone", status="404 Not Found"),
            warc_record("https://x.example/logo.png", b"\x89PNG", ctype="image/png"),
            warc_record(
                "dns:x.example",
                b"x.example. 300 IN A 93.184.216.34",
                http=False,
                warc_content_type="text/dns",
            ),
        )
    )
    pages, errors, skipped = read_reporting(path)
    assert [p.url for p in pages] == ["https://x.example/a"]
    assert errors == []
    assert sorted(skipped) == ["not_200", "not_html", "not_http", "not_response", "not_response"]


@pytest.mark.parametrize(
    "target", ["urn:x-page:42", "HTTPS://x.example/upper", "ftp://x.example/p"]
)
def test_an_http_response_under_a_non_http_target_is_read_under_its_own_uri(tmp_path, target):
    path = tmp_path / "crawl.warc"
    path.write_bytes(warc_record(target, b"<p>story</p>"))
    pages, errors, skipped = read_reporting(path)
    assert [(p.url, p.body, p.content_type) for p in pages] == [
        (target, b"<p>story</p>", "text/html")
    ]
    assert errors == skipped == []


def test_a_local_file_past_max_bytes_is_too_large_without_being_read(tmp_path):
    sparse = tmp_path / "sparse.html"
    with sparse.open("wb") as out:
        out.truncate(1 << 30)  # 1 GiB on paper, nothing on disk
    (tmp_path / "small.html").write_bytes(b"<p>small</p>")
    pages, errors, _ = read_reporting(tmp_path)
    assert [p.body for p in pages] == [b"<p>small</p>"]
    assert errors == [(str(sparse), "too_large")]


def test_a_gzip_file_inflating_past_max_bytes_is_too_large(tmp_path):
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b"x" * 2_000_000))
    pages, errors, _ = read_reporting(tmp_path, max_bytes=1_000_000)
    assert pages == [] and errors == [(str(bomb), "too_large")]


def test_every_member_of_a_gzip_html_file_is_read(tmp_path):
    path = tmp_path / "page.html.gz"
    path.write_bytes(gzip.compress(b"<p>first</p>") + gzip.compress(b"<p>second</p>"))
    assert [p.body for p in iter_pages(path)] == [b"<p>first</p><p>second</p>"]


def test_a_warc_date_that_is_no_date_falls_back_to_now(tmp_path):
    record = warc_record("https://x.example/a")
    path = tmp_path / "crawl.warc"
    stamp = record.index(b"WARC-Date: ") + len(b"WARC-Date: ")
    path.write_bytes(record[:stamp] + b"yesterday-ish......." + record[stamp + 20 :])
    (page,) = iter_pages(path)
    assert abs((page.fetched_at - datetime.now(UTC)).total_seconds()) < 60


# include / exclude / max_items on files sources: matched against the page URL


def test_files_sources_match_include_and_exclude_against_the_file_uri(tmp_path):
    for name in ("world-1.html", "world-live-2.html", "sport-3.html", "world-4.html"):
        (tmp_path / name).write_bytes(b"<p>x</p>")
    source = FilesSource(
        name="f",
        type="files",
        path=tmp_path,
        include=["/world-"],
        exclude=["live"],
        max_items=1,
    )
    assert [p.url for p in source_pages(source)] == [(tmp_path / "world-1.html").as_uri()]
    source.max_items = None
    assert [p.url.rsplit("/", 1)[1] for p in source_pages(source)] == [
        "world-1.html",
        "world-4.html",
    ]


def test_files_sources_match_the_canonical_warc_target_uri(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(
        gzip_members(
            warc_record("https://X.example/world/1?utm_source=feed"),
            warc_record("https://x.example/sport/2"),
            warc_record("https://x.example/world/3"),
        )
    )
    source = FilesSource(
        name="f", type="files", path=path, include=[r"^https://x\.example/world/\d+$"]
    )
    assert [p.url for p in source_pages(source)] == [
        "https://X.example/world/1?utm_source=feed",
        "https://x.example/world/3",
    ]
