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
from sklearn.cluster import DBSCAN
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
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
    cls = next(c for c in (SVC, KNeighborsClassifier, GaussianNB, LabelSpreading, DBSCAN) if c not in supported)
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


def test_custom_function_pipeline_from_a_skops_file(tmp_path: Path) -> None:
    """A FunctionTransformer holding a module's function: skops refuses to load it without --trust (loading
    imports the module); with it, the export traces the function and validates."""
    from sklearn.preprocessing import FunctionTransformer

    import tests.cases  # noqa: F401  (first: the family case modules import it)
    from tests.cases_functions import engineered

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(FunctionTransformer(engineered), StandardScaler(), LogisticRegression(max_iter=3000))
    path = tmp_path / "engineered.skops"
    skops.io.dump(model.fit(X, y), path)
    assert_error(invoke("export", path, "-o", tmp_path / "x.onnx"), "tests.cases_functions.engineered", "--trust")
    # float64: breast_cancer's unscaled row sums (~4,000) through a logistic regression exceed the float32
    # probability tolerance on the generated validation rows.
    result = invoke("export", path, "-o", tmp_path / "x.onnx", "--trust", "--dtype", "float64")
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "x.onnx"), providers=["CPUExecutionProvider"])
    rows = X[:20]
    (labels,) = session.run(["predict"], {"input": rows})
    np.testing.assert_array_equal(labels, model.predict(rows))


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
        (["predict", "MODEL", "data.csv"], "Missing option '--output'"),
        (["predict", "MODEL", "data.csv", "-o", "x.csv", "--batch-size", "0"], "--batch-size"),
        (["predict", "MODEL", "data.csv", "-o", "x.csv", "--device", "gpu"], "'gpu' is not one of"),
        (["validate", "MODEL", "x.onnx"], "Missing option '--data'"),
        (["bench", "MODEL", "--repeats", "0"], "--repeats"),
    ],
)
def test_usage_errors_exit_2_with_one_line(files: Files, args: list[str], fragment: str) -> None:
    args = [str(files.model) if a == "MODEL" else a for a in args]
    line = assert_error(invoke(*args), fragment, code=2)
    assert "--help" in line


def test_no_arguments_prints_help() -> None:
    result = invoke()
    assert result.exit_code == 2
    for command in ("export", "predict", "validate", "bench", "inspect", "list"):
        assert command in result.stderr


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


def test_list_libraries_adds_the_installed_libraries_classes() -> None:
    pytest.importorskip("imblearn")
    pytest.importorskip("category_encoders")
    result = invoke("list", "--libraries")
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert "imblearn.ensemble.BalancedRandomForestClassifier" in lines
    assert "imblearn.pipeline.Pipeline" in lines and "sklearn.pipeline.Pipeline" in lines
    assert "category_encoders.target_encoder.TargetEncoder" in lines
    assert not any("._" in line for line in lines)


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


