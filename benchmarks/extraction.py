"""Extraction benchmark: the project's extractor against trafilatura, in one process.

Run from the project root:

    python -m benchmarks.extraction ../shared/corpora/aeb ../shared/corpora/trafeval \
        ../shared/corpora/wcxb [--rounds 3] [--limit N] [--only ours|trafilatura] \
        [--json OUT] [--dump DIR] [--oof [FOLDS_DIR]]

With ``--oof``, a third side, ``ours-oof``, scores every page with the fold model of
``python -m benchmarks.train`` that never saw a page of its site (5 folds grouped by
domain over all three corpora): the figures the targets apply to. ``ours`` is the
shipped model, trained on every page. The block model's guard (pages whose body came
out much shorter than an independent estimate of it) is counted per side.

Each corpus folder holds `truth.jsonl` and `pages/<id>.html.gz` (format and metrics in
the corpora README). The pages are decompressed and decoded once, up front, and both
sides get the same `str`. Quality comes from the first round; speed is the best total
time per side over `--rounds` rounds, with the order of the sides alternating. The
rounds run as in an extraction worker after its first page: what the process has loaded
is out of the garbage collector's full passes (``scraper.extract.settle_process``), for
both sides.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trafilatura

from benchmarks import metrics

Extractor = Callable[["Page"], str]

WARMUP_PAGES = 5
# Targets of issue #14 by metric kind, as (figure, comparison, floor, aim); they apply
# to the out-of-fold side when there is one, else to the shipped extractor.
TARGETS: dict[str, list[tuple[str, str, float, float]]] = {
    "shingle": [("f1", ">=", 0.970, 0.980)],
    "snippets": [("f1", ">=", 0.935, 0.945)],
    "word": [("f1", ">=", 0.952, 0.960), ("without", "<=", 0.03, 0.03)],
}
SPEED_RATIO = (1.5, 3.0)  # trafilatura's ms per page over ours, floor and aim
CATASTROPHIC = (4, 0)  # pages, all corpora together, floor and aim
# A catastrophic page: ours under this F1 where trafilatura scores at least that.
CATASTROPHIC_OURS, CATASTROPHIC_THEIRS = 0.5, 0.8


@dataclass
class Page:
    id: str
    url: str | None
    html: str
    truth: dict[str, Any]
    corpus: str = ""


@dataclass
class Corpus:
    name: str
    kind: str  # "shingle" (aeb), "snippets" (trafeval) or "word" (wcxb)
    pages: list[Page]


def row_kind(row: dict[str, Any]) -> str:
    if row.get("metric") == "word":
        return "word"
    if "body" in row:
        return "shingle"
    return "snippets"


_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?\s*([\w.:-]+)", re.IGNORECASE)


def decode(raw: bytes) -> str:
    """UTF-8 if valid, else the charset the page declares, else UTF-8 with replacement.

    A few saved pages are not UTF-8 (ISO-8859-1, windows-1252/1250) despite the corpus
    README; decoding them as UTF-8 would garble their non-ASCII letters for both sides.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(raw[:8192])
    if match:
        try:
            return raw.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return raw.decode("utf-8", errors="replace")


def load_corpus(folder: Path, limit: int | None) -> Corpus:
    with (folder / "truth.jsonl").open(encoding="utf-8") as fh:  # lines end in "\n" only
        rows = [json.loads(line) for line in fh if line.strip()][:limit]
    kinds = {row_kind(r) for r in rows}
    if len(kinds) != 1:
        raise SystemExit(f"{folder}: expected one metric kind, found {sorted(kinds)}")
    pages = []
    for r in rows:
        html = decode(gzip.decompress((folder / r["file"]).read_bytes()))
        pages.append(Page(r["id"], r.get("url"), html, r, folder.name))
    return Corpus(folder.name, kinds.pop(), pages)


def ours_extractor(models: Any = None) -> Extractor | None:
    """The project's extractor; ``models`` maps a page to the block model to use
    (default: the shipped one)."""
    try:
        from scraper.extract import extract
    except Exception as exc:  # noqa: BLE001 - the module may not exist yet
        print(f"note: cannot import scraper.extract ({exc!r}); running trafilatura only")
        return None

    def run(page: Page) -> str:
        model = models(page) if models is not None else None
        a = extract(page.html, url=page.url, model=model)
        return "\n".join(([a.standfirst] if a.standfirst else []) + a.paragraphs)

    return run


