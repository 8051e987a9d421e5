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
builds an explicit path inside a fibre of rank `< r` between two points with different labels.

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


# ---------------------------------------------------------------------------------------------
# Monte Carlo over a fibre and explicit paths


@dataclasses.dataclass(frozen=True)
class FibrePath:
    """An explicit path `w(t)` inside `μ^{-1}(M)` between two sampled points, checked on a grid.

    - `ok`: the path stays on the fibre (`max_residual ≤ 1e-8`), passes the continuity check
      (after adaptive bisection every grid step is `≤ step_tol = 0.05·max(1, ‖w_a‖, ‖w_b‖)`),
      and the frames stay injective (`min_frame_sv > 0`).
    - `label_start`, `label_end`: the labels at the two ends.
    - `max_residual`: `max_t ‖μ(w(t)) − M‖_F / ‖M‖_F`; `max_step`: the largest distance between
      consecutive grid points, `step_tol` its threshold; `min_frame_sv`: the smallest singular
      value of the through-frames `a_i(t)` met on the grid; `num_points`: grid size.
    """

    ok: bool
    label_start: tuple
    label_end: tuple
    max_residual: float
    max_step: float
    step_tol: float
    min_frame_sv: float
    num_points: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FibreMonteCarlo:
    """What [`fibre_monte_carlo`][] observed on one fibre.

    - `widths`, `rank` (of `M`), `r`, `b`, `expected_components` (`2^b` at rank `r`, else 1).
    - `labels_seen`: the distinct labels (as tuples) and `counts` of each.
    - `max_residual`: `max ‖μ(w) − M‖_F / ‖M‖_F` over the samples.
    - `min_margin_ratio`: `min σ_min(A_k)/bound_k` over samples and labels (≥ 1 on the fibre;
      rank `r` with `b > 0` only).
    - `path`: the [`FibrePath`][] check: between two points with different labels (rank `< r`),
      or two distinct points with the same label (rank `r`).
    """

    widths: tuple[int, ...]
    rank: int
    r: int
    b: int
    expected_components: int
    labels_seen: tuple
    counts: tuple
    max_residual: float
    min_margin_ratio: float | None
    path: FibrePath | None

    @property
    def observed_labels(self) -> int:
        return len(self.labels_seen)

    def to_dict(self) -> dict:
        def name(lab):
            return "".join("+" if s > 0 else "-" if s < 0 else "0" for s in lab) or "()"

        return {
            "widths": list(self.widths),
            "rank": self.rank,
            "r": self.r,
            "b": self.b,
            "expected_components": self.expected_components,
            "observed_labels": self.observed_labels,
            "labels": {name(lab): c for lab, c in zip(self.labels_seen, self.counts)},
            "max_residual": self.max_residual,
            "min_margin_ratio": self.min_margin_ratio,
            "path": None if self.path is None else self.path.to_dict(),
        }


