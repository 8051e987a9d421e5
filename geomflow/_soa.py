"""Batch-last flow kernels: the default solver `"auto"`, written for many tiny ODEs at once.

A network of widths (3,2,2,3) has 16 weights. `vmap` puts the sample axis first, so every
array operation runs over the tiny matrix axes in the fastest (SIMD) direction, and an implicit
solver's LU goes through LAPACK once per sample. Here every array carries its samples on the
**last** axis (a "structure of arrays"): a weight matrix is `(rows, cols, *batch)`, a product
`A·B` is an unrolled sum of broadcast outer products, a norm is an unrolled sum over the leading
axis, and a factorisation is an outer-product LDLᵀ on whole arrays. Every operation is
elementwise across samples, so

- the arithmetic is vectorised across samples (the SIMD lanes are samples);
- a sample's result is bitwise independent of how many other samples share its batch, and of
  which ones (there is no cross-sample reduction, no batched LAPACK call);
- the same code runs one sample (`batch = ()`) and a million (`batch = (n,)`).

The integrators, for `ẇ = f(w) = −∇L(w)`:

- **Tsit5** (Tsitouras 2011, 5(4), FSAL; the tableau is diffrax's) for the transient, with
  Hairer's stiffness detector (`h·ρ`, `ρ = ‖f(y₁) − f(y₇)‖ / ‖y₁ − y₇‖` the Lipschitz estimate
  between the last two stages, against the method's real stability boundary);
- **Rodas5P** (Steinebach 2023, order 5(4), 8 stages, L-stable, stiffly accurate; Rodas4 of
  Hairer & Wanner, *Solving ODEs II* §VI.4, is also here) from the hand-over to the end, with the
  exact Jacobian `J = −∇²L(w)` (forward mode, one column per weight) and `I + γh·∇²L` factorised
  once per step by an elementwise LDLᵀ.

Both use an integral step-size controller on the RMS norm of the error estimate scaled by
`atol + rtol·max(|y₀|, |y₁|)` (safety 0.9, factors in [0.2, 10], exponent 1/4, computed with
square roots so that it is IEEE-exact on every code path).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------------------------------------
# Layout


def to_soa(tree):
    """Move the leading (sample) axis of every leaf to the end."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), tree)


