"""Pipelines: each step's ``transform`` output feeds the next; the last step's methods are exported."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from sk2tensor.graph import GraphBuilder, Var
from sk2tensor.registry import ConversionContext, converter, lower, unsupported


@converter(Pipeline)
def convert_pipeline(graph: GraphBuilder, estimator: Pipeline, x: Var, context: ConversionContext) -> dict[str, Var]:
    """Chain every step; ``"passthrough"`` and ``None`` steps are skipped."""
    steps = [(name, step) for name, step in estimator.steps if step is not None and step != "passthrough"]
    if not steps:
        return {"transform": graph.identity(x)}
    for name, step in steps[:-1]:
        outputs = lower(graph, step, x, context)
        if "transform" not in outputs:
            raise unsupported(
                estimator, f"steps[{name!r}]", type(step).__name__, "every step but the last must transform"
            )
        x = outputs["transform"]
    return lower(graph, steps[-1][1], x, context)
