"""Parallel-extraction benchmark: `scrape extract` on a WARC with 1 and N workers.

Run from the project root:

    python -m benchmarks.parallel ../shared/corpora/wcxb [more corpus dirs] \
        [--pages 2000] [--workers 1,N] [--timeout 30] [--interval 0.05] [--slow-reader-ms 5]

The corpus pages (`pages/<id>.html.gz`, read at run time), cycled up to `--pages`, are
written as HTTP 200 `text/html` responses to a `.warc.gz` in a temporary directory,
page `i` at `https://bench.example/p/<i>`. For each worker count (default 1 and one
per core) the real CLI, `python -m scraper.cli extract WARC --workers N -o OUT`, runs
as a subprocess after one small warm-up run, and is timed from start to exit.

While it runs, a thread reads `/proc` every `--interval` seconds for the CLI process
and all its descendants (forkserver, extraction workers, resource tracker): the summed
RSS, the peak RSS of each process (`VmHWM`, the kernel's own high-water mark, so
sampling cannot miss it), CPU time, and the size of the output's temp file (progress).
"cores busy" is the tree's CPU over the wall time; "other load" is the CPU the rest of
the machine used meanwhile (`/proc/stat` busy time minus the tree's and the sampler's),
in cores: on a shared machine it says how many cores the run really had.
`/proc` is scanned for new processes, and the summed PSS read (RSS counts the pages
the workers share with the forkserver in every process; PSS splits them), on every
10th sample only, as both cost milliseconds of the cores being measured. Kernel
rusage is not used: the workers are children of the forkserver, which the CLI does not
reap.

Then the CLI runs once more with the most workers, writing to stdout, read by this
process one line at a time with a ``--slow-reader-ms`` pause per line (a slow consumer
must not lose pages; 0 skips this run).

The output is checked: one JSON line per page in input order, except the pages the CLI
reports as failed (counted from its stderr), and the same bytes for every run. Memory over the run is the tree's RSS when 25/50/75% of the output had been
written and at the end of extraction, and its peak while the first and the second half
were written.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PROJECT = Path(__file__).resolve().parent.parent
BASE_URL = "https://bench.example/p/"
WARMUP_PAGES = 8
MB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Messages of `NotAnArticle` (scraper/extract.py): pages with no article are expected.
NO_ARTICLE = ("empty page", "not HTML", "no body text found")
_ERROR_LINE = re.compile(rf"^scrape: {re.escape(BASE_URL)}(\d+): (.*)$")
OTHER_LINES = "other stderr lines"


def corpus_files(folders: Sequence[Path]) -> list[Path]:
    files = []
    for folder in folders:
        found = sorted((folder / "pages").glob("*.html.gz"))
        if not found:
            raise SystemExit(f"{folder}: no pages/*.html.gz")
        files.extend(found)
    return files


def write_warc(path: Path, files: Sequence[Path], count: int, start: int = 0) -> int:
    """Write pages start..count-1 (the corpus files in turn); returns the bytes of HTML."""
    total = 0
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(start, count):
            body = gzip.decompress(files[i % len(files)].read_bytes())
            total += len(body)
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                f"{BASE_URL}{i}", "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(record)
    return total


@dataclass
class Sample:
    """The process tree at one moment: summed RSS (and PSS, on every
    ``PSS_EVERY``-th sample), the largest process's RSS, output bytes written."""

    t: float
    processes: int
    rss: int
    pss: int | None
    largest: int
    written: int


