"""Multi-layer perceptrons (one Gemm per layer and the activation sklearn applies after it) and BernoulliRBM
(``transform``: the hidden units' activation probabilities).

sklearn multiplies its (float32 or float64) input by float64 weights, so every layer runs in float64 here;
`convert` casts the outputs to the graph's dtype.
"""

from __future__ import annotations

import numpy as np
from sklearn.neural_network import BernoulliRBM, MLPClassifier, MLPRegressor

from sk2tensor.converters.linear_model import sigmoid
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported

_HIDDEN = ("identity", "logistic", "tanh", "relu")


def _activate(graph: GraphBuilder, z: Var, name: str) -> Var:
    if name == "identity":
        return z
    if name == "logistic":
        return graph.sigmoid(z)
    if name == "tanh":
        return graph.unary("Tanh", z)
    if name == "relu":
        return graph.relu(z)
    if name == "exp":
        return graph.exp(z)
    if name == "softmax":
        return graph.softmax(z, axis=1)
    raise ValueError(name)


def _forward(graph: GraphBuilder, estimator: MLPClassifier | MLPRegressor, x: Var) -> Var:
    """sklearn's ``_forward_pass_fast``: the output layer's activation, ``[batch, n_outputs]`` in float64."""
    if estimator.activation not in _HIDDEN:
        raise unsupported(estimator, "activation", estimator.activation, f"use one of {list(_HIDDEN)}")
    out = estimator.out_activation_
    if out not in ("identity", "logistic", "softmax", "exp"):
        raise unsupported(estimator, "out_activation_", out, "use 'identity', 'logistic', 'softmax' or 'exp'")
    h = graph.cast(x, np.float64)
    last = len(estimator.coefs_) - 1
    for i, (coef, intercept) in enumerate(zip(estimator.coefs_, estimator.intercepts_, strict=True)):
        w = graph.const(np.asarray(coef, dtype=np.float64), f"coef{i}", dtype=np.float64)
        b = graph.const(np.asarray(intercept, dtype=np.float64), f"intercept{i}", dtype=np.float64)
        h = graph.gemm(h, w, b)
        h = _activate(graph, h, estimator.activation if i < last else out)
    return h


@converter(MLPRegressor)
def convert_mlp_regressor(
    graph: GraphBuilder, estimator: MLPRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: one target as ``[batch]``, several as ``[batch, targets]``."""
    y = _forward(graph, estimator, x)
    if estimator.n_outputs_ == 1:
        y = graph.squeeze(y, [1])
    return {"predict": y}


@converter(MLPClassifier)
def convert_mlp_classifier(
    graph: GraphBuilder, estimator: MLPClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Binary (logistic unit), multiclass (softmax) and multi-label (one logistic unit per label) MLPs.

    Labels follow sklearn's LabelBinarizer: the most probable class for softmax outputs, ``p > 0.5`` for
    logistic ones (a 0/1 matrix for multi-label targets).
    """
    binarizer = estimator._label_binarizer
    y_type = binarizer.y_type_
    classes = np.asarray(estimator.classes_)
    p = _forward(graph, estimator, x)
    half = graph.const(0.5, "half", dtype=np.float64)
    if y_type == "multiclass":
        return {"predict": class_output(graph, classes, graph.argmax(p, axis=1)), "predict_proba": p}
    if y_type == "binary":
        positive = graph.cast(graph.greater(graph.squeeze(p, [1]), half), np.int64)
        one = graph.const(1.0, "one", dtype=np.float64)
        proba = graph.concat([graph.sub(one, p), p], axis=1)
        return {"predict": class_output(graph, classes, positive), "predict_proba": proba}
    if y_type == "multilabel-indicator":
        return {"predict": graph.cast(graph.greater(p, half), np.int64), "predict_proba": p}
    raise unsupported(estimator, "target type", y_type, "use binary, multiclass or multilabel-indicator targets")


@converter(BernoulliRBM)
def convert_bernoulli_rbm(
    graph: GraphBuilder, estimator: BernoulliRBM, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: ``expit(X @ components_.T + intercept_hidden_)`` in float64 (sklearn's ``_mean_hiddens``).

    ``score_samples`` (the pseudo-likelihood of a randomly flipped feature per row) draws random numbers and is
    not exported.
    """
    components = np.asarray(estimator.components_, dtype=np.float64)
    hidden = graph.gemm(
        graph.cast(x, np.float64),
        graph.const(components, "components", dtype=np.float64),
        graph.const(np.asarray(estimator.intercept_hidden_, dtype=np.float64), "intercept_hidden", dtype=np.float64),
        trans_b=True,
    )
    return {"transform": sigmoid(graph, hidden)}
