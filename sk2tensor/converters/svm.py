"""Kernel support vector machines (libsvm): SVC, NuSVC, SVR, NuSVR and OneClassSVM.

Everything is computed in float64, as libsvm does (sklearn hands it float64 rows): a kernel row
``K [batch, n_SV]`` (linear, poly, rbf or sigmoid, each as libsvm writes it), then one MatMul with a
``[n_SV, n_pairs]`` table holding each one-vs-one classifier's dual coefficients, plus the intercepts.

* ``predict`` of a classifier is libsvm's vote: the pair ``(i, j)`` votes for ``i`` when its decision value is
  ``> 0``, else for ``j``; the class with most votes wins, the lowest index on ties (counts are exact small
  integers in float64).
* ``decision_function`` is the one-vs-one values, or sklearn's ``_ovr_decision_function`` of them (votes plus
  ``sum / (3 (|sum| + 1))`` of the signed confidences), and ``-value`` in the binary case, as sklearn flips it.
* ``predict_proba`` (``probability=True``) is libsvm's: Platt sigmoids of the pairwise values, clipped to
  ``[1e-7, 1 - 1e-7]``, then the iterative pairwise coupling of Wu, Lin and Weng (libsvm's
  ``multiclass_probability``, used for two classes too). The iteration stops per row once its error is below
  ``0.005 / k``, so the result is that iterate, not the exact fixed point: the graph runs the same iteration in
  an ONNX ``Loop`` (at most ``max(100, k)`` trips, ending when every row has stopped; a row that has stopped
  keeps its value), which reproduces libsvm's numbers to rounding.

Precision: the rbf kernel uses ``|x - c|^2 + |sv - c|^2 - 2 (x - c).(sv - c)`` (``c`` the support vectors'
mean, the result clamped at zero) where libsvm sums ``(x - sv)^2``: in float64 the two differ by about
``1e-16 * (|x - c|^2 + |sv - c|^2)``. Decision values are sums of ``n_SV`` terms ``coef * K`` and their
summation order differs from libsvm's, which moves them by about ``1e-16 * sum |coef * K|``. That is far inside
the float32 validator (1e-6) and usually inside the float64 one (1e-12 on probabilities), but badly
conditioned models (nu-SVC or linear/poly kernels on unscaled data, whose dual coefficients reach 1e3 and
whose terms cancel) can land around 1e-11 in float64: tests/test_svm.py shows such a case.

Memory: the graph holds the support vectors and computes ``[batch, n_SV]`` float64 kernel rows; the rows of
one run are bounded as for the neighbour search (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`,
metadata ``max_chunk_rows``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.svm import SVC, SVR, NuSVC, NuSVR, OneClassSVM

from sk2tensor.converters._pairwise import bound_kernel_memory
from sk2tensor.converters.linear_model import as_float64, sigmoid
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported

F64 = np.float64
KERNELS = ("linear", "poly", "rbf", "sigmoid")


def _const(graph: GraphBuilder, value, hint: str) -> Var:
    return graph.const(np.asarray(value, dtype=F64), hint, dtype=F64)


def _ones_like(graph: GraphBuilder, value: Var) -> Var:
    one = _const(graph, 1.0, "one")
    return graph.where(graph.is_nan(value), one, one)


def _powi(graph: GraphBuilder, base: Var, times: int) -> Var:
    """libsvm's ``powi``: exponentiation by squaring, the same products in the same order."""
    result = None
    tmp = base
    t = times
    while t > 0:
        if t % 2 == 1:
            result = tmp if result is None else graph.mul(result, tmp)
        t //= 2
        if t > 0:
            tmp = graph.mul(tmp, tmp)
    return _ones_like(graph, base) if result is None else result


