"""Who wrote it: the evidence on a page -> the canonical name of the agency or
partner whose copy it is (``source``), the kind of evidence that decided it and,
when known, the URL of the original.

Evidence is read strongest first, and the first kind that names an organisation
decides (``EVIDENCE_ORDER``): structured data (JSON-LD ``isBasedOn``,
``sourceOrganization``, ``provider``, an ``author`` that is an agency; microdata),
meta tags, a ``rel=canonical`` on an agency's or partner's host, the byline and
``authors``, a dateline ("BERLIN (dpa) -"), credit and attribution lines
("Quelle: dpa", "This article originally appeared on ..."), a provider label, the
feed item's ``<source>``, and the page's own host. A later stage (``dedup``) adds
one more: a copy of a story first seen on an agency's own site.

A value is given only when the evidence names an organisation: one of the list in
``data/agencies.yaml`` (matched by alias, exact-case code or host), or an
organisation that structured data names explicitly. A photo credit
("Friso Gentsch/dpa"), a person, a URL, a section or a button never is one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from selectolax.lexbor import LexborHTMLParser, LexborNode

from .clean import (
    SOURCE_TOKENS,
    KnownTokens,
    compiled,
    having_tokens,
    known_tokens,
    node_text,
    token_selector,
)
from .find import find_all, find_each, find_first, nodes_at, positions, selector
from .models import FeedOrigin
from .normalise import normalise_space

AGENCY_FILE = "agencies.yaml"
EVIDENCE_ORDER = (
    "jsonld",
    "microdata",
    "meta",
    "canonical",
    "byline",
    "dateline",
    "credit_line",
    "provider",
    "feed",
    "site",
)
ORGANISATION_TYPES = frozenset(
    {"Organization", "NewsMediaOrganization", "NewsAgency", "Corporation", "OnlineBusiness"}
)
SOURCE_KEYS = ("isBasedOn", "sourceOrganization", "provider")
# Meta tags that name the original publisher. ``publisher`` and
# ``article:publisher`` usually name the site itself, so they count only when they
# name a listed agency or partner (as do the others, unless they name it outright).
SYNDICATION_META = ("syndication-source", "original-source", "dc.source")
PUBLISHER_META = ("publisher", "article:publisher", "dc.publisher", "cxenseparse:publisher")
BYLINE_TOKENS = frozenset({"byline", "bylines", "author", "authors", "autor", "auteur", "writer"})
# Elements whose text is about an image, never about the article's source.
MEDIA_TOKENS = frozenset(
    {"caption", "figcaption", "credit", "credits", "photo", "image", "img", "media", "gallery"}
)
MEDIA_TAGS = frozenset({"figure", "figcaption", "picture"})
# Boxes about other stories (teasers, related cards): their bylines and source
# labels belong to those stories.
ELSEWHERE_TOKENS = frozenset(
    """teaser teasers card cards related recommended recommendations recirculation promo
    sidebar widget rail trending popular mostread outbrain taboola comments comment
    nav navigation footer more""".split()
)
ELSEWHERE_TAGS = frozenset({"aside", "nav", "footer"})
MAX_BYLINES = 3
MIN_HOST_LABEL = 4
ANCESTORS_CHECKED = 12
MAX_BYLINE_CHARS = 160
MAX_NAME_CHARS = 60
MAX_NAME_WORDS = 6
MAX_CREDIT_CHARS = 220
# Datelines and bylines sit in the first lines; credit lines in the first and last.
LEAD_LINES = 3
TAIL_LINES = 6
DATELINE_CHARS = 120

# Legal suffixes an organisation's name may carry in structured data.
_LEGAL = re.compile(r"(?i)[,\s]+(?:gmbh|ag|ltd\.?|limited|inc\.?|llc|plc|s\.?a\.?|s\.?p\.?a\.?)$")
# Where a byline goes on to its date: "Tom Davies Associated Press Published 11:34 PM".
_DATE_TAIL = re.compile(
    r"(?i)\s*\b(?:published|updated|posted|veröffentlicht|aktualisiert|publié|mis à jour"
    r"|publicado|actualizado|pubblicato|aggiornato)\b.*$"
)
_BY = r"(?:by|von|par|por|di|da|door|av|af|przez|od|от|tekst|text|texte)"
_BY_PREFIX = re.compile(rf"(?i)^\s*{_BY}\b\s*:?\s*")
# "and", "with" and their kin, between a reporter and an agency in a byline.
_JOINERS = re.compile(
    r"(?i)\s*(?:[,;|&+]|\s-\s|\band\b|\bund\b|\bet\b|\by\b|\be\b|\bmit\b|\bwith\b|\bavec\b"
    r"|\bcon\b|\ben\b|\bog\b|\boch\b|\bi\b|\bsowie\b)\s*"
)
_WITH_FILES = re.compile(
    r"(?i)^(?:with|mit|avec|con)\s+(?:files|material|reporting|information|informaci[oó]n"
    r"|informations|agences?|agency)?\s*(?:from|von|der|de|des|of)?\s*(?:the\s+)?(?P<who>.{2,80})$"
)
_DESK = re.compile(
    r"(?i)^(?P<who>(?:\S+\s+){0,3}?\S+?)[\s-]+(?:writer|correspondent|reporter"
    r"|editor|staff|journalist|korrespondent(?:in)?|redakteur(?:in)?|correspondant|corresponsal)s?$"
)
# A credit closing the last paragraph: "... hieß es. (dpa)", "(FR mit dpa)",
# "(KNA 19.11.21)", "(dpa/lno)".
_CLOSING_CREDIT = re.compile(
    r"\((?:[^()]{1,40}?\s(?:mit|with|avec|con|und|and|et|y)\s+)?(?P<who>[^()]{2,30}?)"
    r"(?:[\s,]+\d{1,2}[./]\d{1,2}[./]\d{2,4})?\)\.?$"
)
DATELINE = re.compile(
    r"^(?:[^\W\d_][^()\n]{0,70}?\s?)?\(\s*(?P<who>[^()]{2,40}?)\s*\)\s*[.,]?\s*[-—–:]"
)
# Words without which a line is no credit line: only such lines are looked at closely.
CREDIT_HINTS = (
    "©", "(c)", "copyright", "quelle", "source", "fuente", "fonte", "źródło", "zdroj",
    "forrás", "kilde", "källa", "lähde", "bron", "sursa", "kaynak", "agen", "original",
    "first appeared", "first published", "republished", "provided", "distributed",
    "supplied", "material", "files from",
)  # fmt: skip
_CREDIT_HINT = re.compile("|".join(re.escape(hint) for hint in CREDIT_HINTS))
_INITIALS_CREDIT = re.compile(r"^[a-z]{2,4}(?:/[a-z]{2,4})*/(?P<who>[^\s/]{2,12})$")
# What a text must hold for ``_credit_hint`` to find a hint in it (the compiled walk
# decodes only such texts): an ASCII hint or a run of ASCII letters of another hint,
# in either case, the slash of an editor's initials, or one of a few characters: those
# of the other hints, and each character whose lower case holds one of them or an
# ASCII letter ("İ" is "i" and a dot, the Kelvin sign "k"); a test holds every hint
# and character to it. The letters of accented words ("á", "ä", "ó") are no marks:
# most pages in such a language would hold one.
_HINT_RUNS = ("forr", "lla", "hde")  # of "forrás", "källa" and "lähde"
HINT_WORDS = (*(hint for hint in CREDIT_HINTS if hint.isascii()), *_HINT_RUNS, "/")
HINT_MARKS = "©\u0141\u0142\u0130\u212a"  # "©" and "źródło"'s "ł" (and "Ł")
VIA_DATELINE = re.compile(
    r"^(?:[^\W\d_][\w.'’ -]{0,40}\s)?via\s+(?P<who>[^\s—–-][^—–:]{0,30}?)\s*[—–:-]\s"
)
_CREDIT_PATTERNS = (
    # © dpa-infocom, dpa:250101-99-123456/2; Copyright 2025 The Associated Press.
    re.compile(
        r"(?i)^(?:©|\(c\)|copyright)\s*(?:©\s*)?(?:\d{4}(?:\s*[-–]\s*\d{4})?[,.]?\s*)?"
        r"(?P<who>[^©|]{2,80})$"
    ),
    # Quelle: dpa; Source: Reuters; Fuente: EFE
    re.compile(
        r"(?i)^\(?(?:quelle|quellen|source|sources|fuente|fuentes|fonte|fonti|źródło|zdroj"
        r"|forrás|kilde|källa|lähde|bron|sursa|kaynak|agentur|agency|agence|agencia)\s*:\s*"
        r"(?P<who>[^:]{2,80}?)\)?\.?$"
    ),
    # Mit Material von dpa; With files from The Associated Press
    _WITH_FILES,
    # This article originally appeared on The Conversation; provided by Reuters
    re.compile(
        r"(?i)(?:originally (?:appeared|published|ran)|first (?:appeared|published)"
        r"|(?:is|was) republished|republished (?:here )?(?:with permission )?)\s*"
        r"(?:on|in|at|by|from|with)\s+(?:the\s+(?=website|site))?(?:(?:website|site)\s+(?:of\s+)?)?"
        r"(?P<who>[^.,;:()]{2,80})"
    ),
    re.compile(
        r"(?i)^(?:(?:this )?(?:article|story|content) (?:was |is |has been )?)?(?:provided|distributed|supplied)"
        r"\s+by:?\s+(?:the\s+)?(?P<who>.{2,60}?)\.?$"
    ),
)


# A note that the story ran elsewhere first, whoever it names: chrome, not story.
REPUBLISHED_NOTE = re.compile(
    r"(?i)^(?:this|the above) (?:article|story|post|piece|content) (?:was |is |has been )?"
    r"(?:originally|first|previously) (?:appeared|published|posted|ran)\b.{0,160}$"
)


@dataclass(frozen=True)
class Entry:
    """One agency or partner of the list."""

    name: str
    kind: str
    aliases: tuple[str, ...]
    codes: tuple[str, ...]
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Agencies:
    """The list, indexed for lookups by alias, exact-case code and host."""

    entries: tuple[Entry, ...]
    by_alias: dict[str, Entry]
    by_code: dict[str, Entry]
    by_host: dict[str, Entry]

    def named(self, text: str | None) -> Entry | None:
        """The entry a name denotes (an alias in any case, a code in its own case)."""
        if not text:
            return None
        name = normalise_space(text).strip(" .,:;-–—|·•()[]")
        name = _LEGAL.sub("", name)
        if not name:
            return None
        return self.by_code.get(name) or self.by_alias.get(name.casefold())

    def at_host(self, url_or_host: str | None) -> Entry | None:
        """The entry whose own host (or a subdomain of it) this is."""
        host = _host(url_or_host)
        while host:
            if host in self.by_host:
                return self.by_host[host]
            _, _, host = host.partition(".")
        return None


def load_agencies(text: str) -> Agencies:
    """The list from its YAML text (``data/agencies.yaml``)."""
    entries = tuple(
        Entry(
            name=item["name"],
            kind=item["kind"],
            aliases=tuple(item.get("aliases") or ()),
            codes=tuple(item.get("codes") or ()),
            hosts=tuple(item.get("hosts") or ()),
        )
        for item in yaml.safe_load(text)
    )
    by_alias: dict[str, Entry] = {}
    by_code: dict[str, Entry] = {}
    by_host: dict[str, Entry] = {}
    for entry in entries:
        for alias in (entry.name, *entry.aliases):
            if alias not in entry.codes:
                by_alias.setdefault(alias.casefold(), entry)
        for code in entry.codes:
            by_code.setdefault(code, entry)
        for host in entry.hosts:
            by_host.setdefault(host.lower(), entry)
    return Agencies(entries, by_alias, by_code, by_host)


@cache
def agencies() -> Agencies:
    """The shipped list (package data, read once per process)."""
    text = resources.files("scraper").joinpath("data", AGENCY_FILE).read_text(encoding="utf-8")
    return load_agencies(text)


def _host(url_or_host: str | None) -> str | None:
    if not url_or_host:
        return None
    if "/" in url_or_host or ":" in url_or_host:
        try:
            host = urlsplit(url_or_host).hostname
        except ValueError:
            return None
    else:
        host = url_or_host
    return host.lower().removeprefix("www.") if host else None


@dataclass(frozen=True)
class Attribution:
    """Who wrote the text, how we know, and the body without attribution lines."""

    source: str | None = None
    evidence: str | None = None
    url: str | None = None
    body: list[str] = field(default_factory=list)
    clue: str | None = None  # the text that named it, for ``scrape explain``


@dataclass
class Clues:
    """What a page says about its source, read from the tree before it is cleaned
    (the body lines come later, from the extractor)."""

    url: str | None = None
    site: str | None = None
    publisher: str | None = None
    canonical: str | None = None
    structured: list[tuple[str, str | None]] = field(default_factory=list)  # (name, url)
    based_on: str | None = None  # the URL of the work a copy is based on
    agency_authors: list[str] = field(default_factory=list)
    microdata: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    bylines: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    # Text leaves outside images, captions and the body: credit lines the cleaner removes.
    page_lines: list[str] = field(default_factory=list)


# JSON-LD types of an article (a page may also describe itself as a WebPage)
ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "BlogPosting",
        "OpinionNewsArticle",
        "LiveBlogPosting",
        "Report",
        "BackgroundNewsArticle",
    }
)


MetaTag = tuple[str | None, str | None, str | None]  # a <meta>'s property, name, content


def jsonld_types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    return {value} if isinstance(value, str) else {v for v in value or [] if isinstance(v, str)}


def _organisations(value: Any, depth: int = 0) -> Iterator[tuple[str, str | None]]:
    """(name, url) of what a JSON-LD source value names: a string, an organisation,
    a work (its publisher or author), or a list of them."""
    if depth > 3:
        return
    if isinstance(value, str):
        yield (value, None) if not _is_url(value) else ("", value)
    elif isinstance(value, list):
        for item in value:
            yield from _organisations(item, depth + 1)
    elif isinstance(value, dict):
        name, url = value.get("name"), value.get("url") or value.get("@id")
        url = url if isinstance(url, str) and _is_url(url) else None
        if isinstance(name, str) and name.strip():
            yield name, url
        else:
            for key in ("publisher", "sourceOrganization", "author"):
                if key in value:
                    inner = list(_organisations(value[key], depth + 1))
                    yield from ((n, u or url) for n, u in inner)
                    return
            if url:
                yield "", url


def _is_url(text: str) -> bool:
    return bool(re.match(r"(?i)^(?:https?:)?//|^www\.", text.strip()))


# The queries of the clues (``scraper.find``: compiled where it is built).
_SOURCE_ORGANISATIONS = selector("[itemprop=sourceOrganization] [itemprop=name]")
_MARKED_AUTHORS = selector("[rel=author], [itemprop=author]")
# The elements whose text is read for credit lines, when they hold nothing else.
CREDIT_TAGS = ("p", "div", "span", "small", "footer", "em", "i", "strong", "b")
_LINE_HOLDERS = selector(", ".join(CREDIT_TAGS))
_IMAGES_WITH_ALT = selector("img[alt]")


def read_clues(
    tree: LexborHTMLParser,
    jsonld: list[dict[str, Any]],
    meta_tags: Sequence[MetaTag],
    authors: list[str],
    url: str | None,
    site: str | None,
    canonical: str | None,
) -> Clues:
    """The source evidence of a parsed page (call before the tree is cleaned);
    ``meta_tags``: the page's ``<meta>`` tags, as ``extract`` read them."""
    clues = Clues(url=url, site=site, canonical=canonical, authors=list(authors))
    articles = [o for o in jsonld if jsonld_types(o) & ARTICLE_TYPES] or jsonld[:1]
    for article in articles:
        publisher = [n for n, _ in _organisations(article.get("publisher")) if n]
        clues.publisher = clues.publisher or (publisher[0] if publisher else None)
        for key in SOURCE_KEYS:
            clues.structured.extend(_organisations(article.get(key)))
        based_on = article.get("isBasedOn")
        if isinstance(based_on, dict):
            based_on = based_on.get("url") or based_on.get("@id")
        if isinstance(based_on, str) and _is_url(based_on):
            clues.based_on = clues.based_on or based_on.strip()
        for author in _as_list(article.get("author")):
            if isinstance(author, dict) and jsonld_types(author) & ORGANISATION_TYPES:
                name = author.get("name")
                if isinstance(name, str):
                    clues.agency_authors.append(name)
    # the <meta> names are among the names: one walk of the page finds both
    names = find_all(tree.root, _SOURCE_ORGANISATIONS)
    clues.microdata = [node_text(n) for n in names] + [
        value for n in names if n.tag == "meta" if (value := n.attributes.get("content"))
    ]
    for prop, name, content in meta_tags:
        key = (name or prop or "").lower()
        if key in SYNDICATION_META + PUBLISHER_META and content and content.strip():
            clues.meta.setdefault(key, normalise_space(content))
    root = tree.body
    if root is None:
        return clues
    known: KnownTokens = {}  # of the elements looked at, which share ancestors
    # one walk for the three queries (nothing below changes the tree)
    bylines, marked, sources = find_each(
        root, (token_selector(BYLINE_TOKENS), _MARKED_AUTHORS, token_selector(SOURCE_TOKENS))
    )
    bylines = having_tokens(bylines, BYLINE_TOKENS, known)
    if marked:
        order = positions(root, {n.mem_id for n in bylines + marked})
        bylines = sorted(bylines + marked, key=lambda n: order.get(n.mem_id, 0))
    for node in bylines:
        text = _DATE_TAIL.sub("", node_text(node))
        if 1 < len(text) <= MAX_BYLINE_CHARS and _about_this_story(node, known):
            clues.bylines.append(text)
    clues.bylines = list(dict.fromkeys(clues.bylines))[:MAX_BYLINES]
    for node in having_tokens(sources, SOURCE_TOKENS, known):
        text = node_text(node) or _alt(node)
        if 1 < len(text) <= MAX_NAME_CHARS and _about_this_story(node, known):
            clues.providers.append(text)
    clues.page_lines = credit_lines(root, known)
    return clues


