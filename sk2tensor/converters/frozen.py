"""``sklearn.frozen``: FrozenEstimator delegates every method to the estimator it wraps, so its export is that
estimator's (string columns are handed on to it as they come)."""

from __future__ import annotations

from typing import Any

from sklearn.frozen import FrozenEstimator

from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, converter, lower


@converter(FrozenEstimator, tables=True)
def convert_frozen(
    graph: GraphBuilder, estimator: FrozenEstimator, x: Var | Table, context: ConversionContext
) -> dict[str, Any]:
    """The outputs of the wrapped estimator."""
    return lower(graph, estimator.estimator, x, context)
