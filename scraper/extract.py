"""HTML -> ``Article``: metadata, main text, captions, related links.

Order of work on one page (one selectolax parse, one trafilatura pass):
1. decode the bytes as browsers do (WHATWG: byte-order mark, declared charset,
   ``<meta charset>``), then UTF-8, windows-1252 or detection (``decode_html``);
2. read metadata from JSON-LD, OpenGraph/meta tags and the DOM, and the state
   scripts of app-rendered pages (``embedded``); the site's rules (``rules``) mark
   the elements their selectors match;
3. ``blocks.read_blocks`` cuts the page into text blocks with their features and
   fingerprints, and ``clean.clean_tree`` harvests captions and related cards and
   removes chrome;
4. the block classifier chooses the body (trafilatura reads the cleaned page only
   when the model is unsure of it; the site's learned template leaves out its blocks
   outside the main run; a guard keeps a body from being cut short); then the site's
   rules apply;
5. ``clean.clean_lines`` drops stray chrome lines and moves caption lines out;
6. when the DOM body is missing or much shorter than article text in embedded data,
   that text is the body instead (``embedded``);
7. the record is assembled and normalised to the seed format; the fingerprints of
   the blocks outside the body go back with it, for the run to learn the template.
"""

from __future__ import annotations

import asyncio
import codecs
import gc
import json
import logging
import multiprocessing
import os
import queue
import re
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
import webencodings
from charset_normalizer import from_bytes
from selectolax.lexbor import LexborHTMLParser, LexborNode

from . import attribution, embedded, rules
from .attribution import ARTICLE_TYPES, jsonld_types
from .blocks import BlockModel, Body, PageBlocks, read_blocks, shipped_model
from .clean import (
    clean_lines,
    having_tokens,
    node_text,
    place_captions,
    token_selector,
    with_tokens,
)
from .errors import ExtractError, NotAnArticle, ScrapeError
from .find import find_all, find_each, find_first, selector, text_length
from .models import Article, Caption, FeedOrigin, Fetched, SiteRules, utc_now
from .normalise import canonicalise_url, normalise_date, normalise_space
from .templates import kept_prints, outside_prints

PAGE_TYPES = ARTICLE_TYPES | {"WebPage"}  # what a page without an article says of itself
STANDFIRST_TOKENS = frozenset(
    {"standfirst", "dek", "subheadline", "subhead", "subtitle", "strapline", "deck"}
)
# Also used for promos and leading media, so taken only beside the headline.
LEAD_TOKENS = frozenset({"lead", "lede", "epigraph", "intro"})
STANDFIRST_MAX_CHARS = 600
TITLE_TAIL_CHARS = 80  # a byline and date after the title, at most
MIN_TITLE_CHARS = 25  # a shorter title may well begin a paragraph
# A block of running text, not a form prompt or a promo.
MIN_BLOCK_CHARS = 200
DATE_META = (
    "article:published_time",
    "datePublished",
    "firstPublishedDate",
    "publishdate",
    "publish-date",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "date",
)
DETECT_BYTES = 64_000
NEVER_CUT = sys.maxsize
# trafilatura logs a warning for every page it finds empty; the run report counts those.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
META_BYTES = 4096

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
UTF8 = webencodings.lookup("utf-8")
WINDOWS_1252 = webencodings.lookup("windows-1252")
# What a <meta> declaration of these means (the WHATWG prescan): bytes that parse as
# ASCII markup cannot be UTF-16, and x-user-defined is for XHR, not pages.
META_MEANS = {"utf-16le": UTF8, "utf-16be": UTF8, "x-user-defined": WINDOWS_1252}
# Detection picks among the standard's single-byte and CJK encodings only: never
# UTF-7 or another encoding a browser would not use.
DETECTABLE = sorted(
    {
        encoding.codec_info.name
        for name in set(webencodings.LABELS.values()) - {"replacement", "x-user-defined"}
        if not name.startswith("utf-16") and (encoding := webencodings.lookup(name))
    }
)


