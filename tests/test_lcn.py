"""Linear convolutional networks (geomflow._lcn): the end-to-end filter against composing the
actual convolution layers (written here with explicit loops) on random inputs, the size and
stride formulas, batch-last use, and bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from geomflow import _lcn as lcn
from geomflow._errors import GeomflowError


def conv1d_loops(w, x, s):
    """y_i = Σ_j w_j x_{s·i+j}, by loops."""
    k, n = len(w), len(x)
    return np.array([sum(w[j] * x[s * i + j] for j in range(k)) for i in range((n - k) // s + 1)])


def conv2d_loops(w, x, s):
    k0, k1 = w.shape
    o0, o1 = (x.shape[0] - k0) // s[0] + 1, (x.shape[1] - k1) // s[1] + 1
    return np.array([[sum(w[a, b] * x[s[0] * i + a, s[1] * j + b] for a in range(k0) for b in range(k1))
                      for j in range(o1)] for i in range(o0)])


CASES_1D = [((2, 2), (1, 1)), ((3, 2, 4), (1, 1, 1)), ((2, 3), (2, 1)), ((3, 2, 2), (2, 3, 1)),
            ((2, 2, 2), (2, 4, 1)), ((4,), (3,))]


@pytest.mark.parametrize("ks,ss", CASES_1D)
def test_end_to_end_filter_equals_composed_layers(ks, ss, rng):
    ws = [rng.standard_normal(k) for k in ks]
    arch = lcn.lcn_architecture(ks, ss)
    # closed form of the size and stride (MATH.md §6)
    size = ks[0] + sum((ks[i] - 1) * int(np.prod(ss[:i])) for i in range(1, len(ks)))
    assert arch.end_to_end_shape == (size,)
    assert arch.end_to_end_stride == (int(np.prod(ss)),)
    u = np.asarray(lcn.lcn_end_to_end_filter([jnp.asarray(w) for w in ws], ss))
    assert u.shape == (size,)
    S = int(np.prod(ss))
    x = rng.standard_normal(size + 5 * S)
    y = x
    for w, s in zip(ws, ss):
        y = conv1d_loops(w, y, s)
    np.testing.assert_allclose(conv1d_loops(u, x, S), y, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lcn.lcn_forward([jnp.asarray(w) for w in ws], ss, jnp.asarray(x))), y,
                               atol=1e-12)


def test_stride_one_is_polynomial_multiplication(rng):
    ws = [rng.standard_normal(k) for k in (3, 2, 4)]
    expected = np.polymul(np.polymul(ws[0][::-1], ws[1][::-1]), ws[2][::-1])[::-1]  # numpy: high first
    np.testing.assert_allclose(np.asarray(lcn.lcn_end_to_end_filter([jnp.asarray(w) for w in ws])), expected,
                               atol=1e-12)


@pytest.mark.parametrize("ks,ss", [(((2, 2), (2, 3)), ((1, 1), (1, 1))), (((2, 3), (2, 2)), ((2, 1), (1, 2))),
                                   (((3, 2), (2, 2), (2, 1)), ((1, 2), (2, 1), (1, 1)))])
def test_2d_end_to_end_filter_equals_composed_layers(ks, ss, rng):
    ws = [rng.standard_normal(k) for k in ks]
    arch = lcn.lcn_architecture(ks, ss)
    u = np.asarray(lcn.lcn_end_to_end_filter([jnp.asarray(w) for w in ws], ss))
    assert u.shape == arch.end_to_end_shape
    S = arch.end_to_end_stride
    x = rng.standard_normal((u.shape[0] + 3 * S[0], u.shape[1] + 2 * S[1]))
    y = x
    for w, s in zip(ws, ss):
        y = conv2d_loops(w, y, s)
    np.testing.assert_allclose(conv2d_loops(u, x, S), y, atol=1e-12)


def test_batch_last(rng):
    ks, ss = (3, 2), (2, 1)
    ws = [rng.standard_normal((k, 4, 5)) for k in ks]
    U = np.asarray(lcn.lcn_end_to_end_filter([jnp.asarray(w) for w in ws], ss))
    for a in range(4):
        for b in range(5):
            u = np.asarray(lcn.lcn_end_to_end_filter([jnp.asarray(w[:, a, b]) for w in ws], ss))
            np.testing.assert_allclose(U[:, a, b], u, atol=1e-13)


def test_known_laws_are_the_scalings(rng):
    """μ is invariant under the scaling w_l ↦ λ w_l, w_{l+1} ↦ λ^{-1} w_{l+1}, whose generator is
    (half) the gradient of −(‖w_{l+1}‖² − ‖w_l‖²): the known law."""
    arch = lcn.lcn_architecture((2, 3))
    mu = lcn.lcn_parametrisation(arch)
    v = jnp.asarray(rng.standard_normal(arch.num_params))
    lam = 1.7
    scaled = jnp.concatenate([lam * v[:2], v[2:] / lam])
    np.testing.assert_allclose(mu(scaled), mu(v), atol=1e-12)
    np.testing.assert_allclose(lcn.lcn_conserved_quantities(arch, v), [np.sum(v[2:] ** 2) - np.sum(v[:2] ** 2)])


def test_bad_input():
    for ks, ss in [((), None), ((2, 0), None), ((2, 2), (1,)), ((2, 2.5), None), (((2, 2), (2, 2, 2)), None),
                   ((2, 2), (0, 1))]:
        with pytest.raises(GeomflowError):
            lcn.lcn_architecture(ks, ss)
    with pytest.raises(GeomflowError):
        lcn.conv_layer(jnp.ones(3), jnp.ones(2))
