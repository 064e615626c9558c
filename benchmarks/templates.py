"""Learned-template benchmark: chrome leaks before and after learning a site's template.

Run from the project root:

    python -m benchmarks.templates ../shared/corpora/aeb ../shared/corpora/wcxb \
        [--sites 4] [--pages 40] [--learn 10] [--seed 1] [--json OUT]

Synthetic multi-page sites are built at run time: each site has a template of
``CHROME_BLOCKS`` chrome blocks (neutral class names, publisher boilerplate written
here, so that no rule of the cleaner names them) placed around the article in one of
``LAYOUTS``, and each of its pages carries the body of a different development-corpus
page (``truth.jsonl`` ``body``; no corpus page is copied anywhere). The first
``--learn`` pages of each site are extracted and learned (``templates.SiteTemplates``,
in memory); the remaining pages are extracted twice, without and with the learned
template. Printed per site and in total: chrome blocks that leaked into the body
(before, after), and the body's word recall and precision (the wcxb word metric,
before, after).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scraper.config import TemplateConfig
from scraper.extract import extract
from scraper.templates import SiteTemplates

CHROME_BLOCKS = 8
MIN_PARAGRAPHS = 4
BOILERPLATE = [
    "{pub} is funded by its readers, and every contribution keeps our reporting free for everyone to read.",
    "You are reading the {edition} edition of {pub}, delivered to thousands of homes across the region.",
    "{pub} has been the region's independent voice since {year}, owned by no party and no company.",
    "Our journalists work around the clock to bring you the stories that matter where you live.",
    "{pub} is a member of the press standards council and follows its code of practice on accuracy.",
    "Got a story we should hear about? Our reporters read every message sent to the {pub} tips desk.",
    "Printed and published by {pub} Media Group, registered office at {number} Mill Street.",
    "Reproduction of any part of this page in any form requires the written consent of {pub}.",
    "The views in the comment pieces of {pub} are those of their writers, not of the paper itself.",
    "Corrections to anything you read in {pub} can be sent to the readers' editor at any time.",
    "{pub} keeps your reading history on this device only, and never sells it to anyone.",
    "Thank you for reading {pub}: local reporting like this exists because people like you pay for it.",
    "This page was produced by the {pub} newsroom, which has {number} reporters across the region.",
    "Our archive holds every edition of {pub} since {year}, free for members to browse and search.",
    "The {pub} app brings the {edition} edition to your phone before the paper reaches the shops.",
    "Prices, opening times and dates in {pub} listings were right when we checked them.",
]
PUBLISHERS = [
    "Valley Courier",
    "Harbour Post",
    "Moorland Herald",
    "Riverside Gazette",
    "Coastal Star",
]
EDITIONS = ["morning", "evening", "weekend", "late"]
# Where the chrome blocks go around the article: (container tag, block tag) per slot,
# in the order the layout writes them (see ``page``).
LAYOUTS = ["frame", "inline", "lists", "sections"]


@dataclass
class Site:
    name: str
    layout: str
    chrome: list[str]
    classes: list[str]
    tags: list[str]


@dataclass
class Tally:
    pages: int = 0
    leaks_before: int = 0
    leaks_after: int = 0
    pages_leaking_before: int = 0
    pages_leaking_after: int = 0
    recall: list[tuple[float, float]] = field(default_factory=list)
    precision: list[tuple[float, float]] = field(default_factory=list)
    template: int = 0


def load_bodies(folders: list[Path]) -> list[list[str]]:
    """The paragraphs of every corpus page with a whole-body truth of at least
    ``MIN_PARAGRAPHS`` paragraphs."""
    bodies = []
    for folder in folders:
        with (folder / "truth.jsonl").open(encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                body = row.get("body")
                if not isinstance(body, str):
                    continue
                paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
                if len(paragraphs) >= MIN_PARAGRAPHS:
                    bodies.append(paragraphs)
    return bodies


def make_site(number: int, rng: random.Random) -> Site:
    pub = PUBLISHERS[number % len(PUBLISHERS)]
    picked = rng.sample(BOILERPLATE, CHROME_BLOCKS)
    chrome = [
        text.format(
            pub=pub,
            edition=rng.choice(EDITIONS),
            year=rng.randint(1950, 1999),
            number=rng.randint(12, 90),
        )
        for text in picked
    ]
    letters = "bcdfghjklmnpqrstvwxz"
    stem = "".join(rng.choice(letters) for _ in range(2))
    classes = [f"{stem}-{''.join(rng.choice(letters) for _ in range(3))}" for _ in chrome]
    tags = [rng.choice(["p", "div"]) for _ in chrome]
    domain = re.sub(r"\W+", "-", pub.lower()) + f"-{number}.example"
    return Site(domain, LAYOUTS[number % len(LAYOUTS)], chrome, classes, tags)


def page(site: Site, number: int, title: str, paragraphs: list[str]) -> tuple[str, str]:
    """A page of ``site`` around ``paragraphs``: its URL and HTML."""
    e = html.escape
    c = [
        f'<{t} class="{k}">{e(text)}</{t}>'
        for t, k, text in zip(site.tags, site.classes, site.chrome, strict=True)
    ]
    body = "".join(f"<p>{e(p)}</p>" for p in paragraphs)
    url = f"https://www.{site.name}/news/{number}"
    head = f'<head><title>{e(title)}</title><link rel="canonical" href="{url}"></head>'
    k = site.classes[0].split("-")[0]
    if site.layout == "frame":
        inner = (
            f'<div class="{k}-wrap">{c[0]}<div class="{k}-main"><h1>{e(title)}</h1>{c[1]}'
            f'<div class="{k}-text">{body}</div>{c[2]}<div class="{k}-box">{c[3]}{c[4]}</div>'
            f'</div><div class="{k}-col">{c[5]}</div><div class="{k}-end">{c[6]}{c[7]}</div></div>'
        )
    elif site.layout == "inline":
        inner = (
            f'<div class="{k}-page"><div class="{k}-head">{c[0]}{c[1]}</div><article>'
            f'<h1>{e(title)}</h1><div class="{k}-body">{body}</div>{c[2]}{c[3]}{c[4]}'
            f'</article><div class="{k}-tail">{c[5]}{c[6]}{c[7]}</div></div>'
        )
    elif site.layout == "lists":
        items = "".join(f"<li>{x}</li>" for x in c[4:7])
        inner = (
            f'<div class="{k}-top">{c[0]}</div><h1>{e(title)}</h1>{c[1]}'
            f'<div class="{k}-story">{body}</div><div class="{k}-after">{c[2]}{c[3]}</div>'
            f'<ul class="{k}-list">{items}</ul><div class="{k}-bottom">{c[7]}</div>'
        )
    else:
        inner = (
            f'<div class="{k}-strip">{c[0]}</div><main><h1>{e(title)}</h1>'
            f'<section class="{k}-copy">{body}</section>'
            f'<section class="{k}-about"><h3>About {e(site.name)}</h3>{c[1]}{c[2]}</section>'
            f'<section class="{k}-more">{c[3]}{c[4]}{c[5]}</section></main>'
            f'<div class="{k}-base">{c[6]}{c[7]}</div>'
        )
    return url, f"<html>{head}<body>{inner}</body></html>"


_WORD = re.compile(r"\w+")


def word_scores(predicted: str, truth: str) -> tuple[float, float]:
    """Word recall and precision (lower-cased \\w+ tokens as multisets)."""
    ours, theirs = Counter(_WORD.findall(predicted.lower())), Counter(_WORD.findall(truth.lower()))
    overlap = sum((ours & theirs).values())
    return overlap / max(sum(theirs.values()), 1), overlap / max(sum(ours.values()), 1)


def leaked(site: Site, paragraphs: list[str]) -> int:
    text = "\n".join(paragraphs)
    return sum(chrome[:60] in text for chrome in site.chrome)


def text_of(html_page: str, url: str, template: frozenset[int]) -> list[str]:
    try:
        return extract(html_page, url, template=template).paragraphs
    except Exception:  # noqa: BLE001 - a page with no body is an empty prediction
        return []


def run(args: argparse.Namespace) -> dict[str, Tally]:
    rng = random.Random(args.seed)
    bodies = load_bodies(args.corpora)
    rng.shuffle(bodies)
    needed = args.sites * args.pages
    if len(bodies) < needed:
        raise SystemExit(f"{len(bodies)} corpus bodies, {needed} needed: fewer --sites or --pages")
    tallies: dict[str, Tally] = {}
    for number in range(args.sites):
        site = make_site(number, rng)
        tally = tallies.setdefault(f"{site.name} ({site.layout})", Tally())
        templates = SiteTemplates(TemplateConfig())
        own = bodies[number * args.pages : (number + 1) * args.pages]
        for i, paragraphs in enumerate(own):
            title = f"{site.name.split('-')[0].title()} report {i}: {paragraphs[0][:50]}"
            url, markup = page(site, i, title, paragraphs)
            if i < args.learn:
                with contextlib.suppress(Exception):  # a page with no body teaches nothing
                    templates.learn(site.name, extract(markup, url))
                if i == args.learn - 1:
                    templates.save()
                    tally.template = len(templates.template(site.name))
                continue
            truth = "\n".join(paragraphs)
            before = text_of(markup, url, frozenset())
            after = text_of(markup, url, templates.template(site.name))
            tally.pages += 1
            lb, la = leaked(site, before), leaked(site, after)
            tally.leaks_before += lb
            tally.leaks_after += la
            tally.pages_leaking_before += lb > 0
            tally.pages_leaking_after += la > 0
            rb, pb = word_scores("\n".join(before), truth)
            ra, pa = word_scores("\n".join(after), truth)
            tally.recall.append((rb, ra))
            tally.precision.append((pb, pa))
    return tallies


def _mean(pairs: list[tuple[float, float]], side: int) -> float:
    return sum(p[side] for p in pairs) / max(len(pairs), 1)


def report(tallies: dict[str, Tally], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        f"learned-template gain: {args.sites} synthetic sites x {args.pages} pages "
        f"({CHROME_BLOCKS} chrome blocks each, no rule names them), learned from the first "
        f"{args.learn}, measured on the other {args.pages - args.learn}",
        f"{'site (layout)':42} {'learned':>7} {'leaks before':>12} {'after':>6} "
        f"{'pages leaking':>13} {'after':>6} {'recall':>13} {'precision':>13}",
    ]
    total = Tally()
    for name, t in tallies.items():
        lines.append(
            f"{name:42} {t.template:7} {t.leaks_before:12} {t.leaks_after:6} "
            f"{t.pages_leaking_before:13} {t.pages_leaking_after:6} "
            f"{_mean(t.recall, 0):6.3f}>{_mean(t.recall, 1):6.3f} "
            f"{_mean(t.precision, 0):6.3f}>{_mean(t.precision, 1):6.3f}"
        )
        total.pages += t.pages
        total.leaks_before += t.leaks_before
        total.leaks_after += t.leaks_after
        total.pages_leaking_before += t.pages_leaking_before
        total.pages_leaking_after += t.pages_leaking_after
        total.recall += t.recall
        total.precision += t.precision
    lines.append(
        f"{'all (' + str(total.pages) + ' pages)':42} {'':7} {total.leaks_before:12} "
        f"{total.leaks_after:6} {total.pages_leaking_before:13} {total.pages_leaking_after:6} "
        f"{_mean(total.recall, 0):6.3f}>{_mean(total.recall, 1):6.3f} "
        f"{_mean(total.precision, 0):6.3f}>{_mean(total.precision, 1):6.3f}"
    )
    lines.append(f"({seconds:.1f} s)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--learn", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    tallies = run(args)
    print(report(tallies, args, time.perf_counter() - start))
    if args.json:
        data = {
            name: {
                "pages": t.pages,
                "learned": t.template,
                "leaks_before": t.leaks_before,
                "leaks_after": t.leaks_after,
                "recall": [_mean(t.recall, 0), _mean(t.recall, 1)],
                "precision": [_mean(t.precision, 0), _mean(t.precision, 1)],
            }
            for name, t in tallies.items()
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
