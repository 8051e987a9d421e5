"""Claim 1: the neuromanifold `M_Φ = μ(R^{d_w})` — filling vs non-filling, rank, singular locus.

Claim (MATH.md §1, *[paper]*): for widths `d = (d_0, …, d_h)` and `r = min d_i`, the image of
the product map `μ(w) = W_h ⋯ W_1` is `{M : rank M ≤ r}`, of dimension `r(d_0 + d_h − r)`; it is
all of `R^{d_h×d_0}` (filling) iff `r = min(d_0, d_h)`, and otherwise a determinantal variety,
not convex, singular exactly along `rank ≤ r − 1`.

What is measured, for each architecture and `N` random Gaussian weights `w`:

1. the numerical rank of `μ(w)` (largest ratio `σ_{r+1}/σ_1` over the samples: the `(r+1)`-minors
   vanish on the image);
2. the rank of `dμ(w)` at random `w` (the dimension of the image near a generic point), against
   `r(d_0 + d_h − r)`;
3. the rank of `dμ(w)` at random `w` with `rank μ(w) = r − 1` (one bottleneck layer made rank
   deficient): for non-filling networks it drops below `dim M_Φ` — the image is singular there
   (a locally irreducible variety containing a smooth germ of its full dimension would be smooth
   there); for filling networks `M_Φ` is the whole (smooth) space and the rank need not drop;
4. non-convexity: the share of midpoints `(μ(w) + μ(w′))/2` of rank `> r`.

The figure shows the dimensions per architecture and the cone of symmetric 2×2 matrices of rank
≤ 1 (`xz = y²`, the image of `(2, 1, 2)` restricted to symmetric matrices) with its singular vertex.

Measured outcome (quick default: 200 samples per architecture, seed 0; numbers in
`figures/neuromanifold.json`):

| widths | r | filling | dim M_Φ (theory) | rank dμ, random w | rank dμ, rank μ(w) = r−1 | max σ_{r+1}/σ_1 | midpoints of rank > r |
|---|---|---|---|---|---|---|---|
| (3,2,3) | 2 | no | 8 | 8 (200/200) | 7 | 1.7e-16 | 100% |
| (3,1,3) | 1 | no | 5 | 5 (200/200) | 3 | 2.2e-16 | 100% |
| (3,2,2,3) | 2 | no | 8 | 8 (200/200) | 7 | 1.8e-16 | 100% |
| (4,2,3,4) | 2 | no | 12 | 12 (200/200) | 10 | 2.1e-16 | 100% |
| (2,3,2) | 2 | yes | 4 = ambient | 4 (200/200) | 4 (no drop: smooth) | — | — |
| (4,3,2) | 2 | yes | 8 = ambient | 8 (200/200) | 8 (no drop: smooth) | — | — |

Every check passes (`all_checks_pass: true`): rank μ(w) = r always, rank dμ = r(d_0+d_h−r) at
every random w, and for non-filling networks it drops at every rank-(r−1) point.

Run: `python experiments/claim1_neuromanifold.py [--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 12  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "neuromanifold"
SIZES = {"tiny": 8, "quick": 200, "full": 5000}
ARCHS = ((3, 2, 3), (3, 1, 3), (3, 2, 2, 3), (4, 2, 3, 4), (2, 3, 2), (4, 3, 2))


def _deficient(weights, r: int):
    """Truncate `W_1` to rank `r − 1`, so that `rank μ(w) = r − 1` for generic other layers."""
    import jax.numpy as jnp

    U, s, Vt = jnp.linalg.svd(weights[0], full_matrices=False)
    s = jnp.where(jnp.arange(s.shape[0]) < r - 1, s, 0.0)
    return ((U * s[None, :]) @ Vt,) + tuple(weights[1:])


def run(args) -> dict:
    _style.setup_jax()
    import jax
    import jax.numpy as jnp

    import geomflow as gf

    N = SIZES[args.size]
    root = jax.random.key(args.seed)
    rows = []
    archs = ARCHS if args.size != "tiny" else (ARCHS[0], ARCHS[4])
    for a_i, widths in enumerate(archs):
        arch = gf.architecture(widths)
        r, d0, dh = arch.rank, widths[0], widths[-1]

        def one(key, arch=arch):
            k1, k2 = jax.random.split(key)
            w = gf.init_gaussian(k1, arch)
            w2 = gf.init_gaussian(k2, arch)
            P = gf.product(w)
            s = jnp.linalg.svd(P, compute_uv=False)
            ratio = s[r] / s[0] if r < min(d0, dh) else jnp.zeros(())
            mid = 0.5 * (P + gf.product(w2))
            sm = jnp.linalg.svd(mid, compute_uv=False)
            mid_rank = jnp.sum(sm > 1e-9 * sm[0])
            wd = _deficient(w, r)
            sd = jnp.linalg.svd(gf.product(wd), compute_uv=False)
            rank_def = jnp.sum(sd > 1e-9 * jnp.maximum(sd[0], 1e-300))
            return (jnp.sum(s > 1e-9 * s[0]), ratio, gf.product_jacobian_rank(w),
                    gf.product_jacobian_rank(wd), rank_def, mid_rank)

        keys = jax.random.split(jax.random.fold_in(root, a_i), N)
        rank_mu, ratio, jr, jr_def, rank_def, mid_rank = map(np.asarray, jax.jit(jax.vmap(one))(keys))
        row = {
            "widths": "(" + ",".join(map(str, widths)) + ")",
            "r": r, "filling": arch.filling, "ambient_dim": d0 * dh,
            "dim_theory": arch.neuromanifold_dim,
            "rank_mu_values": sorted(set(rank_mu.tolist())),
            "max_sigma_r1_over_sigma_1": float(ratio.max()) if not arch.filling else None,
            "rank_dmu_generic_values": sorted(set(jr.tolist())),
            "share_generic_rank_equals_dim": float(np.mean(jr == arch.neuromanifold_dim)),
            "rank_mu_at_deficient_values": sorted(set(rank_def.tolist())),
            "rank_dmu_at_rank_r_minus_1_values": sorted(set(jr_def.tolist())),
            "share_midpoint_rank_above_r": float(np.mean(mid_rank > r)) if not arch.filling else None,
            "samples": N,
        }
        rows.append(row)
    ok = all(
        row["rank_dmu_generic_values"] == [row["dim_theory"]]
        and max(row["rank_mu_values"]) <= row["r"]
        and (row["filling"] or max(row["rank_dmu_at_rank_r_minus_1_values"]) < row["dim_theory"])
        for row in rows
    )
    result = {
        "claim": "μ has image {rank ≤ r} of dimension r(d_0+d_h−r); filling iff r = min(d_0,d_h); "
                 "non-filling images are non-convex and singular along rank ≤ r−1",
        "all_checks_pass": ok, "rows": rows, "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, [{k: (v if not isinstance(v, list) else " ".join(map(str, v)))
                                       for k, v in row.items()} for row in rows])
    _figure(args.out, rows, args.seed)
    _style.report(NAME, [
        f"{row['widths']:>11} r={row['r']} {'filling' if row['filling'] else 'non-filling':11} "
        f"dim={row['dim_theory']:2d} rank dμ generic={row['rank_dmu_generic_values']} "
        f"at rank r−1={row['rank_dmu_at_rank_r_minus_1_values']}"
        for row in rows
    ] + [f"all checks pass: {ok}"])
    return result


def _figure(out, rows, seed):
    pyplot = _style.plt()
    fig = pyplot.figure(figsize=(7.2, 2.9))
    ax = fig.add_subplot(1, 2, 1)
    x = np.arange(len(rows))
    wdt = 0.2
    amb = [r["ambient_dim"] for r in rows]
    dim = [r["dim_theory"] for r in rows]
    gen = [max(r["rank_dmu_generic_values"]) for r in rows]
    dfc = [max(r["rank_dmu_at_rank_r_minus_1_values"]) for r in rows]
    ax.bar(x - 1.5 * wdt, amb, wdt, color=_style.COLORS["other"], label="ambient $d_0 d_h$")
    ax.bar(x - 0.5 * wdt, dim, wdt, color=_style.COLORS["primary"], label="dim $M_Φ$ = r($d_0$+$d_h$−r)")
    ax.bar(x + 0.5 * wdt, gen, wdt, color=_style.COLORS["global_min"], label="rank dμ, random w")
    ax.bar(x + 1.5 * wdt, dfc, wdt, color=_style.COLORS["bad_min"], label="rank dμ, rank μ(w) = r−1")
    ax.set_xticks(x)
    ax.set_xticklabels([r["widths"] + ("\nfilling" if r["filling"] else "") for r in rows],
                       fontsize=6.5)
    ax.set_ylabel("dimension (real)")
    ax.set_xlabel("widths $(d_0,…,d_h)$")
    ax.set_title("image of μ: dimension and where it is singular")
    ax.legend(fontsize=6, loc="upper left")
    ax.set_ylim(0, max(amb) * 1.45)

    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    th = np.linspace(0, 2 * np.pi, 60)
    rad = np.linspace(-1.2, 1.2, 30)
    T, R = np.meshgrid(th, rad)
    # Symmetric rank ≤ 1: ±vvᵀ with v = ρ(cos θ, sin θ): (x, y, z) = ±ρ²(cos², cos sin, sin²).
    Xs = np.sign(R) * R**2 * np.cos(T) ** 2
    Ys = np.sign(R) * R**2 * np.cos(T) * np.sin(T)
    Zs = np.sign(R) * R**2 * np.sin(T) ** 2
    ax3.plot_surface(Xs, Zs, Ys, color=_style.COLORS["secondary"], alpha=0.35, linewidth=0)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((40, 2)) * 0.6
    sgn = rng.choice([-1.0, 1.0], 40)
    ax3.scatter(sgn * v[:, 0] ** 2, sgn * v[:, 1] ** 2, sgn * v[:, 0] * v[:, 1], s=5,
                color=_style.COLORS["primary"], label="μ(w) = ±v$v^T$ (widths 2,1,2)")
    ax3.scatter([0], [0], [0], s=30, color=_style.COLORS["bad_min"], label="singular vertex (rank 0)")
    ax3.set_xlabel("$M_{11}$", labelpad=-6)
    ax3.set_ylabel("$M_{22}$", labelpad=-6)
    ax3.set_zlabel("$M_{12}$", labelpad=-6)
    ax3.tick_params(labelsize=6, pad=-2)
    ax3.set_title("symmetric 2×2, rank ≤ 1: $M_{11}M_{22} = M_{12}^2$", fontsize=9)
    ax3.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
