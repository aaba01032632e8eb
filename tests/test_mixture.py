"""Univariate mixtures: implicit gradients to the weights and the component parameters against
exact gradients of moments, samples against the mixture CDF, transformations, batching, errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sc
from cases import DTYPE, X64, float32_only, statistical
from scipy import stats

import ml_networks_jax as mnj

LOGITS = np.array([0.3, -0.5, 0.1])
LOC = np.array([-2.0, 0.5, 3.0])
SCALE = np.array([0.7, 1.5, 0.4])


def _normal_mixture(logits, loc, scale):
    return mnj.MixtureSameFamily(logits, mnj.Normal(loc, scale))


def _batched_grads(fn, args, n_batches=16, n=16_384):
    """Monte Carlo gradients of ``fn(key, *args)`` over independent batches: (mean, std error)."""
    grad = jax.jit(jax.grad(fn, argnums=tuple(range(1, len(args) + 1))))
    keys = jax.random.split(jax.random.key(42), n_batches)
    runs = [jax.tree.map(np.asarray, grad(k, *args)) for k in keys]
    stacked = [np.stack(g) for g in zip(*runs, strict=True)]
    return [(g.mean(0), g.std(0, ddof=1) / np.sqrt(n_batches)) for g in stacked]


@statistical
def test_gradients_of_first_two_moments_are_unbiased():
    """d/dlogits, d/dloc, d/dscale of E[z] = Σ w μ and E[z²] = Σ w (σ² + μ²), exactly known."""
    args = tuple(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE))
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()
    for power in (1, 2):

        def moment(key, logits, loc, scale, power=power):
            z = _normal_mixture(logits, loc, scale).rsample(key, (16_384,))
            return jnp.mean(z**power)

        m_k = LOC if power == 1 else SCALE**2 + LOC**2
        exact = [
            w * (m_k - np.sum(w * m_k)),  # d/dlogits
            w * (1.0 if power == 1 else 2 * LOC),  # d/dloc
            w * (0.0 if power == 1 else 2 * SCALE),  # d/dscale
        ]
        for (mean, se), want in zip(_batched_grads(moment, args), exact, strict=True):
            assert np.all(np.abs(mean - want) <= 4 * se + 1e-6), (power, mean, want, se)


@statistical
def test_mixture_of_different_families_gradients_are_unbiased():
    """Normal, Gamma and Kumaraswamy in one mixture: d E[z] / d(logits, Gamma shape, Kumaraswamy
    a). (The README runs the same with a Beta component.)"""
    logits = jnp.asarray([0.2, -0.3, 0.4], DTYPE)

    def mean_draw(key, logits, alpha, a):
        comps = (mnj.Normal(-1.0, 0.5), mnj.Gamma(alpha, 2.0), mnj.Kumaraswamy(a, 3.0))
        return mnj.Mixture(logits, comps).rsample(key, (16_384,)).mean()

    def kumaraswamy_mean(a, b=3.0):
        return b * sc.beta(1.0 + 1.0 / a, b)

    alpha, a = jnp.asarray(1.5, DTYPE), jnp.asarray(2.0, DTYPE)
    w = np.exp(np.asarray(logits, np.float64))
    w = w / w.sum()
    means = np.array([-1.0, 1.5 / 2.0, kumaraswamy_mean(2.0)])
    d_kumaraswamy = (kumaraswamy_mean(2.0 + 1e-6) - kumaraswamy_mean(2.0 - 1e-6)) / 2e-6
    exact = [w * (means - np.sum(w * means)), w[1] / 2.0, w[2] * d_kumaraswamy]
    for (mean, se), want in zip(_batched_grads(mean_draw, (logits, alpha, a)), exact, strict=True):
        assert np.all(np.abs(mean - want) <= 4 * se + 1e-6), (mean, want, se)


def _reference_cdf(x):
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()
    return np.sum(w * stats.norm.cdf(np.asarray(x, np.float64)[..., None], LOC, SCALE), -1)


@statistical
def test_samples_follow_the_mixture_cdf_and_the_index_is_exposed():
    d = _normal_mixture(*(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE)))
    key = jax.random.key(7)
    z = np.asarray(jax.jit(lambda k: d.sample(k, (20_000,)))(key), np.float64)
    assert stats.kstest(z, _reference_cdf).pvalue > 1e-3
    # The index drawn with the same key is the component each draw came from: the draws of a
    # component follow that component alone.
    k = np.asarray(d.sample_component(key, (20_000,)))
    for j in range(3):
        zj = z[k == j]
        assert stats.kstest(zj, stats.norm(LOC[j], SCALE[j]).cdf).pvalue > 1e-3
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()
    np.testing.assert_allclose(np.bincount(k, minlength=3) / k.size, w, atol=0.015)


def test_density_cdf_and_moments_against_scipy():
    d = _normal_mixture(*(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE)))
    x = np.linspace(-6.0, 6.0, 25)
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()
    pdf = np.sum(w * stats.norm.pdf(x[:, None], LOC, SCALE), -1)
    rtol = 1e-12 if X64 else 2e-5
    # Tails in log space: no underflow where the CDF itself does.
    far = jnp.asarray([-60.0, 60.0], DTYPE)

    @jax.jit
    def evaluate(d, x):  # one program
        return d.log_prob(x), d.cdf(x), d.log_cdf(far), d.log_survival(far), d.mean(), d.variance()

    log_prob, cdf, log_cdf, log_survival, d_mean, d_variance = evaluate(d, jnp.asarray(x, DTYPE))
    np.testing.assert_allclose(log_prob, np.log(pdf), rtol=rtol)
    np.testing.assert_allclose(cdf, _reference_cdf(x), rtol=rtol * 10)
    assert np.all(np.isfinite(log_cdf)) and np.all(np.isfinite(log_survival))
    mean = np.sum(w * LOC)
    np.testing.assert_allclose(d_mean, mean, rtol=rtol)
    np.testing.assert_allclose(d_variance, np.sum(w * (SCALE**2 + LOC**2)) - mean**2, rtol=rtol)


def test_implicit_gradient_is_exact_at_each_draw():
    """dz/dθ of every draw equals -(∂F/∂θ)/q from central differences of the float64 reference."""
    params = tuple(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE))

    def draws(logits, loc, scale):
        return _normal_mixture(logits, loc, scale).rsample(jax.random.key(3), (6,))

    z, jac = jax.jit(lambda *p: (draws(*p), jax.jacrev(draws, argnums=(0, 1, 2))(*p)))(*params)
    z = np.asarray(z, np.float64)
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()
    pdf = np.sum(w * stats.norm.pdf(z[:, None], LOC, SCALE), -1)

    def cdf(logits, loc, scale):
        wv = np.exp(logits) / np.exp(logits).sum()
        return np.sum(wv * stats.norm.cdf(z[:, None], loc, scale), -1)

    base = (LOGITS, LOC, SCALE)
    for i, got in enumerate(jac):
        for k in range(3):
            up = [p.copy() for p in base]
            dn = [p.copy() for p in base]
            up[i][k] += 1e-6
            dn[i][k] -= 1e-6
            want = -(cdf(*up) - cdf(*dn)) / 2e-6 / pdf
            tol = 1e-6 if X64 else 2e-4
            np.testing.assert_allclose(np.asarray(got)[:, k], want, rtol=tol, atol=tol * 0.1)


@float32_only  # precision-independent (MNJ_FULL=1: float64 too)
def test_forward_reverse_second_order_and_vmap():
    params = tuple(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE))

    def loss(logits, loc, scale):
        z = _normal_mixture(logits, loc, scale).rsample(jax.random.key(1), (64,))
        return jnp.mean(jnp.sin(z) * z)

    fwd = jax.jit(jax.jacfwd(loss, argnums=(0, 1, 2)))(*params)
    rev = jax.jit(jax.jacrev(loss, argnums=(0, 1, 2)))(*params)
    tol = 1e-9 if X64 else 2e-4
    for f, r in zip(fwd, rev, strict=True):
        np.testing.assert_allclose(f, r, rtol=tol, atol=tol)
    grad_loc = jax.jit(jax.grad(loss, argnums=1))
    # vmap over a batch of mixtures equals the loop.
    locs = jnp.stack([params[1], params[1] + 1.0])
    batched = jax.jit(jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, 0, None)))(
        params[0], locs, params[2]
    )
    for i in range(2):
        np.testing.assert_allclose(batched[i], grad_loc(params[0], locs[i], params[2]), rtol=tol)


@statistical
def test_second_derivatives_are_unbiased():
    """d²E[z²]/dloc_j dloc_k = 2 w_k δ_jk and d²E[z]/dlogits² = the Hessian of Σ w μ, from the
    Hessian of Monte Carlo means (second derivatives through the draws themselves)."""
    args = tuple(jnp.asarray(v, DTYPE) for v in (LOGITS, LOC, SCALE))
    w = np.exp(LOGITS) / np.exp(LOGITS).sum()

    def hessians(key):
        def second(loc):
            return jnp.mean(_normal_mixture(args[0], loc, args[2]).rsample(key, (16_384,)) ** 2)

        def first(logits):
            return jnp.mean(_normal_mixture(logits, args[1], args[2]).rsample(key, (16_384,)))

        return jax.hessian(second)(args[1]), jax.hessian(first)(args[0])

    runs = [jax.jit(hessians)(k) for k in jax.random.split(jax.random.key(5), 16)]
    m = LOC - np.sum(w * LOC)
    exact = (2 * np.diag(w), np.diag(w * m) - np.outer(w, w * m) - np.outer(w * m, w))
    for i, want in enumerate(exact):
        h = np.stack([np.asarray(r[i]) for r in runs])
        mean, se = h.mean(0), h.std(0, ddof=1) / 4.0
        assert np.all(np.abs(mean - want) <= 4 * se + 1e-5), (i, mean, want, se)


@float32_only
def test_batched_parameters_with_a_sample_shape():
    logits = jnp.asarray(np.stack([LOGITS, LOGITS[::-1]]), DTYPE)  # batch (2,), K = 3
    loc = jnp.asarray(np.stack([LOC, -LOC]), DTYPE)
    d = _normal_mixture(logits, loc, jnp.asarray(SCALE, DTYPE))
    assert d.batch_shape == (2,) and d.event_shape == ()

    def loss(loc):
        return _normal_mixture(logits, loc, jnp.asarray(SCALE, DTYPE)).rsample(
            jax.random.key(0), (5, 4)
        )

    x = jnp.asarray([[0.1, -0.4]], DTYPE)

    @jax.jit
    def evaluate(loc):  # one program
        singles = [
            _normal_mixture(logits[b], loc[b], jnp.asarray(SCALE, DTYPE)).log_prob(x[0, b])
            for b in range(2)
        ]
        d = _normal_mixture(logits, loc, jnp.asarray(SCALE, DTYPE))
        return loss(loc), jax.grad(lambda v: loss(v).sum())(loc), d.log_prob(x), singles

    z, g, lp, singles = evaluate(loc)
    assert z.shape == (5, 4, 2)
    assert g.shape == (2, 3) and np.all(np.isfinite(g))
    lp = np.asarray(lp)
    for b in range(2):
        np.testing.assert_allclose(lp[0, b], singles[b], rtol=1e-6)


def test_far_tail_draws_have_finite_gradients():
    """Two components 40 scales apart: draws of either, far in the other's tail."""

    def draws(logits, loc):
        return _normal_mixture(logits, loc, jnp.ones(2, DTYPE)).rsample(jax.random.key(0), (256,))

    logits, loc = jnp.zeros(2, DTYPE), jnp.asarray([-20.0, 20.0], DTYPE)
    z, (jl, jm) = jax.jit(lambda *p: (draws(*p), jax.jacrev(draws, argnums=(0, 1))(*p)))(
        logits, loc
    )
    assert np.all(np.isfinite(jl)) and np.all(np.isfinite(jm))
    # Each draw moves with its own component: dz/dloc is ~1 for it and ~0 for the other.
    z = np.asarray(z)
    own = np.where(z < 0, np.asarray(jm)[:, 0], np.asarray(jm)[:, 1])
    np.testing.assert_allclose(own, 1.0, atol=1e-4)


