"""TreeEnsemble: a fitted tree ensemble as named, padded arrays, extracted once from sklearn and checked.

Every tree model (single trees, forests, boosting, isolation forests) is reduced to this form, where the
raw prediction is the float64 sum over trees of ``value[tree, leaf reached]``, taken in tree order as sklearn
takes it (a constant start such as boosting's initial score is a leading single-leaf tree), so that ties and
signs come out bit for bit as in sklearn. Learning rates are folded into the leaf values at extraction the
way sklearn multiplies them; averaging is left to the converter, after the sum, as sklearn does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sk2tensor.errors import ConversionError


@dataclass(frozen=True)
class LinearLeaves:
    """Linear models in the leaves (LightGBM's ``linear_tree``).

    A row that reaches a leaf scores ``const + coeff[0] * x[feature[0]] + coeff[1] * x[feature[1]] + ...``, added
    in float64 in that order (LightGBM's order), unless one of those features is NaN: then it scores the leaf's
    constant ``value``. Slots a leaf does not use have feature ``-1`` and coefficient 0.

    Attributes
    ----------
    feature:
        ``int64 [..., nodes, K]``: input columns of each leaf's model.
    coeff:
        ``float64 [..., nodes, K]``.
    const:
        ``float64 [..., nodes]``.
    output:
        ``int64 [...]``: the output column each tree adds to (a tree's constant ``value`` is zero elsewhere).
    """

    feature: np.ndarray
    coeff: np.ndarray
    const: np.ndarray
    output: np.ndarray

    @property
    def width(self) -> int:
        """Most features a leaf's model uses."""
        return self.feature.shape[-1]


@dataclass(frozen=True, kw_only=True)
class TreeEnsemble:
    """Padded node arrays of ``n_trees`` trees with at most ``n_nodes`` nodes each.

    Node 0 of each tree is its root. Leaves (and padding) have ``is_leaf`` set, point to themselves as
    both children and test feature 0 against threshold 0 (never used).

    Attributes
    ----------
    feature:
        ``int64 [trees, nodes]``: input column tested at each node.
    threshold:
        ``float64 [trees, nodes]``: a row goes left when ``x[feature] <= threshold``.
    left, right:
        ``int64 [trees, nodes]``: child node indices.
    missing_left:
        ``bool [trees, nodes]``: where NaN goes at each node.
    is_leaf:
        ``bool [trees, nodes]``.
    value:
        ``float64 [trees, nodes, outputs]``: each leaf's contribution to the sum.
    compare_in_float32:
        sklearn's trees cast X to float32 before comparing (``True``); HistGradientBoosting compares in
        float64 (``False``).
    n_features:
        Width of the input.
    linear:
        Linear models in the leaves, ``None`` for constant leaves.
    cover:
        ``float64 [trees, nodes]``: training cover of each node (weighted sample count or hessian sum), which
        contributions (TreeSHAP) weigh branches by; ``None`` when the model does not record it.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    compare_in_float32: bool
    n_features: int
    linear: LinearLeaves | None = None
    cover: np.ndarray | None = None

    def __post_init__(self) -> None:
        trees, nodes = self.feature.shape
        for name in ("threshold", "left", "right", "missing_left", "is_leaf"):
            if getattr(self, name).shape != (trees, nodes):
                raise ConversionError(f"tree arrays disagree: {name} has shape {getattr(self, name).shape}")
        if self.value.shape[:2] != (trees, nodes):
            raise ConversionError(f"leaf values of shape {self.value.shape} do not match {trees} trees")
        internal = ~self.is_leaf
        if internal.any() and (self.feature[internal].min() < 0 or self.feature[internal].max() >= self.n_features):
            raise ConversionError("a split tests a feature outside the input")
        if self.cover is not None and self.cover.shape != (trees, nodes):
            raise ConversionError(f"node covers of shape {self.cover.shape} do not match {trees} trees")
        if self.linear is not None:
            linear = self.linear
            if linear.feature.shape[:2] != (trees, nodes) or linear.coeff.shape != linear.feature.shape:
                raise ConversionError(f"linear leaves of shape {linear.feature.shape} do not match {trees} trees")
            if linear.const.shape != (trees, nodes) or linear.output.shape != (trees,):
                raise ConversionError("linear leaf constants or outputs do not match the trees")
            if linear.feature.size and (linear.feature.min() < -1 or linear.feature.max() >= self.n_features):
                raise ConversionError("a linear leaf reads a feature outside the input")
            if linear.output.size and (linear.output.min() < 0 or linear.output.max() >= self.n_outputs):
                raise ConversionError("a linear leaf adds to an output the ensemble does not have")

    @property
    def n_trees(self) -> int:
        return self.feature.shape[0]

    @property
    def n_nodes(self) -> int:
        return self.feature.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.value.shape[2]

    @cached_property
    def node_depth(self) -> np.ndarray:
        """``int64 [trees, nodes]``: depth of each node below its root, ``-1`` for padding."""
        depth = np.full(self.feature.shape, -1, dtype=np.int64)
        trees = np.arange(self.n_trees)
        nodes = np.zeros(self.n_trees, dtype=np.int64)
        level = 0
        while trees.size:
            if level > self.n_nodes:
                raise ConversionError("the tree arrays contain a cycle")
            depth[trees, nodes] = level
            internal = ~self.is_leaf[trees, nodes]
            trees, nodes = trees[internal], nodes[internal]
            trees, nodes = (
                np.concatenate([trees, trees]),
                np.concatenate([self.left[trees, nodes], self.right[trees, nodes]]),
            )
            level += 1
        return depth

    @property
    def depths(self) -> np.ndarray:
        """``int64 [trees]``: the depth of each tree (a lone leaf has depth 0)."""
        return self.node_depth.max(axis=1)

    @property
    def max_depth(self) -> int:
        return int(self.depths.max()) if self.n_trees else 0

    @property
    def reachable(self) -> np.ndarray:
        """``bool [trees, nodes]``: nodes that belong to the tree (not padding)."""
        return self.node_depth >= 0

    @property
    def n_leaves(self) -> np.ndarray:
        """``int64 [trees]``: leaves per tree (padding excluded)."""
        return (self.is_leaf & self.reachable).sum(axis=1)


@dataclass(frozen=True)
class TreeArrays:
    """One tree's node arrays, before padding."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # [nodes, outputs]
    linear: LinearLeaves | None = None  # arrays [nodes, K], [nodes, K], [nodes]; output a scalar
    cover: np.ndarray | None = None  # [nodes]: training cover of each node


def sklearn_tree_arrays(tree: object, value: np.ndarray, feature_map: np.ndarray | None = None) -> TreeArrays:
    """Arrays of one fitted ``sklearn.tree._tree.Tree``; ``value`` is its per-node output ``[nodes, outputs]``.

    ``feature_map`` maps the tree's column indices to the input's (bagging on feature subsets).
    """
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    leaf = left < 0
    index = np.arange(len(left), dtype=np.int64)
    feature = np.where(leaf, 0, np.asarray(tree.feature, dtype=np.int64))
    if feature_map is not None:
        feature = np.where(leaf, 0, np.asarray(feature_map, dtype=np.int64)[feature])
    missing = getattr(tree, "missing_go_to_left", None)
    missing_left = np.ones(len(left), bool) if missing is None else np.asarray(missing).astype(bool)
    return TreeArrays(
        feature=feature,
        threshold=np.where(leaf, 0.0, np.asarray(tree.threshold, dtype=np.float64)),
        left=np.where(leaf, index, left),
        right=np.where(leaf, index, right),
        missing_left=missing_left,
        value=np.asarray(value, dtype=np.float64).reshape(len(left), -1),
        cover=np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
    )


def stack_trees(
    trees: Sequence[TreeArrays], *, base: np.ndarray, compare_in_float32: bool, n_features: int
) -> TreeEnsemble:
    """Pad trees to a common node count and build the checked ensemble.

    A nonzero ``base`` becomes a leading single-leaf tree, so the sum starts from it as sklearn's does.
    """
    if not trees:
        raise ConversionError("the ensemble holds no tree")
    base = np.asarray(base, dtype=np.float64).reshape(1, -1)
    linear = [t.linear is not None for t in trees]
    if any(linear) and not (all(linear) and not base.any()):
        raise ConversionError("an ensemble with linear leaves must have them in every tree and no base score")
    if base.any():
        start = TreeArrays(
            np.zeros(1, np.int64),
            np.zeros(1),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
            np.ones(1, bool),
            base,
            cover=np.ones(1),
        )
        trees = [start, *trees]
    n_nodes = max(len(t.feature) for t in trees)
    n_outputs = trees[0].value.shape[1]
    if any(t.value.shape[1] != n_outputs for t in trees):
        raise ConversionError("trees of the ensemble have different output widths")
    shape = (len(trees), n_nodes)
    feature = np.zeros(shape, np.int64)
    threshold = np.zeros(shape, np.float64)
    index = np.broadcast_to(np.arange(n_nodes, dtype=np.int64), shape)
    left, right = index.copy(), index.copy()
    missing_left = np.ones(shape, bool)
    is_leaf = np.ones(shape, bool)
    value = np.zeros((*shape, n_outputs), np.float64)
    for i, t in enumerate(trees):
        n = len(t.feature)
        feature[i, :n], threshold[i, :n] = t.feature, t.threshold
        left[i, :n], right[i, :n] = t.left, t.right
        missing_left[i, :n] = t.missing_left
        is_leaf[i, :n] = t.left == np.arange(n)
        value[i, :n] = t.value
    covered = all(t.cover is not None for t in trees)
    cover = np.zeros(shape, np.float64) if covered else None
    if cover is not None:
        for i, t in enumerate(trees):
            cover[i, : len(t.feature)] = t.cover
    return TreeEnsemble(
        cover=cover,
        linear=_stack_linear(trees, n_nodes) if any(linear) else None,
        feature=feature,
        threshold=threshold,
        left=left,
        right=right,
        missing_left=missing_left,
        is_leaf=is_leaf,
        value=value,
        compare_in_float32=compare_in_float32,
        n_features=n_features,
    )


def _stack_linear(trees: Sequence[TreeArrays], n_nodes: int) -> LinearLeaves:
    """The trees' linear leaves padded to ``n_nodes`` nodes and the widest leaf model."""
    width = max(t.linear.width for t in trees if t.linear is not None)
    shape = (len(trees), n_nodes)
    feature = np.full((*shape, width), -1, np.int64)
    coeff = np.zeros((*shape, width), np.float64)
    const = np.zeros(shape, np.float64)
    output = np.zeros(len(trees), np.int64)
    for i, t in enumerate(trees):
        assert t.linear is not None
        n, k = t.linear.feature.shape
        feature[i, :n, :k], coeff[i, :n, :k] = t.linear.feature, t.linear.coeff
        const[i, :n], output[i] = t.linear.const, int(t.linear.output)
    return LinearLeaves(feature, coeff, const, output)


def float32_thresholds(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 ``<=`` each float64 threshold.

    For float32 ``x``, ``x <= t`` in float64 holds exactly when ``x <= t32`` does, whereas rounding ``t`` to the
    nearest float32 goes up about half the time and flips the decision for inputs in between.
    """
    threshold = np.asarray(threshold, dtype=np.float64)
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, then the step below fixes +inf
        rounded = threshold.astype(np.float32)
    too_big = rounded.astype(np.float64) > threshold
    rounded[too_big] = np.nextafter(rounded[too_big], np.float32(-np.inf))
    return rounded
