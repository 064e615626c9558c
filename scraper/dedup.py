"""Near-duplicate story clusters: every copy of one story, on any site and in any
run, gets the same ``story_id`` (the id of its first-seen copy); later copies name
that copy in ``duplicate_of``.

A body is normalised (lower case, ``\\w+`` words) and cut into shingles of
``SHINGLE_WORDS`` words; a MinHash (datasketch, ``NUM_PERM`` permutations) of the
shingles is split into ``BANDS`` bands of ``ROWS`` values, and each band's key goes
into an index in the state (``store``), so a copy seen next week finds last week's
story with a few indexed lookups (locality-sensitive hashing). A candidate that
shares a band is verified on the signatures: the share of its shingles the shorter
text holds (containment, estimated from the MinHash Jaccard and the shingle counts)
must reach ``MIN_CONTAINMENT``, so a copy with its last paragraphs cut, or with a
paragraph or an "originally appeared on" line added, still joins, while two
agencies' reports of one event (same facts and quotes, different words) stay apart.

What is kept per article (``StoryMember``): the signature (``NUM_PERM`` 32-bit
values), the shingle count and ``BANDS`` band keys; see benchmarks/README.md for
the measured bytes per article.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import numpy as np

from .attribution import agencies
from .models import Article, StorySize

SHINGLE_WORDS = 5
NUM_PERM = 64
BANDS = 32
ROWS = 2  # BANDS * ROWS == NUM_PERM: a pair of texts at Jaccard J meets in a band
# with probability 1 - (1 - J^2)^32: 0.95 at J = 0.3, 0.996 at J = 0.4.
SEED = 15
# Below this many shingles (about 25 words) a text is too short to tell a copy from
# a story on the same subject: it starts a story of its own.
MIN_SHINGLES = 20
MIN_CONTAINMENT = 0.6
# Long texts are compared on their first words: it bounds the cost per article, and
# copies differ mostly at the end (trimmed, or with a line added).
MAX_WORDS = 600
CHARS_PER_WORD = 12  # enough text for MAX_WORDS words in any language we read
# A story's copies listed by ``scrape status``.
LARGEST_STORIES = 10

_NON_WORD = re.compile(r"[\W_]+")
_MASK32 = np.uint64(0xFFFFFFFF)
_MIX = np.uint64(0x9E3779B1)


def shingle_hashes(text: str) -> np.ndarray:
    """32-bit hashes of the distinct word shingles of ``text`` (stable across runs
    and processes: no salted ``hash()``), from its first ``MAX_WORDS`` words."""
    head = text[: MAX_WORDS * CHARS_PER_WORD]
    words = _NON_WORD.sub(" ", head.lower()).encode("utf-8").split()[:MAX_WORDS]
    if not words:
        return np.zeros(0, dtype=np.uint64)
    tokens = np.array(list(map(zlib.crc32, words)), dtype=np.uint64)
    size = min(SHINGLE_WORDS, len(tokens))
    count = len(tokens) - size + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        combined = (combined * _MIX + tokens[offset : offset + count]) & _MASK32
    return np.unique(combined)


@dataclass(frozen=True)
class Signature:
    """A body's MinHash values and shingle count."""

    values: np.ndarray  # NUM_PERM uint32
    shingles: int

    def band_keys(self) -> list[int]:
        """One signed 32-bit key per band (the band's number is part of the key)."""
        keys = []
        for band in range(BANDS):
            chunk = self.values[band * ROWS : (band + 1) * ROWS].tobytes()
            digest = hashlib.blake2b(chunk, digest_size=4, salt=band.to_bytes(2, "big")).digest()
            keys.append(int.from_bytes(digest, "big", signed=True))
        return keys

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, shingles: int) -> Signature:
        return cls(np.frombuffer(data, dtype="<u4").astype(np.uint32), shingles)


def _identity(value: int) -> int:
    return value


