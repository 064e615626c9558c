"""Extraction against the hand-written aggregator fixtures and hostile input."""

import codecs
import signal
import sys
import time
from datetime import datetime

import pytest

from scraper.errors import ExtractError, NotAnArticle
from scraper.extract import (
    ExtractTimeout,
    Meta,
    _unique_captions,
    _without_headings,
    decode_html,
    extract,
    extract_page,
    main_text,
    parse_page,
    reading_document,
)
from scraper.models import Caption, Fetched
from scraper.normalise import article_seed_text

from .conftest import SEED_CLEAN, fixture_html, fixture_names, load_expected

NAMES = fixture_names()


def test_there_are_at_least_six_aggregator_fixtures():
    assert len(NAMES) >= 6


@pytest.fixture(scope="module")
def extracted():
    return {name: extract(fixture_html(name), load_expected(name)["url"]) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_fixture_title_source_and_body_match(extracted, name):
    expected, got = load_expected(name), extracted[name]
    assert got.title == expected["title"]
    assert got.source == expected["source"]
    assert got.standfirst == expected["standfirst"]
    assert got.paragraphs == expected["paragraphs"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_leaks_no_boilerplate(extracted, name):
    got = extracted[name]
    text = "\n".join([got.title, got.standfirst or "", *got.paragraphs])
    leaked = [phrase for phrase in load_expected(name)["boilerplate"] if phrase in text]
    assert leaked == []


@pytest.mark.parametrize("name", NAMES)
def test_fixture_metadata(extracted, name):
    expected, got = load_expected(name), extracted[name]
    assert got.canonical_url == expected["url"]
    assert got.site == expected["site"]
    assert got.authors == expected["authors"]
    if expected["published"]:
        assert datetime.fromisoformat(got.published) == datetime.fromisoformat(
            expected["published"]
        )


@pytest.mark.parametrize("name", NAMES)
def test_fixture_captions_stay_out_of_the_body(extracted, name):
    expected, got = load_expected(name), extracted[name]
    assert [(c.text, c.credit) for c in got.captions] == [
        (c["text"], c["credit"]) for c in expected["captions"]
    ]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_related_cards_become_links(extracted, name):
    expected, got = load_expected(name), extracted[name]
    titles = [r.title for r in got.related]
    assert [t for t in expected["related_titles"] if t not in titles] == []


def test_daily8_fixture_gives_the_golden_seed_text(extracted):
    assert article_seed_text(extracted["daily8_starmer"]) == SEED_CLEAN.read_text(encoding="utf-8")


def test_broken_utf8_bytes_never_raise_and_keep_the_rest():
    para = "<p>Le caf\u00e9 cr\u00e8me est servi \u00e0 la brasserie, pr\u00e8s de l\u2019\u00e9glise.</p>"
    body = ("<html><body><article>" + para * 10).encode() + b"\xff\xfe\x81</article></body></html>"
    text = decode_html(body)
    assert "caf\u00e9 cr\u00e8me" in text and "\ufffd" in text


def test_undeclared_legacy_encoding_is_detected():
    para = (
        "<p>Le caf\u00e9 cr\u00e8me est servi \u00e0 la brasserie, pr\u00e8s de l'\u00e9glise.</p>"
    )
    body = ("<html><body><article>" + para * 20 + "</article></body></html>").encode("cp1252")
    assert "caf\u00e9 cr\u00e8me" in decode_html(body)


def test_declared_charset_wins_and_meta_charset_is_read():
    body = '<meta charset="windows-1251"><p>\u041f\u0440\u0438\u0432\u0435\u0442</p>'.encode(
        "cp1251"
    )
    assert "\u041f\u0440\u0438\u0432\u0435\u0442" in decode_html(body)
    assert decode_html("caf\u00e9".encode("latin-1"), "iso-8859-1") == "caf\u00e9"


def test_header_charset_beats_meta_and_a_byte_order_mark_beats_both():
    text = "<meta charset='iso-8859-1'><p>\u041f\u0440\u0438\u0432\u0435\u0442 caf\u00e9</p>"
    assert "\u041f\u0440\u0438\u0432\u0435\u0442" in decode_html(text.encode("utf-8"), "utf-8")
    assert "\u041f\u0440\u0438" in decode_html(b"\xef\xbb\xbf" + text.encode(), "iso-8859-1")
    assert "caf\u00e9" in decode_html(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))


ARTICLE_HTML = (
    "<html><head>{meta}</head><body><article><h1>Council votes</h1>"
    + "".join(f"<p>Paragraph {i} says what the council decided on Monday.</p>" for i in range(4))
    + "</article></body></html>"
)


@pytest.mark.parametrize("pad", ["", " "])  # odd and even byte counts
def test_a_meta_utf16_declaration_on_an_ascii_page_means_utf8(pad):
    html = ARTICLE_HTML.format(meta=f'<meta charset="utf-16">{pad}')
    assert decode_html(html.encode()) == html
    assert extract(html.encode(), "https://x.example/v").title == "Council votes"


@pytest.mark.parametrize("where", ["meta", "header"])
def test_utf7_is_never_used(where):
    html = '<meta charset="utf-7"><p>Hi +ADw-script+AD4-alert(1)+ADw-/script+AD4-</p>'
    text = decode_html(html.encode(), "utf-7" if where == "header" else None)
    assert text == html
    assert "<script>" not in text


@pytest.mark.parametrize("where", ["meta", "header"])
def test_latin1_bytes_declared_as_utf8_are_read_as_windows_1252(where):
    html = '<meta charset="utf-8"><h1>Se\u00f1or Mu\u00f1oz</h1><p>El ni\u00f1o comi\u00f3 en M\u00e1laga.</p>'
    body = html.encode("latin-1")
    assert decode_html(body, "utf-8" if where == "header" else None) == html


def test_utf8_with_a_few_broken_bytes_stays_utf8_when_declared():
    html = '<meta charset="utf-8"><p>Caf\u00e9 cr\u00e8me, \u00e0 la brasserie.</p>'
    assert decode_html(html.encode() + b"\xff") == html + "\ufffd"


@pytest.mark.parametrize("label", ["bogus-charset", "iso-2022-kr", "replacement", "latin-1"])
def test_unknown_and_replacement_labels_are_ignored(label):
    html = f'<meta charset="{label}"><p>Caf\u00e9 cr\u00e8me \u2014 \u041f\u0440\u0438\u0432\u0435\u0442</p>'
    assert decode_html(html.encode(), label) == html


def test_labels_map_to_their_whatwg_encoding():
    assert decode_html(b"<p>caf\xe9 \x80</p>", "ISO-8859-1") == "<p>caf\u00e9 \u20ac</p>"
    assert decode_html(b"<p>caf\xe9 \x80</p>", "us-ascii") == "<p>caf\u00e9 \u20ac</p>"
    meta = b'<meta charset="x-user-defined"><p>caf\xe9 \x80</p>'
    assert decode_html(meta) == '<meta charset="x-user-defined"><p>caf\u00e9 \u20ac</p>'
    sjis = (
        '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><p>\u65e5\u672c</p>'
    )
    assert decode_html(sjis.encode("shift_jis")) == sjis


def test_malformed_html_still_extracts():
    html = (
        "<html><body><div><article><h1>Storm hits coast</h2><p>Heavy rain fell across the coast on "
        "Monday, officials said, closing roads.<p>Crews worked through the night to clear the "
        "fallen trees and restore power to homes.<div><span></article></b></i>"
    )
    article = extract(html, "https://x.example/storm")
    assert article.title == "Storm hits coast"
    assert any(p.startswith("Heavy rain fell") for p in article.paragraphs)


@pytest.mark.parametrize("body", [b"", b"   ", bytes(range(256)) * 20, b"just some plain text"])
def test_non_html_is_not_an_article(body):
    with pytest.raises(NotAnArticle):
        extract(body, "https://x.example/")


def test_deeply_nested_html_gives_an_article_or_a_clean_error():
    html = "<div>" * 50_000 + "<p>A paragraph of text buried very deep in the page.</p>"
    try:
        article = extract(html, "https://x.example/deep")
    except ExtractError:
        return
    assert "buried very deep" in article.text


def big_page(paragraphs: int = 4000) -> Fetched:
    body = "".join(
        f"<p>Paragraph {i} tells a long story about the town council.</p>"
        for i in range(paragraphs)
    )
    html = f"<html><body><article><h1>Big</h1>{body}</article></body></html>"
    return Fetched(url="https://x.example/big", source="t", body=html.encode())


def test_extraction_past_the_time_limit_is_abandoned():
    with pytest.raises(ExtractTimeout):
        extract_page(big_page(), timeout=0.01)


def test_a_time_limit_whose_alarm_was_swallowed_still_fails_the_page(monkeypatch):
    """An alarm that lands in a finalizer run by the garbage collector raises there,
    where the exception is swallowed: the page still fails once extract returns."""
    module = sys.modules["scraper.extract"]  # the package exports the function too
    real = module.extract

    def swallowing(*args, **kwargs):
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.001)
            time.sleep(0.05)
        except ExtractTimeout:
            pass  # as a finalizer would
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "extract", swallowing)
    with pytest.raises(ExtractTimeout):
        extract_page(big_page(20), timeout=5)


