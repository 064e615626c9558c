"""Cleaning rules, one behaviour per test, on small hand-written aggregator snippets.

Only the public functions are used (``clean_tree``, ``clean_lines``, ``split_credit``,
``place_captions``, ``unwrap_layout_tables``), so these tests hold across a rewrite
of the implementation.
"""

from __future__ import annotations

import random
from html import escape

import pytest
from selectolax.lexbor import LexborHTMLParser

from scraper import clean
from scraper.clean import (
    SOURCE_TOKENS,
    Harvest,
    clean_lines,
    clean_tree,
    place_captions,
    split_credit,
    token_selector,
    unwrap_layout_tables,
    with_tokens,
)
from scraper.models import Caption, RelatedLink

from .conftest import mutated

HEADLINE = "Starmer could attend second US-Russia meeting"
BASE_URL = "https://www.daily8.example/news/uk/starmer-ukraine-talks"

P1 = "The Prime Minister has been a key player in the coalition of the willing since spring."
P2 = "Speaking in the Oval Office, Mr Trump said a second meeting with Moscow was planned."
P3 = "Downing Street said the talks with European leaders had been constructive and frank."
STORY = f"<article><h1>{HEADLINE}</h1><p>{P1}</p><p>{P2}</p><p>{P3}</p></article>"
# A plain block with more paragraphs than anything else on the page, so it, not the
# element under test, is taken as the main text.
STREAM = "".join(f"<p>{p}</p>" for p in (P1, P2, P3, P1))


def cleaned(body: str, base_url: str | None = BASE_URL) -> tuple[LexborHTMLParser, Harvest]:
    tree = LexborHTMLParser(f"<!doctype html><html><body>{body}</body></html>")
    return tree, clean_tree(tree, base_url)


def text_of(tree: LexborHTMLParser) -> str:
    assert tree.body is not None
    return " ".join(tree.body.text(separator=" ").split())


def paragraphs_of(tree: LexborHTMLParser) -> list[str]:
    return [" ".join(p.text().split()) for p in tree.css("p")]


def assert_story_kept(tree: LexborHTMLParser) -> None:
    text = text_of(tree)
    assert all(p in text for p in (P1, P2, P3)), text


# --- clean_tree: chrome by tag ------------------------------------------------------


@pytest.mark.parametrize(
    ("chrome", "selector"),
    [
        ("<script>window.LEAK = {ads: true};</script>", "script"),
        ("<style>.LEAK { display: block }</style>", "style"),
        ("<noscript><p>Please enable JavaScript LEAK</p></noscript>", "noscript"),
        ("<template><p>Card LEAK</p></template>", "template"),
        ('<nav><a href="/uk">UK</a> <a href="/world">World LEAK</a></nav>', "nav"),
        ("<footer><p>About us | Contact | Terms LEAK</p></footer>", "footer"),
        ("<aside><p>Editor's picks LEAK</p></aside>", "aside"),
        ('<form action="/signup"><label>Email LEAK</label><input name="e"></form>', "form"),
        ("<button>Follow LEAK</button>", "button"),
        ('<iframe src="https://player.example/embed/1">LEAK</iframe>', "iframe"),
        ("<select><option>Edition: UK LEAK</option></select>", "select"),
        ("<textarea>Write a comment LEAK</textarea>", "textarea"),
        ("<dialog open><p>Allow notifications? LEAK</p></dialog>", "dialog"),
        ("<video src='/v/1.mp4'>Your browser cannot play this video LEAK</video>", "video"),
        ("<svg><text>LEAK</text></svg>", "svg"),
    ],
)
def test_chrome_tags_are_removed(chrome, selector):
    tree, _ = cleaned(STORY + chrome)
    assert tree.css_first(selector) is None
    assert "LEAK" not in text_of(tree)
    assert_story_kept(tree)


@pytest.mark.parametrize(
    "element",
    [
        '<article class="article-body sidebar-layout"><p>KEPT article text.</p></article>',
        '<main class="promo-layout"><p>KEPT main text.</p></main>',
        '<h1 class="share-headline ad-target">KEPT headline</h1>',
        '<div itemprop="articleBody" class="entry-content-read-more"><p>KEPT body.</p></div>',
        '<div class="sidebar-wrapper"><article><p>KEPT wrapped article.</p></article></div>',
        '<div class="newsletter-promo"><h1>KEPT headline in a wrapper</h1></div>',
    ],
)
def test_article_main_h1_and_article_body_survive_chrome_looking_classes(element):
    tree, _ = cleaned(element + f'<div class="stream">{STREAM}</div>')
    assert "KEPT" in text_of(tree)


