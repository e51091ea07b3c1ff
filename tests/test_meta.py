"""Meta-classifiers beyond the case table: multilabel one-vs-rest, constant sub-predictors, prefit
calibration, isotonic clipping outside the fitted range, probability rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.svm import SVC

import sk2tensor
from tests.cases import dataset
from tests.cases_meta import CASES
from tests.test_conformance import assert_matches_sklearn


def _multilabel_iris(constant_column: bool):
    X = dataset("iris").X
    columns = [X[:, 0] > 5.8, X[:, 2] > 4.0]
    if constant_column:
        columns.append(np.zeros(len(X), dtype=bool))
    return X, np.stack(columns, axis=1).astype(int)


@pytest.mark.parametrize("constant_column", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multilabel_one_vs_rest_predicts_the_indicator_matrix(constant_column: bool, dtype: str) -> None:
    X, Y = _multilabel_iris(constant_column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Label not 2 is present in all training examples"
        estimator = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(X, Y)
    compiled = sk2tensor.convert(estimator, X, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert compiled.predict(X.astype(dtype)).shape == Y.shape
    assert_matches_sklearn(estimator, compiled, X.astype(dtype), dtype)


def test_binary_one_vs_one_decision_is_one_dimensional() -> None:
    data = dataset("breast_cancer")
    estimator = OneVsOneClassifier(SVC()).fit(data.X, data.y)
    compiled = sk2tensor.convert(estimator, data.X)
    assert compiled.decision_function(data.X.astype(np.float32)).shape == (len(data.X),)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_prefit_calibration_of_a_frozen_estimator(method: str) -> None:
    data = dataset("random_multiclass")
    base = LogisticRegression(max_iter=2000).fit(data.X[:300], data.y[:300])
    estimator = CalibratedClassifierCV(FrozenEstimator(base), method=method).fit(data.X[300:], data.y[300:])
    compiled = sk2tensor.convert(estimator, data.X)
    assert compiled.validation.passed, compiled.validation.summary()


@pytest.mark.parametrize("data_name", ["breast_cancer", "iris"])
def test_isotonic_calibration_clips_scores_outside_the_fitted_range(data_name: str) -> None:
    data = dataset(data_name)
    estimator = CalibratedClassifierCV(LogisticRegression(max_iter=5000), method="isotonic", cv=3)
    estimator.fit(data.X, data.y)
    # Rows far outside the training data give decision values beyond every isotonic threshold.
    X = np.vstack([data.X * 5, data.X * -4, data.X]).astype(np.float64)
    compiled = sk2tensor.convert(estimator, X, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(estimator, compiled, X, "float64")


@pytest.mark.parametrize("case", [c for c in CASES if hasattr(c.make(), "predict_proba")][::2], ids=lambda c: c.id)
def test_probability_rows_sum_to_one(case) -> None:
    estimator, data = case.fitted()
    proba = sk2tensor.convert(estimator, data.X, validate=False).predict_proba(data.X.astype(np.float32))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("out_of_bounds", ["clip", "nan"])
def test_isotonic_regression_outside_its_thresholds(out_of_bounds: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 200)
    estimator = IsotonicRegression(out_of_bounds=out_of_bounds).fit(x, np.tanh(x) + rng.normal(0, 0.2, 200))
    X = np.linspace(-6, 6, 301)[:, None]
    compiled = sk2tensor.convert(estimator, X, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    np.testing.assert_allclose(compiled.predict(X), estimator.predict(X), rtol=0, atol=1e-12)
