"""Conservation laws (geomflow._conservation_laws) against the closed forms: dim im δ for linear
networks (the project's own balance-invariant computation), L − 1 for stride-1 LCNs, one per
hidden neuron for polynomial networks; and the known laws checked to be conserved, here, by
∇h ⊥ ∇μ_j at random points (so ⟨∇h, ∇(ℓ∘μ)⟩ = 0 for every loss ℓ)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomflow import _conservation_laws as cl, _function_space as fs
from geomflow._dimensions import delta_image_dim


def test_lie_bracket_of_rotation_fields():
    """[x∂_y − y∂_x, ∂_x] = ∂_y (by hand: D(∂_x)·R − DR·∂_x = −(0, 1)... sign by the convention
    [X, Y] = DY·X − DX·Y with X = R, Y = ∂_x: DY = 0, DR·∂_x = (0, 1), so [R, ∂_x] = −∂_y)."""
    R = lambda w: jnp.array([-w[1], w[0]])  # noqa: E731
    E = lambda w: jnp.array([1.0, 0.0])  # noqa: E731
    np.testing.assert_allclose(cl.lie_bracket(R, E)(jnp.array([0.3, -0.2])), [0.0, -1.0])


@pytest.mark.parametrize("ks,ss", [((2, 2), None), pytest.param((2, 2, 2), None, marks=pytest.mark.slow),
                                   pytest.param((3, 2), None, marks=pytest.mark.slow), ((2, 2), (2, 1))])
def test_lcn_has_L_minus_1_laws(ks, ss):
    rep = cl.conservation_law_count(fs.lcn_model(ks, ss))
    assert rep.converged and rep.num_laws == len(ks) - 1 == rep.expected_laws


@pytest.mark.parametrize("widths,r", [pytest.param((2, 3, 2), 2, marks=pytest.mark.slow), ((2, 2, 1), 3)])
def test_polynomial_network_one_law_per_hidden_neuron(widths, r):
    rep = cl.conservation_law_count(fs.polynomial_network_model(widths, r))
    assert rep.converged and rep.num_laws == sum(widths[1:-1])


@pytest.mark.parametrize("widths", [pytest.param((2, 2, 2), marks=pytest.mark.slow), (1, 2, 1, 2)])
def test_linear_networks_match_dim_im_delta(widths):
    rep = cl.conservation_law_count(fs.linear_network_model(widths))
    assert rep.converged and rep.num_laws == delta_image_dim(widths).rank


@pytest.mark.slow
@pytest.mark.parametrize("widths", [(3, 2, 3), (2, 3, 2), (2, 3, 2, 2), (1, 1, 1, 1), (2, 1, 2), (3, 1, 2)])
def test_linear_networks_match_dim_im_delta_more(widths):
    rep = cl.conservation_law_count(fs.linear_network_model(widths))
    assert rep.converged and rep.num_laws == delta_image_dim(widths).rank


MODELS = [fs.lcn_model((2, 3, 2)), fs.lcn_model((2, 2), (2, 1)), fs.lcn_model(((2, 2), (2, 1))),
          fs.polynomial_network_model((2, 3, 2), 2), fs.polynomial_network_model((3, 2, 2, 1), 3),
          fs.linear_network_model((2, 3, 2, 2))]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_known_laws_are_conserved(model, rng):
    for _ in range(3):
        w = jnp.asarray(rng.standard_normal(model.num_params))
        J = np.asarray(jax.jacfwd(model.mu)(w))
        G = np.asarray(jax.jacfwd(model.conserved)(w))
        assert G.shape[0] >= 1
        g = rng.standard_normal(J.shape[0])  # ∇ℓ at μ(w) of an arbitrary loss ℓ
        grad_loss = J.T @ g
        assert np.max(np.abs(G @ grad_loss)) <= 1e-12 * np.linalg.norm(grad_loss) * np.max(np.linalg.norm(G, axis=1))
        assert np.linalg.matrix_rank(G) == G.shape[0]  # the known laws are independent
    assert cl.conserved_gradient_residual(model) < 1e-12
