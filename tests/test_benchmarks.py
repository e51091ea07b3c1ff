"""The benchmark's peer engines report what they ran, or why they did not run (no timing here)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from benchmarks import engines


class PerfectTreeTraversalDecisionTreeImpl:  # named as Hummingbird names its operators
    pass


class TreeTraversalDecisionTreeImpl:
    pass


class GEMMDecisionTreeImpl:
    pass


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (PerfectTreeTraversalDecisionTreeImpl, "perf_tree_trav"),
        (TreeTraversalDecisionTreeImpl, "tree_trav"),
        (GEMMDecisionTreeImpl, "gemm"),
    ],
)
def test_hummingbird_rows_name_the_strategy_it_picked(operator: type, expected: str) -> None:
    converted = SimpleNamespace(model=SimpleNamespace(_operators=[object(), operator()]))
    assert engines._hummingbird_strategy(converted) == expected


def test_hummingbird_strategy_unknown_layout() -> None:
    assert engines._hummingbird_strategy(SimpleNamespace()) == "its default"


def test_missing_hummingbird_is_a_row_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hummingbird", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "hummingbird.ml", None)
    X = np.random.default_rng(0).normal(size=(50, 4))
    model = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, X[:, 0] > 0)
    result = engines._hummingbird(model, "classification", X, "cpu")
    assert isinstance(result, engines.Skip)
    assert "not installed" in result.reason and "README" in result.reason
