"""LatentDirichletAllocation and LocallyLinearEmbedding beyond the case table: sklearn's psi, refusals, one row,
empty documents, rows that converge at different iterations, rows sklearn refuses, float32 rows, duplicate
neighbours (a zero trace) and the unrolled solve against scipy's Cholesky."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import scipy.linalg
from scipy.special import digamma
from sklearn.datasets import load_iris, make_swiss_roll
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.decomposition._online_lda_fast import _dirichlet_expectation_2d
from sklearn.manifold import LocallyLinearEmbedding

import sk2tensor
from sk2tensor.converters.decomposition import lda_psi
from sk2tensor.converters.manifold import MAX_NEIGHBORS, solve_spd
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder
from tests.test_conformance import assert_matches_sklearn


def _run(graph: GraphBuilder, **inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph.build().SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


def _counts(n: int = 120, words: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.gamma(0.4, 2.0, size=(n, words))).astype(np.float64)


@pytest.fixture(scope="module")
def lda() -> tuple[LatentDirichletAllocation, np.ndarray]:
    X = _counts()
    return LatentDirichletAllocation(n_components=4, max_iter=5, random_state=0).fit(X), X


# ---------------------------------------------------------------------------------------- LDA
def test_psi_is_sklearns() -> None:
    """``psi(x) - psi(x + y)`` against sklearn's compiled ``_dirichlet_expectation_2d`` on rows ``[x, y]``,
    across the small-x branch, the recurrence and the series. ONNX Runtime's float64 Log differs from libm's (what
    sklearn calls) by one ulp on about half of the values, so psi agrees to an ulp or two, not bit for bit."""
    rng = np.random.default_rng(1)
    x = np.concatenate([[1e-9, 5e-7, 1e-6, 1.0000001e-6, 0.01, 1.0, 5.999999, 6.0, 6.5], rng.lognormal(0, 3, 400)])
    y = np.concatenate([np.full(9, 0.7), rng.lognormal(0, 2, 400)])
    expected = _dirichlet_expectation_2d(np.c_[x, y])[:, 0]
    graph = GraphBuilder(dtype=np.float64)
    xv, yv = graph.input("x", 1), graph.input("y", 1)
    graph.output(graph.sub(lda_psi(graph, xv), lda_psi(graph, graph.add(xv, yv))), "psi")
    got = _run(graph, x=x[:, None], y=y[:, None])[:, 0]
    # A difference of two psi values: a last-bit difference in either is an ulp of the larger one.
    scale = np.maximum(1.0, np.maximum(np.abs(digamma(x)), np.abs(digamma(x + y))))
    assert (np.abs(got - expected) <= 4 * np.finfo(np.float64).eps * scale).all()


def test_lda_refuses_a_float32_fit() -> None:
    model = LatentDirichletAllocation(n_components=3, max_iter=2, random_state=0).fit(_counts().astype(np.float32))
    with pytest.raises(UnsupportedParameterError, match=r"components_.dtype='float32'.*float64 counts"):
        sk2tensor.convert(model, n_features=30)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lda_one_row_and_empty_documents(lda, dtype: str) -> None:
    model, X = lda
    rows = np.concatenate([X[:5], np.zeros((3, X.shape[1])), X[5:9]]).astype(dtype)
    compiled = sk2tensor.convert(model, rows, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, rows, dtype)
    assert_matches_sklearn(model, compiled, rows[:1], dtype)
    assert_matches_sklearn(model, compiled, rows[6:7], dtype)  # an empty document alone: uniform
    np.testing.assert_allclose(compiled.transform(rows[5:8]), 0.25, rtol=0, atol=1e-7)


@pytest.mark.parametrize("max_doc_update_iter", [0, 1, 3, 100])
def test_lda_rows_take_their_own_iterations(lda, max_doc_update_iter: int) -> None:
    """Rows that converge after different numbers of trips in one batch (long and short documents, a
    tolerance that some reach early), each as sklearn computes it alone."""
    model, X = lda
    model = LatentDirichletAllocation(**{**model.get_params(), "mean_change_tol": 1e-4}).fit(X)
    model.set_params(max_doc_update_iter=max_doc_update_iter)  # read by transform only
    rows = np.concatenate([X[:20], X[:20] * 40, np.eye(X.shape[1])[:5]])
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    alone = np.concatenate([model.transform(rows[i : i + 1]) for i in range(len(rows))])
    np.testing.assert_allclose(compiled.transform(rows), alone, rtol=0, atol=1e-12)


def test_lda_rows_sklearn_refuses_give_nan(lda) -> None:
    """sklearn raises on a negative count, NaN or an infinity; the graph cannot raise and gives a NaN row,
    leaving the other rows of the batch as sklearn computes them."""
    model, X = lda
    bad = X[:4].copy()
    bad[0, 3], bad[1, 0], bad[2, 7] = -1.0, np.nan, np.inf
    with pytest.raises(ValueError):
        model.transform(bad[:1])
    compiled = sk2tensor.convert(model, X, dtype="float64")
    got = compiled.transform(bad)
    assert np.isnan(got[:3]).all()
    np.testing.assert_allclose(got[3:], model.transform(bad[3:]), rtol=0, atol=1e-12)


def test_lda_graph_is_a_loop_of_plain_operators(lda) -> None:
    model, X = lda
    graph = sk2tensor.convert(model, X).onnx.graph
    assert "Loop" in [node.op_type for node in graph.node]
    assert all(node.domain in ("", "ai.onnx") for node in graph.node)


# ---------------------------------------------------------------------------------------- LLE
@pytest.fixture(scope="module")
def swiss() -> tuple[LocallyLinearEmbedding, np.ndarray]:
    X = make_swiss_roll(300, noise=0.05, random_state=3)[0]
    return LocallyLinearEmbedding(n_neighbors=8, random_state=0).fit(X), X


def test_lle_refuses_more_than_max_neighbors() -> None:
    X = make_swiss_roll(200, random_state=0)[0]
    model = LocallyLinearEmbedding(n_neighbors=MAX_NEIGHBORS + 1, random_state=0).fit(X)
    with pytest.raises(UnsupportedParameterError, match=rf"n_neighbors={MAX_NEIGHBORS + 1}.*<= {MAX_NEIGHBORS}"):
        sk2tensor.convert(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lle_one_row_and_new_rows(swiss, dtype: str) -> None:
    model, X = swiss
    rng = np.random.default_rng(4)
    rows = np.concatenate([X[:10], X[10:40] + rng.normal(scale=0.3, size=(30, 3))]).astype(dtype)
    compiled = sk2tensor.convert(model, rows, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, rows, dtype)
    assert_matches_sklearn(model, compiled, rows[12:13], dtype)


def test_lle_rows_sklearn_refuses_give_nan(swiss) -> None:
    model, X = swiss
    bad = X[:3].copy()
    bad[0, 1], bad[1, 2] = np.nan, -np.inf
    got = sk2tensor.convert(model, X, dtype="float64").transform(bad)
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2:], model.transform(bad[2:]), rtol=0, atol=1e-12)


def test_lle_duplicate_neighbours_zero_trace() -> None:
    """A query equal to all its k neighbours: ``trace(G) == 0``, so sklearn adds ``reg`` (not ``reg * trace``)
    and the weights are uniform."""
    X = load_iris().data
    X = np.concatenate([X, np.repeat(X[:1], 6, axis=0)])
    model = LocallyLinearEmbedding(n_neighbors=5, random_state=0).fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, X[:1], "float64")


@pytest.mark.parametrize("k", [1, 2, 5, 12, MAX_NEIGHBORS])
def test_unrolled_solve_matches_scipy_cholesky(k: int) -> None:
    """barycenter_weights' systems (Gram matrices of k neighbour offsets in 3 to 40 dimensions, regularised
    by ``1e-3 * trace``): the elimination against scipy's ``solve(assume_a="pos")`` to 1e-10 relative (observed
    below 1e-13)."""
    rng = np.random.default_rng(k)
    systems = []
    for _ in range(50):
        c = rng.normal(size=(k, int(rng.integers(3, 40)))) * rng.lognormal(0, 2)
        g = c @ c.T
        g[np.diag_indices(k)] += 1e-3 * np.trace(g)
        systems.append(g)
    systems = np.stack(systems)
    graph = GraphBuilder(dtype=np.float64)
    x = graph.input("input", k * k)
    graph.output(solve_spd(graph, graph.reshape(x, [0, k, k]), k), "w")
    got = _run(graph, input=systems.reshape(len(systems), k * k))
    expected = np.stack([scipy.linalg.solve(s, np.ones(k), assume_a="pos") for s in systems])
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert (np.abs(got - expected) / scale).max() < 1e-10
