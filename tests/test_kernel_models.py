"""Refusals and edge cases of the kernel models: KernelRidge, the Gaussian processes, the kernel approximations
(AdditiveChi2Sampler, SkewedChi2Sampler, PolynomialCountSketch) and KernelCenterer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ExpSineSquared, Matern, PairwiseKernel, WhiteKernel
from sklearn.kernel_approximation import AdditiveChi2Sampler, PolynomialCountSketch, SkewedChi2Sampler
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.preprocessing import KernelCenterer

import sk2tensor
from sk2tensor.converters import _pairwise
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.validate import PROBABILITY_ATOL, SCALED_TOL

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
T = X[:, 0] - 2 * X[:, 1] ** 2


def _quiet_fit(model, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args)


# --------------------------------------------------------------------------- refusals
def test_kernel_ridge_refuses_callable_and_precomputed_kernels() -> None:
    model = KernelRidge(kernel=lambda a, b: float(a @ b)).fit(X[:10], T[:10])
    with pytest.raises(UnsupportedParameterError, match=r"KernelRidge with kernel=.*callable and precomputed"):
        sk2tensor.convert(model, X)
    gram = X[:20] @ X[:20].T
    model = KernelRidge(kernel="precomputed").fit(gram, T[:20])
    with pytest.raises(UnsupportedParameterError, match=r"kernel='precomputed'.*use one of"):
        sk2tensor.convert(model, gram)


def test_kernel_ridge_ignores_kernel_params_for_a_string_kernel_as_sklearn_does() -> None:
    model = KernelRidge(kernel="rbf", kernel_params={"gamma": 50.0}).fit(X, T)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    np.testing.assert_allclose(compiled.predict(X), model.predict(X), atol=SCALED_TOL["float64"] * 10)


def test_matern_with_another_nu_is_refused() -> None:
    model = GaussianProcessRegressor(Matern(nu=1.0), optimizer=None).fit(X, T)
    with pytest.raises(UnsupportedParameterError, match=r"nu 0.5, 1.5, 2.5 and inf \(other values need Bessel"):
        sk2tensor.convert(model, X)


def test_unknown_gaussian_process_kernels_are_refused_naming_the_supported_ones() -> None:
    model = GaussianProcessRegressor(PairwiseKernel(metric="laplacian") + WhiteKernel(), optimizer=None).fit(X, T)
    with pytest.raises(
        UnsupportedParameterError, match=r"PairwiseKernel.*sk2tensor builds RBF, Matern .*Exponentiation"
    ):
        sk2tensor.convert(model, X)
    y = (X[:, 0] > 0).astype(int)
    model = GaussianProcessClassifier(PairwiseKernel(metric="rbf"), optimizer=None).fit(X, y)
    with pytest.raises(UnsupportedParameterError, match="GaussianProcessClassifier with kernel_="):
        sk2tensor.convert(model, X)


def test_gaussian_process_training_sets_above_the_limit_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(_pairwise, "MAX_STORED_VALUES", 100)
    model = GaussianProcessRegressor(RBF(), optimizer=None).fit(X, T)
    with pytest.raises(UnsupportedParameterError, match="GaussianProcessRegressor stores 60 training rows of 3"):
        sk2tensor.convert(model, X)


def test_gaussian_process_rows_per_run_are_bounded() -> None:
    model = GaussianProcessRegressor(RBF() + WhiteKernel(), optimizer=None).fit(X, T)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert compiled.max_chunk_rows == _pairwise.RUN_MEMORY_BYTES // (4 * 8 * 60 * 3)


# --------------------------------------------------------------------------- Gaussian processes
def test_exp_sine_squared_on_one_feature() -> None:
    """ExpSineSquared is positive definite on one feature (periodic signals), where the conformance data has
    several."""
    t = np.linspace(0, 10, 80)[:, None]
    y = np.sin(2 * t[:, 0]) + 0.1 * RNG.normal(size=80)
    model = _quiet_fit(GaussianProcessRegressor(ExpSineSquared(1.0, 3.0) + WhiteKernel(0.1), normalize_y=True), t, y)
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(model, t, dtype=dtype)
        assert compiled.validation.passed
    y2 = np.c_[y, np.cos(t[:, 0])]
    model = _quiet_fit(GaussianProcessRegressor(ExpSineSquared(1.0, 3.0), alpha=0.05), t, y2)
    compiled = sk2tensor.convert(model, t, dtype="float64")
    assert compiled.predict(t).shape == (80, 2) and compiled.validation.passed


def test_gaussian_process_classifier_string_labels() -> None:
    """sklearn's predict returns the labels as '<U10' while classes_ is an object array: the values agree."""
    iris = datasets.load_iris()
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[iris.target]
    model = _quiet_fit(GaussianProcessClassifier(RBF(1.0), optimizer=None), iris.data[::2], labels[::2])
    compiled = sk2tensor.convert(model, iris.data, validate=False)
    np.testing.assert_array_equal(compiled.predict(iris.data).astype(str), model.predict(iris.data).astype(str))
    np.testing.assert_allclose(
        compiled.predict_proba(iris.data), model.predict_proba(iris.data), atol=PROBABILITY_ATOL["float32"]
    )


