"""The dimension of a model's function space: the generic rank of the Jacobian of `μ`.

For a parametrisation `μ : R^{d_w} → R^N` (a polynomial map for every model here), the image's
dimension is the rank of `Dμ` at a generic point. Two computations:

- **exact**: at a random point with small nonzero integer entries the Jacobian of a polynomial
  map with integer coefficients is an integer matrix; it is computed by float64 forward-mode
  autodiff, which is exact when every intermediate value is an integer of magnitude below `2^53`.
  For maps whose coefficients are all nonnegative (LCNs, polynomial networks, linear networks:
  sums of products of weights) the values at `|w|` bound every intermediate in absolute value,
  so evaluating at `|w|` and checking `< 2^53` proves the integer Jacobian exact. Its rank is then
  taken over two primes `F_p` (python-flint); each is a certified lower bound for the rank at that
  point, hence for the generic rank, and equals it unless the point lies on the degeneracy locus
  (Schwartz–Zippel: probability `≤ rank·(degree − 1)/(2B)` for entries drawn from `±{1..B}`,
  reported as `failure_probability_bound`).
- **numerical**: the singular values of `Dμ` at a Gaussian point in float64, rank = the number
  above `rtol·σ_max` (`rtol = DEFAULT_RTOL = 1e-9`), with the gap `σ_rank/σ_{rank+1}` reported.

The expected dimension (a closed form from the literature, where one is known) is carried by the
[`Parametrisation`][]; the defect is `expected − dim`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from ._dimensions import DEFAULT_RTOL, RankReport, numerical_rank
from ._errors import GeomflowError
from ._finite_field import PRIME, SECOND_PRIME, rank_mod_p

EXACT_LIMIT = 2.0**53


@dataclasses.dataclass(frozen=True)
class Parametrisation:
    """A model as the dimension and conservation-law computations see it.

    **Attributes:**

    - `name`: a one-line description.
    - `num_params`: `d_w`; `output_dim`: `N` (the ambient dimension of the function space).
    - `mu`: flat weights `(d_w,)` to outputs `(N,)` (JAX, differentiable).
    - `degree`: the polynomial degree of `μ` (for the Schwartz–Zippel bound).
    - `expected_dim`: the expected dimension, or None where no closed form is known.
    - `nonnegative_coefficients`: whether every coefficient of `μ` is `≥ 0` (makes the integer
      Jacobian provably exact; see the module docstring).
    - `conserved`: the known conserved quantities, flat weights to `(k,)`, or None.
    - `expected_laws`: how many conservation laws the literature predicts, or None.
    """

    name: str
    num_params: int
    output_dim: int
    mu: Callable
    degree: int
    expected_dim: int | None = None
    nonnegative_coefficients: bool = False
    conserved: Callable | None = None
    expected_laws: int | None = None


def linear_network_model(widths) -> Parametrisation:
    """The linear network `μ(w) = W_h ⋯ W_1` (flattened row-major), widths `(d_0, …, d_h)`.

    Examples:
        >>> m = linear_network_model((2, 1, 2))
        >>> m.num_params, m.output_dim, m.expected_dim
        (4, 4, 3)
    """
    from ._dimensions import delta_image_dim
    from ._networks import architecture, product, unflatten_weights

    arch = architecture(widths)

    def mu(v):
        return product(unflatten_weights(arch, v)).reshape(-1)

    def conserved(v):
        import jax.numpy as jnp

        ws = unflatten_weights(arch, v)
        out = []
        for i in range(len(ws) - 1):  # δ_i, upper triangle
            D = ws[i + 1].T @ ws[i + 1] - ws[i] @ ws[i].T
            out.append(D[np.triu_indices(D.shape[0])])
        return jnp.concatenate(out) if out else jnp.zeros((0,))

    return Parametrisation(
        name=f"linear network {','.join(map(str, arch.widths))}",
        num_params=arch.num_params, output_dim=arch.widths[0] * arch.widths[-1], mu=mu,
        degree=arch.depth, expected_dim=arch.neuromanifold_dim, nonnegative_coefficients=True,
        conserved=conserved, expected_laws=delta_image_dim(arch.widths).rank,
    )


def lcn_model(filter_sizes, strides=None) -> Parametrisation:
    """A linear convolutional network (1-D: ints; 2-D: pairs) as a [`Parametrisation`][].

    Expected dimension `min(ambient, Σ_l Π k_l − (L − 1))` (for stride 1 the dimension, KMMT);
    expected laws `L − 1` (`‖w_{l+1}‖² − ‖w_l‖²`).

    Examples:
        >>> m = lcn_model((2, 2))
        >>> m.num_params, m.output_dim, m.expected_dim, m.expected_laws
        (4, 3, 3, 1)
    """
    from ._lcn import lcn_architecture, lcn_conserved_quantities, lcn_parametrisation

    arch = lcn_architecture(filter_sizes, strides)
    ks = "×".join if arch.ndim == 2 else None
    size = ",".join(ks(map(str, k)) if ks else str(k[0]) for k in arch.filter_shapes)
    st = ",".join(ks(map(str, s)) if ks else str(s[0]) for s in arch.strides)
    return Parametrisation(
        name=f"{arch.ndim}-D LCN filters {size} strides {st}", num_params=arch.num_params,
        output_dim=arch.output_dim, mu=lcn_parametrisation(arch), degree=arch.depth,
        expected_dim=arch.expected_dim, nonnegative_coefficients=True,
        conserved=lambda v: lcn_conserved_quantities(arch, v), expected_laws=arch.depth - 1,
    )


def polynomial_network_model(widths, power: int) -> Parametrisation:
    """A polynomial network `x ↦ x^r` as a [`Parametrisation`][] (coefficients of its forms).

    Expected laws: one per hidden neuron (`‖w_in‖² − r·‖w_out‖²`).

    Examples:
        >>> m = polynomial_network_model((3, 5, 1), 4)
        >>> m.num_params, m.output_dim, m.expected_dim, m.expected_laws
        (20, 15, 15, 5)
    """
    from ._polynomial_networks import (
        polynomial_network,
        polynomial_network_conserved_quantities,
        polynomial_network_parametrisation,
    )

    net = polynomial_network(widths, power)
    return Parametrisation(
        name=f"polynomial network {','.join(map(str, net.widths))}, r = {net.power}",
        num_params=net.num_params, output_dim=net.output_dim,
        mu=polynomial_network_parametrisation(net),
        degree=sum(net.power**i for i in range(net.depth)),  # Σ_{i<h} r^i: degree in the weights
        expected_dim=net.expected_dim, nonnegative_coefficients=True,
        conserved=lambda v: polynomial_network_conserved_quantities(net, v),
        expected_laws=net.num_hidden_neurons,
    )


@dataclasses.dataclass(frozen=True)
class FunctionSpaceReport:
    """The function-space dimension of a model.

    **Attributes:**

    - `name`, `num_params`, `ambient_dim`, `expected_dim`.
    - `exact_ranks`: the rank over each prime of `primes` of the integer Jacobian at an integer
      point (certified lower bounds), or None when no exact evaluation was possible.
    - `entry_bound`: `B` (entries drawn from `±{1..B}`); `failure_probability_bound`: the
      Schwartz–Zippel bound that the exact rank is below the generic rank.
    - `numerical`: the [`RankReport`][] of the float64 Jacobian at a Gaussian point.
    - `dim`: the exact rank where available (the maximum over primes), else the numerical one.
    - `agree`: whether exact and numerical ranks agree (True when there is no exact rank).
    - `defect`: `expected_dim − dim` (None without an expected dimension).
    """

    name: str
    num_params: int
    ambient_dim: int
    expected_dim: int | None
    exact_ranks: tuple[int, ...] | None
    primes: tuple[int, ...]
    entry_bound: int | None
    failure_probability_bound: float | None
    numerical: RankReport
    dim: int
    agree: bool
    defect: int | None

    def to_dict(self) -> dict:
        """JSON-ready."""
        gap = self.numerical.gap
        return {
            "model": self.name, "num_params": self.num_params, "ambient_dim": self.ambient_dim,
            "expected_dim": self.expected_dim, "dim": self.dim, "defect": self.defect,
            "exact_ranks": list(self.exact_ranks) if self.exact_ranks is not None else None,
            "primes": list(self.primes), "entry_bound": self.entry_bound,
            "failure_probability_bound": self.failure_probability_bound,
            "numerical_rank": self.numerical.rank, "rtol": self.numerical.rtol,
            "singular_value_gap": None if gap == float("inf") else gap, "agree": self.agree,
        }


def _float64():
    """float64 whatever the caller's `jax_enable_x64` (a local context)."""
    import jax

    return jax.enable_x64(True)


