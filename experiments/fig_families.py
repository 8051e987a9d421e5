"""Beyond the talk (issue 14): function-space dimensions and conservation-law counts of linear
convolutional networks, polynomial networks and linear networks.

Panel 1, polynomial networks `x ↦ x^r`: the dimension of the neurovariety, exact (integer
Jacobian, ranks over two primes) and numerical, against the expected dimension
`min(d_h·C(r^{h−1}+d_0−1, d_0−1), d_h + Σ (d_{i−1} − 1) d_i)`; defective cells are marked
(one hidden layer: the Alexander–Hirschowitz exceptions, e.g. `(3,5,1)`, `r = 4`: 14 of 15).

Panel 2, conservation laws (Marcotte–Gribonval–Peyré): `d_w − dim Lie(∇μ_j)` against the known
count: `L − 1` for LCNs, one per hidden neuron for polynomial networks, `dim im δ` (the balance
invariants, computed by `geomflow._dimensions`) for linear networks.

Run: `python experiments/fig_families.py [--tiny|--full] [--out figures/]`.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _style  # noqa: E402

QUICK_SECONDS = 120
NAME = "families"

POLY = {
    "tiny": [((3, 5, 1), 4), ((2, 2, 1), 2), ((3, 2, 1), 2)],
    "quick": [((3, 5, 1), 4), ((3, 2, 1), 2), ((3, 3, 1), 2), ((2, 2, 1), 3), ((4, 9, 1), 4),
              ((5, 14, 1), 4), ((3, 7, 1), 5), ((2, 2, 2), 2), ((2, 3, 2), 2), ((2, 2, 2, 1), 2),
              ((3, 2, 2, 1), 2), ((2, 3, 3, 1), 2), ((3, 3, 3), 2)],
}
POLY["full"] = POLY["quick"] + [((4, 2, 2), 2), ((2, 4, 4, 1), 2), ((3, 4, 2), 3), ((5, 7, 1), 3)]
LAWS = {
    "tiny": [("lcn", (2, 2), None), ("poly", (2, 2, 1), 2), ("linear", (2, 2, 2), None)],
    "quick": [("lcn", (2, 2), None), ("lcn", (2, 2, 2), None), ("lcn", (3, 2, 2), None),
              ("lcn", (2, 2), (2, 1)), ("lcn", ((2, 2), (2, 2)), None),
              ("poly", (2, 3, 2), 2), ("poly", (2, 2, 1), 3), ("poly", (2, 2, 2, 1), 2),
              ("linear", (2, 2, 2), None), ("linear", (3, 2, 3), None), ("linear", (1, 2, 1, 2), None),
              ("linear", (2, 3, 2, 2), None), ("linear", (2, 1, 2), None), ("linear", (1, 1, 1, 1), None)],
}
LAWS["full"] = LAWS["quick"] + [("poly", (3, 5, 1), 4), ("lcn", (2, 2, 2, 2), None), ("linear", (3, 1, 2), None)]


def _model(kind, a, b):
    import geomflow as gf

    if kind == "lcn":
        return gf.lcn_model(a, b)
    if kind == "poly":
        return gf.polynomial_network_model(a, b)
    return gf.linear_network_model(a)


def run(args) -> dict:
    _style.setup_jax()
    import geomflow as gf

    poly_rows, law_rows = [], []
    with _style.Timer() as tm:
        for widths, r in POLY[args.size]:
            rep = gf.function_space_dim(gf.polynomial_network_model(widths, r), seed=args.seed)
            d = rep.to_dict()
            d.update(widths=",".join(map(str, widths)), r=r)
            poly_rows.append(d)
        for kind, a, b in LAWS[args.size]:
            m = _model(kind, a, b)
            with _style.Timer() as t1:
                rep = gf.conservation_law_count(m, seed=args.seed)
            d = rep.to_dict()
            d.update(family=kind, seconds=round(t1.seconds, 2),
                     known_laws_residual=gf.conserved_gradient_residual(m, seed=args.seed))
            law_rows.append(d)
    result = {
        "claim": "function-space dimensions of polynomial networks (defects) and conservation-law "
                 "counts of LCNs, polynomial networks and linear networks",
        "polynomial_networks": poly_rows,
        "defective": [r["model"] for r in poly_rows if r["defect"]],
        "conservation_laws": law_rows,
        "all_law_counts_match": all(r["num_laws"] == r["expected_laws"] for r in law_rows),
        "all_exact_agree": all(r["agree"] for r in poly_rows),
        "seconds": tm.seconds, "meta": _style.metadata(args, load=os.getloadavg()),
    }
    _style.write_json(args.out, NAME, result)
    _style.write_csv(args.out, NAME, [
        {"table": "dimension", "model": r["model"], "dim": r["dim"], "expected": r["expected_dim"],
         "defect": r["defect"], "exact_ranks": "/".join(map(str, r["exact_ranks"] or [])),
         "numerical_rank": r["numerical_rank"]} for r in poly_rows] + [
        {"table": "laws", "model": r["model"], "dim": r["lie_dim"], "expected": r["expected_laws"],
         "defect": r["expected_laws"] - r["num_laws"], "exact_ranks": "", "numerical_rank": r["num_laws"]}
        for r in law_rows])
    _figure(args.out, poly_rows, law_rows)
    lines = [f"{r['model']}: dim {r['dim']} (exact {r['exact_ranks']}, numerical {r['numerical_rank']}), "
             f"expected {r['expected_dim']}, defect {r['defect']}" for r in poly_rows]
    lines += [f"{r['model']}: {r['num_laws']} laws (known {r['expected_laws']}), trace by level "
              f"{r['trace_by_level']}, {r['seconds']} s" for r in law_rows]
    lines.append(f"every law count matches: {result['all_law_counts_match']}")
    _style.report(NAME, lines)
    return result


def _figure(out, poly_rows, law_rows):
    pyplot = _style.plt()
    fig, (a1, a2) = _style.new_figure(2, 1, width=4.8, height=3.8)
    y = range(len(poly_rows))
    a1.barh(y, [r["expected_dim"] for r in poly_rows], color="#dddddd", label="expected")
    a1.barh(y, [r["dim"] for r in poly_rows], height=0.45,
            color=["#c0392b" if r["defect"] else "#2e86c1" for r in poly_rows], label="dim (exact = numerical)")
    a1.set_yticks(list(y))
    a1.set_yticklabels([f"({r['widths']}), r={r['r']}" for r in poly_rows], fontsize=7)
    for i, r in enumerate(poly_rows):
        if r["defect"]:
            a1.text(r["expected_dim"] + 0.3, i, f"{r['dim']}/{r['expected_dim']}", va="center", fontsize=7, color="#c0392b")
    a1.invert_yaxis()
    a1.set_xlabel("dimension of the neurovariety")
    a1.set_title("polynomial networks: defective cells in red", fontsize=8.5)
    a1.legend(fontsize=7, loc="lower right")
    y2 = range(len(law_rows))
    colors = {"lcn": "#27ae60", "poly": "#8e44ad", "linear": "#2e86c1"}
    a2.barh(y2, [r["expected_laws"] for r in law_rows], color="#dddddd", label="known count")
    a2.barh(y2, [r["num_laws"] for r in law_rows], height=0.45, color=[colors[r["family"]] for r in law_rows],
            label="d_w − dim Lie")
    a2.set_yticks(list(y2))
    a2.set_yticklabels([r["model"].replace("strides", "s") for r in law_rows], fontsize=6.5)
    a2.invert_yaxis()
    a2.set_xlabel("number of conservation laws")
    a2.set_title("conservation laws: LCN (L−1), polynomial (hidden neurons), linear (dim im δ)", fontsize=8.5)
    a2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _style.save_figure(fig, out, NAME)
    pyplot.close("all")


def main(argv=None) -> dict:
    return run(_style.parse_args(__doc__, argv))


if __name__ == "__main__":
    main()
