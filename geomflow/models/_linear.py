"""Linear networks `μ(w) = W_h ⋯ W_1` as a model, with the closed forms that make them fast.

The gradient is the closed form `∇_{W_i} L = W_{h:i+1}ᵀ G W_{i−1:1}ᵀ`, `G = ∇ℓ(μ(w))`, on
batch-last arrays (no autodiff of `μ`); the conserved quantities are the balance invariants
`δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ`; `L*` is known for the quadratic loss (Eckart–Young) and for
distances on filling architectures (0); the theory excludes bad minima for the quadratic loss
(Baldi–Hornik, Kawaguchi) and for convex losses on filling architectures (Laurent–von Brecht).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from .. import _batchlast as B
from .._networks import Architecture, architecture, initialise
from ._base import Model


def linear_gradient(widths, v, data):
    """`∇L(w)` (flat, batch trailing) of a linear network of the given widths: the closed form
    `∇_{W_i} L = W_{h:i+1}ᵀ G W_{i−1:1}ᵀ`, `G = data.grad(μ(w))` (one implementation, used by every
    integrator; `geomflow._critical.network_gradient` is the same formula on one sample)."""
    arch = architecture(widths)
    w = B.unflatten(arch.weight_shapes, v)
    h = len(w)
    below = [w[0]]  # below[j] = W_{j+1:1}
    for i in range(1, h):
        below.append(B.mm(w[i], below[-1]))
    G = data.grad(below[-1])
    out = [None] * h
    above = G  # W_{h:i+1}ᵀ G
    for i in range(h, 0, -1):
        out[i - 1] = above if i == 1 else B.mm(above, B.tr(below[i - 2]))
        if i > 1:
            above = B.mm(B.tr(w[i - 1]), above)
    return B.flatten(out)


def balance_deltas(widths, v):
    """The balance invariants `δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ` of flat `v (d_w, *b)`, batch
    trailing (`geomflow.balance_invariants` is the one-sample form)."""
    from .._invariants import balance_invariants

    return list(balance_invariants(B.unflatten(architecture(widths).weight_shapes, v)))


@dataclasses.dataclass(frozen=True)
class LinearNetwork(Model):
    """The linear network of widths `(d_0, …, d_h)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> m = LinearNetwork((3, 2, 2, 3))
        >>> m.num_params, m.out_shape, m.image_dim
        (16, (3, 3), 8)
        >>> v = jnp.arange(16.0)
        >>> [c.shape for c in m.conserved(v)]
        [(2, 2), (2, 2)]
    """

    widths: tuple

    name = "linear"

    def __post_init__(self):
        object.__setattr__(self, "widths", architecture(self.widths).widths)

    @property
    def arch(self) -> Architecture:
        return architecture(self.widths)

    @property
    def param_shapes(self):
        return self.arch.weight_shapes

    @property
    def out_shape(self):
        return (self.widths[-1], self.widths[0])

    @property
    def image_dim(self) -> int:
        return self.arch.neuromanifold_dim

    @property
    def fibre_len(self) -> int:
        return self.arch.b

    conserved_description = "δ_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ"

    def end_to_end(self, leaves):
        P = leaves[0]
        for W in leaves[1:]:
            P = B.mm(W, P)
        return P

    def loss_value(self, v, loss):
        from .._losses import network_loss
        from .._networks import unflatten_weights

        return network_loss(loss, unflatten_weights(self.arch, v))

    def grad(self, v, data):
        return linear_gradient(self.widths, v, data)

    def conserved(self, v):
        return balance_deltas(self.widths, v)

    def loss_star(self, loss):
        kind = getattr(loss, "kind", None)
        if kind == "quadratic":
            from .._oracles import global_min_value

            return global_min_value(loss.X, loss.Y, self.arch.rank)
        if self.arch.filling and kind in ("perturbed", "hadamard"):
            return jnp.zeros((), loss.Q.dtype)
        return None

    def no_bad_minima(self, loss) -> bool:
        kind = getattr(loss, "kind", None)
        return kind == "quadratic" or (self.arch.filling and bool(getattr(loss, "convex", False)))

    def index_set(self, loss, v, tol):
        if getattr(loss, "kind", None) != "quadratic":
            return super().index_set(loss, v, tol)
        from .._networks import product, unflatten_weights
        from .._oracles import critical_index_set

        return critical_index_set(loss.X, loss.Y, product(unflatten_weights(self.arch, v)), tol=tol)

    def fibre(self, v):
        from .._fibres import fibre_label
        from .._networks import unflatten_weights

        w = unflatten_weights(self.arch, v)
        return jnp.asarray(fibre_label(w), jnp.int8).reshape((self.arch.b,))

    def global_by_value(self, loss, v, *, loss_star, tolerances):
        from .._critical import global_by_value
        from .._networks import unflatten_weights

        return global_by_value(loss, unflatten_weights(self.arch, v), loss_star=loss_star,
                               tolerances=tolerances).is_global

    def classify(self, loss, v, *, loss_star, no_bad_minima, tolerances):
        from .._critical import classify_critical_point
        from .._networks import unflatten_weights

        return classify_critical_point(loss, unflatten_weights(self.arch, v), loss_star=loss_star,
                                       no_bad_minima=no_bad_minima, tolerances=tolerances)

    def sample_init(self, init, key, scale, dtype):
        return initialise(init, key, self.arch, scale, dtype)

    def spec_string(self) -> str:
        return "linear:" + ",".join(map(str, self.widths))

    def to_dict(self) -> dict:
        return {"model": "linear", "widths": list(self.widths)}
