"""Conformance cases of sk2tensor.converters.covariance: EllipticEnvelope (predict, decision_function,
score_samples) on several datasets (targets ignored), contaminations and fitting options."""

from __future__ import annotations

from sklearn.covariance import EllipticEnvelope
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases

CASES: list[Case] = [
    *_cases(lambda: EllipticEnvelope(random_state=0), "breast_cancer", "iris", "wine", "random_regression", "diabetes"),
    *_cases(
        lambda: EllipticEnvelope(contamination=0.25, random_state=0),
        "iris",
        "random_regression",
        name="EllipticEnvelope_contamination",
    ),
    *_cases(
        lambda: EllipticEnvelope(support_fraction=0.8, store_precision=False, random_state=1),
        "wine",
        "diabetes",
        name="EllipticEnvelope_no_precision",
    ),
    *_cases(
        lambda: EllipticEnvelope(assume_centered=True, contamination=0.05, random_state=0),
        "random_regression",
        name="EllipticEnvelope_centered",
    ),
    *_cases(
        lambda: make_pipeline(StandardScaler(), EllipticEnvelope(random_state=0)),
        "breast_cancer",
        "wine",
        name="scaled_EllipticEnvelope",
    ),
]
