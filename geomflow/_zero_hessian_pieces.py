"""The zero-Hessian set `H_{X,Y}` of the quadratic loss, its pieces, and `dim δ(H_{X,Y})`.

Conjecture 2 of the talk (MATH.md §4) would follow from `dim δ(H_{X,Y}) < dim im δ` for almost
all data; `dim im δ` is computed in `geomflow._dimensions`, the right-hand side here.

**`H_{X,Y}`** (MATH.md §5) is the set of `w` with
(A) for every layer `i`: `W_{h:i+1} = 0` or `W_{i−1:1} = 0`, and
(B) for every `p < q`: `W_{q−1:p+1} = 0` or `W_{h:q+1}ᵀ YXᵀ W_{p−1:1}ᵀ = 0`.
(A) and (B) only involve ranks of partial products and the flags `ker W_{j:1}`, `im W_{h:j+1}`,
so `H` is a union of pieces of the orbits of `G = ∏_{i=0}^{h} GL(d_i)` acting by
`W_i ↦ g_i W_i g_{i−1}^{-1}`. These orbits are the isomorphism classes of representations of the
equioriented quiver of type `A_{h+1}`; by Gabriel's theorem there are finitely many, each a direct
sum of **threads** (interval modules `[s, e]`, `0 ≤ s ≤ e ≤ h`: a one-dimensional strand carried
identically from vertex `s` to vertex `e`). In thread language, with `a = 1 + max{e : [0, e]
present}` and `c = min{s : [s, h] present} − 1`:

- (A) holds on the whole orbit iff `a ≤ c` (then `W_{a:1} = 0` and `W_{h:c+1} = 0`);
- if moreover `a < c` and no thread covers `[a, c]`, then `W_{c:a+1} = 0`: the layers cut into
  the three consecutive blocks `1..a`, `a+1..c`, `c+1..h`, each with zero product, and the whole
  orbit lies in `H` for all data (**three-block piece**);
- otherwise (B) leaves the **data pairs** `p ≤ a < c < q`-type pairs (`p ≤ a`, `q ≥ c+1`, `p < q`,
  some thread covering `[p, q−1]`), and `H ∩ orbit` is cut out by `W_{h:q+1}ᵀ Q W_{p−1:1}ᵀ = 0`,
  `Q = YXᵀ`. Written in the thread basis, `w = g·x` with `Q' = g_hᵀ Q g_0^{-T}`, these say
  that `Q'` vanishes on a fixed set `S` of entries (rows: threads ending at `h` starting `≤ q`;
  columns: threads starting at `0` ending `≥ p−1`): a smooth subvariety of `G` of codimension
  `|S|`, non-empty for generic `Q` iff a full-rank matrix with zeros on `S` exists (**data
  piece**).

Every point of `H` lies in exactly one orbit, and on each orbit `H` is exactly the piece above,
so **the pieces enumerated by [`zero_hessian_pieces`][] cover `H_{X,Y}` for generic data**
(`XXᵀ ≻ 0`, `Q = YXᵀ` of full rank; a proof given (A)/(B) of MATH.md §5, which the tests
re-check with autodiff Hessians, including that every data zero is needed). `dim δ(piece)` is the
rank of the Jacobian of `δ` restricted to the tangent space of the piece at one random point of it
(a generic rank: right with probability one; the numerical rank decision is reported with its
singular-value gap and cross-checked by exact ranks over `F_p`, which are certified lower
bounds), and `dim δ(H) = max` over pieces: the exact value, not a lower bound, up to those
rank decisions.

??? cite "References"
    Gabriel, *Unzerlegbare Darstellungen I* (1972) for the finiteness of type-A orbits;
    Bah, Rauhut, Terstiege, Westdickenberg, *Learning deep linear neural networks: Riemannian
    gradient flows and convergence to global minimizers* (2021) for `δ` and Conjecture 2.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from ._dimensions import (
    DEFAULT_RTOL,
    RankReport,
    _delta_jacobian_batched,
    _orbit_tangent_batched,
    _rank_from_sv,
    _well_conditioned_gl,
    numerical_rank,
)
from ._finite_field import PRIME, check_prime, inv_mod_p, matmul_mod_p, nullspace_mod_p, rank_mod_p
from ._networks import architecture

# ---------------------------------------------------------------------------------------------
# Threads (interval decompositions) and the pieces of H


def thread_decompositions(widths) -> list[tuple[tuple[int, int, int], ...]]:
    """All isomorphism classes of weight tuples, as thread multisets.

    A class is a sorted tuple of `(s, e, m)`: `m` copies of the thread (interval module) from
    vertex `s` to vertex `e`, with `Σ_{s ≤ i ≤ e} m = d_i` at every vertex `i`. Classes with a
    thread from `0` to `h` (so `μ(w) ≠ 0`) are **left out**: they never meet `H`.

    Examples:
        >>> thread_decompositions((1, 1, 1))  # W_1 = 0, or W_2 = 0 (not both nonzero)
        [((0, 0, 1), (1, 1, 1), (2, 2, 1)), ((0, 0, 1), (1, 2, 1)), ((0, 1, 1), (2, 2, 1))]
    """
    d = architecture(widths).widths
    h = len(d) - 1
    out = []

    def rec(i, open_, closed):
        if i == h:
            out.append(tuple(sorted(closed + [(s, h, c) for s, c in open_])))
            return
        for ks in itertools.product(*[range(c + 1) for _, c in open_]):
            t = sum(ks)
            if t > d[i + 1]:
                continue
            if i + 1 == h and open_[0][0] == 0 and ks[0] > 0:
                continue  # a thread 0 → h means μ(w) ≠ 0
            nc = closed + [(s, i, c - k) for (s, c), k in zip(open_, ks) if c - k]
            no = [(s, k) for (s, _), k in zip(open_, ks) if k]
            if d[i + 1] - t:
                no.append((i + 1, d[i + 1] - t))
            rec(i + 1, no, nc)

    rec(0, [(0, d[0])], [])
    return out


@dataclasses.dataclass(frozen=True)
class Piece:
    """One piece of `H_{X,Y}`: the part of one `G`-orbit (thread class) on which (A) and (B) hold.

    **Attributes:**

    - `widths`: `(d_0, …, d_h)`.
    - `threads`: the thread multiset `((s, e, m), …)` of the orbit (see
      [`thread_decompositions`][]).
    - `kind`: `"three-block"` (the whole orbit, for any data) or `"data"` (cut out of the orbit
      by `W_{h:q+1}ᵀ YXᵀ W_{p−1:1}ᵀ = 0` for the `data_pairs`).
    - `cuts`: `(a, c)`: `W_{a:1} = 0` and `W_{h:c+1} = 0` (and, for three-block pieces,
      `W_{c:a+1} = 0`: blocks of layers `1..a`, `a+1..c`, `c+1..h`).
    - `data_pairs`: the pairs `(p, q)` of condition (B) that need the data condition.
    - `data_zeros`: `S`, the entries `(row, col)` of `Q' = g_hᵀ Q g_0^{-T}` that must vanish
      (rows index threads ending at `h`, columns threads starting at `0`, in thread order).
    """

    widths: tuple[int, ...]
    threads: tuple[tuple[int, int, int], ...]
    kind: str
    cuts: tuple[int, int]
    data_pairs: tuple[tuple[int, int], ...] = ()
    data_zeros: tuple[tuple[int, int], ...] = ()

    def describe(self) -> str:
        """A one-line description, e.g. `three-block 1..2|3..4|5..6; threads [0,1]x2 …`."""
        h = len(self.widths) - 1
        a, c = self.cuts
        th = " ".join(f"[{s},{e}]" + (f"x{m}" if m > 1 else "") for s, e, m in self.threads)
        if self.kind == "three-block":
            head = f"three-block layers 1..{a}|{a + 1}..{c}|{c + 1}..{h}"
        else:
            pairs = ",".join(f"({p},{q})" for p, q in self.data_pairs)
            head = f"data W_{{{a}:1}}=0, W_{{{h}:{c + 1}}}=0, pairs {pairs}, |S|={len(self.data_zeros)}"
        return f"{head}; threads {th}"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "cuts": list(self.cuts),
            "threads": [list(t) for t in self.threads],
            "data_pairs": [list(t) for t in self.data_pairs],
            "num_data_zeros": len(self.data_zeros),
            "description": self.describe(),
        }


def _expand(threads):
    """Threads with multiplicity expanded to a list of `(s, e)`."""
    return [(s, e) for s, e, m in threads for _ in range(m)]


def classify_threads(widths, threads) -> Piece | None:
    """The piece of `H` inside the orbit with the given threads, or None if (A) fails there.

    A returned data piece may still be empty for generic data (when no full-rank `Q'` has zeros
    on `S`); [`zero_hessian_pieces`][] removes those.
    """
    d = tuple(widths)
    h = len(d) - 1
    ex = _expand(threads)
    if any(s == 0 and e == h for s, e in ex):
        return None
    a = 1 + max(e for s, e in ex if s == 0)
    c = min(s for s, e in ex if e == h) - 1
    if a > c:
        return None
    if a < c and not any(s <= a and e >= c for s, e in ex):
        return Piece(d, tuple(threads), "three-block", (a, c))
    pairs = tuple(
        (p, q)
        for p in range(1, a + 1)
        for q in range(max(p + 1, c + 1), h + 1)
        if any(s <= p and e >= q - 1 for s, e in ex)
    )
    ends = [k for k in ex if k[1] == h]  # rows of Q' (vertex-h basis), thread order
    starts = [k for k in ex if k[0] == 0]  # columns (vertex-0 basis)
    zeros = sorted(
        {
            (ri, ci)
            for p, q in pairs
            for ri, (s, _) in enumerate(ends)
            if s <= q
            for ci, (_, e) in enumerate(starts)
            if e >= p - 1
        }
    )
    return Piece(d, tuple(threads), "data", (a, c), pairs, tuple(zeros))


def _pattern_full_rank(piece: Piece, rng) -> bool:
    # The generic rank of a matrix with a prescribed zero pattern is the size of a maximum
    # matching avoiding the zeros (König); a random matrix confirms it.
    return _pattern_matching(piece) is not None


def zero_hessian_pieces(widths, *, seed: int = 0) -> list[Piece]:
    """All non-empty pieces of `H_{X,Y}` for generic data, one per thread class meeting `H`.

    Their union is `H_{X,Y}` for generic `X, Y` (see the module docstring for the argument).
    For `h = 2` the list is empty (`H = ∅`).

    Examples:
        >>> [p.describe() for p in zero_hessian_pieces((1, 1, 1, 1))]  # H = {0} for h = 3
        ['three-block layers 1..1|2..2|3..3; threads [0,0] [1,1] [2,2] [3,3]']
    """
    rng = np.random.default_rng(seed)
    out = []
    for th in thread_decompositions(widths):
        pc = classify_threads(widths, th)
        if pc is None:
            continue
        if pc.kind == "data" and not _pattern_full_rank(pc, rng):
            continue
        out.append(pc)
    return out


def canonical_representative(piece_or_widths, threads=None) -> tuple[np.ndarray, ...]:
    """The thread-basis weights `x` of a class: `W_i` maps each thread's basis vector at vertex
    `i−1` to the same thread's vector at `i` (threads in sorted order at every vertex)."""
    if isinstance(piece_or_widths, Piece):
        widths, threads = piece_or_widths.widths, piece_or_widths.threads
    else:
        widths = tuple(piece_or_widths)
    h = len(widths) - 1
    ex = _expand(threads)
    index = [{k: j for j, k in enumerate(t for t in range(len(ex)) if ex[t][0] <= i <= ex[t][1])} for i in range(h + 1)]
    xs = []
    for i in range(1, h + 1):
        X = np.zeros((widths[i], widths[i - 1]))
        for t, (s, e) in enumerate(ex):
            if s <= i - 1 and e >= i:
                X[index[i][t], index[i - 1][t]] = 1.0
        xs.append(X)
    return tuple(xs)


