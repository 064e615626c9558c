"""The block classifier: segmentation, features, decoding, the guard and the shipped
model, each on small hand-written pages."""

from __future__ import annotations

import json
import random
import re
from importlib import resources

import numpy as np
import pytest
from selectolax.lexbor import LexborHTMLParser

from scraper import blocks
from scraper.blocks import (
    BLOCK_FEATURES,
    CARD_FILE,
    CONTEXT_FEATURES,
    FEATURE_VERSION,
    MODEL_FILE,
    BlockModel,
    PageBlocks,
    context_features,
    decode,
    guard,
    later_stage,
    line_marks,
    overlaps,
    read_blocks,
    repeated_copies,
    segment,
    shingles,
    shipped_model,
)
from scraper.clean import (
    CARD_LABEL,
    DROP_LINES,
    END_MARKERS,
    _is_line_mark,
    _verdict,
    clean_tree,
)
from scraper.errors import ExtractError, NotAnArticle
from scraper.extract import extract, parse_page, text_containers

SENTENCE = (
    "The council agreed on Monday to rebuild the old bridge over the river, ending a "
    "decade of argument about the cost of the work and who should pay for it."
)


def blocks_of(html: str) -> list[tuple[str, str]]:
    tree = LexborHTMLParser(html)
    assert tree.body is not None
    blocks, _ = segment(tree.body)
    return [(b.tag, b.text) for b in blocks]


def page_of(body: str, head: str = "") -> PageBlocks:
    html = f"<html><head>{head}</head><body>{body}</body></html>"
    return parse_page(html, "https://news.example/story").page


def column(page: PageBlocks, name: str) -> list[float]:
    return page.features[:, BLOCK_FEATURES.index(name)].tolist()


# --- segmentation ----------------------------------------------------------------------


def test_blocks_come_in_document_order_with_inline_text_kept_together():
    html = (
        "<body><h1>Bridge</h1><p>First <b>bold</b> and <a href='/x'>linked</a> words.</p>"
        "<ul><li>One item</li><li>Two items</li></ul><script>var x = 1;</script>"
        "<blockquote>A quote</blockquote></body>"
    )
    assert blocks_of(html) == [
        ("h1", "Bridge"),
        ("p", "First bold and linked words."),
        ("li", "One item"),
        ("li", "Two items"),
        ("blockquote", "A quote"),
    ]


def test_the_space_between_two_inline_elements_parts_their_words():
    html = (
        "<body><p>The <b>big</b> <i>red</i> dog.</p><p><a href='/a'>One</a>\n<a href='/b'>Two</a></p>"
        "<div>Posted by Ann<br>\n<br>The first paragraph</div></body>"
    )
    assert blocks_of(html) == [
        ("p", "The big red dog."),
        ("p", "One Two"),
        ("div", "Posted by Ann"),
        ("div", "The first paragraph"),
    ]


def test_a_div_holding_its_own_text_is_a_block_split_around_its_child_blocks():
    html = "<body><div>Before the list<p>Inside</p>after the list</div></body>"
    assert blocks_of(html) == [
        ("div", "Before the list"),
        ("p", "Inside"),
        ("div", "after the list"),
    ]


def test_two_line_breaks_end_a_paragraph_and_one_is_a_space():
    html = "<body><div>Posted by Ann<br><br>The first paragraph<br>goes on here.</div></body>"
    assert blocks_of(html) == [
        ("div", "Posted by Ann"),
        ("div", "The first paragraph goes on here."),
    ]


def test_very_deep_nesting_is_walked_without_recursion():
    html = "<div>" * 5000 + "<p>Deep text</p>"
    assert blocks_of(html) == [("p", "Deep text")]


def test_the_walk_judges_inline_elements_for_the_cleaner_too():
    html = (
        f'<p>{SENTENCE} <span class="share-bar">Share</span> <a class="readMore" href="/x">'
        'More</a><b role="navigation">b</b><i>i</i><br class="ad"><em style="x">e</em></p>'
    )
    tree = LexborHTMLParser(html)
    assert tree.body is not None
    _, elements = segment(tree.body)
    inline = [n for n in tree.body.traverse() if n.tag in {"span", "a", "b", "i", "br", "em"}]
    verdicts = [elements.verdicts[n.mem_id] for n in inline]
    assert verdicts == [_verdict(n.attributes) for n in inline] == [2, 3, 2, 0, 1, 0]


