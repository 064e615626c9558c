"""Per-site rules, declarative: what a user tells the cleaner about one site.

``rules:`` in the config (and the YAML files it names) gives, per site, CSS selectors
whose blocks are removed or kept whatever the model says, stop phrases (a block
holding one is removed), "end the body at" markers (the body ends before the first
block starting with one), and a fixed ``source``. No site needs code.

``RuleBook`` finds the rules of a page's site (a rule for ``example.com`` applies to
its subdomains too; several rules of one site add up) in the main process; they
travel to the worker with the page (``Fetched.rules``). There ``mark`` tags the
elements the selectors match and what they hold, before the page is cut into blocks
(the tags are read with each block's fingerprint, see ``templates.dom_notes``), and
``steer`` applies
the rules to the model's body: a ``remove`` selector wins over a ``keep`` one, and
both over the model, the learned template and the guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from .config import SiteRule
from .models import SiteRules
from .normalise import normalise_space

if TYPE_CHECKING:
    from .blocks import Body, PageBlocks

RULE_MARK = "data-scraper-rule"
REMOVE, KEEP = "remove", "keep"
# The reasons ``steer`` gives a block (``Body.reasons``, ``scrape explain``).
RULE_REMOVE, RULE_KEEP = "site_rule:remove", "site_rule:keep"
RULE_STOP, RULE_END = "site_rule:stop_phrase", "site_rule:end_at"


class RuleBook:
    """The site rules of a config, looked up by page URL."""

    def __init__(self, rules: Iterable[SiteRule]) -> None:
        merged: dict[str, SiteRules] = {}
        for rule in rules:
            known = merged.get(rule.site, SiteRules(site=rule.site))
            merged[rule.site] = SiteRules(
                site=rule.site,
                remove=known.remove + tuple(rule.remove),
                keep=known.keep + tuple(rule.keep),
                stop_phrases=known.stop_phrases + tuple(rule.stop_phrases),
                end_at=known.end_at + tuple(rule.end_at),
                source=rule.source or known.source,
            )
        self.sites = merged

    def __bool__(self) -> bool:
        return bool(self.sites)

    def for_url(self, url: str | None) -> SiteRules | None:
        """The rules of the most specific site the URL's host is or lies under."""
        if not self.sites or not url:
            return None
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        host = (host or "").rstrip(".").removeprefix("www.")
        while host:
            if host in self.sites:
                return self.sites[host]
            _, _, host = host.partition(".")
        return None


def mark(tree: LexborHTMLParser, rules: SiteRules | None) -> bool:
    """Tag the elements the rules' selectors match, and everything inside them
    (``RULE_MARK``): ``remove`` over ``keep``. Whether any element was tagged. A
    selector lexbor refuses here (it was checked when the config was read) marks
    nothing."""
    if rules is None or tree.root is None:
        return False
    marked = False
    for kind, selectors in ((KEEP, rules.keep), (REMOVE, rules.remove)):
        for selector in selectors:
            try:
                nodes = tree.root.css(selector)
            except (SelectolaxError, ValueError):
                continue
            for node in nodes:
                for inner in node.traverse():
                    if inner.tag != "-text":
                        inner.attrs[RULE_MARK] = kind
                marked = True
    return marked


def _matches(text: str, phrases: Sequence[str]) -> bool:
    folded = text.casefold()
    return any(p in folded for p in phrases)


def _starts(text: str, markers: Sequence[str]) -> bool:
    folded = text.casefold()
    return any(folded.startswith(m) for m in markers)


def _folded(phrases: Sequence[str]) -> list[str]:
    return [normalise_space(p).casefold() for p in phrases if normalise_space(p)]


def steer(page: PageBlocks, body: Body, ruled: Sequence[str], rules: SiteRules | None) -> Body:
    """``body`` with the site's rules applied to its blocks (``ruled``: the selector
    mark over each block, from ``templates.dom_notes``). When the body is
    trafilatura's reading (the guard took it), only the phrases apply, to its lines."""
    if rules is None:
        return body
    stops, ends = _folded(rules.stop_phrases), _folded(rules.end_at)
    if len(body.lines) and body.guard == "trafilatura":
        return replace(body, lines=_steer_lines(body.lines, stops, ends))
    texts = page.texts
    chosen, reasons = list(body.chosen), list(body.reasons) or ["model"] * len(texts)
    for i, mark in enumerate(ruled):
        if mark == REMOVE:
            chosen[i], reasons[i] = False, RULE_REMOVE
        elif mark == KEEP and not chosen[i]:
            chosen[i], reasons[i] = True, RULE_KEEP
    for i, text in enumerate(texts):
        if chosen[i] and stops and _matches(text, stops):
            chosen[i], reasons[i] = False, RULE_STOP
    if ends:
        started = False
        for i, text in enumerate(texts):
            if chosen[i] and started and _starts(text, ends):
                for j in range(i, len(texts)):
                    if chosen[j]:
                        chosen[j], reasons[j] = False, RULE_END
                break
            started = started or chosen[i]
    lines = [t for t, c in zip(texts, chosen, strict=True) if c]
    return replace(body, lines=lines, chosen=chosen, reasons=reasons)


def _steer_lines(lines: list[str], stops: list[str], ends: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        if kept and ends and _starts(line, ends):
            break
        if not (stops and _matches(line, stops)):
            kept.append(line)
    return kept
