from pathlib import Path

import pytest

from scraper.cli import main
from scraper.config import FilesSource, load_settings
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
