"""LightGBM models (``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``, ``lightgbm.Booster``).

The model is read from ``Booster.dump_model()`` (the JSON dump) into a TreeEnsemble and lowered by the
shared tree strategies. LightGBM compares in float64, so float32 graphs use the largest float32 not above
each threshold, as for HistGradientBoosting. Each node's missing-value rule becomes a choice of input column:

* ``missing_type=None``: NaN reads 0 (a copy of the input with NaN replaced by 0);
* ``missing_type=NaN``: NaN goes the node's default way (the lowering's ``missing_left``);
* ``missing_type=Zero``: NaN reads 0 and values within ±1e-35 of zero go the default way (copies of the
  input in which those read ``-inf`` or ``+inf``).

Categorical splits (``decision_type="=="``) become 0/1 columns looked up from the category code, as for
HistGradientBoosting; NaN and codes below zero go right, as in LightGBM.

Linear trees (``linear_tree=True``) keep a linear model in each leaf (``leaf_const``, ``leaf_features``,
``leaf_coeff``): the lowering scores ``const + coeff * x`` term by term in float64, and the leaf's constant
``leaf_value`` when one of the leaf's features is NaN, as LightGBM's ``Tree::Predict`` does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import lightgbm
import numpy as np

from sk2tensor.converters.heads import squeeze_single
from sk2tensor.converters.tree import lower_trees
from sk2tensor.converters.trees import TreeArrays, stack_trees
from sk2tensor.converters.trees.contributions import Explained
from sk2tensor.converters.trees.ensemble import LinearLeaves
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported

#: LightGBM's kZeroThreshold (a float32 constant in its C++ code).
ZERO_THRESHOLD = float(np.float32(1e-35))
_BLOCKS = ("raw", "nan_as_zero", "zero_left", "zero_right")
_IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape", "lambdarank", "rank_xendcg"}
_EXP = {"poisson", "gamma", "tweedie"}


def _booster(estimator: Any) -> lightgbm.Booster:
    return estimator if isinstance(estimator, lightgbm.Booster) else estimator.booster_


def _is_linear(dump: dict[str, Any]) -> bool:
    """Whether the model was trained with ``linear_tree`` (its leaves carry ``leaf_const``)."""

    def any_linear(node: dict[str, Any]) -> bool:
        if "split_feature" not in node:
            return "leaf_const" in node
        return any_linear(node["left_child"]) or any_linear(node["right_child"])

    return any(any_linear(info["tree_structure"]) for info in dump["tree_info"])


def _flatten(
    tree: dict[str, Any], block_of: dict[str, int], n_features: int, categorical: list, linear: bool = False
) -> TreeArrays:
    """Depth-first arrays of one dumped tree; node features point into the right column block.

    With ``linear``, leaves also give their models (features index the raw block, the first ``n_features``
    columns); a leaf without ``leaf_const`` scores its ``leaf_value``.
    """
    feature, threshold, left, right, missing_left, value = [], [], [], [], [], []
    cover: list[float] = []
    leaf_models: dict[int, tuple[float, list[int], list[float]]] = {}

    def visit(node: dict[str, Any]) -> int:
        index = len(feature)
        for column in (feature, threshold, left, right, missing_left, value):
            column.append(None)
        cover.append(float(node.get("leaf_count", node.get("internal_count", 0))))
        if "leaf_value" in node or "split_feature" not in node:
            feature[index], threshold[index] = 0, 0.0
            left[index] = right[index] = index
            missing_left[index], value[index] = True, float(node.get("leaf_value", 0.0))
            if linear:
                features = [int(f) for f in node.get("leaf_features", [])]
                coefficients = [float(c) for c in node.get("leaf_coeff", [])]
                if len(features) != len(coefficients):
                    raise UnsupportedParameterError("a LightGBM linear leaf has as many features as coefficients")
                leaf_models[index] = (float(node.get("leaf_const", value[index])), features, coefficients)
            return index
        column = int(node["split_feature"])
        value[index], missing_left[index] = 0.0, bool(node["default_left"])
        if node["decision_type"] == "==":
            categories = [int(c) for c in str(node["threshold"]).split("||")]
            categorical.append((column, categories))
            feature[index] = len(_BLOCKS) * n_features + len(categorical) - 1
            threshold[index], missing_left[index] = 0.5, True
        elif node["decision_type"] == "<=":
            missing = node["missing_type"]
            if missing == "NaN":
                block = "raw"
            elif missing == "None":
                block = "nan_as_zero"
            else:
                block = "zero_left" if node["default_left"] else "zero_right"
            block_of[block] = 1
            feature[index] = _BLOCKS.index(block) * n_features + column
            threshold[index] = float(node["threshold"])
        else:
            raise UnsupportedParameterError(f"LightGBM split type {node['decision_type']!r} is not supported")
        left[index] = visit(node["left_child"])
        right[index] = visit(node["right_child"])
        return index

    visit(tree)
    return TreeArrays(
        np.asarray(feature, np.int64),
        np.asarray(threshold, np.float64),
        np.asarray(left, np.int64),
        np.asarray(right, np.int64),
        np.asarray(missing_left, bool),
        np.asarray(value, np.float64)[:, None],
        _leaf_models(leaf_models, len(feature)) if linear else None,
        np.asarray(cover, np.float64),
    )


def _leaf_models(models: dict[int, tuple[float, list[int], list[float]]], n_nodes: int) -> LinearLeaves:
    """One tree's leaf models as padded arrays (inner nodes: constant 0, no feature)."""
    width = max((len(features) for _, features, _ in models.values()), default=0)
    feature = np.full((n_nodes, width), -1, np.int64)
    coeff = np.zeros((n_nodes, width), np.float64)
    const = np.zeros(n_nodes, np.float64)
    for node, (constant, features, coefficients) in models.items():
        const[node] = constant
        feature[node, : len(features)], coeff[node, : len(coefficients)] = features, coefficients
    return LinearLeaves(feature, coeff, const, np.asarray(0, np.int64))


