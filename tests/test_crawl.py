"""Discovery and fetching end to end, against a real loopback server (tests/server.py).

Each test asserts what was fetched, how often, and what was emitted.
"""

import asyncio
import time

import pytest

from scraper.cli import main
from scraper.config import load_settings
from scraper.models import RunReport
from scraper.pipeline import run

from .conftest import all_records, last_report, write_config
from .server import (
    PAGES,
    LoopbackServer,
    drop,
    gzip_bomb,
    huge,
    iso,
    page_route,
    redirect_to,
    slow,
    status_then_page,
    text,
)

FETCH = {
    "per_host_delay": 0,
    "retries": 2,
    "backoff_max": 0.05,
    "respect_robots": True,
    "timeout": 0.5,
}


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        srv.routes["/robots.txt"] = text(
            "User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap-index.xml\n"
        )
        yield srv


def crawl(tmp_path, sources: list[dict], **fetch) -> RunReport:
    for source in sources:
        source.setdefault("allow_private", True)
    config = write_config(tmp_path, sources, fetch={**FETCH, **fetch})
    return asyncio.run(run(load_settings(config)))


def emitted_urls(tmp_path) -> list[str]:
    return [record["url"] for record in all_records(tmp_path / "out")]


def test_every_fault_is_survived_typed_and_counted(tmp_path, server):
    server.routes.update(
        {
            "/ok.html": page_route(PAGES[0]),
            "/rate-limited.html": status_then_page([429], PAGES[1], Retry_After="1"),
            "/flaky.html": status_then_page([503, 503], PAGES[2]),
            "/slow.html": slow(2.0),
            "/drop.html": drop,
            "/loop.html": redirect_to("/loop.html"),
            "/huge.html": huge,
            "/bomb.html": gzip_bomb,
            "/private/secret.html": page_route(PAGES[3]),
            "/gone.html": lambda h: h.send(404, b"gone"),
            "/file.pdf": lambda h: h.send(200, b"%PDF-1.4", "application/pdf"),
        }
    )
    paths = [*server.routes][1:]  # everything but robots.txt
    started = time.monotonic()
    report = crawl(
        tmp_path,
        [{"name": "faults", "type": "urls", "urls": [server.base + p for p in paths]}],
        max_redirects=3,
    )
    assert report.failures == {
        "timeout": 1,
        "connect": 1,
        "redirects": 1,
        "too_large": 2,
        "robots": 1,
        "http_4xx": 1,
        "not_html": 1,
    }
    assert sorted(emitted_urls(tmp_path)) == sorted(
        server.base + p for p in ("/ok.html", "/rate-limited.html", "/flaky.html")
    )
    hits = server.hits
    assert hits["/robots.txt"] == 1
    assert hits["/ok.html"] == 1
    assert hits["/rate-limited.html"] == 2
    assert hits["/flaky.html"] == 3
    assert hits["/slow.html"] == 3  # timeouts are retried: 1 + retries
    assert hits["/drop.html"] == 3
    assert hits["/loop.html"] == 4  # 1 + max_redirects, not retried
    assert hits["/huge.html"] == 1 and hits["/bomb.html"] == 1  # too_large is not retried
    assert hits["/private/secret.html"] == 0
    assert time.monotonic() - started >= 1.0  # the Retry-After was waited out


def test_a_second_run_sends_validators_and_a_304_emits_nothing(tmp_path, server):
    rss = "".join(f"<item><link>/a/{name}.html</link></item>" for name in PAGES)
    server.routes["/feed.xml"] = text(
        f'<?xml version="1.0"?><rss version="2.0"><channel>{rss}</channel></rss>',
        "application/rss+xml",
    )
    for i, name in enumerate(PAGES):
        server.routes[f"/a/{name}.html"] = page_route(name, etag=f'"v{i}"')
    source = {"name": "feed", "type": "feed", "url": f"{server.base}/feed.xml"}

    first = crawl(tmp_path, [dict(source)])
    assert first.emitted == len(PAGES) and first.fetched == len(PAGES)
    assert all(server.hits[f"/a/{name}.html"] == 1 for name in PAGES)

    second = crawl(tmp_path, [dict(source)])
    assert second.not_modified == len(PAGES)
    assert second.fetched == 0 and second.emitted == 0 and second.failed == 0
    assert all(server.hits[f"/a/{name}.html"] == 2 for name in PAGES)
    conditional = [h for path, h in server.requests if path.startswith("/a/")][len(PAGES) :]
    assert sorted(h["If-None-Match"] for h in conditional) == sorted(
        f'"v{i}"' for i in range(len(PAGES))
    )
    assert len(emitted_urls(tmp_path)) == len(PAGES)