# --- clean_tree: class / id / aria tokens -------------------------------------------


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("class", "related-stories"),
        ("class", "recommended"),
        ("class", "newsletter-signup"),
        ("class", "promo-box"),
        ("class", "share-bar"),
        ("class", "social-icons"),
        ("class", "cookie-banner"),
        ("class", "consent-notice"),
        ("class", "comments"),
        ("id", "disqus_thread"),
        ("class", "ad"),
        ("class", "ads-container"),
        ("class", "advert-slot"),
        ("class", "sponsored-links"),
        ("class", "OUTBRAIN"),
        ("id", "taboola-below-article"),
        ("class", "read-more"),
        ("class", "readMore"),
        ("class", "read_more"),
        ("class", "most-read"),
        ("class", "you-may-also-like"),
        ("aria-label", "Advertisement"),
        ("data-testid", "newsletterSignup"),
    ],
)
def test_chrome_tokens_in_class_id_or_aria_remove_the_element(attr, value):
    tree, _ = cleaned(STORY + f'<div {attr}="{value}"><p>Chrome block LEAK</p></div>')
    assert "LEAK" not in text_of(tree)
    assert_story_kept(tree)


@pytest.mark.parametrize(
    "value",
    ["shadow", "header-address", "unrelated-but-fine", "commentary", "broadcast-times"],
)
def test_a_word_merely_containing_a_chrome_token_is_kept(value):
    tree, _ = cleaned(STORY + f'<div class="{value}"><p>Ordinary block KEPT</p></div>')
    assert "KEPT" in text_of(tree)


def test_a_section_named_for_its_ad_slots_is_kept_when_it_holds_the_prose():
    section = (
        '<section class="Report__Section Report__Section--Ads">'
        f"<h2>Verdict</h2><p>{P2} {P1}</p><p>{P3} KEPT {P2}</p><p>{P1} {P3}</p>"
        '<div class="ad-slot">Advertisement LEAK</div></section>'
    )
    tree, _ = cleaned(f"<article><h1>{HEADLINE}</h1>{STREAM}{section}</article>")
    text = text_of(tree)
    assert "KEPT" in text and "Verdict" in text and "LEAK" not in text


def test_a_table_of_contents_target_named_nav_is_kept_when_it_holds_prose():
    section = (
        '<div class="content-nav-section"><h2>The struggle is real</h2>'
        f"<p>{P2} {P1}</p><p>{P3} KEPT {P2}</p><p>{P1} {P3}</p></div>"
    )
    nav = '<div class="site-nav"><a href="/a">Money</a> <a href="/b">Loans LEAK</a></div>'
    tree, _ = cleaned(f"{nav}<article><h1>{HEADLINE}</h1>{section}{STREAM}{STREAM}</article>")
    text = text_of(tree)
    assert "KEPT" in text and "The struggle is real" in text and "LEAK" not in text


@pytest.mark.parametrize(
    "box",
    [
        '<div class="ad-container"><p>Buy now LEAK</p><p>Limited offer</p></div>',
        f'<div class="sidebar-ads"><p>{P1} {P2} LEAK</p><p>{P2} {P3}</p><p>{P3} {P1}</p></div>',
    ],
)
def test_an_ad_box_without_prose_or_with_another_chrome_word_goes(box):
    tree, _ = cleaned(f"<article><h1>{HEADLINE}</h1>{STREAM}{STREAM}</article>{box}")
    assert "LEAK" not in text_of(tree)
    assert_story_kept(tree)


def test_an_inline_element_of_a_sentence_stays_whatever_its_class():
    sentence = (
        '<p>Filing is free with <a class="external-popup" href="/x">the IRS tool</a> this year.</p>'
    )
    tree, _ = cleaned(f"<article>{sentence}<p>{P1}</p><p>{P2}</p><p>{P3}</p></article>")
    assert "Filing is free with the IRS tool this year." in text_of(tree)


def test_syntax_highlighting_spans_in_code_are_text_not_chrome():
    code = (
        '<pre><code><span class="hljs-comment"># stage every change</span>\n'
        'git add -A\n<span class="token comment"># share it</span>\ngit push</code></pre>'
    )
    tree, _ = cleaned(
        f'<article><p>{P1}</p>{code}<p>{P2}</p><p>{P3}</p><div class="comment">Reader LEAK</div></article>'
    )
    text = text_of(tree)
    assert "# stage every change" in text and "# share it" in text
    assert "LEAK" not in text


@pytest.mark.parametrize(
    "role",
    [
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "dialog",
        "alertdialog",
        "search",
        "menu",
        "menubar",
        "toolbar",
    ],
)
def test_chrome_roles_remove_the_element(role):
    tree, _ = cleaned(STORY + f'<div role="{role}"><a href="/x">Landmark LEAK</a></div>')
    assert "LEAK" not in text_of(tree)
    assert_story_kept(tree)


@pytest.mark.parametrize(
    "attrs",
    ["hidden", 'style="display:none"', 'style="display: none"', 'style="color:red;display:none"'],
)
def test_hidden_elements_are_removed(attrs):
    tree, _ = cleaned(STORY + f"<div {attrs}><p>Hidden slide LEAK</p></div>")
    assert "LEAK" not in text_of(tree)
    assert_story_kept(tree)


