"""Learned per-site templates: the chrome a portal repeats on every page.

A portal's template is the same on all its pages, so a block seen on many pages of a
site, with the same text at the same place in the DOM, is template. Each block gets a
**fingerprint**: a hash of its normalised text (lower case, digits as 0, spaces
collapsed) and of its DOM path (the tag and class words of the block's element and
of each element above it). Fingerprints are taken before the cleaner removes
anything (``dom_notes``, called by ``blocks.read_blocks``).

**Only blocks outside the article's main run count.** The main run is what the
model chose, from its first to its last block, inside the body element (the deepest
element holding ``blocks.BODY_MASS`` of the chosen text). Body text that truly
repeats (a recurring "Advertisement" quoted inside an article, a standard sign-off
line) lies inside it, so it is never learned and never removed. Learning reads the
main run of the model's own choice; the decision reads it without the blocks already
learned as template (they neither move the body element nor stretch the run).

**Learning** happens in the main process, from what extraction returns: the worker
sends back the fingerprints of the page's blocks outside the main run (with a short
sample of each, shown by ``scrape templates``), and ``SiteTemplates`` counts them in
the state per site (registered domain) with the pages they were seen on, and the
site's pages. A fingerprint seen on at least ``template.min_pages`` pages, and on at
least ``template.min_share`` of the site's pages since it was first seen, is
template. Fingerprints and pages not seen for ``template.max_age`` are forgotten, so
a redesigned site is relearned.

**Use.** What was learned travels to the worker with each page of the site (a set of
fingerprints, ``Fetched.template``), and the model's body loses the template blocks
that lie outside its main run (``without_template``). The training corpora hold one
page per site, so the signal cannot be trained into the model: it is a decision.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from tld import get_fld

from .models import Article, Fetched, utc_now
from .rules import RULE_MARK

if TYPE_CHECKING:
    from .blocks import Block, PageBlocks
    from .config import TemplateConfig
    from .store import Store

SAMPLE_CHARS = 60  # of a block's text, kept with its fingerprint for ``scrape templates``
PRINT_CHARS = 300  # of a block's text, in its fingerprint
# Fingerprints kept per site: past this, those seen on the fewest pages, longest ago,
# go first (teaser cards outside the body are seen once each).
MAX_PRINTS_PER_SITE = 5000
# Pages learned in memory before they are written to the state.
PENDING_PAGES = 20
HINT_BYTES = 65536  # where a saved page's canonical link is looked for

_DIGITS = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
_CANONICAL = re.compile(
    rb"""<link\b[^>]*\brel\s*=\s*["']?canonical\b[^>]*>|<meta\b[^>]*\bproperty\s*=\s*["']?og:url\b[^>]*>""",
    re.I,
)
_HREF = re.compile(rb"""\b(?:href|content)\s*=\s*["']?(https?://[^"'\s>]+)""", re.I)


# --- sites -------------------------------------------------------------------------


def site_of(url: str | None) -> str | None:
    """The site of a URL: its registered domain (``news.example.co.uk`` ->
    ``example.co.uk``), or its host when it has none (an address, ``localhost``)."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").lower()
    return get_fld(host, fix_protocol=True, fail_silently=True) or host


def page_url(page: Fetched) -> str | None:
    """Where a page is from, before it is extracted: its URL, or for a saved file its
    canonical link (looked for in the first bytes); None if neither says."""
    if page.url.startswith(("http://", "https://")):
        return page.url
    for tag in _CANONICAL.finditer(page.body[:HINT_BYTES]):
        if href := _HREF.search(tag.group(0)):
            return href.group(1).decode("ascii", "replace")
    return None


# --- fingerprints ------------------------------------------------------------------


def _digest(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest(), "big", signed=True
    )


def normalised(text: str) -> str:
    """A block's text as its fingerprint reads it: lower case, digits as 0, spaces
    collapsed (block texts come with their spaces collapsed already)."""
    text = _digits_as_zero(text.casefold())
    # Every space but " " is unprintable: a printable text without "  " has nothing
    # to collapse, and one C scan costs a fraction of the regular expression's.
    if "  " in text or not text.isprintable():
        text = _SPACES.sub(" ", text)
    return text.strip()


def _digits_as_zero(text: str) -> str:
    for digit in "123456789":  # nine replaces cost a fifth of one str.translate
        text = text.replace(digit, "0")
    return text


# What joins a page's block texts to read them in one pass: printable, no space, no
# digit, its own case folding, and seldom in a text.
_JOINT = "\u2e3b"


def normalised_each(texts: Sequence[str]) -> list[bytes]:
    """``normalised(text).encode("utf-8", "replace")`` of each of ``texts``. The digits
    are replaced and the spaces looked at once for all of them, joined: each step goes
    character by character, and where every text is printable and without "  " nothing
    is left to collapse, only a " " at an end to strip (which bytes strip alike); else
    one text at a time."""
    folded = _digits_as_zero(_JOINT.join(map(str.casefold, texts)))
    if "  " not in folded and folded.isprintable():
        pieces = folded.encode("utf-8", "replace").split(_JOINT.encode())
        if len(pieces) == len(texts):  # no text holds the joint
            return [piece.strip() for piece in pieces]
    return [normalised(text).encode("utf-8", "replace") for text in texts]


@dataclass
class DomNotes:
    """What is read of each block before the cleaner changes the tree: its
    fingerprint, the site rule over it (``rules.REMOVE``, ``rules.KEEP`` or ""), and
    where it sits (its element's tag and class)."""

    prints: list[int] = field(default_factory=list)
    ruled: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)