def fibre_path(pa: FibreParams, pb: FibreParams, M, *, steps: int = 20, V_r=None) -> FibrePath:
    """Connect two points of one fibre by an explicit path inside the fibre.

    Works for `rank M = k < r` between any two points, and for `k = r` between two points with
    the same label (different labels cannot be joined: the label is invariant, see
    [`label_margins`][]). Together with the `2^b` labels seen by sampling this shows that the
    labels are exactly the path components.

    The path, in the coordinates of [`FibreParams`][]: (1) scale the killer block of `a` to
    zero, then the rest of `a`'s remainder (the remainder product stays zero all along); with no
    remainder the weights are `W_1 = a_1V_kᵀ`, `W_i = a_i b_{i−1}`, `W_h = U_kΣ_k b_{h−1}` with
    `b_i a_i = I_k`, `a_i` of size `d_i × k`; (2) move every frame `a_i` from `a`'s to `b`'s: on a
    straight line when `d_i > k` (rank-deficient `d_i × k` matrices have codimension
    `d_i − k + 1 ≥ 2`, so a random line misses them), with `b_i = a_i^+ + Z_i(I − a_ia_i^+)`, `Z_i`
    interpolated; when `d_i = k` (a bottleneck at rank `r`) through `GL^±(k)` by
    `a_i(t) = Q(t)R(t)` (QR with positive diagonal: `R` on a straight line, `Q` by Givens rotations),
    which needs `sgn det` equal at both ends, and `b_i = a_i^{-1}`; (3) rebuild `b`'s remainder
    (stage 1 backwards). Every stage is in the fibre by algebra; the grid check confirms it
    numerically and checks continuity by adaptive bisection.

    **Returns:** a [`FibrePath`][].

    **Raises:** `GeomflowError` for a one-layer network, or for two points at rank `r` whose
    labels differ.
    """
    as_np = lambda p: FibreParams(  # noqa: E731
        tuple(np.asarray(g, float) for g in p.gs), tuple(np.asarray(x, float) for x in p.remainder),
        np.asarray(p.UkSk, float), np.asarray(p.Vk, float), p.killer,
    )
    pa, pb = as_np(pa), as_np(pb)
    k = pa.Vk.shape[1]
    h = len(pa.remainder)
    if h < 2:
        raise GeomflowError("a fibre of a one-layer network is a point; there is no path to build")
    M = np.asarray(M, float)
    for ga, gb in zip(pa.gs, pb.gs):
        if ga.shape[0] == k and np.sign(np.linalg.det(ga)) != np.sign(np.linalg.det(gb)):
            raise GeomflowError(
                "the two points lie in different components of a rank-r fibre (their labels "
                "differ), and no path inside the fibre joins them"
            )

    def strip(p: FibreParams, t):
        """Stage 1 at t ∈ [0, 1]: the killer scaled by (1−2t)₊, then the rest by (2−2t) ∧ 1."""
        f_kill = min(max(1.0 - 2.0 * t, 0.0), 1.0)
        f_rest = min(max(2.0 - 2.0 * t, 0.0), 1.0)
        R = tuple(
            X * (f_kill if (p.killer is not None and i + 1 == p.killer) else f_rest)
            for i, X in enumerate(p.remainder)
        )
        return _weights_from_params(dataclasses.replace(p, remainder=R), k, np)

    def frames(p: FibreParams):
        return [g[:, :k] for g in p.gs], [np.linalg.inv(g)[:k, :] for g in p.gs]

    aa, ba = frames(pa)
    ab, bb = frames(pb)
    min_sv = [float("inf")]
    square = [_gl_path(x, y) if x.shape[0] == k else None for x, y in zip(aa, ab)]

    def middle(t):
        a = [sq(t) if sq is not None else (1 - t) * x + t * y for sq, x, y in zip(square, aa, ab)]
        Z = [(1 - t) * x + t * y for x, y in zip(ba, bb)]
        b = []
        for ai, Zi in zip(a, Z):
            ap = np.linalg.pinv(ai)
            b.append(ap + Zi @ (np.eye(ai.shape[0]) - ai @ ap))
            min_sv[0] = min(min_sv[0], float(np.linalg.svd(ai, compute_uv=False)[-1]))
        return tuple([a[0] @ pa.Vk.T] + [a[i] @ b[i - 1] for i in range(1, h - 1)] + [pa.UkSk @ b[-1]])

    def w_at(s):
        if s <= 1.0:
            return strip(pa, s)
        if s <= 2.0:
            return middle(s - 1.0)
        return strip(pb, 3.0 - s)

    def dist(w0, w1):
        return float(np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(w0, w1))))

    grid = [float(s) for s in np.linspace(0.0, 3.0, 3 * steps + 1)]
    pts = {s: w_at(s) for s in grid}
    scale = max(float(np.sqrt(sum(np.sum(x * x) for x in pts[s]))) for s in (0.0, 3.0))
    step_tol = 0.05 * max(scale, 1.0)
    intervals = list(zip(grid[:-1], grid[1:]))
    for _ in range(16):  # bisect every interval whose end points are further apart than step_tol
        bad = [(s0, s1) for s0, s1 in intervals if dist(pts[s0], pts[s1]) > step_tol]
        if not bad:
            break
        bad_set = set(bad)
        for s0, s1 in bad:
            pts[0.5 * (s0 + s1)] = w_at(0.5 * (s0 + s1))
        intervals = [iv for iv in intervals if iv not in bad_set]
        intervals += [iv for s0, s1 in bad for iv in ((s0, 0.5 * (s0 + s1)), (0.5 * (s0 + s1), s1))]
    continuous = all(dist(pts[s0], pts[s1]) <= step_tol for s0, s1 in intervals)
    ordered = [pts[s] for s in sorted(pts)]
    normM = max(float(np.linalg.norm(M)), 1e-300)
    res = max(float(np.linalg.norm(_chain(w) - M)) for w in ordered) / normM
    max_step = max(dist(w0, w1) for w0, w1 in zip(ordered[:-1], ordered[1:]))
    bn = architecture([M.shape[1]] + [g.shape[0] for g in pa.gs] + [M.shape[0]]).bottlenecks
    if V_r is None:
        la = tuple(int(s) for s in fibre_label(tuple(map(jnp.asarray, ordered[0]))))
        lb = tuple(int(s) for s in fibre_label(tuple(map(jnp.asarray, ordered[-1]))))
    else:
        V = np.asarray(V_r, float)
        la = _label_np(ordered[0], V, bn) if bn else ()
        lb = _label_np(ordered[-1], V, bn) if bn else ()
    ok = res <= 1e-8 and continuous and min_sv[0] > 0
    return FibrePath(ok, la, lb, res, max_step, step_tol, min_sv[0], len(ordered))


