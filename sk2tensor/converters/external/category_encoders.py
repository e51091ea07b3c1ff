"""category_encoders models (``category_encoders``): its ordinal, one-hot, binary, contrast, count and target
encoders.

Every supported encoder maps each value of an encoded column to a fixed row of numbers, whatever the other
columns and rows hold, once it is fitted (``transform`` without a target): the value's category, or the rows it
gives unknown values and missing values. The converter does not re-implement twenty encoders' arithmetic and
options (regularisation, ``handle_unknown``, ``handle_missing``, ``min_group_size`` lumping, ``drop_invariant``):
it asks the fitted encoder itself. It transforms a frame holding every category the encoder knows, ``None``,
NaN and a value it has never seen, column by column, and stores what comes out as lookup tables; the graph
finds each input's category (string equality, or numeric equality as sklearn's encoders) and gathers its row.

Before the tables are trusted, the converter checks that they are what ``transform`` computes: which output
column each input column moves (one input per output), that columns left alone pass through unchanged, and
that a random frame of known, unknown and missing values is reproduced exactly. An encoder whose output mixes
columns fails that check and is refused, as are ``composite_cols`` (several columns encoded together).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import category_encoders as ce
import numpy as np
import pandas as pd

from sk2tensor.converters._numeric import category_codes, columns, lookup
from sk2tensor.converters.preprocessing import string_codes
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import Column, GraphBuilder, Table, Var
from sk2tensor.metadata import MISSING_NAN, MISSING_NONE, string_value
from sk2tensor.registry import ConversionContext, converter, unsupported

#: The encoders converted (GLMMEncoder needs statsmodels and is not tested; HashingEncoder hashes with md5 and
#: MultiHotEncoder splits strings on a delimiter, which standard ONNX operators cannot).
ENCODERS = (
    ce.BackwardDifferenceEncoder,
    ce.BaseNEncoder,
    ce.BinaryEncoder,
    ce.CatBoostEncoder,
    ce.CountEncoder,
    ce.CountTargetEncoder,
    ce.GrayEncoder,
    ce.HelmertEncoder,
    ce.JamesSteinEncoder,
    ce.LeaveOneOutEncoder,
    ce.MEstimateEncoder,
    ce.OneHotEncoder,
    ce.OrdinalEncoder,
    ce.PolynomialEncoder,
    ce.QuantileEncoder,
    ce.RankHotEncoder,
    ce.SumEncoder,
    ce.SummaryEncoder,
    ce.TargetEncoder,
    ce.WOEEncoder,
)
#: What a string column holds when it holds nothing the encoder was fitted on.
UNKNOWN_STRING = "__sk2tensor_unknown__"
#: Rows of the frame that checks the lookup tables against ``transform``.
CHECK_ROWS = 257


@dataclass(frozen=True)
class Output:
    """How one output column is computed: ``"pass"`` (input column ``source`` as it is) or ``"lookup"``
    (``table[code]``, ``code`` the position of input ``source``'s value among its probe values, unknown last)."""

    kind: str
    source: int
    table: np.ndarray | None = None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _known_values(estimator: Any, column: Any) -> list[Any]:
    """Every value the fitted encoder may treat other than as unknown in ``column``: the categories of its
    ordinal mapping and of its own mapping, and the labels ``min_group_size`` lumped together. Extra values do
    no harm (each is probed), so the lists are gathered generously."""
    found: list[Any] = []

    def index_of(table: Any) -> None:
        if isinstance(table, (pd.Series, pd.DataFrame)):
            found.extend(table.index.tolist())

    ordinal = estimator if isinstance(estimator, ce.OrdinalEncoder) else getattr(estimator, "ordinal_encoder", None)
    for entry in getattr(ordinal, "mapping", None) or []:
        if entry.get("col") == column:
            index_of(entry.get("mapping"))
    mapping = getattr(estimator, "mapping", None)
    if isinstance(mapping, dict) and column in mapping:
        index_of(mapping[column])
    for lumping in (getattr(estimator, "min_group_lumping_", None), getattr(estimator, "_min_group_categories", None)):
        if isinstance(lumping, dict) and isinstance(lumping.get(column), dict):
            found.extend(lumping[column])
    for inner in getattr(estimator, "encoder_list", None) or []:  # SummaryEncoder: one encoder per quantile
        found.extend(_known_values(inner, column))
    return found


def _probe_values(estimator: Any, column: Any, label: str, is_string: bool) -> list[Any]:
    """The values whose outputs are tabled for one encoded column, the unknown value last: the known strings,
    None and NaN for a string input; the known numbers and NaN for a numeric one."""
    known = [v for v in _known_values(estimator, column) if not _is_missing(v)]
    if is_string:
        strings = sorted({v for v in known if isinstance(v, str)} - {MISSING_NAN, MISSING_NONE, UNKNOWN_STRING})
        return [*strings, None, np.nan, UNKNOWN_STRING]
    if any(isinstance(v, str) for v in known):
        raise unsupported(
            estimator,
            "cols",
            column,
            f"column {label} is numeric in the data given to convert, but the encoder was fitted on strings in "
            "it: convert with the DataFrame it was fitted on (pd.read_csv turns digits into numbers: read such "
            "columns with dtype=str, or use Parquet)",
        )
    numbers = sorted({float(v) for v in known if isinstance(v, (int, float, np.number, bool))})
    unknown = (max((abs(v) for v in numbers if math.isfinite(v)), default=0.0) + 1.0) * 2 + 0.5
    return [*numbers, np.nan, unknown]


def _frame(estimator: Any, values: dict[int, list[Any]], rows: int) -> pd.DataFrame:
    """A frame of the encoder's input columns: column ``i`` holds ``values[i]`` (object or float64)."""
    names = list(estimator.feature_names_in_)
    data = {}
    for i, name in enumerate(names):
        column = values[i]
        is_object = any(isinstance(v, str) or v is None for v in column)
        data[name] = pd.Series(column[:rows], dtype=object if is_object else np.float64)
    return pd.DataFrame(data, columns=names)


def _transform(estimator: Any, frame: pd.DataFrame) -> list[np.ndarray]:
    """``estimator.transform(frame)``, column by column (float64 where numeric, objects otherwise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's deprecation notices, once per probe, would drown the user
        result = estimator.transform(frame)
    if isinstance(result, pd.DataFrame):
        parts = [result.iloc[:, j].to_numpy() for j in range(result.shape[1])]
    else:
        result = np.asarray(result)
        parts = [result[:, j] for j in range(result.shape[1])]
    out = []
    for part in parts:
        try:
            out.append(np.asarray(part, dtype=np.float64))
        except (TypeError, ValueError):
            out.append(np.asarray(part, dtype=object))
    return out


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality in which NaN equals NaN (and None equals None)."""
    if a.dtype == object or b.dtype == object:
        return np.array([x == y or (_is_missing(x) and _is_missing(y)) for x, y in zip(a, b, strict=True)])
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _pass_values(is_string: bool, rows: int, seed: int) -> list[Any]:
    """Distinct values for a column the encoder leaves alone, to see it pass through."""
    if is_string:
        return [f"pass{seed}_{r}" for r in range(rows)]
    return [float(r) * 0.25 + 0.125 * seed for r in range(rows)]


def encoding_plan(estimator: Any, string_columns: list[bool]) -> list[Output]:
    """The output columns of ``estimator.transform`` as lookups and pass-throughs, worked out by probing the
    fitted encoder and checked against it (see the module docstring); ``string_columns[i]``: whether input ``i``
    is a string input of the graph."""
    if getattr(estimator, "composite_members_", None):
        raise unsupported(
            estimator,
            "composite_cols",
            estimator.composite_cols,
            "each encoded column must be encoded on its own: a composite column's output depends on several "
            "input columns",
        )
    names = list(estimator.feature_names_in_)
    encoded = [i for i, name in enumerate(names) if name in list(estimator.cols)]
    probes = {i: _probe_values(estimator, names[i], repr(names[i]), string_columns[i]) for i in encoded}
    rows = max([len(p) for p in probes.values()] + [2])

    def cycled(i: int, shift: int = 0, seed: int = 0) -> list[Any]:
        if i not in probes:
            return _pass_values(string_columns[i], rows, seed)
        p = probes[i]
        return [p[(r + shift) % len(p)] for r in range(rows)]

    base_values = {i: cycled(i) for i in range(len(names))}
    base = _transform(estimator, _frame(estimator, base_values, rows))
    outputs: list[Output | None] = [None] * len(base)
    out_names = [str(n) for n in getattr(estimator, "feature_names_out_", [])]
    for i in range(len(names)):
        moved = _transform(estimator, _frame(estimator, {**base_values, i: cycled(i, 1, seed=1)}, rows))
        for j, (before, after) in enumerate(zip(base, moved, strict=True)):
            if _same(before, after).all():
                continue
            if outputs[j] is not None:
                raise _mixed(estimator, out_names, j)
            if i in probes:
                outputs[j] = Output("lookup", i, before[: len(probes[i])].astype(np.float64))
            elif _same(before, np.asarray(base_values[i], dtype=before.dtype)).all():
                outputs[j] = Output("pass", i)
            else:
                raise _mixed(estimator, out_names, j)
    for j, values in enumerate(base):  # moved by no input: the same value whatever the row holds
        if outputs[j] is None:
            source = encoded[0] if encoded else None
            if source is None or values.dtype == object:
                raise _mixed(estimator, out_names, j)
            outputs[j] = Output("lookup", source, np.full(len(probes[source]), values[0], dtype=np.float64))
    plan = [o for o in outputs if o is not None]
    _check_plan(estimator, plan, probes, string_columns, out_names)
    return plan


def _mixed(estimator: Any, out_names: list[str], j: int) -> UnsupportedParameterError:
    name = out_names[j] if j < len(out_names) else str(j)
    return unsupported(
        estimator,
        "output column",
        name,
        "sk2tensor converts encoders whose every output column is a function of one input column's value "
        "(this one's is not, as found by probing the fitted encoder)",
    )


def _check_plan(
    estimator: Any, plan: list[Output], probes: dict[int, list[Any]], string_columns: list[bool], out_names: list[str]
) -> None:
    """Refuse the plan unless it reproduces ``transform`` on random rows of known, unknown and missing values."""
    rng = np.random.default_rng(0)
    codes = {i: rng.integers(0, len(p), CHECK_ROWS) for i, p in probes.items()}
    values = {
        i: [probes[i][c] for c in codes[i]] if i in probes else _pass_values(string_columns[i], CHECK_ROWS, 2)
        for i in range(len(estimator.feature_names_in_))
    }
    got = _transform(estimator, _frame(estimator, values, CHECK_ROWS))
    for j, (output, actual) in enumerate(zip(plan, got, strict=True)):
        if output.kind == "pass":
            expected = np.asarray(values[output.source], dtype=actual.dtype)
        else:
            expected = output.table[codes[output.source]]
        if not _same(expected, actual).all():
            raise _mixed(estimator, out_names, j)


@converter(*ENCODERS, tables=True)
def convert_category_encoder(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Var | Table]:
    """Each encoded column's value looked up among its probe values (string or numeric equality, unknown last)
    and its output rows gathered; the other columns passed through (strings stay strings)."""
    width = int(estimator.n_features_in_)
    table = x if isinstance(x, Table) else Table.of_matrix(x, width)
    if len(table) != width:
        raise UnsupportedParameterError(f"{type(estimator).__name__} takes {width} columns, not {len(table)}")
    string_columns = [column.is_string for column in table.columns]
    plan = encoding_plan(estimator, string_columns)
    names = list(estimator.feature_names_in_)
    sources = sorted({o.source for o in plan if o.kind == "lookup"})
    parts = []
    for i in sources:
        probe = _probe_values(estimator, names[i], repr(names[i]), string_columns[i])[:-1]
        column = table.columns[i]
        if column.is_string:
            strings = np.asarray([string_value(v) for v in probe], dtype=object)
            parts.append(string_codes(graph, column.var, strings))
        else:
            numbers = np.asarray([np.nan if v is None else float(v) for v in probe], dtype=np.float64)
            parts.append(category_codes(graph, table.select([i]).matrix(graph), [numbers]))
    lookups = [o for o in plan if o.kind == "lookup"]
    values = None
    if lookups:
        codes = parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)
        position = {i: k for k, i in enumerate(sources)}
        gathered = columns(graph, codes, [position[o.source] for o in lookups])
        values = lookup(graph, gathered, [o.table for o in lookups], graph.dtype)
    out, k = [], 0
    for o in plan:
        if o.kind == "pass":
            out.append(table.columns[o.source])
        else:
            out.append(Column(values, k, len(lookups), str(names[o.source])))
            k += 1
    return {"transform": Table(tuple(out))}