@float32_only
def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="last batch dim must be 3"):
        mnj.MixtureSameFamily(jnp.zeros(3), mnj.Normal(jnp.zeros(4), 1.0))
    with pytest.raises(ValueError, match="does not broadcast"):
        mnj.MixtureSameFamily(jnp.zeros((2, 3)), mnj.Normal(jnp.zeros((4, 3)), 1.0))
    with pytest.raises(ValueError, match="univariate"):
        mnj.MixtureSameFamily(jnp.zeros(2), mnj.Dirichlet(jnp.ones((2, 3))))
    with pytest.raises(TypeError, match="must be an ml_networks_jax distribution, got an array"):
        mnj.MixtureSameFamily(jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="for 2 components"):
        mnj.Mixture(jnp.zeros(3), (mnj.Normal(0.0, 1.0), mnj.Gamma(2.0, 1.0)))
    with pytest.raises(ValueError, match="do not broadcast"):
        mnj.Mixture(jnp.zeros(2), (mnj.Normal(jnp.zeros(3), 1.0), mnj.Gamma(jnp.ones(4), 1.0)))
    with pytest.raises(ValueError, match="circular"):
        mnj.MixtureSameFamily(jnp.zeros(2), mnj.VonMises(jnp.zeros(2), 1.0))
    with pytest.raises(TypeError, match="tuple of ml_networks_jax distributions, got "):
        mnj.Mixture(jnp.zeros(2), mnj.Normal(0.0, 1.0))


