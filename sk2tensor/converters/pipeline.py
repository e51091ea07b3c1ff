"""``sklearn.pipeline``: Pipeline (each step's ``transform`` feeds the next; the last step's methods are
exported) and FeatureUnion (its transformers' outputs side by side).

A Pipeline passes string columns (a :class:`~sk2tensor.graph.Table`) from step to step: SimpleImputer keeps
them strings, an encoder turns them into numbers, and any other step that would get one is refused
(:func:`sk2tensor.registry.lower`). It passes sparse rows on the same way: the steps that work on stored
entries keep them sparse, and the first step that does not gets the dense matrix."""

from __future__ import annotations

from sklearn.pipeline import FeatureUnion, Pipeline

from sk2tensor.graph import GraphBuilder, SparseRows, Table, Var
from sk2tensor.registry import ConversionContext, converter, lower, refuse_strings, unsupported


def transformed(
    graph: GraphBuilder,
    owner: object,
    label: str,
    step: object,
    x: Var | Table | SparseRows,
    context: ConversionContext,
) -> Var | Table | SparseRows:
    """``step.transform(x)`` in the graph's dtype (boolean masks and float64 intermediates are cast, as the
    next sklearn step converts its input); a table that still holds strings, and sparse rows, come back as they
    are."""
    outputs = lower(graph, step, x, context)
    if "transform" not in outputs:
        raise unsupported(owner, label, type(step).__name__, "this step must be a transformer")
    if isinstance(outputs["transform"], (Table, SparseRows)):
        return outputs["transform"]
    return graph.cast(outputs["transform"], graph.dtype)


@converter(Pipeline, tables=True, sparse=True)
def convert_pipeline(
    graph: GraphBuilder, estimator: Pipeline, x: Var | Table | SparseRows, context: ConversionContext
) -> dict[str, Var | Table | SparseRows]:
    """Chain every step; ``"passthrough"`` and ``None`` steps are skipped."""
    return chain_steps(graph, estimator, active_steps(estimator), x, context)


def active_steps(estimator: Pipeline) -> list[tuple[str, object]]:
    """``(name, step)`` of the steps that act, ``"passthrough"`` and ``None`` left out."""
    return [(name, step) for name, step in estimator.steps if step is not None and step != "passthrough"]


def chain_steps(
    graph: GraphBuilder,
    owner: Pipeline,
    steps: list[tuple[str, object]],
    x: Var | Table | SparseRows,
    context: ConversionContext,
) -> dict[str, Var | Table | SparseRows]:
    """Each step's ``transform`` feeds the next; the outputs of the last (``x`` itself when there is none)."""
    if not steps:
        return {"transform": x if isinstance(x, (Table, SparseRows)) else graph.identity(x)}
    for name, step in steps[:-1]:
        x = transformed(graph, owner, f"steps[{name!r}]", step, x, context)
    return lower(graph, steps[-1][1], x, context)


@converter(FeatureUnion, tables=True)
def convert_feature_union(
    graph: GraphBuilder, estimator: FeatureUnion, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """Each transformer's output (times its ``transformer_weights`` entry), concatenated in order;
    ``"passthrough"`` contributes ``x`` itself and ``"drop"`` nothing. With string columns every transformer
    gets them (a ColumnTransformer routes them on), and each output must be numeric."""
    weights = estimator.transformer_weights or {}
    parts = []
    for name, transformer in estimator.transformer_list:
        if transformer == "drop" or transformer is None:
            continue
        if transformer == "passthrough":
            part = x
        else:
            part = transformed(graph, estimator, f"transformer_list[{name!r}]", transformer, x, context)
        if isinstance(part, Table):
            if part.has_strings:
                raise refuse_strings(estimator, part)
            part = part.matrix(graph)
        if isinstance(part, SparseRows):  # a text vectorizer's counts, beside the other outputs
            part = context.dense_rows(graph, part)
        if weights.get(name) is not None:
            part = graph.mul(part, graph.const(float(weights[name]), "weight"))
        parts.append(part)
    if not parts:
        raise unsupported(estimator, "transformer_list", "all 'drop'", "at least one transformer must be kept")
    return {"transform": parts[0] if len(parts) == 1 else graph.concat(parts, axis=1)}
