"""Tallies of per-sample records: categories, counts, Wilson intervals, and a tidy table.

One source for the category names: a converged run's class (`geomflow.CLASS_NAMES`), else its
status (`not_converged`, `diverged`, `non_finite`).
"""

from __future__ import annotations

import math

import numpy as np

from ._errors import GeomflowError

CATEGORIES = (
    "global_min",
    "non_global_local_min",
    "strict_saddle",
    "non_strict_saddle",
    "zero_hessian",
    "undecided",
    "local_min",
    "not_critical",
    "not_converged",
    "diverged",
    "non_finite",
)
_ALWAYS = ("global_min", "non_global_local_min", "strict_saddle", "non_strict_saddle",
           "zero_hessian", "not_converged", "diverged")


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion `k/n` (95% by default).

    Examples:
        >>> lo, hi = wilson_interval(50, 100)
        >>> round(lo, 4), round(hi, 4)
        (0.4038, 0.5962)
        >>> wilson_interval(0, 0)
        (0.0, 1.0)
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # The exact interval ends at 0 (k = 0) and 1 (k = n); pin them against round-off.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def categories(records: dict) -> np.ndarray:
    """Per-sample category names: the class of a converged run, else its status.

    A run that did not converge is `not_converged` (budget exhausted), `diverged` or `non_finite`
    and never counted in a critical set.
    """
    from ._critical import CLASS_NAMES
    from .integrators._stopping import BUDGET_EXHAUSTED, CONVERGED, DIVERGED

    status = np.asarray(records["status"])
    label = np.asarray(records["label"])
    out = np.empty(status.shape, dtype=object)
    for i, (s, lab) in enumerate(zip(status, label)):
        if s == CONVERGED:
            out[i] = CLASS_NAMES[int(lab)]
        elif s == BUDGET_EXHAUSTED:
            out[i] = "not_converged"
        elif s == DIVERGED:
            out[i] = "diverged"
        else:
            out[i] = "non_finite"
    return out


def tally(records: dict, *, loss: str = "quadratic") -> dict:
    """Counts per category (keys of `_ALWAYS` always; the others where relevant)."""
    cats = categories(records)
    counts = {c: int(np.count_nonzero(cats == c)) for c in CATEGORIES}
    keep = set(_ALWAYS) | {c for c, k in counts.items() if k}
    if loss != "quadratic":
        keep |= {"undecided", "local_min"}
    return {c: counts[c] for c in CATEGORIES if c in keep}


def records_table(records: dict) -> dict:
    """A tidy per-sample table (columns → arrays), with `category` and `fibre` as strings."""
    out = {}
    for k, v in records.items():
        v = np.asarray(v)
        if k == "fibre":
            out[k] = np.array(["".join("+" if x > 0 else "-" if x < 0 else "0" for x in row)
                               for row in v.reshape(v.shape[0], -1)], dtype=object)
        else:
            out[k] = v
    out["category"] = categories(records)
    return out


def drift_summary(records: dict, drift_tol: float) -> dict:
    """How many converged runs are over the per-sample drift bound, and how many were
    re-integrated at tighter tolerances (records with a `drift_retried` column)."""
    drift = np.asarray(records["delta_drift"])
    conv = np.asarray(records["status"]) == 0
    retried = np.asarray(records.get("drift_retried", np.zeros(drift.shape, bool)), bool)
    return {"drift_tol": float(drift_tol),
            "over_drift_bound": int(np.count_nonzero(conv & (drift > drift_tol))),
            "drift_retried": int(np.count_nonzero(retried))}


def compare_precisions(a, b) -> dict:
    """How two sweeps of the same samples differ: per-category counts and changed samples."""
    ia, ib = np.asarray(a.records["index"]), np.asarray(b.records["index"])
    if ia.shape != ib.shape or not np.array_equal(ia, ib):
        raise GeomflowError("the two sweeps do not cover the same samples")
    ca, cb = a.categories, b.categories
    changed = np.nonzero(ca != cb)[0]
    return {
        "tally_a": a.tally, "tally_b": b.tally, "changed": int(changed.size),
        "changed_indices": ia[changed].tolist()[:100],
        "transitions": {f"{x}->{y}": int(np.count_nonzero((ca == x) & (cb == y)))
                        for x, y in sorted({(ca[i], cb[i]) for i in changed})},
    }
