"""Linear models beyond the case table: partial_fit-trained models, probability rows, refused settings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import (
    PassiveAggressiveClassifier,
    PassiveAggressiveRegressor,
    Perceptron,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)

import sk2tensor
from sk2tensor.errors import UnsupportedParameterError
from tests.cases import dataset
from tests.cases_linear import CASES
from tests.test_conformance import assert_matches_sklearn


def _partial_fit(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for chunk in np.array_split(np.arange(len(X)), 5):
            estimator.partial_fit(X[chunk], y[chunk], **kwargs)
    return estimator


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGDClassifier(loss="log_loss", random_state=0),
        lambda: SGDClassifier(loss="modified_huber", random_state=0),
        lambda: Perceptron(random_state=0),
        lambda: PassiveAggressiveClassifier(random_state=0),
    ],
    ids=["sgd_log", "sgd_modified_huber", "perceptron", "passive_aggressive"],
)
@pytest.mark.parametrize("data_name", ["random_multiclass", "string_labels"])
def test_partial_fit_classifiers_convert(make, data_name: str) -> None:
    data = dataset(data_name)
    estimator = _partial_fit(make(), data.X, data.y, classes=np.unique(data.y))
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(estimator, data.X, dtype=dtype)
        assert compiled.validation.passed, compiled.validation.summary()
        assert_matches_sklearn(estimator, compiled, data.X.astype(dtype), dtype)


@pytest.mark.parametrize("cls", [SGDRegressor, PassiveAggressiveRegressor])
def test_partial_fit_regressors_convert(cls) -> None:
    data = dataset("random_regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        estimator = _partial_fit(cls(random_state=0), data.X, data.y)
    compiled = sk2tensor.convert(estimator, data.X)
    assert_matches_sklearn(estimator, compiled, data.X.astype(np.float32), "float32")


@pytest.mark.parametrize("case", [c for c in CASES if hasattr(c.make(), "predict_proba")], ids=lambda c: c.id)
def test_probability_rows_sum_to_one(case) -> None:
    estimator, data = case.fitted()
    compiled = sk2tensor.convert(estimator, data.X, validate=False)
    proba = compiled.predict_proba(data.X.astype(np.float32))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (proba >= 0).all()


def test_multilabel_ridge_classifier_is_refused() -> None:
    X = dataset("iris").X
    Y = np.stack([X[:, 0] > 5.8, X[:, 2] > 4.0], axis=1).astype(int)
    with pytest.raises(UnsupportedParameterError, match=r"RidgeClassifier.*multilabel"):
        sk2tensor.convert(RidgeClassifier().fit(X, Y), X)