@float32_only
def test_components_outside_their_support_give_finite_gradients():
    """Normal draws below 0 and above 3 lie outside the Exponential's, HalfNormal's and Uniform's
    support: those components contribute their limits, and no NaN reaches the gradients."""

    def draws(logits, rate, a, low):
        comps = (
            mnj.Normal(0.5, 2.0),
            mnj.Exponential(rate),
            mnj.HalfNormal(a),
            mnj.Uniform(low, 3.0),
        )
        return mnj.Mixture(logits, comps).rsample(jax.random.key(0), (512,))

    args = (jnp.zeros(4, DTYPE), *(jnp.asarray(v, DTYPE) for v in (1.5, 2.0, 1.0)))
    z, jac = jax.jit(lambda *a: (draws(*a), jax.jacrev(draws, argnums=(0, 1, 2, 3))(*a)))(*args)
    z = np.asarray(z)
    assert (z < 0).any() and (z > 3).any()
    for g in jac:
        assert np.all(np.isfinite(g))


@float32_only
def test_mixtures_are_pytrees_under_jit():
    d = mnj.Mixture(jnp.zeros(2, DTYPE), (mnj.Normal(0.0, 1.0), mnj.Laplace(1.0, 2.0)))
    out = jax.jit(lambda d: d)(d)
    assert isinstance(out, mnj.Mixture) and len(out.components) == 2
    np.testing.assert_allclose(jax.jit(lambda d, x: d.log_prob(x))(d, 0.3), d.log_prob(0.3))


