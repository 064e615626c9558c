"""Whether a text matches any of several anchored patterns, trying only the
alternatives that can match it.

The line patterns of ``scraper.clean`` are long lists of alternatives (``^(?:a | b |
...)[.!]?$``), and most short texts of a page match none: the regex engine tries
every alternative on each. Most alternatives start with a character of their own
("advertisement", "(?:copyright|©|\\(c\\))"), so ``AnyOf`` cuts each pattern into its
alternatives and keeps, for each ASCII character, one pattern of those that can start
with it. The few that can start with anything (``.{2,80}\\ contributed...``) are
the slow ones: each is tried only on texts holding a piece of text it needs (" contributed "),
where that is read as plain text (a case-sensitive pattern).

Reading a pattern's source here knows a subset of the syntax: whatever it does not
know makes an alternative one that can start with anything, never a wrong answer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

# The leading inline flags of a pattern, and the letters of the flags it has (those
# given to re.compile too).
_FLAGS = re.compile(r"(?:\(\?[a-zA-Z]+\))*")
_FLAG_LETTERS = ((re.I, "i"), (re.M, "m"), (re.S, "s"), (re.X, "x"), (re.A, "a"))
# ``^(?:alternatives)tail``, the tail without groups (such as ``[.!]?$``)
_LISTED = re.compile(r"(?s)\^\(\?:(?P<inner>.*)\)(?P<tail>[^()|\\]*)")
_SYNTAX = frozenset("\\.[](){}?*+|^$#")
_OPTIONAL = ("?", "*", "{")  # after an item: it may be missing, or be repeated
_NEVER = re.compile(r"(?!)")
# Escapes of a class of characters (the others, such as ``\\x41``, are not read here).
_CLASSES = frozenset("dDsSwWbBAZ")


def _syntax(text: str) -> Iterator[tuple[int, str, int]]:
    """The characters of the pattern ``text`` outside classes and escapes, with their
    place and the depth of the groups around them."""
    depth, i, in_class = 0, 0, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 1
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += text.startswith("^", i + 1)
            i += text.startswith("]", i + 1)
        else:
            depth -= c == ")"
            yield i, c, depth
            depth += c == "("
        i += 1


def _split(text: str) -> list[str] | None:
    """``text`` cut at each ``|`` outside its groups; None if a ``)`` in it closes a
    group opened before it."""
    parts, start = [], 0
    for i, c, depth in _syntax(text):
        if depth < 0:
            return None
        if c == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _closing(text: str, start: int) -> int:
    """Where the class or group opening at ``start`` in ``text`` closes (-1: nowhere)."""
    if text[start] == "(":
        return next((start + i for i, c, d in _syntax(text[start:]) if c == ")" and d == 0), -1)
    i = start + 1
    i += text.startswith("^", i)
    i += text.startswith("]", i)
    while i < len(text) and text[i] != "]":
        i += 2 if text[i] == "\\" else 1
    return i if i < len(text) else -1


def _items(text: str, verbose: bool) -> Iterator[tuple[str, str, int]]:
    """The items of the pattern ``text`` at its top level (a character, an escape, a
    class or a group), each with the quantifier after it ("" for none) and where the
    rest of the pattern starts; up to an escape not known here (such as ``\\x41``)."""
    i = 0
    while i < len(text):
        if verbose and text[i].isspace():
            i += 1
            continue
        if text[i] == "\\" and text[i + 1 : i + 2].isalnum() and text[i + 1] not in _CLASSES:
            return
        end = i + 2 if text[i] == "\\" else _closing(text, i) + 1 if text[i] in "([" else i + 1
        if end == 0:
            return
        after = end
        while verbose and text[after : after + 1].isspace():
            after += 1
        quantifier = ""
        if text[after : after + 1] in ("?", "*", "+"):
            quantifier = text[after]
        elif text.startswith("{", after):
            quantifier = text[after : text.find("}", after) + 1] or text[after:]
        rest = after + len(quantifier) if quantifier else end
        yield text[i:end], quantifier, rest
        i = rest


def _literal(item: str) -> str | None:
    """The one character the item ``item`` matches, if it is a character or an
    escaped one."""
    if len(item) == 1 and item not in _SYNTAX and not item.isspace():
        return item
    if len(item) == 2 and item[0] == "\\" and not item[1].isalnum():
        return item[1]
    return None


def _first_chars(text: str, verbose: bool) -> set[str] | None:
    """The characters every match of the pattern ``text`` starts with, case
    counting; None for any (or not known here). Of ``\\d`` only the ASCII digits
    count: a text's first character is looked up only in ASCII."""
    item, quantifier, rest = next(_items(text, verbose), ("", "", 0))
    if (literal := _literal(item)) is not None:
        found: set[str] | None = {literal}
    elif item == "\\d":
        found = set(string.digits)
    elif item.startswith("(?:"):
        found = set()
        for part in _split(item[3:-1]) or [""]:
            first = _first_chars(part, verbose)
            found = None if first is None or found is None else found | first
    else:
        return None
    if found is not None and (quantifier in ("?", "*") or quantifier.startswith(("{0", "{,"))):
        after = _first_chars(text[rest:], verbose)  # the item may be missing
        return None if after is None else found | after
    return found


