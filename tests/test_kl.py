"""Closed-form KL divergences against Monte Carlo estimates E_p[log p - log q]."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, statistical

import ml_networks_jax as mnj


def _pairs():
    f = lambda *v: jnp.asarray(v, DTYPE)  # noqa: E731
    cov = jnp.asarray([[1.0, 0.3], [0.3, 0.5]], DTYPE)
    return {
        "Normal": (mnj.Normal(f(0.0, 1.0), f(1.0, 0.5)), mnj.Normal(f(0.5, -1.0), f(2.0, 1.0))),
        "LogNormal": (mnj.LogNormal(f(0.0), f(0.5)), mnj.LogNormal(f(0.3), f(0.8))),
        "MVN": (
            mnj.MultivariateNormal.from_covariance(f(0.0, 1.0), cov),
            mnj.MultivariateNormal.from_diag(f(0.5, 0.0), f(1.0, 2.0)),
        ),
        "Independent": (
            mnj.Independent(mnj.Normal(f(0.0, 1.0), f(1.0, 0.5)), 1),
            mnj.Independent(mnj.Normal(f(0.5, 0.0), f(2.0, 1.0)), 1),
        ),
        "Gamma": (mnj.Gamma(f(2.0, 0.5), f(1.0, 3.0)), mnj.Gamma(f(3.0, 1.0), f(0.5, 2.0))),
        "Chi2-Gamma": (mnj.Chi2(f(3.0)), mnj.Gamma(f(2.0), f(0.7))),
        "Exponential": (mnj.Exponential(f(1.0, 3.0)), mnj.Exponential(f(2.0, 0.5))),
        "Uniform": (mnj.Uniform(f(0.0), f(1.0)), mnj.Uniform(f(-1.0), f(2.0))),
        "InverseGamma": (
            mnj.InverseGamma(f(3.0, 5.0), f(1.0, 2.0)),
            mnj.InverseGamma(f(2.0, 6.0), f(1.5, 1.0)),
        ),
        "VonMises": (
            mnj.VonMises(f(0.5, -1.0), f(2.0, 30.0)),
            mnj.VonMises(f(0.0, 1.0), f(1.0, 5.0)),
        ),
        "VonMises-Uniform": (
            mnj.VonMises(f(0.5, -1.0, 3.0), f(2.0, 1e-3, 0.05)),
            mnj.Uniform(f(-np.pi, -np.pi, -4.0), f(np.pi, np.pi, 4.0)),
        ),
        "Beta": (mnj.Beta(f(0.5, 2.0), f(3.0, 1.5)), mnj.Beta(f(1.0, 4.0), f(1.0, 0.7))),
        "Dirichlet": (mnj.Dirichlet(f(0.5, 2.0, 3.0)), mnj.Dirichlet(f(1.0, 1.0, 4.0))),
    }


@statistical
@pytest.mark.parametrize("name", list(_pairs()))
def test_kl_matches_monte_carlo(name, key):
    p, q = _pairs()[name]
    z = mnj.sample(key, p, (200_000,))
    log_ratio = p.log_prob(z) - q.log_prob(z)
    se = np.asarray(jnp.std(log_ratio, 0)) / np.sqrt(z.shape[0])
    kl = np.asarray(mnj.kl_divergence(p, q))
    np.testing.assert_array_less(np.abs(kl - np.asarray(log_ratio.mean(0))), 5 * se + 1e-5)
    np.testing.assert_allclose(mnj.kl_divergence(p, p), 0.0, atol=1e-5)


def test_kl_is_differentiable_and_jittable():
    g = jax.jit(jax.grad(lambda s: mnj.kl_divergence(mnj.Normal(0.0, s), mnj.Normal(0.0, 1.0))))
    np.testing.assert_allclose(g(jnp.asarray(2.0, DTYPE)), 2.0 - 1.0 / 2.0, rtol=1e-6)


def test_uniform_kl_outside_support_is_infinite():
    assert mnj.kl_divergence(mnj.Uniform(-2.0, 1.0), mnj.Uniform(0.0, 1.0)) == jnp.inf
    assert mnj.kl_divergence(mnj.VonMises(0.0, 5.0), mnj.Uniform(-3.0, 3.0)) == jnp.inf
    assert mnj.kl_divergence(mnj.VonMises(0.0, 5.0), mnj.Uniform(0.0, 2 * np.pi)) == jnp.inf
    # an invalid concentration is NaN, not the small-κ series of a negative number
    invalid = mnj.kl_divergence(mnj.VonMises(0.0, jnp.array([-0.05, 0.0])), mnj.Uniform(-4.0, 4.0))
    assert jnp.isnan(invalid).all()


@pytest.mark.parametrize("kappa", [1e-3, 0.05, 0.099, 0.101, 0.5, 5.0, 500.0])
def test_von_mises_uniform_kl_is_accurate_at_every_concentration(kappa):
    """``κ A(κ) - log I0(κ)`` against mpmath: no cancellation at small κ (≈ κ²/4)."""
    import mpmath

    mpmath.mp.dps = 40
    k = mpmath.mpf(kappa)
    i0 = mpmath.besseli(0, k)
    exact = float(k * mpmath.besseli(1, k) / i0 - mpmath.log(i0))
    d = mnj.VonMises(jnp.asarray(0.0, DTYPE), jnp.asarray(kappa, DTYPE))
    kl = mnj.kl_divergence(d, mnj.Uniform(jnp.asarray(-np.pi, DTYPE), jnp.asarray(np.pi, DTYPE)))
    # the concentration itself rounds to the dtype: relative error 2 eps(κ) on κ²
    np.testing.assert_allclose(kl, exact, rtol=1e-5 if DTYPE == jnp.float32 else 1e-12)


def test_missing_pair_raises():
    with pytest.raises(
        NotImplementedError, match=r"laplace\.Laplace and ml_networks_jax\.\S*\.Cauchy"
    ):
        mnj.kl_divergence(mnj.Laplace(0.0, 1.0), mnj.Cauchy(0.0, 1.0))
