"""Tests of ml_networks_jax.special.gamma against mpmath (40 digits).

Run in float32 (default) and in float64 (``JAX_ENABLE_X64=1``): the dtype under test follows
``jax.config.jax_enable_x64``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
from conftest import float32_only
from jax.test_util import check_grads

from ml_networks_jax.special.gamma import (
    gammainc,
    gammainc_log,
    gammainc_log_shape_tangent,
    gammaincc,
    log_exp_gamma_density,
    log_gamma_density,
)

_gammainc, _gammaincc, _gammainc_log = gammainc, gammaincc, gammainc_log

X64 = bool(jax.config.jax_enable_x64)
DTYPE = np.float64 if X64 else np.float32
EPS = float(np.finfo(DTYPE).eps)
# Tolerance table. Values: relative error <= value_k * eps * (1 + condition number of P (or Q)
# with respect to relative perturbations of a and log_x) -- input rounding alone costs that much.
# dz/da = -(∂P/∂a)/q: the accuracy targets of the implicit reparameterization gradient.
TOL = {
    np.float32: dict(value_k=50.0, dzda=1e-5, logq_k=20.0),
    np.float64: dict(value_k=50.0, dzda=1e-10, logq_k=20.0),
}[DTYPE]

A_GRID = np.logspace(-3, 4, 15)
QUANTILES = np.array([1e-4, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-4])


def _log_quantiles(a, p):
    """log of the p-quantiles of Gamma(a, 1), also where the quantile underflows float64."""
    z = sc.gammaincinv(a, p)
    with np.errstate(divide="ignore"):
        direct = np.log(z)
    # For tiny quantiles P(a, x) ≈ x^a / Γ(a + 1).
    small = (np.log(p) + sc.gammaln(a + 1.0)) / a
    return np.where(z > 1e-300, direct, small)


def _mp_reference(a, t):
    """(P, Q, ∂P/∂a, log q) at a and x = exp(t), exactly at the given binary values."""
    a = mp.mpf(float(a))
    t = mp.mpf(float(t))
    x = mp.exp(t)
    p = mp.gammainc(a, 0, x, regularized=True)
    q = mp.gammainc(a, x, mp.inf, regularized=True)
    if p < q:
        dp = mp.diff(lambda s: mp.gammainc(s, 0, x, regularized=True), a)
    else:
        dp = -mp.diff(lambda s: mp.gammainc(s, x, mp.inf, regularized=True), a)
    logq = (a - 1) * t - x - mp.loggamma(a)
    return float(p), float(q), float(dp), float(logq)


def _build_reference():
    with mp.workdps(40):
        a_pts, t_pts = [], []
        for a in A_GRID:
            for t in _log_quantiles(a, QUANTILES):
                a_pts.append(a)
                t_pts.append(t)
        a_in = np.asarray(a_pts, DTYPE)
        t_in = np.asarray(t_pts, DTYPE)
        ref = np.array([_mp_reference(a, t) for a, t in zip(a_in, t_in, strict=True)])
        # Points for gammainc / gammaincc in x (where x is a normal number of the dtype).
        x_in = np.exp(t_in.astype(np.float64)).astype(DTYPE)
        okx = x_in > np.finfo(DTYPE).tiny
        xa, xx = a_in[okx], x_in[okx]
        ref_x = np.array(
            [
                [
                    float(mp.gammainc(mp.mpf(float(a)), 0, mp.mpf(float(x)), regularized=True)),
                    float(
                        mp.gammainc(mp.mpf(float(a)), mp.mpf(float(x)), mp.inf, regularized=True)
                    ),
                ]
                for a, x in zip(xa, xx, strict=True)
            ]
        )
    return a_in, t_in, ref, xa, xx, ref_x, okx


A_IN, T_IN, REF, XA, XX, REF_X, OKX = _build_reference()
P_REF, Q_REF, DP_REF, LOGQ_REF = REF.T


def _cond(p_ref):
    """Condition number of P (or Q = 1 - P) w.r.t. relative perturbations of a and log x."""
    a = A_IN.astype(np.float64)
    t = T_IN.astype(np.float64)
    dens_t = np.exp(LOGQ_REF + t)  # ∂P/∂t
    return (np.abs(a * DP_REF) + np.abs(t * dens_t)) / p_ref


def test_gammainc_log_values_vs_mpmath():
    p = np.asarray(jax.jit(gammainc_log)(A_IN, T_IN), np.float64)
    assert p.dtype == np.float64 and np.all(np.isfinite(p))
    err = np.abs(p / P_REF - 1.0)
    bound = TOL["value_k"] * EPS * (1.0 + _cond(P_REF))
    assert np.all(err <= bound), (np.max(err / bound), A_IN[np.argmax(err / bound)])


def test_gammainc_gammaincc_values_vs_mpmath():
    p = np.asarray(jax.jit(gammainc)(XA, XX), np.float64)
    q = np.asarray(jax.jit(gammaincc)(XA, XX), np.float64)
    p_ref, q_ref = REF_X.T
    # x = exp(log x) rounded: same point up to one rounding, so reuse ∂P/∂a and the density there;
    # x's own rounding is relative (condition x q / P), a's is relative (a ∂P/∂a / P).
    sens = np.abs(XA * DP_REF[OKX]) + np.exp(LOGQ_REF[OKX] + T_IN[OKX].astype(np.float64))
    for val, ref in ((p, p_ref), (q, q_ref)):
        err = np.abs(val / ref - 1.0)
        bound = TOL["value_k"] * EPS * (1.0 + sens / ref)
        assert np.all(err <= bound), np.max(err / bound)
    # Q accurate where it is tiny (not 1 - P): at the 1 - 1e-4 quantiles Q ≈ 1e-4 (a <= 10, where
    # the problem is well conditioned; 1 - P would have error ~eps/Q there).
    tiny = (q_ref < 1e-3) & (XA <= 10)
    assert tiny.any()
    assert np.max(np.abs(q[tiny] / q_ref[tiny] - 1.0)) < (1e-5 if DTYPE == np.float32 else 1e-12)


# log q is computed through l = log x - log a: rounding log a moves it by |a - x| eps |log a|.
_T64, _A64 = T_IN.astype(np.float64), A_IN.astype(np.float64)
_SHIFT = np.abs(_A64 - np.exp(_T64)) * np.abs(np.log(_A64))
LOGQ_SCALE = 1.0 + np.abs(LOGQ_REF) + np.abs(_T64) + _SHIFT


def test_log_gamma_density_vs_mpmath():
    lq = np.asarray(jax.jit(log_gamma_density)(A_IN, T_IN), np.float64)
    err = np.abs(lq - LOGQ_REF)
    assert np.all(err <= TOL["logq_k"] * EPS * LOGQ_SCALE), np.max(err / LOGQ_SCALE) / EPS


def test_implicit_gradient_dz_da_vs_mpmath():
    """h = (∂P/∂a)/(x q) is d(log z)/da up to sign: dz/da = -z h. Also checks ∂P/∂a = x q h."""
    h = np.asarray(jax.jit(gammainc_log_shape_tangent)(A_IN, T_IN), np.float64)
    t = T_IN.astype(np.float64)
    h_ref = -np.exp(np.log(-DP_REF) - LOGQ_REF - t)
    err = np.abs(h / h_ref - 1.0)
    for decade in range(-3, 5):
        m = np.floor(np.log10(A_IN)) == decade
        if m.any():
            assert err[m].max() <= TOL["dzda"], (decade, err[m].max())
    dpda = np.asarray(jax.jit(jax.vmap(jax.grad(gammainc_log)))(A_IN, T_IN), np.float64)
    ok = np.abs(DP_REF) > 1e3 * np.finfo(DTYPE).tiny
    assert np.all(np.abs(dpda[ok] / DP_REF[ok] - 1.0) <= 1e3 * EPS * (1.0 + np.abs(LOGQ_REF[ok])))


def test_gradient_in_log_x_is_density():
    dpdt = jax.jit(jax.vmap(jax.grad(gammainc_log, argnums=1)))(A_IN, T_IN)
    ref = np.exp(LOGQ_REF + T_IN.astype(np.float64))
    ok = ref > 1e3 * np.finfo(DTYPE).tiny
    err = np.abs(np.asarray(dpdt, np.float64)[ok] / ref[ok] - 1)
    scale = 1.0 + np.abs(LOGQ_REF[ok])
    assert np.all(err <= 200 * EPS * scale)


# Points covering every regime: series, continued fraction, Temme, large-a series / fraction.
REGIME_POINTS = [
    (0.5, math.log(0.3)), (0.5, math.log(3.0)), (0.01, -50.0), (3.0, math.log(2.5)),
    (3.0, math.log(6.0)), (50.0, math.log(48.0)), (50.0, math.log(10.0)), (50.0, math.log(150.0)),
    (400.0, math.log(420.0)),
]  # fmt: skip


@pytest.mark.skipif(not X64, reason="finite differences of gradients need float64")
@pytest.mark.parametrize("fn", [gammainc_log, log_gamma_density], ids=["P", "log_q"])
def test_second_derivatives_vs_finite_differences(fn):
    """The Hessian in (a, log x) at a point of every regime, against central differences of the
    gradient; the custom JVP's rule is itself differentiated here."""
    pts = np.asarray(REGIME_POINTS)
    f = lambda v: fn(v[0], v[1])  # noqa: E731
    steps = 1e-5 * np.stack([np.maximum(pts[:, 0], 1.0), np.ones(len(pts))], axis=1)
    shifts = [np.zeros(pts.shape) + np.eye(2)[i] * steps for i in range(2)]
    shifted = np.concatenate([pts + e for e in shifts] + [pts - e for e in shifts])
    # one program: the Hessian at the points, the gradient at the shifted points
    hess, grads = jax.jit(lambda p, q: (jax.vmap(jax.hessian(f))(p), jax.vmap(jax.grad(f))(q)))(
        jnp.asarray(pts), jnp.asarray(shifted)
    )
    hess, (up0, up1, down0, down1) = np.asarray(hess), np.split(np.asarray(grads), 4)
    for i, (up, down) in enumerate(((up0, down0), (up1, down1))):
        fd = (up - down) / (2 * steps[:, i : i + 1])
        scale = np.abs(fd).max(axis=1, keepdims=True)
        err = np.abs(hess[:, :, i] - fd) / (1e-5 * np.abs(fd) + 1e-7 * scale)
        assert np.all(err <= 1.0), (i, REGIME_POINTS[int(np.argmax(err.max(axis=1)))], err.max())
    np.testing.assert_allclose(hess[:, 0, 1], hess[:, 1, 0], rtol=1e-6, atol=1e-12)


