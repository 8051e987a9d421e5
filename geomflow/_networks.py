"""Linear networks: architectures, the product map μ, and initialisation samplers.

Conventions (used throughout geomflow): an architecture is a tuple of widths
`d = (d_0, d_1, …, d_h)`; the weights are a **tuple ordered from input to output**,
`weights = (W_1, …, W_h)` with `W_i ∈ R^{d_i × d_{i−1}}`, and the product map is
`μ(w) = W_h ⋯ W_1 ∈ R^{d_h × d_0}`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import GeomflowError

Weights = tuple  # tuple[Array, ...] ordered (W_1, …, W_h)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The widths `d = (d_0, …, d_h)` of a linear network and the facts that follow from them.

    Construct it with [`architecture`][] (which validates) or directly from a tuple of widths.

    **Attributes:**

    - `widths`: `(d_0, …, d_h)`.
    - `depth`: `h`, the number of weight matrices.
    - `rank`: `r = min(d_0, …, d_h)`, the largest rank of `μ(w)`.
    - `filling`: whether `r = min(d_0, d_h)`, i.e. the neuromanifold is all of `R^{d_h×d_0}`.
    - `num_params`: `d_w = Σ d_i d_{i−1}`.
    - `neuromanifold_dim`: `r(d_0 + d_h − r)`, the dimension of `M_Φ = {rank ≤ r}`.
    - `bottlenecks`: the inner layers `0 < i < h` with `d_i = r`.
    - `b`: their number; `fibre_components = 2**b` is the number of path-connected components
      of a fibre `μ^{-1}(M)` with `rank M = r`.
    - `weight_shapes`: `((d_1, d_0), …, (d_h, d_{h−1}))`.

    ??? cite "References"
        Trager, Kohn, Bruna, *Pure and spurious critical points: a geometric study of linear
        networks*, ICLR 2020.
    """

    widths: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "widths", _validate_widths(self.widths))

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def rank(self) -> int:
        return min(self.widths)

    @property
    def filling(self) -> bool:
        return self.rank == min(self.widths[0], self.widths[-1])

    @property
    def num_params(self) -> int:
        d = self.widths
        return sum(d[i] * d[i - 1] for i in range(1, len(d)))

    @property
    def neuromanifold_dim(self) -> int:
        r, d0, dh = self.rank, self.widths[0], self.widths[-1]
        return r * (d0 + dh - r)

    @property
    def bottlenecks(self) -> tuple[int, ...]:
        r = self.rank
        return tuple(i for i in range(1, self.depth) if self.widths[i] == r)

    @property
    def b(self) -> int:
        return len(self.bottlenecks)

    @property
    def fibre_components(self) -> int:
        return 2**self.b

    @property
    def weight_shapes(self) -> tuple[tuple[int, int], ...]:
        d = self.widths
        return tuple((d[i], d[i - 1]) for i in range(1, len(d)))

    def facts(self) -> dict:
        """The architecture's facts as a JSON-ready dict (what `geomflow info --json` prints)."""
        return {
            "widths": list(self.widths),
            "h": self.depth,
            "r": self.rank,
            "filling": self.filling,
            "d_w": self.num_params,
            "neuromanifold_dim": self.neuromanifold_dim,
            "ambient_dim": self.widths[0] * self.widths[-1],
            "bottlenecks": list(self.bottlenecks),
            "b": self.b,
            "fibre_components": self.fibre_components,
        }


def _validate_widths(widths) -> tuple[int, ...]:
    if isinstance(widths, Architecture):
        return widths.widths
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence | np.ndarray):
        raise GeomflowError(
            f"widths must be a sequence of positive integers like (3, 2, 2, 3), got {widths!r}"
        )
    out = []
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int | np.integer):
            if isinstance(w, float | np.floating) and float(w).is_integer():
                w = int(w)
            else:
                raise GeomflowError(
                    f"widths must be positive integers, got {tuple(widths)!r} "
                    f"({w!r} is not an integer)"
                )
        if w <= 0:
            raise GeomflowError(f"widths must be positive integers, got {tuple(widths)!r}")
        out.append(int(w))
    if len(out) < 2:
        raise GeomflowError(
            f"a network needs at least two widths (d_0, d_1), got {tuple(widths)!r}"
        )
    return tuple(out)


