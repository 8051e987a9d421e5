"""The total-degree check for the Euclidean Segre cone: all singular vector tuples of one tensor,
without monodromy (MATH.md §6, §7).

The critical points of `‖X − T‖²` on the rank-one tensors are the singular vector tuples:
`T(x_1, …, x̂_l, …, x_L) = σ_l x_l` for all `l`, with non-isotropic factors and
`T(x_1, …, x_L) ≠ 0`. With one random affine chart `c_lᵀx_l = 1` per factor that is a square
system of `Σn_l` equations of degree `d = max(2, L − 1)` and `L` linear ones in `Σn_l + L`
unknowns (`SegreTotalDegreeSystem`). The total-degree homotopy with the γ trick tracks its
`d^{Σn_l}` paths (64 for 2×2×2, 128 for 2×2×3, 512 for 3×3×3) from a start system with known
roots, without monodromy or a start fibre; every isolated nonsingular solution is the end of one
path with probability one (Sommese–Wampler, Theorem 8.4.1), so when no path failed its finite
nonsingular ends are all of them (`segre_total_degree`). `geomflow.ed.segre_ed_degree` runs it at
the monodromy fibre's data `T₀` and certifies the count complete when the two sets of tensors
coincide (`match_sets`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .._errors import GeomflowError
from .._precision import x64
from ._segre_common import ZERO_TOL, _cgauss, _check_format, _kron

# A finite endpoint whose factors have `|x_lᵀx_l| ≤ ISOTROPIC_TOL·‖x_l‖²`, or whose singular
# value `|T(x_1, …, x_L)|` is at most `ZERO_TOL·‖T‖·Π‖x_l‖`, is a singular vector tuple that is
# not an ED critical point (isotropic, or the zero tensor): not counted.
ISOTROPIC_TOL = 1e-8
# ... and `|σ_l x_lᵀx_l − T(x_1, …, x_L)| ≤ CONSISTENCY_TOL·|T(x_1, …, x_L)|` for every `l`
# (an identity on the solutions; a check of the refined points).
CONSISTENCY_TOL = 1e-8
# Two sets of critical tensors coincide when each point of one lies within
# `MATCH_TOL·max(‖X‖, ‖T‖)` of a distinct point of the other.
MATCH_TOL = 1e-6
# A path that stopped before `t = 1` (step too small, too many steps) counts as failed unless it
# stopped at `t ≥ 1 − ENDGAME_T` on its way to infinity or to a singular point
# (`|h| ≤ ENDGAME_H·‖y‖`, or Newton at `t = 1` from where it stopped lands where the Jacobian's
# condition is ≥ `ENDGAME_COND`). This is the one heuristic step of the check: a path that ends
# at a nonsingular solution is regular near `t = 1`, where the tracker is not expected to stall
# (measured for 2×2×3: the nonsingular solutions have condition 19–183). An endpoint that is not
# nonsingular is "at infinity" when `|h| ≤ ENDGAME_H·‖y‖` (paths that go to infinity reach
# `t = 1` with `|h|` ~ 1e-8, not 0), "singular" otherwise.
ENDGAME_T = 1e-3
ENDGAME_H = 1e-4
ENDGAME_COND = 1e8
# Second and third tries for such paths: (predictor, initial step, steps per round).
RETRACK = (("taylor3", 0.002, 4), ("rk4", 0.02, 16))


@dataclass(frozen=True)
class SegreTotalDegreeSystem:
    """The singular-vector-tuple equations of a tensor `T` of `format`, homogenised, and the
    total-degree homotopy to them.

    Unknowns `y = (x_1, …, x_L, σ_1, …, σ_L, h)` (`Σn_l + L + 1` of them, a point of projective
    space in the tracker's affine patch `aᵀy = 1`). With `d = max(2, L − 1)` the target system is

    - `T(x_1, …, x_{l−1}, ·, x_{l+1}, …, x_L)·h^{d−L+1} − σ_l x_l h^{d−2} = 0` (`n_l` equations
      of degree `d` for each `l`),
    - `c_lᵀ x_l − h = 0` (one linear chart per factor, `c_l` random complex),

    and the start system pairs them with `x_{l,i}^d − h^d` and `σ_l − h`, whose `d^{Σn_l}`
    solutions `x_{l,i} = ω^{k_{l,i}}`, `σ_l = h = 1` (`ω = e^{2πi/d}`) are known and
    nonsingular. Parameters `p = (T, c, α, β)` give `α·G + β·F`; `(γ, 0)` at the start and
    `(0, 1)` at the target, on a straight segment (the γ trick). Charts are the tracker's pairs
    `(R0, a)`: `R0` is unused, only the patch `a` changes (`rechart`).

    Examples:
        >>> [SegreTotalDegreeSystem(f).paths for f in [(2, 2, 2), (2, 2, 3), (3, 3, 3)]]
        [64, 128, 512]
        >>> SegreTotalDegreeSystem((2, 2, 2, 2)).paths  # degree L − 1 = 3 for four factors
        6561
    """

    format: tuple

    @property
    def sizes(self) -> int:
        return sum(self.format)

    @property
    def nvars(self) -> int:
        return self.sizes + len(self.format) + 1

    @property
    def degree(self) -> int:
        """The degree `d = max(2, L − 1)` of the factor equations."""
        return max(2, len(self.format) - 1)

    @property
    def paths(self) -> int:
        """The Bézout number `d^{Σn_l}` (the chart equations are linear)."""
        return self.degree ** self.sizes

    def split(self, y):
        """`(x_1, …, x_L), σ, h` of points `y (..., nvars)`."""
        off = np.cumsum((0,) + tuple(self.format))
        xs = [y[..., off[i]:off[i + 1]] for i in range(len(self.format))]
        S = self.sizes
        return xs, y[..., S:S + len(self.format)], y[..., -1]

    def contractions(self, T, xs, xp=np):
        """`T(x_1, …, x̂_l, …, x_L)` for each `l` (batched over leading axes)."""
        L = len(self.format)
        letters = "abcdefgh"[:L]
        Tt = T.reshape(T.shape[:-1] + tuple(self.format))
        out = []
        for i in range(L):
            spec = ("..." + letters + "," + ",".join("..." + letters[j] for j in range(L) if j != i)
                    + "->..." + letters[i])
            out.append(xp.einsum(spec, Tt, *[xs[j] for j in range(L) if j != i]))
        return out

    def target(self, y, T, c, xp=np):
        """The target equations `F(y)` (without the patch)."""
        d, L = self.degree, len(self.format)
        xs, sig, h = self.split(y)
        vs = self.contractions(T, xs, xp)
        eqs = [vs[i] * h[..., None] ** (d - L + 1) - sig[..., i:i + 1] * xs[i] * h[..., None] ** (d - 2)
               for i in range(L)]
        off = np.cumsum((0,) + tuple(self.format))
        eqs.append(xp.stack([xp.sum(c[..., off[i]:off[i + 1]] * xs[i], axis=-1) - h
                             for i in range(L)], axis=-1))
        return xp.concatenate(eqs, axis=-1)

    def start(self, y, xp=np):
        """The start equations `G(y)`: `x_{l,i}^d − h^d` and `σ_l − h`."""
        d = self.degree
        _, sig, h = self.split(y)
        x = y[..., :self.sizes]
        return xp.concatenate([x ** d - h[..., None] ** d, sig - h[..., None]], axis=-1)

    def residual(self, y, p, chart):
        import jax.numpy as jnp

        T, c, alpha, beta = p
        _, a = chart
        H = alpha * self.start(y, jnp) + beta * self.target(y, T, c, jnp)
        return jnp.concatenate([H, (a @ y - 1.0)[None]])

    def chart_quality(self, y):
        """`1/‖y‖` for points normalised on the patch `a = ȳ₀/‖y₀‖²` (1 right after a rechart)."""
        return 1.0 / np.maximum(np.linalg.norm(y, axis=1), 1.0)

    def rechart(self, y, R0, rng):
        """The points normalised, `y/‖y‖`, on fresh patches `a = ȳ` (`R0` is kept)."""
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
        return y, np.array(R0), y.conj()

    def start_solutions(self) -> np.ndarray:
        """The `d^{Σn_l}` start solutions, normalised (`‖y‖ = 1`), as rows."""
        d = self.degree
        w = np.exp(2j * np.pi * np.arange(d) / d)
        grids = np.meshgrid(*([w] * self.sizes), indexing="ij")
        x = np.stack([g.reshape(-1) for g in grids], axis=1)
        y = np.concatenate([x, np.ones((len(x), len(self.format) + 1))], axis=1)
        return y / np.linalg.norm(y, axis=1, keepdims=True)


@dataclass(frozen=True)
class SegreTotalDegree:
    """The outcome of `segre_total_degree`: the total-degree homotopy for the singular vector
    tuples of one tensor `T`.

    - `paths`: Bézout's number `d^{Σn_l}`, all tracked.
    - `finite`: paths that ended (or stopped in the endgame) at a finite point
      (`|h| > ENDGAME_H·‖y‖` or nonsingular); `nonsingular`: of those, the distinct ones where
      Newton refinement converged (`ENDPOINT_RESIDUAL_TOL`) and the Jacobian is well conditioned
      (`SINGULAR_COND`); `duplicates`: nonsingular endpoints reached by more than one path (path
      jumping: a solution may have been missed); `ed_points`: the nonsingular solutions that are
      ED critical points (non-isotropic factors, non-zero tensor,
      `σ_l x_lᵀx_l = T(x_1, …, x_L)` for all `l`).
    - `at_infinity`, `singular`: the other endpoints, discarded.
    - `failed`: paths that stopped before `t = 1` other than in the endgame on their way to
      infinity or to a singular point (see `ENDGAME_T`), after further tries; `retracked`: paths
      that stopped early, other than plainly on the way to infinity, and were tracked again
      (the same paths; smaller steps, then the RK4 predictor, `RETRACK`), counted per try;
      `status_counts`: the tracker's final statuses (`STATUS_NAMES`; a path that stopped
      in the endgame is "step too small" but not failed).
    - `complete`: no path failed and no duplicates: then (with probability one) the
      nonsingular solutions are all the isolated nonsingular solutions.
    - `tensors`: the ED critical tensors `X = s·x_1 ⊗ ⋯ ⊗ x_L`, `(ed_points, N)`, C-order `vec`;
      `T`: the data; `seconds`: wall time.
    """

    format: tuple
    paths: int
    finite: int
    nonsingular: int
    ed_points: int
    at_infinity: int
    singular: int
    failed: int
    retracked: int
    duplicates: int
    status_counts: dict
    tensors: np.ndarray = field(repr=False)
    T: np.ndarray = field(repr=False)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.duplicates == 0

    def summary(self) -> str:
        dup = f", {self.duplicates} reached twice" if self.duplicates else ""
        res = f" ({self.retracked} re-tracked)" if self.retracked else ""
        return (f"total-degree homotopy: {self.paths} paths, {self.failed} failed{res}{dup}, "
                f"{self.at_infinity} at infinity, {self.singular} singular, "
                f"{self.nonsingular} finite nonsingular, {self.ed_points} ED critical points")


def _estimate_t(system: SegreTotalDegreeSystem, y, T, c, gamma):
    """The `t` at which a stopped point lies: `H = (1−t)γG + tF` is affine in `t`, so the
    least-squares `t` of `‖γG + t(F − γG)‖` (numpy; for paths that stopped early)."""
    G = gamma * system.start(y)
    F = system.target(y, T[None], c[None])
    D = F - G
    return np.real(np.sum(D.conj() * -G, axis=1)) / np.maximum(np.sum(np.abs(D) ** 2, axis=1), 1e-300) \
        if len(y) else np.zeros(0)


def _endpoint_classes(system, y1, ch1, status, ends, T, c, gamma):
    """Refined endpoints and masks `(yr, nonsingular, failed, at_infinity, unclear)` (see
    `ENDGAME_T`; `unclear`: stopped early, and not plainly on the way to infinity)."""
    from ._homotopy import DONE, ENDPOINT_RESIDUAL_TOL, SINGULAR_COND, refine_endpoints
    from ._solve import AT_INFINITY_TOL

    k = len(y1)
    yr, step, cond = refine_endpoints(system, y1, ends, ch1)
    scale = np.linalg.norm(yr, axis=1)
    with np.errstate(all="ignore"):
        h_rel = np.abs(yr[:, -1]) / scale
        # Where each path ended, before refinement (Newton from a point near a singular
        # solution at infinity can wander off or give NaN).
        h_last = np.abs(y1[:, -1]) / np.linalg.norm(y1, axis=1)
    done = status == DONE
    nonsing = (done & np.isfinite(yr).all(axis=1) & np.isfinite(step)
               & (step <= ENDPOINT_RESIDUAL_TOL * scale) & (cond < SINGULAR_COND)
               & (h_rel > AT_INFINITY_TOL))
    # Paths that stopped early: where (`t`), and on their way to what (at their last point).
    early = np.flatnonzero(~done)
    failed = np.zeros(k, bool)
    unclear = np.zeros(k, bool)
    if len(early):
        t_stop = _estimate_t(system, y1[early], T, c, gamma)
        cond_stop = refine_endpoints(system, y1[early], tuple(a[early] for a in ends),
                                     tuple(a[early] for a in ch1))[2]
        late = t_stop >= 1 - ENDGAME_T
        to_infinity = late & (h_last[early] <= ENDGAME_H)
        endgame = to_infinity | (late & (cond_stop >= ENDGAME_COND))
        failed[early[~endgame]] = True
        unclear[early[~to_infinity]] = True
    infinite = ~nonsing & ~failed & (h_last <= ENDGAME_H)
    return yr, nonsing, failed, infinite, unclear


@x64
def segre_total_degree(format, T=None, *, seed: int = 0, batch: int = 512,
                       max_steps: int = 4000) -> SegreTotalDegree:
    """All singular vector tuples of a tensor by the total-degree homotopy (no monodromy).

    The square system of `SegreTotalDegreeSystem` (singular-vector-tuple equations
    `T(x_1, …, x̂_l, …, x_L) = σ_l x_l`, one random affine chart `c_lᵀx_l = 1` per factor) is
    solved from the start system `x_{l,i}^d = 1`, `σ_l = 1` along `H = (1 − t)·γ·G + t·F` with a
    random complex `γ`. For such a homotopy every isolated nonsingular solution of `F` is the
    endpoint of one of the `d^{Σn_l}` paths with probability one (Sommese–Wampler 2005,
    Theorem 8.4.1); so when no path failed the finite nonsingular endpoints are all of them.
    Those with non-isotropic factors and non-zero value are the critical points of `‖X − T‖²`
    on the rank-one tensors: `X = s·x_1 ⊗ ⋯ ⊗ x_L`, `s = T(x_1, …, x_L)/Π_l x_lᵀx_l`.

    **Arguments:**

    - `format`: the factor sizes (as for `segre_ed_degree`).
    - `T`: the data tensor (`N` entries, C-order `vec`; real or complex); default a random
      complex Gaussian tensor (`seed`).
    - `seed`: the charts `c_l`, `γ` (and the default `T`); `batch`, `max_steps`: tracker settings.

    **Returns:** a `SegreTotalDegree`.

    **Raises:** `GeomflowError` for a bad format, a misshapen `T`, or more than
    `MAX_TOTAL_DEGREE_PATHS` paths.

    Example (not run as a doctest: it compiles a tracker, about half a minute):

    ```python
    r = segre_total_degree((2, 2, 2))
    r.paths, r.failed, r.ed_points  # (64, 0, 6)
    ```

    ??? cite "References"
        A. J. Sommese, C. W. Wampler, "The numerical solution of systems of polynomials arising
        in engineering and science", World Scientific (2005), Theorem 8.4.1 (total-degree
        homotopy, γ trick).
    """
    from ._homotopy import STATUS_NAMES, TrackStats, dedup, track
    from ._total_degree import MAX_TOTAL_DEGREE_PATHS

    t0 = time.perf_counter()
    ns = _check_format(format)
    system = SegreTotalDegreeSystem(ns)
    N = math.prod(ns)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70DE]))
    c = _cgauss(rng, system.sizes)
    gamma = np.exp(2j * np.pi * rng.uniform())
    if T is None:
        T = _cgauss(rng, N)
    T = np.asarray(T, dtype=np.complex128)
    if T.size != N:
        raise GeomflowError(f"T must have {N} entries (format {'x'.join(map(str, ns))}), "
                            f"got shape {T.shape}")
    T = T.reshape(-1)
    if not np.isfinite(T).all():
        raise GeomflowError("T must have finite entries")
    if system.paths > MAX_TOTAL_DEGREE_PATHS:
        raise GeomflowError(f"the total-degree homotopy for format {'x'.join(map(str, ns))} has "
                            f"{system.degree}^{system.sizes} = {system.paths} paths, more than "
                            f"MAX_TOTAL_DEGREE_PATHS = {MAX_TOTAL_DEGREE_PATHS}")
    y0 = system.start_solutions()
    k = len(y0)
    R0 = np.zeros((k, 1, 1), np.complex128)
    one = np.ones(1, np.complex128)
    p0 = (T[None], c[None], gamma * one, 0 * one)
    p1 = (T[None], c[None], 0 * one, one)
    mid = tuple(0.5 * (a + b) for a, b in zip(p0, p1))
    stats = TrackStats()
    y1, ch1, status, _ = track(system, y0, (R0, y0.conj()), (p0, mid, p1), np.zeros(k, np.int64),
                               batch=batch, max_steps=max_steps, stats=stats, seed=int(seed))
    ends = (np.repeat(T[None], k, 0), np.repeat(c[None], k, 0), np.zeros(k, np.complex128),
            np.ones(k, np.complex128))
    yr, nonsing, failed, infinite, unclear = _endpoint_classes(system, y1, ch1, status, ends, T,
                                                               c, gamma)
    retracked = 0
    for predictor, dt0, round_steps in RETRACK:
        if not unclear.any():
            break
        # Track the paths that stopped early, other than plainly on the way to infinity, again:
        # the same paths of the same homotopy, with other step sizes (no new compilation), then
        # with the RK4 predictor (a Taylor step can stall where a path turns towards infinity
        # late, near t = 1).
        idx = np.flatnonzero(unclear)
        y2, ch2, st2, _ = track(system, y0[idx], (R0[idx], y0[idx].conj()), (p0, mid, p1),
                                np.zeros(len(idx), np.int64), batch=batch, max_steps=max_steps,
                                dt0=dt0, round_steps=round_steps, stats=stats, seed=int(seed) + 1,
                                predictor=predictor)
        y1[idx], status[idx] = y2, st2
        ch1[0][idx], ch1[1][idx] = ch2
        retracked += len(idx)
        yr, nonsing, failed, infinite, unclear_now = _endpoint_classes(system, y1, ch1, status,
                                                                       ends, T, c, gamma)
        unclear = unclear & unclear_now
    singular = ~nonsing & ~failed & ~infinite
    # Distinct finite nonsingular solutions, dehomogenised.
    ya = yr[nonsing] / yr[nonsing, -1:]
    ya = ya[dedup(ya)] if len(ya) else ya
    duplicates = int(nonsing.sum()) - len(ya)
    xs, sig, _ = system.split(ya)
    q = np.stack([np.sum(x * x, axis=1) for x in xs], axis=1)
    norms = np.stack([np.linalg.norm(x, axis=1) for x in xs], axis=1)
    P = _kron(xs) if len(ya) else np.zeros((0, N), np.complex128)
    value = P @ T
    tn = np.linalg.norm(T)
    ed = np.all(np.abs(q) > ISOTROPIC_TOL * norms**2, axis=1)
    ed &= np.abs(value) > ZERO_TOL * tn * np.prod(norms, axis=1)
    ed &= np.all(np.abs(sig * q - value[:, None]) <= CONSISTENCY_TOL * np.abs(value[:, None]), axis=1)
    s = value[ed] / np.prod(q[ed], axis=1)
    X = s[:, None] * P[ed]
    return SegreTotalDegree(
        format=ns, paths=k, finite=int(k - infinite.sum() - failed.sum()), nonsingular=len(ya),
        ed_points=int(ed.sum()), at_infinity=int(infinite.sum()), singular=int(singular.sum()),
        failed=int(failed.sum()), retracked=retracked, duplicates=duplicates,
        status_counts={STATUS_NAMES[v]: int(np.sum(status == v)) for v in np.unique(status)},
        tensors=X, T=T, seconds=time.perf_counter() - t0)


def match_sets(A, B, scale: float, tol: float = MATCH_TOL) -> bool:
    """Whether two sets of tensors (rows) coincide: equal sizes and a bijection pairing each row
    of `A` with a row of `B` within `tol·max(‖A_i‖, scale)`."""
    A = np.asarray(A).reshape(len(A), -1)
    B = np.asarray(B).reshape(len(B), -1)
    if len(A) != len(B):
        return False
    if len(A) == 0:
        return True
    D = np.linalg.norm(A[:, None, :] - B[None, :, :], axis=2)
    j = np.argmin(D, axis=1)
    close = D[np.arange(len(A)), j] <= tol * np.maximum(np.linalg.norm(A, axis=1), scale)
    return bool(close.all() and len(np.unique(j)) == len(A))
