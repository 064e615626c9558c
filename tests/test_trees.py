"""The block model's trees (``scraper/trees.py``, ``scraper/_trees.pyx``): the compiled
evaluator gives what LightGBM's ``Booster.predict`` gives, bit for bit (missing values,
zeros, categories, the values at a threshold), it reads only model texts it can read
exactly, and LightGBM predicts where it is missing, disagrees or is turned off."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import lightgbm
import numpy as np
import pytest

from scraper import trees
from scraper.blocks import shipped_model
from scraper.errors import ExtractError
from scraper.trees import (
    PROBE_VALUES,
    PYTHON_TREES_ENV,
    Trees,
    choose_evaluator,
    probe_rows,
    read_forest,
)

from .conftest import compiled_module, printed_with

CATEGORY = 3  # the categorical column of the synthetic rows


def synthetic_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of five features (the fourth a category in 0..39, the fifth zero half of
    the time, a tenth of all values missing) and a label that depends on all of them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5)).astype(np.float32)
    x[:, CATEGORY] = rng.integers(0, 40, rows)
    x[rng.random(rows) < 0.5, 4] = 0.0
    chosen = np.isin(x[:, CATEGORY], [1, 5, 7, 12, 33, 38])
    y = x[:, 0] + 1.5 * chosen - x[:, 4] + rng.normal(0, 0.5, rows) > 0.5
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, y.astype(np.float64)


def train(rounds: int = 20, **params: Any) -> lightgbm.Booster:
    x, y = synthetic_rows(3000, seed=1)
    settings = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "num_threads": 1,
        "deterministic": True,
        "verbosity": -1,
        **params,
    }
    data = lightgbm.Dataset(x, y, categorical_feature=[CATEGORY], params={"verbosity": -1})
    return lightgbm.train(settings, data, num_boost_round=rounds)


@pytest.fixture(scope="module")
def booster() -> lightgbm.Booster:
    return train()


def decision_types(booster: lightgbm.Booster) -> set[int]:
    text = booster.model_to_string()
    return {
        int(d)
        for line in text.splitlines()
        if line.startswith("decision_type=")
        for d in line.removeprefix("decision_type=").split()
    }


def compiled(booster: lightgbm.Booster) -> Trees:
    """``booster``'s trees evaluated by the compiled evaluator (skipped where it is not
    built, but never on CI)."""
    stage = Trees(booster, compiled_module("_trees"))
    assert stage.evaluator == "compiled"
    return stage


def lightgbm_rows(booster: lightgbm.Booster) -> np.ndarray:
    """Rows of every kind: the training rows, new ones, and the probe rows (each
    threshold and the floats next to it, missing, infinite and tiny values, zeros of
    both signs, categories negative, fractional and past every bitset)."""
    forest = read_forest(booster.model_to_string())
    return np.vstack(
        [synthetic_rows(3000, seed=1)[0], synthetic_rows(500, seed=2)[0]]
        + [probe_rows(forest, seed) for seed in range(3)]
    )


def assert_same(stage: Trees, booster: lightgbm.Booster, x: np.ndarray) -> None:
    ours, theirs = stage.predict(x), booster.predict(x, num_threads=1)
    assert ours.dtype == np.float64 and np.array_equal(ours, theirs)


def test_the_synthetic_model_has_categorical_splits_and_splits_with_missing_values(
    booster: lightgbm.Booster,
):
    kinds = decision_types(booster)
    assert any(d & 1 for d in kinds)  # categorical
    assert any(not d & 1 and (d >> 2) & 3 == 2 for d in kinds)  # numerical, NaN missing
    assert any(not d & 1 and (d >> 2) & 3 == 2 and d & 2 for d in kinds)  # ... default left


def test_the_compiled_evaluator_gives_lightgbm_s_probabilities_bit_for_bit(
    booster: lightgbm.Booster,
):
    stage = compiled(booster)
    assert not stage.forest.plain  # the tests of missing values run
    assert_same(stage, booster, lightgbm_rows(booster))


def test_with_zeros_as_missing_values_too():
    booster = train(zero_as_missing=True)
    assert any(not d & 1 and (d >> 2) & 3 == 1 for d in decision_types(booster))
    assert_same(compiled(booster), booster, lightgbm_rows(booster))


def test_without_missing_values_nan_reads_as_zero():
    booster = train(use_missing=False)
    assert all(d & 1 or (d >> 2) & 3 == 0 for d in decision_types(booster))
    stage = compiled(booster)
    assert stage.forest.plain  # the walk without the tests of missing values
    assert_same(stage, booster, lightgbm_rows(booster))


def test_trees_of_a_single_leaf_are_read():
    booster = train(rounds=3, min_gain_to_split=1e9)
    assert "num_leaves=1\n" in booster.model_to_string()
    assert_same(compiled(booster), booster, lightgbm_rows(booster))


def test_a_matrix_is_read_as_lightgbm_reads_it(booster: lightgbm.Booster):
    stage = compiled(booster)
    x = lightgbm_rows(booster)[:200]
    assert_same(stage, booster, x.astype(np.float64))
    assert_same(stage, booster, np.asfortranarray(x))
    assert_same(stage, booster, x[::3])  # not contiguous
    assert_same(stage, booster, np.nan_to_num(x, posinf=9, neginf=-9).astype(np.int64))
    assert stage.predict(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match="features"):
        stage.predict(x[:, :4])


def test_the_compiled_and_lightgbm_evaluators_of_a_stage_agree(
    booster: lightgbm.Booster, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(trees, "_evaluator", None)
    fallback = Trees(booster)
    assert fallback.forest is None
    x = lightgbm_rows(booster)
    assert np.array_equal(compiled(booster).predict(x), fallback.predict(x))


def test_the_shipped_model_is_evaluated_by_the_compiled_evaluator():
    compiled_module("_trees")
    if os.environ.get(PYTHON_TREES_ENV) != "1":
        model = shipped_model()
        assert [stage.evaluator for stage in model.trees] == ["compiled"] * 3
        for stage in model.trees:
            x = probe_rows(read_forest(stage.booster.model_to_string()), seed=7)
            assert_same(stage, stage.booster, x)


# --- model texts -----------------------------------------------------------------------


def tree_text(booster: lightgbm.Booster, key: str, change: Any) -> str:
    """``booster``'s model text with the first tree's ``key`` line changed by ``change``
    (a function of its values)."""
    text = booster.model_to_string()
    start = text.index(f"\n{key}=") + len(key) + 2
    end = text.index("\n", start)
    return text[:start] + " ".join(change(text[start:end].split())) + text[end:]


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("threshold", lambda v: ["x", *v[1:]]),  # not a number
        ("threshold", lambda v: v[1:]),  # one missing
        ("left_child", lambda v: ["0", *v[1:]]),  # the root its own child: a loop
        ("left_child", lambda v: ["99", *v[1:]]),  # no such split
        ("right_child", lambda v: ["-99", *v[1:]]),  # no such leaf
        ("split_feature", lambda v: ["7", *v[1:]]),  # no such feature
        ("num_leaves", lambda v: ["0"]),
        ("leaf_value", lambda v: ["nan", *v[1:]]),
        ("objective", lambda v: ["regression"]),  # not a binary model
    ],
)
def test_a_model_text_the_evaluator_cannot_read_exactly_is_an_extract_error(
    booster: lightgbm.Booster, key: str, change: Any
):
    with pytest.raises(ExtractError, match="block model unreadable"):
        read_forest(tree_text(booster, key, change))


def test_a_broken_model_text_is_an_extract_error(booster: lightgbm.Booster):
    text = booster.model_to_string()
    cut = text.split("end of trees")[0]
    for broken in (
        text[: len(text) // 2],
        cut,
        "",
        "tree\nversion=v4\n",
        text.replace("Tree=", ""),
    ):
        with pytest.raises(ExtractError, match="block model unreadable"):
            read_forest(broken)


def test_a_categorical_split_past_category_63_is_left_to_lightgbm():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 100, size=(2000, 2)).astype(np.float32)
    y = np.isin(x[:, 0], [3, 70, 90]).astype(np.float64)
    data = lightgbm.Dataset(x, y, categorical_feature=[0], params={"verbosity": -1})
    settings = {"objective": "binary", "verbosity": -1, "min_data_per_group": 5}
    booster = lightgbm.train(settings, data, num_boost_round=3)
    with pytest.raises(ExtractError, match="past 63"):
        read_forest(booster.model_to_string())
    stage = Trees(booster, compiled_module("_trees"))
    assert stage.forest is None and "cannot read the model" in stage.evaluator
    assert np.array_equal(stage.predict(x), booster.predict(x, num_threads=1))


# --- which evaluator predicts ----------------------------------------------------------


def test_lightgbm_predicts_when_the_compiled_evaluator_disagrees_on_the_probe_rows(
    booster: lightgbm.Booster,
):
    module = compiled_module("_trees")

    class Off(module.Forest):  # type: ignore[name-defined,misc]
        def predict(self, x: Any, out: Any) -> None:
            super().predict(x, out)
            out[-1] = np.nextafter(out[-1], 2.0)

    stage = Trees(booster, SimpleNamespace(Forest=Off))
    assert stage.forest is None and "disagrees" in stage.evaluator


def test_lightgbm_predicts_when_the_compiled_evaluator_is_turned_off():
    code = "from scraper import trees; print(trees.TREES)"
    assert printed_with(PYTHON_TREES_ENV, code) == f"lightgbm ({PYTHON_TREES_ENV}=1)"


def test_lightgbm_predicts_when_the_compiled_evaluator_is_missing(
    monkeypatch: pytest.MonkeyPatch, booster: lightgbm.Booster
):
    monkeypatch.delenv(PYTHON_TREES_ENV, raising=False)

    def missing() -> Any:
        raise ImportError("not built")

    module, name = choose_evaluator(missing)
    assert module is None and name == "lightgbm (no compiled evaluator: not built)"
    monkeypatch.setattr(trees, "_evaluator", None)
    monkeypatch.setattr(trees, "TREES", name)
    assert Trees(booster).evaluator == name


def test_the_compiled_evaluator_is_used_where_it_is_built():
    compiled_module("_trees")
    if os.environ.get(PYTHON_TREES_ENV) != "1":
        assert trees.TREES == "compiled"


def test_the_probe_rows_hold_each_threshold_and_the_floats_next_to_it(
    booster: lightgbm.Booster,
):
    forest = read_forest(booster.model_to_string())
    rows = probe_rows(forest)
    numerical = (forest.children != np.arange(len(forest.children))) & (forest.categories == 0)
    for j in range(CATEGORY):
        at = forest.threshold[numerical & (forest.feature == j)].astype(np.float32)
        assert len(at) and np.isin(at, rows[:, j]).all()
        assert np.isin(np.nextafter(at, np.float32(np.inf)), rows[:, j]).all()
    assert np.isin(PROBE_VALUES[~np.isnan(PROBE_VALUES)], rows[:, CATEGORY]).all()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("children", 0, "leaf that does not lead to itself"),  # the root a leaf...
        ("children", -1, "children or feature"),  # ... or its children past the end
        ("feature", 99, "feature the model does not have"),
        ("categories", 1, "children or feature"),  # a bitset on a numerical feature
    ],
)
def test_the_compiled_evaluator_refuses_nodes_it_could_not_walk_safely(
    booster: lightgbm.Booster, field: str, value: int, message: str
):
    module = compiled_module("_trees")
    forest = read_forest(booster.model_to_string())
    assert forest.categories[0] == 0  # the first root is a numerical split
    column = getattr(forest, field).copy()
    column[0] = value if value >= 0 else len(column)
    setattr(forest, field, column)
    with pytest.raises(ValueError, match=message):
        module.Forest(*forest.arrays())


def test_the_compiled_evaluator_refuses_trees_without_all_their_arrays(
    booster: lightgbm.Booster,
):
    module = compiled_module("_trees")
    forest = read_forest(booster.model_to_string())
    forest.flags = forest.flags[1:]
    with pytest.raises(ValueError, match="all their fields"):
        module.Forest(*forest.arrays())
    forest = read_forest(booster.model_to_string())
    forest.roots = forest.roots + len(forest.children)
    with pytest.raises(ValueError, match="root"):
        module.Forest(*forest.arrays())


def test_a_compiled_forest_is_made_once_and_predicts_only_once_made(
    booster: lightgbm.Booster,
):
    module = compiled_module("_trees")
    arrays = read_forest(booster.model_to_string()).arrays()
    forest = module.Forest(*arrays)
    with pytest.raises(ValueError, match="made once"):
        forest.__init__(*arrays)
    unmade = module.Forest.__new__(module.Forest)
    with pytest.raises(ValueError, match="refused"):
        unmade.predict(np.zeros((1, 5), np.float32), np.zeros(1))
