"""The ``auto`` strategy rule.

Derived from the measurements in ``benchmarks/`` (see ``benchmarks/results/``): on the CPU provider,
``perfect_tree_traversal`` beats ``tree_traversal`` wherever its padded tables stay small, since each level
needs three gathers instead of five; ``gemm`` only wins for very shallow trees, where its two matmuls replace
a handful of per-level steps. Past the padding bound, ``tree_traversal`` is the only choice.
"""

from __future__ import annotations

from sk2tensor.converters.trees.ensemble import TreeEnsemble
from sk2tensor.converters.trees.lowering import MAX_TABLE_BYTES, gemm_table_bytes

#: Deepest trees for which ``gemm`` is chosen.
GEMM_MAX_DEPTH = 2
#: Deepest trees for which ``perfect_tree_traversal`` is chosen (padding doubles per level).
PERFECT_MAX_DEPTH = 12
#: Padded leaves per tree, relative to real ones, past which padding wastes more than it saves.
PERFECT_MAX_PADDING = 8.0


def choose(ensemble: TreeEnsemble, device: str) -> str:
    """The strategy ``auto`` picks for ``ensemble`` on ``device``."""
    depth = ensemble.max_depth
    if depth <= GEMM_MAX_DEPTH and gemm_table_bytes(ensemble) <= MAX_TABLE_BYTES:
        return "gemm"
    padded = ensemble.n_trees * 2**depth
    padding = padded / max(1, int(ensemble.n_leaves.sum()))
    fits = padded * (ensemble.n_outputs + 3) * 4 <= MAX_TABLE_BYTES
    if depth <= PERFECT_MAX_DEPTH and fits and padding <= PERFECT_MAX_PADDING:
        return "perfect_tree_traversal"
    return "tree_traversal"