def test_the_cleaner_acts_on_the_verdicts_the_walk_gave_each_element():
    html = (
        '<div class="sidebar" id="story"><div class="related-stories"><p>Other story</p></div>'
        f'<div class="article-body" data-testid="ad-slot"><p>{SENTENCE}</p></div></div>'
    )
    tree, fresh = LexborHTMLParser(html), LexborHTMLParser(html)
    assert tree.body is not None and fresh.body is not None
    _, elements = segment(tree.body)
    divs = [n for n in tree.body.traverse() if n.tag == "div"]
    verdicts = [elements.verdicts[n.mem_id] for n in divs]
    assert verdicts == [_verdict(n.attributes) for n in divs]
    assert len(set(verdicts)) == 3  # chrome, related and slot: each judged alike
    clean_tree(fresh)
    assert "Other story" not in fresh.body.text()
    clean_tree(tree, None, dict.fromkeys(elements.verdicts, 0))  # no element judged chrome
    assert "Other story" in tree.body.text()


# --- features --------------------------------------------------------------------------


def test_every_block_gets_one_value_per_feature():
    page = page_of(f"<article><h1>Bridge</h1><p>{SENTENCE}</p><p>{SENTENCE}</p></article>")
    assert page.features.shape == (3, len(BLOCK_FEATURES))
    assert np.isfinite(page.features).all()


def test_text_and_link_features():
    page = page_of(
        f"<article><p>{SENTENCE}</p><p><a href='/a'>A link that fills the whole block</a></p></article>"
    )
    assert column(page, "link_density") == [0.0, 1.0]
    assert column(page, "all_link") == [0.0, 1.0]
    assert column(page, "ends_sentence") == [1.0, 0.0]
    assert column(page, "words")[0] == len(SENTENCE.split())


def test_dom_features_say_which_landmark_holds_the_block():
    page = page_of(
        f"<nav><ul><li>Home</li></ul></nav><article><p>{SENTENCE}</p></article>"
        "<footer><p>About us</p></footer>"
    )
    assert column(page, "in_nav") == [1.0, 0.0, 0.0]
    assert column(page, "in_article") == [0.0, 1.0, 0.0]
    assert column(page, "in_footer") == [0.0, 0.0, 1.0]


def test_rule_evidence_is_a_feature_not_a_cut():
    body = "".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(5))
    page = page_of(
        f"<div class='share-bar'><p>Share this story with your friends</p></div>"
        f"<article><div class='story'>{body}</div></article><h2>Related Articles</h2>"
    )
    assert page.texts[0] == "Share this story with your friends"  # the block is still there
    assert column(page, "kept_by_rules")[0] == 0.0  # but clean.py removes it
    assert column(page, "verdict_chain")[0] > 0
    assert column(page, "kept_by_rules")[1:6] == [1.0] * 5
    assert column(page, "in_fast_path")[1:6] == [1.0] * 5
    assert column(page, "end_marker")[-1] == 1.0


def test_blocks_of_a_layout_table_the_cleaner_made_anew_are_known_as_kept():
    # clean_tree turns a layout table into new <div> elements: their block marks are
    # read from them, not from the elements the walk marked
    rows = "".join(f"<tr><td><p>{SENTENCE} Part {i}.</p></td></tr>" for i in range(3))
    page = page_of(
        f"<table><tr><td><h2>Budget vote</h2></td></tr>{rows}</table>"
        "<div class='share-bar'><p>Share this story with your friends</p></div>"
    )
    assert page.texts[0] == "Budget vote"
    assert column(page, "kept_by_rules") == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_jsonld_article_body_overlap_is_a_feature():
    article_body = f"{SENTENCE} Part 0."
    head = (
        "<script type='application/ld+json'>"
        + json.dumps({"@type": "NewsArticle", "articleBody": article_body})
        + "</script>"
    )
    page = page_of(f"<p>{SENTENCE} Part 0.</p><p>Something else entirely here</p>", head)
    assert column(page, "jsonld_overlap") == [1.0, 0.0]
    assert column(page, "page_has_jsonld") == [1.0, 1.0]


