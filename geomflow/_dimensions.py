"""Dimensions of the balance invariants: `dim im δ` and `dim δ(H_{X,Y})`.

Conjecture 2 of the talk (MATH.md §4) would follow from `dim δ(H_{X,Y}) < dim im δ` for almost
all data, where `δ(w) = (δ_1, …, δ_{h−1})`, `δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ`, and `H_{X,Y}` is
the set of critical points of `L(w) = ‖W_h⋯W_1 X − Y‖_F²` with zero Hessian. This module computes
both sides for any widths.

**`dim im δ`** is the generic rank of the Jacobian of `δ : R^{d_w} → ⊕_i Sym(d_i)` (upper
triangles only, so `Sym(d)` has `d(d+1)/2` coordinates), measured at random points with the
singular-value gap reported ([`delta_image_dim`][]) and cross-checked by an exact rank over the
prime field `F_p` at random integer points ([`delta_image_dim_exact`][]; a rank mod `p` at one point
is a lower bound for the rank over `Q`, and equals the generic rank with probability
`≥ 1 − deg/p`).

The zero-Hessian set `H_{X,Y}`, its pieces and `dim δ(H_{X,Y})` (the comparison that decides
Conjecture 2) are in `geomflow._zero_hessian_pieces`; this module holds the Jacobian of `δ`, the
rank decisions and `dim im δ`.

??? cite "References"
    Gabriel, *Unzerlegbare Darstellungen I* (1972) for the finiteness of type-A orbits;
    Bah, Rauhut, Terstiege, Westdickenberg, *Learning deep linear neural networks: Riemannian
    gradient flows and convergence to global minimizers* (2021) for `δ` and Conjecture 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ._finite_field import (
    PRIME as PRIME,
    check_prime,
    rank_mod_p as rank_mod_p,
)
from ._networks import architecture

DEFAULT_RTOL = 1e-9


# ---------------------------------------------------------------------------------------------
# Jacobians (numpy, batched over a leading axis; exact for integer inputs)


def _sym_dim(d: int) -> int:
    return d * (d + 1) // 2


def _delta_jacobian_batched(ws: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian of `δ` (upper triangles) w.r.t. the flattened weights, batched: `ws[i]` is
    `(N, d_{i+1}, d_i)`; returns `(N, Σ_j d_j(d_j+1)/2, d_w)`."""
    h = len(ws)
    N = ws[0].shape[0]
    dims = [ws[0].shape[2]] + [W.shape[1] for W in ws]
    col_off = np.cumsum([0] + [W.shape[1] * W.shape[2] for W in ws])
    rows = sum(_sym_dim(dims[j]) for j in range(1, h))
    J = np.zeros((N, rows, col_off[-1]), dtype=ws[0].dtype)
    r0 = 0
    for j in range(1, h):  # δ_j = W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ, W_j = ws[j-1]
        d = dims[j]
        iu = np.triu_indices(d)
        A, B = ws[j], ws[j - 1]
        Id = np.eye(d, dtype=A.dtype)
        # d(AᵀA)[x,y]/dA[a,b] = I[b,x] A[a,y] + A[a,x] I[b,y]
        TA = np.einsum("bx,nay->nxyab", Id, A) + np.einsum("nax,by->nxyab", A, Id)
        # d(BBᵀ)[x,y]/dB[a,b] = I[a,x] B[y,b] + B[x,b] I[a,y]
        TB = np.einsum("ax,nyb->nxyab", Id, B) + np.einsum("nxb,ay->nxyab", B, Id)
        k = _sym_dim(d)
        J[:, r0 : r0 + k, col_off[j] : col_off[j + 1]] = TA[:, iu[0], iu[1]].reshape(N, k, -1)
        J[:, r0 : r0 + k, col_off[j - 1] : col_off[j]] = -TB[:, iu[0], iu[1]].reshape(N, k, -1)
        r0 += k
    return J


def _orbit_tangent_batched(ws: Sequence[np.ndarray]) -> np.ndarray:
    """The differential of `ξ ↦ (ξ_i W_i − W_i ξ_{i−1})_i` (the `G`-orbit tangent), batched:
    returns `(N, d_w, Σ_i d_i²)` with `ξ = (ξ_0, …, ξ_h)` flattened row-major."""
    h = len(ws)
    N = ws[0].shape[0]
    dims = [ws[0].shape[2]] + [W.shape[1] for W in ws]
    row_off = np.cumsum([0] + [W.shape[1] * W.shape[2] for W in ws])
    col_off = np.cumsum([0] + [d * d for d in dims])
    T = np.zeros((N, row_off[-1], col_off[-1]), dtype=ws[0].dtype)
    for i in range(1, h + 1):
        W = ws[i - 1]
        m, n = W.shape[1], W.shape[2]
        Im, In = np.eye(m, dtype=W.dtype), np.eye(n, dtype=W.dtype)
        # d(ξ_i W)[a,b]/dξ_i[u,v] = I[a,u] W[v,b];  d(−W ξ_{i−1})[a,b]/dξ_{i−1}[u,v] = −W[a,u] I[v,b]
        Ti = np.einsum("au,nvb->nabuv", Im, W).reshape(N, m * n, m * m)
        Tp = -np.einsum("nau,vb->nabuv", W, In).reshape(N, m * n, n * n)
        T[:, row_off[i - 1] : row_off[i], col_off[i] : col_off[i + 1]] = Ti
        T[:, row_off[i - 1] : row_off[i], col_off[i - 1] : col_off[i]] = Tp
    return T


