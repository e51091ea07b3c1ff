"""sk2tensor.ray: Ray Data scoring on a local Ray instance (2 CPUs), compared row by row with CompiledModel.

Every Ray run costs seconds (worker processes import sk2tensor), so each test runs at most one dataset. Each
pytest-xdist worker that gets tests of this module starts its own Ray instance, in its own temporary directory.
Predictions must equal the in-process ones exactly: the workers run the same graph with the same ONNX Runtime.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
import ray.data
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import sk2tensor
import sk2tensor.ray as skray
from sk2tensor.errors import InputError, ModelFileError, RuntimeUnavailableError

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
ROWS = 1200
FILES = 4


@pytest.fixture(scope="module")
def ray_local():
    # A short directory of its own: Ray's socket paths must stay under 108 characters.
    temp = tempfile.mkdtemp(prefix="sk2r-")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="warning",
        configure_logging=True,
        _temp_dir=temp,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    """The rows (model column order) and a Parquet directory of several files, columns in another order."""
    X, _ = make_classification(ROWS, len(FEATURES), n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=FEATURES)
    # A string column, missing values included: the regressor one-hot encodes it, the classifiers ignore it.
    frame["city"] = np.random.default_rng(0).choice(np.array(["paris", "lyon", "nice", None], dtype=object), ROWS)
    folder = tmp_path_factory.mktemp("parquet")
    shuffled = ["city", *reversed(FEATURES), "id"]
    for i, part in enumerate(np.array_split(np.arange(ROWS), FILES)):
        frame.iloc[part].assign(id=part)[shuffled].to_parquet(folder / f"part-{i}.parquet", index=False)
    return frame, folder


@pytest.fixture(scope="module")
def models(data, tmp_path_factory) -> dict[str, Path]:
    frame, _ = data
    numbers = frame[FEATURES]
    X = numbers.to_numpy()
    labels = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5).astype(int)
    target = make_regression(ROWS, 1, random_state=0)[1] + X[:, 0] + (frame["city"] == "nice")
    encode = ColumnTransformer([("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough")
    words = np.array(["low", "mid", "high"])
    fitted = {
        "forest": (RandomForestClassifier(8, max_depth=5, random_state=0).fit(numbers, labels), numbers),
        "strings": (make_pipeline(StandardScaler(), LogisticRegression()).fit(numbers, words[labels]), numbers),
        "ridge": (make_pipeline(encode, Ridge()).fit(frame, target), frame),  # string column "city" too
    }
    folder = tmp_path_factory.mktemp("models")
    paths = {name: sk2tensor.convert(model, X).save(folder / f"{name}.onnx") for name, (model, X) in fitted.items()}
    explained = sk2tensor.convert(fitted["forest"][0], numbers, contributions=True)
    paths["explained"] = explained.save(folder / "explained.onnx")
    return paths


def in_process(path: Path, method: str, frame: pd.DataFrame) -> np.ndarray:
    return sk2tensor.load(path, device="cpu").run(method, frame)


def by_id(scored: pd.DataFrame) -> pd.DataFrame:
    assert sorted(scored["id"]) == list(range(ROWS))  # every row once
    return scored.sort_values("id").reset_index(drop=True)


# ---------------------------------------------------------------------------------------- scoring on Ray
def test_classifiers_chained(ray_local, data, models):
    # Two models on one dataset, one run: integer labels with the default method (predict_proba), then string
    # labels with several methods in small batches. Half a CPU per worker leaves one CPU for reading.
    frame, folder = data
    dataset = ray.data.read_parquet(str(folder))
    dataset = skray.predict(dataset, models["forest"], concurrency=1, num_cpus_per_worker=0.5)
    methods = ["predict", "predict_proba", "decision_function"]
    dataset = skray.predict(
        dataset, models["strings"], method=methods, batch_size=100, concurrency=1, num_cpus_per_worker=0.5
    )
    scored = by_id(dataset.to_pandas())

    forest = [f"predict_proba_{label}" for label in range(3)]
    strings = [f"{method}_{label}" for method in methods[1:] for label in ("high", "low", "mid")]  # sorted
    assert list(scored.columns) == ["city", *reversed(FEATURES), "id", *forest, "predict", *strings]
    pd.testing.assert_frame_equal(scored[frame.columns], frame, check_dtype=False)  # inputs pass through
    np.testing.assert_array_equal(scored[forest], in_process(models["forest"], "predict_proba", frame))
    assert scored["predict"].tolist() == in_process(models["strings"], "predict", frame).tolist()
    for method in methods[1:]:
        names = [name for name in strings if name.startswith(method)]
        np.testing.assert_array_equal(scored[names], in_process(models["strings"], method, frame))


def test_contributions_become_one_column_per_class_and_feature(ray_local, data, models, tmp_path):
    frame, folder = data
    output = tmp_path / "explained"
    skray.predict_parquet(folder, models["explained"], output, methods=["contributions"], keep_columns=["id"])
    scored = by_id(pd.read_parquet(output))
    expected = in_process(models["explained"], "contributions", frame)  # [rows, 3 classes, features + 1]
    names = [f"contributions_{k}_{f}" for k in range(3) for f in [*FEATURES, "expected_value"]]
    assert list(scored.columns) == ["id", *names]
    np.testing.assert_array_equal(scored[names].to_numpy(), expected.reshape(len(expected), -1))


def test_predict_parquet_regressor_with_a_string_column(ray_local, data, models, tmp_path):
    frame, folder = data
    output = tmp_path / "scores"
    result = skray.predict_parquet(folder, models["ridge"], output, keep_columns=["id"], concurrency=1)
    assert (result.output, result.rows, result.methods, result.columns) == (output, ROWS, ("predict",), ("predict",))
    assert not [p for p in tmp_path.iterdir() if p.name != "scores"]  # no partial directory left
    scored = by_id(pd.read_parquet(output))
    assert list(scored.columns) == ["id", "predict"]
    np.testing.assert_array_equal(scored["predict"], in_process(models["ridge"], "predict", frame))
    with pytest.raises(ModelFileError, match="already exists"):
        skray.predict_parquet(folder, models["ridge"], output)


# ---------------------------------------------------------------------------------------- errors on the driver
def test_driver_errors(ray_local, data, models, tmp_path):
    _, folder = data
    dataset = ray.data.read_parquet(str(folder))
    with pytest.raises(ModelFileError, match="no such file"):
        skray.predict(dataset, tmp_path / "missing.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        skray.predict(dataset, tmp_path / "broken.onnx")
    dropped = dataset.drop_columns(["f2"])
    if dropped.schema(fetch_if_missing=False) is not None:
        with pytest.raises(InputError, match="lacks the column\\(s\\) 'f2' the model was fitted on"):
            skray.predict(dropped, models["forest"])
    else:  # this Ray (or pyarrow) knows the columns only once it runs: the workers refuse the first batch
        with pytest.raises(Exception, match="lacks the column\\(s\\) \\['f2'\\] the model was fitted on"):
            skray.predict(dropped, models["forest"]).materialize()
    with pytest.raises(InputError, match="no 'transform' output; it has predict, predict_proba"):
        skray.predict(dataset, models["forest"], method="transform")
    with pytest.raises(InputError, match="no column\\(s\\) \\['nope'\\]"):
        skray.predict(dataset, models["forest"], columns=["f0", "f1", "f2", "f3", "nope"])
    with pytest.raises(InputError, match="already has the prediction column"):
        skray.predict(dataset.rename_columns({"id": "predict"}), models["ridge"], method="predict")
    with pytest.raises(InputError, match="concurrency"):
        skray.predict(dataset, models["forest"], concurrency=0)
    with pytest.raises(skray.WorkerSetupError, match="the Ray cluster has no GPU"):
        skray.predict(dataset, models["forest"], num_gpus_per_worker=1)
    with pytest.raises(ModelFileError, match="no such file or directory"):
        skray.predict_parquet(tmp_path / "nothing", models["forest"], tmp_path / "out")


BLOCKER = """import sys


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == {package!r}:
            raise ImportError("no {package} on this worker (simulated)")


