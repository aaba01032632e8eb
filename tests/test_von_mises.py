"""VonMises-specific checks: the sampler, the implicit gradient in κ, loc, KL, transformations."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, X64, float32_only, full_only, statistical
from conftest import FULL
from scipy import integrate, special, stats

from ml_networks_jax.distributions import von_mises
from ml_networks_jax.distributions.von_mises import (
    VonMises,
    kl_von_mises,
    von_mises_standard,
    wrap_angle,
)
from ml_networks_jax.implicit import reparameterize

EPS = float(jnp.finfo(DTYPE).eps)


def a_ratio(k):
    return special.i1e(k) / special.i0e(k)


def a_prime(k):
    """A'(κ) = 1 - A/κ - A²."""
    a = a_ratio(k)
    return 1.0 - a / k - a * a


KS_KAPPAS = (1e-3, 0.3, 1.0, 2.0, 10.0, 300.0, 1e4)
MC_KAPPAS = (0.05, 0.5, 2.0, 20.0, 500.0)
KL_P = ((0.0, 1.0, -2.0, 0.0), (0.5, 4.0, 100.0, 1e4))
KL_Q = ((1.0, 0.5, -2.1, 0.0), (2.0, 1.0, 80.0, 1e4))
N_KS, N_BIG, N_MC = 4000, 100_000, 20_000


@functools.cache
def statistical_run():
    """Every statistical experiment from ONE call of the sampler (compiled once): KS draws, the
    Monte Carlo gradient (the engine attached to the draws) and the KL samples."""
    n_ks = len(KS_KAPPAS) * N_KS
    n_mc = len(MC_KAPPAS) * N_MC

    @jax.jit
    def run(key):
        ks = jnp.concatenate(
            [
                jnp.repeat(jnp.asarray(KS_KAPPAS, DTYPE), N_KS),
                jnp.full((N_BIG,), 1e4, DTYPE),
                jnp.tile(jnp.asarray(MC_KAPPAS, DTYPE), N_MC),
                jnp.tile(jnp.asarray(KL_P[1], DTYPE), N_MC),
            ]
        )
        theta = von_mises_standard(key, ks)
        kappa = jnp.asarray(MC_KAPPAS, DTYPE)
        z_mc = theta[n_ks + N_BIG : n_ks + N_BIG + n_mc].reshape(N_MC, len(MC_KAPPAS))
        z, dz = jax.jvp(
            lambda k: reparameterize(VonMises(jnp.zeros_like(k), k), z_mc),
            (kappa,),
            (jnp.ones_like(kappa),),
        )
        p = VonMises(*(jnp.asarray(v, DTYPE) for v in KL_P))
        q = VonMises(*(jnp.asarray(v, DTYPE) for v in KL_Q))
        zp = wrap_angle(p.loc + theta[n_ks + N_BIG + n_mc :].reshape(N_MC, 4))
        return theta[: n_ks + N_BIG], z, dz, p.log_prob(zp) - q.log_prob(zp), kl_von_mises(p, q)

    return tuple(np.asarray(v, np.float64) for v in run(jax.random.key(1)))


@statistical
def test_sampler_passes_ks_for_all_concentrations():
    """κ from 1e-3 to 1e4; 1e5 draws at κ = 1e4 (the highest rejection rate, ~34%) go through
    both retry stages; every draw is accepted, finite and in [-π, π)."""
    theta = statistical_run()[0]
    assert np.isfinite(theta).all() and (theta >= -np.pi).all() and (theta < np.pi).all()
    small = theta[: len(KS_KAPPAS) * N_KS].reshape(len(KS_KAPPAS), N_KS)
    for k, t in zip(KS_KAPPAS, small, strict=True):
        assert stats.kstest(t, stats.vonmises(k).cdf).pvalue > 1e-3, k
    big = theta[len(KS_KAPPAS) * N_KS :]
    assert stats.kstest(big, stats.vonmises(1e4).cdf).pvalue > 1e-3


