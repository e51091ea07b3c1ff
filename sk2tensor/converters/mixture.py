"""Gaussian mixtures: ``predict``, ``predict_proba`` and ``score_samples`` of GaussianMixture and
BayesianGaussianMixture, for every covariance type, from ``precisions_cholesky_`` as sklearn computes them.

sklearn upcasts to float64 wherever its input meets the float64 parameters, with two exceptions that a
float32 graph reproduces: for ``full`` and ``tied`` covariances the squared Mahalanobis distances are stored
in the input's dtype and ``-0.5 * (d log 2 pi + distance)`` is computed in float32; ``diag`` squares the input
and ``spherical`` sums its squares in float32.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from sk2tensor.converters._pairwise import as_f64, einsum_row_squared_norms, f64
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, unsupported

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _log_det_cholesky(chol: np.ndarray, covariance_type: str, n_features: int) -> np.ndarray:
    """sklearn's ``_compute_log_det_cholesky``."""
    if covariance_type == "full":
        n_components = chol.shape[0]
        return np.sum(np.log(chol.reshape(n_components, -1)[:, :: n_features + 1]), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(chol)))
    if covariance_type == "diag":
        return np.sum(np.log(chol), axis=1)
    return n_features * np.log(chol)


def _mahalanobis_full(graph: GraphBuilder, x64: Var, means: np.ndarray, chols: list[np.ndarray]) -> Var:
    """``sum((X @ P_k - mu_k @ P_k)^2, axis=1)`` for every component: ``[batch, n_components]``."""
    n_components, n_features = means.shape
    stacked = np.concatenate(chols, axis=1)  # [features, components * features]
    shift = np.concatenate([means[k] @ chols[k] for k in range(n_components)])
    y = graph.sub(graph.matmul(x64, f64(graph, stacked, "prec_chol")), f64(graph, shift, "mean_prec_chol"))
    y = graph.reshape(graph.mul(y, y), [-1, n_components, n_features])
    return graph.reduce_sum(y, [2])


def estimate_log_gaussian_prob(graph: GraphBuilder, estimator: GaussianMixture, x: Var) -> Var:
    """sklearn's ``_estimate_log_gaussian_prob``: ``[batch, n_components]`` float64."""
    covariance_type = estimator.covariance_type
    if covariance_type not in _COVARIANCE_TYPES:
        raise unsupported(estimator, "covariance_type", covariance_type, f"use one of {list(_COVARIANCE_TYPES)}")
    means = np.asarray(estimator.means_, dtype=np.float64)
    chol = np.asarray(estimator.precisions_cholesky_, dtype=np.float64)
    n_components, n_features = means.shape
    log_det = _log_det_cholesky(chol, covariance_type, n_features)
    x32 = x.dtype == np.float32
    x64 = as_f64(graph, x)
    constant = n_features * math.log(2 * math.pi)
    if covariance_type in ("full", "tied"):
        chols = list(chol) if covariance_type == "full" else [chol] * n_components
        distance = _mahalanobis_full(graph, x64, means, chols)
        if x32:
            # log_prob is an array of the input's dtype: the rest of -0.5 * (c + log_prob) happens in float32.
            d32 = graph.cast(distance, np.float32)
            c = graph.const(np.float32(constant), "log_2pi_d", dtype=np.float32)
            half = graph.const(np.float32(-0.5), "minus_half", dtype=np.float32)
            log_prob = as_f64(graph, graph.mul(half, graph.add(d32, c)))
            return graph.add(log_prob, f64(graph, log_det, "log_det"))
    else:
        precisions = chol**2
        squares = graph.mul(x, x) if x32 else graph.mul(x64, x64)  # X**2 in the input's dtype
        if covariance_type == "diag":
            first = f64(graph, np.sum(means**2 * precisions, axis=1), "mean_term")
            cross = graph.matmul(x64, f64(graph, (-2.0 * (means * precisions)).T, "minus_2_mean_prec_t"))
            last = graph.matmul(as_f64(graph, squares), f64(graph, precisions.T, "precisions_t"))
            distance = graph.add(graph.add(first, cross), last)
        else:  # spherical
            first = f64(graph, np.sum(means**2, axis=1) * precisions, "mean_term")
            cross = graph.mul(graph.matmul(x64, f64(graph, means.T, "means_t")), f64(graph, -2 * precisions, "prec"))
            if x32:  # row_norms(X, squared=True): numpy's float32 einsum
                norms = as_f64(graph, einsum_row_squared_norms(graph, x, n_features))
            else:
                norms = graph.reduce_sum(squares, [1], keepdims=True)
            last = graph.mul(norms, f64(graph, precisions, "precisions"))
            distance = graph.add(graph.add(first, cross), last)
    log_prob = graph.mul(f64(graph, -0.5, "minus_half"), graph.add(f64(graph, constant, "log_2pi_d"), distance))
    return graph.add(log_prob, f64(graph, log_det, "log_det"))


def _mixture_outputs(graph: GraphBuilder, weighted: Var) -> dict[str, Var]:
    """``predict`` (argmax), ``predict_proba`` (normalised) and ``score_samples`` (logsumexp) of
    ``weighted [batch, n_components]``."""
    top = graph.reduce_max(weighted, [1], keepdims=True)
    shifted = graph.sub(weighted, top)
    norm = graph.add(graph.log(graph.reduce_sum(graph.exp(shifted), [1], keepdims=True)), top)
    return {
        "predict": graph.argmax(weighted, axis=1),
        "predict_proba": graph.exp(graph.sub(weighted, norm)),
        "score_samples": graph.squeeze(norm, [1]),
    }


@converter(GaussianMixture)
def convert_gaussian_mixture(
    graph: GraphBuilder, estimator: GaussianMixture, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Weighted log-probabilities ``log N(x | mu_k, Sigma_k) + log w_k`` and what sklearn derives from them."""
    log_gauss = estimate_log_gaussian_prob(graph, estimator, x)
    weighted = graph.add(log_gauss, f64(graph, np.log(estimator.weights_), "log_weights"))
    return _mixture_outputs(graph, weighted)


@converter(BayesianGaussianMixture)
def convert_bayesian_gaussian_mixture(
    graph: GraphBuilder, estimator: BayesianGaussianMixture, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """As GaussianMixture, with the variational terms of sklearn's ``_estimate_log_prob`` and
    ``_estimate_log_weights`` (both constants of the fitted model)."""
    n_features = estimator.means_.shape[1]
    dof = np.asarray(estimator.degrees_of_freedom_, dtype=np.float64)
    log_gauss = graph.sub(
        estimate_log_gaussian_prob(graph, estimator, x), f64(graph, 0.5 * n_features * np.log(dof), "log_dof")
    )
    log_lambda = n_features * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(0, n_features)[:, np.newaxis])), 0)
    log_prob = graph.add(
        log_gauss, f64(graph, 0.5 * (log_lambda - n_features / estimator.mean_precision_), "log_lambda")
    )
    concentration = estimator.weight_concentration_
    if estimator.weight_concentration_prior_type == "dirichlet_process":
        digamma_sum = digamma(concentration[0] + concentration[1])
        digamma_a = digamma(concentration[0])
        digamma_b = digamma(concentration[1])
        log_weights = digamma_a - digamma_sum + np.hstack((0, np.cumsum(digamma_b - digamma_sum)[:-1]))
    else:
        log_weights = digamma(concentration) - digamma(np.sum(concentration))
    weighted = graph.add(log_prob, f64(graph, log_weights, "log_weights"))
    return _mixture_outputs(graph, weighted)
