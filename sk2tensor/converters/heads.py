"""Classifier and regressor output heads shared by converters: labels, probabilities, decision values."""

from __future__ import annotations

import numpy as np

from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import class_output


def squeeze_single(graph: GraphBuilder, value: Var, width: int) -> Var:
    """``[batch, 1] -> [batch]`` (sklearn's shape for one output); wider values are left as they are."""
    return graph.squeeze(value, [1]) if width == 1 else value


def binary_from_raw(
    graph: GraphBuilder, raw: Var, classes: np.ndarray, *, zero_is_positive: bool, proba_scale: float = 1.0
) -> dict[str, Var]:
    """Outputs of a binary classifier whose raw score ``raw [batch]`` is the log-odds / ``proba_scale``.

    ``zero_is_positive`` says which class sklearn picks for a raw score of exactly zero.
    """
    positive = graph.greater(raw, graph.const(0.0, "zero"))
    if zero_is_positive:
        positive = graph.logical_not(graph.greater(graph.const(0.0, "zero"), raw))
    index = graph.cast(positive, np.int64)
    logit = raw if proba_scale == 1.0 else graph.mul(raw, graph.const(proba_scale, "scale"))
    both = graph.concat([graph.unsqueeze(graph.neg(logit), [1]), graph.unsqueeze(logit, [1])], axis=1)
    return {
        "predict": class_output(graph, classes, index),
        "predict_proba": graph.sigmoid(both),
        "decision_function": raw,
    }


def multiclass_from_raw(
    graph: GraphBuilder, raw: Var, classes: np.ndarray, *, proba_scale: float = 1.0
) -> dict[str, Var]:
    """Outputs of a classifier with raw scores ``raw [batch, classes]`` and probabilities
    ``softmax(proba_scale * raw)``."""
    logits = raw if proba_scale == 1.0 else graph.mul(raw, graph.const(proba_scale, "scale"))
    return {
        "predict": class_output(graph, classes, graph.argmax(raw, axis=1)),
        "predict_proba": graph.softmax(logits, axis=1),
        "decision_function": raw,
    }


def from_proba(graph: GraphBuilder, proba: Var, classes: np.ndarray) -> dict[str, Var]:
    """Outputs of a classifier that averages probabilities: the label is the most probable class."""
    return {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}
