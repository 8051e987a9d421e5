"""Closed forms for the quadratic loss `ℓ_{X,Y}(M) = ‖MX − Y‖_F²` (MATH.md §2, §5).

With `Σ_XX = XXᵀ ≻ 0` and `Q = YXᵀ Σ_XX^{-1/2} = U diag(σ) Vᵀ` (distinct σ),
`ℓ(M) = ‖M Σ_XX^{1/2} − Q‖² + ‖Y‖² − ‖Q‖²`. Every critical point of `L = ℓ ∘ μ` has
`P = U_S U_Sᵀ Y Xᵀ Σ_XX^{-1}` for a unique `S ⊂ {1..q}`, `|S| ≤ r`, and `L = ‖Y‖² − Σ_{i∈S} σ_i²`.
These are the independent oracles the classifier is tested against.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError
from ._networks import architecture


class Whitening(NamedTuple):
    """`Σ_XX^{1/2}`, `Σ_XX^{-1/2}`, and the SVD `Q = U diag(σ) Vᵀ` of `Q = YXᵀΣ_XX^{-1/2}`."""

    sqrt_sigma: jax.Array
    inv_sqrt_sigma: jax.Array
    U: jax.Array
    sigma: jax.Array
    V: jax.Array


def whitening(X, Y=None, *, check: bool = True, cond_max: float = 1e12) -> Whitening:
    """Whiten the data: `Σ_XX = XXᵀ`, its square root and inverse square root, and the SVD of `Q`.

    **Arguments:**

    - `X`: `d_0 × s` data; `Y`: `d_h × s` targets (optional; `U, σ, V` are `None` without it).
    - `check`: refuse a rank-deficient `XXᵀ` (outside `jit` only: it reads values).
    - `cond_max`: largest accepted condition number of `XXᵀ`.

    **Raises:** `GeomflowError` if `XXᵀ` is singular or its condition number exceeds `cond_max`.

    Examples:
        >>> import numpy as np
        >>> whitening(np.array([[1.0, 0.0], [2.0, 0.0]]))
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: XXᵀ is rank-deficient (rank 1 < d_0 = 2): whitening and the quadratic-loss oracles need XXᵀ ≻ 0 (at least d_0 linearly independent samples)
    """
    X = jnp.asarray(X)
    S = X @ X.T
    lam, E = jnp.linalg.eigh(0.5 * (S + S.T))
    if check:
        lam_np = np.asarray(lam)
        top = max(float(lam_np[-1]), 0.0)
        rank = int(np.sum(lam_np > top * 1e-12)) if top > 0 else 0
        if rank < X.shape[0] or top / float(lam_np[0]) > cond_max:
            raise GeomflowError(
                f"XXᵀ is rank-deficient (rank {rank} < d_0 = {X.shape[0]}): whitening and the "
                "quadratic-loss oracles need XXᵀ ≻ 0 (at least d_0 linearly independent samples)"
                if rank < X.shape[0]
                else f"XXᵀ is ill-conditioned (condition number {top / float(lam_np[0]):.3g} > "
                f"{cond_max:.0g}); whitening would lose all accuracy"
            )
    sq = jnp.sqrt(lam)
    sqrt_sigma = (E * sq[None, :]) @ E.T
    inv_sqrt_sigma = (E / sq[None, :]) @ E.T
    if Y is None:
        return Whitening(sqrt_sigma, inv_sqrt_sigma, None, None, None)
    Q = jnp.asarray(Y) @ X.T @ inv_sqrt_sigma
    U, sigma, Vt = jnp.linalg.svd(Q, full_matrices=False)
    return Whitening(sqrt_sigma, inv_sqrt_sigma, U, sigma, Vt.T)


def target_matrix(X, Y) -> jax.Array:
    """`Q = YXᵀ Σ_XX^{-1/2}`: the quadratic loss is `‖MΣ_XX^{1/2} − Q‖² + ‖Y‖² − ‖Q‖²`."""
    wh = whitening(X, None, check=False)
    return jnp.asarray(Y) @ jnp.asarray(X).T @ wh.inv_sqrt_sigma


def global_min_value(X, Y, r: int) -> jax.Array:
    """`L* = ‖Y‖² − Σ_{i ≤ r̄} σ_i²`, `r̄ = min(r, rank Q)`: the global minimum of `L` (jittable).

    Summing the top `min(r, q)` singular values needs no rank decision: zero ones add nothing.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(global_min_value(jnp.eye(2), jnp.diag(jnp.array([3.0, 1.0])), 1))
        1.0
    """
    wh = whitening(X, Y, check=False)
    s = wh.sigma
    k = min(r, s.shape[0])
    Y = jnp.asarray(Y)
    return jnp.sum(Y * Y) - jnp.sum(s[:k] ** 2)


def effective_rank(X, Y, r: int, *, rank_tol: float = 1e-10) -> jax.Array:
    """`r̄ = min(r, rank Q)` with numerical rank threshold `rank_tol · σ_1`."""
    s = whitening(X, Y, check=False).sigma
    q = jnp.sum(s > rank_tol * jnp.maximum(s[0], jnp.finfo(s.dtype).tiny))
    return jnp.minimum(r, q)


def critical_values(X, Y, r: int) -> list[tuple[tuple[int, ...], float]]:
    """All critical values of `L`: `(S, ‖Y‖² − Σ_{i∈S} σ_i²)` for `S ⊂ {1..q}`, `|S| ≤ r` (1-based).

    Outside `jit` (returns a Python list, sorted by value).
    """
    wh = whitening(X, Y)
    s = np.asarray(wh.sigma)
    s = s[s > 1e-12 * max(s[0], 1e-300)]
    y2 = float(np.sum(np.asarray(Y) ** 2))
    out = []
    for k in range(0, min(r, len(s)) + 1):
        for S in itertools.combinations(range(1, len(s) + 1), k):
            out.append((S, y2 - float(sum(s[i - 1] ** 2 for i in S))))
    return sorted(out, key=lambda t: t[1])


def critical_product(X, Y, S) -> jax.Array:
    """`P_S = U_S U_Sᵀ Y Xᵀ Σ_XX^{-1}` for an index set `S` (1-based indices)."""
    wh = whitening(X, Y)
    idx = jnp.asarray([i - 1 for i in S], dtype=jnp.int32)
    US = wh.U[:, idx]
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    return US @ US.T @ Y @ X.T @ jnp.linalg.inv(X @ X.T)


def critical_index_set(X, Y, P, *, tol: float = 1e-6):
    """The index set `S` of a critical product `P`, as a bitmask, and whether `P` really is one.

    Writes `C = Uᵀ (P Σ_XX^{1/2}) V`; at a critical point `C = diag(σ_i [i ∈ S])`. Bit `i`
    (0-based, `i` = singular direction `i+1` of `Q`) is set iff `C_ii / σ_i > 1/2`, and never for
    a singular value that is zero at the working precision (`σ_i ≤ tol·σ_1`: a rank-deficient
    `Q`, whose zero directions belong to no `S`); `valid` is
    `‖C − diag(σ·1_S)‖_F ≤ tol · max(1, σ_1)`. Jittable.

    **Returns:** `(bitmask, valid)`, int32 and bool scalars.
    """
    wh = whitening(X, Y, check=False)
    C = wh.U.T @ (P @ wh.sqrt_sigma) @ wh.V
    s = wh.sigma
    nonzero = s > tol * s[0]
    ratio = jnp.diagonal(C) / jnp.where(nonzero, s, 1.0)
    member = nonzero & (ratio > 0.5)
    expected = jnp.diag(jnp.where(member, s, 0.0))
    valid = jnp.linalg.norm(C - expected) <= tol * jnp.maximum(1.0, s[0])
    bits = jnp.sum(jnp.where(member, 2 ** jnp.arange(s.shape[0]), 0)).astype(jnp.int32)
    return bits, valid


def is_top_index_set(bitmask) -> jax.Array:
    """Whether a bitmask `S` is `{1, …, |S|}` (the top singular directions). Jittable."""
    bitmask = jnp.asarray(bitmask, dtype=jnp.int32)
    return (bitmask & (bitmask + 1)) == 0


def expected_zero_eigenvalues(arch, rbar: int) -> int:
    """Zero Hessian eigenvalues at a global minimum: `d_w − r̄(d_0 + d_h − r̄)` (Morse–Bott).

    Examples:
        >>> expected_zero_eigenvalues((3, 2, 2, 3), 2)
        8
    """
    arch = architecture(arch)
    d0, dh = arch.widths[0], arch.widths[-1]
    return arch.num_params - rbar * (d0 + dh - rbar)
