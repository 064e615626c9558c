"""``scrape explain``: why each block of one page is in or out of its record.

``explain`` extracts a page as a run would (with its site's rules and learned
template, when given) and keeps what was decided on the way (``extract.Trace``):
for every block, whether it is kept, the model's probability, and what decided it:
the model (with the cleaner's rules that spoke about the block, which the model
reads as evidence), one of its filters (a short run of links, a related-content
card), the site's learned template, a site rule, the guard, a line rule of
``clean_lines``, the attribution (a byline or credit line), or the record's other
fields (the headline, the standfirst); and where the captions, the related cards
and ``source`` came from.

``report_text`` prints it; ``report_html`` writes a copy of the page's text, block
by block in document order, with the removed blocks struck through and coloured by
reason. That file is safe to open: every page text is escaped, it holds no script,
and its Content-Security-Policy lets nothing load or run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from .blocks import BLOCK_FEATURES, BlockModel
from .clean import (
    CARD_LABEL,
    CHROME,
    DROP_LINES,
    END_MARKERS,
    RELATED,
    SLOT,
    Harvest,
    clean_lines,
)
from .config import CONTROL_CHARS, ExtractConfig
from .errors import NotAnArticle
from .extract import Meta, Trace, extract, time_limited, title_run_in
from .models import Article, SiteRules

# Why a block is in or out, and the colour of its kind in the HTML report.
REASONS = {
    "model": ("the block model", "#c8c8c8"),
    "link_run": ("a short run of links", "#9ecae1"),
    "related_card": ("a card of a related-content box (see related)", "#6baed6"),
    "template": ("the site's learned template", "#fd8d3c"),
    "copy": ("a second copy of text already in the body", "#a1d99b"),
    "guard": ("the guard (the body was much too short)", "#74c476"),
    "site_rule": ("a site rule", "#e377c2"),
    "line_rule": ("a line rule (clean_lines)", "#fdd0a2"),
    "attribution": ("an attribution line (see source)", "#bcbddc"),
    "field": ("another field of the record", "#ffffb2"),
    "embedded": ("the body was read from embedded data instead", "#d9d9d9"),
}
VERDICTS = {
    RELATED: "related-box words in its class/id",
    CHROME: "chrome words in its class/id/role",
    SLOT: "ad or navigation slot words in its class/id",
}
LANDMARKS = ("nav", "footer", "aside", "header", "form", "hidden", "dialog")
TEXT_CHARS = 90  # of a block, in the text report
DEFAULT_TIMEOUT = ExtractConfig().timeout  # seconds, as for a page of a run


@dataclass
class BlockLine:
    """One block of the page and its decision."""

    index: int
    tag: str
    depth: int
    text: str
    kept: bool
    p: float | None
    reason: str  # a key of REASONS
    detail: str


@dataclass
class Explanation:
    url: str | None
    article: Article | None
    error: str | None = None
    extraction: str = "dom"
    guard: str | None = None
    unsure: bool = False
    blocks: list[BlockLine] = field(default_factory=list)
    captions: list[tuple[str, str | None, str]] = field(default_factory=list)
    related: list[tuple[str, str | None, str]] = field(default_factory=list)
    source: tuple[str | None, str | None, str | None] = (None, None, None)
    site_rules: SiteRules | None = None
    template: int = 0  # fingerprints in the site's learned template


def explain(
    page: bytes | str,
    url: str | None = None,
    *,
    encoding: str | None = None,
    model: BlockModel | None = None,
    site_rules: SiteRules | None = None,
    template: frozenset[int] = frozenset(),
    timeout: float = DEFAULT_TIMEOUT,
) -> Explanation:
    """The decisions behind the record of ``page``; a page that takes longer than
    ``timeout`` seconds, or breaks the extractor, raises ``ExtractError``."""
    trace = Trace()
    error = None
    article = None
    try:
        with time_limited(timeout):
            article = extract(
                page,
                url,
                encoding=encoding,
                model=model,
                site_rules=site_rules,
                template=template,
                trace=trace,
            )
    except NotAnArticle as exc:
        error = str(exc)
    found = Explanation(url, article, error, site_rules=site_rules, template=len(template))
    parsed, body = trace.parsed, trace.body
    if parsed is None or body is None:
        return found
    found.url = parsed.url or url
    found.extraction = trace.reading.extraction if trace.reading else "dom"
    found.guard, found.unsure = body.guard, body.unsure
    final = set(article.paragraphs) if article else set()
    meta = parsed.meta
    credited = trace.attribution
    removed_by_credit = set(trace.lines) - set(credited.body) if credited else set()
    features = parsed.page.features.tolist()
    harvest = parsed.page.harvest
    depths = [b.context.depth for b in parsed.page.blocks]
    for i, text in enumerate(parsed.page.texts):
        chosen = body.chosen[i] if i < len(body.chosen) else False
        reason = body.reasons[i] if i < len(body.reasons) else "model"
        kept = chosen and text in final
        tag = parsed.page.blocks[i].tag
        kind, detail = _why(reason, chosen, kept, text, tag, features[i], meta)
        if not chosen and reason == "model" and (use := _harvested(text, harvest)):
            detail = f"{use}; {detail}" if detail else use
        if chosen and not kept:
            if found.extraction != "dom":
                kind, detail = "embedded", f"the body came from {trace.reading.source}"  # type: ignore[union-attr]
            elif text in removed_by_credit:
                kind, detail = "attribution", "a line naming who wrote it"
        p = body.p[i] if i < len(body.p) else None
        found.blocks.append(BlockLine(i, tag, depths[i], text, kept, p, kind, detail))
    origins = harvest.caption_origins
    found.captions = [
        (c.text, c.credit, origins[i] if i < len(origins) else "a body line ending in a credit")
        for i, c in enumerate(article.captions if article else harvest.captions)
    ]
    found.related = [
        (r.title, r.url, where)
        for r, where in zip(harvest.related, harvest.related_origins, strict=False)
    ]
    if credited is not None:
        found.source = (credited.source, credited.evidence, credited.clue)
    return found


def _why(
    reason: str,
    chosen: bool,
    kept: bool,
    text: str,
    tag: str,
    row: list[float],
    meta: Meta,
) -> tuple[str, str]:
    """The kind of a block's decision and the words that say it."""
    if reason.startswith("site_rule"):
        return "site_rule", reason.removeprefix("site_rule:").replace("_", " ")
    if reason.startswith("guard"):
        return "guard", f"{reason.removeprefix('guard:')} estimate of the body's length"
    if reason == "template":
        return "template", "seen outside the body on many pages of the site"
    if reason in ("link_run", "related_card", "copy"):
        return reason, ""
    if not chosen and text == meta.title:
        return "model", "; ".join(filter(None, ["the record's title", _evidence(tag, row)]))
    if not chosen or kept:
        return "model", _evidence(tag, row) if not chosen else ""
    if text == meta.title:
        return "field", "the headline (title)"
    if text == meta.standfirst:
        return "field", "the standfirst"
    if title_run_in(text, meta.title):
        return "field", "the headline, run into a byline or the site's name"
    if CARD_LABEL.match(text):
        return "line_rule", "a related-story label"
    if END_MARKERS.match(text):
        return "line_rule", "an end marker"
    if DROP_LINES.match(text):
        return "line_rule", "a chrome line"
    if clean_lines([text]).captions:
        return "line_rule", "a caption line (moved to captions)"
    return "line_rule", ""


