"""The ``auto`` tree strategy rule (sk2tensor/converters/trees/auto.py) and the depth groups it relies on."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import sk2tensor
from sk2tensor.converters.trees import TreeArrays, auto, lowering, stack_trees


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
