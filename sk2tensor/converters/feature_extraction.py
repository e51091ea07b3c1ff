"""``sklearn.feature_extraction.text``: TfidfTransformer, from a matrix of (numeric) term counts to tf-idf.

sklearn works on the CSR form of its input: only the non-zero counts are transformed, in the input's dtype
(float32 stays float32). The graph computes dense, keeps zeros at zero, and follows sklearn's steps, each
computed in float64 and rounded to the input's dtype where sklearn stores it:

* ``sublinear_tf``: ``log(tf) + 1`` on the non-zero counts;
* ``use_idf``: times ``idf_`` of the column (zeros stay zero, also where ``idf_`` is infinite);
* ``norm``: each row divided by the sum of its absolute values (``"l1"``) or the square root of the sum of its
  squares (``"l2"``; each square in the input's dtype, summed in float64, as sklearn's Cython loop), rows whose
  sum is zero left as they are.

sklearn returns a sparse matrix; the export outputs its dense form. Sparse rows (``convert(sparse_input=True)``)
go through the same steps on their stored values only (explicit zeros included, as in sklearn) and stay sparse
for the next step.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer

from sk2tensor.converters._numeric import F64, stored
from sk2tensor.converters.preprocessing import sparse_column_scale, sparse_normalize
from sk2tensor.graph import GraphBuilder, SparseRows, Var
from sk2tensor.registry import ConversionContext, converter, unsupported


@converter(TfidfTransformer, sparse=True)
def convert_tfidf_transformer(
    graph: GraphBuilder, estimator: TfidfTransformer, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var | SparseRows]:
    """``transform``: the tf-idf of each row, dense, in the graph's dtype (sparse rows stay sparse)."""
    if estimator.norm not in ("l1", "l2", None):
        raise unsupported(estimator, "norm", estimator.norm, "use 'l1', 'l2' or None")
    if isinstance(x, SparseRows):
        return {"transform": _sparse_tfidf(graph, estimator, x)}
    zero = graph.const(0.0, "zero", dtype=F64)
    one = graph.const(1.0, "one", dtype=F64)
    tf = graph.cast(x, F64)
    nonzero = graph.logical_not(graph.equal(tf, zero))
    if estimator.sublinear_tf:
        logged = stored(graph, graph.log(graph.where(nonzero, tf, one)))
        tf = graph.where(nonzero, stored(graph, graph.add(logged, one)), zero)
    idf = getattr(estimator, "idf_", None)
    if idf is not None:
        # Only the non-zero counts are weighted: a zero stays zero even where idf_ is infinite (smooth_idf=False
        # and a term no training row holds).
        weighted = graph.mul(tf, graph.const(np.asarray(idf, dtype=F64).reshape(1, -1), "idf", dtype=F64))
        tf = graph.where(nonzero, stored(graph, weighted), zero)
    if estimator.norm is None:
        return {"transform": tf}
    if estimator.norm == "l1":
        total = graph.reduce_sum(graph.abs(tf), [1], keepdims=True)
    else:
        squares = stored(graph, graph.mul(tf, tf))
        total = graph.sqrt(graph.reduce_sum(squares, [1], keepdims=True))
    total = graph.where(graph.equal(total, zero), one, total)
    return {"transform": graph.div(tf, total)}


def _sparse_tfidf(graph: GraphBuilder, estimator: TfidfTransformer, x: SparseRows) -> SparseRows:
    """sklearn's steps on the stored values of CSR rows: ``log(tf) + 1``, times ``idf_`` of the column, the row
    norm."""
    if estimator.sublinear_tf:
        logged = stored(graph, graph.log(graph.cast(x.values, F64)))
        x = x.with_values(graph.cast(graph.add(logged, graph.const(1.0, "one", dtype=F64)), graph.dtype))
    idf = getattr(estimator, "idf_", None)
    if idf is not None:
        x = sparse_column_scale(graph, x, idf)
    return x if estimator.norm is None else sparse_normalize(graph, x, estimator.norm)
