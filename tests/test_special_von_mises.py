"""Tests of ml_networks_jax.special.von_mises against mpmath (30 digits).

Run in float32 (default) and float64 (``JAX_ENABLE_X64=1``). Errors are relative errors of the
smaller tail ``min(F, 1 - F)`` (for ``x > 0`` the error of the upper tail ``1 - F`` is measured
less one ulp of ``F``, since ``F`` itself is returned) and of ``h = (∂F/∂κ)/q``
(``dz/dκ = -h``), both at the exact binary values of ``x`` and ``κ``. The allowance
``COND_K · eps · a`` (``a = 2κ sin²(x/2)``, the exponent of the tail) covers the rounding of
``a`` itself, which the tail ``∝ e^-a`` amplifies: no algorithm evaluated in the working
precision avoids it.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
from conftest import FULL
from jax.test_util import check_grads

from ml_networks_jax.special.von_mises import (
    _CFG32,
    _CFG64,
    bessel_ratio,
    log_i0,
    log_i0e,
    one_minus_bessel_ratio,
    von_mises_cdf,
    von_mises_cdf_concentration_tangent,
    von_mises_log_prob,
)

X64 = bool(jax.config.jax_enable_x64)
DTYPE = np.float64 if X64 else np.float32
EPS = float(np.finfo(DTYPE).eps)
CFG = _CFG64 if X64 else _CFG32
#: Targets: relative error <= REL + COND_K · eps · a (see the module docstring).
TOL = {np.float64: dict(rel=1e-12, cond_k=4.0), np.float32: dict(rel=1e-5, cond_k=4.0)}[DTYPE]

KAPPAS = np.logspace(-3, 4, 22 if FULL else 8)
X_FRACTIONS = np.array([1 - 1e-6, 0.99, 0.9, 0.7, 0.5, 0.3, 0.1, 0.01, 1e-4])  # x = -π·f


# ---- mpmath references ---------------------------------------------------------------------


def _breakpoints(x, k):
    """Quadrature breakpoints on [-π, x], graded toward the peak of the integrand at x."""
    pts = [x]
    d = 1 / (k * (abs(mp.sin(x)) + 1 / mp.sqrt(k))) if k > 1 else mp.mpf(1)
    while x - d > -mp.pi:
        pts.append(x - d)
        d *= 3
    pts.append(-mp.pi)
    return pts[::-1]


@functools.cache
def reference(x: float, kappa: float) -> tuple[float, float, float]:
    """``(log T, h, a)`` at the lower-tail point ``x ∈ [-π, 0]``: ``T = F(x)``, ``h = (∂T/∂κ)/q``
    by quadrature of ``exp(κ(cos θ - cos x))`` and ``(cos θ - A) exp(κ(cos θ - cos x))``."""
    with mp.workdps(30):
        x, k = mp.mpf(x), mp.mpf(kappa)
        c = mp.cos(x)
        i0 = mp.besseli(0, k)
        ratio = mp.besseli(1, k) / i0
        pts = _breakpoints(x, k)
        j0 = mp.quad(lambda t: mp.exp(k * (mp.cos(t) - c)), pts)
        h = mp.quad(lambda t: (mp.cos(t) - ratio) * mp.exp(k * (mp.cos(t) - c)), pts)
        log_t = mp.log(j0) + k * (c - 1) - (mp.log(2 * mp.pi * i0) - k)
        return float(log_t), float(h), float(2 * k * mp.sin(x / 2) ** 2)


def _grid(kappas, fractions):
    k = np.repeat(np.asarray(kappas, DTYPE), len(fractions))
    x = (-np.pi * np.tile(np.asarray(fractions, np.float64), len(kappas))).astype(DTYPE)
    return x, k


def _switch_points():
    """Points just either side of every regime switch: inner/outer (a = a₀ and |x| = π/2), the
    truncation of the outer rule (W = L) and the Bessel-ratio switch κ = κ_A."""
    xs, ks = [], []
    for kappa in (1.5, 3.0, 10.0, 100.0, 1e4):
        for a in (CFG.a_inner * (1 - 1e-3), CFG.a_inner * (1 + 1e-3)):
            if a < 2 * kappa:
                xs.append(-2 * math.asin(math.sqrt(a / (2 * kappa))))
                ks.append(kappa)
        for w in (CFG.cut * (1 - 1e-3), CFG.cut * (1 + 1e-3)):
            if w < 2 * kappa:
                xs.append(-2 * math.acos(math.sqrt(w / (2 * kappa))))
                ks.append(kappa)
    for kappa in (0.1, 0.9):  # a < a₀ on both sides of |x| = π/2
        xs += [-math.pi / 2 * (1 - 1e-4), -math.pi / 2 * (1 + 1e-4)]
        ks += [kappa, kappa]
    for kappa in (CFG.k_asym * (1 - 1e-4), CFG.k_asym * (1 + 1e-4)):
        xs += [-0.1, -1.0, -3.0]
        ks += [kappa] * 3
    return np.asarray(xs, DTYPE), np.asarray(ks, DTYPE)


@jax.jit
def _evaluate_padded(x, kappa):
    def one(x, kappa):
        (dx, dk) = jax.grad(von_mises_cdf, argnums=(0, 1))(x, kappa)
        return von_mises_cdf(x, kappa), von_mises_cdf_concentration_tangent(x, kappa), dx, dk

    return (*jax.vmap(one)(x, kappa), von_mises_log_prob(x, kappa))


def evaluate(x, kappa):
    """``(F, h, ∂F/∂x, ∂F/∂κ, log q)`` elementwise, through ONE compiled program (inputs padded
    to a multiple of 256, so every test shares it)."""
    x, kappa = np.broadcast_arrays(np.asarray(x, DTYPE), np.asarray(kappa, DTYPE))
    n = x.size
    pad = -n % 256
    x = np.concatenate([x.ravel(), np.zeros(pad, DTYPE)])
    kappa = np.concatenate([kappa.ravel(), np.ones(pad, DTYPE)])
    out = _evaluate_padded(jnp.asarray(x), jnp.asarray(kappa))
    return tuple(np.asarray(v[:n], np.float64) for v in out)


def _errors(x, kappa):
    """Relative errors of the smaller tail and of h (both signs of x), and the allowance."""
    x = np.concatenate([x, -x])
    kappa = np.concatenate([kappa, kappa])
    cdf, h = evaluate(x, kappa)[:2]
    refs = np.array([reference(-abs(float(a)), float(b)) for a, b in zip(x, kappa, strict=True)])
    log_t, h_ref, a = refs.T
    h_ref = np.where(x > 0, -h_ref, h_ref)
    tail = np.where(x > 0, 1.0 - cdf, cdf)
    tiny = np.log(np.finfo(DTYPE).tiny) + 10
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_ref = np.exp(log_t)
        # The upper tail 1 - F of a returned F near 1 is only known to the spacing of F (eps).
        diff = np.abs(tail - t_ref)
        diff = np.where(x > 0, np.maximum(diff - EPS, 0.0), diff)  # less one ulp of F near 1
        err_t = np.where(log_t > tiny, diff / t_ref, 0.0)
    err_h = np.abs(h / h_ref - 1)
    allow = TOL["rel"] + TOL["cond_k"] * EPS * a
    return x, kappa, err_t, err_h, allow


def _check(x, kappa):
    x, kappa, err_t, err_h, allow = _errors(x, kappa)
    for name, err in (("tail", err_t), ("h", err_h)):
        ratio = err / allow
        worst = int(np.nanargmax(ratio))
        assert np.isfinite(err).all() and ratio[worst] <= 1, (
            name,
            x[worst],
            kappa[worst],
            err[worst],
        )


def test_cdf_and_concentration_tangent_match_mpmath_on_grid():
    """κ log-spaced in [1e-3, 1e4], x from -π(1 - 1e-6) to -π·1e-4 and the mirrored points."""
    _check(*_grid(KAPPAS, X_FRACTIONS if FULL else X_FRACTIONS[::2]))


def test_no_accuracy_jump_at_regime_switches():
    _check(*_switch_points())


def test_values_at_special_points():
    kappa = np.asarray([1e-3, 1.0, 1e4] * 5, DTYPE)
    x = np.repeat([-math.pi, 0.0, math.pi, 0.3 + 2 * math.pi, -2.0 + 2 * math.pi], 3)
    cdf, h = evaluate(x, kappa)[:2]
    np.testing.assert_allclose(cdf[:9], np.repeat([0.0, 0.5, 1.0], 3), atol=EPS)
    # Windings: F(x + 2π) = F(x) + 1.
    base = evaluate(np.repeat([0.3, -2.0], 3), kappa[:6])[0]
    np.testing.assert_allclose(cdf[9:], base + 1.0, atol=8 * EPS)
    np.testing.assert_allclose(h[3:6], 0.0, atol=0)


def test_bessel_functions_match_mpmath():
    kappa = np.concatenate(
        [np.logspace(-3, 4.5, 31), CFG.k_asym * np.array([1 - 1e-4, 1 + 1e-4])]
    ).astype(DTYPE)
    with mp.workdps(30):
        i0 = [mp.besseli(0, mp.mpf(float(k))) for k in kappa]
        i1 = [mp.besseli(1, mp.mpf(float(k))) for k in kappa]
        want = np.array(
            [
                [float(mp.log(a) - mp.mpf(float(k))), float(b / a), float(1 - b / a)]
                for a, b, k in zip(i0, i1, kappa, strict=True)
            ]
        )
    got = np.stack(
        [np.asarray(f(jnp.asarray(kappa)), np.float64) for f in (log_i0e, bessel_ratio)]
        + [np.asarray(one_minus_bessel_ratio(jnp.asarray(kappa)), np.float64)],
        axis=1,
    )
    err = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    err[:, 0] = np.abs(got[:, 0] - want[:, 0]) / np.maximum(1.0, np.abs(want[:, 0]))
    assert err.max() <= (4e-15 if X64 else 1e-6), (err.max(0), kappa[np.argmax(err, 0)])
    with mp.workdps(30):
        want_i0 = [float(mp.log(mp.besseli(0, mp.mpf(float(k))))) for k in kappa]
    np.testing.assert_allclose(log_i0(jnp.asarray(kappa)), want_i0, rtol=8 * EPS)


def test_log_prob_matches_closed_form_and_is_periodic():
    x = np.tile(np.linspace(-7.0, 7.0, 29), 3)
    kappa = np.repeat([1e-3, 2.0, 1e4], 29).astype(DTYPE)
    with mp.workdps(30):
        want = []
        for v, k in zip(x, kappa, strict=True):
            k = mp.mpf(float(k))
            log_norm = mp.log(2 * mp.pi * mp.besseli(0, k)) - k
            want.append(float(k * (mp.cos(float(DTYPE(v))) - 1) - log_norm))
    log_q = evaluate(x, kappa)[4]
    # |x| up to 7: the rounding of x costs |∂ log q/∂x| · ulp(x) <= κ · 4 eps.
    err = np.abs(log_q - want) - 4 * EPS * kappa
    assert (err <= (1e-13 if X64 else 2e-6) * np.abs(want)).all(), np.max(err / np.abs(want))


def test_derivatives_are_density_and_q_times_h():
    """``∂F/∂x = q`` and ``∂F/∂κ = q · h`` from the custom JVP, against the log density."""
    x = np.tile(np.linspace(-3.1, 3.1, 9), 4)
    kappa = np.repeat([0.01, 3.0, 300.0, 1e4], 9)
    _, h, dx, dk, log_q = evaluate(x, kappa)
    q = np.exp(log_q)
    tiny = 1e3 * float(np.finfo(DTYPE).tiny)  # subnormal results carry fewer digits
    # exp(log q) is formed in two ways: their rounding differs by |log q| ulps.
    rtol = 32 * EPS * np.maximum(1.0, np.abs(log_q))
    assert (np.abs(dx - q) <= rtol * q + tiny).all()
    assert (np.abs(dk - q * h) <= rtol * np.abs(q * h) + tiny).all()


def test_check_grads_and_second_derivatives():
    """check_grads (fwd and rev, first order) in both arguments, and the second derivatives
    (autodiff through the custom JVP rule and the quadrature) against central differences of the
    first ones. Float32 finite differences are coarse: loose tolerances there."""
    fn = jax.jit(von_mises_cdf)
    x0, k0 = DTYPE(-0.4), DTYPE(4.0)
    tol = 1e-6 if X64 else 5e-2
    check_grads(fn, (x0, k0), order=1, modes=["fwd", "rev"], atol=tol, rtol=tol,
                eps=1e-4 if X64 else 1e-2)  # fmt: skip
    hess = jax.jit(jax.hessian(von_mises_cdf, argnums=(0, 1)))
    grad = jax.jit(jax.grad(von_mises_cdf, argnums=(0, 1)))
    step = 1e-5 if X64 else 1e-2
    points = ((x0, k0), (DTYPE(2.5), DTYPE(0.3)), (DTYPE(-0.05), DTYPE(300.0)))
    for x, k in points if FULL else points[1:2]:
        got = np.asarray(hess(x, k), np.float64)
        dx = (np.asarray(grad(x + DTYPE(step), k)) - np.asarray(grad(x - DTYPE(step), k))) / (
            2 * step
        )
        hk = step * float(k)
        dk = (np.asarray(grad(x, k + DTYPE(hk))) - np.asarray(grad(x, k - DTYPE(hk)))) / (2 * hk)
        want = np.stack([dx, dk], axis=1)  # rows: d/dx, d/dκ of (∂F/∂x, ∂F/∂κ)
        np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol * np.abs(want).max())


def test_invalid_inputs_give_nan():
    kappa = [0.0, -1.0, np.nan, 1.0, 1.0, np.inf]
    x = [0.1, 0.1, 0.1, np.nan, np.inf, 0.1]
    for out in evaluate(x, kappa)[:4]:
        assert np.isnan(out).all(), out


def test_dtype_and_broadcasting():
    out = von_mises_cdf(jnp.zeros((3, 1), DTYPE), jnp.ones((4,), DTYPE))
    assert out.shape == (3, 4) and out.dtype == DTYPE
    assert von_mises_cdf(jnp.asarray(0.5, jnp.bfloat16), jnp.asarray(1.0, jnp.bfloat16)).dtype == (
        jnp.bfloat16
    )
    assert von_mises_cdf(1, 2).dtype == jnp.result_type(float)
