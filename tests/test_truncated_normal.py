"""TruncatedNormal: values, moments and implicit gradients in all four parameters against mpmath,
from the centre to 100σ out in either tail; samples, Monte Carlo pathwise checks, transformations
and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from cases import DTYPE, X64, float32_only, full_only, statistical
from conftest import FULL
from jax.test_util import check_grads
from scipy import stats

import ml_networks_jax as mnj
from ml_networks_jax.distributions.truncated_normal import (
    TruncatedNormal,
    kl_truncated_normal_uniform,
)
from ml_networks_jax.implicit import reparameterize

mp.mp.dps = 60
INF = np.inf
GRAD_RTOL = 1e-9 if X64 else 1e-5
VALUE_RTOL = 1e-12 if X64 else 2e-6
TINY = 1e-290 if X64 else 1e-30

# (loc, scale, low, high): centre, 5σ, 10σ, 40σ, 50σ, 100σ in both tails, narrow and wide,
# one-sided and two-sided, with non-unit loc and scale.
GRID = [
    (0.0, 1.0, -1.0, 1.0), (0.0, 1.0, -3.0, 3.0), (0.0, 1.0, 0.5, 2.0), (0.0, 1.0, -2.0, 5.0),
    (0.0, 1.0, 5.0, 6.0), (0.0, 1.0, -6.0, -5.0), (0.0, 1.0, 10.0, 11.0), (0.0, 1.0, -11.0, -10.0),
    (0.0, 1.0, 40.0, 41.0), (0.0, 1.0, -41.0, -40.0), (0.0, 1.0, 40.0, 40.01),
    (0.0, 1.0, -40.01, -40.0), (0.0, 1.0, 50.0, 52.0), (0.0, 1.0, -52.0, -50.0),
    (0.0, 1.0, 100.0, 101.0), (0.0, 1.0, -101.0, -100.0), (0.0, 1.0, 0.0, 1e-3),
    (0.0, 1.0, -5e-3, 5e-3), (0.0, 1.0, 2.0, 30.0), (0.0, 1.0, -0.1, INF), (0.0, 1.0, 40.0, INF),
    (0.0, 1.0, -INF, -40.0), (0.0, 1.0, -INF, 1.0), (1.0, 0.5, 21.0, 21.5),
    (-3.0, 2.0, 77.0, 80.0), (2.0, 0.1, -2.0, -1.9), (5.0, 3.0, -200.0, -190.0),
]  # fmt: skip
if FULL:
    rng = np.random.default_rng(1)
    for _ in range(60):
        lo = rng.uniform(-60, 60)
        GRID.append((rng.normal(), 10 ** rng.uniform(-1, 1), lo, lo + 10 ** rng.uniform(-3, 1.5)))
N_PER_CASE = 6 if FULL else 3


def _grid():
    """The grid rounded to the test dtype (the oracle sees exactly the values JAX sees)."""
    th = np.asarray(jnp.asarray(np.array(GRID, np.float64), DTYPE), np.float64)
    return th, TruncatedNormal(*(jnp.asarray(th[:, i], DTYPE) for i in range(4)))


def _std(z, loc, scale, low, high):
    return [(mp.mpf(v) - mp.mpf(loc)) / mp.mpf(scale) for v in (low, high, z)]


def mp_cdf(z, loc, scale, low, high):
    a, b, y = _std(z, loc, scale, low, high)
    if a + b > 0:  # the upper tail, where mp.ncdf rounds to 1
        return (mp.ncdf(-a) - mp.ncdf(-y)) / (mp.ncdf(-a) - mp.ncdf(-b))
    return (mp.ncdf(y) - mp.ncdf(a)) / (mp.ncdf(b) - mp.ncdf(a))


def mp_norm(loc, scale, low, high):
    a, b, _ = _std(0.0, loc, scale, low, high)
    return mp.ncdf(-a) - mp.ncdf(-b) if a + b > 0 else mp.ncdf(b) - mp.ncdf(a)


def mp_pdf(z, loc, scale, low, high):
    return mp.npdf((mp.mpf(z) - loc) / mp.mpf(scale)) / (scale * mp_norm(loc, scale, low, high))


def mp_moments(loc, scale, low, high):
    """Mean, variance and entropy from the closed forms, at 60 digits (the cancellation of the
    textbook formulas 100σ out costs ~10 of them)."""
    a, b, _ = _std(0.0, loc, scale, low, high)
    z = mp_norm(loc, scale, low, high)
    pa = mp.npdf(a) if mp.isfinite(a) else 0
    pb = mp.npdf(b) if mp.isfinite(b) else 0
    apa = a * pa if mp.isfinite(a) else 0
    bpb = b * pb if mp.isfinite(b) else 0
    m = (pa - pb) / z
    var = 1 + (apa - bpb) / z - m * m
    ent = mp.log(mp.sqrt(2 * mp.pi * mp.e) * scale * z) + (apa - bpb) / (2 * z)
    return float(loc + scale * m), float(scale**2 * var), float(ent)


def oracle(z, theta):
    """``-(∂F/∂θ)/q`` at ``z`` by central differences (step 1e-25) of the CDF, with enough digits
    that derivatives ~``φ(β)/φ(ζ)`` (down to e^{-450} here) are resolved next to ones of order 1."""
    loc, scale, low, high = (float(t) for t in theta)
    y = (float(z) - loc) / scale
    gaps = [((v - loc) / scale) ** 2 - y * y for v in (low, high) if np.isfinite(v)]
    with mp.workdps(60 + int(max(gaps + [0.0]) / 4.6)):
        return _oracle(z, theta)


def _oracle(z, theta):
    theta = [mp.mpf(float(t)) for t in theta]
    q = mp_pdf(z, *theta)
    out = []
    for i in range(4):
        if not mp.isfinite(theta[i]):
            out.append(0.0)
            continue
        h = mp.mpf(10) ** -25 * max(1, abs(theta[i]))
        up, down = list(theta), list(theta)
        up[i] += h
        down[i] -= h
        out.append(float(-(mp_cdf(z, *up) - mp_cdf(z, *down)) / (2 * h) / q))
    return np.array(out)


@jax.jit
def _draws_and_gradients(dist, key):
    z = dist.sample(key, (2000,))

    def one(theta, z):
        return reparameterize(TruncatedNormal(*theta), z)

    theta = (dist.loc, dist.scale, dist.low, dist.high)
    grads = jax.vmap(jax.vmap(jax.grad(one)), (None, 0))(theta, z)
    return z, jnp.stack(grads, -1)


def test_implicit_gradients_of_all_four_parameters_match_mpmath(key):
    """2000 draws per case: all strictly inside ``(low, high)`` with finite gradients; the first
    few gradients against the mpmath oracle. ``dz/dσ`` is a signed sum
    ``ζ dz/dloc + (ζ - α) dz/dlow - (β - ζ) dz/dhigh`` that crosses zero (at ``ζ = 0`` for a
    symmetric interval); its error is measured relative to ``|dz/dσ| + 10⁻² ×`` (the size of those
    terms)."""
    th, dist = _grid()
    z, grads = _draws_and_gradients(dist, key)
    z, grads = np.asarray(z, np.float64), np.asarray(grads, np.float64)
    assert np.all((z > th[:, 2]) & (z < th[:, 3]))
    assert np.isfinite(grads).all()
    worst = np.zeros(4)
    for j, theta in enumerate(th):
        loc, scale, low, high = theta
        for i in range(N_PER_CASE):
            want = oracle(z[i, j], theta)
            y = (z[i, j] - loc) / scale
            terms = abs(y * want[0])
            if np.isfinite(low):
                terms += abs((z[i, j] - low) / scale * want[2])
            if np.isfinite(high):
                terms += abs((high - z[i, j]) / scale * want[3])
            # dz/dσ is that signed sum evaluated in the working precision: each term carries its
            # part's relative error (a few ε: exps of accurately formed exponents) and the
            # products and sums round once each, so its absolute error is up to ~8ε·terms
            # whatever the accuracy of the parts; relative to |dz/dσ| it is measured above that.
            cancel = max(1e-2, 8 * float(jnp.finfo(DTYPE).eps) / GRAD_RTOL)
            floor = np.array([TINY, cancel * terms, TINY, TINY])
            err = np.abs(grads[i, j] - want) / np.maximum(np.abs(want), floor)
            err = np.where(np.abs(want) > TINY, err, np.abs(grads[i, j] - want) / TINY)
            assert err.max() <= GRAD_RTOL, (GRID[j], z[i, j], grads[i, j], want, err)
            worst = np.maximum(worst, err)
    print("max relative error (loc, scale, low, high):", worst)


def test_values_and_moments_match_mpmath(key):
    th, dist = _grid()

    @jax.jit
    def values(dist, key):
        z = dist.sample(key, (2,))
        return (
            z,
            dist.log_prob(z),
            dist.cdf(z),
            dist.log_cdf(z),
            dist.log_survival(z),
            dist.mean(),
            dist.variance(),
            dist.entropy(),
            dist.mode(),
        )

    out = [np.asarray(v, np.float64) for v in values(dist, key)]
    z, log_p, cdf, log_cdf, log_sf, mean, var, ent, mode = out
    for j, theta in enumerate(th):
        want_mean, want_var, want_ent = mp_moments(*theta)
        np.testing.assert_allclose(mean[j], want_mean, rtol=VALUE_RTOL, err_msg=str(GRID[j]))
        np.testing.assert_allclose(var[j], want_var, rtol=50 * VALUE_RTOL, err_msg=str(GRID[j]))
        np.testing.assert_allclose(
            ent[j], want_ent, rtol=50 * VALUE_RTOL, atol=50 * VALUE_RTOL, err_msg=str(GRID[j])
        )
        assert mode[j] == np.clip(theta[0], theta[2], theta[3])
        for i in range(2):
            f = mp_cdf(z[i, j], *theta)
            want = [mp.log(mp_pdf(z[i, j], *theta)), f, mp.log(f), mp.log1p(-f)]
            got = [log_p[i, j], cdf[i, j], log_cdf[i, j], log_sf[i, j]]
            for g, w, name in zip(got, want, ["log_prob", "cdf", "log_cdf", "log_sf"], strict=True):
                w = float(w)
                tol = 20 * VALUE_RTOL * max(1.0, abs(float(mp.log(mp_norm(*theta)))) / 100)
                # A log density is -log σ plus O(1) terms, -(ζ - r)(ζ + r)/2 - log M (docstring
                # of TruncatedNormal.log_prob), each rounded to an ulp or two of itself: where they
                # cancel to a small value, its absolute error is ~ε(1 + |log σ|), not ε|value|.
                eps = float(jnp.finfo(DTYPE).eps)
                floor = 4 * eps * (1 + abs(np.log(theta[1]))) if name == "log_prob" else 0.0
                assert abs(g - w) <= tol * max(abs(w), 1e-3 if "log" in name else 0) + floor, (
                    name, GRID[j], z[i, j], g, w,
                )  # fmt: skip


def test_outside_the_support():
    d = TruncatedNormal(*(jnp.asarray(v, DTYPE) for v in (0.0, 1.0, 40.0, 41.0)))
    x = jnp.asarray([39.0, 42.0, -INF, INF], DTYPE)
    log_p, cdf, log_cdf, log_sf = jax.jit(
        lambda d, x: (d.log_prob(x), d.cdf(x), d.log_cdf(x), d.log_survival(x))
    )(d, x)
    np.testing.assert_array_equal(log_p, [-INF] * 4)
    np.testing.assert_array_equal(cdf, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(log_cdf)[[0, 2]], [-INF, -INF])
    np.testing.assert_array_equal(np.asarray(log_sf)[[1, 3]], [-INF, -INF])


def _ks_reference(theta):
    """scipy's truncnorm CDF (log-space since scipy 1.9: agrees with the mpmath CDF to 1e-12 at
    40σ and 100σ, checked when this test was written)."""
    loc, scale, low, high = theta
    return stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale).cdf


@statistical
def test_samples_pass_ks(key):
    th, dist = _grid()
    n = 4000 if FULL else 1000
    z = np.asarray(jax.jit(lambda d: d.sample(key, (n,)))(dist), np.float64)
    for j, theta in enumerate(th):
        result = stats.kstest(z[:, j], _ks_reference(theta))
        assert result.pvalue > 1e-3, (GRID[j], result)


@statistical
def test_pathwise_gradient_of_the_mean(key):
    """The sample mean's gradient in each parameter against the gradient of the closed-form mean,
    within 5 Monte Carlo standard errors (fixed key): a central, a 40σ and a one-sided case, all
    in one program."""
    n = 20_000
    theta = np.array([(0.5, 1.5, -1.0, 2.0), (0.0, 1.0, 40.0, 41.0), (1.0, 2.0, 1.0, INF)]).T
    params = [jnp.asarray(v, DTYPE) for v in theta]

    @jax.jit
    def per_sample_and_exact(params):
        def draw(p):
            return mnj.rsample(key, TruncatedNormal(*p), (n,))

        def mean(p):
            return TruncatedNormal(*p).mean()

        per_sample, exact = [], []
        for i in range(4):
            tangent = [jnp.zeros_like(p) for p in params]
            tangent[i] = jnp.ones_like(params[i])
            per_sample.append(jax.jvp(draw, (params,), (tangent,))[1])
            exact.append(jax.jvp(mean, (params,), (tangent,))[1])
        return jnp.stack(per_sample), jnp.stack(exact)

    per_sample, exact = (np.asarray(v, np.float64) for v in per_sample_and_exact(params))
    assert np.isfinite(per_sample).all() and np.isfinite(exact).all()
    se = per_sample.std(1) / np.sqrt(n)
    scale = np.abs(exact).max(0)
    err = np.abs(per_sample.mean(1) - exact)
    assert np.all(err <= 5 * se + 1e-5 * scale), (err, se, exact)


@float32_only
def test_transformations(key):
    theta = [jnp.asarray(v, DTYPE) for v in (0.3, 1.2, 40.0, 41.0)]

    def f(p):
        return mnj.rsample(key, TruncatedNormal(*p), (3,))

    fwd, rev = jax.jit(lambda p: (jax.jacfwd(f)(p), jax.jacrev(f)(p)))(theta)
    for a, b in zip(fwd, rev, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # vmap over the distribution pytree equals the per-element loop.
    values = ([0.0, 1.0], [1.0, 2.0], [-1.0, 40.0], [42.0, 42.0])
    dist = TruncatedNormal(*(jnp.asarray(v, DTYPE) for v in values))
    keys = jax.random.split(key, 2)
    draw = jax.jit(lambda d, k: d.sample(k, (4,)))
    mapped = jax.jit(jax.vmap(draw))(dist, keys)
    for j in range(2):
        single = jax.tree.map(lambda leaf, j=j: leaf[j], dist)
        np.testing.assert_allclose(mapped[j], draw(single, keys[j]), rtol=1e-6)


@full_only
def test_second_order_matches_finite_difference_of_gradient():
    """``d²z/dθ²`` (jax.hessian through the implicit sample) against central differences of
    ``dz/dθ`` along the quantile path ``z(θ) = F⁻¹(u; θ)``."""
    theta = np.array([0.3, 1.2, -1.0, 2.5])
    u = jnp.asarray(0.3, DTYPE)

    def z_of(p):
        return TruncatedNormal(*p).icdf(u)

    @jax.jit
    def grad_on_path(p):
        z = jax.lax.stop_gradient(z_of(p))
        return jax.grad(lambda p: reparameterize(TruncatedNormal(*p), z))(p)

    @jax.jit
    def hessian(p):
        z = jax.lax.stop_gradient(z_of(p))
        return jax.hessian(lambda p: reparameterize(TruncatedNormal(*p), z))(p)

    implicit = hessian(jnp.asarray(theta, DTYPE))
    h = 1e-5 if X64 else 1e-2
    tol = dict(rtol=1e-5, atol=1e-7) if X64 else dict(rtol=3e-2, atol=1e-3)
    for i in range(4):
        step = np.zeros(4)
        step[i] = h
        fd = (grad_on_path(jnp.asarray(theta + step, DTYPE)) - grad_on_path(
            jnp.asarray(theta - step, DTYPE))) / (2 * h)  # fmt: skip
        np.testing.assert_allclose(implicit[i], fd, **tol, err_msg=str(i))


@pytest.mark.skipif(not FULL, reason="compile-heavy; second order is covered by the hessian test")
def test_cdf_and_log_prob_check_grads():
    """check_grads (forward and reverse, order 2) of the CDF and log density in all four
    parameters, a central and a 40σ case as the two elements of each argument."""
    tol = dict(atol=1e-6, rtol=1e-6) if X64 else dict(atol=2e-2, rtol=2e-2)
    theta = [jnp.asarray(v, DTYPE) for v in ([0.3, 0.0], [1.2, 1.0], [-1.0, 5.0], [2.5, 6.0])]
    x = jnp.asarray([0.7, 5.1], DTYPE)

    @jax.jit
    def f(*p):
        d = TruncatedNormal(*p)
        return d.cdf(x), d.log_prob(x)

    check_grads(f, theta, 2, ("fwd", "rev"), eps=1e-4 if X64 else 1e-3, **tol)


def test_icdf_inverts_cdf():
    """``F(F⁻¹(u)) = u`` up to the rounding of ``z`` itself (``q(z) ulp(z)``)."""
    th, dist = _grid()
    # Intervals of width ~1e-3σ at the mean: inversion through log Φ resolves F to ~eps/Z there
    # (a known limitation of the sampler, see the module doc); the draws' gradients are exact.
    keep = np.array([g[3] - g[2] > 0.02 or abs(g[2]) > 1 for g in GRID])
    th = th[keep]
    dist = jax.tree.map(lambda leaf: leaf[keep], dist)
    u = jnp.asarray([[1e-3], [0.3], [0.5], [0.999]], DTYPE)
    z, back, dens = jax.jit(lambda d, u: (d.icdf(u), d.cdf(d.icdf(u)), d.prob(d.icdf(u))))(dist, u)
    z = np.asarray(z, np.float64)
    assert np.all((z >= th[:, 2]) & (z <= th[:, 3]))
    eps = np.finfo(np.float64 if X64 else np.float32).eps
    u = np.broadcast_to(np.asarray(u, np.float64), z.shape)
    rounding = 8 * eps * np.abs(z) * np.asarray(dens, np.float64)
    # Inversion through log Φ resolves F to eps |log Φ| relative to Φ(α) (narrow intervals at the
    # mean in float32 are the worst case: see the report in the module doc).
    resolution = 1e-12 if X64 else 2e-3
    err = np.abs(np.asarray(back, np.float64) - u)
    np.testing.assert_array_less(err, 100 * eps * u + rounding + resolution * np.minimum(u, 1 - u))


@float32_only
def test_nan_parameters_give_nan_not_a_hang(key):
    theta = np.tile([0.0, 1.0, -1.0, 2.0], (4, 1))
    np.fill_diagonal(theta, np.nan)  # element i has a NaN in parameter i
    d = TruncatedNormal(*(jnp.asarray(theta[:, i], DTYPE) for i in range(4)))
    out = jax.jit(lambda d: (mnj.rsample(key, d, (3,)), d.mean(), d.log_prob(0.5)))(d)
    for v in out:
        assert np.isnan(np.asarray(v)).all()


@float32_only
def test_empty_interval_gives_nan(key):
    d = TruncatedNormal(*(jnp.asarray(v, DTYPE) for v in (0.0, 1.0, [2.0, 1.0], 1.0)))
    out = jax.jit(lambda d: (d.sample(key), d.mean(), d.variance(), d.entropy(), d.log_prob(1.0)))(
        d
    )
    for v in out:
        assert np.isnan(np.asarray(v)).all()


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtype_is_preserved(dtype, key):
    d = TruncatedNormal(*(jnp.asarray(v, dtype) for v in (0.0, 1.0, 40.0, 41.0)))

    def outputs(d):
        z = mnj.rsample(key, d, (2,))
        g = jax.grad(lambda d: mnj.rsample_implicit(key, d).sum())(d)
        return z, d.log_prob(z), d.mean(), d.entropy(), g

    z, log_p, mean, ent, g = jax.eval_shape(outputs, d)
    assert z.dtype == log_p.dtype == mean.dtype == ent.dtype == dtype
    assert type(g) is TruncatedNormal and all(leaf.dtype == dtype for leaf in jax.tree.leaves(g))


def test_kl_to_uniform():
    p = TruncatedNormal(*(jnp.asarray(v, DTYPE) for v in (0.3, 1.2, -1.0, 2.5)))
    q = mnj.Uniform(jnp.asarray(-2.0, DTYPE), jnp.asarray(3.0, DTYPE))
    x = np.linspace(-1.0, 2.5, 20001)
    dens = np.exp(np.asarray(p.log_prob(jnp.asarray(x, DTYPE)), np.float64))
    want = np.trapezoid(dens * (np.log(dens) + np.log(5.0)), x)
    np.testing.assert_allclose(kl_truncated_normal_uniform(p, q), want, rtol=1e-4)
    q_small = mnj.Uniform(jnp.asarray(0.0, DTYPE), jnp.asarray(3.0, DTYPE))
    assert kl_truncated_normal_uniform(p, q_small) == np.inf


def test_static_misuse_raises():
    with pytest.raises(ValueError, match="do not broadcast"):
        TruncatedNormal(jnp.ones(3), 1.0, jnp.zeros(4), 2.0)
    with pytest.raises(TypeError, match="floating dtype"):
        TruncatedNormal(jnp.ones(3, jnp.int32), 1.0, 0.0, 2.0)
