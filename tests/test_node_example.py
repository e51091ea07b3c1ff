"""The Node.js consumer in examples/node: onnxruntime-node predicts what Python predicts, from the model's metadata.

Needs ``node`` and ``npm`` (CI has them; the test is skipped, saying so, without them). The npm dependencies are
installed once per version of package.json/package-lock.json into pytest's cache directory, with
``npm ci --ignore-scripts`` and ``ONNXRUNTIME_NODE_INSTALL=skip``: nothing but the npm registry is contacted,
since onnxruntime-node's post-install script (which downloads CUDA binaries) does not run; its CPU binaries
ship inside the npm package.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sk2tensor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "node"
SOURCES = ("predict.mjs", "onnx-metadata.mjs", "package.json")
LOCK_FILES = ("package.json", "package-lock.json")

pd = pytest.importorskip("pandas")


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Node.js example needs node and npm on PATH (the CI machine has both)")
    return node, npm


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # pytest-xdist workers share the cache
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def node_modules(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``node_modules`` for examples/node, installed once per lock file content (kept in pytest's cache)."""
    _, npm = _tools()
    key = hashlib.sha256(b"".join((EXAMPLE / name).read_bytes() for name in LOCK_FILES)).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir("node-example")) if cache is not None else tmp_path_factory.mktemp("node-example")
    target = root / key
    with _locked(root / f"{key}.lock"):
        if not (target / "node_modules" / "onnxruntime-node" / "package.json").is_file():
            staging = root / f"{key}.staging-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for name in LOCK_FILES:
                shutil.copy(EXAMPLE / name, staging / name)
            env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip", "npm_config_update_notifier": "false"}
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
                cwd=staging,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
    modules = target / "node_modules"
    binaries = list((modules / "onnxruntime-node" / "bin").rglob("onnxruntime_binding.node"))
    assert binaries, "onnxruntime-node's CPU binaries should ship inside its npm package"
    return modules


@pytest.fixture
def example(tmp_path: Path, node_modules: Path) -> Path:
    """A fresh copy of the example's sources beside the cached node_modules."""
    for name in SOURCES:
        shutil.copy(EXAMPLE / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return tmp_path


def run_node(example: Path, *args: object) -> subprocess.CompletedProcess[str]:
    node, _ = _tools()
    return subprocess.run(
        [node, str(example / "predict.mjs"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=example,
    )


def predictions(example: Path, model: Path, rows: Path, *extra: str) -> dict:
    done = run_node(example, model, rows, *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


IRIS = load_iris(as_frame=True)
LABELS = np.array(["setosa", "versicolor", "virginica"])[IRIS.target.to_numpy()]


def test_classifier_with_string_labels_and_feature_names(example: Path, tmp_path: Path) -> None:
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(IRIS.data, LABELS)
    model = tmp_path / "iris.onnx"
    compiled = sk2tensor.convert(estimator, IRIS.data)
    compiled.save(model)
    rows = IRIS.data.iloc[::7]
    as_arrays = tmp_path / "rows.json"
    as_arrays.write_text(json.dumps(rows.to_numpy().tolist()))
    got = predictions(example, model, as_arrays)
    assert got["rows"] == len(rows)
    assert got["classes"] == ["setosa", "versicolor", "virginica"]
    assert list(got["outputs"]) == list(compiled.outputs) == ["predict", "predict_proba", "decision_function"]
    assert got["outputs"]["predict"] == compiled.predict(rows).tolist() == estimator.predict(rows).tolist()
    np.testing.assert_allclose(got["outputs"]["predict_proba"], compiled.predict_proba(rows), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["outputs"]["decision_function"], compiled.decision_function(rows), rtol=1e-6)

    # Objects and CSV columns are matched by the feature names the model carries, whatever their order.
    shuffled = rows[list(reversed(rows.columns))]
    as_objects = tmp_path / "objects.json"
    as_objects.write_text(shuffled.to_json(orient="records"))
    as_csv = tmp_path / "rows.csv"
    shuffled.assign(row_id=range(len(rows))).to_csv(as_csv, index=False)
    for source in (as_objects, as_csv):
        got = predictions(example, model, source, "--method", "predict")
        assert list(got["outputs"]) == ["predict"]
        assert got["outputs"]["predict"] == estimator.predict(rows).tolist()


def test_float64_regressor_and_integer_labels(example: Path, tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    ridge = Ridge().fit(X, y)
    model = tmp_path / "ridge.onnx"
    sk2tensor.convert(ridge, X, dtype="float64").save(model)
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X[:20], delimiter=",", fmt="%.17g")  # no header
    got = predictions(example, model, rows)
    assert got["classes"] is None
    np.testing.assert_allclose(got["outputs"]["predict"], ridge.predict(X[:20]), rtol=1e-12)

    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(IRIS.data.to_numpy(), IRIS.target)
    model = tmp_path / "forest.onnx"
    sk2tensor.convert(forest, IRIS.data.to_numpy()).save(model)
    rows = tmp_path / "forest.json"
    rows.write_text(json.dumps(IRIS.data.to_numpy().tolist()))
    got = predictions(example, model, rows, "--method", "predict,predict_proba")
    assert got["outputs"]["predict"] == forest.predict(IRIS.data.to_numpy()).tolist()
    np.testing.assert_allclose(got["outputs"]["predict_proba"], forest.predict_proba(IRIS.data.to_numpy()), atol=1e-6)


def test_errors_are_one_line(example: Path, tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=1000).fit(IRIS.data.to_numpy(), IRIS.target)
    model = tmp_path / "iris.onnx"
    sk2tensor.convert(estimator, IRIS.data.to_numpy()).save(model)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    rows = tmp_path / "rows.json"
    rows.write_text("[[5.1, 3.5, 1.4, 0.2]]")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,4\n1,2,x,4\n")
    narrow = tmp_path / "narrow.json"
    narrow.write_text("[[1, 2, 3]]")
    cases = [
        ((truncated, rows), "is not a readable ONNX model"),
        ((model, bad), 'line 2, column 3 holds "x", which is not a number'),
        ((model, narrow), "row 1 has 3 values, the model expects 4"),
        ((model, rows, "--method", "transform"), 'no "transform" output'),
        ((model,), "usage: node predict.mjs"),
    ]
    for args, fragment in cases:
        done = run_node(example, *args)
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and fragment in done.stderr, (
            done.stderr
        )


def test_model_with_string_columns(example: Path, tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["paris", "lyon", "10", "東京"], 200),
            "age": rng.normal(40, 10, 200),
            "plan": rng.choice(["basic", "pro", "max"], 200),
        }
    )
    frame.loc[::9, "city"] = np.nan
    y = (frame["age"] > 40).to_numpy() ^ (frame["city"] == "paris").to_numpy()
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    columns = ColumnTransformer([("num", StandardScaler(), ["age"]), ("cat", categorical, ["city", "plan"])])
    estimator = make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(frame, y)
    model = tmp_path / "strings.onnx"
    sk2tensor.convert(estimator, frame).save(model)
    rows = frame.iloc[:30].copy()
    rows.loc[rows.index[1], "plan"] = "unknown"
    as_objects = tmp_path / "rows.json"
    as_objects.write_text(rows[["plan", "age", "city"]].to_json(orient="records", force_ascii=False))
    as_csv = tmp_path / "rows.csv"
    rows.to_csv(as_csv, index=False)
    for source in (as_objects, as_csv):
        got = predictions(example, model, source)
        assert got["outputs"]["predict"] == estimator.predict(rows).tolist()
        np.testing.assert_allclose(got["outputs"]["predict_proba"], estimator.predict_proba(rows), atol=1e-6)