# ---- mixtures of Independent (diagonal) components: the distributional transform -------------

K_MV, D_MV = 3, 4
_RNG = np.random.default_rng(0)
MV_LOGITS = _RNG.normal(size=K_MV)
MV_LOC = 2.0 * _RNG.normal(size=(K_MV, D_MV))
MV_SCALE = np.exp(0.3 * _RNG.normal(size=(K_MV, D_MV)))


def _diagonal_mixture(logits, loc, scale):
    return mnj.MixtureSameFamily(logits, mnj.Independent(mnj.Normal(loc, scale), 1))


def _mv_params():
    return tuple(jnp.asarray(v, DTYPE) for v in (MV_LOGITS, MV_LOC, MV_SCALE))


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_mixture_gradient_solves_the_triangular_system(covariance):
    """dz/dθ of a draw, forward and reverse, equals -(∂U/∂z)⁻¹ ∂U/∂θ with both Jacobians of the
    standardizing map U by autodiff and a dense solve: the forward substitution (O(K D), or
    O(K D²) with the cross terms of L⁻¹ for full covariances) is exact."""
    make, params = (
        (_diagonal_mixture, _mv_params())
        if covariance == "diagonal"
        else (_full_mixture, _full_params())
    )
    argnums = (0, 1, 2)

    @jax.jit
    def jacobians(params):  # one program
        d = make(*params)
        z = d.sample(jax.random.key(3), (2,))

        def draw(*p):
            return mnj.reparameterize(make(*p), z)

        def standardized(*p):
            return make(*p)._standardize(z)

        jac_z = jax.vmap(jax.jacfwd(d._standardize))(z)
        d_u = jax.jacfwd(standardized, argnums=argnums)(*params)
        fwd = jax.jacfwd(draw, argnums=argnums)(*params)
        return jac_z, d_u, fwd, jax.jacrev(draw, argnums=argnums)(*params)

    jac_z, d_u, fwd, rev = jacobians(params)
    jac_z = np.asarray(jac_z, np.float64)
    np.testing.assert_array_equal(np.triu(jac_z, 1), 0.0)  # lower triangular
    assert np.abs(np.tril(jac_z, -1)).max() > 1e-3  # the coordinates are coupled
    tol = 1e-12 if X64 else 5e-4
    for i in argnums:
        want = -np.linalg.solve(jac_z, np.asarray(d_u[i], np.float64).reshape(2, D_MV, -1))
        for got in (fwd[i], rev[i]):
            got = np.asarray(got, np.float64).reshape(want.shape)
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.skipif(not X64, reason="finite differences along the implicit coupling, float64")
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_mixture_second_derivatives_follow_the_coupling(covariance):
    """d²z/dloc² by autodiff of the rule against central differences of dz/dloc at the draws
    that keep U(z; θ) fixed (found by Newton's method with the dense Jacobian)."""
    logits, loc, scale = _mv_params()
    if covariance == "diagonal":
        make = functools.partial(_diagonal_mixture, logits, scale=scale)
    else:
        make = functools.partial(_full_mixture, logits, tril=jnp.asarray(_TRIL, DTYPE))
    d = make(loc)
    z = d.sample(jax.random.key(3), ())
    target = d._standardize(z)

    @jax.jit
    def coupled(l):
        dd = make(l)

        def newton(_, zz):
            step = jnp.linalg.solve(jax.jacfwd(dd._standardize)(zz), dd._standardize(zz) - target)
            return zz - step

        return jax.lax.fori_loop(0, 8, newton, z)

    @jax.jit
    def jac(l, zz):
        return jax.jacfwd(lambda m: mnj.reparameterize(make(m), zz))(l)

    hess = jax.jit(jax.jacfwd(lambda l: jac(l, z)))(loc)
    for idx in ((1, 2), (0, 0), (2, 3)):
        e = jnp.zeros_like(loc).at[idx].set(1e-5)
        fd = (jac(loc + e, coupled(loc + e)) - jac(loc - e, coupled(loc - e))) / 2e-5
        # Central differences carry an absolute error of ~eps/h times the scale of the whole
        # second derivative (the Newton points are exact to rounding; measured ~6e-12 here, with
        # max |hess| = 0.27), so the floor is set by that scale, not by a slice that may be all
        # small (loc[2, 3]: |hess| <= 6e-8, whose values it still resolves 200-fold).
        np.testing.assert_allclose(
            hess[..., idx[0], idx[1]], fd, rtol=1e-5, atol=1e-9 * np.abs(hess).max()
        )