def kernel_rows(graph: GraphBuilder, estimator, x: Var) -> Var:
    """``K(x, sv)`` for every support vector: ``[batch, n_SV]`` in float64."""
    kernel = estimator.kernel
    if callable(kernel) or kernel not in KERNELS:
        shown = "a callable" if callable(kernel) else kernel
        raise unsupported(estimator, "kernel", shown, f"supported kernels: {list(KERNELS)}")
    support = estimator.support_vectors_
    support = np.asarray(support.toarray() if sp.issparse(support) else support, dtype=F64)
    x64 = as_float64(graph, x)
    gamma = _const(graph, float(estimator._gamma), "gamma") if kernel != "linear" else None
    if kernel == "rbf":
        # Distances are translation invariant: centring on the support vectors' mean shrinks the norms whose
        # difference the expanded form takes, and with them its cancellation error.
        centre = support.mean(axis=0)
        support = support - centre
        xc = graph.sub(x64, _const(graph, centre, "support_mean"))
        dot = graph.matmul(xc, _const(graph, support.T, "support_vectors_T"))
        x2 = graph.reduce_sum(graph.mul(xc, xc), [1], keepdims=True)
        sv2 = _const(graph, np.sum(support * support, axis=1)[None, :], "support_norms")
        two = _const(graph, 2.0, "two")
        squared = graph.sub(graph.add(x2, sv2), graph.mul(two, dot))
        squared = graph.max(squared, _const(graph, 0.0, "zero"))
        return graph.exp(graph.neg(graph.mul(gamma, squared)))
    dot = graph.matmul(x64, _const(graph, support.T, "support_vectors_T"))
    if kernel == "linear":
        return dot
    inner = graph.add(graph.mul(gamma, dot), _const(graph, float(estimator.coef0), "coef0"))
    if kernel == "poly":
        return _powi(graph, inner, int(estimator.degree))
    return graph.unary("Tanh", inner)


def _bound_memory(estimator, context: ConversionContext) -> None:
    support = estimator.support_vectors_
    bound_kernel_memory(estimator, context, support, estimator.kernel, "support vectors")


