"""Test helpers. The root `conftest.py` turns on float64 and gives JAX 4 host CPU devices."""

import jax
import numpy as np
import pytest


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
