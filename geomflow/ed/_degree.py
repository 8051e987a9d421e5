"""`ed_degree`: the closed form (where one exists) next to the count found numerically."""

from __future__ import annotations

from .._errors import GeomflowError
from .._precision import x64
from ._equations import DISTANCES
from ._formulas import ed_degree_eckart_young, generic_ed_degree_rank_one


def closed_form_ed_degree(m: int, n: int, r: int, distance: str) -> int | None:
    """The known ED degree for `(m, n, r, distance)`, or `None` where no formula is known.

    Frobenius: `C(min(m,n), r)` (Eckart–Young). Generic (and, as checked numerically in the
    tests, generic Hadamard weights) for `r = 1`: the Segre formula. `r = min(m, n)`: 1.

    Examples:
        >>> closed_form_ed_degree(3, 3, 1, "generic"), closed_form_ed_degree(4, 4, 2, "generic")
        (39, None)
    """
    if distance not in DISTANCES:
        raise GeomflowError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if r == min(m, n):
        return 1
    if distance == "frobenius":
        return ed_degree_eckart_young(m, n, r)
    if distance == "generic" and r == 1:
        return generic_ed_degree_rank_one(m, n)
    return None


@x64
def ed_degree(m: int, n: int, r: int = 1, distance: str = "generic", *, count: bool = True,
              seed: int = 0) -> dict:
    """ED degree of `M_r ⊂ R^{m×n}` for a distance family: closed form and numerical count.

    The count is the number of distinct, nonsingular, rank-`r` complex critical points at a
    random complex parameter of the family, found by monodromy (`start_fibre`); `history` is the
    count after each monodromy round. Monodromy stops when the trace test passes
    (`trace_test`): `trace_residual` is its residual and `certified_complete` whether it
    passed (`residual ≤ TRACE_TOL`), the evidence that no solution is missing.

    **Arguments:**

    - `m`, `n`, `r`: shape and rank (`1 ≤ r ≤ min(m, n)`).
    - `distance`: `"generic"` (`‖A·vec(M−Q)‖²`), `"hadamard"` (`Σ λ_ij (M_ij−Q_ij)²`) or
      `"frobenius"`.
    - `count`: also count numerically (else only the closed form).

    **Returns:** a dict with `closed_form` (int or `None`), `counted` (int or `None`),
    `monodromy_loops`, `history`, `trace_residual`, `certified_complete` (the last four only when
    counting; for `r = min(m, n)` the single critical point `M = Q` needs no monodromy and
    `certified_complete` is true with `trace_residual` 0).

    **Raises:** `GeomflowError` for a bad shape, rank or distance.

    Examples:
        >>> ed_degree(3, 3, 2, "frobenius", count=False)["closed_form"]
        3
    """
    for v, name in ((m, "m"), (n, "n"), (r, "r")):
        if not isinstance(v, int) or v < 1:
            raise GeomflowError(f"{name} must be a positive integer, got {v!r}")
    if r > min(m, n):
        raise GeomflowError(f"rank must satisfy 1 <= r <= min(m, n) = {min(m, n)}, got {r}")
    out = {"shape": [m, n], "rank": r, "distance": distance,
           "closed_form": closed_form_ed_degree(m, n, r, distance), "counted": None}
    if count:
        if r == min(m, n):
            out.update(counted=1, monodromy_loops=0, history=[1], trace_residual=0.0,
                       certified_complete=True)
        else:
            from ._solve import start_fibre

            fib = start_fibre(m, n, r, distance, seed=seed)
            out.update(counted=fib.degree, monodromy_loops=fib.loops,
                       history=[int(h) for h in fib.history],
                       trace_residual=float(fib.trace_residual),
                       certified_complete=bool(fib.certified_complete))
    return out
