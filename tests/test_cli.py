import gzip
import io
import json
import os
import subprocess
import sys
import zlib

import pytest

from scraper.cli import main
from scraper.config import CONTROL_CHARS
from scraper.errors import SinkError
from scraper.normalise import normalise_line

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


def exit_code_of(argv: list[str]) -> int:
    """``main``'s exit code, also when argparse exits by itself."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def one_error_line(err: str) -> str:
    """The single line of a usage error on stderr, checked to be one and clean."""
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("scrape: "), err
    return err.strip()


def files_config(tmp_path, **extra):
    return write_config(
        tmp_path, [{"name": "fx", "type": "files", "path": str(FIXTURES / "pages")}], **extra
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "-1"],
        ["--workers", "100000"],
        ["--workers", "two"],
        ["--since", "999999999w"],
        ["--since", "36526d"],
        ["--since", "soon"],
    ],
)
def test_a_bad_run_option_exits_2_before_anything_is_written(tmp_path, capsys, args):
    config = files_config(tmp_path)
    assert exit_code_of(["--config", str(config), *args]) == 2
    assert args[0] in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "state.sqlite").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "-1"],
        ["--workers", "257"],
        ["--timeout", "inf"],
        ["--timeout", "nan"],
        ["--timeout", "-1"],
        ["--timeout", "0"],
        ["--timeout", "1e12"],
        ["--timeout", "soon"],
    ],
)
def test_a_bad_extract_option_exits_2_with_one_line(tmp_path, capsys, args):
    page = FIXTURES / "pages" / "daily8_starmer.html"
    out = tmp_path / "out.jsonl"
    assert exit_code_of(["extract", str(page), "-o", str(out), *args]) == 2
    assert args[0] in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("runs", ["-5", "0", "501", "many"])
def test_status_needs_a_run_count_from_1(tmp_path, capsys, runs):
    config = files_config(tmp_path)
    assert exit_code_of(["status", "--config", str(config), "-n", runs]) == 2
    assert "-n/--runs" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"extract": {"workers": 1, "timeout": float("inf")}}, "extract.timeout"),
        ({"extract": {"workers": 1, "timeout": 1e12}}, "extract.timeout"),
        ({"extract": {"workers": -1}}, "extract.workers"),
        ({"fetch": {"timeout": float("nan")}}, "fetch.timeout"),
        ({"fetch": {"robots_timeout": float("inf")}}, "fetch.robots_timeout"),
        ({"fetch": {"per_host_delay": float("inf")}}, "fetch.per_host_delay"),
        ({"fetch": {"retry_after_max": 1e9}}, "fetch.retry_after_max"),
        ({"fetch": {"max_bytes": 10**12}}, "fetch.max_bytes"),
        ({"fetch": {"user_agent": "bot\r\nX-Injected: 1"}}, "fetch.user_agent"),
        ({"state": "state\0.sqlite"}, "state"),
    ],
)
def test_a_bad_number_in_the_config_exits_2_before_any_run_folder(tmp_path, capsys, extra, field):
    config = files_config(tmp_path, **extra)
    assert main(["--config", str(config)]) == 2
    assert f"config.yaml: {field}: " in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "state.sqlite").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_age": "9999999w"}, "max_age"),
        ({"max_age": "P99999999W"}, "max_age"),
        ({"max_age": float("inf")}, "max_age"),
        ({"max_items": 10**12}, "max_items"),
        ({"name": "fx\x1b[2J"}, "name"),
        ({"include": ["(a)\\1"]}, "include[0]"),
    ],
)
def test_a_bad_source_field_exits_2_before_any_run_folder(tmp_path, capfd, fields, field):
    source = {"name": "fx", "type": "files", "path": str(FIXTURES / "pages"), **fields}
    config = write_config(tmp_path, [source])
    assert main(["--config", str(config)]) == 2
    line = one_error_line(capfd.readouterr().err)  # capfd: RE2's own C++ log too
    assert f"config.yaml: sources[0].{field}: " in line and "\x1b" not in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "state.sqlite").exists()


def test_an_output_directory_that_cannot_be_created_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = files_config(tmp_path, output={"dir": str(blocker / "out")})
    assert main(["--config", str(config)]) == 2
    assert "cannot create the output directory" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "state.sqlite").exists()


def test_a_state_directory_that_cannot_be_created_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = files_config(tmp_path, state=str(blocker / "state.sqlite"))
    assert main(["--config", str(config)]) == 2
    assert "cannot create the state directory" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out" / "runs").exists()


def test_an_output_that_fails_during_the_run_exits_2_not_1(tmp_path, capsys, monkeypatch):
    from scraper.sinks import Sinks

    def cannot(self, started, taken=None):
        raise SinkError("cannot create run directory: No space left on device")

    monkeypatch.setattr(Sinks, "new_run", cannot)
    assert main(["--config", str(files_config(tmp_path))]) == 2
    assert "No space left" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("target", ["a directory", "under a file"])
def test_extract_to_an_output_that_cannot_be_written_exits_2(tmp_path, capsys, target):
    page = FIXTURES / "pages" / "daily8_starmer.html"
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    out = tmp_path / "dir" if target == "a directory" else tmp_path / "file" / "out.jsonl"
    assert exit_code_of(["extract", str(page), "-o", str(out), "--workers", "1"]) == 2
    assert f"cannot write {out}" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dir", "file"]


def test_clean_text_to_a_directory_exits_2(tmp_path, capsys):
    assert exit_code_of(["clean-text", str(SEED), "-o", str(tmp_path)]) == 2
    one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scraper.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,  # a FIFO that is opened would block for ever
        check=False,
    )


def test_a_fifo_as_config_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    result = run_cli("--config", str(fifo))
    assert result.returncode == 2
    assert "not a regular file" in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_a_fifo_given_to_clean_text_is_one_failure_and_the_rest_is_cleaned(tmp_path):
    fifo = tmp_path / "dump.txt"
    os.mkfifo(fifo)
    result = run_cli("clean-text", str(fifo), str(SEED))
    assert result.returncode == 1
    assert one_error_line(result.stderr) == f"scrape: cannot read {fifo}: not a regular file"
    assert result.stdout == SEED_CLEAN.read_text(encoding="utf-8")


def test_a_fifo_given_to_extract_is_one_failure(tmp_path):
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    result = run_cli("extract", str(fifo), "--workers", "1")
    assert result.returncode == 1
    assert "not a regular file or directory" in one_error_line(result.stderr)


NASTY = "\x1b[2J\rfake\nline\x85nel\u2028sep"


def test_control_characters_in_a_file_name_are_escaped_and_the_file_named(tmp_path, capsys):
    bad = tmp_path / f"page{NASTY}.html.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 not gzip at all")
    assert main(["extract", str(tmp_path), "--workers", "1"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "page\\x1b[2J\\rfake\\nline\\x85nel\\u2028sep.html.gz: corrupt gzip data" in line
    assert str(tmp_path) in line


def test_control_characters_in_a_url_stay_on_one_escaped_line(tmp_path, capsys):
    menu = tmp_path / "menu.html"
    menu.write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    url = f"https://portal.example/{NASTY}"
    assert main(["extract", str(menu), "--url", url, "--workers", "1"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(
        "scrape: https://portal.example/\\x1b[2J\\rfake\\nline\\x85nel\\u2028sep:"
    )


def test_control_characters_in_a_log_message_are_escaped_in_both_log_formats(tmp_path, capsys):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / f"bad{NASTY}.html.gz").write_bytes(b"\x1f\x8b not gzip")
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config)]) == 3
    lines = capsys.readouterr().err.splitlines()  # splitlines also splits at \x85, \u2028
    assert len(lines) == 2 and "bad\\x1b[2J\\rfake\\nline\\x85nel\\u2028sep" in lines[0]

    assert main(["--log-format", "json", "--config", str(config), "--full"]) == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert f"bad{NASTY}.html.gz" in json.loads(lines[0])["message"]


def test_page_text_with_control_characters_gives_clean_text_and_matching_records(tmp_path):
    html = (FIXTURES / "pages" / "daily8_starmer.html").read_text(encoding="utf-8")
    first = html.index("<p>", html.index("<article")) + len("<p>")
    nasty = "\x1b[31mRed\x00\x07 alert\r\ncarriage\x85next\u2028line\u2029para\x9b2J end. "
    page = tmp_path / "page.html"
    page.write_text(html[:first] + nasty + html[first:], encoding="utf-8")
    text, jsonl = tmp_path / "out.txt", tmp_path / "out.jsonl"
    assert main(["extract", str(page), "--format", "text", "-o", str(text), "--workers", "1"]) == 0
    assert main(["extract", str(page), "-o", str(jsonl), "--workers", "1"]) == 0
    out = text.read_text(encoding="utf-8")
    assert "Red alert carriage next line para2J end." in out
    assert not CONTROL_CHARS.search(out.replace("\n", ""))
    record = json.loads(jsonl.read_text(encoding="utf-8"))
    assert out.split("\n")[2:] == [normalise_line(p) for p in record["paragraphs"]]
    assert record["paragraphs"][0].startswith("[31mRed alert carriage next line para2J end.")


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
        "import sys\n"
        "from scraper.cli import main\n"
        f"code = main(['extract', {str(warc)!r}, '-o', {str(out)!r}, '--workers', '1', "
        "'--max-bytes', '1000000'])\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
        # (here pytest, whose size depends on the tests run before) across execve.
        "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(int(hwm) * 1024)\n"
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


def _site_folder(tmp_path, count: int = 30):
    from .test_templates import site_page

    folder = tmp_path / "site"
    folder.mkdir()
    for number in range(count):
        (folder / f"{number:02}.html").write_text(site_page(number)[1], encoding="utf-8")
    return folder


def test_extract_learns_a_sites_template_in_a_first_pass(tmp_path, capsys):
    from .test_templates import CHROME, site_page

    folder = _site_folder(tmp_path)
    assert main(["extract", str(folder), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["paragraphs"] for r in lines] == [site_page(n)[2] for n in range(30)]
    assert not any(text in p for r in lines for p in r["paragraphs"] for _, _, text in CHROME)
    assert "learned the templates of 1 site(s) in a first pass" in captured.err


def test_extract_with_no_learn_makes_one_pass(tmp_path, capsys):
    folder = _site_folder(tmp_path, 6)
    assert main(["extract", str(folder), "--workers", "1", "--no-learn"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 6 and "learned" not in captured.err


def test_extract_of_fewer_pages_than_min_pages_streams_in_one_pass(tmp_path, capsys):
    folder = _site_folder(tmp_path, 4)
    assert main(["extract", str(folder), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4 and "learned" not in captured.err


def test_extract_reads_and_updates_a_states_learned_templates(tmp_path, capsys):
    from .test_templates import SITE

    folder = _site_folder(tmp_path, 8)
    state = tmp_path / "state.sqlite"
    assert main(["extract", str(folder), "--workers", "1", "--state", str(state)]) == 0
    config = write_config(tmp_path, [{"name": "f", "type": "files", "path": str(folder)}])
    capsys.readouterr()
    assert main(["templates", "--config", str(config), SITE]) == 0
    assert "8 pages learned, 8 template blocks" in capsys.readouterr().out
    one = tmp_path / "one"
    one.mkdir()
    (one / "p.html").write_bytes((folder / "07.html").read_bytes())
    assert main(["extract", str(one), "--workers", "1", "--state", str(state)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_extract_keeps_failures_in_input_order_across_two_passes(tmp_path, capsys):
    folder = _site_folder(tmp_path, 6)
    (folder / "03b.html").write_bytes(b"")
    assert main(["extract", str(folder), "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 6
    failed = [line for line in captured.err.splitlines() if "03b.html" in line]
    assert len(failed) == 1


def test_extract_state_does_not_apply_with_a_cluster(tmp_path, capsys):
    code = main(["extract", str(tmp_path), "--cluster", "local:1", "--state", str(tmp_path / "s")])
    assert code == 2
    assert "--state does not apply with --cluster" in capsys.readouterr().err
