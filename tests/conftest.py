"""Test helpers. The root `conftest.py` turns on float64 and gives JAX 4 host CPU devices; here
the engine's test modules run under strict dtype promotion (an implicit int32/int64 or
float32/float64 mix is an error, as in diffrax's tests)."""

import jax
import numpy as np
import pytest

# The modules of the flow engine (issue 11); other engines opt in by adding theirs.
STRICT_PROMOTION_MODULES = {
    "test_flow", "test_integrators", "test_models", "test_sweep", "test_sampling", "test_lcn_flows",
}


@pytest.fixture(autouse=True)
def _strict_dtype_promotion(request):
    name = getattr(request.module, "__name__", "").rsplit(".", 1)[-1]
    if name in STRICT_PROMOTION_MODULES:
        with jax.numpy_dtype_promotion("strict"):
            yield
    else:
        yield


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
