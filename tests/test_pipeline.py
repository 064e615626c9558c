"""End to end: config -> discover -> fetch -> extract -> sinks, twice."""

import asyncio
import json
import threading
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx
from tenacity import wait_none

from scraper.cli import main
from scraper.config import load_settings
from scraper.pipeline import run

from .conftest import (
    FIXTURES,
    all_records,
    fixture_html,
    last_report,
    latest_report,
    public_resolver,
    write_config,
)


def records(tmp_path) -> list[dict]:
    return all_records(tmp_path / "out")


def test_offline_run_writes_records_and_a_second_run_emits_no_duplicates(tmp_path, capsys):
    config = write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}]
    )
    assert main(["--config", str(config)]) == 0
    first = records(tmp_path)
    pages = list((FIXTURES / "pages").glob("*.html"))
    assert len(first) == len(pages)
    texts = sorted((tmp_path / "out" / "latest" / "text").iterdir())
    assert [p.stem for p in texts] == sorted(r["id"] for r in first)
    assert all(p.read_text().startswith("\n") for p in texts)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scrape: ") and f"emitted={len(pages)}" in err[0]

    assert main(["--config", str(config)]) == 0
    assert records(tmp_path) == first
    assert f"not_modified={len(pages)}" in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob(".*"))


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
    saved = latest_report(tmp_path / "out")
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
    report = latest_report(tmp_path / "out")
    assert report["failures"] == {"http_5xx": 1}
    assert report["totals"]["fetched"] == len(pages)


def test_loopback_is_refused_without_allow_private(tmp_path, fixture_server):
    base, _ = fixture_server
    config = write_config(
        tmp_path, [{"name": "local", "type": "urls", "urls": [f"{base}/pages/x.html"]}]
    )
    assert main(["--config", str(config)]) == 3  # nothing could be fetched
    report = last_report(tmp_path / "out")
    assert report["failures"] == {"private_address": 1}
    assert records(tmp_path) == []
    assert not (tmp_path / "out" / "latest").exists()  # an empty run keeps no folder


def test_a_second_run_waits_for_the_lock(tmp_path):
    from scraper.store import Store

    config = write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}]
    )
    with Store(tmp_path / "state.sqlite"):
        assert main(["--config", str(config)]) == 75
    assert records(tmp_path) == []


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


def copy_pages(tmp_path, count: int = 3):
    """``count`` copies of a fixture page, each with its own canonical URL."""
    import re

    pages = tmp_path / "pages"
    pages.mkdir(exist_ok=True)
    html = fixture_html("daily8_starmer").decode()
    for i in range(count):
        copy = re.sub(
            r'rel="canonical" href="[^"]+"', f'rel="canonical" href="https://d8.example/{i}"', html
        )
        (pages / f"p{i}.html").write_text(copy)
    return pages


def test_a_second_run_emits_nothing_and_a_changed_page_emits_version_2(tmp_path):
    pages = copy_pages(tmp_path)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config)]) == 0
    first = records(tmp_path)
    assert [r["version"] for r in first] == [1, 1, 1]

    assert main(["--config", str(config)]) == 0
    assert records(tmp_path) == first
    report = last_report(tmp_path / "out")
    assert report["sources"]["fx"]["not_modified"] == 3 and report["totals"]["emitted"] == 0

    page = pages / "p1.html"
    page.write_text(
        page.read_text()
        .replace("Starmer", "Sir Keir Starmer", 1)
        .replace("<p>", "<p>An update: talks were moved to Friday. ", 1)
    )
    assert main(["--config", str(config)]) == 0
    new = records(tmp_path)[len(first) :]
    old = next(r for r in first if r["id"] == new[0]["id"])
    assert len(new) == 1 and new[0]["version"] == 2
    assert new[0]["previous_hash"] == old["content_hash"] != new[0]["content_hash"]
    assert latest_report(tmp_path / "out")["sources"]["fx"]["not_modified"] == 2

    assert main(["--config", str(config), "--full"]) == 0  # read again, nothing new
    assert len(records(tmp_path)) == 4
    assert last_report(tmp_path / "out")["sources"]["fx"]["unchanged"] == 3


