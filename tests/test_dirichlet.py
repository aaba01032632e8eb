"""Dirichlet: density and moments against scipy, samples, unbiased implicit gradients (also at
concentrations down to 1e-3), transformations and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, TOL, float32_only, statistical
from conftest import FULL
from scipy import stats

import ml_networks_jax as mnj

ALPHA = np.array([0.5, 2.0, 3.0, 0.2])


def dirichlet(alpha=ALPHA):
    return mnj.Dirichlet(jnp.asarray(alpha, DTYPE))


def test_log_prob_entropy_moments_match_scipy(key):
    d, ref = dirichlet(), stats.dirichlet(ALPHA)
    x = np.asarray(mnj.sample(key, d, (8,)), np.float64)
    x = x / x.sum(-1, keepdims=True)  # scipy insists on an exact simplex
    interior = mnj.Dirichlet(jnp.asarray([2.0, 3.0, 5.0], DTYPE))

    @jax.jit
    def evaluate(d, x, interior):  # one program
        moments = d.entropy(), d.mean(), d.variance(), jnp.diagonal(d.covariance())
        return d.log_prob(x), moments, interior.mode(), d.mode()

    log_prob, (entropy, mean, variance, cov_diagonal), mode, no_mode = evaluate(
        d, jnp.asarray(x, DTYPE), interior
    )
    np.testing.assert_allclose(log_prob, ref.logpdf(x.T), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(entropy, ref.entropy(), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(mean, ref.mean(), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(variance, ref.var(), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(cov_diagonal, ref.var(), rtol=1e3 * TOL["value"])
    np.testing.assert_allclose(mode, [1 / 7, 2 / 7, 4 / 7], rtol=1e3 * TOL["value"])
    assert np.isnan(np.asarray(no_mode)).all()  # some α < 1: no interior mode


def test_samples_lie_on_the_simplex_and_match_sample_and_log_prob(key):
    d = dirichlet()
    x = mnj.rsample(key, d, (1000,))
    assert x.shape == (1000, 4) and x.dtype == DTYPE
    assert bool((x >= 0).all())
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=10 * TOL["value"])
    x2, lp = mnj.sample_and_log_prob(key, d, (1000,))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_allclose(lp, d.log_prob(x), rtol=100 * TOL["value"], atol=1e-3)


@statistical
def test_marginals_are_beta(key):
    x = np.asarray(mnj.sample(key, dirichlet(), (4000,)), np.float64)
    total = ALPHA.sum()
    for k, a in enumerate(ALPHA):
        assert stats.kstest(x[:, k], stats.beta(a, total - a).cdf).pvalue > 1e-3, k


@statistical
def test_pathwise_gradient_of_mean_and_second_moment(key):
    """Jacobians of E[x] and E[x²] in α from the draws against the closed forms."""

    def moments(alpha):
        x = mnj.rsample(key, mnj.Dirichlet(alpha), (40_000,))
        return jnp.stack([x.mean(0), (x**2).mean(0)])

    def exact(alpha):
        d = mnj.Dirichlet(alpha)
        return jnp.stack([d.mean(), d.variance() + d.mean() ** 2])

    alpha = jnp.asarray(ALPHA, DTYPE)
    got, want = jax.jit(lambda a: (jax.jacfwd(moments)(a), jax.jacfwd(exact)(a)))(alpha)
    np.testing.assert_allclose(got, want, rtol=0.05, atol=0.03 * np.abs(want).max())


@statistical
def test_small_concentration_gradient_is_unbiased(key):
    """``K = 2``, ``α = (a, a)``: ``d E[x₁]/dα₁ = α₂/α₀² = 1/(4a)`` (25 at a = 0.01) within
    a few standard errors of the per-draw gradients (one compiled program for both a)."""
    n = 400_000

    @jax.jit
    def per_draw(conc):
        tangent = jnp.asarray([1.0, 0.0], DTYPE)
        return jax.jvp(
            lambda c: mnj.rsample(key, mnj.Dirichlet(c), (n,))[:, 0], (conc,), (tangent,)
        )

    for alpha in (0.01, 0.001):
        x, g = per_draw(jnp.full(2, alpha, DTYPE))
        assert bool(jnp.isfinite(x).all() & jnp.isfinite(g).all())
        g = np.asarray(g, np.float64)
        se = g.std() / np.sqrt(n)
        assert abs(g.mean() - 1 / (4 * alpha)) < 4 * se, (alpha, g.mean(), se)


def test_tiny_concentrations_give_finite_log_densities(key):
    @jax.jit
    def draws(conc):
        d = mnj.Dirichlet(conc)
        x, lp = mnj.sample_and_log_prob(key, d, (64,))
        grad = jax.grad(lambda c: mnj.Dirichlet(c).log_rsample(key, (64,))[..., 0].sum())(conc)
        return x, lp, d.log_rsample(key, (64,)), grad

    x, lp, log_x, grad = draws(jnp.full((3, 5), 1e-3, DTYPE))
    assert x.shape == (64, 3, 5) and lp.shape == (64, 3)
    assert bool(jnp.isfinite(lp).all() & jnp.isfinite(log_x).all() & ~jnp.isnan(x).any())
    np.testing.assert_allclose(jax.nn.logsumexp(log_x, -1), 0.0, atol=10 * TOL["value"])
    assert bool(jnp.isfinite(grad).all())


@float32_only
def test_batches_jit_vmap_forward_reverse_and_dtype(key):
    alpha = jnp.asarray(np.stack([ALPHA, ALPHA[::-1]]), DTYPE)
    d = mnj.Dirichlet(alpha)
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    assert mnj.sample(key, d, (3,)).shape == (3, 2, 4)

    def f(alpha):
        return mnj.rsample(key, mnj.Dirichlet(alpha), (3,))

    rev = jax.jit(jax.jacrev(f))(alpha)
    assert rev.shape == (3, 2, 4, 2, 4) and bool(jnp.isfinite(rev).all())
    np.testing.assert_allclose(rev.sum(2), 0.0, atol=1e-4)  # the draws stay on the simplex
    mapped = jax.jit(jax.vmap(lambda d: mnj.rsample(key, d, (3,))))(d)
    np.testing.assert_allclose(mapped[1], f(alpha[1]), rtol=10 * TOL["value"])
    z, lp = jax.eval_shape(lambda d: mnj.sample_and_log_prob(key, d, (2,)), d)
    assert z.dtype == lp.dtype == DTYPE


@pytest.mark.skipif(
    not FULL,
    reason="slow to compile (MNJ_FULL=1); second order of the Gamma rule runs in test_gamma.py",
)
def test_second_order_through_a_draw(key):
    alpha = jnp.asarray(ALPHA, DTYPE)
    hess = jax.jit(jax.hessian(lambda a: mnj.rsample(key, mnj.Dirichlet(a))[0]))(alpha)
    assert hess.shape == (4, 4) and bool(jnp.isfinite(hess).all())
    np.testing.assert_allclose(hess, hess.T, rtol=1e-3, atol=1e-6)


def test_nan_concentration_gives_nan_not_hang(key):
    x = jax.jit(lambda d: mnj.rsample(key, d, (3,)))(dirichlet([np.nan, 1.0, 1.0, 1.0]))
    assert bool(jnp.isnan(x).all())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least 1 dims"):
        mnj.Dirichlet(1.0)
    with pytest.raises(TypeError, match="floating dtype"):
        mnj.Dirichlet(jnp.ones(3, jnp.int32))
