"""Conformance cases of the decomposition, random projection and kernel approximation converters."""

from __future__ import annotations

from sklearn.cross_decomposition import CCA, PLSSVD, PLSCanonical, PLSRegression
from sklearn.decomposition import PCA, FactorAnalysis, FastICA, IncrementalPCA, KernelPCA, TruncatedSVD
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection

from tests.cases import Case, _cases

CASES: list[Case] = [
    *_cases(lambda: PCA(n_components=3), "iris", "breast_cancer", "diabetes"),
    *_cases(lambda: PCA(n_components=5, whiten=True), "wine", "digits", name="PCA_whiten"),
    *_cases(lambda: PCA(svd_solver="full"), "linnerud", name="PCA_all_components"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), PCA(10, whiten=True), LogisticRegression(max_iter=2000)),
        "breast_cancer",
        name="Pipeline_PCA_LogisticRegression",
    ),
    *_cases(lambda: IncrementalPCA(n_components=4, batch_size=100), "wine", "breast_cancer"),
    *_cases(lambda: IncrementalPCA(n_components=3, whiten=True), "iris", name="IncrementalPCA_whiten"),
    *_cases(lambda: TruncatedSVD(n_components=5, random_state=0), "wine", "digits"),
    *[
        case
        for kernel in ("linear", "poly", "rbf", "sigmoid", "cosine")
        for case in _cases(
            lambda kernel=kernel: make_pipeline(StandardScaler(), KernelPCA(n_components=4, kernel=kernel)),
            "iris",
            "wine",
            name=f"KernelPCA_{kernel}",
        )
    ],
    *_cases(
        lambda: KernelPCA(n_components=3, kernel="rbf", gamma=1e-4, remove_zero_eig=True),
        "diabetes",
        name="KernelPCA_rbf_unscaled",
    ),
    *_cases(lambda: FastICA(n_components=3, random_state=0, max_iter=500), "iris", "wine"),
    *_cases(
        lambda: FastICA(n_components=3, whiten="arbitrary-variance", random_state=0, max_iter=500),
        "breast_cancer",
        name="FastICA_arbitrary_variance",
    ),
    *_cases(lambda: FactorAnalysis(n_components=3, random_state=0), "iris", "wine", "diabetes"),
    *_cases(lambda: GaussianRandomProjection(n_components=5, random_state=0), "wine", "digits"),
    *_cases(lambda: SparseRandomProjection(n_components=6, random_state=0), "breast_cancer", "digits"),
    *_cases(
        lambda: SparseRandomProjection(n_components=4, density=1.0, random_state=0),
        "iris",
        name="SparseRandomProjection_dense",
    ),
    # Few components and a small sigmoid gamma keep the kernel matrix well conditioned: normalization_
    # (its inverse square root) would otherwise amplify last-bit kernel differences past the float64 tolerance.
    *[
        case
        for kernel, extra in (
            ("rbf", {}),
            ("poly", {}),
            ("sigmoid", {"gamma": 0.01}),
            ("linear", {}),
            ("cosine", {}),
            ("laplacian", {}),
            ("chi2", {}),
            ("additive_chi2", {}),
        )
        for case in _cases(
            lambda kernel=kernel, extra=extra: Nystroem(kernel=kernel, n_components=10, random_state=0, **extra),
            "iris",
            name=f"Nystroem_{kernel}",
        )
    ],
    *_cases(
        lambda: make_pipeline(StandardScaler(), Nystroem(gamma=0.1, n_components=40, random_state=0)),
        "breast_cancer",
        name="Nystroem_scaled",
    ),
    *_cases(lambda: RBFSampler(gamma=0.5, n_components=20, random_state=0), "iris", "diabetes"),
]

CASES += [
    *_cases(lambda: PLSRegression(n_components=2), "diabetes", "linnerud", "random_multioutput"),
    *_cases(lambda: PLSRegression(n_components=3, scale=False), "random_regression", name="PLSRegression_unscaled"),
    *_cases(lambda: PLSCanonical(n_components=2), "linnerud", "random_multioutput"),
    *_cases(lambda: CCA(n_components=2, max_iter=1000), "linnerud", "random_multioutput"),
    *_cases(lambda: PLSSVD(n_components=2), "linnerud", "random_multioutput"),
]
