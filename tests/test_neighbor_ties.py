"""Ties in neighbour distances, on tie-heavy data (integer grids, duplicated training rows with different
targets), where every distance is exact in float64 and sklearn's choice among equal distances decides the
prediction.

What sklearn 1.9 does, and what the graph does (sk2tensor/converters/neighbors.py):

* brute force, float64 rows (rows of the fitted dtype) and an ArgKmin metric (euclidean, manhattan, chebyshev,
  minkowski): a max-heap of k entries per query, fed the training rows in index order; it keeps neither the
  lowest nor the highest index among rows tied at the k-th distance. With at most 256 training rows (one ArgKmin
  chunk) that is sklearn's answer on every machine, above with parallel_on_X or one thread; up to 8,192 training
  rows the graph reproduces it exactly (a loop trip per push the heap may accept);
* radius models keep every training row with ``reduced distance <= reduced radius``, on every path: so does the
  graph;
* ``weights="distance"`` with a zero distance: weight 1 for the exact matches and 0 for the others;
* kd_tree and ball_tree (what ``algorithm="auto"`` picks for up to 15 features): the same heap, fed in the order
  the query walks the tree (depth first, the child with the smaller lower bound first, the left one on equal
  bounds; a leaf's rows in ``idx_array`` order). With at most 8,192 training rows the graph computes that walk per
  tied row and reproduces sklearn exactly, on float32 rows too (the tree casts them to float64);
* numpy's argpartition (float32 rows on a brute-force model, the cosine metric), and sets above the replay's
  bounds, keep the lowest index.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.base import is_classifier
from sklearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    RadiusNeighborsClassifier,
    RadiusNeighborsRegressor,
)
from threadpoolctl import threadpool_limits

import sk2tensor
from sk2tensor.converters import neighbors
from sk2tensor.graph import GraphBuilder
from sk2tensor.registry import ConversionContext
from sk2tensor.validate import PROBABILITY_ATOL
from sk2tensor.versions import sklearn_before
from tests.test_conformance import assert_matches_sklearn

RNG = np.random.default_rng(7)
#: 200 training rows on a 4 x 4 x 4 integer grid: most cells hold several rows, with different labels.
GRID = RNG.integers(0, 4, size=(200, 3)).astype(np.float64)
GRID_LABELS = RNG.integers(0, 3, size=200)
GRID_TARGETS = RNG.normal(size=200)
#: Queries on the grid (exact matches), between grid points, and off the grid.
GRID_QUERIES = np.concatenate(
    [
        RNG.integers(0, 4, size=(150, 3)),
        RNG.integers(0, 4, size=(150, 3)) + RNG.choice([0.0, 0.5], size=(150, 3)),
        RNG.integers(-2, 6, size=(100, 3)),
    ]
).astype(np.float64)
DTYPES = ("float32", "float64")
METRICS = {
    "euclidean": {},
    "manhattan": {"metric": "manhattan"},
    "chebyshev": {"metric": "chebyshev"},
    "minkowski3": {"p": 3},
}


def _reference_heap(row: np.ndarray, k: int) -> tuple[list[float], list[int]]:
    """``sklearn.utils._heap.heap_push`` of every value of ``row`` in order, transcribed."""
    values, indices = [np.finfo(np.float64).max] * k, [0] * k
    for j, val in enumerate(row):
        if val >= values[0]:
            continue
        current = 0
        while True:
            left, right = 2 * current + 1, 2 * current + 2
            if left >= k:
                break
            if right >= k:
                if values[left] > val:
                    swap = left
                else:
                    break
            elif values[left] >= values[right]:
                if val < values[left]:
                    swap = left
                else:
                    break
            elif val < values[right]:
                swap = right
            else:
                break
            values[current], indices[current] = values[swap], indices[swap]
            current = swap
        values[current], indices[current] = val, j
    return values, indices


def _run(graph: GraphBuilder, rows: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(graph.build().SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": rows})


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 13])
def test_the_graph_heap_is_sklearns_heap(k: int) -> None:
    """Heap state, position by position, after pushing rows of small integers (ties everywhere)."""
    rows = RNG.integers(0, 6, size=(300, 40)).astype(np.float64)
    graph = GraphBuilder(dtype=np.float64)
    values, indices = neighbors.sklearn_heap(graph, graph.input("input", 40), 40, k)
    graph.output(values, "transform")
    graph.output(indices, "predict")
    got_values, got_indices = _run(graph, rows)
    for row, v, i in zip(rows, got_values, got_indices, strict=True):
        expected_values, expected_indices = _reference_heap(row, k)
        np.testing.assert_array_equal(v, expected_values)
        np.testing.assert_array_equal(i, expected_indices)


def _graph_kneighbors(model, rows: np.ndarray, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    """The neighbours the converter's graph picks (distances sorted ascending, indices as found)."""
    graph = GraphBuilder(dtype=dtype)
    distances, stored = neighbors._setup(graph, model, graph.input("input", rows.shape[1]), ConversionContext())
    heap = neighbors._heap_applies(model, distances.metric, len(stored))
    dist, index = neighbors.kneighbors(graph, distances, stored, model.n_neighbors, heap)
    graph.output(dist, "transform")
    graph.output(index, "predict")
    dist, index = _run(graph, rows.astype(dtype))
    return np.sort(dist, axis=1), index


