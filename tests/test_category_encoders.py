"""category_encoders models against their own ``transform``: every supported encoder on string columns holding
None and NaN, numeric columns encoded through ``cols``, columns passed through, unknown strings and numbers,
one row and an empty batch, in pipelines before sklearn and imblearn models; refusals.

Tolerances: outputs are table look-ups of what the encoder itself computed, so float64 exports are compared
for equality (atol 0) and float32 exports within float32 rounding of the value (rtol 2**-24, which is half a
float32 unit in the last place); pipelines are held to `convert`'s tolerances (`sk2tensor.validate`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import sk2tensor
from sk2tensor.errors import UnsupportedEstimatorError, UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn
from tests.test_portability import assert_portable

ce = pytest.importorskip("category_encoders")
pd = pytest.importorskip("pandas")

#: Encoders that need a binary target (the others take any classification target; see REGRESSION).
REGRESSION = {"TargetEncoder", "MEstimateEncoder", "JamesSteinEncoder", "CatBoostEncoder", "LeaveOneOutEncoder",
              "QuantileEncoder", "SummaryEncoder"}  # fmt: skip


#: On pandas 2 these encoders give a missing value the unknown-value encoding when every row of the batch is
#: missing in that column (pandas maps an all-NaN object column otherwise), and the missing-value encoding when
#: other values are beside it; pandas 3 gives the latter in both cases, and so does the export.
PANDAS_2_BATCH_DEPENDENT = {"CatBoostEncoder", "LeaveOneOutEncoder"}


def _frame(n: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "violet", None], n, p=[0.4, 0.3, 0.15, 0.05, 0.1]).astype(object)
    colour[rng.random(n) < 0.05] = np.nan  # None and NaN both stand for a missing value in an object column
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "colour": colour,
            "size": rng.choice(["S", "M", "L", "XL"], n),
            "store": rng.choice([3, 7, 11, 19], n),  # numeric categories, encoded through cols
        }
    )
    score = frame["amount"] + (frame["size"] == "L") - 0.5 * (frame["colour"] == "red") + (frame["store"] == 7)
    return frame, score.to_numpy()


def _probe(frame, numeric_nan: bool = True):
    """The frame with values the encoder never saw, missing values (in the numeric column too unless
    ``numeric_nan`` is False, for models that refuse NaN), and each category at least once."""
    probe = frame.head(60).copy()
    probe.loc[0:4, "colour"] = "ultraviolet"
    probe.loc[5:7, "colour"] = None
    probe.loc[8:10, "colour"] = np.nan
    probe.loc[11:13, "size"] = "XXS"
    probe.loc[14:16, "store"] = 5
    probe["store"] = probe["store"].astype(np.float64)
    if numeric_nan:
        probe.loc[17:19, "store"] = np.nan
    return probe


def _target(name: str, score: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return score
    if task == "multiclass":
        return np.digitize(score, [-0.5, 0.7])
    return (score > 0.5).astype(int)


ENCODER_NAMES = [
    "BackwardDifferenceEncoder", "BaseNEncoder", "BinaryEncoder", "CatBoostEncoder", "CountEncoder",
    "CountTargetEncoder", "GrayEncoder", "HelmertEncoder", "JamesSteinEncoder", "LeaveOneOutEncoder",
    "MEstimateEncoder", "OneHotEncoder", "OrdinalEncoder", "PolynomialEncoder", "QuantileEncoder",
    "RankHotEncoder", "SumEncoder", "SummaryEncoder", "TargetEncoder", "WOEEncoder",
]  # fmt: skip
#: ``(encoder, parameters, target)``: each encoder with its defaults, then the options that change what
#: ``transform`` gives unknown and missing values, lumping, dropped columns, and the encoders' own knobs.
CASES = [(name, {"cols": ["colour", "size", "store"]}, "binary") for name in ENCODER_NAMES] + [
    ("OrdinalEncoder", {}, "binary"),  # default cols: the string columns; "store" passes through
    ("OrdinalEncoder", {"cols": ["colour", "size", "store"], "handle_unknown": "return_nan",
                        "handle_missing": "return_nan"}, "binary"),
    ("OneHotEncoder", {"cols": ["colour", "size"], "use_cat_names": True, "handle_unknown": "indicator",
                       "handle_missing": "indicator"}, "binary"),
    ("OneHotEncoder", {"cols": ["colour", "size"], "drop_invariant": True, "return_df": False}, "binary"),
    ("BaseNEncoder", {"cols": ["colour", "size"], "base": 3, "handle_unknown": "return_nan"}, "binary"),
    ("TargetEncoder", {"cols": ["colour", "size", "store"], "smoothing": 5.0, "min_samples_leaf": 10}, "regression"),
    ("TargetEncoder", {"cols": ["colour", "size"], "handle_unknown": "return_nan", "handle_missing": "return_nan"},
     "multiclass"),
    ("MEstimateEncoder", {"cols": ["colour", "size"], "m": 3.0}, "regression"),
    ("JamesSteinEncoder", {"cols": ["colour", "size"], "model": "binary"}, "binary"),
    ("CatBoostEncoder", {"cols": ["colour", "size", "store"], "a": 2.0}, "regression"),
    ("LeaveOneOutEncoder", {"cols": ["colour", "size"]}, "regression"),
    ("QuantileEncoder", {"cols": ["colour", "size"], "quantile": 0.8, "m": 2.0}, "regression"),
    ("SummaryEncoder", {"cols": ["colour", "size"], "quantiles": [0.1, 0.5, 0.9]}, "regression"),
    ("WOEEncoder", {"cols": ["colour", "size"], "regularization": 0.5, "randomized": False}, "binary"),
    ("CountEncoder", {"cols": ["colour", "size", "store"], "normalize": True, "min_group_size": 0.1}, "binary"),
    ("CountEncoder", {"cols": ["colour", "size"], "handle_unknown": "return_nan", "handle_missing": "count"},
     "binary"),
    ("CountTargetEncoder", {"cols": ["colour", "size"]}, "multiclass"),
    ("OrdinalEncoder", {"cols": ["colour", "size"], "min_group_size": 40}, "binary"),
    ("TargetEncoder", {"cols": ["colour", "size"], "min_group_size": 0.1, "min_group_name": "rare"}, "binary"),
]  # fmt: skip


def _fitted(name: str, params: dict, task: str, seed: int = 0):
    frame, score = _frame(seed=seed)
    encoder = getattr(ce, name)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # category_encoders' FutureWarnings about defaults
        encoder.fit(frame, _target(name, score, task))
    return encoder, frame


def _expected(encoder, rows) -> np.ndarray:
    return np.asarray(encoder.transform(rows), dtype=np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "params", "task"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_encoder_matches_its_transform(name: str, params: dict, task: str, dtype: str) -> None:
    encoder, frame = _fitted(name, params, task)
    compiled = sk2tensor.convert(encoder, frame, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_portable(compiled.onnx)
    probe = _probe(frame)
    rows = probe.astype({"amount": dtype})
    batches = [rows, rows.iloc[:1], rows.iloc[8:9], rows.iloc[3:17]]
    if name in PANDAS_2_BATCH_DEPENDENT and int(pd.__version__.split(".")[0]) < 3:
        del batches[2]  # row 8 alone: a batch whose "colour" is all missing (see PANDAS_2_BATCH_DEPENDENT)
    for batch in batches:
        got = compiled.transform(batch)
        expected = _expected(encoder, batch)
        assert got.shape == expected.shape
        if dtype == "float64":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected.astype(np.float32), rtol=2**-24, atol=0)
    assert compiled.transform(rows.iloc[:0]).shape[0] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_target_encoders_on_other_data(seed: int) -> None:
    for name in ("TargetEncoder", "WOEEncoder", "CatBoostEncoder", "OneHotEncoder"):
        encoder, frame = _fitted(name, {"cols": ["colour", "size", "store"]}, "binary", seed=seed)
        compiled = sk2tensor.convert(encoder, frame, dtype="float64")
        probe = _probe(frame)
        np.testing.assert_array_equal(compiled.transform(probe), _expected(encoder, probe))


def test_float32_graph_matches_numeric_categories_as_float32_rows_do() -> None:
    # A category such as 0.1 has no float32 equal: a float32 row never matches it, in the encoder and here.
    frame, score = _frame()
    frame["rate"] = np.random.default_rng(0).choice([0.1, 0.25, 0.3], len(frame))
    encoder = ce.TargetEncoder(cols=["colour", "size", "rate"]).fit(frame, score > 0.5)
    compiled = sk2tensor.convert(encoder, frame, dtype="float32", validate=False)
    rows = frame.astype({"amount": np.float32, "rate": np.float32, "store": np.float32})
    expected = _expected(encoder, rows)
    np.testing.assert_allclose(compiled.transform(rows), expected.astype(np.float32), rtol=2**-24, atol=0)
    rate = list(encoder.feature_names_out_).index("rate")
    assert len(np.unique(expected[:, rate])) == 2  # 0.1 and 0.3 are unknown in float32, 0.25 is not


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(ce.TargetEncoder(cols=["colour", "size", "store"]), LogisticRegression(max_iter=500)),
        lambda: make_pipeline(ce.OneHotEncoder(cols=["colour", "size"]), RandomForestClassifier(30, random_state=0)),
        lambda: make_pipeline(
            ColumnTransformer(
                [("codes", ce.BinaryEncoder(), ["colour", "size"]), ("amount", StandardScaler(), ["amount"])],
                remainder="drop",
            ),
            HistGradientBoostingClassifier(max_iter=20, random_state=0),
        ),
        lambda: make_pipeline(  # strings the first encoder leaves alone reach the second
            ce.CountEncoder(cols=["colour"]),
            ColumnTransformer([("size", OneHotEncoder(handle_unknown="ignore"), ["size"])], remainder="passthrough"),
            LogisticRegression(max_iter=500),
        ),
    ],
    ids=["target_logistic", "one_hot_forest", "column_transformer_hgb", "strings_passed_on"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pipelines(make, dtype: str) -> None:
    frame, score = _frame()
    model = make().fit(frame, (score > 0.5).astype(int))
    compiled = sk2tensor.convert(model, frame, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_portable(compiled.onnx)
    probe = _probe(frame, numeric_nan=False).astype({"amount": dtype})
    assert_matches_sklearn(model, compiled, probe, dtype)


def test_regression_pipeline() -> None:
    frame, score = _frame()
    model = make_pipeline(ce.JamesSteinEncoder(cols=["colour", "size", "store"]), Ridge()).fit(frame, score)
    compiled = sk2tensor.convert(model, frame, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, _probe(frame), "float64")


def test_with_an_imblearn_sampler() -> None:
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline")
    from imblearn.over_sampling import RandomOverSampler

    frame, score = _frame()
    model = imblearn_pipeline.make_pipeline(
        ce.WOEEncoder(cols=["colour", "size"]), RandomOverSampler(random_state=0), LogisticRegression(max_iter=500)
    ).fit(frame, (score > 1.5).astype(int))
    compiled = sk2tensor.convert(model, frame)
    assert compiled.validation.passed, compiled.validation.summary()
    probe = _probe(frame, numeric_nan=False)
    np.testing.assert_array_equal(compiled.predict(probe), model.predict(probe.astype({"amount": np.float32})))


def test_saved_file_reads_strings_in_a_plain_session(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    encoder, frame = _fitted("TargetEncoder", {"cols": ["colour", "size"]}, "binary")
    path = sk2tensor.convert(encoder, frame, dtype="float64").save(tmp_path / "encoder.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        "input": frame[["amount", "store"]].to_numpy(np.float64),
        "colour": np.array([["red"], ["__sk2tensor_missing_none__"], ["ultraviolet"]], dtype=object),
        "size": np.array([["S"], ["L"], ["M"]], dtype=object),
    }
    feeds["input"] = feeds["input"][:3]
    got = session.run(["transform"], feeds)[0]
    rows = frame.head(3).copy()
    rows["colour"] = ["red", None, "ultraviolet"]
    rows["size"] = ["S", "L", "M"]
    np.testing.assert_array_equal(got, _expected(encoder, rows))


def test_every_encoder_registered_has_a_case() -> None:
    registered = {cls.__name__ for cls in sk2tensor.supported() if cls.__module__.split(".")[0] == "category_encoders"}
    assert registered == set(ENCODER_NAMES) == {name for name, _, _ in CASES}


# ----------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("name", "reason"), [("HashingEncoder", "md5"), ("MultiHotEncoder", "delimiter")])
def test_encoders_ONNX_cannot_express_are_refused_with_the_reason(name: str, reason: str) -> None:
    frame, score = _frame()
    encoder = getattr(ce, name)(cols=["colour"]).fit(frame.fillna("none"), score > 0.5)
    with pytest.raises(UnsupportedEstimatorError, match=reason):
        sk2tensor.convert(encoder, frame)


def test_composite_columns_are_refused() -> None:
    frame, score = _frame()
    encoder = ce.TargetEncoder(cols=["size"], composite_cols=[("colour", "size")]).fit(frame, score > 0.5)
    with pytest.raises(UnsupportedParameterError, match="composite_cols"):
        sk2tensor.convert(encoder, frame)


def test_strings_left_in_the_output_are_refused() -> None:
    frame, score = _frame()
    encoder = ce.OrdinalEncoder(cols=["colour"]).fit(frame, score)
    with pytest.raises(UnsupportedParameterError, match="string columns"):
        sk2tensor.convert(encoder, frame)


def test_numeric_input_for_columns_fitted_on_strings_is_refused() -> None:
    frame, score = _frame()
    frame["size"] = frame["size"].map({"S": "1", "M": "2", "L": "3", "XL": "4"})
    encoder = ce.TargetEncoder(cols=["colour", "size"]).fit(frame, score > 0.5)
    numeric = frame.assign(size=frame["size"].astype(float))
    with pytest.raises(UnsupportedParameterError, match="fitted on strings"):
        sk2tensor.convert(encoder, numeric)


def test_unfitted_encoder() -> None:
    frame, _ = _frame()
    with pytest.raises(NotFittedError, match="TargetEncoder"):
        sk2tensor.convert(ce.TargetEncoder(), frame)


def test_command_line_exports_and_validates_on_a_csv_with_string_columns(tmp_path: Path) -> None:
    # skops cannot save category_encoders' fitted state (pandas objects), so the model travels as a joblib pickle.
    import joblib

    from tests.test_cli import assert_error, assert_ok, invoke

    frame, score = _frame()
    frame = frame.fillna({"colour": "none"})  # a CSV cell holds no None
    model = make_pipeline(ce.TargetEncoder(cols=["colour", "size"]), LogisticRegression(max_iter=500))
    model.fit(frame, (score > 0.5).astype(int))
    joblib.dump(model, tmp_path / "model.joblib")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "model.onnx"
    assert_error(invoke("export", tmp_path / "model.joblib", "-o", out), "refusing to load", "--trust")
    with warnings.catch_warnings():
        # Python hides DeprecationWarning outside __main__, as a real `sk2tensor` run does; pytest shows them, and
        # category_encoders' pandas deprecation notices (raised in the model's own transform) would reach stderr.
        warnings.simplefilter("ignore", DeprecationWarning)
        result = invoke("export", tmp_path / "model.joblib", "-o", out, "--trust", "--validate", tmp_path / "rows.csv")
    assert_ok(result)
    np.testing.assert_array_equal(sk2tensor.load(out).predict(frame), model.predict(frame))


def test_values_the_encoder_refuses_come_out_nan() -> None:
    # handle_unknown="error" makes transform raise on an unseen category; a graph cannot, and gives NaN.
    encoder, frame = _fitted("TargetEncoder", {"cols": ["colour", "size"], "handle_unknown": "error"}, "binary")
    compiled = sk2tensor.convert(encoder, frame, dtype="float64")
    assert compiled.validation.passed
    rows = frame.head(4).copy()
    rows.loc[0, "size"] = "XXS"
    out = compiled.transform(rows)
    size = list(encoder.feature_names_out_).index("size")
    assert np.isnan(out[0, size])
    np.testing.assert_array_equal(out[1:], _expected(encoder, rows.iloc[1:]))
