"""Beta and LogitBeta beyond the generic layers: small and large concentrations, the logit-space
draw, unbiased gradients where draws round to 0 or 1, and the F distribution built on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from cases import DTYPE, TOL, float32_only, statistical
from conftest import FULL
from scipy import stats

import ml_networks_jax as mnj


@statistical
def test_small_concentration_gradient_is_unbiased(key):
    """``a = b``: ``d E[x]/da = b/(a + b)² = 1/(4a)`` (25 at a = 0.01, where float32 draws sit at
    0 or 1) within four standard errors of the per-draw gradients (one compiled program)."""
    n = 400_000

    @jax.jit
    def per_draw(a, b):
        return jax.jvp(lambda a: mnj.rsample(key, mnj.Beta(a, b), (n,)), (a,), (jnp.ones_like(a),))

    for a in (0.01, 0.1):
        x, g = per_draw(jnp.asarray(a, DTYPE), jnp.asarray(a, DTYPE))
        assert bool(jnp.isfinite(x).all() & jnp.isfinite(g).all())
        g = np.asarray(g, np.float64)
        se = g.std() / np.sqrt(n)
        assert abs(g.mean() - 1 / (4 * a)) < 4 * se, (a, g.mean(), se)


def test_extreme_concentrations_give_finite_draws_densities_and_gradients(key):
    """Concentrations from 1e-3 to 1e4, one batch: draws in [0, 1], finite log densities of the
    draws and finite gradients in both concentrations."""
    a = jnp.asarray([1e-3, 1e-3, 1e4, 1e4, 0.5], DTYPE)
    b = jnp.asarray([1e-3, 5.0, 1e4, 0.5, 1e-3], DTYPE)

    @jax.jit
    def draws(a, b):
        x, lp = mnj.sample_and_log_prob(key, mnj.Beta(a, b), (256,))
        grads = jax.grad(lambda a, b: mnj.rsample(key, mnj.Beta(a, b), (256,)).sum(), (0, 1))(a, b)
        return x, lp, grads

    x, lp, grads = draws(a, b)
    assert bool(((x >= 0) & (x <= 1)).all() & jnp.isfinite(lp).all())
    assert all(bool(jnp.isfinite(g).all()) for g in grads)


@statistical
def test_logit_beta_matches_beta_through_the_logit(key):
    a, b = jnp.asarray([0.3, 2.0], DTYPE), jnp.asarray([0.7, 5.0], DTYPE)
    t = np.asarray(mnj.sample(key, mnj.LogitBeta(a, b), (4000,)), np.float64)
    x = 1 / (1 + np.exp(-t))
    for j in range(2):
        ref = stats.beta(float(a[j]), float(b[j]))
        assert stats.kstest(x[:, j], ref.cdf).pvalue > 1e-3
    d = mnj.LogitBeta(a, b)
    np.testing.assert_allclose(d.mean(), np.mean(t, 0), rtol=0.1, atol=0.1)
    np.testing.assert_allclose(d.variance(), np.var(t, 0), rtol=0.1)


@float32_only
def test_sample_and_log_prob_agrees_with_log_prob(key):
    d = mnj.Beta(jnp.asarray([0.5, 2.0, 30.0], DTYPE), jnp.asarray([0.5, 3.0, 10.0], DTYPE))
    x, lp = jax.jit(lambda d: mnj.sample_and_log_prob(key, d, (100,)))(d)
    np.testing.assert_allclose(lp, d.log_prob(x), rtol=1e3 * TOL["value"], atol=1e-3)


def test_log_prob_at_and_outside_the_end_points():
    d = mnj.Beta(jnp.asarray([0.5, 1.0, 2.0], DTYPE), jnp.asarray(1.0, DTYPE))
    lp0 = np.asarray(d.log_prob(jnp.zeros(3, DTYPE)))
    assert lp0[0] == np.inf and abs(lp0[1]) < 1e-5 and lp0[2] == -np.inf
    assert bool((d.log_prob(jnp.full(3, 1.5, DTYPE)) == -jnp.inf).all())
    assert bool((d.log_prob(jnp.full(3, -0.5, DTYPE)) == -jnp.inf).all())


def test_kl_to_uniform_is_minus_entropy():
    d = mnj.Beta(jnp.asarray(2.0, DTYPE), jnp.asarray(3.0, DTYPE))
    kl = mnj.kl_divergence(d, mnj.Uniform(jnp.asarray(0.0, DTYPE), jnp.asarray(1.0, DTYPE)))
    np.testing.assert_allclose(kl, -d.entropy(), rtol=10 * TOL["value"])
    wide = mnj.kl_divergence(d, mnj.Uniform(jnp.asarray(-1.0, DTYPE), jnp.asarray(1.0, DTYPE)))
    np.testing.assert_allclose(wide, np.log(2.0) - d.entropy(), rtol=10 * TOL["value"])
    narrow = mnj.kl_divergence(d, mnj.Uniform(jnp.asarray(0.1, DTYPE), jnp.asarray(1.0, DTYPE)))
    assert narrow == jnp.inf


def _fd(cdf, z, params, name, rel=1e-6):
    """``-(∂F/∂θ)/q`` by central differences of a scipy CDF, float64."""
    h = rel * params[name]
    up, down = {**params, name: params[name] + h}, {**params, name: params[name] - h}
    return -(cdf(z, **up) - cdf(z, **down)) / (2 * h)


@float32_only
def test_fisher_snedecor_and_inverse_gamma_against_scipy(key):
    """The two thin compositions (full generic layers: MNJ_FULL=1): density, CDF and the
    implicit gradient of every parameter against finite differences of scipy's CDF (for F only
    with MNJ_FULL=1)."""
    from ml_networks_jax.implicit import reparameterize

    families = {
        "F": (mnj.FisherSnedecor, {"df1": 5.0, "df2": 12.0}, stats.f),
        "InverseGamma": (mnj.InverseGamma, {"concentration": 3.0, "scale": 2.0}, stats.invgamma),
    }
    for name, (family, params, ref) in families.items():
        args = {k: jnp.asarray(v, DTYPE) for k, v in params.items()}
        z = mnj.sample(key, family(**args), (6,))
        zf = np.asarray(z, np.float64)
        frozen = ref(*params.values()) if name == "F" else ref(3.0, scale=2.0)
        d = family(**args)
        np.testing.assert_allclose(d.cdf(z), frozen.cdf(zf), rtol=1e3 * TOL["value"])
        np.testing.assert_allclose(d.log_prob(z), frozen.logpdf(zf), rtol=1e3 * TOL["value"])
        if name == "F" and not FULL:  # its gradients are Beta's (test_special_beta): full run
            continue
        grads = jax.jit(
            jax.vmap(
                jax.grad(lambda a, z, family=family: reparameterize(family(**a), z)), (None, 0)
            )
        )(args, z)
        for p in params:
            if name == "F":
                cdf = lambda x, df1, df2: stats.f(df1, df2).cdf(x)  # noqa: E731
            else:
                cdf = lambda x, concentration, scale: stats.invgamma(  # noqa: E731
                    concentration, scale=scale
                ).cdf(x)
            want = _fd(cdf, zf, params, p) / frozen.pdf(zf)
            np.testing.assert_allclose(grads[p], want, rtol=1e-3, atol=1e-6, err_msg=name + p)
