"""A small ONNX graph builder: unique names, named initializers, one method per operator used.

Converters emit nodes only through this class. It owns the opset, the floating dtype of the graph and the
rule that every node belongs to the default ``ai.onnx`` domain, so an exported graph runs on any ONNX
runtime and execution provider (no ``ai.onnx.ml`` operator can be emitted).

String columns. A model fitted on a DataFrame with string (object, ``str`` or categorical) columns takes one
string input ``[batch, 1]`` per such column next to the numeric input. Strings enter the graph only through
``Equal`` against constant string vectors (legal on strings from opset 19 on, :data:`STRING_OPSET`) and move
only through ``Where``, ``Gather`` and ``Concat``; everything after the comparison is numeric. ONNX Runtime
has no CUDA kernels for strings and places those few nodes on its CPU provider by itself, the rest wherever the
session runs. A :class:`Table` lists the columns a converter receives when some are strings: per column, a
column of a numeric ``Var`` or a string ``Var``; converters that do not take tables get a plain numeric matrix
(see :func:`sk2tensor.registry.lower`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Lowest opset the builder emits: ReduceSum/Squeeze/Unsqueeze take axes as inputs from 13 on.
MIN_OPSET = 13
#: Default opset of exported models; the lowest that holds every operator the builder emits.
DEFAULT_OPSET = 13
#: Lowest opset whose ``Equal`` compares strings: graphs with string inputs are built at it (or above).
STRING_OPSET = 19
#: Lowest opset whose ScatterND and ScatterElements add up repeated indices (``reduction="add"``): graphs that
#: take sparse rows (:meth:`GraphBuilder.sparse_input`) are built at it (or above).
SPARSE_OPSET = 16
#: Names of the three inputs of a graph that takes sparse rows, in compressed sparse row (CSR) form.
SPARSE_INPUTS = ("indptr", "indices", "values")
#: The element type of string values (numpy holds Python strings in object arrays).
STRING = np.dtype(object)
#: Float unary operators :meth:`GraphBuilder.unary` emits (all in opset 13).
UNARY_FLOAT_OPS = frozenset(
    {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh"}
)


@dataclass(frozen=True)
class Var:
    """A value in the graph: its unique name and element type."""

    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`: ``var[:, index]`` of a numeric ``var`` of ``width`` columns, or a string
    ``var`` of shape ``[batch, 1]`` (``index`` 0, ``width`` 1)."""

    var: Var
    index: int = 0
    width: int = 1
    #: The DataFrame column it comes from, for messages ("" when it is computed).
    label: str = ""

    @property
    def is_string(self) -> bool:
        return self.var.dtype == STRING


@dataclass(frozen=True)
class Table:
    """The columns a converter receives when some of them are strings, in the estimator's column order.

    Numeric columns stay columns of the matrices they come from (the graph's numeric input, or a converter's
    output), so a run of them becomes one matrix again with a single Gather (:meth:`matrix`)."""

    columns: tuple[Column, ...]

    @classmethod
    def of_matrix(cls, var: Var, width: int) -> Table:
        """The ``width`` columns of a numeric matrix ``var``."""
        return cls(tuple(Column(var, j, width) for j in range(width)))

    @classmethod
    def concat(cls, parts: Sequence[Table]) -> Table:
        """The columns of ``parts`` side by side."""
        return cls(tuple(column for part in parts for column in part.columns))

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def has_strings(self) -> bool:
        return any(column.is_string for column in self.columns)

    def select(self, indices: Sequence[int]) -> Table:
        """The columns at ``indices``, in that order."""
        return Table(tuple(self.columns[int(i)] for i in indices))

    def matrix(self, graph: GraphBuilder, dtype: Any = None) -> Var:
        """The columns as one numeric ``[batch, len(self)]`` matrix of ``dtype`` (default the graph's): a Gather
        per run of columns from the same source, then a Concat; :class:`ValueError` when a column is a string."""
        if self.has_strings:
            raise ValueError("a string column cannot be part of a numeric matrix")
        runs: list[tuple[Var, int, list[int]]] = []
        for column in self.columns:
            if runs and runs[-1][0] == column.var:
                runs[-1][2].append(column.index)
            else:
                runs.append((column.var, column.width, [column.index]))
        parts = []
        for var, width, indices in runs:
            part = var if indices == list(range(width)) else graph.gather(var, graph.int64s(indices, "columns"), axis=1)
            parts.append(graph.cast(part, graph.dtype if dtype is None else dtype))
        if not parts:
            raise ValueError("a table without columns has no matrix")
        return parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)


