"""Batch scoring in bounded memory: what ``sk2tensor predict`` runs, usable from Python too.

:func:`score_file` reads a ``.npy``, ``.csv`` or ``.parquet`` file (or an array or DataFrame) a batch of rows at
a time, runs an exported model on each batch and appends the results to a ``.parquet``, ``.csv`` or ``.npy``
file: memory holds a batch or two, whatever the size of the data. The output is written to a temporary file
beside the destination and renamed over it only once every row is scored, so a run that fails (a bad row, a
full disk, Ctrl-C) leaves no output that looks complete. :func:`iter_scores` gives the batches' results to a
caller that writes them itself.

Output columns are named after the method: ``predict`` (the class labels for a classifier),
``predict_proba_<class>`` and ``decision_function_<class>`` per class, ``<method>_<j>`` for other 2-D outputs
(``transform_0``, ...). A ``.npy`` output holds one method's array, shaped as sklearn returns it.
"""

from __future__ import annotations

import contextlib
import csv
import os
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sk2tensor.errors import InputError, ModelFileError
from sk2tensor.loading import (
    DEFAULT_BATCH_ROWS,
    DataSource,
    choose_columns,
    column_position,
    load_compiled,
    open_data,
)
from sk2tensor.metadata import CONTRIBUTIONS
from sk2tensor.model import CompiledModel

#: Suffixes :func:`score_file` writes.
OUTPUT_SUFFIXES = (".parquet", ".csv", ".npy")
#: ``progress(rows_done, rows_total_or_None)``: called after each batch.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_file` wrote: ``rows`` rows of ``columns`` to ``output`` in ``seconds``."""

    output: Path
    rows: int
    seconds: float
    methods: tuple[str, ...]
    columns: tuple[str, ...]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def default_method(model: CompiledModel) -> str:
    """``predict`` when the model has it, else its first output."""
    return "predict" if "predict" in model.outputs else model.outputs[0]


def check_methods(model: CompiledModel, methods: Sequence[str] | None) -> tuple[str, ...]:
    """The methods to run (default: :func:`default_method`), each checked to be one of the model's outputs."""
    chosen = tuple(dict.fromkeys(methods)) if methods else (default_method(model),)
    for method in chosen:
        if method not in model.outputs:
            raise InputError(f"this model has no {method!r} output; it has {', '.join(model.outputs)}")
    return chosen


def refuse_base_margin(model: CompiledModel, engine: str) -> None:
    """Cluster engines feed the model's numeric input only: a model with a base_margin input is refused there."""
    if model.base_margin_width is not None:
        raise InputError(
            f"this model takes a per-row base_margin input, which {engine} scoring does not feed: score it with "
            "sk2tensor.scoring.score_file(..., base_margin=[column]) or `sk2tensor predict --base-margin COLUMN`"
        )


