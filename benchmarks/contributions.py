"""Per-feature contributions (TreeSHAP): sk2tensor's graph beside shap's TreeExplainer and the libraries' own.

    python -m benchmarks.contributions [--device cpu|cuda] [--repeats 5] [--no-write]

For each model (28 features, 20,000 training rows, binary target): sk2tensor's export with
``contributions=True`` on ONNX Runtime (``CompiledModel.contributions``), ``shap.TreeExplainer`` (its C++
TreeSHAP) when shap is installed, and for XGBoost and LightGBM models their own ``pred_contribs`` /
``pred_contrib``, all in this process on the same rows, at batches of 1, 100 and 1,000 rows (and 10,000 with
``--device cuda``). Reports the median seconds of a call after a warm-up, rows/s, the ratio to shap (or to the
library's own where shap is missing), and the largest difference from the reference values. Writes
``benchmarks/results/contributions-<machine>-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pipelines import median_seconds
from benchmarks.scoring_memory import machine, write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FEATURES = 28
TRAIN_ROWS = 20_000
#: Larger batches are skipped once one would take longer than this with its repeats.
MAX_STEP_SECONDS = 120.0


def _models() -> dict[str, Callable[[], object]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    models: dict[str, Callable[[], object]] = {
        "RF 100 x depth 8": lambda: RandomForestClassifier(100, max_depth=8, random_state=0, n_jobs=-1),
        "RF 100 x unlimited depth": lambda: RandomForestClassifier(100, random_state=0, n_jobs=-1),
        "HGB 100 iterations": lambda: HistGradientBoostingClassifier(max_iter=100, random_state=0),
    }
    try:
        import xgboost

        models["XGBoost 100 x depth 8"] = lambda: xgboost.XGBClassifier(n_estimators=100, max_depth=8, n_jobs=1)
    except ImportError:
        pass
    try:
        import lightgbm

        models["LightGBM 100 x 31 leaves"] = lambda: lightgbm.LGBMClassifier(n_estimators=100, verbose=-1, n_jobs=1)
    except ImportError:
        pass
    return models


def _native(estimator: object) -> Callable[[np.ndarray], np.ndarray] | None:
    module = type(estimator).__module__.split(".")[0]
    if module == "xgboost":
        import xgboost

        booster = estimator.get_booster()
        return lambda rows: booster.predict(xgboost.DMatrix(rows), pred_contribs=True)
    if module == "lightgbm":
        return lambda rows: estimator.predict(rows, pred_contrib=True)
    return None


def _shap(estimator: object) -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import shap
    except ImportError:
        return None
    explainer = shap.TreeExplainer(estimator)
    return lambda rows: explainer.shap_values(rows, check_additivity=False)


def _as_features(values: object, n_rows: int) -> np.ndarray:
    """Any engine's output as ``[rows, features]`` for the positive class (or the one output)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3 and array.shape[1] == FEATURES:  # shap [rows, F, classes]
        return array[:, :, -1]
    if array.ndim == 3:  # sk2tensor [rows, classes, F + 1]
        return array[:, -1, :FEATURES]
    return array.reshape(n_rows, -1)[:, :FEATURES]


def run(device: str, repeats: int) -> list[dict[str, object]]:
    import sk2tensor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(TRAIN_ROWS + 10_000, FEATURES))
    y = (X[:, :6].sum(axis=1) + np.sin(3 * X[:, 6]) > 0).astype(int)
    train, probe = X[:TRAIN_ROWS], np.ascontiguousarray(X[TRAIN_ROWS:], dtype=np.float32)
    batches = [1, 100, 1_000] + ([10_000] if device == "cuda" else [])
    rows: list[dict[str, object]] = []
    for name, make in _models().items():
        estimator = make().fit(train, y[:TRAIN_ROWS])
        start = time.perf_counter()
        compiled = sk2tensor.convert(estimator, probe[:200], contributions=True, device=device)
        export_seconds = time.perf_counter() - start
        engines: dict[str, Callable[[np.ndarray], object]] = {"sk2tensor": compiled.contributions}
        shap_call = _shap(estimator)
        if shap_call is not None:
            engines["shap TreeExplainer"] = shap_call
        native = _native(estimator)
        if native is not None:
            engines["library's own"] = native
        reference_name = "shap TreeExplainer" if shap_call is not None else "library's own"
        reference = engines.get(reference_name)
        expected = _as_features(reference(probe[:1_000]), 1_000) if reference is not None else None
        for batch in batches:
            seconds = {
                engine: median_seconds(lambda c=call, b=batch: c(probe[:b]), repeats)
                for engine, call in engines.items()
            }
            for engine, value in seconds.items():
                difference = ""
                if expected is not None and batch <= 1_000:
                    got = _as_features(engines[engine](probe[:batch]), batch)
                    difference = f"{np.abs(got - expected[:batch]).max():.1e}"
                base = seconds.get(reference_name)
                rows.append(
                    {
                        "model": name,
                        "batch": batch,
                        "engine": engine,
                        "seconds": value,
                        "rows_per_s": batch / value,
                        "ratio": "" if base is None else f"{value / base:.2f}",
                        "max_diff": difference,
                        "export_s": f"{export_seconds:.1f}" if engine == "sk2tensor" else "",
                    }
                )
            print(name, batch, {k: f"{v * 1e3:.2f} ms" for k, v in seconds.items()}, flush=True)
            if max(seconds.values()) * 10 * (repeats + 1) > MAX_STEP_SECONDS:
                break  # the next batch (10x the rows) would take too long with this many repeats
    return rows


def report(rows: list[dict[str, object]], device: str) -> str:
    import onnxruntime
    import sklearn

    import sk2tensor

    versions = [f"sk2tensor {sk2tensor.__version__}", f"scikit-learn {sklearn.__version__}"]
    versions.append(f"onnxruntime {onnxruntime.__version__}")
    for module in ("shap", "xgboost", "lightgbm"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
    lines = [
        f"# Contributions (TreeSHAP), {datetime.date.today().isoformat()}",
        "",
        f"Machine: {machine()}; device {device}; load average {os.getloadavg()[0]:.2f} at the end.",
        f"Versions: {', '.join(versions)}.",
        "",
        "Median seconds of one call after a warm-up, same process, same float32 rows. `ratio`: seconds over the",
        "reference's (shap's TreeExplainer, or the library's own without shap). `max diff`: largest difference",
        "from the reference's values for the positive class, over the batch. `export s`: `convert(...,",
        "contributions=True)` with its validation on 200 rows.",
        "",
        "| model | batch | engine | seconds | rows/s | ratio | max diff | export s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['batch']:,} | {row['engine']} | {row['seconds']:.3g} | "
            f"{row['rows_per_s']:,.0f} | {row['ratio']} | {row['max_diff']} | {row['export_s']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the report without writing it")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the report")
    args = parser.parse_args(argv)
    text = report(run(args.device, args.repeats), args.device)
    print(text)
    if not args.no_write:
        write_report(text, args.out, "contributions", args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
