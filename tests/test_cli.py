import gzip
import io
import json
import subprocess
import sys
import zlib

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


def test_extract_names_each_damaged_input_on_one_line_counts_no_pages_and_exits_1(tmp_path, capfd):
    from .test_discover import gzip_members, warc_record

    page = (FIXTURES / "pages" / "daily8_starmer.html").read_bytes()
    archive = gzip_members(
        warc_record("https://portal.example/a", page),
        warc_record("https://portal.example/gone", b"gone", status="404 Not Found"),
        warc_record("https://portal.example/b", page.replace(b"Starmer", b"Sir Keir")),
    )
    crawl = tmp_path / "crawl.warc.gz"
    crawl.write_bytes(archive[:-200])
    notes = tmp_path / "notes.warc"
    notes.write_text("not an archive\n")
    big = tmp_path / "big.html"
    big.write_bytes(page * 2)
    out = tmp_path / "out.jsonl"
    args = ["extract", str(tmp_path), "-o", str(out), "--workers", "1"]
    assert main([*args, "--max-bytes", str(len(page) + 100)]) == 1
    assert [json.loads(line)["url"] for line in out.read_text().splitlines()] == [
        "https://portal.example/a"
    ]
    err = capfd.readouterr().err.splitlines()
    assert err == [
        f"scrape: too_large {big}: file of {2 * len(page)} bytes exceeds max_bytes "
        f"({len(page) + 100})",
        f"scrape: truncated {crawl}: truncated gzip data",
        f"scrape: not_warc {notes}: not a WARC file (starts with b'not a')",
        "scrape: passed over 1 WARC records that are no page (not_200=1)",
    ]


def test_extract_max_bytes_must_be_a_positive_number(capsys):
    page = FIXTURES / "pages" / "daily8_starmer.html"
    for bad in ("0", "-5", "5MB"):
        try:
            main(["extract", str(page), "--max-bytes", bad])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"--max-bytes {bad} was accepted")
    assert "not a positive number of bytes" in capsys.readouterr().err


HUGE_RECORD = 200 << 20  # 200 MiB, a whole number of the megabytes written


def huge_record_warc(path, size: int = HUGE_RECORD) -> None:
    """A small .warc.gz holding a page of ``size`` bytes, a page whose gzip body
    inflates to ``size`` bytes, then a real page: written a megabyte at a time."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    encoded = b"".join(bomb.compress(chunk) for _ in range(size >> 20)) + bomb.flush()
    with path.open("wb") as out:

        def record(url: str, http: bytes, length: int) -> bytes:
            return (
                f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\n"
                "WARC-Date: 2026-11-24T06:00:00Z\r\n"
                "WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000000>\r\n"
                "Content-Type: application/http; msgtype=response\r\n"
                f"Content-Length: {len(http) + length}\r\n\r\n"
            ).encode() + http

        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
        out.write(deflate.compress(record("https://x.example/huge", http, size)))
        for _ in range(size >> 20):
            out.write(deflate.compress(chunk))
        out.write(deflate.compress(b"\r\n\r\n") + deflate.flush())
        gzipped = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
        out.write(
            gzip.compress(
                record("https://x.example/bomb", gzipped, len(encoded)) + encoded + b"\r\n\r\n"
            )
        )
        page = (FIXTURES / "pages" / "daily8_starmer.html").read_bytes()
        ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
        out.write(gzip.compress(record("https://x.example/ok", ok, len(page)) + page + b"\r\n\r\n"))


def test_a_huge_warc_record_is_refused_with_bounded_memory(tmp_path):
    warc = tmp_path / "huge.warc.gz"
    huge_record_warc(warc)
    assert warc.stat().st_size < HUGE_RECORD // 100
    out = tmp_path / "out.jsonl"
    script = (
        "import resource, sys\n"
        "from scraper.cli import main\n"
        f"code = main(['extract', {str(warc)!r}, '-o', {str(out)!r}, '--workers', '1', "
        "'--max-bytes', '1000000'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("too_large") == 2
    assert [json.loads(line)["url"] for line in out.read_text().splitlines()] == [
        "https://x.example/ok"
    ]
    peak = int(result.stdout.split()[-1])
    assert peak < HUGE_RECORD * 3 // 4, f"peak memory {peak} bytes"
