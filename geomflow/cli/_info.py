"""`geomflow info`: the facts of an architecture.

    geomflow info --widths 3,2,2,3                     # a linear network
    geomflow info --lcn 2,2 [--strides 1,1]            # a 1-D linear convolutional network
    geomflow info --lcn 2x2,3x3 --strides 1x1,2x2      # a 2-D LCN (filters k×k', strides s×s')
    geomflow info --polynomial 3,5,1 --power 4         # a polynomial network x ↦ x^r

For LCNs and polynomial networks it prints the function-space dimension (exact over two primes
and numerical), the expected dimension and the defect; `--laws` adds the number of conservation
laws (Marcotte–Gribonval–Peyré) against the known ones (slower: iterated Lie brackets).
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="facts of an architecture: linear network (--widths), LCN (--lcn), polynomial network (--polynomial)",
        description="Print the facts of a linear network (--widths d_0,…,d_h), a linear "
        "convolutional network (--lcn filter sizes, --strides) or a polynomial network "
        "(--polynomial widths, --power r): for the last two the function-space dimension "
        "(exact over F_p and numerical), the expected dimension and the defect.",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--widths", help="linear network: comma-separated widths d_0,…,d_h, e.g. 3,2,2,3")
    g.add_argument("--lcn", help="LCN filter sizes, one per layer: 1-D 2,3,2 or 2-D 2x2,3x2")
    g.add_argument("--polynomial", help="polynomial network widths d_0,…,d_h, e.g. 3,5,1 (with --power)")
    p.add_argument("--strides", help="LCN strides, one per layer (default all 1): 1-D 2,1 or 2-D 1x1,2x2")
    p.add_argument("--power", type=int, help="polynomial network activation x ↦ x^r: r (required with --polynomial)")
    p.add_argument("--laws", action="store_true", help="also count the conservation laws (iterated Lie brackets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random points (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _parse_layers(text: str, what: str):
    """`2,3` → (2, 3); `2x2,3x1` → ((2, 2), (3, 1))."""
    from .._errors import GeomflowError

    try:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if any("x" in t for t in items):
            out = tuple(tuple(int(v) for v in t.split("x")) for t in items)
            if any(len(t) != 2 for t in out):
                raise ValueError
            return out
        return tuple(int(t) for t in items)
    except ValueError:
        raise GeomflowError(f"{what} must be comma-separated integers (1-D, e.g. 2,3) or kxk' pairs "
                            f"(2-D, e.g. 2x2,3x3), got {text!r}") from None


def run(args) -> int:
    from . import emit_json

    if args.widths is not None:
        return _run_linear(args)
    from .. import _function_space as fs
    from .._errors import GeomflowError

    if args.lcn is not None:
        if args.power is not None:
            raise GeomflowError("--power is for --polynomial networks, not --lcn")
        ks = _parse_layers(args.lcn, "--lcn")
        ss = _parse_layers(args.strides, "--strides") if args.strides else None
        model = fs.lcn_model(ks, ss)
    else:
        if args.strides is not None:
            raise GeomflowError("--strides is for --lcn networks, not --polynomial")
        if args.power is None:
            raise GeomflowError("--polynomial needs --power r (the activation x ↦ x^r), e.g. --power 2")
        model = fs.polynomial_network_model(_parse_layers(args.polynomial, "--polynomial"), args.power)
    rep = fs.function_space_dim(model, seed=args.seed)
    out = rep.to_dict()
    laws = None
    if args.laws:
        from .._conservation_laws import conservation_law_count

        laws = conservation_law_count(model, seed=args.seed)
        out["conservation_laws"] = laws.to_dict()
    if args.json:
        emit_json(out)
        return 0
    exact = "/".join(map(str, rep.exact_ranks)) if rep.exact_ranks else "n/a"
    gap = rep.numerical.gap
    print(f"model             {model.name}")
    print(f"d_w (parameters)  {model.num_params}")
    print(f"ambient dim       {rep.ambient_dim}")
    print(f"dim (exact)       {exact}   (rank mod p = {', '.join(map(str, rep.primes))} at an integer "
          f"point, entries ±1..{rep.entry_bound}; P(below generic) ≤ {rep.failure_probability_bound:.1e})"
          if rep.exact_ranks else "dim (exact)       n/a")
    print(f"dim (numerical)   {rep.numerical.rank}   (float64 SVD, rtol {rep.numerical.rtol:.0e}, gap "
          f"{'inf' if gap == float('inf') else f'{gap:.1e}'})")
    print(f"expected dim      {rep.expected_dim}")
    print(f"defect            {rep.defect}" + ("" if rep.agree else "   (exact and numerical ranks DISAGREE)"))
    if laws is not None:
        print(f"conservation laws {laws.num_laws}   (d_w − dim Lie = {model.num_params} − {laws.lie_dim}; "
              f"known laws: {laws.expected_laws}; trace by level {list(laws.trace_by_level)}"
              f"{'' if laws.converged else '; NOT converged'})")
    return 0


def _run_linear(args) -> int:
    from .. import _networks
    from .._errors import GeomflowError
    from . import emit_json, parse_widths

    if args.lcn or args.polynomial or args.strides or args.power is not None or args.laws:
        raise GeomflowError("--strides, --power and --laws are for --lcn/--polynomial models, not --widths")
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
