"""The public API's contract: options, errors with clear messages, DataFrames, metadata, purity."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import sk2tensor
from sk2tensor import registry
from sk2tensor import validate as validate_module
from sk2tensor.errors import (
    ConversionError,
    InputError,
    ModelFileError,
    NotFittedError,
    RuntimeTooOldError,
    RuntimeUnavailableError,
    UnsupportedEstimatorError,
    UnsupportedParameterError,
    ValidationError,
)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y, make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)


def test_unfitted_estimator_raises_sklearns_not_fitted_error() -> None:
    with pytest.raises(NotFittedError, match=r"LogisticRegression.*not fitted"):
        sk2tensor.convert(LogisticRegression(), n_features=3)


def test_unsupported_estimator_names_the_class_and_what_is_supported(iris) -> None:
    from sklearn.cluster import DBSCAN

    X, _, _ = iris
    with pytest.raises(UnsupportedEstimatorError, match=r"sklearn.cluster.DBSCAN.*supported\(\)") as error:
        sk2tensor.convert(DBSCAN().fit(X), X)
    assert "LogisticRegression" in str(error.value)
    with pytest.raises(UnsupportedEstimatorError, match="object of type"):
        sk2tensor.convert(object(), n_features=2)


def test_estimators_that_cannot_convert_say_why(iris) -> None:
    """Every scikit-learn estimator sk2tensor does not convert has its reason in the error (WHY_NOT), besides
    the list of what converts."""
    import sklearn
    from packaging.version import Version
    from sklearn.cluster import DBSCAN
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.utils import all_estimators

    from sk2tensor.registry import WHY_NOT, class_path

    X, _, _ = iris
    for estimator, reason in (
        (DBSCAN().fit(X), "no predict or transform for new rows"),
        (NMF(2, max_iter=1000).fit(X), "depends on the other rows"),
        (HashingVectorizer().fit(["a text", "another text"]), "MurmurHash3"),
    ):
        with pytest.raises(UnsupportedEstimatorError, match=reason) as error:
            sk2tensor.convert(estimator, n_features=4, validate=False)
        assert "LogisticRegression" in str(error.value)
    supported = set(sk2tensor.supported())
    unexplained = [
        class_path(cls) for _, cls in all_estimators() if cls not in supported and class_path(cls) not in WHY_NOT
    ]
    if unexplained and Version(sklearn.__version__) >= Version("1.10"):
        pytest.skip(f"scikit-learn {sklearn.__version__} has estimators newer than this list: {unexplained}")
    assert not unexplained, f"give these a reason in registry.WHY_NOT or a converter: {unexplained}"


def test_unsupported_step_inside_a_pipeline_is_named(iris) -> None:
    X, y, _ = iris
    pipeline = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    if SVC not in sk2tensor.supported():
        with pytest.raises(UnsupportedEstimatorError, match="SVC"):
            sk2tensor.convert(pipeline, X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"strategy": "fast"}, "strategy must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"opset": 7}, "opset must be between"),
        ({"opset": "13"}, "opset must be an integer"),
        ({"strategy": "gemm"}, "applies to tree models"),
    ],
)
def test_bad_options_are_refused(iris, kwargs, message) -> None:
    X, _, model = iris
    with pytest.raises(UnsupportedParameterError, match=message):
        sk2tensor.convert(model, X, **kwargs)


def test_width_mismatches_are_input_errors(iris) -> None:
    X, _, model = iris
    with pytest.raises(InputError, match="fitted on 4"):
        sk2tensor.convert(model, X[:, :3])
    with pytest.raises(InputError, match="n_features=5 but X has 4"):
        sk2tensor.convert(model, X, n_features=5)
    with pytest.raises(InputError, match="2-D"):
        sk2tensor.convert(model, X[:, 0])
    with pytest.raises(InputError, match="numbers"):
        sk2tensor.convert(model, X.astype(str))


def test_prediction_input_is_checked(iris) -> None:
    X, _, model = iris
    compiled = sk2tensor.convert(model, X)
    with pytest.raises(InputError, match="3 features, but this model expects 4"):
        compiled.predict(X[:, :3])
    with pytest.raises(InputError, match=r"reshape\(1, -1\)"):
        compiled.predict(X[0])
    with pytest.raises(InputError, match="3-D"):
        compiled.predict(X[None])
    with pytest.raises(InputError, match="numbers"):
        compiled.predict(X.astype(str))
    with pytest.raises(AttributeError):
        compiled.transform  # noqa: B018  (a classifier has no transform)
    assert not hasattr(compiled, "score_samples")
    # Integer and boolean input is accepted and cast, as sklearn does.
    np.testing.assert_array_equal(compiled.predict(X.astype(int)), model.predict(X.astype(int)))


@pytest.mark.parametrize("layout", ["csr_matrix", "csc_matrix", "csr_array", "coo_array"])
def test_scipy_sparse_input_is_densified_by_chunk(layout: str, monkeypatch) -> None:
    """A model fitted on sparse rows converts from and predicts on sparse rows (ONNX takes dense tensors)."""
    import scipy.sparse as sparse
    from sklearn.ensemble import RandomForestClassifier

    from sk2tensor import api
    from sk2tensor.scoring import iter_scores

    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 12)) * (rng.random((700, 12)) < 0.2)  # 80% zeros
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    rows = getattr(sparse, layout)(X)
    for model in (
        LogisticRegression().fit(sparse.csr_matrix(X), y),
        RandomForestClassifier(10, random_state=0).fit(X, y),
    ):
        compiled = sk2tensor.convert(model, rows)
        assert compiled.validation.passed and compiled.validation.rows == 700
        compiled.chunk_rows = 64  # several dense chunks
        np.testing.assert_array_equal(compiled.predict(rows), model.predict(X))
        np.testing.assert_allclose(compiled.predict_proba(rows), model.predict_proba(X), atol=1e-6, rtol=0)
        assert compiled.predict(sparse.csr_matrix(X[:1])).shape == (1,)
        assert compiled.predict_proba(sparse.csr_matrix(X[:0])).shape == (0, 2)
        assert sk2tensor.compare(model, compiled, rows).passed
        scores = list(iter_scores(compiled, rows, batch_size=300))
        assert [n for n, _ in scores] == [300, 300, 100]
        with pytest.raises(InputError, match="5 features, but this model expects 12"):
            compiled.predict(sparse.csr_matrix(X[:, :5]))
    monkeypatch.setattr(api, "MAX_DENSE_SAMPLE_BYTES", 1000)
    with pytest.raises(InputError, match="sample of its rows"):
        sk2tensor.convert(model, rows)


def test_convert_without_sample_uses_generated_rows(iris) -> None:
    _, _, model = iris
    compiled = sk2tensor.convert(model)
    assert compiled.n_features == 4 and compiled.validation.rows > 0
    compiled = sk2tensor.convert(model, n_features=4, validate=False)
    assert compiled.validation is None


def test_dataframes_keep_feature_names_and_accept_any_column_order() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), Ridge()).fit(X, y)
    compiled = sk2tensor.convert(model, X)
    assert compiled.feature_names == list(X.columns)
    shuffled = X[list(reversed(X.columns))]
    np.testing.assert_allclose(compiled.predict(shuffled), model.predict(X), rtol=1e-5)
    with pytest.raises(InputError, match="lacks the column"):
        compiled.predict(X.drop(columns=["bmi"]))


def test_validation_error_carries_the_report(iris, monkeypatch) -> None:
    X, _, model = iris
    monkeypatch.setitem(validate_module.PROBABILITY_ATOL, "float32", -1.0)
    with pytest.raises(ValidationError, match="predict_proba") as error:
        sk2tensor.convert(model, X)
    report = error.value.report
    assert not report.passed and report["predict_proba"].max_abs_diff >= 0
    assert report.rows == len(X)


def test_validation_report_fields(iris) -> None:
    X, _, model = iris
    report = sk2tensor.convert(model, X).validation
    assert report.passed and report.label_agreement == 1.0
    assert {o.name for o in report.outputs} == {"predict", "predict_proba", "decision_function"}
    assert "label agreement" in report.summary()
    again = sk2tensor.compare(model, sk2tensor.convert(model, X, validate=False), X)
    assert again.passed


def test_conversion_does_not_touch_the_estimator(iris) -> None:
    X, _, model = iris
    before = pickle.dumps(model)
    sk2tensor.convert(model, X)
    assert pickle.dumps(model) == before


def test_missing_onnxruntime_names_the_extra(iris, monkeypatch) -> None:
    X, _, model = iris
    compiled = sk2tensor.convert(model, X, validate=False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeUnavailableError, match=r"sk2tensor\[cpu\]"):
        compiled.predict(X)


def test_cuda_where_unavailable_is_a_clear_error(iris, tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    X, _, model = iris
    path = sk2tensor.convert(model, X).save(tmp_path / "m.onnx")
    with pytest.raises(RuntimeUnavailableError, match="onnxruntime-gpu"):
        sk2tensor.load(path, device="cuda")
    assert sk2tensor.load(path, device="auto").device == "cpu"


def test_a_scikit_learn_older_than_supported_is_refused_by_name(iris, monkeypatch) -> None:
    from sk2tensor import versions

    X, _, model = iris
    monkeypatch.setattr(versions, "SKLEARN", (1, 7))
    with pytest.raises(ConversionError, match=r"older than 1\.8, the oldest release sk2tensor reproduces"):
        sk2tensor.convert(model, X)


def test_the_oldest_versions_agree_in_every_place_that_states_them() -> None:
    """versions.py, constraints/oldest.txt (what `make test-oldest` installs) and pyproject.toml's lower bounds."""
    import tomllib

    from sk2tensor import versions

    root = Path(__file__).resolve().parents[1]
    pins = dict(
        line.split("==") for line in (root / "constraints" / "oldest.txt").read_text().splitlines() if "==" in line
    )
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    bounds = dict(
        requirement.split(">=")
        for requirement in [
            *project["dependencies"],
            *extras["cpu"],
            *extras["data"],
            *extras["lightgbm"],
            *extras["imblearn"],
            *extras["category-encoders"],
            *extras["feature-engine"],
        ]
    )
    assert versions.release(pins["scikit-learn"]) == versions.OLDEST_SKLEARN
    assert versions.release(pins["onnxruntime"]) == versions.OLDEST_ONNXRUNTIME
    assert extras["gpu"] == [f"onnxruntime-gpu>={bounds['onnxruntime']}"]
    for name, bound in bounds.items():
        assert versions.release(pins[name]) == versions.release(bound), name
        assert tuple(map(int, pins[name].split("."))) >= tuple(map(int, bound.split("."))), name


