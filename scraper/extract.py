"""HTML -> ``Article``: metadata, main text, captions, related links.

Order of work on one page (one selectolax parse):
1. decode the bytes (declared charset, ``<meta charset>``, UTF-8, detection);
2. read metadata from JSON-LD, OpenGraph/meta tags and the DOM;
3. ``blocks.read_blocks`` cuts the page into text blocks with their features, and
   ``clean.clean_tree`` harvests captions and related cards and removes chrome;
4. the block classifier chooses the body (trafilatura reads the cleaned page only
   when the model is unsure of it; a guard keeps a body from being cut short);
5. ``clean.clean_lines`` drops stray chrome lines and moves caption lines out;
6. the record is assembled and normalised to the seed format.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
from charset_normalizer import from_bytes
from selectolax.lexbor import LexborHTMLParser, LexborNode

from .blocks import BlockModel, PageBlocks, read_blocks, shipped_model
from .clean import (
    SOURCE_TOKENS,
    clean_lines,
    node_text,
    place_captions,
    with_tokens,
)
from .errors import ExtractError, NotAnArticle, ScrapeError
from .models import Article, Fetched, utc_now
from .normalise import canonicalise_url, normalise_date, normalise_space

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
        "WebPage",
    }
)
STANDFIRST_TOKENS = frozenset(
    {"standfirst", "dek", "subheadline", "subhead", "subtitle", "strapline", "deck"}
)
# Also used for promos and leading media, so taken only beside the headline.
LEAD_TOKENS = frozenset({"lead", "lede", "epigraph", "intro"})
STANDFIRST_MAX_CHARS = 600
# A block of running text, not a form prompt or a promo.
MIN_BLOCK_CHARS = 200
AGENCIES = {
    "ap": "AP",
    "associated press": "AP",
    "the associated press": "AP",
    "pa": "PA Media",
    "pa media": "PA Media",
    "pa news": "PA Media",
    "pa wire": "PA Media",
    "press association": "PA Media",
    "the press association": "PA Media",
    "reuters": "Reuters",
    "thomson reuters": "Reuters",
    "afp": "AFP",
    "agence france-presse": "AFP",
    "agence france presse": "AFP",
}
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
SOURCE_PATTERNS = [
    re.compile(r"\((AP|Reuters|AFP|PA)\)\s*[—–-]"),
    re.compile(r"(?i)copyright \d{4},? (the associated press|reuters|afp|pa media)"),
    re.compile(r"(?i)\bprovided by:?\s+([A-Z][\w&'. -]{1,50}?)\s*$"),
    re.compile(
        r"(?i)(?:originally (?:published|appeared) (?:on|in|by)|first appeared (?:on|in))"
        r"\s+(?:the\s+)?([A-Z][\w&'. -]{1,50}?)[.,]?$"
    ),
    re.compile(r"(?i)^by .{2,60}?,\s*(associated press|reuters|afp|press association|pa media)$"),
]


def _one_line(pattern: re.Pattern[str]) -> str:
    """``pattern`` for use on joined lines: never across a line break, flags scoped."""
    source = pattern.pattern.replace(r"\s", r"[^\S\n]")
    return f"(?i:{source[4:]})" if source.startswith("(?i)") else f"(?:{source})"


# Finds the first line any source pattern matches in one search over joined lines.
ANY_SOURCE = re.compile("|".join(map(_one_line, SOURCE_PATTERNS)), re.MULTILINE)
DETECT_BYTES = 64_000
NEVER_CUT = sys.maxsize
# trafilatura logs a warning for every page it finds empty; the run report counts those.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_html(body: bytes | str, declared: str | None = None) -> str:
    """Text of an HTML body: a byte-order mark, then the declared (HTTP header)
    charset, then <meta charset>, then UTF-8, then detection. Undecodable bytes
    become U+FFFD, never an exception."""
    if isinstance(body, str):
        return body
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    candidates = [declared] if declared else []
    meta = META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii"))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(_codec(encoding))
        except (LookupError, UnicodeDecodeError):
            continue
    text = body.decode("utf-8", errors="replace")
    if text.count("\ufffd") <= len(text) // 1000:
        return text  # UTF-8 with a few broken bytes
    best = from_bytes(body[:DETECT_BYTES]).best()
    return body.decode(best.encoding, errors="replace") if best else text


def _codec(name: str) -> str:
    name = name.strip().lower()
    # WHATWG: pages labelled latin-1 are really windows-1252.
    return "cp1252" if name in {"iso-8859-1", "latin-1", "latin1", "ascii", "us-ascii"} else name


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
    source: str | None = None
    language: str | None = None
    canonical: str | None = None
    jsonld: list[dict[str, Any]] = field(default_factory=list)


def _jsonld_objects(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in tree.css("script[type='application/ld+json']"):
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


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    return {value} if isinstance(value, str) else {v for v in value or [] if isinstance(v, str)}


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


def _meta(tree: LexborHTMLParser, *keys: str) -> str | None:
    for key in keys:
        node = tree.css_first(f"meta[property='{key}'], meta[name='{key}']")
        content = node.attributes.get("content") if node is not None else None
        if content and content.strip():
            return normalise_space(content)
    return None


def agency(name: str) -> str:
    """The usual name of a news agency, or the name itself, tidied."""
    name = normalise_space(name).strip(" .,:;-–—|")
    name = re.sub(r"(?i)^(?:provided by|source|via|from|by)\s*:?\s+", "", name)
    return AGENCIES.get(name.lower(), name)


def _source_in_dom(tree: LexborHTMLParser) -> str | None:
    root = tree.css_first("article") or tree.body
    if root is None:
        return None
    for node in with_tokens(root, SOURCE_TOKENS):
        text = node_text(node) or _attr(node, "alt") or _attr(node, "aria-label") or ""
        if 1 < len(text) <= 60:
            return agency(text)
    return None


def _source_in_text(lines: list[str]) -> str | None:
    joined = "\n".join(lines)
    first = ANY_SOURCE.search(joined)
    if first is None:
        return None
    for line in lines[joined.count("\n", 0, first.start()) :]:
        for pattern in SOURCE_PATTERNS:
            match = pattern.search(line)
            if match:
                return agency(match.group(1))
    return None


def read_meta(tree: LexborHTMLParser, url: str | None) -> Meta:
    meta = Meta()
    meta.jsonld = _jsonld_objects(tree)
    article = next((o for o in meta.jsonld if _types(o) & ARTICLE_TYPES - {"WebPage"}), None)
    article = article or next((o for o in meta.jsonld if _types(o) & ARTICLE_TYPES), {})
    h1 = tree.css_first("article h1") or tree.css_first("h1")
    headline = article.get("headline") if isinstance(article.get("headline"), str) else None
    meta.title = (
        (node_text(h1) if h1 is not None else None)
        or _meta(tree, "og:title", "twitter:title")
        or (normalise_space(headline) if headline else None)
    )
    meta.standfirst = _standfirst(tree, h1)
    meta.authors = _unique(normalise_space(n) for n in _names(article.get("author")))
    meta.authors = meta.authors or _unique(
        node_text(n) for n in tree.css("[itemprop=author] [itemprop=name], [rel=author]")
    )
    author = _meta(tree, "author", "article:author")
    if not meta.authors and author and not author.startswith("http"):
        meta.authors = [author]
    meta.published = normalise_date(
        _str(article.get("datePublished"))
        or _meta(tree, *DATE_META)
        or _attr(tree.css_first("[itemprop=datePublished]"), "content")
        or _attr(tree.css_first("[itemprop=datePublished], time[datetime]"), "datetime")
    )
    meta.site = _meta(tree, "og:site_name", "application-name") or _host(url)
    for key in ("sourceOrganization", "provider", "isBasedOn"):
        value = article.get(key)
        names = _names(value) or _names(value.get("publisher")) if isinstance(value, dict) else []
        if names:
            meta.source = agency(names[0])
            break
    micro = tree.css_first("[itemprop=sourceOrganization] [itemprop=name]")
    meta.source = meta.source or (agency(node_text(micro)) if micro is not None else None)
    meta.source = meta.source or _meta(tree, "syndication-source", "original-source")
    lang = _attr(tree.css_first("html"), "lang") or _str(article.get("inLanguage"))
    lang = lang or _meta(tree, "og:locale", "language")
    meta.language = re.split(r"[-_]", lang.strip().lower())[0] if lang else None
    canonical = _attr(tree.css_first("link[rel=canonical]"), "href") or _meta(tree, "og:url")
    if canonical and url:
        canonical = urljoin(url, canonical)
    if canonical and canonical.startswith(("http://", "https://")):
        meta.canonical = canonicalise_url(canonical)
    return meta


def _standfirst(tree: LexborHTMLParser, h1: LexborNode | None) -> str | None:
    """The text of the first standfirst-classed block (else of the first lead-classed
    block beside the headline), which leaves the tree."""
    if tree.root is None:
        return None
    candidates = with_tokens(tree.root, STANDFIRST_TOKENS)
    if h1 is not None and h1.parent is not None:
        grandparent = h1.parent.parent
        beside = (
            h1.parent if grandparent is None or grandparent.tag in {"body", "html"} else grandparent
        )
        candidates += with_tokens(beside, LEAD_TOKENS)
    for node in candidates:
        # not a headline block, a lead image or video, or an article wrapper
        if node.css_first("h1, img, picture, figure, video, iframe, script") is not None:
            continue
        text = node_text(node)
        if len(text.split()) >= 5 and len(text) <= STANDFIRST_MAX_CHARS:
            node.decompose()
            return text
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


def _confident(containers: list[LexborNode], p_total: int, text_total: int) -> bool:
    """Whether ``containers`` hold the article: at least four paragraphs, 80% of the
    page's paragraph text (``p_total``) and a quarter of all its text (else they are a
    box of short items beside an article written without <p>)."""
    inside = [p for container in containers for p in container.css("p")]
    if len(inside) < 4 or p_total == 0:
        return False
    if sum(len(p.text()) for p in inside) < 0.8 * p_total:
        return False
    return sum(len(c.text()) for c in containers) >= 0.25 * text_total


def text_containers(tree: LexborHTMLParser, main: LexborNode | None) -> list[LexborNode]:
    """The containers of the article text on a cleaned page, in document order, or
    none when it is not clear: the paragraph container ``main``, or else every block
    of its tag and class (rich-text editors and page builders split an article into
    several). The blocks inside them are a feature of the block classifier."""
    if main is None or main.parent is None or tree.body is None:
        return []
    p_total = sum(len(p.text()) for p in tree.css("p"))
    text_total = len(tree.body.text())
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
        if _has_ancestor_in(node, taken) or node.css_first("p") is None:
            continue
        size = len(node.text())
        links = sum(len(a.text()) for a in node.css("a"))
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
    its URL (the canonical one for a saved file), leaf text kept for source
    detection, and its text blocks with their features."""

    tree: LexborHTMLParser
    meta: Meta
    url: str | None
    raw_lines: list[str]
    page: PageBlocks


