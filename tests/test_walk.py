"""The compiled block walk (``scraper/_walk.pyx``): it gives exactly what the Python
walk gives, its elements read and write attributes as selectolax's nodes do, and the
Python walk takes over when the compiled one is missing, disagrees or is turned off."""

from __future__ import annotations

import os
import random
import re
import string
import unicodedata
from collections.abc import Callable
from html import escape as html_escape
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import selectolax
from selectolax.lexbor import LexborHTMLParser

from scraper import blocks
from scraper.blocks import (
    BLOCK_MARK,
    FIGURES,
    JUDGED_ATTRIBUTES,
    PYTHON_WALK_ENV,
    TAG_CODES,
    Block,
    Context,
    Elements,
    _class_figures,
    _judge,
    _value_figures,
    choose_walk,
    compiled_block_figures,
    compiled_vocabulary,
    compiled_walk,
    compiled_word_ids,
    python_best_path,
    python_block_figures,
    python_sample_counts,
    python_segment,
    python_word_ids,
    read_blocks,
    walk_summary,
)
from scraper.clean import (
    CHROME_BIGRAMS,
    CHROME_ROLES,
    CHROME_TOKENS,
    RELATED_BIGRAMS,
    _verdict,
)
from scraper.normalise import normalise_space

from .conftest import compiled_module, printed_with


def compiled() -> Any:
    """The compiled walk (skipped where it is not built, but never on CI)."""
    return compiled_walk(compiled_module("_walk"))


PAGES = {
    "line breaks": "<p>One<br>two<br><br>three<br><br><br>four<br></p><div><br><br>x</div>",
    "nested inline links": (
        '<div>a <a href="/x">b <b><a>c</a></b> <i>d</i></a> e <a>f</a></div>'
        "<ul><li><a>One</a></li><li>Two <a>three</a> four</li></ul>"
    ),
    "space between inline elements": "<p><b>one</b> <i>two</i>\n\t<span>three</span> </p>",
    "hidden elements": (
        '<div hidden><p>x</p></div><div aria-hidden="true"><p>y</p></div>'
        '<div aria-hidden="false">z</div><span hidden>inline</span>'
    ),
    "display none": (
        '<div style="DISPLAY : none">x</div><div style="visibility:hidden">y</div>'
        '<div style="color:red">z</div>'
    ),
    "skipped tags": (
        "<p>a<script>b</script><style>c</style><noscript>d</noscript><svg><text>e</text>"
        "</svg><button>f</button>g</p><template><p>h</p></template><select><option>o"
        "</option></select><math><mi>x</mi></math><textarea>t</textarea>"
    ),
    "tables": (
        "<table><caption>Cap</caption><tr><th>H</th><td>1 <b>2</b></td></tr>"
        "<tr><td><p>in cell</p> tail</td></tr></table>"
    ),
    "text after a child block": "<div>before<p>inside</p>after<br>more<p>x</p><a>l</a></div>",
    "comments": "<div>a<!-- c -->b</div><!-- top --><p>c<!---->d</p>",
    "deep nesting": "<div>" * 3000 + "<p>deep</p>text" + "</div>" * 3000 + "after",
    "non-ASCII text": (
        "<p>Caf\u00e9 \u4e2d\u6587\u00a0nbsp\u2003em\u200bzw\u00ad</p><div>\u00a0</div>"
        "<div>\u3000<b>x</b>\u2028<i>y</i></div><p>\U0001f600 emoji\u00a0</p>"
    ),
    "attributes": (
        '<div class="ArticleBody main" id="story" role="main" data-testid="x" '
        'data-other="y"><p class>a</p><p CLASS="Sidebar">b</p><nav role="navigation" '
        'aria-label="Menu">c</nav><div id=a class=b style="x" hidden aria-hidden="true" '
        'role="complementary">t</div><div class="">e</div><div data-component="ad-slot">'
        "s</div><div id=related-stories>r</div></div>"
    ),
    "inline around blocks": "<span>a<div>b</div>c</span><a>x<p>y</p>z</a><b><i>q</i></b>",
    "custom elements": "<my-widget class='story'>custom <x-y>inner</x-y></my-widget>",
    "many tags": "".join(f"<x-{i}>t<p-{i % 7}>{i}</p-{i % 7}></x-{i}>" for i in range(300)),
    "pre": "<pre>  code\n  block  </pre><code>x  y</code>",
    "control characters": "<p>a\x0bb\x1cc\x7fd\x01e</p>",
    "text only": "just text",
    "empty": "",
    "landmarks": (
        "<header>h</header><main><article><h1>T</h1><figure><figcaption>c</figcaption>"
        "</figure><blockquote>q</blockquote><form><label>l</label></form></article></main>"
        "<aside>a</aside><footer>f</footer><dialog>d</dialog><menu><li>m</li></menu>"
    ),
}