def _lowest_index(model, rows: np.ndarray) -> list[set[int]]:
    dist = model._fit_X[None, :, :] - rows[:, None, :]
    key = np.round(np.abs(dist).sum(-1) if "manhattan" in str(model.effective_metric_) else (dist**2).sum(-1), 9)
    return [set(order[: model.n_neighbors]) for order in np.argsort(key, axis=1, kind="stable")]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_brute_force_ties_match_sklearn(metric: str, k: int) -> None:
    """Neighbour sets, distances and predictions equal sklearn's on float64 rows, where keeping the lowest
    index among tied rows would not."""
    model = KNeighborsClassifier(k, algorithm="brute", **METRICS[metric]).fit(GRID, GRID_LABELS)
    expected_dist, expected_index = model.kneighbors(GRID_QUERIES)
    dist, index = _graph_kneighbors(model, GRID_QUERIES)
    np.testing.assert_array_equal(dist, expected_dist)
    got_sets = [set(row) for row in index.tolist()]
    assert got_sets == [set(row) for row in expected_index.tolist()]
    if k >= 5 and metric in ("euclidean", "manhattan"):
        assert got_sets != _lowest_index(model, GRID_QUERIES)  # the data does exercise the rule
    for weights in ("uniform", "distance"):
        for fitted in (
            KNeighborsClassifier(k, weights=weights, algorithm="brute", **METRICS[metric]).fit(GRID, GRID_LABELS),
            KNeighborsRegressor(k, weights=weights, algorithm="brute", **METRICS[metric]).fit(GRID, GRID_TARGETS),
        ):
            compiled = sk2tensor.convert(fitted, GRID_QUERIES, dtype="float64")
            assert compiled.validation.passed, compiled.validation.summary()
            if weights == "distance" and is_classifier(fitted) and sklearn_before(1, 9):
                _assert_matches_but_weighted_mode_ties(fitted, compiled)
            else:
                assert_matches_sklearn(fitted, compiled, GRID_QUERIES, "float64")


def _assert_matches_but_weighted_mode_ties(fitted: KNeighborsClassifier, compiled: sk2tensor.CompiledModel) -> None:
    """sklearn < 1.9 picks a distance-weighted label with weighted_mode, whose np.sum adds each class's weights
    in numpy's pairwise order over the neighbours as its sort leaves tied ones: two classes whose sums agree to
    the last bit or two may come out either way. The graph takes the argmax of predict_proba (sklearn 1.9's
    rule); on older releases the labels may differ on such near-ties only (a documented difference)."""
    expected_proba = fitted.predict_proba(GRID_QUERIES)
    np.testing.assert_allclose(
        compiled.predict_proba(GRID_QUERIES), expected_proba, rtol=0, atol=PROBABILITY_ATOL["float64"]
    )
    differ = compiled.predict(GRID_QUERIES) != fitted.predict(GRID_QUERIES)
    top_two = np.sort(expected_proba, axis=1)[:, -2:]
    assert np.all(top_two[differ, 1] - top_two[differ, 0] <= 1e-15), np.flatnonzero(differ)


