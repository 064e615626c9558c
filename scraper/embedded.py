"""App-rendered pages: the article read from the JSON the page embeds.

Many portals render the article in the browser from state embedded in the page, and
the DOM the server sends holds only a teaser, or nothing. When the DOM body is
missing or much shorter (``EMBEDDED_SHARE``) than article text found in that JSON,
the article is read from the JSON instead, by generic methods only:

* **known containers**: Next.js ``<script id="__NEXT_DATA__">``, Nuxt's
  ``window.__NUXT__`` (a JavaScript expression, often a function call, read by
  chompjs) and ``<script id="__NUXT_DATA__">`` (a flat "devalue" array, revived
  here), and any ``window.__SOME_STATE__ = {...}`` assignment (Apollo's
  ``__APOLLO_STATE__``, Redux's ``__PRELOADED_STATE__``, ``__INITIAL_STATE__``...),
  whose references (``{"__ref": "Paragraph:1"}``) are followed;
* the JSON-LD ``articleBody``;
* in a state, the value of a body-like key (``body``, ``content``, ``text``,
  ``paragraphs``, ``blocks``...): its prose-like strings in document order, the
  longest such run winning; a run whose object names another headline than the
  page's is some other article, and a run that does not hold the DOM's own body text
  (when the DOM has some) is not this one;
* HTML inside those strings is cleaned like any page (``clean_html``, the block
  model over it).

``Article.extraction`` records which was used: ``dom``, ``jsonld`` or
``embedded_state``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from .clean import compiled
from .find import find_all, selector
from .normalise import normalise_space

# Read the embedded article when the DOM body is under this share of it.
EMBEDDED_SHARE = 0.5
MIN_EMBEDDED_CHARS = 250  # shorter embedded text is no article
# A DOM body this long is the page's own text: an embedded run must hold most of it.
DOM_TEXT_CHARS = 150
MIN_OVERLAP = 0.5
MAX_STATE_CHARS = 20_000_000  # a state script longer than this is not read
MAX_NODES = 2_000_000  # JSON values visited in one state
MAX_DEPTH = 200

BODY_KEYS = frozenset(
    """body content contents text articlebody paragraphs blocks html bodyhtml contenthtml
    richtext articletext storytext fulltext bodytext maintext copy markup elements
    components""".split()
)
# Keys whose strings are article text inside a body-like value.
TEXT_KEYS = BODY_KEYS | frozenset("value data plain paragraph children nodes html".split())
# Keys whose strings are never the article's running text.
SKIP_KEYS = frozenset(
    """caption captions credit credits alt title headline subtitle url href src srcset
    link links id slug type typename class classname style image images img media photo
    photos video author authors byline tags tag category categories seo meta related
    recommended teaser teasers navigation nav menu footer header ads ad embed
    attributes attrs date published updated""".split()
)
TITLE_KEYS = ("headline", "title", "name")
JSONLD = "JSON-LD articleBody"
_STATE_NAME = re.compile(r"(?:window|self|globalThis)\s*\.\s*(__[A-Z][A-Z0-9_]*__)\s*=\s*")
# What every match of _STATE_NAME holds: with its literal start, a fast first look
# (the alternatives that begin _STATE_NAME make its search crawl over long scripts).
_STATE_TAIL = re.compile(r"__[A-Z][A-Z0-9_]*__\s*=")
_BLOCK_TAG = re.compile(r"<(?:p|div|h[1-6]|ul|ol|li|blockquote|figure|section|br|table)\b", re.I)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,500}>")
_URLISH = re.compile(r"^(?:https?:)?//|^[\w.-]+\.(?:jpe?g|png|gif|webp|svg|mp4)$", re.I)
_WORD = re.compile(r"\w+")


@dataclass
class State:
    """A state script of the page, as found (parsed only when needed)."""

    name: str  # __NEXT_DATA__, __NUXT__, __NUXT_DATA__, __APOLLO_STATE__...
    text: str


@dataclass
class Run:
    """The prose-like strings under one body-like key, in document order."""

    pieces: list[str]
    title: str | None = None
    chars: int = 0


@dataclass
class Reading:
    """The article read from embedded data: its lines and where they came from."""

    lines: list[str]
    extraction: str  # "jsonld" or "embedded_state"
    source: str = ""  # the container: a state's name or "JSON-LD articleBody"
    pieces: list[str] = field(default_factory=list)


_SCRIPTS = selector("script")


def read_states(tree: LexborHTMLParser) -> list[State]:
    """The state scripts of a page (call before the cleaner removes scripts)."""
    states: list[State] = []
    for script in find_all(tree.root, _SCRIPTS):
        attributes = script.attributes
        kind = (attributes.get("type") or "").lower()
        if kind and not any(k in kind for k in ("json", "javascript", "ecmascript", "module")):
            continue
        text = script.text(deep=True) or ""
        if not text.strip() or len(text) > MAX_STATE_CHARS:
            continue
        name = attributes.get("id") or ""
        if name in ("__NEXT_DATA__", "__NUXT_DATA__") or (
            "json" in kind and name.startswith("__") and name.endswith("__")
        ):
            states.append(State(name, text))
        elif _STATE_TAIL.search(text) and (match := _STATE_NAME.search(text)):
            states.append(State(match.group(1), text[match.end() :]))
    return states


def parse_state(state: State) -> Any:
    """The data of a state script; None when it cannot be read."""
    text = state.text.strip()
    if state.name == "__NUXT__" and text.startswith("("):
        text = _iife_result(text)
    try:
        data = _loads(state.name, text)
    except (ValueError, RecursionError, MemoryError):
        return None
    except Exception:  # chompjs raises what its C parser meets on a hostile page
        return None
    if state.name == "__NUXT_DATA__" and isinstance(data, list):
        return revive(data)
    return data


def _loads(name: str, text: str) -> Any:
    """The state as JSON when it is JSON (parsed once: a state can be megabytes),
    else as a JavaScript object literal."""
    if name in ("__NEXT_DATA__", "__NUXT_DATA__"):
        return json.loads(text)
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    import chompjs

    return chompjs.parse_js_object(text)


def _iife_result(text: str) -> str:
    """The object a ``(function(a,b){return {...}}(...))`` expression returns, as
    text (its parameters stay names: they hold short shared values, not prose)."""
    at = text.find("return")
    return text[at + len("return") :] if at >= 0 else text


_REVIVERS = frozenset({"Reactive", "ShallowReactive", "Ref", "ShallowRef", "EmptyRef", "NuxtError"})


def revive(values: list[Any]) -> Any:
    """The value a Nuxt "devalue" payload encodes: element 0 is the root; in objects
    and arrays, numbers are indexes of other elements; ``["Reactive", i]`` and its
    kin wrap one."""
    done: dict[int, Any] = {}
    visited = 0

    def value(index: Any, depth: int) -> Any:
        nonlocal visited
        if not isinstance(index, int) or not 0 <= index < len(values) or depth > MAX_DEPTH:
            return None
        if index in done:
            return done[index]
        visited += 1
        if visited > MAX_NODES:
            return None
        item = values[index]
        done[index] = None  # a cycle reads as null
        if isinstance(item, list):
            if len(item) == 2 and isinstance(item[0], str) and item[0] in _REVIVERS:
                result: Any = value(item[1], depth + 1)
            elif item and isinstance(item[0], str):
                result = None  # Date, Set, Map...: no article text
            else:
                result = [value(i, depth + 1) for i in item]
        elif isinstance(item, dict):
            result = {k: value(v, depth + 1) for k, v in item.items()}
        else:
            result = item
        done[index] = result
        return result

    return value(0, 0)


@lru_cache(maxsize=4096)
def _key(name: str) -> str:
    # states repeat the same few key names many times: each is normalised once
    return name.lower().replace("_", "").replace("-", "")


def _prose(text: str) -> bool:
    """A string that can be article text: words, not a URL, an id or a label."""
    if len(text) < 2 or _URLISH.match(text):
        return False
    return " " in text.strip() or len(text) > 40


def _ref(value: dict[str, Any], root: Any) -> Any:
    """What an Apollo reference (``{"__ref": id}``, or ``{"type": "id", "id": id}``)
    points to in the normalised cache ``root``."""
    if not isinstance(root, dict):
        return None
    target = value.get("__ref")
    if target is None and value.get("type") == "id" and "generated" in value:
        target = value.get("id")
    return root.get(target) if isinstance(target, str) else None


_state_runs = compiled("state_runs")


def runs(data: Any) -> list[Run]:
    """Every body-like value of ``data`` (references followed) as a run of prose-like
    strings, in document order (by the compiled walk where it is built)."""
    if _state_runs is None:
        return python_runs(data)
    keys = (BODY_KEYS, SKIP_KEYS, TEXT_KEYS, TITLE_KEYS)
    found: list[Run] = _state_runs(
        data, MAX_NODES, MAX_DEPTH, *keys, _key, _prose, _unique, normalise_space, Run
    )
    return found


def python_runs(data: Any) -> list[Run]:
    """``runs`` in Python."""
    found: list[Run] = []
    budget = [MAX_NODES]
    _walk(data, data, found, budget, 0, None, set())
    return found


def _title(obj: dict[str, Any]) -> str | None:
    for key in TITLE_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return normalise_space(value)
    return None


def _walk(
    value: Any,
    root: Any,
    found: list[Run],
    budget: list[int],
    depth: int,
    title: str | None,
    followed: set[int],
) -> None:
    """Look for body-like keys under ``value`` (each reference followed once)."""
    budget[0] -= 1
    if budget[0] <= 0 or depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        target = _ref(value, root)
        if target is not None:
            if id(target) not in followed:
                followed.add(id(target))
                _walk(target, root, found, budget, depth + 1, title, followed)
            return
        title = _title(value) or title
        for key, item in value.items():
            name = _key(key)
            if name in BODY_KEYS and (pieces := _unique(_pieces(item, root, budget))):
                found.append(Run(pieces, title, sum(len(p) for p in pieces)))
            if name not in SKIP_KEYS:
                if isinstance(item, (dict, list)):
                    _walk(item, root, found, budget, depth + 1, title, followed)
                else:
                    budget[0] -= 1  # a scalar: visited, with nothing under it
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _walk(item, root, found, budget, depth + 1, title, followed)
            else:
                budget[0] -= 1


def _pieces(value: Any, root: Any, budget: list[int]) -> list[str]:
    """The prose-like strings of a body-like value, in document order (each reference
    followed once)."""
    pieces: list[str] = []
    followed: set[int] = set()
    stack: list[tuple[Any, bool, int]] = [(value, True, 0)]
    while stack:
        item, textual, depth = stack.pop()
        budget[0] -= 1
        if budget[0] <= 0 or depth > MAX_DEPTH:
            break
        if isinstance(item, str):
            if textual and _prose(item):
                pieces.append(item)
        elif isinstance(item, list):
            stack.extend((v, textual, depth + 1) for v in reversed(item))
        elif isinstance(item, dict):
            target = _ref(item, root)
            if target is not None:
                if id(target) not in followed and target is not value:
                    followed.add(id(target))
                    stack.append((target, textual, depth + 1))
                continue
            children = [
                (v, name in TEXT_KEYS, depth + 1)
                for k, v in item.items()
                if (name := _key(k)) not in SKIP_KEYS
            ]
            stack.extend(reversed(children))
    return pieces


def _unique(pieces: list[str]) -> list[str]:
    """``pieces`` without repeats: a state often holds each paragraph twice (as HTML
    and as plain text), and a repeated string is never two paragraphs of one body."""
    seen: set[str] = set()
    unique = []
    for piece in pieces:
        key = _plain(piece).casefold()
        if key not in seen:
            seen.add(key)
            unique.append(piece)
    return unique


def _words(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + 3]) for i in range(max(len(words) - 2, 1))}


def _holds(run_text: str, dom: str) -> bool:
    """Whether ``run_text`` holds most of the DOM body's text."""
    theirs = _words(dom)
    return bool(theirs) and len(theirs & _words(run_text)) >= MIN_OVERLAP * len(theirs)