def test_a_graph_newer_than_the_runtime_is_a_clear_error(iris, tmp_path: Path) -> None:
    """A file whose IR version the installed onnxruntime cannot read (one written for a newer runtime) fails
    with an error that says so and what to do, not onnxruntime's own exception."""
    X, _, model = iris
    exported = sk2tensor.convert(model, X).onnx
    exported.ir_version = 99
    onnx.save(exported, tmp_path / "future.onnx")
    with pytest.raises(RuntimeTooOldError, match=r"cannot read this graph \(IR version 99, opset \d+\).*lower opset"):
        sk2tensor.load(tmp_path / "future.onnx").predict(X)


def test_a_missing_kernel_names_the_operator_and_the_oldest_runtime_tested() -> None:
    """onnxruntime releases before OLDEST_ONNXRUNTIME lack kernels some graphs use (Cos on float64 for
    RBFSampler): the error names the operator and the release to upgrade to."""
    from sk2tensor.model import _runtime_too_old
    from sk2tensor.versions import OLDEST_ONNXRUNTIME

    graph = onnx.helper.make_graph([], "g", [], [])
    probe = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    message = (
        "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Cos(7) node with name 'n'"
    )
    error = _runtime_too_old("1.22.1", probe, message)
    assert isinstance(error, RuntimeTooOldError)
    assert str(error).startswith("onnxruntime 1.22.1 has no kernel for Cos(7) on this graph's types (opset 17)")
    assert f">= {'.'.join(map(str, OLDEST_ONNXRUNTIME))}" in str(error)
    assert _runtime_too_old("1.22.1", probe, "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad input") is None


