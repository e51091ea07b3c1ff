"""Neighbour converters beyond the case table: ties between equal distances, exact matches with distance
weights, the in-graph blocks over the stored set, radius outliers and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    NearestCentroid,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
)

import sk2tensor
from sk2tensor.converters import neighbors
from sk2tensor.errors import UnsupportedParameterError
from sk2tensor.validate import PROBABILITY_ATOL
from tests.test_conformance import assert_matches_sklearn

RNG = np.random.default_rng(0)
BASE = RNG.normal(size=(60, 3))
LABELS = RNG.integers(0, 3, size=60)
TARGETS = RNG.normal(size=60)
QUERIES = BASE + RNG.normal(scale=0.3, size=BASE.shape)


def _check(model, rows: np.ndarray, dtype: str = "float64") -> sk2tensor.CompiledModel:
    compiled = sk2tensor.convert(model, rows, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(model, compiled, rows.astype(dtype), dtype)
    return compiled


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_duplicated_training_rows(algorithm: str, weights: str) -> None:
    """Each training row three times, as duplicated records are: every tie-break gives sklearn's answer."""
    X, y, t = np.tile(BASE, (3, 1)), np.tile(LABELS, 3), np.tile(TARGETS, 3)
    rows = QUERIES
    if algorithm != "brute":
        # Exact matches (zero distances, three at a time). sklearn's brute force leaves a rounding residue
        # instead of zero there (see test_brute_force_zero_distance_residue).
        rows = np.concatenate([QUERIES, BASE])
    for model in (
        KNeighborsClassifier(5, weights=weights, algorithm=algorithm).fit(X, y),
        KNeighborsRegressor(4, weights=weights, algorithm=algorithm).fit(X, t),
        RadiusNeighborsClassifier(0.6, weights=weights, algorithm=algorithm, outlier_label=-1).fit(X, y),
        RadiusNeighborsRegressor(0.6, weights=weights, algorithm=algorithm).fit(X, t),
    ):
        for dtype in ("float32", "float64"):
            _check(model, rows, dtype)


@pytest.mark.parametrize("block_rows", [neighbors.BLOCK_ROWS, 7])
def test_equal_distances_follow_sklearns_heap(block_rows: int, monkeypatch) -> None:
    """Copies of a row with different labels: the graph keeps the copies sklearn's brute-force heap keeps,
    also when the stored set is split into blocks (tests/test_neighbor_ties.py has the rule)."""
    monkeypatch.setattr(neighbors, "BLOCK_ROWS", block_rows)
    X = np.tile(BASE[:10], (4, 1))  # copies of row i at i, i + 10, i + 20, i + 30
    y = np.repeat(np.arange(4), 10)  # the copy number as label
    rows = BASE[:10] + 1e-3
    for k in (1, 2, 3, 5):
        model = KNeighborsClassifier(k, algorithm="brute").fit(X, y)
        compiled = sk2tensor.convert(model, rows, dtype="float64")
        np.testing.assert_array_equal(compiled.predict(rows), model.predict(rows))
        np.testing.assert_array_equal(compiled.predict_proba(rows), model.predict_proba(rows))
        if k == 1:  # the heap keeps the first of equal values
            np.testing.assert_array_equal(compiled.predict(rows), np.zeros(10))


def test_near_ties_are_decided_by_value() -> None:
    """Distances one ulp apart: the nearer row wins whatever its index."""
    one = 1.0
    farther = np.nextafter(one, 2.0)
    X = np.array([[-farther], [one], [-2 * farther], [2.0]])
    for algorithm in ("brute", "kd_tree"):
        model = KNeighborsClassifier(1, algorithm=algorithm).fit(X, [0, 1, 2, 3])
        rows = np.array([[0.0], [0.0]])
        compiled = sk2tensor.convert(model, rows, dtype="float64")
        np.testing.assert_array_equal(compiled.predict(rows), [1, 1])
        np.testing.assert_array_equal(model.predict(rows), [1, 1])


