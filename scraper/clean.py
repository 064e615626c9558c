"""Boilerplate removal rules.

Two layers, both generic (no per-site code):

* ``clean_tree`` works on the selectolax DOM before text extraction. It harvests
  what users want out of the chrome (figure captions with credits, related-article
  cards as links) and then removes the chrome itself: scripts, navigation, ads,
  share bars, cookie banners, comment widgets, newsletter prompts and related
  blocks, found by tag, by class/id/role/aria tokens and by section headings.
* ``clean_lines`` works on extracted text lines, and is all ``scrape clean-text``
  needs: it cuts the text at the first line of a portal template ("Hashtags",
  "Related Articles", "No comments yet..."), drops stray chrome lines ("Story
  continues", "Advertisement", copyright lines) and moves photo captions out of
  the body.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .anyof import AnyOf
from .find import (
    Selector,
    find_all,
    find_each,
    find_first,
    joined_values,
    parent_scores,
    selector,
    text_length,
)
from .models import Caption, RelatedLink
from .normalise import normalise_space

# Lines that start a portal template: everything from here on is chrome.
END_MARKERS = re.compile(
    r"""(?ix)^(?:
        hashtags? | tags | topics | related\ (?:articles|stories|content|posts|news|topics|coverage)
      | try\ our\ ai\ features | explore\ what\ .{1,40}\ can\ do\ for\ you:?
      | comments?(?:\s*\(\d+\))? | \d+\ comments? | no\ comments\ yet(?:\.*|…)
      | be\ the\ first\ to\ comment.* | view\ (?:\d+\ )?comments | join\ the\ (?:conversation|discussion)
      | (?:recommended|suggested)\ (?:stories|articles|reading|for\ you|videos?)
      | more\ for\ you | more\ (?:stories|news|articles)(?:\ from\ .{1,40})? | more\ from\ .{1,40}
      | (?:you\ )?(?:may|might)\ (?:also\ )?(?:like|enjoy) | read\ (?:next|more|also) | see\ also
      | most\ (?:read|popular|viewed|shared) | trending(?:\ now|\ stories)? | popular\ now
      | top\ stories | (?:sponsored|partner|promoted)\ (?:content|stories|links)
      | (?:other|more|latest)\ headlines(?:\ from\ .{1,40})?
      | sign\ up\ for\ (?:our|the)\ .{0,40}newsletters?.* | (?:get\ )?our\ newsletters?
      | share\ this\ (?:article|story|page) | follow\ us(?:\ on\ .{1,40})?
    )[.:!]?$""",
)

# The label of one related-story card set inside the body: the label and the card's
# title (the next line) go, and the body goes on.
CARD_LABEL = re.compile(r"(?i)^related (?:article|story|post)[.:]?$")

# Single lines of chrome that may sit inside the body.
DROP_LINES = re.compile(
    r"""(?ix)^(?:
        story\ continues(?:\ below)?.* | advertisement | advert | ad | sponsored(?:\ content)?
      | continue\ reading.* | skip\ (?:ad|advert(?:isement)?) | scroll\ to\ continue.*
      | listen\ to\ (?:this\ )?article.* | share | tweet | email | print | copy\ link | save
      | open\ in\ app | download\ the\ app.* | feedback | see\ more | show\ more | load\ more
      | (?:click|tap)\ here\ to\ .{0,80} | subscribe(?:\ now)?(?:\ to\ .{0,60})?
      | (?:copyright|©|\(c\))\ *\d{4}\b.* | (?:.{0,80}\ )?all\ rights\ reserved\.?
      | this\ material\ may\ not\ be\ published,\ broadcast,\ rewritten,?\ or\ redistributed.*
      | (?:photo|image|picture|video)\ ?:\ .{0,120}
      | \((?:additional\ )?(?:reporting|writing|editing)\ by\ [^()]{2,200}\)
      | .{2,80}\ contributed\ (?:to\ )?(?:this|the)\ (?:report|story|article)\.?
      | [a-z]{2,4}(?:/[a-z]{2,4})+
      | home | table\ of\ contents | skip\ to\ (?:main\ )?content | jump\ to\ .{1,30}
      | \d{1,3}\ ?min(?:ute)?s?\ read | back\ to\ (?:top|home|blogs?|news|articles?|all\ .{1,30})
      | (?:sign\ up|sign\ in|log\ ?in|register|book\ a\ (?:demo|call)|request\ a\ (?:quote|demo)
        |contact\ us|get\ started|learn\ more|shop\ now|buy\ now)(?:\ (?:today|now|here|free))?
      | (?:join|subscribe\ to)\ (?:our|the|my)\ .{0,40}(?:newsletter|mailing\ list|list|community|group).{0,60}
      | (?:stay\ connected|follow\ (?:me|us)|share\ (?:your|this)\ .{1,20}).{0,40}
      | (?:next|previous|prev)\ (?:article|post|story):\ .{0,120}
      | (?:posted|written|reviewed|fact[-\ ]checked|edited)\ by\ .{2,60}
      | (?:like|share)\ this: | pin\ (?:this\ |it\ )?for\ later | already\ have\ an\ account\?.{0,20}
      | like\ this\ (?:story|article|post)\?.{0,60}
      | (?:published|updated|posted|last\ updated)(?:\ on)?:?\ (?:\d{1,2}\ [a-z]{3,9}\.?\ \d{4}
        | [a-z]{3,9}\.?\ \d{1,2},?\ \d{4} | \d{4}-\d{2}-\d{2} | \d{1,2}[./]\d{1,2}[./]\d{2,4}).{0,30}
      | advertisement:\ .{1,60} | (?:e-?mail|tel|phone|fax):\ \S{3,60}
      | (?:.{0,200}[.!?]\ )?(?-i:Sign)\ up\ (?:for|to)\ [^.!?]{0,80}\bnewsletters?\b[^.!?]{0,80}
    )[.!]?$""",
)


def _case_sensitive(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` (case-insensitive by its leading inline flags) matching case."""
    flags, _, body = pattern.pattern.partition(")")
    flags = flags.replace("i", "")
    return re.compile(body if flags == "(?" else f"{flags}){body}")


