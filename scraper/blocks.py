"""Page -> text blocks -> features -> the trained classifier's body.

One pass over the lexbor tree cuts the page into its text blocks in document order
(the text of paragraphs, headings, list items, cells, quotes and of any ``div`` that
holds its own text). Each block gets a feature vector that does not depend on the
page's language: its text and link figures, its place in the DOM, the figures of its
neighbours and container, its position, and the evidence the rules of ``clean.py``
and ``extract.py`` give (a chrome verdict, an end marker, the paragraph container,
the JSON-LD ``articleBody``). ``clean.clean_tree`` then runs on the same tree as
before (it harvests captions and related cards); which blocks it would keep is one
more feature, not a cut.

A gradient-boosted model (LightGBM, shipped in ``data/``; ``trees.py`` evaluates its
trees) gives each block a probability of being article text: the first stage reads
the features, the second also reads the first stage's probabilities in context, and
on the pages the model is unsure of (and only there) a third also reads
trafilatura's decision for each block. A small Viterbi pass
over "in body / out of body" turns the probabilities into runs of blocks, so a lone
ad inside the article goes and a short paragraph between two long ones stays. The
guard then compares the body's length with independent estimates (the JSON-LD
``articleBody``, the longest run of paragraphs, and trafilatura's reading when the
model is unsure) and takes the better-supported reading of a page that came out
much too short.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache, partial
from importlib import import_module, resources
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
from selectolax.lexbor import LexborHTMLParser, LexborNode

from .clean import (
    _ANY_LINE,
    _ANY_LOWER_LINE,
    _CASED_WORD,
    _LINE_PATTERNS,
    _LOWER_LINE_PATTERNS,
    CHROME,
    CHROME_BIGRAMS,
    CHROME_ROLES,
    CHROME_TOKENS,
    PYTHON_WALK_ENV,
    RELATED,
    RELATED_BIGRAMS,
    RELATED_TOKENS,
    TOKEN_ATTRS,
    Harvest,
    _value_verdict,
    _words,
    clean_tree,
)
from .compiled import optional
from .errors import ExtractError
from .find import find_all, selector
from .normalise import normalise_space
from .templates import DomNotes, dom_notes, main_run, without_template
from .trees import Trees

if TYPE_CHECKING:
    import lightgbm

FEATURE_VERSION = 1
MODEL_FILE = "blocks-model.txt"
CARD_FILE = "blocks-model.json"
# The stages share one text file, one LightGBM model after the other.
STAGE_SEPARATOR = "\n=== next stage ===\n"

# --- segmentation ------------------------------------------------------------------

# Elements whose text is never page text.
SKIP_TAGS = frozenset(
    """script style noscript template svg canvas iframe object embed head select
    textarea option button input math video audio map _comment -comment""".split()
)
# Elements that stay inside the text block around them.
INLINE_TAGS = frozenset(
    """a abbr acronym b bdi bdo big cite code data del dfn em font i img ins kbd label
    mark nobr q rp rt ruby s samp small span strike strong sub sup time tt u var wbr br""".split()
)
TAG_CODES = {
    tag: code
    for code, tag in enumerate(
        """p div h1 h2 h3 h4 h5 h6 li td th dd dt blockquote pre section article main
        header footer nav aside figcaption figure form ul ol table tr caption address
        details summary center body span""".split(),
        start=1,
    )
}
OTHER_TAG = len(TAG_CODES) + 1

# Context flags: the block lies inside an element of this kind.
IN_ARTICLE, IN_MAIN, IN_HEADER, IN_FOOTER, IN_NAV, IN_ASIDE = 1, 2, 4, 8, 16, 32
IN_FORM, IN_FIGURE, IN_LIST, IN_TABLE, IN_QUOTE, IN_HEADING = 64, 128, 256, 512, 1024, 2048
IN_PRE, IN_HIDDEN, IN_LINK, IN_DIALOG = 4096, 8192, 16384, 32768
FLAG_OF_TAG = {
    "article": IN_ARTICLE,
    "main": IN_MAIN,
    "header": IN_HEADER,
    "footer": IN_FOOTER,
    "nav": IN_NAV,
    "aside": IN_ASIDE,
    "form": IN_FORM,
    "figure": IN_FIGURE,
    "figcaption": IN_FIGURE,
    "ul": IN_LIST,
    "ol": IN_LIST,
    "dl": IN_LIST,
    "table": IN_TABLE,
    "blockquote": IN_QUOTE,
    "h1": IN_HEADING,
    "h2": IN_HEADING,
    "h3": IN_HEADING,
    "h4": IN_HEADING,
    "h5": IN_HEADING,
    "h6": IN_HEADING,
    "pre": IN_PRE,
    "code": IN_PRE,
    "dialog": IN_DIALOG,
    "menu": IN_NAV,
}
FLAG_BITS = (
    IN_ARTICLE,
    IN_MAIN,
    IN_HEADER,
    IN_FOOTER,
    IN_NAV,
    IN_ASIDE,
    IN_FORM,
    IN_FIGURE,
    IN_LIST,
    IN_TABLE,
    IN_QUOTE,
    IN_HEADING,
    IN_PRE,
    IN_HIDDEN,
    IN_DIALOG,
)

# Class/id words, by what they usually name; the chrome words are those of clean.py.
CONTENT_WORDS = frozenset(
    """article content body text story entry post main prose richtext rte copy
    articlebody blog single page detail news""".split()
)
COMMENT_WORDS = frozenset("comment comments reply replies respond disqus discussion".split())
CAPTION_WORDS = frozenset("caption figcaption credit credits photo image gallery media".split())
META_WORDS = frozenset(
    """author byline meta date time dateline published updated info tags tag category
    categories label breadcrumb""".split()
)
TITLE_WORDS = frozenset("title headline heading h1".split())
HIDDEN_WORDS = frozenset("hidden hide sr only visually invisible offscreen".split())
KIND_CONTENT, KIND_COMMENT, KIND_CAPTION, KIND_META, KIND_TITLE, KIND_HIDDEN = (
    1,
    2,
    4,
    8,
    16,
    32,
)
KIND_BITS = (KIND_CONTENT, KIND_COMMENT, KIND_CAPTION, KIND_META, KIND_TITLE, KIND_HIDDEN)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# A block's ``path``: a hash of the last three tags above it.
PATH_BASE, PATH_BUCKETS = 31, 29791

# Marks the element of each block, so the blocks clean_tree keeps can be found.
BLOCK_MARK = "data-scraper-block"


_WORD_KINDS: dict[str, int] = {}
for _bit, _vocabulary in (
    (KIND_CONTENT, CONTENT_WORDS),
    (KIND_COMMENT, COMMENT_WORDS),
    (KIND_CAPTION, CAPTION_WORDS),
    (KIND_META, META_WORDS),
    (KIND_TITLE, TITLE_WORDS),
    (KIND_HIDDEN, HIDDEN_WORDS),
):
    for _word in _vocabulary:
        _WORD_KINDS[_word] = _WORD_KINDS.get(_word, 0) | _bit


@lru_cache(maxsize=16384)
def _value_figures(value: str) -> tuple[int, int]:
    """clean.py's verdict and the KIND_* words of one attribute value (pages repeat
    the same class strings many times: each is judged once)."""
    kinds = 0
    for word in _words(value):
        kinds |= _WORD_KINDS.get(word, 0)
    return _value_verdict(value), kinds


class Context(NamedTuple):
    """What an element inherits from its ancestors (a tuple: the walk makes one per
    element)."""

    depth: int = 0
    flags: int = 0
    verdict: int = 0  # the strongest chrome verdict of clean.py on the way down
    chrome_depth: int = 0  # ancestors with a verdict
    kinds: int = 0  # KIND_* words on the way down
    path: int = 0  # hash of the last three tags
    parent: int = 0  # mem_id of the block element's parent and grandparent
    grandparent: int = 0
    number: int = 0  # the parent's number in ``Elements``


class NodeAttributes(Protocol):
    def get(self, key: str, default: None = None) -> str | None: ...
    def __setitem__(self, key: str, value: str) -> None: ...


class BlockNode(Protocol):
    """What is read and written of a block's element: a LexborNode (the Python
    walk), or the compiled walk's ``_walk.Element``."""

    @property
    def mem_id(self) -> int: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def attrs(self) -> NodeAttributes: ...


