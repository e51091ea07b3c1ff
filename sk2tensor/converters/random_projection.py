"""Random projections: ``X @ components_.T`` in float64 (sparse components are stored densified)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection

from sk2tensor.converters._pairwise import as_f64, f64
from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter


@converter(GaussianRandomProjection, SparseRandomProjection)
def convert_random_projection(
    graph: GraphBuilder, estimator: GaussianRandomProjection, x: Var, context: ConversionContext
) -> dict[str, Var]:
    """``X @ components_.T``; a sparse ``components_`` becomes a dense ``[n_features, n_components]`` matrix."""
    components = estimator.components_
    if sp.issparse(components):
        components = components.toarray()
    components = np.asarray(components, dtype=np.float64)
    return {"transform": graph.matmul(as_f64(graph, x), f64(graph, components.T, "components_t"))}
