"""Centroid clustering: ``predict`` and ``transform`` of KMeans, MiniBatchKMeans and BisectingKMeans.

Labels are decided as sklearn's Lloyd helper decides them: the score of centre ``c`` is ``|c|^2 - 2 x.c``
(the row's own norm does not change the argmin), computed in the centres' dtype, and the first centre with
the smallest score wins. ``transform`` is ``euclidean_distances(X, cluster_centers_)`` in float64.

sklearn 1.9's ``predict`` refuses input whose dtype differs from the fitted centres (float32 rows for a model
fitted on float64 data); the graph upcasts such input, which is what ``predict(X.astype(np.float64))`` returns.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans

from sk2tensor.converters._pairwise import as_f64, euclidean
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


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
    return euclidean(graph, as_f64(graph, x), np.asarray(centers, dtype=np.float64))


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
