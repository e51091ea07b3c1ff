"""Three lowerings of a TreeEnsemble to plain tensor operations, and the ``auto`` choice among them.

Each lowering returns the sum over trees of the leaf values reached, shape ``[batch, outputs]``, plus the
ensemble's base. Every lowering sends a row left exactly when sklearn does: thresholds become the largest
float32 not above the float64 threshold when sklearn compares in float32, and NaN follows ``missing_left``.

* ``gemm``: gather the tested feature of every internal node, compare, then one batched matmul with the
  leaf/ancestor path matrix finds the leaf reached; cost grows with internal nodes × leaves per tree.
* ``tree_traversal``: ``max_depth`` steps of (gather node's feature and threshold, compare, pick child) on
  the padded node arrays; works at any depth, memory ``trees × nodes``.
* ``perfect_tree_traversal``: trees padded to perfect binary trees of depth ``D``, so the child of node ``i``
  at a level is ``2 i + went_right`` and no child table is needed; memory ``trees × 2^D``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sk2tensor.converters.trees.ensemble import TreeEnsemble, float32_thresholds
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var

#: Largest table (bytes) a lowering may store as initializers; past it the strategy is refused and ``auto``
#: falls back to ``tree_traversal``, whose tables grow with the real node count only.
MAX_TABLE_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class Lowered:
    """The ``[batch, outputs]`` sum of leaf values plus base, and the strategy that produced it."""

    value: Var
    strategy: str


def _compare_input(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var) -> tuple[Var, np.ndarray]:
    """The input as the trees compare it, and thresholds of the same dtype."""
    if ensemble.compare_in_float32 or graph.dtype == np.float32:
        return graph.cast(x, np.float32), float32_thresholds(ensemble.threshold)
    return x, ensemble.threshold.astype(graph.dtype)


def _go_right(graph: GraphBuilder, value: Var, threshold: Var, missing_right: Var | None) -> Var:
    """``value > threshold``, with NaN sent right where ``missing_right`` says so (left otherwise)."""
    right = graph.greater(value, threshold)
    if missing_right is None:
        return right
    return graph.logical_or(right, graph.logical_and(graph.is_nan(value), missing_right))


def _missing_right_table(ensemble: TreeEnsemble, nodes: np.ndarray) -> np.ndarray | None:
    missing_right = ~ensemble.missing_left[np.arange(ensemble.n_trees)[:, None], nodes]
    internal = ~ensemble.is_leaf[np.arange(ensemble.n_trees)[:, None], nodes]
    return missing_right & internal


def _sum_leaves(graph: GraphBuilder, ensemble: TreeEnsemble, leaf_values: np.ndarray, index: Var) -> Var:
    """``base + sum_t leaf_values[t, index[t, row]]`` as ``[batch, outputs]``; ``leaf_values [T, L, outputs]``."""
    per_output = []
    for k in range(ensemble.n_outputs):
        table = graph.const(leaf_values[:, :, k], "leaf_values")
        per_output.append(graph.reduce_sum(graph.gather_elements(table, index, axis=1), [0], keepdims=True))
    summed = per_output[0] if len(per_output) == 1 else graph.concat(per_output, axis=0)
    return graph.add(graph.transpose(summed, [1, 0]), graph.const(ensemble.base, "base"))


def _table_bytes(*shapes: tuple[int, ...]) -> int:
    return sum(int(np.prod(s, dtype=np.float64)) * 4 for s in shapes)


def lower_perfect_tree_traversal(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var) -> Var:
    """See the module docstring; refused when the padded tables exceed :data:`MAX_TABLE_BYTES`."""
    depth, trees = ensemble.max_depth, ensemble.n_trees
    size = _table_bytes((trees, 2**depth, ensemble.n_outputs + 3))
    if size > MAX_TABLE_BYTES:
        raise UnsupportedParameterError(
            f"strategy='perfect_tree_traversal' would pad {trees} trees of depth {depth} to "
            f"{size / 1024**2:.0f} MiB of tables (limit {MAX_TABLE_BYTES / 1024**2:.0f} MiB); "
            "use 'tree_traversal' or 'auto'"
        )
    xc, thresholds = _compare_input(graph, ensemble, x)
    x_t = graph.transpose(xc, [1, 0])
    rows = np.arange(trees)[:, None]
    nodes = np.zeros((trees, 1), dtype=np.int64)
    index: Var | None = None
    for _ in range(depth):
        feature = np.where(ensemble.is_leaf[rows, nodes], 0, ensemble.feature[rows, nodes])
        threshold = thresholds[rows, nodes]
        missing_right = _missing_right_table(ensemble, nodes)
        if index is None:
            value = graph.gather(x_t, graph.const(feature[:, 0].astype(np.int32), "feature", dtype=np.int32))
            thr = graph.const(threshold, "threshold", dtype=threshold.dtype)
            mr = graph.const(missing_right, "missing_right", dtype=np.bool_) if missing_right.any() else None
        else:
            feat = graph.gather_elements(graph.const(feature.astype(np.int32), "feature", dtype=np.int32), index, 1)
            value = graph.gather_elements(x_t, feat, axis=0)
            thr = graph.gather_elements(graph.const(threshold, "threshold", dtype=threshold.dtype), index, axis=1)
            mr = None
            if missing_right.any():
                mr = graph.gather_elements(graph.const(missing_right, "missing_right", dtype=np.bool_), index, 1)
        went_right = graph.cast(_go_right(graph, value, thr, mr), np.int32)
        index = went_right if index is None else graph.add(graph.add(index, index), went_right)
        # A leaf above the last level stands in for its whole padded subtree: both children are itself.
        leaf = ensemble.is_leaf[rows, nodes]
        left = np.where(leaf, nodes, ensemble.left[rows, nodes])
        right = np.where(leaf, nodes, ensemble.right[rows, nodes])
        nodes = np.stack([left, right], axis=2).reshape(trees, -1)
    if index is None:  # every tree is a single leaf: no level to pad
        return lower_tree_traversal(graph, ensemble, x)
    return _sum_leaves(graph, ensemble, ensemble.value[rows, nodes], index)


def lower_tree_traversal(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var) -> Var:
    """See the module docstring."""
    depth = ensemble.max_depth
    xc, thresholds = _compare_input(graph, ensemble, x)
    x_t = graph.transpose(xc, [1, 0])
    feature_table = graph.const(ensemble.feature.astype(np.int32), "feature", dtype=np.int32)
    threshold_table = graph.const(thresholds, "threshold", dtype=thresholds.dtype)
    left_table = graph.const(ensemble.left.astype(np.int32), "left", dtype=np.int32)
    right_table = graph.const(ensemble.right.astype(np.int32), "right", dtype=np.int32)
    missing_right = ~ensemble.missing_left & ~ensemble.is_leaf
    missing_table = graph.const(missing_right, "missing_right", dtype=np.bool_) if missing_right.any() else None
    # Step one from the roots, whose features and thresholds are constants of shape [trees, 1]; a root that
    # is a leaf has itself as both children, so a forest of lone leaves needs no special case.
    value = graph.gather(x_t, graph.const(ensemble.feature[:, 0].astype(np.int32), "root_feature", dtype=np.int32))
    root_mr = missing_right[:, :1]
    went_right = _go_right(
        graph,
        value,
        graph.const(thresholds[:, :1], "root_threshold", dtype=thresholds.dtype),
        graph.const(root_mr, "root_missing_right", dtype=np.bool_) if root_mr.any() else None,
    )
    index = graph.where(
        went_right,
        graph.const(ensemble.right[:, :1].astype(np.int32), "root_right", dtype=np.int32),
        graph.const(ensemble.left[:, :1].astype(np.int32), "root_left", dtype=np.int32),
    )
    for _ in range(depth - 1):
        feat = graph.gather_elements(feature_table, index, axis=1)
        value = graph.gather_elements(x_t, feat, axis=0)
        thr = graph.gather_elements(threshold_table, index, axis=1)
        mr = None if missing_table is None else graph.gather_elements(missing_table, index, axis=1)
        went_right = _go_right(graph, value, thr, mr)
        index = graph.where(
            went_right,
            graph.gather_elements(right_table, index, axis=1),
            graph.gather_elements(left_table, index, axis=1),
        )
    return _sum_leaves(graph, ensemble, ensemble.value, index)


def _gemm_tables(ensemble: TreeEnsemble) -> dict[str, np.ndarray]:
    """Per tree: internal nodes' features/thresholds, the leaf × internal path matrix, leaf values."""
    reachable = ensemble.reachable
    internal = [np.flatnonzero(~ensemble.is_leaf[t] & reachable[t]) for t in range(ensemble.n_trees)]
    leaves = [np.flatnonzero(ensemble.is_leaf[t] & reachable[t]) for t in range(ensemble.n_trees)]
    n_internal = max(1, max(len(i) for i in internal))
    n_leaves = max(len(leaf) for leaf in leaves)
    trees = ensemble.n_trees
    feature = np.zeros((trees, n_internal), np.int64)
    threshold = np.zeros((trees, n_internal), np.float64)
    missing_left = np.ones((trees, n_internal), bool)
    path = np.zeros((trees, n_leaves, n_internal), np.float32)
    # Padding leaves can never match: their left-turn count would have to be -1.
    lefts_needed = np.full((trees, n_leaves), -1.0, np.float32)
    values = np.zeros((trees, ensemble.n_outputs, n_leaves), np.float64)
    for t in range(trees):
        position = {node: i for i, node in enumerate(internal[t])}
        feature[t, : len(internal[t])] = ensemble.feature[t, internal[t]]
        threshold[t, : len(internal[t])] = ensemble.threshold[t, internal[t]]
        missing_left[t, : len(internal[t])] = ensemble.missing_left[t, internal[t]]
        leaf_slot = {node: i for i, node in enumerate(leaves[t])}
        values[t, :, : len(leaves[t])] = ensemble.value[t, leaves[t]].T
        stack = [(0, [])]  # (node, [(internal position, went left)])
        while stack:
            node, turns = stack.pop()
            if ensemble.is_leaf[t, node]:
                slot = leaf_slot[node]
                for pos, went_left in turns:
                    path[t, slot, pos] = 1.0 if went_left else -1.0
                lefts_needed[t, slot] = sum(went_left for _, went_left in turns)
                continue
            pos = position[node]
            stack.append((int(ensemble.left[t, node]), [*turns, (pos, True)]))
            stack.append((int(ensemble.right[t, node]), [*turns, (pos, False)]))
    return {
        "feature": feature,
        "threshold": threshold,
        "missing_left": missing_left,
        "path": path,
        "lefts_needed": lefts_needed,
        "values": values,
    }


