"""``sklearn.impute``: SimpleImputer (every strategy), MissingIndicator and KNNImputer.

A value is missing where it is NaN (``missing_values=np.nan``) or equals the numeric marker (sklearn's
``_get_mask``). Imputation is a Where on that mask with the fitted ``statistics_`` stored in the input's dtype,
as sklearn stores them into the input array.

String columns (a :class:`~sk2tensor.graph.Table`): a value is missing where the string input equals the string
that stands for ``missing_values`` (:data:`~sk2tensor.metadata.MISSING_NAN` for NaN, ``MISSING_NONE`` for
``None``, or the marker string itself), which is sklearn's mask on object columns (``X != X`` for NaN, so a
``None`` is not NaN's missing value); the fill is a Where with the fitted string statistic, and the column stays a
string column for the encoder after it.

KNNImputer: see :func:`convert_knn_imputer`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer

from sk2tensor.converters._numeric import columns, constant_like, exactly_representable
from sk2tensor.converters._pairwise import as_f64, bound_run_memory, check_stored, f64, sklearn_squared_euclidean
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
    # numpy compares ``X == marker`` in their result type: a Python number takes X's dtype (float32 rows
    # equal 0.1 where they hold float32(0.1)), a float64 scalar compares float32 rows in float64.
    compared = np.result_type(x.dtype, marker)
    value = np.asarray(marker, dtype=compared)
    if compared != x.dtype and not exactly_representable(np.asarray([value], dtype=np.float64), x.dtype)[0]:
        # No input of this dtype equals the marker: nothing is ever missing.
        return graph.logical_and(graph.is_nan(x), graph.const(np.array(False), "false"))
    return graph.equal(x, graph.const(value.astype(x.dtype), "missing_value", dtype=x.dtype))


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


def _nan_euclidean(graph: GraphBuilder, x: Var, mask: Var, fit: np.ndarray, fit_mask: np.ndarray) -> tuple[Var, Var]:
    """``nan_euclidean_distances(x, fit)`` in float64 as sklearn computes it, and where it is NaN (no feature
    present in both rows): ``([batch, n_fit] distances, [batch, n_fit] bool)``.

    Missing entries are set to 0; ``euclidean_distances`` of those rows; minus the squares of the row's
    features missing in the stored row and of the stored row's features missing in the row; clipped at 0;
    divided by the count of features present in both (at least 1) and multiplied by the feature count; the
    square root."""
    n_features = fit.shape[1]
    zero = f64(graph, 0.0, "zero")
    xz = graph.where(mask, zero, as_f64(graph, x))
    fit_zeroed = np.where(fit_mask, 0.0, fit)
    missing_fit_t = f64(graph, fit_mask.T.astype(np.float64), "fit_missing_t")
    d = sklearn_squared_euclidean(graph, xz, fit_zeroed)
    d = graph.sub(d, graph.matmul(graph.mul(xz, xz), missing_fit_t))
    missing = graph.cast(mask, np.float64)
    d = graph.sub(d, graph.matmul(missing, f64(graph, (fit_zeroed * fit_zeroed).T, "fit_squares_t")))
    d = graph.max(d, zero)
    # Features present in both: |present x| - present x . missing fit (exact small integers in float64).
    present = graph.sub(f64(graph, 1.0, "one"), missing)
    count = graph.sub(
        graph.reduce_sum(present, [1], keepdims=True),
        graph.matmul(present, missing_fit_t),
    )
    none_shared = graph.equal(count, zero)
    d = graph.div(d, graph.max(count, f64(graph, 1.0, "one")))
    d = graph.mul(d, f64(graph, float(n_features), "n_features"))
    return graph.sqrt(d), none_shared


@converter(KNNImputer)
def convert_knn_imputer(
    graph: GraphBuilder, estimator: KNNImputer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """sklearn's ``KNNImputer.transform``: each missing entry of a column observed in fit is the average of that
    column over the ``n_neighbors`` stored rows (``_fit_X``) nearest by ``nan_euclidean`` distance among those
    where the column is present (fewer when fewer have it), uniformly or ``1 / distance`` weighted
    (``weights="distance"``: when a selected donor is at distance 0, the donors at distance 0 weigh 1 and the
    others 0, as sklearn's ``_get_weights``). Donors with no feature in common with the row (a NaN distance)
    weigh 0; a row with no such donor at all gets the column's fitted mean. Columns missing in every fitted row
    are dropped, or with ``keep_empty_features`` set to 0; ``add_indicator`` appends MissingIndicator's
    columns. Imputed values are computed in float64 and stored in the input's dtype, as sklearn stores them.

    The donors of each column are the ``k`` smallest distances of a TopK over the stored rows that have the
    column (one TopK per distinct pattern of missing values in fit), which on equal distances keeps the lowest
    training index; sklearn's ``np.argpartition`` keeps tied donors in an order of its own (it depends on
    numpy's selection algorithm and the CPU), so when the ``k``-th and ``(k+1)``-th nearest donors are at the
    same distance and hold different values the imputed value can differ. Distances of continuous data are
    practically never tied; duplicated training rows tie but hold the same values. The distances follow
    sklearn's arithmetic step by step (numpy's einsum order for the row norms), but a MatMul may round a
    product sum differently from sklearn's BLAS (about 1e-16 of the operands' squares): distances that differ
    by less than that can rank their donors the other way (near ties, as for the neighbour models). The
    average of the selected donors is summed in another order than numpy's (within an ulp or so).

    Memory: the ``[batch, patterns, n_fit]`` donor search bounds the rows of one run (metadata
    ``max_chunk_rows``, :func:`~sk2tensor.converters._pairwise.bound_run_memory`) and stored sets above
    ``_pairwise.MAX_STORED_VALUES`` values are refused, as for the neighbour models. ``metric`` and ``weights``
    callables are refused, and a model fitted on float32 data in a float32 graph (sklearn then computes its
    distances in float32; convert with ``dtype="float64"`` or fit on float64 data).
    """
    if callable(estimator.metric) or estimator.metric != "nan_euclidean":
        metric = getattr(estimator.metric, "__name__", estimator.metric)
        raise unsupported(estimator, "metric", metric, "'nan_euclidean' (a callable metric has no graph form)")
    if estimator.weights not in ("uniform", "distance"):
        raise unsupported(
            estimator, "weights", getattr(estimator.weights, "__name__", estimator.weights), "'uniform' or 'distance'"
        )
    fit = np.asarray(estimator._fit_X)
    if fit.dtype == np.float32 and x.dtype == np.float32:
        raise unsupported(
            estimator,
            "_fit_X.dtype",
            "float32",
            "a model fitted on float64 data, or a float64 graph (convert(..., dtype='float64')): on float32 rows "
            "a model fitted on float32 data computes its distances in float32, which the graph does not reproduce",
        )
    fit = fit.astype(np.float64)
    fit_mask = np.asarray(estimator._mask_fit_X, dtype=bool)
    valid = np.asarray(estimator._valid_mask, dtype=bool)
    n_fit, n_features = fit.shape
    check_stored(estimator, fit)
    mask = missing_mask(graph, estimator, x)
    kept = np.flatnonzero(valid)
    outputs: list[Var] = []
    if kept.size:
        # One donor search per distinct set of donors (the stored rows where a column is present).
        patterns, group = np.unique(~fit_mask[:, kept].T, axis=0, return_inverse=True)
        group = np.asarray(group).reshape(-1)
        k = min(int(estimator.n_neighbors), n_fit)
        bound_run_memory(context, 8 * n_fit * (10 + 3 * len(patterns)) + 8 * 6 * k * kept.size)
        # nan_euclidean_distances finds the missing values again on its float64 copies of both sides: a marker
        # that float32 rows hold as float32(marker) is then not missing there (nor in float32 stored rows).
        marker = estimator.missing_values
        distance_fit_mask = np.isnan(fit) if np.isnan(float(marker)) else fit == np.float64(marker)
        distance_mask = mask if x.dtype == np.float64 else missing_mask(graph, estimator, as_f64(graph, x))
        distances, none_shared = _nan_euclidean(graph, x, distance_mask, fit, distance_fit_mask)
        inf = f64(graph, np.inf, "inf")
        excluded = graph.logical_or(
            graph.unsqueeze(none_shared, [1]),
            graph.logical_not(graph.const(patterns[None, :, :], "donor_sets", dtype=np.bool_)),
        )  # [batch, patterns, n_fit]
        keys = graph.where(excluded, inf, graph.unsqueeze(distances, [1]))
        nearest, donors = graph.topk(keys, k, axis=2, largest=False)  # [batch, patterns, k]
        by_column = graph.int64s(group.tolist(), "column_pattern")
        nearest = graph.gather(nearest, by_column, axis=1)  # [batch, kept, k]
        donors = graph.gather(donors, by_column, axis=1)
        # The donors' values: a Gather on the flattened stored rows at donor * n_features + column.
        flat = graph.add(
            graph.mul(donors, graph.const(np.int64(n_features), "n_features_i", dtype=np.int64)),
            graph.const(kept.reshape(1, -1, 1).astype(np.int64), "kept_columns", dtype=np.int64),
        )
        values = graph.gather(f64(graph, np.where(fit_mask, 0.0, fit).reshape(-1), "fit_values"), flat)
        usable = graph.less(nearest, inf)
        if estimator.weights == "uniform":
            weights = graph.cast(usable, np.float64)
        else:
            inverse = graph.div(f64(graph, 1.0, "one"), nearest)  # 1 / inf = 0 for the excluded donors
            at_zero = graph.cast(graph.equal(nearest, f64(graph, 0.0, "zero")), np.float64)
            any_zero = graph.greater(graph.reduce_max(at_zero, [2], keepdims=True), f64(graph, 0.0, "zero"))
            weights = graph.where(any_zero, at_zero, inverse)
        average = graph.div(
            graph.reduce_sum(graph.mul(values, weights), [2]), graph.reduce_sum(weights, [2])
        )  # [batch, kept]
        means = np.array(
            [np.ma.array(estimator._fit_X[:, c], mask=fit_mask[:, c]).mean() for c in kept], dtype=np.float64
        )
        has_donor = graph.reduce_max(graph.cast(usable, np.float64), [2])
        imputed = graph.where(graph.greater(has_donor, f64(graph, 0.0, "zero")), average, f64(graph, means, "means"))
        # sklearn writes the float64 value into the input's array.
        imputed = graph.cast(imputed, x.dtype)
        kept_x = x if kept.size == n_features else columns(graph, x, kept.tolist())
        kept_mask = mask if kept.size == n_features else columns(graph, mask, kept.tolist())
        outputs.append(graph.where(kept_mask, imputed, kept_x))
    if estimator.keep_empty_features and kept.size < n_features:
        # Columns never observed in fit are 0; gather every column from [imputed kept columns, a zero column].
        zero = constant_like(graph, columns(graph, x, [0]), 0.0, x.dtype)
        source = graph.concat([*outputs, zero], axis=1)
        position = {c: i for i, c in enumerate(kept)}
        order = [position.get(c, kept.size) for c in range(n_features)]
        outputs = [graph.gather(source, graph.int64s(order, "columns"), axis=1)]
    if estimator.add_indicator:
        outputs.append(graph.cast(indicator_columns(graph, estimator.indicator_, mask), x.dtype))
    if not outputs:
        raise unsupported(
            estimator, "_valid_mask", "all False", "a model with a column observed in fit, or keep_empty_features"
        )
    return {"transform": outputs[0] if len(outputs) == 1 else graph.concat(outputs, axis=1)}