def _input_columns(graph: GraphBuilder, x: Var, n_features: int, blocks: dict[str, int], categorical: list) -> Var:
    """The column blocks the nodes read (unused blocks hold a copy of the input that no node reads)."""
    nan = graph.is_nan(x)
    zero = graph.const(0.0, "zero")
    nan_as_zero = graph.where(nan, zero, x) if set(blocks) - {"raw"} else x
    columns = [x, nan_as_zero, x, x]
    if "zero_left" in blocks or "zero_right" in blocks:
        small = graph.logical_and(
            graph.logical_not(graph.less(nan_as_zero, graph.const(-ZERO_THRESHOLD, "minus_zero_threshold"))),
            graph.logical_not(graph.greater(nan_as_zero, graph.const(ZERO_THRESHOLD, "zero_threshold"))),
        )
        if "zero_left" in blocks:
            columns[2] = graph.where(small, graph.const(-np.inf, "minus_inf"), nan_as_zero)
        if "zero_right" in blocks:
            columns[3] = graph.where(small, graph.const(np.inf, "inf"), nan_as_zero)
    if categorical:
        columns.append(_categorical_columns(graph, x, categorical))
    return graph.concat(columns, axis=1)


def _categorical_columns(graph: GraphBuilder, x: Var, categorical: list) -> Var:
    """``[batch, splits]``: 1 where a categorical split sends the row right (NaN and codes < 0 go right)."""
    slots = max(max(c) for _, c in categorical) + 2  # codes 0..max, then "not in any set"
    table = np.ones((len(categorical), slots))
    for i, (_, categories) in enumerate(categorical):
        table[i, categories] = 0.0
    values = graph.gather(x, graph.int64s([column for column, _ in categorical], "categorical_column"), axis=1)
    # C++ truncates toward zero: (-1, 0) reads category 0, and values <= -1 or NaN go right.
    valid = graph.greater(values, graph.const(-1.0, "minus_one"))
    code = graph.floor(graph.max(values, graph.const(0.0, "zero")))
    code = graph.min(code, graph.const(float(slots - 1), "last_slot"))
    code = graph.where(valid, code, graph.const(float(slots - 1), "last_slot"))
    position = graph.cast(graph.add(code, graph.const(np.arange(len(categorical)) * float(slots), "offset")), np.int64)
    return graph.gather(graph.const(table.ravel(), "goes_right"), position)


