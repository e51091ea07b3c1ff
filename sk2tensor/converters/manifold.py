"""Manifold learning: ``transform`` of Isomap.

sklearn's ``Isomap.transform`` finds the query's neighbours among the training rows (``nbrs_.kneighbors`` with
``n_neighbors``, ``nbrs_.radius_neighbors`` with ``radius``), takes the geodesic distance to every training row
through them, ``G[i, t] = min over neighbours j of (d(i, j) + dist_matrix_[j, t])``, and projects
``-0.5 * G**2`` with its fitted precomputed-kernel KernelPCA. The graph does the same in float64:

* the neighbour search is the one of :mod:`sk2tensor.converters.neighbors` (same distances, same rules for
  training rows tied at the k-th distance, which matter here: two tied neighbours have the same ``d(i, j)``
  but different rows of ``dist_matrix_``, so the minimum depends on which one is kept; the graph keeps the
  one sklearn keeps wherever that module reproduces sklearn's heap (brute force on rows of the fitted dtype,
  KDTree and BallTree, up to 8,192 training rows); where sklearn's choice comes from numpy's ``argpartition``
  (float32 queries on a brute-force model, the cosine metric) rows with such a tie may differ from sklearn;
* brute-force euclidean distances (what ``neighbors_algorithm="auto"`` picks above 15 features) are
  ``|x|^2 - 2 x.y + |y|^2``: a query equal to a training row gets rounding noise instead of 0, in sklearn
  (BLAS) and in the graph differently, magnified by the square root (3e-8 of the output's scale on
  breast_cancer; more where training rows repeat, as on iris, since the noise then also picks which duplicate
  is kept). A float64 export validated on the training rows of such a model may be refused; on other rows it
  agrees to about 1e-13 of the output's scale;
* the minimum is exact (a sum and a minimum of the same float64 values as sklearn's), so a float64 export
  agrees with sklearn to the last bits of the final projection;
* a float32 query makes sklearn store ``G`` in a float32 array before squaring it in float32: the graph
  rounds at the same two places;
* the projection is :func:`~sk2tensor.converters.decomposition.kernel_pca_project` on the kernel row.

A radius model where a query has no training row within the radius makes sklearn raise (a minimum over no
neighbour); the graph gives NaN in every column of that row. Rows holding NaN or an infinity, which sklearn
rejects, give NaN as well.

Memory: the graph stores the training rows and the ``[n_train, n_train]`` float64 shortest-path matrix
(refused above ``_pairwise.MAX_STORED_VALUES`` values, about 5,800 training rows), and computes
``[batch, k, n_train]`` (``[batch, RADIUS_BLOCK, n_train]`` for radius models) float64 sums; the rows of one run
are bounded so that they stay within ``_pairwise.RUN_MEMORY_BYTES`` (metadata ``max_chunk_rows``).

LocallyLinearEmbedding ``transform``: barycenter weights over the nearest training rows, then the weighted
sum of their embeddings, as sklearn's ``transform`` (every ``method``: standard, hessian, modified, ltsa).

sklearn (``sklearn/manifold/_locally_linear.py``) finds the ``n_neighbors`` nearest training rows with its
fitted ``nbrs_`` (a NearestNeighbors, euclidean), and for each input row solves ``barycenter_weights``:
``C = Y[ind] - x``, ``G = C @ C.T``, ``G += R`` on the diagonal with ``R = reg * trace(G)`` (``reg`` when the
trace is 0), ``w = solve(G, ones, assume_a="pos")``, ``w /= sum(w)``; then ``x_new = embedding_[ind].T @ w``.

* The neighbour search is :func:`sk2tensor.converters.neighbors.kneighbors` on ``nbrs_``: same distances, same
  rules on ties at the k-th neighbour (sklearn's heap replayed where that module replays it).
* The ``k x k`` system is solved by Gaussian elimination without pivoting (``G`` is symmetric positive
  definite once regularised), unrolled for the fitted ``k`` and vectorised over the batch; scipy factors it by
  Cholesky (LAPACK ``posv``). Both are backward stable: on the tests' systems (k up to 30, condition
  numbers up to about 900) the solutions agree to 3e-14 relative, and the exported transforms to 1e-16 to
  2e-15 absolute (the rounding of the two factorisations, scaled by the condition number of ``G``, which
  ``reg`` bounds). ``k`` above :data:`MAX_NEIGHBORS` is refused (the unrolled graph grows as ``k`` steps of
  ``[batch, k, k + 1]`` updates).
* sklearn stores the weights in the input's dtype: a float32 graph rounds them to float32 as sklearn does
  for float32 rows; everything else is float64.

Rows sklearn refuses (NaN or an infinity) give NaN. With ``reg=0`` and more neighbours than features ``G`` is
singular: scipy raises or warns, the graph gives infinities or NaN.
"""

