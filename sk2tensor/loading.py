"""Reading fitted models and data files: what ``sk2tensor export`` reads before it converts.

* :func:`load_estimator` reads a fitted estimator. ``.skops`` files go through skops' safe loader, which
  reconstructs only the types it trusts; a file holding other types is refused, naming them, unless
  ``trust=True``. ``.joblib``, ``.pkl`` and ``.pickle`` files are pickles: loading one runs whatever code
  it holds, so they are refused unless ``trust=True``. LightGBM, XGBoost and CatBoost models load from their
  libraries' own files (data only: no ``trust`` needed).
* :func:`load_data` reads rows to validate an export on: ``.npy``, ``.csv`` or ``.parquet``.
* :func:`match_columns` puts named columns in the order an estimator was fitted on.
* :func:`open_data` opens a data file (or an array) to be read in batches, never whole, and
  :func:`choose_columns` picks the columns a model reads from it: what ``sk2tensor predict`` scores.
* :func:`load_compiled` loads an exported ``.onnx`` file and its ONNX Runtime session.

Every failure is a :class:`~sk2tensor.errors.ModelFileError` (a file that cannot be read, or is refused)
or an :class:`~sk2tensor.errors.InputError` (readable data of the wrong shape or type), with a one-line
message that names the file.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sk2tensor.errors import InputError, ModelFileError, Sk2TensorError
from sk2tensor.model import is_sparse

if TYPE_CHECKING:
    from sk2tensor.model import CompiledModel

#: Suffixes :func:`load_estimator` reads.
SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
#: The gradient-boosting libraries' own model files: data, never code, so they load without ``trust``.
#: ``.json`` is XGBoost's or CatBoost's JSON model (told apart by its keys), ``.txt`` LightGBM's text model.
NATIVE_SUFFIXES = (".cbm", ".ubj", ".json", ".txt")
MODEL_SUFFIXES = SKOPS_SUFFIXES + PICKLE_SUFFIXES + NATIVE_SUFFIXES
#: CatBoost losses whose models load as CatBoostClassifier / CatBoostRanker (any other: CatBoostRegressor).
_CATBOOST_CLASSIFIER_LOSSES = {"Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll"}
_CATBOOST_RANKER_LOSSES = {
    "YetiRank",
    "YetiRankPairwise",
    "PairLogit",
    "PairLogitPairwise",
    "QueryRMSE",
    "QuerySoftMax",
    "QueryCrossEntropy",
    "StochasticFilter",
    "StochasticRank",
    "LambdaMart",
    "GroupQuantile",
}
#: Suffixes :func:`load_data` reads.
DATA_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")
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
    """Load a fitted estimator from a ``.skops``, ``.joblib``, ``.pkl`` or ``.pickle`` file, or a gradient-boosting
    model from its library's own file: CatBoost ``.cbm`` or ``.json`` (as CatBoostClassifier, CatBoostRanker or
    CatBoostRegressor, by its loss), XGBoost ``.ubj`` or ``.json`` (as XGBClassifier, XGBRanker or XGBRegressor,
    by its objective; a classifier's labels are 0 .. n-1, as the file holds no others) and LightGBM ``.txt``
    (a ``lightgbm.Booster``, whose ``predict`` is its transformed output).

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
    if suffix in NATIVE_SUFFIXES:
        return _load_native(path)
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


def _library(name: str, path: Path) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelFileError(
            f"{path} is a {name} model file and {name} is not installed: install the extra 'sk2tensor[{name}]'"
        ) from None


def _load_native(path: Path) -> Any:
    """A LightGBM, XGBoost or CatBoost model from the library's own file format."""
    suffix = path.suffix.lower()
    library = {".cbm": "catboost", ".ubj": "xgboost", ".txt": "lightgbm"}.get(suffix) or _json_library(path)
    module = _library(library, path)
    try:
        if library == "catboost":
            return _load_catboost(module, path, "json" if suffix == ".json" else "cbm")
        if library == "xgboost":
            return _load_xgboost(module, path)
        return module.Booster(model_file=str(path))
    except ModelFileError:
        raise
    except Exception as error:  # each library raises its own error types for a damaged file
        raise ModelFileError(f"{path} is not a readable {library} model ({_cause(error)})") from None


def _json_library(path: Path) -> str:
    """Which library wrote a ``.json`` model: XGBoost's has ``learner``, CatBoost's ``features_info``."""
    import json

    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path} is not a readable JSON model ({_cause(error)})") from None
    if isinstance(document, dict) and "learner" in document:
        return "xgboost"
    if isinstance(document, dict) and "features_info" in document:
        return "catboost"
    raise ModelFileError(f"{path} is neither an XGBoost nor a CatBoost JSON model (no 'learner' or 'features_info')")