# The line patterns, matching case: their letters are lower case (outside a
# ``(?-i:...)`` group), so on the lower-cased form of an ASCII text each matches as
# the pattern does on the text (tests hold them alike); and sre passes over an
# alternative at its first letter only where case counts.
_LINE_PATTERNS = (DROP_LINES, END_MARKERS, CARD_LABEL)
_LOWER_LINE_PATTERNS = tuple(_case_sensitive(p) for p in _LINE_PATTERNS)
# ... but no text holding "Sign" is lower-cased: DROP_LINES matches it case-sensitively.
_CASED_WORD = "Sign"


# Most texts are no line of any kind: one match tells (of the alternatives that can
# start the text), and only the few it matches are matched with each pattern.
_ANY_LINE, _ANY_LOWER_LINE = AnyOf.of(_LINE_PATTERNS), AnyOf.of(_LOWER_LINE_PATTERNS)


def _is_line_mark(line: str) -> bool:
    """Whether ``line`` is a DROP_LINES, an END_MARKERS or a CARD_LABEL line."""
    if line.isascii() and _CASED_WORD not in line:
        return _ANY_LOWER_LINE.match(line.lower())
    return _ANY_LINE.match(line)


# A photo caption line: ends with a parenthesised credit such as "(Stefan Rousseau/PA)".
CAPTION_LINE = re.compile(r"^(?P<text>.{8,}?)\s*\((?P<credit>[^()]{2,80}/\s?[^()/]{1,40})\)$")
CREDIT_IN_TEXT = re.compile(
    r"""(?x)\s*(?:
        \((?P<paren>[^()]{2,80}/[^()]{1,40}|(?i:photo|image|picture|credit)s?:?\ [^()]{2,80})\)
      | (?i:photo|image|picture|credit)s?\ ?(?::|by)\ (?P<label>[^.]{2,80})
      | ©\ ?(?P<copy>[^©.]{2,60})
      | (?<=[.!?]\ )(?P<agency>[A-Z][A-Z]{1,15}/[^/.]{2,40}(?:/[^/.]{2,40})?)
    )\.?$"""
)

# Each alternative of CREDIT_IN_TEXT needs a ")", a "/", a "©" or one of these words.
_CREDIT_WORDS = ("photo", "image", "picture", "credit")


def _credit_in(text: str) -> re.Match[str] | None:
    """``CREDIT_IN_TEXT.search(text)``, not run where it cannot match (most texts)."""
    if text.isascii() and ")" not in text and "/" not in text:
        low = text.lower()  # ASCII: as the pattern ignores case
        if not any(word in low for word in _CREDIT_WORDS):
            return None
    return CREDIT_IN_TEXT.search(text)


# A list bullet (trafilatura writes items as "- "); a number is the page's own text.
BULLET = re.compile(r"^[-*•·▪]\s+(?=\S)")

