"""Estimator class -> converter: one decorator to register, one lookup, a clear error listing support.

A converter is a pure function ``(graph, estimator, x, context) -> {method name: Var}`` that emits nodes
through the :class:`~sk2tensor.graph.GraphBuilder` and never writes to the estimator or the context's
options. Matching is on the exact class: a subclass may change behaviour the converter does not know.

``x`` is a numeric matrix ``Var`` ``[batch, n_features]``, except for converters registered with
``tables=True``: those may get a :class:`~sk2tensor.graph.Table` whose columns include strings (a model
fitted on a DataFrame with string columns), and their ``transform`` may be a Table too (SimpleImputer on a
string column gives strings). :func:`lower` hands every other converter a numeric matrix, and refuses, naming
the column and the transformers that accept strings, when a string column would reach it.

A model exported with ``sparse_input=True`` takes compressed sparse rows; converters registered with
``sparse=True`` receive them as :class:`~sk2tensor.graph.SparseRows` and work on the stored entries (as sklearn
does on a sparse matrix), and may return sparse rows from ``transform``; :func:`lower` hands every other
converter the dense matrix.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sk2tensor.errors import UnsupportedEstimatorError, UnsupportedParameterError
from sk2tensor.graph import GraphBuilder, SparseRows, Table, Var
from sk2tensor.metadata import METHODS
from sk2tensor.model import dense_chunk_rows

#: Tree lowering strategies (used by tree converters; ``auto`` picks per model).
STRATEGIES = ("auto", "gemm", "tree_traversal", "perfect_tree_traversal")

#: Converter modules for optional libraries, imported only when given an estimator from that library, so
#: that sk2tensor never imports LightGBM or XGBoost on its own.
OPTIONAL_CONVERTERS = {
    "catboost": "sk2tensor.converters.external.catboost",
    "category_encoders": "sk2tensor.converters.external.category_encoders",
    "feature_engine": "sk2tensor.converters.external.feature_engine",
    "imblearn": "sk2tensor.converters.external.imblearn",
    "lightgbm": "sk2tensor.converters.external.lightgbm",
    "xgboost": "sk2tensor.converters.external.xgboost",
}

Converter = Callable[[GraphBuilder, Any, Any, "ConversionContext"], dict[str, Any]]
_PARAMETERS = ("graph", "estimator", "x", "context")
_REGISTRY: dict[type, Converter] = {}
#: Classes whose converter takes a :class:`Table` holding string columns.
_TABLE_CLASSES: set[type] = set()
#: Classes whose converter takes :class:`SparseRows`.
_SPARSE_CLASSES: set[type] = set()
#: How to hand rows to a class whose prediction methods do not take arrays (xgboost.Booster wants a DMatrix).
_REFERENCE_INPUT: dict[type, Callable[[Any], Any]] = {}
#: Name of the graph input of a per-row starting margin (``convert(base_margin=...)``).
BASE_MARGIN_INPUT = "base_margin"
#: How to bring a class's method results to sklearn's shapes.
_REFERENCE_OUTPUT: dict[type, Callable[[str, Any], Any]] = {}


def register_reference_input(cls: type, adapter: Callable[[Any], Any]) -> None:
    """Make validation call ``cls``'s prediction methods with ``adapter(rows)`` instead of the rows."""
    _REFERENCE_INPUT[cls] = adapter


def reference_input(estimator: Any, rows: Any) -> Any:
    """``rows`` as ``estimator``'s prediction methods take them."""
    adapter = _REFERENCE_INPUT.get(type(estimator))
    return rows if adapter is None else adapter(rows)


def register_reference_output(cls: type, adapter: Callable[[str, Any], Any]) -> None:
    """Make validation compare with ``adapter(method, result)`` for ``cls``'s methods, where the library's shape
    differs from sklearn's (CatBoost's multiclass ``predict`` is ``[rows, 1]``; the export's is ``[rows]``)."""
    _REFERENCE_OUTPUT[cls] = adapter


def reference_output(estimator: Any, method: str, result: Any) -> Any:
    """``result`` of ``estimator.method`` in sklearn's shape."""
    adapter = _REFERENCE_OUTPUT.get(type(estimator))
    return result if adapter is None else adapter(method, result)