def _story(paragraphs: int, extra: str = "") -> str:
    body = "".join(
        f"<p>Paragraph {i} of the story tells readers what the council decided on Monday.</p>"
        for i in range(paragraphs)
    )
    return (
        "<html><body><article><h1>Council votes to rebuild the bridge</h1>"
        f"<div class='top'><p>The vote ends a decade of argument over the old crossing.</p></div>"
        f"<div class='body'>{body}{extra}</div></article>"
        "<div class='teasers'><p>Other story teaser with a summary of its own.</p></div>"
        "</body></html>"
    )


def test_an_alarm_landing_in_a_finalizer_fails_the_page_without_a_traceback(monkeypatch):
    """Python can only print an exception raised in a finalizer: the time limit's own
    one is kept quiet (the page fails all the same), any other still reaches the hook."""
    module = sys.modules["scraper.extract"]
    real = module.extract
    printed = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)

    class SlowToFree:
        def __del__(self) -> None:
            time.sleep(0.5)  # the alarm lands here

    def freeing_slowly(*args, **kwargs):
        SlowToFree()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "extract", freeing_slowly)
    with pytest.raises(ExtractTimeout):
        extract_page(big_page(20), timeout=0.05)
    assert printed == []


def test_a_confident_paragraph_container_is_read_without_trafilatura(monkeypatch):
    module = sys.modules["scraper.extract"]

    def refuse(*args, **kwargs):
        raise AssertionError("trafilatura should not run on a confident page")

    monkeypatch.setattr(module, "main_text", refuse)
    extra = "<p>A line<br>broken in two, with <a href='/x'>a link</a>.</p><ul><li>A list item kept.</li></ul>"
    article = extract(_story(8, extra), url="https://news.example/bridge")
    # (the one-sentence lead in its own div above is the model's call: p 0.49 with the
    # shipped model, so it is not asserted here)
    story = [p for p in article.paragraphs if p.startswith("Paragraph ")]
    assert story == [
        f"Paragraph {i} of the story tells readers what the council decided on Monday."
        for i in range(8)
    ]
    assert "A line broken in two, with a link." in article.paragraphs
    assert "A list item kept." in article.paragraphs
    assert all("teaser" not in p for p in article.paragraphs)


