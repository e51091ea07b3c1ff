"""CatBoost models (``CatBoostClassifier``, ``CatBoostRegressor``, ``CatBoostRanker``, ``catboost.CatBoost``).

The model is read from CatBoost's JSON model (``save_model(format="json")``) into a TreeEnsemble and lowered by
the shared tree strategies. CatBoost binarizes each float feature as ``x > border`` with ``x`` and ``border`` in
float32, so a row goes left (bit 0) when ``float32(x) <= border``: the graph compares in float32 against the
border itself. NaN goes right only for features whose ``nan_value_treatment`` is ``AsTrue`` (``nan_mode="Max"``);
otherwise it compares false and goes left, as in CatBoost.

Symmetric (oblivious) trees apply the same ``depth`` splits at every level; split ``i`` sets bit ``i`` of the leaf
index. They are unrolled into full binary trees whose level ``l`` tests split ``depth - 1 - l``, so the heap
order of the leaves is CatBoost's leaf index. Depthwise and Lossguide trees (``trees`` in the JSON) are read as
they are. The raw score is ``scale * sum + bias`` (``scale_and_bias``); the heads follow CatBoost's default
prediction types: probabilities through the sigmoid (Logloss, CrossEntropy, MultiClassOneVsAll) or softmax
(MultiClass), ``exp`` for Poisson and Tweedie, ``[mean, exp(2 * raw)]`` for RMSEWithUncertainty, the raw
score for every other loss.

Categorical, text and embedding features are refused: CatBoost turns them into hashed statistics (CTRs) that
no tensor graph can recompute from the strings.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from typing import Any

import catboost
import numpy as np

from sk2tensor.converters.heads import multiclass_from_raw, squeeze_single
from sk2tensor.converters.tree import lower_trees
from sk2tensor.converters.trees import TreeArrays, stack_trees
from sk2tensor.converters.trees.contributions import Explained
from sk2tensor.errors import ConversionError, UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, register_reference_output, unsupported

_SIGMOID_CLASSIFIERS = {"Logloss", "CrossEntropy"}
_EXP = ("Poisson", "Tweedie")
_REFUSED_LOSSES = {
    "MultiLogloss": "multi-label models (MultiLogloss, MultiCrossEntropy) predict a label per column",
    "MultiCrossEntropy": "multi-label models (MultiLogloss, MultiCrossEntropy) predict a label per column",
}


def _model_json(estimator: Any) -> dict[str, Any]:
    """The fitted model as CatBoost's JSON model (CatBoost writes it only to a file)."""
    _refuse_non_float_features(estimator)
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        estimator.save_model(path, format="json")
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    finally:
        os.unlink(path)


def _refuse_non_float_features(estimator: Any) -> None:
    for kind, method in (
        ("categorical", "get_cat_feature_indices"),
        ("text", "get_text_feature_indices"),
        ("embedding", "get_embedding_feature_indices"),
    ):
        indices = list(getattr(estimator, method)()) if hasattr(estimator, method) else []
        if indices:
            raise UnsupportedParameterError(
                f"{type(estimator).__name__} has {kind} features (columns {indices[:10]}): CatBoost turns them into "
                "hashed statistics that a tensor graph cannot recompute from the strings; encode those columns in "
                "sklearn steps before CatBoost (OrdinalEncoder, TargetEncoder, OneHotEncoder) and convert the Pipeline"
            )


def _loss(model: dict[str, Any]) -> str:
    loss = model["model_info"].get("params", {}).get("loss_function", {})
    return str(loss.get("type", "RMSE")) if isinstance(loss, dict) else str(loss).split(":")[0]


def _float_columns(model: dict[str, Any]) -> tuple[dict[int, int], dict[int, bool], int]:
    """Input column of each float feature, whether its NaN goes right, and the input width."""
    info = model["features_info"]
    floats = info.get("float_features", [])
    column = {int(f["feature_index"]): int(f["flat_feature_index"]) for f in floats}
    nan_right = {int(f["feature_index"]): f.get("nan_value_treatment") == "AsTrue" for f in floats}
    flat = [int(f["flat_feature_index"]) for kind in info.values() if isinstance(kind, list) for f in kind]
    return column, nan_right, max(flat, default=-1) + 1


