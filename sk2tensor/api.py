"""convert(): estimator -> graph -> validation -> CompiledModel.

String columns. When ``X`` is a DataFrame (or a 2-D object array) with string columns (``object``, ``str`` or
``string`` dtype, or a ``category`` dtype with string categories), the graph gets one string input ``[batch, 1]``
per string column, named after the column (a name that would clash with another input or an output gets a
suffix), and the numeric input ``input`` ``[batch, n_numeric]`` holds the numeric columns only, in their order
(it is left out when every column is a string). The converters receive a :class:`~sk2tensor.graph.Table`
listing every column in the estimator's order. Such graphs are built at opset
:data:`~sk2tensor.graph.STRING_OPSET` (19, the first whose ``Equal`` compares strings) or above; the metadata
keys ``inputs`` and ``missing_strings`` describe the inputs (:mod:`sk2tensor.metadata`). Validation runs sklearn
and the export on the same DataFrame, its numeric columns cast to the graph's dtype. Without string columns
nothing of this applies: one numeric input, the default opset, the same metadata as ever.

Documents. A model whose first step is a text vectorizer (CountVectorizer, TfidfVectorizer) is fitted on a
sequence of documents, not on a table: ``X`` is that sequence (a list, 1-D array or Series of ``str``), and the
graph has one string input, ``documents`` ``[batch, 1]`` (metadata ``inputs`` marks it ``"documents": true``).
Such graphs are opset :data:`~sk2tensor.converters._text.TEXT_OPSET` (20) or above, as are those of a
ColumnTransformer that hands a text column to a vectorizer.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import sklearn

from sk2tensor import __version__, versions
from sk2tensor import metadata as md
from sk2tensor.converters._text import TEXT_OPSET
from sk2tensor.converters.trees.contributions import reference_contributions
from sk2tensor.errors import ConversionError, InputError, UnsupportedParameterError, ValidationError
from sk2tensor.graph import (
    DEFAULT_OPSET,
    SPARSE_INPUTS,
    SPARSE_OPSET,
    STRING_OPSET,
    Column,
    GraphBuilder,
    SparseRows,
    Table,
    Var,
)
from sk2tensor.metadata import APPLY, CONTRIBUTIONS
from sk2tensor.model import DEVICES, CompiledModel, cpu_chunk_rows, document_array, is_sparse, margin_rows
from sk2tensor.registry import (
    METHODS,
    STRATEGIES,
    ConversionContext,
    check_fitted,
    class_path,
    find_converter,
    label_encoding,
    lower,
    reference_input,
    reference_output,
    takes_strings,
)
from sk2tensor.validate import ValidationReport, compare_outputs

DTYPES = ("float32", "float64")
#: Choices of ``leaf_dtype``: the type tree leaf values are stored and rounded in.
LEAF_DTYPES = ("float64", "float32")
#: Rows generated for validation when convert() is given no X.
GENERATED_ROWS = 512
INPUT_NAME = "input"
#: The string input of a model fitted on documents.
DOCUMENTS_INPUT = "documents"


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UnsupportedParameterError(f"{name} must be one of {list(allowed)}, got {value!r}")


#: Largest dense copy (bytes) of a sparse ``X`` that convert() and compare() make to validate on.
MAX_DENSE_SAMPLE_BYTES = 2 * 1024**3


def _as_matrix(X: Any) -> tuple[np.ndarray, list[str] | None]:
    """A 2-D numeric array and the column names when ``X`` is a DataFrame; a scipy sparse ``X`` is densified
    (the graph computes dense, and its zeros are sklearn's implicit zeros)."""
    names = None
    if is_sparse(X):
        if X.ndim != 2:
            raise InputError(f"X must be 2-D (rows, features), got {X.ndim}-D")
        size = X.shape[0] * X.shape[1] * max(X.dtype.itemsize, 4)
        if size > MAX_DENSE_SAMPLE_BYTES:
            raise InputError(
                f"sparse X of shape {X.shape} would take {size / 1024**3:.1f} GiB dense to validate on; "
                "pass a sample of its rows (X[:10000])"
            )
        X = X.toarray()
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        names = [str(c) for c in X.columns]
        try:
            X = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InputError(f"X must hold numbers only: {error}") from None
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (rows, features), got {X.ndim}-D")
    if X.dtype.kind not in "fiub":
        raise InputError(f"X must hold numbers (float, int or bool), got dtype {X.dtype}")
    return X, names


def is_string_dtype(dtype: Any) -> bool:
    """Whether a DataFrame column of ``dtype`` holds strings (object, ``str``/``string``, or a categorical of
    strings): such a column becomes a string input."""
    categories = getattr(dtype, "categories", None)
    if categories is not None:  # a pandas CategoricalDtype: what its categories hold
        return is_string_dtype(categories.dtype)
    if getattr(dtype, "kind", None) in ("O", "U", "S"):
        return True
    return str(dtype) in ("string", "str") or type(dtype).__name__ == "StringDtype"


def _string_positions(X: Any) -> list[int]:
    """Positions of the string columns of a DataFrame or 2-D object array (empty for anything else)."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        return [j for j, dtype in enumerate(X.dtypes) if is_string_dtype(dtype)]
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == object:
        return [j for j in range(X.shape[1]) if any(isinstance(v, str) for v in X[:, j])]
    return []


def _input_width(estimator: Any, X: np.ndarray | None, n_features: int | None) -> int:
    fitted = getattr(estimator, "n_features_in_", None)
    if fitted == 0:  # a CatBoost model loaded from a file reports 0; its feature_names_ lists every column
        names = getattr(estimator, "feature_names_", None)
        fitted = len(names) if names else None
    width = X.shape[1] if X is not None else n_features
    if X is not None and n_features is not None and n_features != width:
        raise InputError(f"n_features={n_features} but X has {width} columns")
    if width is None:
        if fitted is None:
            raise InputError(f"{type(estimator).__name__} does not record its input width: pass X or n_features")
        width = fitted
    if fitted is not None and width != fitted:
        raise InputError(f"X has {width} features, but {type(estimator).__name__} was fitted on {fitted}")
    return int(width)


def _reference_input(estimator: Any, rows: np.ndarray) -> Any:
    """Rows as sklearn wants them: a DataFrame with the fitted column names when there are some."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return reference_input(estimator, rows)
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=list(names))