def test_hidden_running_text_is_kept_but_a_hidden_menu_is_not():
    """Streamed server rendering ships the body in a hidden block that a script
    moves into place: several paragraphs of prose are not chrome."""
    streamed = "".join(
        f"<p>{p} More words to make a real paragraph here.</p>" for p in (P1, P2, P3)
    )
    menu = "".join(f'<p><a href="/s/{i}">{p}</a></p>' for i, p in enumerate((P1, P2, P3)))
    tree, _ = cleaned(
        f"<h1>{HEADLINE}</h1><div hidden id='S:0'>{streamed}</div>"
        f"<div hidden class='drawer'>{menu.replace('Prime', 'MENU')}</div>"
    )
    assert P1 in text_of(tree) and P3 in text_of(tree)
    assert "MENU" not in text_of(tree)


# --- clean_tree: related cards ------------------------------------------------------

SUMMARY = (
    "Vladimir Putin could not stop smiling at the spectacle awaiting him in Anchorage "
    "yesterday, as American jets flew overhead and a red carpet was rolled out SUMMARY"
)
RELATED_BLOCK = f"""
<div class="related-content">
  <div class="card">
    <a href="/news/world/putin-alaska-summit"><img src="/i/1.jpg" alt=""></a>
    <h3><a href="/news/world/putin-alaska-summit">Putin was the real winner of the Alaska summit</a></h3>
    <p>{SUMMARY}</p>
    <span class="card-source">Spectator</span>
  </div>
  <div class="card">
    <a href="https://www.times.example/trump-putin-summary">Trump-Putin meeting summary: four key moments</a>
    <span class="publisher-name">Times</span>
  </div>
  <div class="card"><a href="../world/zelensky-embrace">Zelensky and Starmer embrace at Downing Street</a></div>
  <a href="javascript:void(0)">Load more related stories</a>
</div>
"""


def test_related_cards_are_harvested_with_title_url_and_source():
    _, harvest = cleaned(STORY + RELATED_BLOCK)
    assert harvest.related == [
        RelatedLink(
            title="Putin was the real winner of the Alaska summit",
            url="https://www.daily8.example/news/world/putin-alaska-summit",
            source="Spectator",
        ),
        RelatedLink(
            title="Trump-Putin meeting summary: four key moments",
            url="https://www.times.example/trump-putin-summary",
            source="Times",
        ),
        RelatedLink(
            title="Zelensky and Starmer embrace at Downing Street",
            url="https://www.daily8.example/news/world/zelensky-embrace",
            source=None,
        ),
    ]


def test_related_block_and_its_summaries_leave_the_text():
    tree, _ = cleaned(STORY + RELATED_BLOCK)
    text = text_of(tree)
    assert "SUMMARY" not in text
    assert "Putin was the real winner" not in text
    assert_story_kept(tree)


@pytest.mark.parametrize("label_class", ["source", "publisher", "provider", "card-source-label"])
def test_related_card_source_label_is_read_from_a_source_like_class(label_class):
    block = (
        '<ul class="recommended"><li><a href="/a/1">Ministers meet as talks resume in London</a>'
        f'<span class="{label_class}">PA Media</span></li></ul>'
    )
    _, harvest = cleaned(STORY + block)
    assert [(r.title, r.source) for r in harvest.related] == [
        ("Ministers meet as talks resume in London", "PA Media")
    ]


@pytest.mark.parametrize(
    "block_class", ["related-articles", "recommended", "mostRead", "you-may-also-like", "trending"]
)
def test_related_blocks_found_by_class_are_harvested(block_class):
    block = f'<div class="{block_class}"><a href="/n/2">Floods force thousands from homes</a></div>'
    tree, harvest = cleaned(STORY + block)
    assert [(r.title, r.url) for r in harvest.related] == [
        ("Floods force thousands from homes", "https://www.daily8.example/n/2")
    ]
    assert "Floods force" not in text_of(tree)


def test_related_urls_stay_relative_without_a_base_url():
    block = '<div class="related"><a href="/n/3">Council approves new housing plan</a></div>'
    _, harvest = cleaned(STORY + block, base_url=None)
    assert [r.url for r in harvest.related] == ["/n/3"]


# --- clean_tree: related-section headings -------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "<h2>Related Articles</h2>",
        "<h3>More for you</h3>",
        "<h4>Recommended stories</h4>",
        "<h5>You may also like</h5>",
        "<h6>Most read</h6>",
        "<strong>Related Articles</strong>",
        "<b>More for you</b>",
        "<p><strong>More for you</strong></p>",
        "<div><h3>Recommended stories</h3></div>",
        '<div role="heading" aria-level="2">Related Articles</div>',
    ],
)
def test_related_heading_removes_itself_and_what_follows_in_its_parent(heading):
    section = (
        '<div class="story-extras">'
        "<p>Text before the heading is KEPT.</p>"
        f"{heading}"
        '<ul><li><a href="/news/world/alaska">Putin was the real winner of the Alaska summit</a></li></ul>'
        "<p>Teaser of another story LEAK</p>"
        "</div>"
        "<p>Text after the section is KEPT too.</p>"
    )
    tree, harvest = cleaned(STORY + section)
    assert text_of(tree) == (
        f"{HEADLINE} {P1} {P2} {P3} Text before the heading is KEPT. Text after the section is KEPT too."
    )
    assert [(r.title, r.url) for r in harvest.related] == [
        (
            "Putin was the real winner of the Alaska summit",
            "https://www.daily8.example/news/world/alaska",
        )
    ]


