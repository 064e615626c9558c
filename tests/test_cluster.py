"""Extraction on a real Dask cluster (the session's ``LocalCluster`` of 2 worker
processes, or one ``--cluster local:N`` starts): partitions, markers, reruns, a
worker killed mid-task, stories across partitions, and runs with an ``engine``."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from distributed import Client

from scraper import cluster
from scraper.cli import main
from scraper.cluster import Options, extract_archives, plan
from scraper.config import load_settings
from scraper.store import read_templates

from .conftest import FIXTURES, all_records, latest_report, write_config
from .pgserver import free_port
from .test_discover import write_warc

FIXTURE_PAGES = sorted((FIXTURES / "pages").glob("*.html"))
STORY = json.loads((FIXTURES / "stories" / "same_event.json").read_text())[0]["reports"][0]


def fixture_warcs(folder: Path) -> list[Path]:
    """The fixture pages split over three WARC files (each also holds a 404 record)."""
    pages = {f"https://portal.example/{p.stem}": p.read_bytes() for p in FIXTURE_PAGES}
    items = list(pages.items())
    warcs = []
    for i, chunk in enumerate((items[:3], items[3:5], items[5:])):
        warcs.append(folder / f"crawl-{i}.warc.gz")
        write_warc(warcs[-1], dict(chunk))
    return warcs


def extract_lines(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["extract", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def partition_lines(folder: Path, warcs: list[Path]) -> list[str]:
    """The records of the partitions of ``warcs``, in input order."""
    names = [p.name for p in plan(warcs, lambda reason, message: None)]
    return [line for name in names for line in (folder / f"{name}.jsonl").read_text().splitlines()]


def test_a_cluster_yields_exactly_the_records_of_the_local_run(tmp_path, capsys, dask_scheduler):
    warcs = [str(w) for w in fixture_warcs(tmp_path)]
    code, local, _ = extract_lines(capsys, *warcs, "--workers", "1")
    assert code == 0 and len(local) == len(FIXTURE_PAGES)

    code, streamed, err = extract_lines(capsys, *warcs, "--cluster", dask_scheduler)
    assert code == 0
    assert streamed == local
    assert "passed over 3 WARC records that are no page (not_200=3)" in err

    out = tmp_path / "parts"
    code, printed, err = extract_lines(capsys, *warcs, "--cluster", dask_scheduler, "-o", str(out))
    assert code == 0 and printed == []
    assert partition_lines(out, [Path(w) for w in warcs]) == local
    markers = sorted(out.glob("*.done"))
    assert len(markers) == 3
    counts = [json.loads(m.read_text()) for m in markers]
    assert sum(c["records"] for c in counts) == len(local)
    assert all(c["not_pages"] == {"not_200": 1} and c["failures"] == {} for c in counts)
    assert "3 partition(s)" in err and f"{len(local)} records" in err
    assert not list(out.glob(".*.tmp"))


def test_parquet_partitions_hold_the_same_records(tmp_path, capsys, dask_scheduler):
    import pyarrow.parquet as pq

    warcs = [str(w) for w in fixture_warcs(tmp_path)]
    out = tmp_path / "parts"
    out.mkdir()
    name = plan([Path(warcs[0])], lambda reason, message: None)[0].name
    left = [out / f".{name}.jsonl.0123.tmp", out / f"..{name}.parquet.0123.tmp.x1.tmp"]
    for path in left:  # as a killed attempt leaves them
        path.write_bytes(b"torn")
    code, _, _ = extract_lines(
        capsys, *warcs, "--cluster", dask_scheduler, "-o", str(out), "--parquet"
    )
    assert code == 0
    for part in out.glob("*.jsonl"):
        ids = [json.loads(line)["id"] for line in part.read_text().splitlines()]
        assert pq.read_table(part.with_suffix(".parquet")).column("id").to_pylist() == ids
    assert not any(path.exists() for path in left)


def test_a_rerun_skips_finished_partitions_and_redoes_a_changed_one(
    tmp_path, capsys, dask_scheduler
):
    warcs = fixture_warcs(tmp_path)
    out = tmp_path / "parts"
    args = [*map(str, warcs), "--cluster", dask_scheduler, "-o", str(out)]
    assert extract_lines(capsys, *args)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")}

    code, _, err = extract_lines(capsys, *args)
    assert code == 0 and "(3 finished by an earlier run, 0 failed)" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")} == before

    write_warc(warcs[1], {"https://portal.example/only": FIXTURE_PAGES[0].read_bytes()})
    changed = plan([warcs[1]], lambda reason, message: None)[0].name
    part = out / f"{changed}.jsonl"
    part.write_text(part.read_text() + "a stray line\n")  # a marker no longer matches either
    code, _, err = extract_lines(capsys, *args)
    assert code == 0 and "(2 finished by an earlier run, 0 failed)" in err
    assert len(part.read_text().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jsonl")} != before


def test_a_task_killed_midway_is_retried_and_leaves_no_duplicated_or_torn_partition(
    tmp_path, dask_scheduler
):
    pages = {
        f"https://portal.example/{i}/{p.stem}": p.read_bytes()
        for i in range(30)
        for p in FIXTURE_PAGES
    }
    warc = tmp_path / "big.warc.gz"
    write_warc(warc, pages)
    out = tmp_path / "parts"
    out.mkdir()
    name = plan([warc], lambda reason, message: None)[0].name
    options = Options(timeout=30, max_bytes=5_000_000)
    result: dict[str, object] = {}
    errors: list[str] = []

    with Client(dask_scheduler) as client:

        def run() -> None:
            result["summary"] = extract_archives(
                client, [warc], options, out, lambda a: None, errors.append
            )

        driver = threading.Thread(target=run)
        driver.start()
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and driver.is_alive() and time.monotonic() < deadline:
            partial = [t for t in out.glob(f".{name}.jsonl.*.tmp") if t.stat().st_size > 0]
            busy = [w for w, keys in client.processing().items() if keys]
            if partial and busy:
                killed = client.run(os.getpid, workers=busy)[busy[0]]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.02)
        driver.join(300)
    assert killed is not None, "the task ended before it could be killed"
    summary = result["summary"]
    assert errors == [] and summary.failed_partitions == 0
    lines = (out / f"{name}.jsonl").read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == list(pages)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        f"{name}.done",
        f"{name}.jsonl",
    ]
    assert cluster.finished(out, plan([warc], lambda r, m: None)[0], options) is not None
    assert not list(out.glob(".*.tmp"))


def story_page(title: str, paragraphs: list[str], site: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title><meta property='og:site_name' content='{site}'>"
        f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def test_a_story_split_across_two_warc_files_gets_one_story_id(tmp_path, capsys, dask_scheduler):
    first, copy = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    write_warc(
        first,
        {"https://wire.example/summit": story_page(STORY["title"], STORY["paragraphs"], "Wire")},
    )
    reprint = [*STORY["paragraphs"], "This article originally appeared on Wire."]
    write_warc(
        copy, {"https://portal.example/reprint": story_page("Summit deal", reprint, "Portal")}
    )
    inputs = [str(first), str(copy)]

    code, local, _ = extract_lines(capsys, *inputs, "--workers", "1", "--stories")
    records = [json.loads(line) for line in local]
    assert code == 0 and len(records) == 2
    assert records[0]["story_id"] == records[1]["story_id"] == records[0]["id"]
    assert records[1]["duplicate_of"] == records[0]["id"] and records[0]["duplicate_of"] is None

    code, streamed, _ = extract_lines(capsys, *inputs, "--cluster", dask_scheduler, "--stories")
    assert code == 0 and streamed == local

    out = tmp_path / "parts"
    args = [*inputs, "--cluster", dask_scheduler, "--stories", "-o", str(out)]
    assert extract_lines(capsys, *args)[0] == 0
    assert partition_lines(out, [first, copy]) == local
    code, _, err = extract_lines(capsys, *args)  # a rerun keeps them, and their markers match
    assert code == 0 and "(2 finished by an earlier run" in err
    assert partition_lines(out, [first, copy]) == local


def test_local_n_starts_a_cluster_of_its_own(tmp_path, capsys):
    warcs = [str(w) for w in fixture_warcs(tmp_path)]
    code, local, _ = extract_lines(capsys, *warcs, "--workers", "1")
    code, streamed, _ = extract_lines(capsys, *warcs, "--cluster", "local:1")
    assert code == 0 and streamed == local


def test_an_unreachable_scheduler_is_one_line_and_exit_3(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    warc = fixture_warcs(tmp_path)[0]
    address = f"tcp://127.0.0.1:{free_port()}"
    code, out, err = extract_lines(capsys, str(warc), "--cluster", address)
    assert code == 3 and out == []
    assert err.startswith(f"scrape: cannot reach the Dask scheduler at {address}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cluster", "local:0"], "local:N takes 1 to 256 workers"),
        (["--cluster", "http://h:1"], "neither local:N nor tcp://host:port"),
        (["--cluster", "local:1", "--workers", "2"], "--workers does not apply with --cluster"),
        (["--cluster", "local:1", "--parquet"], "--parquet needs -o DIR"),
        (["--parquet"], "--parquet needs --cluster"),
        (["--cluster", "local:1", "-o", "d", "--format", "text"], "--format text is for stdout"),
    ],
)
def test_bad_cluster_options_are_one_line_usage_errors(tmp_path, capsys, args, message):
    warc = fixture_warcs(tmp_path)[0]
    with pytest.raises(SystemExit) if "local:0" in args or "http://h:1" in args else _nothing():
        code = main(["extract", str(warc), *args])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> bool:
        return False


def test_a_run_with_an_engine_extracts_on_the_cluster(tmp_path, dask_scheduler):
    config = write_config(
        tmp_path,
        [{"name": "archive", "type": "files", "path": str(FIXTURES / "pages")}],
        engine=dask_scheduler,
    )
    assert main(["--config", str(config)]) == 0
    records = all_records(tmp_path / "out")
    assert len(records) == len(FIXTURE_PAGES)
    assert latest_report(tmp_path / "out")["totals"]["emitted"] == len(FIXTURE_PAGES)


def test_a_run_with_an_engine_learns_site_templates_and_applies_site_rules(
    tmp_path, dask_scheduler
):
    """The pages reach the cluster's workers with their site's rules, and the
    fingerprints come back with each record to the run, which learns."""
    from .test_templates import CHROME, SITE, site_page

    pages = tmp_path / "pages"
    pages.mkdir()
    for number in range(8):
        (pages / f"{number}.html").write_text(site_page(number)[1], encoding="utf-8")
    config = write_config(
        tmp_path,
        [{"name": "site", "type": "files", "path": str(pages)}],
        engine=dask_scheduler,
        rules=[{"site": SITE, "source": "Valley Wire"}],
    )
    assert main(["--config", str(config)]) == 0
    records = all_records(tmp_path / "out")
    assert {(r["source"], r["source_evidence"]) for r in records} == {("Valley Wire", "site_rule")}
    settings = load_settings(config)
    cutoff = datetime.now(UTC) - timedelta(days=1)
    (view,) = read_templates(settings.state, SITE, cutoff, 5)
    assert len(view.page_times) == 8
    assert len(view.template(5, 0.3)) == len(CHROME)


def test_failures_are_counted_by_reason_per_partition_and_summed(tmp_path, capsys, dask_scheduler):
    good = FIXTURE_PAGES[0].read_bytes()
    first, second = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    write_warc(first, {"https://x.example/good": good, "https://x.example/empty": b" "})
    write_warc(second, {"https://x.example/big": b"<p>" + b"x" * 300_000 + b"</p>"})
    inputs = [str(first), str(second), "--max-bytes", "200000"]
    code, local, local_err = extract_lines(capsys, *inputs, "--workers", "1")
    assert code == 1 and len(local) == 1

    out = tmp_path / "parts"
    code, _, err = extract_lines(capsys, *inputs, "--cluster", dask_scheduler, "-o", str(out))
    assert code == 1
    markers = {
        name: json.loads((out / f"{name}.done").read_text())
        for name in (p.name for p in plan([first, second], lambda r, m: None))
    }
    assert [m["failures"] for m in markers.values()] == [{"no_article": 1}, {"too_large": 1}]
    assert [m["records"] for m in markers.values()] == [1, 0]
    assert "2 pages failed (no_article=1, too_large=1)" in err
    for line in local_err.splitlines():  # each failure named as without a cluster
        if "passed over" not in line:
            assert line in err


def test_a_bad_engine_in_the_config_is_a_config_error_naming_the_field():
    from scraper.config import parse_settings
    from scraper.errors import ConfigError

    sources = [{"name": "a", "type": "files", "path": "x"}]
    with pytest.raises(ConfigError, match=r"^config: engine: .*neither local:N nor tcp://"):
        parse_settings({"sources": sources, "engine": "localhost:8786"})
    assert parse_settings({"sources": sources, "engine": "tcp://h:8786"}).engine == "tcp://h:8786"


def test_a_partition_whose_task_fails_is_reported_and_done_by_the_next_run(
    tmp_path, capsys, dask_scheduler
):
    warcs = fixture_warcs(tmp_path)
    out = tmp_path / "parts"
    blocked = plan([warcs[0]], lambda reason, message: None)[0].name
    (out / f".{blocked}.lock").mkdir(parents=True)  # its task cannot take the lock
    args = [*map(str, warcs), "--cluster", dask_scheduler, "-o", str(out)]
    code, _, err = extract_lines(capsys, *args)
    assert code == 1
    assert f"scrape: partition {blocked} failed on the cluster (SinkError: cannot write" in err
    assert "(0 finished by an earlier run, 1 failed)" in err
    assert not (out / f"{blocked}.jsonl").exists() and not (out / f"{blocked}.done").exists()
    assert not list(out.glob(".*.tmp"))

    (out / f".{blocked}.lock").rmdir()
    code, _, err = extract_lines(capsys, *args)
    assert code == 0 and "(2 finished by an earlier run, 0 failed)" in err


def test_a_page_past_its_time_limit_is_dropped_and_counted_in_its_partition(
    tmp_path, capsys, dask_scheduler
):
    warc = fixture_warcs(tmp_path)[0]
    out = tmp_path / "parts"
    args = [str(warc), "--cluster", dask_scheduler, "-o", str(out), "--timeout", "0.001"]
    code, _, err = extract_lines(capsys, *args)
    assert code == 1
    name = plan([warc], lambda reason, message: None)[0].name
    marker = json.loads((out / f"{name}.done").read_text())
    assert marker["records"] == 0 and marker["failures"] == {"extract_timeout": 3}
    assert (out / f"{name}.jsonl").read_bytes() == b""
    assert "3 pages failed (extract_timeout=3)" in err
    # a later run with a workable limit is another partition: the marker says so
    code, _, err = extract_lines(capsys, str(warc), "--cluster", dask_scheduler, "-o", str(out))
    assert code == 0 and "(0 finished by an earlier run" in err
