"""MeanShift, AffinityPropagation, Birch, FeatureAgglomeration and KNNImputer: refusals and edge cases (ties,
exemplar-less models, float32 models, pooling functions, donor selection)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import AffinityPropagation, Birch, FeatureAgglomeration, MeanShift
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.metrics.pairwise import euclidean_distances

import sk2tensor
from sk2tensor.converters._pairwise import RUN_MEMORY_BYTES
from sk2tensor.errors import UnsupportedParameterError


# --------------------------------------------------------------------------- nearest centre
def test_ties_between_centres_go_to_the_first() -> None:
    X_fit = np.array([[0.0, 0.0], [0.1, 0.0], [2.0, 0.0], [2.1, 0.0], [4.0, 0.0], [4.1, 0.0]])
    model = MeanShift(bandwidth=0.5).fit(X_fit)
    model.cluster_centers_ = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    eps = np.array([0.0, 1e-15, -1e-15, 1e-12, -1e-12, 1e-9, -1e-9])
    rows = np.concatenate([np.c_[1.0 + eps, np.full_like(eps, 3.0)], np.c_[3.0 + eps, np.full_like(eps, -7.0)]])
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    got = compiled.predict(rows)
    np.testing.assert_array_equal(got, model.predict(rows))
    assert got[0] == 0 and got[len(eps)] == 1 and got.dtype == np.int64


def test_affinity_propagation_precomputed_is_refused() -> None:
    X = load_iris().data
    model = AffinityPropagation(affinity="precomputed", random_state=0).fit(-euclidean_distances(X, squared=True))
    with pytest.raises(UnsupportedParameterError, match="affinity='euclidean'"):
        sk2tensor.convert(model, -euclidean_distances(X, squared=True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_affinity_propagation_without_exemplars_predicts_minus_one(dtype: str) -> None:
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = AffinityPropagation(max_iter=1, random_state=0).fit(X)
        expected = model.predict(X)
    assert model.cluster_centers_.shape[0] == 0
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    got = compiled.predict(X.astype(dtype))
    np.testing.assert_array_equal(got, expected)
    assert (got == -1).all() and got.dtype == expected.dtype == np.int64


def test_birch_transform_is_sklearns_on_rows_that_are_subcluster_centres() -> None:
    # The default threshold on digits makes every row its own subcluster: distances 0, where a square root
    # magnifies any rounding difference (sqrt(1e-12) = 1e-6). Integer data: every product and sum is exact,
    # whatever the order, so the graph must give sklearn's zeros exactly.
    X = load_digits().data
    model = Birch(n_clusters=10).fit(X)
    expected = model.transform(X)
    assert (expected == 0).sum() == len(X)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    np.testing.assert_array_equal(compiled.transform(X), expected)
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X))


def test_birch_fitted_on_float32_keeps_float32_distances() -> None:
    X = load_iris().data.astype(np.float32)
    model = Birch(n_clusters=None, threshold=0.3).fit(X)
    assert model.subcluster_centers_.dtype == np.float32
    compiled = sk2tensor.convert(model, X, dtype="float32")
    expected = model.transform(X)
    got = compiled.transform(X)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X))
    # float64 rows: sklearn upcasts the centres, the output is float64.
    compiled64 = sk2tensor.convert(model, X.astype(np.float64), dtype="float64")
    assert compiled64.transform(X.astype(np.float64)).dtype == np.float64


def test_many_subclusters_bound_the_rows_of_a_run() -> None:
    X = load_digits().data
    model = Birch(n_clusters=None, threshold=0.01).fit(X)
    compiled = sk2tensor.convert(model, X)
    assert compiled.max_chunk_rows == RUN_MEMORY_BYTES // (4 * 8 * len(model.subcluster_centers_))


# --------------------------------------------------------------------------- feature agglomeration
@pytest.mark.parametrize("pooling", [np.var, np.sum, np.nanmean, lambda a, axis: a.mean(axis)])
def test_feature_agglomeration_other_pooling_is_refused(pooling) -> None:
    X = load_wine().data
    model = FeatureAgglomeration(3, pooling_func=pooling).fit(X)
    with pytest.raises(UnsupportedParameterError, match=r"numpy.max.*numpy.mean.*numpy.median.*numpy.min"):
        sk2tensor.convert(model, X)


@pytest.mark.parametrize("pooling", [np.median, np.amax, np.amin, np.max, np.min])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_feature_agglomeration_order_statistics_are_exact(pooling, dtype: str) -> None:
    # Integer-valued columns give many equal values within a cluster; clusters of odd and even sizes.
    rng = np.random.default_rng(0)
    X = np.c_[load_digits().data[:400], rng.normal(size=(400, 3)) * 1e5]
    model = FeatureAgglomeration(11, pooling_func=pooling).fit(X)
    sizes = np.bincount(model.labels_)
    assert (sizes % 2 == 0).any() and (sizes % 2 == 1).any() and sizes.max() > 4
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    rows = X.astype(dtype)
    expected = model.transform(rows)
    got = compiled.transform(rows)
    assert got.dtype == expected.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)


def test_feature_agglomeration_mean_is_float64_on_float32_rows() -> None:
    X = load_iris().data
    model = FeatureAgglomeration(2).fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float32")
    rows = X.astype(np.float32)
    got, expected = compiled.transform(rows), model.transform(rows)
    assert got.dtype == expected.dtype == np.float64
    # A float32 graph's outputs are float32 (then handed out in sklearn's dtype): one float32 rounding.
    np.testing.assert_allclose(got, expected, rtol=2**-24, atol=0)


# --------------------------------------------------------------------------- KNNImputer
def _nan_data(n: int = 300, features: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)) * 3
    X[rng.random(X.shape) < 0.2] = np.nan
    return X


def test_knn_imputer_callables_are_refused() -> None:
    X = _nan_data()
    metric = KNNImputer(metric=lambda a, b, **kw: np.nansum(np.abs(a - b))).fit(X)
    with pytest.raises(UnsupportedParameterError, match="'nan_euclidean'"):
        sk2tensor.convert(metric, X)
    weights = KNNImputer(weights=lambda d: np.ones_like(d)).fit(X)
    with pytest.raises(UnsupportedParameterError, match="'uniform' or 'distance'"):
        sk2tensor.convert(weights, X)


def test_knn_imputer_fitted_on_float32_needs_a_float64_graph() -> None:
    X = _nan_data().astype(np.float32)
    model = KNNImputer().fit(X)
    with pytest.raises(UnsupportedParameterError, match="dtype='float64'"):
        sk2tensor.convert(model, X, dtype="float32")
    compiled = sk2tensor.convert(model, X.astype(np.float64), dtype="float64")
    rows = X.astype(np.float64)
    np.testing.assert_allclose(compiled.transform(rows), model.transform(rows), rtol=0, atol=1e-12)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_knn_imputer_ties_between_donors_of_equal_values(weights: str) -> None:
    # Every training row appears three times: distances tie in threes, and whichever of the tied copies
    # sklearn's argpartition keeps, they hold the same values.
    base = _nan_data(60, 4, seed=1)
    X_fit = np.concatenate([base, base[::-1], base])
    model = KNNImputer(n_neighbors=4, weights=weights).fit(X_fit)
    rows = _nan_data(200, 4, seed=2)
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    np.testing.assert_allclose(compiled.transform(rows), model.transform(rows), rtol=0, atol=1e-12)


def test_knn_imputer_tied_donors_of_different_values_keep_the_lowest_index() -> None:
    # Donors 0..3 are all at distance 1 from the row: sklearn's choice of 2 of them follows numpy's
    # argpartition (machine dependent); the graph keeps the lowest training indices, 0 and 1.
    X_fit = np.array([[1.0, 10.0], [-1.0, 20.0], [0.0, 30.0], [0.0, 40.0]])
    X_fit[2:, 0] = [1.0, -1.0]
    model = KNNImputer(n_neighbors=2).fit(X_fit)
    row = np.array([[0.0, np.nan]])
    compiled = sk2tensor.convert(model, X_fit, dtype="float64")
    np.testing.assert_array_equal(compiled.transform(row), [[0.0, 15.0]])


def test_knn_imputer_distance_weights_at_zero_distance() -> None:
    # A row equal to a training row on its observed features: that donor weighs 1 and the others 0, whatever
    # their distance (integer data, where every distance is exact in both computations).
    rng = np.random.default_rng(3)
    X_fit = rng.integers(0, 1000, size=(50, 4)).astype(np.float64)
    rows = X_fit[:10].copy()
    rows[np.arange(10), np.arange(10) % 4] = np.nan
    model = KNNImputer(n_neighbors=3, weights="distance").fit(X_fit)
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    got = compiled.transform(rows)
    np.testing.assert_array_equal(got, model.transform(rows))
    np.testing.assert_array_equal(got, X_fit[:10])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_knn_imputer_rows_without_common_features_get_the_column_mean(dtype: str) -> None:
    X_fit = np.array([[1.0, np.nan, 5.0], [2.0, np.nan, 7.0], [np.nan, 3.0, np.nan], [np.nan, 4.5, np.nan]])
    model = KNNImputer(n_neighbors=2).fit(X_fit)
    rows = np.array([[np.nan, 1.0, np.nan], [np.nan, np.nan, np.nan], [1.5, np.nan, 6.0]])
    compiled = sk2tensor.convert(model, rows, dtype=dtype)
    expected = model.transform(rows.astype(dtype))
    np.testing.assert_array_equal(compiled.transform(rows.astype(dtype)), expected)
    np.testing.assert_array_equal(expected[1], [1.5, 3.75, 6.0])


def test_knn_imputer_bounds_the_rows_of_a_run() -> None:
    X = _nan_data(2000, 6, seed=4)
    model = KNNImputer().fit(X)
    compiled = sk2tensor.convert(model, X[:50])
    patterns = len(np.unique(~np.isnan(X).T, axis=0))
    assert compiled.max_chunk_rows == RUN_MEMORY_BYTES // (8 * 2000 * (10 + 3 * patterns) + 8 * 6 * 5 * 6)
    np.testing.assert_allclose(compiled.transform(X.astype(np.float32)), model.transform(X.astype(np.float32)))


@pytest.mark.parametrize("make", [SimpleImputer, KNNImputer, MissingIndicator])
def test_a_python_float_marker_matches_float32_rows_as_numpy_does(make) -> None:
    # numpy compares float32 rows with a Python float in float32 (NEP 50): float32 rows holding 0.1 are missing
    # for sklearn although float32(0.1) != 0.1. KNNImputer's distances find the missing values again on float64
    # copies, where they are not: the graph follows both.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)) * 2
    X[rng.random(X.shape) < 0.15] = 0.1
    model = make(missing_values=0.1).fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float32")
    rows = X.astype(np.float32)
    expected = model.transform(rows)
    assert (expected != rows).any() if expected.shape == rows.shape else expected.any()
    np.testing.assert_allclose(compiled.transform(rows), expected, rtol=0, atol=1e-6 * np.abs(expected).max())
