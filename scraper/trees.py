"""The block model's trees: each LightGBM stage's probabilities for a feature matrix.

``Booster.predict`` spends its time in LightGBM's walk of each tree, row by row: it
turns every row into a sparse vector, and the branch it takes at each node is one
the processor mispredicts about half the time. The compiled evaluator
(``scraper/_trees.pyx``) reads a stage's trees once, from the model text, into flat
arrays (``read_forest``), and walks a batch of rows through each tree together with
no branch per decision.

It gives what ``Booster.predict`` gives, bit for bit: LightGBM's decisions
(``Tree::NumericalDecision`` and ``Tree::CategoricalDecision`` in its ``tree.h``),
the values LightGBM reads as zero read as zero, each row's raw score summed in tree
order in double, and the binary objective's sigmoid written as LightGBM writes it.
A stage is evaluated by it only if it reads the stage's model and gives LightGBM's
answers on probe rows made of the model's own thresholds (``Trees``); where the
extension is not built, or ``SCRAPER_PYTHON_TREES=1`` is set, LightGBM predicts
(``TREES`` says which).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np

from .compiled import optional
from .errors import ExtractError

if TYPE_CHECKING:
    import lightgbm

# Set to 1, LightGBM predicts even where the compiled evaluator is built.
PYTHON_TREES_ENV = "SCRAPER_PYTHON_TREES"

# A split's flags (those of ``scraper._trees``): a missing value goes left; a zero
# goes the other way than the threshold says.
NAN_LEFT, ZERO_FLIP = 1, 2
# LightGBM's ``decision_type`` bits and missing types (tree.h).
CATEGORICAL_MASK, DEFAULT_LEFT_MASK = 1, 2
MISSING_ZERO, MISSING_NAN = 1, 2
# What the compiled evaluator's nodes hold: a feature number in 16 bits, a
# categorical split's bitset in 64.
MAX_FEATURES, CATEGORY_WORDS = 2**15 - 1, 2
LEAF_FEATURE = -1  # a leaf's feature while the trees are read (then the one past them)


@dataclass
class Forest:
    """A binary model's trees as flat arrays of nodes, a tree's nodes together from
    its root. A split's two children are next to each other (``children`` is the left
    one). A numerical split has its ``threshold`` and its ``flags`` (``NAN_LEFT``,
    ``ZERO_FLIP``), a categorical one its ``categories`` (LightGBM's bitset, at most
    64 bits, never 0). A leaf's ``children`` is itself, its ``threshold`` the leaf's
    output, and its ``feature`` the one past the model's, which the compiled
    evaluator holds at -inf: every value goes "left", to the leaf itself."""

    features: int
    sigmoid: float
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    categories: np.ndarray
    children: np.ndarray
    flags: np.ndarray
    categorical: np.ndarray  # the features of categorical splits

    def arrays(self) -> list[Any]:
        """What ``scraper._trees.Forest`` is made of (these fields, in their order)."""
        return [getattr(self, f.name) for f in fields(self)]


_BLANK_LINES = re.compile(r"\n\s*\n")


def read_forest(text: str) -> Forest:
    """The trees of a LightGBM model text (``Booster.model_to_string``) of a binary
    objective; ExtractError for a text that is not such a model or that the evaluator
    cannot read exactly (linear trees, averaged outputs, several classes, a category
    past 63, a feature split both ways)."""
    try:
        trees, end, _ = text.partition("end of trees")
        head, *sections = _BLANK_LINES.split(trees)
        if not end or any(not s.startswith("Tree=") for s in sections if s.strip()):
            raise ValueError("not a model's list of trees")
        header = _pairs(head)
        features = int(header["max_feature_idx"]) + 1
        if header.get("num_tree_per_iteration", "1") != "1" or "average_output" in header:
            raise ValueError("not a single-class boosted model")
        if not 0 < features <= MAX_FEATURES:
            raise ValueError(f"{features} features")
        sigmoid = _sigmoid(header)
        nodes = _Nodes()
        for section in sections:
            if section.strip():
                _add_tree(nodes, _pairs(section), features)
        return nodes.forest(features, sigmoid)
    except (KeyError, ValueError, OverflowError) as exc:
        raise ExtractError(f"block model unreadable: {type(exc).__name__}: {exc}") from exc


def _pairs(section: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in section.strip().splitlines() if "=" in line)


def _sigmoid(header: dict[str, str]) -> float:
    name, *options = header["objective"].split()
    if name != "binary":
        raise ValueError(f"objective {name}, not binary")
    sigmoids = [o.removeprefix("sigmoid:") for o in options if o.startswith("sigmoid:")]
    return float(sigmoids[0]) if sigmoids else 1.0


def _numbers(tree: dict[str, str], key: str, count: int) -> list[float]:
    values = [float(v) for v in tree[key].split()] if count else []
    if len(values) != count:
        raise ValueError(f"{key}: {len(values)} values, not {count}")
    return values


def _integers(tree: dict[str, str], key: str, count: int) -> list[int]:
    values = [int(v) for v in tree[key].split()] if count else []
    if len(values) != count:
        raise ValueError(f"{key}: {len(values)} values, not {count}")
    return values


@dataclass
class _Nodes:
    """The columns of ``Forest`` as they grow, node by node."""

    roots: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    categorical: set[int] = field(default_factory=set)
    numerical: set[int] = field(default_factory=set)

    def add(self) -> int:
        """A new node, a leaf until it is made a split; its number."""
        number = len(self.feature)
        self.feature.append(LEAF_FEATURE)
        self.threshold.append(math.nan)
        self.categories.append(0)
        self.children.append(number)
        self.flags.append(0)
        return number

    def forest(self, features: int, sigmoid: float) -> Forest:
        if not self.roots:
            raise ValueError("no trees")
        if self.categorical & self.numerical:
            raise ValueError("a feature split both as a category and as a number")
        feature = np.array(self.feature, np.int32)
        feature[feature == LEAF_FEATURE] = features
        return Forest(
            features,
            sigmoid,
            np.array(self.roots, np.int32),
            feature,
            np.array(self.threshold, np.float64),
            np.array(self.categories, np.uint64),
            np.array(self.children, np.int32),
            np.array(self.flags, np.int32),
            np.array(sorted(self.categorical), np.int32),
        )


def _add_tree(nodes: _Nodes, tree: dict[str, str], features: int) -> None:
    """Append one tree (a section of the model text) to ``nodes``: its root, then the
    two children of each split together, level by level."""
    leaves = int(tree["num_leaves"])
    splits = leaves - 1
    if leaves < 1 or tree.get("is_linear", "0") != "0":
        raise ValueError("a tree without leaves, or a linear tree")
    value = _numbers(tree, "leaf_value", leaves)
    feature = _integers(tree, "split_feature", splits)
    threshold = _numbers(tree, "threshold", splits)
    decision = _integers(tree, "decision_type", splits)
    left = _integers(tree, "left_child", splits)
    right = _integers(tree, "right_child", splits)
    # LightGBM numbers a split from 0 (the root) and a leaf as ``~leaf``
    todo = [(0 if splits else ~0, nodes.add())]
    nodes.roots.append(todo[0][1])
    seen = [False] * splits
    for node, place in todo:  # grows while it is read
        if node < 0:
            if ~node >= leaves or math.isnan(value[~node]):
                raise ValueError("a leaf the tree does not have, or a leaf without a value")
            nodes.threshold[place] = value[~node]
            continue
        if node >= splits or seen[node]:
            raise ValueError("splits that do not form a tree")
        seen[node] = True
        if not 0 <= feature[node] < features:
            raise ValueError("a split on a feature the model does not have")
        nodes.feature[place] = feature[node]
        nodes.children[place] = nodes.add()
        todo += [(left[node], nodes.children[place]), (right[node], nodes.add())]
        if decision[node] & CATEGORICAL_MASK:
            nodes.categories[place] = _bitset(tree, threshold[node])
            nodes.threshold[place], nodes.flags[place] = math.nan, 0
            nodes.categorical.add(feature[node])
        else:
            nodes.threshold[place] = threshold[node]
            nodes.flags[place] = _flags(decision[node], threshold[node])
            nodes.numerical.add(feature[node])


def _bitset(tree: dict[str, str], threshold: float) -> int:
    """A categorical split's bitset (its ``threshold`` is its number in the tree's
    ``cat_boundaries``), as one integer."""
    boundaries = [int(v) for v in tree["cat_boundaries"].split()]
    words = [int(v) for v in tree["cat_threshold"].split()]
    which = int(threshold)
    if which != threshold or not 0 <= which < len(boundaries) - 1:
        raise ValueError("a categorical split without its bitset")
    start, end = boundaries[which], boundaries[which + 1]
    if not 0 <= start < end <= min(len(words), start + CATEGORY_WORDS):
        raise ValueError("a categorical split's bitset is empty, or holds a category past 63")
    if not all(0 <= w < 2**32 for w in words[start:end]):
        raise ValueError("a categorical split's bitset is not of 32-bit words")
    bitset = sum(word << (32 * k) for k, word in enumerate(words[start:end]))
    if not bitset:
        raise ValueError("a categorical split without a category")
    return bitset


def _flags(decision: int, threshold: float) -> int:
    """What a numerical split does with a missing value and a zero (NumericalDecision:
    NaN reads as 0.0 unless missing values are NaN; a missing value, NaN for
    MISSING_NAN and NaN or zero for MISSING_ZERO, goes the default way)."""
    default_left = bool(decision & DEFAULT_LEFT_MASK)
    missing = (decision >> 2) & 3
    zero_left = threshold >= 0.0
    nan_left = default_left if missing in (MISSING_ZERO, MISSING_NAN) else zero_left
    zero_flip = missing == MISSING_ZERO and default_left != zero_left
    return (NAN_LEFT if nan_left else 0) | (ZERO_FLIP if zero_flip else 0)


# --- which evaluator predicts ------------------------------------------------------------


def _load_evaluator() -> Any:
    return import_module(f"{__package__}._trees")


def choose_evaluator(load: Callable[[], Any] = _load_evaluator) -> tuple[Any, str]:
    """The compiled evaluator module, if it is built and not turned off (else None),
    and which evaluator that leaves."""
    return optional(load, PYTHON_TREES_ENV, "lightgbm", "evaluator")


_evaluator, TREES = choose_evaluator()


class Trees:
    """One stage of the block model: its booster, and the compiled evaluator of its
    trees where that is used (``evaluator`` says which predicts)."""

    def __init__(self, booster: lightgbm.Booster, module: Any = None) -> None:
        self.booster = booster
        self.forest, self.evaluator = compiled_forest(booster, module or _evaluator)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The stage's probabilities of ``x``'s rows: what ``booster.predict(x)``
        gives."""
        if self.forest is None:
            return np.asarray(self.booster.predict(x, num_threads=1))
        return evaluate(self.forest, x)


