"""Nearest neighbours: KNeighbors{Classifier,Regressor}, RadiusNeighbors{Classifier,Regressor} and
NearestCentroid, as a distance matrix to the stored training set followed by TopK (or a radius mask); and the
estimators built on the same search: LocalOutlierFactor (``novelty=True``), KernelDensity (a sum over every
stored row) and NeighborhoodComponentsAnalysis (a linear map).

Distances are computed in float64, the way sklearn computes them for the fitted algorithm:

* ``brute`` with the euclidean metric: ``max((|x|^2 - 2 x.y) + |y|^2, 0)`` (sklearn's GEMM form);
* every other case (kd_tree, ball_tree, and the manhattan, chebyshev and minkowski metrics): a sequential
  sum (or max) over the features of the per-feature terms, as sklearn's DistanceMetric loops do;
* cosine: ``1 - normalize(x) . normalize(y)``, clipped to ``[0, 2]``.

Neighbours are ranked by sklearn's "reduced" distance (squared euclidean, ``sum |d|^p`` for minkowski).

Ties: which of several training rows at the k-th distance sklearn 1.9 keeps, and what the graph keeps.

* Brute force with an ArgKmin metric (euclidean, manhattan, chebyshev, minkowski) on rows of the fitted dtype
  (float64 rows for a model fitted on float64 data): sklearn pushes the training rows, in index order, into a
  max-heap of k entries per query (``sklearn/utils/_heap.pyx``: a value ``>=`` the root is rejected, a smaller
  one replaces the root and sifts down). The rows kept among equal distances depend on the whole sequence,
  larger distances included: neither the lowest nor the highest indices in general. With at most 256 training
  rows (ArgKmin's chunk) that is sklearn's answer on any machine and batch; above, it is its answer with
  ``parallel_on_X`` (more queries than training rows, or more than ``4 * 256 * threads``, and always for the
  uniform votes of KNeighborsClassifier with a metric other than euclidean) or one thread, while with
  ``parallel_on_Y`` and several threads each thread keeps a heap over its chunks and they are merged (the
  answer depends on the thread count). Up to :data:`HEAP_MAX_ROWS` (8,192) training rows the graph reproduces
  the index-order heap exactly: the rows of a batch whose k-th and (k+1)-th distances are equal (picked by a
  TopK whose k is their count: :func:`_tied_rows`) take the same heap, run by an ONNX ``Loop``
  (:func:`sklearn_heap`) over the pushes it may accept only (:func:`accepted_pushes`: the heap accepts a value
  iff it is below the k-th smallest of the values pushed before it, and a rejected push changes nothing, so a
  superset of the accepted pushes, in order, gives the same heap; a blockwise prefix scan of the k smallest
  finds one, a few dozen pushes on most data); the other rows keep TopK. A batch without such a tie skips the
  heap (an ONNX ``If`` holds it). Tie-heavy data, every row tied, k = 5, this project's 2-core CPU machine:
  1,000 stored rows 18,600 rows/s, 4,000 stored rows 6,400 rows/s (a loop trip per stored row: 3,600 and 890),
  against 500,000 for TopK; continuous data does not slow down. Above, the graph keeps the lowest index (TopK
  returns equal values lowest index first, and the blocks below are merged in index order).
* kd_tree and ball_tree (what ``algorithm="auto"`` picks for up to 15 features and a metric the trees take): the
  same heap, fed in the order the query walks the tree (``_query_single_depthfirst``): depth first from the root,
  at an inner node the child with the smaller lower bound (``min_rdist``: to the node's box for a KDTree,
  ``max(0, d(x, centroid) - radius)`` for a BallTree) first, the left child when the bounds are equal, a leaf's
  rows in ``idx_array`` order. sklearn skips the nodes whose bound exceeds the heap's largest value; their rows
  are all farther than it and the heap would reject them, so pushing every row in the walk's order gives
  sklearn's heap (a BallTree bound taken from a rounded centroid could in principle exceed a row's distance by a
  rounding error and prune a tied row; no test data shows it). That order is a function of the fitted tree and
  the query only, on any machine, batch or thread count, whatever the dtype of the rows (the tree casts them to
  float64). With at most :data:`HEAP_MAX_ROWS` stored rows and a walk table of at most
  :data:`TREE_SHIFT_MAX_VALUES` values (inner nodes x stored rows: 2^22, about 1,000 inner nodes at 4,096
  rows; leaf_size 30 gives 127 at 8,192 rows) the graph reproduces it exactly for the tied rows: it computes
  the children's bounds with sklearn's float64 operations in sklearn's order, ranks the training rows by the
  walk (:class:`TreeOrder`: ``position in idx_array + swapped children @ shift``, a matrix product of small
  integers, exact), sorts them and runs the heap in that order, on the pushes it may accept only. Tie-heavy
  data: KDTree of 1,000 rows 10,500 rows/s, 4,000 rows 2,800 (a loop trip per stored row: 3,400 and 580);
  continuous data pays only the tie test (the walk, like the heap, is inside the ``If``: a KDTree of 200 rows,
  3 features, batch of 1: 27 us per predict_proba). Above those bounds the graph keeps the lowest index.
* Rows of another dtype than the fitted data (float32 rows on a float64 model: what a float32 graph is
  validated against) on brute force, and the cosine metric: sklearn takes ``np.argpartition`` then
  ``np.argsort`` of the distance matrix (numpy's introselect, CPU-dependent). The graph keeps its rule above.
* Equal distances are equal in both only when both round them alike. Brute euclidean computes
  ``(|x|^2 + (-2 x.y)) + |y|^2`` in float64 in both, but the dot products' summation order (BLAS against ONNX
  Runtime's MatMul and ReduceSum) may differ in the last bit on data whose products and sums are not exact;
  the other metrics are summed feature by feature in both (``pow`` as C's ``pow``: the graph gives ONNX
  Runtime's Pow an exponent tensor, not a scalar, which it would compute as ``x * x * x`` for 3). On data
  where they are exact (integers, halves…) ties are ties in both, and tests/test_neighbor_ties.py checks
  every rule above on such data. The tree walk's bounds are computed as sklearn computes them, so equal
  bounds are equal in both too (a BallTree's centroids and radii are stored as sklearn holds them).
* Predictions differ only when the tied rows carry different targets. With ``weights="distance"`` a query at
  distance zero from training rows gives those weight 1 and the others 0, as sklearn; votes equal in exact
  arithmetic are decided by the summation order (sklearn's is its neighbour order), so labels may differ
  there, which validation counts as near ties.
* Radius models keep the training rows with ``reduced distance <= reduced radius`` (``r^2``, ``r^p``) on every
  sklearn path, and so does the graph; ball_tree prunes whole nodes with bounds taken from their centroid,
  whose rounding can leave out a row exactly at the radius.
Memory is bounded by processing the stored set in blocks of :data:`BLOCK_ROWS` training rows inside the
graph: each block's ``[batch, BLOCK_ROWS]`` float64 distances are reduced to their k best (or, for radius
models, to per-class or per-target sums) before the next block. Peak memory is therefore about
``3 * 8 * min(n_train, BLOCK_ROWS)`` bytes per input row of a run (``10 * 8 * n_train`` with the heap replay,
at most 8,192 rows), whatever the training set size (bound the rows per run with ``CompiledModel.chunk_rows``); the
model's rows per run (metadata ``max_chunk_rows``) are bounded so that one run holds at most
``_pairwise.RUN_MEMORY_BYTES`` of them, the rule KernelPCA, Nystroem and the kernel SVMs follow too. Training
sets above :data:`MAX_STORED_ROWS` rows or ``_pairwise.MAX_STORED_VALUES`` stored values are refused: the graph
stores them as float64 constants.

Neighbour graphs: ``transform`` of KNeighborsTransformer and RadiusNeighborsTransformer.

sklearn's ``transform(X)`` returns a sparse CSR ``[n_queries, n_samples_fit]`` matrix; the graph returns it
dense (``toarray()``): each row holds its neighbours' values at their training indices and zeros elsewhere.

* ``KNeighborsTransformer``: ``kneighbors_graph(X, mode, n_neighbors + (mode == "distance"))``. ``X`` is
  given, so nothing is removed: a query equal to a training row has that row among its neighbours, at
  distance 0, which CSR stores explicitly and ``toarray()`` shows as 0, as the graph does. ``"distance"``
  fills the ``n_neighbors + 1`` neighbours' distances, ``"connectivity"`` a 1 at each of the ``n_neighbors``.
  The neighbours are :func:`sk2tensor.converters.neighbors.kneighbors`'s, with its distances and its rules for
  training rows tied at the k-th distance (its module docstring): sklearn's heap replayed for brute force on
  rows of the fitted dtype and for kd_tree and ball_tree, up to 8,192 training rows; elsewhere the graph keeps
  the lowest training index, while sklearn's choice comes from numpy's ``argpartition`` (float32 rows on a
  brute-force model fitted on float64, the cosine metric) or from a heap the graph does not replay (larger
  sets). A tie changes which column holds the value, so such rows can differ from sklearn there.
* ``RadiusNeighborsTransformer``: ``radius_neighbors_graph(X, mode, sort_results=True)``: the training rows
  with ``reduced distance <= reduced radius`` (as the radius neighbour converters), their distances or 1. The
  order in which CSR sorts them does not show in the dense matrix.

The dense matrix of the k nearest is ``ScatterElements`` (default domain, opset 11) of the neighbours' values
(distances, or ones) at their columns into a ``[batch, n_samples_fit]`` zero matrix. That matrix is made without
shape operators, as a ``[batch, 1]`` column (0, or NaN for rows sklearn rejects) plus a ``[1, n]`` zero
constant. Exact (values are copied; a row's k indices are distinct, so no two writes meet) and cheap: one
``[batch, n]`` pass plus ``O(batch * k)`` writes. The other plain-op form, ``ReduceSum_k(Where(index[:, :, None]
== arange(n), value[:, :, None], 0))``, is exact too (each column sums one value with zeros) but costs
``O(batch * k * n)``: 3 times slower than the scatter for 5 neighbours among 5,000 rows (2,000 rows: 0.25 s
against 0.07 s, of which the search takes 0.05 s, on this project's 2-core CPU machine).

Distances are those of :mod:`sk2tensor.converters.neighbors` (float64, sklearn's operations for the fitted
algorithm and metric). sklearn's brute-force euclidean distance is ``sqrt(|x|^2 - 2 x.y + |y|^2)``: a query equal
to a training row can get a rounding residue instead of 0 (and the graph another one, its dot products summed in
another order), which the square root magnifies (about ``1e-8 * |x|``): a float64 export of such a model
validated on its training rows may be refused (the brute-force cosine distance ``1 - cos`` has a residue too);
kd_tree, ball_tree and the manhattan, chebyshev and minkowski metrics give an exact 0.

Supported metrics: euclidean, manhattan, chebyshev, minkowski (any p) and cosine (brute force); ``precomputed``,
callables and other metric names are refused. Rows holding NaN or an infinity, which sklearn rejects, give NaN
in every column.

Memory: the output is ``[batch, n_samples_fit]`` float64; the rows of one run are bounded (metadata
``max_chunk_rows``) so that it, the zero matrix it is written into and the search's blocks stay within
``_pairwise.RUN_MEMORY_BYTES`` (and the heap replay's tables, as the neighbour converters bound them), and
stored sets above the neighbour converters' limits (2^18 rows, 2^25 values) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.neighbors import (
    KernelDensity,
    KNeighborsClassifier,
    KNeighborsRegressor,
    KNeighborsTransformer,
    LocalOutlierFactor,
    NearestCentroid,
    NeighborhoodComponentsAnalysis,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
    RadiusNeighborsTransformer,
)

from sk2tensor.converters._numeric import stored as stored_in_dtype
from sk2tensor.converters._pairwise import MAX_STORED_VALUES, as_f64, bound_run_memory, f64, row_squared_norms
from sk2tensor.converters.heads import check_numeric_labels
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, label_encoding, unsupported
from sk2tensor.versions import sklearn_before

#: Training rows per block of the in-graph neighbour search.
BLOCK_ROWS = 2048
#: Most stored rows for which a graph reproduces sklearn's heap on ties at the k-th neighbour: the replay holds
#: about ten ``[tied rows, n_stored]`` float64 or int64 tensors, and the rows of a run are bounded by them
#: (``_pairwise.RUN_MEMORY_BYTES``: at least 1,638 rows at 8,192 stored rows).
HEAP_MAX_ROWS = 8192
#: Most values of a tree walk's ``[inner nodes, n_stored]`` shift table (:class:`TreeOrder`, 32 MiB in float64).
TREE_SHIFT_MAX_VALUES = 1 << 22
#: Columns per block of the replay's candidate filter (:func:`accepted_pushes`).
SCAN_BLOCK = 32
#: Most values of a tree walk's ``[inner nodes, n_stored]`` shift table (:class:`TreeOrder`, 16 MiB in float64).
TREE_SHIFT_MAX_VALUES = 1 << 21
#: Largest training set (rows) a neighbours graph stores (and at most ``_pairwise.MAX_STORED_VALUES`` values).
MAX_STORED_ROWS = 1 << 18

_METRIC_NAMES = {
    "euclidean": "euclidean",
    "l2": "euclidean",
    "manhattan": "manhattan",
    "cityblock": "manhattan",
    "l1": "manhattan",
    "chebyshev": "chebyshev",
    "infinity": "chebyshev",
    "minkowski": "minkowski",
    "p": "minkowski",
    "cosine": "cosine",
}


@dataclass(frozen=True)
class Metric:
    """A distance as sklearn computes it for one fitted estimator."""

    name: str  # euclidean, manhattan, chebyshev, minkowski, cosine
    p: float = 2.0
    gemm: bool = False  # euclidean through |x|^2 - 2 x.y + |y|^2 (sklearn's brute force)

    def reduced(self, distance: float) -> float:
        """sklearn's ``_dist_to_rdist``: the ranking key of a distance (used for radii)."""
        if self.name == "euclidean":
            return distance * distance
        if self.name == "minkowski":
            return distance**self.p
        return distance