# ---------------------------------------------------------------------------------------------
# Random points of pieces and dim δ(piece)


@dataclasses.dataclass(frozen=True)
class PiecePoint:
    """A random point of a piece with what is needed to differentiate along it.

    `weights = (W_1, …, W_h)` with `W_i = g_i x_i g_{i−1}^{-1}`; `gs = (g_0, …, g_h)`.
    """

    weights: tuple[np.ndarray, ...]
    gs: tuple[np.ndarray, ...]
    Q: np.ndarray


def random_data_matrix(rng: np.random.Generator, widths) -> np.ndarray:
    """A generic `Q = YXᵀ` (`d_h × d_0`, full rank, distinct singular values)."""
    d0, dh = widths[0], widths[-1]
    U = _well_conditioned_gl(rng, dh)[0]
    V = _well_conditioned_gl(rng, d0)[0]
    k = min(d0, dh)
    S = np.zeros((dh, d0))
    S[np.arange(k), np.arange(k)] = np.sort(np.exp(rng.standard_normal(k)))[::-1]
    return U @ S @ V


def _pattern_matching(piece: Piece) -> list[tuple[int, int]] | None:
    """A matching of size `min(d_0, d_h)` between rows and columns of `Q'` avoiding `S`."""
    d0, dh = piece.widths[0], piece.widths[-1]
    banned = set(piece.data_zeros)
    match_col: dict[int, int] = {}

    def augment(row, seen):
        for col in range(d0):
            if (row, col) in banned or col in seen:
                continue
            seen.add(col)
            if col not in match_col or augment(match_col[col], seen):
                match_col[col] = row
                return True
        return False

    for row in range(dh):
        augment(row, set())
    if len(match_col) < min(d0, dh):
        return None
    return [(row, col) for col, row in match_col.items()]


