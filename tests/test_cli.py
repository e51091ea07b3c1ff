"""The ``sk2tensor`` command line, through typer's test runner and as the installed console script."""

from __future__ import annotations

import fractions
import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from typer.testing import CliRunner, Result

import sk2tensor
from sk2tensor import cli
from sk2tensor.errors import ValidationError

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
runner = CliRunner()


@dataclass(frozen=True)
class Files:
    """A fitted iris pipeline saved with skops, and its rows as .npy, .csv and .parquet."""

    root: Path
    model: Path
    npy: Path
    csv: Path
    parquet: Path
    estimator: object


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("cli")
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(IRIS_X, IRIS_Y)
    model = root / "iris.skops"
    skops.io.dump(estimator, model)
    npy, csv, parquet = root / "iris.npy", root / "iris.csv", root / "iris.parquet"
    np.save(npy, IRIS_X)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    header = ",".join(names)
    np.savetxt(csv, IRIS_X, delimiter=",", header=header, comments="", fmt="%.17g")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame(IRIS_X, columns=names).to_parquet(parquet)
    return Files(root, model, npy, csv, parquet, estimator)


def invoke(*args: object) -> Result:
    # catch_exceptions=False: an exception the CLI lets escape fails the test instead of being captured.
    return runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert result.stderr == "", result.stderr


