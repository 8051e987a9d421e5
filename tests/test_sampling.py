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
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(GeomflowError, match=message):
        ProblemSpec(**kwargs)
