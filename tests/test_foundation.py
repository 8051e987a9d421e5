"""Foundation (issue 2): the one-sample mathematics against closed forms and constructed cases."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomflow._critical import (
    CLASS_NAMES,
    GLOBAL_MIN,
    NOT_CRITICAL,
    STRICT_SADDLE,
    classify_critical_point,
    hessian_quadratic_form,
    is_pure,
    network_gradient,
    network_hessian,
)
from geomflow._invariants import balance_invariants, gd_invariant_drift
from geomflow._losses import HadamardDistance, PerturbedDistance, QuadraticLoss, network_loss
from geomflow._networks import (
    architecture,
    flatten_weights,
    init_gaussian,
    product,
    unflatten_weights,
)
from geomflow._oracles import (
    critical_index_set,
    critical_product,
    critical_values,
    expected_zero_eigenvalues,
    global_min_value,
    whitening,
)

ARCHS = [(3, 2, 3), (3, 2, 2, 3), (2, 3, 1, 4, 2), (4, 3, 3, 2, 2, 3)]


def _data(rng, arch, s=7):
    d = arch.widths
    return jnp.asarray(rng.standard_normal((d[0], s))), jnp.asarray(rng.standard_normal((d[-1], s)))


def _random_weights(rng, arch, scale=1.0):
    return tuple(jnp.asarray(scale * rng.standard_normal(s)) for s in arch.weight_shapes)


@pytest.mark.parametrize("widths", ARCHS)
def test_hessian_matches_closed_form_quadratic_form(widths, rng):
    """Must-show 1: autodiff Hessian == MATH.md §4 closed form, relative error < 1e-10."""
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    for _ in range(3):
        w = _random_weights(rng, arch)
        H = network_hessian(loss, w)
        for _ in range(4):
            delta = _random_weights(rng, arch)
            dv = flatten_weights(delta)
            auto = dv @ H @ dv
            closed = hessian_quadratic_form(loss, w, delta)
            assert abs(auto - closed) <= 1e-10 * max(1.0, abs(float(closed))), (auto, closed)


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda rng, m, n: PerturbedDistance(jnp.asarray(rng.standard_normal((m * n, m * n))), jnp.asarray(rng.standard_normal((m, n)))),
        lambda rng, m, n: HadamardDistance(jnp.asarray(rng.uniform(size=(m, n))), jnp.asarray(rng.standard_normal((m, n)))),
    ],
    ids=["perturbed", "hadamard"],
)
def test_hessian_closed_form_other_losses(make_loss, rng):
    arch = architecture((3, 1, 2, 4))
    loss = make_loss(rng, 4, 3)
    w = _random_weights(rng, arch)
    H = network_hessian(loss, w)
    delta = _random_weights(rng, arch)
    dv = flatten_weights(delta)
    assert abs(dv @ H @ dv - hessian_quadratic_form(loss, w, delta)) <= 1e-10 * max(1.0, abs(float(dv @ H @ dv)))


@pytest.mark.parametrize("widths", ARCHS)
def test_closed_form_gradient_equals_autodiff(widths, rng):
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    w = _random_weights(rng, arch)
    g = network_gradient(loss, w)
    ga = jax.grad(lambda w: network_loss(loss, w))(w)
    for a, b in zip(g, ga):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("widths", ARCHS)
def test_balance_invariants_conserved_by_vector_field(widths, rng):
    """Must-show 2a: ⟨∇δ, ∇L⟩ = 0, i.e. the derivative of δ along −∇L vanishes to round-off."""
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    w = _random_weights(rng, arch)
    g = network_gradient(loss, w)
    _, ddelta = jax.jvp(balance_invariants, (w,), (tuple(-gi for gi in g),))
    scale = max(float(jnp.linalg.norm(gi)) for gi in g) * max(float(jnp.linalg.norm(W)) for W in w)
    for d in ddelta:
        assert float(jnp.max(jnp.abs(d))) <= 1e-13 * scale
    # and a random direction does change δ (the test can fail)
    _, dr = jax.jvp(balance_invariants, (w,), (_random_weights(rng, arch),))
    assert max(float(jnp.max(jnp.abs(d))) for d in dr) > 1e-3


@pytest.mark.parametrize("widths", ARCHS)
@pytest.mark.parametrize("eta", [1e-3, 0.05])
def test_gradient_descent_drift_identity(widths, eta, rng):
    """Must-show 2b: δ(w − ηg) − δ(w) = η²(g_{i+1}ᵀg_{i+1} − g_i g_iᵀ) to 1e-12."""
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    w = _random_weights(rng, arch, 0.5)
    g = network_gradient(loss, w)
    w1 = tuple(W - eta * gi for W, gi in zip(w, g))
    measured = [b - a for a, b in zip(balance_invariants(w), balance_invariants(w1))]
    predicted = gd_invariant_drift(g, eta)
    for m, p in zip(measured, predicted):
        scale = max(1.0, float(jnp.max(jnp.abs(p))))
        assert float(jnp.max(jnp.abs(m - p))) <= 1e-12 * scale * 10, float(jnp.max(jnp.abs(m - p)))
        assert float(jnp.max(jnp.abs(p))) > 0


# --------------------------------------------------------------------------------------------
# Classifier on constructed critical points (must-show 3).


def _classify(loss, w, widths, X, Y, **kw):
    r = architecture(widths).rank
    rep = classify_critical_point(loss, w, loss_star=global_min_value(X, Y, r), **kw)
    return CLASS_NAMES[int(rep.label)], rep


def test_zero_is_strict_saddle_for_h2_with_known_spectrum(rng):
    widths = (3, 2, 4)
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    w = tuple(jnp.zeros(s) for s in arch.weight_shapes)
    name, _ = _classify(loss, w, widths, X, Y, no_bad_minima=True)
    assert name == "strict_saddle"
    lam = np.sort(np.linalg.eigvalsh(np.asarray(network_hessian(loss, w))))
    s = np.linalg.svd(np.asarray(Y @ X.T), compute_uv=False)
    d1 = widths[1]
    expected = np.concatenate([2 * s, -2 * s] * d1)
    expected = np.sort(np.concatenate([expected, np.zeros(arch.num_params - expected.size)]))
    np.testing.assert_allclose(lam, expected, atol=1e-10)


@pytest.mark.parametrize("widths", [(2, 2, 2, 2), (3, 2, 2, 3), (2, 3, 1, 4, 2)])
def test_zero_has_zero_hessian_for_h_at_least_3(widths, rng):
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    w = tuple(jnp.zeros(s) for s in arch.weight_shapes)
    name, rep = _classify(loss, w, widths, X, Y, no_bad_minima=True)
    assert name == "zero_hessian"
    assert int(rep.n_zero) == arch.num_params


def _balanced_factorisation(P, widths, rng):
    """Balanced `W_i = U_i Σ^{1/h} U_{i−1}ᵀ` with `μ(w) = P` (P of rank k ≤ r)."""
    h = len(widths) - 1
    U, s, Vt = np.linalg.svd(np.asarray(P))
    k = int(np.sum(s > 1e-10 * s[0]))
    frames = [Vt[:k].T]
    for d in widths[1:-1]:
        q, _ = np.linalg.qr(rng.standard_normal((d, k)))
        frames.append(q)
    frames.append(U[:, :k])
    root = s[:k] ** (1.0 / h)
    return tuple(jnp.asarray((frames[i] * root) @ frames[i - 1].T) for i in range(1, h + 1))


def _whitened_data(rng, widths, s=None):
    d0, dh = widths[0], widths[-1]
    s = s or d0 + 3
    q, _ = np.linalg.qr(rng.standard_normal((s, d0)))
    X = q.T  # XXᵀ = I
    Y = rng.standard_normal((dh, s))
    return jnp.asarray(X), jnp.asarray(Y)


@pytest.mark.parametrize(
    "widths,expected",
    [((3, 3, 3), "strict_saddle"), ((4, 3, 4), "strict_saddle"), ((3, 3, 3, 3), "non_strict_saddle"), ((4, 3, 3, 3, 4), "non_strict_saddle")],
)
def test_balanced_rank_k_factorisation_of_top_k(widths, expected, rng):
    """P_[k], k < r̄, balanced: strict for h = 2, non-strict for h ≥ 3; the higher-order test
    agrees with the theory on its own (without `no_bad_minima`)."""
    X, Y = _whitened_data(rng, widths)
    k = 1
    P = critical_product(X, Y, tuple(range(1, k + 1)))
    w = _balanced_factorisation(P, widths, rng)
    loss = QuadraticLoss(X, Y)
    assert float(jnp.linalg.norm(flatten_weights(network_gradient(loss, w)))) < 1e-10
    for theory in (True, False):
        name, rep = _classify(loss, w, widths, X, Y, no_bad_minima=theory)
        assert name == expected, (theory, name, rep)
    # the index set is recovered
    bits, valid = critical_index_set(X, Y, product(w))
    assert bool(valid) and int(bits) == 1


def test_index_set_of_a_rank_deficient_target(rng):
    """`Y = M X` with `rank M = 1`: the global minimum `P = M` has index set {1}; the zero
    singular directions of `Q` (numerically ~1e-16, not 0) are members of no `S`, whatever
    `C_ii / σ_i` says about rounding noise over rounding noise."""
    X = jnp.asarray(rng.normal(size=(3, 10)))
    M = jnp.asarray(np.outer(rng.normal(size=3), rng.normal(size=3)))
    Y = M @ X
    for noise in (0.0, 1e-15, -1e-15):  # P off M by rounding, either sign
        bits, valid = critical_index_set(X, Y, M + noise * jnp.ones((3, 3)))
        assert bool(valid) and int(bits) == 1, (noise, int(bits))


@pytest.mark.parametrize("widths", [(3, 2, 3), (3, 2, 2, 3), (4, 3, 3, 4)])
def test_non_top_index_set_is_strict_saddle(widths, rng):
    X, Y = _whitened_data(rng, widths)
    r = architecture(widths).rank
    S = tuple(range(2, r + 2)) if r + 1 <= min(widths[0], widths[-1]) else (2,)
    P = critical_product(X, Y, S)
    w = _balanced_factorisation(P, widths, rng)
    loss = QuadraticLoss(X, Y)
    name, rep = _classify(loss, w, widths, X, Y, no_bad_minima=True)
    assert name == "strict_saddle", rep
    bits, valid = critical_index_set(X, Y, product(w))
    assert bool(valid) and int(bits) == sum(2 ** (i - 1) for i in S)
    # the loss is the oracle's critical value for S
    vals = dict(critical_values(X, Y, r))
    assert abs(float(network_loss(loss, w)) - vals[S]) < 1e-10


@pytest.mark.parametrize("widths", [(3, 2, 3), (3, 2, 2, 3), (2, 3, 4), (3, 4, 2, 4), (2, 3, 3, 2)])
def test_global_min_has_expected_zero_eigenvalues(widths, rng):
    arch = architecture(widths)
    X, Y = _data(rng, arch)  # non-whitened data
    r = arch.rank
    rbar = min(r, widths[0], widths[-1])
    P = critical_product(X, Y, tuple(range(1, rbar + 1)))
    # balanced factorisation of P through the whitened coordinates
    w = _balanced_factorisation(P, widths, rng)
    loss = QuadraticLoss(X, Y)
    name, rep = _classify(loss, w, widths, X, Y, no_bad_minima=True)
    assert name == "global_min", rep
    assert int(rep.n_zero) == expected_zero_eigenvalues(arch, rbar)
    # Morse–Bott decides on its own: without L* the point is a (strict, modulo fibre) local min
    rep2 = classify_critical_point(loss, w)
    assert CLASS_NAMES[int(rep2.label)] == "local_min"
    assert bool(is_pure(loss, w))


def _shift(n):
    return jnp.asarray(np.eye(n, k=-1))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_nilpotent_shift_is_critical_iff_h_at_least_2n(n, rng):
    for h in range(1, 2 * n + 3):
        widths = (n,) * (h + 1)
        X, Y = _data(rng, architecture(widths))
        loss = QuadraticLoss(X, Y)
        w = tuple(_shift(n) for _ in range(h))
        gnorm = float(jnp.linalg.norm(flatten_weights(network_gradient(loss, w))))
        assert (gnorm < 1e-12) == (h >= 2 * n), (n, h, gnorm)
        if h in (2 * n - 1, 2 * n):  # the classifier agrees on both sides of the threshold
            rep = classify_critical_point(loss, w, loss_star=global_min_value(X, Y, n), no_bad_minima=True)
            assert (int(rep.label) == NOT_CRITICAL) == (h < 2 * n)


def test_index_set_oracle_against_enumeration(rng):
    """Every S with |S| ≤ r gives a critical point with the oracle's critical value."""
    widths = (3, 2, 3)
    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    for S, value in critical_values(X, Y, arch.rank):
        if not S:
            continue
        w = _balanced_factorisation(critical_product(X, Y, S), widths, rng)
        g = flatten_weights(network_gradient(loss, w))
        assert float(jnp.linalg.norm(g)) < 1e-10
        assert abs(float(network_loss(loss, w)) - value) < 1e-10
        top = S == tuple(range(1, len(S) + 1))
        label = int(classify_critical_point(loss, w, loss_star=global_min_value(X, Y, 2), no_bad_minima=True).label)
        if len(S) == 2 and top:
            assert label == GLOBAL_MIN
        else:
            assert label == STRICT_SADDLE  # h = 2: every non-global critical point is strict


