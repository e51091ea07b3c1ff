"""Conformance cases: MeanShift, AffinityPropagation, Birch, FeatureAgglomeration (sklearn.cluster) and
KNNImputer (sklearn.impute).

KNNImputer runs on the shared NaN datasets and on local ones: a column never observed in fit (with values in
the rows past the fitted ones), a numeric missing-value marker, and blocks of rows that share no observed
feature with the donors of their missing columns (sklearn then imputes the column's mean). Its cases are
fitted on the first rows only, so that the graph also imputes rows it does not store. The data is continuous:
on equal distances sklearn's donors depend on numpy's argpartition (see `convert_knn_imputer`), which
tests/test_cluster_extra.py covers on data where ties carry equal values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.base import clone
from sklearn.cluster import AffinityPropagation, Birch, FeatureAgglomeration, KMeans, MeanShift
from sklearn.impute import KNNImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, Dataset, _cases, dataset


@cache
def local_dataset(name: str) -> Dataset:
    """The shared datasets, and the local NaN ones described in the module docstring."""
    rng = np.random.default_rng(21)
    if name == "nan_empty_column":  # column 2 is missing in every fitted row (the first 500), present after
        X = dataset("nan_regression").X.copy()
        X[:500, 2] = np.nan
        return Dataset(X, None)
    if name == "nan_marker":  # -1 marks a missing value; no NaN
        X = datasets.make_regression(600, 6, random_state=22)[0] * 3 + 10
        X[rng.random(X.shape) < 0.15] = -1.0
        return Dataset(X, None)
    if name == "nan_blocks":
        X = rng.normal(size=(600, 6)) * [1.0, 2.0, 0.5, 3.0, 1.0, 10.0] + [0.0, 5.0, -2.0, 0.0, 1.0, 100.0]
        X[0:150, :3] = np.nan  # these rows share no observed feature with the donors of columns 0-2 ...
        X[150:300, 3:] = np.nan  # ... which these rows are, and the other way round
        X[300:][rng.random((300, 6)) < 0.25] = np.nan
        X[[20, 170, 320, 550], :] = np.nan  # rows with nothing observed
        return Dataset(X, None)
    return dataset(name)


@dataclass(frozen=True)
class FitRowsCase(Case):
    """A case on a local dataset, fitted on its first ``fit_rows`` rows (all rows when None)."""

    fit_rows: int | None = None

    def fitted(self) -> tuple[Any, Dataset]:
        return _fit_local(self)


@cache
def _fit_local(case: FitRowsCase) -> tuple[Any, Dataset]:
    data = local_dataset(case.data)
    rows = slice(None) if case.fit_rows is None else slice(0, case.fit_rows)
    estimator = clone(case.make())
    if data.y is None:
        estimator.fit(data.X[rows])
    else:
        estimator.fit(data.X[rows], data.y[rows])
    return estimator, data


def local(make: Callable[[], Any], *data: str, name: str | None = None, fit_rows: int | None = None) -> list[Case]:
    label = name or type(make()).__name__
    return [FitRowsCase(f"{label}-{d}", make, d, fit_rows) for d in data]


NAN_DATA = ("nan_binary", "nan_regression", "nan_blocks")

CASES: list[Case] = [
    # ---------------------------------------------------------------- MeanShift
    *_cases(MeanShift, "iris", "wine", name="MeanShift"),
    *_cases(lambda: MeanShift(bandwidth=2.5, bin_seeding=True), "random_multiclass", name="MeanShift_bin_seeding"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), MeanShift(bandwidth=1.5, cluster_all=False)),
        "breast_cancer",
        name="MeanShift_not_cluster_all",
    ),
    # ---------------------------------------------------------------- AffinityPropagation
    *_cases(lambda: AffinityPropagation(random_state=0), "iris", "wine", name="AffinityPropagation"),
    *_cases(
        lambda: AffinityPropagation(damping=0.9, preference=-200, random_state=0),
        "random_regression",
        "digits",
        name="AffinityPropagation_preference",
    ),
    # max_iter=1 stops before any exemplar emerges: sklearn predicts -1 for every row.
    *_cases(lambda: AffinityPropagation(max_iter=1, random_state=0), "iris", name="AffinityPropagation_no_exemplars"),
    # ---------------------------------------------------------------- Birch
    # Default threshold: many subclusters of one row, at distance ~0 from the rows that made them (see
    # tests/test_cluster_extra.py); digits is integer-valued, where those distances are exact.
    *_cases(Birch, "iris", "digits", "breast_cancer", name="Birch"),
    *_cases(lambda: Birch(n_clusters=None, threshold=1.5), "iris", "digits", name="Birch_no_global_step"),
    *_cases(
        lambda: Birch(n_clusters=6, threshold=0.2, branching_factor=10),
        "random_multiclass",
        name="Birch_small_branching",
    ),
    *_cases(
        lambda: Birch(n_clusters=KMeans(4, n_init=2, random_state=0), threshold=1.0),
        "random_regression",
        name="Birch_kmeans_global_step",
    ),
    # ---------------------------------------------------------------- FeatureAgglomeration
    *_cases(lambda: FeatureAgglomeration(2), "iris", "wine", name="FeatureAgglomeration"),
    *_cases(
        lambda: FeatureAgglomeration(9, linkage="average", metric="manhattan"),
        "digits",
        "random_regression",
        name="FeatureAgglomeration_average",
    ),
    *_cases(
        lambda: FeatureAgglomeration(n_clusters=None, distance_threshold=400.0),
        "breast_cancer",
        name="FeatureAgglomeration_threshold",
    ),
    *[
        case
        for pooling in (np.median, np.max, np.min)
        for case in _cases(
            lambda pooling=pooling: FeatureAgglomeration(5, pooling_func=pooling),
            "wine",
            "digits",
            "diabetes",
            name=f"FeatureAgglomeration_{pooling.__name__}",
        )
    ],
    # ---------------------------------------------------------------- KNNImputer
    *local(KNNImputer, *NAN_DATA, fit_rows=500),
    *local(lambda: KNNImputer(weights="distance"), *NAN_DATA, name="KNNImputer_distance", fit_rows=500),
    *local(lambda: KNNImputer(n_neighbors=1), "nan_binary", "nan_blocks", name="KNNImputer_1", fit_rows=400),
    *local(
        lambda: KNNImputer(n_neighbors=25, add_indicator=True),
        "nan_regression",
        "nan_blocks",
        name="KNNImputer_25_indicator",
        fit_rows=500,
    ),
    *local(KNNImputer, "nan_empty_column", name="KNNImputer_empty_column", fit_rows=500),
    *local(
        lambda: KNNImputer(keep_empty_features=True, weights="distance", add_indicator=True),
        "nan_empty_column",
        name="KNNImputer_keep_empty",
        fit_rows=500,
    ),
    *local(
        lambda: KNNImputer(missing_values=-1.0, n_neighbors=3, weights="distance", add_indicator=True),
        "nan_marker",
        name="KNNImputer_marker",
        fit_rows=450,
    ),
    *local(
        lambda: make_pipeline(KNNImputer(n_neighbors=4), StandardScaler(), Birch(n_clusters=3, threshold=2.0)),
        "nan_binary",
        name="Pipeline_KNNImputer_Birch",
        fit_rows=500,
    ),
]