def test_first_derivatives_pass_check_grads():
    for a, t in REGIME_POINTS[::3]:
        check_grads(
            jax.jit(gammainc_log), (a, t), order=1, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2
        )


@float32_only
def test_jit_vmap_and_jvp_consistent():
    a = jnp.asarray(A_IN)
    t = jnp.asarray(T_IN)
    eager = gammainc_log(a, t)
    jitted = jax.jit(gammainc_log)(a, t)
    mapped = jax.jit(jax.vmap(gammainc_log))(a, t)
    # (float32: P(a = 1e4) is ill conditioned in log x, so fusion-dependent roundings show.)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-13 if X64 else 1e-5)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(eager), rtol=1e-13 if X64 else 1e-5)
    # Forward mode over the whole array equals reverse mode element by element.
    jvp = jax.jit(lambda a, t: jax.jvp(gammainc_log, (a, t), (jnp.ones_like(a), jnp.ones_like(t))))
    tan = jvp(a, t)[1]
    da, dt = jax.jit(jax.vmap(jax.grad(gammainc_log, argnums=(0, 1))))(a, t)
    np.testing.assert_allclose(np.asarray(tan), np.asarray(da + dt), rtol=1e-12 if X64 else 1e-5)


def test_log_exp_gamma_density_is_density_of_log_x():
    lq = np.asarray(jax.jit(log_exp_gamma_density)(A_IN, T_IN), np.float64)
    ref = LOGQ_REF + T_IN.astype(np.float64)
    assert np.all(np.abs(lq - ref) <= TOL["logq_k"] * EPS * LOGQ_SCALE)
    assert float(log_exp_gamma_density(2.0, -jnp.inf)) == -np.inf
    assert np.isnan(float(log_exp_gamma_density(-1.0, 0.0)))