@cache
def _permutations() -> object:
    """The permutations drawn from SEED, once; each signature reuses them. datasketch
    is imported here, on first use: it loads SciPy (0.4 s, tens of MB), which
    ``scrape extract`` and the extraction workers never need."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=_identity, scheme="affine32").permutations


def signature(text: str) -> Signature:
    from datasketch import MinHash

    hashes = shingle_hashes(text)
    minhash = MinHash(
        num_perm=NUM_PERM,
        seed=SEED,
        hashfunc=_identity,
        scheme="affine32",
        permutations=_permutations(),
    )
    if len(hashes):
        minhash.update_batch(hashes.tolist())
    return Signature(minhash.hashvalues.astype(np.uint32), len(hashes))


def containment(a: Signature, b: Signature) -> float:
    """Estimated share of the shorter text's shingles found in the other."""
    if not a.shingles or not b.shingles:
        return 0.0
    jaccard = float(np.mean(a.values == b.values))
    shared = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
    return min(1.0, shared / min(a.shingles, b.shingles))


@dataclass(frozen=True)
class StoryMember:
    """An article's place in a story, as the state keeps it."""

    article_id: str
    story_id: str
    signature: Signature


@dataclass(frozen=True)
class Story:
    id: str
    first_article: str
    title: str
    agency: str | None
    copies: int


class StoryIndex(Protocol):
    """Where clusters look up and record stories (``store.Store``)."""

    def story_member(self, article_id: str) -> StoryMember | None: ...
    def story_candidates(self, band_keys: list[int]) -> list[StoryMember]: ...
    def story(self, story_id: str) -> Story | None: ...
    def add_story_members(self, members: list[NewMember]) -> None: ...


@dataclass(frozen=True)
class Copy:
    """What story clustering needs of an article: its id, title, MinHash and the
    agency whose own site it is on (computed where the article is, so a cluster's
    workers can do the costly part and ship only this)."""

    article_id: str
    title: str
    signature: Signature
    agency: str | None

    @classmethod
    def of(cls, article: Article) -> Copy:
        own = agencies().at_host(article.url) or agencies().at_host(article.canonical_url)
        agency = own.name if own and own.kind == "agency" else None
        return cls(article.id, article.title, signature(article.text), agency or None)


@dataclass
class MemoryIndex:
    """A ``StoryIndex`` in memory, for a pass over records that has no state (``scrape
    extract --stories``)."""

    members: dict[str, StoryMember] = field(default_factory=dict)
    bands: dict[int, list[StoryMember]] = field(default_factory=dict)
    stories: dict[str, Story] = field(default_factory=dict)

    def story_member(self, article_id: str) -> StoryMember | None:
        return self.members.get(article_id)

    def story_candidates(self, band_keys: list[int]) -> list[StoryMember]:
        found = {m.article_id: m for key in band_keys for m in self.bands.get(key, [])}
        return list(found.values())

    def story(self, story_id: str) -> Story | None:
        return self.stories.get(story_id)

    def add_story_members(self, members: list[NewMember]) -> None:
        for new in members:
            m = new.member
            if m.article_id in self.members:
                continue
            self.members[m.article_id] = m
            for key in new.band_keys:
                self.bands.setdefault(key, []).append(m)
            story = self.stories.get(m.story_id)
            if story is None:
                story = Story(m.story_id, m.article_id, new.title, new.agency, 0)
            self.stories[m.story_id] = Story(
                story.id,
                story.first_article,
                story.title,
                story.agency or new.agency,
                story.copies + 1,
            )


@dataclass(frozen=True)
class NewMember:
    """A copy to record: its member row, band keys, and the story it starts or joins."""

    member: StoryMember
    band_keys: list[int]
    title: str
    agency: str | None  # the agency whose own site this copy is on, if any
    run_id: str


@dataclass
class Assigned:
    story_id: str
    duplicate_of: str | None
    agency: str | None  # the agency the story was seen at first hand, if any


