"""OneHotCategorical and Bernoulli: construction, mass and moments against scipy, sample
frequencies, straight-through gradients, closed-form KL, the Gumbel-softmax and binary Concrete
relaxations, and the distributions as pytrees under jit, vmap and grad."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, TOL, float32_only, statistical
from scipy import stats

import ml_networks_jax as mnj
from ml_networks_jax.distributions.bernoulli import Bernoulli, relaxed_bernoulli
from ml_networks_jax.distributions.categorical import OneHotCategorical, gumbel_softmax

P = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.25, 0.25]])  # a zero probability in row 1
PB = np.array([0.0, 0.1, 0.5, 0.75, 1.0])  # certain outcomes at both ends


def arr(x):
    return jnp.asarray(x, DTYPE)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def cat(p=P):
    return OneHotCategorical(probs=arr(p))


# ---- construction ------------------------------------------------------------------------------


@float32_only
def test_construction_errors():
    for cls in (OneHotCategorical, Bernoulli):
        with pytest.raises(ValueError, match="both logits and probs"):
            cls(logits=arr([0.0, 1.0]), probs=arr([0.5, 0.5]))
        with pytest.raises(ValueError, match="neither"):
            cls()
        with pytest.raises(TypeError, match="floating dtype"):
            cls(logits=jnp.ones(3, jnp.int32))
    for kwargs in ({"logits": 1.0}, {"probs": arr(0.5)}):
        with pytest.raises(ValueError, match="at least 1 dims"):
            OneHotCategorical(**kwargs)


def test_logits_and_probs_give_the_same_distribution():
    a = OneHotCategorical(logits=arr(np.log(P[0]) + 3.0))  # unnormalized either way
    b = OneHotCategorical(probs=arr(2 * P[0]))
    np.testing.assert_allclose(a.logits, np.log(P[0]), rtol=10 * TOL["value"])
    np.testing.assert_allclose(b.logits, np.log(P[0]), rtol=10 * TOL["value"])
    np.testing.assert_allclose(b.probs, P[0], rtol=10 * TOL["value"])
    p = PB[1:-1]
    a, b = Bernoulli(logits=arr(np.log(p / (1 - p)))), Bernoulli(probs=arr(p))
    np.testing.assert_allclose(a.probs, p, rtol=10 * TOL["value"])
    np.testing.assert_allclose(b.logits, a.logits, rtol=10 * TOL["value"], atol=TOL["value"])
    np.testing.assert_array_equal(Bernoulli(probs=arr([0.0, 1.0])).logits, [-np.inf, np.inf])


# ---- mass, entropy, moments --------------------------------------------------------------------


def test_categorical_mass_entropy_moments():
    d, k = cat(), P.shape[-1]
    x = arr(np.eye(k)[:, None, :])  # (K, 1, K): every outcome against both rows
    lp = np.asarray(d.log_prob(x))
    want = np.stack([stats.multinomial(1, P[1]).logpmf(np.eye(k)[i]) for i in range(k)])
    np.testing.assert_allclose(lp[:, 1], want, rtol=10 * TOL["value"])
    assert lp[1, 1] == -np.inf and not np.isnan(lp).any()
    ref = np.stack([stats.multinomial(1, P[0]).logpmf(np.eye(k)[i]) for i in range(k)])
    np.testing.assert_allclose(lp[:, 0], ref, rtol=10 * TOL["value"])
    logs = np.log(np.where(P > 0, P, 1.0))
    np.testing.assert_allclose(d.entropy(), -(P * logs).sum(-1), rtol=10 * TOL["value"])
    np.testing.assert_allclose(d.mean(), P, rtol=10 * TOL["value"])
    np.testing.assert_allclose(d.variance(), P * (1 - P), rtol=10 * TOL["value"])
    np.testing.assert_array_equal(d.mode(), [[0, 0, 0, 1], [1, 0, 0, 0]])
    ties = OneHotCategorical(logits=arr([1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(ties.mode(), [0.0, 1.0, 0.0])  # the first of equal maxima
    np.testing.assert_allclose(d.log_prob(jnp.eye(k, dtype=jnp.int32)[:, None])[:, 0], ref, 1e-4)


def test_bernoulli_mass_entropy_moments():
    d = Bernoulli(probs=arr(PB))
    for v in (0.0, 1.0):
        lp = np.asarray(d.log_prob(arr(v)))
        want = stats.bernoulli(PB).logpmf(v)
        np.testing.assert_allclose(lp, want, rtol=10 * TOL["value"])
    np.testing.assert_allclose(d.entropy(), stats.bernoulli(PB).entropy(), atol=10 * TOL["value"])
    np.testing.assert_allclose(d.mean(), PB, rtol=10 * TOL["value"])
    np.testing.assert_allclose(d.variance(), PB * (1 - PB), atol=10 * TOL["value"])
    np.testing.assert_array_equal(d.mode(), [0, 0, 0, 1, 1])  # p = 1/2 gives 0
    # Far tails: log p = -log1p(exp(-l)) to full relative precision, not 0 or NaN.
    tail = Bernoulli(logits=arr([-30.0, 30.0]))
    np.testing.assert_allclose(tail.log_prob(arr(1.0)), [-30.0, -np.exp(-30.0)], rtol=1e-6)
    np.testing.assert_allclose(tail.log_prob(arr(0.0)), [-np.exp(-30.0), -30.0], rtol=1e-6)
    h = 31 * np.exp(-30.0)  # p softplus(-l) + (1 - p) softplus(l), to O(e⁻⁶⁰)
    np.testing.assert_allclose(tail.entropy(), [h, h], rtol=1e-5)


# ---- sampling ----------------------------------------------------------------------------------


@statistical
def test_sample_frequencies_match_probs(key):
    n = 20_000
    x = mnj.sample(key, cat(), (n,))
    assert x.shape == (n, 2, 4) and x.dtype == DTYPE
    assert bool(((x == 0) | (x == 1)).all()) and bool((x.sum(-1) == 1).all())
    se = np.sqrt(P * (1 - P) / n)
    assert (np.abs(np.asarray(x.mean(0)) - P) <= 5 * se + 1e-12).all()
    b = mnj.sample(key, Bernoulli(probs=arr(PB)), (n,))
    assert b.shape == (n, 5) and b.dtype == DTYPE and bool(((b == 0) | (b == 1)).all())
    se = np.sqrt(PB * (1 - PB) / n)
    assert (np.abs(np.asarray(b.mean(0)) - PB) <= 5 * se + 1e-12).all()


def test_straight_through_values_and_gradients(key):
    c = arr([1.0, -2.0, 0.5, 3.0])
    logits = arr([[0.3, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 0.2]])

    def st(logits):
        return jnp.mean(mnj.rsample(key, OneHotCategorical(logits=logits), (64,)) @ c)

    def exact(logits):  # E f(x) = Σ_k f(e_k) p_k for a linear f (averaged over the batch)
        return jnp.mean(jax.nn.softmax(logits, -1) @ c)

    d = OneHotCategorical(logits=logits)
    np.testing.assert_array_equal(d.rsample(key, (64,)), d.sample(key, (64,)))
    np.testing.assert_allclose(jax.grad(st)(logits), jax.grad(exact)(logits), rtol=TOL["grad"])
    lb = arr([-2.0, 0.0, 0.7])
    b = Bernoulli(logits=lb)
    np.testing.assert_array_equal(b.rsample(key, (64,)), b.sample(key, (64,)))
    got = jax.grad(lambda l: jnp.mean(Bernoulli(logits=l).rsample(key, (64,)) @ c[:3]))(lb)
    want = np.asarray(c[:3]) * sigmoid(np.asarray(lb)) * (1 - sigmoid(np.asarray(lb)))
    np.testing.assert_allclose(got, want, rtol=TOL["grad"])


@float32_only
def test_no_implicit_reparameterization(key):
    for d in (cat(), Bernoulli(probs=arr(PB))):
        with pytest.raises(NotImplementedError, match="straight-through"):
            d.rsample_implicit(key)


# ---- KL ----------------------------------------------------------------------------------------


def test_categorical_kl():
    q = np.array([0.25, 0.25, 0.4, 0.1])
    kl = mnj.kl_divergence(cat(), cat(q))
    logs = np.log(np.where(P > 0, P, 1.0))
    np.testing.assert_allclose(kl, (P * (logs - np.log(q))).sum(-1), rtol=10 * TOL["value"])
    np.testing.assert_allclose(mnj.kl_divergence(cat(), cat()), 0.0, atol=TOL["value"])
    assert float(mnj.kl_divergence(cat(q), cat(P[1]))) == np.inf  # q = 0 < p
    lp, lq = arr([[30.0, -30.0, 0.0], [0.3, 0.1, -0.2]]), arr([[-30.0, 30.0, 1.0]])

    def f(lp, lq):
        return mnj.kl_divergence(OneHotCategorical(logits=lp), OneHotCategorical(logits=lq)).sum()

    gp, gq = jax.grad(f, (0, 1))(lp, lq)
    assert bool(jnp.isfinite(gp).all() & jnp.isfinite(gq).all())
    # d KL / d logits_p = p (log p - log q - KL)
    sp, sq = jax.nn.softmax(lp[1]), jax.nn.softmax(lq[0])
    log_ratio = jnp.log(sp) - jnp.log(sq)
    want = sp * (log_ratio - jnp.sum(sp * log_ratio))
    np.testing.assert_allclose(gp[1], want, rtol=TOL["grad"], atol=TOL["grad_atol"])
    grads = jax.grad(lambda q: mnj.kl_divergence(cat(), OneHotCategorical(probs=q)).sum())(arr(q))
    assert bool(jnp.isfinite(grads).all())


def test_bernoulli_kl():
    p, q = PB[1:-1], np.array([0.3, 0.9, 0.05])
    kl = mnj.kl_divergence(Bernoulli(probs=arr(p)), Bernoulli(probs=arr(q)))
    want = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    np.testing.assert_allclose(kl, want, rtol=10 * TOL["value"])
    d = Bernoulli(probs=arr(PB))
    np.testing.assert_allclose(mnj.kl_divergence(d, d), 0.0, atol=TOL["value"])
    half = Bernoulli(probs=arr(0.5))
    np.testing.assert_allclose(np.asarray(mnj.kl_divergence(d, half))[[0, -1]], np.log(2), 1e-6)
    assert float(mnj.kl_divergence(half, Bernoulli(probs=arr(1.0)))) == np.inf
    lp, lq = arr([30.0, -30.0, 30.0, 0.4]), arr([-30.0, 30.0, 29.0, -1.0])

    def f(lp, lq):
        return mnj.kl_divergence(Bernoulli(logits=lp), Bernoulli(logits=lq)).sum()

    gp, gq = jax.grad(f, (0, 1))(lp, lq)
    assert bool(jnp.isfinite(gp).all() & jnp.isfinite(gq).all())
    s = sigmoid(np.asarray(lp, np.float64))  # d KL / d l_p = σ(l_p) σ(-l_p) (l_p - l_q)
    want = s * sigmoid(-np.asarray(lp, np.float64)) * np.asarray(lp - lq, np.float64)
    np.testing.assert_allclose(gp, want, rtol=TOL["grad"])
    # 30 vs 29: p (log p - log q) + (1 - p)(log(1 - p) - log(1 - q)) = e⁻³⁰ (e - 2) + O(e⁻⁵⁹)
    np.testing.assert_allclose(f(lp[2:3], lq[2:3]), np.exp(-30) * (np.e - 2), rtol=1e-4)


# ---- relaxations -------------------------------------------------------------------------------


def test_gumbel_softmax(key):
    logits = OneHotCategorical(probs=arr(P[0])).logits  # normalized: the sampler's own scores
    y = gumbel_softmax(key, logits, 0.5, (1000,))
    assert y.shape == (1000, 4) and y.dtype == DTYPE
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=10 * TOL["value"])
    cold = gumbel_softmax(key, logits, 0.001, (1000,))
    assert float(jnp.mean(cold.max(-1) > 0.99)) > 0.95
    hard = gumbel_softmax(key, logits, 0.5, (1000,), hard=True)
    np.testing.assert_array_equal(hard.sum(-1), 1.0)
    np.testing.assert_array_equal(jnp.argmax(y, -1), jnp.argmax(hard, -1))
    c = arr([1.0, -2.0, 0.5, 3.0])

    def f(logits, hard):
        return jnp.mean(gumbel_softmax(key, logits, 0.5, (8,), hard=hard) @ c)

    np.testing.assert_allclose(
        jax.grad(f)(logits, True), jax.grad(f)(logits, False), rtol=TOL["grad"]
    )


def test_relaxed_bernoulli(key):
    logits = arr(np.log(PB[1:-1] / (1 - PB[1:-1])))
    y = relaxed_bernoulli(key, logits, 0.5, (1000,))
    assert y.shape == (1000, 3) and y.dtype == DTYPE and bool(((y > 0) & (y < 1)).all())
    cold = relaxed_bernoulli(key, logits, 0.01, (1000,))
    assert float(jnp.mean(jnp.minimum(cold, 1 - cold) < 0.01)) > 0.95
    hard = relaxed_bernoulli(key, logits, 0.5, (1000,), hard=True)
    np.testing.assert_array_equal(hard, Bernoulli(logits=logits).sample(key, (1000,)))
    np.testing.assert_array_equal(hard, y > 0.5)

    def f(logits, hard):
        return jnp.mean(
            relaxed_bernoulli(key, logits, 0.5, (8,), hard=hard) @ arr([1.0, -2.0, 3.0])
        )

    np.testing.assert_allclose(
        jax.grad(f)(logits, True), jax.grad(f)(logits, False), rtol=TOL["grad"]
    )


@statistical
def test_relaxed_argmax_frequencies_match_probs(key):
    n = 20_000
    y = gumbel_softmax(key, arr(np.log(P[0]) + 1.0), 2.0, (n,))
    freq = np.asarray(jax.nn.one_hot(jnp.argmax(y, -1), 4).mean(0))
    assert (np.abs(freq - P[0]) <= 5 * np.sqrt(P[0] * (1 - P[0]) / n)).all()
    p = PB[1:-1]
    y = relaxed_bernoulli(key, arr(np.log(p / (1 - p))), 2.0, (n,))
    assert (np.abs(np.asarray((y > 0.5).mean(0)) - p) <= 5 * np.sqrt(p * (1 - p) / n)).all()


# ---- pytrees -----------------------------------------------------------------------------------


@float32_only
def test_batches_jit_vmap_and_grad_over_the_pytree(key):
    logits = jax.random.normal(jax.random.key(1), (3, 4, 6), DTYPE)
    d = OneHotCategorical(logits=logits)
    assert d.batch_shape == (3, 4) and d.event_shape == (6,)
    x = d.sample(key, (5,))
    assert x.shape == (5, 3, 4, 6) and d.log_prob(x).shape == (5, 3, 4)
    assert d.entropy().shape == d.mean().shape[:-1] == (3, 4)
    np.testing.assert_array_equal(jax.jit(lambda d: d.rsample(key, (5,)))(d), x)
    mapped = jax.jit(jax.vmap(lambda d: d.log_prob(d.mode())))(d)
    np.testing.assert_allclose(mapped, d.log_prob(d.mode()), rtol=TOL["value"])
    assert jax.vmap(lambda d: d.sample(key, (5,)))(d).shape == (3, 5, 4, 6)
    # Tangents and cotangents are stored as they come (not renormalized as logits).
    g = jax.grad(lambda d: d.entropy().sum())(d)
    assert isinstance(g, OneHotCategorical)
    want = jax.grad(lambda lp: -jnp.sum(jnp.exp(lp) * lp))(d.logits)
    np.testing.assert_allclose(g.logits, want, rtol=TOL["grad"])
    assert float(jnp.abs(jax.tree.map(jnp.zeros_like, d).logits).max()) == 0
    assert jax.tree.map(lambda _: None, d).logits is None
    b = Bernoulli(logits=logits[..., 0])
    ind = mnj.Independent(b, 1)
    assert ind.sample(key, (5,)).shape == (5, 3, 4) and ind.batch_shape == (3,)
    np.testing.assert_allclose(
        jax.jit(lambda d: d.log_prob(d.mode()))(ind), b.log_prob(b.mode()).sum(-1), rtol=1e-5
    )
    z, lp = jax.jit(lambda d: mnj.sample_and_log_prob(key, d, (2,)))(b)
    assert z.shape == lp.shape == (2, 3, 4) and z.dtype == lp.dtype == DTYPE
    assert repr(b) == f"Bernoulli(logits={'f64' if DTYPE == jnp.float64 else 'f32'}[3,4])"
