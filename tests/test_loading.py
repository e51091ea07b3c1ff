"""sk2tensor.loading: fitted models from skops and pickle files, rows from .npy/.csv/.parquet files."""

from __future__ import annotations

import fractions
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sk2tensor import loading
from sk2tensor.errors import InputError, ModelFileError
from sk2tensor.loading import load_data, load_estimator, match_columns

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def assert_one_line(error: pytest.ExceptionInfo[Exception], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def pipeline() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(IRIS_X, IRIS_Y)


# ----------------------------------------------------------------------------------------- estimators
def test_skops_file_loads_with_the_safe_loader(tmp_path: Path, pipeline: object) -> None:
    path = tmp_path / "model.skops"
    skops.io.dump(pipeline, path)
    loaded = load_estimator(path)
    np.testing.assert_array_equal(loaded.predict(IRIS_X), pipeline.predict(IRIS_X))


def test_skops_file_with_untrusted_types_is_refused_then_loaded_with_trust(tmp_path: Path) -> None:
    model = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    model.note_ = fractions.Fraction(1, 3)  # a type skops does not trust by default
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, str(path), "fractions.Fraction", "--trust")
    assert load_estimator(path, trust=True).note_ == fractions.Fraction(1, 3)


def test_tree_models_hold_a_type_skops_does_not_trust_by_default(tmp_path: Path) -> None:
    path = tmp_path / "tree.skops"
    skops.io.dump(DecisionTreeClassifier(max_depth=2).fit(IRIS_X, IRIS_Y), path)
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, "sklearn.tree._tree.Tree")
    assert load_estimator(path, trust=True).get_depth() == 2


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".pickle"])
def test_pickles_are_refused_without_trust(tmp_path: Path, pipeline: object, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    joblib.dump(pipeline, path)
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, str(path), "arbitrary code", "--trust", "skops")
    assert load_estimator(path, trust=True).predict(IRIS_X[:3]).tolist() == pipeline.predict(IRIS_X[:3]).tolist()


def test_a_module_the_file_needs_and_cannot_import_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: object
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "sk2tensor_gone_module.py").write_text("class Note:\n    def __init__(self):\n        self.text = 'x'\n")
    monkeypatch.syspath_prepend(str(source))
    import sk2tensor_gone_module

    model = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    model.note_ = sk2tensor_gone_module.Note()
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    monkeypatch.delitem(sys.modules, "sk2tensor_gone_module")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(source)])
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, "sk2tensor_gone_module.Note")
    with pytest.raises(ModelFileError) as error:
        load_estimator(path, trust=True)
    assert_one_line(error, "'sk2tensor_gone_module'", "PYTHONPATH")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.skops", b"this is not a zip archive"),
        ("empty.skops", b""),
        ("garbage.joblib", b"\x80\x04this is not a pickle"),
        ("empty.pkl", b""),
    ],
)
def test_unreadable_model_files_are_one_line_errors(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        load_estimator(path, trust=True)
    assert_one_line(error, str(path), "not a readable")


def test_truncated_skops_file(tmp_path: Path, pipeline: object) -> None:
    data = skops.io.dumps(pipeline)
    path = tmp_path / "truncated.skops"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, str(path), "not a readable skops file")


def test_missing_unknown_and_non_estimator_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as error:
        load_estimator(tmp_path / "absent.skops")
    assert_one_line(error, "no such model file", "absent.skops")
    with pytest.raises(ModelFileError) as error:
        load_estimator(tmp_path)
    assert_one_line(error, "is a directory")
    (tmp_path / "model.bin").write_text("hello")
    with pytest.raises(ModelFileError) as error:
        load_estimator(tmp_path / "model.bin")
    assert_one_line(error, "unknown model file type '.bin'", ".skops", ".cbm")
    skops.io.dump({"weights": [1, 2]}, tmp_path / "dict.skops")
    with pytest.raises(ModelFileError) as error:
        load_estimator(tmp_path / "dict.skops")
    assert_one_line(error, "holds an object of type dict, not a scikit-learn estimator")


