"""XGBoost models (``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, ``XGBRF*``, ``xgboost.Booster``).

The model is read from the booster's JSON model (``save_raw("json")``), not its text dump, into a
TreeEnsemble and lowered by the shared tree strategies. XGBoost compares float32 inputs with float32 split
conditions and sends a row left when ``x < condition``: the graph's ``x <= t`` uses ``t`` = the float32 just
below the condition, which decides every float32 input the same way. Missing values take each node's default
direction. Categorical splits send the categories in the node's set right, and unknown or negative
categories left, as XGBoost does. The start of the sum is ``base_score`` taken to margin space through the
objective's link.

The linear booster (``booster="gblinear"``) becomes XGBoost's own float32 arithmetic: ``bias + base_score``,
then each feature's ``x * weight`` added in feature order, a missing (NaN) value adding nothing.

An export with ``base_margin`` takes a second input, ``[batch, groups]``, that replaces the base score row by row,
as ``predict(X, base_margin=...)`` does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import xgboost

from sk2tensor.converters.heads import squeeze_single
from sk2tensor.converters.tree import leaves_after, lower_trees
from sk2tensor.converters.trees import TreeArrays, stack_trees
from sk2tensor.converters.trees.contributions import Explained
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, register_reference_input, unsupported

_LOGISTIC = {"binary:logistic", "reg:logistic"}
_EXP = {"count:poisson", "reg:gamma", "reg:tweedie"}
_IDENTITY = {
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:quantileerror",
    "binary:logitraw",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
}
_SOFTMAX = {"multi:softprob", "multi:softmax"}


def _booster(estimator: Any) -> xgboost.Booster:
    return estimator if isinstance(estimator, xgboost.Booster) else estimator.get_booster()


def _base_margin(base_score: np.ndarray, objective: str) -> np.ndarray:
    """``base_score`` (stored in output space) as a margin, through the objective's link."""
    if objective in _LOGISTIC:
        return np.log(base_score / (1.0 - base_score))
    if objective in _EXP:
        return np.log(base_score)
    return base_score


def _tree(tree: dict[str, Any], n_features: int, categorical: list) -> TreeArrays:
    left = np.asarray(tree["left_children"], np.int64)
    right = np.asarray(tree["right_children"], np.int64)
    leaf = left < 0
    index = np.arange(len(left), dtype=np.int64)
    condition = np.asarray(tree["split_conditions"], np.float32)
    feature = np.where(leaf, 0, np.asarray(tree["split_indices"], np.int64))
    # x < c  <=>  x <= (the float32 below c), for float32 x.
    threshold = np.where(leaf, 0.0, np.nextafter(condition, np.float32(-np.inf)).astype(np.float64))
    missing_left = np.asarray(tree["default_left"], bool)
    split_type = np.asarray(tree.get("split_type", np.zeros(len(left))), np.int64)
    if (split_type[~leaf] == 1).any():
        nodes = np.asarray(tree["categories_nodes"], np.int64)
        segments = np.asarray(tree["categories_segments"], np.int64)
        sizes = np.asarray(tree["categories_sizes"], np.int64)
        values = np.asarray(tree["categories"], np.int64)
        for node, start, size in zip(nodes, segments, sizes, strict=True):
            categorical.append((int(feature[node]), values[start : start + size].tolist(), bool(missing_left[node])))
            feature[node] = 2 * n_features + len(categorical) - 1
            threshold[node], missing_left[node] = 0.5, True
    # XGBoost holds (and sums) float32 leaves; its JSON writes them in decimal, read back here as those float32s.
    value = np.where(leaf, np.asarray(tree["base_weights"], np.float32).astype(np.float64), 0.0)
    return TreeArrays(
        feature,
        threshold,
        np.where(leaf, index, left),
        np.where(leaf, index, right),
        missing_left,
        value[:, None],
        cover=np.asarray(tree["sum_hessian"], np.float64) if "sum_hessian" in tree else None,
    )


