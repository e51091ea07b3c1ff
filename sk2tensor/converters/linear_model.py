"""Linear models: one Gemm (or MatMul for a single target) plus the link function.

Regressors share one lowering (``x @ coef.T + intercept``, then the inverse link for generalised linear
models); classifiers share another (the same scores as ``decision_function``, sklearn's ``scores > 0`` or
argmax for labels, and the probability head each class defines).

Precision: sklearn multiplies float32 rows by float64 coefficients, so its scores are float64 sums. A float32
dot product errs by about ``eps32 * sum_j |x_j * w_j|``, and on unscaled features (breast_cancer's columns
reach 4e3) or large SGD weights that sum is 10-1000 times the score itself: decision values then miss the
validator's ``1e-6 * max|score|`` and probabilities its ``1e-6``. Linear models therefore cast the input to
float64 and compute in double (one cast, then the same Gemm); ``convert`` casts outputs back to the graph's
dtype.

Sparse rows (``convert(sparse_input=True)``): the scores are sklearn's ``X @ coef.T`` on a CSR matrix, each
stored value times its column's coefficients, added row by row in storage order from zero as scipy does, in
scipy's dtype (the common dtype of the rows and ``coef_``: float32 rows and a ``coef_`` fitted on float32 data
give float32 sums), then the intercept in numpy's dtype: bit for bit sklearn's scores, given to the heads in
float64.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    ElasticNetCV,
    GammaRegressor,
    HuberRegressor,
    Lars,
    LarsCV,
    Lasso,
    LassoCV,
    LassoLars,
    LassoLarsCV,
    LassoLarsIC,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    MultiTaskElasticNet,
    MultiTaskElasticNetCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    OrthogonalMatchingPursuit,
    OrthogonalMatchingPursuitCV,
    PassiveAggressiveClassifier,
    PassiveAggressiveRegressor,
    Perceptron,
    PoissonRegressor,
    QuantileRegressor,
    RANSACRegressor,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
    TheilSenRegressor,
    TweedieRegressor,
)
from sklearn.svm import LinearSVC, LinearSVR

from sk2tensor.graph import GraphBuilder, SparseRows, Var
from sk2tensor.registry import ConversionContext, class_output, converter, lower, unsupported

#: Regressors whose ``predict`` is ``x @ coef_.T + intercept_`` (one target or several).
LINEAR_REGRESSORS = (
    LinearRegression,
    Ridge,
    RidgeCV,
    Lasso,
    LassoCV,
    ElasticNet,
    ElasticNetCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    MultiTaskElasticNet,
    MultiTaskElasticNetCV,
    Lars,
    LarsCV,
    LassoLars,
    LassoLarsCV,
    LassoLarsIC,
    OrthogonalMatchingPursuit,
    OrthogonalMatchingPursuitCV,
    BayesianRidge,
    ARDRegression,
    HuberRegressor,
    QuantileRegressor,
    TheilSenRegressor,
    SGDRegressor,
    PassiveAggressiveRegressor,
    LinearSVR,
)
#: Classifiers whose ``decision_function`` is ``x @ coef_.T + intercept_`` (LinearClassifierMixin).
LINEAR_CLASSIFIERS = (
    LogisticRegression,
    LogisticRegressionCV,
    SGDClassifier,
    Perceptron,
    PassiveAggressiveClassifier,
    RidgeClassifier,
    RidgeClassifierCV,
    LinearSVC,
)


def as_float64(graph: GraphBuilder, x: Var | SparseRows) -> Var | SparseRows:
    """``x`` in float64 (no node when it already is): see the module docstring for why. Sparse rows keep their
    dtype: :func:`linear_scores` computes in scipy's."""
    if isinstance(x, SparseRows):
        return x
    return graph.cast(x, np.float64)


def linear_scores(graph: GraphBuilder, x: Var | SparseRows, coef: np.ndarray, intercept: np.ndarray | float) -> Var:
    """``x @ coef.T + intercept`` in the dtype of ``x``: ``[batch]`` for a 1-D ``coef``, ``[batch, k]`` for 2-D.
    Sparse rows: in sklearn's dtypes (module docstring), returned in float64."""
    if isinstance(x, SparseRows):
        return _sparse_linear_scores(graph, x, np.asarray(coef), np.asarray(intercept))
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if coef.ndim == 1:
        scores = graph.matmul(x, graph.const(coef, "coef", dtype=x.dtype))
        return graph.add(scores, graph.const(intercept.reshape(()), "intercept", dtype=x.dtype))
    intercept = np.broadcast_to(intercept, coef.shape[:1])
    return graph.gemm(
        x, graph.const(coef, "coef", dtype=x.dtype), graph.const(intercept, "intercept", dtype=x.dtype), trans_b=True
    )