@dataclass(slots=True)
class Block:
    """One text block: the text an element holds outside its child blocks (the text
    before a child block and the text after it are two blocks)."""

    node: BlockNode
    tag: str
    context: Context
    own_verdict: int
    own_kinds: int
    class_name: str
    element: int = 0  # number of the block's element in ``Elements``
    parts: list[str] = field(default_factory=list)
    link_chars: int = 0
    links: int = 0
    text: str = ""

    def continued(self) -> Block:
        """A new block of the same element (its text after a child block or a
        paragraph break)."""
        return Block(
            self.node,
            self.tag,
            self.context,
            self.own_verdict,
            self.own_kinds,
            self.class_name,
            self.element,
        )


@dataclass
class Elements:
    """The block-level elements of a page in document order (the root is 0): each
    one's parent, depth, and the number after its last descendant."""

    parent: list[int] = field(default_factory=lambda: [-1])
    depth: list[int] = field(default_factory=lambda: [0])
    end: list[int] = field(default_factory=lambda: [1])
    # clean.py's verdict of each element the walk reads (inline ones too), by
    # ``mem_id``: lexbor removes elements without freeing them, so an id names one
    # element for the life of the tree.
    verdicts: dict[int, int] = field(default_factory=dict)


NO_ATTRIBUTES = (0, 0, "", False)


def _attributes(node: LexborNode) -> tuple[int, int, str, bool]:
    """clean.py's verdict, KIND_* words, class string and hidden-ness of an element."""
    attrs = node.attributes
    if not attrs:
        return NO_ATTRIBUTES
    if len(attrs) == 1 and (name := attrs.get("class")) is not None:
        return _class_figures(name)  # half of all elements: a class and nothing else
    return _judge(attrs)


@lru_cache(maxsize=16384)
def _class_figures(name: str) -> tuple[int, int, str, bool]:
    return (*_value_figures(name), name, False) if name else NO_ATTRIBUTES


# The attributes ``_judge`` reads.
JUDGED_ATTRIBUTES = (*TOKEN_ATTRS, "role", "style", "hidden", "aria-hidden")


def _judge(attrs: dict[str, str | None]) -> tuple[int, int, str, bool]:
    verdict = CHROME if attrs.get("role") in CHROME_ROLES else 0
    kinds = 0
    for key in TOKEN_ATTRS:
        value = attrs.get(key)
        if value:
            value_verdict, value_kinds = _value_figures(value)
            verdict = max(verdict, value_verdict)
            kinds |= value_kinds
    style = attrs.get("style")
    hidden = "hidden" in attrs or attrs.get("aria-hidden") == "true"
    hidden = hidden or bool(style and _DISPLAY_NONE.search(style))
    return verdict, kinds, attrs.get("class") or "", hidden


def segment(root: LexborNode) -> tuple[list[Block], Elements]:
    """The text blocks under ``root`` in document order, in one pass over the tree,
    and the tree of block-level elements that hold them (``WALK`` says which walk:
    the compiled one, or ``python_segment``)."""
    if _compiled is not None:
        return _compiled(root)
    return python_segment(root)


def python_segment(root: LexborNode) -> tuple[list[Block], Elements]:
    """``segment`` in Python, through selectolax's nodes: the walk when the compiled
    one (``scraper/_walk.pyx``) is missing, disagrees with this one, or is turned off."""
    blocks: list[Block] = []
    elements = Elements()
    parents, depths, ends = elements.parent, elements.depth, elements.end
    verdicts = elements.verdicts
    top = Block(root, root.tag or "body", Context(), 0, 0, "")
    current = top
    # A frame per open element: its children not read yet, the context they inherit,
    # the block they write into, whether they lie inside a link, and the element's
    # number (-1 for an inline element, whose end closes no block).
    frames: list[tuple[Iterator[LexborNode], Context, Block, bool, int]] = [
        (root.iter(include_text=True), top.context, top, False, -1)
    ]
    while frames:
        children, context, owner, in_link, number = frames[-1]
        for node in children:
            tag = node.tag
            if tag == "-text":
                text = node.text_content
                if not text:
                    continue
                if text.isspace():  # between two inline elements it parts two words
                    parts = current.parts
                    if parts and not current.text and not parts[-1][-1].isspace():
                        parts.append(" ")
                    continue
                if current.text:  # closed: its element's text goes on in a new block
                    current = current.continued()
                current.parts.append(text)
                if in_link:
                    current.link_chars += len(text.strip())
                continue
            if tag in INLINE_TAGS:
                verdicts[node.mem_id] = _attributes(node)[0]  # for clean.py only
                if tag == "br":
                    if current.parts and current.parts[-1] == "\n" and not current.text:
                        _close(current, blocks)  # two line breaks end a paragraph
                    elif not current.text:
                        current.parts.append("\n")
                    continue
                if tag == "a":
                    current.links += 1
                inner = node.iter(include_text=True)
                frames.append((inner, context, owner, in_link or tag == "a", -1))
                break
            if tag in SKIP_TAGS or tag is None:
                continue
            verdict, kinds, class_name, hidden = _attributes(node)
            mem_id = node.mem_id
            verdicts[mem_id] = verdict
            child = len(parents)
            parents.append(context.number)
            depth = context.depth + 1
            depths.append(depth)
            ends.append(child + 1)
            child_context = Context(
                depth,
                context.flags | FLAG_OF_TAG.get(tag, 0) | (IN_HIDDEN if hidden else 0),
                verdict if verdict > context.verdict else context.verdict,
                context.chrome_depth + (verdict > 0),
                context.kinds | kinds,
                (context.path * PATH_BASE + TAG_CODES.get(tag, OTHER_TAG)) % PATH_BUCKETS,
                mem_id,
                context.parent,
                child,
            )
            if current.parts and not current.text:
                _close(current, blocks)
            current = Block(node, tag, context, verdict, kinds, class_name, child)
            inner = node.iter(include_text=True)
            frames.append((inner, child_context, current, False, child))
            break
        else:  # the element's children are all read: it ends
            frames.pop()
            if number >= 0:
                ends[number] = len(parents)
                if current.parts and not current.text:
                    _close(current, blocks)
                current = frames[-1][2]  # the block of the element around it
    _close(current, blocks)
    ends[0] = len(parents)
    return blocks, elements


def _close(block: Block, blocks: list[Block]) -> None:
    if block.parts and not block.text:
        text = normalise_space("".join(block.parts))
        if text:
            block.text = text
            blocks.append(block)


# --- the compiled walk -----------------------------------------------------------------

# What the compiled walk does with an element, by its tag.
TAG_BLOCK, TAG_INLINE, TAG_BREAK, TAG_LINK, TAG_SKIP = 0, 1, 2, 3, 4
# The page both walks read when this module is imported: the compiled walk is used
# only if it gives what the Python walk gives here.
PROBE_PAGE = """<html><body>Loose text<div class="story main" id="s1"><h1>Title \u00e9</h1>
<p>One <a href="/x">link <b>bold</b></a> <i>and</i> <span>more</span> text.<br>Line<br><br>
Next paragraph</p><div hidden><p>Hidden</p></div><div aria-hidden="true">Aria</div>
<div style="display: none">None</div><script>var x;</script><style>p{}</style><!-- note -->
<table><tr><td>Cell</td><th class>Head</th></tr></table><ul><li>Item<ul><li>Inner</li></ul>
after</li></ul>Tail \u00a0text<section role="navigation"><a>Menu</a></section>
<div class="related-stories"><div><div><p>Deep \u4e2d\u6587</p></div></div></div>
<div class="ReadMore sr-only" data-testid="caf\u00e9-box" id="x">Camel</div>
<button>Press</button><textarea>t</textarea></div>After all</body></html>"""


@cache
def tag_kind(tag: str) -> tuple[int, int, int]:
    """The compiled walk's reading of a tag: what it does with the element (TAG_*),
    the context flag it sets, and its code in ``TAG_CODES``."""
    if tag in INLINE_TAGS:
        kind = TAG_BREAK if tag == "br" else TAG_LINK if tag == "a" else TAG_INLINE
    else:
        kind = TAG_SKIP if tag in SKIP_TAGS else TAG_BLOCK
    return kind, FLAG_OF_TAG.get(tag, 0), TAG_CODES.get(tag, OTHER_TAG)


