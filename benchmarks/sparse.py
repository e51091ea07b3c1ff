"""Models on wide sparse rows (hashed term counts): sklearn beside sk2tensor's sparse-input and dense-input exports.

    python -m benchmarks.sparse [--repeats 5] [--no-write] [--out DIR]

Rows are term counts over 2^18 hashed columns, about 100 stored entries a row (the shape of a
``HashingVectorizer`` output), 20,000 training rows. Engines, in one process on the same float32 CSR rows:
sklearn's own method on the sparse matrix; sk2tensor exported with ``sparse_input=True`` (the graph takes the CSR
arrays and works on the stored entries); sk2tensor's default dense-input export, to which ``CompiledModel`` feeds
the rows densified in chunks of at most 64 MiB; skl2onnx + ONNX Runtime (dense input) when installed, fed the
dense rows where they fit in 1 GiB. Batches of 1, 100, 10,000 and 100,000 rows; median seconds after a warm-up,
rows/s, ratio to sklearn and the largest difference from sklearn. Writes
``benchmarks/results/sparse-<machine>-<date>.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pipelines import benchmark_main, report_text, timed_row, versions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WIDTH = 1 << 18
ENTRIES_PER_ROW = 100
TRAIN_ROWS = 20_000
BATCHES = (1, 100, 10_000, 100_000)
#: Largest dense batch fed to the dense-input engines (bytes).
DENSE_LIMIT = 1024**3


def counts(rows: int, seed: int) -> tuple[object, np.ndarray]:
    """Hashed term counts with a Zipf-like column frequency, and a 5-class label that depends on a few terms."""
    from scipy import sparse

    rng = np.random.default_rng(seed)
    per_row = rng.poisson(ENTRIES_PER_ROW, rows)
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    columns = np.minimum(rng.zipf(1.3, indptr[-1]) - 1, WIDTH - 1)
    columns = (columns * 2654435761) % WIDTH  # spread the frequent terms over the hashed columns
    values = rng.integers(1, 4, indptr[-1]).astype(np.float32)
    X = sparse.csr_matrix((values, columns, indptr), shape=(rows, WIDTH))
    X.sum_duplicates()
    score = np.asarray(X[:, :: WIDTH // 64].sum(axis=1)).ravel() + rng.normal(0, 0.5, rows)
    y = np.digitize(score, np.quantile(score, [0.2, 0.4, 0.6, 0.8]))
    return X, y


def _models() -> dict[str, Callable[[], object]]:
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return {
        "tf-idf -> logistic (5 classes)": lambda: make_pipeline(TfidfTransformer(), LogisticRegression(max_iter=300)),
        "multinomial NB (5 classes)": MultinomialNB,
        "tf-idf -> linear SVC (5 classes)": lambda: make_pipeline(TfidfTransformer(), LinearSVC()),
    }


def _method(estimator: object) -> str:
    return "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"


def _skl2onnx(estimator: object, method: str) -> tuple[Callable | None, str]:
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:
        return None, "skl2onnx not installed"
    try:
        options = {"zipmap": False} if method == "predict_proba" else None
        onx = to_onnx(estimator, np.zeros((1, WIDTH), np.float32), options=options)
    except Exception as error:  # any refusal is the row's note
        return None, f"cannot convert: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    index = 1 if len(outputs) > 1 else 0  # (label, scores or probabilities)
    return (lambda rows: session.run(None, {name: rows.toarray()})[index]), ""


def run(repeats: int) -> list[dict[str, object]]:
    import sk2tensor

    train, target = counts(TRAIN_ROWS, 0)
    probe, _ = counts(max(BATCHES), 1)
    rows: list[dict[str, object]] = []
    for name, make in _models().items():
        estimator = make().fit(train, target)
        method = _method(estimator)
        start = time.perf_counter()
        sparse_export = sk2tensor.convert(estimator, probe[:2_000], sparse_input=True)
        sparse_seconds = time.perf_counter() - start
        # Not validated: a model fitted on float32 rows keeps float32 coefficients, and sklearn's dense float32
        # product (BLAS, its own summation order) differs from the float64 graph by more than the validator's
        # 1e-6 on some rows; the table's max diff column shows by how much.
        dense_export = sk2tensor.convert(estimator, probe[:200], validate=False)
        engines: dict[str, tuple[Callable | None, str]] = {
            "sklearn": (getattr(estimator, method), ""),
            "sk2tensor sparse_input": (getattr(sparse_export, method), f"export {sparse_seconds:.2f} s"),
            "sk2tensor dense input": (getattr(dense_export, method), "densified by CompiledModel in 64 MiB chunks"),
            "skl2onnx + ORT": _skl2onnx(estimator, method),
        }
        for batch in BATCHES:
            rows_in = probe[:batch]
            expected = np.asarray(engines["sklearn"][0](rows_in), dtype=np.float64)
            base = None
            for engine, (call, note) in engines.items():
                dense_bytes = batch * WIDTH * 4
                dense_engine = engine in ("sk2tensor dense input", "skl2onnx + ORT")
                if call is not None and dense_engine and dense_bytes > DENSE_LIMIT:
                    call, note = None, f"skipped: {dense_bytes / 1024**3:.0f} GiB of dense rows"
                if call is None:
                    rows.append({"model": name, "batch": batch, "engine": engine, "note": note})
                    continue
                rows.append(timed_row(name, batch, engine, call, rows_in, expected, base, repeats, note))
                base = rows[-1]["seconds"] if engine == "sklearn" else base
            print(name, batch, flush=True)
    return rows


def report(rows: list[dict[str, object]]) -> str:
    explanation = [
        f"Rows: hashed term counts, {WIDTH:,} columns, about {ENTRIES_PER_ROW} stored entries a row (float32 CSR).",
        "Median seconds of one call after a warm-up, same process, same rows (`predict_proba`, or",
        "`decision_function` for the SVC). `x sklearn`: sklearn's seconds over the engine's (above 1: faster).",
        "`max diff`: largest difference from sklearn's output on the batch. The sparse export's note is",
        "`convert()`'s time, its validation on 2,000 rows included.",
    ]
    return report_text("Wide sparse rows", versions(), explanation, rows)


def main(argv: list[str] | None = None) -> int:
    return benchmark_main(argv, __doc__.split("\n\n")[0], lambda repeats: report(run(repeats)), "sparse", 5)


if __name__ == "__main__":
    raise SystemExit(main())
