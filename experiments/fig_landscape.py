"""Loss-landscape slices of a linear network: around a global minimum and through a saddle.

Illustrates claim 3 of issue 6 (no bad minima for the quadratic loss) and MATH.md §5: for the
quadratic loss `L(w) = ‖W_2 W_1 X − Y‖²` of the non-filling network with widths (3, 2, 3) and
whitened data (`XXᵀ = I`, `Q = YXᵀ = U diag(σ) Vᵀ`), the critical points are the balanced
factorisations of `U_S U_Sᵀ Q` for index sets `S ⊂ {1, 2, 3}`, `|S| ≤ 2`:

- `S = {1, 2}` (the top two): the global minimum, `L* = ‖Y‖² − σ_1² − σ_2²`;
- `S = {1, 3}`: a strict saddle (non-top index set) with `L = ‖Y‖² − σ_1² − σ_3²`.

Each point is built in closed form, confirmed by `geomflow`'s classifier
(`classify_critical_point`, with `L*` from `global_min_value`), and the loss is drawn on a plane
through it:

1. around the global minimum, two random **filter-normalised** directions (Li et al. 2018: every
   row of every `W_i` of the random direction rescaled to the norm of that row of `W_i`);
2. through the saddle, the Hessian eigenvectors of the most negative and the largest eigenvalue
   (the saddle's descending and steepest ascending directions), so the slice shows both;
3. the 1-D profile along the saddle's descending direction, and along the straight segment from
   the saddle to the global minimum.

Measured outcome (quick default, seed 0, σ(YXᵀ) = (2, 1.3, 0.6); numbers in
`figures/landscape.json`): the classifier labels the closed-form points `global_min`
(‖∇L‖ = 1.6e-15, no negative Hessian eigenvalue, 4 zero eigenvalues = the fibre's dimension) and
`strict_saddle` (‖∇L‖ = 2.3e-15, exactly one negative eigenvalue, −1.4 = −2(σ_2 − σ_3)); both
losses match the closed form `‖Y‖² − Σ_{i∈S} σ_i²` to 1e-15. The smallest loss on all slices
is `L*` up to 4e-15 (at the centre of the global-minimum slice); the saddle slice descends below
the saddle value along the negative eigenvector (to 2.98 < 3.47) and rises along the other.

Run: `python experiments/fig_landscape.py [--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 10  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "landscape"
SIZES = {"tiny": 21, "quick": 81, "full": 241}
WIDTHS = (3, 2, 3)
N_DATA = 8
SPAN = 1.0


def make_problem(seed: int):
    """Whitened data for widths (3, 2, 3) with well-separated singular values of `YXᵀ`."""
    rng = np.random.default_rng(seed)
    d0, dh = WIDTHS[0], WIDTHS[-1]
    X = np.linalg.qr(rng.standard_normal((N_DATA, d0)))[0].T  # orthonormal rows
    U = np.linalg.qr(rng.standard_normal((dh, dh)))[0]
    V = np.linalg.qr(rng.standard_normal((d0, d0)))[0]
    sigma = np.array([2.0, 1.3, 0.6])
    Qm = U @ np.diag(sigma) @ V.T
    noise = rng.standard_normal((dh, N_DATA))
    noise -= noise @ X.T @ X  # orthogonal to the row space of X: keeps YXᵀ = Q
    Y = Qm @ X + 0.3 * noise
    return X, Y, U, sigma, V


def balanced_point(U, sigma, V, S):
    """Balanced weights `(W_1, W_2)` with `W_2 W_1 = Σ_{i∈S} σ_i u_i v_iᵀ` (zero-padded to r = 2)."""
    r = WIDTHS[1]
    cols = list(S) + [None] * (r - len(S))
    W1 = np.zeros((r, WIDTHS[0]))
    W2 = np.zeros((WIDTHS[2], r))
    for k, i in enumerate(cols):
        if i is None:
            continue
        W1[k] = np.sqrt(sigma[i]) * V[:, i]
        W2[:, k] = np.sqrt(sigma[i]) * U[:, i]
    return W1, W2


def filter_normalised(rng, weights):
    """A random direction with each row (filter) scaled to the norm of the same row of `weights`."""
    out = []
    for W in weights:
        D = rng.standard_normal(W.shape)
        D *= np.linalg.norm(W, axis=1, keepdims=True) / np.maximum(
            np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
        out.append(D)
    return tuple(out)


def run(args) -> dict:
    _style.setup_jax()
    import jax
    import jax.numpy as jnp

    from geomflow import (
        CLASS_NAMES,
        QuadraticLoss,
        architecture,
        classify_critical_point,
        flatten_weights,
        global_min_value,
        network_hessian,
        network_loss,
        unflatten_weights,
    )

    n = SIZES[args.size]
    X, Y, U, sigma, V = make_problem(args.seed)
    loss = QuadraticLoss(jnp.asarray(X), jnp.asarray(Y))
    L_star = float(global_min_value(X, Y, min(WIDTHS)))
    points = {"global_min": balanced_point(U, sigma, V, (0, 1)),
              "saddle": balanced_point(U, sigma, V, (0, 2))}
    info = {}
    for name, w in points.items():
        w = tuple(jnp.asarray(W) for W in w)
        rep = classify_critical_point(loss, w, loss_star=L_star)
        H = np.asarray(network_hessian(loss, w))
        info[name] = {
            "label": CLASS_NAMES[int(rep.label)],
            "loss": float(rep.loss),
            "grad_norm": float(rep.grad_norm),
            "n_negative": int(rep.n_negative),
            "n_zero": int(rep.n_zero),
            "hessian_eigenvalues": np.linalg.eigvalsh(0.5 * (H + H.T)),
        }
    ynorm2 = float(np.sum(Y * Y))
    info["global_min"]["loss_closed_form"] = ynorm2 - sigma[0] ** 2 - sigma[1] ** 2
    info["saddle"]["loss_closed_form"] = ynorm2 - sigma[0] ** 2 - sigma[2] ** 2

    arch = architecture(WIDTHS)

    @jax.jit
    def plane(centre, d1, d2, alphas, betas):
        def one(a, b):
            return network_loss(loss, unflatten_weights(arch, centre + a * d1 + b * d2))

        return jax.vmap(lambda a: jax.vmap(lambda b: one(a, b))(betas))(alphas)

    grid = np.linspace(-SPAN, SPAN, n)
    rng = np.random.default_rng(args.seed + 1)
    wmin = points["global_min"]
    c_min = flatten_weights(tuple(map(jnp.asarray, wmin)))
    d1 = flatten_weights(tuple(map(jnp.asarray, filter_normalised(rng, wmin))))
    d2 = flatten_weights(tuple(map(jnp.asarray, filter_normalised(rng, wmin))))
    Z_min = np.asarray(plane(c_min, d1, d2, jnp.asarray(grid), jnp.asarray(grid)))

    wsad = points["saddle"]
    c_sad = flatten_weights(tuple(map(jnp.asarray, wsad)))
    H = np.asarray(network_hessian(loss, tuple(map(jnp.asarray, wsad))))
    lam, E = np.linalg.eigh(0.5 * (H + H.T))
    e_down, e_up = jnp.asarray(E[:, 0]), jnp.asarray(E[:, -1])
    scale = float(np.linalg.norm(np.asarray(c_sad)))  # the slice spans ±SPAN·‖w_saddle‖
    Z_sad = np.asarray(plane(c_sad, scale * e_down, scale * e_up, jnp.asarray(grid), jnp.asarray(grid)))

    ts = np.linspace(-0.25, 1.25, 4 * n)
    seg = np.asarray(plane(c_sad, c_min - c_sad, jnp.zeros_like(c_sad), jnp.asarray(ts), jnp.zeros(1)))[:, 0]
    down = np.asarray(plane(c_sad, scale * e_down, jnp.zeros_like(c_sad), jnp.asarray(grid),
                            jnp.zeros(1)))[:, 0]

    mid = n // 2
    result = {
        "claim": "quadratic loss, non-filling (3,2,3): the closed-form S={1,2} point is a global "
                 "minimum, S={1,3} a strict saddle; slices never go below L*",
        "widths": WIDTHS, "sigma": sigma, "L_star": L_star, "points": info,
        "grid": n, "span": SPAN,
        "min_over_global_min_slice": float(Z_min.min()),
        "min_over_saddle_slice": float(Z_sad.min()),
        "min_over_segment": float(seg.min()),
        "global_min_slice_min_minus_L_star": float(Z_min.min() - L_star),
        "saddle_slice_descends": bool(Z_sad[:, mid].min() < info["saddle"]["loss"] - 1e-9),
        "saddle_slice_ascends": bool(Z_sad[mid, :].max() > info["saddle"]["loss"] + 1e-9),
        "saddle_negative_eigenvalue": float(lam[0]),
        "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _figure(args.out, grid, Z_min, Z_sad, ts, seg, down, L_star, info, scale)
    _style.report(NAME, [
        f"global_min point: {info['global_min']['label']} (‖∇L‖ = {info['global_min']['grad_norm']:.1e})",
        f"saddle point: {info['saddle']['label']} ({info['saddle']['n_negative']} negative "
        f"eigenvalue(s), λ_min = {lam[0]:.3f})",
        f"min over slices − L* = {min(Z_min.min(), Z_sad.min(), seg.min()) - L_star:.2e}",
    ])
    return result


def _figure(out, grid, Z_min, Z_sad, ts, seg, down, L_star, info, scale):
    pyplot = _style.plt()
    fig, axes = _style.new_figure(3, 1, width=3.0, height=2.8)
    A, B = np.meshgrid(grid, grid, indexing="ij")
    for ax, Z, title, centre_lbl, xl, yl in (
        (axes[0], Z_min, "around the global minimum", "global min",
         "filter-normalised direction 1", "filter-normalised direction 2"),
        (axes[1], Z_sad, "through the saddle S = {1,3}", "saddle",
         "Hessian eigvec, λ < 0 (× ‖w‖)", "Hessian eigvec, λ_max (× ‖w‖)"),
    ):
        levels = np.quantile(Z, np.linspace(0, 1, 22))
        levels = np.unique(levels)
        cs = ax.contourf(A, B, Z, levels=levels, cmap="viridis")
        ax.contour(A, B, Z, levels=levels[::3], colors="white", linewidths=0.4)
        ax.plot(0, 0, "*", ms=9, color="white", mec="black", mew=0.5, label=centre_lbl)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.grid(False)
        cb = fig.colorbar(cs, ax=ax, shrink=0.8)
        cb.set_label("loss $L(w)$")
        cb.ax.tick_params(labelsize=7)
        ax.legend(loc="upper right", fontsize=7)
    ax = axes[2]
    ax.plot(ts, seg, color=_style.COLORS["primary"], label="segment saddle → global min")
    ax.plot(grid, down, color=_style.COLORS["saddle"], label="saddle's descending direction")
    ax.axhline(L_star, color=_style.COLORS["global_min"], ls="--", lw=1, label="$L^*$ (global min)")
    ax.axhline(info["saddle"]["loss"], color=_style.COLORS["bad_min"], ls=":", lw=1,
               label="saddle value")
    ax.set_xlabel("position along the line (saddle at 0)")
    ax.set_ylabel("loss $L(w)$")
    ax.set_title("1-D profiles")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