def _dense(value: Any) -> np.ndarray:
    """A method's result as an array: sparse matrices (OneHotEncoder's default output) are densified, as the
    exported graph computes them dense; a DataFrame of numeric and boolean columns (a FunctionTransformer's
    pandas result) is the float64 array sklearn's next step would make of it."""
    if isinstance(value, list) and value and all(np.ndim(part) == 2 for part in value):
        return np.concatenate([np.asarray(part) for part in value], axis=1)  # a multi-output predict_proba
    if hasattr(value, "dtypes") and hasattr(value, "to_numpy"):
        kinds = {getattr(dtype, "kind", "O") for dtype in getattr(value.dtypes, "values", [value.dtypes])}
        if len(kinds) > 1 and kinds <= set("biuf"):
            return value.to_numpy(dtype=np.float64)
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def _method_output(estimator: Any, name: str, data: Any, base_margin: np.ndarray | None = None) -> np.ndarray:
    """``estimator.name(data)``; for ``contributions``, what :func:`reference_contributions` compares with.
    ``base_margin``: XGBoost's per-row starting margin (set on a DMatrix, else passed to the method)."""
    if name == CONTRIBUTIONS:
        return reference_contributions(estimator, data)[0]
    if base_margin is None:
        return reference_output(estimator, name, getattr(estimator, name)(data))
    if hasattr(data, "set_base_margin"):  # xgboost.Booster predicts from a DMatrix, which carries the margin
        data.set_base_margin(base_margin)
        return reference_output(estimator, name, getattr(estimator, name)(data))
    return reference_output(estimator, name, getattr(estimator, name)(data, base_margin=base_margin))


