"""Losses of the end-to-end matrix `ℓ(M)`, and the network loss `L = ℓ ∘ μ`.

Every loss is a pytree (a `NamedTuple` of arrays, or [`CustomLoss`][] with a static function), so
it can be passed through `jit`/`vmap` as data: one jitted kernel serves every instance. Each has

- `loss(M)`: the value `ℓ(M)` (no ½ anywhere, as in MATH.md);
- `loss.grad(M)`: `∇ℓ(M)`;
- `loss.hess_form(M, D)`: the second derivative `D²ℓ(M)[D, D]`;
- `loss.convex`: whether `ℓ` is convex (all built-in losses are).

`vec` is row-major (`jnp.ravel`) throughout geomflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _batchlast as B
from ._errors import GeomflowError
from ._networks import Architecture, architecture, product


class QuadraticLoss(NamedTuple):
    """`ℓ_{X,Y}(M) = ‖MX − Y‖_F²` with data `X ∈ R^{d_0×s}`, targets `Y ∈ R^{d_h×s}`.

    Examples:
        >>> import jax.numpy as jnp
        >>> loss = QuadraticLoss(jnp.eye(2), jnp.ones((1, 2)))
        >>> float(loss(jnp.zeros((1, 2))))
        2.0
    """

    X: jax.Array
    Y: jax.Array

    convex = True
    kind = "quadratic"

    def __call__(self, M):
        R = M @ self.X - self.Y
        return jnp.sum(R * R)

    def grad(self, M):
        return 2.0 * (M @ self.X - self.Y) @ self.X.T

    def hess_form(self, M, D):
        DX = D @ self.X
        return 2.0 * jnp.sum(DX * DX)

    def batch_last(self):
        """The data of `∇ℓ` on batch-last arrays: `(XXᵀ, YXᵀ)`, so `∇ℓ(P) = 2(P·XXᵀ − YXᵀ)`
        costs no pass over the data."""
        Xt = B.tr(self.X)
        return QuadraticData(B.mm(self.X, Xt), B.mm(self.Y, Xt))


class PerturbedDistance(NamedTuple):
    """`ℓ_{A,Q}(M) = ‖A · vec(M − Q)‖²`, a distance to `Q` after a linear change of coordinates.

    `A ∈ R^{k × mn}` (generic `A` gives the generic ED degree), `Q ∈ R^{m×n}`, `vec` row-major.
    """

    A: jax.Array
    Q: jax.Array

    convex = True
    kind = "perturbed"

    def __call__(self, M):
        v = self.A @ jnp.ravel(M - self.Q)
        return jnp.sum(v * v)

    def grad(self, M):
        return jnp.reshape(2.0 * self.A.T @ (self.A @ jnp.ravel(M - self.Q)), M.shape)

    def hess_form(self, M, D):
        v = self.A @ jnp.ravel(D)
        return 2.0 * jnp.sum(v * v)

    def batch_last(self):
        """`(AᵀA, AᵀA·vec Q)`: `∇ℓ(P) = 2(AᵀA·vec P − AᵀA·vec Q)` on batch-last arrays."""
        K = B.mm(B.tr(self.A), self.A)
        return PerturbedData(K, B.mv(K, jnp.reshape(self.Q, (-1,) + self.Q.shape[2:])))


class HadamardDistance(NamedTuple):
    """`ℓ_{Λ,Q}(M) = Σ_ij λ_ij (M_ij − Q_ij)²`, weights `Λ` with non-negative entries."""

    weights: jax.Array
    Q: jax.Array

    convex = True
    kind = "hadamard"

    def __call__(self, M):
        return jnp.sum(self.weights * (M - self.Q) ** 2)

    def grad(self, M):
        return 2.0 * self.weights * (M - self.Q)

    def hess_form(self, M, D):
        return 2.0 * jnp.sum(self.weights * D * D)

    def batch_last(self):
        """`(Λ, Q)`: `∇ℓ(P) = 2Λ ⊙ (P − Q)`, elementwise, batch-last as it is."""
        return HadamardData(self.weights, self.Q)


@jax.tree_util.register_pytree_node_class
class CustomLoss:
    """Any smooth loss `ℓ(M) = fn(M, params)` of the end-to-end matrix, given as a JAX function.

    `fn` is static (part of the tree structure, so a new `fn` recompiles, new `params` do not);
    `params` is any pytree of arrays. `convex` is your claim about `ℓ`; it is used only to decide
    whether the theory "no bad minima" applies (filling architectures, Laurent–von Brecht).

    Examples:
        >>> import jax.numpy as jnp
        >>> loss = CustomLoss(lambda M, p: jnp.sum(jnp.abs(M - p) ** 3), jnp.zeros((2, 2)))
        >>> float(loss(jnp.ones((2, 2))))
        4.0
    """

    kind = "custom"

    def __init__(self, fn: Callable[[jax.Array, Any], jax.Array], params: Any = None, convex: bool = False):
        self.fn, self.params, self.convex = fn, params, bool(convex)

    def __call__(self, M):
        return self.fn(M, self.params)

    def grad(self, M):
        return jax.grad(self.fn)(M, self.params)

    def hess_form(self, M, D):
        return jax.jvp(lambda Z: jnp.vdot(self.grad(Z), D), (M,), (D,))[1]

    def batch_last(self):
        """The loss itself; `∇ℓ` by `jax.grad`, vmapped over the trailing (batch) axes."""
        return CustomData(self)

    def tree_flatten(self):
        return (self.params,), (self.fn, self.convex)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux[0], children[0], aux[1])


# ---------------------------------------------------------------------------------------------
# The gradient of each loss on batch-last arrays (`P (d_h, d_0, *b)`), from per-sample data
# computed once per round by `loss.batch_last()`.


class QuadraticData(NamedTuple):
    S: jax.Array  # XXᵀ
    C: jax.Array  # YXᵀ

    def grad(self, P):
        return 2.0 * (B.mm(P, self.S) - self.C)


class PerturbedData(NamedTuple):
    K: jax.Array  # AᵀA
    b: jax.Array  # AᵀA·vec Q

    def grad(self, P):
        g = B.mv(self.K, jnp.reshape(P, (-1,) + P.shape[2:])) - self.b
        return 2.0 * jnp.reshape(g, P.shape)


class HadamardData(NamedTuple):
    weights: jax.Array
    Q: jax.Array

    def grad(self, P):
        return 2.0 * self.weights * (P - self.Q)


class CustomData(NamedTuple):
    loss: Any

    def grad(self, P):
        fn = lambda M, lo: lo.grad(M)  # noqa: E731
        for _ in range(P.ndim - 2):
            fn = jax.vmap(fn, in_axes=(-1, -1), out_axes=-1)
        return fn(P, self.loss)


Loss = QuadraticLoss | PerturbedDistance | HadamardDistance | CustomLoss


def network_loss(loss: Loss, weights) -> jax.Array:
    """`L(w) = ℓ(μ(w))` for `weights = (W_1, …, W_h)`."""
    return loss(product(weights))


# ---------------------------------------------------------------------------------------------
# Boundary validation (outside jit: these read values).


def _finite(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise GeomflowError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise GeomflowError(f"{name} contains {bad} NaN/inf entries; data must be finite")
    return a


def validate_data(arch: Architecture | tuple, X, Y) -> tuple[jax.Array, jax.Array]:
    """Check that `X ∈ R^{d_0×s}`, `Y ∈ R^{d_h×s}` match the widths and are finite.

    **Raises:** `GeomflowError` saying which array is wrong and what shape is accepted.

    Examples:
        >>> import numpy as np
        >>> validate_data((3, 2), np.ones((2, 5)), np.ones((2, 5)))
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: X must have shape (d_0, s) = (3, s) for widths (3, 2), got (2, 5)
    """
    arch = architecture(arch)
    d0, dh = arch.widths[0], arch.widths[-1]
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or X.shape[0] != d0:
        raise GeomflowError(f"X must have shape (d_0, s) = ({d0}, s) for widths {arch.widths}, got {X.shape}")
    if Y.ndim != 2 or Y.shape[0] != dh:
        raise GeomflowError(f"Y must have shape (d_h, s) = ({dh}, s) for widths {arch.widths}, got {Y.shape}")
    if X.shape[1] != Y.shape[1]:
        raise GeomflowError(f"X and Y must have the same number of samples s, got {X.shape[1]} and {Y.shape[1]}")
    return jnp.asarray(_finite("X", X)), jnp.asarray(_finite("Y", Y))


def quadratic_loss(arch, X, Y) -> QuadraticLoss:
    """A validated [`QuadraticLoss`][] for the architecture `arch`."""
    X, Y = validate_data(arch, X, Y)
    return QuadraticLoss(X, Y)


def perturbed_distance(arch, A, Q) -> PerturbedDistance:
    """A validated [`PerturbedDistance`][]: `Q` of shape `(d_h, d_0)`, `A` with `d_h d_0` columns."""
    arch = architecture(arch)
    shape = (arch.widths[-1], arch.widths[0])
    Q, A = _finite("Q", Q), _finite("A", A)
    if Q.shape != shape:
        raise GeomflowError(f"Q must have shape (d_h, d_0) = {shape}, got {Q.shape}")
    if A.ndim != 2 or A.shape[1] != shape[0] * shape[1]:
        raise GeomflowError(f"A must have shape (k, d_h·d_0) = (k, {shape[0] * shape[1]}), got {A.shape}")
    return PerturbedDistance(jnp.asarray(A), jnp.asarray(Q))


def hadamard_distance(arch, weights, Q) -> HadamardDistance:
    """A validated [`HadamardDistance`][]: `Λ` and `Q` of shape `(d_h, d_0)`, `Λ ≥ 0`."""
    arch = architecture(arch)
    shape = (arch.widths[-1], arch.widths[0])
    Q, lam = _finite("Q", Q), _finite("Hadamard weights", weights)
    if Q.shape != shape or lam.shape != shape:
        raise GeomflowError(f"Q and the Hadamard weights must have shape {shape}, got {Q.shape} and {lam.shape}")
    if np.any(lam < 0):
        raise GeomflowError("Hadamard weights must be non-negative")
    return HadamardDistance(jnp.asarray(lam), jnp.asarray(Q))
