"""Naive Bayes beyond the case table: models trained with partial_fit, probability rows, unseen categories."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.naive_bayes import BernoulliNB, CategoricalNB, ComplementNB, GaussianNB, MultinomialNB

import sk2tensor
from tests.cases import dataset
from tests.cases_naive_bayes import CASES
from tests.test_conformance import assert_matches_sklearn


@pytest.mark.parametrize("cls", [GaussianNB, MultinomialNB, ComplementNB, BernoulliNB, CategoricalNB])
def test_partial_fit_models_convert(cls) -> None:
    data = dataset("digits")
    classes = np.unique(data.y)
    estimator = cls()
    for chunk in np.array_split(np.arange(len(data.X)), 4):
        estimator.partial_fit(data.X[chunk], data.y[chunk], classes=classes)
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(estimator, data.X, dtype=dtype)
        assert compiled.validation.passed, compiled.validation.summary()
        assert_matches_sklearn(estimator, compiled, data.X.astype(dtype), dtype)


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: c.id)
def test_probability_rows_sum_to_one(case) -> None:
    estimator, data = case.fitted()
    proba = sk2tensor.convert(estimator, data.X).predict_proba(data.X.astype(np.float32))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_categorical_nb_clips_unseen_categories_instead_of_failing() -> None:
    data = dataset("digits")
    estimator = CategoricalNB().fit(data.X, data.y)
    compiled = sk2tensor.convert(estimator, data.X)
    X = data.X[:5].copy()
    X[:, 3] = 99.0  # beyond every fitted category: sklearn raises, the graph uses the last category
    expected = X.copy()
    expected[:, 3] = estimator.n_categories_[3] - 1
    np.testing.assert_allclose(
        compiled.predict_proba(X.astype(np.float32)), estimator.predict_proba(expected), atol=1e-6
    )