def _split(split: dict[str, Any], column: dict[int, int], nan_right: dict[int, bool]) -> tuple[int, float, bool]:
    """(input column, float32 border, NaN goes left) of one split."""
    if split.get("split_type") != "FloatFeature":
        raise ConversionError(f"CatBoost split of type {split.get('split_type')!r}: only float-feature splits convert")
    feature = int(split["float_feature_index"])
    return column[feature], float(np.float32(split["border"])), not nan_right[feature]


def _oblivious_tree(tree: dict[str, Any], dim: int, column: dict[int, int], nan_right: dict[int, bool]) -> TreeArrays:
    """A symmetric tree unrolled into a full binary tree in heap order: level ``l`` tests split ``depth - 1 - l``
    and the leaves, left to right, are CatBoost's leaf indices 0 .. 2**depth - 1."""
    splits = [_split(s, column, nan_right) for s in tree.get("splits", [])]
    depth = len(splits)
    internal, n_nodes = 2**depth - 1, 2 ** (depth + 1) - 1
    index = np.arange(n_nodes, dtype=np.int64)
    is_leaf = index >= internal
    # Node n of a heap sits at level bit_length(n + 1) - 1; level l tests split depth - 1 - l.
    level = np.array([int(n + 1).bit_length() - 1 for n in range(internal)], dtype=np.int64)
    by_level = [splits[depth - 1 - at] for at in level]
    feature = np.zeros(n_nodes, np.int64)
    threshold = np.zeros(n_nodes)
    missing_left = np.ones(n_nodes, bool)
    if internal:
        feature[:internal], threshold[:internal], missing_left[:internal] = map(np.asarray, zip(*by_level, strict=True))
    value = np.zeros((n_nodes, dim))
    value[internal:] = np.asarray(tree["leaf_values"], np.float64).reshape(2**depth, dim)
    weights = tree.get("leaf_weights")
    cover = None
    if weights is not None:
        cover = np.zeros(n_nodes)
        cover[internal:] = np.asarray(weights, np.float64)
        for node in range(internal - 1, -1, -1):
            cover[node] = cover[2 * node + 1] + cover[2 * node + 2]
    return TreeArrays(
        feature,
        threshold,
        np.where(is_leaf, index, 2 * index + 1),
        np.where(is_leaf, index, 2 * index + 2),
        missing_left,
        value,
        cover=cover,
    )


def _grown_tree(tree: dict[str, Any], dim: int, column: dict[int, int], nan_right: dict[int, bool]) -> TreeArrays:
    """A Depthwise or Lossguide tree, depth first (its leaf ids are node positions, as the lowerings need)."""
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    missing_left: list[bool] = []
    value: list[np.ndarray] = []
    cover: list[float] = []
    stack: list[tuple[dict[str, Any], int, bool]] = [(tree, -1, False)]
    while stack:
        node, parent, is_right = stack.pop()
        index = len(feature)
        if parent >= 0:
            (right if is_right else left)[parent] = index
        if "split" in node:
            f, t, m = _split(node["split"], column, nan_right)
            feature.append(f), threshold.append(t), missing_left.append(m)
            left.append(-1), right.append(-1)
            value.append(np.zeros(dim)), cover.append(0.0)
            stack.append((node["right"], index, True))
            stack.append((node["left"], index, False))
        else:
            feature.append(0), threshold.append(0.0), missing_left.append(True)
            left.append(index), right.append(index)
            value.append(np.atleast_1d(np.asarray(node["value"], np.float64)).reshape(dim))
            cover.append(float(node.get("weight", 0.0)))
    node_cover = np.asarray(cover)
    for node in range(len(feature) - 1, -1, -1):  # children come after their parent
        if left[node] != node:
            node_cover[node] = node_cover[left[node]] + node_cover[right[node]]
    return TreeArrays(
        np.asarray(feature, np.int64),
        np.asarray(threshold),
        np.asarray(left, np.int64),
        np.asarray(right, np.int64),
        np.asarray(missing_left, bool),
        np.asarray(value),
        cover=node_cover,
    )


