"""Reading fitted models and data files: what ``sk2tensor export`` reads before it converts.

* :func:`load_estimator` reads a fitted estimator. ``.skops`` files go through skops' safe loader, which
  reconstructs only the types it trusts; a file holding other types is refused, naming them, unless
  ``trust=True``. ``.joblib``, ``.pkl`` and ``.pickle`` files are pickles: loading one runs whatever code
  it holds, so they are refused unless ``trust=True``.
* :func:`load_data` reads rows to validate an export on: ``.npy``, ``.csv`` or ``.parquet``.
* :func:`match_columns` puts named columns in the order an estimator was fitted on.

Every failure is a :class:`~sk2tensor.errors.ModelFileError` (a file that cannot be read, or is refused)
or an :class:`~sk2tensor.errors.InputError` (readable data of the wrong shape or type), with a one-line
message that names the file.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sk2tensor.errors import InputError, ModelFileError

#: Suffixes :func:`load_estimator` reads.
SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
MODEL_SUFFIXES = SKOPS_SUFFIXES + PICKLE_SUFFIXES
#: Suffixes :func:`load_data` reads.
DATA_SUFFIXES = (".npy", ".csv", ".parquet")
#: CSV cells read as a missing value (NaN) by the reader without pandas, compared in lower case.
_MISSING_CELLS = frozenset({"", "na", "nan", "n/a", "null", "none"})
_DATA_EXTRA_HINT = "install the extra 'sk2tensor[data]'"


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a {what} file")
    if not path.is_file():
        raise ModelFileError(f"no such {what} file: {path}")
    return path


def _cause(error: BaseException) -> str:
    """``Type: message`` on one line."""
    message = " ".join(str(error).split())
    kind = type(error)
    name = kind.__name__ if kind.__name__[:1].isupper() else f"{kind.__module__}.{kind.__name__}"  # struct.error
    return f"{name}: {message}" if message else name


# ----------------------------------------------------------------------------------------- estimators
def load_estimator(path: str | os.PathLike[str], *, trust: bool = False) -> Any:
    """Load a fitted estimator from a ``.skops``, ``.joblib``, ``.pkl`` or ``.pickle`` file.

    Parameters
    ----------
    path:
        The model file; its suffix says how it is read.
    trust:
        Load what the file holds even when that can run code: the types skops does not trust by default,
        and pickle-based files (``.joblib``/``.pkl``/``.pickle``). Give it only for files you made yourself
        or got from someone you trust.

    Raises
    ------
    ModelFileError
        The file is missing, unreadable, refused (untrusted content without ``trust``), or does not hold an
        estimator.
    """
    path = _existing_file(path, "model")
    suffix = path.suffix.lower()
    if suffix in SKOPS_SUFFIXES:
        estimator = _load_skops(path, trust=trust)
    elif suffix in PICKLE_SUFFIXES:
        if not trust:
            raise ModelFileError(
                f"refusing to load {path}: {suffix} files are pickles, and loading a pickle executes "
                "arbitrary code it holds. Pass --trust (trust=True) only if you trust where the file came "
                "from; prefer saving models with skops.io.dump to a .skops file."
            )
        estimator = _load_pickle(path)
    else:
        accepted = ", ".join(MODEL_SUFFIXES)
        raise ModelFileError(f"{path}: unknown model file type {suffix or '(no suffix)'!r}; expected one of {accepted}")
    _check_estimator(estimator, path)
    return estimator


def _load_skops(path: Path, *, trust: bool) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # zipfile, json and KeyError for files that are not skops archives
        raise ModelFileError(f"{path} is not a readable skops file ({_cause(error)})") from None
    if untrusted and not trust:
        raise ModelFileError(
            f"refusing to load {path}: it holds types skops does not trust by default: {', '.join(untrusted)}. "
            "Loading them can run code from their modules; pass --trust (trust=True) to load them if you trust "
            "the file."
        )
    try:
        return skops.io.load(path, trusted=untrusted or None)
    except ImportError as error:
        raise ModelFileError(
            f"{path} needs the module {getattr(error, 'name', None) or '?'!r}, which cannot be imported "
            f"({_cause(error)}): install it or add it to PYTHONPATH"
        ) from None
    except Exception as error:  # skops reports a damaged archive with many unrelated exception types
        raise ModelFileError(f"{path} is not a readable skops file ({_cause(error)})") from None


def _load_pickle(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except ImportError as error:
        raise ModelFileError(
            f"{path} needs the module {getattr(error, 'name', None) or '?'!r}, which cannot be imported "
            f"({_cause(error)}): install it or add it to PYTHONPATH"
        ) from None
    except Exception as error:  # unpickling a damaged file raises anything at all
        raise ModelFileError(f"{path} is not a readable {path.suffix} file ({_cause(error)})") from None


def _check_estimator(obj: Any, path: Path) -> None:
    if isinstance(obj, type) or not (
        callable(getattr(obj, "fit", None)) and callable(getattr(obj, "get_params", None))
    ):
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        what = "a class" if isinstance(obj, type) else "an object"
        raise ModelFileError(f"{path} holds {what} of type {kind}, not a scikit-learn estimator")


# ----------------------------------------------------------------------------------------- data
def load_data(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str] | None]:
    """Read a table of numbers: ``(rows as a 2-D float64 array, column names or None)``.

    * ``.npy``: a 2-D numeric array (read without pickle); no column names.
    * ``.csv``: comma-separated; the first row holds the column names unless every cell of it is a number,
      in which case the file has no header. Empty cells and ``NA``/``NaN``/``null`` are missing values (NaN).
      Read with pandas when it is installed, else with the standard library.
    * ``.parquet``: read with pyarrow (``pip install 'sk2tensor[data]'``); every column must be numeric or
      boolean, nulls become NaN.

    Raises
    ------
    ModelFileError
        The file is missing, of an unknown type, unreadable, or needs a package that is not installed.
    InputError
        The file reads, but is not a non-empty 2-D table of numbers (the message names the column and row).
    """
    path = _existing_file(path, "data")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path), None
    if suffix == ".csv":
        return _load_csv(path)
    if suffix == ".parquet":
        return _load_parquet(path)
    accepted = ", ".join(DATA_SUFFIXES)
    raise ModelFileError(f"{path}: unknown data file type {suffix or '(no suffix)'!r}; expected one of {accepted}")


def _checked_table(rows: np.ndarray, path: Path) -> np.ndarray:
    if rows.ndim != 2:
        hint = " (one sample per row: save X.reshape(1, -1) for a single row)" if rows.ndim == 1 else ""
        raise InputError(f"{path} holds a {rows.ndim}-D array; expected 2-D (rows, features){hint}")
    if rows.shape[0] == 0:
        raise InputError(f"{path} holds no rows")
    if rows.shape[1] == 0:
        raise InputError(f"{path} holds no columns")
    return rows


def _load_npy(path: Path) -> np.ndarray:
    try:
        rows = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise InputError(f"{path} holds Python objects; expected a numeric array") from None
        raise ModelFileError(f"{path} is not a readable .npy file ({_cause(error)})") from None
    except (OSError, EOFError) as error:
        raise ModelFileError(f"{path} is not a readable .npy file ({_cause(error)})") from None
    if not isinstance(rows, np.ndarray):  # np.load returns an NpzFile for zip archives
        raise ModelFileError(f"{path} is a .npz archive, not a .npy file")
    if rows.dtype.names is not None or rows.dtype.kind not in "fiub":
        raise InputError(f"{path} holds dtype {rows.dtype}; expected numbers (float, int or bool)")
    return _checked_table(rows, path).astype(np.float64, copy=False)


def _pandas() -> Any:
    """The pandas module, or None when it is not installed."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _is_number(cell: str) -> bool:
    text = cell.strip()
    if text.lower() in _MISSING_CELLS - {""}:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_row(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error) as error:
        raise ModelFileError(f"{path} is not a readable CSV file ({_cause(error)})") from None


