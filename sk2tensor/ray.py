"""Scoring Ray Datasets: one ONNX Runtime session per Ray worker, through ``Dataset.map_batches``.

:func:`predict` appends an exported model's prediction columns to a :class:`ray.data.Dataset`;
:func:`predict_parquet` scores a Parquet directory into another one (what ``sk2tensor predict --engine ray``
runs). Install with ``pip install 'sk2tensor[ray]'`` on the driver and on every worker (with ``onnxruntime-gpu``
instead of ``onnxruntime`` on GPU workers).

The model file is read once, on the driver, and travels to the workers through Ray's object store: no shared
filesystem is needed. Everything that can be checked before any worker starts is checked on the driver (the
model file, the methods, the dataset's columns, ONNX Runtime and sk2tensor on a worker) and raises the usual
:mod:`sk2tensor.errors`, not a stack of executor logs. Columns are named as ``sk2tensor predict`` names them
(:func:`sk2tensor.scoring.column_names`). Rows are scored in the order Ray Data hands them over, which is not the
input order unless the dataset's ``execution_options.preserve_order`` is set: keep an id column.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sk2tensor.errors import InputError, ModelFileError, RuntimeUnavailableError, Sk2TensorError
from sk2tensor.loading import DEFAULT_BATCH_ROWS
from sk2tensor.model import CompiledModel, load
from sk2tensor.scoring import ScoreResult, check_methods, column_names, joined_outputs, refuse_base_margin

if TYPE_CHECKING:
    import pandas as pd
    import ray.data

__all__ = ["WorkerSetupError", "predict", "predict_parquet"]

_INSTALL_HINT = "pip install 'sk2tensor[ray]'"
_WORKER_HINT = "install 'sk2tensor[ray,cpu]' on every Ray worker ('sk2tensor[ray,gpu]' on GPU workers)"
#: Seconds the driver waits for the worker check of :func:`predict` before starting without it (a cluster that
#: is still scaling up may take longer to give a worker; the workers then report a missing runtime themselves).
PROBE_TIMEOUT_S = 120.0


class WorkerSetupError(RuntimeUnavailableError):
    """A Ray worker lacks what scoring needs there (sk2tensor, ONNX Runtime, CUDA)."""


def _ray() -> Any:
    """The ray module with Ray Data, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise RuntimeUnavailableError(
            f"sk2tensor.ray needs Ray Data ({error.name or error} is missing): {_INSTALL_HINT}"
        ) from None
    return ray


# ----------------------------------------------------------------------------------------------- driver side
def _model_files(path: Path, model: CompiledModel) -> dict[str, bytes]:
    """The ``.onnx`` file's bytes, and those of its external data file when it has one, keyed by file name."""
    files = {path.name: path.read_bytes()}
    for tensor in model.onnx.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value not in files:
                files[entry.value] = (path.parent / entry.value).read_bytes()
    return files


def _output_columns(model: CompiledModel, methods: Sequence[str]) -> list[str] | None:
    """The prediction columns, from the graph's static output shapes (None when a width is not static)."""
    shapes = {o.name: o.type.tensor_type.shape.dim for o in model.onnx.graph.output}
    names: list[str] = []
    for method in methods:
        dims = shapes.get(method)
        if dims is None or not dims or not all(d.dim_value for d in dims[1:]):
            return None
        names += column_names(model, method, np.empty((0, *(d.dim_value for d in dims[1:]))))
    return names


def _schema_names(dataset: ray.data.Dataset) -> list[str] | None:
    """The dataset's column names when known without running it (after a read, a select, a rename...)."""
    schema = dataset.schema(fetch_if_missing=False)
    return None if schema is None else list(schema.names)


