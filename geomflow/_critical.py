"""Critical points of `L = ℓ ∘ μ`: gradient, Hessian, and classification.

All functions here are pure and jittable, for one sample; `vmap` them outside.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._losses import network_loss
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

    - `grad = 1e-8`: `w` is critical iff `‖∇L(w)‖_F ≤ grad` (absolute; geomflow's polish reaches
      ~1e-12 on O(1) data in float64).
    - `eig = 1e-6`: a Hessian eigenvalue `λ` counts as zero iff `|λ| ≤ eig · max(1, max|λ|)`;
      negative iff `λ < −eig · max(1, max|λ|)`.
    - `loss = 1e-8`: a PSD critical point is a global minimum iff `L − L* ≤ loss · max(1, |L*|)`.
    - `higher_order = 1e-6`: along a Hessian-null direction `v` (unit), `g(t) = L(w + t v)`;
      `|g'''(0)| > higher_order · max(1, max|λ|)` or `g''''(0) < −higher_order · max(1, max|λ|)`
      proves `w` is not a local minimum (a local minimum of `L` is one of every line through it).
    - `rank = 1e-9`: singular values of `dμ(w)` above `rank · max(1, σ_max)` count for its rank.
    """

    grad: float = 1e-8
    eig: float = 1e-6
    loss: float = 1e-8
    higher_order: float = 1e-6
    rank: float = 1e-9


class CriticalReport(NamedTuple):
    """What [`classify_critical_point`][] found (all scalars; batched under `vmap`)."""

    label: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    eig_min: jax.Array
    eig_max: jax.Array
    n_negative: jax.Array
    n_zero: jax.Array
    higher_order: jax.Array
    rank_dmu: jax.Array


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


@functools.partial(jax.jit, static_argnames=("no_bad_minima", "neuromanifold_dim", "num_directions"))
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
) -> CriticalReport:
    """Classify `w` as a critical point of `L = ℓ ∘ μ` (jittable, one sample).

    The decision, in order (tolerances: [`Tolerances`][]):

    1. `‖∇L‖ > grad` → `not_critical`.
    2. every Hessian eigenvalue zero → `zero_hessian`.
    3. a negative eigenvalue → `strict_saddle`.
    4. PSD and `L ≤ L* + loss·max(1,|L*|)` (when `loss_star` is given) → `global_min`.
    5. PSD above `L*` and the theory excludes bad minima (`no_bad_minima=True`: the quadratic
       loss, or convex `ℓ` on a filling architecture; MATH.md §2) → `non_strict_saddle`.
       (Without `loss_star`, steps 6–7 decide, and a Morse–Bott minimum is then `global_min`.)
    6. Higher order (only when theory does not decide): along random unit directions `u` in the
       Hessian's null space a non-zero third derivative of `t ↦ L(w + t u)`, or a negative
       fourth derivative at a `u` found by minimising the quartic form over the null sphere,
       proves `w` is not a local minimum (a local minimum of `L` is one of every line through it)
       → `non_strict_saddle`. Escapes that first show at order ≥ 5 are not searched for: such
       points end as `undecided` below unless the Morse–Bott test applies.
    7. Morse–Bott test: if `rank dμ(w)` equals `dim M_Φ` (its maximum, so constant nearby and the
       fibre is a manifold with tangent `ker dμ`) and the Hessian null space has exactly the
       fibre's dimension `d_w − rank dμ`, then `μ(w)` is a strict local minimum of `ℓ|M_Φ` →
       `non_global_local_min` if `loss_star` is given (the global case was caught in 4), else
       `global_min` if `no_bad_minima`, else `local_min` (globality unknown).
    8. otherwise → `undecided` (never a guess).

    **Arguments:**

    - `loss`: a geomflow loss (pytree); `weights`: `(W_1, …, W_h)`.
    - `loss_star`: the global minimum value of `L`, if known (see `geomflow.global_min_value`).
    - `no_bad_minima`: static; whether theory guarantees every local minimum is global.
    - `neuromanifold_dim`: static; `r(d_0 + d_h − r)`; computed from the shapes when omitted.
    - `num_directions`: static; random null-space directions for the higher-order test.
    - `key`: PRNG key for those directions (a fixed key by default, so results are reproducible).

    **Returns:** a [`CriticalReport`][] whose `label` indexes `CLASS_NAMES`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from geomflow._losses import QuadraticLoss
        >>> loss = QuadraticLoss(jnp.eye(2), jnp.diag(jnp.array([2.0, 1.0])))
        >>> zero = (jnp.zeros((2, 2)), jnp.zeros((2, 2)))
        >>> CLASS_NAMES[int(classify_critical_point(loss, zero, loss_star=0.0).label)]
        'strict_saddle'
    """
    f, v = _flat_loss(loss, weights)
    dtype = v.dtype
    d_w = v.shape[0]
    if neuromanifold_dim is None:
        widths = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        r = min(widths)
        neuromanifold_dim = r * (widths[0] + widths[-1] - r)
    tol = tolerances
    L = f(v)
    g = jax.grad(f)(v)
    gnorm = jnp.linalg.norm(g)
    H = jax.hessian(f)(v)
    H = 0.5 * (H + H.T)
    lam, E = jnp.linalg.eigh(H)
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(lam)))
    zero_mask = jnp.abs(lam) <= tol.eig * scale
    n_zero = jnp.sum(zero_mask).astype(jnp.int32)
    n_neg = jnp.sum(lam < -tol.eig * scale).astype(jnp.int32)

    # Higher-order test on the Hessian null space (skipped when theory decides: that needs both
    # "no bad minima" and the value L*; without L*, a PSD point is told apart by the tests
    # below, and a verified local minimum is then global by the theory).
    theory_decides = no_bad_minima and loss_star is not None
    if theory_decides:
        ho_cubic = jnp.zeros((), dtype)
        escapes = jnp.asarray(False)
    else:
        if key is None:
            key = jax.random.key(20200426)
        ho_cubic, ho_quartic = _null_space_escape(f, v, E, zero_mask, key, num_directions)
        escapes = (ho_cubic > tol.higher_order * scale) | (ho_quartic < -tol.higher_order * scale)

    rank_dmu = product_jacobian_rank(weights, tol.rank)
    morse_bott = (rank_dmu == neuromanifold_dim) & (n_zero == d_w - rank_dmu)

    if loss_star is None:
        is_global = jnp.asarray(False)
        local_label = GLOBAL_MIN if no_bad_minima else LOCAL_MIN
    else:
        is_global = L - loss_star <= tol.loss * jnp.maximum(1.0, jnp.abs(loss_star))
        local_label = NON_GLOBAL_LOCAL_MIN

    psd_label = jnp.where(
        is_global,
        GLOBAL_MIN,
        NON_STRICT_SADDLE
        if theory_decides
        else jnp.where(escapes, NON_STRICT_SADDLE, jnp.where(morse_bott, local_label, UNDECIDED)),
    )
    label = jnp.where(
        gnorm > tol.grad,
        NOT_CRITICAL,
        jnp.where(n_zero == d_w, ZERO_HESSIAN, jnp.where(n_neg > 0, STRICT_SADDLE, psd_label)),
    ).astype(jnp.int32)
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
    )


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