def test_float32_models_match_sklearn_on_float32_rows() -> None:
    """A model fitted on float32 rows takes sklearn's float32 ArgKmin (the same heap) on float32 rows."""
    X = GRID.astype(np.float32)
    for model in (
        KNeighborsClassifier(5, algorithm="brute").fit(X, GRID_LABELS),
        KNeighborsRegressor(6, weights="distance", algorithm="brute", metric="manhattan").fit(X, GRID_TARGETS),
    ):
        compiled = sk2tensor.convert(model, GRID_QUERIES, dtype="float32")
        assert compiled.validation.passed, compiled.validation.summary()
        assert_matches_sklearn(model, compiled, GRID_QUERIES.astype(np.float32), "float32")


TREES = ("kd_tree", "ball_tree")
#: Continuous rows (no ties) mixed into the tie-heavy queries: the heap runs on the tied rows only, and its
#: answers go back to their rows.
MIXED_QUERIES = np.concatenate([GRID_QUERIES, RNG.normal(1.5, 1.0, size=(100, 3))])[RNG.permutation(500)]


@pytest.mark.parametrize("algorithm", TREES)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(("k", "leaf_size"), [(1, 30), (2, 2), (5, 30), (5, 3), (8, 1), (3, 300)])
def test_tree_ties_match_sklearn(algorithm: str, metric: str, k: int, leaf_size: int) -> None:
    """KDTree and BallTree models keep the neighbours sklearn's tree query keeps, on every row, for small and
    large leaves (leaf_size 300: one leaf, idx_array order), where keeping the lowest index would not."""
    model = KNeighborsClassifier(k, algorithm=algorithm, leaf_size=leaf_size, **METRICS[metric])
    model.fit(GRID, GRID_LABELS)
    expected_dist, expected_index = model.kneighbors(MIXED_QUERIES)
    dist, index = _graph_kneighbors(model, MIXED_QUERIES)
    # sklearn's rdist_to_dist runs numpy's pow (minkowski), which may round apart from C's in the last bit.
    np.testing.assert_allclose(dist, expected_dist, rtol=1e-15, atol=0)
    got_sets = [set(row) for row in index.tolist()]
    assert got_sets == [set(row) for row in expected_index.tolist()]
    if k >= 5 and metric in ("euclidean", "manhattan"):
        assert got_sets != _lowest_index(model, MIXED_QUERIES)  # the data does exercise the rule


@pytest.mark.parametrize("algorithm", TREES)
@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "minkowski3"])
def test_tree_models_match_sklearn(algorithm: str, metric: str) -> None:
    """Predictions of tree models equal sklearn's on tie-heavy rows, float32 rows included (the tree casts
    them to float64, so its walk does not depend on the rows' dtype)."""
    for weights in ("uniform", "distance"):
        for fitted in (
            KNeighborsClassifier(6, weights=weights, algorithm=algorithm, **METRICS[metric]).fit(GRID, GRID_LABELS),
            KNeighborsRegressor(5, weights=weights, algorithm=algorithm, **METRICS[metric]).fit(GRID, GRID_TARGETS),
        ):
            for dtype in DTYPES:
                compiled = sk2tensor.convert(fitted, MIXED_QUERIES, dtype=dtype)
                assert compiled.validation.passed, compiled.validation.summary()
                assert_matches_sklearn(fitted, compiled, MIXED_QUERIES.astype(dtype), dtype)


def test_auto_picks_a_tree_and_matches_sklearn() -> None:
    """``algorithm="auto"`` fits a KDTree on these 3 features: its ties follow the tree, not the index."""
    model = KNeighborsClassifier(7).fit(GRID, GRID_LABELS)
    assert model._fit_method == "kd_tree"
    compiled = sk2tensor.convert(model, MIXED_QUERIES, dtype="float64")
    assert compiled.validation.passed, compiled.validation.summary()
    np.testing.assert_array_equal(compiled.predict_proba(MIXED_QUERIES), model.predict_proba(MIXED_QUERIES))


