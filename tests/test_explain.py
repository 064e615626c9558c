"""``scrape explain``: the reason named for each removed block, the origins of
captions, related cards and source, and the HTML report, parsed."""

from __future__ import annotations

import functools
from html import escape as html_escape

import httpx
import respx
from selectolax.lexbor import LexborHTMLParser

from scraper.cli import main
from scraper.config import TemplateConfig
from scraper.explain import REASONS, explain, report_html, report_text
from scraper.fetch import Fetcher
from scraper.models import SiteRules
from scraper.templates import SiteTemplates

from .conftest import FIXTURES, fixture_html, load_expected, public_resolver, write_config
from .test_templates import CHROME, SITE, learned, site_page, write_site

HOSTILE = "<script>alert('boo')</script><img src=x onerror=alert(1)>"  # as text on the page


def learned_template() -> frozenset[int]:
    return learned(SiteTemplates(TemplateConfig()), range(8)).template(SITE)


def steered_page() -> tuple[str, str, list[str]]:
    """A page of the synthetic site with a navigation bar, a link run, a related box, a
    chrome line and a paragraph the site's rules remove."""
    url, html, paragraphs = site_page(20)
    extra = (
        '<nav class="menu"><a href="/a">Home</a><a href="/b">News</a><a href="/c">Sport</a></nav>'
    )
    html = html.replace("<body>", f"<body>{extra}", 1)
    html = html.replace(
        '<div class="kq-text">',
        '<div class="kq-text"><p class="kicker">Dropped by a rule, this kicker line is long enough to read.</p>',
        1,
    )
    html = html.replace("</body>", f"<p>{html_escape(HOSTILE)}</p></body>")
    return url, html, paragraphs


def test_explain_names_the_reason_of_each_removed_block():
    url, html, paragraphs = steered_page()
    rules = SiteRules(site=SITE, remove=("p.kicker",), source="Valley Wire")
    found = explain(html, url, site_rules=rules, template=learned_template())
    by_text = {b.text: b for b in found.blocks}
    assert by_text[CHROME[1][2]].reason == "template" and not by_text[CHROME[1][2]].kept
    kicker = by_text["Dropped by a rule, this kicker line is long enough to read."]
    assert (kicker.reason, kicker.detail, kicker.kept) == ("site_rule", "remove", False)
    nav = by_text["HomeNewsSport"]
    assert nav.reason == "model" and "a <nav> element" in nav.detail and not nav.kept
    assert all(by_text[p].kept and by_text[p].reason == "model" for p in paragraphs)
    assert [b.text for b in found.blocks if b.kept] == paragraphs
    assert all(b.p is not None and 0 <= b.p <= 1 for b in found.blocks)
    assert found.source == ("Valley Wire", "site_rule", f"the rules of {SITE}")
    chrome = {text for _, _, text in CHROME}
    for block in found.blocks:
        if block.kept:
            continue
        if block.reason == "template":
            assert block.text in chrome
        elif block.reason == "site_rule":
            assert block is kicker
        elif block.reason == "field":  # the headline, if the model took it, is the title
            assert found.article is not None
            assert (block.detail, block.text) == ("the headline (title)", found.article.title)
        else:  # the model's own decision: the block was never in its body
            assert block.reason == "model" and block.text not in paragraphs


def test_explain_says_where_captions_related_cards_and_source_came_from():
    name = "yahoo_story_continues"
    found = explain(fixture_html(name), load_expected(name)["url"])
    assert found.captions and all("figcaption" in where for _, _, where in found.captions)
    assert found.related and all(
        where.startswith("a related box <") for _, _, where in found.related
    )
    source, evidence, clue = found.source
    assert (source, evidence) == (load_expected(name)["source"], found.article.source_evidence)
    assert clue
    text = report_text(found)
    assert "source      Reuters (evidence: jsonld" in text
    ad = next(b for b in found.blocks if b.text == "Advertisement")
    assert not ad.kept and "chrome line" in ad.detail


def test_lines_dropped_after_the_model_are_named():
    name = "daily8_starmer"
    found = explain(fixture_html(name), load_expected(name)["url"])
    chosen_not_kept = [b for b in found.blocks if not b.kept and b.reason != "model"]
    assert {b.reason for b in chosen_not_kept} <= set(REASONS)


def test_the_html_report_opens_with_the_removed_blocks_struck_through_by_reason():
    url, html, _ = steered_page()
    rules = SiteRules(site=SITE, remove=("p.kicker",))
    found = explain(html, url, site_rules=rules, template=learned_template())
    report = LexborHTMLParser(report_html(found))
    assert report.css("script") == [] and report.css("img") == []
    policy = report.css_first("meta[http-equiv='Content-Security-Policy']")
    assert policy is not None and "default-src 'none'" in policy.attributes["content"]
    removed = [b for b in found.blocks if not b.kept]
    struck = report.css("main .removed")
    assert len(struck) == len(removed)
    for block, node in zip(removed, struck, strict=True):
        assert f"r-{block.reason}" in node.attributes["class"]
        assert node.css_first("del").text() == block.text
    kept = report.css("main .kept")
    assert [n.text() for n in kept] == [b.text for b in found.blocks if b.kept]
    assert any(HOSTILE in n.text() for n in report.css("main p"))  # shown as text