def _needed(text: str, verbose: bool) -> str:
    """The longest run of characters every match of the pattern ``text`` holds in a
    row, as read at its top level ("" for none)."""
    runs = [""]
    for item, quantifier, _ in _items(text, verbose):
        literal = _literal(item)
        if literal is None or quantifier:
            runs.append("")
        else:
            runs[-1] += literal
    return max(runs, key=len)


@dataclass(frozen=True)
class AnyOf:
    """Whether a text matches one of some patterns (each matched from the start of
    the text): ``AnyOf.of(patterns).match(text)``."""

    by_first: dict[str, re.Pattern[str]]  # by a text's first character, if ASCII
    full: re.Pattern[str]  # all the alternatives, for the other texts
    held: tuple[tuple[str, re.Pattern[str]], ...]  # each tried on texts holding its piece
    folded: bool  # a text's first character is looked up in lower case

    @classmethod
    def of(cls, patterns: Sequence[re.Pattern[str]]) -> AnyOf:
        alternatives = [a for p in patterns for a in _alternatives(p)]
        folded = any(a.ignoring_case for a in alternatives)
        if folded:  # a text's first character is looked up in lower case
            alternatives = [
                a._replace(first={c.lower() for c in a.first}) if a.first else a
                for a in alternatives
            ]
        held = [
            a
            for a in alternatives
            if a.first is None and len(a.needed) >= 3 and not a.ignoring_case
        ]
        by_first = {}
        for char in map(chr, range(128)):
            chosen = [
                a.source
                for a in alternatives
                if a not in held and (a.first is None or char in a.first)
            ]
            by_first[char] = re.compile("|".join(chosen)) if chosen else _NEVER
        return cls(
            by_first,
            re.compile("|".join(a.source for a in alternatives)),
            tuple((a.needed, re.compile(a.source)) for a in held),
            folded,
        )

    def match(self, text: str) -> bool:
        first = text[:1]
        if self.folded:
            first = first.lower() if first.isascii() else ""
        pattern = self.by_first.get(first)
        if pattern is None:
            return self.full.match(text) is not None
        if pattern.match(text):
            return True
        for needed, held in self.held:  # noqa: SIM110 - a generator costs more here
            if needed in text and held.match(text):
                return True
        return False


class _Alternative(NamedTuple):
    source: str  # a pattern of its own
    # The characters its matches start with (None: any), lower-cased where it ignores
    # case; a piece of text every match holds ("" for none known)
    first: set[str] | None
    needed: str
    ignoring_case: bool


def _alternatives(pattern: re.Pattern[str]) -> list[_Alternative]:
    """``pattern``'s alternatives, each a pattern of its own (``(?x)^(?:a|b)$`` gives
    ``(?x:^(?:a)$)`` and ``(?x:^(?:b)$)``: one of them matches where ``pattern``
    does); one for a pattern of another shape."""
    flags = "".join(letter for flag, letter in _FLAG_LETTERS if pattern.flags & flag)
    leading = _FLAGS.match(pattern.pattern)
    body = pattern.pattern[leading.end() if leading else 0 :]
    verbose, ignoring_case = "x" in flags, "i" in flags
    listed = _LISTED.fullmatch(body)
    parts = _split(listed["inner"]) if listed else None
    if verbose and "#" in body:  # comments are not read here
        return [_Alternative(f"(?{flags}:{body}\n)", None, "", ignoring_case)]
    if listed is None or parts is None:
        first = _first_chars(body[1:], verbose) if body.startswith("^") else None
        return [
            _Alternative(f"(?{flags}:{body})", _folded(first, ignoring_case), "", ignoring_case)
        ]
    return [
        _Alternative(
            f"(?{flags}:^(?:{part}){listed['tail']})",
            _folded(_first_chars(part, verbose), ignoring_case),
            _needed(part, verbose),
            ignoring_case,
        )
        for part in parts
    ]


def _folded(first: set[str] | None, ignoring_case: bool) -> set[str] | None:
    """``first``, the characters an alternative starts with, where ignoring case: in
    lower case, none outside ASCII (those match ASCII ones too: the long s "ſ" matches
    "s"; such an alternative may start with any)."""
    if first is None or not ignoring_case:
        return first
    return {c.lower() for c in first} if all(c.isascii() for c in first) else None
