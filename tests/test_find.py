"""The element finder (``scraper/find.py``, compiled in ``scraper/_find.pyx``): it finds
what lexbor's ``css`` finds, in the same order and with the same repeats, gives
selectolax's own nodes, and lexbor's queries take over where it is missing, turned off
or asked for a node it does not read."""

from __future__ import annotations

import importlib
import os
import random
import sys
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper import attribution, blocks, clean, embedded, find
from scraper.find import (
    PYTHON_FIND_ENV,
    Selector,
    choose_finder,
    find_all,
    find_each,
    find_first,
    parse,
    selector,
)

from .conftest import compiled_module, printed_with


def compiled() -> Any:
    """The compiled finder (skipped where it is not built, but never on CI)."""
    return compiled_module("_find")


PAGE = """<html lang="en"><head><meta name="author" content="A"><meta property="og:title"
content="T"><meta itemprop="name" content="M"><link rel="CANONICAL" href="/c">
<script type="Application/LD+JSON">{}</script><script>var x</script></head><body>
<article class="Story BYLINE-box" id="main-Byline"><h1 class="Title">Headline</h1>
<div class="standfirst dek" data-testid="lead" hidden>Lead <b class="byline">b</b></div>
<p class="caption">One <a href="/a" rel="Author">Name</a> <a>no href</a></p>
<p class="Caption">Two <i>x</i></p><div class="Café ÉCLAIR" id="Über">non-ASCII</div>
<div itemprop="sourceOrganization"><span itemprop="name">Org</span>
<meta itemprop="name" content="Org2"></div><div itemprop="author"><b itemprop="name">W</b>
</div><table><tr><td><table><tr><td><h2>Cell</h2><p>p</p></td></tr></table></td></tr>
</table><figure><img alt="a" src="x"><img src="y"><figcaption>Cap</figcaption></figure>
<div style="display:none">x</div><div style="display: none" aria-label="Menu">y</div>
<pre><code class="comment">c</code></pre><nav role="navigation"><a href="#">n</a></nav>
<time datetime="2024-01-01">d</time><span itemprop="datePublished" content="2024">d</span>
<svg><a href="/s" rel="AUTHOR"><title class="byline">t</title></a><script
type="APPLICATION/LD+JSON"></script></svg><math><mi class="Dek">x</mi></math>
<div data-scraper-block="1"><p data-scraper-block="2">marked</p></div>
<my-card class="story-card" role="heading">custom</my-card><B>bold</B><STRONG>s</STRONG>
</article><footer class="source">F <small>s</small> <em>e</em></footer></body></html>"""

SELECTORS = [
    # tags
    "p",
    "html",
    "h1",
    "script, style, noscript, template",
    "p, div, span, small, footer, em, i, strong, b",
    "h2, h3, h4, h5, h6, [role=heading], b, strong",
    # attributes present (with a value or without one), a tag and an attribute
    "[hidden]",
    "[data-scraper-block]",
    "meta[property], meta[name]",
    "img[alt]",
    "a[href]",
    "time[datetime]",
    f"pre, code, {clean.TOKEN_HOLDERS}",
    f"{clean.CHROME_TAGS}, [{clean.CHROME_MARK}]",
    # attribute values: case-sensitive, and type and rel case-insensitive on HTML
    # elements only (the SVG ones keep their case)
    "[itemprop=datePublished]",
    "[itemprop=datepublished]",
    "script[type='application/ld+json']",
    "link[rel=canonical]",
    "[rel=author], [itemprop=author]",
    # substrings: case-sensitive, and with "i" (ASCII letters only fold, as in lexbor)
    "[class*=aption]",
    "[style*='display:none'], [style*='display: none']",
    '[class*="byline" i], [id*="byline" i]',
    '[class*="DEK" i], [id*="dek" i], [class*="standfirst" i]',
    '[class*="café" i], [class*="éclair" i], [id*="über" i], [id*="ÜBER" i]',
    '[class*="" i]',
    "h2, h3, h4, h5, h6, [class*=title], [class*=headline]",
    # descendants: the ancestor may lie above the node searched from
    "[itemprop=sourceOrganization] [itemprop=name]",
    "[itemprop=author] [itemprop=name], [rel=author]",
    "article h1",
    "table table, h1, h2",
    "p a",
    "h1, article, [itemprop=articleBody]",
]


def _ids(nodes: list[LexborNode]) -> list[int]:
    return [n.mem_id for n in nodes]


