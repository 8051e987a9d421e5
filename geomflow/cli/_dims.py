"""`geomflow dims`: `dim im δ` against `dim δ(H_{X,Y})` (Conjecture 2's sufficient condition).

Usage:

    geomflow dims --widths 2,2,2,2,2,2 [--json] [--exhaustive]     # one architecture ("show")
    geomflow dims sweep --n 1,2,3 --depths 2-8 [--json]             # constant widths n, depths h

The optional first word is the mode: `show` (default) or `sweep`.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "dims",
        help="dim im δ vs dim δ(H) (zero-Hessian critical points) for widths, or a sweep",
        description="Compare dim δ(H_{X,Y}) with dim im δ. Mode 'show' (default) for one "
        "architecture (--widths), mode 'sweep' for constant widths n over depths h "
        "(--n, --depths), printing the table and the first failing depth per n.",
    )
    p.add_argument("mode", nargs="?", choices=("show", "sweep"), default="show",
                   help="show (default): one architecture; sweep: a table over n and h")
    p.add_argument("--widths", help="show: comma-separated widths d_0,…,d_h, e.g. 2,2,2,2,2,2")
    p.add_argument("--n", default="1,2,3", help="sweep: comma-separated widths n (default 1,2,3)")
    p.add_argument("--depths", default="2-8", help="sweep: depths h as a range 2-8 or a list 2,3,5")
    p.add_argument("--seed", type=int, default=0, help="seed of the random points and data")
    p.add_argument("--exhaustive", action="store_true",
                   help="evaluate every piece even after one reaches dim im δ (slower; lists "
                   "all attaining pieces); the default for 'show', off by default for 'sweep'")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _parse_ints(text: str, what: str) -> list[int]:
    from .._errors import GeomflowError

    try:
        if "-" in text and "," not in text:
            lo, hi = (int(t) for t in text.split("-"))
            vals = list(range(lo, hi + 1))
        else:
            vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise GeomflowError(f"{what} must be a range like 2-8 or a list like 2,3,5, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise GeomflowError(f"{what} must be positive integers, got {text!r}")
    return vals


def run(args) -> int:
    from .. import _conjecture2 as c2  # numpy only
    from .._errors import GeomflowError
    from . import emit_json, parse_widths

    if args.mode == "show":
        if not args.widths:
            raise GeomflowError("dims: --widths is required (e.g. --widths 2,2,2,2,2,2); "
                                "or use 'geomflow dims sweep --n 1,2,3 --depths 2-8'")
        rep = c2.delta_H_dims(parse_widths(args.widths), seed=args.seed, stop_at_full=False)
        d = rep.to_dict()
        d["singular_value_gap"] = {"im_delta": d["im_delta_gap"], "pieces_min": d["min_piece_gap"]}
        if args.json:
            emit_json(d)
            return 0
        h = len(rep.widths) - 1
        print(f"widths          {','.join(map(str, rep.widths))}   (h = {h})")
        print(f"dim im δ        {rep.dim_im_delta}   (singular-value gap {rep.im_delta_gap:.1e})")
        if rep.dim_delta_H is None:
            print("dim δ(H)        H is empty (no zero-Hessian critical points for generic data)")
        else:
            print(f"dim δ(H)        {rep.dim_delta_H}   (max over {rep.num_pieces} pieces: "
                  f"{rep.num_three_block} three-block, {rep.num_data} data; "
                  f"three-block max {d['dim_delta_H_three_block']}, data max {d['dim_delta_H_data']}; "
                  f"smallest gap {rep.min_piece_gap:.1e})")
            print(f"attained by     {rep.attaining[0].describe()}"
                  + (f"   (+{len(rep.attaining) - 1} more)" if len(rep.attaining) > 1 else ""))
        verdict = "holds" if rep.condition_holds else "FAILS"
        print(f"condition       {verdict}: dim δ(H) < dim im δ is {rep.condition_holds}")
        return 0

    ns = _parse_ints(args.n, "--n")
    depths = _parse_ints(args.depths, "--depths")
    out = c2.dims_sweep(ns, depths, seed=args.seed, stop_at_full=not args.exhaustive)
    if args.json:
        emit_json(out)
        return 0
    print(f"{'n':>2} {'h':>2} {'dim im δ':>9} {'dim δ(H)':>9} {'3-block':>8} {'data':>5}  holds  attained by")
    for row in out["rows"]:
        dH = "∅" if row["dim_delta_H"] is None else row["dim_delta_H"]
        lb = "" if row["complete"] else "≥"  # a stopped search gives lower bounds per kind
        tb = "-" if row["dim_delta_H_three_block"] is None else f"{lb}{row['dim_delta_H_three_block']}"
        da = "-" if row["dim_delta_H_data"] is None else f"{lb}{row['dim_delta_H_data']}"
        kinds = ",".join(row["attaining_kinds"]) or "-"
        note = "" if row["complete"] else " (stopped at the first full-dimensional piece)"
        print(f"{row['n']:>2} {row['h']:>2} {row['dim_im_delta']:>9} {dH!s:>9} {tb!s:>8} {da!s:>5}  "
              f"{'yes' if row['condition_holds'] else 'NO':>5}  {kinds}{note}")
    for n, h in out["first_failing_depth"].items():
        print(f"first failing depth for n = {n}: {h if h is not None else 'none in the range'}")
    return 0