def _harvested(text: str, harvest: Harvest) -> str | None:
    """What the cleaner kept of a block it took out: a caption or a related card."""
    if any(c.text and text.startswith(c.text) for c in harvest.captions):
        return "harvested as a caption"
    if any(r.title == text for r in harvest.related):
        return "harvested as a related card"
    return None


def _evidence(tag: str, row: list[float]) -> str:
    """What the cleaner's rules said of a block the model left out."""
    said = [f"a <{tag}> element"] if tag in LANDMARKS else []
    if verdict := VERDICTS.get(int(row[BLOCK_FEATURES.index("verdict_chain")])):
        said.append(verdict)
    inside = [f"<{n}>" for n in LANDMARKS if row[BLOCK_FEATURES.index(f"in_{n}")] and n != tag]
    if inside:
        said.append("inside " + ", ".join(inside))
    if row[BLOCK_FEATURES.index("drop_line")] or row[BLOCK_FEATURES.index("end_marker")]:
        said.append("a chrome line or end marker")
    if not row[BLOCK_FEATURES.index("kept_by_rules")] and not said:
        said.append("removed by the cleaner's rules")
    density = row[BLOCK_FEATURES.index("link_density")]
    if density >= 0.5:
        said.append(f"{density:.0%} link text")
    return "; ".join(said)


def _escape(text: str) -> str:
    """One terminal line: control characters and separators as escapes."""
    return CONTROL_CHARS.sub(lambda m: repr(m[0])[1:-1], text)


