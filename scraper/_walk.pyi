from collections.abc import Callable, Iterable
from typing import Any

from selectolax.lexbor import LexborNode

IN_PLACE_SELECTOLAX: str
TEXT_IN_PLACE: bool

def _laid_out_in_place() -> bool: ...
def read_in_place(on: bool) -> None: ...

class Element:
    @property
    def mem_id(self) -> int: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def attrs(self) -> Element: ...
    def get(self, key: str, default: None = None) -> str | None: ...
    def __setitem__(self, key: str, value: str) -> None: ...

class Vocabulary:
    judged: tuple[str, ...]
    def __init__(
        self,
        words: dict[str, tuple[int, int]],
        bigrams: dict[str, int],
        token_attributes: tuple[str, ...],
        roles: Iterable[str],
        role_verdict: int,
        display_none: Callable[[str], object],
        fallback: Callable[[str], tuple[int, int]],
    ) -> None: ...
    def value_figures(self, value: str) -> tuple[int, int]: ...
    def judge_attributes(self, attrs: dict[str, str | None]) -> tuple[int, int, str, bool]: ...

def segment(
    root: LexborNode,
    tag_kind: Callable[[str], tuple[int, int, int]],
    vocabulary: Vocabulary,
    nfc: Callable[[str], str],
    make_block: Callable[..., Any],
    context_type: type[tuple[int, ...]],
    hidden_flag: int,
    path_base: int,
    path_buckets: int,
) -> tuple[list[Any], list[int], list[int], list[int], dict[int, int]]: ...
def normalise_nfc(text: str) -> str: ...
def best_path(gain: Any, switch_cost: float) -> list[bool]: ...
def block_figures(
    blocks: list[Any],
    tag_codes: dict[str, int],
    other_tag: int,
    sentence_ends: tuple[str, ...],
    limit: int,
) -> bytearray: ...
def text_lines(
    root: LexborNode,
    tags: Iterable[str],
    children: Iterable[str],
    limit: int,
    words: Iterable[str] | None = None,
    marks: str = "",
) -> list[tuple[int, str]]: ...
def state_runs(
    data: Any,
    budget: int,
    max_depth: int,
    body_keys: frozenset[str],
    skip_keys: frozenset[str],
    text_keys: frozenset[str],
    title_keys: tuple[str, ...],
    key: Callable[[str], str],
    prose: Callable[[str], bool],
    unique: Callable[[list[str]], list[str]],
    normalise: Callable[[str], str],
    make_run: Callable[[list[str], str | None, int], Any],
) -> list[Any]: ...
