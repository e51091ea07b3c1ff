"""Matrix decompositions: ``transform`` of PCA, IncrementalPCA, TruncatedSVD, KernelPCA, FastICA,
FactorAnalysis, SparsePCA, MiniBatchSparsePCA, LatentDirichletAllocation, and of SparseCoder, DictionaryLearning
and MiniBatchDictionaryLearning with ``transform_algorithm="threshold"``.

sklearn multiplies its input by float64 components (float32 input is upcast), so the projections run in
float64 here, with sklearn's order of operations (project, then subtract the projected mean).

LatentDirichletAllocation ``transform``: sklearn's variational E-step per document, as an ONNX ``Loop``.

sklearn's ``transform(X)`` (``normalize=True``, its default) runs ``_update_doc_distribution`` with
``cal_sstats=False`` and no random initialisation, then divides each row by its sum. For each document
(``sklearn/decomposition/_lda.py`` and the Cython helpers of ``_online_lda_fast.pyx``):

* ``doc_topic = ones``, ``exp_doc_topic = exp(psi(1) - psi(n_topics))`` (a constant: the same for every row);
* up to ``max_doc_update_iter`` times: ``norm_phi = exp_doc_topic @ W + eps`` (``W`` the fitted
  ``exp_dirichlet_component_``, ``eps`` float64's), ``doc_topic = exp_doc_topic * ((counts / norm_phi) @ W.T)``,
  then ``_dirichlet_expectation_1d``: ``doc_topic += doc_topic_prior_``, ``exp_doc_topic = exp(psi(doc_topic) -
  psi(sum))`` with the sum taken sequentially and sklearn's own ``psi`` (the recurrence ``psi(x) = psi(x + 1) -
  1 / x`` while ``x < 6``, then an asymptotic series; ``-euler - 1 / x`` for ``x <= 1e-6``), all in float64 in
  its order; the document stops once ``mean(|previous - doc_topic|)`` (a sequential sum over the topics divided
  by their count) is below ``mean_change_tol``.

ONNX Runtime's float64 ``Log`` and ``Exp`` are within an ulp of libm's (what sklearn's Cython calls) but not
always equal to them, so the graph agrees with sklearn to a few ulps per step (observed: 1e-15 to 1e-13 after
normalisation), not bit for bit. A document whose mean change lands within those ulps of ``mean_change_tol``
could stop one iteration earlier or later than in sklearn; no test data shows it.

sklearn uses only the words a document contains (the nonzero entries of its row). The graph multiplies by the
whole row: a zero count gives ``0 / norm_phi = 0`` and adds exact zeros to the sums, so the result is the
same up to the order BLAS and ONNX Runtime sum the nonzero terms in (a few ulps). An empty document (all
counts zero) ends at ``doc_topic_prior_`` for every topic, a uniform row, as in sklearn.

The loop: every row of the batch carries its own ``converged`` flag; a converged row is frozen, so each row
takes exactly sklearn's iterations, and the ``Loop`` stops as soon as every row has converged (or after
``max_doc_update_iter`` trips).

Rows sklearn refuses (a negative count, NaN or an infinity) cannot raise in a graph: they come out as rows of
NaN (and take no iterations). sklearn casts the input to the dtype of ``components_``: models fitted on float64
data (the usual case) compute in float64 whatever the graph's dtype; models fitted on float32 data, whose
E-step runs in float32 arithmetic, are refused.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import (
    PCA,
    DictionaryLearning,
    FactorAnalysis,
    FastICA,
    IncrementalPCA,
    KernelPCA,
    LatentDirichletAllocation,
    MiniBatchDictionaryLearning,
    MiniBatchSparsePCA,
    SparseCoder,
    SparsePCA,
    TruncatedSVD,
)
from sklearn.decomposition._online_lda_fast import _dirichlet_expectation_2d
from sklearn.linear_model import ridge_regression

from sk2tensor.converters._pairwise import (
    as_f64,
    bound_run_memory,
    f64,
    kernel_to_fitted_rows,
)
from sk2tensor.converters.linear_model import sparse_product
from sk2tensor.converters.neighbors import non_finite_rows
from sk2tensor.graph import GraphBuilder, SparseRows, Var
from sk2tensor.registry import ConversionContext, converter, unsupported


def project(graph: GraphBuilder, x: Var, components: np.ndarray) -> Var:
    """``x @ components.T`` in float64."""
    return graph.matmul(x, f64(graph, np.asarray(components, dtype=np.float64).T, "components_t"))


@converter(PCA, IncrementalPCA)
def convert_pca(graph: GraphBuilder, estimator: PCA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``X @ C.T - mean @ C.T``, divided by the square root of the explained variance when whitening."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    t = project(graph, as_f64(graph, x), components)
    t = graph.sub(t, f64(graph, np.asarray(estimator.mean_, dtype=np.float64)[None, :] @ components.T, "mean_t"))
    if estimator.whiten:
        scale = np.sqrt(np.asarray(estimator.explained_variance_, dtype=np.float64))
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        t = graph.div(t, f64(graph, scale, "scale"))
    return {"transform": t}


@converter(TruncatedSVD, sparse=True)
def convert_truncated_svd(
    graph: GraphBuilder, estimator: TruncatedSVD, x: Var | SparseRows, context: ConversionContext
) -> dict[str, Var]:
    """``X @ components_.T`` (no centring); on sparse rows, over their stored entries as sklearn's CSR product."""
    if isinstance(x, SparseRows):
        return {"transform": sparse_product(graph, x, np.asarray(estimator.components_))}
    return {"transform": project(graph, as_f64(graph, x), estimator.components_)}


