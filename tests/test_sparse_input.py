"""``convert(sparse_input=True)``: graphs that take compressed sparse rows (scipy's ``indptr``, ``indices``,
``values``) and work on the stored entries, compared with sklearn on the same sparse matrices.

Tolerances: the validator's (``sk2tensor.validate``); in float64 the linear scores and the tf-idf values are
asserted equal to sklearn's, since the graph adds each row's terms in scipy's order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge, SGDClassifier
from sklearn.naive_bayes import BernoulliNB, ComplementNB, MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, Normalizer, StandardScaler
from sklearn.svm import LinearSVC

import sk2tensor
from sk2tensor.errors import InputError, UnsupportedParameterError
from sk2tensor.model import dense_chunk_rows
from tests.test_portability import assert_portable


def counts(rows: int, width: int, density: float, seed: int) -> sparse.csr_matrix:
    """Term-count-like rows: small positive integers, a few rows empty (the last one too)."""
    X = sparse.random(rows, width, density=density, format="csr", random_state=seed, dtype=np.float64)
    X.data = np.round(X.data * 5) + 1
    X = X.tolil()
    for i in (3, rows - 1):
        X[i] = 0
    return X.tocsr()


X_TRAIN = counts(600, 400, 0.03, 0)
LABELS = np.random.default_rng(0).integers(0, 3, 600)
STRING_LABELS = np.array(["spam", "ham", "eggs"], dtype=object)[LABELS]
TARGET = X_TRAIN @ np.random.default_rng(1).normal(size=400) / 10


def models():
    yield "logistic", make_pipeline(TfidfTransformer(), LogisticRegression(max_iter=500)), LABELS
    yield "logistic-binary-strings", LogisticRegression(max_iter=500), STRING_LABELS[LABELS != 0]
    yield "linear-svc-sublinear-l1", make_pipeline(TfidfTransformer(sublinear_tf=True, norm="l1"), LinearSVC()), LABELS
    yield "sgd-max-abs", make_pipeline(MaxAbsScaler(), SGDClassifier(loss="log_loss", random_state=0)), LABELS
    yield "ridge-scaled", make_pipeline(StandardScaler(with_mean=False), Ridge()), TARGET
    yield "poisson", PoissonRegressor(max_iter=300), np.abs(TARGET)
    yield "svd-normalizer", make_pipeline(Normalizer(), TruncatedSVD(5, random_state=0), LogisticRegression()), LABELS
    yield "normalizer-max", make_pipeline(Normalizer("max"), LogisticRegression()), LABELS
    yield "multinomial-nb", MultinomialNB(), LABELS
    yield "complement-nb", ComplementNB(), LABELS
    yield "bernoulli-nb", BernoulliNB(binarize=1.5), LABELS
    forest = RandomForestClassifier(10, max_depth=6, random_state=0)
    yield "tfidf-forest", make_pipeline(TfidfTransformer(), forest), LABELS
    yield "tfidf-alone", TfidfTransformer(smooth_idf=False), None


MODELS = list(models())
#: Exports whose float64 scores or transform equal sklearn's bit for bit: sums in scipy's order, no function
#: whose last bit is the runtime's (``log`` of sublinear tf), no dense step (the max norm).
BIT_EXACT = {"logistic", "sgd-max-abs", "tfidf-alone"}


def fitted(name: str):
    _, model, y = next(m for m in MODELS if m[0] == name)
    if name == "logistic-binary-strings":
        return model.fit(X_TRAIN[LABELS != 0], y)
    return model.fit(X_TRAIN, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [m[0] for m in MODELS])
def test_sparse_export_matches_sklearn_on_sparse_rows(name: str, dtype: str) -> None:
    model = fitted(name)
    X = counts(300, 400, 0.03, 7)
    compiled = sk2tensor.convert(model, X, sparse_input=True, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert [i.name for i in compiled.onnx.graph.input] == ["indptr", "indices", "values"]
    rows = X.astype(dtype)
    for method in compiled.outputs:
        got = getattr(compiled, method)(rows)
        expected = getattr(model, method)(rows)
        expected = expected.toarray() if sparse.issparse(expected) else expected
        assert got.shape == expected.shape
        if method == "predict" and hasattr(model, "classes_"):
            assert (got == expected).all()
        elif dtype == "float64" and method in ("decision_function", "transform") and name in BIT_EXACT:
            np.testing.assert_array_equal(got, expected)  # scipy's summation order, bit for bit
    # one row and an empty row alone as sklearn gives them; an empty batch (which sklearn refuses) has no rows
    for method in compiled.outputs:
        for part in (rows[:1], rows[3:4]):
            expected = getattr(model, method)(part)
            expected = expected.toarray() if sparse.issparse(expected) else expected
            got = getattr(compiled, method)(part)
            if expected.dtype.kind in "OUi":
                np.testing.assert_array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)  # the validator's float32 bound
        assert getattr(compiled, method)(rows[:0]).shape == (0, *expected.shape[1:])
    assert_portable(compiled.onnx)


def test_stored_entries_are_used_as_given() -> None:
    """Unsorted columns, explicit zeros and repeated columns in a row: sklearn uses the stored entries as they
    are, and so does the graph (repeated columns summed)."""
    model = fitted("logistic")
    data = np.array([2.0, 0.0, 1.0, 3.0, 3.0, 1.0])
    indices = np.array([7, 3, 1, 7, 7, 0])
    indptr = np.array([0, 3, 3, 6])
    X = sparse.csr_matrix((data, indices, indptr), shape=(3, 400))
    compiled = sk2tensor.convert(model, X_TRAIN[:100], sparse_input=True, dtype="float64")
    np.testing.assert_allclose(compiled.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X))


def test_dense_rows_and_frames_are_taken_too() -> None:
    pd = pytest.importorskip("pandas")
    model = fitted("logistic")
    compiled = sk2tensor.convert(model, X_TRAIN[:100], sparse_input=True)
    dense = X_TRAIN[:50].toarray()
    expected = compiled.predict_proba(X_TRAIN[:50])
    np.testing.assert_array_equal(compiled.predict_proba(dense), expected)
    np.testing.assert_array_equal(compiled.predict_proba(dense.tolist()), expected)
    np.testing.assert_array_equal(compiled.predict_proba(pd.DataFrame(dense)), expected)
    np.testing.assert_array_equal(compiled.predict_proba(sparse.csc_array(X_TRAIN[:50])), expected)


def test_chunks_and_threads_give_one_call_results() -> None:
    model = fitted("tfidf-forest")
    X = counts(3000, 400, 0.03, 3)
    whole = sk2tensor.convert(model, X[:200], sparse_input=True, validate=False)
    expected = whole.predict_proba(X)
    chunked = sk2tensor.CompiledModel(whole.onnx, chunk_rows=97, threads=2)
    np.testing.assert_array_equal(chunked.predict_proba(X), expected)
    np.testing.assert_array_equal(expected, whole.predict_proba(X.toarray()))


def test_wide_rows_never_become_dense() -> None:
    """2^20 columns: the linear graph holds no [batch, width] tensor and no width-sized constant but the
    coefficients; a step that needs dense rows bounds the rows of one run instead."""
    width = 1 << 20
    rng = np.random.default_rng(0)  # 20 entries a row (scipy's sparse.random takes ~30 s at this width)
    X = sparse.csr_matrix((rng.random(8000), rng.integers(0, width, 8000), np.arange(0, 8001, 20)), shape=(400, width))
    X.sum_duplicates()
    y = np.arange(400) % 2
    linear = sk2tensor.convert(LogisticRegression().fit(X, y), X, sparse_input=True)
    assert linear.validation.passed
    sizes = sorted(int(np.prod(t.dims)) for t in linear.onnx.graph.initializer)
    assert sizes[-1] == width and sizes[-2] < 16  # the coefficients, then small constants
    assert "max_chunk_rows" not in linear.metadata
    # Dense rows, for a step that needs them, made by a sparse-aware step (the max norm) or for a dense output,
    # bound the rows of one run to 64 MiB of them.
    narrower = sparse.random(100, 1 << 16, density=2e-4, format="csr", random_state=0)
    forest = RandomForestClassifier(5, random_state=0).fit(narrower, np.arange(100) % 2)
    for model in (forest, Normalizer("max").fit(narrower), TfidfTransformer().fit(narrower)):
        compiled = sk2tensor.convert(model, narrower, sparse_input=True)
        assert int(compiled.metadata["max_chunk_rows"]) == dense_chunk_rows(1 << 16, np.float32) == 256
    assert dense_chunk_rows(width, np.float32) == 16


def test_dense_input_models_densify_sparse_rows_in_bounded_chunks(monkeypatch) -> None:
    model = fitted("logistic")
    compiled = sk2tensor.convert(model, X_TRAIN[:100])
    seen = []
    run = compiled.session.run

    def recording(names, feeds):
        seen.append(feeds["input"].shape[0])
        return run(names, feeds)

    monkeypatch.setattr("sk2tensor.model.DENSE_CHUNK_BYTES", 400 * 4 * 64)
    session = type("Session", (), {"run": staticmethod(recording)})
    monkeypatch.setattr(type(compiled), "session", property(lambda self: session))
    compiled.predict(X_TRAIN)
    assert max(seen) <= 64 and sum(seen) == X_TRAIN.shape[0]


def test_saved_file_runs_in_a_plain_session(tmp_path) -> None:
    """Another program feeds scipy's three CSR arrays by the names metadata ``sparse_input`` gives."""
    model = fitted("logistic")
    compiled = sk2tensor.convert(model, X_TRAIN[:100], sparse_input=True)
    compiled.save(tmp_path / "model.onnx")
    X = counts(50, 400, 0.03, 5).astype(np.float32)
    np.save(tmp_path / "indptr.npy", X.indptr.astype(np.int64))
    np.save(tmp_path / "indices.npy", X.indices.astype(np.int64))
    np.save(tmp_path / "values.npy", X.data)
    runner = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import onnxruntime as ort
        folder = sys.argv[1]
        session = ort.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
        names = json.loads(session.get_modelmeta().custom_metadata_map["sparse_input"])
        feeds = {names[k]: np.load(f"{folder}/{k}.npy") for k in ("indptr", "indices", "values")}
        np.save(folder + "/out.npy", session.run(["predict_proba"], feeds)[0])
        assert "sk2tensor" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", runner, str(tmp_path)], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), compiled.predict_proba(X))