def evaluate(forest: Any, x: np.ndarray) -> np.ndarray:
    """``forest`` (a ``scraper._trees.Forest``) on ``x``, read as LightGBM reads a
    matrix (other types than float32 and float64 as float32)."""
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    out = np.empty(len(x))
    forest.predict(x, out)
    return out


def compiled_forest(booster: lightgbm.Booster, module: Any) -> tuple[Any, str]:
    """The compiled evaluator of ``booster``'s trees (None where there is none, it
    cannot read them or it disagrees with LightGBM on ``probe_rows``), and which
    evaluator predicts."""
    if module is None:
        return None, TREES
    try:
        forest = read_forest(booster.model_to_string())
    except ExtractError as exc:
        return None, f"lightgbm (the compiled evaluator cannot read the model: {exc})"
    compiled = module.Forest(*forest.arrays())
    probe = probe_rows(forest)
    if not np.array_equal(evaluate(compiled, probe), booster.predict(probe, num_threads=1)):
        return None, "lightgbm (the compiled evaluator disagrees with it on the probe rows)"
    return compiled, "compiled"


# Values every feature takes in the probe rows besides its thresholds and the floats
# next to them: missing, infinite, both zeros, the values LightGBM reads as zero
# (|x| <= 1e-35f) and the next ones it does not, and the categories at and past the
# ends of a 64-bit bitset, negative and huge ones included.
PROBE_VALUES = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-35, -1e-35, 1e-45, -0.5, -1.0, 1e10, 2.0**31]
    + [1.2e-35, -1.2e-35, 63.5, 64.0, 65.0, *range(64)],
    np.float32,
)


def probe_rows(forest: Forest, seed: int = 0) -> np.ndarray:
    """Rows in which each feature takes each of its split thresholds (as the nearest
    float32 and the floats on either side) and ``PROBE_VALUES``, in a shuffled order
    of its own."""
    split = (forest.children != np.arange(len(forest.children))) & (forest.categories == 0)
    random = np.random.default_rng(seed)
    columns = []
    for j in range(forest.features):
        with np.errstate(over="ignore"):  # LightGBM writes an infinite threshold as 1e300
            thresholds = forest.threshold[split & (forest.feature == j)].astype(np.float32)
        near = [np.nextafter(thresholds, np.float32(-np.inf)), thresholds]
        near.append(np.nextafter(thresholds, np.float32(np.inf)))
        columns.append(random.permutation(np.concatenate([PROBE_VALUES, *near])))
    rows = max(len(column) for column in columns)
    return np.stack([np.resize(column, rows) for column in columns], axis=1)
