"""``sklearn.cluster``: ``predict`` and ``transform`` of KMeans, MiniBatchKMeans and BisectingKMeans; ``predict``
of MeanShift and AffinityPropagation, ``predict`` and ``transform`` of Birch, and FeatureAgglomeration's
``transform``. The clusterers without a ``predict`` (AgglomerativeClustering, DBSCAN, OPTICS, HDBSCAN,
SpectralClustering) have nothing to export.

KMeans family: labels are decided as sklearn's Lloyd helper decides them: the score of centre ``c`` is ``|c|^2 - 2 x.c``
(the row's own norm does not change the argmin), computed in the centres' dtype, and the first centre with
the smallest score wins. ``transform`` is ``euclidean_distances(X, cluster_centers_)`` in float64
(:func:`euclidean_distances_to`).

sklearn 1.9's ``predict`` refuses input whose dtype differs from the fitted centres (float32 rows for a model
fitted on float64 data); the graph upcasts such input, which is what ``predict(X.astype(np.float64))`` returns.

MeanShift, AffinityPropagation and Birch predict with ``pairwise_distances_argmin``, sklearn's ArgKmin reduction:
a float64 score that includes the row's norm and is clipped at zero, the first centre on a tie
(:func:`argkmin_nearest`). Scores equal in exact arithmetic may round apart differently from sklearn's BLAS
(near ties), as for KMeans.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import (
    AffinityPropagation,
    Birch,
    BisectingKMeans,
    FeatureAgglomeration,
    KMeans,
    MeanShift,
    MiniBatchKMeans,
)

from sk2tensor.converters._numeric import as_vector, columns
from sk2tensor.converters._pairwise import (
    as_f64,
    bound_kernel_memory,
    bound_run_memory,
    f64,
    row_squared_norms,
    sklearn_squared_euclidean,
)
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, unsupported


def center_scores(graph: GraphBuilder, x: Var, centers: np.ndarray) -> Var:
    """``|c|^2 - 2 x.c`` for every centre: ``[batch, n_centers]`` in the centres' dtype."""
    dtype = np.float32 if centers.dtype == np.float32 else np.float64
    centers = np.asarray(centers, dtype=dtype)
    x = graph.cast(x, dtype)
    norms = np.einsum("ij,ij->i", centers, centers)
    # (-2 * c) is exact: x @ (-2 c).T is sklearn's gemm with alpha=-2, then the norms are added (beta=1).
    cross = graph.matmul(x, graph.const((-2 * centers).T, "minus_2_centers_t", dtype=dtype))
    return graph.add(cross, graph.const(norms, "center_sq_norms", dtype=dtype))


def _transform(graph: GraphBuilder, x: Var, centers: np.ndarray) -> Var:
    return euclidean_distances_to(graph, x, centers)


