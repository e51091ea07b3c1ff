"""``python -m benchmarks.sweep``: the measurements behind ``auto`` (sk2tensor/converters/trees/auto.py).

Forests of several depths and sizes, each lowered with every strategy, timed on one thread in CPU seconds
(``time.thread_time``: a single-threaded ``session.run`` runs in the calling thread, and CPU time is far less
sensitive than wall time to other work on a shared machine). Batches of 1 row (latency) and of
``DEFAULT_CHUNK_ROWS`` (1,024) rows (what one thread works through in a large batch). Writes
``results/auto-sweep-<machine>-<date>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier

import sk2tensor
from benchmarks.models import describe, make_data, max_leaves
from sk2tensor.errors import Sk2TensorError
from sk2tensor.model import DEFAULT_CHUNK_ROWS

STRATEGIES = ("gemm", "perfect_tree_traversal", "tree_traversal")
#: gemm's cost grows with leaves²: past this many leaves per tree it is not timed (seconds per chunk).
GEMM_TIMED_MAX_LEAVES = 256


def _configs(quick: bool) -> list[tuple[str, object, str]]:
    depths = (2, 3, 4, 6, 8) if quick else (1, 2, 3, 4, 5, 6, 8, 10, 12)
    found = []
    for trees in (10, 100) if not quick else (100,):
        for depth in depths:
            model = RandomForestClassifier(trees, max_depth=depth, random_state=0, n_jobs=-1)
            found.append((f"RF {trees}x{depth}", model, "classification"))
    if not quick:
        found.append(
            ("GB 100x3", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0), "classification")
        )
        found.append(
            ("HGB 100", HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=0), "regression")
        )
    return found


def _cpu_seconds(function, X: np.ndarray, repeats: int) -> float:
    function(X)
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        function(X)
        samples.append(time.thread_time() - start)
    return float(np.median(samples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args(argv)
    lines = [
        f"# auto sweep: {args.tag}, {datetime.date.today().isoformat()}",
        "",
        "CPU microseconds per row on one thread (`time.thread_time`), median; batch 1 and a batch of "
        f"{DEFAULT_CHUNK_ROWS:,} rows. **Bold**: fastest strategy of the line. `auto` is what the rule picks.",
        "",
        "| model | trees, depth, nodes | batch | gemm | perfect_tree_traversal | tree_traversal | auto picks |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, model, task in _configs(args.quick):
        X_train, y_train, X_test = make_data(task, DEFAULT_CHUNK_ROWS)
        model.fit(X_train, y_train)
        method = "predict_proba" if task == "classification" else "predict"
        compiled = {}
        for strategy in (*STRATEGIES, "auto"):
            if strategy == "gemm" and max_leaves(model) > GEMM_TIMED_MAX_LEAVES:
                continue
            try:
                compiled[strategy] = sk2tensor.convert(model, X_test[:500], strategy=strategy, validate=False)
            except Sk2TensorError:
                continue
            compiled[strategy].threads = 1
        picked = next(iter(compiled["auto"].strategy.values()))
        for batch, repeats in ((1, 300), (DEFAULT_CHUNK_ROWS, 7)):
            X = X_test[:batch]
            cost = {s: _cpu_seconds(getattr(c, method), X, repeats) / batch * 1e6 for s, c in compiled.items()}
            best = min((s for s in STRATEGIES if s in cost), key=cost.get)
            cells = [("**%.2f**" if s == best else "%.2f") % cost[s] if s in cost else "—" for s in STRATEGIES]
            lines.append(f"| {name} | {describe(model)} | {batch} | " + " | ".join(cells) + f" | {picked} |")
            print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"auto-sweep-{args.tag}-{datetime.date.today().isoformat()}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
