"""The extraction pool: one outcome per page in input order, a time limit that holds
for every worker count, workers that end with the pool and with the process that
runs it."""

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scraper import pipeline
from scraper.cli import main
from scraper.config import load_settings
from scraper.errors import ExtractError
from scraper.extract import YOUNG_OBJECTS, ExtractPool, ExtractTimeout
from scraper.models import Fetched

from .conftest import FIXTURES, ROOT, SEED_CLEAN, fixture_html, latest_report, write_config


def scripted(page: Fetched, timeout: float) -> tuple[str, int, float]:
    """Stands in for ``extract_page`` in pool workers: the URL's last segment says how
    the page behaves. Returns the page's URL, the process that ran it and when it
    finished (the clock is system-wide). No signal limits it: a page runs until it
    returns or the pool kills its worker, as a page stuck in C code does."""
    kind = page.url.rsplit("/", 1)[-1]
    if kind == "slow":
        time.sleep(1.0)
    elif kind == "crash":
        os._exit(3)
    elif kind == "stuck":
        time.sleep(60)
    elif kind == "raise":
        raise ValueError("a bug in the extractor")
    return page.url, os.getpid(), time.monotonic()


def scripted_pages(*kinds: str) -> list[Fetched]:
    return [
        Fetched(url=f"https://x.example/{i}/{k}", source="t", body=b"") for i, k in enumerate(kinds)
    ]


def scripted_pool(workers: int = 2, timeout: float = 0.2) -> ExtractPool:
    pool = ExtractPool(workers, timeout, task=scripted)
    pool.grace = 1.5  # then a worker past the limit is stuck, and killed
    return pool


def assert_own_outcome(page: Fetched, outcome: object) -> None:
    """``outcome`` is the one ``scripted`` gives ``page``."""
    kind = page.url.rsplit("/", 1)[-1]
    if kind == "stuck":
        assert isinstance(outcome, ExtractTimeout), (page.url, outcome)
    elif kind == "crash":
        assert isinstance(outcome, ExtractError), (page.url, outcome)
        assert "crashed (exit code 3)" in str(outcome)
    elif kind == "raise":
        assert isinstance(outcome, ExtractError), (page.url, outcome)
        assert "ValueError: a bug in the extractor" in str(outcome)
    else:
        assert isinstance(outcome, tuple) and outcome[0] == page.url, (page.url, outcome)


MIXED = ["fast"] * 240
for index, kind in [(3, "crash"), (50, "stuck"), (51, "raise"), (120, "crash"), (239, "crash")]:
    MIXED[index] = kind


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("read_delay", [0.0, 0.002], ids=["fast reader", "slow reader"])
def test_every_page_gets_exactly_its_own_outcome_in_input_order(workers, read_delay):
    pages = scripted_pages(*MIXED)
    results = []
    with scripted_pool(workers) as pool:
        for page, outcome in pool.map(iter(pages)):
            results.append((page, outcome))
            time.sleep(read_delay)
    assert [page for page, _ in results] == pages
    for page, outcome in results:
        assert_own_outcome(page, outcome)


def test_a_reader_that_stops_early_leaves_the_pool_usable():
    pages = scripted_pages(*["fast"] * 100)
    with scripted_pool() as pool:
        for count, _ in enumerate(pool.map(pages)):
            if count == 10:
                break
        assert [outcome[0] for _, outcome in pool.map(pages)] == [p.url for p in pages]


def failing_source(pages: list[Fetched]):
    yield from pages
    raise ExtractError("the source broke")


def test_pages_read_before_the_input_fails_still_get_their_outcomes():
    pages = scripted_pages(*["fast"] * 40)
    got = []
    with scripted_pool() as pool, pytest.raises(ExtractError, match="the source broke"):
        for page, _ in pool.map(failing_source(pages)):
            got.append(page)
    assert got == pages


def test_one_worker_is_one_worker_process_and_in_process_is_this_one():
    page = scripted_pages("fast")
    with scripted_pool(workers=1) as pool:
        [(_, (_, worker_pid, _))] = pool.map(page)
    with ExtractPool(1, 5, in_process=True, task=scripted) as pool:
        [(_, (_, here_pid, _))] = pool.map(page)
    assert worker_pid != os.getpid()
    assert here_pid == os.getpid()


def collector_state(page: Fetched, timeout: float) -> tuple[int, int]:
    """Stands in for ``extract_page``: how many objects the worker keeps out of the
    garbage collector's passes, and how many new ones make a young collection."""
    return gc.get_freeze_count(), gc.get_threshold()[0]


def test_a_worker_leaves_what_it_has_loaded_out_of_full_collections_after_its_first_page():
    with ExtractPool(1, 5, task=collector_state) as pool:  # type: ignore[arg-type]
        states = [outcome for _, outcome in pool.map(scripted_pages("fast", "fast"))]
    frozen, young = states[0]
    assert frozen == 0  # the first page loads what extraction needs
    assert young == 700  # Python's default
    frozen, young = states[1]
    assert frozen > 1000  # then the modules are settled
    assert young == YOUNG_OBJECTS


@pytest.mark.parametrize("workers", [1, 2])
def test_the_time_limit_holds_on_code_the_signal_cannot_stop(workers):
    began = time.monotonic()
    with scripted_pool(workers) as pool:
        outcomes = [o for _, o in pool.map(scripted_pages("stuck", "fast"))]
    assert isinstance(outcomes[0], ExtractTimeout)
    assert "worker killed" in str(outcomes[0])
    assert time.monotonic() - began < 30  # the page itself would run for 60 s


