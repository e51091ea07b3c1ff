"""Conformance cases of sk2tensor.converters.cluster.

sklearn 1.9's KMeans family refuses float32 rows once fitted on float64 data, and the conformance table
runs every case on float32 rows too; a float64-producing step in front (PCA: float32 in, float64 out, as in
sklearn) keeps those cases comparable. `tests/test_cluster.py` checks the bare estimators on float32 rows.
"""

from __future__ import annotations

from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from tests.cases import Case, _cases


def _after_pca(make):
    return lambda: make_pipeline(PCA(), make())


CASES: list[Case] = [
    *_cases(_after_pca(lambda: KMeans(3, n_init=3, random_state=0)), "iris", "wine", name="KMeans"),
    *_cases(_after_pca(lambda: KMeans(8, n_init=1, random_state=0)), "digits", name="KMeans_8"),
    *_cases(
        _after_pca(lambda: MiniBatchKMeans(4, n_init=3, random_state=0)),
        "breast_cancer",
        "random_multiclass",
        name="MiniBatchKMeans",
    ),
    *_cases(_after_pca(lambda: BisectingKMeans(5, random_state=0)), "iris", "wine", name="BisectingKMeans"),
    *_cases(
        _after_pca(lambda: BisectingKMeans(7, bisecting_strategy="largest_cluster", random_state=0)),
        "digits",
        "random_regression",
        name="BisectingKMeans_largest_cluster",
    ),
]
