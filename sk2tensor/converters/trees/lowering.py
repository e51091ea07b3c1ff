"""Three lowerings of a TreeEnsemble to plain tensor operations.

Each lowering returns the float64 sum over trees, in tree order, of the leaf values reached, shape
``[batch, outputs]``. Every lowering sends a row left exactly when sklearn does (see :func:`split_tables`):

* Thresholds become the largest float32 not above the float64 threshold when sklearn compares in float32, and
  every node tests ``went_right = column > threshold``.
* NaN costs nothing per level. NaN fails ``>``, so it already goes left; for the nodes where it must go right
  the graph tests a second copy of the input in which NaN reads ``+inf`` (one ``IsNaN`` + ``Where`` on the
  ``[batch, features]`` input, not on the ``[trees, batch]`` state). A split that sends only NaN right has a
  threshold of ``+inf``; it is clamped to the largest finite value, which keeps every finite decision.
* Leaves and padding test ``column 0 > +inf``, never true, so a row that reached a leaf stays there.

Strategies (the state is ``[trees, batch]``, int32 node indices: on the CPU provider ``GatherElements`` on that
layout with int32 indices is ~10× faster than ``Gather`` on flat tables, DESIGN.md):

* ``gemm``: gather the tested column of every internal node, compare, then one batched matmul with the
  leaf × internal path matrix finds the leaf reached; cost grows with internal nodes × leaves per tree.
* ``tree_traversal``: steps of (gather node's column and threshold, compare, step to a child) on the node
  arrays renumbered breadth-first so that ``right child = left child + 1``: one child table and an ``Add`` of
  the comparison instead of two child tables and a ``Where``. Trees run in groups of similar depth
  (:func:`depth_groups`), each group only as many steps as its deepest tree; the top
  :data:`TRAVERSAL_PERFECT_LEVELS` levels run as in perfect traversal, from small per-level tables, and the
  groups run them together (one set of operators: a small call pays per operator). On the CPU
  the steps below them run the trees in parts whose node tables fit in the cache
  (:data:`TRAVERSAL_CACHE_BYTES`) when a call has enough rows for it to pay (an ``If`` on the rows, computed
  without shape operators). Works at any depth; memory ``trees × nodes``.
* ``perfect_tree_traversal``: trees padded to perfect binary trees of depth ``D``, one table per level, so the
  next index is ``2 i + went_right`` and no child table is needed; memory ``trees × 2^D``. The top
  :data:`LOGIC_LEVELS` levels use no ``GatherElements``: every node of the level tests its column over the whole
  batch and bool logic selects each row's test. Nor does any level whose nodes make one test per tree (every
  level of CatBoost's symmetric trees): 100 symmetric trees of depth 6 ran 2.3x faster that way (4,096 rows,
  one thread). Testing all levels in one ``Gather``/``Greater``/``Where``/``ReduceSum`` was 2.4x slower than
  level by level, and ``Where`` + ``Sum`` instead of ``Cast`` + ``Add`` for the position no faster.

No lowering computes a shape at run time (no ``Shape``/``ConstantOfShape``/``Expand``): per-tree constants have
shape ``[trees, 1]`` and broadcast against the batch, so the graphs run on strict CUDA sessions too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from itertools import pairwise

import numpy as np

from sk2tensor.converters.trees.ensemble import TreeEnsemble, float32_thresholds
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var

#: Largest table (bytes) a lowering may store as initializers; past it the strategy is refused and ``auto``
#: falls back to ``tree_traversal``, whose tables grow with the real node count only.
MAX_TABLE_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class Lowered:
    """The float64 ``[batch, outputs]`` sum of leaf values, the strategy that produced it, and the int64
    ``[batch, trees]`` leaf node ids when they were asked for."""

    value: Var
    strategy: str
    leaves: Var | None = None


@dataclass(frozen=True)
class SplitTables:
    """What every node tests, as ``columns[column, row] > threshold``.

    Attributes
    ----------
    columns:
        ``[n_columns, batch]``: the input transposed, followed (when some node sends NaN right) by a copy in
        which NaN reads ``+inf``.
    column:
        ``int64 [trees, nodes]``: the row of ``columns`` each node tests (0 for leaves and padding).
    threshold:
        ``[trees, nodes]`` in the comparison dtype; ``+inf`` for leaves and padding.
    """

    columns: Var
    column: np.ndarray
    threshold: np.ndarray


def split_tables(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var) -> SplitTables:
    """The transposed input and per-node tables with which ``column > threshold`` is sklearn's ``went right``."""
    if ensemble.compare_in_float32 or graph.dtype == np.float32:
        xc, threshold = graph.cast(x, np.float32), float32_thresholds(ensemble.threshold)
    else:
        xc, threshold = x, ensemble.threshold.astype(graph.dtype)
    internal = ~ensemble.is_leaf
    # A split sending only NaN right has threshold +inf: every finite value is below the largest finite one.
    threshold = np.where(internal, np.minimum(threshold, np.finfo(threshold.dtype).max), np.inf).astype(threshold.dtype)
    column = np.where(internal, ensemble.feature, 0)
    nan_right = internal & ~ensemble.missing_left
    if nan_right.any():
        nan_as_inf = graph.where(graph.is_nan(xc), graph.const(np.array(np.inf, xc.dtype), "inf", dtype=xc.dtype), xc)
        xc = graph.concat([xc, nan_as_inf], axis=1)
        column = column + ensemble.n_features * nan_right
    return SplitTables(graph.transpose(xc, [1, 0]), column, threshold)


