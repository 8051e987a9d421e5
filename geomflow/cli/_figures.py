"""`geomflow figures`: run every experiment under `experiments/` and regenerate `figures/`.

Each experiment is a standalone script (`experiments/claimN_*.py`, `experiments/fig_*.py`) with
the common options `--full`, `--out DIR`, `--seed`; this command runs them in fresh Python
processes (so one failing experiment does not stop the others, and each gets a clean JAX
configuration), `--jobs` at a time (default 2: the quick runs are dominated by single-threaded
XLA compilation, so two at once nearly halve the wall time on two cores), longest first (each
script's `QUICK_SECONDS`), prints each one's output as it finishes, and ends with a table of what
ran, how long it took, and what failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "figures",
        help="regenerate every experiment's numbers and figures (quick default, or --full)",
        description="Run the experiments of experiments/ (one per claim of the talk) and write "
        "their JSON/CSV numbers and PNG+PDF figures.",
    )
    p.add_argument("--full", action="store_true", help="paper-size runs (hours) instead of the quick default")
    p.add_argument("--out", default="figures", help="output folder (default: figures/)")
    p.add_argument("--only", default=None,
                   help="comma-separated experiments to run, by file stem or claim, e.g. claim1,ed_ellipse")
    p.add_argument("--seed", type=int, default=0, help="root seed passed to every experiment")
    p.add_argument("--jobs", type=int, default=None,
                   help="experiments run at once (default: min(2, CPU count)); each is its own process")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    # The smallest size of every experiment: what the tests run (seconds each).
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def experiments_dir() -> Path:
    """The `experiments/` folder: `$GEOMFLOW_EXPERIMENTS`, the source checkout, or `./experiments`."""
    from .._errors import GeomflowError

    candidates = []
    if os.environ.get("GEOMFLOW_EXPERIMENTS"):
        candidates.append(Path(os.environ["GEOMFLOW_EXPERIMENTS"]))
    candidates.append(Path(__file__).resolve().parents[2] / "experiments")
    candidates.append(Path.cwd() / "experiments")
    for c in candidates:
        if c.is_dir() and any(c.glob("claim*.py")):
            return c
    raise GeomflowError(
        "cannot find the experiments/ folder (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); run from a source checkout of geomflow or set GEOMFLOW_EXPERIMENTS"
    )


def discover(folder: Path) -> list[Path]:
    """The experiment scripts, claims first (in claim order), then the figure scripts."""

    def key(p: Path):
        stem = p.stem
        if stem.startswith("claim"):
            digits = "".join(ch for ch in stem[5:] if ch.isdigit())
            return (0, int(digits or 0), stem)
        return (1, 0, stem)

    files = [p for p in folder.glob("*.py") if p.stem.startswith(("claim", "fig_"))]
    return sorted(files, key=key)


def _matches(path: Path, wanted: str) -> bool:
    stem = path.stem
    if wanted == stem:
        return True
    head, _, tail = stem.partition("_")
    # `claim1` matches claim1_neuromanifold; `ed_ellipse` matches fig_ed_ellipse; `neuromanifold` too
    return wanted in (head, tail) or (head == "fig" and wanted == tail)


def select(files: list[Path], only: str | None) -> list[Path]:
    from .._errors import GeomflowError

    if not only:
        return files
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen, unknown = [], []
    for w in wanted:
        hits = [f for f in files if _matches(f, w)]
        if not hits:
            unknown.append(w)
        chosen += [h for h in hits if h not in chosen]
    if unknown:
        raise GeomflowError(
            f"--only: unknown experiment(s) {', '.join(unknown)}; accepted: "
            + ", ".join(f.stem for f in files)
        )
    return chosen


def expected_seconds(path: Path) -> float:
    """The experiment's own estimate of its quick run (`QUICK_SECONDS = …` in the script), or 60."""
    import ast

    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, OSError):
        return 60.0
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "QUICK_SECONDS" for t in node.targets):
            try:
                return float(ast.literal_eval(node.value))
            except ValueError:
                break
    return 60.0


def run(args) -> int:
    from .._errors import GeomflowError
    from . import emit_json

    folder = experiments_dir()
    files = select(discover(folder), args.only)
    if args.list:
        for f in files:
            doc = _first_doc_line(f)
            print(f"{f.stem:28s} {doc}")
        return 0
    jobs = args.jobs if args.jobs is not None else max(1, min(2, os.cpu_count() or 1))
    if jobs < 1:
        raise GeomflowError(f"--jobs must be a positive integer, got {args.jobs}")
    os.makedirs(args.out, exist_ok=True)
    size = "full" if args.full else "tiny" if args.tiny else "quick"
    log = sys.stderr if args.json else sys.stdout
    print(f"geomflow figures: {len(files)} experiment(s), {size} size, {jobs} at a time, "
          f"writing to {args.out}/", file=log, flush=True)
    # Longest first, so that the parallel schedule ends together.
    queue = sorted(files, key=lambda f: -expected_seconds(f)) if jobs > 1 else list(files)
    results = {}
    running = {}
    t_all = time.perf_counter()
    while queue or running:
        while queue and len(running) < jobs:
            f = queue.pop(0)
            cmd = [sys.executable, str(f), "--out", args.out, "--seed", str(args.seed)]
            if args.full:
                cmd.append("--full")
            elif args.tiny:
                cmd.append("--tiny")
            print(f"--- start {f.stem}", file=log, flush=True)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            running[f] = (proc, time.perf_counter())
        time.sleep(0.2)
        for f, (proc, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            output = proc.stdout.read() if proc.stdout else ""
            dt = time.perf_counter() - t0
            print(f"--- done {f.stem} ({dt:.1f} s, exit {proc.returncode})", file=log, flush=True)
            if output:
                print(output.rstrip(), file=log if proc.returncode == 0 else sys.stderr, flush=True)
            results[f] = {"experiment": f.stem, "returncode": proc.returncode, "seconds": round(dt, 1)}
            del running[f]
    total = time.perf_counter() - t_all
    ordered = [results[f] for f in files]
    failed = [r for r in ordered if r["returncode"] != 0]
    summary = {"size": size, "out": args.out, "jobs": jobs, "seconds": round(total, 1),
               "experiments": ordered, "failed": [r["experiment"] for r in failed]}
    print("\nexperiment                    status   seconds", file=log)
    for r in ordered:
        status = "ok" if r["returncode"] == 0 else f"FAILED ({r['returncode']})"
        print(f"{r['experiment']:28s}  {status:8s} {r['seconds']:8.1f}", file=log)
    print(f"total {total:.1f} s wall; {len(ordered) - len(failed)}/{len(ordered)} succeeded", file=log)
    if args.json:
        emit_json(summary)
    return 1 if failed else 0


def _first_doc_line(path: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text()))
    except (SyntaxError, OSError):
        return ""
    return (doc or "").strip().splitlines()[0] if doc else ""
