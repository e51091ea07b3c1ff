"""The benchmark's peer engines report what they ran, or why they did not run (no timing here)."""

from __future__ import annotations

import importlib.util
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from benchmarks import engines


class PerfectTreeTraversalDecisionTreeImpl:  # named as Hummingbird names its operators
    pass


class TreeTraversalDecisionTreeImpl:
    pass


class GEMMDecisionTreeImpl:
    pass


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (PerfectTreeTraversalDecisionTreeImpl, "perf_tree_trav"),
        (TreeTraversalDecisionTreeImpl, "tree_trav"),
        (GEMMDecisionTreeImpl, "gemm"),
    ],
)
def test_hummingbird_rows_name_the_strategy_it_picked(operator: type, expected: str) -> None:
    converted = SimpleNamespace(model=SimpleNamespace(_operators=[object(), operator()]))
    assert engines._hummingbird_strategy(converted) == expected


def test_hummingbird_strategy_unknown_layout() -> None:
    assert engines._hummingbird_strategy(SimpleNamespace()) == "its default"


def test_missing_hummingbird_is_a_row_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hummingbird", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "hummingbird.ml", None)
    X = np.random.default_rng(0).normal(size=(50, 4))
    model = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, X[:, 0] > 0)
    result = engines._hummingbird(model, "classification", X, "cpu")
    assert isinstance(result, engines.Skip)
    assert "not installed" in result.reason and "README" in result.reason


def test_auto_targets_separate_the_choice_from_timing_noise() -> None:
    from benchmarks.report import targets
    from benchmarks.run import ModelResult, Row

    def row(engine: str, strategy: str, median: float) -> Row:
        return Row("M", 10_000, engine, "sk2tensor", strategy=strategy, median=median)

    model = ModelResult("M", "RandomForestClassifier", "", "classification", 0.0)
    model.rows = [
        row("sk2tensor auto (cpu)", "tree_traversal", 1.40),  # a noisy call of the same graph as the next row
        row("sk2tensor tree_traversal (cpu)", "tree_traversal", 1.05),
        row("sk2tensor perfect_tree_traversal (cpu)", "perfect_tree_traversal", 1.00),
    ]
    lines = targets([model], "cpu")
    auto_line = next(line for line in lines if line.startswith("- `auto` against"))
    choice_line = next(line for line in lines if line.startswith("- The strategy `auto` chose"))
    assert "within +10% on 0 of 1 rows" in auto_line and "+40.0%" in auto_line and "up to 33%" in auto_line
    assert "within +10% on 1 of 1 rows" in choice_line and "+5.0%" in choice_line


def test_contributions_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The contributions benchmark end to end on one small model: every engine a row, differences filled in."""
    from benchmarks import contributions

    monkeypatch.setattr(contributions, "TRAIN_ROWS", 500)
    monkeypatch.setattr(
        contributions, "_models", lambda: {"RF 5 x 4": lambda: RandomForestClassifier(5, max_depth=4, random_state=0)}
    )
    assert contributions.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("contributions-*.md")
    table = [line for line in written.read_text().splitlines() if line.startswith("| RF 5 x 4 |")]
    engines = {line.split(" | ")[2] for line in table}
    assert "sk2tensor" in engines and len(table) == 3 * len(engines)
    if importlib.util.find_spec("shap") is not None:  # shap is the reference the differences are taken from
        assert all(line.split(" | ")[6] for line in table)


def test_catboost_rows_use_its_threads_and_its_own_onnx_export_without_zipmap() -> None:
    catboost = pytest.importorskip("catboost")
    pytest.importorskip("skl2onnx")
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    labels = (X[:, 0] > 0).astype(int)  # CatBoost's ONNX export refuses boolean labels
    model = catboost.CatBoostClassifier(iterations=5, verbose=0, allow_writing_files=False).fit(X, labels)
    expected = model.predict_proba(X)
    native = engines._sklearn(1)(model, "classification", X, "cpu")
    assert native.note == "thread_count=1"
    np.testing.assert_array_equal(native.run(X), expected)
    peer = engines._skl2onnx(model, "classification", X, "cpu")
    assert isinstance(peer, engines.Runner) and peer.note.startswith("CatBoost's own ONNX export")
    np.testing.assert_allclose(peer.run(X), expected, atol=1e-6)  # its TreeEnsemble sums in float32


def test_pipelines_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The custom-function pipelines benchmark end to end, small: sklearn, sk2tensor and the skl2onnx row."""
    from benchmarks import pipelines

    monkeypatch.setattr(pipelines, "TRAIN_ROWS", 500)
    monkeypatch.setattr(pipelines, "BATCHES", (1, 50))
    assert pipelines.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("pipelines-*.md")
    table = [line for line in written.read_text().splitlines() if line.startswith("| engineered -> scaler")]
    assert {line.split(" | ")[2] for line in table} == {"sklearn", "sk2tensor", "skl2onnx + ORT"}
    sk2tensor_rows = [line for line in table if line.split(" | ")[2] == "sk2tensor"]
    assert all(float(line.split(" | ")[6]) < 1e-5 for line in sk2tensor_rows)  # max diff from sklearn