def _went_right(graph: GraphBuilder, value: Var, threshold: Var) -> Var:
    """``int32``: 1 where the row goes right."""
    return graph.cast(graph.greater(value, threshold), np.int32)


#: The top levels of perfect traversal run without ``GatherElements``: each of the level's ``2^l`` nodes tests
#: its column over the whole batch (``Gather`` of whole rows and ``Greater``, ~0.4 ns per tree and row), and
#: bool ``And``/``Or``/``Not`` (~0.1 ns each) select each row's test by the bits of the levels above. A level
#: costs ``2^l`` tests and ``2^l - 1`` selections against ~5 ns for three ``GatherElements``, a ``Cast`` and two
#: ``Add``: three levels won (100 trees of depth 8, 4,096 rows, one thread: 1.12-1.19× the whole graph), four
#: gained nothing more.
LOGIC_LEVELS = 3


def _select(graph: GraphBuilder, bit: tuple[Var, Var], left: Var, right: Var) -> Var:
    """Bool ``right`` where ``bit``, else ``left``; ``bit`` is the pair ``(bit, not bit)``."""
    return graph.logical_or(graph.logical_and(bit[1], left), graph.logical_and(bit[0], right))


def _position(graph: GraphBuilder, bits: list[Var]) -> Var:
    """``int32`` position in the level below the went-right ``bits`` (most significant first).

    Summed in float32 (exact for small integers): ``Cast`` from bool to float32 and float32 ``Add`` are about
    twice as fast as their int32 counterparts on the CPU provider.
    """
    if len(bits) == 1:
        return graph.cast(bits[0], np.int32)
    total = graph.cast(bits[0], np.float32)
    for bit in bits[1:]:
        total = graph.add(graph.add(total, total), graph.cast(bit, np.float32))
    return graph.cast(total, np.int32)


def _int32(graph: GraphBuilder, table: np.ndarray, hint: str) -> Var:
    return graph.const(np.asarray(table).astype(np.int32), hint, dtype=np.int32)


def _sum_leaves(
    graph: GraphBuilder,
    ensemble: TreeEnsemble,
    nodes: np.ndarray,
    index: Var,
    x: Var,
    padding: np.ndarray | None = None,
    leaves: list[Var] | None = None,
) -> Var:
    """``sum_t value[t, nodes[t, index[t, row]]]`` as float64 ``[batch, outputs]``; ``leaves`` (when given)
    receives the leaf each tree reaches, int64 ``[batch, trees]`` node ids of the original numbering (sklearn's
    ``apply``).

    ``nodes [T, L]`` is the node (original numbering) at each slot the lowering's ``index [T, batch]`` points to;
    ``padding [T, L]`` marks slots no row reaches. ``ReduceSum`` over the leading axis adds the trees one after
    the other, in tree order, as sklearn does. ``x`` is the lowering's input, read by linear leaves.
    """
    rows = np.arange(ensemble.n_trees)[:, None]
    nodes = np.where(padding, 0, nodes) if padding is not None else nodes
    if leaves is not None:
        leaf = graph.gather_elements(graph.const(nodes.astype(np.int64), "leaf_node", np.int64), index, axis=1)
        leaves.append(graph.transpose(leaf, [1, 0]))
    # Only leaves are ever reached: internal slots hold 0 rather than their node's value, which lets the table be
    # stored narrow (fully grown classification forests have leaves of 0 and 1 only).
    unused = ~ensemble.is_leaf[rows, nodes]
    if padding is not None:
        unused |= padding
    leaf_values = np.where(unused[:, :, None], 0.0, ensemble.value[rows, nodes])
    if ensemble.linear is not None:
        return _sum_linear_leaves(graph, ensemble, nodes, leaf_values, index, x)
    per_output = []
    for k in range(ensemble.n_outputs):
        table = graph.const(leaf_values[:, :, k], "leaf_values", dtype=np.float64)
        per_output.append(graph.reduce_sum(graph.gather_elements(table, index, axis=1), [0], keepdims=True))
    summed = per_output[0] if len(per_output) == 1 else graph.concat(per_output, axis=0)
    return graph.transpose(summed, [1, 0])


def zeros_row(graph: GraphBuilder, columns: Var) -> Var:
    """``[1, batch]`` float64 zeros for ``columns [n, batch]``, without computing a shape: ``a < a`` is false for
    every value, NaN and infinities included."""
    first = graph.slice(columns, [0], [1])
    return graph.cast(graph.less(first, first), np.float64)