@float32_only
def test_first_retry_buffer_holds_every_rejection():
    """The first pass rejects a candidate with probability ``1 - E_V[exp(log1p(κd) - κd)]`` (by
    quadrature over the proposal's uniform V, float64), which rises with κ to its bound
    ``1 - √(e/2π)``; the first retry buffer, whose overflow would leave an element NaN, holds
    Binomial(n, that bound) with probability above 1 - 1e-20 for every block size n."""
    kappa = np.logspace(-3, 6, 37)[:, None]
    tau = 1.0 + np.sqrt(1.0 + 4.0 * kappa**2)
    rho = (tau - np.sqrt(2.0 * tau)) / (2.0 * kappa)
    gamma = (1.0 - rho) / (1.0 + rho)
    m = 1.0 - 2.0 * kappa * gamma**2 / (1.0 - gamma**2)
    t = gamma * np.tan(np.pi * ((np.arange(20_000) + 0.5) / 20_000 - 0.5))  # converged
    kd = kappa * 2.0 * t**2 / (1.0 + t**2) - m
    reject = 1.0 - np.exp(np.log1p(kd) - kd).mean(1)
    assert (np.diff(reject) > -1e-9).all() and reject[-1] > von_mises._REJECT - 1e-3
    assert reject.max() <= von_mises._REJECT
    n = np.arange(1, 65_537)
    buffer = np.array([von_mises._first_buffer(int(k)) for k in n])
    assert stats.binom.sf(buffer, n, von_mises._REJECT).max() < 1e-20


@statistical
def test_long_batches_are_drawn_in_independent_blocks():
    """150,000 draws are made in three blocks of 50,176, each from its own key."""
    theta = np.asarray(von_mises_standard(jax.random.key(3), jnp.full((150_000,), 2.0, DTYPE)))
    assert stats.kstest(theta, stats.vonmises(2.0).cdf).pvalue > 1e-3
    r = np.corrcoef(theta[:50_000], theta[50_176:100_176])[0, 1]
    assert abs(r) < 0.02, r  # 4.5 standard errors


@statistical
def test_pathwise_gradient_of_mean_cos_is_unbiased():
    """d/dκ E[cos z] = A'(κ) = 1 - A/κ - A², within 5 Monte Carlo standard errors."""
    _, z, dz, _, _ = statistical_run()
    g = -np.sin(z) * dz  # d cos z / dκ per draw
    se = g.std(0) / np.sqrt(len(g))
    kappa = np.asarray(MC_KAPPAS)
    np.testing.assert_array_less(np.abs(g.mean(0) - a_prime(kappa)), 5 * se + 1e-12)


def test_kl_matches_closed_form():
    mp_, kp = (np.asarray(v) for v in KL_P)
    mq, kq = (np.asarray(v) for v in KL_Q)
    p = VonMises(jnp.asarray(mp_, DTYPE), jnp.asarray(kp, DTYPE))
    q = VonMises(jnp.asarray(mq, DTYPE), jnp.asarray(kq, DTYPE))
    kl = np.asarray(kl_von_mises(p, q), np.float64)
    log_i0 = lambda k: np.log(special.i0e(k)) + k  # noqa: E731
    want = log_i0(kq) - log_i0(kp) + a_ratio(kp) * (kp - kq * np.cos(mp_ - mq))
    np.testing.assert_allclose(kl[:3], want[:3], rtol=1e3 * EPS)
    assert kl[3] == 0.0  # identical laws at κ = 1e4: no cancellation error


@statistical
def test_kl_matches_monte_carlo():
    _, _, _, log_ratio, kl = statistical_run()
    se = log_ratio.std(0) / np.sqrt(len(log_ratio))
    np.testing.assert_array_less(np.abs(log_ratio.mean(0) - kl), 5 * se + 1e-6)


