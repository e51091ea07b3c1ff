"""Python functions of a numpy array, recorded as graph operators by running them once on a traced array.

``FunctionTransformer(func=...)`` and ``TransformedTargetRegressor(inverse_func=...)`` hold arbitrary Python
functions. :func:`trace` calls such a function with a :class:`TracedArray` in place of the ``[batch, width]``
input: numpy dispatches every ufunc (``np.log1p``, ``+``, ``>``...) and the array functions listed in
:data:`_FUNCTIONS` (``np.where``, ``np.clip``, ``np.column_stack``, reductions along a row...) to it, and each
call adds the operators that compute the same thing, in the dtype numpy would compute it in (numpy's own
``resolve_dtypes`` decides; Python scalars are weak as in NEP 50).

What a graph cannot follow is refused with a :class:`TracingError` naming it, never guessed: anything that
depends on the values (``if X.max() > 0``, ``len(X)``, ``float(...)``), anything that mixes rows (row
selections, reductions over the batch axis, transposes), converting the traced array to a real one
(``np.asarray``), assigning into a view, and functions or methods outside the lists below. Whatever is traced is
then validated against the real function on the sample rows, like every export.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.special

from sk2tensor.converters._numeric import expm1, log1p
from sk2tensor.graph import GraphBuilder, Var

BOOL = np.dtype(bool)
INT64 = np.dtype(np.int64)


class TracingError(Exception):
    """The function did something a graph of fixed operators cannot reproduce for every batch."""


class UnknownAttributeError(TracingError, AttributeError):
    """An attribute a traced array lacks: ``hasattr`` says False, and using it names it."""


class RowCount:
    """``X.shape[0]``: unknown until the graph runs, so any use of its value is refused."""

    def _refuse(self, *_: Any) -> Any:
        raise TracingError("it uses the number of rows (X.shape[0] or len(X)), which the graph does not know")

    __index__ = __int__ = __float__ = __bool__ = __eq__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __floordiv__ = __truediv__ = _refuse
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "<rows>"


class _ColumnNames(list):
    """A DataFrame's ``columns`` as a list that also answers ``tolist()``."""

    def tolist(self) -> list[str]:
        return list(self)


