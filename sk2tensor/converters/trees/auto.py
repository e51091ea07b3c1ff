"""The ``auto`` strategy rule, and the measurements it comes from.

``python -m benchmarks.sweep`` lowers random forests of 10 and 100 trees of depth 1 to 12, gradient boosting
(100 × depth 3) and hist gradient boosting (100 iterations, depths 6 to 18) with every strategy and times them
on one thread in CPU seconds, at 1 row and at one chunk (``DEFAULT_CHUNK_ROWS`` rows, what large batches are
made of); ``python -m benchmarks`` then checks the choice against every strategy on the benchmark's models.
Results: ``benchmarks/results/auto-sweep-*.md`` and ``benchmarks/results/*.md``. What they showed on the CPU
provider (2-core machine, onnxruntime 1.32):

* ``gemm`` lost to ``perfect_tree_traversal`` at one chunk on every forest measured, by 1.1× at depth 1-2 and
  by 40× at depth 8 (its matmuls grow with leaves × internal nodes); it won only some batches of one row, by
  at most ~15%. A graph serves every batch size, so ``auto`` never picks it.
* Where every tree has the same depth (forests with ``max_depth``, gradient boosting), ``perfect_tree_traversal``
  beat ``tree_traversal`` at every depth measured (1 to 12), by 1.07× to 1.31× per chunk, median
  :data:`TRAVERSAL_LEVEL_COST` ≈ 1.2: a traversal level gathers a child index on top of the column and
  threshold. Deeper than :data:`PERFECT_MAX_DEPTH` it was not measured (its tables double per level).
* Where depths differ (hist gradient boosting: depth 6 to 18 for 31 leaves), perfect traversal pads every
  tree to the deepest one and lost by 1.7×: ``tree_traversal`` steps groups of trees of similar depth, each
  only as deep as it needs (:func:`~sk2tensor.converters.trees.lowering.depth_groups`).

Hence the rule: ``perfect_tree_traversal`` when its tables fit (:data:`MAX_TABLE_BYTES`), the trees are at most
:data:`PERFECT_MAX_DEPTH` deep, and its work (trees × depth) is at most :data:`TRAVERSAL_LEVEL_COST` times the
work of the depth-grouped traversal (sum over groups of trees × group depth); ``tree_traversal`` otherwise.

On CUDA the same rule applies until GPU measurements say otherwise (``python -m benchmarks --device cuda``).
"""

from __future__ import annotations

from sk2tensor.converters.trees.ensemble import TreeEnsemble
from sk2tensor.converters.trees.lowering import MAX_TABLE_BYTES, depth_groups, perfect_table_bytes

#: Cost of one ``tree_traversal`` level relative to one ``perfect_tree_traversal`` level (median over the
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