def test_load_refuses_foreign_and_broken_files(tmp_path: Path) -> None:
    foreign = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])],
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
    )
    onnx.save(foreign, tmp_path / "foreign.onnx")
    with pytest.raises(ModelFileError, match="not exported by sk2tensor"):
        sk2tensor.load(tmp_path / "foreign.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelFileError, match=r"broken\.onnx"):
        sk2tensor.load(tmp_path / "broken.onnx")
    with pytest.raises(ModelFileError, match="no such file"):
        sk2tensor.load(tmp_path / "missing.onnx")


def test_registry_refuses_duplicates_and_wrong_signatures() -> None:
    with pytest.raises(TypeError, match="already has a converter"):
        registry.converter(LogisticRegression)(lambda graph, estimator, x, context: {})
    with pytest.raises(TypeError, match="must take"):
        registry.converter(SVC)(lambda g, e, x, c: {})
    assert SVC not in registry._REGISTRY or SVC in sk2tensor.supported()


def test_supported_is_sorted_and_complete() -> None:
    classes = sk2tensor.supported()
    assert classes == sorted(classes, key=lambda c: (c.__module__, c.__name__))
    assert {LogisticRegression, Ridge, StandardScaler} <= set(classes)


def test_string_labels_round_trip_through_metadata() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["a", "b", "c"])[y]
    model = LogisticRegression(max_iter=500).fit(X, labels)
    compiled = sk2tensor.convert(model, pd.DataFrame(X, columns=list("wxyz")).to_numpy())
    assert compiled.predict_output == "class_index"
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X.astype(np.float32)))


