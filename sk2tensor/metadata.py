"""The ``metadata_props`` keys an exported model carries, and their JSON encodings.

A consumer in any language reads these from the file: they are part of the artifact's contract.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: The prediction methods an exported graph can expose, in the order outputs are declared (output names).
METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples")

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

#: Every key, with what it holds (the README's table is generated from this).
DESCRIPTIONS = {
    PRODUCER: '"sk2tensor"',
    PRODUCER_VERSION: "sk2tensor version that wrote the file",
    SKLEARN_VERSION: "scikit-learn version the estimator was converted with",
    ESTIMATOR_CLASS: "full class path of the converted estimator",
    N_FEATURES: "width of the input (decimal string)",
    INPUT_NAME: 'name of the single graph input (`"input"`)',
    INPUT_DTYPE: '`"float32"` or `"float64"`',
    FEATURE_NAMES: "JSON list of column names, present when the estimator was fitted on a DataFrame",
    OUTPUTS: "JSON list of output names, each a sklearn method name",
    OUTPUT_DTYPES: "JSON object: output name -> numpy dtype sklearn returns for it",
    CLASSES: "JSON list of class labels (classifiers only)",
    CLASSES_DTYPE: "numpy dtype string of the labels (classifiers only)",
    PREDICT_OUTPUT: '`"label"` (predict holds int64 labels) or `"class_index"` (index into classes)',
    STRATEGY: "JSON object: tree step -> lowering strategy used (empty when no tree)",
    VALIDATION: "JSON summary of the comparison with sklearn made at export",
    CHUNK_ROWS: "rows per run that keep a CPU session's working set in cache (a hint for batch feeders)",
    MAX_CHUNK_ROWS: "most rows one run may take (present when memory grows fast with the batch)",
}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def encode_classes(classes: np.ndarray) -> tuple[str, str]:
    """``(json list, dtype string)`` for a classifier's ``classes_``."""
    return json.dumps([_plain(c) for c in classes.tolist()]), classes.dtype.str


def decode_classes(values: str, dtype: str) -> np.ndarray:
    """Inverse of :func:`encode_classes`."""
    return np.array(json.loads(values), dtype=np.dtype(dtype))