def parse_page(text: str, url: str | None) -> Parsed:
    """``text`` (decoded HTML) parsed, its metadata read, cut into blocks and cleaned;
    the same steps for extraction and for training the block model."""
    tree = LexborHTMLParser(text)
    meta = read_meta(tree, url)
    # Leaf text before cleaning keeps copyright and dateline lines for source detection.
    raw_lines = (
        [node_text(n) for n in tree.css("p, div, span, small, footer") if n.child is None]
        if meta.source is None
        else []
    )
    if meta.canonical and (not url or url.startswith("file:")):
        url = meta.canonical  # a saved page is known by its canonical URL
    page = read_blocks(tree, url, meta.jsonld, text_containers)
    return Parsed(tree, meta, url, raw_lines, page)


def extract(
    html: bytes | str,
    url: str | None = None,
    *,
    encoding: str | None = None,
    fetched_at: datetime | None = None,
    model: BlockModel | None = None,
) -> Article:
    """The article in a page. Raises ``NotAnArticle`` when there is no body text.
    ``model`` is the block classifier (default: the one shipped with the package)."""
    text = decode_html(html, encoding)
    if not text.strip():
        raise NotAnArticle("empty page")
    if not looks_like_html(text):
        raise NotAnArticle("not HTML (binary or plain text)")
    parsed = parse_page(text, url)
    tree, meta, url = parsed.tree, parsed.meta, parsed.url
    harvest = parsed.page.harvest
    model = model or shipped_model()
    # trafilatura reads the cleaned page (chrome and related cards gone)
    body = model.body(parsed.page, lambda: main_text(tree.html or "", url))
    # The model has decided where the body ends (end markers are among its features),
    # so an end-marker line is only dropped here, never a cut.
    lines = clean_lines(body.lines, min_body_lines=NEVER_CUT)
    paragraphs = [p for p in lines.lines if p not in {meta.title, meta.standfirst}]
    if not paragraphs:
        raise NotAnArticle("no body text found")
    source = meta.source or _source_in_dom(tree) or _source_in_text(paragraphs + parsed.raw_lines)
    canonical = meta.canonical or canonicalise_url(url or "")
    return Article(
        url=url or canonical,
        canonical_url=canonical,
        title=meta.title or paragraphs[0][:120],
        standfirst=meta.standfirst,
        authors=meta.authors,
        published=meta.published,
        site=meta.site,
        source=source if source != meta.site else None,
        language=meta.language,
        paragraphs=paragraphs,
        captions=place_captions(harvest.captions, paragraphs) + lines.captions,
        fetched_at=fetched_at or utc_now(),
        related=harvest.related,
    )


