"""Fetch benchmark: the whole pipeline fetching from a loopback server, against extraction alone.

Run from the project root:

    python -m benchmarks.fetch ../shared/corpora/wcxb [more corpus dirs] [--pages 2000] \
        [--workers N] [--rounds 3] [--concurrency 32] [--timeout 30] [--json OUT]

The page bodies are the corpus pages (`pages/<id>.html.gz`, read at run time), cycled
up to `--pages` pages; page `i` gets `<link rel="canonical" href=".../p/<i>.html">` in
place of its own, so every served page is a distinct article. A `ThreadingHTTPServer`
(HTTP/1.1 keep-alive) in another process serves them on 127.0.0.1 as `/p/<i>.html`.

* Side A, extraction alone: `ExtractPool(workers, timeout).map()` over `Fetched` pages
  holding the same bytes, built beforehand; the pool's start-up, map and shutdown
  are timed.
* Side B, fetch + extract: `scraper.pipeline.run()` on one `urls` source listing the
  loopback URLs, politeness off (no delay, no robots.txt, no retries), output and state
  in a fresh temporary directory; the whole call is timed.

The sides alternate over `--rounds` rounds and each keeps its best time; the fetch
overhead is `time_B / time_A - 1` (target: under 10%). Before the rounds, fetching
alone is measured once with three clients, each with its CPU per request: `http.client`
(the server's own speed), a plain `httpx.AsyncClient` and the project's `Fetcher`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import http.client
import json
import multiprocessing
import multiprocessing.forkserver
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from scraper.config import Settings, parse_settings
from scraper.extract import ExtractPool
from scraper.fetch import Fetcher
from scraper.models import Article, Candidate, Fetched
from scraper.pipeline import run as run_pipeline

TARGET_OVERHEAD = 0.10
WARMUP_PAGES = 8
SERVER_START_TIMEOUT = 120.0
RAW_CLIENT_CONNECTIONS = 4
SOURCE = "bench"

_CANONICAL = re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?canonical\b[^>]*>", re.IGNORECASE)
_HEAD = re.compile(rb"<head\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Template:
    """A corpus page without its canonical links, split where page `i`'s link goes."""

    before: bytes
    after: bytes


def load_templates(folders: Sequence[Path]) -> list[Template]:
    templates = []
    for folder in folders:
        files = sorted((folder / "pages").glob("*.html.gz"))
        if not files:
            raise SystemExit(f"{folder}: no pages/*.html.gz")
        for path in files:
            html = _CANONICAL.sub(b"", gzip.decompress(path.read_bytes()))
            head = _HEAD.search(html)
            cut = head.end() if head else 0
            templates.append(Template(html[:cut], html[cut:]))
    return templates


def page_url(base: str, i: int) -> str:
    return f"{base}/p/{i}.html"


def page_bodies(templates: Sequence[Template], count: int, base: str) -> list[bytes]:
    """Bodies of pages 0..count-1: the templates in turn, each with its own canonical."""
    bodies = []
    for i in range(count):
        t = templates[i % len(templates)]
        link = f'<link rel="canonical" href="{page_url(base, i)}">'.encode()
        bodies.append(t.before + link + t.after)
    return bodies


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    server: _PageServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = self.server.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops SYNs of a burst of clients
    pages: dict[str, bytes]


def serve(folders: list[str], count: int, conn: Connection) -> None:
    """Server process: bind a free loopback port, send it back, serve until killed."""
    server = _PageServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    bodies = page_bodies(load_templates([Path(f) for f in folders]), count, base)
    server.pages = {f"/p/{i}.html": body for i, body in enumerate(bodies)}
    conn.send(base)
    conn.close()
    server.serve_forever()