def _sklearn_outputs(
    estimator: Any, rows: Any, methods: list[str], base_margin: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    framed = hasattr(rows, "columns") and hasattr(rows, "iloc")
    data = rows if framed or rows.dtype == object or is_sparse(rows) else _reference_input(estimator, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            return {name: _dense(_method_output(estimator, name, data, base_margin)) for name in methods}
        except ValueError as error:
            # sklearn 1.9's KMeans family refuses float32 rows once fitted on float64 data ("Buffer dtype
            # mismatch"); the graph upcasts them, so the reference is sklearn on the same rows in float64.
            if framed or rows.dtype != np.float32 or "Buffer dtype mismatch" not in str(error):
                raise
    return _sklearn_outputs(estimator, rows.astype(np.float64), methods, base_margin)


def convert(
    estimator: Any,
    X: Any = None,
    *,
    n_features: int | None = None,
    strategy: str = "auto",
    device: str = "cpu",
    dtype: str = "float32",
    opset: int | None = None,
    validate: bool = True,
    contributions: bool = False,
    leaves: bool = False,
    base_margin: Any = None,
    sparse_input: bool = False,
    leaf_dtype: str = "float64",
) -> CompiledModel:
    """Compile a fitted sklearn estimator or pipeline into an ONNX graph of plain tensor operations.

    Parameters
    ----------
    estimator:
        A fitted estimator whose class is in :func:`sk2tensor.supported`.
    X:
        Sample input (array or DataFrame): it fixes the input width and feature names, and validation runs
        on its rows. Without it, ``n_features`` (or the estimator's ``n_features_in_``) gives the width and
        validation runs on generated rows. A DataFrame (or object array) with string columns gives the model
        one string input per such column (module docstring); it is needed to export such a model.
    strategy:
        Tree lowering: ``"auto"``, ``"gemm"``, ``"tree_traversal"`` or ``"perfect_tree_traversal"``.
    device:
        Where the returned model predicts: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    dtype:
        ``"float32"`` (default) or ``"float64"``: the graph's input and arithmetic type.
    opset:
        ONNX opset of the default domain; defaults to the lowest one holding every operator used.
    validate:
        Compare the export with the estimator and raise :class:`ValidationError` when they disagree
        beyond the tolerances in :mod:`sk2tensor.validate`.
    contributions:
        Also output ``contributions``: each feature's SHAP value (path-dependent TreeSHAP) for tree models, with
        the expected value last (:mod:`sk2tensor.converters.trees.contributions`). Every run of the export then
        computes them, so keep a plain export for predictions alone.
    leaves:
        Also output ``apply``: the leaf each tree reaches, as sklearn's ``apply`` returns it (decision trees,
        forests, extra trees, ``RandomTreesEmbedding``, gradient boosting, and XGBoost's ``XGBModel.apply``).
    base_margin:
        XGBoost models: per-row starting margins for the rows of ``X`` (``[rows]``, or ``[rows, groups]`` for
        multiclass), as ``predict(X, base_margin=...)`` takes them. The export then has a second input,
        ``base_margin``, which replaces the base score row by row; validation feeds it these values, and the
        returned model's methods take ``base_margin=`` too.
    sparse_input:
        Take rows in compressed sparse row form: three graph inputs, scipy's ``indptr``, ``indices`` and ``values``
        (:class:`~sk2tensor.graph.SparseRows`), in place of the dense matrix. Linear models, the scalers that
        keep zeros and TfidfTransformer work on the stored values only, so no dense matrix is ever made; any
        other step gets the dense rows from the graph. Validation compares with sklearn on sparse rows (``X``
        itself when it is sparse). The returned model's methods take sparse matrices or dense arrays.
    leaf_dtype:
        ``"float64"`` (default): tree leaf values as the model holds them, summed in float64, so decisions are
        sklearn's. ``"float32"``: each leaf value rounded to the nearest float32 and stored in 4 bytes, for a
        smaller file (tree models in float32 graphs only). Probabilities then move by about one float32 unit,
        and a label can change only where sklearn's top two scores are that close (validation counts those rows
        and holds the outputs to the usual float32 tolerances).

    Returns
    -------
    CompiledModel
        Its outputs are named after the sklearn methods they reproduce.
    """
    if versions.SKLEARN < versions.OLDEST_SKLEARN:  # pip refuses it; an environment assembled otherwise may not
        oldest = ".".join(map(str, versions.OLDEST_SKLEARN))
        raise ConversionError(
            f"scikit-learn {sklearn.__version__} is older than {oldest}, the oldest release sk2tensor reproduces: "
            f"upgrade it (pip install 'scikit-learn>={oldest}')"
        )
    _check_choice("strategy", strategy, STRATEGIES)
    _check_choice("device", device, DEVICES)
    _check_choice("dtype", dtype, DTYPES)
    _check_choice("leaf_dtype", leaf_dtype, LEAF_DTYPES)
    if leaf_dtype == "float32" and dtype == "float64":
        raise UnsupportedParameterError(
            "leaf_dtype='float32' rounds leaf values below what a float64 graph is held to; "
            "use dtype='float32' with it, or leave leaf_dtype='float64'"
        )
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int)):
        raise UnsupportedParameterError(f"opset must be an integer, got {opset!r}")
    find_converter(estimator)
    check_fitted(estimator)
    for name, flag in (("contributions", contributions), ("leaves", leaves), ("sparse_input", sparse_input)):
        if not isinstance(flag, bool):
            raise UnsupportedParameterError(f"{name} must be True or False, got {flag!r}")
    if base_margin is not None and X is None:
        raise InputError("base_margin holds values for the rows of X: pass X too")
    if sparse_input:
        if base_margin is not None:
            raise UnsupportedParameterError("base_margin is taken with dense rows only; leave sparse_input=False")
        if opset is not None and opset < SPARSE_OPSET:
            raise UnsupportedParameterError(
                f"sparse_input=True needs opset {SPARSE_OPSET} or above (ScatterND with sums), got opset={opset}"
            )
        if X is not None and not is_sparse(X) and _string_positions(X):
            raise UnsupportedParameterError(
                "sparse_input=True takes numeric rows only, and X has string columns; leave sparse_input=False"
            )
        return _convert_sparse(
            estimator,
            X,
            n_features=n_features,
            strategy=strategy,
            device=device,
            dtype=dtype,
            opset=opset,
            validate=validate,
            contributions=contributions,
            leaves=leaves,
            leaf_dtype=leaf_dtype,
        )
    if X is not None and _takes_documents(estimator):
        if base_margin is not None or contributions or leaves:
            raise UnsupportedParameterError(
                "base_margin, contributions and leaves are computed on numeric inputs only, not on documents"
            )
        return _convert_documents(
            estimator, X, strategy=strategy, device=device, dtype=dtype, opset=opset, validate=validate
        )
    if X is not None and takes_strings(estimator) and _string_positions(X):
        if base_margin is not None:
            raise UnsupportedParameterError(
                "base_margin is taken with numeric inputs only; encode the string columns first"
            )
        if contributions or leaves:
            raise UnsupportedParameterError(
                "contributions and leaves are computed on numeric inputs only; encode the string columns first"
            )
        return _convert_with_strings(
            estimator,
            X,
            n_features=n_features,
            strategy=strategy,
            device=device,
            dtype=dtype,
            opset=opset,
            validate=validate,
            leaf_dtype=leaf_dtype,
        )

    rows, names = _as_matrix(X) if X is not None else (None, None)
    width = _input_width(estimator, rows, n_features)
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        names = [str(n) for n in fitted_names]

    graph = _graph_builder(dtype, DEFAULT_OPSET if opset is None else opset)
    context = ConversionContext(
        strategy=strategy,
        device=device,
        contributions=contributions,
        leaves=leaves,
        base_margin=base_margin is not None,
        leaf_dtype=leaf_dtype,
    )
    outputs = lower(graph, estimator, graph.input(INPUT_NAME, width), context)
    margin = None
    if base_margin is not None:
        if context.margin_input is None:
            raise UnsupportedParameterError(
                f"base_margin is an input of XGBoost models; {type(estimator).__name__} takes none"
            )
        margin = margin_rows(base_margin, len(rows), context.margin_input[1])
    methods = _declare_outputs(graph, estimator, outputs, strategy, context)

    if rows is None:
        rows = np.random.default_rng(0).normal(size=(GENERATED_ROWS, width))
    rows = np.ascontiguousarray(rows, dtype=dtype)
    # The reference margins in the graph's dtype, as the graph receives them.
    margin = None if margin is None else margin.astype(dtype).astype(np.float64)
    sample = rows if validate else rows[:2]
    reference_margin = None if margin is None else _library_margin(margin[: len(sample)])
    reference = _sklearn_outputs(estimator, sample, methods, reference_margin)
    props = _properties(estimator, width, dtype, methods, reference, context, names)
    labels = _predicts_labels(outputs)
    return _finish(estimator, graph, props, methods, reference, rows, device, dtype, validate, labels, margin)


