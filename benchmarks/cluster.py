"""Cluster benchmark: `scrape extract --cluster local:N` against the local pool.

Run from the project root:

    python -m benchmarks.cluster ../shared/corpora/wcxb [more corpus dirs] \
        [--pages 2000] [--parts 8] [--tasks 200] [--interval 0.2] [--rounds 1]

The corpus pages, cycled up to `--pages`, are written as one `.warc.gz` (as
`benchmarks.parallel` does) and, the same pages in the same order, as `--parts` WARC
files: a cluster runs one task per file, so the parts give its workers something to
share. Then the real CLI runs as a subprocess, timed from start to exit:

* the local pool on the one WARC with 2 workers, and on the parts with 1 and 2;
* `--cluster local:1` and `--cluster local:2` on the parts, writing `-o DIR`
  (partitions and markers), start-up of the cluster included;
* `--cluster local:N` on a WARC of one page: the start-up and shut-down alone.

Every output is checked: the partitions, read in input order, must hold the same
bytes as the local pool's output. With `--rounds N` the five runs go round N times,
in turn, and each keeps its fastest round (the machine may be shared: the load of
other jobs comes and goes).

While a CLI runs, a thread reads `/proc` every `--interval` seconds: each Dask
worker (a child of the CLI started by `multiprocessing.spawn`) and the processes
under it (its forkserver and extraction process) are summed per worker, RSS and PSS
(PSS splits the pages a forkserver shares with its children); the table gives each
worker's peak.

Last, the overhead per task, in this process, on a `local:1` cluster: `--tasks`
partitions of a WARC holding no page (one 404 record), written to a folder with
their markers (the whole path of a partition but extraction), and `--tasks` pages
sent one task each as a run with `engine:` does (`ClusterPool`), against the same
pages in the local pool (`ExtractPool`, 1 worker). The pages are tiny, so the
difference is the cost of a task.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .parallel import MB, PROJECT, corpus_files, descendants, pss, usage, write_warc

TINY_PAGE = b"<html><body><article><p>A short page.</p></article></body></html>"


def split_warc(files: Sequence[Path], count: int, parts: int, folder: Path) -> list[Path]:
    """Pages 0..count-1 (the corpus files in turn, as ``parallel.write_warc``) in
    ``parts`` WARC files, in order."""
    paths = []
    size = -(-count // parts)
    for part in range(parts):
        path = folder / f"part-{part:02d}.warc.gz"
        write_warc(path, files, min(count, (part + 1) * size), part * size)
        paths.append(path)
    return paths


def joined(parts: Sequence[Path], path: Path) -> None:
    """One WARC holding the records of ``parts`` (gzip members concatenate): the
    same records, capture dates included."""
    with path.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())


def empty_warc(path: Path) -> None:
    """A WARC holding one 404 response: a partition with no page."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("404 Not Found", [("Content-Type", "text/html")], "HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                "https://bench.example/none",
                "response",
                payload=io.BytesIO(b"gone"),
                http_headers=headers,
            )
        )


@dataclass
class WorkerPeak:
    rss: int = 0
    pss: int = 0
    processes: int = 0


@dataclass
class Run:
    label: str
    seconds: float
    exit_code: int
    digest: str = ""
    records: int = 0
    workers: dict[int, WorkerPeak] = field(default_factory=dict)
    tree_pss: int = 0