def _load_catboost(catboost: Any, path: Path, file_format: str) -> Any:
    """As CatBoostClassifier, CatBoostRanker or CatBoostRegressor, by the loss it was trained with (class labels
    and default prediction types follow)."""
    model = catboost.CatBoost().load_model(str(path), format=file_format)
    loss = str(model.get_all_params().get("loss_function", "RMSE")).split(":")[0]
    if loss in _CATBOOST_CLASSIFIER_LOSSES:
        cls = catboost.CatBoostClassifier
    elif loss in _CATBOOST_RANKER_LOSSES:
        cls = catboost.CatBoostRanker
    else:
        cls = catboost.CatBoostRegressor
    return cls().load_model(str(path), format=file_format)


def _load_xgboost(xgboost: Any, path: Path) -> Any:
    """As XGBClassifier (labels 0 .. n-1), XGBRanker or XGBRegressor, by the objective in the file."""
    import json

    booster = xgboost.Booster(model_file=str(path))
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective.startswith(("binary:", "multi:")):
        cls = xgboost.XGBClassifier
    elif objective.startswith("rank:"):
        cls = xgboost.XGBRanker
    else:
        cls = xgboost.XGBRegressor
    estimator = cls()
    estimator.load_model(str(path))
    if cls is xgboost.XGBClassifier and not hasattr(estimator, "n_classes_"):
        # XGBoost 2.1 does not recognise its own classifier under scikit-learn 1.8's tags and skips this.
        params = json.loads(booster.save_config())["learner"]["learner_model_param"]
        estimator.n_classes_ = max(2, int(params.get("num_class", "0")))
    return estimator


def _check_estimator(obj: Any, path: Path) -> None:
    if isinstance(obj, type) or not (
        callable(getattr(obj, "fit", None)) and callable(getattr(obj, "get_params", None))
    ):
        kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        what = "a class" if isinstance(obj, type) else "an object"
        raise ModelFileError(f"{path} holds {what} of type {kind}, not a scikit-learn estimator")


