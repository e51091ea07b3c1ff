"""CatBoost models through the shared tree strategies: symmetric, Depthwise and Lossguide trees, NaN modes,
float32 borders, every supported loss's prediction type, contributions, and clear refusals.

Tolerances are `convert`'s (`sk2tensor.validate`): labels identical, probabilities within 1e-6 (float32 graph)
or 1e-12 (float64), other outputs within 1e-6 or 1e-10 of their scale. CatBoost computes in float64 after
binarizing in float32, so float64 exports agree to rounding (~1e-15).
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

import sk2tensor
from sk2tensor.errors import InputError, UnsupportedParameterError
from sk2tensor.validate import SCALED_TOL
from tests.test_conformance import assert_matches_sklearn

catboost = pytest.importorskip("catboost")

STRATEGIES = ["gemm", "tree_traversal", "perfect_tree_traversal"]
QUIET = {"verbose": 0, "allow_writing_files": False, "thread_count": 1, "random_seed": 0}


def _data(seed: int = 0, n: int = 600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 3] = rng.integers(0, 6, n)  # ties: whole groups of rows on one side of a border
    signal = np.nan_to_num(X[:, 0], nan=2.0) * 2 + np.nan_to_num(X[:, 1]) * X[:, 3] / 3
    return X, signal


def _targets(signal: np.ndarray) -> dict[str, np.ndarray]:
    labels = np.digitize(signal, [-1.0, 1.0])
    return {
        "binary": (signal > 0).astype(int),
        "strings": np.where(signal > 0, "yes", "no"),
        "multiclass": labels * 5 + 3,  # non-contiguous integer labels: 3, 8, 13
        "regression": signal,
        "positive": np.abs(signal) + 0.1,
        "two_targets": np.c_[signal, -2 * signal],
    }


def _probe(X: np.ndarray) -> np.ndarray:
    probe = X[:300].copy()
    probe[:10, 0] = np.nan  # NaN where the model splits most
    probe[10:20, 1] = np.inf
    probe[20:30, 1] = -np.inf
    probe[30:40, 3] = 2.5  # between the integer groups
    return probe


def _check(estimator, probe: np.ndarray, strategy: str = "auto", dtype: str = "float32") -> sk2tensor.CompiledModel:
    compiled = sk2tensor.convert(estimator, probe, strategy=strategy, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    if "predict_proba" in compiled.outputs:
        assert compiled.validation.label_agreement == 1.0
    rows = probe.astype(dtype)
    for method in compiled.outputs:
        expected = np.asarray(getattr(estimator, method)(rows))
        if method == "predict" and isinstance(estimator, catboost.CatBoostClassifier):
            expected = expected.reshape(len(rows))  # CatBoost's multiclass labels are [rows, 1]; sklearn's [rows]
            np.testing.assert_array_equal(compiled.predict(rows), expected)
            continue
        got = getattr(compiled, method)(rows)
        assert got.shape == expected.shape, method
        scale = max(1.0, float(np.nanmax(np.abs(expected))))
        np.testing.assert_allclose(got, expected, rtol=0, atol=SCALED_TOL[dtype] * scale, err_msg=method)
    return compiled


CASES = {
    "binary": (lambda: catboost.CatBoostClassifier(iterations=40, depth=4, **QUIET), "binary"),
    "string_labels": (lambda: catboost.CatBoostClassifier(iterations=20, **QUIET), "strings"),
    "cross_entropy": (
        lambda: catboost.CatBoostClassifier(iterations=20, loss_function="CrossEntropy", **QUIET),
        "binary",
    ),
    "multiclass": (lambda: catboost.CatBoostClassifier(iterations=30, depth=5, **QUIET), "multiclass"),
    "one_vs_all": (
        lambda: catboost.CatBoostClassifier(iterations=20, loss_function="MultiClassOneVsAll", **QUIET),
        "multiclass",
    ),
    "nan_max": (lambda: catboost.CatBoostClassifier(iterations=30, nan_mode="Max", **QUIET), "binary"),
    "depthwise": (
        lambda: catboost.CatBoostClassifier(iterations=25, grow_policy="Depthwise", depth=6, **QUIET),
        "multiclass",
    ),
    "lossguide": (
        lambda: catboost.CatBoostRegressor(iterations=25, grow_policy="Lossguide", max_leaves=24, **QUIET),
        "regression",
    ),
    "depth_1": (lambda: catboost.CatBoostRegressor(iterations=30, depth=1, **QUIET), "regression"),
    "depth_10": (lambda: catboost.CatBoostRegressor(iterations=8, depth=10, **QUIET), "regression"),
    "rmse_nan_max": (lambda: catboost.CatBoostRegressor(iterations=30, nan_mode="Max", **QUIET), "regression"),
    "quantile": (
        lambda: catboost.CatBoostRegressor(iterations=30, loss_function="Quantile:alpha=0.8", **QUIET),
        "regression",
    ),
    "poisson": (lambda: catboost.CatBoostRegressor(iterations=30, loss_function="Poisson", **QUIET), "positive"),
    "tweedie": (
        lambda: catboost.CatBoostRegressor(iterations=30, loss_function="Tweedie:variance_power=1.5", **QUIET),
        "positive",
    ),
    "uncertainty": (
        lambda: catboost.CatBoostRegressor(iterations=30, loss_function="RMSEWithUncertainty", **QUIET),
        "regression",
    ),
    "multi_rmse": (
        lambda: catboost.CatBoostRegressor(iterations=30, loss_function="MultiRMSE", **QUIET),
        "two_targets",
    ),
}
ALL_STRATEGIES_FOR = {"binary", "multiclass", "depthwise", "lossguide", "uncertainty"}


@pytest.mark.parametrize(
    ("case", "strategy"),
    [(c, s) for c in sorted(CASES) for s in (STRATEGIES if c in ALL_STRATEGIES_FOR else ["auto"])],
)
def test_catboost(case: str, strategy: str) -> None:
    make, target = CASES[case]
    X, signal = _data()
    estimator = make().fit(X, _targets(signal)[target])
    _check(estimator, _probe(X), strategy)


@pytest.mark.parametrize("case", ["binary", "multiclass", "depthwise", "poisson", "multi_rmse"])
def test_float64_exports_agree_to_rounding(case: str) -> None:
    make, target = CASES[case]
    X, signal = _data(1)
    estimator = make().fit(X, _targets(signal)[target])
    compiled = _check(estimator, _probe(X).astype(np.float64), dtype="float64")
    report = compiled.validation
    assert max(o.max_abs_diff for o in report.outputs) < 1e-12, report.summary()


@pytest.mark.parametrize(
    ("load", "make"),
    [
        (load_breast_cancer, lambda: catboost.CatBoostClassifier(iterations=60, **QUIET)),
        (load_iris, lambda: catboost.CatBoostClassifier(iterations=60, depth=3, **QUIET)),
        (load_diabetes, lambda: catboost.CatBoostRegressor(iterations=60, learning_rate=0.1, **QUIET)),
    ],
    ids=["breast_cancer", "iris", "diabetes"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sklearn_datasets(load, make, dtype: str) -> None:
    X, y = load(return_X_y=True)
    estimator = make().fit(X, y)
    compiled = _check(estimator, X, dtype=dtype)
    # One row, a few rows and an empty batch keep the shapes.
    for rows in (X[:1], X[3:10]):
        for method in compiled.outputs:
            expected = np.asarray(getattr(estimator, method)(rows.astype(dtype)))
            assert getattr(compiled, method)(rows).shape[0] == len(rows) == expected.shape[0]
    for method in compiled.outputs:
        assert getattr(compiled, method)(X[:0]).shape[0] == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_values_at_float32_borders(dtype: str, strategy: str) -> None:
    """Rows on each border, one float32 step to either side, and float64 values that round onto the border:
    CatBoost binarizes ``float32(x) > border``, and so does the graph."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3))
    estimator = catboost.CatBoostRegressor(iterations=20, depth=4, **QUIET).fit(X, X[:, 0] * 3 + X[:, 1])
    model = json.loads(_saved_json(estimator))
    borders = sorted({(s["float_feature_index"], s["border"]) for t in model["oblivious_trees"] for s in t["splits"]})
    rows = []
    for k, (feature, border) in enumerate(borders):
        b32 = np.float32(border)
        for value in (
            float(b32),
            float(np.nextafter(b32, np.float32(np.inf))),
            float(np.nextafter(b32, np.float32(-np.inf))),
            np.nextafter(float(b32), np.inf),  # float64 just above: float32 rounds it onto the border
            np.nextafter(float(b32), -np.inf),
        ):
            row = X[k % len(X)].copy()
            row[feature] = value
            rows.append(row)
    probe = np.asarray(rows)
    # The probe is sharp: float64 rows just above a border score as the border itself in CatBoost.
    above = probe[3::5]
    np.testing.assert_array_equal(estimator.predict(above), estimator.predict(probe[0::5]))
    _check(estimator, probe, strategy, dtype)


