"""Numeric building blocks shared by the preprocessing, imputation and composition converters.

Most of them reproduce a numpy or scipy routine operation for operation, so that a graph computes what
sklearn computes rather than a close approximation of it:

* float32 graphs compare float32 inputs with float64 constants the way numpy does (exactly), by rounding each
  constant to the float32 neighbour on the right side (:func:`threshold`);
* sklearn often works on a float32 array with float64 attributes: each in-place step is computed in float64
  and stored in float32. :func:`stored` rounds a float64 value through the graph's dtype at such a step;
* :func:`interp` is ``np.interp`` (same search, same formula), :func:`ndtri` the inverse normal CDF (Wichura's
  AS241, relative error below 1e-15), :func:`expm1` and :func:`log1p` accurate versions of ``exp(x) - 1`` and
  ``log(1 + x)`` (Kahan's tricks: a few ulps, where the naive forms lose every digit near zero);
* :func:`category_codes` maps numeric values to the index of the category they equal (sklearn's ``_encode``).

No helper computes a shape at run time: constants broadcast against the batch instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sk2tensor.graph import GraphBuilder, Var

F64 = np.dtype(np.float64)


# --------------------------------------------------------------------------- constants and columns
def columns(graph: GraphBuilder, x: Var, indices: Sequence[int]) -> Var:
    """``x[:, indices]`` (a Gather on axis 1 with a constant index vector)."""
    return graph.gather(x, graph.int64s(list(indices), "columns"), axis=1)


def ones_column(graph: GraphBuilder, x: Var, dtype: np.dtype | None = None) -> Var:
    """A ``[batch, 1]`` column of ones, whatever ``x`` holds (NaN and inf included), with no shape operator."""
    dtype = graph.dtype if dtype is None else np.dtype(dtype)
    first = columns(graph, x, [0])
    one = graph.const(1.0, "one", dtype=dtype)
    return graph.where(graph.is_nan(first), one, one)


def constant_like(graph: GraphBuilder, x: Var, value: float, dtype: np.dtype) -> Var:
    """A tensor of ``x``'s shape filled with ``value`` (a Where on a constant, no shape operator)."""
    v = graph.const(np.array(value, dtype=dtype), "fill", dtype=dtype)
    return graph.where(graph.is_nan(x), v, v)


def as_f64(graph: GraphBuilder, x: Var) -> Var:
    return graph.cast(x, F64)


def stored(graph: GraphBuilder, value: Var) -> Var:
    """``value`` (float64) rounded through the graph's dtype, as sklearn stores a float64 result in its input's
    float32 array; a no-op in float64 graphs."""
    if graph.dtype == F64:
        return value
    return graph.cast(graph.cast(value, graph.dtype), F64)


def f32_at_least(values: np.ndarray) -> np.ndarray:
    """The smallest float32 not below each float64 value (``x >= v`` ⟺ ``x >= f32_at_least(v)`` for float32 x)."""
    values = np.asarray(values, dtype=np.float64)
    rounded = values.astype(np.float32)
    low = rounded.astype(np.float64) < values
    rounded[low] = np.nextafter(rounded[low], np.float32(np.inf))
    return rounded