@dataclass(frozen=True)
class SparseRows:
    """Rows in compressed sparse row form, as a model exported with ``sparse_input=True`` receives them.

    The graph inputs are scipy's CSR arrays: ``indptr`` ``[batch + 1]`` (int64, from 0 to the number of stored
    entries), ``indices`` ``[nnz]`` (int64 column of each stored entry) and ``values`` ``[nnz]`` (the graph's
    float dtype). Converters registered with ``sparse=True`` receive this and work on the stored entries only,
    as sklearn does on a sparse matrix; every other converter gets the dense matrix
    (:meth:`GraphBuilder.sparse_dense`)."""

    #: ``[nnz]`` the stored values, row after row.
    values: Var
    #: ``[nnz]`` int64 column of each value.
    columns: Var
    #: ``[nnz]`` int64 row of each value.
    rows: Var
    #: ``[batch]`` float64 zeros: the batch size, carried without shape operators.
    batch_zeros: Var
    #: Columns of the matrix.
    width: int

    def with_values(self, values: Var) -> SparseRows:
        """The same entries holding ``values``."""
        return SparseRows(values, self.columns, self.rows, self.batch_zeros, self.width)


_ONNX_TYPE = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
    STRING: TensorProto.STRING,
}


def onnx_type(dtype: Any) -> int:
    """The TensorProto element type of a numpy dtype the builder supports."""
    try:
        return _ONNX_TYPE[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"dtype {np.dtype(dtype)} is not used in sk2tensor graphs") from None


def max_supported_opset() -> int:
    """Highest default-domain opset the installed onnx package knows."""
    return onnx.defs.onnx_opset_version()


#: A table is stored in a narrower type only when that saves at least this many bytes (a Cast node each).
COMPACT_MIN_SAVED_BYTES = 4096
_INTEGER_STORAGE = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32))
_FLOAT_STORAGE = (*_INTEGER_STORAGE[:4], np.dtype(np.float16), np.dtype(np.float32))


def narrowest_exact(array: np.ndarray) -> np.ndarray | None:
    """``array`` in the narrowest numeric type that holds every value bit for bit, or None when none saves
    :data:`COMPACT_MIN_SAVED_BYTES`.

    Graphs store such a table narrow and widen it with a ``Cast``, which ONNX Runtime computes once, when it
    loads the model (constant folding): a smaller file, the same values and the same run time. Tree tables
    are where it pays: node and column indices fit 8 or 16 bits, and the leaf values of fully grown
    classification forests are 0 and 1. Round trips are checked on the bytes, so ``-0.0`` stays a float and
    NaN (whose payload a Cast need not keep) is never narrowed.
    """
    if array.dtype.kind not in "iuf" or array.size == 0:
        return None
    candidates = _INTEGER_STORAGE if array.dtype.kind in "iu" else _FLOAT_STORAGE
    if array.dtype.kind == "f" and np.isnan(array).any():
        return None
    for dtype in candidates:
        if (array.itemsize - dtype.itemsize) * array.size < COMPACT_MIN_SAVED_BYTES:
            return None
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                continue
            if array.min() < info.min or array.max() > info.max:
                continue
        with np.errstate(over="ignore", invalid="ignore"):
            narrow = array.astype(dtype)
        if narrow.astype(array.dtype).tobytes() == array.tobytes():
            return narrow
    return None