def metric_of(estimator: object, metric: object, params: dict | None, fit_method: str) -> Metric:
    """The metric a fitted neighbours estimator uses (its ``effective_metric_`` and parameters)."""
    params = dict(params or {})
    name = _METRIC_NAMES.get(metric) if isinstance(metric, str) else None
    if name is None:
        raise unsupported(
            estimator,
            "metric",
            metric if isinstance(metric, str) else getattr(metric, "__name__", metric),
            "use euclidean, manhattan, chebyshev, minkowski (any p) or cosine",
        )
    if params.get("w") is not None:
        raise unsupported(estimator, "metric_params", params, "weighted minkowski (w) is not supported")
    extra = set(params) - {"p", "w"}
    if extra:
        raise unsupported(estimator, "metric_params", params, "only p is supported")
    p = float(params.get("p", 2.0))
    if name == "minkowski":
        if p == 2.0:
            name = "euclidean"
        elif p == 1.0:
            name = "manhattan"
        elif np.isinf(p):
            name = "chebyshev"
    return Metric(name, p, gemm=name == "euclidean" and fit_method == "brute")


def _stored(estimator: object, rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) > MAX_STORED_ROWS or rows.size > MAX_STORED_VALUES:
        raise UnsupportedParameterError(
            f"{type(estimator).__name__} stores {rows.shape[0]} training rows of {rows.shape[1]} features; "
            f"sk2tensor stores at most {MAX_STORED_ROWS} rows and {MAX_STORED_VALUES} values in a graph"
        )
    return rows


class _Distances:
    """Reduced distances from the input rows to blocks of stored rows, shared input-side terms computed once."""

    def __init__(self, graph: GraphBuilder, x: Var, metric: Metric, n_features: int) -> None:
        self.graph, self.metric = graph, metric
        self.x = as_f64(graph, x)
        self._columns: list[Var] | None = None
        self._norms: Var | None = None
        self._normalized: Var | None = None
        self.n_features = n_features

    def columns(self) -> list[Var]:
        if self._columns is None:
            g = self.graph
            self._columns = [g.gather(self.x, g.int64s([j], "feature"), axis=1) for j in range(self.n_features)]
        return self._columns

    def reduced(self, block: np.ndarray) -> Var:
        """``[batch, len(block)]`` ranking keys (sklearn's reduced distances) to the stored ``block``."""
        g, metric = self.graph, self.metric
        if metric.gemm:
            if self._norms is None:
                self._norms = row_squared_norms(g, self.x)
            middle = g.matmul(self.x, f64(g, (-2.0 * block).T, "minus_2_stored_t"))
            yy = np.einsum("ij,ij->i", block, block)[None, :]
            d = g.add(g.add(self._norms, middle), f64(g, yy, "stored_sq_norms"))
            return g.max(d, f64(g, 0.0, "zero"))
        if metric.name == "cosine":
            if self._normalized is None:
                norms = g.sqrt(row_squared_norms(g, self.x))
                tiny = g.less(norms, f64(g, 10 * np.finfo(np.float64).eps, "tiny_norm"))
                self._normalized = g.div(self.x, g.where(tiny, f64(g, 1.0, "one"), norms))
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            norms[norms < 10 * np.finfo(np.float64).eps] = 1.0
            similarity = g.matmul(self._normalized, f64(g, (block / norms[:, None]).T, "stored_normalized_t"))
            d = g.add(g.neg(similarity), f64(g, 1.0, "one"))
            return g.clip(d, f64(g, 0.0, "zero"), f64(g, 2.0, "two"))
        # Sequential over the features, as sklearn's DistanceMetric loops.
        total = None
        for j, column in enumerate(self.columns()):
            diff = g.sub(column, f64(g, block[:, j][None, :], "stored_feature"))
            if metric.name == "euclidean":
                term = g.mul(diff, diff)
            elif metric.name == "minkowski":
                # An exponent of the operand's shape: ONNX Runtime computes a scalar exponent 3 as x * x * x,
                # C's pow (sklearn's) does not; a full exponent tensor goes through std::pow.
                term = g.pow(g.abs(diff), f64(g, np.full((1, len(block)), metric.p), "p"))
            else:
                term = g.abs(diff)
            if total is None:
                total = term
            elif metric.name == "chebyshev":
                total = g.max(total, term)
            else:
                total = g.add(total, term)
        return total

    def distance(self, reduced: Var) -> Var:
        """sklearn's ``_rdist_to_dist``."""
        g, metric = self.graph, self.metric
        if metric.name == "euclidean":
            return g.sqrt(reduced)
        if metric.name == "minkowski":
            return g.pow(reduced, f64(g, 1.0 / metric.p, "inverse_p"))
        return reduced


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(start, min(start + BLOCK_ROWS, n)) for start in range(0, n, BLOCK_ROWS)]


