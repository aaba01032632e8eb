"""Values at the ends of the support, outside it, and for invalid parameters (DESIGN.md, layer 6).

A log density at an end of the support is its limit there; outside the support log densities are
``-inf`` and CDFs exactly 0 or 1; ``icdf(p)`` is NaN for ``p`` outside ``[0, 1]`` and the support's
ends at 0 and 1; invalid parameters (non-positive scales and shapes, NaN anywhere) give NaN for
every method and every draw, leaving valid elements of the same batch untouched.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from cases import CASE_IDS, CASES, DTYPE, X64, float32_only

import ml_networks_jax as mnj

cases = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
INF, NAN = math.inf, math.nan


# ---- the ends of the support ----------------------------------------------------------------

END_LIMITS = [
    # (family, parameters, x, limit of the log density at x)
    ("Gamma", (1.0, 3.0), 0.0, math.log(3.0)),
    ("Gamma", (0.5, 3.0), 0.0, INF),
    ("Gamma", (2.0, 3.0), 0.0, -INF),
    ("Chi2", (2.0,), 0.0, math.log(0.5)),
    ("Chi2", (3.0,), 0.0, -INF),
    ("FisherSnedecor", (2.0, 5.0), 0.0, 0.0),
    ("FisherSnedecor", (1.0, 5.0), 0.0, INF),
    ("FisherSnedecor", (4.0, 5.0), 0.0, -INF),
    ("Kumaraswamy", (1.0, 1.0), 0.0, 0.0),
    ("Kumaraswamy", (1.0, 1.0), 1.0, 0.0),
    ("Kumaraswamy", (1.0, 3.0), 0.0, math.log(3.0)),
    ("Kumaraswamy", (2.0, 1.0), 1.0, math.log(2.0)),
    ("Kumaraswamy", (0.5, 3.0), 0.0, INF),
    ("Kumaraswamy", (2.0, 0.5), 1.0, INF),
    ("Kumaraswamy", (2.0, 3.0), 1.0, -INF),
    ("Weibull", (2.0, 1.0), 0.0, -math.log(2.0)),
    ("Weibull", (2.0, 0.5), 0.0, INF),
    ("Exponential", (3.0,), 0.0, math.log(3.0)),
    ("HalfNormal", (2.0,), 0.0, 0.5 * math.log(2.0 / math.pi) - math.log(2.0)),
    ("Beta", (1.0, 3.0), 0.0, math.log(3.0)),
    ("Beta", (2.0, 1.0), 1.0, math.log(2.0)),
    ("Uniform", (-1.0, 3.0), 3.0, -math.log(4.0)),
]


@pytest.mark.parametrize("name, params, x, limit", END_LIMITS)
def test_log_density_at_an_end_is_its_limit(name, params, x, limit):
    dist = getattr(mnj, name)(*(jnp.asarray(p, DTYPE) for p in params))
    got = float(dist.log_prob(jnp.asarray(x, DTYPE)))
    if math.isinf(limit):
        assert got == limit
    else:
        # absolute in log space: the relative error of the density
        eps = float(jnp.finfo(DTYPE).eps)
        np.testing.assert_allclose(got, limit, rtol=0, atol=8 * eps * max(1.0, abs(limit)))
        # and the density approaches it: one step inside the end
        inside = x + (1e-6 if x == 0 else -1e-6)
        near = float(dist.log_prob(jnp.asarray(inside, DTYPE)))
        assert abs(near - limit) < 1e-4, near


# ---- outside the support -------------------------------------------------------------------


_LIMIT_METHODS = ("log_prob", "cdf", "log_cdf", "log_survival")


def _limit(method, below):
    """The value of ``method`` below the support (``below``) or above it."""
    return {"log_prob": (-INF, -INF), "cdf": (0.0, 1.0), "log_cdf": (-INF, 0.0),
            "log_survival": (0.0, -INF)}[method][0 if below else 1]  # fmt: skip


@jax.jit
def _at(dist, x):
    """The four pointwise methods at the rows of ``x`` (shape ``(points,) + batch_shape``) and,
    per method and row, the gradient of the row's sum in every parameter, one program.  Each
    method's gradient at each row on its own: a gradient of several rows or methods together
    would multiply the zero cotangents of the others by their partials, infinite at an end."""
    values = jnp.stack([getattr(dist, m)(x) for m in _LIMIT_METHODS])

    def gradients(method):
        row_grad = jax.grad(lambda d, row: jnp.sum(getattr(d, method)(row)))
        return jax.vmap(row_grad, in_axes=(None, 0))(dist, x)

    return values, jax.tree.map(lambda *g: jnp.stack(g), *map(gradients, _LIMIT_METHODS))


@float32_only
@cases
def test_values_and_gradients_at_and_beyond_the_ends(case):
    """log_prob, cdf, log_cdf and log_survival at ±inf, at each finite end of the support and one
    unit beyond it.  Outside the support (±inf included): the limits exactly and gradients exactly
    zero in every parameter (a mixture, or a likelihood over data outside the support, must get
    neither NaN nor a pull); at an end: never NaN, in the value or the gradient (d/dθ of log 0
    may be -inf there).  Circular laws have no ends."""
    if case.name == "VonMises":
        pytest.skip("circular: no limits at ±inf")
    dist = case.dist()
    low, high = (np.asarray(v, np.float64) for v in dist.support())
    # (points, whether they lie below the support, at an end)
    rows = [(np.full_like(low, -INF), True, False), (np.full_like(high, INF), False, False)]
    for ends, below in ((low, True), (high, False)):
        if np.all(np.isfinite(ends)):
            rows += [(ends, below, True), (ends + (-1.0 if below else 1.0), below, False)]
    values, grads = _at(dist, jnp.asarray(np.stack([r[0] for r in rows]), DTYPE))
    values = np.asarray(values, np.float64)
    grads = [np.asarray(g, np.float64) for g in jax.tree.leaves(grads)]
    for i, method in enumerate(_LIMIT_METHODS):
        for j, (x, below, at_end) in enumerate(rows):
            what = (method, x.tolist())
            if at_end:
                assert not np.any(np.isnan(values[i, j])), what
                assert not any(np.any(np.isnan(g[i, j])) for g in grads), what
            else:
                np.testing.assert_array_equal(values[i, j], _limit(method, below), str(what))
                for g in grads:
                    np.testing.assert_array_equal(g[i, j], 0.0, str(what))


def test_cauchy_cdf_is_exact_in_the_tails():
    d = mnj.Cauchy(jnp.asarray(0.0, DTYPE), jnp.asarray(1.0, DTYPE))
    x = jnp.asarray([-INF, -1e30, 1e30, INF], DTYPE)
    got = np.asarray(d.cdf(x), np.float64)
    assert got[0] == 0.0 and got[3] == 1.0
    np.testing.assert_allclose(got[1], 1 / (math.pi * 1e30), rtol=1e-6)  # ½ + atan/π gave 0
    np.testing.assert_allclose(got[2], 1.0)
    np.testing.assert_allclose(
        float(d.log_survival(jnp.asarray(1e30, DTYPE))), -math.log(math.pi * 1e30), rtol=1e-6
    )


def test_discrete_and_simplex_values_outside_the_support():
    bern = mnj.Bernoulli(logits=jnp.asarray(0.3, DTYPE))
    got = np.asarray(bern.log_prob(jnp.asarray([0.5, 2.0, -1.0, 0.0, 1.0], DTYPE)))
    assert np.all(got[:3] == -INF) and np.all(np.isfinite(got[3:]))
    cat = mnj.OneHotCategorical(logits=jnp.zeros(3, DTYPE))
    x = jnp.asarray([[0.5, 0.5, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], DTYPE)
    np.testing.assert_array_equal(cat.log_prob(x)[:3], -INF)
    np.testing.assert_allclose(cat.log_prob(x)[3], -math.log(3.0), rtol=1e-6)
    d = mnj.Dirichlet(jnp.asarray([1.0, 2.0, 3.0], DTYPE))
    off = jnp.asarray([[0.5, 0.6, 0.7], [1.2, -0.1, -0.1], [0.2, 0.3, 0.4]], DTYPE)
    np.testing.assert_array_equal(d.log_prob(off), -INF)


@pytest.mark.parametrize("k", [3, 1000])
@pytest.mark.parametrize("alpha", [0.7, 1e-3])
def test_dirichlet_draws_lie_on_the_simplex(key, k, alpha):
    """The simplex check tolerates the rounding of normalized vectors: the library's draws
    (``|log g| ~ 1e3`` at α = 1e-3) and softmax outputs are on the simplex (log density not
    ``-inf`` or NaN; a coordinate that underflows to 0 at α < 1 gives the limit ``+inf``)."""
    d = mnj.Dirichlet(jnp.full((k,), alpha, DTYPE))
    x = d.sample(key, (200,))
    soft = jax.nn.softmax(jax.random.normal(key, (200, k), DTYPE), -1)
    log_density = np.asarray(d.log_prob(x))
    assert np.all(log_density > -np.inf), log_density  # NaN fails too
    assert np.all(np.isfinite(np.asarray(d.log_prob(soft))))


# ---- quantiles -----------------------------------------------------------------------------


def _icdf_cases():
    out = []
    for case in CASES:
        try:
            jax.eval_shape(case.dist().icdf, jnp.zeros((3,), DTYPE))
        except NotImplementedError:
            continue
        out.append(case)
    return out


@float32_only
@pytest.mark.parametrize("case", _icdf_cases(), ids=repr)
def test_icdf_outside_and_at_the_ends_of_zero_one(case):
    """NaN for p outside [0, 1], the support's ends (±inf where unbounded) at 0 and 1, and
    finite gradients there."""
    dist = case.dist()
    low, high = (np.asarray(v, np.float64) for v in dist.support())
    p = jnp.asarray([-0.1, 0.0, 1.0, 1.1, np.nan], DTYPE)[:, None]
    got = np.asarray(dist.icdf(p), np.float64)
    assert np.all(np.isnan(got[[0, 3, 4]]))
    np.testing.assert_array_equal(got[1], low)
    np.testing.assert_array_equal(got[2], high)
    grads = jax.grad(lambda d: jnp.sum(d.icdf(p[1:3])))(dist)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


def test_cauchy_quantiles_at_zero_one_and_in_the_tails():
    d = mnj.Cauchy(jnp.asarray(0.0, DTYPE), jnp.asarray(1.0, DTYPE))
    got = np.asarray(d.icdf(jnp.asarray([0.0, 1.0, 1e-20, 0.5], DTYPE)), np.float64)
    assert got[0] == -INF and got[1] == INF
    np.testing.assert_allclose(got[2], -1 / (math.pi * 1e-20), rtol=1e-6)
    assert abs(got[3]) < 1e-15


# ---- invalid parameters ---------------------------------------------------------------------

#: Parameters that must be positive, per family (the others only must not be NaN).
POSITIVE = {
    "Normal": ("scale",), "Laplace": ("scale",), "Logistic": ("scale",), "Gumbel": ("scale",),
    "Cauchy": ("scale",), "Exponential": ("rate",), "HalfNormal": ("scale",),
    "LogNormal": ("scale",), "Weibull": ("scale", "concentration"),
    "Kumaraswamy": ("concentration1", "concentration0"), "Gamma": ("concentration", "rate"),
    "InverseGamma": ("concentration", "scale"), "Beta": ("concentration1", "concentration0"),
    "StudentT": ("df", "scale"), "FisherSnedecor": ("df1", "df2"),
    "VonMises": ("concentration",), "TruncatedNormal": ("scale",), "Chi2": ("df",),
    "Uniform": (),
}  # fmt: skip
#: Samplers with a retry path belong to tests/test_sampler_isolation.py (not checked here).
RETRY_SAMPLERS = {"Gamma", "InverseGamma", "Beta", "StudentT", "FisherSnedecor", "VonMises",
                  "TruncatedNormal", "Chi2"}  # fmt: skip


def _invalid_variants(case):
    """(parameter, value) pairs that make a distribution invalid."""
    out = []
    for name in case.params:
        out.append((name, NAN))
        if name in POSITIVE[case.name]:
            out += [(name, -1.0), (name, 0.0)]
    if case.name in ("Uniform", "TruncatedNormal"):  # low >= high
        out.append(("high", -5.0))
    return out


@jax.jit
def _methods(dist, key):
    """Every value method at one point, and four draws."""
    out = {}
    for m in ("mean", "variance", "mode", "entropy"):
        try:
            out[m] = getattr(dist, m)()
        except NotImplementedError:
            pass
    x = jnp.asarray(0.5, dist.dtype)
    for m in ("log_prob", "cdf", "log_cdf", "log_survival"):
        out[m] = getattr(dist, m)(x)
    try:
        out["icdf"] = dist.icdf(jnp.asarray(0.3, dist.dtype))
    except NotImplementedError:
        pass
    return out, dist.sample(key, (4,))


@float32_only
@cases
def test_invalid_parameters_give_nan_everywhere(case, key):
    """Element 0 of a batch of 3 gets an invalid value; every method (and, for the samplers
    without a retry path, every draw) is NaN there and unchanged at the valid elements."""
    want, _ = _methods(case.dist(), key)
    for name, bad in _invalid_variants(case):
        values = {k: np.array(v, np.float64) for k, v in case.params.items()}
        values[name][0] = bad
        got, draws = _methods(case.dist(**values), key)
        for method, value in got.items():
            value, reference = np.asarray(value), np.asarray(want[method])
            assert np.isnan(value[0]), (name, bad, method, value)
            np.testing.assert_array_equal(value[1:], reference[1:], err_msg=f"{name} {method}")
        if case.name not in RETRY_SAMPLERS:
            draws = np.asarray(draws)
            assert np.all(np.isnan(draws[:, 0])) and np.all(np.isfinite(draws[:, 1:])), name


def _event_and_discrete():
    return [
        (mnj.Dirichlet, {"concentration": [[1.0, 2.0, 3.0], [0.5, 0.5, 2.0]]}, [0.2, 0.3, 0.5]),
        (
            mnj.MultivariateNormal,
            {"loc": [[0.0, 1.0], [2.0, -1.0]], "scale_tril": [[[1.0, 0.0], [0.5, 2.0]]] * 2},
            [0.3, 0.4],
        ),
        (lambda logits: mnj.Bernoulli(logits=logits), {"logits": [0.3, -2.0]}, 1.0),
        (
            lambda logits: mnj.OneHotCategorical(logits=logits),
            {"logits": [[0.1, 0.2, 0.3], [1.0, 0.0, -1.0]]},
            [0.0, 1.0, 0.0],
        ),  # fmt: skip
    ]


@float32_only
@pytest.mark.parametrize("make, params, x", _event_and_discrete())
def test_invalid_parameters_of_event_and_discrete_families(make, params, x, key):
    """NaN in the first entry of a parameter (a non-positive concentration or diagonal entry of
    the Cholesky factor) in the first batch element: NaN for every method there, the second
    element untouched; the explicit samplers' draws likewise."""
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}

    def evaluate(d):
        out = {"log_prob": d.log_prob(jnp.asarray(x, DTYPE)), "entropy": d.entropy()}
        return out | {m: getattr(d, m)() for m in ("mean", "variance", "mode")}

    want = evaluate(make(**{k: jnp.asarray(v, DTYPE) for k, v in params.items()}))
    variants = [(k, np.nan) for k in params]
    variants += [(k, v) for k in ("concentration", "scale_tril") if k in params for v in (-1, 0)]
    for target, bad in variants:
        values = {k: v.copy() for k, v in params.items()}
        values[target].reshape(len(values[target]), -1)[0, 0] = bad  # first entry of element 0
        dist = make(**{k: jnp.asarray(v, DTYPE) for k, v in values.items()})
        for method, value in evaluate(dist).items():
            value = np.asarray(value)
            assert np.all(np.isnan(value[0])), (target, bad, method, value)
            np.testing.assert_array_equal(value[1:], np.asarray(want[method])[1:])
        if isinstance(dist, mnj.MultivariateNormal):
            draws = np.asarray(dist.sample(key, (3,)))
            assert np.all(np.isnan(draws[:, 0])) and np.all(np.isfinite(draws[:, 1:]))