@converter(FastICA)
def convert_fast_ica(graph: GraphBuilder, estimator: FastICA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``(X - mean_) @ components_.T`` when whitening, else ``X @ components_.T``.

    sklearn subtracts the mean in place, in the input's dtype: a float32 graph rounds the centred values to
    float32 as it does before the float64 product.
    """
    centred = as_f64(graph, x)
    if estimator.whiten:
        centred = graph.sub(centred, f64(graph, estimator.mean_, "mean"))
        if x.dtype == np.float32:
            centred = as_f64(graph, graph.cast(centred, np.float32))
    return {"transform": project(graph, centred, estimator.components_)}


@converter(FactorAnalysis)
def convert_factor_analysis(
    graph: GraphBuilder, estimator: FactorAnalysis, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """The posterior mean of the latent factors: ``((X - mean) @ Wpsi.T) @ cov_z``."""
    components = np.asarray(estimator.components_, dtype=np.float64)
    wpsi = components / estimator.noise_variance_
    cov_z = np.linalg.inv(np.eye(len(components)) + wpsi @ components.T)
    centred = graph.sub(as_f64(graph, x), f64(graph, estimator.mean_, "mean"))
    t = graph.matmul(graph.matmul(centred, f64(graph, wpsi.T, "wpsi_t")), f64(graph, cov_z, "cov_z"))
    return {"transform": t}


@converter(KernelPCA)
def convert_kernel_pca(graph: GraphBuilder, estimator: KernelPCA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """The kernel against the stored training rows, centred as sklearn's KernelCenterer, times the scaled
    eigenvectors.

    The graph holds the training rows and computes ``[batch, n_training_rows]`` float64 matrices (times the
    features for laplacian and chi2): the rows of one run are bounded as for the neighbour search
    (:func:`~sk2tensor.converters._pairwise.bound_kernel_memory`, metadata ``max_chunk_rows``).
    """
    k = kernel_to_fitted_rows(graph, estimator, x, context, estimator.gamma_)
    return {"transform": kernel_pca_project(graph, estimator, k)}


def kernel_pca_project(graph: GraphBuilder, estimator: KernelPCA, k: Var) -> Var:
    """The end of ``KernelPCA.transform`` once the float64 kernel ``k`` (``[batch, n_training_rows]``) against
    the training rows is known, whatever the kernel (``"precomputed"`` included: ``k`` is then the input's
    kernel row): centred as sklearn's KernelCenterer (subtract the training column means, then the row's
    mean, add the overall mean), times the eigenvectors scaled by the inverse square roots of the non-zero
    eigenvalues."""
    centerer = estimator._centerer
    k_fit_rows = np.asarray(centerer.K_fit_rows_, dtype=np.float64)
    pred_cols = graph.div(graph.reduce_sum(k, [1], keepdims=True), f64(graph, float(len(k_fit_rows)), "n_fit"))
    k = graph.sub(k, f64(graph, k_fit_rows, "k_fit_rows"))
    k = graph.sub(k, pred_cols)
    k = graph.add(k, f64(graph, centerer.K_fit_all_, "k_fit_all"))
    eigenvalues = np.asarray(estimator.eigenvalues_, dtype=np.float64)
    eigenvectors = np.asarray(estimator.eigenvectors_, dtype=np.float64)
    non_zeros = np.flatnonzero(eigenvalues)
    scaled = np.zeros_like(eigenvectors)
    scaled[:, non_zeros] = eigenvectors[:, non_zeros] / np.sqrt(eigenvalues[non_zeros])
    return graph.matmul(k, f64(graph, scaled, "scaled_alphas"))


def nan_on_non_finite_rows(graph: GraphBuilder, x64: Var, value: Var) -> Var:
    """``value`` with NaN in every column of the rows where the float64 input ``x64`` holds NaN or an infinity
    (rows sklearn's input validation rejects)."""
    bad = graph.unsqueeze(non_finite_rows(graph, x64), [1])
    return graph.where(bad, f64(graph, np.nan, "nan"), value)


# --------------------------------------------------------------------------- sparse PCA
def sparse_pca_map(estimator: SparsePCA) -> np.ndarray:
    """``M`` (``[n_features, n_components]``) with ``transform(X) = (X - mean_) @ M``.

    sklearn's transform is ``ridge_regression(components_.T, (X - mean_).T, ridge_alpha, solver="cholesky")``:
    one ridge problem per row of X, all with the same matrix and penalty, so the solution is linear in the
    centred row. Solving with the identity as the rows gives ``M`` with sklearn's own arithmetic: the same
    normal (or, with more components than features, kernel) matrix, the same Cholesky solve and the same
    fallbacks (SVD, least squares) on a singular matrix, which do not depend on the right-hand side.
    """
    components = np.asarray(estimator.components_)
    n_features = components.shape[1]
    identity = np.eye(n_features, dtype=components.dtype)
    return np.asarray(
        ridge_regression(components.T, identity, estimator.ridge_alpha, solver="cholesky"), dtype=np.float64
    )


@converter(SparsePCA, MiniBatchSparsePCA)
def convert_sparse_pca(graph: GraphBuilder, estimator: SparsePCA, x: Var, context: ConversionContext) -> dict[str, Var]:
    """``(X - mean_) @ M`` in float64 (:func:`sparse_pca_map`); sklearn centres float32 rows against the
    float64 mean, in float64. Rows holding NaN or an infinity, which sklearn rejects, give NaN. sklearn returns a
    single row one-dimensional (``ridge_regression`` ravels a one-target solution): the graph keeps
    ``[1, n_components]`` and the compiled model gives sklearn's shape (metadata ``single_row_vectors``)."""
    context.single_row_vectors.add("transform")
    x64 = as_f64(graph, x)
    centred = graph.sub(x64, f64(graph, np.asarray(estimator.mean_, dtype=np.float64)[None, :], "mean"))
    t = graph.matmul(centred, f64(graph, sparse_pca_map(estimator), "ridge_map"))
    return {"transform": nan_on_non_finite_rows(graph, x64, t)}


# --------------------------------------------------------------------------- sparse coding
#: The ``transform_algorithm`` with a closed form: a soft threshold of the projections on the atoms.
SPARSE_CODING_ALGORITHMS = ("threshold",)


def _dictionary(estimator: object) -> np.ndarray:
    return np.asarray(estimator.dictionary if isinstance(estimator, SparseCoder) else estimator.components_)


@converter(SparseCoder, DictionaryLearning, MiniBatchDictionaryLearning)
def convert_sparse_coding(
    graph: GraphBuilder, estimator: DictionaryLearning, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform`` with ``transform_algorithm="threshold"``, as sklearn's ``_sparse_encode``:
    ``cov = X @ D.T`` (float64 for float64 atoms), ``sign(cov) * max(|cov| - alpha, 0)``, clipped at 0 with
    ``positive_code``, and with ``split_sign`` the columns ``max(code, 0)`` then ``-min(code, 0)``.
    ``alpha`` is ``transform_alpha``, else the model's ``alpha`` (DictionaryLearning,
    MiniBatchDictionaryLearning), else 1 (SparseCoder).

    The other algorithms (``omp``, the default, ``lasso_lars``, ``lasso_cd``, ``lars``) solve an optimisation
    per row with data-dependent active sets and are refused. ``transform_algorithm`` is read by ``transform``
    only (``fit`` uses ``fit_algorithm``), so ``set_params(transform_algorithm="threshold")`` on a fitted model
    makes it convertible without refitting, with threshold codes instead of the codes it produced before.
    Rows holding NaN or an infinity, which sklearn rejects, give NaN.
    """
    algorithm = estimator.transform_algorithm
    if algorithm not in SPARSE_CODING_ALGORITHMS:
        raise unsupported(
            estimator,
            "transform_algorithm",
            algorithm,
            'only transform_algorithm="threshold" has a closed form (a soft threshold of X @ components.T); '
            "the others solve an optimisation per row. transform_algorithm is read by transform only, so "
            'model.set_params(transform_algorithm="threshold") makes a fitted model convertible without '
            "refitting (with transform_alpha as the threshold, the model's alpha when it is None); its transform "
            "then gives threshold codes instead of the ones it gave before",
        )
    dictionary = _dictionary(estimator)
    if estimator.transform_alpha is None and hasattr(estimator, "alpha"):
        alpha = estimator.alpha
    else:
        alpha = estimator.transform_alpha
    alpha = 1.0 if alpha is None else float(alpha)
    x64 = as_f64(graph, x)
    cov = graph.matmul(x64, f64(graph, dictionary.astype(np.float64).T, "dictionary_t"))
    zero = f64(graph, 0.0, "zero")
    shrunk = graph.max(graph.sub(graph.abs(cov), f64(graph, alpha, "alpha")), zero)
    code = graph.mul(graph.sign(cov), shrunk)
    if estimator.positive_code:
        code = graph.max(code, zero)
    if estimator.split_sign:
        code = graph.concat([graph.max(code, zero), graph.neg(graph.min(code, zero))], axis=1)
    return {"transform": nan_on_non_finite_rows(graph, x64, code)}


#: ``EULER`` of sklearn's ``psi`` (``_online_lda_fast.pyx``), as the C double it compiles to.
EULER = 0.577215664901532860606512090082402431


def sequential_sum(graph: GraphBuilder, a: Var, width: int) -> Var:
    """``[batch, 1]``: the columns of ``a`` ``[batch, width]`` added left to right (a C loop's order)."""
    columns = [graph.gather(a, graph.int64s([j], "topic"), axis=1) for j in range(width)]
    total = columns[0]  # 0.0 + t == t
    for column in columns[1:]:
        total = graph.add(total, column)
    return total


def lda_psi(graph: GraphBuilder, x: Var) -> Var:
    """sklearn's ``psi`` of ``_online_lda_fast.pyx`` (AS 103, its operations in its order), elementwise on a
    float64 ``x > 0``."""
    g = graph
    one, six = f64(g, 1.0, "one"), f64(g, 6.0, "six")
    small = g.less_equal(x, f64(g, 1e-6, "psi_small"))
    at_small = g.sub(f64(g, -EULER, "minus_euler"), g.div(one, x))
    result = g.sub(x, x)  # 0.0
    shifted = x
    # x > 1e-6 reaches 6 within six steps of +1.
    for _ in range(6):
        below = g.less(shifted, six)
        result = g.where(below, g.sub(result, g.div(one, shifted)), result)
        shifted = g.where(below, g.add(shifted, one), shifted)
    r = g.div(one, shifted)
    result = g.add(result, g.sub(g.log(shifted), g.mul(f64(g, 0.5, "half"), r)))
    r = g.mul(r, r)
    series = g.sub(f64(g, 1.0 / 120.0, "psi_c120"), g.mul(r, f64(g, 1.0 / 252.0, "psi_c252")))
    series = g.sub(f64(g, 1.0 / 12.0, "psi_c12"), g.mul(r, series))
    result = g.sub(result, g.mul(r, series))
    return g.where(small, at_small, result)


@converter(LatentDirichletAllocation)
def convert_latent_dirichlet_allocation(
    graph: GraphBuilder, estimator: LatentDirichletAllocation, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``transform``: the normalised document-topic distribution of sklearn's E-step (see the module
    docstring); rows with a negative count, NaN or an infinity give NaN."""
    components = np.asarray(estimator.components_)
    if components.dtype != np.float64:
        raise unsupported(
            estimator,
            "components_.dtype",
            str(components.dtype),
            "sklearn runs the E-step of a model fitted on float32 data in float32 arithmetic; fit it on float64 "
            "counts (X.astype(np.float64)) to export it",
        )
    g = graph
    topic_word = np.asarray(estimator.exp_dirichlet_component_, dtype=np.float64)  # [topics, words]
    n_topics, n_words = topic_word.shape
    prior = float(estimator.doc_topic_prior_)
    tol = float(estimator.mean_change_tol)
    trips = int(estimator.max_doc_update_iter)
    eps = float(np.finfo(np.float64).eps)
    bound_run_memory(context, 6 * 8 * (n_words + n_topics))

    counts = as_f64(g, x)
    zero = f64(g, 0.0, "zero")
    # sklearn raises on these rows (check_non_negative, validate_data): NaN rows here, frozen from the start.
    invalid = g.logical_or(
        g.is_nan(g.reduce_sum(g.mul(counts, zero), [1], keepdims=True)),
        g.less(g.reduce_min(counts, [1], keepdims=True), zero),
    )  # [batch, 1]
    start_exp = np.exp(_dirichlet_expectation_2d(np.ones((1, n_topics), dtype=np.float64)))  # sklearn's own
    fill = g.sub(g.matmul(counts, f64(g, np.zeros((n_words, n_topics)), "zero_topics")), zero)  # [batch, topics]
    fill = g.where(g.is_nan(fill), zero, fill)  # zeros of shape [batch, topics], no shape operator
    doc_topic = g.add(fill, f64(g, 1.0, "one"))
    exp_doc_topic = g.add(fill, f64(g, start_exp, "exp_doc_topic_start"))
    w = f64(g, topic_word, "exp_topic_word")
    w_t = f64(g, topic_word.T, "exp_topic_word_t")

    def iteration(sub: GraphBuilder, last: Var, exp_last: Var, converged: Var) -> tuple[Var, list[Var]]:
        norm_phi = sub.add(sub.matmul(exp_last, w), f64(sub, eps, "eps"))
        update = sub.mul(exp_last, sub.matmul(sub.div(counts, norm_phi), w_t))
        update = sub.add(update, f64(sub, prior, "doc_topic_prior"))
        psi_total = lda_psi(sub, sequential_sum(sub, update, n_topics))
        exp_update = sub.exp(sub.sub(lda_psi(sub, update), psi_total))
        change = sub.div(sequential_sum(sub, sub.abs(sub.sub(last, update)), n_topics), f64(sub, n_topics, "size"))
        doc = sub.where(converged, last, update)
        exp_doc = sub.where(converged, exp_last, exp_update)
        converged = sub.logical_or(converged, sub.less(change, f64(sub, tol, "mean_change_tol")))
        running = sub.reduce_sum(sub.cast(sub.logical_not(converged), np.int64), [0, 1])
        keep_going = sub.greater(running, sub.const(np.int64(0), "zero_i", dtype=np.int64))
        return keep_going, [doc, exp_doc, converged]

    if trips > 0:
        doc_topic, _, _ = g.loop(trips, [doc_topic, exp_doc_topic, invalid], [2, 2, 2], iteration, hint="e_step")
    normalized = g.div(doc_topic, g.reduce_sum(doc_topic, [1], keepdims=True))
    return {"transform": g.where(invalid, f64(g, np.nan, "nan"), normalized)}
