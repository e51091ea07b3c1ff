"""Conformance cases for the meta-classifiers: one-vs-rest, one-vs-one and probability calibration."""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression, LogisticRegression, Perceptron, SGDClassifier
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from tests.cases import Case, _cases

CASES: list[Case] = [
    *_cases(
        lambda: OneVsRestClassifier(LogisticRegression(max_iter=2000)),
        "iris",
        "random_multiclass",
        "string_labels",
        "breast_cancer",
        name="OneVsRestClassifier_logistic",
    ),
    *_cases(
        lambda: OneVsRestClassifier(LinearSVC(random_state=0)), "wine", "shifted_labels", name="OneVsRestClassifier_svc"
    ),
    *_cases(lambda: OneVsRestClassifier(GaussianNB()), "wine", "bool_labels", name="OneVsRestClassifier_nb"),
    *_cases(lambda: OneVsRestClassifier(SVC(kernel="rbf")), "iris", name="OneVsRestClassifier_kernel_svc"),
    *_cases(
        lambda: OneVsRestClassifier(DecisionTreeClassifier(max_depth=4, random_state=0)),
        "iris",
        name="OneVsRestClassifier_tree",
    ),
    *_cases(lambda: OneVsRestClassifier(LinearRegression()), "random_multiclass", name="OneVsRestClassifier_regressor"),
    *_cases(
        lambda: OneVsOneClassifier(LogisticRegression(max_iter=2000)),
        "iris",
        "random_multiclass",
        "string_labels",
        "breast_cancer",
        name="OneVsOneClassifier_logistic",
    ),
    *_cases(lambda: OneVsOneClassifier(Perceptron(random_state=0)), "wine", name="OneVsOneClassifier_perceptron"),
    *_cases(lambda: OneVsOneClassifier(GaussianNB()), "wine", "bool_labels", name="OneVsOneClassifier_nb"),
    *[
        case
        for method in ("sigmoid", "isotonic", "temperature")
        for case in _cases(
            lambda method=method: CalibratedClassifierCV(
                make_pipeline(StandardScaler(), LinearSVC(random_state=0)), method=method, cv=3
            ),
            "breast_cancer",
            "iris",
            "string_labels",
            name=f"CalibratedClassifierCV_{method}",
        )
    ],
    *[
        case
        for method in ("sigmoid", "isotonic", "temperature")
        for case in _cases(
            lambda method=method: CalibratedClassifierCV(GaussianNB(), method=method, cv=3),
            "random_multiclass",
            "iris",
            name=f"CalibratedClassifierCV_nb_{method}",
        )
    ],
    *_cases(
        lambda: CalibratedClassifierCV(SGDClassifier(random_state=0), method="isotonic", ensemble=False, cv=3),
        "random_binary",
        "random_multiclass",
        name="CalibratedClassifierCV_single",
    ),
    *_cases(
        lambda: CalibratedClassifierCV(DecisionTreeClassifier(max_depth=4, random_state=0), method="isotonic", cv=3),
        "wine",
        name="CalibratedClassifierCV_tree",
    ),
    *_cases(
        lambda: CalibratedClassifierCV(LinearDiscriminantAnalysis(), cv=4),
        "shifted_labels",
        name="CalibratedClassifierCV_lda",
    ),
    *_cases(
        lambda: make_pipeline(ColumnTransformer([("bmi", "passthrough", [2])]), IsotonicRegression()),
        "diabetes",
        name="IsotonicRegression",
    ),
    *_cases(
        lambda: make_pipeline(
            ColumnTransformer([("x", "passthrough", [0])]), IsotonicRegression(increasing=False, y_min=-50.0)
        ),
        "random_regression",
        name="IsotonicRegression_decreasing",
    ),
]
