"""``python -m sk2tensor.demo`` (what ``make demo`` runs): export two models and compare them with sklearn.

It fits a random forest and a ``StandardScaler`` + ``LogisticRegression`` pipeline on the breast cancer data
that scikit-learn ships (no network needed), exports both with :func:`sk2tensor.convert` (which validates
each export against sklearn on the held-out rows), saves the ``.onnx`` files, and prints one table row per
model: ``predict_proba`` throughput of sklearn and of the export, their ratio, the largest probability
difference and the label agreement.

The data set has 569 rows, too few to time anything: the timing rows are the held-out rows drawn again with
replacement, with Gaussian noise of 1% of each feature's standard deviation added, as float32 (what the
export reads). Each figure is the median of a few runs after one warm-up run, all in this process.

Any failure ends the demo with a one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Rows the throughput is measured on.
TIMING_ROWS = 100_000
#: Timed runs per engine (after one warm-up run); the median is reported.
REPEATS = 5
#: Noise added to the resampled timing rows, as a fraction of each feature's standard deviation.
NOISE = 0.01
SEED = 0


@dataclass(frozen=True)
class Result:
    """One row of the demo's table."""

    model: str
    path: Path
    rows: int
    sklearn_seconds: float
    export_seconds: float
    max_proba_diff: float
    label_agreement: float

    @property
    def ratio(self) -> float:
        return self.sklearn_seconds / self.export_seconds


def load_data(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The breast cancer data with string labels (``"malignant"``/``"benign"``), split 75/25."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    labels = np.asarray(data.target_names)[data.target]
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, labels, test_size=0.25, random_state=seed, stratify=labels
    )
    return X_train, X_test, y_train, y_test


def build_models(seed: int = SEED) -> dict[str, Any]:
    """The two unfitted models, by the file stem they are saved under."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        # n_jobs=1: sklearn's throughput below is that of one thread.
        "random_forest": RandomForestClassifier(n_estimators=100, max_depth=8, n_jobs=1, random_state=seed),
        "scaler_logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    }


def timing_rows(source: np.ndarray, rows: int, seed: int = SEED) -> np.ndarray:
    """``rows`` rows drawn from ``source`` with replacement, plus small Gaussian noise, as float32."""
    rng = np.random.default_rng(seed)
    picked = source[rng.integers(len(source), size=rows)]
    noise = rng.normal(size=picked.shape) * (NOISE * source.std(axis=0))
    return np.ascontiguousarray(picked + noise, dtype=np.float32)


def median_seconds(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls after one warm-up call, and the last call's result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(name: str, path: Path, estimator: Any, compiled: Any, X: np.ndarray, repeats: int) -> Result:
    """Time ``predict_proba`` of sklearn and of the export on ``X``, and compare their outputs there."""
    sklearn_seconds, reference = median_seconds(lambda: estimator.predict_proba(X), repeats)
    export_seconds, got = median_seconds(lambda: compiled.predict_proba(X), repeats)
    agreement = float(np.mean(np.asarray(estimator.predict(X)) == np.asarray(compiled.predict(X))))
    max_diff = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(reference, np.float64))))
    return Result(name, path, len(X), sklearn_seconds, export_seconds, max_diff, agreement)


def format_table(results: Sequence[Result]) -> str:
    """The results as an aligned text table."""
    header = ("model", "rows", "sklearn rows/s", "sk2tensor rows/s", "ratio", "max |diff| proba", "label agreement")
    body = [
        (
            r.model,
            f"{r.rows:,}",
            f"{r.rows / r.sklearn_seconds:,.0f}",
            f"{r.rows / r.export_seconds:,.0f}",
            f"{r.ratio:.2f}x",
            f"{r.max_proba_diff:.2g}",
            f"{r.label_agreement:.4%}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))])

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in body)])


def run(*, rows: int, repeats: int, output: Path, device: str, out: Any = None) -> list[Result]:
    """Fit, export, validate, save and time both models; print what happens to ``out`` (default stdout)."""
    import onnxruntime
    import sklearn

    import sk2tensor

    out = sys.stdout if out is None else out
    X_train, X_test, y_train, _ = load_data()
    n_rows = len(X_train) + len(X_test)
    print(
        f"sk2tensor {sk2tensor.__version__} demo: breast cancer data shipped with scikit-learn "
        f"({n_rows} rows, {X_train.shape[1]} features, labels {', '.join(sorted({str(label) for label in y_train}))})",
        file=out,
    )
    print(
        f"fitted on {len(X_train)} rows; each export is checked against sklearn on the {len(X_test)} held-out rows",
        file=out,
    )
    output.mkdir(parents=True, exist_ok=True)
    X = timing_rows(X_test, rows)
    results = []
    for name, estimator in build_models().items():
        estimator.fit(X_train, y_train)
        compiled = sk2tensor.convert(estimator, X_test, device=device)
        path = compiled.save(output / f"{name}.onnx")
        report = compiled.validation
        print(
            f"  {name}: saved {path} ({path.stat().st_size / 1024:,.0f} KiB); validation "
            f"{'passed' if report.passed else 'FAILED'}, max |diff| proba {report['predict_proba'].max_abs_diff:.2g} "
            f"(tolerance {report['predict_proba'].tolerance:.0e}), label agreement {report.label_agreement:.2%}",
            file=out,
        )
        results.append(measure(name, path, estimator, compiled, X, repeats))
    provider = compiled.session.get_providers()[0]
    print(
        f"\npredict_proba on {rows:,} rows (held-out rows resampled with {NOISE:.0%} Gaussian noise, float32), "
        f"median of {repeats} runs after a warm-up;\nsklearn {sklearn.__version__} (forest n_jobs=1) vs "
        f"onnxruntime {onnxruntime.__version__} {provider} (default threads, {os.cpu_count()} cores visible)\n",
        file=out,
    )
    print(format_table(results), file=out)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sk2tensor.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=TIMING_ROWS, help="rows to time on (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per engine (default %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="folder for the .onnx files")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where the exports run")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be at least 1")
    try:
        run(rows=args.rows, repeats=args.repeats, output=args.output, device=args.device)
    except Exception as error:  # the demo reports any failure as one line, never a traceback
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"sk2tensor demo failed: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
