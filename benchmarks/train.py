"""Train the block classifier shipped in ``scraper/data`` (and its out-of-fold twins).

Run from the project root:

    python -m benchmarks.train [../shared/corpora] [--folds-dir DIR] [--cache DIR]

Every page of the three corpora goes through ``scraper.extract.parse_page`` (the
extractor's own decoding, metadata, blocks and features), and each block is aligned
with the page's truth: for a ``body`` truth (aeb, wcxb) by the share of the block's
word shingles found in it; for ``with``/``without`` snippets (trafeval) by
containment. A block that is not clearly in or out gets no weight. The parsed pages
are cached (``--cache``, default ``/tmp/scraper-blocks-cache``), keyed by the feature
set's version and the extractor's source.

Stage 1 is trained on the block features; stage 2 on the same features plus stage
1's probabilities in context, where those probabilities come from inner folds (so
stage 2 learns from probabilities like the ones it will see on unseen sites). The
out-of-fold models (5 folds grouped by site domain over all corpora) go to
``--folds-dir`` for ``python -m benchmarks.extraction --oof``; the model trained on
every page goes to ``scraper/data`` with its JSON card. Training is deterministic
(fixed seed, one fixed thread count, ``deterministic`` and row-wise histograms):
the same command gives the same file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import pickle
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lightgbm
import numpy as np

from benchmarks import metrics
from scraper import blocks as blocks_module
from scraper.blocks import (
    BLOCK_FEATURES,
    CATEGORICAL,
    CONTEXT_FEATURES,
    FEATURE_VERSION,
    BlockModel,
    Layout,
    context_features,
    needs_trafilatura,
    shingles,
    trafilatura_overlap,
)
from scraper.clean import clean_lines
from scraper.errors import ExtractError
from scraper.extract import NEVER_CUT, decode_html, main_text, parse_page, reading_document
from scraper.templates import DomNotes

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "scraper" / "data"
DEFAULT_CORPORA = Path("../shared/corpora")  # from the project root, as documented
CORPORA = ("aeb", "trafeval", "wcxb")
FOLDS = 5
INNER_FOLDS = 3
SEED = 14
THREADS = 2
IN_SHARE, OUT_SHARE = 0.7, 0.3  # a block this much in the truth is body / not body
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.12,
    "num_leaves": 63,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 127,
    "seed": SEED,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": THREADS,
    "verbosity": -1,
}
# Half the trees of the first models at twice the learning rate: the same out-of-fold
# quality (within the spread of two seeds) at half the prediction time.
ROUNDS = {"stage1": 125, "stage2": 150, "stage3": 75}
CACHE_VERSION = 5  # of ``Sample``


# --- labels ----------------------------------------------------------------------------


def label_by_body(texts: list[str], body: str) -> tuple[list[int], list[float]]:
    """Labels (1 body, 0 not) and weights of blocks against a whole true body: a
    block whose word shingles are mostly in the truth is body, one whose shingles
    are mostly not is not; one in between, or without words, gets no weight."""
    reference = set(shingles(body))
    labels, weights = [], []
    for text in texts:
        grams = shingles(text)
        if not grams:
            labels.append(0)
            weights.append(0.0)
            continue
        share = sum(g in reference for g in grams) / len(grams)
        if share >= IN_SHARE:
            labels.append(1)
            weights.append(1.0)
        elif share <= OUT_SHARE:
            labels.append(0)
            weights.append(1.0)
        else:
            labels.append(0)
            weights.append(0.0)
    return labels, weights


def label_by_snippets(
    texts: list[str], with_: list[str], without: list[str]
) -> tuple[list[int], list[float]]:
    """Labels and weights of blocks against snippets that must / must not be in the
    text: a block holding (part of) a ``with`` snippet is body, one holding part of a
    ``without`` snippet is not; blocks no snippet touches, or both kinds, get no
    weight."""
    joined, starts = _joined(texts)
    hits: list[set[int]] = [set() for _ in texts]
    for kind, snippets in ((1, with_), (0, without)):
        for snippet in snippets:
            for index in _blocks_holding(metrics.normalise_space(snippet), joined, starts):
                hits[index].add(kind)
    labels = [1 if h == {1} else 0 for h in hits]
    weights = [1.0 if len(h) == 1 else 0.0 for h in hits]
    return labels, weights


def _joined(texts: list[str]) -> tuple[str, list[int]]:
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 1
    return " ".join(texts), starts


def _blocks_holding(snippet: str, joined: str, starts: list[int]) -> set[int]:
    """Indices of the blocks that every occurrence of ``snippet`` in ``joined`` spans."""
    found: set[int] = set()
    if not snippet:
        return found
    at = joined.find(snippet)
    while at >= 0:
        first = _block_at(starts, at)
        last = _block_at(starts, at + len(snippet) - 1)
        found.update(range(first, last + 1))
        at = joined.find(snippet, at + 1)
    return found


def _block_at(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def labels_for(texts: list[str], truth: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Labels of a page's blocks from its truth row (any of the three corpora)."""
    if "body" in truth:
        labels, weights = label_by_body(texts, truth["body"])
        if truth.get("without"):
            # a leaked "without" snippet is never body, whatever the overlap says
            neg_labels, neg_weights = label_by_snippets(texts, [], truth["without"])
            for i, w in enumerate(neg_weights):
                if w and not neg_labels[i]:
                    labels[i], weights[i] = 0, 1.0
        return labels, weights
    return label_by_snippets(texts, truth.get("with", []), truth.get("without", []))


