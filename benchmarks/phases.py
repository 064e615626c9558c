"""Where the time of ``scraper.extract.extract`` goes, phase by phase, on corpus pages.

Run from the project root:

    python -m benchmarks.phases ../shared/corpora/trafeval ../shared/corpora/wcxb \
        [--limit 200] [--rounds 2]

Each phase is a function of the extractor, wrapped by a timer while this runs (the
wrapper costs well under a microsecond a call); a phase's time excludes the phases
it calls, so the rows add up to the whole ``extract``. The figures are ms per page,
the best of ``--rounds`` passes over the pages, in CPU time of this process (one
core; CPU time, so that other jobs on a shared machine inflate it less than wall time),
with the garbage collector off while the pages run.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.extraction import load_corpus

# (row, module, attribute): where each phase's function is looked up and wrapped.
PHASES = [
    ("parse (lexbor)", "scraper.extract", "LexborHTMLParser"),
    ("metadata", "scraper.extract", "read_meta"),
    ("attribution clues", "scraper.attribution", "read_clues"),
    ("block walk", "scraper.blocks", "segment"),
    ("block fingerprints", "scraper.blocks", "dom_notes"),
    ("clean_tree", "scraper.blocks", "clean_tree"),
    ("fast-path containers", "scraper.extract", "text_containers"),
    ("features", "scraper.blocks", "block_features"),
    ("context features", "scraper.blocks", "context_features"),
    ("model trees", "scraper.trees", "Trees.predict"),  # compiled, or LightGBM's own
    ("trafilatura", "scraper.extract", "main_text"),
    ("decode and guard", "scraper.blocks", "BlockModel.body"),
    ("read_blocks rest", "scraper.extract", "read_blocks"),
    ("clean_lines", "scraper.extract", "clean_lines"),
    ("attribution", "scraper.attribution", "attribute"),
    ("extract rest", "scraper.extract", "extract"),
]


class Timer:
    """Exclusive time per phase: a phase's clock stops while a phase it calls runs."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.stack: list[list[Any]] = []  # [name, start, time in callees]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [name, time.process_time(), 0.0]
            self.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                total = time.process_time() - frame[1]
                self.spent[name] = self.spent.get(name, 0.0) + total - frame[2]
                if self.stack:
                    self.stack[-1][2] += total

        return timed


def install(timer: Timer) -> None:
    import importlib

    for name, module_name, attribute in PHASES:
        module = importlib.import_module(module_name)
        owner: Any = module
        parts = attribute.split(".")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        fn = getattr(owner, parts[-1])
        if isinstance(fn, type):  # the parser class: time its construction
            cls = fn
            fn = lambda *a, _cls=cls, **k: _cls(*a, **k)  # noqa: E731
        setattr(owner, parts[-1], timer.wrap(name, fn))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    timer = Timer()
    install(timer)
    from scraper.blocks import shipped_model
    from scraper.extract import extract

    shipped_model()
    columns: dict[str, dict[str, float]] = {}
    for folder in args.corpora:
        pages = load_corpus(folder, args.limit).pages
        best: dict[str, float] = {}
        best_total = float("inf")
        for _ in range(max(1, args.rounds)):
            timer.spent = {}
            gc.collect()
            gc.disable()  # a collection's pause would land in whichever step runs then
            start = time.process_time()
            for page in pages:
                try:
                    extract(page.html, url=page.url)
                except Exception:  # noqa: BLE001, S112 - a page without article
                    continue
            total = time.process_time() - start
            gc.enable()
            if total < best_total:
                best_total, best = total, dict(timer.spent)
        column = {name: 1000 * best.get(name, 0.0) / len(pages) for name, _, _ in PHASES}
        column["total"] = 1000 * best_total / len(pages)
        columns[folder.name] = column
    names = list(columns)
    print("| phase | " + " | ".join(f"{n} ms" for n in names) + " |")
    print("| --- |" + " --- |" * len(names))
    for row in [*(name for name, _, _ in PHASES), "total"]:
        print(f"| {row} | " + " | ".join(f"{columns[n][row]:.2f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