@statistical
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_multivariate_mixture_gradients_are_unbiased(covariance):
    """d/d(logits, loc, scale or L) of E[c·z] = Σ w (c·μ) and of E[|z|²] = Σ w (‖S‖² + |μ|²),
    S the scales or the Cholesky factor."""
    make, spread = (_full_mixture, _TRIL) if covariance == "full" else (_diagonal_mixture, MV_SCALE)
    c = np.arange(1.0, D_MV + 1.0)
    w = np.exp(MV_LOGITS) / np.exp(MV_LOGITS).sum()
    w_s = w.reshape((-1,) + (1,) * (spread.ndim - 1))
    m1, m2 = MV_LOC @ c, (spread**2).reshape(K_MV, -1).sum(-1) + (MV_LOC**2).sum(-1)
    cases = [
        (lambda z: (z * jnp.asarray(c, DTYPE)).sum(-1), m1, w[:, None] * c, 0.0 * spread),
        (lambda z: (z**2).sum(-1), m2, 2 * w[:, None] * MV_LOC, 2 * w_s * spread),
    ]
    for h, m, d_loc, d_spread in cases:

        def estimate(key, logits, loc, spread, h=h):
            return h(make(logits, loc, spread).rsample(key, (8_192,))).mean()

        exact = [w * (m - np.sum(w * m)), d_loc, d_spread]
        params = tuple(jnp.asarray(v, DTYPE) for v in (MV_LOGITS, MV_LOC, spread))
        grads = _batched_grads(estimate, params, n=8_192)
        for (mean, se), want in zip(grads, exact, strict=True):
            assert np.all(np.abs(mean - want) <= 4.5 * se + 1e-6), (mean, want, se)


