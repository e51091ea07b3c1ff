"""The ``sk2tensor`` command line: ``export``, ``predict``, ``validate``, ``bench``, ``inspect`` and ``list``.

Every failure prints one line, ``error: ...``, on stderr and exits with status 1 (2 for a command line
that does not parse); set ``SK2TENSOR_DEBUG=1`` to see the traceback of an unexpected error instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from typer.core import TyperGroup

import sk2tensor
from sk2tensor import metadata as md
from sk2tensor.api import LEAF_DTYPES
from sk2tensor.errors import InputError, ModelFileError, NotFittedError, Sk2TensorError
from sk2tensor.loading import (
    DEFAULT_BATCH_ROWS,
    load_compiled,
    load_data,
    load_estimator,
    load_frame,
    load_rows_for,
    match_columns,
)
from sk2tensor.model import DEVICES, document_array, is_sparse
from sk2tensor.registry import STRATEGIES, class_path

PROG = "sk2tensor"
DTYPES = ("float32", "float64")
#: Choices of --strategy and --dtype (Enums: what every typer version turns into a choice).
Strategy = Enum("Strategy", {name: name for name in STRATEGIES}, type=str)
Dtype = Enum("Dtype", {name: name for name in DTYPES}, type=str)
Device = Enum("Device", {name: name for name in DEVICES}, type=str)
LeafDtype = Enum("LeafDtype", {name: name for name in LEAF_DTYPES}, type=str)
#: Who runs ``sk2tensor predict``: this process, or an existing Ray / Spark installation.
Engine = Enum("Engine", {name: name for name in ("local", "ray", "spark")}, type=str)
_DEBUG_ENV = "SK2TENSOR_DEBUG"


# ----------------------------------------------------------------------------------------- errors
def one_line(message: str) -> str:
    """``message`` on one line: its lines stripped, joined with ``"; "`` (a space after a colon)."""
    parts = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = ""
    for part in parts:
        text += part if not text else (" " if text.endswith(":") else "; ") + part
    return text


def _describe(error: BaseException) -> str:
    if isinstance(error, Sk2TensorError | NotFittedError):
        return one_line(str(error)) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None:
        return one_line(f"{error.filename}: {error.strerror or error}")
    message = one_line(str(error))
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _is_usage_error(error: BaseException) -> bool:
    """A click/typer exception meant for the user (usage errors, bad parameters): duck-typed, since typer
    vendors click in some versions and depends on it in others."""
    return callable(getattr(error, "format_message", None)) and isinstance(getattr(error, "exit_code", None), int)


def _usage_message(error: Any) -> str:
    message = one_line(error.format_message())
    ctx = getattr(error, "ctx", None)
    if ctx is not None and getattr(error, "exit_code", 1) == 2:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """Warnings on one line each, like errors: ``warning: message (Category)``."""
    typer.echo(f"warning: {one_line(str(message))} ({category.__name__})", err=True)


class _PlainErrorsGroup(TyperGroup):
    """The root command: turns every exception into one ``error: ...`` line on stderr and an exit status."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, *a: Any, **kw: Any
    ) -> Any:
        standalone = kw.pop("standalone_mode", True)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                code = super().main(args, prog_name, *a, standalone_mode=False, **kw)
            code = code if isinstance(code, int) else 0
        except Exception as error:
            code = self._report(error)
        if not standalone:
            return code
        sys.exit(code)

    @staticmethod
    def _report(error: Exception) -> int:
        if type(error).__name__ == "NoArgsIsHelpError":
            typer.echo(error.format_message(), err=True)  # type: ignore[attr-defined]
            return 2
        if type(error).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            return 1
        if isinstance(error, BrokenPipeError):  # stdout closed early (`sk2tensor inspect m.onnx | head`)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (so that the interpreter's final flush is quiet)
            return 1
        if _is_usage_error(error):
            typer.echo(f"error: {_usage_message(error)}", err=True)
            return int(error.exit_code)  # type: ignore[attr-defined]
        if os.environ.get(_DEBUG_ENV) and not isinstance(error, Sk2TensorError | NotFittedError):
            raise error
        typer.echo(f"error: {_describe(error)}", err=True)
        return 1


MODEL_HELP = (
    "Fitted estimator: .skops (or .joblib/.pkl with --trust), or a boosting library's own model file: "
    "CatBoost .cbm/.json, XGBoost .ubj/.json, LightGBM .txt."
)

