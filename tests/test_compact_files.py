"""Smaller files. Large constant tables are stored in the narrowest type that holds every value bit for bit
(:func:`sk2tensor.graph.narrowest_exact`) and widened by a ``Cast`` that ONNX Runtime folds when it loads the model:
smaller files, identical outputs, the same operators at run time. ``convert(leaf_dtype="float32")`` rounds tree leaf
values to float32, opting out of bit-exact scores for 4-byte leaf tables."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.ensemble import (
    AdaBoostRegressor,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

import sk2tensor
from sk2tensor import cli
from sk2tensor import graph as graph_module
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import COMPACT_MIN_SAVED_BYTES, narrowest_exact
from sk2tensor.validate import PROBABILITY_ATOL
from tests.test_portability import assert_portable

#: Elements of the test arrays: enough for every narrowing to save COMPACT_MIN_SAVED_BYTES.
N = 10_000
RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("values", "dtype", "stored"),
    [
        (np.arange(N) % 256, np.int64, np.uint8),
        (np.arange(N) % 256 - 128, np.int32, np.int8),
        (np.arange(N), np.int32, np.uint16),
        (np.arange(N) - 20_000, np.int64, np.int16),
        (np.arange(N) * 100_000, np.int64, np.int32),
        (np.tile([0.0, 1.0], N // 2), np.float64, np.uint8),
        (np.tile([0.5, 1.0, -2.0], N), np.float64, np.float16),
        (np.r_[np.arange(N) % 2048, np.inf, -np.inf], np.float32, np.float16),  # infinities fit float16, not integers
        (np.r_[np.arange(N) % 2048, -0.0], np.float64, np.float16),  # -0.0 is not an integer's 0
        (RNG.random(N).astype(np.float32), np.float64, np.float32),
    ],
    ids=["uint8", "int8", "uint16", "int16", "int32", "zeros-ones", "halves", "infinities", "negative-zero", "float32"],
)
def test_narrowest_exact_type_holds_every_value(values: np.ndarray, dtype: Any, stored: Any) -> None:
    array = np.asarray(values, dtype=dtype)
    narrow = narrowest_exact(array)
    assert narrow is not None and narrow.dtype == np.dtype(stored)
    assert narrow.astype(dtype).tobytes() == array.tobytes()


@pytest.mark.parametrize(
    "array",
    [
        RNG.random(N),  # float64 values that float32 would round
        np.r_[np.zeros(N), np.nan],  # a Cast need not keep NaN's payload
        np.r_[np.arange(N), 2**40].astype(np.int64),
        np.arange(100, dtype=np.int64),  # too small to save COMPACT_MIN_SAVED_BYTES
        np.zeros(N, dtype=np.uint8),  # already one byte
        np.array(["a"] * N, dtype=object),
    ],
    ids=["float64", "nan", "wide-integers", "small", "bytes", "strings"],
)
def test_tables_that_would_change_or_gain_nothing_stay_as_they_are(array: np.ndarray) -> None:
    assert narrowest_exact(array) is None


def test_savings_threshold_is_the_bytes_saved() -> None:
    elements = COMPACT_MIN_SAVED_BYTES // 7  # int64 -> uint8 saves 7 bytes each
    assert narrowest_exact(np.zeros(elements - 1, np.int64)) is None
    assert narrowest_exact(np.zeros(elements + 1, np.int64)) is not None


def _forest() -> tuple[Any, np.ndarray]:
    X, y = make_classification(3000, 28, n_informative=14, random_state=0)
    return RandomForestClassifier(30, random_state=0).fit(X, y), X


def _extra_trees() -> tuple[Any, np.ndarray]:
    X, y = make_regression(2000, 12, random_state=0)
    return ExtraTreesRegressor(20, random_state=0).fit(X, y), X


def _hist_boosting() -> tuple[Any, np.ndarray]:
    X, y = make_classification(3000, 28, n_informative=14, random_state=0)
    X[::7, 3] = np.nan
    return HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, y), X


def _boosting() -> tuple[Any, np.ndarray]:
    X, y = make_classification(2000, 10, n_informative=6, n_classes=3, random_state=0)
    return GradientBoostingClassifier(n_estimators=60, max_depth=5, random_state=0).fit(X, y), X


def _neighbors() -> tuple[Any, np.ndarray]:
    X, y = load_digits(return_X_y=True)  # pixel intensities 0-16, held as float64
    return KNeighborsClassifier(5).fit(X[:1000], y[:1000]), X[1000:1300]


#: (model, the most its compact file may weigh relative to the wide one: measured ratio rounded up)
EXPORTS: dict[str, tuple[Callable[[], tuple[Any, np.ndarray]], float]] = {
    "random-forest": (_forest, 0.40),  # leaves of 0 and 1 in uint8, columns uint8, children uint16
    "extra-trees-regressor": (_extra_trees, 0.80),  # float64 leaf means stay float64
    "hist-boosting": (_hist_boosting, 0.65),
    "gradient-boosting": (_boosting, 0.95),
    "k-neighbors": (_neighbors, 0.30),  # the fitted pixels in uint8
}


def _wide(model: Any, X: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> sk2tensor.CompiledModel:
    with monkeypatch.context() as patch:
        patch.setattr(graph_module, "COMPACT_MIN_SAVED_BYTES", 2**62)
        return sk2tensor.convert(model, X)


@pytest.mark.parametrize("name", list(EXPORTS))
def test_compact_export_is_smaller_and_predicts_the_same_bits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make, most = EXPORTS[name]
    model, X = make()
    compact, wide = sk2tensor.convert(model, X), _wide(model, X, monkeypatch)
    assert compact.validation.passed
    compact_size, wide_size = len(compact.onnx.SerializeToString()), len(wide.onnx.SerializeToString())
    assert compact_size <= most * wide_size, f"{compact_size} bytes against {wide_size}"
    rows = np.r_[X[:257], X[:1] * np.nan]
    for method in compact.outputs:
        np.testing.assert_array_equal(getattr(compact, method)(rows), getattr(wide, method)(rows))


def _operators_at_run_time(model: onnx.ModelProto, path: Path) -> Counter:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return Counter(node.op_type for node in onnx.load(path).graph.node)


@pytest.mark.parametrize("name", ["random-forest", "k-neighbors"])
def test_runtime_folds_the_widening_casts(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, X = EXPORTS[name][0]()
    compact, wide = sk2tensor.convert(model, X), _wide(model, X, monkeypatch)
    narrow = {t.name for t in compact.onnx.graph.initializer if numpy_helper.to_array(t).dtype.itemsize < 4}
    assert narrow, "no table was stored narrow"
    widened = [n for n in compact.onnx.graph.node if n.op_type == "Cast" and n.input[0] in narrow]
    assert widened
    assert _operators_at_run_time(compact.onnx, tmp_path / "compact.onnx") == _operators_at_run_time(
        wide.onnx, tmp_path / "wide.onnx"
    )


def test_fully_grown_forest_stores_its_leaves_in_bytes() -> None:
    model, X = _forest()
    tables = {t.name: numpy_helper.to_array(t) for t in sk2tensor.convert(model, X).onnx.graph.initializer}
    leaf_tables = [a for name, a in tables.items() if name.startswith("leaf_values")]
    assert leaf_tables and all(a.dtype == np.uint8 for a in leaf_tables)


# ----------------------------------------------------------------------------------------- leaf_dtype="float32"
def _depth_limited_forest() -> tuple[Any, np.ndarray]:
    X, y = make_classification(4000, 28, n_informative=14, n_classes=3, random_state=1)
    labels = np.array(["cat", "dog", "owl"])[y]
    return RandomForestClassifier(40, max_depth=8, random_state=0).fit(X, labels), X


def _hist_regressor() -> tuple[Any, np.ndarray]:
    X, y = make_regression(3000, 12, noise=5.0, random_state=0)
    X[::5, 0] = np.nan
    return HistGradientBoostingRegressor(max_iter=80, random_state=0).fit(X, y), X


def _isolation_forest() -> tuple[Any, np.ndarray]:
    X, _ = make_classification(3000, 8, random_state=0)
    return IsolationForest(n_estimators=50, random_state=0).fit(X), X


def _adaboost() -> tuple[Any, np.ndarray]:
    X, y = make_regression(1500, 6, random_state=0)
    return AdaBoostRegressor(n_estimators=20, random_state=0).fit(X, y), X


#: (model, the most the tables of a float32-leaf export may weigh relative to the default export's: measured ratio
#: rounded up)
ROUNDED = {
    "forest-string-labels": (_depth_limited_forest, 0.65),  # float64 leaf fractions in float32
    "boosting": (_boosting, 0.65),
    "hist-regressor": (_hist_regressor, 0.95),
    "extra-trees-regressor": (_extra_trees, 0.80),
    "isolation-forest": (_isolation_forest, 0.75),
    "adaboost": (_adaboost, 1.0),  # leaf tables too small for narrowing to pay: rounded, stored as before
}


@pytest.mark.parametrize("name", list(ROUNDED))
def test_float32_leaves_shrink_the_file_and_stay_within_float32_tolerances(name: str) -> None:
    make, most = ROUNDED[name]
    model, X = make()
    exact = sk2tensor.convert(model, X)
    rounded = sk2tensor.convert(model, X, leaf_dtype="float32")  # raises if validation fails
    assert rounded.validation.passed and rounded.metadata["leaf_dtype"] == "float32"
    assert "leaf_dtype" not in exact.metadata
    assert _table_bytes(rounded.onnx) <= most * _table_bytes(exact.onnx)
    assert_portable(rounded.onnx)
    leaf_tables = [numpy_helper.to_array(t) for t in rounded.onnx.graph.initializer if t.name.startswith("leaf_values")]
    # Stored in 4 bytes or fewer, except tables too small for narrowing to pay (COMPACT_MIN_SAVED_BYTES).
    assert leaf_tables and all(np.array_equal(t.astype(np.float32), t) for t in leaf_tables)
    rows = np.r_[X[:300], X[:1]].astype(np.float32)  # the export's input type, which sklearn is held to
    try:
        model.predict(np.full((1, X.shape[1]), np.nan))
        rows = np.r_[rows, np.full((1, X.shape[1]), np.nan, np.float32)]
    except ValueError:  # a model that refuses NaN
        pass
    for method in rounded.outputs:
        got, ref = getattr(rounded, method)(rows), getattr(model, method)(rows)
        if method == "predict" and hasattr(model, "classes_"):
            proba = model.predict_proba(rows)
            top2 = np.sort(proba, axis=1)[:, -2:]
            near_tie = top2[:, 1] - top2[:, 0] <= 2 * PROBABILITY_ATOL["float32"]
            assert (got == ref)[~near_tie].all()
        elif method == "predict_proba":
            np.testing.assert_allclose(got, ref, rtol=0, atol=PROBABILITY_ATOL["float32"])
        else:  # the float32 validation tolerance: 1e-6 relative to the output's scale
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * max(1.0, float(np.nanmax(np.abs(ref)))))
    assert rounded.predict(X[:0]).shape[0] == 0


def _table_bytes(model: onnx.ModelProto) -> int:
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def test_float32_leaves_in_pipelines_with_string_columns_and_sparse_rows() -> None:
    pd = pytest.importorskip("pandas")
    X, y = make_classification(1500, 6, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["colour"] = np.array(["red", "green", "blue"])[np.arange(1500) % 3]
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    ).fit(frame, y)
    compiled = sk2tensor.convert(model, frame, leaf_dtype="float32")
    assert compiled.metadata["leaf_dtype"] == "float32" and compiled.inputs is not None

    from scipy import sparse

    rows = sparse.random(800, 40, density=0.1, random_state=0, format="csr")
    totals = np.asarray(rows.sum(axis=1)).ravel()
    labels = (totals > np.median(totals)).astype(int)
    forest = RandomForestClassifier(20, max_depth=6, random_state=0).fit(rows, labels)
    compiled = sk2tensor.convert(forest, rows, sparse_input=True, leaf_dtype="float32")
    assert compiled.metadata["leaf_dtype"] == "float32"
    np.testing.assert_allclose(compiled.predict_proba(rows), forest.predict_proba(rows), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        (_forest, {"leaf_dtype": "float32", "dtype": "float64"}, "use dtype='float32' with it"),
        (_forest, {"leaf_dtype": "float16"}, "leaf_dtype must be one of ['float64', 'float32']"),
        (lambda: (LogisticRegression().fit([[0.0], [1.0]], [0, 1]), None), {"leaf_dtype": "float32"}, "tree models"),
    ],
    ids=["float64-graph", "float16", "no-trees"],
)
def test_float32_leaves_refused_where_they_do_not_apply(model: Callable, options: dict, message: str) -> None:
    estimator, X = model()
    with pytest.raises(UnsupportedParameterError, match=re.escape(message)):
        sk2tensor.convert(estimator, X, **options)


def test_cli_export_rounds_leaves_on_request(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    model, X = _depth_limited_forest()
    source, out = tmp_path / "forest.joblib", tmp_path / "forest.onnx"
    joblib.dump(model, source)
    result = CliRunner().invoke(
        cli.app, ["export", str(source), "-o", str(out), "--trust", "--leaf-dtype", "float32"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "leaf values: rounded to float32" in result.stdout
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["leaf_dtype"] == "float32"
    (proba,) = session.run(["predict_proba"], {"input": X[:50].astype(np.float32)})
    np.testing.assert_allclose(proba, model.predict_proba(X[:50]), rtol=0, atol=1e-6)
