"""Categorical encoders of other libraries, converted by asking the fitted encoder rather than re-implementing it.

Once fitted, a categorical encoder (category_encoders', feature_engine's) maps each value of an encoded column
to a fixed row of outputs, whatever the other columns and rows hold: its category's row, the row of values it
never saw, the row of missing values. :func:`plan_lookups` transforms a frame holding every category the encoder
knows, ``None``, NaN and an unseen value, column by column, and keeps what comes out as lookup tables (numbers,
or strings for encoders that output strings, such as a rare-label grouping). Before the tables are trusted it
checks that they are what ``transform`` computes: which output column each input column moves (one input per
output), that the columns left alone pass through unchanged, and that a random frame of known, unseen and
missing values is reproduced exactly. An encoder whose outputs mix columns fails that check and is refused.

Values ``transform`` refuses (an unseen category with ``unseen="raise"``, NaN with ``missing_values="raise"``)
are tabled as NaN (as a missing string in a string output): the graph cannot raise.

:func:`lower_plan` builds the graph: each encoded column's value is found among its probe values (string
equality, or numeric equality as sklearn's encoders compare, see
:func:`~sk2tensor.converters._numeric.category_codes`) and its output rows are gathered.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sk2tensor.converters._numeric import category_codes, columns, lookup
from sk2tensor.converters.preprocessing import string_codes
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.graph import STRING, Column, GraphBuilder, Table
from sk2tensor.metadata import MISSING_NAN, MISSING_NONE, string_value
from sk2tensor.registry import unsupported

#: What a string column holds when it holds nothing the encoder was fitted on.
UNKNOWN_STRING = "__sk2tensor_unknown__"
#: Rows of the frame that checks the lookup tables against ``transform``.
CHECK_ROWS = 257


@dataclass(frozen=True)
class Output:
    """How one output column is computed: ``"pass"`` (input column ``source`` as it is) or ``"lookup"``
    (``table[code]``, ``code`` the position of input ``source``'s value among its probe values, unseen last;
    ``table`` float64, or objects for a string output)."""

    kind: str
    source: int
    table: np.ndarray | None = None


@dataclass(frozen=True)
class Probe:
    """The values tabled for one encoded input column (the unseen value last), the first ``known`` of them the
    encoder's categories, and which of them ``transform`` refuses."""

    values: list[Any]
    known: int
    raises: tuple[bool, ...]

    def frame_values(self) -> list[Any]:
        """The values to put in a frame: a refused one replaced by the first category."""
        return [self.values[0] if r else v for v, r in zip(self.values, self.raises, strict=True)]


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def probe_values(owner: Any, known: Sequence[Any], label: str, is_string: bool) -> tuple[list[Any], int]:
    """The values to table for one encoded column and how many are categories: the known strings, then None,
    NaN and an unseen string for a string input; the known numbers, NaN and an unseen number for a numeric one."""
    known = [v for v in known if not is_missing(v)]
    if is_string:
        strings = sorted({v for v in known if isinstance(v, str)} - {MISSING_NAN, MISSING_NONE, UNKNOWN_STRING})
        return [*strings, None, np.nan, UNKNOWN_STRING], len(strings)
    if any(isinstance(v, str) for v in known):
        raise unsupported(
            owner,
            "column",
            label,
            "it is numeric in the data given to convert, but the encoder was fitted on strings in it: convert "
            "with the DataFrame it was fitted on (pd.read_csv turns digits into numbers: read such columns with "
            "dtype=str, or use Parquet)",
        )
    numbers = sorted({float(v) for v in known if isinstance(v, (int, float, np.number, bool))})
    unseen = (max((abs(v) for v in numbers if math.isfinite(v)), default=0.0) + 1.0) * 2 + 0.5
    return [*numbers, np.nan, unseen], len(numbers)


def data_frame(names: Sequence[Any], values: dict[int, list[Any]], rows: int) -> Any:
    """A DataFrame of ``names``: column ``i`` holds ``values[i][:rows]`` (objects when it holds a string or None,
    float64 otherwise)."""
    import pandas as pd

    data = {}
    for i, name in enumerate(names):
        column = values[i][:rows]
        is_object = any(isinstance(v, str) or v is None for v in column)
        data[name] = pd.Series(column, dtype=object if is_object else np.float64)
    return pd.DataFrame(data, columns=list(names))


def output_columns(result: Any) -> list[np.ndarray]:
    """A ``transform`` result, column by column: float64 where numeric, objects otherwise."""
    if hasattr(result, "iloc"):
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


