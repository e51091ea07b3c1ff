"""Edge cases and refusals of the threshold classifiers, FrozenEstimator, the dummy estimators,
OutputCodeClassifier, the semi-supervised models, TfidfTransformer and BernoulliRBM."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.multiclass import OutputCodeClassifier, _ConstantPredictor
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelPropagation, LabelSpreading, SelfTrainingClassifier
from sklearn.tree import DecisionTreeClassifier

import sk2tensor
from sk2tensor.errors import NotFittedError, UnsupportedParameterError
from tests.cases import dataset
from tests.test_conformance import assert_matches_sklearn

DTYPES = ["float32", "float64"]


def _check(estimator, X: np.ndarray, dtype: str) -> sk2tensor.CompiledModel:
    compiled = sk2tensor.convert(estimator, X, dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    assert_matches_sklearn(estimator, compiled, X.astype(dtype), dtype)
    return compiled


def _binary(labels: tuple) -> tuple[np.ndarray, np.ndarray]:
    data = dataset("breast_cancer")
    return data.X, np.array(labels, dtype=object if isinstance(labels[0], str) else None)[data.y]


# ----------------------------------------------------------------------------- threshold classifiers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_label", [None, 0])
def test_threshold_on_a_score_counts_as_positive(dtype: str, pos_label) -> None:
    """sklearn predicts the positive class where ``score >= threshold``: a threshold equal to a tree's leaf
    probability (exact in both dtypes) puts the rows of that leaf on the positive side, and the next float64
    above it on the negative side."""
    data = dataset("breast_cancer")
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(data.X, data.y)
    column = 1 if pos_label is None else 0
    scores = tree.predict_proba(data.X)[:, column]
    tied = float(next(s for s in np.unique(scores) if 0.0 < s < 1.0))
    positive = tree.classes_[column]
    for threshold, expected_at_tie in ((tied, positive), (np.nextafter(tied, 2.0), tree.classes_[1 - column])):
        estimator = FixedThresholdClassifier(FrozenEstimator(tree), threshold=threshold, pos_label=pos_label)
        estimator.fit(data.X, data.y)
        compiled = _check(estimator, data.X, dtype)
        at_tie = scores == tied
        assert at_tie.sum() > 0
        assert (compiled.predict(data.X.astype(dtype))[at_tie] == expected_at_tie).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels, pos_label", [(("no", "yes"), "no"), (("no", "yes"), None), ((7, -3), -3)])
@pytest.mark.parametrize("response_method", ["predict_proba", "decision_function"])
def test_threshold_labels_and_pos_label(dtype: str, labels: tuple, pos_label, response_method: str) -> None:
    X, y = _binary(labels)
    estimator = FixedThresholdClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        threshold=0.2 if response_method == "predict_proba" else -1.0,
        pos_label=pos_label,
        response_method=response_method,
    ).fit(X, y)
    _check(estimator, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tuned_threshold_uses_the_scorer_pos_label(dtype: str) -> None:
    X, y = _binary(("no", "yes"))
    estimator = TunedThresholdClassifierCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        scoring=make_scorer(f1_score, pos_label="no"),
    ).fit(X, y)
    assert estimator._curve_scorer._get_pos_label() == "no"
    _check(estimator, X, dtype)


def test_threshold_auto_with_decision_function_only() -> None:
    from sklearn.svm import LinearSVC

    data = dataset("random_binary")
    estimator = FixedThresholdClassifier(make_pipeline(StandardScaler(), LinearSVC(random_state=0))).fit(data.X, data.y)
    compiled = _check(estimator, data.X, "float64")
    assert "predict_proba" not in compiled.outputs and "decision_function" in compiled.outputs


def test_threshold_classifier_around_a_prefit_estimator_needs_fit() -> None:
    """sklearn predicts with an unfitted FixedThresholdClassifier whose estimator is fitted; the export asks for
    ``fit`` (a FrozenEstimator keeps the estimator as it is)."""
    data = dataset("breast_cancer")
    inner = LogisticRegression(max_iter=5000).fit(data.X, data.y)
    with pytest.raises(NotFittedError, match="call 'fit'"):
        sk2tensor.convert(FixedThresholdClassifier(inner, threshold=0.3), data.X)
    _check(FixedThresholdClassifier(FrozenEstimator(inner), threshold=0.3).fit(data.X, data.y), data.X, "float64")


# ----------------------------------------------------------------------------- FrozenEstimator
def test_frozen_step_in_a_pipeline() -> None:
    data = dataset("wine")
    scaler = StandardScaler().fit(data.X[:100])
    estimator = Pipeline([("scale", FrozenEstimator(scaler)), ("lr", LogisticRegression(max_iter=2000))])
    estimator.fit(data.X, data.y)
    _check(estimator, data.X, "float32")


# ----------------------------------------------------------------------------- dummy estimators
@pytest.mark.parametrize("strategy", ["stratified", "uniform"])
def test_random_dummy_strategies_are_refused(strategy: str) -> None:
    data = dataset("iris")
    estimator = DummyClassifier(strategy=strategy, random_state=0).fit(data.X, data.y)
    with pytest.raises(UnsupportedParameterError, match="random labels"):
        sk2tensor.convert(estimator, data.X)


@pytest.mark.parametrize("strategy", ["prior", "most_frequent", "constant"])
def test_dummy_string_labels_keep_sklearns_dtype(strategy: str) -> None:
    """sklearn returns a fixed-width str array where classes_ is an object array; the compiled model gives the
    labels in sklearn's dtype (kept in the metadata)."""
    data = dataset("string_labels")
    estimator = DummyClassifier(strategy=strategy, constant="virginica").fit(data.X, data.y)
    expected = estimator.predict(data.X)
    assert expected.dtype.kind == "U"
    got = sk2tensor.convert(estimator, data.X).predict(data.X)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_dummy_constant_of_another_dtype_than_the_classes_is_refused() -> None:
    data = dataset("iris")
    estimator = DummyClassifier(strategy="constant", constant=1).fit(data.X, data.y.astype(float))
    assert estimator.predict(data.X[:1]).dtype == np.int64
    with pytest.raises(UnsupportedParameterError, match="int64"):
        sk2tensor.convert(estimator, data.X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dummy_float_labels(dtype: str) -> None:
    data = dataset("iris")
    y = np.array([0.5, 1.5, -2.25])[data.y]
    _check(DummyClassifier(strategy="constant", constant=[1.5]).fit(data.X, y), data.X, dtype)
    _check(DummyClassifier().fit(data.X, y), data.X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("strategy", ["prior", "most_frequent", "constant"])
def test_dummy_multi_output_integer_labels(dtype: str, ragged: bool, strategy: str) -> None:
    data = dataset("iris")
    second = (data.y == 2).astype(np.int64) * 5 if ragged else data.y * 10 - 4
    Y = np.c_[data.y, second]
    constant = [2, int(second[-1])]
    estimator = DummyClassifier(strategy=strategy, constant=constant).fit(data.X, Y)
    compiled = _check(estimator, data.X, dtype)
    assert compiled.outputs == ("predict",)  # predict_proba is a list of arrays in sklearn


def test_dummy_multi_output_string_labels_are_refused() -> None:
    data = dataset("string_labels")
    estimator = DummyClassifier().fit(data.X, np.c_[data.y, data.y])
    with pytest.raises(UnsupportedParameterError, match="numeric labels"):
        sk2tensor.convert(estimator, data.X)


def test_dummy_sparse_target_is_refused() -> None:
    data = dataset("iris")
    estimator = DummyClassifier().fit(data.X, sparse.csc_matrix(np.c_[data.y == 1, data.y == 2].astype(int)))
    with pytest.raises(UnsupportedParameterError, match="dense target"):
        sk2tensor.convert(estimator, data.X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dummy_regressor_shapes(dtype: str) -> None:
    data = dataset("diabetes")
    for y in (data.y, data.y[:, None]):  # one target, as a vector and as a column: sklearn returns a vector
        compiled = _check(DummyRegressor(strategy="median").fit(data.X, y), data.X, dtype)
        assert compiled.predict(data.X[:4].astype(dtype)).shape == (4,)
    integer = DummyRegressor(strategy="constant", constant=7).fit(data.X, data.y)
    assert integer.predict(data.X[:1]).dtype == np.int64
    _check(integer, data.X, dtype)


# ----------------------------------------------------------------------------- OutputCodeClassifier
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_code_equal_code_words_pick_the_first(dtype: str) -> None:
    data = dataset("iris")
    estimator = OutputCodeClassifier(LogisticRegression(max_iter=2000), code_size=2, random_state=0).fit(data.X, data.y)
    tied = copy.deepcopy(estimator)
    tied.code_book_ = estimator.code_book_.copy()
    tied.code_book_[2] = tied.code_book_[1]  # classes 1 and 2 now have the same code word
    assert 2 not in tied.predict(data.X)
    _check(tied, data.X, dtype)


def test_output_code_with_constant_predictors() -> None:
    data = dataset("iris")
    for seed in range(50):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            estimator = OutputCodeClassifier(LogisticRegression(max_iter=2000), code_size=1, random_state=seed)
            estimator.fit(data.X, data.y)
        if any(isinstance(e, _ConstantPredictor) for e in estimator.estimators_):
            break
    else:
        pytest.fail("no code book with a constant column")
    _check(estimator, data.X, "float64")


# ----------------------------------------------------------------------------- semi-supervised
def _partly_labelled(name: str, share: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    data = dataset(name)
    y = data.y.astype(object) if data.y.dtype == object else data.y.copy()
    y[np.random.default_rng(0).random(len(y)) < share] = -1
    return data.X, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["iris", "string_labels", "breast_cancer"])
def test_self_training_with_unlabelled_rows(dtype: str, name: str) -> None:
    X, y = _partly_labelled(name)
    estimator = SelfTrainingClassifier(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)))
    _check(estimator.fit(X, y), X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model", [LabelPropagation, LabelSpreading])
@pytest.mark.parametrize("kernel", ["rbf", "knn"])
def test_label_propagation_with_unlabelled_rows(dtype: str, model, kernel: str) -> None:
    X, y = _partly_labelled("wine")
    estimator = make_pipeline(StandardScaler(), model(kernel=kernel, gamma=0.3, n_neighbors=6, max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence
        estimator.fit(X, y)
    _check(estimator, X, dtype)


@pytest.mark.parametrize("model", [LabelPropagation, LabelSpreading])
def test_label_propagation_knn_ties(model) -> None:
    """Rows on an integer grid: many training rows at equal distances, ties at the k-th neighbour included."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(300, 3)).astype(np.float64)
    y = (X.sum(axis=1) > 4).astype(int)
    y[rng.random(300) < 0.5] = -1
    estimator = model(kernel="knn", n_neighbors=7).fit(X, y)
    queries = np.vstack([X, rng.integers(0, 4, size=(200, 3)) + 0.5 * rng.integers(0, 2, size=(200, 3))])
    _check(estimator, queries, "float64")


def test_label_propagation_callable_kernel_is_refused() -> None:
    data = dataset("iris")

    def kernel(a, b):
        return np.exp(-np.square(a[:, None, :] - b[None, :, :]).sum(axis=2))

    estimator = LabelPropagation(kernel=kernel).fit(data.X, data.y)
    with pytest.raises(UnsupportedParameterError, match="'rbf' or 'knn'"):
        sk2tensor.convert(estimator, data.X)


# ----------------------------------------------------------------------------- TfidfTransformer
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", ["l1", "l2", None])
def test_tfidf_sparse_counts_and_empty_rows(dtype: str, norm) -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, size=(200, 40)).astype(np.float64)
    counts[:5] = 0.0  # documents without any term stay zero
    estimator = TfidfTransformer(norm=norm, sublinear_tf=True).fit(sparse.csr_matrix(counts))
    compiled = sk2tensor.convert(estimator, sparse.csr_matrix(counts), dtype=dtype)
    assert compiled.validation.passed, compiled.validation.summary()
    got = compiled.transform(counts.astype(dtype))
    expected = estimator.transform(sparse.csr_matrix(counts.astype(dtype))).toarray()
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 if dtype == "float32" else 1e-12)
    assert not got[:5].any()


def test_tfidf_unsmoothed_idf_of_an_unseen_term() -> None:
    """smooth_idf=False gives an infinite idf_ to a term no training row holds: zeros stay zero."""
    counts = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [3.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divide by zero in idf
        estimator = TfidfTransformer(smooth_idf=False).fit(counts)
    assert np.isinf(estimator.idf_[1])
    _check(estimator, counts, "float64")


# ----------------------------------------------------------------------------- BernoulliRBM
def test_bernoulli_rbm_exports_transform_only() -> None:
    """score_samples flips a random feature per row: it is not exported."""
    data = dataset("digits")
    estimator = BernoulliRBM(n_components=10, n_iter=2, random_state=0).fit(data.X / 16.0)
    compiled = _check(estimator, data.X / 16.0, "float64")
    assert compiled.outputs == ("transform",)
