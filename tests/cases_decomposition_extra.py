"""Conformance cases of SparsePCA, MiniBatchSparsePCA, the threshold sparse coders (SparseCoder,
DictionaryLearning, MiniBatchDictionaryLearning) and Isomap.

Fits are kept small (few iterations) so that the whole table runs in seconds. Isomap rows avoid brute-force
euclidean search on non-integer data: validation queries the training rows, whose distance to themselves is
rounding noise in sklearn's GEMM form (see tests/test_decomposition_extra.py), so they use the KDTree and
BallTree that ``algorithm="auto"`` picks for up to 15 features, the manhattan metric, or integer data.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    MiniBatchSparsePCA,
    SparseCoder,
    SparsePCA,
)
from sklearn.manifold import Isomap
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.cases import Case, _cases


def _coder(n_features: int, n_atoms: int, seed: int, **params: object) -> SparseCoder:
    """A SparseCoder over a fixed random dictionary of unit-norm atoms."""
    atoms = np.random.default_rng(seed).normal(size=(n_atoms, n_features))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    return SparseCoder(dictionary=atoms, transform_algorithm="threshold", **params)


CASES: list[Case] = [
    # ---------------------------------------------------------------- sparse coding, threshold transform
    *_cases(
        lambda: DictionaryLearning(
            n_components=5, transform_algorithm="threshold", transform_alpha=0.1, max_iter=10, random_state=0
        ),
        "iris",
        "wine",
    ),
    *_cases(
        lambda: DictionaryLearning(
            n_components=6,
            alpha=0.5,
            transform_algorithm="threshold",
            positive_code=True,
            split_sign=True,
            fit_algorithm="cd",
            max_iter=10,
            random_state=0,
        ),
        "iris",
        name="DictionaryLearning_positive_split",
    ),
    *_cases(
        lambda: MiniBatchDictionaryLearning(
            n_components=8, transform_algorithm="threshold", split_sign=True, batch_size=64, max_iter=3, random_state=0
        ),
        "digits",
    ),
    *_cases(
        lambda: make_pipeline(
            StandardScaler(),
            MiniBatchDictionaryLearning(
                n_components=6, alpha=0.2, transform_algorithm="threshold", max_iter=3, random_state=0
            ),
        ),
        "breast_cancer",
        name="MiniBatchDictionaryLearning_scaled",
    ),
    *_cases(lambda: _coder(4, 7, 0), "iris", name="SparseCoder_default_alpha"),
    *_cases(lambda: _coder(13, 9, 1, transform_alpha=20.0, split_sign=True), "wine", name="SparseCoder_split"),
    *_cases(lambda: _coder(64, 12, 2, transform_alpha=5.0, positive_code=True), "digits", name="SparseCoder_positive"),
    *_cases(lambda: _coder(10, 5, 3, transform_alpha=0.0), "diabetes", name="SparseCoder_no_threshold"),
    # ---------------------------------------------------------------- Isomap
    *_cases(lambda: Isomap(n_neighbors=6, n_components=2), "iris", "wine", "diabetes"),
    *_cases(
        lambda: Isomap(n_neighbors=10, n_components=3, metric="manhattan"),
        "wine",
        "breast_cancer",
        name="Isomap_manhattan",
    ),
    *_cases(
        lambda: Isomap(n_neighbors=5, n_components=2, neighbors_algorithm="ball_tree", p=3),
        "diabetes",
        name="Isomap_ball_tree_p3",
    ),
    *_cases(
        lambda: Isomap(n_neighbors=7, n_components=2, neighbors_algorithm="brute", metric="manhattan"),
        "wine",
        "diabetes",
        name="Isomap_brute_manhattan",
    ),
    *_cases(lambda: Isomap(n_neighbors=8, n_components=3, metric="cosine"), "breast_cancer", name="Isomap_cosine"),
    *_cases(
        lambda: make_pipeline(StandardScaler(), Isomap(n_neighbors=None, radius=2.5, n_components=2)),
        "iris",
        "wine",
        name="Isomap_radius",
    ),
]

#: SparsePCA and MiniBatchSparsePCA rows: sklearn returns a single row one-dimensional, and so does the
#: compiled model (metadata ``single_row_vectors``).
ONE_ROW_RAVEL_CASES: list[Case] = [
    *_cases(lambda: SparsePCA(n_components=3, max_iter=30, random_state=0), "iris", "wine"),
    *_cases(
        lambda: SparsePCA(n_components=5, alpha=0.01, ridge_alpha=0.5, max_iter=30, random_state=0),
        "diabetes",
        name="SparsePCA_ridge",
    ),
    # More components than features: sklearn's ridge takes its kernel (dual) form.
    *_cases(lambda: SparsePCA(n_components=6, alpha=0.5, max_iter=30, random_state=0), "iris", name="SparsePCA_wide"),
    *_cases(
        lambda: make_pipeline(
            StandardScaler(), SparsePCA(n_components=4, ridge_alpha=0.0, max_iter=20, random_state=0)
        ),
        "breast_cancer",
        name="SparsePCA_scaled_no_ridge",
    ),
    *_cases(
        lambda: MiniBatchSparsePCA(n_components=4, batch_size=50, max_iter=10, random_state=0),
        "wine",
        "digits",
    ),
]

CASES += ONE_ROW_RAVEL_CASES
