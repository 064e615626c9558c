import gzip
import io
import json
import subprocess
import sys

from scraper.cli import main

from .conftest import FIXTURES, SEED, SEED_CLEAN, write_config
from .test_discover import write_warc


def test_clean_text_reproduces_the_golden_seed(capsys):
    assert main(["clean-text", str(SEED)]) == 0
    assert capsys.readouterr().out == SEED_CLEAN.read_text(encoding="utf-8")


def test_clean_text_writes_the_output_file_atomically(tmp_path):
    out = tmp_path / "clean.txt"
    assert main(["clean-text", str(SEED), "-o", str(out)]) == 0
    assert out.read_bytes() == SEED_CLEAN.read_bytes()
    assert main(["clean-text", str(tmp_path / "missing.txt"), "-o", str(out)]) == 1
    assert out.read_bytes() == b""  # the missing input produced no document


def test_extract_of_the_daily8_fixture_is_the_golden_text(capsys):
    page = FIXTURES / "pages" / "daily8_starmer.html"
    assert main(["extract", str(page), "--format", "text", "--workers", "1"]) == 0
    assert capsys.readouterr().out == SEED_CLEAN.read_text(encoding="utf-8")


def test_extract_streams_a_warc_as_json_lines(tmp_path, capsys):
    pages = {
        f"https://portal.example/{p.stem}": p.read_bytes()
        for p in sorted((FIXTURES / "pages").glob("*.html"))
    }
    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, pages)
    assert main(["extract", str(warc), "--workers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(pages)
    first = json.loads(lines[0])
    assert first["url"] == next(iter(pages))
    assert first["paragraphs"] and first["id"]


def test_extract_reports_bad_pages_and_keeps_the_good_ones(tmp_path, capsys):
    (tmp_path / "good.html.gz").write_bytes(
        gzip.compress((FIXTURES / "pages" / "daily8_starmer.html").read_bytes())
    )
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "binary.html").write_bytes(bytes(range(256)) * 50)
    (tmp_path / "menu.html").write_bytes(
        b"<html><body><nav><a href='/'>Home</a></nav></body></html>"
    )
    out = tmp_path / "out.jsonl"
    assert main(["extract", str(tmp_path), "-o", str(out), "--workers", "1"]) == 1
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["title"] for r in records] == [
        "Starmer could attend second US-Russia meeting on ending Ukraine war, says Trump"
    ]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("scrape: ") for line in err)


def test_bad_usage_exits_2(capsys):
    assert main([]) == 2
    try:
        main(["extract"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "scrape" in capsys.readouterr().err


def test_scrape_console_script_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scraper.cli", "clean-text", str(SEED)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == SEED_CLEAN.read_text(encoding="utf-8")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_shown_on_a_terminal_only(tmp_path, monkeypatch):
    config = write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}]
    )
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["--config", str(config)]) == 0
    assert "pages" in terminal.getvalue() and "\r" in terminal.getvalue()

    cron = io.StringIO()
    monkeypatch.setattr(sys, "stderr", cron)
    assert main(["--config", str(config), "--full"]) == 0
    assert cron.getvalue().count("\n") == 1 and cron.getvalue().startswith("scrape: ")