app = typer.Typer(
    name=PROG,
    cls=_PlainErrorsGroup,
    help="Compile fitted scikit-learn models into portable ONNX graphs of plain tensor operations.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {sk2tensor.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compile fitted scikit-learn models into portable ONNX graphs of plain tensor operations."""


# ----------------------------------------------------------------------------------------- export
@app.command()
def export(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help=MODEL_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="OUT", help="Where to write the .onnx file.")],
    validate: Annotated[
        Path | None,
        typer.Option(
            "--validate",
            metavar="DATA",
            help="Rows to validate the export on (.npy, .csv, .parquet, or .npz for sparse rows); without it, "
            "generated rows.",
        ),
    ] = None,
    strategy: Annotated[Strategy, typer.Option(help="Tree lowering strategy.")] = Strategy.auto,
    dtype: Annotated[Dtype, typer.Option(help="Input and compute type.")] = Dtype.float32,
    opset: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="ONNX opset (default: the lowest that holds the ops used)."),
    ] = None,
    n_features: Annotated[
        int | None,
        typer.Option("--n-features", min=1, metavar="N", help="Input width, for estimators that do not record it."),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load pickles and types skops does not trust by default (this can run code)."),
    ] = False,
    contributions: Annotated[
        bool,
        typer.Option(
            "--contributions",
            help="Also output per-feature contributions (TreeSHAP) of a tree model; every run then computes them.",
        ),
    ] = False,
    leaves: Annotated[
        bool,
        typer.Option("--leaves", help="Also output apply: the leaf each tree reaches (tree models with apply)."),
    ] = False,
    sparse_input: Annotated[
        bool,
        typer.Option(
            "--sparse-input",
            help="Take rows in compressed sparse row form (inputs indptr, indices, values) for models fitted on "
            "sparse data; linear models, naive Bayes and tf-idf never make the rows dense.",
        ),
    ] = False,
    leaf_dtype: Annotated[
        LeafDtype,
        typer.Option(
            help="Type of tree leaf values: float64 keeps the model's own; float32 rounds them for a smaller file "
            "(probabilities move by about one float32 unit; float32 graphs only)."
        ),
    ] = LeafDtype.float64,
) -> None:
    """Convert a fitted estimator to ONNX, validate it against sklearn, and save it."""
    for source in (model, validate):
        if source is not None and output.resolve() == source.resolve():
            raise ModelFileError(f"refusing to overwrite {source} with the exported model: choose another --output")
    estimator = load_estimator(model, trust=trust)
    rows = None
    if validate is not None:
        rows = _validation_rows(validate, estimator)
    compiled = sk2tensor.convert(
        estimator,
        rows,
        n_features=n_features,
        strategy=strategy.value,
        dtype=dtype.value,
        opset=opset,
        validate=True,
        contributions=contributions,
        leaves=leaves,
        sparse_input=sparse_input,
        leaf_dtype=leaf_dtype.value,
    )
    _save_and_report(compiled, output, validate)


def _validation_rows(path: Path, estimator: Any) -> Any:
    """The rows of ``path`` to validate an export on: a numeric table, or a DataFrame when the file holds
    string columns that the estimator takes."""
    try:
        rows, columns = load_data(path)
    except InputError:
        from sk2tensor.api import is_string_dtype
        from sk2tensor.registry import takes_strings

        if not (takes_strings(estimator) and _fitted_on_strings(estimator)) or path.suffix.lower() not in (
            ".csv",
            ".parquet",
        ):
            raise
        frame = load_frame(path)
        if not any(is_string_dtype(dtype) for dtype in frame.dtypes):
            raise
        wanted = getattr(estimator, "feature_names_in_", None)
        if wanted is None:
            return frame
        missing = [str(name) for name in wanted if str(name) not in frame.columns]
        if missing:
            raise InputError(f"{path} lacks the column(s) {_shown(missing)} the estimator was fitted on") from None
        return frame[[str(name) for name in wanted]]
    return match_columns(rows, columns, getattr(estimator, "feature_names_in_", None))


def _fitted_on_strings(estimator: Any) -> bool:
    """Whether a pipeline, column transformer, encoder, imputer or text vectorizer was fitted on string values
    somewhere."""
    vocabulary = getattr(estimator, "vocabulary_", None)  # a text vectorizer's terms
    if isinstance(vocabulary, dict) and any(isinstance(term, str) for term in vocabulary):
        return True
    for attribute in ("categories_", "statistics_"):
        values = getattr(estimator, attribute, None)
        if values is not None:
            arrays = values if isinstance(values, list) else [values]
            if any(isinstance(v, str) for array in arrays for v in np.asarray(array, dtype=object).reshape(-1)):
                return True
    dtypes = getattr(estimator, "feature_dtypes_in_", None)  # category_encoders keeps its columns' dtypes
    if isinstance(dtypes, list) and any(getattr(d, "kind", "O") not in "biufc" for d in dtypes):
        return True
    for attribute in ("encoder_dict_", "imputer_dict_", "category_dict_"):  # feature_engine's, by variable
        table = getattr(estimator, attribute, None)
        if isinstance(table, dict) and any(_holds_string(v) for v in table.values()):
            return True
    children = [step for _, step in getattr(estimator, "steps", [])]
    children += [t for _, t, _ in getattr(estimator, "transformers_", [])]
    children += [getattr(estimator, "regressor_", None)]
    return any(_fitted_on_strings(child) for child in children if hasattr(child, "get_params"))