def test_a_box_of_short_paragraphs_beside_an_article_in_divs_is_not_the_article():
    text = "The resort opened its doors this week after three years of careful building work"
    article_div = "".join(
        f"<div>{text}, part {i}, with its story told in full.</div>" for i in range(12)
    )
    box = "".join(f"<p>Reviews section {i}</p>" for i in range(5))
    html = (
        f"<html><body><div class='post-body'>{article_div}</div>"
        f"<div class='s-box'>{box}</div></body></html>"
    )
    article = extract(html, url="https://blog.example/resort")
    assert any(text in p for p in article.paragraphs)


def test_a_page_without_a_confident_container_goes_to_trafilatura(monkeypatch):
    module = sys.modules["scraper.extract"]

    calls = []
    real = module.main_text
    monkeypatch.setattr(module, "main_text", lambda html, url: calls.append(url) or real(html, url))
    extract(_story(2), url="https://news.example/short")
    assert calls == ["https://news.example/short"]


def test_trafilatura_is_given_the_body_and_the_head_parts_it_reads():
    jsonld = '{"@type": "NewsArticle", "articleBody": "The council voted."}'
    head = (
        "<head><title>Bridge vote</title><meta name='description' content='A vote'>"
        f"<style>{'.x { color: red } ' * 200}</style><script>var tracking = 1;</script>"
        f"<script type='application/ld+json'>{jsonld}</script>"
        "<link rel='stylesheet' href='/site.css'></head>"
    )
    html = _story(2).replace("<html>", f"<html lang='en'>{head}", 1)
    tree = parse_page(html, "https://news.example/short").tree
    document = reading_document(tree)
    assert "<title>Bridge vote</title>" in document and jsonld in document
    assert all(part not in document for part in ("color: red", "tracking", "description"))
    assert "Paragraph 1 of the story" in document
    assert len(document) < len(tree.html or "") / 2
    url = "https://news.example/short"
    assert main_text(document, url) == main_text(tree.html or "", url) != []