def _categorical_columns(graph: GraphBuilder, x: Var, categorical: list) -> Var:
    """``[batch, splits]``: 1 where a categorical split sends the row right (its set); missing: default way."""
    slots = max([max(c, default=0) for _, c, _ in categorical]) + 3  # codes, "not in set", "missing right"
    table = np.zeros((len(categorical), slots))
    for i, (_, categories, _) in enumerate(categorical):
        table[i, categories] = 1.0
    table[:, -1] = [0.0 if default_left else 1.0 for _, _, default_left in categorical]
    values = graph.gather(x, graph.int64s([column for column, _, _ in categorical], "categorical_column"), axis=1)
    valid = graph.logical_not(graph.less(values, graph.const(0.0, "zero")))
    code = graph.min(graph.floor(values), graph.const(float(slots - 2), "not_in_set"))
    code = graph.where(valid, code, graph.const(float(slots - 2), "not_in_set"))
    code = graph.where(graph.is_nan(values), graph.const(float(slots - 1), "missing_slot"), code)
    position = graph.cast(graph.add(code, graph.const(np.arange(len(categorical)) * float(slots), "offset")), np.int64)
    return graph.gather(graph.const(table.ravel(), "goes_right"), position)


def _linear_margin(
    graph: GraphBuilder, model: dict[str, Any], base: np.ndarray, x: Var, row_margin: Var | None = None
) -> Var:
    """``gblinear``: ``[batch, groups]`` margins summed in float32 in XGBoost's order (``GBLinear::Pred``); a
    per-row ``row_margin`` takes the place of the base score."""
    params = model["learner_model_param"]
    n_features = int(params["num_feature"])
    weights = np.asarray(model["gradient_booster"]["model"]["weights"], np.float32).reshape(n_features + 1, -1)
    x = graph.cast(x, np.float32)
    present = graph.where(graph.is_nan(x), graph.const(np.float32(0.0), "zero", np.float32), x)
    terms = graph.mul(graph.unsqueeze(present, [2]), graph.const(weights[:n_features], "weights", np.float32))
    if row_margin is not None:  # bias + the row's margin, in float32
        bias = graph.const(weights[n_features][None, :], "bias", np.float32)
        margin = graph.add(bias, graph.cast(row_margin, np.float32))
    else:
        # GBLinear::PredictBatchInternal starts every group from the first base score (XGBoost 3 stores one per
        # class).
        start = (weights[n_features] + np.float32(base[0])).astype(np.float32)
        margin = graph.const(start[None, :], "bias", np.float32)
    # One Add per feature: XGBoost adds the products one after the other, and ReduceSum's order is unspecified.
    for feature in range(n_features):
        margin = graph.add(margin, graph.gather(terms, graph.const(np.int64(feature), "feature", np.int64), axis=1))
    return graph.cast(margin, np.float64)