def test_a_related_heading_never_takes_the_article_after_it():
    page = (
        '<div class="page"><h2>Most read</h2>'
        '<ul><li><a href="/n/9">Ministers meet as talks resume in London</a></li></ul>'
        f"{STORY}</div>"
    )
    tree, harvest = cleaned(page)
    assert text_of(tree) == f"{HEADLINE} {P1} {P2} {P3}"
    assert [r.title for r in harvest.related] == ["Ministers meet as talks resume in London"]


def test_a_subheading_that_merely_starts_like_a_marker_is_kept():
    body = STORY.replace(
        "</article>",
        "<h2>Comments from the minister</h2><p>Paragraph under the subheading KEPT.</p></article>",
    )
    tree, harvest = cleaned(body)
    text = text_of(tree)
    assert "Comments from the minister" in text
    assert "under the subheading KEPT" in text
    assert harvest.related == []


# --- clean_tree: captions -----------------------------------------------------------


def figure(caption_html: str) -> str:
    return (
        f'<figure><img src="/i/photo.jpg" alt=""><figcaption>{caption_html}</figcaption></figure>'
    )


@pytest.mark.parametrize(
    ("caption_html", "expected"),
    [
        (
            "Poland's Prime Minister Donald Tusk with Sir Keir Starmer"
            ' <span class="credit">(Stefan Rousseau/PA)</span>',
            ("Poland's Prime Minister Donald Tusk with Sir Keir Starmer", "Stefan Rousseau/PA"),
        ),
        (
            'Crowds gather outside parliament <span class="image-credit">Photo: Jane Doe/AFP</span>',
            ("Crowds gather outside parliament", "Jane Doe/AFP"),
        ),
        (
            "Sir Keir Starmer and Volodymyr Zelensky at Downing Street (Jordan Pettitt/PA)",
            ("Sir Keir Starmer and Volodymyr Zelensky at Downing Street", "Jordan Pettitt/PA"),
        ),
        (
            "Crowds gather outside parliament. Photo: Jane Doe/AFP",
            ("Crowds gather outside parliament.", "Jane Doe/AFP"),
        ),
        (
            "A walker crosses a parched field on the South Downs © Getty Images",
            ("A walker crosses a parched field on the South Downs", "Getty Images"),
        ),
        (
            "A Nordhavn Line container ship in Aarhus. REUTERS/Henrik Dahl",
            ("A Nordhavn Line container ship in Aarhus.", "REUTERS/Henrik Dahl"),
        ),
        (
            'Flood defences on the River Severn <span class="credit">Stefan Rousseau</span>',
            ("Flood defences on the River Severn", "Stefan Rousseau"),
        ),
        (
            "Exposed mud at Ashcombe reservoir near Maidstone",
            ("Exposed mud at Ashcombe reservoir near Maidstone", None),
        ),
    ],
)
def test_figure_captions_are_harvested_with_their_credit(caption_html, expected):
    tree, harvest = cleaned(STORY.replace("</article>", figure(caption_html) + "</article>"))
    assert [(c.text, c.credit) for c in harvest.captions] == [expected]
    assert tree.css_first("figure") is None
    assert expected[0] not in text_of(tree)
    assert_story_kept(tree)


def test_place_captions_counts_the_paragraphs_before_the_figure():
    credited = "Putin at the Kremlin (Vyacheslav Prokofyev/AP)"
    body = (
        f"<article><h1>Headline of the story</h1><p>{P1}</p><p>{P2}</p>"
        f"{figure(credited)}<p>{P3}</p></article>"
    )
    tree, harvest = cleaned(body)
    paragraphs = paragraphs_of(tree)
    assert paragraphs == [P1, P2, P3]
    placed = place_captions(harvest.captions, paragraphs)
    assert [(c.text, c.credit, c.position) for c in placed] == [
        ("Putin at the Kremlin", "Vyacheslav Prokofyev/AP", 2)
    ]


def test_place_captions_puts_a_lead_image_before_the_first_paragraph():
    body = (
        "<article><h1>Headline of the story</h1>"
        f"{figure('Putin at the Kremlin (Vyacheslav Prokofyev/AP)')}"
        f"<p>{P1}</p><p>{P2}</p></article>"
    )
    tree, harvest = cleaned(body)
    placed = place_captions(harvest.captions, paragraphs_of(tree))
    assert [c.position for c in placed] == [0]


@pytest.mark.parametrize("caption_class", ["image-caption", "wp-caption-text", "photoCaption"])
def test_caption_classed_elements_outside_figures_are_harvested(caption_class):
    caption = f'<div class="{caption_class}">Flood water fills a street in Valencia (Jose Jordan/AFP)</div>'
    tree, harvest = cleaned(STORY.replace("</h1>", "</h1>" + caption))
    assert [(c.text, c.credit) for c in harvest.captions] == [
        ("Flood water fills a street in Valencia", "Jose Jordan/AFP")
    ]
    assert "Flood water" not in text_of(tree)
    assert_story_kept(tree)


