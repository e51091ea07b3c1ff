"""Per-feature contributions (TreeSHAP) of tree models: exact Shapley values on small trees, XGBoost's and
LightGBM's own ``pred_contribs``, local accuracy, refusals, and the output through every consumer.

Tolerances: a float64 export against exact Shapley values computed here by brute force, 1e-12 absolute (the
values are sums of a few hundred products of numbers below the leaf values); against XGBoost, whose TreeSHAP
runs in float32, the float32 tolerance ``convert`` validates with (1e-6 relative to the largest value).
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import sk2tensor
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.metadata import CONTRIBUTIONS
from sk2tensor.scoring import iter_scores, score_file
from sk2tensor.validate import SCALED_TOL

N_FEATURES = 5


def _rows(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    X[rng.random(X.shape) < 0.08] = np.nan
    X[:, 4] = rng.integers(0, 4, n)  # ties: many rows sit exactly on a threshold's side
    signal = np.nan_to_num(X[:, 0]) * 2 + np.sin(np.nan_to_num(X[:, 1]) * 3) + X[:, 4]
    return X, signal, np.digitize(signal, [-1.0, 1.0])


def _tree_shap_brute_force(tree, x: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Exact Shapley values of one sklearn tree at ``x`` (float32, as sklearn compares), ``[F + 1, outputs]``:
    every coalition, with a left-out feature following both children weighted by their training cover."""
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    threshold, cover = tree.threshold, tree.weighted_n_node_samples
    missing_left = getattr(tree, "missing_go_to_left", np.ones(len(left), bool))

    def expected(known: frozenset, node: int = 0) -> np.ndarray:
        if left[node] < 0:
            return value[node]
        f = feature[node]
        if f in known:
            v = x[f]
            goes_left = bool(missing_left[node]) if np.isnan(v) else v <= threshold[node]
            return expected(known, left[node] if goes_left else right[node])
        return (cover[left[node]] * expected(known, left[node]) + cover[right[node]] * expected(known, right[node])) / (
            cover[node]
        )

    n = len(x)
    phi = np.zeros((n + 1, value.shape[1]))
    phi[n] = expected(frozenset())
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                known = frozenset(subset)
                phi[i] += weight * (expected(known | {i}) - expected(known))
    return phi


def _brute_force(estimator, X: np.ndarray) -> np.ndarray:
    """``[rows, outputs, F + 1]`` exact contributions of an sklearn tree, forest or gradient boosting model."""
    rows = X.astype(np.float32).astype(np.float64)
    if hasattr(estimator, "tree_"):
        trees, scale, base = [estimator], 1.0, None
    elif isinstance(estimator, (GradientBoostingRegressor, GradientBoostingClassifier)):
        trees = [t for stage in estimator.estimators_ for t in stage]
        scale, base = estimator.learning_rate, estimator._raw_predict_init(rows[:1])[0]
    else:
        trees, scale, base = estimator.estimators_, 1.0 / len(estimator.estimators_), None
    total = 0.0
    for tree in trees:
        value = np.array(tree.tree_.value[:, 0, :] if hasattr(estimator, "classes_") else tree.tree_.value[:, :, 0])
        if isinstance(tree, DecisionTreeClassifier):
            value = value / value.sum(axis=1, keepdims=True)
        total = total + scale * np.stack([_tree_shap_brute_force(tree.tree_, x, value) for x in rows])
    total = np.transpose(total, (0, 2, 1))
    if base is not None:
        total[:, :, -1] += base
    return total


SMALL_MODELS = {
    "tree_regressor": (lambda: DecisionTreeRegressor(max_depth=5, random_state=0), "signal"),
    "tree_classifier": (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), "labels"),
    "random_forest": (lambda: RandomForestRegressor(6, max_depth=4, random_state=0), "signal"),
    "extra_trees": (lambda: ExtraTreesClassifier(5, max_depth=4, random_state=0), "labels"),
    "gradient_boosting": (lambda: GradientBoostingRegressor(n_estimators=6, max_depth=3), "signal"),
}


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_contributions_are_exact_shapley_values(name: str) -> None:
    make, target = SMALL_MODELS[name]
    X, signal, labels = _rows()
    fit_rows = np.nan_to_num(X) if name == "gradient_boosting" else X
    estimator = make().fit(fit_rows, signal if target == "signal" else labels)
    probe = (np.nan_to_num(X) if name == "gradient_boosting" else X)[:12]
    compiled = sk2tensor.convert(estimator, probe, dtype="float64", contributions=True)
    assert compiled.validation.passed, compiled.validation.summary()
    got = compiled.contributions(probe)
    expected = _brute_force(estimator, probe)
    got = got.reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