@pytest.mark.parametrize("algorithm", ["brute", *TREES])
def test_only_tied_rows_take_the_heap_and_untied_batches_skip_it(algorithm: str) -> None:
    """Rows without a tie at the k-th neighbour keep the ascending TopK answer; a batch without any tie skips
    the heap (an If around it, holding the Loop) and gives the same answer."""
    X = RNG.normal(size=(120, 3))
    model = KNeighborsClassifier(4, algorithm=algorithm, leaf_size=5).fit(X, RNG.integers(0, 2, size=120))
    rows = RNG.normal(size=(50, 3))
    dist, index = _graph_kneighbors(model, rows)
    expected_dist, expected_index = model.kneighbors(rows)
    np.testing.assert_allclose(dist, expected_dist, rtol=0, atol=1e-12)
    assert [set(r) for r in index.tolist()] == [set(r) for r in expected_index.tolist()]
    ops = [node.op_type for node in sk2tensor.convert(model, rows, dtype="float64").onnx.graph.node]
    assert ops.count("If") == 1 and "Loop" not in ops  # the Loop is inside the If's tie branch


@pytest.mark.parametrize(
    ("make", "copies"),
    [
        (lambda: KNeighborsClassifier(5, algorithm="kd_tree"), 41),  # 8,200 training rows: above HEAP_MAX_ROWS
        (lambda: KNeighborsClassifier(5, algorithm="ball_tree"), 41),
        (lambda: KNeighborsClassifier(5, algorithm="brute", metric="cosine"), 1),
        (lambda: KNeighborsClassifier(5, algorithm="brute"), 41),
        (lambda: KNeighborsClassifier(5, algorithm="kd_tree", leaf_size=1), 21),  # 4,095 inner nodes x 4,200
    ],
    ids=["kd_tree_8200_rows", "ball_tree_8200_rows", "cosine", "brute_8200_rows", "kd_tree_shift_table"],
)
def test_cases_without_a_reproducible_order_keep_the_lowest_index(make, copies: int) -> None:
    """sklearn's order among tied rows depends on numpy's argpartition there (cosine), and the heap is not
    replayed above HEAP_MAX_ROWS stored rows or a tree walk's shift table above TREE_SHIFT_MAX_VALUES values:
    the graph holds no heap and keeps the lowest indices (ascending TopK)."""
    X = np.tile(GRID, (copies, 1))
    model = make().fit(X, np.resize(GRID_LABELS, len(X)))
    metric = neighbors.metric_of(model, model.effective_metric_, model.effective_metric_params_, model._fit_method)
    assert not neighbors._heap_applies(model, metric, len(X))
    ops = [node.op_type for node in sk2tensor.convert(model, GRID_QUERIES, validate=False).onnx.graph.node]
    assert "Loop" not in ops
    if metric.name != "cosine":
        _, index = _graph_kneighbors(model, GRID_QUERIES)
        assert [set(row) for row in index.tolist()] == _lowest_index(model, GRID_QUERIES)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13])
def test_accepted_pushes_replay_the_heap(k: int) -> None:
    """The heap accepts ``v_t`` iff ``v_t`` is below the k-th smallest of ``v_0 .. v_(t-1)``, and replaying the
    accepted pushes alone gives the same heap: in numpy, then in the graph (prefix scan, compaction, a loop
    trip per accepted push)."""
    rng = np.random.default_rng(k)
    for n in (k + 1, 17, 64, 100, 300):
        rows = rng.integers(0, rng.integers(2, 8), size=(40, n)).astype(np.float64)
        for row in rows[:10]:
            root = [np.sort(row[:t])[k - 1] if t >= k else np.finfo(np.float64).max for t in range(n)]
            accepted = np.flatnonzero(row < root)
            values, indices = _reference_heap(row[accepted], k)
            assert (values, accepted[indices].tolist()) == _reference_heap(row, k)
        graph = GraphBuilder(dtype=np.float64)
        values, indices = neighbors._accepted_heap(graph, graph.input("input", n), n, k)
        graph.output(values, "transform")
        graph.output(indices, "predict")
        for row, v, i in zip(rows, *_run(graph, rows), strict=True):
            assert (v.tolist(), i.tolist()) == _reference_heap(row, k)


