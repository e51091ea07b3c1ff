"""``sklearn.model_selection``: a fitted hyper-parameter search predicts with its ``best_estimator_`` (string
columns included: they are handed on to it as they come)."""

from __future__ import annotations

from typing import Any

from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

# The successive-halving searches are experimental: imported from their module, so that converting them does
# not need (or cause) `sklearn.experimental.enable_halving_search_cv`.
from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV

from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, converter, lower, unsupported


@converter(GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV, tables=True)
def convert_search(graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext) -> dict[str, Var]:
    """The outputs of ``best_estimator_`` (the search must have been fitted with ``refit``)."""
    best = getattr(estimator, "best_estimator_", None)
    if best is None:
        raise unsupported(estimator, "refit", estimator.refit, "a search fitted with refit=True has a best_estimator_")
    return lower(graph, best, x, context)
