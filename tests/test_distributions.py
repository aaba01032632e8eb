"""Generic test layers (DESIGN.md) over every univariate family in ``cases.CASES``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import (
    CASE_IDS,
    CASES,
    DTYPE,
    HEAVY_SECOND_ORDER,
    TOL,
    TRANSFORM_CASES,
    X64,
    float32_only,
    statistical,
)
from conftest import FULL
from scipy import integrate, stats

import ml_networks_jax as mnj
from ml_networks_jax.distributions.location_scale import LocationScale
from ml_networks_jax.implicit import reparameterize

cases = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
transform_cases = pytest.mark.parametrize("case", TRANSFORM_CASES, ids=repr)


#: Draws per batch element of the program below, which every layer that reads draws shares.
N_DRAWS = 20_000


def _draws_and_jacobians(case):
    """One program per family, its results shared by the layers that need draws (reference
    values, density, KS, the gradient oracle, explicit against implicit, pathwise moments):
    ``N_DRAWS`` draws (key 0) by ``rsample_implicit`` and the Jacobian in every parameter by
    forward mode, ``jac_implicit[name][i, j, m] = dz_ij / dθ_m``; the Jacobian of
    ``reparameterize`` at the first draw (the family's own rule: some families'
    ``rsample_implicit`` goes through another law, e.g. Gamma through ``ExpGamma``); for a family
    with an explicit (location-scale) sampler, its draws and Jacobian too."""
    return _shared(case.name)


@functools.cache
def _shared(name):
    (case,) = (c for c in CASES if c.name == name)
    explicit = getattr(case.dist(), "_explicit", None) is not None
    key = jax.random.key(0)
    params = {k: jnp.asarray(v, DTYPE) for k, v in case.params.items()}

    def draws(params, implicit):  # (draws, draws): the second is jacfwd's auxiliary output
        d = case.make(**params)
        z = (mnj.rsample_implicit if implicit else mnj.rsample)(key, d, (N_DRAWS,))
        return z, z

    @jax.jit
    def program(params):
        jac, z = jax.jacfwd(draws, has_aux=True)(params, True)  # the draws traced once
        first = jax.lax.stop_gradient(z[0])
        out = {
            "implicit": z,
            "jac_implicit": jac,
            "jac_rule": jax.jacfwd(lambda p: reparameterize(case.make(**p), first))(params),
        }
        if explicit:
            out["jac_explicit"], out["explicit"] = jax.jacfwd(draws, has_aux=True)(params, False)
        return out

    return jax.tree.map(lambda v: np.asarray(v, np.float64), program(params))


def _draw(case, n):
    """The first ``n`` of the shared draws (``mnj.sample`` gives the same values)."""
    return _draws_and_jacobians(case)["implicit"][:n]


# ---- 1. density, CDF and moments against an independent reference ---------------------------


@cases
def test_log_prob_and_cdf_match_reference(case):
    z = _draw(case, 64)
    dist, ref = case.dist(), case.ref()
    np.testing.assert_allclose(
        dist.cdf(jnp.asarray(z, DTYPE)), ref.cdf(z), rtol=1e3 * TOL["value"], atol=TOL["value"]
    )
    np.testing.assert_allclose(
        jnp.exp(dist.log_prob(jnp.asarray(z, DTYPE))), ref.pdf(z), rtol=1e3 * TOL["value"]
    )


@float32_only
@cases
def test_density_is_derivative_of_cdf(case):
    z = jnp.asarray(_draw(case, 32), DTYPE)
    dist = case.dist()
    dcdf = jax.jit(jax.vmap(jax.grad(lambda x: jnp.sum(dist.cdf(x)))))(z)
    np.testing.assert_allclose(dcdf, jnp.exp(dist.log_prob(z)), rtol=100 * TOL["value"])


@float32_only
@cases
def test_density_integrates_to_cdf(case):
    """Quadrature of the density between two quantiles equals the CDF difference."""
    dist, ref = case.dist(jnp.float64 if X64 else jnp.float32), case.ref()
    lo, hi = ref.ppf(0.05), ref.ppf(0.8)
    for j in range(len(next(iter(case.params.values())))):

        def pdf(x, j=j):
            return float(jnp.exp(dist.log_prob(jnp.full(dist.batch_shape, x, DTYPE))[j]))

        mass, _ = integrate.quad(pdf, lo[j], hi[j], epsabs=0, epsrel=1e-10 if X64 else 1e-5)
        expected = float(dist.cdf(jnp.asarray(hi, DTYPE))[j] - dist.cdf(jnp.asarray(lo, DTYPE))[j])
        np.testing.assert_allclose(mass, expected, rtol=1e3 * TOL["value"])


@cases
def test_moments_and_entropy_match_reference(case):
    dist, ref = case.dist(), case.ref()
    if case.moments and hasattr(ref, "mean"):
        np.testing.assert_allclose(dist.mean(), ref.mean(), rtol=1e3 * TOL["value"])
        np.testing.assert_allclose(dist.variance(), ref.var(), rtol=1e3 * TOL["value"])
        np.testing.assert_allclose(dist.stddev(), ref.std(), rtol=1e3 * TOL["value"])
    if hasattr(ref, "entropy"):
        np.testing.assert_allclose(
            dist.entropy(), ref.entropy(), rtol=1e3 * TOL["value"], atol=1e3 * TOL["value"]
        )


# ---- 2. the implicit gradient against a finite-difference CDF oracle ------------------------


def fd_oracle(case, z, name, rel_step=1e-6):
    """``-(∂F/∂θ)/q`` at ``z`` from central differences of the reference CDF, in float64."""
    params = {k: np.asarray(v, np.float64) for k, v in case.params.items()}
    h = rel_step * np.maximum(1.0, np.abs(params[name]))
    up, down = dict(params), dict(params)
    up[name], down[name] = params[name] + h, params[name] - h
    dcdf = (case.reference(**up).cdf(z) - case.reference(**down).cdf(z)) / (2 * h)
    return -dcdf / case.reference(**params).pdf(z)


@cases
def test_implicit_gradient_matches_cdf_oracle(case):
    """dz/dθ at the first draw of each batch element, by the family's rule (``reparameterize``)
    and by ``rsample_implicit``, against ``-(∂F/∂θ)/q`` from finite differences of scipy's CDF:
    element j moves with its own parameter j only (the other entries exactly 0)."""
    out = _draws_and_jacobians(case)
    z = out["implicit"][0]
    for name in case.params:
        want = np.diag(fd_oracle(case, z, name))
        for how, got in (("rule", out["jac_rule"][name]), ("draw", out["jac_implicit"][name][0])):
            np.testing.assert_allclose(
                got,
                want,
                rtol=max(TOL["grad"], 1e-6),
                atol=TOL["grad_atol"] * np.abs(want).max(),
                err_msg=f"{name} ({how})",
            )


@float32_only
@cases
def test_explicit_and_implicit_agree(case):
    """A location-scale family's explicit sampler gives the same draws and the same gradients
    as the implicit rule, to float tolerance (a family without one has ``rsample =
    rsample_implicit``)."""
    out = _draws_and_jacobians(case)
    if "explicit" not in out:
        pytest.skip("no explicit sampler")
    np.testing.assert_array_equal(out["explicit"], out["implicit"])
    # A LocationScale family's rule is -(dloc + u dscale) itself; the only rounding between the
    # two is u = (z - loc)/scale recomputed from the draw (measured: <= 2 eps of the scale).
    # Jacobians of the first 7 draws, each against the largest entry of those 7 (a tolerance
    # scaled by the largest of all 20,000 would grow with the sample's extreme draws).
    exact = isinstance(case.dist(), LocationScale)
    tol = 8 * float(jnp.finfo(DTYPE).eps) if exact else 50 * TOL["explicit"]
    for name in case.params:
        explicit, implicit = out["jac_explicit"][name][:7], out["jac_implicit"][name][:7]
        scale = float(np.abs(explicit).max())
        np.testing.assert_allclose(implicit, explicit, atol=tol * scale, err_msg=name)


# ---- 3. Monte Carlo pathwise checks against analytic gradients of moments -------------------


@statistical
@cases
def test_pathwise_gradient_of_moments(case):
    """d/dθ of the sample mean of z and z² over the shared draws (implicit rule) against the
    derivatives of the closed-form moments."""
    if not case.moments:
        pytest.skip("no finite moments")

    def exact(params):
        d = case.make(**params)
        return jnp.stack([d.mean(), d.variance() + d.mean() ** 2])

    params = {k: jnp.asarray(v, DTYPE) for k, v in case.params.items()}
    want = jax.jit(jax.jacfwd(exact))(params)
    out = _draws_and_jacobians(case)
    z = out["implicit"][..., None]
    for name in params:
        jac = out["jac_implicit"][name]
        g = np.stack([jac.mean(0), (2 * z * jac).mean(0)])
        w = np.asarray(want[name])
        np.testing.assert_allclose(g, w, rtol=0.05, atol=0.05 * np.abs(w).max(), err_msg=name)


# ---- 4. the draws follow the distribution ------------------------------------------------


@statistical
@cases
def test_samples_pass_ks(case):
    z = _draw(case, 4000)
    ref = case.ref()
    for j in range(z.shape[1]):
        frozen = case.reference(**{k: v[j] for k, v in case.params.items()})
        result = stats.kstest(z[:, j], frozen.cdf)
        assert result.pvalue > 1e-3, (case.name, j, result)
    assert ref is not None


# ---- 5. transformations --------------------------------------------------------------------


@float32_only
@transform_cases
def test_jit_matches_eager_and_does_not_retrace(case, key):
    traces = []

    def f(dist, key):
        traces.append(1)
        z = mnj.rsample(key, dist, (5,))
        return z, mnj.log_prob(dist, z)

    jf = jax.jit(f)
    dist = case.dist()
    z_jit, lp_jit = jf(dist, key)
    z, lp = f(dist, key)
    np.testing.assert_allclose(z_jit, z, rtol=10 * TOL["value"])
    np.testing.assert_allclose(lp_jit, lp, rtol=100 * TOL["value"], atol=100 * TOL["value"])
    jf(case.dist(), jax.random.key(1))  # new values, same structure: no new trace
    assert len(traces) == 2  # one trace for jit, one eager call


@float32_only
@transform_cases
def test_vmap_over_distribution_pytree(case, key):
    dist = case.dist()
    keys = jax.random.split(key, 3)
    draw = jax.jit(lambda d, k: mnj.rsample(k, d, (4,)))
    mapped = jax.jit(jax.vmap(draw))(dist, keys)
    assert mapped.shape == (3, 4)
    for j in range(3):
        single = jax.tree.map(lambda leaf, j=j: leaf[j], dist)
        np.testing.assert_allclose(mapped[j], draw(single, keys[j]), rtol=10 * TOL["value"])


@float32_only
@transform_cases
def test_forward_and_reverse_mode_agree(case, key):
    params = {k: jnp.asarray(v, DTYPE) for k, v in case.params.items()}

    def f(params):
        return mnj.rsample_implicit(key, case.make(**params), (3,))

    fwd, rev = jax.jit(lambda p: (jax.jacfwd(f)(p), jax.jacrev(f)(p)))(params)
    for name in params:
        np.testing.assert_allclose(fwd[name], rev[name], rtol=10 * TOL["value"], atol=1e-6)


@float32_only
@cases
def test_second_order_matches_finite_difference_of_gradient(case, key):
    """``d²z/dθ²`` from jax.hessian against central differences of dz/dθ along the quantile path.

    The implicit gradient transports ``z`` at a fixed CDF level ``u = F(z; θ)``, so the reference
    differentiates dz/dθ between ``z(θ ± h) = F⁻¹(u; θ ± h)`` (scipy, float64).
    """
    if case.name in HEAVY_SECOND_ORDER and not FULL:
        pytest.skip("compile-heavy: second order of these rules runs in their own test files")
    base = {k: np.float64(v[1]) for k, v in case.params.items()}
    z0 = float(np.asarray(mnj.sample(key, case.dist())[1], np.float64))
    u = case.reference(**base).cdf(z0)
    params = {k: jnp.asarray(v, DTYPE) for k, v in base.items()}
    for name in case.params:

        def z_of(t, z, name=name):
            return reparameterize(case.make(**{**params, name: t}), z)

        def z_at(value, name=name):
            return case.reference(**{**base, name: value}).ppf(u)

        dz = jax.jit(jax.grad(z_of))
        h = (1e-5 if X64 else 1e-2) * max(1.0, abs(base[name]))
        fd = (
            dz(jnp.asarray(base[name] + h, DTYPE), jnp.asarray(z_at(base[name] + h), DTYPE))
            - dz(jnp.asarray(base[name] - h, DTYPE), jnp.asarray(z_at(base[name] - h), DTYPE))
        ) / (2 * h)
        second = jax.jit(jax.hessian(z_of))(params[name], jnp.asarray(z0, DTYPE))
        np.testing.assert_allclose(
            second,
            fd,
            rtol=1e-5 if X64 else 3e-2,
            atol=(1e-7 if X64 else 1e-3) * max(1.0, abs(float(fd))),
            err_msg=name,
        )


@cases
def test_dtype_is_preserved(case, key):
    """Abstract evaluation (no compilation): draws, densities and parameter gradients keep the
    dtype, and the gradient is a distribution of the same family."""
    dist = case.dist()

    def outputs(dist):
        z = mnj.rsample(key, dist, (2,))
        grad = jax.grad(lambda d: mnj.rsample_implicit(key, d).sum())(dist)
        return z, mnj.log_prob(dist, z), grad

    z, log_p, grad = jax.eval_shape(outputs, dist)
    assert z.dtype == log_p.dtype == DTYPE
    assert type(grad) is type(dist)
    assert all(leaf.dtype == DTYPE for leaf in jax.tree.leaves(grad))


# ---- 6. bad input --------------------------------------------------------------------------


@float32_only
@transform_cases
def test_nan_parameters_give_nan_not_hang(case, key):
    dist = case.dist(**{name: (np.nan,) * 3 for name in list(case.params)[:1]})
    z = jax.jit(lambda d: mnj.rsample(key, d, (3,)))(dist)
    assert np.isnan(np.asarray(z)).all()


@cases
def test_non_broadcasting_parameters_raise(case):
    if len(case.params) < 2:
        pytest.skip("one parameter")
    first, second, *rest = list(case.params)
    others = {k: 1.0 for k in rest}
    with pytest.raises(ValueError, match="do not broadcast"):
        case.make(**{first: jnp.ones(3), second: jnp.ones(4)}, **others)


@cases
def test_integer_arrays_are_rejected(case):
    name = next(iter(case.params))
    others = {k: 1.0 for k in case.params if k != name}
    with pytest.raises(TypeError, match="floating dtype"):
        case.make(**{name: jnp.ones(3, jnp.int32)}, **others)


def test_sample_shape_convention(key):
    d = mnj.Normal(jnp.zeros((2, 3)), 1.0)
    assert mnj.sample(key, d, (4, 5)).shape == (4, 5, 2, 3)
    assert mnj.sample(key, d, 4).shape == (4, 2, 3)
    assert d.batch_shape == (2, 3) and d.event_shape == ()
