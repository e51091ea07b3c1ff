"""sk2tensor.scoring: streamed batch scoring of data files (and arrays) into .parquet/.csv/.npy files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sk2tensor
from sk2tensor import loading
from sk2tensor import model as model_module
from sk2tensor.errors import InputError, ModelFileError
from sk2tensor.scoring import _npy_header, iter_scores, score_file

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyarrow.csv")

IRIS = load_iris(as_frame=True)
NAMES = list(IRIS.data.columns)
X = IRIS.data.to_numpy()
LABELS = np.array(["setosa", "versicolor", "virginica"])[IRIS.target.to_numpy()]
SPLIT_BATCH = 64  # iris's 150 rows in three batches, the last one partial


@pytest.fixture(scope="module")
def classifier() -> object:
    """Fitted on a DataFrame (feature names) with string labels: the model's metadata carries both."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(IRIS.data, LABELS)


@pytest.fixture(scope="module")
def exported(classifier: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scoring") / "iris.onnx"
    sk2tensor.convert(classifier, IRIS.data).save(path)
    return path


@pytest.fixture(scope="module")
def compiled(exported: Path) -> sk2tensor.CompiledModel:
    return sk2tensor.load(exported, device="cpu")


def write_data(directory: Path, kind: str, frame: object = None) -> Path:
    frame = IRIS.data if frame is None else frame
    path = directory / f"rows.{kind}"
    if kind == "npy":
        np.save(path, frame.to_numpy())
    elif kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def read_output(path: Path) -> object:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


# ----------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("source", ["npy", "csv", "parquet"])
@pytest.mark.parametrize("target", ["parquet", "csv"])
def test_every_source_to_every_table_format(
    classifier: object, compiled: sk2tensor.CompiledModel, tmp_path: Path, source: str, target: str
) -> None:
    data = write_data(tmp_path, source)
    out = tmp_path / f"scores.{target}"
    result = score_file(compiled, data, out, methods=["predict", "predict_proba"], batch_size=SPLIT_BATCH)
    assert result.rows == 150 and result.output == out and result.rows_per_second > 0
    expected_columns = ["predict", *(f"predict_proba_{c}" for c in ("setosa", "versicolor", "virginica"))]
    assert list(result.columns) == expected_columns
    frame = read_output(out)
    assert list(frame.columns) == expected_columns
    np.testing.assert_array_equal(frame["predict"].to_numpy(), classifier.predict(IRIS.data))
    np.testing.assert_allclose(frame.iloc[:, 1:].to_numpy(), classifier.predict_proba(IRIS.data), atol=1e-6)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("source", ["npy", "csv", "parquet"])
@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_npy_output_holds_one_method_shaped_as_sklearn(
    classifier: object, compiled: sk2tensor.CompiledModel, tmp_path: Path, source: str, method: str
) -> None:
    out = tmp_path / "scores.npy"
    score_file(compiled, write_data(tmp_path, source), out, methods=[method], batch_size=SPLIT_BATCH)
    got = np.load(out, allow_pickle=False)
    expected = getattr(classifier, method)(IRIS.data)
    assert got.shape == expected.shape
    if method == "predict":
        assert got.dtype.kind == "U"
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_npy_header_is_rewritten_in_place_with_the_row_count() -> None:
    reserved = _npy_header(np.dtype("<f8"), ((1 << 63) - 1, 3))
    final = _npy_header(np.dtype("<f8"), (7, 3), len(reserved))
    assert len(final) == len(reserved) and len(reserved) % 64 == 0
    with pytest.raises(ValueError, match="does not fit"):
        _npy_header(np.dtype("<f8"), ((1 << 63) - 1, 3), 64)


def test_regressor_and_the_default_method(tmp_path: Path) -> None:
    ridge = Ridge().fit(X, X[:, 0] * 2)
    path = tmp_path / "ridge.onnx"
    sk2tensor.convert(ridge, X).save(path)
    out = tmp_path / "ridge.csv"
    result = score_file(path, write_data(tmp_path, "npy"), out, device="cpu")
    assert result.columns == ("predict",)
    np.testing.assert_allclose(read_output(out)["predict"], ridge.predict(X), rtol=1e-5, atol=1e-4)


def test_multi_output_probabilities_get_a_column_per_target_and_class(tmp_path: Path) -> None:
    """A multi-output classifier's predict_proba (sklearn: a list of arrays) is written one column per target and
    class, predict_proba_<target>_<class index>, in every format."""
    from sklearn.multioutput import MultiOutputClassifier

    Y = np.c_[X[:, 0] > 5.5, np.digitize(X[:, 2], [2.0, 4.5])].astype(int)
    model = MultiOutputClassifier(LogisticRegression(max_iter=2000)).fit(X, Y)
    compiled = sk2tensor.convert(model, X)
    expected = np.concatenate(model.predict_proba(X.astype(np.float32)), axis=1)
    names = ["predict_proba_0_0", "predict_proba_0_1", "predict_proba_1_0", "predict_proba_1_1", "predict_proba_1_2"]
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"scores.{suffix}"
        result = score_file(compiled, write_data(tmp_path, "npy"), out, methods=["predict", "predict_proba"])
        assert result.columns == ("predict_0", "predict_1", *names)
        np.testing.assert_allclose(read_output(out)[names].to_numpy(), expected, rtol=0, atol=1e-6)
    out = tmp_path / "scores.npy"
    assert score_file(compiled, write_data(tmp_path, "npy"), out, methods=["predict_proba"]).columns == tuple(names)
    np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-6)


