"""`geomflow ed`: ED degrees of the rank-r matrices, the table of real critical points / minima,
and ED degrees of the Segre cone (rank-one tensors)."""

from __future__ import annotations

_DISTANCES = ("generic", "hadamard", "frobenius")


def register(sub) -> None:
    p = sub.add_parser(
        "ed",
        help="ED degrees of rank-r matrices; table of real critical points vs local minima",
        description="Count the complex critical points of the (perturbed) squared distance to the "
        "rank-r matrices (closed form where known, and by homotopy continuation), and tabulate "
        "real critical points against local minima over random instances.",
    )
    sp = p.add_subparsers(dest="ed_command", metavar="SUBCOMMAND")

    d = sp.add_parser("degree", help="closed-form and numerically counted ED degree",
                      description="Print the closed-form ED degree (where one is known) and the "
                      "number of complex critical points counted by monodromy homotopy continuation; monodromy "
                      "stops when the trace test proves the start fibre complete "
                      "(certified_complete, with the trace-test residual).")
    _common(d)
    d.add_argument("--no-count", action="store_true", help="only the closed form (no homotopy)")
    d.set_defaults(func=run_degree)

    t = sp.add_parser("table", help="#local minima × #real critical points over random instances",
                      description="Solve random real instances (default A ∈ R^{mn×mn}, Q ∈ R^{m×n} "
                      "i.i.d. N(0,1), a reconstruction of the talk's model) and print the table of "
                      "the number of local minima against the number of real critical points.")
    _common(t)
    t.add_argument("--samples", type=int, default=200, help="number of random instances (default 200)")
    t.add_argument("--seed", type=int, default=0, help="instance stream seed (default 0)")
    t.add_argument("--sampler", help="instance distribution: generic: gaussian (default), "
                   "near-identity; hadamard: uniform (default), exponential; frobenius: gaussian")
    t.add_argument("--out", help="directory for table.json, instances.csv, table.png/.pdf")
    t.add_argument("--batch", type=int, default=2048, help="paths tracked in lockstep (default 2048)")
    t.set_defaults(func=run_table)

    g = sp.add_parser("segre", help="ED degree of the Segre cone (rank-one tensors, LCNs with "
                      "tensor-product filters)",
                      description="Count the complex critical points of the squared distance "
                      "from a data tensor to the rank-one tensors of a format (the function space "
                      "of an LCN whose end-to-end filter is w_1⊗⋯⊗w_L) by monodromy, next to the "
                      "closed forms (Friedland–Ottaviani for the Euclidean metric, the Chern-class "
                      "formula of Draisma–Horobeţ–Ottaviani–Sturmfels–Thomas for a generic one), "
                      "with a completeness check (the trace test for a generic metric, a "
                      "total-degree homotopy whose solutions must be the monodromy set for the "
                      "Euclidean one) and the real critical points of a random real instance "
                      "certified in ball arithmetic.")
    g.add_argument("--format", default="2x2x2",
                   help="tensor format N1xN2x...: 2 to 5 factors, each 2..6, at most 64 entries "
                   "(default 2x2x2)")
    g.add_argument("--metric", default="euclidean", help="euclidean (‖X−T‖²) or generic "
                   "(vec(X−T)ᵀ W vec(X−T), W = AᵀA random) (default euclidean)")
    g.add_argument("--seed", type=int, default=0, help="start point, loops and real instance (default 0)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(func=run_segre)
    p.set_defaults(func=lambda args: _help(p))


def _help(p) -> int:
    p.print_help()
    return 0


def _common(p) -> None:
    p.add_argument("--shape", default="3x3", help="matrix shape MxN, e.g. 3x4 (default 3x3)")
    p.add_argument("--rank", type=int, default=1, help="rank r, 1 <= r <= min(M, N) (default 1)")
    p.add_argument("--distance", default="generic",
                   help="generic (‖A·vec(M−Q)‖²), hadamard (Σ λ_ij (M_ij−Q_ij)²) or frobenius")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _parse(args):
    from .._errors import GeomflowError

    text = str(args.shape).lower().replace("×", "x")
    parts = text.split("x")
    try:
        m, n = (int(s) for s in parts)
    except ValueError:
        raise GeomflowError(f"--shape must look like MxN with positive integers (e.g. 3x4), "
                            f"got {args.shape!r}") from None
    if m < 1 or n < 1:
        raise GeomflowError(f"--shape must have positive sides (e.g. 3x4), got {args.shape!r}")
    if not 1 <= args.rank <= min(m, n):
        raise GeomflowError(f"--rank must satisfy 1 <= r <= min(M, N) = {min(m, n)}, got {args.rank}")
    if args.distance not in _DISTANCES:
        raise GeomflowError(f"--distance must be one of {', '.join(_DISTANCES)}, got {args.distance!r}")
    if m * n > 36:
        raise GeomflowError(f"--shape {m}x{n} is too large for homotopy counting here "
                            f"(at most 36 entries, e.g. 6x6)")
    return m, n


def run_degree(args) -> int:
    m, n = _parse(args)
    from . import emit_json, setup_jax

    setup_jax()
    from ..ed import ed_degree

    out = ed_degree(m, n, args.rank, args.distance, count=not args.no_count)
    if args.json:
        emit_json(out)
    else:
        cf = out["closed_form"]
        print(f"{m}x{n} rank {args.rank}, {args.distance} distance")
        print(f"closed_form: {cf if cf is not None else 'none known'}")
        if out["counted"] is not None:
            print(f"counted: {out['counted']} (monodromy loops: {out['monodromy_loops']}, "
                  f"history {out['history']})")
            print(f"trace_residual: {out['trace_residual']:.3g}")
            print(f"certified_complete: {str(out['certified_complete']).lower()}")
    return 0


def run_table(args) -> int:
    from .._errors import GeomflowError

    m, n = _parse(args)
    if args.samples < 1:
        raise GeomflowError(f"--samples must be a positive integer, got {args.samples}")
    if args.batch < 64:
        raise GeomflowError(f"--batch must be at least 64, got {args.batch}")
    from . import emit_json, setup_jax

    setup_jax()
    from ..ed import critical_point_table

    tab = critical_point_table(m, n, args.rank, args.distance, samples=args.samples,
                               seed=args.seed, sampler=args.sampler, batch=args.batch)
    files = tab.write(args.out) if args.out else []
    if args.json:
        out = tab.summary()
        out["files"] = files
        emit_json(out)
    else:
        print(tab.format_text())
        print(f"({tab.seconds:.1f} s, {tab.paths} paths)")
        for f in files:
            print(f"wrote {f}")
    return 0


def parse_format(text):
    """`"2x2x3"` to `(2, 2, 3)`; a one-line `GeomflowError` saying what is accepted otherwise."""
    from .._errors import GeomflowError
    from ..ed._segre_common import MAX_ENTRIES, MAX_FACTOR_SIZE, MAX_FACTORS

    accepted = (f"N1xN2x... with 2 to {MAX_FACTORS} factors, each an integer in 2..{MAX_FACTOR_SIZE}, "
                f"at most {MAX_ENTRIES} entries (e.g. 2x2x2, 3x3x3, 2x2x3)")
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        ns = tuple(int(s) for s in parts)
    except ValueError:
        raise GeomflowError(f"--format must be {accepted}, got {text!r}") from None
    if not 2 <= len(ns) <= MAX_FACTORS or any(n < 2 or n > MAX_FACTOR_SIZE for n in ns):
        raise GeomflowError(f"--format must be {accepted}, got {text!r}")
    import math

    if math.prod(ns) > MAX_ENTRIES:
        raise GeomflowError(f"--format must be {accepted}, got {text!r} ({math.prod(ns)} entries)")
    return ns


def run_segre(args) -> int:
    from .._errors import GeomflowError

    ns = parse_format(args.format)
    if args.metric not in ("euclidean", "generic"):
        raise GeomflowError(f"--metric must be one of euclidean, generic, got {args.metric!r}")
    from . import emit_json, setup_jax

    setup_jax()
    from ..ed import friedland_ottaviani_count, generic_ed_degree_segre, segre_ed_degree

    r = segre_ed_degree(ns, args.metric, seed=args.seed)
    fo, gen = friedland_ottaviani_count(ns), generic_ed_degree_segre(ns)
    if args.json:
        out = r.to_dict()
        out.update(friedland_ottaviani=fo, generic_closed_form=gen)
        emit_json(out)
    else:
        fmt = "x".join(str(n) for n in ns)
        print(f"Segre cone {fmt}, {args.metric} metric (seed {args.seed})")
        print(f"complex_count: {r.complex_count} (monodromy loops: {r.monodromy_loops}, "
              f"history {list(r.history)})")
        print(f"closed_form: {r.closed_form} (Friedland–Ottaviani {fo}, generic {gen})")
        print(f"trace_residual: {r.trace_residual:.3g}")
        print(f"certified_complete: {str(r.certified_complete).lower()}")
        print(f"completeness: {r.completeness}")
        print(f"real instance: {r.real_instance_count} critical points, {r.real_count} certified "
              f"real, {r.nonreal_count} certified non-real, {r.uncertified} uncertified")
        print(f"({r.seconds:.1f} s)")
    return 0