@pytest.mark.parametrize("block_rows", [5, 16])
def test_blocks_over_the_stored_set(block_rows: int, monkeypatch) -> None:
    """Small blocks (some smaller than k) give the neighbours of one big block."""
    monkeypatch.setattr(neighbors, "BLOCK_ROWS", block_rows)
    X = RNG.normal(size=(83, 4))
    y, t = RNG.integers(0, 3, size=83), RNG.normal(size=(83, 2))
    rows = RNG.normal(size=(40, 4))
    for model in (
        KNeighborsClassifier(6, weights="distance").fit(X, y),
        KNeighborsRegressor(7, metric="manhattan").fit(X, t),
        RadiusNeighborsClassifier(1.5, outlier_label="most_frequent").fit(X, y),
        RadiusNeighborsRegressor(1.5, weights="distance", p=3).fit(X, t),
    ):
        _check(model, rows)
        graph_ops = [node.op_type for node in sk2tensor.convert(model, rows).onnx.graph.node]
        assert graph_ops.count("MatMul" if "Radius" in type(model).__name__ else "TopK") >= -(-83 // block_rows)


def test_distance_weights_with_exact_matches_on_a_tree() -> None:
    """A row equal to training rows: weight 1 for the exact matches and 0 for the others, as sklearn."""
    X = np.concatenate([BASE, BASE[:5]])
    y, t = np.concatenate([LABELS, (LABELS[:5] + 1) % 3]), np.concatenate([TARGETS, TARGETS[:5] + 10])
    rows = BASE[:10]  # rows 0-4 match two training rows with different targets, rows 5-9 one
    _check(KNeighborsClassifier(4, weights="distance", algorithm="kd_tree").fit(X, y), rows)
    _check(KNeighborsRegressor(4, weights="distance", algorithm="kd_tree").fit(X, t), rows)


def test_brute_force_zero_distance_residue() -> None:
    """sklearn's brute force computes |x|^2 - 2 x.y + |y|^2, whose rounding residue for a row's own copy
    (about 1e-7 here, instead of 0) its 1 / d weights turn into a near-certain but not certain vote. The
    graph's residue differs, so probabilities agree to about 1e-7, not to float64 precision."""
    model = KNeighborsClassifier(5, weights="distance", algorithm="brute").fit(BASE * 30, LABELS)
    compiled = sk2tensor.convert(model, BASE * 30, dtype="float64", validate=False)
    np.testing.assert_array_equal(compiled.predict(BASE * 30), model.predict(BASE * 30))
    np.testing.assert_allclose(compiled.predict_proba(BASE * 30), model.predict_proba(BASE * 30), atol=1e-6)


def test_radius_outliers_without_an_outlier_label() -> None:
    """sklearn raises for a row without neighbours when outlier_label is None; the graph cannot raise: such
    a row gets all-zero probabilities and the first class."""
    model = RadiusNeighborsClassifier(0.8).fit(BASE, LABELS)
    compiled = sk2tensor.convert(model, BASE)
    far = BASE[:3] + 100.0
    with pytest.raises(ValueError, match="No neighbors found"):
        model.predict(far)
    np.testing.assert_array_equal(compiled.predict_proba(far), np.zeros((3, 3)))
    np.testing.assert_array_equal(compiled.predict(far), [0, 0, 0])
    regressor = RadiusNeighborsRegressor(0.8).fit(BASE, TARGETS)
    with pytest.warns(UserWarning, match="no neighbors"):
        expected = regressor.predict(far)
    assert np.isnan(expected).all() and np.isnan(sk2tensor.convert(regressor, BASE).predict(far)).all()


def test_outlier_label_outside_string_classes_is_refused() -> None:
    y = np.array(["a", "b", "c"], dtype=object)[LABELS]
    model = RadiusNeighborsClassifier(0.8, outlier_label="zzz").fit(BASE, y)
    with pytest.raises(UnsupportedParameterError, match="outlier_label='zzz'"):
        sk2tensor.convert(model, BASE)


def test_training_sets_above_the_limit_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(neighbors, "MAX_STORED_ROWS", 50)
    with pytest.raises(UnsupportedParameterError, match="stores 60 training rows of 3 features"):
        sk2tensor.convert(KNeighborsClassifier().fit(BASE, LABELS), BASE)


@pytest.mark.parametrize(
    "model",
    [
        KNeighborsClassifier(metric="hamming"),
        KNeighborsRegressor(metric=lambda a, b: float(np.abs(a - b).sum())),
        KNeighborsClassifier(weights=lambda d: d),
        KNeighborsClassifier(metric="minkowski", metric_params={"w": np.ones(3)}),
    ],
    ids=["hamming", "callable_metric", "callable_weights", "weighted_minkowski"],
)
def test_unsupported_settings_are_refused(model) -> None:
    model.fit(BASE, LABELS if hasattr(model, "predict_proba") else TARGETS)
    with pytest.raises(UnsupportedParameterError, match=type(model).__name__):
        sk2tensor.convert(model, BASE)


def test_nearest_centroid_ties_go_to_the_first_class() -> None:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 1.0]])
    model = NearestCentroid().fit(X, [5, 5, 7, 7])
    rows = np.array([[1.0, 0.5], [1.0 + 1e-12, 0.5], [1.0 - 1e-12, 3.0]])
    compiled = sk2tensor.convert(model, rows, dtype="float64")
    np.testing.assert_array_equal(compiled.predict(rows), model.predict(rows))
    assert compiled.predict(rows)[0] == 5


