"""``sklearn.impute``: SimpleImputer (every strategy) and MissingIndicator.

A value is missing where it is NaN (``missing_values=np.nan``) or equals the numeric marker (sklearn's
``_get_mask``). Imputation is a Where on that mask with the fitted ``statistics_`` stored in the input's dtype,
as sklearn stores them into the input array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.impute import MissingIndicator, SimpleImputer

from sk2tensor.converters._numeric import columns, exactly_representable
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, unsupported


def _is_nan_marker(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def missing_mask(graph: GraphBuilder, estimator: Any, x: Var) -> Var:
    """sklearn's ``_get_mask(X, missing_values)``: bool ``[batch, F]``."""
    marker = estimator.missing_values
    if marker is None or _is_nan_marker(marker) or marker is np.nan:
        return graph.is_nan(x)
    if isinstance(marker, str) or not np.isscalar(marker):
        raise unsupported(estimator, "missing_values", marker, "NaN or a number")
    if not exactly_representable(np.asarray([float(marker)]), x.dtype)[0]:
        # No input of this dtype equals the marker: nothing is ever missing.
        return graph.logical_and(graph.is_nan(x), graph.const(np.array(False), "false"))
    return graph.equal(x, graph.const(np.asarray(float(marker), dtype=x.dtype), "missing_value", dtype=x.dtype))


def indicator_columns(graph: GraphBuilder, indicator: MissingIndicator, mask: Var) -> Var:
    """MissingIndicator's output from the missing-value mask: the columns of ``features_``."""
    features = np.asarray(indicator.features_)
    if features.size == indicator._n_features:
        return mask
    return columns(graph, mask, features.tolist())


@converter(SimpleImputer)
def convert_simple_imputer(
    graph: GraphBuilder, estimator: SimpleImputer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Missing values replaced by ``statistics_`` (mean, median, most frequent or constant, whatever the
    strategy: the graph only needs the fitted values). Columns whose statistic is NaN (never observed) are
    dropped unless ``keep_empty_features``; ``add_indicator`` appends MissingIndicator's columns."""
    try:  # strategy="constant" keeps an object array of numbers
        statistics = np.asarray(estimator.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        raise unsupported(
            estimator, "statistics_", list(estimator.statistics_), "numeric statistics only (no string columns)"
        ) from None
    mask = missing_mask(graph, estimator, x)
    filled = graph.where(mask, graph.const(statistics, "statistics", dtype=x.dtype), x)
    if not estimator.keep_empty_features:
        valid = ~np.isnan(statistics)
        if not valid.all():
            filled = columns(graph, filled, np.flatnonzero(valid).tolist())
    if estimator.add_indicator:
        indicator = indicator_columns(graph, estimator.indicator_, mask)
        filled = graph.concat([filled, graph.cast(indicator, filled.dtype)], axis=1)
    return {"transform": filled}


@converter(MissingIndicator)
def convert_missing_indicator(
    graph: GraphBuilder, estimator: MissingIndicator, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The boolean missing-value mask of the ``features_`` columns (all columns with ``features="all"``).
    ``error_on_new=True`` raises in sklearn when a column without missing values in fit has some now; the
    graph cannot raise and leaves such columns out, as sklearn does when it does not raise."""
    return {"transform": indicator_columns(graph, estimator, missing_mask(graph, estimator, x))}
