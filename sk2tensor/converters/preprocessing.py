"""``sklearn.preprocessing``: scalers, normalisers, polynomial and spline features, discretisers, quantile and
power transforms, categorical encoders and ``FunctionTransformer``.

Each converter follows the transform in sklearn's source. Where sklearn computes a float32 input against
float64 attributes it computes in float64 and stores in float32 after each in-place step; the graph does the
same (:func:`~sk2tensor.converters._numeric.stored`), so float32 exports match sklearn to the last bit or
close to it rather than to float32 round-off of the attributes. See :mod:`sk2tensor.converters._numeric`.

The categorical encoders (OneHotEncoder, OrdinalEncoder, TargetEncoder) also take string columns (a
:class:`~sk2tensor.graph.Table`): each string column is compared with its fitted categories in one ``Equal``
against a constant ``[1, n_categories]`` string row, which gives the same integer codes as numeric columns get
from :func:`~sk2tensor.converters._numeric.category_codes`; the rest of each encoder does not know the
difference. ``None`` and NaN categories are the strings of :data:`sk2tensor.metadata.MISSING_NONE` and
:data:`~sk2tensor.metadata.MISSING_NAN`, which is what the model is fed for those values.

Things a graph cannot do are documented per converter: it cannot raise, so values sklearn refuses at
transform time (unknown categories with ``handle_unknown="error"``, out-of-range values with
``extrapolation="error"``) come out as documented there instead of as an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    KernelCenterer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)

from sk2tensor.converters._numeric import (
    F64,
    as_f64,
    category_codes,
    columns,
    constant_like,
    count_at_most,
    expm1,
    interp,
    log1p,
    lookup,
    ndtri,
    ones_column,
    stored,
    threshold,
)
from sk2tensor.converters._tracing import TracingError, trace
from sk2tensor.graph import STRING, GraphBuilder, SparseRows, Table, Var
from sk2tensor.metadata import MISSING_NAN, MISSING_NONE, string_value
from sk2tensor.registry import ConversionContext, converter, unsupported

#: Inverse transforms (for TransformedTargetRegressor): class -> ``(graph, transformer, y) -> Var``.
INVERSE_TRANSFORMS: dict[type, Callable[[GraphBuilder, Any, Var], Var]] = {}


def inverse_transform(*classes: type) -> Callable:
    def register(function: Callable) -> Callable:
        for cls in classes:
            INVERSE_TRANSFORMS[cls] = function
        return function

    return register


def _inplace(graph: GraphBuilder, x: Var, steps: list[tuple[str, np.ndarray]]) -> Var:
    """numpy's ``X op= attribute`` steps on an array of the graph's dtype with float64 attributes: each step
    computed in float64 and stored in the graph's dtype, as numpy does for in-place ufuncs."""
    value = as_f64(graph, x)
    ops = {"add": graph.add, "sub": graph.sub, "mul": graph.mul, "div": graph.div}
    for op, constant in steps:
        value = stored(graph, ops[op](value, graph.const(np.asarray(constant, dtype=np.float64), op, dtype=F64)))
    return graph.cast(value, graph.dtype)


def _clip(graph: GraphBuilder, x: Var, low: float, high: float) -> Var:
    """``np.clip(x, low, high)`` with both bounds in ``x``'s dtype; NaN stays NaN."""
    lo = graph.const(np.asarray(low, dtype=x.dtype), "low", dtype=x.dtype)
    hi = graph.const(np.asarray(high, dtype=x.dtype), "high", dtype=x.dtype)
    return graph.where(graph.less(x, lo), lo, graph.where(graph.greater(x, hi), hi, x))


# --------------------------------------------------------------------------- sparse rows
def sparse_column_scale(graph: GraphBuilder, x: SparseRows, factors: np.ndarray) -> SparseRows:
    """sklearn's ``inplace_column_scale`` on a CSR matrix: each stored value times its column's factor, in
    float64, stored in the graph's dtype."""
    table = graph.const(np.asarray(factors, dtype=np.float64), "column_factors", dtype=F64)
    scaled = graph.mul(as_f64(graph, x.values), graph.take(table, x.columns))
    return x.with_values(graph.cast(scaled, graph.dtype))


def sparse_normalize(graph: GraphBuilder, x: SparseRows, norm: str) -> SparseRows:
    """sklearn's ``normalize`` of CSR rows by their l1 or l2 norm (``inplace_csr_row_normalize_l1/l2``): the
    norm summed in float64 over the row's stored values in order (each square in the values' dtype), each
    value divided by it in float64 and stored in the graph's dtype; rows whose sum is zero are left as they
    are."""
    values = as_f64(graph, x.values)
    terms = graph.abs(values) if norm == "l1" else stored(graph, graph.mul(values, values))
    sums = graph.sparse_row_sums(x, terms)
    zero = graph.const(0.0, "zero", dtype=F64)
    if norm == "l2":
        sums = graph.sqrt(sums)
    norms = graph.where(graph.equal(sums, zero), graph.const(1.0, "one", dtype=F64), sums)
    return x.with_values(graph.cast(graph.div(values, graph.take(norms, x.rows)), graph.dtype))


