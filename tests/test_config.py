from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from scraper.cli import main
from scraper.config import FilesSource, ListingSource, load_settings, parse_settings
from scraper.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_is_valid_and_offline():
    settings = load_settings(Path(__file__).parent.parent / "config.yaml")
    assert all(isinstance(s, FilesSource) for s in settings.sources)
    assert settings.sources[0].path.is_dir()


def test_relative_paths_are_taken_from_the_config_directory(tmp_path):
    path = write(tmp_path, "state: s.sqlite\nsources: [{name: a, type: files, path: pages}]\n")
    settings = load_settings(path)
    assert settings.state == tmp_path / "s.sqlite"
    assert settings.sources[0].path == tmp_path / "pages"
    assert settings.output.dir == tmp_path / "out"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("sources: [{name: a, type: feed}]", "sources[0].url"),
        ("sources: [{name: a, type: files, path: x, colour: red}]", "sources[0].colour"),
        ("fetch: {timeout: soon}\nsources: [{name: a, type: files, path: x}]", "fetch.timeout"),
        ("outptu: {}\nsources: [{name: a, type: files, path: x}]", "outptu"),
        (
            "output: {formats: [pdf]}\nsources: [{name: a, type: files, path: x}]",
            "output.formats[0]",
        ),
        ("sources: [{name: a, type: urls, urls: ['ftp://x']}]", "sources[0].urls"),
        ("sources: []", "sources"),
        (
            "template: {min_share: 2}\nsources: [{name: a, type: files, path: x}]",
            "template.min_share",
        ),
        (
            "template: {max_age: soon}\nsources: [{name: a, type: files, path: x}]",
            "template.max_age",
        ),
        (
            "rules: [{site: a.example, keep: ['p[']}]\nsources: [{name: a, type: files, path: x}]",
            "rules[0].keep[0]",
        ),
        ("rules: [{include: 3}]\nsources: [{name: a, type: files, path: x}]", "rules[0].include"),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert f": {field}:" in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, capsys):
    path = write(tmp_path, "fetch: {concurrency: many}\nsources: [{name: a, type: files, path: x}]")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "fetch.concurrency" in err
    assert not (tmp_path / "out").exists()


def test_yaml_syntax_error_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config.yaml: .* at line \d+$"):
        load_settings(write(tmp_path, "sources:\n  - name: [unclosed\n"))


def test_missing_config_file(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_yaml_tags_are_not_executed(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, "!!python/object/apply:os.system ['true']"))


FEED = {"name": "f", "type": "feed", "url": "https://news.example/feed"}
LISTING = {
    "name": "l",
    "type": "listing",
    "url": "https://news.example/section/",
    "link_selector": "h2 a",
}


def one_source(**fields):
    return parse_settings({"sources": [fields]}).sources[0]


def config_error(**fields) -> str:
    with pytest.raises(ConfigError) as info:
        one_source(**fields)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("12h", timedelta(hours=12)),
        ("90s", timedelta(seconds=90)),
        ("1w", timedelta(weeks=1)),
        ("15m", timedelta(minutes=15)),
        (" 1.5h ", timedelta(minutes=90)),
        (90, timedelta(seconds=90)),
        ("P2D", timedelta(days=2)),
    ],
)
def test_max_age_takes_a_unit_suffix_seconds_or_iso_8601(value, expected):
    assert one_source(**FEED, max_age=value).max_age == expected


@pytest.mark.parametrize("value", ["soon", "2 fortnights", "2x", "d2"])
def test_bad_max_age_names_the_field(value):
    assert config_error(**FEED, max_age=value).startswith("config: sources[0].max_age: ")


def test_since_from_yaml_dates_and_times_is_timezone_aware():
    data = yaml.safe_load(
        "sources:\n"
        "  - {name: a, type: feed, url: 'https://news.example/a', since: 2024-05-01}\n"
        "  - {name: b, type: feed, url: 'https://news.example/b', since: 2024-05-01T10:00:00}\n"
        "  - {name: c, type: feed, url: 'https://news.example/c', since: '2024-05-01T12:00+02:00'}\n"
    )
    assert [s.since for s in parse_settings(data).sources] == [
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
    ]


