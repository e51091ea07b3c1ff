"""fit_stream: partial_fit over CSV and Parquet files in chunks, pipelines step by step, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import IncrementalPCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sk2tensor
from sk2tensor.errors import InputError, ModelFileError, UnsupportedEstimatorError


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


@pytest.fixture(params=[".csv", ".parquet"])
def classification_file(request, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    X, y = make_classification(3000, 6, n_informative=4, n_classes=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["label"] = np.array(["ant", "bee", "cat"])[y]
    return _write(frame, tmp_path / f"train{request.param}"), frame


def test_streamed_fit_equals_the_same_partial_fits_in_memory(classification_file) -> None:
    path, frame = classification_file
    streamed = sk2tensor.fit_stream(SGDClassifier(random_state=0), path, target="label", chunksize=700)
    manual = SGDClassifier(random_state=0)
    X, y = frame.drop(columns="label").to_numpy(), frame["label"].to_numpy()
    for start in range(0, len(X), 700):
        manual.partial_fit(X[start : start + 700], y[start : start + 700], classes=np.array(["ant", "bee", "cat"]))
    np.testing.assert_array_equal(streamed.coef_, manual.coef_)
    assert list(streamed.classes_) == ["ant", "bee", "cat"]


def test_streamed_pipeline_fits_each_step_on_the_whole_file_and_exports(classification_file) -> None:
    path, frame = classification_file
    pipeline = make_pipeline(StandardScaler(), IncrementalPCA(4), GaussianNB())
    sk2tensor.fit_stream(pipeline, path, target="label", chunksize=500, classes=["ant", "bee", "cat"])
    X = frame.drop(columns="label").to_numpy()
    np.testing.assert_allclose(pipeline[0].mean_, X.mean(axis=0), rtol=1e-10)
    compiled = sk2tensor.convert(pipeline, X)
    assert compiled.validation.passed


def test_regressor_with_epochs_and_selected_features(tmp_path: Path) -> None:
    X, y = make_regression(2000, 5, noise=1.0, random_state=1)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(y=y)
    path = _write(frame, tmp_path / "r.parquet")
    model = sk2tensor.fit_stream(
        SGDRegressor(random_state=0), path, target="y", features=["a", "c"], epochs=3, chunksize=400
    )
    assert model.coef_.shape == (2,) and model.n_features_in_ == 2


def test_errors_are_clear(tmp_path: Path, classification_file) -> None:
    path, frame = classification_file
    with pytest.raises(UnsupportedEstimatorError, match=r"no partial_fit.*SGDClassifier"):
        sk2tensor.fit_stream(RandomForestClassifier(), path, target="label")
    with pytest.raises(InputError, match="no target column 'nope'"):
        sk2tensor.fit_stream(SGDClassifier(), path, target="nope")
    with pytest.raises(InputError, match="no feature column"):
        sk2tensor.fit_stream(SGDClassifier(), path, target="label", features=["f0", "zz"])
    with pytest.raises(ModelFileError, match="no such file"):
        sk2tensor.fit_stream(SGDClassifier(), tmp_path / "missing.csv", target="label")
    with pytest.raises(ModelFileError, match=r"\.csv or \.parquet"):
        sk2tensor.fit_stream(SGDClassifier(), Path(__file__), target="label")
    holes = frame.copy()
    holes.loc[1234, "label"] = None
    with pytest.raises(InputError, match="missing"):
        sk2tensor.fit_stream(
            SGDClassifier(),
            _write(holes, tmp_path / "holes.csv"),
            target="label",
            classes=["ant", "bee", "cat"],
            chunksize=1000,
        )
    with pytest.raises(InputError, match="missing"):
        sk2tensor.fit_stream(SGDClassifier(), _write(holes, tmp_path / "holes2.csv"), target="label")


# ----------------------------------------------------------------------------- sk2tensor train
def test_train_command_fits_saves_and_exports(tmp_path: Path) -> None:
    import skops.io
    from typer.testing import CliRunner

    from sk2tensor.cli import app

    X, y = make_classification(3000, 5, random_state=3)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(label=np.array([10, 20])[y])
    data = _write(frame, tmp_path / "train.parquet")
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(data),
            "--target",
            "label",
            "--estimator",
            "sgd-classifier",
            "--scale",
            "-o",
            str(tmp_path / "m.skops"),
            "--export",
            str(tmp_path / "m.onnx"),
            "--chunksize",
            "700",
            "--classes",
            "10,20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "passed" in result.output
    model = skops.io.load(tmp_path / "m.skops", trusted=skops.io.get_untrusted_types(file=tmp_path / "m.skops"))
    assert list(model.classes_) == [10, 20]
    compiled = sk2tensor.load(tmp_path / "m.onnx", device="cpu")
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X.astype(np.float32)))


def test_train_command_errors_are_one_line(tmp_path: Path) -> None:
    data = _write(pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}), tmp_path / "d.csv")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sk2tensor.cli",
            "train",
            str(data),
            "--target",
            "nope",
            "--estimator",
            "gaussian-nb",
            "-o",
            str(tmp_path / "m.skops"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "no target column 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