@pytest.mark.parametrize("html", PAGES.values(), ids=PAGES.keys())
def test_the_compiled_walk_gives_what_the_python_walk_gives(html: str):
    walk = compiled()
    tree = LexborHTMLParser(f"<html><body>{html}</body></html>")
    assert tree.body is not None
    theirs = walk_summary(*python_segment(tree.body))
    found, elements = walk(tree.body)
    ours = walk_summary(found, elements)
    assert ours == theirs
    assert all(type(block.context) is Context for block in found)
    handles: dict[int, Any] = {}  # one per element
    assert all(handles.setdefault(b.node.mem_id, b.node) is b.node for b in found)
    assert ours[0] or not html  # every page but the empty one has blocks


def test_both_walks_give_what_the_pages_say():
    walk = compiled()
    tree = LexborHTMLParser(PAGES["line breaks"] + PAGES["text after a child block"])
    assert tree.body is not None
    texts = [(b.tag, b.text) for b in walk(tree.body)[0]]
    assert texts == [
        ("p", "One two"),
        ("p", "three"),
        ("p", "four"),
        ("div", "x"),
        ("div", "before"),
        ("p", "inside"),
        ("div", "after more"),
        ("p", "x"),
        ("div", "l"),
    ]


def test_a_block_s_element_reads_and_writes_attributes_as_selectolax_does():
    walk = compiled()
    tree = LexborHTMLParser('<div data-Rule="keep" data-empty>a</div><p>b</p>')
    assert tree.body is not None
    first, second = walk(tree.body)[0]
    div = tree.body.css_first("div")
    assert div is not None and first.node.mem_id == div.mem_id and first.node.tag == "div"
    assert first.node.attrs.get("data-rule") == div.attrs.get("data-rule") == "keep"
    assert first.node.attrs.get("DATA-RULE") == "keep"  # names match as in HTML
    assert first.node.attrs.get("data-empty") is None and first.node.attrs.get("nope") is None
    second.node.attrs[BLOCK_MARK] = "1"
    assert [n.tag for n in tree.body.css(f"[{BLOCK_MARK}='1']")] == ["p"]


def test_read_blocks_marks_the_blocks_the_compiled_walk_found(monkeypatch: pytest.MonkeyPatch):
    walk = compiled()
    monkeypatch.setattr(blocks, "_compiled", walk)
    tree = LexborHTMLParser("<div><p>One paragraph.</p><p>Another one.</p></div>")
    page = read_blocks(tree, None)
    assert page.texts == ["One paragraph.", "Another one."]
    assert [n.attributes[BLOCK_MARK] for n in tree.css(f"[{BLOCK_MARK}]")] == ["0", "1"]


def test_the_python_walk_is_used_when_the_compiled_one_is_turned_off():
    code = "from scraper import blocks, clean; print(blocks.WALK, clean.compiled('text_lines'))"
    assert printed_with(PYTHON_WALK_ENV, code) == f"python ({PYTHON_WALK_ENV}=1) None"