def test_cutoff_is_the_later_of_since_and_max_age():
    now = datetime(2024, 5, 10, tzinfo=UTC)
    assert one_source(**FEED).cutoff(now) is None
    assert one_source(**FEED, max_age="2d").cutoff(now) == datetime(2024, 5, 8, tzinfo=UTC)
    assert one_source(**FEED, since="2024-05-09").cutoff(now) == datetime(2024, 5, 9, tzinfo=UTC)
    assert one_source(**FEED, since="2024-05-01", max_age="2d").cutoff(now) == datetime(
        2024, 5, 8, tzinfo=UTC
    )
    assert one_source(**FEED, since="2024-05-09", max_age="2d").cutoff(now) == datetime(
        2024, 5, 9, tzinfo=UTC
    )


def test_include_any_and_exclude_none():
    source = one_source(**FEED, include=["/world/", "/uk/"], exclude=[r"/live/", r"\.pdf$"])
    assert source.wants("https://news.example/world/1")
    assert source.wants("https://news.example/uk/2")
    assert not source.wants("https://news.example/sport/3")
    assert not source.wants("https://news.example/world/live/4")
    assert not source.wants("https://news.example/uk/report.pdf")
    assert one_source(**FEED).wants("https://anything.example/")


@pytest.mark.parametrize(
    "base",
    [
        FEED,
        {"name": "u", "type": "urls", "urls": ["https://news.example/a"]},
        {"name": "s", "type": "sitemap", "url": "https://news.example/sitemap.xml"},
        LISTING,
    ],
)
def test_invalid_regex_names_the_pattern(base):
    assert config_error(**base, include=["(unclosed"]).startswith("config: sources[0].include[0]: ")
    assert config_error(**base, exclude=["ok", "[z-a]"]).startswith(
        "config: sources[0].exclude[1]: "
    )


def test_listing_source_defaults():
    source = one_source(**LISTING)
    assert isinstance(source, ListingSource)
    assert (source.follow, source.max_pages) == (None, 1)


@pytest.mark.parametrize("field", ["link_selector", "follow"])
@pytest.mark.parametrize("selector", ["a[", "h2 >", "::", "a:nth-child("])
def test_bad_css_selector_names_the_field(field, selector):
    message = config_error(**{**LISTING, field: selector})
    assert message.startswith(f"config: sources[0].{field}: ")
    assert "bad CSS selector" in message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_pages": 0}, "max_pages"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"link_selector": ""}, "link_selector"),
    ],
)
def test_bad_listing_source_names_the_field(fields, field):
    assert config_error(**{**LISTING, **fields}).startswith(f"config: sources[0].{field}: ")


def test_listing_source_needs_a_link_selector():
    fields = {k: v for k, v in LISTING.items() if k != "link_selector"}
    assert config_error(**fields) == "config: sources[0].link_selector: Field required"


def test_the_commented_live_examples_in_config_yaml_are_valid():
    import re

    import yaml

    from scraper.config import parse_settings

    text = (Path(__file__).parent.parent / "config.yaml").read_text(encoding="utf-8")
    uncommented = re.sub(r"^  # (- |  )", r"  \1", text, flags=re.M)
    settings = parse_settings(yaml.safe_load(uncommented))
    types = {s.type for s in settings.sources}
    assert types == {"files", "feed", "sitemap", "listing", "urls"}


def test_a_catastrophic_pattern_matches_in_linear_time():
    """`(a+)+$` backtracks for ever in Python's re on a long run of a's ending in b;
    RE2 answers at once."""
    import time

    source = one_source(**FEED, include=["(a+)+$"])
    url = "https://news.example/" + "a" * 100_000 + "b"
    started = time.monotonic()
    assert not source.wants(url)
    assert source.wants("https://news.example/aaaa")
    assert time.monotonic() - started < 5  # generous: a backtracking engine never ends


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=/world/)", r"(?<!live)/news/", r"(?P<x>a)(?P=x)", r"\Z"]
)
def test_a_pattern_re2_cannot_take_is_refused_naming_the_field(pattern):
    message = config_error(**FEED, exclude=["/live/", pattern])
    assert message.startswith("config: sources[0].exclude[1]: ")
    assert "no backreferences or lookaround" in message


def test_patterns_are_compiled_once_and_survive_a_copy():
    source = one_source(**FEED, include=[r"(?i)/WORLD/\d+"])
    assert source.wants("https://news.example/world/12")
    copy = source.model_copy(deep=True)
    assert copy.wants("https://news.example/World/3") and not copy.wants("https://x/uk/3")
    assert source.model_dump()["include"] == [r"(?i)/WORLD/\d+"]


