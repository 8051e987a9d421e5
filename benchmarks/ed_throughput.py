"""Throughput of geomflow's batched homotopy continuation on the talk's 3×3 rank-one table.

Prints instances/s and paths/s for `critical_point_table(3, 3, 1, "generic", samples=N)`
(compile and the cached start fibre included, and separately a warm re-run), and — where the
PyPI package `bertini` (Bertini 2's Python bindings) is importable — solves the first few of the
same instances with Bertini 2's total-degree solver (3^5 = 243 paths on the affine-chart critical
system `GV = 0`, last two entries of `Gᵀu = 0`, `v = (1, v₂, v₃)`), and prints per instance the
time ratio and whether the counts (39 complex, and the number of real ones) agree.

It also compares, in the same process, (a) the instance homotopies with the `rk4` predictor
(the first version's: RK4 + two Newton steps, 6 linear solves a step) against the default
`taylor3` (third-order Taylor from one LU + a chord corrector, 2 LU factorisations a step), warm,
and (b) monodromy as the first version did it (every known solution around each new random loop,
stopped after 4 loops without a new solution, `rk4`) against `monodromy_start_fibre` (a fixed set
of loops, each solution pushed once through each loop, all loops in one batched `track` call,
stopped by the trace test, `taylor3`), on `--monodromy-shape` (default 3x4 rank 1, degree 83).
Each comparison prints the ratio `old / new` of wall times; both sides run in this process (the
compile of each side included in its own time, since each compiles its own kernels).

Usage: `python benchmarks/ed_throughput.py [--samples 2000] [--bertini 3] [--seed 0]
[--compare 200] [--monodromy-shape 3x4 --monodromy-rank 1]`
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


def old_monodromy(system, *, seed=0, stable_loops=4, max_loops=200, batch=2048):
    """The first version's monodromy (baseline): every loop moves *all* known solutions around a
    fresh random loop `p₀ → p_a → p₀`; stop after `stable_loops` loops without a new solution.
    Returns `(count, loops, paths)`."""
    from geomflow.ed._homotopy import dedup, track
    from geomflow.ed._solve import _good_endpoints, _mid, _random_params, _stack, _start_pair

    rng = np.random.default_rng(seed)
    y0, p0, chart = _start_pair(rng, system)
    mats = system.matrices(y0[None], chart[0][None])
    quiet = loops = paths = 0
    while quiet < stable_loops and loops < max_loops:
        loops += 1
        pa = _random_params(rng, system)
        c1, c2 = _mid(rng, system, p0, pa), _mid(rng, system, p0, pa)
        k = len(mats)
        R0s = np.repeat(chart[0][None], k, axis=0)
        ys, a_s = system.coordinates(mats, R0s)
        ya, cha, st, _ = track(system, ys, (R0s, np.array(a_s)), (_stack([p0]), _stack([c1]), _stack([pa])),
                               np.zeros(k, np.int64), batch=batch, seed=loops, predictor="rk4")
        Ma, ok = _good_endpoints(system, ya, cha, st, _stack([pa] * k))
        keep = np.flatnonzero(ok)[dedup(Ma[ok])]
        ya, cha = ya[keep], tuple(c[keep] for c in cha)
        yb, chb, st, _ = track(system, ya, cha, (_stack([pa]), _stack([c2]), _stack([p0])),
                               np.zeros(len(ya), np.int64), batch=batch, seed=1000 + loops,
                               predictor="rk4")
        Mb, ok = _good_endpoints(system, yb, chb, st, _stack([p0] * len(yb)))
        paths += k + len(ya)
        allm = np.concatenate([mats, Mb[ok]])
        new = allm[dedup(allm)]
        quiet = 0 if len(new) > len(mats) else quiet + 1
        mats = new
    return len(mats), loops, paths


def compare_predictors(k, seed):
    from geomflow.ed import sample_instance, solve_instances, start_fibre

    fib = start_fibre(3, 3, 1, "generic")
    WQ = [sample_instance(seed + 7, i, 3, 3) for i in range(k)]
    W = np.array([w for w, _ in WQ])
    Q = np.array([q for _, q in WQ])
    times = {}
    for pred in ("rk4", "taylor3", "rk4", "taylor3"):  # the second of each is warm
        os.environ["GEOMFLOW_ED_PREDICTOR"] = pred
        t0 = time.perf_counter()
        res = solve_instances(W, Q, 1, "generic", fibre=fib)
        times[pred] = time.perf_counter() - t0
        print(f"  {pred:8s}: {k} instances in {times[pred]:.1f} s, complete "
              f"{int(res.complete.sum())}/{k}, steps needed {res.stats.steps_needed}, executed "
              f"{res.stats.steps_executed} (useful {res.stats.useful_fraction:.2f})")
    os.environ.pop("GEOMFLOW_ED_PREDICTOR")
    print(f"  ratio rk4 / taylor3 (warm): {times['rk4'] / times['taylor3']:.2f}x")


def compare_monodromy(m, n, r, seed):
    from geomflow.ed._homotopy import TrackStats  # noqa: F401
    from geomflow.ed._solve import _system, monodromy_start_fibre

    system = _system(m, n, r, "generic")
    t0 = time.perf_counter()
    fib = monodromy_start_fibre(system, seed=seed)
    t_new = time.perf_counter() - t0
    print(f"  new: {fib.degree} solutions, {fib.loops} loops, {len(fib.history) - 1} rounds, trace "
          f"residual {fib.trace_residual:.2g}, certified_complete {fib.certified_complete}, "
          f"{t_new:.1f} s")
    t0 = time.perf_counter()
    count, loops, paths = old_monodromy(system, seed=seed)
    t_old = time.perf_counter() - t0
    print(f"  old: {count} solutions, {loops} loops, {paths} paths, {t_old:.1f} s")
    print(f"  ratio old / new: {t_old / t_new:.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bertini", type=int, default=3, help="instances to solve with Bertini 2")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--compare", type=int, default=200,
                    help="instances for the rk4-vs-taylor3 predictor comparison (0: skip)")
    ap.add_argument("--monodromy-shape", default="3x4", help="shape for the monodromy comparison")
    ap.add_argument("--monodromy-rank", type=int, default=1, help="rank for it (0: skip)")
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
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()}")
    if args.compare > 0:
        print(f"predictors on {args.compare} instances of the 3x3 rank-1 table (same process):")
        compare_predictors(args.compare, args.seed)
    if args.monodromy_rank > 0:
        mm, nn = (int(s) for s in args.monodromy_shape.split("x"))
        print(f"monodromy {mm}x{nn} rank {args.monodromy_rank}, generic (same process):")
        compare_monodromy(mm, nn, args.monodromy_rank, args.seed)
        print(f"load average {os.getloadavg()}")
    if args.samples <= 0:
        return 0
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