@dataclass
class Clusters:
    """Story clusters for one run: assigns each article its story from the state and
    from the copies of this run not yet saved (``save`` writes those)."""

    index: StoryIndex
    run_id: str = ""
    pending: list[NewMember] = field(default_factory=list)
    _pending_bands: dict[int, list[NewMember]] = field(default_factory=dict)
    _stories: dict[str, Story] = field(default_factory=dict)
    copies: Counter[str] = field(default_factory=Counter)
    titles: dict[str, str] = field(default_factory=dict)

    def assign(self, article: Article) -> Assigned:
        """The story of ``article`` (a new one if it matches none)."""
        known = self.index.story_member(article.id) or self._pending_member(article.id)
        if known is not None:
            return self._joined(known.story_id, article.id, article.title)
        return self._new(Copy.of(article))

    def place(self, copy: Copy) -> Assigned:
        """The story of an article known by its ``Copy``."""
        known = self.index.story_member(copy.article_id) or self._pending_member(copy.article_id)
        if known is not None:
            return self._joined(known.story_id, copy.article_id, copy.title)
        return self._new(copy)

    def _new(self, copy: Copy) -> Assigned:
        sig = copy.signature
        keys = sig.band_keys()
        best: StoryMember | None = None
        if sig.shingles >= MIN_SHINGLES:
            best = self._best_match(sig, keys, copy.article_id)
        story_id = best.story_id if best is not None else copy.article_id
        new = NewMember(
            StoryMember(copy.article_id, story_id, sig), keys, copy.title, copy.agency, self.run_id
        )
        self.pending.append(new)
        for key in keys:
            self._pending_bands.setdefault(key, []).append(new)
        return self._joined(story_id, copy.article_id, copy.title, copy.agency)

    def _pending_member(self, article_id: str) -> StoryMember | None:
        return next((n.member for n in self.pending if n.member.article_id == article_id), None)

    def _best_match(self, sig: Signature, keys: list[int], article_id: str) -> StoryMember | None:
        candidates = self.index.story_candidates(keys)
        candidates += [n.member for key in keys for n in self._pending_bands.get(key, [])]
        best, best_score = None, MIN_CONTAINMENT
        for candidate in candidates:
            if candidate.article_id == article_id:
                continue
            score = containment(sig, candidate.signature)
            if score >= best_score:
                best, best_score = candidate, score
        return best

    def _joined(
        self, story_id: str, article_id: str, title: str, agency: str | None = None
    ) -> Assigned:
        story = self._story(story_id)
        first = story.first_article if story else story_id
        self.copies[story_id] += 1
        self.titles.setdefault(story_id, story.title if story else title)
        seen_at = (story.agency if story else None) or self._pending_agency(story_id) or agency
        return Assigned(story_id, None if first == article_id else first, seen_at)

    def _story(self, story_id: str) -> Story | None:
        if story_id not in self._stories:
            story = self.index.story(story_id)
            if story is None:
                return None
            self._stories[story_id] = story
        return self._stories[story_id]

    def _pending_agency(self, story_id: str) -> str | None:
        return next(
            (n.agency for n in self.pending if n.member.story_id == story_id and n.agency), None
        )

    def save(self) -> None:
        """Record this run's copies assigned since the last save."""
        if self.pending:
            self.index.add_story_members(self.pending)
            self.pending, self._pending_bands = [], {}
            self._stories.clear()

    def largest(self, limit: int = LARGEST_STORIES) -> list[StorySize]:
        """This run's stories with the most copies (two or more)."""
        return [
            StorySize(story_id=story_id, title=self.titles.get(story_id, ""), copies=count)
            for story_id, count in self.copies.most_common(limit)
            if count > 1
        ]


def credited(article: Article, assigned: Assigned) -> Article:
    """``article`` with its story and, when it has no source of its own and its story
    was seen on an agency's own site, that agency (evidence ``cluster``)."""
    update: dict[str, object] = {
        "story_id": assigned.story_id,
        "duplicate_of": assigned.duplicate_of,
    }
    if article.source is None and assigned.agency:
        update |= {"source": assigned.agency, "source_evidence": "cluster"}
    return article.model_copy(update=update)
