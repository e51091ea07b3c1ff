"""The engines compared: sklearn itself, sk2tensor per strategy, and the peers when they are installed.

An engine turns a fitted model into a :class:`Runner` (a function of the rows that returns what sklearn's
``predict_proba`` returns for a classifier, ``predict`` for a regressor) or into a :class:`Skip` that says why
it cannot run; a missing peer is a row of the table, not a crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import sk2tensor
from sk2tensor.errors import Sk2TensorError

STRATEGIES = ("auto", "perfect_tree_traversal", "tree_traversal", "gemm")


@dataclass
class Runner:
    """A prepared engine: ``run(X)`` is what is timed."""

    run: Callable[[np.ndarray], np.ndarray]
    strategy: str = ""
    note: str = ""
    export_seconds: float | None = None


@dataclass(frozen=True)
class Skip:
    """An engine that cannot run this model, and why."""

    reason: str


@dataclass(frozen=True)
class Engine:
    name: str
    kind: str  # "sklearn", "sk2tensor" or "peer"
    prepare: Callable[[Any, str, np.ndarray, str], Runner | Skip]


def _method(model: Any, task: str) -> str:
    return "predict_proba" if task == "classification" else "predict"


# ----------------------------------------------------------------------------- sklearn
def _sklearn(n_jobs: int) -> Callable[[Any, str, np.ndarray, str], Runner | Skip]:
    def prepare(model: Any, task: str, X: np.ndarray, device: str) -> Runner | Skip:
        method = getattr(model, _method(model, task))
        if type(model).__module__.startswith("catboost"):  # CatBoost: its own threads, per call

            def run_catboost(rows: np.ndarray) -> np.ndarray:
                return method(rows, thread_count=n_jobs)

            return Runner(run_catboost, note=f"thread_count={n_jobs}")
        if hasattr(model, "get_booster"):  # XGBoost: its own threads, set on the booster
            threads = 0 if n_jobs == -1 else n_jobs  # 0: every core

            def run_xgboost(rows: np.ndarray) -> np.ndarray:
                model.get_booster().set_param("nthread", threads)
                return method(rows)

            return Runner(run_xgboost, note=f"nthread={threads}")
        if hasattr(model, "n_jobs"):  # forests: joblib threads over trees; LightGBM: its own threads

            def run(rows: np.ndarray) -> np.ndarray:
                model.n_jobs = n_jobs
                return method(rows)

            return Runner(run)
        if hasattr(model, "_predictors"):  # HistGradientBoosting: OpenMP threads over rows
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController()
            if n_jobs == -1:
                return Runner(method, note="OpenMP, all cores")

            def run_limited(rows: np.ndarray) -> np.ndarray:
                with controller.limit(limits=n_jobs, user_api="openmp"):
                    return method(rows)

            return Runner(run_limited, note="OpenMP limited to 1 thread")
        return Runner(method, note="no n_jobs: predicts on one thread")

    return prepare


# ----------------------------------------------------------------------------- sk2tensor
def _sk2tensor(strategy: str) -> Callable[[Any, str, np.ndarray, str], Runner | Skip]:
    def prepare(model: Any, task: str, X: np.ndarray, device: str) -> Runner | Skip:
        start = time.perf_counter()
        try:
            compiled = sk2tensor.convert(model, X, strategy=strategy, device=device)
        except Sk2TensorError as error:
            return Skip(f"refused: {str(error).splitlines()[0]}")
        seconds = time.perf_counter() - start
        used = ", ".join(sorted(set(compiled.strategy.values())))
        note = "" if compiled.validation is None or compiled.validation.passed else "validation failed"
        if device == "cuda":
            note = _strict_cuda_note(compiled)
        return Runner(getattr(compiled, _method(model, task)), strategy=used, note=note, export_seconds=seconds)

    return prepare


def _strict_cuda_note(compiled: Any) -> str:
    """Whether the graph loads on a strict CUDA session (no node left to the CPU provider)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    try:
        ort.InferenceSession(compiled.onnx.SerializeToString(), options, providers=["CUDAExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        return f"strict CUDA session refused: {str(error).splitlines()[0][:120]}"
    return "every node on CUDA (strict session)"


# ----------------------------------------------------------------------------- peers
def _error_text(error: BaseException) -> str:
    """The error's type and first line, and those of its cause (the root of a wrapped error)."""

    def line(e: BaseException) -> str:
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {(text[0] if text else '')[:110]}"

    cause = error.__cause__ or error.__context__
    return line(error) + (f" (caused by {line(cause)})" if cause is not None else "")


def _skl2onnx(model: Any, task: str, X: np.ndarray, device: str) -> Runner | Skip:
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
    except ImportError as error:
        return Skip(f"skl2onnx is not installed ({error.name}); install the 'bench' extra")
    start = time.perf_counter()
    options = {id(model): {"zipmap": False}} if task == "classification" else None
    catboost = type(model).__module__.startswith("catboost")
    try:
        # skl2onnx has no CatBoost converter: CatBoost's own ONNX export (TreeEnsemble operators) stands in.
        onx = _catboost_onnx(model) if catboost else to_onnx(model, X[:1], options=options)
    except Exception as error:  # skl2onnx raises many types for unsupported models
        who = "CatBoost's own ONNX export" if catboost else "skl2onnx"
        return Skip(f"{who} cannot convert it: {_error_text(error)}")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(onx.SerializeToString(), providers=providers)
    seconds = time.perf_counter() - start
    names = [o.name for o in session.get_outputs()]
    if task == "classification":
        output = next((n for n in names if "prob" in n), names[-1])

        def run(rows: np.ndarray) -> np.ndarray:
            return session.run([output], {session.get_inputs()[0].name: rows})[0]

    else:
        output = names[0]

        def run(rows: np.ndarray) -> np.ndarray:
            return session.run([output], {session.get_inputs()[0].name: rows})[0].ravel()

    ops = sorted({n.op_type for n in onx.graph.node if n.domain == "ai.onnx.ml"})
    note = f"{', '.join(ops)}; ORT default threads" + ("; ai.onnx.ml runs on the CPU" if device == "cuda" else "")
    if catboost:
        note = "CatBoost's own ONNX export: " + note
    return Runner(run, strategy="TreeEnsemble", note=note, export_seconds=seconds)


def _catboost_onnx(model: Any) -> Any:
    """CatBoost's own ONNX export (``save_model(format="onnx")``), read back."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/model.onnx"
        model.save_model(path, format="onnx")
        onx = onnx.load(path)
    # Its probabilities come out of a ZipMap (a list of dicts); take the tensor that feeds it, as skl2onnx's
    # zipmap=False does, so that no engine pays for building Python dicts.
    for node in [n for n in onx.graph.node if n.op_type == "ZipMap"]:
        onx.graph.node.remove(node)
        kept = [o for o in onx.graph.output if o.name != node.output[0]]
        del onx.graph.output[:]
        onx.graph.output.extend(kept)
        onx.graph.output.append(onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    return onx


def _hummingbird(model: Any, task: str, X: np.ndarray, device: str) -> Runner | Skip:
    try:
        import hummingbird.ml
    except ImportError:
        return Skip("Hummingbird is not installed (see benchmarks/README.md); not in the 'bench' extra")
    start = time.perf_counter()
    try:
        converted = hummingbird.ml.convert(model, "torch", X[:1000], device=device)
    except Exception as error:  # its converters raise many types
        return Skip(f"Hummingbird cannot convert it: {_error_text(error)}")
    seconds = time.perf_counter() - start
    note = f"torch {_torch_threads()} threads" if device == "cpu" else ""
    return Runner(
        getattr(converted, _method(model, task)),
        strategy=_hummingbird_strategy(converted),
        note=note,
        export_seconds=seconds,
    )


#: Hummingbird's tree operators, by class name, and the names its ``tree_implementation`` option gives them.
_HUMMINGBIRD_TREE_STRATEGIES = {
    "GEMM": "gemm",
    "PerfectTreeTraversal": "perf_tree_trav",
    "TreeTraversal": "tree_trav",
}


def _hummingbird_strategy(converted: Any) -> str:
    """The tree strategy Hummingbird picked for this model (it chooses by tree depth), or "its default"."""
    operators = getattr(getattr(converted, "model", None), "_operators", None) or []
    for operator in operators:
        name = type(operator).__name__
        for prefix, strategy in _HUMMINGBIRD_TREE_STRATEGIES.items():
            if name.startswith(prefix):
                return strategy
    return "its default"


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def engines(device: str) -> list[Engine]:
    """Every engine, in table order; sklearn ``n_jobs=1`` first (the reference of every ratio)."""
    found = [
        Engine("sklearn n_jobs=1", "sklearn", _sklearn(1)),
        Engine("sklearn n_jobs=-1", "sklearn", _sklearn(-1)),
    ]
    for strategy in STRATEGIES:
        found.append(Engine(f"sk2tensor {strategy} ({device})", "sk2tensor", _sk2tensor(strategy)))
    found.append(Engine(f"skl2onnx + ORT ({'cpu' if device == 'cpu' else 'cuda+cpu'})", "peer", _skl2onnx))
    found.append(Engine(f"Hummingbird torch ({device})", "peer", _hummingbird))
    return found