# class/id tokens of chrome containers; a bigram like "read more" comes from
# "read-more", "readMore" or "read_more".
CHROME_TOKENS = frozenset(
    """related recommended recommendations recirculation newsletter newsletters promo
    promos promotion share sharing sharebar social cookie cookies consent gdpr
    comments comment disqus viafoura ad ads adslot adunit advert adverts advertisement
    advertising sponsored sponsor outbrain taboola paywall subscribe subscription signup
    breadcrumb breadcrumbs nav navbar navigation menu footer sidebar toolbar
    modal popup overlay hashtags tags tagcloud trending popular mostread banner masthead disclaimer""".split()
)
CHROME_BIGRAMS = frozenset(
    {
        "read more",
        "most read",
        "more for",
        "for you",
        "you may",
        "also like",
        "read next",
        "most popular",
        "app banner",
        "open app",
        "in app",
        "sign up",
        "more stories",
        "top stories",
        "bias distribution",
        "visually hidden",
        "sr only",
        "screen reader",
    }
)
RELATED_TOKENS = frozenset(
    """related recommended recommendations recirculation mostread trending popular coverage""".split()
)
RELATED_BIGRAMS = frozenset(
    {
        "more for",
        "for you",
        "read more",
        "most read",
        "read next",
        "more stories",
        "top stories",
        "you may",
        "also like",
    }
)
CHROME_ROLES = frozenset(
    {
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
    }
)
CHROME_TAGS = (
    "script, style, noscript, template, svg, canvas, iframe, object, embed, form, button, "
    "input, select, textarea, nav, footer, aside, dialog, video, audio, link, meta[itemprop]"
)
CAPTION_TOKENS = frozenset({"caption", "figcaption", "credit", "credits"})
CREDIT_TOKENS = frozenset({"credit", "credits", "attribution", "copyright"})
# A line that is only a photo credit: "AFP / Rodrigo Arancibia", "© Getty Images".
CREDIT_LINE = re.compile(
    r"^(?:©.{2,58}|(?i:photo|image|credit)s?:.{2,55}|[^/\s][^/]{0,40}\s?/\s?[^/]{2,40})$"
)
_CREDIT_LABEL = re.compile(r"(?i)^(?:©|\(c\)|photo|image|picture|credit)s?:?\s*")
SOURCE_TOKENS = frozenset({"source", "publisher", "provider", "outlet", "brand", "attribution"})
PROTECTED_TAGS = frozenset({"html", "body", "main", "article", "h1"})
SEMANTIC_CHROME = frozenset({"nav", "header", "footer", "aside", "menu", "dialog"})
MIN_ARTICLE_CHARS = 200

_TOKEN = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


TOKEN_ATTRS = ("class", "id", "aria-label", "data-component", "data-testid")
# Only elements with one of these attributes can match a token or role rule.
TOKEN_HOLDERS = ", ".join(f"[{a}]" for a in (*TOKEN_ATTRS, "role"))


def tokens(node: LexborNode) -> tuple[str, ...]:
    """Lower-case words of a node's class, id and aria-label attributes."""
    return _words(joined_values(node, TOKEN_ATTRS))


@lru_cache(maxsize=64)
def token_selector(words: frozenset[str]) -> Selector:
    """What preselects the elements ``with_tokens`` gives: a class or id holding one of
    ``words``, ASCII case aside."""
    # class and id only, and no word holding another ("authors" holds "author"):
    # every alternative is tested on every element
    needed = sorted(w for w in words if not any(o != w and o in w for o in words))
    return selector(", ".join(f'[{a}*="{w}" i]' for w in needed for a in ("class", "id")))


# Set to 1, the compiled walk (scraper/_walk.pyx) is not used.
PYTHON_WALK_ENV = "SCRAPER_PYTHON_WALK"


def compiled(name: str) -> Any:
    """The function ``name`` of the compiled walk (scraper/_walk.pyx), or None where it
    is not built, built from an older _walk.pyx, or turned off."""
    if os.environ.get(PYTHON_WALK_ENV) == "1":
        return None
    try:
        return getattr(import_module(f"{__package__}._walk"), name)
    except (ImportError, AttributeError):
        return None


def with_tokens(root: LexborNode, words: frozenset[str]) -> list[LexborNode]:
    """Elements under ``root`` (itself included) whose class or id tokens include one
    of ``words``, in document order; preselected by substring."""
    return having_tokens(find_all(root, token_selector(words)), words)


# The tokens of elements read so far, by ``mem_id`` (the tree must not change meanwhile).
KnownTokens = dict[int, tuple[str, ...]]


