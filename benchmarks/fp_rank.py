"""Exact ranks over F_p: python-flint's `nmod_mat` (geomflow._finite_field) against the
hand-written int64 Gaussian elimination it replaced (kept here, verbatim, as the baseline), in
one process, on the matrices the dimension computations build.

    python benchmarks/fp_rank.py [--widths 2,2,2,2,2,2,2,2] [--pieces 200]

Workloads: (1) the exact `dim im δ` Jacobians of constant-width networks; (2) the exact
`dim δ(piece)` of the first `--pieces` pieces of `H` for `--widths` (inverses, products, null
spaces and ranks, as `piece_delta_dim_exact` does them). Prints seconds for each and the ratio,
and checks that both give the same ranks.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from geomflow import _dimensions as dm, _finite_field as ff, _zero_hessian_pieces as zh

# --- the baseline: the three eliminations (and the limb product) of geomflow/_dimensions.py
# before python-flint, verbatim.


def old_rank_mod_p(A, p=ff.PRIME):
    M = np.array(A, dtype=np.int64) % p
    rows, cols = M.shape
    rank = 0
    for col in range(cols):
        if rank == rows:
            break
        nz = np.nonzero(M[rank:, col])[0]
        if nz.size == 0:
            continue
        piv = rank + int(nz[0])
        if piv != rank:
            M[[rank, piv]] = M[[piv, rank]]
        inv = pow(int(M[rank, col]), p - 2, p)
        M[rank] = (M[rank] * inv) % p
        f = M[:, col].copy()
        f[rank] = 0
        M = (M - (f[:, None] * M[rank][None, :]) % p) % p
        rank += 1
    return rank


def old_inv_mod_p(A, p):
    n = A.shape[0]
    M = np.concatenate([np.array(A, dtype=np.int64) % p, np.eye(n, dtype=np.int64)], axis=1)
    for col in range(n):
        nz = np.nonzero(M[col:, col])[0]
        if nz.size == 0:
            return None
        piv = col + int(nz[0])
        M[[col, piv]] = M[[piv, col]]
        M[col] = (M[col] * pow(int(M[col, col]), p - 2, p)) % p
        f = M[:, col].copy()
        f[col] = 0
        M = (M - (f[:, None] * M[col][None, :]) % p) % p
    return M[:, n:]


def old_matmul_mod_p(A, B, p):
    A = np.asarray(A, dtype=np.int64) % p
    B = np.asarray(B, dtype=np.int64) % p
    out = np.zeros((A.shape[0], B.shape[1]), dtype=np.int64)
    shift = 0
    while np.any(B >> shift):
        limb = (B >> shift) & 0xFFF
        part = (A @ limb) % p
        out = (out + part * pow(2, shift, p)) % p
        shift += 12
    return out


def old_nullspace_mod_p(A, p):
    M = np.array(A, dtype=np.int64) % p
    rows, cols = M.shape
    pivots, r = [], 0
    for col in range(cols):
        if r == rows:
            break
        nz = np.nonzero(M[r:, col])[0]
        if nz.size == 0:
            continue
        piv = r + int(nz[0])
        M[[r, piv]] = M[[piv, r]]
        M[r] = (M[r] * pow(int(M[r, col]), p - 2, p)) % p
        f = M[:, col].copy()
        f[r] = 0
        M = (M - (f[:, None] * M[r][None, :]) % p) % p
        pivots.append(col)
        r += 1
    free = [c for c in range(cols) if c not in pivots]
    N = np.zeros((cols, len(free)), dtype=np.int64)
    for j, fc in enumerate(free):
        N[fc, j] = 1
        for i, pc in enumerate(pivots):
            N[pc, j] = (-M[i, fc]) % p
    return N


def _with(impl, fn, *args, **kw):
    """Run `fn` with the F_p primitives of `_dimensions` and `_zero_hessian_pieces` swapped for
    `impl` ("old" or "flint")."""
    names = ("rank_mod_p", "inv_mod_p", "matmul_mod_p", "nullspace_mod_p")
    mods = [m for m in (dm, zh) if any(hasattr(m, k) for k in names)]
    saved = {(m, k): getattr(m, k) for m in mods for k in names if hasattr(m, k)}
    if impl == "old":
        for m, k in saved:
            setattr(m, k, globals()["old_" + k])
    try:
        t = time.perf_counter()
        out = fn(*args, **kw)
        return out, time.perf_counter() - t
    finally:
        for (m, k), v in saved.items():
            setattr(m, k, v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="2,2,2,2,2,2,2,2")
    ap.add_argument("--pieces", type=int, default=200)
    args = ap.parse_args(argv)
    print(f"load (uptime): {os.getloadavg()}")

    nets = [(n,) * (h + 1) for n in (2, 3, 4) for h in (4, 6, 8)]
    f = lambda: [dm.delta_image_dim_exact(w, num_points=2) for w in nets]  # noqa: E731
    r_old, t_old = _with("old", f)
    r_new, t_new = _with("flint", f)
    assert r_old == r_new, (r_old, r_new)
    print(f"dim im δ exact, {len(nets)} networks (n = 2..4, h = 4, 6, 8): "
          f"old {t_old:.3f} s, flint {t_new:.3f} s, ratio {t_old / t_new:.1f}x")

    rng = np.random.default_rng(0)
    big = [rng.integers(0, ff.PRIME, (n, k)) @ rng.integers(0, 7, (k, n)) for n, k in ((200, 150), (400, 350))]
    f = lambda: [dm.rank_mod_p(A) for A in big]  # noqa: E731
    r_old, t_old = _with("old", f)
    r_new, t_new = _with("flint", f)
    assert r_old == r_new == [150, 350], (r_old, r_new)
    print(f"rank of a 200×200 (rank 150) and a 400×400 (rank 350) matrix: "
          f"old {t_old:.3f} s, flint {t_new:.3f} s, ratio {t_old / t_new:.1f}x")

    widths = tuple(int(x) for x in args.widths.split(","))
    pieces = zh.zero_hessian_pieces(widths)[: args.pieces]
    g = lambda: [zh.piece_delta_dim_exact(pc, seed=i) for i, pc in enumerate(pieces)]  # noqa: E731
    r_old, t_old = _with("old", g)
    r_new, t_new = _with("flint", g)
    assert r_old == r_new
    print(f"dim δ(piece) exact, {len(pieces)} pieces of {args.widths}: "
          f"old {t_old:.3f} s, flint {t_new:.3f} s, ratio {t_old / t_new:.1f}x")


if __name__ == "__main__":
    main()