@dataclass
class Run:
    workers: int
    read_delay: float  # seconds the reader paused per line (0: the CLI wrote a file)
    seconds: float
    exit_code: int
    samples: list[Sample]
    cpus: dict[int, float]  # pid -> CPU seconds at its last sample
    peaks: dict[int, int]  # pid -> the process's own peak RSS (VmHWM), bytes
    sampler_cpu: float  # seconds of this process's CPU spent sampling
    machine_busy: float  # CPU seconds the whole machine was busy (all processes)
    records: int = 0
    in_order: bool = False
    failures: Counter[str] = field(default_factory=Counter)
    digest: str = ""
    output_bytes: int = 0

    @property
    def cpu(self) -> float:
        return sum(self.cpus.values())

    @property
    def other_load(self) -> float:
        """Cores used by processes outside the benchmark, on average over the run."""
        return max(0.0, self.machine_busy - self.cpu - self.sampler_cpu) / self.seconds

    @property
    def peak_rss(self) -> int:
        return max((s.rss for s in self.samples), default=0)

    @property
    def peak_pss(self) -> int:
        return max((s.pss or 0 for s in self.samples), default=0)

    @property
    def peak_process(self) -> int:
        return max(self.peaks.values(), default=0)

    @property
    def peak_processes(self) -> int:
        return max((s.processes for s in self.samples), default=0)


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from a scan of /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


@dataclass
class Usage:
    rss: int  # bytes
    peak: int  # bytes, the kernel's high-water mark of RSS (VmHWM)
    cpu: float  # seconds


def usage(pid: int) -> Usage | None:
    """RSS, peak RSS and CPU of a live process; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        kib = 1024
        rss, peak = int(status[b"VmRSS"].split()[0]) * kib, int(status[b"VmHWM"].split()[0]) * kib
    except (OSError, IndexError, ValueError, KeyError):
        return None  # gone, or a zombie (no Vm* lines)
    return Usage(rss, peak, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)


def pss(pid: int) -> int:
    """Proportional set size in bytes (0 once the process has gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat; idle and iowait
    excluded, steal included)."""
    with open("/proc/stat", "rb") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def file_size(folder: Path, prefix: str) -> int:
    """Size of the file in ``folder`` whose name starts with ``prefix`` (0 if none)."""
    for entry in os.scandir(folder):
        if entry.name.startswith(prefix):
            try:
                return entry.stat().st_size
            except OSError:
                return 0
    return 0


class Sampler(threading.Thread):
    """Samples a process tree every ``interval`` seconds until stopped. /proc is
    scanned for new processes and PSS read on every ``PSS_EVERY``-th sample only:
    both cost milliseconds, taken from the cores being measured."""

    PSS_EVERY = 10

    def __init__(self, root: int, interval: float, output: Path) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.output = root, interval, output
        self.start_time = time.perf_counter()
        self.samples: list[Sample] = []
        self.cpu: dict[int, float] = {}  # last CPU seen per pid
        self.peaks: dict[int, int] = {}  # last VmHWM seen per pid
        self.stop = threading.Event()

    def run(self) -> None:
        pids: list[int] = []
        count = 0
        while not self.stop.is_set():
            now = time.perf_counter() - self.start_time
            full = count % self.PSS_EVERY == 0
            if full:
                pids = descendants(self.root)
            alive = [(pid, u) for pid in pids if (u := usage(pid)) is not None]
            if alive:
                for pid, u in alive:
                    self.cpu[pid], self.peaks[pid] = u.cpu, u.peak
                # The CLI writes a temp file named after the output, then renames it.
                written = file_size(self.output.parent, f".{self.output.name}.")
                self.samples.append(
                    Sample(
                        now,
                        len(alive),
                        sum(u.rss for _, u in alive),
                        sum(pss(pid) for pid, _ in alive) if full else None,
                        max(u.rss for _, u in alive),
                        written,
                    )
                )
            count += 1
            self.stop.wait(self.interval)


def run_cli(
    warc: Path, out: Path, workers: int, args: argparse.Namespace, read_delay: float = 0.0
) -> Run:
    """`scrape extract` as a subprocess, sampled; its stderr goes to ``out``.err. With a
    ``read_delay`` it writes to stdout, which this process copies to ``out`` one line
    at a time, pausing ``read_delay`` seconds per line."""
    command = [sys.executable, "-m", "scraper.cli", "extract", str(warc)]
    command += ["--workers", str(workers), "--timeout", str(args.timeout)]
    command += [] if read_delay else ["-o", str(out)]
    stdout = subprocess.PIPE if read_delay else subprocess.DEVNULL
    with out.with_suffix(".err").open("wb") as err:
        own_cpu, busy, start = time.process_time(), machine_busy(), time.perf_counter()
        proc = subprocess.Popen(command, cwd=PROJECT, stdout=stdout, stderr=err)
        sampler = Sampler(proc.pid, args.interval, out)
        sampler.start()
        if proc.stdout is not None:
            with out.open("wb") as copy:
                for line in proc.stdout:
                    copy.write(line)
                    time.sleep(read_delay)
        proc.wait()
        seconds = time.perf_counter() - start
        busy = machine_busy() - busy
        sampler.stop.set()
        sampler.join()
    return Run(
        workers,
        read_delay,
        seconds,
        proc.returncode,
        sampler.samples,
        sampler.cpu,
        sampler.peaks,
        time.process_time() - own_cpu,
        busy,
    )


def check_output(run: Run, out: Path, pages: int) -> None:
    """Fill in the run's records, order, failures by kind and output digest."""
    urls: list[str] = []
    if out.exists():
        data = out.read_bytes()
        run.output_bytes = len(data)
        run.digest = hashlib.sha256(data).hexdigest()
        urls = [json.loads(line)["url"] for line in data.splitlines()]
    run.records = len(urls)
    indexes = [int(u.removeprefix(BASE_URL)) for u in urls if u.startswith(BASE_URL)]
    run.in_order = len(indexes) == len(urls) and indexes == sorted(set(indexes))
    for line in out.with_suffix(".err").read_text(errors="replace").splitlines():
        match = _ERROR_LINE.match(line)
        if match is None:
            run.failures[OTHER_LINES] += 1
        elif match.group(2).startswith(NO_ARTICLE):
            run.failures["no_article"] += 1
        else:
            run.failures[match.group(2)] += 1
    # a line about no page (the learned templates' note) accounts for no page
    failed = sum(n for kind, n in run.failures.items() if kind != OTHER_LINES)
    if run.records + failed != pages:
        run.failures["unaccounted"] += pages - run.records - failed


