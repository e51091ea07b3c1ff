"""KNeighborsTransformer and RadiusNeighborsTransformer beyond the case table: refusals, one row and empty
batches, rows sklearn rejects, a query equal to a training row, brute-force euclidean distances, ties at the
k-th distance, the in-graph blocks and the memory bound."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsTransformer, RadiusNeighborsTransformer

import sk2tensor
from sk2tensor.converters import _pairwise, neighbors
from sk2tensor.errors import UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn

RNG = np.random.default_rng(0)
BASE = RNG.normal(size=(60, 3))
QUERIES = BASE + RNG.normal(scale=0.3, size=BASE.shape)


def _check(model, rows: np.ndarray, dtype: str = "float64") -> sk2tensor.CompiledModel:
    compiled = sk2tensor.convert(model, rows, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, rows.astype(dtype), dtype)
    return compiled


def _models(**kw) -> list:
    return [
        KNeighborsTransformer(n_neighbors=4, mode="distance", **kw),
        KNeighborsTransformer(n_neighbors=4, mode="connectivity", **kw),
        RadiusNeighborsTransformer(radius=0.9, mode="distance", **kw),
        RadiusNeighborsTransformer(radius=0.9, mode="connectivity", **kw),
    ]


@pytest.mark.parametrize(
    "model",
    [
        KNeighborsTransformer(metric="precomputed"),
        RadiusNeighborsTransformer(metric="precomputed"),
    ],
    ids=["knn", "radius"],
)
def test_precomputed_metric_is_refused(model) -> None:
    D = np.abs(BASE[:, :1] - BASE[:, :1].T)
    model.fit(D)
    with pytest.raises(UnsupportedParameterError, match=r"metric='precomputed' is not supported; use euclidean"):
        sk2tensor.convert(model, D)


@pytest.mark.parametrize(
    "make",
    [
        lambda: KNeighborsTransformer(metric="hamming"),
        lambda: RadiusNeighborsTransformer(metric="sqeuclidean"),
        lambda: KNeighborsTransformer(metric=lambda a, b: float(np.abs(a - b).sum()), algorithm="brute"),
        lambda: RadiusNeighborsTransformer(metric="minkowski", metric_params={"w": np.ones(3)}),
    ],
    ids=["hamming", "sqeuclidean", "callable", "weighted_minkowski"],
)
def test_metrics_the_search_does_not_compute_are_refused(make) -> None:
    model = make().fit(BASE)
    with pytest.raises(UnsupportedParameterError, match=r"(use euclidean, manhattan|weighted minkowski)"):
        sk2tensor.convert(model, BASE)


def test_more_neighbours_than_training_rows_is_refused() -> None:
    """``"distance"`` looks up ``n_neighbors + 1`` rows: sklearn's transform raises, the export is refused."""
    X = BASE[:6]
    model = KNeighborsTransformer(n_neighbors=6, mode="distance").fit(X)
    with pytest.raises(ValueError):
        model.transform(X)
    with pytest.raises(UnsupportedParameterError, match=r"n_neighbors \+ 1 = 7 neighbours among the 6 training"):
        sk2tensor.convert(model, X)
    # connectivity looks up n_neighbors: all six rows, every column 1.
    model = KNeighborsTransformer(n_neighbors=6, mode="connectivity").fit(X)
    compiled = _check(model, QUERIES)
    np.testing.assert_array_equal(compiled.transform(QUERIES), np.ones((len(QUERIES), 6)))
    _check(KNeighborsTransformer(n_neighbors=5, mode="distance").fit(X), QUERIES)


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
def test_one_row_and_empty_batch(algorithm: str) -> None:
    for model in _models(algorithm=algorithm, metric="manhattan"):
        model.fit(BASE)
        compiled = _check(model, QUERIES)
        for dtype in ("float32", "float64"):
            compiled = sk2tensor.convert(model, QUERIES, dtype=dtype)
            one = QUERIES[:1].astype(dtype)
            got = compiled.transform(one)
            assert got.shape == (1, len(BASE)) and got.dtype == np.float64
            np.testing.assert_allclose(got, model.transform(one).toarray(), rtol=0, atol=1e-6)
            empty = compiled.transform(QUERIES[:0].astype(dtype))
            assert empty.shape == (0, len(BASE))


