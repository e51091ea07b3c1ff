"""Pairwise distances and kernels between the input rows and stored rows, as sklearn.metrics.pairwise
computes them for dense float64 data (the decomposition, kernel approximation, clustering and neighbour
converters share them).

Everything here works in float64: sklearn upcasts float32 input whenever the stored rows are float64,
which they are for models fitted on float64 data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, unsupported

#: Bytes of ``[batch, n_stored]`` intermediates one ``session.run`` may hold: converters whose graph compares
#: each input row with a stored set bound the model's rows per run (metadata ``max_chunk_rows``) to fit.
RUN_MEMORY_BYTES = 1 << 30
#: Largest stored set (rows x features) a graph holds as float64 constants: 256 MiB.
MAX_STORED_VALUES = 1 << 25
#: Kernels computed on ``[batch, n_stored, n_features]`` differences rather than a matrix product.
BROADCAST_KERNELS = frozenset({"laplacian", "chi2", "additive_chi2"})

#: Kernels with a closed form, by sklearn name, and the parameters each one takes (sklearn's KERNEL_PARAMS).
KERNELS = {
    "linear": (),
    "poly": ("gamma", "degree", "coef0"),
    "polynomial": ("gamma", "degree", "coef0"),
    "rbf": ("gamma",),
    "laplacian": ("gamma",),
    "sigmoid": ("gamma", "coef0"),
    "cosine": (),
    "chi2": ("gamma",),
    "additive_chi2": (),
}
#: sklearn's defaults for kernel parameters left unset (``gamma=None`` means ``1 / n_features``).
_KERNEL_DEFAULTS = {
    "poly": {"degree": 3, "coef0": 1},
    "polynomial": {"degree": 3, "coef0": 1},
    "sigmoid": {"coef0": 1},
    "chi2": {"gamma": 1.0},
}


def f64(graph: GraphBuilder, value: np.ndarray | float, hint: str) -> Var:
    """A float64 constant whatever the graph's dtype."""
    return graph.const(np.asarray(value, dtype=np.float64), hint, dtype=np.float64)


def as_f64(graph: GraphBuilder, x: Var) -> Var:
    return graph.cast(x, np.float64)


def row_squared_norms(graph: GraphBuilder, x: Var) -> Var:
    """``sum(x * x, axis=1)`` as ``[batch, 1]``."""
    return graph.reduce_sum(graph.mul(x, x), [1], keepdims=True)


def einsum_row_squared_norms(graph: GraphBuilder, x: Var, n_features: int) -> Var:
    """``np.einsum("ij,ij->i", x, x)`` for float32 or float64 ``x`` (sklearn's ``row_norms``), rounding as numpy
    does. ``[batch, 1]`` of ``x``'s dtype.

    numpy's sum of products runs on 16-byte vectors (the x86-64 SSE baseline): 4 float32 or 2 float64 lanes, each
    accumulating every 4th (2nd) rounded product, in blocks of 4 vectors taken last vector first, then the tail one
    vector at a time (missing lanes zero); the lanes are added last, ``(l0 + l1) + (l2 + l3)`` or ``l0 + l1``.
    """
    width = 16 // x.dtype.itemsize
    squares = graph.mul(x, x)
    groups, j = [], 0
    while n_features - j >= 4 * width:
        groups += [list(range(j + width * b, j + width * b + width)) for b in (3, 2, 1, 0)]
        j += 4 * width
    while j < n_features:
        groups.append(list(range(j, min(j + width, n_features))))
        j += width
    lanes = None
    for group in groups:
        chunk = graph.gather(squares, graph.int64s(group + [group[0]] * (width - len(group)), "lane_columns"), axis=1)
        if len(group) < width:  # the vector load fills the missing lanes with zeros
            mask = np.array([1.0] * len(group) + [0.0] * (width - len(group)), dtype=x.dtype)
            chunk = graph.mul(chunk, graph.const(mask, "lane_mask", dtype=x.dtype))
        lanes = chunk if lanes is None else graph.add(lanes, chunk)
    lane = [graph.gather(lanes, graph.int64s([i], "lane"), axis=1) for i in range(width)]
    if width == 2:
        return graph.add(lane[0], lane[1])
    return graph.add(graph.add(lane[0], lane[1]), graph.add(lane[2], lane[3]))


