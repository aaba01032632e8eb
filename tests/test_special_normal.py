"""log_ndtr, log_ndtr_diff and ndtri_exp against mpmath (40+ digits), in both tails."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from cases import DTYPE, X64, full_only
from conftest import FULL
from jax.test_util import check_grads

from ml_networks_jax.special.normal import log_ndtr, log_ndtr_diff, ndtri_exp

mp.mp.dps = 60
TINY = 1e-300 if X64 else 1e-35  # below this (denormals) relative accuracy is not defined
RTOL = 1e-13 if X64 else 2e-6

X = [-1e4, -200, -100, -50, -40, -38, -20, -10, -5, -3, -1, -0.1, 0, 0.3, 1, 2.5, 5, 7, 9, 12]
if FULL:
    X = sorted(set(X) | set(np.round(np.linspace(-60, 15, 301), 3)))

PAIRS = [
    (-41, -40), (40, 41), (-51, -50), (50, 51), (-101, -100), (100, 101),
    (5, 6), (-6, -5), (10, 11), (-11, -10), (40, 40.01), (-40.01, -40), (100, 100.001),
    (10, 10.5), (0, 1e-3), (-1e-3, 1e-3), (-3, 3), (-1, 100), (-100, 1), (-5, 0.1),
    (1e-4, 3), (2, 30), (-30, -2), (-np.inf, -40), (40, np.inf), (-np.inf, np.inf),
    (2, np.inf), (-np.inf, -0.5), (-np.inf, 5), (-5, np.inf),
]  # fmt: skip
if FULL:
    rng = np.random.default_rng(0)
    lo = rng.uniform(-60, 60, 200)
    PAIRS += [(a, a + w) for a, w in zip(lo, 10.0 ** rng.uniform(-4, 1.5, 200), strict=True)]


def mp_log_ndtr(x):
    x = mp.mpf(x)
    return mp.log(mp.ncdf(x)) if x < 0 else mp.log1p(-mp.ncdf(-x))


def mp_log_ndtr_diff(a, b):
    a, b = mp.mpf(a), mp.mpf(b)
    z = mp.ncdf(-a) - mp.ncdf(-b) if a + b > 0 else mp.ncdf(b) - mp.ncdf(a)
    return mp.log(z), z


def _rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    keep = np.abs(want) > TINY
    return np.where(keep, np.abs(got - want) / np.where(keep, np.abs(want), 1.0), 0.0)


def test_log_ndtr_and_derivative_match_mpmath():
    x = jnp.asarray(X, DTYPE)
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(log_ndtr)))(x)
    xs = np.asarray(x, np.float64)
    want = [float(mp_log_ndtr(v)) for v in xs]
    want_grad = [float(mp.npdf(v) / mp.ncdf(v)) for v in xs]
    assert _rel(value, want).max() < RTOL, xs[np.argmax(_rel(value, want))]
    assert _rel(grad, want_grad).max() < RTOL, xs[np.argmax(_rel(grad, want_grad))]


def test_log_ndtr_beats_jax_in_the_upper_tail():
    """``jax.scipy.special.log_ndtr(5.)`` is off by 4% in float32; ours is exact to ulps."""
    x = jnp.asarray([5.0, 7.0], DTYPE)
    want = np.array([float(mp_log_ndtr(v)) for v in np.asarray(x, np.float64)])
    assert _rel(log_ndtr(x), want).max() < RTOL


def test_log_ndtr_diff_and_partials_match_mpmath():
    a = jnp.asarray([p[0] for p in PAIRS], DTYPE)
    b = jnp.asarray([p[1] for p in PAIRS], DTYPE)
    value, (da, db) = jax.jit(jax.vmap(jax.value_and_grad(log_ndtr_diff, (0, 1))))(a, b)
    want, want_da, want_db = [], [], []
    for lo, hi in zip(np.asarray(a, np.float64), np.asarray(b, np.float64), strict=True):
        log_z, z = mp_log_ndtr_diff(lo, hi)
        want.append(float(log_z))
        want_da.append(float(-mp.npdf(lo) / z) if np.isfinite(lo) else 0.0)
        want_db.append(float(mp.npdf(hi) / z) if np.isfinite(hi) else 0.0)
    # The partials are exp(y) with y = log φ(bound) - value: a float y of magnitude |y| is itself
    # rounded by up to ½ ulp(y) ≈ ε|y|/2 in absolute terms, which exp turns into that relative
    # error of the partial, whatever the care taken before (|y| = 48 at (-10.45, -3.23): ½ ulp is
    # 1.9e-6 relative in float32). So a partial's bound is ε (1 + |y|) beside the RTOL of a few
    # ulps: the conditioning of exp, not a looser claim about the rest.
    eps = float(jnp.finfo(DTYPE).eps)
    for got, ref, name in [(value, want, "value"), (da, want_da, "d/da"), (db, want_db, "d/db")]:
        err = _rel(got, ref)
        if name != "value":
            ref = np.asarray(ref, np.float64)
            log_ref = np.log(np.where(ref != 0, np.abs(ref), 1.0))
            err = err / np.maximum(1.0, eps * (1.0 + np.abs(log_ref)) / RTOL)
        assert err.max() < RTOL, (name, PAIRS[int(np.argmax(err))], err.max())


def test_ndtri_exp_inverts_log_ndtr():
    log_p = jnp.asarray(
        [-1e4, -3000, -804.6, -100, -20.5, -19.5, -5, -0.7, -0.69, -0.1, -1e-3, -1e-8, -1e-20],
        DTYPE,
    )
    x, dx = jax.jit(jax.vmap(jax.value_and_grad(ndtri_exp)))(log_p)
    for lp, xi, dxi in zip(
        np.asarray(log_p, np.float64),
        np.asarray(x, np.float64),
        np.asarray(dx, np.float64),
        strict=True,
    ):
        slope = mp.ncdf(xi) / mp.npdf(xi)  # dx/dlog_p
        error = (mp_log_ndtr(xi) - lp) * slope  # how far xi is from the exact inverse
        assert abs(float(error)) <= RTOL * max(1.0, abs(xi)), (lp, xi, float(error))
        assert abs(dxi / float(slope) - 1) <= RTOL, (lp, xi, dxi)


@full_only
def test_second_order_derivatives_fwd_and_rev():
    """check_grads (forward and reverse, order 2) on all three functions at once: one compilation
    per transformation, every point as one element of the vector arguments."""
    tol = dict(atol=1e-6, rtol=1e-6) if X64 else dict(atol=2e-2, rtol=2e-2)
    x = jnp.asarray([-30.0, -3.0, 0.5, 4.0], DTYPE)
    a = jnp.asarray([-3.0, 40.0, -10.5, -0.5], DTYPE)
    b = jnp.asarray([1.0, 41.0, -10.0, 0.5], DTYPE)
    log_p = jnp.asarray([-800.0, -2.0, -0.3, -20.0], DTYPE)

    @jax.jit
    def f(x, a, b, log_p):
        return log_ndtr(x), log_ndtr_diff(a, b), ndtri_exp(log_p)

    check_grads(f, (x, a, b, log_p), 2, ("fwd", "rev"), eps=1e-4 if X64 else 1e-2, **tol)


def test_limits_and_bad_input():
    inf, nan = np.inf, np.nan
    np.testing.assert_array_equal(log_ndtr(jnp.asarray([-inf, inf], DTYPE)), [-inf, 0.0])
    assert np.isnan(log_ndtr(jnp.asarray(nan, DTYPE)))
    got = log_ndtr_diff(jnp.asarray([1.0, 2.0, nan, -inf], DTYPE), jnp.asarray([1.0, 1.0, 0, inf]))
    np.testing.assert_array_equal(np.isnan(got), [False, True, True, False])
    assert got[0] == -inf and got[3] == 0.0
    x = ndtri_exp(jnp.asarray([0.0, -inf, 0.5, nan], DTYPE))
    assert x[0] == inf and x[1] == -inf and np.isnan(x[2]) and np.isnan(x[3])


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtype_is_preserved(dtype):
    x = jnp.asarray([-3.0, 1.0], dtype)
    assert log_ndtr(x).dtype == dtype
    assert log_ndtr_diff(x, x + 1).dtype == dtype
    assert ndtri_exp(-jnp.abs(x)).dtype == dtype