def _saved_json(estimator) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        estimator.save_model(str(path), format="json")
        return path.read_text()


def test_probability_threshold_and_raw_catboost_and_ranker() -> None:
    X, signal = _data(3)
    y = _targets(signal)["binary"]
    classifier = catboost.CatBoostClassifier(iterations=30, **QUIET).fit(X, y)
    classifier.set_probability_threshold(0.7)
    compiled = _check(classifier, _probe(X))
    assert (compiled.predict(X) != (compiled.predict_proba(X)[:, 1] > 0.5)).any()  # the threshold moved labels

    raw = catboost.CatBoost({"iterations": 20, "loss_function": "MultiClass", **QUIET}).fit(X, np.digitize(signal, [0]))
    compiled = _check(raw, _probe(X))
    assert tuple(compiled.outputs) == ("predict",) and compiled.predict(X[:3]).shape == (3, 2)  # RawFormulaVal

    ranker = catboost.CatBoostRanker(iterations=20, **QUIET).fit(
        X, np.digitize(signal, [0.0, 2.0]), group_id=np.repeat(np.arange(60), 10)
    )
    _check(ranker, _probe(X), "tree_traversal")


def test_saved_and_loaded_models_convert(tmp_path: Path) -> None:
    X, signal = _data(4)
    estimator = catboost.CatBoostClassifier(iterations=20, **QUIET).fit(X, _targets(signal)["multiclass"])
    estimator.save_model(str(tmp_path / "model.cbm"))
    loaded = catboost.CatBoostClassifier().load_model(str(tmp_path / "model.cbm"))
    compiled = _check(loaded, _probe(X))
    np.testing.assert_array_equal(compiled.predict(X), estimator.predict(X)[:, 0])