def compiled_walk(walk: Any) -> Callable[[LexborNode], tuple[list[Block], Elements]]:
    """``segment`` through the compiled module ``walk`` (``scraper._walk``)."""
    nfc = partial(unicodedata.normalize, "NFC")  # the first step of normalise_space
    vocabulary = compiled_vocabulary(walk)

    def compiled_segment(root: LexborNode) -> tuple[list[Block], Elements]:
        blocks, parents, depths, ends, verdicts = walk.segment(
            root,
            tag_kind,
            vocabulary,
            nfc,
            Block,
            Context,
            IN_HIDDEN,
            PATH_BASE,
            PATH_BUCKETS,
        )
        return blocks, Elements(parents, depths, ends, verdicts)

    return compiled_segment


def compiled_vocabulary(walk: Any) -> Any:
    """``_judge`` in the compiled module ``walk``: its tables are made of clean.py's
    and this module's word sets, each word with what ``_value_figures`` says of it
    alone, and the bigrams with their verdicts."""
    words = RELATED_TOKENS | CHROME_TOKENS | _WORD_KINDS.keys()
    return walk.Vocabulary(
        words={word: _value_figures(word) for word in words},
        bigrams={pair: CHROME for pair in CHROME_BIGRAMS} | dict.fromkeys(RELATED_BIGRAMS, RELATED),
        token_attributes=TOKEN_ATTRS,
        roles=CHROME_ROLES,
        role_verdict=CHROME,
        display_none=_DISPLAY_NONE.search,
        fallback=_value_figures,
    )


def walk_summary(blocks: list[Block], elements: Elements) -> list[Any]:
    """Everything a walk gives, each block's node as its ``mem_id`` and tag (what the
    two walks are compared on)."""
    return [
        [
            (b.node.mem_id, b.node.tag, b.tag, b.context, b.own_verdict, b.own_kinds)
            + (b.class_name, b.element, b.parts, b.link_chars, b.links, b.text)
            for b in blocks
        ],
        elements,
    ]


def _load_walk() -> Any:
    return import_module(f"{__package__}._walk")


def choose_walk(
    load: Callable[[], Any] = _load_walk,
) -> tuple[Callable[[LexborNode], tuple[list[Block], Elements]] | None, str]:
    """The compiled walk, if it is built, not turned off and agrees with the Python
    walk on ``PROBE_PAGE`` (else None), and which walk that leaves."""
    module, way = optional(load, PYTHON_WALK_ENV, "python", "walk")
    if module is None:
        return None, way
    try:
        compiled = compiled_walk(module)
    except AttributeError as exc:  # built from an older _walk.pyx
        return None, f"python (the compiled walk is out of date, rebuild it: {exc})"
    probe = LexborHTMLParser(PROBE_PAGE).body
    assert probe is not None
    if walk_summary(*compiled(probe)) != walk_summary(*python_segment(probe)):
        return None, "python (the compiled walk disagrees with it on the probe page)"
    return compiled, "compiled"


_compiled, WALK = choose_walk()


# --- features ------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_PUNCT = re.compile(r"[^\w\s]")
_DIGIT = re.compile(r"\d")
SENTENCE_ENDS = (".", "!", "?", "…", '"', "”", "»", "。", ":", ")", "'", "’")
SAMPLE_CHARS = 400
H1_REACH = 50  # distances to the headline are clipped here, in blocks
NEIGHBOURS = (-2, -1, 1, 2)
SHINGLE = 3

BLOCK_FEATURES = [
    "log_chars",
    "words",
    "mean_word_len",
    "punct_share",
    "digit_share",
    "ends_sentence",
    "starts_upper",
    "commas",
    "link_density",
    "links",
    "all_link",
    "tag",
    "depth",
    "path",
    *[
        f"in_{name}"
        for name in "article main header footer nav aside form figure list table quote heading pre hidden dialog".split()
    ],
    "verdict_chain",
    "verdict_own",
    "chrome_depth",
    *[f"kind_{name}" for name in "content comment caption meta title hidden".split()],
    *[f"own_kind_{name}" for name in "content comment caption meta title hidden".split()],
    "container_share",
    "container_blocks",
    "container_p",
    "container_link_density",
    "grand_share",
    "same_class_siblings",
    "same_class_share",
    *[
        f"n{d}_{name}"
        for d in NEIGHBOURS
        for name in ("log_chars", "link_density", "tag", "same_parent")
    ],
    "window_log_chars",
    "rel_index",
    "rel_chars_before",
    "h1_distance",
    "after_h1",
    "jsonld_overlap",
    "page_has_jsonld",
    "drop_line",
    "end_marker",
    "card_label",
    "end_markers_before",
    "kept_by_rules",
    "in_fast_path",
    "in_main_container",
    "repeats",
    "page_fast_path_share",
    "page_log_chars",
    "page_log_blocks",
    "page_kept_share",
]
CATEGORICAL = ["tag", "path", *[f"n{d}_tag" for d in NEIGHBOURS]]


NO_GROUPS = np.zeros(0, np.intp)


class LayoutArrays(NamedTuple):
    """``Layout``'s sizes and elements, and its tree of elements, as arrays."""

    sizes: np.ndarray
    element: np.ndarray
    parent: np.ndarray  # of each element
    depth: np.ndarray
    end: np.ndarray


@dataclass
class Layout:
    """What the second stage needs of a page's blocks besides their probabilities."""

    sizes: list[int]
    parents: list[int]  # mem_id of the element around each block's element
    grandparents: list[int]
    classes: list[int]  # hash of each block's tag and class (its own index if none)
    element: list[int]  # each block's element in ``elements``
    elements: Elements
    # The parents, grandparents and classes as groups numbered from 0 (what the second
    # stage sums over; made of the fields above, so not compared).
    parent_groups: np.ndarray = field(default_factory=lambda: NO_GROUPS, compare=False)
    grandparent_groups: np.ndarray = field(default_factory=lambda: NO_GROUPS, compare=False)
    class_groups: np.ndarray = field(default_factory=lambda: NO_GROUPS, compare=False)

    @cached_property
    def arrays(self) -> LayoutArrays:
        """The figures numpy reads, as arrays (made once a page)."""
        tree = self.elements
        return LayoutArrays(
            np.asarray(self.sizes, np.float64),
            np.asarray(self.element, np.intp),
            np.asarray(tree.parent, np.intp),
            np.asarray(tree.depth, np.intp),
            np.asarray(tree.end, np.intp),
        )

    @classmethod
    def of(cls, blocks: list[Block], elements: Elements, figures: np.ndarray) -> Layout:
        kind, classed = figures[CLASS], figures[CLASSED].astype(bool)
        # a tag and class is numbered where it first comes: where the numbers' maximum grows
        firsts = np.flatnonzero(np.diff(np.maximum.accumulate(kind), prepend=-1))
        hashes = [
            _hash(f"{b.tag}.{b.class_name}", 1 << 30) if b.class_name else 0
            for b in map(blocks.__getitem__, firsts.tolist())
        ]
        index = np.arange(len(blocks))
        classes = np.where(classed, np.array(hashes, np.int64)[kind], -1 - index)
        groups: dict[int, int] = {}
        hash_groups = np.array([groups.setdefault(h, len(groups)) for h in hashes], np.intp)
        return cls(
            figures[SIZE].tolist(),
            figures[PARENT_ID].tolist(),
            figures[GRANDPARENT_ID].tolist(),
            classes.tolist(),
            figures[ELEMENT].tolist(),
            elements,
            figures[PARENT],
            figures[GRANDPARENT],
            np.where(classed, hash_groups[kind], len(groups) + index),
        )


@dataclass
class PageBlocks:
    """A page's blocks, their features and what ``clean_tree`` harvested."""

    blocks: list[Block]
    features: np.ndarray
    harvest: Harvest
    jsonld_body: str = ""
    layout: Layout = field(default_factory=lambda: Layout([], [], [], [], [], Elements()))
    # Each block's fingerprint and site-rule mark, read before the cleaner ran.
    notes: DomNotes = field(default_factory=DomNotes)

    @cached_property
    def texts(self) -> list[str]:
        return [b.text for b in self.blocks]

    @property
    def tags(self) -> list[str]:
        return [b.tag for b in self.blocks]

    @property
    def flags(self) -> list[int]:
        return [b.context.flags for b in self.blocks]


