"""Conformance cases for threshold classifiers, FrozenEstimator, the dummy estimators, OutputCodeClassifier,
the semi-supervised models, TfidfTransformer and BernoulliRBM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.multiclass import OutputCodeClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.semi_supervised import LabelPropagation, LabelSpreading, SelfTrainingClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from tests.cases import CLASSIFICATION, Case, _cases, dataset

BINARY = ("breast_cancer", "random_binary", "bool_labels")


def _logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _frozen(make_inner: Callable[[], Any], *data: str, name: str) -> list[Case]:
    """FrozenEstimator around an estimator fitted on each dataset (cloning a FrozenEstimator returns it, and its
    fit does nothing: the case table fits the inner estimator here)."""

    def make(d: str) -> Callable[[], Any]:
        def build() -> FrozenEstimator:
            rows = dataset(d)
            inner = clone(make_inner())
            return FrozenEstimator(inner.fit(rows.X) if rows.y is None else inner.fit(rows.X, rows.y))

        return build

    return [Case(f"{name}-{d}", make(d), d) for d in data]


# A constant present in each dataset's labels.
_CONSTANT = {"iris": 2, "shifted_labels": 40, "breast_cancer": 0, "bool_labels": True, "random_multiclass": 3}

CASES: list[Case] = [
    # Threshold classifiers (binary only).
    *_cases(lambda: FixedThresholdClassifier(_logistic(), threshold=0.3), *BINARY, name="FixedThresholdClassifier"),
    *_cases(
        lambda: FixedThresholdClassifier(make_pipeline(StandardScaler(), LinearSVC(random_state=0)), threshold=-0.25),
        "breast_cancer",
        "random_binary",
        name="FixedThresholdClassifier_decision",
    ),
    *_cases(
        lambda: FixedThresholdClassifier(_logistic(), threshold=0.8, pos_label=0, response_method="decision_function"),
        "breast_cancer",
        name="FixedThresholdClassifier_negative_pos_label",
    ),
    *_cases(
        lambda: FixedThresholdClassifier(_logistic(), threshold=0.7, pos_label=False),
        "bool_labels",
        name="FixedThresholdClassifier_bool_pos_label",
    ),
    *_cases(
        lambda: FixedThresholdClassifier(DecisionTreeClassifier(max_depth=4, random_state=0), threshold=0.25),
        "nan_binary",
        name="FixedThresholdClassifier_tree",
    ),
    *_cases(lambda: TunedThresholdClassifierCV(_logistic()), *BINARY, name="TunedThresholdClassifierCV"),
    *_cases(
        lambda: TunedThresholdClassifierCV(
            DecisionTreeClassifier(max_depth=5, random_state=0), scoring="f1", response_method="predict_proba"
        ),
        "nan_binary",
        name="TunedThresholdClassifierCV_tree_f1",
    ),
    # FrozenEstimator: a classifier, a regressor, a transformer.
    *_frozen(_logistic, *CLASSIFICATION, name="FrozenEstimator_logistic"),
    *_frozen(lambda: Ridge(alpha=0.5), "diabetes", "linnerud", name="FrozenEstimator_ridge"),
    *_frozen(StandardScaler, "wine", name="FrozenEstimator_scaler"),
    # Dummy estimators.
    *[
        case
        for strategy in ("prior", "most_frequent")
        for case in _cases(
            lambda strategy=strategy: DummyClassifier(strategy=strategy),
            "iris",
            "shifted_labels",
            "bool_labels",
            "random_multiclass",
            "linnerud",  # multi-output, float labels
            name=f"DummyClassifier_{strategy}",
        )
    ],
    *[
        case
        for data, constant in _CONSTANT.items()
        for case in _cases(
            lambda constant=constant: DummyClassifier(strategy="constant", constant=constant),
            data,
            name="DummyClassifier_constant",
        )
    ],
    *[
        case
        for strategy, kw in (("mean", {}), ("median", {}), ("quantile", {"quantile": 0.8}))
        for case in _cases(
            lambda strategy=strategy, kw=kw: DummyRegressor(strategy=strategy, **kw),
            "diabetes",
            "linnerud",
            "random_multioutput",
            name=f"DummyRegressor_{strategy}",
        )
    ],
    *_cases(lambda: DummyRegressor(strategy="constant", constant=3.25), "diabetes", name="DummyRegressor_constant"),
    *_cases(
        lambda: DummyRegressor(strategy="constant", constant=[1.5, -2, 40]),
        "linnerud",
        name="DummyRegressor_constant_multioutput",
    ),
    # OutputCodeClassifier: decision_function and predict_proba scores.
    *_cases(
        lambda: OutputCodeClassifier(LogisticRegression(max_iter=3000), code_size=2, random_state=0),
        *CLASSIFICATION,
        name="OutputCodeClassifier_logistic",
    ),
    *_cases(
        lambda: OutputCodeClassifier(GaussianNB(), code_size=1.5, random_state=1),
        "wine",
        "string_labels",
        name="OutputCodeClassifier_nb",
    ),
    *_cases(
        lambda: OutputCodeClassifier(
            make_pipeline(StandardScaler(), LinearSVC(random_state=0)), code_size=3, random_state=2
        ),
        "random_multiclass",
        "shifted_labels",
        name="OutputCodeClassifier_svc",
    ),
    *_cases(
        lambda: OutputCodeClassifier(DecisionTreeClassifier(max_depth=3, random_state=0), code_size=2, random_state=3),
        "iris",
        "random_multiclass",
        name="OutputCodeClassifier_tree",
    ),
    # Semi-supervised models (fully labelled here; tests/test_meta_extra.py has unlabelled rows).
    *_cases(lambda: SelfTrainingClassifier(_logistic()), *CLASSIFICATION, name="SelfTrainingClassifier"),
    *[
        case
        for model in (LabelPropagation, LabelSpreading)
        for kernel, kw in (("rbf", {"gamma": 0.5}), ("knn", {"n_neighbors": 5}))
        for case in _cases(
            lambda model=model, kernel=kernel, kw=kw: make_pipeline(StandardScaler(), model(kernel=kernel, **kw)),
            *CLASSIFICATION,
            name=f"{model.__name__}_{kernel}",
        )
    ],
    *_cases(LabelSpreading, "iris", name="LabelSpreading_unscaled"),
    # TfidfTransformer on count-like data (digits: pixel counts 0..16, many zeros).
    *_cases(TfidfTransformer, "digits", "iris", name="TfidfTransformer"),
    *_cases(
        lambda: TfidfTransformer(norm="l1", sublinear_tf=True), "digits", "wine", name="TfidfTransformer_l1_sublinear"
    ),
    *_cases(
        lambda: TfidfTransformer(norm=None, smooth_idf=False), "digits", name="TfidfTransformer_no_norm_unsmoothed"
    ),
    *_cases(lambda: TfidfTransformer(use_idf=False), "digits", name="TfidfTransformer_tf"),
    *_cases(
        lambda: make_pipeline(TfidfTransformer(sublinear_tf=True), LogisticRegression(max_iter=2000)),
        "digits",
        name="Pipeline_tfidf_logistic",
    ),
    # BernoulliRBM on [0, 1] inputs.
    *_cases(
        lambda: make_pipeline(MinMaxScaler(), BernoulliRBM(n_components=16, n_iter=5, random_state=0)),
        "digits",
        "iris",
        "breast_cancer",
        name="BernoulliRBM",
    ),
    *_cases(lambda: BernoulliRBM(n_components=8, n_iter=3, random_state=0), "wine", name="BernoulliRBM_unscaled"),
]
