"""Scoring a Parquet directory in-process, on Ray Data and on Spark, on this machine: rows/s side by side.

    python -m benchmarks.distributed [--rows 20000000] [--files 20] [--engines inprocess,ray,spark] [--keep DIR]

Generates ``--rows`` rows of 28 float32 columns as a directory of ``--files`` Parquet files (in chunks, never whole
in memory), fits and exports the DESIGN.md forest (100 trees of depth 8, binary), then scores the directory's
``predict_proba`` with each engine into a Parquet directory of its own:

* ``inprocess``: :func:`sk2tensor.scoring.score_file` on each file in turn (one process; ``CompiledModel`` runs
  its chunks on every CPU);
* ``ray``: :func:`sk2tensor.ray.predict_parquet` on a local Ray with every CPU;
* ``spark``: :func:`sk2tensor.spark.predict_parquet` on ``local[N]`` with N = every CPU.

Each engine's time includes reading the Parquet files and writing the results, not starting the engine (Ray
and Spark are started, and warmed up on a small directory, before the clock starts). The scores are checked:
every engine must write ``--rows`` rows whose probabilities sum to the in-process sum (to 1e-9 relative:
the order of the float64 summation differs). Writes ``benchmarks/results/distributed-<machine>-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.__main__ import cpu_slug
from benchmarks.scoring_memory import export_forest, machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FEATURES = 28
CHUNK_ROWS = 500_000
ENGINES = ("inprocess", "ray", "spark")
METHOD = "predict_proba"


def generate(directory: Path, rows: int, files: int) -> None:
    """``rows`` rows of FEATURES float32 columns, spread over ``files`` Parquet files of about equal size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    schema = pa.schema([(f"f{j}", pa.float32()) for j in range(FEATURES)])
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    for i in range(files):
        with pq.ParquetWriter(directory / f"part-{i:05d}.parquet", schema) as writer:
            for start in range(int(bounds[i]), int(bounds[i + 1]), CHUNK_ROWS):
                n = min(CHUNK_ROWS, int(bounds[i + 1]) - start)
                chunk = rng.normal(size=(n, FEATURES)).astype(np.float32)
                writer.write_table(pa.Table.from_arrays(list(chunk.T), schema=schema))


def score_inprocess(source: Path, model: Path, output: Path) -> None:
    from sk2tensor.loading import load_compiled
    from sk2tensor.scoring import score_file

    compiled = load_compiled(model, device="cpu")
    output.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.parquet")):
        score_file(compiled, path, output / path.name, methods=[METHOD])


def score_ray(source: Path, model: Path, output: Path) -> None:
    import sk2tensor.ray

    sk2tensor.ray.predict_parquet(source, model, output, methods=[METHOD])


def score_spark(source: Path, model: Path, output: Path) -> None:
    import sk2tensor.spark

    sk2tensor.spark.predict_parquet(source, model, output, methods=[METHOD])


SCORERS: dict[str, Callable[[Path, Path, Path], None]] = {
    "inprocess": score_inprocess,
    "ray": score_ray,
    "spark": score_spark,
}


def start_engine(engine: str, cpus: int) -> str:
    """Start Ray or Spark on this machine (not timed); their version."""
    if engine == "ray":
        import ray

        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        return f"ray {ray.__version__}"
    if engine == "spark":
        import pyspark

        import sk2tensor.spark

        sk2tensor.spark.local_session(f"local[{cpus}]")  # its workers run this Python
        return f"pyspark {pyspark.__version__}"
    return ""


def stop_engine(engine: str) -> None:
    if engine == "ray":
        import ray

        ray.shutdown()
    elif engine == "spark":
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if session is not None:
            session.stop()


def summarize(output: Path) -> tuple[int, float]:
    """Rows written under ``output`` and the sum of their probability columns (float64)."""
    import pyarrow.parquet as pq

    rows, total = 0, 0.0
    for path in sorted(output.rglob("*.parquet")):
        table = pq.read_table(path)
        columns = [name for name in table.column_names if name.startswith(f"{METHOD}_")]
        rows += table.num_rows
        total += sum(float(np.sum(table.column(name).to_numpy(), dtype=np.float64)) for name in columns)
    return rows, total


def machine_slug(cpus: int) -> str:
    """``amd-epyc-2cpu`` style: the CPU's make and family, and the CPUs used."""
    return f"{cpu_slug()}-{cpus}cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--keep", type=Path, help="directory to keep the data and outputs in")
    parser.add_argument("--no-write", action="store_true", help="print the report without writing it")
    args = parser.parse_args(argv)
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")

    import onnxruntime
    import sklearn

    import sk2tensor

    work = args.keep or Path(tempfile.mkdtemp(prefix="sk2tensor-distributed-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    try:
        start = time.perf_counter()
        data = work / "rows"
        if not data.is_dir():
            generate(data, args.rows, args.files)
        warm = work / "warm"
        if not warm.is_dir():
            generate(warm, 20_000, 2)
        print(f"data generated in {time.perf_counter() - start:.1f} s", flush=True)
        model = work / "forest.onnx"
        strategy = export_forest(model)
        load_before = os.getloadavg()
        for engine in engines:
            try:
                version = start_engine(engine, args.cpus)
            except ImportError as error:
                results.append({"engine": engine, "note": f"not installed: {error}"})
                continue
            try:
                SCORERS[engine](warm, model, work / f"warm-{engine}")
                out = work / f"scores-{engine}"
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                SCORERS[engine](data, model, out)
                seconds = time.perf_counter() - start
            finally:
                stop_engine(engine)
            rows, total = summarize(out)
            results.append({"engine": engine, "version": version, "seconds": seconds, "rows": rows, "sum": total})
            print(f"{engine}: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)", flush=True)
            shutil.rmtree(out, ignore_errors=True)
        load_after = os.getloadavg()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    baseline = next((r for r in results if r["engine"] == "inprocess" and "seconds" in r), None)
    today = datetime.date.today().isoformat()
    lines = [
        f"# Scoring {args.rows:,} rows: in-process, Ray Data and Spark on one machine ({today})",
        "",
        f"- Machine: {machine()}; CPU only; each engine given {args.cpus} CPUs.",
        f"- Versions: sk2tensor {sk2tensor.__version__}, onnxruntime {onnxruntime.__version__}, scikit-learn "
        f"{sklearn.__version__}, Python {platform.python_version()}"
        + "".join(f", {r['version']}" for r in results if r.get("version"))
        + ".",
        f"- Data: {args.rows:,} rows x {FEATURES} float32 columns in {args.files} Parquet files.",
        f"- Model: RandomForestClassifier, 100 trees of depth 8, binary ({strategy}); output `{METHOD}`.",
        "- Time: reading the files, scoring and writing a Parquet directory; the engine started and warmed up "
        "on 20,000 rows before the clock starts. One run, engines one after the other.",
        f"- Load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}.",
        "",
        "| engine | seconds | rows/s | × in-process | rows written | scores agree |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    failed = False
    for r in results:
        if "seconds" not in r:
            lines.append(f"| {r['engine']} | — | — | — | — | {r['note']} |")
            continue
        ratio = f"{baseline['seconds'] / r['seconds']:.2f}×" if baseline else "—"
        agree = r["rows"] == args.rows and (
            baseline is None or abs(r["sum"] - baseline["sum"]) <= 1e-9 * max(1.0, abs(baseline["sum"]))
        )
        failed |= not agree
        lines.append(
            f"| {r['engine']} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {ratio} | {r['rows']:,} | "
            f"{'yes' if agree else 'NO'} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"distributed-{machine_slug(args.cpus)}-{today}.md"
        path.write_text(report)
        print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
