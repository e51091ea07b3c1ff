"""``sklearn.dummy``: DummyClassifier and DummyRegressor predict the same value for every row, which the graph
broadcasts against the batch (a Where on the input's first column: no runtime shape operator).

DummyClassifier: the ``prior``, ``most_frequent`` and ``constant`` strategies; ``stratified`` and ``uniform``
draw random labels and are refused. A single target predicts a label whose numpy dtype must be that of
``classes_`` (the export maps class indices back through ``classes_``), or strings: sklearn returns those as a
fixed-width ``str`` array rather than ``classes_``' object array, and the compiled model gives them in that
dtype (the reference's, kept in the metadata). Several targets
(numeric labels only) predict ``[batch, n_outputs]`` labels; their ``predict_proba`` is a list of arrays,
which is not one tensor, and is not exported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.dummy import DummyClassifier, DummyRegressor

from sk2tensor.converters._numeric import F64, columns
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, label_encoding, unsupported

_CLASSIFIER_STRATEGIES = ("prior", "most_frequent", "constant")


def constant_rows(graph: GraphBuilder, x: Var, row: np.ndarray, hint: str = "constant_row") -> Var:
    """``row`` (``[width]``, any dtype the graph holds) repeated for every row of ``x``: ``[batch, width]``."""
    first = columns(graph, x, [0])  # [batch, 1]
    value = graph.const(np.ascontiguousarray(row).reshape(1, -1), hint, dtype=row.dtype)
    return graph.where(graph.is_nan(first), value, value)


def _strategy(estimator: DummyClassifier) -> str:
    strategy = getattr(estimator, "_strategy", estimator.strategy)
    if strategy not in _CLASSIFIER_STRATEGIES:
        raise unsupported(
            estimator,
            "strategy",
            strategy,
            f"use one of {list(_CLASSIFIER_STRATEGIES)} ('stratified' and 'uniform' draw random labels, which a "
            "graph cannot reproduce)",
        )
    return strategy


def _per_output(estimator: DummyClassifier) -> tuple[list[np.ndarray], list[np.ndarray], list[Any]]:
    """Classes, class priors and constants of each output, as sklearn's ``predict`` lists them."""
    if estimator.n_outputs_ == 1:
        return [np.asarray(estimator.classes_)], [np.asarray(estimator.class_prior_)], [estimator.constant]
    constant = estimator.constant
    constants = list(np.reshape(constant, -1)) if constant is not None else [None] * estimator.n_outputs_
    return [np.asarray(c) for c in estimator.classes_], [np.asarray(p) for p in estimator.class_prior_], constants


def _predicted_row(estimator: DummyClassifier, strategy: str, classes: list[np.ndarray], priors: list) -> np.ndarray:
    """The row sklearn's ``predict`` repeats, built as it builds it (its dtype is the one sklearn returns)."""
    if strategy == "constant":
        return np.tile(estimator.constant, (1, 1)).reshape(-1)
    return np.tile([c[p.argmax()] for c, p in zip(classes, priors, strict=True)], [1, 1]).reshape(-1)


def _index_of(classes: np.ndarray, label: Any) -> int:
    return int(np.flatnonzero(classes == label)[0])


@converter(DummyClassifier)
def convert_dummy_classifier(
    graph: GraphBuilder, estimator: DummyClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: the most frequent class (``prior``, ``most_frequent``) or ``constant``; ``predict_proba``
    (one target): the class priors (``prior``) or the indicator of the predicted class."""
    strategy = _strategy(estimator)
    if estimator.sparse_output_:
        raise unsupported(estimator, "sparse_output_", True, "a DummyClassifier fitted on a dense target")
    classes, priors, constants = _per_output(estimator)
    row = _predicted_row(estimator, strategy, classes, priors)
    if estimator.n_outputs_ > 1:
        if row.dtype.kind not in "iubf":
            raise unsupported(
                estimator,
                "predicted labels dtype",
                str(row.dtype),
                "a multi-output target needs numeric labels (its predict is one tensor of labels)",
            )
        dtype = np.int64 if row.dtype.kind in "iub" else np.float64
        return {"predict": constant_rows(graph, x, row.astype(dtype), "dummy_labels")}
    only = classes[0]
    if label_encoding(only) == "class_index" and row.dtype != only.dtype and row.dtype.kind != "U":
        raise unsupported(
            estimator,
            "predicted labels dtype",
            str(row.dtype),
            f"sklearn returns {row.dtype} labels where classes_ is {only.dtype}, and the export gives labels of "
            "the dtype of classes_: integer labels convert, and float or bool labels when the predicted label "
            "has the dtype of classes_",
        )
    picked = _index_of(only, constants[0]) if strategy == "constant" else int(priors[0].argmax())
    index = constant_rows(graph, x, np.array([picked], dtype=np.int64), "dummy_index")
    predict = class_output(graph, only, graph.squeeze(index, [1]))
    if strategy == "prior":
        proba_row = np.asarray(priors[0], dtype=np.float64)
    else:
        proba_row = np.zeros(len(only))
        proba_row[picked] = 1.0
    return {"predict": predict, "predict_proba": constant_rows(graph, x, proba_row, "dummy_proba")}


@converter(DummyRegressor)
def convert_dummy_regressor(
    graph: GraphBuilder, estimator: DummyRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: ``constant_`` (the mean, median, quantile or given constant of each target), ``[batch]`` for
    one target and ``[batch, n_outputs]`` for several."""
    if sparse.issparse(estimator.constant_):
        raise unsupported(estimator, "constant", "a sparse matrix", "give constant as a number or a dense array")
    row = np.asarray(estimator.constant_).reshape(-1)
    if row.dtype.kind not in "iubf":
        raise unsupported(estimator, "constant_.dtype", str(row.dtype), "numeric constants")
    predict = constant_rows(graph, x, row.astype(F64), "dummy_constant")
    return {"predict": graph.squeeze(predict, [1]) if estimator.n_outputs_ == 1 else predict}