def test_pool_map_keeps_input_order_and_other_workers_busy_past_a_slow_page():
    pages = scripted_pages("slow", *["fast"] * 20)
    with scripted_pool(timeout=10) as pool:
        results = list(pool.map(pages))
    assert [page for page, _ in results] == pages
    slow_done, *fast_done = [outcome[2] for _, outcome in results]
    assert max(fast_done) < slow_done


def test_a_crashed_worker_fails_its_own_page_only():
    pages = scripted_pages(*["fast"] * 5, "crash", *["fast"] * 30)
    with scripted_pool() as pool:
        outcomes = [outcome for _, outcome in pool.map(pages)]
    assert [i for i, o in enumerate(outcomes) if isinstance(o, ExtractError)] == [5]


def test_a_stuck_worker_is_killed_and_its_page_alone_times_out():
    pages = scripted_pages("fast", "stuck", *["fast"] * 20)
    with scripted_pool() as pool:
        outcomes = [outcome for _, outcome in pool.map(pages)]
    assert [i for i, o in enumerate(outcomes) if isinstance(o, ExtractError)] == [1]
    assert isinstance(outcomes[1], ExtractTimeout)


def test_closing_the_pool_stops_a_busy_worker_at_once():
    pool = ExtractPool(2, timeout=30, task=scripted)
    outcomes = pool.map(scripted_pages("fast", "stuck", "fast"))
    next(outcomes)
    time.sleep(0.5)  # the stuck page is running
    began = time.monotonic()
    outcomes.close()
    pool.close()
    assert time.monotonic() - began < 10  # not the page's 30 s limit


async def test_extract_async_gives_each_page_its_own_outcome():
    pages = scripted_pages("fast", "crash", "fast", "raise", "fast", "fast")
    with scripted_pool() as pool:
        outcomes = await asyncio.gather(*(pool.extract_async(p) for p in pages))
    for page, outcome in zip(pages, outcomes, strict=True):
        assert_own_outcome(page, outcome)


def test_pool_counts_timeouts_and_keeps_going():
    good = Fetched(url="https://x.example/a", source="t", body=fixture_html("daily8_starmer"))
    big = "".join(
        f"<p>Paragraph {i} tells a long story about the council.</p>" for i in range(4000)
    )
    big_page = Fetched(url="https://x.example/big", source="t", body=f"<h1>Big</h1>{big}".encode())
    with ExtractPool(workers=2, timeout=0.01) as pool:
        outcomes = [o for _, o in pool.map([big_page])]
    assert isinstance(outcomes[0], ExtractTimeout)
    with ExtractPool(workers=2, timeout=20) as pool:
        outcomes = [o for _, o in pool.map([good, big_page])]
    assert [type(o).__name__ for o in outcomes] == ["Article", "Article"]


def test_in_process_is_a_flag_of_extract_and_of_the_run_command(tmp_path, capsys):
    page = FIXTURES / "pages" / "daily8_starmer.html"
    assert main(["extract", str(page), "--format", "text", "--in-process"]) == 0
    assert capsys.readouterr().out == SEED_CLEAN.read_text(encoding="utf-8")
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(page)}])
    assert main(["--config", str(config), "--in-process"]) == 0
    assert latest_report(tmp_path / "out")["totals"]["emitted"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["extract", "x.html", "--workers", "-1"],
            "must be a whole number from 0 to 256, not '-1'",
        ),
        (
            ["--config", "c.yaml", "--workers", "two"],
            "must be a whole number from 0 to 256, not 'two'",
        ),
        (["extract", "x.html", "--timeout", "0"], "at most 3600 seconds, not '0'"),
        (["extract", "x.html", "--timeout", "nan"], "at most 3600 seconds, not 'nan'"),
    ],
)
def test_a_bad_worker_count_or_time_limit_is_a_usage_error(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def tiny_page(i: int) -> str:
    paragraphs = "".join(
        f"<p>Story {i} paragraph {n} tells readers what the council decided on Monday.</p>"
        for n in range(4)
    )
    return f"<html><body><article><h1>Story {i}</h1>{paragraphs}</article></body></html>"


TINY_PAGES = 300


@pytest.fixture(scope="module")
def tiny_pages(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    for i in range(TINY_PAGES):
        (folder / f"{i:04d}.html").write_text(tiny_page(i), encoding="utf-8")
    return folder


def test_extract_through_a_slow_reader_writes_every_page(tiny_pages):
    proc = subprocess.Popen(
        [sys.executable, "-m", "scraper.cli", "extract", str(tiny_pages), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    titles = []
    for line in proc.stdout:
        titles.append(json.loads(line)["title"])
        time.sleep(0.005)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, b"")
    assert titles == [f"Story {i}" for i in range(TINY_PAGES)]


async def test_a_files_run_with_default_workers_handles_every_page(tmp_path, tiny_pages):
    config = write_config(tmp_path, [{"name": "disk", "type": "files", "path": str(tiny_pages)}])
    settings = load_settings(config)
    settings.extract.workers = 0
    report = await pipeline.run(settings)
    assert report.sources["disk"].emitted == TINY_PAGES


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_and_the_forkserver_end_when_the_run_is_killed(tmp_path):
    deep = "<div>" * 100_000 + "<p>A paragraph buried very deep in the page.</p>"
    for i in range(4):  # seconds of C code each
        (tmp_path / f"{i}.html").write_text(deep, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scraper.cli", "extract", str(tmp_path), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        tree: set[int] = set()
        while time.monotonic() < deadline and len(tree) < 4:  # forkserver, tracker, 2 workers
            time.sleep(0.1)
            tree = descendants(proc.pid)
        assert len(tree) >= 4, "the workers did not start"
        time.sleep(0.5)  # the workers are inside a page
        tree |= descendants(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(alive, tree)):
        time.sleep(0.1)
    survivors = [pid for pid in tree if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