def _every_node(tree: LexborHTMLParser) -> list[LexborNode]:
    assert tree.root is not None
    return [n for n in tree.root.traverse() if n.tag != "-text"]


@pytest.mark.parametrize("css", SELECTORS)
def test_the_finder_finds_what_lexbor_finds_from_every_node(css: str):
    finder = compiled()
    tree = LexborHTMLParser(PAGE)
    query = parse(css, finder)
    for node in _every_node(tree):
        assert _ids(finder.find(node, query)) == _ids(node.css(css)), node.tag
        first = finder.find(node, query, True)
        expected = node.css_first(css)
        assert _ids(first) == ([expected.mem_id] if expected is not None else [])


def test_the_pages_matches_are_what_the_selectors_say():
    compiled()
    tree = LexborHTMLParser(PAGE)
    root = tree.root

    def tags(css: str) -> list[str | None]:
        return [n.tag for n in find_all(root, selector(css))]

    assert tags("script[type='application/ld+json']") == ["script"]  # not the SVG one
    assert tags("[rel=author]") == ["a"]
    assert tags('[class*="byline" i], [id*="byline" i]') == ["article", "article", "b", "title"]
    # only ASCII letters fold: "café" is in the class, "über" is not "Über"
    assert tags('[class*="CAFé" i], [id*="über" i]') == ["div"]
    assert tags('[class*="éclair" i]') == []
    assert tags("[hidden]") == ["div"]
    assert tags("table table, h1, h2") == ["h1", "table", "h2"]


def test_one_walk_finds_what_each_query_finds():
    compiled()
    tree = LexborHTMLParser(PAGE)
    chosen = tuple(selector(css) for css in SELECTORS)
    for node in _every_node(tree)[:40]:
        each = find_each(node, chosen)
        assert [_ids(found) for found in each] == [_ids(node.css(css)) for css in SELECTORS]
    assert find_each(None, chosen[:2]) == [[], []]


def test_many_substrings_are_found_as_lexbor_finds_them():
    # every "[a*=w i]" of a query is looked for in one pass over each value
    finder = compiled()
    rng = random.Random(14)
    words = ["a", "ab", "ba", "aab", "Byline", "by", "BYL", "caf\u00e9", "\u00e9", "x-y"]
    pieces = [*words, "A", "B", "Y", "\u00c9", "-", " ", "z" * 300]
    names = ["class", "id", "data-x", "title"]
    for _ in range(300):
        chosen = rng.sample(words, rng.randrange(1, 6))
        alternatives = [f'[{rng.choice(names)}*="{w}" i]' for w in chosen]
        alternatives += rng.sample(["p", "[class*=a]", "div [id*=b i]", 'span[class*="a" i]'], 1)
        rng.shuffle(alternatives)
        css = ", ".join(alternatives)
        elements = []
        for _ in range(rng.randrange(1, 12)):
            attrs = " ".join(
                f'{name}="{"".join(rng.choices(pieces, k=rng.randrange(5)))}"'
                for name in rng.sample(names, rng.randrange(3))
            )
            elements.append(f"<{rng.choice(['p', 'div', 'span'])} {attrs}>t")
        tree = LexborHTMLParser("<body>" + "".join(elements) + "</body>")
        assert tree.root is not None
        assert _ids(finder.find(tree.root, parse(css, finder))) == _ids(tree.root.css(css)), css


def test_long_values_are_matched_without_the_lower_cased_copy():
    compiled()
    value = "x" * 300 + "Byline" + "y" * 300  # longer than the copy made for "i"
    tree = LexborHTMLParser(f'<div class="{value}">a</div><div class="{value[:299]}">b</div>')
    css = '[class*="BYLINE" i], [class*="xByl" i], [class*=Byline], [class*=byline]'
    found = find_all(tree.root, selector(css))
    assert [n.text() for n in found] == ["a", "a", "a"]
    assert _ids(found) == _ids(tree.root.css(css))  # type: ignore[union-attr]


def test_an_element_is_listed_once_for_each_selector_it_matches():
    compiled()
    tree = LexborHTMLParser('<div class="a" id="a" role="x"><p class="a">t</p></div>')
    found = find_all(tree.body, selector("[class], [id], p, [role]"))
    assert [n.tag for n in found] == ["div", "div", "div", "p", "p"]
    assert found[0] is not found[1]  # a node of its own each time, as lexbor gives
    assert _ids(found) == _ids(tree.body.css("[class], [id], p, [role]"))  # type: ignore[union-attr]