class GraphBuilder:
    """Builds one ONNX graph; see the module docstring."""

    def __init__(self, *, dtype: Any = np.float32, opset: int = DEFAULT_OPSET) -> None:
        if not MIN_OPSET <= opset <= max_supported_opset():
            raise ValueError(f"opset must be between {MIN_OPSET} and {max_supported_opset()}, got {opset}")
        self.dtype = np.dtype(dtype)
        onnx_type(self.dtype)
        self.opset = opset
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._vector_constants: dict[str, np.ndarray] = {}
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[str] = []
        self._used_names: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._constants: dict[tuple, Var] = {}

    # ----------------------------------------------------------------- naming and values
    def fresh(self, hint: str) -> str:
        """A name not used yet in this graph, derived from ``hint``."""
        name = hint
        if name in self._used_names:
            # The next suffix to try per hint, so that thousands of same-hint nodes cost no quadratic search.
            i = self._next_suffix.get(hint, 1)
            while f"{hint}_{i}" in self._used_names:
                i += 1
            self._next_suffix[hint] = i + 1
            name = f"{hint}_{i}"
        self._used_names.add(name)
        return name

    def input(self, name: str, n_features: int) -> Var:
        """The graph input: shape ``[batch, n_features]`` of the graph's float dtype."""
        self._used_names.add(name)
        self._inputs.append(helper.make_tensor_value_info(name, onnx_type(self.dtype), ["batch", n_features]))
        return Var(name, self.dtype)

    def is_input(self, name: str) -> bool:
        """Whether ``name`` is one of the graph's inputs."""
        return any(value.name == name for value in self._inputs)

    def sparse_input(self, n_features: int) -> SparseRows:
        """The three CSR graph inputs (:data:`SPARSE_INPUTS`) of rows ``n_features`` wide, and each stored
        entry's row: a 1 at each row's first entry (``indptr[1:-1]``, summed where rows are empty), then a
        running sum."""
        if self.opset < SPARSE_OPSET:
            raise ValueError(f"sparse inputs need opset {SPARSE_OPSET} or above (Scatter with sums), not {self.opset}")
        indptr_name, indices_name, values_name = SPARSE_INPUTS
        for name, dtype, dims in (
            (indptr_name, np.int64, ["batch_plus_one"]),
            (indices_name, np.int64, ["nnz"]),
            (values_name, self.dtype, ["nnz"]),
        ):
            self._used_names.add(name)
            self._inputs.append(helper.make_tensor_value_info(name, onnx_type(dtype), dims))
        indptr, columns = Var(indptr_name, np.dtype(np.int64)), Var(indices_name, np.dtype(np.int64))
        zero = self.const(np.int64(0), "zero", dtype=np.int64)
        starts = self.slice(indptr, [1], [-1])  # where rows 1.. begin; nnz itself for empty rows at the end
        marks = self.concat([self.mul(columns, zero), self.int64s([0], "zero")], axis=0)  # [nnz + 1] zeros
        ones = self.add(self.mul(starts, zero), self.const(np.int64(1), "one", dtype=np.int64))
        marks = self._node("ScatterElements", [marks, starts, ones], np.int64, axis=0, reduction="add")
        rows = self.slice(self.cumsum(marks, 0), [0], [-1])
        ends = self.slice(indptr, [1], [np.iinfo(np.int64).max])
        batch_zeros = self.mul(self.cast(ends, np.float64), self.const(0.0, "zero", dtype=np.float64))
        return SparseRows(Var(values_name, self.dtype), columns, rows, batch_zeros, int(n_features))

    def zeros(self, batch_zeros: Var, width: int | None, dtype: Any) -> Var:
        """Zeros ``[batch]`` (``width`` None) or ``[batch, width]`` of ``dtype``, the batch taken from a ``[batch]``
        float64 zero vector (no shape operator, which a strict CUDA session would refuse)."""
        column = self.cast(batch_zeros, dtype)
        if width is None:
            return column
        return self.add(self.unsqueeze(column, [1]), self.const(np.zeros((1, width)), "zeros", dtype=dtype))

    def scatter_add(self, data: Var, indices: Var, updates: Var) -> Var:
        """``data`` plus each of ``updates`` at its index (ONNX ScatterND, ``reduction="add"``): ``indices`` is
        ``[n, k]``, the first ``k`` coordinates into ``data``; the sums run in the order of ``updates``."""
        return self._node("ScatterND", [data, indices, updates], data.dtype, reduction="add")

    def scatter_nd(self, data: Var, indices: Var, updates: Var) -> Var:
        """``data`` with each of ``updates`` written at its index (ONNX ScatterND; ``indices`` is ``[n, k]``, the
        first ``k`` coordinates into ``data``; strings too)."""
        return self._node("ScatterND", [data, indices, updates], data.dtype)

    def sparse_dense(self, x: SparseRows) -> Var:
        """The dense ``[batch, width]`` matrix of sparse rows (repeated entries summed, as scipy's ``toarray``)."""
        at = self.concat([self.unsqueeze(x.rows, [1]), self.unsqueeze(x.columns, [1])], axis=1)
        return self.scatter_add(self.zeros(x.batch_zeros, x.width, x.values.dtype), at, x.values)

    def sparse_row_sums(self, x: SparseRows, entries: Var) -> Var:
        """``[batch]`` sums of ``entries`` (one per stored entry of ``x``, any float dtype) row by row, each row's
        entries added in order from zero (scipy's and sklearn's loops over a CSR row)."""
        return self.scatter_add(self.zeros(x.batch_zeros, None, entries.dtype), self.unsqueeze(x.rows, [1]), entries)

    def sparse_matmul(self, x: SparseRows, table: np.ndarray, dtype: Any) -> Var:
        """``x @ table`` for a constant ``table`` ``[x.width]`` (a ``[batch]`` result) or ``[x.width, k]``, in
        ``dtype``: each stored value times its column's row of ``table``, added row by row in storage order
        (scipy's CSR product, bit for bit).

        The values are spread over ``k`` columns by a MatMul with a row of ones (exact), not by broadcasting
        ``[entries, 1]`` against ``[entries, k]``: ONNX Runtime's CPU Mul takes that broadcast one short row at a
        time (115,000 entries, k = 5, one thread, Intel Xeon: 2.7 against 4.0 ms in float32, 4.7 against 4.6 ms
        in float64, sums included)."""
        values = self.cast(x.values, dtype)
        if table.ndim == 1:
            terms = self.mul(self.take(self.const(table, "table", dtype=dtype), x.columns), values)
            zeros = self.zeros(x.batch_zeros, None, dtype)
        else:
            picked = self.gather(self.const(table, "table", dtype=dtype), x.columns, axis=0)
            ones = self.const(np.ones((1, table.shape[1])), "ones", dtype=dtype)
            terms = self.mul(picked, self.matmul(self.unsqueeze(values, [1]), ones))
            zeros = self.zeros(x.batch_zeros, table.shape[1], dtype)
        return self.scatter_add(zeros, self.unsqueeze(x.rows, [1]), terms)

    def string_input(self, name: str) -> Var:
        """A string graph input of shape ``[batch, 1]`` (one DataFrame column)."""
        if self.opset < STRING_OPSET:
            raise ValueError(f"string inputs need opset {STRING_OPSET} or above (Equal on strings), not {self.opset}")
        self._used_names.add(name)
        self._inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["batch", 1]))
        return Var(name, STRING)

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> Var:
        """A named initializer; ``dtype`` defaults to the graph's float dtype for float data, and strings are
        string tensors.

        Identical small constants are shared rather than stored twice.
        """
        array = np.asarray(value)
        if dtype is None:
            dtype = self.dtype if array.dtype.kind == "f" else STRING if array.dtype.kind in "OUS" else array.dtype
        array = np.array(array, dtype=dtype, order="C")  # keeps 0-d scalars 0-d
        if array.dtype == STRING and not all(isinstance(v, str) for v in array.flat):
            raise TypeError("string constants hold str values only")
        key = None
        if array.size <= 16:
            content = tuple(array.flat) if array.dtype == STRING else array.tobytes()
            key = (array.dtype.str, array.shape, content)
            if key in self._constants:
                return self._constants[key]
        onnx_type(array.dtype)
        name = self.fresh(hint)
        stored = narrowest_exact(array)
        if stored is None:
            self._initializers.append(numpy_helper.from_array(array, name))
        else:
            stored_name = self.fresh(f"{hint}_{stored.dtype.name}")
            self._initializers.append(numpy_helper.from_array(stored, stored_name))
            cast = helper.make_node("Cast", [stored_name], [name], name=self.fresh(f"n_widen_{hint}"))
            cast.attribute.append(helper.make_attribute("to", onnx_type(array.dtype)))
            self._nodes.append(cast)
        if array.ndim == 1:
            self._vector_constants[name] = array
        var = Var(name, array.dtype)
        if key is not None:
            self._constants[key] = var
        return var

    def int64s(self, values: Sequence[int], hint: str = "ints") -> Var:
        """An int64 vector initializer (axes, shapes, indices)."""
        return self.const(np.asarray(values, dtype=np.int64), hint, dtype=np.int64)

    def _node(
        self,
        op_type: str,
        inputs: Sequence[Var | None],
        out_dtype: Any,
        *,
        hint: str | None = None,
        n_outputs: int = 1,
        domain: str = "",
        **attrs: Any,
    ) -> Any:
        if domain != "":
            raise ValueError(f"{op_type} from domain {domain!r}: sk2tensor graphs use the default domain only")
        outs = [Var(self.fresh(hint or op_type.lower()), np.dtype(out_dtype)) for _ in range(n_outputs)]
        names = ["" if v is None else v.name for v in inputs]
        self._nodes.append(
            helper.make_node(op_type, names, [o.name for o in outs], name=self.fresh(f"n_{op_type}"), **attrs)
        )
        return outs[0] if n_outputs == 1 else outs

    # ----------------------------------------------------------------- elementwise arithmetic
    def add(self, a: Var, b: Var) -> Var:
        return self._node("Add", [a, b], a.dtype)

    def sub(self, a: Var, b: Var) -> Var:
        return self._node("Sub", [a, b], a.dtype)

    def mul(self, a: Var, b: Var) -> Var:
        return self._node("Mul", [a, b], a.dtype)

    def div(self, a: Var, b: Var) -> Var:
        return self._node("Div", [a, b], a.dtype)

    def neg(self, a: Var) -> Var:
        return self._node("Neg", [a], a.dtype)

    def exp(self, a: Var) -> Var:
        return self._node("Exp", [a], a.dtype)

    def log(self, a: Var) -> Var:
        return self._node("Log", [a], a.dtype)

    def sigmoid(self, a: Var) -> Var:
        return self._node("Sigmoid", [a], a.dtype)

    def softmax(self, a: Var, axis: int = -1) -> Var:
        return self._node("Softmax", [a], a.dtype, axis=axis)

    def pow(self, base: Var, exponent: Var) -> Var:
        return self._node("Pow", [base, exponent], base.dtype)

    def max(self, *values: Var) -> Var:
        return self._node("Max", list(values), values[0].dtype)

    def clip(self, a: Var, low: Var | None = None, high: Var | None = None) -> Var:
        return self._node("Clip", [a, low, high], a.dtype)

    def relu(self, a: Var) -> Var:
        return self._node("Relu", [a], a.dtype)

    # elementwise operators used by preprocessing converters
    def abs(self, a: Var) -> Var:
        return self._node("Abs", [a], a.dtype)

    def sqrt(self, a: Var) -> Var:
        return self._node("Sqrt", [a], a.dtype)

    def floor(self, a: Var) -> Var:
        return self._node("Floor", [a], a.dtype)

    def ceil(self, a: Var) -> Var:
        return self._node("Ceil", [a], a.dtype)

    def sign(self, a: Var) -> Var:
        return self._node("Sign", [a], a.dtype)

    def unary(self, op_type: str, a: Var) -> Var:
        """A float unary operator from :data:`UNARY_FLOAT_OPS` (trigonometric and hyperbolic functions)."""
        if op_type not in UNARY_FLOAT_OPS:
            raise ValueError(f"{op_type} is not one of {sorted(UNARY_FLOAT_OPS)}")
        return self._node(op_type, [a], a.dtype)

    def min(self, *values: Var) -> Var:
        return self._node("Min", list(values), values[0].dtype)

    def mod(self, a: Var, b: Var) -> Var:
        """C's ``fmod``: the remainder has the sign of ``a``."""
        return self._node("Mod", [a, b], a.dtype, fmod=1)

    # ----------------------------------------------------------------- linear algebra
    def matmul(self, a: Var, b: Var) -> Var:
        """``a @ b`` with numpy's rules; a 1-D constant ``b`` is stored as a column and the result squeezed,
        since ONNX Runtime's CPU MatMul is ~10× slower with a 1-D right operand than with a ``[k, 1]`` one."""
        vector = self._vector_constants.get(b.name)
        if vector is None:
            return self._node("MatMul", [a, b], a.dtype)
        column = self.const(vector.reshape(-1, 1), f"{b.name}_column", dtype=vector.dtype)
        return self.squeeze(self._node("MatMul", [a, column], a.dtype), [-1])

    def gemm(self, a: Var, b: Var, c: Var | None = None, *, trans_b: bool = False) -> Var:
        """``a @ b (+ c)`` for 2-D ``a`` and ``b``; ``c`` broadcasts."""
        inputs = [a, b] if c is None else [a, b, c]
        return self._node("Gemm", inputs, a.dtype, transB=int(trans_b))

    # ----------------------------------------------------------------- comparisons and selection
    def less_equal(self, a: Var, b: Var) -> Var:
        return self._node("LessOrEqual", [a, b], np.bool_)

    def less(self, a: Var, b: Var) -> Var:
        return self._node("Less", [a, b], np.bool_)

    def greater(self, a: Var, b: Var) -> Var:
        return self._node("Greater", [a, b], np.bool_)

    def greater_equal(self, a: Var, b: Var) -> Var:
        return self._node("GreaterOrEqual", [a, b], np.bool_)

    def equal(self, a: Var, b: Var) -> Var:
        if STRING in (a.dtype, b.dtype) and self.opset < STRING_OPSET:
            raise ValueError(f"Equal on strings needs opset {STRING_OPSET} or above, not {self.opset}")
        return self._node("Equal", [a, b], np.bool_)

    def is_nan(self, a: Var) -> Var:
        return self._node("IsNaN", [a], np.bool_)

    def logical_or(self, a: Var, b: Var) -> Var:
        return self._node("Or", [a, b], np.bool_)

    def logical_and(self, a: Var, b: Var) -> Var:
        return self._node("And", [a, b], np.bool_)

    def logical_xor(self, a: Var, b: Var) -> Var:
        return self._node("Xor", [a, b], np.bool_)

    def logical_not(self, a: Var) -> Var:
        return self._node("Not", [a], np.bool_)

    def where(self, condition: Var, a: Var, b: Var) -> Var:
        return self._node("Where", [condition, a, b], a.dtype)

    def argmax(self, a: Var, axis: int = -1, keepdims: bool = False) -> Var:
        """Index of the first maximum along ``axis`` (ties go to the lowest index, as numpy)."""
        return self._node("ArgMax", [a], np.int64, axis=axis, keepdims=int(keepdims))

    def argmin(self, a: Var, axis: int = -1, keepdims: bool = False) -> Var:
        """Index of the first minimum along ``axis`` (ties go to the lowest index, as numpy)."""
        return self._node("ArgMin", [a], np.int64, axis=axis, keepdims=int(keepdims))

    def cumsum(self, a: Var, axis: int) -> Var:
        """Running sum along ``axis``, first element first."""
        return self._node("CumSum", [a, self.const(np.int64(axis), "axis", dtype=np.int64)], a.dtype)

    def topk(self, a: Var, k: int | Var, axis: int = -1, largest: bool = True) -> tuple[Var, Var]:
        """The ``k`` largest (or smallest) values along ``axis``, sorted, and their int64 indices; equal values
        come out lowest index first (ONNX TopK semantics). ``k`` is a number, or an int64 ``[1]`` value computed
        in the graph (the output's width then comes from the data, with no shape operator)."""
        count = k if isinstance(k, Var) else self.int64s([k], "k")
        values, indices = self._node(
            "TopK", [a, count], a.dtype, n_outputs=2, axis=axis, largest=int(largest), sorted=1
        )
        return values, Var(indices.name, np.dtype(np.int64))

    def unique(self, a: Var) -> tuple[Var, Var]:
        """The distinct values of the 1-D ``a`` in order of first appearance, and for each element of ``a`` the
        position of its value among them (int64): ONNX Unique, unsorted."""
        values, _, inverse, _ = self._node("Unique", [a], a.dtype, n_outputs=4, sorted=0)
        return values, Var(inverse.name, np.dtype(np.int64))

    def compress(self, data: Var, mask: Var) -> Var:
        """The entries of the 1-D ``data`` where the bool ``mask`` is true, in order (ONNX Compress)."""
        return self._node("Compress", [data, mask], data.dtype, axis=0)

    # ----------------------------------------------------------------- strings (opset 20)
    def string_split(self, x: Var, delimiter: str, maxsplit: int | None = None) -> tuple[Var, Var]:
        """Each string of ``x`` split on ``delimiter`` (at most ``maxsplit`` times): the parts, padded with
        empty strings to the most parts of any string (one more axis), and each string's number of parts."""
        attributes: dict[str, Any] = {"delimiter": delimiter}
        if maxsplit is not None:
            attributes["maxsplit"] = maxsplit
        parts, counts = self._node("StringSplit", [x], STRING, n_outputs=2, **attributes)
        return parts, Var(counts.name, np.dtype(np.int64))

    def regex_match(self, x: Var, pattern: str) -> Var:
        """Whether each string of ``x`` matches the RE2 ``pattern`` whole (ONNX RegexFullMatch)."""
        return self._node("RegexFullMatch", [x], np.bool_, pattern=pattern)

    def string_concat(self, a: Var, b: Var) -> Var:
        """``a + b`` element by element, with broadcasting (ONNX StringConcat)."""
        return self._node("StringConcat", [a, b], STRING)

    def gather(self, data: Var, indices: Var, axis: int = 0) -> Var:
        """``np.take(data, indices, axis)``. Constant index vectors along a trailing axis that form a few runs of
        consecutive indices become Slices (concatenated): ONNX Runtime's CPU Gather copies element by element
        along a trailing axis, about ten times slower than a Slice of the same columns (100,000 x 8 float32:
        6.0 vs 0.6 ms, one thread)."""
        runs = self._index_runs(indices) if axis >= 1 else None
        if runs is None:
            return self._node("Gather", [data, indices], data.dtype, axis=axis)
        parts = [
            self._node(
                "Slice",
                [data, self.int64s([start], "starts"), self.int64s([stop], "ends"), self.int64s([axis], "axes")],
                data.dtype,
            )
            for start, stop in runs
        ]
        return parts[0] if len(parts) == 1 else self.concat(parts, axis=axis)

    #: Most runs of consecutive indices a Gather becomes Slices for (more Slice nodes cost more than the Gather).
    MAX_SLICE_RUNS = 8

    def _index_runs(self, indices: Var) -> list[tuple[int, int]] | None:
        """``[(start, stop), ...]`` of a constant, non-negative int index vector, or None."""
        values = self._vector_constants.get(indices.name)
        if values is None or values.dtype.kind not in "iu" or values.size == 0 or values.min() < 0:
            return None
        runs: list[tuple[int, int]] = []
        for value in values.tolist():
            if runs and value == runs[-1][1]:
                runs[-1] = (runs[-1][0], value + 1)
            else:
                runs.append((value, value + 1))
        return runs if len(runs) <= self.MAX_SLICE_RUNS else None

    def slice(self, data: Var, starts: Sequence[int], ends: Sequence[int]) -> Var:
        """``data[starts[0]:ends[0], starts[1]:ends[1], ...]`` over its leading axes, with constant bounds."""
        return self._node("Slice", [data, self.int64s(starts, "starts"), self.int64s(ends, "ends")], data.dtype)

    def scatter_elements(self, data: Var, indices: Var, updates: Var, axis: int = 0) -> Var:
        """``data`` with ``updates`` written at ``indices`` along ``axis`` (ONNX ScatterElements, no reduction:
        the indices of one row must be distinct)."""
        return self._node("ScatterElements", [data, indices, updates], data.dtype, axis=axis)

    def gather_elements(self, data: Var, indices: Var, axis: int = 0) -> Var:
        return self._node("GatherElements", [data, indices], data.dtype, axis=axis)

    def take(self, data: Var, indices: Var) -> Var:
        """``data[indices]`` for a vector ``data`` and a vector ``indices``. GatherElements, not Gather: on a vector
        they compute the same, and ONNX Runtime's CPU Gather copies each element on its own, 3-5x slower
        (458,242 indices, one thread, Intel Xeon: 10,000 doubles 3.3 against 0.7 ms, 2^18 doubles 6.0 against
        1.4 ms)."""
        return self._node("GatherElements", [data, indices], data.dtype, axis=0)

    # ----------------------------------------------------------------- shapes and types
    def cast(self, a: Var, dtype: Any) -> Var:
        if np.dtype(dtype) == a.dtype:
            return a
        return self._node("Cast", [a], dtype, to=onnx_type(dtype))

    def reshape(self, a: Var, shape: Sequence[int]) -> Var:
        """Reshape to a constant target shape (``-1`` and ``0`` as in ONNX); no runtime shape ops."""
        return self._node("Reshape", [a, self.int64s(shape, "shape")], a.dtype)

    def concat(self, values: Sequence[Var], axis: int) -> Var:
        return self._node("Concat", list(values), values[0].dtype, axis=axis)

    def transpose(self, a: Var, perm: Sequence[int]) -> Var:
        return self._node("Transpose", [a], a.dtype, perm=list(perm))

    def unsqueeze(self, a: Var, axes: Sequence[int]) -> Var:
        return self._node("Unsqueeze", [a, self.int64s(axes, "axes")], a.dtype)

    def squeeze(self, a: Var, axes: Sequence[int]) -> Var:
        return self._node("Squeeze", [a, self.int64s(axes, "axes")], a.dtype)

    def identity(self, a: Var, name: str | None = None) -> Var:
        return self._node("Identity", [a], a.dtype, hint=name)

    # ----------------------------------------------------------------- reductions
    def reduce_sum(self, a: Var, axes: Sequence[int], keepdims: bool = False) -> Var:
        return self._node("ReduceSum", [a, self.int64s(axes, "axes")], a.dtype, keepdims=int(keepdims))

    def _reduce(self, op_type: str, a: Var, axes: Sequence[int], keepdims: bool) -> Var:
        # ReduceMax/Min/Mean take axes as an attribute before opset 18 and as an input from 18 on.
        if self.opset >= 18:
            return self._node(op_type, [a, self.int64s(axes, "axes")], a.dtype, keepdims=int(keepdims))
        return self._node(op_type, [a], a.dtype, axes=list(axes), keepdims=int(keepdims))

    def reduce_max(self, a: Var, axes: Sequence[int], keepdims: bool = False) -> Var:
        return self._reduce("ReduceMax", a, axes, keepdims)

    def reduce_mean(self, a: Var, axes: Sequence[int], keepdims: bool = False) -> Var:
        return self._reduce("ReduceMean", a, axes, keepdims)

    def reduce_min(self, a: Var, axes: Sequence[int], keepdims: bool = False) -> Var:
        return self._reduce("ReduceMin", a, axes, keepdims)

    # ----------------------------------------------------------------- control flow
    def loop(
        self, max_trips: int | Var, carried: Sequence[Var], ranks: Sequence[int], body: Any, hint: str = "loop"
    ) -> list[Var]:
        """An ONNX ``Loop`` over the values ``carried`` (of the given ranks), at most ``max_trips`` times (a
        number, or an int64 ``[1]`` value computed in the graph).

        ``body(sub, *values)`` gets a builder for the loop body (its constants go to this graph, whose
        values the body may read) and the current values; it returns ``(keep_going, new_values)``, with
        ``keep_going`` a bool scalar that ends the loop when false. Returns the final values.
        """
        sub = self._sub_builder()
        names = [sub.fresh(f"{hint}_iteration"), sub.fresh(f"{hint}_condition")]
        values = [Var(sub.fresh(f"{hint}_{v.name}"), v.dtype) for v in carried]
        keep_going, new_values = body(sub, *values)
        outputs = [sub.identity(v) for v in [keep_going, *new_values]]
        graph = helper.make_graph(
            sub._nodes,
            self.fresh(f"{hint}_body"),
            [
                helper.make_tensor_value_info(names[0], TensorProto.INT64, []),
                helper.make_tensor_value_info(names[1], TensorProto.BOOL, []),
                *[
                    helper.make_tensor_value_info(v.name, onnx_type(v.dtype), [None] * rank)
                    for v, rank in zip(values, ranks, strict=True)
                ],
            ],
            [
                helper.make_tensor_value_info(v.name, onnx_type(v.dtype), [None] * rank)
                for v, rank in zip(outputs, [0, *ranks], strict=True)
            ],
        )
        if isinstance(max_trips, Var):
            trips = self.reshape(max_trips, [])
        else:
            trips = self.const(np.int64(max_trips), "max_trips", dtype=np.int64)
        start = self.const(np.bool_(True), "true", dtype=np.bool_)
        results = self._node("Loop", [trips, start, *carried], carried[0].dtype, n_outputs=len(carried), body=graph)
        results = results if isinstance(results, list) else [results]
        # Shape inference gives Loop outputs no rank; a Reshape copying every dimension restores it.
        return [
            self.reshape(Var(r.name, v.dtype), [0] * rank) for r, v, rank in zip(results, carried, ranks, strict=True)
        ]

    def if_(
        self, condition: Var, then_branch: Any, else_branch: Any, ranks: Sequence[int], hint: str = "if"
    ) -> list[Var]:
        """An ONNX ``If`` on the bool scalar ``condition``: only the branch it picks runs.

        ``then_branch(sub)`` and ``else_branch(sub)`` get a builder for their branch (its constants go to this
        graph, whose values the branch may read) and return their outputs: the same number, dtypes and ``ranks``.
        """
        branches, outputs = [], []
        for branch, name in ((then_branch, "then"), (else_branch, "else")):
            sub = self._sub_builder()
            values = [sub.identity(v) for v in branch(sub)]
            value_infos = [
                helper.make_tensor_value_info(v.name, onnx_type(v.dtype), [None] * rank)
                for v, rank in zip(values, ranks, strict=True)
            ]
            branches.append(helper.make_graph(sub._nodes, self.fresh(f"{hint}_{name}"), [], value_infos))
            outputs.append(values)
        if [v.dtype for v in outputs[0]] != [v.dtype for v in outputs[1]]:
            raise ValueError("the two branches of an If must give outputs of the same dtypes")
        then_graph, else_graph = branches
        dtype = outputs[0][0].dtype
        results = self._node(
            "If", [condition], dtype, n_outputs=len(ranks), then_branch=then_graph, else_branch=else_graph
        )
        results = results if isinstance(results, list) else [results]
        # As for Loop: a Reshape copying every dimension gives the outputs their rank for shape inference.
        pairs = zip(results, outputs[0], ranks, strict=True)
        return [self.reshape(Var(r.name, v.dtype), [0] * rank) for r, v, rank in pairs]

    def _sub_builder(self) -> GraphBuilder:
        """A builder for a subgraph (a Loop body, an If branch) of this graph: its own nodes, this graph's names,
        constants and initializers."""
        sub = GraphBuilder.__new__(GraphBuilder)
        sub.dtype, sub.opset = self.dtype, self.opset
        sub._nodes, sub._inputs, sub._outputs = [], [], []
        sub._initializers, sub._used_names, sub._constants = self._initializers, self._used_names, self._constants
        sub._next_suffix = self._next_suffix
        sub._vector_constants = self._vector_constants
        return sub

    # ----------------------------------------------------------------- outputs and assembly
    def output(self, value: Var, name: str) -> None:
        """Expose ``value`` as the graph output ``name`` (an Identity node gives it that name)."""
        if name in self._outputs:
            raise ValueError(f"output {name!r} declared twice")
        if name in self._used_names:
            raise ValueError(f"output name {name!r} is already used inside the graph")
        self._used_names.add(name)
        self._nodes.append(helper.make_node("Identity", [value.name], [name], name=self.fresh(f"n_out_{name}")))
        self._outputs.append(name)

    def build(
        self, *, graph_name: str = "sk2tensor", metadata: dict[str, str] | None = None, producer_version: str = ""
    ) -> onnx.ModelProto:
        """Assemble, infer shapes strictly, run the onnx checker and return the model."""
        opset_ids = [helper.make_opsetid("", self.opset)]
        # A constant that a converter made and then did not use would only add to the file (and onnxruntime
        # warns about it when it loads the model): keep those a node reads, in a subgraph too, or an output is.
        read = _names_read(self._nodes) | set(self._outputs)
        # Outputs are declared with element type only; strict shape inference fills in their shapes.
        graph = helper.make_graph(
            self._nodes,
            graph_name,
            self._inputs,
            [helper.make_value_info(name, onnx.TypeProto()) for name in self._outputs],
            initializer=[tensor for tensor in self._initializers if tensor.name in read],
        )
        model = helper.make_model(
            graph, opset_imports=opset_ids, producer_name="sk2tensor", producer_version=producer_version
        )
        # onnx's make_model writes its newest IR version; runtimes read only what they know, so derive it.
        model.ir_version = helper.find_min_ir_version_for(opset_ids)
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=key, value=value)
        # Inference and the checker run on a skeleton whose large tables are typed inputs rather than data:
        # the same checks, without serializing every tensor (a model past protobuf's 2 GB cannot be).
        skeleton = _skeleton(model)
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=True, strict_mode=True, data_prop=True)
        inferred_outputs = {vi.name: vi for vi in inferred.graph.value_info}
        for output in model.graph.output:
            source = next(n.input[0] for n in model.graph.node if n.output and n.output[0] == output.name)
            info = inferred_outputs.get(output.name) or inferred_outputs.get(source)
            if info is None:
                info = next((o for o in inferred.graph.output if o.name == output.name), None)
            if info is None or not info.type.HasField("tensor_type"):
                raise RuntimeError(f"could not infer the type of output {output.name!r}")
            output.type.CopyFrom(info.type)
            skeleton.graph.output[list(self._outputs).index(output.name)].type.CopyFrom(info.type)
        onnx.checker.check_model(skeleton, full_check=True)
        return model


def _names_read(nodes: Sequence[onnx.NodeProto]) -> set[str]:
    """The value names ``nodes`` read, those of the nodes in their subgraphs (If branches, Loop bodies) included."""
    names: set[str] = set()
    for node in nodes:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= _names_read(attribute.g.node)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    names |= _names_read(subgraph.node)
    return names


#: Initializers with more elements than this are typed inputs in the skeleton that checks are run on.
_SKELETON_ELEMENTS = 4096


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose large initializers are graph inputs of the same type and shape."""
    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    graph = skeleton.graph
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    for tensor in model.graph.initializer:
        if int(np.prod(tensor.dims, dtype=np.int64)) > _SKELETON_ELEMENTS:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
        else:
            graph.initializer.append(tensor)
    return skeleton
