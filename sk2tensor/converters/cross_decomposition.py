"""Partial least squares: ``transform`` and ``predict`` of PLSRegression, PLSCanonical and CCA, and
``transform`` of PLSSVD.

sklearn centres (and scales) a float32 input in place, in float32, before the float64 products: a float32
graph rounds those intermediate values to float32 the same way.
"""

from __future__ import annotations

import numpy as np
from sklearn.cross_decomposition import CCA, PLSSVD, PLSCanonical, PLSRegression

from sk2tensor.converters._pairwise import as_f64, f64
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


def _in_place(graph: GraphBuilder, x: Var, value: Var, keep_float32: bool) -> Var:
    """``value`` stored back into an array of the input's dtype (numpy's in-place ``-=`` and ``/=``)."""
    return as_f64(graph, graph.cast(value, np.float32)) if keep_float32 else value


@converter(PLSRegression, PLSCanonical, CCA)
def convert_pls(graph: GraphBuilder, estimator: PLSRegression, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``transform``: ``((X - mean) / std) @ x_rotations_``; ``predict``: ``(X - mean) @ coef_.T + intercept_``."""
    keep32 = x.dtype == np.float32
    centred = _in_place(graph, x, graph.sub(as_f64(graph, x), f64(graph, estimator._x_mean, "x_mean")), keep32)
    scaled = _in_place(graph, x, graph.div(centred, f64(graph, estimator._x_std, "x_std")), keep32)
    scores = graph.matmul(scaled, f64(graph, estimator.x_rotations_, "x_rotations"))
    pred = graph.add(
        graph.matmul(centred, f64(graph, np.asarray(estimator.coef_).T, "coef_t")),
        f64(graph, estimator.intercept_, "intercept"),
    )
    if estimator._predict_1d:
        pred = graph.squeeze(pred, [1])
    return {"transform": scores, "predict": pred}


@converter(PLSSVD)
def convert_pls_svd(graph: GraphBuilder, estimator: PLSSVD, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``((X - mean) / std) @ x_weights_`` in float64."""
    scaled = graph.div(
        graph.sub(as_f64(graph, x), f64(graph, estimator._x_mean, "x_mean")), f64(graph, estimator._x_std, "x_std")
    )
    return {"transform": graph.matmul(scaled, f64(graph, estimator.x_weights_, "x_weights"))}
