"""Claim 8 (Conjecture 2): the dimension table `dim δ(H_{X,Y})` vs `dim im δ`, and the first failing depth.

Claim (MATH.md §4, *[paper]*): gradient flow almost surely does not converge to `H_{X,Y}` (the
critical points with zero Hessian) if `dim δ(H_{X,Y}) < dim im δ` for almost all data; the talk
says this holds for `h ≤ 5` and fails for large `h`.

What is computed, with the dimensions engine (`geomflow._dimensions`, issue 5): for networks with
all widths `n` and depth `h`, `dim im δ` (generic rank of the Jacobian of `δ`) and
`dim δ(H) = max` over the pieces of `H` (thread decompositions of type-A quiver
representations) of the rank of `Dδ` on the piece, for one random `Q = YXᵀ`; and per `n` the first
depth where `dim δ(H) < dim im δ` fails. `dims_sweep(stop_at_full=True)` stops the search over
pieces once a piece reaches `dim im δ`.

Measured outcome (quick default: n = 1, 2 for h = 2..8 and n = 3 for h = 2..7; numbers in
`figures/dimensions.json`), cells `dim δ(H) / dim im δ` (`H = ∅` for h = 2):

| n \\ h | 2 | 3 | 4 | 5 | 6 | 7 | 8 |
|---|---|---|---|---|---|---|---|
| 1 | ∅/1 | 0/2 | 1/3 | 2/4 | 3/5 | 4/6 | 5/7 |
| 2 | ∅/3 | 0/6 | 5/9 | 9/12 | 14/15 | **18/18** | **21/21** |
| 3 | ∅/6 | 0/12 | 11/18 | 21/24 | 29/30 | **36/36** | — |

So the condition holds for every `h ≤ 6` measured (which includes the talk's `h ≤ 5`) and first
fails at `h = 7` for `n = 2` and `n = 3` (there a piece of `H` reaches the full `dim im δ`); for
`n = 1` it holds at every depth measured (`dim δ(H) = h − 3 < h − 1 = dim im δ`). Quick run:
about 18 s on 2 CPU cores.

Run: `python experiments/claim8_dimensions.py [--full] [--out figures/]`.

**Full size** (`--full`, issue 16; writes `figures/dimensions_full.{json,csv,png,pdf}` and the
resumable cell cache `figures/dimensions_full.cells.jsonl`): constant widths n = 1..4 and the
width-3 families `3,2,3,…,3`, `2,3,…,3,2`, `3,…,3,2,3,…,3` (a width-2 bottleneck at the input
side, at both ends, in the middle), depths 2..8, each cell by `geomflow._conjecture2`:
exact `dim im δ` over two primes; failing cells certified by an attaining piece whose exact rank
equals it; holding cells by exact ranks of every piece (up to 20,000 pieces). Deep failing cells
are decided by the vertex-insertion search (n = 2, 3 at h = 7, 8: under a second each) instead of
enumerating every thread class (n = 4: 2.3·10⁶ classes and 487,686 pieces at h = 7, about 5 min
just to list them; ~10⁷ classes at h = 8, which do not fit in memory).
Run on 2026-12-01 on the shared 2-core machine (load average 8–27 from other engineers' jobs):
`nohup python experiments/claim8_dimensions.py --full --out figures &` (constant widths) and, in
a second process sharing the cache, `CLAIM8_FAMILIES="3,2,3,…,3;2,3,…,3,2;3,…,3,2,3,…,3"` for the
bottleneck families; the cells finished by the deadline were rendered with
`CLAIM8_RENDER_ONLY=1` (`missing_cells` in the JSON lists the rest; rerunning the command
resumes). All 49 cells finished; per-cell wall times are in the CSV (`seconds`): 6,434 s of
cell time in all, 5,593 s of it n = 4, h = 6 (26,546 pieces, run during a swap storm on the
machine); the failing deep cells took under 80 s each by the vertex-insertion search.

Measured (every cell confirmed by exact ranks over both primes; for n = 4, h = 6 only the
attaining piece, its 26,546 pieces being over the all-pieces limit): the sufficient condition
holds through h = 6 and first fails at h = 7 in every family except n = 1 (which holds at every
depth, `h − 3 < h − 1`):
n = 2: 14/15 at h = 6, 18/18 at h = 7; n = 3: 29/30, 36/36; n = 4: 49/50, 60/60 (70/70 at h = 8);
`3,2,3,…,3`: 26/27, 33/33 (attained by a three-block piece); `2,3,…,3,2`: 29/30, 36/36;
`3,…,3,2,3,…,3`: 26/27, 33/33 (data pieces elsewhere).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 20  # rough wall time of the quick default on 2 CPU cores (for scheduling)
NAME = "dimensions"
FULL_NAME = "dimensions_full"  # the --full table (its own files: `make figures` keeps them)
SIZES = {
    "tiny": {1: range(2, 6), 2: range(2, 5)},
    "quick": {1: range(2, 9), 2: range(2, 9), 3: range(2, 8)},
}
FULL_DEPTHS = range(2, 9)


def full_families() -> dict:
    """The --full table's families: name -> {h: widths}. Constant widths n = 1..4, and width-3
    networks with bottlenecks of width 2 (at the input side, at both ends, in the middle)."""
    fam: dict = {f"n={n}": {h: (n,) * (h + 1) for h in FULL_DEPTHS} for n in (1, 2, 3, 4)}
    fam["3,2,3,…,3"] = {h: (3, 2) + (3,) * (h - 1) for h in FULL_DEPTHS}
    fam["2,3,…,3,2"] = {h: (2,) + (3,) * (h - 1) + (2,) for h in FULL_DEPTHS}
    fam["3,…,3,2,3,…,3"] = {h: (3,) * (h // 2) + (2,) + (3,) * (h - h // 2) for h in FULL_DEPTHS}
    return fam


def run_full(args) -> dict:
    """The paper-size table, one cell at a time, resumable: every finished cell is appended to
    `OUT/dimensions_full.cells.jsonl` and skipped when the run is restarted.

    Environment: `CLAIM8_FAMILIES` (names of `full_families()` separated by `;`) computes only
    those families (several processes can share the cache); `CLAIM8_RENDER_ONLY=1` computes
    nothing and writes the table, CSV and figure from the cached cells (missing cells listed)."""
    import json

    from geomflow._conjecture2 import conjecture2_cell, pieces_from_threads

    os.makedirs(args.out, exist_ok=True)
    cache_path = os.path.join(args.out, f"{FULL_NAME}.cells.jsonl")
    done = {}
    if os.path.exists(cache_path):
        with open(cache_path) as f:
            for line in f:
                if line.strip():
                    c = json.loads(line)
                    done[(tuple(c["widths"]), c["seed"])] = c
    rows, first, missing = [], {}, []
    only = [f for f in os.environ.get("CLAIM8_FAMILIES", "").split(";") if f]
    render_only = os.environ.get("CLAIM8_RENDER_ONLY") == "1"
    with _style.Timer() as tm:
        for fam, cells in full_families().items():
            prev = None
            first[fam] = None
            for h, widths in cells.items():
                key = (tuple(widths), args.seed)
                if key in done:
                    c = done[key]
                elif render_only or (only and fam not in only):
                    missing.append(f"{fam} h={h}")
                    prev = None
                    continue
                else:
                    prev_att = pieces_from_threads(prev["widths"], prev["attaining"]) if prev else ()
                    c = conjecture2_cell(widths, seed=args.seed, previous_attaining=prev_att)
                    c["seed"] = args.seed
                    with open(cache_path, "a") as f:
                        f.write(json.dumps(c, default=_style.json_default) + "\n")
                    print(f"   {fam} h={h}: {c['dim_delta_H']}/{c['dim_im_delta']} "
                          f"{'holds' if c['condition_holds'] else 'FAILS'} ({c['search']}, "
                          f"{c['seconds']:.1f} s)", flush=True)
                c = dict(c, family=fam)
                rows.append(c)
                if not c["condition_holds"] and first[fam] is None:
                    first[fam] = h
                prev = c
    table = [{"family": r["family"], "widths": ",".join(map(str, r["widths"])), "h": r["h"],
              "dim_im_delta": r["dim_im_delta"], "dim_delta_H": r["dim_delta_H"],
              "condition_holds": r["condition_holds"], "search": r["search"],
              "num_pieces": r.get("num_pieces"),
              "exact_dim_im_delta": "/".join(map(str, r["exact_dim_im_delta"])),
              "exact_attaining": "/".join(map(str, r["exact_attaining"][-1])) if r["exact_attaining"] else "",
              "exact_max_all_pieces": r.get("exact_max_all_pieces"),
              "exact_confirms": r["exact_confirms"],
              "attaining_piece": (r.get("attaining_piece") or {}).get("description", ""),
              "seconds": r["seconds"]} for r in rows]
    first_piece = {}
    for fam, h in first.items():
        r = next((t for t in table if t["family"] == fam and t["h"] == h), None)
        first_piece[fam] = r["attaining_piece"] if r else None
    result = {
        "claim": "Conjecture 2 sufficient condition dim δ(H_{X,Y}) < dim im δ at full size: constant "
                 "widths n = 1..4 and width-3 networks with bottlenecks, depths 2..8, exact ranks "
                 "over two primes",
        "first_failing_depth": first,
        "first_failing_piece": first_piece,
        "all_exact_confirm": all(t["exact_confirms"] for t in table),
        "missing_cells": missing,
        "table": table, "rows": rows, "seconds_this_run": tm.seconds,
        "seconds_all_cells": round(sum(t["seconds"] for t in table), 1),
        "meta": _style.metadata(args, load=os.getloadavg(), cpus=os.cpu_count()),
    }
    _style.write_json(args.out, FULL_NAME, result)
    _style.write_csv(args.out, FULL_NAME, table)
    fams = list(full_families())
    _figure(args.out, [dict(t, n=fams.index(t["family"])) for t in table],
            {i: FULL_DEPTHS for i in range(len(fams))}, name=FULL_NAME, ylabels=fams)
    lines = [f"{fam}: first failing h = {h}; piece: {first_piece[fam]}" for fam, h in first.items()]
    lines.append(f"exact ranks confirm every cell: {result['all_exact_confirm']}")
    lines.append(f"cells not computed (yet): {missing or 'none'}")
    _style.report(FULL_NAME, lines)
    return result


def run(args) -> dict:
    _style.setup_jax()
    if args.size == "full":
        return run_full(args)
    try:
        from geomflow import dims_sweep
    except ImportError as exc:
        raise SystemExit(f"claim 8 needs the dimensions engine geomflow._dimensions (issue 5): {exc}")

    plan = SIZES[args.size]
    rows, first = [], {}
    with _style.Timer() as tm:
        for n, depths in plan.items():
            with _style.Timer() as tn:
                res = dims_sweep([n], list(depths), seed=args.seed, stop_at_full=True)
            for r in res["rows"]:
                r["seconds_for_n"] = round(tn.seconds, 2)
            rows += res["rows"]
            first[n] = res["first_failing_depth"][n]
    table = [{"n": r["n"], "h": r["h"], "dim_im_delta": r["dim_im_delta"],
              "dim_delta_H": r["dim_delta_H"], "condition_holds": r["condition_holds"],
              "num_pieces": r["num_pieces"], "complete": r["complete"]} for r in rows]
    result = {
        "claim": "Conjecture 2 sufficient condition dim δ(H_{X,Y}) < dim im δ: table over widths n "
                 "and depths h, first failing depth",
        "first_failing_depth": {str(k): v for k, v in first.items()},
        "holds_for_all_h_le_5": all(r["condition_holds"] for r in rows if r["h"] <= 5),
        "table": table, "rows": rows, "seconds": tm.seconds, "meta": _style.metadata(args),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, table)
    _figure(args.out, table, plan)
    lines = []
    for n, depths in plan.items():
        cells = []
        for h in depths:
            r = next(t for t in table if t["n"] == n and t["h"] == h)
            dh = "∅" if r["dim_delta_H"] is None else str(r["dim_delta_H"])
            cells.append(f"h={h}:{dh}/{r['dim_im_delta']}{'' if r['condition_holds'] else '!'}")
        lines.append(f"n={n}: " + " ".join(cells) + f"  first failing h = {first[n]}")
    lines.append(f"condition holds for all h ≤ 5: {result['holds_for_all_h_le_5']}")
    _style.report(NAME, lines)
    return result


def _figure(out, table, plan, *, name=NAME, ylabels=None):
    pyplot = _style.plt()
    from matplotlib.colors import ListedColormap

    ns = sorted(plan)
    hs = sorted({h for d in plan.values() for h in d})
    grid = np.full((len(ns), len(hs)), np.nan)
    for t in table:
        grid[ns.index(t["n"]), hs.index(t["h"])] = 1.0 if t["condition_holds"] else 0.0
    fig, ax = _style.new_figure(1, 1, width=0.62 * len(hs) + 1.6, height=0.5 * len(ns) + 1.3)
    cmap = ListedColormap(["#f4c7b0", "#cdebdc"])
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for t in table:
        i, j = ns.index(t["n"]), hs.index(t["h"])
        dh = "∅" if t["dim_delta_H"] is None else str(t["dim_delta_H"])
        ax.text(j, i, f"{dh}/{t['dim_im_delta']}", ha="center", va="center", fontsize=7.5,
                fontweight="normal" if t["condition_holds"] else "bold")
    ax.set_xticks(range(len(hs)))
    ax.set_xticklabels(hs)
    ax.set_yticks(range(len(ns)))
    ax.set_yticklabels(ylabels if ylabels else ns)
    ax.set_xlabel("depth h (number of layers)")
    ax.set_ylabel("widths" if ylabels else "width n (all layers)")
    ax.set_title("dim δ(H$_{X,Y}$) / dim im δ   (green: <, sufficient for Conjecture 2; red: =, fails)", fontsize=8.5)
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)
    fig.tight_layout()
    _style.save_figure(fig, out, name)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
