"""The balance invariants `δ(w)` of a linear network, conserved by gradient flow.

`δ_i(w) = W_{i+1}ᵀ W_{i+1} − W_i W_iᵀ ∈ R^{d_i × d_i}` for `i = 1, …, h−1`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from . import _batchlast as B


def balance_invariants(weights: Sequence) -> tuple[jax.Array, ...]:
    """`δ(w) = (δ_1, …, δ_{h−1})`, `δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ` (ordered input to output).

    For any loss `L = ℓ ∘ μ`, `δ` is constant along the gradient flow `ẇ = −∇L(w)`. The weights
    may carry trailing batch axes (`W_i (d_i, d_{i−1}, *b)`, the engine's layout).

    ??? cite "References"
        Arora, Cohen, Hazan (2018); Bah, Rauhut, Terstiege, Westdickenberg (2021).

    Examples:
        >>> import jax.numpy as jnp

from . import _batchlast as B
        >>> w = (jnp.array([[1.0, 0.0]]), jnp.array([[2.0]]))
        >>> balance_invariants(w)[0].tolist()
        [[3.0]]
    """
    return tuple(B.mm(B.tr(weights[i + 1]), weights[i + 1]) - B.mm(weights[i], B.tr(weights[i]))
                 for i in range(len(weights) - 1))


def weights_sq_norm(weights: Sequence) -> jax.Array:
    """`Σ_i ‖W_i‖_F²`."""
    return sum(jnp.sum(W * W) for W in weights)


def invariant_drift(weights0: Sequence, weights1: Sequence) -> jax.Array:
    """Absolute drift `max_i ‖δ_i(w_1) − δ_i(w_0)‖_F` (0 for a network with h = 1)."""
    d0, d1 = balance_invariants(weights0), balance_invariants(weights1)
    if not d0:
        return jnp.zeros((), dtype=weights0[0].dtype)
    return jnp.max(jnp.stack([jnp.linalg.norm(a - b) for a, b in zip(d0, d1)]))


def relative_drift(c0: Sequence, c1: Sequence, sq0, sq1, batch_ndim: int = 0) -> jax.Array:
    """`max_k ‖c_k(w_1) − c_k(w_0)‖ / max(1, ‖w_0‖², ‖w_1‖²)` for conserved quantities `c0`, `c1`
    (each with `batch_ndim` trailing batch axes) and squared weight norms `sq0`, `sq1`: the one
    drift measure of every model and engine (0 when there are none)."""
    if not c0:
        return jnp.zeros(jnp.shape(sq1), jnp.result_type(sq1))
    num = None
    for a, b in zip(c0, c1):
        sq = (a - b) * (a - b)
        for _ in range(sq.ndim - batch_ndim):
            sq = B.lsum(sq)
        n = jnp.sqrt(sq)
        num = n if num is None else jnp.maximum(num, n)
    return num / jnp.maximum(1.0, jnp.maximum(sq0, sq1))


def relative_invariant_drift(weights0: Sequence, weights1: Sequence) -> jax.Array:
    """Drift relative to the scale of `δ`: `max_i ‖δ_i(w_1) − δ_i(w_0)‖_F / max(1, ‖w_0‖², ‖w_1‖²)`.

    `δ` is quadratic in the weights, so `‖w‖² = Σ‖W_i‖_F²` is its natural scale; the floor 1
    keeps the ratio meaningful for small initialisations.

    Examples:
        >>> import jax.numpy as jnp

from . import _batchlast as B
        >>> w0 = (jnp.array([[1.0, 0.0]]), jnp.array([[2.0]]))
        >>> w1 = (jnp.array([[1.0, 0.0]]), jnp.array([[3.0]]))
        >>> float(relative_invariant_drift(w0, w1))   # |9 − 4| / max(1, 5, 10)
        0.5
    """
    return relative_drift(balance_invariants(weights0), balance_invariants(weights1),
                          weights_sq_norm(weights0), weights_sq_norm(weights1))


def gd_invariant_drift(grads: Sequence, learning_rate) -> tuple[jax.Array, ...]:
    """The exact change of `δ` in one gradient-descent step `W_i ← W_i − η g_i`.

    `δ_i(w − ηg) − δ_i(w) = η² (g_{i+1}ᵀ g_{i+1} − g_i g_iᵀ)` for the true gradient `g = ∇L(w)`
    (the first-order terms cancel because `W_{i+1}ᵀ g_{i+1} = g_i W_iᵀ`). Comparing a measured
    drift with this separates discretisation drift from bugs.
    """
    eta2 = learning_rate**2
    return tuple(eta2 * (grads[i + 1].T @ grads[i + 1] - grads[i] @ grads[i].T) for i in range(len(grads) - 1))
