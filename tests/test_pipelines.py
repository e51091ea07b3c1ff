"""Whole pipelines as users build them: DataFrames (feature names kept, columns in any order, a missing column
named), held-out rows with unknown categories and missing values, sparse encoder outputs, what a graph cannot
do (raise) documented by behaviour, and clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

import sk2tensor
import tests.cases  # noqa: F401  (the case table first: the family case modules import it)
from sk2tensor.errors import InputError, UnsupportedEstimatorError, UnsupportedParameterError
from sk2tensor.validate import PROBABILITY_ATOL, SCALED_TOL
from tests.cases_compose import frame_preprocessor
from tests.cases_preprocessing import local_dataset


@pytest.fixture(scope="module")
def frame_model():
    data = local_dataset("frame")
    model = make_pipeline(frame_preprocessor(sparse=True), LogisticRegression(max_iter=2000))
    model.fit(data.X.iloc[:400], data.y[:400])
    return model, data.X, data.y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frame_pipeline_on_held_out_rows(frame_model, dtype: str) -> None:
    model, X, _ = frame_model
    compiled = sk2tensor.convert(model, X.iloc[:400], dtype=dtype)
    held_out = X.iloc[400:].astype(dtype)  # unknown city codes, missing values
    np.testing.assert_array_equal(compiled.predict(held_out), model.predict(held_out))
    np.testing.assert_allclose(
        compiled.predict_proba(held_out), model.predict_proba(held_out), atol=PROBABILITY_ATOL[dtype], rtol=0
    )


def test_feature_names_are_kept_and_columns_may_come_in_any_order(frame_model) -> None:
    model, X, _ = frame_model
    compiled = sk2tensor.convert(model, X)
    assert compiled.feature_names == list(X.columns)
    assert json.loads(compiled.metadata["feature_names"]) == list(X.columns)
    shuffled = X[list(reversed(X.columns))].assign(extra=1.0)
    np.testing.assert_array_equal(compiled.predict(shuffled), model.predict(X.astype(np.float32)))
    with pytest.raises(InputError, match="plan"):
        compiled.predict(X.drop(columns=["plan"]))


def test_column_transformer_selects_by_name_in_fitted_order() -> None:
    data = local_dataset("frame_regression")
    X = data.X
    columns = ["channel", "score", "age"]  # not the frame's order
    model = make_pipeline(
        ColumnTransformer(
            [
                ("scaled", make_pipeline(FunctionTransformer(np.abs), StandardScaler()), ["score"]),
                ("coded", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), ["channel"]),
            ],
            remainder="drop",
        ),
        Ridge(),
    ).fit(X[columns], data.y)
    compiled = sk2tensor.convert(model, X[columns])
    assert compiled.feature_names == columns
    np.testing.assert_allclose(
        compiled.predict(X), model.predict(X[columns].astype(np.float32)), rtol=0, atol=1e-4 * np.abs(data.y).max()
    )


def test_sparse_outputs_are_exported_dense() -> None:
    X = np.random.default_rng(0).integers(0, 4, size=(200, 3)).astype(float)
    encoder = OneHotEncoder().fit(X)  # sparse_output=True
    compiled = sk2tensor.convert(encoder, X)
    np.testing.assert_array_equal(compiled.transform(X), encoder.transform(X).toarray())
    binner = KBinsDiscretizer(4, encode="onehot", quantile_method="averaged_inverted_cdf").fit(X + 0.5)
    compiled = sk2tensor.convert(binner, X)
    np.testing.assert_array_equal(compiled.transform(X), binner.transform(X).toarray())


def test_what_a_graph_cannot_raise_is_documented_by_its_output() -> None:
    X = np.array([[0.0], [1.0], [2.0]] * 10)
    unseen = np.array([[5.0], [1.0]])
    one_hot = OneHotEncoder(sparse_output=False).fit(X)  # handle_unknown="error": sklearn raises
    assert sk2tensor.convert(one_hot, X).transform(unseen).tolist() == [[0, 0, 0], [0, 1, 0]]
    ordinal = OrdinalEncoder().fit(X)
    assert np.isnan(sk2tensor.convert(ordinal, X).transform(unseen)[0, 0])
    spline = SplineTransformer(n_knots=3, extrapolation="error").fit(X)
    out = sk2tensor.convert(spline, X).transform(unseen)
    assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()


def test_unsupported_functions_and_categories_are_refused_clearly() -> None:
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(UnsupportedParameterError, match=r"FunctionTransformer with func='<lambda>'.*np.sort"):
        sk2tensor.convert(FunctionTransformer(lambda v: np.sort(v, axis=1)).fit(X), X)
    with pytest.raises(UnsupportedParameterError, match=r"inverse_func='<lambda>'.*selects rows"):
        model = TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=lambda v: v[::-1], check_inverse=False)
        sk2tensor.convert(model.fit(X, y), X)
    regressor = TransformedTargetRegressor(Ridge(), transformer=QuantileTransformer(n_quantiles=50)).fit(X, y)
    with pytest.raises(UnsupportedParameterError, match="inverse transforms of"):
        sk2tensor.convert(regressor, X)
    strings = np.array([["a"], ["b"], ["a"]], dtype=object)
    with pytest.raises(UnsupportedParameterError, match="numeric categories only"):
        sk2tensor.convert(OneHotEncoder().fit(strings), n_features=1, validate=False)


def test_unsupported_member_of_a_composite_is_named() -> None:
    X, y = load_iris(return_X_y=True)

    class Custom(StandardScaler):
        pass

    model = make_pipeline(Custom(), RandomForestClassifier(5, random_state=0)).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match="Custom"):
        sk2tensor.convert(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numeric_helpers_match_numpy_and_scipy(dtype: str) -> None:
    """np.interp with repeated knots, the normal quantile near 0 and 1, accurate expm1/log1p near zero."""
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.choice([0.0, 1.0, 1.0, 2.0, 5.0], 300), rng.normal(size=300) * 1e-6])
    transformer = QuantileTransformer(n_quantiles=50, output_distribution="normal").fit(X)
    probe = np.vstack([X, [[1.0, 0.0], [-1.0, 1e-3], [6.0, -1e-3]]])
    compiled = sk2tensor.convert(transformer, probe, dtype=dtype)
    expected = transformer.transform(probe.astype(dtype))
    np.testing.assert_allclose(compiled.transform(probe), expected, rtol=0, atol=SCALED_TOL[dtype] * 6)
    for function in (np.expm1, np.log1p):
        ft = FunctionTransformer(function).fit(X)
        got = sk2tensor.convert(ft, X, dtype=dtype).transform(X)
        np.testing.assert_allclose(got, function(X.astype(dtype)), rtol=4 * np.finfo(dtype).eps, atol=0)


def test_integer_columns_selected_by_dtype_and_an_estimator_as_remainder() -> None:
    data = local_dataset("frame_multiclass")
    frame = data.X.copy()
    frame["city"] = frame["city"].astype("int64")  # integer categories, as a DataFrame usually holds them
    frame["channel"] = frame["channel"].astype("int64")
    model = make_pipeline(
        ColumnTransformer(
            [("codes", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="int64"))],
            remainder=make_pipeline(SimpleImputer(), StandardScaler()),
        ),
        LogisticRegression(max_iter=2000),
    ).fit(frame.iloc[:500], data.y[:500])
    compiled = sk2tensor.convert(model, frame)
    assert compiled.validation.passed
    np.testing.assert_array_equal(compiled.predict(frame), model.predict(frame.astype(np.float32)))


def test_multi_output_classifier_with_different_class_counts() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.column_stack([X[:, 0] > 0, np.digitize(X[:, 1], [-0.5, 0.5])]).astype(int)
    model = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    compiled = sk2tensor.convert(model, X)
    assert compiled.outputs == ("predict", "predict_proba")
    np.testing.assert_array_equal(compiled.predict(X), model.predict(X.astype(np.float32)))
    # sklearn's list of per-target probabilities, of 2 and 3 classes: side by side in the graph, split back here.
    assert json.loads(compiled.metadata["split_outputs"]) == {"predict_proba": [2, 3]}
    for got, expected in zip(compiled.predict_proba(X), model.predict_proba(X.astype(np.float32)), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=PROBABILITY_ATOL["float32"])
