"""feature_engine transformers (``feature_engine``): encoders, imputers, outlier cappers, variance-stabilising
transformations, discretisers, feature creation, feature selection and scaling.

feature_engine works on DataFrames by column name: each transformer changes its ``variables_`` in place, adds
columns (indicators, cyclical and relative features) or drops some, and ``get_feature_names_out()`` gives the
order of what comes out. Each converter here computes the columns it changes or adds, by name, and
:func:`_assembled` lays them out in that order, the columns left alone passing through (strings stay strings).

The numeric transformations compute in float64 (feature_engine casts its variables to float before them) and
store the result in the graph's dtype. The categorical encoders are converted by probing the fitted encoder
(:mod:`sk2tensor.converters._probing`): every category it knows, ``None``, NaN and an unseen value are
transformed and tabled. Where feature_engine raises on a value (NaN with ``missing_values="raise"``, an unseen
category with ``unseen="raise"``, a logarithm of a negative number), the graph cannot raise and gives NaN or
what the arithmetic gives.
"""

from __future__ import annotations

from typing import Any

import feature_engine.creation as creation
import feature_engine.discretisation as discretisation
import feature_engine.encoding as encoding
import feature_engine.imputation as imputation
import feature_engine.outliers as outliers
import feature_engine.preprocessing as preprocessing
import feature_engine.scaling as scaling
import feature_engine.selection as selection
import feature_engine.transformation as transformation
import numpy as np
from feature_engine.wrappers import SklearnTransformerWrapper

from sk2tensor.converters._numeric import F64, as_f64
from sk2tensor.converters._probing import lower_plan, plan_lookups
from sk2tensor.converters._tracing import _asinh, _floor_divide, _remainder
from sk2tensor.converters.preprocessing import _box_cox, _yeo_johnson
from sk2tensor.graph import STRING, Column, GraphBuilder, Table, Var
from sk2tensor.metadata import MISSING_NAN, MISSING_NONE
from sk2tensor.registry import ConversionContext, converter, lower, unsupported

# --------------------------------------------------------------------------- layout


def _inputs(estimator: Any, x: Var | Table) -> Table:
    return x if isinstance(x, Table) else Table.of_matrix(x, int(estimator.n_features_in_))


def _position(estimator: Any) -> dict[Any, int]:
    return {name: i for i, name in enumerate(estimator.feature_names_in_)}


def _stored(graph: GraphBuilder, value: Var, name: Any) -> Column:
    """A float64 result as an output column in the graph's dtype."""
    return Column(graph.cast(value, graph.dtype), label=str(name))


def _numeric_columns(estimator: Any, table: Table, names: list[Any]) -> Table:
    """Input columns ``names``, in that order; refused when one holds strings."""
    position = _position(estimator)
    for name in names:
        if table.columns[position[name]].is_string:
            raise unsupported(estimator, "variables", name, "this transformer takes numeric columns only")
    return table.select([position[name] for name in names])


def _block(graph: GraphBuilder, estimator: Any, table: Table, names: list[Any]) -> Var:
    """Input columns ``names`` as one float64 ``[batch, len(names)]`` matrix (the variables of a transformer are
    computed together: one node per step rather than one per variable); refused when one holds strings."""
    return as_f64(graph, _numeric_columns(estimator, table, names).matrix(graph))


def _stored_block(graph: GraphBuilder, value: Var, names: list[Any]) -> dict[Any, Column]:
    """A float64 ``[batch, len(names)]`` result as output columns ``names`` in the graph's dtype."""
    stored = graph.cast(value, graph.dtype)
    return {name: Column(stored, j, len(names), str(name)) for j, name in enumerate(names)}


def _row(graph: GraphBuilder, values: list[float], hint: str) -> Var:
    """A ``[1, k]`` float64 constant, one value per variable of a block."""
    return graph.const(np.asarray(values, dtype=np.float64).reshape(1, -1), hint, dtype=F64)