def _csr_rows(X: Any, dtype: str) -> Any:
    """``X`` (a sparse matrix, array or DataFrame) as a scipy CSR matrix of ``dtype``, as given otherwise: its
    stored entries, their order and explicit zeros kept, which sklearn's sparse code also keeps."""
    from scipy import sparse

    if is_sparse(X):
        if X.ndim != 2:
            raise InputError(f"X must be 2-D (rows, features), got {X.ndim}-D")
        if X.dtype.kind not in "fiub":
            raise InputError(f"X must hold numbers (float, int or bool), got dtype {X.dtype}")
        rows = sparse.csr_matrix(X)
    else:
        rows = sparse.csr_matrix(_as_matrix(X)[0])
    return rows.astype(dtype)


def _sparse_sample(width: int, dtype: str) -> Any:
    """Generated sparse rows to validate on when no ``X`` is given: a tenth of the entries stored, small positive
    counts (as term counts and tf-idf inputs are)."""
    from scipy import sparse

    rng = np.random.default_rng(0)
    rows = sparse.random(GENERATED_ROWS, width, density=0.1, format="csr", dtype=np.float64, random_state=rng)
    rows.data = np.round(rows.data * 4) + 1
    return rows.astype(dtype)


def _convert_sparse(
    estimator: Any,
    X: Any,
    *,
    n_features: int | None,
    strategy: str,
    device: str,
    dtype: str,
    opset: int | None,
    validate: bool,
    contributions: bool,
    leaves: bool,
    leaf_dtype: str,
) -> CompiledModel:
    """:func:`convert` with ``sparse_input=True``: the graph takes CSR rows, and sklearn is the reference on the
    same rows as a sparse matrix."""
    rows = _csr_rows(X, dtype) if X is not None else None
    names = None
    if X is not None and hasattr(X, "columns") and hasattr(X, "iloc"):
        names = [str(c) for c in X.columns]
    width = _input_width(estimator, rows, n_features)
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        names = [str(n) for n in fitted_names]
    graph = _graph_builder(dtype, max(SPARSE_OPSET, DEFAULT_OPSET) if opset is None else opset)
    context = ConversionContext(
        strategy=strategy, device=device, contributions=contributions, leaves=leaves, leaf_dtype=leaf_dtype
    )
    outputs = lower(graph, estimator, graph.sparse_input(width), context)
    methods = _declare_outputs(graph, estimator, outputs, strategy, context)
    if rows is None:
        rows = _sparse_sample(width, dtype)
    sample = rows if validate else rows[:2]
    try:
        reference = _sklearn_outputs(estimator, sample, methods)
    except (TypeError, ValueError) as error:
        raise UnsupportedParameterError(
            f"{type(estimator).__name__} does not predict on sparse rows in scikit-learn ({error}), so a sparse "
            "export has nothing to match; leave sparse_input=False"
        ) from None
    props = _properties(estimator, width, dtype, methods, reference, context, names)
    props[md.INPUT_NAME] = SPARSE_INPUTS[2]
    props[md.SPARSE_INPUT] = json.dumps(
        {"format": "csr", "indptr": SPARSE_INPUTS[0], "indices": SPARSE_INPUTS[1], "values": SPARSE_INPUTS[2]}
    )
    labels = _predicts_labels(outputs)
    return _finish(estimator, graph, props, methods, reference, rows, device, dtype, validate, labels)


