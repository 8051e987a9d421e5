"""Deciding global vs non-global for local minima of a perturbed distance, with the ED engine.

For `ℓ(M) = ‖A·vec(M − Q)‖²` on a non-filling architecture the global value
`L* = min_{rank M ≤ r} ℓ(M)` has no closed form, so the flow engine tallies a Morse–Bott local
minimum as `local_min` (globality unknown). The ED engine lists *every* complex critical point of
`ℓ` on the smooth part of `M_r`; for generic data the minimum over `M_r` is attained there (on a
cone through 0 a convex `ℓ` is minimised at 0 only if `∇ℓ(0) = 0`), so `L*` is the smallest value
over the real local minima of a **complete** instance. Incomplete instances stay unresolved.
"""

from __future__ import annotations

import numpy as np

from ._errors import GeomflowError


def row_to_column_weight(A: np.ndarray, m: int, n: int) -> np.ndarray:
    """`W` with `vec_col(D)ᵀ W vec_col(D) = ‖A·vec_row(D)‖²` for every `m × n` matrix `D`.

    geomflow's losses use row-major `vec`, the ED engine column-major.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> A, D = rng.standard_normal((6, 6)), rng.standard_normal((2, 3))
        >>> W = row_to_column_weight(A, 2, 3)
        >>> v = D.T.reshape(-1)
        >>> bool(np.isclose(v @ W @ v, np.sum((A @ D.reshape(-1)) ** 2)))
        True
    """
    P = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            P[i * n + j, j * m + i] = 1.0
    AP = np.asarray(A, dtype=float) @ P
    return AP.T @ AP


def perturbed_global_minimum(A, Q, rank: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`L*` of `‖A·vec(M − Q)‖²` over `rank M ≤ r` for a batch of instances, by the ED engine.

    **Arguments:** `A` of shape `(k, p, mn)` (row-major `vec`), `Q` of shape `(k, m, n)`, `rank`.

    **Returns:** `(L_star, complete)`: `L_star[i]` is the smallest value over the real local
    minima of instance `i` (`nan` where the instance is incomplete or has none), `complete[i]`
    whether every complex critical point was found.
    """
    from . import ed

    A = np.asarray(A, dtype=float)
    Q = np.asarray(Q, dtype=float)
    if A.ndim != 3 or Q.ndim != 3 or A.shape[0] != Q.shape[0]:
        raise GeomflowError(f"expected A (k, p, mn) and Q (k, m, n), got {A.shape} and {Q.shape}")
    k, m, n = Q.shape
    W = np.stack([row_to_column_weight(a, m, n) for a in A])
    sol = ed.solve_instances(W, Q, rank, "generic", seed=seed)
    L_star = np.full(k, np.nan)
    for i in range(k):
        if not sol.complete[i]:
            continue
        mins = ed.classify_instance_points(sol.points[i], W[i], Q[i], rank)["minima"]
        if len(mins):
            vals = [float((M - Q[i]).T.reshape(-1) @ W[i] @ (M - Q[i]).T.reshape(-1)) for M in mins]
            L_star[i] = min(vals)
    return L_star, np.asarray(sol.complete, dtype=bool)


def resolve_local_minima(result, *, match_tol: float = 1e-6) -> dict:
    """Split a perturbed-distance sweep's `local_min` samples into global / non-global.

    For every converged sample classified `local_min`, the instance is solved by the ED engine
    and its final loss compared with `L*`: within `match_tol · max(1, |L*|)` it is a global
    minimum, above it a non-global local minimum; an incomplete ED instance leaves it
    `unresolved`. The sweep's own records are not changed.

    **Returns:** a dict `{"global_min", "non_global_local_min", "unresolved", "samples",
    "match_tol", "method"}`.
    """
    import jax
    import jax.numpy as jnp

    from ._sampling import ProblemSpec, sample_problem

    cfg = result.config
    spec_d = dict(cfg["spec"])
    if spec_d.get("loss") != "perturbed":
        raise GeomflowError("ED globality applies to --loss perturbed sweeps only")
    spec = ProblemSpec(**{k: (tuple(v) if k == "widths" else v) for k, v in spec_d.items()})
    widths = spec.widths
    r = min(widths)
    cats = result.categories
    idx = np.asarray(result.records["index"])[cats == "local_min"]
    losses = np.asarray(result.records["loss"])[cats == "local_min"]
    out = {"samples": int(len(idx)), "global_min": 0, "non_global_local_min": 0, "unresolved": 0,
           "match_tol": match_tol,
           "method": "L* = min over the real local minima of the ED engine's complete list"}
    if not len(idx):
        return out
    seed = int(cfg["seed"])
    loss = jax.jit(jax.vmap(lambda i: sample_problem(spec, seed, i, jnp.float64)[0]))(jnp.asarray(idx))
    L_star, _ = perturbed_global_minimum(np.asarray(loss.A), np.asarray(loss.Q), r)
    for L, Ls in zip(losses, L_star):
        if not np.isfinite(Ls):
            out["unresolved"] += 1
        elif L - Ls <= match_tol * max(1.0, abs(Ls)):
            out["global_min"] += 1
        else:
            out["non_global_local_min"] += 1
    return out
