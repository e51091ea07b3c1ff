"""Scoring Spark DataFrames with an exported model: ``mapInPandas`` over Arrow batches.

:func:`predict` adds prediction columns to a DataFrame; :func:`predict_parquet` scores a Parquet directory into
another (for ``sk2tensor predict --engine spark``). The model file is read once on the driver and shipped
to the executors as a broadcast variable (no shared filesystem needed); each Python worker builds one ONNX
Runtime session from it and keeps it for every later task (:data:`_MODELS`, keyed by the file's SHA-256).

Everything that can be checked before the job runs is checked on the driver, with sk2tensor's errors: the model
file, the methods, the DataFrame's columns and, through a one-task probe job, that the workers' Python can import
sk2tensor and onnxruntime and open the model. Prediction columns are named as ``sk2tensor predict`` names them
(:func:`sk2tensor.scoring.column_names`) and typed from the model's metadata.

Needs the extra ``sk2tensor[spark]`` (pyspark, pandas, pyarrow) and Java; importing :mod:`sk2tensor` never
imports pyspark, only this module does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sk2tensor import errors
from sk2tensor.errors import InputError, ModelFileError, RuntimeUnavailableError, Sk2TensorError
from sk2tensor.model import DEVICES, CompiledModel, load
from sk2tensor.scoring import (
    ScoreResult,
    check_methods,
    column_names,
    default_method,
    joined_outputs,
    refuse_base_margin,
)

INSTALL_HINT = "pip install 'sk2tensor[spark]'"
#: What the workers need besides sk2tensor[spark]: one ONNX Runtime wheel.
WORKER_HINT = (
    "install 'sk2tensor[spark,cpu]' (or 'sk2tensor[spark,gpu]' on GPU workers) in the Python the executors run "
    "(PYSPARK_PYTHON)"
)

try:
    import pandas as pd
    import pyarrow  # noqa: F401  (mapInPandas moves batches as Arrow)
    from pyspark import TaskContext
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import types as T
except ImportError as error:
    raise RuntimeUnavailableError(
        f"sk2tensor.spark needs pyspark, pandas and pyarrow ({error}): {INSTALL_HINT}"
    ) from None

__all__ = ["local_session", "output_schema", "predict", "predict_parquet"]


# ----------------------------------------------------------------------------------------- plan (driver)
@dataclass(frozen=True)
class _Column:
    """One prediction column: ``index`` picks it from a 2-D result (None: the result is 1-D)."""

    method: str
    index: int | None
    name: str
    spark_type: T.DataType
    numpy_dtype: str


@dataclass(frozen=True)
class _Plan:
    """What a worker needs to score batches; pickled with the function, the model travels in ``model``."""

    model: Any  # pyspark Broadcast of the .onnx file's bytes
    digest: str
    device: str
    methods: tuple[str, ...]
    features: tuple[str, ...] | None  # DataFrame columns fed to the model, or None: the frame as it is
    rename: tuple[str, ...] | None  # the model's feature names, when the fed columns are named otherwise
    columns: tuple[_Column, ...]


def _methods(model: CompiledModel, method: str | Sequence[str] | None) -> tuple[str, ...]:
    if method is None:
        return (default_method(model),)
    if isinstance(method, str):
        return check_methods(model, [method])
    if not method:
        raise InputError("method: give at least one method")
    return check_methods(model, list(method))


def _output_shape(model: CompiledModel, method: str) -> tuple[int, ...]:
    """The shape of one row of an output (``()`` for a 1-D one), from the graph's declared output shape."""
    for output in model.onnx.graph.output:
        if output.name == method:
            dims = output.type.tensor_type.shape.dim
            if len(dims) >= 1 and all(d.HasField("dim_value") for d in dims[1:]):
                return tuple(int(d.dim_value) for d in dims[1:])
            break
    # Not declared: run one row of zeros on the driver (needs onnxruntime here, and a model of numbers only).
    try:
        result = model.run(method, np.zeros((1, model.n_features), model.input_dtype))
    except Exception as error:
        raise ModelFileError(
            f"the graph does not declare the width of its {method!r} output, and it could not be measured on the "
            f"driver ({type(error).__name__}: {error})"
        ) from None
    return tuple(int(d) for d in result.shape[1:])


