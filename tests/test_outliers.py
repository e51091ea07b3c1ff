"""Edge cases and refusals of the outlier detectors and density estimators: EllipticEnvelope
(sk2tensor/converters/covariance.py), LocalOutlierFactor, KernelDensity and NeighborhoodComponentsAnalysis
(sk2tensor/converters/neighbors.py).

Tolerances are the conformance ones (tests/test_conformance.py: labels identical, other outputs within
SCALED_TOL x max(1, max |sklearn|)); none is loosened here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.covariance import EllipticEnvelope, EmpiricalCovariance, LedoitWolf, MinCovDet
from sklearn.neighbors import KernelDensity, LocalOutlierFactor, NeighborhoodComponentsAnalysis

import sk2tensor
from sk2tensor.converters import neighbors
from sk2tensor.errors import UnsupportedEstimatorError, UnsupportedParameterError
from sk2tensor.validate import SCALED_TOL
from tests.cases import dataset
from tests.test_conformance import assert_matches_sklearn

RNG = np.random.default_rng(11)
#: Tie-heavy rows (a 4 x 4 x 4 integer grid, most cells holding several rows): distances are exact in float64,
#: and which training rows sklearn keeps at the k-th distance changes the LOF score.
GRID = RNG.integers(0, 4, size=(200, 3)).astype(np.float64)
GRID_QUERIES = np.concatenate(
    [
        RNG.integers(0, 4, size=(120, 3)),
        RNG.integers(0, 4, size=(120, 3)) + RNG.choice([0.0, 0.5], size=(120, 3)),
        RNG.integers(-2, 6, size=(60, 3)),
    ]
).astype(np.float64)
DTYPES = ("float32", "float64")


def _iris() -> np.ndarray:
    return dataset("iris").X


def _fitted() -> dict[str, object]:
    X = _iris()
    return {
        "EllipticEnvelope": EllipticEnvelope(random_state=0).fit(X),
        "LocalOutlierFactor": LocalOutlierFactor(n_neighbors=10, novelty=True).fit(X),
        "KernelDensity": KernelDensity(bandwidth=0.5).fit(X),
    }


# --------------------------------------------------------------------------- refusals
def test_lof_without_novelty_is_refused() -> None:
    model = LocalOutlierFactor(n_neighbors=5).fit(_iris())
    assert not hasattr(model, "predict")
    with pytest.raises(UnsupportedParameterError, match=r"novelty=False.*novelty=True"):
        sk2tensor.convert(model, _iris())


@pytest.mark.parametrize("params", [{"rtol": 1e-4}, {"atol": 1e-6}, {"atol": 1e-3, "rtol": 1e-3}])
def test_kde_with_approximation_tolerances_is_refused(params: dict) -> None:
    """sklearn stops refining its tree walk within atol + rtol * density: a value the graph does not reproduce.
    atol and rtol are read by score_samples only: set to zero on the fitted model, sklearn computes the exact
    sum, which the graph matches."""
    X = _iris()
    model = KernelDensity(bandwidth=0.4, **params).fit(X)
    with pytest.raises(UnsupportedParameterError, match=r"atol=0 and rtol=0.*set_params"):
        sk2tensor.convert(model, X)
    model.set_params(atol=0, rtol=0)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: KernelDensity(metric="haversine"), "metric='haversine'"),
        (lambda: KernelDensity(metric="minkowski", metric_params={"p": 3, "w": np.ones(2)}), "metric_params"),
        (lambda: LocalOutlierFactor(metric="hamming", novelty=True), "metric='hamming'"),
    ],
)
def test_unsupported_metrics_are_refused(make, match: str) -> None:
    X = RNG.uniform(-1, 1, size=(60, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(X)
    with pytest.raises(UnsupportedParameterError, match=match):
        sk2tensor.convert(model, X)


@pytest.mark.parametrize("cls", [EmpiricalCovariance, MinCovDet, LedoitWolf])
def test_plain_covariance_estimators_have_no_converter(cls) -> None:
    """They predict nothing (only mahalanobis and score): nothing to export."""
    with pytest.raises(UnsupportedEstimatorError, match=cls.__name__):
        sk2tensor.convert(cls().fit(_iris()), _iris())


# --------------------------------------------------------------------------- NaN, one row, float32
@pytest.mark.parametrize("name", ["EllipticEnvelope", "LocalOutlierFactor", "KernelDensity"])
def test_nan_rows(name: str) -> None:
    """sklearn refuses NaN rows (ValueError), and so does convert() given them to validate on. A graph cannot
    raise: a row holding NaN (or an infinity) gets NaN scores and predict -1 (an outlier); other rows of the
    batch are unaffected."""
    model = _fitted()[name]
    X = _iris()
    bad = X[:6].copy()
    bad[1, 2] = np.nan
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        model.score_samples(bad)
    with pytest.raises(ValueError, match="NaN"):
        sk2tensor.convert(model, bad)
    compiled = sk2tensor.convert(model, X)
    scores = compiled.score_samples(bad)
    assert np.isnan(scores[[1, 4]]).all()
    good = [0, 2, 3, 5]
    expected = model.score_samples(bad[good].astype(np.float32))
    np.testing.assert_allclose(scores[good], expected, rtol=0, atol=SCALED_TOL["float32"] * np.abs(expected).max())
    if "predict" in compiled.outputs:
        np.testing.assert_array_equal(compiled.predict(bad)[[1, 4]], [-1, -1])
        np.testing.assert_array_equal(compiled.predict(bad)[good], model.predict(bad[good].astype(np.float32)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["EllipticEnvelope", "LocalOutlierFactor", "KernelDensity"])
def test_one_row_and_dtypes(name: str, dtype: str) -> None:
    """One row at a time gives sklearn's values for that row; outputs keep sklearn's dtypes (int labels, float64
    scores, also for float32 rows)."""
    model = _fitted()[name]
    X = _iris()
    compiled = sk2tensor.convert(model, X, dtype=dtype)
    for i in (0, 57, 149):
        row = X[i : i + 1].astype(dtype)
        assert_matches_sklearn(model, compiled, row, dtype)
    for method in compiled.outputs:
        got = getattr(compiled, method)(X[:1].astype(dtype))
        assert got.dtype == (np.int64 if method == "predict" else np.float64) or got.dtype == np.dtype(int)


def test_nca_float32_rows() -> None:
    data = dataset("wine")
    model = NeighborhoodComponentsAnalysis(n_components=3, max_iter=20, random_state=0).fit(data.X, data.y)
    compiled = sk2tensor.convert(model, data.X, dtype="float32")
    rows = data.X[:1].astype(np.float32)
    assert model.transform(rows).dtype == np.float64
    assert_matches_sklearn(model, compiled, rows, "float32")


# --------------------------------------------------------------------------- LocalOutlierFactor
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("metric", [{}, {"metric": "manhattan"}, {"metric": "chebyshev"}, {"p": 3}])
@pytest.mark.parametrize("k", [3, 8])
def test_lof_ties_match_sklearn(algorithm: str, metric: dict, k: int, dtype: str) -> None:
    """On tie-heavy rows, the k nearest rows sklearn keeps among equal distances decide the lrd ratios: the
    graph keeps the same ones (the KNeighbors heap replay) and the scores match on every row. Brute force on
    float32 rows goes through numpy's argpartition in sklearn (no fixed rule): float64 only there."""
    if algorithm == "brute" and dtype == "float32":
        pytest.skip("sklearn's choice among tied rows is numpy's argpartition's (tests/test_neighbor_ties.py)")
    model = LocalOutlierFactor(n_neighbors=k, algorithm=algorithm, novelty=True, contamination=0.2, **metric)
    model.fit(GRID)
    compiled = sk2tensor.convert(model, GRID_QUERIES, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, GRID_QUERIES.astype(dtype), dtype)


