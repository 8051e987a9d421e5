"""Throughput of geomflow's batched homotopy continuation on the talk's 3×3 rank-one table.

Prints instances/s and paths/s for `critical_point_table(3, 3, 1, "generic", samples=N)`
(compile and the cached start fibre included, and separately a warm re-run), and — where the
PyPI package `bertini` (Bertini 2's Python bindings) is importable — solves the first few of the
same instances with Bertini 2's total-degree solver (3^5 = 243 paths on the affine-chart critical
system `GV = 0`, last two entries of `Gᵀu = 0`, `v = (1, v₂, v₃)`), and prints per instance the
time ratio and whether the counts (39 complex, and the number of real ones) agree.

Usage: `python benchmarks/ed_throughput.py [--samples 2000] [--bertini 3] [--seed 0]`
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

BERTINI_ALGORITHM = os.environ.get("BERTINI_ALGORITHM", "ZeroDimPowerSeriesDoublePrecisionTotalDegree")


def _to_complex(c):
    """A Bertini complex (numpy complex in double precision, `(re, im)` in multiprecision)."""
    if isinstance(c, (complex, np.complexfloating)):
        return complex(c)
    re, im = str(c).strip("()").split(",")
    return complex(float(re), float(im))


def bertini_solve(W, Q, tol=1e-4):
    """All finite rank-one critical points of one 3×3 instance through Bertini 2 (total degree).

    The system is passed in Bertini's input syntax; Bertini's points print with ~6 significant
    digits, so points are compared with relative tolerance `tol`.
    """
    import bertini as pb

    m = n = 3
    u = [f"u{i}" for i in range(m)]
    v = ["1"] + [f"v{j}" for j in range(1, n)]
    vecD = [f"({u[i]}*{v[j]} - ({Q[i, j]:.17f}))" for j in range(n) for i in range(m)]

    def G(i, j):
        row = W[j * m + i]
        return "(" + " + ".join(f"({c:.17f})*{d}" for c, d in zip(row, vecD)) + ")"

    eqs = [" + ".join(f"{G(i, j)}*{v[j]}" for j in range(n)) for i in range(m)]
    eqs += [" + ".join(f"{G(i, j)}*{u[i]}" for i in range(m)) for j in range(1, n)]
    text = "variable_group " + ",".join(u + v[1:]) + ";\n"
    text += "function " + ",".join(f"f{k}" for k in range(len(eqs))) + ";\n"
    text += "".join(f"f{k} = {e};\n" for k, e in enumerate(eqs))
    sysb = pb.parse.system(text)
    sysb.homogenize()
    sysb.auto_patch()
    solver = getattr(pb.nag_algorithm, BERTINI_ALGORITHM)(sysb)
    t0 = time.perf_counter()
    solver.solve()
    dt = time.perf_counter() - t0
    pts = []
    for sol in solver.solutions():
        try:
            vals = np.array([_to_complex(c) for c in sysb.dehomogenize_point(sol)])
        except RuntimeError:  # a failed path comes back as an empty point
            continue
        if not np.all(np.isfinite(vals)) or np.abs(vals).max() > 1e6:
            continue  # at infinity
        uu, vv = vals[:3], np.concatenate([[1.0], vals[3:]])
        if np.linalg.norm(uu) < 1e-6:
            continue  # rank < 1
        M = np.outer(uu, vv)
        Gm = (W @ (M - Q).T.reshape(-1)).reshape(n, m).T
        res = np.concatenate([Gm @ vv, (Gm.T @ uu)[1:]])
        scale = np.linalg.norm(W, 2) * (np.linalg.norm(M) + np.linalg.norm(Q)) * (
            np.linalg.norm(uu) + np.linalg.norm(vv))
        if np.linalg.norm(res) > 1e-8 * scale:
            continue  # the path did not end at a solution (failed / singular endgame)
        pts.append(M)
    pts = np.array(pts)
    if len(pts):
        from geomflow.ed._homotopy import dedup

        pts = pts[dedup(pts, tol)]
    return pts, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bertini", type=int, default=3, help="instances to solve with Bertini 2")
    ap.add_argument("--batch", type=int, default=2048)
    args = ap.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    from geomflow.ed import (
        critical_point_table,
        sample_instance,
        solve_instances,
        split_real,
        start_fibre,
    )

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.device_count()}, "
          f"cpu count {os.cpu_count()}")
    t0 = time.perf_counter()
    fib = start_fibre(3, 3, 1, "generic")
    print(f"start fibre: {fib.degree} solutions ({fib.loops} monodromy loops), "
          f"{time.perf_counter() - t0:.1f} s (0 if cached on disk)")
    t0 = time.perf_counter()
    tab = critical_point_table(3, 3, 1, "generic", samples=args.samples, seed=args.seed,
                               batch=args.batch)
    dt = time.perf_counter() - t0
    print(tab.format_text())
    print(f"cold (compile included): {args.samples} instances in {dt:.1f} s = "
          f"{args.samples / dt:.1f} instances/s, {tab.paths / dt:.0f} paths/s; "
          f"complete {tab.complete.mean():.4f}; tracker {tab.stats}")
    t0 = time.perf_counter()
    tab2 = critical_point_table(3, 3, 1, "generic", samples=args.samples, seed=args.seed + 1,
                                batch=args.batch)
    dt2 = time.perf_counter() - t0
    print(f"warm (compiled): {args.samples} instances in {dt2:.1f} s = "
          f"{args.samples / dt2:.1f} instances/s, {tab2.paths / dt2:.0f} paths/s")
    per_instance = dt2 / args.samples

    if args.bertini <= 0:
        return 0
    try:
        import bertini  # noqa: F401
    except Exception as exc:  # not installed, or installed but broken
        print(f"Bertini 2 comparison skipped: `import bertini` failed ({type(exc).__name__}: {exc}); "
              f"try `pip install bertini` (Python bindings of Bertini 2; wheels for some platforms)")
        return 0
    print(f"Bertini 2 ({bertini.__version__}) total-degree solve (243 paths) of the first "
          f"{args.bertini} instances:")
    WQ = [sample_instance(args.seed, i, 3, 3) for i in range(args.bertini)]
    W = np.array([w for w, _ in WQ])
    Q = np.array([q for _, q in WQ])
    ours = solve_instances(W, Q, 1, "generic")
    for i in range(args.bertini):
        try:
            pts, bt = bertini_solve(W[i], Q[i])
        except Exception as exc:
            print(f"  instance {i}: Bertini failed: {type(exc).__name__}: {exc}")
            continue
        nb = len(pts)
        rb = len(split_real(pts, tol=1e-4)[0]) if nb else 0
        ro = len(split_real(ours.points[i])[0])
        same = nb == len(ours.points[i]) and all(
            np.min(np.linalg.norm(ours.points[i] - M, axis=(1, 2)) / np.linalg.norm(M)) < 1e-4
            for M in pts)
        print(f"  instance {i}: Bertini {bt:.2f} s, {nb} points ({rb} real); geomflow "
              f"{len(ours.points[i])} points ({ro} real), {per_instance * 1e3:.1f} ms/instance "
              f"batched; ratio {bt / per_instance:.0f}x; same points: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