def test_the_elements_a_skip_maps_to_zero_are_left_out():
    compiled()
    tree = LexborHTMLParser('<div class="a" id="b"><p class="c">t</p><p class="d">u</p></div>')
    css = "[class], [id]"
    every = find_all(tree.body, selector(css))
    div, p, other = every[0].mem_id, every[2].mem_id, every[3].mem_id
    for chosen in (selector(css), Selector(css)):  # the finder's and lexbor's
        found = find_all(tree.body, chosen, {div: 2, p: 0, other: None})
        assert _ids(found) == [div, div]
        assert _ids(find_all(tree.body, chosen, {})) == _ids(every)


def test_attribute_values_are_joined_as_selectolax_reads_them():
    finder = compiled()
    rng = random.Random(14)
    names = ("class", "id", "aria-label", "data-testid", "xlink:href", "Class")
    values = ["", "a", "Caf\u00e9 Box", "x y", "\u212a", "&amp;", "1"]
    for _ in range(300):
        attrs = " ".join(
            f'{n}="{rng.choice(values)}"' if rng.random() < 0.8 else n
            for n in rng.sample([*names, "title", "href", "CLASS"], rng.randrange(5))
        )
        html = f"<div {attrs}>a</div><svg><a {attrs}></a></svg>"
        tree = LexborHTMLParser(html.encode() + b'<p class="\xff\xe2\x82 z" id="\xc3">')
        assert tree.root is not None
        for node in _every_node(tree):
            for chosen in (names, names[:2], ()):
                attributes = node.attributes
                expected = " ".join(v for name in chosen if (v := attributes.get(name)))
                assert finder.joined_values(node, chosen) == expected, (html, node.tag)


def test_positions_follow_the_document_order():
    finder = compiled()
    tree = LexborHTMLParser(PAGE)
    every = _every_node(tree)
    rng = random.Random(14)
    for _ in range(200):
        root = rng.choice(every)
        chosen = rng.sample(every, rng.randrange(1, 12))
        found = finder.positions(root, [n.mem_id for n in chosen])
        under = [n.mem_id for n in root.traverse()]  # elements only, the root first
        assert sorted(found, key=found.__getitem__) == [i for i in under if i in found]
        assert set(found) == {n.mem_id for n in chosen} & set(under)
        ours = find.positions(root, found)  # the finder's, or the fallback's
        assert sorted(found, key=ours.__getitem__) == sorted(found, key=found.__getitem__)


def test_removed_elements_are_not_found():
    compiled()
    tree = LexborHTMLParser("<div><p class=x>a<p class=x>b</p></div><p class=x>c</p>")
    chosen = selector("[class*=x]")
    first = find_all(tree.root, chosen)[0]
    first.decompose()
    found = find_all(tree.root, chosen)
    assert [n.text() for n in found] == ["b", "c"]
    assert _ids(found) == _ids(tree.root.css("[class*=x]"))  # type: ignore[union-attr]


def test_the_nodes_found_are_selectolax_s_own():
    compiled()
    tree = LexborHTMLParser('<div id="d"><p class="a" title>One <b>two</b></p><i>x</i></div>')
    before = sys.getrefcount(tree)
    ours = find_all(tree.root, selector("p"))[0]
    theirs = tree.css_first("p")
    assert type(ours) is LexborNode and ours.parser is tree
    assert ours == theirs and ours.mem_id == theirs.mem_id
    assert ours.text() == "One two" and ours.html == theirs.html
    assert ours.attributes == {"class": "a", "title": None}
    assert ours.parent is not None and ours.parent.attributes["id"] == "d"
    assert [n.tag for n in ours.css("b")] == ["b"]
    ours.attrs["data-x"] = "1"
    assert theirs.attributes["data-x"] == "1"
    ours.decompose()
    assert tree.css("p") == [] and tree.body is not None
    assert tree.body.text() == "x"
    del ours, theirs
    assert sys.getrefcount(tree) == before  # each node holds the parser once, then lets go


def test_the_nodes_keep_their_tree_alive():
    compiled()
    node = find_all(LexborHTMLParser("<p>kept <b>alive</b></p>").root, selector("p"))[0]
    assert node.text() == "kept alive"