# ------------------------------------------------------------------------ boosting libraries' own files
def _boosting_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[::11, 1] = np.nan
    return X, np.digitize(np.nan_to_num(X[:, 0]) + X[:, 2], [-0.5, 0.5])


@pytest.mark.parametrize("file_format", ["cbm", "json"])
def test_catboost_files_load_as_the_class_their_loss_belongs_to(tmp_path: Path, file_format: str) -> None:
    catboost = pytest.importorskip("catboost")
    X, labels = _boosting_rows()
    quiet = {"iterations": 5, "verbose": 0, "allow_writing_files": False}
    for model, target in (
        (catboost.CatBoostClassifier(**quiet), np.array(["low", "mid", "high"])[labels]),
        (catboost.CatBoostRegressor(loss_function="Poisson", **quiet), labels + 1.0),
        (catboost.CatBoostRanker(**quiet), labels),
    ):
        fit = {"group_id": np.repeat(np.arange(30), 10)} if isinstance(model, catboost.CatBoostRanker) else {}
        model.fit(X, target, **fit)
        path = tmp_path / f"model.{file_format}"
        model.save_model(str(path), format=file_format)
        loaded = load_estimator(path)
        assert type(loaded) is type(model)
        expected = model.predict(X)  # labels and prediction type kept
        if expected.dtype.kind == "f":  # CatBoost's JSON prints a few leaf values one unit in the last place off
            np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-14, atol=0)
        else:
            np.testing.assert_array_equal(loaded.predict(X), expected)


@pytest.mark.parametrize("suffix", ["ubj", "json"])
def test_xgboost_files_load_as_the_class_their_objective_belongs_to(tmp_path: Path, suffix: str) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, labels = _boosting_rows()
    for model, target in (
        (xgboost.XGBClassifier(n_estimators=5), labels),
        (xgboost.XGBRegressor(n_estimators=5, objective="count:poisson"), labels + 1.0),
    ):
        model.fit(X, target)
        path = tmp_path / f"model.{suffix}"
        model.get_booster().save_model(path)  # XGBoost 2.1's wrapper cannot save with scikit-learn 1.8
        loaded = load_estimator(path)
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_lightgbm_text_model_loads_as_a_booster(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, labels = _boosting_rows()
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, labels)
    path = tmp_path / "model.txt"
    model.booster_.save_model(path)
    loaded = load_estimator(path)
    assert isinstance(loaded, lightgbm.Booster)
    np.testing.assert_array_equal(loaded.predict(X), model.predict_proba(X))


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("model.cbm", b"not a catboost model", "not a readable catboost model"),
        ("model.ubj", b"\x00\x01", "not a readable xgboost model"),
        ("model.txt", b"hello", "not a readable lightgbm model"),
        ("model.json", b'{"weights": [1]}', "neither an XGBoost nor a CatBoost JSON model"),
        ("broken.json", b'{"learner": ', "not a readable JSON model"),
    ],
)
def test_unreadable_boosting_files_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    pytest.importorskip("catboost"), pytest.importorskip("xgboost"), pytest.importorskip("lightgbm")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, str(path), fragment)


def test_a_missing_boosting_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "catboost", None)  # import fails as if not installed
    path = tmp_path / "model.cbm"
    path.write_bytes(b"whatever")
    with pytest.raises(ModelFileError) as error:
        load_estimator(path)
    assert_one_line(error, "catboost is not installed", "sk2tensor[catboost]")


# ----------------------------------------------------------------------------------------- data
def test_npy(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, IRIS_X[:10].astype(np.float32))
    rows, names = load_data(path)
    assert names is None and rows.dtype == np.float64
    np.testing.assert_array_equal(rows, IRIS_X[:10].astype(np.float32))


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.arange(4.0), "1-D array; expected 2-D"),
        (np.zeros((0, 4)), "holds no rows"),
        (np.array([["a", "b"]]), "expected numbers"),
    ],
)
def test_npy_that_is_not_a_numeric_table(tmp_path: Path, array: np.ndarray, fragment: str) -> None:
    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(InputError) as error:
        load_data(path)
    assert_one_line(error, str(path), fragment)