def test_inside_a_pipeline_with_a_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, signal = _data(5)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = make_pipeline(StandardScaler(), catboost.CatBoostRegressor(iterations=20, **QUIET)).fit(frame, signal)
    compiled = sk2tensor.convert(model, frame)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, X, "float32")


# ------------------------------------------------------------------------------------------------ contributions
def _expected(node: dict, x: np.ndarray, known: frozenset, column: dict[int, int], nan_right: dict[int, bool]):
    """E[tree | x on the known features], a left-out feature following both children weighted by their weight."""
    if "value" in node:
        return np.atleast_1d(np.asarray(node["value"], np.float64)), float(node["weight"])
    split = node["split"]
    feature = column[split["float_feature_index"]]
    left = _expected(node["left"], x, known, column, nan_right)
    right = _expected(node["right"], x, known, column, nan_right)
    weight = left[1] + right[1]
    if feature in known:
        v = np.float32(x[feature])
        goes_right = nan_right[split["float_feature_index"]] if np.isnan(v) else v > np.float32(split["border"])
        return (right[0] if goes_right else left[0]), weight
    return (left[0] * left[1] + right[0] * right[1]) / weight, weight


def _brute_force_contributions(estimator, x: np.ndarray) -> np.ndarray:
    """``[outputs, F + 1]`` exact Shapley values of a Depthwise/Lossguide CatBoost model at ``x``, every
    coalition enumerated, from the JSON model (independent of the converter's reading of it)."""
    model = json.loads(_saved_json(estimator))
    floats = model["features_info"]["float_features"]
    column = {f["feature_index"]: f["flat_feature_index"] for f in floats}
    nan_right = {f["feature_index"]: f["nan_value_treatment"] == "AsTrue" for f in floats}
    n = len(x)
    bias = np.atleast_1d(np.asarray(model["scale_and_bias"][1], np.float64))
    phi = np.zeros((n + 1, len(bias)))
    phi[n] = bias
    for tree in model["trees"]:

        def value(known: frozenset, tree: dict = tree) -> np.ndarray:
            return _expected(tree, x, known, column, nan_right)[0]

        phi[n] += value(frozenset())
        for i in range(n):
            others = [j for j in range(n) if j != i]
            for size in range(n):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for subset in itertools.combinations(others, size):
                    phi[i] += weight * (value(frozenset(subset) | {i}) - value(frozenset(subset)))
    return phi.T


