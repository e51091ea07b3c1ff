"""Custom Python functions traced into the graph (sk2tensor.converters._tracing).

Each function is exported as a FunctionTransformer and compared with calling it on the same rows. Functions
of arithmetic, comparisons, selections, assignments, clipping, rounding and row sums are bit for bit numpy's
(sums follow numpy's pairwise order): compared with ``assert_array_equal``. Transcendental functions (log,
exp, trigonometric) are the runtime's, within 4 ulps of numpy's (4 eps of the dtype, relative, and absolute
times max(1, max |value|) where a value crosses zero); ``tan`` in float64 is sin / cos (ONNX Runtime has no
double Tan kernel), whose quotient near a pole amplifies cos's rounding: 512 eps. Float32 exports
output the graph's float dtype (as every export does), so a function that numpy computes in float64 from
float32 rows is compared at float32 precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.special
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sk2tensor
from sk2tensor.errors import UnsupportedParameterError, ValidationError


def _rows() -> np.ndarray:
    X = load_wine().data[:, :8].copy()
    X[::7, 2] = np.nan
    X[3, 4] = np.inf
    X[5, 5] = -np.inf
    X[11] = [0.5, 1.5, 2.5, -0.5, -1.5, 7.0, -7.0, 3.0]  # halves: round to even
    return X


def _assign_log(X):
    X = X.copy()
    X[:, 0] = np.abs(X[:, 0]) * 3
    X[:, [1, 2]] = 0.0
    X[:, 3:5] = X[:, 5:7] * 2
    return X


def _views(X):
    first = X[:, 0]
    return np.column_stack([first * 2, X[:, -1], X[..., 1], X[:, ::2].sum(axis=1)])


EXACT = {
    "arithmetic": lambda X: (X + 1) * 2 - X / 3 + 1 / (X + 10),
    "powers": lambda X: np.column_stack([X**2, X**0.5, X**-1, X**1]),
    "comparisons": lambda X: np.hstack([X > 2, X <= 1, (X == 0.5) | (X != X), ~(X < 0)]),
    "selection": lambda X: np.hstack([X[:, [4, 0, 0]], X[:, 1:4], X[:, np.arange(8) % 2 == 0]]),
    "assignment": _assign_log,
    "views": _views,
    "where": lambda X: np.where(np.isnan(X), -1.0, np.where(X > 3, X, 3.0)),
    "clip": lambda X: np.clip(X, 0.5, 3.0),
    "clip_method": lambda X: X.clip(min=1.0),
    "maximum": lambda X: np.column_stack([np.maximum(X, 2.0), np.minimum(X[:, :2], X[:, 2:4])]),
    "fmax": lambda X: np.hstack([np.fmax(X, 2.0), np.fmin(X[:, :3], X[:, 2:5])]),
    "round": lambda X: np.hstack([np.round(X), np.round(X, 1), np.around(X, -1), np.rint(X)]),
    "floor_ceil_trunc": lambda X: np.hstack([np.floor(X), np.ceil(X), np.trunc(X), np.sign(X)]),
    "floor_divide_remainder": lambda X: np.hstack([X // 3, X % 3, X % -2.5, np.fmod(X, 3)]),
    "sums": lambda X: np.column_stack([X.sum(axis=1), np.sum(X[:, :5], axis=-1), np.add.reduce(X, axis=1)]),
    "wide_sum": lambda X: _wide(X).sum(axis=1)[:, None],
    "mean_var_std": lambda X: np.column_stack([X.mean(axis=1), X.var(axis=1), np.std(X, axis=1, ddof=1)]),
    "extrema": lambda X: np.column_stack([X.max(axis=1), np.min(X, axis=1), np.amax(X[:, :3], axis=1)]),
    "prod": lambda X: np.prod(X[:, :4], axis=1, keepdims=True),
    "any_all": lambda X: np.column_stack([(X > 5).any(axis=1), np.all(X > 0, axis=1)]),
    "counts": lambda X: np.isnan(X).sum(axis=1, keepdims=True),
    "nan_to_num": lambda X: np.nan_to_num(X, nan=-1.0, posinf=99.0),
    "isfinite": lambda X: np.hstack([np.isfinite(X), np.isinf(X)]),
    "cumsum": lambda X: np.cumsum(X[:, :4], axis=1),
    "astype": lambda X: (X > 1).astype(np.float64) + X.astype(np.float32),
    "reshape": lambda X: np.hstack([X[:, 0].reshape(-1, 1), X[:, 1][:, None], np.expand_dims(X[:, 2], 1)]),
    "filled": lambda X: np.column_stack([np.ones_like(X[:, 0]), np.zeros_like(X[:, :2]), np.full_like(X, 7.0)]),
    "concatenate": lambda X: np.concatenate([X[:, :2], -X[:, 2:3]], axis=1),
    "stack": lambda X: np.stack([X[:, 0], X[:, 1]], axis=1),
    "absolute": lambda X: np.column_stack([np.abs(X), abs(-X), np.fabs(X)]),
    "names_of_numpy_2": lambda X: np.positive(np.negative(X)) - np.square(X) + np.reciprocal(X + 20),
}


def _wide(X: np.ndarray) -> np.ndarray:
    """300 columns: numpy sums them in halves of blocks of eight lanes."""
    return np.hstack([X * (i + 1) for i in range(37)] + [X[:, :4]])


CLOSE = {
    "log": lambda X: np.column_stack([np.log(np.abs(X) + 1), np.log2(X + 20), np.log10(X + 20), np.log1p(X)]),
    "exp": lambda X: np.hstack([np.exp(X / 10), np.exp2(X / 10), np.expm1(X / 10)]),
    "power": lambda X: np.hstack([X**3, np.power(np.abs(X), 1.7), np.float_power(X, 2)]),
    "trigonometry": lambda X: np.hstack([np.sin(X), np.cos(X), np.tanh(X / 5)]),
    "tan": lambda X: np.tan(X / 5),
    "hyperbolic": lambda X: np.hstack([np.sinh(X / 5), np.cosh(X / 5), np.arcsinh(X), np.arccosh(np.abs(X) + 1)]),
    "arctanh": lambda X: np.arctanh(np.clip(X / 10, -0.9, 0.9)),
    "expit_logit": lambda X: np.hstack([scipy.special.expit(X / 5), scipy.special.logit(np.abs(X) / (np.abs(X) + 1))]),
    "norm": lambda X: np.column_stack([np.linalg.norm(X[:, :3], axis=1), np.linalg.norm(X[:, :3], ord=1, axis=1)]),
    "matmul": lambda X: np.nan_to_num(X) @ np.linspace(-1.0, 1.0, 16).reshape(8, 2),
    "dot": lambda X: np.dot(np.nan_to_num(X[:, :3], posinf=0.0, neginf=0.0), np.array([0.5, -1.0, 2.0])[:, None]),
}


#: Ulps allowed beyond the default 4 (see the module docstring).
WIDER = {"tan": 512}


def _compare(function, dtype: str, exact: bool, ulps: int = 4) -> None:
    X = _rows().astype(dtype)
    transformer = FunctionTransformer(function).fit(X)
    with np.errstate(all="ignore"):
        expected = np.asarray(function(X.copy()))
        compiled = sk2tensor.convert(transformer, X, dtype=dtype)
    got = compiled.transform(X)
    assert got.shape == expected.shape
    if expected.dtype.kind == "f" and expected.dtype != np.dtype(dtype):  # float64 result of float32 rows
        expected = expected.astype(dtype)
        got = got.astype(dtype)
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        eps = np.finfo(dtype).eps
        scale = max(1.0, float(np.nanmax(np.abs(expected[np.isfinite(expected)]))))
        np.testing.assert_allclose(got, expected, rtol=ulps * eps, atol=ulps * eps * scale)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_functions_match_numpy_bit_for_bit(name: str, dtype: str) -> None:
    _compare(EXACT[name], dtype, exact=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CLOSE))
def test_transcendental_functions_match_numpy_to_a_few_ulps(name: str, dtype: str) -> None:
    _compare(CLOSE[name], dtype, exact=False, ulps=WIDER.get(name, 4))


def test_one_row_and_an_empty_batch() -> None:
    X = _rows()
    compiled = sk2tensor.convert(FunctionTransformer(EXACT["sums"]).fit(X), X, dtype="float64")
    np.testing.assert_array_equal(compiled.transform(X[:1]), EXACT["sums"](X[:1]))
    assert compiled.transform(X[:0]).shape == (0, 3)


def test_kw_args_are_constants_of_the_trace() -> None:
    X = _rows()
    transformer = FunctionTransformer(np.round, kw_args={"decimals": 1}).fit(X)
    np.testing.assert_array_equal(sk2tensor.convert(transformer, X, dtype="float64").transform(X), np.round(X, 1))


def test_named_columns_of_a_dataframe() -> None:
    data = load_diabetes(as_frame=True)
    frame, y = data.data, data.target

    def ratios(df):
        return np.column_stack([df["bmi"] / (df["bp"] + 1.0), df[["s1", "s2"]] * 2])

    model = make_pipeline(FunctionTransformer(ratios), Ridge()).fit(frame, y)
    compiled = sk2tensor.convert(model, frame, dtype="float64")
    np.testing.assert_allclose(compiled.predict(frame), model.predict(frame), rtol=0, atol=1e-9)


def test_inverse_func_of_a_transformed_target() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = TransformedTargetRegressor(
        Ridge(), func=lambda v: np.log1p(v), inverse_func=lambda v: np.expm1(v), check_inverse=False
    ).fit(X, y)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    # expm1 is Kahan's (exp(y) - 1) * y / log(exp(y)): a few ulps of numpy's, so 16 eps.
    np.testing.assert_allclose(compiled.predict(X), model.predict(X), rtol=16 * np.finfo(np.float64).eps)


def _branch(X):
    return X if X.max() > 0 else -X


def _stale_view(X):
    first = X[:, 0]
    X[:, 0] = 0.0
    return np.column_stack([first])


def _view_assignment(X):
    head = X[:, :3]
    head[:, 0] = 1.0
    return X


REFUSED = {
    "rows": (lambda X: X[:10], "selects rows"),
    "batch_reduction": (lambda X: X - X.mean(axis=0), "axis=0 mixes rows"),
    "whole_reduction": (_branch, "reduces over the whole batch"),
    "asarray": (lambda X: np.asarray(X) + 1, "uses the values themselves"),
    "float": (lambda X: X * float(X[:, 0].sum(axis=0)), "mixes rows|values themselves"),
    "length": (lambda X: X / len(X), "number of rows"),
    "row_count": (lambda X: np.column_stack([X, np.ones((X.shape[0], 1))]), "number of rows"),
    "sort": (lambda X: np.sort(X, axis=1), "np.sort cannot be traced"),
    "transpose": (lambda X: X.T @ X, "transposes"),
    "one_dimensional": (lambda X: X[:, 0], "one-dimensional"),
    "constant": (lambda X: np.zeros((3, 2)), "returns ndarray"),
    "stale_view": (_stale_view, "reads a view of an array after assigning"),
    "view_assignment": (_view_assignment, "assigns into a view"),
    "pandas_method": (lambda X: X.apply(np.log), r"uses \.apply"),
    "names_without_frame": (lambda X: X["bmi"], "not fitted on named columns"),
    "misaligned": (lambda X: X[:, 0] + X, "one-dimensional column against"),
    "row_constant": (lambda X: X + np.ones((5, 8)), "constant of shape"),
    "ufunc_out": (lambda X: np.log(X, out=None, where=X > 0), "where="),
    "unknown_ufunc": (lambda X: np.arctan2(X, 2.0), "np.arctan2 cannot be traced"),
    "integer_bits": (lambda X: X.astype(np.int64) & 3, "bitwise and of integers"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_untraceable_functions_are_refused_with_the_reason(name: str) -> None:
    function, reason = REFUSED[name]
    X = _rows()
    transformer = FunctionTransformer(function, check_inverse=False)
    transformer.n_features_in_ = X.shape[1]  # fitted by hand: some of these functions fail on real rows too
    with pytest.raises(UnsupportedParameterError, match=r"FunctionTransformer with func=.*traces the function") as info:
        sk2tensor.convert(transformer, n_features=X.shape[1], validate=False)
    assert info.match(reason)


def test_a_wrong_trace_is_caught_by_validation() -> None:
    """A function whose result depends on the batch itself (here a global counter) traces once and then differs
    from sklearn's calls: validation refuses the export rather than handing out a wrong graph."""
    calls = {"n": 0}

    def counting(X):
        calls["n"] += 1
        return X + calls["n"]

    X = _rows()
    with pytest.raises(ValidationError, match="disagrees with sklearn"):
        sk2tensor.convert(FunctionTransformer(counting).fit(X), X, dtype="float64")


