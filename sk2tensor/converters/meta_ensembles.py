"""Ensembles of other estimators from ``sklearn.ensemble``: VotingClassifier/Regressor,
StackingClassifier/Regressor and BaggingClassifier/Regressor. Each lowers its fitted members with
:func:`~sk2tensor.registry.lower` (any converted estimator can be a member) and combines their outputs as
sklearn does, in float64 and in sklearn's order of summation. Voting and stacking hand string columns on to
their members (pipelines that encode them); bagging draws columns of a numeric matrix, as sklearn does."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import (
    BaggingClassifier,
    BaggingRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)

from sk2tensor.converters._numeric import F64, as_columns, as_vector, columns
from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import (
    ConversionContext,
    class_output,
    converter,
    label_encoding,
    lower,
    refuse_strings,
    unsupported,
)


def member_output(
    graph: GraphBuilder, owner: Any, member: Any, method: str, x: Var | Table, context: ConversionContext
) -> Var:
    """``member.method(x)`` in the graph, or a clear error naming the member when it has no such output."""
    outputs = lower(graph, member, x, context)
    if method not in outputs:
        raise unsupported(
            owner, "estimator", type(member).__name__, f"every member must convert with a {method!r} output"
        )
    return outputs[method]


def predicted_labels(graph: GraphBuilder, classifier: Any, predict: Var) -> Var:
    """The labels ``classifier.predict`` returns, as a tensor: int64 labels as they are, float and bool labels
    looked up from the class index (string labels cannot be a tensor: refused)."""
    classes = np.asarray(classifier.classes_)
    if label_encoding(classes) == "label":
        return predict
    if classes.dtype.kind not in "fb":
        raise unsupported(classifier, "classes_.dtype", str(classes.dtype), "numeric class labels inside this model")
    return graph.gather(graph.const(classes.astype(np.float64), "classes", dtype=F64), predict)


def n_classes_of(classifier: Any) -> int:
    return len(np.asarray(classifier.classes_))


def _sum(graph: GraphBuilder, values: list[Var]) -> Var:
    total = values[0]
    for value in values[1:]:
        total = graph.add(total, value)
    return total


def _weighted_average(graph: GraphBuilder, values: list[Var], weights: Any) -> Var:
    """``np.average(values, axis=0, weights=weights)`` summed member by member in float64."""
    values = [graph.cast(v, F64) for v in values]
    if weights is None:
        return graph.div(_sum(graph, values), graph.const(float(len(values)), "count", dtype=F64))
    weights = np.asarray(weights, dtype=np.float64)
    terms = [graph.mul(v, graph.const(w, "weight", dtype=F64)) for v, w in zip(values, weights, strict=True)]
    return graph.div(_sum(graph, terms), graph.const(weights.sum(), "weight_sum", dtype=F64))


# --------------------------------------------------------------------------- voting
@converter(VotingClassifier, tables=True)
def convert_voting_classifier(
    graph: GraphBuilder, estimator: VotingClassifier, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``voting="soft"``: the weighted mean of the members' probabilities, its argmax for the label.
    ``voting="hard"``: the label with the largest (weighted) vote count, the first class on ties as
    ``np.argmax(np.bincount(...))``. ``transform`` is sklearn's: the members' probabilities side by side
    (soft, ``flatten_transform=True``) or their labels (hard)."""
    classes = np.asarray(estimator.classes_)
    n_classes = len(classes)
    members = list(estimator.estimators_)
    weights = estimator._weights_not_none
    if estimator.voting == "soft":
        probas = [member_output(graph, estimator, m, "predict_proba", x, context) for m in members]
        proba = _weighted_average(graph, probas, weights)
        outputs = {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}
        if estimator.flatten_transform:
            outputs["transform"] = graph.concat([graph.cast(p, F64) for p in probas], axis=1)
        return outputs
    labels = [
        as_columns(graph, predicted_labels(graph, m, member_output(graph, estimator, m, "predict", x, context)), 1)
        for m in members
    ]
    codes = graph.const(np.arange(n_classes, dtype=np.int64)[None, :], "class_codes", dtype=np.int64)
    weights = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
    votes = [
        graph.mul(graph.cast(graph.equal(graph.cast(label, np.int64), codes), F64), graph.const(w, "weight", dtype=F64))
        for label, w in zip(labels, weights, strict=True)
    ]
    counts = _sum(graph, votes)
    return {
        "predict": class_output(graph, classes, graph.argmax(counts, axis=1)),
        "transform": graph.concat([graph.cast(label, np.int64) for label in labels], axis=1),
    }


