"""Fibres `μ^{-1}(M)` of the product map: component labels, samplers, paths and sign guarantees.

For `rank M = r = min(d_0, …, d_h)` the fibre `μ^{-1}(M)` has `2^b` path-connected components,
`b = #{0 < i < h : d_i = r}`; for `rank M < r` it is connected (MATH.md §1). With the bottleneck
layers `i_1 < … < i_b` (`d_{i_k} = r`) and `M = U_r Σ_r V_rᵀ`, the `r × r` matrices

- `W_{i_1:1} V_r` and
- the segments `G_k = W_{i_{k+1}:i_k+1}`, `k = 1, …, b−1`,

are invertible on a rank-`r` fibre: `M V_r = W_{h:i_1+1} (W_{i_1:1} V_r)` has rank `r`, and
`M = W_{h:i_{k+1}+1} G_k W_{i_k:1}` forces `rank G_k = r`. So their determinant signs
`(sgn det W_{i_1:1}V_r, sgn det G_1, …, sgn det G_{b−1})` are constant on each component: this is
the **fibre label** in `{±1}^b` ([`fibre_label`][]). [`sample_fibre_point`][] draws random points
of a fibre that realise every label, [`label_margins`][] gives the quantitative reason the dets
cannot vanish (`σ_min(G_k) ≥ σ_r(M) / (‖W_{h:i_{k+1}+1}‖₂ ‖W_{i_k:1}‖₂)`), and [`fibre_path`][]
builds (in `geomflow._fibre_paths`) an explicit path inside a fibre of rank `< r` between two points with different labels.

??? cite "References"
    Trager, Kohn, Bruna, *Pure and spurious critical points: a geometric study of linear
    networks*, ICLR 2020 (the component count).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError
from ._invariants import balance_invariants
from ._networks import Architecture, architecture, product


def _widths_of(weights: Sequence) -> tuple[int, ...]:
    if len(weights) == 0:
        raise GeomflowError("weights must be a non-empty tuple (W_1, …, W_h)")
    d = [int(weights[0].shape[1])] + [int(W.shape[0]) for W in weights]
    for i, W in enumerate(weights, start=1):
        if W.ndim != 2 or W.shape[1] != d[i - 1]:
            raise GeomflowError(
                f"weights do not chain: W_{i} has shape {tuple(W.shape)}, expected "
                f"(d_{i}, {d[i - 1]}) with d_{i - 1} = {d[i - 1]}"
            )
    return tuple(d)


def reference_frame(M, r: int) -> jax.Array:
    """`V_r`: the top-`r` right singular vectors of `M` (`d_0 × r`), with a sign convention.

    Each singular vector is flipped so that its entry of largest absolute value is positive, so
    that points of one fibre computed independently get the same frame (up to round-off, and
    as long as no two singular values of `M` coincide). Jittable.

    Examples:
        >>> import jax.numpy as jnp
        >>> reference_frame(jnp.array([[0.0, -3.0], [1.0, 0.0]]), 1).tolist()
        [[0.0], [1.0]]
    """
    return _reference_frame_core(jnp.asarray(M), int(r))


@functools.partial(jax.jit, static_argnums=(1,))
def _reference_frame_core(M, r):
    _, _, vt = jnp.linalg.svd(M, full_matrices=False)
    V = vt[:r].T
    idx = jnp.argmax(jnp.abs(V), axis=0)
    s = jnp.sign(V[idx, jnp.arange(r)])
    s = jnp.where(s == 0, 1.0, s)
    return V * s[None, :] + 0.0  # + 0.0 turns -0.0 into 0.0


def fibre_label(weights: Sequence, V_r=None) -> jax.Array:
    """The fibre-component label of `weights` in `{±1}^b` (pure JAX: jittable and vmappable).

    `(sgn det W_{i_1:1}V_r, sgn det W_{i_2:i_1+1}, …, sgn det W_{i_b:i_{b−1}+1})` for the
    bottleneck layers `i_1 < … < i_b` (`0 < i < h`, `d_i = r`). On a fibre `μ^{-1}(M)` with
    `rank M = r` every entry is `±1` and constant on path components, and all `2^b` values occur.

    **Arguments:**

    - `weights`: `(W_1, …, W_h)`.
    - `V_r`: a fixed `d_0 × r` reference frame spanning the row space of `M` (pass the same one
      for all points of one fibre). Default: [`reference_frame`][] of `μ(weights)`, whose sign
      convention makes independently computed frames agree on one fibre.

    **Returns:** an `int32` array of shape `(b,)` with entries `±1` (an entry is `0` only if a
    determinant is exactly zero, which cannot happen on a rank-`r` fibre).

    **Raises:** `GeomflowError` if the weights do not chain or `V_r` has the wrong shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> w = (jnp.array([[1.0, 0.0]]), jnp.array([[-2.0]]), jnp.array([[1.0], [1.0]]))
        >>> fibre_label(w).tolist()   # widths (2, 1, 1, 2): b = 2
        [1, -1]
        >>> fibre_label(w, V_r=jnp.array([[-1.0], [0.0]])).tolist()
        [-1, -1]
    """
    d = _widths_of(weights)
    arch = architecture(d)
    r, bn = arch.rank, arch.bottlenecks
    if not bn:
        return jnp.zeros((0,), jnp.int32)
    weights = tuple(jnp.asarray(W) for W in weights)
    if V_r is None:
        return _label_default_frame(weights)
    V_r = jnp.asarray(V_r)
    if V_r.shape != (d[0], r):
        raise GeomflowError(f"V_r must have shape (d_0, r) = {(d[0], r)}, got {tuple(V_r.shape)}")
    return _label_with_frame(weights, V_r)


def _label_core(weights, V_r):
    arch = architecture(_widths_of(weights))
    bn = arch.bottlenecks
    if V_r is None:
        V_r = reference_frame(product(weights), arch.rank)
    mats = [product(weights[: bn[0]]) @ V_r]
    mats += [product(weights[bn[k] : bn[k + 1]]) for k in range(len(bn) - 1)]
    return jnp.stack([jnp.sign(jnp.linalg.det(A)) for A in mats]).astype(jnp.int32)


# Compiled once per shape (an eager call would compile every op separately); nested inside an
# outer jit/vmap these simply inline.
_label_default_frame = jax.jit(lambda weights: _label_core(weights, None))
_label_with_frame = jax.jit(_label_core)


def label_index(label) -> int:
    """The integer `Σ_k [label_k = −1] 2^k` in `[0, 2^b)` of a label (outside jit).

    Examples:
        >>> label_index([1, -1, -1])
        6
    """
    return int(sum((1 << k) for k, s in enumerate(np.asarray(label).tolist()) if s < 0))


def label_margins(weights: Sequence, M=None, V_r=None) -> tuple[np.ndarray, np.ndarray]:
    """Why a label cannot change on a rank-`r` fibre, in numbers.

    For each label matrix `A_k` (`W_{i_1:1}V_r`, then the segments `G_k`) returns
    `(σ_min(A_k), bound_k)` with `bound_k = σ_r(M) / (‖left_k‖₂ ‖right_k‖₂)` from
    `M V_r = W_{h:i_1+1} A_1` and `M = W_{h:i_{k+1}+1} G_k W_{i_k:1}`; on the fibre
    `σ_min(A_k) ≥ bound_k > 0`, so the determinant cannot vanish along any path in the fibre.

    **Returns:** two numpy arrays of shape `(b,)`: the smallest singular values and the bounds.
    """
    d = _widths_of(weights)
    arch = architecture(d)
    r, bn = arch.rank, arch.bottlenecks
    ws = [np.asarray(W, dtype=float) for W in weights]
    M = np.asarray(product(ws) if M is None else M, dtype=float)
    if V_r is None:
        V_r = np.asarray(reference_frame(M, r))
    sr = np.linalg.svd(M, compute_uv=False)[r - 1]

    def prod(lo, hi):  # W_{hi:lo+1} as numpy, identity if empty
        P = np.eye(ws[lo].shape[1]) if hi <= lo else None
        for W in ws[lo:hi]:
            P = W if P is None else W @ P
        return P

    h = len(ws)
    smin, bounds = [], []
    for k in range(len(bn)):
        if k == 0:
            A, left, right = prod(0, bn[0]) @ V_r, prod(bn[0], h), np.eye(r)
        else:
            A, left, right = prod(bn[k - 1], bn[k]), prod(bn[k], h), prod(0, bn[k - 1])
        smin.append(np.linalg.svd(A, compute_uv=False)[-1])
        bounds.append(sr / (np.linalg.norm(left, 2) * np.linalg.norm(right, 2)))
    return np.array(smin), np.array(bounds)


# ---------------------------------------------------------------------------------------------
# Sampling points of a fibre


@dataclasses.dataclass(frozen=True)
class FibreParams:
    """The parametrisation behind a point of [`sample_fibre_point`][] (used by [`fibre_path`][]).

    `W_1 = g_1 [V_kᵀ; F_1]`, `W_i = g_i diag(I_k, E_i) g_{i−1}^{-1}` (`1 < i < h`),
    `W_h = [U_kΣ_k, F_h] g_{h−1}^{-1}`; the remainder chain `(F_1, E_2, …, E_{h−1}, F_h)` has zero
    product, so `μ(w) = U_kΣ_kV_kᵀ = M`. `killer` is the layer whose remainder block was solved
    for (`None` when a zero-width remainder vertex makes the product vanish anyway).
    """

    gs: tuple  # inner g_1, …, g_{h−1}
    remainder: tuple  # F_1, E_2, …, E_{h−1}, F_h
    UkSk: object
    Vk: object
    killer: int | None


def _chain(mats):
    P = None
    for A in mats:
        P = A if P is None else A @ P
    return P


def _killed_block(R, c: int, xp):
    """Block `c` of the remainder chain, projected so that the chain's product is zero: its
    columns into the kernel of the product of the blocks above, its rows orthogonal to the image
    of the product of the blocks below. `xp` is `jnp` or `np`."""
    Z = R[c - 1]
    if c < len(R):
        B = _chain(R[c:])
        Z = Z - xp.linalg.pinv(B) @ (B @ Z)
    if c > 1:
        C = _chain(R[: c - 1])
        Z = Z - (Z @ C) @ xp.linalg.pinv(C)
    return Z


def _weights_from_params(p: FibreParams, k: int, xp=jnp) -> tuple:
    gs, R = p.gs, p.remainder
    h = len(R)
    if h == 1:
        return (p.UkSk @ p.Vk.T,)
    dt = R[0].dtype
    W = [gs[0] @ xp.concatenate([p.Vk.T, R[0]], axis=0)]
    ginv = [xp.linalg.inv(g) for g in gs]
    for i in range(2, h):
        E = R[i - 1]
        top = xp.concatenate([xp.eye(k, dtype=dt), xp.zeros((k, E.shape[1]), dt)], axis=1)
        bot = xp.concatenate([xp.zeros((E.shape[0], k), dt), E], axis=1)
        W.append(gs[i - 1] @ xp.concatenate([top, bot], axis=0) @ ginv[i - 2])
    W.append(xp.concatenate([p.UkSk, R[-1]], axis=1) @ ginv[-1])
    return tuple(W)


def _numerical_rank(M: np.ndarray) -> int:
    s = np.linalg.svd(M, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > max(M.shape) * np.finfo(float).eps * 16 * s[0]))


def _check_target(arch: Architecture, M, rank):
    d, r = arch.widths, arch.rank
    if tuple(M.shape) != (d[-1], d[0]):
        raise GeomflowError(f"M must have shape (d_h, d_0) = {(d[-1], d[0])}, got {tuple(M.shape)}")
    k = _numerical_rank(np.asarray(M, dtype=float)) if rank is None else int(rank)
    if k > r:
        raise GeomflowError(
            f"M has rank {k} > r = {r}: it is not in the neuromanifold of widths {d}, so its fibre is empty"
        )
    return k


def sample_fibre_point(
    key: jax.Array,
    arch: Architecture | Sequence[int],
    M,
    *,
    rank: int | None = None,
    killer: int | None = None,
    return_params: bool = False,
):
    """A random point `w` of the fibre `μ^{-1}(M)`: `W_h ⋯ W_1 = M` up to round-off.

    With `k = rank M ≤ r` and `M = U_kΣ_kV_kᵀ`: every inner vertex is split into a `k`-dimensional
    through part, which carries `M` (`W_1 = g_1[V_kᵀ; F_1]`, `W_i = g_i diag(I_k, E_i) g_{i−1}^{-1}`,
    `W_h = [U_kΣ_k, F_h] g_{h−1}^{-1}`), and a remainder of dimension `d_i − k` filled with random
    matrices whose product is zero (one "killer" layer `c` solves `B X C = 0`, `B`/`C` the
    remainder products after/before it, unless a remainder vertex has width zero). The inner `g_i`
    are Gaussian, so every label in `{±1}^b` occurs with positive probability, and at rank `r` the
    points are generic (every partial product other than `μ` has the largest rank the fibre
    allows). Pure JAX given `rank` (and `killer`, when one is needed): jittable and vmappable
    over `key`.

    **Arguments:**

    - `key`: a JAX PRNG key.
    - `arch`: the architecture or widths.
    - `M`: the `d_h × d_0` target, `rank M ≤ r`.
    - `rank`: `rank M` if known (needed under `jit`/`vmap`; otherwise computed numerically).
    - `killer`: the layer `1..h` holding the zero-product constraint (default: random when
      `key` is concrete, `h` under tracing).
    - `return_params`: also return the [`FibreParams`][].

    **Returns:** `(W_1, …, W_h)` (and the params if asked).

    **Raises:** `GeomflowError` if `M` has the wrong shape or rank `> r`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> M = jnp.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [1.0, 3.0, 1.0]])  # rank 2
        >>> w = sample_fibre_point(jax.random.key(0), (3, 2, 2, 3), M)
        >>> bool(jnp.allclose(w[2] @ w[1] @ w[0], M, atol=1e-10))
        True
    """
    arch = architecture(arch)
    d, h = arch.widths, arch.depth
    M = jnp.asarray(M)
    k = _check_target(arch, M, rank)
    dtype = M.dtype if jnp.issubdtype(M.dtype, jnp.floating) else jnp.result_type(float)
    M = M.astype(dtype)
    rd = [d[0]] + [di - k for di in d[1:-1]] + [d[-1]]  # remainder widths (ends: full spaces)
    if h >= 2 and min(rd[1:-1]) >= 1:
        if killer is None:
            try:
                killer = int(jax.random.randint(jax.random.fold_in(key, 1), (), 1, h + 1))
            except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError):
                killer = h  # traced key: a fixed layer
        if not 1 <= int(killer) <= h:
            raise GeomflowError(f"killer must be a layer in 1..{h}, got {killer}")
        killer = int(killer)
    else:
        killer = None
    w, gs, R, UkSk, Vk = _sample_core(key, M, d, k, killer)
    if return_params:
        return w, FibreParams(gs, R, UkSk, Vk, killer)
    return w


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _sample_core(key, M, d, k, killer):
    h = len(d) - 1
    dtype = M.dtype
    U, S, Vt = jnp.linalg.svd(M, full_matrices=False)
    UkSk, Vk = U[:, :k] * S[None, :k], Vt[:k].T
    if h == 1:
        return (M,), (), (jnp.zeros((d[1], 0), dtype),), UkSk, Vk
    rd = [d[0]] + [di - k for di in d[1:-1]] + [d[-1]]
    keys = jax.random.split(key, 2 * h + 2)
    gs = tuple(jax.random.normal(keys[i], (d[i], d[i]), dtype) for i in range(1, h))
    R = [jax.random.normal(keys[h + i], (rd[i], rd[i - 1]), dtype) for i in range(1, h + 1)]
    if killer is not None:
        R[killer - 1] = _killed_block(R, killer, jnp)
    p = FibreParams(gs, tuple(R), UkSk, Vk, killer)
    return _weights_from_params(p, k, jnp), gs, tuple(R), UkSk, Vk


def _sample_params_np(rng: np.random.Generator, widths, UkSk, Vk, killer) -> FibreParams:
    """The numpy twin of [`sample_fibre_point`][] (same construction; used by the Monte Carlo,
    which then needs no compilation)."""
    d, h, k = widths, len(widths) - 1, Vk.shape[1]
    rd = [d[0]] + [di - k for di in d[1:-1]] + [d[-1]]
    gs = tuple(rng.standard_normal((d[i], d[i])) for i in range(1, h))
    R = [rng.standard_normal((rd[i], rd[i - 1])) for i in range(1, h + 1)]
    if killer is not None:
        R[killer - 1] = _killed_block(R, killer, np)
    return FibreParams(gs, tuple(R), UkSk, Vk, killer)


def _label_np(ws, V_r, bn) -> tuple[int, ...]:
    mats = [_chain(ws[: bn[0]]) @ V_r] + [_chain(ws[bn[j] : bn[j + 1]]) for j in range(len(bn) - 1)]
    return tuple(int(np.sign(np.linalg.det(A))) for A in mats)


def random_target(key: jax.Array, arch: Architecture | Sequence[int], rank: int | None = None, dtype=None):
    """A random `d_h × d_0` matrix of the given rank (default `r`) with singular values in
    `[1, 2]`.

    Examples:
        >>> import jax, numpy as np
        >>> M = random_target(jax.random.key(0), (3, 2, 2, 3), rank=1)
        >>> int(np.linalg.matrix_rank(np.asarray(M)))
        1
    """
    arch = architecture(arch)
    d0, dh = arch.widths[0], arch.widths[-1]
    k = arch.rank if rank is None else int(rank)
    if not 0 <= k <= arch.rank:
        raise GeomflowError(f"rank must be in 0..r = 0..{arch.rank}, got {rank}")
    return _random_target_core(key, d0, dh, k, jnp.dtype(dtype or jnp.result_type(float)))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _random_target_core(key, d0, dh, k, dtype):
    k1, k2, k3 = jax.random.split(key, 3)
    A = jnp.linalg.qr(jax.random.normal(k1, (dh, max(k, 1)), dtype))[0][:, :k]
    B = jnp.linalg.qr(jax.random.normal(k2, (d0, max(k, 1)), dtype))[0][:, :k]
    s = 1.0 + jax.random.uniform(k3, (k,), dtype)
    return (A * s[None, :]) @ B.T


def sign_guarantees(weights: Sequence) -> dict[int, int]:
    """Square layers whose determinant sign the conserved `δ` pins for the whole flow.

    `δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ` is constant along `ẇ = −∇L(w)` for any loss. If `δ_i ≻ 0`
    then `W_{i+1}ᵀW_{i+1} ⪰ δ_i ≻ 0`, so `σ_min(W_{i+1})² ≥ λ_min(δ_i) > 0` forever, and a square
    `W_{i+1}` keeps its determinant sign; if `δ_i ≺ 0` the same holds for `W_i`
    (`σ_min(W_i)² ≥ −λ_max(δ_i)`).

    **Returns:** `{layer j (1-based): sgn det W_j at these weights}` for every square layer so
    pinned (outside jit).

    Examples:
        >>> import numpy as np
        >>> w = (np.eye(2), 2 * np.eye(2))     # δ_1 = 4I − I ≻ 0
        >>> sign_guarantees(w)
        {2: 1}
    """
    out: dict[int, int] = {}
    ws = [np.asarray(W, dtype=float) for W in weights]
    for i, D in enumerate(balance_invariants(ws), start=1):
        ev = np.linalg.eigvalsh(np.asarray(D))
        for j, cond in ((i + 1, ev[0] > 0), (i, ev[-1] < 0)):
            W = ws[j - 1]
            if cond and W.shape[0] == W.shape[1]:
                out[j] = int(np.sign(np.linalg.det(W)))
    return out
