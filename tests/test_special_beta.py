"""Tests of ml_networks_jax.special.beta against mpmath.

Run in float32 (default) and in float64 (``JAX_ENABLE_X64=1``): the dtype under test follows
``jax.config.jax_enable_x64``.  The references are computed by mpmath quadrature of the logit-space
density (``mp.betainc`` itself needs minutes near the mean for a = b = 1e4), at the binary values
of the inputs in the dtype under test: ``I = ∫ q_t``, ``∂I/∂a = ∫ q_t (log σ(s) - ψ(a) + ψ(a+b))``
over the smaller tail.  ``MNJ_FULL=1`` widens the grid.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
from conftest import FULL, float32_only
from jax.test_util import check_grads

import ml_networks_jax.special.beta as beta_module
from ml_networks_jax.special.beta import (
    betainc,
    betainc_logit,
    betainc_logit_tangent,
    log_beta_logit_density,
)

X64 = bool(jax.config.jax_enable_x64)
DTYPE = np.float64 if X64 else np.float32
EPS = float(np.finfo(DTYPE).eps)
# Tolerance table.  value_k: relative error of the smaller tail <= value_k eps (1 + condition
# number w.r.t. relative perturbations of a, b and t -- input rounding alone costs that much).
# dtda: relative error of dt/da = -h_a and dt/db = -h_b (the implicit-gradient target).
TOL = {
    np.float32: dict(value_k=50.0, dtda=1e-5, logq_k=50.0),
    # float64: the continued fraction (no power series) reaches 103 eps (1 + cond) at a = 1e-3,
    # b = 1 (2.3e-14 relative, measured at `make test`'s settings; the target is 1e-10).
    np.float64: dict(value_k=200.0, dtda=1e-10, logq_k=50.0),
}[DTYPE]
GRID = np.logspace(-3, 4, 8 if FULL else 4)
QUANTILES = np.array([1e-4, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-4] if FULL else [1e-4, 0.3, 0.97])


def _logit_quantile(a, b, q):
    """logit of the q-quantile of Beta(a, b), also where the quantile rounds to 0 or 1."""
    with np.errstate(all="ignore"):
        x = sc.betaincinv(a, b, q)
        y = sc.betaincinv(b, a, 1.0 - q)
        if x < 0.5:
            if x > 1e-300:
                return math.log(x) - math.log1p(-x)
            return (math.log(q) + math.log(a) + sc.betaln(a, b)) / a  # I ≈ x^a / (a B)
        if y > 1e-300:
            return math.log1p(-y) - math.log(y)
        return -(math.log1p(-q) + math.log(b) + sc.betaln(a, b)) / b


def _mp_reference(a, b, t):
    """(smaller tail, is_upper, ∂I/∂a, ∂I/∂b, log q_t) at the binary values a, b, t."""
    a, b, t = mp.mpf(float(a)), mp.mpf(float(b)), mp.mpf(float(t))
    r = a + b
    log_beta = mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(r)
    ca, cb = mp.digamma(r) - mp.digamma(a), mp.digamma(r) - mp.digamma(b)

    def parts(s):
        lx, ly = -mp.log1p(mp.exp(-s)), -mp.log1p(mp.exp(s))
        return mp.exp(a * lx + b * ly - log_beta), lx, ly

    mode, width = mp.log(a / b), mp.sqrt(1 / a + 1 / b)
    upper = t > mode
    pts = [mode + k * width for k in (-60, -20, -8, -3, -1, 0, 1, 3, 8, 20, 60)]
    if upper:
        iv = [t, *[p for p in pts if p > t], mp.inf]
    else:
        iv = [-mp.inf, *[p for p in pts if p < t], t]
    i0 = mp.quad(lambda s: parts(s)[0], iv)
    ia = mp.quad(lambda s: (lambda q, lx, ly: q * (lx + ca))(*parts(s)), iv)
    ib = mp.quad(lambda s: (lambda q, lx, ly: q * (ly + cb))(*parts(s)), iv)
    sign = -1 if upper else 1
    log_q = a * -mp.log1p(mp.exp(-t)) + b * -mp.log1p(mp.exp(t)) - log_beta
    return float(i0), bool(upper), float(sign * ia), float(sign * ib), float(log_q)


def _build_reference():
    rows = []
    with mp.workdps(20):
        for a in GRID.astype(DTYPE):
            for b in GRID.astype(DTYPE):
                for q in QUANTILES:
                    t = DTYPE(_logit_quantile(float(a), float(b), float(q)))
                    rows.append((a, b, t, *_mp_reference(a, b, t)))
    return np.array(rows, dtype=np.float64)


REF = _build_reference()
A_IN, B_IN, T_IN = (REF[:, i].astype(DTYPE) for i in range(3))
I_REF, UPPER, DA_REF, DB_REF, LOGQ_REF = REF[:, 3:].T
UPPER = UPPER > 0
Q_T = np.exp(LOGQ_REF)
# Condition number of the smaller tail w.r.t. relative perturbations of a, b and t.
COND = (np.abs(REF[:, 0] * DA_REF) + np.abs(REF[:, 1] * DB_REF) + np.abs(REF[:, 2]) * Q_T) / I_REF
# float64 with one parameter >= 100 and the other < 30: the deep continued fraction's rounding
# over up to 1200 steps reaches 176 eps (1 + cond) (4e-13 relative; the target is 1e-10).
_DEEP = (np.maximum(REF[:, 0], REF[:, 1]) >= 100) & (np.minimum(REF[:, 0], REF[:, 1]) < 30)
VALUE_K = np.where(_DEEP & X64, 500.0, TOL["value_k"])


def test_smaller_tail_vs_mpmath():
    lower = np.asarray(jax.jit(betainc_logit)(A_IN, B_IN, T_IN), np.float64)
    upper = np.asarray(jax.jit(betainc_logit)(B_IN, A_IN, -T_IN), np.float64)
    tail = np.where(UPPER, upper, lower)
    err = np.abs(tail / I_REF - 1.0)
    bound = VALUE_K * EPS * (1.0 + COND)
    assert np.all(err <= bound), (np.max(err / bound), REF[np.argmax(err / bound), :3])
    # The complement is consistent (absolute accuracy).
    np.testing.assert_allclose(lower + upper, 1.0, atol=20 * EPS)


def test_implicit_gradients_vs_mpmath():
    """dt/da = -h_a = -(∂I/∂a)/q_t and dt/db = -h_b, the implicit gradient of a logit draw."""
    h_a, h_b = jax.jit(betainc_logit_tangent)(A_IN, B_IN, T_IN)
    for h, ref in ((h_a, DA_REF / Q_T), (h_b, DB_REF / Q_T)):
        err = np.abs(np.asarray(h, np.float64) / ref - 1.0)
        assert np.all(err <= TOL["dtda"]), (np.max(err), REF[np.argmax(err), :3])


def test_log_density_vs_mpmath():
    lq = np.asarray(jax.jit(log_beta_logit_density)(A_IN, B_IN, T_IN), np.float64)
    x = sc.expit(REF[:, 2])
    # Rounding d = t - log(a/b) costs |∂ log q/∂t| eps (1 + |log(a/b)|).
    slope = np.abs(REF[:, 0] * (1 - x) - REF[:, 1] * x)
    scale = 1.0 + np.abs(LOGQ_REF) + slope * (1.0 + np.abs(np.log(REF[:, 0] / REF[:, 1])))
    assert np.all(np.abs(lq - LOGQ_REF) <= TOL["logq_k"] * EPS * scale)


@float32_only
def test_custom_jvp_matches_tangent_and_density():
    f = jax.jit(jax.vmap(jax.grad(betainc_logit, argnums=(0, 1, 2))))
    da, db, dt = (np.asarray(v, np.float64) for v in f(A_IN, B_IN, T_IN))
    ok = Q_T > 1e3 * np.finfo(DTYPE).tiny
    scale = 1.0 + np.abs(LOGQ_REF[ok])
    np.testing.assert_array_less(np.abs(dt[ok] / Q_T[ok] - 1), 200 * EPS * scale)
    for d, ref in ((da, DA_REF), (db, DB_REF)):
        err = np.abs(d[ok] / ref[ok] - 1)
        assert np.all(err <= TOL["dtda"] + 200 * EPS * scale)


def test_symmetry_and_scipy_agreement():
    a = jnp.asarray([0.5, 2.0, 3.0, 30.0, 0.1, 7.0], DTYPE)
    b = jnp.asarray([0.5, 3.0, 1.0, 40.0, 5.0, 0.2], DTYPE)
    x = jnp.asarray([0.1, 0.5, 0.9, 0.45, 0.01, 0.99], DTYPE)
    i = np.asarray(betainc(a, b, x), np.float64)
    j = np.asarray(betainc(b, a, 1 - x), np.float64)
    np.testing.assert_allclose(i + j, 1.0, atol=20 * EPS)
    ref = np.asarray(jax.scipy.special.betainc(a, b, x), np.float64)
    np.testing.assert_allclose(i, ref, rtol=1e-12 if X64 else 2e-5)
    t = jnp.log(x) - jnp.log1p(-x)
    np.testing.assert_allclose(np.asarray(betainc_logit(a, b, t)), i, rtol=1e-12 if X64 else 2e-5)


POINTS = [(3.0, 2.0, 0.2)] + (
    [(0.5, 0.7, -1.0), (20.0, 30.0, -0.3), (0.05, 4.0, -30.0)] if FULL else []
)


@pytest.mark.skipif(
    X64 and not FULL, reason="float64 order-2 autodiff through the loops compiles for minutes"
)
@pytest.mark.parametrize("point", POINTS)
def test_check_grads_logit(point):
    tol = 1e-5 if X64 else 3e-2
    # float64: a step of 1e-5, not 1e-4; at a = 0.05 the larger step's own second-order
    # truncation error is 3e-5 relative (measured).
    check_grads(jax.jit(betainc_logit), point, order=2 if X64 else 1, modes=["fwd", "rev"],
                atol=tol, rtol=tol, eps=1e-5 if X64 else None)  # fmt: skip


def _temme_ratio(p):
    """I / q_t below the mean by the float32 Temme branch (min(a, b) >= 30)."""
    from ml_networks_jax.special import beta as impl

    a, b, t = p
    sh = impl._shared(a, b, t, impl._CFG64)
    lam = -a * jnp.expm1(sh["lx"])
    return impl._asym_ratio(
        a, b, t, sh["r"] * sh["kl"], sh["lx"], sh["ly"], lam, impl._CFG32.n_asym
    )


def _bgrat_ratio(p):
    """I / q_t below the mean by the float32 a >> b branch (a >= 100, b < 30)."""
    from ml_networks_jax.special import beta as impl

    a, b, t = p
    return impl._bgrat_ratio(a, b, -jax.nn.softplus(-t), -jax.nn.softplus(t), impl._CFG32)


@pytest.mark.skipif(not X64, reason="finite differences of the float32 branches, run in float64")
@pytest.mark.parametrize(
    "ratio, points",
    [
        # Through the exponent's hand-written derivative rule.
        (_temme_ratio, [(200.0, 300.0, math.log(200 / 300) - 0.05), (100.0, 4000.0, -3.7)]),
        # z = -(a + (b-1)/2) log x on both sides of 1.5 (series and continued fraction of
        # Γ(b, z)), b from 0.05 to 25.
        (_bgrat_ratio, [(1e3, 0.05, 8.5), (1e3, 0.5, 6.0), (3e3, 3.0, 6.5), (300.0, 25.0, 2.2)]),
    ],
    ids=["temme", "bgrat"],
)
def test_float32_expansions_value_and_derivatives_to_second_order(ratio, points):
    """The float32 asymptotic branches, evaluated in float64: ``I / q_t`` against mpmath, and its
    first and second derivatives in (a, b, t) against central differences."""

    @jax.jit
    @jax.vmap
    def derivatives(q):  # one program: value, gradient and Hessian at p and at p ± steps
        return ratio(q), jax.grad(ratio)(q), jax.hessian(ratio)(q)

    for point in points:
        p = jnp.asarray(point)
        with mp.workdps(20):
            tail, upper, _, _, log_q = _mp_reference(*(float(v) for v in p))
        assert not upper
        want = tail / math.exp(log_q)
        steps = 1e-5 * jnp.abs(p)
        shifted = jnp.concatenate([p[None], p + jnp.diag(steps), p - jnp.diag(steps)])
        value, grad, hess = derivatives(shifted)
        assert abs(float(value[0]) / want - 1) < 1e-7
        for i in range(3):
            fd1 = (value[1 + i] - value[4 + i]) / (2 * steps[i])
            fd2 = (grad[1 + i] - grad[4 + i]) / (2 * steps[i])
            np.testing.assert_allclose(grad[0, i], fd1, rtol=1e-6)
            np.testing.assert_allclose(
                hess[0, i], fd2, rtol=1e-5, atol=1e-9 * float(jnp.abs(fd2).max())
            )


@pytest.mark.skipif(not FULL, reason="compile-heavy: MNJ_FULL=1")
def test_check_grads_x_and_density():
    tol = 1e-5 if X64 else 3e-2
    check_grads(jax.jit(betainc), (2.5, 1.5, 0.3), order=2 if X64 else 1, modes=["fwd", "rev"],
                atol=tol, rtol=tol)  # fmt: skip
    check_grads(log_beta_logit_density, (4.0, 0.5, 1.3), order=2, modes=["fwd", "rev"],
                atol=tol, rtol=tol)  # fmt: skip


@pytest.mark.skipif(not (X64 and FULL), reason="float64 finite differences, MNJ_FULL=1")
def test_second_derivatives_vs_finite_differences():
    pts = jnp.asarray([(0.5, 0.7, -1.0), (3.0, 2.0, 0.2), (20.0, 30.0, -0.3), (1.5, 9.0, 1.0)])
    f = lambda v: betainc_logit(v[0], v[1], v[2])  # noqa: E731
    grad = jax.jit(jax.vmap(jax.grad(f)))
    hess = np.asarray(jax.jit(jax.vmap(jax.hessian(f)))(pts))
    for i in range(3):
        e = np.zeros(pts.shape)
        e[:, i] = 1e-5
        fd = (np.asarray(grad(pts + e)) - np.asarray(grad(pts - e))) / 2e-5
        scale = np.abs(fd).max(axis=1, keepdims=True)
        assert np.all(np.abs(hess[:, :, i] - fd) <= 1e-5 * np.abs(fd) + 1e-7 * scale)


@float32_only
def test_large_batches_match_small_batches(monkeypatch):
    """Long arrays are cut into blocks (here of 4096, so that 4608 elements make two), and within
    a block of more than 1024 the deep continued fraction and the expansions run on gathered
    subsets, in several rounds (1/32 resp. 1/8 of the block each): same values as small batches
    (one block, one round), NaN in -> NaN out, shape kept.  A third of the batch is a moderate
    Beta, a third needs the deep fraction ((10, 0.01) with x up to 1 - 3e-4: over 1,000 elements,
    several rounds of 128), a third the float32 expansions ((50, 60) and (1000, 1))."""
    monkeypatch.setattr(beta_module, "_BLOCK", 4096)
    rng = np.random.default_rng(1)
    n = 4608  # > 1024, padded to 8192
    third = n // 3
    odd = np.arange(third) % 2 == 1
    a_exp, b_exp = np.where(odd, 50.0, 1000.0), np.where(odd, 60.0, 1.0)
    a = np.concatenate([np.exp(rng.uniform(np.log(0.1), np.log(10.0), third)),
                        np.full(third, 10.0), a_exp]).astype(DTYPE)  # fmt: skip
    b = np.concatenate([np.full(third, 2.0), np.full(third, 0.01), b_exp]).astype(DTYPE)
    t_exp = np.log(a_exp / b_exp) + rng.normal(0.0, 0.2, third)
    t = np.concatenate([rng.normal(0.0, 2.0, third), rng.uniform(2.0, 8.0, third), t_exp])
    t = t.astype(DTYPE)
    a[7], t[11] = np.nan, np.nan
    big = jax.jit(lambda *v: betainc_logit_tangent(*v))(*(v.reshape(1, n) for v in (a, b, t)))
    assert big[0].shape == (1, n)
    small = jax.jit(betainc_logit_tangent)
    # The two programs compile differently (fusion, contraction): the 600-step float32 fraction
    # rounds differently, by up to 2.3e-5 relative in h_a (measured at `make test`'s settings).
    # float64 (MNJ_FULL=1): 1.5e-12 there.
    deep = (a == 10.0) & (b == DTYPE(0.01))
    rtol = np.where(deep, 1e-11, 1e-12) if X64 else np.where(deep, 1e-4, 1e-5)
    for lo in range(0, n, 512):
        sl = slice(lo, min(lo + 512, n))
        ref = small(a[sl], b[sl], t[sl])
        for u, v in zip(big, ref, strict=True):
            u, v = np.asarray(u)[0, sl], np.asarray(v)
            ok = np.abs(u - v) <= np.broadcast_to(rtol, (n,))[sl] * np.abs(v)
            assert np.all(ok | np.isnan(v)), (lo, np.flatnonzero(~ok)[:5])
            assert np.array_equal(np.isnan(u), np.isnan(v))
    assert np.isnan(np.asarray(big[0])[0, [7, 11]]).all()
    assert np.isfinite(np.delete(np.asarray(big[1])[0], [7, 11])).all()


@float32_only
def test_edges_nan_and_dtypes():
    nan = float("nan")
    assert float(betainc(2.0, 3.0, 0.0)) == 0.0 and float(betainc(2.0, 3.0, 1.0)) == 1.0
    assert float(betainc_logit(2.0, 3.0, -jnp.inf)) == 0.0
    assert float(betainc_logit(2.0, 3.0, jnp.inf)) == 1.0
    # x rounds to 0 / 1 in the dtype, the logit form keeps the tail.
    v = float(betainc_logit(0.5, 0.5, -60.0))  # I = (2/π) asin(sqrt x), x = σ(-60)
    assert v > 0 and abs(v / (2 / math.pi * math.exp(-30.0)) - 1) < 1e-5
    for args in ((nan, 1.0, 0.0), (1.0, nan, 0.0), (1.0, 1.0, nan), (-1.0, 1.0, 0.0)):
        assert np.isnan(float(betainc_logit(*args)))
        assert np.isnan(float(log_beta_logit_density(*args)))
        assert all(np.isnan(float(h)) for h in betainc_logit_tangent(*args))
    for args in ((nan, 1.0, 0.5), (1.0, 1.0, nan), (1.0, 1.0, 1.5), (0.0, 1.0, 0.5)):
        assert np.isnan(float(betainc(*args)))
    if FULL:  # compile-heavy
        g = jax.grad(betainc_logit, argnums=(0, 1, 2))(nan, 1.0, 0.0)
        assert all(np.isnan(float(u)) for u in g)
        g = jax.grad(betainc, argnums=(0, 1, 2))(2.0, 3.0, 0.0)  # finite at the edge
        assert all(np.isfinite(float(u)) for u in g)
    assert betainc_logit(1, 1, 0).dtype == (jnp.float64 if X64 else jnp.float32)
    for dt in (jnp.bfloat16, jnp.float16, jnp.float32):
        out = betainc(jnp.asarray(2.0, dt), jnp.asarray(3.0, dt), jnp.asarray(0.5, dt))
        assert out.dtype == dt and abs(float(out) - 0.6875) < 1e-2
        h = betainc_logit_tangent(
            jnp.asarray([2.0], dt), jnp.asarray(3.0, dt), jnp.asarray(0.0, dt)
        )
        assert h[0].dtype == dt and h[0].shape == (1,)
    p = betainc(
        jnp.asarray([[0.5], [2.0]], DTYPE), jnp.asarray(3.0, DTYPE), jnp.asarray([0.2, 0.7], DTYPE)
    )
    assert p.shape == (2, 2)