#: Tie-heavy training sets above sklearn's ArgKmin chunk: 1,000 and 3,000 rows on a 4 x 4 x 4 grid.
LARGE_RNG = np.random.default_rng(11)
LARGE_GRIDS = {n: LARGE_RNG.integers(0, 4, size=(n, 3)).astype(np.float64) for n in (1000, 3000)}


@pytest.mark.parametrize("algorithm", ["brute", *TREES])
@pytest.mark.parametrize("n", [1000, 3000])
def test_large_tie_heavy_sets_match_sklearn(algorithm: str, n: int) -> None:
    """Above 256 stored rows: sklearn's brute force is one heap in index order with parallel_on_X or one thread
    (threadpoolctl here), a tree's is its walk; neighbours and predictions equal sklearn's on every row."""
    X, rows = LARGE_GRIDS[n], GRID_QUERIES
    labels, targets = LARGE_RNG.integers(0, 3, size=n), LARGE_RNG.normal(size=n)
    with threadpool_limits(1):
        for k in (1, 5, 8):
            model = KNeighborsClassifier(k, algorithm=algorithm).fit(X, labels)
            assert neighbors._heap_applies(model, neighbors.metric_of(model, "euclidean", {}, algorithm), n)
            expected_dist, expected_index = model.kneighbors(rows)
            dist, index = _graph_kneighbors(model, rows)
            np.testing.assert_array_equal(dist, expected_dist)
            got_sets = [set(row) for row in index.tolist()]
            assert got_sets == [set(row) for row in expected_index.tolist()]
            if k > 1 and algorithm != "brute":  # index order mostly keeps the lowest indices on this data
                assert got_sets != _lowest_index(model, rows)  # the data does exercise the rule
            for weights in ("uniform", "distance") if k == 5 else ("uniform",):
                for fitted in (
                    KNeighborsClassifier(k, weights=weights, algorithm=algorithm).fit(X, labels),
                    KNeighborsRegressor(k, weights=weights, algorithm=algorithm).fit(X, targets),
                ):
                    compiled = sk2tensor.convert(fitted, rows, dtype="float64")
                    assert compiled.validation.passed, compiled.validation.summary()
                    assert_matches_sklearn(fitted, compiled, rows, "float64")


