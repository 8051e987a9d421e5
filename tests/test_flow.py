"""The one-sample flow kernel through the batched runner: known limits and the closed form.

Every test here shares the compiled kernels of two shapes: widths (3, 2, 2, 3) and (3, 3, 3)
with 10 data points (the `ProblemSpec` defaults), so compile time is paid once per worker.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from geomflow._critical import CLASS_NAMES
from geomflow._flow import (
    BUDGET_EXHAUSTED,
    CONVERGED,
    FlowConfig,
    FlowTolerances,
    run_problems,
)
from geomflow._losses import QuadraticLoss
from geomflow._oracles import global_min_value
from geomflow._sampling import ProblemSpec, sample_problem
from geomflow._sweep import categories

DEEP = ProblemSpec((3, 2, 2, 3))  # h = 3, non-filling, b = 2
SHALLOW = ProblemSpec((3, 3, 3))  # h = 2, filling


def _data(sigmas):
    """Whitened data X = [I_3 | 0] (XXᵀ = I) and Y = [diag(σ) | 0]: YXᵀ = diag(σ)."""
    X = np.zeros((3, 10))
    X[:, :3] = np.eye(3)
    Y = np.zeros((3, 10))
    Y[:, :3] = np.diag(sigmas)
    return X, Y


def _stack(losses, weights):
    L = QuadraticLoss(jnp.stack([ls.X for ls in losses]), jnp.stack([ls.Y for ls in losses]))
    W = tuple(jnp.stack([w[i] for w in weights]) for i in range(len(weights[0])))
    return L, W


@pytest.fixture(scope="module")
def constructed():
    """Three constructed runs on widths (3, 2, 2, 3) with Y Xᵀ = diag(3, 2, 1):

    0. the invariant subspace that excludes the top singular direction (W_1 e_1 = 0,
       e_1ᵀ W_3 = 0, kept exactly by the flow): must end at S = {2, 3}, a strict saddle;
    1. w(0) = 0 (h = 3): a zero-Hessian critical point, which the flow never leaves;
    2. a generic Gaussian start, as a control (global minimum).
    """
    X, Y = _data([3.0, 2.0, 1.0])
    rng = np.random.default_rng(0)
    w_sub = [rng.normal(size=s) for s in ((2, 3), (2, 2), (3, 2))]
    w_sub[0][:, 0] = 0.0
    w_sub[2][0, :] = 0.0
    w_zero = [np.zeros(s) for s in ((2, 3), (2, 2), (3, 2))]
    w_gen = [rng.normal(size=s) for s in ((2, 3), (2, 2), (3, 2))]
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    L, W = _stack([loss] * 3, [w_sub, w_zero, w_gen])
    rec, stats = run_problems(DEEP, L, W, pool_size=4)
    return rec, stats


def test_invariant_subspace_without_top_direction_ends_at_strict_saddle(constructed):
    rec, _ = constructed
    assert rec["status"][0] == CONVERGED
    assert CLASS_NAMES[rec["label"][0]] == "strict_saddle"
    assert rec["index_set"][0] == 0b110 and rec["index_set_valid"][0]  # S = {2, 3}
    assert rec["n_negative"][0] > 0
    np.testing.assert_allclose(rec["loss"][0], 9.0, rtol=1e-10)  # ‖Y‖² − 2² − 1²
    assert categories(rec)[0] == "strict_saddle"


def test_zero_init_deep_ends_in_zero_hessian(constructed):
    rec, _ = constructed
    assert rec["status"][1] == CONVERGED
    assert CLASS_NAMES[rec["label"][1]] == "zero_hessian"
    assert rec["index_set"][1] == 0 and rec["loss"][1] == pytest.approx(14.0)


def test_generic_start_reaches_global_min_with_small_drift(constructed):
    rec, stats = constructed
    assert CLASS_NAMES[rec["label"][2]] == "global_min"
    assert rec["index_set"][2] == 0b011
    assert abs(rec["gap"][2]) < 1e-10
    assert rec["grad_norm"][2] < 1e-11
    assert np.all(rec["delta_drift"] < 1e-8)
    assert np.all(rec["polish_step"] <= 1e-3)
    assert stats.needed <= stats.executed


def test_small_init_with_short_budget_is_not_converged():
    """A small start lingers near w = 0 (where ∇L ≈ 0 for h ≥ 3); with too short a time budget
    the run must be reported as not converged, not as a (zero-Hessian) critical point."""
    X, Y = _data([3.0, 2.0, 1.0])
    rng = np.random.default_rng(1)
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    ws = [[1e-3 * rng.normal(size=s) for s in ((2, 3), (2, 2), (3, 2))] for _ in range(2)]
    L, W = _stack([loss] * 2, ws)
    short = FlowTolerances(t_max=5.0)
    rec, _ = run_problems(DEEP, L, W, short, pool_size=4)
    assert np.all(rec["status"] == BUDGET_EXHAUSTED)
    assert np.all(rec["label"] == -1)
    assert list(categories(rec)) == ["not_converged"] * 2
    # The same starts with the default budget escape and end at the global minimum.
    rec, _ = run_problems(DEEP, L, W, pool_size=4)
    assert np.all(rec["status"] == CONVERGED)
    assert [CLASS_NAMES[k] for k in rec["label"]] == ["global_min"] * 2


def test_closed_form_h2_whitened_balanced_aligned():
    """MATH.md §5: h = 2, XXᵀ = I, balanced aligned start W_1 = W_2 = √w0·I: the product is
    diag(w_i(t)) with w_i(t) = s_i / (1 + (s_i/w0 − 1) e^{−4 s_i t})."""
    s = np.array([3.0, 2.0, 0.5])
    X, Y = _data(s)
    w0 = 0.01
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    W = [np.sqrt(w0) * np.eye(3), np.sqrt(w0) * np.eye(3)]
    L, Ws = _stack([loss], [W])
    for T in (0.5, 2.0):
        tol = FlowTolerances(grad=0.0, t_max=T)  # integrate to exactly t = T
        rec, _ = run_problems(SHALLOW, L, Ws, tol, pool_size=1)
        assert rec["status"][0] == BUDGET_EXHAUSTED and rec["t"][0] == pytest.approx(T, rel=1e-14)
        expected = s / (1 + (s / w0 - 1) * np.exp(-4 * s * T))
        # The loss of the run is ‖diag(w(T)) − diag(s)‖² (the data are whitened).
        np.testing.assert_allclose(rec["loss"][0], np.sum((expected - s) ** 2), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("spec", [DEEP, SHALLOW], ids=["3-2-2-3", "3-3-3"])
def test_loss_star_oracle_equals_tight_flow_limit(spec):
    """Issue 2, item 4: L* (Eckart–Young) equals the loss reached by long, tightly converged
    flows, filling and non-filling, and no random point has a loss below it."""
    n = 6
    batch = [sample_problem(spec, 11, i) for i in range(n)]
    L, W = _stack([b[0] for b in batch], [b[1] for b in batch])
    tight = FlowTolerances(grad=1e-10, rtol=1e-9, atol=1e-11, t_max=1e5)
    rec, _ = run_problems(spec, L, W, tight, pool_size=8)
    conv = rec["status"] == CONVERGED
    assert conv.all()
    for i in range(n):
        Ls = float(global_min_value(batch[i][0].X, batch[i][0].Y, spec.arch.rank))
        assert rec["loss_star"][i] == pytest.approx(Ls, rel=1e-12)
        if CLASS_NAMES[rec["label"][i]] == "global_min":
            assert abs(rec["loss"][i] - Ls) <= 1e-10 * max(1.0, abs(Ls))
        assert rec["loss"][i] >= Ls - 1e-10 * max(1.0, abs(Ls))
    rng = np.random.default_rng(3)
    from geomflow._losses import network_loss

    for i in range(n):
        for _ in range(20):
            w = [rng.normal(scale=rng.choice([0.1, 1.0, 3.0]), size=s) for s in spec.arch.weight_shapes]
            assert float(network_loss(batch[i][0], w)) >= rec["loss_star"][i] - 1e-9


@pytest.mark.parametrize("method", ["gd", "momentum", "adam"])
def test_optax_methods_through_the_same_record(method):
    spec = SHALLOW
    batch = [sample_problem(spec, 2, i) for i in range(4)]
    L, W = _stack([b[0] for b in batch], [b[1] for b in batch])
    tol = FlowTolerances(learning_rate=2e-3, grad=1e-7, max_steps=200_000, t_max=1e4)
    rec, _ = run_problems(spec, L, W, tol, FlowConfig(method=method), pool_size=4)
    cats = categories(rec)
    assert set(cats) <= {"global_min", "not_converged", "diverged", "strict_saddle", "non_finite"}
    assert (cats == "global_min").sum() >= 3, cats