def sparse_product(graph: GraphBuilder, x: SparseRows, coef: np.ndarray) -> Var:
    """scipy's ``X @ coef.T`` for CSR rows: in the common dtype of the values and a floating ``coef`` (float64
    otherwise), ``[batch]`` for a 1-D ``coef``."""
    dtype = np.result_type(x.values.dtype, coef.dtype) if coef.dtype.kind == "f" else np.dtype(np.float64)
    return graph.sparse_matmul(x, coef.T, dtype)


def _sparse_linear_scores(graph: GraphBuilder, x: SparseRows, coef: np.ndarray, intercept: np.ndarray) -> Var:
    """:func:`sparse_product` plus ``intercept`` in numpy's dtype for that sum, as float64."""
    scores = sparse_product(graph, x, coef)
    total = np.result_type(scores.dtype, intercept.dtype) if intercept.dtype.kind == "f" else scores.dtype
    intercept = intercept.reshape(()) if coef.ndim == 1 else np.broadcast_to(intercept, coef.shape[:1])
    scores = graph.add(graph.cast(scores, total), graph.const(intercept, "intercept", dtype=total))
    return graph.cast(scores, np.float64)


def decision_scores(graph: GraphBuilder, x: Var | SparseRows, coef: np.ndarray, intercept: np.ndarray | float) -> Var:
    """LinearClassifierMixin.decision_function: ``[batch]`` when ``coef`` has one row, else ``[batch, k]``."""
    coef = np.asarray(coef)  # its dtype is scipy's product dtype on sparse rows
    if coef.ndim == 2 and coef.shape[0] == 1:
        return linear_scores(graph, x, coef[0], np.asarray(intercept).reshape(-1)[0])
    return linear_scores(graph, x, coef, intercept)


def label_index(graph: GraphBuilder, scores: Var, binary: bool) -> Var:
    """LinearClassifierMixin.predict as a class index: ``scores > 0`` for 1-D scores, else the first argmax."""
    if binary:
        zero = graph.const(0.0, "zero", dtype=scores.dtype)
        return graph.cast(graph.greater(scores, zero), np.int64)
    return graph.argmax(scores, axis=1)


def sigmoid(graph: GraphBuilder, x: Var) -> Var:
    """``1 / (1 + exp(-x))`` to a few ulps for every ``x``: ``exp(min(x, 0)) / (1 + exp(-|x|))``.

    onnxruntime's double Sigmoid loses the relative precision of small results (sigmoid(-30) is off by 1e-3,
    sigmoid(-40) is 0), which one-vs-rest normalisation and libsvm's pairwise coupling would amplify.
    """
    zero = graph.const(0.0, "zero", dtype=x.dtype)
    one = graph.const(1.0, "one", dtype=x.dtype)
    numerator = graph.exp(graph.min(x, zero))
    return graph.div(numerator, graph.add(one, graph.exp(graph.neg(graph.abs(x)))))


def two_columns(graph: GraphBuilder, positive: Var) -> Var:
    """``[1 - p, p]`` as a ``[batch, 2]`` tensor from ``p [batch]``."""
    one = graph.const(1.0, "one", dtype=positive.dtype)
    column = graph.unsqueeze(positive, [1])
    return graph.concat([graph.sub(one, column), column], axis=1)


def ovr_sigmoid_proba(graph: GraphBuilder, scores: Var, binary: bool, n_classes: int) -> Var:
    """LinearClassifierMixin._predict_proba_lr: sigmoid, then ``[1 - p, p]`` or one-vs-rest normalisation.

    Formed in float64 (a no-op for float64 scores): in float32 every sigmoid of a very negative row
    underflows to zero, where sklearn's float64 ratios stay meaningful.
    """
    prob = sigmoid(graph, graph.cast(scores, np.float64))
    if binary:
        return two_columns(graph, prob)
    return normalise_rows(graph, prob, n_classes)


def normalise_rows(graph: GraphBuilder, prob: Var, n_classes: int) -> Var:
    """``prob / prob.sum(1)``, rows summing to zero becoming uniform (sklearn's all-zero work-around)."""
    total = graph.reduce_sum(prob, [1], keepdims=True)
    zero = graph.const(0.0, "zero", dtype=prob.dtype)
    uniform = graph.const(np.full((1, n_classes), 1.0 / n_classes), "uniform", dtype=prob.dtype)
    return graph.where(graph.equal(total, zero), uniform, graph.div(prob, total))


