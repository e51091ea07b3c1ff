"""IsotonicRegression: piecewise-linear interpolation of the fitted thresholds (see calibration.isotonic)."""

from __future__ import annotations

from sklearn.isotonic import IsotonicRegression

from sk2tensor.converters.calibration import isotonic
from sk2tensor.converters.linear_model import as_float64
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


@converter(IsotonicRegression)
def convert_isotonic_regression(
    graph: GraphBuilder, estimator: IsotonicRegression, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict`` and ``transform`` (the same values, ``[batch]``) of the single input column."""
    column = graph.gather(as_float64(graph, x), graph.int64s([0], "column"), axis=1)
    value = graph.squeeze(isotonic(graph, estimator, column), [1])
    return {"predict": value, "transform": value}