def _random_pattern_matrix(rng, piece: Piece) -> np.ndarray:
    """A random `Q'` with zeros on `S`: Gaussian entries plus `3·(a matching avoiding S)`, an
    absolutely continuous law on the pattern space (so generic) that is well conditioned."""
    d0, dh = piece.widths[0], piece.widths[-1]
    Qp = rng.standard_normal((dh, d0))
    for r, c in _pattern_matching(piece) or ():
        Qp[r, c] += 3.0 * (1 if rng.random() < 0.5 else -1)
    for r, c in piece.data_zeros:
        Qp[r, c] = 0.0
    return Qp


def _sample_points(pieces: Sequence[Piece], Q: np.ndarray, rng) -> list[PiecePoint]:
    """Random points of pieces that share their widths (batched)."""
    widths = pieces[0].widths
    h = len(widths) - 1
    N = len(pieces)
    xs = [np.stack(z) for z in zip(*(canonical_representative(p) for p in pieces))]
    gs = [_well_conditioned_gl(rng, d, N) for d in widths]
    d0, dh = widths[0], widths[-1]
    for n, pc in enumerate(pieces):
        if pc.kind != "data":
            continue
        Qp = _random_pattern_matrix(rng, pc)
        # Solve g_hᵀ Q g_0^{-T} = Q' for one of g_h, g_0 (general solution, random free part).
        if dh >= d0:
            A = Q @ np.linalg.inv(gs[0][n]).T
            Ap = np.linalg.pinv(A)
            Z = rng.standard_normal((dh, dh))
            ghT = Qp @ Ap + Z @ (np.eye(dh) - A @ Ap)
            gs[h][n] = ghT.T
        else:
            Bm = gs[h][n].T @ Q
            Bp = np.linalg.pinv(Bm)
            Z = rng.standard_normal((d0, d0))
            K = Bp @ Qp + (np.eye(d0) - Bp @ Bm) @ Z
            gs[0][n] = np.linalg.inv(K).T
    ginv = [np.linalg.inv(g) for g in gs]
    ws = [gs[i] @ xs[i - 1] @ ginv[i - 1] for i in range(1, h + 1)]
    return [
        PiecePoint(tuple(W[n] for W in ws), tuple(g[n] for g in gs), Q) for n in range(N)
    ]


