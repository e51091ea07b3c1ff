"""The ``auto`` strategy rule, and the measurements it comes from.

``python -m benchmarks.sweep`` lowers random forests of 10 and 100 trees of depth 1 to 12, gradient boosting
(100 × depth 3) and hist gradient boosting (100 iterations, depths 6 to 18) with every strategy and times them
on one thread in CPU seconds, at 1 row and at 1,024 rows; ``python -m benchmarks`` then checks the choice
against every strategy on the benchmark's models (``benchmarks/results/auto-sweep-*.md`` and
``benchmarks/results/*.md``). What the sweeps showed on the CPU provider (2-core machine, onnxruntime 1.32;
single numbers vary by up to ~30% between runs on that shared machine):

* ``gemm`` never won at 1,024 rows beyond noise (10 trees of depth 1-2: 0.13 against 0.14 µs/row), and lost
  by 1.4× at depth 1 with 100 trees up to 58× at depth 8 (its matmuls grow with leaves × internal nodes). It
  won some single rows (shallow 10-tree forests, hist gradient boosting) by at most ~15%. One graph serves
  every batch size, so ``auto`` never picks it.
* Where every tree has the same depth (forests with ``max_depth``, gradient boosting), ``perfect_tree_traversal``
  beat the first ``tree_traversal`` (four gathers per level) at every depth from 1 to 12, by 1.07× to 1.31× per
  1,024 rows, median :data:`TRAVERSAL_LEVEL_COST` ≈ 1.2. The traversal now runs its top 8 levels as perfect
  traversal does, and the second sweep finds the two within noise up to depth 12.
* Where depths differ (hist gradient boosting: depth 6 to 18 for 31 leaves), perfect traversal pads every tree
  to the deepest one and lost by 1.7-1.9×: ``tree_traversal`` steps groups of trees of similar depth, each only
  as deep as it needs (:func:`~sk2tensor.converters.trees.lowering.depth_groups`).

Hence the rule: ``perfect_tree_traversal`` when its tables fit (:data:`MAX_TABLE_BYTES`), the trees are at most
:data:`PERFECT_MAX_DEPTH` deep (the deepest measured), and its work (trees × depth) is at most
:data:`TRAVERSAL_LEVEL_COST` times the work of the depth-grouped traversal (sum over groups of trees × group
depth); ``tree_traversal`` otherwise.

On CUDA the same rule applies until GPU measurements say otherwise (``python -m benchmarks --device cuda``).
"""

from __future__ import annotations

from sk2tensor.converters.trees.ensemble import TreeEnsemble
from sk2tensor.converters.trees.lowering import MAX_TABLE_BYTES, depth_groups, perfect_table_bytes

#: Cost of one ``tree_traversal`` level relative to one ``perfect_tree_traversal`` level (median over the first
#: sweep's equal-depth forests: 1.07-1.31).
TRAVERSAL_LEVEL_COST = 1.2
#: Deepest trees measured where ``perfect_tree_traversal`` won; deeper ones use ``tree_traversal``.
PERFECT_MAX_DEPTH = 12


def perfect_work(ensemble: TreeEnsemble) -> int:
    """Tree-levels stepped per row by ``perfect_tree_traversal``: every tree as deep as the deepest."""
    return ensemble.n_trees * ensemble.max_depth


def traversal_work(ensemble: TreeEnsemble) -> int:
    """Tree-levels stepped per row by ``tree_traversal``: each depth group as deep as its deepest tree."""
    depths = ensemble.depths
    return sum(len(group) * max(1, int(depths[group].max())) for group in depth_groups(depths))


def choose(ensemble: TreeEnsemble, device: str) -> str:
    """The strategy ``auto`` picks for ``ensemble`` on ``device`` (see the module docstring)."""
    depth = ensemble.max_depth
    perfect = (
        0 < depth <= PERFECT_MAX_DEPTH
        and perfect_table_bytes(ensemble) <= MAX_TABLE_BYTES
        and perfect_work(ensemble) <= TRAVERSAL_LEVEL_COST * traversal_work(ensemble)
    )
    return "perfect_tree_traversal" if perfect else "tree_traversal"
