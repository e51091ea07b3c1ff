"""The results: a markdown table with the targets checked on this run, and a throughput plot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from benchmarks.run import ModelResult, Peak, Row

TARGET_MODEL = "RF 100x8"


@dataclass(frozen=True)
class Memory:
    model: str
    engine: str
    export: Peak
    inference: Peak
    inference_rows: int


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _bytes(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:.1f} MiB"


def _row_line(row: Row) -> str:
    ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
    diff = "—" if row.max_abs_diff is None else f"{row.max_abs_diff:.1e}"
    labels = "—" if row.label_agreement is None else f"{row.label_agreement * 100:.3f}%"
    cells = [
        f"{row.batch:,}",
        row.engine,
        row.strategy or "",
        _seconds(row.median),
        _rate(row.rows_per_second),
        ratio,
        diff,
        labels,
        str(row.repeats or ""),
        row.note,
    ]
    return "| " + " | ".join(cells) + " |"


def _find(rows: list[Row], model: str, batch: int, prefix: str) -> Row | None:
    return next((r for r in rows if r.model == model and r.batch == batch and r.engine.startswith(prefix)), None)


def targets(results: list[ModelResult], device: str) -> list[str]:
    """The issue's targets, checked on this run's rows."""
    rows = [r for m in results for r in m.rows]
    lines = []
    auto = f"sk2tensor auto ({device})"
    big = max((r.batch for r in rows if r.model == TARGET_MODEL), default=None)
    if big is not None:
        ours = _find(rows, TARGET_MODEL, big, auto)
        peer = _find(rows, TARGET_MODEL, big, "skl2onnx")
        if ours and ours.ratio:
            lines.append(
                f"- {TARGET_MODEL}, {big:,} rows: sk2tensor auto is **{ours.ratio:.2f}×** sklearn `n_jobs=1` "
                "(target ≥ 4×)."
            )
        if ours and ours.median and peer and peer.median:
            lines.append(
                f"- {TARGET_MODEL}, {big:,} rows: sk2tensor auto is **{peer.median / ours.median:.2f}×** "
                "skl2onnx + ORT (target ≥ 2×)."
            )
    large = [r for r in rows if r.engine == auto and r.batch >= 10_000 and r.ratio is not None]
    if large:
        worst = min(large, key=lambda r: r.ratio)
        lines.append(
            f"- Slowest sk2tensor auto row at batch ≥ 10,000: {worst.model} at {worst.batch:,} rows, "
            f"**{worst.ratio:.2f}×** sklearn `n_jobs=1` (target ≥ 1×)."
        )
    one = _find(rows, TARGET_MODEL, 1, auto)
    if one and one.median:
        lines.append(
            f"- {TARGET_MODEL}, batch of 1, `CompiledModel.predict_proba`: median **{one.median * 1e6:.0f} µs** "
            "(target ≤ 100 µs)."
        )
    worst_auto, within, total, noise = None, 0, 0, 0.0
    worst_choice, chose_well = None, 0  # the chosen strategy's own row against the fastest strategy's row
    for model in results:
        for batch in sorted({r.batch for r in model.rows}):
            strategies = [
                r
                for r in model.rows
                if r.batch == batch and r.kind == "sk2tensor" and r.engine != auto and r.median is not None
            ]
            mine = _find(model.rows, model.name, batch, auto)
            if not strategies or mine is None or mine.median is None:
                continue
            best = min(strategies, key=lambda r: r.median)
            slower = mine.median / best.median - 1
            total += 1
            within += slower <= 0.10
            twin = next((r for r in strategies if r.strategy == mine.strategy), None)
            if twin is not None:
                noise = max(noise, abs(mine.median / twin.median - 1))
                behind = twin.median / best.median - 1
                chose_well += behind <= 0.10
                if worst_choice is None or behind > worst_choice[0]:
                    worst_choice = (behind, model.name, batch, best, twin)
            if worst_auto is None or slower > worst_auto[0]:
                worst_auto = (slower, model.name, batch, best, mine)
    if worst_auto is not None:
        slower, model_name, batch, best, mine = worst_auto
        lines.append(
            f"- `auto` against the fastest strategy of each row: within +10% on {within} of {total} rows; worst "
            f"{slower * 100:+.1f}% ({model_name}, batch {batch:,}: auto chose {mine.strategy}, fastest was "
            f"{best.strategy}). Noise floor: `auto` and the row of the strategy it chose run the same graph, and "
            f"differ by up to {noise * 100:.0f}% in this run."
        )
    if worst_choice is not None:
        behind, model_name, batch, best, twin = worst_choice
        lines.append(
            f"- The strategy `auto` chose, timed in its own row, against the fastest strategy's row (the choice "
            f"without `auto`'s own timing noise): within +10% on {chose_well} of {total} rows; worst "
            f"{behind * 100:+.1f}% ({model_name}, batch {batch:,}: {twin.strategy} against {best.strategy})."
        )
    return lines


def markdown(
    results: list[ModelResult], memory: list[Memory], header: dict[str, str], device: str, notes: list[str]
) -> str:
    out = [f"# sk2tensor benchmark: {header['machine']}, {header['date']}", ""]
    out += [f"- **{key}**: {value}" for key, value in header.items() if key not in ("machine", "date")]
    out += ["", "## Targets (this run only)", "", *targets(results, device), ""]
    out += [
        "## Results",
        "",
        "Median seconds of one call on the first `batch` rows of the same held-out data; rows/s = batch / median; "
        "× sklearn 1 = sklearn `n_jobs=1` median / this median (above 1 is faster). Max abs diff and labels "
        "compare each engine's output (probabilities for classifiers, predictions for regressors) with "
        "sklearn `n_jobs=1` on the same rows; labels are the argmax of the probabilities.",
        "",
    ]
    for model in results:
        chosen = {r.strategy for r in model.rows if r.engine.startswith("sk2tensor auto") and r.strategy}
        out += [
            f"### {model.name}: {model.estimator}, {model.description}",
            "",
            f"Fitted in {model.fit_seconds:.1f} s; `auto` chose {', '.join(sorted(chosen)) or '—'}. Export (convert + "
            "validate, or peer conversion + session) seconds: "
            + ", ".join(f"{k} {v:.2f}" for k, v in model.export_seconds.items())
            + ".",
            "",
            "| batch | engine | strategy | median | rows/s | × sklearn 1 | max abs diff | labels | calls | note |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        out += [_row_line(row) for row in model.rows]
        out.append("")
    if memory:
        out += [
            "## Peak memory (largest model)",
            "",
            "Each engine in a fresh process (`benchmarks/memory.py`), above the memory in use before each step "
            "(model and rows already loaded). *Python heap* is tracemalloc's peak: numpy arrays and Python "
            "objects (the extracted tables, the graph's initializers while it is built), not ONNX Runtime's or "
            "protobuf's native allocations; not traced for skl2onnx, whose conversion of large forests takes "
            "minutes under tracemalloc. *Process* is the growth of the resident set's high-water mark (Linux "
            "`VmHWM`, reset through `/proc/self/clear_refs` before the step): everything, native allocations "
            "included, but only pages actually touched.",
            "",
            "| model | engine | export: Python heap | export: process | inference: rows | inference: Python heap "
            "| inference: process |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for m in memory:
            out.append(
                f"| {m.model} | {m.engine} | {_bytes(m.export.traced_bytes)} | {_bytes(m.export.rss_bytes)} | "
                f"{m.inference_rows:,} | {_bytes(m.inference.traced_bytes)} | {_bytes(m.inference.rss_bytes)} |"
            )
        out.append("")
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


def plot(results: list[ModelResult], path: Path, title: str) -> Path | None:
    """Throughput (rows/s) against batch size, one panel per model, one line per engine."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    columns = min(3, len(results))
    lines = math.ceil(len(results) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(5.2 * columns, 4.2 * lines), squeeze=False)
    engines = list(dict.fromkeys(r.engine for m in results for r in m.rows))
    colours = {name: plt.cm.tab10(i % 10) for i, name in enumerate(engines)}
    for ax, model in zip(axes.ravel(), results, strict=False):
        for engine in engines:
            points = [(r.batch, r.rows_per_second) for r in model.rows if r.engine == engine and r.median]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            style = "-" if engine.startswith("sk2tensor") else "--"
            ax.plot(xs, ys, style, marker="o", label=engine, color=colours[engine], linewidth=1.6, markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(model.name, fontsize=10)
        ax.set_xlabel("batch size (rows)")
        ax.set_ylabel("rows / second")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.ravel()[len(results) :]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(labels) / 4), 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
