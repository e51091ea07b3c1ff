"""Conformance cases: sklearn.preprocessing, sklearn.impute and sklearn.feature_selection.

Besides the shared datasets, a few local ones: integer-coded categorical columns (with rare, negative,
non-float32 and missing categories), strictly positive data for Box-Cox, float32-exact data for the
transformers that raise on values float32 rounding pushes out of their fitted range. A `LocalCase` may be
fitted on the first rows only and checked on all of them, so that unknown categories and values beyond the
fitted range reach the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import scipy.special
from sklearn import datasets
from sklearn.base import clone
from sklearn.feature_selection import (
    RFE,
    RFECV,
    GenericUnivariateSelect,
    SelectFdr,
    SelectFpr,
    SelectFromModel,
    SelectFwe,
    SelectKBest,
    SelectPercentile,
    SequentialFeatureSelector,
    VarianceThreshold,
)
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    TargetEncoder,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tests.cases import Case, Dataset, dataset


@cache
def local_dataset(name: str) -> Dataset:
    """The shared datasets, and the local ones described in the module docstring."""
    rng = np.random.default_rng(7)
    n = 600
    if name.startswith("categorical"):
        X = np.column_stack(
            [
                rng.integers(0, 5, n),
                rng.choice([1, 2, 3, 10, 20, 40], n, p=[0.4, 0.3, 0.2, 0.05, 0.03, 0.02]),
                rng.integers(-2, 2, n),
                rng.choice([0.5, 1.5, 0.25], n),
                rng.integers(0, 3, n).astype(float),
            ]
        ).astype(np.float64)
        X[rng.random(n) < 0.1, 4] = np.nan
        if name.endswith("_unknown"):  # rows past the first 500 hold categories never seen in fit
            X[X[:, 3] == 0.25, 3] = 0.1  # no float32 equals 0.1: float32 inputs never match it, as in sklearn
            X[500::3, 0] = 9
            X[501::3, 1] = 7
            X[500:, 4][::4] = 5
        signal = X[:, 0] + np.where(np.isnan(X[:, 4]), 1.0, X[:, 4]) + rng.normal(size=n)
        if "multiclass" in name:
            return Dataset(X, np.digitize(signal, [2.5, 4.5]))
        if "regression" in name:
            return Dataset(X, signal * 3.0)
        return Dataset(X, (signal > 3).astype(int))
    if name.startswith("frame"):
        return _frame(name)
    if name == "multi_target":  # targets of 3, 2 and 4 classes, non-contiguous labels in one
        X, y = datasets.make_classification(500, 8, n_informative=5, n_classes=3, random_state=11)
        Y = np.c_[y, (X[:, 0] > 0).astype(int), np.digitize(X[:, 1], [-1.0, 0.0, 1.0]) * 5 - 3]
        return Dataset(X, Y)
    if name == "multilabel":
        X, Y = datasets.make_multilabel_classification(400, 10, n_classes=3, random_state=0)
        return Dataset(X, Y)
    if name == "positive":
        X, y = datasets.load_diabetes(return_X_y=True)
        return Dataset(X - X.min(axis=0) + 0.05, y)
    if name.startswith("f32_"):  # float32-exact values: float32 inputs keep the fitted range
        base = dataset(name[4:])
        return Dataset(base.X.astype(np.float32).astype(np.float64), base.y)
    if name == "marker_minus_one":
        X, y = datasets.load_wine(return_X_y=True)
        X = np.round(X)
        X[rng.random(X.shape) < 0.15] = -1
        return Dataset(X, y)
    return dataset(name)


def _frame(name: str) -> Dataset:
    """A pandas DataFrame as a realistic pipeline sees it: numeric columns with missing values and integer-coded
    categorical columns (one with missing values, one with rare codes), fitted on its first 500 rows so that
    the last 100 bring unknown codes. ``frame`` has a binary target, ``frame_regression`` a continuous one,
    ``frame_multiclass`` three classes."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = 600
    frame = pd.DataFrame(
        {
            "age": rng.normal(45, 12, n).round(),
            "income": rng.lognormal(10, 0.6, n),
            "score": rng.normal(0, 1, n),
            "city": rng.integers(0, 7, n).astype(float),
            "plan": rng.choice([1.0, 2.0, 3.0], n, p=[0.6, 0.3, 0.1]),
            "channel": rng.choice([0.0, 1.0, 2.0, 3.0, 4.0], n, p=[0.5, 0.3, 0.15, 0.03, 0.02]),
        }
    )
    for column, share in (("age", 0.1), ("income", 0.05), ("plan", 0.08)):
        frame.loc[rng.random(n) < share, column] = np.nan
    frame.loc[500::5, "city"] = 9.0  # unknown after the fitted rows
    signal = (
        (frame["age"].fillna(45) - 45) / 12
        + np.log(frame["income"].fillna(20000))
        - 10
        + 0.8 * (frame["city"] % 3)
        - 0.5 * frame["plan"].fillna(2)
        + rng.normal(0, 0.5, n)
    ).to_numpy()
    if name == "frame_regression":
        return Dataset(frame, signal * 10 + 50)
    if name == "frame_multiclass":
        return Dataset(frame, np.digitize(signal, np.quantile(signal, [0.33, 0.66])))
    return Dataset(frame, (signal > np.median(signal)).astype(int))


