"""``sklearn.feature_selection``: every selector's ``transform`` is the Gather of the columns
``get_support(indices=True)`` keeps; RFE and RFECV also predict with their inner estimator on those columns."""

from __future__ import annotations

from typing import Any

from sklearn.feature_selection import (
    RFE,
    RFECV,
    GenericUnivariateSelect,
    SelectFdr,
    SelectFpr,
    SelectFromModel,
    SelectFwe,
    SelectKBest,
    SelectPercentile,
    SequentialFeatureSelector,
    VarianceThreshold,
)

from sk2tensor.converters._numeric import columns
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, lower


def selected(graph: GraphBuilder, selector: Any, x: Var) -> Var:
    """``x[:, selector.get_support(indices=True)]`` (an Identity when every column is kept)."""
    indices = [int(i) for i in selector.get_support(indices=True)]
    if indices == list(range(int(selector.n_features_in_))):
        return graph.identity(x)
    return columns(graph, x, indices)


@converter(
    VarianceThreshold,
    SelectKBest,
    SelectPercentile,
    SelectFpr,
    SelectFdr,
    SelectFwe,
    GenericUnivariateSelect,
    SelectFromModel,
    SequentialFeatureSelector,
)
def convert_selector(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The kept columns, in their original order."""
    return {"transform": selected(graph, estimator, x)}


@converter(RFE, RFECV)
def convert_rfe(graph: GraphBuilder, estimator: RFE, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``transform`` keeps the selected columns; ``predict`` and the other methods are the inner
    ``estimator_``'s on those columns."""
    kept = selected(graph, estimator, x)
    outputs = dict(lower(graph, estimator.estimator_, kept, context))
    outputs["transform"] = kept
    return outputs
