"""Conformance cases for linear models (sklearn.linear_model and the liblinear SVMs)."""

from __future__ import annotations

import warnings

from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    ElasticNetCV,
    GammaRegressor,
    HuberRegressor,
    Lars,
    LarsCV,
    Lasso,
    LassoCV,
    LassoLars,
    LassoLarsCV,
    LassoLarsIC,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    MultiTaskElasticNet,
    MultiTaskElasticNetCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    OrthogonalMatchingPursuit,
    OrthogonalMatchingPursuitCV,
    PassiveAggressiveClassifier,
    PassiveAggressiveRegressor,
    Perceptron,
    PoissonRegressor,
    QuantileRegressor,
    RANSACRegressor,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
    TheilSenRegressor,
    TweedieRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from tests.cases import Case, _cases

# PassiveAggressive* are deprecated in sklearn 1.8 but still shipped: they are converted and tested.
warnings.filterwarnings("ignore", message="Class PassiveAggressive", category=FutureWarning)

SGD_CLASSIFIER_LOSSES = (
    "hinge",
    "log_loss",
    "modified_huber",
    "squared_hinge",
    "perceptron",
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)


CASES: list[Case] = [
    # ---------------------------------------------------------------- regressors
    *_cases(lambda: LinearRegression(fit_intercept=False), "diabetes", name="LinearRegression_no_intercept"),
    *_cases(lambda: RidgeCV(alphas=(0.1, 1.0, 10.0)), "diabetes", "linnerud"),
    *_cases(lambda: Lasso(alpha=0.1), "diabetes", "random_multioutput"),
    *_cases(lambda: LassoCV(cv=3, alphas=20), "diabetes"),
    *_cases(lambda: ElasticNet(alpha=0.05), "diabetes", "random_multioutput"),
    *_cases(lambda: ElasticNetCV(cv=3, alphas=20), "random_regression"),
    *_cases(lambda: MultiTaskLasso(alpha=0.1), "linnerud", "random_multioutput"),
    *_cases(lambda: MultiTaskLassoCV(cv=3, alphas=10), "random_multioutput"),
    *_cases(lambda: MultiTaskElasticNet(alpha=0.1), "random_multioutput"),
    *_cases(lambda: MultiTaskElasticNetCV(cv=3, alphas=10), "linnerud"),
    *_cases(Lars, "diabetes", "random_multioutput"),
    *_cases(lambda: LarsCV(cv=3), "diabetes"),
    *_cases(lambda: LassoLars(alpha=0.01), "diabetes"),
    *_cases(lambda: LassoLarsCV(cv=3), "random_regression"),
    *_cases(LassoLarsIC, "diabetes"),
    *_cases(lambda: OrthogonalMatchingPursuit(n_nonzero_coefs=5), "diabetes", "random_multioutput"),
    *_cases(lambda: OrthogonalMatchingPursuitCV(cv=3), "random_regression"),
    *_cases(BayesianRidge, "diabetes", "random_regression"),
    *_cases(ARDRegression, "diabetes"),
    *_cases(lambda: HuberRegressor(max_iter=500), "random_regression"),
    *_cases(lambda: QuantileRegressor(quantile=0.7, alpha=0.0), "diabetes"),
    *_cases(lambda: TheilSenRegressor(max_subpopulation=200, random_state=0), "diabetes"),
    *_cases(lambda: SGDRegressor(random_state=0), "random_regression"),
    *_cases(lambda: PassiveAggressiveRegressor(random_state=0), "random_regression"),
    *_cases(lambda: LinearSVR(random_state=0, max_iter=5000), "random_regression"),
    *_cases(PoissonRegressor, "diabetes"),
    *_cases(GammaRegressor, "diabetes"),
    *_cases(lambda: TweedieRegressor(power=1.5), "diabetes", name="TweedieRegressor_log"),
    *_cases(lambda: TweedieRegressor(power=0.0, alpha=0.1), "diabetes", name="TweedieRegressor_identity"),
    *_cases(lambda: RANSACRegressor(random_state=0), "random_regression", "random_multioutput"),
    *_cases(
        lambda: RANSACRegressor(Ridge(alpha=0.1), min_samples=20, random_state=0),
        "diabetes",
        name="RANSACRegressor_ridge",
    ),
    *_cases(lambda: SGDOneClassSVM(nu=0.2, random_state=0), "random_regression", "iris"),
    # ---------------------------------------------------------------- classifiers
    *_cases(lambda: LogisticRegressionCV(Cs=4, cv=3, max_iter=2000), "iris", "random_binary", "string_labels"),
    *[
        case
        for solver in ("liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
        for case in _cases(
            lambda solver=solver: LogisticRegression(solver=solver, max_iter=3000),
            "random_multiclass" if solver != "liblinear" else "random_binary",
            "bool_labels" if solver != "liblinear" else "breast_cancer",
            name=f"LogisticRegression_{solver}",
        )
    ],
    *_cases(
        lambda: LogisticRegression(solver="saga", l1_ratio=1.0, C=0.5, max_iter=3000),
        "random_multiclass",
        name="LogisticRegression_l1",
    ),
    *[
        case
        for loss in SGD_CLASSIFIER_LOSSES
        for case in _cases(
            lambda loss=loss: SGDClassifier(loss=loss, random_state=0),
            "random_multiclass",
            "random_binary",
            name=f"SGDClassifier_{loss}",
        )
    ],
    *_cases(lambda: SGDClassifier(loss="log_loss", random_state=0), "string_labels", name="SGDClassifier"),
    *_cases(lambda: Perceptron(random_state=0), "iris", "random_binary", "shifted_labels"),
    *_cases(lambda: PassiveAggressiveClassifier(random_state=0), "random_multiclass", "random_binary"),
    *_cases(RidgeClassifier, "breast_cancer", "iris", "random_multiclass", "string_labels", "bool_labels"),
    *_cases(lambda: RidgeClassifierCV(alphas=(0.1, 1.0, 10.0)), "iris", "random_binary"),
    *_cases(lambda: LinearSVC(random_state=0), "random_multiclass", "random_binary", "string_labels"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="modified_huber", random_state=0)),
        "breast_cancer",
        "digits",
        name="scaled_SGDClassifier",
    ),
]