def dom_notes(blocks: Sequence[Block], marked: bool = False) -> DomNotes:
    """The notes of a page's blocks. A block's DOM path is what its context says of
    its place: its tag and class, the tags above it, its depth, and the landmarks and
    class words of its ancestors (no walk up the tree: this runs on every page).
    ``marked``: the site's rules marked elements (``rules.mark``) to read."""
    notes = DomNotes()
    # each DOM path's hash (shifted into the high half) and place, by what makes it
    paths: dict[tuple[str, str, int, int, int, int], tuple[int, str]] = {}
    crcs = map(zlib.crc32, normalised_each([block.text[:PRINT_CHARS] for block in blocks]))
    prints, where = notes.prints, notes.where
    for block, crc in zip(blocks, crcs, strict=True):
        c = block.context
        key = (block.tag, block.class_name, c.path, c.depth, c.flags, c.kinds)
        known = paths.get(key)
        if known is None:
            tag, name = block.tag, block.class_name
            place = f"{tag}.{name.split()[0]}" if name.strip() else tag
            known = paths[key] = (zlib.crc32(repr(key).encode("utf-8", "replace")) << 32, place)
        value = known[0] | crc
        prints.append(value - (1 << 64) if value >= 1 << 63 else value)
        where.append(known[1])
    notes.ruled = (
        [block.node.attrs.get(RULE_MARK) or "" for block in blocks]
        if marked
        else [""] * len(blocks)
    )
    return notes


# --- the main run and the decision -------------------------------------------------


def main_run(
    page: PageBlocks,
    chosen: Sequence[bool],
    body_mass: float,
    template: frozenset[int] = frozenset(),
) -> list[bool]:
    """Whether each block lies in the article's main run: inside the body element (the
    deepest element holding ``body_mass`` of the chosen text), from its first chosen
    block to its last. Blocks of the learned ``template`` do not count: a portal's
    chrome that the model took (around a short article it can be a third of the text)
    neither moves the body element nor stretches the run."""
    n = len(chosen)
    layout = page.layout
    if template:
        content = [c and p not in template for p, c in zip(page.notes.prints, chosen, strict=True)]
        chosen = content if any(content) else chosen
    if n == 0 or not any(chosen) or len(layout.element) != n:
        return [False] * n
    sizes, element, _, depth, end = layout.arrays
    taken = np.array(chosen, bool)
    # bincount adds in block order from 0, as a loop would
    mass = np.bincount(element, sizes * taken, len(end))
    cumulative = np.concatenate([[0.0], np.cumsum(mass)])
    sub_mass = cumulative[end] - cumulative[np.arange(len(end))]
    total = float(sub_mass[0])
    if total <= 0:
        return [False] * n
    holders = np.flatnonzero(sub_mass >= body_mass * total)
    body = int(holders[np.argmax(depth[holders])])
    inside = (element >= body) & (element < end[body])
    picked = np.flatnonzero(taken & inside)
    if not len(picked):
        return [False] * n
    index = np.arange(n)
    return (inside & (index >= picked[0]) & (index <= picked[-1])).tolist()


def without_template(
    prints: Sequence[int], chosen: Sequence[bool], inside: Sequence[bool], template: frozenset[int]
) -> list[bool]:
    """``chosen`` less the template blocks outside the main run."""
    if not template:
        return list(chosen)
    return [
        c and (run or p not in template) for p, c, run in zip(prints, chosen, inside, strict=True)
    ]


def outside_prints(page: PageBlocks, inside: Sequence[bool]) -> tuple[tuple[int, str], ...]:
    """What a page teaches its site's template: each distinct fingerprint of a block
    outside the main run, with a sample of the block (where it sits, and its text)."""
    notes = page.notes
    seen: dict[int, str] = {}
    for i, text in enumerate(page.texts):
        if not inside[i] and notes.prints[i] not in seen:
            seen[notes.prints[i]] = f"{notes.where[i]}: {text[:SAMPLE_CHARS]}"
    return tuple(seen.items())


