"""Finding elements by a few simple CSS selectors, faster than lexbor's queries.

Every lexbor query reads the whole tree under its node through lexbor's general
selector engine, and extraction asks some thirty a page of the whole page (and many
more of small parts of it); the attribute tests cost most. The compiled finder
(``scraper/_find.pyx``) answers the selectors used there with a plain walk in C, and
``find_each`` several of them with one walk; it gives the same ``LexborNode``
objects, in the same order: document order, an element once for each selector of a
list it matches.

It knows a subset of CSS, which ``selector`` parses: selector lists of compounds
``tag``, ``[name]``, ``[name=value]`` and ``[name*=value]`` (with an ``i`` modifier or
not), a tag and one attribute test together (``meta[name]``), and descendant
combinators (``article h1``). Anything else is a ValueError when the selector is made.

Where the extension is not built, fails its checks at import, or
``SCRAPER_PYTHON_FIND=1`` is set, ``find_all`` asks lexbor's ``css`` with the same
selector text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .compiled import optional

# Set to 1, lexbor's queries are used even where the compiled finder is built.
PYTHON_FIND_ENV = "SCRAPER_PYTHON_FIND"

# The attribute tests of ``scraper._find.Compound``.
ANY, PRESENT, EQUAL, CONTAINS = 0, 1, 2, 3
CASE_SENSITIVE, CASE_INSENSITIVE, CASE_INSENSITIVE_IN_HTML = 0, 1, 2
# Attributes whose values selectors compare case-insensitively on HTML elements (the
# HTML standard's list, as lexbor applies it).
HTML_CASE_INSENSITIVE = frozenset(
    """accept accept-charset align alink axis bgcolor charset checked clear codetype
    color compact declare defer dir direction disabled enctype face frame hreflang
    http-equiv lang language link media method multiple nohref noresize noshade nowrap
    readonly rel rev rules scope scrolling selected shape target text type valign
    valuetype vlink""".split()
)

_COMPOUND = re.compile(
    r"""(?x)
    (?P<tag>[a-z][a-z0-9]*)?
    (?:\[
        (?P<name>[a-z][a-z0-9_-]*)
        (?:
            (?P<operator>\*?=)
            (?P<value>"[^"\\]*"|'[^'\\]*'|[A-Za-z_-][A-Za-z0-9_-]*)
            (?:\s+(?P<modifier>i))?
        )?
    \])?"""
)
# The page every selector is tried on when it is made, by both ways.
PROBE_PAGE = """<html lang="en"><head><meta name="a" content="b"><meta property="og:x">
<link rel="Canonical" href="/c"><script type="Application/LD+JSON">{}</script></head>
<body><article class="Story-Byline main" id="top"><h1 itemprop="headline">T</h1>
<p class="caption standfirst">One <a href="/x" rel="author">two</a> <b>three</b></p>
<div itemprop="author"><span itemprop="name">N</span></div><table><tr><td><table>
<tr><td><p>x</p></td></tr></table></td></tr></table><figure><img alt="i"><figcaption>
C</figcaption></figure><div hidden style="display:none"><p>h</p></div><svg><a href="/s"
rel="AUTHOR"></a><script type="APPLICATION/LD+JSON"></script></svg><time datetime="d">
</time><pre><code class="comment">c</code></pre><nav role="navigation">n</nav></article>
<footer class="Source-Attribution">\u00c9 <i>f</i></footer></body></html>"""


@dataclass(frozen=True)
class Selector:
    """A selector's text (what lexbor is asked) and the compiled finder's query for it
    (None where the finder is not used)."""

    css: str
    query: Any = None


def _load_finder() -> Any:
    return import_module(f"{__package__}._find")


def choose_finder(load: Any = _load_finder) -> tuple[Any, str]:
    """The compiled finder module, if it is built (from this _find.pyx), loads and is
    not turned off (else None), and what that leaves."""

    def current() -> Any:
        module = load()
        if not hasattr(module, "parent_scores"):
            raise ImportError("built from an older _find.pyx (rebuild: pip install -e .)")
        return module

    return optional(current, PYTHON_FIND_ENV, "lexbor", "finder")


_finder, FINDER = choose_finder()


def parse(css: str, finder: Any) -> Any:
    """The compiled finder's query for ``css``; ValueError for what it does not know."""
    compounds = []
    for alternative in _alternatives(css):
        compound = None
        for part in alternative:
            compound = _compound(part, compound, css, finder)
        compounds.append(compound)
    return finder.Query(compounds)


_PIECE = re.compile(r"\[[^\]]*\]|,|\s+|[^\s,\[]+")


def _alternatives(css: str) -> list[list[str]]:
    """The selectors of the list ``css``, each as its compounds' texts."""
    alternatives: list[list[str]] = [[]]
    joined = False  # the next piece belongs to the current compound
    for piece in _PIECE.findall(css):
        if piece == ",":
            alternatives.append([])
            joined = False
        elif piece.isspace():
            joined = False
        elif joined:
            alternatives[-1][-1] += piece
        else:
            alternatives[-1].append(piece)
            joined = True
    if not all(alternatives):
        raise ValueError(f"empty selector in {css!r}")
    return alternatives