def known_tokens(node: LexborNode, known: KnownTokens) -> tuple[str, ...]:
    """``tokens(node)``, read once for each element."""
    key = node.mem_id
    found = known.get(key)
    if found is None:
        found = known[key] = tokens(node)
    return found


def having_tokens(
    nodes: list[LexborNode], words: frozenset[str], known: KnownTokens | None = None
) -> list[LexborNode]:
    """Those of ``nodes`` whose class or id tokens include one of ``words``."""
    known = {} if known is None else known
    return [n for n in nodes if not words.isdisjoint(known_tokens(n, known))]


@lru_cache(maxsize=8192)
def _words(raw: str) -> tuple[str, ...]:
    # Pages repeat the same class strings many times: split each one once. A string
    # without capitals has no camel case to split and is its own lower case.
    if not raw.islower():
        raw = _CAMEL.sub(" ", raw).lower()
    return tuple(_TOKEN.findall(raw))  # the runs between separators, none empty


# Words for boxes that never hold running prose themselves: ad slots and navigation.
# A box named only by them that does hold prose is a section of the article with ad
# slots in it (BEM "Section--Ads") or a target of the page's own table of contents
# ("content-nav-section"), and is kept.
SLOT_TOKENS = frozenset(
    """ad ads adslot adunit advert adverts advertisement advertising
    nav navbar navigation menu breadcrumb breadcrumbs toolbar""".split()
)
RELATED, CHROME, SLOT = 3, 2, 1
_BIGRAM_STARTS = frozenset(b.split()[0] for b in CHROME_BIGRAMS | RELATED_BIGRAMS)
# What each word can say of a value, as bits: one dict lookup per word.
_IS_RELATED, _IS_BIGRAM_START, _IS_SLOT, _IS_CHROME = 1, 2, 4, 8
_WORD_BITS = {
    word: (word in RELATED_TOKENS) * _IS_RELATED
    | (word in _BIGRAM_STARTS) * _IS_BIGRAM_START
    | (word in CHROME_TOKENS and word in SLOT_TOKENS) * _IS_SLOT
    | (word in CHROME_TOKENS and word not in SLOT_TOKENS) * _IS_CHROME
    for word in RELATED_TOKENS | _BIGRAM_STARTS | CHROME_TOKENS
}


@lru_cache(maxsize=16384)
def _value_verdict(value: str) -> int:
    """RELATED, CHROME, SLOT or 0 for one attribute value (pages repeat the same
    class strings many times: each is judged once)."""
    words = _words(value)
    bits = 0
    for word in words:
        bits |= _WORD_BITS.get(word, 0)
    if not bits:
        return 0
    if bits & _IS_RELATED:
        return RELATED
    if bits & _IS_BIGRAM_START and not _BIGRAM_STARTS.isdisjoint(words[:-1]):
        pairs = {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}
        if not pairs.isdisjoint(RELATED_BIGRAMS):
            return RELATED
        if not pairs.isdisjoint(CHROME_BIGRAMS):
            return CHROME
    if bits & _IS_CHROME:
        return CHROME
    return SLOT if bits & _IS_SLOT else 0


def _verdict(attrs: dict[str, str | None]) -> int:
    """RELATED, CHROME, SLOT or 0 for an element's attributes."""
    if len(attrs) == 1 and (name := attrs.get("class")) is not None:
        return _value_verdict(name) if name else 0  # most elements: a class alone
    verdict = CHROME if attrs.get("role") in CHROME_ROLES else 0
    for key in TOKEN_ATTRS:
        value = attrs.get(key)
        if value and (found := _value_verdict(value)) > verdict:
            verdict = found
    return verdict


MAIN_MARK = "data-scraper-main"
LEAD = "\x00lead"  # position hint of an image right under the headline
CHROME_MARK = "data-scraper-chrome"


# The queries of the cleaner (``scraper.find``: compiled where it is built).
_PROTECTING = selector("h1, article, [itemprop=articleBody]")
_PARAGRAPHS = selector("p")
_PARAGRAPH_LINKS = selector("p a")
_HEADLINES = selector("h1")
_FIGURES = selector("figure")
_FIGURE_CAPTIONS = selector("figcaption")
_TABLES = selector("table")
_LAYOUT_INSIDE = selector("table table, h1, h2")
_CAPTION_CLASSED = selector("[class*=aption]")
_IMAGES = selector("img")
_LINKS = selector("a[href]")
_CARD_HEADINGS = selector("h2, h3, h4, h5, h6, [class*=title], [class*=headline]")
_SCRIPTS = selector("script, style, noscript, template")
_HIDDEN = selector("[hidden], [style*='display:none'], [style*='display: none']")
_CODE = selector("pre, code")
_HOLDERS = selector(TOKEN_HOLDERS)
_HEADINGS = selector("h2, h3, h4, h5, h6, [role=heading], b, strong")
_CHROME = selector(f"{CHROME_TAGS}, [{CHROME_MARK}]")