class WorkerSampler(threading.Thread):
    """Peak RSS and PSS of each Dask worker's process subtree, and of the tree."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.workers: dict[int, WorkerPeak] = {}
        self.tree_pss = 0

    def run(self) -> None:
        while not self.stop.is_set():
            pids = descendants(self.root)
            self.tree_pss = max(self.tree_pss, sum(pss(pid) for pid in pids))
            for worker in [pid for pid in pids if _is_dask_worker(pid, self.root)]:
                tree = descendants(worker)
                rss = sum(u.rss for pid in tree if (u := usage(pid)) is not None)
                peak = self.workers.setdefault(worker, WorkerPeak())
                peak.rss = max(peak.rss, rss)
                peak.pss = max(peak.pss, sum(pss(pid) for pid in tree))
                peak.processes = max(peak.processes, len(tree))
            self.stop.wait(self.interval)


def _is_dask_worker(pid: int, root: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            parent = int(f.read().rsplit(b")", 1)[1].split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read()
    except (OSError, ValueError, IndexError):
        return False
    return parent == root and b"spawn_main" in command


def run_cli(label: str, args: list[str], interval: float) -> Run:
    command = [sys.executable, "-m", "scraper.cli", "extract", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = WorkerSampler(proc.pid, interval)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        print(f"{label}: exit {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return Run(label, seconds, proc.returncode, workers=sampler.workers, tree_pss=sampler.tree_pss)


def check(run: Run, data: bytes) -> None:
    run.digest = hashlib.sha256(data).hexdigest()
    run.records = data.count(b"\n")


def partitions_bytes(folder: Path, parts: Sequence[Path]) -> bytes:
    from scraper.cluster import plan

    names = [p.name for p in plan(parts, lambda reason, message: None)]
    return b"".join((folder / f"{name}.jsonl").read_bytes() for name in names)


def task_overhead(folder: Path, tasks: int) -> Iterator[str]:
    """Seconds per task on a local:1 cluster (in this process)."""
    from scraper.cluster import ClusterPool, Options, connect, extract_archives
    from scraper.extract import ExtractPool
    from scraper.models import Fetched

    empties = []
    for i in range(tasks):
        empties.append(folder / f"empty-{i:04d}.warc.gz")
        empty_warc(empties[-1])
    options = Options(timeout=30.0, max_bytes=5_000_000)
    pages = [
        Fetched(url=f"https://bench.example/tiny/{i}", source="b", body=TINY_PAGE)
        for i in range(tasks)
    ]
    with connect("local:1") as client:
        warm = folder / "warm"
        warm.mkdir()
        extract_archives(client, empties[:2], options, warm, lambda a: None, lambda m: None)
        out = folder / "overhead"
        out.mkdir()
        start = time.perf_counter()
        extract_archives(client, empties, options, out, lambda a: None, lambda m: None)
        per_partition = (time.perf_counter() - start) / tasks
        pool = ClusterPool(client, 30.0)
        list(pool.map(pages[:4]))
        start = time.perf_counter()
        outcomes = list(pool.map(pages))
        per_page_task = (time.perf_counter() - start) / tasks
    with ExtractPool(1, 30.0) as local:
        list(local.map(pages[:4]))
        start = time.perf_counter()
        list(local.map(pages))
        per_page_local = (time.perf_counter() - start) / tasks
    ok = sum(1 for _, outcome in outcomes if not isinstance(outcome, Exception))
    yield f"partition tasks of no page, with marker: {1000 * per_partition:.1f} ms per task"
    yield (
        f"one page per task (ClusterPool, {ok}/{tasks} extracted): "
        f"{1000 * per_page_task:.1f} ms per page, local pool {1000 * per_page_local:.1f} ms "
        f"per page: {1000 * (per_page_task - per_page_local):.1f} ms per task"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)

    files = corpus_files(args.corpora)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        parts = split_warc(files, args.pages, args.parts, folder)
        whole = folder / "pages.warc.gz"
        joined(parts, whole)
        one = folder / "one.warc.gz"
        write_warc(one, files, 1)
        print(
            f"{args.pages} pages in one WARC and in {args.parts} parts, {os.cpu_count()} CPUs, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        run_cli("warm-up", [str(one), "--workers", "1", "-o", str(folder / "w.jsonl")], 1.0)
        plan = [
            ("local pool, 2 workers, one WARC", [str(whole), "--workers", "2"], "file"),
            ("local pool, 1 worker, parts", [*map(str, parts), "--workers", "1"], "file"),
            ("local pool, 2 workers, parts", [*map(str, parts), "--workers", "2"], "file"),
            ("cluster local:1, parts", [*map(str, parts), "--cluster", "local:1"], "dir"),
            ("cluster local:2, parts", [*map(str, parts), "--cluster", "local:2"], "dir"),
        ]
        best: dict[str, Run] = {}
        for round_ in range(args.rounds):
            for i, (label, cli_args, kind) in enumerate(plan):
                out = folder / f"out-{round_}-{i}{'.jsonl' if kind == 'file' else ''}"
                run = run_cli(label, [*cli_args, "-o", str(out)], args.interval)
                check(run, out.read_bytes() if kind == "file" else partitions_bytes(out, parts))
                if label not in best or run.seconds < best[label].seconds:
                    best[label] = run
                print(f"{label}: {run.seconds:.1f} s, exit {run.exit_code}", flush=True)
        runs = [best[label] for label, _, _ in plan]
        startups = []
        for workers in (1, 2):
            out = folder / f"startup-{workers}"
            run = run_cli(
                f"local:{workers}",
                [str(one), "--cluster", f"local:{workers}", "-o", str(out)],
                args.interval,
            )
            startups.append(run)
        overhead = list(task_overhead(folder, args.tasks))

    base = runs[0]
    print()
    print("| run | s | pages/s | records | same output | peak PSS of the tree MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in runs:
        same = "yes" if r.digest == base.digest else "NO"
        print(
            f"| {r.label} | {r.seconds:.1f} | {args.pages / r.seconds:.1f} | {r.records} "
            f"| {same} | {r.tree_pss / MB:.0f} |"
        )
    print()
    print(
        "| cluster | worker | peak RSS MB (worker + forkserver + extraction) | peak PSS MB | processes |"
    )
    print("| --- | --- | --- | --- | --- |")
    for r in runs[3:]:
        for n, peak in enumerate(r.workers.values(), 1):
            print(
                f"| {r.label} | {n} | {peak.rss / MB:.0f} | {peak.pss / MB:.0f} | {peak.processes} |"
            )
    print()
    for r in startups:
        print(f"start-up, one page and shut-down of {r.label}: {r.seconds:.1f} s")
    for line in overhead:
        print(line)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if len({r.digest for r in runs}) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