def f32_at_most(values: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 value (``x <= v`` ⟺ ``x <= f32_at_most(v)`` for float32 x)."""
    values = np.asarray(values, dtype=np.float64)
    rounded = values.astype(np.float32)
    high = rounded.astype(np.float64) > values
    rounded[high] = np.nextafter(rounded[high], np.float32(-np.inf))
    return rounded


def threshold(graph: GraphBuilder, values: np.ndarray, side: str, hint: str = "threshold") -> Var:
    """A constant to compare inputs of the graph's dtype with, exactly as numpy compares them with float64
    ``values``: ``side="at_least"`` for ``x >= v`` / ``x < v``, ``"at_most"`` for ``x <= v`` / ``x > v``."""
    values = np.asarray(values, dtype=np.float64)
    if graph.dtype == F64:
        return graph.const(values, hint)
    rounded = f32_at_least(values) if side == "at_least" else f32_at_most(values)
    return graph.const(rounded, hint, dtype=np.float32)


def exactly_representable(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Which float64 ``values`` a ``dtype`` input can equal (NaN counts as representable)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        back = values.astype(dtype).astype(np.float64)
    return (back == values) | np.isnan(values)


# --------------------------------------------------------------------------- elementary functions
def expm1(graph: GraphBuilder, y: Var) -> Var:
    """``exp(y) - 1`` to a few ulps (Kahan): ``(u - 1) * y / log(u)`` with ``u = exp(y)``; ``y`` where ``u == 1``."""
    one = graph.const(1.0, "one", dtype=y.dtype)
    u = graph.exp(y)
    um1 = graph.sub(u, one)
    log_u = graph.log(u)
    safe_log = graph.where(graph.equal(log_u, graph.const(0.0, "zero", dtype=y.dtype)), one, log_u)
    kahan = graph.div(graph.mul(um1, y), safe_log)
    # u == inf: the ratio is inf/inf; u - 1 == -1: exp underflowed. Both are exact as u - 1.
    big = graph.greater(y, graph.const(1.0, "one", dtype=y.dtype))
    small = graph.less(y, graph.const(-1.0, "minus_one", dtype=y.dtype))
    result = graph.where(graph.logical_or(big, small), um1, kahan)
    return graph.where(graph.equal(u, one), y, result)


def log1p(graph: GraphBuilder, x: Var) -> Var:
    """``log(1 + x)`` to a few ulps (Kahan): ``log(u) * x / (u - 1)`` with ``u = 1 + x``; ``x`` where ``u == 1``."""
    one = graph.const(1.0, "one", dtype=x.dtype)
    u = graph.add(one, x)
    um1 = graph.sub(u, one)
    safe = graph.where(graph.equal(um1, graph.const(0.0, "zero", dtype=x.dtype)), one, um1)
    kahan = graph.div(graph.mul(graph.log(u), x), safe)
    # Far from zero (and for inf) log(u) is already accurate; the ratio would be inf/inf.
    far = graph.greater(graph.abs(x), graph.const(1.0, "one", dtype=x.dtype))
    result = graph.where(far, graph.log(u), kahan)
    return graph.where(graph.equal(u, one), x, result)


def _poly(graph: GraphBuilder, r: Var, coefficients: Sequence[float]) -> Var:
    """Horner's scheme, highest degree first."""
    value = graph.const(coefficients[0], "coef", dtype=r.dtype)
    for c in coefficients[1:]:
        value = graph.add(graph.mul(value, r), graph.const(c, "coef", dtype=r.dtype))
    return value


# Wichura, Algorithm AS241 (PPND16), Applied Statistics 37 (1988): coefficients highest degree first.
_A = (
    2509.0809287301226727,
    33430.575583588128105,
    67265.770927008700853,
    45921.953931549871457,
    13731.693765509461125,
    1971.5909503065514427,
    133.14166789178437745,
    3.387132872796366608,
)
_B = (
    5226.495278852545925,
    28729.085735721942674,
    39307.89580009271061,
    21213.794301586595867,
    5394.1960214247511077,
    687.1870074920579083,
    42.313330701600911252,
    1.0,
)
_C = (
    7.7454501427834140764e-4,
    0.0227238449892691845833,
    0.24178072517745061177,
    1.27045825245236838258,
    3.64784832476320460504,
    5.7694972214606914055,
    4.6303378461565452959,
    1.42343711074968357734,
)
_D = (
    1.05075007164441684324e-9,
    5.475938084995344946e-4,
    0.0151986665636164571966,
    0.14810397642748007459,
    0.68976733498510000455,
    1.6763848301838038494,
    2.05319162663775882187,
    1.0,
)
_E = (
    2.01033439929228813265e-7,
    2.71155556874348757815e-5,
    0.0012426609473880784386,
    0.026532189526576123093,
    0.29656057182850489123,
    1.7848265399172913358,
    5.4637849111641143699,
    6.6579046435011037772,
)
_F = (
    2.04426310338993978564e-15,
    1.4215117583164458887e-7,
    1.8463183175100546818e-5,
    7.868691311456132591e-4,
    0.0148753612908506148525,
    0.13692988092273580531,
    0.59983220655588793769,
    1.0,
)


def ndtri(graph: GraphBuilder, p: Var) -> Var:
    """The standard normal quantile of ``p`` (float64), like ``scipy.special.ndtri``: ±inf at 0 and 1, NaN
    outside [0, 1]. Wichura's AS241: relative error about 1e-16 over the whole range."""
    p = as_f64(graph, p)
    half = graph.const(0.5, "half", dtype=F64)
    one = graph.const(1.0, "one", dtype=F64)
    q = graph.sub(p, half)
    # Central region |q| <= 0.425.
    r_central = graph.sub(graph.const(0.180625, "c", dtype=F64), graph.mul(q, q))
    central = graph.div(graph.mul(q, _poly(graph, r_central, _A)), _poly(graph, r_central, _B))
    # Tails: r = sqrt(-log(min(p, 1 - p))), kept away from log(0) (those rows are set to ±inf below).
    tail_p = graph.min(p, graph.sub(one, p))
    tail_p = graph.max(tail_p, graph.const(1e-300, "tiny", dtype=F64))
    r = graph.sqrt(graph.neg(graph.log(tail_p)))
    near = graph.div(
        _poly(graph, graph.sub(r, graph.const(1.6, "c", dtype=F64)), _C),
        _poly(graph, graph.sub(r, graph.const(1.6, "c", dtype=F64)), _D),
    )
    far = graph.div(
        _poly(graph, graph.sub(r, graph.const(5.0, "c", dtype=F64)), _E),
        _poly(graph, graph.sub(r, graph.const(5.0, "c", dtype=F64)), _F),
    )
    tail = graph.where(graph.less_equal(r, graph.const(5.0, "c", dtype=F64)), near, far)
    tail = graph.where(graph.less(q, graph.const(0.0, "zero", dtype=F64)), graph.neg(tail), tail)
    value = graph.where(graph.less_equal(graph.abs(q), graph.const(0.425, "c", dtype=F64)), central, tail)
    inf = graph.const(np.inf, "inf", dtype=F64)
    value = graph.where(graph.equal(p, graph.const(0.0, "zero", dtype=F64)), graph.neg(inf), value)
    value = graph.where(graph.equal(p, one), inf, value)
    outside = graph.logical_or(graph.less(p, graph.const(0.0, "zero", dtype=F64)), graph.greater(p, one))
    return graph.where(outside, graph.const(np.nan, "nan", dtype=F64), value)


# --------------------------------------------------------------------------- searching sorted tables
def count_at_most(graph: GraphBuilder, x: Var, table: np.ndarray) -> Var:
    """Per element ``x[:, f]``, how many of the sorted ``table[f, :]`` are ``<= x`` (int64 ``[batch, F]``).

    A branch-free binary search over the table padded with +inf to a power of two: ``log2`` steps of one
    GatherElements each. Comparisons are numpy's (float64) whatever the dtype of ``x``: a float32 ``x`` is
    compared with each entry rounded up to float32. NaN counts nothing."""
    table = np.asarray(table, dtype=np.float64)
    if x.dtype != F64:
        table = f32_at_least(table)  # x >= t in float32 exactly when float64(x) >= t
    n_features, n = table.shape
    steps = max(1, int(np.ceil(np.log2(n + 1))))
    size = 1 << steps
    padded = np.full((size, n_features), np.inf)
    padded[:n, :] = table.T
    # Row 0 of the search table stands for "nothing": position p compares with padded[p - 1].
    search = graph.const(np.vstack([np.full((1, n_features), -np.inf), padded]), "sorted_table", dtype=x.dtype)
    step = size >> 1
    first = graph.const(padded[step - 1 : step, :], "sorted_row", dtype=x.dtype)
    position = graph.where(
        graph.greater_equal(x, first),
        graph.const(np.array(step, dtype=np.int64), "step", dtype=np.int64),
        graph.const(np.array(0, dtype=np.int64), "zero_i", dtype=np.int64),
    )
    step >>= 1
    while step:
        candidate = graph.add(position, graph.const(np.array(step, dtype=np.int64), "step", dtype=np.int64))
        value = graph.gather_elements(search, candidate, axis=0)
        position = graph.where(graph.greater_equal(x, value), candidate, position)
        step >>= 1
    # +inf inputs pass the +inf padding: at most n table entries are <= x.
    return graph.min(position, graph.const(np.array(n, dtype=np.int64), "n", dtype=np.int64))


def interp(graph: GraphBuilder, x: Var, xp: np.ndarray, fp: np.ndarray) -> Var:
    """``np.interp(x[:, f], xp[f], fp[f])`` for every feature ``f``, in float64, as numpy computes it.

    ``xp`` and ``fp`` are ``[F, n]`` with each ``xp[f]`` non-decreasing. numpy finds the last ``j`` with
    ``xp[j] <= x``, returns ``fp[0]`` left of the table, ``fp[-1]`` at and right of its end, and
    ``slope[j] * (x - xp[j]) + fp[j]`` in between. The same cases come out of one table of (base, value,
    slope) rows indexed by the count of ``xp <= x``, with a zero slope at both ends. NaN gives NaN."""
    x = as_f64(graph, x)
    xp = np.asarray(xp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    n_features, n = xp.shape
    count = count_at_most(graph, x, xp)
    base = np.empty((n + 1, n_features))
    value = np.empty((n + 1, n_features))
    slope = np.zeros((n + 1, n_features))
    base[0], value[0] = xp[:, 0], fp[:, 0]
    base[n], value[n] = xp[:, n - 1], fp[:, n - 1]
    if n > 1:
        base[1:n] = xp[:, : n - 1].T
        value[1:n] = fp[:, : n - 1].T
        with np.errstate(divide="ignore", invalid="ignore"):
            slope[1:n] = ((fp[:, 1:] - fp[:, :-1]) / (xp[:, 1:] - xp[:, :-1])).T
        # Segments that no count selects (repeated xp) may hold NaN slopes: make them harmless.
        slope[~np.isfinite(slope)] = 0.0
    gathered = [
        graph.gather_elements(graph.const(table, name, dtype=F64), count, axis=0)
        for table, name in ((base, "interp_x"), (value, "interp_y"), (slope, "interp_slope"))
    ]
    result = graph.add(graph.mul(gathered[2], graph.sub(x, gathered[0])), gathered[1])
    return graph.where(graph.is_nan(x), x, result)


# --------------------------------------------------------------------------- categories
def category_codes(graph: GraphBuilder, x: Var, categories: Sequence[np.ndarray]) -> Var:
    """For each column ``f`` of ``x``, the index of the category of ``categories[f]`` it equals, or
    ``len(categories[f])`` when it equals none (int64 ``[batch, F]``).

    Equality is numpy's: the float64 value of the input against the float64 category, NaN matching a NaN
    category. A category that no input of the graph's dtype can equal (``0.1`` in a float32 graph) is never
    matched, as sklearn matches none on float32 data."""
    dtype = x.dtype
    cats = [np.asarray(c, dtype=np.float64).reshape(-1) for c in categories]
    n_features = len(cats)
    feature = np.concatenate([np.full(len(c), f, dtype=np.int64) for f, c in enumerate(cats)])
    values = np.concatenate(cats) if cats else np.zeros(0)
    reachable = exactly_representable(values, dtype)
    is_nan_category = np.isnan(values)
    compare_values = np.where(reachable & ~is_nan_category, values, np.nan)
    # code = n_f + sum over matches of (index - n_f): exact small integers in float arithmetic.
    weights = np.zeros((len(values), n_features))
    position = 0
    for f, c in enumerate(cats):
        weights[position : position + len(c), f] = np.arange(len(c)) - len(c)
        position += len(c)
    repeated = graph.gather(x, graph.int64s(feature.tolist(), "category_feature"), axis=1)
    matches = graph.equal(repeated, graph.const(compare_values, "categories", dtype=dtype))
    if is_nan_category.any():
        nan_match = graph.logical_and(graph.is_nan(repeated), graph.const(is_nan_category, "nan_category"))
        matches = graph.logical_or(matches, nan_match)
    offsets = graph.matmul(graph.cast(matches, dtype), graph.const(weights, "category_weights", dtype=dtype))
    sizes = graph.const(np.array([len(c) for c in cats], dtype=np.float64), "category_counts", dtype=dtype)
    return graph.cast(graph.add(offsets, sizes), np.int64)


def lookup(graph: GraphBuilder, codes: Var, tables: Sequence[np.ndarray], dtype: np.dtype) -> Var:
    """``out[:, f] = tables[f][codes[:, f]]`` for int64 ``codes [batch, F]`` (one Gather on a flat table)."""
    offsets = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.int64)
    flat = np.concatenate([np.asarray(t).reshape(-1) for t in tables])
    index = graph.add(codes, graph.const(offsets.reshape(1, -1), "table_offsets", dtype=np.int64))
    return graph.gather(graph.const(flat, "table", dtype=dtype), index)


# --------------------------------------------------------------------------- shapes of composed outputs
def as_columns(graph: GraphBuilder, value: Var, width: int) -> Var:
    """``value`` (``[batch]`` or ``[batch, width]``) as ``[batch, width]``: a Reshape to ``[0, width]`` (0 keeps
    the batch dimension), so no rank needs to be known and no shape is computed at run time."""
    return graph.reshape(value, [0, width])


def as_vector(graph: GraphBuilder, value: Var) -> Var:
    """``value`` (``[batch]`` or ``[batch, 1]``) as ``[batch]``."""
    return graph.reshape(value, [0])