def _data_constraint_jacobian(pc: Piece, pt: PiecePoint) -> np.ndarray:
    """Rows: `dQ'[k,l]` for `(k,l) ∈ S`, columns: `ξ = (ξ_0, …, ξ_h)` (orbit coordinates)."""
    widths = pc.widths
    d0 = widths[0]
    g0, gh = pt.gs[0], pt.gs[-1]
    g0iT = np.linalg.inv(g0).T
    Y = pt.Q @ g0iT  # dQ' = g_hᵀ ξ_hᵀ Y − Z ξ_0ᵀ g_0^{-T},  Z = g_hᵀ Q
    Z = gh.T @ pt.Q
    off = np.cumsum([0] + [d * d for d in widths])
    C = np.zeros((len(pc.data_zeros), off[-1]))
    for r, (k, c) in enumerate(pc.data_zeros):
        C[r, off[-2] : off[-1]] = np.outer(Y[:, c], gh[:, k]).ravel()  # ∂/∂ξ_h[u,v] = g_h[v,k] Y[u,c]
        C[r, 0 : d0 * d0] = -np.outer(g0iT[:, c], Z[k, :]).ravel()  # ∂/∂ξ_0[u,v] = −Z[k,v] g0iT[u,c]
    return C


def piece_tangent(pc: Piece, pt: PiecePoint) -> np.ndarray:
    """A matrix whose columns span the tangent space of the piece at `pt` (weight coordinates)."""
    T = _orbit_tangent_batched([W[None] for W in pt.weights])[0]
    if pc.kind == "data" and pc.data_zeros:
        C = _data_constraint_jacobian(pc, pt)
        _, s, vt = np.linalg.svd(C)
        k = int(np.sum(s > DEFAULT_RTOL * s[0]))
        T = T @ vt[k:].T
    return T


