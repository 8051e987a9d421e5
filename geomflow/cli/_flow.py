"""`geomflow flow`: where does gradient flow on a network (linear, convolutional, polynomial) end,
and how often?"""

from __future__ import annotations

# CLI option → (SweepConfig / ProblemSpec key, type). Options left unset fall back to the
# `--config` TOML file, then to the defaults.
_OPTIONS = {
    "widths": "widths", "samples": "samples", "seed": "seed", "loss": "loss", "init": "init",
    "init_scale": "init_scale", "data": "data", "n_data": "n_data", "noise": "noise",
    "method": "method", "solver": "solver", "out": "out", "precision": "precision",
    "chunk_size": "chunk_size", "pool_size": "pool_size", "round_steps": "round_steps",
    "devices": "n_devices", "shard": "shard", "model": "model", "block_width": "block_width",
    "loss_star": "loss_star", "correlation": "correlation", "gap": "gap", "target_rank": "target_rank",
}
_TOLERANCES = ("grad", "rtol", "atol", "t_max", "max_steps", "learning_rate", "drift_tol")


def register(sub) -> None:
    from .._sampling import DATA_MODELS

    p = sub.add_parser(
        "flow",
        help="Monte Carlo of gradient flows: tally where they end (global min, saddles, …)",
        description="Run gradient flow (or gd/momentum/adam) on random instances of a linear "
        "network and tally the critical sets where the runs end, with Wilson intervals, the "
        "balance-invariant drift and per-sample records. Options override --config FILE.toml.",
    )
    p.add_argument("--widths", help="comma-separated widths d_0,…,d_h, e.g. 3,2,2,3")
    p.add_argument("--model", help="what is trained: linear (default, from --widths), "
                   "lcn:K1,…,KL[/s=S1,…,SL] (linear convolutional network, filter sizes K_l, strides "
                   "S_l, default 1; 2-D: lcn:2x2,2x2/s=2x2,1x1) or poly:D0,…,Dh/r=R (activation "
                   "x↦x^R, squared error on Gaussian inputs)")
    p.add_argument("--loss-star", type=float, dest="loss_star",
                   help="the global minimum value L* if you know it (decides global vs non-global)")
    p.add_argument("--no-bad-minima", action="store_true", dest="no_bad_minima",
                   help="claim that every local minimum is global (e.g. a convex loss on a "
                   "filling model)")
    p.add_argument("--block-width", type=int, dest="block_width",
                   help="lanes per block of the batch-last integrators (default: the backend's, "
                   "CPU 128/32, GPU one block per pool)")
    p.add_argument("--samples", type=int, help="number of samples (default 1000)")
    p.add_argument("--seed", type=int, help="sweep seed (default 0)")
    p.add_argument("--loss", choices=("quadratic", "perturbed"))
    p.add_argument("--init", choices=("gaussian", "balanced", "orthogonal"))
    p.add_argument("--init-scale", type=float, dest="init_scale")
    p.add_argument("--data", choices=DATA_MODELS,
                   help="data model (default gaussian; see geomflow._sampling): the hard cases are "
                   "correlated (--correlation), close_spectrum (--gap) and low_rank (--target-rank)")
    p.add_argument("--correlation", type=float, help="correlated data: ρ of Σ_XX (default 0.9)")
    p.add_argument("--gap", type=float, help="close_spectrum data: σ_i(Q) = 1 − (i−1)·gap (default 1e-3)")
    p.add_argument("--target-rank", type=int, dest="target_rank",
                   help="low_rank data: rank of the target YXᵀ (default r − 1)")
    p.add_argument("--n-data", type=int, dest="n_data", help="data points s (default max(10, 2·d_0))")
    p.add_argument("--noise", type=float, help="teacher–student noise level (default 0.1)")
    p.add_argument("--method", choices=("flow", "gd", "momentum", "adam"))
    p.add_argument("--solver", help="flow solver: auto (default: batch-last Tsit5 → Rodas5P), tsit5+kvaerno5 (diffrax), kvaerno5, kvaerno3, tsit5, dopri5, …")
    p.add_argument("--out", help="output directory (chunks, manifest, samples.csv); resumable")
    p.add_argument("--config", help="TOML file with any of these options (CLI options win)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--shard", help="run only shard K/N of the index range (0 ≤ K < N)")
    p.add_argument("--precision", choices=("float64", "float32"))
    p.add_argument("--chunk-size", type=int, dest="chunk_size")
    p.add_argument("--pool-size", type=int, dest="pool_size")
    p.add_argument("--round-steps", type=int, dest="round_steps")
    p.add_argument("--devices", type=int, help="devices to shard over (default 1)")
    p.add_argument("--progress", action="store_true", help="progress with ETA on stderr")
    p.add_argument("--no-ed-globality", action="store_true",
                   help="perturbed loss on a non-filling network: do not solve each local_min "
                   "instance with the ED engine to split it into global / non-global")
    for t in _TOLERANCES:
        p.add_argument(f"--{t.replace('_', '-')}", type=float, dest=f"tol_{t}",
                       help=f"tolerance/budget {t} (see FlowTolerances)")
    p.set_defaults(func=run)