@dataclass
class ConversionContext:
    """Options of one conversion, and what converters report back (the strategies they chose)."""

    strategy: str = "auto"
    device: str = "cpu"
    #: Type tree leaf values are rounded to (``convert(leaf_dtype=...)``): ``"float64"`` keeps them as they are.
    leaf_dtype: str = "float64"
    strategies_used: dict[str, str] = field(default_factory=dict)
    #: Trees in the graph (all tree steps together): the CPU chunk size is derived from it.
    n_trees: int = 0
    #: Most nodes of one tree in a ``tree_traversal`` step, 0 without one: wide node tables want larger chunks.
    traversal_nodes: int = 0
    #: Most rows one ``session.run`` may take, when a converter's memory grows with the batch that fast.
    max_chunk_rows: int | None = None
    #: Whether the export should also output per-feature contributions (``convert(contributions=True)``).
    contributions: bool = False
    #: ``(value, what it explains)`` of each tree step that computed contributions.
    explained: list[tuple[Any, Any]] = field(default_factory=list)
    #: Whether the export should also output ``apply``, the leaf each tree reaches (``convert(leaves=True)``).
    leaves: bool = False
    #: The ``apply`` value of each tree step that produced one, shaped as sklearn's ``apply``.
    applied: list[Any] = field(default_factory=list)
    #: Whether the export takes a per-row starting margin (``convert(base_margin=...)``, XGBoost models).
    base_margin: bool = False
    #: ``(graph input, width)`` of that margin, declared by the converter that reads it (it knows the width).
    margin_input: tuple[Any, int] | None = None
    #: Outputs sklearn returns one-dimensional for a single row (SparsePCA's transform ravels it); the graph keeps
    #: ``[1, n]`` and CompiledModel gives sklearn's shape.
    single_row_vectors: set[str] = field(default_factory=set)
    #: Outputs sklearn returns as a list of ``[batch, width]`` arrays (a multi-output classifier's
    #: ``predict_proba``): the graph outputs them side by side, and CompiledModel splits them at these widths.
    split_outputs: dict[str, list[int]] = field(default_factory=dict)
    #: String graph inputs that text vectorizers tokenize -> how each preprocesses them (``lowercase``,
    #: ``strip_accents``; metadata ``text_inputs``): CompiledModel refuses the documents the graph would give NaN for.
    text_inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def declare_margin(self, graph: Any, width: int) -> Any:
        """The ``[batch, width]`` base-margin graph input (one per export)."""
        if self.margin_input is not None:
            raise UnsupportedParameterError("base_margin applies to one model per export; this one holds several")
        var = graph.input(BASE_MARGIN_INPUT, width)
        self.margin_input = (var, width)
        return var

    def count_trees(self, n_trees: int, nodes: int = 0, strategy: str = "") -> None:
        """Add a tree step of ``n_trees`` trees of at most ``nodes`` nodes, lowered with ``strategy``."""
        self.n_trees += n_trees
        if strategy == "tree_traversal":
            self.traversal_nodes = max(self.traversal_nodes, int(nodes))

    def dense_rows(self, graph: Any, x: SparseRows) -> Var:
        """The dense ``[batch, width]`` matrix of sparse rows, made in the graph; since it takes memory in
        proportion to the batch, the rows of one run are bounded to :data:`~sk2tensor.model.DENSE_CHUNK_BYTES`
        of it."""
        self.limit_chunk_rows(dense_chunk_rows(x.width, graph.dtype))
        return graph.sparse_dense(x)

    def limit_chunk_rows(self, rows: int) -> None:
        """Bound the rows of one ``session.run`` (kept in the model's metadata, applied on every device)."""
        rows = max(1, int(rows))
        self.max_chunk_rows = rows if self.max_chunk_rows is None else min(self.max_chunk_rows, rows)

    def record_strategy(self, step: str, strategy: str) -> None:
        """Note the strategy a tree converter chose for ``step`` (saved in the model's metadata)."""
        self.strategies_used[self.unique_step_name(step)] = strategy

    def unique_step_name(self, step: str) -> str:
        name, i = step, 1
        while name in self.strategies_used:
            i += 1
            name = f"{step}#{i}"
        return name