# ----------------------------------------------------------------------------------------- data
def load_data(path: str | os.PathLike[str]) -> tuple[Any, list[str] | None]:
    """Read a table of numbers: ``(rows as a 2-D float64 array, column names or None)``.

    * ``.npy``: a 2-D numeric array (read without pickle); no column names.
    * ``.npz``: a scipy sparse matrix saved with ``scipy.sparse.save_npz`` (read without pickle), returned as a
      CSR matrix (float values kept in their dtype, others as float64); no column names.
    * ``.csv``: comma-separated; the first row holds the column names unless every cell of it is a number,
      in which case the file has no header. Empty cells and ``NA``/``NaN``/``null`` are missing values (NaN).
      Read with pyarrow's CSV reader when it is installed, else with the standard library; every row must
      have as many fields as the first.
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
    if suffix == ".npz":
        return _load_npz(path), None
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


def _load_npz(path: Path) -> Any:
    """A sparse matrix saved by ``scipy.sparse.save_npz``, as CSR; refused with the reason otherwise (a dense
    ``np.savez`` archive, a damaged file, a matrix that is not 2-D or holds no numbers)."""
    import zipfile

    from scipy import sparse

    try:
        matrix = sparse.load_npz(path)
    except (ValueError, KeyError) as error:
        if "pickle" in str(error).lower():
            raise InputError(f"{path} holds Python objects; expected a sparse matrix of numbers") from None
        raise ModelFileError(
            f"{path} is not a sparse matrix saved by scipy.sparse.save_npz ({_cause(error)}); save dense rows as .npy"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{path} is not a readable .npz file ({_cause(error)})") from None
    if matrix.dtype.kind not in "fiub":
        raise InputError(f"{path} holds dtype {matrix.dtype}; expected numbers (float, int or bool)")
    if matrix.ndim != 2:
        raise InputError(f"{path} holds a {matrix.ndim}-D sparse array; expected 2-D (rows, features)")
    if matrix.shape[0] == 0:
        raise InputError(f"{path} holds no rows")
    if matrix.shape[1] == 0:
        raise InputError(f"{path} holds no columns")
    matrix = matrix.tocsr()
    return matrix if matrix.dtype.kind == "f" else matrix.astype(np.float64)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


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
    # The streaming reader, strict about row widths (pandas would pad a short row with NaN), read whole.
    source = _CsvSource(path)
    rows = np.concatenate(list(source.batches(range(source.width), DEFAULT_BATCH_ROWS)))
    return _checked_table(rows, path), source.names


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


def load_rows_for(path: str | os.PathLike[str], compiled: CompiledModel) -> Any:
    """The rows of a data file a model with string columns reads: a DataFrame of its columns (named after its
    feature names, or numbered) in its order, string columns as text, numeric columns as float64."""
    source = open_data(path)
    strings = [j for _, j in compiled.string_inputs]
    chosen = choose_columns(source, compiled.n_features, feature_names=compiled.feature_names)
    blocks = list(source.batches(chosen, DEFAULT_BATCH_ROWS, strings=strings))
    if not blocks:
        raise InputError(f"{source.name} holds no rows")
    rows = np.concatenate(blocks)
    try:
        import pandas as pd
    except ImportError:
        return rows
    names = compiled.feature_names or list(range(compiled.n_features))
    frame = pd.DataFrame(rows, columns=names)
    for k, name in enumerate(names):
        if k not in strings:
            frame[name] = frame[name].astype(np.float64)
    return frame


def exact_csv_options(pandas: Any) -> dict[str, str]:
    """``pandas.read_csv`` options that parse every decimal to the nearest double: pandas before 3.0 is one bit
    off on some unless asked for ``float_precision="round_trip"``, which 3.1 deprecates (its one parser is exact)."""
    from sk2tensor.versions import release

    return {"float_precision": "round_trip"} if release(pandas.__version__) < (3, 1) else {}


def load_frame(path: str | os.PathLike[str]) -> Any:
    """A ``.csv`` or ``.parquet`` file as a pandas DataFrame with the types pandas gives its columns (strings
    included): what ``sk2tensor export --validate`` reads when the data holds string columns."""
    path = _existing_file(path, "data")
    try:
        import pandas as pd
    except ImportError:
        raise ModelFileError(f"reading string columns of {path} needs pandas: {_DATA_EXTRA_HINT}") from None
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, **exact_csv_options(pd))
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
    except Exception as error:  # ParserError, ArrowInvalid, OSError, ...
        raise ModelFileError(f"{path} is not a readable data file ({_cause(error)})") from None
    raise ModelFileError(f"{path}: string columns are read from .csv or .parquet files")


# ----------------------------------------------------------------------------------------- exported models
def load_compiled(path: str | os.PathLike[str], device: str = "auto") -> CompiledModel:
    """Load an exported ``.onnx`` file and create its ONNX Runtime session now, so that a damaged file or a
    runtime that cannot run it is a :class:`ModelFileError` here rather than at the first prediction."""
    from sk2tensor.model import load

    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not an ONNX file")
    if not path.is_file():
        raise ModelFileError(f"no such ONNX file: {path}")
    try:
        compiled = load(path, device=device)
        compiled.session  # noqa: B018  (create it now)
    except ModelFileError as error:
        message = str(error)
        raise ModelFileError(message if str(path) in message else f"{path}: {message}") from None
    except Sk2TensorError:
        raise
    except Exception as error:  # onnxruntime's Fail/InvalidGraph, KeyError for missing metadata, ...
        raise ModelFileError(f"{path} cannot be loaded as an sk2tensor model ({_cause(error)})") from None
    return compiled


# ----------------------------------------------------------------------------------------- streaming
#: Rows per batch when a data file is read in batches (:func:`open_data`).
DEFAULT_BATCH_ROWS = 65_536
#: Bytes of CSV text per block pyarrow parses at a time (its default).
_CSV_BLOCK_BYTES = 1 << 20
#: The cells pyarrow's CSV reader reads as a missing value: those of :data:`_MISSING_CELLS` in the usual cases.
_ARROW_NULLS = sorted({v for cell in _MISSING_CELLS for v in (cell, cell.upper(), cell.title())} | {"NaN", "N/A"})


class DataSource:
    """A table of numbers read in batches of rows, never whole: what ``sk2tensor predict`` scores.

    Open one with :func:`open_data` (a ``.npy``, ``.csv`` or ``.parquet`` file, or an array or DataFrame
    already in memory). Attributes: ``name`` (the file, for messages), ``names`` (column names, or None when
    the data has none: ``.npy`` files, CSV files without a header row, arrays), ``width`` (number of columns)
    and ``rows`` (number of rows when known without reading the data: ``.npy``, ``.parquet``, arrays; None
    for CSV files).
    """

    name: str
    names: list[str] | None
    width: int
    rows: int | None

    def batches(
        self, columns: Sequence[int], batch_size: int = DEFAULT_BATCH_ROWS, *, strings: Sequence[int] = ()
    ) -> Iterator[np.ndarray]:
        """2-D numeric arrays of at most ``batch_size`` rows, holding ``columns`` (positions) in that order.

        ``strings``: the indices into ``columns`` of string columns (a model's string inputs). They are read as
        text, a missing cell as NaN, and the batches are then 2-D object arrays (numbers as floats).

        Raises :class:`InputError` for a value that is not a number or a row of the wrong width (naming the
        line and column) and :class:`ModelFileError` for a file that turns out to be damaged part-way.
        """
        raise NotImplementedError

    def column_label(self, position: int) -> str:
        return _column_label(self.names[position] if self.names is not None else None, position)


def open_data(data: Any) -> DataSource:
    """Open ``data`` for reading in batches: a ``.npy``/``.npz``/``.csv``/``.parquet`` path, an array, a sparse
    matrix or a DataFrame.

    Only the file's header (or footer) is read here; :meth:`DataSource.batches` reads the rows. A sparse ``.npz``
    file is read whole (it is compressed in memory as on disk) and its batches stay sparse.
    """
    if not isinstance(data, str | os.PathLike):
        return _ArraySource(data)
    path = _existing_file(data, "data")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _NpySource(path)
    if suffix == ".npz":
        return _ArraySource(_load_npz(path), name=str(path))
    if suffix == ".csv":
        return _CsvSource(path)
    if suffix == ".parquet":
        return _ParquetSource(path)
    accepted = ", ".join(DATA_SUFFIXES)
    raise ModelFileError(f"{path}: unknown data file type {suffix or '(no suffix)'!r}; expected one of {accepted}")


def choose_columns(
    source: DataSource,
    n_features: int,
    *,
    feature_names: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> list[int]:
    """Positions of the source's columns to feed a model of ``n_features`` inputs, in the model's order.

    * ``columns`` given: those columns, by name when the data has names, else by position (``"1"`` is the
      first column, as in error messages).
    * else, when both the model (``feature_names``) and the data have column names: matched by name; other
      columns (an id, the target) are left out.
    * else every column, in order; the data must then be exactly ``n_features`` wide.
    """
    if columns is not None:
        chosen = [column_position(source, str(column)) for column in columns]
        if len(chosen) != n_features:
            raise InputError(f"{len(chosen)} column(s) chosen, but the model expects {n_features}")
        return chosen
    if feature_names is not None and source.names is not None:
        position = {name: i for i, name in enumerate(source.names)}
        missing = [name for name in feature_names if name not in position]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise InputError(f"{source.name} lacks the column(s) {shown} the model was fitted on")
        return [position[name] for name in feature_names]
    if source.width != n_features:
        raise InputError(
            f"{source.name} has {source.width} columns, but the model expects {n_features} "
            "(choose which with --columns)"
        )
    return list(range(source.width))


def column_position(source: DataSource, column: str) -> int:
    """Position of ``column`` (a name, or a 1-based position for data without names) in ``source``."""
    if source.names is not None:
        if column in source.names:
            return source.names.index(column)
        raise InputError(f"{source.name} has no column {column!r} (its columns: {', '.join(source.names[:20])})")
    if column.isdigit() and 1 <= int(column) <= source.width:
        return int(column) - 1
    raise InputError(
        f"{source.name} has no column names: choose columns by position, 1 to {source.width}, not {column!r}"
    )


def _rebatch(blocks: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """The rows of ``blocks`` (arrays of any height) regrouped into arrays of ``batch_size`` rows."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        if held < batch_size:
            continue
        rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
        start = 0
        while held - start >= batch_size:
            yield rows[start : start + batch_size]
            start += batch_size
        pending, held = ([rows[start:]], held - start) if start < held else ([], 0)
    if held:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


class _ArraySource(DataSource):
    def __init__(self, data: Any, name: str = "X") -> None:
        self.name = name
        self._frame = data if hasattr(data, "columns") and hasattr(data, "iloc") else None
        self._sparse = is_sparse(data)
        if self._frame is not None:
            self.names = [str(c) for c in self._frame.columns]
            shape = self._frame.shape
        elif self._sparse:  # densified one batch at a time
            if data.ndim != 2 or data.dtype.kind not in "fiub":
                raise InputError(f"X must be a 2-D sparse matrix of numbers, got {data.ndim}-D of {data.dtype}")
            data, self.names, shape = data.tocsr(), None, data.shape
        else:
            data = np.asarray(data)
            if data.ndim != 2:
                hint = " (use X.reshape(1, -1) for a single row)" if data.ndim == 1 else ""
                raise InputError(f"X must be 2-D (rows, features), got {data.ndim}-D{hint}")
            if data.dtype.kind not in "fiub":
                raise InputError(f"X must hold numbers (float, int or bool), got dtype {data.dtype}")
            self.names = None
            shape = data.shape
        self._array = data
        self.rows, self.width = int(shape[0]), int(shape[1])

    def batches(
        self, columns: Sequence[int], batch_size: int = DEFAULT_BATCH_ROWS, *, strings: Sequence[int] = ()
    ) -> Iterator[np.ndarray]:
        columns = list(columns)
        if strings and self._sparse:
            raise InputError("this model has string columns: pass a DataFrame or a 2-D array, not a sparse matrix")
        if strings:
            yield from self._mixed_batches(columns, batch_size, set(strings))
            return
        if self._frame is not None:
            for j in columns:
                if self._frame.dtypes.iloc[j].kind not in "fiub":
                    raise InputError(
                        f"X: {self.column_label(j)} has dtype {self._frame.dtypes.iloc[j]}; expected numbers"
                    )
        for start in range(0, self.rows, batch_size):
            if self._frame is not None:
                block = self._frame.iloc[start : start + batch_size, columns]
                yield block.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                # Sparse rows stay sparse: a model densifies them in bounded chunks, or takes them as they are.
                block = self._array[start : start + batch_size]
                yield block if columns == list(range(self.width)) else block[:, columns]

    def _mixed_batches(self, columns: list[int], batch_size: int, strings: set[int]) -> Iterator[np.ndarray]:
        for start in range(0, self.rows, batch_size):
            stop = min(start + batch_size, self.rows)
            block = np.empty((stop - start, len(columns)), dtype=object)
            for k, j in enumerate(columns):
                if self._frame is not None:
                    values = self._frame.iloc[start:stop, j]
                    if k in strings:
                        block[:, k] = values.to_numpy(dtype=object)
                        continue
                    try:
                        block[:, k] = values.to_numpy(dtype=np.float64, na_value=np.nan)
                    except (TypeError, ValueError):
                        raise InputError(
                            f"X: {self.column_label(j)} has dtype {values.dtype}; expected numbers"
                        ) from None
                else:
                    block[:, k] = self._array[start:stop, j]
            yield block


class _NpySource(DataSource):
    """A ``.npy`` file read a batch at a time from its header's offset (memory-mapped when Fortran-ordered)."""

    def __init__(self, path: Path) -> None:
        self.name, self.path, self.names = str(path), path, None
        try:
            with path.open("rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                if version not in read_header:
                    raise ValueError(f"unsupported .npy format version {version}")
                shape, self._fortran, self._dtype = read_header[version](handle)
                self._offset = handle.tell()
        except (ValueError, OSError, EOFError, SyntaxError) as error:
            raise ModelFileError(f"{path} is not a readable .npy file ({_cause(error)})") from None
        if self._dtype.hasobject:
            raise InputError(f"{path} holds Python objects; expected a numeric array")
        if self._dtype.names is not None or self._dtype.kind not in "fiub":
            raise InputError(f"{path} holds dtype {self._dtype}; expected numbers (float, int or bool)")
        if len(shape) != 2:
            hint = " (one sample per row: save X.reshape(1, -1) for a single row)" if len(shape) == 1 else ""
            raise InputError(f"{path} holds a {len(shape)}-D array; expected 2-D (rows, features){hint}")
        self.rows, self.width = int(shape[0]), int(shape[1])
        expected = self._offset + self.rows * self.width * self._dtype.itemsize
        size = path.stat().st_size
        if size < expected:
            raise ModelFileError(
                f"{path} is not a readable .npy file (truncated: {size} bytes, its header announces {expected})"
            )
        if self.rows == 0:
            raise InputError(f"{path} holds no rows")
        if self.width == 0:
            raise InputError(f"{path} holds no columns")

    def batches(
        self, columns: Sequence[int], batch_size: int = DEFAULT_BATCH_ROWS, *, strings: Sequence[int] = ()
    ) -> Iterator[np.ndarray]:
        if strings:
            raise InputError(f"{self.path} holds numbers only, and the model has string columns: use .csv or .parquet")
        columns = list(columns)
        everything = columns == list(range(self.width))
        if self._fortran:
            mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
            for start in range(0, self.rows, batch_size):
                yield np.array(mapped[start : start + batch_size, columns])
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            for start in range(0, self.rows, batch_size):
                count = min(batch_size, self.rows - start)
                block = np.fromfile(handle, dtype=self._dtype, count=count * self.width)
                if len(block) != count * self.width:  # the file shrank since it was opened
                    raise ModelFileError(f"{self.path} is not a readable .npy file (truncated at row {start + 1})")
                block = block.reshape(count, self.width)
                yield block if everything else block[:, columns]


class _ParquetSource(DataSource):
    """A Parquet file read a batch of rows at a time (only the columns chosen)."""

    def __init__(self, path: Path) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ModelFileError(f"reading {path} needs pyarrow: {_DATA_EXTRA_HINT}") from None
        self.name, self.path = str(path), path
        try:
            # pre_buffer would read every row group ahead of the batches asked for: the whole file in memory.
            self._file = pq.ParquetFile(path, pre_buffer=False)
            schema = self._file.schema_arrow
        except Exception as error:  # ArrowInvalid, OSError, ...
            raise ModelFileError(f"{path} is not a readable Parquet file ({_cause(error)})") from None
        self.names = [str(name) for name in schema.names]
        self._types = list(schema.types)
        self.rows, self.width = int(self._file.metadata.num_rows), len(self.names)
        if self.width == 0:
            raise InputError(f"{path} holds no columns")
        if self.rows == 0:
            raise InputError(f"{path} holds no rows")

    def batches(
        self, columns: Sequence[int], batch_size: int = DEFAULT_BATCH_ROWS, *, strings: Sequence[int] = ()
    ) -> Iterator[np.ndarray]:
        import pyarrow as pa

        strings = set(strings)
        for k, j in enumerate(columns):
            kind = self._types[j]
            if k in strings:
                if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)):
                    raise InputError(f"{self.path}: column {self.names[j]!r} has type {kind}; expected strings")
            elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
                raise InputError(f"{self.path}: column {self.names[j]!r} has type {kind}; expected numbers")
        wanted = [self.names[j] for j in columns]
        unique = list(dict.fromkeys(wanted))
        try:
            for batch in self._file.iter_batches(batch_size=batch_size, columns=unique):
                rows = np.empty((batch.num_rows, len(wanted)), dtype=object if strings else np.float64)
                for k, name in enumerate(wanted):
                    column = batch.column(name)
                    if k in strings:
                        rows[:, k] = _text_cells(column.cast(pa.string()).to_pylist())
                    else:
                        rows[:, k] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
                yield rows
        except (pa.ArrowException, OSError) as error:
            raise ModelFileError(f"{self.path} is not a readable Parquet file ({_cause(error)})") from None


