"""Matrix decompositions: ``transform`` of PCA, IncrementalPCA, TruncatedSVD, KernelPCA, FastICA and
FactorAnalysis.

sklearn multiplies its input by float64 components (float32 input is upcast), so the projections run in
float64 here, with sklearn's order of operations (project, then subtract the projected mean).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA, FactorAnalysis, FastICA, IncrementalPCA, KernelPCA, TruncatedSVD

from sk2tensor.converters._pairwise import (
    as_f64,
    bound_kernel_memory,
    check_kernel,
    f64,
    kernel_parameters,
    pairwise_kernel,
)
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


def project(graph: GraphBuilder, x: Var, components: np.ndarray) -> Var:
    """``x @ components.T`` in float64."""
    return graph.matmul(x, f64(graph, np.asarray(components, dtype=np.float64).T, "components_t"))


@converter(PCA, IncrementalPCA)
def convert_pca(graph: GraphBuilder, estimator: PCA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``X @ C.T - mean @ C.T``, divided by the square root of the explained variance when whitening."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    t = project(graph, as_f64(graph, x), components)
    t = graph.sub(t, f64(graph, np.asarray(estimator.mean_, dtype=np.float64)[None, :] @ components.T, "mean_t"))
    if estimator.whiten:
        scale = np.sqrt(np.asarray(estimator.explained_variance_, dtype=np.float64))
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        t = graph.div(t, f64(graph, scale, "scale"))
    return {"transform": t}


@converter(TruncatedSVD)
def convert_truncated_svd(
    graph: GraphBuilder, estimator: TruncatedSVD, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``X @ components_.T`` (no centring)."""
    return {"transform": project(graph, as_f64(graph, x), estimator.components_)}


@converter(FastICA)
def convert_fast_ica(graph: GraphBuilder, estimator: FastICA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``(X - mean_) @ components_.T`` when whitening, else ``X @ components_.T``.

    sklearn subtracts the mean in place, in the input's dtype: a float32 graph rounds the centred values to
    float32 as it does before the float64 product.
    """
    centred = as_f64(graph, x)
    if estimator.whiten:
        centred = graph.sub(centred, f64(graph, estimator.mean_, "mean"))
        if x.dtype == np.float32:
            centred = as_f64(graph, graph.cast(centred, np.float32))
    return {"transform": project(graph, centred, estimator.components_)}


@converter(FactorAnalysis)
def convert_factor_analysis(
    graph: GraphBuilder, estimator: FactorAnalysis, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The posterior mean of the latent factors: ``((X - mean) @ Wpsi.T) @ cov_z``."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    wpsi = components / estimator.noise_variance_
    cov_z = np.linalg.inv(np.eye(len(components)) + wpsi @ components.T)
    centred = graph.sub(as_f64(graph, x), f64(graph, estimator.mean_, "mean"))
    t = graph.matmul(graph.matmul(centred, f64(graph, wpsi.T, "wpsi_t")), f64(graph, cov_z, "cov_z"))
    return {"transform": t}


@converter(KernelPCA)
def convert_kernel_pca(graph: GraphBuilder, estimator: KernelPCA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The kernel against the stored training rows, centred as sklearn's KernelCenterer, times the scaled
    eigenvectors.

    The graph holds the training rows and computes ``[batch, n_training_rows]`` float64 matrices (times the
    features for laplacian and chi2): the rows of one run are bounded as for the neighbour search
    (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`, metadata ``max_chunk_rows``).
    """
    kernel = check_kernel(estimator, estimator.kernel)
    stored = np.asarray(estimator.X_fit_, dtype=np.float64)
    bound_kernel_memory(estimator, context, stored, kernel)
    params = kernel_parameters(
        kernel, stored.shape[1], gamma=estimator.gamma_, degree=estimator.degree, coef0=estimator.coef0
    )
    k = pairwise_kernel(graph, as_f64(graph, x), stored, kernel, params)
    centerer = estimator._centerer
    pred_cols = graph.div(graph.reduce_sum(k, [1], keepdims=True), f64(graph, float(len(stored)), "n_fit"))
    k = graph.sub(k, f64(graph, centerer.K_fit_rows_, "k_fit_rows"))
    k = graph.sub(k, pred_cols)
    k = graph.add(k, f64(graph, centerer.K_fit_all_, "k_fit_all"))
    eigenvalues = np.asarray(estimator.eigenvalues_, dtype=np.float64)
    eigenvectors = np.asarray(estimator.eigenvectors_, dtype=np.float64)
    non_zeros = np.flatnonzero(eigenvalues)
    scaled = np.zeros_like(eigenvectors)
    scaled[:, non_zeros] = eigenvectors[:, non_zeros] / np.sqrt(eigenvalues[non_zeros])
    return {"transform": graph.matmul(k, f64(graph, scaled, "scaled_alphas"))}
