"""Issue 15: classification that no oracle contradicts, on every representative of a fibre.

A table in the spirit of diffrax's solver tests: critical points of the quadratic loss built by
hand (MATH.md §5: `P_S = U_S U_Sᵀ Y Xᵀ Σ_XX⁻¹`, every index set `|S| ≤ r̄`), factored through
the architecture in three ways, moved along their fibres by random symmetries
`W_i ↦ G_i W_i G_{i−1}⁻¹` (condition numbers up to 1e6) and through data rescalings by 10^±3,
and each checked against an oracle computed here, independently of geomflow:

- the label the theory of §5 gives the construction (non-top `S`: strict; `S = [r̄]`: global
  minimum; `S = [k]`, `k < r̄`: strict for `h = 2`, and for `h ≥ 3` non-strict when balanced, strict
  when a "thread" crosses the hidden layers 1..h−1; `w = 0`: zero Hessian for `h ≥ 3`);
- confirmed at the well-conditioned constructed point by the signature of `jax.hessian` of a
  separately written loss (the trace form `tr(MΣ_XXMᵀ) − 2tr(MXYᵀ) + ‖Y‖²`) and, for strict
  saddles, by the loss decreasing along the eigenvector (`L(w ± tv) < L(w)`).

Factorisations of `P` of rank `k` (all keep `μ(w) = P` and criticality):

- `aligned`: `W_i = F_i diag(s^{1/h}) F_{i−1}ᵀ` with random orthonormal frames (balanced);
- `thread`: aligned plus a rank-one map chain `u_1 → u_2 → ⋯ → u_{h−1}` through vectors
  `u_j ⟂ F_j` (it neither reads the input nor reaches the output); then
  `Hess[Δ, Δ] ∋ 2⟨∇ℓ, Δ_h W_{h−1:2} Δ_1⟩` takes both signs with `P₁ = 0`: strict;
- `partial`: a thread through layers 1..h−2 only: the Hessian's quadratic form is that of the
  aligned point (every term it could enter is multiplied by a zero block), so the label is.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomflow import GeomflowError
from geomflow._balancing import act, balance_weights
from geomflow._critical import CLASS_NAMES, Tolerances, classify_critical_point
from geomflow._losses import QuadraticLoss

ARCHS = [(3, 2, 4), (3, 4, 2, 5), (2, 3, 4, 3), (4, 3, 2, 3, 4), (5, 4, 3, 4, 3), (4, 2, 3, 3, 2, 4)]
KAPPAS = (1e2, 1e4, 1e6)
SCALES = ((1e-3, 1.0), (1.0, 1e3), (1e3, 1e-3), (1e-3, 1e3))  # (X factor, Y factor)


# --------------------------------------------------------------------------------------------
# The independent oracle.


def _oracle_loss(v, X, Y, shapes):
    """`L(w)` in the trace form, products taken left to right (written apart from geomflow)."""
    mats, k = [], 0
    for m, n in shapes:
        mats.append(v[k : k + m * n].reshape(m, n))
        k += m * n
    M = mats[-1]
    for W in mats[-2::-1]:
        M = M @ W
    return jnp.trace(M @ (X @ X.T) @ M.T) - 2 * jnp.trace(M @ X @ Y.T) + jnp.sum(Y * Y)


def _flat(w):
    return np.concatenate([np.ravel(W) for W in w])


_oracle_loss_jit = jax.jit(_oracle_loss, static_argnums=3)
_oracle_hessian = jax.jit(jax.hessian(_oracle_loss), static_argnums=3)


def _oracle_signature(w, X, Y):
    """Eigenvalues of the oracle Hessian, the oracle loss, and whether the eigenvector of the
    smallest eigenvalue is a descent direction of the oracle loss both ways."""
    shapes = tuple(tuple(W.shape) for W in w)
    X, Y = jnp.asarray(X), jnp.asarray(Y)

    def f(v):
        return _oracle_loss_jit(v, X, Y, shapes)

    v = jnp.asarray(_flat(w))
    lam, E = np.linalg.eigh(np.asarray(_oracle_hessian(v, X, Y, shapes)))
    L0 = float(f(v))
    x = jnp.asarray(E[:, 0])
    scale = max(1.0, float(jnp.linalg.norm(v)))
    descent = any(float(f(v + t * x)) < L0 and float(f(v - t * x)) < L0 for t in scale * np.logspace(-1, -4, 7))
    return lam, L0, descent


def _theory_label(S, k, rbar, h, kind):
    top = tuple(S) == tuple(range(1, k + 1))
    if k == 0:
        if kind == "thread":
            return "strict_saddle"
        return "zero_hessian" if h >= 3 else "strict_saddle"
    if not top:
        return "strict_saddle"
    if k == rbar:
        return "global_min"
    if h == 2 or kind == "thread":
        return "strict_saddle"
    return "non_strict_saddle"


def _check_oracle(label, w, X, Y, L_star):
    """The numerical half of the oracle at the well-conditioned point; returns `label`."""
    lam, L0, descent = _oracle_signature(w, X, Y)
    top = np.max(np.abs(lam))
    gap = L0 - L_star
    if label == "strict_saddle":
        assert lam[0] < -1e-6 * top and descent, (lam[:3], descent)
    elif label == "zero_hessian":
        assert top <= 1e-12 * (1 + np.sum(Y * Y)), top
    else:
        assert lam[0] >= -1e-9 * top, lam[:3]
        if label == "global_min":
            assert abs(gap) <= 1e-10 * max(1.0, abs(L_star))
        else:
            assert gap > 1e-6 * max(1.0, abs(L_star))
    return label


# --------------------------------------------------------------------------------------------
# Constructions (numpy, float64).


def _data(rng, widths):
    d0, dh = widths[0], widths[-1]
    s = d0 + 4
    X, Y = rng.standard_normal((d0, s)), rng.standard_normal((dh, s))
    lam, E = np.linalg.eigh(X @ X.T)
    Q = Y @ X.T @ ((E / np.sqrt(lam)) @ E.T)
    U, sig, _ = np.linalg.svd(Q, full_matrices=False)
    return X, Y, U, sig


def _critical_product(X, Y, U, S):
    US = U[:, [i - 1 for i in S]]
    return US @ US.T @ Y @ X.T @ np.linalg.inv(X @ X.T)


def _aligned(P, widths, k, rng):
    h = len(widths) - 1
    if k == 0:
        return [np.zeros((widths[i], widths[i - 1])) for i in range(1, h + 1)], [np.zeros((d, 0)) for d in widths]
    Up, s, Vt = np.linalg.svd(P)
    frames = [Vt[:k].T] + [np.linalg.qr(rng.standard_normal((d, k)))[0] for d in widths[1:-1]] + [Up[:, :k]]
    root = s[:k] ** (1.0 / h)
    return [(frames[i] * root) @ frames[i - 1].T for i in range(1, h + 1)], frames


def _with_thread(w, frames, widths, last, rng):
    """Add the map chain `u_1 → ⋯ → u_last` (`u_j ⟂ F_j`, unit) to the hidden layers."""
    w = [W.copy() for W in w]
    us = {}
    for j in range(1, last + 1):
        x = rng.standard_normal(widths[j])
        x -= frames[j] @ (frames[j].T @ x)
        us[j] = x / np.linalg.norm(x)
    for j in range(1, last):
        w[j] = w[j] + np.outer(us[j + 1], us[j])  # w[j] is W_{j+1}
    return w


def _random_symmetry(rng, d, kappa):
    """`G` with singular values log-spaced over `[κ^{-1/2}, κ^{1/2}]` and its inverse."""
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.logspace(-0.5, 0.5, d) ** np.log10(kappa) if d > 1 else np.array([kappa**0.5])
    return (U * s) @ V.T, (V / s) @ U.T


def _move_along_fibre(w, widths, kappa, rng):
    h = len(w)
    G = [_random_symmetry(rng, widths[i], kappa) for i in range(1, h)]
    out = []
    for i in range(1, h + 1):
        W = w[i - 1]
        if i < h:
            W = G[i - 1][0] @ W
        if i > 1:
            W = W @ G[i - 2][1]
        out.append(W)
    return out


def _rescale(X, Y, w, a, b):
    """Data `(aX, bY)`; the critical points scale by `b/a` in the product, spread over layers."""
    c = (b / a) ** (1.0 / len(w))
    return a * X, b * Y, [c * W for W in w]


def _points(widths, seed):
    """Every constructed point of one architecture: `(S, kind, w, label)` and the data."""
    rng = np.random.default_rng(seed)
    h, r = len(widths) - 1, min(widths)
    X, Y, U, sig = _data(rng, widths)
    q = min(widths[0], widths[-1])
    rbar = min(r, q)
    L_star = float(np.sum(Y * Y) - np.sum(sig[:rbar] ** 2))  # Eckart–Young, computed here
    out = []
    for k in range(rbar + 1):
        for S in itertools.combinations(range(1, q + 1), k):
            w, frames = _aligned(_critical_product(X, Y, U, S), widths, k, rng)
            kinds = [("aligned", w)]
            if h >= 3 and all(widths[j] > k for j in range(1, h)):
                kinds.append(("thread", _with_thread(w, frames, widths, h - 1, rng)))
                if h >= 4:
                    kinds.append(("partial", _with_thread(w, frames, widths, h - 2, rng)))
            for kind, wk in kinds:
                label = _theory_label(S, k, rbar, h, kind if not (kind == "partial" and k == 0) else "aligned")
                out.append((S, kind, wk, _check_oracle(label, wk, X, Y, L_star)))
    return X, Y, L_star, out


def _label(X, Y, w, L_star, **kw):
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    rep = classify_critical_point(loss, tuple(jnp.asarray(W) for W in w), loss_star=jnp.asarray(L_star),
                                  no_bad_minima=True, **kw)
    return CLASS_NAMES[int(rep.label)], rep


def _run_table(widths, seed, kappas, scales, reps=1):
    """Classify every point of `widths` as built, moved along its fibre, and rescaled; return the
    disagreements with the oracle and the number of classifications."""
    X, Y, L_star, pts = _points(widths, seed)
    rng = np.random.default_rng(seed + 1000)
    bad, n = [], 0
    for S, kind, w, expected in pts:
        variants = [("as built", X, Y, w, L_star)]
        for kappa in kappas:
            for j in range(reps):
                variants.append((f"κ={kappa:g}#{j}", X, Y, _move_along_fibre(w, widths, kappa, rng), L_star))
        for a, b in scales:
            Xs, Ys, ws = _rescale(X, Y, w, a, b)
            variants.append((f"X·{a:g}, Y·{b:g}", Xs, Ys, ws, b * b * L_star))
            ws = _move_along_fibre(ws, widths, 1e4, rng)
            variants.append((f"X·{a:g}, Y·{b:g}, κ=1e4", Xs, Ys, ws, b * b * L_star))
        for name, Xv, Yv, wv, Lv in variants:
            got, rep = _label(Xv, Yv, wv, Lv)
            n += 1
            if got != expected:
                bad.append((widths, S, kind, name, expected, got, float(rep.eig_min), float(rep.eig_bound)))
    return bad, n


# --------------------------------------------------------------------------------------------
# Must-show 1: 0 disagreements, labels unchanged along fibres and under rescalings.


@pytest.mark.parametrize("widths", [(3, 4, 2, 5), (4, 3, 2, 3, 4)], ids=lambda w: "-".join(map(str, w)))
def test_constructed_points_fast_subset(widths):
    bad, n = _run_table(widths, 0, kappas=(1e3, 1e6), scales=((1e-3, 1e3),))
    assert not bad, f"{len(bad)} of {n} disagree: {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("widths", ARCHS, ids=lambda w: "-".join(map(str, w)))
def test_constructed_points_full_table(widths):
    bad, n = _run_table(widths, 1, kappas=KAPPAS, scales=SCALES, reps=2)
    print(f"{widths}: {n} classifications, {len(bad)} disagreements")
    assert not bad, f"{len(bad)} of {n} disagree: {bad}"


def test_oracle_can_fail():
    """The oracle is not a tautology: the wrong theory label for a point is rejected."""
    X, Y, L_star, pts = _points((3, 4, 2, 5), 0)
    S, kind, w, label = next(p for p in pts if p[3] == "non_strict_saddle")
    with pytest.raises(AssertionError):
        _check_oracle("strict_saddle", w, X, Y, L_star)
    S, kind, w, label = next(p for p in pts if p[3] == "strict_saddle" and p[1] == "thread")
    with pytest.raises(AssertionError):
        _check_oracle("non_strict_saddle", w, X, Y, L_star)


def test_issue_points_large_max_eigenvalue():
    """The failure the issue reports: a strict saddle whose `max λ` is large at an unbalanced
    representative (eigenvalue threshold relative to `max|λ|`) is still strict."""
    widths = (4, 3, 2, 3, 4)
    X, Y, L_star, pts = _points(widths, 3)
    rng = np.random.default_rng(5)
    for S, kind, w, label in pts:
        if label != "strict_saddle":
            continue
        wv = _move_along_fibre(w, widths, 1e3, rng)
        lam, _, _ = _oracle_signature(wv, X, Y)
        got, rep = _label(X, Y, wv, L_star)
        assert got == "strict_saddle", (S, kind, lam[0], lam[-1], rep)


# --------------------------------------------------------------------------------------------
# Undecided rather than a guess; bad input.


def test_unresolvable_point_is_undecided_not_a_guess():
    """Moved along its fibre by a symmetry of condition 1e12 per layer, a non-strict saddle's
    float64 representation no longer resolves its Hessian: the label is `undecided` or the
    right one, never another decided label."""
    widths = (3, 4, 2, 5)
    X, Y, L_star, pts = _points(widths, 0)
    rng = np.random.default_rng(7)
    seen = set()
    for S, kind, w, label in pts:
        if label not in ("non_strict_saddle", "strict_saddle"):
            continue
        wv = _move_along_fibre(w, widths, 1e12, rng)
        got, _ = _label(X, Y, wv, L_star)
        assert got in (label, "undecided", "not_critical"), (S, kind, label, got)
        seen.add(got)
    assert "undecided" in seen or "not_critical" in seen


@pytest.mark.parametrize(
    "weights,match",
    [
        ((np.zeros((2, 3)), np.zeros((3, 3))), "do not chain"),
        ((np.zeros((2, 4)), np.zeros((2, 2))), "do not fit the loss"),
        ((np.zeros((2, 3)), np.zeros((2, 2)), np.zeros(3)), "2-D"),
        ((), "non-empty"),
    ],
)
def test_wrong_shapes_raise_one_line_error(weights, match):
    loss = QuadraticLoss(jnp.ones((3, 5)), jnp.ones((2, 5)))
    with pytest.raises(GeomflowError, match=match) as e:
        classify_critical_point(loss, tuple(jnp.asarray(W) for W in weights))
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------------------------
# The symmetry normalisation itself.


def test_balancing_keeps_the_product_and_balances_a_closed_orbit():
    rng = np.random.default_rng(2)
    widths = (4, 3, 2, 3, 4)
    X, Y, L_star, pts = _points(widths, 2)
    w = next(p[2] for p in pts if p[1] == "aligned" and len(p[0]) == 2)
    wv = _move_along_fibre(w, widths, 1e4, rng)
    b = balance_weights(tuple(jnp.asarray(W) for W in wv))
    P0 = np.linalg.multi_dot(w[::-1])
    np.testing.assert_allclose(np.linalg.multi_dot([np.asarray(W) for W in b.weights][::-1]), P0, atol=1e-8)
    for i in range(len(w) - 1):
        Wi, Wn = np.asarray(b.weights[i]), np.asarray(b.weights[i + 1])
        np.testing.assert_allclose(Wn.T @ Wn, Wi @ Wi.T, atol=1e-6)
    # the balanced point is the constructed one up to orthogonal changes of basis
    for W0, Wb in zip(w, b.weights):
        np.testing.assert_allclose(np.linalg.svd(W0, compute_uv=False), np.linalg.svd(np.asarray(Wb), compute_uv=False), atol=1e-6)
    assert float(b.cond) > 1e3
    # T maps the input to the output
    out = act(tuple(jnp.asarray(W) for W in wv), b.transforms, b.inverses)
    for a, c in zip(out, b.weights):
        np.testing.assert_allclose(a, c, atol=1e-12)


def test_balancing_keeps_a_thread_resolvable():
    """A thread is a non-closed part of the orbit (the sweeps shrink it); after balancing it has
    the scale of the rest again, so the negative curvature it carries stays well above rounding."""
    widths = (4, 2, 3, 3, 2, 4)
    X, Y, L_star, pts = _points(widths, 0)
    S, kind, w, label = next(p for p in pts if p[1] == "thread" and p[0] == (1,))
    got, rep = _label(X, Y, w, L_star)
    lam, _, _ = _oracle_signature(w, X, Y)
    assert got == "strict_saddle"
    assert float(rep.eig_min) < -1e-2 * float(rep.eig_max)  # not shrunk to rounding level
    assert float(rep.eig_bound) < 1e-6 * float(rep.eig_max)
    assert lam[0] < 0


def test_tolerances_are_traced():
    widths = (3, 4, 2, 5)
    X, Y, L_star, pts = _points(widths, 0)
    S, kind, w, label = pts[3]
    _label(X, Y, w, L_star)
    before = classify_critical_point._cache_size()
    _label(X, Y, w, L_star, tolerances=Tolerances(eig=1e-6, safety=2.0, resolution=1e-3))
    assert classify_critical_point._cache_size() == before


# --------------------------------------------------------------------------------------------
# Must-show 2: the flow engine's finalisation inherits the labels.


def _through_flow(widths, seed, kappa=None, flows=False):
    """Each constructed point handed to the engine's finalisation as the end of a converged run
    (`finalise_batch`: polish, then the engine's classification), next to the direct label.

    A flow started *at* a strict saddle may legitimately leave it (rounding seeds the unstable
    direction), so the finalisation is fed the constructed end points directly; `run_problems`
    is exercised as well, and its labels must agree wherever its run ended where it started."""
    from geomflow._finalise import finalise_batch
    from geomflow._flow import CONVERGED, FlowConfig, run_problems
    from geomflow._sampling import ProblemSpec
    from geomflow._scheduler import given_problems

    X, Y, L_star, pts = _points(widths, seed)
    rng = np.random.default_rng(seed + 2000)
    ws = [p[2] if kappa is None else _move_along_fibre(p[2], widths, kappa, rng) for p in pts]
    n = len(pts)
    losses = QuadraticLoss(jnp.asarray(np.stack([X] * n)), jnp.asarray(np.stack([Y] * n)))
    W = tuple(jnp.asarray(np.stack([w[i] for w in ws])) for i in range(len(widths) - 1))
    spec = ProblemSpec(widths, n_data=X.shape[1])
    flat = np.stack([_flat(w) for w in ws])
    raw = {"y": flat, "y0": flat, "status": np.full(n, CONVERGED, np.int32), "t": np.ones(n),
           "steps": np.ones(n, np.int32), "accepted": np.ones(n, np.int32),
           "grad_norm": np.zeros(n), "max_drift": np.zeros(n)}
    fin = finalise_batch(spec, FlowConfig(), 0, np.arange(n), raw, problems=given_problems(losses, W),
                         loss_star=L_star, no_bad_minima=True)
    rec = run_problems(spec, losses, W, pool_size=max(8, n), loss_star=L_star, no_bad_minima=True)[0] if flows else None
    direct = [_label(X, Y, w, L_star)[0] for w in ws]
    out = []
    for i, (S, kind, _, expected) in enumerate(pts):
        out.append((S, kind, expected, CLASS_NAMES[fin["label"][i]], direct[i]))
        L0 = float(_oracle_loss_jit(jnp.asarray(_flat(ws[i])), jnp.asarray(X), jnp.asarray(Y),
                                    tuple(tuple(W.shape) for W in ws[i])))
        stayed = flows and rec["status"][i] == CONVERGED and abs(rec["loss"][i] - L0) <= 1e-9 * max(1.0, abs(L0))
        if stayed:  # the run ended at its (critical) start: the same decision
            assert CLASS_NAMES[rec["label"][i]] == direct[i], (S, kind, rec["label"][i], direct[i])
    return out


@pytest.mark.parametrize("widths", [(3, 4, 2, 5)], ids=lambda w: "-".join(map(str, w)))
def test_flow_finalisation_gives_the_same_labels(widths):
    rows = _through_flow(widths, 0)
    bad = [r for r in rows if not (r[2] == r[3] == r[4])]
    assert not bad, bad


@pytest.mark.slow
@pytest.mark.parametrize("widths", ARCHS, ids=lambda w: "-".join(map(str, w)))
@pytest.mark.parametrize("kappa", [None, 1e3])
def test_flow_finalisation_gives_the_same_labels_full(widths, kappa):
    rows = _through_flow(widths, 4, kappa, flows=True)
    print(f"{widths} κ={kappa}: {len(rows)} points through run_problems")
    bad = [r for r in rows if not (r[2] == r[3] == r[4])]
    assert not bad, bad


def test_value_test_decides_exactly_the_global_minima():
    """`global_by_value` (the finalisation's shortcut) says True on the constructed global minima,
    as built and moved along their fibres, and False on every saddle and zero-Hessian point: it
    never pre-empts a spectral decision the oracle would contradict."""
    from geomflow._critical import global_by_value

    widths = (3, 4, 2, 5)
    X, Y, L_star, pts = _points(widths, 0)
    rng = np.random.default_rng(11)
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    seen = set()
    for S, kind, w, expected in pts:
        for wv in (w, _move_along_fibre(w, widths, 1e3, rng)):
            got = bool(global_by_value(loss, tuple(jnp.asarray(W) for W in wv), loss_star=L_star).is_global)
            assert got == (expected == "global_min"), (S, kind, expected)
            seen.add(expected)
    assert {"global_min", "strict_saddle", "non_strict_saddle"} <= seen