LEAD = "Ministers have agreed a deal to rebuild the old crossing within five years."
BODY = "".join(
    f"<p>Paragraph {i} says what the council decided at its Monday meeting.</p>" for i in range(5)
)


def test_a_lead_paragraph_beside_the_headline_is_the_standfirst():
    html = (
        f"<html><body><article><header><h1>Bridge to be rebuilt</h1><p class='article-lead'>{LEAD}</p>"
        f"</header><div class='body'>{BODY}</div></article></body></html>"
    )
    article = extract(html, url="https://news.example/bridge")
    assert article.standfirst == LEAD
    assert LEAD not in article.paragraphs


def test_a_lead_classed_promo_away_from_the_headline_is_not_the_standfirst():
    promo = "This other stock could be the best way to play the rally, says an analyst"
    html = (
        f"<html><body><div class='promo-lead'>{promo}</div><main><article><header>"
        f"<h1>Bridge to be rebuilt</h1></header><div class='body'>{BODY}</div></article></main>"
        "</body></html>"
    )
    assert extract(html, url="https://news.example/bridge").standfirst is None


def test_a_lead_classed_promo_elsewhere_under_the_body_is_not_the_standfirst():
    promo = "This other stock could be the best way to play the rally, says an analyst"
    html = (
        "<html><body><div class='masthead'><h1>Bridge to be rebuilt</h1></div>"
        f"<div class='body'>{BODY}</div><div class='promo-lead'>{promo}</div></body></html>"
    )
    assert extract(html, url="https://news.example/bridge").standfirst is None


def test_a_standfirst_block_holding_a_script_or_lead_image_is_skipped():
    player = "<div class='standfirst'><script>window.player = {id: 'abc', autoplay: true};</script></div>"
    image = "<div class='lead'><img src='/a.jpg'><span>A photo caption of the new bridge design</span></div>"
    html = (
        f"<html><body><article><header><h1>Bridge to be rebuilt</h1>{player}{image}"
        f"<p class='dek'>{LEAD}</p></header><div class='body'>{BODY}</div></article></body></html>"
    )
    assert extract(html, url="https://news.example/bridge").standfirst == LEAD


