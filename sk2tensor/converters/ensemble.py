"""Forests, boosting and isolation forests (``sklearn.ensemble``), lowered through the TreeEnsemble strategies."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    RandomTreesEmbedding,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

from sk2tensor.converters.heads import binary_from_raw, multiclass_from_raw, squeeze_single
from sk2tensor.converters.tree import (
    classifier_leaf_values,
    classifier_outputs,
    leaves_after,
    lower_tree_leaves,
    lower_trees,
    regressor_leaf_values,
)
from sk2tensor.converters.trees import TreeArrays, sklearn_tree_arrays, stack_trees
from sk2tensor.converters.trees.contributions import Explained
from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, converter, refuse_strings, unsupported


@converter(RandomForestClassifier, ExtraTreesClassifier)
def convert_forest_classifier(
    graph: GraphBuilder, estimator: RandomForestClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Mean of the trees' class probabilities: summed in tree order, then divided, as sklearn does. Several
    targets: each target's probabilities side by side (sklearn's list, split back by the compiled model) and
    ``[batch, n_targets]`` labels (numeric labels); contributions are for a single target."""
    values = [classifier_leaf_values(t) for t in estimator.estimators_]
    ensemble = stack_trees(
        [sklearn_tree_arrays(t.tree_, v) for t, v in zip(estimator.estimators_, values, strict=True)],
        base=np.zeros(values[0].shape[1]),
        compare_in_float32=True,
        n_features=estimator.n_features_in_,
    )
    n_trees = len(estimator.estimators_)
    single = estimator.n_outputs_ == 1
    explain = Explained(x, estimator.n_features_in_, scale=1.0 / n_trees) if single else None
    layout = leaves_after(graph, 0, n_trees)
    summed = lower_trees(graph, ensemble, x, context, type(estimator).__name__, explain, layout)
    proba = graph.div(summed, graph.const(float(n_trees), "n_trees", dtype=np.float64))
    return classifier_outputs(graph, estimator, proba, context)


