"""SparsePCA, MiniBatchSparsePCA, the threshold sparse coders and Isomap: the SparsePCA conformance rows (with
sklearn's one-row shape), refusals, rows sklearn rejects, float32 models, ties and memory bounds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.decomposition import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    MiniBatchSparsePCA,
    SparseCoder,
    SparsePCA,
)
from sklearn.manifold import Isomap

import sk2tensor
from sk2tensor.converters import _pairwise
from sk2tensor.converters._pairwise import RUN_MEMORY_BYTES
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.validate import SCALED_TOL

OTHER_ALGORITHMS = ("omp", "lasso_lars", "lasso_cd", "lars")


def _close(got: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=SCALED_TOL[dtype] * scale)


# --------------------------------------------------------------------------- SparsePCA rows
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_pca_single_row_is_one_dimensional_as_in_sklearn(dtype: str) -> None:
    """ridge_regression ravels a single target's solution: sklearn returns one row as a 1-D array. The graph keeps
    [1, n_components] (what a session in another language reads); the compiled model gives sklearn's shape."""
    import onnxruntime as ort

    X = load_iris().data.astype(dtype)
    model = SparsePCA(n_components=3, max_iter=30, random_state=0).fit(X)
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    assert json.loads(compiled.metadata["single_row_vectors"]) == ["transform"]
    one = model.transform(X[:1])
    got = compiled.transform(X[:1])
    assert one.ndim == 1 and got.shape == one.shape and got.dtype == one.dtype
    _close(got, one, dtype)
    assert compiled.transform(X[:2]).shape == (2, 3)
    session = ort.InferenceSession(compiled.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": X[:1]})[0].shape == (1, 3)


def test_sparse_pca_map_is_sklearns_ridge_solution() -> None:
    """The wide case (more components than features) goes through sklearn's kernel form; both agree with
    sklearn to float64 rounding."""
    X = load_iris().data
    for n_components in (2, 6):
        model = SparsePCA(n_components=n_components, alpha=0.5, max_iter=30, random_state=0).fit(X)
        compiled = sk2tensor.convert(model, X, dtype="float64")
        assert compiled.validation["transform"].max_abs_diff < 1e-12


# --------------------------------------------------------------------------- sparse coding refusals
def _coders(algorithm: str) -> list[object]:
    X = load_iris().data
    atoms = np.random.default_rng(0).normal(size=(5, 4))
    return [
        SparseCoder(dictionary=atoms, transform_algorithm=algorithm).fit(X),
        DictionaryLearning(n_components=3, transform_algorithm=algorithm, max_iter=3, random_state=0).fit(X),
        MiniBatchDictionaryLearning(n_components=3, transform_algorithm=algorithm, max_iter=2, random_state=0).fit(X),
    ]


@pytest.mark.parametrize("algorithm", OTHER_ALGORITHMS)
def test_sparse_coding_other_than_threshold_is_refused(algorithm: str) -> None:
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = _coders(algorithm)
    for model in models:
        with pytest.raises(UnsupportedParameterError) as error:
            sk2tensor.convert(model, X)
        message = str(error.value)
        assert f"transform_algorithm={algorithm!r}" in message
        assert 'transform_algorithm="threshold"' in message
        assert 'set_params(transform_algorithm="threshold")' in message
        assert type(model).__name__ in message


def test_default_dictionary_learning_is_refused_and_set_params_makes_it_convertible() -> None:
    """``transform_algorithm`` is read by transform only: fitting with "omp" (the default) or "threshold"
    gives the same dictionary, and switching a fitted model to "threshold" needs no refit."""
    X = load_wine().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        omp = DictionaryLearning(n_components=4, max_iter=5, random_state=0).fit(X)
        threshold = DictionaryLearning(n_components=4, max_iter=5, random_state=0, transform_algorithm="threshold")
        threshold.fit(X)
    np.testing.assert_array_equal(omp.components_, threshold.components_)
    assert omp.transform_algorithm == "omp"
    with pytest.raises(UnsupportedParameterError, match="transform_algorithm='omp'"):
        sk2tensor.convert(omp, X)
    omp.set_params(transform_algorithm="threshold", transform_alpha=5.0)
    compiled = sk2tensor.convert(omp, X, dtype="float64")
    assert compiled.validation.passed
    np.testing.assert_array_equal(compiled.transform(X), omp.transform(X))


def test_threshold_alpha_defaults() -> None:
    """``transform_alpha`` when set, else the model's ``alpha``, else 1 (SparseCoder has no alpha)."""
    X = load_iris().data
    atoms = np.eye(4)
    coder = SparseCoder(dictionary=atoms, transform_algorithm="threshold").fit(X)
    got = sk2tensor.convert(coder, X, dtype="float64").transform(X)
    np.testing.assert_array_equal(got, np.sign(X) * np.maximum(np.abs(X) - 1.0, 0))
    model = DictionaryLearning(n_components=3, alpha=2.5, transform_algorithm="threshold", max_iter=3, random_state=0)
    model.fit(X)
    cov = X @ model.components_.T
    expected = np.sign(cov) * np.maximum(np.abs(cov) - 2.5, 0)
    np.testing.assert_allclose(sk2tensor.convert(model, X, dtype="float64").transform(X), expected, atol=1e-12)


# --------------------------------------------------------------------------- rows sklearn rejects
def _models_for_bad_rows() -> list[object]:
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            SparsePCA(n_components=2, max_iter=20, random_state=0).fit(X),
            MiniBatchSparsePCA(n_components=2, max_iter=5, random_state=0).fit(X),
            DictionaryLearning(n_components=3, transform_algorithm="threshold", max_iter=3, random_state=0).fit(X),
            SparseCoder(dictionary=np.eye(4), transform_algorithm="threshold", split_sign=True).fit(X),
            Isomap(n_neighbors=5).fit(X),
            Isomap(n_neighbors=None, radius=1.0).fit(X),
        ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "model", _models_for_bad_rows(), ids=lambda m: type(m).__name__ + str(m.get_params().get("radius", ""))
)
def test_rows_with_nan_or_infinity_give_nan(model, dtype: str) -> None:
    """sklearn rejects NaN and infinity; the graph gives NaN in every column of those rows, and the other
    rows are unaffected."""
    X = load_iris().data
    rows = X[:6].copy()
    rows[1, 0] = np.nan
    rows[3, 2] = np.inf
    rows[4, 1] = -np.inf
    with pytest.raises(ValueError):
        model.transform(rows)
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    got = compiled.transform(rows.astype(dtype))
    bad = [1, 3, 4]
    assert np.isnan(got[bad]).all()
    good = [0, 2, 5]
    _close(got[good], model.transform(rows[good].astype(dtype)), dtype)