def test_without_x_validation_runs_on_generated_sparse_rows() -> None:
    compiled = sk2tensor.convert(fitted("multinomial-nb"), sparse_input=True)
    assert compiled.validation.passed and compiled.validation.rows == 512


def test_bad_requests_say_why() -> None:
    model = fitted("logistic")
    with pytest.raises(UnsupportedParameterError, match="opset 16"):
        sk2tensor.convert(model, X_TRAIN[:50], sparse_input=True, opset=13)
    with pytest.raises(UnsupportedParameterError, match="sparse_input must be True or False"):
        sk2tensor.convert(model, X_TRAIN[:50], sparse_input="yes")
    with pytest.raises(UnsupportedParameterError, match="centre sparse rows"):
        sk2tensor.convert(
            make_pipeline(StandardScaler(), LogisticRegression()).fit(X_TRAIN.toarray(), LABELS),
            X_TRAIN[:50],
            sparse_input=True,
        )
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X_TRAIN.toarray(), LABELS)
    with pytest.raises(UnsupportedParameterError, match="does not predict on sparse rows"):
        sk2tensor.convert(hgb, X_TRAIN[:50], sparse_input=True)
    compiled = sk2tensor.convert(model, X_TRAIN[:50], sparse_input=True)
    with pytest.raises(InputError, match="400"):
        compiled.predict(X_TRAIN[:5, :300])
    with pytest.raises(InputError, match="numbers"):
        compiled.predict(np.full((2, 400), "a", dtype=object))
    with pytest.raises(InputError, match="base_margin"):
        compiled.predict(X_TRAIN[:5], base_margin=np.zeros(5))


