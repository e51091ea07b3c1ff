"""Linear and quadratic discriminant analysis, computed in float64 as the linear models are (see linear_model)."""

from __future__ import annotations

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis

from sk2tensor.converters.linear_model import as_float64, decision_scores, label_index, sigmoid, two_columns
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported

F64 = np.float64


@converter(LinearDiscriminantAnalysis)
def convert_lda(
    graph: GraphBuilder, estimator: LinearDiscriminantAnalysis, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """LDA: linear decision scores (LinearClassifierMixin), sigmoid or softmax probabilities, and ``transform``
    (``(x - xbar_) @ scalings_`` for the svd solver, ``x @ scalings_`` for eigen; lsqr has none)."""
    classes = np.asarray(estimator.classes_)
    x64 = as_float64(graph, x)
    coef = np.asarray(estimator.coef_, dtype=F64)
    binary = coef.shape[0] == 1
    decision = decision_scores(graph, x64, coef, estimator.intercept_)
    outputs = {
        "predict": class_output(graph, classes, label_index(graph, decision, binary)),
        "decision_function": decision,
        "predict_proba": two_columns(graph, sigmoid(graph, decision)) if binary else graph.softmax(decision, axis=1),
    }
    if estimator.solver in ("svd", "eigen"):
        scalings = np.asarray(estimator.scalings_, dtype=F64)[:, : estimator._max_components]
        centred = x64
        if estimator.solver == "svd":
            centred = graph.sub(x64, graph.const(np.asarray(estimator.xbar_, dtype=F64), "xbar", dtype=F64))
        outputs["transform"] = graph.matmul(centred, graph.const(scalings, "scalings", dtype=F64))
    elif estimator.solver != "lsqr":
        raise unsupported(estimator, "solver", estimator.solver, "use 'svd', 'lsqr' or 'eigen'")
    return outputs


@converter(QuadraticDiscriminantAnalysis)
def convert_qda(
    graph: GraphBuilder, estimator: QuadraticDiscriminantAnalysis, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """QDA: per class ``-0.5 (|(x - mean_k) @ R_k S_k^-1/2|^2 + sum log S_k) + log prior_k``.

    The centred rows ``[classes, batch, features]`` go through one batched MatMul with the per-class
    whitening matrices, zero-padded to a common width (zero columns add nothing to the squared norm).
    """
    classes = np.asarray(estimator.classes_)
    means = np.asarray(estimator.means_, dtype=F64)
    whitening = [
        np.asarray(r, dtype=F64) * np.asarray(s, dtype=F64) ** -0.5
        for r, s in zip(estimator.rotations_, estimator.scalings_, strict=True)
    ]
    width = max(w.shape[1] for w in whitening)
    stacked = np.zeros((len(classes), means.shape[1], width))
    for k, w in enumerate(whitening):
        stacked[k, :, : w.shape[1]] = w
    x64 = as_float64(graph, x)
    centred = graph.sub(graph.unsqueeze(x64, [0]), graph.const(means[:, None, :], "means", dtype=F64))
    projected = graph.matmul(centred, graph.const(stacked, "whitening", dtype=F64))  # [classes, batch, width]
    norm2 = graph.transpose(graph.reduce_sum(graph.mul(projected, projected), [2]), [1, 0])  # [batch, classes]
    u = np.array([np.sum(np.log(s)) for s in estimator.scalings_])
    minus_half = graph.const(-0.5, "minus_half", dtype=F64)
    scores = graph.add(
        graph.mul(graph.add(norm2, graph.const(u, "log_det", dtype=F64)), minus_half),
        graph.const(np.log(np.asarray(estimator.priors_, dtype=F64)), "log_prior", dtype=F64),
    )
    if len(classes) == 2:
        decision = graph.sub(
            graph.gather(scores, graph.const(np.int64(1), "one", dtype=np.int64), axis=1),
            graph.gather(scores, graph.const(np.int64(0), "zero", dtype=np.int64), axis=1),
        )
    else:
        decision = scores
    return {
        "predict": class_output(graph, classes, graph.argmax(scores, axis=1)),
        "predict_proba": graph.softmax(scores, axis=1),
        "decision_function": decision,
    }
