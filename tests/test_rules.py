"""Per-site rules: each kind on a page the test writes, the lookup by site, and the
errors a bad rule gets."""

from __future__ import annotations

import pytest
import yaml

from scraper.cli import main
from scraper.config import SiteRule, load_settings
from scraper.errors import ConfigError
from scraper.extract import extract
from scraper.models import SiteRules
from scraper.rules import RuleBook

from .conftest import write_config

URL = "https://news.portal.example/story/1"
PARAGRAPHS = [
    "The regional council approved a new budget for road repairs on Tuesday evening, after a long debate.",
    "Work on the worst stretches of the coast road will start in March and last about six months.",
    "The council said the money would come from a one-off grant and would not raise local taxes this year.",
    "Residents who live along the road will get letters explaining the diversions a month in advance.",
]  # fmt: skip
PROMO = (
    "Our morning briefing brings the region's news to your inbox before breakfast, every weekday."
)
PAGE = f"""<html><head><title>Road repairs</title></head><body>
<article><h1>Council approves road repair budget</h1>
<div class="story-text">{"".join(f"<p>{p}</p>" for p in PARAGRAPHS[:2])}
<div class="mid-box"><p>{PROMO}</p></div>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS[2:])}
<p>More from the newsroom: what the new budget means for buses and trains in the spring.</p>
<p>Our reporters covered the budget meeting from the council chamber until late in the evening.</p>
</div></article>
<div class="aux-notes"><p>The editor's note: letters about this story are welcome and may be shortened for print.</p></div>
</body></html>"""


def rules(**given: object) -> SiteRules:
    return SiteRules(site="portal.example", **given)  # type: ignore[arg-type]


def test_without_rules_the_model_keeps_the_promo_and_the_tail():
    article = extract(PAGE, URL)
    assert article.paragraphs[:3] == [*PARAGRAPHS[:2], PROMO]
    assert any(p.startswith("More from the newsroom") for p in article.paragraphs)


def test_a_remove_selector_removes_its_blocks_whatever_the_model_says():
    article = extract(PAGE, URL, site_rules=rules(remove=("div.mid-box", "p:first-child")))
    assert PROMO not in article.paragraphs
    assert PARAGRAPHS[0] not in article.paragraphs
    assert PARAGRAPHS[1] in article.paragraphs


def test_a_keep_selector_keeps_its_blocks_whatever_the_model_says():
    note = "The editor's note: letters about this story are welcome and may be shortened for print."
    assert note not in extract(PAGE, URL).paragraphs
    assert note in extract(PAGE, URL, site_rules=rules(keep=(".aux-notes p",))).paragraphs


def test_remove_wins_over_keep():
    article = extract(PAGE, URL, site_rules=rules(keep=("div.mid-box",), remove=("div.mid-box p",)))
    assert PROMO not in article.paragraphs


def test_a_stop_phrase_removes_the_blocks_holding_it():
    article = extract(PAGE, URL, site_rules=rules(stop_phrases=("MORNING BRIEFING",)))
    assert PROMO not in article.paragraphs
    assert article.paragraphs[:2] == PARAGRAPHS[:2]


def test_the_body_ends_at_an_end_marker():
    article = extract(PAGE, URL, site_rules=rules(end_at=("More from the newsroom",)))
    assert article.paragraphs[-1] == PARAGRAPHS[-1]
    assert not any("reporters covered" in p for p in article.paragraphs)


def test_an_end_marker_never_cuts_before_the_body_begins():
    article = extract(PAGE, URL, site_rules=rules(end_at=("The regional council",)))
    assert article.paragraphs[0] == PARAGRAPHS[0]


def test_a_fixed_source_overrides_the_evidence():
    article = extract(PAGE, URL, site_rules=rules(source="Reuters"))
    assert (article.source, article.source_evidence) == ("Reuters", "site_rule")


def test_rules_apply_to_their_site_and_its_subdomains_the_most_specific_first():
    book = RuleBook(
        [
            SiteRule(site="portal.example", remove=["div.a"]),
            SiteRule(site="www.portal.example", keep=["p.b"], source="AP"),
            SiteRule(site="news.portal.example", remove=["div.c"]),
        ]
    )
    found = book.for_url("https://www.portal.example/x")
    assert found is not None and found.remove == ("div.a",) and found.keep == ("p.b",)
    assert found.source == "AP"  # two rules of one site add up
    news = book.for_url("https://news.portal.example/x")
    assert news is not None and news.remove == ("div.c",)
    assert book.for_url("https://other.example/x") is None
    assert book.for_url("https://notportal.example/x") is None


def test_a_bad_selector_is_a_one_line_config_error(tmp_path):
    path = write_config(
        tmp_path,
        [{"name": "f", "type": "files", "path": str(tmp_path)}],
        rules=[{"site": "portal.example", "remove": ["div..bad"]}],
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "rules[0].remove[0]" in message and "div..bad" in message and "\n" not in message


def test_a_bad_selector_or_rules_file_stops_the_run_with_exit_2(tmp_path, capsys):
    source = [{"name": "f", "type": "files", "path": str(tmp_path)}]
    path = write_config(tmp_path, source, rules=[{"site": "a.example", "keep": ["p["]}])
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad CSS selector" in err and len(err.strip().splitlines()) == 1
    path = write_config(tmp_path, source, rules=[{"include": "missing.yaml"}])
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml: cannot read rules file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing written


def test_rules_files_named_by_the_config_are_read_in_place(tmp_path):
    (tmp_path / "portals.yaml").write_text(
        yaml.safe_dump([{"site": "portal.example", "stop_phrases": ["briefing"], "source": "AP"}]),
        encoding="utf-8",
    )
    (tmp_path / "bad.yaml").write_text("- site: x.example\n  color: red\n", encoding="utf-8")
    (tmp_path / "hostile.yaml").write_text("- !!python/object/apply:os.system ['true']\n")
    source = [{"name": "f", "type": "files", "path": str(tmp_path)}]
    path = write_config(tmp_path, source, rules=[{"include": "portals.yaml"}])
    settings = load_settings(path)
    assert [r.site for r in settings.site_rules()] == ["portal.example"]
    path = write_config(tmp_path, source, rules=[{"include": "bad.yaml"}])
    with pytest.raises(ConfigError, match=r"bad.yaml: rules\[0\].color: Extra inputs"):
        load_settings(path)
    path = write_config(tmp_path, source, rules=[{"include": "hostile.yaml"}])
    with pytest.raises(ConfigError, match="hostile.yaml"):
        load_settings(path)


def test_a_site_must_be_a_host():
    with pytest.raises(ValueError, match="site must be a host"):
        SiteRule(site="https://a.example/x")
