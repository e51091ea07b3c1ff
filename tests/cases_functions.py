"""Conformance cases of custom Python functions (sk2tensor.converters._tracing): FunctionTransformer steps and
TransformedTargetRegressor inverses written as ordinary numpy code, in pipelines with the models that follow."""

from __future__ import annotations

import numpy as np
import scipy.special
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from tests.cases import Case, _cases
from tests.cases_preprocessing import local


def engineered(X):
    """Typical feature engineering: a log column in place, a ratio, a row total, a flag."""
    X = X.copy()
    X[:, 0] = np.log1p(np.abs(X[:, 0]))
    ratio = X[:, 1] / (np.abs(X[:, 2]) + 1e-3)
    return np.column_stack([X, ratio, X.sum(axis=1), np.where(X[:, 3] > X[:, 1], 1.0, 0.0)])


def row_statistics(X):
    """Row-wise statistics beside the clipped features (numpy's summation order reproduced)."""
    return np.hstack([np.clip(X, -2.0, 2.0), X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)])


def nan_aware(X):
    """Missing-value flags and fills: isnan, nan_to_num, fmax against NaN, a masked count."""
    missing = np.isnan(X)
    return np.hstack([np.nan_to_num(X, nan=-1.0), missing.sum(axis=1, keepdims=True), np.fmax(X[:, :2], 0.0)])


def framed(frame):
    """Columns by name from a DataFrame, as a function of a pandas step is written (missing values filled)."""
    return np.nan_to_num(np.column_stack([np.log(frame["income"]), frame[["age", "plan"]] / 10.0]), nan=0.0)


def scaled_expit(X, scale=1.0):
    return scipy.special.expit(X * scale)


CASES: list[Case] = [
    *_cases(
        lambda: make_pipeline(FunctionTransformer(engineered), StandardScaler(), LogisticRegression(max_iter=3000)),
        "breast_cancer",
        "string_labels",
        "random_binary",
        name="FunctionTransformer_engineered",
    ),
    *_cases(
        lambda: make_pipeline(FunctionTransformer(row_statistics), Ridge()),
        "diabetes",
        "random_regression",
        name="FunctionTransformer_row_statistics",
    ),
    *_cases(
        lambda: make_pipeline(FunctionTransformer(nan_aware), HistGradientBoostingClassifier(max_iter=20)),
        "nan_binary",
        name="FunctionTransformer_nan_aware",
    ),
    *_cases(
        lambda: FunctionTransformer(scaled_expit, kw_args={"scale": 0.25}),
        "wine",
        name="FunctionTransformer_kw_args",
    ),
    *local(
        lambda: make_pipeline(FunctionTransformer(framed), Ridge()),
        "frame_regression",
        name="FunctionTransformer_named_columns",
    ),
    *_cases(
        lambda: TransformedTargetRegressor(
            Ridge(), func=lambda y: np.log(y), inverse_func=lambda y: np.exp(y), check_inverse=False
        ),
        "diabetes",
        name="TransformedTargetRegressor_lambda_log",
    ),
    *_cases(
        lambda: TransformedTargetRegressor(
            Ridge(), func=lambda y: np.sqrt(y + 2000.0), inverse_func=lambda y: y**2 - 2000.0, check_inverse=False
        ),
        "random_regression",
        "linnerud",
        name="TransformedTargetRegressor_lambda_square",
    ),
]