def _sum_linear_leaves(
    graph: GraphBuilder, ensemble: TreeEnsemble, nodes: np.ndarray, leaf_values: np.ndarray, index: Var, x: Var
) -> Var:
    """:func:`_sum_leaves` for leaves holding linear models (:class:`LinearLeaves`).

    Each of the ``K`` terms gathers, per tree and row, the leaf's feature and coefficient, then the feature's
    value from the float64 transposed input, and adds the product to the running ``[trees, batch]`` score in
    LightGBM's order. Unused slots read an appended row of zeros (so they add exactly ``+0``); a NaN in a used
    feature makes the tree score its leaf's constant value instead.
    """
    linear = ensemble.linear
    assert linear is not None
    rows = np.arange(ensemble.n_trees)[:, None]
    values = graph.transpose(graph.cast(x, np.float64), [1, 0])  # [columns, batch]
    values = graph.concat([values, zeros_row(graph, values)], axis=0)
    zero_row = ensemble.n_features
    score = graph.gather_elements(graph.const(linear.const[rows, nodes], "leaf_const", dtype=np.float64), index, 1)
    has_nan: Var | None = None
    for k in range(linear.width):
        feature = linear.feature[rows, nodes, k]
        if (feature < 0).all():
            continue
        feature = np.where(feature < 0, zero_row, feature)
        column = graph.gather_elements(_int32(graph, feature, "leaf_feature"), index, axis=1)
        value = graph.gather_elements(values, column, axis=0)
        coeff = graph.const(linear.coeff[rows, nodes, k], "leaf_coeff", dtype=np.float64)
        score = graph.add(score, graph.mul(graph.gather_elements(coeff, index, axis=1), value))
        nan = graph.is_nan(value)
        has_nan = nan if has_nan is None else graph.logical_or(has_nan, nan)
    outputs = np.arange(ensemble.n_outputs)
    if has_nan is not None:
        constant = np.take_along_axis(leaf_values, linear.output[:, None, None], axis=2)[:, :, 0]
        fallback = graph.gather_elements(graph.const(constant, "leaf_values", dtype=np.float64), index, axis=1)
        score = graph.where(has_nan, fallback, score)
    if len(outputs) == 1:
        return graph.transpose(graph.reduce_sum(score, [0], keepdims=True), [1, 0])
    zero = graph.const(0.0, "zero", np.float64)
    per_output = [
        graph.reduce_sum(graph.where(graph.const(linear.output[:, None] == k, "adds_to"), score, zero), [0], True)
        for k in outputs
    ]
    return graph.transpose(graph.concat(per_output, axis=0), [1, 0])


def _table_bytes(*shapes: tuple[int, ...]) -> int:
    return sum(int(np.prod(s, dtype=np.float64)) * 4 for s in shapes)


def perfect_table_bytes(ensemble: TreeEnsemble) -> int:
    """Bytes of the padded tables of ``perfect_tree_traversal``."""
    return _table_bytes((ensemble.n_trees, 2**ensemble.max_depth, ensemble.n_outputs + 2))


def lower_perfect_tree_traversal(
    graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, leaves: list[Var] | None = None
) -> Var:
    """See the module docstring; refused when the padded tables exceed :data:`MAX_TABLE_BYTES`."""
    depth, trees = ensemble.max_depth, ensemble.n_trees
    size = perfect_table_bytes(ensemble)
    if size > MAX_TABLE_BYTES:
        raise UnsupportedParameterError(
            f"strategy='perfect_tree_traversal' would pad {trees} trees of depth {depth} to "
            f"{size / 1024**2:.0f} MiB of tables (limit {MAX_TABLE_BYTES / 1024**2:.0f} MiB); "
            "use 'tree_traversal' or 'auto'"
        )
    if depth == 0:  # every tree is a single leaf: no level to pad
        return lower_tree_traversal(graph, ensemble, x, leaves=leaves)
    split = split_tables(graph, ensemble, x)
    index, nodes = _perfect_levels(graph, split, ensemble, np.arange(trees), depth)
    return _sum_leaves(graph, ensemble, nodes, index, x, leaves=leaves)