SHAP_MODELS = {
    "random_forest": lambda: RandomForestClassifier(15, max_depth=6, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(10, max_depth=8, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=15),
    "hist_gradient_boosting_regressor": lambda: HistGradientBoostingRegressor(max_iter=15),
    "gradient_boosting": lambda: GradientBoostingRegressor(n_estimators=15, max_depth=4),
    "decision_tree": lambda: DecisionTreeRegressor(max_depth=10, random_state=0),
}


@pytest.mark.parametrize("name", sorted(SHAP_MODELS))
def test_contributions_match_shap_tree_explainer(name: str) -> None:
    """shap's own TreeSHAP (C++) on the same rows: every value and the expected value, within 1e-12 of the
    largest (float64 export; both sum a few hundred products in another order)."""
    shap = pytest.importorskip("shap")
    X, signal, labels = _rows(6, n=500)
    estimator = SHAP_MODELS[name]()
    if isinstance(estimator, GradientBoostingRegressor):
        X = np.nan_to_num(X)
    estimator.fit(X, labels if hasattr(estimator, "predict_proba") else signal)
    compiled = sk2tensor.convert(estimator, X[:100], dtype="float64", contributions=True)
    ours = compiled.contributions(X[:100])
    explainer = shap.TreeExplainer(estimator)
    theirs = np.asarray(explainer.shap_values(X[:100], check_additivity=False))  # [rows, F] or [rows, F, classes]
    if ours.ndim == 3:
        ours = np.transpose(ours, (0, 2, 1))  # [rows, F + 1, classes]
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours[:, :N_FEATURES], theirs, rtol=0, atol=1e-12 * scale)
    bias = ours[:, N_FEATURES].reshape(len(ours), -1)
    expected = np.asarray(explainer.expected_value).reshape(1, -1)
    np.testing.assert_allclose(bias, np.broadcast_to(expected, bias.shape), rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(20, max_depth=6, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=15, categorical_features=[4]),
        lambda: HistGradientBoostingRegressor(max_iter=15, loss="poisson"),
        lambda: GradientBoostingClassifier(n_estimators=10, loss="exponential"),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_contributions_add_up_to_the_score_and_ignore_unused_features(make, dtype: str) -> None:
    X, signal, labels = _rows(1)
    X = np.column_stack([X, np.zeros(len(X))])  # a constant column no split can use: a null player
    estimator = make()
    classifier = hasattr(estimator, "predict_proba")
    rows = np.nan_to_num(X) if isinstance(estimator, GradientBoostingClassifier) else X
    if isinstance(estimator, GradientBoostingClassifier):
        target = labels > 0
    else:
        target = labels if classifier else np.abs(signal)
    estimator.fit(rows, target)
    compiled = sk2tensor.convert(estimator, rows, dtype=dtype, contributions=True)
    report = compiled.validation
    assert report.passed and report[CONTRIBUTIONS].passed, report.summary()
    values = compiled.contributions(rows.astype(dtype))
    assert np.all(values[..., N_FEATURES] == 0.0)
    if isinstance(estimator, HistGradientBoostingRegressor):
        score = np.log(estimator.predict(rows.astype(dtype)))  # the poisson loss explains the log of predict
    else:
        method = "predict_proba" if isinstance(estimator, RandomForestClassifier) else "decision_function"
        score = getattr(estimator, method)(rows.astype(dtype))
    tolerance = SCALED_TOL[dtype] * max(1.0, float(np.abs(score).max())) * 10  # float32: a sum of F + 1 roundings
    np.testing.assert_allclose(values.astype(np.float64).sum(axis=-1), score, rtol=0, atol=tolerance)


def test_one_row_empty_batch_dataframe_and_plain_onnxruntime(tmp_path: Path) -> None:
    X, signal, _ = _rows(2)
    frame = pd.DataFrame(np.nan_to_num(X), columns=[f"f{j}" for j in range(N_FEATURES)])
    model = RandomForestRegressor(8, max_depth=5, random_state=0).fit(frame, signal)
    compiled = sk2tensor.convert(model, frame, contributions=True)
    assert compiled.contributions(frame.iloc[:1]).shape == (1, N_FEATURES + 1)
    assert compiled.contributions(frame.iloc[:0]).shape == (0, N_FEATURES + 1)
    assert list(compiled.outputs) == ["predict", "contributions"]
    path = compiled.save(tmp_path / "explained.onnx")
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
        "x = np.load(sys.argv[2])\n"
        "np.save(sys.argv[3], s.run(['contributions'], {'input': x})[0])\n"
    )
    rows = np.ascontiguousarray(frame.to_numpy(np.float32)[:20])
    np.save(tmp_path / "rows.npy", rows)
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "rows.npy"), str(tmp_path / "out.npy")], check=True
    )
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), compiled.contributions(rows), rtol=0, atol=0)
    restored = sk2tensor.load(path)
    scores = [result for _, result in iter_scores(restored, frame, methods=["contributions"], batch_size=100)]
    assert np.concatenate([s["contributions"] for s in scores]).shape == (len(frame), N_FEATURES + 1)
    score_file(restored, frame, tmp_path / "scores.csv", methods=["predict", "contributions"])
    header = list(pd.read_csv(tmp_path / "scores.csv", nrows=1).columns)
    assert header == ["predict", *[f"contributions_f{j}" for j in range(N_FEATURES)], "contributions_expected_value"]


