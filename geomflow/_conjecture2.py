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

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from . import _dimensions as dm, _zero_hessian_pieces as zh
from ._dimensions import DEFAULT_RTOL, delta_image_dim
from ._finite_field import PRIME, SECOND_PRIME
from ._networks import architecture
from ._zero_hessian_pieces import (
    Piece,
    _expand,
    piece_delta_dims,
    random_data_matrix,
    zero_hessian_pieces,
)

PRIMES = (PRIME, SECOND_PRIME)


# ---------------------------------------------------------------------------------------------
# The comparison


@dataclasses.dataclass(frozen=True)
class DimsReport:
    """`dim im δ` against `dim δ(H_{X,Y})` for one architecture.

    **Attributes:**

    - `widths`.
    - `dim_im_delta`, `im_delta_gap`: the generic rank of `Dδ` and its singular-value gap.
    - `dim_delta_H`: `max` over the pieces of `dim δ(piece)`; `None` when `H = ∅` (`h ≤ 2`).
    - `attaining`: the pieces attaining the maximum (all of them, or the first one found when
      `stop_at_full` cut the search short).
    - `best_by_kind`: `{"three-block": max, "data": max}` over the pieces evaluated of each kind
      (`None` for a kind with no piece evaluated).
    - `min_piece_gap`: the smallest singular-value gap over all pieces' rank decisions.
    - `num_pieces`, `num_three_block`, `num_data`: how many pieces were evaluated.
    - `condition_holds`: `dim_delta_H < dim_im_delta` (True when `H = ∅`).
    - `complete`: whether every piece was evaluated (False only with `stop_at_full`).
    """

    widths: tuple[int, ...]
    dim_im_delta: int
    im_delta_gap: float
    dim_delta_H: int | None
    attaining: tuple[Piece, ...]
    best_by_kind: dict
    min_piece_gap: float
    num_pieces: int
    num_three_block: int
    num_data: int
    condition_holds: bool
    complete: bool

    def to_dict(self) -> dict:
        """JSON-ready (gaps that are infinite, i.e. nothing below the threshold, become None)."""
        att = self.attaining
        fin = lambda x: None if x is None or x == float("inf") else float(x)  # noqa: E731
        return {
            "widths": list(self.widths),
            "dim_im_delta": self.dim_im_delta,
            "im_delta_gap": fin(self.im_delta_gap),
            "dim_delta_H": self.dim_delta_H,
            "condition_holds": self.condition_holds,
            "attaining_piece": att[0].to_dict() if att else None,
            "num_attaining": len(att),
            "attaining_kinds": sorted({p.kind for p in att}),
            "attaining_cuts": sorted({tuple(p.cuts) for p in att}),
            "dim_delta_H_three_block": self.best_by_kind.get("three-block"),
            "dim_delta_H_data": self.best_by_kind.get("data"),
            "min_piece_gap": fin(self.min_piece_gap),
            "num_pieces": self.num_pieces,
            "num_three_block": self.num_three_block,
            "num_data": self.num_data,
            "complete": self.complete,
        }


