"""``python -m benchmarks [--quick] [--device cpu|cuda]``: run every engine on every model, write the results."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks import models as model_specs
from benchmarks.engines import engines as all_engines
from benchmarks.report import Memory, markdown, plot
from benchmarks.run import FULL, QUICK, ModelResult, benchmark_model, measure_peak

RESULTS = Path(__file__).parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _gpu_name() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _versions() -> str:
    import onnx
    import onnxruntime
    import sklearn

    import sk2tensor

    found = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"onnx {onnx.__version__}",
        f"onnxruntime {onnxruntime.__version__}",
        f"sk2tensor {sk2tensor.__version__}",
    ]
    for module in ("skl2onnx", "hummingbird", "torch"):
        try:
            found.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            found.append(f"{module} not installed")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "sk2tensor"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            found.append(f"git {commit.stdout.strip()}{' + local changes' if dirty.stdout.strip() else ''}")
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="three models, batches up to 10,000, few repeats")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where sk2tensor and peers run")
    parser.add_argument("--models", default="", help="only models whose name contains this text")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the .md and .png")
    parser.add_argument("--tag", default="", help="machine name in the file names (default: from the CPU / GPU)")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else FULL
    if args.device == "cuda" and not args.quick:
        settings = replace(settings, batches=(*settings.batches, 1_000_000), max_call_seconds=20.0)
    specs = [s for s in model_specs.MODELS if (s.in_quick or not args.quick) and args.models.lower() in s.name.lower()]
    if not specs:
        parser.error(f"no model matches {args.models!r}")
    engines = all_engines(args.device)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = _gpu_name() if args.device == "cuda" else None
    machine = args.tag or _slug(f"{gpu}" if gpu else f"{_cpu_name()} {cpus}cpu")
    date = datetime.date.today().isoformat()
    load_start = os.getloadavg()
    started = time.perf_counter()

    results: list[ModelResult] = []
    fitted = {}
    for spec in specs:
        X_train, y_train, X_test = model_specs.make_data(spec.task, max(settings.batches))
        model = spec.make()
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - start
        description = model_specs.describe(model)
        print(f"[{time.perf_counter() - started:6.0f} s] {spec.name}: {description}", flush=True)
        rows, export = benchmark_model(spec.name, model, spec.task, X_test, engines, args.device, settings)
        results.append(ModelResult(spec.name, type(model).__name__, description, spec.task, fit_seconds, export, rows))
        fitted[spec.name] = (model, spec, X_test)
        for row in rows:
            if row.median is not None and row.batch == max(settings.batches):
                print(f"    {row.engine:40s} {row.median:8.4f} s  {row.ratio or 0:6.2f}x  {row.strategy}", flush=True)

    memory = _memory(fitted, settings.batches[-1], args.device)
    load_end = os.getloadavg()
    header = {
        "machine": machine,
        "date": date,
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": f"{_cpu_name()}, {cpus} CPUs usable, {_memory_gib()} RAM" + (f", GPU {gpu}" if gpu else ""),
        "device": args.device,
        "software": _versions(),
        "load average (1 min) at start / end": f"{load_start[0]:.2f} / {load_end[0]:.2f}",
        "wall time": f"{time.perf_counter() - started:.0f} s",
    }
    notes = [
        "Every ratio and every figure above comes from this one run, in one process, on the same rows.",
        "sk2tensor on the CPU: `CompiledModel` splits a batch into chunks of "
        "`DEFAULT_CHUNK_ROWS` rows and runs them concurrently, one single-threaded `session.run` per CPU "
        f"(here {cpus}); a batch of one runs on one thread.",
        "sklearn `n_jobs` applies to forests (joblib threads over trees); HistGradientBoosting uses OpenMP "
        "threads over rows (limited to 1 for the `n_jobs=1` row); GradientBoosting predicts on one thread "
        "whatever `n_jobs` says.",
        "skl2onnx + ORT: `to_onnx` with `zipmap=False`, `TreeEnsemble*` operators of `ai.onnx.ml`, one "
        "`session.run` per call with ONNX Runtime's default threads.",
        "An engine is skipped on a batch where one call is projected (from the previous batch) to exceed the "
        "per-call limit; a refused strategy is a row with the reason.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{machine}-{date}" + ("-quick" if args.quick else "")
    md_path = args.out / f"{stem}.md"
    png = plot(results, args.out / f"{stem}.png", f"sk2tensor benchmark: {machine}, {date} ({args.device})")
    if png is not None:
        notes.append(f"Plot: `{png.name}` (throughput against batch size, one line per engine).")
    md_path.write_text(markdown(results, memory, header, args.device, notes))
    print(f"wrote {md_path}" + (f" and {png}" if png else ""))
    return 0


def _memory(fitted: dict, rows: int, device: str) -> list[Memory]:
    """Peak memory of export and inference for the largest model (most tree nodes), sk2tensor and skl2onnx."""
    import sk2tensor

    if not fitted:
        return []
    name = max(fitted, key=lambda n: model_specs.node_count(fitted[n][0]))
    model, spec, X_test = fitted[name]
    X = X_test[:rows]
    method = "predict_proba" if spec.task == "classification" else "predict"
    found = []
    compiled, export = measure_peak(lambda: sk2tensor.convert(model, X_test[:2000], device=device))
    _, inference = measure_peak(partial(getattr(compiled, method), X))
    found.append(Memory(name, f"sk2tensor auto ({device})", export, inference, len(X)))
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
    except ImportError:
        return found
    options = {id(model): {"zipmap": False}} if spec.task == "classification" else None

    def export_peer():
        onx = to_onnx(model, X_test[:1], options=options)
        return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])

    session, export = measure_peak(export_peer)
    _, inference = measure_peak(lambda: session.run(None, {session.get_inputs()[0].name: X}))
    found.append(Memory(name, "skl2onnx + ORT (cpu)", export, inference, len(X)))
    return found


if __name__ == "__main__":
    sys.exit(main())
