"""The ``metadata_props`` keys an exported model carries, and their JSON encodings.

A consumer in any language reads these from the file: they are part of the artifact's contract.

Models with string columns (fitted on a DataFrame whose categorical columns hold strings) carry two more keys.
``inputs`` lists the graph inputs in order, each ``{"name", "kind", "dtype", "shape", ...}``: the numeric input
(``kind`` ``"numeric"``, named ``input``, with the ``columns`` and ``positions`` of the original columns it
holds, in that order) when there are numeric columns, then one ``kind`` ``"string"`` input per string column
(``column``, ``position``), shape ``[batch, 1]``. ``missing_strings`` says what to feed for a missing value,
which a string tensor cannot hold: ``{"nan": ..., "none": ...}``. A missing value (NaN, ``pd.NA``, a null in a
file, the missing cells of a pandas ``str`` column) is fed as the ``"nan"`` string; a Python ``None`` in an
object column as the ``"none"`` one, since sklearn treats ``None`` and NaN as two categories.
:class:`~sk2tensor.model.CompiledModel` does this itself. Models without string columns have neither key.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: The prediction methods an exported graph can expose, in the order outputs are declared (output names).
#: The output of per-feature contributions (``convert(contributions=True)``); no sklearn method has it.
CONTRIBUTIONS = "contributions"
#: The leaf each tree reaches (``convert(leaves=True)``), as sklearn's ``apply`` of tree models returns it.
APPLY = "apply"
METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples", CONTRIBUTIONS, APPLY)

PRODUCER = "producer"
PRODUCER_VERSION = "producer_version"
SKLEARN_VERSION = "sklearn_version"
ESTIMATOR_CLASS = "estimator_class"
N_FEATURES = "n_features"
INPUT_NAME = "input_name"
INPUT_DTYPE = "input_dtype"
FEATURE_NAMES = "feature_names"
OUTPUTS = "outputs"
OUTPUT_DTYPES = "output_dtypes"
CLASSES = "classes"
CLASSES_DTYPE = "classes_dtype"
PREDICT_OUTPUT = "predict_output"
STRATEGY = "strategy"
VALIDATION = "validation"
CHUNK_ROWS = "chunk_rows"
MAX_CHUNK_ROWS = "max_chunk_rows"
INPUTS = "inputs"
MISSING_STRINGS = "missing_strings"
BASE_MARGIN = "base_margin"
SINGLE_ROW_VECTORS = "single_row_vectors"
SPLIT_OUTPUTS = "split_outputs"
SPARSE_INPUT = "sparse_input"
LEAF_DTYPE = "leaf_dtype"
TEXT_INPUTS = "text_inputs"

#: What a string input is fed for NaN (and every other missing value) and for ``None``: see the docstring.
MISSING_NAN = "__sk2tensor_missing_nan__"
MISSING_NONE = "__sk2tensor_missing_none__"

#: Every key, with what it holds (the README's table is generated from this).
DESCRIPTIONS = {
    PRODUCER: '"sk2tensor"',
    PRODUCER_VERSION: "sk2tensor version that wrote the file",
    SKLEARN_VERSION: "scikit-learn version the estimator was converted with",
    ESTIMATOR_CLASS: "full class path of the converted estimator",
    N_FEATURES: "width of the input (decimal string); with string columns, the number of columns of all inputs",
    INPUT_NAME: 'name of the (numeric) graph input (`"input"`)',
    INPUT_DTYPE: '`"float32"` or `"float64"`',
    FEATURE_NAMES: "JSON list of column names, present when the estimator was fitted on a DataFrame",
    OUTPUTS: "JSON list of output names, each a sklearn method name (or `contributions`)",
    OUTPUT_DTYPES: "JSON object: output name -> numpy dtype sklearn returns for it",
    CLASSES: "JSON list of class labels (classifiers only)",
    CLASSES_DTYPE: "numpy dtype string of the labels (classifiers only)",
    PREDICT_OUTPUT: '`"label"` (predict holds int64 labels) or `"class_index"` (index into classes)',
    STRATEGY: "JSON object: tree step -> lowering strategy used (empty when no tree)",
    VALIDATION: "JSON summary of the comparison with sklearn made at export",
    CHUNK_ROWS: "rows per run that keep a CPU session's working set in cache (a hint for batch feeders)",
    MAX_CHUNK_ROWS: "most rows one run may take (present when memory grows fast with the batch)",
    INPUTS: "JSON list of the graph inputs: name, kind (numeric or string), dtype, shape, original column(s) and "
    "position(s) (models with string columns only)",
    MISSING_STRINGS: 'JSON object: the strings fed for a missing value, `"nan"` (NaN, null) and `"none"` (Python None) '
    "(models with string columns only)",
    BASE_MARGIN: 'JSON object `{"name": "base_margin", "width": n}`: the second graph input, a per-row starting margin '
    "`[batch, n]` in the graph's dtype (XGBoost models exported with `base_margin` only)",
    SINGLE_ROW_VECTORS: "JSON list of outputs sklearn returns one-dimensional for a single row "
    "(SparsePCA's `transform`); the graph keeps `[1, n]`",
    SPLIT_OUTPUTS: "JSON object: output name -> the widths of the arrays sklearn returns as a list (a multi-output "
    "classifier's `predict_proba`); the graph output holds them side by side, `[batch, sum of widths]`",
    SPARSE_INPUT: 'JSON object `{"format": "csr", "indptr": ..., "indices": ..., "values": ...}`: the names of the '
    "three graph inputs that take the rows in compressed sparse row form (exports with `sparse_input=True` only)",
    TEXT_INPUTS: 'JSON object: string input -> list of `{"lowercase": bool, "strip_accents": null, "unicode" or '
    '"ascii"}`, one per text vectorizer that tokenizes it: what decides which documents the graph cannot tokenize '
    "as sklearn (they come out NaN; README, Text)",
    LEAF_DTYPE: '`"float32"` when tree leaf values were rounded to float32 (`leaf_dtype="float32"`); absent when '
    "they are the model's own",
}


def string_value(value: Any) -> str | None:
    """What a string input holds for ``value``: the value itself for a ``str``, :data:`MISSING_NONE` for
    ``None``, :data:`MISSING_NAN` for a float NaN; None for anything else (a number, which no string equals)."""
    if isinstance(value, str):
        return value
    if value is None:
        return MISSING_NONE
    if isinstance(value, float | np.floating) and np.isnan(value):
        return MISSING_NAN
    return None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def encode_classes(classes: np.ndarray) -> tuple[str, str]:
    """``(json list, dtype string)`` for a classifier's ``classes_``."""
    return json.dumps([_plain(c) for c in classes.tolist()]), classes.dtype.str


def decode_classes(values: str, dtype: str) -> np.ndarray:
    """Inverse of :func:`encode_classes`."""
    return np.array(json.loads(values), dtype=np.dtype(dtype))