def test_a_backreference_pattern_exits_2_with_one_line(tmp_path, capfd):
    path = write(
        tmp_path,
        "sources: [{name: a, type: feed, url: 'https://news.example/f', include: ['(a)\\1']}]",
    )
    assert main(["--config", str(path)]) == 2
    err = capfd.readouterr().err  # capfd: RE2 logs from C++ unless told not to
    assert err.count("\n") == 1 and "sources[0].include[0]: " in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_age": "36526d"}, "max_age"),
        ({"max_age": "99999999999999999999999w"}, "max_age"),
        ({"max_age": float("nan")}, "max_age"),
        ({"max_items": 0}, "max_items"),
        ({"max_items": 10**9}, "max_items"),
        ({"name": "a\nb"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"url": "https://news.example:70000/feed"}, "url"),
        ({"url": "https://[::1/feed"}, "url"),
        ({"url": "https://news.example/a b"}, "url"),
        ({"url": "https:///feed"}, "url"),
    ],
)
def test_out_of_range_or_malformed_source_fields_name_the_field(fields, field):
    assert config_error(**{**FEED, **fields}).startswith(f"config: sources[0].{field}: ")


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("fetch", "timeout", float("nan")),
        ("fetch", "timeout", float("inf")),
        ("fetch", "timeout", 3601),
        ("fetch", "robots_timeout", 0),
        ("fetch", "per_host_delay", -1),
        ("fetch", "max_crawl_delay", float("inf")),
        ("fetch", "backoff_max", 1e6),
        ("fetch", "retry_after_max", float("nan")),
        ("fetch", "max_bytes", 2_000_000_000),
        ("fetch", "user_agent", "bot\x1b[2J"),
        ("fetch", "user_agent", ""),
        ("extract", "timeout", float("inf")),
        ("extract", "timeout", -1),
        ("extract", "workers", -1),
        ("extract", "workers", 257),
    ],
)
def test_every_number_is_finite_and_bounded(section, key, value):
    with pytest.raises(ConfigError) as info:
        parse_settings({section: {key: value}, "sources": [FEED]})
    assert str(info.value).startswith(f"config: {section}.{key}: ")


def test_the_bounds_themselves_are_accepted():
    settings = parse_settings(
        {
            "fetch": {"timeout": 3600, "retry_after_max": 86400, "max_bytes": 10**9},
            "extract": {"timeout": 3600, "workers": 256},
            "sources": [{**FEED, "max_age": "36525d", "max_items": 10**7}],
        }
    )
    assert settings.sources[0].max_age == timedelta(days=36525)


def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 10_000_001)
    with pytest.raises(ConfigError, match="larger than"):
        load_settings(big)


def test_sitemap_max_files_defaults_to_1000_and_must_be_positive():
    source = {"name": "s", "type": "sitemap", "url": "https://x.example/sitemap.xml"}
    assert parse_settings({"sources": [source]}).sources[0].max_files == 1000
    with pytest.raises(ConfigError, match=r"sources\[0\]\.max_files: "):
        parse_settings({"sources": [{**source, "max_files": 0}]})


def test_run_folder_retention_defaults_and_bounds():
    files = [{"name": "a", "type": "files", "path": "x"}]
    output = parse_settings({"sources": files}).output
    assert (output.keep_runs, output.keep_days, output.skip_empty_runs) == (200, None, True)
    unlimited = {"keep_runs": None, "keep_days": 7}
    assert parse_settings({"output": unlimited, "sources": files}).output.keep_runs is None
    for bad, field in (({"keep_runs": 0}, "keep_runs"), ({"keep_days": 0}, "keep_days")):
        with pytest.raises(ConfigError, match=f"output.{field}"):
            parse_settings({"output": bad, "sources": files})


def test_template_settings_take_durations_and_rules_files_are_relative_to_the_config(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "portals.yaml").write_text(
        "rules:\n  - site: a.example\n    source: AP\n"
    )
    text = (
        "template: {min_pages: 3, min_share: 0.5, max_age: 30d}\n"
        "rules: [{include: rules/portals.yaml}, {site: b.example, remove: [div.x]}]\n"
        "sources: [{name: a, type: files, path: x}]"
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.template.max_age.days == 30 and settings.template.min_pages == 3
    assert [(r.site, r.source) for r in settings.site_rules()] == [
        ("a.example", "AP"),
        ("b.example", None),
    ]
