"""`geomflow info`: the facts of an architecture."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="facts of an architecture: rank r, filling, d_w, dim of the neuromanifold, fibres",
        description="Print the facts of the linear network with widths d_0,…,d_h.",
    )
    p.add_argument("--widths", required=True, help="comma-separated widths d_0,…,d_h, e.g. 3,2,2,3")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import _networks
    from . import emit_json, parse_widths

    arch = _networks.architecture(parse_widths(args.widths))
    facts = arch.facts()
    if args.json:
        emit_json(facts)
        return 0
    kind = "filling (M_Φ is all matrices)" if arch.filling else "non-filling (determinantal variety)"
    print(f"widths            {','.join(map(str, arch.widths))}   (h = {arch.depth} layers)")
    print(f"r = min widths    {arch.rank}")
    print(f"neuromanifold     {kind}")
    print(f"dim M_Φ           {arch.neuromanifold_dim}  (= r(d_0+d_h−r); ambient {facts['ambient_dim']})")
    print(f"d_w (parameters)  {arch.num_params}")
    print(f"bottlenecks       {list(arch.bottlenecks)} (b = {arch.b})")
    print(f"fibre components  {arch.fibre_components} at rank r (= 2^b); connected below rank r")
    return 0