def _plain(piece: str) -> str:
    return normalise_space(html.unescape(_ANY_TAG.sub(" ", piece)))


def _same_title(title: str | None, page_title: str | None) -> bool:
    """Whether a state object's title is the page's (or either is unknown)."""
    if not title or not page_title:
        return True
    a, b = set(_WORD.findall(title.lower())), set(_WORD.findall(page_title.lower()))
    return bool(a and b) and (a <= b or b <= a or len(a & b) >= 0.5 * len(a | b))


def _candidates(
    states: Sequence[State], jsonld_body: str, wanted: int
) -> Iterator[tuple[str, Run]]:
    """(container, run) of every embedded run of at least ``wanted`` characters."""
    if len(jsonld_body) >= wanted:
        yield JSONLD, Run([jsonld_body], None, len(jsonld_body))
    for state in states:
        if len(state.text) < wanted:
            continue  # too short to hold that much text
        data = parse_state(state)
        if data is None:
            continue
        for run in runs(data):
            if run.chars >= wanted:
                yield state.name, run


def reading(
    states: Sequence[State],
    jsonld_body: str,
    dom_lines: Sequence[str],
    page_title: str | None,
    clean_html: Callable[[str], list[str]],
) -> Reading | None:
    """The article read from the page's embedded data, when the DOM body is missing
    or under ``EMBEDDED_SHARE`` of it; else None."""
    dom = "\n".join(dom_lines)
    wanted = max(MIN_EMBEDDED_CHARS, int(len(dom) / EMBEDDED_SHARE) + 1)
    best: tuple[float, str, Run] | None = None
    for container, run in _candidates(states, jsonld_body, wanted):
        text = "\n".join(_plain(p) for p in run.pieces)
        if len(text) < wanted:
            continue
        if len(dom) >= DOM_TEXT_CHARS:
            if not _holds(text, dom):
                continue  # another text than the page's own
        elif container != JSONLD and not _same_title(run.title, page_title):
            continue  # an object about another article (a teaser, the next story)
        # a state keeps the paragraphs apart: it wins over a JSON-LD text of about its size
        score = len(text) * (1.0 if container == JSONLD else 1.1)
        if best is None or score > best[0]:
            best = (score, container, run)
    if best is None:
        return None
    _, container, run = best
    lines = _lines(run.pieces, clean_html)
    if sum(len(line) for line in lines) < wanted * EMBEDDED_SHARE:
        return None
    kind = "jsonld" if container == JSONLD else "embedded_state"
    return Reading(lines, kind, container, run.pieces)


def _lines(pieces: Sequence[str], clean_html: Callable[[str], list[str]]) -> list[str]:
    """The text of a run: HTML pieces cleaned like any page, plain ones split at
    line breaks."""
    if any(_BLOCK_TAG.search(p) for p in pieces):
        markup = "".join(p if _BLOCK_TAG.search(p) else f"<p>{html.escape(p)}</p>" for p in pieces)
        return clean_html(markup)
    lines: list[str] = []
    for piece in pieces:
        text = _ANY_TAG.sub("", piece) if "<" in piece else piece
        lines.extend(
            line for raw in text.split("\n") if (line := normalise_space(html.unescape(raw)))
        )
    return lines