def _raw_scores(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> tuple[Var, dict]:
    """``[batch, trees per iteration]`` float64 raw scores and the model's dump header."""
    booster = _booster(estimator)
    dump = booster.dump_model()
    n_features = int(dump["max_feature_idx"]) + 1
    per_iteration = int(dump["num_tree_per_iteration"])
    blocks: dict[str, int] = {}
    categorical: list = []
    trees = []
    linear = _is_linear(dump)
    for i, info in enumerate(dump["tree_info"]):
        tree = _flatten(info["tree_structure"], blocks, n_features, categorical, linear)
        if per_iteration > 1:
            value = np.zeros((len(tree.value), per_iteration))
            value[:, i % per_iteration] = tree.value[:, 0]
            models = tree.linear
            if models is not None:
                models = LinearLeaves(models.feature, models.coeff, models.const, np.asarray(i % per_iteration))
            tree = replace(tree, value=value, linear=models)
        trees.append(tree)
    columns = _input_columns(graph, x, n_features, blocks, categorical)
    ensemble = stack_trees(
        trees,
        base=np.zeros(per_iteration),
        compare_in_float32=False,
        n_features=len(_BLOCKS) * n_features + len(categorical),
    )
    iterations = float(len(dump["tree_info"]) // per_iteration)
    # Contributions are LightGBM's pred_contrib: of the raw score, per input feature (every column block and
    # categorical split column maps back to the feature it reads).
    blocks = np.tile(np.arange(n_features), len(_BLOCKS))
    column_feature = np.concatenate([blocks, [column for column, _ in categorical]]).astype(np.int64)
    scale = 1.0 / iterations if dump.get("average_output") else 1.0
    explain = Explained(x, n_features, column_feature, scale=scale)
    raw = lower_trees(graph, ensemble, columns, context, type(estimator).__name__, explain)
    if dump.get("average_output"):
        raw = graph.div(raw, graph.const(iterations, "iterations", np.float64))
    return raw, dump


def _objective(dump: dict) -> tuple[str, dict[str, float]]:
    name, *parameters = str(dump["objective"]).split()
    values = {}
    for parameter in parameters:
        key, _, value = parameter.partition(":")
        try:
            values[key] = float(value)
        except ValueError:
            values[key] = value
    return name, values


def _transformed(graph: GraphBuilder, raw: Var, dump: dict, owner: Any) -> Var:
    """LightGBM's output transform of the raw scores (what ``predict`` returns without ``raw_score``)."""
    name, parameters = _objective(dump)
    one = graph.const(1.0, "one", np.float64)
    if name in ("binary", "multiclassova", "cross_entropy", "xentropy"):
        scale = graph.const(-parameters.get("sigmoid", 1.0), "minus_sigmoid", np.float64)
        return graph.div(one, graph.add(one, graph.exp(graph.mul(raw, scale))))
    if name in ("multiclass", "softmax"):
        return graph.softmax(raw, axis=1)
    if name in _EXP:
        return graph.exp(raw)
    if name in _IDENTITY:
        return raw
    raise unsupported(
        owner,
        "objective",
        name,
        f"supported objectives: {sorted(_IDENTITY | _EXP)}, binary, multiclass, multiclassova, cross_entropy",
    )


def convert_lgbm_classifier(
    graph: GraphBuilder, estimator: lightgbm.LGBMClassifier, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Probabilities from the objective's transform; the label is the most probable class."""
    if callable(getattr(estimator, "objective", None)):
        raise unsupported(estimator, "objective", "a callable", "custom objectives have no defined prediction")
    raw, dump = _raw_scores(graph, estimator, x, context)
    classes = np.asarray(estimator.classes_)
    proba = _transformed(graph, raw, dump, estimator)
    if len(classes) == 2:
        positive = graph.squeeze(proba, [1])
        negative = graph.sub(graph.const(1.0, "one", np.float64), positive)
        proba = graph.concat([graph.unsqueeze(negative, [1]), graph.unsqueeze(positive, [1])], axis=1)
    return {"predict": class_output(graph, classes, graph.argmax(proba, axis=1)), "predict_proba": proba}


def convert_lgbm_regressor(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The objective's transform of the raw score (identity, or exp for poisson, gamma and tweedie)."""
    raw, dump = _raw_scores(graph, estimator, x, context)
    value = _transformed(graph, raw, dump, estimator)
    return {"predict": squeeze_single(graph, value, int(dump["num_tree_per_iteration"]))}


converter(lightgbm.LGBMClassifier)(convert_lgbm_classifier)
converter(lightgbm.LGBMRegressor, lightgbm.LGBMRanker, lightgbm.Booster)(convert_lgbm_regressor)
