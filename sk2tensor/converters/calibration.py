"""CalibratedClassifierCV: each calibrated classifier's probabilities, averaged in sklearn's order.

A calibrated classifier takes its estimator's response (``decision_function`` if it has one, else
``predict_proba``; the positive column for two classes) and maps each class column through its calibrator:

* sigmoid: ``expit(-(a * f + b))`` (computed as an accurate float64 sigmoid);
* isotonic: ``np.interp`` of ``clip(f, X_min_, X_max_)`` on the fitted thresholds (scipy's ``interp1d``
  delegates to ``np.interp`` for float64 data), a count of thresholds below ``f`` and a gathered segment;
* temperature: ``softmax(beta * logits)``, logits being ``log(p + 1e-12)`` for ``predict_proba`` responses and
  the decision values (``(-d, d)`` for two classes) otherwise. sklearn decides between the two by looking at
  the whole batch (values in [0, 1] whose rows sum to 1 are taken for probabilities); the graph decides from
  the response method, which differs only for a batch of decision values that happen to look like
  probabilities.

Two classes give ``[1 - p, p]``; more are normalised to sum to one (uniform where every calibrated value is
zero), then values in ``(1, 1 + 1e-5]`` become 1, as sklearn does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression

from sk2tensor.converters._numeric import interp
from sk2tensor.converters.linear_model import as_float64, sigmoid
from sk2tensor.converters.multiclass import constant_rows
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, lower, unsupported

F64 = np.float64


def _const(graph: GraphBuilder, value: Any, hint: str) -> Var:
    return graph.const(np.asarray(value, dtype=F64), hint, dtype=F64)


def _unwrap(estimator: Any) -> Any:
    """The estimator a FrozenEstimator (sklearn's replacement for ``cv="prefit"``) holds."""
    while type(estimator).__name__ == "FrozenEstimator":
        estimator = estimator.estimator
    return estimator


def response(
    graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext, owner: Any
) -> tuple[Var, str, int]:
    """``_get_response_values(estimator, X, ["decision_function", "predict_proba"])`` in float64, as
    ``[batch, columns]``, with the method used and the column count."""
    method = "decision_function" if hasattr(estimator, "decision_function") else "predict_proba"
    outputs = lower(graph, _unwrap(estimator), x, context)
    if method not in outputs:
        raise unsupported(owner, "estimator", type(estimator).__name__, f"its converter gives no {method}")
    values = as_float64(graph, outputs[method])
    n_classes = len(estimator.classes_)
    if n_classes == 2:
        if method == "predict_proba":
            values = graph.gather(values, graph.int64s([1], "positive"), axis=1)
        else:
            values = graph.unsqueeze(values, [1])
        return values, method, 1
    return values, method, n_classes


def isotonic(graph: GraphBuilder, calibrator: IsotonicRegression, column: Var) -> Var:
    """IsotonicRegression.predict of a ``[batch, 1]`` float64 column (out_of_bounds 'clip', 'nan' or 'raise')."""
    y = np.asarray(calibrator.y_thresholds_, dtype=F64)
    if len(y) == 1:
        return graph.where(graph.is_nan(column), _const(graph, y[0], "isotonic_y"), _const(graph, y[0], "isotonic_y"))
    xp = np.asarray(calibrator.X_thresholds_, dtype=F64)
    if calibrator.out_of_bounds == "clip":
        column = graph.clip(
            column, _const(graph, calibrator.X_min_, "x_min"), _const(graph, calibrator.X_max_, "x_max")
        )
    result = interp(graph, column, xp[None, :], y[None, :])
    if calibrator.out_of_bounds == "nan":
        outside = graph.logical_or(
            graph.less(column, _const(graph, xp[0], "x_min")), graph.greater(column, _const(graph, xp[-1], "x_max"))
        )
        result = graph.where(outside, _const(graph, np.nan, "nan"), result)
    return result


def _calibrate(graph: GraphBuilder, calibrator: Any, column: Var, owner: Any) -> Var:
    if isinstance(calibrator, IsotonicRegression):
        return isotonic(graph, calibrator, column)
    if type(calibrator).__name__ == "_SigmoidCalibration":
        a, b = _const(graph, float(calibrator.a_), "sigmoid_a"), _const(graph, float(calibrator.b_), "sigmoid_b")
        return sigmoid(graph, graph.neg(graph.add(graph.mul(a, column), b)))
    raise unsupported(owner, "calibrator", type(calibrator).__name__, "sigmoid, isotonic and temperature are")


def calibrated_proba(
    graph: GraphBuilder, calibrated: Any, x: Var, classes: np.ndarray, context: ConversionContext, owner: Any
) -> Var:
    """``_CalibratedClassifier.predict_proba``: ``[batch, n_classes]`` float64."""
    values, method, width = response(graph, calibrated.estimator, x, context, owner)
    n_classes = len(classes)
    if calibrated.method == "temperature":
        if width == 1:
            if method == "predict_proba":
                logits = graph.log(
                    graph.add(
                        graph.concat([graph.sub(_const(graph, 1.0, "one"), values), values], axis=1),
                        _const(graph, 1e-12, "log_eps"),
                    )
                )
            else:
                logits = graph.concat([graph.neg(values), values], axis=1)
        elif method == "predict_proba":
            logits = graph.log(graph.add(values, _const(graph, 1e-12, "log_eps")))
        else:
            logits = values
        beta = _const(graph, float(np.asarray(calibrated.calibrators[0].beta_).reshape(-1)[0]), "beta")
        return graph.softmax(graph.mul(beta, logits), axis=1)
    if calibrated.method not in ("sigmoid", "isotonic"):
        raise unsupported(owner, "method", calibrated.method, "use 'sigmoid', 'isotonic' or 'temperature'")
    positions = np.searchsorted(classes, np.asarray(calibrated.estimator.classes_))
    if n_classes == 2:
        column = graph.gather(values, graph.int64s([0], "column"), axis=1)
        positive = _calibrate(graph, calibrated.calibrators[0], column, owner)
        return graph.concat([graph.sub(_const(graph, 1.0, "one"), positive), positive], axis=1)
    columns: list[Var | None] = [None] * n_classes
    for index, (position, calibrator) in enumerate(zip(positions, calibrated.calibrators, strict=False)):
        column = graph.gather(values, graph.int64s([index], "column"), axis=1)
        columns[position] = _calibrate(graph, calibrator, column, owner)
    zero_column = None
    for position, column in enumerate(columns):
        if column is None:  # a class the fold's estimator never saw keeps a zero column
            zero_column = zero_column or graph.unsqueeze(constant_rows(graph, x, np.float64(0.0)), [1])
            columns[position] = zero_column
    proba = graph.concat(columns, axis=1)
    total = graph.reduce_sum(proba, [1], keepdims=True)
    uniform = _const(graph, np.full((1, n_classes), 1.0 / n_classes), "uniform")
    return graph.where(graph.equal(total, _const(graph, 0.0, "zero")), uniform, graph.div(proba, total))


@converter(CalibratedClassifierCV)
def convert_calibrated_classifier(
    graph: GraphBuilder, estimator: CalibratedClassifierCV, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """CalibratedClassifierCV: the mean of each calibrated classifier's probabilities; the label is its argmax."""
    classes = np.asarray(estimator.classes_)
    total = None
    for calibrated in estimator.calibrated_classifiers_:
        proba = calibrated_proba(graph, calibrated, x, classes, context, estimator)
        one = _const(graph, 1.0, "one")
        barely_above = graph.logical_and(
            graph.less(one, proba), graph.less_equal(proba, _const(graph, 1.0 + 1e-5, "one_plus"))
        )
        proba = graph.where(barely_above, one, proba)
        total = proba if total is None else graph.add(total, proba)
    mean = graph.div(total, _const(graph, float(len(estimator.calibrated_classifiers_)), "n_calibrated"))
    return {"predict": class_output(graph, classes, graph.argmax(mean, axis=1)), "predict_proba": mean}