def extracting(run: Run) -> list[Sample]:
    """Samples from the first record written to the pool's shutdown: the output file
    has grown and every process of the tree is up."""
    return [s for s in run.samples if s.written and s.processes == run.peak_processes]


def rss_at_progress(run: Run, fraction: float) -> int | None:
    """Summed RSS at the first sample where ``fraction`` of the output was written."""
    goal = fraction * run.output_bytes
    return next((s.rss for s in extracting(run) if s.written >= goal), None)


def halves(run: Run) -> tuple[int, int]:
    """Peak summed RSS while the first and the second half of the output was written."""
    half = run.output_bytes / 2
    first = max((s.rss for s in extracting(run) if s.written <= half), default=0)
    second = max((s.rss for s in extracting(run) if s.written > half), default=0)
    return first, second


def mb(n: int | None) -> str:
    return "?" if n is None else f"{n / MB:.0f}"


def label(run: Run) -> str:
    slow = f", reader {1000 * run.read_delay:g} ms/line" if run.read_delay else ""
    return f"{run.workers}{slow}"


def report(runs: Sequence[Run], pages: int) -> Iterator[str]:
    base = next((r for r in runs if r.workers == 1), runs[0])
    yield (
        "| workers | s | pages/s | speed-up | CPU s | cores busy | other load | peak RSS total MB "
        "| peak PSS total MB | peak RSS one process MB | processes "
        "| records | no article | other failures | in order | same output |"
    )
    yield "| " + " | ".join(["---"] * 16) + " |"
    for r in runs:
        others = {k: v for k, v in r.failures.items() if k != "no_article"}
        other = ", ".join(f"{k}: {v}" for k, v in sorted(others.items())) or "0"
        same = "yes" if r.digest and r.digest == base.digest else "NO"
        yield (
            f"| {label(r)} | {r.seconds:.1f} | {pages / r.seconds:.1f} "
            f"| {base.seconds / r.seconds:.2f}x | {r.cpu:.1f} | {r.cpu / r.seconds:.2f} "
            f"| {r.other_load:.2f} "
            f"| {mb(r.peak_rss)} | {mb(r.peak_pss)} "
            f"| {mb(r.peak_process)} | {r.peak_processes} "
            f"| {r.records} | {r.failures['no_article']} | {other} "
            f"| {'yes' if r.in_order else 'NO'} | {same} |"
        )
    yield ""
    yield (
        "| workers | RSS total MB at 25% of the output | 50% | 75% | end of extraction "
        "| peak while writing 1st half | 2nd half | samples |"
    )
    yield "| " + " | ".join(["---"] * 8) + " |"
    for r in runs:
        if r.read_delay:  # its output is not a temp file the sampler can watch
            continue
        at = " | ".join(mb(rss_at_progress(r, f)) for f in (0.25, 0.5, 0.75))
        last = next((s.rss for s in reversed(extracting(r))), None)
        first, second = halves(r)
        yield (
            f"| {r.workers} | {at} | {mb(last)} | {mb(first)} | {mb(second)} | {len(r.samples)} |"
        )