def _assembled(estimator: Any, table: Table, new: dict[Any, Column]) -> dict[str, Table]:
    """The output columns in ``get_feature_names_out()`` order: ``new[name]`` where given, else the input column
    of that name."""
    position = _position(estimator)
    out = []
    for name in estimator.get_feature_names_out():
        if name in new:
            out.append(new[name])
        elif name in position:
            out.append(table.columns[position[name]])
        else:
            raise unsupported(estimator, "output column", name, "sk2tensor does not know how it is computed")
    return {"transform": Table(tuple(out))}


def _is_missing_string(graph: GraphBuilder, column: Var) -> Var:
    """Whether a string input holds a missing value (None or NaN in the DataFrame)."""
    nan = graph.equal(column, graph.const(np.array([[MISSING_NAN]], dtype=object), "missing_nan", dtype=STRING))
    none = graph.equal(column, graph.const(np.array([[MISSING_NONE]], dtype=object), "missing_none", dtype=STRING))
    return graph.logical_or(nan, none)


def _const(graph: GraphBuilder, value: float, hint: str) -> Var:
    return graph.const(np.array(value, dtype=np.float64), hint, dtype=F64)


# --------------------------------------------------------------------------- encoders (probed)
PROBED = (
    encoding.CountFrequencyEncoder,
    encoding.DecisionTreeEncoder,
    encoding.MeanEncoder,
    encoding.OneHotEncoder,
    encoding.OrdinalEncoder,
    encoding.RareLabelEncoder,
    encoding.WoEEncoder,
    preprocessing.MatchCategories,
)


def _categories(estimator: Any, name: Any) -> list[Any]:
    """The categories the fitted encoder knows for variable ``name``."""
    known = getattr(estimator, "encoder_dict_", None) or getattr(estimator, "category_dict_", None) or {}
    values = known.get(name, [])
    return list(values.keys() if isinstance(values, dict) else getattr(values, "categories", values))