# --------------------------------------------------------------------------- scalers
@converter(StandardScaler, sparse=True)
def convert_standard_scaler(
    graph: GraphBuilder, estimator: StandardScaler, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var | SparseRows]:
    """``(x - mean_) / scale_``, each part only where the scaler was fitted with it (sklearn casts both
    attributes to the input's dtype first, so the graph computes in its own dtype). Sparse rows, which sklearn
    scales without centring: each stored value times ``1 / scale_``."""
    if isinstance(x, SparseRows):
        if estimator.with_mean and estimator.mean_ is not None:
            raise unsupported(estimator, "with_mean", True, "sklearn cannot centre sparse rows: use with_mean=False")
        if estimator.scale_ is None or not estimator.with_std:
            return {"transform": x}
        return {"transform": sparse_column_scale(graph, x, 1 / estimator.scale_)}
    out = x
    if estimator.mean_ is not None and estimator.with_mean:
        out = graph.sub(out, graph.const(estimator.mean_, "mean"))
    if estimator.scale_ is not None and estimator.with_std:
        out = graph.div(out, graph.const(estimator.scale_, "scale"))
    if out is x:
        out = graph.identity(x)
    return {"transform": out}


@inverse_transform(StandardScaler)
def _inverse_standard_scaler(graph: GraphBuilder, estimator: StandardScaler, y: Var) -> Var:
    if estimator.scale_ is not None and estimator.with_std:
        y = graph.mul(y, graph.const(estimator.scale_, "scale", dtype=y.dtype))
    if estimator.mean_ is not None and estimator.with_mean:
        y = graph.add(y, graph.const(estimator.mean_, "mean", dtype=y.dtype))
    return y