@dataclass(frozen=True)
class LocalCase(Case):
    """A case on a local dataset, fitted on its first ``fit_rows`` rows (all rows when None)."""

    fit_rows: int | None = None

    def fitted(self) -> tuple[Any, Dataset]:
        return _fit_local(self)


@cache
def _fit_local(case: LocalCase) -> tuple[Any, Dataset]:
    data = local_dataset(case.data)
    rows = slice(None) if case.fit_rows is None else slice(0, case.fit_rows)
    estimator = clone(case.make())
    X = data.X.iloc[rows] if hasattr(data.X, "iloc") else data.X[rows]
    if data.y is None:
        estimator.fit(X)
    else:
        estimator.fit(X, data.y[rows])
    return estimator, data


def local(make: Callable[[], Any], *data: str, name: str | None = None, fit_rows: int | None = None) -> list[Case]:
    label = name or type(make()).__name__
    return [LocalCase(f"{label}-{d}", make, d, fit_rows) for d in data]


CATEGORICAL = ("categorical", "categorical_unknown")

CASES: list[Case] = [
    # ---------------------------------------------------------------- scalers and normalisers
    *local(MinMaxScaler, "wine", "nan_regression"),
    *local(lambda: MinMaxScaler((-2, 3), clip=True), "wine", name="MinMaxScaler_clip", fit_rows=100),
    *local(MaxAbsScaler, "diabetes", "nan_binary"),
    *local(lambda: MaxAbsScaler(clip=True), "wine", name="MaxAbsScaler_clip", fit_rows=100),
    *local(RobustScaler, "wine", "nan_binary"),
    *local(lambda: RobustScaler(with_centering=False, quantile_range=(10, 90)), "diabetes", name="RobustScaler_scale"),
    *[
        case
        for norm in ("l1", "l2", "max")
        for case in local(lambda norm=norm: Normalizer(norm=norm), "wine", "iris", name=f"Normalizer_{norm}")
    ],
    *local(lambda: Binarizer(threshold=3.0), "iris"),
    *local(lambda: Binarizer(threshold=np.float64(0.01)), "diabetes", name="Binarizer_float64_threshold"),
    # ---------------------------------------------------------------- polynomial and spline features
    *local(PolynomialFeatures, "iris", "diabetes"),
    *local(
        lambda: PolynomialFeatures(3, interaction_only=True, include_bias=False),
        "iris",
        name="PolynomialFeatures_interactions",
    ),
    *local(lambda: PolynomialFeatures((2, 3)), "wine", name="PolynomialFeatures_degree_range"),
    *[
        case
        for mode in ("constant", "linear", "continue", "periodic")
        for case in local(
            lambda mode=mode: SplineTransformer(n_knots=5, degree=3, extrapolation=mode),
            "diabetes",
            name=f"SplineTransformer_{mode}",
            fit_rows=300,
        )
    ],
    *local(lambda: SplineTransformer(n_knots=4, extrapolation="error"), "f32_wine", name="SplineTransformer_error"),
    *local(
        lambda: SplineTransformer(n_knots=4, degree=2, knots="quantile", include_bias=False),
        "wine",
        name="SplineTransformer_quantile_knots",
    ),
    *local(
        lambda: SplineTransformer(n_knots=3, degree=1, extrapolation="linear"),
        "wine",
        name="SplineTransformer_degree1_linear",
        fit_rows=100,
    ),
    *local(
        lambda: SplineTransformer(n_knots=6, degree=2, handle_missing="zeros"),
        "nan_regression",
        name="SplineTransformer_missing",
    ),
    # ---------------------------------------------------------------- discretisation, quantiles, powers
    *[
        case
        for encode in ("ordinal", "onehot-dense")
        for strategy in ("uniform", "quantile", "kmeans")
        for case in local(
            lambda encode=encode, strategy=strategy: KBinsDiscretizer(5, encode=encode, strategy=strategy),
            "wine",
            name=f"KBinsDiscretizer_{encode}_{strategy}",
        )
    ],
    *local(lambda: QuantileTransformer(n_quantiles=100), "wine", "nan_regression"),
    *local(
        lambda: QuantileTransformer(n_quantiles=400, output_distribution="normal"),
        "breast_cancer",
        "diabetes",
        name="QuantileTransformer_normal",
    ),
    *local(PowerTransformer, "diabetes", "nan_binary"),
    *local(lambda: PowerTransformer(standardize=False), "wine", name="PowerTransformer_raw"),
    *local(lambda: PowerTransformer(method="box-cox"), "positive", name="PowerTransformer_box_cox"),
    # ---------------------------------------------------------------- categorical encoders
    *local(lambda: OneHotEncoder(sparse_output=False), "categorical"),
    *local(
        lambda: OneHotEncoder(sparse_output=False, handle_unknown="ignore", drop="if_binary"),
        *CATEGORICAL,
        name="OneHotEncoder_ignore",
        fit_rows=500,
    ),
    *local(lambda: OneHotEncoder(sparse_output=False, drop="first"), "categorical", name="OneHotEncoder_drop"),
    *local(
        lambda: OneHotEncoder(sparse_output=False, min_frequency=40, handle_unknown="infrequent_if_exist"),
        *CATEGORICAL,
        name="OneHotEncoder_infrequent",
        fit_rows=500,
    ),
    *local(
        lambda: OneHotEncoder(sparse_output=False, max_categories=3, handle_unknown="warn", drop="first"),
        "categorical_unknown",
        name="OneHotEncoder_infrequent_drop",
        fit_rows=500,
    ),
    *local(OrdinalEncoder, "categorical"),
    *local(
        lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2),
        "categorical_unknown",
        name="OrdinalEncoder_unknown",
        fit_rows=500,
    ),
    *local(
        lambda: OrdinalEncoder(max_categories=3, handle_unknown="use_encoded_value", unknown_value=np.nan),
        "categorical_unknown",
        name="OrdinalEncoder_infrequent",
        fit_rows=500,
    ),
    *local(
        lambda: TargetEncoder(random_state=0),
        "categorical_unknown",
        "categorical_multiclass",
        "categorical_regression",
        fit_rows=500,
    ),
    # ---------------------------------------------------------------- functions
    *local(FunctionTransformer, "iris", name="FunctionTransformer_identity"),
    *[
        case
        for function in (np.log1p, np.expm1, np.sqrt, np.abs, np.tanh, scipy.special.expit)
        for case in local(
            lambda function=function: FunctionTransformer(function),
            "wine" if function in (np.log1p, np.sqrt) else "diabetes",
            name=f"FunctionTransformer_{function.__name__}",
        )
    ],
    # ---------------------------------------------------------------- imputation
    *[
        case
        for strategy in ("mean", "median", "most_frequent", "constant")
        for case in local(
            lambda strategy=strategy: SimpleImputer(strategy=strategy, fill_value=-7.5),
            "nan_regression",
            name=f"SimpleImputer_{strategy}",
        )
    ],
    *local(lambda: SimpleImputer(add_indicator=True), "nan_binary", name="SimpleImputer_indicator"),
    *local(
        lambda: SimpleImputer(missing_values=-1, strategy="median", add_indicator=True),
        "marker_minus_one",
        name="SimpleImputer_marker",
    ),
    *local(MissingIndicator, "nan_binary"),
    *local(lambda: MissingIndicator(missing_values=-1), "marker_minus_one", name="MissingIndicator_marker"),
    *local(lambda: MissingIndicator(features="all"), "nan_regression", name="MissingIndicator_all"),
    # ---------------------------------------------------------------- feature selection
    *local(lambda: VarianceThreshold(0.05), "wine"),
    *local(lambda: SelectKBest(k=5), "wine", "diabetes"),
    *local(lambda: SelectPercentile(percentile=30), "breast_cancer"),
    *local(lambda: SelectFpr(alpha=1e-5), "breast_cancer"),
    *local(lambda: SelectFdr(alpha=1e-5), "breast_cancer"),
    *local(lambda: SelectFwe(alpha=1e-5), "breast_cancer"),
    *local(lambda: GenericUnivariateSelect(mode="k_best", param=3), "diabetes"),
    *local(lambda: SelectFromModel(DecisionTreeClassifier(max_depth=4, random_state=0)), "wine"),
    *local(
        lambda: RFE(LogisticRegression(max_iter=5000), n_features_to_select=0.5),
        "wine",
        "string_labels",
    ),
    *local(lambda: RFECV(DecisionTreeRegressor(max_depth=4, random_state=0)), "diabetes"),
    *local(lambda: SequentialFeatureSelector(LinearRegression(), n_features_to_select=3), "diabetes"),
]