def _jacobian_fn(mu):
    import jax

    return jax.jit(jax.jacfwd(mu))


def integer_jacobian(model: Parametrisation, *, seed: int = 0, max_bound: int = 2**15):
    """The exact integer Jacobian of `μ` at a random point with entries in `±{1..B}`.

    `B` is the largest power of two `≤ max_bound` for which the evaluation at `|w|` (which bounds
    every intermediate, the coefficients being nonnegative) stays below `2^53`.

    **Returns:** `(J as int64 array, B)`, or `(None, None)` when the model's coefficients are not
    known to be nonnegative or no `B ≥ 1` fits.
    """
    import jax.numpy as jnp

    if not model.nonnegative_coefficients:
        return None, None
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1, 1], size=model.num_params)
    u = rng.random(model.num_params)
    with _float64():
        jac = _jacobian_fn(model.mu)
        B = max_bound
        while B >= 1:
            w = np.floor(u * B).astype(np.int64) + 1  # uniform on {1..B}
            absw = jnp.asarray(w, dtype=jnp.float64)
            bound = max(float(jnp.max(jnp.abs(jac(absw)))), float(jnp.max(jnp.abs(model.mu(absw)))))
            if bound < EXACT_LIMIT:
                J = np.asarray(jac(jnp.asarray(signs * w, dtype=jnp.float64)))
                if not np.all(J == np.round(J)):  # pragma: no cover - excluded by the bound
                    raise RuntimeError("non-integer Jacobian at an integer point")
                return J.astype(np.int64), B
            B //= 2
    return None, None


