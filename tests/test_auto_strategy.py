"""The ``auto`` tree strategy rule (sk2tensor/converters/trees/auto.py) and the depth groups it relies on."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import onnxruntime
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

import sk2tensor
from sk2tensor.converters.trees import TreeArrays, auto, lowering, stack_trees
from sk2tensor.graph import GraphBuilder


def chain(depth: int) -> TreeArrays:
    """A tree of ``depth`` splits where every left child is a leaf and the right one splits again."""
    n = 2 * depth + 1
    feature = np.zeros(n, np.int64)
    index = np.arange(n)
    left, right = index.copy(), index.copy()
    internal = np.arange(0, 2 * depth, 2)
    left[internal], right[internal] = internal + 1, internal + 2
    return TreeArrays(
        feature=feature,
        threshold=np.where(np.isin(index, internal), 0.5, 0.0),
        left=left,
        right=right,
        missing_left=np.ones(n, bool),
        value=np.arange(n, dtype=np.float64)[:, None],
    )


def ensemble_of(depths: list[int]):
    return stack_trees([chain(d) for d in depths], base=np.zeros(1), compare_in_float32=True, n_features=1)


def test_equal_depths_pick_perfect_traversal() -> None:
    assert auto.choose(ensemble_of([8] * 20), "cpu") == "perfect_tree_traversal"
    assert auto.choose(ensemble_of([1] * 5), "cpu") == "perfect_tree_traversal"


def test_uneven_depths_pick_grouped_traversal() -> None:
    # Padding every tree to depth 12 steps 6x the levels the depth groups step.
    ensemble = ensemble_of([2] * 40 + [12] * 2)
    assert auto.perfect_work(ensemble) > auto.TRAVERSAL_LEVEL_COST * auto.traversal_work(ensemble)
    assert auto.choose(ensemble, "cpu") == "tree_traversal"


def test_deeper_than_measured_picks_traversal() -> None:
    assert auto.choose(ensemble_of([auto.PERFECT_MAX_DEPTH + 1] * 3), "cpu") == "tree_traversal"
    assert auto.choose(ensemble_of([auto.PERFECT_MAX_DEPTH] * 3), "cpu") == "perfect_tree_traversal"


def test_table_bound_picks_traversal(monkeypatch) -> None:
    ensemble = ensemble_of([8] * 20)
    monkeypatch.setattr(auto, "MAX_TABLE_BYTES", lowering.perfect_table_bytes(ensemble) - 1)
    assert auto.choose(ensemble, "cpu") == "tree_traversal"


def test_lone_leaves_pick_traversal() -> None:
    assert auto.choose(ensemble_of([0, 0]), "cpu") == "tree_traversal"


def test_auto_never_picks_gemm() -> None:
    for depths in ([1] * 50, [2] * 50, [3] * 10):
        assert auto.choose(ensemble_of(depths), "cpu") != "gemm"


@pytest.mark.parametrize("depths", [[3] * 5, [2, 9, 3, 9, 1], [6, 7, 8, 9, 10, 11, 12] * 5, [0, 4, 4]])
def test_depth_groups_partition_trees_in_order(depths: list[int]) -> None:
    for rows in (1, 128, 4096):
        groups = lowering.depth_groups(np.array(depths), rows)
        assert sorted(np.concatenate(groups).tolist()) == list(range(len(depths)))
        for group in groups:
            assert list(group) == sorted(group)
        deepest = [max(np.maximum(np.array(depths)[g], 1)) for g in groups]
        assert deepest == sorted(deepest)


def test_equal_depths_form_one_group() -> None:
    assert len(lowering.depth_groups(np.array([8] * 100))) == 1


def test_grouped_traversal_sums_in_tree_order_and_matches_sklearn(monkeypatch) -> None:
    X, y = make_classification(2000, 8, random_state=0)
    # Unlimited depth: trees of many different depths; grouping for large calls makes several groups.
    estimator = RandomForestClassifier(30, random_state=0).fit(X, y)
    monkeypatch.setattr(lowering, "depth_groups", partial(lowering.depth_groups, rows=100_000))
    groups = lowering.depth_groups(np.array([e.tree_.max_depth for e in estimator.estimators_]))
    assert len(groups) > 2
    compiled = sk2tensor.convert(estimator, X, strategy="auto")
    assert compiled.strategy == {"RandomForestClassifier": "tree_traversal"}
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(compiled.predict(X32), estimator.predict(X32))
    np.testing.assert_allclose(compiled.predict_proba(X32), estimator.predict_proba(X32), atol=1e-6, rtol=0)


def _top_level_sets(model: onnx.ModelProto) -> int:
    """Sets of top levels of at least three levels in a traversal graph: each has two ``Not``."""
    nots = sum(node.op_type == "Not" for node in model.graph.node)
    assert nots % 2 == 0
    return nots // 2


def _chain_sums(depths: list[int], device: str = "cpu") -> tuple[onnx.ModelProto, np.ndarray]:
    """The traversal graph of chain trees of ``depths`` and its sums for x = 0 and x = 1 (and NaN)."""
    graph = GraphBuilder(dtype=np.float32)
    summed = lowering.lower_tree_traversal(graph, ensemble_of(depths), graph.input("input", 1), device)
    graph.output(summed, "sum")
    model = graph.build()
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = np.array([[0.0], [1.0], [np.nan]], np.float32)
    return model, session.run(None, {"input": rows})[0][:, 0]


@pytest.mark.parametrize(
    ("depths", "nots"),
    [
        ([0, 12, 12, 12], 2),  # the single-leaf tree (a boosting baseline) pads to the shared levels
        ([6] * 10 + [20] * 20, 2),  # a few shallow trees pad too
        ([9] * 30 + [14] * 30 + [25] * 5, 2),
        # 40 trees of depth 2: padding them to 8 levels costs more than running their own two (one Not).
        ([2] * 40 + [12] * 2, 3),
    ],
)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_depth_groups_share_their_top_levels(depths: list[int], nots: int, device: str) -> None:
    model, sums = _chain_sums(depths, device)
    assert len(lowering.depth_groups(np.array(depths))) >= 2
    # A chain tree of depth d reaches its last right leaf (value 2d) when x > 0.5, else the first left leaf (1).
    expected_left = sum(1 for d in depths if d > 0)
    np.testing.assert_array_equal(sums, [expected_left, sum(2 * d for d in depths), expected_left])
    # Each set of top levels runs three logic levels with two Not; a set of two levels has one.
    assert sum(node.op_type == "Not" for node in model.graph.node) == nots


def test_shared_top_levels_match_sklearn_for_boosting_with_a_baseline() -> None:
    X, y = make_regression(3000, 8, random_state=2)
    X[np.random.default_rng(2).random(X.shape) < 0.05] = np.nan
    estimator = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X[:2000], y[:2000])
    compiled = sk2tensor.convert(estimator, X, strategy="tree_traversal")
    # The baseline's single-leaf tree and trees of several depths: one set of top levels for all of them.
    assert _top_level_sets(compiled.onnx) == 1
    X32 = X[2000:].astype(np.float32)
    np.testing.assert_allclose(compiled.predict(X32), estimator.predict(X32), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- cache-sized parts (CPU)
@pytest.mark.parametrize(
    ("table_bytes", "budget", "expected"),
    [
        ([100] * 10, 10_000, [(0, 10)]),  # everything fits: one part
        ([100] * 10, 500, [(0, 5), (5, 10)]),
        ([100] * 10, 300, [(0, 3), (3, 5), (5, 8), (8, 10)]),  # balanced by bytes
        ([5000, 10, 10], 1000, [(0, 1), (1, 3)]),  # a tree over the budget stands alone
        ([5000], 1000, [(0, 1)]),
    ],
)
def test_cache_parts_split_consecutive_trees_by_table_bytes(table_bytes, budget, expected) -> None:
    parts = lowering.cache_parts(np.array(table_bytes), budget)
    assert [(p.start, p.stop) for p in parts] == expected


def _part_count(compiled) -> int:
    """Parts of trees in the graph's parted traversal branches: each part slices three tables."""
    slices = 0
    for node in compiled.onnx.graph.node:
        if node.op_type == "If":
            for attribute in node.attribute:
                slices += sum(n.op_type == "Slice" for n in attribute.g.node)
    assert slices % 3 == 0
    return slices // 3