def test_npy_with_python_objects_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError) as error:
        load_data(path)
    assert_one_line(error, "Python objects")


def test_truncated_npy(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, IRIS_X)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError) as error:
        load_data(path)
    assert_one_line(error, str(path), "not a readable .npy file")


@pytest.fixture(params=["pyarrow", "plain"])
def csv_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a CSV test with pyarrow's reader and with the standard-library fallback."""
    if request.param == "plain":
        monkeypatch.setattr(loading, "_has_pyarrow", lambda: False)
    else:
        pytest.importorskip("pyarrow")
    return request.param


def test_csv_with_header(tmp_path: Path, csv_reader: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2.5,-3e2\n4,,NaN\n")
    rows, names = load_data(path)
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(rows, [[1, 2.5, -300], [4, np.nan, np.nan]])


def test_csv_without_header(tmp_path: Path, csv_reader: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("1,2\n3,4\n")
    rows, names = load_data(path)
    assert names is None
    np.testing.assert_array_equal(rows, [[1, 2], [3, 4]])


def test_csv_non_numeric_cell_names_the_column_and_line(tmp_path: Path, csv_reader: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,species\n1,2\n3,4\n5,setosa\n")
    with pytest.raises(InputError) as error:
        load_data(path)
    assert_one_line(error, str(path), "column 'species'", "line 4", "'setosa'", "not a number")


@pytest.mark.parametrize(
    ("content", "error_type", "fragment"),
    [
        (b"", InputError, "is empty"),
        (b"a,b\n", InputError, "holds no rows"),
        (b"\xff\xfe\x00\x81binary", ModelFileError, "not a readable CSV file"),
        (b"a,b\n1,2\n3,4,5\n", InputError, "line 3 has 3 fields, expected 2"),
        (b"a,b\n1,2\n3\n", InputError, "line 3 has 1 fields, expected 2"),
    ],
)
def test_unreadable_csv(
    tmp_path: Path, csv_reader: str, content: bytes, error_type: type[Exception], fragment: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(error_type) as error:
        load_data(path)
    assert_one_line(error, str(path), fragment)


def test_parquet(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1, 2], "b": [0.5, None], "c": [True, False]}).to_parquet(path)
    rows, names = load_data(path)
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(rows, [[1, 0.5, 1], [2, np.nan, 0]])


def test_parquet_with_a_text_column_or_damaged(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1, 2], "name": ["x", "y"]}).to_parquet(path)
    with pytest.raises(InputError) as error:
        load_data(path)
    assert_one_line(error, "column 'name'", "expected numbers")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelFileError) as error:
        load_data(path)
    assert_one_line(error, str(path), "not a readable Parquet file")


def test_parquet_without_pyarrow_says_which_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ModelFileError) as error:
        load_data(path)
    assert_one_line(error, "pyarrow", "sk2tensor[data]")


def test_missing_and_unknown_data_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as error:
        load_data(tmp_path / "absent.csv")
    assert_one_line(error, "no such data file", "absent.csv")
    (tmp_path / "x.xlsx").write_bytes(b"")
    with pytest.raises(ModelFileError) as error:
        load_data(tmp_path / "x.xlsx")
    assert_one_line(error, "unknown data file type '.xlsx'", ".parquet")


# ----------------------------------------------------------------------------------------- columns
def test_match_columns_reorders_and_drops_extra_columns() -> None:
    rows = np.array([[1.0, 2.0, 3.0]])
    assert match_columns(rows, ["target", "b", "a"], ["a", "b"]).tolist() == [[3.0, 2.0]]
    assert match_columns(rows, None, ["a", "b"]) is rows
    assert match_columns(rows, ["a", "b", "c"], None) is rows
    with pytest.raises(InputError) as error:
        match_columns(rows, ["a", "b", "c"], ["a", "z"])
    assert_one_line(error, "'z'")