def _holds_string(value: Any) -> bool:
    """Whether a fitted value (a category, or a dict or list of them) is or holds a string."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(isinstance(key, str) for key in value) or any(isinstance(v, str) for v in value.values())
    if isinstance(value, (list, tuple, np.ndarray)) or hasattr(value, "categories"):
        return any(isinstance(v, str) for v in np.asarray(getattr(value, "categories", value), dtype=object))
    return False


def _save_and_report(compiled: sk2tensor.CompiledModel, output: Path, data: Path | None) -> None:
    """Save the export to ``output`` and print its summary (a write failure is one line)."""
    try:
        path = compiled.save(output)
    except OSError as error:
        raise ModelFileError(f"cannot write {output}: {error.strerror or error}") from None
    for line in _export_summary(compiled, path, data):
        typer.echo(line)


def _export_summary(compiled: sk2tensor.CompiledModel, path: Path, data: Path | None) -> Iterator[str]:
    name = compiled.estimator_class.rsplit(".", 1)[-1]
    yield f"exported {name} to {path} ({_size(path.stat().st_size)})"
    if compiled.sparse_inputs is not None:
        indptr, indices, values = compiled.sparse_inputs
        yield (
            f"  inputs (sparse rows, CSR of {compiled.n_features} columns): {indptr} int64 [batch + 1], "
            f"{indices} int64 [nnz], {values} {compiled.input_dtype.name} [nnz]"
        )
    elif compiled.inputs is None:
        yield f"  input: {compiled.input_name} {compiled.input_dtype.name} [batch, {compiled.n_features}]"
    else:
        yield "  inputs: " + ", ".join(f"{i['name']} {i['dtype']} {_shape(i['shape'])}" for i in compiled.inputs)
    yield f"  outputs: {', '.join(compiled.outputs)}"
    if compiled.classes is not None:
        yield f"  classes: {', '.join(str(c) for c in compiled.classes.tolist())}"
    if compiled.strategy:
        yield "  strategy: " + ", ".join(f"{step}={how}" for step, how in compiled.strategy.items())
    if md.LEAF_DTYPE in compiled.metadata:
        yield f"  leaf values: rounded to {compiled.metadata[md.LEAF_DTYPE]}"
    source = f"rows of {data}" if data is not None else "generated rows (pass --validate DATA to use your own)"
    yield f"  validated on {source}"
    if compiled.validation is not None:
        yield from compiled.validation.summary().splitlines()


# ----------------------------------------------------------------------------------------- predict
def _split_list(values: list[str] | None) -> list[str] | None:
    """``--opt a,b --opt c`` -> ``["a", "b", "c"]``; None when the option was not given."""
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class _ProgressBar:
    """One line on stderr, redrawn at most ten times a second; erased at the end."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < 0.1 and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if total:
            width = 24
            filled = int(width * min(done, total) / total)
            text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done / total:4.0%} {done:,}/{total:,} rows"
        else:
            text = f"{self.label} {done:,} rows"
        text += f", {rate:,.0f} rows/s"
        columns = shutil.get_terminal_size((100, 20)).columns
        sys.stderr.write("\r" + text[: columns - 1].ljust(columns - 1))
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            columns = shutil.get_terminal_size((100, 20)).columns
            sys.stderr.write("\r" + " " * (columns - 1) + "\r")
            sys.stderr.flush()


def _shown(names: Sequence[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(metavar="MODEL.onnx", help="A model exported by sk2tensor.")],
    data: Annotated[
        Path,
        typer.Argument(metavar="DATA", help="Rows to score: .csv, .parquet or .npy, any size, or .npz (sparse rows)."),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="OUT", help="Where to write the results: .parquet, .csv or .npy."),
    ],
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            metavar="METHOD",
            help="Output(s) to write: predict, predict_proba, ... (repeat or separate with commas; "
            "default predict, else the model's only output). A .npy file holds one.",
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where to run: cpu, cuda, or auto (cuda when available).")] = (
        Device.auto
    ),
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, metavar="N", help="Rows read, scored and written at a time.")
    ] = DEFAULT_BATCH_ROWS,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            metavar="COLS",
            help="The data's columns to feed the model, in its input order: names, or 1-based positions for "
            "data without a header (default: by the model's feature names, else every column).",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on a terminal, not in CI)."),
    ] = None,
    base_margin: Annotated[
        list[str] | None,
        typer.Option(
            "--base-margin",
            metavar="COLS",
            help="For a model exported with base_margin (XGBoost): the data's column(s) holding each row's "
            "starting margin (names, or 1-based positions).",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Who scores: local (this process), or ray / spark (a Parquet file or directory in, a Parquet "
            "directory out; a running cluster is used when configured: RAY_ADDRESS, the active Spark session)."
        ),
    ] = Engine.local,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            metavar="COLS",
            help="With --engine ray or spark: the input columns copied beside the predictions (default: every "
            "input column; rows come out in no fixed order, so keep an id). '--keep ' keeps none.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            metavar="N",
            help="With --engine ray: scoring workers, each with one ONNX Runtime session (default: Ray's "
            "autoscaling). Spark's are its executors.",
        ),
    ] = None,
) -> None:
    """Score a data file of any size in batches (bounded memory) and write the results to a file.

    With --engine ray or spark, DATA is a Parquet file or directory and OUT a new Parquet directory.
    """
    from sk2tensor.scoring import score_file

    if output.resolve() == model.resolve():
        raise ModelFileError(f"refusing to overwrite {model} with the scores: choose another --output")
    if engine is not Engine.local:
        if base_margin is not None:
            raise typer.BadParameter("--base-margin applies to --engine local only", param_hint="--base-margin")
        if workers is not None and engine is not Engine.ray:
            raise typer.BadParameter("--workers applies to --engine ray only", param_hint="--workers")
        _predict_on_engine(engine, model, data, output, method, device, batch_size, columns, keep, workers)
        return
    for name, value in (("--keep", keep), ("--workers", workers)):
        if value is not None:
            raise typer.BadParameter(f"{name} applies to --engine ray or spark only", param_hint=name)
    compiled = load_compiled(model, device=device.value)
    show = progress if progress is not None else (sys.stderr.isatty() and not _in_ci())
    bar = _ProgressBar(f"scoring {data.name}") if show else None
    try:
        result = score_file(
            compiled,
            data,
            output,
            methods=_split_list(method),
            batch_size=batch_size,
            columns=_split_list(columns),
            progress=bar,
            base_margin=_split_list(base_margin),
        )
    finally:
        if bar is not None:
            bar.finish()
    typer.echo(
        f"scored {result.rows:,} rows of {data} in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s, "
        f"{compiled.device})"
    )
    typer.echo(f"wrote {_shown(result.columns)} to {output}")


