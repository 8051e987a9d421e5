"""Finalisation: polish the end of each run, classify it in float64, and build its record.

## Polish

Levenberg–Marquardt on `∇L(w) = 0` in float64: `Δ = −E diag(λ/(λ² + m)) Eᵀ g` from the Hessian's
eigendecomposition `H = E diag(λ) Eᵀ` (with `m → 0` the pseudo-inverse Newton step, well defined
at the degenerate Morse–Bott minima), accepted only if it stays within `polish_radius` of where the
flow ended, does not increase the loss (beyond one rounding unit of `L`) and reduces `‖∇L‖`.

## What is known about the minimum

`L*` comes from the model's closed forms (`model.loss_star`: Eckart–Young for the quadratic
loss, 0 for distances on filling linear networks), or from the user (`loss_star=`, a value per
sample or one for all); "no bad minima" from the theory (`model.no_bad_minima`) or the user's
claim (`no_bad_minima=True`). With both the classifier decides global vs non-global.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _batchlast as B
from ._config import FlowConfig
from ._sampling import ProblemSpec
from .integrators._stopping import CONVERGED, FlowTolerances

FINALISE_BATCH = 64


class FlowRecord(NamedTuple):
    """The per-sample record (all fields scalars per sample except `fibre`, of the model's
    `fibre_len`)."""

    index: Any
    status: Any
    label: Any  # class code if converged, else -1
    loss: Any
    loss_star: Any
    gap: Any
    grad_norm: Any
    grad_norm_flow: Any
    t: Any
    steps: Any
    accepted: Any
    delta_drift: Any  # max relative drift of the model's conserved quantities
    polish_step: Any
    eig_min: Any
    eig_max: Any
    n_negative: Any
    n_zero: Any
    rank_dmu: Any
    index_set: Any
    index_set_valid: Any
    fibre: Any


def polish(f, v_end, loss, radius, iters: int):
    """Guarded Levenberg–Marquardt on `∇L = 0` from `v_end` (see the module docstring);
    `f(v, loss)` is the loss of flat weights.

    **Returns:** `(v, accepted_steps)`; `‖v − v_end‖ ≤ radius`, `L(v) ≤ L(v_end)` (up to one rounding
    unit of `L`) and `‖∇L(v)‖ ≤ ‖∇L(v_end)‖`.

    Examples:
        >>> import jax.numpy as jnp
        >>> f = lambda v, c: jnp.sum((v - c) ** 2)
        >>> v, n = polish(f, jnp.array([1.0, 2.0]), jnp.array([1.0, 2.0 + 1e-4]), 1e-3, 4)
        >>> float(abs(v[1] - (2.0 + 1e-4))) < 1e-12, int(n) >= 1
        (True, True)
    """
    grad = jax.grad(f)
    hess = jax.hessian(f)
    eps = jnp.finfo(v_end.dtype).eps

    def body(_, c):
        v, L, gn, m, n_acc = c
        g = grad(v, loss)
        H = hess(v, loss)
        lam, E = jnp.linalg.eigh(0.5 * (H + H.T))
        scale = jnp.maximum(1.0, jnp.max(jnp.abs(lam))) ** 2
        step = -E @ ((lam / (lam * lam + m * scale)) * (E.T @ g))
        vn = v + step
        Ln = f(vn, loss)
        gnn = jnp.linalg.norm(grad(vn, loss))
        ok = (
            (jnp.linalg.norm(vn - v_end) <= radius)
            & (Ln <= L + 2 * eps * jnp.abs(L))
            & (gnn < gn)
            & jnp.isfinite(Ln)
            & jnp.isfinite(gnn)
        )
        return (jnp.where(ok, vn, v), jnp.where(ok, Ln, L), jnp.where(ok, gnn, gn),
                jnp.where(ok, m * 1e-3, m * 1e3), n_acc + ok.astype(jnp.int32))

    L0 = f(v_end, loss)
    g0 = jnp.linalg.norm(grad(v_end, loss))
    m0 = jnp.asarray(1e-14, v_end.dtype)
    v, _, _, _, n_acc = jax.lax.fori_loop(0, iters, body, (v_end, L0, g0, m0, jnp.zeros((), jnp.int32)))
    return v, n_acc


PENDING = -2  # a converged run the value test did not decide: the full classifier runs on it


def _report_fields(rep) -> dict:
    return dict(loss=rep.loss, grad_norm=rep.grad_norm, eig_min=rep.eig_min, eig_max=rep.eig_max,
                n_negative=rep.n_negative.astype(jnp.int32), n_zero=rep.n_zero.astype(jnp.int32),
                rank_dmu=jnp.asarray(rep.rank_dmu).astype(jnp.int32))


def _classifier_tolerances(tol):
    from ._critical import Tolerances

    return Tolerances(grad=tol.classify_grad, eig=tol.classify_eig, loss=tol.classify_loss)


def _known_minimum(model, loss, user_loss_star, no_bad_minima):
    L_star = model.loss_star(loss) if user_loss_star is None else jnp.asarray(user_loss_star, jnp.float64)
    nbm = model.no_bad_minima(loss) if no_bad_minima is None else bool(no_bad_minima)
    return L_star, nbm


def finalise_member(model, config: FlowConfig, loss, index, y_end, y0, state_summary,
                    tol: FlowTolerances, *, user_loss_star=None, no_bad_minima=None,
                    classify: bool = True):
    """Polish and classify one finished run in float64, and build its [`FlowRecord`][].

    `loss` is the float64 loss of the sample (float32 runs are classified exactly like float64
    ones); `state_summary = (status, t, steps, accepted, grad_norm_flow, max_drift)`;
    `user_loss_star`: the user's `L*` (a scalar, traced) or `None`; `no_bad_minima`: the user's
    claim (static; `None`: the theory's). Jittable; vmappable in everything but `model`, `config`.

    A converged run that attains `L*` (`model.global_by_value`: a gradient, no Hessian) is a
    `global_min` at once; its spectral fields are not computed (`eig_min = eig_max = nan`,
    `n_negative = n_zero = rank_dmu = −1`). Every other converged run is classified in full.
    With `classify=False` (static) the full classification is left out: such runs get
    `label = PENDING`, and the polished flat weights are returned next to the record, as
    `(record, v)`, for [`finalise_batch`][] to classify only those.
    """
    status, t, steps, accepted, gflow, max_drift = state_summary
    loss = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), loss)
    f = model.loss_value
    tol = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64) if jnp.asarray(a).dtype.kind == "f" else a, tol)
    v_end = jnp.asarray(y_end, jnp.float64)
    converged = status == CONVERGED
    v_start = jnp.where(converged, v_end, jnp.zeros_like(v_end))
    v, _ = polish(f, v_start, loss, tol.polish_radius, config.polish_iters)
    v = jnp.where(converged, v, v_end)
    L_star, nbm = _known_minimum(model, loss, user_loss_star, no_bad_minima)
    ctol = _classifier_tolerances(tol)
    by_value = None if L_star is None else model.global_by_value(loss, v, loss_star=L_star, tolerances=ctol)
    if by_value is None:
        by_value = jnp.asarray(False)
    L_v, g_v = jax.value_and_grad(f)(v, loss)
    nan = jnp.asarray(jnp.nan, jnp.float64)
    minus1 = jnp.asarray(-1, jnp.int32)
    fields = dict(loss=L_v, grad_norm=jnp.linalg.norm(g_v), eig_min=nan, eig_max=nan,
                  n_negative=minus1, n_zero=minus1, rank_dmu=minus1)
    from ._critical import GLOBAL_MIN

    if classify:
        rep = model.classify(loss, v, loss_star=L_star, no_bad_minima=nbm, tolerances=ctol)
        full = _report_fields(rep)
        fields = {k: jnp.where(by_value, fields[k], full[k]) for k in fields}
        undecided_label = rep.label
    else:
        undecided_label = jnp.asarray(PENDING, jnp.int32)
    label = jnp.where(converged, jnp.where(by_value, GLOBAL_MIN, undecided_label), -1).astype(jnp.int32)
    y0 = jnp.asarray(y0, jnp.float64)
    drift_final = model.drift(model.conserved(y0), B.lsum(y0 * y0), v_end)
    S, S_valid = model.index_set(loss, v, tol.index_set)
    Ls = jnp.asarray(jnp.nan if L_star is None else L_star, jnp.float64)
    rec = FlowRecord(
        index=jnp.asarray(index, jnp.int64), status=status.astype(jnp.int32), label=label,
        loss_star=Ls, gap=fields["loss"] - Ls,
        grad_norm_flow=jnp.asarray(gflow, jnp.float64), t=jnp.asarray(t, jnp.float64),
        steps=steps.astype(jnp.int32), accepted=accepted.astype(jnp.int32),
        delta_drift=jnp.maximum(jnp.asarray(max_drift, jnp.float64), drift_final),
        polish_step=jnp.linalg.norm(v - v_end), index_set=S.astype(jnp.int32),
        index_set_valid=S_valid, fibre=model.fibre(v), **fields,
    )
    return rec if classify else (rec, v)


@functools.lru_cache(maxsize=64)
def _finalise_kernel(model, config: FlowConfig, user_loss_star: bool, no_bad_minima):
    """Polish, the value test and the record, for a batch (the full classification left out)."""
    def one(loss, index, y, y0, status, t, steps, accepted, gnorm, drift, ls, tol):
        return finalise_member(model, config, loss, index, y, y0,
                               (status, t, steps, accepted, gnorm, drift), tol,
                               user_loss_star=ls if user_loss_star else None,
                               no_bad_minima=no_bad_minima, classify=False)

    return jax.jit(jax.vmap(one, in_axes=(0,) * 11 + (None,)))


@functools.lru_cache(maxsize=64)
def _classify_kernel(model, user_loss_star: bool, no_bad_minima):
    """The full classification of polished points, for a batch of `CLASSIFY_BATCH`."""
    def one(loss, v, ls, tol):
        loss = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), loss)
        L_star, nbm = _known_minimum(model, loss, ls if user_loss_star else None, no_bad_minima)
        rep = model.classify(loss, v, loss_star=L_star, no_bad_minima=nbm,
                             tolerances=_classifier_tolerances(tol))
        return rep.label.astype(jnp.int32), _report_fields(rep)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))


CLASSIFY_BATCH = 16


def finalise_batch(spec: ProblemSpec, config: FlowConfig, seed: int, indices, raw: dict,
                   tolerances=None, problems=None, *, loss_star=None, no_bad_minima=None) -> dict:
    """Polish, classify and record finished runs (float64), in fixed batches of 64.

    **Arguments:** as [`run_batch`][geomflow.run_batch], plus `loss_star` (the user's `L*`: one
    value, or one per index) and `no_bad_minima` (the user's claim; `None`: the theory's).

    **Returns:** a dict of numpy arrays, one entry per [`FlowRecord`][] field.
    """
    from ._scheduler import kernel_spec, sampled_problems

    indices = np.asarray(indices, np.int64)
    tol = (tolerances if tolerances is not None else FlowTolerances.for_precision(config.precision)).as_arrays()
    model = kernel_spec(spec).network
    fn = _finalise_kernel(model, config, loss_star is not None,
                          None if no_bad_minima is None else bool(no_bad_minima))
    if problems is None:
        problems = sampled_problems(spec, seed, indices)
    n = indices.size
    ls_all = np.broadcast_to(np.asarray(np.nan if loss_star is None else loss_star, np.float64), (n,))
    out, vs = [], []
    for a in range(0, n, FINALISE_BATCH):
        b = min(n, a + FINALISE_BATCH)
        sel = np.arange(a, a + FINALISE_BATCH)
        sel = np.where(sel < b, sel, a)
        args = [raw[k][sel] for k in ("y", "y0", "status", "t", "steps", "accepted", "grad_norm",
                                       "max_drift")]
        loss, _ = problems(sel)
        rec, v = fn(loss, jnp.asarray(indices[sel]), *map(jnp.asarray, args), jnp.asarray(ls_all[sel]), tol)
        out.append({k: np.array(x)[: b - a] for k, x in rec._asdict().items()})
        vs.append(np.asarray(v)[: b - a])
    if not out:
        b = spec.network.fibre_len
        return {k: np.zeros((0, b) if k == "fibre" else (0,)) for k in FlowRecord._fields}
    rec = {k: np.concatenate([o[k] for o in out]) for k in FlowRecord._fields}
    # The full classifier only where the value test did not decide (most runs end at L*).
    pending = np.flatnonzero(rec["label"] == PENDING)
    if pending.size:
        cls = _classify_kernel(model, loss_star is not None,
                               None if no_bad_minima is None else bool(no_bad_minima))
        v_all = np.concatenate(vs)
        for a in range(0, pending.size, CLASSIFY_BATCH):
            pos = pending[a : a + CLASSIFY_BATCH]
            sel = np.concatenate([pos, np.full(CLASSIFY_BATCH - pos.size, pos[0])])
            loss, _ = problems(sel)
            label, fields = cls(loss, jnp.asarray(v_all[sel]), jnp.asarray(ls_all[sel]), tol)
            rec["label"][pos] = np.asarray(label)[: pos.size]
            for k, x in fields.items():
                rec[k][pos] = np.asarray(x)[: pos.size]
        rec["gap"][pending] = rec["loss"][pending] - rec["loss_star"][pending]
    return rec
