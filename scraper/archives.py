"""``scrape extract`` over archives (a WARC, a folder), learning each site's template.

When the inputs hold at least ``template.min_pages`` pages of one site, the
extraction makes two passes. The first extracts every page as usual (with what a
``--state`` already learned) and counts the fingerprints of each page's blocks
outside its body (``templates``); its records wait in a spool file, in input order.
The second extracts again, with what was learned, only the pages whose body holds a
block that turned out to be template (for every other page the learned template
changes nothing: it only removes template blocks from a body), and the records come
out in input order, each page once. Otherwise (or with
``--no-learn``) there is one pass, which streams.

``--state`` reads the learned templates of a run's state and adds what the inputs
taught (under the state's lock).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from .errors import ExtractError
from .extract import ExtractPool, Outcome
from .models import Article, Fetched
from .templates import SiteTemplates, page_url, site_of

PageSource = Callable[[bool], Iterator[Fetched]]  # quiet: report nothing while reading again


@dataclass
class Learning:
    """What the two passes did."""

    passes: int = 1
    sites: list[str] = field(default_factory=list)  # sites whose template was learned
    again: int = 0  # pages extracted a second time


def sites_to_learn(pages: Iterator[Fetched], min_pages: int) -> list[str]:
    """The sites of which the inputs hold at least ``min_pages`` pages."""
    counts = Counter(site_of(page_url(page)) for page in pages)
    return sorted(site for site, n in counts.items() if site and n >= min_pages)


def extract_learning(
    pages: PageSource,
    pool: ExtractPool,
    templates: SiteTemplates,
    emit: Callable[[Fetched, Outcome], None],
) -> Learning:
    """Extract the pages ``pages(quiet)`` yields (the same, in the same order, each
    time it is called), learning the templates of sites with ``min_pages`` pages or
    more; each page's outcome goes to ``emit`` in input order."""
    done = Learning()
    done.sites = sites_to_learn(pages(True), templates.settings.min_pages)
    if not done.sites:
        _one_pass(pages(False), pool, templates, emit)
        return done
    done.passes = 2
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for page, outcome in pool.map(_steered(pages(False), templates)):
            site = _site(page, outcome)
            if isinstance(outcome, Article):
                templates.learn(site, outcome)
            spool.write(_spooled(page, outcome, site) + "\n")
        templates.save()
        redo = _worth_again(spool, templates)
        done.again = len(redo)
        spool.seek(0)
        second = pool.map(_numbered(pages(True), redo, templates))
        for number, line in enumerate(spool):
            page, outcome = _unspooled(line)
            newer = next(second, None) if number in redo else None
            if newer is not None and newer[0].url == page.url:  # the inputs did not change
                page, outcome = newer
            emit(page, outcome)
    return done


def _worth_again(spool: IO[str], templates: SiteTemplates) -> set[int]:
    """The numbers of the pages whose body holds a block now learned as template of
    their site (for any other page, what was learned changes nothing)."""
    spool.seek(0)
    again = set()
    for number, line in enumerate(spool):
        data = json.loads(line)
        if data.get("kept") and templates.template(data["site"]) & set(data["kept"]):
            again.add(number)
    return again


def _one_pass(
    pages: Iterator[Fetched],
    pool: ExtractPool,
    templates: SiteTemplates,
    emit: Callable[[Fetched, Outcome], None],
) -> None:
    for page, outcome in pool.map(_steered(pages, templates)):
        if isinstance(outcome, Article):
            templates.learn(_site(page, outcome), outcome)
        emit(page, outcome)
    templates.save()


def _site(page: Fetched, outcome: Outcome) -> str | None:
    url = page_url(page) or (outcome.url if isinstance(outcome, Article) else None)
    return site_of(url)


def _steered(pages: Iterator[Fetched], templates: SiteTemplates) -> Iterator[Fetched]:
    for page in pages:
        learned = templates.template(site_of(page_url(page)))
        yield page.model_copy(update={"template": learned}) if learned else page


def _numbered(
    pages: Iterator[Fetched], wanted: set[int], templates: SiteTemplates
) -> Iterator[Fetched]:
    """The pages numbered in ``wanted``, with their site's learned template."""
    if not wanted:
        return
    last = max(wanted)
    for number, page in enumerate(pages):
        if number in wanted:
            yield from _steered(iter([page]), templates)
        if number >= last:
            return


def _spooled(page: Fetched, outcome: Outcome, site: str | None) -> str:
    if isinstance(outcome, Article):
        kept = outcome._template_kept
        data = {"url": page.url, "site": site, "kept": kept, "article": outcome.model_dump_json()}
        return json.dumps(data)
    reason = getattr(outcome, "reason", "extract")
    return json.dumps({"url": page.url, "error": str(outcome), "reason": reason})


def _unspooled(line: str) -> tuple[Fetched, Outcome]:
    data = json.loads(line)
    page = Fetched(url=data["url"], source="extract", body=b"")
    if "article" in data:
        return page, Article.model_validate_json(data["article"])
    error = _Spooled(data["error"])
    error.reason = data["reason"]
    return page, error


class _Spooled(ExtractError):
    """A first-pass failure read back from the spool (its reason as it was)."""