def gemm_table_bytes(ensemble: TreeEnsemble) -> int:
    leaves = int(ensemble.n_leaves.max())
    return _table_bytes((ensemble.n_trees, leaves, max(1, leaves - 1)))


def lower_gemm(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var) -> Var:
    """See the module docstring; refused when the path matrices exceed :data:`MAX_TABLE_BYTES`."""
    size = gemm_table_bytes(ensemble)
    if size > MAX_TABLE_BYTES:
        raise UnsupportedParameterError(
            f"strategy='gemm' needs {size / 1024**2:.0f} MiB of path matrices for {ensemble.n_trees} trees "
            f"(limit {MAX_TABLE_BYTES / 1024**2:.0f} MiB); use 'tree_traversal' or 'auto'"
        )
    if ensemble.max_depth == 0:
        return lower_tree_traversal(graph, ensemble, x)
    tables = _gemm_tables(ensemble)
    xc, _ = _compare_input(graph, ensemble, x)
    thresholds = float32_thresholds(tables["threshold"]) if xc.dtype == np.float32 else tables["threshold"]
    x_t = graph.transpose(xc, [1, 0])
    # [trees, internal, batch]: the value each internal node tests, for every row.
    value = graph.gather(x_t, graph.const(tables["feature"].astype(np.int32), "feature", dtype=np.int32), axis=0)
    went_left = graph.less_equal(value, graph.const(thresholds[:, :, None], "threshold", dtype=thresholds.dtype))
    # NaN fails `<=`, so it goes left only where the node says so.
    missing_left = tables["missing_left"]
    nan_left = graph.is_nan(value)
    if not missing_left.all():
        nan_left = graph.logical_and(nan_left, graph.const(missing_left[:, :, None], "missing_left", dtype=np.bool_))
    went_left = graph.logical_or(went_left, nan_left)
    turns = graph.cast(went_left, np.float32)
    # [trees, leaves, batch]: each leaf's count of matching left turns; the leaf reached has all of them.
    matched = graph.matmul(graph.const(tables["path"], "path", dtype=np.float32), turns)
    reached = graph.equal(matched, graph.const(tables["lefts_needed"][:, :, None], "lefts_needed", dtype=np.float32))
    one_hot = graph.cast(reached, graph.dtype)
    # [trees, outputs, batch] -> sum over trees -> [batch, outputs]
    per_tree = graph.matmul(graph.const(tables["values"], "leaf_values"), one_hot)
    summed = graph.transpose(graph.reduce_sum(per_tree, [0]), [1, 0])
    return graph.add(summed, graph.const(ensemble.base, "base"))


LOWERINGS = {
    "gemm": lower_gemm,
    "tree_traversal": lower_tree_traversal,
    "perfect_tree_traversal": lower_perfect_tree_traversal,
}


def choose_strategy(ensemble: TreeEnsemble, device: str) -> str:
    """The ``auto`` rule (see :mod:`sk2tensor.converters.trees.auto` for the measurements behind it)."""
    from sk2tensor.converters.trees.auto import choose

    return choose(ensemble, device)


def lower_ensemble(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, strategy: str, device: str) -> Lowered:
    """Lower with ``strategy`` (``"auto"`` picks one); returns the ``[batch, outputs]`` raw sum."""
    chosen = choose_strategy(ensemble, device) if strategy == "auto" else strategy
    if chosen not in LOWERINGS:
        raise UnsupportedParameterError(f"unknown tree strategy {chosen!r}; use one of {sorted(LOWERINGS)} or 'auto'")
    return Lowered(LOWERINGS[chosen](graph, ensemble, x), chosen)