def _spark_type(dtype: np.dtype, values: Sequence[Any] | None = None) -> tuple[T.DataType, str]:
    """The Spark type of a result column of numpy ``dtype``, and the dtype the worker casts it to."""
    if dtype.kind == "O" and values is not None:  # object-typed labels: look at them
        if all(isinstance(v, str) for v in values):
            return T.StringType(), "object"
        if all(isinstance(v, bool | np.bool_) for v in values):
            return T.BooleanType(), "bool"
        if all(isinstance(v, int | np.integer) for v in values):
            return T.LongType(), "int64"
        return T.DoubleType(), "float64"
    if dtype.kind in "USO":
        return T.StringType(), "object"
    if dtype.kind == "b":
        return T.BooleanType(), "bool"
    if dtype.kind in "iu":
        return T.LongType(), "int64"
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return T.FloatType(), "float32"
    if dtype.kind == "f":
        return T.DoubleType(), "float64"
    raise ModelFileError(f"an output of dtype {dtype} has no Spark column type")


def _prediction_columns(model: CompiledModel, methods: Sequence[str]) -> list[_Column]:
    columns: list[_Column] = []
    for method in methods:
        tail = _output_shape(model, method)
        width = int(np.prod(tail)) if tail else None  # outputs of more than two axes become one column per value
        names = column_names(model, method, np.empty((0, *tail)))
        if method == "predict" and model.classes is not None:
            spark_type, cast = _spark_type(model.classes.dtype, model.classes.tolist())
        else:
            spark_type, cast = _spark_type(model.output_dtypes.get(method, model.input_dtype))
        for j, name in enumerate(names):
            columns.append(_Column(method, None if width is None else j, name, spark_type, cast))
    return columns


def _renamed(columns: list[_Column], output_cols: Sequence[str] | Mapping[str, str] | None) -> list[_Column]:
    if output_cols is None:
        return columns
    names = [c.name for c in columns]
    if isinstance(output_cols, Mapping):
        unknown = [k for k in output_cols if k not in names]
        if unknown:
            raise InputError(f"output_cols renames {unknown}, which are not prediction columns: {names}")
        new = [str(output_cols.get(n, n)) for n in names]
    else:
        if isinstance(output_cols, str):
            output_cols = [output_cols]
        new = [str(n) for n in output_cols]
        if len(new) != len(names):
            raise InputError(
                f"output_cols gives {len(new)} name(s) for {len(names)} prediction column(s): {', '.join(names)}"
            )
    duplicated = sorted({n for n in new if new.count(n) > 1})
    if duplicated:
        raise InputError(f"output_cols names {duplicated} more than once")
    return [_Column(c.method, c.index, n, c.spark_type, c.numpy_dtype) for c, n in zip(columns, new, strict=True)]


