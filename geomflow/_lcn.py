"""Linear convolutional networks (LCNs), 1-D and 2-D, any filter sizes and strides.

A layer with filter `w ∈ R^k` and stride `s` computes `y_i = Σ_j w_j x_{s·i+j}` (valid positions
only); in 2-D the same along both axes, `y_{i,i'} = Σ_{j,j'} w_{j,j'} x_{s·i+j, s'·i'+j'}`.
Identifying a filter with the polynomial `w(x) = Σ_j w_j x^j`, the network's end-to-end filter is
(MATH.md §6)

    w(x) = w_1(x) · w_2(x^{s_1}) · w_3(x^{s_1 s_2}) ⋯ w_L(x^{s_1⋯s_{L−1}}),

of size `k_1 + Σ_{l≥2} (k_l − 1)·s_1⋯s_{l−1}` and stride `s_1⋯s_L` (per axis in 2-D, with
bivariate polynomials). For stride 1 it is plain polynomial multiplication, and the function space
is full-dimensional: `Σ k_i − (L − 1)` (the layers' scalings `λ_l`, `Πλ_l = 1`, act on each fibre).

Every function here is pure JAX, written with broadcasts and `einsum` over constant 0/1 index
tensors, so a filter may carry any trailing batch axes (`(k, *batch)` in 1-D, `(k, k', *batch)`
in 2-D): the same code serves one network and a batch-last block of them.

??? cite "References"
    Kohn, Merkh, Montúfar, Trager, *Geometry of linear convolutional networks* (2022);
    Kohn, Montúfar, Shahverdi, Trager, *Function space and critical points of linear
    convolutional networks* (2024).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from ._batchlast import lsum
from ._errors import GeomflowError


@dataclasses.dataclass(frozen=True)
class LCNArchitecture:
    """A linear convolutional network: filter shapes and strides per layer.

    **Attributes:**

    - `filter_shapes`: `((k_1,), …)` in 1-D or `((k_1, k'_1), …)` in 2-D.
    - `strides`: `((s_1,), …)` or `((s_1, s'_1), …)`, one per layer.
    - `ndim`: 1 or 2.
    - `num_params`: `Σ_l Π filter_shapes[l]`.
    - `end_to_end_shape`: per axis `k_1 + Σ_{l≥2}(k_l − 1)·s_1⋯s_{l−1}`.
    - `end_to_end_stride`: per axis `s_1⋯s_L`.
    - `expected_dim`: `min(Π end_to_end_shape, num_params − (L − 1))`: the parameter count less
      the `L − 1` scalings, capped by the ambient dimension (for stride 1 it is the dimension).
    """

    filter_shapes: tuple[tuple[int, ...], ...]
    strides: tuple[tuple[int, ...], ...]

    @property
    def ndim(self) -> int:
        return len(self.filter_shapes[0])

    @property
    def depth(self) -> int:
        return len(self.filter_shapes)

    @property
    def num_params(self) -> int:
        return sum(math.prod(k) for k in self.filter_shapes)

    @property
    def end_to_end_shape(self) -> tuple[int, ...]:
        out = []
        for a in range(self.ndim):
            size, scale = self.filter_shapes[0][a], 1
            for layer in range(1, self.depth):
                scale *= self.strides[layer - 1][a]
                size += (self.filter_shapes[layer][a] - 1) * scale
            out.append(size)
        return tuple(out)

    @property
    def end_to_end_stride(self) -> tuple[int, ...]:
        return tuple(math.prod(s[a] for s in self.strides) for a in range(self.ndim))

    @property
    def output_dim(self) -> int:
        return math.prod(self.end_to_end_shape)

    @property
    def expected_dim(self) -> int:
        return min(self.output_dim, self.num_params - (self.depth - 1))

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.filter_shapes


def _as_shape(x, ndim, what) -> tuple[int, ...]:
    t = tuple(x) if isinstance(x, Sequence) and not isinstance(x, str) else (x,) * ndim
    if len(t) != ndim or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in t):
        raise GeomflowError(f"{what} must be positive integers ({ndim} per layer), got {x!r}")
    return tuple(int(v) for v in t)


def lcn_architecture(filter_sizes, strides=None, *, ndim: int | None = None) -> LCNArchitecture:
    """Validate an LCN's filter sizes and strides.

    **Arguments:**

    - `filter_sizes`: one entry per layer: an int `k` (1-D) or a pair `(k, k')` (2-D).
    - `strides`: one entry per layer of the same form (default: all 1).
    - `ndim`: 1 or 2 (default: inferred from `filter_sizes`).

    **Returns:** an [`LCNArchitecture`][].

    **Raises:** `GeomflowError` for an empty network, non-positive or non-integer sizes, or
    strides whose number or form does not match the filters.

    Examples:
        >>> a = lcn_architecture((2, 3), (2, 1))
        >>> a.end_to_end_shape, a.end_to_end_stride, a.num_params, a.expected_dim
        ((6,), (2,), 5, 4)
    """
    fs = list(filter_sizes) if isinstance(filter_sizes, Sequence) and not isinstance(filter_sizes, str) else None
    if not fs:
        raise GeomflowError(f"filter sizes must be a non-empty list (one per layer), got {filter_sizes!r}")
    if ndim is None:
        ndim = len(fs[0]) if isinstance(fs[0], Sequence) else 1
    if ndim not in (1, 2):
        raise GeomflowError(f"LCNs are 1-D or 2-D, got filters {filter_sizes!r}")
    shapes = tuple(_as_shape(k, ndim, "filter sizes") for k in fs)
    if strides is None:
        strides = [1] * len(shapes)
    st = list(strides) if isinstance(strides, Sequence) and not isinstance(strides, str) else None
    if st is None or len(st) != len(shapes):
        raise GeomflowError(f"strides must give one entry per layer ({len(shapes)}), got {strides!r}")
    return LCNArchitecture(shapes, tuple(_as_shape(s, ndim, "strides") for s in st))


def _scaled_product(a, b, scale: tuple[int, ...]):
    """The coefficients of `a(x)·b(x^scale)` (per axis), batch-last.

    An unrolled sum of broadcast products `a[i]·b[j]` into position `i + scale·j`, accumulated in
    a fixed order: every operation is elementwise across the trailing batch axes, so a lane's
    result is bitwise independent of the block it is computed in (the engine's batch-last rule;
    an `einsum` against a 0/1 index tensor is a contraction whose order XLA may choose per shape).
    """
    import jax.numpy as jnp

    D = len(scale)
    na, nb = a.shape[:D], b.shape[:D]
    out_shape = tuple(na[x] + (nb[x] - 1) * scale[x] for x in range(D))
    terms: dict = {}
    for ia in np.ndindex(*na):
        for ib in np.ndindex(*nb):
            t = tuple(ia[x] + scale[x] * ib[x] for x in range(D))
            p = a[ia] * b[ib]
            terms[t] = p if t not in terms else terms[t] + p
    zero = jnp.zeros_like(a[(0,) * D] * b[(0,) * D])
    flat = [terms.get(t, zero) for t in np.ndindex(*out_shape)]
    return jnp.stack(flat).reshape(out_shape + zero.shape)


def lcn_end_to_end_filter(filters: Sequence, strides=None):
    """The end-to-end filter `w_1(x)·w_2(x^{s_1})·w_3(x^{s_1 s_2})⋯` of an LCN.

    **Arguments:**

    - `filters`: `(w_1, …, w_L)`, `w_l` of shape `(k_l, *batch)` (1-D) or `(k_l, k'_l, *batch)`
      (2-D; set by `strides`' form, default 1-D), the same batch axes for every layer.
    - `strides`: `(s_1, …, s_L)` (ints, or pairs in 2-D; default all 1). `s_L` does not change the
      filter, only the end-to-end stride.

    **Returns:** the end-to-end filter, shape `end_to_end_shape + batch`.

    Examples:
        >>> import jax.numpy as jnp
        >>> lcn_end_to_end_filter([jnp.array([1., 1.]), jnp.array([1., 2.])]).tolist()  # (1+x)(1+2x)
        [1.0, 3.0, 2.0]
        >>> lcn_end_to_end_filter([jnp.array([1., 1.]), jnp.array([1., 2.])], (2, 1)).tolist()  # (1+x)(1+2x²)
        [1.0, 1.0, 2.0, 2.0]
    """
    import jax.numpy as jnp

    ws = [jnp.asarray(w) for w in filters]
    if not ws:
        raise GeomflowError("an LCN needs at least one filter")
    ndim = 1
    if strides is not None and len(strides) and isinstance(strides[0], Sequence):
        ndim = len(strides[0])
    arch = lcn_architecture([w.shape[:ndim] for w in ws], strides, ndim=ndim)
    batch = ws[0].shape[ndim:]
    if any(w.shape[ndim:] != batch for w in ws):
        raise GeomflowError(f"all filters must share their batch axes, got shapes {[w.shape for w in ws]}")
    out = ws[0]
    scale = (1,) * ndim
    for layer in range(1, arch.depth):
        scale = tuple(scale[a] * arch.strides[layer - 1][a] for a in range(ndim))
        out = _scaled_product(out, ws[layer], scale)
    return out


def conv_layer(w, x, stride=1):
    """One layer `y_i = Σ_j w_j x_{s·i+j}` (1-D) or its 2-D analogue, valid positions only.

    **Arguments:**

    - `w`: the filter, `(k,)` or `(k, k')`.
    - `x`: the input signal, `(n,)` or `(n, n')` (at least the filter's size).
    - `stride`: an int, or a pair in 2-D.

    **Returns:** `y`, of length `⌊(n − k)/s⌋ + 1` per axis.

    Examples:
        >>> import jax.numpy as jnp
        >>> conv_layer(jnp.array([1., -1.]), jnp.arange(5.), 2).tolist()  # x_{2i} − x_{2i+1}
        [-1.0, -1.0]
    """
    import jax.numpy as jnp

    w, x = jnp.asarray(w), jnp.asarray(x)
    D = w.ndim
    s = _as_shape(stride, D, "strides")
    if x.ndim != D or any(x.shape[a] < w.shape[a] for a in range(D)):
        raise GeomflowError(f"the input must have the filter's rank and be at least its size, got {x.shape} for a filter {w.shape}")
    out_shape = tuple((x.shape[a] - w.shape[a]) // s[a] + 1 for a in range(D))
    idx = [
        (np.arange(out_shape[a])[:, None] * s[a] + np.arange(w.shape[a])[None, :]) for a in range(D)
    ]
    if D == 1:
        return jnp.einsum("ij,j->i", x[idx[0]], w)
    patches = x[idx[0][:, None, :, None], idx[1][None, :, None, :]]  # (o, o', k, k')
    return jnp.einsum("abjk,jk->ab", patches, w)


def lcn_forward(filters: Sequence, strides, x):
    """The network applied to a signal: layer 1 first, each with its stride."""
    ndim = 1 if not isinstance(strides[0], Sequence) else len(strides[0])
    lcn_architecture([np.shape(w)[:ndim] for w in filters], strides, ndim=ndim)
    for w, s in zip(filters, strides):
        x = conv_layer(w, x, s)
    return x


def lcn_parametrisation(arch: LCNArchitecture):
    """`μ` as a function of the flat weight vector (layer by layer, row-major), batch-last:
    `v` of shape `(num_params, *batch)` to the flat end-to-end filter `(Π end_to_end_shape, *batch)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> mu = lcn_parametrisation(lcn_architecture((2, 2)))
        >>> mu(jnp.array([1., 1., 1., 2.])).tolist()
        [1.0, 3.0, 2.0]
    """
    strides = arch.strides if arch.ndim == 2 else tuple(s[0] for s in arch.strides)

    def mu(v):
        f = lcn_end_to_end_filter(unflatten_filters(arch, v), strides)
        return f.reshape((-1,) + f.shape[arch.ndim :])

    return mu


def unflatten_filters(arch: LCNArchitecture, v):
    """The filters `(w_1, …, w_L)` from a flat vector `(num_params, *batch)`."""
    out, k = [], 0
    for shp in arch.filter_shapes:
        n = math.prod(shp)
        out.append(v[k : k + n].reshape(shp + v.shape[1:]))
        k += n
    return tuple(out)


def lcn_conserved_quantities(arch: LCNArchitecture, v):
    """The known conserved quantities of gradient flow on any loss of the end-to-end filter:
    `‖w_{l+1}‖² − ‖w_l‖²`, `l = 1, …, L − 1` (batch-last: `v` is `(num_params, *batch)`).

    Examples:
        >>> import jax.numpy as jnp
        >>> lcn_conserved_quantities(lcn_architecture((2, 2)), jnp.array([1., 1., 1., 2.])).tolist()
        [3.0]
    """
    import jax.numpy as jnp

    ws = unflatten_filters(arch, v)
    sq = []
    for w in ws:  # fixed-order sums over the filter axes (batch-last, no cross-lane reduction)
        q = w * w
        for _ in range(arch.ndim):
            q = lsum(q)
        sq.append(q)
    return jnp.stack([sq[i + 1] - sq[i] for i in range(arch.depth - 1)]) if arch.depth > 1 else jnp.zeros((0,) + v.shape[1:])