@float32_only
@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_multivariate_mixture_shapes_batching_and_the_single_coordinate_case(covariance):
    full = covariance == "full"
    make, spread = (_full_mixture, _TRIL) if full else (_diagonal_mixture, MV_SCALE)
    cov = _TRIL @ np.swapaxes(_TRIL, -1, -2) if full else MV_SCALE[..., None] ** 2 * np.eye(D_MV)
    logits = jnp.asarray(np.stack([MV_LOGITS, MV_LOGITS[::-1]]), DTYPE)  # batch (2,)
    d = make(logits, jnp.asarray(MV_LOC, DTYPE), jnp.asarray(spread, DTYPE))
    assert (d.batch_shape, d.event_shape) == ((2,), (D_MV,))
    # Event size 1: the same draws as the univariate mixture of normals.
    one = make(MV_LOGITS, MV_LOC[:, :1], spread[:, :1, :1] if full else spread[:, :1])
    uni = _normal_mixture(MV_LOGITS, MV_LOC[:, 0], spread[:, 0, 0] if full else spread[:, 0])

    @jax.jit
    def evaluate(d, one, uni):  # one program
        z = d.rsample(jax.random.key(0), (5,))
        g = jax.grad(lambda s: make(logits, MV_LOC, s).rsample(jax.random.key(1), (5,)).sum())(
            jnp.asarray(spread, DTYPE)
        )
        singles = one.rsample(jax.random.key(2), (7,)), uni.rsample(jax.random.key(2), (7,))
        return z, d.log_prob(z), d.mean(), d.variance(), g, singles

    z, log_prob, mean, variance, g, (draws_one, draws_uni) = evaluate(d, one, uni)
    assert z.shape == (5, 2, D_MV) and log_prob.shape == (5, 2)
    assert mean.shape == (2, D_MV) and variance.shape == (2, D_MV)
    w = np.exp(MV_LOGITS) / np.exp(MV_LOGITS).sum()
    np.testing.assert_allclose(mean[0], w @ MV_LOC, rtol=1e-5)
    np.testing.assert_allclose(variance[0], w @ np.diagonal(cov, axis1=1, axis2=2)
                               + w @ MV_LOC**2 - (w @ MV_LOC) ** 2, rtol=1e-5)  # fmt: skip
    x = np.asarray(z[0, 0], np.float64)
    pdf = [stats.multivariate_normal(MV_LOC[k], cov[k]).pdf(x) for k in range(K_MV)]
    np.testing.assert_allclose(log_prob[0, 0], np.log(w @ pdf), rtol=1e-5)
    assert np.all(np.isfinite(g))
    if full:
        assert np.all(np.triu(np.asarray(g), 1) == 0)
    np.testing.assert_allclose(draws_one[:, 0], draws_uni)


@float32_only
def test_unsupported_event_components_are_refused():
    dirichlet = mnj.Dirichlet(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="Independent.*MultivariateNormal"):
        mnj.MixtureSameFamily(jnp.zeros(2), dirichlet)


# ---- mixtures of full-covariance multivariate normals ------------------------------------------

_TRIL = np.tril(0.4 * _RNG.normal(size=(K_MV, D_MV, D_MV)), -1) + np.stack(
    [np.diag(s) for s in MV_SCALE]
)


