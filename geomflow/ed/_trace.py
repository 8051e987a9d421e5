"""The trace test (Leykin–Rodriguez–Sottile 2018): is a start fibre complete?

With the weights `W` fixed, the data `Q` enter the critical equations affinely. The ED
correspondence `Y = {(M, Q): M ∈ M_r critical for ℓ_{W,Q}}` is an irreducible variety in the
affine space of pairs `(M, Q)`, and the fibre over `Q` is its slice by the affine space
`{Q = const}`. Moving `Q` along a line `Q(t) = Q₀ + t·v` moves the slice parallel to itself, so
(for `W` in general position, where no critical point escapes to infinity over a finite `Q`) the
sum of the matrices `M_i(t)` over the **complete** fibre is an affine function of `t`; over a
proper subset of the fibre (a start fibre that misses solutions) it is not. The coordinates
summed are the matrix entries of `M` (regular functions on `Y`), not chart coordinates, which
have poles where a solution crosses its chart's boundary.

Numerically: track the fibre from `Q₀` to `Q₀ ± v` (straight segments), and measure the second
difference of the trace, relative to the total size of the points,

`residual = ‖T(1) + T(−1) − 2 T(0)‖ / Σ_i (‖M_i(1)‖ + ‖M_i(−1)‖ + 2‖M_i(0)‖)`,
`T(t) = Σ_i M_i(t)`.

Named tolerance: `TRACE_TOL`, the residual below which the fibre passes (refined points are
accurate to about `1e-13` relative, so a complete fibre's residual is ~`1e-14`; one missing
point's contribution is its own second difference, of the order of `1/d` relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._precision import x64

TRACE_TOL = 1e-9


@dataclass(frozen=True)
class TraceTest:
    """The outcome of a trace test on a set of solutions at one parameter.

    `residual`: the relative second difference of the trace (see the module docstring);
    `passed`: `residual ≤ TRACE_TOL` and every path arrived at a distinct, nonsingular point;
    `tracked`: how many of the `size` points reached both `Q₀ + v` and `Q₀ − v`;
    `removal_residuals`: for each point `j`, the residual of the set without `j` (NaN where not
    computed); `points`: the matrices at `t = −1, 0, 1`, shape `(3, size, m, n)`.
    """

    residual: float
    passed: bool
    size: int
    tracked: int
    removal_residuals: np.ndarray
    points: np.ndarray


def trace_residual(M_minus, M_0, M_plus, keep=None) -> float:
    """The relative second difference of the trace of a set of points along a line.

    **Arguments:**

    - `M_minus`, `M_0`, `M_plus`: the points at `t = −1, 0, 1`, arrays `(k, …)` whose row `i`
      are the same path's positions.
    - `keep`: optional boolean mask of the rows to sum (default all).

    **Returns:** `‖T(1) + T(−1) − 2 T(0)‖ / Σ (‖M(1)‖ + ‖M(−1)‖ + 2‖M(0)‖)` over the kept rows.

    Examples:
        >>> import numpy as np
        >>> t = np.array([-1.0, 0.0, 1.0])
        >>> roots = lambda s: np.array([[np.sqrt(2 + s)], [-np.sqrt(2 + s)]])  # x² = 2 + t
        >>> a, b, c = (roots(s) for s in t)
        >>> trace_residual(a, b, c) < 1e-15, trace_residual(a, b, c, keep=np.array([True, False])) > 0.01
        (True, True)
    """
    pts = [np.asarray(P).reshape(len(P), -1) for P in (M_minus, M_0, M_plus)]
    if keep is not None:
        pts = [P[keep] for P in pts]
    a, b, c = pts
    num = np.linalg.norm(a.sum(0) + c.sum(0) - 2 * b.sum(0))
    den = np.sum(np.linalg.norm(a, axis=1) + np.linalg.norm(c, axis=1) + 2 * np.linalg.norm(b, axis=1))
    return float(num / max(den, 1e-300))


def _removal_residuals(a, b, c):
    """Residual of the set without row `j`, for every `j` (vectorised)."""
    a, b, c = (np.asarray(P).reshape(len(P), -1) for P in (a, b, c))
    diff = a + c - 2 * b
    total = diff.sum(0)
    norms = np.linalg.norm(a, axis=1) + np.linalg.norm(c, axis=1) + 2 * np.linalg.norm(b, axis=1)
    num = np.linalg.norm(total[None, :] - diff, axis=1)
    return num / np.maximum(norms.sum() - norms, 1e-300)


@x64
def trace_test(system, matrices, params, R0, *, seed: int = 0, batch: int = 2048,
               tol: float = TRACE_TOL, removals: bool = True, retracks: int = 3) -> TraceTest:
    """Trace test of a set of solutions `matrices` of `system` at parameters `params = (W, Q₀)`.

    Moves `Q` along a random complex line (`W` fixed), tracks every point to `Q₀ ± v` with the
    batched tracker and computes `trace_residual`. Points are tracked in the chart `R0`.

    **Arguments:**

    - `system`: a `RankSystem`, or any system with `coordinates(points, charts)` and
      `good_endpoints(y, chart, status, p_end)` (e.g. `SegreSystem`, whose "matrices" are
      tensors); `matrices`: `(k, m, n)` complex solutions at `params`.
    - `params`: `(W, Q₀)`; `R0`: the chart matrix the points are tracked in.
    - `seed`: the direction `v`; `tol`: the pass threshold (`TRACE_TOL`).
    - `removals`: also compute the residual of the set with each single point removed.
    - `retracks`: a path that fails is re-tracked along a random complex arc up to this many
      times (the test needs every point at `Q₀ ± v`; it fails, with residual `inf`, if any is
      missing or two coincide).

    **Returns:** a `TraceTest`.
    """
    from ._homotopy import dedup, track
    from ._solve import _good_endpoints, _stack

    def endpoints(y, ch, st, p):  # the system's own filter where it has one (`_good_endpoints`)
        return _good_endpoints(system, y, ch, st, p)

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7ACE]))
    W0, Q0 = (np.asarray(a, dtype=np.complex128) for a in params)
    mats = np.asarray(matrices, dtype=np.complex128)
    k = len(mats)
    scale = np.sqrt(np.mean(np.abs(Q0) ** 2))
    v = scale * (rng.standard_normal(Q0.shape) + 1j * rng.standard_normal(Q0.shape)) / np.sqrt(2)
    ends = []
    ok_all = np.ones(k, bool)
    R0s = np.repeat(np.asarray(R0)[None], k, axis=0)
    y0, a0 = system.coordinates(mats, R0s)
    a0 = np.array(a0)
    for sign in (1.0, -1.0):
        p1 = (W0, Q0 + sign * v)
        M1 = np.full_like(mats, np.nan)
        ok = np.zeros(k, bool)
        for attempt in range(1 + retracks):
            todo = np.flatnonzero(~ok)
            if len(todo) == 0:
                break
            # The straight segment first; paths that failed go along a random complex arc
            # (the endpoint set at Q₀ ± v is what is summed, not the pairing).
            bend = 0.0 if attempt == 0 else 0.5
            mid = (W0, Q0 + 0.5 * sign * v + bend * scale * (rng.standard_normal(Q0.shape)
                                                              + 1j * rng.standard_normal(Q0.shape)))
            P = (_stack([(W0, Q0)]), _stack([mid]), _stack([p1]))
            y1, ch1, st, _ = track(system, y0[todo], (R0s[todo], a0[todo]), P,
                                   np.zeros(len(todo), np.int64), batch=batch,
                                   seed=int(seed) + 17 * attempt + (7 if sign > 0 else 13))
            Mt, okt = endpoints(y1, ch1, st, _stack([p1] * len(todo)))
            M1[todo[okt]] = Mt[okt]
            ok[todo[okt]] = True
        ok_all &= ok
        ends.append(M1)
    Mp, Mm = ends
    distinct = all(len(dedup(E[ok_all])) == int(ok_all.sum()) for E in (Mp, Mm)) if ok_all.any() else False
    if ok_all.all():
        res = trace_residual(Mm, mats, Mp)
        rem = _removal_residuals(Mm, mats, Mp) if removals else np.full(k, np.nan)
    else:
        res = float("inf")
        rem = np.full(k, np.nan)
    passed = bool(ok_all.all() and distinct and res <= tol)
    return TraceTest(res, passed, k, int(ok_all.sum()), rem, np.stack([Mm, mats, Mp]))
