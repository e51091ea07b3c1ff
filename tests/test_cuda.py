"""Exported graphs on ONNX Runtime's CUDA provider, each in a strict session: no node may fall back to the CPU.

Skipped where onnxruntime offers no ``CUDAExecutionProvider`` (CI and the development machines have no GPU). On
a GPU machine, after staging ``onnxruntime-gpu`` (``benchmarks/README.md``)::

    python -m pytest -p no:xdist tests/test_cuda.py

``SK2TENSOR_STRICT_PROVIDER=CPUExecutionProvider`` runs the same checks on the CPU provider, which checks the
tests themselves where no GPU is at hand. A strict session (``session.disable_cpu_ep_fallback=1`` with only the
provider named) refuses a graph that holds a node the provider has no kernel for, or a shape computation that
ONNX Runtime would place on the CPU; the outputs are then compared with those of a plain CPU session of the same
file (labels and indices exactly, floats within the tolerances ``convert`` validates with).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestClassifier

import sk2tensor
from sk2tensor.converters.trees import lowering
from sk2tensor.model import onnxruntime
from sk2tensor.validate import PROBABILITY_ATOL, SCALED_TOL
from tests.cases import CASES, Case

PROVIDER = os.environ.get("SK2TENSOR_STRICT_PROVIDER", "CUDAExecutionProvider")
ort = onnxruntime()
pytestmark = pytest.mark.skipif(
    PROVIDER not in ort.get_available_providers(),
    reason=f"{PROVIDER} is not available (install onnxruntime-gpu on a machine with a GPU)",
)
#: What ``convert`` is told to build for: CUDA exports keep one part of trees (no ``If`` on the rows).
DEVICE = "cuda" if PROVIDER == "CUDAExecutionProvider" else "cpu"


def strict_session(model: onnx.ModelProto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if PROVIDER != "CPUExecutionProvider":  # ONNX Runtime refuses the option beside the CPU provider itself
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=[PROVIDER])


def cpu_session(model: onnx.ModelProto):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_same_outputs(model: onnx.ModelProto, batches: list[np.ndarray], dtype: str) -> None:
    """The strict session and a CPU session of ``model`` agree on every output for each of ``batches``."""
    strict, cpu = strict_session(model), cpu_session(model)
    names = [o.name for o in strict.get_outputs()]
    feed = strict.get_inputs()[0].name
    for X in batches:
        got, want = strict.run(names, {feed: X}), cpu.run(names, {feed: X})
        for name, g, w in zip(names, got, want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype, name
            if w.dtype.kind != "f":
                np.testing.assert_array_equal(g, w, err_msg=name)
            elif name == "predict_proba":
                np.testing.assert_allclose(g, w, rtol=0, atol=PROBABILITY_ATOL[dtype], err_msg=name)
            else:
                scale = max(1.0, float(np.nanmax(np.abs(w)))) if w.size else 1.0
                atol = SCALED_TOL[dtype] * scale
                np.testing.assert_allclose(g, w, rtol=0, atol=atol, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_case_runs_whole_on_the_provider(case: Case) -> None:
    estimator, data = case.fitted()
    compiled = sk2tensor.convert(estimator, data.X, device=DEVICE)
    X = np.ascontiguousarray(data.X, dtype=np.float32)
    assert_same_outputs(compiled.onnx, [X, X[:1]], "float32")


@pytest.fixture(scope="module")
def forests():
    X, y = make_classification(3000, 12, n_informative=8, random_state=0)
    X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan
    Xr, yr = make_regression(3000, 12, random_state=0)
    Xr[np.random.default_rng(1).random(Xr.shape) < 0.05] = np.nan
    return {
        "random forest": (RandomForestClassifier(30, max_depth=7, random_state=0).fit(X[:2000], y[:2000]), X[2000:]),
        "hist gradient boosting": (HistGradientBoostingRegressor(max_iter=30).fit(Xr[:2000], yr[:2000]), Xr[2000:]),
    }


@pytest.mark.parametrize("strategy", ["auto", *lowering.LOWERINGS])
@pytest.mark.parametrize("name", ["random forest", "hist gradient boosting"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tree_strategies_run_whole_on_the_provider(forests, name: str, strategy: str, dtype: str) -> None:
    estimator, X = forests[name]
    compiled = sk2tensor.convert(estimator, X, strategy=strategy, dtype=dtype, device=DEVICE)
    rows = np.ascontiguousarray(X, dtype=dtype)
    assert_same_outputs(compiled.onnx, [rows, rows[:1], rows[:100]], dtype)


def test_a_cpu_export_with_cache_parts_runs_whole_on_the_provider(monkeypatch) -> None:
    # A CPU export of wide trees holds both step sequences and an If on the call's rows; shipped to a GPU
    # service, it must still run there without the CPU, on either side of the If.
    X, y = make_regression(3000, 6, random_state=0)
    X[np.random.default_rng(2).random(X.shape) < 0.02] = np.nan
    forest = ExtraTreesRegressor(12, random_state=0).fit(X[:2000], y[:2000])
    monkeypatch.setattr(lowering, "TRAVERSAL_CACHE_BYTES", 30_000)  # a few trees per part
    compiled = sk2tensor.convert(forest, X[2000:], strategy="tree_traversal", device="cpu")
    assert any(node.op_type == "If" for node in compiled.onnx.graph.node), "expected the parts' If"
    rows = np.ascontiguousarray(X[2000:], dtype=np.float32)
    least = lowering.TRAVERSAL_PARTS_MIN_ROWS
    assert_same_outputs(compiled.onnx, [rows[:1], rows[: least - 1], rows[:least], rows], "float32")


@pytest.mark.parametrize("strategy", ["auto", *lowering.LOWERINGS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lightgbm_linear_trees_run_whole_on_the_provider(strategy: str, dtype: str) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = make_regression(3000, 8, random_state=0)
    X[np.random.default_rng(3).random(X.shape) < 0.05] = np.nan
    model = lightgbm.LGBMRegressor(n_estimators=30, linear_tree=True, verbose=-1).fit(X[:2000], y[:2000])
    compiled = sk2tensor.convert(model, X[2000:], strategy=strategy, dtype=dtype, device=DEVICE)
    rows = np.ascontiguousarray(X[2000:], dtype=dtype)
    assert_same_outputs(compiled.onnx, [rows, rows[:1], rows[:100]], dtype)


@pytest.mark.parametrize("strategy", ["auto", *lowering.LOWERINGS])
@pytest.mark.parametrize("policy", ["SymmetricTree", "Depthwise"])
def test_catboost_runs_whole_on_the_provider(strategy: str, policy: str) -> None:
    catboost = pytest.importorskip("catboost")
    X, y = make_regression(3000, 8, random_state=0)
    X[np.random.default_rng(4).random(X.shape) < 0.05] = np.nan
    quiet = {"verbose": 0, "allow_writing_files": False, "thread_count": 1}
    model = catboost.CatBoostRegressor(iterations=50, grow_policy=policy, **quiet).fit(X[:2000], y[:2000])
    compiled = sk2tensor.convert(model, X[2000:], strategy=strategy, device=DEVICE, contributions=True)
    rows = np.ascontiguousarray(X[2000:], dtype=np.float32)
    assert_same_outputs(compiled.onnx, [rows, rows[:1], rows[:100]], "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_contributions_run_whole_on_the_provider(forests, dtype: str) -> None:
    for estimator, X in forests.values():
        leaves = hasattr(estimator, "apply")  # the random forest: its leaf ids too
        compiled = sk2tensor.convert(estimator, X[:200], dtype=dtype, device=DEVICE, contributions=True, leaves=leaves)
        rows = np.ascontiguousarray(X[:200], dtype=dtype)
        assert_same_outputs(compiled.onnx, [rows, rows[:1]], dtype)