@pytest.mark.parametrize("widths", [(3, 2, 3), (3, 2, 2, 3), (2, 4, 3)])
def test_global_min_value_is_a_lower_bound_reached_by_optimisation(widths, rng):
    """Must-show 4 (optimiser half; the flow half lives in the flow tests): L* from the oracle is
    never beaten by random points, and BFGS from random starts reaches it."""
    from scipy.optimize import minimize

    arch = architecture(widths)
    X, Y = _data(rng, arch)
    loss = QuadraticLoss(X, Y)
    Ls = float(global_min_value(X, Y, arch.rank))
    f = jax.jit(lambda v: network_loss(loss, unflatten_weights(arch, v)))
    g = jax.jit(jax.grad(lambda v: network_loss(loss, unflatten_weights(arch, v))))
    pts = rng.standard_normal((2000, arch.num_params)) * rng.uniform(0.1, 3, size=(2000, 1))
    assert float(jnp.min(jax.vmap(f)(jnp.asarray(pts)))) >= Ls - 1e-12
    best = np.inf
    for _ in range(5):
        res = minimize(lambda v: float(f(v)), rng.standard_normal(arch.num_params),
                       jac=lambda v: np.asarray(g(v)), method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
        assert res.fun >= Ls - 1e-10
        best = min(best, res.fun)
    assert abs(best - Ls) <= 1e-8 * max(1, abs(Ls))


def test_whitening_identities(rng):
    X = jnp.asarray(rng.standard_normal((3, 9)))
    Y = jnp.asarray(rng.standard_normal((2, 9)))
    wh = whitening(X, Y)
    np.testing.assert_allclose(wh.sqrt_sigma @ wh.sqrt_sigma, X @ X.T, atol=1e-12)
    np.testing.assert_allclose(wh.sqrt_sigma @ wh.inv_sqrt_sigma, np.eye(3), atol=1e-12)
    M = jnp.asarray(rng.standard_normal((2, 3)))
    Q = wh.U @ jnp.diag(wh.sigma) @ wh.V.T
    lhs = QuadraticLoss(X, Y)(M)
    rhs = jnp.sum((M @ wh.sqrt_sigma - Q) ** 2) + jnp.sum(Y**2) - jnp.sum(Q**2)
    assert abs(float(lhs - rhs)) < 1e-10


def test_inits_shapes_and_balance(rng):
    from geomflow._networks import init_balanced, init_orthogonal, initialise

    arch = architecture((3, 4, 2, 5))
    key = jax.random.key(1)
    for w in (init_gaussian(key, arch), init_balanced(key, arch, 0.5), init_orthogonal(key, arch, 2.0)):
        assert [W.shape for W in w] == list(arch.weight_shapes)
    for d in balance_invariants(init_balanced(key, arch, 0.7)):
        assert float(jnp.max(jnp.abs(d))) < 1e-12
    for W in init_orthogonal(key, arch, 2.0):
        np.testing.assert_allclose(np.linalg.svd(np.asarray(W), compute_uv=False), 2.0, atol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(initialise("gaussian", key, arch), init_gaussian(key, arch)))


def test_architecture_facts():
    a = architecture((3, 2, 2, 3))
    assert (a.rank, a.filling, a.num_params, a.neuromanifold_dim, a.b, a.fibre_components) == (2, False, 16, 8, 2, 4)
    b = architecture((2, 3, 4))
    assert b.filling and b.neuromanifold_dim == 8 and b.b == 0
    c = architecture((4, 1, 4))
    assert c.neuromanifold_dim == 7 and c.bottlenecks == (1,)


def test_new_tolerances_or_data_do_not_recompile(rng):
    """Tolerances and data are traced: changing them reuses the compiled classifier."""
    from geomflow._critical import Tolerances

    widths = (2, 2, 2)
    arch = architecture(widths)
    w = tuple(jnp.zeros(s) for s in arch.weight_shapes)
    X, Y = _data(rng, arch)
    classify_critical_point(QuadraticLoss(X, Y), w, loss_star=jnp.asarray(0.0), no_bad_minima=True, tolerances=Tolerances())
    before = classify_critical_point._cache_size()
    for t in (1e-6, 1e-9):
        X, Y = _data(rng, arch)
        tol = Tolerances(grad=t, eig=t, loss=t, higher_order=t, rank=t)
        classify_critical_point(QuadraticLoss(X, Y), w, loss_star=jnp.asarray(1.0), no_bad_minima=True, tolerances=tol)
    assert classify_critical_point._cache_size() == before