def test_rows_sklearn_rejects_give_nan_rows() -> None:
    """sklearn raises on NaN or infinite rows; the graph cannot, and fills such a row with NaN (every column),
    leaving the other rows of the batch as sklearn computes them."""
    rows = QUERIES[:4].copy()
    rows[1, 0], rows[2, 2] = np.nan, np.inf
    for model in _models():
        model.fit(BASE)
        compiled = sk2tensor.convert(model, QUERIES, dtype="float64")
        with pytest.raises(ValueError):
            model.transform(rows)
        got = compiled.transform(rows)
        assert np.isnan(got[1:3]).all()
        finite = rows[[0, 3]]
        np.testing.assert_allclose(got[[0, 3]], model.transform(finite).toarray(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"algorithm": "kd_tree"},
        {"algorithm": "ball_tree"},
        {"algorithm": "brute", "metric": "manhattan"},
        {"algorithm": "brute", "p": 3},
    ],
    ids=["kd_tree", "ball_tree", "brute_manhattan", "brute_minkowski3"],
)
def test_a_query_equal_to_a_training_row_keeps_distance_zero(kw: dict) -> None:
    """transform(X) removes nothing: the row itself is a neighbour at distance 0. sklearn's CSR stores that 0
    explicitly; the dense graph holds 0 in its column, and the other neighbours' distances beside it."""
    model = KNeighborsTransformer(n_neighbors=3, mode="distance", **kw).fit(BASE)
    rows = BASE[[5, 17, 42]]
    sparse = model.transform(rows)
    assert sparse.nnz == 3 * 4
    np.testing.assert_array_equal(sparse[[0, 1, 2], [5, 17, 42]], 0.0)  # stored zeros
    compiled = _check(model, rows)
    got = compiled.transform(rows)
    np.testing.assert_array_equal(got[[0, 1, 2], [5, 17, 42]], 0.0)
    assert ((got > 0).sum(axis=1) == 3).all()  # the three others: distinct, positive
    radius = RadiusNeighborsTransformer(radius=0.7, mode="distance", **kw).fit(BASE)
    np.testing.assert_array_equal(_check(radius, rows).transform(rows)[[0, 1, 2], [5, 17, 42]], 0.0)


def test_brute_force_euclidean_distances() -> None:
    """sklearn's brute-force euclidean is sqrt(|x|^2 - 2 x.y + |y|^2): on integer data every term is exact, so a
    training row's own distance is exactly 0 in both; on other data it is a rounding residue that differs
    between BLAS and the graph (about 1e-8 of the distance scale here), while distances to other rows agree to
    float64 precision."""
    integers = RNG.integers(-20, 20, size=(80, 4)).astype(np.float64)
    for model in _models(algorithm="brute"):
        model.fit(integers)
        _check(model, integers)
        _check(model, integers + 0.25)
    for model in (
        KNeighborsTransformer(n_neighbors=4, mode="distance", algorithm="brute"),
        RadiusNeighborsTransformer(radius=27.0, mode="distance", algorithm="brute"),
    ):
        model.fit(BASE * 30)
        for dtype in ("float32", "float64"):
            _check(model, QUERIES * 30, dtype)
        # Own rows: the residues differ (up to 1.3e-6 where sklearn has 0), within 1e-7 of the distance scale.
        compiled = sk2tensor.convert(model, BASE * 30, dtype="float64", validate=False)
        expected = model.transform(BASE * 30).toarray()
        assert np.abs(expected).max() > 20
        np.testing.assert_allclose(compiled.transform(BASE * 30), expected, rtol=0, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
def test_ties_at_the_kth_distance_follow_sklearn(algorithm: str) -> None:
    """Each training row three times: a query near a row ties three copies, and which copies a k-neighbour row
    holds is sklearn's heap's choice (neighbors.py states the rule), replayed by the graph, in float64 and in
    float32 (brute force: float32 rows on a float64 fit make sklearn use numpy's argpartition instead, so only
    float64 there). Radius models keep every copy."""
    X = np.tile(BASE, (3, 1))
    rows = np.concatenate([QUERIES, BASE])
    for k in (1, 2, 4):
        for mode in ("distance", "connectivity"):
            model = KNeighborsTransformer(n_neighbors=k, mode=mode, algorithm=algorithm).fit(X)
            for dtype in ("float64",) if algorithm == "brute" else ("float32", "float64"):
                rows_ = QUERIES if algorithm == "brute" else rows  # see test_brute_force_euclidean_distances
                _check(model, rows_, dtype)
    for mode in ("distance", "connectivity"):
        _check(RadiusNeighborsTransformer(radius=0.6, mode=mode, algorithm=algorithm).fit(X), QUERIES)


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_blocks_of_the_stored_set(mode: str, monkeypatch) -> None:
    """Stored rows split into blocks of 7 (search and dense output alike): the same matrix as sklearn."""
    monkeypatch.setattr(neighbors, "BLOCK_ROWS", 7)
    for model in (
        KNeighborsTransformer(n_neighbors=5, mode=mode, algorithm="kd_tree"),
        KNeighborsTransformer(n_neighbors=5, mode=mode, metric="manhattan", algorithm="brute"),
        RadiusNeighborsTransformer(radius=0.8, mode=mode, algorithm="kd_tree"),
    ):
        model.fit(BASE)
        for dtype in ("float32", "float64"):
            _check(model, QUERIES, dtype)
            _check(model, BASE, dtype)


def test_rows_per_run_are_bounded(monkeypatch) -> None:
    """The [batch, n_samples_fit] output: a small run budget gives a few rows per run, the same results."""
    monkeypatch.setattr(_pairwise, "RUN_MEMORY_BYTES", 1 << 14)
    for model in _models(algorithm="kd_tree"):
        model.fit(BASE)
        compiled = _check(model, QUERIES)
        bound = int(compiled.metadata["max_chunk_rows"])
        assert 1 <= bound < len(QUERIES)


def test_training_sets_above_the_limit_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(neighbors, "MAX_STORED_ROWS", 50)
    for model in _models():
        with pytest.raises(UnsupportedParameterError, match=f"{type(model).__name__} stores 60 training rows"):
            sk2tensor.convert(model.fit(BASE), BASE)
