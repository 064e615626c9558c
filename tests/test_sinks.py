import json
import os
from datetime import UTC, datetime

import pytest

from scraper.errors import SinkError
from scraper.models import Article
from scraper.sinks import JOURNAL, Sinks, atomic_write, iter_journal

STARTED = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def article(n: int, text: str | None = None) -> Article:
    return Article(
        url=f"https://x.example/{n}",
        canonical_url=f"https://x.example/{n}",
        title=f"Title {n}",
        paragraphs=[text or f"Para \u201c{n}\u201d"],
    )


def test_a_run_journals_batches_and_finishes_into_records_and_text_files(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl", "text"])
    out = sinks.new_run(STARTED)
    assert out.folder == tmp_path / "runs" / "2026-11-24T06-00-00Z"
    out.write([article(1)])
    out.write([article(2), article(3)])
    assert not (out.folder / "records.jsonl").exists()  # not until the run is complete
    assert len((out.folder / JOURNAL).read_text().splitlines()) == 3
    out.finish()
    sinks.point_latest(out.folder)
    lines = (tmp_path / "latest" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["Title 1", "Title 2", "Title 3"]
    text = (out.folder / "text" / f"{article(2).id}.txt").read_text()
    assert text == '\nTitle 2\nPara "2"'
    assert not list(out.folder.rglob(".*"))


def test_two_runs_in_one_second_get_their_own_folders_and_latest_moves(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl"])
    first, second = sinks.new_run(STARTED), sinks.new_run(STARTED)
    assert second.folder.name == "2026-11-24T06-00-00Z-2"
    for out in (first, second):
        out.finish()
        sinks.point_latest(out.folder)
    assert (tmp_path / "latest").resolve() == second.folder.resolve()
    assert (first.folder / "records.jsonl").read_text() == ""


def test_formats_are_honoured(tmp_path):
    sinks = Sinks(tmp_path, ["text"])
    out = sinks.new_run(STARTED)
    out.write([article(1)])
    out.finish()
    assert sorted(p.name for p in out.folder.iterdir()) == ["text"]


def test_a_torn_journal_keeps_its_complete_lines_and_finishing_is_idempotent(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl", "text"])
    out = sinks.new_run(STARTED)
    out.write([article(1), article(2)])
    out.journal.write(article(3).model_dump_json().encode()[:40])  # killed mid-line
    out.journal.flush()
    (out.folder / ".records.jsonl.x.tmp").write_text("half")
    assert list(sinks.unfinished()) == [out.folder]
    kept = list(iter_journal(out.folder / JOURNAL))
    assert [a.title for a, _ in kept] == ["Title 1", "Title 2"]
    size = kept[-1][1]
    sinks.finish(out.folder)
    records = (out.folder / "records.jsonl").read_bytes()
    assert len(records) == size and records.count(b"\n") == 2
    assert sorted(p.stem for p in (out.folder / "text").iterdir()) == sorted(
        [article(1).id, article(2).id]
    )
    assert list(sinks.unfinished()) == [out.folder]  # until its report is written
    (out.folder / "report.json").write_text("{}")
    assert list(sinks.unfinished()) == []
    assert not list(out.folder.glob(".*"))


def test_parquet_holds_the_same_records(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    sinks = Sinks(tmp_path, ["parquet"])
    out = sinks.new_run(STARTED)
    out.write([article(1), article(2).model_copy(update={"version": 2, "previous_hash": "ab"})])
    out.finish()
    table = pq.read_table(out.folder / "records.parquet").to_pylist()
    assert [(r["title"], r["version"], r["previous_hash"]) for r in table] == [
        ("Title 1", 1, None),
        ("Title 2", 2, "ab"),
    ]
    assert table[0]["paragraphs"] == ["Para \u201c1\u201d"] and table[0]["word_count"] == 2


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    atomic_write(path, b"old\n")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(SinkError, match="disk full"):
        atomic_write(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["records.jsonl"]


def test_a_run_folder_that_cannot_be_made_is_a_sink_error(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(SinkError, match="cannot create run directory"):
        Sinks(tmp_path, ["jsonl"]).new_run(STARTED)


def test_a_run_killed_after_its_outputs_but_before_its_report_is_still_unfinished(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl"])
    out = sinks.new_run(STARTED)
    out.write([article(1)])
    out.finish()
    (tmp_path / ".latest.123.tmp").symlink_to(out.folder)  # killed inside point_latest
    (tmp_path / "runs" / "notes.txt").write_text("a user's file")
    assert list(sinks.unfinished()) == [out.folder]
    assert not (tmp_path / ".latest.123.tmp").is_symlink()
    sinks.finish(out.folder)  # nothing left to do
    assert (out.folder / "records.jsonl").read_text().count("\n") == 1
    (out.folder / "report.json").write_text("{}")
    assert list(sinks.unfinished()) == []
