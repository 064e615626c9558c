"""Learned per-site templates: fingerprints, the main run, the decision, learning
and forgetting, on synthetic sites the tests build."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from scraper.blocks import BODY_MASS
from scraper.config import TemplateConfig
from scraper.extract import extract, parse_page
from scraper.models import Article, Fetched, utc_now
from scraper.templates import (
    SiteTemplates,
    main_run,
    normalised,
    normalised_each,
    page_url,
    site_of,
    without_template,
)

SITE = "valley-courier.example"
# Eight blocks of a portal's template that no rule of the cleaner names: neutral class
# names, sentences that are neither chrome lines nor end markers.
CHROME = [
    ("div", "kq-top", "Our journalists work around the clock to bring you the stories that matter in your community."),
    ("p", "kq-note", "You are reading the morning edition, delivered to thousands of readers across the valley every day."),
    ("div", "kq-side", "The valley's most trusted source of local reporting since nineteen eighty-two, proudly independent."),
    ("p", "kq-after", "Support independent local reporting: readers like you keep our small newsroom going, week after week."),
    ("div", "kq-bio", "The Valley Courier is a member of the regional press council and follows its code of practice on accuracy."),
    ("p", "kq-tip", "Got a story the valley should hear about? Our reporters read every message sent to the tips desk."),
    ("div", "kq-foot", "Printed and published by Valley Courier Media Group, registered office in the old mill on River Street."),
    ("p", "kq-legal", "Reproduction of any part of this page in any form is not allowed without the written consent of the publisher."),
]  # fmt: skip
WORDS = """council river bridge school market farmers weather road plan budget mayor
residents hospital police fire festival library park water rail""".split()
SIGN_OFF = (
    "This report was produced with the help of the valley's volunteer fact-checkers, "
    "who review every story before it is printed."
)


def _paragraph(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(2, 4)):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24)))
        sentences.append(f"The {words}, officials said on {rng.choice(['Monday', 'Friday'])}.")
    return " ".join(sentences)


def site_page(
    number: int, shared: str | None = None, short: bool = False
) -> tuple[str, str, list[str]]:
    """Page ``number`` of the synthetic site: its URL, its HTML (the template's eight
    chrome blocks around the story) and its body paragraphs (``shared`` last; two
    sentences in all when ``short``)."""
    rng = random.Random(number)
    paragraphs = [_paragraph(rng) for _ in range(rng.randint(5, 9))]
    if short:
        paragraphs = [p.split(".")[0] + "." for p in paragraphs[:2]]
    if shared:
        paragraphs.append(shared)
    c = [f'<{tag} class="{name}">{text}</{tag}>' for tag, name, text in CHROME]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    url = f"https://{SITE}/news/story-{number}"
    html = (
        f'<html><head><link rel="canonical" href="{url}"></head><body>'
        f'<div class="kq-wrap">{c[0]}<div class="kq-main">'
        f"<h1>Council story number {number} about the {rng.choice(WORDS)}</h1>{c[1]}"
        f'<div class="kq-text">{body}</div>{c[3]}<div class="kq-box">{c[4]}{c[5]}</div></div>'
        f'<div class="kq-col">{c[2]}</div><div class="kq-bottom">{c[6]}{c[7]}</div>'
        "</div></body></html>"
    )
    return url, html, paragraphs


def learned(templates: SiteTemplates, numbers: range) -> SiteTemplates:
    """``templates`` after learning the site's pages ``numbers``, saved."""
    for number in numbers:
        url, html, _ = site_page(number)
        templates.learn(SITE, extract(html, url))
    templates.save()
    return templates


def write_site(folder: Path, count: int) -> None:
    """The site's first ``count`` pages as files in ``folder``."""
    folder.mkdir(exist_ok=True)
    for number in range(count):
        (folder / f"{number:02}.html").write_text(site_page(number)[1], encoding="utf-8")


def leaks(article: Article) -> int:
    return sum(any(text in p for p in article.paragraphs) for _, _, text in CHROME)


def test_after_ten_pages_no_chrome_block_leaks_and_no_paragraph_is_lost():
    template = learned(SiteTemplates(TemplateConfig()), range(10)).template(SITE)
    assert len(template) >= len(CHROME)
    for number in range(10, 30):
        url, html, paragraphs = site_page(number)
        article = extract(html, url, template=template)
        assert leaks(article) == 0, number
        assert article.paragraphs == paragraphs, number