def decode_html(body: bytes | str, declared: str | None = None) -> str:
    """Text of an HTML body, as the WHATWG encoding standard (which browsers follow)
    reads it, with fallbacks for bytes that do not match their declaration.

    1. a byte-order mark;
    2. the declared (HTTP header) charset, then a ``<meta>`` one, where UTF-16 means
       UTF-8; labels are looked up in the standard's table, so an unknown label,
       UTF-7 and the "replacement" ones are ignored; the first that decodes wins;
    3. UTF-8; bytes that are mostly UTF-8 stay UTF-8, broken sequences as U+FFFD;
    4. windows-1252 when UTF-8 was declared (Latin-1 text labelled UTF-8);
    5. detection among the standard's encodings; else UTF-8.

    Undecodable bytes become U+FFFD, never an exception."""
    if isinstance(body, str):
        return body
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    declarations = [e for e in (_label(declared), _meta_encoding(body)) if e is not None]
    for encoding in [*declarations, UTF8]:
        if (text := _strict(body, encoding)) is not None:
            return text
    text = body.decode("utf-8", errors="replace")
    if _mostly_utf8(text):
        return text
    utf8_declared = any(e.name == "utf-8" for e in declarations)
    if utf8_declared and (latin := _strict(body, WINDOWS_1252)) is not None:
        return latin
    best = from_bytes(body[:DETECT_BYTES], cp_isolation=DETECTABLE).best()
    return body.decode(best.encoding, errors="replace") if best else text


def _label(label: str | None) -> webencodings.Encoding | None:
    """The encoding a charset label names in the WHATWG table; None for an unknown
    label or a "replacement" one (labels of encodings that smuggle markup)."""
    try:
        encoding = webencodings.lookup(label) if label else None
    except LookupError:  # "replacement", in webencodings before 0.6
        return None
    return encoding if encoding is not None and encoding.name != "replacement" else None


def _meta_encoding(body: bytes) -> webencodings.Encoding | None:
    match = META_CHARSET.search(body[:META_BYTES])
    encoding = _label(match.group(1).decode("ascii")) if match else None
    return META_MEANS.get(encoding.name, encoding) if encoding is not None else None


def _strict(body: bytes, encoding: webencodings.Encoding) -> str | None:
    try:
        text, _ = encoding.codec_info.decode(body)
    except UnicodeDecodeError:
        return None
    return str(text)


def _mostly_utf8(text: str) -> bool:
    """Whether text decoded from UTF-8 with replacement is UTF-8 with a few broken
    bytes: its valid non-ASCII characters outnumber the broken sequences (in text of
    another encoding, almost no byte run is valid UTF-8)."""
    broken = text.count("\ufffd")
    return sum(1 for c in text if c > "\x7f") - broken > broken


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")
_TAG = re.compile(r"<[A-Za-z!/?]")


def looks_like_html(text: str) -> bool:
    """Whether a decoded body is markup rather than binary data or plain text."""
    head = text[:4096]
    return len(_CONTROL.findall(head)) <= len(head) // 100 and bool(_TAG.search(head))


@dataclass
class Meta:
    """Page metadata read before the chrome is removed."""

    title: str | None = None
    standfirst: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    site: str | None = None
    language: str | None = None
    canonical: str | None = None
    jsonld: list[dict[str, Any]] = field(default_factory=list)
    tags: list[attribution.MetaTag] = field(default_factory=list, repr=False)


# The queries of the metadata (``scraper.find``: compiled where it is built).
_JSONLD_SCRIPTS = selector("script[type='application/ld+json']")
_META_TAGS = selector("meta[property], meta[name]")
_ARTICLE_HEADLINE = selector("article h1")
_HEADLINE = selector("h1")
_AUTHORS = selector("[itemprop=author] [itemprop=name], [rel=author]")
_PUBLISHED = selector("[itemprop=datePublished]")
_PUBLISHED_OR_TIME = selector("[itemprop=datePublished], time[datetime]")
_HTML = selector("html")
_CANONICAL = selector("link[rel=canonical]")
# What ``read_meta`` reads of the tree without its standfirst.
_READ_OUTSIDE_STANDFIRST = (_AUTHORS, _PUBLISHED, _PUBLISHED_OR_TIME, _HTML, _CANONICAL)
_NOT_STANDFIRST = selector("h1, img, picture, figure, video, iframe, script")


