"""Tree ensembles: extraction into a TreeEnsemble, three lowerings, the auto choice."""

from sk2tensor.converters.trees.ensemble import (
    TreeArrays,
    TreeEnsemble,
    float32_thresholds,
    sklearn_tree_arrays,
    stack_trees,
)
from sk2tensor.converters.trees.lowering import LOWERINGS, Lowered, lower_ensemble

__all__ = [
    "LOWERINGS",
    "Lowered",
    "TreeArrays",
    "TreeEnsemble",
    "float32_thresholds",
    "lower_ensemble",
    "sklearn_tree_arrays",
    "stack_trees",
]
