"""Factorized: a family from a user's CDF and log density. Draws by numerical inversion against
closed-form inverses, implicit gradients against explicit ones (first and second order) and
against exact moment derivatives, support handling, batching, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, X64, float32_only, statistical
from scipy import stats

import ml_networks_jax as mnj

TINY = float(jnp.finfo(DTYPE).tiny)


# Burr type XII: F(x) = 1 - (1 + x^c)^(-k) on x > 0, with a closed-form inverse to compare with.
def burr_cdf(x, p):
    return -jnp.expm1(-p["k"] * jnp.log1p(x ** p["c"]))


def burr_log_prob(x, p):
    c, k = p["c"], p["k"]
    return jnp.log(c) + jnp.log(k) + (c - 1) * jnp.log(x) - (k + 1) * jnp.log1p(x**c)


def burr_icdf(u, c, k):
    return jnp.expm1(-jnp.log1p(-u) / k) ** (1 / c)


def burr(c, k):
    return mnj.Factorized({"c": c, "k": k}, burr_cdf, burr_log_prob, low=0.0)


# Lindley: F(x) = 1 - (1 + θx/(θ+1)) e^(-θx) on x > 0, inverse without a closed form; a mixture of
# Exp(θ) and Gamma(2, θ) with weights θ/(θ+1), 1/(θ+1) gives an exact sampler.
def lindley_cdf(x, t):
    return -jnp.expm1(-t * x) - t * x / (t + 1) * jnp.exp(-t * x)


def lindley_log_prob(x, t):
    return 2 * jnp.log(t) - jnp.log1p(t) + jnp.log1p(x) - t * x


def lindley_sampler(key, shape, t):
    k1, k2 = jax.random.split(key)
    shape_param = jnp.where(jax.random.uniform(k1, shape) < t / (t + 1), 1.0, 2.0)
    return jax.random.gamma(k2, shape_param, shape) / t


def lindley(theta, **kw):
    return mnj.Factorized(theta, lindley_cdf, lindley_log_prob, low=0.0, **kw)


def lindley_mean(t):
    return (t + 2) / (t * (t + 1))


PARAMS = {"c": jnp.asarray([0.7, 2.0, 5.0], DTYPE), "k": jnp.asarray([3.0, 0.8, 1.5], DTYPE)}


def test_draws_invert_the_cdf():
    """Without a sampler a draw solves F(x) = u: against the closed-form inverse at that u."""
    key, shape = jax.random.key(0), (4096, 3)
    x = jax.jit(lambda p: burr(**p).sample(key, (4096,)))(PARAMS)
    u = jax.random.uniform(key, shape, DTYPE, minval=TINY, maxval=1.0)
    c, k = (np.asarray(PARAMS[n], np.float64) for n in "ck")
    want = np.expm1(-np.log1p(-np.asarray(u, np.float64)) / k) ** (1 / c)
    got = np.asarray(x, np.float64)
    assert np.all(np.isfinite(got))
    # Relative accuracy: a few eps times the condition number u / (x q(x)) of the inverse.
    log_q = burr_log_prob(want, {"c": c, "k": k})
    cond = np.asarray(u, np.float64) / (want * np.exp(np.asarray(log_q, np.float64)))
    eps = float(jnp.finfo(DTYPE).eps)
    ratio = np.abs(got / want - 1) / (1 + cond)
    assert np.all(ratio <= 8 * eps), ratio.max() / eps


@pytest.mark.parametrize("where", ["real line", "bounded"])
def test_draws_on_other_supports(where):
    """Both ends infinite (a logistic law: the bracket grows both ways) and both finite
    (Kumaraswamy on [0, 1])."""
    key = jax.random.key(1)
    if where == "real line":
        d = mnj.Factorized(
            jnp.asarray(2.0, DTYPE),
            lambda x, s: jax.nn.sigmoid(x / s),
            lambda x, s: -jnp.log(s) - 2 * jnp.logaddexp(0, x / s) + x / s,
        )
        ref = mnj.Logistic(jnp.asarray(0.0, DTYPE), 2.0)
    else:
        a, b = jnp.asarray(2.0, DTYPE), jnp.asarray(5.0, DTYPE)
        d = mnj.Factorized(
            (a, b), lambda x, p: -jnp.expm1(p[1] * jnp.log1p(-(x ** p[0]))),
            lambda x, p: jnp.log(p[0] * p[1]) + (p[0] - 1) * jnp.log(x)
            + (p[1] - 1) * jnp.log1p(-(x ** p[0])), low=0.0, high=1.0,
        )  # fmt: skip
        ref = mnj.Kumaraswamy(a, b)
    x = jax.jit(lambda d: d.sample(key, (2048,)))(d)
    u = jax.random.uniform(key, (2048,), DTYPE, minval=TINY, maxval=1.0)
    np.testing.assert_allclose(ref.cdf(x), u, rtol=1e-12 if X64 else 1e-5, atol=TINY)
    # The implicit gradient agrees with the library's own family at the same draws.
    g = jax.jacfwd(lambda d: mnj.reparameterize(d, x))(d)
    g_ref = jax.jacfwd(lambda r: mnj.reparameterize(r, x))(ref)
    if where == "real line":
        # The Logistic's rule is exact (-(dloc + u dscale)); the Factorized takes its upper tail as
        # 1 - cdf_fn, whose relative rounding, eps/(1 - F), is that of its gradient there
        # (8.9e-4 at 9.7 scales out in float32, as the module docstring warns).
        upper_tail = np.asarray(jnp.exp(ref.log_survival(x)), np.float64)
        eps = float(jnp.finfo(DTYPE).eps)
        rtol = (1e-10 if X64 else 2e-4) + 4 * eps / upper_tail
        np.testing.assert_array_less(np.abs(g.params - g_ref.scale), rtol * np.abs(g_ref.scale))
    else:
        for got, want in ((g.params[0], g_ref.concentration1), (g.params[1], g_ref.concentration0)):
            np.testing.assert_allclose(got, want, rtol=1e-9 if X64 else 2e-3, atol=1e-12)


def _explicit_and_implicit(p, z):
    """The explicit draw icdf(F(z; θ₀); θ) and the implicit one at ``z``, as functions of θ."""
    u = jax.lax.stop_gradient(burr_cdf(z, p))

    def explicit(p):
        return burr_icdf(u, p["c"], p["k"])

    def implicit(p):
        return mnj.reparameterize(burr(**p), z)

    return explicit, implicit


def test_implicit_gradients_equal_explicit_ones():
    """Forward and reverse Jacobians in both parameters, at draws of every parameter set."""
    z = burr(**PARAMS).sample(jax.random.key(2), (64,))
    explicit, implicit = _explicit_and_implicit(PARAMS, z)
    want = jax.jacfwd(explicit)(PARAMS)
    tol = 1e-10 if X64 else 2e-4
    for jac in (jax.jacfwd, jax.jacrev):
        got = jax.jit(jac(implicit))(PARAMS)
        for n in "ck":
            np.testing.assert_allclose(got[n], want[n], rtol=tol, atol=tol * 1e-2)


@pytest.mark.skipif(not X64, reason="second order against the explicit form, float64")
def test_second_derivatives_equal_explicit_ones():
    p = {n: v[1] for n, v in PARAMS.items()}
    z = burr(**p).sample(jax.random.key(3), (16,))
    explicit, implicit = _explicit_and_implicit(p, z)
    want = jax.hessian(lambda p: explicit(p).sum())(p)
    got = jax.jit(jax.hessian(lambda p: implicit(p).sum()))(p)
    for a in "ck":
        for b in "ck":
            np.testing.assert_allclose(got[a][b], want[a][b], rtol=1e-8)


@statistical
@pytest.mark.parametrize("sampler", [None, lindley_sampler])
def test_lindley_draws_and_gradients(sampler):
    """Draws pass a KS test against the Lindley CDF, by inversion and by an exact sampler, and
    d E[x]/dθ is unbiased: θ = 0.5, 2, 8."""
    theta = jnp.asarray([0.5, 2.0, 8.0], DTYPE)
    d = lindley(theta, sample_fn=sampler)
    x = np.asarray(d.sample(jax.random.key(4), (4000,)), np.float64)
    for j, t in enumerate(np.asarray(theta)):
        assert stats.kstest(x[:, j], lambda v, t=t: lindley_cdf(v, t)).pvalue > 1e-3, t
    grad = jax.jit(jax.grad(lambda t, k: lindley(t, sample_fn=sampler).rsample(k, (16_384,))
                            .mean(0).sum()))  # fmt: skip
    runs = np.stack([grad(theta, k) for k in jax.random.split(jax.random.key(5), 16)])
    mean, se = runs.mean(0), runs.std(0, ddof=1) / 4
    want = np.asarray(jax.vmap(jax.grad(lindley_mean))(theta))
    assert np.all(np.abs(mean - want) <= 4 * se), (mean, want, se)


@float32_only  # precision-independent (MNJ_FULL=1: float64 too)
def test_support_batching_and_composition():
    theta = jnp.asarray([[0.5], [2.0]], DTYPE)  # batch (2, 1)
    d = lindley(theta)
    assert d.batch_shape == (2, 1) and d.support()[0].shape == (2, 1)
    x = d.rsample(jax.random.key(6), (5,))
    assert x.shape == (5, 2, 1) and np.all(np.asarray(x) > 0)
    # Outside the support: -inf, 0 and zero gradients, without calling the user's functions there.
    np.testing.assert_array_equal(d.log_prob(-1.0)[:, 0], -np.inf)
    np.testing.assert_array_equal(d.cdf(-1.0)[:, 0], 0.0)
    g = jax.grad(lambda t: lindley(t).cdf(-1.0).sum() + lindley(t).log_prob(3.0).sum())(theta)
    assert np.all(np.isfinite(g))
    # Independent over the event dim sums log densities; vmap over parameters.
    ind = mnj.Independent(lindley(jnp.asarray([0.5, 2.0, 8.0], DTYPE)), 1)
    y = ind.sample(jax.random.key(7), (4,))
    assert y.shape == (4, 3) and ind.log_prob(y).shape == (4,)
    np.testing.assert_allclose(
        ind.log_prob(y),
        lindley_log_prob(y, jnp.asarray([0.5, 2.0, 8.0], DTYPE)).sum(-1),
        rtol=1e-12 if X64 else 1e-6,
    )
    per_theta = jax.vmap(jax.grad(lambda t: lindley(t).rsample(jax.random.key(8), (64,)).mean()))
    assert per_theta(jnp.asarray([0.5, 2.0], DTYPE)).shape == (2,)
    # A mixture of user-defined components: finite gradients to weights and parameters.
    mix = jax.grad(lambda w, t: mnj.MixtureSameFamily(w, lindley(t)).rsample(
        jax.random.key(9), (256,)).mean(), argnums=(0, 1))  # fmt: skip
    g_w, g_t = mix(jnp.zeros(3, DTYPE), jnp.asarray([0.5, 2.0, 8.0], DTYPE))
    assert np.all(np.isfinite(g_w)) and np.all(np.isfinite(g_t))


def test_a_cdf_that_misses_u_gives_nan_not_a_hang():
    """A 'CDF' that never exceeds ½: draws with u > ½ cannot be bracketed and are NaN."""
    d = mnj.Factorized(jnp.asarray(1.0, DTYPE), lambda x, s: 0.5 * jax.nn.sigmoid(x / s),
                       lambda x, s: jnp.log(0.5 * jax.nn.sigmoid(x / s)
                                            * jax.nn.sigmoid(-x / s) / s))  # fmt: skip
    x = np.asarray(jax.jit(lambda d: d.sample(jax.random.key(10), (256,)))(d))
    u = np.asarray(jax.random.uniform(jax.random.key(10), (256,), DTYPE, minval=TINY))
    assert np.all(np.isnan(x[u > 0.5])) and np.all(np.isfinite(x[u < 0.49]))


@float32_only
def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="cdf_fn must be callable"):
        mnj.Factorized(1.0, "cdf", lindley_log_prob)
    with pytest.raises(TypeError, match="sample_fn"):
        mnj.Factorized(1.0, lindley_cdf, lindley_log_prob, sample_fn=3)
    with pytest.raises(ValueError, match="low=1.0 must be below high=0.0"):
        mnj.Factorized(1.0, lindley_cdf, lindley_log_prob, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        mnj.Factorized((jnp.ones(2), jnp.ones(3)), lindley_cdf, lindley_log_prob)
    with pytest.raises(TypeError, match="floating dtype"):
        mnj.Factorized(jnp.arange(3), lindley_cdf, lindley_log_prob)
    with pytest.raises(ValueError, match="at least one array"):
        mnj.Factorized({}, lindley_cdf, lindley_log_prob)