def test_the_python_walk_is_used_when_the_compiled_one_is_missing(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv(PYTHON_WALK_ENV, raising=False)

    def missing() -> Any:
        raise ImportError("not built")

    walk, name = choose_walk(missing)
    assert walk is None and name == "python (no compiled walk: not built)"


def test_the_python_walk_is_used_when_the_compiled_one_is_out_of_date(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv(PYTHON_WALK_ENV, raising=False)
    walk, name = choose_walk(lambda: SimpleNamespace(segment=None))  # no Vocabulary
    assert walk is None and name.startswith("python (the compiled walk is out of date")


def test_the_python_walk_is_used_when_the_compiled_one_disagrees_on_the_probe_page(
    monkeypatch: pytest.MonkeyPatch,
):
    compiled()
    monkeypatch.delenv(PYTHON_WALK_ENV, raising=False)
    from scraper import _walk

    def wrong(*args: Any) -> tuple[Any, ...]:
        found, parents, depths, ends, verdicts = _walk.segment(*args)
        found[0].text += "!"
        return found, parents, depths, ends, verdicts

    walk, name = choose_walk(lambda: SimpleNamespace(segment=wrong, Vocabulary=_walk.Vocabulary))
    assert walk is None and "disagrees" in name
    walk, name = choose_walk(lambda: _walk)
    assert walk is not None and name == "compiled"


def test_the_compiled_walk_is_used_where_it_is_built():
    compiled()
    if os.environ.get(PYTHON_WALK_ENV) != "1":
        assert blocks.WALK == "compiled"


def test_a_page_s_elements_keep_their_numbers_in_both_walks():
    walk: Callable[[Any], tuple[list[Any], Elements]] = compiled()
    tree = LexborHTMLParser("<div><p>a</p><div><p>b</p></div></div><p>c</p>")
    assert tree.body is not None
    _, elements = walk(tree.body)
    assert elements.parent == [-1, 0, 1, 1, 3, 0]
    assert elements.end == [6, 5, 3, 5, 5, 6]
    assert elements == python_segment(tree.body)[1]


def test_a_failing_callback_stops_the_compiled_walk_with_its_error():
    compiled()
    from scraper import _walk

    def tag_kind(tag: str) -> tuple[int, int, int]:
        if tag == "span":
            raise LookupError(tag)
        return blocks.tag_kind(tag)

    tree = LexborHTMLParser("<div><p>a<b>b<i>c<span>d</span></i></b></p></div>")
    vocabulary = blocks.compiled_vocabulary(_walk)
    for _ in range(3):  # the frames it leaves open are let go
        with pytest.raises(LookupError):
            _walk.segment(tree.body, tag_kind, vocabulary, str, Block, Context, 1, 31, 7)


def test_the_compiled_walk_reads_the_texts_in_place_as_it_reads_their_copies():
    walk = compiled()
    from scraper import _walk

    known_layout = selectolax.__version__ == _walk.IN_PLACE_SELECTOLAX
    assert known_layout == _walk.TEXT_IN_PLACE
    trees = [LexborHTMLParser(f"<html><body>{html}</body></html>") for html in PAGES.values()]
    trees.append(LexborHTMLParser(blocks.PROBE_PAGE))
    summaries = []
    try:
        for in_place in (False, True):
            _walk.read_in_place(in_place)
            summaries.append([walk_summary(*walk(tree.body)) for tree in trees])
            lines = ("p", "div", "span", "li"), ("-text", "a", "b", "i", "em"), 400
            summaries.append([_walk.text_lines(tree.body, *lines) for tree in trees])
    finally:
        _walk.read_in_place(True)
    assert summaries[0] == summaries[2]
    assert summaries[1] == summaries[3]
    assert any(summaries[1])


def test_the_texts_are_copied_under_a_selectolax_of_another_layout(
    monkeypatch: pytest.MonkeyPatch,
):
    compiled()
    from scraper import _walk

    monkeypatch.setattr(selectolax, "__version__", "0.0.0")
    assert not _walk._laid_out_in_place()


def test_the_compiled_walk_s_normalising_is_normalise_space():
    compiled()
    from scraper._walk import normalise_nfc

    def ours(text: str) -> str:
        return normalise_nfc(unicodedata.normalize("NFC", text))

    # every character, among others that NFC may compose it with
    texts = ["".join(map(chr, range(c, c + 64))) for c in range(0, 0x110000, 64)]
    texts += [f" {text}a\u0301" for text in texts]
    texts += ["\u200b", " \ufeff ", "a\u2060\u2028b", "e\u0301 \u3000", "\U0001f600\u00a0x"]
    assert [ours(t) for t in texts] == [normalise_space(t) for t in texts]

    rng = random.Random(14)
    latin1 = [chr(c) for c in range(256)]  # in NFC: the walk does not ask
    texts = ["", " ", "a", "  a \x01b\x1cc  ", "x\x7fy\x0bz\x1b.", "\xa0caf\xe9\x85\xad"]
    texts += [f"a{one}{two}b" for one in latin1 for two in latin1]
    alphabet = latin1 + [" ", "\n", "a", "b"] * 16
    texts += ["".join(rng.choices(alphabet, k=rng.randrange(16))) for _ in range(20000)]
    assert [normalise_nfc(t) for t in texts] == [normalise_space(t) for t in texts]


def test_the_compiled_text_lines_keep_the_texts_holding_a_word_or_a_mark():
    compiled()
    from scraper._walk import text_lines

    rng = random.Random(14)
    words, marks = ("src", "a b", "/", "(c)"), "\u00e9\u212a"
    ascii_lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    alphabet = [*"sSrRcCaAbB /()x\u00e9\u00c9\u212ak", "<b>", "</b>", "\u0130", "\U0001f600"]
    paragraphs = ["".join(rng.choices(alphabet, k=rng.randrange(12))) for _ in range(3000)]
    tree = LexborHTMLParser("".join(f"<p>{p}</p>" for p in paragraphs))
    assert tree.body is not None
    every = text_lines(tree.body, ("p",), ("b",), 100)
    kept = [
        (node, text)
        for node, text in every
        if any(w in text.translate(ascii_lower) for w in words) or any(m in text for m in marks)
    ]
    assert 500 < len(kept) < len(every)
    assert text_lines(tree.body, ("p",), ("b",), 100, words, marks) == kept
    with pytest.raises(ValueError):
        text_lines(tree.body, ("p",), ("b",), 100, ("Src",))
    with pytest.raises(ValueError):
        text_lines(tree.body, ("p",), ("b",), 100, words, "x")


def test_the_compiled_text_lines_tell_tags_by_their_qualified_names():
    compiled()
    from scraper._walk import text_lines

    # an SVG <clipPath> and an HTML <clippath> share lexbor's tag id, not their names
    tree = LexborHTMLParser(
        "<svg><clipPath>x</clipPath></svg><clippath>y</clippath>"
        "<svg><clipPath>z</clipPath><clippath>q</clippath></svg><x-box>v</x-box>"
    )
    assert tree.body is not None
    for tags in [("clipPath",), ("clippath",), ("x-box", "clipPath"), ("x-box", "clippath")]:
        found = [text for _, text in text_lines(tree.body, tags, ("-text",), 100)]
        assert found == [n.text() for n in tree.body.traverse() if n.tag in tags]


# Characters a block's text is made of, among them those the figures count apart.
TEXT_ALPHABET = list("aZ_ 9,.!?\t\n-—«»'\"()") + [
    "\u0663",  # ARABIC-INDIC DIGIT THREE: a digit to \\d
    "\u00b2",  # SUPERSCRIPT TWO: a digit, not a decimal
    "\u2167",  # ROMAN NUMERAL EIGHT: a number, not a digit
    "\u0301",  # a combining accent
    "\u00a0",
    "\u00c9",
    "\u00bf",  # INVERTED QUESTION MARK: a mark in the Latin-1 range
    "\u3000",
    "\u4e2d",
    "\U0001f600",
    "\u200b",
    "\x1c",
    "\u2019",
    "\u201d",
    "\u3002",
    "\u01c5",  # a title-case letter: not upper case
]


def test_the_compiled_block_figures_are_the_python_ones():
    compiled()
    rng = random.Random(14)
    texts = ["", "...", "a_b 1,2", "A", "\u00c9t\u00e9.", "x\u2019", "\U0001f600 A"]
    texts += ["".join(rng.choices(TEXT_ALPHABET, k=rng.randrange(40))) for _ in range(3000)]
    texts += ["".join(rng.choices(TEXT_ALPHABET, k=rng.randrange(390, 420))) for _ in range(50)]
    tags = [*TAG_CODES, "x-widget", "span", "body"]
    found = [
        Block(
            SimpleNamespace(),
            rng.choice(tags),
            Context(*(rng.randrange(1 << rng.choice([3, 16, 40])) for _ in range(8)), 0),
            rng.randrange(3),
            rng.randrange(64),
            rng.choice(["", "", "story", "story main", "caf\u00e9"]),
            rng.randrange(1000),
            [],
            rng.randrange(500),
            rng.randrange(20),
            text,
        )
        for text in texts
    ]
    for chosen in (found, found[:1], [], found[::7]):
        ours = compiled_block_figures(compiled_module("_walk"))(chosen)
        assert ours.shape == (len(FIGURES), len(chosen))
        assert ours.tolist() == python_block_figures(chosen).tolist()


@pytest.mark.parametrize("html", PAGES.values(), ids=PAGES.keys())
def test_the_figures_of_a_page_s_blocks_are_alike_in_both(html: str):
    figures = compiled_block_figures(compiled_module("_walk"))
    tree = LexborHTMLParser(f"<html><body>{html}</body></html>")
    assert tree.body is not None
    found, _ = python_segment(tree.body)
    assert figures(found).tolist() == python_block_figures(found).tolist()


def test_the_python_sample_counts_are_the_patterns_counts():
    rng = random.Random(14)
    texts = ["", "...", "a_b 1,2"] + [
        "".join(rng.choices(TEXT_ALPHABET, k=rng.randrange(30))) for _ in range(2000)
    ]
    for limit in (0, 5, 400):
        punctuation, digits = python_sample_counts(texts, limit)
        assert punctuation == [len(re.findall(r"[^\w\s]", t[:limit])) for t in texts]
        assert digits == [len(re.findall(r"\d", t[:limit])) for t in texts]


def test_the_compiled_best_path_is_the_python_one():
    from scraper._walk import best_path

    rng = random.Random(14)
    # a few values, so that scores tie as often as they can
    values = [-2.0, -0.3, -0.15, 0.0, -0.0, 0.15, 0.3, 0.6, 1e-9, 2.0]
    gains = [[], [0.0], [-0.0], [0.3, -0.3]] + [
        [rng.choice(values) for _ in range(rng.randrange(1, 40))] for _ in range(3000)
    ]
    gains += [[rng.uniform(-3, 3) for _ in range(rng.randrange(1, 300))] for _ in range(300)]
    for gain in gains:
        array = np.array(gain, np.float64)
        for cost in (0.0, 0.15, 0.3):
            assert best_path(array, cost) == python_best_path(array, cost), (gain, cost)


def test_the_compiled_word_numbers_are_the_python_ones():
    word_ids = compiled_word_ids(compiled_module("_walk"))
    rng = random.Random(14)
    every = "".join(map(chr, range(0x110000)))  # what \\w matches, in every script
    texts = ["", "_", "A_b 1,2 \u0130stanbul \u03a3\u0391\u03a3 \u00bd"] + [
        "".join(rng.choices(TEXT_ALPHABET, k=rng.randrange(30))) for _ in range(2000)
    ]
    for known, read in ((texts[::2], texts), ([every], [every, every[::-1]]), ([], [])):
        ours: dict[str, int] = {}
        theirs: dict[str, int] = {}
        for sample, add in ((known, True), (read, False)):
            got = word_ids(sample, ours, -1, add)
            expected = python_word_ids(sample, theirs, -1, add)
            assert [a.tolist() for a in got] == [a.tolist() for a in expected]
        assert ours == theirs


def test_the_compiled_walk_reads_every_attribute_the_judge_reads():
    read: set[str] = set()

    class Spy(dict[str, str | None]):
        def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
            read.add(key)
            return super().get(key, default)

        def __contains__(self, key: object) -> bool:
            read.add(str(key))
            return super().__contains__(key)

    blocks._judge(Spy({"style": "display:none", "role": "main", "class": "story"}))
    assert read and read <= set(blocks.JUDGED_ATTRIBUTES)


def vocabulary() -> Any:
    compiled()
    from scraper import _walk

    return compiled_vocabulary(_walk)


# What attribute values are made of: the words judged, words that are not, and
# separators, among them letters that Unicode lower-cases into ASCII ones.
WORDS = sorted(
    CHROME_TOKENS
    | blocks._WORD_KINDS.keys()
    | {w for b in CHROME_BIGRAMS | RELATED_BIGRAMS for w in b.split()}
) + ["x", "main2", "h1", "3d", "col", "readmore", "caf\u00e9", "\u4e2d\u6587", "stra\u00dfe"]
SEPARATORS = ["-", "_", " ", "--", "__", "  ", ".", ":", "/", "\t", "\n", "", "", "", "0", "\u00a0"]
SEPARATORS += ["\u212a", "\u0130", "\u00e9", "\u00c9", "\U0001f600", "\x00"]


def random_value(rng: random.Random) -> str:
    """An attribute value: words (lower, upper, capitalised: camel case where two
    meet without a separator, digits glued to them) between separators."""
    parts = []
    for _ in range(rng.randrange(7)):
        word = rng.choice(WORDS)
        word = rng.choice([word, word, word.upper(), word.capitalize(), word + "2", "2" + word])
        parts += [word, rng.choice(SEPARATORS)]
    return "".join(parts[: rng.randrange(len(parts) + 1)])


def test_the_compiled_value_figures_are_the_python_ones():
    judge = vocabulary()
    rng = random.Random(14)
    values = ["", " ", "-", "read-more", "readMore", "READ_MORE", "read  more", "moreReadMore"]
    values += ["sr-only", "srOnly", "SROnly", "a1B", "A1b", "1A", "aB", "Ab", "ABc", "\u212a"]
    values += ["x\u212a", "\u0130x", "most\u0130read", "youMay alsoLike", "inApp", "for-you2"]
    values += ["also like", "also-xlike", "like also", "mostread", "most.read", "most\x00read"]
    values += [random_value(rng) for _ in range(30000)]
    assert [judge.value_figures(v) for v in values] == [_value_figures(v) for v in values]


def test_every_word_and_bigram_is_judged_alike_in_both():
    judge = vocabulary()
    pairs = [b.replace(" ", sep) for b in CHROME_BIGRAMS | RELATED_BIGRAMS for sep in " -_"]
    pairs += ["".join(w.capitalize() for w in b.split()) for b in CHROME_BIGRAMS | RELATED_BIGRAMS]
    values = WORDS + [w.upper() for w in WORDS] + pairs + [f"x {p} y" for p in pairs]
    assert [judge.value_figures(v) for v in values] == [_value_figures(v) for v in values]


def random_attributes(rng: random.Random) -> dict[str, str | None]:
    attrs: dict[str, str | None] = {}
    for key in rng.sample(JUDGED_ATTRIBUTES, rng.randrange(len(JUDGED_ATTRIBUTES) + 1)):
        if key == "role":
            value = rng.choice([*CHROME_ROLES, "main", "Navigation", "navigation ", ""])
        elif key == "style":
            value = rng.choice(["display:none", "DISPLAY : none", "color:red", ""])
            value = rng.choice([value, "visibility:\u00a0hidden", "display:\u212anone"])
        elif key in ("hidden", "aria-hidden"):
            value = rng.choice(["", "true", "TRUE", "false", "hidden"])
        else:
            value = random_value(rng)
        attrs[key] = rng.choice([value, value, value, None])
    return attrs


def test_the_compiled_judge_is_the_python_judge():
    judge = vocabulary()
    assert judge.judged == JUDGED_ATTRIBUTES
    rng = random.Random(14)
    samples = [random_attributes(rng) for _ in range(20000)]
    samples += [{"class": random_value(rng)} for _ in range(2000)]
    for attrs in samples:
        assert judge.judge_attributes(attrs) == _judge(attrs), attrs
        assert judge.judge_attributes(attrs)[0] == _verdict(attrs), attrs  # clean.py's
    for attrs in samples[-2000:]:
        name = attrs["class"]
        assert name is not None and judge.judge_attributes(attrs) == _class_figures(name)


def test_the_compiled_walk_judges_the_elements_attributes_as_the_python_walk():
    walk = compiled()
    rng = random.Random(14)
    for _ in range(40):
        html = []
        for _ in range(60):
            attrs = random_attributes(rng)
            if rng.random() < 0.3:
                attrs["data-other"] = "y"
            written = " ".join(
                k if v is None else f'{k}="{html_escape(v)}"' for k, v in attrs.items()
            )
            tag = rng.choice(["div", "p", "section", "li", "span", "nav"])
            html.append(
                f"<{tag} {written}>text {len(html)}" + ("</" + tag + ">") * rng.randrange(2)
            )
        tree = LexborHTMLParser("<html><body>" + "".join(html) + "</body></html>")
        assert tree.body is not None
        assert walk_summary(*walk(tree.body)) == walk_summary(*python_segment(tree.body))