def quiet(transform: Callable[[Any], Any]) -> Callable[[Any], list[np.ndarray]]:
    """``transform`` with its warnings silenced (the libraries' notices, once per probe, would drown the user)
    and its result split into columns."""

    def run(frame: Any) -> list[np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return output_columns(transform(frame))

    return run


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality in which NaN equals NaN (and None equals None)."""
    if a.dtype == object or b.dtype == object:
        return np.array([x == y or (is_missing(x) and is_missing(y)) for x, y in zip(a, b, strict=True)], dtype=bool)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _pass_values(is_string: bool, rows: int, seed: int) -> list[Any]:
    """Distinct values for a column the encoder leaves alone, to see it pass through."""
    if is_string:
        return [f"pass{seed}_{r}" for r in range(rows)]
    return [float(r) * 0.25 + 0.125 * seed for r in range(rows)]


def _refusals(
    owner: Any, names: Sequence[Any], values: dict[int, tuple[list[Any], int]], string_columns: list[bool], run: Any
) -> dict[int, Probe]:
    """The probes, with the values ``transform`` refuses marked (tried one row at a time, the other columns
    holding a category, when a frame of them all is refused)."""
    probes = {i: Probe(v, k, (False,) * len(v)) for i, (v, k) in values.items()}
    rows = max([len(v) for v, _ in values.values()] + [2])
    frame = {i: [probes[i].values[r % len(probes[i].values)] for r in range(rows)] if i in probes else
             _pass_values(string_columns[i], rows, 0) for i in range(len(names))}  # fmt: skip
    try:
        run(data_frame(names, frame, rows))
        return probes
    except Exception:  # any refusal of the library's transform marks a value
        pass
    safe = {i: [p.values[0]] if p.known else [p.values[-1]] for i, p in probes.items()}
    safe.update({i: _pass_values(string_columns[i], 1, 0) for i in range(len(names)) if i not in probes})
    for i, probe in probes.items():
        raises = []
        for k, value in enumerate(probe.values):
            if k < probe.known:
                raises.append(False)
                continue
            try:
                run(data_frame(names, {**safe, i: [value]}, 1))
                raises.append(False)
            except Exception:  # the library refuses this value
                raises.append(True)
        if not probe.known and any(raises):
            raise unsupported(owner, "column", repr(names[i]), "the encoder knows no category of it")
        probes[i] = Probe(probe.values, probe.known, tuple(raises))
    return probes


def plan_lookups(
    owner: Any,
    names: Sequence[Any],
    string_columns: list[bool],
    known: dict[int, Sequence[Any]],
    transform: Callable[[Any], Any],
    out_names: Sequence[Any] = (),
) -> tuple[list[Output], dict[int, Probe]]:
    """The output columns of ``transform`` (a fitted encoder's, taking a DataFrame of ``names``) as lookups on the
    encoded input columns (``known[i]``: the categories of input ``i``) and pass-throughs of the others, worked
    out by probing and checked (see the module docstring); ``string_columns[i]``: whether input ``i`` is a string
    input of the graph."""
    run = quiet(transform)
    values = {i: probe_values(owner, known[i], repr(names[i]), string_columns[i]) for i in known}
    probes = _refusals(owner, names, values, string_columns, run)
    rows = max([len(p.values) for p in probes.values()] + [2])

    def cycled(i: int, shift: int = 0, seed: int = 0) -> list[Any]:
        if i not in probes:
            return _pass_values(string_columns[i], rows, seed)
        p = probes[i].frame_values()
        return [p[(r + shift) % len(p)] for r in range(rows)]

    base_values = {i: cycled(i) for i in range(len(names))}
    base = run(data_frame(names, base_values, rows))
    outputs: list[Output | None] = [None] * len(base)
    for i in range(len(names)):
        moved = run(data_frame(names, {**base_values, i: cycled(i, 1, seed=1)}, rows))
        for j, (before, after) in enumerate(zip(base, moved, strict=True)):
            if _same(before, after).all():
                continue
            if outputs[j] is not None:
                raise _mixed(owner, out_names, j)
            if i in probes:
                outputs[j] = Output(
                    "lookup", i, _table(owner, out_names, j, before[: len(probes[i].values)], probes[i])
                )
            elif _same(before, np.asarray(base_values[i], dtype=before.dtype)).all():
                outputs[j] = Output("pass", i)
            else:
                raise _mixed(owner, out_names, j)
    for j, values_j in enumerate(base):  # moved by no input: the same value whatever the row holds
        if outputs[j] is None:
            if not probes:
                raise _mixed(owner, out_names, j)
            source = next(iter(probes))
            constant = np.full(len(probes[source].values), values_j[0], dtype=values_j.dtype)
            outputs[j] = Output("lookup", source, _table(owner, out_names, j, constant, None))
    plan = [o for o in outputs if o is not None]
    _check_plan(owner, names, plan, probes, string_columns, run, out_names)
    return plan, probes


def _as_strings(values: np.ndarray) -> np.ndarray | None:
    """An object column of strings and missing values as a string input holds them (missing values as their
    markers); None when it also holds something else (numbers beside strings)."""
    if not all(isinstance(v, str) or is_missing(v) for v in values):
        return None
    return np.asarray([string_value(v) for v in values], dtype=object)


def _table(owner: Any, out_names: Sequence[Any], j: int, rows: np.ndarray, probe: Probe | None) -> np.ndarray:
    """Output column ``j``'s table: float64, or strings (missing values as the string input's missing markers),
    refused when it mixes strings and numbers; the rows of refused values NaN (a missing string)."""
    if rows.dtype == object:
        table = _as_strings(rows)
        if table is None:
            name = str(out_names[j]) if j < len(out_names) else str(j)
            raise unsupported(owner, "output column", name, "an output column must hold numbers or strings, not both")
        if probe is not None:
            table[list(probe.raises)] = MISSING_NAN
        return table
    table = rows.astype(np.float64)
    if probe is not None:
        table[list(probe.raises)] = np.nan
    return table


def _mixed(owner: Any, out_names: Sequence[Any], j: int) -> UnsupportedParameterError:
    name = str(out_names[j]) if j < len(out_names) else str(j)
    return unsupported(
        owner,
        "output column",
        name,
        "sk2tensor converts encoders whose every output column is a function of one input column's value "
        "(this one's is not, as found by probing the fitted encoder)",
    )


def _check_plan(
    owner: Any,
    names: Sequence[Any],
    plan: list[Output],
    probes: dict[int, Probe],
    string_columns: list[bool],
    run: Callable[[Any], list[np.ndarray]],
    out_names: Sequence[Any],
) -> None:
    """Refuse the plan unless it reproduces ``transform`` on random rows of known, unseen and missing values."""
    rng = np.random.default_rng(0)
    allowed = {i: [k for k, r in enumerate(p.raises) if not r] for i, p in probes.items()}
    codes = {i: rng.choice(allowed[i], CHECK_ROWS) for i in probes}
    values = {
        i: [probes[i].values[c] for c in codes[i]] if i in probes else _pass_values(string_columns[i], CHECK_ROWS, 2)
        for i in range(len(names))
    }
    got = run(data_frame(names, values, CHECK_ROWS))
    if len(got) != len(plan):
        raise _mixed(owner, out_names, len(plan))
    for j, (output, actual) in enumerate(zip(plan, got, strict=True)):
        if output.kind == "pass":
            expected = np.asarray(values[output.source], dtype=actual.dtype)
        elif actual.dtype == object:
            expected = output.table[codes[output.source]]
            actual = _as_strings(actual)
            if actual is None:
                raise _mixed(owner, out_names, j)
        else:
            expected = output.table[codes[output.source]]
        if not _same(np.asarray(expected), np.asarray(actual)).all():
            raise _mixed(owner, out_names, j)


def lower_plan(graph: GraphBuilder, x: Table, plan: list[Output], probes: dict[int, Probe]) -> Table:
    """The graph of a plan on the input columns ``x``: numeric lookups in one Gather, each string output in its
    own ``[batch, 1]`` Gather, pass-throughs as they are (strings stay strings)."""
    sources = sorted({o.source for o in plan if o.kind == "lookup"})
    parts = []
    for i in sources:
        probe = probes[i].values[:-1]
        column = x.columns[i]
        if column.is_string:
            strings = np.asarray([string_value(v) for v in probe], dtype=object)
            parts.append(string_codes(graph, column.var, strings))
        else:
            numbers = np.asarray([np.nan if v is None else float(v) for v in probe], dtype=np.float64)
            parts.append(category_codes(graph, x.select([i]).matrix(graph), [numbers]))
    codes = None
    if parts:
        codes = parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)
    position = {i: k for k, i in enumerate(sources)}
    numeric = [o for o in plan if o.kind == "lookup" and o.table.dtype != object]
    values = None
    if numeric:
        gathered = columns(graph, codes, [position[o.source] for o in numeric])
        values = lookup(graph, gathered, [o.table for o in numeric], graph.dtype)
    out, k = [], 0
    for o in plan:
        if o.kind == "pass":
            out.append(x.columns[o.source])
        elif o.table.dtype == object:
            strings = lookup(graph, columns(graph, codes, [position[o.source]]), [o.table], STRING)
            out.append(Column(strings))
        else:
            out.append(Column(values, k, len(numeric)))
            k += 1
    return Table(tuple(out))
