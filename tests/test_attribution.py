"""Source attribution: each kind of evidence on hand-written pages (English, German,
French, Spanish), and the false values that must stay null."""

import json
import random
import string

import pytest
from selectolax.lexbor import LexborHTMLParser

from scraper import attribution
from scraper.attribution import (
    agencies,
    agency_in_byline,
    agency_in_credit,
    credit_lines,
    load_agencies,
    python_credit_lines,
)
from scraper.extract import extract
from scraper.models import FeedOrigin

BODY = {
    "en": [
        "The city council voted on Tuesday to close the old bridge to traffic after engineers found cracks in two of its supports.",
        "The bridge, built in 1932, carries about 12,000 vehicles a day across the river between the two halves of the town.",
        "Officials said a temporary ferry service would start next month while the council looks for money to repair the structure.",
        "Residents who spoke at the meeting said the closure would add half an hour to their daily journeys to work and school.",
    ],
    "de": [
        "Der Stadtrat hat am Dienstag beschlossen, die alte Brücke für den Verkehr zu sperren, nachdem Ingenieure Risse in zwei Pfeilern gefunden hatten.",
        "Über die 1932 gebaute Brücke fahren täglich rund 12.000 Fahrzeuge zwischen den beiden Hälften der Stadt.",
        "Eine Fähre soll ab dem kommenden Monat als Ersatz dienen, während die Stadt nach Geld für die Sanierung sucht.",
        "Anwohner sagten in der Sitzung, die Sperrung verlängere ihren täglichen Weg zur Arbeit und zur Schule um eine halbe Stunde.",
    ],
    "fr": [
        "Le conseil municipal a voté mardi la fermeture du vieux pont à la circulation après la découverte de fissures dans deux de ses piles.",
        "Construit en 1932, l'ouvrage voit passer environ 12.000 véhicules par jour entre les deux rives de la ville.",
        "Un bac provisoire doit entrer en service le mois prochain, le temps que la mairie trouve les fonds pour les réparations.",
        "Des habitants présents à la séance ont dit que la fermeture allongerait d'une demi-heure leurs trajets quotidiens.",
    ],
    "es": [
        "El concejo municipal votó el martes cerrar el viejo puente al tráfico después de que los ingenieros hallaran grietas en dos de sus pilares.",
        "El puente, construido en 1932, soporta unos 12.000 vehículos al día entre las dos mitades de la ciudad.",
        "Un servicio provisional de transbordador comenzará el mes próximo mientras el municipio busca fondos para repararlo.",
        "Los vecinos que hablaron en la sesión dijeron que el cierre alargará media hora sus trayectos diarios.",
    ],
}
URL = "https://www.regional-paper.example/news/bridge-closed"


def page(
    lang: str = "en",
    head: str = "",
    before: str = "",
    after: str = "",
    first: str | None = None,
    last: list[str] | None = None,
) -> str:
    paragraphs = list(BODY[lang])
    if first is not None:
        paragraphs[0] = first
    paragraphs += last or []
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html lang="{lang}"><head><title>Bridge</title>'
        '<meta property="og:site_name" content="Regional Paper">'
        f"{head}</head><body><article><h1>Old bridge closed</h1>{before}"
        f'<div class="article-body">{body}</div>{after}</article></body></html>'
    )


def jsonld(data: dict) -> str:
    article = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "x"}
    return f'<script type="application/ld+json">{json.dumps(article | data)}</script>'


def source_of(html: str, url: str = URL, origin: FeedOrigin | None = None):
    article = extract(html, url, origin=origin)
    return article.source, article.source_evidence


# One test per evidence kind.


def test_jsonld_source_organization_names_the_agency():
    head = jsonld({"sourceOrganization": {"@type": "Organization", "name": "Press Association"}})
    assert source_of(page("en", head)) == ("PA Media", "jsonld")


def test_jsonld_author_organization_that_is_an_agency():
    head = jsonld({"author": [{"@type": "Organization", "name": "Deutsche Presse-Agentur"}]})
    assert source_of(page("de", head)) == ("dpa", "jsonld")