def _perfect_levels(
    graph: GraphBuilder,
    split: SplitTables,
    ensemble: TreeEnsemble,
    trees: np.ndarray,
    levels: int,
    start: tuple[Var, np.ndarray] | None = None,
) -> tuple[Var, np.ndarray]:
    """``levels`` steps of perfect traversal from the roots of ``trees``, or from ``start``: the position and
    nodes a previous call returned for these trees.

    Returns the ``[trees, batch]`` int32 position reached in the perfect tree ``levels`` deeper, and
    ``nodes [trees, 2^depth]``, the node (original numbering) at each position: a leaf above the last level
    stands for its whole padded subtree (it never goes right anyway).

    A level whose nodes all make the same test within each tree (every level of CatBoost's symmetric trees; a
    level of leaves only) is one whole-row ``Gather`` and ``Greater`` per tree, whatever the row's position:
    no ``GatherElements`` and no selection.
    """
    rows = trees[:, None]
    index: Var | None = None
    nodes = np.zeros((len(trees), 1), dtype=np.int64)  # the level's nodes of each tree, in perfect-tree order
    if start is not None:
        index, nodes = start
    logic = min(levels, LOGIC_LEVELS) if start is None else 0
    bits: list[Var] = []  # went-right bits of the levels above while no position is computed, bool [trees, batch]
    negations: dict[int, Var] = {}

    def negation(i: int) -> Var:
        if i not in negations:
            negations[i] = graph.logical_not(bits[i])
        return negations[i]

    def test(column: np.ndarray, threshold: np.ndarray, slot: int) -> Var:
        value = graph.gather(split.columns, _int32(graph, column[:, slot], "slot_column"))
        return graph.greater(value, graph.const(threshold[:, slot : slot + 1], "slot_threshold", threshold.dtype))

    for level in range(levels):
        column, threshold = split.column[rows, nodes], split.threshold[rows, nodes]
        uniform = bool((column == column[:, :1]).all() and (threshold == threshold[:, :1]).all())
        if index is None and uniform:  # one test per tree, whichever node the row is at
            bits.append(test(column, threshold, 0))
        elif index is None and level < logic:
            # Every node of the level tests its column (Gather copies whole rows: no per-element index), then
            # the bits of the levels above pick each row's test, least significant bit first.
            tested = [test(column, threshold, slot) for slot in range(column.shape[1])]
            for i in reversed(range(len(bits))):
                tested = [
                    _select(graph, (bits[i], negation(i)), tested[j], tested[j + 1]) for j in range(0, len(tested), 2)
                ]
            bits.append(tested[0])
        else:
            if index is None:
                index = _position(graph, bits)
            if uniform:
                went_right = graph.cast(test(column, threshold, 0), np.int32)
            else:
                col = graph.gather_elements(_int32(graph, column, "column"), index, axis=1)
                value = graph.gather_elements(split.columns, col, axis=0)
                thr = graph.gather_elements(graph.const(threshold, "threshold", dtype=threshold.dtype), index, axis=1)
                went_right = _went_right(graph, value, thr)
            index = graph.add(graph.add(index, index), went_right)
        leaf = ensemble.is_leaf[rows, nodes]
        left = np.where(leaf, nodes, ensemble.left[rows, nodes])
        right = np.where(leaf, nodes, ensemble.right[rows, nodes])
        nodes = np.stack([left, right], axis=2).reshape(len(trees), -1)
    if index is None:
        index = _position(graph, bits)
    return index, nodes


def breadth_first_order(ensemble: TreeEnsemble) -> tuple[np.ndarray, np.ndarray]:
    """Renumber every tree breadth-first so that the two children of a node are adjacent.

    Returns ``old [trees, nodes]``, the original index of each new node (padding maps to an unreachable or
    leaf node: its tables are overwritten by the caller), and ``left [trees, nodes]``, each new node's left
    child in the new numbering (itself for leaves and padding); its right child is ``left + 1``.
    """
    trees, n_nodes = ensemble.feature.shape
    old = np.zeros((trees, n_nodes), np.int64)
    left = np.broadcast_to(np.arange(n_nodes, dtype=np.int64), (trees, n_nodes)).copy()
    reached = np.zeros((trees, n_nodes), bool)
    # The frontier, grouped by tree: tree, old index, new index.
    tree_ids = np.arange(trees)
    old_ids = np.zeros(trees, np.int64)
    new_ids = np.zeros(trees, np.int64)
    used = np.ones(trees, np.int64)  # new indices taken per tree
    while tree_ids.size:
        old[tree_ids, new_ids] = old_ids
        reached[tree_ids, new_ids] = True
        internal = ~ensemble.is_leaf[tree_ids, old_ids]
        tree_ids, old_ids, new_ids = tree_ids[internal], old_ids[internal], new_ids[internal]
        if not tree_ids.size:
            break
        # Rank of each internal node among its tree's frontier nodes (the frontier is grouped by tree).
        first = np.searchsorted(tree_ids, tree_ids, side="left")
        rank = np.arange(tree_ids.size) - first
        child = used[tree_ids] + 2 * rank
        left[tree_ids, new_ids] = child
        used += 2 * np.bincount(tree_ids, minlength=trees)
        tree_ids = np.repeat(tree_ids, 2)
        old_ids = np.stack([ensemble.left[tree_ids[::2], old_ids], ensemble.right[tree_ids[::2], old_ids]], 1).ravel()
        new_ids = np.stack([child, child + 1], 1).ravel()
    return np.where(reached, old, -1), left


#: ``tree_traversal`` steps every tree as deep as the deepest tree it runs with, so trees are run in groups of
#: similar depth. A group costs per row about ``TRAVERSAL_STEP_SECONDS`` per tree and level, and per call about
#: ``TRAVERSAL_LEVEL_SECONDS`` per level (seven operators of dispatch); the groups minimise their sum for
#: ``TRAVERSAL_GROUP_ROWS`` rows per call. Measured on ONNX Runtime's CPU provider (``benchmarks/``). The groups
#: share their top levels (:func:`lower_tree_traversal`), so a group's operators really cost only its levels below
#: them; counting just those makes more groups (hist gradient boosting: 5 instead of 3), which took 0.87-0.91x
#: the time at 8,192 rows and 0.86-0.93x at 100, but 1.10-1.17x at one row (LightGBM and hist gradient boosting,
#: 100 trees, one thread, interleaved). The rule stays: one row is where ``auto`` is furthest from the best.
TRAVERSAL_STEP_SECONDS = 5e-9
TRAVERSAL_LEVEL_SECONDS = 7e-6
TRAVERSAL_GROUP_ROWS = 128