@converter(VotingRegressor, tables=True)
def convert_voting_regressor(
    graph: GraphBuilder, estimator: VotingRegressor, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The weighted mean of the members' predictions; ``transform`` holds them side by side."""
    predictions = [
        as_columns(graph, member_output(graph, estimator, m, "predict", x, context), 1) for m in estimator.estimators_
    ]
    mean = _weighted_average(graph, predictions, estimator._weights_not_none)
    return {
        "predict": as_vector(graph, mean),
        "transform": graph.concat([graph.cast(p, F64) for p in predictions], axis=1),
    }


# --------------------------------------------------------------------------- stacking
def _stack_features(graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext) -> Var:
    """``estimator.transform(x)``: each member's ``stack_method_`` output as columns (the first probability
    column dropped for a binary target), then ``x`` itself with ``passthrough=True``."""
    binary = hasattr(estimator, "classes_") and len(estimator.classes_) == 2
    parts = []
    for member, method in zip(estimator.estimators_, estimator.stack_method_, strict=True):
        if member == "drop":
            continue
        value = member_output(graph, estimator, member, method, x, context)
        if method == "predict_proba":
            width = n_classes_of(member)
            value = graph.cast(value, F64)
            if binary:
                value = columns(graph, value, list(range(1, width)))
                width -= 1
        elif method == "decision_function":
            width = 1 if n_classes_of(member) == 2 else n_classes_of(member)
        elif hasattr(member, "classes_"):
            value, width = predicted_labels(graph, member, value), 1
        else:
            width = int(getattr(member, "n_outputs_", 1)) if method == "predict" else 1
        parts.append(graph.cast(as_columns(graph, value, width), F64))
    if estimator.passthrough:
        if isinstance(x, Table):
            if x.has_strings:
                raise refuse_strings(estimator.final_estimator_, x)  # passthrough hands it the raw columns
            x = x.matrix(graph)
        parts.append(graph.cast(x, F64))
    return graph.cast(graph.concat(parts, axis=1) if len(parts) > 1 else parts[0], graph.dtype)


@converter(StackingClassifier, tables=True)
def convert_stacking_classifier(
    graph: GraphBuilder, estimator: StackingClassifier, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The final estimator on the stacked member outputs; its label index is mapped back to ``classes_``."""
    if isinstance(estimator._label_encoder, list):
        raise unsupported(estimator, "target", "multilabel", "single-target classification")
    features = _stack_features(graph, estimator, x, context)
    final = lower(graph, estimator.final_estimator_, features, context)
    classes = np.asarray(estimator.classes_)
    outputs = {"transform": features}
    if "predict" in final:
        index = predicted_labels(graph, estimator.final_estimator_, final["predict"])
        outputs["predict"] = class_output(graph, classes, graph.cast(index, np.int64))
    for method in ("predict_proba", "decision_function"):
        if method in final:
            outputs[method] = final[method]
    return outputs


@converter(StackingRegressor, tables=True)
def convert_stacking_regressor(
    graph: GraphBuilder, estimator: StackingRegressor, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The final estimator on the stacked member predictions."""
    features = _stack_features(graph, estimator, x, context)
    final = member_output(graph, estimator, estimator.final_estimator_, "predict", features, context)
    return {"predict": final, "transform": features}


# --------------------------------------------------------------------------- bagging
def _member_inputs(graph: GraphBuilder, estimator: Any, x: Var) -> list[Var]:
    width = int(estimator.n_features_in_)
    inputs = []
    for features in estimator.estimators_features_:
        features = [int(f) for f in features]
        inputs.append(x if features == list(range(width)) else columns(graph, x, features))
    return inputs


@converter(BaggingClassifier)
def convert_bagging_classifier(
    graph: GraphBuilder, estimator: BaggingClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The mean over members of their probabilities on their own features (a member that saw fewer classes
    fills its columns; one without ``predict_proba`` votes with its label), the most probable class; and the
    mean ``decision_function`` when the members have one."""
    classes = np.asarray(estimator.classes_)
    n_classes = len(classes)
    codes = graph.const(np.arange(n_classes, dtype=np.int64)[None, :], "class_codes", dtype=np.int64)
    terms, decisions = [], []
    for member, member_x in zip(estimator.estimators_, _member_inputs(graph, estimator, x), strict=True):
        outputs = lower(graph, member, member_x, context)
        if "predict_proba" in outputs and hasattr(member, "predict_proba"):
            proba = graph.cast(outputs["predict_proba"], F64)
            member_classes = np.asarray(member.classes_).astype(np.int64)
            if len(member_classes) != n_classes:
                spread = np.zeros((len(member_classes), n_classes))
                spread[np.arange(len(member_classes)), member_classes] = 1.0
                proba = graph.matmul(proba, graph.const(spread, "class_spread", dtype=F64))
            terms.append(proba)
        elif "predict" in outputs:
            label = as_columns(graph, predicted_labels(graph, member, outputs["predict"]), 1)
            terms.append(graph.cast(graph.equal(graph.cast(label, np.int64), codes), F64))
        else:
            raise unsupported(estimator, "estimator", type(member).__name__, "members with predict or predict_proba")
        if "decision_function" in outputs:
            decisions.append(graph.cast(outputs["decision_function"], F64))
    count = graph.const(float(estimator.n_estimators), "n_estimators", dtype=F64)
    proba = graph.div(_sum(graph, terms), count)
    outputs = {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}
    if len(decisions) == len(terms):
        outputs["decision_function"] = graph.div(_sum(graph, decisions), count)
    return outputs


@converter(BaggingRegressor)
def convert_bagging_regressor(
    graph: GraphBuilder, estimator: BaggingRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The mean over members of their predictions on their own features."""
    predictions = [
        graph.cast(member_output(graph, estimator, member, "predict", member_x, context), F64)
        for member, member_x in zip(estimator.estimators_, _member_inputs(graph, estimator, x), strict=True)
    ]
    count = graph.const(float(estimator.n_estimators), "n_estimators", dtype=F64)
    return {"predict": graph.div(_sum(graph, predictions), count)}