def from_soa(tree):
    """Move the trailing (sample) axis of every leaf to the front."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), tree)


def lsum(x):
    """Sum over the leading axis in a fixed order (`x[0] + x[1] + …`)."""
    s = x[0]
    for i in range(1, x.shape[0]):
        s = s + x[i]
    return s


def mm(A, B):
    """`A·B` for `A (m, k, *b)`, `B (k, n, *b)`: an unrolled sum of broadcast outer products."""
    out = A[:, 0, None] * B[None, 0]
    for i in range(1, A.shape[1]):
        out = out + A[:, i, None] * B[None, i]
    return out


def mv(A, x):
    """`A·x` for `A (m, k, *b)`, `x (k, *b)`."""
    out = A[:, 0] * x[0]
    for i in range(1, A.shape[1]):
        out = out + A[:, i] * x[i]
    return out


def tr(A):
    return jnp.swapaxes(A, 0, 1)


def norm(x):
    """Euclidean norm over all leading axes of `x (…, *b)` (batch trailing, `nb` axes)."""
    return jnp.sqrt(lsum(x * x))


def rms(x):
    return jnp.sqrt(lsum(x * x) / x.shape[0])


# ---------------------------------------------------------------------------------------------
# The network, the loss and its derivatives


def unflatten(arch, v):
    """Flat weights `(d_w, *b)` → `(W_1, …, W_h)`, `W_i (d_i, d_{i−1}, *b)` (row-major)."""
    out, o = [], 0
    for r, c in arch.weight_shapes:
        out.append(jnp.reshape(v[o:o + r * c], (r, c) + v.shape[1:]))
        o += r * c
    return out


def flatten(ws):
    return jnp.concatenate([jnp.reshape(W, (-1,) + W.shape[2:]) for W in ws], axis=0)


def prepare_loss(kind: str, loss):
    """Per-sample data the gradient needs (batch trailing), computed once per round.

    Quadratic `‖PX − Y‖²`: `(XXᵀ, YXᵀ)`, so `∇ℓ = 2(P·XXᵀ − YXᵀ)` costs no pass over the data;
    perturbed `‖A·vec(P − Q)‖²`: `(AᵀA, AᵀA·vec Q)`; Hadamard: `(Λ, Q)`; any other loss is
    kept as it is and its `grad` is vmapped over the trailing axis.
    """
    if kind == "quadratic":
        X, Y = loss.X, loss.Y
        Xt = tr(X)
        return ("quadratic", (mm(X, Xt), mm(Y, Xt)))
    if kind == "perturbed":
        A, Q = loss.A, loss.Q
        K = mm(tr(A), A)
        return ("perturbed", (K, mv(K, jnp.reshape(Q, (-1,) + Q.shape[2:]))))
    if kind == "hadamard":
        return ("hadamard", (loss.weights, loss.Q))
    return ("custom", loss)


def loss_grad(data, P):
    kind, d = data
    if kind == "quadratic":
        S, C = d
        return 2.0 * (mm(P, S) - C)
    if kind == "perturbed":
        K, b = d
        g = mv(K, jnp.reshape(P, (-1,) + P.shape[2:])) - b
        return 2.0 * jnp.reshape(g, P.shape)
    if kind == "hadamard":
        Wt, Q = d
        return 2.0 * Wt * (P - Q)
    nb = P.ndim - 2
    fn = lambda M, lo: lo.grad(M)  # noqa: E731
    for _ in range(nb):
        fn = jax.vmap(fn, in_axes=(-1, -1), out_axes=-1)
    return fn(P, d)


def grad(arch, v, data):
    """`∇L(w)` (flat, batch trailing): `∇_{W_i} L = W_{h:i+1}ᵀ G W_{i−1:1}ᵀ`, `G = ∇ℓ(μ(w))`."""
    w = unflatten(arch, v)
    h = len(w)
    below = [w[0]]  # below[j] = W_{j+1:1}
    for i in range(1, h):
        below.append(mm(w[i], below[-1]))
    G = loss_grad(data, below[-1])
    out = [None] * h
    above = G  # W_{h:i+1}ᵀ G
    for i in range(h, 0, -1):
        out[i - 1] = above if i == 1 else mm(above, tr(below[i - 2]))
        if i > 1:
            above = mm(tr(w[i - 1]), above)
    return flatten(out)


def hessian(arch, v, data):
    """`∇²L(w)`, `(d_w, d_w, *b)`: one forward-mode derivative of the gradient per weight."""
    d = v.shape[0]
    E = jnp.reshape(jnp.eye(d, dtype=v.dtype), (d, d) + (1,) * (v.ndim - 1)) * jnp.ones_like(v)[None]
    cols = jax.vmap(lambda e: jax.jvp(lambda z: grad(arch, z, data), (v,), (e,))[1])(E)
    return tr(cols)  # cols[j] = H e_j


def deltas(arch, v):
    """The balance invariants `δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ`, batch trailing."""
    w = unflatten(arch, v)
    return [mm(tr(w[i + 1]), w[i + 1]) - mm(w[i], tr(w[i])) for i in range(len(w) - 1)]


def drift(arch, d0, v0sq, v):
    """Relative δ drift `max_i ‖δ_i(w) − δ_i(w₀)‖ / max(1, ‖w₀‖², ‖w‖²)` (as `geomflow._flow`)."""
    if not d0:
        return jnp.zeros(v.shape[1:], v.dtype)
    d1 = deltas(arch, v)
    num = None
    for a, b in zip(d0, d1):
        x = a - b
        n = jnp.sqrt(lsum(lsum(x * x)))
        num = n if num is None else jnp.maximum(num, n)
    return num / jnp.maximum(1.0, jnp.maximum(v0sq, lsum(v * v)))


# ---------------------------------------------------------------------------------------------
# Linear algebra, elementwise across samples


# ---------------------------------------------------------------------------------------------
# Tableaux

TSIT5_A = (
    (0.161,),
    (-0.008480655492356989, 0.335480655492357),
    (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
    (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
    (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
     -0.028269050394068383),
)
TSIT5_B = (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
           2.324710524099774)
TSIT5_E = (0.0017800110522257773, 0.0008164344596567463, -0.007880878010261994, 0.1447110071732629,
           -0.5823571654525552, 0.45808210592918686, -0.015151515151515152)


def _stability_boundary(A, b):
    """Where `|R(z)| = 1` on the negative real axis, `R(z) = 1 + z·bᵀ(I − zA)⁻¹1`."""
    s = len(b)
    Am = np.zeros((s, s))
    for i, row in enumerate(A):
        Am[i + 1, : len(row)] = row
    R = lambda z: 1 + z * np.asarray(b) @ np.linalg.solve(np.eye(s) - z * Am, np.ones(s))  # noqa: E731
    lo, hi = -0.1, -0.1
    while abs(R(hi)) <= 1:
        lo, hi = hi, hi * 1.5
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if abs(R(mid)) <= 1 else (lo, mid)
    return -lo


TSIT5_STABILITY = _stability_boundary(TSIT5_A, TSIT5_B)  # ≈ 3.5

# RODAS (Hairer & Wanner), in the transformed form
#   (I/(γh) − J) k_i = f(y + Σ_j a_ij k_j) + Σ_j (c_ij / h) k_j,   y₁ = y + a₅ᵀk + k₅ + k₆,
# with error estimate k₆ (stiffly accurate: the 5th and 6th stage arguments are y₁ − k₆ and y₁ − k₆ + …).
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


def _comb(coefs, ks):
    out = coefs[0] * ks[0]
    for c, k in zip(coefs[1:], ks[1:]):
        out = out + c * k
    return out


def tsit5_step(f, y, f0, h):
    """One Tsit5 step from `y` (with `f0 = f(y)`) of size `h (*b)`.

    **Returns** `(y1, f1, err, hrho)`: `f1 = f(y1)` (first stage of the next step), the error
    estimate, and `h·ρ` (stiffness indicator).

    Examples:
        >>> import jax.numpy as jnp
        >>> f = lambda y: -y                      # three samples of ẏ = −y, batch last
        >>> y = jnp.ones((1, 3))
        >>> y1, f1, err, hrho = tsit5_step(f, y, f(y), jnp.array([0.1, 0.2, 0.4]))
        >>> bool(jnp.allclose(y1, jnp.exp(-jnp.array([[0.1, 0.2, 0.4]])), atol=1e-6))
        True
    """
    ks = [f0]
    yi = y
    for row in TSIT5_A:
        yi = y + h * _comb(row, ks)
        ks.append(f(yi))
    y1 = y + h * _comb(TSIT5_B, ks)
    f1 = f(y1)
    err = h * _comb(TSIT5_E, ks + [f1])
    num = norm(f1 - ks[-1])
    den = norm(y1 - yi)
    hrho = jnp.where(den > 0, h * num / jnp.where(den > 0, den, 1.0), 0.0)
    return y1, f1, err, hrho


# Rodas5P (Steinebach 2023, order 5(4), 8 stages, L-stable, stiffly accurate), same form.
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
ROSENBROCK = {"rodas4": (RODAS4_GAMMA, RODAS4_A, RODAS4_C),
              "rodas5p": (RODAS5P_GAMMA, RODAS5P_A, RODAS5P_C)}


def rosenbrock_step(f, hess, y, f0, h, method: str = "rodas5p"):
    """One step of a stiffly accurate Rosenbrock method (`"rodas4"`, `"rodas5p"`) from `y`
    (`f0 = f(y)`) with the exact Jacobian `−hess(y)`, in Hairer–Wanner's transformed form

        (I/(γh) − J)·k_i = f(u_i) + Σ_j (c_ij/h)·k_j,
        u_i = y + Σ_j a_ij·k_j (the first stages),  u_i = u_{i−1} + k_{i−1} (the last ones),

    `y₁ = u_s + k_s`, error estimate `k_s`.

    `I + γh·∇²L` is factorised by LDLᵀ without pivoting; a step where it is not positive definite
    (`γh·λ_min(∇²L) ≤ −1`, only near a saddle with a large negative curvature) returns an
    infinite error, so it is rejected and retried smaller (where `I + γh∇²L` is definite again).
    **Returns** `(y1, err)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> lam = jnp.array([1.0, 1e6])          # a mild and a very stiff sample of ẏ = −λy
        >>> f = lambda y: -lam * y
        >>> hess = lambda y: lam * jnp.ones((1, 1, 2))
        >>> y1, err = rosenbrock_step(f, hess, jnp.ones((1, 2)), f(jnp.ones((1, 2))), jnp.array([0.1, 0.1]))
        >>> round(float(y1[0, 0]), 6), abs(float(y1[0, 1])) < 1e-3  # L-stable: R(z) → 0 as z → −∞
        (0.904837, True)
    """
    gamma, A, C = ROSENBROCK[method]
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
        u = y + _comb(arow, ks)
        ks.append(solve(f(u) + _comb(crow, ks) / h))
    for crow in C[len(A):]:
        u = u + ks[-1]
        ks.append(solve(f(u) + _comb(crow, ks) / h))
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