def _jsonld_objects(scripts: list[LexborNode]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in scripts:
        try:
            data = json.loads(script.text(deep=True) or "null")
        except (json.JSONDecodeError, RecursionError):
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                objects.append(item)
                stack.extend(v for k, v in item.items() if k in {"@graph", "mainEntity"})
    return objects


def _names(value: Any) -> list[str]:
    """Names in a JSON-LD person/organisation value (string, object or list)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        return [name] if isinstance(name, str) else []
    if isinstance(value, list):
        return [n for v in value for n in _names(v)]
    return []


def _meta_tags(nodes: list[LexborNode]) -> list[attribution.MetaTag]:
    """Every ``<meta>`` with a ``property`` or ``name`` (``nodes``), in document order:
    one query for the metadata and the attribution."""
    return [
        (attrs.get("property"), attrs.get("name"), attrs.get("content"))
        for attrs in (node.attributes for node in nodes)
    ]


def _first_contents(tags: list[attribution.MetaTag]) -> dict[str, str | None]:
    """The content of the first ``<meta>`` whose ``property`` or ``name`` is each key
    (one pass, where a query per key would read the whole page for each one missing)."""
    first: dict[str, str | None] = {}
    for prop, name, content in tags:
        for key in (prop, name):
            if key is not None and key not in first:
                first[key] = content
    return first


def _meta(tags: dict[str, str | None], *keys: str) -> str | None:
    for key in keys:
        content = tags.get(key)
        if content and content.strip():
            return normalise_space(content)
    return None


def read_meta(tree: LexborHTMLParser, url: str | None) -> Meta:
    meta = Meta()
    # one walk: what lies in the standfirst is left out once it is known
    found = find_each(
        tree.root,
        (
            _JSONLD_SCRIPTS,
            _META_TAGS,
            _ARTICLE_HEADLINE,
            _HEADLINE,
            token_selector(STANDFIRST_TOKENS),
            *_READ_OUTSIDE_STANDFIRST,
        ),
    )
    scripts, metas, article_h1, h1s, standfirsts = found[:5]
    meta.jsonld = _jsonld_objects(scripts)
    meta.tags = _meta_tags(metas)
    tags = _first_contents(meta.tags)
    article = next((o for o in meta.jsonld if jsonld_types(o) & ARTICLE_TYPES), None)
    article = article or next((o for o in meta.jsonld if jsonld_types(o) & PAGE_TYPES), {})
    h1 = (article_h1[0] if article_h1 else None) or (h1s[0] if h1s else None)
    headline = article.get("headline") if isinstance(article.get("headline"), str) else None
    meta.title = (
        (node_text(h1) if h1 is not None else None)
        or _meta(tags, "og:title", "twitter:title")
        or (normalise_space(headline) if headline else None)
    )
    standfirst = _standfirst(tree, h1, standfirsts)
    outside = found[5:]
    if standfirst is not None:
        meta.standfirst, node = standfirst
        gone = {n.mem_id for n in node.traverse()}
        outside = [[n for n in nodes if n.mem_id not in gone] for nodes in outside]
        node.decompose()
    authors, published, published_or_time, html, canonical_links = outside
    meta.authors = _unique(normalise_space(n) for n in _names(article.get("author")))
    meta.authors = meta.authors or _unique(node_text(n) for n in authors)
    author = _meta(tags, "author", "article:author")
    if not meta.authors and author and not author.startswith("http"):
        meta.authors = [author]
    meta.published = normalise_date(
        _str(article.get("datePublished"))
        or _meta(tags, *DATE_META)
        or _attr(published[0] if published else None, "content")
        or _attr(published_or_time[0] if published_or_time else None, "datetime")
    )
    meta.site = _meta(tags, "og:site_name", "application-name") or _host(url)
    lang = _attr(html[0] if html else None, "lang") or _str(article.get("inLanguage"))
    lang = lang or _meta(tags, "og:locale", "language")
    meta.language = re.split(r"[-_]", lang.strip().lower())[0] if lang else None
    canonical = _attr(canonical_links[0] if canonical_links else None, "href") or _meta(
        tags, "og:url"
    )
    if canonical and url:
        canonical = urljoin(url, canonical)
    if canonical and canonical.startswith(("http://", "https://")):
        meta.canonical = canonicalise_url(canonical)
    return meta


def _standfirst(
    tree: LexborHTMLParser, h1: LexborNode | None, preselected: list[LexborNode]
) -> tuple[str, LexborNode] | None:
    """The text of the first standfirst-classed block (else of the first lead-classed
    block beside the headline), and the block, which is to leave the tree;
    ``preselected``: what ``token_selector(STANDFIRST_TOKENS)`` finds in it."""
    if tree.root is None:
        return None
    candidates = having_tokens(preselected, STANDFIRST_TOKENS)
    if h1 is not None and h1.parent is not None:
        grandparent = h1.parent.parent
        beside = (
            h1.parent if grandparent is None or grandparent.tag in {"body", "html"} else grandparent
        )
        candidates += with_tokens(beside, LEAD_TOKENS)
    for node in candidates:
        # not a headline block, a lead image or video, or an article wrapper
        if find_first(node, _NOT_STANDFIRST) is not None:
            continue
        text = node_text(node)
        if len(text.split()) >= 5 and len(text) <= STANDFIRST_MAX_CHARS:
            return text, node
    return None


def _attr(node: LexborNode | None, name: str) -> str | None:
    value = node.attributes.get(name) if node is not None else None
    return value.strip() if value and value.strip() else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _host(url: str | None) -> str | None:
    host = urlsplit(url).hostname if url else None
    return host.removeprefix("www.") if host else None


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


_PARAGRAPHS = selector("p")
_ANCHORS = selector("a")


def _confident(containers: list[LexborNode], p_total: int, text_total: int) -> bool:
    """Whether ``containers`` hold the article: at least four paragraphs, 80% of the
    page's paragraph text (``p_total``) and a quarter of all its text (else they are a
    box of short items beside an article written without <p>)."""
    inside = [p for container in containers for p in find_all(container, _PARAGRAPHS)]
    if len(inside) < 4 or p_total == 0:
        return False
    if sum(map(text_length, inside)) < 0.8 * p_total:
        return False
    return sum(map(text_length, containers)) >= 0.25 * text_total


def text_containers(tree: LexborHTMLParser, main: LexborNode | None) -> list[LexborNode]:
    """The containers of the article text on a cleaned page, in document order, or
    none when it is not clear: the paragraph container ``main``, or else every block
    of its tag and class (rich-text editors and page builders split an article into
    several). The blocks inside them are a feature of the block classifier."""
    if main is None or main.parent is None or tree.body is None:
        return []
    p_total = sum(map(text_length, find_all(tree.root, _PARAGRAPHS)))
    text_total = text_length(tree.body)
    if _confident([main], p_total, text_total):
        return [main]
    siblings = _same_class_blocks(tree, main)
    return siblings if len(siblings) > 1 and _confident(siblings, p_total, text_total) else []


def _same_class_blocks(tree: LexborHTMLParser, main: LexborNode) -> list[LexborNode]:
    """Outermost blocks with ``main``'s tag and class that hold paragraphs of running
    text (a short or link-heavy one is a form, promo or link box of the same builder)."""
    name = main.attributes.get("class")
    if not name or not name.strip():
        return [main]
    value = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ")
    blocks: list[LexborNode] = []
    taken: set[int] = set()
    for node in tree.css(f'{main.tag or "div"}[class="{value}"]'):
        if _has_ancestor_in(node, taken) or find_first(node, _PARAGRAPHS) is None:
            continue
        size = text_length(node)
        links = sum(map(text_length, find_all(node, _ANCHORS)))
        if node.mem_id == main.mem_id or (size >= MIN_BLOCK_CHARS and links <= 0.3 * size):
            blocks.append(node)
            taken.add(node.mem_id)
    return blocks


def _has_ancestor_in(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


# What trafilatura reads of a page's head: the title and the JSON-LD (a forum thread's
# type, an articleBody its last-resort reading takes). The rest of the head (styles,
# scripts, meta and link tags) is most of the bytes of many pages, and trafilatura
# reads no metadata here (``with_metadata=False``).
READ_HEAD = "title, script"
JSONLD_TYPE = "application/ld+json"


def reading_document(tree: LexborHTMLParser) -> str:
    """The cleaned page as trafilatura is given it: the body, and of the head only what
    trafilatura reads. Its reading is the same as of the whole page (on every corpus
    page) for less work: parsing, copying and pruning the head was up to half of it."""
    body, head = tree.body, tree.head
    if body is None or head is None:
        return tree.html or ""
    kept = "".join(
        node.html or ""
        for node in head.css(READ_HEAD)
        if node.tag == "title" or node.attributes.get("type") == JSONLD_TYPE
    )
    return f"<html><head>{kept}</head>{body.html or ''}</html>"


def main_text(html: str, url: str | None) -> list[str]:
    """Main-text lines of already-cleaned HTML, by trafilatura."""
    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            include_comments=False,
            include_tables=True,
            include_images=False,
            with_metadata=False,
        )
    except Exception as exc:  # trafilatura raises many kinds on hostile markup
        raise ExtractError(f"trafilatura failed: {type(exc).__name__}: {exc}") from exc
    text = getattr(document, "text", None) if document is not None else None
    return text.split("\n") if text else []


@dataclass
class Parsed:
    """A page read up to the choice of its body: the tree (cleaned), its metadata,
    its URL (the canonical one for a saved file), the evidence of who wrote it, and
    its text blocks with their features."""

    tree: LexborHTMLParser
    meta: Meta
    url: str | None
    clues: attribution.Clues
    page: PageBlocks
    states: list[embedded.State] = field(default_factory=list)


def parse_page(text: str, url: str | None, site_rules: SiteRules | None = None) -> Parsed:
    """``text`` (decoded HTML) parsed, its metadata read, cut into blocks and cleaned;
    the same steps for extraction and for training the block model. ``site_rules``
    mark the elements their selectors match."""
    tree = LexborHTMLParser(text)
    meta = read_meta(tree, url)
    # read before cleaning: credit and dateline lines are chrome to the cleaner
    clues = attribution.read_clues(
        tree, meta.jsonld, meta.tags, meta.authors, url, meta.site, meta.canonical
    )
    states = embedded.read_states(tree)  # the cleaner removes scripts
    if meta.canonical and (not url or url.startswith("file:")):
        url = meta.canonical  # a saved page is known by its canonical URL
    marked = rules.mark(tree, site_rules)
    page = read_blocks(tree, url, meta.jsonld, text_containers, marked)
    return Parsed(tree, meta, url, clues, page, states)


@dataclass
class Trace:
    """What ``extract`` decided on the way, for ``scrape explain``."""

    parsed: Parsed | None = None
    body: Body | None = None
    lines: list[str] = field(default_factory=list)  # the body lines attribution read
    reading: embedded.Reading | None = None
    attribution: attribution.Attribution | None = None


def extract(
    html: bytes | str,
    url: str | None = None,
    *,
    encoding: str | None = None,
    fetched_at: datetime | None = None,
    origin: FeedOrigin | None = None,
    model: BlockModel | None = None,
    site_rules: SiteRules | None = None,
    template: frozenset[int] = frozenset(),
    trace: Trace | None = None,
) -> Article:
    """The article in a page (``origin``: the feed item's ``<source>``, if any).
    Raises ``NotAnArticle`` when there is no body text. ``model`` is the block
    classifier (default: the one shipped with the package); ``site_rules`` and
    ``template`` (the learned template's fingerprints) steer it for the page's site;
    ``trace`` receives what was decided on the way."""
    text = decode_html(html, encoding)
    if not text or text.isspace():  # not strip(): it would copy the page
        raise NotAnArticle("empty page")
    if not looks_like_html(text):
        raise NotAnArticle("not HTML (binary or plain text)")
    parsed = parse_page(text, url, site_rules)
    tree, meta, url = parsed.tree, parsed.meta, parsed.url
    harvest = parsed.page.harvest
    model = model or shipped_model()
    # trafilatura reads the cleaned page (chrome and related cards gone)
    body = model.body(parsed.page, lambda: main_text(reading_document(tree), url), template)
    body = rules.steer(parsed.page, body, parsed.page.notes.ruled, site_rules)
    # The model has decided where the body ends (end markers are among its features),
    # so an end-marker line is only dropped here, never a cut.
    lines = clean_lines(body.lines, min_body_lines=NEVER_CUT)
    paragraphs = _without_headings(lines.lines, meta)
    found = embedded.reading(
        parsed.states, parsed.page.jsonld_body, paragraphs, meta.title, _html_reader(model)
    )
    if found is not None:
        lines = clean_lines(found.lines, min_body_lines=NEVER_CUT)
        paragraphs = _without_headings(lines.lines, meta)
    credited = attribution.attribute(parsed.clues, paragraphs, origin)
    if site_rules is not None and site_rules.source:
        credited = attribution.Attribution(
            site_rules.source, "site_rule", None, credited.body, f"the rules of {site_rules.site}"
        )
    if trace is not None:
        trace.parsed, trace.body, trace.lines = parsed, body, paragraphs
        trace.reading, trace.attribution = found, credited
    paragraphs = credited.body
    if not paragraphs:
        raise NotAnArticle("no body text found")
    canonical = meta.canonical or canonicalise_url(url or "")
    article = Article(
        url=url or canonical,
        canonical_url=canonical,
        title=meta.title or paragraphs[0][:120],
        standfirst=meta.standfirst,
        authors=meta.authors,
        published=meta.published,
        site=meta.site,
        source=credited.source,
        source_evidence=credited.evidence,
        source_url=credited.url,
        language=meta.language,
        paragraphs=paragraphs,
        captions=_unique_captions(place_captions(harvest.captions, paragraphs) + lines.captions),
        fetched_at=fetched_at or utc_now(),
        related=harvest.related,
        extraction=found.extraction if found is not None else "dom",
    )
    article._template_prints = outside_prints(parsed.page, body.inside)
    article._template_kept = kept_prints(parsed.page, body.chosen)
    return article


def _without_headings(lines: list[str], meta: Meta) -> list[str]:
    """``lines`` without the title and standfirst (the record has them in their own
    fields), nor a first line that is the title run into a short byline, date or
    site name ("<title> by Ann Lee · AFP · May 20, 2025")."""
    paragraphs = [line for line in lines if line not in {meta.title, meta.standfirst}]
    if paragraphs and title_run_in(paragraphs[0], meta.title):
        return paragraphs[1:]
    return paragraphs


def title_run_in(line: str, title: str | None) -> bool:
    """Whether ``line`` is ``title`` followed by a short tail (a byline, a date, the
    site's name)."""
    return (
        title is not None
        and len(title) >= MIN_TITLE_CHARS
        and line.startswith(title)
        and len(line) - len(title) <= TITLE_TAIL_CHARS
    )


def _unique_captions(captions: list[Caption]) -> list[Caption]:
    """A caption found twice (under its photo and as a caption line) is one caption."""
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for caption in captions:
        if (caption.text, caption.credit) not in seen:
            seen.add((caption.text, caption.credit))
            unique.append(caption)
    return unique


def _html_reader(model: BlockModel) -> Callable[[str], list[str]]:
    """The body lines of HTML found inside embedded data, read like any page."""

    def read(markup: str) -> list[str]:
        page = parse_page(f"<html><body><article>{markup}</article></body></html>", None).page
        return model.body(page).lines

    return read


class ExtractTimeout(ExtractError):
    reason = "extract_timeout"


class _Alarm:
    """SIGALRM after ``seconds``: stops Python code, not C code, and only in the main
    thread (elsewhere there is no limit). ``fired`` says whether it went off: the
    exception it raises can be swallowed (an alarm that lands in a finalizer run by
    the garbage collector), so the page is still failed once ``extract`` returns."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False

    def _on_alarm(self, signum: int, frame: object) -> None:
        self.fired = True
        raise ExtractTimeout("extraction ran past its time limit")

    @contextmanager
    def armed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        previous_hook = sys.unraisablehook

        def quiet(unraisable: Any) -> None:  # the swallowed alarm: no traceback on stderr
            if not isinstance(unraisable.exc_value, ExtractTimeout):
                previous_hook(unraisable)

        sys.unraisablehook = quiet
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            sys.unraisablehook = previous_hook


@contextmanager
def time_limited(timeout: float) -> Iterator[None]:
    """Run the block on one page: stopped after ``timeout`` seconds by SIGALRM when it
    is in Python code, and whatever it raises an ``ExtractError``."""
    alarm = _Alarm(timeout)
    with alarm.armed():
        try:
            yield
        except ExtractError:
            raise
        except RecursionError as exc:
            raise ExtractError("page nesting too deep") from exc
        except Exception as exc:  # a hostile page must never stop a run
            raise ExtractError(f"{type(exc).__name__}: {exc}") from exc
    if alarm.fired:
        raise ExtractTimeout("extraction ran past its time limit")


def extract_page(page: Fetched, timeout: float) -> Article:
    """``extract`` of a fetched page under the time limit (``ExtractPool`` kills a
    worker stuck in C code, where the limit's signal is not seen)."""
    with time_limited(timeout):
        article = extract(
            page.body,
            page.url,
            encoding=page.encoding,
            fetched_at=page.fetched_at,
            origin=page.origin,
            site_rules=page.rules,
            template=page.template,
        )
    return article


Outcome = Article | ScrapeError
Task = Callable[[Fetched, float], Article]

# A worker still busy this long past its page's time limit is killed: the limit is a
# signal, which C code (a parser deep in a hostile page) never sees.
KILL_GRACE = 2.0
# How long a new worker may take to start (the first waits for the forkserver to
# import the extractor, on a machine that may be busy).
START_LIMIT = 120.0
# How often a worker checks its owner is alive where the kernel cannot say (no pidfd).
OWNER_POLL_SECONDS = 1.0
_READY = "ready"


def attempt(task: Task, page: Fetched, timeout: float) -> Outcome:
    """The outcome of ``task`` on ``page``: an article, or the error it raised."""
    try:
        return task(page, timeout)
    except ScrapeError as exc:
        return exc
    except Exception as exc:  # a task that is not extract_page may raise anything
        return ExtractError(f"{type(exc).__name__}: {exc}")


# A young collection once this many more container objects live than before (Python's
# default is 700). A page makes tens of thousands, most of them freed by reference
# counting long before a pass would find them.
YOUNG_OBJECTS = 10_000


def settle_process() -> None:
    """Leave what the process holds so far (modules, the block model) out of the garbage
    collector's full passes, and collect the young objects less often. A full pass walks
    every object the process keeps: about 50 ms with trafilatura, LightGBM and the model
    loaded, once every 60-70 pages (0.8 ms a page on trafeval). A worker settles after
    its first page, once the page has loaded all that extraction needs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def _serve(conn: Connection, owner: int, task: Task) -> None:
    """A worker process: the outcome of each page the pool sends, one at a time, until
    the pool closes the pipe or its process ``owner`` ends."""
    # Ctrl-C and a service stop reach every process of the group; the pool alone
    # stops its workers, once the pages in hand are done.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(owner,), daemon=True).start()
    conn.send(_READY)
    settled = False
    while True:
        try:
            page, timeout = conn.recv()
        except (EOFError, OSError):  # the pool closed the pipe, or its process died
            return
        outcome = attempt(task, page, timeout)
        try:
            conn.send(outcome)
        except OSError:
            return
        except Exception as exc:  # an outcome that cannot be pickled
            conn.send(ExtractError(f"the worker could not send its outcome: {exc}"))
        if not settled:
            settle_process()
            settled = True


def _exit_with(owner: int) -> None:
    """End this worker when the process ``owner`` (which runs the pool) ends, even by
    SIGKILL. The worker's parent is the forkserver, which outlives the owner for as
    long as workers hold its pipe: without this, neither would ever exit."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # the main thread's limit
    try:
        select.select([os.pidfd_open(owner)], [], [])  # readable once it has ended
    except ProcessLookupError:
        pass  # already gone
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): poll
        while _alive(owner):
            time.sleep(OWNER_POLL_SECONDS)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@dataclass
class _Worker:
    """A worker process and the pool's end of its pipe."""

    process: BaseProcess
    conn: Connection

    def stop(self) -> int | None:
        """Kill the process (nothing to do once it has ended); its exit code."""
        self.process.kill()
        self.process.join()
        self.conn.close()
        return self.process.exitcode


@dataclass
class _Slot:
    """Where one worker runs; a new worker takes the place of one that died or was
    killed."""

    worker: _Worker | None = None


class ExtractPool:
    """Extraction in worker processes (trafilatura and lxml are not thread-safe), with a
    time limit that holds.

    ``workers`` processes (0: one per core) each extract one page at a time. A page
    gets ``timeout`` seconds (a signal in the worker); a worker still busy ``grace``
    seconds later is stuck in C code, and is killed and replaced. A worker that dies
    fails its own page only. Workers end with the pool, and with the process that
    runs it, even if that is killed.

    ``in_process=True`` extracts in the calling thread instead, for profiling. Its
    time limit is the signal alone, which C code does not see: no hard limit.

    ``task`` does the work (``extract_page``; tests pass scripted stand-ins). The
    workers import it by name.
    """

    # ``map`` holds this many pages per worker submitted and not yet yielded: pages
    # done wait there for a slower earlier one while the other workers go on.
    WINDOW_PER_WORKER = 16

    def __init__(
        self,
        workers: int = 0,
        timeout: float = 30.0,
        *,
        in_process: bool = False,
        task: Task = extract_page,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 (one per core) or more, not {workers}")
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.in_process = in_process
        self.task = task
        self.grace = KILL_GRACE
        self._threads: ThreadPoolExecutor | None = None
        self._slots: list[_Slot] = []
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing = False

    def __enter__(self) -> ExtractPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers at once (pages still running get an error outcome)."""
        if self._threads is None:
            return
        with self._lock:
            self._closing = True
            for slot in self._slots:
                if slot.worker is not None:
                    slot.worker.process.kill()
        self._threads.shutdown(wait=True, cancel_futures=True)
        for slot in self._slots:
            if slot.worker is not None:
                slot.worker.stop()
        self._threads, self._slots, self._idle = None, [], queue.SimpleQueue()
        self._closing = False

    def submit(self, page: Fetched) -> Future[Outcome]:
        """The future outcome of ``page`` (an error is an outcome, never raised)."""
        if self.in_process:
            done: Future[Outcome] = Future()
            done.set_result(attempt(self.task, page, self.timeout))
            return done
        if self._threads is None:
            # One thread per worker, each waiting on the worker it has taken.
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="extract")
            self._slots = [_Slot() for _ in range(self.workers)]
            for slot in self._slots:
                self._idle.put(slot)
        return self._threads.submit(self._run, page)

    async def extract_async(self, page: Fetched) -> Outcome:
        return await asyncio.wrap_future(self.submit(page))

    def map(self, pages: Iterable[Fetched]) -> Iterator[tuple[Fetched, Outcome]]:
        """Each page with its outcome, in input order, however slowly they are read.
        Pages are submitted as they are read, up to ``WINDOW_PER_WORKER`` per worker
        not yet yielded, so a slow page does not idle the other workers. An error
        reading ``pages`` is raised once the pages read before it are yielded."""
        window: deque[tuple[Fetched, Future[Outcome]]] = deque()
        limit = self.workers * self.WINDOW_PER_WORKER
        todo = iter(pages)
        failure: Exception | None = None
        try:
            while True:
                try:
                    page = next(todo)
                except StopIteration:
                    break
                except Exception as exc:
                    failure = exc
                    break
                window.append((page, self.submit(page)))
                while window and (len(window) >= limit or window[0][1].done()):
                    page, future = window.popleft()
                    yield page, future.result()
            while window:
                page, future = window.popleft()
                yield page, future.result()
        finally:
            for _, future in window:  # the caller stopped reading
                future.cancel()
        if failure is not None:
            raise failure

    def _run(self, page: Fetched) -> Outcome:
        slot = self._idle.get()
        try:
            return self._run_in(slot, page)
        except Exception as exc:  # the pool itself failed: still one outcome per page
            return ExtractError(f"extraction pool: {type(exc).__name__}: {exc}")
        finally:
            self._idle.put(slot)

    def _run_in(self, slot: _Slot, page: Fetched) -> Outcome:
        """Extract ``page`` in the slot's worker (started if there is none), killing
        it once the page is past its time limit and ``grace``."""
        worker = slot.worker
        if worker is None or not worker.process.is_alive():
            if worker is not None:
                slot.worker = None
                worker.stop()  # died while idle, through no fault of this page
            try:
                worker = self._start(slot)
            except ScrapeError as exc:
                return exc
        ready: Sequence[object] = [worker.process.sentinel]
        try:
            worker.conn.send((page, self.timeout))
        except OSError:  # it ended just now
            pass
        else:
            ready = wait([worker.conn, worker.process.sentinel], self.timeout + self.grace)
        if worker.conn in ready:
            try:
                outcome: Outcome = worker.conn.recv()
                return outcome
            except EOFError:
                pass  # ended without an answer
        slot.worker = None
        exit_code = worker.stop()
        if not ready:
            return ExtractTimeout("extraction ran past its time limit (worker killed)")
        if self._closing:
            return ExtractError("extraction stopped: the pool was closed")
        return ExtractError(f"extraction worker crashed (exit code {exit_code})")

    def _start(self, slot: _Slot) -> _Worker:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["scraper.extract"])
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, os.getpid(), self.task),
            name="scrape-extract",
            daemon=True,
        )
        with self._lock:  # ``close`` kills what is in the slots
            if self._closing:
                raise ExtractError("extraction stopped: the pool was closed")
            process.start()
            worker = slot.worker = _Worker(process, ours)
        theirs.close()
        ready = wait([ours, process.sentinel], START_LIMIT)
        try:
            if ours in ready and ours.recv() == _READY:
                return worker
        except EOFError:
            pass
        slot.worker = None
        exit_code = worker.stop()
        raise ExtractError(f"extraction worker did not start (exit code {exit_code})")
