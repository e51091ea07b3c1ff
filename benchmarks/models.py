"""The benchmark's models and data: seeded, 28 features, fitted once per run."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

N_FEATURES = 28
#: Rows the models are fitted on; the benchmark rows are drawn from the same distribution, unseen.
TRAIN_ROWS = 20_000
SEED = 0


@dataclass(frozen=True)
class ModelSpec:
    """A model of the benchmark: a short name, how to build it, and its task."""

    name: str
    make: Callable[[], Any]
    task: str  # "classification" or "regression"
    in_quick: bool = False


MODELS = (
    ModelSpec(
        "RF 100x8",
        lambda: RandomForestClassifier(100, max_depth=8, random_state=SEED, n_jobs=-1),
        "classification",
        in_quick=True,
    ),
    ModelSpec(
        "RF 500x8", lambda: RandomForestClassifier(500, max_depth=8, random_state=SEED, n_jobs=-1), "classification"
    ),
    ModelSpec("RF 100 unlimited", lambda: RandomForestClassifier(100, random_state=SEED, n_jobs=-1), "classification"),
    ModelSpec("ExtraTrees 100 unlimited", lambda: ExtraTreesRegressor(100, random_state=SEED, n_jobs=-1), "regression"),
    ModelSpec(
        "GB 100x3",
        lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED),
        "classification",
        in_quick=True,
    ),
    ModelSpec(
        "HGB 100 iterations",
        lambda: HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=SEED),
        "regression",
        in_quick=True,
    ),
)


def _lightgbm() -> Any:
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=100, num_leaves=31, random_state=SEED, verbose=-1)


def _xgboost() -> Any:
    import xgboost

    return xgboost.XGBClassifier(n_estimators=100, max_depth=6, random_state=SEED)


def _catboost() -> Any:
    import catboost

    return catboost.CatBoostClassifier(
        iterations=100, depth=6, random_seed=SEED, verbose=0, allow_writing_files=False, thread_count=-1
    )


# LightGBM, XGBoost and CatBoost models, beside their own predict, when the library is installed ('bench' extra).
MODELS += tuple(
    spec
    for library, spec in (
        ("lightgbm", ModelSpec("LightGBM 100 trees, 31 leaves", _lightgbm, "classification")),
        ("xgboost", ModelSpec("XGBoost 100x6", _xgboost, "classification")),
        ("catboost", ModelSpec("CatBoost 100x6 symmetric", _catboost, "classification")),
    )
    if importlib.util.find_spec(library) is not None
)


def make_data(task: str, test_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test)``: float32, one draw split in two, so both share a distribution."""
    n = TRAIN_ROWS + test_rows
    if task == "classification":
        X, y = make_classification(n, N_FEATURES, n_informative=12, random_state=SEED)
    else:
        X, y = make_regression(n, N_FEATURES, n_informative=12, noise=5.0, random_state=SEED)
    X = X.astype(np.float32)
    return X[:TRAIN_ROWS], y[:TRAIN_ROWS], np.ascontiguousarray(X[TRAIN_ROWS:])


def describe(model: Any) -> str:
    """Tree count, depth and node count of a fitted ensemble, for the table's header."""
    trees = _trees(model)
    depths = [t.max_depth for t in trees]
    nodes = sum(t.node_count for t in trees)
    return f"{len(trees)} trees, depth {min(depths)}-{max(depths)}, {nodes:,} nodes"


def max_leaves(model: Any) -> int:
    """Most leaves of one tree of the ensemble."""
    return max((t.node_count + 1) // 2 for t in _trees(model))


def node_count(model: Any) -> int:
    return sum(t.node_count for t in _trees(model))


def _trees(model: Any) -> list[Any]:
    if hasattr(model, "tree_count_"):  # CatBoost: symmetric trees of the model's depth
        depth = int(model.get_all_params()["depth"])
        return [_LibraryTree(2 ** (depth + 1) - 1, depth) for _ in range(model.tree_count_)]
    if hasattr(model, "booster_") or hasattr(model, "get_booster"):  # LightGBM, XGBoost
        return _library_trees(model)
    if hasattr(model, "_predictors"):  # HistGradientBoosting
        return [_HistTree(p) for iteration in model._predictors for p in iteration]
    estimators = np.asarray(model.estimators_, dtype=object).ravel()
    return [e.tree_ for e in estimators]


class _HistTree:
    def __init__(self, predictor: Any) -> None:
        nodes = predictor.nodes
        self.node_count = len(nodes)
        self.max_depth = int(nodes["depth"].max())


class _LibraryTree:
    def __init__(self, node_count: int, max_depth: int) -> None:
        self.node_count, self.max_depth = node_count, max_depth


def _library_trees(model: Any) -> list[Any]:
    """Node counts and depths of a LightGBM or XGBoost model, read from its JSON dump."""
    if hasattr(model, "booster_"):

        def walk(node: dict, depth: int) -> tuple[int, int]:
            if "left_child" not in node:
                return 1, depth
            left, right = walk(node["left_child"], depth + 1), walk(node["right_child"], depth + 1)
            return left[0] + right[0] + 1, max(left[1], right[1])

        return [_LibraryTree(*walk(t["tree_structure"], 0)) for t in model.booster_.dump_model()["tree_info"]]
    import json

    trees = []
    for dump in model.get_booster().get_dump(dump_format="json"):

        def walk_xgb(node: dict, depth: int) -> tuple[int, int]:
            if "children" not in node:
                return 1, depth
            parts = [walk_xgb(child, depth + 1) for child in node["children"]]
            return sum(p[0] for p in parts) + 1, max(p[1] for p in parts)

        trees.append(_LibraryTree(*walk_xgb(json.loads(dump), 0)))
    return trees
