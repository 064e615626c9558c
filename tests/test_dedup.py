"""Story clusters: copies of one story share a story_id across templates, edits and
runs; different reports of one event stay apart; output.duplicates decides what
later copies do."""

import json

import pytest

from scraper.cli import main
from scraper.dedup import MIN_CONTAINMENT, Clusters, containment, signature
from scraper.extract import extract
from scraper.models import Article
from scraper.store import Store

from .conftest import FIXTURES, all_records, write_config

STORY = [
    "Firefighters brought a large blaze at a recycling plant on the edge of the port under control on Sunday evening after battling the flames for more than nine hours.",
    "Thick black smoke drifted over the eastern districts of the city for most of the day, and residents were told to keep their windows and doors closed.",
    "The fire started shortly before dawn in a hall where thousands of tonnes of plastic waste were stored, the regional fire service said in a statement.",
    "About 120 firefighters and 40 vehicles were deployed at the height of the operation, including two fireboats that pumped water from the harbour basin.",
    "No one was injured, although two workers were treated for smoke inhalation as a precaution and later released from hospital.",
    "Air quality measurements taken around the site showed no dangerous concentrations of toxic gases, the environment agency said.",
    "The cause of the fire was not yet known. Police said investigators would enter the building once it had cooled down and was declared safe.",
    "The plant, which employs 85 people, processes much of the region's household packaging waste and is expected to remain closed for several weeks.",
]
EXTRA = "Editor's note: this story has been updated with the latest figures from the fire service."
CREDIT = "This article originally appeared on The Conversation."


def plain(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><body><article><h1>{title}</h1>{body}</article></body></html>"


def portal(title: str, paragraphs: list[str]) -> str:
    body = "".join(f'<p class="text">{p}</p>' for p in paragraphs)
    return (
        '<html><head><meta property="og:site_name" content="Portal"></head><body>'
        '<nav><a href="/">Home</a><a href="/news">News</a></nav>'
        f'<main><h1 class="headline">{title}</h1><div class="story-body">{body}</div>'
        '<aside class="related"><h3>Related Articles</h3><a href="/x">Another story</a></aside>'
        "</main></body></html>"
    )


def table(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p><font size=2>{p}</font></p>" for p in paragraphs)
    return (
        f"<html><body><table><tr><td><b><h1>{title}</h1></b></td></tr>"
        f"<tr><td>{body}</td></tr><tr><td>Copyright 2026 Old Portal</td></tr></table>"
        "</body></html>"
    )


def yahoo_like(title: str, paragraphs: list[str]) -> str:
    half = len(paragraphs) // 2
    first = "".join(f"<p>{p}</p>" for p in paragraphs[:half])
    rest = "".join(f"<p>{p}</p>" for p in paragraphs[half:])
    return (
        f'<html><body><header><h1>{title}</h1></header><div class="caas-body">{first}'
        f"<p>Story continues</p>{rest}</div>"
        '<div class="recommended"><h2>Recommended Stories</h2></div></body></html>'
    )


def copies() -> list[Article]:
    """The story on four templates: as first published, trimmed, with a paragraph
    added at the top, and with its headline reworded, its last paragraph cut and a
    credit line added."""
    pages = [
        (plain, "Fire at port recycling plant brought under control", STORY),
        (portal, "Fire at port recycling plant brought under control", STORY[:-2]),
        (table, "Fire at port recycling plant brought under control", [EXTRA, *STORY]),
        (
            yahoo_like,
            "Huge blaze at recycling plant: nine hours to tame flames",
            [*STORY[:-1], CREDIT],
        ),
    ]
    return [
        extract(template(title, text), f"https://site{n}.example/news/fire")
        for n, (template, title, text) in enumerate(pages)
    ]


def test_a_story_republished_on_four_templates_with_edits_shares_one_story_id(tmp_path):
    articles = copies()
    assert len({a.content_hash for a in articles}) == 4  # four different texts
    assert articles[3].source == "The Conversation" and CREDIT not in articles[3].text
    with Store(tmp_path / "state.sqlite") as store:
        clusters = Clusters(store, "run")
        assigned = [clusters.assign(a) for a in articles]
    first = articles[0].id
    assert [a.story_id for a in assigned] == [first] * 4
    assert [a.duplicate_of for a in assigned] == [None, first, first, first]


def test_two_reports_of_one_event_stay_apart(tmp_path):
    events = json.loads((FIXTURES / "stories" / "same_event.json").read_text(encoding="utf-8"))
    with Store(tmp_path / "state.sqlite") as store:
        clusters = Clusters(store, "run")
        for event in events:
            a, b = (
                Article(
                    url=f"https://{n}.example/a",
                    canonical_url=f"https://{n}.example/a",
                    title=r["title"],
                    paragraphs=r["paragraphs"],
                )
                for n, r in zip(("one", "two"), event["reports"], strict=True)
            )
            first, second = clusters.assign(a), clusters.assign(b)
            assert first.story_id != second.story_id, event["event"]
            assert second.duplicate_of is None


def test_containment_holds_for_a_trimmed_copy_and_not_for_another_report():
    whole, trimmed = signature("\n".join(STORY)), signature("\n".join(STORY[:4]))
    assert containment(whole, trimmed) >= 0.9
    other = signature(" ".join(reversed(" ".join(STORY).split())))  # same words, no shared shingles
    assert containment(whole, other) < MIN_CONTAINMENT


def test_a_text_too_short_to_compare_starts_its_own_story(tmp_path):
    short = [
        Article(
            url=f"https://{n}.example/a",
            canonical_url=f"https://{n}.example/a",
            title="t",
            paragraphs=["Storm warning for the coast tonight."],
        )
        for n in ("a", "b")
    ]
    with Store(tmp_path / "state.sqlite") as store:
        clusters = Clusters(store, "run")
        assert [clusters.assign(a).duplicate_of for a in short] == [None, None]


def test_a_copy_of_a_story_first_seen_on_an_agency_site_takes_that_agency(tmp_path):
    own = Article(
        url="https://apnews.com/article/fire",
        canonical_url="https://apnews.com/article/fire",
        title="Fire",
        paragraphs=STORY,
    )
    copy = Article(
        url="https://portal.example/fire",
        canonical_url="https://portal.example/fire",
        title="Fire",
        paragraphs=STORY[:-1],
    )
    with Store(tmp_path / "state.sqlite") as store:
        clusters = Clusters(store, "run-1")
        clusters.assign(own)
        clusters.save()
    with Store(tmp_path / "state.sqlite") as store:
        from scraper.dedup import credited

        assigned = Clusters(store, "run-2").assign(copy)
        article = credited(copy, assigned)
    assert (article.source, article.source_evidence) == ("AP", "cluster")
    assert article.duplicate_of == own.id


def test_stories_persist_in_the_state_with_their_band_keys(tmp_path):
    path = tmp_path / "state.sqlite"
    article = copies()[0]
    with Store(path) as store:
        clusters = Clusters(store, "run")
        clusters.assign(article)
        clusters.save()
    with Store(path) as store:
        member = store.story_member(article.id)
        assert member is not None and member.story_id == article.id
        sig = signature(article.text)
        assert [m.article_id for m in store.story_candidates(sig.band_keys())] == [article.id]
        assert store.story(article.id).copies == 1


# Through the pipeline: two real runs on one state, and output.duplicates.


def write_pages(folder, pages):
    folder.mkdir(parents=True, exist_ok=True)
    for name, html in pages:
        (folder / f"{name}.html").write_text(html, encoding="utf-8")


def story_pages():
    return [
        ("a_first", plain("Fire at port recycling plant brought under control", STORY)),
        ("b_trimmed", portal("Fire at port recycling plant brought under control", STORY[:-2])),
    ]


def test_a_cluster_spans_two_runs(tmp_path):
    pages = tmp_path / "pages"
    write_pages(pages, story_pages()[:1])
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config)]) == 0
    write_pages(pages, story_pages()[1:])  # a week later, a copy elsewhere
    assert main(["--config", str(config)]) == 0
    first, second = all_records(tmp_path / "out")
    assert first["story_id"] == first["id"] and first["duplicate_of"] is None
    assert second["story_id"] == first["id"] and second["duplicate_of"] == first["id"]


