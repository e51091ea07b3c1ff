"""File sizes of the benchmark's tree models: sk2tensor's exports beside skl2onnx's, and what compaction costs.

    python -m benchmarks.sizes [--models TEXT] [--repeats 7] [--no-write] [--out DIR]

For each model of ``benchmarks/models.py`` (fitted as ``python -m benchmarks`` fits them): bytes of the ``.onnx``
file, raw and gzip-compressed (level 6, what a web server sends), for

* sk2tensor as it exports by default (tables in the narrowest exact type, :func:`sk2tensor.graph.narrowest_exact`);
* the same graph with every table at full width (what sk2tensor wrote before compaction);
* ``leaf_dtype="float32"`` (leaf values rounded to float32);
* skl2onnx's ``TreeEnsemble`` graph (``zipmap=False``) when installed.

In the same process, the compact and full-width graphs are loaded and timed on 10,000 rows (median of
``--repeats`` calls after a warm-up, one ONNX Runtime thread): the load ratio and the run ratio show what the
narrow tables cost at run time. Outputs of the two must be equal bit for bit; the float32-leaf export's largest
difference from sklearn and its label agreement are reported. Writes ``benchmarks/results/sizes-<machine>-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.models import MODELS, describe, make_data
from benchmarks.pipelines import median_seconds, versions
from benchmarks.scoring_memory import machine, write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TIMED_ROWS = 10_000
#: Rows the exports are validated on.
VALIDATION_ROWS = 2_000


def _sizes(model: Any) -> tuple[int, int]:
    raw = model.SerializeToString()
    return len(raw), len(gzip.compress(raw, compresslevel=6))


def _full_width(estimator: Any, X: np.ndarray) -> Any:
    """sk2tensor's export with every table at its full width (compaction off)."""
    import sk2tensor
    from sk2tensor import graph

    saved = graph.COMPACT_MIN_SAVED_BYTES
    graph.COMPACT_MIN_SAVED_BYTES = 2**62
    try:
        return sk2tensor.convert(estimator, X)
    finally:
        graph.COMPACT_MIN_SAVED_BYTES = saved


def _skl2onnx(estimator: Any, X: np.ndarray) -> tuple[Any | None, str]:
    try:
        from skl2onnx import to_onnx
    except ImportError:
        return None, "skl2onnx not installed"
    if type(estimator).__module__.split(".")[0] != "sklearn":
        return None, "skl2onnx converts scikit-learn models only"
    options = {"zipmap": False} if hasattr(estimator, "classes_") else None
    try:
        return to_onnx(estimator, X[:1], options=options), ""  # as benchmarks/engines.py converts
    except Exception as error:  # any refusal is the row's note
        return None, f"cannot convert: {type(error).__name__}: {str(error).splitlines()[0][:60]}"


def _session(model: Any) -> tuple[Any, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    start = time.perf_counter()
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, time.perf_counter() - start


def _load_seconds(model: Any, repeats: int) -> float:
    return float(np.median([_session(model)[1] for _ in range(repeats)]))


def measure(name: str, make: Callable[[], Any], task: str, repeats: int) -> dict[str, Any]:
    """One model's row: sizes of each export, compact against full-width timings, float32-leaf fidelity."""
    import sk2tensor

    X_train, y_train, X_test = make_data(task, TIMED_ROWS)
    estimator = make().fit(X_train, y_train)
    sample = X_test[:VALIDATION_ROWS]
    compact, wide = sk2tensor.convert(estimator, sample), _full_width(estimator, sample)
    rounded = sk2tensor.convert(estimator, sample, leaf_dtype="float32")
    peer, note = _skl2onnx(estimator, X_train)
    row: dict[str, Any] = {
        "model": name,
        "shape": describe(estimator),
        "compact": _sizes(compact.onnx),
        "wide": _sizes(wide.onnx),
        "float32_leaves": _sizes(rounded.onnx),
        "skl2onnx": _sizes(peer) if peer is not None else None,
        "note": note,
    }
    sessions = {key: _session(model.onnx)[0] for key, model in (("compact", compact), ("wide", wide))}
    feed = {"input": X_test}
    outputs = {key: session.run(None, feed) for key, session in sessions.items()}
    if not all(np.array_equal(a, b) for a, b in zip(outputs["compact"], outputs["wide"], strict=True)):
        raise AssertionError(f"{name}: the compact export's outputs differ from the full-width one's")
    seconds = {key: median_seconds(lambda s=session: s.run(None, feed), repeats) for key, session in sessions.items()}
    row["run_ratio"] = seconds["compact"] / seconds["wide"]
    row["load_ratio"] = _load_seconds(compact.onnx, repeats) / _load_seconds(wide.onnx, repeats)
    method = "predict_proba" if task == "classification" else "predict"
    reference = getattr(estimator, method)(X_test)
    row["float32_diff"] = float(np.max(np.abs(getattr(rounded, method)(X_test) - reference)))
    row["float32_labels"] = (
        float(np.mean(rounded.predict(X_test) == estimator.predict(X_test))) if task == "classification" else None
    )
    return row


def _mb(size: tuple[int, int] | None) -> str:
    return "" if size is None else f"{size[0] / 1e6:.3f} / {size[1] / 1e6:.3f}"


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# File sizes of tree exports, {datetime.date.today().isoformat()}",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end.",
        f"Versions: {versions()}.",
        "",
        "Megabytes of the `.onnx` file, raw / gzip level 6. `compact`: sk2tensor's default export (tables in the",
        "narrowest type that holds them bit for bit, widened by Casts ONNX Runtime folds at load); `full width`:",
        'the same graph with every table at full width; `float32 leaves`: `leaf_dtype="float32"`; `skl2onnx`: its',
        "`TreeEnsemble` graph (no ZipMap). `x full`: compact raw size over full-width raw size.",
        f"`load` and `run`: compact over full width in this process (median session creation; median run on "
        f"{TIMED_ROWS:,} rows, one thread; outputs equal bit for bit). `float32 leaves vs sklearn`: largest",
        "difference of `predict_proba` (classifiers) or `predict` (regressors) on those rows, and label agreement.",
        "",
        "| model | compact | full width | x full | float32 leaves | skl2onnx | load | run "
        "| float32 leaves vs sklearn |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        labels = "" if row["float32_labels"] is None else f", labels {row['float32_labels']:.4%}"
        peer = _mb(row["skl2onnx"]) or row["note"]
        lines.append(
            f"| {row['model']} ({row['shape']}) | {_mb(row['compact'])} | {_mb(row['wide'])} | "
            f"{row['compact'][0] / row['wide'][0]:.2f} | {_mb(row['float32_leaves'])} | {peer} | "
            f"{row['load_ratio']:.2f} | {row['run_ratio']:.2f} | {row['float32_diff']:.1e}{labels} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="", help="only the models whose name contains this text")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print the report without writing it")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the report")
    args = parser.parse_args(argv)
    rows = []
    for spec in MODELS:
        if args.models.lower() in spec.name.lower():
            print(spec.name, flush=True)
            rows.append(measure(spec.name, spec.make, spec.task, args.repeats))
    text = report(rows)
    print(text)
    if not args.no_write:
        write_report(text, args.out, "sizes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