def fold_models(folder: Path) -> tuple[Callable[[Page], Any], list[Any]]:
    """The out-of-fold block models written by ``benchmarks.train``: the one of
    each page, and all of them."""
    from scraper.blocks import BlockModel

    folds = json.loads((folder / "folds.json").read_text(encoding="utf-8"))
    models = {
        int(path.stem.removeprefix("fold")): BlockModel.from_string(path.read_text("utf-8"))
        for path in sorted(folder.glob("fold*.txt"))
    }
    return (lambda page: models[folds[f"{page.corpus}/{page.id}"]]), list(models.values())


def guard_counts(models: list[Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for model in models:
        for reason, count in model.guarded.items():
            total[reason] = total.get(reason, 0) + count
    return total


def trafilatura_extractor(page: Page) -> str:
    out = trafilatura.extract(page.html, url=page.url, include_comments=False, include_tables=True)
    return out or ""


def run_side(fn: Extractor, pages: list[Page]) -> tuple[list[str], float, int]:
    """Outputs, total seconds spent inside `fn`, and number of pages that raised."""
    outputs: list[str] = []
    total = 0.0
    failures = 0
    gc.collect()
    for page in pages:
        start = time.perf_counter()
        try:
            text = fn(page)
        except Exception:  # noqa: BLE001 - a failing page is an empty prediction
            text = ""
            failures += 1
        total += time.perf_counter() - start
        outputs.append(text)
    return outputs, total, failures


def page_scores(kind: str, pred: str, truth: dict[str, Any]) -> dict[str, Any]:
    if kind == "shingle":
        p, r = metrics.shingle_scores(pred, truth["body"])
        return {"p": p, "r": r, "f1": metrics.f1(p, r)}
    if kind == "snippets":
        counts = metrics.snippet_counts(pred, truth["with"], truth["without"])
        p, r, f = metrics.counts_pr_f1([counts])
        return {"p": p, "r": r, "f1": f, "counts": counts}
    p, r, f = metrics.word_scores(pred, truth["body"])
    with_, without = metrics.snippet_shares(pred, truth["with"], truth["without"])
    return {"p": p, "r": r, "f1": f, "with": with_, "without": without}


def aggregate(kind: str, scores: list[dict[str, Any]]) -> dict[str, float]:
    if kind == "shingle":
        p, r, f = metrics.mean_pr_f1([(s["p"], s["r"]) for s in scores])
        return {"f1": f, "p": p, "r": r}
    if kind == "snippets":
        p, r, f = metrics.counts_pr_f1(s["counts"] for s in scores)
        return {"f1": f, "p": p, "r": r}
    n = len(scores) or 1
    return {
        "f1": sum(s["f1"] for s in scores) / n,
        "p": sum(s["p"] for s in scores) / n,
        "r": sum(s["r"] for s in scores) / n,
        "with": metrics.mean_defined(s["with"] for s in scores),
        "without": metrics.mean_defined(s["without"] for s in scores),
    }


def bench_corpus(
    corpus: Corpus,
    sides: dict[str, Extractor],
    rounds: int,
    guards: dict[str, Callable[[], dict[str, int]]] | None = None,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Figures per side, and per-page scores per side. ``guards`` reads, per side,
    how many pages the block model's guard has changed so far."""
    guards = guards or {}
    names = list(sides)
    best: dict[str, float] = {}
    first: dict[str, tuple[list[str], int, dict[str, int]]] = {}
    for rnd in range(rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            before = guards[name]() if name in guards else {}
            outputs, total, failures = run_side(sides[name], corpus.pages)
            after = guards[name]() if name in guards else {}
            best[name] = min(best.get(name, total), total)
            guarded = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
            first.setdefault(name, (outputs, failures, guarded))
    figures: dict[str, Any] = {"kind": corpus.kind, "pages": len(corpus.pages), "sides": {}}
    per_page: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        outputs, failures, guarded = first[name]
        pairs = zip(outputs, corpus.pages, strict=True)
        scores = [page_scores(corpus.kind, o, p.truth) for o, p in pairs]
        per_page[name] = scores
        figures["sides"][name] = aggregate(corpus.kind, scores) | {
            "ms_per_page": 1000 * best[name] / max(1, len(corpus.pages)),
            "failures": failures,
            "guarded": guarded,
        }
    if "trafilatura" in per_page:
        theirs = per_page["trafilatura"]
        for name in names:
            lost = [
                page.id
                for page, ours, other in zip(corpus.pages, per_page[name], theirs, strict=True)
                if ours["f1"] < CATASTROPHIC_OURS and other["f1"] >= CATASTROPHIC_THEIRS
            ]
            figures["sides"][name]["catastrophic"] = lost
    if "ours" in per_page and "trafilatura" in per_page:
        ms = [figures["sides"][n]["ms_per_page"] for n in ("ours", "trafilatura")]
        figures["speed_ratio"] = ms[1] / ms[0] if ms[0] > 0 else float("inf")
        pair = {n: per_page[n] for n in ("ours", "trafilatura")}
        figures["best_of_both"] = aggregate(corpus.kind, best_of_both(corpus.kind, pair))
    return figures, per_page


def best_of_both(kind: str, per_page: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each page scored by whichever side did better on it: the ceiling of any rule
    that picks one of the two extractions per page."""

    def merit(score: dict[str, Any]) -> float:
        if kind == "snippets":
            tp, fn, fp = score["counts"][:3]
            return float(tp - fp - fn)
        return float(score["f1"])

    return [max(pair, key=merit) for pair in zip(*per_page.values(), strict=True)]


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def print_table(name: str, fig: dict[str, Any]) -> None:
    word = fig["kind"] == "word"
    head = f"{'corpus':<10}{'side':<13}{'F1':<7}{'P':<7}{'R':<7}"
    head += f"{'with':<7}{'without':<9}" if word else ""
    print(head + f"{'ms/page':<9}{'failures':<10}{'catastr.':<10}guard")
    for side, s in fig["sides"].items():
        line = f"{name:<10}{side:<13}{fmt(s['f1']):<7}{fmt(s['p']):<7}{fmt(s['r']):<7}"
        line += f"{fmt(s['with']):<7}{fmt(s['without']):<9}" if word else ""
        lost = s.get("catastrophic")
        guarded = ", ".join(f"{k} {v}" for k, v in sorted(s["guarded"].items()))
        line += f"{s['ms_per_page']:<9.1f}{s['failures']:<10}"
        print(line + f"{'' if lost is None else len(lost):<10}{guarded}")
    if "speed_ratio" in fig:
        print(f"{name:<10}{'speed ratio':<13}{fig['speed_ratio']:.1f}x (trafilatura / ours)")
    if "best_of_both" in fig:
        print(f"{name:<10}{'best of both':<13}{fmt(fig['best_of_both']['f1'])} (per page)")
    for side, s in fig["sides"].items():
        if s.get("catastrophic") and side != "trafilatura":
            print(f"{name:<10}{side} catastrophic: {' '.join(s['catastrophic'])}")
    print()


def _target(
    corpus: str, figure: str, op: str, limits: tuple[float, float], value: Any
) -> dict[str, Any]:
    def meets(limit: float) -> bool:
        return value is not None and (value >= limit if op == ">=" else value <= limit)

    return {
        "corpus": corpus,
        "figure": figure,
        "target": f"{op} {limits[0]} (aim {limits[1]})",
        "value": value,
        "met": meets(limits[0]),
        "aim_met": meets(limits[1]),
    }


def check_targets(figures: dict[str, dict[str, Any]], side: str) -> list[dict[str, Any]]:
    """The issue's floor and aim per figure: quality and catastrophic pages of
    ``side``, speed of the shipped extractor against trafilatura."""
    results = []
    lost = 0
    for name, fig in figures.items():
        ours = fig["sides"].get(side)
        for key, op, floor, aim in TARGETS[fig["kind"]]:
            results.append(_target(name, key, op, (floor, aim), ours[key] if ours else None))
        results.append(_target(name, "speed_ratio", ">=", SPEED_RATIO, fig.get("speed_ratio")))
        lost += len(ours.get("catastrophic", [])) if ours else 0
    results.append(_target("all", "catastrophic", "<=", CATASTROPHIC, lost))
    return results


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_figures() -> dict[str, Any]:
    """The aggregator fixtures through ``scraper.extract``: expected boilerplate
    phrases that leak into the record text, and expected body paragraphs kept."""
    from scraper.extract import extract

    leaked, paragraphs, kept, pages = 0, 0, 0, 0
    for page in sorted((FIXTURES / "pages").glob("*.html")):
        expected = json.loads((FIXTURES / "expected" / f"{page.stem}.json").read_text("utf-8"))
        article = extract(page.read_bytes(), expected["url"])
        text = "\n".join([article.title, article.standfirst or "", *article.paragraphs])
        leaked += sum(phrase in text for phrase in expected["boilerplate"])
        paragraphs += len(expected["paragraphs"])
        kept += sum(p in article.paragraphs for p in expected["paragraphs"])
        pages += 1
    return {"pages": pages, "leaked": leaked, "kept": kept / paragraphs if paragraphs else None}


def fixture_targets(fig: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _target("fixtures", "leaked", "<=", (0, 0), fig["leaked"]),
        _target("fixtures", "kept", ">=", (1.0, 1.0), fig["kept"]),
    ]


def template_gain(corpora: list[Path]) -> str:
    """The learned-template gain (``benchmarks.templates`` at its defaults): chrome
    leaks before and after learning, on synthetic sites built from corpus bodies."""
    from benchmarks import templates

    args = argparse.Namespace(corpora=corpora, sites=4, pages=40, learn=10, seed=1)
    start = time.perf_counter()
    try:
        tallies = templates.run(args)
    except SystemExit as exc:  # too few whole-body truths in these corpora
        return f"learned-template gain: not measured ({exc})"
    return templates.report(tallies, args, time.perf_counter() - start)


def write_dump(folder: Path, corpus: Corpus, per_page: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, page in enumerate(corpus.pages):
        row: dict[str, Any] = {"id": page.id, "url": page.url}
        for side, scores in per_page.items():
            row |= {f"{side}_{k}": scores[i][k] for k in ("p", "r", "f1")}
        if len(per_page) == 2:
            row["delta_f1"] = row["ours_f1"] - row["trafilatura_f1"]
        rows.append(row)
    key = "delta_f1" if len(per_page) == 2 else f"{next(iter(per_page))}_f1"
    rows.sort(key=lambda r: r[key])
    with (folder / f"{corpus.name}.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--only", choices=("ours", "trafilatura"))
    ap.add_argument("--json", type=Path, dest="json_out")
    ap.add_argument("--dump", type=Path)
    ap.add_argument(
        "--oof",
        type=Path,
        nargs="?",
        const=Path("/tmp/scraper-blocks-folds"),
        help="also score each page with its out-of-fold model from benchmarks.train",
    )
    args = ap.parse_args(argv)

    sides: dict[str, Extractor] = {}
    guards: dict[str, Callable[[], dict[str, int]]] = {}
    if args.only != "trafilatura":
        if args.oof:
            by_page, folded = fold_models(args.oof)
            oof = ours_extractor(by_page)
            if oof is not None:
                sides["ours-oof"] = oof
                guards["ours-oof"] = lambda: guard_counts(folded)
        ours = ours_extractor()
        if ours is not None:
            sides["ours"] = ours
            from scraper.blocks import shipped_model

            guards["ours"] = lambda: dict(shipped_model().guarded)
        elif args.only == "ours":
            return 1
    if args.only != "ours":
        sides["trafilatura"] = trafilatura_extractor

    corpora = [load_corpus(folder, args.limit) for folder in args.corpora]
    for corpus in corpora:  # warm-up, untimed
        for fn in sides.values():
            run_side(fn, corpus.pages[:WARMUP_PAGES])
    from scraper.extract import settle_process

    settle_process()

    figures: dict[str, dict[str, Any]] = {}
    for corpus in corpora:
        figures[corpus.name], per_page = bench_corpus(corpus, sides, max(1, args.rounds), guards)
        print_table(corpus.name, figures[corpus.name])
        if args.dump:
            write_dump(args.dump, corpus, per_page)

    targets = check_targets(figures, "ours-oof" if "ours-oof" in sides else "ours")
    if "ours" in sides:
        fixtures = fixture_figures()
        print(
            f"aggregator fixtures: {fixtures['pages']} pages, boilerplate phrases leaked "
            f"{fixtures['leaked']}, body paragraphs kept {fixtures['kept']:.0%}\n"
        )
        targets += fixture_targets(fixtures)
        print(template_gain(args.corpora) + "\n")
    print("targets (floor, and aim)")
    for t in targets:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        status = ("MET" if t["met"] else "MISSED") + (", aim met" if t["aim_met"] else "")
        print(f"  {t['corpus']:<10}{t['figure']:<14}{t['target']:<22}{value:<8}{status}")

    if args.json_out:
        report = {
            "sides": list(sides),
            "rounds": args.rounds,
            "limit": args.limit,
            "corpora": figures,
            "targets": targets,
        }
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