def _predict_on_engine(
    engine: Engine,
    model: Path,
    data: Path,
    output: Path,
    method: list[str] | None,
    device: Device,
    batch_size: int,
    columns: list[str] | None,
    keep: list[str] | None,
    workers: int | None,
) -> None:
    """``sk2tensor predict --engine ray|spark``: a Parquet file or directory scored into a Parquet directory."""
    if data.suffix.lower() != ".parquet" and not data.is_dir():
        raise ModelFileError(f"--engine {engine.value} reads Parquet: {data} is not a .parquet file or a directory")
    if output.suffix.lower() in (".csv", ".npy"):
        raise ModelFileError(f"--engine {engine.value} writes a directory of Parquet files, not {output.suffix}")
    kept = None if keep is None else [name for name in _split_list(keep) or [] if name]
    methods, chosen_columns = _split_list(method), _split_list(columns)
    load_compiled(model, device="cpu")  # a missing or damaged file fails here, before an engine starts
    if engine is Engine.ray:
        from sk2tensor.ray import _ray
        from sk2tensor.ray import predict_parquet as ray_predict_parquet

        ray = _ray()
        if not ray.is_initialized():
            # RAY_ADDRESS, when set, names the cluster; else a local Ray. Its INFO logs would drown the result.
            ray.init(logging_level=logging.WARNING, include_dashboard=False)
            logging.getLogger("ray.data").setLevel(logging.WARNING)

        result = ray_predict_parquet(
            data,
            model,
            output,
            methods=methods,
            batch_size=batch_size,
            num_gpus_per_worker=1 if device is Device.cuda else 0,
            concurrency=workers,
            columns=chosen_columns,
            keep_columns=kept,
        )
    else:
        from sk2tensor.spark import predict_parquet as spark_predict_parquet

        result = spark_predict_parquet(
            data, model, output, methods=methods, columns=chosen_columns, keep_columns=kept, device=device.value
        )
    typer.echo(
        f"scored {result.rows:,} rows of {data} in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s, "
        f"{engine.value})"
    )
    typer.echo(f"wrote {_shown(result.columns)} to {output}")


# ----------------------------------------------------------------------------------------- validate
def _check_pair(estimator: Any, compiled: sk2tensor.CompiledModel, model: Path, exported: Path) -> None:
    """The exported file must come from an estimator of the same class and width, with the same methods."""
    name = class_path(type(estimator))
    if compiled.estimator_class and compiled.estimator_class != name:
        raise ModelFileError(f"{exported} was exported from {compiled.estimator_class}, but {model} holds {name}")
    width = getattr(estimator, "n_features_in_", None)
    if width is not None and int(width) != compiled.n_features:
        raise ModelFileError(
            f"{exported} reads {compiled.n_features} features, but {model} was fitted on {width}: not its export"
        )
    missing = [m for m in compiled.outputs if not hasattr(estimator, m)]
    if missing:
        raise ModelFileError(f"{exported} has output(s) {', '.join(missing)} that {model} ({name}) lacks")


def _rows_for(path: Path, estimator: Any, compiled: sk2tensor.CompiledModel | None) -> Any:
    if compiled is not None and compiled.string_inputs:
        return load_rows_for(path, compiled)
    rows, names = load_data(path)
    wanted = getattr(estimator, "feature_names_in_", None)
    if wanted is None and compiled is not None:
        wanted = compiled.feature_names
    return match_columns(rows, names, wanted)


@app.command()
def validate(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help=MODEL_HELP)],
    exported: Annotated[Path, typer.Argument(metavar="ONNX", help="Its export, an .onnx file.")],
    data: Annotated[
        Path, typer.Option("--data", metavar="DATA", help="Rows to compare on: .npy, .npz, .csv or .parquet.")
    ],
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load pickles and types skops does not trust by default (this can run code)."),
    ] = False,
    device: Annotated[Device, typer.Option(help="Where the export runs: cpu, cuda or auto.")] = Device.cpu,
) -> None:
    """Compare an exported model with its sklearn estimator on your rows; exit status 1 when they disagree."""
    estimator = load_estimator(model, trust=trust)
    compiled = load_compiled(exported, device=device.value)
    _check_pair(estimator, compiled, model, exported)
    rows = _rows_for(data, estimator, compiled)
    report = sk2tensor.compare(estimator, compiled, rows)
    typer.echo(f"{exported} against {model} on rows of {data} ({compiled.device})")
    typer.echo(report.summary())
    if not report.passed:
        failed = ", ".join(o.name for o in report.outputs if not o.passed)
        typer.echo(f"error: {exported} disagrees with {model} beyond tolerance ({failed})", err=True)
        raise typer.Exit(1)