def test_short_credited_text_right_after_an_image_is_a_caption():
    photo = (
        '<div class="media"><img src="/i/antakya.jpg" alt=""></div>'
        "<div>Rescue teams search the rubble in Antakya (Umit Bektas/Reuters)</div>"
    )
    tree, harvest = cleaned(STORY.replace(f"<p>{P3}", photo + f"<p>{P3}"))
    assert [(c.text, c.credit) for c in harvest.captions] == [
        ("Rescue teams search the rubble in Antakya", "Umit Bektas/Reuters")
    ]
    assert "Rescue teams" not in text_of(tree)
    assert_story_kept(tree)


def test_what_lay_in_a_harvested_figure_or_caption_is_not_read_again():
    # each image is followed by credited text, but it left the tree with its box
    image = '<span><img src="/i/{0}.jpg" alt=""></span><div>Seen from afar {0} (A Lens/AFP)</div>'
    figure = f"<figure>{image.format('one')}<figcaption>Harbour at dawn</figcaption></figure>"
    classed = f'<div class="photo-caption">Boats {image.format("two")}</div>'
    tree, harvest = cleaned(STORY.replace(f"<p>{P3}", figure + classed + f"<p>{P3}"))
    assert [c.text for c in harvest.captions] == ["Harbour at dawn", "Boats Seen from afar two"]
    assert "afar" not in text_of(tree)
    assert_story_kept(tree)


def test_a_figure_inside_a_harvested_figure_is_not_read_again():
    inner = '<figure><img src="/i/b.jpg" alt=""><figcaption>The inner view</figcaption></figure>'
    outer = f'<figure><img src="/i/a.jpg" alt="">{inner}<figcaption>The outer view</figcaption></figure>'
    tree, harvest = cleaned(STORY.replace(f"<p>{P3}", outer + f"<p>{P3}"))
    assert [c.text for c in harvest.captions] == ["The inner view", "The outer view"]
    assert "view" not in text_of(tree)
    assert_story_kept(tree)


def test_text_and_credit_line_after_an_image_form_one_caption():
    photo = (
        '<img src="/photos/footprints.jpg" alt="">'
        "<div>Archaeologists document footprints exposed at Caleta Quintay beach.</div>"
        "<div>AFP / Rodrigo Arancibia</div>"
    )
    tree, harvest = cleaned(STORY.replace(f"<p>{P3}", photo + f"<p>{P3}"))
    assert [(c.text, c.credit) for c in harvest.captions] == [
        (
            "Archaeologists document footprints exposed at Caleta Quintay beach.",
            "AFP / Rodrigo Arancibia",
        )
    ]
    assert "Rodrigo Arancibia" not in text_of(tree)


def test_uncredited_text_after_an_image_stays_in_the_body():
    photo = (
        '<img src="/i/road.jpg" alt=""><div>The council said repairs would take six weeks.</div>'
    )
    tree, harvest = cleaned(STORY.replace(f"<p>{P3}", photo + f"<p>{P3}"))
    assert harvest.captions == []
    assert "repairs would take six weeks" in text_of(tree)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Putin at the Kremlin (Stefan Rousseau/PA)",
            ("Putin at the Kremlin", "Stefan Rousseau/PA"),
        ),
        ("Putin at the Kremlin (Photo: Getty)", ("Putin at the Kremlin", "Getty")),
        ("Crowds gather. Photo: Jane Doe/AFP", ("Crowds gather.", "Jane Doe/AFP")),
        ("Crowds gather. Picture by Jane Doe", ("Crowds gather.", "Jane Doe")),
        ("A parched field © Getty Images", ("A parched field", "Getty Images")),
        ("A ship in Aarhus. REUTERS/Henrik Dahl", ("A ship in Aarhus.", "REUTERS/Henrik Dahl")),
        (
            "Ministers met in Brussels (file photo)",
            ("Ministers met in Brussels (file photo)", None),
        ),
        ("A plain caption with no credit at all", ("A plain caption with no credit at all", None)),
    ],
)
def test_split_credit(text, expected):
    assert split_credit(text) == expected


# --- clean_tree / unwrap_layout_tables: layout tables -------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "<table><tr><td><h1>Headline</h1></td></tr><tr><td>Body text FIRST</td></tr></table>",
        "<table><tr><td><h2>Section</h2></td><td>Body text FIRST</td></tr></table>",
        "<table><tr><td><table><tr><td>Body text FIRST</td></tr></table></td></tr></table>",
        "<table><tr><td><p>Body text FIRST</p><p>Body text SECOND</p></td></tr></table>",
    ],
)
def test_layout_tables_are_unwrapped_and_their_text_kept(table):
    tree = LexborHTMLParser(f"<html><body>{table}</body></html>")
    unwrap_layout_tables(tree)
    assert tree.css("table, tr, td") == []
    assert "Body text FIRST" in text_of(tree)


