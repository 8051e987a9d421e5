"""ED degree of the circle and the ellipse, and the ED discriminant (the evolute).

Illustrates the ED-degree claims of the talk (MATH.md §3; claim 6 in issue 6): the squared
distance from a point `q` to the unit circle has `δ = 2` complex critical points (both real for
every `q ≠ 0`; the ED discriminant is the centre), while after a linear change of coordinates,
the ellipse `x²/a² + y²/b² = 1`, it has `δ = 4 = δ^gen(circle)`. The number of *real* critical
points is 4 inside the evolute (the astroid-like curve `((a²−b²)/a·cos³t, −(a²−b²)/b·sin³t)`,
the ED discriminant) and 2 outside it.

Method: Lagrange, `q − p = λ·(x/a², y/b²)` gives `p = (a²u/(a² − λ), b²v/(b² − λ))` for
`q = (u, v)`, and `p` on the curve is the quartic
`F_q(λ) = a²u²(b² − λ)² + b²v²(a² − λ)² − (a² − λ)²(b² − λ)² = 0`; real roots are real critical
points. Its roots are found for a whole grid of `q` at once (eigenvalues of the companion
matrices). For the circle (`a = b`) the quartic has the factor `(a² − λ)²`, which gives no point
of the curve, leaving `δ = 2`. Each real critical point is a local minimum or maximum of the distance
along the curve (the sign of the second derivative of `t ↦ ‖q − p(t)‖²`).

Measured outcome (quick default, a = 2, b = 1, 240 × 240 grid of q on [−3.5, 3.5]²; the numbers are
in `figures/ed_ellipse.json`):
- circle: 2 complex critical points at every grid q, both real, one minimum and one maximum;
- ellipse: 4 complex critical points at every grid q; 4 real inside the evolute, 2 outside:
  the real count agrees with the "inside the evolute" test at 100% of the grid points farther
  than 0.02 from the evolute (57 040 of 57 040); 4 real points are always 2 minima and 2 maxima;
- the count changes only across the evolute: every grid cell whose count differs from a
  neighbour's lies within one grid step of the evolute.

Run: `python experiments/fig_ed_ellipse.py [--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 12  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "ed_ellipse"
SIZES = {"tiny": 40, "quick": 240, "full": 800}  # even: no grid point on an axis
A, B = 2.0, 1.0
REAL_TOL = 1e-7


def quartic_coefficients(u, v, a: float, b: float) -> np.ndarray:
    """Coefficients (highest first) of the Lagrange quartic `F_q(λ)`; shape `(…, 5)`.

    `F_q(λ) = a²u²(b² − λ)² + b²v²(a² − λ)² − (a² − λ)²(b² − λ)²`, leading coefficient −1.
    """
    u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
    A2, B2 = a * a, b * b
    p1 = np.array([1.0, -2 * B2, B2 * B2])  # (b² − λ)²
    p2 = np.array([1.0, -2 * A2, A2 * A2])  # (a² − λ)²
    p12 = np.polymul(p1, p2)
    out = -np.broadcast_to(p12, u.shape + (5,)).copy()
    out[..., 2:] += (A2 * u * u)[..., None] * p1 + (B2 * v * v)[..., None] * p2
    return out


def _roots(coeffs: np.ndarray) -> np.ndarray:
    """Roots of many polynomials (non-zero leading coefficient) via companion eigenvalues."""
    mon = coeffs[..., 1:] / coeffs[..., :1]
    n = mon.shape[-1]
    C = np.zeros(coeffs.shape[:-1] + (n, n))
    C[..., 0, :] = -mon
    C[..., np.arange(1, n), np.arange(n - 1)] = 1.0
    return np.linalg.eigvals(C)


def _points(lam, u, v, a, b):
    """The curve point of a multiplier `λ`: `x = a²u/(a² − λ)`, `y = b²v/(b² − λ)`."""
    return a * a * u / (a * a - lam), b * b * v / (b * b - lam)


def _is_real(roots):
    return np.abs(roots.imag) <= REAL_TOL * np.maximum(1.0, np.abs(roots))


def critical_points(q, a: float = A, b: float = B):
    """All complex critical points of `‖q − p‖²` on the ellipse (circle if `a = b`).

    **Returns:** `(points, t, is_min, n_complex)`: the real critical points `(k, 2)`, their
    parameters `t` (`p = (a cos t, b sin t)`), whether each is a local minimum of the distance
    along the curve, and the number of complex critical points.
    """
    u, v = float(q[0]), float(q[1])
    coeffs = quartic_coefficients(u, v, a, b)
    if a == b:
        # F_q(λ) = (a² − λ)²(a²|q|² − (a² − λ)²): the factor (a² − λ)² has no curve point.
        quot, rem = np.polydiv(coeffs, np.array([1.0, -2 * a * a, a**4]))
        assert np.allclose(rem, 0.0, atol=1e-9 * max(1.0, np.abs(coeffs).max()))
        roots = np.roots(quot)
    else:
        roots = np.roots(coeffs)
    real = roots[_is_real(roots)].real
    x, y = _points(real, u, v, a, b)
    t = np.arctan2(y / b, x / a)
    pts = np.stack([a * np.cos(t), b * np.sin(t)], axis=-1)
    return pts, t, _is_min(t, u, v, a, b), len(roots)


def _is_min(t, u, v, a, b):
    # f(t) = ‖q − p(t)‖²/2; f'' = ‖p′‖² − (q − p)·p″ with p″ = −p.
    c, s = np.cos(t), np.sin(t)
    dp2 = (a * s) ** 2 + (b * c) ** 2
    qp = (u - a * c) * (-a * c) + (v - b * s) * (-b * s)
    return dp2 - qp > 0


def real_counts(U, V, a: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(n_real, n_complex, n_min)` on a grid of points `q = (U, V)` (`q` off the axes)."""
    if a == b:
        # (a² − λ)² = a²|q|²: two real roots for every q ≠ 0, one the nearest point.
        r2 = U * U + V * V
        return np.where(r2 > 0, 2, 0), np.full(U.shape, 2), np.where(r2 > 0, 1, 0)
    roots = _roots(quartic_coefficients(U, V, a, b))
    isreal = _is_real(roots)
    x, y = _points(roots.real, U[..., None], V[..., None], a, b)
    t = np.arctan2(y / b, x / a)
    mins = _is_min(t, U[..., None], V[..., None], a, b) & isreal
    return isreal.sum(-1), np.full(U.shape, roots.shape[-1]), mins.sum(-1)


