"""Gamma-specific checks: the sampler, small shapes in log space, gradient accuracy over α."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, X64, float32_only, statistical
from conftest import FULL
from scipy import special as sps
from scipy import stats

import ml_networks_jax as mnj
from ml_networks_jax.distributions.gamma import log_standard_gamma
from ml_networks_jax.implicit import reparameterize

ALPHAS = np.logspace(-3, 4, 15 if FULL else 8)


def exp_gamma_cdf(u, alpha):
    """CDF of log z, z ~ Gamma(alpha, 1), in float64; the small-x series where e^u underflows."""
    u = np.asarray(u, np.float64)
    tiny = u < -600
    series = np.exp(alpha * np.where(tiny, u, 0.0) - sps.gammaln(alpha + 1.0))
    return np.where(tiny, series, sps.gammainc(alpha, np.exp(np.where(tiny, 0.0, u))))


@statistical
@pytest.mark.parametrize("alpha", [1e-4, 1e-3, 0.01, 0.3, 1.0, 2.5, 50.0, 1e4])
def test_log_space_sampler_passes_ks(alpha):
    u = np.asarray(
        log_standard_gamma(jax.random.key(1), jnp.full((5000,), alpha, DTYPE)), np.float64
    )
    assert np.isfinite(u).all()
    result = stats.kstest(u, lambda x: exp_gamma_cdf(x, alpha))
    assert result.pvalue > 1e-3, result


@statistical
@pytest.mark.parametrize("n", [2_000, 200_000])
def test_sampler_handles_rejections_in_retry_buffer(n):
    """α = 1 has the highest rejection rate (~5%): a large batch needs the retry buffer, a small
    one (~100 rejections, buffer of 64) several rounds of it; all are accepted, none biased.  The
    large one is drawn in four blocks of 50,176: independent streams."""
    u = log_standard_gamma(jax.random.key(2), jnp.ones(n, DTYPE))
    assert np.isfinite(np.asarray(u)).all()
    result = stats.kstest(np.exp(np.asarray(u, np.float64)), stats.expon.cdf)
    assert result.pvalue > 1e-3
    if n > 65536:
        u = np.asarray(u, np.float64)
        r = np.corrcoef(u[:50_000], u[50_176:100_176])[0, 1]
        assert abs(r) < 0.02, r  # 4.5 standard errors


def test_sampler_works_under_vmap_and_jit(key):
    alphas = jnp.asarray([0.1, 1.0, 10.0], DTYPE)
    keys = jax.random.split(key, 3)
    mapped = jax.jit(jax.vmap(lambda k, a: mnj.sample(k, mnj.Gamma(a, 1.0), (2000,))))(keys, alphas)
    np.testing.assert_allclose(mapped.mean(1), alphas, rtol=0.1)


def test_implicit_gradient_over_shape_grid_matches_oracle():
    """dz/dα at quantiles of Gamma(α) against central differences of scipy's P(α, z) / q(z), for
    every α of the grid at once (one compilation)."""
    alpha = np.repeat(ALPHAS, 5)
    z = stats.gamma.ppf(np.tile([1e-3, 0.1, 0.5, 0.9, 0.999], len(ALPHAS)), alpha)
    keep = z > (1e-300 if X64 else 1e-30)  # where z is representable; smaller: log-space test
    alpha, z = alpha[keep], z[keep]
    h = 1e-6 * alpha
    want = (
        -(sps.gammainc(alpha + h, z) - sps.gammainc(alpha - h, z))
        / (2 * h)
        / stats.gamma.pdf(z, alpha)
    )
    got = jax.jit(jax.vmap(jax.grad(lambda a, z: reparameterize(mnj.Gamma(a, 1.0), z))))(
        jnp.asarray(alpha, DTYPE), jnp.asarray(z, DTYPE)
    )
    err = np.abs(np.asarray(got, np.float64) / want - 1)
    worst = int(np.argmax(err))
    assert err[worst] <= (1e-6 if X64 else 2e-4), (alpha[worst], z[worst], err[worst])


@statistical
def test_small_shape_log_gradient_is_unbiased(key):
    """d/dα E[log z] = ψ'(α) (trigamma) for α = 1e-4, 1e-3, 1e-2, within a few Monte Carlo
    standard errors."""
    n = 20_000
    alpha = np.asarray([1e-4, 1e-3, 1e-2])
    a = jnp.asarray(alpha, DTYPE)
    u, du = jax.jit(
        lambda a: jax.jvp(
            lambda a: mnj.rsample_implicit(key, mnj.ExpGamma(a, 1.0), (n,)),
            (a,),
            (jnp.ones_like(a),),
        )
    )(a)
    du = np.asarray(du, np.float64)
    assert np.isfinite(du).all()
    se = du.std(0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(du.mean(0) - sps.polygamma(1, alpha)), 5 * se)


@statistical
def test_rate_gradient_and_mean_gradient(key):
    """d E[z]/dα = 1/rate and d E[z]/drate = -α/rate², estimated from 20,000 draws."""

    def mean_sample(a, rate):
        return mnj.rsample(key, mnj.Gamma(a, rate), (20_000,)).mean()

    ga, gr = jax.jit(jax.grad(mean_sample, (0, 1)))(
        jnp.asarray(3.0, DTYPE), jnp.asarray(2.0, DTYPE)
    )
    np.testing.assert_allclose([ga, gr], [0.5, -0.75], rtol=0.03)


def test_sample_and_log_prob_is_finite_where_z_underflows(key):
    dist = mnj.Gamma(jnp.asarray(1e-3, DTYPE), 1.0)
    z, lp = mnj.sample_and_log_prob(key, dist, (1000,))
    assert np.isfinite(np.asarray(lp)).all()
    u = mnj.sample(key, mnj.ExpGamma(jnp.asarray(1e-3, DTYPE), 1.0), (1000,))
    np.testing.assert_allclose(
        lp, mnj.log_prob(mnj.ExpGamma(jnp.asarray(1e-3, DTYPE), 1.0), u) - u, rtol=1e-5
    )
    np.testing.assert_allclose(z, jnp.exp(u))


@float32_only
def test_chi2_is_gamma(key):
    """Chi2(df) = Gamma(df/2, 1/2): draws, densities, CDF and gradients in df."""
    df = jnp.asarray([0.5, 3.0, 40.0], DTYPE)

    @jax.jit
    def draws_and_gradients(df):
        chi2, gamma = mnj.Chi2(df), mnj.Gamma(0.5 * df, jnp.asarray(0.5, DTYPE))
        z, z_gamma = mnj.sample(key, chi2, (5,)), mnj.sample(key, gamma, (5,))
        grad = jax.grad(lambda d: mnj.rsample(key, mnj.Chi2(d), (5,)).sum())(df)
        want = jax.grad(lambda d: mnj.rsample(key, mnj.Gamma(0.5 * d, 0.5), (5,)).sum())(df)
        return z, z_gamma, chi2.log_prob(z), chi2.cdf(z), gamma.cdf(z), grad, want

    z, z_gamma, log_p, cdf, cdf_gamma, grad, want = draws_and_gradients(df)
    np.testing.assert_allclose(z, z_gamma, rtol=1e-6)
    np.testing.assert_allclose(log_p, stats.chi2(np.asarray(df)).logpdf(z), rtol=1e-4)
    np.testing.assert_allclose(cdf, cdf_gamma, rtol=1e-6)
    np.testing.assert_allclose(grad, want, rtol=1e-5)


@float32_only
def test_hessian_through_gamma_sample_matches_fd(key):
    """Second derivative in α through the sampler (jax.random's gamma refuses it), against central
    differences of dz/dα along the quantile path z(α) = P⁻¹(α, u)."""
    a0 = 3.0
    z0 = float(mnj.sample(key, mnj.Gamma(jnp.asarray(a0, DTYPE), 1.0)))
    u = sps.gammainc(a0, z0)
    dz = jax.jit(jax.grad(lambda a, z: reparameterize(mnj.Gamma(a, 1.0), z)))

    def dz_on_path(a):
        return dz(jnp.asarray(a, DTYPE), jnp.asarray(sps.gammaincinv(a, u), DTYPE))

    h = 1e-5 if X64 else 1e-2
    fd = (dz_on_path(a0 + h) - dz_on_path(a0 - h)) / (2 * h)
    hess = jax.jit(jax.hessian(lambda a: mnj.rsample(key, mnj.Gamma(a, 1.0))))(
        jnp.asarray(a0, DTYPE)
    )
    np.testing.assert_allclose(hess, fd, rtol=1e-6 if X64 else 2e-2)
