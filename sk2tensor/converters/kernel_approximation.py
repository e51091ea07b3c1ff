"""Kernel approximations: ``transform`` of Nystroem and RBFSampler, in float64 as sklearn computes them."""

from __future__ import annotations

import numpy as np
from sklearn.kernel_approximation import Nystroem, RBFSampler

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


@converter(Nystroem)
def convert_nystroem(graph: GraphBuilder, estimator: Nystroem, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The kernel against the stored components, times ``normalization_.T``.

    The ``[batch, n_components]`` kernel matrix bounds the rows of one run as for the neighbour search
    (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`, metadata ``max_chunk_rows``).
    """
    kernel = check_kernel(estimator, estimator.kernel)
    components = np.asarray(estimator.components_, dtype=np.float64)
    bound_kernel_memory(estimator, context, components, kernel, "components")
    # As sklearn: kernel_params, overridden by the estimator's own gamma/degree/coef0 where set, filtered to
    # the parameters the kernel takes.
    given = dict(estimator.kernel_params or {})
    for name in ("gamma", "degree", "coef0"):
        if getattr(estimator, name) is not None:
            given[name] = getattr(estimator, name)
    params = kernel_parameters(kernel, components.shape[1], **given)
    embedded = pairwise_kernel(graph, as_f64(graph, x), components, kernel, params)
    return {"transform": graph.matmul(embedded, f64(graph, np.asarray(estimator.normalization_).T, "normalization_t"))}


@converter(RBFSampler)
def convert_rbf_sampler(
    graph: GraphBuilder, estimator: RBFSampler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Random Fourier features: ``cos(X @ W + b) * sqrt(2 / n_components)``."""
    projection = graph.matmul(as_f64(graph, x), f64(graph, estimator.random_weights_, "random_weights"))
    projection = graph.unary("Cos", graph.add(projection, f64(graph, estimator.random_offset_, "random_offset")))
    return {"transform": graph.mul(projection, f64(graph, (2.0 / estimator.n_components) ** 0.5, "scale"))}