# --- folds -----------------------------------------------------------------------------

_SECOND_LEVEL = frozenset("co com net org gov ac edu gv or ne go".split())


def domain_of(url: str | None) -> str:
    """The registrable domain of a page's URL (approximate: the last two labels, or
    three under a second-level label such as co.uk); corpus ids like
    ``hard::example.com-page.html`` are read too."""
    if not url:
        return ""
    url = re.sub(r"^https?://web\.archive\.org/web/\d+\w*/", "", url)
    if "://" not in url:
        url = "http://" + re.sub(r"^[a-z]+::", "", url).split("-")[0]
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


def assign_folds(domains: list[str], folds: int) -> list[int]:
    """A fold per page, all pages of a domain in one fold: biggest domains first,
    each into the fold with the fewest pages so far."""
    sizes = Counter(domains)
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for domain, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        target = min(range(folds), key=lambda f: (load[f], f))
        fold_of[domain] = target
        load[target] += size
    return [fold_of[d] for d in domains]


# --- the parsed corpora ----------------------------------------------------------------


@dataclass
class Sample:
    """One parsed page: what training and the quick evaluation need of it."""

    corpus: str
    id: str
    url: str | None
    domain: str
    truth: dict[str, Any]
    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    layout: Layout
    texts: list[str]
    tags: list[str]
    flags: list[int]
    jsonld_body: str
    title: str | None
    standfirst: str | None
    trafilatura: float = 0.0  # trafilatura's F1 on the page
    # trafilatura's reading of the cleaned page, as extract's fallback gets it
    trafilatura_lines: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: DomNotes = field(default_factory=DomNotes)  # ``BlockModel.body`` reads them


def _source_key() -> str:
    digest = hashlib.sha1(f"{FEATURE_VERSION}.{CACHE_VERSION}".encode())
    for name in ("blocks.py", "clean.py", "extract.py", "normalise.py"):
        digest.update((ROOT / "scraper" / name).read_bytes())
    return digest.hexdigest()[:12]


