"""Conformance cases for the libsvm estimators (the liblinear ones, LinearSVC/LinearSVR, are in cases_linear)."""

from __future__ import annotations

import warnings

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR, NuSVC, NuSVR, OneClassSVM

from tests.cases import Case, _cases

# SVC(probability=True) is deprecated in sklearn 1.9 but still shipped: it is converted and tested.
warnings.filterwarnings("ignore", message="The `probability` parameter was deprecated", category=FutureWarning)

CASES: list[Case] = [
    *_cases(SVC, "iris", "breast_cancer", "wine", "random_multiclass", "string_labels", "shifted_labels"),
    *_cases(lambda: SVC(kernel="linear", C=0.5), "iris", "random_multiclass", name="SVC_linear"),
    *_cases(lambda: SVC(kernel="poly", degree=3, coef0=1.0), "iris", "random_binary", name="SVC_poly"),
    *_cases(lambda: SVC(kernel="poly", degree=2, gamma=0.1), "random_multiclass", name="SVC_poly2"),
    *_cases(lambda: SVC(kernel="sigmoid", gamma=0.01, coef0=0.5), "iris", "random_binary", name="SVC_sigmoid"),
    *_cases(lambda: SVC(decision_function_shape="ovo"), "random_multiclass", "string_labels", name="SVC_ovo"),
    *_cases(lambda: SVC(break_ties=True, C=0.3), "random_multiclass", name="SVC_break_ties"),
    *_cases(lambda: SVC(class_weight="balanced", gamma=0.05), "wine", name="SVC_class_weight"),
    *_cases(
        lambda: SVC(probability=True, random_state=0),
        "iris",
        "breast_cancer",
        "random_multiclass",
        "string_labels",
        "bool_labels",
        name="SVC_probability",
    ),
    *_cases(
        lambda: SVC(kernel="poly", degree=2, probability=True, random_state=0),
        "wine",
        name="SVC_poly_probability",
    ),
    *_cases(
        lambda: make_pipeline(StandardScaler(), SVC(kernel="linear", probability=True, random_state=0)),
        "digits",
        name="scaled_SVC_linear_probability",
    ),
    *_cases(NuSVC, "iris", "random_binary"),
    *_cases(lambda: NuSVC(nu=0.3, kernel="sigmoid", gamma=0.02), "random_multiclass", name="NuSVC_sigmoid"),
    *_cases(
        lambda: NuSVC(probability=True, random_state=0), "random_multiclass", "string_labels", name="NuSVC_probability"
    ),
    *_cases(SVR, "diabetes", "random_regression"),
    *_cases(lambda: SVR(kernel="linear", C=10.0), "random_regression", name="SVR_linear"),
    *_cases(lambda: SVR(kernel="poly", degree=2, C=100.0), "diabetes", name="SVR_poly"),
    *_cases(lambda: SVR(kernel="sigmoid", gamma=0.01), "random_regression", name="SVR_sigmoid"),
    *_cases(NuSVR, "diabetes"),
    *_cases(lambda: NuSVR(nu=0.3, kernel="poly", degree=3), "random_regression", name="NuSVR_poly"),
    *_cases(OneClassSVM, "iris", "breast_cancer", "random_regression"),
    *_cases(lambda: OneClassSVM(kernel="linear", nu=0.3), "random_multiclass", name="OneClassSVM_linear"),
    *_cases(lambda: OneClassSVM(kernel="poly", degree=2, nu=0.2), "wine", name="OneClassSVM_poly"),
]
