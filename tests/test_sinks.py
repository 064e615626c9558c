import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scraper.errors import SinkError
from scraper.models import Article, RunReport
from scraper.sinks import (
    JOURNAL,
    Sinks,
    atomic_write,
    iter_journal,
    run_started,
    write_report,
)

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


def test_parquet_says_where_each_body_was_read(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    sinks = Sinks(tmp_path, ["parquet"])
    out = sinks.new_run(STARTED)
    out.write([article(1), article(2).model_copy(update={"extraction": "embedded_state"})])
    out.finish()
    table = pq.read_table(out.folder / "records.parquet").to_pylist()
    assert [r["extraction"] for r in table] == ["dom", "embedded_state"]


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


def finished_run(sinks: Sinks, started: datetime, *articles: Article) -> Path:
    out = sinks.new_run(started)
    out.write(list(articles))
    out.finish()
    write_report(out.folder, RunReport(run_id=out.folder.name))
    sinks.point_latest(out.folder)
    return out.folder


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_every_output_file_gets_the_mode_of_a_plain_file_less_the_umask(tmp_path, umask):
    pytest.importorskip("pyarrow")
    previous = os.umask(umask)
    try:
        folder = finished_run(Sinks(tmp_path, ["jsonl", "text", "parquet"]), STARTED, article(1))
    finally:
        os.umask(previous)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"records.jsonl", "records.parquet", "report.json"} | {
        f"{article(1).id}.txt"
    }
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {
        p.name: 0o666 & ~umask for p in files
    }


def test_every_file_is_on_disk_before_latest_points_at_its_folder(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    sinks = Sinks(tmp_path, ["jsonl", "text", "parquet"])
    folder = finished_run(sinks, STARTED, article(1), article(2))

    def last(kind: str, where: str) -> int:
        return max(i for i, (k, what) in enumerate(events) if k == kind and what.endswith(where))

    def synced(path: Path, before: int) -> bool:
        return ("fsync", str(path)) in events[:before]

    link = last("rename", f"-> {tmp_path / 'latest'}")
    text_in_place = last("rename", f"-> {folder / 'text'}")
    for a in (article(1), article(2)):  # the data, under its name before the folder's rename
        assert synced(folder / ".text.partial" / f"{a.id}.txt", text_in_place)
    assert synced(folder / ".text.partial", text_in_place)
    for name in ("records.jsonl", "records.parquet", "report.json"):
        renamed = last("rename", f"-> {folder / name}")
        source = events[renamed][1].split(" -> ")[0]
        assert synced(Path(source), renamed), name
    # The folder's own entries (text, records, report) after its last rename, before the link.
    last_rename_in = max(last("rename", f"-> {folder / n}") for n in ("report.json", "text"))
    assert ("fsync", str(folder)) in events[last_rename_in:link]


def test_a_finish_killed_after_its_text_folder_is_done_again_from_the_journal(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl", "text"])
    out = sinks.new_run(STARTED)
    out.write([article(1), article(2)])
    out.journal.close()
    (out.folder / "text").mkdir()  # renamed into place, journal not renamed yet
    (out.folder / "text" / "stale.txt").write_text("from an older journal")
    (out.folder / ".text.partial").mkdir()
    sinks.finish(out.folder)
    assert sorted(p.stem for p in (out.folder / "text").iterdir()) == sorted(
        [article(1).id, article(2).id]
    )
    assert not list(out.folder.glob(".*"))


def test_a_run_folder_is_removed_through_a_hidden_name_and_a_killed_removal_is_cleaned(
    tmp_path,
):
    sinks = Sinks(tmp_path, ["jsonl"])
    folder = finished_run(sinks, STARTED, article(1))
    half = tmp_path / "runs" / ".2026-11-24T05-00-00Z.removed"  # killed while deleting
    (half / "text").mkdir(parents=True)
    assert list(sinks.unfinished()) == []  # no report in it, yet not a run to recover
    assert not half.exists()
    sinks.remove(folder)
    assert list((tmp_path / "runs").iterdir()) == []


def test_prune_keeps_the_newest_runs_and_never_latest_an_unfinished_run_or_a_stranger(
    tmp_path,
):
    sinks = Sinks(tmp_path, ["jsonl"])
    day = timedelta(days=1)
    folders = [finished_run(sinks, STARTED - i * day, article(i)) for i in (5, 4, 3, 2, 1)]
    sinks.point_latest(folders[1])  # latest is not always the newest folder
    unfinished = sinks.new_run(STARTED - 10 * day).folder  # killed: still to recover
    stranger = tmp_path / "runs" / "my-notes"
    stranger.mkdir()
    (stranger / "report.json").write_text("{}")
    removed = sinks.prune(keep_runs=2, keep_days=None, now=STARTED)
    assert sorted(removed) == [folders[0], folders[2]]
    left = {p.name for p in (tmp_path / "runs").iterdir()}
    assert left == {folders[1].name, folders[3].name, folders[4].name, unfinished.name, "my-notes"}

    assert sinks.prune(keep_runs=None, keep_days=1.5, now=STARTED) == [folders[3]]
    assert sinks.prune(keep_runs=None, keep_days=None, now=STARTED) == []
    assert (tmp_path / "latest" / "records.jsonl").exists()


def test_run_folder_names_read_back_as_start_times():
    assert run_started("2026-11-24T06-00-00Z") == (STARTED, 1)
    assert run_started("2026-11-24T06-00-00Z-12") == (STARTED, 12)
    assert run_started("2026-11-24T06-00-00Z.bak") is None
    assert run_started("2026-13-24T06-00-00Z") is None
