"""Per-feature contributions (path-dependent TreeSHAP) of a TreeEnsemble's raw sum, as plain tensor operations.

The contributions are the SHAP values of Lundberg et al.'s TreeSHAP with ``feature_perturbation=
"tree_path_dependent"``: what ``shap.TreeExplainer`` gives without background data, XGBoost's
``pred_contribs=True`` and LightGBM's ``pred_contrib=True``. A feature left out of a coalition follows both
branches of its splits, weighted by the training cover of each child (sklearn's ``weighted_n_node_samples``,
HistGradientBoosting's counts, XGBoost's hessian sums, LightGBM's counts).

TreeSHAP splits over the paths from a root to a leaf (GPUTreeShap's formulation, Mitchell et al. 2022): a leaf's
value reaches the row in proportion to, for each distinct feature ``e`` on its path, ``z_e`` (the product of the
cover fractions of the path's branches on ``e``) when ``e`` is left out, and ``o_e`` (1 when the row takes every
branch of the path on ``e``, else 0) when it is in. The Shapley values of that product game are TreeSHAP's
``EXTEND``/``UNWIND`` recurrences, here run for every path and row at once on ``[elements, paths, batch]``
tensors (element-major: a recurrence step is one matrix product over ``paths * batch`` columns), paths grouped in
buckets of equal element count (:func:`path_buckets`):

* ``EXTEND`` (element ``i``): ``w'[k] = z_i w[k] (i - k) / (i + 1) + o_i w[k - 1] k / (i + 1)`` from
  ``w = [1, 0, ...]``;
* ``UNWIND`` (every element at once): with ``o_e = 1`` the running ``next`` portion, with ``o_e = 0`` a sum of
  ``w[j] / ((D - j) z_e)``; the element adds ``(D + 1) * total * (o_e - z_e) * leaf value``.

Paths shorter than the longest of their bucket are padded with elements ``z = o = 1``: null players, which
change no other element's value and get none. The result is gathered per feature; the last column is the
expected value (the cover-weighted mean of the leaves), so each row's contributions add up to its raw score.
Everything runs in float64 from exact 0/1 branch decisions (the same comparisons as the lowerings,
:func:`split_tables`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from sk2tensor.converters.trees.ensemble import TreeEnsemble
from sk2tensor.converters.trees.lowering import MAX_TABLE_BYTES, split_tables, zeros_row
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var

#: Most distinct features on one root-to-leaf path: the recurrences cost elements² operations per path.
MAX_PATH_FEATURES = 32
#: Bytes of float64 intermediates that a run may hold: bounds the model's rows per run (``max_chunk_rows``).
#: On the CPU two runs go side by side and the rows per run barely change the time per row (0.51 s per row at 3
#: rows and 0.46 at 12 on a 40,675-leaf forest, one thread); a GPU export gets more rows per run.
RUN_BUDGET_BYTES = {"cpu": 256 * 1024**2, "cuda": 4 * 1024**3}


@dataclass(frozen=True)
class Explained:
    """What a tree converter's contributions explain: how its columns map to input features, and its score.

    Attributes
    ----------
    source:
        The input the converter was given (contributions are offered only when it is the model's own input).
    n_features:
        Width of ``source``.
    column_feature:
        ``int64 [columns]``: the input feature each column of the lowering's input comes from (identity by
        default; LightGBM's and XGBoost's missing-value blocks and categorical split columns map back).
    scale:
        Factor from the trees' sum to the explained score (``1 / n_trees`` for a forest's mean).
    """

    source: Var | None
    n_features: int
    column_feature: np.ndarray | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class Paths:
    """Every root-to-leaf path of an ensemble, grouped by distinct feature.

    Attributes
    ----------
    node:
        ``int64 [paths, steps]``: the path's internal nodes, as positions in ``internal`` (padding: 0).
    goes_right:
        ``bool [paths, steps]``: the branch the path takes at each step.
    step_of:
        ``int64 [paths, elements, repeats]``: the steps (as positions in the flattened ``[paths * steps]``) that
        test each element's feature; padding points one past the end, at a step that always matches.
    feature:
        ``int64 [paths, elements]``: each element's input feature (-1 for padding).
    zero:
        ``float64 [paths, elements]``: cover fraction of the path's branches on the element (1 for padding).
    value:
        ``float64 [paths, outputs]``: the leaf values.
    internal:
        ``int64 [n, 2]``: (tree, node) of each internal node some path tests.
    expected:
        ``float64 [outputs]``: the cover-weighted mean of the leaves, summed over trees.
    """

    node: np.ndarray
    goes_right: np.ndarray
    step_of: np.ndarray
    feature: np.ndarray
    zero: np.ndarray
    value: np.ndarray
    internal: np.ndarray
    expected: np.ndarray


def extract_paths(ensemble: TreeEnsemble, column_feature: np.ndarray) -> Paths:
    """The paths of ``ensemble``; ``column_feature`` maps each column the nodes test to its input feature."""
    if ensemble.cover is None:
        raise UnsupportedParameterError("contributions need the trees' training covers, which this model lacks")
    if ensemble.linear is not None:
        raise UnsupportedParameterError("contributions of linear-tree leaves are not supported")
    cover = ensemble.cover
    internal_index: dict[tuple[int, int], int] = {}
    rows: list[tuple[list[tuple[int, bool, int]], list[int], list[float], np.ndarray]] = []
    expected = np.zeros(ensemble.n_outputs)
    for t in range(ensemble.n_trees):
        root_cover = cover[t, 0]
        stack: list[tuple[int, list[tuple[int, bool, int]], dict[int, float], list[int]]] = [(0, [], {}, [])]
        while stack:
            node, steps, zero, order = stack.pop()
            if ensemble.is_leaf[t, node]:
                value = ensemble.value[t, node]
                if root_cover > 0:
                    expected += value * (cover[t, node] / root_cover)
                rows.append((steps, order, [zero[f] for f in order], value))
                continue
            feature = int(column_feature[ensemble.feature[t, node]])
            position = internal_index.setdefault((t, node), len(internal_index))
            for child, right in ((ensemble.left[t, node], False), (ensemble.right[t, node], True)):
                fraction = cover[t, child] / cover[t, node] if cover[t, node] > 0 else 0.0
                child_zero = {**zero, feature: zero.get(feature, 1.0) * fraction}
                child_order = order if feature in zero else [*order, feature]
                stack.append((int(child), [*steps, (position, right, feature)], child_zero, child_order))
    n_elements = max(1, max(len(order) for _, order, _, _ in rows))
    if n_elements > MAX_PATH_FEATURES:
        raise UnsupportedParameterError(
            f"contributions: a path tests {n_elements} distinct features (limit {MAX_PATH_FEATURES}); "
            "limit the trees' depth"
        )
    rows.sort(key=lambda row: len(row[1]))  # by element count: buckets of paths run recurrences of their width
    n_steps = max(1, max(len(steps) for steps, _, _, _ in rows))
    repeats = max(1, max((max(Counter(f for _, _, f in steps).values(), default=0) for steps, _, _, _ in rows)))
    n_paths = len(rows)
    node = np.zeros((n_paths, n_steps), np.int64)
    goes_right = np.zeros((n_paths, n_steps), bool)
    step_of = np.full((n_paths, n_elements, repeats), n_paths * n_steps, np.int64)
    feature = np.full((n_paths, n_elements), -1, np.int64)
    zero = np.ones((n_paths, n_elements))
    value = np.zeros((n_paths, ensemble.n_outputs))
    for p, (steps, order, zeros, leaf_value) in enumerate(rows):
        slot = {f: e for e, f in enumerate(order)}
        feature[p, : len(order)], zero[p, : len(order)], value[p] = order, zeros, leaf_value
        used = Counter()
        for s, (position, right, f) in enumerate(steps):
            node[p, s], goes_right[p, s] = position, right
            step_of[p, slot[f], used[f]] = p * n_steps + s
            used[f] += 1
    internal = np.array(sorted(internal_index, key=internal_index.get), np.int64).reshape(-1, 2)
    return Paths(node, goes_right, step_of, feature, zero, value, internal, expected)


def table_bytes(paths: Paths) -> int:
    """Bytes of the constants the contributions add to the graph: int32 indices (the path steps, each element's
    steps, each feature's slots), the branch directions, the cover fractions, and per output the slots' leaf
    values."""
    elements = int((paths.feature >= 0).sum())
    indices = paths.node.size + elements * paths.step_of.shape[2] + elements
    return 4 * indices + paths.goes_right.size + 8 * elements * (1 + paths.value.shape[1])


def row_bytes(paths: Paths) -> int:
    """Bytes per batch row of the intermediates a run holds at once: about ten float64 ``[paths, width + 1]``
    tensors of the largest bucket, and the gathered shares of every element (a forest of 40,675 leaves, before
    buckets and with a third of this bound, peaked at 4.3 GiB resident with 12 rows per run on 2 threads)."""
    buckets = path_buckets(paths) or [(0, 0, 0)]
    widest = max((last - first) * (width + 1) for first, last, width in buckets)
    shares = sum((last - first) * width for first, last, width in buckets)
    return 8 * (10 * widest + 3 * shares) + 2 * paths.node.size


def lower_contributions(graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, paths: Paths, n_features: int) -> Var:
    """``[batch, outputs, n_features + 1]`` float64 contributions of the raw sum (last column: expected value)."""
    split = split_tables(graph, ensemble, x)
    zeros = zeros_row(graph, split.columns)
    if len(paths.internal):
        tree, node = paths.internal[:, 0], paths.internal[:, 1]
        threshold = split.threshold[tree, node][:, None]
        # [internal, batch]: whether each tested node sends the row right, decided as the prediction decides it.
        went_right = graph.greater(
            graph.gather(split.columns, _indices(graph, split.column[tree, node], "node_column"), axis=0),
            graph.const(threshold, "node_threshold", threshold.dtype),
        )
        # [paths * steps, batch]: whether the row takes the path's branch at each step; then a row that always
        # matches, for the padding of step_of.
        steps = graph.gather(went_right, _indices(graph, paths.node.reshape(-1), "path_nodes"), axis=0)
        taken = graph.logical_not(
            graph.logical_xor(steps, graph.const(paths.goes_right.reshape(-1, 1), "path_goes_right", np.bool_))
        )
        taken = graph.concat([taken, graph.logical_not(graph.cast(zeros, np.bool_))], axis=0)
        parts, position = [], np.full(paths.feature.shape, -1, np.int64)
        offset = 0
        for first, last, width in path_buckets(paths):
            shares = _bucket_shares(graph, paths, taken, first, last, width)
            parts.append(graph.reshape(shares, [(last - first) * width, -1]))
            position[first:last, :width] = offset + np.arange((last - first) * width).reshape(width, -1).T
            offset += (last - first) * width
        flat = graph.concat([*parts, zeros], axis=0)  # [every element of every bucket, then zeros, batch]
        index, source = _feature_slots(paths, position, offset, n_features)
        per_slot = graph.gather(flat, _indices(graph, index, "feature_slots"), axis=0)  # [F, slots, B]
    else:  # no tree splits: every feature contributes zero
        source = None
        per_feature = graph.gather(zeros, graph.const(np.zeros(n_features, np.int64), "no_split", np.int64), 0)
    outputs = []
    for k in range(paths.value.shape[1]):
        if source is not None:
            value = np.where(source >= 0, paths.value[np.maximum(source, 0), k], 0.0)[:, :, None]
            per_feature = graph.reduce_sum(graph.mul(per_slot, graph.const(value, "slot_value", np.float64)), [1])
        bias = graph.add(zeros, graph.const(np.array([[paths.expected[k]]]), "expected_value", np.float64))
        outputs.append(graph.unsqueeze(graph.concat([per_feature, bias], axis=0), [1]))  # [F + 1, 1, B]
    stacked = outputs[0] if len(outputs) == 1 else graph.concat(outputs, axis=1)
    return graph.transpose(stacked, [2, 1, 0])


def _indices(graph: GraphBuilder, values: np.ndarray, hint: str) -> Var:
    """Gather indices as int32: half the bytes of int64 in the file (every table here is far below 2^31)."""
    return graph.const(np.asarray(values).astype(np.int32), hint, np.int32)


def path_buckets(paths: Paths) -> list[tuple[int, int, int]]:
    """``(first, last, width)`` runs of the (sorted) paths whose recurrences share a width: each distinct element
    count, a run too small to pay for its operators merged into the next. Paths without a split are left out
    (their leaf adds to the expected value only). The recurrences cost width² per path: one width for every path
    would cost 3.9 times as much on a forest of unlimited depth (20 against 9.4 elements on average)."""
    counts = (paths.feature >= 0).sum(axis=1)
    smallest = max(64, len(counts) // 50)
    buckets, first = [], int(np.searchsorted(counts, 1))
    while first < len(counts):
        last = int(np.searchsorted(counts, counts[first], side="right"))
        while last < len(counts) and last - first < smallest:
            last = int(np.searchsorted(counts, counts[last], side="right"))
        buckets.append((first, last, int(counts[last - 1])))
        first = last
    return buckets


def _bucket_shares(graph: GraphBuilder, paths: Paths, taken: Var, first: int, last: int, width: int) -> Var:
    """``[width, paths, batch]``: each element's Shapley share (before the leaf value) for paths first..last.

    Tensors are element-major, ``[elements, paths, batch]``, so that the recurrences' small matrices apply to
    every path and row in one matrix product rather than one per path."""
    # 1 where the row takes every branch of the path on the element's feature.
    one = None
    for r in range(paths.step_of.shape[2]):
        index = _indices(graph, paths.step_of[first:last, :width, r].T, "element_steps")
        repeat = graph.gather(taken, index, axis=0)
        one = repeat if one is None else graph.logical_and(one, repeat)
    assert one is not None
    one = graph.cast(one, np.float64)
    zero = paths.zero[first:last, :width].T  # [E, P]
    zero_var = graph.const(zero[:, :, None], "zero_fraction", np.float64)  # [E, P, 1]
    weights = _extend(graph, one, zero_var, width, zero.shape[1])
    total = _unwind(graph, weights, one, zero_var, width, zero.shape[1])
    return graph.mul(total, graph.sub(one, zero_var))


def _feature_slots(paths: Paths, position: np.ndarray, size: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``[F, slots]``: where each feature's elements sit in the flattened shares (``position``; padding points at
    the zeros row after the ``size`` shares), and the path of each slot (-1 for padding)."""
    valid = paths.feature >= 0
    path_of = np.broadcast_to(np.arange(len(paths.feature))[:, None], paths.feature.shape)[valid]
    feature, where = paths.feature[valid], position[valid]
    found = [np.flatnonzero(feature == f) for f in range(n_features)]
    slots = max(1, max(len(k) for k in found))
    index = np.full((n_features, slots), size, np.int64)
    source = np.full((n_features, slots), -1, np.int64)
    for f, k in enumerate(found):
        index[f, : len(k)], source[f, : len(k)] = where[k], path_of[k]
    return index, source


def _extend(graph: GraphBuilder, one: Var, zero: Var, n_elements: int, n_paths: int) -> Var:
    """``[elements + 1, paths, batch]``: the path weights once every element is added, in turn (``zero``:
    ``[elements, paths, 1]`` cover fractions)."""
    size = n_elements + 1
    k = np.arange(size, dtype=np.float64)
    start = np.zeros((size, 1, 1))
    start[0] = 1.0
    weights: Var | None = None  # None: still the constant start
    for i in range(1, n_elements + 1):
        keep = np.where(k <= i, (i - k) / (i + 1), 0.0)[:, None, None]  # [size, 1, 1]
        z_i = graph.gather(zero, graph.const(np.array([i - 1], np.int64), "element", np.int64), axis=0)  # [1, P, 1]
        move = np.zeros((size, size))
        move[np.arange(1, i + 1), np.arange(0, i)] = np.arange(1, i + 1) / (i + 1)  # w'[k] gets w[k - 1] k/(i+1)
        o_i = graph.gather(one, graph.const(np.array([i - 1], np.int64), "element", np.int64), axis=0)  # [1, P, B]
        if weights is None:
            moved = graph.mul(graph.const(np.einsum("ij,jab->iab", move, start), "extend_moved", np.float64), o_i)
            kept = graph.mul(z_i, graph.const(start * keep, "extend_kept", np.float64))
        else:
            moved = graph.mul(_left_product(graph, move, weights, n_paths), o_i)
            kept = graph.mul(graph.mul(weights, z_i), graph.const(keep, "extend_keep", np.float64))
        weights = graph.add(kept, moved)
    assert weights is not None
    return weights


def _left_product(graph: GraphBuilder, matrix: np.ndarray, tensor: Var, n_paths: int) -> Var:
    """``matrix @ tensor`` over the leading axis of ``tensor [size, paths, batch]``: one matrix product on the
    ``[size, paths * batch]`` view (a broadcast product would run one small product per path)."""
    product = graph.matmul(graph.const(matrix, "recurrence", np.float64), graph.reshape(tensor, [matrix.shape[1], -1]))
    return graph.reshape(product, [matrix.shape[0], n_paths, -1])


def _unwind(graph: GraphBuilder, weights: Var, one: Var, zero_var: Var, depth: int, n_paths: int) -> Var:
    """``[elements, paths, batch]``: each element's unwound sum times ``depth + 1`` (its TreeSHAP weight)."""

    def level(j: int) -> Var:
        return graph.gather(weights, graph.const(np.array([j], np.int64), "level", np.int64), axis=0)  # [1, P, B]

    # o_e = 1: the running portion, over j = depth - 1 .. 0.
    portion: Var = level(depth)
    total_in: Var | None = None
    for j in range(depth - 1, -1, -1):
        share = graph.mul(portion, graph.const(1.0 / (j + 1), "inverse", np.float64))
        total_in = share if total_in is None else graph.add(total_in, share)
        step = graph.mul(graph.mul(share, zero_var), graph.const(float(depth - j), "steps_left", np.float64))
        portion = graph.sub(level(j), step)
    # o_e = 0: sum_j w[j] / ((depth - j) z_e). A zero cover fraction (zero-weight samples only) divides by 1
    # instead: its element gets (o - z) = 0 whatever the sum.
    scale = np.zeros((1, depth + 1))
    scale[0, :depth] = 1.0 / (depth - np.arange(depth))
    summed = _left_product(graph, scale, weights, n_paths)  # [1, P, B]
    one_where_zero = graph.cast(graph.equal(zero_var, graph.const(0.0, "zero", np.float64)), np.float64)
    total_out = graph.div(summed, graph.add(zero_var, one_where_zero))
    assert total_in is not None
    chosen = graph.where(graph.cast(one, np.bool_), total_in, total_out)
    return graph.mul(chosen, graph.const(float(depth + 1), "depth_plus_one", np.float64))


def explain_trees(
    graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, explained: Explained, device: str = "cpu"
) -> tuple[Var, int]:
    """Contributions of ``ensemble`` lowered on ``x``, scaled to the explained score; ``[batch, F + 1]`` for one
    output, else ``[batch, outputs, F + 1]``. Also returns the most rows one run may take within
    :data:`RUN_BUDGET_BYTES`."""
    column_feature = explained.column_feature
    if column_feature is None:
        column_feature = np.arange(ensemble.n_features, dtype=np.int64)
    paths = extract_paths(ensemble, np.asarray(column_feature, np.int64))
    if table_bytes(paths) > MAX_TABLE_BYTES:
        raise UnsupportedParameterError(
            f"contributions of {ensemble.n_trees} trees with {len(paths.feature)} leaves would need "
            f"{table_bytes(paths) / 1024**2:.0f} MiB of path tables (limit {MAX_TABLE_BYTES / 1024**2:.0f} MiB); "
            "limit the trees' depth or count"
        )
    value = lower_contributions(graph, ensemble, x, paths, explained.n_features)
    if explained.scale != 1.0:
        value = graph.mul(value, graph.const(float(explained.scale), "contribution_scale", np.float64))
    if ensemble.n_outputs == 1:
        value = graph.squeeze(value, [1])
    budget = RUN_BUDGET_BYTES["cuda" if device == "cuda" else "cpu"]
    return value, max(1, budget // row_bytes(paths))


def reference_contributions(estimator: Any, rows: Any) -> tuple[np.ndarray, bool]:
    """What the exported contributions are validated against, and whether it is per feature.

    XGBoost (``pred_contribs=True``), LightGBM (``pred_contrib=True``) and CatBoost (``ShapValues``, symmetric
    trees) compute TreeSHAP themselves: their values are compared one by one. For sklearn's trees (and CatBoost's
    Depthwise and Lossguide trees) the reference is the explained score, which every row's contributions must add
    up to (TreeSHAP's local accuracy); the values themselves are tested against exact Shapley values and ``shap``
    in the test suite.
    """
    module = type(estimator).__module__.split(".")[0]
    if module == "xgboost":
        import xgboost

        booster = estimator if isinstance(estimator, xgboost.Booster) else estimator.get_booster()
        best = getattr(estimator, "best_iteration", None) if hasattr(estimator, "best_iteration") else None
        matrix = rows if isinstance(rows, xgboost.DMatrix) else _dmatrix(xgboost, booster, rows)
        extra = {"iteration_range": (0, best + 1)} if best is not None else {}
        return np.asarray(booster.predict(matrix, pred_contribs=True, **extra)), True
    if module == "lightgbm":
        booster = estimator if hasattr(estimator, "dump_model") else estimator.booster_
        dump = booster.dump_model()
        if dump.get("average_output"):
            # boosting_type="rf": LightGBM's pred_contrib and raw_score add the trees without averaging them
            # (lightgbm-org/LightGBM#6217); the exported contributions are of the averaged score.
            iterations = len(dump["tree_info"]) // int(dump["num_tree_per_iteration"])
            return np.asarray(estimator.predict(rows, raw_score=True)) / iterations, False
        values = np.asarray(estimator.predict(rows, pred_contrib=True))
        width = rows.shape[1] + 1
        return (values.reshape(len(values), -1, width) if values.shape[1] > width else values), True
    if module == "catboost":
        return _catboost_reference(estimator, rows)
    return explained_score(estimator, rows), False


def _catboost_reference(estimator: Any, rows: Any) -> tuple[np.ndarray, bool]:
    """CatBoost's own ShapValues for symmetric trees; for Depthwise and Lossguide trees the raw score, which the
    contributions must add up to (CatBoost's own values for Depthwise trees do not: catboost/catboost#1703)."""
    import catboost

    if estimator.get_all_params().get("grow_policy", "SymmetricTree") == "SymmetricTree":
        return np.asarray(estimator.get_feature_importance(catboost.Pool(rows), type="ShapValues")), True
    return np.asarray(estimator.predict(rows, prediction_type="RawFormulaVal")), False


def _dmatrix(xgboost: Any, booster: Any, rows: Any) -> Any:
    types = booster.feature_types
    if types and "c" in types:
        return xgboost.DMatrix(rows, feature_types=types, enable_categorical=True)
    return xgboost.DMatrix(rows)


def explained_method(estimator: Any) -> str:
    """``predict_proba`` for trees and forests of classifiers, ``decision_function`` for boosted classifiers,
    ``predict`` for regressors (the raw prediction for HistGradientBoosting's poisson and gamma losses)."""
    if hasattr(estimator, "decision_function"):
        return "decision_function"
    if hasattr(estimator, "predict_proba"):
        return "predict_proba"
    return "predict"


def explained_score(estimator: Any, rows: Any) -> np.ndarray:
    """The score an sklearn tree model's contributions add up to, on ``rows``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    if isinstance(estimator, HistGradientBoostingRegressor):
        return np.asarray(estimator._raw_predict(rows))[:, 0]  # the link's input (log for poisson and gamma)
    return np.asarray(getattr(estimator, explained_method(estimator))(rows))