def _load_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    first = _first_row(path)
    if not first:
        raise InputError(f"{path} is empty")
    has_header = not all(_is_number(cell) for cell in first)
    pandas = _pandas()
    if pandas is not None:
        rows, names = _read_csv_pandas(pandas, path, has_header)
    else:
        rows, names = _read_csv_plain(path, has_header)
    return _checked_table(rows, path), names


def _read_csv_pandas(pd: Any, path: Path, has_header: bool) -> tuple[np.ndarray, list[str] | None]:
    try:
        frame = pd.read_csv(path, header=0 if has_header else None, encoding="utf-8-sig")
    except Exception as error:  # ParserError, EmptyDataError, UnicodeDecodeError, ...
        raise ModelFileError(f"{path} is not a readable CSV file ({_cause(error)})") from None
    first_line = 2 if has_header else 1
    for position, column in enumerate(frame.columns):
        values = frame[column]
        if values.dtype.kind in "fiub":
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            label = _column_label(column if has_header else None, position)
            raise InputError(
                f"{path}: {label}, line {row + first_line} holds {values.iloc[row]!r}, which is not a number"
            )
        frame[column] = numbers
    names = [str(c) for c in frame.columns] if has_header else None
    return frame.to_numpy(dtype=np.float64), names


def _read_csv_plain(path: Path, has_header: bool) -> tuple[np.ndarray, list[str] | None]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = [row for row in csv.reader(handle) if row]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ModelFileError(f"{path} is not a readable CSV file ({_cause(error)})") from None
    names = [cell.strip() for cell in lines[0]] if has_header else None
    body = lines[1:] if has_header else lines
    width = len(lines[0])
    first_line = 2 if has_header else 1
    rows = np.empty((len(body), width), dtype=np.float64)
    for i, row in enumerate(body):
        if len(row) != width:
            raise ModelFileError(
                f"{path} is not a readable CSV file (line {i + first_line} has {len(row)} fields, expected {width})"
            )
        for j, cell in enumerate(row):
            rows[i, j] = _parse_cell(cell, path, _column_label(names[j] if names else None, j), i + first_line)
    return rows, names