def test_multiclass_columns_are_named_by_class(tmp_path: Path) -> None:
    X, _, labels = _rows(3)
    names = np.array(["low", "mid", "high"])[labels]
    model = HistGradientBoostingClassifier(max_iter=5).fit(X, names)
    compiled = sk2tensor.convert(model, X, contributions=True)
    assert compiled.contributions(X[:4]).shape == (4, 3, N_FEATURES + 1)
    score_file(compiled, X, tmp_path / "scores.parquet", methods=["contributions"])
    columns = list(pd.read_parquet(tmp_path / "scores.parquet").columns)
    assert columns[0] == "contributions_high_x0" and columns[-1] == "contributions_mid_expected_value"
    assert len(columns) == 3 * (N_FEATURES + 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda X, y: AdaBoostClassifier(n_estimators=3).fit(X, y > 0), "AdaBoostClassifier: its score"),
        (lambda X, y: IsolationForest(n_estimators=3).fit(X), "IsolationForest: its score"),
        (lambda X, y: LogisticRegression().fit(X, y > 0), "applies to tree models"),
        (lambda X, y: make_pipeline(StandardScaler(), RandomForestRegressor(3)).fit(X, y), "export the final step"),
        (
            lambda X, y: VotingRegressor([("a", RandomForestRegressor(3)), ("b", RandomForestRegressor(3))]).fit(X, y),
            "combines 2 of them",
        ),
    ],
)
def test_models_without_contributions_are_refused_clearly(make, message: str) -> None:
    X, signal, _ = _rows(4)
    estimator = make(np.nan_to_num(X), signal)
    with pytest.raises(UnsupportedParameterError, match=message):
        sk2tensor.convert(estimator, np.nan_to_num(X), contributions=True)
    with pytest.raises(UnsupportedParameterError, match="True or False"):
        sk2tensor.convert(estimator, np.nan_to_num(X), contributions="yes")


def test_contributions_past_the_table_bound_are_refused(monkeypatch) -> None:
    from sk2tensor.converters.trees import contributions

    X, signal, _ = _rows(7)
    model = RandomForestRegressor(5, max_depth=6, random_state=0).fit(np.nan_to_num(X), signal)
    monkeypatch.setattr(contributions, "MAX_TABLE_BYTES", 1_000)
    with pytest.raises(UnsupportedParameterError, match="MiB of path tables"):
        sk2tensor.convert(model, np.nan_to_num(X), contributions=True)
    sk2tensor.convert(model, np.nan_to_num(X))  # the plain export does not hold them


def test_cli_export_with_contributions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sk2tensor.cli import app

    skops = pytest.importorskip("skops.io")
    X, signal, _ = _rows(5)
    model = GradientBoostingRegressor(n_estimators=5).fit(np.nan_to_num(X), signal)
    skops.dump(model, tmp_path / "model.skops")
    np.save(tmp_path / "rows.npy", np.nan_to_num(X))
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(tmp_path / "model.skops"),
            "-o",
            str(tmp_path / "model.onnx"),
            "--validate",
            str(tmp_path / "rows.npy"),
            "--contributions",
            "--trust",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "contributions" in result.output
    restored = sk2tensor.load(tmp_path / "model.onnx")
    np.testing.assert_allclose(
        restored.contributions(np.nan_to_num(X)).sum(axis=1), model.predict(np.nan_to_num(X)), rtol=0, atol=1e-5
    )


def test_a_gpu_export_takes_more_rows_per_run() -> None:
    from sk2tensor.converters.tree import classifier_leaf_values
    from sk2tensor.converters.trees import sklearn_tree_arrays, stack_trees
    from sk2tensor.converters.trees.contributions import RUN_BUDGET_BYTES, Explained, explain_trees
    from sk2tensor.graph import GraphBuilder

    X, _, labels = _rows(8)
    forest = RandomForestClassifier(30, max_depth=8, random_state=0).fit(np.nan_to_num(X), labels)
    ensemble = stack_trees(
        [sklearn_tree_arrays(t.tree_, classifier_leaf_values(t)) for t in forest.estimators_],
        base=np.zeros(3),
        compare_in_float32=True,
        n_features=N_FEATURES,
    )
    rows = {}
    for device in ("cpu", "cuda"):
        graph = GraphBuilder()
        x = graph.input("input", N_FEATURES)
        rows[device] = explain_trees(graph, ensemble, x, Explained(x, N_FEATURES), device)[1]
    ratio = RUN_BUDGET_BYTES["cuda"] // RUN_BUDGET_BYTES["cpu"]
    assert rows["cuda"] >= ratio * rows["cpu"] - ratio
