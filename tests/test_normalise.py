import unicodedata

from scraper.models import Article, Caption
from scraper.normalise import (
    _INVISIBLE,
    article_seed_text,
    canonicalise_url,
    normalise_date,
    normalise_line,
    normalise_space,
    parse_seed_text,
)


def test_curly_quotes_fold_and_dashes_stay():
    assert (
        normalise_line("\u2018Hi\u2019 \u201cthere\u201d \u2013 \u2014 \u00e9")
        == "'Hi' \"there\" \u2013 \u2014 \u00e9"
    )


def test_whitespace_collapses_inside_a_line():
    assert normalise_line("  a\u00a0\u00a0b\t\nc \u200b ") == "a b c"


def test_line_breaks_become_spaces_and_control_characters_go():
    text = "\x1b[31mred\x1b[0m\x00\x07 a\rb\nc\x85d\u2028e\u2029f\x0bg\x9b2Jh\x7f"
    assert normalise_space(text) == "[31mred[0m a b c d e f g2Jh"
    assert normalise_space("caf\u00e9 \u2013 \u05d0\u200f") == "caf\u00e9 \u2013 \u05d0\u200f"


def test_an_invisible_character_is_neither_whitespace_nor_printable():
    # (normalise_space joins the words of a text holding none of them at once, and
    # keeps a printable text with single spaces between words as it is)
    invisible = [chr(c) for c in range(0x110000) if _INVISIBLE.match(chr(c))]
    assert len(invisible) == 59
    assert not any(c.isspace() or c.isprintable() for c in invisible)
    assert [c for c in map(chr, range(0x110000)) if c.isspace() and c.isprintable()] == [" "]
    texts = ["a\u00adb c", "x \u200b y", "\ufeff", "\x85\u2060", "e\u0301 \u200e", "", " a", "a "]
    texts += ["a  b", "a b", "caf\u00e9 \u2019x\u2019", "a\u00a0b", "a\u3000 b", "\u0958 x"]
    for text in texts:
        assert normalise_space(text) == " ".join(
            _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split()
        )


def test_a_malformed_url_is_left_for_the_fetch_stage_to_refuse():
    for url in ("http://x.example:99999/a", "http://[::1/a", "http://x.example:port/"):
        assert canonicalise_url(f" {url} ") == url


def test_seed_text_layout():
    article = Article(
        url="u", canonical_url="u", title=" T\u2019s ", standfirst="S", paragraphs=["p1", "p2"]
    )
    assert article_seed_text(article) == "\nT's\nS\np1\np2"


def test_captions_can_go_back_inline():
    article = Article(
        url="u",
        canonical_url="u",
        title="T",
        paragraphs=["p1", "p2"],
        captions=[Caption(text="c", credit="X/PA", position=1)],
    )
    assert article_seed_text(article) == "\nT\np1\np2"
    assert article_seed_text(article, captions_inline=True) == "\nT\np1\nc (X/PA)\np2"


def test_parse_seed_text_tolerates_crlf():
    assert parse_seed_text("\r\nTitle\r\nOne\r\nTwo") == ("Title", ["One", "Two"])


def test_canonical_url_drops_tracking_and_fragment():
    assert (
        canonicalise_url("https://WWW.Example.com:443/a?utm_source=x&id=3&fbclid=y#top")
        == "https://www.example.com/a?id=3"
    )
    assert canonicalise_url("http://example.com:8080") == "http://example.com:8080/"


def test_dates_become_iso_utc():
    assert normalise_date("2025-08-15T10:00:00+01:00") == "2025-08-15T09:00:00+00:00"
    assert normalise_date("2025-08-15") == "2025-08-15T00:00:00"
    assert normalise_date("yesterday") is None
