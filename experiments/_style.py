"""Shared plumbing of the experiments: one look for every figure, one command line, one output.

Every experiment script imports this module (it sits beside them, so `python experiments/x.py`
finds it) and uses

- [`parse_args`][]: `--full` (paper size), `--tiny` (the size the tests run), `--out DIR`
  (default `figures/`), `--seed`;
- [`new_figure`][] / [`save_figure`][]: the house style (fonts, colours, labelled axes) and the
  PNG (for the README gallery) + PDF (for papers) pair;
- [`write_json`][] / [`write_csv`][]: the numbers behind each figure, with the run's metadata;
- [`wilson_interval`][]: binomial confidence intervals for Monte Carlo shares.

Matplotlib is imported lazily with the Agg backend: nothing here opens a window.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from collections.abc import Sequence

import geomflow as gf

# One palette for every figure (colour-blind safe, Okabe–Ito), by meaning rather than by order.
COLORS = {
    "global_min": "#009E73",  # green: the good outcome
    "bad_min": "#D55E00",  # vermillion: non-global local minima
    "saddle": "#E69F00",  # orange: strict saddles
    "zero_hessian": "#CC79A7",  # purple: zero Hessian / non-strict
    "other": "#999999",  # grey: not converged / undecided
    "primary": "#0072B2",  # blue: the main curve
    "secondary": "#56B4E9",  # light blue
    "accent": "#000000",
}
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
SIZES = ("tiny", "quick", "full")


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The common command line of every experiment; `args.size` is `tiny`, `quick` or `full`."""
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--full", action="store_true", help="paper-size run (minutes to hours)")
    g.add_argument("--tiny", action="store_true", help="smallest run (what the tests use)")
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    args = p.parse_args(argv)
    args.size = "full" if args.full else "tiny" if args.tiny else "quick"
    return args


def sweep_parser(description: str, name: str, *, full_help: str, tiny_help: str,
                 per: str) -> argparse.ArgumentParser:
    """The command line of a resumable paper-size sweep (the atlas, the hard-data panel, the
    escape fit): `--full | --tiny | --samples N` (flows per `per`), `--out`, `--runs` (where its
    chunks live, default `runs/<name>`), `--seed`. Add options, then call [`parse_sweep`][]."""
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--full", action="store_true", help=full_help)
    g.add_argument("--tiny", action="store_true", help=tiny_help)
    g.add_argument("--samples", type=int, help=f"flows per {per} (overrides the size)")
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.add_argument("--runs", default=os.path.join("runs", name),
                   help=f"where the resumable sweeps keep their chunks (default runs/{name})")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    return p


