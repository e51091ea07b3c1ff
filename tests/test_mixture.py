"""Mixture converters beyond the case table: the float32 row norms sklearn's spherical mixtures use, and
rows far from every component (large Mahalanobis distances, probabilities that underflow)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import sk2tensor
from sk2tensor.converters._pairwise import einsum_row_squared_norms
from sk2tensor.graph import GraphBuilder
from tests.test_conformance import assert_matches_sklearn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 3, 4, 5, 7, 8, 9, 13, 16, 17, 30, 33, 64])
def test_row_norms_round_as_numpy_einsum(n_features: int, dtype) -> None:
    """Bit for bit numpy's einsum on this machine's SSE baseline (see the function's docstring)."""
    graph = GraphBuilder(dtype=dtype)
    x = graph.input("input", n_features)
    graph.output(einsum_row_squared_norms(graph, x, n_features), "norms")
    session = ort.InferenceSession(graph.build().SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(n_features)
    X = (rng.normal(size=(500, n_features)) * rng.lognormal(0, 3, size=n_features)).astype(dtype)
    got = session.run(None, {"input": X})[0][:, 0]
    np.testing.assert_array_equal(got, np.einsum("ij,ij->i", X, X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("make", [GaussianMixture, BayesianGaussianMixture])
def test_rows_far_from_every_component(make, covariance_type: str) -> None:
    X = load_iris().data
    model = make(n_components=3, covariance_type=covariance_type, random_state=0).fit(X)
    rng = np.random.default_rng(0)
    rows = np.concatenate([X, X.mean(0) + rng.normal(scale=4.0, size=(200, X.shape[1]))])
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(model, rows, dtype=dtype)
        assert compiled.validation.passed, compiled.validation.summary()
        assert_matches_sklearn(model, compiled, rows.astype(dtype), dtype)