def function_space_dim(
    model: Parametrisation,
    *,
    seed: int = 0,
    primes: tuple[int, ...] = (PRIME, SECOND_PRIME),
    rtol: float = DEFAULT_RTOL,
) -> FunctionSpaceReport:
    """The dimension of a model's function space, exactly (over `F_p`) and numerically.

    **Arguments:**

    - `model`: a [`Parametrisation`][] (e.g. [`lcn_model`][], [`polynomial_network_model`][],
      [`linear_network_model`][]).
    - `seed`: the random points.
    - `primes`: the primes of the exact ranks.
    - `rtol`: the numerical rank's relative singular-value threshold.

    **Returns:** a [`FunctionSpaceReport`][].

    Examples:
        >>> rep = function_space_dim(lcn_model((2, 2)))
        >>> rep.dim, rep.exact_ranks, rep.numerical.rank, rep.expected_dim, rep.defect
        (3, (3, 3), 3, 3, 0)
        >>> rep = function_space_dim(polynomial_network_model((3, 5, 1), 4))  # Alexander–Hirschowitz
        >>> rep.dim, rep.expected_dim, rep.defect
        (14, 15, 1)
    """
    import jax.numpy as jnp

    if not primes:
        raise GeomflowError("function_space_dim needs at least one prime for the exact ranks")
    J_int, B = integer_jacobian(model, seed=seed)
    exact = None
    fail = None
    if J_int is not None:
        exact = tuple(rank_mod_p(J_int, p) for p in primes)
        fail = min(1.0, max(exact) * max(model.degree - 1, 0) / (2 * B))
    rng = np.random.default_rng(seed + 1)
    with _float64():
        w = jnp.asarray(rng.standard_normal(model.num_params))
        num = numerical_rank(np.asarray(_jacobian_fn(model.mu)(w)), rtol)
    dim = max(exact) if exact else num.rank
    agree = exact is None or all(e == num.rank for e in exact)
    return FunctionSpaceReport(
        name=model.name, num_params=model.num_params, ambient_dim=model.output_dim,
        expected_dim=model.expected_dim, exact_ranks=exact, primes=tuple(primes), entry_bound=B,
        failure_probability_bound=fail, numerical=num, dim=dim, agree=agree,
        defect=None if model.expected_dim is None else model.expected_dim - dim,
    )


def expected_polynomial_network_dim(widths, power: int) -> int:
    """`min(d_h·C(r^{h−1}+d_0−1, d_0−1), d_h + Σ_{i=1}^{h}(d_{i−1} − 1)·d_i)`.

    Examples:
        >>> expected_polynomial_network_dim((3, 5, 1), 4)
        15
    """
    d = tuple(widths)
    h = len(d) - 1
    amb = d[-1] * math.comb(power ** (h - 1) + d[0] - 1, d[0] - 1)
    return min(amb, d[-1] + sum((d[i - 1] - 1) * d[i] for i in range(1, h + 1)))
