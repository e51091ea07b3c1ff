"""Kernel approximations: ``transform`` of Nystroem, RBFSampler, SkewedChi2Sampler, AdditiveChi2Sampler and
PolynomialCountSketch, following sklearn's arithmetic (float64 where sklearn upcasts, the input's dtype where it
does not)."""

from __future__ import annotations

import numpy as np
from sklearn.kernel_approximation import (
    AdditiveChi2Sampler,
    Nystroem,
    PolynomialCountSketch,
    RBFSampler,
    SkewedChi2Sampler,
)

from sk2tensor.converters._numeric import ones_column, stored
from sk2tensor.converters._pairwise import (
    as_f64,
    bound_kernel_memory,
    bound_run_memory,
    check_kernel,
    f64,
    kernel_parameters,
    pairwise_kernel,
)
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, unsupported


@converter(Nystroem)
def convert_nystroem(graph: GraphBuilder, estimator: Nystroem, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The kernel against the stored components, times ``normalization_.T``.

    The ``[batch, n_components]`` kernel matrix bounds the rows of one run as for the neighbour search
    (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`, metadata ``max_chunk_rows``).
    """
    kernel = check_kernel(estimator, estimator.kernel)
    components = np.asarray(estimator.components_, dtype=np.float64)
    bound_kernel_memory(estimator, context, components, kernel, "components")
    # As sklearn: kernel_params, overridden by the estimator's own gamma/degree/coef0 where set, filtered to
    # the parameters the kernel takes.
    given = dict(estimator.kernel_params or {})
    for name in ("gamma", "degree", "coef0"):
        if getattr(estimator, name) is not None:
            given[name] = getattr(estimator, name)
    params = kernel_parameters(kernel, components.shape[1], **given)
    embedded = pairwise_kernel(graph, as_f64(graph, x), components, kernel, params)
    return {"transform": graph.matmul(embedded, f64(graph, np.asarray(estimator.normalization_).T, "normalization_t"))}


@converter(RBFSampler)
def convert_rbf_sampler(
    graph: GraphBuilder, estimator: RBFSampler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Random Fourier features: ``cos(X @ W + b) * sqrt(2 / n_components)``."""
    projection = graph.matmul(as_f64(graph, x), f64(graph, estimator.random_weights_, "random_weights"))
    projection = graph.unary("Cos", graph.add(projection, f64(graph, estimator.random_offset_, "random_offset")))
    return {"transform": graph.mul(projection, f64(graph, (2.0 / estimator.n_components) ** 0.5, "scale"))}


def _is_weak_scalar(value: object) -> bool:
    """Whether numpy treats ``value`` as a "weak" Python scalar (NEP 50): a float32 array combined with it stays
    float32, where a numpy float64 scalar makes the result float64."""
    return isinstance(value, int | float) and not isinstance(value, np.generic)


@converter(SkewedChi2Sampler)
def convert_skewed_chi2_sampler(
    graph: GraphBuilder, estimator: SkewedChi2Sampler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``cos(log(X + skewedness) @ W + b) * sqrt(2) / sqrt(n_components)``, in sklearn's dtypes: the shift and
    the log in the input's dtype, the projection in the wider of the input's and ``random_weights_``'s.

    sklearn raises on an entry ``<= -skewedness``; a graph cannot raise: such a row comes out NaN in every
    column (the log of a negative number is NaN, of zero ``-inf``, and the cosine of an infinite sum is NaN).
    """
    skew = estimator.skewedness
    if _is_weak_scalar(skew):  # X += skewedness in the input's dtype
        shifted = graph.add(x, graph.const(float(skew), "skewedness"))
    else:  # a numpy float64 scalar: the sum is computed in float64 and stored in X
        shifted = graph.cast(stored(graph, graph.add(as_f64(graph, x), f64(graph, skew, "skewedness"))), x.dtype)
    logs = graph.log(shifted)
    weights = np.asarray(estimator.random_weights_)
    dtype = np.result_type(x.dtype, weights.dtype)
    projection = graph.matmul(graph.cast(logs, dtype), graph.const(weights, "random_weights", dtype=dtype))
    offset = np.asarray(estimator.random_offset_)
    dtype = np.result_type(dtype, offset.dtype)
    projection = graph.add(graph.cast(projection, dtype), graph.const(offset, "random_offset", dtype=dtype))
    projection = graph.unary("Cos", projection)
    scale = np.sqrt(2.0) / np.sqrt(estimator.n_components)
    return {"transform": graph.mul(projection, graph.const(scale, "scale", dtype=projection.dtype))}


#: sklearn's ``sample_interval`` for ``sample_steps`` 1, 2 and 3 when none is given.
_CHI2_INTERVALS = {1: 0.8, 2: 0.5, 3: 0.4}


@converter(AdditiveChi2Sampler)
def convert_additive_chi2_sampler(
    graph: GraphBuilder, estimator: AdditiveChi2Sampler, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """sklearn's ``_transform_dense``: per feature ``sqrt(x L)``, then for ``j = 1 .. sample_steps - 1`` the columns
    ``sqrt(2 x L / cosh(pi j L)) cos(j L log x)`` and the same with ``sin``; zero entries give zeros.

    The arithmetic follows sklearn's dtypes: a float32 input is computed in float32 except the factor
    ``sqrt(2 x L / cosh(pi j L))``, which numpy computes in float64 (``cosh`` of a Python float is a float64
    scalar); the products are stored in float32.

    sklearn raises on negative (and NaN) entries; a graph cannot raise: a negative entry gives NaN in every
    output column of its feature (``sqrt`` and ``log`` of a negative number), a NaN entry NaN, and other
    features of the row are unaffected.
    """
    interval = estimator.sample_interval
    if interval is None:
        if estimator.sample_steps not in _CHI2_INTERVALS:
            raise unsupported(
                estimator, "sample_steps", estimator.sample_steps, "give sample_interval, or use sample_steps 1, 2 or 3"
            )
        interval = _CHI2_INTERVALS[estimator.sample_steps]
    dtype = x.dtype
    zero = graph.const(0.0, "zero", dtype=dtype)
    nonzero = graph.logical_not(graph.equal(x, zero))
    # Zero entries are replaced by one before the sqrt and log (whose values are then thrown away).
    safe = graph.where(nonzero, x, graph.const(1.0, "one", dtype=dtype))
    weak = _is_weak_scalar(interval)
    if weak:
        steps_dtype, interval_const = dtype, graph.const(float(interval), "sample_interval", dtype=dtype)
    else:  # a numpy float64 interval makes every product float64
        steps_dtype, interval_const = np.dtype(np.float64), f64(graph, interval, "sample_interval")
    x_steps = graph.cast(safe, steps_dtype)
    outputs = [graph.sqrt(graph.mul(x_steps, interval_const))]
    log_step = graph.mul(interval_const, graph.log(x_steps))
    step = graph.mul(graph.mul(graph.const(2.0, "two", dtype=steps_dtype), x_steps), interval_const)
    for j in range(1, estimator.sample_steps):
        cosh = np.cosh(np.pi * j * interval)
        factor = graph.sqrt(graph.div(as_f64(graph, step), f64(graph, cosh, "cosh")))
        angle = graph.mul(graph.const(float(j), "j", dtype=steps_dtype), log_step)
        outputs.append(graph.mul(factor, as_f64(graph, graph.unary("Cos", angle))))
        outputs.append(graph.mul(factor, as_f64(graph, graph.unary("Sin", angle))))
    # Each block is stored in an array of the input's dtype, zeros where the input is zero.
    blocks = [graph.where(nonzero, graph.cast(block, dtype), zero) for block in outputs]
    return {"transform": blocks[0] if len(blocks) == 1 else graph.concat(blocks, axis=1)}


def _roll_tables(index_hash: np.ndarray, n_components: int) -> np.ndarray:
    """``[n_features, n_components]`` gather tables: row ``j`` maps component ``k`` to ``(k - index_hash[j]) mod
    n_components``, so gathering a sketch with it shifts the sketch by ``index_hash[j]`` places."""
    k = np.arange(n_components)[None, :]
    return ((k - index_hash[:, None]) % n_components).astype(np.int64)


@converter(PolynomialCountSketch)
def convert_polynomial_count_sketch(
    graph: GraphBuilder, estimator: PolynomialCountSketch, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The tensor sketch: the circular convolution of ``degree`` count sketches of ``sqrt(gamma) x`` (with a
    ``sqrt(coef0)`` column when ``coef0 != 0``), computed exactly rather than through sklearn's FFT.

    Count sketch ``d`` of a row is linear in it: ``C_d[h] = sum over features j with indexHash_[d, j] = h of
    bitHash_[d, j] x_j`` (a MatMul with a signed one-hot matrix). The circular convolution of a vector ``P``
    with ``C_d`` is ``sum_j bitHash_[d, j] x_j roll(P, indexHash_[d, j])``: a Gather of ``P`` with constant
    shift tables, times the input, summed over the features. ``degree - 1`` such steps give the same values
    as sklearn's ``real(ifft(prod(fft(C_d))))`` up to the FFT's rounding (about 1e-16 of the sketch's scale).
    Each step holds ``[batch, n_features, n_components]`` float64 values, which bounds the rows of one run.
    """
    index_hash = np.asarray(estimator.indexHash_, dtype=np.int64)
    bit_hash = np.asarray(estimator.bitHash_, dtype=np.float64)
    degree, n_features = index_hash.shape
    n = int(estimator.n_components)
    bound_run_memory(context, 4 * 8 * n_features * n)
    x_gamma = graph.mul(as_f64(graph, x), f64(graph, np.sqrt(estimator.gamma), "sqrt_gamma"))
    if estimator.coef0 != 0:
        column = graph.mul(ones_column(graph, x_gamma, np.float64), f64(graph, np.sqrt(estimator.coef0), "sqrt_coef0"))
        x_gamma = graph.concat([x_gamma, column], axis=1)
    sketch_0 = np.zeros((n_features, n))
    sketch_0[np.arange(n_features), index_hash[0]] = bit_hash[0]
    product = graph.matmul(x_gamma, f64(graph, sketch_0, "count_sketch"))
    for d in range(1, degree):
        rolled = graph.gather(product, graph.const(_roll_tables(index_hash[d], n), "roll", dtype=np.int64), axis=1)
        signed = graph.mul(x_gamma, f64(graph, bit_hash[d][None, :], "bit_hash"))
        product = graph.reduce_sum(graph.mul(rolled, graph.unsqueeze(signed, [2])), [1])
    return {"transform": product}