def evolute(a: float, b: float, n: int = 800) -> np.ndarray:
    """The evolute of the ellipse (its ED discriminant), `(n, 2)`."""
    t = np.linspace(0, 2 * np.pi, n)
    c = a * a - b * b
    return np.stack([c / a * np.cos(t) ** 3, -c / b * np.sin(t) ** 3], axis=-1)


def inside_evolute(U, V, a: float, b: float) -> np.ndarray:
    c = a * a - b * b
    return np.abs(a * U / c) ** (2 / 3) + np.abs(b * V / c) ** (2 / 3) < 1


def distance_to_curve(U, V, curve: np.ndarray) -> np.ndarray:
    P = np.stack([U.ravel(), V.ravel()], -1)
    d = np.full(P.shape[0], np.inf)
    for k in range(0, curve.shape[0], 200):
        seg = curve[k : k + 200]
        d = np.minimum(d, np.min(np.linalg.norm(P[:, None, :] - seg[None], axis=-1), axis=1))
    return d.reshape(U.shape)


def run(args) -> dict:
    n = SIZES[args.size]
    lim = 3.5
    xs = np.linspace(-lim, lim, n)
    U, V = np.meshgrid(xs, xs)
    step = xs[1] - xs[0]
    ev = evolute(A, B, 2000 if args.size != "tiny" else 400)

    circ_real, circ_cplx, circ_min = real_counts(U, V, 1.0, 1.0)
    ell_real, ell_cplx, ell_min = real_counts(U, V, A, B)
    inside = inside_evolute(U, V, A, B)
    dist = distance_to_curve(U, V, evolute(A, B, 600))
    far = dist > 0.02
    predicted = np.where(inside, 4, 2)
    agree = (ell_real == predicted) & far
    # Where does the count change? Cells whose count differs from a right/lower neighbour.
    change = np.zeros_like(ell_real, bool)
    change[:, :-1] |= ell_real[:, :-1] != ell_real[:, 1:]
    change[:-1, :] |= ell_real[:-1, :] != ell_real[1:, :]
    change_far = int(np.sum(change & (dist > 1.5 * step)))

    q_in, q_out = np.array([0.45, 0.35]), np.array([2.2, 1.6])
    examples = {}
    for nm, (a, b), q in (("circle_q", (1.0, 1.0), np.array([0.55, 0.3])),
                          ("ellipse_q_inside", (A, B), q_in), ("ellipse_q_outside", (A, B), q_out)):
        pts, t, is_min, nc = critical_points(q, a, b)
        examples[nm] = {"q": q, "n_complex": nc, "n_real": len(t), "n_min": int(is_min.sum()),
                        "points": pts, "is_min": is_min}

    result = {
        "claim": "ED degree: circle δ = 2, ellipse δ = 4 = δ^gen(circle); real count 4 inside the "
                 "evolute (ED discriminant), 2 outside",
        "a": A, "b": B, "grid": n, "extent": lim,
        "circle": {
            "n_complex_values": sorted(set(np.unique(circ_cplx).tolist())),
            "n_real_values_q_nonzero": sorted(set(np.unique(circ_real[(U != 0) | (V != 0)]).tolist())),
            "n_min_values": sorted(set(np.unique(circ_min[(U != 0) | (V != 0)]).tolist())),
        },
        "ellipse": {
            "n_complex_values": sorted(set(np.unique(ell_cplx).tolist())),
            "n_real_inside": sorted(set(np.unique(ell_real[inside & far]).tolist())),
            "n_real_outside": sorted(set(np.unique(ell_real[~inside & far]).tolist())),
            "n_min_when_4_real": sorted(set(np.unique(ell_min[(ell_real == 4) & far]).tolist())),
            "n_min_when_2_real": sorted(set(np.unique(ell_min[(ell_real == 2) & far]).tolist())),
            "grid_points_far_from_evolute": int(far.sum()),
            "agree_with_evolute_test": int(agree.sum()),
            "agreement": float(agree.sum() / far.sum()),
            "count_changes_farther_than_1.5_steps_from_evolute": change_far,
        },
        "examples": examples,
        "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _figure(args.out, U, V, ell_real, ev, examples)
    e = result["ellipse"]
    _style.report(NAME, [
        f"circle: complex {result['circle']['n_complex_values']}, real (q≠0) "
        f"{result['circle']['n_real_values_q_nonzero']}",
        f"ellipse: complex {e['n_complex_values']}, real inside evolute {e['n_real_inside']}, "
        f"outside {e['n_real_outside']}",
        f"agreement with the evolute test: {e['agree_with_evolute_test']}/"
        f"{e['grid_points_far_from_evolute']} grid points",
    ])
    return result


def _figure(out, U, V, ell_real, ev, examples):
    pyplot = _style.plt()
    from matplotlib.colors import ListedColormap

    fig, (ax0, ax1) = _style.new_figure(2, 1, width=3.3, height=3.2)
    t = np.linspace(0, 2 * np.pi, 400)
    # Circle.
    ax0.plot(np.cos(t), np.sin(t), color=_style.COLORS["primary"], label="circle")
    ex = examples["circle_q"]
    _draw_example(ax0, ex)
    ax0.plot([0], [0], "o", color=_style.COLORS["zero_hessian"], ms=5, label="ED discriminant {0}")
    ax0.set_title("circle: δ = 2")
    # Ellipse.
    cmap = ListedColormap(["#ffffff", "#ffffff", "#e8f1f8", "#e8f1f8", "#fde9d9"])
    ax1.pcolormesh(U, V, ell_real, cmap=cmap, vmin=0, vmax=4, shading="auto", rasterized=True)
    ax1.plot(A * np.cos(t), B * np.sin(t), color=_style.COLORS["primary"], label="ellipse")
    ax1.plot(ev[:, 0], ev[:, 1], color=_style.COLORS["zero_hessian"], lw=1.2,
             label="evolute (ED discriminant)")
    _draw_example(ax1, examples["ellipse_q_inside"])
    _draw_example(ax1, examples["ellipse_q_outside"], legend=False)
    ax1.text(0.0, -2.6, "4 real critical points\ninside, 2 outside", ha="center", fontsize=7.5)
    ax1.set_title("ellipse: δ = 4 = δ$^{gen}$(circle)")
    for ax, lim in ((ax0, 1.9), (ax1, 3.3)):
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("$u$ (coordinate of $q$)")
        ax.set_ylabel("$v$")
        ax.legend(loc="upper left", fontsize=6.5, framealpha=0.9)
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def _draw_example(ax, ex, legend=True):
    q = ex["q"]
    for p, m in zip(ex["points"], ex["is_min"]):
        ax.plot([q[0], p[0]], [q[1], p[1]], color="#555555", lw=0.7, ls="--")
        ax.plot(*p, "o" if m else "s", ms=4.5,
                color=_style.COLORS["global_min"] if m else _style.COLORS["bad_min"])
    ax.plot(*q, "*", ms=8, color=_style.COLORS["accent"], label="data point q" if legend else None)
    if legend:
        ax.plot([], [], "o", color=_style.COLORS["global_min"], ms=4.5, label="critical: min")
        ax.plot([], [], "s", color=_style.COLORS["bad_min"], ms=4.5, label="critical: max")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