def read_blocks(
    tree: LexborHTMLParser,
    url: str | None,
    jsonld: Sequence[dict[str, Any]] = (),
    containers: Callable[[LexborHTMLParser, LexborNode | None], list[LexborNode]] | None = None,
    rule_marks: bool = False,
) -> PageBlocks:
    """Cut ``tree`` into blocks and compute their features; ``clean.clean_tree`` runs
    on the tree on the way (its harvest is returned, the blocks it would keep are a
    feature). ``containers`` is the fast path's choice of paragraph containers on the
    cleaned tree (``extract.text_containers``). ``rule_marks``: site rules marked elements
    of the tree (``rules.mark``)."""
    body = tree.body
    if body is None:
        return PageBlocks([], np.zeros((0, len(BLOCK_FEATURES)), np.float32), Harvest())
    blocks, elements = segment(body)
    notes = dom_notes(blocks, rule_marks)  # before clean_tree removes elements
    marked: dict[int, int] = {}
    numbers = []  # the mark of each block's element (-1 for the body's own text)
    for index, block in enumerate(blocks):
        node = block.node
        key = node.mem_id
        number = marked.get(key)
        if number is None:
            if node.tag in {"body", "html"}:
                number = -1
            else:
                marked[key] = number = index
                node.attrs[BLOCK_MARK] = str(index)
        numbers.append(number)
    harvest = clean_tree(tree, url, elements.verdicts)
    kept_nodes = _marks(find_all(body, _MARKED), marked)
    fast: set[int] = set()
    if containers is not None:
        for container in containers(tree, harvest.main):
            fast |= _marks_under(container, marked)
    main = _marks_under(harvest.main, marked) if harvest.main is not None else set()
    evidence = Evidence(
        kept=[
            n in kept_nodes or b.tag in {"body", "html"}
            for n, b in zip(numbers, blocks, strict=True)
        ],
        in_fast=[n in fast for n in numbers],
        in_main=[n in main for n in numbers],
        jsonld_body=_article_body(jsonld),
    )
    jsonld_body = evidence.jsonld_body
    figures = block_figures(blocks)
    features = block_features(blocks, figures, evidence)
    layout = Layout.of(blocks, elements, figures)
    return PageBlocks(blocks, features, harvest, jsonld_body, layout, notes)


_MARKED = selector(f"[{BLOCK_MARK}]")


def _marks_under(node: LexborNode, marked: dict[int, int]) -> set[int]:
    """Numbers of the blocks marked at or under ``node``."""
    found = _marks(find_all(node, _MARKED), marked)
    if BLOCK_MARK in node.attributes:
        found.add(_mark(node))
    return found


@dataclass
class Evidence:
    """What the rules say of each block: kept by ``clean_tree``, inside the fast
    path's containers, inside the element holding most paragraphs; and the page's
    JSON-LD ``articleBody``."""

    kept: list[bool]
    in_fast: list[bool]
    in_main: list[bool]
    jsonld_body: str


def _marks(nodes: Iterable[LexborNode], marked: dict[int, int]) -> set[int]:
    """The numbers ``nodes`` are marked with. ``marked`` holds the marks the walk set,
    by ``mem_id`` (lexbor frees no element while the tree lives, so an id names one
    element): one dict lookup instead of reading all the attributes. An element the
    cleaner made anew (from a layout table) or one the page marked itself is read."""
    return {marked[key] if (key := n.mem_id) in marked else _mark(n) for n in nodes}


def _mark(node: LexborNode) -> int:
    value = node.attributes.get(BLOCK_MARK)
    return int(value) if value and value.isdigit() else -1


def _article_body(jsonld: Sequence[dict[str, Any]]) -> str:
    bodies = [o.get("articleBody") for o in jsonld]
    return max((b for b in bodies if isinstance(b, str)), key=len, default="")


def shingles(text: str, size: int = SHINGLE) -> list[str]:
    """Lower-case word shingles of ``text`` (the words themselves when shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return words
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


CODES = 2**62  # numbers ``overlaps`` gives shingles, below int64's limit


def overlaps(texts: Sequence[str], reference: str) -> np.ndarray:
    """For each of ``texts``, the share of its word shingles (``shingles``) that are
    shingles of ``reference``; 0 for a text without words."""
    ids: dict[str, int] = {}
    known = _word_ids([reference], ids, 0, True)[0]
    base = len(ids) + 1  # a word the reference lacks is ``len(ids)``, in no shingle of it
    if len(known) < SHINGLE or base**SHINGLE >= CODES:  # its shingles are its words, or
        grams = set(shingles(reference))  # too many words for a number for each shingle
        return np.array([_overlap(_WORD.findall(t.lower()), grams) for t in texts], np.float64)
    coded = np.sort(_shingle_codes(known, base))
    flat, counts = _word_ids(texts, ids, base - 1)
    text_of = np.repeat(np.arange(len(texts)), counts)
    whole = text_of[: -SHINGLE + 1] == text_of[SHINGLE - 1 :]  # no shingle spans two texts
    codes = _shingle_codes(flat, base)  # looked up in the sorted codes (np.isin sorts both)
    found = (coded[np.minimum(np.searchsorted(coded, codes), len(coded) - 1)] == codes) & whole
    hits = np.bincount(text_of[: -SHINGLE + 1][found], minlength=len(texts))
    return np.where(counts >= SHINGLE, hits / np.maximum(counts - SHINGLE + 1, 1), 0.0)


def python_word_ids(
    texts: Sequence[str], ids: dict[str, int], missing: int, add: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The words of each of ``texts`` in lower case as their numbers in ``ids``
    (``missing`` for a word not in it; with ``add``, a new word is given the next
    number), all in one array, and how many words each text has; ``_walk.word_ids``
    where it is built."""
    words = [_WORD.findall(t.lower()) for t in texts]
    if add:
        for word in chain.from_iterable(words):
            ids.setdefault(word, len(ids))
    flat = np.fromiter(map(ids.get, chain.from_iterable(words), repeat(missing)), np.int64)
    return flat, np.fromiter(map(len, words), np.int64, len(words))