def test_sitemaps_from_robots_with_a_news_sitemap_and_a_max_age(tmp_path, server):
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    news_ns = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
    server.routes["/sitemap-index.xml"] = text(
        f"<?xml version='1.0'?><sitemapindex {ns}>"
        f"<sitemap><loc>{{base}}/news.xml</loc><lastmod>{iso(0)}</lastmod></sitemap>"
        f"<sitemap><loc>{{base}}/2019.xml</loc><lastmod>2019-12-31</lastmod></sitemap>"
        "</sitemapindex>",
        "application/xml",
    )
    fresh, stale = PAGES[:2], PAGES[2]
    entries = "".join(
        f"<url><loc>{{base}}/n/{name}.html</loc><news:news><news:publication_date>"
        f"{iso(days)}</news:publication_date></news:news></url>"
        for name, days in [(fresh[0], 0.1), (fresh[1], 0.5), (stale, 9)]
    )
    server.routes["/news.xml"] = text(
        f"<?xml version='1.0'?><urlset {ns} {news_ns}>{entries}</urlset>", "application/xml"
    )
    server.routes["/2019.xml"] = text(f"<urlset {ns}></urlset>", "application/xml")
    for name in PAGES:
        server.routes[f"/n/{name}.html"] = page_route(name)

    report = crawl(
        tmp_path,
        [{"name": "site", "type": "sitemap", "url": f"{server.base}/robots.txt", "max_age": "2d"}],
    )
    assert report.discovered == 2 and report.emitted == 2 and report.failed == 0
    assert sorted(emitted_urls(tmp_path)) == sorted(f"{server.base}/n/{n}.html" for n in fresh)
    assert server.hits["/robots.txt"] == 1
    assert server.hits["/sitemap-index.xml"] == 1 and server.hits["/news.xml"] == 1
    assert server.hits["/2019.xml"] == 0  # its lastmod is older than max_age
    assert server.hits[f"/n/{stale}.html"] == 0


def test_listing_pages_with_pagination_and_include_patterns(tmp_path, server):
    def listing(page: int, names: list[str]) -> str:
        cards = "".join(
            f'<li class="card"><a class="headline" href="/story/{n}.html">{n}</a>'
            f'<a href="/video/{n}">video</a></li>'
            for n in names
        )
        nxt = f'<a rel="next" href="/section?page={page + 1}">More</a>'
        return f"<html><body><ul>{cards}</ul>{nxt}</body></html>"

    server.routes["/section"] = lambda h: h.send(
        200,
        listing(
            int(h.path.partition("page=")[2] or 1),
            PAGES[:3] if "page" not in h.path else PAGES[3:5],
        ).encode(),
    )
    for name in PAGES:
        server.routes[f"/story/{name}.html"] = page_route(name)
    report = crawl(
        tmp_path,
        [
            {
                "name": "section",
                "type": "listing",
                "url": f"{server.base}/section",
                "link_selector": "li.card a",
                "follow": "a[rel=next]",
                "max_pages": 2,
                "include": ["/story/"],
            }
        ],
    )
    assert report.emitted == 5 and report.failed == 0
    assert server.hits["/section"] == 2
    assert sum(n for path, n in server.hits.items() if path.startswith("/video/")) == 0
    assert sorted(emitted_urls(tmp_path)) == sorted(
        f"{server.base}/story/{n}.html" for n in PAGES[:5]
    )


def test_per_host_delay_spaces_requests_across_sources(tmp_path, server):
    for name in PAGES[:4]:
        server.routes[f"/d/{name}.html"] = page_route(name)
    urls = [f"{server.base}/d/{n}.html" for n in PAGES[:4]]
    report = crawl(
        tmp_path,
        [
            {"name": "one", "type": "urls", "urls": urls[:2]},
            {"name": "two", "type": "urls", "urls": urls[2:]},
        ],
        per_host_delay=0.3,
        respect_robots=False,
    )
    assert report.emitted == 4
    # Requests to one host were spaced: 4 pages take at least 3 delays.
    assert report.seconds >= 0.9


