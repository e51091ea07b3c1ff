"""Single decision trees (``sklearn.tree``), lowered through the shared TreeEnsemble strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

from sk2tensor.converters.heads import from_proba, multi_output_from_proba, squeeze_single
from sk2tensor.converters.trees import TreeEnsemble, lower_ensemble, sklearn_tree_arrays, stack_trees
from sk2tensor.converters.trees.contributions import Explained, explain_trees
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter

#: The models whose contributions convert, for error messages and the documentation.
EXPLAINED_MODELS = (
    "decision trees, random forests, extra trees, GradientBoosting, HistGradientBoosting, XGBoost (gbtree, dart), "
    "LightGBM and CatBoost models"
)


def output_classes(estimator: Any) -> list[np.ndarray]:
    """The classes of each target: one array for a single target, one per target otherwise."""
    if getattr(estimator, "n_outputs_", 1) == 1:
        return [np.asarray(estimator.classes_)]
    return [np.asarray(classes) for classes in estimator.classes_]


def classifier_leaf_values(tree: Any) -> np.ndarray:
    """Per-node class probabilities ``[nodes, classes]``, normalised exactly as ``tree.predict_proba`` does; for
    several targets, each target's probabilities side by side (``[nodes, sum of n_classes]``), each normalised
    over its own classes as sklearn normalises ``value[:, k, :n_classes[k]]``."""
    widths = np.atleast_1d(tree.n_classes_)
    parts = []
    for k, width in enumerate(widths):
        value = np.array(tree.tree_.value[:, k, : int(width)], dtype=np.float64)
        totals = value.sum(axis=1)
        totals[totals == 0.0] = 1.0
        value /= totals[:, None]
        parts.append(value)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def classifier_outputs(graph: GraphBuilder, estimator: Any, proba: Var, context: ConversionContext) -> dict[str, Var]:
    """``predict``/``predict_proba`` of a classifier averaging probabilities, one target or several."""
    all_classes = output_classes(estimator)
    if len(all_classes) == 1:
        return from_proba(graph, proba, all_classes[0])
    return multi_output_from_proba(graph, estimator, proba, all_classes, context)


def regressor_leaf_values(tree: Any, weight: float = 1.0) -> np.ndarray:
    """Per-node predictions ``[nodes, outputs]`` of a fitted regression tree, times ``weight``."""
    return np.asarray(tree.tree_.value, dtype=np.float64)[:, :, 0] * weight


def lower_trees(
    graph: GraphBuilder,
    ensemble: TreeEnsemble,
    x: Var,
    context: ConversionContext,
    step: str,
    explain: Explained | None = None,
    apply_layout: Callable[[Var], Var] | None = None,
) -> Var:
    """Lower with the context's strategy and record which strategy ran.

    When the conversion asks for contributions, a converter that can explain its score passes ``explain``
    (what the trees' sum becomes and how ``x``'s columns map to input features); one that cannot is refused.
    When it asks for leaves, a converter whose estimator has sklearn's ``apply`` passes ``apply_layout``, which
    shapes the ``[batch, trees]`` leaf node ids as that method returns them.
    """
    leaves = context.leaves and apply_layout is not None
    lowered = lower_ensemble(graph, ensemble, x, context.strategy, context.device, leaves, context.leaf_dtype)
    _record(context, ensemble, step, lowered.strategy)
    if context.contributions:
        if explain is None:
            raise UnsupportedParameterError(
                f"contributions are not computed for {step}: its score is not a sum of leaf values; "
                f"{EXPLAINED_MODELS} explain theirs"
            )
        value, rows = explain_trees(graph, ensemble, x, explain, context.device)
        context.explained.append((value, explain))
        context.limit_chunk_rows(rows)
    if leaves:
        assert apply_layout is not None and lowered.leaves is not None
        context.applied.append(apply_layout(lowered.leaves))
    return lowered.value


def lower_tree_leaves(
    graph: GraphBuilder, ensemble: TreeEnsemble, x: Var, context: ConversionContext, step: str
) -> Var:
    """The ``[batch, trees]`` int64 leaf node each tree of ``ensemble`` reaches (sklearn's ``apply``)."""
    lowered = lower_ensemble(graph, ensemble, x, context.strategy, context.device, True, context.leaf_dtype)
    _record(context, ensemble, step, lowered.strategy)
    assert lowered.leaves is not None
    return lowered.leaves


def _record(context: ConversionContext, ensemble: TreeEnsemble, step: str, strategy: str) -> None:
    context.record_strategy(step, strategy)
    context.count_trees(ensemble.n_trees, ensemble.feature.shape[1], strategy)


def leaves_after(graph: GraphBuilder, first: int, n_trees: int, shape: tuple[int, ...] = ()) -> Callable[[Var], Var]:
    """An ``apply_layout``: the leaf ids of trees ``first..first + n_trees`` (a leading base-score tree is not
    the model's), reshaped to ``[batch, *shape]`` (``()``: ``[batch, n_trees]``)."""

    def layout(leaves: Var) -> Var:
        if first:
            leaves = graph.slice(leaves, [0, first], [2**62, first + n_trees])
        return graph.reshape(leaves, [-1, *shape]) if shape else leaves

    return layout


@converter(DecisionTreeClassifier, ExtraTreeClassifier)
def convert_tree_classifier(
    graph: GraphBuilder, estimator: DecisionTreeClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The leaf's class probabilities; the label is the most probable class. Several targets: each target's
    probabilities side by side (sklearn's list, split back by the compiled model) and ``[batch, n_targets]``
    labels (numeric labels)."""
    values = classifier_leaf_values(estimator)
    ensemble = stack_trees(
        [sklearn_tree_arrays(estimator.tree_, values)],
        base=np.zeros(values.shape[1]),
        compare_in_float32=True,
        n_features=estimator.n_features_in_,
    )
    explain = Explained(x, estimator.n_features_in_) if estimator.n_outputs_ == 1 else None
    proba = lower_trees(graph, ensemble, x, context, type(estimator).__name__, explain, lambda v: _single(graph, v))
    return classifier_outputs(graph, estimator, proba, context)


@converter(DecisionTreeRegressor, ExtraTreeRegressor)
def convert_tree_regressor(
    graph: GraphBuilder, estimator: DecisionTreeRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The leaf's value, one column per output."""
    ensemble = stack_trees(
        [sklearn_tree_arrays(estimator.tree_, regressor_leaf_values(estimator))],
        base=np.zeros(estimator.n_outputs_),
        compare_in_float32=True,
        n_features=estimator.n_features_in_,
    )
    explain = Explained(x, estimator.n_features_in_)
    value = lower_trees(graph, ensemble, x, context, type(estimator).__name__, explain, lambda v: _single(graph, v))
    return {"predict": squeeze_single(graph, value, estimator.n_outputs_)}


def _single(graph: GraphBuilder, leaves: Var) -> Var:
    """A single tree's ``apply``: ``[batch]``."""
    return graph.squeeze(leaves, [1])