def compiled_word_ids(walk: Any) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``python_word_ids`` through the compiled module ``walk``."""

    def word_ids(
        texts: Sequence[str], ids: dict[str, int], missing: int, add: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        flat, counts = walk.word_ids(texts, ids, missing, add)
        return np.frombuffer(flat, np.int64), np.frombuffer(counts, np.int64)

    return word_ids


# The words come from the same module as the walk (as ``block_figures``).
_word_ids: Callable[..., tuple[np.ndarray, np.ndarray]] = (
    compiled_word_ids(_load_walk())
    if _compiled is not None and hasattr(_load_walk(), "word_ids")
    else python_word_ids
)


def _shingle_codes(ids: np.ndarray, base: int) -> np.ndarray:
    """Each run of ``SHINGLE`` word numbers (below ``base``) as one number."""
    if len(ids) < SHINGLE:
        return np.zeros(0, np.int64)
    return (ids[:-2] * base + ids[1:-1]) * base + ids[2:]


def _overlap(words: list[str], reference: set[str]) -> float:
    """The share of the shingles of ``words`` in ``reference`` (a set of shingles)."""
    grams = [" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)]
    grams = grams or words
    return sum(map(reference.__contains__, grams)) / len(grams) if grams else 0.0


def trafilatura_overlap(
    texts: Sequence[str], lines: Sequence[str], asked: np.ndarray | None = None
) -> np.ndarray:
    """How much of each block trafilatura's reading of the page holds (its decision
    per block, for the pages the model is unsure of); only of the ``asked`` blocks
    where they are given (the others 0: no stage reads them)."""
    if asked is None:
        return overlaps(texts, "\n".join(lines)).astype(np.float32)
    overlap = np.zeros(len(texts), np.float32)
    if asked.any():
        chosen = np.flatnonzero(asked)
        overlap[chosen] = overlaps([texts[i] for i in chosen.tolist()], "\n".join(lines))
    return overlap


def _hash(value: str, buckets: int) -> int:
    return zlib.crc32(value.encode("utf-8", "replace")) % buckets


@lru_cache(maxsize=4096)
def _path_code(path: int) -> int:
    return _hash(f"{path}", 64)


# What the features read of each block, counted once (``block_figures``): its text's
# characters, tag code, link characters and links, what its context holds, its own
# verdict and kinds, its parent and grandparent elements as numbers of their own (the
# same for blocks of one element), its element, the spaces and commas in its text,
# whether the text ends a sentence and starts with a capital, the marks and digits of
# its first ``SAMPLE_CHARS`` characters, its tag and class as a number (the same for the
# same tag and class), whether it has a class, its parent, tag and class as a number,
# its text as a number (the same for the same text), and the ``mem_id`` of its parent
# and grandparent elements. Numbers count from 0 in the order they first come.
FIGURES = (
    "size",
    "tag",
    "link_chars",
    "links",
    "depth",
    "flags",
    "verdict",
    "chrome_depth",
    "kinds",
    "own_verdict",
    "own_kinds",
    "path",
    "parent",
    "grandparent",
    "element",
    "spaces",
    "commas",
    "sentence_end",
    "upper_start",
    "punctuation",
    "digits",
    "class",
    "classed",
    "siblings",
    "text",
    "parent_id",
    "grandparent_id",
)
SIZE, PARENT, GRANDPARENT, ELEMENT, CLASS, CLASSED, PARENT_ID, GRANDPARENT_ID = (
    FIGURES.index(f)
    for f in (
        "size",
        "parent",
        "grandparent",
        "element",
        "class",
        "classed",
        "parent_id",
        "grandparent_id",
    )
)


def python_block_figures(blocks: Sequence[Block]) -> np.ndarray:
    """The figures of ``blocks`` (a row per figure of ``FIGURES``, a column per block,
    64-bit integers); ``block_figures`` where the compiled module is built."""
    texts = [b.text for b in blocks]
    punctuation, digits = python_sample_counts(texts, SAMPLE_CHARS)
    parents: dict[int, int] = {}
    grandparents: dict[int, int] = {}
    classes: dict[tuple[str, str], int] = {}
    siblings: dict[tuple[int, int], int] = {}
    numbers: dict[str, int] = {}

    def group(groups: dict[Any, int], key: Any) -> int:
        return groups.setdefault(key, len(groups))

    columns = [
        (
            len(t),
            TAG_CODES.get(b.tag, OTHER_TAG),
            b.link_chars,
            b.links,
            c.depth,
            c.flags,
            c.verdict,
            c.chrome_depth,
            c.kinds,
            b.own_verdict,
            b.own_kinds,
            c.path,
            parent := group(parents, c.parent),
            group(grandparents, c.grandparent),
            b.element,
            t.count(" "),
            t.count(","),
            t.endswith(SENTENCE_ENDS),
            t[:1].isupper(),
            marks,
            digit_count,
            kind := group(classes, (b.tag, b.class_name)),
            bool(b.class_name),
            group(siblings, (parent, kind)),
            group(numbers, t),
            c.parent,
            c.grandparent,
        )
        for b, c, t, marks, digit_count in zip(
            blocks, (b.context for b in blocks), texts, punctuation, digits, strict=True
        )
    ]
    return np.array(columns, np.int64).reshape(len(blocks), len(FIGURES)).T.copy()


def compiled_block_figures(walk: Any) -> Callable[[Sequence[Block]], np.ndarray]:
    """``python_block_figures`` through the compiled module ``walk``."""

    def figures(blocks: Sequence[Block]) -> np.ndarray:
        data = walk.block_figures(list(blocks), TAG_CODES, OTHER_TAG, SENTENCE_ENDS, SAMPLE_CHARS)
        return np.frombuffer(data, np.int64).reshape(len(FIGURES), len(blocks))

    return figures


# The figures come from the same module as the walk (the Python ones where it is
# turned off, or built from a _walk.pyx without them).
block_figures: Callable[[Sequence[Block]], np.ndarray] = (
    compiled_block_figures(_load_walk())
    if _compiled is not None and hasattr(_load_walk(), "block_figures")
    else python_block_figures
)


def block_features(blocks: list[Block], figures: np.ndarray, evidence: Evidence) -> np.ndarray:
    """The feature matrix of a page's blocks (columns: ``BLOCK_FEATURES``) from their
    ``figures`` (``block_figures``), built a feature (or a run of flags) at a time:
    numpy where a feature is arithmetic on figures, a list where it reads text."""
    n = len(blocks)
    if n == 0:
        return np.zeros((0, len(BLOCK_FEATURES)), np.float32)
    (
        size,
        tag,
        link_chars,
        links,
        depth,
        flags,
        verdict,
        chrome_depth,
        kinds,
        own_verdict,
        own_kinds,
        path,
        parent,
        grandparent,
        _,
        spaces,
        commas,
        sentence_end,
        upper_start,
        punctuation,
        digits,
        kind,
        classed,
        siblings,
        text,
        _,
        _,
    ) = figures
    texts = [b.text for b in blocks]
    sizes = size.astype(np.float64)
    total = float(size.sum()) or 1.0
    densities = np.minimum(1.0, link_chars / sizes)
    log_sizes = np.log1p(sizes)
    # containers: the element around the block's element, and the one around that
    parent_chars = np.bincount(parent, sizes)
    parent_links = np.bincount(parent, link_chars)
    parent_blocks = np.bincount(parent)
    parent_p = np.bincount(parent, tag == TAG_CODES["p"])
    grand_chars = np.bincount(grandparent, sizes)
    h1s = np.flatnonzero(tag == TAG_CODES["h1"])
    h1 = int(h1s[0]) if len(h1s) else None
    jsonld_body = evidence.jsonld_body if _WORD.search(evidence.jsonld_body) else ""
    sample_sizes = np.minimum(size, SAMPLE_CHARS).astype(np.float64)
    words = (spaces + 1).astype(np.float64)
    drop_lines, end_markers, card_labels = line_marks(texts, (size <= 200).tolist())
    in_fast = np.array(evidence.in_fast, bool)
    kept = np.array(evidence.kept, bool)
    fast_chars = float(sizes[in_fast].sum())
    kept_chars = float(sizes[kept].sum())
    index = np.arange(n)
    padded_logs = np.concatenate([np.zeros(3), log_sizes, np.zeros(3)])
    window = padded_logs[0:n]
    for k in range(1, 7):
        window = window + padded_logs[k : k + n]
    reach = max(-min(NEIGHBOURS), max(NEIGHBOURS))  # the neighbours past either end
    neighbour_logs = _padded(log_sizes, reach, -1.0)
    neighbour_densities = _padded(densities, reach, -1.0)
    neighbour_tags = _padded(tag, reach, 0)
    neighbour_parents = _padded(parent, reach, -1)
    columns: list[Sequence[float] | np.ndarray] = [
        log_sizes,
        words,
        (sizes - words + 1) / words,
        punctuation / sample_sizes,
        digits / sample_sizes,
        sentence_end,
        upper_start,
        commas,
        densities,
        links,
        densities > 0.95,
        tag,
        depth,
        list(map(_path_code, path.tolist())),
        (FLAG_ARRAY[:, None] & flags) > 0,
        verdict,
        own_verdict,
        chrome_depth,
        (KIND_ARRAY[:, None] & kinds) > 0,
        (KIND_ARRAY[:, None] & own_kinds) > 0,
        parent_chars[parent] / total,
        parent_blocks[parent],
        parent_p[parent],
        parent_links[parent] / np.where(parent_chars == 0, 1.0, parent_chars)[parent],
        grand_chars[grandparent] / total,
        np.bincount(siblings)[siblings],
        np.where(classed, np.bincount(kind, sizes)[kind] / total, 0.0),
    ]
    for d in NEIGHBOURS:
        near = slice(reach + d, reach + d + n)
        columns += [
            neighbour_logs[near],
            neighbour_densities[near],
            neighbour_tags[near],
            neighbour_parents[near] == parent,
        ]
    columns += [
        window,
        index / n,
        np.concatenate([[0.0], np.cumsum(sizes[:-1])]) / total,
        np.minimum(np.maximum(index - h1, -H1_REACH), H1_REACH)
        if h1 is not None
        else np.full(n, H1_REACH * 2),
        index > h1 if h1 is not None else np.zeros(n, bool),
        overlaps(texts, jsonld_body) if jsonld_body else np.full(n, -1.0),
        np.full(n, bool(jsonld_body)),
        drop_lines,
        end_markers,
        card_labels,
        np.concatenate([[0], np.cumsum(end_markers[:-1])]),
        kept,
        in_fast,
        evidence.in_main,
        np.bincount(text)[text],
        np.full(n, fast_chars / total),
        np.full(n, math.log1p(total)),
        np.full(n, math.log1p(n)),
        np.full(n, kept_chars / total),
    ]
    matrix = np.empty((len(BLOCK_FEATURES), n), np.float32)
    row = 0
    for values in columns:
        rows = len(values) if isinstance(values, np.ndarray) and values.ndim == 2 else 1
        matrix[row : row + rows] = values
        row += rows
    return np.ascontiguousarray(matrix.T)


FLAG_ARRAY = np.array(FLAG_BITS, np.int64)
KIND_ARRAY = np.array(KIND_BITS, np.int64)


def _padded(values: np.ndarray, reach: int, missing: float) -> np.ndarray:
    """``values`` with ``reach`` times ``missing`` before and after: the values of
    the blocks ``d`` places away are a slice of it (``missing`` past either end)."""
    pad = np.full(reach, missing, values.dtype if values.dtype != bool else np.float64)
    return np.concatenate([pad, values, pad])


def line_marks(
    texts: Sequence[str], short: Sequence[bool]
) -> tuple[list[bool], list[bool], list[bool]]:
    """Whether each of the ``short`` texts is a DROP_LINES, an END_MARKERS and a
    CARD_LABEL line (the others are none)."""
    lowered = [
        t.lower() if sh and t.isascii() and _CASED_WORD not in t else None
        for t, sh in zip(texts, short, strict=True)
    ]
    found = [
        i
        for i, (t, low, sh) in enumerate(zip(texts, lowered, short, strict=True))
        if sh and (_ANY_LINE.match(t) if low is None else _ANY_LOWER_LINE.match(low))
    ]
    marks = ([False] * len(texts), [False] * len(texts), [False] * len(texts))
    for marked, pattern, lower in zip(marks, _LINE_PATTERNS, _LOWER_LINE_PATTERNS, strict=True):
        for i in found:
            low = lowered[i]
            marked[i] = bool(pattern.match(texts[i]) if low is None else lower.match(low))
    return marks


def python_sample_counts(texts: Sequence[str], limit: int) -> tuple[list[int], list[int]]:
    """For each text, in its first ``limit`` characters: the punctuation (``_PUNCT``)
    and the digits (``_DIGIT``)."""
    samples = [t[:limit] for t in texts]
    return [len(_PUNCT.findall(t)) for t in samples], [len(_DIGIT.findall(t)) for t in samples]


# --- stage 2 -------------------------------------------------------------------------

CONFIDENT = 0.8
FAR = 200  # distances to a confident block are clipped here, in blocks
CONTEXT_FEATURES = [
    "p",
    "p_rel_max",
    "p_container",
    "p_grand",
    "p_window1",
    "p_window2",
    "p_window5",
    "p_prev",
    "p_next",
    "confident_before",
    "confident_after",
    "page_p_max",
    "page_body_share",
    "p_same_class",
    "in_body_element",
    "below_body_element",
    "body_element_share",
    "parent_body_share",
    "grand_body_share",
    "great_body_share",
    "parent_purity",
    "grand_purity",
    "great_purity",
]
BODY_MASS = 0.7  # the body element is the deepest holding this share of p x chars


def context_features(p: np.ndarray, layout: Layout) -> np.ndarray:
    """The first stage's probabilities in context (columns: ``CONTEXT_FEATURES``)."""
    n = len(p)
    if n == 0:
        return np.zeros((0, len(CONTEXT_FEATURES)), np.float32)
    sizes = layout.arrays.sizes
    weights = np.log1p(sizes)
    top = float(p.max()) or 1.0
    container = _group_mean(layout.parent_groups, p, weights)
    grand = _group_mean(layout.grandparent_groups, p, weights)
    same_class = _group_mean(layout.class_groups, p, weights)
    cumulative = np.concatenate([[0.0], np.cumsum(p * weights)])
    cum_weights = np.concatenate([[0.0], np.cumsum(weights)])
    index = np.arange(n)

    def window(k: int) -> np.ndarray:
        lo = np.maximum(index - k, 0)
        hi = np.minimum(index + k + 1, n)
        spread = np.maximum(cum_weights[hi] - cum_weights[lo], 1e-9)
        return (cumulative[hi] - cumulative[lo]) / spread

    confident = np.flatnonzero(p >= CONFIDENT)
    if len(confident):
        pos = np.searchsorted(confident, index)
        last = len(confident) - 1
        before = np.where(pos > 0, index - confident[np.maximum(pos - 1, 0)], n)
        after = np.where(pos <= last, confident[np.minimum(pos, last)] - index, n)
        before, after = np.minimum(before, FAR), np.minimum(after, FAR)
    else:
        before = after = np.full(n, FAR)
    body_share = float((sizes * (p >= 0.5)).sum() / max(sizes.sum(), 1.0))
    columns = [
        p,
        p / top,
        container,
        grand,
        window(1),
        window(2),
        window(5),
        np.concatenate([[-1.0], p[:-1]]),
        np.concatenate([p[1:], [-1.0]]),
        before,
        after,
        np.full(n, top),
        np.full(n, body_share),
        same_class,
        *_element_columns(p, sizes, layout),
    ]
    return np.column_stack(columns).astype(np.float32)