def _compound(part: str, ancestor: Any, css: str, finder: Any) -> Any:
    match = _COMPOUND.fullmatch(part)
    if match is None or not (match["tag"] or match["name"]):
        raise ValueError(f"the finder does not know {part!r} (in {css!r})")
    name, value, operator = match["name"], match["value"], match["operator"]
    test = ANY if name is None else PRESENT if operator is None else EQUAL
    if operator == "*=":
        test = CONTAINS
    if value is not None and value[0] in "\"'":
        value = value[1:-1]
    case = CASE_SENSITIVE
    if match["modifier"]:
        case = CASE_INSENSITIVE
    elif name in HTML_CASE_INSENSITIVE:
        case = CASE_INSENSITIVE_IN_HTML
    tags = (match["tag"],) if match["tag"] else None
    return finder.Compound(tags, name, test, value, case, ancestor)


@lru_cache(maxsize=256)
def selector(css: str) -> Selector:
    """``css`` ready for ``find_all``. The compiled finder's query is kept only if it finds
    what lexbor finds on ``PROBE_PAGE`` (a test holds every selector the package uses
    to that)."""
    if _finder is None:
        return Selector(css)
    query = parse(css, _finder)
    root = _probe().root
    assert root is not None
    found = [n.mem_id for n in _finder.find(root, query)]
    if found != [n.mem_id for n in root.css(css)]:
        return Selector(css)
    return Selector(css, query)


@lru_cache(maxsize=1)
def _probe() -> LexborHTMLParser:
    return LexborHTMLParser(PROBE_PAGE)


def find_all(
    node: LexborNode | None, chosen: Selector, skip: dict[int, int] | None = None
) -> list[LexborNode]:
    """``node.css(chosen.css)``: the elements at or under ``node`` it matches (none
    for no node), less those ``skip`` maps to 0 (or another false value) by
    ``mem_id``."""
    if node is None:
        return []
    if chosen.query is not None and _finder.usable(node):
        return _finder.find(node, chosen.query, False, skip)
    found = node.css(chosen.css)
    return found if skip is None else [n for n in found if skip.get(n.mem_id, True)]


def find_each(node: LexborNode | None, chosen: tuple[Selector, ...]) -> list[list[LexborNode]]:
    """``[find_all(node, s) for s in chosen]``, in one walk of the tree where the
    compiled finder answers (the tree must not change between the queries it
    replaces)."""
    if node is None:
        return [[] for _ in chosen]
    if all(s.query is not None for s in chosen) and _finder.usable(node):
        return _finder.find_each(node, tuple(s.query for s in chosen))
    return [node.css(s.css) for s in chosen]


def find_first(node: LexborNode | None, chosen: Selector) -> LexborNode | None:
    """``node.css_first(chosen.css)``: the first element ``find_all`` would give."""
    if node is None:
        return None
    if chosen.query is not None and _finder.usable(node):
        found = _finder.find(node, chosen.query, True)
        return found[0] if found else None
    return node.css_first(chosen.css)


def nodes_at(root: LexborNode, ids: Iterable[int]) -> dict[int, LexborNode] | None:
    """The nodes of the elements ``ids`` (``mem_id``s of live elements of ``root``'s
    tree) by ``mem_id``; None where the compiled finder is not used."""
    if _finder is None or not _finder.usable(root):
        return None
    return _finder.nodes_at(root, ids)


def positions(root: LexborNode, ids: Iterable[int]) -> dict[int, int]:
    """Where the elements ``ids`` (``mem_id``s of elements at or under ``root``) lie in
    document order, by ``mem_id``: numbers that grow along it."""
    if _finder is None or not _finder.usable(root):
        return {node.mem_id: i for i, node in enumerate(root.traverse())}
    return _finder.positions(root, ids)


def joined_values(node: LexborNode, names: tuple[str, ...]) -> str:
    """The values of ``node``'s attributes ``names`` that are neither missing nor
    empty, in the order of ``names``, joined by a space (read in C where the finder
    is built, not through a dict of all of them)."""
    if _finder is not None:
        return _finder.joined_values(node, names)
    attributes = node.attributes
    return " ".join(value for name in names if (value := attributes.get(name)))


def text_length(node: LexborNode) -> int:
    """``len(node.text())``, counted in C where the finder is built (the text is not
    made)."""
    if _finder is not None and _finder.usable(node) and (found := _finder.text_length(node)) >= 0:
        return int(found)
    return len(node.text())


def parent_scores(node: LexborNode, chosen: Selector) -> list[tuple[LexborNode, float]]:
    """The parents of the elements ``find_all(node, chosen)`` gives, each once, in the
    order of their first such child, with the sum over those children (in document
    order) of 1 + min(``text_length(child)`` / 100, 3): summed in C where the finder
    is built."""
    if chosen.query is not None and _finder.usable(node):
        found = _finder.parent_scores(node, chosen.query)
        if found is not None:
            return list(found)
    totals: dict[int, tuple[LexborNode, float]] = {}
    for child in find_all(node, chosen):
        parent = child.parent
        if parent is not None:
            _, score = totals.get(parent.mem_id, (parent, 0.0))
            totals[parent.mem_id] = (parent, score + 1 + min(text_length(child) / 100, 3))
    return list(totals.values())
