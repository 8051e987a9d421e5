"""One cell of the Conjecture-2 table, decided and certified: `dim δ(H_{X,Y})` against `dim im δ`.

[`delta_H_dims`][] enumerates every piece of `H_{X,Y}` (complete, numerical ranks). This module adds
what a table at paper size needs:

- **exact certificates** over two primes: `dim im δ` mod `p` at random integer points; for a
  cell where the condition fails, an attaining piece whose exact rank mod `p` equals the exact
  `dim im δ` (a lower bound meeting the bound `dim δ(H) ≤ dim im δ`, so the failure is proved up to
  the generic-rank claim `dim im δ`); for a cell where it holds, the exact rank of every piece
  (the maximum must equal the numerical `dim δ(H)`).
- **a search by vertex insertion** for deep cells whose piece enumeration would not fit in memory
  (constant width 4 at depth 8 has ~2.5·10⁷ thread classes): a piece of depth `h−1` becomes a
  candidate piece of depth `h` by doubling one vertex (every thread through vertex `v` is carried
  one vertex further). A candidate whose `dim δ` reaches `dim im δ` decides the cell (the
  condition fails; nothing larger is possible) without enumerating the rest. Where no candidate
  reaches it, the cell falls back to the complete enumeration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from . import _dimensions as dm
from ._finite_field import PRIME, SECOND_PRIME

PRIMES = (PRIME, SECOND_PRIME)


def insert_vertex(piece_or_threads, v: int, widths=None):
    """The thread class obtained by doubling vertex `v` (threads through `v` go on to `v + 1`;
    later vertices shift by one).

    **Arguments:**

    - `piece_or_threads`: a [`Piece`][] or a thread multiset `((s, e, m), …)` (then `widths`).
    - `v`: the vertex to double, `0 ≤ v ≤ h`.

    **Returns:** `(widths', threads')` of depth `h + 1`, with `d'_{v+1} = d_v`.

    Examples:
        >>> insert_vertex(((0, 0, 1), (1, 2, 1)), 1, widths=(1, 1, 1))
        ((1, 1, 1, 1), ((0, 0, 1), (1, 3, 1)))
    """
    if isinstance(piece_or_threads, dm.Piece):
        widths, threads = piece_or_threads.widths, piece_or_threads.threads
    else:
        threads = piece_or_threads
    widths = tuple(widths)
    counts: dict = {}
    for s, e, m in threads:
        key = (s, e) if e < v else (s + 1, e + 1) if s > v else (s, e + 1)
        counts[key] = counts.get(key, 0) + m
    new_w = widths[: v + 1] + (widths[v],) + widths[v + 1 :]
    return new_w, tuple(sorted((s, e, m) for (s, e), m in counts.items()))


def extension_candidates(pieces: Sequence, widths) -> list:
    """The pieces of `H` for `widths` obtained from `pieces` (one depth less) by
    [`insert_vertex`][] at every vertex, deduplicated (only those whose widths come out right,
    that meet `H`, and whose data pattern admits a full-rank `Q`)."""
    widths = tuple(widths)
    seen, out = set(), []
    rng = np.random.default_rng(0)
    for pc in pieces:
        for v in range(len(pc.widths)):
            w, th = insert_vertex(pc, v)
            if w != widths or th in seen:
                continue
            seen.add(th)
            cand = dm.classify_threads(widths, th)
            if cand is None or (cand.kind == "data" and not dm._pattern_full_rank(cand, rng)):
                continue
            out.append(cand)
    return out


def _exact_piece(pc, seed: int, primes) -> list[int | None]:
    return [dm.piece_delta_dim_exact(pc, seed=seed, p=p) for p in primes]


def conjecture2_cell(
    widths,
    *,
    seed: int = 0,
    previous_attaining: Sequence = (),
    exact_all_limit: int = 20000,
    primes: Sequence[int] = PRIMES,
) -> dict:
    """Decide `dim δ(H_{X,Y}) < dim im δ` for one architecture, with exact certificates.

    First, if `previous_attaining` (pieces of one depth less) is given, the candidates of
    [`extension_candidates`][] are evaluated; one reaching `dim im δ` decides the cell ("fails")
    with search `"extension"`. Otherwise every piece is enumerated ([`delta_H_dims`][], stopping
    at the first full-dimensional piece), search `"enumeration"`.

    Exact ranks (each prime of `primes`): `dim im δ`; for a failing cell, the attaining pieces
    (up to 5) until one's exact rank equals the exact `dim im δ`; for a holding cell, every piece
    when there are at most `exact_all_limit` (else only the attaining ones, flagged). Data pieces
    with `d_0 ≠ d_h` have no exact rank (see [`piece_delta_dim_exact`][]); they are counted in
    `exact_pieces_unchecked`.

    **Returns:** a JSON-ready dict: the [`DimsReport`][] fields where enumerated, plus
    `search`, `exact_dim_im_delta` (one per prime), `exact_attaining` (per prime),
    `exact_max_all_pieces` (prime 1, holding cells), `exact_confirms` (whether the exact ranks
    agree with the numerical decision), `attaining` (the attaining pieces' thread classes, for the
    next depth's search), and `seconds`.

    Examples:
        >>> c = conjecture2_cell((1, 1, 1, 1, 1))
        >>> c["dim_im_delta"], c["dim_delta_H"], c["condition_holds"], c["exact_confirms"]
        (3, 1, True, True)
    """
    t0 = time.perf_counter()
    arch_w = tuple(int(d) for d in widths)
    im = dm.delta_image_dim(arch_w, seed=seed)
    exact_im = [dm.delta_image_dim_exact(arch_w, seed=seed, p=p) for p in primes]
    row: dict = {"widths": list(arch_w), "h": len(arch_w) - 1}
    attaining: list = []
    cands = extension_candidates(previous_attaining, arch_w) if previous_attaining else []
    full = []
    if cands:
        Q = dm.random_data_matrix(np.random.default_rng(seed + 1), arch_w)
        reps = dm.piece_delta_dims(cands, Q=Q, seed=seed + 2)
        full = [(pc, r) for pc, r in zip(cands, reps) if r.rank >= im.rank]
    if full:
        attaining = [pc for pc, _ in full]
        row.update(
            dim_im_delta=im.rank, im_delta_gap=_fin(im.gap), dim_delta_H=im.rank,
            condition_holds=False, search="extension", num_candidates=len(cands),
            attaining_piece=attaining[0].to_dict(), num_attaining=len(attaining),
            attaining_kinds=sorted({p.kind for p in attaining}),
            min_piece_gap=_fin(min(r.gap for _, r in full)), complete=False,
            num_pieces=None,
        )
    else:
        rep = dm.delta_H_dims(arch_w, seed=seed, stop_at_full=True)
        row.update(rep.to_dict())
        row.update(search="enumeration", num_candidates=len(cands))
        attaining = list(rep.attaining)
    holds = row["condition_holds"]
    row["exact_dim_im_delta"] = exact_im
    exact_att: list = []
    if row["dim_delta_H"] is not None:
        for i, pc in enumerate(attaining[:5]):
            ex = _exact_piece(pc, seed + 100 + i, primes)
            exact_att.append(ex)
            if not holds and all(e == x for e, x in zip(ex, exact_im)):
                break
    row["exact_attaining"] = exact_att
    confirms = all(x == im.rank for x in exact_im)
    if row["dim_delta_H"] is None:
        row["exact_max_all_pieces"] = None
    elif holds:
        pieces = dm.zero_hessian_pieces(arch_w, seed=seed)
        if len(pieces) <= exact_all_limit:
            vals = [dm.piece_delta_dim_exact(pc, seed=seed + 7 + i, p=primes[0]) for i, pc in enumerate(pieces)]
            got = [v for v in vals if v is not None]  # None: data pieces with d_0 ≠ d_h
            row["exact_max_all_pieces"] = max(got) if got else None
            row["exact_pieces_checked"] = len(got)
            row["exact_pieces_unchecked"] = len(vals) - len(got)
            if len(got) == len(vals):
                confirms &= row["exact_max_all_pieces"] == row["dim_delta_H"]
        else:
            row["exact_max_all_pieces"] = None
            row["exact_pieces_checked"] = 0
        confirms &= any(ex and all(e == row["dim_delta_H"] for e in ex) for ex in exact_att)
    else:
        confirms &= any(all(e == x for e, x in zip(ex, exact_im)) for ex in exact_att)
    row["exact_confirms"] = bool(confirms)
    row["attaining"] = [[list(t) for t in pc.threads] for pc in attaining[:50]]
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def pieces_from_threads(widths, thread_lists) -> list:
    """The [`Piece`][]s of the given thread classes (as stored in a cell's `attaining`)."""
    out = []
    for th in thread_lists:
        pc = dm.classify_threads(tuple(widths), tuple(tuple(t) for t in th))
        if pc is not None:
            out.append(pc)
    return out


def _fin(x):
    return None if x is None or x == float("inf") else float(x)