@converter(*PROBED, tables=True)
def convert_probed_encoder(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """Each encoded variable's value looked up among the categories the encoder knows (then None, NaN and an
    unseen value) and the output rows ``transform`` gives it gathered: numbers, or strings for RareLabelEncoder
    and MatchCategories, whose outputs a later step encodes."""
    table = _inputs(estimator, x)
    names = list(estimator.feature_names_in_)
    variables = set(estimator.variables_)
    known = {i: _categories(estimator, name) for i, name in enumerate(names) if name in variables}
    string_columns = [column.is_string for column in table.columns]
    out_names = list(estimator.get_feature_names_out())
    plan, probes = plan_lookups(estimator, names, string_columns, known, estimator.transform, out_names)
    return {"transform": lower_plan(graph, table, plan, probes)}


# --------------------------------------------------------------------------- imputers
@converter(imputation.MeanMedianImputer, imputation.ArbitraryNumberImputer, imputation.EndTailImputer, tables=True)
def convert_number_imputer(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """NaN replaced by ``imputer_dict_[variable]``."""
    table = _inputs(estimator, x)
    names = list(estimator.imputer_dict_)
    if not names:
        return _assembled(estimator, table, {})
    block = _block(graph, estimator, table, names)
    fill = _row(graph, [float(estimator.imputer_dict_[name]) for name in names], "fill")
    return _assembled(estimator, table, _stored_block(graph, graph.where(graph.is_nan(block), fill, block), names))


@converter(imputation.CategoricalImputer, tables=True)
def convert_categorical_imputer(
    graph: GraphBuilder, estimator: imputation.CategoricalImputer, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """Missing values replaced by ``imputer_dict_[variable]``: a string in a string column, a number in a numeric
    one (``ignore_format=True``)."""
    table = _inputs(estimator, x)
    position = _position(estimator)
    new = {}
    for name, value in estimator.imputer_dict_.items():
        column = table.columns[position[name]]
        if column.is_string:
            if not isinstance(value, str):
                raise unsupported(
                    estimator, f"imputer_dict_[{name!r}]", value, "a string column is filled with a string"
                )
            fill = graph.const(np.array([[value]], dtype=object), "fill", dtype=STRING)
            new[name] = Column(graph.where(_is_missing_string(graph, column.var), fill, column.var), label=str(name))
        else:
            if isinstance(value, str):
                raise unsupported(
                    estimator,
                    f"imputer_dict_[{name!r}]",
                    value,
                    "a numeric column filled with a string would hold strings and numbers together: fill it with a "
                    "number (fill_value), or give the column as strings",
                )
            numbers = _block(graph, estimator, table, [name])
            filled = graph.where(graph.is_nan(numbers), _const(graph, float(value), "fill"), numbers)
            new[name] = _stored(graph, filled, name)
    return _assembled(estimator, table, new)


@converter(imputation.AddMissingIndicator, tables=True)
def convert_add_missing_indicator(
    graph: GraphBuilder, estimator: imputation.AddMissingIndicator, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``{variable}_na``: 1 where the variable is missing (NaN, or None in a string column), else 0."""
    table = _inputs(estimator, x)
    position = _position(estimator)
    new = {}
    for name in estimator.variables_:
        column = table.columns[position[name]]
        missing = (
            _is_missing_string(graph, column.var)
            if column.is_string
            else graph.is_nan(table.select([position[name]]).matrix(graph))
        )
        new[f"{name}_na"] = Column(graph.cast(missing, graph.dtype), label=f"{name}_na")
    return _assembled(estimator, table, new)


# --------------------------------------------------------------------------- outliers
@converter(outliers.Winsorizer, outliers.ArbitraryOutlierCapper, tables=True)
def convert_outlier_capper(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """Values above ``right_tail_caps_`` and below ``left_tail_caps_`` replaced by the cap (compared in float64, as
    pandas' ``clip`` compares with the float64 caps; NaN stays NaN); the Winsorizer's ``add_indicators`` columns
    say where a value was capped."""
    table = _inputs(estimator, x)
    right, left = estimator.right_tail_caps_, estimator.left_tail_caps_
    names = list(dict.fromkeys([*right, *left]))
    if not names:
        return _assembled(estimator, table, {})
    original = _block(graph, estimator, table, names)
    value = original
    if right:
        caps = _row(graph, [float(right.get(name, np.inf)) for name in names], "right_caps")
        value = graph.where(graph.greater(value, caps), caps, value)
    if left:
        caps = _row(graph, [float(left.get(name, -np.inf)) for name in names], "left_caps")
        value = graph.where(graph.less(value, caps), caps, value)
    new = _stored_block(graph, value, names)
    if getattr(estimator, "add_indicators", False):
        # feature_engine compares the capped column (stored in the frame's dtype) with the original.
        capped = as_f64(graph, new[names[0]].var)
        lefts = graph.cast(graph.greater(capped, original), graph.dtype)
        rights = graph.cast(graph.less(capped, original), graph.dtype)
        for j, name in enumerate(names):
            new[f"{name}_left"] = Column(lefts, j, len(names), f"{name}_left")
            new[f"{name}_right"] = Column(rights, j, len(names), f"{name}_right")
    return _assembled(estimator, table, new)


# --------------------------------------------------------------------------- transformations
def _log(graph: GraphBuilder, value: Var, base: str) -> Var:
    logged = graph.log(value)
    if str(base) == "10":
        return graph.div(logged, _const(graph, float(np.log(10.0)), "log_ten"))
    return logged


TRANSFORMATIONS = tuple(
    getattr(transformation, name)
    for name in (
        "LogTransformer",
        "LogCpTransformer",
        "ReciprocalTransformer",
        "PowerTransformer",
        "BoxCoxTransformer",
        "YeoJohnsonTransformer",
        "ArcsinTransformer",
        "ArcSinhTransformer",  # feature_engine 1.9.4 and newer
    )
    if hasattr(transformation, name)
)


@converter(*TRANSFORMATIONS, tables=True)
def convert_transformation(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``log`` (base e or 10) of ``x`` or of ``x + C``, ``1 / x``, ``x ** exp``, Box-Cox and Yeo-Johnson with the
    fitted lambdas (scipy's formulas), ``arcsin(sqrt(x))`` (float32 graphs: ONNX Runtime has no float64 Asin)
    and ``arcsinh((x - loc) / scale)``; all the variables in one ``[batch, k]`` block."""
    table = _inputs(estimator, x)
    names = list(estimator.variables_)
    block = _block(graph, estimator, table, names)
    if isinstance(estimator, transformation.LogTransformer):
        value = _log(graph, block, estimator.base)
    elif isinstance(estimator, transformation.LogCpTransformer):
        shift = estimator.C_
        shifts = [float(shift[name] if isinstance(shift, dict) else shift) for name in names]
        value = _log(graph, graph.add(block, _row(graph, shifts, "shift")), estimator.base)
    elif isinstance(estimator, transformation.ReciprocalTransformer):
        value = graph.div(_const(graph, 1.0, "one"), block)
    elif isinstance(estimator, transformation.PowerTransformer):
        value = graph.pow(block, _const(graph, float(estimator.exp), "exponent"))
    elif isinstance(estimator, transformation.BoxCoxTransformer):
        value = _box_cox(graph, block, np.asarray([estimator.lambda_dict_[n] for n in names], dtype=np.float64))
    elif isinstance(estimator, transformation.YeoJohnsonTransformer):
        value = _yeo_johnson(graph, block, np.asarray([estimator.lambda_dict_[n] for n in names], dtype=np.float64))
    elif isinstance(estimator, transformation.ArcsinTransformer):
        if graph.dtype == F64:
            raise unsupported(
                estimator, "dtype", "float64", "ONNX Runtime has no float64 Asin kernel: export with dtype='float32'"
            )
        value = as_f64(graph, graph.unary("Asin", graph.sqrt(graph.cast(block, graph.dtype))))
    else:
        loc, scale = _const(graph, float(estimator.loc), "loc"), _const(graph, float(estimator.scale), "scale")
        value = _asinh(graph, graph.div(graph.sub(block, loc), scale))
    return _assembled(estimator, table, _stored_block(graph, value, names))


# --------------------------------------------------------------------------- discretisers
@converter(
    discretisation.EqualFrequencyDiscretiser,
    discretisation.EqualWidthDiscretiser,
    discretisation.ArbitraryDiscretiser,
    discretisation.GeometricWidthDiscretiser,
    tables=True,
)
def convert_discretiser(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``pd.cut(x, binner_dict_[variable], labels=False, include_lowest=True)``: the number of inner edges below
    ``x`` (intervals closed on the right, the first on both sides), NaN outside the edges and for NaN; compared
    in float64 as pandas does."""
    if getattr(estimator, "return_boundaries", False) or getattr(estimator, "return_object", False):
        raise unsupported(
            estimator,
            "return_boundaries" if estimator.return_boundaries else "return_object",
            True,
            "the bins convert as numbers (return_boundaries=False, return_object=False); encode them with a later "
            "step if they are categories",
        )
    table = _inputs(estimator, x)
    return _bin_numbers(graph, estimator, table)


def _bin_numbers(graph: GraphBuilder, estimator: Any, table: Table) -> dict[str, Table]:
    """Each variable's ``pd.cut`` bin number among ``binner_dict_[variable]`` (see :func:`convert_discretiser`)."""
    names = list(estimator.binner_dict_)
    edges = [np.asarray(estimator.binner_dict_[name], dtype=np.float64) for name in names]
    inner = np.full((len(names), max(1, *(len(e) - 2 for e in edges))), np.inf)  # +inf pads: no value is above
    for j, e in enumerate(edges):
        inner[j, : len(e) - 2] = e[1:-1]
    value = _block(graph, estimator, table, names)
    above = graph.greater(graph.unsqueeze(value, [2]), graph.const(inner[None], "inner_edges", dtype=F64))
    index = graph.reduce_sum(graph.cast(above, F64), [2])
    inside = graph.logical_and(
        graph.greater_equal(value, _row(graph, [float(e[0]) for e in edges], "low")),
        graph.less_equal(value, _row(graph, [float(e[-1]) for e in edges], "high")),
    )
    binned = graph.where(inside, index, _const(graph, np.nan, "nan"))
    return _assembled(estimator, table, _stored_block(graph, binned, names))


def _tree_output(
    graph: GraphBuilder, model: Any, block: Var, probability: bool, precision: int | None, context: ConversionContext
) -> Var:
    """A fitted tree's (or a search over trees') ``predict`` or second ``predict_proba`` column on ``block``, as a
    float64 ``[batch, 1]``, rounded to ``precision`` decimals as ``np.round`` rounds (times ``10**precision``,
    to nearest even, divided back)."""
    outputs = lower(graph, model, block, context)
    if probability:
        value = graph.gather(outputs["predict_proba"], graph.int64s([1], "second_class"), axis=1)
    else:
        classes = getattr(model, "classes_", None)
        if classes is not None and np.asarray(classes).dtype.kind not in "iuf":
            raise unsupported(
                model, "classes_", list(classes)[:5], "a tree feature made of labels needs numeric labels"
            )
        value = graph.reshape(outputs["predict"], [-1, 1])
        if classes is not None and np.asarray(classes).dtype.kind == "f":  # float labels come out as class indices
            value = graph.gather(graph.const(np.asarray(classes, dtype=np.float64), "classes", dtype=F64), value)
    value = as_f64(graph, value)
    if precision is None:
        return value
    scale = _const(graph, float(10.0 ** int(precision)), "decimal_scale")
    return graph.div(graph._node("Round", [graph.mul(value, scale)], F64), scale)


@converter(discretisation.DecisionTreeDiscretiser, tables=True)
def convert_decision_tree_discretiser(
    graph: GraphBuilder, estimator: discretisation.DecisionTreeDiscretiser, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``bin_output="prediction"``: each variable replaced by its fitted tree's prediction (the probability of
    the second class for a classifier), rounded to ``precision``; ``"bin_number"``: the bin among the tree's
    thresholds, as the other discretisers. ``"boundaries"`` (interval strings) is refused."""
    table = _inputs(estimator, x)
    if estimator.bin_output == "bin_number":
        return _bin_numbers(graph, estimator, table)
    if estimator.bin_output != "prediction":
        raise unsupported(
            estimator, "bin_output", estimator.bin_output, "'prediction' and 'bin_number' convert (numbers)"
        )
    new = {}
    for name in estimator.variables_:
        column = _numeric_columns(estimator, table, [name]).matrix(graph)  # the tree casts as sklearn's does
        value = _tree_output(
            graph, estimator.binner_dict_[name], column, not estimator.regression, estimator.precision, context
        )
        new[name] = _stored(graph, value, name)
    return _assembled(estimator, table, new)


@converter(creation.DecisionTreeFeatures, tables=True)
def convert_decision_tree_features(
    graph: GraphBuilder, estimator: creation.DecisionTreeFeatures, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``tree(features)`` for each fitted tree: its prediction (regression, and multiclass labels) or the
    probability of the second class (binary), rounded to ``precision`` except for labels."""
    table = _inputs(estimator, x)
    binary = not estimator.regression and getattr(estimator, "_is_binary", None) == "binary"  # set for classifiers
    precision = estimator.precision if (estimator.regression or binary) else None
    new = {}
    for features, model in zip(estimator.input_features_, estimator.estimators_, strict=True):
        names = [features] if isinstance(features, str) else list(features)
        block = _numeric_columns(estimator, table, names).matrix(graph)
        label = f"tree({features})"
        new[label] = _stored(graph, _tree_output(graph, model, block, binary, precision, context), label)
    return _assembled(estimator, table, new)


# --------------------------------------------------------------------------- creation
@converter(creation.CyclicalFeatures, tables=True)
def convert_cyclical_features(
    graph: GraphBuilder, estimator: creation.CyclicalFeatures, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``{variable}_sin`` and ``_cos``: ``sin``/``cos`` of ``x * (2 pi / max_values_[variable])``."""
    table = _inputs(estimator, x)
    names = list(estimator.variables_)
    scale = _row(graph, [2.0 * np.pi / estimator.max_values_[name] for name in names], "angle_scale")
    angle = graph.mul(_block(graph, estimator, table, names), scale)
    new = _stored_block(graph, graph.unary("Sin", angle), [f"{name}_sin" for name in names])
    new.update(_stored_block(graph, graph.unary("Cos", angle), [f"{name}_cos" for name in names]))
    return _assembled(estimator, table, new)


_RELATIVE = {
    "add": lambda g, a, b: g.add(a, b),
    "sub": lambda g, a, b: g.sub(a, b),
    "mul": lambda g, a, b: g.mul(a, b),
    "div": lambda g, a, b: g.div(a, b),
    "truediv": lambda g, a, b: g.div(a, b),
    "floordiv": _floor_divide,
    "mod": _remainder,
    "pow": lambda g, a, b: g.pow(a, b),
}
_DIVISIONS = {"div", "truediv", "floordiv", "mod"}


@converter(creation.RelativeFeatures, tables=True)
def convert_relative_features(
    graph: GraphBuilder, estimator: creation.RelativeFeatures, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``{variable}_{func}_{reference}`` for each function, reference and variable (pandas' arithmetic: floor
    division and modulo as numpy's); a division by a zero reference gives ``fill_value``."""
    table = _inputs(estimator, x)
    names = list(estimator.variables_)
    block = _block(graph, estimator, table, names)
    new = {}
    for func in estimator.func:
        if func not in _RELATIVE:
            raise unsupported(estimator, "func", func, f"functions are among {sorted(_RELATIVE)}")
        for reference in estimator.reference:
            ref = _block(graph, estimator, table, [reference])
            value = _RELATIVE[func](graph, block, ref)
            if func in _DIVISIONS and estimator.fill_value is not None:
                zero = graph.equal(ref, _const(graph, 0.0, "zero"))
                value = graph.where(zero, _const(graph, float(estimator.fill_value), "fill"), value)
            new.update(_stored_block(graph, value, [f"{name}_{func}_{reference}" for name in names]))
    return _assembled(estimator, table, new)


def _math_feature(graph: GraphBuilder, block: Var, func: str, width: int) -> Var:
    """pandas' row reduction ``func`` of ``block [batch, width]`` (float64), skipping NaN as pandas does."""
    nan = graph.is_nan(block)
    zero, one = _const(graph, 0.0, "zero"), _const(graph, 1.0, "one")
    present = graph.reduce_sum(graph.cast(graph.logical_not(nan), F64), [1], keepdims=True)
    total = graph.reduce_sum(graph.where(nan, zero, block), [1], keepdims=True)
    none = graph.equal(present, zero)
    if func == "sum":
        return total
    if func == "prod":
        return _row_product(graph, graph.where(nan, one, block), width)
    if func in ("min", "max"):
        fill = _const(graph, np.inf if func == "min" else -np.inf, "fill")
        reduce = graph.reduce_min if func == "min" else graph.reduce_max
        extreme = reduce(graph.where(nan, fill, block), [1], keepdims=True)
        return graph.where(none, _const(graph, np.nan, "nan"), extreme)
    mean = graph.div(total, present)
    if func == "mean":
        return mean
    deviation = graph.where(nan, zero, graph.sub(block, mean))
    squares = graph.reduce_sum(graph.mul(deviation, deviation), [1], keepdims=True)
    variance = graph.div(squares, graph.sub(present, one))
    variance = graph.where(graph.less_equal(present, one), _const(graph, np.nan, "nan"), variance)
    return variance if func == "var" else graph.sqrt(variance)


def _row_product(graph: GraphBuilder, block: Var, width: int) -> Var:
    product = graph.gather(block, graph.int64s([0], "column"), axis=1)
    for j in range(1, width):
        product = graph.mul(product, graph.gather(block, graph.int64s([j], "column"), axis=1))
    return product


_MATH = ("sum", "mean", "min", "max", "prod", "std", "var")


@converter(creation.MathFeatures, tables=True)
def convert_math_features(
    graph: GraphBuilder, estimator: creation.MathFeatures, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """Row-wise ``sum``, ``mean``, ``min``, ``max``, ``prod``, ``std`` and ``var`` (``ddof=1``) of the variables,
    skipping NaN as pandas' ``agg(axis=1)``; functions given as callables are refused."""
    functions = estimator.func if isinstance(estimator.func, list) else [estimator.func]
    for func in functions:
        if not isinstance(func, str) or func not in _MATH:
            raise unsupported(estimator, "func", func, f"functions are named among {list(_MATH)}")
    table = _inputs(estimator, x)
    variables = list(estimator.variables_)
    block = _block(graph, estimator, table, variables)
    labels = estimator._get_new_features_name()
    new = {
        label: _stored(graph, _math_feature(graph, block, func, len(variables)), label)
        for label, func in zip(labels, functions, strict=True)
    }
    return _assembled(estimator, table, new)


# --------------------------------------------------------------------------- selection, scaling, matching
SELECTORS = tuple(getattr(selection, name) for name in selection.__all__)


@converter(*SELECTORS, tables=True)
def convert_feature_selector(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """The columns left after ``features_to_drop_``, in order."""
    return _assembled(estimator, _inputs(estimator, x), {})


@converter(preprocessing.MatchVariables, tables=True)
def convert_match_variables(
    graph: GraphBuilder, estimator: preprocessing.MatchVariables, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """The columns it was fitted on, in that order: what the graph's inputs already are."""
    return _assembled(estimator, _inputs(estimator, x), {})


@converter(scaling.MeanNormalizationScaler, tables=True)
def convert_mean_normalization(
    graph: GraphBuilder, estimator: scaling.MeanNormalizationScaler, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """``(x - mean_) / range_`` per variable."""
    table = _inputs(estimator, x)
    names = list(estimator.variables_)
    centred = graph.sub(
        _block(graph, estimator, table, names), _row(graph, [estimator.mean_[n] for n in names], "mean")
    )
    scaled = graph.div(centred, _row(graph, [estimator.range_[n] for n in names], "range"))
    return _assembled(estimator, table, _stored_block(graph, scaled, names))


# --------------------------------------------------------------------------- wrapper
@converter(SklearnTransformerWrapper, tables=True)
def convert_sklearn_wrapper(
    graph: GraphBuilder, estimator: SklearnTransformerWrapper, x: Var | Table, context: ConversionContext
) -> dict[str, Table]:
    """The wrapped scikit-learn transformer on ``variables_``: its output replaces them in place, or (OneHotEncoder,
    PolynomialFeatures) replaces them after the other columns, as feature_engine lays it out; a wrapped selector
    keeps the columns it selects."""
    table = _inputs(estimator, x)
    if hasattr(estimator, "features_to_drop_"):  # a wrapped selector
        return _assembled(estimator, table, {})
    inner = estimator.transformer_
    variables = list(estimator.variables_)
    appended = type(inner).__name__ in ("OneHotEncoder", "PolynomialFeatures")
    names = list(inner.get_feature_names_out(variables)) if appended else variables
    position = _position(estimator)
    outputs = lower(graph, inner, table.select([position[name] for name in variables]), context)
    if "transform" not in outputs:
        raise unsupported(estimator, "transformer", type(inner).__name__, "the wrapped estimator must be a transformer")
    value = outputs["transform"]
    result = value if isinstance(value, Table) else Table.of_matrix(graph.cast(value, graph.dtype), len(names))
    if len(result) != len(names):
        raise unsupported(
            estimator, "transformer", type(inner).__name__, "its output must replace the variables one for one"
        )
    return _assembled(estimator, table, dict(zip(names, result.columns, strict=True)))
