"""Clustering converters on bare estimators: float32 rows (which sklearn 1.9's predict refuses for models
fitted on float64 data), exact ties and near ties between centres, and the bisection hierarchy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.datasets import load_digits, load_iris

import sk2tensor

MODELS = {
    "KMeans": lambda: KMeans(4, n_init=2, random_state=0),
    "MiniBatchKMeans": lambda: MiniBatchKMeans(4, n_init=2, random_state=0),
    "BisectingKMeans": lambda: BisectingKMeans(6, random_state=0),
    "BisectingKMeans_largest": lambda: BisectingKMeans(6, bisecting_strategy="largest_cluster", random_state=0),
}


@pytest.mark.parametrize("name", MODELS)
def test_bare_estimator_float64_and_float32(name: str) -> None:
    X = load_digits().data
    model = MODELS[name]().fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert compiled.validation.passed
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X))
    # float32 rows: the graph upcasts them, and convert validates against predict(X.astype(float64)).
    compiled32 = sk2tensor.convert(model, X, dtype="float32")
    assert compiled32.validation.passed
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(compiled32.predict(X32), model.predict(X32.astype(np.float64)))
    expected = model.transform(X32)
    np.testing.assert_allclose(compiled32.transform(X32), expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def _with_centers(model, centers: np.ndarray):
    """A fitted model whose centres are the given ones (and, for the bisecting one, its two leaves)."""
    model.cluster_centers_ = centers
    return model


@pytest.mark.parametrize("make", [KMeans, MiniBatchKMeans])
def test_exact_and_near_ties_go_to_the_first_centre(make) -> None:
    X_fit = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 1.0], [4.0, 0.0], [4.0, 1.0]])
    model = make(3, n_init=1, random_state=0).fit(X_fit)
    model = _with_centers(model, np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))
    eps = np.array([0.0, 1e-15, -1e-15, 1e-12, -1e-12, 1e-9, -1e-9])
    rows = np.concatenate(
        [np.c_[1.0 + eps, np.full_like(eps, 3.0)], np.c_[3.0 + eps, np.full_like(eps, -7.0)]]
    )  # on and beside the bisectors of centres 0|1 and 1|2
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    got = compiled.predict(rows)
    np.testing.assert_array_equal(got, model.predict(rows))
    assert got[0] == 0 and got[len(eps)] == 1  # exact ties: the lower centre index


def test_bisecting_predict_descends_the_hierarchy_not_the_nearest_centre() -> None:
    X = load_iris().data
    model = BisectingKMeans(8, bisecting_strategy="largest_cluster", random_state=0).fit(X)
    rng = np.random.default_rng(0)
    rows = X[rng.integers(0, len(X), 2000)] + rng.normal(scale=0.6, size=(2000, X.shape[1]))
    expected = model.predict(rows)
    nearest = np.argmin(((rows[:, None, :] - model.cluster_centers_[None]) ** 2).sum(-1), axis=1)
    assert (expected != nearest).any(), "the data should exercise rows whose nearest centre is another leaf"
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    np.testing.assert_array_equal(compiled.predict(rows), expected)
    assert compiled.predict(rows).dtype == expected.dtype == np.int32


def test_bisecting_tie_goes_left() -> None:
    X = np.array([[0.0], [0.1], [2.0], [2.1]])
    model = BisectingKMeans(2, random_state=0).fit(X)
    left, right = model._bisecting_tree.left.center, model._bisecting_tree.right.center
    middle = (left + right) / 2 + model._X_mean
    rows = np.array([middle, middle + 1e-12, middle - 1e-12])
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(rows))