@converter(KMeans, MiniBatchKMeans)
def convert_kmeans(graph: GraphBuilder, estimator: KMeans, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``predict``: index of the closest centre (int32, as sklearn); ``transform``: distances to the centres."""
    centers = np.asarray(estimator.cluster_centers_)
    labels = graph.argmin(center_scores(graph, x, centers), axis=1)
    return {"predict": graph.cast(labels, np.int32), "transform": _transform(graph, x, centers)}


def _bisecting_tree(estimator: BisectingKMeans) -> tuple[list, list]:
    """The internal nodes (breadth first) and the leaves of the fitted hierarchy."""
    internal, leaves, queue = [], [], [estimator._bisecting_tree]
    while queue:
        node = queue.pop(0)
        if node.left is None:
            leaves.append(node)
        else:
            internal.append(node)
            queue += [node.left, node.right]
    return internal, leaves


@converter(BisectingKMeans)
def convert_bisecting_kmeans(
    graph: GraphBuilder, estimator: BisectingKMeans, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict`` descends the bisection hierarchy as sklearn does: at every internal node the row goes to
    the closer of the two children's centres (left on a tie). All node decisions are computed at once; a
    leaf is reached when every decision on its path agrees, which a matmul with a path matrix counts.
    """
    internal, leaves = _bisecting_tree(estimator)
    centers = np.asarray(estimator.cluster_centers_)
    outputs = {"transform": _transform(graph, x, centers)}
    offset = np.asarray(getattr(estimator, "_X_mean", np.zeros(centers.shape[1])), dtype=np.float64)
    if not internal:
        zero = graph.matmul(as_f64(graph, x), graph.const(np.zeros((centers.shape[1], 1)), "zeros", dtype=np.float64))
        outputs["predict"] = graph.cast(graph.argmax(zero, axis=1), np.int32)
        outputs["predict"] = graph.add(outputs["predict"], graph.const(np.int32(leaves[0].label), "label"))
        return outputs
    dtype = np.float32 if centers.dtype == np.float32 else np.float64
    left = np.stack([n.left.center + offset for n in internal]).astype(dtype)
    right = np.stack([n.right.center + offset for n in internal]).astype(dtype)
    goes_right = graph.less(center_scores(graph, x, right), center_scores(graph, x, left))
    # path[i, l] = +1 when leaf l lies under node i's right child, -1 under its left child; a row reaches
    # leaf l when goes_right @ path + (number of left turns on l's path) equals l's depth.
    index = {id(n): i for i, n in enumerate(internal)}
    path = np.zeros((len(internal), len(leaves)))
    depth = np.zeros(len(leaves))
    lefts = np.zeros(len(leaves))
    for leaf_index, leaf in enumerate(leaves):
        node = estimator._bisecting_tree
        trail = []
        _find(node, leaf, trail)
        for parent, went_right in trail:
            path[index[id(parent)], leaf_index] = 1.0 if went_right else -1.0
            lefts[leaf_index] += not went_right
        depth[leaf_index] = len(trail)
    agree = graph.matmul(graph.cast(goes_right, np.float64), graph.const(path, "path", dtype=np.float64))
    misses = graph.sub(graph.const(depth - lefts, "depth", dtype=np.float64), agree)
    leaf = graph.argmin(misses, axis=1)
    labels = np.array([leaf.label for leaf in leaves], dtype=np.int32)
    outputs["predict"] = graph.gather(graph.const(labels, "leaf_labels", dtype=np.int32), leaf)
    return outputs


def _find(node, target, trail: list) -> bool:
    """Fill ``trail`` with (internal node, went right) pairs from ``node`` down to ``target``."""
    if node is target:
        return True
    if node.left is None:
        return False
    for child, went_right in ((node.left, False), (node.right, True)):
        trail.append((node, went_right))
        if _find(child, target, trail):
            return True
        trail.pop()
    return False


# --------------------------------------------------------------------------- nearest centre by ArgKmin
def _float32_pair(x: Var, centers: np.ndarray) -> bool:
    """Whether sklearn's pairwise helpers keep float32 (both sides float32) rather than upcasting to float64."""
    return x.dtype == np.float32 and centers.dtype == np.float32


def argkmin_nearest(graph: GraphBuilder, x: Var, centers: np.ndarray, center_norms: np.ndarray | None = None) -> Var:
    """``pairwise_distances_argmin(X, centers)``: int64 ``[batch]``.

    sklearn's ArgKmin reduction (euclidean, k=1) scores centre ``c`` with ``max(|x|^2 + (-2 x.c) + |c|^2, 0)``
    in float64 (float32 rows and centres are upcast, also when both are float32) and keeps the first centre
    with the smallest score: its heap of one entry accepts a value only below the one it holds, fed the centres
    in index order, which is ArgMin's first minimum. ``center_norms`` are the ``|c|^2`` sklearn is given
    (Birch passes its own, computed in the centres' dtype); by default they are computed in float64.
    """
    c64 = np.asarray(centers, dtype=np.float64)
    norms = np.einsum("ij,ij->i", c64, c64) if center_norms is None else np.asarray(center_norms, np.float64)
    x = as_f64(graph, x)
    cross = graph.matmul(x, f64(graph, (-2.0 * c64).T, "minus_2_centers_t"))
    scores = graph.add(graph.add(row_squared_norms(graph, x), cross), f64(graph, norms[None, :], "center_sq_norms"))
    scores = graph.max(scores, f64(graph, 0.0, "zero"))
    return graph.argmin(scores, axis=1)


def euclidean_distances_to(graph: GraphBuilder, x: Var, centers: np.ndarray) -> Var:
    """``euclidean_distances(X, centers)`` (:func:`sklearn_squared_euclidean`, then the root) of the output
    dtype sklearn gives: float64, or float32 when the rows and the centres are both float32 (sklearn then
    computes the squared distances in float64, stores them in float32, clips at zero and takes the root in
    float32)."""
    squared = sklearn_squared_euclidean(graph, as_f64(graph, x), centers)
    if _float32_pair(x, centers):
        squared = graph.cast(squared, np.float32)
    return graph.sqrt(squared)


def _bound(estimator: object, context: ConversionContext, centers: np.ndarray, what: str) -> None:
    bound_kernel_memory(estimator, context, np.asarray(centers), "euclidean", what)


@converter(MeanShift)
def convert_mean_shift(graph: GraphBuilder, estimator: MeanShift, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``predict``: the index of the nearest of ``cluster_centers_`` (int64), as ``pairwise_distances_argmin``
    (see :func:`argkmin_nearest`)."""
    centers = np.asarray(estimator.cluster_centers_)
    _bound(estimator, context, centers, "cluster centres")
    return {"predict": argkmin_nearest(graph, x, centers)}


@converter(AffinityPropagation)
def convert_affinity_propagation(
    graph: GraphBuilder, estimator: AffinityPropagation, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict``: the index of the nearest exemplar of ``cluster_centers_`` (int64); a model whose fit did not
    converge has no exemplars, and sklearn then labels every row -1 (with a ConvergenceWarning), as the graph
    does. ``affinity="precomputed"`` models hold no feature-space exemplars: sklearn cannot predict, and they
    are refused."""
    if estimator.affinity == "precomputed" or not hasattr(estimator, "cluster_centers_"):
        raise unsupported(
            estimator,
            "affinity",
            estimator.affinity,
            "affinity='euclidean' (a precomputed-affinity model has no exemplars to predict with; sklearn's "
            "predict raises too)",
        )
    centers = np.asarray(estimator.cluster_centers_)
    if centers.shape[0] == 0:
        minus_one = graph.const(np.array(-1, dtype=np.int64), "minus_one", dtype=np.int64)
        first = columns(graph, x, [0])
        return {"predict": as_vector(graph, graph.where(graph.is_nan(first), minus_one, minus_one))}
    _bound(estimator, context, centers, "cluster centres")
    return {"predict": argkmin_nearest(graph, x, centers)}


@converter(Birch)
def convert_birch(graph: GraphBuilder, estimator: Birch, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``predict``: sklearn's ``_predict``, the nearest of ``subcluster_centers_`` (:func:`argkmin_nearest`,
    with the ``_subcluster_norms`` sklearn passes it) mapped through ``subcluster_labels_`` (the global
    clustering's labels, or the subcluster index with ``n_clusters=None``); ``transform``: the euclidean
    distances to ``subcluster_centers_`` (:func:`euclidean_distances_to`).

    With a small ``threshold`` many subclusters hold one training row, at distance about 0 from it. sklearn's
    distance there is the square root of a rounding error (of the order of ``sqrt(eps) * |x|``), which the
    graph reproduces only where its products and sums round as sklearn's do: always on exact data (integers),
    usually otherwise (numpy's einsum order for the row norms; MatMul and BLAS agree on most entries). Where
    they do not, such rows differ by that amount and a float64 validation on the training rows may fail;
    ``dtype="float32"`` (tolerance 1e-6 of the scale) or validating on other rows avoids it.
    """
    centers = np.asarray(estimator.subcluster_centers_)
    _bound(estimator, context, centers, "subcluster centres")
    labels = np.asarray(estimator.subcluster_labels_)
    nearest = argkmin_nearest(graph, x, centers, np.asarray(estimator._subcluster_norms))
    return {
        "predict": graph.gather(graph.const(labels, "subcluster_labels", dtype=labels.dtype), nearest),
        "transform": euclidean_distances_to(graph, x, centers),
    }


# --------------------------------------------------------------------------- feature agglomeration
#: Pooling functions FeatureAgglomeration's graph reproduces exactly, by the name the error message gives.
POOLING_FUNCTIONS = {"numpy.mean": np.mean, "numpy.median": np.median, "numpy.max": np.max, "numpy.min": np.min}


def _pooling_name(function: object) -> str | None:
    for name, supported in POOLING_FUNCTIONS.items():
        if function is supported or (name in ("numpy.max", "numpy.min") and function is getattr(np, "a" + name[6:])):
            return name
    return None


@converter(FeatureAgglomeration)
def convert_feature_agglomeration(
    graph: GraphBuilder, estimator: FeatureAgglomeration, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: the columns of each feature cluster pooled into one.

    ``np.mean`` (the default) follows sklearn's bincount path: per cluster, the float64 sum of its columns
    (a MatMul with a 0/1 matrix; the order of the additions may differ from bincount's by an ulp) divided by
    the cluster's size, a float64 output whatever the input dtype. ``np.max``/``np.min`` (and ``np.amax``/
    ``np.amin``) are reductions over each cluster's columns and ``np.median`` the middle value (odd sizes) or
    the mean of the two middle values (even sizes, ``(a + b) / 2`` in the input's dtype, as numpy's median),
    found by sorting each cluster's columns: all three exact, in the input's dtype. Other pooling functions are
    refused.
    """
    name = _pooling_name(estimator.pooling_func)
    if name is None:
        raise unsupported(
            estimator,
            "pooling_func",
            getattr(estimator.pooling_func, "__name__", estimator.pooling_func),
            f"one of {sorted(POOLING_FUNCTIONS)} (np.amax and np.amin too)",
        )
    labels = np.asarray(estimator.labels_, dtype=np.int64)
    n_features = labels.shape[0]
    if name == "numpy.mean":
        size = np.bincount(labels)
        member = np.zeros((n_features, size.shape[0]))
        member[np.arange(n_features), labels] = 1.0
        sums = graph.matmul(as_f64(graph, x), f64(graph, member, "cluster_members"))
        # An unused label has size 0: 0 / 0 is NaN, as sklearn's bincount division gives.
        return {"transform": graph.div(sums, f64(graph, size.astype(np.float64), "cluster_sizes"))}
    clusters = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    width = max(len(c) for c in clusters)
    bound_run_memory(context, 4 * 8 * len(clusters) * width)
    # [n_clusters, width] column indices, short clusters padded with their own first column (harmless for a
    # maximum or a minimum; the median masks the padding with +inf before sorting).
    table = np.array([np.r_[c, np.full(width - len(c), c[0])] for c in clusters], dtype=np.int64)
    grouped = graph.gather(x, graph.const(table, "cluster_columns", dtype=np.int64), axis=1)
    if name == "numpy.max":
        return {"transform": graph.reduce_max(grouped, [2])}
    if name == "numpy.min":
        return {"transform": graph.reduce_min(grouped, [2])}
    padding = np.array([[j >= len(c) for j in range(width)] for c in clusters])
    inf = graph.const(np.array(np.inf, dtype=x.dtype), "inf", dtype=x.dtype)
    grouped = graph.where(graph.const(padding, "cluster_padding", dtype=np.bool_), inf, grouped)
    ascending, _ = graph.topk(grouped, width, axis=2, largest=False)  # [batch, n_clusters, width]
    flat = graph.reshape(ascending, [0, len(clusters) * width])
    sizes = np.array([len(c) for c in clusters])
    low = graph.gather(flat, graph.int64s((np.arange(len(clusters)) * width + (sizes - 1) // 2).tolist()), axis=1)
    high = graph.gather(flat, graph.int64s((np.arange(len(clusters)) * width + sizes // 2).tolist()), axis=1)
    two = graph.const(np.array(2.0, dtype=x.dtype), "two", dtype=x.dtype)
    mean = graph.div(graph.add(low, high), two)
    even = graph.const(sizes % 2 == 0, "even_cluster", dtype=np.bool_)
    return {"transform": graph.where(even, mean, low)}