def is_protected(node: LexborNode) -> bool:
    """Whether removing the node could remove the article itself."""
    if node.tag in PROTECTED_TAGS:
        return True
    attributes = node.attributes
    if MAIN_MARK in attributes or attributes.get("itemprop") == "articleBody":
        return True
    return find_first(node, _PROTECTING) is not None


def mark_main_text(body: LexborNode) -> LexborNode | None:
    """Mark the element holding the most paragraphs, and its ancestors, so no
    chrome rule can remove them (class names like "entry-content-read-more" or
    "page-with-sidebar" are common on article wrappers)."""
    in_comments: dict[int, bool] = {}
    # many paragraphs beat one long teaser summary
    totals = [
        (parent, score)
        for parent, score in parent_scores(body, _PARAGRAPHS)
        if not _in_comment_thread(parent, in_comments)
    ]
    if not totals:
        return None
    node, _ = max(totals, key=lambda item: item[1])
    _mark_up(node)
    return node


COMMENT_THREAD_TOKENS = frozenset("comment comments commentlist reply replies disqus".split())


def _in_comment_thread(node: LexborNode, known: dict[int, bool]) -> bool:
    """Whether ``node`` lies in a readers' comment thread (a long reply under a
    short post holds more paragraphs than the post, but is not the article).
    ``known`` holds the answers for elements already seen (by ``mem_id``), which
    answer for their descendants too."""
    chain: list[int] = []
    found = False
    current: LexborNode | None = node
    while current is not None:
        # (a known element is none of the tags that end the climb: read first)
        if (seen := known.get(current.mem_id)) is not None:
            found = seen
            break
        if current.tag in {"body", "html", "article", "main"}:
            break
        chain.append(current.mem_id)
        if not COMMENT_THREAD_TOKENS.isdisjoint(tokens(current)):
            found = True
            break
        current = current.parent
    for key in chain:
        known[key] = found
    return found


def _is_prose(node: LexborNode) -> bool:
    """Several paragraphs of running text, not links: hidden only until a script
    moves it into place (streamed server rendering, "show more" bodies)."""
    paragraphs = find_all(node, _PARAGRAPHS)
    if len(paragraphs) < 3:
        return False
    text = sum(map(text_length, paragraphs))
    links = sum(map(text_length, find_all(node, _PARAGRAPH_LINKS)))
    return text >= 500 and links < 0.3 * text


def _mark_up(node: LexborNode) -> None:
    current: LexborNode | None = node
    while current is not None and current.tag not in {"body", "html"}:
        current.attrs[MAIN_MARK] = "1"
        current = current.parent


def mark_text_majority(body: LexborNode, share: float = 0.5) -> None:
    """Mark the chain of elements that each hold most of the page's text. Pages
    without paragraphs (posts in <br>-separated text, forums, pages wrapped in one
    <form>) need it: a container of most of the text is not chrome, whatever its
    class says."""
    total = text_length(body)
    node, deepest = body, None
    while total >= MIN_ARTICLE_CHARS:
        sized = [(text_length(c), c) for c in node.iter() if c.tag != "-text"]
        size, best = max(sized, key=lambda item: item[0], default=(0, None))
        if best is None or best.tag in SEMANTIC_CHROME or size < share * total:
            break
        node = deepest = best
    if deepest is not None:
        _mark_up(deepest)


INLINE_TAGS = frozenset({"a", "span", "em", "strong", "b", "i", "u", "small", "abbr", "cite", "q"})


def _in_running_text(node: LexborNode) -> bool:
    """An inline element inside a paragraph ("<a class=external-popup>"): its words
    belong to the sentence, whatever its class says."""
    return node.tag in INLINE_TAGS and node.parent is not None and node.parent.tag == "p"


@dataclass
class Harvest:
    """What ``clean_tree`` keeps out of the chrome it removes."""

    captions: list[Caption] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    # The element holding most paragraphs (protected from every rule), if any.
    main: LexborNode | None = None
    # Where each caption and related link was found (``scrape explain``).
    caption_origins: list[str] = field(default_factory=list)
    related_origins: list[str] = field(default_factory=list)

    def add_related(self, links: list[RelatedLink], origin: str) -> None:
        self.related.extend(links)
        self.related_origins.extend(origin for _ in links)


