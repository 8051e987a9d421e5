"""Batch-last building blocks: arrays whose samples lie on the trailing axes.

A weight matrix of a batch is `(rows, cols, *batch)`; a product `A·B` is an unrolled sum of
broadcast outer products, a norm an unrolled sum over the leading axis. Every operation is
elementwise across the batch, so the samples are SIMD lanes, there is no cross-sample reduction
(a sample's result is bitwise independent of its neighbours), and the same code runs one sample
(`batch = ()`) or a million. A model written with these (and elementwise activations) has a
batch-last gradient and Hessian from `jax.vjp`/`jax.jvp`: see [`geomflow.models.UserModel`][].

Examples:
    >>> import jax.numpy as jnp
    >>> A = jnp.ones((2, 3, 5))                  # five 2×3 matrices, batch last
    >>> B = jnp.ones((3, 4, 5))
    >>> mm(A, B).shape, float(mm(A, B)[0, 0, 0])
    ((2, 4, 5), 3.0)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def to_soa(tree):
    """Move the leading (sample) axis of every leaf to the end."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), tree)


def from_soa(tree):
    """Move the trailing (sample) axis of every leaf to the front."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), tree)


def lsum(x):
    """Sum over the leading axis in a fixed order (`x[0] + x[1] + …`)."""
    s = x[0]
    for i in range(1, x.shape[0]):
        s = s + x[i]
    return s


def mm(A, B):
    """`A·B` for `A (m, k, *b)`, `B (k, n, *b)`: an unrolled sum of broadcast outer products."""
    out = A[:, 0, None] * B[None, 0]
    for i in range(1, A.shape[1]):
        out = out + A[:, i, None] * B[None, i]
    return out


def mv(A, x):
    """`A·x` for `A (m, k, *b)`, `x (k, *b)`."""
    out = A[:, 0] * x[0]
    for i in range(1, A.shape[1]):
        out = out + A[:, i] * x[i]
    return out


def tr(A):
    """The transpose of `A (m, n, *b)`."""
    return jnp.swapaxes(A, 0, 1)


def norm(x):
    """Euclidean norm over the leading axis of `x (d, *b)`."""
    return jnp.sqrt(lsum(x * x))


def rms(x):
    """Root-mean-square over the leading axis of `x (d, *b)`."""
    return jnp.sqrt(lsum(x * x) / x.shape[0])


def flatten(leaves, struct_ndim: int = 2):
    """Leaves with `struct_ndim` structural axes then the batch, e.g. `(r_i, c_i, *b)`, → one
    flat `(d, *b)` (row-major per leaf); the inverse of [`unflatten`][]."""
    return jnp.concatenate([jnp.reshape(W, (-1,) + W.shape[struct_ndim:]) for W in leaves], axis=0)


def unflatten(shapes, v):
    """Flat `(d, *b)` → leaves of the given structural shapes, batch trailing (row-major)."""
    out, o = [], 0
    for s in shapes:
        n = 1
        for x in s:
            n *= x
        out.append(jnp.reshape(v[o:o + n], tuple(s) + v.shape[1:]))
        o += n
    return out


def bcast(mask, a):
    """`mask (*b)` reshaped to broadcast against a batch-trailing `a (…, *b)`."""
    return jnp.reshape(mask, (1,) * (a.ndim - mask.ndim) + mask.shape)
