"""Exported graphs are portable: default-domain operators only, no runtime shape computation, an explicit
IR version, and a saved file that runs in a plain onnxruntime session without sk2tensor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest

import sk2tensor
from tests.cases import CASES, Case
from tests.runtime import latest_opset

#: Operators that make ORT place nodes on the CPU in a strict CUDA session (DESIGN.md, GPU rules).
SHAPE_OPS = {"Shape", "ConstantOfShape", "Expand", "Size", "NonZero", "Range"}


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attribute.g)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_graph_uses_only_the_default_domain(case: Case) -> None:
    estimator, data = case.fitted()
    assert_portable(sk2tensor.convert(estimator, data.X[:50]).onnx)


def _explained_exports():
    """Exports with the opt-in outputs, and the external models' own graph kinds (linear trees, gblinear)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    X, y = make_classification(300, 6, random_state=0)
    X[::13, 2] = np.nan
    yield (
        "forest",
        RandomForestClassifier(10, max_depth=5, random_state=0).fit(X, y),
        {"contributions": True, "leaves": True},
    )
    yield "hgb", HistGradientBoostingClassifier(max_iter=10).fit(X, y), {"contributions": True}
    lightgbm = pytest.importorskip("lightgbm")
    yield "lgbm", lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y), {"contributions": True}
    yield "lgbm_linear", lightgbm.LGBMRegressor(n_estimators=10, linear_tree=True, verbose=-1).fit(X, X[:, 0]), {}
    xgboost = pytest.importorskip("xgboost")
    yield "xgb", xgboost.XGBClassifier(n_estimators=10).fit(X, y), {"contributions": True, "leaves": True}
    yield "gblinear", xgboost.XGBRegressor(n_estimators=10, booster="gblinear").fit(X, X[:, 0]), {}
    margin = {"base_margin": np.linspace(-1.0, 1.0, 50)}  # a second input, for the 50 rows the test converts on
    yield "xgb_base_margin", xgboost.XGBRegressor(n_estimators=10).fit(X, X[:, 0]), margin
    catboost = pytest.importorskip("catboost")
    quiet = {"verbose": 0, "allow_writing_files": False, "thread_count": 1}
    for policy in ("SymmetricTree", "Depthwise"):
        model = catboost.CatBoostClassifier(iterations=10, grow_policy=policy, **quiet).fit(X, y)
        yield f"catboost_{policy}", model, {"contributions": True}


def test_exports_with_contributions_leaves_and_linear_boosters_use_only_the_default_domain() -> None:
    for name, estimator, options in _explained_exports():
        X = np.random.default_rng(0).normal(size=(50, 6))
        compiled = sk2tensor.convert(estimator, X, **options)
        wanted = {"contributions": "contributions", "leaves": "apply"}
        assert {wanted[option] for option in options if option in wanted} <= set(compiled.outputs), name
        assert_portable(compiled.onnx)


def assert_portable(model: onnx.ModelProto) -> None:
    """Default-domain operators only (subgraphs too), no shape computation, the lowest IR version, no unread
    constant, and the full checker."""
    assert [op.domain for op in model.opset_import] == [""]
    nodes = list(_all_nodes(model.graph))
    assert nodes
    assert {node.domain for node in nodes} == {""}
    assert not {node.op_type for node in nodes} & SHAPE_OPS
    assert model.ir_version == onnx.helper.find_min_ir_version_for(list(model.opset_import))
    read = {name for node in nodes for name in node.input} | {output.name for output in model.graph.output}
    assert [t.name for t in model.graph.initializer if t.name not in read] == [], "constants no node reads"
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("opset", [13, 17, 18, latest_opset()])
def test_opset_can_be_chosen(opset: int) -> None:
    estimator, data = next(c for c in CASES if c.id == "GradientBoostingClassifier-iris").fitted()
    compiled = sk2tensor.convert(estimator, data.X, opset=opset)
    assert compiled.onnx.opset_import[0].version == opset
    assert compiled.validation.passed


PLAIN_RUNNER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import onnxruntime as ort
    model, data, out = sys.argv[1:4]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    X = np.load(data).astype(meta["input_dtype"])
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, {session.get_inputs()[0].name: X})))
    np.savez(out, **results)
    print(json.dumps({"imported_sk2tensor": "sk2tensor" in sys.modules, "outputs": names,
                      "classes": json.loads(meta.get("classes", "null"))}))
    """
)


@pytest.mark.parametrize(
    "case_id",
    [
        "RandomForestClassifier-string_labels",
        "scaled_LogisticRegression-breast_cancer",
        "GradientBoostingRegressor_huber-diabetes",
    ],
)
def test_saved_file_runs_in_a_plain_session_without_sk2tensor(case_id: str, tmp_path: Path) -> None:
    estimator, data = next(c for c in CASES if c.id == case_id).fitted()
    compiled = sk2tensor.convert(estimator, data.X)
    model_path = compiled.save(tmp_path / "model.onnx")
    np.save(tmp_path / "X.npy", data.X)
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_RUNNER, str(model_path), str(tmp_path / "X.npy"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    assert report["imported_sk2tensor"] is False
    assert report["outputs"] == list(compiled.outputs)
    raw = np.load(tmp_path / "out.npz")
    for method in compiled.outputs:
        np.testing.assert_array_equal(
            raw[method], compiled.session.run([method], {"input": data.X.astype(np.float32)})[0]
        )
    if "predict" in compiled.outputs and report["classes"] is not None:
        labels = np.asarray(report["classes"], dtype=object)
        held = raw["predict"] if compiled.predict_output == "label" else labels[raw["predict"]]
        np.testing.assert_array_equal(held, estimator.predict(data.X.astype(np.float32)))


def test_load_round_trip_works_from_the_file_alone(tmp_path: Path) -> None:
    estimator, data = next(c for c in CASES if c.id == "HistGradientBoostingClassifier-string_labels").fitted()
    path = sk2tensor.convert(estimator, data.X).save(tmp_path / "m.onnx")
    loaded = sk2tensor.load(path, device="cpu")
    X = data.X.astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    assert loaded.classes.tolist() == estimator.classes_.tolist()
    meta = loaded.metadata
    assert meta["producer"] == "sk2tensor" and meta["estimator_class"].endswith("HistGradientBoostingClassifier")
    assert json.loads(meta["validation"])["passed"] is True
    assert json.loads(meta["strategy"])


def test_the_strict_cuda_checks_pass_on_the_cpu_provider() -> None:
    # tests/test_cuda.py runs only where CUDA is; run part of it on the CPU provider so that it cannot rot unseen.
    import os

    env = {**os.environ, "SK2TENSOR_STRICT_PROVIDER": "CPUExecutionProvider"}
    selection = "tree_strategies and float32 or cache_parts or LogisticRegression-iris or MLPClassifier"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    done = subprocess.run(
        [*command, "-k", selection],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], done.stdout[-500:]