def test_the_issues_invalid_examples():
    """The examples of the issue: NaN low of a Uniform, NaN loc of a TruncatedNormal, NaN
    logits of a Bernoulli, negative shapes."""
    f = lambda v: jnp.asarray(v, DTYPE)  # noqa: E731
    assert np.isnan(mnj.Uniform(f(NAN), f(1.0)).log_prob(f(0.5)))
    assert np.isnan(mnj.TruncatedNormal(f(NAN), f(1.0), f(-1.0), f(1.0)).variance())
    assert np.isnan(mnj.Bernoulli(logits=f(NAN)).log_prob(f(1.0)))
    assert np.isnan(mnj.Gamma(f(-2.0), f(1.0)).variance())
    assert np.isnan(mnj.Beta(f(-2.0), f(1.0)).variance())
    assert np.isnan(mnj.Normal(f(0.0), f(-1.0)).cdf(f(0.5)))


# ---- moments that cancelled or overflowed --------------------------------------------------


def test_kumaraswamy_variance_does_not_cancel():
    """``E[z²] - E[z]²`` cancelled to -5.7e-8 at a = 1e4, b = 15.85 (true 1.6e-8)."""
    a, b = 1e4, 15.85
    a32, b32 = (float(np.asarray(v, DTYPE)) for v in (a, b))
    with mp.workdps(50):
        ma, mb = mp.mpf(a32), mp.mpf(b32)
        m1, m2 = mb * mp.beta(1 + 1 / ma, mb), mb * mp.beta(1 + 2 / ma, mb)
        want = float(m2 - m1 * m1)
    got = float(mnj.Kumaraswamy(jnp.asarray(a, DTYPE), jnp.asarray(b, DTYPE)).variance())
    np.testing.assert_allclose(got, want, rtol=1e-12 if X64 else 2e-6)


