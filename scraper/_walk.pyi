from collections.abc import Callable
from typing import Any

from selectolax.lexbor import LexborNode

class Element:
    @property
    def mem_id(self) -> int: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def attrs(self) -> Element: ...
    def get(self, key: str, default: None = None) -> str | None: ...
    def __setitem__(self, key: str, value: str) -> None: ...

def segment(
    root: LexborNode,
    tag_kind: Callable[[str], tuple[int, int, int]],
    judged_keys: tuple[str, ...],
    class_figures: Callable[[str], tuple[int, int, str, bool]],
    judge: Callable[[dict[str, str | None]], tuple[int, int, str, bool]],
    judged: dict[Any, tuple[int, int, str, bool]],
    normalise: Callable[[str], str],
    make_block: Callable[..., Any],
    make_context: Callable[[tuple[int, ...]], Any],
    hidden_flag: int,
    path_base: int,
    path_buckets: int,
) -> tuple[list[Any], list[int], list[int], list[int], dict[int, int]]: ...

def normalise_ascii(text: str) -> str: ...
def sample_counts(texts: list[str], limit: int) -> tuple[list[int], list[int]]: ...