def _element_columns(p: np.ndarray, sizes: np.ndarray, layout: Layout) -> list[np.ndarray]:
    """Where each block lies relative to the body element (the deepest element that
    holds ``BODY_MASS`` of the probable text), and how much probable text its parent,
    grandparent and great-grandparent elements hold."""
    _, element, parent, depth, end = layout.arrays
    count = len(parent)
    # bincount adds in block order from 0, as np.add.at would: the same sums
    mass = np.bincount(element, p * sizes, count)
    chars = np.bincount(element, sizes, count)
    # elements are numbered in document order, so a subtree is a range of numbers
    cum_mass = np.concatenate([[0.0], np.cumsum(mass)])
    cum_chars = np.concatenate([[0.0], np.cumsum(chars)])
    starts = np.arange(count)
    sub_mass = cum_mass[end] - cum_mass[starts]
    sub_chars = cum_chars[end] - cum_chars[starts]
    total = float(sub_mass[0]) or 1.0
    holders = np.flatnonzero(sub_mass >= BODY_MASS * total)
    body = int(holders[np.argmax(depth[holders])]) if len(holders) else 0
    inside = (element >= body) & (element < end[body])
    up1 = np.maximum(parent[element], 0)
    up2 = np.maximum(parent[up1], 0)
    up3 = np.maximum(parent[up2], 0)

    def purity(nodes: np.ndarray) -> np.ndarray:
        return sub_mass[nodes] / np.maximum(sub_chars[nodes], 1.0)

    return [
        inside,
        np.where(inside, depth[element] - depth[body], -1),
        np.full(len(p), sub_chars[body] / max(float(sub_chars[0]), 1.0)),
        sub_mass[up1] / total,
        sub_mass[up2] / total,
        sub_mass[up3] / total,
        purity(up1),
        purity(up2),
        purity(up3),
    ]


