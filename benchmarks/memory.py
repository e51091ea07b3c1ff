"""Peak memory of export and inference, measured in a fresh process so that its resident set starts small.

``python -m benchmarks.memory ENGINE MODEL.pkl ROWS.npy METHOD DEVICE`` prints one JSON object; the benchmark
runs it once per engine on its largest model (a temporary pickle it wrote itself). Each step is measured from
the memory in use just before it: the model and the rows are loaded first.
"""

from __future__ import annotations

import gc
import json
import pickle
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _proc_status(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM) of this process; Linux only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(step: Callable[[], Any], python_heap: bool) -> tuple[Any, dict[str, int | None]]:
    """Run ``step``; its peak Python heap (tracemalloc) and peak resident-set growth, in bytes."""
    gc.collect()
    can_reset = _reset_peak_rss()
    before = _proc_status("VmRSS")
    if python_heap:
        tracemalloc.start()
    try:
        result = step()
        traced = tracemalloc.get_traced_memory()[1] if python_heap else None
    finally:
        if python_heap:
            tracemalloc.stop()
    peak = _proc_status("VmHWM")
    rss = peak - before if can_reset and peak is not None and before is not None else None
    return result, {"python_heap": traced, "process": rss}


def main(argv: list[str]) -> int:
    engine, model_path, rows_path, method, device = argv
    with open(model_path, "rb") as file:
        model = pickle.load(file)  # a file the benchmark wrote a moment ago
    X = np.load(rows_path)
    sample = X[:2000]
    if engine == "sk2tensor":
        import sk2tensor

        compiled, export = measure(lambda: sk2tensor.convert(model, sample, device=device), python_heap=True)
        _, inference = measure(lambda: getattr(compiled, method)(X), python_heap=True)
    else:  # skl2onnx: its conversion of big forests is far too slow under tracemalloc, so process only
        import onnxruntime as ort
        from skl2onnx import to_onnx

        options = {id(model): {"zipmap": False}} if method == "predict_proba" else None

        def export_peer() -> Any:
            onx = to_onnx(model, sample[:1], options=options)
            return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])

        session, export = measure(export_peer, python_heap=False)
        _, inference = measure(lambda: session.run(None, {session.get_inputs()[0].name: X}), python_heap=False)
    print(json.dumps({"export": export, "inference": inference, "rows": len(X)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
