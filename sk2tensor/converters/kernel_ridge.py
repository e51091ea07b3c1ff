"""``sklearn.kernel_ridge``: ``KernelRidge.predict``, the kernel against the training rows times ``dual_coef_``."""

from __future__ import annotations

import numpy as np
from sklearn.kernel_ridge import KernelRidge

from sk2tensor.converters._pairwise import (
    f64,
    kernel_to_fitted_rows,
)
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


@converter(KernelRidge)
def convert_kernel_ridge(
    graph: GraphBuilder, estimator: KernelRidge, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``pairwise_kernels(X, X_fit_, metric=kernel) @ dual_coef_`` in float64, as sklearn computes it.

    Every kernel string of :data:`~sk2tensor.converters._pairwise.KERNELS` is converted with sklearn's
    parameters (``gamma``, ``degree``, ``coef0``; sklearn ignores ``kernel_params`` for a string kernel, and so
    does the graph). Callable and precomputed kernels are refused. A 1-D target gives ``[batch]``, a 2-D one
    ``[batch, n_targets]``. The ``[batch, n_train]`` kernel matrix bounds the rows of one run
    (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`).
    """
    k = kernel_to_fitted_rows(graph, estimator, x, context, estimator.gamma)
    dual = np.asarray(estimator.dual_coef_, dtype=np.float64)
    return {"predict": graph.matmul(k, f64(graph, dual, "dual_coef"))}
