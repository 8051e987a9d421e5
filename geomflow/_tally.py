"""Tallies of per-sample records: categories, counts, Wilson intervals, and a tidy table.

One source for the category names: a converged run's class (`geomflow.CLASS_NAMES`), else its
status (`not_converged`, `diverged`, `non_finite`).
"""

from __future__ import annotations

import math

import numpy as np

from ._critical import CLASS_NAMES
from ._errors import GeomflowError

# A converged run's class, else the status it stopped with.
CATEGORIES = CLASS_NAMES + ("not_converged", "diverged", "non_finite")
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


PURITY = ("pure", "spurious", "not_critical_limit")


def purity(records: dict, rank: int) -> np.ndarray:
    """Per sample of a quadratic-loss sweep of a linear network of rank `rank`: whether its
    limit is a **pure** critical point (`μ(w)` critical for `ℓ` on the function space, at its
    rank stratum) or **spurious** (critical only through the parametrisation), MATH.md §2.

    A global minimum is pure: `μ(w)` minimises `ℓ` on `M_r`, so it is critical there. For any
    other critical limit: the critical points of `ℓ = ‖MX − Y‖²` on the rank-`k` matrices are
    exactly the `P_S = U_S U_Sᵀ Q Σ_XX^{-1/2}`, `|S| = k` (Eckart–Young, for distinct singular
    values of `Q`), so it is pure iff the finaliser matched `μ(w)` to some `P_S` with
    `|S| ≤ rank` (`index_set_valid`, tolerance `FlowTolerances.index_set`). Runs that did not
    converge, and converged runs classified `not_critical`, are `not_critical_limit`.

    Examples:
        >>> rec = {"status": np.array([0, 0, 0, 1]), "label": np.array([0, 2, 2, 0]),
        ...        "index_set": np.array([3, 5, 5, 0]),
        ...        "index_set_valid": np.array([False, True, False, False])}
        >>> purity(rec, 2).tolist()  # global; a matched saddle; an unmatched one; not converged
        ['pure', 'pure', 'spurious', 'not_critical_limit']
    """
    cats = categories(records)
    valid = np.asarray(records["index_set_valid"], bool)
    size = np.array([bin(int(b)).count("1") for b in np.asarray(records["index_set"])])
    pure = (cats == "global_min") | (valid & (size <= rank))
    critical = (np.asarray(records["status"]) == 0) & (cats != "not_critical")
    return np.where(~critical, PURITY[2], np.where(pure, PURITY[0], PURITY[1])).astype(object)


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