def test_explain_of_a_file_prints_the_blocks_and_writes_the_report(tmp_path, capsys):
    page = tmp_path / "page.html"
    url, html, _ = steered_page()
    page.write_text(html, encoding="utf-8")
    out = tmp_path / "report.html"
    assert main(["explain", str(page), "--html", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"page        {url}" in printed and "why" in printed
    assert LexborHTMLParser(out.read_text(encoding="utf-8")).css_first("main") is not None


def test_explain_applies_the_configs_rules_and_learned_templates(tmp_path, capsys):
    pages = tmp_path / "pages"
    write_site(pages, 8)
    config = write_config(
        tmp_path,
        [{"name": "site", "type": "files", "path": str(pages)}],
        rules=[{"site": SITE, "remove": ["p.kicker"]}],
    )
    assert main(["--config", str(config)]) == 0
    page = tmp_path / "page.html"
    page.write_text(steered_page()[1], encoding="utf-8")
    capsys.readouterr()
    assert main(["explain", str(page), "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "learned template: 0 block(s)" not in printed
    assert "template " in printed and "site_rule" in printed


def test_explain_fetches_a_url_with_the_projects_fetcher(monkeypatch, capsys):
    url, html, _ = steered_page()
    router = respx.Router()
    router.get(url).mock(
        return_value=httpx.Response(
            200, content=html.encode(), headers={"content-type": "text/html"}
        )
    )
    router.get(f"https://{SITE}/robots.txt").mock(return_value=httpx.Response(404))
    monkeypatch.setattr(
        "scraper.cli.Fetcher",
        functools.partial(
            Fetcher, transport=httpx.MockTransport(router.handler), resolver=public_resolver
        ),
    )
    assert main(["explain", url]) == 0
    assert f"page        {url}" in capsys.readouterr().out


def test_explain_refuses_a_private_address_in_one_line(capsys):
    assert main(["explain", "http://127.0.0.1:9/page"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scrape: private_address") and len(err.strip().splitlines()) == 1


def test_explain_of_a_missing_file_or_a_page_without_article(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "missing.html")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    empty = tmp_path / "menu.html"
    empty.write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    assert main(["explain", str(empty)]) == 1
    assert "no article" in capsys.readouterr().out


def test_every_fixture_can_be_explained():
    for path in sorted((FIXTURES / "pages").glob("*.html")):
        found = explain(path.read_bytes(), f"https://portal.example/{path.stem}")
        assert found.article is not None and found.blocks


def test_a_byline_naming_the_source_is_named_an_attribution_line():
    paragraphs = [
        "The regional council approved a new budget for road repairs on Tuesday evening, after a long debate.",
        "Work on the worst stretches of the coast road will start in March and last about six months.",
        "The council said the money would come from a one-off grant and would not raise local taxes.",
    ]  # fmt: skip
    body = "".join(f"<p>{p}</p>" for p in ["By Jane Doe, Associated Press", *paragraphs])
    found = explain(f"<html><body><article><h1>Road repairs</h1>{body}</article></body></html>")
    byline = next(b for b in found.blocks if b.text.startswith("By Jane Doe"))
    if not byline.kept and byline.reason != "model":  # the model may leave it out itself
        assert byline.reason == "attribution"
    assert found.source[:2] == ("AP", "byline")
    assert found.article is not None and found.article.paragraphs == paragraphs


def test_blocks_the_cleaner_harvested_say_so():
    name = "yahoo_story_continues"
    found = explain(fixture_html(name), load_expected(name)["url"])
    caption = next(b for b in found.blocks if b.text.startswith("FILE PHOTO"))
    assert "harvested as a caption" in caption.detail
    titles = {title for title, _, _ in found.related}
    cards = [b for b in found.blocks if b.text in titles]
    assert cards and all("harvested as a related card" in b.detail for b in cards)


def test_explain_of_a_page_past_the_time_limit_is_one_line_and_no_report(tmp_path, capsys):
    body = "".join(
        f"<p>Paragraph {i} tells a long story about the council.</p>" for i in range(4000)
    )
    page = tmp_path / "big.html"
    page.write_text(f"<html><body><article><h1>Big</h1>{body}</article></body></html>")
    source = {"name": "pages", "type": "files", "path": str(tmp_path)}
    config = write_config(tmp_path, [source], extract={"workers": 1, "timeout": 0.01})
    report = tmp_path / "report.html"
    assert main(["explain", str(page), "--config", str(config), "--html", str(report)]) == 1
    err = capsys.readouterr().err
    assert "time limit" in err and len(err.strip().splitlines()) == 1
    assert not report.exists()


def test_a_second_copy_of_the_article_is_named_a_copy():
    story = "".join(
        f"<p>Part {i}: the council agreed on Monday to rebuild the old bridge over the river, "
        "ending a decade of argument about the cost.</p>"
        for i in range(5)
    )
    html = (
        f"<html><body><main><h1>Bridge</h1><div class='wide'>{story}</div>"
        f"<div class='narrow'>{story}</div></main></body></html>"
    )
    found = explain(html, "https://news.example/bridge")
    parts = [b for b in found.blocks if b.text.startswith("Part ")]
    assert [b.kept for b in parts] == [True] * 5 + [False] * 5
    assert {b.reason for b in parts[5:]} == {"copy"}