# ----------------------------------------------------------------------------------------- bench
def _median_seconds(function: Any, repeats: int) -> float:
    function()  # warm-up: first-call costs (session set-up, caches, thread pools) are not the steady state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@app.command()
def bench(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help=MODEL_HELP)],
    data: Annotated[
        Path | None,
        typer.Option("--data", metavar="DATA", help="Rows to time on (.npy, .npz, .csv, .parquet); default generated."),
    ] = None,
    exported: Annotated[
        Path | None,
        typer.Option("--onnx", metavar="ONNX", help="Time this export instead of converting MODEL now."),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where the export runs: cpu, cuda or auto.")] = Device.auto,
    trust: Annotated[
        bool,
        typer.Option("--trust", help="Load pickles and types skops does not trust by default (this can run code)."),
    ] = False,
    repeats: Annotated[int, typer.Option(min=1, metavar="N", help="Timed runs of each (median reported).")] = 5,
    rows: Annotated[
        int, typer.Option("--rows", min=1, metavar="N", help="Rows to generate when no --data is given.")
    ] = 100_000,
    method: Annotated[
        str | None, typer.Option("--method", "-m", metavar="METHOD", help="Method to time (default predict).")
    ] = None,
    strategy: Annotated[Strategy, typer.Option(help="Tree lowering strategy, when converting.")] = Strategy.auto,
    dtype: Annotated[Dtype, typer.Option(help="Input and compute type, when converting.")] = Dtype.float32,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Time sklearn and the export on your model and rows in one process: rows/s of each and the ratio."""
    from sk2tensor.api import _reference_input
    from sk2tensor.scoring import check_methods

    estimator = load_estimator(model, trust=trust)
    if data is not None:
        # A model with string columns reads them as text from its export's metadata, else as pandas does.
        loaded = load_compiled(exported, device=device.value) if exported is not None else None
        X = _rows_for(data, estimator, loaded) if loaded is not None else _validation_rows(data, estimator)
        source = str(data)
    else:
        width = getattr(estimator, "n_features_in_", None)
        if width is None:
            raise InputError(f"{type(estimator).__name__} does not record its input width: pass --data")
        X = np.random.default_rng(0).normal(size=(rows, int(width)))
        source = "generated rows"
    start = time.perf_counter()
    if exported is not None:
        compiled = load_compiled(exported, device=device.value)
        _check_pair(estimator, compiled, model, exported)
        how = f"loaded {exported}"
    else:
        compiled = sk2tensor.convert(
            estimator, X[:10_000], strategy=strategy.value, dtype=dtype.value, device=device.value, validate=True
        )
        how = "converted and validated"
    set_up = time.perf_counter() - start
    (name,) = check_methods(compiled, [method] if method else None)
    if not hasattr(estimator, name):
        raise InputError(f"{type(estimator).__name__} has no method {name!r}")
    framed = hasattr(X, "columns") and hasattr(X, "iloc")  # string columns: both read the DataFrame
    if compiled.takes_documents:  # a text model: both take the sequence of documents
        reference_input = rows_in = document_array(X)
    elif is_sparse(X):  # sparse rows (.npz): both take the same CSR matrix, in the export's dtype
        reference_input = rows_in = X.astype(compiled.input_dtype)
    else:
        reference_input = X if framed else _reference_input(estimator, X)
        rows_in = X if framed else np.ascontiguousarray(X, dtype=compiled.input_dtype)
    sklearn_method = getattr(estimator, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sklearn_s = _median_seconds(lambda: sklearn_method(reference_input), repeats)
    export_s = _median_seconds(lambda: compiled.run(name, rows_in), repeats)
    n = X.shape[0]
    result = {
        "estimator": compiled.estimator_class or class_path(type(estimator)),
        "method": name,
        "rows": n,
        "features": int(X.shape[1]),
        "data": source,
        "device": compiled.device,
        "repeats": repeats,
        "setup_seconds": set_up,
        "strategy": compiled.strategy,
        "sklearn_seconds": sklearn_s,
        "sk2tensor_seconds": export_s,
        "sklearn_rows_per_second": n / sklearn_s if sklearn_s > 0 else None,
        "sk2tensor_rows_per_second": n / export_s if export_s > 0 else None,
        "speedup": sklearn_s / export_s if export_s > 0 else None,
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    short = result["estimator"].rsplit(".", 1)[-1]
    typer.echo(f"{short}.{name} on {n:,} rows x {X.shape[1]} features ({source}); median of {repeats} after a warm-up")
    typer.echo(f"  export: {how} in {set_up:.2f} s" + (f", strategy {compiled.strategy}" if compiled.strategy else ""))
    for label, seconds in (("sklearn", sklearn_s), (f"sk2tensor ({compiled.device})", export_s)):
        typer.echo(f"  {label:<18} {seconds:9.4f} s  {n / seconds if seconds > 0 else float('inf'):>14,.0f} rows/s")
    ratio = result["speedup"]
    typer.echo(f"  ratio: sk2tensor runs at {ratio:.2f}x sklearn's speed" if ratio else "  ratio: n/a")


# ----------------------------------------------------------------------------------------- inspect
class Incremental(StrEnum):
    """Estimators ``train`` can fit incrementally, by command-line name."""

    sgd_classifier = "sgd-classifier"
    sgd_regressor = "sgd-regressor"
    perceptron = "perceptron"
    passive_aggressive_classifier = "passive-aggressive-classifier"
    passive_aggressive_regressor = "passive-aggressive-regressor"
    gaussian_nb = "gaussian-nb"
    multinomial_nb = "multinomial-nb"
    bernoulli_nb = "bernoulli-nb"
    mlp_classifier = "mlp-classifier"
    mlp_regressor = "mlp-regressor"


def _incremental_estimator(name: Incremental, seed: int) -> Any:
    from sklearn import linear_model, naive_bayes, neural_network

    makers = {
        Incremental.sgd_classifier: lambda: linear_model.SGDClassifier(random_state=seed),
        Incremental.sgd_regressor: lambda: linear_model.SGDRegressor(random_state=seed),
        Incremental.perceptron: lambda: linear_model.Perceptron(random_state=seed),
        Incremental.passive_aggressive_classifier: lambda: linear_model.SGDClassifier(
            loss="hinge", penalty=None, learning_rate="pa1", eta0=1.0, random_state=seed
        ),
        Incremental.passive_aggressive_regressor: lambda: linear_model.SGDRegressor(
            loss="epsilon_insensitive", penalty=None, learning_rate="pa1", eta0=1.0, random_state=seed
        ),
        Incremental.gaussian_nb: naive_bayes.GaussianNB,
        Incremental.multinomial_nb: naive_bayes.MultinomialNB,
        Incremental.bernoulli_nb: naive_bayes.BernoulliNB,
        Incremental.mlp_classifier: lambda: neural_network.MLPClassifier(random_state=seed),
        Incremental.mlp_regressor: lambda: neural_network.MLPRegressor(random_state=seed),
    }
    return makers[name]()


@app.command()
def train(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Training rows: .csv (with a header) or .parquet.")],
    target: Annotated[str, typer.Option("--target", metavar="COL", help="The column holding y.")],
    estimator: Annotated[Incremental, typer.Option("--estimator", help="What to fit with partial_fit.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="OUT.skops", help="Where to save the model.")],
    export: Annotated[
        Path | None, typer.Option("--export", metavar="OUT.onnx", help="Also export it, validated on the data.")
    ] = None,
    scale: Annotated[bool, typer.Option(help="Put a StandardScaler (fitted in its own pass) first.")] = False,
    features: Annotated[
        list[str] | None, typer.Option("--features", metavar="A,B,...", help="Feature columns (default: all others).")
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--classes", metavar="A,B,...", help="Every class label (default: read in a first pass)."),
    ] = None,
    chunksize: Annotated[int, typer.Option(min=1, metavar="N", help="Rows per partial_fit.")] = 100_000,
    epochs: Annotated[int, typer.Option(min=1, metavar="N", help="Passes of the estimator over the data.")] = 1,
    seed: Annotated[int, typer.Option(metavar="N", help="Random state of the estimator.")] = 0,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Rows read, on a terminal (default).")
    ] = None,
) -> None:
    """Fit an incremental estimator on a file read in chunks (never whole), save it with skops, optionally export."""
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sk2tensor.training import fit_stream, read_chunks

    model = _incremental_estimator(estimator, seed)
    if scale:
        model = make_pipeline(StandardScaler(), model)
    label_values = _split_list(classes)
    if label_values is not None:
        label_values = _typed_labels(data, target, label_values)
    started = time.perf_counter()
    fit_stream(
        model,
        data,
        target=target,
        chunksize=chunksize,
        classes=label_values,
        features=_split_list(features),
        epochs=epochs,
        progress=(not _in_ci() and sys.stderr.isatty()) if progress is None else progress,
    )
    seconds = time.perf_counter() - started
    try:
        skops.io.dump(model, output)
    except OSError as error:
        raise ModelFileError(f"cannot write {output}: {error.strerror or error}") from None
    typer.echo(f"trained {type(model).__name__} on {data} in {seconds:.1f} s; saved to {output}")
    if export is not None:
        columns = _split_list(features)
        sample = next(read_chunks(data, None, 10_000))
        columns = columns or [c for c in sample.columns if c != target]
        compiled = sk2tensor.convert(model, sample[columns].to_numpy(dtype=np.float64))
        _save_and_report(compiled, export, data)


def _typed_labels(data: Path, target: str, labels: list[str]) -> list[Any]:
    """``--classes`` values with the target column's type (numbers stay numbers)."""
    from sk2tensor.training import read_chunks

    sample = next(read_chunks(data, [target], 1000), None)
    if sample is None or sample[target].dtype.kind not in "iuf":
        return labels
    try:
        return [sample[target].dtype.type(float(label)) for label in labels]
    except ValueError:
        raise InputError(f"--classes must be numbers: the target column {target!r} holds numbers") from None


@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(metavar="FILE", help="An .onnx file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    providers: Annotated[
        bool,
        typer.Option(
            "--providers/--no-providers",
            help="Also load the file on each execution provider of the installed onnxruntime, with no fallback "
            "to the CPU, to tell which can run every node.",
        ),
    ] = True,
) -> None:
    """Describe an .onnx file: inputs, outputs, metadata, operator counts, size, opset, and which execution
    providers run every node (the description needs no runtime; the provider check needs onnxruntime)."""
    info = describe_onnx(model)
    if providers:
        info["providers"] = check_providers(model)
    info["portability"] = portability_notes(info["op_counts"], info["inputs"])
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for line in _inspect_text(info):
        typer.echo(line)


CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
#: Providers that run no graph node themselves (they serve remote endpoints): not worth a strict session.
_NOT_COMPUTE_PROVIDERS = {"AzureExecutionProvider": "it calls remote endpoints and runs no graph node itself"}
#: Operators whose output is a shape computed at run time: ONNX Runtime keeps them on the CPU, and a strict
#: CUDA session (no CPU fallback) refuses a graph holding them (measured: DESIGN.md, "GPU and many cores").
_SHAPE_OPS = ("Shape", "Size")
_ORT_ERROR_PREFIX = "[ONNXRuntimeError] :"


def _ort_message(error: BaseException) -> str:
    """ONNX Runtime's message without its ``[ONNXRuntimeError] : 1 : FAIL :`` prefix, on one line."""
    message = one_line(str(error))
    if message.startswith(_ORT_ERROR_PREFIX):
        message = message.split(" : ", 3)[-1]
    return message


def check_providers(path: Path) -> dict[str, Any]:
    """Which execution providers of the installed onnxruntime load ``path`` with every node on them.

    Each available provider gets a session of its own with ``session.disable_cpu_ep_fallback=1`` and only that
    provider (the CPU provider is simply loaded: it is the fallback). A session that loads runs every node on
    that provider; one that is refused names what could not be placed.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return {"runtime": None, "error": "onnxruntime is not installed: install 'sk2tensor[cpu]' or 'sk2tensor[gpu]'"}
    available = list(ort.get_available_providers())
    results = []
    for provider in available:
        if provider in _NOT_COMPUTE_PROVIDERS:
            results.append({"provider": provider, "status": "skipped", "detail": _NOT_COMPUTE_PROVIDERS[provider]})
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 4  # errors come back as exceptions; keep ORT's own log quiet
        if provider != CPU_PROVIDER:
            options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        try:
            ort.InferenceSession(str(path), sess_options=options, providers=[provider])
        except Exception as error:  # Fail, InvalidArgument, EPFail, ... (pybind11 types without a common base)
            results.append({"provider": provider, "status": "refused", "detail": _ort_message(error)})
        else:
            results.append({"provider": provider, "status": "runs every node", "detail": ""})
    if CUDA_PROVIDER not in available:
        results.append(
            {
                "provider": CUDA_PROVIDER,
                "status": "not available here",
                "detail": "this onnxruntime has no CUDA provider; install onnxruntime-gpu ('sk2tensor[gpu]', never "
                "alongside 'sk2tensor[cpu]') on a machine with a GPU to check",
            }
        )
    return {"runtime": f"onnxruntime {ort.__version__}", "providers": results}


def portability_notes(op_counts: dict[str, int], inputs: Sequence[dict[str, Any]] = ()) -> list[str]:
    """What the operator list (and the inputs' types) alone say about where the graph runs (no runtime needed)."""
    nodes = sum(op_counts.values())
    foreign = {op: n for op, n in op_counts.items() if "." in op}
    notes = []
    if foreign:
        listed = ", ".join(f"{op} x{n}" for op, n in foreign.items())
        ml = (
            " (ai.onnx.ml operators have CPU kernels only in ONNX Runtime)"
            if any(op.startswith("ai.onnx.ml.") for op in foreign)
            else ""
        )
        notes.append(f"{sum(foreign.values())} of {nodes} nodes are outside the default domain: {listed}{ml}")
    else:
        notes.append(
            f"all {nodes} nodes are default-domain (ai.onnx) operators, none from ai.onnx.ml (whose kernels are "
            "CPU-only in ONNX Runtime): runtimes without ML operators (Node.js, WebAssembly, other engines) can "
            "load it"
        )
    shape_ops = {op: op_counts[op] for op in _SHAPE_OPS if op in op_counts}
    if shape_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in shape_ops.items())
        notes.append(
            f"the graph computes shapes at run time ({listed}): ONNX Runtime keeps those on the CPU, so a strict "
            "CUDA session (no CPU fallback) refuses it"
        )
    strings = [value["name"] for value in inputs if value.get("dtype") == "string"]
    if strings:
        notes.append(
            f"string inputs ({_shown(strings)}): the string comparisons run on ONNX Runtime's CPU provider (CUDA "
            "has no string kernels) and the rest wherever the session runs; a CUDA session must list the CPU "
            "provider too, so a strict CUDA session (no CPU fallback) refuses it"
        )
    notes.append(
        "whether a GPU provider has a kernel for every operator and type is settled only by loading the file "
        "there (the provider check above, on a machine with that provider)"
    )
    return notes