def _graph_builder(dtype: str, opset: int) -> GraphBuilder:
    """The builder of an export, an unusable opset reported as the caller's parameter error."""
    try:
        return GraphBuilder(dtype=dtype, opset=opset)
    except ValueError as error:
        raise UnsupportedParameterError(str(error)) from None


def _library_margin(margin: np.ndarray) -> np.ndarray:
    """Margins as XGBoost takes them: ``[rows]`` for one group."""
    return margin[:, 0] if margin.shape[1] == 1 else margin


def _declare_outputs(
    graph: GraphBuilder, estimator: Any, outputs: dict[str, Any], strategy: str, context: ConversionContext
) -> list[str]:
    """Declare each prediction method the estimator has as a graph output, then the contributions and leaves the
    context asks for; returns their names."""
    if strategy != "auto" and not context.strategies_used:
        raise UnsupportedParameterError(
            f"strategy={strategy!r} applies to tree models, and {type(estimator).__name__} holds none; "
            "leave strategy='auto'"
        )
    if context.leaf_dtype != "float64" and not context.strategies_used:
        raise UnsupportedParameterError(
            f"leaf_dtype={context.leaf_dtype!r} applies to tree models, and {type(estimator).__name__} holds none; "
            "leave leaf_dtype='float64'"
        )
    methods = [m for m in METHODS if m in outputs and hasattr(estimator, m)]
    for method in methods:
        value = outputs[method]
        if isinstance(value, SparseRows):  # a transformer that keeps rows sparse: the output is dense
            value = context.dense_rows(graph, value)
        if isinstance(value, Table):
            raise UnsupportedParameterError(
                f"the {method} output of {type(estimator).__name__} would hold string columns; an export outputs "
                "numbers only: encode the string columns (OneHotEncoder, OrdinalEncoder, TargetEncoder)"
            )
        if value.dtype.kind == "f":  # converters may compute in float64; outputs carry the graph's dtype
            value = graph.cast(value, graph.dtype)
        graph.output(value, method)
    if context.contributions:
        methods.append(_declare_contributions(graph, estimator, context))
    if context.leaves:
        methods.append(_declare_leaves(graph, estimator, context))
    return methods


def _declare_contributions(graph: GraphBuilder, estimator: Any, context: ConversionContext) -> str:
    """Declare the ``contributions`` output of the one tree model that computed them."""
    from sk2tensor.converters.tree import EXPLAINED_MODELS

    name = type(estimator).__name__
    if not context.explained:
        raise UnsupportedParameterError(f"contributions=True applies to tree models ({EXPLAINED_MODELS}), not {name}")
    if len(context.explained) > 1:
        raise UnsupportedParameterError(
            f"contributions=True explains one tree model; {name} combines {len(context.explained)} of them"
        )
    value, explained = context.explained[0]
    if explained.source is None or explained.source.name != INPUT_NAME:
        raise UnsupportedParameterError(
            f"contributions=True explains a tree model on its own input, and {name} transforms the rows first: "
            "export the final step, given the transformed rows"
        )
    graph.output(graph.cast(value, graph.dtype), CONTRIBUTIONS)
    return CONTRIBUTIONS