MULTI_TARGETS = {
    "integer_labels": np.c_[LABELS, np.where(TARGETS > 0, 40, -7)],
    "class_counts_differ": np.c_[LABELS, (TARGETS > 0).astype(int)],
    "float_labels": np.c_[LABELS * 2.0, np.where(TARGETS > 0, 0.0, 1.0)],
    "bool_labels": np.c_[LABELS > 0, TARGETS > 0],
}


@pytest.mark.parametrize("target", MULTI_TARGETS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_multi_output_classifiers(target: str, weights: str) -> None:
    """A 2-D target: predict is [batch, n_outputs] labels, sklearn's dtype, per-output votes and outlier labels;
    predict_proba is sklearn's list of arrays (side by side in the graph, split by the compiled model)."""
    Y = MULTI_TARGETS[target]
    labels = [np.unique(Y[:, 0])[-1].item(), np.unique(Y[:, 1])[0].item()]  # one outlier label per output
    rows = np.concatenate([QUERIES, BASE[:10] + 3.0])  # the last rows are outliers at radius 0.6
    tree = {"algorithm": "kd_tree"} if weights == "distance" else {}  # exact matches: see the residue test
    for model in (
        KNeighborsClassifier(4, weights=weights, **tree).fit(BASE, Y),
        KNeighborsClassifier(7, weights=weights, algorithm="brute").fit(BASE, Y),
        RadiusNeighborsClassifier(0.6, weights=weights, outlier_label="most_frequent").fit(BASE, Y),
        RadiusNeighborsClassifier(0.6, weights=weights, outlier_label=labels).fit(BASE, Y),
    ):
        # Brute-force distance weights on a training row's own copy divide by sklearn's rounding residue (see the
        # residue test): such a model is checked away from the training rows.
        own = model.weights == "distance" and getattr(model, "_fit_method", "") == "brute"
        for dtype in ("float32", "float64"):
            compiled = _check(model, rows if own else np.concatenate([rows, BASE]), dtype)
            assert compiled.outputs == ("predict", "predict_proba")
            assert compiled.predict(rows.astype(dtype)).shape == (len(rows), 2)
            got, expected = compiled.predict_proba(rows.astype(dtype)), model.predict_proba(rows.astype(dtype))
            assert [part.shape for part in got] == [part.shape for part in expected]
            for part, reference in zip(got, expected, strict=True):
                np.testing.assert_allclose(part, reference, rtol=0, atol=PROBABILITY_ATOL[dtype])


def test_multi_output_outlier_labels_outside_the_classes() -> None:
    Y = np.c_[LABELS, (TARGETS > 0).astype(int)]
    model = RadiusNeighborsClassifier(0.6, outlier_label=[-1, 99], weights="distance").fit(BASE, Y)
    rows = np.concatenate([QUERIES, BASE[:10] + 3.0])
    compiled = _check(model, rows)
    np.testing.assert_array_equal(compiled.predict(rows)[-10:], np.tile([-1, 99], (10, 1)))


def test_multi_output_string_labels_are_refused() -> None:
    names = np.array(["a", "b", "c"], dtype=object)
    Y = np.c_[names[LABELS], names[(TARGETS > 0).astype(int)]]
    with pytest.raises(UnsupportedParameterError, match=r"classes_\[0\]\.dtype='object'.*numeric labels"):
        sk2tensor.convert(KNeighborsClassifier().fit(BASE, Y), BASE)
