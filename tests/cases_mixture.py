"""Conformance cases of sk2tensor.converters.mixture: every covariance type, both Bayesian priors."""

from __future__ import annotations

from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

CASES: list[Case] = [
    *[
        case
        for covariance_type in COVARIANCE_TYPES
        for case in _cases(
            lambda covariance_type=covariance_type: GaussianMixture(3, covariance_type=covariance_type, random_state=0),
            "iris",
            "wine",
            name=f"GaussianMixture_{covariance_type}",
        )
    ],
    *_cases(
        lambda: make_pipeline(StandardScaler(), GaussianMixture(4, random_state=0)),
        "breast_cancer",
        "random_multiclass",
        name="GaussianMixture_scaled",
    ),
    *[
        case
        for covariance_type in COVARIANCE_TYPES
        for prior in ("dirichlet_process", "dirichlet_distribution")
        for case in _cases(
            lambda covariance_type=covariance_type, prior=prior: BayesianGaussianMixture(
                n_components=4,
                covariance_type=covariance_type,
                weight_concentration_prior_type=prior,
                max_iter=200,
                random_state=0,
            ),
            "iris",
            name=f"BayesianGaussianMixture_{covariance_type}_{prior}",
        )
    ],
    *_cases(
        lambda: BayesianGaussianMixture(n_components=3, covariance_type="full", max_iter=200, random_state=0),
        "wine",
        name="BayesianGaussianMixture",
    ),
]