def _group_mean(group: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each block's weighted mean of ``p`` over the blocks of its group (numbered from
    0; bincount adds in block order: the same sums as a loop)."""
    sums = np.bincount(group, p * weights)
    totals = np.bincount(group, weights)
    return (sums / np.where(totals == 0, 1.0, totals))[group]


# --- decoding and the guard ------------------------------------------------------------

SWITCH_COST = 0.3  # log-odds it costs to enter or leave the body between two blocks
FLOOR = 1e-4


def decode(
    p: np.ndarray, sizes: Sequence[int] | np.ndarray, switch_cost: float = SWITCH_COST
) -> list[bool]:
    """Which blocks are body: the most likely in/out sequence (Viterbi), where each
    block's evidence is its log-odds weighted by its length and each change of state
    costs ``switch_cost``."""
    n = len(p)
    if n == 0:
        return []
    clipped = np.clip(p, FLOOR, 1 - FLOOR)
    weight = np.minimum(1.0, 0.25 + np.log1p(np.asarray(sizes, np.float64)) / 6)
    gain = (np.log(clipped) - np.log1p(-clipped)) * weight  # score of "in" over "out"
    return _best_path(gain, switch_cost)


def python_best_path(gain: np.ndarray, switch_cost: float) -> list[bool]:
    """Whether each block is "in" on the most likely path, where being in block i
    scores ``gain[i]`` over being out and each change of state costs
    ``switch_cost``; ``_walk.best_path`` where it is built."""
    if not len(gain):
        return []
    score_in, score_out = float(gain[0]), 0.0
    # the state before block i+1 on the best path into "in" / "out" at i+1
    came_in: list[bool] = []
    came_out: list[bool] = []
    for g in gain[1:].tolist():
        enter, leave = score_out - switch_cost, score_in - switch_cost
        came_in.append(score_in >= enter)
        came_out.append(leave > score_out)
        score_in, score_out = max(score_in, enter) + g, max(score_out, leave)
    state = score_in > score_out
    path = [state]
    for i in range(len(gain) - 2, -1, -1):
        state = came_in[i] if state else came_out[i]
        path.append(state)
    return path[::-1]


# The path comes from the same module as the walk (as ``block_figures``).
_best_path: Callable[[np.ndarray, float], list[bool]] = (
    getattr(_load_walk(), "best_path", python_best_path)
    if _compiled is not None
    else python_best_path
)


@dataclass
class Body:
    """The chosen body: its lines, which blocks they are, why the guard changed it
    (if it did), and whether the model was unsure of the page (trafilatura asked).
    Per block: the model's probability, the reason it is in or out (``MODEL`` and
    the other reasons below), and whether it lies in the article's main run
    (``templates.main_run``)."""

    lines: list[str]
    chosen: list[bool]
    guard: str | None = None
    unsure: bool = False
    p: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    inside: list[bool] = field(default_factory=list)


# Why a block is in or out of the body (``scrape explain``): the model's decision,
# one of its filters (a link run, a related card, a copy), the learned template, or the
# guard (``guard:<reason>``); ``rules.steer`` adds the site rules' reasons.
MODEL, LINK_RUN, RELATED_CARD, TEMPLATE = "model", "link_run", "related_card", "template"
COPY = "copy"

# Chosen blocks that repeat, in the same order, at least this many earlier chosen blocks
# that other elements hold are a second rendering of the article (a variant for another
# screen size, a copy the page hides with a class): the text is already in the body.
# Repeats inside one element (a recipe's steps, a schedule) stay.
COPY_RUN = 3
COPY_LOOKBACK = 8  # earlier occurrences of a text compared with (a bound on the work)


def repeated_copies(
    texts: Sequence[str], parents: Sequence[int], chosen: Sequence[bool]
) -> set[int]:
    """The chosen blocks that are a later copy of a run of chosen blocks."""
    order = [i for i, c in enumerate(chosen) if c]
    counts = Counter(texts[i] for i in order)
    if len(counts) == len(order):
        return set()  # no chosen text comes twice
    seen: dict[str, list[int]] = {}  # text -> its places in ``order``
    runs = [0] * len(order)  # the longest repeated run ending at each place
    previous: dict[int, int] = {}  # run lengths at the previous place, by earlier place
    for k, i in enumerate(order):
        if counts[texts[i]] == 1:  # a text that comes once is in no repeated run
            previous = {}
            continue
        current = {
            j: previous.get(j - 1, 0) + 1
            for j in seen.get(texts[i], [])[-COPY_LOOKBACK:]
            if parents[order[j]] != parents[i]
        }
        runs[k] = max(current.values(), default=0)
        seen.setdefault(texts[i], []).append(k)
        previous = current
    copies: set[int] = set()
    k = len(order) - 1
    while k >= 0:
        if runs[k] >= COPY_RUN:
            copies.update(order[k - runs[k] + 1 : k + 1])
            k -= runs[k]
        else:
            k -= 1
    return copies


# A body under this share of an independent estimate of its length is re-examined.
# The longest run of paragraphs is the weakest estimate (comments and teasers are
# paragraphs too), so it takes the strongest truncation.
JSONLD_SHARE, RUN_SHARE, TRAFILATURA_SHARE = 0.5, 0.1, 0.2
GUARD_MIN_CHARS = 500  # estimates shorter than this are not evidence of truncation
MIN_PARAGRAPH = 40  # characters
UNSURE_LOW, UNSURE_HIGH = 0.25, 0.75
UNSURE_SHARE = 0.3  # a page is unsure when this share of its text is in between
RUN_BRIDGES = frozenset({"h2", "h3", "h4", "h5", "h6", "li", "blockquote"})


def paragraph_run(texts: Sequence[str], tags: Sequence[str], flags: Sequence[int]) -> slice:
    """The longest run (by characters of paragraphs) of paragraph blocks outside
    navigation and footers; headings, quotes and short blocks inside it do not end
    it."""
    best, best_chars = slice(0, 0), 0
    start, chars = -1, 0
    for i in range(len(texts) + 1):
        size = len(texts[i]) if i < len(texts) else 0
        if i < len(texts) and _is_paragraph(tags[i], size, flags[i]):
            if start < 0:
                start, chars = i, 0
            chars += size
        elif i == len(texts) or not (tags[i] in RUN_BRIDGES or size < MIN_PARAGRAPH):
            if start >= 0 and chars > best_chars:
                best, best_chars = slice(start, i), chars
            start = -1
    return best


def _is_paragraph(tag: str, size: int, flags: int) -> bool:
    return tag == "p" and size >= MIN_PARAGRAPH and not flags & (IN_NAV | IN_FOOTER | IN_ASIDE)


def guard(
    page: PageBlocks,
    chosen: list[bool],
    p: np.ndarray,
    fallback: Callable[[], list[str]] | None,
) -> tuple[list[bool], str | None, list[str] | None]:
    """``chosen``, or a better-supported reading when the body is much shorter than
    an independent estimate of its length; returns the choice, the guard's reason,
    and trafilatura's lines when they were taken."""
    sizes = page.layout.sizes
    body_chars = sum(compress(sizes, chosen))
    article_body = page.jsonld_body
    if len(article_body) >= GUARD_MIN_CHARS and body_chars < JSONLD_SHARE * len(article_body):
        held = overlaps(page.texts, article_body) >= 0.5
        reading = (held | np.asarray(chosen, bool)).tolist()
        if sum(compress(sizes, reading)) > body_chars:
            return reading, "jsonld", None
    if body_chars < RUN_SHARE * sum(sizes):  # else even a run of all the text is no reason
        tags, flags = page.tags, page.flags
        run = paragraph_run(page.texts, tags, flags)
        run_chars = sum(
            sizes[i]
            for i in range(run.start, run.stop)
            if _is_paragraph(tags[i], sizes[i], flags[i])
        )
        if run_chars >= GUARD_MIN_CHARS and body_chars < RUN_SHARE * run_chars:
            reading = [c or run.start <= i < run.stop for i, c in enumerate(chosen)]
            return reading, "paragraphs", None
    if fallback is not None:
        lines = fallback()
        theirs = sum(len(line) for line in lines)
        if theirs >= GUARD_MIN_CHARS and body_chars < TRAFILATURA_SHARE * theirs:
            return chosen, "trafilatura", lines
    return chosen, None, None


def needs_trafilatura(page: PageBlocks, p: np.ndarray) -> bool:
    """Whether the model is unsure of a page: the rules found no paragraph container
    on it, or much of its text has a probability far from 0 and 1."""
    if not len(p):
        return False
    on_fast_path = page.features[0, PAGE_FAST_PATH_SHARE] > 0
    return not on_fast_path or unsure(p, page.layout.arrays.sizes)


PAGE_FAST_PATH_SHARE = BLOCK_FEATURES.index("page_fast_path_share")