def depth_groups(depths: np.ndarray, rows: int = TRAVERSAL_GROUP_ROWS) -> list[np.ndarray]:
    """Trees (indices, by increasing depth) to traverse together: the cheapest split for ``rows`` per call."""
    depths = np.asarray(depths)
    levels, counts = np.unique(np.maximum(depths, 1), return_counts=True)
    best = [0.0] * (len(levels) + 1)  # best[j]: cheapest cost of the first j distinct depths
    cut = [0] * (len(levels) + 1)
    for j in range(1, len(levels) + 1):
        best[j] = np.inf
        for i in range(j):
            trees = int(counts[i:j].sum())
            cost = best[i] + levels[j - 1] * (trees * rows * TRAVERSAL_STEP_SECONDS + TRAVERSAL_LEVEL_SECONDS)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    bounds, j = [], len(levels)
    while j > 0:
        bounds.append((cut[j], j))
        j = cut[j]
    clipped = np.maximum(depths, 1)
    # Within a group, trees keep their order (a single group is the identity).
    return [np.flatnonzero((clipped >= levels[i]) & (clipped <= levels[j - 1])) for i, j in reversed(bounds)]


#: ``tree_traversal`` runs the top levels of each tree as ``perfect_tree_traversal`` does (three gathers per level
#: from small per-level tables that stay in the cache, instead of four from the whole node table), then maps
#: the position reached to its node and steps on from there.
TRAVERSAL_PERFECT_LEVELS = 8

#: On the CPU, the steps below the top levels run the trees in parts whose node tables (column, threshold and
#: left child of every node) hold about this many bytes, so that a part's tables stay in the cache from one
#: gather to the next instead of every tree's streaming through it at each step. Measured (2-core AMD EPYC,
#: 100,000 rows, two threads, interleaved): extra trees of unlimited depth (40,000 nodes, 480 KB of tables per
#: tree) took 1,515 ms in one part, 991 ms in parts of 2 MiB, 1,126 ms at 4 MiB, 1,518 ms at 8 MiB (sklearn
#: ``n_jobs=1``: 1,860 ms); on one thread (40,000 rows) 1,254 ms against 694 ms at 2 MiB, while 0.5 MiB gained
#: nothing more and made 15,756 operators. The random forest of unlimited depth (3,300 nodes per tree): 607 ms
#: in one part, 501 ms at 2 MiB. The cost is operators (the extra trees' steps go from 542 to 4,257), which
#: small calls would pay (one row: 0.5 -> 3.6 ms), so they skip the parts (:data:`TRAVERSAL_PARTS_MIN_ROWS`).
#: Not on CUDA, where every part is more kernel launches.
TRAVERSAL_CACHE_BYTES = 2 * 1024**2
#: Operators a traversal step adds per part (three table gathers, the column gather, ``Greater``, ``Cast``,
#: ``Add``), and the most step operators one group of trees may use: past it the parts grow beyond
#: :data:`TRAVERSAL_CACHE_BYTES` instead of multiplying. Converting (graph, session, validation) slows down
#: faster than the operator count past a few thousand: the extra trees took 2.7 s with 4,257 operators,
#: 6.8 s with 8,151 and 26 s with 15,756.
STEP_OPERATORS = 7
MAX_STEP_OPERATORS = 6000
#: Parts pay off from this many rows per call: the extra trees took 7.7 ms in parts against 4.8 ms at once for
#: 100 rows, 30 against 40 ms for 1,000 (one thread). Smaller calls step all the trees at once: the graph holds
#: both, and an ``If`` on the call's rows picks one.
TRAVERSAL_PARTS_MIN_ROWS = 512


def cache_parts(table_bytes: np.ndarray, budget: int) -> list[slice]:
    """Consecutive parts of the trees whose node tables (``table_bytes`` per tree) hold about ``budget`` bytes each.

    ``ceil(total / budget)`` parts at most, cut where the running total crosses equal shares of it; a part never
    splits a tree, so a tree larger than ``budget`` stands alone. One part when everything fits.
    """
    table_bytes = np.asarray(table_bytes, dtype=np.float64)
    parts = max(1, int(np.ceil(table_bytes.sum() / budget)))
    if parts == 1 or len(table_bytes) == 1:
        return [slice(0, len(table_bytes))]
    ends = np.cumsum(table_bytes)
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, parts) / parts, side="left") + 1
    bounds = sorted({0, len(table_bytes), *(int(c) for c in cuts if 0 < c < len(table_bytes))})
    return [slice(a, b) for a, b in pairwise(bounds)]


