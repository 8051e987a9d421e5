"""What the Segre-cone solvers share (MATH.md §6): the formats they accept, the metrics, the
zero-tensor tolerance, the Segre map `x_1 ⊗ ⋯ ⊗ x_L` and complex Gaussian draws.

Used by the critical system and its monodromy (`geomflow.ed._segre`) and by the total-degree
check (`geomflow.ed._segre_total_degree`): kept apart because `_segre` imports the total-degree
check for `segre_ed_degree`, so the check cannot import `_segre`.
"""

from __future__ import annotations

import math

import numpy as np

from .._errors import GeomflowError

METRICS = ("euclidean", "generic")
# Formats accepted: 2..MAX_FACTORS factors, each of size 2..MAX_FACTOR_SIZE; at most
# MAX_ENTRIES entries (the number of unknowns of the weighted problem grows with them).
MAX_FACTORS = 5
MAX_FACTOR_SIZE = 6
MAX_ENTRIES = 64
# A critical tensor with ‖X‖ ≤ ZERO_TOL·‖T‖ is the zero tensor (not a point of the cone's
# smooth part): filtered out.
ZERO_TOL = 1e-8


def _check_format(format) -> tuple[int, ...]:
    accepted = (f"a tuple of 2 to {MAX_FACTORS} factor sizes, each an integer in "
                f"2..{MAX_FACTOR_SIZE}, with at most {MAX_ENTRIES} entries in all (e.g. (2, 2, 2))")
    try:
        ns = tuple(format)
    except TypeError:
        raise GeomflowError(f"format must be {accepted}, got {format!r}") from None
    if not (2 <= len(ns) <= MAX_FACTORS) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in ns):
        raise GeomflowError(f"format must be {accepted}, got {format!r}")
    if any(n < 2 or n > MAX_FACTOR_SIZE for n in ns) or math.prod(ns) > MAX_ENTRIES:
        raise GeomflowError(f"format must be {accepted}, got {format!r}")
    return tuple(int(n) for n in ns)


def _kron(vs):
    out = vs[0]
    for v in vs[1:]:
        out = (out[..., :, None] * v[..., None, :]).reshape(out.shape[:-1] + (-1,))
    return out


def _cgauss(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
