"""Naive Bayes: the joint log likelihood of each class, its argmax for labels and its softmax for probabilities.

sklearn's ``predict_proba`` is ``exp(jll - logsumexp(jll))``, the softmax of the joint log likelihood. The
likelihoods are formed in float64: they are sums of large terms (``(x - theta)^2 / var`` reaches 1e6 on
unscaled data, ``x @ log p`` grows with word counts) whose float32 rounding alone would move probabilities
by more than the validator's 1e-6.

Sparse rows (``convert(sparse_input=True)``): the multinomial, complement and Bernoulli likelihoods are sklearn's
product of the CSR matrix with the log probabilities, over the stored entries (BernoulliNB binarises the stored
values first, as sklearn's ``binarize`` does on a sparse matrix).
"""

from __future__ import annotations

import numpy as np
from sklearn.naive_bayes import BernoulliNB, CategoricalNB, ComplementNB, GaussianNB, MultinomialNB

from sk2tensor.converters.linear_model import as_float64, linear_scores
from sk2tensor.graph import GraphBuilder, SparseRows, Var
from sk2tensor.registry import ConversionContext, class_output, converter

F64 = np.float64


def _outputs(graph: GraphBuilder, jll: Var, classes: np.ndarray) -> dict[str, Var]:
    return {
        "predict": class_output(graph, classes, graph.argmax(jll, axis=1)),
        "predict_proba": graph.softmax(jll, axis=1),
    }


def _gaussian_jll(graph: GraphBuilder, x: Var, theta: np.ndarray, var: np.ndarray, log_prior: np.ndarray) -> Var:
    """``log prior - 0.5 sum log(2 pi var) - 0.5 sum (x - theta)^2 / var`` per class, ``[batch, classes]``.

    The squared distance is formed as sklearn forms it, ``(x - theta)^2`` on a ``[batch, classes, features]``
    tensor: the expanded ``x^2 - 2 x theta + theta^2`` cancels catastrophically when ``var`` is tiny.
    """
    x3 = graph.unsqueeze(as_float64(graph, x), [1])
    diff = graph.sub(x3, graph.const(theta, "theta", dtype=F64))
    scaled = graph.div(graph.mul(diff, diff), graph.const(var, "var", dtype=F64))
    squared = graph.reduce_sum(scaled, [2])
    constant = log_prior - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    return graph.add(
        graph.mul(squared, graph.const(-0.5, "minus_half", dtype=F64)), graph.const(constant, "jll0", dtype=F64)
    )


@converter(GaussianNB)
def convert_gaussian_nb(
    graph: GraphBuilder, estimator: GaussianNB, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """GaussianNB: per-class independent normal likelihoods."""
    theta = np.asarray(estimator.theta_, dtype=F64)
    var = np.asarray(estimator.var_, dtype=F64)
    with np.errstate(divide="ignore"):
        log_prior = np.log(np.asarray(estimator.class_prior_, dtype=F64))
    return _outputs(graph, _gaussian_jll(graph, x, theta, var, log_prior), np.asarray(estimator.classes_))


def _linear_jll(graph: GraphBuilder, x: Var | SparseRows, weights: np.ndarray, offset: np.ndarray) -> Var:
    """``x @ weights.T + offset`` in float64."""
    return linear_scores(graph, as_float64(graph, x), weights, offset)


@converter(MultinomialNB, sparse=True)
def convert_multinomial_nb(
    graph: GraphBuilder, estimator: MultinomialNB, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """MultinomialNB: ``x @ feature_log_prob_.T + class_log_prior_``."""
    jll = _linear_jll(graph, x, estimator.feature_log_prob_, estimator.class_log_prior_)
    return _outputs(graph, jll, np.asarray(estimator.classes_))


@converter(ComplementNB, sparse=True)
def convert_complement_nb(
    graph: GraphBuilder, estimator: ComplementNB, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """ComplementNB: ``x @ feature_log_prob_.T``, plus the prior only when one class was seen."""
    classes = np.asarray(estimator.classes_)
    offset = estimator.class_log_prior_ if len(classes) == 1 else np.zeros(len(classes))
    return _outputs(graph, _linear_jll(graph, x, estimator.feature_log_prob_, offset), classes)


@converter(BernoulliNB, sparse=True)
def convert_bernoulli_nb(
    graph: GraphBuilder, estimator: BernoulliNB, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """BernoulliNB: features binarised at ``binarize`` (``x > threshold``), then a linear joint log likelihood."""
    if estimator.binarize is not None:
        values = x.values if isinstance(x, SparseRows) else x
        # numpy compares a float32 array with a Python float in float32 (NEP 50): so does the graph.
        threshold_dtype = values.dtype if type(estimator.binarize) in (int, float) else F64
        above = graph.greater(
            graph.cast(values, threshold_dtype), graph.const(estimator.binarize, "binarize", dtype=threshold_dtype)
        )
        x = x.with_values(graph.cast(above, F64)) if isinstance(x, SparseRows) else graph.cast(above, F64)
    log_prob = np.asarray(estimator.feature_log_prob_, dtype=F64)
    neg_prob = np.log(1 - np.exp(log_prob))
    offset = estimator.class_log_prior_ + neg_prob.sum(axis=1)
    return _outputs(graph, _linear_jll(graph, x, log_prob - neg_prob, offset), np.asarray(estimator.classes_))


@converter(CategoricalNB)
def convert_categorical_nb(
    graph: GraphBuilder, estimator: CategoricalNB, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """CategoricalNB: one gather per row and feature in a stacked ``[categories, classes]`` log-probability table.

    Inputs are truncated to integers, as sklearn's ``check_array(dtype=int)`` does. sklearn refuses negative
    or unseen categories; the graph clips them into the fitted range instead of failing at run time.
    """
    tables = [np.asarray(t, dtype=F64).T for t in estimator.feature_log_prob_]  # each [n_categories_i, classes]
    sizes = np.array([t.shape[0] for t in tables], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    codes = graph.cast(x, np.int64)
    codes = graph.min(
        graph.max(codes, graph.const(np.int64(0), "zero", dtype=np.int64)), graph.int64s(sizes - 1, "last")
    )
    rows = graph.add(codes, graph.int64s(offsets, "offsets"))
    picked = graph.gather(graph.const(np.vstack(tables), "log_prob", dtype=F64), rows, axis=0)  # [batch, f, classes]
    jll = graph.add(graph.reduce_sum(picked, [1]), graph.const(estimator.class_log_prior_, "log_prior", dtype=F64))
    return _outputs(graph, jll, np.asarray(estimator.classes_))