@functools.cache
def transformations_run():
    """Gradients in loc and κ at the extremes and for NaN parameters (one compiled program, which
    holds the sampler once: compiling it is the cost of these tests), and a Hessian."""
    key = jax.random.key(0)
    locs = jnp.asarray([0.5] * 6 + [0.0, jnp.nan, 0.0], DTYPE)
    kappas = jnp.asarray([1e-3, 1e-2, 1.0, 1e2, 1e3, 1e4, jnp.nan, 1.0, -1.0], DTYPE)

    @jax.jit
    def first_order(locs, kappas):
        def draw(locs, kappas):
            return VonMises(locs, kappas).rsample(key, (64,))

        # Each draw depends on its own parameters only: a JVP with ones gives dz/dθ.
        z, tangent = jax.linearize(draw, locs, kappas)
        ones, zeros = jnp.ones_like(locs), jnp.zeros_like(locs)
        return z, tangent(ones, zeros), tangent(zeros, ones)

    @jax.jit
    def second_order(kappa, z):
        # The engine on fixed draws (the sampler is compiled in first_order already).
        def total(k):
            return jnp.cos(reparameterize(VonMises(jnp.asarray(0.3, DTYPE), k), z)).mean(0).sum()

        return jax.value_and_grad(total)(kappa), jax.hessian(total)(kappa)

    first = first_order(locs, kappas)
    z = jnp.asarray(np.asarray(first[0])[:16, 2:5])  # draws at κ = 1, 100, 1000 (loc 0.5)
    z = wrap_angle(z - 0.2)  # as draws of VonMises(0.3, κ)
    return first, second_order(jnp.asarray([1.0, 100.0, 1000.0], DTYPE), z)


def test_gradients_finite_from_1e_3_to_1e4_and_loc_is_pathwise():
    (z, dloc, dkappa), _ = transformations_run()
    assert z.dtype == DTYPE and z.shape == (64, 9)
    ok = np.s_[:, :6]
    assert np.isfinite(np.asarray(z[ok])).all() and np.isfinite(np.asarray(dkappa[ok])).all()
    np.testing.assert_allclose(dloc[ok], 1.0, rtol=1e-6)  # dz/dloc = 1: explicit = implicit


def test_nan_parameters_give_nan_not_a_hang():
    (z, dloc, dkappa), _ = transformations_run()
    bad = np.s_[:, 6:]
    assert np.isnan(np.asarray(z[bad])).all() and np.isnan(np.asarray(dkappa[bad])).all()


@full_only
def test_grad_and_hessian_through_the_sampler():
    _, ((value, grad), hess) = transformations_run()
    assert np.isfinite(float(value)) and np.isfinite(np.asarray(grad)).all()
    assert np.isfinite(np.asarray(hess)).all()
    np.testing.assert_allclose(hess, np.diag(np.diag(hess)), atol=0)  # independent components


def test_dtype_is_preserved(key):
    d = VonMises(jnp.asarray(0.0, jnp.bfloat16), jnp.asarray(2.0, jnp.bfloat16))
    assert d.log_prob(jnp.asarray(0.1, jnp.bfloat16)).dtype == jnp.bfloat16
    assert d.cdf(jnp.asarray(0.1, jnp.bfloat16)).dtype == jnp.bfloat16
    d = VonMises(jnp.asarray(0.0, DTYPE), jnp.asarray(2.0, DTYPE))
    assert d.entropy().dtype == DTYPE and d.variance().dtype == DTYPE


@jax.jit
def _dz_dkappa(k, z):
    return jax.vmap(jax.grad(lambda k, z: reparameterize(VonMises(jnp.zeros_like(k), k), z)))(k, z)


def test_implicit_gradient_matches_finite_difference_oracle():
    """dz/dκ at quantiles of VonMises(κ) against -(central difference of scipy's CDF in κ)/q."""
    _check_oracle(
        np.repeat([1e-3, 0.1, 1.0, 5.0, 30.0], 5), np.tile([0.01, 0.2, 0.5, 0.8, 0.99], 5)
    )