def modified_huber_proba(graph: GraphBuilder, scores: Var, binary: bool, n_classes: int) -> Var:
    """SGDClassifier(loss='modified_huber').predict_proba: ``(clip(d, -1, 1) + 1) / 2``, normalised."""
    one = graph.const(1.0, "one", dtype=scores.dtype)
    half = graph.const(0.5, "half", dtype=scores.dtype)
    prob = graph.mul(graph.add(graph.clip(scores, graph.neg(one), one), one), half)
    if binary:
        return two_columns(graph, prob)
    return normalise_rows(graph, prob, n_classes)


@converter(*LINEAR_REGRESSORS, sparse=True)
def convert_linear_regressor(
    graph: GraphBuilder, estimator: object, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """``predict`` of a linear regressor, one or several targets (the shape of ``coef_`` decides)."""
    coef = np.asarray(estimator.coef_)
    intercept = np.asarray(estimator.intercept_)
    if coef.ndim == 1:
        intercept = intercept.reshape(-1)
        if intercept.size != 1:
            raise unsupported(estimator, "intercept_.shape", intercept.shape, "one intercept for one coef_ row")
        intercept = intercept[0]
    return {"predict": linear_scores(graph, as_float64(graph, x), coef, intercept)}


_LINKS = {"IdentityLink": None, "LogLink": "exp"}


@converter(PoissonRegressor, GammaRegressor, TweedieRegressor, sparse=True)
def convert_glm(
    graph: GraphBuilder, estimator: object, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """Generalised linear models: the inverse link of ``x @ coef_ + intercept_``."""
    link = type(estimator._base_loss.link).__name__
    if link not in _LINKS:
        raise unsupported(estimator, "link", link, f"supported links: {sorted(_LINKS)}")
    raw = linear_scores(graph, as_float64(graph, x), estimator.coef_, float(estimator.intercept_))
    return {"predict": graph.exp(raw) if _LINKS[link] == "exp" else raw}


@converter(RANSACRegressor)
def convert_ransac(
    graph: GraphBuilder, estimator: RANSACRegressor, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """RANSACRegressor predicts with the estimator fitted on the inliers."""
    outputs = lower(graph, estimator.estimator_, x, context)
    if "predict" not in outputs:
        raise unsupported(estimator, "estimator_", type(estimator.estimator_).__name__, "a regressor with predict")
    return {"predict": outputs["predict"]}


@converter(*LINEAR_CLASSIFIERS, sparse=True)
def convert_linear_classifier(
    graph: GraphBuilder, estimator: object, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """Linear classifiers: decision scores, ``scores > 0`` or the first argmax, and their probability head."""
    classes = np.asarray(estimator.classes_)
    binarizer = getattr(estimator, "_label_binarizer", None)
    if binarizer is not None and str(binarizer.y_type_).startswith("multilabel"):
        raise unsupported(estimator, "y_type", binarizer.y_type_, "binary and multiclass targets are supported")
    coef = np.asarray(estimator.coef_)
    binary = coef.ndim == 1 or coef.shape[0] == 1
    decision = decision_scores(graph, as_float64(graph, x), coef, estimator.intercept_)
    index = label_index(graph, decision, binary)
    outputs = {"predict": class_output(graph, classes, index), "decision_function": decision}
    if isinstance(estimator, (LogisticRegression, LogisticRegressionCV)):
        if binary:
            outputs["predict_proba"] = ovr_sigmoid_proba(graph, decision, True, len(classes))
        else:
            outputs["predict_proba"] = graph.softmax(decision, axis=1)
    elif isinstance(estimator, SGDClassifier):
        if estimator.loss == "log_loss":
            outputs["predict_proba"] = ovr_sigmoid_proba(graph, decision, binary, len(classes))
        elif estimator.loss == "modified_huber":
            outputs["predict_proba"] = modified_huber_proba(graph, decision, binary, len(classes))
    return outputs


@converter(SGDOneClassSVM)
def convert_sgd_one_class_svm(
    graph: GraphBuilder, estimator: SGDOneClassSVM, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """SGDOneClassSVM: ``decision = x @ coef_ - offset_``, ``score_samples = decision + offset_``, and
    ``predict`` 1 where ``decision >= 0``, else -1."""
    offset = np.asarray(estimator.offset_, dtype=np.float64).reshape(-1)[0]
    x64 = as_float64(graph, x)
    decision = graph.sub(
        graph.matmul(x64, graph.const(np.ravel(estimator.coef_), "coef", dtype=np.float64)),
        graph.const(offset, "offset", dtype=np.float64),
    )
    inlier = graph.logical_not(graph.less(decision, graph.const(0.0, "zero", dtype=np.float64)))
    one, minus_one = (graph.const(np.int64(v), "label", dtype=np.int64) for v in (1, -1))
    return {
        "predict": graph.where(inlier, one, minus_one),
        "decision_function": decision,
        "score_samples": graph.add(decision, graph.const(offset, "offset", dtype=np.float64)),
    }