def test_weibull_variance_is_infinite_not_nan_and_does_not_cancel():
    """At concentration 1e-3 the variance overflows (+inf, was inf - inf = NaN); at 1e4 the
    closed form ``Γ(1 + 2/k) - Γ(1 + 1/k)²`` cancelled to ~1e-8 relative."""
    d = mnj.Weibull(jnp.asarray([1.0, 1.0], DTYPE), jnp.asarray([1e-3, 1e4], DTYPE))
    got = np.asarray(d.variance(), np.float64)
    assert got[0] == INF
    k = mp.mpf(float(np.asarray(1e4, DTYPE)))
    with mp.workdps(50):
        want = float(mp.gamma(1 + 2 / k) - mp.gamma(1 + 1 / k) ** 2)
    np.testing.assert_allclose(got[1], want, rtol=1e-12 if X64 else 2e-6)


def test_infinite_moments_are_infinite():
    f = lambda v: jnp.asarray(v, DTYPE)  # noqa: E731
    ig = mnj.InverseGamma(f([0.5, 1.5, 3.0]), f(1.0))
    np.testing.assert_array_equal(ig.mean()[:1], INF)
    np.testing.assert_array_equal(ig.variance()[:2], INF)
    fs = mnj.FisherSnedecor(f(3.0), f([1.5, 3.0, 5.0]))
    np.testing.assert_array_equal(fs.mean()[:1], INF)
    np.testing.assert_array_equal(fs.variance()[:2], INF)
    assert np.all(np.isfinite(np.asarray(ig.variance()[2:]))) and np.isfinite(fs.variance()[2])
