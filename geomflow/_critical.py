"""Critical points of `L = ℓ ∘ μ`: gradient, Hessian, and classification.

All functions here are pure and jittable, for one sample; `vmap` them outside.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError
from ._losses import QuadraticLoss, network_loss
from ._networks import flatten_weights, partial_product, product

# Class codes (int32 in batched results) and their names, in this order.
GLOBAL_MIN = 0
NON_GLOBAL_LOCAL_MIN = 1
STRICT_SADDLE = 2
NON_STRICT_SADDLE = 3
ZERO_HESSIAN = 4
UNDECIDED = 5
NOT_CRITICAL = 6
LOCAL_MIN = 7
CLASS_NAMES = (
    "global_min",
    "non_global_local_min",
    "strict_saddle",
    "non_strict_saddle",
    "zero_hessian",
    "undecided",
    "not_critical",
    "local_min",
)


class Tolerances(NamedTuple):
    """The named tolerances of the classifier (a pytree of floats: changing one does not recompile).

    Every test is made at the balanced representative `w_b` of the point's symmetry orbit
    ([`balance_weights`][]) and against a computed error bound, so that the decisions are the
    same on every representative of a fibre and under rescalings of the data. `L̃` below is the
    *majorant* of `L`: the same polynomial in the weights with every coefficient replaced by its
    absolute value, evaluated at `|w_b|`; it bounds every derivative of `L` near `w_b` and the
    rounding error of computing them.

    - `grad = 1e-8`: `w` is critical iff `‖∇L(w_b)‖ ≤ grad · ‖∇L̃(|w_b|)‖ + ε_∇`, with `ε_∇` the
      computed bound on the gradient's error (the input's rounding carried to `w_b`, and the
      rounding of evaluating `∇L`). Relative to the terms that cancel in `∇L`, so invariant under
      symmetries and rescalings of the data.
    - `eig = 1e-9`: a floor for the eigenvalue error bound, relative to `max|λ|` at `w_b`:
      `β_eff = max(β, eig · max|λ|)`. `β` is computed: the input is `T⁻¹·w_b`, so it is known to
      within the rounding of that product (perturbations `|E_i| ≤ 2u|T_i⁻¹||W_b,i||T_{i−1}|`);
      `num_rounding_samples` random such perturbations, mapped to `w_b`, and the gradient residual
      as the Newton correction `H⁺∇L`, are carried through the third derivative of `L` (central
      differences of the Hessian), plus the a-priori rounding of the Hessian and of the
      eigensolver, all times `safety`. This is a realistic estimate, not an interval bound.
      An eigenvalue `λ` counts as zero iff `|λ| ≤ β_eff`. Negative curvature is certified along
      each of the `num_certified` lowest eigenvectors `x` with the same error carried along `x`
      only (`‖ΔH x‖`), and `x` must be a verified second-order descent direction; a negative
      eigenvalue without a verified descent direction makes the label `undecided`.
    - `loss = 1e-8`: a PSD critical point is a global minimum iff
      `L − L* ≤ loss · L̃(|w_b|) + ε_L` (`ε_L` the rounding bound of `L`).
    - `higher_order = 1e-6`: along a Hessian-null unit direction `u`, `g(t) = L(w_b + t u)`;
      `|g‴(0)| > higher_order · ‖H̃‖/‖w_b‖` or `g⁗(0) < −higher_order · ‖H̃‖/‖w_b‖²` proves
      that `w` is not a local minimum (used only where theory does not decide).
    - `rank = 1e-9`: singular values of `dμ(w_b)` above `rank · max(1, σ_max)` count for its rank.
    - `safety = 4.0`: the factor on the computed error bounds.
    - `resolution = 1e-2`: if `β_eff > resolution · ‖H̃‖₂` (`H̃` the Hessian of `L̃`: the
      Hessian's own scale) the Hessian is not resolved at this point: `undecided`.
    - `balance_reg = 1e-2`, `balance_floor = 0.1`: the regularisation of the balancing sweeps
      (`reg`, `floor` of `balance_weights`).
    """

    grad: float = 1e-8
    eig: float = 1e-9
    loss: float = 1e-8
    higher_order: float = 1e-6
    rank: float = 1e-9
    safety: float = 4.0
    resolution: float = 1e-2
    balance_reg: float = 1e-2
    balance_floor: float = 0.1


class CriticalReport(NamedTuple):
    """What [`classify_critical_point`][] found (all scalars; batched under `vmap`).

    Everything is measured at the balanced representative `w_b`: the eigenvalue *signs* are
    the same at every representative of the orbit, their magnitudes are not.

    - `label`: an index into `CLASS_NAMES`.
    - `loss`, `grad_norm`: `L` and `‖∇L‖` at `w_b`.
    - `eig_min`, `eig_max`; `n_negative`, `n_zero`: eigenvalues counted against `eig_bound`.
    - `higher_order`: the largest third derivative found along null directions (0 if not run).
    - `rank_dmu`: the numerical rank of `dμ(w_b)`.
    - `eig_bound`: `β_eff`, the error bound the eigenvalues are compared with.
    - `grad_bound`: the threshold `‖∇L(w_b)‖` is compared with.
    - `balance_cond`: the condition number of the symmetry that reached `w_b`.
    - `descent`: whether the eigenvector of `eig_min` is a verified second-order descent direction.
    """

    label: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    eig_min: jax.Array
    eig_max: jax.Array
    n_negative: jax.Array
    n_zero: jax.Array
    higher_order: jax.Array
    rank_dmu: jax.Array
    eig_bound: jax.Array
    grad_bound: jax.Array
    balance_cond: jax.Array
    descent: jax.Array


def network_gradient(loss, weights) -> tuple[jax.Array, ...]:
    """`∇_{W_i} L = W_{h:i+1}ᵀ G W_{i−1:1}ᵀ` with `G = ∇ℓ(μ(w))` (closed form, no autodiff of μ).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from geomflow._losses import QuadraticLoss, network_loss
        >>> w = (jnp.array([[1.0, 2.0]]), jnp.array([[3.0]]))
        >>> loss = QuadraticLoss(jnp.eye(2), jnp.zeros((1, 2)))
        >>> g = network_gradient(loss, w)
        >>> ga = jax.grad(lambda w: network_loss(loss, w))(w)
        >>> all(bool(jnp.allclose(a, b)) for a, b in zip(g, ga))
        True
    """
    h = len(weights)
    G = loss.grad(product(weights))
    out = []
    for i in range(1, h + 1):
        left = partial_product(weights, h, i + 1) if i < h else None
        right = partial_product(weights, i - 1, 1) if i > 1 else None
        g = G
        if left is not None:
            g = left.T @ g
        if right is not None:
            g = g @ right.T
        out.append(g)
    return tuple(out)


def _unflattener(weights):
    """A function mapping a flat vector back to weights shaped like `weights`."""
    shapes = [W.shape for W in weights]
    sizes = [W.size for W in weights]

    def unflatten(v):
        parts, k = [], 0
        for s, n in zip(shapes, sizes):
            parts.append(jnp.reshape(v[k : k + n], s))
            k += n
        return tuple(parts)

    return unflatten


def _flat_loss(loss, weights):
    unflatten = _unflattener(weights)
    return (lambda v: network_loss(loss, unflatten(v))), flatten_weights(weights)


@jax.jit
def network_hessian(loss, weights) -> jax.Array:
    """The dense Hessian of `L` in the coordinates `flatten_weights(w)` (size `d_w × d_w`)."""
    f, v = _flat_loss(loss, weights)
    return jax.hessian(f)(v)


def hessian_quadratic_form(loss, weights, direction) -> jax.Array:
    """`Hess L(w)[Δ, Δ] = D²ℓ(P)[P₁, P₁] + 2⟨∇ℓ(P), P₂⟩` in closed form (MATH.md §4).

    `P₁ = Σ_i W_{h:i+1} Δ_i W_{i−1:1}` and `P₂ = Σ_{i<j} W_{h:j+1} Δ_j W_{j−1:i+1} Δ_i W_{i−1:1}`;
    for the quadratic loss `D²ℓ[P₁, P₁] = 2‖P₁X‖²`. An independent check of the autodiff Hessian.
    """
    h = len(weights)
    W = weights

    def seg(j, i):  # W_{j:i}, identity when j < i
        return partial_product(W, j, i)

    P = product(W)
    P1 = sum(seg(h, i + 1) @ direction[i - 1] @ seg(i - 1, 1) for i in range(1, h + 1))
    P2 = jnp.zeros_like(P)
    for i in range(1, h + 1):
        for j in range(i + 1, h + 1):
            P2 = P2 + seg(h, j + 1) @ direction[j - 1] @ seg(j - 1, i + 1) @ direction[i - 1] @ seg(i - 1, 1)
    return loss.hess_form(P, P1) + 2.0 * jnp.vdot(loss.grad(P), P2)


def product_jacobian_rank(weights, tol: float = 1e-9) -> jax.Array:
    """Numerical rank of `dμ(w)` (a `(d_h d_0) × d_w` matrix), threshold `tol · max(1, σ_max)`."""
    unflatten = _unflattener(weights)
    J = jax.jacfwd(lambda v: jnp.ravel(product(unflatten(v))))(flatten_weights(weights))
    s = jnp.linalg.svd(J, compute_uv=False)
    return jnp.sum(s > tol * jnp.maximum(1.0, s[0])).astype(jnp.int32)


def _line_derivatives(f, v, u):
    """Third and fourth derivatives of `t ↦ f(v + t u)` at 0 (nested forward mode)."""

    def d1(x):
        return jax.jvp(f, (x,), (u,))[1]

    def d2(x):
        return jax.jvp(d1, (x,), (u,))[1]

    def d3(x):
        return jax.jvp(d2, (x,), (u,))[1]

    def d4(x):
        return jax.jvp(d3, (x,), (u,))[1]

    return d3(v), d4(v)


def _null_space_escape(f, v, E, zero_mask, key, num_directions, quartic_iters: int = 60):
    """Largest |third derivative| over random unit null directions, and the smallest fourth
    derivative found by minimising the quartic form `q(u) = D⁴L(w)[u,u,u,u]` over the unit sphere
    of the null space (shifted power iterations from several random starts)."""
    d_w = v.shape[0]
    dtype = v.dtype
    N = E * zero_mask[None, :].astype(dtype)  # columns span the null space (others zeroed)

    def project(u):
        return N @ (N.T @ u)

    def normalise(u):
        return u / jnp.maximum(jnp.linalg.norm(u), jnp.finfo(dtype).tiny)

    C = jax.random.normal(key, (num_directions, d_w), dtype=dtype)
    U0 = jax.vmap(lambda c: normalise(project(c)))(C)
    d3, d4 = jax.vmap(lambda u: _line_derivatives(f, v, u))(U0)
    has_null = jnp.any(zero_mask)
    cubic = jnp.where(has_null, jnp.max(jnp.abs(d3)), 0.0)

    def q(u):
        return _line_derivatives(f, v, u)[1]

    grad_q = jax.grad(q)
    # SS-HOPM for min q on the sphere: u ← normalise(Π(α u − ∇q(u))), α ≥ a bound on the
    # curvature of q; an over-estimate only slows convergence, it cannot break monotonicity.
    alpha = 12.0 * jnp.maximum(jnp.max(jnp.abs(d4)), jnp.finfo(dtype).tiny) + 1e-300

    def body(_, U):
        return jax.vmap(lambda u: normalise(project(alpha * u - grad_q(u))))(U)

    U = jax.lax.fori_loop(0, quartic_iters, body, U0)
    quartic = jnp.where(has_null, jnp.minimum(jnp.min(d4), jnp.min(jax.vmap(q)(U))), 0.0)
    return cubic, quartic


def _loss_majorant(loss, P):
    """The coefficient majorant of `ℓ` as a polynomial in `m = vec(M)`: `ℓ̃(m) = |c| + |b|ᵀm +
    ½ mᵀ|K|m`, from `ℓ(M) = c + bᵀm + ½ mᵀKm` expanded at `P` (exact for a quadratic `ℓ`, i.e.
    every built-in loss; for a `CustomLoss` it is its second-order Taylor model at `P`)."""
    shape = P.shape
    p = jnp.ravel(P)

    def flat(m):
        return loss(jnp.reshape(m, shape))

    c0 = flat(p)
    g0 = jax.grad(flat)(p)
    K = jax.hessian(flat)(p)
    K = 0.5 * (K + K.T)
    b = g0 - K @ p
    c = c0 - g0 @ p + 0.5 * p @ K @ p
    Ka, ba, ca = jnp.abs(K), jnp.abs(b), jnp.abs(c)

    def majorant(M):
        m = jnp.ravel(M)
        return ca + ba @ m + 0.5 * m @ Ka @ m

    return majorant


def _spectral_norm_nonneg(B):
    """`‖B‖₂` of a symmetric matrix with non-negative entries (its Perron eigenvalue)."""
    return jnp.maximum(jnp.max(jnp.linalg.eigvalsh(0.5 * (B + B.T))), 0.0)


def _verified_descent(f, v, u, lam, L_round, scale_t):
    """Whether `t ↦ L(w + t u)` decreases to second order along the unit vector `u`.

    The symmetric difference `D(t) = L(w+tu) + L(w−tu) − 2L(w) = λt² + O(t⁴)` (odd orders,
    including a gradient residual, cancel). Verified iff for some `t` of a geometric grid
    `D(t) < −L_round` (beyond the rounding of the three loss values) and `D(t)` agrees with
    `λt²` to within half of it."""
    ts = scale_t * (0.25 ** jnp.arange(24, dtype=v.dtype))
    L0 = f(v)

    def D(t):
        return f(v + t * u) + f(v - t * u) - 2.0 * L0

    Ds = jax.vmap(D)(ts)
    quad = lam * ts * ts
    ok = (Ds < -L_round) & (jnp.abs(Ds - quad) <= 0.5 * jnp.abs(quad)) & (lam < 0)
    return jnp.any(ok)


def _check_shapes(loss, weights):
    """Raise a one-line `GeomflowError` unless `weights` chain `(W_1, …, W_h)` and fit the loss."""
    if not isinstance(weights, (tuple, list)) or len(weights) == 0:
        raise GeomflowError(
            f"weights must be a non-empty tuple (W_1, …, W_h) of 2-D arrays, got {type(weights).__name__}")
    shapes = [tuple(getattr(W, "shape", np.shape(W))) for W in weights]
    if any(len(s) != 2 for s in shapes):
        raise GeomflowError(f"every weight matrix must be 2-D (W_i of shape (d_i, d_{{i−1}})), got shapes {shapes}")
    for i in range(1, len(shapes)):
        if shapes[i][1] != shapes[i - 1][0]:
            raise GeomflowError(
                f"weights do not chain: W_{i + 1} has {shapes[i][1]} columns but W_{i} has {shapes[i - 1][0]} rows "
                f"(W_i must be d_i × d_{{i−1}}); got shapes {shapes}")
    d0, dh = shapes[0][1], shapes[-1][0]
    want = None
    if isinstance(loss, QuadraticLoss):
        X, Y = loss.X, loss.Y
        if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != d0 or Y.shape[0] != dh:
            want = f"X of shape ({d0}, s) and Y of shape ({dh}, s), got X {tuple(X.shape)} and Y {tuple(Y.shape)}"
    elif hasattr(loss, "Q"):
        if tuple(loss.Q.shape) != (dh, d0):
            want = f"Q of shape (d_h, d_0) = ({dh}, {d0}), got {tuple(loss.Q.shape)}"
    else:
        try:
            out = jax.eval_shape(loss, jax.ShapeDtypeStruct((dh, d0), jnp.result_type(*weights)))
        except Exception as e:  # noqa: BLE001 - any failure means the shapes do not fit
            want = f"a loss that accepts a ({dh}, {d0}) matrix ({type(e).__name__})"
        else:
            if out.shape != ():
                want = f"a scalar loss, got output shape {out.shape}"
    if want is not None:
        raise GeomflowError(f"weights of shapes {shapes} (μ(w) is {dh} × {d0}) do not fit the loss: it needs {want}")


def _rounding_gamma(loss, weights):
    """The a-priori rounding model for evaluating `L`, `∇L`, `H` (products of `h + 2` factors,
    inner dimensions up to `d_max` plus the data's): `γ = 8 (h + 2)(d_max + n) u`."""
    h = len(weights)
    widths = [weights[0].shape[1]] + [W.shape[0] for W in weights]
    n_data = max([int(np.sqrt(x.size)) for x in jax.tree.leaves(loss)] + [1])
    return 8.0 * (h + 2) * (max(widths) + n_data) * jnp.finfo(jnp.result_type(*weights)).eps


def _attains(L, loss_star, Lt_a, gamma, tol):
    """`L − L* ≤ loss · L̃(|w_b|) + ε_L` (`ε_L = safety · γ · L̃`, the rounding bound of `L`)."""
    return L - loss_star <= tol.loss * Lt_a + tol.safety * gamma * Lt_a


class ValueReport(NamedTuple):
    """What [`global_by_value`][] found (scalars; batched under `vmap`).

    - `is_global`: critical and attaining `L*` (see [`global_by_value`][]).
    - `loss`, `grad_norm`: `L` and `‖∇L‖` at the balanced representative.
    - `grad_bound`: the threshold `‖∇L‖` was compared with.
    """

    is_global: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    grad_bound: jax.Array


@functools.partial(jax.jit, static_argnames=("balance_sweeps",))
def global_by_value(loss, weights, *, loss_star, tolerances: Tolerances = Tolerances(),
                    balance_sweeps: int = 40) -> ValueReport:
    """Whether `w` is a global minimum because it attains the global minimum value `L*`.

    A point where `L = L*` is a global minimiser whatever its Hessian looks like, so this needs
    no spectral decision: at the balanced representative `w_b` (as in
    [`classify_critical_point`][]), `w` is declared a global minimum iff
    `‖∇L(w_b)‖ ≤ grad · ‖∇L̃(|w_b|)‖` (the classifier's gradient test *without* its error
    allowances, so it is stricter) and `L(w_b) − L* ≤ loss · L̃(|w_b|) + ε_L` (the classifier's
    own global test). Whenever it says `True`, [`classify_critical_point`][] says `global_min`;
    when it says `False` nothing is decided and the full classifier must run. It costs one
    gradient instead of a dozen Hessians, which is what the flow engine's finalisation uses it for
    (most flows end at global minima).

    Examples:
        >>> import jax.numpy as jnp
        >>> from geomflow._losses import QuadraticLoss
        >>> loss = QuadraticLoss(jnp.eye(2), jnp.diag(jnp.array([2.0, 1.0])))
        >>> w = (jnp.diag(jnp.array([4.0, 1.0])), jnp.diag(jnp.array([0.5, 1.0])))  # μ(w) = Y
        >>> bool(global_by_value(loss, w, loss_star=0.0).is_global)
        True
        >>> bool(global_by_value(loss, (jnp.zeros((2, 2)),) * 2, loss_star=0.0).is_global)
        False
    """
    from ._balancing import balance_weights

    tol = tolerances
    weights = tuple(weights)
    wb = balance_weights(weights, sweeps=balance_sweeps, reg=tol.balance_reg,
                         floor=tol.balance_floor).weights
    f, v = _flat_loss(loss, wb)
    unflatten = _unflattener(wb)
    maj = _loss_majorant(loss, product(wb))

    def Lt(x):
        return maj(product(unflatten(x)))

    a = jnp.abs(v)
    L, g = jax.value_and_grad(f)(v)
    gnorm = jnp.linalg.norm(g)
    Lt_a, gt = jax.value_and_grad(Lt)(a)
    grad_bound = tol.grad * jnp.linalg.norm(gt)
    ok = (gnorm <= grad_bound) & _attains(L, loss_star, Lt_a, _rounding_gamma(loss, wb), tol)
    ok = ok & jnp.isfinite(L) & jnp.isfinite(gnorm)
    return ValueReport(is_global=ok, loss=L, grad_norm=gnorm, grad_bound=grad_bound)


def classify_critical_point(
    loss,
    weights,
    *,
    loss_star=None,
    no_bad_minima: bool = False,
    neuromanifold_dim: int | None = None,
    tolerances: Tolerances = Tolerances(),
    num_directions: int = 8,
    key=None,
    balance_sweeps: int = 40,
    num_rounding_samples: int = 4,
    num_certified: int = 4,
) -> CriticalReport:
    """Classify `w` as a critical point of `L = ℓ ∘ μ` (jittable, vmappable, one sample).

    The point is first moved along its symmetry orbit `W_i ↦ G_i W_i G_{i−1}⁻¹` to the balanced
    representative `w_b` ([`balance_weights`][]): the loss, criticality and the Hessian's
    inertia are the same on the whole orbit (Sylvester), the eigenvalue magnitudes are not. At
    `w_b` every decision is made against a computed error bound (see [`Tolerances`][]), in order:

    1. `‖∇L(w_b)‖` above its threshold → `not_critical`.
    1′. `L ≤ L* + loss·L̃ + ε_L` (when `loss_star` is given) → `global_min`: the value `L*` is
       attained, which no spectrum can contradict (the test of [`global_by_value`][]).
    2. the eigenvalue error bound `β_eff` above `resolution · ‖H̃‖` → `undecided` (the Hessian
       cannot be resolved at this precision).
    3. every eigenvalue within `β_eff` of zero → `zero_hessian`.
    4. a certified negative curvature (`λ < −β` along one of the lowest eigenvectors, with the
       error carried along that eigenvector) → `strict_saddle` if the eigenvector is a verified
       second-order descent direction (the loss decreases like `λt²` both ways), else `undecided`.
    6. PSD above `L*` and theory excludes bad minima (`no_bad_minima=True`: the quadratic loss,
       or convex `ℓ` on a filling architecture; MATH.md §2) → `non_strict_saddle`. (Without
       `loss_star`, steps 7–8 decide, and a Morse–Bott minimum is then `global_min`.)
    7. Higher order (only when theory does not decide): along random unit directions in the
       Hessian's null space a non-zero third derivative, or a negative fourth derivative at a
       direction found by minimising the quartic form over the null sphere, proves `w` is not a
       local minimum → `non_strict_saddle`.
    8. Morse–Bott test: `rank dμ(w_b) = dim M_Φ` and the null space has exactly the fibre's
       dimension `d_w − rank dμ` → `non_global_local_min` if `loss_star` is given, else
       `global_min` if `no_bad_minima`, else `local_min`.
    9. otherwise → `undecided` (never a guess).

    **Arguments:**

    - `loss`: a geomflow loss (pytree); `weights`: `(W_1, …, W_h)`, `W_i` of shape
      `(d_i, d_{i−1})`, fitting the loss.
    - `loss_star`: the global minimum value of `L`, if known (see `geomflow.global_min_value`).
    - `no_bad_minima`: static; whether theory guarantees every local minimum is global.
    - `neuromanifold_dim`: static; `r(d_0 + d_h − r)`; computed from the shapes when omitted.
    - `tolerances`: a [`Tolerances`][] (traced: new values do not recompile).
    - `num_directions`: static; random null-space directions for the higher-order test.
    - `key`: PRNG key for those directions (a fixed key by default, so results are reproducible).
    - `balance_sweeps`: static; the sweeps of the balancing iteration.
    - `num_rounding_samples`: static; random rounding perturbations behind the error bounds.
    - `num_certified`: static; the lowest eigenvectors tried as certificates of negative curvature.

    **Returns:** a [`CriticalReport`][] whose `label` indexes `CLASS_NAMES`.

    **Raises:** `GeomflowError` if the weights do not chain or do not fit the loss.

    Examples:
        >>> import jax.numpy as jnp
        >>> from geomflow._losses import QuadraticLoss
        >>> loss = QuadraticLoss(jnp.eye(2), jnp.diag(jnp.array([2.0, 1.0])))
        >>> zero = (jnp.zeros((2, 2)), jnp.zeros((2, 2)))
        >>> CLASS_NAMES[int(classify_critical_point(loss, zero, loss_star=0.0).label)]
        'strict_saddle'
        >>> classify_critical_point(loss, (jnp.zeros((3, 2)), jnp.zeros((2, 2))))
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: weights do not chain: W_2 has 2 columns but W_1 has 3 rows (W_i must be d_i × d_{i−1}); got shapes [(3, 2), (2, 2)]
    """
    _check_shapes(loss, weights)
    return _classify(loss, tuple(weights), loss_star=loss_star, no_bad_minima=no_bad_minima,
                     neuromanifold_dim=neuromanifold_dim, tolerances=tolerances,
                     num_directions=num_directions, key=key, balance_sweeps=balance_sweeps,
                     num_rounding_samples=num_rounding_samples, num_certified=num_certified)


@functools.partial(jax.jit, static_argnames=("no_bad_minima", "neuromanifold_dim", "num_directions",
                                             "balance_sweeps", "num_rounding_samples", "num_certified"))
def _classify(loss, weights, *, loss_star, no_bad_minima, neuromanifold_dim, tolerances,
              num_directions, key, balance_sweeps, num_rounding_samples, num_certified) -> CriticalReport:
    from ._balancing import act, balance_weights

    tol = tolerances
    dtype = jnp.result_type(*weights)
    u = jnp.finfo(dtype).eps
    widths = [weights[0].shape[1]] + [W.shape[0] for W in weights]
    h = len(weights)
    if neuromanifold_dim is None:
        r = min(widths)
        neuromanifold_dim = r * (widths[0] + widths[-1] - r)

    bal = balance_weights(weights, sweeps=balance_sweeps, reg=tol.balance_reg, floor=tol.balance_floor)
    wb = bal.weights
    f, v = _flat_loss(loss, wb)
    d_w = v.shape[0]
    unflatten = _unflattener(wb)
    L = f(v)
    g = jax.grad(f)(v)
    gnorm = jnp.linalg.norm(g)
    H = jax.hessian(f)(v)
    H = 0.5 * (H + H.T)
    lam, E = jnp.linalg.eigh(H)
    lam_abs_max = jnp.max(jnp.abs(lam))

    # The majorant L̃ (non-negative coefficients) at a = |w_b|, and its derivatives.
    maj = _loss_majorant(loss, product(wb))

    def Lt(x):
        return maj(product(unflatten(x)))

    a = jnp.abs(v)
    Ht = jax.hessian(Lt)(a)
    nHt = _spectral_norm_nonneg(Ht)
    gt_norm = jnp.linalg.norm(jax.grad(Lt)(a))
    Lt_a = Lt(a)
    gamma = _rounding_gamma(loss, wb)

    # The input's rounding, carried to w_b. The input is `g·w_b` for the symmetry `g = T⁻¹`, so
    # it is known to within the rounding of that product: random perturbations with
    # |E_i| ≤ 2u·|T_i⁻¹||W_b,i||T_{i−1}| (each entry), mapped exactly to w_b by `T`. Their
    # first-order effect on ∇L and on the Hessian (the actual third derivative) is the realistic
    # size of the error; the largest over the samples, times `safety`, is used.
    keys = jax.random.split(jax.random.key(15150), num_rounding_samples)
    spread = act(tuple(jnp.abs(W) for W in wb), tuple(jnp.abs(t) for t in bal.inverses),
                 tuple(jnp.abs(t) for t in bal.transforms))

    def rounding_sample(k):
        ks = jax.random.split(k, h)
        e = tuple(2 * u * S * jax.random.uniform(kk, S.shape, dtype, -1.0, 1.0)
                  for kk, S in zip(ks, spread))
        return flatten_weights(act(e, bal.transforms, bal.inverses))

    D_in = jax.vmap(rounding_sample)(keys)

    def sym_norm(M):
        return jnp.max(jnp.abs(jnp.linalg.eigvalsh(0.5 * (M + M.T))))

    grad_err = tol.safety * (jnp.max(jax.vmap(lambda d: jnp.linalg.norm(H @ d))(D_in)) + gamma * gt_norm)
    grad_bound = tol.grad * gt_norm + grad_err
    critical = gnorm <= grad_bound

    # The gradient residual as a Newton correction (on eigenvalues above the rounding level).
    eigh_err = d_w * u * lam_abs_max
    cut = tol.safety * (gamma * nHt + eigh_err) + jnp.finfo(dtype).tiny
    inv = jnp.where(jnp.abs(lam) > cut, 1.0 / jnp.where(lam == 0, 1.0, lam), 0.0)
    d_newton = E @ (inv * (E.T @ g))

    # D³L(w_b)[d] for every error direction d, by central differences of the Hessian along the
    # unit direction (L is a polynomial: the O(τ²) remainder is relative τ²/‖w_b‖² ≈ 1e-6 at
    # τ = 1e-3 ‖w_b‖); one batched Hessian, so the compiled kernel stays small.
    D_all = jnp.concatenate([D_in, d_newton[None, :]], axis=0)
    norms = jnp.linalg.norm(D_all, axis=1)
    v_norm = jnp.linalg.norm(v)
    tau = 1e-3 * jnp.where(v_norm > 0, v_norm, 1.0)
    units = D_all / jnp.where(norms > 0, norms, 1.0)[:, None]
    Hs = jax.vmap(jax.hessian(f))(jnp.concatenate([v + tau * units, v - tau * units], axis=0))
    n_dir = D_all.shape[0]
    dHs = jnp.where((norms > 0)[:, None, None], (Hs[:n_dir] - Hs[n_dir:]) / (2 * tau) * norms[:, None, None], 0.0)
    dHs = 0.5 * (dHs + jnp.swapaxes(dHs, 1, 2))
    dH_norms = jax.vmap(sym_norm)(dHs)
    beta = tol.safety * (jnp.max(dH_norms[:-1]) + dH_norms[-1] + gamma * nHt + eigh_err)
    beta_eff = jnp.maximum(beta, tol.eig * lam_abs_max)
    unresolved = beta_eff > tol.resolution * nHt

    zero_mask = jnp.abs(lam) <= beta_eff
    L_round = tol.safety * gamma * Lt_a
    # Negative curvature, certified direction by direction (the most negative few eigenvectors
    # x): the Rayleigh quotient xᵀHx at the exact critical point differs from λ by at most
    # ‖ΔH x‖, bounded like β but along x only (a thread's curvature and its rounding shrink
    # together under balancing; a global bound would drown it). Then x must also be a verified
    # second-order descent direction.
    m = min(num_certified, d_w)
    X_low = E[:, :m].T
    lam_low = lam[:m]
    dHx = jnp.linalg.norm(jnp.einsum("kab,jb->kja", dHs, X_low), axis=2)  # (samples + 1, m)
    dir_bounds = tol.safety * (jnp.max(dHx[:-1], axis=0) + dHx[-1] + gamma * nHt + eigh_err)
    a_norm = jnp.maximum(jnp.linalg.norm(a), jnp.finfo(dtype).tiny)
    t_ref = 0.5 * jnp.maximum(jnp.linalg.norm(a), jnp.sqrt(Lt_a / jnp.maximum(jnp.abs(lam[0]), jnp.finfo(dtype).tiny)))
    desc_low = jax.vmap(lambda x, lm: _verified_descent(f, v, x, lm, L_round, t_ref))(X_low, lam_low)
    neg_low = lam_low < -jnp.minimum(dir_bounds, beta_eff)
    certified_neg = jnp.any(neg_low & desc_low)
    uncertain_neg = jnp.any(neg_low & ~desc_low)
    descent = desc_low[0]
    neg_mask = (lam < -beta_eff) | jnp.concatenate([neg_low, jnp.zeros((d_w - m,), bool)])
    zero_mask = zero_mask & ~neg_mask
    n_zero = jnp.sum(zero_mask).astype(jnp.int32)
    n_neg = jnp.sum(neg_mask).astype(jnp.int32)

    theory_decides = no_bad_minima and loss_star is not None
    if theory_decides:
        ho_cubic = jnp.zeros((), dtype)
        escapes = jnp.asarray(False)
    else:
        if key is None:
            key = jax.random.key(20200426)
        ho_cubic, ho_quartic = _null_space_escape(f, v, E, zero_mask, key, num_directions)
        s3 = nHt / a_norm
        escapes = (ho_cubic > tol.higher_order * s3) | (ho_quartic < -tol.higher_order * s3 / a_norm)

    rank_dmu = product_jacobian_rank(wb, tol.rank)
    morse_bott = (rank_dmu == neuromanifold_dim) & (n_zero == d_w - rank_dmu)

    if loss_star is None:
        is_global = jnp.asarray(False)
        local_label = GLOBAL_MIN if no_bad_minima else LOCAL_MIN
    else:
        is_global = _attains(L, loss_star, Lt_a, gamma, tol)
        local_label = NON_GLOBAL_LOCAL_MIN

    psd_label = jnp.where(
        is_global,
        GLOBAL_MIN,
        NON_STRICT_SADDLE
        if theory_decides
        else jnp.where(escapes, NON_STRICT_SADDLE, jnp.where(morse_bott, local_label, UNDECIDED)),
    )
    strict_label = jnp.where(certified_neg, STRICT_SADDLE, UNDECIDED)
    label = jnp.where(
        ~critical,
        NOT_CRITICAL,
        jnp.where(
            is_global,  # the value L* is attained: a global minimum, whatever the spectrum says
            GLOBAL_MIN,
            jnp.where(
                unresolved,
                UNDECIDED,
                jnp.where(n_zero == d_w, ZERO_HESSIAN,
                          jnp.where(certified_neg | uncertain_neg, strict_label, psd_label)),
            ),
        ),
    )
    # A non-finite quantity decides nothing.
    finite = jnp.isfinite(L) & jnp.isfinite(gnorm) & jnp.all(jnp.isfinite(lam)) & jnp.isfinite(beta_eff)
    label = jnp.where(finite, label, UNDECIDED).astype(jnp.int32)
    return CriticalReport(
        label=label,
        loss=L,
        grad_norm=gnorm,
        eig_min=lam[0],
        eig_max=lam[-1],
        n_negative=n_neg,
        n_zero=n_zero,
        higher_order=ho_cubic,
        rank_dmu=rank_dmu,
        eig_bound=beta_eff,
        grad_bound=grad_bound,
        balance_cond=bal.cond,
        descent=descent,
    )


classify_critical_point._cache_size = _classify._cache_size  # the compile-count helper of the tests


def is_pure(loss, weights, *, rank_tol: float = 1e-9, tol: float = 1e-8) -> jax.Array:
    """Whether a critical point `w` is **pure**: `μ(w)` is critical for `ℓ` on its rank stratum.

    With `P = μ(w)` of numerical rank `k` and `U_k, V_k` its singular frames, the Riemannian
    gradient on `{rank = k}` is `UUᵀG + GVVᵀ − UUᵀGVVᵀ` for `G = ∇ℓ(P)`; `w` is pure iff its norm
    is at most `tol · max(1, ‖G‖)`. Otherwise the critical point is **spurious** (an artefact of
    the parametrisation). Jittable: the rank enters through masks.
    """
    P = product(weights)
    G = loss.grad(P)
    Uf, s, Vt = jnp.linalg.svd(P, full_matrices=False)
    mask = (s > rank_tol * jnp.maximum(1.0, s[0])).astype(P.dtype)
    Uk = Uf * mask[None, :]
    Vk = Vt.T * mask[None, :]
    PU = Uk @ Uk.T
    PV = Vk @ Vk.T
    riem = PU @ G + G @ PV - PU @ G @ PV
    return jnp.linalg.norm(riem) <= tol * jnp.maximum(1.0, jnp.linalg.norm(G))
