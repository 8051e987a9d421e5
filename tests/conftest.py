"""Test configuration: float64 everywhere and several CPU devices for the sharding tests."""

import os

# Must happen before jax is imported anywhere.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


def tree_allclose(x, y, *, rtol=1e-10, atol=1e-12):
    """True iff two pytrees have the same structure and allclose leaves."""
    lx, tx = jax.tree_util.tree_flatten(x)
    ly, ty = jax.tree_util.tree_flatten(y)
    if tx != ty:
        return False
    return all(np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol) for a, b in zip(lx, ly))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
