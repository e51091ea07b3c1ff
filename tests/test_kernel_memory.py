"""The memory bound of graphs that hold a stored set and compare each input row with all of it (KernelPCA,
Nystroem, the kernel SVMs): the rows of one run are bounded and recorded in metadata ``max_chunk_rows``,
CompiledModel runs within that bound, the results still match sklearn, and stored sets above the limit are
refused with a clear error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import KernelPCA
from sklearn.kernel_approximation import Nystroem
from sklearn.svm import SVC, SVR, OneClassSVM

import sk2tensor
from sk2tensor.converters import _pairwise
from sk2tensor.errors import UnsupportedParameterError
from tests.test_conformance import assert_matches_sklearn

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 5))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
T = X @ RNG.normal(size=5)


class _RecordingSession:
    """An ONNX Runtime session that records the rows of every run."""

    def __init__(self, session: Any) -> None:
        self.session, self.rows = session, []

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.rows.append(len(next(iter(feeds.values()))))
        return self.session.run(names, feeds)


#: Each kernel converter: a fitted model, and the stored rows and values per stored row its graph compares with.
MODELS = {
    "KernelPCA_rbf": lambda: (KernelPCA(n_components=3, kernel="rbf").fit(X), len(X), 1),
    "KernelPCA_poly": lambda: (KernelPCA(n_components=3, kernel="poly").fit(X), len(X), 1),
    "Nystroem_rbf": lambda: (Nystroem(n_components=40, random_state=0).fit(X), 40, 1),
    "Nystroem_laplacian": lambda: (
        Nystroem(kernel="laplacian", gamma=0.2, n_components=30, random_state=0).fit(X),
        30,
        X.shape[1],
    ),
    "SVC": lambda: (SVC(random_state=0).fit(X, Y), None, 1),
    "SVR": lambda: (SVR().fit(X, T), None, 1),
    "OneClassSVM": lambda: (OneClassSVM(nu=0.2).fit(X), None, 1),
}


@pytest.mark.parametrize("name", MODELS)
def test_rows_per_run_are_bounded_recorded_and_respected(name: str, monkeypatch) -> None:
    model, stored, width = MODELS[name]()
    stored = stored if stored is not None else len(model.support_vectors_)
    expected = _pairwise.RUN_MEMORY_BYTES // (4 * 8 * stored * width)
    compiled = sk2tensor.convert(model, X, dtype="float64")
    assert compiled.max_chunk_rows == int(compiled.metadata["max_chunk_rows"]) == expected

    # A 64 KiB budget: a few rows per run, every run within the bound, the same answers as sklearn.
    monkeypatch.setattr(_pairwise, "RUN_MEMORY_BYTES", 1 << 16)
    small = sk2tensor.convert(model, X, dtype="float64")
    bound = int(small.metadata["max_chunk_rows"])
    assert bound == max(1, (1 << 16) // (4 * 8 * stored * width)) < len(X)
    recorder = _RecordingSession(small.session)
    small._session = recorder
    assert_matches_sklearn(model, small, X, "float64")
    assert max(recorder.rows) <= bound and len(recorder.rows) >= len(small.outputs) * -(-len(X) // bound)


def test_stored_sets_above_the_limit_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(_pairwise, "MAX_STORED_VALUES", 100)
    for model, what in (
        (KernelPCA(n_components=2).fit(X), "stores 120 training rows of 5 features"),
        (Nystroem(n_components=30, random_state=0).fit(X), "stores 30 components of 5 features"),
        (SVR().fit(X, T), r"stores \d+ support vectors of 5 features"),
    ):
        with pytest.raises(UnsupportedParameterError, match=f"{type(model).__name__} {what}"):
            sk2tensor.convert(model, X)