@converter(MinMaxScaler)
def convert_min_max_scaler(
    graph: GraphBuilder, estimator: MinMaxScaler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``x * scale_ + min_``, then ``np.clip`` to ``feature_range`` when ``clip=True``."""
    out = _inplace(graph, x, [("mul", estimator.scale_), ("add", estimator.min_)])
    if estimator.clip:
        out = _clip(graph, out, *estimator.feature_range)
    return {"transform": out}


@inverse_transform(MinMaxScaler)
def _inverse_min_max_scaler(graph: GraphBuilder, estimator: MinMaxScaler, y: Var) -> Var:
    y = graph.sub(y, graph.const(estimator.min_, "min", dtype=y.dtype))
    return graph.div(y, graph.const(estimator.scale_, "scale", dtype=y.dtype))


@converter(MaxAbsScaler, sparse=True)
def convert_max_abs_scaler(
    graph: GraphBuilder, estimator: MaxAbsScaler, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var | SparseRows]:
    """``x / scale_``, clipped to [-1, 1] when ``clip=True``; sparse rows: each stored value times
    ``1 / scale_``, as sklearn scales a sparse matrix."""
    if isinstance(x, SparseRows):
        scaled = sparse_column_scale(graph, x, 1.0 / estimator.scale_)
        if getattr(estimator, "clip", False):
            scaled = scaled.with_values(_clip(graph, scaled.values, -1.0, 1.0))
        return {"transform": scaled}
    out = _inplace(graph, x, [("div", estimator.scale_)])
    if getattr(estimator, "clip", False):
        out = _clip(graph, out, -1.0, 1.0)
    return {"transform": out}


@inverse_transform(MaxAbsScaler)
def _inverse_max_abs_scaler(graph: GraphBuilder, estimator: MaxAbsScaler, y: Var) -> Var:
    return graph.mul(y, graph.const(estimator.scale_, "scale", dtype=y.dtype))


@converter(RobustScaler)
def convert_robust_scaler(
    graph: GraphBuilder, estimator: RobustScaler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``(x - center_) / scale_``, each part only where the scaler was fitted with it."""
    steps = []
    if estimator.with_centering:
        steps.append(("sub", estimator.center_))
    if estimator.with_scaling:
        steps.append(("div", estimator.scale_))
    return {"transform": _inplace(graph, x, steps) if steps else graph.identity(x)}


@inverse_transform(RobustScaler)
def _inverse_robust_scaler(graph: GraphBuilder, estimator: RobustScaler, y: Var) -> Var:
    if estimator.with_scaling:
        y = graph.mul(y, graph.const(estimator.scale_, "scale", dtype=y.dtype))
    if estimator.with_centering:
        y = graph.add(y, graph.const(estimator.center_, "center", dtype=y.dtype))
    return y


@converter(Normalizer, sparse=True)
def convert_normalizer(
    graph: GraphBuilder, estimator: Normalizer, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var | SparseRows]:
    """Each row divided by its l1, l2 or max norm; a zero norm divides by one (sklearn's
    ``_handle_zeros_in_scale``). Sparse rows: l1 and l2 over the stored values (:func:`sparse_normalize`); the
    max norm, which sklearn takes over the implicit zeros too, on the dense rows."""
    if isinstance(x, SparseRows):
        if estimator.norm in ("l1", "l2"):
            return {"transform": sparse_normalize(graph, x, estimator.norm)}
        x = context.dense_rows(graph, x)
    if estimator.norm == "l1":
        norms = graph.reduce_sum(graph.abs(x), [1], keepdims=True)
    elif estimator.norm == "l2":
        norms = graph.sqrt(graph.reduce_sum(graph.mul(x, x), [1], keepdims=True))
    elif estimator.norm == "max":
        norms = graph.reduce_max(graph.abs(x), [1], keepdims=True)
    else:
        raise unsupported(estimator, "norm", estimator.norm, "norm must be 'l1', 'l2' or 'max'")
    zero = graph.const(0.0, "zero")
    norms = graph.where(graph.equal(norms, zero), graph.const(1.0, "one"), norms)
    return {"transform": graph.div(x, norms)}


@converter(Binarizer)
def convert_binarizer(graph: GraphBuilder, estimator: Binarizer, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``1`` where ``x > threshold``, else ``0``. A Python-float threshold is compared in the input's dtype,
    a numpy float64 one in float64 (numpy's promotion rules)."""
    value = estimator.threshold
    if type(value) in (float, int, bool) or graph.dtype == F64:
        t = graph.const(np.asarray(value, dtype=graph.dtype), "threshold")
    else:
        t = threshold(graph, np.asarray(value, dtype=np.float64), "at_most")
    one, zero = graph.const(1.0, "one"), graph.const(0.0, "zero")
    return {"transform": graph.where(graph.greater(x, t), one, zero)}


# --------------------------------------------------------------------------- polynomial and spline features
@converter(PolynomialFeatures)
def convert_polynomial_features(
    graph: GraphBuilder, estimator: PolynomialFeatures, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Every output column of ``powers_`` is a product of input columns, built degree by degree as sklearn
    builds it (``term(i, rest) = term(rest) * x_i``, the same multiplications in the same order).

    Each degree is one Gather of the previous degree's terms and one Gather of ``x``, then one Mul."""
    powers = np.asarray(estimator.powers_)
    n_features = powers.shape[1]
    terms = [tuple(int(f) for f in np.repeat(np.arange(n_features), row)) for row in powers]
    needed = {term[start:] for term in terms for start in range(len(term))}
    # levels[d]: (value [batch, width], position of each degree-d term in it)
    levels: dict[int, tuple[Var, dict[tuple[int, ...], int]]] = {}
    for degree in range(1, max((len(t) for t in terms), default=0) + 1):
        if degree == 1:
            levels[1] = (x, {(f,): f for f in range(n_features)})
            continue
        level_terms = sorted(t for t in needed if len(t) == degree)
        previous, previous_index = levels[degree - 1]
        parents = columns(graph, previous, [previous_index[t[1:]] for t in level_terms])
        firsts = columns(graph, x, [t[0] for t in level_terms])
        levels[degree] = (graph.mul(parents, firsts), {t: i for i, t in enumerate(level_terms)})
    parts: list[Var] = []
    offsets: dict[int, int] = {}
    width = 0
    if any(len(t) == 0 for t in terms):
        parts.append(ones_column(graph, x))
        offsets[0], width = 0, 1
    for degree, (value, index) in sorted(levels.items()):
        parts.append(value)
        offsets[degree] = width
        width += len(index)
    stacked = parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)
    order = [offsets[len(t)] + (levels[len(t)][1][t] if t else 0) for t in terms]
    if order == list(range(width)):
        return {"transform": graph.identity(stacked)}
    return {"transform": columns(graph, stacked, order)}


def _spline_basis(graph: GraphBuilder, x: Var, knots: np.ndarray, k: int, coef: np.ndarray) -> Var:
    """scipy's ``BSpline(knots[:, f], coef, k)(x[:, f])`` for every feature at once: float64 ``[batch, F, m]``
    for float64 ``x [batch, F]`` without NaN.

    The interval is scipy's ``_find_interval`` with extrapolation (the first and last intervals extend
    outwards), the ``k + 1`` non-zero bases its ``_deBoor_D`` recursion step for step, and the output its
    ``sum_a c[interval + a - k] * b_a`` in the order of ``a``."""
    n = knots.shape[0] - k - 1
    k_const = graph.const(np.array(k, dtype=np.int64), "k", dtype=np.int64)
    if n - k - 1 > 0:
        interval = graph.add(count_at_most(graph, x, knots[k + 1 : n, :].T), k_const)
    else:
        interval = constant_like(graph, x, k, np.int64)
    knot_table = graph.const(knots, "knots", dtype=F64)

    def knot(offset: int) -> Var:
        index = graph.add(interval, graph.const(np.array(offset, dtype=np.int64), "offset", dtype=np.int64))
        return graph.gather_elements(knot_table, index, axis=0)

    zero = graph.const(0.0, "zero", dtype=F64)
    one = graph.const(1.0, "one", dtype=F64)
    h: list[Var] = [constant_like(graph, x, 1.0, F64)]
    for j in range(1, k + 1):
        previous = h
        h = [zero] * (j + 1)
        for m in range(1, j + 1):
            xb, xa = knot(m), knot(m - j)
            same = graph.equal(xb, xa)
            w = graph.div(previous[m - 1], graph.where(same, one, graph.sub(xb, xa)))
            h[m - 1] = graph.where(same, h[m - 1], graph.add(h[m - 1], graph.mul(w, graph.sub(xb, x))))
            h[m] = graph.where(same, zero, graph.mul(w, graph.sub(x, xa)))
    coef_table = graph.const(coef, "spline_coef", dtype=F64)
    total = None
    for a in range(k + 1):
        basis = graph.add(interval, graph.const(np.array(a - k, dtype=np.int64), "offset", dtype=np.int64))
        rows = graph.gather(coef_table, basis, axis=0)  # [batch, F, m]
        term = graph.mul(rows, graph.unsqueeze(h[a], [2]))
        total = term if total is None else graph.add(total, term)
    return total


def _continue_boundaries(graph: GraphBuilder, estimator: SplineTransformer, x: Var, values: Var, mode: str) -> Var:
    """sklearn's ``constant`` and ``linear`` extrapolation: bases inside ``[xmin, xmax]``, the boundary bases
    continued (as constants, or linearly with the boundary slope) outside, every other basis zero there.

    sklearn 1.9 increments its loop variable ``degree`` for ``degree <= 1`` with ``linear`` extrapolation, and
    later features then use ``t[degree]`` and ``t[-degree - 1]`` for ``xmin`` and ``xmax``: the graph follows
    that per feature (and the order in which sklearn's writes overlap when ``xmin > xmax``), so that it keeps
    agreeing with the fitted transformer."""
    splines = estimator.bsplines_
    n_features = len(splines)
    n_splines = np.asarray(splines[0].c).shape[1]
    degree = int(estimator.degree)
    xmin, xmax = np.empty(n_features), np.empty(n_features)
    low_values, high_values = np.zeros((n_features, n_splines)), np.zeros((n_features, n_splines))
    low_slope, high_slope = np.zeros((n_features, n_splines)), np.zeros((n_features, n_splines))
    low_cols, high_cols = np.zeros((n_features, n_splines), bool), np.zeros((n_features, n_splines), bool)
    above_wins = np.ones((n_features, n_splines), bool)
    for f, spl in enumerate(splines):
        xmin[f], xmax[f] = spl.t[degree], spl.t[-degree - 1]
        f_min, f_max = spl(xmin[f]), spl(xmax[f])
        if mode == "constant":
            low_cols[f, :degree] = True
            low_values[f, :degree] = f_min[:degree]
            if degree:
                high_cols[f, -degree:] = True
                high_values[f, -degree:] = f_max[-degree:]
            continue
        fp_min, fp_max = spl(xmin[f], nu=1), spl(xmax[f], nu=1)
        if degree <= 1:
            degree += 1
        for j in range(degree):
            c = n_splines - 1 - j
            low_cols[f, j], low_values[f, j], low_slope[f, j] = True, f_min[j], fp_min[j]
            high_cols[f, c], high_values[f, c], high_slope[f, c] = True, f_max[c], fp_max[c]
        # Column c is written below at step j = c and above at step j = n_splines - 1 - c: the later wins.
        above_wins[f] = (n_splines - 1 - np.arange(n_splines)) >= np.arange(n_splines)
    zero = graph.const(0.0, "zero", dtype=F64)
    xmin_c = graph.const(xmin, "xmin", dtype=F64)
    xmax_c = graph.const(xmax, "xmax", dtype=F64)
    below = graph.unsqueeze(graph.less(x, xmin_c), [2])
    above = graph.unsqueeze(graph.greater(x, xmax_c), [2])
    low: Var = graph.const(low_values[None], "below_values", dtype=F64)
    high: Var = graph.const(high_values[None], "above_values", dtype=F64)
    if mode == "linear":
        x3 = graph.unsqueeze(x, [2])
        low = graph.add(
            low,
            graph.mul(
                graph.sub(x3, graph.const(xmin[None, :, None], "xmin", dtype=F64)),
                graph.const(low_slope[None], "below_slope", dtype=F64),
            ),
        )
        high = graph.add(
            high,
            graph.mul(
                graph.sub(x3, graph.const(xmax[None, :, None], "xmax", dtype=F64)),
                graph.const(high_slope[None], "above_slope", dtype=F64),
            ),
        )
    outside = graph.logical_or(below, above)
    result = graph.where(outside, zero, values)
    low_here = graph.logical_and(below, graph.const(low_cols[None], "below_columns"))
    high_here = graph.logical_and(above, graph.const(high_cols[None], "above_columns"))
    result = graph.where(low_here, low, result)
    result = graph.where(high_here, high, result)
    if not above_wins[low_cols & high_cols].all():
        below_last = graph.logical_and(low_here, graph.const(~above_wins[None], "below_wins"))
        result = graph.where(below_last, low, result)
    return result


@converter(SplineTransformer)
def convert_spline_transformer(
    graph: GraphBuilder, estimator: SplineTransformer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """B-spline bases per feature, evaluated as scipy evaluates them (in float64), with sklearn's
    extrapolation modes: ``continue`` and ``periodic`` (scipy's own), ``constant`` and ``linear`` (sklearn's
    continuation of the boundary bases). Missing values give zeros, as with ``handle_missing="zeros"``.
    ``extrapolation="error"``: sklearn raises on values beyond the knots; the graph gives NaN for them."""
    splines = estimator.bsplines_
    k = int(estimator.degree)
    knots = np.stack([np.asarray(s.t, dtype=np.float64) for s in splines], axis=1)  # [n_total, F]
    coef = np.asarray(splines[0].c, dtype=np.float64)
    n_total, n_features = knots.shape
    n = n_total - k - 1
    n_splines = coef.shape[1]
    mode = estimator.extrapolation
    x64 = as_f64(graph, x)
    nan = graph.is_nan(x64)
    zero = graph.const(0.0, "zero", dtype=F64)
    t_k, t_n = knots[k], knots[n]
    if mode == "periodic":
        period = t_n - t_k
        safe_period = np.where(period > 0, period, 1.0)
        shifted = graph.sub(x64, graph.const(t_k, "t_k", dtype=F64))
        remainder = graph.mod(shifted, graph.const(safe_period, "period", dtype=F64))
        # numpy's % has the sign of the divisor: add the period to negative C remainders.
        remainder = graph.where(
            graph.less(remainder, zero), graph.add(remainder, graph.const(safe_period, "period", dtype=F64)), remainder
        )
        evaluate_at = graph.add(graph.const(t_k, "t_k", dtype=F64), remainder)
        evaluate_at = graph.where(graph.const(period > 0, "has_period"), evaluate_at, graph.mul(x64, zero))
    else:
        evaluate_at = x64
    safe = graph.where(graph.is_nan(evaluate_at), graph.const(t_k, "t_k", dtype=F64), evaluate_at)
    values = _spline_basis(graph, safe, knots, k, coef)  # [batch, F, n_splines]
    if mode in ("constant", "linear"):
        values = _continue_boundaries(graph, estimator, x64, values, mode)
    elif mode == "error":
        below = graph.less(x64, graph.const(t_k, "t_k", dtype=F64))
        above = graph.greater(x64, graph.const(t_n, "t_n", dtype=F64))
        outside = graph.logical_or(below, above)
        values = graph.where(graph.unsqueeze(outside, [2]), graph.const(np.nan, "nan", dtype=F64), values)
    elif mode not in ("continue", "periodic"):
        raise unsupported(
            estimator, "extrapolation", mode, "one of 'error', 'constant', 'linear', 'continue', 'periodic'"
        )
    values = graph.where(graph.unsqueeze(nan, [2]), zero, values)
    values = graph.cast(values, graph.dtype)
    flat = graph.reshape(values, [0, n_features * n_splines])
    if not estimator.include_bias:
        keep = [j for j in range(n_features * n_splines) if (j + 1) % n_splines != 0]
        flat = columns(graph, flat, keep)
    return {"transform": flat}


# --------------------------------------------------------------------------- discretisation, quantiles, powers
@converter(KBinsDiscretizer)
def convert_kbins_discretizer(
    graph: GraphBuilder, estimator: KBinsDiscretizer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The bin index ``np.searchsorted(bin_edges_[f][1:-1], x, side="right")`` (the count of inner edges
    ``<= x``), as a float ordinal or one-hot encoded (``"onehot"`` is sklearn's sparse matrix; the graph
    gives the same values dense)."""
    edges = [np.asarray(e, dtype=np.float64)[1:-1] for e in estimator.bin_edges_]
    width = max((len(e) for e in edges), default=0)
    if width == 0:
        counts = constant_like(graph, x, 0, np.int64)
    else:
        table = np.full((len(edges), width), np.inf)
        for f, e in enumerate(edges):
            table[f, : len(e)] = e
        counts = count_at_most(graph, x, table)
    if estimator.encode == "ordinal":
        return {"transform": graph.cast(counts, graph.dtype)}
    n_bins = [int(b) for b in estimator.n_bins_]
    feature = [f for f, b in enumerate(n_bins) for _ in range(b)]
    bins = np.concatenate([np.arange(b) for b in n_bins]).astype(np.int64)
    hot = graph.equal(columns(graph, counts, feature), graph.const(bins[None, :], "bins", dtype=np.int64))
    return {"transform": graph.cast(hot, graph.dtype)}


@converter(QuantileTransformer)
def convert_quantile_transformer(
    graph: GraphBuilder, estimator: QuantileTransformer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """sklearn's ``_transform_col``: the mean of ``np.interp`` forwards and backwards through ``quantiles_``
    (float64, numpy's formula), stored in the input's dtype, the bounds set to 0 and 1, then for
    ``output_distribution="normal"`` the normal quantile (AS241, float64) clipped as sklearn clips it.
    NaN stays NaN."""
    quantiles = np.asarray(estimator.quantiles_, dtype=np.float64)  # [n_quantiles, F]
    references = np.asarray(estimator.references_, dtype=np.float64)
    n_features = quantiles.shape[1]
    refs = np.broadcast_to(references, (n_features, len(references)))
    x64 = as_f64(graph, x)
    forward = interp(graph, x64, quantiles.T, refs)
    backward = interp(graph, graph.neg(x64), -quantiles[::-1].T, -refs[:, ::-1])
    value = stored(graph, graph.mul(graph.const(0.5, "half", dtype=F64), graph.sub(forward, backward)))
    low_x, high_x = quantiles[0], quantiles[-1]
    if estimator.output_distribution == "normal":
        eps = graph.const(1e-7, "bounds_threshold")
        lower = graph.less(as_f64(graph, graph.sub(x, eps)), graph.const(low_x, "lower_bound", dtype=F64))
        upper = graph.greater(as_f64(graph, graph.add(x, eps)), graph.const(high_x, "upper_bound", dtype=F64))
    else:
        lower = graph.equal(x64, graph.const(low_x, "lower_bound", dtype=F64))
        upper = graph.equal(x64, graph.const(high_x, "upper_bound", dtype=F64))
    value = graph.where(upper, graph.const(1.0, "one", dtype=F64), value)
    value = graph.where(lower, graph.const(0.0, "zero", dtype=F64), value)
    if estimator.output_distribution == "normal":
        clip_min = float(stats.norm.ppf(1e-7 - np.spacing(1)))
        clip_max = float(stats.norm.ppf(1 - (1e-7 - np.spacing(1))))
        value = _clip(graph, ndtri(graph, value), clip_min, clip_max)
    return {"transform": graph.cast(value, graph.dtype)}


def _box_cox(graph: GraphBuilder, x: Var, lambdas: np.ndarray) -> Var:
    """scipy.special.boxcox per column: ``log(x)`` where ``|lmbda| < 1e-19``, else ``expm1(lmbda * log(x)) /
    lmbda`` (float64)."""
    log_x = graph.log(x)
    safe = np.where(np.abs(lambdas) < 1e-19, 1.0, lambdas)
    lam = graph.const(safe, "lambda", dtype=F64)
    power = graph.div(expm1(graph, graph.mul(lam, log_x)), lam)
    return graph.where(graph.const(np.abs(lambdas) < 1e-19, "lambda_zero"), log_x, power)


def _yeo_johnson(graph: GraphBuilder, x: Var, lambdas: np.ndarray) -> Var:
    """scipy.stats.yeojohnson per column: ``log1p`` in the graph's dtype (scipy takes it of the float32 input
    itself), the rest in float64; NaN gives NaN."""
    eps = np.finfo(np.float64).eps
    zero = graph.const(0.0, "zero", dtype=F64)
    positive = graph.greater_equal(x, zero)
    lam = np.where(np.abs(lambdas) < eps, 1.0, lambdas)
    lam_v = graph.const(lam, "lambda", dtype=F64)
    log_pos = as_f64(graph, log1p(graph, graph.cast(graph.where(positive, x, zero), graph.dtype)))
    pos = graph.where(
        graph.const(np.abs(lambdas) < eps, "lambda_zero"),
        log_pos,
        graph.div(expm1(graph, graph.mul(lam_v, log_pos)), lam_v),
    )
    two_minus = np.where(np.abs(lambdas - 2) > eps, 2 - lambdas, 1.0)
    tm = graph.const(two_minus, "two_minus_lambda", dtype=F64)
    log_neg = as_f64(graph, log1p(graph, graph.cast(graph.neg(graph.where(positive, zero, x)), graph.dtype)))
    neg = graph.where(
        graph.const(np.abs(lambdas - 2) > eps, "lambda_not_two"),
        graph.neg(graph.div(expm1(graph, graph.mul(tm, log_neg)), tm)),
        graph.neg(log_neg),
    )
    return graph.where(positive, pos, neg)


@converter(PowerTransformer)
def convert_power_transformer(
    graph: GraphBuilder, estimator: PowerTransformer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Yeo-Johnson or Box-Cox per column in float64 (scipy's formulas, with accurate ``expm1``/``log1p``),
    stored in the input's dtype, then standardised as sklearn's inner StandardScaler does."""
    lambdas = np.asarray(estimator.lambdas_, dtype=np.float64)
    x64 = as_f64(graph, x)
    if estimator.method == "box-cox":
        value = _box_cox(graph, x64, lambdas)
    elif estimator.method == "yeo-johnson":
        value = _yeo_johnson(graph, x64, lambdas)
    else:
        raise unsupported(estimator, "method", estimator.method, "method must be 'yeo-johnson' or 'box-cox'")
    out = graph.cast(value, graph.dtype)
    if estimator.standardize:
        out = convert_standard_scaler(graph, estimator._scaler, out, context)["transform"]
    return {"transform": out}


@inverse_transform(PowerTransformer)
def _inverse_power_transformer(graph: GraphBuilder, estimator: PowerTransformer, y: Var) -> Var:
    y = as_f64(graph, y)
    if estimator.standardize:
        y = _inverse_standard_scaler(graph, estimator._scaler, y)
    lambdas = np.asarray(estimator.lambdas_, dtype=np.float64)
    one = graph.const(1.0, "one", dtype=F64)
    zero = graph.const(0.0, "zero", dtype=F64)
    if estimator.method == "box-cox":
        # scipy.special.inv_boxcox: exp(y) for lmbda == 0, else exp(log1p(lmbda * y) / lmbda).
        lam = graph.const(np.where(lambdas == 0, 1.0, lambdas), "lambda", dtype=F64)
        general = graph.exp(graph.div(log1p(graph, graph.mul(lam, y)), lam))
        return graph.where(graph.const(lambdas == 0, "lambda_zero"), graph.exp(y), general)
    eps = np.finfo(np.float64).eps
    positive = graph.greater_equal(y, zero)
    lam = graph.const(np.where(np.abs(lambdas) < eps, 1.0, lambdas), "lambda", dtype=F64)
    pos = graph.where(
        graph.const(np.abs(lambdas) < eps, "lambda_zero"),
        graph.sub(graph.exp(y), one),
        graph.sub(graph.pow(graph.add(graph.mul(y, lam), one), graph.div(one, lam)), one),
    )
    tm = graph.const(np.where(np.abs(lambdas - 2) > eps, 2 - lambdas, 1.0), "two_minus_lambda", dtype=F64)
    neg = graph.where(
        graph.const(np.abs(lambdas - 2) > eps, "lambda_not_two"),
        graph.sub(one, graph.pow(graph.add(graph.mul(graph.neg(tm), y), one), graph.div(one, tm))),
        graph.sub(one, graph.exp(graph.neg(y))),
    )
    return graph.where(positive, pos, neg)


# --------------------------------------------------------------------------- categorical encoders
def _encoder_codes(estimator: Any, ignore: dict[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Run sklearn's own infrequent-category mapping on every (feature, category) and on an unknown value.

    Returns ``X_int`` and ``X_mask`` of shape ``[max_categories + 1, F]``: row ``r < n_f`` is category ``r`` of
    feature ``f`` (rows past ``n_f`` repeat its last category), the last row an unknown value."""
    sizes = [len(c) for c in estimator.categories_]
    rows = max(sizes) + 1
    x_int = np.zeros((rows, len(sizes)), dtype=int)
    x_mask = np.ones((rows, len(sizes)), dtype=bool)
    for f, n in enumerate(sizes):
        x_int[: rows - 1, f] = np.minimum(np.arange(rows - 1), n - 1)
        x_int[rows - 1, f] = 0
        x_mask[rows - 1, f] = False
    estimator._map_infrequent_categories(x_int, x_mask, ignore)
    return x_int, x_mask


def _code_table(x_int: np.ndarray, x_mask: np.ndarray, f: int, n: int) -> list[tuple[int, bool]]:
    """(code, valid) for the categories ``0..n-1`` of feature ``f`` and then for an unknown value."""
    rows = [*range(n), x_int.shape[0] - 1]
    return [(int(x_int[r, f]), bool(x_mask[r, f])) for r in rows]


def string_categories(estimator: Any, attribute: str, categories: Any) -> np.ndarray:
    """A string column's fitted categories as the strings its input holds (None and NaN as the missing-value
    strings); refused when one is not a string, or is one of those reserved strings itself."""
    values = [string_value(c) for c in np.asarray(categories, dtype=object).reshape(-1)]
    plain = [c for c in np.asarray(categories, dtype=object).reshape(-1) if isinstance(c, str)]
    if any(v is None for v in values) or any(c in (MISSING_NAN, MISSING_NONE) for c in plain):
        raise unsupported(
            estimator,
            attribute,
            list(categories)[:10],
            f"a string column's categories must be strings, None or NaN (and neither {MISSING_NAN!r} nor "
            f"{MISSING_NONE!r}, which stand for the missing values)",
        )
    return np.asarray(values, dtype=object)


def string_codes(graph: GraphBuilder, x: Var, categories: np.ndarray) -> Var:
    """For a string column ``x [batch, 1]``, the index of the category of ``categories`` (strings) it equals,
    or ``len(categories)`` when none: int64 ``[batch, 1]``.

    The batch's distinct strings (ONNX Unique) are compared with the categories (one Equal against a ``[1, n]``
    constant, then the same weighted sum as :func:`~sk2tensor.converters._numeric.category_codes`), and each
    row takes its string's code: comparing every row with every category costs batch x n string comparisons
    (100,000 rows of a 64-category column: 73 ms on one thread, against 9 ms this way; 2 categories: 11 against
    6 ms; a few microseconds more on one row)."""
    n = len(categories)
    distinct, inverse = graph.unique(graph.reshape(x, [-1]))
    matches = graph.equal(
        graph.reshape(distinct, [-1, 1]), graph.const(categories.reshape(1, -1), "string_categories", dtype=STRING)
    )
    weights = (np.arange(n, dtype=np.float64) - n).reshape(n, 1)
    offsets = graph.matmul(graph.cast(matches, graph.dtype), graph.const(weights, "category_weights"))
    codes = graph.cast(graph.add(offsets, graph.const(float(n), "category_count")), np.int64)
    return graph.gather(codes, inverse, axis=0)


def _codes(graph: GraphBuilder, estimator: Any, x: Var | Table) -> Var:
    """int64 ``[batch, F]``: per column, the index of its category in ``categories_`` (``n_f`` when unknown);
    numeric columns through ``category_codes``, string columns through :func:`string_codes`."""
    categories = estimator.categories_
    if isinstance(x, Var):
        _check_numeric_categories(estimator)
        return category_codes(graph, x, categories)
    numeric = [f for f, column in enumerate(x.columns) if not column.is_string]
    parts: list[Var] = []
    order: list[int] = []
    if numeric:
        numeric_categories = []
        for f in numeric:
            try:  # booleans and numbers held in an object array (an imputer's indicator columns) are numbers
                values = np.asarray(categories[f], dtype=np.float64)
            except (TypeError, ValueError):
                values = None
            if values is None or any(isinstance(c, str) for c in np.asarray(categories[f], dtype=object)):
                raise unsupported(
                    estimator,
                    f"categories_[{f}]",
                    list(categories[f])[:10],
                    f"column {x.columns[f].label or f} is numeric in the data given to convert, but the encoder was "
                    "fitted on strings in it: convert with the DataFrame it was fitted on (pd.read_csv turns digits "
                    "into numbers: read such columns with dtype=str, or use Parquet)",
                )
            numeric_categories.append(values)
        parts.append(category_codes(graph, x.select(numeric).matrix(graph), numeric_categories))
        order.extend(numeric)
    for f, column in enumerate(x.columns):
        if column.is_string:
            strings = string_categories(estimator, f"categories_[{f}]", categories[f])
            parts.append(string_codes(graph, column.var, strings))
            order.append(f)
    codes = parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)
    if order == list(range(len(order))):
        return codes
    return columns(graph, codes, np.argsort(order).tolist())


@converter(OneHotEncoder, tables=True)
def convert_one_hot_encoder(
    graph: GraphBuilder, estimator: OneHotEncoder, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """One column per (kept) category of each feature, with sklearn's infrequent grouping, ``drop`` and
    unknown handling (worked out by running sklearn's own mapping on every category at conversion).

    Numeric and string categories (NaN and None included). An unknown value gives all zeros for its feature
    (``handle_unknown="ignore"``), or the infrequent column (``"infrequent_if_exist"``, ``"warn"``);
    with ``handle_unknown="error"`` sklearn raises and the graph gives zeros. ``sparse_output=True``:
    the graph's output is dense (same values)."""
    x_int, x_mask = _encoder_codes(estimator, None)
    drop = estimator._drop_idx_after_grouping
    outs = estimator._n_features_outs
    tables = []
    hot_feature, hot_code = [], []
    for f, cats in enumerate(estimator.categories_):
        to_drop = None if drop is None else drop[f]
        table = []
        for code, valid in _code_table(x_int, x_mask, f, len(cats)):
            if to_drop is not None:
                if code == to_drop:
                    valid = False
                elif code > to_drop:
                    code -= 1
            table.append(code if valid else -1)
        tables.append(np.asarray(table, dtype=np.int64))
        hot_feature.extend([f] * outs[f])
        hot_code.extend(range(outs[f]))
    codes = _codes(graph, estimator, x)
    final = lookup(graph, codes, tables, np.int64)
    hot = graph.equal(
        columns(graph, final, hot_feature), graph.const(np.asarray(hot_code, dtype=np.int64)[None, :], "codes")
    )
    return {"transform": graph.cast(hot, graph.dtype)}


@converter(OrdinalEncoder, tables=True)
def convert_ordinal_encoder(
    graph: GraphBuilder, estimator: OrdinalEncoder, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The category's index (after infrequent grouping), ``encoded_missing_value`` for NaN and
    ``unknown_value`` for unknown values (``handle_unknown="use_encoded_value"``); numeric or string columns
    (``None`` in a string column is a category of its own, as in sklearn). With ``handle_unknown="error"``
    sklearn raises on an unknown value; the graph gives NaN."""
    missing = dict(estimator._missing_indices)
    x_int, x_mask = _encoder_codes(estimator, missing)
    unknown_value = estimator.unknown_value if estimator.handle_unknown == "use_encoded_value" else np.nan
    tables = []
    for f, cats in enumerate(estimator.categories_):
        table = []
        for code, valid in _code_table(x_int, x_mask, f, len(cats)):
            value = float(code)
            if f in missing and code == missing[f]:
                value = float(estimator.encoded_missing_value)
            if not valid:
                value = float(unknown_value) if unknown_value is not None else np.nan
            table.append(value)
        tables.append(np.asarray(table, dtype=np.float64))
    codes = _codes(graph, estimator, x)
    return {"transform": lookup(graph, codes, tables, graph.dtype)}


def _check_numeric_categories(estimator: Any) -> None:
    for f, cats in enumerate(estimator.categories_):
        if np.asarray(cats).dtype.kind not in "fiub":
            raise unsupported(
                estimator,
                f"categories_[{f}].dtype",
                str(np.asarray(cats).dtype),
                "sk2tensor encodes numeric categories only unless it knows the string columns: convert with "
                "the DataFrame (or object array) the model was fitted on as X, and each string column becomes "
                "a string input",
            )


@converter(TargetEncoder, tables=True)
def convert_target_encoder(
    graph: GraphBuilder, estimator: TargetEncoder, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``transform`` (not ``fit_transform``'s cross fitting): each value's ``encodings_`` entry, the
    ``target_mean_`` for unknown values; one column per class and feature for a multiclass target. Numeric or
    string columns."""
    codes = _codes(graph, estimator, x)
    n_features = len(estimator.categories_)
    encodings = [np.asarray(e, dtype=np.float64) for e in estimator.encodings_]
    means = np.atleast_1d(np.asarray(estimator.target_mean_, dtype=np.float64))
    per_feature = len(encodings) // n_features
    tables, feature = [], []
    for e, encoding in enumerate(encodings):
        f, c = divmod(e, per_feature)
        tables.append(np.append(encoding, means[c if means.size > 1 else 0]))
        feature.append(f)
    gathered = codes if feature == list(range(n_features)) else columns(graph, codes, feature)
    return {"transform": lookup(graph, gathered, tables, graph.dtype)}


# --------------------------------------------------------------------------- FunctionTransformer
def function_graph(
    graph: GraphBuilder, owner: Any, attribute: str, function: Any, x: Var, width: int, kw_args: Any = None
) -> Var:
    """The graph of ``function(x, **kw_args)`` (``None`` is the identity), traced on a symbolic array
    (:mod:`sk2tensor.converters._tracing`): numpy ufuncs, operators, column selections and assignments,
    row-wise reductions and the array functions listed there. What cannot be traced is refused with the reason."""
    if function is None:
        return graph.identity(x)
    names = getattr(owner, "feature_names_in_", None) if attribute == "func" else None
    try:
        value, _ = trace(graph, function, x, width, kw_args=kw_args, feature_names=names)
    except TracingError as error:
        name = getattr(function, "__name__", repr(function))
        raise unsupported(
            owner,
            attribute,
            name,
            f"sk2tensor traces the function on a symbolic array and {error} "
            "(see 'Custom functions' in the README for what traces)",
        ) from None
    return value


@converter(FunctionTransformer, tables=True)
def convert_function_transformer(
    graph: GraphBuilder, estimator: FunctionTransformer, x: Var | Table, context: ConversionContext
) -> dict[str, Var | Table]:
    """``func(x, **kw_args)``, traced (:func:`function_graph`); ``func=None`` is the identity, which passes
    string columns on (a ColumnTransformer's ``"passthrough"`` is one)."""
    if isinstance(x, Table):
        if estimator.func is None:
            return {"transform": x}
        if x.has_strings:
            raise unsupported(
                estimator,
                "func",
                getattr(estimator.func, "__name__", estimator.func),
                "the identity (func=None) on string columns",
            )
        x = x.matrix(graph)
    width = int(getattr(estimator, "n_features_in_", 0)) or _width_of(estimator)
    return {"transform": function_graph(graph, estimator, "func", estimator.func, x, width, estimator.kw_args)}


@inverse_transform(FunctionTransformer)
def _inverse_function_transformer(graph: GraphBuilder, estimator: FunctionTransformer, y: Var) -> Var:
    width = int(getattr(estimator, "n_features_in_", 0)) or _width_of(estimator)
    return function_graph(graph, estimator, "inverse_func", estimator.inverse_func, y, width, estimator.inv_kw_args)


def _width_of(estimator: FunctionTransformer) -> int:
    raise unsupported(
        estimator, "n_features_in_", None, "the function is traced on the fitted input width, which this one lacks"
    )


# --------------------------------------------------------------------------- KernelCenterer
@converter(KernelCenterer)
def convert_kernel_centerer(
    graph: GraphBuilder, estimator: KernelCenterer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``K - K_fit_rows_ - mean(K, axis=1) + K_fit_all_`` for a kernel matrix ``K`` of ``[batch, n_fit]``, in
    sklearn's order: the row means are taken from the input first, then each in-place step is computed in
    float64 and stored in the input's dtype. A float32 row sum is numpy's pairwise float32 sum in sklearn and a
    float64 sum rounded to float32 here: the two can differ by an ulp of the mean."""
    fit_rows = np.asarray(estimator.K_fit_rows_, dtype=np.float64)
    k = as_f64(graph, x)
    total = stored(graph, graph.reduce_sum(k, [1], keepdims=True))
    means = stored(graph, graph.div(total, graph.const(float(len(fit_rows)), "n_fit", dtype=F64)))
    k = stored(graph, graph.sub(k, graph.const(fit_rows.reshape(1, -1), "K_fit_rows", dtype=F64)))
    k = stored(graph, graph.sub(k, means))
    k = stored(graph, graph.add(k, graph.const(float(estimator.K_fit_all_), "K_fit_all", dtype=F64)))
    return {"transform": k}