def test_jsonld_is_based_on_gives_the_original_url():
    head = jsonld(
        {
            "isBasedOn": "https://www.originalpaper.example/story/1",
            "sourceOrganization": {"@type": "NewsMediaOrganization", "name": "Valley Courier"},
        }
    )
    article = extract(page("en", head), URL)
    assert (article.source, article.source_evidence) == ("Valley Courier", "jsonld")
    assert article.source_url == "https://www.originalpaper.example/story/1"


def test_microdata_source_organization():
    before = (
        '<span itemprop="sourceOrganization" itemscope itemtype="https://schema.org/Organization">'
        '<span itemprop="name">Agence France-Presse</span></span>'
    )
    assert source_of(page("fr", before=before)) == ("AFP", "microdata")


def test_meta_syndication_source():
    head = '<meta name="syndication-source" content="Agencia EFE">'
    assert source_of(page("es", head)) == ("EFE", "meta")


def test_meta_publisher_counts_only_when_it_names_a_listed_partner():
    partner = '<meta name="publisher" content="The Independent">'
    assert source_of(page("en", partner)) == ("The Independent", "meta")
    own = '<meta name="publisher" content="Regional Paper Media Group">'
    assert source_of(page("en", own)) == (None, None)


def test_canonical_on_an_agency_host():
    head = '<link rel="canonical" href="https://www.reuters.com/world/bridge-closed-2026-01-01/">'
    article = extract(page("en", head), URL)
    assert (article.source, article.source_evidence) == ("Reuters", "canonical")
    assert article.source_url == "https://www.reuters.com/world/bridge-closed-2026-01-01/"


@pytest.mark.parametrize(
    ("lang", "byline", "expected"),
    [
        ("en", "By Jane Doe, Associated Press", "AP"),
        ("en", "With files from The Associated Press", "AP"),
        ("de", "Von Felix Schröder, dpa", "dpa"),
        ("fr", "Le Figaro et AFP", "AFP"),
        ("es", "Por Agencia EFE", "EFE"),
    ],
)
def test_byline_names_the_agency(lang, byline, expected):
    before = f'<div class="byline">{byline}</div>'
    assert source_of(page(lang, before=before)) == (expected, "byline")


def test_authors_name_the_agency():
    head = jsonld({"author": [{"@type": "Person", "name": "dpa"}]})
    assert source_of(page("de", head)) == ("dpa", "byline")


@pytest.mark.parametrize(
    ("lang", "dateline", "expected"),
    [
        ("de", "BERLIN (dpa) - ", "dpa"),
        ("en", "WASHINGTON (AP) — ", "AP"),
        ("en", "(Reuters) - ", "Reuters"),
        ("fr", "PARIS (AFP) - ", "AFP"),
        ("es", "Madrid, 12 ene (EFE).- ", "EFE"),
    ],
)
def test_dateline_names_the_agency(lang, dateline, expected):
    first = dateline + BODY[lang][0]
    article = extract(page(lang, first=first), URL)
    assert (article.source, article.source_evidence) == (expected, "dateline")
    assert article.paragraphs[0] == first  # the dateline is part of the story


@pytest.mark.parametrize(
    ("lang", "line", "expected"),
    [
        ("de", "© dpa-infocom, dpa:260101-99-123456/2", "dpa"),
        ("de", "Quelle: dpa", "dpa"),
        ("de", "Mit Material von dpa", "dpa"),
        ("en", "This article originally appeared on The Conversation.", "The Conversation"),
        ("en", "This story is provided by Reuters.", "Reuters"),
        ("fr", "Source : AFP", "AFP"),
    ],
)
def test_credit_line_names_the_agency_and_leaves_the_body(lang, line, expected):
    article = extract(page(lang, last=[line]), URL)
    assert (article.source, article.source_evidence) == (expected, "credit_line")
    assert article.paragraphs == BODY[lang]


