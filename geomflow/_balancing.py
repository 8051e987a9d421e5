"""The fibre's symmetries and a symmetry-normalised (balanced) representative of a point.

The group `GL(d_1) × ⋯ × GL(d_{h−1})` acts on weights by `W_i ↦ G_i W_i G_{i−1}⁻¹`
(`G_0 = I`, `G_h = I`). It keeps the product `μ(w)`, hence the loss `L = ℓ ∘ μ`, maps critical
points to critical points, and acts on weight space by an invertible linear map `A`, so the
Hessian transforms as `H ↦ A⁻ᵀ H A⁻¹`: by Sylvester's law of inertia the numbers of negative,
zero and positive eigenvalues are the same at every point of an orbit, while their magnitudes are
not. Deciding "negative" or "zero" at a badly scaled representative is therefore unreliable;
[`balance_weights`][] moves a point along its orbit to a well-scaled one first.

Balancing is the Kempf–Ness normal form: minimise `Σ_i ‖G_i W_i G_{i−1}⁻¹‖_F²` over the group.
At a minimiser the moment map vanishes, `W_{i+1}ᵀW_{i+1} = W_i W_iᵀ` for every hidden layer
(`δ = 0`, MATH.md §4), and the minimiser is unique up to orthogonal `G_i`, which change no
eigenvalue. Orbits that are not closed (e.g. a rank-one "thread" inside the hidden layers that
neither reads the input nor reaches the output) have no minimiser: the infimum is approached only
as the thread shrinks to zero, and with it the negative curvature it carries (while the rounding
noise next to it grows). The sweeps below are regularised by a floor `τ ≥ floor·s` (`s` the
invariant scale `‖μ(w)‖₂^{2/h}`), which slows that shrinking, and a last pass scales the
one-sided directions that remain (the ends of threads) back to the scale `s`, so a thread keeps
a resolvable size. Any such choice is legitimate: every point reached is on the orbit, and the
classifier's decisions rest on error bounds computed at the point it is given.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Balanced(NamedTuple):
    """A point of the orbit of `w` and the group element reaching it.

    - `weights`: `(T_1 W_1 T_0⁻¹, …, T_h W_h T_{h−1}⁻¹)` with `T_0 = T_h = I`, recomputed from
      the input in one step (so its rounding is that of one product).
    - `transforms`: `(T_1, …, T_{h−1})`; `inverses`: `(T_1⁻¹, …, T_{h−1}⁻¹)`.
    - `cond`: the largest condition number `‖T_i‖₂‖T_i⁻¹‖₂` (1 when nothing moved).
    """

    weights: tuple
    transforms: tuple
    inverses: tuple
    cond: jax.Array


def act(weights, transforms, inverses):
    """The group action `W_i ↦ G_i W_i G_{i−1}⁻¹` (`G_0 = G_h = I`; `transforms = (G_1, …, G_{h−1})`).

    Examples:
        >>> import jax.numpy as jnp
        >>> w = (jnp.array([[1.0, 2.0]]), jnp.array([[3.0]]))
        >>> v = act(w, (jnp.array([[2.0]]),), (jnp.array([[0.5]]),))
        >>> [a.tolist() for a in v], (v[1] @ v[0]).tolist() == (w[1] @ w[0]).tolist()
        ([[[2.0, 4.0]], [[1.5]]], True)
    """
    h = len(weights)
    out = []
    for i in range(1, h + 1):
        W = weights[i - 1]
        if i < h:
            W = transforms[i - 1] @ W
        if i > 1:
            W = W @ inverses[i - 2]
        out.append(W)
    return tuple(out)


def _sym_fn(S, fn):
    lam, E = jnp.linalg.eigh(0.5 * (S + S.T))
    return (E * fn(lam)[None, :]) @ E.T


def _balance_step(A, B, reg, floor):
    """`G = M^{1/2}` with `M (A+τI) M = B+τI` (the geometric mean of `(A+τI)⁻¹` and `B+τI`), and
    `G⁻¹`; `τ = reg · (tr A + tr B) / (2d) + floor`. `G = I` exactly when `A = B`."""
    d = A.shape[0]
    dtype = A.dtype
    tau = reg * (jnp.trace(A) + jnp.trace(B)) / (2 * d) + floor
    tau = jnp.where(tau > 0, tau, 1.0)  # A = B = 0: nothing to balance, G = I
    eye = jnp.eye(d, dtype=dtype)
    Ae, Be = A + tau * eye, B + tau * eye
    lam, E = jnp.linalg.eigh(0.5 * (Ae + Ae.T))
    lam = jnp.maximum(lam, tau)
    Ah = (E * jnp.sqrt(lam)[None, :]) @ E.T
    Aih = (E / jnp.sqrt(lam)[None, :]) @ E.T
    C = _sym_fn(Ah @ Be @ Ah, lambda x: jnp.sqrt(jnp.maximum(x, tau * tau)))
    M = Aih @ C @ Aih
    lo = jnp.sqrt(jnp.finfo(dtype).tiny)  # guards against 0 and ∞ only
    G = _sym_fn(M, lambda x: jnp.sqrt(jnp.clip(x, lo, 1 / lo)))
    Gi = _sym_fn(M, lambda x: 1.0 / jnp.sqrt(jnp.clip(x, lo, 1 / lo)))
    return G, Gi


def _inflation(A, B, s, inflate_min, one_sided=0.9):
    """A symmetric `G` that scales the one-sided directions of a balanced vertex back to weight `s`.

    With `D = B − A = Σ d_j z_j z_jᵀ` and `c_j = z_jᵀ(A + B)z_j`, a direction is one-sided when
    `|d_j| > one_sided · c_j` (only one of the two layers meeting there uses it: the end of a
    thread), and it is scaled back when `inflate_min² · s < c_j < s` (never shrunk, and never
    when it is as small as rounding noise)."""
    D = 0.5 * ((B - A) + (B - A).T)
    d, Z = jnp.linalg.eigh(D)
    c = jnp.einsum("ij,ik,kj->j", Z, A + B, Z)
    ok = (c > inflate_min**2 * s) & (c < s)
    cs = jnp.where(c > 0, c, 1.0)
    g = jnp.where(ok & (d > one_sided * c), jnp.sqrt(cs / s),
                  jnp.where(ok & (d < -one_sided * c), jnp.sqrt(s / cs), 1.0))
    G = (Z * g[None, :]) @ Z.T
    Gi = (Z / g[None, :]) @ Z.T
    return G, Gi


@functools.partial(jax.jit, static_argnames=("sweeps",))
def balance_weights(weights, *, sweeps: int = 40, reg=1e-2, floor=0.1, inflate_min=1e-2) -> Balanced:
    """Move `w` along its fibre's symmetry orbit to a balanced representative (jittable).

    Block-coordinate descent on `Σ‖W_i‖²` over the group: for each hidden layer `i` in turn,
    with `A = W_iW_iᵀ`, `B = W_{i+1}ᵀW_{i+1}` and `τ = reg·(tr A + tr B)/(2d_i) + floor·s`, apply
    the symmetric `G = M^{1/2}` where `M (A+τI) M = B+τI`; afterwards `A = B` up to `τ`'s
    influence. The fixed points are exactly the balanced points (`G = I` iff `A = B`), whatever
    `reg` and `floor`; they only limit how fast directions of weight below `√τ` move. `s` is the
    invariant scale `‖μ(w)‖₂^{2/h}` (a balanced point has `‖W_i‖₂² = s`), or, where `μ(w) = 0` exactly,
    the input's `max_i ‖W_i‖_F²/d_i`: the floor keeps a non-closed thread (module docstring)
    from being shrunk below about `√(floor·s)`, where its curvature would drown in rounding.

    **Arguments:**

    - `weights`: `(W_1, …, W_h)`.
    - `sweeps`: static; the number of passes over the hidden layers.
    - `reg`: the relative regularisation (default `1e-2`).
    - `floor`: the absolute regularisation, relative to `s` (default `0.1`).
    - `inflate_min`: after the sweeps, a one-sided direction (the end of a thread, which the
      sweeps shrink) of weight between `inflate_min·√s` and `√s` is scaled back to `√s`, so that
      the curvature the thread carries stays as resolvable as it was in the input; weaker ones
      are left as they are (rounding noise, default `1e-2`).

    **Returns:** a [`Balanced`][]; its `weights` have the same product as `weights`.

    Examples:
        >>> import jax.numpy as jnp
        >>> w = (jnp.array([[4.0]]), jnp.array([[1.0]]))  # μ = 4, unbalanced
        >>> b = balance_weights(w)
        >>> [round(float(W[0, 0]), 6) for W in b.weights]
        [2.0, 2.0]
    """
    weights = tuple(jnp.asarray(W) for W in weights)
    h = len(weights)
    dtype = weights[0].dtype
    T = tuple(jnp.eye(weights[i].shape[0], dtype=dtype) for i in range(h - 1))
    Ti = T
    if h == 1:
        return Balanced(weights, (), (), jnp.ones((), dtype))

    P = weights[-1]
    for W in weights[-2::-1]:
        P = P @ W
    sizes = jnp.stack([jnp.sum(W * W) / W.shape[0] for W in weights])
    p2 = jnp.linalg.norm(P, 2)
    s = jnp.where(p2 > 0, jnp.where(p2 > 0, p2, 1.0) ** (2.0 / h), jnp.max(sizes))
    tau_floor = floor * s

    def sweep(_, carry):
        w, T, Ti = carry
        w, T, Ti = list(w), list(T), list(Ti)
        for i in range(1, h):  # hidden layer i sits between W_i and W_{i+1}
            A = w[i - 1] @ w[i - 1].T
            B = w[i].T @ w[i]
            G, Gi = _balance_step(A, B, reg, tau_floor)
            w[i - 1] = G @ w[i - 1]
            w[i] = w[i] @ Gi
            T[i - 1] = G @ T[i - 1]
            Ti[i - 1] = Ti[i - 1] @ Gi
        return tuple(w), tuple(T), tuple(Ti)

    w, T, Ti = jax.lax.fori_loop(0, sweeps, sweep, (weights, T, Ti))
    w, T, Ti = list(w), list(T), list(Ti)
    for i in range(1, h):  # give shrunk one-sided directions (threads) back their size
        G, Gi = _inflation(w[i - 1] @ w[i - 1].T, w[i].T @ w[i], s, inflate_min)
        w[i - 1] = G @ w[i - 1]
        w[i] = w[i] @ Gi
        T[i - 1] = G @ T[i - 1]
        Ti[i - 1] = Ti[i - 1] @ Gi
    wb = act(weights, T, Ti)
    conds = [jnp.linalg.norm(t, 2) * jnp.linalg.norm(ti, 2) for t, ti in zip(T, Ti)]
    return Balanced(wb, T, Ti, jnp.max(jnp.stack(conds)))