from __future__ import annotations

import numpy as np
from sklearn.manifold import Isomap, LocallyLinearEmbedding

from sk2tensor.converters._numeric import stored as stored_in_dtype
from sk2tensor.converters._pairwise import as_f64, bound_run_memory, check_stored, f64
from sk2tensor.converters.decomposition import kernel_pca_project, nan_on_non_finite_rows
from sk2tensor.converters.neighbors import (
    BLOCK_ROWS,
    _Distances,
    _heap,
    _setup,
    _stored,
    kneighbors,
    metric_of,
    non_finite_rows,
    refuse_precomputed,
)
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, unsupported

#: Training rows per block of a radius model's minimum (each block holds ``[batch, RADIUS_BLOCK, n_train]``).
RADIUS_BLOCK = 256


def _geodesic_knn(
    graph: GraphBuilder,
    nbrs: object,
    distances: _Distances,
    fit: np.ndarray,
    paths: np.ndarray,
    context: ConversionContext,
) -> Var:
    """``min over the k nearest j of (d(i, j) + paths[j])``: ``[batch, n_train]``."""
    k = int(nbrs.n_neighbors)
    n = len(fit)
    bound_run_memory(context, 8 * n * (2 * k + 4))
    dist, index = kneighbors(graph, distances, fit, k, _heap(nbrs, distances, fit, context))
    rows = graph.gather(f64(graph, paths, "shortest_paths"), index, axis=0)  # [batch, k, n]
    return graph.reduce_min(graph.add(rows, graph.unsqueeze(dist, [2])), [1])


def _geodesic_radius(
    graph: GraphBuilder,
    nbrs: object,
    distances: _Distances,
    fit: np.ndarray,
    paths: np.ndarray,
    context: ConversionContext,
) -> Var:
    """``min over j within the radius of (d(i, j) + paths[j])`` (+inf without any): ``[batch, n_train]``.

    sklearn keeps the training rows whose reduced distance is ``<=`` the reduced radius, as the radius
    neighbour converters do."""
    n = len(fit)
    block = min(n, RADIUS_BLOCK)
    bound_run_memory(context, 8 * n * (2 * block + 4) + 3 * 8 * block)
    radius = f64(graph, distances.metric.reduced(float(nbrs.radius)), "radius")
    inf = f64(graph, np.inf, "inf")
    best = None
    for start in range(0, n, block):
        stop = min(start + block, n)
        reduced = distances.reduced(fit[start:stop])
        dist = graph.where(graph.less_equal(reduced, radius), distances.distance(reduced), inf)
        rows = f64(graph, paths[start:stop][None, :, :], "shortest_paths")  # [1, block, n]
        candidate = graph.reduce_min(graph.add(rows, graph.unsqueeze(dist, [2])), [1])
        best = candidate if best is None else graph.min(best, candidate)
    return best


