"""Scalers and other per-feature transformers."""

from __future__ import annotations

from sklearn.preprocessing import StandardScaler

from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


@converter(StandardScaler)
def convert_standard_scaler(
    graph: GraphBuilder, estimator: StandardScaler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``(x - mean_) / scale_``, each part only where the scaler was fitted with it."""
    out = x
    if estimator.mean_ is not None and estimator.with_mean:
        out = graph.sub(out, graph.const(estimator.mean_, "mean"))
    if estimator.scale_ is not None and estimator.with_std:
        out = graph.div(out, graph.const(estimator.scale_, "scale"))
    if out is x:
        out = graph.identity(x)
    return {"transform": out}
