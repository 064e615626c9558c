"""Text and fields to the seed format, and the seed-format reader/writer.

Seed format: UTF-8, LF line endings, an empty first line, the title line, then one
paragraph per line (standfirst first), no trailing newline. Inside each line the
whitespace is collapsed, control characters are dropped and curly quotes are folded
to ASCII; dashes and every other character are kept.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .models import Article, Caption

# Invisible characters that only break words apart, and the C0/C1 control characters
# that are not whitespace (ESC, NUL, BEL...: from a page they could only garble a
# terminal). CR, LF, NEL and the line separators are whitespace, collapsed below.
# (A regex: str.translate is slow.)
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
    }
)


def normalise_space(text: str) -> str:
    """One line of record text: NFC, invisible and control characters dropped,
    whitespace (line breaks included) collapsed; the page's own quotes and dashes
    are kept."""
    normal = unicodedata.normalize("NFC", text)
    # a printable text holds no invisible character, nor whitespace but spaces
    if normal.isprintable() and "  " not in normal and normal[:1] != " " != normal[-1:]:
        return normal
    joined = " ".join(normal.split())
    # every invisible character is neither whitespace nor printable: most texts hold
    # none, and their words are joined once
    if joined.isprintable():
        return joined
    return " ".join(_INVISIBLE.sub("", normal).split())


def normalise_line(text: str) -> str:
    """One line in the seed format: ``normalise_space`` with curly quotes folded."""
    return normalise_space(text).translate(_QUOTES)


def normalise_lines(lines: list[str]) -> list[str]:
    """Normalised non-empty lines."""
    return [line for line in map(normalise_line, lines) if line]


def normalise_date(value: str | None) -> str | None:
    """An ISO-8601 string, or None when the value is not a date."""
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.isoformat()


def body_lines(article: Article, captions_inline: bool = False) -> list[str]:
    """The lines under the title: standfirst, then paragraphs (with captions if asked)."""
    lines = [article.standfirst] if article.standfirst else []
    if not captions_inline:
        return lines + article.paragraphs
    by_position: dict[int, list[Caption]] = {}
    for caption in article.captions:
        pos = len(article.paragraphs) if caption.position is None else caption.position
        by_position.setdefault(pos, []).append(caption)
    for i in range(len(article.paragraphs) + 1):
        for caption in by_position.get(i, []):
            lines.append(caption_line(caption))
        if i < len(article.paragraphs):
            lines.append(article.paragraphs[i])
    return lines


def caption_line(caption: Caption) -> str:
    return f"{caption.text} ({caption.credit})" if caption.credit else caption.text


def seed_text(title: str, lines: list[str]) -> str:
    """The seed-format document for a title and its body lines."""
    return "\n".join(["", normalise_line(title), *normalise_lines(lines)])


def article_seed_text(article: Article, captions_inline: bool = False) -> str:
    return seed_text(article.title, body_lines(article, captions_inline))


def parse_seed_text(text: str) -> tuple[str, list[str]]:
    """Title and body lines of a seed-format dump (tolerates CRLF and a missing
    leading empty line)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", []
    return lines[0].strip(), lines[1:]


TRACKING_PARAMS = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|"
    r"_hsenc|_hsmi|ocid|cmpid|ncid|smid|sr_share|ref_src|__twitter_impression)$",
    re.IGNORECASE,
)


def canonicalise_url(url: str) -> str:
    """The URL without fragment or tracking parameters, with a lower-case host and
    no default port, so one article is known under one URL. A malformed URL (a bad
    port, a broken IPv6 address) comes back stripped, for the fetch stage to refuse."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    if parts.scheme not in {"http", "https"}:
        return url.strip()
    host = (parts.hostname or "").lower()
    if port and (parts.scheme, port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not TRACKING_PARAMS.match(k)
        ]
    )
    return urlunsplit((parts.scheme, host, parts.path or "/", query, ""))