def test_a_long_retry_after_defers_the_host_in_the_next_run_too(tmp_path, server):
    # The host answers 429 with a Retry-After of an hour, more than the run waits.
    server.routes["/busy.html"] = status_then_page([429] * 10, PAGES[0], **{"Retry-After": "3600"})
    server.routes["/later.html"] = page_route(PAGES[1])
    busy = {"name": "busy", "type": "urls", "urls": [f"{server.base}/busy.html"]}
    first = crawl(tmp_path, [busy], retries=0, retry_after_max=1)
    assert first.failures == {"http_4xx": 1} and server.fetched("/busy.html") == 1

    later = {"name": "busy", "type": "urls", "urls": [f"{server.base}/later.html"]}
    second = crawl(tmp_path, [later], retries=0, retry_after_max=1)
    assert server.fetched("/later.html") == 0  # not asked before the hour is up
    assert second.deferred == 1 and second.failed == 0 and second.emitted == 0

    feed = {"name": "feed", "type": "feed", "url": f"{server.base}/feed.xml"}
    robots = server.fetched("/robots.txt")
    third = crawl(tmp_path, [feed], retries=0, retry_after_max=1)
    assert server.fetched("/feed.xml") == 0 and server.fetched("/robots.txt") == robots
    assert third.deferred == 1 and third.failed == 0  # left for later, not a broken source

    sitemaps = {"name": "robots", "type": "sitemap", "url": f"{server.base}/robots.txt"}
    fourth = crawl(tmp_path, [sitemaps], retries=0, retry_after_max=1)
    assert server.fetched("/robots.txt") == robots and fourth.deferred == 1


def test_a_page_on_a_private_address_is_refused_as_such_with_no_request_made(
    tmp_path, server, capsys
):
    """The SSRF case, robots on: not `robots` (the robots.txt request was refused
    too), but `private_address` naming the fix, exit 3, and nothing asked."""
    server.routes["/a"] = page_route(PAGES[0])
    url = f"{server.base}/a"
    config = write_config(tmp_path, [{"name": "local", "type": "urls", "urls": [url]}], fetch=FETCH)
    assert main(["--config", str(config)]) == 3
    report = last_report(tmp_path / "out")
    assert report["failures"] == {"private_address": 1}
    assert report["errors"][0]["message"] == (
        "127.0.0.1 is a non-public address; set allow_private: true on source 'local' to fetch it"
    )
    assert sum(server.hits.values()) == 0  # /robots.txt included
    assert "set allow_private: true on source 'local'" in capsys.readouterr().err


def test_two_sources_on_one_private_host_each_get_their_own_answer(tmp_path, server):
    server.routes["/a"] = page_route(PAGES[0])
    server.routes["/b"] = page_route(PAGES[1])
    sources = [
        {"name": "strict", "type": "urls", "urls": [f"{server.base}/a"], "allow_private": False},
        {"name": "intranet", "type": "urls", "urls": [f"{server.base}/b"]},
    ]
    report = crawl(tmp_path, sources, concurrency=1)
    assert report.sources["strict"].failures == {"private_address": 1}
    assert report.sources["intranet"].emitted == 1
    assert server.hits["/robots.txt"] == 1 and server.hits["/a"] == 0


def test_a_robots_sitemap_source_on_a_private_address_says_how_to_allow_it(tmp_path, server):
    source = {"name": "site", "type": "sitemap", "url": f"{server.base}/robots.txt"}
    report = crawl(tmp_path, [{**source, "allow_private": False}])
    assert report.sources["site"].failures == {"discover": 1}
    assert "set allow_private: true on source 'site'" in report.errors[0]["message"]
    assert sum(server.hits.values()) == 0


def test_a_robots_txt_that_fails_names_itself_in_the_page_failure(tmp_path, server):
    server.routes["/robots.txt"] = status_then_page([503] * 10, PAGES[0])
    server.routes["/a"] = page_route(PAGES[0])
    sources = [{"name": "u", "type": "urls", "urls": [f"{server.base}/a", f"{server.base}/b"]}]
    report = crawl(tmp_path, sources)
    assert report.sources["u"].failures == {"robots": 2}
    assert all(
        "robots.txt of" in e["message"] and "HTTP 503" in e["message"] for e in report.errors
    )
    assert server.hits["/robots.txt"] == 1 and server.hits["/a"] == 0