def test_the_saved_graph_runs_without_sk2tensor(tmp_path) -> None:
    import onnxruntime as ort

    X = _rows()
    path = tmp_path / "engineered.onnx"
    sk2tensor.convert(FunctionTransformer(_assign_log).fit(X), X, dtype="float64").save(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(got, _assign_log(X), rtol=4 * np.finfo(np.float64).eps)


def test_pandas_frames_pass_through_sklearn_and_the_export_alike() -> None:
    frame = pd.DataFrame(_rows()[:, :3], columns=["a", "b", "c"])
    model = FunctionTransformer(lambda df: np.log1p(df[["a", "c"]].abs())).fit(frame)
    compiled = sk2tensor.convert(model, frame, dtype="float64")
    np.testing.assert_allclose(
        compiled.transform(frame), np.log1p(frame[["a", "c"]].abs()).to_numpy(), rtol=4 * np.finfo(np.float64).eps
    )


MORE_EXACT = {
    "c_": lambda X: np.c_[X[:, 0], X[:, 1:3], np.log1p(np.abs(X[:, 3]))],
    "vstack_t": lambda X: np.vstack([X[:, 0], X[:, 2] * 2]).T,
    "transpose_of_vstack": lambda X: np.transpose(np.vstack([X[:, 1], X[:, 0]])),
    "digitize": lambda X: np.column_stack(
        [np.digitize(X[:, 1], [0.0, 1.5, 2.5]), np.digitize(X, [1.0, 2.5], right=True)]
    ),
    "searchsorted": lambda X: np.column_stack(
        [np.searchsorted([1.0, 2.0, 2.0, 3.0], X[:, 2]), np.searchsorted([1.0, 2.0, 2.0], X[:, 2], side="right")]
    ),
    "select": lambda X: np.select([X < 1, X < 3], [X * 10, X * 100], default=-1.0),
    "isin": lambda X: np.hstack([np.isin(np.round(X), [1.0, 2.0, 13.0]), np.isin(X[:, :2], [0.5], invert=True)]),
    "argmax": lambda X: np.column_stack([X.argmax(axis=1), np.argmin(X[:, :4], axis=1), np.argmax(X, axis=-1)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MORE_EXACT))
def test_more_array_functions(name: str, dtype: str) -> None:
    """np.c_ (intercepted while tracing), vstack(...).T, binning, select, isin and arg-extrema: exact (the
    log1p column of c_ is a transcendental one, within the usual few ulps)."""
    _compare(MORE_EXACT[name], dtype, exact=name != "c_", ulps=4)


def test_np_c_is_numpys_again_after_tracing() -> None:
    X = _rows()
    sk2tensor.convert(FunctionTransformer(MORE_EXACT["c_"]).fit(X), X, dtype="float64")
    assert type(np.c_).__name__ == "CClass"
    np.testing.assert_array_equal(np.c_[np.ones(2), np.zeros(2)], [[1.0, 0.0], [1.0, 0.0]])


MORE_EXACT.update(
    {
        "nan_reductions": lambda X: np.column_stack(
            [np.nansum(X, axis=1), np.nanmean(X, axis=1), np.nanmax(X, axis=1), np.nanmin(X[:, 2:4], axis=1)]
        ),
    }
)


def _frame() -> pd.DataFrame:
    data = load_diabetes(as_frame=True)
    frame = data.data.copy()
    frame.loc[::9, "s1"] = np.nan
    frame.loc[::11, "bp"] = np.nan
    return frame, data.target.to_numpy()


def add_features(df):
    """pandas-style feature engineering: new columns by name, assign with a callable, drop."""
    df = df.copy()
    df["ratio"] = df["bmi"] / (df["bp"] + 1.0)
    df["flag"] = df["s1"] > 0
    df = df.assign(total=lambda d: d[["s1", "s2", "s3"]].sum(axis=1), average=df[["s4", "s5", "bp"]].mean(axis=1))
    df["s6"] = df["s6"].clip(lower=-0.05).fillna(0.0)
    return df.drop(columns=["sex"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pandas_feature_engineering(dtype: str) -> None:
    """New columns, assign, drop, and pandas' NaN-skipping sum and mean along the rows (left to right, as pandas
    adds a frame's columns): bit for bit pandas' values, then a NaN-aware model."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    frame, y = _frame()
    model = make_pipeline(FunctionTransformer(add_features), HistGradientBoostingRegressor(max_iter=30)).fit(frame, y)
    compiled = sk2tensor.convert(model, frame, dtype=dtype)
    assert compiled.validation.passed
    features = sk2tensor.convert(model[0], frame, dtype="float64").transform(frame)
    np.testing.assert_array_equal(features, add_features(frame).to_numpy(dtype=np.float64))


def test_pandas_reductions_other_than_sum_and_mean_are_refused() -> None:
    frame, _ = _frame()
    for function, reason in (
        (lambda df: df.assign(spread=df.std(axis=1)), "pandas var|pandas std"),
        (lambda df: df.assign(top=df.max(axis=1)), "pandas max"),
        (lambda df: df.drop(index=[0]), "drops rows"),
        (lambda df: df.assign(total=df.sum(axis=0)), "mixes rows"),
    ):
        with pytest.raises(UnsupportedParameterError, match=reason):
            sk2tensor.convert(FunctionTransformer(function).fit(frame), frame)


def test_to_numpy_leaves_pandas_semantics() -> None:
    """After .to_numpy() the sums are numpy's (NaN propagates, pairwise order)."""
    frame, _ = _frame()

    def summed(df):
        return df.to_numpy()[:, :6].sum(axis=1, keepdims=True)

    compiled = sk2tensor.convert(FunctionTransformer(summed).fit(frame), frame, dtype="float64")
    np.testing.assert_array_equal(compiled.transform(frame), summed(frame))


def test_traces_in_threads_share_and_restore_np_c() -> None:
    from concurrent.futures import ThreadPoolExecutor

    X = _rows()
    transformer = FunctionTransformer(MORE_EXACT["c_"]).fit(X)
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: sk2tensor.convert(transformer, X, dtype="float64"), range(8)))
    assert all(model.validation.passed for model in models)
    assert type(np.c_).__name__ == "CClass"