def test_data_tables_are_kept_as_tables():
    table = (
        "<table><thead><tr><th>Party</th><th>Seats</th></tr></thead>"
        "<tbody><tr><td>Labour</td><td>411</td></tr><tr><td>Conservative</td><td>121</td></tr>"
        "</tbody></table>"
    )
    tree, _ = cleaned(STORY.replace("</article>", table + "</article>"))
    assert [" ".join(td.text().split()) for td in tree.css("table td")] == [
        "Labour",
        "411",
        "Conservative",
        "121",
    ]


def test_a_table_layout_portal_keeps_its_story_in_order():
    page = (
        '<table width="100%"><tr><td><h1>Footprints found on Chilean beach</h1></td></tr>'
        f"<tr><td><p>{P1}</p><p>{P2}</p></td><td>"
        '<table class="sidebar"><tr><td>Most popular LEAK</td></tr></table></td></tr></table>'
    )
    tree, _ = cleaned(page)
    assert tree.css_first("table") is None
    assert paragraphs_of(tree) == [P1, P2]
    text = text_of(tree)
    assert text.index("Footprints found") < text.index(P1) < text.index(P2)
    assert "LEAK" not in text


# --- clean_tree: main text protection -----------------------------------------------


@pytest.mark.parametrize(
    "wrapper",
    [
        '<div class="entry-content-read-more">{}</div>',
        '<div class="page-with-sidebar"><div class="story-text">{}</div></div>',
        '<section class="promo-layout"><div class="newsletter-body">{}</div></section>',
    ],
)
def test_main_text_container_is_kept_even_with_chrome_tokens(wrapper):
    body = wrapper.format(f"<p>{P1}</p><p>{P2}</p><p>{P3}</p>")
    tree, _ = cleaned(body + '<div class="read-more"><p>Teaser LEAK</p></div>')
    assert paragraphs_of(tree) == [P1, P2, P3]
    assert "LEAK" not in text_of(tree)


def test_a_long_reply_in_the_comment_thread_is_not_the_main_text():
    reply = "".join(f"<p>{p}</p>" for p in (P1, P2, P3, P1, P2))
    body = (
        f"<div class='post'><h1>{HEADLINE}</h1><p>{P3}</p><p>{P2}</p></div>"
        f"<ol class='comment-list'><li class='comment'><div class='reply-body'>{reply}</div>"
        "</li></ol>"
    )
    _, harvest = cleaned(body)
    assert harvest.main is not None
    assert "post" in (harvest.main.attributes.get("class") or "")


# --- clean_lines: portal-template end markers ---------------------------------------

BODY = [
    "The Prime Minister has been a key player in the coalition of the willing.",
    "Speaking in the Oval Office, Mr Trump said a second meeting was planned.",
]
TEMPLATE_TAIL = ["Putin was the real winner of the Alaska summit", "Spectator", "an hour ago"]

END_MARKER_LINES = [
    "Hashtags",
    "Tags",
    "Topics:",
    "Related Articles",
    "Related stories",
    "Related coverage",
    "Try Our AI Features",
    "Explore what Daily8 AI can do for you:",
    "Comments",
    "Comments (12)",
    "12 comments",
    "No comments yet...",
    "Be the first to comment",
    "View 45 comments",
    "Join the conversation",
    "Recommended stories",
    "Suggested for you",
    "More for you",
    "More stories from PA Media",
    "More from The Independent",
    "You may also like",
    "You might also enjoy",
    "Read more",
    "Read next",
    "See also",
    "Most read",
    "Most popular",
    "Trending now",
    "Top stories",
    "Sponsored content",
    "Latest headlines",
    "Sign up for our newsletter",
    "Sign up for our daily Politics newsletter to get the latest news",
    "Our newsletters",
    "Share this article",
    "Follow us on X",
]


@pytest.mark.parametrize("marker", END_MARKER_LINES)
def test_end_marker_cuts_the_rest_after_two_body_lines(marker):
    result = clean_lines([*BODY, marker, *TEMPLATE_TAIL, "Another body-like paragraph."])
    assert result.lines == BODY


@pytest.mark.parametrize("marker", END_MARKER_LINES)
def test_end_marker_before_two_body_lines_is_only_dropped(marker):
    result = clean_lines([BODY[0], marker, BODY[1]])
    assert result.lines == BODY


def test_end_marker_at_the_top_is_dropped():
    assert clean_lines(["Most read", *BODY]).lines == BODY


@pytest.mark.parametrize("label", ["Related article", "Related story:", "RELATED POST"])
def test_the_label_of_one_inline_card_goes_with_its_title_and_the_body_goes_on(label):
    lines = [*BODY, label, "The smart thermostat buying guide", "A third body paragraph."]
    assert clean_lines(lines).lines == [*BODY, "A third body paragraph."]


def test_no_comments_yet_with_a_unicode_ellipsis_is_an_end_marker():
    assert clean_lines([*BODY, "No comments yet…", *TEMPLATE_TAIL]).lines == BODY


# --- clean_lines: stray chrome lines ------------------------------------------------