def kept_prints(page: PageBlocks, chosen: Sequence[bool]) -> tuple[int, ...]:
    """The fingerprints of the blocks a body holds."""
    prints = page.notes.prints
    return tuple(sorted({prints[i] for i, c in enumerate(chosen) if c}))


# --- what is learned -----------------------------------------------------------------


@dataclass(frozen=True)
class Learned:
    """A fingerprint of a site as the state holds it."""

    print: int
    pages: int
    first_seen: datetime
    last_seen: datetime
    sample: str | None


@dataclass(frozen=True)
class SiteView:
    """What the state knows of one site: when each of its pages was learned (oldest
    first) and its fingerprints seen on at least ``min_pages`` pages."""

    site: str
    page_times: list[datetime]
    prints: list[Learned]

    def share(self, learned: Learned) -> float:
        """Pages ``learned`` was seen on over the site's pages since it was first seen."""
        since = len(self.page_times) - bisect.bisect_left(self.page_times, learned.first_seen)
        return min(1.0, learned.pages / max(since, 1))

    def template(self, min_pages: int, min_share: float) -> list[Learned]:
        """The fingerprints that are template, most seen first."""
        found = [p for p in self.prints if p.pages >= min_pages and self.share(p) >= min_share]
        return sorted(found, key=lambda p: (-p.pages, p.print))


class SiteTemplates:
    """The run's learned templates: the set of each site (read from the state once,
    read again after its new pages are written) and the pages learned and not yet
    written. ``store`` None keeps everything in memory (``scrape extract`` without
    ``--state``)."""

    def __init__(self, settings: TemplateConfig, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store
        self.sets: dict[str, frozenset[int]] = {}
        self.pending: dict[str, dict[int, tuple[tuple[int, str], ...]]] = {}
        self.memory: dict[str, MemorySite] = {}
        self.pages_learned = 0

    def template(self, site: str | None) -> frozenset[int]:
        """The learned template of ``site`` (empty while fewer than ``min_pages`` pages
        of it were learned)."""
        if site is None:
            return frozenset()
        if site not in self.sets:
            view = self.view(site)
            prints = view.template(self.settings.min_pages, self.settings.min_share)
            self.sets[site] = frozenset(p.print for p in prints)
        return self.sets[site]

    def view(self, site: str) -> SiteView:
        cutoff = utc_now() - self.settings.max_age
        if self.store is not None:
            return self.store.template_view(site, cutoff, self.settings.min_pages)
        memory = self.memory.get(site)
        return (
            memory.view(site, cutoff, self.settings.min_pages) if memory else SiteView(site, [], [])
        )

    def learn(self, site: str | None, article: Article) -> None:
        """Count what ``article``'s page shows of its site's template (a page already
        learned is not counted again)."""
        prints = article._template_prints
        if site is None or not prints or not self.settings.learn:
            return
        page = _digest(article.canonical_url or article.url)
        self.pending.setdefault(site, {})[page] = prints
        self.pages_learned += 1
        if sum(len(p) for p in self.pending.values()) >= PENDING_PAGES:
            self.save()

    def save(self) -> None:
        """Write the pages learned so far; the sets of their sites are read again."""
        pending, self.pending = self.pending, {}
        now = utc_now()
        for site, pages in sorted(pending.items()):
            if self.store is not None:
                self.store.learn_templates(site, pages, now, now - self.settings.max_age)
            else:
                self.memory.setdefault(site, MemorySite()).learn(pages, now)
            self.sets.pop(site, None)


@dataclass
class MemorySite:
    """A site's fingerprints kept in memory (``scrape extract`` without a state)."""

    pages: dict[int, datetime] = field(default_factory=dict)
    prints: dict[int, list[Any]] = field(default_factory=dict)  # [pages, first, last, sample]

    def learn(self, pages: dict[int, tuple[tuple[int, str], ...]], now: datetime) -> None:
        for page, prints in pages.items():
            if page in self.pages:
                continue
            self.pages[page] = now
            for value, sample in prints:
                known = self.prints.setdefault(value, [0, now, now, None])
                known[0] += 1
                known[2] = now
                known[3] = known[3] or (sample if known[0] > 1 else None)

    def view(self, site: str, cutoff: datetime, min_pages: int) -> SiteView:
        times = sorted(t for t in self.pages.values() if t >= cutoff)
        prints = [
            Learned(value, n, first, last, sample)
            for value, (n, first, last, sample) in self.prints.items()
            if n >= min_pages and last >= cutoff
        ]
        return SiteView(site, times, prints)
