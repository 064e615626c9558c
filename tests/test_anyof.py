"""Matching any of several patterns by trying only the alternatives that can start
the text: always the answer of the patterns themselves."""

from __future__ import annotations

import random
import re

from scraper.anyof import AnyOf, _alternatives
from scraper.clean import CARD_LABEL, DROP_LINES, END_MARKERS

from .conftest import mutated

PATTERNS = [
    re.compile(
        r"(?ix)^(?: advert(?:isement)? | \(c\)\ \d{4} | (?:get\ )?our\ list | \d+\ min"
        r" | .{2,20}\ said\ so | [a-c]{2}/x | (?:no|yes)\ way )[.!]?$"
    ),
    re.compile(r"^(?:Share|sh\x41re|e?mail|\u017fign in|\w+ up)$"),  # escapes it does not read
    re.compile(r"(?x)^(?: a | b )# comment (the whole pattern is one alternative)\n"),
    re.compile(r"^related (?:story|post)[.:]?$", re.IGNORECASE),
    re.compile(r"(?i)caption:.*"),  # no ^: one alternative that can start with anything
]
TEXTS = [
    "Advertisement",
    "advert!",
    "(c) 2024",
    "our list.",
    "Get our list",
    "5 min",
    "They said so",
    "ab/x",
    "No way",
    "Share",
    "shAre",
    "email",
    "mail",
    "\u017fign in",
    "sign up",
    "a",
    "Related Story:",
    "caption: x",
]
PIECES = ["", " ", ".", "!", "/", "(", ")", "4", "\u212a", "\u017f", "\u0130", "A", "x", "\n"]


def test_it_matches_where_one_of_the_patterns_does():
    rng = random.Random(7)
    cased = [f(t) for t in TEXTS for f in (str, str.lower, str.upper, str.swapcase)]
    texts = TEXTS + [mutated(rng.choice(cased), PIECES, rng) for _ in range(20000)]
    for patterns in ([PATTERNS[0]], PATTERNS[1:3], PATTERNS, [DROP_LINES, END_MARKERS, CARD_LABEL]):
        any_of = AnyOf.of(patterns)
        assert [any_of.match(t) for t in texts] == [
            any(p.match(t) for p in patterns) for t in texts
        ]
    assert all(AnyOf.of(PATTERNS).match(t) for t in TEXTS)


def test_a_listed_pattern_is_cut_into_its_alternatives_each_with_its_first_characters():
    alternatives = _alternatives(PATTERNS[0])
    assert [a.first for a in alternatives] == [
        {"a"},
        {"("},
        {"g", "o"},  # the first item may be missing
        set("0123456789"),
        None,
        None,  # a class is not read
        {"n", "y"},
    ]
    assert alternatives[0].source == r"(?ix:^(?: advert(?:isement)? )[.!]?$)"
    # a piece of text every match holds, where the alternative can start with anything
    assert alternatives[4].needed == " said so"


def test_what_it_does_not_read_can_start_with_anything():
    # the escape \x41 is "A" (the long s matches "s" ignoring case, but not here)
    assert [a.first for a in _alternatives(PATTERNS[1])][:3] == [{"S"}, {"s"}, {"e", "m"}]
    assert _alternatives(PATTERNS[1])[1].needed == "sh"
    assert [a.first for a in _alternatives(PATTERNS[2])] == [None]  # a comment in it
    assert [a.first for a in _alternatives(PATTERNS[3])] == [{"r"}]
    # ignoring case, a letter outside ASCII may match an ASCII one
    assert _alternatives(re.compile("(?i)^(?:\u017fign|sign)$"))[0].first is None
