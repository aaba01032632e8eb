"""MultivariateNormal and Independent."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, TOL
from scipy import stats

import ml_networks_jax as mnj

COV = np.array([[2.0, 0.6, 0.2], [0.6, 1.0, -0.3], [0.2, -0.3, 0.5]])
LOC = np.array([1.0, -2.0, 0.5])


def mvn(batch=()):
    loc = jnp.broadcast_to(jnp.asarray(LOC, DTYPE), batch + (3,))
    return mnj.MultivariateNormal.from_covariance(loc, jnp.asarray(COV, DTYPE))


def test_log_prob_entropy_moments_match_scipy(key):
    d, ref = mvn(), stats.multivariate_normal(LOC, COV)
    x = np.asarray(mnj.sample(key, d, (10,)), np.float64)
    np.testing.assert_allclose(
        d.log_prob(jnp.asarray(x, DTYPE)), ref.logpdf(x), rtol=1e3 * TOL["value"]
    )
    np.testing.assert_allclose(d.entropy(), ref.entropy(), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(d.covariance(), COV, rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(d.variance(), np.diag(COV), rtol=1e3 * TOL["value"])


def test_samples_have_the_covariance(key):
    z = np.asarray(mnj.sample(key, mvn(), (100_000,)), np.float64)
    np.testing.assert_allclose(np.cov(z.T), COV, atol=0.03)
    np.testing.assert_allclose(z.mean(0), LOC, atol=0.02)


def test_implicit_equals_explicit_including_batches(key):
    d = mvn((2,))

    def draw(loc, tril, implicit):
        dist = mnj.MultivariateNormal(loc, tril)
        return (mnj.rsample_implicit if implicit else mnj.rsample)(key, dist, (4,))

    for argnum in (0, 1):
        jac_e = jax.jacfwd(draw, argnum)(d.loc, d.scale_tril, False)
        jac_i = jax.jacfwd(draw, argnum)(d.loc, d.scale_tril, True)
        np.testing.assert_allclose(jac_i, jac_e, atol=100 * TOL["explicit"])


def test_from_diag_is_independent_normal(key):
    scale = jnp.asarray([0.5, 1.0, 2.0], DTYPE)
    loc = jnp.asarray(LOC, DTYPE)
    a = mnj.MultivariateNormal.from_diag(loc, scale)
    b = mnj.Independent(mnj.Normal(loc, scale), 1)
    x = mnj.sample(key, a, (5,))
    np.testing.assert_allclose(a.log_prob(x), b.log_prob(x), rtol=1e2 * TOL["value"])
    np.testing.assert_allclose(a.entropy(), b.entropy(), rtol=1e2 * TOL["value"])
    c = mnj.Independent(mnj.Normal(loc + 1.0, 2.0 * scale), 1)
    d = mnj.MultivariateNormal.from_diag(loc + 1.0, 2.0 * scale)
    np.testing.assert_allclose(
        mnj.kl_divergence(a, d), mnj.kl_divergence(b, c), rtol=1e2 * TOL["value"]
    )


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="scale_tril must end in"):
        mnj.MultivariateNormal(jnp.zeros(3), jnp.eye(2))
    with pytest.raises(ValueError, match="at least 1 dims"):
        mnj.MultivariateNormal(0.0, jnp.eye(1))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        mnj.Independent(mnj.Normal(jnp.zeros(3), 1.0), 2)


def test_independent_shapes_and_reductions(key):
    base = mnj.Normal(jnp.zeros((4, 3), DTYPE), jnp.ones((4, 3), DTYPE))
    d = mnj.Independent(base, 1)
    assert d.batch_shape == (4,) and d.event_shape == (3,)
    z = mnj.sample(key, d, (2,))
    assert z.shape == (2, 4, 3)
    np.testing.assert_allclose(d.log_prob(z), base.log_prob(z).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(d.entropy(), base.entropy().sum(-1), rtol=1e-6)
    _, lp = mnj.sample_and_log_prob(key, d, (2,))
    assert lp.shape == (2, 4)
    assert jax.jit(lambda d: d.log_prob(z))(d).shape == (2, 4)


def test_vmap_and_jit_over_mvn(key):
    d = mnj.MultivariateNormal.from_covariance(
        jnp.zeros((3, 3), DTYPE), jnp.broadcast_to(jnp.asarray(COV, DTYPE), (3, 3, 3))
    )
    out = jax.jit(jax.vmap(lambda d: d.log_prob(jnp.zeros(3, DTYPE))))(d)
    np.testing.assert_allclose(out, d.log_prob(jnp.zeros(3, DTYPE)), rtol=1e2 * TOL["value"])
