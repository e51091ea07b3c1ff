"""Conformance cases of the neighbour estimators beyond the k-nearest and radius models: LocalOutlierFactor
(novelty=True), KernelDensity and NeighborhoodComponentsAnalysis, on several datasets (targets ignored but by
NCA), over n_neighbors, contamination, algorithm and metric (LOF), kernel, bandwidth (numbers, "scott",
"silverman") and metric (KDE)."""

from __future__ import annotations

from sklearn.neighbors import KernelDensity, LocalOutlierFactor, NeighborhoodComponentsAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases


def _scaled(make):
    return lambda: make_pipeline(StandardScaler(), make())


# Chebyshev distances tie at the k-th neighbour on the discretised datasets: continuous ones for it (as
# tests/cases_neighbors.py). Cosine is brute force through numpy's argpartition: continuous data too.
LOF_METRICS = {
    "manhattan": ({"metric": "manhattan"}, ("iris", "breast_cancer")),
    "chebyshev": ({"metric": "chebyshev"}, ("breast_cancer", "random_regression")),
    "minkowski3": ({"p": 3}, ("iris", "wine")),
    "cosine": ({"metric": "cosine"}, ("breast_cancer",)),
}

# (kernel, bandwidth, datasets): bandwidths on the scaled data, wide enough for the compact kernels to reach
# a few neighbours, narrow enough for them to miss most. Cosine's kernel norm is NaN in 4 dimensions (iris)
# in sklearn: tests/test_outliers.py checks that case.
KDE_KERNELS = [
    ("gaussian", 0.5, ("iris", "breast_cancer", "wine", "random_regression")),
    ("gaussian", "scott", ("wine", "random_regression")),
    ("gaussian", "silverman", ("iris", "breast_cancer")),
    ("tophat", 1.5, ("iris", "wine")),
    ("epanechnikov", 2.0, ("iris", "random_regression")),
    ("exponential", 0.7, ("breast_cancer", "wine")),
    ("linear", 2.5, ("wine", "random_regression")),
    ("cosine", 2.5, ("wine", "random_regression")),
]
KDE_METRICS = {
    "manhattan": {"metric": "manhattan"},
    "chebyshev": {"metric": "chebyshev"},
    "minkowski3": {"metric": "minkowski", "metric_params": {"p": 3}},
}

CASES: list[Case] = [
    *_cases(
        lambda: LocalOutlierFactor(novelty=True),
        "breast_cancer",
        "iris",
        "wine",
        "random_regression",
        "diabetes",
    ),
    *_cases(
        lambda: LocalOutlierFactor(n_neighbors=5, contamination=0.1, novelty=True),
        "iris",
        "wine",
        "random_regression",
        name="LocalOutlierFactor_k5",
    ),
    *[
        case
        for algorithm in ("brute", "kd_tree", "ball_tree")
        for case in _cases(
            _scaled(
                lambda algorithm=algorithm: LocalOutlierFactor(
                    n_neighbors=12, contamination=0.2, algorithm=algorithm, novelty=True
                )
            ),
            "iris",
            "random_regression",
            name=f"LocalOutlierFactor_{algorithm}",
        )
    ],
    *[
        case
        for metric, (kw, data) in LOF_METRICS.items()
        for case in _cases(
            _scaled(lambda kw=kw: LocalOutlierFactor(n_neighbors=8, novelty=True, **kw)),
            *data,
            name=f"LocalOutlierFactor_{metric}",
        )
    ],
    *[
        case
        for kernel, bandwidth, data in KDE_KERNELS
        for case in _cases(
            _scaled(lambda kernel=kernel, bandwidth=bandwidth: KernelDensity(kernel=kernel, bandwidth=bandwidth)),
            *data,
            name=f"KernelDensity_{kernel}_{bandwidth}",
        )
    ],
    *_cases(KernelDensity, "iris", "random_regression"),
    *[
        case
        for metric, kw in KDE_METRICS.items()
        for kernel in ("gaussian", "epanechnikov")
        for case in _cases(
            _scaled(lambda kw=kw, kernel=kernel: KernelDensity(kernel=kernel, bandwidth=1.5, **kw)),
            "iris",
            "wine",
            name=f"KernelDensity_{metric}_{kernel}",
        )
    ],
    *_cases(
        _scaled(lambda: KernelDensity(kernel="linear", bandwidth=2.0, algorithm="ball_tree", leaf_size=5)),
        "breast_cancer",
        name="KernelDensity_ball_tree",
    ),
    *_cases(
        _scaled(lambda: KernelDensity(bandwidth=0.8, breadth_first=False)),
        "wine",
        name="KernelDensity_depth_first",
    ),
    *_cases(
        lambda: NeighborhoodComponentsAnalysis(max_iter=30, random_state=0),
        "iris",
        "wine",
        "breast_cancer",
        "string_labels",
    ),
    *_cases(
        _scaled(lambda: NeighborhoodComponentsAnalysis(n_components=2, init="pca", max_iter=30, random_state=0)),
        "wine",
        "random_multiclass",
        name="NeighborhoodComponentsAnalysis_2d",
    ),
]