def iter_scores(
    model: CompiledModel,
    data: Any,
    *,
    methods: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    columns: Sequence[str] | None = None,
    base_margin: Sequence[str] | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """``(rows in the batch, {method: result})`` for each batch of ``data`` (a data file, array or DataFrame).

    Columns are matched as :func:`sk2tensor.loading.choose_columns` says: by the model's feature names when
    the data has column names, else by position; ``columns`` picks them explicitly. ``base_margin`` names the
    column(s) holding the per-row margin of a model exported with one (XGBoost's ``base_margin``).
    """
    methods = check_methods(model, methods)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    source = data if isinstance(data, DataSource) else open_data(data)
    chosen = choose_columns(source, model.n_features, feature_names=model.feature_names, columns=columns)
    margin = _margin_columns(model, source, base_margin)
    strings = [position for _, position in model.string_inputs]  # a model's string columns are read as text
    if strings:
        for batch in source.batches(chosen, batch_size, strings=strings):
            yield batch.shape[0], model.run_many(methods, batch)
        return
    width = len(chosen)
    for batch in source.batches(chosen + margin, batch_size):
        if not margin:
            yield batch.shape[0], model.run_many(methods, batch)
            continue
        values = batch[:, width:]
        values = values.toarray() if hasattr(values, "toarray") else values
        yield batch.shape[0], model.run_many(methods, batch[:, :width], base_margin=values)


def _margin_columns(model: CompiledModel, source: DataSource, base_margin: Sequence[str] | None) -> list[int]:
    """Positions of the margin column(s) a model exported with ``base_margin`` takes; none for other models."""
    width = model.base_margin_width
    if width is None:
        if base_margin:
            raise InputError("this model takes no base_margin (only XGBoost models exported with base_margin do)")
        return []
    if not base_margin:
        raise InputError(
            f"this model takes a per-row base_margin ({width} value(s) per row): name the data's column(s) that "
            "hold it (base_margin=[...], --base-margin on the command line)"
        )
    positions = [column_position(source, str(column)) for column in base_margin]
    if len(positions) != width:
        raise InputError(f"{len(positions)} base_margin column(s) chosen, but this model takes {width} per row")
    return positions


def score_file(
    model: CompiledModel | str | os.PathLike[str],
    data: Any,
    output: str | os.PathLike[str],
    *,
    methods: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    columns: Sequence[str] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    base_margin: Sequence[str] | None = None,
) -> ScoreResult:
    """Score ``data`` with ``model`` batch by batch and write the results to ``output``.

    Parameters
    ----------
    model:
        A :class:`CompiledModel` or the path of an exported ``.onnx`` file (loaded on ``device``).
    data:
        A ``.npy``, ``.csv`` or ``.parquet`` path, or an array or DataFrame.
    output:
        A ``.parquet``, ``.csv`` or ``.npy`` path; ``.npy`` holds a single method's output.
    methods:
        The outputs to write (default: ``predict``, or the model's only output).
    batch_size:
        Rows read, scored and written at a time; memory grows with it, not with the data.
    columns:
        The data's columns to feed the model, in the model's input order (names, or 1-based positions for
        data without column names). Default: matched by the model's feature names, else all columns.
    progress:
        Called with ``(rows done, total rows or None)`` after each batch.
    base_margin:
        The data's column(s) holding each row's starting margin, for a model exported with ``base_margin``
        (names, or 1-based positions).

    Raises
    ------
    ModelFileError, InputError
        Unreadable files, refused paths, bad rows or columns (naming the line and column). The output is then
        left untouched: nothing is written under its name.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ModelFileError(
            f"{output}: unknown output file type {suffix or '(no suffix)'!r}; expected one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    if output.is_dir():
        raise ModelFileError(f"{output} is a directory: give the output file's name")
    if not output.parent.is_dir():
        raise ModelFileError(f"cannot write {output}: the directory {output.parent} does not exist")
    for source_path in (model, data):
        if isinstance(source_path, str | os.PathLike) and output.resolve() == Path(source_path).resolve():
            raise ModelFileError(f"refusing to overwrite {source_path} with the scores: choose another output")
    compiled = model if isinstance(model, CompiledModel) else load_compiled(model, device=device)
    chosen = check_methods(compiled, methods)
    if suffix == ".npy" and len(chosen) > 1:
        raise InputError(
            f"a .npy file holds one array: choose one method for {output}, or write .parquet or .csv "
            f"for {', '.join(chosen)}"
        )
    source = data if isinstance(data, DataSource) else open_data(data)
    temporary = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")
    writer = _WRITERS[suffix](temporary, compiled, chosen)
    start = time.perf_counter()
    done = 0
    try:
        scores = iter_scores(
            compiled, source, methods=chosen, batch_size=batch_size, columns=columns, base_margin=base_margin
        )
        for rows, results in scores:
            writer.write(results)
            done += rows
            if progress is not None:
                progress(done, source.rows)
        if done == 0:
            raise InputError(f"{source.name} holds no rows")
        writer.close()
        os.replace(temporary, output)
    except BaseException:
        writer.abort()
        temporary.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    return ScoreResult(output, done, seconds, chosen, tuple(writer.columns))


# ----------------------------------------------------------------------------------------- output columns
def joined_outputs(result: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """An output as one array: a multi-output classifier's list of per-target probabilities side by side (as
    the graph holds them)."""
    return np.concatenate(result, axis=1) if isinstance(result, list) else result


def column_names(model: CompiledModel, method: str, result: np.ndarray | list[np.ndarray]) -> list[str]:
    """Output column names for ``result``, the output ``method`` gave for a batch (a multi-output classifier's
    list of per-target probabilities: ``<method>_<target>_<class index>``)."""
    result = joined_outputs(result)
    widths = model.split_outputs.get(method)
    if widths and result.ndim == 2:
        return [f"{method}_{target}_{j}" for target, width in enumerate(widths) for j in range(width)]
    if result.ndim == 1:
        return [method]
    if method == CONTRIBUTIONS:  # [rows, features + 1] or [rows, outputs, features + 1]
        features = [*(model.feature_names or [f"x{j}" for j in range(model.n_features)]), "expected_value"]
        if result.ndim == 2:
            return [f"{method}_{name}" for name in features]
        classes, width = model.classes, result.shape[1]
        outputs = classes.tolist() if classes is not None and len(classes) == width else range(width)
        return [f"{method}_{label}_{name}" for label in outputs for name in features]
    if result.ndim > 2:  # e.g. GradientBoosting's apply [rows, stages, trees per stage]
        return [f"{method}_" + "_".join(map(str, i)) for i in np.ndindex(*result.shape[1:])]
    width = result.shape[1]
    classes = model.classes
    if method in ("predict_proba", "decision_function") and classes is not None and len(classes) == width:
        return [f"{method}_{label}" for label in classes.tolist()]
    return [f"{method}_{j}" for j in range(width)]


def _flat_columns(model: CompiledModel, results: dict[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    names: list[str] = []
    arrays: list[np.ndarray] = []
    for method, result in results.items():
        names += column_names(model, method, result)
        result = joined_outputs(result)
        flat = result.reshape(len(result), -1) if result.ndim > 2 else result
        arrays += [flat] if flat.ndim == 1 else [flat[:, j] for j in range(flat.shape[1])]
    return names, arrays


class _Writer:
    columns: list[str]

    def __init__(self, path: Path, model: CompiledModel, methods: tuple[str, ...]) -> None:
        self.path, self.model, self.methods = path, model, methods
        self.columns = []

    def write(self, results: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the temporary file is deleted next: an error closing it is moot
            self.close()


def _open_for_writing(path: Path, output_name: str) -> Any:
    try:
        return path.open("wb")
    except OSError as error:
        raise ModelFileError(f"cannot write {output_name}: {error.strerror or error}") from None


class _ParquetWriter(_Writer):
    def __init__(self, path: Path, model: CompiledModel, methods: tuple[str, ...]) -> None:
        super().__init__(path, model, methods)
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ModelFileError("writing .parquet needs pyarrow: install the extra 'sk2tensor[data]'") from None
        self._writer: Any = None

    def write(self, results: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names, arrays = _flat_columns(self.model, results)
        if self._writer is None:
            table = pa.table(dict(zip(names, arrays, strict=True)))
            self._writer = pq.ParquetWriter(str(self.path), table.schema)
            self.columns = names
        else:
            table = pa.Table.from_arrays([pa.array(a) for a in arrays], schema=self._writer.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _CsvWriter(_Writer):
    """pyarrow's CSV writer when installed (fast, shortest round-trip floats), else the csv module."""

    def __init__(self, path: Path, model: CompiledModel, methods: tuple[str, ...]) -> None:
        super().__init__(path, model, methods)
        self._handle = _open_for_writing(path, str(path))
        self._writer: Any = None
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            self._arrow = False
        else:
            self._arrow = True

    def write(self, results: dict[str, np.ndarray]) -> None:
        names, arrays = _flat_columns(self.model, results)
        if self._arrow:
            import pyarrow as pa
            import pyarrow.csv as pv

            if self._writer is None:
                table = pa.table(dict(zip(names, arrays, strict=True)))
                self._schema = table.schema
                self._writer = pv.CSVWriter(self._handle, table.schema)
                self.columns = names
            else:
                table = pa.Table.from_arrays([pa.array(a) for a in arrays], schema=self._schema)
            self._writer.write_table(table)
            return
        if self._writer is None:
            self._text = open(self._handle.fileno(), "w", newline="", encoding="utf-8", closefd=False)  # noqa: SIM115
            self._writer = csv.writer(self._text)
            self._writer.writerow(names)
            self.columns = names
        self._writer.writerows(zip(*(a.tolist() for a in arrays), strict=True))

    def close(self) -> None:
        if self._writer is not None and self._arrow:
            self._writer.close()
        elif self._writer is not None:
            self._text.close()
        self._writer = None
        self._handle.close()