# --------------------------------------------------------------------------- float32 models
@pytest.mark.parametrize(
    "make",
    [
        lambda: SparsePCA(n_components=3, max_iter=20, random_state=0),
        lambda: DictionaryLearning(n_components=3, transform_algorithm="threshold", max_iter=3, random_state=0),
    ],
    ids=["SparsePCA", "DictionaryLearning"],
)
def test_models_fitted_on_float32_export_in_float32(make) -> None:
    """A model fitted on float32 data computes in float32 (and returns float32): the float32 export agrees
    within the float32 tolerance."""
    X = load_wine().data.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float32")
    assert compiled.validation.passed, compiled.validation.summary()
    got, expected = compiled.transform(X), model.transform(X)
    assert got.dtype == expected.dtype == np.float32
    _close(got, expected, "float32")


# --------------------------------------------------------------------------- Isomap
def _grid(n: int = 7) -> np.ndarray:
    a, b = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64))
    return np.c_[a.ravel(), b.ravel()]


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree", "brute"])
def test_isomap_ties_at_the_kth_neighbour_follow_sklearn(algorithm: str) -> None:
    """On a grid every row has several training rows at the k-th distance, with different rows of the
    shortest-path matrix: the minimum depends on which one is kept, and the graph keeps sklearn's."""
    X = _grid()
    model = Isomap(n_neighbors=3, n_components=2, neighbors_algorithm=algorithm).fit(X)
    queries = np.r_[X, X + 0.5, X[:10] + np.array([0.5, 0.0])]
    distances = model.nbrs_.kneighbors(queries, n_neighbors=4)[0]
    assert (distances[:, 2] == distances[:, 3]).sum() > len(queries) // 2  # ties at the k-th neighbour
    # Keeping the lowest training indices instead would change some rows.
    all_distances = np.sqrt(((queries[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    lowest = np.argsort(all_distances, axis=1, kind="stable")[:, :3]
    g = np.min(model.dist_matrix_[lowest] + np.take_along_axis(all_distances, lowest, 1)[:, :, None], axis=1)
    assert np.abs(model.kernel_pca_.transform(-0.5 * g**2) - model.transform(queries)).max() > 0.1
    compiled = sk2tensor.convert(model, queries, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    _close(compiled.transform(queries), model.transform(queries), "float64")


def test_isomap_brute_euclidean_agrees_off_the_training_rows() -> None:
    """Brute-force euclidean distances are ``|x|^2 - 2 x.y + |y|^2``: a query equal to a training row gets rounding
    noise instead of 0 in sklearn and in the graph, in different ways, and a square root magnifies it, so a
    float64 export validated on the training rows of non-integer data may be refused. Elsewhere it agrees."""
    X = load_breast_cancer().data
    model = Isomap(n_neighbors=6, neighbors_algorithm="brute").fit(X)
    rows = X + np.random.default_rng(0).normal(scale=0.05, size=X.shape) * X.std(axis=0)
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()


def test_isomap_radius_without_neighbours_gives_nan() -> None:
    X = load_iris().data
    model = Isomap(n_neighbors=None, radius=0.8).fit(X)
    far = np.array([[50.0, 50.0, 50.0, 50.0]])
    with pytest.raises(ValueError):
        model.transform(far)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert np.isnan(compiled.transform(np.r_[far, X[:2]])[0]).all()
    _close(compiled.transform(np.r_[far, X[:2]])[1:], model.transform(X[:2]), "float64")


def test_isomap_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    X = load_iris().data
    with pytest.raises(UnsupportedParameterError, match=r"metric='canberra'.*euclidean"):
        sk2tensor.convert(Isomap(n_neighbors=5, metric="canberra").fit(X), X)
    from sklearn.metrics import pairwise_distances

    D = pairwise_distances(X)
    with pytest.raises(UnsupportedParameterError, match="metric='precomputed'"):
        sk2tensor.convert(Isomap(n_neighbors=5, metric="precomputed").fit(D), D)
    monkeypatch.setattr(_pairwise, "MAX_STORED_VALUES", 150 * 150 - 1)
    with pytest.raises(UnsupportedParameterError, match="shortest-path"):
        sk2tensor.convert(Isomap(n_neighbors=5).fit(X), X)


def test_isomap_bounds_the_rows_of_a_run() -> None:
    X = load_wine().data
    k = Isomap(n_neighbors=6).fit(X)
    assert sk2tensor.convert(k, X).max_chunk_rows == RUN_MEMORY_BYTES // (8 * len(X) * (2 * 6 + 4))
    r = Isomap(n_neighbors=None, radius=400.0).fit(X)
    assert sk2tensor.convert(r, X).max_chunk_rows == RUN_MEMORY_BYTES // (8 * len(X) * (2 * len(X) + 4) + 24 * len(X))


def test_isomap_one_row_and_float32() -> None:
    X = load_iris().data
    model = Isomap(n_neighbors=6, n_components=3).fit(X)
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(model, X, dtype=dtype)
        row = X[7:8].astype(dtype)
        got, expected = compiled.transform(row), model.transform(row)
        assert got.shape == expected.shape == (1, 3) and got.dtype == expected.dtype == np.float64
        _close(got, expected, dtype)
