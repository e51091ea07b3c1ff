"""Classifier and regressor output heads shared by converters: labels, probabilities, decision values.

Heads compute in the dtype of the scores they are given (float64 for tree sums, so that labels are decided
exactly as sklearn decides them); `convert` casts float outputs to the graph's dtype afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, unsupported


def squeeze_single(graph: GraphBuilder, value: Var, width: int) -> Var:
    """``[batch, 1] -> [batch]`` (sklearn's shape for one output); wider values are left as they are."""
    return graph.squeeze(value, [1]) if width == 1 else value


def binary_from_raw(
    graph: GraphBuilder, raw: Var, classes: np.ndarray, *, zero_is_positive: bool, proba_scale: float = 1.0
) -> dict[str, Var]:
    """Outputs of a binary classifier with raw score ``raw [batch]`` and ``P(class 1) = sigmoid(scale * raw)``.

    ``zero_is_positive`` says which class sklearn picks for a raw score of exactly zero.
    """
    zero = graph.const(0.0, "zero", dtype=raw.dtype)
    positive = graph.logical_not(graph.less(raw, zero)) if zero_is_positive else graph.greater(raw, zero)
    logit = raw if proba_scale == 1.0 else graph.mul(raw, graph.const(proba_scale, "scale", dtype=raw.dtype))
    both = graph.concat([graph.unsqueeze(graph.neg(logit), [1]), graph.unsqueeze(logit, [1])], axis=1)
    return {
        "predict": class_output(graph, classes, graph.cast(positive, np.int64)),
        "predict_proba": graph.sigmoid(both),
        "decision_function": raw,
    }


def multiclass_from_raw(
    graph: GraphBuilder, raw: Var, classes: np.ndarray, *, proba_divisor: float = 1.0
) -> dict[str, Var]:
    """Outputs of a classifier with raw scores ``raw [batch, classes]``, probabilities
    ``softmax(raw / proba_divisor)`` and the label of the highest score (first one on ties)."""
    logits = raw if proba_divisor == 1.0 else graph.div(raw, graph.const(proba_divisor, "divisor", dtype=raw.dtype))
    return {
        "predict": class_output(graph, classes, graph.argmax(raw, axis=1)),
        "predict_proba": graph.softmax(logits, axis=1),
        "decision_function": raw,
    }


def from_proba(graph: GraphBuilder, proba: Var, classes: np.ndarray) -> dict[str, Var]:
    """Outputs of a classifier that averages probabilities: the label is the most probable class."""
    return {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}


def check_numeric_labels(estimator: Any, all_classes: list[np.ndarray], where: str = "classes_[{i}]") -> None:
    """Refuse non-numeric labels in any target of a multi-output classifier: its ``predict`` is one tensor of the
    labels themselves. ``where`` names target ``i``'s classes in the message."""
    for i, classes in enumerate(all_classes):
        if np.asarray(classes).dtype.kind not in "iubf":
            raise unsupported(
                estimator,
                f"{where.format(i=i)}.dtype",
                str(np.asarray(classes).dtype),
                "a multi-output target needs numeric labels in every output (its predict is one tensor of labels)",
            )


def multi_output_from_proba(
    graph: GraphBuilder, estimator: Any, proba: Var, all_classes: list[np.ndarray], context: ConversionContext
) -> dict[str, Var]:
    """Outputs of a multi-output classifier whose per-target probabilities lie side by side in ``proba``
    (``[batch, sum of n_classes]``): ``predict`` holds each target's most probable label (the first on a tie),
    ``[batch, n_targets]``, int64 when every target's labels are integers and float64 otherwise (the compiled
    model casts to sklearn's dtype); ``predict_proba`` is split back into sklearn's list by the compiled model
    (metadata ``split_outputs``). Labels must be numeric: a multi-output ``predict`` is one tensor."""
    check_numeric_labels(estimator, all_classes)
    dtype = np.int64 if all(c.dtype.kind in "iu" for c in all_classes) else np.float64
    widths = [len(classes) for classes in all_classes]
    starts = np.cumsum([0, *widths])
    labels = []
    for output, classes in enumerate(all_classes):
        part = graph.slice(proba, [0, int(starts[output])], [2**62, int(starts[output + 1])])
        table = graph.const(classes.astype(dtype), "classes", dtype=dtype)
        labels.append(graph.unsqueeze(graph.gather(table, graph.argmax(part, axis=1)), [1]))
    context.split_outputs["predict_proba"] = widths
    return {"predict": graph.concat(labels, axis=1), "predict_proba": proba}