def test_a_credit_closing_the_last_paragraph():
    last = BODY["de"][-1] + " (FR mit dpa)"
    article = extract(page("de", last=[last]), URL)
    assert (article.source, article.source_evidence) == ("dpa", "credit_line")


def test_provider_label_names_a_listed_partner():
    before = '<div class="provider-name">The Telegraph</div>'
    assert source_of(page("en", before=before)) == ("The Telegraph", "provider")


def test_feed_source_element():
    origin = FeedOrigin(name="Associated Press", url="https://apnews.com/rss")
    assert source_of(page("en"), origin=origin) == ("AP", "feed")


def test_a_page_on_an_agency_own_site():
    assert source_of(page("en"), "https://apnews.com/article/bridge-closed") == ("AP", "site")


def test_stronger_evidence_wins():
    head = jsonld({"sourceOrganization": {"@type": "Organization", "name": "Reuters"}})
    first = "BERLIN (dpa) - " + BODY["de"][0]
    assert source_of(page("de", head, first=first)) == ("Reuters", "jsonld")


# False values: each stays null.


@pytest.mark.parametrize(
    "html",
    [
        # a photo credit is not evidence of the text's source
        page(
            "de",
            after='<figure><img src="a.jpg"><figcaption>Friso Gentsch/dpa</figcaption></figure>',
        ),
        page("de", last=["Foto: Friso Gentsch/dpa"]),
        page("en", after='<span class="credit">© AFP / Rodrigo Arancibia</span>'),
        # a shop button, a prompt, a URL, a person with a date, a section
        page("en", before='<div class="source">Buy now Price at Lakeland</div>'),
        page("en", before='<a class="source">Add us as a preferred source on Google</a>'),
        page("en", before='<div class="source">https://www.example.com/shop</div>'),
        page("en", before='<div class="byline">Jane Doe | Published 4 months ago</div>'),
        page("en", before='<div class="source">World News</div>'),
        page("en", head=jsonld({"sourceOrganization": {"name": "https://www.example.com"}})),
        # an agency named in the story, or in a box about another story
        page("en", last=["The minister told Reuters the bridge would reopen next year."]),
        page("en", after='<aside class="related"><div class="byline">By AP</div></aside>'),
        # the site itself named in structured data
        page("en", head=jsonld({"provider": {"@type": "Organization", "name": "Regional Paper"}})),
    ],
)
def test_false_values_stay_null(html):
    assert source_of(html) == (None, None)


def test_a_byline_of_people_only_names_no_agency():
    assert agency_in_byline("By Jane Doe and John Smith") is None
    assert agency_in_byline("Friso Gentsch/dpa") is None
    assert agency_in_credit("© Friso Gentsch/dpa") is None


# The list.


def test_the_list_ships_as_package_data_with_every_agency_the_issue_names():
    names = {entry.name for entry in agencies().entries}
    required = """AP Reuters AFP dpa Keystone-SDA APA KNA epd ANSA EFE AAP Kyodo Xinhua
    Yonhap PTI ANI IANS Bernama Anadolu TT NTB Ritzau Belga ANP PAP ČTK MTI Lusa""".split()
    required += [
        "PA Media",
        "Europa Press",
        "The Canadian Press",
        "The Independent",
        "The Telegraph",
    ]
    assert set(required) <= names


@pytest.mark.parametrize("alias", ["PA", "PA Media", "Press Association", "press association"])
def test_aliases_map_to_one_canonical_name(alias):
    assert agencies().named(alias).name == "PA Media"


def test_codes_match_only_in_their_own_case():
    assert agencies().named("dpa").name == "dpa"
    assert agencies().named("Ap") is None  # a code, not a word
    assert agencies().named("ANI").name == "ANI"
    assert agencies().named("Ani") is None


def test_a_list_is_read_from_yaml_text():
    listed = load_agencies(
        "- {name: Wire, kind: agency, aliases: [The Wire], hosts: [wire.example]}"
    )
    assert listed.named("the wire").name == "Wire"
    assert listed.at_host("https://news.wire.example/a").name == "Wire"


