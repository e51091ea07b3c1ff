"""imbalanced-learn models: its Pipeline (samplers skipped at prediction) and its balanced ensembles, against
imblearn's own predictions on imbalanced data, string and non-contiguous labels, NaN, rows at the trees' split
thresholds, one row and an empty batch; refusals of what has nothing to export; the command line.

Tolerances are `convert`'s (`sk2tensor.validate`): labels identical, probabilities within 1e-6 (float32 graph)
or 1e-12 (float64), other outputs within 1e-6 or 1e-10 of their scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import sk2tensor
from sk2tensor.errors import InputError, UnsupportedEstimatorError, UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn
from tests.test_portability import assert_portable

imblearn = pytest.importorskip("imblearn")

from imblearn import FunctionSampler  # noqa: E402
from imblearn.ensemble import (  # noqa: E402
    BalancedBaggingClassifier,
    BalancedRandomForestClassifier,
    EasyEnsembleClassifier,
    RUSBoostClassifier,
)
from imblearn.over_sampling import SMOTE, RandomOverSampler  # noqa: E402
from imblearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler  # noqa: E402


def _data(n_classes: int = 2, labels: str = "int", nan_share: float = 0.0, seed: int = 0):
    """Imbalanced rows: the last class is about 5% of them."""
    weights = [0.8, 0.15][: n_classes - 1] if n_classes <= 3 else None
    X, y = make_classification(
        800, 6, n_informative=4, n_classes=n_classes, weights=weights, n_clusters_per_class=1, random_state=seed
    )
    X[:, 5] = np.round(X[:, 5])  # ties: whole groups of rows on one side of a threshold
    if nan_share:
        X[np.random.default_rng(seed).random(X.shape) < nan_share] = np.nan
    if labels == "str":
        y = np.array(["rare", "common", "middle"])[y] if n_classes == 3 else np.where(y == 1, "fraud", "ok")
    elif labels == "gaps":
        y = y * 7 - 3  # non-contiguous integer labels: -3, 4, 11
    return X, y


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], Any]
    data: dict

    def fitted(self) -> tuple[Any, np.ndarray]:
        X, y = _data(**self.data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # imblearn's FutureWarnings on default parameters
            return self.make().fit(X, y), X


CASES = [
    Case(
        "scaler_smote_logistic",
        lambda: make_pipeline(StandardScaler(), SMOTE(random_state=0), LogisticRegression(max_iter=1000)),
        {"n_classes": 3, "labels": "str"},
    ),
    Case(
        "undersampler_forest",
        lambda: make_pipeline(RandomUnderSampler(random_state=0), RandomForestClassifier(20, random_state=0)),
        {"n_classes": 2, "labels": "gaps", "nan_share": 0.05},
    ),
    Case(
        "function_sampler_svc",
        lambda: Pipeline(
            [("scale", StandardScaler()), ("identity", FunctionSampler()), ("skip", "passthrough"), ("svc", SVC())]
        ),
        {"n_classes": 3},
    ),
    Case(
        "oversampler_hist_gradient_boosting",
        lambda: make_pipeline(
            RandomOverSampler(random_state=0), HistGradientBoostingClassifier(max_iter=30, random_state=0)
        ),
        {"n_classes": 3, "labels": "gaps", "nan_share": 0.1},
    ),
    Case(
        "grid_search_over_pipeline",
        lambda: GridSearchCV(
            make_pipeline(StandardScaler(), RandomOverSampler(random_state=0), LogisticRegression(max_iter=1000)),
            {"logisticregression__C": [0.1, 10.0]},
            cv=3,
        ),
        {"n_classes": 2, "labels": "str"},
    ),
    Case(
        "balanced_random_forest",
        lambda: BalancedRandomForestClassifier(n_estimators=30, random_state=0),
        {"n_classes": 3, "labels": "str", "nan_share": 0.05},
    ),
    Case(
        "balanced_random_forest_all_replacement_depth4",
        lambda: BalancedRandomForestClassifier(
            n_estimators=15, max_depth=4, sampling_strategy="all", replacement=True, bootstrap=False, random_state=1
        ),
        {"n_classes": 2, "labels": "gaps", "seed": 1},
    ),
    Case(
        "rusboost_stumps",
        lambda: RUSBoostClassifier(n_estimators=25, random_state=0),
        {"n_classes": 2, "labels": "str"},
    ),
    Case(
        "rusboost_depth3_multiclass",
        lambda: RUSBoostClassifier(DecisionTreeClassifier(max_depth=3), n_estimators=15, random_state=0),
        {"n_classes": 3, "labels": "gaps", "seed": 2},
    ),
    Case(
        "balanced_bagging_trees",
        lambda: BalancedBaggingClassifier(n_estimators=8, random_state=0),
        {"n_classes": 3, "labels": "str", "nan_share": 0.05},
    ),
    Case(
        "balanced_bagging_logistic_oversampled_feature_subsets",
        lambda: BalancedBaggingClassifier(
            LogisticRegression(max_iter=1000),
            n_estimators=5,
            max_features=0.6,
            sampler=RandomOverSampler(random_state=0),
            random_state=0,
        ),
        {"n_classes": 2, "labels": "gaps"},
    ),
    Case(
        "easy_ensemble",
        lambda: EasyEnsembleClassifier(n_estimators=4, random_state=0),
        {"n_classes": 3, "labels": "gaps", "seed": 3},
    ),
]
TREE_CASES = [
    "undersampler_forest",
    "balanced_random_forest",
    "balanced_random_forest_all_replacement_depth4",
    "rusboost_stumps",
    "rusboost_depth3_multiclass",
    "balanced_bagging_trees",
    "easy_ensemble",
]


def _trees(estimator: Any) -> list[Any]:
    """The sklearn trees an imblearn model predicts with, wherever they sit."""
    if hasattr(estimator, "tree_"):
        return [estimator]
    if hasattr(estimator, "steps"):
        return _trees(estimator.steps[-1][1])
    return [tree for member in getattr(estimator, "estimators_", []) for tree in _trees(member)]


def _threshold_rows(estimator: Any, X: np.ndarray) -> np.ndarray:
    """Rows whose tested feature equals a split threshold, and the float32 neighbours below and above it."""
    rows, rng = [], np.random.default_rng(0)
    for tree in _trees(estimator)[:10]:
        internal = (tree.tree_.children_left >= 0) & np.isfinite(tree.tree_.threshold)  # inf: NaN-only splits
        features, thresholds = tree.tree_.feature[internal], tree.tree_.threshold[internal]
        for values in (
            thresholds,
            np.nextafter(thresholds.astype(np.float32), np.float32(-np.inf)),
            np.nextafter(thresholds.astype(np.float32), np.float32(np.inf)),
        ):
            base = X[rng.integers(0, len(X), len(features))].copy()
            base[np.arange(len(features)), features] = values
            rows.append(base)
    return np.concatenate(rows)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_imblearn(case: Case, dtype: str) -> None:
    estimator, X = case.fitted()
    if case.id in TREE_CASES:
        X = np.concatenate([X, _threshold_rows(estimator, X)])
    compiled = sk2tensor.convert(estimator, X, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    methods = ("predict", "predict_proba", "decision_function")
    assert list(compiled.outputs) == [m for m in methods if hasattr(estimator, m)]
    assert_portable(compiled.onnx)
    rows = X.astype(dtype)
    assert_matches_sklearn(estimator, compiled, rows, dtype)
    for batch in (rows[:1], rows[5:12]):
        assert_matches_sklearn(estimator, compiled, batch, dtype)
    for method in compiled.outputs:
        assert getattr(compiled, method)(rows[:0]).shape[0] == 0


@pytest.mark.parametrize("strategy", ["gemm", "tree_traversal", "perfect_tree_traversal"])
@pytest.mark.parametrize("case_id", ["balanced_random_forest", "rusboost_depth3_multiclass", "easy_ensemble"])
def test_tree_strategies(case_id: str, strategy: str) -> None:
    estimator, X = next(c for c in CASES if c.id == case_id).fitted()
    X = np.concatenate([X, _threshold_rows(estimator, X)])
    compiled = sk2tensor.convert(estimator, X, strategy=strategy)
    assert compiled.validation.passed, compiled.validation.summary()
    assert set(compiled.strategy.values()) == {strategy}
    assert_matches_sklearn(estimator, compiled, X.astype(np.float32), "float32")


def test_string_columns_through_an_imblearn_pipeline() -> None:
    pd = pytest.importorskip("pandas")
    X, y = _data(n_classes=2, labels="str")
    frame = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    frame["region"] = np.array(["north", "south", "east"])[(X[:, 5] > 0).astype(int) + (X[:, 4] > 1)]
    model = make_pipeline(
        ColumnTransformer([("region", OneHotEncoder(handle_unknown="ignore"), ["region"])], remainder=StandardScaler()),
        SMOTE(random_state=0),
        BalancedRandomForestClassifier(n_estimators=10, random_state=0),
    ).fit(frame, y)
    compiled = sk2tensor.convert(model, frame)
    assert compiled.validation.passed, compiled.validation.summary()
    np.testing.assert_array_equal(compiled.predict(frame), model.predict(frame))
    np.testing.assert_allclose(compiled.predict_proba(frame), model.predict_proba(frame), rtol=0, atol=1e-6)


def test_transform_of_a_pipeline_ending_in_passthrough() -> None:
    X, y = _data()
    model = Pipeline([("scale", StandardScaler()), ("smote", SMOTE(random_state=0)), ("end", "passthrough")])
    model.fit(X, y)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert list(compiled.outputs) == ["transform"]
    np.testing.assert_allclose(compiled.transform(X), model.transform(X), rtol=0, atol=1e-10)


def test_every_imblearn_class_registered_has_a_case() -> None:
    covered = set()
    for case in CASES:
        estimator = case.make()
        if isinstance(estimator, GridSearchCV):
            estimator = estimator.estimator
        covered.add(type(estimator))
    registered = {cls for cls in sk2tensor.supported() if cls.__module__.split(".")[0] == "imblearn"}
    assert registered and registered <= covered, sorted(c.__name__ for c in registered - covered)


# ----------------------------------------------------------------------------------------- refusals
def test_a_sampler_alone_is_refused_with_the_reason() -> None:
    X, y = _data()
    with pytest.raises(UnsupportedEstimatorError, match=r"resamples training rows.*export the Pipeline"):
        sk2tensor.convert(SMOTE().fit(X, y), X)


def test_a_pipeline_ending_with_a_sampler_is_refused() -> None:
    X, y = _data()
    model = make_pipeline(StandardScaler(), RandomUnderSampler(random_state=0)).fit(X, y)
    with pytest.raises(UnsupportedParameterError, match=r"steps\['randomundersampler'\].*last step must predict"):
        sk2tensor.convert(model, X)


def test_unfitted_and_wrong_width_are_clear_errors() -> None:
    X, y = _data()
    with pytest.raises(NotFittedError, match="BalancedRandomForestClassifier"):
        sk2tensor.convert(BalancedRandomForestClassifier(), X)
    model = make_pipeline(SMOTE(random_state=0), LogisticRegression()).fit(X, y)
    compiled = sk2tensor.convert(model, X)
    with pytest.raises(InputError, match="6"):
        compiled.predict(X[:, :4])


def test_the_unsupported_message_tells_the_two_pipelines_apart() -> None:
    with pytest.raises(UnsupportedEstimatorError) as raised:
        sk2tensor.convert(object(), np.zeros((2, 2)))
    message = str(raised.value)
    assert "imblearn.pipeline.Pipeline" in message and "sklearn.pipeline.Pipeline" in message


# ----------------------------------------------------------------------------------------- command line
def test_command_line_exports_an_imblearn_model(tmp_path: Path) -> None:
    skops_io = pytest.importorskip("skops.io")
    from tests.test_cli import assert_error, assert_ok, invoke

    estimator, X = next(c for c in CASES if c.id == "balanced_random_forest").fitted()
    model = tmp_path / "brf.skops"
    skops_io.dump(estimator, model)
    np.save(tmp_path / "rows.npy", X)
    out = tmp_path / "brf.onnx"
    assert_error(invoke("export", model, "-o", out), "imblearn", "--trust")
    assert_ok(invoke("export", model, "-o", out, "--trust", "--validate", tmp_path / "rows.npy"))
    loaded = sk2tensor.load(out)
    np.testing.assert_array_equal(loaded.predict(X.astype(np.float32)), estimator.predict(X.astype(np.float32)))


def test_command_line_validates_an_imblearn_pipeline_on_string_columns(tmp_path: Path) -> None:
    # The CLI asks whether the model takes string columns before any converter is looked up: the imblearn
    # converters must load for that question too.
    pd = pytest.importorskip("pandas")
    skops_io = pytest.importorskip("skops.io")
    from tests.test_cli import assert_ok, invoke

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"amount": rng.normal(size=300), "channel": rng.choice(["web", "shop", "phone"], 300)})
    y = np.where(frame["amount"] > 1.2, "fraud", "ok")
    model = make_pipeline(
        ColumnTransformer([("channel", OneHotEncoder(), ["channel"])], remainder="passthrough"),
        RandomOverSampler(random_state=0),
        LogisticRegression(),
    ).fit(frame, y)
    skops_io.dump(model, tmp_path / "model.skops")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "model.onnx"
    assert_ok(invoke("export", tmp_path / "model.skops", "-o", out, "--trust", "--validate", tmp_path / "rows.csv"))
    np.testing.assert_array_equal(sk2tensor.load(out).predict(frame), model.predict(frame))
