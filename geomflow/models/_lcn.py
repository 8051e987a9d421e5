"""1-D linear convolutional networks with stride 1: the end-to-end filter is the product of the
layers' filters as polynomials.

Layer `i` has a filter `w_i ∈ R^{k_i}`; composing stride-1 convolutions convolves the filters, so
`μ(w) = w_h * ⋯ * w_1 ∈ R^{k}`, `k = Σ k_i − h + 1`: the coefficients of the product of the
polynomials `π_i(x) = Σ_j (w_i)_j x^j`. The end-to-end filter is a `(1, k)` matrix for the losses
of `geomflow._losses` (e.g. `‖A·(u − q)‖²`, or a regression `‖uX − Y‖²` with `X` the patches).

`μ` is invariant under `w_i → c·w_i, w_{i+1} → w_{i+1}/c`, so gradient flow conserves
`‖w_{i+1}‖² − ‖w_i‖²` (`i = 1, …, h−1`), the analogue of the balance invariants. The image of `μ`
is full-dimensional (`k`; a polynomial of degree `k−1` with a real factorisation of the given
degrees), so a critical point with `rank dμ = k` and `h − 1` zero Hessian eigenvalues (the
rescaling orbit) is Morse–Bott.

??? cite "References"
    Kohn, Merkh, Montúfar, Trager, *Geometry of linear convolutional networks*, SIAM J. Appl.
    Algebra Geometry 2022.
"""

from __future__ import annotations

import dataclasses

from .. import _batchlast as B
from .._errors import GeomflowError
from ._base import Model


def polynomial_product(a, b):
    """The full convolution `a * b` of filters `a (k_a, *batch)`, `b (k_b, *batch)`: the
    coefficients of the product polynomial, `(k_a + k_b − 1, *batch)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> polynomial_product(jnp.array([1.0, 1.0]), jnp.array([1.0, -1.0])).tolist()  # (1+x)(1−x)
        [1.0, 0.0, -1.0]
    """
    import jax.numpy as jnp

    ka, kb = a.shape[0], b.shape[0]
    out = [None] * (ka + kb - 1)
    for i in range(ka):
        for j in range(kb):
            t = a[i] * b[j]
            out[i + j] = t if out[i + j] is None else out[i + j] + t
    return jnp.stack(out)


def end_to_end_filter(filters):
    """`μ(w) = w_h * ⋯ * w_1` for `filters = (w_1, …, w_h)` (batch-last or one sample)."""
    u = filters[0]
    for w in filters[1:]:
        u = polynomial_product(w, u)
    return u


@dataclasses.dataclass(frozen=True)
class LinearConvNetwork(Model):
    """The 1-D stride-1 linear convolutional network with filter sizes `(k_1, …, k_h)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> m = LinearConvNetwork((3, 2, 2))
        >>> m.num_params, m.out_shape, m.image_dim
        (7, (1, 5), 5)
        >>> [float(c) for c in m.conserved(jnp.arange(7.0))]   # ‖w_2‖² − ‖w_1‖², ‖w_3‖² − ‖w_2‖²
        [20.0, 36.0]
    """

    filter_sizes: tuple

    name = "lcn"

    def __post_init__(self):
        ks = tuple(self.filter_sizes)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
            raise GeomflowError(f"filter sizes must be positive integers, got {ks!r}")
        object.__setattr__(self, "filter_sizes", ks)

    @property
    def param_shapes(self):
        return tuple((k,) for k in self.filter_sizes)

    @property
    def out_shape(self):
        return (1, sum(self.filter_sizes) - len(self.filter_sizes) + 1)

    def end_to_end(self, leaves):
        u = end_to_end_filter(leaves)
        return u[None]  # (1, k, *batch)

    def conserved(self, v):
        w = self.unflatten(v)
        sq = [B.lsum(x * x) for x in w]
        return [sq[i + 1] - sq[i] for i in range(len(w) - 1)]

    def spec_string(self) -> str:
        return "lcn:" + ",".join(map(str, self.filter_sizes))

    def to_dict(self) -> dict:
        return {"model": "lcn", "filter_sizes": list(self.filter_sizes)}