def unsure(p: np.ndarray, sizes: Sequence[int] | np.ndarray) -> bool:
    """Whether much of the page's text has a probability far from 0 and 1."""
    s = np.asarray(sizes, np.float64)
    total = s.sum()
    if total == 0:
        return True
    middle = ((p > UNSURE_LOW) & (p < UNSURE_HIGH)) * s
    return bool(middle.sum() / total >= UNSURE_SHARE or (p >= 0.5).sum() == 0)


# --- the model ---------------------------------------------------------------------------


LINK_DENSITY = BLOCK_FEATURES.index("link_density")
KEPT, VERDICT = BLOCK_FEATURES.index("kept_by_rules"), BLOCK_FEATURES.index("verdict_chain")
LINK_RUN_CHARS, LINK_RUN_DENSITY = 200, 0.8


def is_related_card(kept: np.ndarray, verdict: np.ndarray) -> np.ndarray:
    """Whether each block is one of a related-content box that ``clean_tree`` took out
    of the page: its cards are the record's ``related`` links, so their text is not
    also body (the model alone can take a card's long summary for a paragraph;
    out-of-fold, leaving them out changed nothing on the corpora)."""
    return (kept == 0) & (verdict == RELATED)


def is_link_run(size: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Whether each block is a short one that is mostly links (a promo, a "read more"
    or tag link): such a block is left out even inside the body (out-of-fold, dropping
    them gained on all three corpora: the model alone leaves some in)."""
    return (size < LINK_RUN_CHARS) & (density > LINK_RUN_DENSITY)


# The later stages are not asked about a block stage 1 is this sure is not body, on a
# page where stage 1 is sure of some body: the block keeps stage 1's probability. Out
# of fold (two seeds) this changed 6 and 10 of the 1,369 pages and no figure; it spares
# those stages about half of the blocks.
SURE_OUT, SURE_IN = 0.01, 0.5
STAGE1_P = len(BLOCK_FEATURES)  # stage 1's probability, a column of the later stages


def asked_blocks(p1: np.ndarray) -> np.ndarray | None:
    """The blocks a later stage is asked about, by stage 1's probabilities ``p1``
    (None: all of them)."""
    if not len(p1) or p1.max() < SURE_IN:
        return None
    return p1 >= SURE_OUT


def later_stage(stage: Trees, x: np.ndarray) -> np.ndarray:
    """A later stage's probabilities on the blocks that stage 1 is not sure of."""
    p1 = x[:, STAGE1_P]
    asked = asked_blocks(p1)
    if asked is None:
        return stage.predict(x)
    p = p1.astype(np.float64)
    if asked.any():
        p[asked] = stage.predict(x[asked])
    return p


class BlockModel:
    """The LightGBM stages; ``body`` turns a page's blocks into its body.

    Stage 1 reads the block features; stage 2 also reads stage 1's probabilities in
    context; stage 3, run only on pages the model is unsure of, also reads how much
    of each block trafilatura's reading of the page holds. ``trees`` predict for the
    stages (``scraper.trees``: compiled, or LightGBM's own)."""

    def __init__(
        self,
        stage1: lightgbm.Booster,
        stage2: lightgbm.Booster,
        stage3: lightgbm.Booster | None = None,
    ) -> None:
        self.stage1 = stage1
        self.stage2 = stage2
        self.stage3 = stage3
        self.trees = [Trees(stage) for stage in (stage1, stage2, stage3) if stage is not None]
        self.guarded: dict[str, int] = {}  # pages the guard changed, by reason
        self.asked_trafilatura = 0  # pages stage 3 read

    @classmethod
    def from_string(cls, text: str) -> BlockModel:
        import lightgbm

        parts = [part for part in text.split(STAGE_SEPARATOR) if part.strip()]
        try:
            stages = [lightgbm.Booster(model_str=part) for part in parts]
        except lightgbm.basic.LightGBMError as exc:
            raise ExtractError(f"block model unreadable: {exc}") from exc
        if len(stages) not in (2, 3):
            raise ExtractError(f"block model unreadable: {len(stages)} stages, not 2 or 3")
        return cls(*stages)

    def to_string(self) -> str:
        stages = [self.stage1, self.stage2] + ([self.stage3] if self.stage3 else [])
        return STAGE_SEPARATOR.join(stage.model_to_string() for stage in stages)

    def second_stage(self, page: PageBlocks) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2's features (stage 1's probabilities in context) and probabilities."""
        p = self.trees[0].predict(page.features)
        second = np.hstack([page.features, context_features(p, page.layout)])
        return second, later_stage(self.trees[1], second)

    def probabilities(self, page: PageBlocks) -> np.ndarray:
        return self.second_stage(page)[1] if page.texts else np.zeros(0)

    def body(
        self,
        page: PageBlocks,
        fallback: Callable[[], list[str]] | None = None,
        template: frozenset[int] = frozenset(),
    ) -> Body:
        """The body lines of ``page``. ``fallback`` (trafilatura's reading of the
        page) is asked only on pages the model is unsure of. The blocks whose
        fingerprint is in ``template`` (the site's learned template) are left out when
        they lie outside the main run."""
        if not page.texts:
            return Body([], [])
        second, p = self.second_stage(page)
        reading: list[str] | None = None

        def trafilatura() -> list[str]:
            nonlocal reading
            if reading is None:
                reading = fallback() if fallback is not None else []
                self.asked_trafilatura += 1
            return reading

        sizes = page.layout.arrays.sizes
        doubt = needs_trafilatura(page, p)
        if doubt and self.stage3 is not None and fallback is not None:
            asked = asked_blocks(second[:, STAGE1_P])
            overlap = trafilatura_overlap(page.texts, trafilatura(), asked)
            third = np.hstack([second, overlap[:, None]])
            p = later_stage(self.trees[2], third)
        decoded = np.array(decode(p, sizes), bool)
        # the features as the float64 values the filters compare
        features = page.features[:, [LINK_DENSITY, KEPT, VERDICT]].astype(np.float64)
        link_run = is_link_run(sizes, features[:, 0])
        card = is_related_card(features[:, 1], features[:, 2])
        chosen = (decoded & ~link_run & ~card).tolist()
        inside = main_run(page, chosen, BODY_MASS)  # the model's own: what a page teaches
        steered = main_run(page, chosen, BODY_MASS, template) if template else inside
        filtered = without_template(page.notes.prints, chosen, steered, template)
        copies = repeated_copies(page.texts, page.layout.parents, filtered)
        if copies:
            filtered = [c and i not in copies for i, c in enumerate(filtered)]
        chosen, reason, other = guard(
            page, filtered, p, trafilatura if doubt and fallback else None
        )
        reasons = _reasons(link_run, card, decoded, filtered, chosen, reason, copies)
        if reason:
            self.guarded[reason] = self.guarded.get(reason, 0) + 1
        probabilities = p.tolist()
        if other is not None:
            return Body(other, chosen, reason, True, probabilities, reasons, inside)
        lines = list(compress(page.texts, chosen))
        return Body(lines, chosen, reason, doubt, probabilities, reasons, inside)


def _reasons(
    link_run: np.ndarray,
    card: np.ndarray,
    decoded: np.ndarray,
    filtered: Sequence[bool],
    chosen: Sequence[bool],
    guard_reason: str | None,
    copies: set[int],
) -> list[str]:
    """Why each block is in or out: the model's decoding, a filter that took a decoded
    block out (a link run, a related card, a copy, the learned template), or the guard
    that changed it."""
    reasons = [MODEL] * len(decoded)
    for i in np.flatnonzero(decoded & ~np.array(filtered, bool)).tolist():
        if link_run[i]:
            reasons[i] = LINK_RUN
        elif card[i]:
            reasons[i] = RELATED_CARD
        elif i in copies:
            reasons[i] = COPY
        else:
            reasons[i] = TEMPLATE
    if chosen is not filtered:  # the guard made a choice of its own
        for i, (c, f) in enumerate(zip(chosen, filtered, strict=True)):
            if c != f:
                reasons[i] = f"guard:{guard_reason}"
    return reasons


@cache
def shipped_model() -> BlockModel:
    """The model shipped in ``scraper/data`` (loaded once per process)."""
    try:
        text = resources.files("scraper").joinpath("data", MODEL_FILE).read_text("utf-8")
    except OSError as exc:
        raise ExtractError(f"block model missing: {exc}") from exc
    return BlockModel.from_string(text)
