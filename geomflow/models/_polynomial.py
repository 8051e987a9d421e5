"""Polynomial-activation networks as a model: widths `(d_0, …, d_h)`, activation `x ↦ x^r`.

`f(x) = W_h σ(W_{h−1} ⋯ σ(W_1 x))`, `σ(t) = t^r` entrywise. The end-to-end object `μ(w)` is the
coefficient matrix `(d_h, M)` of the `d_h` output forms of degree `r^{h−1}` in the monomial basis
`ν(x) = (x^α)_α` of [`geomflow.monomials`][] (`M = C(r^{h−1} + d_0 − 1, d_0 − 1)`), computed by
the one implementation [`geomflow.polynomial_network_coefficients`][] (batch-last), so
`f(x) = μ(w)·ν(x)`. The squared error on data `x_1, …, x_s`, `Σ_i ‖f(x_i) − y_i‖²`, is therefore
the quadratic loss `‖μ(w)X − Y‖²` with `X = ν(x_1..x_s)` (see [`data_features`][]; the sweeps
sample Gaussian inputs `x ∈ R^{d_0}` and map them through it); the perturbed loss
`‖A·vec(μ(w) − Q)‖²` is a distance to a target.

Conserved along gradient flow of every loss of `μ` (MATH.md §6): for each hidden neuron, the
scaling `W_i[j, :] ↦ λ W_i[j, :]`, `W_{i+1}[:, j] ↦ λ^{−r} W_{i+1}[:, j]` leaves `μ` unchanged,
its generator `Aw` (`A = +1` on the incoming weights, `−r` on the outgoing) is orthogonal to
`∇L`, so `d/dt (wᵀAw) = −2⟨Aw, ∇L⟩ = 0`: the law is `‖w_in‖² − r·‖w_out‖²`.
The generic rank of `dμ` (`image_dim`, for the classifier's Morse–Bott test) is computed once per
architecture exactly ([`geomflow.function_space_dim`][]): it is below the expected dimension on
defective architectures (e.g. `(3, 5, 1)`, `r = 4`: 14 of 15).

??? cite "References"
    Kileel, Trager, Bruna, *On the expressive power of deep polynomial neural networks* (NeurIPS
    2019); Finkel, Rodriguez, Wu, Yahl, *Activation thresholds and expressiveness of polynomial
    neural networks* (2024).
"""

from __future__ import annotations

import dataclasses

from .._errors import GeomflowError
from .._polynomial_networks import (
    PolynomialNetwork,
    monomials,
    polynomial_network,
    polynomial_network_coefficients,
    polynomial_network_conserved_quantities,
)
from ._base import Model
from ._lcn import _generic_rank

POLY_SYNTAX = "poly:<d_0>,…,<d_h>/r=<power> (e.g. poly:3,2,1/r=2)"


@dataclasses.dataclass(frozen=True)
class PolynomialActivationNetwork(Model):
    """The network `x ↦ W_h σ(⋯ σ(W_1 x))`, `σ(t) = t^r`, of widths `(d_0, …, d_h)`.

    **Arguments:** `widths` (at least two positive integers), `power` `r ≥ 1`.

    **Raises:** `GeomflowError` for bad widths or power.

    Examples:
        >>> import jax.numpy as jnp
        >>> m = PolynomialActivationNetwork((2, 1, 1), 2)     # f(x, y) = c·(a x + b y)²
        >>> m.num_params, m.out_shape, m.image_dim, m.spec_string()
        (3, (1, 3), 2, 'poly:2,1,1/r=2')
        >>> m.end_to_end((jnp.array([[1., 2.]]), jnp.array([[1.]]))).tolist()   # x² + 4xy + 4y²
        [[1.0, 4.0, 4.0]]
        >>> [float(c) for c in m.conserved(jnp.array([1., 2., 3.]))]   # (1 + 4) − 2·9
        [-13.0]
    """

    widths: tuple
    power: int = 2

    name = "poly"

    def __post_init__(self):
        net = polynomial_network(self.widths, self.power)
        object.__setattr__(self, "widths", net.widths)
        object.__setattr__(self, "power", net.power)

    @property
    def net(self) -> PolynomialNetwork:
        return PolynomialNetwork(self.widths, self.power)

    @property
    def param_shapes(self):
        return self.net.param_shapes

    @property
    def out_shape(self):
        return (self.widths[-1], self.net.num_monomials)

    @property
    def image_dim(self) -> int:
        return _generic_rank("poly", self.widths, self.power)

    conserved_description = "‖w_in‖² − r·‖w_out‖² per hidden neuron"

    @property
    def data_dim(self) -> int:
        """`d_0`: the dimension of an input `x` (what [`data_features`][] maps)."""
        return self.widths[0]

    def data_features(self, X):
        """The monomials `ν(x) = (x^α)_α` of inputs `X (d_0, s, *b)`: `(M, s, *b)`, so that the
        squared error `Σ_i ‖f(x_i) − y_i‖²` is `‖μ(w)·ν(X) − Y‖²`.

        Examples:
            >>> import jax.numpy as jnp
            >>> PolynomialActivationNetwork((2, 1, 1), 2).data_features(jnp.array([[2.], [3.]])).tolist()
            [[4.0], [6.0], [9.0]]
        """
        import jax.numpy as jnp

        out = []
        for alpha in monomials(self.widths[0], self.net.degree):
            t = jnp.ones_like(X[0])
            for i, e in enumerate(alpha):
                for _ in range(e):
                    t = t * X[i]
            out.append(t)
        return jnp.stack(out)

    def end_to_end(self, leaves):
        return polynomial_network_coefficients(self.net, tuple(leaves))

    def conserved(self, v):
        c = polynomial_network_conserved_quantities(self.net, v)
        return [c[i] for i in range(c.shape[0])]

    def symmetry_generators(self, v):
        """Per hidden neuron `j` of layer `i`, the scaling `W_i[j, :] → λW_i[j, :]`,
        `W_{i+1}[:, j] → λ^{−r}W_{i+1}[:, j]` at `v`: `W_i[j, :]` and `−r·W_{i+1}[:, j]`."""
        import jax.numpy as jnp

        shapes = self.net.param_shapes
        starts = [0]
        for m, n in shapes:
            starts.append(starts[-1] + m * n)
        out = []
        for i in range(len(shapes) - 1):
            m, n = shapes[i]
            m2, _ = shapes[i + 1]
            for j in range(m):
                g = jnp.zeros_like(v)
                rows = starts[i] + j * n + jnp.arange(n)            # W_i[j, :]
                cols = starts[i + 1] + jnp.arange(m2) * m + j       # W_{i+1}[:, j]
                out.append(g.at[rows].set(v[rows]).at[cols].set(-self.power * v[cols]))
        return out

    def spec_string(self) -> str:
        return "poly:" + ",".join(map(str, self.widths)) + f"/r={self.power}"

    def to_dict(self) -> dict:
        return {"model": "poly", "widths": list(self.widths), "power": self.power}

    @classmethod
    def from_string(cls, body: str) -> PolynomialActivationNetwork:
        """`"3,2,1/r=2"` (the part after `poly:`) → the model; `GeomflowError` naming the syntax."""
        sizes, _, opts = body.partition("/")
        key, _, val = opts.partition("=")
        try:
            widths = tuple(int(t) for t in sizes.split(","))
            if key.strip() != "r":
                raise ValueError
            power = int(val)
        except ValueError:
            raise GeomflowError(f"model must be {POLY_SYNTAX}, got 'poly:{body}'") from None
        return cls(widths, power)