def test_a_page_refetched_with_new_text_is_version_2_and_same_text_is_not_emitted(tmp_path):
    router = respx.Router()
    body = fixture_html("daily8_starmer")
    bodies = [body, body, body.replace(b"<p>", b"<p>Updated at noon. ", 1)]
    route = router.get("https://portal.example/story").mock(
        side_effect=[
            httpx.Response(200, content=b, headers={"content-type": "text/html", "etag": f'"{i}"'})
            for i, b in enumerate(bodies)
        ]
    )
    config = write_config(
        tmp_path, [{"name": "web", "type": "urls", "urls": ["https://portal.example/story"]}]
    )

    def crawl(**kwargs):
        return asyncio.run(
            run(
                load_settings(config),
                transport=httpx.MockTransport(router.handler),
                resolver=public_resolver,
                wait=wait_none(),
                **kwargs,
            )
        )

    assert crawl().emitted == 1
    again = crawl()  # conditional GET with the ETag; the server sends the same text
    assert route.calls[1].request.headers["if-none-match"] == '"0"'
    assert again.emitted == 0 and again.unchanged == 1
    third = crawl()
    assert third.emitted == 1
    got = records(tmp_path)
    assert [r["version"] for r in got] == [1, 2]
    assert got[1]["previous_hash"] == got[0]["content_hash"]


def test_every_target_refused_exits_3_and_some_failed_exits_1(tmp_path, fixture_server):
    base, _ = fixture_server
    refused = write_config(
        tmp_path, [{"name": "local", "type": "urls", "urls": [f"{base}/pages/x.html"]}]
    )
    assert main(["--config", str(refused)]) == 3
    assert last_report(tmp_path / "out")["exit_code"] == 3


def test_since_skips_older_files(tmp_path):
    import os

    pages = copy_pages(tmp_path, 2)
    os.utime(pages / "p0.html", (1_000_000_000, 1_000_000_000))  # 2001
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config), "--since", "2d"]) == 0
    assert [r["canonical_url"] for r in records(tmp_path)] == ["https://d8.example/1"]
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(config), "--since", "nonsense"])
    assert exc.value.code == 2


def test_a_corrupt_state_file_exits_2_and_is_kept(tmp_path, capsys):
    pages = copy_pages(tmp_path, 1)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    state = tmp_path / "state.sqlite"
    state.write_bytes(b"my notes, not a database\n" * 100)
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "state.sqlite" in err[0] and "not a state file" in err[0]
    assert state.read_bytes() == b"my notes, not a database\n" * 100
    assert records(tmp_path) == []


