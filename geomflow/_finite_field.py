"""Exact linear algebra over a prime field `F_p`, through python-flint's `nmod_mat`.

One implementation of the F_p linear algebra the library needs (ranks, inverses, products, null
spaces), used by the dimension computations: a rank over `F_p` of an integer matrix is a lower
bound for its rank over `Q` (a nonzero minor mod `p` is nonzero over `Z`), and at a random point
it equals the generic rank of a polynomial matrix with probability `≥ 1 − degree/p`.

Matrices go in as integer numpy arrays (any sign; reduced mod `p`) and come out as `int64` numpy
arrays with entries in `[0, p)`.
"""

from __future__ import annotations

import functools

import numpy as np

from ._errors import GeomflowError

# A prime below 2^25 (the library's default; any prime below 2^62 is accepted).
PRIME = 33554393
SECOND_PRIME = 2147483629  # the largest prime below 2^31: an independent second field

_MAX_P = 2**62


@functools.lru_cache(maxsize=64)
def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    for q in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if p % q == 0:
            return p == q
    d, s = p - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic below 3.3·10^24
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(s - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def check_prime(p) -> int:
    """`p` as an int if it is a prime below `2^62`, else a one-line GeomflowError.

    Examples:
        >>> check_prime(33554393)
        33554393
    """
    try:
        q = int(p)
    except (TypeError, ValueError):
        raise GeomflowError(f"the modulus must be a prime below 2^62, got {p!r}") from None
    if q != p or not 2 <= q < _MAX_P or not _is_prime(q):
        raise GeomflowError(f"the modulus must be a prime below 2^62, got {p!r}")
    return q


def to_nmod_mat(A, p: int):
    """An integer matrix (numpy or nested lists) as a flint `nmod_mat` over `F_p`."""
    M = np.asarray(A)
    if M.ndim != 2:
        raise GeomflowError(f"expected a 2-D integer matrix, got shape {M.shape}")
    kind = M.dtype.kind
    if kind == "f" and np.all(M == np.round(M)):
        M = M.astype(np.int64)
    elif kind == "O":
        M = np.array([[int(x) % p for x in row] for row in M], dtype=np.int64)
    elif kind not in "iub":
        raise GeomflowError(f"expected an integer matrix for arithmetic mod p, got dtype {M.dtype}")
    fl = _flint()  # via fmpz_mat from nested lists: the fastest conversion measured
    return fl.nmod_mat(fl.fmpz_mat((M % p).tolist()), p) if M.size else fl.nmod_mat(*M.shape, [], p)


@functools.cache
def _flint():
    import flint

    return flint


def from_nmod_mat(F) -> np.ndarray:
    """A flint `nmod_mat` as an `int64` numpy array (entries in `[0, p)`)."""
    return np.fromiter(map(int, F.entries()), dtype=np.int64, count=F.nrows() * F.ncols()).reshape(
        F.nrows(), F.ncols()
    )


def rank_mod_p(A, p: int = PRIME) -> int:
    """The rank of an integer matrix over the prime field `F_p`.

    **Arguments:**

    - `A`: a 2-D integer array (any sign; reduced mod `p`).
    - `p`: a prime below `2^62` (default `PRIME = 33554393`).

    **Returns:** the rank over `F_p`, a lower bound for the rank over `Q`.

    Examples:
        >>> import numpy as np
        >>> rank_mod_p(np.array([[1, 2], [2, 4]])), rank_mod_p(np.array([[1, 2], [3, 4]]))
        (1, 2)
    """
    p = check_prime(p)
    A = np.asarray(A)
    if A.ndim == 2 and 0 in A.shape:
        return 0
    return int(to_nmod_mat(A, p).rank())


def inv_mod_p(A, p: int = PRIME) -> np.ndarray | None:
    """The inverse of a square integer matrix over `F_p`, or None if it is singular mod `p`.

    Examples:
        >>> import numpy as np
        >>> inv_mod_p(np.array([[2, 0], [0, 1]]), 7).tolist()
        [[4, 0], [0, 1]]
    """
    p = check_prime(p)
    F = to_nmod_mat(A, p)
    if F.nrows() != F.ncols():
        raise GeomflowError(f"only square matrices have inverses, got shape {np.shape(A)}")
    if F.rank() < F.nrows():
        return None
    return from_nmod_mat(F.inv())


def matmul_mod_p(A, B, p: int = PRIME) -> np.ndarray:
    """`A·B mod p` for integer matrices (exact whatever the size of the entries).

    Examples:
        >>> import numpy as np
        >>> matmul_mod_p(np.array([[3, 4]]), np.array([[5], [6]]), 7).tolist()  # 39 mod 7
        [[4]]
    """
    p = check_prime(p)
    return from_nmod_mat(to_nmod_mat(A, p) * to_nmod_mat(B, p))


def nullspace_mod_p(A, p: int = PRIME) -> np.ndarray:
    """A basis (the columns) of the right null space `{x : A x = 0}` of an integer matrix over
    `F_p`.

    Examples:
        >>> import numpy as np
        >>> N = nullspace_mod_p(np.array([[1, 1, 0]]), 7)
        >>> N.shape, (np.array([[1, 1, 0]]) @ N % 7).tolist()
        ((3, 2), [[0, 0]])
    """
    p = check_prime(p)
    F = to_nmod_mat(A, p)
    X, nullity = F.nullspace()
    return from_nmod_mat(X)[:, :nullity]
