"""Conformance cases for linear and quadratic discriminant analysis."""

from __future__ import annotations

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis

from tests.cases import Case, _cases

CASES: list[Case] = [
    *_cases(
        LinearDiscriminantAnalysis,
        "iris",
        "wine",
        "breast_cancer",
        "random_multiclass",
        "string_labels",
        "shifted_labels",
    ),
    *_cases(lambda: LinearDiscriminantAnalysis(n_components=1), "iris", name="LinearDiscriminantAnalysis_1d"),
    *_cases(
        lambda: LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto"),
        "wine",
        "bool_labels",
        name="LinearDiscriminantAnalysis_eigen",
    ),
    *_cases(
        lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1),
        "random_multiclass",
        "breast_cancer",
        name="LinearDiscriminantAnalysis_lsqr",
    ),
    *_cases(QuadraticDiscriminantAnalysis, "iris", "wine", "string_labels"),
    *_cases(
        lambda: QuadraticDiscriminantAnalysis(reg_param=0.05),
        "random_multiclass",
        "breast_cancer",
        "random_binary",
        name="QuadraticDiscriminantAnalysis_reg",
    ),
    *_cases(
        lambda: QuadraticDiscriminantAnalysis(priors=[0.5, 0.25, 0.25]),
        "iris",
        name="QuadraticDiscriminantAnalysis_priors",
    ),
]