def test_model_path_and_progress(exported: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    data = write_data(tmp_path, "parquet")
    score_file(
        exported,
        data,
        tmp_path / "a.parquet",
        batch_size=SPLIT_BATCH,
        device="cpu",
        progress=lambda *a: calls.append(a),
    )
    assert calls == [(64, 150), (128, 150), (150, 150)]
    calls.clear()
    score_file(
        exported,
        write_data(tmp_path, "csv"),
        tmp_path / "b.parquet",
        batch_size=SPLIT_BATCH,
        device="cpu",
        progress=lambda *a: calls.append(a),
    )
    assert calls == [(64, None), (128, None), (150, None)]  # a CSV file's row count is not known in advance


def test_an_existing_output_is_replaced_only_on_success(compiled: sk2tensor.CompiledModel, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("previous results\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(NAMES) + "\n" + "1,2,3,4\n" * 100 + "1,2,oops,4\n")
    with pytest.raises(InputError):
        score_file(compiled, bad, out, batch_size=SPLIT_BATCH)
    assert out.read_text() == "previous results\n"
    assert leftovers(tmp_path) == []
    score_file(compiled, write_data(tmp_path, "csv"), out)
    assert len(read_output(out)) == 150


def test_interrupted_run_leaves_no_output(compiled: sk2tensor.CompiledModel, tmp_path: Path) -> None:
    def interrupt(done: int, total: int | None) -> None:
        if done > 64:
            raise KeyboardInterrupt

    out = tmp_path / "scores.parquet"
    with pytest.raises(KeyboardInterrupt):
        score_file(compiled, write_data(tmp_path, "npy"), out, batch_size=SPLIT_BATCH, progress=interrupt)
    assert not out.exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------------- columns
def test_columns_are_matched_by_the_models_feature_names(
    classifier: object, compiled: sk2tensor.CompiledModel, tmp_path: Path
) -> None:
    shuffled = IRIS.data[list(reversed(NAMES))].assign(row_id=range(150), note="free text")
    for kind in ("csv", "parquet"):  # extra columns (even text) are left out; order follows the names
        out = tmp_path / f"{kind}.parquet"
        score_file(compiled, write_data(tmp_path, kind, shuffled), out)
        np.testing.assert_array_equal(read_output(out)["predict"], classifier.predict(IRIS.data))
    partial = IRIS.data[NAMES[:3]]
    with pytest.raises(InputError, match=r"lacks the column\(s\) 'petal width \(cm\)'"):
        score_file(compiled, write_data(tmp_path, "csv", partial), tmp_path / "x.csv")


def test_explicit_columns_by_name_and_by_position(classifier: object, tmp_path: Path) -> None:
    plain = LogisticRegression(max_iter=1000).fit(X, LABELS)  # no feature names
    compiled = sk2tensor.convert(plain, X)
    frame = pd.DataFrame(np.column_stack([np.arange(150), X]), columns=["id", *"abcd"])
    out = tmp_path / "scores.csv"
    score_file(compiled, write_data(tmp_path, "csv", frame), out, columns=list("abcd"))
    np.testing.assert_array_equal(read_output(out)["predict"], plain.predict(X))
    npy = tmp_path / "wide.npy"
    np.save(npy, frame.to_numpy())
    score_file(compiled, npy, out, columns=["2", "3", "4", "5"])
    np.testing.assert_array_equal(read_output(out)["predict"], plain.predict(X))
    with pytest.raises(InputError, match="has 5 columns, but the model expects 4"):
        score_file(compiled, npy, out)
    with pytest.raises(InputError, match="choose columns by position, 1 to 5, not 'a'"):
        score_file(compiled, npy, out, columns=list("abcd"))
    with pytest.raises(InputError, match="3 column"):
        score_file(compiled, npy, out, columns=["2", "3", "4"])
    with pytest.raises(InputError, match="has no column 'z'"):
        score_file(compiled, write_data(tmp_path, "csv", frame), out, columns=list("abcz"))


def test_dataframe_and_array_inputs(classifier: object, compiled: sk2tensor.CompiledModel, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    score_file(compiled, IRIS.data[list(reversed(NAMES))], out, batch_size=SPLIT_BATCH)
    np.testing.assert_array_equal(read_output(out)["predict"], classifier.predict(IRIS.data))
    score_file(compiled, X, out, batch_size=SPLIT_BATCH)
    np.testing.assert_array_equal(read_output(out)["predict"], classifier.predict(IRIS.data))
    batches = list(iter_scores(compiled, X, methods=["predict_proba"], batch_size=100))
    assert [rows for rows, _ in batches] == [100, 50]
    assert batches[0][1]["predict_proba"].shape == (100, 3)
    with pytest.raises(InputError, match=r"'species'.*expected numbers"):
        score_file(
            compiled,
            IRIS.data.assign(**{NAMES[0]: "x"}).rename(columns={NAMES[0]: "species"}),
            out,
            columns=["species", *NAMES[1:]],
        )


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("1,2,3,4\n" * 3 + "1,2,x,4\n", ["line 5", "column 'petal length (cm)'", "'x'", "not a number"]),
        ("1,2,3,4\n" * 3 + "1,2,3\n", ["line 5 has 3 fields, expected 4"]),
        ("1,2,3,4\n" * 3 + "1,2,3,4,5\n", ["line 5 has 5 fields, expected 4"]),
        ("1,2,3,4\n" * 200 + "1,2,3,4,5\n", ["line 202 has 5 fields"]),  # in a later block than the first
    ],
)
@pytest.mark.parametrize("reader", ["arrow", "plain"])
def test_bad_csv_rows_name_the_line_and_column(
    compiled: sk2tensor.CompiledModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    fragments: list[str],
    reader: str,
) -> None:
    if reader == "plain":
        monkeypatch.setattr(loading, "_has_pyarrow", lambda: False)
    data = tmp_path / "bad.csv"
    data.write_text(",".join(NAMES) + "\n" + content)
    out = tmp_path / "scores.parquet"
    with pytest.raises(InputError) as error:
        score_file(compiled, data, out, batch_size=16)
    message = str(error.value)
    assert "\n" not in message and str(data) in message
    for fragment in fragments:
        assert fragment in message
    assert not out.exists() and leftovers(tmp_path) == []


def test_csv_missing_values_and_headerless_files(compiled: sk2tensor.CompiledModel, tmp_path: Path) -> None:
    data = tmp_path / "plain.csv"
    data.write_text("5.1,3.5,1.4,0.2\n6.7,NA,5.2,\n")
    batches = list(loading.open_data(data).batches([0, 1, 2, 3]))
    np.testing.assert_array_equal(batches[0], [[5.1, 3.5, 1.4, 0.2], [6.7, np.nan, 5.2, np.nan]])
    with pytest.raises(InputError, match="holds no rows"):
        (tmp_path / "header.csv").write_text(",".join(NAMES) + "\n")
        score_file(compiled, tmp_path / "header.csv", tmp_path / "x.csv")


@pytest.mark.parametrize("kind", ["npy", "parquet", "csv"])
def test_truncated_data_files(compiled: sk2tensor.CompiledModel, tmp_path: Path, kind: str) -> None:
    data = write_data(tmp_path, kind)
    content = data.read_bytes()
    data.write_bytes(content[: len(content) * 2 // 3])
    out = tmp_path / "scores.parquet"
    with pytest.raises((ModelFileError, InputError)) as error:
        score_file(compiled, data, out)
    assert str(data) in str(error.value) and "\n" not in str(error.value)
    assert not out.exists() and leftovers(tmp_path) == []


def test_parquet_text_column_and_npy_objects(compiled: sk2tensor.CompiledModel, tmp_path: Path) -> None:
    frame = IRIS.data.astype({NAMES[2]: str})
    with pytest.raises(InputError, match=r"column 'petal length \(cm\)' has type (large_)?string"):
        score_file(compiled, write_data(tmp_path, "parquet", frame), tmp_path / "x.csv")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[{"a": 1}] * 4], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        score_file(compiled, objects, tmp_path / "x.csv")


def test_refused_outputs_and_methods(compiled: sk2tensor.CompiledModel, exported: Path, tmp_path: Path) -> None:
    data = write_data(tmp_path, "npy")
    with pytest.raises(ModelFileError, match=r"unknown output file type '\.json'"):
        score_file(compiled, data, tmp_path / "out.json")
    with pytest.raises(ModelFileError, match="refusing to overwrite"):
        score_file(compiled, data, data)
    with pytest.raises(ModelFileError, match="does not exist"):
        score_file(compiled, data, tmp_path / "no" / "out.csv")
    with pytest.raises(InputError, match="no 'transform' output; it has predict, predict_proba"):
        score_file(compiled, data, tmp_path / "out.csv", methods=["transform"])
    with pytest.raises(InputError, match=r"a \.npy file holds one array"):
        score_file(compiled, data, tmp_path / "out.npy", methods=["predict", "predict_proba"])
    with pytest.raises(InputError, match="batch_size"):
        score_file(compiled, data, tmp_path / "out.csv", batch_size=0)
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------------- large models
def test_model_saved_with_external_data_loads_back_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past protobuf's 2 GB a model is saved with its tensors in ``<name>.data``; the threshold is lowered here
    so that a small model takes that path (onnx moves tensors of 1 KiB and more: 200 features make some)."""
    monkeypatch.setattr(model_module, "_EXTERNAL_DATA_BYTES", 0)
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(300, 200))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(wide, rng.integers(0, 3, 300))
    compiled = sk2tensor.convert(classifier, wide)
    path = compiled.save(tmp_path / "large.onnx")
    data_file = tmp_path / "large.onnx.data"
    assert data_file.is_file() and data_file.stat().st_size > path.stat().st_size
    np.testing.assert_array_equal(compiled.predict(wide), classifier.predict(wide))  # the model in memory stays whole
    size = data_file.stat().st_size
    compiled.save(path)  # saved again: the data file is rewritten, not appended to
    assert data_file.stat().st_size == size
    loaded = sk2tensor.load(path, device="cpu")
    assert loaded._source_path == str(path)  # the session reads the file: protobuf cannot serialize past 2 GB
    np.testing.assert_allclose(loaded.predict_proba(wide), classifier.predict_proba(wide), atol=1e-5)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    os.replace(path, moved / path.name)  # without its data file
    with pytest.raises(ModelFileError, match=r"large\.onnx"):
        loading.load_compiled(moved / path.name, device="cpu")
    os.replace(data_file, moved / data_file.name)
    out = tmp_path / "scores.parquet"
    score_file(moved / path.name, wide, out, device="cpu", batch_size=128)
    np.testing.assert_array_equal(read_output(out)["predict"], classifier.predict(wide))


# ----------------------------------------------------------------------------------------- bounded memory
@pytest.mark.parametrize(("kind", "bound_mib"), [("parquet", 16), ("csv", 48)])
def test_reading_holds_a_batch_or_two_not_the_file(tmp_path: Path, kind: str, bound_mib: int) -> None:
    """pyarrow's allocations while a 43 MiB table (105 MiB as CSV text) is scored stay far below its size.

    Regression test for ParquetFile's pre_buffer (it reads every row group ahead of the batches: the whole
    file) and for large CSV blocks (pyarrow's streaming reader reads some 32 blocks ahead: 1 MiB blocks keep
    that near 34 MiB). The 5M-row run is benchmarks/scoring_memory.py."""
    rows, width, batch = 200_000, 28, 4096
    data = np.random.default_rng(0).normal(size=(rows, width))
    table = pa.Table.from_arrays(list(data.T), names=[f"f{j}" for j in range(width)])
    path = tmp_path / f"rows.{kind}"
    if kind == "parquet":
        pq.write_table(table, path, row_group_size=20_000)
    else:
        pa.csv.write_csv(table, path)
    compiled = sk2tensor.convert(Ridge().fit(data[:1000], data[:1000, 0]), data[:100])
    del table, data
    before = pa.total_allocated_bytes()
    peak = 0

    def watch(done: int, total: int | None) -> None:
        nonlocal peak
        peak = max(peak, pa.total_allocated_bytes() - before)

    score_file(compiled, path, tmp_path / "scores.npy", batch_size=batch, progress=watch)
    assert peak < bound_mib * 2**20, (
        f"pyarrow held {peak / 2**20:.0f} MiB while reading a {rows * width * 8 / 2**20:.0f} MiB table"
    )
    assert np.load(tmp_path / "scores.npy").shape == (rows,)