def architecture(widths: Sequence[int] | Architecture) -> Architecture:
    """Validate `widths = (d_0, …, d_h)` and return the [`Architecture`][].

    **Arguments:**

    - `widths`: a sequence of at least two positive integers.

    **Returns:** the `Architecture`, with `rank`, `filling`, `num_params`, … as attributes.

    **Raises:** `GeomflowError` (a `ValueError`) for non-integer or non-positive widths.

    Examples:
        >>> arch = architecture((3, 2, 2, 3))
        >>> arch.rank, arch.filling, arch.num_params, arch.neuromanifold_dim, arch.b
        (2, False, 16, 8, 2)
        >>> architecture((3, 0, 2))
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: widths must be positive integers, got (3, 0, 2)
    """
    if isinstance(widths, Architecture):
        return widths
    return Architecture(widths)  # validated (and made a tuple) in __post_init__


def validate_weights(arch: Architecture, weights: Sequence, *, name: str = "weights") -> Weights:
    """Check that `weights = (W_1, …, W_h)` match the widths and are finite; return a tuple.

    Only call this at the boundary (outside `jit`): it reads the values.

    **Raises:** `GeomflowError` naming the first offending layer.
    """
    arch = architecture(arch)
    if not isinstance(weights, Sequence):
        raise GeomflowError(f"{name} must be a tuple (W_1, …, W_h) of matrices, got {type(weights).__name__}")
    if len(weights) != arch.depth:
        raise GeomflowError(
            f"{name} must have h = {arch.depth} matrices for widths {arch.widths}, got {len(weights)}"
        )
    out = []
    for i, (W, shape) in enumerate(zip(weights, arch.weight_shapes), start=1):
        W = jnp.asarray(W)
        if W.shape != shape:
            raise GeomflowError(
                f"{name}: W_{i} must have shape (d_{i}, d_{i-1}) = {shape} for widths "
                f"{arch.widths}, got {W.shape}"
            )
        if not bool(jnp.all(jnp.isfinite(W))):
            raise GeomflowError(f"{name}: W_{i} contains NaN or inf")
        out.append(W)
    return tuple(out)


def product(weights: Sequence) -> jax.Array:
    """The product map `μ(w) = W_h ⋯ W_1` of `weights = (W_1, …, W_h)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> product((jnp.ones((2, 3)), 2 * jnp.ones((1, 2)))).tolist()
        [[4.0, 4.0, 4.0]]
    """
    P = weights[0]
    for W in weights[1:]:
        P = W @ P
    return P


def partial_product(weights: Sequence, j: int, i: int) -> jax.Array:
    """`W_{j:i} = W_j ⋯ W_i` (1-based, inclusive); the identity of size `d_{i−1}` when `j < i`."""
    if j < i:
        n = weights[i - 1].shape[1] if i - 1 < len(weights) else weights[-1].shape[0]
        return jnp.eye(n, dtype=weights[0].dtype)
    return product(weights[i - 1 : j])


def flatten_weights(weights: Sequence) -> jax.Array:
    """Concatenate `vec(W_1), …, vec(W_h)` (row-major) into one vector of length `d_w`."""
    return jnp.concatenate([jnp.ravel(W) for W in weights])


def unflatten_weights(arch: Architecture, vector: jax.Array) -> Weights:
    """Inverse of [`flatten_weights`][] for the given architecture."""
    arch = architecture(arch)
    out, k = [], 0
    for m, n in arch.weight_shapes:
        out.append(jnp.reshape(vector[k : k + m * n], (m, n)))
        k += m * n
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Initialisation samplers: pure functions of a key; one sample per call (vmap outside).