def first_difference(a: Path, b: Path) -> str:
    """Where two JSONL outputs first differ: the record's URL and its differing keys."""
    with a.open("rb") as fa, b.open("rb") as fb:
        for line_a, line_b in zip(fa, fb, strict=False):
            if line_a != line_b:
                ra, rb = json.loads(line_a), json.loads(line_b)
                keys = sorted(k for k in ra.keys() | rb.keys() if ra.get(k) != rb.get(k))
                return f"{ra.get('url')} / {rb.get('url')}: {', '.join(keys)}"
    return "one output is a prefix of the other"


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text}") from exc
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts must be 1 or more")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--workers", type=worker_counts, default=[1, os.cpu_count() or 1])
    ap.add_argument("--timeout", type=float, default=30.0, help="extraction limit per page")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    ap.add_argument(
        "--slow-reader-ms",
        type=float,
        default=5.0,
        help="pause per line of a last run read from stdout (0: no such run)",
    )
    args = ap.parse_args(argv)

    files = corpus_files(args.corpora)
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        warc = Path(tmp) / "pages.warc.gz"
        html_bytes = write_warc(warc, files, args.pages)
        print(
            f"{args.pages} pages ({min(len(files), args.pages)} distinct, "
            f"{html_bytes / 1e6:.0f} MB of HTML, WARC {warc.stat().st_size / 1e6:.0f} MB), "
            f"workers {args.workers}, {os.cpu_count()} CPUs, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        warmup = Path(tmp) / "warmup.warc.gz"
        write_warc(warmup, files, WARMUP_PAGES)
        run_cli(warmup, Path(tmp) / "warmup.jsonl", max(args.workers), args)

        runs = []
        plan = [(workers, 0.0) for workers in args.workers]
        if args.slow_reader_ms:
            plan.append((max(args.workers), args.slow_reader_ms / 1000))
        for workers, read_delay in plan:
            out = Path(tmp) / f"out-{workers}{'-slow' if read_delay else ''}.jsonl"
            run = run_cli(warc, out, workers, args, read_delay)
            check_output(run, out, args.pages)
            runs.append(run)
            print(
                f"workers={label(run)}: {run.seconds:.1f} s, exit {run.exit_code}, "
                f"{run.records} records, failures {dict(run.failures)}, "
                f"sampling CPU {run.sampler_cpu:.1f} s, other load {run.other_load:.2f} cores; "
                f"by process (CLI first): CPU s "
                f"{[round(v, 1) for v in run.cpus.values()]}, peak RSS MB "
                f"{[round(v / MB) for v in run.peaks.values()]}",
                flush=True,
            )
            first = Path(tmp) / f"out-{args.workers[0]}.jsonl"
            if run.digest != runs[0].digest and first.exists() and out.exists():
                print(f"    differs from workers={args.workers[0]}: {first_difference(first, out)}")
    print()
    for line in report(runs, args.pages):
        print(line)
    unaccounted = any(r.failures["unaccounted"] or not r.in_order for r in runs)
    different = len({r.digest for r in runs}) != 1
    if unaccounted or different:
        print("CHECK FAILED: missing or out-of-order records, or outputs differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