def sample_piece_point(piece: Piece, *, seed: int = 0, Q: np.ndarray | None = None) -> PiecePoint:
    """A random point of a piece of `H_{X,Y}` (`Q = YXᵀ` random unless given).

    Examples:
        >>> pc = zero_hessian_pieces((2, 2, 2, 2))[0]
        >>> pt = sample_piece_point(pc)
        >>> [W.shape for W in pt.weights]
        [(2, 2), (2, 2), (2, 2)]
    """
    rng = np.random.default_rng(seed)
    if Q is None:
        Q = random_data_matrix(rng, piece.widths)
    return _sample_points([piece], np.asarray(Q, dtype=float), rng)[0]


def piece_delta_dims(
    pieces: Sequence[Piece], *, Q: np.ndarray, seed: int = 0, rtol: float = DEFAULT_RTOL, chunk: int = 2048
) -> list[RankReport]:
    """`dim δ(piece)` for each piece (same widths): the rank of `Dδ` on the piece's tangent
    space at a random point of it."""
    out: list[RankReport] = []
    if not pieces:
        return out
    rng = np.random.default_rng(seed)
    for start in range(0, len(pieces), chunk):
        batch = list(pieces[start : start + chunk])
        pts = _sample_points(batch, Q, rng)
        ws = [np.stack([pt.weights[i] for pt in pts]) for i in range(len(batch[0].widths) - 1)]
        J = _delta_jacobian_batched(ws) @ _orbit_tangent_batched(ws)
        sv = np.linalg.svd(J, compute_uv=False)
        for n, pc in enumerate(batch):
            if pc.kind == "data" and pc.data_zeros:
                Jn = J[n] @ _null_basis(_data_constraint_jacobian(pc, pts[n]))
                out.append(numerical_rank(Jn, rtol))
            else:
                out.append(_rank_from_sv(sv[n], rtol))
    return out


def _null_basis(C: np.ndarray) -> np.ndarray:
    _, s, vt = np.linalg.svd(C)
    k = int(np.sum(s > DEFAULT_RTOL * s[0])) if s.size else 0
    return vt[k:].T


