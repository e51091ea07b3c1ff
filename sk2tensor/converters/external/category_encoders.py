"""category_encoders models (``category_encoders``): its ordinal, one-hot, binary, contrast, count and target
encoders.

Every supported encoder maps each value of an encoded column to a fixed row of numbers, whatever the other
columns and rows hold, once it is fitted (``transform`` without a target). Rather than re-implement twenty
encoders' arithmetic and options (regularisation, ``handle_unknown``, ``handle_missing``, ``min_group_size``
lumping, ``drop_invariant``), the converter asks the fitted encoder: :mod:`sk2tensor.converters._probing` tables
what ``transform`` gives every category it knows, ``None``, NaN and an unseen value, checks the tables against
``transform`` and builds the lookups. ``composite_cols`` (several columns encoded together) are refused.
"""

from __future__ import annotations

from typing import Any

import category_encoders as ce
import pandas as pd

from sk2tensor.converters._probing import lower_plan, plan_lookups
from sk2tensor.graph import GraphBuilder, Table, Var
from sk2tensor.registry import ConversionContext, converter, unsupported

#: The encoders converted (GLMMEncoder is not tested, its mixed-model fit failing on small frames; HashingEncoder
#: hashes with md5 and MultiHotEncoder splits strings on a delimiter, which standard ONNX operators cannot).
ENCODERS = (
    ce.BackwardDifferenceEncoder,
    ce.BaseNEncoder,
    ce.BinaryEncoder,
    ce.CatBoostEncoder,
    ce.CountEncoder,
    ce.CountTargetEncoder,
    ce.GrayEncoder,
    ce.HelmertEncoder,
    ce.JamesSteinEncoder,
    ce.LeaveOneOutEncoder,
    ce.MEstimateEncoder,
    ce.OneHotEncoder,
    ce.OrdinalEncoder,
    ce.PolynomialEncoder,
    ce.QuantileEncoder,
    ce.RankHotEncoder,
    ce.SumEncoder,
    ce.SummaryEncoder,
    ce.TargetEncoder,
    ce.WOEEncoder,
)


def _known_values(estimator: Any, column: Any) -> list[Any]:
    """Every value the fitted encoder may treat other than as unknown in ``column``: the categories of its
    ordinal mapping and of its own mapping, and the labels ``min_group_size`` lumped together. Extra values do
    no harm (each is probed), so the lists are gathered generously."""
    found: list[Any] = []

    def index_of(table: Any) -> None:
        if isinstance(table, (pd.Series, pd.DataFrame)):
            found.extend(table.index.tolist())

    ordinal = estimator if isinstance(estimator, ce.OrdinalEncoder) else getattr(estimator, "ordinal_encoder", None)
    for entry in getattr(ordinal, "mapping", None) or []:
        if entry.get("col") == column:
            index_of(entry.get("mapping"))
    mapping = getattr(estimator, "mapping", None)
    if isinstance(mapping, dict) and column in mapping:
        index_of(mapping[column])
    for lumping in (getattr(estimator, "min_group_lumping_", None), getattr(estimator, "_min_group_categories", None)):
        if isinstance(lumping, dict) and isinstance(lumping.get(column), dict):
            found.extend(lumping[column])
    for inner in getattr(estimator, "encoder_list", None) or []:  # SummaryEncoder: one encoder per quantile
        found.extend(_known_values(inner, column))
    return found


@converter(*ENCODERS, tables=True)
def convert_category_encoder(
    graph: GraphBuilder, estimator: Any, x: Var | Table, context: ConversionContext
) -> dict[str, Var | Table]:
    """Each encoded column's value looked up among its probe values (string or numeric equality, unseen last)
    and its output rows gathered; the other columns passed through (strings stay strings)."""
    if getattr(estimator, "composite_members_", None):
        raise unsupported(
            estimator,
            "composite_cols",
            estimator.composite_cols,
            "each encoded column must be encoded on its own: a composite column's output depends on several "
            "input columns",
        )
    width = int(estimator.n_features_in_)
    table = x if isinstance(x, Table) else Table.of_matrix(x, width)
    names = list(estimator.feature_names_in_)
    encoded = set(estimator.cols)
    known = {i: _known_values(estimator, name) for i, name in enumerate(names) if name in encoded}
    string_columns = [column.is_string for column in table.columns]
    out_names = list(getattr(estimator, "feature_names_out_", []))
    plan, probes = plan_lookups(estimator, names, string_columns, known, estimator.transform, out_names)
    return {"transform": lower_plan(graph, table, plan, probes)}
