"""End to end: config -> discover -> fetch -> extract -> sinks, twice."""

import asyncio
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx
from tenacity import wait_none

from scraper.cli import main
from scraper.config import load_settings
from scraper.pipeline import run

from .conftest import FIXTURES, fixture_html, public_resolver, write_config


def records(tmp_path) -> list[dict]:
    path = tmp_path / "out" / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_offline_run_writes_records_and_a_second_run_emits_no_duplicates(tmp_path, capsys):
    config = write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}]
    )
    assert main(["--config", str(config)]) == 0
    first = records(tmp_path)
    pages = list((FIXTURES / "pages").glob("*.html"))
    assert len(first) == len(pages)
    texts = sorted((tmp_path / "out" / "text").iterdir())
    assert [p.stem for p in texts] == sorted(r["id"] for r in first)
    assert all(p.read_text().startswith("\n") for p in texts)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scrape: ") and f"emitted={len(pages)}" in err[0]

    assert main(["--config", str(config)]) == 0
    assert records(tmp_path) == first
    assert f"seen={len(pages)}" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_unreachable_404_and_503_are_counted_and_the_run_completes(tmp_path):
    router = respx.Router()
    router.get("https://portal.example/ok").mock(
        return_value=httpx.Response(
            200,
            content=fixture_html("daily8_starmer"),
            headers={"content-type": "text/html; charset=utf-8"},
        )
    )
    router.get("https://portal.example/missing").mock(return_value=httpx.Response(404))
    flaky = router.get("https://portal.example/flaky").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(
                200, content=fixture_html("msn_provided_by"), headers={"content-type": "text/html"}
            ),
        ]
    )
    router.get("https://down.example/x").mock(side_effect=httpx.ConnectError("connection refused"))
    config = write_config(
        tmp_path,
        [
            {
                "name": "web",
                "type": "urls",
                "urls": [
                    "https://portal.example/ok",
                    "https://portal.example/missing",
                    "https://portal.example/flaky",
                    "https://down.example/x",
                ],
            }
        ],
    )
    settings = load_settings(config)
    report = asyncio.run(
        run(
            settings,
            transport=httpx.MockTransport(router.handler),
            resolver=public_resolver,
            wait=wait_none(),
        )
    )
    assert report.fetched == 2
    assert report.emitted == 2
    assert report.failures == {"http_4xx": 1, "connect": 1}
    assert flaky.call_count == 2
    assert len(records(tmp_path)) == 2
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["failures"] == {"http_4xx": 1, "connect": 1}

    again = asyncio.run(
        run(
            settings,
            transport=httpx.MockTransport(router.handler),
            resolver=public_resolver,
            wait=wait_none(),
        )
    )
    assert again.emitted == 0 and again.skipped_seen == 2 and again.fetched == 0


@pytest.fixture
def fixture_server():
    """A real HTTP server on loopback serving the fixture pages and an RSS feed of them."""
    pages = sorted(p.name for p in (FIXTURES / "pages").glob("*.html"))

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/feed.xml":
                items = "".join(f"<item><link>/pages/{p}</link></item>" for p in pages)
                body = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                self.wfile.write(body.encode())
            elif self.path == "/pages/broken.html":
                self.send_response(500)
                self.end_headers()
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(FIXTURES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


def test_run_against_a_real_loopback_server(tmp_path, fixture_server):
    base, pages = fixture_server
    config = write_config(
        tmp_path,
        [
            {
                "name": "local-feed",
                "type": "feed",
                "url": f"{base}/feed.xml",
                "allow_private": True,
            },
            {
                "name": "broken",
                "type": "urls",
                "urls": [f"{base}/pages/broken.html"],
                "allow_private": True,
            },
        ],
    )
    assert main(["--config", str(config)]) == 1  # the broken page fails, the rest lands
    got = records(tmp_path)
    assert len(got) == len(pages)
    titles = {r["title"] for r in got}
    assert (
        "Starmer could attend second US-Russia meeting on ending Ukraine war, says Trump" in titles
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["failures"] == {"http_5xx": 1}
    assert report["fetched"] == len(pages)


def test_loopback_is_refused_without_allow_private(tmp_path, fixture_server):
    base, _ = fixture_server
    config = write_config(
        tmp_path, [{"name": "local", "type": "urls", "urls": [f"{base}/pages/x.html"]}]
    )
    assert main(["--config", str(config)]) == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["failures"] == {"private_address": 1}
    assert records(tmp_path) == []


def test_a_second_run_waits_for_the_lock(tmp_path):
    from scraper.store import Store

    config = write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}]
    )
    with Store(tmp_path / "state.sqlite"):
        assert main(["--config", str(config)]) == 3
    assert records(tmp_path) == []


def test_a_killed_run_loses_nothing_and_leaves_no_partial_output(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import time

    pages = tmp_path / "pages"
    pages.mkdir()
    html = fixture_html("daily8_starmer").decode()
    total = 400  # enough that the run is still going when the first batch lands
    for i in range(total):
        copy = re.sub(
            r'rel="canonical" href="[^"]+"', f'rel="canonical" href="https://d8.example/{i}"', html
        )
        (pages / f"p{i:03}.html").write_text(copy)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    proc = subprocess.Popen(
        [sys.executable, "-m", "scraper.cli", "--config", str(config)], stderr=subprocess.DEVNULL
    )
    records_path = tmp_path / "out" / "records.jsonl"
    deadline = time.monotonic() + 60
    while not records_path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = records(tmp_path)  # every line parses: no half-written record
    assert len(partial) < total
    assert main(["--config", str(config)]) == 0
    ids = [r["id"] for r in records(tmp_path)]
    assert len(ids) == total and len(set(ids)) == total


def test_rel_canonical_folds_two_urls_into_one_record_and_is_not_fetched_again(tmp_path):
    canonical = (
        "https://daily8.ai/news/world/"
        "starmer-could-attend-second-us-russia-meeting-on-ending-ukraine-war-says-trump-4f8a21c9"
    )
    router = respx.Router()
    page = httpx.Response(
        200, content=fixture_html("daily8_starmer"), headers={"content-type": "text/html"}
    )
    mirrors = [
        router.get(f"https://mirror{i}.example/story").mock(return_value=page) for i in (1, 2)
    ]
    origin = router.get(canonical).mock(return_value=page)
    urls = ["https://mirror1.example/story", "https://mirror2.example/story"]
    config = write_config(tmp_path, [{"name": "web", "type": "urls", "urls": urls}])

    def crawl(settings):
        return asyncio.run(
            run(
                settings,
                transport=httpx.MockTransport(router.handler),
                resolver=public_resolver,
                wait=wait_none(),
            )
        )

    report = crawl(load_settings(config))
    assert report.fetched == 2 and report.emitted == 1 and report.skipped_seen == 1
    assert [r["canonical_url"] for r in records(tmp_path)] == [canonical]
    assert [m.call_count for m in mirrors] == [1, 1]

    config = write_config(tmp_path, [{"name": "web", "type": "urls", "urls": [canonical]}])
    again = crawl(load_settings(config))
    assert again.skipped_seen == 1 and again.fetched == 0 and origin.call_count == 0