class _CsvSource(DataSource):
    """A CSV file read a block at a time: with pyarrow's streaming reader when installed, else the csv module.

    pyarrow reports a bad cell or row without its line: the file is then read again with the csv module from
    the start of the block that failed, to name the line and column.
    """

    def __init__(self, path: Path) -> None:
        self.name, self.path = str(path), path
        first = _first_row(path)
        if not first:
            raise InputError(f"{path} is empty")
        self._has_header = not all(_is_number(cell) for cell in first)
        self.names = [cell.strip() for cell in first] if self._has_header else None
        self.width = len(first)
        self.rows = None

    def batches(
        self, columns: Sequence[int], batch_size: int = DEFAULT_BATCH_ROWS, *, strings: Sequence[int] = ()
    ) -> Iterator[np.ndarray]:
        columns = list(columns)
        self._strings = set(strings)
        read = self._arrow_blocks if _has_pyarrow() else self._plain_blocks
        blocks = read(columns, batch_size)
        seen = 0
        for batch in _rebatch(blocks, batch_size):
            seen += len(batch)
            yield batch
        if not seen:
            raise InputError(f"{self.path} holds no rows")

    def _arrow_blocks(self, columns: list[int], batch_size: int) -> Iterator[np.ndarray]:
        import pyarrow as pa
        import pyarrow.csv as pv

        internal = [f"c{j}" for j in range(self.width)]
        wanted = [internal[j] for j in columns]
        unique = list(dict.fromkeys(wanted))
        strings = getattr(self, "_strings", set())
        text = {wanted[k] for k in strings}
        # pyarrow's streaming reader reads about 32 blocks ahead of the consumer: small blocks bound memory.
        block_size = _CSV_BLOCK_BYTES
        read = pv.ReadOptions(column_names=internal, skip_rows=1 if self._has_header else 0, block_size=block_size)
        convert = pv.ConvertOptions(
            column_types={name: pa.string() if name in text else pa.float64() for name in unique},
            include_columns=unique,
            null_values=_ARROW_NULLS,
            strings_can_be_null=True,
        )
        read_so_far = 0
        try:
            reader = pv.open_csv(self.path, read_options=read, convert_options=convert)
            for batch in reader:
                rows = np.empty((batch.num_rows, len(wanted)), dtype=object if strings else np.float64)
                for k, name in enumerate(wanted):
                    if k in strings:
                        rows[:, k] = _text_cells(batch.column(name).to_pylist())
                    else:
                        rows[:, k] = batch.column(name).to_numpy(zero_copy_only=False)
                read_so_far += batch.num_rows
                yield rows
        except (pa.ArrowException, OSError) as error:
            # Name the line and column: read again with the csv module from the first row not yet delivered.
            for _ in self._plain_blocks(columns, batch_size, skip=read_so_far):
                pass
            raise ModelFileError(f"{self.path} is not a readable CSV file ({_cause(error)})") from None

    def _plain_blocks(self, columns: list[int], batch_size: int, skip: int = 0) -> Iterator[np.ndarray]:
        labels = [self.column_label(j) for j in columns]
        strings = getattr(self, "_strings", set())
        parsers = [_text_cell if k in strings else _parse_cell for k in range(len(columns))]
        kind = object if strings else np.float64
        block: list[list[Any]] = []
        line = 1 if self._has_header else 0
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                if self._has_header:
                    next(reader, None)
                record = 0
                for row in reader:
                    if not row:
                        continue
                    record += 1
                    if record <= skip:
                        continue
                    line = reader.line_num
                    if len(row) != self.width:
                        raise InputError(f"{self.path}: line {line} has {len(row)} fields, expected {self.width}")
                    block.append(
                        [
                            parse(row[j], self.path, label, line)
                            for j, label, parse in zip(columns, labels, parsers, strict=True)
                        ]
                    )
                    if len(block) == batch_size:
                        yield _block(block, kind, len(columns))
                        block = []
        except (UnicodeDecodeError, csv.Error) as error:
            raise ModelFileError(
                f"{self.path} is not a readable CSV file (after line {line}: {_cause(error)})"
            ) from None
        if block:
            yield _block(block, kind, len(columns))


def _block(rows: list[list[Any]], kind: Any, width: int) -> np.ndarray:
    """Rows of cells as a 2-D array (an object array keeps each cell as it is)."""
    block = np.empty((len(rows), width), dtype=kind)
    block[:] = rows
    return block


def _text_cell(cell: str, path: Path, column: str, line: int) -> Any:
    """A cell of a string column: the text itself, NaN for a missing value (as pandas reads it)."""
    return math.nan if cell.strip().lower() in _MISSING_CELLS else cell


def _text_cells(values: list[Any]) -> list[Any]:
    """The cells of a string column read by pyarrow: a null (missing value) is NaN."""
    return [math.nan if v is None else v for v in values]
