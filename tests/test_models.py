"""Models through the same engine: the 1-D linear convolutional network (stride 1), a user's own
batch-last model with autodiff gradients, and user-supplied `L*`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import geomflow as gf
from geomflow import batchlast as bl
from geomflow.models import LinearConvNetwork, LinearNetwork, UserModel


def _lcn_filter_numpy(filters):
    """The end-to-end filter by numpy's polynomial product (an independent implementation)."""
    u = np.asarray(filters[0])
    for w in filters[1:]:
        u = np.convolve(np.asarray(w), u)
    return u


@pytest.mark.parametrize("sizes", [(3, 2, 2), (2, 4), (1, 3, 2, 2)])
def test_lcn_end_to_end_is_the_polynomial_product(sizes, rng):
    m = LinearConvNetwork(sizes)
    ws = [rng.normal(size=(k, 5)) for k in sizes]  # batch of five, batch last
    u = np.asarray(m.end_to_end([jnp.asarray(w) for w in ws]))
    assert u.shape == (1, sum(sizes) - len(sizes) + 1, 5)
    for b in range(5):
        np.testing.assert_allclose(u[0, :, b], _lcn_filter_numpy([w[:, b] for w in ws]), rtol=1e-13, atol=1e-13)


def test_lcn_gradient_and_hessian_match_jnp_convolve(rng):
    m = LinearConvNetwork((3, 2, 2))
    A, Q = rng.normal(size=(5, 5)), rng.normal(size=(1, 5))
    loss = gf.PerturbedDistance(jnp.asarray(A), jnp.asarray(Q))
    v = jnp.asarray(rng.normal(size=7))

    def L(z):  # jnp.convolve: an implementation independent of the model's
        w1, w2, w3 = z[:3], z[3:5], z[5:]
        u = jnp.convolve(w3, jnp.convolve(w2, w1))
        r = jnp.asarray(A) @ (u - jnp.asarray(Q[0]))
        return jnp.sum(r * r)

    data = m.prepare(loss)
    np.testing.assert_allclose(m.grad(v, data), jax.grad(L)(v), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(m.hessian(v, data), jax.hessian(L)(v), rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def lcn_flows():
    """Flows of the LCN (3, 2, 2) to a target in its image (Q = a product of filters, A = I):
    L* = 0 is known by construction."""
    rng = np.random.default_rng(5)
    n = 8
    m = LinearConvNetwork((3, 2, 2))
    Q = np.stack([_lcn_filter_numpy([rng.normal(size=k) for k in (3, 2, 2)])[None] for _ in range(n)])
    A = np.broadcast_to(np.eye(5), (n, 5, 5))
    w0 = tuple(jnp.asarray(rng.normal(size=(n, k))) for k in (3, 2, 2))
    return m, w0, gf.flow_batch(m, gf.PerturbedDistance(jnp.asarray(A), jnp.asarray(Q)), w0, loss_star=0.0)


def test_lcn_flows_conserve_norm_differences_and_reach_the_target(lcn_flows):
    m, w0, res = lcn_flows
    rec = res.records
    conv = rec["status"] == gf.CONVERGED
    assert conv.sum() >= 6
    # the drift of ‖w_{i+1}‖² − ‖w_i‖² recorded per run
    assert rec["delta_drift"][conv].max() < 1e-8
    cats = res.categories
    # L* = 0 is known: a converged run at loss 0 is global; Morse–Bott there: the zero
    # eigenvalues are exactly the rescaling orbit's h − 1 = 2 directions at rank dμ = 5
    glob = cats == "global_min"
    assert glob.sum() >= 5
    assert (rec["loss"][glob] < 1e-16).all()
    assert (rec["n_zero"][glob] == 2).all() and (rec["rank_dmu"][glob] == 5).all()
    assert set(cats) <= {"global_min", "non_global_local_min", "undecided", "not_converged",
                         "strict_saddle", "non_strict_saddle"}


def test_lcn_without_loss_star_is_only_a_local_min(lcn_flows):
    """Without `L*` (the LCN's image is not filling) a Morse–Bott minimum is `local_min`."""
    m, w0, res = lcn_flows
    again = gf.flow_batch(m, gf.PerturbedDistance(*[jnp.asarray(x) for x in _targets(8)]), w0)
    cats = again.categories
    assert "global_min" not in set(cats)
    before = res.categories
    assert set(before[cats == "local_min"]) <= {"global_min", "non_global_local_min"}
    rec = res.records
    mb = (before == "global_min") & (rec["rank_dmu"] == 5) & (rec["n_zero"] == 2)
    assert mb.any() and (cats[mb] == "local_min").all()


def _targets(n):
    rng = np.random.default_rng(5)
    Q = np.stack([_lcn_filter_numpy([rng.normal(size=k) for k in (3, 2, 2)])[None] for _ in range(n)])
    return np.broadcast_to(np.eye(5), (n, 5, 5)), Q


def _user_linear(widths):
    """The linear network written by a user with batch-last products (no closed form)."""
    shapes = tuple((widths[i], widths[i - 1]) for i in range(1, len(widths)))

    def mu(w):
        P = w[0]
        for W in w[1:]:
            P = bl.mm(W, P)
        return P

    r = min(widths)
    return UserModel(mu, shapes, (widths[-1], widths[0]), image_dim=r * (widths[0] + widths[-1] - r))


def test_user_model_autodiff_gradient_equals_the_closed_form(rng):
    widths = (3, 2, 2, 3)
    user, lin = _user_linear(widths), LinearNetwork(widths)
    X, Y = rng.normal(size=(3, 10, 4)), rng.normal(size=(3, 10, 4))
    data = gf.QuadraticLoss(jnp.asarray(X), jnp.asarray(Y)).batch_last()
    v = jnp.asarray(rng.normal(size=(16, 4)))
    np.testing.assert_allclose(user.grad(v, data), lin.grad(v, data), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(user.hessian(v, data), lin.hessian(v, data), rtol=1e-11, atol=1e-11)


def test_flow_batch_refuses_weights_of_the_wrong_shape():
    with pytest.raises(gf.GeomflowError, match=r"weight leaf 2 must have shape \(3, 2\)"):
        gf.flow_batch((3, 2, 3), gf.QuadraticLoss(jnp.ones((1, 3, 4)), jnp.ones((1, 3, 4))),
                      (jnp.ones((1, 2, 3)), jnp.ones((1, 2, 3))))


def _readme_block(marker):
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "README.md")).read()
    after = text[text.index(marker):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.mark.slow
def test_readme_matrix_sensing_example():
    """Must-show 2: the README's matrix-sensing example, verbatim (512 flows, L* = 0)."""
    ns = {}
    exec(_readme_block("matrix-sensing example"), ns)
    t = ns["result"].tally
    assert sum(t.values()) == 512
    assert t.get("local_min", 0) == 0 and t["global_min"] > 256


def test_readme_matrix_sensing_example_small():
    """The README example's code with 24 instances instead of 512 (the default suite)."""
    ns = {}
    exec(_readme_block("matrix-sensing example").replace("n, k = 512, 12", "n, k = 24, 12"), ns)
    t = ns["result"].tally
    assert sum(t.values()) == 24 and t.get("local_min", 0) == 0
