"""``python -m benchmarks [--quick] [--device cpu|cuda]``: run every engine on every model, write the results."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import models as model_specs
from benchmarks.engines import engines as all_engines
from benchmarks.report import Memory, markdown, plot
from benchmarks.run import FULL, QUICK, ModelResult, Peak, benchmark_model
from sk2tensor.model import TRAVERSAL_STATE_ELEMENTS, TREE_STATE_ELEMENTS

RESULTS = Path(__file__).parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_slug() -> str:
    """The CPU's make and family for file names: ``amd-epyc``, ``intel-xeon`` (no trademark marks)."""
    name = re.sub(r"\((r|tm)\)", " ", _cpu_name().lower())
    words = [w for w in re.sub(r"[^a-z0-9]+", " ", name).split() if w not in ("processor", "cpu")]
    return "-".join(words[:2]) or "cpu"


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
    # sklearn warns once per tree when forests predict on joblib threads outside its own Parallel.
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn.utils.parallel")
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
    machine = args.tag or (_slug(gpu) if gpu else f"{cpu_slug()}-{cpus}cpu")
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
        "sk2tensor on the CPU: `CompiledModel` splits a batch into chunks of about "
        f"2^{TREE_STATE_ELEMENTS.bit_length() - 1} / trees rows "
        f"(2^{TRAVERSAL_STATE_ELEMENTS.bit_length() - 1} / trees with a `tree_traversal` step; `cpu_chunk_rows`) "
        "and runs them concurrently, "
        "one single-threaded `session.run` per CPU "
        f"(here {cpus}); a batch below 512 rows runs on the calling thread.",
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
    """Peak memory of export and inference for the largest model (most tree nodes), each engine in a fresh
    process (``benchmarks/memory.py``)."""
    if not fitted:
        return []
    name = max(fitted, key=lambda n: model_specs.node_count(fitted[n][0]))
    model, spec, X_test = fitted[name]
    method = "predict_proba" if spec.task == "classification" else "predict"
    found = []
    with tempfile.TemporaryDirectory() as folder:
        model_path, rows_path = Path(folder) / "model.pkl", Path(folder) / "rows.npy"
        with open(model_path, "wb") as file:
            pickle.dump(model, file)
        np.save(rows_path, X_test[:rows])
        for engine, label in (("sk2tensor", f"sk2tensor auto ({device})"), ("skl2onnx", "skl2onnx + ORT (cpu)")):
            command = [sys.executable, "-m", "benchmarks.memory", engine, str(model_path), str(rows_path), method]
            done = subprocess.run([*command, device], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
            if done.returncode != 0:
                print(f"memory of {engine} not measured: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            peaks = [Peak(result[step]["python_heap"], result[step]["process"]) for step in ("export", "inference")]
            found.append(Memory(name, label, peaks[0], peaks[1], result["rows"]))
    return found


if __name__ == "__main__":
    sys.exit(main())
