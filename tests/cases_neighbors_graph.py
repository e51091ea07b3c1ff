"""Conformance cases of the neighbour-graph transformers of sk2tensor.converters.neighbors:
KNeighborsTransformer and RadiusNeighborsTransformer, both modes, a few n_neighbors and radii, the euclidean,
manhattan and minkowski (p=3) metrics, brute force and
kd_tree (and one ball_tree, chebyshev and cosine row each).

The conformance rows are the training rows, so each query's own row is among its neighbours at distance 0.
sklearn's brute-force euclidean distance (|x|^2 - 2 x.y + |y|^2) leaves a rounding residue there instead of 0,
magnified by the square root (about 1e-7 on scaled data), and the graph's residue differs: that configuration
has connectivity rows only here; tests/test_neighbors_graph.py checks its distances on other rows. The data is
free of ties at the k-th distance where sklearn's choice is numpy's (float32 rows on brute force): continuous
datasets, and iris (many ties) with kd_tree only, where the graph replays sklearn's heap in either dtype.
"""

from __future__ import annotations

from sklearn.neighbors import KNeighborsTransformer, RadiusNeighborsTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases


def _scaled(make):
    return lambda: make_pipeline(StandardScaler(), make())


METRICS = {
    "euclidean": {},
    "manhattan": {"metric": "manhattan"},
    "minkowski3": {"p": 3},
}
#: Radii on standardised data: a few neighbours for most rows of wine and diabetes, none but the row itself
#: for some rows of breast_cancer (30 features).
RADII = {"euclidean": 2.5, "manhattan": 7.0, "minkowski3": 1.8}
#: (n_neighbors, datasets) per mode: sklearn looks up n_neighbors + 1 rows in "distance" mode.
SIZES = {
    "distance": ((5, ("wine", "random_regression")), (12, ("diabetes",))),
    "connectivity": ((2, ("breast_cancer",)), (8, ("wine", "random_regression"))),
}


def _modes(metric: str, algorithm: str) -> tuple[str, ...]:
    """Brute-force euclidean distances on a row's own copy are a rounding residue (module docstring)."""
    return ("connectivity",) if metric == "euclidean" and algorithm == "brute" else ("distance", "connectivity")


CASES: list[Case] = [
    *[
        case
        for metric, kw in METRICS.items()
        for algorithm in ("brute", "kd_tree")
        for mode in _modes(metric, algorithm)
        for k, data in SIZES[mode]
        for case in _cases(
            _scaled(
                lambda kw=kw, algorithm=algorithm, mode=mode, k=k: KNeighborsTransformer(
                    mode=mode, n_neighbors=k, algorithm=algorithm, **kw
                )
            ),
            *data,
            name=f"KNeighborsTransformer_{metric}_{algorithm}_{mode}_{k}",
        )
    ],
    *_cases(
        lambda: KNeighborsTransformer(n_neighbors=1), "random_multiclass", "diabetes", name="KNeighborsTransformer_k1"
    ),
    *_cases(
        lambda: KNeighborsTransformer(n_neighbors=7, mode="connectivity", algorithm="kd_tree"),
        "iris",
        name="KNeighborsTransformer_kd_tree_ties",
    ),
    *_cases(
        _scaled(lambda: KNeighborsTransformer(n_neighbors=4, algorithm="ball_tree", metric="chebyshev")),
        "random_regression",
        name="KNeighborsTransformer_ball_tree_chebyshev",
    ),
    *_cases(
        lambda: KNeighborsTransformer(n_neighbors=3, mode="connectivity", metric="cosine"),
        "breast_cancer",
        name="KNeighborsTransformer_cosine",
    ),
    *[
        case
        for metric, kw in METRICS.items()
        for algorithm in ("brute", "kd_tree")
        for mode in _modes(metric, algorithm)
        for scale, data in ((1.0, ("wine", "diabetes")), (0.6, ("breast_cancer",)))
        for case in _cases(
            _scaled(
                lambda kw=kw, algorithm=algorithm, mode=mode, radius=RADII[metric] * scale: RadiusNeighborsTransformer(
                    mode=mode, radius=radius, algorithm=algorithm, **kw
                )
            ),
            *data,
            name=f"RadiusNeighborsTransformer_{metric}_{algorithm}_{mode}_{scale}",
        )
    ],
    *_cases(
        lambda: RadiusNeighborsTransformer(radius=0.5, algorithm="kd_tree"),
        "iris",
        name="RadiusNeighborsTransformer_iris",
    ),
]