def test_libraries_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The imbalanced-learn, category_encoders and feature_engine benchmark end to end, small."""
    for library in ("imblearn", "category_encoders", "feature_engine"):
        pytest.importorskip(library)
    from benchmarks import libraries

    monkeypatch.setattr(libraries, "TRAIN_ROWS", 600)
    monkeypatch.setattr(libraries, "BATCHES", (1, 80))
    assert libraries.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("libraries-*.md")
    table = [
        line for line in written.read_text().splitlines() if line.startswith(("| imblearn", "| category", "| feature"))
    ]
    assert len({line.split(" | ")[0] for line in table}) == len(libraries._models())
    sk2tensor_rows = [line for line in table if line.split(" | ")[2] == "sk2tensor"]
    assert len(sk2tensor_rows) == 2 * len(libraries._models())
    assert all(float(line.split(" | ")[6]) < 1e-5 for line in sk2tensor_rows)  # max diff from the library


def test_sparse_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The wide sparse rows benchmark end to end, small: every engine has a row, the sparse export's differences
    from sklearn are within float32 rounding, and a dense batch over the limit is a row saying why."""
    from benchmarks import sparse

    monkeypatch.setattr(sparse, "WIDTH", 1 << 12)
    monkeypatch.setattr(sparse, "TRAIN_ROWS", 400)
    monkeypatch.setattr(sparse, "BATCHES", (1, 300))
    monkeypatch.setattr(sparse, "DENSE_LIMIT", 100 * (1 << 12) * 4)
    assert sparse.main(["--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("sparse-*.md")
    table = [line for line in written.read_text().splitlines() if line.startswith("| multinomial NB")]
    engines = {line.split(" | ")[2] for line in table}
    assert engines == {"sklearn", "sk2tensor sparse_input", "sk2tensor dense input", "skl2onnx + ORT"}
    sparse_rows = [line for line in table if line.split(" | ")[2] == "sk2tensor sparse_input"]
    assert all(float(line.split(" | ")[6]) < 1e-6 for line in sparse_rows)
    assert any("skipped: " in line for line in table if line.split(" | ")[1] == "300")


def test_sizes_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The file-size benchmark end to end on its quickest model, small: sizes of every export, the compact
    export's outputs equal to the full-width one's (it raises otherwise), the float32-leaf difference."""
    from benchmarks import models, sizes

    monkeypatch.setattr(models, "TRAIN_ROWS", 500)
    monkeypatch.setattr(sizes, "TIMED_ROWS", 300)
    monkeypatch.setattr(sizes, "VALIDATION_ROWS", 200)
    assert sizes.main(["--models", "GB 100x3", "--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("sizes-*.md")
    (row,) = [line for line in written.read_text().splitlines() if line.startswith("| GB 100x3")]
    cells = row.split(" | ")
    assert float(cells[3]) <= 1.0  # compact over full width
    assert float(cells[-1].split(",")[0]) < 1e-6  # float32 leaves against sklearn's probabilities


def test_text_benchmark_writes_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The text vectorizer benchmark end to end in its quick mode, small: every engine a row for each corpus and
    model, the export's probabilities within float32 rounding of sklearn's, untokenizable documents dropped."""
    from benchmarks import text

    documents, labels, dropped, reason = text.tokenizable(["Plain words.", "An emoji \U0001f600 here"], np.arange(2))
    assert list(documents) == ["Plain words."] and list(labels) == [0] and dropped == 1 and "U+1F600" in reason
    monkeypatch.setattr(text, "QUICK_TRAIN_DOCS", 300)
    assert text.main(["--quick", "--repeats", "1", "--out", str(tmp_path)]) == 0
    (written,) = tmp_path.glob("text-*-quick-*.md")
    report = written.read_text()
    table = [line for line in report.splitlines() if line.startswith(("| descriptions: ", "| synthetic reviews: "))]
    assert len({line.split(" | ")[0] for line in table}) == 2 * len(text.QUICK_MODELS)
    assert {line.split(" | ")[2] for line in table} == {"sklearn", "sk2tensor", "skl2onnx + ORT"}
    assert len(table) == 3 * 2 * len(text.QUICK_MODELS) * len(text.QUICK_BATCHES)
    sk2tensor_rows = [line for line in table if line.split(" | ")[2] == "sk2tensor"]
    assert all(float(line.split(" | ")[6]) < 1e-5 for line in sk2tensor_rows)  # max diff from sklearn
    assert "dropped as untokenizable" in report