@pytest.mark.parametrize("codes", [blocks.CODES, 0])  # 0: each shingle compared as text
def test_the_overlap_is_the_share_of_a_text_s_shingles_in_the_reference(
    codes: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(blocks, "CODES", codes)
    rng = random.Random(14)
    words = ["a", "B", "c", "d\u00e9", "_", "1", "x_y", "\u03a3\u03a3"]

    def text() -> str:
        return rng.choice([" ", ", ", "\n", "-"]).join(rng.choices(words, k=rng.randrange(7)))

    for _ in range(1500):
        samples = [text() for _ in range(rng.randrange(5))]
        reference = text() + rng.choice(["", " " + text()])
        shingled = set(shingles(reference))
        expected = []
        for sample in samples:
            grams = shingles(sample)
            expected.append(sum(g in shingled for g in grams) / len(grams) if grams else 0.0)
        assert overlaps(samples, reference).tolist() == expected, (samples, reference)


def test_context_features_read_the_first_stage_in_context():
    page = page_of("".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(4)) + "<p>Ad</p>")
    p = np.array([0.9, 0.95, 0.1, 0.9, 0.05])
    extra = context_features(p, page.layout)
    assert extra.shape == (5, len(CONTEXT_FEATURES))
    rel_max = extra[:, CONTEXT_FEATURES.index("p_rel_max")]
    assert rel_max[1] == pytest.approx(1.0)
    assert extra[2, CONTEXT_FEATURES.index("confident_before")] == 1


class Recorder:
    """A stand-in for a later stage: it answers 0.7 and keeps the rows it was asked."""

    def __init__(self) -> None:
        self.asked: list[np.ndarray] = []

    def predict(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        self.asked.append(x)
        return np.full(len(x), 0.7)


def test_the_later_stages_are_not_asked_about_blocks_stage_1_is_sure_are_out():
    page = page_of("".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(3)) + "<p>Ad</p>")
    p1 = np.array([0.9, 0.6, 0.3, 0.001])
    x = np.hstack([page.features, context_features(p1, page.layout)])
    stage = Recorder()
    p = later_stage(stage, x)  # type: ignore[arg-type]
    assert p.tolist() == [0.7, 0.7, 0.7, pytest.approx(0.001)]
    assert [len(rows) for rows in stage.asked] == [3]


def test_on_a_page_stage_1_is_sure_of_nothing_every_block_is_asked():
    page = page_of("".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(3)) + "<p>Ad</p>")
    p1 = np.array([0.3, 0.2, 0.1, 0.001])  # the article may be all of it: stage 2 rescues
    x = np.hstack([page.features, context_features(p1, page.layout)])
    stage = Recorder()
    p = later_stage(stage, x)  # type: ignore[arg-type]
    assert p.tolist() == [0.7] * 4
    assert [len(rows) for rows in stage.asked] == [4]


# --- decoding ----------------------------------------------------------------------------


def test_a_lone_ad_inside_the_article_is_dropped():
    p = np.array([0.99, 0.98, 0.02, 0.99, 0.97])
    assert decode(p, [400, 400, 15, 400, 400]) == [True, True, False, True, True]


def test_a_short_doubtful_paragraph_between_two_long_ones_is_kept():
    p = np.array([0.02, 0.99, 0.4, 0.99, 0.02])
    assert decode(p, [30, 400, 60, 400, 30]) == [False, True, True, True, False]


def test_decoding_an_empty_page_gives_nothing():
    assert decode(np.zeros(0), []) == []


# --- the guard ---------------------------------------------------------------------------


def test_a_body_much_shorter_than_the_jsonld_article_body_takes_its_blocks():
    paragraphs = [f"{SENTENCE} Part {i}." for i in range(6)]
    head = (
        "<script type='application/ld+json'>"
        + json.dumps({"@type": "NewsArticle", "articleBody": "\n".join(paragraphs)})
        + "</script>"
    )
    page = page_of("".join(f"<p>{p}</p>" for p in paragraphs), head)
    chosen = [True] + [False] * 5
    reading, reason, lines = guard(page, chosen, np.full(6, 0.1), None)
    assert reason == "jsonld" and lines is None
    assert reading == [True] * 6


def test_a_body_that_is_a_sliver_of_the_longest_paragraph_run_takes_the_run():
    page = page_of("<h1>Title</h1>" + "".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(12)))
    chosen = [False, True] + [False] * 11
    reading, reason, _ = guard(page, chosen, np.full(13, 0.1), None)
    assert reason == "paragraphs"
    assert reading == [False] + [True] * 12


def test_a_body_much_shorter_than_trafilaturas_reading_takes_it():
    page = page_of("<p>Short</p><div>Another short block</div>")
    reading, reason, lines = guard(
        page, [True, False], np.array([0.5, 0.45]), lambda: [SENTENCE] * 6
    )
    assert reason == "trafilatura" and lines == [SENTENCE] * 6