# Texts of credit lines and others, long ones near the limit (in characters, not bytes)
CREDIT_TEXTS = ["Source: Reuters", "\u00a9 AFP 2024", "(c) dpa", "Quelle: dpa", "x", "", " "]
CREDIT_TEXTS += ["It first appeared in The Paper.", "Photo: AP", "\u017aR\u00d3D\u0141O: PAP"]
CREDIT_TEXTS += ["Source " + "\u00e9" * 425, "Source " + "\u00e9" * 440, "source" + "x" * 434]
CREDIT_TEXTS += ["a" * 500 + " source", "Copyright\u00a0 2024 \U0001f600", "provided by  AP "]
CREDIT_TEXTS += ["SoUrCe: AP", "FORR\u00c1S: MTI", "K\u00c4LLA: TT", "\u212aILDE: NTB", "aja/PAP"]
CREDIT_TEXTS += ["QUELL\u0130", "Sourc\u00e9: AP", "\u201cSource\u201d", "Photo / AP", "caf\u00e9"]


def random_credit_page(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randrange(1, 6)):
        tag = rng.choice(["p", "div", "span", "small", "footer", "em", "b", "a", "figure", "ul"])
        attrs = rng.choice(["", ' class="caption"', ' class="credit"', ' id="main"'])
        inner = rng.choice(CREDIT_TEXTS)
        if depth < 3 and rng.random() < 0.5:
            inner += random_credit_page(rng, depth + 1)
        inner += rng.choice(["", "<!-- c -->", "<br>", "<img src=x>", "tail", "<i></i>"])
        parts.append(f"<{tag}{attrs}>{inner}</{tag}>")
    return "".join(parts)


def test_the_compiled_credit_lines_are_those_selectolax_s_nodes_give():
    if attribution._text_lines is None:
        pytest.skip("the compiled walk is not used here")
    rng = random.Random(14)
    found = 0
    for _ in range(400):
        tree = LexborHTMLParser(f"<html><body>{random_credit_page(rng)}</body></html>")
        assert tree.body is not None
        before = tree.html
        lines = credit_lines(tree.body)
        assert lines == python_credit_lines(tree.body)
        assert tree.html == before  # the marks are gone
        found += len(lines)
    assert found > 100


def test_a_text_holds_a_hint_word_or_mark_wherever_it_hints_at_a_credit():
    # the compiled walk decodes only the texts that hold one
    ascii_lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    for hint in attribution.CREDIT_HINTS:
        held = any(w in hint for w in attribution.HINT_WORDS)
        assert held or any(m in hint for m in attribution.HINT_MARKS), hint
    marks = set(attribution.HINT_MARKS)
    for code in range(0x80, 0x110000):
        char = chr(code)
        lower = char.lower()
        if any(c.isascii() or c in marks for c in lower) and not 0xD800 <= code < 0xE000:
            assert char in attribution.HINT_MARKS, hex(code)
    rng = random.Random(14)
    pieces = [*attribution.CREDIT_HINTS, *"aAcCeEsS/()\u00e9\u00c9 ", "\u0130", "\u212a"]
    for _ in range(20000):
        text = "".join(rng.choices(pieces, k=rng.randrange(4)))
        text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
        text = text[rng.randrange(3) :]
        held = any(w in text.translate(ascii_lower) for w in attribution.HINT_WORDS)
        held = held or any(m in text for m in attribution.HINT_MARKS)
        assert held or not attribution._credit_hint(text), text


def test_credit_lines_leave_a_page_s_own_marks():
    html = "<p data-scraper-line>Source: Reuters</p><p>Source: AP</p>"
    tree = LexborHTMLParser(html)
    assert tree.body is not None
    before = tree.html
    assert credit_lines(tree.body) == ["Source: Reuters", "Source: AP"]
    assert tree.html == before
