"""Critical equations of the (perturbed) squared distance to the rank-`r` matrices.

Conventions (used throughout `geomflow.ed`):

- `vec` stacks columns (column-major, `M.reshape(-1, order="F")`), as in `‖A·vec(M − Q)‖²`.
- The loss has no ½: `ℓ(M) = vec(M − Q)ᵀ W vec(M − Q)` with `W = AᵀA` (symmetric).
- Internally the system is written for `m ≥ n`; a wide problem is transposed first
  (`M ↦ Mᵀ`, `W ↦ P W Pᵀ` with the commutation matrix `P`), so that the spurious solution
  `M = 0` of the chart system does not arise.
- Chart: `M = U Vᵀ` with `U ∈ C^{m×r}` free and `V = R₀ [I_r; V′]`, `V′ ∈ C^{(n−r)×r}`,
  where `R₀` is a fixed random complex `n×n` matrix. With `G = mat(W vec(M − Q))` the critical
  equations are `G V = 0` and the last `n − r` rows of `R₀ᵀ Gᵀ U = 0` (the first `r` rows
  follow from `GV = 0`): `r(m + n − r)` cubic equations in `r(m + n − r)` unknowns.
- Projective tracking: the unknowns `(U, V′)` are homogenised with `h`
  (`V_h = R₀ [h I_r; V′]`, `D_h = U V_hᵀ − h² Q`, every equation homogeneous of degree 3) and
  tracked on a random affine patch `aᵀ(U, V′, h) = 1` of `P^{r(m+n−r)}`, so that paths whose
  solutions grow very large (ill-conditioned `W`, or a path passing near the chart's boundary)
  stay bounded; the matrix is `M = U V_hᵀ / h²`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import GeomflowError

DISTANCES = ("generic", "hadamard", "frobenius")


def vec(M):
    """Column-stacking `vec` of a matrix (numpy or jax), the convention of `‖A·vec(M − Q)‖²`."""
    return M.T.reshape(M.shape[:-2] + (-1,))


def unvec(v, m: int, n: int):
    """Inverse of `vec`: a length-`mn` vector to an `m×n` matrix."""
    return v.reshape(v.shape[:-1] + (n, m)).swapaxes(-1, -2)


def commutation_matrix(m: int, n: int) -> np.ndarray:
    """The permutation `P` with `vec(Mᵀ) = P vec(M)` for `M ∈ R^{m×n}`."""
    idx = np.arange(m * n).reshape(n, m).T  # idx[i, j] = position of M[i, j] in vec(M)
    P = np.zeros((m * n, m * n))
    P[np.arange(m * n), idx.reshape(-1)] = 1.0  # vec(Mᵀ)[k] = M row-major[k]
    return P


@dataclass(frozen=True)
class RankSystem:
    """The square critical system of `ℓ_{W,Q}` on `M_r ⊂ C^{m×n}` (internal orientation `m ≥ n`).

    A static, hashable description (shape, rank, distance family); the numbers (`W`, `Q`, the
    chart `R₀`) travel as a parameter pytree `p = (W, Q, R0)` so that one compiled kernel serves
    every instance.
    """

    m: int
    n: int
    r: int
    distance: str = "generic"

    def __post_init__(self):
        if self.m < self.n:
            raise GeomflowError("RankSystem is written for m >= n; transpose the problem first")
        if not 1 <= self.r <= self.n:
            raise GeomflowError(f"rank must satisfy 1 <= r <= {self.n}, got {self.r}")
        if self.distance not in DISTANCES:
            raise GeomflowError(f"distance must be one of {DISTANCES}, got {self.distance!r}")

    @property
    def dim(self) -> int:
        """`r(m + n − r)`, the dimension of `M_r` and the number of chart unknowns."""
        return self.r * (self.m + self.n - self.r)

    @property
    def nvars(self) -> int:
        """Tracked unknowns: the chart unknowns and the homogenising `h`."""
        return self.dim + 1

    @property
    def total_degree(self) -> int:
        return 3**self.dim

    def unpack(self, y, R0):
        """Homogeneous coordinates `y = (U, V′, h)` to `(U, V_h, h)` with `M = U V_hᵀ / h²`."""
        import jax.numpy as jnp

        m, n, r = self.m, self.n, self.r
        U = y[: m * r].reshape(m, r)
        Vp = y[m * r : self.dim].reshape(n - r, r)
        h = y[self.dim]
        V = R0 @ jnp.concatenate([h * jnp.eye(r, dtype=y.dtype), Vp], axis=0)
        return U, V, h

    def residual(self, y, p, chart):
        """The `r(m+n−r)` homogenised critical equations and the patch equation at `y`.

        `p = (W, Q)`: weights and data; `chart = (R0, a)`: chart matrix and patch vector.
        """
        import jax.numpy as jnp

        W, Q = p
        R0, a = chart
        m, n, r = self.m, self.n, self.r
        U, V, h = self.unpack(y, R0)
        D = U @ V.T - h * h * Q
        G = unvec(W @ vec(D), m, n)
        e1 = (G @ V).reshape(-1)
        e2 = (R0.T @ (G.T @ U))[r:].reshape(-1)
        return jnp.concatenate([e1, e2, (a @ y - 1.0)[None]])

    # ---- numpy helpers for charts (between tracking rounds) ----
    def matrices(self, y, R0):
        """`M = U V_hᵀ / h²` for a batch of points `y (k, N+1)` with charts `R0 (k, n, n)`."""
        m, n, r, N = self.m, self.n, self.r, self.dim
        U = y[:, : m * r].reshape(-1, m, r)
        Vp = y[:, m * r : N].reshape(-1, n - r, r)
        h = y[:, N]
        V = np.asarray(R0) @ np.concatenate([h[:, None, None] * np.eye(r), Vp], axis=1)
        with np.errstate(all="ignore"):
            return U @ V.transpose(0, 2, 1) / (h * h)[:, None, None]

    def chart_quality(self, y):
        """How far each point is from its chart's boundary: `|h| / ‖(h, V′)‖` (1 is best)."""
        m, r, N = self.m, self.r, self.dim
        h = np.abs(y[:, N])
        vp = np.linalg.norm(y[:, m * r : N], axis=1)
        return h / np.sqrt(h**2 + vp**2 + 1e-300)

    def coordinates(self, M, R0, a=None):
        """Homogeneous coordinates of rank-`r` matrices `M (k, m, n)` in charts `(R0, a)`.

        With `a=None` a fresh patch `a = conj(y)/‖y‖²` is returned for each point.
        """
        n, r = self.n, self.r
        k = len(M)
        R0 = np.broadcast_to(np.asarray(R0), (k, n, n))
        Z = M @ np.linalg.inv(R0).transpose(0, 2, 1)  # = U_a [I, V′ᵀ]
        Ua = Z[:, :, :r]
        Vpt = np.linalg.pinv(Ua) @ Z[:, :, r:]
        x = np.concatenate([Ua.reshape(k, -1), Vpt.transpose(0, 2, 1).reshape(k, -1),
                            np.ones((k, 1))], axis=1)
        if a is None:
            y = x / np.linalg.norm(x, axis=1, keepdims=True)
            return y, y.conj()
        a = np.broadcast_to(np.asarray(a), x.shape)
        return x / np.sum(a * x, axis=1, keepdims=True), a

    def rechart(self, y, R0, rng):
        """New charts centred at the points `y`: `R₀′ = [V | random complement]`, `V′ = 0`."""
        n, r = self.n, self.r
        M = self.matrices(y, R0)
        _, _, vh = np.linalg.svd(M)
        V = vh[:, :r, :].transpose(0, 2, 1)  # spans the columns of Mᵀ (M = u s vh)
        comp = rng.standard_normal((len(y), n, n - r)) + 1j * rng.standard_normal((len(y), n, n - r))
        R0n = np.concatenate([V, comp / np.sqrt(2 * n)], axis=2)
        yn, an = self.coordinates(M, R0n)
        return yn, R0n, an


