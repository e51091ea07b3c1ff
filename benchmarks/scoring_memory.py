"""Bounded-memory batch scoring: ``sk2tensor predict`` on a 5-million-row Parquet file, peak RSS and rows/s.

    python benchmarks/scoring_memory.py [--rows 5000000] [--bound-mib 1024] [--keep DIR]

Generates the data in chunks (28 float64 columns, written with pyarrow's ParquetWriter, never whole in memory),
fits and exports the DESIGN.md forest (100 trees of depth 8, binary), then runs ``sk2tensor predict`` on it as a
subprocess for each output format and reads the child's peak resident set size from
``resource.getrusage(RUSAGE_CHILDREN)`` (each run in a fresh helper process, so that one run's peak does not
hide the next). Writes ``benchmarks/results/scoring-memory-<date>.md``; exits 1 when a run goes past the bound.
The data is written to a temporary directory and deleted afterwards (``--keep DIR`` keeps it there).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.__main__ import cpu_slug

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FEATURES = 28
CHUNK_ROWS = 250_000
DEFAULT_ROWS = 5_000_000
DEFAULT_BOUND_MIB = 1024


def generate(directory: Path, rows: int, kinds: list[str]) -> dict[str, Path]:
    """``rows`` rows of 28 float64 features, a chunk of CHUNK_ROWS at a time, in each of ``kinds``:
    Parquet (a row group per chunk), CSV with a header, and ``.npy`` (its header, then the chunks appended)."""
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(FEATURES)]
    schema = pa.schema([(name, pa.float64()) for name in names])
    paths = {kind: directory / f"rows.{kind}" for kind in kinds}
    parquet = pq.ParquetWriter(paths["parquet"], schema) if "parquet" in paths else None
    text = pv.CSVWriter(str(paths["csv"]), schema) if "csv" in paths else None
    npy = paths["npy"].open("wb") if "npy" in paths else None
    if npy is not None:
        np.lib.format.write_array_header_1_0(npy, {"descr": "<f8", "fortran_order": False, "shape": (rows, FEATURES)})
    for start in range(0, rows, CHUNK_ROWS):
        chunk = rng.normal(size=(min(CHUNK_ROWS, rows - start), FEATURES))
        table = pa.Table.from_arrays(list(chunk.T), schema=schema)
        if parquet is not None:
            parquet.write_table(table)
        if text is not None:
            text.write_table(table)
        if npy is not None:
            chunk.tofile(npy)
    for writer in (parquet, text, npy):
        if writer is not None:
            writer.close()
    return paths


def export_forest(path: Path) -> str:
    from sklearn.ensemble import RandomForestClassifier

    import sk2tensor

    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, FEATURES))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=-1).fit(X, y)
    compiled = sk2tensor.convert(forest, X[:2000])
    compiled.save(path)
    return ", ".join(f"{k}={v}" for k, v in compiled.strategy.items())


_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
print(json.dumps({"rc": done.returncode, "seconds": seconds, "peak_kib": peak_kib,
                  "stdout": done.stdout, "stderr": done.stderr}))
"""


def measure(command: list[str]) -> dict:
    """Run ``command`` under a fresh helper, so that RUSAGE_CHILDREN's maximum is this command's alone."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def sk2tensor_command() -> list[str]:
    script = Path(sys.executable).with_name("sk2tensor")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sk2tensor.cli"]


def write_report(text: str, directory: Path, kind: str, *tags: str) -> Path:
    """Write ``text`` to ``directory/<kind>-<machine>[-<tag>...]-<date>.md`` and say so on stderr."""
    path = directory / f"{'-'.join([kind, cpu_slug(), *tags])}-{datetime.date.today().isoformat()}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}", file=sys.stderr)
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {cores} cores{memory}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--bound-mib", type=int, default=DEFAULT_BOUND_MIB, help="peak RSS bound per run")
    parser.add_argument(
        "--inputs",
        default="parquet,csv,npy",
        help="input formats (the first one is scored into every output format, the others into Parquet)",
    )
    parser.add_argument("--outputs", default="parquet,csv,npy", help="output formats")
    parser.add_argument("--keep", type=Path, help="directory to keep the data and outputs in")
    parser.add_argument("--no-write", action="store_true", help="print the report without writing it")
    args = parser.parse_args(argv)

    import onnxruntime
    import pyarrow
    import sklearn

    import sk2tensor

    work = args.keep or Path(tempfile.mkdtemp(prefix="sk2tensor-scoring-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs, outputs = args.inputs.split(","), args.outputs.split(",")
        model = work / "forest.onnx"
        start = time.perf_counter()
        datas = generate(work, args.rows, inputs)
        generated = time.perf_counter() - start
        strategy = export_forest(model)
        sizes = {kind: path.stat().st_size / 1024**2 for kind, path in datas.items()}
        print(f"data: {sizes} MiB in {generated:.1f} s; model: {strategy}", flush=True)
        baseline = measure([*sk2tensor_command(), "inspect", str(model), "--no-providers"])
        load_before = os.getloadavg()
        pairs = [(inputs[0], fmt) for fmt in outputs] + [(kind, "parquet") for kind in inputs[1:]]
        runs = []
        for source, fmt in pairs:
            out = work / f"scores.{fmt}"
            command = [*sk2tensor_command(), "predict", str(model), str(datas[source]), "-o", str(out)]
            result = measure([*command, "-m", "predict_proba"])
            if result["rc"] != 0:
                print(result["stderr"], file=sys.stderr)
                return 1
            peak_mib = result["peak_kib"] / 1024
            runs.append(
                {
                    "input": source,
                    "format": fmt,
                    "seconds": result["seconds"],
                    "rows_per_second": args.rows / result["seconds"],
                    "peak_mib": peak_mib,
                    "output_mib": out.stat().st_size / 1024**2,
                    "cli_line": result["stdout"].splitlines()[0],
                }
            )
            print(f"{source} -> {fmt}: {runs[-1]}", flush=True)
            out.unlink()
        load_after = os.getloadavg()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    in_memory_mib = args.rows * FEATURES * 8 / 1024**2
    passed = all(run["peak_mib"] < args.bound_mib for run in runs)
    today = datetime.date.today().isoformat()
    lines = [
        f"# Scoring memory: `sk2tensor predict` on {args.rows:,} rows ({today})",
        "",
        f"- Machine: {machine()}; no GPU used (`--device` auto on a CPU-only onnxruntime).",
        f"- Versions: sk2tensor {sk2tensor.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"pyarrow {pyarrow.__version__}, scikit-learn {sklearn.__version__}, Python {platform.python_version()}.",
        f"- Data: {args.rows:,} rows x {FEATURES} float64 columns ({in_memory_mib:,.0f} MiB as one float64 array), "
        f"generated in chunks of {CHUNK_ROWS:,} rows; on disk: "
        + ", ".join(f"{kind} {mib:,.0f} MiB" for kind, mib in sizes.items())
        + ".",
        f"- Model: RandomForestClassifier, 100 trees of depth 8, binary, exported with sk2tensor ({strategy}).",
        "- Command: `sk2tensor predict forest.onnx rows.<in> -o scores.<out> -m predict_proba` "
        "(default batch of 65,536 rows), run as a subprocess. Scoring s and rows/s are the CLI's own figures "
        "(reading, scoring and writing, after start-up); wall s adds the interpreter's start-up and imports. "
        "Peak RSS is the child's `ru_maxrss` (`resource.getrusage(RUSAGE_CHILDREN)`).",
        f"- Bound: peak RSS < {args.bound_mib:,} MiB per run: **{'met' if passed else 'NOT met'}**. For scale, "
        f"`sk2tensor inspect` on the same model (imports and one model, no data) peaks at "
        f"{baseline['peak_kib'] / 1024:,.0f} MiB.",
        f"- Load average (1 min) before and after the runs: {load_before[0]:.1f} and {load_after[0]:.1f} "
        f"on {os.cpu_count()} CPUs (other work on the machine slows the rows/s figures, not the memory ones).",
        "",
        "| input | output | scoring s | rows/s | wall s with start-up | peak RSS MiB | output MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        found = re.search(r" in ([0-9.]+) s \(([0-9,]+) rows/s", run["cli_line"])
        scoring, rate = float(found.group(1)), int(found.group(2).replace(",", ""))
        lines.append(
            f"| {run['input']} | {run['format']} | {scoring:.2f} | {rate:,} | "
            f"{run['seconds']:.1f} | {run['peak_mib']:,.0f} | {run['output_mib']:,.0f} |"
        )
    lines += ["", "The CLI's own summary lines:", ""]
    lines += [f"- {run['input']} -> {run['format']}: `{run['cli_line']}`" for run in runs]
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        target = RESULTS / f"scoring-memory-{today}.md"
        target.write_text(report)
        print(f"wrote {target}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
