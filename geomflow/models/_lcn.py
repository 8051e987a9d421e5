"""Linear convolutional networks (1-D and 2-D, any filter sizes and strides) as a model.

Layer `l` has a filter `w_l` of size `k_l` (a pair in 2-D) and stride `s_l`, and computes
`y_i = Σ_j (w_l)_j x_{s_l·i+j}`. The end-to-end filter is `μ(w) = w_1(x)·w_2(x^{s_1})·w_3(x^{s_1 s_2})⋯`
(MATH.md §6; plain polynomial multiplication for stride 1), computed by the one implementation
[`geomflow.lcn_end_to_end_filter`][] (batch-last). For the losses of `geomflow._losses` it is a
`(1, K)` matrix, `K = Π end_to_end_shape` (2-D filters flattened row-major): e.g. the squared
error of a one-output network on `s` input signals `X (K, s)`, `‖uX − Y‖²`, or a distance
`‖A·(u − q)‖²` to a target filter.

`μ` is invariant under `w_l → c·w_l, w_{l+1} → w_{l+1}/c`, so gradient flow conserves
`‖w_{l+1}‖² − ‖w_l‖²` (`l = 1, …, L−1`). The Morse–Bott test of the classifier needs the
generic rank of `dμ` (`image_dim`): for 1-D stride 1 it is `Σ k_l − (L − 1)` (the function space
is full-dimensional, KMMT); otherwise it is computed once per architecture by
[`geomflow.function_space_dim`][] (the exact rank of the integer Jacobian over two primes).

??? cite "References"
    Kohn, Merkh, Montúfar, Trager, *Geometry of linear convolutional networks*, SIAM J. Appl.
    Algebra Geometry 2022; Kohn, Montúfar, Shahverdi, Trager, *Function space and critical
    points of linear convolutional networks*, SIAM J. Appl. Algebra Geometry 2024.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

from .._errors import GeomflowError
from .._lcn import (
    LCNArchitecture,
    lcn_architecture,
    lcn_conserved_quantities,
    lcn_end_to_end_filter,
)
from ._base import Model

LCN_SYNTAX = ("lcn:<k_1>,…,<k_L>[/s=<s_1>,…,<s_L>] (1-D, e.g. lcn:2,2 or lcn:2,2/s=2,1; "
              "strides default 1) or lcn:<k>x<k'>,…[/s=<s>x<s'>,…] (2-D, e.g. lcn:2x2,2x2/s=2x2,1x1)")


@functools.lru_cache(maxsize=128)
def _generic_rank(kind: str, a, b) -> int:
    """The generic rank of `dμ`, exactly (F_p ranks of an integer Jacobian), computed once."""
    import jax

    from .._function_space import function_space_dim, lcn_model, polynomial_network_model

    with jax.ensure_compile_time_eval():  # safe when first asked inside a trace
        model = lcn_model(a, b) if kind == "lcn" else polynomial_network_model(a, b)
        return int(function_space_dim(model).dim)


@dataclasses.dataclass(frozen=True)
class LinearConvNetwork(Model):
    """The linear convolutional network with filter sizes `(k_1, …, k_L)` and strides
    `(s_1, …, s_L)` (ints in 1-D, pairs in 2-D; strides default to 1).

    **Raises:** `GeomflowError` for non-positive or non-integer sizes or strides, or strides whose
    number or form does not match the filters.

    Examples:
        >>> import jax.numpy as jnp
        >>> m = LinearConvNetwork((3, 2, 2))
        >>> m.num_params, m.out_shape, m.image_dim
        (7, (1, 5), 5)
        >>> [float(c) for c in m.conserved(jnp.arange(7.0))]   # ‖w_2‖² − ‖w_1‖², ‖w_3‖² − ‖w_2‖²
        [20.0, 36.0]
        >>> s = LinearConvNetwork((2, 2), strides=(2, 1))      # u(x) = w_1(x)·w_2(x²)
        >>> s.out_shape, s.spec_string()
        ((1, 4), 'lcn:2,2/s=2,1')
        >>> s.end_to_end((jnp.array([1., 1.]), jnp.array([1., 2.]))).tolist()
        [[1.0, 1.0, 2.0, 2.0]]
    """

    filter_sizes: tuple
    strides: tuple | None = None

    name = "lcn"

    def __post_init__(self):
        arch = lcn_architecture(self.filter_sizes, self.strides)
        if arch.ndim == 1:
            object.__setattr__(self, "filter_sizes", tuple(k[0] for k in arch.filter_shapes))
            object.__setattr__(self, "strides", tuple(s[0] for s in arch.strides))
        else:
            object.__setattr__(self, "filter_sizes", arch.filter_shapes)
            object.__setattr__(self, "strides", arch.strides)

    @property
    def arch(self) -> LCNArchitecture:
        return lcn_architecture(self.filter_sizes, self.strides)

    @property
    def param_shapes(self):
        return self.arch.filter_shapes

    @property
    def out_shape(self):
        return (1, self.arch.output_dim)

    @property
    def image_dim(self) -> int:
        a = self.arch
        if a.ndim == 1 and all(s == 1 for s in self.strides):
            return a.num_params - (a.depth - 1)
        return _generic_rank("lcn", self.filter_sizes, self.strides)

    conserved_description = "‖w_{l+1}‖² − ‖w_l‖², l = 1..L−1"

    def end_to_end(self, leaves):
        u = lcn_end_to_end_filter(leaves, self.strides)
        return u.reshape((1, -1) + u.shape[self.arch.ndim:])  # (1, K, *batch)

    def conserved(self, v):
        c = lcn_conserved_quantities(self.arch, v)
        return [c[i] for i in range(c.shape[0])]

    def symmetry_generators(self, v):
        """The rescalings `w_l → c·w_l, w_{l+1} → w_{l+1}/c` at `v`: `(…, w_l, −w_{l+1}, …)`."""
        import jax.numpy as jnp

        sizes = [math.prod(k) for k in self.arch.filter_shapes]
        ends = list(itertools.accumulate(sizes))
        out = []
        for i in range(len(sizes) - 1):
            a, b, c = ends[i] - sizes[i], ends[i], ends[i + 1]
            out.append(jnp.zeros_like(v).at[a:b].set(v[a:b]).at[b:c].set(-v[b:c]))
        return out

    def spec_string(self) -> str:
        if self.arch.ndim == 1:
            ks, ss = map(str, self.filter_sizes), map(str, self.strides)
        else:
            ks = ("x".join(map(str, k)) for k in self.filter_sizes)
            ss = ("x".join(map(str, s)) for s in self.strides)
        ks, ss = ",".join(ks), ",".join(ss)
        plain = all(x == "1" for x in ss.replace("x", ",").split(","))
        return f"lcn:{ks}" + ("" if plain else f"/s={ss}")

    def to_dict(self) -> dict:
        return {"model": "lcn", "filter_sizes": [list(k) if isinstance(k, tuple) else k for k in self.filter_sizes],
                "strides": [list(s) if isinstance(s, tuple) else s for s in self.strides]}

    @classmethod
    def from_string(cls, body: str) -> LinearConvNetwork:
        """`"2,2/s=2,1"` (the part after `lcn:`) → the model; `GeomflowError` naming the syntax."""
        sizes, _, opts = body.partition("/")
        strides = None
        try:
            ks = _parse_sizes(sizes)
            if opts:
                key, _, val = opts.partition("=")
                if key.strip() != "s":
                    raise ValueError
                strides = _parse_sizes(val)
        except ValueError:
            raise GeomflowError(f"model must be {LCN_SYNTAX}, got 'lcn:{body}'") from None
        return cls(ks, strides)


def _parse_sizes(text: str) -> tuple:
    """`"2,3"` → `(2, 3)`; `"2x2,3x1"` → `((2, 2), (3, 1))`; ValueError otherwise."""
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t for t in items):
        raise ValueError(text)
    if any("x" in t for t in items):
        out = tuple(tuple(int(p) for p in t.split("x")) for t in items)
        if any(len(p) != 2 for p in out):
            raise ValueError(text)
        return out
    return tuple(int(t) for t in items)
