"""The conformance case table: one row per (estimator configuration, dataset).

Adding an estimator means adding rows to the case module of its family (``tests/cases_<family>.py``, each
defining ``CASES``; the ones below are the first families'). `test_conformance.py` runs every row, and a
test checks that every class sk2tensor registers has at least one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.base import clone
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    RandomTreesEmbedding,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray | None


def _with_nans(X: np.ndarray, share: float, seed: int) -> np.ndarray:
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < share] = np.nan
    return X


@cache
def dataset(name: str) -> Dataset:
    """Datasets sklearn ships, and generated ones for what they lack (NaN, label kinds, multi-output)."""
    if name == "iris":
        return Dataset(*datasets.load_iris(return_X_y=True))
    if name == "wine":
        return Dataset(*datasets.load_wine(return_X_y=True))
    if name == "breast_cancer":
        return Dataset(*datasets.load_breast_cancer(return_X_y=True))
    if name == "diabetes":
        return Dataset(*datasets.load_diabetes(return_X_y=True))
    if name == "digits":
        return Dataset(*datasets.load_digits(return_X_y=True))
    if name == "linnerud":  # multi-output regression
        X, y = datasets.load_linnerud(return_X_y=True)
        return Dataset(X, y)
    if name == "random_binary":
        X, y = datasets.make_classification(600, 12, n_informative=6, random_state=1)
        return Dataset(X * 10 + 3, y)
    if name == "random_multiclass":
        X, y = datasets.make_classification(600, 10, n_informative=6, n_classes=4, random_state=2)
        return Dataset(X, y)
    if name == "random_regression":
        X, y = datasets.make_regression(600, 10, noise=5.0, random_state=3)
        return Dataset(X, y)
    if name == "random_multioutput":
        X, y = datasets.make_regression(500, 8, n_targets=3, noise=1.0, random_state=4)
        return Dataset(X, y)
    if name == "string_labels":
        X, y = datasets.load_iris(return_X_y=True)
        return Dataset(X, np.array(["setosa", "versicolor", "virginica"], dtype=object)[y])
    if name == "shifted_labels":  # negative, non-contiguous integers
        X, y = datasets.load_wine(return_X_y=True)
        return Dataset(X, np.array([-7, 3, 40])[y])
    if name == "bool_labels":
        X, y = datasets.load_breast_cancer(return_X_y=True)
        return Dataset(X, y.astype(bool))
    if name == "nan_binary":
        X, y = datasets.make_classification(800, 8, n_informative=5, random_state=5)
        return Dataset(_with_nans(X, 0.15, 5), y)
    if name == "nan_regression":
        X, y = datasets.make_regression(800, 8, noise=3.0, random_state=6)
        return Dataset(_with_nans(X, 0.15, 6), y)
    if name == "categorical":  # integer-coded categories (with NaN) beside numeric columns
        rng = np.random.default_rng(7)
        X = np.c_[rng.integers(0, 6, 600), rng.normal(size=600), rng.integers(0, 12, 600), rng.normal(size=600)]
        X[rng.random(600) < 0.1, 0] = np.nan
        y = ((X[:, 0] % 2 == 0) ^ (X[:, 2] > 6) ^ (X[:, 1] > 0)).astype(int)
        return Dataset(X, y)
    raise KeyError(name)


@dataclass(frozen=True)
class Case:
    """An estimator configuration and the dataset it is fitted and checked on."""

    id: str
    make: Callable[[], Any]
    data: str

    def fitted(self) -> tuple[Any, Dataset]:
        return _fit(self)


@cache
def _fit(case: Case) -> tuple[Any, Dataset]:
    data = dataset(case.data)
    estimator = clone(case.make())
    if data.y is None or isinstance(estimator, IsolationForest):
        estimator.fit(data.X)
    else:
        estimator.fit(data.X, data.y)
    return estimator, data


def _cases(make: Callable[[], Any], *data: str, name: str | None = None) -> list[Case]:
    label = name or type(make()).__name__
    return [Case(f"{label}-{d}", make, d) for d in data]


CLASSIFICATION = ("breast_cancer", "iris", "random_multiclass", "string_labels", "shifted_labels")

CASES: list[Case] = [
    *_cases(LinearRegression, "diabetes", "random_regression", "linnerud"),
    *_cases(lambda: Ridge(alpha=0.5), "diabetes", "random_regression", "linnerud"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        *CLASSIFICATION,
        "wine",
        "bool_labels",
        "digits",
        name="scaled_LogisticRegression",
    ),
    *_cases(lambda: LogisticRegression(max_iter=5000), "iris", "random_binary", "wine"),
    *_cases(
        lambda: LogisticRegression(C=0.1, fit_intercept=False, max_iter=2000),
        "random_multiclass",
        name="LogisticRegression_no_intercept",
    ),
    *_cases(StandardScaler, "iris", "diabetes", "random_regression"),
    *_cases(lambda: StandardScaler(with_mean=False), "wine", name="StandardScaler_no_mean"),
    *_cases(lambda: StandardScaler(with_std=False), "wine", name="StandardScaler_no_std"),
    *_cases(
        lambda: Pipeline([("scale", StandardScaler()), ("skip", "passthrough"), ("ridge", Ridge())]),
        "diabetes",
        name="Pipeline_passthrough",
    ),
    *_cases(
        lambda: Pipeline([("a", StandardScaler()), ("b", StandardScaler(with_mean=False))]),
        "iris",
        name="Pipeline_transformers",
    ),
    *_cases(lambda: DecisionTreeClassifier(max_depth=6, random_state=0), *CLASSIFICATION, "nan_binary"),
    *_cases(lambda: ExtraTreeClassifier(random_state=0), "iris", "bool_labels"),
    *_cases(
        lambda: DecisionTreeRegressor(max_depth=8, random_state=0), "diabetes", "random_multioutput", "nan_regression"
    ),
    *_cases(lambda: ExtraTreeRegressor(random_state=0), "diabetes", "linnerud"),
    *_cases(lambda: RandomForestClassifier(30, max_depth=8, random_state=0), *CLASSIFICATION, "nan_binary"),
    *_cases(lambda: ExtraTreesClassifier(20, random_state=0), "wine", "string_labels", "nan_binary"),
    *_cases(lambda: RandomForestRegressor(20, random_state=0), "diabetes", "random_multioutput", "nan_regression"),
    *_cases(lambda: ExtraTreesRegressor(20, max_depth=10, random_state=0), "diabetes", "linnerud"),
    *_cases(
        lambda: GradientBoostingClassifier(n_estimators=30, random_state=0), "breast_cancer", "iris", "shifted_labels"
    ),
    *_cases(
        lambda: GradientBoostingClassifier(n_estimators=20, loss="exponential", random_state=0),
        "bool_labels",
        name="GradientBoostingClassifier_exponential",
    ),
    *[
        case
        for loss in ("squared_error", "absolute_error", "huber", "quantile")
        for case in _cases(
            lambda loss=loss: GradientBoostingRegressor(loss=loss, n_estimators=30, random_state=0),
            "diabetes",
            name=f"GradientBoostingRegressor_{loss}",
        )
    ],
    *_cases(
        lambda: GradientBoostingRegressor(n_estimators=20, init="zero", random_state=0),
        "random_regression",
        name="GradientBoostingRegressor_init_zero",
    ),
    *_cases(
        lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
        "breast_cancer",
        "iris",
        "string_labels",
        "nan_binary",
    ),
    *[
        case
        for loss in ("squared_error", "absolute_error", "poisson", "gamma", "quantile")
        for case in _cases(
            lambda loss=loss: HistGradientBoostingRegressor(
                loss=loss, max_iter=30, random_state=0, **({"quantile": 0.8} if loss == "quantile" else {})
            ),
            "diabetes",
            name=f"HistGradientBoostingRegressor_{loss}",
        )
    ],
    *_cases(lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0), "nan_regression"),
    *_cases(
        lambda: HistGradientBoostingClassifier(max_iter=20, categorical_features=[0, 2], random_state=0),
        "categorical",
        name="HistGradientBoostingClassifier_categorical",
    ),
    *_cases(lambda: IsolationForest(n_estimators=50, random_state=0), "breast_cancer", "random_regression"),
    *_cases(
        lambda: IsolationForest(n_estimators=30, max_features=0.5, random_state=0),
        "wine",
        name="IsolationForest_feature_subsets",
    ),
    *_cases(lambda: AdaBoostClassifier(n_estimators=30, random_state=0), "breast_cancer", "iris", "string_labels"),
    *_cases(
        lambda: AdaBoostClassifier(DecisionTreeClassifier(max_depth=3), n_estimators=20, random_state=0),
        "wine",
        name="AdaBoostClassifier_depth3",
    ),
    *_cases(lambda: AdaBoostRegressor(n_estimators=30, random_state=0), "diabetes", "random_regression"),
    *_cases(
        lambda: AdaBoostRegressor(
            DecisionTreeRegressor(max_depth=5), n_estimators=15, loss="exponential", random_state=0
        ),
        "diabetes",
        name="AdaBoostRegressor_exponential",
    ),
    *_cases(
        lambda: make_pipeline(StandardScaler(), RandomForestClassifier(20, max_depth=6, random_state=0)),
        "wine",
        name="Pipeline_scaler_forest",
    ),
    *_cases(lambda: RandomTreesEmbedding(n_estimators=20, random_state=0), "diabetes", "nan_regression"),
    *_cases(
        lambda: RandomTreesEmbedding(n_estimators=10, max_depth=3, sparse_output=False, random_state=0),
        "wine",
        name="RandomTreesEmbedding_dense",
    ),
    *_cases(
        lambda: make_pipeline(
            RandomTreesEmbedding(n_estimators=30, max_depth=4, random_state=0), LogisticRegression(max_iter=2000)
        ),
        "breast_cancer",
        "string_labels",
        name="Pipeline_tree_embedding_logistic",
    ),
]


def _family_cases() -> list[Case]:
    import importlib
    import pkgutil
    from pathlib import Path

    found: list[Case] = []
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.name.startswith("cases_"):
            found.extend(importlib.import_module(f"tests.{module.name}").CASES)
    return found


CASES += _family_cases()
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
