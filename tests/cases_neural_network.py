"""Conformance cases of sk2tensor.converters.neural_network: every activation, binary, multiclass,
multi-label and multi-output."""

from __future__ import annotations

from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases


def _mlp_classifier(activation: str, **kw):
    return lambda: make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(16, 8), activation=activation, max_iter=200, random_state=0, **kw),
    )


CASES: list[Case] = [
    *[
        case
        for activation in ("identity", "logistic", "tanh", "relu")
        for case in _cases(_mlp_classifier(activation), "iris", "breast_cancer", name=f"MLPClassifier_{activation}")
    ],
    *_cases(_mlp_classifier("relu"), "string_labels", "shifted_labels", "bool_labels", name="MLPClassifier"),
    *_cases(
        (lambda: MLPClassifier(hidden_layer_sizes=(10,), max_iter=50, random_state=0)),
        "wine",
        name="MLPClassifier_unscaled",
    ),
    *[
        case
        for activation in ("identity", "logistic", "tanh", "relu")
        for case in _cases(
            lambda activation=activation: make_pipeline(
                StandardScaler(),
                MLPRegressor(hidden_layer_sizes=(12,), activation=activation, max_iter=300, random_state=0),
            ),
            "diabetes",
            "linnerud",
            name=f"MLPRegressor_{activation}",
        )
    ],
    *_cases(
        (lambda: MLPRegressor(hidden_layer_sizes=(20, 10), max_iter=200, random_state=0)),
        "random_regression",
        "random_multioutput",
        name="MLPRegressor",
    ),
    *_cases(
        (lambda: MLPRegressor(hidden_layer_sizes=(8,), loss="poisson", max_iter=200, random_state=0)),
        "diabetes",
        name="MLPRegressor_poisson",
    ),
]
