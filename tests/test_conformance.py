"""Every converter against sklearn, over the case table × dtype, on the dataset rows and on tiny batches.

Tolerances are the ones `convert` validates with (`sk2tensor.validate`): labels identical, probabilities
within PROBABILITY_ATOL, other float outputs within SCALED_TOL × max(1, max |reference|).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier

import sk2tensor
from sk2tensor.registry import METHODS
from sk2tensor.validate import PROBABILITY_ATOL, SCALED_TOL
from tests.cases import CASES, Case


def _reference(estimator, method: str, X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = getattr(estimator, method)(X)
        if isinstance(result, list):  # a multi-output predict_proba: one array per target, side by side
            return np.concatenate(result, axis=1)
        return np.asarray(result.toarray() if hasattr(result, "toarray") else result)  # sparse: the graph is dense


def assert_matches_sklearn(estimator, compiled: sk2tensor.CompiledModel, X: np.ndarray, dtype: str) -> None:
    """Every output of ``compiled`` against sklearn on ``X`` (already of the graph's dtype)."""
    for method in compiled.outputs:
        expected = _reference(estimator, method, X)
        got = getattr(compiled, method)(X)
        if isinstance(got, list):  # split as sklearn splits it (compared side by side)
            assert [part.shape[1] for part in got] == [len(c) for c in estimator.classes_], method
            got = np.concatenate(got, axis=1)
        assert got.shape == expected.shape, method
        assert got.dtype == expected.dtype, method
        if expected.dtype == np.float32:  # a float32 reference (XGBoost) is only float32-precise
            dtype = "float32"
        if method == "predict" and (is_classifier(estimator) or expected.dtype.kind not in "f"):
            np.testing.assert_array_equal(got, expected, err_msg=method)
        elif method == "predict_proba":
            np.testing.assert_allclose(got, expected, rtol=0, atol=PROBABILITY_ATOL[dtype], err_msg=method)
        else:
            scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
            np.testing.assert_allclose(got, expected, rtol=0, atol=SCALED_TOL[dtype] * scale, err_msg=method)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_conformance(case: Case, dtype: str) -> None:
    estimator, data = case.fitted()
    compiled = sk2tensor.convert(estimator, data.X, dtype=dtype)
    report = compiled.validation
    assert report is not None and report.passed, report.summary()
    assert report.rows == len(data.X)
    expected_methods = [m for m in METHODS if hasattr(estimator, m)]
    assert list(compiled.outputs) == [m for m in expected_methods if m in compiled.outputs]
    X = data.X.astype(dtype)
    assert_matches_sklearn(estimator, compiled, X, dtype)
    # One row, an odd small batch, and an empty batch keep sklearn's shapes and dtypes.
    for rows in (X[:1], X[3:10], X[:0]):
        for method in compiled.outputs:
            got = getattr(compiled, method)(rows)
            if isinstance(got, list):
                got = np.concatenate(got, axis=1)
            if len(rows):
                expected = _reference(estimator, method, rows)
                assert got.shape == expected.shape and got.dtype == expected.dtype
            else:
                assert got.shape[0] == 0


def test_every_registered_class_has_a_case() -> None:
    from sk2tensor.registry import OPTIONAL_CONVERTERS

    covered = set()
    for case in CASES:
        estimator = case.make()
        covered.add(type(estimator))
        for step in getattr(estimator, "steps", []):
            covered.add(type(step[1]))
    # LightGBM and XGBoost classes (registered once their library is imported) are covered by
    # tests/test_external_trees.py, which checks its own coverage; the text vectorizers, which take documents
    # rather than rows of numbers, by tests/test_text.py.
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    covered |= {CountVectorizer, TfidfVectorizer}
    missing = [
        cls.__name__
        for cls in sk2tensor.supported()
        if cls not in covered and cls.__module__.split(".")[0] not in OPTIONAL_CONVERTERS
    ]
    assert not missing, f"no conformance case for {missing}"


def test_large_batches_are_chunked_identically() -> None:
    estimator, data = next(c for c in CASES if c.id == "RandomForestClassifier-breast_cancer").fitted()
    compiled = sk2tensor.convert(estimator, data.X)
    X = np.tile(data.X, (40, 1)).astype(np.float32)  # ~22k rows: several chunks
    compiled.chunk_rows = 1000
    np.testing.assert_array_equal(compiled.predict(X), estimator.predict(X))
    np.testing.assert_allclose(compiled.predict_proba(X), estimator.predict_proba(X), atol=PROBABILITY_ATOL["float32"])