def _parse_one(job: tuple[str, dict[str, Any], bytes]) -> Sample | None:
    corpus, row, raw = job
    from benchmarks.extraction import Page, page_scores, row_kind, trafilatura_extractor
    from benchmarks.extraction import decode as bench_decode

    text = decode_html(raw)
    try:
        parsed = parse_page(text, row.get("url"))
    except Exception as exc:  # noqa: BLE001 - a page the extractor cannot read is skipped
        print(f"skip {corpus}/{row['id']}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    page = parsed.page
    texts = page.texts
    try:
        reading = main_text(reading_document(parsed.tree), parsed.url)
    except ExtractError:
        reading = []
    labels, weights = labels_for(texts, row)
    kind = row_kind(row)
    html = bench_decode(raw)
    theirs = page_scores(
        kind, trafilatura_extractor(Page(row["id"], row.get("url"), html, row)), row
    )
    return Sample(
        corpus=corpus,
        id=row["id"],
        url=row.get("url"),
        domain=domain_of(row.get("url")),
        truth=row,
        features=page.features,
        labels=np.asarray(labels, np.int8),
        weights=np.asarray(weights, np.float32),
        layout=page.layout,
        texts=texts,
        tags=page.tags,
        flags=page.flags,
        jsonld_body=page.jsonld_body,
        title=parsed.meta.title,
        standfirst=parsed.meta.standfirst,
        trafilatura=float(theirs["f1"]),
        trafilatura_lines=reading,
        extra={"counts": theirs.get("counts")},
        notes=page.notes,
    )


def _jobs(corpora: Path) -> list[tuple[str, dict[str, Any], bytes]]:
    jobs = []
    for name in CORPORA:
        folder = corpora / name
        with (folder / "truth.jsonl").open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for row in rows:
            jobs.append((name, row, gzip.decompress((folder / row["file"]).read_bytes())))
    return jobs


def load_samples(corpora: Path, cache: Path, workers: int = 2) -> list[Sample]:
    """Every page parsed and labelled, from the cache when the extractor is unchanged."""
    path = cache / f"samples-{_source_key()}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            samples: list[Sample] = pickle.load(fh)
        return samples
    jobs = _jobs(corpora)
    start = time.perf_counter()
    with get_context("fork").Pool(workers) as pool:
        parsed = pool.map(_parse_one, jobs, chunksize=8)
    samples = [s for s in parsed if s is not None]
    print(f"parsed {len(samples)} pages in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(samples, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return samples


# --- training --------------------------------------------------------------------------

# The corpora define "body" a little differently. Every page weighs the same, whatever
# its corpus (weighing the three corpora equally instead, which makes an aeb page count
# ten times a wcxb page, scored no better out-of-fold); these factors scale that.
CORPUS_WEIGHTS = {"aeb": 1.0, "trafeval": 1.0, "wcxb": 1.0}


def block_weights(samples: list[Sample]) -> list[np.ndarray]:
    """Each block's training weight: its label weight times the square root of its
    length, normalised so each page's blocks sum to the page's block count times its
    corpus factor (so a page's weight does not depend on how many blocks are
    labelled)."""
    out = []
    for s in samples:
        sizes = np.sqrt(np.asarray(s.layout.sizes, np.float32) + 1.0)
        raw = s.weights * sizes
        total = raw.sum()
        scale = CORPUS_WEIGHTS[s.corpus] * len(s.texts) / total if total > 0 else 0.0
        out.append(raw * scale)
    return out


def _train(
    features: list[np.ndarray], labels: list[np.ndarray], weights: list[np.ndarray], rounds: int
) -> lightgbm.Booster:
    names = [*BLOCK_FEATURES, *CONTEXT_FEATURES, "trafilatura_overlap"]
    width = features[0].shape[1]
    data = lightgbm.Dataset(
        np.vstack(features),
        label=np.concatenate(labels),
        weight=np.concatenate(weights),
        feature_name=names[:width],
        categorical_feature=CATEGORICAL,
        free_raw_data=True,
        params={"max_bin": PARAMS["max_bin"], "verbosity": -1},
    )
    return lightgbm.train(PARAMS, data, num_boost_round=rounds)


def train_model(samples: list[Sample], weights: list[np.ndarray]) -> BlockModel:
    """The three stages on ``samples``. Stages 2 and 3 learn from stage 1
    probabilities of inner folds, like the ones they will see on unseen sites."""
    x = [s.features for s in samples]
    y = [s.labels for s in samples]
    stage1 = _train(x, y, weights, ROUNDS["stage1"])
    inner = assign_folds([s.domain for s in samples], INNER_FOLDS)
    p_inner: list[np.ndarray] = [np.zeros(0)] * len(samples)
    for fold in range(INNER_FOLDS):
        train = [i for i, f in enumerate(inner) if f != fold]
        model = _train(
            [x[i] for i in train],
            [y[i] for i in train],
            [weights[i] for i in train],
            ROUNDS["stage1"],
        )
        for i, f in enumerate(inner):
            if f == fold:
                p_inner[i] = _predict(model, x[i])
    second = [
        np.hstack([s.features, context_features(p, s.layout)])
        for s, p in zip(samples, p_inner, strict=True)
    ]
    stage2 = _train(second, y, weights, ROUNDS["stage2"])
    # stage 3 is only asked about pages the model is unsure of: it learns from those
    doubtful = [
        i
        for i, s in enumerate(samples)
        if s.texts and needs_trafilatura(s, p_inner[i])  # type: ignore[arg-type]
    ]
    third = [
        np.hstack(
            [
                second[i],
                trafilatura_overlap(samples[i].texts, samples[i].trafilatura_lines)[:, None],
            ]
        )
        for i in doubtful
    ]
    stage3 = _train(
        third, [y[i] for i in doubtful], [weights[i] for i in doubtful], ROUNDS["stage3"]
    )
    return BlockModel(stage1, stage2, stage3)


def _predict(model: lightgbm.Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, num_threads=1)) if len(x) else np.zeros(0)


# --- quick evaluation (the body as the extractor assembles it, without trafilatura) ------


def quick_text(model: BlockModel, s: Sample) -> tuple[str, str | None]:
    """The text ``extract`` would score on a page (the model's body, trafilatura read
    from the cache), and the guard's reason."""
    body = model.body(s, lambda: s.trafilatura_lines)  # type: ignore[arg-type]
    lines = clean_lines(body.lines, min_body_lines=NEVER_CUT).lines
    paragraphs = [line for line in lines if line not in {s.title, s.standfirst}]
    return "\n".join(([s.standfirst] if s.standfirst else []) + paragraphs), body.guard


def evaluate(samples: list[Sample], texts: list[str]) -> dict[str, Any]:
    """Per-corpus figures of ``texts`` (one per sample) and the catastrophic pages."""
    from benchmarks.extraction import aggregate, page_scores, row_kind

    out: dict[str, Any] = {}
    catastrophic = []
    for corpus in CORPORA:
        pairs = [(s, t) for s, t in zip(samples, texts, strict=True) if s.corpus == corpus]
        if not pairs:
            continue
        kind = row_kind(pairs[0][0].truth)
        scores = [page_scores(kind, t, s.truth) for s, t in pairs]
        out[corpus] = aggregate(kind, scores)
        for (s, _), score in zip(pairs, scores, strict=True):
            if score["f1"] < 0.5 <= 0.8 <= s.trafilatura:
                catastrophic.append(f"{corpus}/{s.id} {score['f1']:.2f} vs {s.trafilatura:.2f}")
    out["catastrophic"] = catastrophic
    return out


def print_figures(label: str, figures: dict[str, Any]) -> None:
    parts = []
    for corpus in CORPORA:
        if corpus in figures:
            f = figures[corpus]
            part = f"{corpus} {f['f1']:.4f} (P {f['p']:.3f} R {f['r']:.3f})"
            if "without" in f:
                part += f" with {f['with']:.3f} without {f['without']:.3f}"
            parts.append(part)
    print(f"{label}: " + "; ".join(parts) + f"; catastrophic {len(figures['catastrophic'])}")


# --- the command -----------------------------------------------------------------------


def importance(model: BlockModel, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Each stage's features with the largest share of the total split gain."""
    out = {}
    for name, stage in (
        ("stage1", model.stage1),
        ("stage2", model.stage2),
        ("stage3", model.stage3),
    ):
        if stage is None:
            continue
        gains = stage.feature_importance(importance_type="gain")
        shares = gains / max(gains.sum(), 1e-9)
        ranked = sorted(
            zip(stage.feature_name(), shares.tolist(), strict=True), key=lambda x: -x[1]
        )
        out[name] = [(feature, round(share, 3)) for feature, share in ranked[:top]]
    return out


def card(
    samples: list[Sample], oof: dict[str, Any], command: str, model: BlockModel
) -> dict[str, Any]:
    return {
        "model": "two-stage LightGBM block classifier (scraper.blocks)",
        "feature_version": FEATURE_VERSION,
        "features": {"stage1": BLOCK_FEATURES, "stage2_extra": CONTEXT_FEATURES},
        "training_command": command,
        "corpora": dict(Counter(s.corpus for s in samples)),
        "pages": len(samples),
        "labelled_blocks": int(sum(int((s.weights > 0).sum()) for s in samples)),
        "params": PARAMS,
        "rounds": ROUNDS,
        "folds": FOLDS,
        "inner_folds": INNER_FOLDS,
        "corpus_weights": CORPUS_WEIGHTS,
        "lightgbm": lightgbm.__version__,
        "out_of_fold": oof,
        "gain_importance": importance(model),
    }


def model_args(args: argparse.Namespace) -> list[str]:
    """The arguments that shape the model file, for its card: where the cache, the
    fold models and the model itself are written changes no byte of it."""
    extra = [] if args.corpora == DEFAULT_CORPORA else [str(args.corpora)]
    extra += ["--seed", str(args.seed)] if args.seed != SEED else []
    return extra + (["--no-oof"] if args.no_oof else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="?", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/scraper-blocks-cache"))
    ap.add_argument("--folds-dir", type=Path, default=Path("/tmp/scraper-blocks-folds"))
    ap.add_argument("--out", type=Path, default=DATA, help="where the shipped model goes")
    ap.add_argument("--no-oof", action="store_true", help="train the shipped model only")
    ap.add_argument("--oof-only", action="store_true", help="do not write the shipped model")
    ap.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="LightGBM seed: a second seed shows how much of a change is noise (the shipped "
        "model keeps the default)",
    )
    args = ap.parse_args(argv)
    missing = [c for c in CORPORA if not (args.corpora / c / "truth.jsonl").is_file()]
    if missing:
        raise SystemExit(
            f"{args.corpora}: no {', '.join(missing)} corpus there (run from the project root, or name the folder)"
        )
    PARAMS["seed"] = args.seed
    samples = load_samples(args.corpora, args.cache)
    weights = block_weights(samples)
    folds = assign_folds([s.domain for s in samples], FOLDS)
    oof: dict[str, Any] = {}
    if not args.no_oof:
        texts = [""] * len(samples)
        guarded: Counter[str] = Counter()
        args.folds_dir.mkdir(parents=True, exist_ok=True)
        for fold in range(FOLDS):
            train = [i for i, f in enumerate(folds) if f != fold]
            model = train_model([samples[i] for i in train], [weights[i] for i in train])
            (args.folds_dir / f"fold{fold}.txt").write_text(model.to_string(), encoding="utf-8")
            for i, f in enumerate(folds):
                if f == fold:
                    texts[i], reason = quick_text(model, samples[i])
                    guarded[reason or "none"] += 1
            print(f"fold {fold} done", file=sys.stderr)
        (args.folds_dir / "folds.json").write_text(
            json.dumps({f"{s.corpus}/{s.id}": f for s, f in zip(samples, folds, strict=True)}),
            encoding="utf-8",
        )
        figures = evaluate(samples, texts)
        print_figures("out-of-fold (quick: the cached pages through BlockModel.body)", figures)
        print("guard:", dict(guarded))
        for line in figures["catastrophic"]:
            print("  catastrophic", line)
        oof = {
            c: {k: round(v, 4) for k, v in figures[c].items()} for c in CORPORA if c in figures
        } | {"catastrophic": len(figures["catastrophic"])}
    if not args.oof_only:
        model = train_model(samples, weights)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / blocks_module.MODEL_FILE).write_text(model.to_string(), encoding="utf-8")
        command = " ".join(["python -m benchmarks.train", *model_args(args)])
        (args.out / blocks_module.CARD_FILE).write_text(
            json.dumps(card(samples, oof, command.strip(), model), indent=2) + "\n",
            encoding="utf-8",
        )
        texts = [quick_text(model, s)[0] for s in samples]
        print_figures("shipped model on its own training pages", evaluate(samples, texts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