def test_distance_weights_with_exact_matches() -> None:
    """Queries equal to training rows (zero distances, several training rows per cell with different targets):
    weight 1 for the exact matches and 0 for the others; exact in brute force too on integer data, where
    |x|^2 - 2 x.y + |y|^2 is exact. (float32 rows on a brute-force model take sklearn's argpartition among
    tied rows; a tree casts them to float64 and keeps its walk.)"""
    rows = GRID[:60]
    cases = [
        (KNeighborsClassifier(6, weights="distance", algorithm="brute").fit(GRID, GRID_LABELS), ("float64",)),
        (KNeighborsRegressor(6, weights="distance", algorithm="brute").fit(GRID, GRID_TARGETS), ("float64",)),
    ]
    for algorithm in TREES:
        cases += [
            (KNeighborsClassifier(6, weights="distance", algorithm=algorithm).fit(GRID, GRID_LABELS), DTYPES),
            (KNeighborsRegressor(6, weights="distance", algorithm=algorithm).fit(GRID, GRID_TARGETS), DTYPES),
        ]
    for algorithm in ("brute", "kd_tree", "ball_tree"):
        cases += [
            (RadiusNeighborsClassifier(1.0, weights="distance", algorithm=algorithm).fit(GRID, GRID_LABELS), DTYPES),
            (RadiusNeighborsRegressor(1.0, weights="distance", algorithm=algorithm).fit(GRID, GRID_TARGETS), DTYPES),
        ]
    for model, dtypes in cases:
        for dtype in dtypes:
            compiled = sk2tensor.convert(model, rows, dtype=dtype)
            assert compiled.validation.passed, compiled.validation.summary()
            assert_matches_sklearn(model, compiled, rows.astype(dtype), dtype)


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree"])
@pytest.mark.parametrize("radius", [1.0, np.sqrt(2.0), 3.0])
def test_radius_boundary_is_inclusive(algorithm: str, radius: float) -> None:
    """Training rows exactly at the radius are neighbours (``<=`` on reduced distances), as in every sklearn
    path: float32 rows take sklearn's fallback path, float64 rows its reductions (RadiusNeighborsClassMode for
    uniform weights and metrics other than euclidean, with its own outlier probabilities). With distance
    weights, classes whose votes are equal in exact arithmetic are decided by the summation order, so labels
    are compared up to such near ties there (the validator's rule)."""
    rows = GRID_QUERIES[100:260]
    for weights in ("uniform", "distance"):
        for metric in ("euclidean", "manhattan", "chebyshev"):
            kw = {"weights": weights, "algorithm": algorithm, "metric": metric}
            for model in (
                RadiusNeighborsClassifier(radius, outlier_label="most_frequent", **kw).fit(GRID, GRID_LABELS),
                RadiusNeighborsClassifier(radius, outlier_label=1, **kw).fit(GRID, GRID_LABELS),
                RadiusNeighborsRegressor(radius, **kw).fit(GRID, GRID_TARGETS),
            ):
                for dtype in DTYPES:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)  # rows without neighbours
                        compiled = sk2tensor.convert(model, rows, dtype=dtype)
                        assert compiled.validation.passed, compiled.validation.summary()
                        if weights == "uniform" or isinstance(model, RadiusNeighborsRegressor):
                            assert_matches_sklearn(model, compiled, rows.astype(dtype), dtype)
                        else:
                            np.testing.assert_allclose(
                                compiled.predict_proba(rows.astype(dtype)),
                                model.predict_proba(rows.astype(dtype)),
                                rtol=0,
                                atol=PROBABILITY_ATOL[dtype],
                            )


def test_radius_class_mode_outlier_probabilities() -> None:
    """sklearn's RadiusNeighborsClassMode (uniform weights, brute force, manhattan, float64 rows) gives an
    outlier row probability 1 for the class whose *index* equals outlier_label (before 1.9: whose label cast to
    an integer does), all zeros otherwise; its other path (float32 rows) the class equal to it. predict is the
    outlier label either way."""
    labels = np.array([-7, 3, 40])[GRID_LABELS]
    far = np.array([[20.0, 20.0, 20.0], [-9.0, 0.0, 0.0]])
    cases = (
        (3, [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]),  # index 3 does not exist; label 3 is class 1
        (1, [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]),  # index 1 is class 1 (label 3); label 1 is no class
        ("most_frequent", [0.0, 0.0, 0.0], None),
    )
    if sklearn_before(1, 9):  # the reduction looked the parameter up among the labels cast to integers
        cases = ((3, [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]), (1, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]), cases[2])
    for outlier_label, row_64, row_32 in cases:
        model = RadiusNeighborsClassifier(1.0, metric="manhattan", algorithm="brute", outlier_label=outlier_label)
        model.fit(GRID, labels)
        for dtype, expected in (("float64", row_64), ("float32", row_32)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                compiled = sk2tensor.convert(model, np.concatenate([GRID_QUERIES, far]), dtype=dtype)
                reference = model.predict_proba(far.astype(dtype))
            assert compiled.validation.passed, compiled.validation.summary()
            np.testing.assert_array_equal(compiled.predict_proba(far.astype(dtype)), reference)
            if expected is not None:
                np.testing.assert_array_equal(reference, [expected, expected])
            np.testing.assert_array_equal(compiled.predict(far.astype(dtype)), model.predict(far.astype(dtype)))