def assert_error(result: Result, *fragments: str, code: int = 1) -> str:
    """One ``error: ...`` line on stderr, nothing on stdout, exit status ``code``, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def fresh_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------------------- export
def test_export_skops_validates_on_generated_rows_and_runs_in_plain_onnxruntime(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "iris.onnx"
    result = invoke("export", files.model, "-o", out)
    assert_ok(result)
    assert f"exported Pipeline to {out}" in result.stdout
    assert "outputs: predict, predict_proba, decision_function" in result.stdout
    assert "generated rows" in result.stdout
    assert "validation on 512 rows (float32): passed" in result.stdout
    session = fresh_session(out)
    assert [i.name for i in session.get_inputs()] == ["input"]
    labels, proba = session.run(["predict", "predict_proba"], {"input": IRIS_X.astype(np.float32)})
    np.testing.assert_array_equal(labels, files.estimator.predict(IRIS_X))
    np.testing.assert_allclose(proba, files.estimator.predict_proba(IRIS_X), atol=1e-5)


@pytest.mark.parametrize("kind", ["npy", "csv", "parquet"])
def test_export_validates_on_data_files(files: Files, tmp_path: Path, kind: str) -> None:
    data = getattr(files, kind)
    result = invoke("export", files.model, "-o", tmp_path / "iris.onnx", "--validate", data)
    assert_ok(result)
    assert f"validated on rows of {data}" in result.stdout
    assert "validation on 150 rows (float32): passed" in result.stdout
    assert "predict: label agreement 100.0000% [ok]" in result.stdout


def test_export_options_reach_the_file(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    model = tmp_path / "ridge.skops"
    skops.io.dump(Ridge().fit(X, y), model)
    out = tmp_path / "ridge.onnx"
    assert_ok(invoke("export", model, "-o", out, "--dtype", "float64", "--opset", "17", "--n-features", "10"))
    info = json.loads(invoke("inspect", out, "--json").stdout)
    assert info["opset"] == {"ai.onnx": 17}
    assert info["inputs"] == [{"name": "input", "dtype": "float64", "shape": ["batch", 10]}]
    assert info["metadata"]["input_dtype"] == "float64"
    assert info["metadata"]["estimator_class"] == "sklearn.linear_model.Ridge"
    np.testing.assert_allclose(fresh_session(out).run(["predict"], {"input": X})[0], Ridge().fit(X, y).predict(X))


def test_export_of_a_model_fitted_on_named_columns_matches_data_columns_by_name(tmp_path: Path) -> None:
    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    model = tmp_path / "named.skops"
    skops.io.dump(LogisticRegression(max_iter=1000).fit(frame[features], frame["target"]), model)
    shuffled = tmp_path / "shuffled.csv"
    frame[["target", *reversed(features)]].to_csv(shuffled, index=False)  # other order, plus the target
    out = tmp_path / "named.onnx"
    assert_ok(invoke("export", model, "-o", out, "--validate", shuffled))
    metadata = json.loads(invoke("inspect", out, "--json").stdout)["metadata"]
    assert metadata["feature_names"] == features
    frame[features[:2]].to_csv(tmp_path / "partial.csv", index=False)
    assert_error(
        invoke("export", model, "-o", out, "--validate", tmp_path / "partial.csv"),
        "lacks the column(s)",
        repr(features[2]),
    )


# ----------------------------------------------------------------------------------------- trust
@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_pickles_need_trust(files: Files, tmp_path: Path, suffix: str) -> None:
    model = tmp_path / f"iris{suffix}"
    joblib.dump(files.estimator, model)
    out = tmp_path / "iris.onnx"
    assert_error(invoke("export", model, "-o", out), "refusing to load", "arbitrary code", "--trust")
    assert not out.exists()
    assert_ok(invoke("export", model, "-o", out, "--trust"))
    assert out.is_file()


def test_skops_file_with_untrusted_types_needs_trust(tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    estimator.note_ = fractions.Fraction(1, 3)  # a type skops does not trust by default
    model = tmp_path / "noted.skops"
    skops.io.dump(estimator, model)
    out = tmp_path / "noted.onnx"
    assert_error(invoke("export", model, "-o", out), "fractions.Fraction", "--trust")
    assert_ok(invoke("export", model, "-o", out, "--trust"))


# ----------------------------------------------------------------------------------------- export errors
def unsupported_estimator() -> object:
    supported = set(sk2tensor.supported())
    cls = next(c for c in (SVC, KNeighborsClassifier, GaussianNB) if c not in supported)
    return cls().fit(IRIS_X, IRIS_Y)


def test_unsupported_estimator(tmp_path: Path) -> None:
    estimator = unsupported_estimator()
    model = tmp_path / "unsupported.skops"
    skops.io.dump(estimator, model)
    assert_error(
        invoke("export", model, "-o", tmp_path / "x.onnx"),
        f"cannot convert sklearn.{type(estimator).__module__.split('.')[1]}.{type(estimator).__name__}",
        "LogisticRegression",
    )


def test_unfitted_estimator(tmp_path: Path) -> None:
    model = tmp_path / "unfitted.skops"
    skops.io.dump(LogisticRegression(), model)
    assert_error(invoke("export", model, "-o", tmp_path / "x.onnx"), "LogisticRegression", "not fitted")


def test_wrong_feature_count(files: Files, tmp_path: Path) -> None:
    data = tmp_path / "cancer.npy"
    np.save(data, load_breast_cancer().data[:20])
    assert_error(
        invoke("export", files.model, "-o", tmp_path / "x.onnx", "--validate", data), "30 features", "fitted on 4"
    )


def test_data_sklearn_rejects_is_one_line(files: Files, tmp_path: Path) -> None:
    data = tmp_path / "nan.csv"
    data.write_text("a,b,c,d\n1,2,3,\n")
    assert_error(invoke("export", files.model, "-o", tmp_path / "x.onnx", "--validate", data), "NaN")


def test_strategy_for_a_model_without_trees(files: Files, tmp_path: Path) -> None:
    assert_error(invoke("export", files.model, "-o", tmp_path / "x.onnx", "--strategy", "gemm"), "strategy='gemm'")


def test_validation_failure_is_one_line(files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disagreeing(*args: object, **kwargs: object) -> None:
        summary = "validation on 10 rows (float32): FAILED\n  predict_proba: max abs diff 0.1 [FAIL]"
        raise ValidationError(f"the export of Pipeline disagrees with sklearn:\n{summary}", report=None)  # type: ignore[arg-type]

    monkeypatch.setattr(sk2tensor, "convert", disagreeing)
    line = assert_error(invoke("export", files.model, "-o", tmp_path / "x.onnx"))
    assert line == (
        "error: the export of Pipeline disagrees with sklearn: validation on 10 rows (float32): FAILED; "
        "predict_proba: max abs diff 0.1 [FAIL]"
    )
    assert not (tmp_path / "x.onnx").exists()


def test_unexpected_error_is_one_line_unless_debugging(
    files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(sk2tensor, "convert", broken)
    assert_error(invoke("export", files.model, "-o", tmp_path / "x.onnx"), "RuntimeError: something; broke")
    monkeypatch.setenv("SK2TENSOR_DEBUG", "1")
    with pytest.raises(RuntimeError):
        invoke("export", files.model, "-o", tmp_path / "x.onnx")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("model.skops", b"not a zip archive", "not a readable skops file"),
        ("model.skops", b"", "not a readable skops file"),
        ("model.joblib", b"\x80\x04junk", "not a readable .joblib file"),
        ("model.onnx", b"", "unknown model file type '.onnx'"),
    ],
)
def test_unreadable_model_files(tmp_path: Path, name: str, content: bytes, fragment: str) -> None:
    model = tmp_path / name
    model.write_bytes(content)
    assert_error(invoke("export", model, "-o", tmp_path / "x.onnx", "--trust"), str(model), fragment)


def test_truncated_skops_file(files: Files, tmp_path: Path) -> None:
    model = tmp_path / "truncated.skops"
    model.write_bytes(files.model.read_bytes()[:-100])
    assert_error(invoke("export", model, "-o", tmp_path / "x.onnx"), "not a readable skops file")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("data.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (150, 4), }", ".npy"),
        ("data.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
        ("data.csv", b"a,b,c,d\n1,2,3,x\n", "column 'd', line 2 holds 'x'"),
        ("data.txt", b"1,2,3,4\n", "unknown data file type '.txt'"),
    ],
)
def test_unreadable_data_files(files: Files, tmp_path: Path, name: str, content: bytes, fragment: str) -> None:
    data = tmp_path / name
    data.write_bytes(content)
    assert_error(invoke("export", files.model, "-o", tmp_path / "x.onnx", "--validate", data), str(data), fragment)


def test_missing_files(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    assert_error(invoke("export", tmp_path / "absent.skops", "-o", out), "no such model file", "absent.skops")
    assert_error(invoke("export", files.model, "-o", out, "--validate", tmp_path / "absent.csv"), "no such data file")
    assert_error(invoke("inspect", tmp_path / "absent.onnx"), "no such ONNX file", "absent.onnx")


def test_unwritable_output(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "x.onnx"
    assert_error(invoke("export", files.model, "-o", out), f"cannot write {out}")
    assert_error(invoke("export", files.model, "-o", files.model), "refusing to overwrite")
    assert_error(invoke("export", files.model, "-o", files.npy, "--validate", files.npy), "refusing to overwrite")


def test_warnings_are_one_line_each(files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    convert = sk2tensor.convert

    def warning_convert(*args: object, **kwargs: object) -> sk2tensor.CompiledModel:
        warnings.warn("first line\n  second line", UserWarning, stacklevel=1)
        return convert(*args, **kwargs)

    monkeypatch.setattr(sk2tensor, "convert", warning_convert)
    result = invoke("export", files.model, "-o", tmp_path / "x.onnx")
    assert result.exit_code == 0
    assert result.stderr == "warning: first line; second line (UserWarning)\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["export", "MODEL"], "Missing option '--output'"),
        (["export", "MODEL", "-o", "x.onnx", "--strategy", "fastest"], "'fastest' is not one of"),
        (["export", "MODEL", "-o", "x.onnx", "--dtype", "float16"], "'float16' is not one of"),
        (["export", "MODEL", "-o", "x.onnx", "--opset", "abc"], "'--opset'"),
        (["export", "MODEL", "-o", "x.onnx", "--opset", "0"], "--opset"),
        (["inspect"], "Missing argument"),
        (["convert"], "No such command 'convert'"),
        (["list", "--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_exit_2_with_one_line(files: Files, args: list[str], fragment: str) -> None:
    args = [str(files.model) if a == "MODEL" else a for a in args]
    line = assert_error(invoke(*args), fragment, code=2)
    assert "--help" in line


def test_no_arguments_prints_help() -> None:
    result = invoke()
    assert result.exit_code == 2
    assert "export" in result.stderr and "inspect" in result.stderr and "list" in result.stderr


# ----------------------------------------------------------------------------------------- inspect
@pytest.fixture(scope="module")
def exported(files: Files) -> Path:
    out = files.root / "inspected.onnx"
    assert_ok(invoke("export", files.model, "-o", out, "--validate", files.npy))
    return out


def test_inspect_shows_inputs_outputs_metadata_and_op_counts(exported: Path) -> None:
    result = invoke("inspect", exported)
    assert_ok(result)
    out = result.stdout
    assert f"file: {exported} (" in out
    assert "ir version: " in out and "opset: ai.onnx 13" in out
    assert "  input: float32 [batch, 4]" in out
    assert "  predict_proba: float32 [batch, 3]" in out
    assert "  estimator_class: sklearn.pipeline.Pipeline" in out
    assert "  classes: [0, 1, 2]" in out
    assert "  validation: passed on 150 rows (float32)" in out
    assert "operators (" in out
    assert any(line.split() == ["Gemm", "1"] for line in out.splitlines()), out


def test_inspect_json(exported: Path) -> None:
    result = invoke("inspect", exported, "--json")
    assert_ok(result)
    info = json.loads(result.stdout)
    model = sk2tensor.load(exported, device="cpu")
    assert info["size_bytes"] == exported.stat().st_size
    assert [o["name"] for o in info["outputs"]] == list(model.outputs)
    assert info["metadata"]["classes"] == [0, 1, 2]
    assert info["metadata"]["validation"]["passed"] is True
    assert info["op_counts"]["Gemm"] == 1
    assert sum(info["op_counts"].values()) == info["nodes"] == len(model.onnx.graph.node)


def test_inspect_needs_no_onnxruntime(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert_ok(invoke("inspect", exported))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "directory"])
def test_inspect_unreadable_onnx(exported: Path, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "damaged.onnx"
    if damage == "garbage":
        path.write_bytes(b"\x00\xff this is no protobuf \x01\x02" * 10)
    elif damage == "truncated":
        path.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    assert_error(invoke("inspect", path), str(path))


# ----------------------------------------------------------------------------------------- list, version
def test_list_names_every_supported_class() -> None:
    result = invoke("list")
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert "sklearn.linear_model.LogisticRegression" in lines
    assert "sklearn.pipeline.Pipeline" in lines
    assert len(lines) == len(sk2tensor.supported())


def test_version() -> None:
    result = invoke("--version")
    assert_ok(result)
    assert result.stdout == f"sk2tensor {sk2tensor.__version__}\n"


# ----------------------------------------------------------------------------------------- real processes
def console_script() -> list[str]:
    script = Path(sys.executable).with_name("sk2tensor")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sk2tensor.cli"]


def run(command: list[str], *args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("SK2TENSOR_DEBUG", None)
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_console_script_exports(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "script.onnx"
    done = run(console_script(), "export", files.model, "-o", out, "--validate", files.csv)
    assert done.returncode == 0, done.stderr
    assert "validation on 150 rows (float32): passed" in done.stdout
    assert fresh_session(out).run(["predict"], {"input": IRIS_X[:5].astype(np.float32)})[0].tolist() == [0] * 5


def test_module_entry_point_reports_errors_on_one_line(files: Files, tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    joblib.dump(files.estimator, model)
    done = run([sys.executable, "-m", "sk2tensor.cli"], "export", model, "-o", tmp_path / "x.onnx")
    assert done.returncode == 1
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: refusing to load")
