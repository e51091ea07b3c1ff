"""``sklearn.compose``: ColumnTransformer and TransformedTargetRegressor.

With string columns the ColumnTransformer gets a :class:`~sk2tensor.graph.Table` and hands each transformer its
columns as a table: the numeric branch (imputer, scaler...) sees a numeric matrix, the categorical branch
(imputer, encoder) the string inputs. When some output would still hold strings (``"passthrough"`` of a string
column, or an imputer alone) the result is a table, and the step after it must take strings.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer, TransformedTargetRegressor

from sk2tensor.converters._numeric import as_columns, as_vector, columns
from sk2tensor.converters.pipeline import transformed
from sk2tensor.converters.preprocessing import INVERSE_TRANSFORMS
from sk2tensor.graph import GraphBuilder, SparseRows, Table, Var
from sk2tensor.registry import ConversionContext, converter, lower, unsupported


@converter(ColumnTransformer, tables=True)
def convert_column_transformer(
    graph: GraphBuilder, estimator: ColumnTransformer, x: Var | Table, context: ConversionContext
) -> dict[str, Var | Table]:
    """Each fitted transformer on its columns (chosen by index, name, mask or ``make_column_selector``: the
    fitted ``_transformer_to_input_indices`` holds them as input positions), outputs concatenated in
    sklearn's order, the remainder last. ``"drop"`` and empty selections contribute nothing,
    ``"passthrough"`` the columns themselves, ``transformer_weights`` multiply. A sparse result
    (``sparse_threshold``) is computed dense."""
    width = int(estimator.n_features_in_)
    indices_of = estimator._transformer_to_input_indices
    weights = estimator.transformer_weights or {}
    parts: list[tuple[str, Var | Table]] = []
    for name, transformer, _ in estimator.transformers_:
        if transformer == "drop":
            continue
        indices = [int(i) for i in indices_of.get(name, [])]
        if not indices:
            continue
        selected: Var | Table
        if isinstance(x, Table):
            selected = x.select(indices)
            if not selected.has_strings:
                selected = selected.matrix(graph)
        else:
            selected = x if indices == list(range(width)) else columns(graph, x, indices)
        if transformer == "passthrough":
            part = selected
        else:
            part = transformed(graph, estimator, f"transformers[{name!r}]", transformer, selected, context)
            if isinstance(part, SparseRows):  # a text vectorizer's counts, beside the other outputs
                part = context.dense_rows(graph, part)
        if weights.get(name) is not None:
            if isinstance(part, Table):
                raise unsupported(
                    estimator, "transformer_weights", {name: weights[name]}, "string columns cannot be weighted"
                )
            part = graph.mul(part, graph.const(float(weights[name]), "weight"))
        parts.append((name, part))
    if not parts:
        raise unsupported(estimator, "transformers", "nothing selected", "at least one transformer must output")
    if any(isinstance(part, Table) for _, part in parts):
        return {"transform": Table.concat([_as_table(estimator, name, part) for name, part in parts])}
    values = [part for _, part in parts]
    return {"transform": values[0] if len(values) == 1 else graph.concat(values, axis=1)}


def _as_table(estimator: ColumnTransformer, name: str, part: Var | Table) -> Table:
    """A transformer's output as table columns (its width from the fitted ``output_indices_``)."""
    if isinstance(part, Table):
        return part
    block = estimator.output_indices_[name]
    return Table.of_matrix(part, block.stop - block.start)


@converter(TransformedTargetRegressor, tables=True)
def convert_transformed_target_regressor(
    graph: GraphBuilder, estimator: TransformedTargetRegressor, x: Var | Table, context: ConversionContext
) -> dict[str, Var]:
    """``transformer_.inverse_transform(regressor_.predict(x))``: the inverse of a FunctionTransformer
    (``func``/``inverse_func`` numpy ufuncs), StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler or
    PowerTransformer, shaped as sklearn shapes it (one target: ``[batch]``)."""
    transformer = estimator.transformer_
    inverse = INVERSE_TRANSFORMS.get(type(transformer))
    if inverse is None:
        names = sorted(cls.__name__ for cls in INVERSE_TRANSFORMS)
        raise unsupported(
            estimator, "transformer_", type(transformer).__name__, f"inverse transforms of {', '.join(names)}"
        )
    outputs = lower(graph, estimator.regressor_, x, context)
    if "predict" not in outputs:
        raise unsupported(estimator, "regressor_", type(estimator.regressor_).__name__, "a regressor with predict")
    n_targets = int(getattr(transformer, "n_features_in_", 1))
    prediction = as_columns(graph, outputs["predict"], n_targets)
    result = inverse(graph, transformer, prediction)
    if estimator._training_dim == 1 and n_targets == 1:
        result = as_vector(graph, result)
    return {"predict": graph.cast(result, graph.dtype) if result.dtype.kind == "f" else result}
