"""Property tests (hypothesis) over random architectures: the identities of MATH.md §4 hold for
every widths tuple, not only the hand-picked ones."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from geomflow._critical import network_gradient
from geomflow._invariants import balance_invariants, gd_invariant_drift
from geomflow._losses import QuadraticLoss, network_loss
from geomflow._networks import architecture, product

widths_strategy = st.lists(st.integers(1, 4), min_size=2, max_size=6).map(tuple)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _instance(widths, seed):
    rng = np.random.default_rng(seed)
    arch = architecture(widths)
    w = tuple(jnp.asarray(rng.standard_normal(s) * 0.7) for s in arch.weight_shapes)
    X = jnp.asarray(rng.standard_normal((widths[0], 5)))
    Y = jnp.asarray(rng.standard_normal((widths[-1], 5)))
    return arch, w, QuadraticLoss(X, Y)


@SETTINGS
@given(widths=widths_strategy, seed=st.integers(0, 2**31 - 1))
def test_architecture_facts_are_consistent(widths, seed):
    arch = architecture(widths)
    r = min(widths)
    assert arch.rank == r
    assert arch.filling == (r == min(widths[0], widths[-1]))
    assert arch.num_params == sum(a * b for a, b in zip(widths[1:], widths[:-1]))
    assert arch.neuromanifold_dim <= widths[0] * widths[-1]
    assert (arch.neuromanifold_dim == widths[0] * widths[-1]) == arch.filling
    # the product of random weights has rank exactly r (generic point of the neuromanifold)
    _, w, _ = _instance(widths, seed)
    assert np.linalg.matrix_rank(np.asarray(product(w))) == r


@SETTINGS
@given(widths=widths_strategy, seed=st.integers(0, 2**31 - 1), eta=st.floats(1e-4, 0.1))
def test_gradient_and_invariant_identities(widths, seed, eta):
    _, w, loss = _instance(widths, seed)
    g = network_gradient(loss, w)
    ga = jax.grad(lambda w: network_loss(loss, w))(w)
    for a, b in zip(g, ga):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    # δ is conserved by the vector field
    _, dd = jax.jvp(balance_invariants, (w,), (tuple(-x for x in g),))
    scale = 1.0 + sum(float(jnp.sum(x * x)) for x in g) + sum(float(jnp.sum(W * W)) for W in w)
    for d in dd:
        assert float(jnp.max(jnp.abs(d))) <= 1e-12 * scale
    # and changes by exactly η²(g_{i+1}ᵀg_{i+1} − g_i g_iᵀ) in one GD step
    w1 = tuple(W - eta * x for W, x in zip(w, g))
    for before, after, pred in zip(balance_invariants(w), balance_invariants(w1), gd_invariant_drift(g, eta)):
        assert float(jnp.max(jnp.abs((after - before) - pred))) <= 1e-12 * scale