def test_the_template_goes_even_when_the_chrome_is_a_third_of_a_short_article():
    templates = learned(SiteTemplates(TemplateConfig()), range(10))
    for number in range(10, 20):
        url, html, paragraphs = site_page(number, short=True)
        article = extract(html, url, template=templates.template(SITE))
        assert article.paragraphs == paragraphs, number


def test_every_chrome_block_of_the_template_is_learned():
    templates = learned(SiteTemplates(TemplateConfig()), range(6))
    samples = [p.sample or "" for p in templates.view(SITE).template(5, 0.3)]
    for _, name, text in CHROME:
        assert any(name in sample and text[:40] in sample for sample in samples), name


def test_a_sentence_every_page_shares_in_its_body_is_kept():
    templates = SiteTemplates(TemplateConfig())
    for number in range(30):
        url, html, paragraphs = site_page(number, shared=SIGN_OFF)
        article = extract(html, url, template=templates.template(SITE))
        assert article.paragraphs[-1] == SIGN_OFF, number
        assert [p for p in paragraphs if p not in article.paragraphs] == [], number
        if number >= 10:
            assert article.paragraphs == paragraphs, number
        templates.learn(SITE, article)
        templates.save()
    assert templates.template(SITE)  # the chrome was learned, the sign-off was not
    assert all(SIGN_OFF[:40] not in (p.sample or "") for p in templates.view(SITE).prints)


def test_a_recurring_advertisement_line_inside_the_body_is_never_learned():
    templates = SiteTemplates(TemplateConfig())
    for number in range(12):
        url, html, _ = site_page(number)
        html = html.replace("</p><p>", "</p><p>Advertisement</p><p>", 1)
        templates.learn(SITE, extract(html, url))
    templates.save()
    assert all("Advertisement" not in (p.sample or "") for p in templates.view(SITE).prints)


def test_fewer_pages_than_min_pages_teach_nothing():
    templates = learned(SiteTemplates(TemplateConfig(min_pages=5)), range(4))
    assert templates.template(SITE) == frozenset()


def test_a_page_is_counted_once_however_often_it_is_seen():
    templates = SiteTemplates(TemplateConfig())
    url, html, _ = site_page(1)
    for _ in range(6):
        templates.learn(SITE, extract(html, url))
        templates.save()
    assert templates.template(SITE) == frozenset()
    assert len(templates.view(SITE).page_times) == 1


def test_learning_can_be_switched_off():
    templates = learned(SiteTemplates(TemplateConfig(learn=False)), range(6))
    assert templates.template(SITE) == frozenset()


def test_a_block_seen_on_few_of_the_sites_pages_is_not_template():
    templates = SiteTemplates(TemplateConfig(min_pages=3, min_share=0.5))
    for number in range(10):
        url, html, _ = site_page(number)
        if number >= 3:  # the promo was on the first three pages only
            html = html.replace(CHROME[0][2], f"Today's weather: {number} showers")
        templates.learn(SITE, extract(html, url))
    templates.save()
    samples = [p.sample or "" for p in templates.view(SITE).template(3, 0.5)]
    assert not any(CHROME[0][2][:30] in s for s in samples)
    assert any(CHROME[6][2][:30] in s for s in samples)


# --- pieces ----------------------------------------------------------------------------


def test_the_site_of_a_page_is_its_registered_domain():
    assert site_of("https://www.news.example.co.uk/a/b") == "example.co.uk"
    assert site_of("https://user.github.io/post") == "user.github.io"
    assert site_of("http://127.0.0.1:8080/x") == "127.0.0.1"
    assert site_of("not a url") is None


def test_a_saved_page_is_placed_by_its_canonical_link():
    page = Fetched(
        url="file:///tmp/x.html",
        source="f",
        body=b'<html><head><link href="https://a.example/x" rel="canonical"></head></html>',
    )
    assert page_url(page) == "https://a.example/x"
    assert page_url(page.model_copy(update={"body": b"<p>nothing</p>"})) is None