DROPPED_LINES = [
    "Story continues below",
    "Story continues",
    "Advertisement",
    "ADVERTISEMENT",
    "Ad",
    "Sponsored content",
    "Continue reading",
    "Skip advert",
    "Scroll to continue with content",
    "Listen to this article",
    "Listen to article 4 min",
    "Share",
    "Copy link",
    "Open in app",
    "Download the app for breaking news alerts",
    "Click here to get the latest headlines",
    "Subscribe now",
    "Copyright 2026 The Associated Press. All rights reserved.",
    "© 2026 Reuters",
    "(c) 2026 AFP",
    "The Associated Press. All rights reserved.",
    "This material may not be published, broadcast, rewritten or redistributed.",
    "Photo: Jane Doe/AFP",
    "Image: Getty Images",
    "(Reporting by Jane Doe; Editing by John Smith)",
    "(Additional reporting by Tom Hart)",
    "Associated Press writer Jane Doe contributed to this report.",
    "AFP/AP",
    "Home",
    "Table of Contents",
    "11 min read",
    "Join Our Newsletter",
    "Join our mailing list! Get a newsletter when an episode is out",
    "Sign up",
    "Book a demo",
    "Get started today",
    "Back to Blogs",
    "Next article: Go wins 2010 Bossie award",
    "Posted by David at December 16, 2025 11:15 am",
    "Written by Cassidy Horton",
    "Stay connected with me!",
    "Like this:",
    "Pin this for later!",
    "Already have an account? Log in",
    "Advertisement: New AI Book!",
    "Email: newsroom@example.org",
    "All rights reserved.",
    "Start your day with the Morning Bell. Sign up for the free daily newsletter.",
    "There's more where that came from. Sign up for Briefing to get the newsletter daily.",
    "Like this story? Share it with a friend!",
    "Published 18 November 2019",
    "Updated: Nov. 19, 2019 at 5:02 pm",
    "Posted on 2019-11-18",
]


@pytest.mark.parametrize("chrome", DROPPED_LINES)
def test_stray_chrome_lines_are_dropped(chrome):
    lines = [BODY[0], chrome, BODY[1], "The talks continue on Friday."]
    assert clean_lines(lines).lines == [*BODY, "The talks continue on Friday."]


@pytest.mark.parametrize(
    "sentence",
    [
        "The minister declined to make comments on the advertisement campaign.",
        "Comments from the council are expected on Friday.",
        "Advertisement revenue fell by 4% in the last quarter.",
        "Related articles in the local press had reported the closure earlier.",
        "Most read stories this week were about the storm.",
        "Readers shared the photo: it showed the flooded high street.",
        "He went home.",
        "Register to vote by Friday, officials said.",
        "Sign up rates for the scheme doubled in March, the council said.",
        "Readers can sign up for the council newsletter to hear about the plans, she said.",
        "Updated figures were published on Friday.",
        "Published 18 November 2019, the report found that rents rose in every region.",
        "I like this: the new park opens on Sunday.",
        "Email: the new default for workplaces, experts say.",
    ],
)
def test_news_sentences_mentioning_chrome_words_are_kept(sentence):
    lines = [BODY[0], sentence, BODY[1], "The talks continue on Friday."]
    assert clean_lines(lines).lines == lines


# --- clean_lines: caption lines -----------------------------------------------------


def test_caption_lines_move_to_captions_with_their_position():
    lines = [
        "Poland's Prime Minister Donald Tusk with Sir Keir Starmer (Stefan Rousseau/PA)",
        BODY[0],
        BODY[1],
        "Russian President Vladimir Putin (Vyacheslav Prokofyev, Sputnik, Kremlin Pool Photo/AP)",
        "Ukraine has already rejected any proposal that would compromise its borders.",
    ]
    result = clean_lines(lines)
    assert result.lines == [*BODY, lines[4]]
    assert result.captions == [
        Caption(
            text="Poland's Prime Minister Donald Tusk with Sir Keir Starmer",
            credit="Stefan Rousseau/PA",
            position=0,
        ),
        Caption(
            text="Russian President Vladimir Putin",
            credit="Vyacheslav Prokofyev, Sputnik, Kremlin Pool Photo/AP",
            position=2,
        ),
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Turnout rose sharply in the north (figures from the ONS/Electoral Commission.)",
        "Voters were asked whether they backed the plan (yes/no!)",
        "Will the deal hold (and for how long, asks the BBC/Ipsos poll?)",
    ],
)
def test_a_sentence_ending_in_a_closed_parenthesis_stays_in_the_body(sentence):
    result = clean_lines([BODY[0], sentence])
    assert result.lines == [BODY[0], sentence]
    assert result.captions == []


# --- clean_lines: bullets and whitespace --------------------------------------------


@pytest.mark.parametrize("bullet", ["- ", "• ", "* ", "· ", "▪ "])
def test_bullets_are_stripped(bullet):
    assert clean_lines([f"{bullet}Schools will reopen on Monday."]).lines == [
        "Schools will reopen on Monday."
    ]