#: Float64 probabilities of the Gaussian process classifier are held to this bound instead of
#: PROBABILITY_ATOL["float64"] (1e-12). Reason: sklearn's predict_proba sums five terms of size up to ~1,800
#: (COEFS * erf / 2) that cancel to a probability, so one ulp of difference in the latent variance (any
#: triangular solve other than sklearn's LAPACK call gives one: numpy's own solve_triangular moves sklearn's
#: probabilities by up to 9e-13 on iris) moves the result by about 1e-12. The graph repeats sklearn's formula
#: operation for operation; only the inputs it gets from the solve differ in the last bit.
GPC_FLOAT64_ATOL = 5e-12


@pytest.mark.parametrize("multi_class", ["one_vs_rest", "one_vs_one"])
def test_gaussian_process_classifier_float64_probabilities(multi_class: str) -> None:
    iris = datasets.load_iris()
    model = _quiet_fit(GaussianProcessClassifier(multi_class=multi_class), iris.data, iris.target)
    compiled = sk2tensor.convert(model, iris.data, dtype="float64", validate=False)
    np.testing.assert_array_equal(compiled.predict(iris.data), model.predict(iris.data))
    if multi_class == "one_vs_one":  # sklearn has no predict_proba there
        assert "predict_proba" not in compiled.outputs
        return
    np.testing.assert_allclose(compiled.predict_proba(iris.data), model.predict_proba(iris.data), atol=GPC_FLOAT64_ATOL)


# --------------------------------------------------------------------------- kernel approximations
def test_additive_chi2_sampler_on_negative_and_zero_entries() -> None:
    """sklearn raises on negative entries; the graph gives NaN in the output columns of that feature only, and
    zeros for zero entries (as sklearn)."""
    data = np.abs(X)
    model = AdditiveChi2Sampler(sample_steps=2).fit(data)
    compiled = sk2tensor.convert(model, data, dtype="float64")
    rows = data[:4].copy()
    rows[0, 1] = -0.5
    rows[1, 2] = 0.0
    got = compiled.transform(rows)
    feature_columns = [1, 1 + 3, 1 + 6]  # sqrt, cos and sin blocks of feature 1
    assert np.isnan(got[0, feature_columns]).all()
    assert not np.isnan(np.delete(got[0], feature_columns)).any()
    np.testing.assert_array_equal(got[1, [2, 5, 8]], 0.0)
    np.testing.assert_allclose(got[1:], model.transform(rows[1:]), atol=1e-12)
    with pytest.raises(ValueError, match="Negative values"):
        model.transform(rows)


def test_skewed_chi2_sampler_rows_at_or_below_minus_skewedness_are_nan() -> None:
    model = SkewedChi2Sampler(skewedness=5.0, n_components=10, random_state=0).fit(X)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    rows = X[:3].copy()
    rows[0, 0] = -5.0
    rows[1, 2] = -7.0
    got = compiled.transform(rows)
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2], model.transform(rows[2:])[0], atol=1e-12)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_polynomial_count_sketch_is_the_fft_convolution(degree: int) -> None:
    """The graph's sums of products equal sklearn's FFT result up to the FFT's rounding: within 1e-12 of the
    largest value (the float64 tolerance is 1e-10)."""
    data = RNG.normal(size=(200, 7)) * 3
    model = PolynomialCountSketch(degree=degree, n_components=33, coef0=0.5, random_state=degree).fit(data)
    compiled = sk2tensor.convert(model, data, dtype="float64")
    expected = model.transform(data)
    got = compiled.transform(data)
    assert np.abs(got - expected).max() <= 1e-12 * np.abs(expected).max()


def test_kernel_centerer_on_a_kernel_matrix() -> None:
    fitted = rbf_kernel(X, gamma=0.3)
    model = KernelCenterer().fit(fitted)
    test = rbf_kernel(RNG.normal(size=(25, 3)), X, gamma=0.3)
    for dtype in ("float32", "float64"):
        compiled = sk2tensor.convert(model, test, dtype=dtype)
        assert compiled.validation.passed
        expected = model.transform(test.astype(dtype))
        np.testing.assert_allclose(compiled.transform(test.astype(dtype)), expected, atol=SCALED_TOL[dtype])
