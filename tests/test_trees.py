"""Tree ensembles: extraction, exact thresholds, NaN routing, every strategy at every depth, size bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

import sk2tensor
from sk2tensor.converters.trees import float32_thresholds, lowering, sklearn_tree_arrays, stack_trees
from sk2tensor.errors import UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn

STRATEGIES = ["gemm", "tree_traversal", "perfect_tree_traversal"]
DEPTHS = [1, 3, 8, 12, None]


# ----------------------------------------------------------------------------- thresholds
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_float32_threshold_is_the_largest_float32_not_above(t: float) -> None:
    t32 = float32_thresholds(np.array([t]))[0]
    assert t32.dtype == np.float32
    assert float(t32) <= t
    above = np.nextafter(t32, np.float32(np.inf))
    assert float(above) > t or (np.isinf(above) and t >= float(np.finfo(np.float32).max))


def test_float32_threshold_keeps_decisions_that_nearest_rounding_flips() -> None:
    t = 0.1  # float32(0.1) > 0.1, so nearest rounding would send x = float32(0.1) left
    x = np.float32(0.1)
    assert (float(x) <= t) is False
    assert bool(x <= float32_thresholds(np.array([t]))[0]) is False
    assert bool(x <= np.float32(t)) is True


# ----------------------------------------------------------------------------- extraction
def test_extraction_of_a_hand_checked_stump() -> None:
    X = np.array([[0.0, 5.0], [0.0, 1.0], [0.0, 9.0]])
    y = np.array([1.0, 3.0, 1.0])
    tree = DecisionTreeRegressor(max_depth=1).fit(X, y)
    arrays = sklearn_tree_arrays(tree.tree_, tree.tree_.value[:, :, 0])
    ensemble = stack_trees([arrays], base=np.zeros(1), compare_in_float32=True, n_features=2)
    np.testing.assert_array_equal(ensemble.feature, [[1, 0, 0]])
    np.testing.assert_array_equal(ensemble.threshold, [[3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(ensemble.left, [[1, 1, 2]])
    np.testing.assert_array_equal(ensemble.right, [[2, 1, 2]])
    np.testing.assert_array_equal(ensemble.is_leaf, [[False, True, True]])
    np.testing.assert_allclose(ensemble.value[0, :, 0], [5 / 3, 3.0, 1.0])
    assert ensemble.max_depth == 1 and list(ensemble.n_leaves) == [2]


def test_padding_of_trees_of_different_sizes() -> None:
    X, y = make_regression(200, 4, random_state=0)
    small = DecisionTreeRegressor(max_depth=1).fit(X, y)
    big = DecisionTreeRegressor(max_depth=4).fit(X, y)
    ensemble = stack_trees(
        [sklearn_tree_arrays(t.tree_, t.tree_.value[:, :, 0]) for t in (small, big)],
        base=np.zeros(1),
        compare_in_float32=True,
        n_features=4,
    )
    assert ensemble.n_nodes == big.tree_.node_count
    assert list(ensemble.depths) == [1, 4]
    assert ensemble.reachable[0].sum() == small.tree_.node_count


@pytest.mark.parametrize("strategy", ["auto", *STRATEGIES])
def test_random_trees_embedding_one_hot_of_the_leaves(strategy: str, monkeypatch) -> None:
    """The leaf each tree reaches (sklearn's apply), one-hot encoded in the fitted encoder's column order: exact
    on NaN rows, with every lowering, and with the cache-sized parts of tree_traversal (an If on the rows)."""
    from sklearn.ensemble import RandomTreesEmbedding

    X, _ = make_regression(400, 6, random_state=3)
    X[np.random.default_rng(3).random(X.shape) < 0.1] = np.nan
    embedding = RandomTreesEmbedding(n_estimators=25, max_depth=6, random_state=0).fit(X)
    monkeypatch.setattr(lowering, "TRAVERSAL_CACHE_BYTES", 2_000)  # several parts when traversal runs
    compiled = sk2tensor.convert(embedding, X, strategy=strategy)
    expected = embedding.transform(X.astype(np.float32)).toarray()
    np.testing.assert_array_equal(compiled.transform(X.astype(np.float32)), expected)
    np.testing.assert_array_equal(compiled.transform(X[:1]), embedding.transform(X[:1]).toarray())
    assert compiled.transform(X[:0]).shape == (0, expected.shape[1])


LEAF_MODELS = {
    "tree": (lambda: DecisionTreeClassifier(max_depth=6, random_state=0), "labels"),
    "forest": (lambda: RandomForestClassifier(8, max_depth=5, random_state=0), "labels"),
    "extra_trees": (lambda: ExtraTreesRegressor(6, random_state=0), "target"),
    "gradient_boosting_multiclass": (lambda: GradientBoostingClassifier(n_estimators=4), "labels"),
    "gradient_boosting_binary": (lambda: GradientBoostingClassifier(n_estimators=4), "binary"),
    "gradient_boosting_regressor": (lambda: GradientBoostingRegressor(n_estimators=4), "target"),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", sorted(LEAF_MODELS))
def test_leaves_output_is_sklearns_apply(name: str, strategy: str, tmp_path) -> None:
    """convert(leaves=True) adds ``apply``, equal to sklearn's (node ids, its shape and dtype), NaN rows included
    where the model takes them, with every lowering; the scoring file has one column per tree."""
    from sk2tensor.scoring import score_file

    make, target = LEAF_MODELS[name]
    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=1)
    estimator = make()
    if not isinstance(estimator, (GradientBoostingClassifier, GradientBoostingRegressor)):
        X[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan
    estimator.fit(X, {"labels": y, "binary": y > 0, "target": np.nan_to_num(X[:, 0])}[target])
    compiled = sk2tensor.convert(estimator, X, strategy=strategy, leaves=True)
    assert compiled.validation.passed and "apply" in compiled.outputs
    expected = estimator.apply(X.astype(np.float32))
    got = compiled.apply(X)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert compiled.apply(X[:0]).shape == (0, *expected.shape[1:])
    score_file(compiled, X, tmp_path / "leaves.csv", methods=["apply"])
    columns = (tmp_path / "leaves.csv").read_text().splitlines()[0].split(",")
    assert len(columns) == int(np.prod(expected.shape[1:], dtype=np.int64))


def test_leaves_refused_for_models_without_apply() -> None:
    X, y = make_classification(200, 5, random_state=0)
    for estimator in (HistGradientBoostingClassifier(max_iter=5), AdaBoostClassifier(n_estimators=3)):
        with pytest.raises(UnsupportedParameterError, match="apply, which"):
            sk2tensor.convert(estimator.fit(X, y), X, leaves=True)
    with pytest.raises(UnsupportedParameterError, match="True or False"):
        sk2tensor.convert(RandomForestClassifier(3).fit(X, y), X, leaves=1)


def test_linear_leaves_are_padded_and_checked() -> None:
    from sk2tensor.converters.trees.ensemble import LinearLeaves, TreeArrays
    from sk2tensor.errors import ConversionError

    def stump(features: list[int], linear: bool = True) -> TreeArrays:
        width = len(features)
        models = LinearLeaves(
            np.array([[-1] * width, features, [-1] * width], np.int64).reshape(3, width),
            np.array([[0.0] * width, [2.0] * width, [0.0] * width]).reshape(3, width),
            np.array([0.0, 1.0, 3.0]),
            np.asarray(0),
        )
        return TreeArrays(
            np.array([0, 0, 0]),
            np.array([0.5, 0, 0]),
            np.array([1, 1, 2]),
            np.array([2, 1, 2]),
            np.ones(3, bool),
            np.array([[0.0], [1.0], [3.0]]),
            models if linear else None,
        )

    ensemble = stack_trees([stump([0]), stump([1, 0])], base=np.zeros(1), compare_in_float32=False, n_features=2)
    assert ensemble.linear is not None and ensemble.linear.feature.shape == (2, 3, 2)
    assert ensemble.linear.feature[0, 1].tolist() == [0, -1] and ensemble.linear.coeff[0, 1].tolist() == [2.0, 0.0]
    with pytest.raises(ConversionError, match="linear leaves"):
        stack_trees([stump([0]), stump([0], linear=False)], base=np.zeros(1), compare_in_float32=False, n_features=2)
    with pytest.raises(ConversionError, match="linear leaves"):
        stack_trees([stump([0])], base=np.ones(1), compare_in_float32=False, n_features=2)
    with pytest.raises(ConversionError, match="outside the input"):
        stack_trees([stump([5])], base=np.zeros(1), compare_in_float32=False, n_features=2)


# ----------------------------------------------------------------------------- strategy × depth × task
def _task_data(task: str):
    if task == "regression":
        X, y = make_regression(300, 6, noise=2.0, random_state=7)
        return X, y
    if task == "multi_output":
        X, y = make_regression(300, 6, n_targets=2, noise=2.0, random_state=8)
        return X, y
    n_classes = 2 if task == "binary" else 3
    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, random_state=9)
    if task == "string_labels":
        y = np.array(["low", "mid", "high"], dtype=object)[y]
    if task == "shifted_labels":
        y = np.array([-3, 10, 11])[y]
    return X, y


CLASSIFIERS = {
    "DecisionTreeClassifier": lambda d: DecisionTreeClassifier(max_depth=d, random_state=0),
    "ExtraTreeClassifier": lambda d: ExtraTreeClassifier(max_depth=d, random_state=0),
    "RandomForestClassifier": lambda d: RandomForestClassifier(5, max_depth=d, random_state=0),
    "ExtraTreesClassifier": lambda d: ExtraTreesClassifier(5, max_depth=d, random_state=0),
    "GradientBoostingClassifier": lambda d: GradientBoostingClassifier(n_estimators=5, max_depth=d, random_state=0),
    "HistGradientBoostingClassifier": lambda d: HistGradientBoostingClassifier(
        max_iter=5, max_depth=d, max_leaf_nodes=None if d else 63, random_state=0
    ),
    "AdaBoostClassifier": lambda d: AdaBoostClassifier(
        DecisionTreeClassifier(max_depth=d), n_estimators=5, random_state=0
    ),
}
REGRESSORS = {
    "AdaBoostRegressor": lambda d: AdaBoostRegressor(
        DecisionTreeRegressor(max_depth=d), n_estimators=5, random_state=0
    ),
    "DecisionTreeRegressor": lambda d: DecisionTreeRegressor(max_depth=d, random_state=0),
    "ExtraTreeRegressor": lambda d: ExtraTreeRegressor(max_depth=d, random_state=0),
    "RandomForestRegressor": lambda d: RandomForestRegressor(5, max_depth=d, random_state=0),
    "ExtraTreesRegressor": lambda d: ExtraTreesRegressor(5, max_depth=d, random_state=0),
    "GradientBoostingRegressor": lambda d: GradientBoostingRegressor(n_estimators=5, max_depth=d, random_state=0),
    "HistGradientBoostingRegressor": lambda d: HistGradientBoostingRegressor(
        max_iter=5, max_depth=d, max_leaf_nodes=None if d else 63, random_state=0
    ),
}
MULTI_OUTPUT = ("DecisionTreeRegressor", "ExtraTreeRegressor", "RandomForestRegressor", "ExtraTreesRegressor")
MATRIX = (
    [(name, task) for name in CLASSIFIERS for task in ("binary", "multiclass", "string_labels", "shifted_labels")]
    + [(name, "regression") for name in REGRESSORS]
    + [(name, "multi_output") for name in MULTI_OUTPUT]
)


def _boundary_rows(estimator, X: np.ndarray) -> np.ndarray:
    """Rows whose tested feature equals a threshold, its float32 rounding down, up, and to nearest."""
    from sk2tensor.converters.trees import ensemble as ensemble_module

    # The converter builds its TreeEnsemble inline: catch it as it is checked.

    captured = {}
    original = ensemble_module.TreeEnsemble.__post_init__

    def capture(self):
        original(self)
        captured["ensemble"] = self

    ensemble_module.TreeEnsemble.__post_init__ = capture
    try:
        sk2tensor.convert(estimator, X, strategy="tree_traversal", validate=False)
    finally:
        ensemble_module.TreeEnsemble.__post_init__ = original
    ens = captured["ensemble"]
    internal = ~ens.is_leaf & ens.reachable
    features, thresholds = ens.feature[internal], ens.threshold[internal]
    down = float32_thresholds(thresholds)
    candidates = [down, np.nextafter(down, np.float32(np.inf)), thresholds.astype(np.float32)]
    rows = []
    rng = np.random.default_rng(0)
    for values in candidates:
        base = X[rng.integers(0, len(X), len(features))].astype(np.float32)
        base[np.arange(len(features)), features] = values
        rows.append(base)
    return np.concatenate(rows)[:3000]


@pytest.mark.parametrize("depth", DEPTHS, ids=lambda d: f"depth{d}")
@pytest.mark.parametrize(("name", "task"), MATRIX, ids=lambda v: str(v))
def test_strategy_depth_task_matrix(name: str, task: str, depth: int | None) -> None:
    X, y = _task_data(task)
    estimator = {**CLASSIFIERS, **REGRESSORS}[name](depth).fit(X, y)
    rows = np.concatenate([X.astype(np.float32), _boundary_rows(estimator, X)])
    for strategy in STRATEGIES:
        try:
            compiled = sk2tensor.convert(estimator, rows, strategy=strategy)
        except UnsupportedParameterError as error:
            assert strategy != "tree_traversal" and "limit" in str(error)
            continue
        assert compiled.strategy == {name: strategy}
        assert compiled.validation.passed, compiled.validation.summary()
        if is_classifier(estimator):
            assert compiled.validation.label_agreement == 1.0
        assert_matches_sklearn(estimator, compiled, rows, "float32")


# ----------------------------------------------------------------------------- missing values
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    "make",
    [
        lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
        lambda: RandomForestClassifier(10, max_depth=6, random_state=0),
        lambda: ExtraTreesClassifier(10, max_depth=6, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
    ],
    ids=["DecisionTree", "RandomForest", "ExtraTrees", "HistGradientBoosting"],
)
def test_nan_follows_the_learned_direction(make, strategy: str) -> None:
    X, y = make_classification(600, 5, n_informative=4, n_redundant=0, random_state=11)
    rng = np.random.default_rng(11)
    X[rng.random(X.shape) < 0.2] = np.nan
    # Make missingness informative so that both directions are learned.
    y = np.where(np.isnan(X[:, 0]), 1 - y, y)
    estimator = make().fit(X, y)
    probe = X[:200].copy()
    probe[:50] = np.nan  # all missing
    probe[50:100, 0] = np.nan
    compiled = sk2tensor.convert(estimator, probe, strategy=strategy)
    assert compiled.validation.label_agreement == 1.0
    assert_matches_sklearn(estimator, compiled, probe.astype(np.float32), "float32")


def test_extreme_finite_values_are_routed_like_sklearn() -> None:
    # sklearn refuses infinities; the largest finite float32 values are the extremes it accepts.
    X, y = make_classification(300, 4, random_state=12)
    estimator = RandomForestClassifier(10, max_depth=5, random_state=0).fit(X, y)
    probe = X[:40].astype(np.float32)
    probe[:10] = np.finfo(np.float32).max
    probe[10:20] = np.finfo(np.float32).min
    probe[20:30, 1] = np.finfo(np.float32).tiny
    for strategy in STRATEGIES:
        compiled = sk2tensor.convert(estimator, probe, strategy=strategy)
        np.testing.assert_array_equal(compiled.predict(probe), estimator.predict(probe))


@settings(max_examples=15, deadline=None)
@given(
    depth=st.integers(1, 10),
    n_classes=st.integers(2, 4),
    nan_share=st.sampled_from([0.0, 0.1, 0.3]),
    n_trees=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_random_forests_agree_on_every_row(depth: int, n_classes: int, nan_share: float, n_trees: int, seed: int):
    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, random_state=seed)
    X[np.random.default_rng(seed).random(X.shape) < nan_share] = np.nan
    estimator = RandomForestClassifier(n_trees, max_depth=depth, random_state=seed).fit(X, y)
    compiled = sk2tensor.convert(estimator, X, strategy="auto")
    np.testing.assert_array_equal(compiled.predict(X), estimator.predict(X))


# ----------------------------------------------------------------------------- dtype, bounds, size
def test_float64_accumulation_for_regressors() -> None:
    X, y = make_regression(400, 6, random_state=13)
    y = y * 1e4 + 1e7  # large offset: float32 keeps only ~1 unit of it
    estimator = RandomForestRegressor(50, max_depth=10, random_state=0).fit(X, y)
    compiled = sk2tensor.convert(estimator, X, dtype="float64")
    error = np.abs(compiled.predict(X) - estimator.predict(X)).max()
    assert error <= 1e-10 * np.abs(y).max(), error


def test_padding_bound_refuses_perfect_traversal_and_auto_falls_back(monkeypatch) -> None:
    X, y = make_classification(500, 6, random_state=14)
    estimator = RandomForestClassifier(10, random_state=0).fit(X, y)
    monkeypatch.setattr(lowering, "MAX_TABLE_BYTES", 4096)
    with pytest.raises(UnsupportedParameterError, match=r"perfect_tree_traversal.*limit"):
        sk2tensor.convert(estimator, X, strategy="perfect_tree_traversal")
    with pytest.raises(UnsupportedParameterError, match=r"gemm.*limit"):
        sk2tensor.convert(estimator, X, strategy="gemm")
    from sk2tensor.converters.trees import auto

    monkeypatch.setattr(auto, "MAX_TABLE_BYTES", 4096)
    compiled = sk2tensor.convert(estimator, X, strategy="auto")
    assert compiled.strategy == {"RandomForestClassifier": "tree_traversal"}


@pytest.mark.parametrize(("n_trees", "depth"), [(500, 20), (1000, 8)])
def test_large_forests_convert_and_validate(n_trees: int, depth: int) -> None:
    X, y = make_classification(3000, 10, n_informative=6, random_state=15)
    estimator = RandomForestClassifier(n_trees, max_depth=depth, n_jobs=2, random_state=0).fit(X, y)
    compiled = sk2tensor.convert(estimator, X[:2000])
    assert compiled.validation.passed and compiled.validation.label_agreement == 1.0


def test_strategy_is_refused_for_models_without_trees() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(100, 4, random_state=16)
    with pytest.raises(UnsupportedParameterError, match="tree models"):
        sk2tensor.convert(LogisticRegression().fit(X, y), X, strategy="gemm")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("regression", [False, True], ids=["classifier", "regressor"])
def test_hist_gradient_boosting_categorical_splits(strategy: str, regression: bool) -> None:
    rng = np.random.default_rng(17)
    n = 1500
    X = np.c_[rng.integers(0, 7, n), rng.normal(size=n), rng.integers(0, 3, n) * 10.0, rng.integers(0, 40, n)]
    X[rng.random(n) < 0.1, 0] = np.nan
    y = ((X[:, 0] % 3 == 0) ^ (X[:, 2] == 10) ^ (X[:, 3] % 4 == 1)).astype(int)
    if regression:
        estimator = HistGradientBoostingRegressor(max_iter=20, categorical_features=[0, 3], random_state=0)
        estimator.fit(X, y + X[:, 1])
    else:
        estimator = HistGradientBoostingClassifier(max_iter=20, categorical_features=[0, 2, 3], random_state=0)
        estimator.fit(X, y)
    probe = X[:400].copy()
    probe[:40, 0] = 7  # a category never seen in training
    probe[40:60, 3] = -1  # negative: not a category
    probe[60:80, 3] = 300
    probe[80:100, 0] = 2.5  # between categories
    compiled = sk2tensor.convert(estimator, probe, strategy=strategy)
    assert compiled.validation.passed
    assert_matches_sklearn(estimator, compiled, probe.astype(np.float32), "float32")


def test_hist_gradient_boosting_string_categories_are_refused_clearly() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(18)
    frame = pd.DataFrame({"color": rng.choice(["red", "blue"], 200), "size": rng.normal(size=200)})
    y = (frame["color"] == "red").astype(int)
    estimator = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype")
    estimator.fit(frame.astype({"color": "category"}), y)
    with pytest.raises((UnsupportedParameterError, sk2tensor.InputError), match=r"(string|numbers)"):
        sk2tensor.convert(estimator, n_features=2)


def test_multi_output_tree_classifiers_split_probabilities_and_refuse_what_cannot_be_one_tensor() -> None:
    """A 2-D target: sklearn's predict_proba list comes back as a list (side by side in the graph, metadata
    split_outputs); string labels are refused (a multi-output predict is one tensor of labels), and so are
    contributions (they explain one target)."""
    import json

    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from sk2tensor.errors import UnsupportedParameterError

    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=3)
    Y = np.c_[y, (X[:, 0] > 0).astype(int)]
    forest = RandomForestClassifier(10, max_depth=5, random_state=0).fit(X, Y)
    compiled = sk2tensor.convert(forest, X, dtype="float64", leaves=True)
    assert json.loads(compiled.metadata["split_outputs"]) == {"predict_proba": [3, 2]}
    for got, expected in zip(compiled.predict_proba(X), forest.predict_proba(X), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(compiled.predict(X), forest.predict(X))
    np.testing.assert_array_equal(compiled.apply(X), forest.apply(X))
    with pytest.raises(UnsupportedParameterError, match="contributions are not computed"):
        sk2tensor.convert(forest, X, contributions=True)
    names = np.array(["no", "yes"], dtype=object)
    strings = RandomForestClassifier(5, random_state=0).fit(X, np.c_[names[Y[:, 1]], names[Y[:, 1]]])
    with pytest.raises(UnsupportedParameterError, match="numeric labels"):
        sk2tensor.convert(strings, X)