def node_text(node: LexborNode) -> str:
    return normalise_space(node.text(separator=" "))


def split_credit(text: str) -> tuple[str, str | None]:
    """Caption text and its photo credit, e.g. ("Putin", "Stefan Rousseau/PA")."""
    match = _credit_in(text)
    if not match:
        return text, None
    credit = next(g for g in match.groups() if g)
    return text[: match.start()].strip(), _CREDIT_LABEL.sub("", credit.strip()).strip() or None


def _caption_of(node: LexborNode) -> Caption | None:
    credit_node = next(
        (n for n in node.traverse() if n.mem_id != node.mem_id and CREDIT_TOKENS & set(tokens(n))),
        None,
    )
    credit = None
    if credit_node is not None:
        credit = _CREDIT_LABEL.sub("", node_text(credit_node).strip("()[] ")).strip() or None
        credit_node.decompose()
    text = node_text(node)
    if credit is None:
        text, credit = split_credit(text)
    text = text.rstrip(" -–|")
    if not text and not credit:
        return None
    return Caption(text=text, credit=credit)


def _text_before(node: LexborNode) -> str | None:
    """Text of the nearest element before ``node`` in document order; ``LEAD`` when
    that is the headline (the image comes before the first paragraph)."""
    current: LexborNode | None = node
    while current is not None:
        prev = current.prev
        while prev is not None:
            if prev.tag != "-text" and (text := node_text(prev)):
                headline = prev.tag == "h1" or find_first(prev, _HEADLINES) is not None
                return LEAD if headline else text
            prev = prev.prev
        current = current.parent
    return None


def place_captions(captions: list[Caption], paragraphs: list[str]) -> list[Caption]:
    """Captions with ``position`` set from the text they followed in the page."""
    placed = []
    for caption in captions:
        after = caption.position_hint
        position = 0 if after == LEAD else None
        if after and after != LEAD:
            position = next(
                (i + 1 for i, p in enumerate(paragraphs) if after.endswith(p) or p.endswith(after)),
                None,
            )
        placed.append(caption.model_copy(update={"position": position}))
    return placed


def _add_caption(harvest: Harvest, node: LexborNode, anchor: LexborNode, origin: str) -> None:
    caption = _caption_of(node)
    if caption and caption.text not in {c.text for c in harvest.captions}:
        caption.position_hint = _text_before(anchor)
        harvest.captions.append(caption)
        harvest.caption_origins.append(origin)


def _next_element(node: LexborNode) -> LexborNode | None:
    sibling = node.next
    while sibling is not None and sibling.tag == "-text":
        sibling = sibling.next
    return sibling


def _harvest_captions(tree: LexborHTMLParser, harvest: Harvest) -> None:
    """Captions of figures, of caption-classed elements and of short credited text
    right after an image; the figures and captions leave the tree."""
    # one walk for the three: what a figure or caption held leaves the lists with it
    figures, classed, images = find_each(tree.root, (_FIGURES, _CAPTION_CLASSED, _IMAGES))
    removed: set[int] = set()
    for figure in figures:
        if figure.mem_id in removed:  # freed with a figure that held it: not read again
            continue
        if find_first(figure, _TABLES) is not None or figure.parent is None:
            continue
        inside = {n.mem_id for n in figure.traverse()}
        for caption_node in find_all(figure, _FIGURE_CAPTIONS):
            _add_caption(harvest, caption_node, figure, "<figcaption> of a <figure>")
        figure.decompose()
        removed |= inside
    for node in classed:
        if (
            node.mem_id not in removed
            and node.parent is not None
            and not is_protected(node)
            and CAPTION_TOKENS & set(tokens(node))
        ):
            inside = {n.mem_id for n in node.traverse()}
            _add_caption(harvest, node, node, f"caption-classed <{node.tag}>")
            node.decompose()
            removed |= inside
    for img in images:
        if img.mem_id in removed:
            continue
        wrapper = img
        while wrapper.parent is not None and _is_sole_child(wrapper):
            wrapper = wrapper.parent
        sibling = _next_element(wrapper)
        if sibling is None or sibling.tag in {"p", "h1", "h2", "h3"} or is_protected(sibling):
            continue
        text = node_text(sibling)
        if not 10 <= len(text) <= 400:
            continue
        if _credit_in(text):
            _add_caption(harvest, sibling, wrapper, "credited text after an image")
            sibling.decompose()
            continue
        credit = _next_element(sibling)
        credit_text = node_text(credit) if credit is not None else ""
        if credit is not None and len(credit_text) <= 60 and CREDIT_LINE.match(credit_text):
            caption = Caption(text=text, credit=_CREDIT_LABEL.sub("", credit_text).strip())
            caption.position_hint = _text_before(wrapper)
            harvest.captions.append(caption)
            harvest.caption_origins.append("text and a credit line after an image")
            sibling.decompose()
            credit.decompose()