@pytest.mark.parametrize("grow_policy", ["Depthwise", "Lossguide"])
def test_contributions_of_grown_trees_are_exact_shapley_values(grow_policy: str) -> None:
    X, signal = _data(6, n=300)
    X = X[:, :4]
    estimator = catboost.CatBoostRegressor(iterations=4, depth=3, grow_policy=grow_policy, **QUIET).fit(X, signal)
    compiled = sk2tensor.convert(estimator, X, dtype="float64", contributions=True)
    assert compiled.validation.passed, compiled.validation.summary()
    rows = _probe(X)[:12]
    got = compiled.run_many(["contributions"], rows)["contributions"]
    expected = np.stack([_brute_force_contributions(estimator, x)[0] for x in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ["binary", "multiclass", "rmse_nan_max"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_contributions_of_symmetric_trees_are_catboosts_own(case: str, dtype: str) -> None:
    make, target = CASES[case]
    X, signal = _data(7)
    estimator = make().fit(X, _targets(signal)[target])
    probe = _probe(X)
    compiled = sk2tensor.convert(estimator, probe, dtype=dtype, contributions=True)
    assert compiled.validation.passed, compiled.validation.summary()
    rows = probe.astype(dtype)
    got = compiled.run_many(["contributions"], rows)["contributions"]
    expected = estimator.get_feature_importance(catboost.Pool(rows), type="ShapValues")
    assert got.shape == expected.shape
    atol = SCALED_TOL[dtype] * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------------- refusals
def test_categorical_features_are_refused_clearly() -> None:
    pd = pytest.importorskip("pandas")
    X, signal = _data(8)
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["colour"] = (signal > 0).astype(int)  # integer codes: CatBoost hashes them as categories
    estimator = catboost.CatBoostClassifier(iterations=5, cat_features=["colour"], **QUIET)
    estimator.fit(frame, (signal > 0).astype(int))
    with pytest.raises(UnsupportedParameterError, match=r"categorical features.*OrdinalEncoder"):
        sk2tensor.convert(estimator, frame)
    # String categories do not even reach the converter: the input must be numbers.
    frame["colour"] = np.where(signal > 0, "red", "blue")
    estimator.fit(frame, (signal > 0).astype(int))
    with pytest.raises(InputError, match="numbers only"):
        sk2tensor.convert(estimator, frame)


def test_multi_label_models_unfitted_models_and_wrong_widths_are_refused() -> None:
    X, signal = _data(9)
    multilabel = np.c_[signal > 0, signal > 1].astype(int)
    estimator = catboost.CatBoostClassifier(iterations=5, loss_function="MultiLogloss", **QUIET).fit(X, multilabel)
    with pytest.raises(UnsupportedParameterError, match="MultiLogloss"):
        sk2tensor.convert(estimator, X)
    with pytest.raises(Exception, match="not fitted"):
        sk2tensor.convert(catboost.CatBoostRegressor(**QUIET), X)
    fitted = catboost.CatBoostRegressor(iterations=5, **QUIET).fit(X, signal)
    with pytest.raises(InputError, match="fitted on 5"):
        sk2tensor.convert(fitted, X[:, :4])
    compiled = sk2tensor.convert(fitted, X)
    with pytest.raises(InputError):
        compiled.predict(X[:, :4])


def test_every_catboost_class_is_tested_and_sk2tensor_does_not_import_it() -> None:
    registered = {c for c in sk2tensor.supported() if c.__module__.split(".")[0] == "catboost"}
    assert registered == {
        catboost.CatBoostClassifier,
        catboost.CatBoostRegressor,
        catboost.CatBoostRanker,
        catboost.CatBoost,
    }
    code = "import sys, sk2tensor\nsk2tensor.supported()\nprint('catboost' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]


@pytest.mark.parametrize(("strategy", "per_row_gathers"), [("perfect_tree_traversal", 3), ("tree_traversal", 4)])
def test_symmetric_levels_need_no_per_row_gathers(strategy: str, per_row_gathers: int) -> None:
    """Every level of a symmetric tree makes one test per tree: the traversal gathers whole input rows and never
    a per-row node. What remains: the leaf values of each output (and, in tree_traversal, the map from the top
    levels' position to its node numbering)."""
    X, signal = _data(10)
    estimator = catboost.CatBoostClassifier(iterations=20, depth=6, **QUIET).fit(X, _targets(signal)["multiclass"])
    compiled = _check(estimator, _probe(X), strategy)
    ops = [node.op_type for node in compiled.onnx.graph.node]
    assert ops.count("GatherElements") == per_row_gathers
