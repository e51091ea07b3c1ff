"""``sklearn.model_selection``: a fitted hyper-parameter search predicts with its ``best_estimator_`` (string
columns included: they are handed on to it as they come), and the binary threshold classifiers
(FixedThresholdClassifier, TunedThresholdClassifierCV) threshold their estimator's response.

A threshold classifier's ``predict`` is sklearn's ``_threshold_scores_to_class_labels``: the response of the
positive class (``_get_response_values_binary``: the ``pos_label`` column of ``predict_proba``, or
``decision_function``, negated when ``pos_label`` is the first class) compared with the threshold as
``score >= threshold`` in float64, the positive class where it holds. Its ``predict_proba`` and
``decision_function`` are the estimator's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    RandomizedSearchCV,
    TunedThresholdClassifierCV,
)

# The successive-halving searches are experimental: imported from their module, so that converting them does
# not need (or cause) `sklearn.experimental.enable_halving_search_cv`.
from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV
from sklearn.utils.multiclass import type_of_target

from sk2tensor.converters._numeric import F64, as_vector
from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, class_output, converter, lower, unsupported

_RESPONSES = ("predict_proba", "decision_function")


@converter(GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV, tables=True)
def convert_search(graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext) -> dict[str, Var]:
    """The outputs of ``best_estimator_`` (the search must have been fitted with ``refit``)."""
    best = getattr(estimator, "best_estimator_", None)
    if best is None:
        raise unsupported(estimator, "refit", estimator.refit, "a search fitted with refit=True has a best_estimator_")
    return lower(graph, best, x, context)


def response_method_used(owner: Any, inner: Any, response_method: str | list[str]) -> str:
    """The method sklearn's ``_check_response_method`` picks on ``inner``: the first of ``response_method``
    (``"auto"`` is ``["predict_proba", "decision_function"]``) that ``inner`` has."""
    methods = list(_RESPONSES) if response_method == "auto" else response_method
    methods = [methods] if isinstance(methods, str) else list(methods)
    for method in methods:
        if method not in _RESPONSES:
            raise unsupported(owner, "response_method", response_method, f"use 'auto' or one of {list(_RESPONSES)}")
        if hasattr(inner, method):
            return method
    raise unsupported(
        owner, "response_method", response_method, f"its estimator {type(inner).__name__} has none of {methods}"
    )


def positive_index(owner: Any, classes: np.ndarray, pos_label: Any) -> int:
    """Where the positive class sits in ``classes`` (``classes[-1]`` when ``pos_label`` is None)."""
    if pos_label is None:
        return len(classes) - 1
    found = np.flatnonzero(classes == pos_label)
    if len(found) == 0:
        raise unsupported(owner, "pos_label", pos_label, f"it must be one of the classes {classes.tolist()}")
    return int(found[0])


def binary_response(
    graph: GraphBuilder,
    owner: Any,
    inner: Any,
    outputs: dict[str, Var],
    method: str,
    classes: np.ndarray,
    pos_label: Any,
) -> Var:
    """``_get_response_values_binary(inner, X, method, pos_label)[0]``: the positive class's score, ``[batch]``
    float64."""
    if method not in outputs:
        raise unsupported(owner, "estimator", type(inner).__name__, f"its converter gives no {method}")
    values = graph.cast(outputs[method], F64)
    positive = positive_index(owner, classes, pos_label)
    if method == "predict_proba":
        return graph.gather(values, graph.const(np.int64(positive), "positive_column", dtype=np.int64), axis=1)
    values = as_vector(graph, values)
    return graph.neg(values) if positive == 0 else values


def _threshold_classifier(
    graph: GraphBuilder,
    owner: Any,
    x: Var | Table,
    context: ConversionContext,
    threshold: Any,
    pos_label: Any,
) -> dict[str, Var]:
    inner = getattr(owner, "estimator_", None)
    if inner is None:
        raise unsupported(owner, "estimator_", None, "a threshold classifier fitted with fit() has an estimator_")
    if not is_classifier(inner):
        raise unsupported(owner, "estimator", type(inner).__name__, "its estimator must be a classifier")
    classes = np.asarray(owner.classes_)
    if len(classes) != 2 or type_of_target(classes) != "binary":
        raise unsupported(
            owner, "classes_", classes.tolist(), "a binary classifier whose two labels sklearn takes for binary ones"
        )
    method = response_method_used(owner, inner, owner.response_method)
    if isinstance(threshold, str):  # "auto"
        threshold = 0.5 if method == "predict_proba" else 0.0
    outputs = lower(graph, inner, x, context)
    score = binary_response(graph, owner, inner, outputs, method, classes, pos_label)
    # sklearn maps (score >= threshold) through [0, 1] when pos_label is None, else [negative, positive].
    if pos_label is None:
        negative, positive = 0, 1
    else:
        positive = positive_index(owner, classes, pos_label)
        negative = int(np.flatnonzero(classes != pos_label)[0])
    above = graph.greater_equal(score, graph.const(np.float64(threshold), "threshold", dtype=F64))
    index = graph.where(
        above,
        graph.const(np.int64(positive), "positive_index", dtype=np.int64),
        graph.const(np.int64(negative), "negative_index", dtype=np.int64),
    )
    result = {"predict": class_output(graph, classes, index)}
    for name in _RESPONSES:
        if name in outputs and hasattr(owner, name):
            result[name] = outputs[name]
    return result


@converter(FixedThresholdClassifier, tables=True)
def convert_fixed_threshold(
    graph: GraphBuilder, estimator: FixedThresholdClassifier, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: the estimator's response against ``threshold`` (``"auto"``: 0.5 for ``predict_proba``, 0 for
    ``decision_function``); ``predict_proba`` and ``decision_function``: the estimator's."""
    return _threshold_classifier(graph, estimator, x, context, estimator.threshold, estimator.pos_label)


@converter(TunedThresholdClassifierCV, tables=True)
def convert_tuned_threshold(
    graph: GraphBuilder, estimator: TunedThresholdClassifierCV, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: the refitted estimator's response against ``best_threshold_``, with the scorer's
    ``pos_label``; ``predict_proba`` and ``decision_function``: the estimator's."""
    pos_label = estimator._curve_scorer._get_pos_label()
    return _threshold_classifier(graph, estimator, x, context, float(estimator.best_threshold_), pos_label)