@converter(Isomap)
def convert_isomap(graph: GraphBuilder, estimator: Isomap, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``transform``: the geodesic distances to the training rows through the query's neighbours, projected
    by the fitted KernelPCA (see the module docstring)."""
    nbrs = estimator.nbrs_
    refuse_precomputed(estimator)
    metric = metric_of(estimator, nbrs.effective_metric_, nbrs.effective_metric_params_, nbrs._fit_method)
    fit = _stored(estimator, nbrs._fit_X)
    paths = np.asarray(estimator.dist_matrix_, dtype=np.float64)
    check_stored(estimator, paths, "shortest-path distances to each training row")
    bound_run_memory(context, 3 * 8 * min(len(fit), BLOCK_ROWS))
    x64 = as_f64(graph, x)
    distances = _Distances(graph, x, metric, fit.shape[1])
    if estimator.n_neighbors is not None:
        geodesic = _geodesic_knn(graph, nbrs, distances, fit, paths, context)
    else:
        geodesic = _geodesic_radius(graph, nbrs, distances, fit, paths, context)
    # sklearn stores G in a float32 array for float32 queries and squares it there (exact in float64, then
    # rounded once, as float32 multiplication rounds the exact product); -0.5 * is exact.
    geodesic = stored_in_dtype(graph, geodesic)
    kernel = graph.mul(stored_in_dtype(graph, graph.mul(geodesic, geodesic)), f64(graph, -0.5, "minus_half"))
    t = kernel_pca_project(graph, estimator.kernel_pca_, kernel)
    return {"transform": nan_on_non_finite_rows(graph, x64, t)}


#: Most neighbours of an exported LocallyLinearEmbedding (the solve is unrolled over them).
MAX_NEIGHBORS = 30


def solve_spd(graph: GraphBuilder, system: Var, k: int) -> Var:
    """``[batch, k]``: the solution of ``G w = ones`` for each ``[k, k]`` matrix of ``system`` ``[batch, k, k]``,
    by Gaussian elimination without pivoting (for symmetric positive definite ``G``), then back substitution."""
    g = graph
    first_column = g.gather(system, g.int64s([0], "first_column"), axis=2)  # [batch, k, 1]
    one = f64(g, 1.0, "one")
    ones = g.where(g.is_nan(first_column), one, one)
    m = g.concat([system, ones], axis=2)  # [batch, k, k + 1]
    for p in range(k - 1):
        pivot_row = g.gather(m, g.int64s([p], "pivot_row"), axis=1)  # [batch, 1, k + 1]
        pivot = g.gather(pivot_row, g.int64s([p], "pivot"), axis=2)  # [batch, 1, 1]
        factor = g.div(g.gather(m, g.int64s([p], "pivot_column"), axis=2), pivot)  # [batch, k, 1]
        below = g.const((np.arange(k) > p)[None, :, None], "below_pivot", dtype=np.bool_)
        m = g.where(below, g.sub(m, g.mul(factor, pivot_row)), m)
    upper = g.gather(m, g.int64s(list(range(k)), "system_columns"), axis=2)  # [batch, k, k]
    rhs = g.squeeze(g.gather(m, g.int64s([k], "rhs_column"), axis=2), [2])  # [batch, k]
    w = g.sub(rhs, rhs)  # zeros: unknowns not solved yet add nothing below
    for i in reversed(range(k)):
        row = g.squeeze(g.gather(upper, g.int64s([i], "upper_row"), axis=1), [1])  # [batch, k]
        known = g.reduce_sum(g.mul(row, w), [1], keepdims=True)
        diagonal = g.gather(row, g.int64s([i], "diagonal"), axis=1)
        value = g.div(g.sub(g.gather(rhs, g.int64s([i], "rhs"), axis=1), known), diagonal)
        w = g.where(g.const(np.arange(k)[None, :] == i, "unknown", dtype=np.bool_), value, w)
    return w


@converter(LocallyLinearEmbedding)
def convert_locally_linear_embedding(
    graph: GraphBuilder, estimator: LocallyLinearEmbedding, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: sklearn's barycenter weights of the ``n_neighbors`` nearest training rows applied to
    their ``embedding_`` rows (see the module docstring)."""
    k = int(estimator.n_neighbors)
    if k > MAX_NEIGHBORS:
        raise unsupported(
            estimator,
            "n_neighbors",
            k,
            f"the graph solves each row's k x k barycenter system by elimination unrolled over k; use "
            f"n_neighbors <= {MAX_NEIGHBORS}",
        )
    nbrs = estimator.nbrs_
    distances, stored = _setup(graph, nbrs, x, context)
    if k > len(stored):
        raise unsupported(estimator, "n_neighbors", k, f"use at most the {len(stored)} training rows")
    embedding = np.asarray(estimator.embedding_, dtype=np.float64)
    n_features = stored.shape[1]
    bound_run_memory(context, 8 * (3 * k * n_features + 6 * k * (k + 1) + 2 * k * embedding.shape[1]))
    g = graph
    _, index = kneighbors(g, distances, stored, k, _heap(nbrs, distances, stored, context))

    x64 = distances.x
    neighbours = g.gather(f64(g, stored, "fit_rows"), index)  # [batch, k, features]
    centred = g.sub(neighbours, g.unsqueeze(x64, [1]))
    gram = g.matmul(centred, g.transpose(centred, [0, 2, 1]))  # [batch, k, k]
    eye = np.eye(k)[None, :, :]
    diagonal = g.reduce_sum(g.mul(gram, f64(g, eye, "eye")), [2])  # [batch, k]: one nonzero term per sum
    trace = g.gather(diagonal, g.int64s([0], "trace_term"), axis=1)
    for i in range(1, k):  # np.trace: the diagonal added in order
        trace = g.add(trace, g.gather(diagonal, g.int64s([i], "trace_term"), axis=1))
    reg = f64(g, float(estimator.reg), "reg")
    ridge = g.where(g.greater(trace, f64(g, 0.0, "zero")), g.mul(reg, trace), reg)  # [batch, 1]
    gram = g.add(gram, g.mul(f64(g, eye, "eye"), g.unsqueeze(ridge, [2])))
    w = solve_spd(g, gram, k)
    w = g.div(w, g.reduce_sum(w, [1], keepdims=True))
    w = stored_in_dtype(g, w)  # sklearn's B has the input's dtype
    rows = g.gather(f64(g, embedding, "embedding"), index)  # [batch, k, components]
    out = g.squeeze(g.matmul(g.unsqueeze(w, [1]), rows), [1])
    return {"transform": g.where(g.unsqueeze(non_finite_rows(g, x64), [1]), f64(g, np.nan, "nan"), out)}