def report_text(found: Explanation) -> str:
    """The explanation as lines for a terminal."""
    kept = sum(b.kept for b in found.blocks)
    lines = [
        f"page        {found.url or '(no URL)'}",
        f"body        read from {found.extraction}; model unsure: {'yes' if found.unsure else 'no'};"
        f" guard: {found.guard or 'none'}",
        f"site        rules: {'yes (' + found.site_rules.site + ')' if found.site_rules else 'none'};"
        f" learned template: {found.template} block(s)",
        f"blocks      {kept} kept, {len(found.blocks) - kept} removed",
    ]
    if found.error:
        lines.append(f"no article  {found.error}")
    lines += ["", "   #  kept     p  why           tag         text"]
    for b in found.blocks:
        p = f"{b.p:5.2f}" if b.p is not None else "    -"
        text = b.text if len(b.text) <= TEXT_CHARS else b.text[: TEXT_CHARS - 1] + "…"
        detail = f"  [{b.detail}]" if b.detail else ""
        mark = "yes" if b.kept else "-"
        lines.append(f"{b.index:4}  {mark:4} {p}  {b.reason:13} {b.tag:10}  {text}{detail}")
    lines += ["", f"captions    {len(found.captions)}"]
    lines += [
        f"  - {text!r} (credit {credit!r}) from {where}" for text, credit, where in found.captions
    ]
    lines += [f"related     {len(found.related)}"]
    lines += [f"  - {title!r} {url or ''} from {where}" for title, url, where in found.related]
    source, evidence, clue = found.source
    if source:
        lines.append(f"source      {source} (evidence: {evidence}; from {clue!r})")
    else:
        lines.append("source      none (no evidence names an organisation)")
    return "\n".join(_escape(line) for line in lines)


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#222}
header,section{background:#f6f6f6;padding:.6em 1em;margin:1em 0;border-radius:4px}
.blk{margin:.25em 0;padding:.15em .4em;border-left:4px solid transparent}
.kept{border-left-color:#2ca02c}
.removed{color:#555}
.why{font-size:12px;font-weight:normal;color:#333;margin-left:.6em;font-style:italic}
.legend span{display:inline-block;padding:0 .5em;margin:.1em;border-radius:3px}
"""


def report_html(found: Explanation) -> str:
    """A copy of the page's text with the removed blocks struck through and coloured
    by reason (every page text escaped; no script; nothing loads)."""
    e = html.escape
    colours = "".join(f".r-{key}{{background:{colour}}}\n" for key, (_, colour) in REASONS.items())
    legend = "".join(
        f'<span class="r-{key}">{e(words)}</span>' for key, (words, _) in REASONS.items()
    )
    source, evidence, clue = found.source
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        '<meta name="referrer" content="no-referrer">',
        f"<title>scrape explain: {e(found.url or 'page')}</title>",
        f"<style>{_STYLE}{colours}</style></head><body>",
        f"<header><h1>scrape explain</h1><p>{e(found.url or '(no URL)')}</p>",
        f"<p>Body read from <b>{e(found.extraction)}</b>; guard: {e(found.guard or 'none')}; "
        f"{sum(b.kept for b in found.blocks)} of {len(found.blocks)} blocks kept.</p>",
        f'<p class="legend">Removed blocks, by reason: {legend}</p></header><main>',
    ]
    for b in found.blocks:
        tag = b.tag if b.tag in {"h1", "h2", "h3", "h4", "h5", "h6"} else "p"
        indent = f' style="margin-left:{min(b.depth, 20) * 0.4:.1f}em"'
        p = f"p={b.p:.2f}; " if b.p is not None else ""
        title = e(
            f"#{b.index} <{b.tag}> {p}{REASONS[b.reason][0]}"
            + (f": {b.detail}" if b.detail else "")
        )
        if b.kept:
            parts.append(f'<{tag} class="blk kept" title="{title}"{indent}>{e(b.text)}</{tag}>')
        else:
            why = e(b.reason + (f": {b.detail}" if b.detail else ""))
            parts.append(
                f'<{tag} class="blk removed r-{b.reason}" title="{title}"{indent}>'
                f'<del>{e(b.text)}</del><span class="why">{why}</span></{tag}>'
            )
    parts.append("</main><section><h2>Captions</h2><ul>")
    parts += [
        f"<li>{e(text)} <i>({e(credit or 'no credit')})</i>: from {e(where)}</li>"
        for text, credit, where in found.captions
    ]
    parts.append("</ul><h2>Related cards</h2><ul>")
    parts += [
        f"<li>{e(title)} <code>{e(url or '')}</code>: from {e(where)}</li>"
        for title, url, where in found.related
    ]
    said = (
        f"{e(source)} (evidence: {e(evidence or '')}; from {e(clue or '')})" if source else "none"
    )
    parts.append(f"</ul><h2>Source</h2><p>{said}</p></section></body></html>\n")
    return "\n".join(parts)
