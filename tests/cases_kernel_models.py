"""Conformance cases for the kernel models: KernelRidge, the Gaussian processes, the kernel approximations
added beside Nystroem and RBFSampler (those are in cases_decomposition), and KernelCenterer.

ExpSineSquared (positive definite on one feature only) and string labels of the Gaussian process classifier
(whose ``predict`` returns another string dtype than its ``classes_``) are tested in test_kernel_models.py, as are
the float64 probabilities of most Gaussian process classifiers (see there).

The Gaussian processes are fitted with ``n_restarts_optimizer=0`` (sklearn's default) or ``optimizer=None`` on
the larger datasets, so the whole table fits in a few seconds.
"""

from __future__ import annotations

import numpy as np
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    Matern,
    RationalQuadratic,
    WhiteKernel,
)
from sklearn.kernel_approximation import AdditiveChi2Sampler, PolynomialCountSketch, RBFSampler, SkewedChi2Sampler
from sklearn.kernel_ridge import KernelRidge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KernelCenterer, StandardScaler

from tests.cases import Case, _cases

CASES: list[Case] = [
    # KernelRidge: every pairwise kernel, 1-D and 2-D targets.
    *_cases(KernelRidge, "diabetes", "linnerud"),
    *_cases(lambda: KernelRidge(kernel="rbf", alpha=0.1, gamma=0.5), "iris", "random_regression", name="KRR_rbf"),
    *_cases(lambda: KernelRidge(kernel="laplacian", alpha=0.3), "diabetes", "linnerud", name="KRR_laplacian"),
    *_cases(lambda: KernelRidge(kernel="poly", degree=2, alpha=1.0), "diabetes", name="KRR_poly"),
    *_cases(lambda: KernelRidge(kernel="polynomial", degree=3, coef0=0.5, gamma=0.1), "iris", name="KRR_polynomial"),
    *_cases(lambda: KernelRidge(kernel="sigmoid", gamma=0.01, coef0=0.2), "random_multioutput", name="KRR_sigmoid"),
    *_cases(lambda: KernelRidge(kernel="cosine", alpha=0.2), "iris", "random_regression", name="KRR_cosine"),
    *_cases(lambda: KernelRidge(kernel="chi2", gamma=0.5), "iris", name="KRR_chi2"),
    *_cases(lambda: KernelRidge(kernel="additive_chi2", alpha=2.0), "wine", name="KRR_additive_chi2"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), KernelRidge(kernel="rbf", gamma=0.05)),
        "random_multioutput",
        name="scaled_KRR",
    ),
    # Gaussian process regression: kernels and their compositions, normalize_y, several targets.
    *_cases(GaussianProcessRegressor, "linnerud", "iris"),
    *_cases(
        lambda: GaussianProcessRegressor(ConstantKernel() * RBF([1.0, 1.0, 1.0]) + WhiteKernel(), normalize_y=True),
        "linnerud",
        name="GPR_ard_white",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(Matern(nu=1.5) + WhiteKernel(), normalize_y=True, random_state=0),
        "diabetes",
        name="GPR_matern15",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(Matern(length_scale=0.5, nu=0.5), alpha=0.1, optimizer=None),
        "diabetes",
        "random_multioutput",
        name="GPR_matern05",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(Matern(length_scale=3.0, nu=2.5), alpha=0.1, normalize_y=True),
        "iris",
        name="GPR_matern25",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(Matern(nu=np.inf) * ConstantKernel(2.0), alpha=1e-2),
        "iris",
        name="GPR_matern_inf",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(RationalQuadratic(length_scale=2.0, alpha=0.5), alpha=0.05, optimizer=None),
        "diabetes",
        name="GPR_rational_quadratic",
    ),
    *_cases(
        lambda: GaussianProcessRegressor((DotProduct(sigma_0=1.0) + WhiteKernel(1.0)) ** 2, normalize_y=True),
        "linnerud",
        name="GPR_dot_product_squared",
    ),
    *_cases(
        lambda: GaussianProcessRegressor(RBF(2.0) ** 1.5 + DotProduct() * ConstantKernel(0.1), alpha=0.1),
        "iris",
        name="GPR_exponentiation",
    ),
    # Gaussian process classification: binary, one-vs-rest (probabilities normalised), one-vs-one (no proba).
    *_cases(lambda: GaussianProcessClassifier(RBF(3.0), optimizer=None), "breast_cancer", name="GPC_binary"),
    *_cases(
        lambda: GaussianProcessClassifier(ConstantKernel() * Matern(nu=2.5) + WhiteKernel()),
        "iris",
        name="GPC_matern_white",
    ),
    *_cases(
        lambda: make_pipeline(
            StandardScaler(), GaussianProcessClassifier(RationalQuadratic() + DotProduct(sigma_0=0.1), optimizer=None)
        ),
        "shifted_labels",
        name="GPC_rq_dot",
    ),
    *_cases(
        lambda: GaussianProcessClassifier(RBF([1.0, 2.0, 1.0, 0.5]), multi_class="one_vs_one"),
        "iris",
        "string_labels",
        name="GPC_one_vs_one",
    ),
    # Kernel approximations.
    *_cases(AdditiveChi2Sampler, "iris", "digits"),
    *_cases(lambda: AdditiveChi2Sampler(sample_steps=1), "wine", name="AdditiveChi2_steps1"),
    *_cases(lambda: AdditiveChi2Sampler(sample_steps=3), "breast_cancer", name="AdditiveChi2_steps3"),
    *_cases(lambda: AdditiveChi2Sampler(sample_steps=4, sample_interval=0.3), "iris", name="AdditiveChi2_interval"),
    *_cases(lambda: SkewedChi2Sampler(n_components=30, random_state=0), "iris", "diabetes"),
    *_cases(
        lambda: SkewedChi2Sampler(skewedness=0.5, n_components=60, random_state=1),
        "digits",
        name="SkewedChi2_half",
    ),
    *_cases(lambda: PolynomialCountSketch(random_state=0), "iris", "diabetes"),
    *_cases(
        lambda: PolynomialCountSketch(degree=3, n_components=40, gamma=0.5, coef0=1.0, random_state=0),
        "wine",
        "random_regression",
        name="PolynomialCountSketch_deg3",
    ),
    *_cases(
        lambda: PolynomialCountSketch(degree=1, n_components=7, random_state=2),
        "diabetes",
        name="PolynomialCountSketch_deg1",
    ),
    *_cases(
        lambda: make_pipeline(
            StandardScaler(), PolynomialCountSketch(degree=4, n_components=64, coef0=2, random_state=3)
        ),
        "breast_cancer",
        name="PolynomialCountSketch_deg4",
    ),
    # KernelCenterer fitted on a square matrix: features with as many columns as training rows.
    *_cases(
        lambda: make_pipeline(PolynomialCountSketch(n_components=150, random_state=0), KernelCenterer()),
        "iris",
        name="KernelCenterer_iris",
    ),
    *_cases(
        lambda: make_pipeline(RBFSampler(gamma=0.01, n_components=20, random_state=0), KernelCenterer()),
        "linnerud",
        name="KernelCenterer_linnerud",
    ),
]