def init_gaussian(key: jax.Array, arch: Architecture, scale: float = 1.0, dtype=None) -> Weights:
    """I.i.d. Gaussian weights, `(W_i)_{jk} ~ N(0, scale²)`.

    Examples:
        >>> import jax
        >>> w = init_gaussian(jax.random.key(0), architecture((3, 2, 3)), scale=0.1)
        >>> [W.shape for W in w]
        [(2, 3), (3, 2)]
        >>> init_gaussian(jax.random.key(0), architecture((3, 2)), scale=float("nan"))
        Traceback (most recent call last):
        ...
        geomflow._errors.GeomflowError: scale must be a finite non-negative number, got nan
    """
    _check_scale(scale)
    arch = architecture(arch)
    keys = jax.random.split(key, arch.depth)
    dtype = dtype or jnp.result_type(float)
    return tuple(
        scale * jax.random.normal(k, shape, dtype=dtype) for k, shape in zip(keys, arch.weight_shapes)
    )


def _orthonormal_columns(key, n: int, k: int, dtype) -> jax.Array:
    """A Haar-random `n × k` matrix with orthonormal columns (`k ≤ n`)."""
    G = jax.random.normal(key, (n, k), dtype=dtype)
    Qm, R = jnp.linalg.qr(G)
    return Qm * jnp.sign(jnp.diagonal(R))[None, :]


def init_orthogonal(key: jax.Array, arch: Architecture, scale: float = 1.0, dtype=None) -> Weights:
    """Each `W_i` is `scale` times a Haar-random (semi-)orthogonal matrix.

    Rows are orthonormal when `d_i ≤ d_{i−1}`, columns otherwise, so every singular value of
    `W_i` equals `scale`.
    """
    _check_scale(scale)
    arch = architecture(arch)
    keys = jax.random.split(key, arch.depth)
    dtype = dtype or jnp.result_type(float)
    out = []
    for k, (m, n) in zip(keys, arch.weight_shapes):
        if m >= n:
            out.append(scale * _orthonormal_columns(k, m, n, dtype))
        else:
            out.append(scale * _orthonormal_columns(k, n, m, dtype).T)
    return tuple(out)


def init_balanced(key: jax.Array, arch: Architecture, scale: float = 1.0, dtype=None) -> Weights:
    """Balanced weights (`δ(w) = 0`): `W_i = U_i Σ^{1/h} U_{i−1}ᵀ`.

    `U_0, …, U_h` are Haar-random orthonormal frames `d_i × r` (`r = min(widths)`) and `Σ` holds
    the top `r` singular values of `scale · G`, `G` a standard Gaussian `d_h × d_0` matrix, so
    `W_{i+1}ᵀ W_{i+1} = U_i Σ^{2/h} U_iᵀ = W_i W_iᵀ` exactly and `‖μ(w)‖ ≈ scale · ‖G‖`.
    """
    _check_scale(scale)
    arch = architecture(arch)
    dtype = dtype or jnp.result_type(float)
    r, h, d = arch.rank, arch.depth, arch.widths
    keys = jax.random.split(key, h + 2)
    G = scale * jax.random.normal(keys[0], (d[-1], d[0]), dtype=dtype)
    s = jnp.linalg.svd(G, compute_uv=False)[:r]
    root = s ** (1.0 / h)
    frames = [_orthonormal_columns(keys[i + 1], d[i], r, dtype) for i in range(h + 1)]
    return tuple((frames[i] * root[None, :]) @ frames[i - 1].T for i in range(1, h + 1))


def _check_scale(scale) -> None:
    """A concrete `scale` must be finite and non-negative (a traced one is the caller's)."""
    if isinstance(scale, bool) or (isinstance(scale, int | float | np.number) and
                                   not (np.isfinite(scale) and scale >= 0)):
        raise GeomflowError(f"scale must be a finite non-negative number, got {scale!r}")


INITIALISATIONS = {"gaussian": init_gaussian, "balanced": init_balanced, "orthogonal": init_orthogonal}


def initialise(name: str, key: jax.Array, arch: Architecture, scale: float = 1.0, dtype=None) -> Weights:
    """Dispatch to an initialisation by name: one of `gaussian`, `balanced`, `orthogonal`."""
    if name not in INITIALISATIONS:
        raise GeomflowError(
            f"unknown initialisation {name!r}; accepted: {', '.join(sorted(INITIALISATIONS))}"
        )
    return INITIALISATIONS[name](key, arch, scale, dtype)