def _raw(graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext) -> tuple[Var, str, int]:
    """``[batch, dim]`` float64 raw scores (``RawFormulaVal``), the loss name, and ``dim``."""
    model = _model_json(estimator)
    loss = _loss(model)
    if loss in _REFUSED_LOSSES:
        raise unsupported(estimator, "loss_function", loss, _REFUSED_LOSSES[loss] + ", which is not converted")
    scale, bias = model.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, np.float64))
    dim = len(bias)
    column, nan_right, width = _float_columns(model)
    if "oblivious_trees" in model:
        trees = [_oblivious_tree(t, dim, column, nan_right) for t in model["oblivious_trees"]]
    else:
        trees = [_grown_tree(t, dim, column, nan_right) for t in model.get("trees", [])]
    if not trees:
        raise ConversionError(f"{type(estimator).__name__} holds no tree")
    if float(scale) != 1.0:  # scale * sum, folded into the leaves (exact up to float64 rounding)
        trees = [replace(t, value=t.value * float(scale)) for t in trees]
    # The bias is a leading single-leaf tree, so contributions' expected value holds it.
    ensemble = stack_trees(trees, base=bias, compare_in_float32=True, n_features=max(width, 1))
    explain = Explained(x, width)
    return lower_trees(graph, ensemble, x, context, type(estimator).__name__, explain), loss, dim


def convert_catboost_classifier(
    graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Sigmoid (binary, one-vs-all) or softmax probabilities; labels as ``predict`` (prediction type Class)."""
    raw, loss, dim = _raw(graph, estimator, x, context)
    classes = np.asarray(estimator.classes_)
    if len(classes) != (2 if dim == 1 else dim):  # a binary model has one raw score
        raise ConversionError(f"{type(estimator).__name__} has {len(classes)} classes but {dim} raw scores")
    if dim == 1:
        if loss not in _SIGMOID_CLASSIFIERS:
            raise unsupported(
                estimator, "loss_function", loss, f"binary classifiers convert with {_SIGMOID_CLASSIFIERS}"
            )
        margin = graph.squeeze(raw, [1])
        positive = graph.sigmoid(margin)
        threshold = _probability_threshold(estimator)
        # Class: the positive class when the raw score is above the logit of the probability threshold.
        logit = float(np.log(threshold / (1.0 - threshold)))
        index = graph.cast(graph.greater(margin, graph.const(logit, "logit_threshold", np.float64)), np.int64)
        negative = graph.sub(graph.const(1.0, "one", np.float64), positive)
        proba = graph.concat([graph.unsqueeze(negative, [1]), graph.unsqueeze(positive, [1])], axis=1)
        return {"predict": class_output(graph, classes, index), "predict_proba": proba}
    if loss == "MultiClass":
        return multiclass_from_raw(graph, raw, classes)
    if loss != "MultiClassOneVsAll":
        raise unsupported(
            estimator, "loss_function", loss, "multiclass models convert with MultiClass and MultiClassOneVsAll"
        )
    return {"predict": class_output(graph, classes, graph.argmax(raw, axis=1)), "predict_proba": graph.sigmoid(raw)}


def _probability_threshold(estimator: Any) -> float:
    threshold = estimator.get_probability_threshold() if hasattr(estimator, "get_probability_threshold") else None
    threshold = 0.5 if threshold is None else float(threshold)
    if not 0.0 < threshold < 1.0:
        raise unsupported(estimator, "probability_threshold", threshold, "it must lie strictly between 0 and 1")
    return threshold


def convert_catboost_regressor(
    graph: GraphBuilder, estimator: Any, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict`` with CatBoostRegressor's default prediction type for the loss; the raw score otherwise."""
    raw, loss, dim = _raw(graph, estimator, x, context)
    if isinstance(estimator, catboost.CatBoostRegressor):
        if loss.startswith(_EXP):
            raw = graph.exp(raw)
        elif loss == "RMSEWithUncertainty":
            mean = graph.slice(raw, [0, 0], [2**62, 1])
            spread = graph.slice(raw, [0, 1], [2**62, 2])
            variance = graph.exp(graph.mul(spread, graph.const(2.0, "two", np.float64)))
            raw = graph.concat([mean, variance], axis=1)
    return {"predict": squeeze_single(graph, raw, dim)}


converter(catboost.CatBoostClassifier)(convert_catboost_classifier)
converter(catboost.CatBoostRegressor, catboost.CatBoostRanker, catboost.CatBoost)(convert_catboost_regressor)


def _flat_labels(method: str, result: Any) -> Any:
    """CatBoostClassifier.predict returns ``[rows, 1]`` for multiclass models; sklearn's shape is ``[rows]``."""
    result = np.asarray(result)
    return result[:, 0] if method == "predict" and result.ndim == 2 and result.shape[1] == 1 else result


register_reference_output(catboost.CatBoostClassifier, _flat_labels)