def delta_jacobian(weights: Sequence) -> np.ndarray:
    """The Jacobian of `δ` at `weights = (W_1, …, W_h)`, as a numpy matrix.

    Rows: the upper triangles (`x ≤ y`, row-major) of `δ_1, …, δ_{h−1}`; columns: the entries of
    `W_1, …, W_h` (row-major, the order of `flatten_weights`). Exact for integer input.

    **Arguments:**

    - `weights`: `(W_1, …, W_h)`, `W_i` of shape `(d_i, d_{i−1})`.

    **Returns:** an array of shape `(Σ_{i=1}^{h−1} d_i(d_i+1)/2, d_w)`.

    Examples:
        >>> import numpy as np
        >>> delta_jacobian((np.array([[1.0]]), np.array([[2.0]]))).tolist()  # δ = w_2² − w_1²
        [[-2.0, 4.0]]
    """
    ws = [np.asarray(W)[None] for W in weights]
    return _delta_jacobian_batched(ws)[0]


# ---------------------------------------------------------------------------------------------
# Ranks


@dataclasses.dataclass(frozen=True)
class RankReport:
    """A numerical rank with the evidence for it.

    **Attributes:**

    - `rank`: the number of singular values above `rtol · σ_max`.
    - `singular_values`: all singular values, descending.
    - `gap`: `σ_rank / σ_{rank+1}` (`inf` when nothing lies below the threshold, or rank 0 of a
      zero map); a gap of `1e8` or more means the rank is unambiguous in float64.
    - `rtol`: the relative threshold used.
    """

    rank: int
    singular_values: np.ndarray
    gap: float
    rtol: float


def numerical_rank(J: np.ndarray, rtol: float = DEFAULT_RTOL) -> RankReport:
    """The numerical rank of a matrix with its singular-value gap.

    Examples:
        >>> import numpy as np
        >>> rep = numerical_rank(np.array([[1.0, 2.0], [2.0, 4.0]]))
        >>> rep.rank, rep.gap > 1e10
        (1, True)
    """
    s = np.linalg.svd(np.asarray(J, dtype=float), compute_uv=False)
    return _rank_from_sv(s, rtol)


def _rank_from_sv(s: np.ndarray, rtol: float) -> RankReport:
    s = np.sort(np.asarray(s, dtype=float))[::-1]
    if s.size == 0 or s[0] == 0.0:
        return RankReport(0, s, float("inf"), rtol)
    rank = int(np.sum(s > rtol * s[0]))
    below = s[rank] if rank < s.size else 0.0
    gap = float("inf") if below == 0.0 else float(s[rank - 1] / below)
    return RankReport(rank, s, gap, rtol)


# ---------------------------------------------------------------------------------------------
# dim im δ


def _well_conditioned_gl(rng: np.random.Generator, n: int, size: int = 1) -> np.ndarray:
    """Random matrices `O_1 diag(e^{z/2}) O_2` (Haar O's, z ~ N(0,1)): an absolutely continuous
    law on GL(n), so generic with probability one, yet well conditioned."""
    def haar(k):
        G = rng.standard_normal((size, k, k))
        Qm, R = np.linalg.qr(G)
        return Qm * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]

    s = np.exp(0.5 * rng.standard_normal((size, n)))
    return haar(n) @ (s[:, :, None] * haar(n))


def delta_image_dim(widths, *, seed: int = 0, num_points: int = 2, rtol: float = DEFAULT_RTOL) -> RankReport:
    """`dim im δ`: the generic rank of the Jacobian of `δ`, measured at random points.

    The rank is taken at `num_points` random weight tuples (entries `N(0, 1)`) and the report of
    the point with the largest rank (the generic rank is the maximum) is returned.

    **Arguments:**

    - `widths`: `(d_0, …, d_h)`.
    - `seed`, `num_points`: the random points.
    - `rtol`: relative singular-value threshold.

    **Returns:** a [`RankReport`][] (`rank`, `singular_values`, `gap`).

    Examples:
        >>> delta_image_dim((1, 1, 1, 1)).rank  # δ_i = w_{i+1}² − w_i², h = 3: h − 1 = 2
        2
        >>> delta_image_dim((2, 2, 2)).rank     # Sym(2) has 3 coordinates
        3
    """
    arch = architecture(widths)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(max(1, num_points)):
        ws = [rng.standard_normal((1, m, n)) for m, n in arch.weight_shapes]
        if arch.depth < 2:
            return RankReport(0, np.zeros(0), float("inf"), rtol)
        rep = numerical_rank(_delta_jacobian_batched(ws)[0], rtol)
        if best is None or rep.rank > best.rank:
            best = rep
    return best


def delta_image_dim_exact(widths, *, seed: int = 0, num_points: int = 2, p: int = PRIME) -> int:
    """`dim im δ` by exact linear algebra over `F_p` at random integer points.

    Each value is a certified lower bound for the rank over `Q` at that point (hence for the
    generic rank); it equals the generic rank unless the random point is a root of a nonzero
    minor mod `p` (probability at most `degree/p`, `p ≈ 3.4·10^7`). The maximum over the points is
    returned.

    Examples:
        >>> delta_image_dim_exact((1, 1, 1, 1, 1))
        3
    """
    arch = architecture(widths)
    p = check_prime(p)
    if arch.depth < 2:
        return 0
    rng = np.random.default_rng(seed)
    best = 0
    for _ in range(max(1, num_points)):
        ws = [rng.integers(0, p, size=(1, m, n), dtype=np.int64) for m, n in arch.weight_shapes]
        J = _delta_jacobian_batched(ws)[0] % p
        best = max(best, rank_mod_p(J, p))
    return best
