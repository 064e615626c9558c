"""App-rendered pages: the article read from the state the page embeds, on the
hand-written fixtures of three state formats and on small pages the tests write."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from scraper import embedded
from scraper.embedded import State, parse_state, revive, runs
from scraper.errors import NotAnArticle
from scraper.extract import extract

from .conftest import FIXTURES, compiled_module

APPS = ["next_portal", "nuxt_portal", "apollo_portal"]
PARAGRAPHS = [
    "The city council voted on Tuesday to turn the old tram depot into a covered market with forty stalls.",
    "Work will begin in the spring and the market should open before the end of next year, officials said.",
    "Traders who sell at the open-air market on the square will be offered the first stalls at a lower rent.",
    "Some residents said they feared the market would bring more traffic to the narrow streets around it.",
]  # fmt: skip
TITLE = "Old tram depot to become a covered market"


def expected(name: str) -> dict:
    return json.loads((FIXTURES / "apps" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", APPS)
def test_the_full_body_of_an_app_rendered_page_comes_out(name):
    want = expected(name)
    article = extract((FIXTURES / "apps" / f"{name}.html").read_bytes(), want["url"])
    assert article.title == want["title"]
    assert article.paragraphs == want["paragraphs"]
    assert article.extraction == "embedded_state"


@pytest.mark.parametrize("name", APPS)
def test_the_dom_of_an_app_rendered_fixture_holds_at_most_a_teaser(name):
    html = (FIXTURES / "apps" / f"{name}.html").read_text(encoding="utf-8")
    without_state = html.split("<script", 1)[0] + "</body></html>"
    want = expected(name)
    try:
        paragraphs = extract(without_state, want["url"]).paragraphs
    except NotAnArticle:
        paragraphs = []
    assert len(paragraphs) < len(want["paragraphs"]) / 2


def page(head: str = "", body: str = "", script: str = "") -> str:
    return f"<html><head>{head}</head><body><h1>{TITLE}</h1>{body}{script}</body></html>"


def test_a_jsonld_article_body_is_read_when_the_dom_has_none():
    data = {"@type": "NewsArticle", "headline": TITLE, "articleBody": "\n".join(PARAGRAPHS)}
    head = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    article = extract(page(head, "<div id='app'>Loading</div>"), "https://city.example/a")
    assert article.paragraphs == PARAGRAPHS
    assert article.extraction == "jsonld"


def test_the_dom_body_stays_when_it_is_the_whole_article():
    data = {"@type": "NewsArticle", "headline": TITLE, "articleBody": "\n".join(PARAGRAPHS)}
    head = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    body = "<article>" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) + "</article>"
    article = extract(page(head, body), "https://city.example/a")
    assert article.paragraphs == PARAGRAPHS
    assert article.extraction == "dom"


def test_a_redux_state_in_rich_text_nodes_is_read():
    state = {
        "article": {
            "data": {
                "title": TITLE,
                "body": {
                    "type": "doc",
                    "content": [
                        {"type": "paragraph", "children": [{"text": p[:30]}, {"text": p[30:]}]}
                        for p in PARAGRAPHS
                    ],
                },
            }
        },
        "nav": {"items": [{"title": "News", "url": "/news"}]},
    }
    script = f"<script>window.__PRELOADED_STATE__ = {json.dumps(state)};</script>"
    article = extract(page(body="<div id='root'></div>", script=script), "https://city.example/a")
    assert article.extraction == "embedded_state"
    assert " ".join(article.paragraphs).replace(" ", "") == "".join(PARAGRAPHS).replace(" ", "")


def test_a_nuxt3_devalue_payload_is_revived_and_read():
    values: list = [{"data": 1}, {"story": 2}, {"headline": 3, "paragraphs": 4}, TITLE]
    values.append(list(range(5, 5 + len(PARAGRAPHS))))
    values.extend(PARAGRAPHS)
    script = f'<script type="application/json" id="__NUXT_DATA__">{json.dumps(values)}</script>'
    article = extract(page(body="<div id='__nuxt'></div>", script=script), "https://c.example/a")
    assert article.paragraphs == PARAGRAPHS
    assert article.extraction == "embedded_state"


def test_another_articles_body_in_the_state_is_not_taken():
    state = {
        "page": {"title": TITLE, "teaser": PARAGRAPHS[0]},
        "next": {"headline": "Storm closes the harbour for a second day", "body": PARAGRAPHS * 2},
    }
    script = f"<script>window.__INITIAL_STATE__ = {json.dumps(state)};</script>"
    with pytest.raises(NotAnArticle, match="no body text"):
        extract(page(body="<div id='app'></div>", script=script), "https://city.example/a")


def test_a_state_that_does_not_hold_the_doms_text_is_another_article():
    body = f"<article><p>{PARAGRAPHS[0]}</p><p>{PARAGRAPHS[1]}</p></article>"
    other = [
        f"Unrelated sentence number {i} about the weather on the coast this week."
        for i in range(20)
    ]
    state = {"story": {"body": other}}
    script = f"<script>window.__INITIAL_STATE__ = {json.dumps(state)};</script>"
    article = extract(page(body=body, script=script), "https://city.example/a")
    assert article.paragraphs == PARAGRAPHS[:2]
    assert article.extraction == "dom"


def test_hostile_state_scripts_are_passed_over():
    for text in ("{" * 100_000, "[" * 50_000 + "]" * 50_000, "{a: 'x'", "(function(){"):
        assert runs(parse_state(State("__NUXT__", text))) == []
        assert runs(parse_state(State("__APOLLO_STATE__", text))) == []
    assert revive([[0]]) == [None]  # a cycle reads as null
    article = extract(
        page(
            body="".join(f"<p>{p}</p>" for p in PARAGRAPHS),
            script="<script>window.__X__ = {{{;</script>",
        ),
        "https://city.example/a",
    )
    assert article.paragraphs == PARAGRAPHS


def test_a_state_is_read_as_json_once_or_else_as_a_javascript_object(monkeypatch):
    calls = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text: calls.append(text) or loads(text))
    assert parse_state(State("__APOLLO_STATE__", '{"a": {"text": "x y"}}')) == {
        "a": {"text": "x y"}
    }
    assert len(calls) == 1  # a state can be megabytes: parsed once
    assert parse_state(State("__APOLLO_STATE__", "{a: {text: 'x y'}}")) == {"a": {"text": "x y"}}


def test_apollo_references_are_followed_without_looping():
    data = {
        "Story:1": {"body": [{"__ref": "P:1"}, {"__ref": "P:2"}, {"__ref": "Story:1"}]},
        "P:1": {"text": PARAGRAPHS[0]},
        "P:2": {"text": PARAGRAPHS[1]},
    }
    found = runs(data)
    assert max(found, key=lambda r: r.chars).pieces == PARAGRAPHS[:2]


def test_a_state_holding_each_paragraph_twice_gives_each_once():
    blocks = [{"type": "paragraph", "html": f"<p>{p}</p>", "text": p} for p in PARAGRAPHS]
    script = (
        f"<script>window.__INITIAL_STATE__ = {json.dumps({'story': {'content': blocks}})};</script>"
    )
    article = extract(page(body="<div id='app'></div>", script=script), "https://city.example/a")
    assert (article.extraction, article.paragraphs) == ("embedded_state", PARAGRAPHS)
    body = "<article>" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) + "</article>"
    article = extract(page(body=body, script=script), "https://city.example/a")
    assert (article.extraction, article.paragraphs) == ("dom", PARAGRAPHS)


def test_every_value_visited_counts_against_the_node_budget(monkeypatch):
    monkeypatch.setattr("scraper.embedded.MAX_NODES", 40)
    story = {"body": PARAGRAPHS[:2]}
    assert [r.pieces for r in runs({"ids": list(range(10)), "story": story})] == [PARAGRAPHS[:2]]
    # the numbers before the story use up the budget: its body is never reached
    assert runs({"ids": list(range(40)), "story": story}) == []
    assert runs([0] * 40 + [story]) == []


KEYS = ["body", "Content", "text", "paragraphs", "html", "title", "headline", "name", "caption"]
KEYS += ["url", "id", "type", "generated", "__ref", "items", "data", "children", "meta", "x_y"]
STRINGS = [*PARAGRAPHS, TITLE, "", " ", "ab", "a b", "https://x.example/a b", "img.jpg", "P:1"]
STRINGS += ["<p>Two &amp; <b>tags</b></p>", "x" * 45, "\u00a0 \u212a", "id"]


def random_state(rng: random.Random, depth: int = 0) -> Any:
    if depth > 5 or rng.random() < 0.3:
        return rng.choice([*STRINGS, 1, 2.5, True, None])
    if rng.random() < 0.4:
        return [random_state(rng, depth + 1) for _ in range(rng.randrange(5))]
    value = {rng.choice(KEYS): random_state(rng, depth + 1) for _ in range(rng.randrange(6))}
    if rng.random() < 0.15:
        value = {"__ref": rng.choice(["P:1", "P:2", "Story:1", "none"])}
    elif rng.random() < 0.1:
        value = {"type": "id", "id": rng.choice(["P:1", "Story:1"]), "generated": False}
    return value


def test_the_compiled_state_walk_finds_the_runs_the_python_one_finds(monkeypatch):
    compiled_module("_walk")
    if embedded._state_runs is None:
        pytest.skip("the compiled walk is turned off")
    rng = random.Random(14)
    found = 0
    for budget in (2_000_000, 60, 7):
        monkeypatch.setattr("scraper.embedded.MAX_NODES", budget)
        for _ in range(800):
            data = random_state(rng)
            if isinstance(data, dict) and rng.random() < 0.5:  # an Apollo cache around it
                shared = random_state(rng)
                data.update({"P:1": shared, "P:2": [shared, shared], "Story:1": dict(data)})
            elif rng.random() < 0.2:  # a devalue payload: values shared, a cycle as null
                data = revive([[1, 2, 3], {"body": 2, "title": 4}, [5, 0], TITLE, *PARAGRAPHS])
            assert runs(data) == embedded.python_runs(data)
            found += len(runs(data))
    assert found > 500