def weight_matrix(distance: str, m: int, n: int, A=None, weights=None) -> np.ndarray:
    """The symmetric `W` of `ℓ(M) = vec(M − Q)ᵀ W vec(M − Q)` for a distance family.

    **Arguments:**

    - `distance`: `"generic"` (`W = AᵀA`), `"hadamard"` (`W = diag(vec Λ)`, i.e.
      `Σ λ_ij (M_ij − Q_ij)²`) or `"frobenius"` (`W = I`).
    - `m`, `n`: the matrix shape.
    - `A`: the `mn×mn` matrix for `"generic"`.
    - `weights`: the `m×n` positive weights `Λ` for `"hadamard"`.

    **Returns:** `W` as an `mn×mn` float array.

    **Raises:** `GeomflowError` for an unknown family or a missing/misshapen `A` or `weights`.

    Examples:
        >>> weight_matrix("frobenius", 2, 2).tolist()
        [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    N = m * n
    if distance == "frobenius":
        return np.eye(N)
    if distance == "hadamard":
        if weights is None:
            raise GeomflowError("the hadamard distance needs weights: an m×n array Λ")
        lam = np.asarray(weights, dtype=float)
        if lam.shape != (m, n):
            raise GeomflowError(f"weights must have shape ({m}, {n}), got {lam.shape}")
        return np.diag(vec(lam))
    if distance == "generic":
        if A is None:
            raise GeomflowError("the generic distance needs A: an (mn)×(mn) matrix")
        A = np.asarray(A, dtype=float)
        if A.shape != (N, N):
            raise GeomflowError(f"A must have shape ({N}, {N}) for {m}x{n} matrices, got {A.shape}")
        return A.T @ A
    raise GeomflowError(f"distance must be one of {DISTANCES}, got {distance!r}")


def loss(M, W, Q):
    """`ℓ(M) = vec(M − Q)ᵀ W vec(M − Q)` (no ½); works on numpy or jax arrays."""
    d = vec(M - Q)
    return d @ W @ d