def test_broadcasting_and_dtypes():
    a = jnp.asarray([[0.5], [2.0], [30.0]], jnp.float32)
    x = jnp.asarray([0.1, 1.0, 2.0, 40.0], jnp.float32)
    p = gammainc(a, x)
    assert p.shape == (3, 4) and p.dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(p),
        sc.gammainc(np.asarray(a, np.float64), np.asarray(x, np.float64)),
        rtol=2e-5,
        atol=1e-7,
    )
    q = gammaincc(2.0, x)
    assert q.dtype == jnp.float32  # the weakly typed 2.0 adopts x's dtype
    np.testing.assert_allclose(
        np.asarray(q), sc.gammaincc(2.0, np.asarray(x, np.float64)), rtol=2e-5
    )
    assert gammainc_log(1, 0).dtype == (jnp.float64 if X64 else jnp.float32)


def test_zero_and_tiny_x():
    """Edges in one vectorized call each (``_core`` is jitted, so these compile once per shape)."""
    # x = 0: P = 0, Q = 1; x = inf: P = 1, Q = 0; far tails: exact 0 / 1 without NaN.
    a = jnp.asarray([1e-4, 0.5, 1.0, 3.0, 2.0, 1e4, 1e4])
    x = jnp.asarray([0.0, 0.0, 0.0, 0.0, jnp.inf, 1e5, 10.0])
    np.testing.assert_array_equal(gammainc(a, x), [0, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(gammaincc(a, x), [1, 1, 1, 1, 0, 0, 1])
    for fn in (gammainc, gammaincc):  # finite gradients at x = 0
        g = jax.vmap(jax.grad(fn, argnums=(0, 1)))(a[:4], x[:4])
        assert all(np.all(np.isfinite(np.asarray(v))) for v in g)
    # log_x = -3e4 with a = 1e-4: x underflows but P = exp(a log x) / Γ(1 + a) ≈ exp(-3);
    # there ∂P/∂a = P (log x - ψ(1 + a)), with error ~ eps |log x| since |log q| ≈ |log x|.
    a = jnp.asarray([1e-4, 1e-4, 2.0, 2.0, 1e4])
    t = jnp.asarray([-1e4, -3e4, -jnp.inf, jnp.inf, math.log(1e5)])
    p, (da, dt) = jax.jit(jax.vmap(jax.value_and_grad(gammainc_log, argnums=(0, 1))))(a, t)
    p, da, dt = (np.asarray(v, np.float64) for v in (p, da, dt))
    assert abs(p[1] / math.exp(-3.0 - math.lgamma(1.0 + 1e-4)) - 1) < 50 * EPS
    lx = np.asarray(t[:2], np.float64)
    np.testing.assert_array_less(
        np.abs(da[:2] / (p[:2] * (lx - sc.digamma(1.0 + 1e-4))) - 1), 10 * EPS * (1 + np.abs(lx))
    )
    assert np.isfinite(dt[:2]).all()
    np.testing.assert_array_equal(p[2:], [0, 1, 1])
    assert da[4] == 0.0 and dt[4] == 0.0
    lq = log_gamma_density(jnp.asarray([2.0, 0.5, 1.0]), -jnp.inf)
    np.testing.assert_array_equal(lq, [-np.inf, np.inf, 0.0])


@float32_only
def test_nan_and_invalid_inputs():
    nan = float("nan")
    assert np.isnan(float(gammainc_log(nan, 0.0)))
    assert np.isnan(float(gammainc_log(1.0, nan)))
    assert np.isnan(float(gammainc(nan, 1.0)))
    assert np.isnan(float(gammainc(1.0, nan)))
    assert np.isnan(float(gammaincc(1.0, nan)))
    assert np.isnan(float(log_gamma_density(nan, 0.0)))
    for a in (0.0, -1.0):
        assert np.isnan(float(gammainc(a, 1.0)))
        assert np.isnan(float(gammaincc(a, 1.0)))
        assert np.isnan(float(gammainc_log(a, 0.0)))
        assert np.isnan(float(log_gamma_density(a, 0.0)))
    assert np.isnan(float(gammainc(1.0, -1.0)))
    assert np.isnan(float(gammaincc(1.0, -1.0)))
    g = jax.grad(gammainc_log, argnums=(0, 1))(nan, 0.0)
    assert all(np.isnan(float(u)) for u in g)


def test_grad_in_log_x_only_and_symbolic_zeros():
    # Only log_x perturbed: a's tangent is a symbolic zero; results must match the full JVP.
    a, t = jnp.asarray(2.5), jnp.asarray(1.0)
    g_t = jax.grad(gammainc_log, argnums=1)(a, t)
    _, full = jax.jvp(gammainc_log, (a, t), (jnp.zeros_like(a), jnp.ones_like(t)))
    np.testing.assert_allclose(float(g_t), float(full), rtol=1e-6)
    np.testing.assert_allclose(
        float(g_t), math.exp(float(log_gamma_density(a, t)) + 1.0), rtol=1e-5
    )