def _generic_first(pieces: list[Piece]) -> list[Piece]:
    """Order pieces by decreasing total rank of the partial products (a proxy for orbit size),
    so that the search meets the big pieces first."""

    def score(pc):
        ex = _expand(pc.threads)
        return -sum((e - s) * (e - s + 1) // 2 for s, e in ex)

    return sorted(pieces, key=score)


def delta_H_dims(
    widths, *, seed: int = 0, stop_at_full: bool = False, rtol: float = DEFAULT_RTOL, chunk: int = 2048
) -> DimsReport:
    """Compare `dim δ(H_{X,Y})` with `dim im δ` for one architecture and one random `Q = YXᵀ`.

    Enumerates all pieces of `H` ([`zero_hessian_pieces`][]; complete for generic data), takes
    `dim δ(piece)` for each at a random point, and returns the maximum with the pieces attaining
    it. With `stop_at_full=True` the search stops at the first piece with
    `dim δ(piece) = dim im δ` (the maximum possible; saves time where the condition fails).

    **Returns:** a [`DimsReport`][].

    Examples:
        >>> rep = delta_H_dims((1, 1, 1, 1, 1))   # n = 1: H = {three coordinates zero}
        >>> rep.dim_im_delta, rep.dim_delta_H, rep.condition_holds
        (3, 1, True)
    """
    arch = architecture(widths)
    im = delta_image_dim(arch.widths, seed=seed, rtol=rtol)
    pieces = _generic_first(zero_hessian_pieces(arch.widths, seed=seed))
    rng = np.random.default_rng(seed + 1)
    Q = random_data_matrix(rng, arch.widths)
    best, attaining, min_gap = None, [], float("inf")
    by_kind: dict = {"three-block": None, "data": None}
    complete = True
    for start in range(0, len(pieces), chunk):
        batch = pieces[start : start + chunk]
        reps = piece_delta_dims(batch, Q=Q, seed=seed + 2 + start, rtol=rtol, chunk=chunk)
        for pc, rep in zip(batch, reps):
            min_gap = min(min_gap, rep.gap)
            if by_kind[pc.kind] is None or rep.rank > by_kind[pc.kind]:
                by_kind[pc.kind] = rep.rank
            if best is None or rep.rank > best:
                best, attaining = rep.rank, [pc]
            elif rep.rank == best:
                attaining.append(pc)
        if stop_at_full and best is not None and best >= im.rank:
            complete = start + chunk >= len(pieces)
            break
    return DimsReport(
        widths=arch.widths,
        dim_im_delta=im.rank,
        im_delta_gap=im.gap,
        dim_delta_H=best,
        attaining=tuple(attaining),
        best_by_kind=by_kind,
        min_piece_gap=min_gap,
        num_pieces=len(pieces),
        num_three_block=sum(p.kind == "three-block" for p in pieces),
        num_data=sum(p.kind == "data" for p in pieces),
        condition_holds=best is None or best < im.rank,
        complete=complete,
    )


def dims_sweep(ns: Sequence[int], depths: Sequence[int], *, seed: int = 0, stop_at_full: bool = True) -> dict:
    """The table `dim δ(H) / dim im δ` for constant widths `n` and depths `h`, and the first
    depth per `n` where `dim δ(H) < dim im δ` fails.

    **Returns:** `{"rows": [DimsReport.to_dict(), …], "first_failing_depth": {n: h or None}}`.
    """
    rows, first = [], {}
    for n in ns:
        first[n] = None
        for h in depths:
            rep = delta_H_dims((n,) * (h + 1), seed=seed, stop_at_full=stop_at_full)
            d = rep.to_dict()
            d.update(n=n, h=h)
            rows.append(d)
            if not rep.condition_holds and first[n] is None:
                first[n] = h
    return {"rows": rows, "first_failing_depth": first}



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
    if isinstance(piece_or_threads, zh.Piece):
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
            cand = zh.classify_threads(widths, th)
            if cand is None or (cand.kind == "data" and not zh._pattern_full_rank(cand, rng)):
                continue
            out.append(cand)
    return out


def _exact_piece(pc, seed: int, primes) -> list[int | None]:
    return [zh.piece_delta_dim_exact(pc, seed=seed, p=p) for p in primes]


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
        Q = zh.random_data_matrix(np.random.default_rng(seed + 1), arch_w)
        reps = zh.piece_delta_dims(cands, Q=Q, seed=seed + 2)
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
        rep = delta_H_dims(arch_w, seed=seed, stop_at_full=True)
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
        pieces = zh.zero_hessian_pieces(arch_w, seed=seed)
        if len(pieces) <= exact_all_limit:
            vals = [zh.piece_delta_dim_exact(pc, seed=seed + 7 + i, p=primes[0]) for i, pc in enumerate(pieces)]
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
        pc = zh.classify_threads(tuple(widths), tuple(tuple(t) for t in th))
        if pc is not None:
            out.append(pc)
    return out


def _fin(x):
    return None if x is None or x == float("inf") else float(x)