def test_block_texts_are_normalised_alike_one_by_one_and_all_at_once():
    rng = random.Random(14)
    printable = [*"aZ19.\u00df\u0130\u03a3\u212a", "\u2e3b"]  # ß, İ, Σ, Kelvin, the joint
    unprintable = [*"\u00a0\t\x00\ue800\ud800", "  "]
    joined = 0
    for _ in range(3000):
        alphabet = printable + (unprintable if rng.random() < 0.3 else [])
        words = ["".join(rng.choices(alphabet, k=rng.randrange(4))) for _ in range(12)]
        texts = [" ".join(words[i : i + rng.randrange(4)]) for i in range(0, 12, 3)]
        if rng.random() < 0.7:
            texts = [t.replace("\u2e3b", "") for t in texts]
        expected = [normalised(t).encode("utf-8", "replace") for t in texts]
        assert normalised_each(texts) == expected, texts
        joined += all(t.isprintable() and "\u2e3b" not in t and "  " not in t for t in texts)
    assert joined > 1000
    assert normalised_each([]) == []


def test_fingerprints_ignore_digits_and_case_but_not_the_place_in_the_dom():
    assert normalised("Comments (12)  TODAY") == normalised("comments (34) today")
    # every kind of space collapses, not only doubled ones
    assert normalised(" Comments\u00a0(12)\tTODAY\n") == "comments (00) today"
    first = parse_page(
        '<body><div class="a"><p>Read 3 stories free</p></div><p>Read 3 stories free</p></body>',
        None,
    ).page
    second = parse_page('<body><div class="a"><p>Read 5 stories FREE</p></div></body>', None).page
    assert first.notes.prints[0] == second.notes.prints[0]
    assert first.notes.prints[0] != first.notes.prints[1]


def test_the_main_run_spans_the_chosen_blocks_of_the_body_element():
    page = parse_page(site_page(3)[1], None).page
    texts = page.texts
    body = [i for i, t in enumerate(texts) if t in site_page(3)[2]]
    chrome = texts.index(CHROME[3][2])
    chosen = [i in body or i == chrome for i in range(len(texts))]
    inside = main_run(page, chosen, BODY_MASS)
    assert [i for i, x in enumerate(inside) if x] == body
    template = frozenset({page.notes.prints[chrome], page.notes.prints[body[2]]})
    kept = without_template(page.notes.prints, chosen, inside, template)
    assert not kept[chrome]  # template, outside the main run: out
    assert kept[body[2]]  # in the main run: kept whatever was learned


def test_what_was_learned_is_forgotten_after_max_age():
    templates = SiteTemplates(TemplateConfig(max_age=timedelta(days=1)))
    for number in range(6):
        url, html, _ = site_page(number)
        templates.learn(SITE, extract(html, url))
    templates.save()
    assert templates.template(SITE)
    memory = templates.memory[SITE]
    for page in memory.pages:
        memory.pages[page] -= timedelta(days=2)
    for known in memory.prints.values():
        known[1] -= timedelta(days=2)
        known[2] -= timedelta(days=2)
    templates.sets.clear()
    assert templates.template(SITE) == frozenset()


def test_the_fingerprints_travel_back_with_the_record_but_are_never_written():
    url, html, _ = site_page(2)
    article = extract(html, url)
    assert {sample.split(": ", 1)[1][:20] for _, sample in article._template_prints} >= {
        text[:20] for _, _, text in CHROME
    }
    assert "template" not in article.model_dump_json()


@pytest.mark.parametrize("number", [0, 7])
def test_a_template_of_another_site_changes_nothing(number):
    url, html, _ = site_page(number)
    other = frozenset(range(-50, 50))
    plain = extract(html, url)
    assert extract(html, url, template=other).paragraphs == plain.paragraphs


def test_pages_learned_and_not_saved_are_saved_in_batches():
    templates = SiteTemplates(TemplateConfig())
    now = utc_now()
    for number in range(25):
        url, html, _ = site_page(number)
        templates.learn(SITE, extract(html, url))
    assert len(templates.memory[SITE].pages) == 20  # written at once
    assert len(templates.pending[SITE]) == 5
    templates.save()
    assert len(templates.memory[SITE].pages) == 25
    assert all(t >= now for t in templates.memory[SITE].pages.values())