def test_opset_can_be_raised() -> None:
    compiled = sk2tensor.convert(fitted("complement-nb"), X_TRAIN[:50], sparse_input=True, opset=18)
    assert compiled.onnx.opset_import[0].version == 18 and compiled.validation.passed


def test_cli_exports_and_scores_a_sparse_input_model(tmp_path) -> None:
    skops = pytest.importorskip("skops.io")
    from typer.testing import CliRunner

    from sk2tensor import cli

    model = tmp_path / "model.skops"
    skops.dump(fitted("multinomial-nb"), model)
    rows = tmp_path / "rows.npy"
    np.save(rows, X_TRAIN[:40].toarray())
    runner = CliRunner()
    out = tmp_path / "model.onnx"
    result = runner.invoke(cli.app, ["export", str(model), "-o", str(out), "--validate", str(rows), "--sparse-input"])
    assert result.exit_code == 0, result.output
    assert "inputs (sparse rows, CSR of 400 columns): indptr int64 [batch + 1]" in result.output
    scores = tmp_path / "scores.npy"
    result = runner.invoke(cli.app, ["predict", str(out), str(rows), "-o", str(scores), "-m", "predict_proba"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(scores), sk2tensor.load(out).predict_proba(X_TRAIN[:40]))


def test_cli_reads_sparse_npz_files_for_export_predict_validate_and_bench(tmp_path) -> None:
    """``.npz`` files of ``scipy.sparse.save_npz`` are data files like the others; their rows stay sparse."""
    skops = pytest.importorskip("skops.io")
    from typer.testing import CliRunner

    from sk2tensor import cli

    model, rows = tmp_path / "model.skops", tmp_path / "rows.npz"
    estimator = fitted("logistic")
    skops.dump(estimator, model)
    sparse.save_npz(rows, X_TRAIN[:300])
    runner = CliRunner()
    sparse_onnx, dense_onnx = tmp_path / "sparse.onnx", tmp_path / "dense.onnx"
    for out, extra in ((sparse_onnx, ["--sparse-input"]), (dense_onnx, [])):
        result = runner.invoke(cli.app, ["export", str(model), "-o", str(out), "--validate", str(rows), *extra])
        assert result.exit_code == 0, result.output
        assert f"validated on rows of {rows}" in result.output and "validation on 300 rows" in result.output
    expected = estimator.predict_proba(X_TRAIN[:300].astype(np.float32))
    for out in (sparse_onnx, dense_onnx):
        scores = tmp_path / f"{out.stem}.npy"
        result = runner.invoke(cli.app, ["predict", str(out), str(rows), "-o", str(scores), "-m", "predict_proba"])
        assert result.exit_code == 0, result.output
        assert "scored 300 rows" in result.output
        np.testing.assert_allclose(np.load(scores), expected, rtol=0, atol=1e-6)
    result = runner.invoke(cli.app, ["validate", str(model), str(sparse_onnx), "--data", str(rows)])
    assert result.exit_code == 0 and "passed" in result.output, result.output
    result = runner.invoke(cli.app, ["bench", str(model), "--data", str(rows), "--onnx", str(sparse_onnx), "--json"])
    assert result.exit_code == 0, result.output
    assert '"rows": 300' in result.output and '"features": 400' in result.output


def test_npz_files_that_are_not_sparse_rows_say_why(tmp_path) -> None:
    from sk2tensor.errors import ModelFileError
    from sk2tensor.loading import load_data, open_data

    dense, broken, empty, complex_rows = (tmp_path / f"{n}.npz" for n in ("dense", "broken", "empty", "complex"))
    np.savez(dense, rows=np.zeros((3, 3)))
    broken.write_bytes(b"PK\x03\x04 not a zip archive")
    sparse.save_npz(empty, sparse.csr_matrix((0, 4)))
    sparse.save_npz(complex_rows, sparse.csr_matrix(np.eye(3) * 1j))
    with pytest.raises(ModelFileError, match=r"not a sparse matrix saved by scipy\.sparse\.save_npz.*save dense"):
        load_data(dense)
    with pytest.raises(ModelFileError, match=r"not a readable \.npz file"):
        open_data(broken)
    with pytest.raises(InputError, match="holds no rows"):
        load_data(empty)
    with pytest.raises(InputError, match="expected numbers"):
        load_data(complex_rows)
    integers = tmp_path / "integers.npz"
    sparse.save_npz(integers, X_TRAIN[:5].astype(np.int64).tocsc())
    rows, names = load_data(integers)
    assert sparse.issparse(rows) and rows.format == "csr" and rows.dtype == np.float64 and names is None
    np.testing.assert_array_equal(rows.toarray(), X_TRAIN[:5].toarray())


def test_scoring_keeps_sparse_batches_sparse() -> None:
    from sk2tensor.loading import open_data

    source = open_data(X_TRAIN)
    batches = list(source.batches(range(400), 256))
    assert [b.shape for b in batches] == [(256, 400), (256, 400), (88, 400)]
    assert all(sparse.issparse(b) for b in batches)


def test_float32_coefficients_sum_in_float32_as_scipy_does() -> None:
    """A model fitted on float32 sparse rows keeps float32 coefficients, and scipy's product of float32 rows with
    them sums in float32: the export does the same, so its scores are sklearn's bit for bit (a float64 sum
    would differ from sklearn by more than float32 rounding on rows with cancelling terms)."""
    X = counts(2000, 5000, 0.01, 11).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 4, 2000)
    model = make_pipeline(TfidfTransformer(), LogisticRegression(max_iter=300)).fit(X, y)
    compiled = sk2tensor.convert(model, X[:500], sparse_input=True)
    assert_sums_match(compiled.decision_function(X), model.decision_function(X), model[-1].coef_.dtype)
    svd = TruncatedSVD(8, random_state=0).fit(X)
    compiled = sk2tensor.convert(svd, X[:500], sparse_input=True)
    assert_sums_match(compiled.transform(X), svd.transform(X), svd.components_.dtype)


def assert_sums_match(got: np.ndarray, expected: np.ndarray, fitted: np.dtype) -> None:
    """Equal where sklearn kept float32 coefficients (scikit-learn 1.9 on float32 rows); where it fitted float64
    ones (1.8), sklearn's float64 sums rounded once to the float32 output (relative 2^-24)."""
    if fitted == np.float32:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=2.0**-24, atol=0)