def sklearn_heap(graph: GraphBuilder, reduced: Var, n: int | Var, k: int) -> tuple[Var, Var]:
    """sklearn's ``heap_push`` of columns ``0 .. n-1`` of ``reduced`` ``[batch, n]``, in that order, into a
    fixed-size max-heap of ``k`` entries (``sklearn/utils/_heap.pyx``, the heap of its ArgKmin reduction): an
    ONNX ``Loop`` over the stored rows, each row of the batch with its own heap. Returns the heap's reduced
    distances and training indices ``[batch, k]``, in heap order (not sorted).

    A value is pushed only when it is below the heap's root (``val >= root`` is rejected), replaces the root
    and sifts down (to the larger child, the left one when both are equal, while that child is larger than
    the value). Which of several points at the k-th distance stay therefore depends on the whole sequence,
    larger distances included: neither the lowest nor the highest index in general. ``n`` may be an int64
    ``[1]`` value computed in the graph (the loop's trip count).
    """
    g = graph
    first = g.gather(reduced, g.int64s([0] * k, "heap_width"), axis=1)  # [batch, k]
    zeros = g.cast(g.less(first, first), np.float64)  # [batch, k] zeros, also for NaN rows
    start_values = g.add(zeros, g.const(np.finfo(np.float64).max, "dbl_max", dtype=np.float64))  # as sklearn
    start_indices = g.cast(zeros, np.int64)
    positions = g.const(np.arange(k, dtype=np.int64)[None, :], "heap_positions", dtype=np.int64)
    levels = k.bit_length() - 1  # sift-down steps from the root to the deepest position < k

    def push(sub: GraphBuilder, values: Var, indices: Var, j: Var) -> tuple[Var, list[Var]]:
        v = sub.gather(reduced, j, axis=1)  # [batch, 1]
        accepted = sub.less(v, sub.gather(values, sub.int64s([0], "root"), axis=1))
        done = sub.logical_not(accepted)
        current = sub.cast(sub.less(v, v), np.int64)  # the root: [batch, 1] zeros
        for _ in range(levels):
            one, two = sub.const(np.int64(1), "one_i", np.int64), sub.const(np.int64(2), "two_i", np.int64)
            size, last = sub.const(np.int64(k), "heap_size", np.int64), sub.const(np.int64(k - 1), "last", np.int64)
            left = sub.add(sub.mul(current, two), one)
            right = sub.add(left, one)
            v_left = sub.gather_elements(values, sub.min(left, last), axis=1)
            v_right = sub.gather_elements(values, sub.min(right, last), axis=1)
            to_right = sub.logical_and(sub.less(right, size), sub.less(v_left, v_right))
            child = sub.where(to_right, right, left)
            v_child = sub.where(to_right, v_right, v_left)
            move = sub.logical_and(sub.logical_and(sub.logical_not(done), sub.less(left, size)), sub.less(v, v_child))
            at = sub.logical_and(sub.equal(positions, current), move)  # [batch, k]
            values = sub.where(at, v_child, values)
            indices = sub.where(at, sub.gather_elements(indices, sub.min(child, last), axis=1), indices)
            current = sub.where(move, child, current)
            done = sub.logical_not(move)
        at = sub.logical_and(sub.equal(positions, current), accepted)
        values = sub.where(at, v, values)
        indices = sub.where(at, sub.reshape(j, [1, 1]), indices)
        return sub.const(np.bool_(True), "true", dtype=np.bool_), [values, indices, sub.add(j, sub.int64s([1]))]

    values, indices, _ = graph.loop(
        n, [start_values, start_indices, graph.int64s([0], "first_row")], [2, 2, 1], push, hint="heap"
    )
    return values, indices


