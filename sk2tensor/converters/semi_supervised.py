"""``sklearn.semi_supervised``: SelfTrainingClassifier (its fitted ``estimator_``), LabelPropagation and
LabelSpreading.

The label propagation models predict from the training rows ``X_`` and their fitted ``label_distributions_``,
as sklearn's ``BaseLabelPropagation.predict_proba``:

* ``kernel="rbf"``: the weights ``exp(-gamma * |x - s|^2)`` (``rbf_kernel(X_, X)``, its squared distances in
  sklearn's order ``max((-2 s.x + |s|^2) + |x|^2, 0)`` in float64) times ``label_distributions_``;
* ``kernel="knn"``: the sum of ``label_distributions_`` over the ``n_neighbors`` nearest training rows of the
  fitted ``nn_fit`` (NearestNeighbors), found with the neighbour search of
  :mod:`sk2tensor.converters.neighbors`, ties at the k-th neighbour included;

then each row divided by its sum (a row of zeros gives NaN, as in sklearn). ``predict`` is the class of the
first largest probability. The graph stores ``X_`` as float64 constants and bounds the rows of one run as the
kernel and neighbour converters do. Callable kernels have no graph form and are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.semi_supervised import LabelPropagation, LabelSpreading, SelfTrainingClassifier

from sk2tensor.converters._pairwise import as_f64, bound_kernel_memory, f64, row_squared_norms
from sk2tensor.converters.neighbors import _heap, _setup, kneighbors
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, lower, unsupported

F64 = np.float64


@converter(SelfTrainingClassifier)
def convert_self_training(
    graph: GraphBuilder, estimator: SelfTrainingClassifier, x: Var, context: ConversionContext
) -> dict[str, Any]:
    """The outputs of ``estimator_``, the classifier refitted on the self-labelled rows."""
    return lower(graph, estimator.estimator_, x, context)


def _rbf_weights(graph: GraphBuilder, estimator: Any, x: Var, stored: np.ndarray) -> Var:
    """``rbf_kernel(X_, x, gamma).T``: ``[batch, n_train]`` float64."""
    x = as_f64(graph, x)
    middle = graph.matmul(x, f64(graph, (-2.0 * stored).T, "minus_2_train_t"))
    stored_norms = np.einsum("ij,ij->i", stored, stored)[None, :]
    d = graph.add(graph.add(middle, f64(graph, stored_norms, "train_sq_norms")), row_squared_norms(graph, x))
    d = graph.max(d, f64(graph, 0.0, "zero"))
    return graph.exp(graph.mul(d, f64(graph, -float(estimator.gamma), "minus_gamma")))


def _knn_sums(
    graph: GraphBuilder, estimator: Any, x: Var, distributions: np.ndarray, context: ConversionContext
) -> Var:
    """``label_distributions_[nn_fit.kneighbors(x)]`` summed over the neighbours: ``[batch, n_classes]``."""
    nn = estimator.nn_fit
    if sparse.issparse(nn._fit_X):
        raise unsupported(estimator, "X_", "a sparse matrix", "the knn kernel needs a model fitted on dense rows")
    distances, stored = _setup(graph, nn, x, context)
    k = int(nn.n_neighbors)
    if k > len(stored):
        raise unsupported(estimator, "n_neighbors", k, f"use at most the {len(stored)} training rows")
    _, index = kneighbors(graph, distances, stored, k, _heap(nn, distances, stored, context))
    table = graph.const(distributions, "label_distributions", dtype=F64)
    return graph.reduce_sum(graph.gather(table, index), [1])  # [batch, k, classes] -> [batch, classes]


@converter(LabelPropagation, LabelSpreading)
def convert_label_propagation(
    graph: GraphBuilder, estimator: LabelPropagation | LabelSpreading, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict_proba``: the kernel-weighted (``rbf``) or neighbour-summed (``knn``) label distributions of the
    training rows, normalised to sum to one; ``predict``: the most probable class."""
    kernel = estimator.kernel
    if kernel not in ("rbf", "knn"):
        name = kernel if isinstance(kernel, str) else getattr(kernel, "__name__", type(kernel).__name__)
        raise unsupported(estimator, "kernel", name, "use 'rbf' or 'knn' (a callable kernel has no graph form)")
    classes = np.asarray(estimator.classes_)
    distributions = np.ascontiguousarray(estimator.label_distributions_, dtype=F64)
    if kernel == "rbf":
        stored = estimator.X_
        stored = np.asarray(stored.toarray() if sparse.issparse(stored) else stored, dtype=F64)
        bound_kernel_memory(estimator, context, stored, "rbf")
        weights = _rbf_weights(graph, estimator, x, stored)
        sums = graph.matmul(weights, f64(graph, distributions, "label_distributions"))
    else:
        sums = _knn_sums(graph, estimator, x, distributions, context)
    proba = graph.div(sums, graph.reduce_sum(sums, [1], keepdims=True))
    return {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}