def _feature_columns(model: CompiledModel, df: DataFrame, columns: Sequence[str] | None) -> list[str]:
    """The DataFrame's columns the model reads, in the model's order (as :func:`sk2tensor.loading.choose_columns`)."""
    names = list(df.columns)
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    if columns is not None:
        chosen = [str(c) for c in columns]
        absent = [c for c in chosen if c not in names]
        if absent:
            raise InputError(f"the DataFrame has no column(s) {absent} (its columns: {shown})")
        if len(chosen) != model.n_features:
            raise InputError(f"{len(chosen)} column(s) chosen, but the model expects {model.n_features}")
        return chosen
    if model.feature_names is not None:
        missing = [n for n in model.feature_names if n not in names]
        if missing:
            listed = ", ".join(repr(n) for n in missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise InputError(
                f"the DataFrame lacks the column(s) {listed} the model was fitted on (its columns: {shown})"
            )
        return list(model.feature_names)
    if len(names) != model.n_features:
        raise InputError(
            f"the DataFrame has {len(names)} columns, but the model (fitted without column names) expects "
            f"{model.n_features}: choose them with columns=[...]"
        )
    return names


def _check_types(df: DataFrame, features: Sequence[str]) -> None:
    # Numbers and booleans go in as they are; strings are left to the model (string columns), as in-process.
    accepted = (T.NumericType, T.BooleanType, T.StringType, T.NullType)
    fields = {f.name: f for f in df.schema.fields}
    wrong = [
        f"{n} ({fields[n].dataType.simpleString()})" for n in features if not isinstance(fields[n].dataType, accepted)
    ]
    if wrong:
        raise InputError(f"the model's input columns must hold numbers or strings; these do not: {', '.join(wrong)}")


def _load_on_driver(model_path: str | os.PathLike[str]) -> tuple[CompiledModel, bytes, str]:
    path = Path(model_path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not an ONNX file")
    if not path.is_file():
        raise ModelFileError(f"no such ONNX file: {path}")
    model = load(path, device="cpu")  # metadata only: the driver needs no ONNX Runtime session
    refuse_base_margin(model, "Spark")
    if model._source_path is not None:
        raise ModelFileError(
            f"{path} keeps its tensors in a separate .data file (a model past 2 GB): sk2tensor.spark ships the "
            "model as one broadcast and cannot take it"
        )
    data = path.read_bytes()
    return model, data, hashlib.sha256(data).hexdigest()


def output_schema(
    df: DataFrame,
    model_path: str | os.PathLike[str],
    *,
    method: str | Sequence[str] | None = "predict_proba",
    output_cols: Sequence[str] | Mapping[str, str] | None = None,
) -> T.StructType:
    """The schema :func:`predict` gives: ``df``'s columns, then the prediction columns. Runs no job."""
    model, _, _ = _load_on_driver(model_path)
    return _schema(df, _renamed(_prediction_columns(model, _methods(model, method)), output_cols))


def _schema(df: DataFrame, columns: Sequence[_Column]) -> T.StructType:
    taken = set(df.columns)
    clashes = [c.name for c in columns if c.name in taken]
    if clashes:
        raise InputError(f"the DataFrame already has the column(s) {clashes}: name the predictions with output_cols")
    return T.StructType([*df.schema.fields, *(T.StructField(c.name, c.spark_type) for c in columns)])


# ----------------------------------------------------------------------------------------- driver
#: (application id, model digest) -> Broadcast of the model's bytes: a model is shipped once per application.
_BROADCASTS: dict[tuple[str, str], Any] = {}
#: Probes that passed: (application id, digest, device, worker Python, worker environment).
_PROBED: set[tuple[Any, ...]] = set()


def predict(
    df: DataFrame,
    model_path: str | os.PathLike[str],
    *,
    method: str | Sequence[str] | None = "predict_proba",
    output_cols: Sequence[str] | Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    device: str = "auto",
) -> DataFrame:
    """``df`` with prediction columns appended, computed by ``mapInPandas`` with one session per Python worker.

    Parameters
    ----------
    df:
        The rows to score; every column is passed through. The model's input columns are matched by the model's
        feature names (other columns are ignored), or picked with ``columns``.
    model_path:
        An ``.onnx`` file exported by sk2tensor, on the driver; its bytes are broadcast to the executors.
    method:
        A method name or a sequence of them (``None``: ``predict``, or the model's only output). Columns are
        named as ``sk2tensor predict`` names them: ``predict``, ``predict_proba_<class>``, ``transform_<j>``...
    output_cols:
        New names for the prediction columns: one per column in order, or a mapping from default names.
    columns:
        The DataFrame's columns to feed the model, in the model's input order (needed when the model was fitted
        without column names and the DataFrame has other columns).
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA on workers whose onnxruntime-gpu sees a GPU), on the workers.

    Raises
    ------
    ModelFileError, InputError, RuntimeUnavailableError
        On the driver, before any data is read: a missing or unreadable model, an unknown method, missing
        columns, workers that cannot import sk2tensor or onnxruntime or cannot open the model.
    """
    if device not in DEVICES:
        raise InputError(f"device must be one of {DEVICES}, got {device!r}")
    model, data, digest = _load_on_driver(model_path)
    methods = _methods(model, method)
    outputs = _renamed(_prediction_columns(model, methods), output_cols)
    features = _feature_columns(model, df, columns)
    _check_types(df, features)
    schema = _schema(df, outputs)
    session = df.sparkSession
    try:
        sc = session.sparkContext
    except Exception:  # Spark Connect: no SparkContext, no broadcast
        raise RuntimeUnavailableError(
            "sk2tensor.spark needs a classic SparkSession (Spark Connect has no broadcast variables)"
        ) from None
    key = (sc.applicationId, digest)
    shipped = _BROADCASTS.get(key)
    if shipped is None:
        for stale in [k for k in _BROADCASTS if k[0] != sc.applicationId]:  # from a stopped SparkContext
            del _BROADCASTS[stale]
        shipped = _BROADCASTS[key] = sc.broadcast(data)
    by_name = model.feature_names is not None and columns is None
    plan = _Plan(
        model=shipped,
        digest=digest,
        device=device,
        methods=methods,
        features=None if by_name else tuple(features),
        rename=tuple(model.feature_names) if model.feature_names is not None and not by_name else None,
        columns=tuple(outputs),
    )
    _probe_workers(session, plan, str(model_path))
    return df.mapInPandas(_Scorer(plan), schema)


def _probe_workers(session: SparkSession, plan: _Plan, model_name: str) -> None:
    """Run one ``mapInPandas`` task (the kind of Python worker that scores) that imports sk2tensor and
    onnxruntime and opens the model; raise what failed there here, as one line. The worker keeps the model."""
    sc = session.sparkContext
    key = (sc.applicationId, plan.digest, plan.device, sc.pythonExec, tuple(sorted(sc.environment.items())))
    if key in _PROBED:
        return
    try:
        (report,) = session.range(1, numPartitions=1).mapInPandas(_Probe(plan), _PROBE_SCHEMA).collect()
    except Exception as error:  # the task could not even start: sk2tensor (or its imports) missing there
        cause = _last_error_line(str(error))
        raise RuntimeUnavailableError(
            f"the Spark workers cannot run sk2tensor ({cause}): {WORKER_HINT}; they were asked to run "
            f"{sc.pythonExec}, the driver runs {sys.executable} (Python {sys.version.split()[0]})"
        ) from None
    report = report.asDict()
    if report["error"] is not None:
        where = f"worker {report['host']}, {report['python']}"
        if report["kind"] == "onnxruntime":
            raise RuntimeUnavailableError(report["error"])
        error_type = getattr(errors, report["type"], None)
        if not (isinstance(error_type, type) and issubclass(error_type, Sk2TensorError)):
            error_type = ModelFileError
        raise error_type(f"the Spark workers cannot open {model_name} ({where}): {report['error']}")
    _PROBED.add(key)


_ERROR_LINE = re.compile(r"^([\w.]+\.)?(\w+(?:Error|Exception)):\s*(.*)$")
_NOT_PYTHON = ("org.", "java.", "scala.", "py4j.")


def _python_errors(text: str) -> list[tuple[str, str]]:
    """``(exception name, message)`` of each unindented ``SomeError: message`` line that Python raised."""
    found = []
    for line in text.splitlines():
        match = _ERROR_LINE.match(line)
        if match and not (match.group(1) or "").startswith(_NOT_PYTHON) and match.group(2) != "PythonException":
            found.append((match.group(2), match.group(3)))
    return found


def _last_error_line(text: str) -> str:
    """The last Python ``SomeError: message`` line inside a Spark error, else its first line."""
    found = _python_errors(text)
    if found:
        return "{}: {}".format(*found[-1])
    lines = text.strip().splitlines()
    return lines[0] if lines else "no message"


def _worker_error(error: Exception) -> Exception | None:
    """The sk2tensor error a worker raised, rebuilt on the driver from a Spark job failure (None if none)."""
    for name, message in reversed(_python_errors(str(error))):
        error_type = getattr(errors, name, None)
        if isinstance(error_type, type) and issubclass(error_type, Sk2TensorError) and name != "ValidationError":
            return error_type(f"on a Spark worker: {message}")
    return None


# ----------------------------------------------------------------------------------------- workers
#: (model digest, device) -> the CompiledModel of this Python worker (one ONNX Runtime session per process).
_MODELS: dict[tuple[str, str], CompiledModel] = {}
_MODELS_LOCK = threading.Lock()


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise RuntimeUnavailableError(
            f"onnxruntime cannot be imported on the Spark worker {socket.gethostname()} ({sys.executable}: "
            f"{error}): {WORKER_HINT}"
        ) from None
    return onnxruntime


def _worker_model(plan: _Plan) -> CompiledModel:
    key = (plan.digest, plan.device)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            import onnx

            _import_onnxruntime()
            context = TaskContext.get()
            threads = context.cpus() if context is not None else 1
            model = CompiledModel(onnx.load_model_from_string(plan.model.value), device=plan.device, threads=threads)
            model.session  # noqa: B018  (create it now: one session per worker process)
            _MODELS[key] = model
        return model


_PROBE_SCHEMA = "host string, python string, error string, type string, kind string"


class _Probe:
    """The probe task: which worker it is, and the first thing that fails there."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for _ in batches:  # the input's one row
            pass
        yield pd.DataFrame([self.report()], dtype=object)

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "host": socket.gethostname(),
            "python": sys.executable,
            "error": None,
            "type": None,
            "kind": None,
        }
        try:
            _import_onnxruntime()
        except RuntimeUnavailableError as error:
            report.update(error=str(error), type=type(error).__name__, kind="onnxruntime")
            return report
        try:
            _worker_model(self.plan)
        except Exception as error:
            report.update(error=f"{type(error).__name__}: {error}", type=type(error).__name__, kind="model")
        return report


class _Scorer:
    """The ``mapInPandas`` function: each pandas batch in, the same batch with prediction columns out."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        plan = self.plan
        model = _worker_model(plan)
        for batch in batches:
            frame = batch
            if plan.features is not None:
                frame = batch[list(plan.features)]
                if plan.rename is not None:
                    frame.columns = list(plan.rename)
            results = {m: joined_outputs(r) for m, r in model.run_many(plan.methods, frame).items()}
            new: dict[str, np.ndarray] = {}
            for column in plan.columns:
                result = results[column.method]
                values = result if column.index is None else result.reshape(len(result), -1)[:, column.index]
                new[column.name] = values.astype(column.numpy_dtype, copy=False)
            yield pd.concat([batch, pd.DataFrame(new, index=batch.index)], axis=1)


# ----------------------------------------------------------------------------------------- Parquet + session
def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def local_session(master: str = "local[*]") -> SparkSession:
    """The active SparkSession, or a new one on this machine (``master``) whose workers run this Python (no UI,
    log level FATAL: failures come back as exceptions)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if _java() is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} holds no bin/java"
            if os.environ.get("JAVA_HOME")
            else ("no java on PATH and JAVA_HOME is unset")
        )
        raise RuntimeUnavailableError(
            f"Spark needs Java 17 or newer ({where}): install a JDK or JRE (e.g. apt-get install "
            "openjdk-17-jre-headless) or set JAVA_HOME"
        )
    # Local workers must run this interpreter (the one with sk2tensor), not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Job failures come back as exceptions (sk2tensor's, for what a worker raised): keep Spark's own log quiet.
    builder = (
        SparkSession.builder.master(master)
        .appName("sk2tensor")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.level", "FATAL")
    )
    try:
        return builder.getOrCreate()
    except Exception as error:
        raise RuntimeUnavailableError(
            f"Spark could not start ({_last_error_line(str(error))}); it needs Java 17 or newer"
        ) from None


def _local_path(path: str) -> Path | None:
    """The filesystem path of a local path or ``file://`` URI; None for other URIs (``s3://``, ``hdfs://``...)."""
    if path.startswith("file://"):
        return Path(path.removeprefix("file://"))
    return None if "://" in path else Path(path)


def predict_parquet(
    input_dir: str | os.PathLike[str],
    model_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    methods: Sequence[str] | None = None,
    output_cols: Sequence[str] | Mapping[str, str] | None = None,
    keep_columns: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    device: str = "auto",
    overwrite: bool = False,
) -> ScoreResult:
    """Score a Parquet directory (or file) with Spark into a Parquet directory: what ``--engine spark`` runs.

    Uses the active SparkSession, or starts ``local[*]`` (left running for later calls). ``methods`` default to
    ``predict`` (or the model's only output), as ``sk2tensor predict``. Each output row holds ``keep_columns`` of
    the input (default: every input column; Spark does not keep the files' row order, so keep an id) and the
    prediction columns. A local ``output_dir`` must not exist, or be empty (``overwrite=True`` replaces it), and
    appears only once complete (written beside it, then renamed); a URI (``s3://...``) is written in place.
    ``ScoreResult.columns`` lists the prediction columns.
    """
    source, target = str(input_dir), str(output_dir)
    source_path, target_path = _local_path(source), _local_path(target)
    if source_path is not None and not source_path.exists():
        raise ModelFileError(f"no such Parquet file or directory: {source}")
    partial: Path | None = None
    if target_path is not None:
        if source_path is not None and target_path.resolve() == source_path.resolve():
            raise ModelFileError(f"refusing to write the scores over the input {source}: choose another output")
        if target_path.exists() and not target_path.is_dir():
            raise ModelFileError(f"{target_path} is a file: the output is a directory of Parquet files")
        if target_path.is_dir() and any(target_path.iterdir()) and not overwrite:
            raise ModelFileError(
                f"{target_path} exists and is not empty: choose another output directory, or pass overwrite=True"
            )
        if not target_path.parent.is_dir():
            raise ModelFileError(f"cannot write {target_path}: the directory {target_path.parent} does not exist")
        partial = target_path.with_name(f".{target_path.name}.{uuid.uuid4().hex[:8]}.partial")
    model, _, _ = _load_on_driver(model_path)
    chosen = check_methods(model, methods)
    session = local_session()
    start = time.perf_counter()
    try:
        df = session.read.parquet(source)
    except Exception as error:
        raise ModelFileError(f"{source} cannot be read as Parquet ({_last_error_line(str(error))})") from None
    features = _feature_columns(model, df, columns)
    kept = list(df.columns) if keep_columns is None else [str(c) for c in keep_columns]
    absent = [c for c in kept if c not in df.columns]
    if absent:
        raise InputError(f"keep_columns: {source} has no column(s) {absent}")
    needed = kept + [f for f in features if f not in kept]
    scored = predict(
        df.select(*needed), model_path, method=chosen, output_cols=output_cols, columns=columns, device=device
    )
    outputs = scored.columns[len(needed) :]
    write_to = str(partial) if partial is not None else target
    try:
        try:
            scored.select(*kept, *outputs).write.mode("overwrite" if overwrite else "errorifexists").parquet(write_to)
        except Exception as error:
            rebuilt = _worker_error(error)
            if rebuilt is not None:
                raise rebuilt from None
            raise
        rows = session.read.parquet(write_to).count()  # from the files' footers
        if rows == 0:
            raise InputError(f"{source} holds no rows")
        if partial is not None and target_path is not None:
            if target_path.is_dir():  # empty, or replaced with overwrite=True now that the new one is complete
                shutil.rmtree(target_path)
            os.replace(partial, target_path)
    except BaseException:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    return ScoreResult(Path(target), rows, seconds, chosen, tuple(outputs))
