"""Polynomial networks: widths `(d_0, …, d_h)`, activation `x ↦ x^r` between layers.

`f(x) = W_h σ(W_{h−1} ⋯ σ(W_1 x))`, `σ(t) = t^r` entrywise, `W_i ∈ R^{d_i × d_{i−1}}`. The
end-to-end map is a tuple of `d_h` homogeneous polynomials of degree `r^{h−1}` in `d_0`
variables, represented here by its coefficient vector in the monomial basis ([`monomials`][]:
exponent vectors of the degree, in lexicographic descending order), so `μ(w)` has
`d_h·C(r^{h−1} + d_0 − 1, d_0 − 1)` coordinates. Its image, the neurovariety, has the expected
dimension (MATH.md §6)

    min(d_h·C(r^{h−1} + d_0 − 1, d_0 − 1),  d_h + Σ_{i=1}^{h} (d_{i−1} − 1)·d_i)

(the parameter count less one scaling per hidden neuron: `W_i[j, :] ↦ λ W_i[j, :]`,
`W_{i+1}[:, j] ↦ λ^{−r} W_{i+1}[:, j]`), and can be smaller: with one hidden layer `μ` is a sum of
`d_1` powers of linear forms (Waring), so the Alexander–Hirschowitz exceptions are defective,
e.g. `(3, 5, 1)`, `r = 4`: 14 of 15.

The coefficients are computed by polynomial arithmetic in JAX (linear maps and products written
with `einsum` against constant 0/1 index tensors), batch-last: every weight may carry trailing
batch axes.

??? cite "References"
    Kileel, Trager, Bruna, *On the expressive power of deep polynomial neural networks* (2019);
    Finkel, Rodriguez, Wu, Yahl, *Activation thresholds and expressiveness of polynomial neural
    networks* (2024); Alexander, Hirschowitz, *Polynomial interpolation in several variables*
    (1995).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np

from ._errors import GeomflowError


@dataclasses.dataclass(frozen=True)
class PolynomialNetwork:
    """A polynomial network's widths and activation power.

    **Attributes:**

    - `widths`: `(d_0, …, d_h)`; `power`: `r`.
    - `degree`: `r^{h−1}`; `num_monomials`: `C(degree + d_0 − 1, d_0 − 1)`.
    - `num_params`: `Σ d_i d_{i−1}`; `output_dim`: `d_h · num_monomials`.
    - `expected_dim`: `min(output_dim, d_h + Σ_i (d_{i−1} − 1) d_i)`.
    - `num_hidden_neurons`: `Σ_{i=1}^{h−1} d_i`.
    """

    widths: tuple[int, ...]
    power: int

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def degree(self) -> int:
        return self.power ** (self.depth - 1)

    @property
    def num_monomials(self) -> int:
        return math.comb(self.degree + self.widths[0] - 1, self.widths[0] - 1)

    @property
    def num_params(self) -> int:
        return sum(self.widths[i] * self.widths[i - 1] for i in range(1, len(self.widths)))

    @property
    def param_shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple((self.widths[i], self.widths[i - 1]) for i in range(1, len(self.widths)))

    @property
    def output_dim(self) -> int:
        return self.widths[-1] * self.num_monomials

    @property
    def expected_dim(self) -> int:
        d = self.widths
        return min(self.output_dim, d[-1] + sum((d[i - 1] - 1) * d[i] for i in range(1, len(d))))

    @property
    def num_hidden_neurons(self) -> int:
        return sum(self.widths[1:-1])


def polynomial_network(widths, power: int) -> PolynomialNetwork:
    """Validate a polynomial network's widths and activation power.

    **Raises:** `GeomflowError` unless `widths` has at least two positive integers and `power`
    is a positive integer.

    Examples:
        >>> net = polynomial_network((3, 5, 1), 4)
        >>> net.degree, net.output_dim, net.expected_dim, net.num_hidden_neurons
        (4, 15, 15, 5)
    """
    try:
        w = tuple(widths)
    except TypeError:
        w = ()
    if len(w) < 2 or not all(isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 1 for d in w):
        raise GeomflowError(f"widths must be at least two positive integers d_0,…,d_h, got {widths!r}")
    if not isinstance(power, int | np.integer) or isinstance(power, bool) or power < 1:
        raise GeomflowError(f"the activation power r must be a positive integer, got {power!r}")
    return PolynomialNetwork(tuple(int(d) for d in w), int(power))


@functools.lru_cache(maxsize=128)
def monomials(num_vars: int, degree: int) -> tuple[tuple[int, ...], ...]:
    """The exponent vectors of degree `degree` in `num_vars` variables, lexicographic descending.

    Examples:
        >>> monomials(2, 2)   # x², xy, y²
        ((2, 0), (1, 1), (0, 2))
    """
    out = [
        tuple(c.count(i) for i in range(num_vars))
        for c in itertools.combinations_with_replacement(range(num_vars), degree)
    ]
    return tuple(sorted(out, reverse=True))


@functools.lru_cache(maxsize=128)
def _product_index(num_vars: int, da: int, db: int) -> np.ndarray:
    """`E[α, β, γ] = 1` iff `α + β = γ` (monomials of degrees `da`, `db`, `da + db`)."""
    A, B, C = monomials(num_vars, da), monomials(num_vars, db), monomials(num_vars, da + db)
    pos = {g: k for k, g in enumerate(C)}
    E = np.zeros((len(A), len(B), len(C)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            E[i, j, pos[tuple(x + y for x, y in zip(a, b))]] = 1.0
    return E


def _multiply(a, b, num_vars: int, da: int, db: int):
    """Coefficients of the entrywise products of two tuples of forms, `(monomials, d, *batch)`."""
    import jax.numpy as jnp

    E = jnp.asarray(_product_index(num_vars, da, db), dtype=a.dtype)
    return jnp.einsum("ai...,bi...,abg->gi...", a, b, E)


def _power(a, r: int, num_vars: int, deg: int):
    out, d = a, deg
    for _ in range(r - 1):
        out = _multiply(out, a, num_vars, d, deg)
        d += deg
    return out


def polynomial_network_coefficients(net: PolynomialNetwork, weights):
    """The end-to-end map's coefficients: `(d_h, num_monomials, *batch)`.

    **Arguments:**

    - `net`: a [`PolynomialNetwork`][].
    - `weights`: `(W_1, …, W_h)`, `W_i` of shape `(d_i, d_{i−1}, *batch)`.

    **Returns:** `c` with `f_k(x) = Σ_α c[k, α] x^α` over [`monomials`][]`(d_0, r^{h−1})`.

    Examples:
        >>> import jax.numpy as jnp
        >>> net = polynomial_network((2, 1, 1), 2)           # f(x, y) = (x + 2y)²
        >>> polynomial_network_coefficients(net, (jnp.array([[1., 2.]]), jnp.array([[1.]]))).tolist()
        [[1.0, 4.0, 4.0]]
    """
    import jax.numpy as jnp

    ws = [jnp.asarray(W) for W in weights]
    if len(ws) != net.depth or any(W.shape[:2] != s for W, s in zip(ws, net.param_shapes)):
        raise GeomflowError(
            f"weights must be {net.depth} matrices of shapes {list(net.param_shapes)} (then batch "
            f"axes), got {[tuple(W.shape) for W in ws]}"
        )
    n = net.widths[0]
    # layer 1: linear forms; coefficients (monomials of degree 1 = e_k in descending order, d_1)
    c = jnp.swapaxes(ws[0], 0, 1)  # (d_0, d_1, *batch): x_k has exponent e_k, k-th in the order
    deg = 1
    for W in ws[1:]:
        c = _power(c, net.power, n, deg)
        deg *= net.power
        c = jnp.einsum("ij...,aj...->ai...", W, c)
    return jnp.swapaxes(c, 0, 1)


def polynomial_network_forward(weights, x, power: int):
    """The network evaluated at inputs `x` of shape `(d_0, …)`: `W_h σ(⋯ σ(W_1 x))`."""
    import jax.numpy as jnp

    z = jnp.asarray(x)
    for i, W in enumerate(weights):
        z = jnp.tensordot(jnp.asarray(W), z, axes=1)
        if i < len(weights) - 1:
            z = z**power
    return z


def unflatten_weights(net: PolynomialNetwork, v):
    """`(W_1, …, W_h)` from a flat vector `(num_params, *batch)` (row-major, layer 1 first)."""
    out, k = [], 0
    for m, n in net.param_shapes:
        out.append(v[k : k + m * n].reshape((m, n) + v.shape[1:]))
        k += m * n
    return tuple(out)


def polynomial_network_parametrisation(net: PolynomialNetwork):
    """`μ` on flat weights, batch-last: `(num_params, *batch)` to `(output_dim, *batch)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> mu = polynomial_network_parametrisation(polynomial_network((2, 1, 1), 2))
        >>> mu(jnp.array([1., 2., 1.])).tolist()
        [1.0, 4.0, 4.0]
    """

    def mu(v):
        c = polynomial_network_coefficients(net, unflatten_weights(net, v))
        return c.reshape((-1,) + c.shape[2:])

    return mu


def polynomial_network_conserved_quantities(net: PolynomialNetwork, v):
    """The known conserved quantities, one per hidden neuron `j` of layer `i`:
    `‖W_i[j, :]‖² − r·‖W_{i+1}[:, j]‖²` (incoming minus `r` times outgoing), batch-last.

    Examples:
        >>> import jax.numpy as jnp
        >>> net = polynomial_network((2, 1, 1), 2)
        >>> polynomial_network_conserved_quantities(net, jnp.array([1., 2., 3.])).tolist()  # 5 − 2·9
        [-13.0]
    """
    import jax.numpy as jnp

    ws = unflatten_weights(net, v)
    out = []
    for i in range(net.depth - 1):
        out.append(jnp.sum(ws[i] ** 2, axis=1) - net.power * jnp.sum(ws[i + 1] ** 2, axis=0))
    if not out:
        return jnp.zeros((0,) + v.shape[1:])
    return jnp.concatenate(out, axis=0)
