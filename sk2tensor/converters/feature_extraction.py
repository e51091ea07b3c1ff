"""``sklearn.feature_extraction.text``: CountVectorizer and TfidfVectorizer, from documents to term counts or
tf-idf (the tokenizer in :mod:`sk2tensor.converters._text`), and TfidfTransformer, from a matrix of (numeric)
term counts to tf-idf.

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

from dataclasses import replace

import numpy as np
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)

from sk2tensor.converters._numeric import F64, stored
from sk2tensor.converters._text import TEXT_OPSET, TOKEN_PATTERNS, Analyzer, count_terms
from sk2tensor.converters.preprocessing import sparse_column_scale, sparse_normalize
from sk2tensor.graph import GraphBuilder, SparseRows, Table, Var
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


def _analyzer(estimator: CountVectorizer) -> Analyzer:
    """The word analyzer of ``estimator``, or an error naming the setting the graph cannot reproduce."""
    if estimator.analyzer != "word":
        raise unsupported(
            estimator,
            "analyzer",
            estimator.analyzer,
            "only analyzer='word' is exported: character n-grams need substrings, which ONNX's string operators "
            "do not take",
        )
    for name in ("preprocessor", "tokenizer"):
        if getattr(estimator, name) is not None:
            raise unsupported(estimator, name, getattr(estimator, name), "only None (sklearn's own) is exported")
    if estimator.input != "content":
        raise unsupported(estimator, "input", estimator.input, "only input='content' (the documents) is exported")
    if estimator.strip_accents not in (None, "unicode", "ascii"):
        raise unsupported(
            estimator,
            "strip_accents",
            estimator.strip_accents,
            "None, 'unicode' and 'ascii' are exported; a callable is Python code the graph cannot run",
        )
    if estimator.token_pattern not in TOKEN_PATTERNS:
        raise unsupported(
            estimator, "token_pattern", estimator.token_pattern, f"the exported patterns are {sorted(TOKEN_PATTERNS)}"
        )
    low, high = estimator.ngram_range
    stop_words = estimator.get_stop_words()
    return Analyzer(
        lowercase=bool(estimator.lowercase),
        strip_accents=estimator.strip_accents,
        min_token_length=TOKEN_PATTERNS[estimator.token_pattern],
        stop_words=frozenset(stop_words or ()),
        ngram_range=(int(low), int(high)),
    )


def _documents(graph: GraphBuilder, estimator: CountVectorizer, x: Var | Table | SparseRows) -> Var:
    """The 1-D documents of a vectorizer's input: one string column."""
    if graph.opset < TEXT_OPSET:
        raise unsupported(estimator, "opset", graph.opset, f"text vectorizers need opset {TEXT_OPSET} or above")
    if isinstance(x, Table) and len(x.columns) == 1 and x.columns[0].is_string:
        return graph.reshape(x.columns[0].var, [-1])
    raise unsupported(
        estimator,
        "input",
        "numbers" if not isinstance(x, Table) else f"{len(x.columns)} columns",
        "a vectorizer takes one column of documents (strings): convert the pipeline with the documents as X, or "
        "select one text column for it in a ColumnTransformer",
    )


def _counts(
    graph: GraphBuilder, estimator: CountVectorizer, x: Var | Table | SparseRows, context: ConversionContext
) -> SparseRows:
    documents = _documents(graph, estimator, x)
    source = x.columns[0].var.name if isinstance(x, Table) else ""
    if graph.is_input(source):  # documents checked before they are fed (an imputed column is not)
        context.text_inputs.setdefault(source, []).append(
            {"lowercase": bool(estimator.lowercase), "strip_accents": estimator.strip_accents}
        )
    vocabulary = [""] * len(estimator.vocabulary_)
    for term, column in estimator.vocabulary_.items():
        vocabulary[column] = term
    analyzer = _analyzer(estimator)
    analyzer = replace(analyzer, short_terms=any(len(term) < analyzer.min_token_length for term in vocabulary))
    return count_terms(graph, documents, vocabulary, analyzer, binary=bool(estimator.binary))


@converter(CountVectorizer, tables=True)
def convert_count_vectorizer(
    graph: GraphBuilder, estimator: CountVectorizer, x: Var | Table, context: ConversionContext
) -> dict[str, SparseRows]:
    """``transform``: each document's term counts (sparse rows; the next step gets the stored counts or, if it
    needs them, the dense matrix)."""
    return {"transform": _counts(graph, estimator, x, context)}


@converter(TfidfVectorizer, tables=True)
def convert_tfidf_vectorizer(
    graph: GraphBuilder, estimator: TfidfVectorizer, x: Var | Table, context: ConversionContext
) -> dict[str, SparseRows]:
    """``transform``: the counts, then TfidfTransformer's steps on them (its fitted ``idf_``)."""
    counts = _counts(graph, estimator, x, context)
    transformer = TfidfTransformer(
        norm=estimator.norm,
        use_idf=estimator.use_idf,
        smooth_idf=estimator.smooth_idf,
        sublinear_tf=estimator.sublinear_tf,
    )
    if estimator.use_idf:
        transformer.idf_ = estimator.idf_
    if transformer.norm not in ("l1", "l2", None):
        raise unsupported(estimator, "norm", estimator.norm, "use 'l1', 'l2' or None")
    return {"transform": _sparse_tfidf(graph, transformer, counts)}