class _NpyWriter(_Writer):
    """Rows appended after a header sized for any row count; the header is rewritten with the real count at
    the end, so the row count need not be known in advance (CSV input) and nothing is held in memory."""

    _LARGEST_ROW_COUNT = (1 << 63) - 1

    def __init__(self, path: Path, model: CompiledModel, methods: tuple[str, ...]) -> None:
        super().__init__(path, model, methods)
        self._handle = _open_for_writing(path, str(path))
        self._dtype: np.dtype | None = None
        self._tail: tuple[int, ...] = ()
        self._rows = 0
        self._header_size = 0

    def write(self, results: dict[str, np.ndarray]) -> None:
        (method,) = self.methods
        result = joined_outputs(results[method])
        if self._dtype is None:
            self._dtype = self._file_dtype(method, result)
            self._tail = tuple(result.shape[1:])
            header = _npy_header(self._dtype, (self._LARGEST_ROW_COUNT, *self._tail))
            self._header_size = len(header)
            self._handle.write(header)
            self.columns = column_names(self.model, method, result)
        np.ascontiguousarray(result, dtype=self._dtype).tofile(self._handle)
        self._rows += len(result)

    def _file_dtype(self, method: str, result: np.ndarray) -> np.dtype:
        if result.dtype.kind != "O":
            return result.dtype
        classes = self.model.classes
        if method == "predict" and classes is not None and all(isinstance(c, str) for c in classes.tolist()):
            return np.array(classes.tolist()).dtype  # fixed-width text, wide enough for every label
        raise InputError(f"{method} returns Python objects, which a .npy file cannot hold: write .parquet or .csv")

    def close(self) -> None:
        if self._dtype is not None and not self._handle.closed:
            self._handle.seek(0)
            self._handle.write(_npy_header(self._dtype, (self._rows, *self._tail), self._header_size))
        self._handle.close()


def _npy_header(dtype: np.dtype, shape: tuple[int, ...], size: int | None = None) -> bytes:
    """A ``.npy`` version 1.0 header for a C-ordered array, padded to ``size`` bytes (default: a multiple of 64)."""
    text = f"{{'descr': {np.lib.format.dtype_to_descr(dtype)!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    base = 10 + len(text) + 1
    size = size if size is not None else -(-base // 64) * 64
    if base > size or size - 10 > 0xFFFF:
        raise ValueError(f"a .npy header for shape {shape} does not fit in {size} bytes")
    text += " " * (size - base) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", size - 10) + text.encode("latin1")


_WRITERS: dict[str, type[_Writer]] = {".parquet": _ParquetWriter, ".csv": _CsvWriter, ".npy": _NpyWriter}