def test_an_article_split_into_same_class_blocks_is_read_whole_without_trafilatura(monkeypatch):
    module = sys.modules["scraper.extract"]
    monkeypatch.setattr(module, "main_text", lambda html, url: pytest.fail("trafilatura ran"))
    sections = []
    for s in range(3):
        paragraphs = "".join(
            f"<p>Section {s} paragraph {i} explains how the new bridge will be paid for and "
            "when the work on the old crossing is going to start.</p>"
            for i in range(2 + s)
        )
        sections.append(f"<h2>Part {s} of the plan</h2><div class='rich-text'>{paragraphs}</div>")
    promo = "<div class='rich-text'><p>Get our free guide</p></div>"
    html = (
        "<html><body><main><h1>How the bridge will be rebuilt</h1>"
        f"{''.join(sections)}</main><div class='side'>{promo}</div></body></html>"
    )
    article = extract(html, url="https://news.example/plan")
    # the heading of the first part opens the article, as the others open theirs
    assert article.paragraphs[0] == "Part 0 of the plan"
    assert article.paragraphs[1].startswith("Section 0 paragraph 0")
    assert "Part 1 of the plan" in article.paragraphs
    assert article.paragraphs[-1].startswith("Section 2 paragraph 3")
    assert len(article.paragraphs) == 2 + 3 + 4 + 3  # paragraphs and their headings
    assert "Get our free guide" not in article.paragraphs


def test_nested_same_class_blocks_are_read_once():
    inner = "".join(
        f"<p>Inner paragraph {i} of the report on the council budget.</p>" for i in range(3)
    )
    outer = "".join(
        f"<p>Outer paragraph {i} of the report on the council budget.</p>" for i in range(3)
    )
    html = (
        "<html><body><h1>Budget</h1><div class='text'>"
        f"{outer}<div class='text'>{inner}</div></div><aside><p>Side note</p></aside>"
        f"<div class='text'>{outer.replace('Outer', 'Closing')}</div></body></html>"
    )
    paragraphs = extract(html, url="https://news.example/budget").paragraphs
    assert len(paragraphs) == len(set(paragraphs)) == 9


def test_nested_text_blocks_are_read_once_each(monkeypatch):
    module = sys.modules["scraper.extract"]
    monkeypatch.setattr(module, "main_text", lambda html, url: pytest.fail("trafilatura ran"))
    story = "".join(
        f"<p>Paragraph {i} of the story tells readers what the council decided.</p>"
        for i in range(5)
    )
    nested = (
        "<ul><li><p>A list item written as a paragraph.</p></li><li>A plain list item.</li></ul>"
        "<blockquote><p>A quoted paragraph from the mayor.</p></blockquote>"
    )
    html = (
        f"<html><body><article><h1>Council</h1><div>{story}{nested}</div></article></body></html>"
    )
    paragraphs = extract(html, url="https://news.example/council").paragraphs
    assert paragraphs[-3:] == [
        "A list item written as a paragraph.",
        "A plain list item.",
        "A quoted paragraph from the mayor.",
    ]
    assert len(paragraphs) == len(set(paragraphs)) == 8


TITLE = "Ancient footprints surface on a beach after storms"
BODY_LINES = [
    "Dozens of human footprints have been exposed on a beach in central Chile.",
    "Archaeologists say they may be thousands of years old.",
]


def test_the_title_run_into_a_byline_at_the_top_of_the_body_is_not_a_paragraph():
    meta = Meta(title=TITLE, standfirst="Storms stripped the sand away.")
    lines = [TITLE, f"{TITLE} by Ann Lee · AFP · May 20, 2025", *BODY_LINES]
    assert _without_headings(lines, meta) == BODY_LINES


def test_a_paragraph_that_only_begins_like_the_title_stays():
    meta = Meta(title=TITLE)
    long_tail = f"{TITLE}, the regional museum said on Tuesday, and more may follow as the sea keeps rising."
    assert _without_headings([long_tail, *BODY_LINES], meta) == [long_tail, *BODY_LINES]
    later = [BODY_LINES[0], f"{TITLE}: what we know", BODY_LINES[1]]  # a section heading
    assert _without_headings(later, meta) == later
    short = Meta(title="Storms")  # a short title may well begin a paragraph
    assert _without_headings(["Storms hit the coast again.", *BODY_LINES], short)[0].startswith(
        "Storms hit"
    )


def test_a_caption_found_under_its_photo_and_as_a_caption_line_is_one_caption():
    photo = Caption(text="The footprints at low tide", credit="AFP", position=1)
    line = Caption(text="The footprints at low tide", credit="AFP", position=2)
    other = Caption(text="A footprint, close up", credit="AFP", position=2)
    assert _unique_captions([photo, line, other]) == [photo, other]