def _declare_leaves(graph: GraphBuilder, estimator: Any, context: ConversionContext) -> str:
    """Declare the ``apply`` output: the leaf each tree of the estimator reaches, as its ``apply`` returns it."""
    name = type(estimator).__name__
    if not hasattr(estimator, APPLY) or len(context.applied) != 1:
        raise UnsupportedParameterError(
            f"leaves=True outputs sklearn's apply, which {name} does not have; decision trees, forests, extra "
            "trees, RandomTreesEmbedding, GradientBoosting and XGBoost models have it"
        )
    graph.output(context.applied[0], APPLY)
    return APPLY


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise InputError("string columns need pandas: install the extra 'sk2tensor[data]'") from None
    return pd


def typed_frame(X: Any, dtype: Any, string_positions: list[int]) -> Any:
    """``X`` (DataFrame or 2-D array) as a DataFrame whose numeric columns are cast to ``dtype`` (the graph's)
    and whose string columns are left as they are: the rows sklearn and the export are compared on."""
    pd = _pandas()
    frame = X if hasattr(X, "columns") and hasattr(X, "iloc") else pd.DataFrame(np.asarray(X, dtype=object))
    data = {}
    for j, label in enumerate(frame.columns):
        column = frame.iloc[:, j]
        if j in string_positions:
            data[label] = column.reset_index(drop=True)
            continue
        try:
            data[label] = pd.Series(column.to_numpy(dtype=dtype, na_value=np.nan))
        except (TypeError, ValueError) as error:
            raise InputError(f"X: column {str(label)!r} must hold numbers ({error})") from None
    return pd.DataFrame(data, columns=frame.columns)


def _string_input_names(labels: list[str], positions: list[int]) -> dict[int, str]:
    """The graph input name of each string column: its name, with a suffix when that clashes with the numeric
    input, an output or another column."""
    used = {INPUT_NAME, *METHODS}
    names = {}
    for j in positions:
        base = labels[j] or f"column_{j}"
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
        names[j] = name
    return names


def _convert_with_strings(
    estimator: Any,
    X: Any,
    *,
    n_features: int | None,
    strategy: str,
    device: str,
    dtype: str,
    opset: int | None,
    validate: bool,
    leaf_dtype: str,
) -> CompiledModel:
    """:func:`convert` for data with string columns: see the module docstring."""
    named = hasattr(X, "columns") and hasattr(X, "iloc")
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if named and fitted_names is not None:
        labels = {str(c): c for c in X.columns}
        missing = [str(n) for n in fitted_names if str(n) not in labels]
        if missing:
            raise InputError(f"X lacks the column(s) {missing} the estimator was fitted on")
        X = X[[labels[str(n)] for n in fitted_names]]
    positions = _string_positions(X)
    width = _input_width(estimator, np.empty((0, X.shape[1])), n_features)
    names = [str(c) for c in X.columns] if named else None
    if opset is None:
        opset = max(DEFAULT_OPSET, STRING_OPSET, TEXT_OPSET if _uses_text(estimator) else 0)
    if opset < STRING_OPSET:
        raise UnsupportedParameterError(
            f"string columns need opset {STRING_OPSET} or above (the first whose Equal compares strings), "
            f"got opset={opset}"
        )
    graph = _graph_builder(dtype, opset)
    labels_list = names if names is not None else [""] * width
    input_names = _string_input_names(labels_list, positions)
    numeric = [j for j in range(width) if j not in input_names]
    matrix = graph.input(INPUT_NAME, len(numeric)) if numeric else None
    columns = []
    for j in range(width):
        if j in input_names:
            columns.append(Column(graph.string_input(input_names[j]), label=labels_list[j] or input_names[j]))
        else:
            columns.append(Column(matrix, numeric.index(j), len(numeric), labels_list[j] or f"column {j}"))
    context = ConversionContext(strategy=strategy, device=device, leaf_dtype=leaf_dtype)
    outputs = lower(graph, estimator, Table(tuple(columns)), context)
    methods = _declare_outputs(graph, estimator, outputs, strategy, context)

    frame = typed_frame(X, dtype, positions)
    sample = frame if validate else frame.iloc[:2]
    reference = _sklearn_outputs(estimator, sample if named else sample.to_numpy(dtype=object), methods)
    props = _properties(estimator, width, dtype, methods, reference, context, names)
    inputs: list[dict[str, Any]] = []
    if numeric:
        inputs.append(
            {
                "name": INPUT_NAME,
                "kind": "numeric",
                "dtype": dtype,
                "shape": ["batch", len(numeric)],
                "columns": [labels_list[j] or None for j in numeric],
                "positions": numeric,
            }
        )
    inputs += [_string_input_entry(name, labels_list[j] or None, j) for j, name in input_names.items()]
    props[md.INPUTS] = json.dumps(inputs)
    props[md.MISSING_STRINGS] = json.dumps({"nan": md.MISSING_NAN, "none": md.MISSING_NONE})
    rows = sample if named else sample.to_numpy(dtype=object)
    labels = _predicts_labels(outputs)
    return _finish(estimator, graph, props, methods, reference, rows, device, dtype, validate, labels)


