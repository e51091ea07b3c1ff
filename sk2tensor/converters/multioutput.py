"""``sklearn.multioutput``: MultiOutputClassifier/Regressor (one fitted estimator per target, side by side)
and ClassifierChain/RegressorChain (each estimator also sees the previous ones' outputs). The MultiOutput
wrappers hand string columns on to their estimators (pipelines that encode them); the chains, like sklearn's,
take numbers only."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier, MultiOutputRegressor, RegressorChain

from sk2tensor.converters._numeric import F64, as_columns, columns
from sk2tensor.converters.heads import check_numeric_labels
from sk2tensor.converters.meta_ensembles import member_output, predicted_labels
from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, converter, lower, unsupported


@converter(MultiOutputRegressor, tables=True)
def convert_multi_output_regressor(
    graph: GraphBuilder, estimator: MultiOutputRegressor, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """One column per target: each estimator's ``predict``."""
    predictions = [
        graph.cast(as_columns(graph, member_output(graph, estimator, m, "predict", x, context), 1), F64)
        for m in estimator.estimators_
    ]
    return {"predict": graph.concat(predictions, axis=1)}


@converter(MultiOutputClassifier, tables=True)
def convert_multi_output_classifier(
    graph: GraphBuilder, estimator: MultiOutputClassifier, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: one column of labels per target (numeric labels only). ``predict_proba`` (when every
    estimator has one): sklearn's list of ``[batch, n_classes]`` arrays, one per target, side by side in one
    ``[batch, sum of n_classes]`` output that the compiled model splits back into the list (metadata
    ``split_outputs``; a consumer in another language splits it at those widths)."""
    check_numeric_labels(estimator, [m.classes_ for m in estimator.estimators_], "estimators_[{i}].classes_")
    members = [lower(graph, m, x, context) for m in estimator.estimators_]
    labels = []
    for member, outputs in zip(estimator.estimators_, members, strict=True):
        if "predict" not in outputs:
            raise unsupported(estimator, "estimator", type(member).__name__, "every member must convert with predict")
        labels.append(as_columns(graph, predicted_labels(graph, member, outputs["predict"]), 1))
    kinds = {label.dtype for label in labels}
    dtype = np.int64 if kinds == {np.dtype(np.int64)} else F64
    result = {"predict": graph.concat([graph.cast(label, dtype) for label in labels], axis=1)}
    if hasattr(estimator, "predict_proba") and all("predict_proba" in outputs for outputs in members):
        result["predict_proba"] = graph.concat([graph.cast(o["predict_proba"], F64) for o in members], axis=1)
        context.split_outputs["predict_proba"] = [len(m.classes_) for m in estimator.estimators_]
    return result


def _chain_value(graph: GraphBuilder, chain: Any, member: Any, method: str, outputs: dict[str, Var]) -> Var:
    """sklearn's ``_get_response_values(member, X_aug, method)`` for one member: labels, the positive class's
    probability, or the decision value; as a ``[batch, 1]`` float64 column."""
    if method not in outputs:
        raise unsupported(chain, "estimator", type(member).__name__, f"every member must convert with {method!r}")
    value = outputs[method]
    if method == "predict":
        value = predicted_labels(graph, member, value) if hasattr(member, "classes_") else value
    elif method == "predict_proba":
        n_classes = len(member.classes_)
        if n_classes != 2:
            raise unsupported(chain, "classes", n_classes, "binary targets")
        value = columns(graph, value, [1])
    return graph.cast(as_columns(graph, value, 1), F64)


def _chain(
    graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext, methods: list[str]
) -> dict[str, Var]:
    feature_method = getattr(estimator, "chain_method_", "predict")
    if isinstance(feature_method, list | tuple):
        feature_method = feature_method[0]
    previous: list[Var] = []
    results: dict[str, list[Var]] = {m: [] for m in methods}
    for member in estimator.estimators_:
        augmented = x if not previous else graph.concat([graph.cast(x, F64), *previous], axis=1)
        augmented = graph.cast(augmented, graph.dtype)
        outputs = lower(graph, member, augmented, context)
        previous.append(_chain_value(graph, estimator, member, feature_method, outputs))
        for method in methods:
            if method in outputs or method == "predict":
                results[method].append(_chain_value(graph, estimator, member, method, outputs))
    order = np.asarray(estimator.order_)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    found = {}
    for method, values in results.items():
        if len(values) == len(estimator.estimators_):
            stacked = graph.concat(values, axis=1)
            found[method] = stacked if list(inverse) == list(range(len(order))) else columns(graph, stacked, inverse)
    return found


@converter(ClassifierChain)
def convert_classifier_chain(
    graph: GraphBuilder, estimator: ClassifierChain, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Each member on ``x`` and the previous members' ``chain_method_`` outputs; ``predict`` holds the labels
    (as sklearn, a float array), ``predict_proba`` each binary member's positive probability and
    ``decision_function`` its decision value, columns in target order."""
    return _chain(graph, estimator, x, context, ["predict", "predict_proba", "decision_function"])


@converter(RegressorChain)
def convert_regressor_chain(
    graph: GraphBuilder, estimator: RegressorChain, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Each member on ``x`` and the previous members' predictions; one column per target."""
    return _chain(graph, estimator, x, context, ["predict"])