def process_cpu(pid: int | None, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds of a process so far, or of its exited children that
    it has waited for (Linux /proc); None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    first = 13 if reaped_children else 11  # cutime, cstime / utime, stime
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def workers_cpu() -> float | None:
    """CPU seconds of the extraction workers that have exited: `ExtractPool` starts
    them from the multiprocessing forkserver, which reaps them."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    return process_cpu(getattr(server, "_forkserver_pid", None), reaped_children=True)


async def gather_limited(jobs: Iterable[Awaitable[None]], concurrency: int) -> None:
    """Run the jobs, at most `concurrency` at a time (the iterable is consumed lazily)."""
    it = iter(jobs)

    async def worker() -> None:
        for job in it:
            await job

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class Timing:
    """Wall seconds and CPU seconds of this process, of the server process and of the
    extraction workers (None when unknown)."""

    seconds: float = 0.0
    main_cpu: float = 0.0
    server_cpu: float | None = None
    workers_cpu: float | None = None

    @property
    def side_cpu_share(self) -> float | None:
        """CPU of the main process and the server, as a share of the workers' CPU."""
        if self.server_cpu is None or not self.workers_cpu:
            return None
        return (self.main_cpu + self.server_cpu) / self.workers_cpu


def _delta(before: float | None, after: float | None) -> float | None:
    return after - before if after is not None and before is not None else None


@contextmanager
def timed(server_cpu: Callable[[], float | None]) -> Iterator[Timing]:
    """A `Timing` of the `with` block, filled in when the block ends (workers count
    once they have exited, so the block should shut its pool down)."""
    timing = Timing()
    gc.collect()
    served, extracted = server_cpu(), workers_cpu()
    cpu, start = time.process_time(), time.perf_counter()
    yield timing
    timing.seconds = time.perf_counter() - start
    timing.main_cpu = time.process_time() - cpu
    timing.server_cpu = _delta(served, server_cpu())
    timing.workers_cpu = _delta(extracted, workers_cpu())


def stdlib_fetch_all(urls: Sequence[str], sizes: Sequence[int]) -> None:
    """GET every URL over RAW_CLIENT_CONNECTIONS keep-alive `http.client` connections."""
    jobs = iter(zip(urls, sizes, strict=True))
    lock = threading.Lock()

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                job = next(jobs, None)
            if job is None:
                break
            parts = urlsplit(job[0])
            conn = conn or http.client.HTTPConnection(parts.netloc)
            conn.request("GET", parts.path)
            resp = conn.getresponse()
            check_response(job[0], resp.status, len(resp.read()), job[1])
        if conn is not None:
            conn.close()

    with ThreadPoolExecutor(RAW_CLIENT_CONNECTIONS) as pool:
        for done in [pool.submit(worker) for _ in range(RAW_CLIENT_CONNECTIONS)]:
            done.result()


async def httpx_fetch_all(urls: Sequence[str], sizes: Sequence[int], concurrency: int) -> None:
    """GET every URL with a plain `httpx.AsyncClient`, `concurrency` at a time."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def get(url: str, size: int) -> None:
            resp = await client.get(url)
            check_response(url, resp.status_code, len(resp.content), size)

        await gather_limited(map(get, urls, sizes), concurrency)


async def fetcher_fetch_all(settings: Settings, urls: Sequence[str]) -> None:
    """GET every URL with the project's `Fetcher` under the benchmark's settings."""
    async with Fetcher(settings.fetch) as fetcher:

        async def get(url: str) -> None:
            await fetcher.fetch(Candidate(url=url, source=SOURCE, allow_private=True))

        await gather_limited(map(get, urls), settings.fetch.concurrency)


def check_response(url: str, status: int, size: int, expected: int) -> None:
    if status != 200 or size != expected:
        raise SystemExit(f"server: {url}: HTTP {status}, {size} bytes, expected {expected}")


def bench_settings(out: Path, urls: list[str], args: argparse.Namespace) -> Settings:
    return parse_settings(
        {
            "output": {"dir": str(out / "out"), "formats": ["jsonl"]},
            "state": str(out / "state.sqlite"),
            "fetch": {
                "per_host_delay": 0,
                "respect_robots": False,
                "concurrency": args.concurrency,
                "host_concurrency": min(args.concurrency, 64),
                "retries": 0,
            },
            "extract": {"workers": args.workers, "timeout": args.timeout},
            "sources": [{"name": SOURCE, "type": "urls", "urls": urls, "allow_private": True}],
        },
        "benchmark settings",
    )


@dataclass
class Round:
    side: str
    timing: Timing
    articles: int  # A: pages extracted; B: records emitted
    failures: dict[str, int]


def extraction_alone(
    pages: Sequence[Fetched], args: argparse.Namespace, server_cpu: Callable[[], float | None]
) -> Round:
    failures: Counter[str] = Counter()
    articles = 0
    with timed(server_cpu) as timing, ExtractPool(args.workers, args.timeout) as pool:
        for _, outcome in pool.map(pages):
            if isinstance(outcome, Article):
                articles += 1
            else:
                failures[getattr(outcome, "reason", "extract")] += 1
    return Round("A", timing, articles, dict(failures))


def fetch_and_extract(
    urls: list[str], args: argparse.Namespace, server_cpu: Callable[[], float | None]
) -> Round:
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        settings = bench_settings(Path(tmp), urls, args)
        with timed(server_cpu) as timing:
            report = asyncio.run(run_pipeline(settings))
    for error in report.errors[:5]:
        print(f"    failed: {error['reason']}: {error['url']}: {error['message']}")
    print(f"    {report.summary()}")
    return Round("B", timing, report.emitted, dict(report.failures))


def describe_timing(t: Timing, pages: int) -> str:
    """CPU ms per page of the main process, the server and the workers (when they ran)."""
    parts = [("main", t.main_cpu), ("server", t.server_cpu), ("workers", t.workers_cpu or None)]
    shown = [f"{name} {1000 * cpu / pages:.1f}" for name, cpu in parts if cpu is not None]
    return "CPU ms/page: " + ", ".join(shown)


def describe_fetch(name: str, t: Timing, pages: int, size_mb: float) -> str:
    rate = f"{pages / t.seconds:6.0f} req/s {size_mb / t.seconds:5.0f} MB/s"
    return f"{name + ':':<34}{rate}  {describe_timing(t, pages)}"


def describe(r: Round, pages: int, workers: int) -> str:
    fails = ", ".join(f"{k}={v}" for k, v in sorted(r.failures.items())) or "none"
    line = (
        f"{r.timing.seconds:7.1f} s {pages / r.timing.seconds:6.1f} pages/s  "
        f"articles={r.articles} failures: {fails}  {describe_timing(r.timing, pages)}"
    )
    if r.timing.workers_cpu:
        line += f", workers busy {r.timing.workers_cpu / (workers * r.timing.seconds):.0%}"
    return line


def start_server(folders: list[Path], count: int) -> tuple[BaseProcess, str]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=serve, args=([str(f) for f in folders], count, send), daemon=True
    )
    process.start()
    send.close()
    if not receive.poll(SERVER_START_TIMEOUT):
        process.terminate()
        raise SystemExit("the page server did not start")
    return process, receive.recv()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30.0, help="extraction limit per page")
    ap.add_argument("--json", type=Path, dest="json_out")
    args = ap.parse_args(argv)

    server, base = start_server(args.corpora, args.pages)
    try:
        urls = [page_url(base, i) for i in range(args.pages)]
        templates = load_templates(args.corpora)
        bodies = page_bodies(templates, args.pages, base)
        pages = [
            Fetched(url=url, source=SOURCE, body=body, content_type="text/html", encoding="utf-8")
            for url, body in zip(urls, bodies, strict=True)
        ]
        size_mb = sum(map(len, bodies)) / 1e6
        print(
            f"{args.pages} pages ({len(templates)} distinct, {size_mb:.0f} MB) at {base}, "
            f"workers={args.workers}, concurrency={args.concurrency}, {os.cpu_count()} CPUs"
        )

        def server_cpu() -> float | None:
            return process_cpu(server.pid) if server.pid else None

        sizes = [len(b) for b in bodies]
        with tempfile.TemporaryDirectory() as tmp:
            settings = bench_settings(Path(tmp), urls, args)
        probes: dict[str, Timing] = {}
        with timed(server_cpu) as probes[f"server, http.client x{RAW_CLIENT_CONNECTIONS}"]:
            stdlib_fetch_all(urls, sizes)
        with timed(server_cpu) as probes[f"plain httpx.AsyncClient x{args.concurrency}"]:
            asyncio.run(httpx_fetch_all(urls, sizes, args.concurrency))
        with timed(server_cpu) as probes[f"project Fetcher x{args.concurrency}"]:
            asyncio.run(fetcher_fetch_all(settings, urls))
        for name, t in probes.items():
            print(f"fetch only, {describe_fetch(name, t, args.pages, size_mb)}")

        with ExtractPool(args.workers, args.timeout) as pool:  # starts the forkserver
            list(pool.map(pages[:WARMUP_PAGES]))

        sides: dict[str, Callable[[], Round]] = {
            "A": lambda: extraction_alone(pages, args, server_cpu),
            "B": lambda: fetch_and_extract(urls, args, server_cpu),
        }
        rounds: list[Round] = []
        for rnd in range(max(1, args.rounds)):
            for name in ("A", "B") if rnd % 2 == 0 else ("B", "A"):
                print(f"round {rnd + 1} {name}:")
                rounds.append(sides[name]())
                print(f"    {describe(rounds[-1], args.pages, args.workers)}")
    finally:
        server.terminate()
        server.join()

    best = {
        s: min((r for r in rounds if r.side == s), key=lambda r: r.timing.seconds) for s in "AB"
    }
    overhead = best["B"].timing.seconds / best["A"].timing.seconds - 1
    met = overhead < TARGET_OVERHEAD
    shares = {
        s: [c for r in rounds if r.side == s and (c := r.timing.side_cpu_share)] for s in "AB"
    }
    cpu_overhead = None
    if shares["A"] and shares["B"]:
        cpu_overhead = statistics.median(shares["B"]) - statistics.median(shares["A"])
    print()
    print(f"A extraction alone    {describe(best['A'], args.pages, args.workers)}")
    print(f"B fetch + extract     {describe(best['B'], args.pages, args.workers)}")
    status = "MET" if met else "MISSED"
    print(
        f"fetch overhead {100 * overhead:+.1f}% (target < {100 * TARGET_OVERHEAD:.0f}%): {status}"
    )
    if cpu_overhead is not None:
        print(
            f"CPU estimate: main process + server use {100 * statistics.median(shares['B']):.1f}%"
            f" of the workers' CPU in B, {100 * statistics.median(shares['A']):.1f}% in A"
            f" (medians): fetching adds {100 * cpu_overhead:+.1f}% CPU"
        )
    if best["B"].articles != best["A"].articles:
        print(f"note: B emitted {best['B'].articles} records, A extracted {best['A'].articles}")

    if args.json_out:
        report = {
            "corpora": [str(c) for c in args.corpora],
            "pages": args.pages,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "rounds": [asdict(r) for r in rounds],
            "fetch_only": {
                name: asdict(t) | {"req_per_s": args.pages / t.seconds}
                for name, t in probes.items()
            },
            "best": {
                s: asdict(r) | {"pages_per_s": args.pages / r.timing.seconds}
                for s, r in best.items()
            },
            "overhead": overhead,
            "cpu_overhead": cpu_overhead,
            "target": TARGET_OVERHEAD,
            "met": met,
        }
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
