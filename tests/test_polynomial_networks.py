"""Polynomial networks (geomflow._polynomial_networks): the coefficient vector against evaluating
the network (reconstructing f(x) = Σ_α c_α x^α at random x), the expected-dimension closed form,
batch-last use, and bad input."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from geomflow import _polynomial_networks as pn
from geomflow._errors import GeomflowError


def eval_network_numpy(ws, x, r):
    z = x
    for i, W in enumerate(ws):
        z = W @ z
        if i < len(ws) - 1:
            z = z**r
    return z


@pytest.mark.parametrize("widths,r", [((2, 1, 1), 2), ((3, 5, 1), 4), ((2, 3, 2), 2), ((2, 2, 2, 1), 2),
                                      ((3, 2, 2), 3), ((2, 3, 1), 1)])
def test_coefficients_reproduce_the_network(widths, r, rng):
    net = pn.polynomial_network(widths, r)
    ws = [rng.standard_normal(s) for s in net.param_shapes]
    c = np.asarray(pn.polynomial_network_coefficients(net, [jnp.asarray(W) for W in ws]))
    mons = pn.monomials(widths[0], r ** (len(widths) - 2))
    assert c.shape == (widths[-1], math.comb(net.degree + widths[0] - 1, widths[0] - 1)) == (widths[-1], len(mons))
    for _ in range(5):
        x = rng.standard_normal(widths[0])
        basis = np.array([np.prod(x ** np.array(a)) for a in mons])
        np.testing.assert_allclose(c @ basis, eval_network_numpy(ws, x, r), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.asarray(pn.polynomial_network_forward([jnp.asarray(W) for W in ws], jnp.asarray(x), r)),
                                   eval_network_numpy(ws, x, r), rtol=1e-12)


def test_monomials_count_and_degree():
    for n, d in [(1, 3), (2, 4), (3, 4), (4, 2)]:
        m = pn.monomials(n, d)
        assert len(m) == math.comb(d + n - 1, n - 1) == len(set(m))
        assert all(sum(a) == d for a in m)


def test_expected_dim_closed_form():
    # (3,5,1), r = 4: ambient C(6,2) = 15; 1 + 2·5 + 4·1 = 15
    assert pn.polynomial_network((3, 5, 1), 4).expected_dim == 15
    # (2,2,2,1), r = 2: ambient C(5,1) = 5; 1 + 1·2 + 1·2 + 1·1 = 6 → 5
    assert pn.polynomial_network((2, 2, 2, 1), 2).expected_dim == 5
    # one hidden layer, many neurons: capped at the ambient d_h·C(r+d_0−1, d_0−1)
    assert pn.polynomial_network((2, 10, 1), 3).expected_dim == 4


def test_batch_last(rng):
    net = pn.polynomial_network((2, 3, 2), 2)
    ws = [rng.standard_normal(s + (4,)) for s in net.param_shapes]
    C = np.asarray(pn.polynomial_network_coefficients(net, [jnp.asarray(W) for W in ws]))
    for b in range(4):
        c = np.asarray(pn.polynomial_network_coefficients(net, [jnp.asarray(W[..., b]) for W in ws]))
        np.testing.assert_allclose(C[..., b], c, atol=1e-13)


def test_scaling_symmetry_behind_the_laws(rng):
    """μ is invariant under W_1[j,:] ↦ λ W_1[j,:], W_2[:,j] ↦ λ^{−r} W_2[:,j]."""
    net = pn.polynomial_network((2, 3, 2), 3)
    ws = [rng.standard_normal(s) for s in net.param_shapes]
    lam = 1.3
    w1, w2 = ws[0].copy(), ws[1].copy()
    w1[1] *= lam
    w2[:, 1] *= lam ** (-3)
    a = pn.polynomial_network_coefficients(net, [jnp.asarray(W) for W in ws])
    b = pn.polynomial_network_coefficients(net, [jnp.asarray(w1), jnp.asarray(w2)])
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_bad_input():
    for w, r in [((3,), 2), ((3, 0, 1), 2), ((3, 2), 0), ((3, 2), 1.5), ("32", 2)]:
        with pytest.raises(GeomflowError):
            pn.polynomial_network(w, r)
    with pytest.raises(GeomflowError, match="shapes"):
        pn.polynomial_network_coefficients(pn.polynomial_network((2, 2), 2), [jnp.ones((2, 3))])
