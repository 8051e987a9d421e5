"""Per-sample sampling: determinism, separate streams, data models, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomflow._errors import GeomflowError
from geomflow._losses import PerturbedDistance, QuadraticLoss
from geomflow._sampling import ProblemSpec, sample_keys, sample_problem


def test_sample_is_a_function_of_seed_and_index_only():
    spec = ProblemSpec((3, 2, 2, 3))
    one = [sample_problem(spec, 5, i) for i in (0, 7, 1234)]
    batch = jax.vmap(lambda i: sample_problem(spec, 5, i))(jnp.array([0, 7, 1234]))
    for k, (loss, w0) in enumerate(one):
        np.testing.assert_array_equal(loss.X, batch[0].X[k])
        np.testing.assert_array_equal(loss.Y, batch[0].Y[k])
        for W, Wb in zip(w0, batch[1]):
            np.testing.assert_array_equal(W, Wb[k])
    other_seed, _ = sample_problem(spec, 6, 0)
    assert not np.allclose(other_seed.X, one[0][0].X)


def test_data_and_init_streams_are_separate():
    a = ProblemSpec((3, 2, 3), init="gaussian", init_scale=1.0)
    b = ProblemSpec((3, 2, 3), init="orthogonal", init_scale=0.01)
    (la, wa), (lb, wb) = sample_problem(a, 0, 3), sample_problem(b, 0, 3)
    np.testing.assert_array_equal(la.X, lb.X)
    np.testing.assert_array_equal(la.Y, lb.Y)
    assert not np.allclose(wa[0], wb[0])
    kd, ki = sample_keys(0, 3)
    assert not np.array_equal(jax.random.key_data(kd), jax.random.key_data(ki))


def test_data_models():
    loss, w0 = sample_problem(ProblemSpec((3, 2, 4), data="whitened", n_data=7), 1, 2)
    assert isinstance(loss, QuadraticLoss) and loss.X.shape == (3, 7) and loss.Y.shape == (4, 7)
    np.testing.assert_allclose(loss.X @ loss.X.T, np.eye(3), atol=1e-13)
    teacher, _ = sample_problem(ProblemSpec((3, 1, 2), data="teacher", noise=0.0), 0, 0)
    assert np.linalg.matrix_rank(np.asarray(teacher.Y)) == 1  # Y = M X with rank M ≤ r = 1
    pert, w = sample_problem(ProblemSpec((3, 1, 3), loss="perturbed"), 0, 0)
    assert isinstance(pert, PerturbedDistance) and pert.A.shape == (9, 9) and pert.Q.shape == (3, 3)
    assert [W.shape for W in w] == [(1, 3), (3, 1)]


def _q_singular_values(loss):
    """σ(Q) for `Q = Y Xᵀ Σ_XX^{-1/2}`, computed here with numpy (independent of geomflow)."""
    X, Y = np.asarray(loss.X), np.asarray(loss.Y)
    w, V = np.linalg.eigh(X @ X.T)
    return np.linalg.svd(Y @ X.T @ V @ np.diag(w ** -0.5) @ V.T, compute_uv=False)


def test_hard_data_models():
    """The atlas's hard cases: σ(Q) = 1, 1 − gap, 1 − 2·gap, …; rank YXᵀ = k; Σ_XX with the
    prescribed correlation (its condition number (1 + (d−1)ρ)/(1 − ρ) in expectation)."""
    close, _ = sample_problem(ProblemSpec((4, 2, 3), data="close_spectrum", gap=0.01), 0, 5)
    np.testing.assert_allclose(_q_singular_values(close), [1.0, 0.99, 0.98], atol=1e-12)
    low, _ = sample_problem(ProblemSpec((4, 3, 3, 4), data="low_rank"), 0, 1)
    s = _q_singular_values(low)
    assert s[1] > 1e-3 and np.all(s[2:] < 1e-12 * s[0])  # k = r − 1 = 2
    low0, _ = sample_problem(ProblemSpec((4, 3, 3, 4), data="low_rank", target_rank=1), 0, 1)
    assert np.sum(_q_singular_values(low0) > 1e-12) == 1
    corr = [np.asarray(sample_problem(ProblemSpec((3, 2, 3), data="correlated", n_data=400,
                                                  correlation=0.8), 0, i)[0].X) for i in range(3)]
    for X in corr:
        C = X @ X.T / 400
        np.testing.assert_allclose(C, 0.2 * np.eye(3) + 0.8, atol=0.25)
    # Only a data model's own parameter enters its spec (and so a sweep's fingerprint).
    assert "gap" not in ProblemSpec((3, 2, 3)).to_dict()
    assert ProblemSpec((3, 2, 3), data="low_rank").to_dict()["target_rank"] == 1


@pytest.mark.parametrize("init", ["gaussian", "balanced", "orthogonal"])
def test_init_scale(init):
    spec = ProblemSpec((3, 3, 3), init=init, init_scale=1e-3)
    _, w = sample_problem(spec, 0, 0)
    assert 1e-5 < float(jnp.linalg.norm(w[0])) < 0.2  # balanced: σ^{1/h} per layer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(widths=(3, 0, 3)), "positive integers"),
        (dict(widths=(3, 2, 3), data="uniform"), "unknown data model"),
        (dict(widths=(3, 2, 3), loss="hinge"), "unknown loss"),
        (dict(widths=(3, 2, 3), init="xavier"), "unknown initialisation"),
        (dict(widths=(3, 2, 3), init_scale=-1.0), "init_scale"),
        (dict(widths=(5, 2, 3), data="whitened", n_data=4), "n_data"),
        (dict(widths=(3, 2, 3), n_data=0), "n_data"),
        (dict(widths=(3, 2, 3), data="correlated", correlation=1.0), "correlation"),
        (dict(widths=(3, 2, 3), data="close_spectrum", gap=0.6), "gap must be in"),
        (dict(widths=(3, 2, 3), data="low_rank", target_rank=4), "target_rank"),
        (dict(widths=(3, 2, 3), model="lcn:2,2", data="low_rank"), "needs a linear network"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(GeomflowError, match=message):
        ProblemSpec(**kwargs)
