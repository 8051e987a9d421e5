"""float64 / complex128 whatever the caller's `jax_enable_x64`.

JAX computes in float32 unless `jax_enable_x64` is on, and silently truncates float64 inputs.
Every entry point of geomflow that runs a JAX kernel whose result is classified or counted (the
flow engine, the homotopy tracker, the Riemannian Hessians) is wrapped in `x64`, so a plain
script gets the same numbers as the CLI and the tests."""

from __future__ import annotations

import functools

__all__ = ["x64"]


def x64(fn):
    """Run `fn` with float64 enabled (`jax.enable_x64(True)`) whatever the caller's setting.

    >>> import jax, jax.numpy as jnp
    >>> @x64
    ... def f():
    ...     return jnp.asarray(1.0).dtype
    >>> str(f())
    'float64'
    """

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import jax

        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapped
