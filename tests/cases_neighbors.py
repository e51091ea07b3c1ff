"""Conformance cases of sk2tensor.converters.neighbors: every metric, both weightings, brute force and tree
algorithms, radius models with and without outliers, nearest centroids."""

from __future__ import annotations

from sklearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    NearestCentroid,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases


def _scaled(make):
    return lambda: make_pipeline(StandardScaler(), make())


def _tree(kw: dict, weights: str) -> dict:
    """Distance-weighted euclidean models query a tree: the conformance rows are the training rows, and
    sklearn's brute force (|x|^2 - 2 x.y + |y|^2) leaves a rounding residue instead of a zero distance to a
    row's own copy, which its 1 / d weights blow up (see tests/test_neighbors.py)."""
    if weights == "distance" and kw.get("metric", "minkowski") == "minkowski" and kw.get("p", 2) == 2:
        return {**kw, "algorithm": "kd_tree"}
    return kw


# Chebyshev distances on the discretised datasets (iris, diabetes) tie at the k-th neighbour for many rows,
# where sklearn's tree keeps whichever tied row its traversal meets first: continuous datasets instead.
DATASETS = {
    "chebyshev": ("breast_cancer", "random_multiclass"),
    "minkowski3": ("iris", "wine"),
    "minkowski_half": ("iris",),
}
METRICS = {
    "euclidean": {},
    "manhattan": {"metric": "manhattan"},
    "chebyshev": {"metric": "chebyshev"},
    "minkowski3": {"p": 3},
    "minkowski_half": {"p": 0.5},
    "cosine": {"metric": "cosine"},
}

CASES: list[Case] = [
    *[
        case
        for metric, kw in METRICS.items()
        for weights in ("uniform", "distance")
        for case in _cases(
            _scaled(lambda kw=kw, weights=weights: KNeighborsClassifier(5, weights=weights, **_tree(kw, weights))),
            *DATASETS.get(metric, ("iris", "breast_cancer")),
            name=f"KNeighborsClassifier_{metric}_{weights}",
        )
    ],
    *_cases(lambda: KNeighborsClassifier(3), "wine", "string_labels", "shifted_labels", "bool_labels"),
    *_cases(
        lambda: KNeighborsClassifier(7, algorithm="brute"),
        "breast_cancer",
        "random_binary",
        name="KNeighborsClassifier_brute",
    ),
    *_cases(
        lambda: KNeighborsClassifier(4, algorithm="ball_tree"), "random_multiclass", name="KNeighborsClassifier_ball"
    ),
    *[
        case
        for metric, kw in METRICS.items()
        for weights in ("uniform", "distance")
        for case in _cases(
            _scaled(lambda kw=kw, weights=weights: KNeighborsRegressor(4, weights=weights, **_tree(kw, weights))),
            "random_regression" if metric == "chebyshev" else "diabetes",
            "linnerud",
            name=f"KNeighborsRegressor_{metric}_{weights}",
        )
    ],
    *_cases(lambda: KNeighborsRegressor(6, algorithm="brute"), "random_multioutput", name="KNeighborsRegressor"),
    *[
        case
        for weights in ("uniform", "distance")
        for case in _cases(
            _scaled(lambda weights=weights: RadiusNeighborsClassifier(2.5, weights=weights, outlier_label=None)),
            "iris",
            "wine",
            name=f"RadiusNeighborsClassifier_{weights}",
        )
    ],
    *_cases(
        _scaled(lambda: RadiusNeighborsClassifier(1.0, outlier_label="most_frequent", metric="manhattan")),
        "iris",
        "string_labels",
        name="RadiusNeighborsClassifier_outliers",
    ),
    *_cases(
        _scaled(lambda: RadiusNeighborsClassifier(0.8, outlier_label=99, weights="distance")),
        "shifted_labels",
        name="RadiusNeighborsClassifier_outlier_label",
    ),
    *[
        case
        for weights in ("uniform", "distance")
        for case in _cases(
            _scaled(lambda weights=weights: RadiusNeighborsRegressor(3.0, weights=weights)),
            "diabetes",
            "linnerud",
            name=f"RadiusNeighborsRegressor_{weights}",
        )
    ],
    *_cases(lambda: RadiusNeighborsClassifier(1.0, outlier_label="most_frequent"), "iris"),
    *_cases(lambda: RadiusNeighborsRegressor(60.0, weights="distance"), "linnerud"),
    *_cases(NearestCentroid, "iris", "wine", "breast_cancer", "string_labels", "digits"),
    *_cases(lambda: NearestCentroid(metric="manhattan"), "iris", "wine", name="NearestCentroid_manhattan"),
    *_cases(
        lambda: NearestCentroid(priors=[0.2, 0.3, 0.5], shrink_threshold=0.2),
        "wine",
        "shifted_labels",
        name="NearestCentroid_priors",
    ),
    *_cases(
        lambda: NearestCentroid(priors="empirical"), "breast_cancer", "random_binary", name="NearestCentroid_empirical"
    ),
]
