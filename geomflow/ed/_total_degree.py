"""A monodromy-free count: the total-degree homotopy for the critical system (small cases).

The homogenised critical equations of `RankSystem` are `N = r(m+n−r)` cubics in
`P^N ∋ (U, V′, h)`. The start system `G_i = x_i³ − h³` has the `3^N` solutions
`x_i = ω^{k_i}` (cube roots of unity), `h = 1`, all nonsingular (Bézout's bound). The homotopy
`H(y, t) = (1 − t)·γ·G(y) + t·F(y)` with a random complex `γ` (the "γ trick") has, with
probability one, smooth paths for `t ∈ [0, 1)`; their endpoints include every isolated
nonsingular root of `F`. The rest go to infinity (`h → 0`), to singular or to rank-deficient
points and are discarded by the same endpoint tests as the monodromy fibre.

This is an independent check of the monodromy count: no start fibre, no loops, no trace test.
It costs `3^N` paths, so it is practical only for small `N` (3×3 rank one: `N = 5`, 243 paths).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import GeomflowError
from .._precision import x64
from ._equations import RankSystem

# Refuse a total-degree homotopy with more paths than this (3^N grows fast; 3^9 ≈ 2e4).
MAX_TOTAL_DEGREE_PATHS = 20000


@dataclass(frozen=True)
class TotalDegreeSystem:
    """`λ·G(y) + μ·F(y)` and the patch equation: the total-degree homotopy of a `RankSystem`.

    Parameters `p = (W, Q, λ, μ)`; `(λ, μ) = (γ, 0)` at the start and `(0, 1)` at the target.
    Charts: the base system's `(R0, a)`; only the patch `a` is ever changed (`rechart`).
    """

    base: RankSystem

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def nvars(self) -> int:
        return self.base.nvars

    def residual(self, y, p, chart):
        import jax.numpy as jnp

        W, Q, lam, mu = p
        R0, a = chart
        F = self.base.residual(y, (W, Q), chart)[:-1]
        x, h = y[: self.dim], y[self.dim]
        G = x**3 - h**3
        return jnp.concatenate([lam * G + mu * F, (a @ y - 1.0)[None]])

    def chart_quality(self, y):
        """`1/‖y‖` for points normalised on the patch `a = ȳ₀/‖y₀‖²` (1 right after a rechart)."""
        return 1.0 / np.maximum(np.linalg.norm(y, axis=1), 1.0)

    def rechart(self, y, R0, rng):
        """The points normalised, `y/‖y‖`, on fresh patches `a = ȳ` (the chart matrix is kept)."""
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
        return y, np.array(R0), y.conj()


def start_solutions(N: int) -> np.ndarray:
    """The `3^N` solutions `(ω^{k_1}, …, ω^{k_N}, 1)` of `x_i³ = h³`, as rows.

    Examples:
        >>> s = start_solutions(2)
        >>> s.shape, bool(np.allclose(s[:, :2] ** 3, 1))
        ((9, 3), True)
    """
    w = np.exp(2j * np.pi * np.arange(3) / 3)
    grids = np.meshgrid(*([w] * N), indexing="ij")
    x = np.stack([g.reshape(-1) for g in grids], axis=1)
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


@x64
def total_degree_solve(m: int, n: int, r: int, W, Q, *, seed: int = 0, batch: int = 256,
                       max_steps: int = 4000) -> dict:
    """All isolated nonsingular rank-`r` critical points of `vec(M−Q)ᵀ W vec(M−Q)` by the
    total-degree homotopy (no monodromy).

    **Arguments:**

    - `m`, `n`, `r`: shape and rank; `W` `(mn, mn)` and `Q` `(m, n)` (real or complex; e.g. a
      random complex parameter for a generic count).
    - `seed`: the chart and `γ`; `batch`, `max_steps`: tracker settings.

    **Returns:** a dict with `paths` (`3^N`), `counted` (distinct nonsingular rank-`r` finite
    endpoints), `matrices` (those points, internal orientation `m ≥ n`), `status_counts`.

    **Raises:** `GeomflowError` for a bad shape or rank, or more than `MAX_TOTAL_DEGREE_PATHS`
    paths.
    """
    from ._homotopy import TrackStats, dedup, track
    from ._solve import _good_endpoints, _system

    if not 1 <= r <= min(m, n):
        raise GeomflowError(f"rank must satisfy 1 <= r <= min(m, n) = {min(m, n)}, got {r}")
    base = _system(m, n, r, "generic")
    W = np.asarray(W, dtype=np.complex128)
    Q = np.asarray(Q, dtype=np.complex128)
    if m < n:
        from ._equations import commutation_matrix

        P = commutation_matrix(m, n)
        W, Q = P @ W @ P.T, Q.T
    N = base.dim
    if 3**N > MAX_TOTAL_DEGREE_PATHS:
        raise GeomflowError(f"the total-degree homotopy for {m}x{n} rank {r} has 3^{N} paths, "
                            f"more than MAX_TOTAL_DEGREE_PATHS = {MAX_TOTAL_DEGREE_PATHS}")
    system = TotalDegreeSystem(base)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70D]))
    R0 = (rng.standard_normal((base.n, base.n)) + 1j * rng.standard_normal((base.n, base.n))) / np.sqrt(2)
    gamma = np.exp(2j * np.pi * rng.uniform())
    y0 = start_solutions(N)
    y0 = y0 / np.linalg.norm(y0, axis=1, keepdims=True)
    a0 = y0.conj()
    k = len(y0)
    R0s = np.repeat(R0[None], k, axis=0)
    one = np.ones(1, np.complex128)
    p0 = (W[None], Q[None], gamma * one, 0 * one)
    p1 = (W[None], Q[None], 0 * one, one)
    c = tuple(0.5 * (a + b) for a, b in zip(p0, p1))
    stats = TrackStats()
    y1, ch1, st, _ = track(system, y0, (R0s, a0), (p0, c, p1), np.zeros(k, np.int64), batch=batch,
                           max_steps=max_steps, stats=stats, seed=int(seed))
    M, ok = _good_endpoints(base, y1, ch1, st, (np.repeat(W[None], k, 0), np.repeat(Q[None], k, 0)))
    good = M[ok]
    good = good[dedup(good)] if len(good) else good
    return {"paths": k, "counted": len(good), "matrices": good, "status_counts": stats.status_counts}


@x64
def total_degree_count(m: int, n: int, r: int = 1, *, seed: int = 0) -> dict:
    """The generic ED degree of `M_r ⊂ C^{m×n}` counted by the total-degree homotopy.

    A random complex `(W, Q)` drawn as for the monodromy start (`W = W_r + i W_i` with `W_r`
    real positive definite, `Q` complex Gaussian; a plain complex `BᵀB` can be close to
    singular, and then critical points are huge and ill-conditioned), solved by
    `total_degree_solve`; an independent check of the monodromy count for small cases.

    **Returns:** the dict of `total_degree_solve` without the matrices.

    Example (not run as a doctest: it compiles a tracker, about a minute):

    ```python
    total_degree_count(3, 3, 1)["counted"]  # 39, from 3^5 = 243 paths
    ```
    """
    from ._solve import _random_params, _system

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xC0]))
    system = _system(m, n, r, "generic")
    W, Q = _random_params(rng, system, anchored=True)  # internal orientation (m ≥ n)
    out = total_degree_solve(system.m, system.n, r, W, Q, seed=seed)
    out.pop("matrices")
    return out
