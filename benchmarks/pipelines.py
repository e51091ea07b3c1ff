"""Whole pipelines with custom feature engineering: sklearn's predict beside sk2tensor's export and skl2onnx.

    python -m benchmarks.pipelines [--repeats 7] [--no-write] [--out DIR]

Each model is a pipeline whose first step is a ``FunctionTransformer`` holding ordinary numpy code (traced by
sk2tensor, see the README's "Custom functions"), fitted on 20,000 rows of 28 features. Engines, in one process
on the same float32 rows: sklearn's own ``predict_proba``/``predict``; sk2tensor's export through
``CompiledModel``; skl2onnx + ONNX Runtime when skl2onnx is installed (it converts a FunctionTransformer only
without a function, so its rows say why it could not). Batches of 1, 100, 10,000 and 100,000 rows; median
seconds after a warm-up, rows/s, ratio to sklearn and the largest difference from sklearn. Writes
``benchmarks/results/pipelines-<machine>-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.scoring_memory import machine, write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FEATURES = 28
TRAIN_ROWS = 20_000
BATCHES = (1, 100, 10_000, 100_000)


def engineered(X: np.ndarray) -> np.ndarray:
    """Typical hand-written features: a log column in place, a ratio, row statistics, a flag."""
    X = X.copy()
    X[:, 0] = np.log1p(np.abs(X[:, 0]))
    ratio = X[:, 1] / (np.abs(X[:, 2]) + 1e-3)
    return np.column_stack([X, ratio, X.sum(axis=1), X.std(axis=1), np.where(X[:, 3] > X[:, 4], 1.0, 0.0)])


def exact_features(X: np.ndarray) -> np.ndarray:
    """Features of exact arithmetic only (no transcendental function), for a tree model after them."""
    return np.column_stack([np.clip(X, -3.0, 3.0), X[:, :4] * X[:, 4:8], X.sum(axis=1), np.isnan(X).sum(axis=1)])


def _models() -> dict[str, tuple[Callable[[], object], str]]:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return {
        "engineered -> scaler -> logistic": (
            lambda: make_pipeline(FunctionTransformer(engineered), StandardScaler(), LogisticRegression(max_iter=2000)),
            "classification",
        ),
        "exact features -> HGB 100": (
            lambda: make_pipeline(
                FunctionTransformer(exact_features), HistGradientBoostingClassifier(max_iter=100, random_state=0)
            ),
            "classification",
        ),
        "engineered -> ridge, log target": (
            lambda: TransformedTargetRegressor(
                make_pipeline(FunctionTransformer(engineered), StandardScaler(), Ridge()),
                func=np.log,
                inverse_func=np.exp,
            ),
            "regression",
        ),
    }


def _data(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(TRAIN_ROWS + max(BATCHES), FEATURES))
    signal = X[:, :6].sum(axis=1) + np.sin(3 * X[:, 6])
    y = (signal > 0).astype(int) if task == "classification" else np.exp(signal / 4)
    return X[:TRAIN_ROWS], y[:TRAIN_ROWS], np.ascontiguousarray(X[TRAIN_ROWS:], dtype=np.float32)


def _skl2onnx(estimator: object, probe: np.ndarray, method: str) -> tuple[Callable | None, str]:
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:
        return None, "skl2onnx not installed"
    try:
        onx = to_onnx(estimator, probe[:10], options={"zipmap": False} if method == "predict_proba" else None)
    except Exception as error:  # any refusal is the row's note
        return None, f"cannot convert: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    index = 1 if method == "predict_proba" else 0
    return (lambda rows: session.run(None, {name: rows})[index]), ""


#: Short calls repeat until they have run this long (up to MAX_CALLS), so that the median of a sub-millisecond
#: call is not that of 7 calls caught in one burst of another process on a shared machine.
MIN_TIMED_SECONDS = 0.3
MAX_CALLS = 1000


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """The median seconds of ``call()`` after a warm-up: ``repeats`` calls, more while they total under
    :data:`MIN_TIMED_SECONDS`."""
    call()
    times: list[float] = []
    while len(times) < repeats or (sum(times) < MIN_TIMED_SECONDS and len(times) < MAX_CALLS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved_seconds(calls: dict[str, Callable[[], object]], repeats: int, rounds: int = 5) -> dict[str, float]:
    """The median seconds of each of ``calls`` after a warm-up, timed in alternating rounds (each call runs its
    share in every round), so that the slow spells of a shared machine fall on all of them alike: per call at
    least ``repeats`` runs, more while they total under :data:`MIN_TIMED_SECONDS` (up to :data:`MAX_CALLS`)."""
    rounds = max(1, min(rounds, repeats))
    per_round = -(-repeats // rounds)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(rounds):
        for name, call in calls.items():
            spent = 0.0
            for count in range(MAX_CALLS // rounds):
                if count >= per_round and spent >= MIN_TIMED_SECONDS / rounds:
                    break
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
                spent += times[name][-1]
    return {name: float(np.median(values)) for name, values in times.items()}


def timed_row(
    model: str,
    batch: int,
    engine: str,
    call: Callable[[object], object],
    rows_in: object,
    expected: np.ndarray,
    base: float | None,
    repeats: int,
    note: str = "",
    seconds: float | None = None,
) -> dict[str, object]:
    """One table row: the median seconds of ``call(rows_in)`` (``repeats`` runs after a warm-up, 3 from 100,000
    rows; or ``seconds``, measured by the caller), rows/s, the ratio to ``base`` (the baseline's seconds; None:
    this is the baseline) and the largest difference from ``expected``."""
    if seconds is None:
        seconds = median_seconds(lambda: call(rows_in), repeats if batch < 100_000 else 3)
    got = np.asarray(call(rows_in), dtype=np.float64).reshape(expected.shape)
    return {
        "model": model,
        "batch": batch,
        "engine": engine,
        "seconds": seconds,
        "rows_per_s": batch / seconds,
        "ratio": (seconds if base is None else base) / seconds,
        "max_diff": float(np.abs(got - expected).max()),
        "note": note,
    }


def run(repeats: int) -> list[dict[str, object]]:
    import sk2tensor

    rows: list[dict[str, object]] = []
    for name, (make, task) in _models().items():
        train, target, probe = _data(task)
        estimator = make().fit(train, target)
        method = "predict_proba" if task == "classification" else "predict"
        start = time.perf_counter()
        compiled = sk2tensor.convert(estimator, probe[:1_000])
        export_seconds = time.perf_counter() - start
        engines: dict[str, Callable | None] = {
            "sklearn": getattr(estimator, method),
            "sk2tensor": getattr(compiled, method),
        }
        peer, note = _skl2onnx(estimator, probe, method)
        engines["skl2onnx + ORT"] = peer
        for batch in BATCHES:
            rows_in = probe[:batch]
            expected = np.asarray(engines["sklearn"](rows_in), dtype=np.float64)
            base = None
            for engine, call in engines.items():
                if call is None:
                    rows.append({"model": name, "batch": batch, "engine": engine, "note": note})
                    continue
                note = f"export {export_seconds:.2f} s" if engine == "sk2tensor" else ""
                rows.append(timed_row(name, batch, engine, call, rows_in, expected, base, repeats, note))
                base = rows[-1]["seconds"] if engine == "sklearn" else base
            print(name, batch, flush=True)
    return rows


def versions() -> str:
    """The versions of sk2tensor, scikit-learn, onnxruntime and skl2onnx in this process."""
    import onnxruntime
    import sklearn

    import sk2tensor

    found = [f"sk2tensor {sk2tensor.__version__}", f"scikit-learn {sklearn.__version__}"]
    found.append(f"onnxruntime {onnxruntime.__version__}")
    try:
        found.append(f"skl2onnx {__import__('skl2onnx').__version__}")
    except ImportError:
        found.append("skl2onnx not installed")
    return ", ".join(found)


def table(rows: list[dict[str, object]]) -> list[str]:
    """The Markdown table of ``rows`` (model, batch, engine and either the timings or a note saying why not)."""
    lines = [
        "| model | batch | engine | seconds | rows/s | x sklearn | max diff | note |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        if "seconds" not in row:
            lines.append(f"| {row['model']} | {row['batch']:,} | {row['engine']} | | | | | {row['note']} |")
            continue
        lines.append(
            f"| {row['model']} | {row['batch']:,} | {row['engine']} | {row['seconds']:.3g} | "
            f"{row['rows_per_s']:,.0f} | {row['ratio']:.2f} | {row['max_diff']:.1e} | {row['note']} |"
        )
    return lines


def report_text(title: str, versions_text: str, explanation: list[str], rows: list[dict[str, object]]) -> str:
    """A timing report: the title and date, the machine, the versions, what the table holds, the table."""
    lines = [
        f"# {title}, {datetime.date.today().isoformat()}",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end.",
        f"Versions: {versions_text}.",
        "",
        *explanation,
        f"Each median is of at least the given repeats and as many more calls as run in {MIN_TIMED_SECONDS} s "
        f"(up to {MAX_CALLS}).",
        "",
        *table(rows),
    ]
    return "\n".join(lines) + "\n"


def report(rows: list[dict[str, object]]) -> str:
    explanation = [
        "Median seconds of one call after a warm-up, same process, same float32 rows (`predict_proba` for",
        "classifiers, `predict` for the regressor). `x sklearn`: sklearn's seconds over the engine's (above 1:",
        "faster). `max diff`: largest difference from sklearn's output on the batch. The sk2tensor note is",
        "`convert()`'s time, its validation on 1,000 rows included.",
    ]
    return report_text("Pipelines with custom functions", versions(), explanation, rows)


def benchmark_main(
    argv: list[str] | None,
    description: str,
    make_report: Callable[..., str],
    kind: str,
    repeats: int,
    quick: str | None = None,
) -> int:
    """The command line of a timing benchmark: ``--repeats``, ``--no-write``, ``--out``; prints the report of
    ``make_report(repeats)`` and writes it to ``<out>/<kind>-<machine>-<date>.md``. With ``quick`` (its help
    text) also ``--quick``: ``make_report(repeats, quick)``, written to ``<kind>-<machine>-quick-<date>.md``."""
    parser = argparse.ArgumentParser(description=description)
    if quick is not None:
        parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--no-write", action="store_true", help="print the report without writing it")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the report")
    args = parser.parse_args(argv)
    fast = quick is not None and args.quick
    text = make_report(args.repeats, fast) if quick is not None else make_report(args.repeats)
    print(text)
    if not args.no_write:
        write_report(text, args.out, kind, *(["quick"] if fast else []))
    return 0


def main(argv: list[str] | None = None) -> int:
    return benchmark_main(argv, __doc__.split("\n\n")[0], lambda repeats: report(run(repeats)), "pipelines", 7)


if __name__ == "__main__":
    raise SystemExit(main())
