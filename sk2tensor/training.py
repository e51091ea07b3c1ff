"""Out-of-core training: ``partial_fit`` over a ``.csv`` or ``.parquet`` file read in chunks.

The file is never held in memory whole: each pass reads it chunk by chunk. A Pipeline is fitted step by
step, one pass per step (transformers such as StandardScaler or IncrementalPCA first, the final estimator
last, on chunks passed through the steps already fitted), so every step sees the whole file.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline

from sk2tensor.errors import InputError, ModelFileError, UnsupportedEstimatorError
from sk2tensor.loading import exact_csv_options

DEFAULT_CHUNKSIZE = 100_000
#: Estimators (and transformers) of sklearn that learn incrementally with ``partial_fit``.
PARTIAL_FIT_EXAMPLES = (
    "SGDClassifier, SGDRegressor, SGDOneClassSVM, Perceptron, PassiveAggressiveClassifier/Regressor, "
    "MultinomialNB, BernoulliNB, GaussianNB, ComplementNB, CategoricalNB, MLPClassifier, MLPRegressor, "
    "MiniBatchKMeans, Birch; transformers StandardScaler, MinMaxScaler, MaxAbsScaler, IncrementalPCA"
)


def read_chunks(path: Path, columns: list[str] | None, chunksize: int) -> Iterator[Any]:
    """DataFrames of at most ``chunksize`` rows, with ``columns`` only (all when None)."""
    try:
        import pandas as pd
    except ImportError:
        raise ModelFileError("reading .csv and .parquet files needs pandas: install 'sk2tensor[data]'") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            yield from pd.read_csv(path, usecols=columns, chunksize=chunksize, **exact_csv_options(pd))
        except ValueError as error:  # usecols naming absent columns
            raise InputError(f"{path}: {error}") from None
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ModelFileError(f"cannot read {path}: {error}") from None
    elif suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ModelFileError("reading .parquet files needs pyarrow: install 'sk2tensor[data]'") from None
        try:
            parquet = pq.ParquetFile(path)
            missing = [c for c in columns or [] if c not in parquet.schema_arrow.names]
            if missing:
                raise InputError(f"{path} has no column(s) {missing}")
            for batch in parquet.iter_batches(batch_size=chunksize, columns=columns):
                yield batch.to_pandas()
        except (OSError, ValueError) as error:
            if isinstance(error, InputError):
                raise
            raise ModelFileError(f"cannot read {path}: {error}") from None
    else:
        raise ModelFileError(f"{path}: training data must be a .csv or .parquet file")


def _column_names(path: Path) -> list[str]:
    first = next(read_chunks(path, None, 1), None)
    if first is None:
        raise InputError(f"{path} holds no rows")
    return [str(c) for c in first.columns]


class _Progress:
    """Rows read so far, on a terminal only (quiet when piped or in CI)."""

    def __init__(self, label: str, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.enabled, self.label, self.rows, self.start = enabled, label, 0, time.perf_counter()

    def update(self, rows: int) -> None:
        self.rows += rows
        if self.enabled:
            rate = self.rows / max(time.perf_counter() - self.start, 1e-9)
            print(f"\r{self.label}: {self.rows:,} rows ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _xy(frame: Any, features: list[str], target: str, path: Path, offset: int) -> tuple[np.ndarray, np.ndarray]:
    y = frame[target].to_numpy()
    missing = frame[target].isna().to_numpy()
    if missing.any():
        row = offset + int(np.flatnonzero(missing)[0]) + 2  # 1-based, after the header line
        raise InputError(f"{path}: the target column {target!r} is missing a value (data row near line {row})")
    try:
        X = frame[features].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: feature columns must hold numbers ({error})") from None
    return X, y


def _classes(path: Path, target: str, chunksize: int, progress: bool | None) -> np.ndarray:
    bar = _Progress("collecting classes (one extra pass; pass classes= to skip it)", progress)
    seen: set = set()
    for chunk in read_chunks(path, [target], chunksize):
        values = chunk[target]
        if values.isna().any():
            raise InputError(f"{path}: the target column {target!r} has missing values")
        seen.update(values.unique().tolist())
        bar.update(len(chunk))
    bar.close()
    return np.array(sorted(seen))


def fit_stream(
    estimator: Any,
    source: str | os.PathLike[str],
    *,
    target: str,
    chunksize: int = DEFAULT_CHUNKSIZE,
    classes: Sequence[Any] | None = None,
    features: Sequence[str] | None = None,
    epochs: int = 1,
    progress: bool | None = None,
) -> Any:
    """Fit ``estimator`` with ``partial_fit`` over the rows of ``source``, ``chunksize`` rows at a time.

    Parameters
    ----------
    estimator:
        An estimator with ``partial_fit``, or a Pipeline whose steps all have it (each transformer is fitted
        in a pass of its own before the next step).
    source:
        A ``.csv`` (with a header) or ``.parquet`` file.
    target:
        The column holding ``y``; a missing value in it is an error.
    classes:
        For classifiers, every class label; when not given they are collected in a first pass over the
        target column (an extra read of the file).
    features:
        The feature columns, in order (default: every column but ``target``).
    epochs:
        Passes of the final estimator over the file.
    progress:
        Show rows read on stderr (default: only on a terminal, never in CI).

    Returns
    -------
    The fitted estimator (the same object).
    """
    path = Path(source)
    if not path.is_file():
        raise ModelFileError(f"no such file: {path}")
    if chunksize < 1 or epochs < 1:
        raise InputError("chunksize and epochs must be positive")
    steps = list(estimator.steps) if isinstance(estimator, Pipeline) else [("estimator", estimator)]
    steps = [(name, step) for name, step in steps if step is not None and step != "passthrough"]
    lacking = [type(step).__name__ for _, step in steps if not hasattr(step, "partial_fit")]
    if lacking:
        raise UnsupportedEstimatorError(
            f"{', '.join(lacking)} cannot learn incrementally (no partial_fit). Estimators that can: "
            f"{PARTIAL_FIT_EXAMPLES}."
        )
    names = _column_names(path)
    if target not in names:
        raise InputError(f"{path} has no target column {target!r}; its columns are {names}")
    features = list(features) if features is not None else [c for c in names if c != target]
    missing = [c for c in features if c not in names]
    if missing:
        raise InputError(f"{path} has no feature column(s) {missing}")
    final = steps[-1][1]
    if is_classifier(final) and classes is None:
        classes = _classes(path, target, chunksize, progress)
    columns = [*features, target]
    for position, (name, step) in enumerate(steps):
        is_last = position == len(steps) - 1
        for epoch in range(epochs if is_last else 1):
            bar = _Progress(f"partial_fit {name}" + (f" (epoch {epoch + 1}/{epochs})" if epochs > 1 else ""), progress)
            offset = 0
            for frame in read_chunks(path, columns, chunksize):
                X, y = _xy(frame, features, target, path, offset)
                for _, fitted in steps[:position]:
                    X = fitted.transform(X)
                if is_last and is_classifier(step):
                    step.partial_fit(X, y, classes=classes)
                elif is_last:
                    step.partial_fit(X, y)
                else:
                    step.partial_fit(X)
                offset += len(frame)
                bar.update(len(frame))
            bar.close()
            if offset == 0:
                raise InputError(f"{path} holds no rows")
    return estimator