def test_trafilatura_is_asked_only_on_pages_the_model_is_unsure_of():
    asked: list[str] = []

    def fallback() -> list[str]:
        asked.append("asked")
        return []

    story = "".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(8))
    confident = page_of(f"<article><h1>Bridge</h1><div class='story'>{story}</div></article>")
    shipped_model().body(confident, fallback)
    assert asked == []
    in_divs = "".join(f"<div>{SENTENCE} Part {i}.</div>" for i in range(3))
    no_container = page_of(f"<h1>Bridge</h1>{in_divs}<div><a href='/'>Home</a></div>")
    shipped_model().body(no_container, fallback)
    assert asked == ["asked"]


def test_a_body_of_normal_length_is_left_alone():
    page = page_of("".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(4)))
    reading, reason, _ = guard(page, [True] * 4, np.full(4, 0.9), None)
    assert reason is None and reading == [True] * 4


# --- the shipped model -------------------------------------------------------------------


def test_the_model_ships_as_package_data_with_its_card():
    data = resources.files("scraper").joinpath("data")
    card = json.loads(data.joinpath(CARD_FILE).read_text("utf-8"))
    assert card["feature_version"] == FEATURE_VERSION
    assert card["features"]["stage1"] == BLOCK_FEATURES
    assert card["features"]["stage2_extra"] == CONTEXT_FEATURES
    assert card["training_command"].startswith("python -m benchmarks.train")
    assert set(card["corpora"]) == {"aeb", "trafeval", "wcxb"}
    assert data.joinpath(MODEL_FILE).is_file()
    assert shipped_model() is shipped_model()  # loaded once per process


def test_an_unreadable_model_is_a_clean_error():
    with pytest.raises(ExtractError):
        BlockModel.from_string("not a model")


def chunked_article(chunks: int = 5, per_chunk: int = 3) -> tuple[str, list[str]]:
    """An article split by its editor into sibling chunks of the same class, with an
    ad slot and a promo between each two chunks."""
    paragraphs: list[str] = []
    parts = []
    for c in range(chunks):
        texts = [
            f"Chunk {c} paragraph {i}: {SENTENCE} The engineers said the new design "
            "would carry twice the traffic of the old crossing."
            for i in range(per_chunk)
        ]
        paragraphs += texts
        parts.append(
            "<div class='article-chunk'>" + "".join(f"<p>{t}</p>" for t in texts) + "</div>"
        )
        if c < chunks - 1:
            parts.append(
                "<div class='ad-slot'><span>Advertisement</span></div>"
                "<div class='promo-box'><a href='/offer'>Subscribe now for 1 dollar a week</a></div>"
            )
    html = (
        "<html><head><title>Bridge</title></head><body><header><nav><ul><li><a href='/'>Home</a>"
        "</li><li><a href='/news'>News</a></li></ul></nav></header><main><h1>Council votes to "
        "rebuild the bridge</h1>" + "".join(parts) + "</main><footer><p>Copyright 2026 The "
        "Example Times. All rights reserved.</p></footer></body></html>"
    )
    return html, paragraphs


def test_an_article_split_into_chunks_with_ads_between_them_comes_out_whole():
    html, paragraphs = chunked_article()
    article = extract(html, "https://news.example/bridge")
    assert article.paragraphs == paragraphs
    assert not any("Subscribe" in p or "Advertisement" in p for p in article.paragraphs)


def test_an_article_rendered_twice_for_two_screen_sizes_comes_out_once():
    story = [f"Part {i}: {SENTENCE}" for i in range(6)]
    variant = "".join(f"<p>{t}</p>" for t in story)
    html = (
        "<html><head><title>Bridge</title></head><body><main><h1>Council votes to rebuild "
        f"the bridge</h1><div class='variant hidden-desktop'>{variant}</div>"
        f"<div class='variant hidden-mobile'>{variant}</div></main></body></html>"
    )
    assert extract(html, "https://news.example/bridge").paragraphs == story


def test_a_copy_is_a_run_of_chosen_blocks_repeated_from_other_elements():
    texts = ["Intro", "Step one", "Step two", "Step three", "Outro", "Step one", "Step two",
             "Step three"]  # fmt: skip
    chosen = [True] * 8
    assert repeated_copies(texts, [1, 1, 1, 1, 1, 2, 2, 2], chosen) == {5, 6, 7}
    # the same steps again inside one element (a recipe, a schedule) are the text itself
    assert repeated_copies(texts, [1] * 8, chosen) == set()
    # two repeated blocks are too few, and blocks left out of the body do not count
    assert repeated_copies([*texts[:7], "The end"], [1, 1, 1, 1, 1, 2, 2, 2], chosen) == set()
    assert repeated_copies(texts, [1, 1, 1, 1, 1, 2, 2, 2], [True, False] + [True] * 6) == set()


