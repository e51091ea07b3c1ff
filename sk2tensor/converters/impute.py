"""``sklearn.impute``: SimpleImputer (every strategy) and MissingIndicator.

A value is missing where it is NaN (``missing_values=np.nan``) or equals the numeric marker (sklearn's
``_get_mask``). Imputation is a Where on that mask with the fitted ``statistics_`` stored in the input's dtype,
as sklearn stores them into the input array.

String columns (a :class:`~sk2tensor.graph.Table`): a value is missing where the string input equals the string
that stands for ``missing_values`` (:data:`~sk2tensor.metadata.MISSING_NAN` for NaN, ``MISSING_NONE`` for
``None``, or the marker string itself), which is sklearn's mask on object columns (``X != X`` for NaN, so a
``None`` is not NaN's missing value); the fill is a Where with the fitted string statistic, and the column stays a
string column for the encoder after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.impute import MissingIndicator, SimpleImputer

from sk2tensor.converters._numeric import columns, exactly_representable
from sk2tensor.graph import STRING, Column, GraphBuilder, Table, Var
from sk2tensor.metadata import MISSING_NAN, MISSING_NONE
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


def string_missing_mask(graph: GraphBuilder, estimator: Any, x: Var) -> Var:
    """sklearn's missing-value mask of a string column ``x [batch, 1]``: bool ``[batch, 1]``."""
    marker = estimator.missing_values
    if marker is None:
        text = MISSING_NONE
    elif _is_nan_marker(marker) or marker is np.nan:
        text = MISSING_NAN
    elif isinstance(marker, str):
        text = marker
    else:
        raise unsupported(estimator, "missing_values", marker, "NaN, None or a string for a string column")
    return graph.equal(x, graph.const(np.array(text, dtype=object), "missing_string", dtype=STRING))


def _table_masks(graph: GraphBuilder, estimator: Any, table: Table) -> tuple[Table, Var | None]:
    """The missing-value mask of every column of ``table`` (bool columns, in order), and the mask matrix of its
    numeric columns (None when it has none)."""
    numeric = [j for j, column in enumerate(table.columns) if not column.is_string]
    numeric_mask = missing_mask(graph, estimator, table.select(numeric).matrix(graph)) if numeric else None
    masks = []
    for j, column in enumerate(table.columns):
        if column.is_string:
            masks.append(Column(string_missing_mask(graph, estimator, column.var), label=column.label))
        else:
            masks.append(Column(numeric_mask, numeric.index(j), len(numeric), column.label))
    return Table(tuple(masks)), numeric_mask


def _indicator_table(graph: GraphBuilder, indicator: MissingIndicator, masks: Table) -> Var:
    """MissingIndicator's output (bool) from the masks of a table's columns."""
    features = np.asarray(indicator.features_).tolist()
    return masks.select(features).matrix(graph, np.bool_)


def _impute_table(graph: GraphBuilder, estimator: SimpleImputer, table: Table) -> Table:
    """SimpleImputer on a table with string columns: numeric columns as on a matrix, string columns filled
    with their (string) statistic; a column whose statistic is NaN (never observed) is dropped unless
    ``keep_empty_features``, then MissingIndicator's columns are appended."""
    statistics = np.asarray(estimator.statistics_, dtype=object)
    masks, numeric_mask = _table_masks(graph, estimator, table)
    numeric = [j for j, column in enumerate(table.columns) if not column.is_string]
    filled_numeric = None
    if numeric:
        try:
            values = np.asarray(statistics[numeric], dtype=np.float64)
        except (TypeError, ValueError):
            labels = [table.columns[j].label for j in numeric if isinstance(statistics[j], str)]
            raise unsupported(
                estimator,
                "statistics_",
                list(statistics[numeric]),
                f"column(s) {labels} are numeric in the data given to convert, but the imputer was fitted on "
                "strings in them: convert with the DataFrame it was fitted on (pd.read_csv turns digits into "
                "numbers: read such columns with dtype=str, or use Parquet)",
            ) from None
        matrix = table.select(numeric).matrix(graph)
        filled_numeric = graph.where(numeric_mask, graph.const(values, "statistics", dtype=matrix.dtype), matrix)
    kept: list[Column] = []
    for j, column in enumerate(table.columns):
        value = statistics[j]
        empty = not isinstance(value, str) and value is not None and np.isnan(np.float64(value))
        if empty and not estimator.keep_empty_features:
            continue
        if not column.is_string:
            kept.append(Column(filled_numeric, numeric.index(j), len(numeric), column.label))
            continue
        if not isinstance(value, str):
            raise unsupported(estimator, f"statistics_[{j}]", value, "a string fill value for a string column")
        fill = graph.const(np.array(value, dtype=object), "fill_string", dtype=STRING)
        mask = masks.columns[j].var
        kept.append(Column(graph.where(mask, fill, column.var), label=column.label))
    if estimator.add_indicator:
        indicator = graph.cast(_indicator_table(graph, estimator.indicator_, masks), graph.dtype)
        width = len(np.asarray(estimator.indicator_.features_))
        kept.extend(Table.of_matrix(indicator, width).columns)
    return Table(tuple(kept))


def indicator_columns(graph: GraphBuilder, indicator: MissingIndicator, mask: Var) -> Var:
    """MissingIndicator's output from the missing-value mask: the columns of ``features_``."""
    features = np.asarray(indicator.features_)
    if features.size == indicator._n_features:
        return mask
    return columns(graph, mask, features.tolist())


@converter(SimpleImputer, tables=True)
def convert_simple_imputer(
    graph: GraphBuilder, estimator: SimpleImputer, x: Var | Table, context: ConversionContext
) -> dict[str, Var | Table]:
    """Missing values replaced by ``statistics_`` (mean, median, most frequent or constant, whatever the
    strategy: the graph only needs the fitted values). Columns whose statistic is NaN (never observed) are
    dropped unless ``keep_empty_features``; ``add_indicator`` appends MissingIndicator's columns. String
    columns (most frequent or constant): see the module docstring."""
    if isinstance(x, Table):
        return {"transform": _impute_table(graph, estimator, x)}
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


@converter(MissingIndicator, tables=True)
def convert_missing_indicator(
    graph: GraphBuilder, estimator: MissingIndicator, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The boolean missing-value mask of the ``features_`` columns (all columns with ``features="all"``), of
    numeric or string columns. ``error_on_new=True`` raises in sklearn when a column without missing values in
    fit has some now; the graph cannot raise and leaves such columns out, as sklearn does when it does not
    raise."""
    if isinstance(x, Table):
        return {"transform": _indicator_table(graph, estimator, _table_masks(graph, estimator, x)[0])}
    return {"transform": indicator_columns(graph, estimator, missing_mask(graph, estimator, x))}