def _node_table_bytes(column: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Bytes of each tree's traversal tables: column, threshold and left child of every real node (``column >= 0``)."""
    return (column >= 0).sum(axis=1) * (2 * np.dtype(np.int32).itemsize + threshold.dtype.itemsize)


def _steps(graph: GraphBuilder, split: SplitTables, index: Var, tables: tuple[Var, Var, Var], steps: int) -> Var:
    """``steps`` traversal steps from the nodes in ``index``, on the breadth-first ``(column, threshold, left)``
    tables of the trees in ``index``'s rows."""
    column_table, threshold_table, left_table = tables
    for _ in range(steps):
        col = graph.gather_elements(column_table, index, axis=1)
        value_at = graph.gather_elements(split.columns, col, axis=0)
        thr = graph.gather_elements(threshold_table, index, axis=1)
        went_right = _went_right(graph, value_at, thr)
        index = graph.add(graph.gather_elements(left_table, index, axis=1), went_right)
    return index


def _table_width(column: np.ndarray, left: np.ndarray) -> int:
    """Columns of the breadth-first tables that the trees' real nodes use: children sit at left and left + 1."""
    return int(np.max(np.where(column >= 0, left, 0))) + 2


def _rows_at_least(graph: GraphBuilder, index: Var, rows: int) -> Var:
    """Bool scalar: ``index [trees, batch]`` has at least ``rows`` columns, computed without shape operators."""
    first = graph.gather(index, _int32(graph, np.array([0]), "first_tree"), axis=0)
    ones = graph.add(graph.mul(first, _int32(graph, np.array(0), "zero")), _int32(graph, np.array(1), "one"))
    batch = graph.reduce_sum(ones, [0, 1], keepdims=False)
    return graph.greater_equal(batch, _int32(graph, np.array(rows), "part_rows"))


def _traverse(
    graph: GraphBuilder,
    split: SplitTables,
    ensemble: TreeEnsemble,
    trees: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    top: tuple[Var, np.ndarray, int] | None,
    parts_wanted: Callable[[], Var] | None,
) -> Var:
    """``[trees, batch]`` int32: the node (breadth-first numbering) each row reaches in ``trees``.

    ``tables`` are the whole ensemble's breadth-first ``column``, ``threshold``, ``left`` and the map from
    original to breadth-first node numbers (:func:`breadth_first_order`); real nodes come first, padding after.
    ``top`` is where the shared top levels left these trees (``[trees, batch]`` position, the node at each
    position, and the levels run), or ``None`` to start from the roots. The trees run the rest of their top
    :data:`TRAVERSAL_PERFECT_LEVELS` levels as perfect traversal, then step. With ``parts_wanted`` (on the CPU:
    makes the bool scalar "the call has at least :data:`TRAVERSAL_PARTS_MIN_ROWS` rows"), such a call runs the
    steps in parts of the trees whose node tables hold about :data:`TRAVERSAL_CACHE_BYTES`, each part only as
    deep as its deepest tree; smaller
    calls step all the trees at once (an ``If``).
    """
    column, threshold, left, new_of_old = (table[trees] for table in tables)
    depths = ensemble.depths[trees]
    depth = max(1, int(depths.max()))
    perfect = min(depth, TRAVERSAL_PERFECT_LEVELS)
    if top is None:
        position, nodes = _perfect_levels(graph, split, ensemble, trees, perfect)
    else:
        position, nodes, done = top
        perfect = max(perfect, done)
        if perfect > done:
            position, nodes = _perfect_levels(graph, split, ensemble, trees, perfect - done, start=(position, nodes))
    index = graph.gather_elements(_int32(graph, np.take_along_axis(new_of_old, nodes, 1), "position_node"), position, 1)
    if depth <= perfect:
        return index
    width = _table_width(column, left)
    whole = (
        _int32(graph, np.maximum(column[:, :width], 0), "column"),
        graph.const(threshold[:, :width], "threshold", dtype=threshold.dtype),
        _int32(graph, left[:, :width], "left"),
    )
    parts = [slice(0, len(trees))]
    if parts_wanted is not None:
        tree_bytes = _node_table_bytes(column, threshold)
        most_parts = max(1, MAX_STEP_OPERATORS // (STEP_OPERATORS * (depth - perfect)))
        parts = cache_parts(tree_bytes, max(TRAVERSAL_CACHE_BYTES, int(np.ceil(tree_bytes.sum() / most_parts))))
    if parts_wanted is None or len(parts) == 1:
        return _steps(graph, split, index, whole, depth - perfect)

    def in_parts(sub: GraphBuilder) -> list[Var]:
        stepped = []
        for part in parts:
            rows = np.arange(len(trees))[part]
            part_width = _table_width(column[part], left[part])
            # Each part's tables are a slice of the whole ones (no second copy in the file).
            part_tables = tuple(sub.slice(t, [rows[0], 0], [rows[-1] + 1, part_width]) for t in whole)
            part_index = sub.gather(index, _int32(sub, rows, "part_trees"), axis=0)
            stepped.append(_steps(sub, split, part_index, part_tables, max(1, int(depths[part].max())) - perfect))
        return [sub.concat(stepped, axis=0)]

    def at_once(sub: GraphBuilder) -> list[Var]:
        return [_steps(sub, split, index, whole, depth - perfect)]

    (index,) = graph.if_(parts_wanted(), in_parts, at_once, ranks=[2], hint="parts")
    return index


def lower_tree_traversal(
    graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, device: str = "cpu", leaves: list[Var] | None = None
) -> Var:
    """See the module docstring; trees of similar depth are stepped together (:func:`depth_groups`), and on the
    CPU in parts whose node tables stay in the cache (:data:`TRAVERSAL_CACHE_BYTES`)."""
    split = split_tables(graph, ensemble, x)
    old, left = breadth_first_order(ensemble)
    padding = old < 0
    rows = np.arange(ensemble.n_trees)[:, None]
    old = np.where(padding, 0, old)
    column = np.where(padding, -1, split.column[rows, old])  # -1 marks padding until the tables are cut
    threshold = np.where(padding, np.inf, split.threshold[rows, old]).astype(split.threshold.dtype)
    new_of_old = np.zeros_like(old)
    new_of_old[np.nonzero(~padding)[0], old[~padding]] = np.nonzero(~padding)[1]
    depths = ensemble.depths
    groups = depth_groups(depths)
    on_cpu = device != "cuda"
    if on_cpu:  # a group run in parts sorts its trees by depth, so that parts stop early
        tree_bytes = _node_table_bytes(column, threshold)
        groups = [
            g[np.argsort(depths[g], kind="stable")] if tree_bytes[g].sum() > TRAVERSAL_CACHE_BYTES else g
            for g in groups
        ]
    order = np.concatenate(groups)
    # The groups run their top levels together, in one set of operators, so that each further group adds only
    # its own levels (one row pays per operator, not per tree). A group shallower than the deepest top joins
    # when padding its trees to that depth costs less than its own levels' operators would
    # (TRAVERSAL_STEP_SECONDS and TRAVERSAL_LEVEL_SECONDS at TRAVERSAL_GROUP_ROWS rows): a single-leaf tree, for
    # instance, or the few shallow trees of a boosting run.
    group_depths = [max(1, int(depths[g].max())) for g in groups]
    shared = min(TRAVERSAL_PERFECT_LEVELS, max(group_depths))
    joins = [
        depth >= shared
        or (shared - depth) * len(g) * TRAVERSAL_GROUP_ROWS * TRAVERSAL_STEP_SECONDS <= depth * TRAVERSAL_LEVEL_SECONDS
        for g, depth in zip(groups, group_depths, strict=True)
    ]
    together = np.concatenate([g for g, join in zip(groups, joins, strict=True) if join])
    position, nodes = _perfect_levels(graph, split, ensemble, together, shared)
    parts_wanted = cache(lambda: _rows_at_least(graph, position, TRAVERSAL_PARTS_MIN_ROWS)) if on_cpu else None
    tables = (column, threshold, left, new_of_old)
    indices, first = [], 0
    for group, join in zip(groups, joins, strict=True):
        top = None
        if join:
            last = first + len(group)
            rows = position if len(group) == len(together) else graph.slice(position, [first], [last])
            top, first = (rows, nodes[first:last], shared), last
        indices.append(_traverse(graph, split, ensemble, group, tables, top, parts_wanted))
    index = indices[0] if len(indices) == 1 else graph.concat(indices, axis=0)
    if (order != np.arange(len(order))).any():
        # Back to tree order, so that the leaves are summed in sklearn's order.
        index = graph.gather(index, _int32(graph, np.argsort(order), "tree_order"), axis=0)
    return _sum_leaves(graph, ensemble, old, index, x, padding, leaves)


def _gemm_tables(ensemble: TreeEnsemble) -> dict[str, np.ndarray]:
    """Per tree: internal nodes' positions, the leaf × internal path matrix, leaf values."""
    reachable = ensemble.reachable
    internal = [np.flatnonzero(~ensemble.is_leaf[t] & reachable[t]) for t in range(ensemble.n_trees)]
    leaves = [np.flatnonzero(ensemble.is_leaf[t] & reachable[t]) for t in range(ensemble.n_trees)]
    n_internal = max(1, max(len(i) for i in internal))
    n_leaves = max(len(leaf) for leaf in leaves)
    trees = ensemble.n_trees
    node = np.full((trees, n_internal), -1, np.int64)
    path = np.zeros((trees, n_leaves, n_internal), np.float32)
    # Padding leaves can never match: their right-turn count would have to be -1.
    rights_needed = np.full((trees, n_leaves), -1.0, np.float32)
    values = np.zeros((trees, ensemble.n_outputs, n_leaves), np.float64)
    for t in range(trees):
        position = {n: i for i, n in enumerate(internal[t])}
        node[t, : len(internal[t])] = internal[t]
        leaf_slot = {n: i for i, n in enumerate(leaves[t])}
        values[t, :, : len(leaves[t])] = ensemble.value[t, leaves[t]].T
        stack = [(0, [])]  # (node, [(internal position, went right)])
        while stack:
            n, turns = stack.pop()
            if ensemble.is_leaf[t, n]:
                slot = leaf_slot[n]
                for pos, went_right in turns:
                    path[t, slot, pos] = 1.0 if went_right else -1.0
                rights_needed[t, slot] = sum(went_right for _, went_right in turns)
                continue
            pos = position[n]
            stack.append((int(ensemble.left[t, n]), [*turns, (pos, False)]))
            stack.append((int(ensemble.right[t, n]), [*turns, (pos, True)]))
    leaf = np.full((trees, n_leaves), -1, np.int64)
    for t in range(trees):
        leaf[t, : len(leaves[t])] = leaves[t]
    return {"node": node, "path": path, "rights_needed": rights_needed, "values": values, "leaf": leaf}


def gemm_table_bytes(ensemble: TreeEnsemble) -> int:
    """Bytes of the path matrices of ``gemm``."""
    leaves = int(ensemble.n_leaves.max())
    return _table_bytes((ensemble.n_trees, leaves, max(1, leaves - 1)))


def lower_gemm(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, leaves: list[Var] | None = None) -> Var:
    """See the module docstring; refused when the path matrices exceed :data:`MAX_TABLE_BYTES`."""
    size = gemm_table_bytes(ensemble)
    if size > MAX_TABLE_BYTES:
        raise UnsupportedParameterError(
            f"strategy='gemm' needs {size / 1024**2:.0f} MiB of path matrices for {ensemble.n_trees} trees "
            f"(limit {MAX_TABLE_BYTES / 1024**2:.0f} MiB); use 'tree_traversal' or 'auto'"
        )
    if ensemble.max_depth == 0:
        return lower_tree_traversal(graph, ensemble, x, leaves=leaves)
    tables = _gemm_tables(ensemble)
    split = split_tables(graph, ensemble, x)
    rows = np.arange(ensemble.n_trees)[:, None]
    padding = tables["node"] < 0
    node = np.where(padding, 0, tables["node"])
    column = np.where(padding, 0, split.column[rows, node])
    threshold = np.where(padding, np.inf, split.threshold[rows, node]).astype(split.threshold.dtype)
    # [trees, internal, batch]: whether each internal node sends each row right.
    value = graph.gather(split.columns, _int32(graph, column, "column"), axis=0)
    turns = graph.cast(
        graph.greater(value, graph.const(threshold[:, :, None], "threshold", dtype=threshold.dtype)), np.float32
    )
    # [trees, leaves, batch]: each leaf's count of matching right turns; the leaf reached has all of them.
    matched = graph.matmul(graph.const(tables["path"], "path", dtype=np.float32), turns)
    needed = graph.const(tables["rights_needed"][:, :, None], "rights_needed", dtype=np.float32)
    one_hot = graph.cast(graph.equal(matched, needed), np.float64)
    if ensemble.linear is not None or leaves is not None:  # the leaf reached, for the leaf models or as an output
        index = graph.argmax(one_hot, axis=1)
        return _sum_leaves(graph, ensemble, tables["leaf"], index, x, tables["leaf"] < 0, leaves)
    # [trees, outputs, batch] -> float64 sum over trees, in tree order -> [batch, outputs]
    per_tree = graph.matmul(graph.const(tables["values"], "leaf_values", dtype=np.float64), one_hot)
    return graph.transpose(graph.reduce_sum(per_tree, [0]), [1, 0])


LOWERINGS = {
    "gemm": lower_gemm,
    "tree_traversal": lower_tree_traversal,
    "perfect_tree_traversal": lower_perfect_tree_traversal,
}


def choose_strategy(ensemble: TreeEnsemble, device: str) -> str:
    """The ``auto`` rule (see :mod:`sk2tensor.converters.trees.auto` for the measurements behind it)."""
    from sk2tensor.converters.trees.auto import choose

    return choose(ensemble, device)


def lower_ensemble(
    graph: GraphBuilder,
    ensemble: TreeEnsemble,
    x: Var,
    strategy: str,
    device: str,
    leaves: bool = False,
    leaf_dtype: str = "float64",
) -> Lowered:
    """Lower with ``strategy`` (``"auto"`` picks one); returns the ``[batch, outputs]`` raw sum and, with
    ``leaves``, the ``[batch, trees]`` int64 leaf node each tree reaches. ``leaf_dtype="float32"`` rounds each
    leaf value to the nearest float32 first (the sum stays float64); the tables are then stored in 4 bytes."""
    if leaf_dtype != "float64":
        ensemble = replace(ensemble, value=ensemble.value.astype(leaf_dtype).astype(np.float64))
    chosen = choose_strategy(ensemble, device) if strategy == "auto" else strategy
    if chosen not in LOWERINGS:
        raise UnsupportedParameterError(f"unknown tree strategy {chosen!r}; use one of {sorted(LOWERINGS)} or 'auto'")
    sink: list[Var] | None = [] if leaves else None
    if chosen == "tree_traversal":
        value = lower_tree_traversal(graph, ensemble, x, device, sink)
    else:
        value = LOWERINGS[chosen](graph, ensemble, x, sink)
    return Lowered(value, chosen, sink[0] if sink else None)