def _margin(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> tuple[Var, str, int]:
    """``[batch, groups]`` float64 margins, the objective's name, and the number of output groups."""
    booster = _booster(estimator)
    model = json.loads(booster.save_raw("json"))["learner"]
    objective = model["objective"]["name"]
    booster_name = model["gradient_booster"]["name"]
    if booster_name not in ("gbtree", "dart", "gblinear"):
        raise unsupported(estimator, "booster", booster_name, "'gbtree', 'dart' and 'gblinear' convert")
    # Dart scales each tree by its weight_drop at prediction time. From XGBoost 3.4 dart is a gbtree with dropout
    # parameters, and the weights sit in the tree model itself.
    if booster_name == "dart":
        weight_drop = model["gradient_booster"]["weight_drop"]
        trees_model = model["gradient_booster"]["gbtree"]["model"]
    else:
        trees_model = model["gradient_booster"]["model"]
        weight_drop = trees_model.get("weight_drop")
    weights = np.asarray(weight_drop, np.float64) if weight_drop else None
    params = model["learner_model_param"]
    n_features = int(params["num_feature"])
    groups = max(1, int(params.get("num_class", "0")), int(params.get("num_target", "1")))
    base_score = np.atleast_1d(np.asarray(json.loads(str(params["base_score"]).lower()), np.float64))
    # XGBoost starts each row's float32 sum from the float32 margin; held as such, it also lets the leaf table
    # (whose first tree is this start) be stored as float32 (graph.narrowest_exact).
    margin = _base_margin(base_score, objective).astype(np.float32)
    base = np.broadcast_to(margin, (groups,)).astype(np.float64)
    # A per-row base_margin replaces the base score, as in XGBoost's predict(..., base_margin=...).
    row_margin = context.declare_margin(graph, groups) if context.base_margin else None
    if row_margin is not None and context.contributions:
        raise UnsupportedParameterError(
            "contributions with a base_margin input are not computed: export the contributions without base_margin"
        )
    if booster_name == "gblinear":
        if context.contributions:
            raise unsupported(estimator, "booster", "gblinear", "contributions are computed for tree boosters")
        return _linear_margin(graph, model, base, x, row_margin), objective, groups
    if row_margin is not None:
        base = np.zeros(groups)
    iteration_range = getattr(estimator, "best_iteration", None) if hasattr(estimator, "best_iteration") else None
    indptr = trees_model.get("iteration_indptr")
    trees_json = trees_model["trees"]
    tree_info = trees_model["tree_info"]
    if iteration_range is not None and indptr is not None:
        trees_json = trees_json[: indptr[iteration_range + 1]]
    categorical: list = []
    trees = []
    for i, tree_json in enumerate(trees_json):
        tree = _tree(tree_json, n_features, categorical)
        value = tree.value * (weights[i] if weights is not None else 1.0)
        if groups > 1:
            spread = np.zeros((len(value), groups))
            spread[:, int(tree_info[i])] = value[:, 0]
            value = spread
        trees.append(replace(tree, value=value))
    columns = [x, x]
    if categorical:
        columns.append(_categorical_columns(graph, x, categorical))
    ensemble = stack_trees(trees, base=base, compare_in_float32=True, n_features=2 * n_features + len(categorical))
    # Contributions are XGBoost's pred_contribs: of the margin, per input feature (both column blocks and the
    # categorical split columns map back to the feature they read).
    column_feature = np.concatenate([np.arange(n_features), np.arange(n_features), [c for c, _, _ in categorical]])
    explain = Explained(x, n_features, column_feature.astype(np.int64))
    step = type(estimator).__name__
    # apply (XGBModel.apply): the leaf of every tree, after the leading tree holding base_score (if any).
    layout = leaves_after(graph, ensemble.n_trees - len(trees), len(trees))
    value = lower_trees(graph, ensemble, graph.concat(columns, 1), context, step, explain, layout)
    if row_margin is not None:
        value = graph.add(graph.cast(row_margin, np.float64), value)
    return value, objective, groups


def _transformed(graph: GraphBuilder, margin: Var, objective: str, owner: Any) -> Var:
    if objective in _LOGISTIC:
        return graph.sigmoid(margin)
    if objective in _SOFTMAX:
        return graph.softmax(margin, axis=1)
    if objective in _EXP:
        return graph.exp(margin)
    if objective in _IDENTITY:
        return margin
    raise unsupported(owner, "objective", objective, f"supported: {sorted(_LOGISTIC | _SOFTMAX | _EXP | _IDENTITY)}")


def convert_xgb_classifier(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> dict[str, Var]:
    """Sigmoid (binary) or softmax probabilities; labels as XGBClassifier.predict picks them."""
    margin, objective, groups = _margin(graph, estimator, x, context)
    classes = np.asarray(estimator.classes_)
    proba = _transformed(graph, margin, objective, estimator)
    if len(classes) == 2 and groups == 1:
        positive = graph.squeeze(proba, [1])
        index = graph.cast(graph.greater(positive, graph.const(0.5, "half", np.float64)), np.int64)
        negative = graph.sub(graph.const(1.0, "one", np.float64), positive)
        proba = graph.concat([graph.unsqueeze(negative, [1]), graph.unsqueeze(positive, [1])], axis=1)
    else:
        index = graph.argmax(proba, axis=1)
    return {"predict": class_output(graph, classes, index), "predict_proba": proba}


def convert_xgb_regressor(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The objective's transform of the margin (identity, sigmoid or exp)."""
    margin, objective, groups = _margin(graph, estimator, x, context)
    value = _transformed(graph, margin, objective, estimator)
    return {"predict": squeeze_single(graph, value, groups)}


converter(xgboost.XGBClassifier, xgboost.XGBRFClassifier)(convert_xgb_classifier)
converter(xgboost.XGBRegressor, xgboost.XGBRFRegressor, xgboost.XGBRanker, xgboost.Booster)(convert_xgb_regressor)
register_reference_input(xgboost.Booster, xgboost.DMatrix)