class TracedArray:
    """A ``[batch]`` (``width is None``) or ``[batch, width]`` array whose values are a graph variable.

    ``_base``/``_base_version`` mark a view (a basic slice, as numpy returns one): reading it after its base was
    assigned into would give numpy's updated values, which the trace does not follow, so that is refused.
    """

    __array_priority__ = 1000
    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        tracer: _Tracer,
        var: Var,
        width: int | None,
        base: TracedArray | None = None,
        names: list[str] | None = None,
    ) -> None:
        self._tracer = tracer
        self._value = var
        self._width = width
        self._version = 0
        self._base = base
        self._base_version = base._version if base is not None else 0
        #: The column names of a DataFrame (sklearn hands a step fitted on one a DataFrame); None for an array.
        self._names = names

    # ------------------------------------------------------------------ array attributes
    @property
    def node(self) -> Var:
        """The graph variable holding the values."""
        if self._base is not None and self._base._version != self._base_version:
            raise TracingError("it reads a view of an array after assigning into that array")
        return self._value

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return 1 if self._width is None else 2

    @property
    def shape(self) -> tuple[Any, ...]:
        return (RowCount(),) if self._width is None else (RowCount(), self._width)

    def __len__(self) -> int:
        raise TracingError("it uses the number of rows (X.shape[0] or len(X)), which the graph does not know")

    def _refuse_value(self, *_: Any) -> Any:
        raise TracingError(
            "it uses the values themselves in Python (a branch on them, float(), a loop over rows or np.asarray), "
            "which a graph cannot follow for every batch"
        )

    __bool__ = __float__ = __int__ = __index__ = __iter__ = __array__ = _refuse_value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnknownAttributeError(f"it uses .{name}, which sk2tensor cannot trace")

    def __repr__(self) -> str:
        return f"TracedArray(shape={self.shape}, dtype={self.dtype})"

    # ------------------------------------------------------------------ numpy protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "reduce" and ufunc in _REDUCING_UFUNCS and not kwargs.get("out"):
            return _reduce(inputs[0], _REDUCING_UFUNCS[ufunc], kwargs.get("axis", 0), kwargs.get("keepdims", False))
        if method != "__call__":
            raise TracingError(f"np.{ufunc.__name__}.{method} cannot be traced")
        if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
            raise TracingError(f"np.{ufunc.__name__} with out= or where= cannot be traced")
        if kwargs.get("dtype") is not None or kwargs.get("casting", "same_kind") != "same_kind":
            raise TracingError(f"np.{ufunc.__name__} with dtype= or casting= cannot be traced")
        return self._tracer.apply_ufunc(ufunc, inputs)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        implementation = _FUNCTIONS.get(func)
        if implementation is None:
            raise TracingError(
                f"np.{getattr(func, '__name__', func)} cannot be traced; the array functions sk2tensor traces are "
                + ", ".join(sorted(f"np.{f.__name__}" for f in _FUNCTIONS))
            )
        return implementation(*args, **kwargs)

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Any:
        return np.add(self, other)

    def __radd__(self, other: Any) -> Any:
        return np.add(other, self)

    def __sub__(self, other: Any) -> Any:
        return np.subtract(self, other)

    def __rsub__(self, other: Any) -> Any:
        return np.subtract(other, self)

    def __mul__(self, other: Any) -> Any:
        return np.multiply(self, other)

    def __rmul__(self, other: Any) -> Any:
        return np.multiply(other, self)

    def __truediv__(self, other: Any) -> Any:
        return np.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return np.true_divide(other, self)

    def __floordiv__(self, other: Any) -> Any:
        return np.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return np.floor_divide(other, self)

    def __mod__(self, other: Any) -> Any:
        return np.remainder(self, other)

    def __rmod__(self, other: Any) -> Any:
        return np.remainder(other, self)

    def __pow__(self, other: Any) -> Any:
        return np.power(self, other)

    def __rpow__(self, other: Any) -> Any:
        return np.power(other, self)

    def __matmul__(self, other: Any) -> Any:
        return np.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return np.matmul(other, self)

    def __neg__(self) -> Any:
        return np.negative(self)

    def __pos__(self) -> Any:
        return np.positive(self)

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __invert__(self) -> Any:
        return np.invert(self)

    def __and__(self, other: Any) -> Any:
        return np.bitwise_and(self, other)

    def __rand__(self, other: Any) -> Any:
        return np.bitwise_and(other, self)

    def __or__(self, other: Any) -> Any:
        return np.bitwise_or(self, other)

    def __ror__(self, other: Any) -> Any:
        return np.bitwise_or(other, self)

    def __xor__(self, other: Any) -> Any:
        return np.bitwise_xor(self, other)

    def __rxor__(self, other: Any) -> Any:
        return np.bitwise_xor(other, self)

    def __lt__(self, other: Any) -> Any:
        return np.less(self, other)

    def __le__(self, other: Any) -> Any:
        return np.less_equal(self, other)

    def __gt__(self, other: Any) -> Any:
        return np.greater(self, other)

    def __ge__(self, other: Any) -> Any:
        return np.greater_equal(self, other)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return np.equal(self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return np.not_equal(self, other)

    # ------------------------------------------------------------------ methods
    def copy(self, order: str = "K", deep: bool = True) -> TracedArray:
        return TracedArray(self._tracer, self.node, self._width, names=self._names)

    def astype(self, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True, copy: bool = True):
        cast = self._tracer.cast(self.node, np.dtype(dtype))
        return TracedArray(self._tracer, cast, self._width, names=self._names)

    def to_numpy(self, dtype: Any = None, copy: bool = False, **_: Any) -> TracedArray:
        """A DataFrame's (or Series') values: a plain array from here on."""
        array = TracedArray(self._tracer, self.node, self._width)
        return array if dtype is None else array.astype(dtype)

    @property
    def values(self) -> TracedArray:
        return self.to_numpy()

    def _append_column(self, name: str, value: Any) -> None:
        """``frame["new"] = value``: a column appended, as pandas appends it (the frame's dtype widened to what
        its values would be as one array)."""
        tracer = self._tracer
        if isinstance(value, TracedArray):
            if value._width not in (None, 1):
                raise TracingError(f"it assigns {value._width} columns to the new column {name!r}")
            dtype = self.dtype if value.dtype == BOOL else np.result_type(self.dtype, value.dtype)
            column = tracer.cast(value.node, dtype)
            if value._width is None:
                column = tracer.graph.unsqueeze(column, [1])
        else:
            constant = np.asarray(value)
            if constant.ndim != 0 or constant.dtype.kind not in "biuf":
                raise TracingError(f"it assigns a constant of shape {constant.shape} to the new column {name!r}")
            dtype = self.dtype if constant.dtype == BOOL else _result_type(self, value)
            column = _filled_like(value)(self[:, [0]], dtype=dtype).node
        self._value = tracer.graph.concat([tracer.cast(self.node, dtype), column], axis=1)
        self._width = (self._width or 0) + 1
        self._names = [*(self._names or []), name]
        self._version += 1

    # ------------------------------------------------------------------ DataFrame columns
    @property
    def columns(self) -> list[str]:
        if self._names is None:
            raise UnknownAttributeError("it uses .columns of an array that has no column names")
        return _ColumnNames(self._names)

    def assign(self, **columns: Any) -> TracedArray:
        """pandas' ``assign``: a copy with the columns set (a callable is called with the frame so far)."""
        frame = self.copy()
        for name, value in columns.items():
            frame[name] = value(frame) if callable(value) else value
        return frame

    def drop(self, labels: Any = None, *, axis: Any = 0, columns: Any = None, **kw: Any) -> TracedArray:
        """pandas' ``drop`` of columns (``columns=`` or ``axis=1``)."""
        names = columns if columns is not None else labels if axis in (1, "columns") else None
        if names is None or self._names is None or kw.get("index") is not None:
            raise TracingError("it drops rows, or columns of an array without names; drop(columns=[...]) is traced")
        dropped = [names] if isinstance(names, str) else list(names)
        missing = [name for name in dropped if name not in self._names]
        if missing:
            raise TracingError(f"it drops columns {missing}, which are not among {self._names}")
        return self[[name for name in self._names if name not in dropped]]

    def reshape(self, *shape: Any, order: str = "C") -> TracedArray:
        return _reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape)

    def ravel(self, order: str = "C") -> TracedArray:
        return _reshape(self, (-1,))

    flatten = ravel

    def squeeze(self, axis: Any = None) -> TracedArray:
        return _squeeze(self, axis)

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _sum(self, axis, dtype, out, keepdims)

    def mean(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _mean(self, axis, dtype, out, keepdims)

    def max(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _max(self, axis, out, keepdims)

    def min(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _min(self, axis, out, keepdims)

    def prod(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _prod(self, axis, dtype, out, keepdims)

    def any(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _any(self, axis, out, keepdims)

    def all(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _all(self, axis, out, keepdims)

    def std(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0, keepdims: bool = False):
        return _std(self, axis, dtype, out, ddof, keepdims)

    def var(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0, keepdims: bool = False):
        return _var(self, axis, dtype, out, ddof, keepdims)

    def clip(self, min: Any = None, max: Any = None, *, lower: Any = None, upper: Any = None) -> Any:
        """numpy's ``clip(min, max)`` and pandas' ``clip(lower=, upper=)``."""
        return _clip(self, min if lower is None else lower, max if upper is None else upper)

    def abs(self) -> Any:
        """pandas' ``abs()``."""
        return np.absolute(self)

    def fillna(self, value: Any) -> Any:
        """pandas' ``fillna(value)`` with a scalar."""
        if np.ndim(value) != 0 or isinstance(value, TracedArray):
            raise TracingError("fillna is traced with a scalar value only")
        return _where(np.isnan(self), value, self) if self.dtype.kind == "f" else self.copy()

    def round(self, decimals: int = 0) -> Any:
        return _round(self, decimals)

    def cumsum(self, axis: Any = None, dtype: Any = None) -> Any:
        return _cumsum(self, axis, dtype)

    def argmax(self, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        return _arg_extremum(largest=True)(self, axis, out, keepdims=keepdims)

    def argmin(self, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        return _arg_extremum(largest=False)(self, axis, out, keepdims=keepdims)

    @property
    def T(self) -> Any:
        if self._width is None:
            return self
        raise TracingError("it transposes a [rows, columns] array, which mixes rows")

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key: Any) -> TracedArray:
        columns, kind = self._tracer.column_key(self, key)
        return self._tracer.select(self, columns, kind)

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._base is not None:
            raise TracingError("it assigns into a view of an array, whose base numpy would change too")
        if self._width is None:
            raise TracingError("it assigns into a one-dimensional array")
        if isinstance(key, str) and self._names is not None and key not in self._names:
            self._append_column(key, value)
            return
        columns, kind = self._tracer.column_key(self, key)
        if kind == "new_axis":
            raise TracingError("it assigns with an index sk2tensor cannot trace")
        self._value = self._tracer.assign(self, columns, value)
        self._version += 1


# ---------------------------------------------------------------------- the tracer
class _Tracer:
    def __init__(self, graph: GraphBuilder) -> None:
        self.graph = graph

    # values ---------------------------------------------------------------
    def cast(self, var: Var, dtype: np.dtype) -> Var:
        if dtype.kind not in "biuf":
            raise TracingError(f"it uses dtype {dtype}; the graph computes booleans, integers and floats")
        if dtype.kind == "u" or (dtype.kind == "i" and dtype != INT64):
            dtype = INT64 if dtype.kind in "iu" else dtype
        return var if var.dtype == dtype else self.graph.cast(var, dtype)

    def operand(self, value: Any) -> tuple[Any, Any]:
        """``(dtype key for resolve_dtypes, shape)``; Python scalars stay weak (their type)."""
        if isinstance(value, TracedArray):
            return value.dtype, ("rows",) if value._width is None else ("rows", value._width)
        if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
            return type(value), ()
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TracingError(f"it combines the array with a {array.dtype} value")
        return array.dtype, array.shape

    def constant(self, value: Any, dtype: np.dtype) -> Var:
        array = np.asarray(value)
        if array.ndim == 2 and array.shape[0] != 1:
            raise TracingError(
                f"it combines the rows with a constant of shape {array.shape}, which depends on the batch"
            )
        return self.graph.const(array.astype(dtype), "traced_constant", dtype=dtype)

    def value_of(self, value: Any, dtype: np.dtype) -> Var:
        if isinstance(value, TracedArray):
            return self.cast(value.node, dtype)
        return self.constant(value, dtype)

    def broadcast_width(self, shapes: Sequence[tuple[Any, ...]]) -> int | None:
        """The width of the broadcast of traced and constant shapes; ``None``: one-dimensional."""
        widths: list[int] = []
        two_d = False
        for shape in shapes:
            if not shape:
                continue
            if shape[0] == "rows":
                if len(shape) == 2:
                    two_d = True
                    widths.append(shape[1])
                continue
            if len(shape) > 2:
                raise TracingError(f"it broadcasts against a constant of shape {shape}")
            if len(shape) == 2:
                if shape[0] != 1:
                    raise TracingError(
                        f"it combines the rows with a constant of shape {shape}, which depends on the batch"
                    )
                two_d = True
            widths.append(shape[-1])
        traced_1d = any(s and s[0] == "rows" and len(s) == 1 for s in shapes)
        if traced_1d and not two_d:
            if any(w != 1 for w in widths):
                raise TracingError("it broadcasts a one-dimensional column against a row of constants")
            return None
        if traced_1d:
            raise TracingError(
                "it broadcasts a one-dimensional column against a [rows, columns] array (numpy aligns the rows "
                "with the columns there); write X[:, j:j+1] or v[:, None]"
            )
        sizes = {w for w in widths if w != 1}
        if len(sizes) > 1:
            raise TracingError(f"operands of widths {sorted(sizes)} do not broadcast")
        return sizes.pop() if sizes else 1

    def result(self, var: Var, width: int | None) -> TracedArray:
        return TracedArray(self, var, width)

    # ufuncs ---------------------------------------------------------------
    def apply_ufunc(self, ufunc: np.ufunc, inputs: Sequence[Any]) -> TracedArray:
        build = _UFUNCS.get(ufunc)
        if build is None:
            raise TracingError(
                f"np.{ufunc.__name__} cannot be traced; the ufuncs sk2tensor traces are "
                + ", ".join(sorted(u.__name__ for u in _UFUNCS))
            )
        if ufunc is np.matmul:
            return _matmul(self, inputs)
        operands = [self.operand(value) for value in inputs]
        try:
            dtypes = ufunc.resolve_dtypes((*[dtype for dtype, _ in operands], None))
        except TypeError as error:
            raise TracingError(f"np.{ufunc.__name__} has no loop for these dtypes ({error})") from None
        loop, out = dtypes[: len(inputs)], dtypes[-1]
        width = self.broadcast_width([shape for _, shape in operands])
        variables = [self.value_of(value, dtype) for value, dtype in zip(inputs, loop, strict=True)]
        exponent = inputs[1] if ufunc is np.power else None
        if out.kind == "f" and np.ndim(exponent) == 0 and not isinstance(exponent, TracedArray | None):
            fast = _SCALAR_POWERS.get(float(exponent))
            if fast is not None:
                build, variables = fast, variables[:1]
        value = build(self.graph, *variables)
        result = self.result(self.cast(value, out) if value.dtype != out else value, width)
        frames = {tuple(v._names) for v in inputs if isinstance(v, TracedArray) and v._names is not None}
        if len(frames) == 1 and len(next(iter(frames))) == width:
            result._names = list(next(iter(frames)))  # pandas keeps the columns of an element-wise result
        return result

    # indexing --------------------------------------------------------------
    def column_key(self, array: TracedArray, key: Any) -> tuple[list[int], str]:
        """The columns ``array[key]`` reads and what the result is: ``"one"`` (one column, one-dimensional, a
        view), ``"slice"`` (a view), ``"fancy"`` (a copy), ``"same"`` (a 1-D array itself) or ``"new_axis"``."""
        if isinstance(key, str) or (isinstance(key, list) and key and all(isinstance(k, str) for k in key)):
            return self.named_columns(array, key)
        parts = key if isinstance(key, tuple) else (key,)
        if parts and parts[0] is Ellipsis:
            parts = (slice(None),) * (array.ndim - len(parts) + 1) + parts[1:]
        rows, rest = parts[0], parts[1:]
        if not (isinstance(rows, slice) and rows == slice(None)):
            raise TracingError("it selects rows (only X[:, columns] selections keep the batch as it is)")
        if array._width is None:
            if rest == (None,):
                return [0], "new_axis"
            if not rest:
                return [], "same"
            raise TracingError("it indexes a one-dimensional array with more than [:, None]")
        if len(rest) != 1:
            raise TracingError("it indexes a [rows, columns] array with more than two indices")
        item, width = rest[0], array._width
        if item is None or item is Ellipsis:
            raise TracingError("it adds an axis to a [rows, columns] array")
        if isinstance(item, slice):
            return list(range(width))[item], "slice"
        if isinstance(item, int | np.integer) and not isinstance(item, bool | np.bool_):
            if not -width <= int(item) < width:
                raise TracingError(f"it reads column {int(item)} of {width}")
            return [int(item) % width], "one"
        selection = np.asarray(item)
        if selection.dtype == bool:
            if selection.shape != (width,):
                raise TracingError(f"it selects columns with a boolean mask of shape {selection.shape}, not ({width},)")
            return [int(i) for i in np.flatnonzero(selection)], "fancy"
        if selection.dtype.kind in "iu" and selection.ndim == 1:
            if np.any((selection < -width) | (selection >= width)):
                raise TracingError(f"it reads columns {selection.tolist()} of {width}")
            return [int(i) % width for i in selection], "fancy"
        raise TracingError(f"it indexes the columns with {item!r}, which sk2tensor cannot trace")

    def named_columns(self, array: TracedArray, key: str | list[str]) -> tuple[list[int], str]:
        """``X["name"]`` and ``X[["a", "b"]]`` of a DataFrame (a step fitted on one gets one)."""
        if array._names is None:
            raise TracingError(
                "it selects columns by name, and the step was not fitted on named columns (or .to_numpy() dropped them)"
            )
        names = [key] if isinstance(key, str) else key
        missing = [name for name in names if name not in array._names]
        if missing:
            raise TracingError(f"it selects columns {missing}, which are not among {array._names}")
        positions = [array._names.index(name) for name in names]
        return positions, "one" if isinstance(key, str) else "named"

    def select(self, array: TracedArray, columns: list[int], kind: str) -> TracedArray:
        if kind == "same":
            return TracedArray(self, array.node, None, base=array)
        if kind == "new_axis":
            return TracedArray(self, self.graph.unsqueeze(array.node, [1]), 1, base=array)
        if kind == "slice" and columns == list(range(array._width or 0)):
            return TracedArray(self, array.node, array._width, base=array)
        picked = self.graph.gather(array.node, self.graph.int64s(columns, "traced_columns"), axis=1)
        if kind == "one":
            return TracedArray(
                self, self.graph.squeeze(picked, [1]), None, base=array if array._names is None else None
            )
        names = [array._names[c] for c in columns] if array._names is not None else None
        return TracedArray(self, picked, len(columns), base=array if kind == "slice" else None, names=names)

    def assign(self, array: TracedArray, columns: list[int], value: Any) -> Var:
        """``array[:, columns] = value`` (cast to the array's dtype, as numpy assigns): the columns of ``array``
        and of the assigned block gathered into place."""
        width, dtype, count = array._width or 0, array.dtype, len(columns)
        if not count:
            return array.node
        if isinstance(value, TracedArray):
            block = self.cast(value.node, dtype)
            if value._width is None:
                block = self.graph.unsqueeze(block, [1])
            if (value._width or 1) not in (1, count):
                raise TracingError(f"it assigns {value._width} columns to {count}")
            if (value._width or 1) == 1 and count > 1:
                block = self.graph.gather(block, self.graph.int64s([0] * count, "repeat"), axis=1)
        else:
            constant = np.asarray(value)
            if constant.ndim > 1 or constant.size not in (1, count) or constant.dtype.kind not in "biuf":
                raise TracingError(f"it assigns a constant of shape {constant.shape} to {count} columns")
            row = self.graph.const(np.broadcast_to(constant.astype(dtype), (count,))[None, :], "assigned", dtype=dtype)
            # Where broadcasts the constant row to the batch whatever the rows hold (x * 0 would be NaN for NaN x).
            first = self.graph.gather(array.node, self.graph.int64s([0], "first_column"), axis=1)
            block = self.graph.where(self.graph.equal(first, first), row, row)
        source = list(range(width))
        for position, column in enumerate(columns):  # a column named twice takes the last value, as in numpy
            source[column] = width + position
        combined = self.graph.concat([array.node, block], axis=1)
        return self.graph.gather(combined, self.graph.int64s(source, "assigned_columns"), axis=1)


# ---------------------------------------------------------------------- ufunc builders
def _extremum(larger: bool, nan_wins: bool) -> Callable[[GraphBuilder, Var, Var], Var]:
    """numpy's maximum/minimum (a NaN on either side wins) and fmax/fmin (a NaN loses to a number)."""

    def build(graph: GraphBuilder, a: Var, b: Var) -> Var:
        keep_a = graph.greater(a, b) if larger else graph.less(a, b)
        if a.dtype.kind == "f":
            keep_a = graph.logical_or(keep_a, graph.is_nan(a if nan_wins else b))
        return graph.where(keep_a, a, b)

    return build


#: numpy's fast paths for a float array to a scalar power (``fast_scalar_power``), which a plain Pow would
#: round differently (x**2 is x*x, x**0.5 is sqrt(x)).
_SCALAR_POWERS: dict[float, Callable[[GraphBuilder, Var], Var]] = {
    2.0: lambda g, a: g.mul(a, a),
    0.5: lambda g, a: g.sqrt(a),
    1.0: lambda g, a: g.identity(a),
    -1.0: lambda g, a: g.div(g.const(1.0, "one", dtype=a.dtype), a),
}


def _remainder(graph: GraphBuilder, a: Var, b: Var) -> Var:
    """numpy's float remainder: ``fmod``, moved into the divisor's sign when the signs differ."""
    if a.dtype.kind != "f":
        return graph.mod(a, b)
    mod = graph._node("Mod", [a, b], a.dtype, fmod=1)
    zero = graph.const(0.0, "zero", dtype=a.dtype)
    differ = graph.logical_and(
        graph.logical_not(graph.equal(mod, zero)), graph.logical_xor(graph.less(mod, zero), graph.less(b, zero))
    )
    return graph.where(differ, graph.add(mod, b), mod)


def _floor_divide(graph: GraphBuilder, a: Var, b: Var) -> Var:
    """numpy's float floor division (npy_divmod): ``(a - fmod(a, b)) / b``, corrected by the signs and rounded
    to the nearest integer below."""
    if a.dtype.kind != "f":
        raise TracingError("integer floor division cannot be traced")
    mod = graph._node("Mod", [a, b], a.dtype, fmod=1)
    zero = graph.const(0.0, "zero", dtype=a.dtype)
    one = graph.const(1.0, "one", dtype=a.dtype)
    half = graph.const(0.5, "half", dtype=a.dtype)
    div = graph.div(graph.sub(a, mod), b)
    differ = graph.logical_and(
        graph.logical_not(graph.equal(mod, zero)), graph.logical_xor(graph.less(mod, zero), graph.less(b, zero))
    )
    div = graph.where(differ, graph.sub(div, one), div)
    floor = graph.floor(div)
    floor = graph.where(graph.greater(graph.sub(div, floor), half), graph.add(floor, one), floor)
    # b == 0: numpy gives a / b (inf or NaN).
    return graph.where(graph.equal(b, zero), graph.div(a, b), floor)


def _unary_or(op: str, float64: Callable[[GraphBuilder, Var], Var] | None) -> Callable[[GraphBuilder, Var], Var]:
    """The ONNX operator ``op``; in float64, where ONNX Runtime has no double kernel for it, the identity
    ``float64`` builds from operators it has (or a refusal when there is none)."""

    def build(graph: GraphBuilder, a: Var) -> Var:
        if a.dtype != np.float64:
            return graph.unary(op, a)
        if float64 is None:
            raise TracingError(f"{op} has no float64 kernel in ONNX Runtime; export with dtype='float32'")
        return float64(graph, a)

    return build


def _half(graph: GraphBuilder, a: Var) -> Var:
    return graph.mul(a, graph.const(0.5, "half", dtype=a.dtype))


def _asinh(graph: GraphBuilder, a: Var) -> Var:
    """``sign(x) log1p(|x| + x² / (1 + sqrt(1 + x²)))``, accurate near 0; ``log(2|x|)`` where x² overflows."""
    one = graph.const(1.0, "one", dtype=a.dtype)
    size = graph.abs(a)
    square = graph.mul(size, size)
    small = log1p(graph, graph.add(size, graph.div(square, graph.add(one, graph.sqrt(graph.add(one, square))))))
    large = graph.add(graph.log(size), graph.const(np.log(2.0), "log_two", dtype=a.dtype))
    magnitude = graph.where(graph.greater(size, graph.const(1e150, "huge", dtype=a.dtype)), large, small)
    return graph.where(graph.less(a, graph.const(0.0, "zero", dtype=a.dtype)), graph.neg(magnitude), magnitude)


def _acosh(graph: GraphBuilder, a: Var) -> Var:
    """``log1p(t + sqrt(2t + t²))`` with ``t = x - 1`` (accurate near 1); ``log(2x)`` where t² overflows."""
    t = graph.sub(a, graph.const(1.0, "one", dtype=a.dtype))
    two = graph.const(2.0, "two", dtype=a.dtype)
    small = log1p(graph, graph.add(t, graph.sqrt(graph.add(graph.mul(two, t), graph.mul(t, t)))))
    large = graph.add(graph.log(a), graph.const(np.log(2.0), "log_two", dtype=a.dtype))
    return graph.where(graph.greater(a, graph.const(1e150, "huge", dtype=a.dtype)), large, small)


def _atanh(graph: GraphBuilder, a: Var) -> Var:
    """``log1p(2x / (1 - x)) / 2``."""
    one = graph.const(1.0, "one", dtype=a.dtype)
    ratio = graph.div(graph.add(a, a), graph.sub(one, a))
    return _half(graph, log1p(graph, ratio))


def _rint(graph: GraphBuilder, a: Var) -> Var:
    """Round half to even, as numpy's rint and ONNX Round both do."""
    return graph._node("Round", [a], a.dtype)


def _trunc(graph: GraphBuilder, a: Var) -> Var:
    return graph.where(graph.less(a, graph.const(0.0, "zero", dtype=a.dtype)), graph.ceil(a), graph.floor(a))


def _isinf(graph: GraphBuilder, a: Var) -> Var:
    if a.dtype.kind != "f":
        return graph.equal(a, graph.sub(a, a))  # never true; shaped as a
    return graph._node("IsInf", [a], BOOL)


def _isfinite(graph: GraphBuilder, a: Var) -> Var:
    if a.dtype.kind != "f":
        return graph.equal(a, a)
    return graph.logical_not(graph.logical_or(graph.is_nan(a), _isinf(graph, a)))


def _isnan(graph: GraphBuilder, a: Var) -> Var:
    return graph.is_nan(a) if a.dtype.kind == "f" else graph.logical_not(graph.equal(a, a))


def _logical(op: str) -> Callable[..., Var]:
    def build(graph: GraphBuilder, *values: Var) -> Var:
        if any(v.dtype != BOOL for v in values):
            raise TracingError(f"bitwise {op.lower()} of integers cannot be traced (only of boolean masks)")
        return graph._node(op, list(values), BOOL)

    return build


def _log_base(base: float) -> Callable[[GraphBuilder, Var], Var]:
    return lambda graph, a: graph.div(graph.log(a), graph.const(np.log(base), "log_base", dtype=a.dtype))


def _logit(graph: GraphBuilder, a: Var) -> Var:
    one = graph.const(1.0, "one", dtype=a.dtype)
    return graph.log(graph.div(a, graph.sub(one, a)))


def _sign(graph: GraphBuilder, a: Var) -> Var:
    # ONNX Sign keeps NaN as numpy does on ORT; zero stays zero.
    return graph.sign(a)


_UFUNCS: dict[np.ufunc, Callable[..., Var]] = {
    np.add: lambda g, a, b: g.add(a, b) if a.dtype != BOOL else g.logical_or(a, b),
    np.subtract: lambda g, a, b: g.sub(a, b),
    np.multiply: lambda g, a, b: g.mul(a, b) if a.dtype != BOOL else g.logical_and(a, b),
    np.true_divide: lambda g, a, b: g.div(a, b),
    np.floor_divide: _floor_divide,
    np.remainder: _remainder,
    np.fmod: lambda g, a, b: g._node("Mod", [a, b], a.dtype, fmod=1),
    np.power: lambda g, a, b: g.pow(a, b),
    np.float_power: lambda g, a, b: g.pow(a, b),
    np.maximum: _extremum(larger=True, nan_wins=True),
    np.minimum: _extremum(larger=False, nan_wins=True),
    np.fmax: _extremum(larger=True, nan_wins=False),
    np.fmin: _extremum(larger=False, nan_wins=False),
    np.negative: lambda g, a: g.neg(a),
    np.positive: lambda g, a: g.identity(a),
    np.absolute: lambda g, a: g.abs(a),
    np.fabs: lambda g, a: g.abs(a),
    np.sign: _sign,
    np.exp: lambda g, a: g.exp(a),
    np.exp2: lambda g, a: g.pow(g.const(2.0, "two", dtype=a.dtype), a),
    np.expm1: expm1,
    np.log: lambda g, a: g.log(a),
    np.log2: _log_base(2.0),
    np.log10: _log_base(10.0),
    np.log1p: log1p,
    np.sqrt: lambda g, a: g.sqrt(a),
    np.square: lambda g, a: g.mul(a, a),
    np.reciprocal: lambda g, a: g.div(g.const(1.0, "one", dtype=a.dtype), a),
    np.floor: lambda g, a: g.floor(a),
    np.ceil: lambda g, a: g.ceil(a),
    np.trunc: _trunc,
    np.rint: lambda g, a: _rint(g, a),
    np.sin: lambda g, a: g.unary("Sin", a),
    np.cos: lambda g, a: g.unary("Cos", a),
    np.tanh: lambda g, a: g.unary("Tanh", a),
    np.tan: _unary_or("Tan", lambda g, a: g.div(g.unary("Sin", a), g.unary("Cos", a))),
    np.sinh: _unary_or("Sinh", lambda g, a: _half(g, g.sub(expm1(g, a), expm1(g, g.neg(a))))),
    np.cosh: _unary_or("Cosh", lambda g, a: _half(g, g.add(g.exp(a), g.exp(g.neg(a))))),
    np.arcsinh: _unary_or("Asinh", lambda g, a: _asinh(g, a)),
    np.arccosh: _unary_or("Acosh", lambda g, a: _acosh(g, a)),
    np.arctanh: _unary_or("Atanh", lambda g, a: _atanh(g, a)),
    np.arcsin: _unary_or("Asin", None),
    np.arccos: _unary_or("Acos", None),
    np.arctan: _unary_or("Atan", None),
    np.isnan: _isnan,
    np.isinf: _isinf,
    np.isfinite: _isfinite,
    np.greater: lambda g, a, b: g.greater(a, b),
    np.greater_equal: lambda g, a, b: g.greater_equal(a, b),
    np.less: lambda g, a, b: g.less(a, b),
    np.less_equal: lambda g, a, b: g.less_equal(a, b),
    np.equal: lambda g, a, b: g.equal(a, b),
    np.not_equal: lambda g, a, b: g.logical_not(g.equal(a, b)),
    np.logical_and: lambda g, a, b: g.logical_and(a, b),
    np.logical_or: lambda g, a, b: g.logical_or(a, b),
    np.logical_xor: lambda g, a, b: g.logical_xor(a, b),
    np.logical_not: lambda g, a: g.logical_not(a),
    np.bitwise_and: _logical("And"),
    np.bitwise_or: _logical("Or"),
    np.bitwise_xor: _logical("Xor"),
    np.invert: _logical("Not"),
    np.matmul: lambda g, a, b: g.matmul(a, b),  # built by _matmul
    scipy.special.expit: lambda g, a: g.sigmoid(a),
    scipy.special.logit: _logit,
}

#: ``np.<ufunc>.reduce`` along the columns, as the reduction it is.
_REDUCING_UFUNCS: dict[np.ufunc, str] = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}


def _matmul(tracer: _Tracer, inputs: Sequence[Any]) -> TracedArray:
    left, right = inputs
    if not isinstance(left, TracedArray) or isinstance(right, TracedArray) or left._width is None:
        raise TracingError("it multiplies matrices other than X @ constant, which mixes rows")
    matrix = np.asarray(right)
    if matrix.ndim not in (1, 2) or matrix.shape[0] != left._width:
        raise TracingError(f"X of {left._width} columns @ a constant of shape {matrix.shape}")
    dtype = out = np.result_type(left.dtype, matrix.dtype)
    if dtype.kind != "f":
        raise TracingError("it multiplies integer or boolean matrices")
    product = tracer.graph.matmul(
        tracer.cast(left.node, dtype), tracer.graph.const(matrix.astype(dtype), "matrix", dtype=dtype)
    )
    return TracedArray(tracer, tracer.cast(product, out), None if matrix.ndim == 1 else matrix.shape[1])


# ---------------------------------------------------------------------- array functions
def _result_type(*values: Any) -> np.dtype:
    """numpy's result dtype of ``values``, Python scalars weak (NEP 50)."""
    return np.result_type(*[np.empty(0, v.dtype) if isinstance(v, TracedArray) else v for v in values])


def _filled_like(fill: Any) -> Callable[..., Any]:
    def build(a: Any, *args: Any, dtype: Any = None, **kw: Any) -> Any:
        value = args[0] if fill is None else fill
        a = _traced(a, "full_like")
        if kw.get("shape") is not None:
            raise TracingError("np.*_like with shape= cannot be traced")
        dtype = np.dtype(dtype) if dtype is not None else a.dtype
        graph = a._tracer.graph
        row = graph.const(np.full((1, a._width or 1), value, dtype=dtype), "filled", dtype=dtype)
        source = a.node if a._width is not None else graph.unsqueeze(a.node, [1])
        first = graph.gather(source, graph.int64s([0], "first_column"), axis=1)
        filled = graph.where(graph.equal(first, first), row, row)  # the row repeated for every row of the batch
        if a._width is None:
            filled = graph.squeeze(filled, [1])
        return TracedArray(a._tracer, filled, a._width)

    return build


def _traced(value: Any, function: str) -> TracedArray:
    if not isinstance(value, TracedArray):
        raise TracingError(f"np.{function} is traced on the traced array only")
    return value


def _row_axis(array: TracedArray, axis: Any, function: str) -> bool:
    """Whether ``axis`` reduces the columns of ``array`` (True) or nothing; the batch axis is refused."""
    if axis is None and array._width is None:
        raise TracingError(f"np.{function} over the whole array mixes rows")
    if axis is None:
        raise TracingError(f"np.{function} without axis=1 reduces over the whole batch")
    axes = axis if isinstance(axis, tuple) else (axis,)
    if array._width is not None and all(int(a) in (1, -1) for a in axes) and len(axes) == 1:
        return True
    raise TracingError(f"np.{function} over axis={axis} mixes rows; only axis=1 (along each row) is traced")


def _reduce(array: Any, kind: str, axis: Any, keepdims: bool, dtype: Any = None) -> TracedArray:
    array = _traced(array, kind)
    if array._names is not None:
        return _frame_reduce(array, kind, axis)
    _row_axis(array, axis, kind)
    tracer, graph = array._tracer, array._tracer.graph
    source = array.node
    if kind in ("sum", "prod"):
        # numpy sums booleans and small integers as int64; floats in their own dtype.
        target = np.dtype(dtype) if dtype is not None else (INT64 if source.dtype.kind in "biu" else source.dtype)
        source = tracer.cast(source, target)
        if source.dtype.kind != "f":
            value = (graph.reduce_sum if kind == "sum" else _reduce_prod)(source, [1], keepdims=keepdims)
        else:
            columns = _pairwise_sum if kind == "sum" else _sequential_product
            value = columns(graph, source, 0, array._width or 0)
            if not keepdims:
                value = graph.squeeze(value, [1])
    elif kind in ("max", "min"):
        if source.dtype == BOOL:
            source = tracer.cast(source, INT64)
        value = (graph.reduce_max if kind == "max" else graph.reduce_min)(source, [1], keepdims=keepdims)
        if source.dtype.kind == "f":  # numpy propagates NaN through max and min
            has_nan = graph.reduce_max(tracer.cast(graph.is_nan(source), INT64), [1], keepdims=keepdims)
            nan = graph.const(np.nan, "nan", dtype=source.dtype)
            value = graph.where(graph.greater(has_nan, graph.const(0, "zero", dtype=INT64)), nan, value)
        if array.dtype == BOOL:
            value = tracer.cast(value, BOOL)
    elif kind in ("any", "all"):
        nonzero = (
            source
            if source.dtype == BOOL
            else graph.logical_not(graph.equal(source, graph.const(0, dtype=source.dtype)))
        )
        counts = graph.reduce_min if kind == "all" else graph.reduce_max
        value = tracer.cast(counts(tracer.cast(nonzero, INT64), [1], keepdims=keepdims), BOOL)
    else:  # pragma: no cover - the callers pass the kinds above
        raise AssertionError(kind)
    return TracedArray(tracer, value, 1 if keepdims else None)


def _columns(graph: GraphBuilder, x: Var, indices: Sequence[int]) -> Var:
    return graph.gather(x, graph.int64s(list(indices), "sum_columns"), axis=1)


def _pairwise_sum(graph: GraphBuilder, x: Var, start: int, count: int) -> Var:
    """The ``[batch, 1]`` sum of columns ``start:start + count`` in numpy's order (``pairwise_sum`` in its
    umath loops: eight running sums per block of 128, halves above that), so float sums are bit for bit
    numpy's on C-ordered rows rather than whatever order the runtime's ReduceSum takes."""
    if count < 8:
        total = _columns(graph, x, [start])
        for column in range(start + 1, start + count):
            total = graph.add(total, _columns(graph, x, [column]))
        return total
    if count <= 128:
        lanes = _columns(graph, x, range(start, start + 8))
        stop = start + count - count % 8
        for block in range(start + 8, stop, 8):
            lanes = graph.add(lanes, _columns(graph, x, range(block, block + 8)))
        pairs = graph.add(_columns(graph, lanes, [0, 2, 4, 6]), _columns(graph, lanes, [1, 3, 5, 7]))
        halves = graph.add(_columns(graph, pairs, [0, 2]), _columns(graph, pairs, [1, 3]))
        total = graph.add(_columns(graph, halves, [0]), _columns(graph, halves, [1]))
        for column in range(stop, start + count):
            total = graph.add(total, _columns(graph, x, [column]))
        return total
    half = count // 2
    half -= half % 8
    return graph.add(_pairwise_sum(graph, x, start, half), _pairwise_sum(graph, x, start + half, count - half))


def _sequential_product(graph: GraphBuilder, x: Var, start: int, count: int) -> Var:
    """The ``[batch, 1]`` product of the columns, left to right as numpy multiplies them."""
    total = _columns(graph, x, [start])
    for column in range(start + 1, start + count):
        total = graph.mul(total, _columns(graph, x, [column]))
    return total


def _reduce_prod(graph: GraphBuilder, x: Var, axes: Sequence[int], keepdims: bool) -> Var:
    return graph._node("ReduceProd", [x, graph.int64s(list(axes), "axes")], x.dtype, keepdims=int(keepdims))


def _frame_reduce(frame: TracedArray, kind: str, axis: Any) -> TracedArray:
    """pandas' ``sum``/``mean`` along the rows of a DataFrame: NaN skipped (``skipna``), the columns added left
    to right (pandas reduces the frame's block column by column), the mean divided by the count of values.
    pandas' other reductions differ from numpy's in ways not reproduced here, and are refused."""
    if kind not in ("sum", "mean"):
        raise TracingError(
            f"it takes the pandas {kind} of a DataFrame; sum and mean along axis=1 are traced, or call .to_numpy() "
            "first for numpy's"
        )
    if axis not in (1, "columns"):
        raise TracingError(f"DataFrame.{kind}(axis={axis!r}) mixes rows; axis=1 is traced")
    tracer, graph = frame._tracer, frame._tracer.graph
    values = tracer.cast(frame.node, frame.dtype if frame.dtype.kind == "f" else np.dtype(np.float64))
    present = graph.logical_not(graph.is_nan(values))
    zero = graph.const(0.0, "zero", dtype=values.dtype)
    filled = graph.where(present, values, zero)
    total = _columns(graph, filled, [0])
    for column in range(1, frame._width or 0):
        total = graph.add(total, _columns(graph, filled, [column]))
    if kind == "mean":
        count = graph.reduce_sum(tracer.cast(present, np.dtype(np.float64)), [1], keepdims=True)
        total = tracer.cast(graph.div(tracer.cast(total, np.dtype(np.float64)), count), values.dtype)
    return TracedArray(tracer, graph.squeeze(total, [1]), None)


def _nan_reduce(kind: str) -> Callable[..., Any]:
    """numpy's ``nansum``/``nanmean``/``nanmax``/``nanmin`` along the rows."""

    def build(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any):
        a = _traced(a, f"nan{kind}")
        _no_extras(f"nan{kind}", out=out, **{k: v for k, v in kw.items() if k != "initial"})
        if a.dtype.kind != "f":
            return _reduce(a, kind if kind != "mean" else "sum", axis, keepdims, dtype)
        _row_axis(a, axis, f"nan{kind}")
        missing = np.isnan(a)
        if kind in ("sum", "mean"):
            filled = _where(missing, 0.0, a)
            total = _reduce(filled, "sum", 1, keepdims, dtype)
            if kind == "sum":
                return total
            return total / _reduce(np.logical_not(missing), "sum", 1, keepdims)
        fill = -np.inf if kind == "max" else np.inf
        extreme = _reduce(_where(missing, fill, a), kind, 1, keepdims)
        return _where(_reduce(missing, "all", 1, keepdims), np.nan, extreme)

    return build


def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("sum", out=out, **kw)
    return _reduce(a, "sum", axis, keepdims, dtype)


def _prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("prod", out=out, **kw)
    return _reduce(a, "prod", axis, keepdims, dtype)


def _max(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("max", out=out, **kw)
    return _reduce(a, "max", axis, keepdims)


def _min(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("min", out=out, **kw)
    return _reduce(a, "min", axis, keepdims)


def _any(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("any", out=out, **kw)
    return _reduce(a, "any", axis, keepdims)


def _all(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("all", out=out, **kw)
    return _reduce(a, "all", axis, keepdims)


def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
    _no_extras("mean", out=out, **kw)
    a = _traced(a, "mean")
    if a._names is not None:
        return _frame_reduce(a, "mean", axis)
    _row_axis(a, axis, "mean")
    # numpy: the sum in float64 for integer input (the float's own dtype otherwise), divided by the count.
    target = np.dtype(dtype) if dtype is not None else (np.dtype(np.float64) if a.dtype.kind in "biu" else a.dtype)
    total = _reduce(TracedArray(a._tracer, a._tracer.cast(a.node, target), a._width), "sum", 1, keepdims)
    return total / np.asarray(a._width, dtype=target)


def _var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0, keepdims: bool = False, **kw):
    _no_extras("var", out=out, **kw)
    a = _traced(a, "var")
    if a._names is not None:
        return _frame_reduce(a, "var", axis)
    mean = _mean(a, axis, dtype, keepdims=True)
    deviation = a - mean
    squares = _sum(deviation * deviation, axis=1, keepdims=keepdims)
    return squares / np.asarray(max(a._width - ddof, 0), dtype=squares.dtype)


def _std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0, keepdims: bool = False, **kw):
    return np.sqrt(_var(a, axis, dtype, out, ddof, keepdims, **kw))


def _no_extras(function: str, **given: Any) -> None:
    used = [name for name, value in given.items() if value is not None and value is not np._NoValue]
    if used:
        raise TracingError(f"np.{function} with {', '.join(used)}= cannot be traced")


def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kw: Any) -> Any:
    _no_extras("clip", out=out, **{k: v for k, v in kw.items() if k not in ("min", "max")})
    a_min = kw.get("min", a_min)
    a_max = kw.get("max", a_max)
    result = a
    if a_min is not None:
        result = np.maximum(result, a_min)
    if a_max is not None:
        result = np.minimum(result, a_max)
    return result


def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise TracingError("np.where with one argument returns row indices, which depend on the values")
    if not any(isinstance(v, TracedArray) for v in (condition, x, y)):
        return np.where(condition, x, y)
    tracer = next(v for v in (condition, x, y) if isinstance(v, TracedArray))._tracer
    operands = [tracer.operand(v) for v in (condition, x, y)]
    width = tracer.broadcast_width([shape for _, shape in operands])
    dtype = _result_type(x, y)
    if isinstance(condition, TracedArray):
        mask = condition.node
        if mask.dtype != BOOL:
            mask = tracer.graph.logical_not(tracer.graph.equal(mask, tracer.graph.const(0, dtype=mask.dtype)))
    else:
        mask = tracer.constant(np.asarray(condition).astype(bool), BOOL)
    value = tracer.graph.where(mask, tracer.value_of(x, dtype), tracer.value_of(y, dtype))
    if width is not None and not any(isinstance(v, TracedArray) and v._width is not None for v in (condition, x, y)):
        raise TracingError("np.where of a one-dimensional condition and constant rows")
    return TracedArray(tracer, value, width)


def _columns_of(values: Sequence[Any], function: str, promote_1d: bool) -> tuple[_Tracer, list[Var], int]:
    traced = [v for v in values if isinstance(v, TracedArray)]
    if not traced:
        raise TracingError(f"np.{function} of constants only")
    tracer = traced[0]._tracer
    dtype = _result_type(*values)
    parts: list[Var] = []
    width = 0
    for value in values:
        if not isinstance(value, TracedArray):
            raise TracingError(f"np.{function} of the rows with a constant (its rows would have to match the batch)")
        if value._width is None:
            if not promote_1d:
                raise TracingError(f"np.{function} of one-dimensional arrays joins rows; use np.column_stack")
            parts.append(tracer.graph.unsqueeze(tracer.cast(value.node, dtype), [1]))
            width += 1
        else:
            parts.append(tracer.cast(value.node, dtype))
            width += value._width
    return tracer, parts, width


def _concatenate(arrays: Sequence[Any], axis: Any = 0, out: Any = None, **kw: Any) -> Any:
    _no_extras("concatenate", out=out, **kw)
    if axis not in (1, -1):
        raise TracingError(f"np.concatenate along axis={axis} joins rows; only axis=1 is traced")
    tracer, parts, width = _columns_of(arrays, "concatenate", promote_1d=False)
    return TracedArray(tracer, tracer.graph.concat(parts, axis=1), width)


def _hstack(tup: Sequence[Any], **kw: Any) -> Any:
    _no_extras("hstack", **kw)
    if all(isinstance(v, TracedArray) and v._width is None for v in tup):
        raise TracingError("np.hstack of one-dimensional arrays joins rows; use np.column_stack")
    tracer, parts, width = _columns_of(tup, "hstack", promote_1d=False)
    return TracedArray(tracer, tracer.graph.concat(parts, axis=1), width)


def _column_stack(tup: Sequence[Any]) -> Any:
    tracer, parts, width = _columns_of(tup, "column_stack", promote_1d=True)
    return TracedArray(tracer, tracer.graph.concat(parts, axis=1), width)


def _stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **kw: Any) -> Any:
    _no_extras("stack", out=out, **kw)
    if axis not in (1, -1) or any(isinstance(v, TracedArray) and v._width is not None for v in arrays):
        raise TracingError("np.stack is traced for one-dimensional columns along axis=1 only")
    return _column_stack(arrays)


def _reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None) -> Any:
    a = _traced(a, "reshape")
    shape = newshape if shape is None else shape  # numpy 2.0 names it newshape
    shape = tuple(shape) if isinstance(shape, tuple | list) else (shape,)
    if a._width is None and shape in ((-1, 1),):
        return TracedArray(a._tracer, a._tracer.graph.unsqueeze(a.node, [1]), 1)
    if a._width is None and shape == (-1,):
        return a.copy()
    if a._width == 1 and shape == (-1,):
        return TracedArray(a._tracer, a._tracer.graph.squeeze(a.node, [1]), None)
    if a._width is not None and shape == (-1, a._width):
        return a.copy()
    raise TracingError(f"reshape to {shape} mixes rows; only (-1, 1), (-1,) of one column and (-1, width) are traced")


def _squeeze(a: Any, axis: Any = None) -> Any:
    a = _traced(a, "squeeze")
    if a._width == 1 and axis in (None, 1, -1, (1,), (-1,)):
        return _reshape(a, (-1,))
    if a._width is None or axis is None:
        return a.copy() if a._width is None else a
    raise TracingError(f"squeeze(axis={axis}) of {a._width} columns")


def _expand_dims(a: Any, axis: Any) -> Any:
    a = _traced(a, "expand_dims")
    if a._width is None and axis in (1, -1):
        return TracedArray(a._tracer, a._tracer.graph.unsqueeze(a.node, [1]), 1)
    raise TracingError("np.expand_dims is traced for one-dimensional arrays along axis=1 only")


def _round(a: Any, decimals: int = 0, out: Any = None) -> Any:
    _no_extras("round", out=out)
    a = _traced(a, "round")
    graph = a._tracer.graph
    if a.dtype.kind != "f":
        return a.copy()
    if decimals == 0:
        return TracedArray(a._tracer, _rint(graph, a.node), a._width)
    # numpy: rint(x * 10**d) / 10**d (and the reverse for negative d).
    factor = graph.const(10.0 ** abs(decimals), "round_factor", dtype=a.dtype)
    if decimals > 0:
        value = graph.div(_rint(graph, graph.mul(a.node, factor)), factor)
    else:
        value = graph.mul(_rint(graph, graph.div(a.node, factor)), factor)
    return TracedArray(a._tracer, value, a._width)


def _nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    x = _traced(x, "nan_to_num")
    if x.dtype.kind != "f":
        return x.copy()
    graph, info = x._tracer.graph, np.finfo(x.dtype)
    value = graph.where(graph.is_nan(x.node), graph.const(nan, "nan_fill", dtype=x.dtype), x.node)
    big = graph.const(info.max if posinf is None else posinf, "posinf_fill", dtype=x.dtype)
    small = graph.const(info.min if neginf is None else neginf, "neginf_fill", dtype=x.dtype)
    infinite = _isinf(graph, value)
    value = graph.where(graph.logical_and(infinite, graph.greater(value, graph.const(0.0, dtype=x.dtype))), big, value)
    value = graph.where(graph.logical_and(infinite, graph.less(value, graph.const(0.0, dtype=x.dtype))), small, value)
    return TracedArray(x._tracer, value, x._width)


def _cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _no_extras("cumsum", out=out)
    a = _traced(a, "cumsum")
    _row_axis(a, axis, "cumsum")
    target = np.dtype(dtype) if dtype is not None else (INT64 if a.dtype.kind in "biu" else a.dtype)
    return TracedArray(a._tracer, a._tracer.graph.cumsum(a._tracer.cast(a.node, target), 1), a._width)


def _copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    return _traced(a, "copy").copy()


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _no_extras("dot", out=out)
    return np.matmul(a, b)


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    x = _traced(x, "linalg.norm")
    if ord not in (None, 2, 1, np.inf) or axis not in (1, -1):
        raise TracingError("np.linalg.norm is traced along axis=1 for ord None, 1, 2 and inf")
    if ord == 1:
        return _sum(np.absolute(x), axis=1, keepdims=keepdims)
    if ord is np.inf:
        return _max(np.absolute(x), axis=1, keepdims=keepdims)
    return np.sqrt(_sum(x * x, axis=1, keepdims=keepdims))


def _vstack(tup: Sequence[Any], **kw: Any) -> Any:
    _no_extras("vstack", **kw)
    if tup and all(isinstance(v, TracedArray) and v._width is None for v in tup):
        return _StackedColumns(list(tup))
    raise TracingError("np.vstack joins rows; only np.vstack([column, ...]).T (one-dimensional columns) is traced")


class _StackedColumns:
    """``np.vstack`` of one-dimensional columns: ``[k, rows]``, which only its transpose turns back into rows."""

    def __init__(self, columns: list[TracedArray]) -> None:
        self.columns = columns

    @property
    def T(self) -> TracedArray:
        return _column_stack(self.columns)

    def transpose(self) -> TracedArray:
        return self.T

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UnknownAttributeError(f"it uses .{name} of np.vstack(columns), which is traced only as .T")

    def __array__(self, *_: Any) -> Any:
        raise TracingError("np.vstack(columns) is traced only as np.vstack(columns).T")

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.transpose:
            return _transpose(*args, **kwargs)
        raise TracingError("np.vstack(columns) is traced only as np.vstack(columns).T or np.transpose of it")


def _transpose(a: Any, axes: Any = None) -> Any:
    if isinstance(a, _StackedColumns) and axes is None:
        return a.T
    return _traced(a, "transpose").T


def _count_crossed(x: TracedArray, bins: np.ndarray, include_equal: bool) -> TracedArray:
    """How many ``bins`` lie below ``x`` (``<=`` with ``include_equal``): numpy's searchsorted position of ``x``
    in increasing ``bins``; NaN sorts after every bin."""
    tracer, graph = x._tracer, x._tracer.graph
    dtype = np.result_type(x.dtype, bins.dtype)
    if dtype.kind not in "biuf":
        raise TracingError("bins must be numbers")
    values = tracer.cast(x.node, dtype)
    axis = x.ndim  # the bins along a new last axis
    edges = graph.const(bins.astype(dtype), "bins", dtype=dtype)
    expanded = graph.unsqueeze(values, [axis])
    crossed = graph.less_equal(edges, expanded) if include_equal else graph.less(edges, expanded)
    count = graph.reduce_sum(tracer.cast(crossed, INT64), [axis])
    if dtype.kind == "f":
        count = graph.where(graph.is_nan(values), graph.const(np.int64(len(bins)), "bin_count", dtype=INT64), count)
    return TracedArray(tracer, count, x._width)


def _increasing(bins: Any, function: str) -> np.ndarray:
    if isinstance(bins, TracedArray):
        raise TracingError(f"np.{function} is traced with constant bins")
    bins = np.asarray(bins)
    if bins.ndim != 1 or (bins.size > 1 and np.any(np.diff(bins) < 0)) or np.isnan(bins).any():
        raise TracingError(f"np.{function} is traced with one-dimensional increasing bins without NaN")
    return bins


def _digitize(x: Any, bins: Any, right: bool = False) -> Any:
    # Increasing bins: i with bins[i-1] <= x < bins[i], i.e. searchsorted(bins, x, side="right").
    return _count_crossed(_traced(x, "digitize"), _increasing(bins, "digitize"), include_equal=not right)


def _searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    if sorter is not None:
        raise TracingError("np.searchsorted with sorter= cannot be traced")
    return _count_crossed(_traced(v, "searchsorted"), _increasing(a, "searchsorted"), include_equal=side == "right")


def _select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    if len(condlist) != len(choicelist):
        raise TracingError("np.select needs as many conditions as choices")
    result = default
    for condition, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        result = _where(condition, choice, result)  # the first true condition wins
    if not isinstance(result, TracedArray):
        raise TracingError("np.select of constants only")
    return result


def _isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False, **kw: Any) -> Any:
    element = _traced(element, "isin")
    if isinstance(test_elements, TracedArray):
        raise TracingError("np.isin is traced against constant values")
    values = np.unique(np.asarray(test_elements).ravel())
    found = None
    for value in values:
        hit = np.equal(element, value)
        found = hit if found is None else np.logical_or(found, hit)
    if found is None:
        found = _filled_like(False)(element, dtype=bool)
    return np.logical_not(found) if invert else found


def _arg_extremum(largest: bool) -> Callable[..., Any]:
    def build(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        function = "argmax" if largest else "argmin"
        _no_extras(function, out=out)
        a = _traced(a, function)
        _row_axis(a, axis, function)
        graph = a._tracer.graph
        chosen = (graph.argmax if largest else graph.argmin)(a.node, axis=1, keepdims=keepdims)
        if a.dtype.kind == "f":  # numpy returns the first NaN of a row that has one
            nan = graph.is_nan(a.node)
            first_nan = graph.argmax(a._tracer.cast(nan, INT64), axis=1, keepdims=keepdims)
            has_nan = a._tracer.cast(graph.reduce_max(a._tracer.cast(nan, INT64), [1], keepdims=keepdims), BOOL)
            chosen = graph.where(has_nan, first_nan, chosen)
        return TracedArray(a._tracer, chosen, 1 if keepdims else None)

    return build


class _ColumnConcatenator:
    """``np.c_`` while a function is traced: columns of traced arrays join as np.column_stack joins them
    (numpy's own ``np.c_`` would turn them into arrays); anything else goes to numpy's."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not any(isinstance(item, TracedArray) for item in items):
            return self.original[key]
        if any(isinstance(item, slice | str) for item in items):
            raise TracingError("np.c_ with slices or string directives cannot be traced")
        return _column_stack(list(items))

    def __len__(self) -> int:
        return 0


_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _sum,
    np.prod: _prod,
    np.mean: _mean,
    np.var: _var,
    np.std: _std,
    np.max: _max,
    np.min: _min,
    np.amax: _max,
    np.amin: _min,
    np.any: _any,
    np.all: _all,
    np.clip: _clip,
    np.where: _where,
    np.concatenate: _concatenate,
    np.hstack: _hstack,
    np.column_stack: _column_stack,
    np.stack: _stack,
    np.reshape: _reshape,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.round: _round,
    np.around: _round,
    np.nan_to_num: _nan_to_num,
    np.cumsum: _cumsum,
    np.copy: _copy,
    np.dot: _dot,
    np.linalg.norm: _norm,
    np.zeros_like: _filled_like(0),
    np.ones_like: _filled_like(1),
    np.full_like: _filled_like(None),
    np.vstack: _vstack,
    np.transpose: _transpose,
    np.digitize: _digitize,
    np.searchsorted: _searchsorted,
    np.select: _select,
    np.isin: _isin,
    np.argmax: _arg_extremum(largest=True),
    np.argmin: _arg_extremum(largest=False),
    np.nansum: _nan_reduce("sum"),
    np.nanmean: _nan_reduce("mean"),
    np.nanmax: _nan_reduce("max"),
    np.nanmin: _nan_reduce("min"),
}


# ---------------------------------------------------------------------- entry point
_C_LOCK = threading.Lock()
_C_USERS = 0


@contextlib.contextmanager
def _column_concatenator() -> Any:
    """``np.c_`` converts its items with ``np.array``, which no protocol intercepts: while functions are traced,
    a stand-in that column-stacks traced arrays (and hands anything else to numpy's own) takes its place. Traces
    in several threads share one stand-in; the last to finish puts numpy's back."""
    global _C_USERS
    with _C_LOCK:
        if _C_USERS == 0:
            np.c_ = _ColumnConcatenator(np.c_)
        _C_USERS += 1
    try:
        yield
    finally:
        with _C_LOCK:
            _C_USERS -= 1
            if _C_USERS == 0:
                np.c_ = np.c_.original


def trace(
    graph: GraphBuilder,
    function: Callable[..., Any],
    x: Var,
    width: int,
    *,
    kw_args: dict[str, Any] | None = None,
    feature_names: Sequence[str] | None = None,
) -> tuple[Var, int]:
    """``function(X, **kw_args)`` for ``X`` the ``[batch, width]`` graph value ``x``: the result's variable and
    width. Raises :class:`TracingError` saying what the function does that a graph cannot."""
    tracer = _Tracer(graph)
    names = list(feature_names) if feature_names is not None and len(feature_names) == width else None
    argument = TracedArray(tracer, x, width, names=names)
    try:
        with _column_concatenator(), np.errstate(all="ignore"):
            result = function(argument, **(kw_args or {}))
    except TracingError:
        raise
    except Exception as error:  # any failure of the user's code on a traced array
        raise TracingError(f"calling it on a traced array raised {type(error).__name__}: {error}") from error
    if not isinstance(result, TracedArray):
        raise TracingError(f"it returns {type(result).__name__}, not an array computed from its input")
    if result._width is None:
        raise TracingError("it returns a one-dimensional array; sklearn's next step takes [rows, columns]")
    return result.node, result._width