# ----------------------------------------------------------------------------------------- predict
def read_table(path: Path) -> object:
    pd = pytest.importorskip("pandas")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def partials(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("target", ["parquet", "csv", "npy"])
@pytest.mark.parametrize("source", ["npy", "csv", "parquet"])
def test_predict_scores_each_format(files: Files, exported: Path, tmp_path: Path, source: str, target: str) -> None:
    out = tmp_path / f"scores.{target}"
    result = invoke("predict", exported, getattr(files, source), "-o", out, "--batch-size", 64, "--device", "cpu")
    assert_ok(result)
    first, second = result.stdout.splitlines()
    assert first.startswith(f"scored 150 rows of {getattr(files, source)} in ") and "rows/s, cpu)" in first
    assert second == f"wrote predict to {out}"
    table = read_table(out)
    labels = table if target == "npy" else table["predict"].to_numpy()
    np.testing.assert_array_equal(labels, files.estimator.predict(IRIS_X))


def test_predict_methods_and_columns(files: Files, exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    assert_ok(
        invoke("predict", exported, files.csv, "-o", out, "-m", "predict", "-m", "predict_proba,decision_function")
    )
    table = read_table(out)
    assert list(table.columns) == [
        "predict",
        *(f"predict_proba_{c}" for c in range(3)),
        *(f"decision_function_{c}" for c in range(3)),
    ]
    np.testing.assert_allclose(table.iloc[:, 1:4], files.estimator.predict_proba(IRIS_X), atol=1e-6)
    pd = pytest.importorskip("pandas")
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    wide = tmp_path / "wide.parquet"
    pd.DataFrame(IRIS_X[:, ::-1], columns=names[::-1]).assign(id=range(150)).to_parquet(wide)
    assert_ok(invoke("predict", exported, wide, "-o", out, "--columns", ",".join(names)))
    np.testing.assert_array_equal(read_table(out)["predict"], files.estimator.predict(IRIS_X))
    assert_error(invoke("predict", exported, wide, "-o", out), "has 5 columns, but the model expects 4", "--columns")
    assert_error(invoke("predict", exported, wide, "-o", out, "--columns", "a,b,c,d"), "has no column 'a'")


def test_predict_matches_columns_by_the_models_feature_names(tmp_path: Path) -> None:
    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    model = tmp_path / "named.skops"
    estimator = LogisticRegression(max_iter=1000).fit(frame[features], frame["target"])
    skops.io.dump(estimator, model)
    onnx_file = tmp_path / "named.onnx"
    assert_ok(invoke("export", model, "-o", onnx_file))
    data = tmp_path / "shuffled.csv"
    frame[["target", *reversed(features)]].to_csv(data, index=False)
    out = tmp_path / "scores.parquet"
    assert_ok(invoke("predict", onnx_file, data, "-o", out))
    np.testing.assert_array_equal(read_table(out)["predict"], estimator.predict(frame[features]))


def test_predict_progress_bar_only_when_asked_or_on_a_terminal(
    files: Files, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "scores.csv"
    result = invoke("predict", exported, files.csv, "-o", out, "--batch-size", 50, "--progress")
    assert result.exit_code == 0
    assert "scoring iris.csv" in result.stderr and result.stderr.endswith("\r")  # drawn, then erased
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    assert_ok(invoke("predict", exported, files.csv, "-o", out))  # a terminal, but CI: quiet
    assert cli._in_ci()
    monkeypatch.setenv("CI", "false")
    assert not cli._in_ci()


def test_predict_bad_rows_are_one_line_and_leave_no_output(exported: Path, tmp_path: Path) -> None:
    header = "sepal_length,sepal_width,petal_length,petal_width\n"
    good = "5.1,3.5,1.4,0.2\n" * 100
    out = tmp_path / "scores.parquet"
    cases = [
        (good + "5.1,3.5,abc,0.2\n", ["line 102", "column 'petal_length'", "'abc'", "not a number"]),
        (good + "5.1,3.5,1.4\n", ["line 102 has 3 fields, expected 4"]),
        (good + "5.1,3.5,1.4,0.2,9\n", ["line 102 has 5 fields, expected 4"]),
    ]
    for body, fragments in cases:
        data = tmp_path / "bad.csv"
        data.write_text(header + body)
        assert_error(invoke("predict", exported, data, "-o", out, "--batch-size", 16), str(data), *fragments)
        assert not out.exists() and partials(tmp_path) == []


def test_predict_errors(files: Files, exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    pd = pytest.importorskip("pandas")
    text = tmp_path / "text.parquet"
    pd.DataFrame({"a": [1.0], "b": [2.0], "c": ["x"], "d": [1.0]}).to_parquet(text)
    assert_error(invoke("predict", exported, text, "-o", out), "column 'c' has type", "expected numbers")
    assert_error(invoke("predict", exported, files.csv, "-o", out, "-m", "transform"), "no 'transform' output")
    assert_error(
        invoke("predict", exported, files.csv, "-o", tmp_path / "x.npy", "-m", "predict,predict_proba"),
        ".npy file holds one array",
    )
    assert_error(invoke("predict", exported, files.csv, "-o", tmp_path / "x.json"), "unknown output file type")
    assert_error(invoke("predict", exported, files.csv, "-o", files.csv), "refusing to overwrite")
    assert_error(invoke("predict", exported, files.csv, "-o", exported), "refusing to overwrite")
    assert_error(invoke("predict", exported, files.csv, "-o", tmp_path / "no" / "x.csv"), "does not exist")
    assert_error(invoke("predict", tmp_path / "absent.onnx", files.csv, "-o", out), "no such ONNX file")
    assert_error(invoke("predict", exported, tmp_path / "absent.csv", "-o", out), "no such data file")
    assert_error(invoke("predict", files.model, files.csv, "-o", out), str(files.model), "not a readable ONNX model")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert_error(invoke("predict", exported, files.csv, "-o", out, "--device", "cuda"), "device='cuda' needs")
    assert not out.exists()


# ----------------------------------------------------------------------------------------- validate
def test_validate_prints_the_report(files: Files, exported: Path) -> None:
    result = invoke("validate", files.model, exported, "--data", files.parquet)
    assert_ok(result)
    assert "validation on 150 rows (float32): passed" in result.stdout
    assert "predict: label agreement 100.0000% [ok]" in result.stdout


def test_validate_fails_with_status_1_when_the_export_disagrees(files: Files, exported: Path, tmp_path: Path) -> None:
    other = make_pipeline(StandardScaler(), LogisticRegression()).fit(IRIS_X, IRIS_Y[::-1])  # same class and width
    model = tmp_path / "other.skops"
    skops.io.dump(other, model)
    result = invoke("validate", model, exported, "--data", files.npy)
    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "[FAIL]" in result.stdout
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {exported} disagrees with {model} beyond tolerance (predict")


def test_validate_refuses_a_model_that_is_not_the_exports_source(files: Files, exported: Path, tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    model = tmp_path / "ridge.skops"
    skops.io.dump(Ridge().fit(X, y), model)
    assert_error(
        invoke("validate", model, exported, "--data", files.npy),
        "was exported from sklearn.pipeline.Pipeline",
        "holds sklearn.linear_model.Ridge",
    )
    narrow = tmp_path / "narrow.skops"
    skops.io.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(IRIS_X[:, :3], IRIS_Y), narrow)
    assert_error(invoke("validate", narrow, exported, "--data", files.npy), "reads 4 features", "fitted on 3")
    pickled = tmp_path / "iris.pkl"
    joblib.dump(files.estimator, pickled)
    assert_error(invoke("validate", pickled, exported, "--data", files.npy), "refusing to load", "--trust")
    assert_ok(invoke("validate", pickled, exported, "--data", files.npy, "--trust"))


# ----------------------------------------------------------------------------------------- bench
def test_bench_on_generated_rows(files: Files) -> None:
    result = invoke("bench", files.model, "--rows", 2000, "--repeats", 2, "--device", "cpu")
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "Pipeline.predict on 2,000 rows x 4 features (generated rows); median of 2 after a warm-up"
    assert lines[1].startswith("  export: converted and validated in ")
    assert lines[2].startswith("  sklearn ") and lines[2].endswith("rows/s")
    assert lines[3].startswith("  sk2tensor (cpu) ") and lines[3].endswith("rows/s")
    assert lines[4].startswith("  ratio: sk2tensor runs at ") and lines[4].endswith("x sklearn's speed")


def test_bench_on_data_and_an_existing_export_as_json(files: Files, exported: Path) -> None:
    result = invoke(
        "bench", files.model, "--data", files.csv, "--onnx", exported, "-m", "predict_proba", "--repeats", 1, "--json"
    )
    assert_ok(result)
    info = json.loads(result.stdout)
    assert info["rows"] == 150 and info["features"] == 4 and info["method"] == "predict_proba"
    assert info["data"] == str(files.csv) and info["repeats"] == 1
    assert info["speedup"] == pytest.approx(info["sklearn_seconds"] / info["sk2tensor_seconds"])
    assert info["sk2tensor_rows_per_second"] == pytest.approx(150 / info["sk2tensor_seconds"])


def test_bench_errors(files: Files, exported: Path, tmp_path: Path) -> None:
    assert_error(invoke("bench", files.model, "--onnx", exported, "-m", "transform"), "no 'transform' output")
    data = tmp_path / "wide.npy"
    np.save(data, np.zeros((5, 6)))
    assert_error(invoke("bench", files.model, "--data", data), "6 features", "fitted on 4")
    pickled = tmp_path / "iris.joblib"
    joblib.dump(files.estimator, pickled)
    assert_error(invoke("bench", pickled), "refusing to load", "--trust")


# ----------------------------------------------------------------------------------------- inspect providers
def test_inspect_lists_execution_providers_and_portability(exported: Path) -> None:
    result = invoke("inspect", exported)
    assert_ok(result)
    out = result.stdout
    assert f"execution providers (onnxruntime {ort.__version__}; each alone, no fallback to the CPU):" in out
    assert "  CPUExecutionProvider: runs every node" in out
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "  CUDAExecutionProvider: not available here (this onnxruntime has no CUDA provider" in out
    assert "portability:" in out and "default-domain (ai.onnx) operators, none from ai.onnx.ml" in out
    assert "the graph computes shapes at run time" not in out
    quiet = invoke("inspect", exported, "--no-providers")
    assert_ok(quiet)
    assert "execution providers" not in quiet.stdout
    info = json.loads(invoke("inspect", exported, "--json").stdout)
    cpu = next(p for p in info["providers"]["providers"] if p["provider"] == "CPUExecutionProvider")
    assert cpu["status"] == "runs every node"


def test_inspect_reports_a_provider_that_refuses_the_graph(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A strict session (CPU fallback disabled) on a provider that cannot place the nodes is refused; the
    Azure provider of the CPU wheel, normally skipped, shows it without a GPU."""
    if "AzureExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no AzureExecutionProvider to refuse the graph")
    monkeypatch.setattr(cli, "_NOT_COMPUTE_PROVIDERS", {})
    result = invoke("inspect", exported)
    assert_ok(result)
    line = next(x for x in result.stdout.splitlines() if x.startswith("  AzureExecutionProvider:"))
    assert line.startswith("  AzureExecutionProvider: refused (") and "ONNXRuntimeError" not in line


def test_portability_notes_name_foreign_and_shape_operators() -> None:
    notes = cli.portability_notes({"ai.onnx.ml.TreeEnsembleClassifier": 1, "Shape": 2, "Add": 1})
    assert notes[0].startswith("1 of 4 nodes are outside the default domain: ai.onnx.ml.TreeEnsembleClassifier x1")
    assert "CPU kernels only" in notes[0]
    assert "the graph computes shapes at run time (Shape x2)" in notes[1]


def test_inspect_without_onnxruntime_says_providers_were_not_checked(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = invoke("inspect", exported)
    assert_ok(result)
    assert "execution providers: not checked (onnxruntime is not installed" in result.stdout


def test_commands_on_a_model_saved_with_external_data(
    files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past protobuf's 2 GB, export writes the tensors to ``<name>.data``; every command reads such a model (the
    threshold is lowered so that a small model takes that path; onnx moves tensors of 1 KiB and more)."""
    from sk2tensor import model as model_module

    monkeypatch.setattr(model_module, "_EXTERNAL_DATA_BYTES", 0)
    X = np.random.default_rng(0).normal(size=(200, 300))
    y = (X[:, 0] > 0).astype(int)
    model = tmp_path / "wide.skops"
    skops.io.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), model)
    data = tmp_path / "wide.npy"
    np.save(data, X)
    out = tmp_path / "wide.onnx"
    assert_ok(invoke("export", model, "-o", out, "--validate", data))
    assert (tmp_path / "wide.onnx.data").is_file()
    result = invoke("inspect", out)
    assert_ok(result)
    assert "CPUExecutionProvider: runs every node" in result.stdout
    assert_ok(invoke("validate", model, out, "--data", data))
    scores = tmp_path / "scores.npy"
    assert_ok(invoke("predict", out, data, "-o", scores))
    expected = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y).predict(X)
    np.testing.assert_array_equal(np.load(scores), expected)


# ----------------------------------------------------------------------------------------- damaged files, every command
def truncated_copy(source: Path, directory: Path) -> Path:
    target = directory / f"truncated{source.suffix}"
    content = source.read_bytes()
    target.write_bytes(content[: len(content) // 2])
    return target


@pytest.mark.parametrize(
    ("command", "damaged"),
    [
        ("export", "skops"),
        ("export", "csv"),
        ("export", "parquet"),
        ("export", "npy"),
        ("predict", "onnx"),
        ("predict", "csv"),
        ("predict", "parquet"),
        ("predict", "npy"),
        ("validate", "skops"),
        ("validate", "onnx"),
        ("validate", "parquet"),
        ("bench", "skops"),
        ("bench", "onnx"),
        ("bench", "npy"),
        ("inspect", "onnx"),
    ],
)
def test_truncated_files_are_one_line_errors(
    files: Files, exported: Path, tmp_path: Path, command: str, damaged: str
) -> None:
    paths = {"skops": files.model, "onnx": exported, "csv": files.csv, "parquet": files.parquet, "npy": files.npy}
    paths[damaged] = bad = truncated_copy(paths[damaged], tmp_path)
    data = paths["npy"] if damaged not in ("csv", "parquet") else paths[damaged]
    out = tmp_path / "out.onnx" if command == "export" else tmp_path / "out.parquet"
    args = {
        "export": ["export", paths["skops"], "-o", out, "--validate", data],
        "predict": ["predict", paths["onnx"], data, "-o", out],
        "validate": ["validate", paths["skops"], paths["onnx"], "--data", data],
        "bench": ["bench", paths["skops"], "--onnx", paths["onnx"], "--data", data, "--repeats", 1],
        "inspect": ["inspect", paths["onnx"]],
    }[command]
    assert_error(invoke(*args), str(bad))
    assert not out.exists() and partials(tmp_path) == []


# ----------------------------------------------------------------------------------------- new commands, real processes
def test_console_script_predict_validate_bench_inspect(files: Files, exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    done = run(console_script(), "predict", exported, files.parquet, "-o", out, "-m", "predict_proba")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not a terminal: no progress bar
    assert "scored 150 rows" in done.stdout and "rows/s" in done.stdout
    np.testing.assert_allclose(read_table(out).to_numpy(), files.estimator.predict_proba(IRIS_X), atol=1e-6)
    done = run(console_script(), "validate", files.model, exported, "--data", files.csv)
    assert done.returncode == 0, done.stderr
    assert "validation on 150 rows (float32): passed" in done.stdout
    done = run(console_script(), "bench", files.model, "--rows", 1000, "--repeats", 1, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "ratio: sk2tensor runs at " in done.stdout
    done = run(console_script(), "inspect", exported)
    assert done.returncode == 0 and "CPUExecutionProvider: runs every node" in done.stdout
    assert done.stderr == ""  # onnxruntime's own log stays quiet


def test_console_script_errors_of_new_commands_are_one_line(files: Files, exported: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c,d\n1,2,3,4\n1,2,3,x\n")
    out = tmp_path / "scores.csv"
    for args in (
        ["predict", exported, bad, "-o", out],
        ["validate", files.model, truncated_copy(exported, tmp_path), "--data", files.csv],
        ["bench", truncated_copy(files.model, tmp_path)],
    ):
        done = run(console_script(), *args)
        assert done.returncode == 1, done.stdout
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert not out.exists()


@pytest.mark.parametrize("library", ["catboost", "xgboost", "lightgbm"])
def test_export_of_a_boosting_librarys_own_model_file(tmp_path: Path, library: str) -> None:
    module = pytest.importorskip(library)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    if library == "catboost":
        model = module.CatBoostClassifier(iterations=10, verbose=0, allow_writing_files=False).fit(X, y)
        path = tmp_path / "model.cbm"
        model.save_model(str(path))
    elif library == "xgboost":
        model = module.XGBClassifier(n_estimators=10).fit(X, y)
        path = tmp_path / "model.ubj"
        model.get_booster().save_model(path)  # XGBoost 2.1's wrapper cannot save with scikit-learn 1.8
    else:
        model = module.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
        path = tmp_path / "model.txt"
        model.booster_.save_model(path)
    data = tmp_path / "rows.npy"
    np.save(data, X)
    out = tmp_path / "model.onnx"
    result = invoke("export", path, "-o", out, "--validate", data)  # no --trust: these files hold no code
    assert_ok(result)
    assert "passed" in result.stdout
    # A LightGBM text model loads as a Booster: its predict is the positive class's probability.
    name, expected = ("predict", model.predict_proba(X)[:, 1]) if library == "lightgbm" else ("predict_proba", None)
    (got,) = fresh_session(out).run([name], {"input": X.astype(np.float32)})
    np.testing.assert_allclose(got, model.predict_proba(X) if expected is None else expected, atol=1e-6)