def parse_sweep(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a [`sweep_parser`][] command line; `args.size` is `tiny`, `quick` or `full`."""
    args = p.parse_args(argv)
    if args.samples is not None and args.samples <= 0:
        p.error(f"--samples must be a positive number of flows, got {args.samples}")
    args.size = "full" if args.full else "tiny" if args.tiny else "quick"
    return args


def finished_sweep(out: str, n: int):
    """The sweep in directory `out` as far as it is finished: verified chunks (of its current
    configuration) that tile samples `0 … k−1` without a gap, `k ≤ n`, the largest chunk first
    where several start at the same sample (a quick run may have left small ones beside a long
    run's), as a `SweepResult`, without running a flow (the `--from-runs` of the paper-size
    scripts); None if there is none. Its `wall_s` is 0: the run that wrote the chunks knows its
    time, not this one."""
    import json

    from geomflow._records import _chunk_metas, _read_chunk

    path = os.path.join(out, "run.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        run = json.load(fh)
    metas = [m for m in _chunk_metas(out) if m.get("fingerprint") == run["fingerprint"]]
    parts, pos = [], 0
    while True:
        nxt = [m for m in metas if m["start"] == pos and m["stop"] <= n]
        rec = None
        for m in sorted(nxt, key=lambda m: -m["stop"]):
            rec = _read_chunk(out, m)
            if rec is not None:
                pos = m["stop"]
                break
        if rec is None:
            break
        parts.append(rec)
    if not parts:
        return None
    import numpy as np

    records = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
    return gf.SweepResult(dict(run["config"], samples=pos), records, 0, 0, 0.0)


def add_shares(row: dict, counts: dict, n: int) -> dict:
    """Put each `counts[c]` into `row` with its 95% Wilson interval of `n` (`c`,
    `c_wilson95_lo`, `c_wilson95_hi`: the columns of the paper-size tables); returns `row`."""
    for c, k in counts.items():
        row[c] = int(k)
        row[f"{c}_wilson95_lo"], row[f"{c}_wilson95_hi"] = gf.wilson_interval(int(k), n)
    return row


def previous_walls(out: str, name: str, keys: Sequence[str]) -> dict:
    """`{(row[k] for k in keys) + (samples,): wall_s}` from an earlier `out/name.json`, so that
    tables rewritten `--from-runs` keep the wall time of the run that computed each row."""
    import json

    try:
        with open(os.path.join(out, f"{name}.json")) as fh:
            rows = json.load(fh).get("rows", [])
    except (OSError, ValueError):
        return {}
    return {tuple(r.get(k) for k in keys) + (r.get("samples"),): r.get("wall_s") for r in rows}


def setup_jax() -> None:
    """float64 (every classification and tolerance ≤ 1e-8 needs it) and a persistent cache."""
    import jax

    jax.config.update("jax_enable_x64", True)
    gf.enable_compile_cache()


def plt():
    """`matplotlib.pyplot` with the Agg backend and the house style applied."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "grid.linewidth": 0.5,
            "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
            "lines.linewidth": 1.5,
            "savefig.bbox": "tight",
            "savefig.pad_inches": 0.05,
            "pdf.fonttype": 42,
            "figure.dpi": 100,
        }
    )
    return pyplot


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 2.8, **kw):
    """`(fig, axes)` with `ncols × nrows` panels of `width × height` inches each."""
    pyplot = plt()
    fig, axes = pyplot.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kw)
    return fig, axes


def save_figure(fig, out: str, name: str, *, dpi: int = 130) -> list[str]:
    """Write `name.png` and `name.pdf` into `out`; close the figure; return the two paths."""
    os.makedirs(out, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(out, f"{name}.{ext}")
        fig.savefig(path, dpi=dpi if ext == "png" else None,
                    metadata={"Software": "geomflow"} if ext == "png" else {"Creator": "geomflow"})
        paths.append(path)
    plt().close(fig)
    return paths


def metadata(args: argparse.Namespace | None = None, **extra) -> dict:
    """Versions, backend and the run's size/seed, recorded beside every result."""
    meta = {"python": platform.python_version(), "platform": platform.platform()}
    for mod in ("jax", "numpy", "scipy", "diffrax", "optax", "matplotlib"):
        m = sys.modules.get(mod)
        if m is not None:
            meta[mod] = getattr(m, "__version__", "?")
    if "jax" in sys.modules:
        import jax

        meta["backend"] = jax.default_backend()
    try:
        import geomflow

        meta["geomflow"] = geomflow.__version__
    except Exception:
        pass
    if args is not None:
        meta.update(size=args.size, seed=args.seed)
    meta.update(extra)
    return meta


def write_json(out: str, name: str, obj: dict) -> str:
    """Write `obj` to `out/name.json` atomically; return the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.json")
    gf.atomic_write_json(path, obj, indent=2, sort_keys=False)
    return path


def write_csv(out: str, name: str, rows: Sequence[dict]) -> str:
    """Write a tidy table (one dict per row, same keys) to `out/name.csv`; return the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.csv")
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: gf.json_default(v) if not isinstance(v, str | int | float | type(None)) else v
                        for k, v in r.items()})
    os.replace(tmp, path)
    return path


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for a binomial share `k/n` (geomflow's own, re-exported here)."""
    _wilson = gf.wilson_interval

    return _wilson(k, n, z)


class Timer:
    """`with Timer() as t: …; t.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def report(name: str, lines: Sequence[str]) -> None:
    """Print an experiment's human-readable summary."""
    print(f"== {name}")
    for line in lines:
        print(f"   {line}")