def test_wide_traversal_runs_in_cache_sized_parts_and_matches_sklearn(monkeypatch, tmp_path) -> None:
    X, y = make_classification(3000, 8, random_state=1)
    X[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan  # NaN routing through every part
    estimator = ExtraTreesClassifier(12, random_state=0).fit(X[:2000], y[:2000])
    probe = X[2000:].astype(np.float32)
    whole = sk2tensor.convert(estimator, probe, strategy="tree_traversal")
    assert _part_count(whole) == 0  # 12 small trees: their tables fit the default budget
    monkeypatch.setattr(lowering, "TRAVERSAL_CACHE_BYTES", 20_000)  # a few trees per part
    parted = sk2tensor.convert(estimator, probe, strategy="tree_traversal")
    assert _part_count(parted) > 2
    assert parted.validation.passed and parted.validation.label_agreement == 1.0
    np.testing.assert_array_equal(parted.predict(probe), estimator.predict(probe))
    # Same decisions, same leaves, summed in tree order: the two graphs agree bit for bit. From
    # TRAVERSAL_PARTS_MIN_ROWS rows per call the parts run; below, an If steps all the trees at once.
    assert len(probe) >= lowering.TRAVERSAL_PARTS_MIN_ROWS
    for rows in (probe, probe[:100], probe[:1]):
        np.testing.assert_array_equal(parted.predict(rows), estimator.predict(rows))
        np.testing.assert_array_equal(parted.predict_proba(rows), whole.predict_proba(rows))
    # The If and its branches are portable: default domain, no shape operators, a plain session runs the file.
    from tests.test_portability import SHAPE_OPS, _all_nodes

    nodes = list(_all_nodes(parted.onnx.graph))
    assert {n.domain for n in nodes} == {""} and not {n.op_type for n in nodes} & SHAPE_OPS
    onnx.checker.check_model(parted.onnx, full_check=True)
    path = parted.save(tmp_path / "parted.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for rows in (probe, probe[:3]):
        (labels,) = session.run(["predict"], {session.get_inputs()[0].name: rows})
        np.testing.assert_array_equal(labels, estimator.predict(rows))  # integer labels: the graph emits them
    # On CUDA every part would be more kernel launches: the graph keeps one part there.
    cuda = sk2tensor.convert(estimator, probe, strategy="tree_traversal", device="cuda", validate=False)
    assert _part_count(cuda) == 0


def test_parts_for_regressors_and_float64_thresholds(monkeypatch) -> None:
    X, y = make_regression(2500, 6, random_state=2)
    monkeypatch.setattr(lowering, "TRAVERSAL_CACHE_BYTES", 30_000)
    for estimator in (
        ExtraTreesRegressor(8, random_state=0),
        HistGradientBoostingRegressor(max_iter=20, max_leaf_nodes=255, min_samples_leaf=4, random_state=0),
    ):
        estimator.fit(X[:2000], y[:2000])
        compiled = sk2tensor.convert(estimator, X[2000:], strategy="tree_traversal")
        assert _part_count(compiled) >= 1, type(estimator).__name__
        assert compiled.validation.passed, compiled.validation.summary()


def test_parts_are_bounded_by_the_operator_budget(monkeypatch) -> None:
    X, y = make_classification(3000, 8, random_state=3)
    estimator = ExtraTreesClassifier(16, random_state=0).fit(X[:2000], y[:2000])
    monkeypatch.setattr(lowering, "TRAVERSAL_CACHE_BYTES", 1)  # one tree per part, were it not for the bound
    unbounded = sk2tensor.convert(estimator, X[2000:], strategy="tree_traversal", validate=False)
    assert _part_count(unbounded) == 16
    monkeypatch.setattr(lowering, "MAX_STEP_OPERATORS", 4 * lowering.STEP_OPERATORS * 30)
    bounded = sk2tensor.convert(estimator, X[2000:], strategy="tree_traversal")
    assert 1 < _part_count(bounded) <= 4 * 30 // (max(e.tree_.max_depth for e in estimator.estimators_) - 8)
    assert bounded.validation.passed and bounded.validation.label_agreement == 1.0
