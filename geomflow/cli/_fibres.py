"""`geomflow fibres`: Monte Carlo over one fibre `μ^{-1}(M)`: observed components vs `2^b`.

Usage:

    geomflow fibres --widths 3,2,2,3 --samples 500 [--rank k] [--seed s] [--json]
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "fibres",
        help="Monte Carlo over a fibre μ^{-1}(M): observed component labels vs 2^b",
        description="Sample points of one random fibre μ^{-1}(M) (rank M = r by default) and "
        "count the distinct component labels (signs of the bottleneck determinants). At rank r "
        "the count should be 2^b; below rank r the fibre is connected and an explicit path "
        "between two points with different labels is built and checked.",
    )
    p.add_argument("--widths", required=True, help="comma-separated widths d_0,…,d_h, e.g. 3,2,2,3")
    p.add_argument("--samples", type=int, default=200, help="number of fibre points (default 200)")
    p.add_argument("--rank", type=int, default=None, help="rank of M (default r = min widths)")
    p.add_argument("--seed", type=int, default=0, help="seed of M and of the points")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import emit_json, parse_widths, setup_jax

    setup_jax()
    from .. import fibre_monte_carlo

    mc = fibre_monte_carlo(parse_widths(args.widths), samples=args.samples, rank=args.rank,
                           seed=args.seed)
    d = mc.to_dict()
    d["components_match"] = (mc.observed_labels == mc.expected_components) if mc.rank == mc.r else None
    if args.json:
        emit_json(d)
        return 0
    print(f"widths            {','.join(map(str, mc.widths))}   (r = {mc.r}, b = {mc.b})")
    print(f"rank M            {mc.rank}")
    print(f"samples           {sum(mc.counts)}   (max ‖μ(w) − M‖/‖M‖ = {mc.max_residual:.1e})")
    labels = ", ".join(f"{k}: {v}" for k, v in d["labels"].items())
    print(f"labels seen       {mc.observed_labels}   ({labels})")
    if mc.rank == mc.r:
        print(f"expected          {mc.expected_components} components (2^b)   "
              f"match: {d['components_match']}")
        if mc.min_margin_ratio is not None:
            print(f"det margin        min σ_min/bound = {mc.min_margin_ratio:.3f} (≥ 1: dets cannot vanish on the fibre)")
    else:
        print("expected          1 component (rank M < r: connected); labels are not invariants here")
        if mc.path is not None:
            p = mc.path
            print(f"path check        ok = {p.ok}: {p.label_start} → {p.label_end} inside the fibre "
                  f"({p.num_points} points, max residual {p.max_residual:.1e}, "
                  f"max step {p.max_step:.2e} ≤ {p.step_tol:.2e})")
    return 0