@pytest.mark.parametrize(
    ("mode", "emitted", "duplicate_of"),
    [("keep", 2, [None, None]), ("mark", 2, [None, "first"]), ("drop", 1, [None])],
)
def test_output_duplicates_keeps_marks_or_drops_later_copies(tmp_path, mode, emitted, duplicate_of):
    pages = tmp_path / "pages"
    write_pages(pages, story_pages())
    config = write_config(
        tmp_path,
        [{"name": "fx", "type": "files", "path": str(pages)}],
        output={"dir": str(tmp_path / "out"), "formats": ["jsonl"], "duplicates": mode},
    )
    assert main(["--config", str(config)]) == 0
    records = sorted(all_records(tmp_path / "out"), key=lambda r: r["duplicate_of"] or "")
    assert len(records) == emitted
    first = next(r["id"] for r in records if "a_first" in r["url"])
    assert [r["duplicate_of"] for r in records] == [
        first if d == "first" else d for d in duplicate_of
    ]
    assert {r["story_id"] for r in records} == {first}
    report = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    assert report["sources"]["fx"]["duplicates_dropped"] == (1 if mode == "drop" else 0)


def test_status_shows_the_largest_clusters_of_the_latest_run(tmp_path, capsys):
    pages = tmp_path / "pages"
    write_pages(pages, story_pages())
    config = write_config(tmp_path, [{"name": "fx", "type": "files", "path": str(pages)}])
    assert main(["--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "largest story clusters" in out
    line = next(line for line in out.splitlines() if "Fire at port" in line)
    assert line.split()[0] == "2"


def test_schema_describes_the_new_fields(capsys):
    assert main(["schema"]) == 0
    properties = json.loads(capsys.readouterr().out)["properties"]
    assert {"source", "source_evidence", "source_url", "story_id", "duplicate_of"} <= set(
        properties
    )
