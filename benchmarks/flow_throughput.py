"""Flow throughput: geomflow's pooled runner vs a scipy `solve_ivp` loop vs an uncompacted
`vmap(diffeqsolve)`, on the same problems and tolerances, from one process.

    python benchmarks/flow_throughput.py [--samples N] [--widths 3,2,2,3] [--scipy-samples M]

Prints samples/s for each and the ratios against the scipy loop:

- **flow-only**: `run_batch` (integration to the stopping rule), after a warm-up run on another
  seed that pays the JIT compilation;
- **end-to-end**: `run_flow_sweep` (flow, polish, classification, records), marginal per
  sample: `(N − N/2) / (t(N) − t(N/2))` after a warm-up sweep, so compilation and fixed costs
  are excluded;
- **autodiff user model**: the same linear network written as a `UserModel` (batch-last
  products, gradient and Hessian by autodiff) against the closed-form path, flow-only.

geomflow runs its default solver "auto" (batch-last Tsit5 → Rodas5P); `--solver tsit5+kvaerno5`
runs the diffrax two-stage scheme through the same pools instead. scipy runs LSODA (stiff/
non-stiff switching; RK45 stalls on the stiff samples, like Tsit5) with a terminal event on the
same gradient-norm test (without the dwell). The machine's load (`os.getloadavg`) is printed
beside the figures.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="3,2,2,3")
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--scipy-samples", type=int, default=48)
    ap.add_argument("--vmap-samples", type=int, default=256)
    ap.add_argument("--pool-size", type=int, default=256)
    ap.add_argument("--init-scale", type=float, default=1.0)
    ap.add_argument("--solver", default="auto", help="geomflow's solver (default auto)")
    ap.add_argument("--slow-fraction", type=float, default=0.1,
                    help="share of an extra geomflow batch started near the saddle w = 0")
    ap.add_argument("--slow-scale", type=float, default=1e-4,
                    help="initial-weight scale of those near-saddle samples")
    ap.add_argument("--devices", type=int, default=1,
                    help="geomflow devices (on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N)")
    ap.add_argument("--geomflow-only", action="store_true", help="skip the two baselines")
    ap.add_argument("--no-vmap", action="store_true", help="skip the vmap(diffeqsolve) baseline")
    ap.add_argument("--no-user-model", action="store_true", help="skip the autodiff user model")
    ap.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end sweep")
    args = ap.parse_args()

    import geomflow as gf
    from geomflow import (
        FlowConfig,
        FlowTolerances,
        ProblemSpec,
        finalise_batch,
        flatten_weights,
        run_batch,
        sample_problem,
    )

    widths = tuple(int(w) for w in args.widths.split(","))
    spec = ProblemSpec(widths, init_scale=args.init_scale)
    cfg = FlowConfig(solver=args.solver)
    tol = FlowTolerances()
    print(f"device: {jax.devices()[0].device_kind} x{len(jax.devices())}, cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"problem: widths {widths}, Gaussian data and init (scale {args.init_scale}); "
          f"stop at ‖∇L‖ ≤ {tol.grad}, rtol {tol.rtol}, atol {tol.atol}")

    # --- geomflow
    # Warm-up / compile: the same batch size on another seed, so that every pool shape the
    # timed run uses is compiled (a 64-sample warm-up left some shapes to the timed run).
    wraw, _ = run_batch(spec, cfg, 1, np.arange(args.samples), tol, pool_size=args.pool_size, n_devices=args.devices)
    finalise_batch(spec, cfg, 1, np.arange(args.samples), wraw, tol)
    t = time.perf_counter()
    raw, stats = run_batch(spec, cfg, 0, np.arange(args.samples), tol, pool_size=args.pool_size, n_devices=args.devices)
    t_gf = time.perf_counter() - t
    t = time.perf_counter()
    rec = finalise_batch(spec, cfg, 0, np.arange(args.samples), raw, tol)
    t_fin = time.perf_counter() - t
    gf_rate = args.samples / t_gf
    print(f"geomflow (solver {args.solver}): {args.samples} samples in {t_gf:.1f}s = {gf_rate:.1f} samples/s (flow), "
          f"polish+classify {args.samples / t_fin:.0f} samples/s; useful-work fraction "
          f"{stats.useful_work_fraction:.3f}; mean steps {raw['steps'].mean():.0f}, max {raw['steps'].max()}; "
          f"converged {np.mean(raw['status'] == 0):.3f}; max δ drift {rec['delta_drift'].max():.1e}")

    # A batch with slow, near-saddle members: every k-th sample's initial weights scaled down to
    # `slow_scale` (w = 0 is a saddle; such flows linger there, MATH.md §5).
    if args.slow_fraction > 0:
        from geomflow import sampled_problems

        base = sampled_problems(spec, 0, np.arange(args.samples))
        k = max(1, round(1 / args.slow_fraction))

        def mixed(positions):
            loss, w0 = base(positions)
            sc = jnp.where(jnp.asarray(positions) % k == 0, args.slow_scale, 1.0)
            return loss, tuple(W * sc.reshape((-1, 1, 1)) for W in w0)

        run_batch(spec, cfg, 1, np.arange(args.samples), tol, pool_size=args.pool_size, n_devices=args.devices, problems=mixed)
        t = time.perf_counter()
        mraw, mstats = run_batch(spec, cfg, 0, np.arange(args.samples), tol, pool_size=args.pool_size, n_devices=args.devices,
                                 problems=mixed)
        t_m = time.perf_counter() - t
        slow = np.arange(args.samples) % k == 0
        print(f"geomflow, batch with {slow.sum()} near-saddle starts (scale {args.slow_scale}): "
              f"{args.samples / t_m:.1f} samples/s; useful-work fraction "
              f"{mstats.useful_work_fraction:.3f}; steps median {np.median(mraw['steps'][~slow]):.0f} "
              f"(others) vs {np.median(mraw['steps'][slow]):.0f} (near-saddle), max {mraw['steps'].max()}; "
              f"statuses { {int(a): int(b) for a, b in zip(*np.unique(mraw['status'], return_counts=True))} } "
              f"(0 converged, 1 budget exhausted)")

    e2e = None
    if not args.no_end_to_end:
        def sweep(seed, n):
            cfg_s = gf.SweepConfig(spec, samples=n, seed=seed, solver=args.solver,
                                   pool_size=args.pool_size, n_devices=args.devices,
                                   chunk_size=max(1000, n))
            t = time.perf_counter()
            gf.run_flow_sweep(cfg_s)
            return time.perf_counter() - t

        sweep(1, args.samples)  # warm-up: compile every shape
        # ... including the drift-retry path (a converged sample over `drift_tol` is re-integrated
        # in a one-block pool: a shape of its own, compiled the first time a sweep meets one)
        gf.run_flow_sweep(gf.SweepConfig(spec, samples=8, seed=1, solver=args.solver,
                                         pool_size=args.pool_size, n_devices=args.devices,
                                         tolerances={"drift_tol": 0.0}))
        t_half = sweep(0, args.samples // 2)
        t_full = sweep(2, args.samples)
        e2e = (args.samples - args.samples // 2) / max(t_full - t_half, 1e-9)
        print(f"geomflow end-to-end (run_flow_sweep: flow, polish, classification, records): "
              f"{args.samples // 2} samples in {t_half:.1f}s, {args.samples} in {t_full:.1f}s: "
              f"marginal {e2e:.1f} samples/s (plain {args.samples / t_full:.1f}); load "
              f"{os.getloadavg()[0]:.1f}")

    user_ratio = None
    if not args.no_user_model:
        from geomflow import batchlast as bl

        shapes = spec.arch.weight_shapes

        def mu(w):
            P = w[0]
            for W in w[1:]:
                P = bl.mm(W, P)
            return P

        user = gf.UserModel(mu, shapes, (widths[-1], widths[0]), image_dim=spec.arch.neuromanifold_dim)
        uspec = ProblemSpec(widths, init_scale=args.init_scale, model=user)
        run_batch(uspec, cfg, 1, np.arange(args.samples), tol, pool_size=args.pool_size, n_devices=args.devices)
        t = time.perf_counter()
        uraw, _ = run_batch(uspec, cfg, 0, np.arange(args.samples), tol, pool_size=args.pool_size,
                            n_devices=args.devices)
        t_u = time.perf_counter() - t
        same = np.mean(uraw["status"] == raw["status"])
        user_ratio = t_u / t_gf
        print(f"geomflow, the same network as a UserModel (autodiff gradient and Hessian): "
              f"{args.samples / t_u:.1f} samples/s (flow) = {user_ratio:.2f}x the closed-form time; "
              f"same status for {same:.3f} of the samples; max |Δ steps| "
              f"{np.abs(uraw['steps'] - raw['steps']).max()}; load {os.getloadavg()[0]:.1f}")

    if args.geomflow_only:
        return

    from geomflow.models import LinearNetwork

    model = LinearNetwork(widths)
    grad = lambda v, a: model.grad(v, model.prepare(a))  # noqa: E731
    vm = None
    if args.no_vmap:
        args.vmap_samples = 0
    import diffrax

    def solve(loss, v0):
        term = diffrax.ODETerm(lambda t, y, a: -grad(y, a))
        ev = diffrax.Event(lambda t, y, a, **kw: jnp.linalg.norm(grad(y, a)) <= tol.grad)
        sol = diffrax.diffeqsolve(term, diffrax.Kvaerno5(), 0.0, tol.t_max, None, v0, loss,
                                  stepsize_controller=diffrax.PIDController(rtol=tol.rtol, atol=tol.atol),
                                  saveat=diffrax.SaveAt(t1=True), event=ev, max_steps=int(tol.max_steps),
                                  throw=False)
        return sol.ys[-1], sol.stats["num_steps"]

    nv = args.vmap_samples
    if nv:
        probs = jax.vmap(lambda i: sample_problem(spec, 0, i))(jnp.arange(nv))
        v0s = jax.vmap(flatten_weights)(probs[1])
        fn = jax.jit(jax.vmap(solve))
        # Warm-up / compile at the timed shape (another seed's problems).
        wprobs = jax.vmap(lambda i: sample_problem(spec, 1, i))(jnp.arange(nv))
        jax.block_until_ready(fn(wprobs[0], jax.vmap(flatten_weights)(wprobs[1])))
        t = time.perf_counter()
        _, steps = jax.block_until_ready(fn(probs[0], v0s))
        t_vm = time.perf_counter() - t
        steps = np.asarray(steps)
        vm = nv / t_vm
        print(f"vmap(diffeqsolve) Kvaerno5: {nv} samples in {t_vm:.1f}s = {vm:.1f} samples/s; "
              f"useful-work fraction {steps.sum() / (steps.max() * nv):.3f}")

    # --- scipy loop
    from scipy.integrate import solve_ivp

    gnp = jax.jit(grad)
    ns = args.scipy_samples
    t = time.perf_counter()
    n_ok = 0
    for i in range(ns):
        loss, w0 = sample_problem(spec, 0, i)
        X, Y = np.asarray(loss.X), np.asarray(loss.Y)
        shapes = spec.arch.weight_shapes
        sizes = [a * b for a, b in shapes]
        offs = np.cumsum([0] + sizes)

        def g_np(y):
            W = [y[offs[k]:offs[k + 1]].reshape(shapes[k]) for k in range(len(shapes))]
            below = [W[0]]
            for Wk in W[1:]:
                below.append(Wk @ below[-1])
            G = 2.0 * (below[-1] @ X - Y) @ X.T
            out, above = [None] * len(W), G
            for k in range(len(W) - 1, -1, -1):
                out[k] = above if k == 0 else above @ below[k - 1].T
                if k:
                    above = W[k].T @ above
            return np.concatenate([o.ravel() for o in out])

        def ev(t, y):
            return np.linalg.norm(g_np(y)) - tol.grad

        ev.terminal = True
        sol = solve_ivp(lambda t, y: -g_np(y), (0.0, tol.t_max), np.asarray(flatten_weights(w0)),
                        method="LSODA", rtol=tol.rtol, atol=tol.atol, events=ev)
        n_ok += sol.status == 1
    t_sp = time.perf_counter() - t
    sp = ns / t_sp
    del gnp
    print(f"scipy solve_ivp LSODA loop: {ns} samples in {t_sp:.1f}s = {sp:.2f} samples/s "
          f"({n_ok}/{ns} met the stopping test)")
    print(f"ratios vs the scipy loop (load {os.getloadavg()[0]:.1f}): flow-only {gf_rate / sp:.1f}x"
          + (f", end-to-end (marginal) {e2e / sp:.1f}x" if e2e else "")
          + (f"; geomflow/vmap(diffeqsolve) = {gf_rate / vm:.2f}x" if vm else "")
          + (f"; autodiff user model / closed form time = {user_ratio:.2f}x" if user_ratio else ""))


if __name__ == "__main__":
    main()
