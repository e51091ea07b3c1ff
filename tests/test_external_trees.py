"""LightGBM and XGBoost models through the shared tree strategies: missing values, categorical splits,
objectives, boosting modes, raw boosters, and the rule that sk2tensor imports neither library itself."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import sk2tensor
from sk2tensor.validate import SCALED_TOL
from tests.test_conformance import assert_matches_sklearn

lightgbm = pytest.importorskip("lightgbm")
xgboost = pytest.importorskip("xgboost")

STRATEGIES = ["gemm", "tree_traversal", "perfect_tree_traversal"]
# Extraction is what differs per library; the lowerings are shared, so most cases run one strategy and the
# categorical ones run all three.
ALL_STRATEGIES_FOR = {
    "binary_categorical",
    "regression_categorical",
    "categorical",
    "multiclass",
    "linear_regression",
    "linear_multiclass",
}


def _data(seed: int = 0, n: int = 1200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 3] = rng.integers(0, 8, n)
    X[:60, 4] = 0.0  # exact zeros for LightGBM's zero-as-missing
    binary = ((np.nan_to_num(X[:, 0]) > 0) ^ (X[:, 3] % 3 == 0)).astype(int)
    multiclass = np.digitize(np.nan_to_num(X[:, 1]), [-0.5, 0.5])
    regression = np.nan_to_num(X[:, 0]) * 3 + X[:, 3]
    return X, binary, multiclass, regression


def _probe(X: np.ndarray) -> np.ndarray:
    probe = X[:400].copy()
    probe[:20, 3] = np.nan
    probe[20:40, 3] = -0.5  # LightGBM truncates toward zero: category 0
    probe[40:60, 3] = -3
    probe[60:80, 3] = 100  # unseen category
    probe[80:100, 3] = 2.7
    return probe


def _check(estimator, probe: np.ndarray, strategy: str) -> None:
    compiled = sk2tensor.convert(estimator, probe, strategy=strategy)
    assert compiled.validation.passed, compiled.validation.summary()
    if hasattr(estimator, "classes_"):
        assert compiled.validation.label_agreement == 1.0
    assert_matches_sklearn(estimator, compiled, probe, "float32")


LGBM_CASES = {
    "binary_categorical": (lambda: lightgbm.LGBMClassifier(n_estimators=15, verbose=-1), "binary", [3]),
    "zero_as_missing": (
        lambda: lightgbm.LGBMClassifier(n_estimators=15, zero_as_missing=True, verbose=-1),
        "binary",
        None,
    ),
    "no_missing": (lambda: lightgbm.LGBMClassifier(n_estimators=10, use_missing=False, verbose=-1), "binary", None),
    "multiclass": (lambda: lightgbm.LGBMClassifier(n_estimators=10, verbose=-1), "multiclass", None),
    "multiclassova": (
        lambda: lightgbm.LGBMClassifier(n_estimators=10, objective="multiclassova", verbose=-1),
        "multiclass",
        None,
    ),
    "regression_categorical": (lambda: lightgbm.LGBMRegressor(n_estimators=15, verbose=-1), "regression", [3]),
    "poisson": (lambda: lightgbm.LGBMRegressor(n_estimators=15, objective="poisson", verbose=-1), "positive", None),
    "tweedie": (lambda: lightgbm.LGBMRegressor(n_estimators=15, objective="tweedie", verbose=-1), "positive", None),
    "quantile": (
        lambda: lightgbm.LGBMRegressor(n_estimators=15, objective="quantile", alpha=0.8, verbose=-1),
        "regression",
        None,
    ),
    "random_forest": (
        lambda: lightgbm.LGBMRegressor(
            n_estimators=10, boosting_type="rf", subsample=0.8, subsample_freq=1, verbose=-1
        ),
        "regression",
        None,
    ),
    "dart": (lambda: lightgbm.LGBMRegressor(n_estimators=10, boosting_type="dart", verbose=-1), "regression", None),
    # linear_tree: a linear model in each leaf (the leaf's constant when one of its features is NaN).
    "linear_regression": (
        lambda: lightgbm.LGBMRegressor(n_estimators=15, linear_tree=True, verbose=-1),
        "regression",
        None,
    ),
    "linear_multiclass": (
        lambda: lightgbm.LGBMClassifier(n_estimators=10, linear_tree=True, verbose=-1),
        "multiclass",
        None,
    ),
    "linear_binary_categorical": (
        lambda: lightgbm.LGBMClassifier(n_estimators=15, linear_tree=True, linear_lambda=0.5, verbose=-1),
        "binary",
        [3],
    ),
    "linear_dart": (
        lambda: lightgbm.LGBMRegressor(n_estimators=10, boosting_type="dart", linear_tree=True, verbose=-1),
        "regression",
        None,
    ),
}


def _target(kind: str, binary, multiclass, regression):
    return {"binary": binary, "multiclass": multiclass, "regression": regression, "positive": np.abs(regression)}[kind]


@pytest.mark.parametrize(
    ("case", "strategy"),
    [(c, s) for c in sorted(LGBM_CASES) for s in (STRATEGIES if c in ALL_STRATEGIES_FOR else ["tree_traversal"])],
)
def test_lightgbm(case: str, strategy: str) -> None:
    make, kind, categorical = LGBM_CASES[case]
    X, *targets = _data()
    estimator = make().fit(X, _target(kind, *targets), categorical_feature=categorical or "auto")
    _check(estimator, _probe(X), strategy)


def _leaf_models(node: dict) -> list[dict]:
    if "split_feature" not in node:
        return [node]
    return _leaf_models(node["left_child"]) + _leaf_models(node["right_child"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lightgbm_linear_trees_are_bit_exact_in_float64(strategy: str) -> None:
    """A float64 export of a linear-tree model equals LightGBM bit for bit, NaN fallback and infinities included."""
    X, _, _, regression = _data(3)
    booster = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=8, linear_tree=True, verbose=-1)
    booster = booster.fit(X, regression).booster_
    leaves = [leaf for info in booster.dump_model()["tree_info"] for leaf in _leaf_models(info["tree_structure"])]
    used = {f for leaf in leaves for f in leaf.get("leaf_features", [])}
    assert used and any(leaf["leaf_coeff"] for leaf in leaves)
    probe = _probe(X).astype(np.float64)
    rng = np.random.default_rng(4)
    probe[rng.random(probe.shape) < 0.2] = np.nan  # NaN in a leaf's features: the leaf's constant value
    probe[400 - 10 :, sorted(used)[0]] = np.inf
    probe[400 - 20 : 400 - 10, sorted(used)[0]] = -np.inf
    probe[5] = np.nan
    compiled = sk2tensor.convert(booster, probe, dtype="float64", strategy=strategy)
    np.testing.assert_array_equal(compiled.predict(probe), booster.predict(probe))
    np.testing.assert_array_equal(compiled.predict(probe[7:8]), booster.predict(probe[7:8]))
    assert compiled.predict(probe[:0]).shape == (0,)


def test_lightgbm_ranker_and_raw_booster() -> None:
    X, _, _, regression = _data(1)
    ranker = lightgbm.LGBMRanker(n_estimators=10, verbose=-1).fit(X, np.digitize(regression, [0, 3]), group=[300] * 4)
    _check(ranker, _probe(X), "auto")
    booster = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, regression > 0).booster_
    compiled = sk2tensor.convert(booster, X)
    np.testing.assert_allclose(compiled.predict(X), booster.predict(X), atol=1e-6)


def _lightgbm_stopped_early(X: np.ndarray, binary: np.ndarray):
    """A LightGBM classifier early-stopped on the rows after the 900th."""
    # LightGBM 4.7 takes eval_X/eval_y and deprecates eval_set, the only spelling before it.
    held_out = (
        {"eval_X": X[900:], "eval_y": binary[900:]}
        if "eval_X" in inspect.signature(lightgbm.LGBMClassifier.fit).parameters
        else {"eval_set": [(X[900:], binary[900:])]}
    )
    estimator = lightgbm.LGBMClassifier(n_estimators=200, verbose=-1).fit(
        X[:900], binary[:900], callbacks=[lightgbm.early_stopping(3, verbose=False)], **held_out
    )
    assert 0 < estimator.best_iteration_ < 200
    return estimator


def test_lightgbm_early_stopping_uses_the_best_iteration() -> None:
    X, binary, _, _ = _data(2)
    estimator = _lightgbm_stopped_early(X, binary)
    _check(estimator, X, "auto")


XGB_CASES = {
    "binary": (lambda: xgboost.XGBClassifier(n_estimators=15, max_depth=4), "binary"),
    "multiclass": (lambda: xgboost.XGBClassifier(n_estimators=10), "multiclass"),
    "regression": (lambda: xgboost.XGBRegressor(n_estimators=15), "regression"),
    "poisson": (lambda: xgboost.XGBRegressor(n_estimators=15, objective="count:poisson"), "positive"),
    "gamma": (lambda: xgboost.XGBRegressor(n_estimators=15, objective="reg:gamma"), "strictly_positive"),
    "logitraw": (lambda: xgboost.XGBRegressor(n_estimators=10, objective="binary:logitraw"), "binary"),
    "rf_classifier": (lambda: xgboost.XGBRFClassifier(n_estimators=10, max_depth=4), "binary"),
    "rf_regressor": (lambda: xgboost.XGBRFRegressor(n_estimators=10), "regression"),
    "dart": (lambda: xgboost.XGBRegressor(n_estimators=10, booster="dart", rate_drop=0.2), "regression"),
    # XGBoost 3.4 deprecates booster="dart": dropout parameters on the tree booster, weights in its model.
    "dropout": (lambda: xgboost.XGBRegressor(n_estimators=10, rate_drop=0.2, skip_drop=0.1), "regression"),
    "categorical": (
        lambda: xgboost.XGBClassifier(
            n_estimators=10, enable_categorical=True, max_cat_to_onehot=1, feature_types=["q", "q", "q", "c", "q"]
        ),
        "binary",
    ),
    # The linear booster: no trees, so only strategy="auto" applies.
    "gblinear_binary": (lambda: xgboost.XGBClassifier(n_estimators=20, booster="gblinear"), "binary"),
    "gblinear_multiclass": (lambda: xgboost.XGBClassifier(n_estimators=20, booster="gblinear"), "multiclass"),
    "gblinear_regression": (lambda: xgboost.XGBRegressor(n_estimators=30, booster="gblinear"), "regression"),
    "gblinear_poisson": (
        lambda: xgboost.XGBRegressor(n_estimators=30, booster="gblinear", objective="count:poisson"),
        "positive",
    ),
}


def _xgb_target(kind: str, seed: int = 3):
    X, binary, multiclass, regression = _data(seed)
    y = {
        "binary": binary,
        "multiclass": multiclass,
        "regression": regression,
        "positive": np.abs(regression),
        "strictly_positive": np.abs(regression) + 0.5,
    }[kind]
    return X, y


@pytest.mark.parametrize(
    ("case", "strategy"),
    [
        (c, s)
        for c in sorted(XGB_CASES)
        for s in (
            STRATEGIES
            if c in ALL_STRATEGIES_FOR
            else ["auto"]
            if c.startswith("gblinear")
            else ["perfect_tree_traversal"]
        )
    ],
)
def test_xgboost(case: str, strategy: str) -> None:
    make, kind = XGB_CASES[case]
    X, y = _xgb_target(kind)
    _check(make().fit(X, y), _probe(X), strategy)


@pytest.mark.parametrize(
    "case", ["binary", "multiclass", "gblinear_binary", "gblinear_multiclass", "gblinear_regression"]
)
def test_xgboost_float64_exports_validate_against_float32_outputs(case: str) -> None:
    """XGBoost computes and returns float32: a float64 graph is held to the float32 tolerance, not refused."""
    make, kind = XGB_CASES[case]
    X, y = _xgb_target(kind)
    estimator = make().fit(X, y)
    probe = _probe(X).astype(np.float64)
    compiled = sk2tensor.convert(estimator, probe, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(estimator, compiled, probe, "float64")


def test_xgboost_linear_booster_is_exact_in_margin_space() -> None:
    """gblinear adds float32 products in feature order, as XGBoost does: margins equal bit for bit."""
    X, y = _xgb_target("regression", seed=5)
    probe = _probe(X)
    for dtype in ("float32", "float64"):
        booster = xgboost.XGBRegressor(n_estimators=40, booster="gblinear").fit(X, y)
        compiled = sk2tensor.convert(booster, probe, dtype=dtype)
        np.testing.assert_array_equal(compiled.predict(probe.astype(dtype)), booster.predict(probe))
        np.testing.assert_array_equal(compiled.predict(probe[:1].astype(dtype)), booster.predict(probe[:1]))
        assert compiled.predict(probe[:0].astype(dtype)).shape == (0,)


def test_xgboost_raw_booster_and_ranker() -> None:
    X, binary, _, regression = _data(4)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(X, binary), 10)
    compiled = sk2tensor.convert(booster, X)
    assert compiled.validation.passed
    np.testing.assert_allclose(compiled.predict(X), booster.predict(xgboost.DMatrix(X)), atol=1e-6)
    ranker = xgboost.XGBRanker(n_estimators=10).fit(
        X, np.digitize(regression, [0, 3]), qid=np.repeat(np.arange(4), 300)
    )
    _check(ranker, X, "auto")


def test_sk2tensor_imports_neither_library_on_its_own() -> None:
    code = "import sys, sk2tensor\nsk2tensor.supported()\nprint('lightgbm' in sys.modules, 'xgboost' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_every_lightgbm_and_xgboost_class_is_tested() -> None:
    tested = {
        lightgbm.LGBMClassifier,
        lightgbm.LGBMRegressor,
        lightgbm.LGBMRanker,
        lightgbm.Booster,
        xgboost.XGBClassifier,
        xgboost.XGBRegressor,
        xgboost.XGBRanker,
        xgboost.XGBRFClassifier,
        xgboost.XGBRFRegressor,
        xgboost.Booster,
    }
    registered = {c for c in sk2tensor.supported() if c.__module__.split(".")[0] in ("lightgbm", "xgboost")}
    assert registered == tested


def test_inside_sklearn_pipelines() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, binary, _, regression = _data(5)
    for model, y in (
        (make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(n_estimators=10, verbose=-1)), binary),
        (make_pipeline(StandardScaler(), xgboost.XGBRegressor(n_estimators=10)), regression),
    ):
        model.fit(X, y)
        compiled = sk2tensor.convert(model, X)
        assert compiled.validation.passed
        assert_matches_sklearn(model, compiled, X, "float32")


@pytest.mark.parametrize("depth", [1, 3, 8, 12, None], ids=lambda d: f"depth{d}")
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_depth_sweep(library: str, task: str, depth: int | None) -> None:
    X, binary, multiclass, regression = _data(6, n=800)
    y = {"binary": binary, "multiclass": multiclass, "regression": regression}[task]
    if library == "lightgbm":
        kind = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        estimator = kind(n_estimators=8, max_depth=depth or -1, num_leaves=2 ** min(depth or 10, 10), verbose=-1)
    else:
        kind = xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier
        estimator = kind(
            n_estimators=8,
            max_depth=depth or 0,
            grow_policy="lossguide" if depth is None else "depthwise",
            max_leaves=0 if depth else 256,
        )
    estimator.fit(X, y)
    for strategy in ("tree_traversal", "perfect_tree_traversal"):
        _check(estimator, _probe(X), strategy)


CONTRIBUTION_CASES = {
    "xgb_binary": ("xgb", "binary", "binary"),
    "xgb_multiclass": ("xgb", "multiclass", "multiclass"),
    "xgb_categorical": ("xgb", "categorical", "binary"),
    "xgb_dart": ("xgb", "dart", "regression"),
    "xgb_rf": ("xgb", "rf_regressor", "regression"),
    "lgb_binary_categorical": ("lgb", "binary_categorical", "binary"),
    "lgb_multiclass": ("lgb", "multiclass", "multiclass"),
    "lgb_zero_as_missing": ("lgb", "zero_as_missing", "binary"),
    "lgb_random_forest": ("lgb", "random_forest", "regression"),
}


@pytest.mark.parametrize("case", sorted(CONTRIBUTION_CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_contributions_match_the_libraries_own(case: str, dtype: str) -> None:
    """Per-feature contributions against XGBoost's pred_contribs and LightGBM's pred_contrib, value by value
    (XGBoost computes in float32: its float32 tolerance; LightGBM in float64: the graph's). LightGBM's random
    forest mode does not average its contributions (lightgbm-org/LightGBM#6217): the export's add up to the
    averaged score instead, and equal LightGBM's divided by the number of iterations."""

    library, name, kind = CONTRIBUTION_CASES[case]
    if library == "xgb":
        make, _ = XGB_CASES[name]
        X, y = _xgb_target(kind)
        estimator = make().fit(X, y)
    else:
        make, _, categorical = LGBM_CASES[name]
        X, *targets = _data()
        estimator = make().fit(X, _target(kind, *targets), categorical_feature=categorical or "auto")
    probe = _probe(X).astype(dtype)
    compiled = sk2tensor.convert(estimator, probe, dtype=dtype, contributions=True)
    assert compiled.validation.passed, compiled.validation.summary()
    got = compiled.contributions(probe).astype(np.float64)
    if library == "xgb":
        expected = estimator.get_booster().predict(
            xgboost.DMatrix(probe, feature_types=estimator.get_booster().feature_types, enable_categorical=True),
            pred_contribs=True,
        )
        precision = "float32"
    else:
        expected = estimator.predict(probe, pred_contrib=True)
        if got.ndim == 3:
            expected = expected.reshape(got.shape)
        if name == "random_forest":
            expected = expected / estimator.n_estimators
        precision = dtype
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=SCALED_TOL[precision] * scale)


def test_contributions_follow_the_best_iteration_and_refuse_linear_models() -> None:
    X, binary, _, regression = _data(2)
    stopped = _lightgbm_stopped_early(X, binary)
    compiled = sk2tensor.convert(stopped, X, dtype="float64", contributions=True)
    np.testing.assert_allclose(compiled.contributions(X), stopped.predict(X, pred_contrib=True), rtol=0, atol=1e-10)
    linear = lightgbm.LGBMRegressor(n_estimators=5, linear_tree=True, verbose=-1).fit(X, regression)
    with pytest.raises(sk2tensor.UnsupportedParameterError, match="linear-tree"):
        sk2tensor.convert(linear, X, contributions=True)
    gblinear = xgboost.XGBRegressor(n_estimators=5, booster="gblinear").fit(X, regression)
    with pytest.raises(sk2tensor.UnsupportedParameterError, match="tree boosters"):
        sk2tensor.convert(gblinear, X, contributions=True)


@pytest.mark.parametrize("case", ["binary", "multiclass", "regression", "categorical"])
def test_xgboost_leaves_are_its_apply(case: str) -> None:
    make, kind = XGB_CASES[case]
    X, y = _xgb_target(kind)
    estimator = make().fit(X, y)
    probe = _probe(X)
    compiled = sk2tensor.convert(estimator, probe, leaves=True)
    assert compiled.validation.passed
    np.testing.assert_array_equal(compiled.apply(probe), estimator.apply(probe))


def test_xgboost_early_stopping_contributions_and_leaves_follow_the_best_iteration() -> None:
    X, binary, _, _ = _data(2)
    estimator = xgboost.XGBClassifier(n_estimators=200, early_stopping_rounds=3).fit(
        X[:900], binary[:900], eval_set=[(X[900:], binary[900:])], verbose=False
    )
    assert 0 < estimator.best_iteration < 199
    compiled = sk2tensor.convert(estimator, X, contributions=True, leaves=True)
    assert compiled.validation.passed, compiled.validation.summary()
    expected = estimator.get_booster().predict(
        xgboost.DMatrix(X), pred_contribs=True, iteration_range=(0, estimator.best_iteration + 1)
    )
    scale = max(1.0, float(np.abs(expected).max()))  # XGBoost computes in float32: the float32 tolerance
    np.testing.assert_allclose(compiled.contributions(X), expected, rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(compiled.apply(X), estimator.apply(X))


# ----------------------------------------------------------------------------------------------- base_margin
def _offset_data(seed: int = 11, n: int = 600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(X.shape) < 0.08] = np.nan
    exposure = rng.uniform(0.5, 3.0, n)
    counts = rng.poisson(exposure * np.exp(0.5 * np.nan_to_num(X[:, 0])))
    return X, np.log(exposure), counts


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("strategy", ["gblinear", *STRATEGIES])
def test_xgboost_base_margin_is_a_second_input(strategy: str, dtype: str) -> None:
    """An offset (log exposure) fed per row, as predict(X, base_margin=...) takes it: it replaces base_score."""
    X, offset, counts = _offset_data()
    booster = "gblinear" if strategy == "gblinear" else "gbtree"
    model = xgboost.XGBRegressor(n_estimators=20, objective="count:poisson", booster=booster)
    model.fit(X, counts, base_margin=offset)
    compiled = sk2tensor.convert(
        model, X, base_margin=offset, dtype=dtype, strategy="auto" if booster == "gblinear" else strategy
    )
    assert compiled.validation.passed, compiled.validation.summary()
    assert [i.name for i in compiled.session.get_inputs()] == ["input", "base_margin"]
    rows, margin = X.astype(dtype), offset.astype(dtype)
    expected = model.predict(rows, base_margin=margin)
    got = compiled.predict(rows, base_margin=margin)
    # Against XGBoost's float32 reference: its tolerance (gbtree: XGBoost adds in float32, the graph in float64;
    # gblinear: the margin is bit for bit, but XGBoost 2 takes exp in float32).
    np.testing.assert_allclose(got, expected, rtol=0, atol=SCALED_TOL["float32"] * np.abs(expected).max())
    if booster == "gblinear":  # margins: XGBoost's float32 arithmetic, in its order, bit for bit
        identity = xgboost.XGBRegressor(n_estimators=20, booster="gblinear").fit(X, offset, base_margin=-offset)
        exported = sk2tensor.convert(identity, X, base_margin=-offset, dtype=dtype)
        margins = exported.predict(rows, base_margin=-margin).astype(np.float32)
        np.testing.assert_array_equal(margins, identity.predict(rows, base_margin=-margin))
    assert not np.allclose(compiled.predict(rows, base_margin=margin + 1.0), got)  # the margin is read
    assert compiled.predict(rows[:1], base_margin=margin[:1]).shape == (1,)
    assert compiled.predict(rows[:0], base_margin=margin[:0]).shape == (0,)


def test_xgboost_base_margin_per_class_booster_and_pipeline() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, offset, _ = _offset_data(12)
    labels = np.digitize(np.nan_to_num(X[:, 1]), [-0.5, 0.5])
    margins = np.random.default_rng(0).normal(size=(len(X), 3))
    classifier = xgboost.XGBClassifier(n_estimators=10).fit(X, labels, base_margin=margins)
    compiled = sk2tensor.convert(classifier, X, base_margin=margins)
    assert compiled.validation.passed and compiled.validation.label_agreement == 1.0
    assert json.loads(compiled.metadata["base_margin"]) == {"name": "base_margin", "width": 3}
    report = sk2tensor.compare(classifier, compiled, X[:100], base_margin=margins[:100])
    assert report.passed, report.summary()
    raw = sk2tensor.convert(classifier.get_booster(), X, base_margin=margins)  # margins set on the DMatrix
    assert raw.validation.passed, raw.validation.summary()
    pipeline = make_pipeline(StandardScaler(), xgboost.XGBRegressor(n_estimators=10)).fit(X, offset)
    piped = sk2tensor.convert(pipeline, X, base_margin=offset)  # Pipeline.predict hands it to the last step
    rows = X.astype(np.float32)  # the graph's input: the scaler's output, and so the splits, depend on it
    expected = pipeline.predict(rows, base_margin=offset)
    np.testing.assert_allclose(piped.predict(rows, base_margin=offset), expected, atol=1e-5)


def test_xgboost_base_margin_misuse_is_refused_clearly(tmp_path) -> None:
    from sk2tensor.errors import InputError, UnsupportedParameterError

    X, offset, counts = _offset_data(13)
    model = xgboost.XGBRegressor(n_estimators=5, objective="count:poisson").fit(X, counts, base_margin=offset)
    compiled = sk2tensor.convert(model, X, base_margin=offset)
    with pytest.raises(InputError, match="exported with a base_margin input"):
        compiled.predict(X)
    with pytest.raises(InputError, match="one row per row of X"):
        compiled.predict(X, base_margin=offset[:10])
    with pytest.raises(InputError, match="2 column"):
        compiled.predict(X, base_margin=np.c_[offset, offset])
    with pytest.raises(InputError, match="pass X too"):
        sk2tensor.convert(model, base_margin=offset)
    with pytest.raises(UnsupportedParameterError, match="contributions with a base_margin"):
        sk2tensor.convert(model, X, base_margin=offset, contributions=True)
    plain = sk2tensor.convert(model, X)
    with pytest.raises(InputError, match="takes no base_margin"):
        plain.predict(X, base_margin=offset)
    lgbm = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, counts)
    with pytest.raises(UnsupportedParameterError, match="base_margin is an input of XGBoost models"):
        sk2tensor.convert(lgbm, X, base_margin=offset)
    # The saved file runs with both inputs in a plain session.
    path = compiled.save(tmp_path / "offset.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input": X.astype(np.float32), "base_margin": offset.astype(np.float32)[:, None]}
    (got,) = session.run(["predict"], feeds)
    np.testing.assert_allclose(
        got, model.predict(X.astype(np.float32), base_margin=offset.astype(np.float32)), rtol=1e-5
    )


def test_xgboost_base_margin_from_a_data_file_column(tmp_path) -> None:
    """score_file and `sk2tensor predict --base-margin` read the margin from a column of the data file; the
    cluster engines refuse such a model with a message saying how to score it."""
    pd = pytest.importorskip("pandas")
    from typer.testing import CliRunner

    from sk2tensor import cli
    from sk2tensor.errors import InputError
    from sk2tensor.scoring import refuse_base_margin, score_file

    X, offset, counts = _offset_data(14)
    model = xgboost.XGBRegressor(n_estimators=10, objective="count:poisson").fit(X, counts, base_margin=offset)
    path = sk2tensor.convert(model, X, base_margin=offset).save(tmp_path / "offset.onnx")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(log_exposure=offset)
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    expected = model.predict(X.astype(np.float32), base_margin=offset.astype(np.float32))
    columns = [f"f{i}" for i in range(X.shape[1])]
    result = score_file(path, data, tmp_path / "scores.csv", columns=columns, base_margin=["log_exposure"])
    assert result.rows == len(X)
    got = pd.read_csv(tmp_path / "scores.csv")["predict"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(InputError, match="name the data's column"):
        score_file(path, data, tmp_path / "again.csv", columns=columns)
    out = tmp_path / "cli.parquet"
    args = ["predict", str(path), str(data), "-o", str(out), "--columns", ",".join(columns)]
    done = CliRunner().invoke(cli.app, [*args, "--base-margin", "log_exposure"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    np.testing.assert_allclose(pd.read_parquet(out)["predict"].to_numpy(), expected, rtol=1e-5)
    with pytest.raises(InputError, match=r"Spark scoring does not feed.*score_file"):
        refuse_base_margin(sk2tensor.load(path), "Spark")  # what sk2tensor.spark and sk2tensor.ray call first
