"""Timing and memory measurement: every engine on the same rows, in one process, interleaved.

The first call of each engine on a batch is a warm-up and an estimate; the number of timed calls then
follows from a time budget per cell, between ``min_repeats`` and ``max_repeats``. The timed calls run in rounds
over the engines, so that a change of machine load during a cell touches every engine alike: a long call
(over :data:`CACHE_WARMING_SECONDS`) is timed once per round; short calls run in four blocks, each after
untimed calls that bring the engine's tables back into the cache (as in a service that predicts again and
again), so that no short call is timed right after another engine has flushed the caches. An engine whose
projected call time on a batch exceeds ``max_call_seconds`` is skipped there, with a row saying so; sklearn
itself, the reference of every ratio, never is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.engines import Engine, Runner, Skip


@dataclass(frozen=True)
class Settings:
    batches: tuple[int, ...]
    #: Seconds of timed calls per engine and batch (the repeats follow from it).
    cell_budget: float
    min_repeats: int
    max_repeats: dict[int, int]
    #: Skip an engine on a batch where one call is projected to take longer than this.
    max_call_seconds: float


FULL = Settings(
    batches=(1, 100, 10_000, 100_000),
    cell_budget=2.0,
    min_repeats=3,
    max_repeats={1: 300, 100: 100, 10_000: 15, 100_000: 7, 1_000_000: 7},
    max_call_seconds=8.0,
)
QUICK = Settings(
    batches=(1, 100, 10_000),
    cell_budget=0.3,
    min_repeats=3,
    max_repeats={1: 100, 100: 30, 10_000: 5},
    max_call_seconds=1.0,
)


#: Calls shorter than this are timed in :data:`SHORT_BLOCKS` blocks per engine, each after :data:`WARM_CALLS`
#: untimed calls (their tables may be out of the cache, another engine having just run).
CACHE_WARMING_SECONDS = 0.05
SHORT_BLOCKS = 4
WARM_CALLS = 3


@dataclass
class Row:
    """One line of the table: an engine on one model and batch size."""

    model: str
    batch: int
    engine: str
    kind: str
    strategy: str = ""
    median: float | None = None
    repeats: int = 0
    ratio: float | None = None  # sklearn n_jobs=1 median / this median
    max_abs_diff: float | None = None
    label_agreement: float | None = None
    note: str = ""

    @property
    def rows_per_second(self) -> float | None:
        return None if self.median is None else self.batch / self.median


@dataclass
class ModelResult:
    name: str
    estimator: str
    description: str
    task: str
    fit_seconds: float
    export_seconds: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


def _time_call(run: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = run(X)
    return time.perf_counter() - start, out


def benchmark_model(
    name: str, model: Any, task: str, X_test: np.ndarray, engines: list[Engine], device: str, settings: Settings
) -> tuple[list[Row], dict[str, float]]:
    """Rows of the table for one fitted model; also the export seconds per engine."""
    sample = X_test[:2000]
    prepared: dict[str, Runner | Skip] = {}
    export: dict[str, float] = {}
    for engine in engines:
        prepared[engine.name] = result = engine.prepare(model, task, sample, device)
        if isinstance(result, Runner) and result.export_seconds is not None:
            export[engine.name] = result.export_seconds
    kinds = {e.name: e.kind for e in engines}
    reference_name = engines[0].name
    rows: list[Row] = []
    too_slow: dict[str, str] = {}
    last_median: dict[str, float] = {}
    previous_batch = None
    for batch in settings.batches:
        X = X_test[:batch]
        active: dict[str, Runner] = {}
        for engine in engines:
            runner = prepared[engine.name]
            row = Row(name, batch, engine.name, engine.kind)
            if isinstance(runner, Skip):
                row.note = runner.reason
                rows.append(row)
                continue
            row.strategy, row.note = runner.strategy, runner.note
            if engine.kind != "sklearn" and engine.name in last_median and previous_batch is not None:
                # Per-row cost falls with the batch: small batches project with a tenth of their per-row time.
                scale = 1.0 if previous_batch >= 1000 else 0.1
                projected = last_median[engine.name] * batch / previous_batch * scale
                if projected > settings.max_call_seconds:
                    too_slow[engine.name] = (
                        f"skipped: projected {projected:.1f} s per call from batch {previous_batch:,} "
                        f"(limit {settings.max_call_seconds:g} s)"
                    )
            if engine.name in too_slow:
                row.note = too_slow[engine.name]
                rows.append(row)
                continue
            active[engine.name] = runner
            rows.append(row)
        times, outputs = _interleaved(active, X, settings, batch)
        by_name = {r.engine: r for r in rows if r.batch == batch}
        reference = outputs.get(reference_name)
        ref_median = float(np.median(times[reference_name])) if reference_name in times else None
        for engine_name, samples in times.items():
            row = by_name[engine_name]
            row.median = float(np.median(samples))
            row.repeats = len(samples)
            last_median[engine_name] = row.median
            if ref_median is not None:
                row.ratio = ref_median / row.median
            if reference is not None:
                got = np.asarray(outputs[engine_name], dtype=np.float64).reshape(reference.shape)
                row.max_abs_diff = float(np.max(np.abs(got - reference))) if reference.size else 0.0
                if task == "classification":
                    row.label_agreement = float(np.mean(got.argmax(axis=1) == reference.argmax(axis=1)))
        previous_batch = batch
    for row in rows:
        row.kind = kinds[row.engine]
    return rows, export


def _interleaved(
    active: dict[str, Runner], X: np.ndarray, settings: Settings, batch: int
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Warm each engine up once, then time them in rounds (see the module docstring)."""
    outputs: dict[str, np.ndarray] = {}
    wanted: dict[str, int] = {}
    short: dict[str, bool] = {}
    for name, runner in active.items():
        seconds, out = _time_call(runner.run, X)
        outputs[name] = np.asarray(out)
        short[name] = seconds < CACHE_WARMING_SECONDS
        cap = settings.max_repeats.get(batch, settings.min_repeats)
        wanted[name] = int(min(cap, max(settings.min_repeats, settings.cell_budget / max(seconds, 1e-9))))
    times: dict[str, list[float]] = {name: [] for name in active}
    rounds = max([SHORT_BLOCKS, *(wanted[n] for n in active if not short[n])])
    for done in range(rounds):
        for name, runner in active.items():
            missing = wanted[name] - len(times[name])
            if missing <= 0:
                continue
            if short[name]:  # untimed calls to bring its tables back into the cache, then a block
                for _ in range(WARM_CALLS):
                    runner.run(X)
                calls = -(-missing // max(1, SHORT_BLOCKS - done))
            else:  # one call per round: load drifting across the cell touches every engine alike
                calls = 1
            for _ in range(calls):
                times[name].append(_time_call(runner.run, X)[0])
    return times, outputs


@dataclass(frozen=True)
class Peak:
    """Peak memory of one step above the memory in use before it (``benchmarks/memory.py``), in bytes: the Python
    heap (tracemalloc; ``None`` where not traced) and the whole process (resident set; ``None`` where the
    kernel's peak counter cannot be reset)."""

    traced_bytes: int | None
    rss_bytes: int | None