def piece_delta_dim_exact(piece: Piece, *, seed: int = 0, p: int = PRIME) -> int | None:
    """`dim δ(piece)` by exact linear algebra over `F_p` at a random point of the piece.

    Three-block pieces for any widths; data pieces when `d_0 = d_h` (the point is built as
    `g_h = Q^{-T} g_0 Q'ᵀ`, which needs `Q` invertible); otherwise None. Each value is a certified
    lower bound for the rank at that point over `Q`, and equals the generic rank with high
    probability.

    Examples:
        >>> pc = zero_hessian_pieces((1, 1, 1, 1, 1))[0]
        >>> piece_delta_dim_exact(pc) == piece_delta_dims([pc], Q=np.eye(1))[0].rank
        True
    """
    widths = piece.widths
    p = check_prime(p)
    d0, dh, h = widths[0], widths[-1], len(widths) - 1
    if piece.kind == "data" and d0 != dh:
        return None
    rng = np.random.default_rng(seed)
    xs = [x.astype(np.int64) for x in canonical_representative(piece)]

    def rand_gl(n):
        for _ in range(50):
            g = rng.integers(0, p, size=(n, n), dtype=np.int64)
            gi = inv_mod_p(g, p)
            if gi is not None:
                return g, gi
        raise RuntimeError("no invertible matrix found mod p")  # pragma: no cover

    pairs = [rand_gl(d) for d in widths]
    gs, ginv = [g for g, _ in pairs], [gi for _, gi in pairs]
    C = None
    if piece.kind == "data" and piece.data_zeros:
        Q, _ = rand_gl(d0)
        Qinv = inv_mod_p(Q, p)
        for _ in range(50):
            Qp = rng.integers(0, p, size=(dh, d0), dtype=np.int64)
            for r_, c_ in piece.data_zeros:
                Qp[r_, c_] = 0
            gh = matmul_mod_p(matmul_mod_p(Qinv.T, gs[0], p), Qp.T, p)
            ghi = inv_mod_p(gh, p)
            if ghi is not None:
                break
        else:  # pragma: no cover
            return None
        gs[h], ginv[h] = gh, ghi
        g0iT = ginv[0].T
        Y = matmul_mod_p(Q, g0iT, p)
        Z = matmul_mod_p(gh.T, Q, p)
        off = np.cumsum([0] + [d * d for d in widths])
        C = np.zeros((len(piece.data_zeros), off[-1]), dtype=np.int64)
        for r_, (k, c) in enumerate(piece.data_zeros):
            C[r_, off[-2] : off[-1]] = matmul_mod_p(Y[:, c : c + 1], gh[None, :, k], p).ravel()
            C[r_, 0 : d0 * d0] = (-matmul_mod_p(g0iT[:, c : c + 1], Z[None, k, :], p)).ravel() % p
    ws = [
        matmul_mod_p(matmul_mod_p(gs[i], xs[i - 1], p), ginv[i - 1], p)[None]
        for i in range(1, h + 1)
    ]
    J = matmul_mod_p(_delta_jacobian_batched(ws)[0] % p, _orbit_tangent_batched(ws)[0] % p, p)
    if C is not None:
        J = matmul_mod_p(J, nullspace_mod_p(C, p), p)
    return rank_mod_p(J, p)


def zero_hessian_check(widths, weights, Q) -> tuple[float, float]:
    """`(max |∇L|, max |∇²L|)` at `weights` for `L(w) = ‖(W_h⋯W_1)X − Y‖_F²` with `X = I`,
    `Y = Q` (so `YXᵀ = Q`), by JAX autodiff on the flattened weights (float64).

    An independent check of the piece description: both are zero (to round-off) on `H`. Run it
    with `jax_enable_x64` on (the tests and the CLI do), otherwise round-off is float32's.

    Examples:
        >>> import numpy as np
        >>> w = tuple(np.zeros((1, 1)) for _ in range(3))  # w = 0, h = 3
        >>> zero_hessian_check((1, 1, 1, 1), w, np.ones((1, 1)))
        (0.0, 0.0)
    """
    import jax.numpy as jnp

    fn = _grad_hess_fn(tuple(widths))
    v = jnp.concatenate([jnp.ravel(jnp.asarray(W)) for W in weights])
    g, H = fn(v, jnp.asarray(Q, dtype=v.dtype))
    return float(jnp.max(jnp.abs(g))), float(jnp.max(jnp.abs(H)))


_GH_CACHE: dict = {}


def _grad_hess_fn(widths: tuple[int, ...]):
    if widths not in _GH_CACHE:
        import jax
        import jax.numpy as jnp

        shapes = [(widths[i], widths[i - 1]) for i in range(1, len(widths))]

        def loss(v, Q):
            k, P = 0, None
            for m, n in shapes:
                W = jnp.reshape(v[k : k + m * n], (m, n))
                P = W if P is None else W @ P
                k += m * n
            return jnp.sum((P - Q) ** 2)

        _GH_CACHE[widths] = jax.jit(lambda v, Q: (jax.grad(loss)(v, Q), jax.hessian(loss)(v, Q)))
    return _GH_CACHE[widths]