def converter(*classes: type, tables: bool = False, sparse: bool = False) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of each of ``classes`` (exact class match);
    ``tables=True``: it takes a :class:`Table` with string columns, ``sparse=True``: :class:`SparseRows` (see the
    module docstring)."""

    def register(function: Converter) -> Converter:
        names = tuple(inspect.signature(function).parameters)
        if names != _PARAMETERS:
            raise TypeError(f"converter {function.__qualname__} must take {_PARAMETERS}, not {names}")
        for cls in classes:
            if cls in _REGISTRY:
                raise TypeError(f"{cls.__name__} already has a converter: {_REGISTRY[cls].__qualname__}")
            _REGISTRY[cls] = function
            if tables:
                _TABLE_CLASSES.add(cls)
            if sparse:
                _SPARSE_CLASSES.add(cls)
        return function

    if not classes:
        raise TypeError("converter() needs at least one estimator class")
    return register


def _load_converters() -> None:
    importlib.import_module("sk2tensor.converters")


def _load_optional(library: str) -> None:
    module = OPTIONAL_CONVERTERS.get(library)
    if module is not None:
        importlib.import_module(module)


def supported() -> list[type]:
    """The classes sk2tensor converts, sorted by module and name.

    Classes of optional libraries (:data:`OPTIONAL_CONVERTERS`: LightGBM, XGBoost, CatBoost, imbalanced-learn,
    category_encoders, feature_engine) are listed once that library has been imported.
    """
    _load_converters()
    for library in OPTIONAL_CONVERTERS:
        if library in sys.modules:
            _load_optional(library)
    return sorted(_REGISTRY, key=lambda cls: (cls.__module__, cls.__name__))


def class_path(cls: type) -> str:
    """Where the library documents ``cls``: its module path cut before the first private part
    (``sklearn.linear_model.LogisticRegression``, ``imblearn.ensemble.BalancedRandomForestClassifier``)."""
    parts = cls.__module__.split(".")
    private = next((i for i, part in enumerate(parts) if part.startswith("_")), len(parts))
    return ".".join([*parts[:private], cls.__name__])


_NO_PREDICTION = (
    "it has no predict or transform for new rows (only fit_predict or fit_transform on its training rows), so "
    "there is nothing to export"
)
_COVARIANCE = (
    "it has no prediction method (only mahalanobis and score); EllipticEnvelope, its outlier detector, converts"
)
_HASHING = (
    "it hashes each token with MurmurHash3, which ONNX's standard operators cannot compute (no operator gives a "
    "string's bytes): CountVectorizer or TfidfVectorizer converts"
)
_BATCH_ITERATION = (
    "its transform iterates until a tolerance over the whole batch is met, so a row's result depends on the other "
    "rows it is transformed with, which no graph run on any batch can match"
)

_RESAMPLER = (
    "it resamples training rows (fit_resample) and has no prediction method; imbalanced-learn's Pipeline skips "
    "it when predicting, and so does sk2tensor: export the Pipeline it belongs to"
)

#: Why the scikit-learn estimators sk2tensor does not convert cannot be, where there is a reason to give.
WHY_NOT: dict[str, str] = {
    **{
        f"sklearn.{name}": _NO_PREDICTION
        for name in (
            "cluster.AgglomerativeClustering",
            "cluster.DBSCAN",
            "cluster.OPTICS",
            "cluster.HDBSCAN",
            "cluster.SpectralClustering",
            "cluster.SpectralBiclustering",
            "cluster.SpectralCoclustering",
            "manifold.TSNE",
            "manifold.MDS",
            "manifold.ClassicalMDS",
            "manifold.SpectralEmbedding",
        )
    },
    **{
        f"sklearn.covariance.{name}": _COVARIANCE
        for name in ("EmpiricalCovariance", "MinCovDet", "LedoitWolf", "OAS", "ShrunkCovariance")
    },
    "sklearn.covariance.GraphicalLasso": _COVARIANCE,
    "sklearn.covariance.GraphicalLassoCV": _COVARIANCE,
    "sklearn.feature_extraction.text.HashingVectorizer": _HASHING,
    "sklearn.feature_extraction.DictVectorizer": "it reads Python dicts, which no tensor input holds",
    "sklearn.feature_extraction.FeatureHasher": "it hashes Python dicts or strings, which no tensor input holds",
    "sklearn.feature_extraction.image.PatchExtractor": "it cuts images into patches: not a model of rows",
    "category_encoders.hashing.HashingEncoder": (
        "it hashes each value with md5, which ONNX's standard operators cannot compute: OneHotEncoder, "
        "BinaryEncoder or a target encoder converts"
    ),
    "category_encoders.multi_hot.MultiHotEncoder": (
        "it splits each value into several labels on a delimiter, which ONNX's standard operators cannot do for "
        "every runtime: split the labels into columns before the model"
    ),
    "sklearn.decomposition.NMF": _BATCH_ITERATION,
    "sklearn.decomposition.MiniBatchNMF": _BATCH_ITERATION,
    "sklearn.neighbors.NearestNeighbors": (
        "kneighbors and radius_neighbors are not prediction methods; KNeighborsTransformer and "
        "RadiusNeighborsTransformer export the neighbour graph"
    ),
    **{
        f"sklearn.preprocessing.{name}": (
            "it encodes targets, not features; an exported classifier's predict already returns the labels"
        )
        for name in ("LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer")
    },
}


def _registered_names() -> list[str]:
    """Names of the registered classes, sorted; a name two libraries share (imblearn's Pipeline) is qualified."""
    counts = Counter(cls.__name__ for cls in _REGISTRY)
    names = [cls.__name__ if counts[cls.__name__] == 1 else class_path(cls) for cls in _REGISTRY]
    return sorted(names, key=lambda name: (name.rsplit(".", 1)[-1], name))


def find_converter(estimator: Any) -> Converter:
    """The converter registered for ``type(estimator)``, or :class:`UnsupportedEstimatorError`."""
    _load_converters()
    cls = type(estimator)
    if cls not in _REGISTRY:
        _load_optional(cls.__module__.split(".")[0])
    try:
        return _REGISTRY[cls]
    except KeyError:
        pass
    what = f"an object of type {class_path(cls)}" if not isinstance(estimator, BaseEstimator) else class_path(cls)
    names = ", ".join(_registered_names())
    reason = WHY_NOT.get(class_path(cls))
    if reason is None and hasattr(estimator, "fit_resample"):
        reason = _RESAMPLER
    because = f": {reason}" if reason else ""
    raise UnsupportedEstimatorError(
        f"sk2tensor cannot convert {what}{because}. Supported estimators: {names} (see sk2tensor.supported())."
    )


def check_fitted(estimator: Any) -> None:
    """Raise sklearn's NotFittedError, naming the class, when ``estimator`` is not fitted."""
    if not hasattr(estimator, "fit"):  # a trained library object such as lightgbm.Booster
        return
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: call 'fit' before converting it."
        ) from None


