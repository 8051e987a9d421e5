"""Morse index of real critical points via the Riemannian Hessian on the rank-`r` manifold."""

from __future__ import annotations

import functools

import numpy as np

from .._precision import x64

# An eigenvalue `λ` of the Riemannian Hessian counts as zero when `|λ| ≤ MORSE_TOL·max|λ|`;
# a point with such an eigenvalue is reported degenerate (neither counted a minimum nor not).
MORSE_TOL = 1e-9


@functools.cache
def _hessian_kernel(m: int, n: int, r: int):
    import jax
    import jax.numpy as jnp

    from ._equations import vec

    def one(M, W, Q):
        Uf, s, Vft = jnp.linalg.svd(M, full_matrices=True)
        S0 = jnp.diag(s[:r])

        def phi(z):
            # Rank-r chart around M with orthonormal coordinates: in the bases Uf, Vf the matrix
            # [[Σ+K, C], [B, B (Σ+K)^{-1} C]] has rank r and its differential at 0 is an isometry.
            K = z[: r * r].reshape(r, r)
            B = z[r * r : r * r + (m - r) * r].reshape(m - r, r)
            C = z[r * r + (m - r) * r :].reshape(r, n - r)
            S = S0 + K
            top = jnp.concatenate([S, C], axis=1)
            bot = jnp.concatenate([B, B @ jnp.linalg.solve(S, C)], axis=1)
            return Uf @ jnp.concatenate([top, bot], axis=0) @ Vft

        def f(z):
            d = vec(phi(z) - Q)
            return d @ W @ d

        z0 = jnp.zeros(r * (m + n - r), dtype=M.dtype)
        H = jax.hessian(f)(z0)
        g = jax.grad(f)(z0)
        return jnp.linalg.eigvalsh(0.5 * (H + H.T)), jnp.linalg.norm(g)

    return jax.jit(jax.vmap(one))


@x64
def riemannian_hessian_eigenvalues(M, W, Q, r: int):
    """Eigenvalues of the Riemannian Hessian of `ℓ(M) = vec(M−Q)ᵀ W vec(M−Q)` on `M_r`.

    In an orthonormal basis of the tangent space `T_M M_r` (the chart
    `[[Σ+K, C], [B, B(Σ+K)^{-1}C]]` in the singular bases of `M`, whose second-order term is the
    curvature of `M_r`). At a critical point this is the Hessian of `ℓ` restricted to the manifold.

    **Arguments:**

    - `M`: real critical matrices `(k, m, n)` of rank exactly `r`.
    - `W`: `(k, mn, mn)` or `(mn, mn)` weights; `Q`: `(k, m, n)` or `(m, n)` data.
    - `r`: the rank.

    **Returns:** `(eigenvalues (k, r(m+n−r)), riemannian_gradient_norm (k,))`.

    Examples:
        >>> import numpy as np
        >>> Q = np.diag([3.0, 1.0])
        >>> ev, g = riemannian_hessian_eigenvalues(np.diag([3.0, 0.0])[None], np.eye(4), Q, 1)
        >>> np.round(ev, 6).tolist()  # 2(1 ± σ₂/σ₁) and 2
        [[1.333333, 2.0, 2.666667]]
    """
    M = np.asarray(M, dtype=float)
    k, m, n = M.shape
    W = np.broadcast_to(np.asarray(W, dtype=float), (k, m * n, m * n))
    Q = np.broadcast_to(np.asarray(Q, dtype=float), (k, m, n))
    if k == 0:
        return np.zeros((0, r * (m + n - r))), np.zeros(0)
    kern = _hessian_kernel(m, n, r)
    size = 64 if k <= 64 else 1024  # two sizes: each one is a compilation
    evs, gs = [], []
    for s in range(0, k, size):
        sl = slice(s, s + size)
        Mi, Wi, Qi = M[sl], W[sl], Q[sl]
        c = len(Mi)
        if c < size:
            pad = np.arange(size) % c
            Mi, Wi, Qi = Mi[pad], Wi[pad], Qi[pad]
        ev, g = kern(Mi, Wi, Qi)
        evs.append(np.asarray(ev)[:c])
        gs.append(np.asarray(g)[:c])
    return np.concatenate(evs), np.concatenate(gs)


def morse_indices(eigenvalues, *, tol: float = MORSE_TOL):
    """Morse index (number of negative eigenvalues) and a degeneracy flag for each row.

    Examples:
        >>> morse_indices([[1.0, 2.0], [-1.0, 3.0], [0.0, 1.0]])
        (array([0, 1, 0]), array([False, False,  True]))
    """
    ev = np.atleast_2d(np.asarray(eigenvalues, dtype=float))
    scale = np.maximum(np.abs(ev).max(axis=1, keepdims=True), 1e-300)
    neg = ev < -tol * scale
    zero = np.abs(ev) <= tol * scale
    return neg.sum(axis=1), zero.any(axis=1)
