"""String categorical columns: pipelines fitted on DataFrames with string columns export with one string input
per column, and agree with sklearn on the same DataFrame (exact labels, 1e-5 on continuous outputs), unknown
and missing categories included."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

import sk2tensor
from sk2tensor import metadata as md
from sk2tensor.cli import app
from sk2tensor.errors import InputError, UnsupportedParameterError
from sk2tensor.graph import STRING_OPSET
from tests.runtime import latest_opset

TOLERANCE = 1e-5
CITIES = ["paris", "lyon", "nice", "", "Zürich", "東京", "10", "1"]


def frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numeric and string columns with missing values: empty string, unicode, digits-as-strings, None/NaN."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n),
            "city": rng.choice(CITIES, n, p=[0.3, 0.2, 0.15, 0.05, 0.1, 0.1, 0.05, 0.05]),
            "income": rng.lognormal(8, 0.5, n),
            "plan": rng.choice(["basic", "pro", "max", "rare"], n, p=[0.5, 0.3, 0.18, 0.02]),
        }
    )
    data.loc[rng.random(n) < 0.1, "age"] = np.nan
    data.loc[rng.random(n) < 0.1, "city"] = np.nan
    data.loc[rng.random(n) < 0.05, "plan"] = np.nan
    return data


def target(data: pd.DataFrame, kind: str = "binary") -> np.ndarray:
    score = data["age"].fillna(40).to_numpy() / 10 + data["city"].isin(["paris", "東京"]).to_numpy() * 2
    score += (data["plan"] == "pro").to_numpy() - np.log(data["income"].to_numpy()) / 3
    if kind == "regression":
        return score
    if kind == "multiclass":
        return np.digitize(score, np.quantile(score, [0.33, 0.66]))
    return (score > np.median(score)).astype(int)


def unseen(data: pd.DataFrame) -> pd.DataFrame:
    """Rows with categories never seen in fit, in another column order."""
    rows = data.iloc[:6].copy()
    rows["city"] = ["atlantis", "PARIS", " paris", "", None, "東京"]
    rows["plan"] = ["none", "pro", np.nan, "basic", "max", "rare"]
    return rows[["plan", "income", "city", "age"]]


def preprocessor(categorical: object, numeric: object | None = None) -> ColumnTransformer:
    steps = [("cat", categorical, ["city", "plan"])]
    if numeric is not None:
        steps.insert(0, ("num", numeric, ["age", "income"]))
    return ColumnTransformer(steps)


def assert_matches(compiled: sk2tensor.CompiledModel, model: object, X: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unknown categories: sklearn warns, the graph does not
        for method in compiled.outputs:
            got, want = compiled.run(method, X), getattr(model, method)(X)
            if isinstance(want, list):  # a multi-output predict_proba: one array per target
                assert [part.shape for part in got] == [part.shape for part in want], method
                got, want = np.concatenate(got, axis=1), np.concatenate(want, axis=1)
            want = np.asarray(want.toarray() if hasattr(want, "toarray") else want)
            assert got.shape == want.shape, method
            if method == "predict" and want.dtype.kind not in "f":
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE * max(1.0, np.nanmax(np.abs(want))))


def convert_and_check(
    model: object, data: pd.DataFrame, *, unknown: bool = True, **options: object
) -> sk2tensor.CompiledModel:
    """Convert on ``data`` and compare on it, on unseen categories (unless sklearn raises on them), on one row
    and on no row."""
    compiled = sk2tensor.convert(model, data, **options)
    assert compiled.validation.passed
    assert_matches(compiled, model, data)
    if unknown:
        assert_matches(compiled, model, unseen(data))
    assert_matches(compiled, model, data.iloc[[3]])  # one row
    for method in compiled.outputs:  # an empty batch
        result = compiled.run(method, data.iloc[:0])
        assert all(len(part) == 0 for part in (result if isinstance(result, list) else [result]))
    return compiled


# --------------------------------------------------------------------------------- each transformer alone
ENCODERS = {
    "onehot_ignore": lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    "onehot_sparse": lambda: OneHotEncoder(handle_unknown="ignore"),
    "onehot_infrequent": lambda: OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
    "onehot_max_categories": lambda: OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=3),
    "onehot_drop_first": lambda: OneHotEncoder(handle_unknown="ignore", drop="first"),
    "onehot_drop_if_binary_warn": lambda: OneHotEncoder(handle_unknown="warn", drop="if_binary", min_frequency=10),
    "ordinal_error": lambda: OrdinalEncoder(),
    "ordinal_unknown": lambda: OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
    ),
    "ordinal_unknown_nan_infrequent": lambda: OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=4
    ),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_on_string_columns(name: str) -> None:
    data = frame()
    model = preprocessor(ENCODERS[name]()).fit(data)
    compiled = convert_and_check(model, data, unknown=not name.endswith("error"))
    # The numeric columns are an input even when no transformer reads them: the input follows the data.
    assert [(i["name"], i["kind"]) for i in compiled.inputs] == [
        ("input", "numeric"),
        ("city", "string"),
        ("plan", "string"),
    ]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_target_encoder_on_string_columns(kind: str) -> None:
    data = frame()
    model = preprocessor(TargetEncoder(random_state=0)).fit(data, target(data, kind))
    convert_and_check(model, data)


@pytest.mark.parametrize(
    "imputer",
    [
        SimpleImputer(strategy="most_frequent"),
        SimpleImputer(strategy="constant", fill_value="missing"),
        SimpleImputer(strategy="constant", fill_value="paris", add_indicator=True),
        SimpleImputer(strategy="most_frequent", missing_values=""),
    ],
    ids=["most_frequent", "constant", "constant_indicator", "empty_string_marker"],
)
def test_simple_imputer_on_string_columns(imputer: SimpleImputer) -> None:
    data = frame()
    if imputer.missing_values == "":  # sklearn refuses NaN when another marker is the missing value
        data = data.fillna({"city": "", "plan": ""})
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    model = preprocessor(make_pipeline(imputer, encoder)).fit(data)
    convert_and_check(model, data, unknown=imputer.missing_values != "")


def test_encoders_and_missing_indicator_fitted_directly_on_a_frame() -> None:
    data = frame()[["city", "plan"]]
    test = unseen(frame())[["city", "plan"]]
    for model in (
        OneHotEncoder(handle_unknown="ignore").fit(data),
        OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(data),
        MissingIndicator(features="all").fit(data),
    ):
        compiled = sk2tensor.convert(model, data)
        assert [i["name"] for i in compiled.inputs] == ["city", "plan"]  # no numeric column: no numeric input
        assert_matches(compiled, model, test)
        assert compiled.transform(data.iloc[:0]).shape[0] == 0


def test_none_and_nan_are_two_categories_as_in_sklearn() -> None:
    data = pd.DataFrame({"c": pd.Series(["a", None, "b", np.nan, "a", None, "b", np.nan, "a"], dtype=object)})
    model = OneHotEncoder(handle_unknown="ignore").fit(data)
    assert len(model.categories_[0]) == 4  # a, b, None, nan
    compiled = sk2tensor.convert(model, data)
    test = pd.DataFrame({"c": pd.Series([None, np.nan, pd.NA, "a", "z"], dtype=object)})
    np.testing.assert_array_equal(compiled.transform(test)[:2], model.transform(test[:2]).toarray())
    assert compiled.transform(test)[2].tolist() == [0, 0, 0, 1]  # pd.NA is a missing value, fed as NaN's string
    ordinal = OrdinalEncoder(encoded_missing_value=-7).fit(data)
    np.testing.assert_array_equal(sk2tensor.convert(ordinal, data).transform(data), ordinal.transform(data))
    imputer = make_pipeline(SimpleImputer(strategy="most_frequent"), OrdinalEncoder()).fit(data)  # None stays
    np.testing.assert_array_equal(sk2tensor.convert(imputer, data).transform(data), imputer.transform(data))


@pytest.mark.parametrize("dtype", ["string", "str"])
def test_pandas_string_dtype_columns_feed_missing_values_as_nan(dtype: str) -> None:
    # A pandas string column holds strings or one missing value (NaN or pd.NA, never None): fed as NaN's string.
    if dtype == "str" and int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("pandas 2's 'str' makes an object column, in which None stays None")
    data = pd.DataFrame({"c": pd.Series(["a", np.nan, "b", "a", None, "b"], dtype=object)})
    model = OneHotEncoder(handle_unknown="ignore").fit(data)
    compiled = sk2tensor.convert(model, data)
    typed = pd.DataFrame({"c": pd.Series(["b", None, "z", "a"], dtype=dtype)})
    expected = model.transform(pd.DataFrame({"c": pd.Series(["b", np.nan, "z", "a"], dtype=object)})).toarray()
    np.testing.assert_array_equal(compiled.transform(typed), expected)


def test_categorical_dtype_columns() -> None:
    data = frame()
    data["plan"] = data["plan"].astype("category")
    data["city"] = data["city"].astype(object)
    model = make_pipeline(preprocessor(OneHotEncoder(handle_unknown="ignore"), _numeric()), Ridge())
    model.fit(data, target(data, "regression"))
    convert_and_check(model, data)


# --------------------------------------------------------------------------------- realistic pipelines
def _categorical() -> Pipeline:
    return make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5)
    )


def _numeric() -> Pipeline:
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


PIPELINES = {
    "logistic": (lambda: LogisticRegression(max_iter=1000), "binary", _categorical),
    "logistic_multiclass": (lambda: LogisticRegression(max_iter=1000), "multiclass", _categorical),
    "random_forest": (lambda: RandomForestClassifier(30, max_depth=8, random_state=0), "binary", _categorical),
    "hist_gradient_boosting": (
        lambda: HistGradientBoostingClassifier(max_iter=30),
        "multiclass",
        lambda: make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", max_categories=5, sparse_output=False),
        ),
    ),
    "random_forest_regressor": (
        lambda: RandomForestRegressor(20, max_depth=6, random_state=0),
        "regression",
        lambda: make_pipeline(
            SimpleImputer(strategy="constant", fill_value="?"),
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
        ),
    ),
    "hgb_regressor_target_encoder": (
        lambda: HistGradientBoostingRegressor(max_iter=30),
        "regression",
        lambda: TargetEncoder(random_state=0),
    ),
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_realistic_pipeline(name: str) -> None:
    make_estimator, kind, categorical = PIPELINES[name]
    data = frame(500)
    model = make_pipeline(preprocessor(categorical(), _numeric()), make_estimator()).fit(data, target(data, kind))
    held_out = frame(200, seed=1)
    compiled = convert_and_check(model, held_out)
    assert_matches(compiled, model, held_out[["plan", "city", "income", "age"]])  # columns in any order
    assert compiled.onnx.opset_import[0].version == STRING_OPSET
    inputs = compiled.inputs
    assert [(i["name"], i["kind"]) for i in inputs] == [("input", "numeric"), ("city", "string"), ("plan", "string")]
    assert inputs[0]["columns"] == ["age", "income"] and inputs[0]["positions"] == [0, 2]
    assert json.loads(compiled.metadata[md.MISSING_STRINGS]) == {"nan": md.MISSING_NAN, "none": md.MISSING_NONE}


def test_float64_and_column_selector() -> None:
    data = frame()
    selector = ColumnTransformer(
        [
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
            ("cat", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=object)),
        ],
        sparse_threshold=0,
    )
    data[["city", "plan"]] = data[["city", "plan"]].astype(object)
    model = make_pipeline(SimpleImputer(strategy="most_frequent"), LogisticRegression(max_iter=1000))
    model = make_pipeline(selector, model).fit(data, target(data))
    compiled = convert_and_check(model, data, dtype="float64")
    assert compiled.onnx.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_models_without_string_columns_are_unchanged() -> None:
    data = frame()[["age", "income"]]
    compiled = sk2tensor.convert(make_pipeline(_numeric(), Ridge()).fit(data, target(frame(), "regression")), data)
    assert (
        compiled.inputs is None and md.INPUTS not in compiled.metadata and md.MISSING_STRINGS not in compiled.metadata
    )
    assert [i.name for i in compiled.onnx.graph.input] == ["input"]
    assert compiled.onnx.opset_import[0].version == 13


# --------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, pd.DataFrame, sk2tensor.CompiledModel]:
    data = frame()
    model = make_pipeline(preprocessor(_categorical(), _numeric()), LogisticRegression(max_iter=1000))
    model.fit(data, target(data))
    return model, data, sk2tensor.convert(model, data)


def test_prediction_input_errors(fitted) -> None:
    _, data, compiled = fitted
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['city'\]"):
        compiled.predict(data.drop(columns="city"))
    bad = data.astype({"city": object})
    bad.loc[bad.index[2], "city"] = 7
    with pytest.raises(InputError, match=r"column 'city' holds 7 \(int\) at row 3"):
        compiled.predict(bad)
    with pytest.raises(InputError, match=r"column 'plan' holds int64 values.*dtype=str"):
        compiled.predict(data.assign(plan=1))
    with pytest.raises(InputError, match="column 'age' must hold numbers"):
        compiled.predict(data.assign(age="old"))
    # A column of missing values only (pandas reads it as float) is fine.
    compiled.predict(data.assign(plan=np.nan))


def test_object_array_rows_by_position(fitted) -> None:
    model, data, compiled = fitted
    rows = data.to_numpy(dtype=object)
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(data))


def test_string_column_reaching_another_transformer_is_refused() -> None:
    data = frame()
    imputed = ColumnTransformer([("cat", SimpleImputer(strategy="most_frequent"), ["city"])])
    pipeline = make_pipeline(imputed, OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)).fit(data)
    convert_and_check(pipeline, data)  # strings may cross a ColumnTransformer to an encoder
    with pytest.raises(UnsupportedParameterError, match="transform output of ColumnTransformer would hold string"):
        sk2tensor.convert(imputed, data)
    digits = pd.DataFrame({"code": ["1", "2", "10"] * 5})  # sklearn's scaler reads strings of digits as numbers
    scaled = make_pipeline(ColumnTransformer([("cat", "passthrough", ["code"])]), StandardScaler()).fit(digits)
    with pytest.raises(UnsupportedParameterError, match=r"StandardScaler would receive the string column\(s\) 'code'"):
        sk2tensor.convert(scaled, digits)


def test_opset_below_string_equality_is_refused(fitted) -> None:
    model, data, _ = fitted
    with pytest.raises(UnsupportedParameterError, match="opset 19"):
        sk2tensor.convert(model, data, opset=18)
    assert sk2tensor.convert(model, data, opset=latest_opset()).validation.passed


def test_input_names_do_not_clash() -> None:
    data = pd.DataFrame({"input": ["a", "b", "a"] * 10, "predict": ["x", "y", "y"] * 10, "n": np.arange(30.0)})
    model = ColumnTransformer(
        [("c", OneHotEncoder(), ["input", "predict"]), ("n", "passthrough", ["n"])], sparse_threshold=0
    ).fit(data)
    compiled = convert_and_check_plain(model, data)
    assert [i["name"] for i in compiled.inputs] == ["input", "input_2", "predict_2"]


def convert_and_check_plain(model: object, data: pd.DataFrame) -> sk2tensor.CompiledModel:
    compiled = sk2tensor.convert(model, data)
    np.testing.assert_allclose(compiled.transform(data), model.transform(data))
    return compiled


# --------------------------------------------------------------------------------- portability and the CLI
def test_saved_file_runs_in_a_plain_session_with_string_feeds(fitted, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model, data, compiled = fitted
    nodes = list(compiled.onnx.graph.node)
    assert {n.domain for n in nodes} == {""} and [o.domain for o in compiled.onnx.opset_import] == [""]
    assert not {n.op_type for n in nodes} & {"Shape", "ConstantOfShape", "Expand", "Size", "NonZero", "Range"}
    path = compiled.save(tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    missing = json.loads(meta["missing_strings"])["nan"]
    feeds = {}
    for entry in json.loads(meta["inputs"]):  # what a service in another language does
        if entry["kind"] == "numeric":
            feeds[entry["name"]] = data[entry["columns"]].to_numpy(dtype=meta["input_dtype"])
        else:
            values = data[entry["column"]].to_numpy(dtype=object)
            feeds[entry["name"]] = np.array([[missing if pd.isna(v) else v] for v in values], dtype=object)
    assert [i.name for i in session.get_inputs()] == list(feeds)
    proba = session.run(["predict_proba"], feeds)[0]
    np.testing.assert_allclose(proba, model.predict_proba(data), atol=1e-6)


def test_cli_inspect_and_predict_with_string_columns(fitted, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    model, data, compiled = fitted
    path = compiled.save(tmp_path / "model.onnx")
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "  input: float32 [batch, 2]" in result.output
    assert "  city: string [batch, 1]" in result.output and "  plan: string [batch, 1]" in result.output
    assert "string inputs (city, plan)" in result.output
    info = json.loads(runner.invoke(app, ["inspect", str(path), "--json", "--no-providers"]).output)
    assert [(i["name"], i["dtype"]) for i in info["inputs"]] == [
        ("input", "float32"),
        ("city", "string"),
        ("plan", "string"),
    ]

    rows = data.iloc[:50]
    csv = tmp_path / "rows.csv"
    rows[["plan", "income", "city", "age"]].assign(id=range(50)).to_csv(csv, index=False)  # "10", "1" look numeric
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["predict", str(path), str(csv), "-o", str(out), "-m", "predict,predict_proba"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    # pandas reads empty cells as NaN: the reference is sklearn on the frame read back from the file.
    read = pd.read_csv(csv, dtype={"city": str, "plan": str})
    np.testing.assert_array_equal(scores["predict"], model.predict(read))
    np.testing.assert_allclose(scores["predict_proba_1"], model.predict_proba(read)[:, 1], atol=1e-6)
    parquet = tmp_path / "rows.parquet"
    rows.to_parquet(parquet)
    out = tmp_path / "scores.parquet"
    assert runner.invoke(app, ["predict", str(path), str(parquet), "-o", str(out)]).exit_code == 0
    np.testing.assert_array_equal(pd.read_parquet(out)["predict"], model.predict(rows))


def test_cli_export_and_validate_and_compare_with_string_columns(fitted, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    skops_io = pytest.importorskip("skops.io")
    model, data, _ = fitted
    saved = tmp_path / "model.skops"
    skops_io.dump(model, saved)
    parquet = tmp_path / "rows.parquet"
    data.to_parquet(parquet)
    exported = tmp_path / "model.onnx"
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(saved), "-o", str(exported), "--validate", str(parquet), "--trust"])
    assert result.exit_code == 0, result.output
    assert "inputs: input float32 [batch, 2], city string [batch, 1], plan string [batch, 1]" in result.output
    result = runner.invoke(app, ["validate", str(saved), str(exported), "--data", str(parquet), "--trust"])
    assert result.exit_code == 0, result.output
    assert "passed" in result.output
    report = sk2tensor.compare(model, sk2tensor.load(exported, device="cpu"), unseen(data))
    assert report.passed and report.rows == 6
    for extra in ([], ["--onnx", str(exported), "--device", "cpu"]):
        result = runner.invoke(app, ["bench", str(saved), "--data", str(parquet), "--trust", "--repeats", "1", *extra])
        assert result.exit_code == 0, result.output
        assert "ratio" in result.output


def test_object_array_fitted_pipeline_converts_with_positional_inputs() -> None:
    data = frame()
    rows = data.to_numpy(dtype=object)  # no column names: columns by position
    encoder = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    columns = ColumnTransformer([("num", _numeric(), [0, 2]), ("cat", encoder, [1, 3])])
    model = make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(rows, target(data))
    compiled = sk2tensor.convert(model, rows)
    assert compiled.validation.passed and compiled.feature_names is None
    assert [(i["name"], i["kind"]) for i in compiled.inputs] == [
        ("input", "numeric"),
        ("column_1", "string"),
        ("column_3", "string"),
    ]
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(rows))


def test_fitted_search_over_a_string_pipeline() -> None:
    from sklearn.model_selection import GridSearchCV

    data = frame()
    pipeline = make_pipeline(preprocessor(_categorical(), _numeric()), LogisticRegression(max_iter=1000))
    search = GridSearchCV(pipeline, {"logisticregression__C": [0.1, 1.0]}, cv=2).fit(data, target(data))
    convert_and_check(search, data)


@pytest.mark.parametrize("dtype", ["category", "object"])
def test_hist_gradient_boosting_native_categorical_string_columns(dtype: str) -> None:
    data = frame(500).astype({"city": dtype, "plan": dtype})
    if dtype == "category":  # categorical_features="from_dtype" (the default)
        model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(data, target(data, "multiclass"))
    else:
        model = HistGradientBoostingRegressor(max_iter=30, categorical_features=["city", "plan"])
        model.fit(data, target(data, "regression"))
    assert list(model.is_categorical_) == [False, True, False, True]
    compiled = sk2tensor.convert(model, data)
    assert compiled.validation.passed
    test = frame(200, seed=5)
    test["city"] = test["city"].where(test.index % 7 != 0, "atlantis")  # unknown categories
    test = test.astype({"city": dtype, "plan": dtype})
    assert_matches(compiled, model, test)
    assert_matches(compiled, model, test.iloc[:1])


def test_feature_union_of_column_transformers() -> None:
    from sklearn.pipeline import FeatureUnion

    data = frame()
    union = FeatureUnion(
        [
            ("onehot", preprocessor(_categorical(), _numeric())),
            (
                "ordinal",
                ColumnTransformer(
                    [
                        (
                            "o",
                            OrdinalEncoder(
                                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
                            ),
                            ["plan"],
                        )
                    ]
                ),
            ),
        ]
    )
    model = make_pipeline(union, LogisticRegression(max_iter=1000)).fit(data, target(data))
    convert_and_check(model, data)
    strings_out = FeatureUnion([("keep", "passthrough")]).fit(data[["city"]])
    with pytest.raises(UnsupportedParameterError, match=r"FeatureUnion would receive the string column\(s\) 'city'"):
        sk2tensor.convert(make_pipeline(strings_out, OrdinalEncoder()).fit(data[["city"]]), data[["city"]])


# --------------------------------------------------------------------------------- combiners of pipelines
def _string_pipeline(final: object) -> Pipeline:
    return make_pipeline(preprocessor(_categorical(), _numeric()), final)


def test_voting_and_stacking_of_string_pipelines() -> None:
    from sklearn.ensemble import StackingClassifier, StackingRegressor, VotingClassifier, VotingRegressor

    data = frame()
    members = [
        ("lr", _string_pipeline(LogisticRegression(max_iter=1000))),
        ("rf", _string_pipeline(RandomForestClassifier(20, max_depth=4, random_state=0))),
    ]
    convert_and_check(VotingClassifier(members, voting="soft").fit(data, target(data, "multiclass")), data)
    convert_and_check(VotingClassifier(members, voting="hard").fit(data, target(data)), data)
    convert_and_check(StackingClassifier(members, cv=2).fit(data, target(data)), data)
    forest = RandomForestRegressor(10, max_depth=4, random_state=0)
    regressors = [("ridge", _string_pipeline(Ridge())), ("rf", _string_pipeline(forest))]
    convert_and_check(VotingRegressor(regressors).fit(data, target(data, "regression")), data)
    convert_and_check(StackingRegressor(regressors, cv=2).fit(data, target(data, "regression")), data)


def test_multi_output_of_a_string_pipeline() -> None:
    from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor

    data = frame()
    labels = np.stack([target(data), target(data, "multiclass")], axis=1)
    model = MultiOutputClassifier(_string_pipeline(LogisticRegression(max_iter=1000))).fit(data, labels)
    convert_and_check(model, data)
    values = np.stack([target(data, "regression"), -target(data, "regression")], axis=1)
    convert_and_check(MultiOutputRegressor(_string_pipeline(Ridge())).fit(data, values), data)
