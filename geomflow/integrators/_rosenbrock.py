"""Stiffly accurate, L-stable Rosenbrock methods on batch-last arrays, with the exact Hessian.

- **Rodas5P** (Steinebach 2023, order 5(4), 8 stages): the second stage of solver `"auto"`;
- **Rodas4** (Hairer & Wanner, *Solving ODEs II* §VI.4, order 4(3), 6 stages).

The Jacobian `J = −∇²L(w)` comes from the model (forward mode, one column per weight) and
`I + γh·∇²L` is factorised once per step by an elementwise LDLᵀ (every operation elementwise
across samples: no batched LAPACK, so a sample never depends on its neighbours).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ._batchlast_loop import BatchLastIntegrator
from ._tsit5 import comb

# In the transformed form
#   (I/(γh) − J) k_i = f(y + Σ_j a_ij k_j) + Σ_j (c_ij / h) k_j,   y₁ = u_s + k_s,
# with error estimate k_s (stiffly accurate).
RODAS4_GAMMA = 0.25
RODAS4_A = (
    (1.544,),
    (0.9466785280815826, 0.2557011698983284),
    (3.314825187068521, 2.896124015972201, 0.9986419139977817),
    (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895),
)
RODAS4_C = (
    (-5.6688,),
    (-2.430093356833875, -0.2063599157091915),
    (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
    (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.7089089320616),
    (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
     -6.058818238834054),
)
RODAS5P_GAMMA = 0.21193756319429014
RODAS5P_A = (
    (3.0,),
    (2.849394379747939, 0.45842242204463923),
    (-6.954028509809101, 2.489845061869568, -10.358996098473584),
    (2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
     0.030198172008377946),
)
RODAS5P_C = (
    (-14.155112264123755,),
    (-17.97296035885952, -2.859693295451294),
    (147.12150275711716, -1.41221402718213, 71.68940251302358),
    (165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306),
    (24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125,
     -0.6610691825249471),
    (30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783,
     -19.097331116725623, -28.087943162872662),
    (37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047,
     -40.06618937091002, -54.66780262877968, -9.48861652309627),
)
TABLEAUX = {"rodas4": (RODAS4_GAMMA, RODAS4_A, RODAS4_C),
            "rodas5p": (RODAS5P_GAMMA, RODAS5P_A, RODAS5P_C)}


def rosenbrock_step(f, hess, y, f0, h, method: str = "rodas5p"):
    """One step of a stiffly accurate Rosenbrock method (`"rodas4"`, `"rodas5p"`) from `y`
    (`f0 = f(y)`) with the exact Jacobian `−hess(y)`, in Hairer–Wanner's transformed form

        (I/(γh) − J)·k_i = f(u_i) + Σ_j (c_ij/h)·k_j,
        u_i = y + Σ_j a_ij·k_j (the first stages),  u_i = u_{i−1} + k_{i−1} (the last ones),

    `y₁ = u_s + k_s`, error estimate `k_s`.

    `I + γh·∇²L` is factorised by LDLᵀ without pivoting; a step where it is not positive definite
    (`γh·λ_min(∇²L) ≤ −1`, only near a saddle with a large negative curvature) returns an
    infinite error, so it is rejected and retried smaller. **Returns** `(y1, err)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> lam = jnp.array([1.0, 1e6])          # a mild and a very stiff sample of ẏ = −λy
        >>> f = lambda y: -lam * y
        >>> hess = lambda y: lam * jnp.ones((1, 1, 2))
        >>> y1, err = rosenbrock_step(f, hess, jnp.ones((1, 2)), f(jnp.ones((1, 2))), jnp.array([0.1, 0.1]))
        >>> round(float(y1[0, 0]), 6), abs(float(y1[0, 1])) < 1e-3  # L-stable: R(z) → 0 as z → −∞
        (0.904837, True)
    """
    gamma, A, C = TABLEAUX[method]
    # Optimisation barriers keep XLA from fusing (and so recomputing) the Hessian, the factors
    # and each stage into their several consumers.
    barrier = jax.lax.optimization_barrier
    gh = gamma * h
    H = barrier(hess(y))
    d = y.shape[0]
    eye = jnp.reshape(jnp.eye(d, dtype=y.dtype), (d, d) + (1,) * (y.ndim - 1))
    fac = barrier(ldl_factor(eye + gh[None, None] * H))  # (I/(γh) + H)k = r ⇔ (I + γhH)k = γh·r
    definite = jnp.all(fac[1] > 0, axis=0)
    solve = lambda r: barrier(ldl_solve(fac, gh * r))  # noqa: E731
    ks = [solve(f0)]
    for arow, crow in zip(A, C):
        u = y + comb(arow, ks)
        ks.append(solve(f(u) + comb(crow, ks) / h))
    for crow in C[len(A):]:
        u = u + ks[-1]
        ks.append(solve(f(u) + comb(crow, ks) / h))
    return u + ks[-1], jnp.where(definite[None], ks[-1], jnp.inf)


def ldl_factor(M):
    """`M = L·diag(D)·Lᵀ` of a symmetric `M (d, d, *b)` without pivoting (outer-product form on
    the shrinking active block). **Returns** `(L, D)`: `L (d, d, *b)` unit lower triangular
    stored without its diagonal, `D (d, *b)`. Meant for `M` symmetric positive definite (check
    `D > 0`; a zero or negative pivot means `M` is not).

    Examples:
        >>> import jax.numpy as jnp
        >>> M = jnp.array([[4.0, 2.0], [2.0, 3.0]])[:, :, None]  # one sample, batch last
        >>> x = ldl_solve(ldl_factor(M), jnp.array([[2.0], [1.0]]))
        >>> [round(float(v), 12) for v in x[:, 0]]
        [0.5, 0.0]
    """
    d = M.shape[0]
    S = M
    cols, D = [], []
    for k in range(d):
        dk = S[0, 0]
        D.append(dk)
        if k == d - 1:
            cols.append(jnp.zeros_like(M[:, 0]))
            break
        col = S[1:, 0] / dk
        cols.append(jnp.concatenate([jnp.zeros_like(M[: k + 1, 0]), col]))
        S = S[1:, 1:] - col[:, None] * S[0, 1:][None]
    return jnp.stack(cols, axis=1), jnp.stack(D)


def ldl_solve(fac, b):
    """Solve `L·diag(D)·Lᵀ x = b` (`b (d, *b)`) from [`ldl_factor`][]."""
    L, D = fac
    d = b.shape[0]
    z = b
    for k in range(d - 1):
        z = z - L[:, k] * z[k][None]
    x = z / D
    for k in range(d - 1, 0, -1):
        x = x - L[k] * x[k][None]
    return x


@dataclasses.dataclass(frozen=True)
class Rosenbrock(BatchLastIntegrator):
    """A Rosenbrock method on the batch-last layout; its controller runs at
    `implicit_tol_scale` times the tolerances (its order-4 error estimate is optimistic for the
    order-5 solution over long tails, measured)."""

    method: str = "rodas5p"
    needs_hessian = True
    error_scale = "implicit_tol_scale"

    @property
    def name(self):
        return self.method

    def step(self, f, hess, y, fy, h):
        y1, err = rosenbrock_step(f, hess, y, fy, h, self.method)
        return y1, f(y1), err, None


RODAS5P = Rosenbrock("rodas5p")
RODAS4 = Rosenbrock("rodas4")