def _check_columns(
    model: CompiledModel, names: list[str] | None, columns: Sequence[str] | None, outputs: list[str] | None
) -> None:
    """Raise :class:`InputError` unless the dataset's columns ``names`` can feed ``model``."""
    if names is None:  # the schema is unknown until the data is read: the workers check each batch
        return
    shown = ", ".join(repr(n) for n in names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    if columns is not None:
        absent = [c for c in columns if c not in names]
        if absent:
            raise InputError(f"the dataset has no column(s) {absent} (its columns: {shown})")
        if len(columns) != model.n_features:
            raise InputError(f"{len(columns)} column(s) chosen, but the model expects {model.n_features}")
    elif model.feature_names is not None:
        missing = [n for n in model.feature_names if n not in names]
        if missing:
            listed = ", ".join(repr(n) for n in missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise InputError(f"the dataset lacks the column(s) {listed} the model was fitted on (it has {shown})")
    elif len(names) != model.n_features:
        raise InputError(
            f"the dataset has {len(names)} columns, but the model (fitted without feature names) expects "
            f"{model.n_features}: choose them with columns=[...]"
        )
    clashes = [n for n in outputs or () if n in names]
    if clashes:
        raise InputError(f"the dataset already has the prediction column(s) {clashes}: drop or rename them first")


def _make_probe() -> Any:
    # A nested function is pickled by value: it runs on a worker even where sk2tensor cannot be imported.
    def probe() -> dict[str, Any]:
        import importlib

        report: dict[str, Any] = {"sk2tensor": None, "onnxruntime": None, "providers": []}
        try:
            importlib.import_module("sk2tensor.model")
        except Exception as error:
            report["sk2tensor"] = f"{type(error).__name__}: {error}"
        try:
            ort = importlib.import_module("onnxruntime")
            report["providers"] = list(ort.get_available_providers())
        except Exception as error:
            report["onnxruntime"] = f"{type(error).__name__}: {error}"
        return report

    return probe


#: The worker options that also place the probe task.
_PROBE_OPTIONS = ("runtime_env", "resources", "accelerator_type", "label_selector", "scheduling_strategy")


def _check_workers(ray: Any, device: str, num_gpus: float, remote_args: dict[str, Any]) -> None:
    """Run a tiny task where the scoring actors will run; raise :class:`WorkerSetupError` for what it lacks."""
    if num_gpus and not ray.cluster_resources().get("GPU", 0):
        raise WorkerSetupError(
            f"num_gpus_per_worker={num_gpus}, but the Ray cluster has no GPU (ray.cluster_resources() lists none)"
        )
    # Where the workers will run (their runtime_env and placement), without holding a CPU they may need.
    options = {k: v for k, v in remote_args.items() if k in _PROBE_OPTIONS}
    options.update(num_cpus=0, num_gpus=num_gpus, max_retries=0)
    task = ray.remote(_make_probe()).options(**options).remote()
    ready, _ = ray.wait([task], timeout=PROBE_TIMEOUT_S)
    if not ready:  # no worker in time (a cluster still scaling up): the workers report what they lack themselves
        ray.cancel(task)
        return
    try:
        report = ray.get(task)
    except Exception as error:  # the task could not run at all (e.g. a runtime_env that fails to build)
        raise WorkerSetupError(f"a Ray worker could not run sk2tensor's check: {_first_line(error)}") from None
    where = "a Ray worker" + (" with a GPU" if num_gpus else "")
    if report["sk2tensor"] is not None:
        raise WorkerSetupError(f"sk2tensor cannot be imported on {where} ({report['sk2tensor']}): {_WORKER_HINT}")
    if report["onnxruntime"] is not None:
        raise WorkerSetupError(f"onnxruntime cannot be imported on {where} ({report['onnxruntime']}): {_WORKER_HINT}")
    if device == "cuda" and "CUDAExecutionProvider" not in report["providers"]:
        raise WorkerSetupError(
            f"{where} has an onnxruntime without CUDA (providers {report['providers']}): install onnxruntime-gpu "
            "there, not onnxruntime"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _concurrency(concurrency: int | tuple[int, int] | None) -> Any:
    from ray.data import ActorPoolStrategy

    if concurrency is None:
        return ActorPoolStrategy(min_size=1, max_size=None)
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1:
        return ActorPoolStrategy(size=concurrency)
    if (
        isinstance(concurrency, tuple)
        and len(concurrency) == 2
        and all(isinstance(c, int) and c >= 1 for c in concurrency)
        and concurrency[0] <= concurrency[1]
    ):
        return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    raise InputError(f"concurrency must be a number of workers >= 1 or a (min, max) pair, got {concurrency!r}")


def predict(
    dataset: ray.data.Dataset,
    model_path: str | os.PathLike[str],
    *,
    method: str | Sequence[str] = "predict_proba",
    batch_size: int = DEFAULT_BATCH_ROWS,
    num_gpus_per_worker: float = 0,
    concurrency: int | tuple[int, int] | None = None,
    columns: Sequence[str] | None = None,
    num_cpus_per_worker: float = 1,
    ray_remote_args: dict[str, Any] | None = None,
) -> ray.data.Dataset:
    """``dataset`` with the prediction columns of the exported model at ``model_path`` appended (lazy).

    Parameters
    ----------
    dataset:
        The rows to score; columns are matched by the model's feature names (other columns pass through).
    model_path:
        An ``.onnx`` file exported by sk2tensor, read here on the driver and shipped to the workers.
    method:
        A method (``"predict_proba"``, ``"predict"``, ...) or several; columns as ``sk2tensor predict`` names them.
    batch_size:
        Rows per ``map_batches`` call.
    num_gpus_per_worker:
        0: each worker runs ONNX Runtime on the CPU; 1 (or a fraction): on CUDA (``onnxruntime-gpu`` there).
    concurrency:
        Workers (each holding one ONNX Runtime session): a number, a ``(min, max)`` autoscaling range, or None
        for Ray's autoscaling default.
    columns:
        The dataset's columns to feed the model, in the model's input order (default: by feature name).
    num_cpus_per_worker:
        CPUs each worker reserves; a CPU session runs that many chunks at once.
    ray_remote_args:
        More options for the workers (``runtime_env``, ``resources``, ``accelerator_type``, ...).

    Raises
    ------
    ModelFileError, InputError
        An unreadable model file, an unknown method, columns the dataset lacks.
    WorkerSetupError
        A worker without sk2tensor or ONNX Runtime (or without CUDA when GPUs are asked for).
    """
    ray = _ray()
    methods = (method,) if isinstance(method, str) else tuple(method)
    if not methods:
        raise InputError("method names no output: give at least one method")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a whole number of rows >= 1, got {batch_size!r}")
    if num_gpus_per_worker < 0 or num_cpus_per_worker < 0:
        raise InputError("num_gpus_per_worker and num_cpus_per_worker must be >= 0")
    compute = _concurrency(concurrency)
    path = Path(model_path)
    model = load(path, device="cpu")
    refuse_base_margin(model, "Ray")
    methods = check_methods(model, methods)
    columns = None if columns is None else [str(c) for c in columns]
    _check_columns(model, _schema_names(dataset), columns, _output_columns(model, methods))
    device = "cuda" if num_gpus_per_worker else "cpu"
    remote_args = dict(ray_remote_args or {})
    _check_workers(ray, device, num_gpus_per_worker, remote_args)
    try:
        files = _model_files(path, model)
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}") from None
    files_ref = ray.put(files)
    return dataset.map_batches(
        _Scorer,
        batch_size=batch_size,
        batch_format="pandas",
        compute=compute,
        fn_constructor_kwargs={
            "files": files_ref,
            "model_name": path.name,
            "methods": methods,
            "device": device,
            "columns": columns,
        },
        num_cpus=num_cpus_per_worker,
        num_gpus=num_gpus_per_worker,
        **remote_args,
    )


# ----------------------------------------------------------------------------------------------- worker side
class _Scorer:
    """One Ray Data worker: the model, loaded once, and its ONNX Runtime session."""

    def __init__(
        self,
        files: Any,
        model_name: str,
        methods: tuple[str, ...],
        device: str,
        columns: list[str] | None,
    ) -> None:
        self.methods, self.columns = methods, columns
        self.model: CompiledModel | None = None
        self.error: str | None = None
        try:
            self.model = self._load(files, model_name, device)
        except Exception as error:
            # Raised from the constructor, Ray would restart the actor again and again: each batch says it.
            self.error = f"{type(error).__name__}: {error}"

    @staticmethod
    def _load(files: Any, model_name: str, device: str) -> CompiledModel:
        import ray

        if isinstance(files, ray.ObjectRef):
            files = ray.get(files)
        folder = tempfile.mkdtemp(prefix="sk2tensor-ray-")
        try:
            for name, content in files.items():
                Path(folder, name).write_bytes(content)
            model = load(Path(folder, model_name), device=device)
            if device == "cpu":  # one chunk at a time per CPU reserved, not one per CPU of the machine
                model.threads = max(1, int(_assigned_cpus(ray)))
            model.session  # noqa: B018  (the session now: it reads the files, removed below)
            return model
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``batch`` with the prediction columns appended."""
        if self.model is None:
            raise WorkerSetupError(f"this Ray worker cannot load the model ({self.error}): {_WORKER_HINT}")
        model = self.model
        frame = batch
        if self.columns is not None:
            frame = batch[self.columns]
            if model.feature_names is not None:
                frame = frame.set_axis(model.feature_names, axis=1)
        new: dict[str, Any] = {}
        for method, result in model.run_many(self.methods, frame).items():
            names = column_names(model, method, result)
            result = joined_outputs(result)
            if result.ndim == 1:
                new[names[0]] = result
            else:
                flat = result.reshape(len(result), -1)  # outputs of more than two axes: one column per value
                new.update((name, flat[:, j]) for j, name in enumerate(names))
        return batch.assign(**new)


def _assigned_cpus(ray: Any) -> float:
    try:
        return ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    except AssertionError:  # not in a Ray worker (Ray asserts it)
        return 1


# ----------------------------------------------------------------------------------------------- Parquet
def _sk2tensor_cause(error: BaseException) -> Sk2TensorError | None:
    """The sk2tensor error a Ray exception stands for, if any.

    Ray re-raises a worker's error as a class deriving from both RayTaskError and the error's class, the
    original in its ``cause``; Ray Data wraps an error of a ``map_batches`` function in a UserCodeException
    that keeps only the worker's traceback, as text: the error is then rebuilt from its last line.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Sk2TensorError) and type(current).__module__.startswith("sk2tensor"):
            return current
        stack += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    match = _REMOTE_ERROR.search(str(error))
    if match is None:
        return None
    try:
        cls = getattr(importlib.import_module(match["module"]), match["name"])
        if isinstance(cls, type) and issubclass(cls, Sk2TensorError):
            return cls(match["message"].strip())
    except Exception:  # not a class built from a message alone
        pass
    return None


#: A worker's ``sk2tensor.<module>.<Error>: message`` line in a traceback (up to the next chained traceback).
_REMOTE_ERROR = re.compile(
    r"^(?P<module>sk2tensor(?:\.\w+)*)\.(?P<name>\w+Error): (?P<message>.*?)(?=\n\s*\n|\Z)", re.M | re.S
)


def predict_parquet(
    input_dir: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    methods: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    num_gpus_per_worker: float = 0,
    concurrency: int | tuple[int, int] | None = None,
    columns: Sequence[str] | None = None,
    keep_columns: Sequence[str] | None = None,
    ray_remote_args: dict[str, Any] | None = None,
) -> ScoreResult:
    """Score the Parquet files under ``input_dir`` with Ray and write a Parquet directory ``output_dir``.

    Each output row holds the prediction columns and, by default, every input column (rows come out in no
    fixed order); ``keep_columns`` picks the input columns to keep instead (e.g. ``["id"]``, or ``[]``).
    ``methods`` defaults to ``predict`` (as ``sk2tensor predict``). A local ``output_dir`` appears only once
    complete (written beside it, then renamed) and must not exist yet, or be empty; a URI (``s3://...``) is
    written in place. Other parameters as :func:`predict`. Starts a local Ray instance unless one is running
    or ``RAY_ADDRESS`` names a cluster. Errors raised on a worker are raised again here, as themselves.
    """
    ray = _ray()
    model = load(model_path, device="cpu")
    refuse_base_margin(model, "Ray")
    chosen = check_methods(model, methods)
    source, target = str(input_dir), str(output_dir)
    local = "://" not in target
    if "://" not in source and not Path(source).exists():
        raise ModelFileError(f"no such file or directory: {source}")
    if local:
        out = Path(target)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ModelFileError(f"{out} already exists: choose another output directory, or remove it")
        if not out.parent.is_dir():
            raise ModelFileError(f"cannot write {out}: the directory {out.parent} does not exist")
        partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
        write_to = str(partial)
    else:
        write_to = target
    start = time.perf_counter()
    try:
        dataset = ray.data.read_parquet(source)
        names = _schema_names(dataset)
        kept = None if keep_columns is None else [str(c) for c in keep_columns]
        absent = [c for c in kept or () if names is not None and c not in names]
        if absent:
            raise InputError(f"{source} has no column(s) {absent} to keep")
        scored = predict(
            dataset,
            model_path,
            method=chosen,
            batch_size=batch_size,
            num_gpus_per_worker=num_gpus_per_worker,
            concurrency=concurrency,
            columns=columns,
            ray_remote_args=ray_remote_args,
        )
        outputs = _output_columns(model, chosen)
        if kept is not None:
            if outputs is None:
                raise InputError("keep_columns needs the model's output widths, which its graph does not fix")
            scored = scored.select_columns([*kept, *outputs])
        try:
            scored.write_parquet(write_to)
        except Exception as error:
            cause = _sk2tensor_cause(error)
            if cause is None:
                raise
            raise cause from None
        rows = _count_rows(write_to)
        if rows == 0:
            raise InputError(f"{source} holds no rows")
        if local:
            with contextlib.suppress(FileNotFoundError):
                Path(target).rmdir()  # an empty directory given as the output
            os.replace(partial, target)
    except BaseException:
        if local:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    if outputs is None:  # every written column the input did not have
        import pyarrow.dataset as pds

        outputs = [c for c in pds.dataset(target, format="parquet").schema.names if c not in (names or ())]
    return ScoreResult(Path(target), rows, seconds, chosen, tuple(outputs))


def _count_rows(path: str) -> int:
    import pyarrow.dataset as pds

    try:
        return pds.dataset(path, format="parquet").count_rows()
    except (FileNotFoundError, ValueError):  # nothing written: the input held no rows
        return 0
