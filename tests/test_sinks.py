import json
import os

import pytest

from scraper.models import Article
from scraper.sinks import Sinks, atomic_write


def article(n: int) -> Article:
    return Article(
        url=f"https://x.example/{n}",
        canonical_url=f"https://x.example/{n}",
        title=f"Title {n}",
        paragraphs=[f"Para \u201c{n}\u201d"],
    )


def test_batches_append_to_records_and_write_one_text_file_each(tmp_path):
    sinks = Sinks(tmp_path, ["jsonl", "text"])
    sinks.write([article(1)])
    sinks.write([article(2), article(3)])
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["Title 1", "Title 2", "Title 3"]
    text = (tmp_path / "text" / f"{article(2).id}.txt").read_text()
    assert text == '\nTitle 2\nPara "2"'
    assert not [p for p in tmp_path.rglob(".*")]


def test_formats_are_honoured(tmp_path):
    Sinks(tmp_path, ["text"]).write([article(1)])
    assert not (tmp_path / "records.jsonl").exists()
    assert (tmp_path / "text").is_dir()


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    atomic_write(path, b"old\n")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write(path, b"new\n", keep_existing=True)
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["records.jsonl"]


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / ".records.jsonl.abc.tmp").write_text("half")
    (tmp_path / "text" / ".x.txt.def.tmp").write_text("half")
    (tmp_path / "records.jsonl").write_text("{}\n")
    Sinks(tmp_path, ["jsonl"]).remove_stale_temp_files()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["records.jsonl", "text"]
