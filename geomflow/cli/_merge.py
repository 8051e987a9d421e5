"""`geomflow merge`: join the chunk files of several sweep directories (shards)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "merge",
        help="merge sweep directories (e.g. --shard K/N runs) after checking the index ranges",
        description="Merge the chunks of several `geomflow flow --out DIR` runs of the same "
        "configuration into one directory; fails if an index range is missing or doubled.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories to merge")
    p.add_argument("--out", required=True, help="directory for the merged sweep")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import emit_json, setup_jax

    setup_jax("float64")
    from .._sweep import merge_sweeps

    res = merge_sweeps(args.dirs, args.out)
    summary = res.summary()
    for k in ("wall_s", "samples_per_s", "useful_work_fraction"):
        summary.pop(k, None)
    summary["merged_from"] = list(args.dirs)
    if args.json:
        emit_json(summary)
    else:
        print(f"merged {len(args.dirs)} directories into {args.out}: {summary['samples']} samples")
        for k, v in summary["tally"].items():
            print(f"  {k:22s} {v:8d}")
    return 0