def _is_sole_child(node: LexborNode) -> bool:
    """Whether ``node`` is the only child of its parent that is no text (an element,
    a comment...), as ``iter`` lists them."""
    for step in ("prev", "next"):
        sibling = getattr(node, step)
        while sibling is not None:
            if sibling.tag != "-text":
                return False
            sibling = getattr(sibling, step)
    return True


LAYOUT_TAGS = re.compile(r"<(/?)(?:table|tbody|thead|tfoot|tr|td|th)\b", re.IGNORECASE)


def unwrap_layout_tables(tree: LexborHTMLParser) -> None:
    """Turn tables used for page layout (holding headings, paragraphs or other
    tables) into plain blocks, so they are read as text, not as data."""
    for table in find_all(tree.root, _TABLES):
        if table.parent is None:
            continue
        layout = (
            find_first(table, _LAYOUT_INSIDE) is not None or len(find_all(table, _PARAGRAPHS)) >= 2
        )
        if not layout:
            continue
        outer = table
        while (parent := outer.parent) is not None and parent.tag in {"td", "tr", "tbody", "table"}:
            outer = parent
        if outer.mem_id != table.mem_id:
            continue  # converted with its outermost table
        converted = LAYOUT_TAGS.sub(r"<\1div", outer.html or "")
        blocks = LexborHTMLParser(f"<div>{converted}</div>")
        replacement = blocks.body.child if blocks.body is not None else None
        if replacement is not None:
            outer.replace_with(replacement)


def _card_of(anchor: LexborNode, block: LexborNode) -> LexborNode:
    """The largest ancestor of ``anchor`` inside ``block`` holding no other link target."""
    href = anchor.attributes.get("href")
    card = anchor
    parent = anchor.parent
    while parent is not None and parent.mem_id != block.mem_id:
        if any(a.attributes.get("href") != href for a in find_all(parent, _LINKS)):
            break
        card = parent
        parent = parent.parent
    return card


def _card_title(card: LexborNode, anchor: LexborNode) -> str | None:
    """A card's headline: its heading, a title-classed element, the link text when
    it is headline-sized, or else its first headline-sized text block."""
    heading = find_first(card, _CARD_HEADINGS)
    if heading is not None and 3 <= len((text := node_text(heading)).split()) <= 30:
        return text
    if 3 <= len((text := node_text(anchor)).split()) <= 30:
        return text
    blocks = [
        normalise_space(node.text(deep=False) or "")
        for node in card.traverse()
        if node.tag != "-text"
    ]
    sized = [b for b in blocks if 3 <= len(b.split()) <= 30]
    # source labels ("WHCO Radio 1340") are short: prefer a headline-length block
    return next((b for b in sized if len(b.split()) >= 5), sized[0] if sized else None)


def _related_links(block: LexborNode, base_url: str | None) -> list[RelatedLink]:
    links: list[RelatedLink] = []
    seen: set[str] = set()
    for anchor in find_all(block, _LINKS):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = urljoin(base_url, href) if base_url else href
        if url in seen:
            continue
        card = _card_of(anchor, block)
        title = _card_title(card, anchor)
        if not title:
            continue
        source_node = next(
            (
                n
                for n in card.traverse()
                if n.mem_id != card.mem_id and SOURCE_TOKENS & set(tokens(n))
            ),
            None,
        )
        source = node_text(source_node).lstrip("-–· ") if source_node is not None else None
        seen.add(url)
        links.append(RelatedLink(title=title, url=url, source=source or None))
    return links


def _is_related_heading(node: LexborNode) -> bool:
    text = node_text(node)
    return bool(text) and len(text) < 60 and bool(END_MARKERS.match(text))


def _remove_heading_section(heading: LexborNode, base_url: str | None, harvest: Harvest) -> None:
    """Remove a chrome heading such as "Related Articles" and what follows it in its
    parent (climbing out of wrappers that hold nothing but the heading)."""
    label = node_text(heading)
    while heading.parent is not None and heading.parent.tag not in PROTECTED_TAGS:
        if node_text(heading.parent) != label:
            break
        heading = heading.parent
    node: LexborNode | None = heading
    while node is not None:
        following = node.next
        if node.tag != "-text":
            if is_protected(node):
                break
            harvest.add_related(_related_links(node, base_url), f"a section under {label!r}")
        node.decompose()
        node = following