def _parse_cell(cell: str, path: Path, column: str, line: int) -> float:
    text = cell.strip()
    if text.lower() in _MISSING_CELLS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}: {column}, line {line} holds {cell!r}, which is not a number") from None


def _column_label(name: Any, position: int) -> str:
    return f"column {str(name)!r}" if name is not None else f"column {position + 1}"


def _load_parquet(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ModelFileError(f"reading {path} needs pyarrow: {_DATA_EXTRA_HINT}") from None
    try:
        table = pq.read_table(path)
    except Exception as error:  # ArrowInvalid, OSError, ...
        raise ModelFileError(f"{path} is not a readable Parquet file ({_cause(error)})") from None
    names = [str(name) for name in table.column_names]
    columns = []
    for name, column in zip(names, table.columns, strict=True):
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise InputError(f"{path}: column {name!r} has type {kind}; expected numbers (float, int or bool)")
        columns.append(column.cast(pa.float64()).to_numpy())
    rows = np.column_stack(columns) if columns else np.empty((table.num_rows, 0))
    return _checked_table(rows, path), names


def match_columns(rows: np.ndarray, columns: Sequence[str] | None, feature_names: Sequence[str] | None) -> np.ndarray:
    """``rows`` with its columns put in the order of ``feature_names`` (the estimator's ``feature_names_in_``).

    When either list is missing, ``rows`` comes back as it is (its width is checked at conversion). Columns
    that are not among ``feature_names`` (a target column, an id) are dropped.

    Raises
    ------
    InputError
        Some of ``feature_names`` are not among ``columns``.
    """
    if columns is None or feature_names is None:
        return rows
    wanted = [str(name) for name in feature_names]
    position = {name: i for i, name in enumerate(columns)}
    missing = [name for name in wanted if name not in position]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InputError(f"the data lacks the column(s) {shown} the estimator was fitted on")
    return rows[:, [position[name] for name in wanted]]
