"""The benchmark's models and data: seeded, 28 features, fitted once per run."""

from __future__ import annotations

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
    if hasattr(model, "_predictors"):  # HistGradientBoosting
        return [_HistTree(p) for iteration in model._predictors for p in iteration]
    estimators = np.asarray(model.estimators_, dtype=object).ravel()
    return [e.tree_ for e in estimators]


class _HistTree:
    def __init__(self, predictor: Any) -> None:
        nodes = predictor.nodes
        self.node_count = len(nodes)
        self.max_depth = int(nodes["depth"].max())