@converter(RandomForestRegressor, ExtraTreesRegressor)
def convert_forest_regressor(
    graph: GraphBuilder, estimator: RandomForestRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Mean of the trees' predictions, one column per output."""
    ensemble = stack_trees(
        [sklearn_tree_arrays(t.tree_, regressor_leaf_values(t)) for t in estimator.estimators_],
        base=np.zeros(estimator.n_outputs_),
        compare_in_float32=True,
        n_features=estimator.n_features_in_,
    )
    n_trees = len(estimator.estimators_)
    explain = Explained(x, estimator.n_features_in_, scale=1.0 / n_trees)
    layout = leaves_after(graph, 0, n_trees)
    summed = lower_trees(graph, ensemble, x, context, type(estimator).__name__, explain, layout)
    value = graph.div(summed, graph.const(float(n_trees), "n_trees", dtype=np.float64))
    return {"predict": squeeze_single(graph, value, estimator.n_outputs_)}


def _gradient_boosting_raw(
    graph: GraphBuilder,
    estimator: GradientBoostingClassifier | GradientBoostingRegressor,
    x: Var,
    context: ConversionContext,
) -> Var:
    """``init + learning_rate * sum of trees``, shape ``[batch, trees per iteration]``."""
    init = estimator.init_
    if not (isinstance(init, str) and init == "zero") and not isinstance(init, (DummyClassifier, DummyRegressor)):
        raise unsupported(estimator, "init", type(init).__name__, "only init=None (the default) or 'zero' converts")
    width = estimator.n_features_in_
    base = estimator._raw_predict_init(np.zeros((1, width), dtype=np.float32))[0]
    trees = [
        _with_output(
            sklearn_tree_arrays(tree.tree_, regressor_leaf_values(tree, estimator.learning_rate)), k, len(base)
        )
        for stage in estimator.estimators_
        for k, tree in enumerate(stage)
    ]
    ensemble = stack_trees(trees, base=base, compare_in_float32=True, n_features=width)
    stages, per_stage = estimator.estimators_.shape
    # apply: [batch, stages, trees per stage] ([batch, stages] for the regressor, as sklearn reshapes it), after
    # the leading tree that holds the initial score (if any).
    shape = (stages,) if isinstance(estimator, GradientBoostingRegressor) else (stages, per_stage)
    layout = leaves_after(graph, ensemble.n_trees - stages * per_stage, stages * per_stage, shape)
    step = type(estimator).__name__
    return lower_trees(graph, ensemble, x, context, step, Explained(x, width), layout)


def _with_output(tree: TreeArrays, output: int, n_outputs: int) -> TreeArrays:
    """``tree`` contributing to column ``output`` of ``n_outputs`` (one tree per class in boosting)."""
    if n_outputs == 1:
        return tree
    value = np.zeros((len(tree.value), n_outputs))
    value[:, output] = tree.value[:, 0]
    return replace(tree, value=value)


@converter(GradientBoostingClassifier)
def convert_gradient_boosting_classifier(
    graph: GraphBuilder, estimator: GradientBoostingClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Log-loss (sigmoid / softmax) or exponential-loss boosting."""
    raw = _gradient_boosting_raw(graph, estimator, x, context)
    classes = np.asarray(estimator.classes_)
    if len(classes) == 2:
        scale = 2.0 if estimator.loss == "exponential" else 1.0
        return binary_from_raw(graph, graph.squeeze(raw, [1]), classes, zero_is_positive=True, proba_scale=scale)
    return multiclass_from_raw(graph, raw, classes)


@converter(GradientBoostingRegressor)
def convert_gradient_boosting_regressor(
    graph: GraphBuilder, estimator: GradientBoostingRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Every regression loss predicts the raw score (squared, absolute, huber, quantile)."""
    return {"predict": graph.squeeze(_gradient_boosting_raw(graph, estimator, x, context), [1])}


def _in_bitset(bitset: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` (ints below 256) is set in an sklearn bitset of 8 uint32 words."""
    return ((bitset[values >> 5] >> (values & 31).astype(np.uint32)) & 1).astype(bool)


def _hist_gradient_boosting_input(
    graph: GraphBuilder, estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor, x: Var | Table
) -> tuple[Var, Var | None]:
    """The columns HistGradientBoosting's trees read, and the categorical codes (float64) when there are some.

    With categorical features sklearn ordinal-encodes them (unknown and missing become NaN) and puts them
    first, the numeric columns after: the graph does the same with an equality test against each column's
    known categories, in float64 as sklearn compares.
    """
    preprocessor = getattr(estimator, "_preprocessor", None)
    if isinstance(x, Table) and (preprocessor is None or not x.has_strings):
        if x.has_strings:
            raise refuse_strings(estimator, x)
        x = x.matrix(graph)
    if preprocessor is None:
        return x, None
    categories = preprocessor.named_transformers_["encoder"].categories_
    if isinstance(x, Table):
        return _hist_gradient_boosting_table_input(graph, estimator, x, categories)
    if any(np.asarray(c).dtype.kind not in "fiub" for c in categories):
        raise unsupported(
            estimator,
            "categorical_features",
            "string categories",
            "categorical columns must hold numbers (ordinal-encode string columns first)",
        )
    is_categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    width = max(len(c) for c in categories)
    known = np.full((len(categories), width), np.nan)
    for i, values in enumerate(categories):
        known[i, : len(values)] = np.asarray(values, dtype=np.float64)
    columns = graph.gather(graph.cast(x, np.float64), graph.int64s(np.flatnonzero(is_categorical), "categorical"), 1)
    one_hot = graph.cast(
        graph.equal(graph.unsqueeze(columns, [2]), graph.const(known, "categories", np.float64)), np.float64
    )
    found = graph.reduce_sum(one_hot, [2])
    code_values = graph.const(np.arange(width, dtype=np.float64), "codes", np.float64)
    codes = graph.reduce_sum(graph.mul(one_hot, code_values), [2])
    codes = graph.where(
        graph.greater(found, graph.const(0.5, "half", np.float64)), codes, graph.const(np.nan, "nan", np.float64)
    )
    numeric = graph.gather(x, graph.int64s(np.flatnonzero(~is_categorical), "numeric"), 1)
    return graph.concat([graph.cast(codes, graph.dtype), numeric], axis=1), codes


def _hist_gradient_boosting_table_input(
    graph: GraphBuilder,
    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor,
    x: Table,
    categories: list[np.ndarray],
) -> tuple[Var, Var]:
    """:func:`_hist_gradient_boosting_input` for columns that include strings (native categorical features on
    string columns, such as a pandas ``category`` column of strings): each categorical column's category code
    (its index in the fitted categories; NaN for a missing or unknown value, as sklearn's ordinal encoding gives)
    through the encoders' string or numeric matching, then the numeric columns."""
    from sk2tensor.converters._numeric import category_codes
    from sk2tensor.converters.preprocessing import string_categories, string_codes

    is_categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    numeric = np.flatnonzero(~is_categorical).tolist()
    if any(x.columns[j].is_string for j in numeric):
        raise refuse_strings(estimator, x.select([j for j in numeric if x.columns[j].is_string]))
    parts = []
    for i, j in enumerate(np.flatnonzero(is_categorical).tolist()):
        column = x.columns[j]
        values = np.asarray(categories[i], dtype=object)
        if column.is_string:
            code = string_codes(
                graph, column.var, string_categories(estimator, f"categories of {column.label}", values)
            )
        else:
            code = category_codes(graph, x.select([j]).matrix(graph), [np.asarray(values, dtype=np.float64)])
        # Index -> code: NaN for a NaN category (sklearn's encoded_missing_value) and for an unknown value.
        table = [np.nan if isinstance(v, float) and np.isnan(v) else float(k) for k, v in enumerate(values)]
        parts.append(graph.gather(graph.const(np.array([*table, np.nan]), "category_code", np.float64), code))
    codes = parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)
    columns = [graph.cast(codes, graph.dtype)]
    if numeric:
        columns.append(x.select(numeric).matrix(graph))
    return graph.concat(columns, axis=1) if len(columns) > 1 else columns[0], codes


def _hist_gradient_boosting_raw(
    graph: GraphBuilder,
    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor,
    x: Var | Table,
    context: ConversionContext,
) -> Var:
    """Baseline plus the sum of every predictor's leaves, shape ``[batch, trees per iteration]``.

    A categorical split becomes a numeric one on an extra 0/1 column that says whether the row goes right:
    a lookup, per split, of the row's category code in a table built from the split's bitset, the known
    categories, and where missing and unknown categories go.
    """
    columns, codes = _hist_gradient_boosting_input(graph, estimator, x)
    width = estimator.n_features_in_
    base = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    known_bitsets, feature_slot = (None, None)
    if codes is not None:
        known_bitsets, feature_slot = estimator._bin_mapper.make_known_categories_bitsets()
    all_codes = np.arange(256)
    directions: list[np.ndarray] = []  # per categorical split: 1 (right) for codes 0..255, then missing
    split_columns: list[int] = []
    trees = []
    for iteration in estimator._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            index = np.arange(len(nodes), dtype=np.int64)
            feature = np.where(leaf, 0, nodes["feature_idx"].astype(np.int64))
            threshold = np.where(leaf, 0.0, nodes["num_threshold"].astype(np.float64))
            missing_left = nodes["missing_go_to_left"].astype(bool)
            for node in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
                goes_left = _in_bitset(predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]], all_codes)
                is_known = _in_bitset(known_bitsets[feature_slot[feature[node]]], all_codes)
                missing_right = not missing_left[node]
                right = np.where(goes_left, False, np.where(is_known, True, missing_right))
                directions.append(np.append(right, missing_right).astype(np.float64))
                split_columns.append(int(feature[node]))
                feature[node] = width + len(directions) - 1
                threshold[node], missing_left[node] = 0.5, True
            tree = TreeArrays(
                feature=feature,
                threshold=threshold,
                left=np.where(leaf, index, nodes["left"].astype(np.int64)),
                right=np.where(leaf, index, nodes["right"].astype(np.int64)),
                missing_left=missing_left,
                value=np.where(leaf, nodes["value"], 0.0)[:, None].astype(np.float64),
                cover=nodes["count"].astype(np.float64),
            )
            trees.append(_with_output(tree, k, len(base)))
    if directions:
        columns = graph.concat([columns, _categorical_split_columns(graph, codes, split_columns, directions)], 1)
    # HistGradientBoosting compares float64 inputs with float64 thresholds.
    ensemble = stack_trees(trees, base=base, compare_in_float32=False, n_features=width + len(directions))
    # The trees index sklearn's column order (categorical features first when there are some), then the split
    # columns: each maps back to the input feature it reads.
    is_categorical = getattr(estimator, "is_categorical_", None)
    order = np.arange(width)
    if codes is not None and is_categorical is not None:
        order = np.concatenate([np.flatnonzero(is_categorical), np.flatnonzero(~np.asarray(is_categorical))])
    column_feature = np.concatenate([order, order[np.asarray(split_columns, np.int64)]]).astype(np.int64)
    explain = Explained(x if isinstance(x, Var) else None, width, column_feature)
    return lower_trees(graph, ensemble, columns, context, type(estimator).__name__, explain)


def _categorical_split_columns(
    graph: GraphBuilder, codes: Var, split_columns: list[int], directions: list[np.ndarray]
) -> Var:
    """``[batch, splits]``: 1 where a categorical split sends the row right, looked up by category code."""
    slots = len(directions[0])  # 256 codes and the missing slot
    code = graph.gather(codes, graph.int64s(split_columns, "split_column"), axis=1)
    missing = graph.logical_or(graph.is_nan(code), graph.greater(code, graph.const(255.0, "last_code", np.float64)))
    code = graph.where(missing, graph.const(float(slots - 1), "missing_slot", np.float64), code)
    offsets = graph.const(np.arange(len(directions), dtype=np.float64) * slots, "table_offset", np.float64)
    position = graph.cast(graph.add(code, offsets), np.int64)
    table = graph.const(np.concatenate(directions), "goes_right", dtype=graph.dtype)
    return graph.gather(table, position)


@converter(HistGradientBoostingClassifier, tables=True)
def convert_hist_gradient_boosting_classifier(
    graph: GraphBuilder, estimator: HistGradientBoostingClassifier, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """Binary (sigmoid) or multiclass (softmax) log-loss boosting; native categorical features may be string
    columns."""
    raw = _hist_gradient_boosting_raw(graph, estimator, x, context)
    classes = np.asarray(estimator.classes_)
    if len(classes) == 2:
        return binary_from_raw(graph, graph.squeeze(raw, [1]), classes, zero_is_positive=False)
    return multiclass_from_raw(graph, raw, classes)


@converter(HistGradientBoostingRegressor, tables=True)
def convert_hist_gradient_boosting_regressor(
    graph: GraphBuilder, estimator: HistGradientBoostingRegressor, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """The raw score through the loss's inverse link (identity, or exp for poisson and gamma); native
    categorical features may be string columns."""
    raw = graph.squeeze(_hist_gradient_boosting_raw(graph, estimator, x, context), [1])
    link = type(estimator._loss.link).__name__
    if link == "IdentityLink":
        return {"predict": raw}
    if link == "LogLink":
        return {"predict": graph.exp(raw)}
    raise unsupported(estimator, "loss", estimator.loss, "losses with an identity or log link convert")


@converter(IsolationForest)
def convert_isolation_forest(
    graph: GraphBuilder, estimator: IsolationForest, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Anomaly score ``-2^(-mean path length / c(max_samples))``; each leaf holds its path length."""
    trees = []
    for tree, features, lengths, averages in zip(
        estimator.estimators_,
        estimator.estimators_features_,
        estimator._decision_path_lengths,
        estimator._average_path_length_per_tree,
        strict=True,
    ):
        depth = (np.asarray(lengths, np.float64) + np.asarray(averages, np.float64) - 1.0)[:, None]
        trees.append(sklearn_tree_arrays(tree.tree_, depth, feature_map=np.asarray(features)))
    ensemble = stack_trees(trees, base=np.zeros(1), compare_in_float32=True, n_features=estimator.n_features_in_)
    depths = graph.squeeze(lower_trees(graph, ensemble, x, context, type(estimator).__name__), [1])
    from sklearn.ensemble._iforest import _average_path_length

    denominator = len(estimator.estimators_) * _average_path_length([estimator.max_samples_])
    # The same float64 operations, in the same order, as sklearn's _compute_score_samples.
    exponent = graph.div(graph.neg(depths), graph.const(denominator.reshape(()), "denominator", dtype=np.float64))
    scores = graph.neg(graph.pow(graph.const(2.0, "two", dtype=np.float64), exponent))
    decision = graph.sub(scores, graph.const(float(estimator.offset_), "offset", dtype=np.float64))
    outlier = graph.less(decision, graph.const(0.0, "zero", dtype=np.float64))
    labels = graph.where(
        outlier,
        graph.const(np.int64(-1), "outlier", dtype=np.int64),
        graph.const(np.int64(1), "inlier", dtype=np.int64),
    )
    return {"predict": labels, "decision_function": decision, "score_samples": scores}


@converter(AdaBoostClassifier)
def convert_adaboost_classifier(
    graph: GraphBuilder, estimator: AdaBoostClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """SAMME: each tree adds its weight to its leaf's class and ``-weight / (K - 1)`` to the others."""
    classes = np.asarray(estimator.classes_)
    n_classes = len(classes)
    trees = []
    for tree, weight in zip(estimator.estimators_, estimator.estimator_weights_, strict=False):
        if type(tree) not in (DecisionTreeClassifier, ExtraTreeClassifier):
            raise unsupported(estimator, "estimator", type(tree).__name__, "only decision-tree base estimators convert")
        voted = np.searchsorted(classes, np.asarray(tree.classes_)[np.argmax(tree.tree_.value[:, 0, :], axis=1)])
        vote = np.full((tree.tree_.node_count, n_classes), -1 / (n_classes - 1) * weight)
        vote[np.arange(len(voted)), voted] = weight
        trees.append(sklearn_tree_arrays(tree.tree_, vote))
    ensemble = stack_trees(
        trees, base=np.zeros(n_classes), compare_in_float32=True, n_features=estimator.n_features_in_
    )
    summed = lower_trees(graph, ensemble, x, context, type(estimator).__name__)
    total = float(np.sum(estimator.estimator_weights_))
    decision = graph.div(summed, graph.const(total, "total_weight", dtype=np.float64))
    if n_classes == 2:
        first, second = (graph.gather(decision, graph.int64s([i], "column"), axis=1) for i in (0, 1))
        raw = graph.squeeze(graph.add(graph.neg(first), second), [1])
        return binary_from_raw(graph, raw, classes, zero_is_positive=False)
    return multiclass_from_raw(graph, decision, classes, proba_divisor=float(n_classes - 1))


@converter(AdaBoostRegressor)
def convert_adaboost_regressor(
    graph: GraphBuilder, estimator: AdaBoostRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The weighted median of the trees' predictions, as sklearn's ``_get_median_predict`` takes it.

    Each tree adds its prediction to an output column of its own, so the lowering yields ``[batch, trees]``;
    the graph then sorts each row, accumulates the sorted trees' weights and takes the first prediction whose
    cumulative weight reaches half the total.
    """
    trees = []
    n_trees = len(estimator.estimators_)
    for position, tree in enumerate(estimator.estimators_):
        if type(tree) not in (DecisionTreeRegressor, ExtraTreeRegressor):
            raise unsupported(estimator, "estimator", type(tree).__name__, "only decision-tree base estimators convert")
        trees.append(_with_output(sklearn_tree_arrays(tree.tree_, regressor_leaf_values(tree)), position, n_trees))
    ensemble = stack_trees(trees, base=np.zeros(n_trees), compare_in_float32=True, n_features=estimator.n_features_in_)
    predictions = lower_trees(graph, ensemble, x, context, type(estimator).__name__)
    if n_trees == 1:
        return {"predict": graph.squeeze(predictions, [1])}
    ordered, order = graph.topk(predictions, n_trees, axis=1, largest=False)
    weights = graph.const(np.asarray(estimator.estimator_weights_[:n_trees], np.float64), "weights", np.float64)
    cumulative = graph.cumsum(graph.gather(weights, order), axis=1)
    total = graph.gather(cumulative, graph.int64s([n_trees - 1], "last"), axis=1)
    reached = graph.greater_equal(cumulative, graph.mul(total, graph.const(0.5, "half", np.float64)))
    median = graph.argmax(graph.cast(reached, np.int32), axis=1, keepdims=True)
    return {"predict": graph.squeeze(graph.gather_elements(ordered, median, axis=1), [1])}


@converter(RandomTreesEmbedding)
def convert_random_trees_embedding(
    graph: GraphBuilder, estimator: RandomTreesEmbedding, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """One-hot encoding of the leaf each tree reaches (sklearn's ``one_hot_encoder_`` over ``apply``): a column
    per (tree, leaf) in the encoder's order, 1.0 where the row's leaf in that tree is that leaf. sklearn returns a
    sparse matrix by default; the export computes it dense."""
    encoder = estimator.one_hot_encoder_
    if encoder.drop_idx_ is not None or getattr(encoder, "_infrequent_enabled", False):
        raise unsupported(estimator, "one_hot_encoder_", encoder, "the encoder RandomTreesEmbedding fits converts")
    ensemble = stack_trees(
        [sklearn_tree_arrays(tree.tree_, np.zeros((tree.tree_.node_count, 1))) for tree in estimator.estimators_],
        base=np.zeros(1),
        compare_in_float32=True,
        n_features=estimator.n_features_in_,
    )
    leaves = lower_tree_leaves(graph, ensemble, x, context, type(estimator).__name__)  # [batch, trees]
    if context.leaves:
        context.applied.append(leaves)
    tree_of_column = np.concatenate([np.full(len(c), t) for t, c in enumerate(encoder.categories_)])
    leaf_of_column = np.concatenate([np.asarray(c, np.int64) for c in encoder.categories_])
    reached = graph.gather(leaves, graph.int64s(tree_of_column, "column_tree"), axis=1)
    one_hot = graph.equal(reached, graph.const(leaf_of_column[None, :], "column_leaf", np.int64))
    return {"transform": graph.cast(one_hot, np.float64)}