@pytest.mark.parametrize("number", ["1. ", "12. ", "3) "])
def test_a_written_list_number_is_the_pages_own_text(number):
    line = f"{number}Schools will reopen on Monday."
    assert clean_lines([line]).lines == [line]


@pytest.mark.parametrize(
    "line",
    ["-5C overnight lows are expected in the Highlands.", "3.5 million people were affected."],
)
def test_a_leading_number_or_minus_sign_is_not_a_bullet(line):
    assert clean_lines([line]).lines == [line]


def test_blank_lines_are_dropped_whitespace_is_normalised_and_quotes_are_kept():
    lines = [
        "",
        "   ",
        "  The   council\tmet on\u00a0Tuesday.  ",
        "\u201cWe\u2019re ready,\u201d she said.\u200b",
    ]
    # Records keep the page's typography; only the seed text format folds quotes.
    assert clean_lines(lines).lines == [
        "The council met on Tuesday.",
        "\u201cWe\u2019re ready,\u201d she said.",
    ]


def test_class_and_id_words_are_lower_case_runs_of_letters_and_digits_split_at_camel_case():
    html = '<div class="ArticleBody--main  js_x-2 " id="caféBox3D" aria-label="__" title="t">'
    tree = LexborHTMLParser(html + '<p class="story-body__inner">')
    div, p = tree.css("div, p")
    assert clean.tokens(div) == ("article", "body", "main", "js", "x", "2", "caf", "box3", "d")
    assert clean.tokens(p) == ("story", "body", "inner")


BYLINE_WORDS = frozenset({"author", "authors", "byline", "writer"})
# Class and id values: the words in any case, inside other words, beside letters that
# Unicode (not lexbor) case-folds into ASCII ones, and other words.
HOLDER_PIECES = [*BYLINE_WORDS, *SOURCE_TOKENS, "AUTHOR", "Byline", "xauthorx", "auth", "or"]
HOLDER_PIECES += ["\u212a", "\u017fource", "\u0130", "caf\u00e9", "main", "post-1", "-", " ", "_"]


def random_holders_page(rng: random.Random) -> str:
    html = []
    for _ in range(rng.randrange(1, 40)):
        attrs = []
        for key in rng.sample(["class", "id", "aria-label", "data-testid", "title"], 2):
            value = "".join(rng.choices(HOLDER_PIECES, k=rng.randrange(4)))
            attrs.append(f'{key}="{escape(value)}"')
        tag = rng.choice(["div", "span", "p", "a", "section", "svg"])
        html.append(f"<{tag} {' '.join(attrs)}>t" + f"</{tag}>" * rng.randrange(2))
    return "<html><body>" + "".join(html) + "</body></html>"


def test_with_tokens_finds_what_lexbor_s_substring_selectors_find():
    rng = random.Random(14)
    for _ in range(300):
        tree = LexborHTMLParser(random_holders_page(rng))
        roots = [tree.root, tree.body, *tree.css("div, section")[:3]]
        for root in roots:
            assert root is not None
            for words in (BYLINE_WORDS, SOURCE_TOKENS, BYLINE_WORDS | SOURCE_TOKENS):
                lexbor = root.css(token_selector(words).css)
                theirs = [n.mem_id for n in lexbor if words & set(clean.tokens(n))]
                assert [n.mem_id for n in with_tokens(root, words)] == theirs


def test_an_element_is_listed_once_per_substring_selector_it_matches():
    html = '<div class="author byline" id="writer-byline">a<p class="BYLINE">b</p></div>'
    tree = LexborHTMLParser(html)
    assert tree.body is not None
    assert [n.tag for n in with_tokens(tree.body, BYLINE_WORDS)] == ["div"] * 4 + ["p"]


def test_a_sole_child_is_the_only_child_iter_lists():
    tree = LexborHTMLParser(
        "<div><a><img></a> text </div><div><a><img></a><!-- c --></div>"
        "<div><span>x</span><a><img></a></div><p><b><img></b>\n</p>"
    )
    for node in tree.css("img, a, b"):
        siblings = list(node.parent.iter())
        expected = len(siblings) == 1 and siblings[0].mem_id == node.mem_id
        assert clean._is_sole_child(node) == expected
    assert [clean._is_sole_child(a) for a in tree.css("a")] == [True, False, False]


def test_a_credit_is_looked_for_only_where_the_pattern_can_match():
    rng = random.Random(3)
    texts = [
        "Putin (Stefan Rousseau/PA)",
        "A view. Photo: Jane Roe",
        "\u00a9 Getty",
        "x. AFP/Getty",
    ]
    pieces = [
        "(",
        ")",
        "/",
        "\u00a9",
        "PHOTO",
        "image",
        "Credits:",
        ". ",
        "\u0130",
        "\u017f",
        " by ",
    ]
    for _ in range(5000):
        text = mutated(rng.choice([*texts, "Plain words here"]), pieces, rng, 4)
        found, expected = clean._credit_in(text), clean.CREDIT_IN_TEXT.search(text)
        assert (found and found.span()) == (expected and expected.span())
