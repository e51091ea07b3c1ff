"""One-vs-rest, one-vs-one and output-code meta-classifiers over any converted binary estimator.

Each fitted sub-estimator is lowered with :func:`~sk2tensor.registry.lower`, and its score is taken as
sklearn's ``_predict_binary`` takes it: ``predict`` for a regressor, else ``decision_function`` when the
estimator has one, else the positive column of ``predict_proba``. Scores are stacked in float64.

OutputCodeClassifier predicts the class whose code word is nearest (euclidean) to the stacked scores, as
sklearn's ``pairwise_distances_argmin`` computes it for dense float64 data (ArgKmin with k = 1): the squared
distance ``max((|y|^2 - 2 y.c) + |c|^2, 0)``, the first code word on equal distances (its heap keeps the first
of equal values pushed in index order, and ONNX ArgMin the lowest index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier, _ConstantPredictor

from sk2tensor.converters._pairwise import squared_euclidean
from sk2tensor.converters.linear_model import as_float64
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, lower, unsupported

F64 = np.float64


def _const(graph: GraphBuilder, value: Any, hint: str) -> Var:
    return graph.const(np.asarray(value, dtype=F64), hint, dtype=F64)


def constant_rows(graph: GraphBuilder, x: Var, row: np.ndarray) -> Var:
    """``row`` repeated for every row of ``x``: ``[batch]`` for a scalar ``row``, else ``[batch, len(row)]``.

    A Where on ``x``'s first column selects the constant either way, so no runtime shape operator is needed.
    """
    first = graph.gather(x, graph.int64s([0], "first_column"), axis=1)  # [batch, 1]
    row = np.asarray(row, dtype=F64)
    value = _const(graph, row.reshape(1, -1), "constant_row")
    filled = graph.where(graph.is_nan(first), value, value)
    return graph.squeeze(filled, [1]) if row.ndim == 0 else filled


def positive_column(graph: GraphBuilder, proba: Var) -> Var:
    """``proba[:, 1]`` in float64."""
    return graph.gather(as_float64(graph, proba), graph.const(np.int64(1), "one_index", dtype=np.int64), axis=1)


def lower_all(graph: GraphBuilder, estimators: list[Any], x: Var, context: ConversionContext) -> list[dict[str, Var]]:
    """Each sub-estimator lowered once (``{}`` for sklearn's constant predictors, which need no converter)."""
    return [{} if isinstance(e, _ConstantPredictor) else lower(graph, e, x, context) for e in estimators]


def _output(outputs: dict[str, Var], method: str, estimator: Any, owner: Any) -> Var:
    if method not in outputs:
        raise unsupported(owner, "estimator", type(estimator).__name__, f"its converter gives no {method}")
    return outputs[method]


def binary_score(graph: GraphBuilder, estimator: Any, outputs: dict[str, Var], x: Var, owner: Any) -> Var:
    """sklearn's ``_predict_binary(estimator, X)`` as a float64 ``[batch]`` tensor."""
    if isinstance(estimator, _ConstantPredictor):
        return constant_rows(graph, x, np.asarray(estimator.y_, dtype=F64).reshape(()))
    if is_regressor(estimator):
        return as_float64(graph, _output(outputs, "predict", estimator, owner))
    if hasattr(estimator, "decision_function"):
        return as_float64(graph, _output(outputs, "decision_function", estimator, owner))
    return positive_column(graph, _output(outputs, "predict_proba", estimator, owner))


def positive_probability(graph: GraphBuilder, estimator: Any, outputs: dict[str, Var], x: Var, owner: Any) -> Var:
    """``estimator.predict_proba(X)[:, 1]`` as a float64 ``[batch]`` tensor."""
    if isinstance(estimator, _ConstantPredictor):
        return constant_rows(graph, x, np.asarray(estimator.y_, dtype=F64).reshape(()))
    return positive_column(graph, _output(outputs, "predict_proba", estimator, owner))


def stack_columns(graph: GraphBuilder, columns: list[Var]) -> Var:
    """``[batch]`` tensors side by side as ``[batch, n]``."""
    return graph.concat([graph.unsqueeze(c, [1]) for c in columns], axis=1)


def ovr_decision_function(graph: GraphBuilder, to_second: Var, confidences: Var, k: int) -> Var:
    """sklearn's ``_ovr_decision_function``: votes (pair ``(i, j)`` votes ``j`` where ``to_second``) plus
    ``s / (3 (|s| + 1))`` of the summed confidences ``s`` (``-c`` for ``i``, ``+c`` for ``j``), ``[batch, k]``."""
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    first, second = np.zeros((len(pairs), k)), np.zeros((len(pairs), k))
    for p, (i, j) in enumerate(pairs):
        first[p, i], second[p, j] = 1.0, 1.0
    second_votes = graph.cast(to_second, F64)
    first_votes = graph.sub(_const(graph, 1.0, "one"), second_votes)
    votes = graph.add(
        graph.matmul(first_votes, _const(graph, first, "first")),
        graph.matmul(second_votes, _const(graph, second, "second")),
    )
    sums = graph.matmul(confidences, _const(graph, second - first, "signed_pairs"))
    scaled = graph.div(
        sums, graph.mul(_const(graph, 3.0, "three"), graph.add(graph.abs(sums), _const(graph, 1.0, "one")))
    )
    return graph.add(votes, scaled)


def _threshold(estimator: Any) -> float:
    """sklearn's ``_threshold_for_binary_predict``."""
    return 0.0 if hasattr(estimator, "decision_function") and is_classifier(estimator) else 0.5


@converter(OneVsRestClassifier)
def convert_one_vs_rest(
    graph: GraphBuilder, estimator: OneVsRestClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """OneVsRestClassifier: per-class binary scores; the first highest wins (multiclass), the positive class
    where the score passes the threshold (binary, and multilabel as an indicator matrix)."""
    classes = np.asarray(estimator.classes_)
    estimators = estimator.estimators_
    lowered = lower_all(graph, estimators, x, context)
    scores = [binary_score(graph, e, out, x, estimator) for e, out in zip(estimators, lowered, strict=True)]
    stacked = stack_columns(graph, scores)
    y_type = estimator.label_binarizer_.y_type_
    threshold = _const(graph, _threshold(estimators[0]), "threshold")
    if y_type == "multiclass":
        predict = class_output(graph, classes, graph.argmax(stacked, axis=1))
    elif y_type == "binary":
        predict = class_output(graph, classes, graph.cast(graph.greater(scores[0], threshold), np.int64))
    elif y_type == "multilabel-indicator":
        predict = graph.cast(graph.greater(stacked, threshold), np.int64)
    else:
        raise unsupported(estimator, "target type", y_type, "binary, multiclass and multilabel-indicator are")
    outputs = {"predict": predict}
    if hasattr(estimator, "decision_function"):
        decisions = [
            as_float64(graph, _output(out, "decision_function", e, estimator)) if out else score
            for e, out, score in zip(estimators, lowered, scores, strict=True)
        ]
        outputs["decision_function"] = decisions[0] if len(estimators) == 1 else stack_columns(graph, decisions)
    if hasattr(estimator, "predict_proba"):
        positives = [
            positive_probability(graph, e, out, x, estimator) for e, out in zip(estimators, lowered, strict=True)
        ]
        proba = stack_columns(graph, positives)
        if len(estimators) == 1:
            proba = graph.concat([graph.sub(_const(graph, 1.0, "one"), proba), proba], axis=1)
        if not y_type.startswith("multilabel"):
            total = graph.reduce_sum(proba, [1], keepdims=True)
            nonzero = graph.logical_not(graph.equal(total, _const(graph, 0.0, "zero")))
            proba = graph.where(nonzero, graph.div(proba, total), proba)
        outputs["predict_proba"] = proba
    return outputs


@converter(OneVsOneClassifier)
def convert_one_vs_one(
    graph: GraphBuilder, estimator: OneVsOneClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """OneVsOneClassifier: each pair's ``predict`` votes, its binary score breaks ties (``_ovr_decision_function``)."""
    if estimator.pairwise_indices_ is not None:
        raise unsupported(estimator, "pairwise_indices_", "set", "estimators on precomputed kernels are not supported")
    classes = np.asarray(estimator.classes_)
    k = len(classes)
    to_second, confidences = [], []
    lowered = lower_all(graph, estimator.estimators_, x, context)
    for e, out in zip(estimator.estimators_, lowered, strict=True):
        confidences.append(binary_score(graph, e, out, x, estimator))
        if isinstance(e, _ConstantPredictor):
            label = constant_rows(graph, x, np.asarray(e.y_, dtype=F64).reshape(()))
        else:
            label = graph.cast(_output(out, "predict", e, estimator), F64)
        to_second.append(graph.equal(label, _const(graph, 1.0, "one")))
    votes_to_second = graph.concat([graph.unsqueeze(v, [1]) for v in to_second], axis=1)
    decision = ovr_decision_function(graph, votes_to_second, stack_columns(graph, confidences), k)
    if k == 2:
        decision = graph.gather(decision, graph.const(np.int64(1), "one_index", dtype=np.int64), axis=1)
        threshold = _const(graph, _threshold(estimator.estimators_[0]), "threshold")
        index = graph.cast(graph.greater(decision, threshold), np.int64)
    else:
        index = graph.argmax(decision, axis=1)
    return {"predict": class_output(graph, classes, index), "decision_function": decision}


@converter(OutputCodeClassifier)
def convert_output_code(
    graph: GraphBuilder, estimator: OutputCodeClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """OutputCodeClassifier: each binary estimator's score (``_predict_binary``), stacked; the label is the class
    of the nearest row of ``code_book_`` (the first one on equal distances)."""
    classes = np.asarray(estimator.classes_)
    estimators = estimator.estimators_
    lowered = lower_all(graph, estimators, x, context)
    scores = stack_columns(
        graph, [binary_score(graph, e, out, x, estimator) for e, out in zip(estimators, lowered, strict=True)]
    )
    distances = squared_euclidean(graph, scores, np.asarray(estimator.code_book_, dtype=F64))
    return {"predict": class_output(graph, classes, graph.argmin(distances, axis=1))}