def _string_input_entry(name: str, column: str | None, position: int) -> dict[str, Any]:
    """The metadata ``inputs`` entry of a string graph input ``[batch, 1]``."""
    return {
        "name": name,
        "kind": "string",
        "dtype": "string",
        "shape": ["batch", 1],
        "column": column,
        "position": position,
    }


def _text_vectorizer(step: Any) -> bool:
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

    return isinstance(step, (CountVectorizer, HashingVectorizer))


def _takes_documents(estimator: Any) -> bool:
    """Whether ``estimator`` is a text vectorizer or a pipeline whose first acting step is one (or is such a
    pipeline): it is fitted on a sequence of documents."""
    while True:
        if _text_vectorizer(estimator):
            return True
        steps = getattr(estimator, "steps", None)
        if not isinstance(steps, list):
            return False
        acting = [step for _, step in steps if step is not None and step != "passthrough"]
        if not acting:
            return False
        estimator = acting[0]


def _uses_text(estimator: Any) -> bool:
    """Whether a text vectorizer is among ``estimator``'s steps, at any depth."""
    if _text_vectorizer(estimator):
        return True
    try:
        params = estimator.get_params(deep=True)
    except Exception:  # an estimator whose get_params fails has no steps sk2tensor can see
        return False
    return any(_text_vectorizer(value) for value in params.values())


def _convert_documents(
    estimator: Any, X: Any, *, strategy: str, device: str, dtype: str, opset: int | None, validate: bool
) -> CompiledModel:
    """:func:`convert` for a model fitted on documents (module docstring)."""
    documents = document_array(X)
    if opset is None:
        opset = max(DEFAULT_OPSET, TEXT_OPSET)
    if opset < TEXT_OPSET:
        raise UnsupportedParameterError(
            f"text vectorizers need opset {TEXT_OPSET} or above (StringSplit, RegexFullMatch), got opset={opset}"
        )
    graph = _graph_builder(dtype, opset)
    column = Column(graph.string_input(DOCUMENTS_INPUT), label=DOCUMENTS_INPUT)
    context = ConversionContext(strategy=strategy, device=device)
    outputs = lower(graph, estimator, Table((column,)), context)
    methods = _declare_outputs(graph, estimator, outputs, strategy, context)
    sample = documents if validate else documents[:2]
    reference = _sklearn_outputs(estimator, sample, methods)
    props = _properties(estimator, 1, dtype, methods, reference, context, None)
    props[md.INPUTS] = json.dumps([{**_string_input_entry(DOCUMENTS_INPUT, None, 0), "documents": True}])
    props[md.MISSING_STRINGS] = json.dumps({"nan": md.MISSING_NAN, "none": md.MISSING_NONE})
    labels = _predicts_labels(outputs)
    return _finish(estimator, graph, props, methods, reference, sample, device, dtype, validate, labels)


def _properties(
    estimator: Any,
    width: int,
    dtype: str,
    methods: list[str],
    reference: dict[str, np.ndarray],
    context: ConversionContext,
    names: list[str] | None,
) -> dict[str, str]:
    props = {
        md.PRODUCER: "sk2tensor",
        md.PRODUCER_VERSION: __version__,
        md.SKLEARN_VERSION: sklearn.__version__,
        md.ESTIMATOR_CLASS: class_path(type(estimator)),
        md.N_FEATURES: str(width),
        md.INPUT_NAME: INPUT_NAME,
        md.INPUT_DTYPE: dtype,
        md.OUTPUTS: json.dumps(methods),
        md.OUTPUT_DTYPES: json.dumps({m: reference[m].dtype.str for m in methods}),
        md.STRATEGY: json.dumps(context.strategies_used),
        md.CHUNK_ROWS: str(cpu_chunk_rows(context.n_trees, context.traversal_nodes, bool(context.text_inputs))),
    }
    if context.leaf_dtype != "float64":
        props[md.LEAF_DTYPE] = context.leaf_dtype
    if context.max_chunk_rows is not None:
        props[md.MAX_CHUNK_ROWS] = str(context.max_chunk_rows)
    split = {m: widths for m, widths in context.split_outputs.items() if m in methods}
    if split:
        props[md.SPLIT_OUTPUTS] = json.dumps(split)
    if context.single_row_vectors & set(methods):
        props[md.SINGLE_ROW_VECTORS] = json.dumps(sorted(context.single_row_vectors & set(methods)))
    if context.margin_input is not None:
        props[md.BASE_MARGIN] = json.dumps({"name": context.margin_input[0].name, "width": context.margin_input[1]})
    if names is not None:
        props[md.FEATURE_NAMES] = json.dumps(names)
    if context.text_inputs:
        props[md.TEXT_INPUTS] = json.dumps(context.text_inputs)
    return props