def takes_strings(estimator: Any) -> bool:
    """Whether ``estimator``'s converter takes string columns."""
    _load_converters()
    _load_optional(type(estimator).__module__.split(".")[0])
    return type(estimator) in _TABLE_CLASSES


def string_classes() -> list[str]:
    """Names of the classes whose converter takes string columns, sorted."""
    _load_converters()
    return sorted(cls.__name__ for cls in _TABLE_CLASSES)


def refuse_strings(estimator: Any, x: Table) -> UnsupportedParameterError:
    """The error for string columns of ``x`` reaching ``estimator``, which cannot take them."""
    labels = [c.label or c.var.name for c in x.columns if c.is_string]
    shown = ", ".join(repr(label) for label in labels[:5]) + (" ..." if len(labels) > 5 else "")
    return UnsupportedParameterError(
        f"{type(estimator).__name__} would receive the string column(s) {shown}: string columns are taken by "
        f"{', '.join(string_classes())} (HistGradientBoosting as native categorical features); encode them "
        "(OneHotEncoder, OrdinalEncoder, TargetEncoder) before any other step"
    )


def lower(
    graph: GraphBuilder, estimator: Any, x: Var | Table | SparseRows, context: ConversionContext
) -> dict[str, Any]:
    """Convert one (possibly nested) estimator: find its converter, check it is fitted, call it.

    Sparse rows reach only converters registered with ``sparse=True``; any other converter gets their dense
    matrix.

    A :class:`Table` reaches only converters registered with ``tables=True``; any other converter gets it as a
    numeric matrix, or a clear refusal when it holds a string column. Outputs that are tables without strings
    come back as matrices, so only tables holding strings travel between converters."""
    function = find_converter(estimator)
    check_fitted(estimator)
    if isinstance(x, SparseRows) and type(estimator) not in _SPARSE_CLASSES:
        x = context.dense_rows(graph, x)
    if isinstance(x, Table) and type(estimator) not in _TABLE_CLASSES:
        if x.has_strings:
            raise refuse_strings(estimator, x)
        x = x.matrix(graph)
    outputs = function(graph, estimator, x, context)
    unknown = set(outputs) - set(METHODS)
    if unknown:
        raise RuntimeError(f"{function.__qualname__} returned unknown outputs {sorted(unknown)}")
    return {
        name: value.matrix(graph) if isinstance(value, Table) and not value.has_strings else value
        for name, value in outputs.items()
    }


def unsupported(estimator: Any, attribute: str, value: Any, accepted: str) -> UnsupportedParameterError:
    """An error naming the class, the offending attribute and value, and what is accepted."""
    return UnsupportedParameterError(
        f"{type(estimator).__name__} with {attribute}={value!r} is not supported; {accepted}."
    )


def label_encoding(classes: np.ndarray) -> str:
    """How the ``predict`` output holds class labels: ``"label"`` (int64 labels) or ``"class_index"``.

    Integer labels are a tensor on any device; strings, floats and booleans are mapped back through the
    ``classes`` metadata.
    """
    if classes.dtype.kind in "iu":
        return "label"
    return "class_index"


def class_output(graph: GraphBuilder, classes: np.ndarray, index: Var) -> Var:
    """The ``predict`` output of a classifier from the int64 index of the chosen class."""
    if label_encoding(classes) == "label":
        return graph.gather(graph.const(classes.astype(np.int64), "classes", dtype=np.int64), index)
    return index
