"""Linear models: one Gemm (or MatMul for a single target) plus the link function."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, class_output, converter, unsupported


def linear_scores(graph: GraphBuilder, x: Var, coef: np.ndarray, intercept: np.ndarray | float) -> Var:
    """``x @ coef.T + intercept``: shape ``[batch]`` for a 1-D ``coef``, ``[batch, k]`` for a 2-D one."""
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if coef.ndim == 1:
        scores = graph.matmul(x, graph.const(coef, "coef"))
        return graph.add(scores, graph.const(intercept.reshape(()), "intercept"))
    intercept = np.broadcast_to(intercept, coef.shape[:1])
    return graph.gemm(x, graph.const(coef, "coef"), graph.const(intercept, "intercept"), trans_b=True)


@converter(LinearRegression, Ridge)
def convert_linear_regressor(
    graph: GraphBuilder, estimator: LinearRegression | Ridge, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``predict`` of a least-squares regressor, one or several targets."""
    return {"predict": linear_scores(graph, x, estimator.coef_, estimator.intercept_)}


@converter(LogisticRegression)
def convert_logistic_regression(
    graph: GraphBuilder, estimator: LogisticRegression, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """Binary (sigmoid) and multiclass (softmax, or one-vs-rest where fitted so) logistic regression."""
    classes = estimator.classes_
    coef, intercept = estimator.coef_, estimator.intercept_
    if len(classes) == 2:
        # Scores for [class 0, class 1] are [-d, d]: sigmoid gives [1 - p, p] and ArgMax sends d == 0 to
        # class 0, as sklearn's `d > 0` does.
        both = graph.gemm(
            x,
            graph.const(np.vstack([-coef, coef]), "coef"),
            graph.const(np.concatenate([-intercept, intercept]), "intercept"),
            trans_b=True,
        )
        decision = graph.gather(both, graph.const(np.int64(1), "one", dtype=np.int64), axis=1)
        return {
            "predict": class_output(graph, classes, graph.argmax(both, axis=1)),
            "predict_proba": graph.sigmoid(both),
            "decision_function": decision,
        }
    decision = linear_scores(graph, x, coef, intercept)
    multi_class = getattr(estimator, "multi_class", "auto")
    if multi_class == "ovr" or (multi_class in ("auto", "deprecated") and estimator.solver == "liblinear"):
        # Older sklearn fitted one-vs-rest here: per-class sigmoid, normalised to sum to one.
        ovr = graph.sigmoid(decision)
        proba = graph.div(ovr, graph.reduce_sum(ovr, [1], keepdims=True))
    elif multi_class in ("auto", "deprecated", "multinomial"):
        proba = graph.softmax(decision, axis=1)
    else:
        raise unsupported(estimator, "multi_class", multi_class, "use 'auto', 'multinomial' or 'ovr'")
    return {
        "predict": class_output(graph, classes, graph.argmax(decision, axis=1)),
        "predict_proba": proba,
        "decision_function": decision,
    }
