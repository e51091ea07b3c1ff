"""MLP cases the shared datasets lack: multi-label targets, and the refusal of unknown activations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.neural_network import MLPClassifier

import sk2tensor
from sk2tensor.errors import UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["logistic", "relu"])
def test_multilabel_classifier_predicts_the_indicator_matrix(dtype: str, activation: str) -> None:
    X, Y = make_multilabel_classification(300, 6, n_classes=4, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(16,), activation=activation, max_iter=300, random_state=0).fit(X, Y)
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    assert compiled.validation.passed
    got = compiled.predict(X.astype(dtype))
    assert got.shape == Y.shape and set(np.unique(got)) <= {0, 1}
    assert_matches_sklearn(model, compiled, X.astype(dtype), dtype)


def test_unknown_activation_is_refused() -> None:
    X, y = make_multilabel_classification(50, 4, n_classes=2, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y[:, 0])
    model.activation = "softplus"
    with pytest.raises(UnsupportedParameterError, match="activation='softplus'"):
        sk2tensor.convert(model, X)