def _qr_positive(A):
    Qm, R = np.linalg.qr(A)
    s = np.where(np.diagonal(R) < 0, -1.0, 1.0)
    return Qm * s[None, :], s[:, None] * R


def _givens_path(U):
    """A path `t ↦ U(t)` in `SO(n)` from `I` to `U` (`det U = 1`): Givens rotations with their
    angles scaled by `t`, then the leftover `diag(±1)` (an even number of `−1`) by rotations
    through `tπ` in pairs of coordinates."""
    n = U.shape[0]
    M = U.copy()
    rots = []
    for c in range(n):
        for r in range(n - 1, c, -1):
            th = np.arctan2(M[r, c], M[r - 1, c])
            G = np.eye(n)
            G[[r - 1, r - 1, r, r], [r - 1, r, r - 1, r]] = np.cos(th), -np.sin(th), np.sin(th), np.cos(th)
            M = G.T @ M
            rots.append((r - 1, r, th))
    neg = [i for i in range(n) if M[i, i] < 0]

    def rot(i, j, th):
        G = np.eye(n)
        G[[i, i, j, j], [i, j, i, j]] = np.cos(th), -np.sin(th), np.sin(th), np.cos(th)
        return G

    def at(t):
        out = np.eye(n)
        for i, j, th in rots:
            out = out @ rot(i, j, t * th)
        for i, j in zip(neg[0::2], neg[1::2]):
            out = out @ rot(i, j, t * np.pi)
        return out

    return at


def _gl_path(A, B):
    """A path in `GL(n)` from `A` to `B` (same `sgn det`): `Q(t)R(t)` with `A = Q_AR_A`,
    `B = Q_BR_B` (positive diagonals), `R(t)` on a straight line (triangular with positive
    diagonal, so invertible) and `Q(t) = Q_A U(t)`, `U(t)` a path in `SO(n)` to `Q_AᵀQ_B`."""
    Qa, Ra = _qr_positive(A)
    Qb, Rb = _qr_positive(B)
    U = _givens_path(Qa.T @ Qb)
    return lambda t: Qa @ U(t) @ ((1 - t) * Ra + t * Rb)