def _read_onnx(path: Path) -> Any:
    import onnx

    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not an ONNX file")
    if not path.is_file():
        raise ModelFileError(f"no such ONNX file: {path}")
    try:
        model = onnx.load_model(path, load_external_data=False)
    except Exception as error:  # protobuf raises several unrelated types for a damaged file
        raise ModelFileError(f"{path} is not a readable ONNX model ({_describe(error)})") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelFileError(f"{path} is not a readable ONNX model (it holds no graph)")
    return model


def _value_info(value: Any) -> dict[str, Any]:
    import onnx

    tensor = value.type.tensor_type
    try:
        if tensor.elem_type == onnx.TensorProto.STRING:
            raise ValueError("string tensors have no numpy dtype of their own")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in tensor.shape.dim]
    return {"name": value.name, "dtype": dtype, "shape": shape}


def _op_counts(graph: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for node in graph.node:
        counts[f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
        for attribute in node.attribute:
            subgraphs = [*attribute.graphs, attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for subgraph in subgraphs:
                counts.update(_op_counts(subgraph))
    return counts


def _metadata_value(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict | list) else value


def describe_onnx(path: Path) -> dict[str, Any]:
    """What ``sk2tensor inspect`` shows, as a JSON-ready dict; reads the file alone (no ONNX Runtime)."""
    path = Path(path)
    model = _read_onnx(path)
    counts = _op_counts(model.graph)
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "ir_version": model.ir_version,
        "opset": {(entry.domain or "ai.onnx"): entry.version for entry in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [_value_info(v) for v in model.graph.input],
        "outputs": [_value_info(v) for v in model.graph.output],
        "metadata": {p.key: _metadata_value(p.value) for p in model.metadata_props},
        "nodes": sum(counts.values()),
        "initializers": len(model.graph.initializer),
        "op_counts": dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
    }


def _shape(shape: list[Any] | None) -> str:
    return "?" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _inspect_text(info: dict[str, Any]) -> Iterator[str]:
    yield f"file: {info['file']} ({_size(info['size_bytes'])})"
    opsets = ", ".join(f"{domain} {version}" for domain, version in info["opset"].items())
    yield f"ir version: {info['ir_version']}, opset: {opsets}"
    if info["producer"]:
        yield f"producer: {info['producer']}"
    for kind in ("inputs", "outputs"):
        yield f"{kind}:"
        for value in info[kind]:
            yield f"  {value['name']}: {value['dtype']} {_shape(value['shape'])}"
    yield "metadata:"
    if not info["metadata"]:
        yield "  (none)"
    for key, value in info["metadata"].items():
        if key == md.VALIDATION and isinstance(value, dict):
            yield from _validation_lines(value)
        elif isinstance(value, str):
            yield f"  {key}: {value}"
        else:
            yield f"  {key}: {json.dumps(value)}"
    yield f"operators ({info['nodes']} nodes, {info['initializers']} initializers):"
    width = max((len(op) for op in info["op_counts"]), default=0)
    for op, count in info["op_counts"].items():
        yield f"  {op:<{width}}  {count}"
    if "providers" in info:
        yield from _provider_lines(info["providers"])
    if info.get("portability"):
        yield "portability:"
        for note in info["portability"]:
            yield f"  {note}"


def _provider_lines(check: dict[str, Any]) -> Iterator[str]:
    if check.get("runtime") is None:
        yield f"execution providers: not checked ({check.get('error')})"
        return
    yield f"execution providers ({check['runtime']}; each alone, no fallback to the CPU):"
    for entry in check["providers"]:
        detail = f" ({entry['detail']})" if entry["detail"] else ""
        yield f"  {entry['provider']}: {entry['status']}{detail}"


def _validation_lines(report: dict[str, Any]) -> Iterator[str]:
    status = "passed" if report.get("passed") else "FAILED"
    yield f"  {md.VALIDATION}: {status} on {report.get('rows')} rows ({report.get('dtype')})"
    for output in report.get("outputs", []):
        if output.get("label_agreement") is not None:
            yield f"    {output['name']}: label agreement {output['label_agreement']:.4%}"
        else:
            diff, tolerance = output["max_abs_diff"], output["tolerance"]
            yield f"    {output['name']}: max abs diff {diff:.3g} (tolerance {tolerance:.3g})"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# ----------------------------------------------------------------------------------------- list
@app.command("list")
def list_supported(
    libraries: Annotated[
        bool,
        typer.Option(
            "--libraries",
            help="Also list the classes of the optional libraries installed here (LightGBM, XGBoost, CatBoost, "
            "imbalanced-learn, category_encoders, feature_engine); importing them takes a few seconds.",
        ),
    ] = False,
) -> None:
    """List the estimators sk2tensor converts (scikit-learn's; with --libraries, the other libraries' too)."""
    if libraries:
        _load_installed_libraries()
    for cls in sk2tensor.supported():
        typer.echo(class_path(cls))


def _load_installed_libraries() -> None:
    """Import each optional library that is installed, with its converters; one that fails to load is a warning."""
    import importlib
    import importlib.util

    from sk2tensor.registry import OPTIONAL_CONVERTERS

    for library, module in OPTIONAL_CONVERTERS.items():
        if importlib.util.find_spec(library) is None:
            continue
        try:
            importlib.import_module(module)
        except Exception as error:  # an incompatible release: say so, list the others
            warnings.warn(f"{library}: its converters cannot load ({type(error).__name__}: {error})", stacklevel=1)


def main() -> NoReturn:
    """Console-script entry point (``sk2tensor``)."""
    app(prog_name=PROG)
    sys.exit(0)  # app() exits on its own; this line only satisfies the type


if __name__ == "__main__":
    main()
