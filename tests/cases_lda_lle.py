"""Conformance cases: LatentDirichletAllocation (sklearn.decomposition, converted in
``sk2tensor.converters.decomposition``) and LocallyLinearEmbedding (sklearn.manifold, in
``sk2tensor.converters.manifold``).

LDA runs on count data: the pixel counts (0-16) of the first 300 digits, and generated Poisson counts with a
few empty documents (all counts zero) and documents that use few words, with batch and online learning,
several topic counts, priors and E-step settings (``max_doc_update_iter`` small enough that some documents
stop before converging). LLE runs on the swiss roll and S curve (continuous: no ties at the k-th neighbour),
iris, and the first 250 digits (integer pixels: ties at the k-th neighbour) with a KDTree, whose heap fed in
the tree walk's order the graph replays for float64 and float32 rows alike (on brute force sklearn decides ties
among float32 rows by numpy's argpartition, see ``sk2tensor/converters/neighbors.py``), with each ``method``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.base import clone
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.manifold import LocallyLinearEmbedding

from tests.cases import Case, Dataset, dataset


@cache
def local_dataset(name: str) -> Dataset:
    """The shared datasets, and the count and manifold data described in the module docstring."""
    if name == "digits_300":
        return Dataset(datasets.load_digits().data[:300], None)
    if name == "digits_250":
        return Dataset(datasets.load_digits().data[:250], None)
    if name == "poisson_counts":
        rng = np.random.default_rng(31)
        rates = rng.gamma(0.3, 2.0, size=(400, 60)) * (rng.random((400, 60)) < 0.4)
        X = rng.poisson(rates).astype(np.float64)
        X[[0, 17, 250]] = 0.0  # empty documents
        return Dataset(X, None)
    if name == "swiss_roll":
        return Dataset(datasets.make_swiss_roll(500, noise=0.05, random_state=32)[0], None)
    if name == "s_curve":
        return Dataset(datasets.make_s_curve(400, noise=0.02, random_state=33)[0], None)
    return dataset(name)


@dataclass(frozen=True)
class LocalCase(Case):
    """A case on a local dataset."""

    def fitted(self) -> tuple[Any, Dataset]:
        return _fit_local(self)


@cache
def _fit_local(case: LocalCase) -> tuple[Any, Dataset]:
    data = local_dataset(case.data)
    return clone(case.make()).fit(data.X), data


def local(make: Any, *data: str, name: str) -> list[Case]:
    return [LocalCase(f"{name}-{d}", make, d) for d in data]


CASES: list[Case] = [
    # ---------------------------------------------------------------- LatentDirichletAllocation
    *local(
        lambda: LatentDirichletAllocation(n_components=5, max_iter=5, random_state=0),
        "digits_300",
        "poisson_counts",
        name="LatentDirichletAllocation",
    ),
    *local(
        lambda: LatentDirichletAllocation(
            n_components=8, learning_method="online", batch_size=64, max_iter=2, random_state=1
        ),
        "digits_300",
        name="LatentDirichletAllocation_online",
    ),
    *local(
        lambda: LatentDirichletAllocation(
            n_components=7, doc_topic_prior=0.05, topic_word_prior=0.2, max_doc_update_iter=12, random_state=2
        ),
        "poisson_counts",
        name="LatentDirichletAllocation_priors_few_iterations",
    ),
    *local(
        lambda: LatentDirichletAllocation(n_components=3, mean_change_tol=1e-6, max_iter=4, random_state=3),
        "poisson_counts",
        name="LatentDirichletAllocation_tight_tol",
    ),
    # ---------------------------------------------------------------- LocallyLinearEmbedding
    *local(
        lambda: LocallyLinearEmbedding(n_neighbors=10, random_state=0),
        "swiss_roll",
        "s_curve",
        "iris",
        name="LocallyLinearEmbedding",
    ),
    *local(
        lambda: LocallyLinearEmbedding(n_neighbors=12, method="modified", random_state=0),
        "swiss_roll",
        name="LocallyLinearEmbedding_modified",
    ),
    *local(
        lambda: LocallyLinearEmbedding(n_neighbors=8, method="ltsa", reg=1e-2, random_state=0),
        "s_curve",
        name="LocallyLinearEmbedding_ltsa",
    ),
    *local(
        lambda: LocallyLinearEmbedding(n_neighbors=12, n_components=2, method="hessian", eigen_solver="dense"),
        "iris",
        name="LocallyLinearEmbedding_hessian",
    ),
    *local(
        lambda: LocallyLinearEmbedding(
            n_neighbors=15, n_components=3, eigen_solver="dense", neighbors_algorithm="kd_tree"
        ),
        "digits_250",
        name="LocallyLinearEmbedding_ties",
    ),
]
