"""Comparison of an exported model with the sklearn estimator it came from, and the report it returns.

Tolerances, stated once here and used by the tests too:

* Labels (``predict`` of a classifier) must agree on every row. The one excuse is a row whose reference
  scores are a near tie: the top two probabilities (or the decision value and zero) lie within the float
  tolerance, so float32 rounding may legitimately pick the other class. Such rows are counted in the report.
* Probabilities are compared in absolute terms: ``|got - ref| <= PROBABILITY_ATOL[dtype]``.
* Every other float output is compared relative to its scale:
  ``|got - ref| <= SCALED_TOL[dtype] * max(1, max|ref|)``, since a float32 sum of terms of size ``s`` cannot be
  closer than a few ulps of ``s``.
* A reference that is itself float32 (XGBoost computes and returns float32) is compared with the float32
  tolerance whatever the graph's dtype: a float64 graph cannot agree with it more closely than its rounding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Absolute tolerance on predict_proba, by graph dtype.
PROBABILITY_ATOL = {"float32": 1e-6, "float64": 1e-12}
#: Tolerance on other float outputs, relative to max(1, max |reference|), by graph dtype.
SCALED_TOL = {"float32": 1e-6, "float64": 1e-10}


@dataclass(frozen=True)
class OutputComparison:
    """How one output compares with sklearn's method of the same name."""

    name: str
    max_abs_diff: float
    max_rel_diff: float
    tolerance: float
    passed: bool
    label_agreement: float | None = None
    near_ties: int = 0


@dataclass(frozen=True)
class ValidationReport:
    """Per-output comparison over ``rows`` rows; ``passed`` when every output is within tolerance."""

    rows: int
    dtype: str
    outputs: tuple[OutputComparison, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def label_agreement(self) -> float | None:
        return next((o.label_agreement for o in self.outputs if o.label_agreement is not None), None)

    def __getitem__(self, name: str) -> OutputComparison:
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "dtype": self.dtype,
            "passed": self.passed,
            "outputs": [asdict(o) for o in self.outputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def summary(self) -> str:
        """A few readable lines: one per output."""
        lines = [f"validation on {self.rows} rows ({self.dtype}): {'passed' if self.passed else 'FAILED'}"]
        for o in self.outputs:
            status = "ok" if o.passed else "FAIL"
            if o.label_agreement is not None:
                ties = f", {o.near_ties} near-tie rows" if o.near_ties else ""
                lines.append(f"  {o.name}: label agreement {o.label_agreement:.4%}{ties} [{status}]")
            else:
                lines.append(
                    f"  {o.name}: max abs diff {o.max_abs_diff:.3g}, max rel diff {o.max_rel_diff:.3g}, "
                    f"tolerance {o.tolerance:.3g} [{status}]"
                )
        return "\n".join(lines)


def _differences(got: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float, float]:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"shape {got.shape} differs from sklearn's {ref.shape}")
    both_nan = np.isnan(got) & np.isnan(ref)
    same_inf = np.isinf(ref) & (got == ref)
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity, masked just below
        diff = np.where(both_nan | same_inf, 0.0, np.abs(got - ref))
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size == 0:
        return diff, 0.0, 0.0
    rel = diff / np.maximum(np.abs(np.where(np.isfinite(ref), ref, 1.0)), np.finfo(np.float64).tiny)
    return diff, float(diff.max()), float(rel.max())


def _margins(name: str, scores: np.ndarray) -> np.ndarray:
    """Per row, the gap between the best class's score and the runner-up (``|d|`` for a binary decision)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.abs(scores)
    top2 = np.sort(scores, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def compare_outputs(
    got: dict[str, np.ndarray], reference: dict[str, np.ndarray], *, dtype: str, is_classifier: bool
) -> ValidationReport:
    """Compare each exported output with sklearn's; see the module docstring for the tolerances."""
    comparisons: list[OutputComparison] = []
    rows = 0
    tolerances: dict[str, np.ndarray | float] = {}
    for name in got:
        if name == "predict" and is_classifier:
            continue
        diff, max_abs, max_rel = _differences(got[name], reference[name])
        rows = len(diff)
        precision = "float32" if np.asarray(reference[name]).dtype == np.float32 else dtype
        if name == "predict_proba":
            tolerance = PROBABILITY_ATOL[precision]
        else:
            finite = np.abs(reference[name][np.isfinite(reference[name])])
            tolerance = SCALED_TOL[precision] * max(1.0, float(finite.max()) if finite.size else 1.0)
        tolerances[name] = tolerance
        comparisons.append(OutputComparison(name, max_abs, max_rel, tolerance, bool(max_abs <= tolerance)))
    if "predict" in got and is_classifier:
        labels, ref_labels = np.asarray(got["predict"]), np.asarray(reference["predict"])
        rows = len(labels)
        mismatched = labels != ref_labels
        near_ties = 0
        if mismatched.any():
            score_name = next((n for n in ("predict_proba", "decision_function") if n in reference), None)
            if score_name is not None:
                margin = _margins(score_name, reference[score_name])
                near_ties = int((mismatched & (margin <= 2 * tolerances[score_name])).sum())
        agreement = float(1.0 - mismatched.mean()) if rows else 1.0
        passed = int(mismatched.sum()) == near_ties
        comparisons.insert(0, OutputComparison("predict", 0.0, 0.0, 0.0, passed, agreement, near_ties))
    return ValidationReport(rows=rows, dtype=dtype, outputs=tuple(comparisons))