def test_chunk_sizes_travel_in_the_metadata(iris) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from sk2tensor.model import cpu_chunk_rows

    X, y, _ = iris
    forest = sk2tensor.convert(RandomForestClassifier(64, max_depth=4, random_state=0).fit(X, y), X)
    assert int(forest.metadata["chunk_rows"]) == cpu_chunk_rows(64)
    traversal = sk2tensor.convert(
        RandomForestClassifier(64, max_depth=4, random_state=0).fit(X, y), X, strategy="tree_traversal"
    )
    assert int(traversal.metadata["chunk_rows"]) == cpu_chunk_rows(64, 1)
    assert cpu_chunk_rows(64, 1) == 2 * cpu_chunk_rows(64)
    # Wide node tables get chunks of half the widest tree's nodes, within 2^22 state elements.
    assert cpu_chunk_rows(100, 3_327) == cpu_chunk_rows(100, 1) == 2_621
    assert cpu_chunk_rows(100, 40_000) == 20_000
    assert cpu_chunk_rows(100, 10**7) == (1 << 22) // 100
    assert cpu_chunk_rows(100) == 1_310
    assert cpu_chunk_rows(1_000) == 256  # at least 256 rows, however many trees
    assert "max_chunk_rows" not in forest.metadata
    neighbours = sk2tensor.convert(KNeighborsClassifier().fit(X, y), X)
    assert neighbours.max_chunk_rows == int(neighbours.metadata["max_chunk_rows"]) > 0
    neighbours.max_chunk_rows = 7  # several runs, same answer
    np.testing.assert_array_equal(neighbours.predict(X), KNeighborsClassifier().fit(X, y).predict(X.astype(np.float32)))


def test_small_calls_of_the_session_dtype_skip_the_input_checks_and_agree(iris, monkeypatch) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y, _ = iris
    forest = RandomForestClassifier(16, max_depth=4, random_state=0).fit(X, y)
    compiled = sk2tensor.convert(forest, X)
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    expected = {method: compiled.run(method, X32.astype(np.float64)) for method in ("predict", "predict_proba")}
    assert expected["predict_proba"].dtype == np.float64  # sklearn's dtype, after the float32 session
    assert len(X32) <= compiled._one_call_rows < 2 * 256

    def refuse(*args, **kwargs):
        raise AssertionError("the direct path should not prepare the input")

    monkeypatch.setattr(compiled, "prepare_input", refuse)
    for method, want in expected.items():
        got = compiled.run(method, X32)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(compiled.run(method, X32[:1]), want[:1])
    monkeypatch.undo()
    # Anything else takes the checked path: a strided view, another dtype, a wrong width, chunks, no rows.
    np.testing.assert_array_equal(compiled.predict_proba(X32[::-1])[::-1], expected["predict_proba"])
    np.testing.assert_array_equal(compiled.predict(np.asfortranarray(X32)), expected["predict"])
    with pytest.raises(InputError, match="expects 4"):
        compiled.predict(X32[:, :3].copy())
    compiled.chunk_rows = 16
    assert compiled._one_call_rows == 16
    np.testing.assert_array_equal(compiled.predict_proba(X32), expected["predict_proba"])
    assert compiled.predict_proba(X32[:0]).shape == (0, 3)


def test_wide_traversal_trees_get_larger_chunks() -> None:
    from sklearn.ensemble import ExtraTreesRegressor

    from sk2tensor.model import cpu_chunk_rows

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12_000, 4)), rng.normal(size=12_000)
    forest = ExtraTreesRegressor(10, random_state=0).fit(X, y)  # ~24,000 nodes per tree, unlimited depth
    nodes = max(tree.tree_.node_count for tree in forest.estimators_)
    compiled = sk2tensor.convert(forest, X[:100], strategy="tree_traversal")
    assert int(compiled.metadata["chunk_rows"]) == cpu_chunk_rows(10, nodes) == nodes // 2 > 8192
    np.testing.assert_allclose(compiled.predict(X[:3_000]), forest.predict(X[:3_000].astype(np.float32)), rtol=1e-6)
