"""Tsit5 (Tsitouras 2011, 5(4), FSAL; the tableau is diffrax's) on batch-last arrays, with
Hairer's stiffness detector (`h·ρ`, `ρ = ‖f(y₁) − f(y₇)‖ / ‖y₁ − y₇‖` the Lipschitz estimate
between the last two stages, against the method's real stability boundary)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from .. import _batchlast as B
from ._batchlast_loop import BatchLastIntegrator

TSIT5_A = (
    (0.161,),
    (-0.008480655492356989, 0.335480655492357),
    (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
    (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
    (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
     -0.028269050394068383),
)
TSIT5_B = (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
           2.324710524099774)
TSIT5_E = (0.0017800110522257773, 0.0008164344596567463, -0.007880878010261994, 0.1447110071732629,
           -0.5823571654525552, 0.45808210592918686, -0.015151515151515152)


def stability_boundary(A, b):
    """Where `|R(z)| = 1` on the negative real axis, `R(z) = 1 + z·bᵀ(I − zA)⁻¹1`."""
    s = len(b)
    Am = np.zeros((s, s))
    for i, row in enumerate(A):
        Am[i + 1, : len(row)] = row
    R = lambda z: 1 + z * np.asarray(b) @ np.linalg.solve(np.eye(s) - z * Am, np.ones(s))  # noqa: E731
    lo, hi = -0.1, -0.1
    while abs(R(hi)) <= 1:
        lo, hi = hi, hi * 1.5
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if abs(R(mid)) <= 1 else (lo, mid)
    return -lo


TSIT5_STABILITY = stability_boundary(TSIT5_A, TSIT5_B)  # ≈ 3.5


def comb(coefs, ks):
    """`Σ_j coefs_j · ks_j` in a fixed order."""
    out = coefs[0] * ks[0]
    for c, k in zip(coefs[1:], ks[1:]):
        out = out + c * k
    return out


def tsit5_step(f, y, f0, h):
    """One Tsit5 step from `y` (with `f0 = f(y)`) of size `h (*b)`.

    **Returns** `(y1, f1, err, hrho)`: `f1 = f(y1)` (first stage of the next step), the error
    estimate, and `h·ρ` (stiffness indicator).

    Examples:
        >>> import jax.numpy as jnp
        >>> f = lambda y: -y                      # three samples of ẏ = −y, batch last
        >>> y = jnp.ones((1, 3))
        >>> y1, f1, err, hrho = tsit5_step(f, y, f(y), jnp.array([0.1, 0.2, 0.4]))
        >>> bool(jnp.allclose(y1, jnp.exp(-jnp.array([[0.1, 0.2, 0.4]])), atol=1e-6))
        True
    """
    ks = [f0]
    yi = y
    for row in TSIT5_A:
        yi = y + h * comb(row, ks)
        ks.append(f(yi))
    y1 = y + h * comb(TSIT5_B, ks)
    f1 = f(y1)
    err = h * comb(TSIT5_E, ks + [f1])
    num = B.norm(f1 - ks[-1])
    den = B.norm(y1 - yi)
    hrho = jnp.where(den > 0, h * num / jnp.where(den > 0, den, 1.0), 0.0)
    return y1, f1, err, hrho


@dataclasses.dataclass(frozen=True)
class Tsit5(BatchLastIntegrator):
    """Tsit5 on the batch-last layout (explicit; detects stiffness for a hand-over).

    Measured on (3,2,2,3): 0.57 µs per sample-step on 2 cores at 128 lanes. Alone it reaches
    `‖∇L‖ = 1e-3` in 250–5000 steps but stalls at a gradient-norm floor (~3e-5 after 1e5 steps)."""

    name = "tsit5"
    needs_hessian = False
    stiffness_boundary = TSIT5_STABILITY

    def step(self, f, hess, y, fy, h):
        return tsit5_step(f, y, fy, h)