_text_lines = compiled("text_lines")


def credit_lines(root: LexborNode, known: KnownTokens | None = None) -> list[str]:
    """The short texts of elements that hold only text and hint at a credit, and are
    not about an image; the compiled walk reads the texts where it is built, and nodes
    are made only for the elements whose text hints at a credit. ``known``: tokens
    of elements already read (by ``mem_id``)."""
    known = {} if known is None else known
    if _text_lines is None:
        return python_credit_lines(root, known)
    limit = MAX_CREDIT_CHARS * 2
    texts = _text_lines(root, CREDIT_TAGS, _TEXT_CHILDREN, limit, HINT_WORDS, HINT_MARKS)
    hits = [(i, t) for i, t in texts if _credit_hint(t)]
    if not hits:
        return []
    nodes = nodes_at(root, {i for i, _ in hits})
    if nodes is None:
        return python_credit_lines(root, known)
    return [
        line
        for i, text in hits
        if not _about_media(nodes[i], known)
        if len(line := normalise_space(text)) <= MAX_CREDIT_CHARS
    ]


def python_credit_lines(root: LexborNode, known: KnownTokens | None = None) -> list[str]:
    """``credit_lines`` through selectolax's nodes."""
    known = {} if known is None else known
    return [
        text
        for node in find_all(root, _LINE_HOLDERS)
        if node.child is None or _only_text(node)
        if (text := node.text(deep=True, separator=" ")) and len(text) <= MAX_CREDIT_CHARS * 2
        if _credit_hint(text) and not _about_media(node, known)
        if len(text := normalise_space(text)) <= MAX_CREDIT_CHARS
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _alt(node: LexborNode) -> str:
    image = find_first(node, _IMAGES_WITH_ALT)
    alt = image.attributes.get("alt") if image is not None else None
    return re.sub(r"(?i)\s+logo$", "", normalise_space(alt)) if alt else ""


_TEXT_CHILDREN = frozenset({"-text", "a", "b", "i", "em", "strong", "span", "br"})


def _only_text(node: LexborNode) -> bool:
    """Whether every child of ``node`` is text or inline markup without blocks."""
    return all(c.tag in _TEXT_CHILDREN for c in node.iter())


def _about_this_story(node: LexborNode, known: KnownTokens) -> bool:
    """Whether ``node`` is about the article itself: not about an image, nor inside a
    box about other stories."""
    return not _about_media(node, known) and _about_this(node, known)


def _about_this(node: LexborNode, known: KnownTokens) -> bool:
    """Whether ``node`` is not inside a box about other stories (a teaser, a related
    card, a sidebar)."""
    current: LexborNode | None = node
    for _ in range(ANCESTORS_CHECKED):
        if current is None or current.tag in {"body", "html"}:
            return True
        if current.tag in ELSEWHERE_TAGS or not ELSEWHERE_TOKENS.isdisjoint(
            known_tokens(current, known)
        ):
            return False
        current = current.parent
    return True


def _about_media(node: LexborNode, known: KnownTokens) -> bool:
    """Whether ``node`` is (inside) an image, a figure or a caption."""
    current: LexborNode | None = node
    for _ in range(8):
        if current is None:
            return False
        if current.tag in MEDIA_TAGS:
            return True
        if not MEDIA_TOKENS.isdisjoint(known_tokens(current, known)):
            return True
        current = current.parent
    return False


def _agency_list(text: str) -> Entry | None:
    """The first agency of a list such as "dpa/AFP", "AFP, Reuters" or "dpa/lno"
    (a regional service code after the slash); None when a part is not an
    agency, as in the photo credit "Friso Gentsch/dpa"."""
    parts = [p.strip() for p in re.split(r"\s*[/,]\s*", text) if p.strip()]
    while len(parts) > 1 and re.fullmatch(r"[a-z]{2,4}", parts[0]):
        parts = parts[1:]  # an editor's initials: "det/dpa"
    if not parts:
        return None
    first = agencies().named(parts[0])
    if first is None:
        return None
    for part in parts[1:]:
        if agencies().named(part) is None and not re.fullmatch(r"[a-z]{2,4}", part):
            return None
    return first


def agency_in_byline(text: str) -> Entry | None:
    """The agency a byline names: "Associated Press", "Von Felix Schröder, dpa",
    "Le Figaro et AFP", "By KEVIN MARLOWE Associated Press", "With files from The
    Associated Press"; None for a byline of people only."""
    text = normalise_space(text)
    if not text or len(text) > MAX_BYLINE_CHARS:
        return None
    names = agencies()
    with_files = _WITH_FILES.match(text)
    if with_files and (entry := _agency_list(with_files["who"])):
        return entry
    text = _BY_PREFIX.sub("", text)
    for part in _JOINERS.split(text):
        part = part.strip(" ()[]")
        if not part:
            continue
        if entry := _agency_list(part) or names.named(part) or _agency_desk(part):
            return entry
        if entry := _trailing_alias(part):
            return entry
    return None


def _agency_desk(part: str) -> Entry | None:
    """An agency named with a reporter's desk: "AP Auto Writer", "Reuters
    correspondent", "dpa-Korrespondent"."""
    match = _DESK.match(part)
    words = match["who"].split() if match else []
    return _first(agencies().named(" ".join(words[:n])) for n in range(1, min(3, len(words)) + 1))


def _trailing_alias(part: str) -> Entry | None:
    """An agency's long name ending a reporter's byline ("KEVIN MARLOWE Associated
    Press"); short codes never count this way."""
    words = part.split()
    for size in range(min(4, len(words) - 1), 0, -1):
        tail = " ".join(words[-size:])
        entry = agencies().by_alias.get(tail.casefold().strip(" .,"))
        if entry is not None and len(tail) >= 5 and tail != tail.lower():
            return entry
    return None


def agency_in_dateline(line: str) -> Entry | None:
    """The agency of a dateline: "BERLIN (dpa) -", "WASHINGTON (AP) —",
    "(Reuters) -", "Madrid, 12 ene (EFE).-", "KVELLER via JTA —"."""
    match = DATELINE.match(line[:DATELINE_CHARS]) or VIA_DATELINE.match(line[:DATELINE_CHARS])
    return _agency_list(match["who"]) if match else None


def agency_in_credit(line: str) -> Entry | None:
    """The agency or partner a credit line names: "© dpa-infocom, dpa:250101-...",
    "Quelle: dpa", "Mit Material von dpa", "This article originally appeared on The
    Conversation", "provided by Reuters"; None for a photo credit."""
    line = normalise_space(line)
    if len(line) > MAX_CREDIT_CHARS:
        return None
    for pattern in _CREDIT_PATTERNS:
        match = pattern.search(line)
        if match and (entry := _leading_name(match["who"])):
            return entry
    return None


def _leading_name(text: str) -> Entry | None:
    """The agency or partner named at the start of ``text``, longest name first:
    "The Conversation under a Creative Commons license" -> The Conversation."""
    if entry := _agency_list(text.strip(" .")):
        return entry
    words = re.split(r"\s+", text.strip())
    for size in range(min(MAX_NAME_WORDS, len(words)), 0, -1):
        if entry := agencies().named(" ".join(words[:size])):
            return entry
    return None


def agency_closing(line: str) -> Entry | None:
    """The agency credited in parentheses at the very end of a paragraph."""
    match = _CLOSING_CREDIT.search(line[-80:])
    return _agency_list(match["who"]) if match else None


def _credit_hint(text: str) -> bool:
    return bool(_CREDIT_HINT.search(text.lower()) or _INITIALS_CREDIT.match(text.strip()))


def _initials_credit(line: str) -> Entry | None:
    """An editor's initials and the agency, closing a story: "aja/PAP", "det/dpa"."""
    match = _INITIALS_CREDIT.match(line)
    return _agency_list(match["who"]) if match else None


def agency_alone(line: str) -> Entry | None:
    """A line that is only an agency's name or code, as some papers end a wire story:
    "dpa", "(AFP)", "— AP", "dpa/AFP"."""
    line = normalise_space(line).strip(" ()[]-–—*.")
    return _agency_list(line) if 1 < len(line) <= MAX_NAME_CHARS else None


def _structured_name(name: str, clues: Clues) -> str | None:
    """An organisation named in structured data: a listed one's canonical name, or
    the name as given when it looks like a name and is not the site itself."""
    entry = agencies().named(name)
    if entry is not None:
        return entry.name
    name = normalise_space(name).strip(" .,:;-–—|")
    if not (1 < len(name) <= MAX_NAME_CHARS) or len(name.split()) > MAX_NAME_WORDS:
        return None
    if _is_url(name) or re.search(r"[|/@]|\.[a-z]{2,4}$|\d{3,}", name):
        return None
    return None if _names_the_site(name, clues) else name


def _squashed(text: str) -> str:
    """Letters and digits only, accents dropped, lower case: "La Vie des idées" and
    "laviedesidees" agree."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def _names_the_site(name: str, clues: Clues) -> bool:
    """Whether an organisation name is the site's own: its name, its publisher, or
    a name holding its host's main label ("FOXBusiness" on foxbusiness.com)."""
    squashed = _squashed(name)
    own = [_squashed(v) for v in (clues.site, clues.publisher) if v]
    if squashed in own:
        return True
    hosts = {h for h in (_host(clues.url), _host(clues.canonical)) if h}
    labels = {_squashed(part) for h in hosts for part in h.split(".")[:-1]}
    return any(len(label) >= MIN_HOST_LABEL and label in squashed for label in labels) or any(
        len(squashed) >= MIN_HOST_LABEL and squashed in label for label in labels
    )


def _from_structured(clues: Clues) -> tuple[str, str | None] | None:
    for name, url in clues.structured:
        if name and (found := _structured_name(name, clues)):
            return found, clues.based_on or url
        if not name and url and (entry := agencies().at_host(url)):
            return entry.name, url
    for name in clues.agency_authors:
        if entry := agencies().named(name):
            return entry.name, None
    return None


def _from_meta(clues: Clues) -> str | None:
    names = agencies()
    for key in SYNDICATION_META:
        value = clues.meta.get(key)
        if value and (entry := names.named(value) or names.at_host(value)):
            return entry.name
        if value and (found := _structured_name(value, clues)):
            return found
    for key in PUBLISHER_META:
        value = clues.meta.get(key)
        if value and (entry := names.named(value)):
            return entry.name
    return None


def _first(entries: Iterable[Entry | None]) -> Entry | None:
    return next((e for e in entries if e is not None), None)


def attribute(clues: Clues, body: list[str], feed: FeedOrigin | None = None) -> Attribution:
    """The source of a page from its clues and body lines, strongest evidence first;
    the body comes back without its attribution lines (bylines and credit lines)."""
    names = agencies()
    kept = _without_attribution_lines(body)
    kept_lines = set(kept)
    removed = [line for line in body if line not in kept_lines]
    lead = body[:LEAD_LINES]

    def decide() -> tuple[str, str, str | None, str | None] | None:
        if found := _from_structured(clues):
            return found[0], "jsonld", found[1], found[0]
        if clue := _first_named(clues.microdata, names.named):
            return clue[0].name, "microdata", None, clue[1]
        if name := _from_meta(clues):
            return name, "meta", None, name
        if _points_away(clues) and (entry := names.at_host(clues.canonical)):
            return entry.name, "canonical", clues.canonical, clues.canonical
        bylines = [*clues.authors, *clues.bylines, *removed_bylines(removed)]
        if clue := _first_named(bylines, agency_in_byline):
            return clue[0].name, "byline", None, clue[1]
        if clue := _first_named(lead, agency_in_dateline):
            return clue[0].name, "dateline", None, clue[1]
        credit_lines = [*removed, *body[:LEAD_LINES], *body[-TAIL_LINES:], *clues.page_lines]
        for lines, find in (
            (credit_lines, agency_in_credit),
            (body[-2:], agency_alone),
            (list(reversed(body[-TAIL_LINES:])), agency_closing),
            (clues.page_lines, _initials_credit),
        ):
            if clue := _first_named(lines, find):
                return clue[0].name, "credit_line", None, clue[1]
        if clue := _first_named(clues.providers, names.named):
            return clue[0].name, "provider", None, clue[1]
        if feed is not None and (fed := _from_feed(feed, clues)):
            return (
                fed,
                "feed",
                None,
                feed.name or feed.url,
            )  # its url is the feed's, not the original's
        for where in (clues.url, clues.canonical):
            if entry := names.at_host(where):
                return entry.name, "site", None, where
        return None

    decided = decide()
    if decided is None:
        return Attribution(body=kept)
    source, evidence, url, clue = decided
    if url:
        url = urljoin(clues.url or "", url) if not url.startswith("http") else url
    return Attribution(source=source, evidence=evidence, url=url, body=kept, clue=clue)


def _first_named(
    texts: Iterable[str | None], find: Callable[[str], Entry | None]
) -> tuple[Entry, str] | None:
    """The first text that names an organisation, with the organisation."""
    for text in texts:
        if text and (entry := find(text)) is not None:
            return entry, text
    return None


def removed_bylines(lines: list[str]) -> list[str]:
    return [line for line in lines if _BY_PREFIX.match(line)]


def _from_feed(feed: FeedOrigin, clues: Clues) -> str | None:
    names = agencies()
    entry = names.named(feed.name) or names.at_host(feed.url)
    if entry is not None:
        return entry.name
    return _structured_name(feed.name, clues) if feed.name else None


def _without_attribution_lines(body: list[str]) -> list[str]:
    """The body without the lines that only say who wrote it: a byline naming an
    agency among the first lines, a credit line, or an agency's name alone at the end
    ("Von Felix Schröder, dpa", "Mit Material von dpa", "This article originally
    appeared on ...", "(AFP)")."""
    drop = {i for i, line in enumerate(body) if _attribution_line(i, line, len(body))}
    if len(drop) >= len(body):
        return list(body)
    return [line for i, line in enumerate(body) if i not in drop]


def _attribution_line(i: int, line: str, count: int) -> bool:
    near_start, near_end = i < LEAD_LINES, i >= count - TAIL_LINES
    if not (near_start or near_end) or len(line) > MAX_CREDIT_CHARS:
        return False
    if near_start and _BY_PREFIX.match(line) and agency_in_byline(line):
        return True
    if near_end and REPUBLISHED_NOTE.match(line):
        return True
    return _credit_only(line) or (i >= count - 2 and agency_alone(line) is not None)


def _points_away(clues: Clues) -> bool:
    """Whether the canonical link names another host than the page's own."""
    canonical_host, page_host = _host(clues.canonical), _host(clues.url)
    return bool(canonical_host and page_host and canonical_host != page_host)


def _credit_only(line: str) -> bool:
    """Whether a line is a credit line and nothing else (not a sentence of the story
    that happens to quote one)."""
    if agency_in_credit(line) is None:
        return False
    return len(line) <= MAX_CREDIT_CHARS and not re.search(r"[.!?]\s+\S.*[.!?]", line)
