from collections.abc import Iterable

from selectolax.lexbor import LexborNode

class Compound:
    def __init__(
        self,
        tags: Iterable[str] | None,
        attribute: str | None,
        test: int,
        value: str | None,
        case: int,
        ancestor: Compound | None = None,
    ) -> None: ...

class Query:
    def __init__(self, compounds: Iterable[Compound]) -> None: ...

def usable(root: object) -> bool: ...
def find(
    root: LexborNode, query: Query, first: bool = False, skip: dict[int, int] | None = None
) -> list[LexborNode]: ...
def nodes_at(root: LexborNode, ids: Iterable[int]) -> dict[int, LexborNode]: ...
def positions(root: LexborNode, ids: Iterable[int]) -> dict[int, int]: ...
def find_each(root: LexborNode, queries: tuple[Query, ...]) -> list[list[LexborNode]]: ...