def _predicts_labels(outputs: dict[str, Any]) -> bool:
    """Whether the converter's ``predict`` holds class labels (class indices or integer labels)."""
    predict = outputs.get("predict")
    return isinstance(predict, Var) and predict.dtype.kind in "iub"


def _finish(
    estimator: Any,
    graph: GraphBuilder,
    props: dict[str, str],
    methods: list[str],
    reference: dict[str, np.ndarray],
    rows: Any,
    device: str,
    dtype: str,
    validate: bool,
    labels: bool,
    margin: np.ndarray | None = None,
) -> CompiledModel:
    """Class metadata, the model, and its validation on ``rows`` against sklearn's ``reference``.

    ``labels``: the ``predict`` output holds class labels (an integer tensor); a ``classes_`` attribute beside a
    float ``predict`` (``catboost.CatBoost`` predicts raw scores) is not a classifier's.
    """
    classes = getattr(estimator, "classes_", None) if labels else None
    if classes is not None and "predict" in methods:
        try:
            classes = np.asarray(classes)
        except ValueError:  # a multi-output classifier whose targets have different class counts
            classes = None  # its predict output holds the labels themselves
    if classes is not None and "predict" in methods:
        props[md.CLASSES], props[md.CLASSES_DTYPE] = md.encode_classes(classes)
        # A multi-output classifier's predict holds each output's labels themselves (numeric labels only).
        props[md.PREDICT_OUTPUT] = label_encoding(classes) if classes.ndim == 1 else "label"
    model = graph.build(metadata=props, producer_version=__version__)

    compiled = CompiledModel(model, device=device)
    if validate:
        report = validation_report(compiled, reference, rows, is_classifier=classes is not None, base_margin=margin)
        compiled.onnx.metadata_props.add(key=md.VALIDATION, value=report.to_json())
        compiled.metadata[md.VALIDATION] = report.to_json()
        compiled.validation = report
        if not report.passed:
            raise ValidationError(
                f"the export of {type(estimator).__name__} disagrees with sklearn:\n{report.summary()}"
                + (
                    "\n(float32 arithmetic on large or unscaled inputs: dtype='float64' computes in double)"
                    if dtype == "float32"
                    else ""
                ),
                report,
            )
    return compiled


def validation_report(
    compiled: CompiledModel,
    reference: dict[str, np.ndarray],
    rows: Any,
    *,
    is_classifier: bool,
    base_margin: np.ndarray | None = None,
) -> ValidationReport:
    """Run ``compiled`` on ``rows`` (and their ``base_margin``) and compare each output with sklearn's
    ``reference``."""
    got = compiled.run_many(compiled.outputs, rows, base_margin=base_margin)
    got = {name: _dense(value) for name, value in got.items()}  # split outputs side by side again
    explained = reference.get(CONTRIBUTIONS)
    if explained is not None and explained.ndim == got[CONTRIBUTIONS].ndim - 1:
        # Without per-feature values to compare with, the contributions must add up to the explained score.
        got[CONTRIBUTIONS] = got[CONTRIBUTIONS].astype(np.float64).sum(axis=-1)
    return compare_outputs(got, reference, dtype=str(compiled.input_dtype), is_classifier=is_classifier)


def compare(estimator: Any, compiled: CompiledModel, X: Any, *, base_margin: Any = None) -> ValidationReport:
    """Compare an already exported model with ``estimator`` on the rows of ``X`` (no exception raised), with
    ``base_margin`` for a model that takes one."""
    if compiled.takes_documents:
        documents = document_array(X)
        reference = _sklearn_outputs(estimator, documents, list(compiled.outputs))
        return validation_report(compiled, reference, documents, is_classifier=compiled.classes is not None)
    if compiled.string_inputs:
        named = hasattr(X, "columns") and hasattr(X, "iloc")
        if named and compiled.feature_names is not None:
            X = X[compiled.frame_columns(X)]
        frame = typed_frame(X, compiled.input_dtype, [j for _, j in compiled.string_inputs])
        rows = frame if named else frame.to_numpy(dtype=object)
        reference = _sklearn_outputs(estimator, rows, list(compiled.outputs))
        return validation_report(compiled, reference, rows, is_classifier=compiled.classes is not None)
    rows, _ = _as_matrix(X)
    rows = np.ascontiguousarray(rows, dtype=compiled.input_dtype)
    margin = None
    if compiled.base_margin_width is not None or base_margin is not None:
        margin = compiled.margin_feed(base_margin, len(rows)).astype(np.float64)
    reference = _sklearn_outputs(
        estimator, rows, list(compiled.outputs), None if margin is None else _library_margin(margin)
    )
    return validation_report(compiled, reference, rows, is_classifier=compiled.classes is not None, base_margin=margin)