def test_the_guard_restores_a_body_the_model_threw_away():
    html, paragraphs = chunked_article()
    parsed = parse_page(html, "https://news.example/bridge")
    model = shipped_model()
    n = len(parsed.page.blocks)
    doubtful = BlockModel(model.stage1, model.stage2, model.stage3)
    second, _ = model.second_stage(parsed.page)
    doubtful.second_stage = lambda page: (second, np.full(n, 0.01))  # type: ignore[method-assign]
    body = doubtful.body(parsed.page)
    assert body.guard == "paragraphs"
    assert [line for line in body.lines if line in paragraphs] == paragraphs
    assert doubtful.guarded == {"paragraphs": 1}


def test_a_page_without_body_text_is_not_an_article():
    with pytest.raises(NotAnArticle):
        extract("<html><body><nav><a href='/'>Home</a></nav></body></html>", "https://x.example/")


def test_text_containers_still_find_the_paragraph_container():
    body = "".join(f"<p>{SENTENCE} Part {i}.</p>" for i in range(5))
    tree = LexborHTMLParser(f"<html><body><div class='story'>{body}</div></body></html>")
    read_blocks(tree, None, (), text_containers)
    main = tree.css_first("div.story")
    assert [c.mem_id for c in text_containers(tree, main)] == [main.mem_id]


LINE_PATTERNS = (DROP_LINES, END_MARKERS, CARD_LABEL)
# Lines each pattern matches, and pieces to make more of.
LINES = [
    "Advertisement",
    "Story continues below the ad",
    "Related Articles:",
    "Related story.",
    "(Reporting by Jane Roe; editing by John Doe)",
    "\u00a9 2024 Example Media",
    "(c) 2019 x",
    "Sign up for our daily newsletter",
    "Read it. Sign up to the Morning newsletter here",
    "All rights reserved.",
    "Example Media. All Rights Reserved",
    "AP contributed to this report.",
    "EN/FR/DE",
    "5 min read",
    "Published on: 12 March 2024",
    "Posted by someone",
    "e-mail: x@y.z",
    "No comments yet\u2026",
    "3 comments",
    "Most Popular",
    "More from The Paper",
    "Photo: Jane Roe/PA",
    "Like this story? Share it",
]
PIECES = [" ", " ", ".", "!", "?", ":", "/", "(", ")", ",", "-", "4", "2024", "Sign", "sign"]
PIECES += ["\u00e9", "\u212a", "\u017f", "\u0130", "\u0131", "\u00a9", "\u2026", "\n"]


def mutated(line: str, rng: random.Random) -> str:
    """``line`` with its case changed, and pieces or words of the patterns put in,
    cut out or swapped (the letters Unicode case-folds into ASCII ones among them)."""
    words = [w for p in LINE_PATTERNS for w in re.findall(r"[a-z]+", p.pattern)]
    chars = list(rng.choice([line, line.lower(), line.upper(), line.swapcase(), line.title()]))
    for _ in range(rng.randrange(4)):
        where = rng.randrange(len(chars) + 1)
        action = rng.randrange(3)
        if action == 0:
            chars[where:where] = rng.choice([*PIECES, *words, " " + rng.choice(words)])
        elif action == 1:
            del chars[where : where + rng.randrange(1, 4)]
        else:
            chars[where:where] = rng.choice(words).upper()
    return "".join(chars)


def test_the_line_patterns_letters_are_lower_case_outside_their_cased_words():
    for pattern in LINE_PATTERNS:
        body = pattern.pattern.partition(")")[2]
        assert set(re.findall(r"\(\?-i:([^)]*)\)", body)) <= {"Sign"}
        assert not re.findall(r"(?<!\\)[A-Z]", re.sub(r"\(\?-i:[^)]*\)", "", body))


def test_line_marks_are_the_line_patterns_matches():
    rng = random.Random(14)
    texts = LINES + [mutated(rng.choice(LINES), rng) for _ in range(30000)]
    for short in (True, False):
        marks = line_marks(texts, [short] * len(texts))
        for pattern, marked in zip(LINE_PATTERNS, marks, strict=True):
            assert marked == [short and bool(pattern.match(t)) for t in texts], pattern.pattern
    # clean_lines tries the patterns only on a line this tells is one of them
    assert [_is_line_mark(t) for t in texts] == [
        any(p.match(t) for p in LINE_PATTERNS) for t in texts
    ]
    marks = line_marks(LINES, [True] * len(LINES))
    assert [any(m) for m in zip(*marks, strict=True)] == [True] * len(LINES)