def accepted_pushes(graph: GraphBuilder, reduced: Var, n: int, k: int) -> tuple[Var, Var]:
    """A superset of the pushes sklearn's heap accepts among columns ``0 .. n-1`` of ``reduced`` ``[rows, n]``,
    pushed in that order: ``positions`` ``[rows, c]`` int64 (each row's candidate columns in order, then other
    columns) and ``c`` (``[1]`` int64: the most candidates of a row).

    The heap accepts ``v_t`` iff ``v_t`` is below its root, and its root before push ``t`` is the k-th smallest
    of ``v_0 .. v_(t-1)`` (DBL_MAX while fewer than k), whatever the heap's arrangement; a rejected push leaves
    the heap as it was. So pushing any superset of the accepted values, in order, gives the same heap (each
    extra push finds the heap it found in the full sequence and is rejected again), and so does pushing the
    other columns after it (the root never grows). The candidates: the columns below the root at the start of
    their block of :data:`SCAN_BLOCK` columns (it only decreases along the block), that root the k-th smallest
    of the earlier blocks: each block's k smallest (a TopK), then an exclusive prefix over the blocks
    (Hillis-Steele: ``ceil(log2 blocks)`` steps, each merging the running ``[rows, blocks, k]`` lists with a copy
    shifted by ``2^j`` blocks, DBL_MAX in front, by a TopK of the k smallest).
    """
    g = graph
    dbl_max = g.const(np.finfo(np.float64).max, "dbl_max", dtype=np.float64)

    def filler(a: Var) -> Var:  # DBL_MAX of a's shape (a < a is false, NaN included)
        return g.where(g.less(a, a), a, dbl_max)

    def shifted(a: Var, s: int, width: int) -> Var:  # a[:, t - s] along axis 1, DBL_MAX for t < s
        front = filler(g.gather(a, g.int64s(list(range(s)), "scan_front"), axis=1))
        if s >= width:
            return front
        return g.concat([front, g.gather(a, g.int64s(list(range(width - s)), "scan_body"), axis=1)], axis=1)

    size = max(SCAN_BLOCK, k)
    blocks = -(-n // size)
    padded = reduced
    if blocks * size > n:
        padded = g.concat([reduced, filler(g.gather(reduced, g.int64s([0] * (blocks * size - n)), axis=1))], axis=1)
    best, _ = g.topk(g.reshape(padded, [0, blocks, size]), k, axis=2, largest=False)  # [rows, blocks, k]
    lists, s = shifted(best, 1, blocks), 1  # the k smallest of block b - 1, then of blocks b - 2s + 1 .. b - 1
    while s < blocks - 1:
        lists, _ = g.topk(g.concat([lists, shifted(lists, s, blocks)], axis=2), k, axis=2, largest=False)
        s *= 2
    root = g.squeeze(g.gather(lists, g.int64s([k - 1], "kth"), axis=2), [2])  # [rows, blocks]
    root = g.gather(root, g.int64s((np.arange(n) // size).tolist(), "column_block"), axis=1)  # [rows, n]
    candidate = g.less(reduced, root)
    count = g.reduce_max(g.reduce_sum(g.cast(candidate, np.int64), [1]), [0], keepdims=True)  # [1]
    count = g.max(count, g.const(np.array([1], dtype=np.int64), "one_row", dtype=np.int64))
    # Candidates first, in order (keys 2n - t), then the other columns (keys n - t).
    t = np.arange(n, dtype=np.float64)[None, :]
    key = g.where(candidate, f64(g, 2 * n - t, "candidate_key"), f64(g, n - t, "other_key"))
    _, positions = g.topk(key, count, axis=1)
    return positions, count


def _heap_applies(estimator: object, metric: Metric, n_stored: int) -> bool | TreeOrder:
    """How sklearn's ``kneighbors`` feeds its heap, when the graph reproduces it: ``True`` for brute force (an
    ArgKmin metric, not cosine: one heap in index order, sklearn's answer with one ArgKmin chunk of at most 256
    rows, or above with ``parallel_on_X``), a :class:`TreeOrder` for a KDTree or BallTree (the query's
    depth-first walk of the tree, whose shift table holds at most :data:`TREE_SHIFT_MAX_VALUES` values), ``False``
    otherwise; at most :data:`HEAP_MAX_ROWS` stored rows."""
    method = getattr(estimator, "_fit_method", None)
    if metric.name == "cosine" or n_stored > HEAP_MAX_ROWS:
        return False
    if method == "brute":
        return True
    if method in ("kd_tree", "ball_tree"):
        inner = int(np.count_nonzero(np.asarray(estimator._tree.get_arrays()[2]["is_leaf"]) == 0))
        return TreeOrder.of(estimator._tree, method, metric) if inner * n_stored <= TREE_SHIFT_MAX_VALUES else False
    return False


@dataclass(frozen=True, eq=False)
class TreeOrder:
    """The order in which sklearn's KDTree/BallTree ``query`` (``_query_single_depthfirst``) pushes the
    training rows into a query's heap, as constant tables.

    The query walks the tree depth first from the root; at an inner node it enters first the child whose
    lower bound on the reduced distance (``min_rdist``) is smaller, the left one when both are equal, and
    in a leaf it pushes the rows in ``idx_array`` order. It skips (prunes) a node whose bound exceeds the
    heap's largest value; the rows of such a node are all farther than that value, so the heap would reject
    them anyway: pushing every row in the walk's order keeps the same heap. The rank of training row ``i``
    in the walk is its position in ``idx_array`` plus, for every inner node ``a`` above it whose children
    the query swaps (right child first), ``+size(right)`` if the row is in the left child and
    ``-size(left)`` if it is in the right one: ``rank = position + swapped @ shift``.
    """

    kind: str  # kd_tree or ball_tree
    metric: Metric
    # Per child node of the m inner nodes (left children, then right ones): kd_tree: the box's lower and upper
    # bounds, [n_features, 2 m] each; ball_tree: the centroids [n_features, 2 m] and the radii [2 m].
    first: np.ndarray = field(repr=False)
    second: np.ndarray = field(repr=False)
    position: np.ndarray = field(repr=False)  # [n] float64: each training row's position in idx_array
    shift: np.ndarray = field(repr=False)  # [m, n] float64

    @classmethod
    def of(cls, tree: object, kind: str, metric: Metric) -> TreeOrder:
        _, idx_array, node_data, node_bounds = tree.get_arrays()
        n = len(idx_array)
        position = np.empty(n, dtype=np.float64)
        position[np.asarray(idx_array)] = np.arange(n, dtype=np.float64)
        inner: list[int] = []
        stack = [0]
        while stack:  # inner nodes reachable from the root (a leaf's descendants are never visited)
            node = stack.pop()
            if not node_data["is_leaf"][node]:
                inner.append(node)
                stack += [2 * node + 1, 2 * node + 2]
        inner.sort()
        shift = np.zeros((len(inner), n), dtype=np.float64)
        for row, node in enumerate(inner):
            left, right = (node_data[c] for c in (2 * node + 1, 2 * node + 2))
            shift[row, idx_array[left["idx_start"] : left["idx_end"]]] = right["idx_end"] - right["idx_start"]
            shift[row, idx_array[right["idx_start"] : right["idx_end"]]] = left["idx_start"] - left["idx_end"]
        children = np.array([2 * a + 1 for a in inner] + [2 * a + 2 for a in inner], dtype=np.int64)
        bounds = np.asarray(node_bounds, dtype=np.float64)
        if kind == "kd_tree":
            first, second = bounds[0, children].T.copy(), bounds[1, children].T.copy()
        else:
            first, second = bounds[0, children].T.copy(), np.asarray(node_data["radius"][children], np.float64)
        return cls(kind, metric, first, second, position, shift)

    @property
    def p(self) -> float:
        """The tree's ``dist_metric.p``."""
        return {"euclidean": 2.0, "manhattan": 1.0, "chebyshev": np.inf}.get(self.metric.name, self.metric.p)

    def lower_bounds(self, graph: GraphBuilder, columns: list[Var]) -> Var:
        """``[batch, 2 m]`` sklearn's ``min_rdist`` from each input row to each child node, its float64
        operations in its order (``min_rdist`` of ``_kd_tree.pyx.tp`` and ``_ball_tree.pyx.tp``)."""
        g, p, width = graph, self.p, self.first.shape[1]

        def power(value: Var, exponent: float) -> Var:
            # An exponent tensor of the operand's width: ONNX Runtime computes a scalar exponent 2 or 3 as
            # x * x (* x), which C's pow (sklearn's) does not round alike; an exponent tensor takes std::pow.
            return g.pow(value, f64(g, np.full((1, width), exponent), "tree_exponent"))

        def accumulate(total: Var | None, term: Var) -> Var:
            # sklearn starts from 0.0, and 0.0 + t and fmax(0.0, t) are t for t >= 0.
            if total is None:
                return term
            return g.max(total, term) if p == np.inf else g.add(total, term)

        total = None
        for j, column in enumerate(columns):
            if self.kind == "kd_tree":  # the box [first, second]: sum (or max) of pow(0.5 * d, p)
                d_lo = g.sub(f64(g, self.first[j][None, :], "node_low"), column)
                d_hi = g.sub(column, f64(g, self.second[j][None, :], "node_high"))
                term = g.mul(f64(g, 0.5, "half"), g.add(g.add(d_lo, g.abs(d_lo)), g.add(d_hi, g.abs(d_hi))))
                total = accumulate(total, term if p in (1.0, np.inf) else power(term, p))
            else:  # the ball: the distance to the centroid, as the tree's dist
                diff = g.sub(column, f64(g, self.first[j][None, :], "node_centroid"))
                if p == 2.0:
                    total = accumulate(total, g.mul(diff, diff))
                elif p in (1.0, np.inf):
                    total = accumulate(total, g.abs(diff))
                else:
                    total = accumulate(total, power(g.abs(diff), p))
        if self.kind == "kd_tree":
            return total
        if p == 2.0:
            total = g.sqrt(total)
        elif p not in (1.0, np.inf):
            total = power(total, 1.0 / p)
        gap = g.max(g.sub(total, f64(g, self.second[None, :], "node_radius")), f64(g, 0.0, "zero"))
        if p == 2.0:
            return g.mul(gap, gap)
        return gap if p in (1.0, np.inf) else power(gap, p)

    def order(self, graph: GraphBuilder, columns: list[Var]) -> Var:
        """The training rows in the order the query of each input row visits them: ``[batch, n]`` int64, or
        ``[n]`` (the same for every row) when the tree is a single leaf."""
        g, m = graph, self.shift.shape[0]
        if m == 0:
            return g.int64s(np.argsort(self.position).tolist(), "idx_array")
        bounds = self.lower_bounds(g, columns)
        left = g.gather(bounds, g.int64s(list(range(m)), "left_children"), axis=1)
        right = g.gather(bounds, g.int64s(list(range(m, 2 * m)), "right_children"), axis=1)
        swapped = g.cast(g.logical_not(g.less_equal(left, right)), np.float64)  # [batch, m]
        rank = g.add(g.matmul(swapped, f64(g, self.shift, "tree_shift")), f64(g, self.position[None, :], "position"))
        _, order = g.topk(rank, len(self.position), largest=False)  # ranks are 0 .. n-1, exact in float64
        return order


def kneighbors(
    graph: GraphBuilder, distances: _Distances, stored: np.ndarray, k: int, heap: bool | TreeOrder = False
) -> tuple[Var, Var]:
    """Distances ``[batch, k]`` and training indices ``[batch, k]`` of the k nearest stored rows.

    Without ``heap``, ascending, and equal distances go to the lower training index. With ``heap`` (see
    :func:`_heap_applies`), the rows of the batch where the k-th and (k+1)-th distances are equal (a tie at
    the k-th neighbour) take the neighbours sklearn's heap keeps (:func:`sklearn_heap`), fed the training
    rows in index order (brute force) or in each row's walk of the tree (a :class:`TreeOrder`); the loop and
    the walk run on those rows only, and not at all (an ``If``) when no row of the batch has such a tie.
    """
    values, indices, blocks = [], [], []
    heap = heap if len(stored) > k else False
    extra = 1 if heap else 0  # the (k+1)-th distance, to find ties at the k-th
    for start, stop in _blocks(len(stored)):
        reduced = distances.reduced(stored[start:stop])
        blocks.append(reduced)
        v, i = graph.topk(reduced, min(k + extra, stop - start), largest=False)
        if start:
            i = graph.add(i, graph.const(np.int64(start), "block_start", dtype=np.int64))
        values.append(v)
        indices.append(i)
    if len(values) == 1:
        v, i = values[0], indices[0]
    else:
        # Blocks are concatenated in index order and TopK keeps equal values in position order, so equal
        # distances still go to the lower training index.
        v, position = graph.topk(graph.concat(values, axis=1), k + extra, largest=False)
        i = graph.gather_elements(graph.concat(indices, axis=1), position, axis=1)
    if heap:
        reduced = blocks[0] if len(blocks) == 1 else graph.concat(blocks, axis=1)
        kth, next_one = (graph.gather(v, graph.int64s([c]), axis=1) for c in (k - 1, k))
        tied = graph.equal(kth, next_one)  # [batch, 1]
        first_k = graph.int64s(list(range(k)), "first_k")
        v, i = graph.gather(v, first_k, axis=1), graph.gather(i, first_k, axis=1)
        any_tie = graph.greater(
            graph.reduce_max(graph.cast(tied, np.int64), [0, 1]), graph.const(np.int64(0), "zero_i", dtype=np.int64)
        )
        # Only a batch with a tie runs the heap (an If), and on its tied rows only.
        v, i = graph.if_(
            any_tie,
            lambda g: _heap_on_tied_rows(g, heap, distances, reduced, tied, len(stored), k, v, i),
            lambda g: [v, i],
            [2, 2],
            hint="ties",
        )
    return distances.distance(v), i


def _heap_on_tied_rows(
    graph: GraphBuilder,
    heap: bool | TreeOrder,
    distances: _Distances,
    reduced: Var,
    tied: Var,
    n: int,
    k: int,
    v: Var,
    i: Var,
) -> list[Var]:
    """``v, i`` (the TopK's k nearest) with the rows where ``tied`` holds replaced by sklearn's heap: fed in
    index order (brute force) or in each row's walk of the fitted tree (``heap`` a :class:`TreeOrder`)."""
    rows, slot = _tied_rows(graph, tied)
    reduced = graph.gather(reduced, rows, axis=0)  # [tied rows, n]
    if isinstance(heap, TreeOrder):
        x = graph.gather(distances.x, rows, axis=0)
        columns = [graph.gather(x, graph.int64s([j], "feature"), axis=1) for j in range(distances.n_features)]
        order = heap.order(graph, columns)  # each tied row's walk of the tree
        take = graph.gather if heap.shift.shape[0] == 0 else graph.gather_elements  # [n] or [tied rows, n]
        heap_values, walk = _accepted_heap(graph, take(reduced, order, axis=1), n, k)
        heap_indices = take(order, walk, axis=0 if heap.shift.shape[0] == 0 else 1)
    else:
        heap_values, heap_indices = _accepted_heap(graph, reduced, n, k)
    heap_values, heap_indices = graph.gather(heap_values, slot, axis=0), graph.gather(heap_indices, slot, axis=0)
    return [graph.where(tied, heap_values, v), graph.where(tied, heap_indices, i)]


def _accepted_heap(graph: GraphBuilder, reduced: Var, n: int, k: int) -> tuple[Var, Var]:
    """:func:`sklearn_heap` of the ``n`` columns of ``reduced``, a loop trip per accepted push only
    (:func:`accepted_pushes`): the heap's values and the columns it keeps."""
    positions, count = accepted_pushes(graph, reduced, n, k)
    values, at = sklearn_heap(graph, graph.gather_elements(reduced, positions, axis=1), count, k)
    return values, graph.gather_elements(positions, at, axis=1)


def _tied_rows(graph: GraphBuilder, tied: Var) -> tuple[Var, Var]:
    """The rows of the batch where ``tied`` (``[batch, 1]`` bool) holds, for a computation on them only:
    ``rows`` (``[m]`` int64, ascending; row 0 alone when none is tied, so that ``m >= 1`` on a non-empty batch)
    and ``slot`` (``[batch]`` int64: where each tied row sits in ``rows``; 0 for the others). A TopK whose
    ``k`` is the count of tied rows picks them: its shape comes from the data, with no shape operator."""
    g = graph
    flag = g.squeeze(g.cast(tied, np.float64), [1])  # [batch]
    count = g.reduce_sum(g.cast(tied, np.int64), [0])  # [1]
    batch = g.reduce_sum(g.cast(g.equal(flag, flag), np.int64), [0], keepdims=True)  # [1]
    one = g.const(np.array([1], dtype=np.int64), "one_row", dtype=np.int64)
    k = g.min(g.max(count, one), batch)
    # Equal values come out lowest index first (ONNX TopK), so the rows are ascending.
    _, rows = g.topk(flag, k, axis=0)
    slot = g.sub(g.cumsum(g.squeeze(g.cast(tied, np.int64), [1]), axis=0), g.const(np.int64(1), "one_i", np.int64))
    return rows, g.max(slot, g.const(np.int64(0), "zero_i", dtype=np.int64))


def _heap(estimator: object, distances: _Distances, stored: np.ndarray, context: ConversionContext) -> bool | TreeOrder:
    """:func:`_heap_applies`, with the run's memory bound raised for the replay: its tied rows hold about ten
    ``[n_stored]`` float64 or int64 vectors each (the distances, the candidate filter and its compaction; for a
    tree walk the bounds, ranks and walk order)."""
    heap = _heap_applies(estimator, distances.metric, len(stored))
    if heap:
        bound_run_memory(context, 10 * 8 * len(stored))
    return heap


def _distance_weights(graph: GraphBuilder, dist: Var) -> Var:
    """sklearn's ``_get_weights(dist, "distance")``: ``1 / d``, or, in a row holding a zero distance, 1 for
    the exact matches and 0 for the others."""
    zero = graph.const(0.0, "zero", dtype=np.float64)
    exact = graph.cast(graph.equal(dist, zero), np.float64)
    any_exact = graph.greater(graph.reduce_max(exact, [1], keepdims=True), zero)
    return graph.where(any_exact, exact, graph.div(graph.const(1.0, "one", dtype=np.float64), dist))


def _check_weights(estimator: object) -> str:
    if estimator.weights not in ("uniform", "distance"):
        name = getattr(estimator.weights, "__name__", estimator.weights)
        raise unsupported(estimator, "weights", name, "use 'uniform' or 'distance'")
    return estimator.weights


def _output_classes(estimator: object) -> list[np.ndarray]:
    """The classes of each output: one array for a 1-D target, one per column of a 2-D one.

    A multi-output ``predict`` is one ``[batch, n_outputs]`` tensor of the labels themselves, so every output
    needs numeric (integer, float or boolean) labels.
    """
    if not getattr(estimator, "outputs_2d_", False):
        return [np.asarray(estimator.classes_)]
    classes = [np.asarray(c) for c in estimator.classes_]
    check_numeric_labels(estimator, classes)
    return classes


def _train_codes(estimator: object) -> np.ndarray:
    """``[n_train, n_outputs]`` int64 class indices of the training rows."""
    y = np.asarray(estimator._y, dtype=np.int64)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def _label_columns(graph: GraphBuilder, all_classes: list[np.ndarray], labels: list[Var]) -> Var:
    """A multi-output ``predict``: ``[batch, n_outputs]`` labels, int64 when every output's labels are
    integers, float64 otherwise (the model casts it to the dtype sklearn returns)."""
    integer = all(c.dtype.kind in "iu" for c in all_classes)
    dtype = np.int64 if integer else np.float64
    return graph.concat([graph.unsqueeze(graph.cast(label, dtype), [1]) for label in labels], axis=1)


def _labels_of(graph: GraphBuilder, classes: np.ndarray, index: Var, dtype: type) -> Var:
    """The labels at ``index`` into ``classes``, as ``dtype`` values."""
    return graph.gather(graph.const(classes.astype(dtype), "classes", dtype=dtype), index)


def _multi_output_dtype(all_classes: list[np.ndarray]) -> type:
    return np.int64 if all(c.dtype.kind in "iu" for c in all_classes) else np.float64


def _setup(graph: GraphBuilder, estimator: object, x: Var, context: ConversionContext) -> tuple[_Distances, np.ndarray]:
    stored = _stored(estimator, estimator._fit_X)
    bound_run_memory(context, 3 * 8 * min(len(stored), BLOCK_ROWS))
    metric = metric_of(
        estimator, estimator.effective_metric_, estimator.effective_metric_params_, estimator._fit_method
    )
    return _Distances(graph, x, metric, stored.shape[1]), stored


def _one_hot(graph: GraphBuilder, labels: Var, n_classes: int) -> Var:
    """``[..., n_classes]`` float64 indicator of int64 class indices."""
    classes = graph.const(np.arange(n_classes, dtype=np.int64), "class_range", dtype=np.int64)
    return graph.cast(graph.equal(graph.unsqueeze(labels, [-1]), classes), np.float64)


@converter(KNeighborsClassifier)
def convert_kneighbors_classifier(
    graph: GraphBuilder, estimator: KNeighborsClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Votes of the k nearest training rows (weighted by ``1 / d`` for ``weights="distance"``); the label is
    the class with the most votes, the lowest class index on a tie, as sklearn's mode.

    A 2-D target (multi-output) votes per output: ``predict`` is ``[batch, n_outputs]`` labels (numeric
    labels only); sklearn's ``predict_proba`` is then a list of arrays, one per output, exported side by side
    and split back by the compiled model (metadata ``split_outputs``), as for MultiOutputClassifier.
    """
    weights = _check_weights(estimator)
    all_classes = _output_classes(estimator)
    distances, stored = _setup(graph, estimator, x, context)
    k = estimator.n_neighbors
    if k > len(stored):
        raise unsupported(estimator, "n_neighbors", k, f"use at most the {len(stored)} training rows")
    dist, index = kneighbors(graph, distances, stored, k, _heap(estimator, distances, stored, context))
    w = None if weights == "uniform" else graph.unsqueeze(_distance_weights(graph, dist), [2])
    codes = _train_codes(estimator)
    probas, picks = [], []
    for output, classes in enumerate(all_classes):
        labels = graph.gather(graph.const(np.ascontiguousarray(codes[:, output]), "train_labels"), index)
        votes = _one_hot(graph, labels, len(classes))  # [batch, k, classes]
        if w is None:
            counts = graph.reduce_sum(votes, [1])
            proba = graph.div(counts, graph.const(float(k), "k", dtype=np.float64))
        else:
            counts = graph.reduce_sum(graph.mul(votes, w), [1])
            proba = graph.div(counts, graph.reduce_sum(counts, [1], keepdims=True))
        probas.append(proba)
        picks.append(graph.argmax(counts, axis=1))
    if len(all_classes) == 1:
        return {"predict": class_output(graph, all_classes[0], picks[0]), "predict_proba": probas[0]}
    dtype = _multi_output_dtype(all_classes)
    labels = [_labels_of(graph, classes, pick, dtype) for classes, pick in zip(all_classes, picks, strict=True)]
    context.split_outputs["predict_proba"] = [len(classes) for classes in all_classes]
    return {"predict": _label_columns(graph, all_classes, labels), "predict_proba": graph.concat(probas, axis=1)}


def _targets(estimator: object) -> tuple[np.ndarray, bool]:
    y = np.asarray(estimator._y, dtype=np.float64)
    return (y.reshape(-1, 1), True) if y.ndim == 1 else (y, False)


@converter(KNeighborsRegressor)
def convert_kneighbors_regressor(
    graph: GraphBuilder, estimator: KNeighborsRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Mean (or ``1 / d``-weighted mean) of the k nearest training targets; one or several targets."""
    weights = _check_weights(estimator)
    distances, stored = _setup(graph, estimator, x, context)
    k = estimator.n_neighbors
    if k > len(stored):
        raise unsupported(estimator, "n_neighbors", k, f"use at most the {len(stored)} training rows")
    y, single = _targets(estimator)
    dist, index = kneighbors(graph, distances, stored, k, _heap(estimator, distances, stored, context))
    values = graph.gather(graph.const(y, "train_targets", dtype=np.float64), index)  # [batch, k, targets]
    if weights == "uniform":
        pred = graph.div(graph.reduce_sum(values, [1]), graph.const(float(k), "k", dtype=np.float64))
    else:
        w = _distance_weights(graph, dist)
        num = graph.reduce_sum(graph.mul(values, graph.unsqueeze(w, [2])), [1])
        pred = graph.div(num, graph.reduce_sum(w, [1], keepdims=True))
    return {"predict": graph.squeeze(pred, [1]) if single else pred}


def _radius_sums(
    graph: GraphBuilder, estimator: object, x: Var, table: np.ndarray, context: ConversionContext
) -> tuple[Var, Var]:
    """Per input row, ``sum_j w_j * table[j]`` over the training rows within the radius, and ``sum_j w_j``.

    ``w`` is 1 (uniform) or sklearn's distance weights: ``1 / d``, or the exact-match indicator in rows that
    have a training row at distance zero. Returns ``([batch, table width], [batch, 1])`` float64.
    """
    weights = _check_weights(estimator)
    distances, stored = _setup(graph, estimator, x, context)
    radius = graph.const(distances.metric.reduced(float(estimator.radius)), "radius", dtype=np.float64)
    zero = graph.const(0.0, "zero", dtype=np.float64)
    one = graph.const(1.0, "one", dtype=np.float64)
    sums: dict[str, Var] = {}

    def accumulate(key: str, value: Var) -> None:
        sums[key] = value if key not in sums else graph.add(sums[key], value)

    for start, stop in _blocks(len(stored)):
        reduced = distances.reduced(stored[start:stop])
        within = graph.cast(graph.less_equal(reduced, radius), np.float64)
        block_table = graph.const(table[start:stop], "train_table", dtype=np.float64)
        if weights == "uniform":
            accumulate("sum", graph.matmul(within, block_table))
            accumulate("weight", graph.reduce_sum(within, [1], keepdims=True))
            continue
        dist = distances.distance(reduced)
        exact = graph.mul(within, graph.cast(graph.equal(dist, zero), np.float64))
        inverse = graph.where(graph.greater(within, zero), graph.div(one, dist), zero)
        accumulate("sum", graph.matmul(inverse, block_table))
        accumulate("weight", graph.reduce_sum(inverse, [1], keepdims=True))
        accumulate("exact_sum", graph.matmul(exact, block_table))
        accumulate("exact_weight", graph.reduce_sum(exact, [1], keepdims=True))
    if weights == "uniform":
        return sums["sum"], sums["weight"]
    any_exact = graph.greater(sums["exact_weight"], zero)
    return (
        graph.where(any_exact, sums["exact_sum"], sums["sum"]),
        graph.where(any_exact, sums["exact_weight"], sums["weight"]),
    )


@converter(RadiusNeighborsRegressor)
def convert_radius_neighbors_regressor(
    graph: GraphBuilder, estimator: RadiusNeighborsRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """(Weighted) mean of the training targets within the radius; NaN for a row with no training row within
    the radius, as sklearn predicts (sklearn also warns)."""
    y, single = _targets(estimator)
    total, weight = _radius_sums(graph, estimator, x, y, context)
    pred = graph.div(total, weight)  # 0 / 0 = NaN without neighbours
    return {"predict": graph.squeeze(pred, [1]) if single else pred}


def _class_index(classes: np.ndarray, label: object) -> int | None:
    """The position of ``label`` in ``classes`` (``classes == label``, as sklearn compares), or None."""
    if label is None or (isinstance(label, str) and classes.dtype.kind not in "OUS"):
        return None
    found = np.flatnonzero(classes == label)
    return int(found[0]) if found.size == 1 else None


def _class_mode_outlier_index(classes: np.ndarray, outlier_label: object) -> int | None:
    """The class an outlier row gets probability 1 for on sklearn's RadiusNeighborsClassMode path, or None.

    That reduction compares ``outlier_label`` (the parameter) as a Python object with each of its "unique
    labels" and keeps the last match: the class indices from sklearn 1.9, the labels cast to integers before.
    """
    if sklearn_before(1, 9):
        if classes.dtype.kind not in "iufb":
            return None  # sklearn itself cannot cast such labels to integers
        keys = [int(key) for key in classes.astype(np.intp)]
    else:
        keys = list(range(len(classes)))
    found = None
    for index, key in enumerate(keys):
        try:
            if key == outlier_label:
                found = index
        except ValueError:  # an array of several labels: ambiguous, sklearn raises too
            return None
    return found


def _radius_class_mode(estimator: RadiusNeighborsClassifier, graph: GraphBuilder) -> bool:
    """Whether sklearn's ``predict_proba`` takes its RadiusNeighborsClassMode reduction on rows of the graph's
    dtype: uniform weights, brute force, one output, a metric other than euclidean and cosine, numpy rows of
    the fitted dtype. That path looks ``outlier_label`` (the parameter) up among the class *indices* (the
    labels cast to integers before sklearn 1.9, :func:`_class_mode_outlier_index`): an outlier row gets
    probability 1 for the class found, all zeros otherwise (for ``"most_frequent"`` too); ``predict`` is
    unchanged."""
    metric = estimator.metric
    if metric == "minkowski" and estimator.p == 2:
        metric = "euclidean"
    return (
        estimator.weights == "uniform"
        and estimator._fit_method == "brute"
        and not estimator.outputs_2d_
        and isinstance(metric, str)
        and metric not in ("euclidean", "sqeuclidean", "cosine")
        and np.dtype(graph.dtype) == np.asarray(estimator._fit_X).dtype
    )


@converter(RadiusNeighborsClassifier)
def convert_radius_neighbors_classifier(
    graph: GraphBuilder, estimator: RadiusNeighborsClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Votes of the training rows within the radius.

    A row with no training row within the radius (an outlier) is handled as sklearn handles it when
    ``outlier_label`` is set: probability 1 for that label when it is a class (all zeros otherwise) and
    ``predict`` gives the outlier label. With ``outlier_label=None`` sklearn raises; a graph cannot, so such a
    row gets an all-zero ``predict_proba`` row (test ``predict_proba.sum(axis=1) == 0`` to find them) and the
    first class as ``predict``. sklearn's RadiusNeighborsClassMode path (uniform weights, brute force, a metric
    other than euclidean, numpy rows of the fitted dtype) looks ``outlier_label`` up among the class indices
    instead (among the labels cast to integers before sklearn 1.9): the graph of that dtype does the same
    (:func:`_radius_class_mode`).

    A 2-D target (multi-output) votes per output, each with its own outlier label: ``predict`` is
    ``[batch, n_outputs]`` labels (numeric labels only); sklearn's ``predict_proba`` is then a list of arrays,
    exported side by side and split back by the compiled model (metadata ``split_outputs``).
    """
    all_classes = _output_classes(estimator)
    codes = _train_codes(estimator)
    widths = [len(c) for c in all_classes]
    table = np.concatenate([np.eye(n)[codes[:, o]] for o, n in enumerate(widths)], axis=1)
    all_counts, weight = _radius_sums(graph, estimator, x, table, context)
    zero = graph.const(0.0, "zero", dtype=np.float64)
    outlier = graph.logical_not(graph.greater(weight, zero))  # [batch, 1]
    multi = len(all_classes) > 1
    dtype = _multi_output_dtype(all_classes)
    starts = np.cumsum([0, *widths])
    class_mode = _radius_class_mode(estimator, graph)
    probas, labels = [], []
    for output, classes in enumerate(all_classes):
        counts = all_counts
        if multi:
            counts = graph.gather(all_counts, graph.int64s(list(range(starts[output], starts[output + 1]))), axis=1)
        outlier_label = None if estimator.outlier_label_ is None else estimator.outlier_label_[output]
        label_index = _class_index(classes, outlier_label)
        proba_index = _class_mode_outlier_index(classes, estimator.outlier_label) if class_mode else label_index
        if proba_index is not None:
            one_hot = (np.arange(len(classes)) == proba_index).astype(np.float64)
            counts = graph.where(outlier, graph.const(one_hot, "outlier_proba", dtype=np.float64), counts)
        normalizer = graph.reduce_sum(counts, [1], keepdims=True)
        normalizer = graph.where(graph.equal(normalizer, zero), graph.const(1.0, "one", dtype=np.float64), normalizer)
        proba = graph.div(counts, normalizer)
        index = graph.argmax(proba, axis=1)
        label = _labels_of(graph, classes, index, dtype) if multi else class_output(graph, classes, index)
        if outlier_label is not None and (proba_index is None or proba_index != label_index):
            # sklearn's predict gives the outlier label to the rows whose probabilities are all zero.
            if multi:
                value = graph.const(np.asarray(outlier_label).astype(dtype), "outlier_label", dtype=dtype)
            elif label_encoding(classes) == "label" and isinstance(outlier_label, (int, np.integer)):
                value = graph.const(np.int64(outlier_label), "outlier_label", dtype=np.int64)
            elif label_index is not None:
                value = graph.const(np.int64(label_index), "outlier_class", dtype=np.int64)
            else:
                raise unsupported(
                    estimator,
                    "outlier_label",
                    outlier_label,
                    "an outlier label outside classes_ converts for integer class labels only",
                )
            all_zero = graph.squeeze(graph.equal(graph.reduce_max(proba, [1], keepdims=True), zero), [1])
            label = graph.where(all_zero, value, label)
        probas.append(proba)
        labels.append(label)
    if not multi:
        return {"predict": labels[0], "predict_proba": probas[0]}
    context.split_outputs["predict_proba"] = widths
    return {"predict": _label_columns(graph, all_classes, labels), "predict_proba": graph.concat(probas, axis=1)}


@converter(NearestCentroid)
def convert_nearest_centroid(
    graph: GraphBuilder, estimator: NearestCentroid, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The closest centroid (euclidean or manhattan) when the class priors are uniform; otherwise, and for
    ``decision_function``/``predict_proba``, sklearn's discriminant ``-d(x / s, c / s)^2 + 2 log prior``."""
    classes = np.asarray(estimator.classes_)
    metric = metric_of(estimator, estimator.metric, None, "brute")
    centroids = np.asarray(estimator.centroids_, dtype=np.float64)
    x64 = as_f64(graph, x)
    outputs: dict[str, Var] = {}
    # Discriminant scores, as _decision_function: features scaled by the within-class deviation.
    std = np.asarray(estimator.within_class_std_dev_, dtype=np.float64)
    mask = std != 0
    divisor = np.where(mask, std, 1.0)
    scaled = graph.div(x64, f64(graph, divisor, "within_class_std"))
    centroids_scaled = centroids.copy()
    centroids_scaled[:, mask] /= std[mask]
    d = _Distances(graph, scaled, metric, centroids.shape[1]).reduced(centroids_scaled)
    if metric.name == "euclidean":
        # euclidean_distances then squared again: sqrt, then **2.
        root = graph.sqrt(d)
        d = graph.mul(root, root)
    scores = graph.add(graph.neg(d), f64(graph, 2.0 * np.log(estimator.class_prior_), "log_prior"))
    if np.isclose(estimator.class_prior_, 1 / len(classes)).all():
        nearest = _Distances(graph, x64, metric, centroids.shape[1]).reduced(centroids)
        outputs["predict"] = class_output(graph, classes, graph.argmin(nearest, axis=1))
    else:
        outputs["predict"] = class_output(graph, classes, graph.argmax(scores, axis=1))
    if metric.name == "euclidean":
        if len(classes) == 2:
            first = graph.gather(scores, graph.int64s([0], "first"), axis=1)
            second = graph.gather(scores, graph.int64s([1], "second"), axis=1)
            outputs["decision_function"] = graph.squeeze(graph.sub(second, first), [1])
        else:
            outputs["decision_function"] = scores
        shifted = graph.sub(scores, graph.reduce_max(scores, [1], keepdims=True))
        log_norm = graph.log(graph.reduce_sum(graph.exp(shifted), [1], keepdims=True))
        outputs["predict_proba"] = graph.exp(graph.sub(shifted, log_norm))
    return outputs


def non_finite_rows(graph: GraphBuilder, x64: Var) -> Var:
    """``[batch]`` bool: the rows of a float64 ``x`` holding NaN or an infinity (``x * 0`` is NaN there)."""
    return graph.is_nan(graph.reduce_sum(graph.mul(x64, f64(graph, 0.0, "zero")), [1]))


def outlier_labels(graph: GraphBuilder, decision: Var) -> Var:
    """An outlier detector's ``predict``: int64 1 where ``decision >= 0``, -1 elsewhere (NaN included)."""
    return graph.where(
        graph.greater_equal(decision, f64(graph, 0.0, "zero")),
        graph.const(np.int64(1), "inlier", dtype=np.int64),
        graph.const(np.int64(-1), "outlier", dtype=np.int64),
    )


@converter(LocalOutlierFactor)
def convert_local_outlier_factor(
    graph: GraphBuilder, estimator: LocalOutlierFactor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """LocalOutlierFactor fitted with ``novelty=True``: ``score_samples`` (minus the local outlier factor),
    ``decision_function = score_samples - offset_`` and ``predict`` (int64 1 / -1), as sklearn's
    ``score_samples``: the ``n_neighbors_`` nearest training rows (:func:`kneighbors`, with its tie rules:
    which rows sklearn keeps at the k-th distance changes the score), the reachability distances
    ``max(d, k-distance of the neighbour)`` (``_distances_fit_X_``; ``d`` rounded to float32 for float32 rows,
    as sklearn does), the query's ``lrd = 1 / (mean + 1e-10)`` and the mean of the neighbours' ``_lrd`` over it.

    ``novelty=False`` models have no ``predict``/``decision_function``/``score_samples`` on new rows (only
    ``fit_predict`` on the training rows) and are refused. Rows holding NaN or an infinity, which sklearn
    refuses, give NaN scores and ``predict`` -1.
    """
    if not estimator.novelty:
        raise unsupported(
            estimator,
            "novelty",
            False,
            "with novelty=False sklearn scores only the training rows (fit_predict, negative_outlier_factor_) and "
            "has no predict, decision_function or score_samples for new rows; fit with novelty=True to export it",
        )
    distances, stored = _setup(graph, estimator, x, context)
    k = int(estimator.n_neighbors_)
    dist, index = kneighbors(graph, distances, stored, k, _heap(estimator, distances, stored, context))
    dist = stored_in_dtype(graph, dist)  # sklearn: distances_X.astype(float32) for float32 rows
    k_distance = np.asarray(estimator._distances_fit_X_, dtype=np.float64)[:, k - 1]
    reach = graph.max(dist, graph.gather(f64(graph, k_distance, "k_distance"), index))
    k_const = f64(graph, float(k), "k")
    mean_reach = graph.div(graph.reduce_sum(reach, [1], keepdims=True), k_const)
    lrd = graph.div(f64(graph, 1.0, "one"), graph.add(mean_reach, f64(graph, 1e-10, "lrd_epsilon")))
    ratios = graph.div(graph.gather(f64(graph, np.asarray(estimator._lrd, np.float64), "train_lrd"), index), lrd)
    scores = graph.neg(graph.div(graph.reduce_sum(ratios, [1]), k_const))
    scores = graph.where(non_finite_rows(graph, distances.x), f64(graph, np.nan, "nan"), scores)
    decision = graph.sub(scores, f64(graph, float(estimator.offset_), "offset"))
    return {"predict": outlier_labels(graph, decision), "decision_function": decision, "score_samples": scores}


@converter(NeighborhoodComponentsAnalysis)
def convert_neighborhood_components_analysis(
    graph: GraphBuilder, estimator: NeighborhoodComponentsAnalysis, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform = x @ components_.T``, in float64 (sklearn's ``np.dot`` upcasts float32 rows)."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    return {"transform": graph.matmul(as_f64(graph, x), f64(graph, components.T, "components_t"))}


#: KernelDensity kernels, each computed as sklearn's ``log_<kernel>_kernel`` (``_binary_tree.pxi.tp``).
KDE_KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")


def _log_kernel(graph: GraphBuilder, dist: Var, kernel: str, h: float) -> Var:
    """sklearn's unnormalised log-kernel of the distances ``dist`` for bandwidth ``h``, its float64 operations
    in its order; ``-inf`` at ``dist >= h`` for the compact kernels."""
    g = graph
    if kernel == "gaussian":  # -0.5 * (dist * dist) / (h * h)
        return g.div(g.mul(f64(g, -0.5, "minus_half"), g.mul(dist, dist)), f64(g, h * h, "h_squared"))
    if kernel == "exponential":  # -dist / h
        return g.div(g.neg(dist), f64(g, h, "bandwidth"))
    one = f64(g, 1.0, "one")
    if kernel == "tophat":
        value = g.sub(dist, dist)  # 0.0 (the mask below keeps it where dist < h)
    elif kernel == "epanechnikov":  # log(1.0 - (dist * dist) / (h * h))
        value = g.log(g.sub(one, g.div(g.mul(dist, dist), f64(g, h * h, "h_squared"))))
    elif kernel == "linear":  # log(1 - dist / h)
        value = g.log(g.sub(one, g.div(dist, f64(g, h, "bandwidth"))))
    else:  # cosine: log(cos(0.5 * PI * dist / h))
        value = g.log(g.unary("Cos", g.div(g.mul(f64(g, 0.5 * np.pi, "half_pi"), dist), f64(g, h, "bandwidth"))))
    return g.where(g.less(dist, f64(g, h, "bandwidth")), value, f64(g, -np.inf, "minus_inf"))


@converter(KernelDensity)
def convert_kernel_density(
    graph: GraphBuilder, estimator: KernelDensity, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``score_samples``: the log density ``log(sum_j w_j K(d(x, x_j) / h)) + log_knorm - log(N)`` over every
    stored row, for each of sklearn's kernels (gaussian, tophat, epanechnikov, exponential, linear, cosine) and
    the euclidean, manhattan, chebyshev and minkowski metrics (what its KDTree and BallTree take among the
    metrics this module computes), with or without sample weights.

    sklearn walks its tree and stops refining once its bounds are within ``atol + rtol * density``. With
    ``atol=0`` and ``rtol=0`` (the defaults) it visits every row whose kernel is not zero and returns the sum up
    to rounding: the graph computes the same sum exactly (a blockwise log-sum-exp), the distances and
    log-kernels with sklearn's float64 operations, so rows at ``d == h`` of a compact kernel fall on the same
    side. sklearn's rounding is not negligible everywhere: it keeps log-space running sums of node bounds,
    adding and subtracting them (``logaddexp``/``logsubexp``), which leaves a residue of about
    ``1e-16 * N * (largest bound)``; its log density is off by about ``1e-16 / m``, where ``m`` is the mean
    unnormalised kernel value (``K(0) = 1``) over the stored rows. Where ``m`` is below about 1e-6 (a query in
    a region the training rows hardly reach, against the float64 tolerance; about 1e-10 in float32) the graph's
    exact value differs from sklearn's, which validation reports (and an empty compact kernel gives -inf in the
    graph, a finite residue near ``log(1e-16)`` in sklearn). Training rows themselves have ``m >= 1 / N``.
    A non-zero ``atol`` or ``rtol`` gives an approximation that depends on the tree walk and is refused: those
    parameters are read only by ``score_samples``, so ``set_params(atol=0, rtol=0)`` on the fitted model makes
    sklearn compute the (up to that rounding) exact value that the graph reproduces. The kernel norm is
    sklearn's own (``kernel_norm``), NaN included (the cosine kernel's norm is NaN in some dimensions, 4 and 8
    among them, and so is sklearn's density).

    Memory: the stored rows are processed in blocks of :data:`BLOCK_ROWS`, each reduced to its maximum and sum
    of exponentials, and the rows of one run are bounded as for the neighbour search. Rows holding NaN or an
    infinity, which sklearn refuses, give NaN.
    """
    from sklearn.neighbors._kd_tree import kernel_norm

    if estimator.kernel not in KDE_KERNELS:
        raise unsupported(estimator, "kernel", estimator.kernel, f"use one of {list(KDE_KERNELS)}")
    if estimator.atol != 0 or estimator.rtol != 0:
        raise unsupported(
            estimator,
            "atol/rtol",
            (estimator.atol, estimator.rtol),
            "sklearn approximates the density to those tolerances along its tree walk; the graph computes the "
            "exact sum, which sklearn computes with atol=0 and rtol=0: they are read by score_samples only, so "
            "call set_params(atol=0, rtol=0) on the fitted model (no refit) and convert it",
        )
    tree = estimator.tree_
    stored = _stored(estimator, tree.data)
    fit_method = "kd_tree" if type(tree).__name__ == "KDTree" else "ball_tree"
    metric = metric_of(estimator, estimator.metric, estimator.metric_params, fit_method)
    if metric.name == "cosine":
        raise unsupported(estimator, "metric", estimator.metric, "sklearn's KDTree and BallTree take no cosine")
    bound_run_memory(context, 6 * 8 * min(len(stored), BLOCK_ROWS))
    h = float(estimator.bandwidth_)
    n_features = stored.shape[1]
    weights = None if tree.sample_weight is None else np.asarray(tree.sample_weight, dtype=np.float64)
    total = float(len(stored)) if weights is None else float(tree.sum_weight)
    log_knorm = float(kernel_norm(h, n_features, estimator.kernel, return_log=True))

    g = graph
    distances = _Distances(g, x, metric, n_features)
    zero = f64(g, 0.0, "zero")
    minus_inf = f64(g, -np.inf, "minus_inf")

    def safe(m: Var) -> Var:  # a shift for exp(): 0 where the maximum is -inf (no row within reach)
        return g.where(g.equal(m, minus_inf), zero, m)

    maxima, sums = [], []
    for start, stop in _blocks(len(stored)):
        log_k = _log_kernel(g, distances.distance(distances.reduced(stored[start:stop])), estimator.kernel, h)
        if weights is not None:
            with np.errstate(divide="ignore"):
                log_w = np.log(weights[start:stop])
            log_k = g.add(log_k, f64(g, log_w[None, :], "log_sample_weight"))
        m = g.reduce_max(log_k, [1], keepdims=True)
        maxima.append(m)
        sums.append(g.reduce_sum(g.exp(g.sub(log_k, safe(m))), [1], keepdims=True))
    if len(maxima) == 1:
        top, total_sum = maxima[0], sums[0]
    else:
        top = g.reduce_max(g.concat(maxima, axis=1), [1], keepdims=True)
        scaled = [g.mul(s, g.exp(g.sub(m, safe(top)))) for m, s in zip(maxima, sums, strict=True)]
        total_sum = g.reduce_sum(g.concat(scaled, axis=1), [1], keepdims=True)
    log_density = g.squeeze(g.add(safe(top), g.log(total_sum)), [1])
    log_density = g.sub(g.add(log_density, f64(g, log_knorm, "log_kernel_norm")), f64(g, np.log(total), "log_n"))
    log_density = g.where(non_finite_rows(g, distances.x), f64(g, np.nan, "nan"), log_density)
    return {"score_samples": log_density}


MODES = ("distance", "connectivity")


def refuse_precomputed(estimator: Any) -> None:
    """A precomputed metric's ``transform`` takes distances to the training rows, which a graph of rows lacks."""
    if estimator.metric == "precomputed":
        raise unsupported(
            estimator,
            "metric",
            "precomputed",
            "use euclidean, manhattan, chebyshev, minkowski (any p) or cosine: a precomputed metric's transform "
            "takes distances to the training rows, not rows of features",
        )


def _check(estimator: KNeighborsTransformer | RadiusNeighborsTransformer) -> str:
    """Refuse what has no graph form before anything is built; return the mode."""
    refuse_precomputed(estimator)
    if estimator.mode not in MODES:
        raise unsupported(estimator, "mode", estimator.mode, f"use one of {list(MODES)}")
    return estimator.mode


def _rejected_rows(graph: GraphBuilder, x64: Var) -> tuple[Var, Var]:
    """The rows sklearn rejects (NaN or an infinity): ``[batch, 1]`` bool, and ``[batch, 1]`` float64 NaN there,
    0 elsewhere."""
    bad = graph.unsqueeze(non_finite_rows(graph, x64), [1])
    return bad, graph.where(bad, f64(graph, np.nan, "nan"), f64(graph, 0.0, "zero"))


def dense_neighbors(graph: GraphBuilder, index: Var, values: Var, n: int, base: Var) -> Var:
    """``[batch, n]`` float64: ``values[b, j]`` at column ``index[b, j]`` (``[batch, k]``, distinct per row), and
    ``base[b]`` (``[batch, 1]``) in the other columns."""
    return graph.scatter_elements(graph.add(base, f64(graph, np.zeros((1, n)), "zero_row")), index, values, axis=1)


@converter(KNeighborsTransformer)
def convert_kneighbors_transformer(
    graph: GraphBuilder, estimator: KNeighborsTransformer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: the dense ``kneighbors_graph`` of the ``n_neighbors`` (``"connectivity"``: ones) or
    ``n_neighbors + 1`` (``"distance"``: their distances) nearest training rows (see the module docstring)."""
    mode = _check(estimator)
    distances, stored = _setup(graph, estimator, x, context)
    n = len(stored)
    k = int(estimator.n_neighbors) + (mode == "distance")
    if k > n:
        raise unsupported(
            estimator,
            "n_neighbors",
            estimator.n_neighbors,
            f"transform looks up n_neighbors{' + 1' if mode == 'distance' else ''} = {k} neighbours among the "
            f"{n} training rows (sklearn raises too); use at most {n - (mode == 'distance')}",
        )
    # The search's blocks, the zero matrix and the output.
    bound_run_memory(context, 3 * 8 * min(n, BLOCK_ROWS) + 2 * 8 * n)
    g = graph
    dist, index = kneighbors(g, distances, stored, k, _heap(estimator, distances, stored, context))
    _, nan_or_zero = _rejected_rows(g, distances.x)
    values = dist if mode == "distance" else g.cast(g.equal(index, index), np.float64)  # ones
    values = g.add(values, nan_or_zero)  # NaN in rejected rows (their indices are arbitrary)
    return {"transform": dense_neighbors(g, index, values, n, nan_or_zero)}


@converter(RadiusNeighborsTransformer)
def convert_radius_neighbors_transformer(
    graph: GraphBuilder, estimator: RadiusNeighborsTransformer, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: the dense ``radius_neighbors_graph``: each training row whose reduced distance is ``<=``
    the reduced radius gets its distance (``"distance"``) or 1 (``"connectivity"``), the others 0."""
    mode = _check(estimator)
    distances, stored = _setup(graph, estimator, x, context)
    n = len(stored)
    bound_run_memory(context, 4 * 8 * min(n, BLOCK_ROWS) + 2 * 8 * n)
    g = graph
    radius = f64(g, distances.metric.reduced(float(estimator.radius)), "radius")
    bad, nan_or_zero = _rejected_rows(g, distances.x)
    keep = g.logical_not(bad)
    one = f64(g, 1.0, "one")
    parts = []
    for start, stop in _blocks(n):
        reduced = distances.reduced(stored[start:stop])
        value = distances.distance(reduced) if mode == "distance" else one
        within = g.logical_and(g.less_equal(reduced, radius), keep)
        parts.append(g.where(within, value, nan_or_zero))
    return {"transform": parts[0] if len(parts) == 1 else g.concat(parts, axis=1)}
