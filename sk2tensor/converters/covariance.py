"""Covariance-based outlier detection: EllipticEnvelope.

``score_samples`` is minus the squared Mahalanobis distance to the robust location, as sklearn computes it:
``pairwise_distances(X, location_, metric="mahalanobis", VI=precision)`` (scipy's ``cdist``, in float64 whatever
the input dtype: float32 rows are upcast because the location is float64), then squared. scipy forms
``d = x - location``, ``t = precision @ d`` and ``sqrt(d . t)``; the graph does the same in float64, the square
root and the square included, so the value rounds alike.

The plain covariance estimators (EmpiricalCovariance, MinCovDet, LedoitWolf, OAS, ShrunkCovariance,
GraphicalLasso, GraphicalLassoCV) have no prediction method (only ``mahalanobis`` and ``score``), so nothing is
registered for them.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.covariance import EllipticEnvelope

from sk2tensor.converters._pairwise import as_f64, f64
from sk2tensor.converters.neighbors import non_finite_rows, outlier_labels
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


def _precision(estimator: EllipticEnvelope) -> np.ndarray:
    """sklearn's ``get_precision()``: ``precision_``, or the pseudo-inverse of ``covariance_`` when the model
    was fitted with ``store_precision=False``."""
    if estimator.store_precision:
        return np.asarray(estimator.precision_, dtype=np.float64)
    return np.asarray(linalg.pinvh(estimator.covariance_, check_finite=False), dtype=np.float64)


@converter(EllipticEnvelope)
def convert_elliptic_envelope(
    graph: GraphBuilder, estimator: EllipticEnvelope, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``score_samples = -mahalanobis(x)``, ``decision_function = score_samples - offset_`` and ``predict``
    (int64: 1 where the decision is ``>= 0``, -1 elsewhere, as sklearn).

    Rows holding NaN or infinity, which sklearn refuses, give NaN scores and ``predict`` -1.
    """
    x64 = as_f64(graph, x)
    location = np.asarray(estimator.location_, dtype=np.float64)
    precision = _precision(estimator)
    diff = graph.sub(x64, f64(graph, location[None, :], "location"))
    # scipy's dimbuf2[i] = sum_j d[j] * VI[i, j]: d @ VI.T.
    product = graph.matmul(diff, f64(graph, precision.T, "precision_t"))
    squared = graph.reduce_sum(graph.mul(diff, product), [1])
    root = graph.sqrt(squared)
    scores = graph.neg(graph.mul(root, root))
    bad = non_finite_rows(graph, x64)
    scores = graph.where(bad, f64(graph, np.nan, "nan"), scores)
    decision = graph.sub(scores, f64(graph, float(estimator.offset_), "offset"))
    return {"predict": outlier_labels(graph, decision), "decision_function": decision, "score_samples": scores}