def squared_euclidean(graph: GraphBuilder, x: Var, stored: np.ndarray) -> Var:
    """``euclidean_distances(x, stored, squared=True)``: ``max(-2 x.s + |x|^2 + |s|^2, 0)`` in sklearn's order."""
    stored = np.asarray(stored, dtype=np.float64)
    # (-2 * s) is exact, so x @ (-2 s).T equals sklearn's -2 * (x @ s.T) bit for bit.
    cross = graph.matmul(x, f64(graph, (-2.0 * stored).T, "minus_2_stored_t"))
    yy = np.einsum("ij,ij->i", stored, stored)[None, :]
    d = graph.add(graph.add(cross, row_squared_norms(graph, x)), f64(graph, yy, "stored_sq_norms"))
    return graph.max(d, f64(graph, 0.0, "zero"))


def euclidean(graph: GraphBuilder, x: Var, stored: np.ndarray) -> Var:
    """``euclidean_distances(x, stored)``."""
    return graph.sqrt(squared_euclidean(graph, x, stored))


def broadcast_differences(graph: GraphBuilder, x: Var, stored: np.ndarray) -> Var:
    """``x[:, None, :] - stored[None, :, :]``: ``[batch, n_stored, n_features]``."""
    return graph.sub(graph.unsqueeze(x, [1]), f64(graph, stored, "stored"))


def manhattan(graph: GraphBuilder, x: Var, stored: np.ndarray) -> Var:
    """``manhattan_distances(x, stored)``: the sum of absolute differences."""
    return graph.reduce_sum(graph.abs(broadcast_differences(graph, x, stored)), [2])


def l2_normalize(graph: GraphBuilder, x: Var) -> Var:
    """``sklearn.preprocessing.normalize(x)``: rows of norm below 10 eps are left as they are."""
    norms = graph.sqrt(row_squared_norms(graph, x))
    tiny = graph.less(norms, f64(graph, 10 * np.finfo(np.float64).eps, "tiny_norm"))
    return graph.div(x, graph.where(tiny, f64(graph, 1.0, "one"), norms))