class ExtractTimeout(ExtractError):
    reason = "extract_timeout"


def _on_alarm(signum: int, frame: object) -> None:
    raise ExtractTimeout("extraction ran past its time limit")


def extract_page(page: Fetched, timeout: float) -> Article:
    """``extract`` of a fetched page under a time limit (SIGALRM: call from a
    process's main thread, as pool workers do)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return extract(page.body, page.url, encoding=page.encoding, fetched_at=page.fetched_at)
    except ExtractError:
        raise
    except RecursionError as exc:
        raise ExtractError("page nesting too deep") from exc
    except Exception as exc:  # a hostile page must never stop a run
        raise ExtractError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


Outcome = Article | ScrapeError


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ExtractPool:
    """Extraction in worker processes (trafilatura and lxml are not thread-safe).

    ``workers=1`` extracts in the calling process; ``0`` means one per core. A page
    that runs past ``timeout`` is abandoned; a worker stuck in C code past the
    grace period is killed with its pool, which is then rebuilt.
    """

    # ``map`` keeps this many pages per worker submitted and not yet extracted (a
    # crash fails the pages in flight, so few), and this many submitted and not yet
    # returned: finished pages wait there for a slower earlier one while the other
    # workers go on.
    IN_FLIGHT_PER_WORKER = 2
    WINDOW_PER_WORKER = 16

    def __init__(self, workers: int = 0, timeout: float = 30.0) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        # The hard backstop also covers time spent queued behind other pages.
        self.grace = max(5.0, timeout)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ExtractPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["scraper.extract"])
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_ignore_interrupts
            )
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # ProcessPoolExecutor cannot cancel a running task: end its processes.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)

    def run_one(self, page: Fetched) -> Outcome:
        """Extract in this process."""
        try:
            return extract_page(page, self.timeout)
        except ScrapeError as exc:
            return exc

    def _failed(
        self,
        exc: ScrapeError | TimeoutError | BrokenProcessPool | CancelledError,
        pool: ProcessPoolExecutor,
    ) -> Outcome:
        """The outcome of a page whose future in ``pool`` failed; a pool that timed out
        or broke is killed, unless it is already gone (its other pages fail too and
        must not kill its successor)."""
        if isinstance(exc, ScrapeError):
            return exc
        if pool is self._pool:
            self._kill()
        if isinstance(exc, TimeoutError):
            return ExtractTimeout("extraction ran past its time limit (worker killed)")
        return ExtractError("extraction worker crashed")

    async def extract_async(self, page: Fetched) -> Outcome:
        if self.workers == 1:
            return self.run_one(page)
        pool = self._executor()
        future = asyncio.wrap_future(pool.submit(extract_page, page, self.timeout))
        try:
            return await asyncio.wait_for(future, self.timeout + self.grace)
        except (ScrapeError, TimeoutError, BrokenProcessPool) as exc:
            return self._failed(exc, pool)

    def map(self, pages: Iterable[Fetched]) -> Iterator[tuple[Fetched, Outcome]]:
        """Outcomes in input order. Pages are submitted as workers free up, so a slow
        page does not idle the others; memory is bounded by ``WINDOW_PER_WORKER``."""
        if self.workers == 1:
            for page in pages:
                yield page, self.run_one(page)
            return
        todo: Iterator[Fetched] | None = iter(pages)
        window: deque[tuple[Fetched, Future[Article], ProcessPoolExecutor]] = deque()
        running: set[Future[Article]] = set()
        overdue: dict[Future[Article], Outcome] = {}
        head: Future[Article] | None = None  # the oldest page not extracted...
        head_since = 0.0  # ...since then: all before it are done, so it is running
        while True:
            while window and (window[0][1].done() or window[0][1] in overdue):
                page, future, pool = window.popleft()
                late = overdue.pop(future, None)
                yield page, late if late is not None else self._outcome(future, pool)
            if (
                todo is not None
                and len(running) < self.workers * self.IN_FLIGHT_PER_WORKER
                and len(window) < self.workers * self.WINDOW_PER_WORKER
            ):
                new = next(todo, None)
                if new is None:
                    todo = None
                    continue
                pool = self._executor()
                window.append((new, pool.submit(extract_page, new, self.timeout), pool))
                running.add(window[-1][1])
                continue
            if not window:
                return
            if window[0][1] is not head:
                head, head_since = window[0][1], time.monotonic()
            deadline = head_since + self.timeout + self.grace
            done, running = wait(running, max(0.0, deadline - time.monotonic()), FIRST_COMPLETED)
            if not done and time.monotonic() >= deadline:
                _, future, pool = window[0]
                overdue[future] = self._failed(TimeoutError(), pool)
                running.discard(future)

    def _outcome(self, future: Future[Article], pool: ProcessPoolExecutor) -> Outcome:
        try:
            return future.result()
        except (ScrapeError, BrokenProcessPool, CancelledError) as exc:
            return self._failed(exc, pool)