def test_every_selector_the_package_uses_is_compiled():
    compiled()
    extract = importlib.import_module("scraper.extract")
    if os.environ.get(PYTHON_FIND_ENV) == "1":
        pytest.skip("the finder is turned off")
    used = [
        value
        for module in (attribution, blocks, clean, embedded, extract)
        for value in vars(module).values()
        if isinstance(value, Selector)
    ]
    used += [clean.token_selector(w) for w in (extract.STANDFIRST_TOKENS, clean.SOURCE_TOKENS)]
    assert len(used) > 20
    assert [s.css for s in used if s.query is None] == []


@pytest.mark.parametrize("css", [".story", "#main", "div > p", "p:not(.x)", "a[href^=x]", "*"])
def test_selectors_the_finder_does_not_know_are_refused(css: str):
    finder = compiled()
    with pytest.raises(ValueError, match="does not know|empty"):
        parse(css, finder)


def test_lexbor_answers_for_a_fragment():
    compiled()
    tree = LexborHTMLParser("<p>a</p><div><p>b</p></div>", is_fragment=True)
    assert tree.root is not None
    found = find_all(tree.root, selector("p, div"))
    assert _ids(found) == _ids(tree.root.css("p, div"))
    assert [n.tag for n in found] == ["p", "div", "p"]


def test_lexbor_answers_where_a_selector_has_no_query():
    tree = LexborHTMLParser("<p>a</p><p>b</p>")
    assert [n.text() for n in find_all(tree.root, Selector("p"))] == ["a", "b"]
    assert find_first(tree.root, Selector("p")).text() == "a"  # type: ignore[union-attr]
    assert find_all(None, Selector("p")) == [] and find_first(None, Selector("p")) is None


def test_lexbor_answers_when_the_finder_is_turned_off():
    code = "from scraper import find; print(find.FINDER, find.selector('p').query)"
    assert printed_with(PYTHON_FIND_ENV, code) == f"lexbor ({PYTHON_FIND_ENV}=1) None"


def test_lexbor_answers_when_the_finder_is_missing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(PYTHON_FIND_ENV, raising=False)

    def missing() -> Any:
        raise ImportError("not built")

    assert choose_finder(missing) == (None, "lexbor (no compiled finder: not built)")
    older = (
        None,
        "lexbor (no compiled finder: built from an older _find.pyx (rebuild: pip install -e .))",
    )
    assert choose_finder(lambda: object()) == older


def test_the_finder_is_used_where_it_is_built():
    compiled()
    if os.environ.get(PYTHON_FIND_ENV) != "1":
        assert find.FINDER == "compiled"
        assert selector("p").query is not None


def test_text_lengths_are_the_lengths_of_the_texts_selectolax_makes():
    finder = compiled()
    rng = random.Random(14)
    pieces = ["a", " ", "\n", "\u00e9", "\u20ac", "\U0001f600", "<b>", "</b>", "<!-- c -->"]
    # not well-formed UTF-8 (an invalid byte, a cut sequence, a surrogate, an
    # overlong form): the compiled count declines, the fallback reads the text
    pieces += ["\xff", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"]
    for _ in range(300):
        body = "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        html = f"<div><p>{body}</p><template>t</template><svg><![CDATA[{body}]]></svg></div>"
        raw = rng.random() < 0.5  # bytes as they come, or a decoded page (well formed)
        tree = LexborHTMLParser(html.encode("latin-1", "ignore") if raw else html)
        assert tree.root is not None
        for node in tree.root.traverse(include_text=True):
            expected = len(node.text())
            assert find.text_length(node) == expected
            assert finder.text_length(node) in ((expected, -1) if raw else (expected,))


def test_parent_scores_sum_in_c_as_the_fallback_sums_them():
    finder = compiled()
    rng = random.Random(14)
    pieces = ["<p>", "</p>", "<div>", "</div>", "<span>", "a ", "word " * 40, "\u00e9", "\xff"]
    declined = 0
    for _ in range(300):
        html = "".join(rng.choice(pieces) for _ in range(rng.randrange(40)))
        raw = rng.random() < 0.3  # not well-formed UTF-8 at times: the fallback sums
        tree = LexborHTMLParser(html.encode("latin-1", "ignore") if raw else html)
        assert tree.body is not None
        for css in ("p", "p, div", "p, p"):
            ours = finder.parent_scores(tree.body, parse(css, finder))
            fallback = find.parent_scores(tree.body, Selector(css))
            if ours is None:
                assert raw
                declined += 1
            else:
                assert [(n.mem_id, s) for n, s in ours] == [(n.mem_id, s) for n, s in fallback]
    assert declined