def _normalize_array(a: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", a, a))
    norms[norms < 10 * np.finfo(np.float64).eps] = 1.0
    return a / norms[:, None]


def check_stored(estimator: object, stored: np.ndarray, what: str = "training rows") -> None:
    """Refuse a stored set (dense or sparse) above :data:`MAX_STORED_VALUES` values, naming the class and the
    size."""
    rows, width = stored.shape
    if rows * width > MAX_STORED_VALUES:
        raise UnsupportedParameterError(
            f"{type(estimator).__name__} stores {rows} {what} of {width} features; "
            f"sk2tensor stores at most {MAX_STORED_VALUES} values in a graph (as float64 constants)"
        )


def bound_run_memory(context: ConversionContext, row_bytes: int) -> None:
    """Bound the rows of one ``session.run`` so that ``row_bytes`` per input row stay within
    :data:`RUN_MEMORY_BYTES`."""
    context.limit_chunk_rows(RUN_MEMORY_BYTES // max(1, row_bytes))


def bound_kernel_memory(
    estimator: object, context: ConversionContext, stored: np.ndarray, kernel: str, what: str = "training rows"
) -> None:
    """The memory rule of the graphs that hold a stored set and compute a ``[batch, n_stored]`` kernel matrix
    (the neighbour search's rule, without its blocks): the stored set is refused above
    :data:`MAX_STORED_VALUES` values, and the rows of one run are bounded so that the float64 intermediates
    (about four ``[batch, n_stored]`` matrices; ``[batch, n_stored, n_features]`` ones for the laplacian and
    chi2 kernels) stay within :data:`RUN_MEMORY_BYTES`."""
    check_stored(estimator, stored, what)
    rows, features = stored.shape
    bound_run_memory(context, 4 * 8 * rows * (features if kernel in BROADCAST_KERNELS else 1))


def kernel_parameters(kernel: str, n_features: int, **given: float | None) -> dict[str, float]:
    """The parameters sklearn's pairwise kernel ``kernel`` runs with, defaults filled in."""
    params = dict(_KERNEL_DEFAULTS.get(kernel, {}))
    params.update({k: v for k, v in given.items() if k in KERNELS[kernel] and v is not None})
    if "gamma" in KERNELS[kernel] and params.get("gamma") is None:
        params["gamma"] = 1.0 / n_features
    return params


def pairwise_kernel(graph: GraphBuilder, x: Var, stored: np.ndarray, kernel: str, params: dict[str, float]) -> Var:
    """``pairwise_kernels(x, stored, metric=kernel, **params)`` for a float64 ``x``: ``[batch, n_stored]``."""
    stored = np.asarray(stored, dtype=np.float64)
    if kernel == "linear":
        return graph.matmul(x, f64(graph, stored.T, "stored_t"))
    if kernel in ("poly", "polynomial", "sigmoid"):
        k = graph.matmul(x, f64(graph, stored.T, "stored_t"))
        k = graph.add(graph.mul(k, f64(graph, params["gamma"], "gamma")), f64(graph, params["coef0"], "coef0"))
        if kernel == "sigmoid":
            return graph.unary("Tanh", k)
        return graph.pow(k, f64(graph, params["degree"], "degree"))
    if kernel == "rbf":
        d = squared_euclidean(graph, x, stored)
        return graph.exp(graph.mul(d, f64(graph, -params["gamma"], "minus_gamma")))
    if kernel == "laplacian":
        return graph.exp(graph.mul(f64(graph, -params["gamma"], "minus_gamma"), manhattan(graph, x, stored)))
    if kernel == "cosine":
        return graph.matmul(l2_normalize(graph, x), f64(graph, _normalize_array(stored).T, "stored_normalized_t"))
    if kernel in ("chi2", "additive_chi2"):
        # -sum((x - y)^2 / (x + y)) over the features where x + y != 0.
        x3 = graph.unsqueeze(x, [1])
        s3 = f64(graph, stored, "stored")
        num = graph.sub(x3, s3)
        den = graph.add(x3, s3)
        zero = f64(graph, 0.0, "zero")
        nonzero = graph.logical_not(graph.equal(den, zero))
        safe_den = graph.where(nonzero, den, f64(graph, 1.0, "one"))
        terms = graph.where(nonzero, graph.div(graph.mul(num, num), safe_den), zero)
        k = graph.neg(graph.reduce_sum(terms, [2]))
        if kernel == "additive_chi2":
            return k
        return graph.exp(graph.mul(k, f64(graph, params["gamma"], "gamma")))
    raise ValueError(kernel)


def check_kernel(estimator: object, kernel: object) -> str:
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise unsupported(
            estimator,
            "kernel",
            kernel if isinstance(kernel, str) else getattr(kernel, "__name__", kernel),
            f"use one of {sorted(KERNELS)} (callable and precomputed kernels have no graph form)",
        )
    return kernel


def sklearn_squared_euclidean(graph: GraphBuilder, x: Var, stored: np.ndarray) -> Var:
    """``euclidean_distances(x, stored, squared=True)`` for float64 ``x``: ``max((-2 x.s + |x|^2) + |s|^2, 0)``
    in sklearn's order, with the row norms summed as numpy's einsum sums them
    (:func:`einsum_row_squared_norms`), so that a row equal to a stored row gets sklearn's value, often exactly
    0, rather than another rounding error (whose square root would be far from sklearn's)."""
    stored = np.asarray(stored, dtype=np.float64)
    cross = graph.matmul(x, f64(graph, (-2.0 * stored).T, "minus_2_stored_t"))
    squared = graph.add(
        graph.add(cross, einsum_row_squared_norms(graph, x, stored.shape[1])),
        f64(graph, np.einsum("ij,ij->i", stored, stored)[None, :], "stored_sq_norms"),
    )
    return graph.max(squared, f64(graph, 0.0, "zero"))


def kernel_to_fitted_rows(graph: GraphBuilder, estimator: Any, x: Var, context: Any, gamma: float | None) -> Var:
    """``[batch, n_fit]`` float64 kernel between ``x`` and ``estimator.X_fit_`` for its string ``kernel`` with
    its ``degree``/``coef0`` and ``gamma`` (KernelRidge's parameter, KernelPCA's fitted ``gamma_``), the rows of
    one run bounded by :func:`bound_kernel_memory`; callable and precomputed kernels are refused."""
    kernel = check_kernel(estimator, estimator.kernel)
    stored = np.asarray(estimator.X_fit_, dtype=np.float64)
    bound_kernel_memory(estimator, context, stored, kernel)
    params = kernel_parameters(kernel, stored.shape[1], gamma=gamma, degree=estimator.degree, coef0=estimator.coef0)
    return pairwise_kernel(graph, as_f64(graph, x), stored, kernel, params)