def _check_oracle(kappa, p):
    """dz/dκ at the p-quantiles of VonMises(κ) against -(∂F/∂κ by central differences)/q."""
    z = stats.vonmises.ppf(p, kappa)
    h = 1e-5 * kappa
    want = -(stats.vonmises.cdf(z, kappa + h) - stats.vonmises.cdf(z, kappa - h)) / (2 * h)
    want = want / stats.vonmises.pdf(z, kappa)
    got = np.asarray(_dz_dkappa(jnp.asarray(kappa, DTYPE), jnp.asarray(z, DTYPE)), np.float64)
    np.testing.assert_allclose(got, want, rtol=(1e-6 if X64 else 2e-4), atol=1e-8 if X64 else 1e-5)


def test_cdf_log_prob_and_moments_match_scipy():
    loc = np.asarray([-2.0, 0.0, 1.0, 3.0])
    kappa = np.asarray([0.01, 1.0, 10.0, 1e3])
    d = VonMises(jnp.asarray(loc, DTYPE), jnp.asarray(kappa, DTYPE))
    x = np.asarray([-3.0, 0.5, 3.1, -2.5])  # loc 3: x - loc < -π, SciPy's winding convention
    ref = stats.vonmises(kappa, loc=loc)
    np.testing.assert_allclose(
        d.cdf(jnp.asarray(x, DTYPE)), ref.cdf(x), rtol=1e3 * EPS, atol=8 * EPS
    )
    np.testing.assert_allclose(
        d.log_prob(jnp.asarray(x, DTYPE)), ref.logpdf(x), rtol=1e2 * EPS, atol=1e2 * EPS
    )
    np.testing.assert_allclose(d.entropy(), ref.entropy(), rtol=1e3 * EPS)
    # SciPy's 1 - I1e/I0e cancels (~2κ ulps): 1 - A is checked against mpmath in the special tests.
    np.testing.assert_allclose(d.variance(), 1 - a_ratio(kappa), rtol=1e4 * EPS)
    np.testing.assert_allclose(d.mean(), loc, rtol=0)
    np.testing.assert_allclose(d.mode(), loc, rtol=0)
    # Density integrates to the CDF difference (κ = 10, loc = 1).
    mass = integrate.quad(lambda t: stats.vonmises(10.0, loc=1.0).pdf(t), -1.0, 2.5)[0]
    cdf = VonMises(jnp.asarray(1.0, DTYPE), jnp.asarray(10.0, DTYPE)).cdf(
        jnp.asarray([-1.0, 2.5], DTYPE)
    )
    np.testing.assert_allclose(float(cdf[1] - cdf[0]), mass, rtol=1e2 * EPS)


def test_wrap_angle():
    x = jnp.asarray([-math.pi, math.pi, 3 * math.pi + 0.5, -0.1], DTYPE)
    np.testing.assert_allclose(
        wrap_angle(x), [-math.pi, -math.pi, -math.pi + 0.5, -0.1], atol=80 * EPS
    )


@pytest.mark.skipif(not FULL, reason="MNJ_FULL=1: larger sweep")
def test_implicit_gradient_oracle_full_sweep():
    _check_oracle(
        np.repeat(np.logspace(-3, np.log10(40), 12), 9), np.tile(np.linspace(0.05, 0.95, 9), 12)
    )


def test_concentration_gradient_is_invariant_under_rotation():
    """A draw wrapped around the circle gets the gradient of the same point relative to loc."""
    kappa = jnp.asarray(50.0, DTYPE)
    z = jnp.asarray([0.3, -0.4, 1.5], DTYPE)
    loc = jnp.asarray(2.0, DTYPE)
    rotated = (z + loc + np.pi) % (2 * np.pi) - np.pi  # wraps the last point past π

    def dz(loc, z):
        return jax.vmap(jax.grad(lambda k, z: reparameterize(VonMises(loc, k), z)), (None, 0))(
            kappa, z
        )

    np.testing.assert_allclose(dz(loc, rotated), dz(jnp.zeros((), DTYPE), z), rtol=1e-4)