def build_config(args):
    """The `SweepConfig` from the parsed arguments and the optional TOML file."""
    import os

    from .._errors import GeomflowError
    from .._sweep import SweepConfig, parse_shard
    from . import parse_widths

    d: dict = {}
    if args.config:
        import tomllib

        if not os.path.exists(args.config):
            raise GeomflowError(f"--config file {args.config!r} does not exist")
        try:
            with open(args.config, "rb") as fh:
                d = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise GeomflowError(f"--config {args.config}: invalid TOML ({exc})") from None
        d = dict(d.get("flow", d))
        if "devices" in d:
            d["n_devices"] = d.pop("devices")
        if isinstance(d.get("widths"), str):
            d["widths"] = parse_widths(d["widths"])
    for opt, key in _OPTIONS.items():
        v = getattr(args, opt, None)
        if v is not None:
            d[key] = v
    if isinstance(d.get("widths"), str):
        d["widths"] = parse_widths(d["widths"])
    if "widths" not in d and "model" in d:
        d["widths"] = (1, 1)  # replaced by the model's end-to-end shape
    if "widths" not in d:
        raise GeomflowError("--widths is required (e.g. --widths 3,2,2,3), or give it in --config")
    if isinstance(d.get("shard"), str):
        d["shard"] = parse_shard(d["shard"])
    tols = dict(d.pop("tolerances", {}) or {})
    for t in _TOLERANCES:
        v = getattr(args, f"tol_{t}", None)
        if v is not None:
            tols[t] = int(v) if t == "max_steps" else v
    d["tolerances"] = tols
    d.setdefault("samples", 1000)
    if getattr(args, "no_bad_minima", False):
        d["no_bad_minima"] = True
    if getattr(args, "no_ed_globality", False):
        d["ed_globality"] = False
    d["progress"] = bool(getattr(args, "progress", False)) or bool(d.get("progress", False))
    return SweepConfig.from_dict(d)


def run(args) -> int:
    from . import emit_json, setup_jax

    config = build_config(args)
    setup_jax("float64")  # float64 stays on: the classification is always float64
    import jax

    if config.n_devices > len(jax.devices()):
        from .._errors import GeomflowError

        raise GeomflowError(
            f"--devices {config.n_devices} but JAX sees {len(jax.devices())} device(s); on CPU set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={config.n_devices}"
        )
    from .._sweep import run_flow_sweep

    res = run_flow_sweep(config)
    summary = res.summary()
    laws = getattr(config.spec.network, "conserved_description", None)
    if laws:
        summary["conserved_quantities"] = laws
    if args.json:
        emit_json(summary)
        return 0
    n = summary["samples"]
    what = (config.spec.model.spec_string() if config.spec.model is not None
            else "widths " + ",".join(map(str, config.spec.widths)))
    print(f"{what}  samples {n}  method {config.method}"
          f"  solver {config.solver}  precision {config.precision}")
    for k, v in summary["tally"].items():
        lo, hi = summary["fractions"][k]["wilson_95"]
        print(f"  {k:22s} {v:8d}  {v / max(n, 1):7.3%}  [{lo:.3%}, {hi:.3%}]")
    print(f"max relative drift of the conserved quantities ({laws or 'none known'}) "
          f"{summary['max_delta_drift']:.2e}"
          f" (over drift_tol {summary['drift_tol']:.0e}: {summary['over_drift_bound']}, "
          f"re-integrated: {summary['drift_retried']})")
    print(f"useful-work fraction "
          f"{summary['useful_work_fraction']:.2f}   {summary['samples_per_s']:.1f} samples/s"
          f"   wall {summary['wall_s']:.1f}s")
    if "ed_globality" in summary:
        g = summary["ed_globality"]
        print(f"local_min resolved by the ED engine: {g['global_min']} global, "
              f"{g['non_global_local_min']} non-global, {g['unresolved']} unresolved")
    if config.out:
        print(f"records: {config.out}/samples.csv")
    return 0