def fibre_monte_carlo(
    widths, *, samples: int = 200, rank: int | None = None, seed: int = 0, check_path: bool = True
) -> FibreMonteCarlo:
    """Sample `samples` points of one random fibre `μ^{-1}(M)` and tally their labels.

    At `rank M = r` the labels should take exactly `2^b` values, with the margin check of
    [`label_margins`][] at every point (so the labels are invariants: at least `2^b`
    components), and an explicit path ([`fibre_path`][]) joins two distinct points with the same
    label (so at most `2^b`). At `rank M = k < r` (a connected fibre) the labels are still
    computed, with one fixed frame `V_r` (`V_k` completed by a fixed orthonormal part of
    `ker M`; they are not invariants there), and an explicit path joins two points with
    different labels.
    Runs in numpy (no compilation); the sampler is the twin of [`sample_fibre_point`][].

    **Returns:** a [`FibreMonteCarlo`][].

    Examples:
        >>> mc = fibre_monte_carlo((3, 2, 2, 3), samples=40)
        >>> mc.b, mc.expected_components, mc.observed_labels
        (2, 4, 4)
    """
    arch = architecture(widths)
    r, b, h = arch.rank, arch.b, arch.depth
    k = r if rank is None else int(rank)
    if not 0 <= k <= r:
        raise GeomflowError(f"rank must be in 0..r = 0..{r}, got {rank}")
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        raise GeomflowError(f"samples must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    d0, dh = arch.widths[0], arch.widths[-1]
    A = np.linalg.qr(rng.standard_normal((dh, dh)))[0][:, :k]
    B = np.linalg.qr(rng.standard_normal((d0, d0)))[0][:, :k]
    M = (A * (1.0 + rng.random(k))[None, :]) @ B.T  # rank k, singular values in [1, 2]
    U, S, Vt = np.linalg.svd(M, full_matrices=True)
    UkSk, Vk = U[:, :k] * S[None, :k], Vt[:k].T
    if k == r:
        V_r = Vt[:r].T.copy()  # the sign convention of reference_frame, in numpy
        idx = np.argmax(np.abs(V_r), axis=0)
        V_r *= np.where(V_r[idx, np.arange(r)] < 0, -1.0, 1.0)[None, :]
    else:  # V_k completed by a fixed random orthonormal part of ker M
        K = Vt[k:].T
        V_r = np.concatenate([Vk, K @ np.linalg.qr(rng.standard_normal((K.shape[1], r - k)))[0]], axis=1)
    need_killer = h >= 2 and min(arch.widths[1:-1]) > k
    bn = arch.bottlenecks
    sr = S[r - 1] if k == r else 0.0
    labels: dict = {}
    first_of_label: dict = {}
    max_res, min_ratio = 0.0, float("inf")
    normM = float(np.linalg.norm(M)) or 1.0
    for i in range(samples):
        killer = 1 + i % h if need_killer else None
        p = _sample_params_np(rng, arch.widths, UkSk, Vk, killer) if h >= 2 else None
        ws = _weights_from_params(p, k, np) if h >= 2 else (M,)
        lab = _label_np(ws, V_r, bn) if bn else ()
        labels[lab] = labels.get(lab, 0) + 1
        first_of_label.setdefault(lab, []).append(p) if len(first_of_label.get(lab, [])) < 2 else None
        max_res = max(max_res, float(np.linalg.norm(_chain(ws) - M)) / normM)
        if k == r and bn:
            for j in range(len(bn)):
                lo = 0 if j == 0 else bn[j - 1]
                A = _chain(ws[lo : bn[j]]) @ (V_r if j == 0 else np.eye(r))
                left = np.linalg.norm(_chain(ws[bn[j] :]), 2)
                right = np.linalg.norm(_chain(ws[:lo]), 2) if lo > 0 else 1.0
                smin = np.linalg.svd(A, compute_uv=False)[-1]
                min_ratio = min(min_ratio, float(smin * left * right / sr))
    path = None
    if check_path and h >= 2:
        found = [v for lab, v in first_of_label.items() if 0 not in lab]
        found += [v for lab, v in first_of_label.items() if 0 in lab]
        if k < r:  # two points with different labels (if seen)
            pa, pb = found[0][0], (found[1][0] if len(found) > 1 else found[0][-1])
        else:  # two distinct points with the same label (if seen)
            pa, pb = next(((f[0], f[1]) for f in found if len(f) > 1), (found[0][0], found[0][0]))
        path = fibre_path(pa, pb, M, V_r=V_r)
    seen = sorted(labels)
    return FibreMonteCarlo(
        widths=arch.widths,
        rank=k,
        r=r,
        b=b,
        expected_components=2**b if k == r else 1,
        labels_seen=tuple(seen),
        counts=tuple(labels[s] for s in seen),
        max_residual=max_res,
        min_margin_ratio=(min_ratio if k == r and bn else None),
        path=path,
    )


# ---------------------------------------------------------------------------------------------
# What the balance invariants guarantee about signs


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