def test_status_lists_runs_and_schema_describes_a_record(tmp_path, capsys):
    pages = copy_pages(tmp_path, 1)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["status", "--config", str(config)]) == 2  # no run yet
    assert main(["--config", str(config)]) == 0
    assert main(["--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(config)]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    folders = [p.name for p in (tmp_path / "out" / "runs").iterdir()]
    # Newest first; the second run emitted nothing, so it is listed but has no folder.
    assert len(rows) == 2 and rows[1:] == folders and rows[0] != rows[1]
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"id", "version", "previous_hash", "content_hash", "paragraphs"} <= set(
        schema["properties"]
    )


def test_json_logs_give_one_object_per_line(tmp_path, capsys, fixture_server):
    base, _ = fixture_server
    config = write_config(
        tmp_path, [{"name": "local", "type": "urls", "urls": [f"{base}/pages/x.html"]}]
    )
    assert main(["--log-format", "json", "--config", str(config)]) == 3
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    failure = next(line for line in lines if line.get("reason") == "private_address")
    assert failure["url"] == f"{base}/pages/x.html" and failure["level"] == "WARNING"
    assert lines[-1]["exit_code"] == 3 and lines[-1]["failed"] == 1


def start_run(config, *args):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "scraper.cli", "--config", str(config), *args],
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_journal(out, proc, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(out.glob("runs/*/.records.jsonl.partial"))
        if journals and journals[0].stat().st_size:
            return
        time.sleep(0.05)
    raise AssertionError("the run wrote no batch in time")


def test_a_second_run_started_meanwhile_exits_75_at_once(tmp_path, capsys):
    import time

    pages = copy_pages(tmp_path, 400)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    first = start_run(config)
    try:
        wait_for_journal(tmp_path / "out", first)
        began = time.monotonic()
        assert main(["--config", str(config)]) == 75
        assert time.monotonic() - began < 5
        assert "another run holds the lock" in capsys.readouterr().err
    finally:
        first.kill()
        first.wait()


def test_sigterm_finishes_the_pages_in_hand_and_writes_the_report(tmp_path):
    import signal

    pages = copy_pages(tmp_path, 400)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    proc = start_run(config)
    wait_for_journal(tmp_path / "out", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    report = latest_report(tmp_path / "out")
    assert report["interrupted"] is True and report["exit_code"] == 143
    done = records(tmp_path)
    assert 0 < len(done) == report["totals"]["emitted"] < 400
    assert "interrupted" in err.strip().splitlines()[-1]
    assert main(["--config", str(config)]) == 0
    ids = [r["id"] for r in records(tmp_path)]
    assert len(ids) == 400 and len(set(ids)) == 400


def story(i: int) -> bytes:
    """The daily8 fixture page as story ``i``: its own canonical URL and sentence."""
    import re

    html = fixture_html("daily8_starmer").decode()
    html = re.sub(
        r'rel="canonical" href="[^"]+"', f'rel="canonical" href="https://d8.example/{i}"', html
    )
    sentence = f"<p>This is story number {i} of the kill test.</p>\n      <p>Speaking to"
    return html.replace("<p>Speaking to", sentence, 1).encode()


def test_runs_killed_at_any_point_then_a_full_run_emit_each_article_exactly_once(tmp_path):
    import signal
    import sqlite3
    import subprocess
    import time
    from contextlib import closing

    from .server import LoopbackServer, Route, text

    total = 300
    fetch = {"per_host_delay": 0, "retries": 0, "respect_robots": False, "timeout": 5}
    fetch |= {"concurrency": 8, "host_concurrency": 8}

    def serve(body: bytes) -> Route:
        return lambda h: h.send(200, body, "text/html; charset=utf-8")

    with LoopbackServer() as server:
        for i in range(total):
            server.routes[f"/a/{i}"] = serve(story(i))
        items = "".join(f"<item><link>{{base}}/a/{i}</link></item>" for i in range(total))
        rss = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
        server.routes["/feed.xml"] = text(rss, "application/rss+xml")
        feed = {"name": "d8", "type": "feed", "url": f"{server.base}/feed.xml"}

        def config_in(folder):
            folder.mkdir()
            return write_config(folder, [{**feed, "allow_private": True}], fetch=fetch)

        began = time.monotonic()
        reference = start_run(config_in(tmp_path / "reference"))
        _, err = reference.communicate(timeout=60)
        full = time.monotonic() - began
        assert reference.returncode == 0, err
        expected = sorted(
            (r["id"], r["content_hash"]) for r in all_records(tmp_path / "reference/out")
        )
        assert len(expected) == total

        config, out = config_in(tmp_path / "killed"), tmp_path / "killed/out"
        killed = []
        for fraction in (0.2, 0.4, 0.6, 0.8):
            proc = start_run(config)
            try:
                proc.wait(timeout=fraction * full)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
            killed.append(proc.returncode == -signal.SIGKILL)
            assert killed[-1] or proc.returncode == 0, err  # a later run may finish in time
            all_records(out)  # what is published parses, even right after a kill
        assert killed[0]  # the first kill always lands mid-run
        assert main(["--config", str(config)]) == 0

    assert not list(out.rglob(".*"))  # no journal, temp file or half-written output left
    got = all_records(out)  # every line of every records.jsonl parses
    assert sorted((r["id"], r["content_hash"]) for r in got) == expected  # each exactly once
    for jsonl in out.glob("runs/*/records.jsonl"):
        folder = jsonl.parent
        ids = sorted(json.loads(line)["id"] for line in jsonl.read_text().splitlines())
        assert sorted(p.stem for p in folder.glob("text/*")) == ids  # one text per record
        assert json.loads((folder / "report.json").read_text())["run_id"] == folder.name
    assert last_report(out)["exit_code"] == 0  # it may have emitted nothing: no folder

    with closing(sqlite3.connect(tmp_path / "killed/state.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT id, content_hash, version FROM articles").fetchall()
        assert sorted((id_, hash_) for id_, hash_, _ in rows) == expected
        assert {version for *_, version in rows} == {1}
        seen = {url for (url,) in db.execute("SELECT url FROM seen_urls")}
        assert {f"{server.base}/a/{i}" for i in range(total)} <= seen


def test_drift_alert_fires_when_pages_lose_their_body_text(tmp_path, capsys):
    pages = copy_pages(tmp_path, 4)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    for _ in range(6):
        assert main(["--config", str(config), "--full"]) == 0
        assert last_report(tmp_path / "out")["warnings"] == []
    assert "drift" not in capsys.readouterr().err
    for i, page in enumerate(sorted(pages.iterdir())):  # a new template hides the body
        page.write_text(
            f'<html><head><link rel="canonical" href="https://d8.example/{i}">'
            "<title>Starmer could attend second meeting</title></head><body><article>"
            "<h1>Starmer could attend second meeting</h1><p>Subscribe to keep reading: "
            "this story is for members only.</p></article></body></html>"
        )
    main(["--config", str(config), "--full"])
    warnings = last_report(tmp_path / "out")["warnings"]
    assert warnings and {w["source"] for w in warnings} == {"fx"}
    assert "drift: source 'fx'" in capsys.readouterr().err


def test_a_files_source_counts_damaged_and_oversized_inputs_and_passes_over_no_pages(
    tmp_path, capfd
):
    from .test_discover import gzip_members, warc_record

    pages = copy_pages(tmp_path, 2)
    archive = gzip_members(
        warc_record("https://portal.example/w0", story(100)),
        warc_record(
            "https://portal.example/w0",
            b"GET /w0 HTTP/1.1\r\nHost: portal.example\r\n\r\n",
            kind="request",
            http=False,
            warc_content_type="application/http; msgtype=request",
        ),
        warc_record("https://portal.example/gone", b"gone", status="404 Not Found"),
        warc_record("https://portal.example/w1", story(101)),
        warc_record("https://portal.example/w2", story(102)),
    )
    (pages / "crawl.warc.gz").write_bytes(archive[:-300])  # w2 is cut
    (pages / "notes.warc").write_text("not an archive\n" * 20)
    with (pages / "huge.html").open("wb") as out:
        out.truncate(6_000_000)  # past the default fetch.max_bytes, nothing on disk
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])

    assert main(["--config", str(config)]) == 1
    report = latest_report(tmp_path / "out")
    assert report["failures"] == {"truncated": 1, "not_warc": 1, "too_large": 1}
    assert report["sources"]["fx"]["not_pages"] == {"not_200": 1, "not_response": 1}
    assert report["totals"]["emitted"] == 4 and report["totals"]["not_pages"] == 2
    assert sorted(r["canonical_url"] for r in records(tmp_path)) == [
        f"https://d8.example/{i}" for i in (0, 1, 100, 101)
    ]
    err = capfd.readouterr().err.strip().splitlines()
    named = {
        "truncated": pages / "crawl.warc.gz",
        "not_warc": pages / "notes.warc",
        "too_large": pages / "huge.html",
    }
    for reason, path in named.items():
        assert sum(line.startswith(f"scrape: {reason} {path}: ") for line in err) == 1
    assert len(err) == 4 and "not_pages=2 (not_200=1, not_response=1)" in err[-1]


def test_a_sitemap_whose_child_is_missing_still_emits_the_other_childrens_pages(tmp_path):
    from .server import LoopbackServer, text

    with LoopbackServer() as server:
        base = server.base
        for i in (1, 2):
            server.routes[f"/a/{i}"] = lambda h, i=i: h.send(200, story(i), "text/html")
            server.routes[f"/sm-{i}.xml"] = text(
                f"<urlset><url><loc>{base}/a/{i}</loc></url></urlset>"
            )
        children = "".join(
            f"<sitemap><loc>{base}/{name}.xml</loc></sitemap>" for name in ("sm-1", "gone", "sm-2")
        )
        server.routes["/index.xml"] = text(f"<sitemapindex>{children}</sitemapindex>")
        source = {
            "name": "sm",
            "type": "sitemap",
            "url": f"{base}/index.xml",
            "allow_private": True,
        }
        config = write_config(tmp_path, [source])
        assert main(["--config", str(config)]) == 1  # not 3: the source got through
    report = latest_report(tmp_path / "out")
    assert report["failures"] == {"sitemap": 1}
    assert report["errors"][0]["url"] == f"{base}/gone.xml"
    assert report["totals"]["emitted"] == 2


def test_outputs_that_cannot_be_written_fail_the_run_instead_of_being_swallowed(
    tmp_path, monkeypatch
):
    from scraper import pipeline
    from scraper.errors import SinkError
    from scraper.sinks import RunOutput

    def disk_full(self, articles):
        raise SinkError(f"cannot write output in {self.folder}: disk full")

    monkeypatch.setattr(pipeline, "BATCH_SIZE", 1)  # every article is written at once
    monkeypatch.setattr(RunOutput, "write", disk_full)
    page = httpx.Response(
        200, content=fixture_html("daily8_starmer"), headers={"content-type": "text/html"}
    )
    router = respx.Router()
    router.get(url__regex=r"https://portal\.example/\d+").mock(return_value=page)
    urls = [f"https://portal.example/{i}" for i in range(20)]  # more than the queue holds
    config = write_config(tmp_path, [{"name": "web", "type": "urls", "urls": urls}])
    settings = load_settings(config)
    settings.fetch.concurrency = 1

    async def crawl():
        transport = httpx.MockTransport(router.handler)
        return await asyncio.wait_for(run(settings, transport, public_resolver), 30)

    with pytest.raises(SinkError, match="disk full"):
        asyncio.run(crawl())


def test_a_run_that_emits_nothing_keeps_no_folder_and_latest_stays_on_a_complete_one(tmp_path):
    pages = copy_pages(tmp_path, 2)
    source = {"name": "fx", "type": "files", "path": str(pages)}
    config = write_config(tmp_path, [source])
    out = tmp_path / "out"
    assert main(["--config", str(config)]) == 0
    first = (out / "latest").resolve()
    assert main(["--config", str(config)]) == 0  # nothing new
    assert [p.name for p in (out / "runs").iterdir()] == [first.name]
    assert (out / "latest").resolve() == first
    report = last_report(out)
    assert report["run_id"] != first.name and report["sources"]["fx"]["not_modified"] == 2

    keep_empty = {"dir": str(out), "skip_empty_runs": False}
    config = write_config(tmp_path, [source], output=keep_empty)
    assert main(["--config", str(config)]) == 0
    assert (out / "latest").resolve() != first
    assert latest_report(out)["totals"]["emitted"] == 0 and records(tmp_path) != []


def test_a_killed_run_that_emitted_nothing_is_recorded_once_and_its_folder_removed(tmp_path):
    from scraper.models import RunReport
    from scraper.sinks import Sinks
    from scraper.store import Store, read_runs

    pages = copy_pages(tmp_path, 1)
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    sinks = Sinks(tmp_path / "out", ["jsonl"])
    killed = sinks.new_run(datetime(2026, 11, 24, 5, 0, tzinfo=UTC)).folder
    # killed after the state got its report, before the folder went
    recorded = sinks.new_run(datetime(2026, 11, 24, 5, 30, tzinfo=UTC)).folder
    with Store(tmp_path / "state.sqlite") as store:
        store.record_run(RunReport(run_id=recorded.name, note="the run's own report"))
    assert main(["--config", str(config)]) == 0
    assert [p.name for p in (tmp_path / "out" / "runs").iterdir()] == [
        (tmp_path / "out" / "latest").resolve().name
    ]
    runs = {r.run_id: r for r in read_runs(tmp_path / "state.sqlite")}
    assert len(runs) == 3 and runs[recorded.name].note == "the run's own report"
    assert runs[killed.name].interrupted and runs[killed.name].started.hour == 5


def test_old_run_folders_are_pruned_to_output_keep_runs(tmp_path):
    pages = copy_pages(tmp_path, 1)
    source = {"name": "fx", "type": "files", "path": str(pages)}
    config = write_config(tmp_path, [source], output={"dir": str(tmp_path / "out"), "keep_runs": 2})
    page = pages / "p0.html"
    for n in range(4):  # each run changes the page, so each emits a new version
        page.write_text(page.read_text().replace("<p>", f"<p>Update {n}. ", 1))
        assert main(["--config", str(config)]) == 0
    folders = sorted((tmp_path / "out" / "runs").iterdir())
    assert len(folders) == 2 and (tmp_path / "out" / "latest").resolve() == folders[-1]
    assert [r["version"] for r in records(tmp_path)] == [3, 4]


def test_each_record_of_an_archive_is_taken_with_its_own_digest(tmp_path, monkeypatch):
    """Two records of one WARC may share a URL (a page captured twice): each keeps
    the digest of its own bytes, however the extraction of the two overlaps."""
    from scraper.pipeline import Run, content_digest

    from .test_discover import gzip_members, warc_record

    page = fixture_html("daily8_starmer")
    bodies = [page, page.replace(b"</body>", b"<p>A later capture.</p></body>")]
    archive = tmp_path / "twice.warc.gz"
    archive.write_bytes(gzip_members(*(warc_record("https://x.example/a", b) for b in bodies)))
    taken = []
    real_take = Run.take

    def take(self, source, outcome, urls, validators=None):
        taken.append(validators.etag)
        real_take(self, source, outcome, urls, validators)

    monkeypatch.setattr(Run, "take", take)
    config = write_config(tmp_path, [{"name": "w", "type": "files", "path": str(archive)}])
    asyncio.run(run(load_settings(config), workers=2))
    assert taken == [content_digest(b) for b in bodies]


def test_a_run_learns_each_sites_template_and_the_next_run_applies_it(tmp_path, capsys):
    from .test_templates import CHROME, SITE, site_page

    pages = tmp_path / "pages"
    pages.mkdir()
    bodies = {}

    def add(numbers: range) -> None:
        for number in numbers:
            url, html, paragraphs = site_page(number)
            (pages / f"{number:02}.html").write_text(html, encoding="utf-8")
            bodies[url] = paragraphs

    add(range(30))
    config = write_config(tmp_path, [{"name": "site", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["templates", "--config", str(config)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split() == ["30", str(len(CHROME)), SITE]
    assert main(["templates", "--config", str(config), SITE]) == 0
    listed = capsys.readouterr().out
    assert all(text[:40] in listed for _, _, text in CHROME)

    add(range(30, 40))
    assert main(["--config", str(config)]) == 0
    found = {r["url"]: r for r in records(tmp_path)}
    assert len(found) == 40
    for url, paragraphs in bodies.items():
        assert [p for p in paragraphs if p not in found[url]["paragraphs"]] == []
    later = [found[f"https://{SITE}/news/story-{n}"] for n in range(30, 40)]
    assert not any(text in p for r in later for p in r["paragraphs"] for _, _, text in CHROME)
    assert all(r["paragraphs"] == bodies[r["url"]] for r in later)


def test_a_run_applies_the_configs_site_rules(tmp_path):
    config = write_config(
        tmp_path,
        [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}],
        rules=[{"site": "daily8.ai", "source": "Daily Wire", "stop_phrases": ["Prime Minister"]}],
    )
    assert main(["--config", str(config)]) == 0
    daily8 = next(r for r in records(tmp_path) if "daily8" in r["url"])
    assert (daily8["source"], daily8["source_evidence"]) == ("Daily Wire", "site_rule")
    assert not any("Prime Minister" in p for p in daily8["paragraphs"])
    others = [r for r in records(tmp_path) if "daily8" not in r["url"]]
    assert all(r["source_evidence"] != "site_rule" for r in others)


def test_templates_of_a_state_with_nothing_learned(tmp_path, capsys):
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(tmp_path)}])
    assert main(["templates", "--config", str(config)]) == 2
    assert "no state file" in capsys.readouterr().err