def _pairs(k: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def ovo_decision(graph: GraphBuilder, estimator, x: Var) -> Var:
    """libsvm's one-vs-one decision values ``[batch, n_pairs]`` (``sum coef K - rho``), unflipped."""
    n_support = np.asarray(estimator._n_support)
    start = np.concatenate([[0], np.cumsum(n_support)])
    dual = estimator._dual_coef_
    dual = np.asarray(dual.toarray() if sp.issparse(dual) else dual, dtype=F64)
    k = len(n_support)
    pairs = _pairs(k)
    table = np.zeros((int(start[-1]), len(pairs)))
    for p, (i, j) in enumerate(pairs):
        table[start[i] : start[i + 1], p] = dual[j - 1, start[i] : start[i + 1]]
        table[start[j] : start[j + 1], p] = dual[i, start[j] : start[j + 1]]
    values = graph.matmul(kernel_rows(graph, estimator, x), _const(graph, table, "dual_coef"))
    return graph.add(values, _const(graph, np.asarray(estimator._intercept_, dtype=F64), "intercept"))


def _pair_matrices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot ``[n_pairs, k]`` matrices of each pair's first and second class."""
    pairs = _pairs(k)
    first, second = np.zeros((len(pairs), k)), np.zeros((len(pairs), k))
    for p, (i, j) in enumerate(pairs):
        first[p, i] = 1.0
        second[p, j] = 1.0
    return first, second


def _votes(graph: GraphBuilder, to_first: Var, k: int) -> Var:
    """Vote counts ``[batch, k]`` from a bool ``[batch, n_pairs]`` saying which pairs vote for their first class."""
    first, second = _pair_matrices(k)
    as_float = graph.cast(to_first, F64)
    rest = graph.sub(_const(graph, 1.0, "one"), as_float)
    return graph.add(
        graph.matmul(as_float, _const(graph, first, "first")), graph.matmul(rest, _const(graph, second, "second"))
    )


def ovr_decision(graph: GraphBuilder, ovo: Var, k: int) -> Var:
    """sklearn's ``_ovr_decision_function(dec < 0, -dec, k)``."""
    zero = _const(graph, 0.0, "zero")
    votes = _votes(graph, graph.logical_not(graph.less(ovo, zero)), k)
    first, second = _pair_matrices(k)
    confidences = graph.matmul(ovo, _const(graph, first - second, "signed_pairs"))
    one, three = _const(graph, 1.0, "one"), _const(graph, 3.0, "three")
    scaled = graph.div(confidences, graph.mul(three, graph.add(graph.abs(confidences), one)))
    return graph.add(votes, scaled)


def coupled_probabilities(graph: GraphBuilder, ovo: Var, prob_a: np.ndarray, prob_b: np.ndarray, k: int) -> Var:
    """libsvm's ``predict_probability``: Platt sigmoids, then ``multiclass_probability`` (see the module docstring)."""
    f = graph.add(graph.mul(ovo, _const(graph, prob_a, "probA")), _const(graph, prob_b, "probB"))
    pairwise = sigmoid(graph, graph.neg(f))  # libsvm's sigmoid_predict: 1 / (1 + exp(f))
    pairwise = graph.clip(pairwise, _const(graph, 1e-7, "min_prob"), _const(graph, 1 - 1e-7, "max_prob"))
    # r[i][j] = s_p and r[j][i] = 1 - s_p for the pair p = (i, j), laid out as [batch, k * k].
    pairs = _pairs(k)
    upper, lower = np.zeros((len(pairs), k * k)), np.zeros((len(pairs), k * k))
    for p, (i, j) in enumerate(pairs):
        upper[p, i * k + j] = 1.0
        lower[p, j * k + i] = 1.0
    complement = graph.sub(_const(graph, 1.0, "one"), pairwise)
    r = graph.add(
        graph.matmul(pairwise, _const(graph, upper, "upper")), graph.matmul(complement, _const(graph, lower, "lower"))
    )
    r = graph.reshape(r, [0, k, k])
    r_t = graph.transpose(r, [0, 2, 1])
    # Q[t][t] = sum_j r[j][t]^2, Q[t][j] = -r[j][t] r[t][j].
    diagonal = graph.reduce_sum(graph.mul(r, r), [1])  # [batch, k]
    eye = np.eye(k, dtype=bool)[None]
    q = graph.where(
        graph.const(eye, "eye", dtype=np.bool_),
        graph.unsqueeze(diagonal, [1]),
        graph.neg(graph.mul(r_t, r)),
    )
    start = graph.where(graph.is_nan(diagonal), _const(graph, 1.0 / k, "uniform"), _const(graph, 1.0 / k, "uniform"))
    eps = 0.005 / k

    def iterate(sub: GraphBuilder, p: Var) -> tuple[Var, list[Var]]:
        qp = sub.squeeze(sub.matmul(q, sub.unsqueeze(p, [2])), [2])  # [batch, k]
        pqp = sub.reduce_sum(sub.mul(p, qp), [1], keepdims=True)  # [batch, 1]
        error = sub.reduce_max(sub.abs(sub.sub(qp, pqp)), [1], keepdims=True)
        active = sub.logical_not(sub.less(error, _const(sub, eps, "eps")))  # [batch, 1]
        one = _const(sub, 1.0, "one")
        new_p = p
        for t in range(k):
            index = sub.const(np.int64(t), "t", dtype=np.int64)
            index_1d = sub.int64s([t], "t1")
            q_tt = sub.gather(diagonal, index_1d, axis=1)  # [batch, 1]
            qp_t = sub.gather(qp, index_1d, axis=1)
            diff = sub.div(sub.sub(pqp, qp_t), q_tt)
            onehot = _const(sub, np.eye(k)[t][None, :], "onehot")
            new_p = sub.add(new_p, sub.mul(diff, onehot))
            scale = sub.add(one, diff)
            two = _const(sub, 2.0, "two")
            pqp = sub.div(
                sub.div(sub.add(pqp, sub.mul(diff, sub.add(sub.mul(diff, q_tt), sub.mul(two, qp_t)))), scale), scale
            )
            q_row = sub.gather(q, index, axis=1)  # [batch, k]
            qp = sub.div(sub.add(qp, sub.mul(diff, q_row)), scale)
            new_p = sub.div(new_p, scale)
        new_p = sub.where(active, new_p, p)
        any_active = sub.greater(
            sub.reduce_sum(sub.cast(active, np.int64), [0, 1]), sub.const(np.int64(0), "zero_count", dtype=np.int64)
        )
        return any_active, [new_p]

    (p,) = graph.loop(max(100, k), [start], [2], iterate, hint="coupling")
    return p


@converter(SVC, NuSVC)
def convert_svc(graph: GraphBuilder, estimator: SVC | NuSVC, x: Var, context: ConversionContext) -> dict[str, Var]:
    """SVC and NuSVC: libsvm votes, one-vs-one or one-vs-rest decision values, pairwise-coupled probabilities."""
    _bound_memory(estimator, context)
    classes = np.asarray(estimator.classes_)
    k = len(classes)
    ovo = ovo_decision(graph, estimator, x)
    zero = _const(graph, 0.0, "zero")
    if k == 2:
        decision = graph.neg(graph.squeeze(ovo, [1]))
        index = graph.cast(graph.logical_not(graph.greater(graph.squeeze(ovo, [1]), zero)), np.int64)
    else:
        ovr = ovr_decision(graph, ovo, k) if estimator.decision_function_shape == "ovr" else None
        decision = ovr if ovr is not None else ovo
        if estimator.break_ties and ovr is not None:
            index = graph.argmax(ovr, axis=1)
        else:
            index = graph.argmax(_votes(graph, graph.greater(ovo, zero), k), axis=1)
    outputs = {"predict": class_output(graph, classes, index), "decision_function": decision}
    prob_a, prob_b = np.asarray(estimator._probA, dtype=F64), np.asarray(estimator._probB, dtype=F64)
    if prob_a.size and prob_b.size:
        outputs["predict_proba"] = coupled_probabilities(graph, ovo, prob_a, prob_b, k)
    return outputs


def _single_decision(graph: GraphBuilder, estimator, x: Var) -> Var:
    """``K @ dual_coef_[0] + intercept_`` ``[batch]`` (regression and one-class)."""
    dual = estimator._dual_coef_
    dual = np.asarray(dual.toarray() if sp.issparse(dual) else dual, dtype=F64)
    values = graph.matmul(kernel_rows(graph, estimator, x), _const(graph, dual[0], "dual_coef"))
    return graph.add(values, _const(graph, float(np.asarray(estimator._intercept_).reshape(-1)[0]), "intercept"))


@converter(SVR, NuSVR)
def convert_svr(graph: GraphBuilder, estimator: SVR | NuSVR, x: Var, context: ConversionContext) -> dict[str, Var]:
    """SVR and NuSVR: ``predict`` is the kernel expansion plus the intercept."""
    _bound_memory(estimator, context)
    return {"predict": _single_decision(graph, estimator, x)}


@converter(OneClassSVM)
def convert_one_class_svm(
    graph: GraphBuilder, estimator: OneClassSVM, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """OneClassSVM: decision values, ``score_samples = decision + offset_`` and ``predict`` in {-1, 1}."""
    _bound_memory(estimator, context)
    decision = _single_decision(graph, estimator, x)
    inlier = graph.greater(decision, _const(graph, 0.0, "zero"))
    label = graph.where(
        inlier, graph.const(np.int64(1), "inlier", dtype=np.int64), graph.const(np.int64(-1), "outlier", dtype=np.int64)
    )
    offset = float(np.asarray(estimator.offset_).reshape(-1)[0])
    return {
        "predict": label,
        "decision_function": decision,
        "score_samples": graph.add(decision, _const(graph, offset, "offset")),
    }
