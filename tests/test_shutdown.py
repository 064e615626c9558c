"""Prompt shutdown: the first SIGTERM or SIGINT cancels every fetch in flight or
queued, wherever it waits (the network, a retry backoff, a host's delay, robots.txt,
a feed), the pages already fetched are extracted, and the outputs and the report are
written. Cancelled URLs are counted and stay unseen, so the next run fetches them.
"""

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from scraper.config import load_settings
from scraper.pipeline import Stop, run

from .conftest import all_records, latest_report, write_config
from .server import PAGES, LoopbackServer, announced, page_route, stalled, status_then_page

# Far beyond the shutdown the tests allow (10 s): only a cancel ends these waits.
LONG = 30
QUIET = {"per_host_delay": 0, "retries": 1, "respect_robots": False, "timeout": LONG}


def seen_urls(tmp_path) -> set[str]:
    with closing(sqlite3.connect(tmp_path / "state.sqlite")) as db:
        return {url for (url,) in db.execute("SELECT url FROM seen_urls")}


def test_sigterm_with_a_fetch_in_flight_ends_the_run_within_10s_with_its_report(tmp_path):
    arrived, release = threading.Event(), threading.Event()
    with LoopbackServer() as server:
        server.routes["/fast"] = page_route(PAGES[0])
        server.routes["/slow"] = stalled(arrived, release, PAGES[1])  # answers after 40 s
        server.routes["/later"] = page_route(PAGES[2])
        urls = [f"{server.base}{path}" for path in ("/fast", "/slow", "/later")]
        source = {"name": "web", "type": "urls", "urls": urls, "allow_private": True}
        # One at a time: /fast is extracted before /slow is asked, /later waits in the queue.
        config = write_config(tmp_path, [source], fetch={**QUIET, "concurrency": 1})
        proc = subprocess.Popen(
            [sys.executable, "-m", "scraper.cli", "--config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert arrived.wait(60), "the slow page was never asked for"
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - began
        finally:
            proc.kill()
            release.set()
        assert proc.returncode == 143, err
        assert took < 10, f"stopped {took:.1f} s after SIGTERM"
        report = latest_report(tmp_path / "out")
        assert report["interrupted"] is True and report["exit_code"] == 143
        assert report["sources"]["web"]["cancelled"] == 2  # /slow in flight, /later queued
        assert report["totals"]["emitted"] == 1 and report["totals"]["failed"] == 0
        assert "cancelled=2" in err and "(interrupted)" in err.strip().splitlines()[-1]
        seen = seen_urls(tmp_path)
        assert urls[0] in seen and not {urls[1], urls[2]} & seen

        again = subprocess.run(
            [sys.executable, "-m", "scraper.cli", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr
        assert server.fetched("/slow") == 2 and server.fetched("/later") == 1
    assert latest_report(tmp_path / "out")["totals"]["emitted"] == 2
    assert len(all_records(tmp_path / "out")) == 3


def stop_when(event: threading.Event, stop: Stop, settle: float = 0.3) -> threading.Thread:
    """SIGTERM as the signal handler sees it, once ``event`` is set and the run has
    had ``settle`` seconds to start waiting on what comes next."""

    def fire() -> None:
        if event.wait(60):
            time.sleep(settle)
            stop(signal.SIGTERM)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def stopped_run(tmp_path, sources: list[dict], arrived: threading.Event, **fetch):
    """The report of a run stopped once ``arrived`` is set, and its seconds from the
    stop to the report."""
    config = write_config(tmp_path, sources, fetch={**QUIET, **fetch})
    stop = Stop()
    thread = stop_when(arrived, stop)
    report = asyncio.run(run(load_settings(config), stop=stop))
    thread.join()
    assert stop.signum == signal.SIGTERM, "the run ended before it was stopped"
    return report


@pytest.fixture
def server():
    release = threading.Event()
    with LoopbackServer() as srv:
        srv.release = release  # type: ignore[attr-defined]
        yield srv
        release.set()


def urls_source(server, *paths: str) -> dict:
    urls = [f"{server.base}{path}" for path in paths]
    return {"name": "web", "type": "urls", "urls": urls, "allow_private": True}


def test_a_fetch_waiting_in_a_retry_backoff_is_cancelled(tmp_path, server):
    arrived = threading.Event()
    server.routes["/busy"] = announced(
        arrived, status_then_page([503], PAGES[0], Retry_After=str(LONG))
    )
    began = time.monotonic()
    report = stopped_run(tmp_path, [urls_source(server, "/busy")], arrived)
    assert time.monotonic() - began < 10
    assert report.interrupted and report.exit_code == 143
    assert report.cancelled == 1 and report.failed == 0 and server.fetched("/busy") == 1
    assert f"{server.base}/busy" not in seen_urls(tmp_path)


def test_a_fetch_waiting_for_its_hosts_delay_is_cancelled(tmp_path, server):
    arrived = threading.Event()
    server.routes["/first"] = announced(arrived, page_route(PAGES[0]))
    server.routes["/second"] = page_route(PAGES[1])
    began = time.monotonic()
    report = stopped_run(
        tmp_path, [urls_source(server, "/first", "/second")], arrived, per_host_delay=LONG
    )
    assert time.monotonic() - began < 10
    assert server.fetched("/second") == 0 and report.cancelled >= 1
    assert report.cancelled + report.emitted == 2 and report.failed == 0
    assert f"{server.base}/second" not in seen_urls(tmp_path)


def test_a_fetch_waiting_for_robots_txt_is_cancelled(tmp_path, server):
    arrived = threading.Event()
    server.routes["/robots.txt"] = stalled(arrived, server.release)
    server.routes["/page"] = page_route(PAGES[0])
    began = time.monotonic()
    report = stopped_run(
        tmp_path,
        [urls_source(server, "/page")],
        arrived,
        respect_robots=True,
        robots_timeout=LONG,
    )
    assert time.monotonic() - began < 10
    assert report.cancelled == 1 and report.failed == 0 and server.fetched("/page") == 0


@pytest.mark.parametrize("kind", ["feed", "sitemap"])
def test_discovery_waiting_for_a_feed_or_robots_txt_is_cancelled(tmp_path, server, kind):
    arrived = threading.Event()
    path = "/feed.xml" if kind == "feed" else "/robots.txt"  # a sitemap listed in robots.txt
    server.routes[path] = stalled(arrived, server.release)
    source = {"name": "found", "type": kind, "url": server.base + path, "allow_private": True}
    began = time.monotonic()
    report = stopped_run(tmp_path, [source], arrived, robots_timeout=LONG)
    assert time.monotonic() - began < 10
    assert report.interrupted and report.exit_code == 143
    assert report.discovered == 0 and report.failed == 0


def test_a_stop_before_the_web_sources_start_fetches_nothing(tmp_path, server):
    server.routes["/page"] = page_route(PAGES[0])
    config = write_config(tmp_path, [urls_source(server, "/page")], fetch=QUIET)
    stop = Stop()
    stop(signal.SIGTERM)
    report = asyncio.run(run(load_settings(config), stop=stop))
    assert report.exit_code == 143 and report.discovered == 0
    assert server.fetched("/page") == 0


def test_a_fetch_waiting_on_a_dead_dns_server_is_cancelled(tmp_path, monkeypatch):
    import socket

    arrived, release = threading.Event(), threading.Event()
    real = socket.getaddrinfo

    def dead_dns(host, *args, **kwargs):
        if host == "dead-dns.example":
            arrived.set()
            release.wait(40)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dead_dns)
    source = {"name": "web", "type": "urls", "urls": ["http://dead-dns.example/a"]}
    began = time.monotonic()
    try:
        report = stopped_run(tmp_path, [source], arrived)
    finally:
        release.set()
    assert time.monotonic() - began < 10  # the lookup's thread does not hold the exit
    assert report.cancelled == 1 and report.failed == 0


def test_sigterm_while_waiting_for_the_lock_ends_the_run_at_once(tmp_path):
    import os
    from pathlib import Path

    from scraper.store import Store

    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(tmp_path)}])
    lock = tmp_path / "state.sqlite.lock"
    with Store(tmp_path / "state.sqlite"):  # a run in progress
        proc = subprocess.Popen(
            [sys.executable, "-m", "scraper.cli", "--config", str(config), "--wait"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(  # the waiting run holds the lock file open: it waits in flock
                Path(f"/proc/{proc.pid}/fd/{fd}").resolve() == lock
                for fd in os.listdir(f"/proc/{proc.pid}/fd")
            ):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - began
        finally:
            proc.kill()
    assert proc.returncode == 143, err
    assert took < 10
    assert not (tmp_path / "out" / "runs").exists()  # nothing was started