def _full_mixture(logits, loc, tril):
    return mnj.MixtureSameFamily(logits, mnj.MultivariateNormal(loc, tril))


def _full_params():
    return tuple(jnp.asarray(v, DTYPE) for v in (MV_LOGITS, MV_LOC, _TRIL))


@float32_only  # precision-independent (MNJ_FULL=1: float64 too)
def test_diagonal_full_covariance_mixture_matches_the_independent_one():
    """With diagonal factors the two mixtures are one distribution: the same draws, densities and
    implicit gradients (through different code: L⁻¹ and conditional normals vs the base family)."""
    logits, loc, _ = _mv_params()
    scale = jnp.asarray(MV_SCALE, DTYPE)
    tril = scale[..., :, None] * jnp.eye(D_MV, dtype=DTYPE)
    key = jax.random.key(4)

    def draws(logits, loc, scale, tril):
        full = _full_mixture(logits, loc, tril).rsample(key, (6,))
        return full, _diagonal_mixture(logits, loc, scale).rsample(key, (6,))

    @jax.jit
    def compare(logits, loc, scale, tril):
        """Draws, densities at the full mixture's draws and gradients of both: one program."""
        z_full, z_diag = draws(logits, loc, scale, tril)
        d_full, d_diag = _full_mixture(logits, loc, tril), _diagonal_mixture(logits, loc, scale)
        log_probs = d_full.log_prob(z_full), d_diag.log_prob(z_full)
        jac = jax.jacrev(draws, argnums=(0, 1))(logits, loc, scale, tril)
        g_scale = jax.grad(lambda s: draws(logits, loc, s, tril)[1].sum())(scale)
        g_tril = jax.grad(lambda t: draws(logits, loc, scale, t)[0].sum())(tril)
        return (z_full, z_diag), log_probs, jac, g_scale, g_tril

    (z_full, z_diag), log_probs, jac, g_scale, g_tril = compare(logits, loc, scale, tril)
    tol = 1e-12 if X64 else 2e-5
    np.testing.assert_allclose(z_full, z_diag, rtol=tol, atol=tol)
    np.testing.assert_allclose(*log_probs, rtol=tol)
    for j_full, j_diag in zip(jac[0], jac[1], strict=True):
        np.testing.assert_allclose(j_full, j_diag, rtol=20 * tol, atol=20 * tol)
    # d/dscale of the Independent mixture is d/dL_dd of the full one.
    np.testing.assert_allclose(
        jnp.diagonal(g_tril, axis1=-2, axis2=-1), g_scale, rtol=20 * tol, atol=20 * tol
    )


@float32_only
def test_event_tangent_in_blocks_matches_one_block(monkeypatch):
    """Large samples are differentiated in blocks of draws (implicit._EVENT_BLOCK scalars of z,
    each block rematerialized in reverse mode): 37 draws of a 3-D mixture in blocks of 4 draws
    (the last padded with copies of a draw) give the gradients of one block, first and second
    order."""
    from ml_networks_jax import implicit

    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=3), DTYPE)
    loc = jnp.asarray(rng.normal(size=(3, 3)), DTYPE)
    scale = jnp.asarray(np.exp(0.3 * rng.normal(size=(3, 3))), DTYPE)

    def loss(logits, loc, scale):
        comps = mnj.Independent(mnj.Normal(loc, scale), 1)
        z = mnj.MixtureSameFamily(logits, comps).rsample(jax.random.key(0), (37,))
        return jnp.sum(jnp.sin(z))

    def grads():  # traced anew by each jax.jit(grads): the block size is read while tracing
        first = jax.grad(loss, argnums=(0, 1, 2))(logits, loc, scale)
        return first, jax.hessian(loss)(logits, loc, scale)

    monkeypatch.setattr(implicit, "_EVENT_BLOCK", 10**6)
    whole = jax.jit(grads)()
    monkeypatch.setattr(implicit, "_EVENT_BLOCK", 12)
    blocked = jax.jit(grads)()
    for u, v in zip(jax.tree.leaves(whole), jax.tree.leaves(blocked), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    assert all(np.isfinite(v).all() for v in jax.tree.leaves(blocked))