sys.meta_path.insert(0, Blocker())
"""


def without(package: str, folder: Path) -> dict:
    """Worker options whose workers cannot import ``package``: a sitecustomize module blocks it at start-up."""
    (folder / "fake").mkdir()
    (folder / "fake" / "sitecustomize.py").write_text(BLOCKER.format(package=package))
    return {"runtime_env": {"env_vars": {"PYTHONPATH": str(folder / "fake")}}}


@pytest.fixture
def no_onnxruntime(tmp_path) -> dict:
    return without("onnxruntime", tmp_path)


def test_worker_without_onnxruntime(ray_local, data, models, no_onnxruntime, tmp_path, monkeypatch):
    _, folder = data
    dataset = ray.data.read_parquet(str(folder))
    # The driver's probe finds it before any data is read.
    message = r"onnxruntime cannot be imported on a Ray worker .*simulated.*sk2tensor\[ray,cpu\]"
    with pytest.raises(skray.WorkerSetupError, match=message):
        skray.predict(dataset, models["forest"], ray_remote_args=no_onnxruntime)
    # A worker the probe did not reach (another node): its batches fail, and the run raises the same error.
    monkeypatch.setattr(skray, "_check_workers", lambda *args: None)
    output = tmp_path / "scores"
    message = r"cannot load the model \(RuntimeUnavailableError: onnxruntime.*sk2tensor\[ray,cpu\]"
    with pytest.raises(skray.WorkerSetupError, match=message):
        skray.predict_parquet(folder, models["forest"], output, concurrency=1, ray_remote_args=no_onnxruntime)
    assert list(tmp_path.iterdir()) == [tmp_path / "fake"]  # nothing written


def test_worker_without_sk2tensor(ray_local, data, models, tmp_path):
    dataset = ray.data.read_parquet(str(data[1]))
    message = r"sk2tensor cannot be imported on a Ray worker .*simulated.*sk2tensor\[ray,cpu\]"
    with pytest.raises(skray.WorkerSetupError, match=message):
        skray.predict(dataset, models["forest"], ray_remote_args=without("sk2tensor", tmp_path))


# ---------------------------------------------------------------------------------------- without Ray running
def test_scorer_without_onnxruntime_defers_a_clear_error(models, monkeypatch):
    path = models["forest"]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    scorer = skray._Scorer({path.name: path.read_bytes()}, path.name, ("predict",), "cpu", None)
    with pytest.raises(skray.WorkerSetupError, match=r"onnxruntime is not installed.*sk2tensor\[ray,cpu\]"):
        scorer(pd.DataFrame(np.zeros((2, len(FEATURES))), columns=FEATURES))


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeUnavailableError, match=r"pip install 'sk2tensor\[ray\]'"):
        skray.predict(None, "model.onnx")


def test_importing_sk2tensor_does_not_import_ray():
    code = "import sys, sk2tensor, sk2tensor.scoring, sk2tensor.cli; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------- the command line
def test_cli_predict_engine_ray(ray_local, data, models, tmp_path):
    from typer.testing import CliRunner

    from sk2tensor import cli

    frame, folder = data
    output = tmp_path / "scores"
    args = ["predict", models["forest"], folder, "-o", output, "--engine", "ray", "-m", "predict_proba"]
    result = CliRunner().invoke(cli.app, [str(a) for a in [*args, "--keep", "id", "--workers", "1"]])
    assert result.exit_code == 0, result.output
    assert f"scored {ROWS:,} rows" in result.output and "ray)" in result.output
    scored = by_id(pd.read_parquet(output))
    names = [f"predict_proba_{label}" for label in range(3)]
    assert list(scored.columns) == ["id", *names]
    np.testing.assert_array_equal(scored[names], in_process(models["forest"], "predict_proba", frame))

    bad = CliRunner().invoke(cli.app, [str(a) for a in [*args[:4], tmp_path / "out.csv", "--engine", "ray"]])
    assert bad.exit_code == 1 and "writes a directory of Parquet files" in bad.output