def test_lof_ties_change_the_score(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grid data does exercise the tie rule: a graph keeping the lowest training index among tied rows (no
    heap replay) scores some rows far from sklearn (duplicated rows have lrd near 1e10)."""
    model = LocalOutlierFactor(n_neighbors=3, algorithm="kd_tree", novelty=True).fit(GRID)
    monkeypatch.setattr(neighbors, "_heap", lambda *args: False)
    scores = sk2tensor.convert(model, GRID_QUERIES, dtype="float64", validate=False).score_samples(GRID_QUERIES)
    assert np.abs(scores - model.score_samples(GRID_QUERIES)).max() > 1.0


def test_lof_more_neighbors_than_rows_and_duplicates() -> None:
    """n_neighbors above the training rows falls back to n - 1 (n_neighbors_), as sklearn; duplicated training
    rows give zero k-distances and lrd near 1e10, which the graph follows."""
    X = np.concatenate([RNG.normal(size=(9, 2)), np.zeros((3, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LocalOutlierFactor(n_neighbors=30, novelty=True).fit(X)
    assert model.n_neighbors_ == len(X) - 1
    queries = np.concatenate([X, RNG.normal(size=(20, 2)), np.zeros((1, 2))])
    for dtype in DTYPES:
        compiled = sk2tensor.convert(model, queries, dtype=dtype)
        assert compiled.validation.passed, compiled.validation.summary()
        assert_matches_sklearn(model, compiled, queries.astype(dtype), dtype)


def test_lof_blocks_and_memory_bound() -> None:
    """Above BLOCK_ROWS training rows the search runs in blocks; the rows of one run are bounded."""
    X = RNG.normal(size=(neighbors.BLOCK_ROWS + 700, 4))
    model = LocalOutlierFactor(n_neighbors=15, novelty=True, algorithm="brute").fit(X)
    queries = RNG.normal(size=(300, 4)) * 1.5
    compiled = sk2tensor.convert(model, queries, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert compiled.max_chunk_rows is not None and compiled.max_chunk_rows < 1 << 20


# --------------------------------------------------------------------------- KernelDensity
#: Below this mean kernel value (unnormalised, K(0) = 1) over the stored rows, sklearn's tree value carries an
#: error above the float64 tolerance (see _check_kde and convert_kernel_density). Measured on gaussian KDEs of
#: 600 to 4,400 normal rows: sklearn's error in log density is about 1e-16 / (mean kernel), 1e-10 at 1e-6,
#: 5e-9 at 1e-8, 1e-4 at 1e-12.
KDE_FLOOR = 1e-6


def _exact_kde(model: KernelDensity, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact log density (numpy, float64, sklearn's formulas) and the mean unnormalised kernel value."""
    from scipy.special import logsumexp
    from sklearn.neighbors._kd_tree import kernel_norm

    data, h = np.asarray(model.tree_.data), model.bandwidth_
    powers = {"euclidean": 2.0, "manhattan": 1.0, "chebyshev": np.inf}
    p = powers.get(model.metric, (model.metric_params or {}).get("p", 2.0))
    diff = np.abs(X[:, None, :] - data[None, :, :])
    d = diff.max(-1) if p == np.inf else (diff**p).sum(-1) ** (1 / p)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_k = {
            "gaussian": -0.5 * (d * d) / (h * h),
            "exponential": -d / h,
            "tophat": np.where(d < h, 0.0, -np.inf),
            "epanechnikov": np.where(d < h, np.log(1.0 - (d * d) / (h * h)), -np.inf),
            "linear": np.where(d < h, np.log(1 - d / h), -np.inf),
            "cosine": np.where(d < h, np.log(np.cos(0.5 * np.pi * d / h)), -np.inf),
        }[model.kernel]
        weights = model.tree_.sample_weight
        n = len(data) if weights is None else model.tree_.sum_weight
        if weights is not None:
            log_k = log_k + np.log(np.asarray(weights))[None, :]
        total = logsumexp(log_k, axis=1)
    log_norm = kernel_norm(h, data.shape[1], model.kernel, return_log=True)
    return total + log_norm - np.log(n), np.exp(total) / n


def _check_kde(model: KernelDensity, X: np.ndarray, dtype: str = "float64") -> int:
    """The graph against the exact density on every row, and against sklearn where the density is above
    KDE_FLOOR; returns the rows below it.

    sklearn's tree (atol = rtol = 0) keeps running log-space sums of node bounds, adding and subtracting them
    (logaddexp / logsubexp) as it refines; their rounding leaves a residue of about 1e-16 x N x (largest bound)
    in the result (an error of about 1e-16 / mean kernel in the log density), so a density far below that (a
    query in an empty region of the data) comes out as that residue (log about -37 instead of -inf for an
    empty compact kernel) and one somewhat above it carries its relative error. The graph sums exactly;
    convert() reports such rows as disagreements."""
    compiled = sk2tensor.convert(model, X, dtype=dtype, validate=False)
    got = compiled.score_samples(X.astype(dtype))
    exact, mean_kernel = _exact_kde(model, X.astype(dtype).astype(np.float64))
    finite = np.isfinite(exact)
    scale = max(1.0, float(np.abs(exact[finite]).max())) if finite.any() else 1.0
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(exact))
    np.testing.assert_allclose(got[finite], exact[finite], rtol=0, atol=SCALED_TOL[dtype] * scale)
    dense = mean_kernel >= KDE_FLOOR
    expected = model.score_samples(X.astype(dtype)[dense])
    np.testing.assert_allclose(got[dense], expected, rtol=0, atol=SCALED_TOL[dtype] * scale)
    return int((~dense).sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", neighbors.KDE_KERNELS)
def test_kde_sample_weights(kernel: str, dtype: str) -> None:
    """Weighted densities (zero weights included: log(0) = -inf contributions, as sklearn) normalised by the
    weights' sum; validated against sklearn on the training rows."""
    X = RNG.normal(size=(150, 3))
    weights = RNG.uniform(0, 2, size=150)
    weights[:10] = 0.0
    model = KernelDensity(kernel=kernel, bandwidth=1.2).fit(X, sample_weight=weights)
    with np.errstate(divide="ignore"):
        compiled = sk2tensor.convert(model, X[10:], dtype=dtype)
        assert compiled.validation.passed, compiled.validation.summary()
        _check_kde(model, np.concatenate([X, RNG.normal(size=(40, 3))]), dtype)


@pytest.mark.parametrize("kernel", ["tophat", "epanechnikov", "linear", "cosine"])
@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree"])
def test_compact_kernel_boundary_and_empty_neighbourhood(kernel: str, algorithm: str) -> None:
    """Grid rows at distance exactly h are outside a compact kernel (``dist < h``), as in sklearn: grid queries
    whose only rows within reach sit at distance h have density 0 (log -inf) in the graph and in the exact sum,
    and sklearn's residue there; a query far from every row has -inf in both."""
    model = KernelDensity(kernel=kernel, bandwidth=1.0, algorithm=algorithm, leaf_size=4).fit(GRID)
    queries = np.concatenate([GRID_QUERIES, [[10.0, 10.0, 10.0]]])
    assert np.isneginf(model.score_samples(queries[-1:])).all()
    assert _check_kde(model, queries) > 0  # the data does reach the boundary
    assert np.isneginf(sk2tensor.convert(model, GRID, validate=False).score_samples(queries[-1:])).all()


def test_sklearn_tree_residue_where_the_density_vanishes() -> None:
    """The documented difference: at a grid point whose training rows all sit at distance h of a tophat kernel
    the density is 0; sklearn returns its rounding residue, the graph -inf, and convert() validating on that
    row refuses the export."""
    model = KernelDensity(kernel="tophat", bandwidth=1.0).fit(GRID)
    empty = np.array([[2.0, 2.0, 1.0]])
    assert not (np.all(empty == GRID, axis=1)).any()
    assert np.isfinite(model.score_samples(empty)).all()
    assert np.isneginf(sk2tensor.convert(model, GRID, validate=False).score_samples(empty)).all()
    with pytest.raises(sk2tensor.ValidationError):
        sk2tensor.convert(model, empty, dtype="float64")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", [{"metric": "manhattan"}, {"metric": "chebyshev"}, {"metric_params": {"p": 3}}])
def test_kde_metrics_on_new_rows(metric: dict, dtype: str) -> None:
    X = RNG.normal(size=(200, 4))
    model = KernelDensity(kernel="gaussian", bandwidth=0.6, metric=metric.get("metric", "minkowski"))
    model.set_params(metric_params=metric.get("metric_params")).fit(X)
    _check_kde(model, np.concatenate([X[:50], RNG.normal(size=(50, 4)) * 1.5]), dtype)


def test_kde_cosine_norm_nan_as_sklearn() -> None:
    """sklearn's cosine kernel norm is NaN in 4 dimensions: its densities are NaN, and so are the graph's."""
    model = KernelDensity(kernel="cosine", bandwidth=2.0).fit(_iris())
    assert np.isnan(model.score_samples(_iris()[:3])).all()
    compiled = sk2tensor.convert(model, _iris(), dtype="float64")
    assert np.isnan(compiled.score_samples(_iris()[:3])).all()


def test_kde_blocks_match_sklearn() -> None:
    """Above BLOCK_ROWS stored rows the log-sum-exp is merged across blocks (maxima then rescaled sums)."""
    X = RNG.normal(size=(neighbors.BLOCK_ROWS * 2 + 300, 3))
    model = KernelDensity(bandwidth=0.3).fit(X)
    compiled = sk2tensor.convert(model, X[:300], dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    assert compiled.max_chunk_rows is not None
    _check_kde(model, np.concatenate([RNG.normal(size=(200, 3)) * 2, [[8.0, 8.0, 8.0]]]))