def _describe(node: LexborNode) -> str:
    """``<div class="related-stories">``: how an element shows in the page source."""
    attrs = " ".join(
        f'{key}="{value}"' for key in ("class", "id") if (value := node.attributes.get(key))
    )
    return f"<{node.tag}{' ' + attrs if attrs else ''}>"


def clean_tree(
    tree: LexborHTMLParser, base_url: str | None = None, verdicts: dict[int, int] | None = None
) -> Harvest:
    """Remove chrome from ``tree`` in place; return the captions and related links.
    ``verdicts``: the verdicts of elements already judged, by ``mem_id`` (the block
    walk judges the same attributes)."""
    verdicts = verdicts or {}
    harvest = Harvest()
    body = tree.body
    if body is None:
        return harvest
    for node in find_all(body, _SCRIPTS):
        node.decompose()
    unwrap_layout_tables(tree)
    main = harvest.main = mark_main_text(body)
    if main is None or (
        len(find_all(main, _PARAGRAPHS)) < 3 and text_length(main) < 0.3 * text_length(body)
    ):
        mark_text_majority(body)  # the text is not in paragraphs
    _harvest_captions(tree, harvest)
    for node in find_all(body, _HIDDEN):
        if not is_protected(node) and not _is_prose(node):
            node.decompose()
    # Syntax highlighting names its spans "comment", "tag", "nav"...: code is text.
    in_code = {n.mem_id for code in find_all(body, _CODE) for n in code.traverse()}
    # lexbor lists an element once per selector it matches, in a row: each is judged
    # once, those the walk judged to be no chrome not at all.
    holders = find_all(body, _HOLDERS, verdicts)
    chrome: list[LexborNode] = []  # removed last (if unprotected), once headings were read
    judged = 0
    for node in holders:
        mem_id = node.mem_id
        if mem_id == judged:
            continue
        judged = mem_id
        verdict = verdicts.get(mem_id)
        if verdict is None:
            verdict = _verdict(node.attributes)
        if not verdict or mem_id in in_code or node.tag in PROTECTED_TAGS:
            continue
        if verdict == RELATED:
            if node.parent is not None and not is_protected(node):
                links = _related_links(node, base_url)
                harvest.add_related(links, f"a related box {_describe(node)}")
                node.decompose()
        elif not _in_running_text(node) and not (verdict == SLOT and _is_prose(node)):
            chrome.append(node)
    # one walk for both, unless a section leaves the tree in between (few pages)
    headings, chrome_tags = find_each(body, (_HEADINGS, _CHROME))
    removed = False
    for heading in headings:
        if heading.parent is not None and _is_related_heading(heading):
            _remove_heading_section(heading, base_url, harvest)
            removed = True
    if removed:
        chrome_tags = find_all(body, _CHROME)
    # In any order the same is left: an element that is not protected holds no h1,
    # article or article body, so removing it leaves every other one as protected.
    for node in (*chrome, *chrome_tags):
        if node.parent is not None and not is_protected(node):
            node.decompose()
    for node in chrome:
        if node.parent is not None:  # left, and marked as it was judged
            node.attrs[CHROME_MARK] = ""
    return harvest


@dataclass
class CleanText:
    lines: list[str]
    captions: list[Caption]


def clean_lines(lines: list[str], min_body_lines: int = 2) -> CleanText:
    """Body lines with the portal template cut off, chrome lines dropped and
    caption lines moved to ``captions``."""
    body: list[str] = []
    captions: list[Caption] = []
    card_title = False
    for raw in lines:
        line = BULLET.sub("", normalise_space(raw))
        if not line:
            continue
        marked = _is_line_mark(line)
        if card_title or (marked and CARD_LABEL.match(line)):
            card_title = not card_title
            continue
        if marked and END_MARKERS.match(line):
            if len(body) >= min_body_lines:
                break
            continue
        if marked and DROP_LINES.match(line):
            continue
        caption = CAPTION_LINE.match(line) if line.endswith(")") else None  # a slow regex
        if caption and not line.endswith((".)", "!)", "?)")):
            captions.append(
                Caption(text=caption["text"], credit=caption["credit"].strip(), position=len(body))
            )
            continue
        body.append(line)
    return CleanText(lines=body, captions=captions)
