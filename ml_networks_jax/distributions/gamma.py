"""The Gamma family: ``Gamma``, ``Chi2`` and ``ExpGamma`` (the law of ``log z`` for Gamma ``z``).

Sampling is Marsaglia & Tsang's (2000) squeeze-free rejection method, vectorized: every element
first tries one candidate; the few elements whose candidate was rejected (at most ~5% of them, for
any shape) are gathered into a buffer of static size and retried there, four candidates at a time,
for a bounded number of rounds; batches longer than 65,536 block by block (each with its own key,
``fold_in``), so that one block's random bits and buffers are all that is live at once (figures
in ``benchmarks/README.md``). Every element draws its candidates from random streams of its own
(numbered by its position and its count of tries), so its draw depends on its own shape only:
which other elements are rejected, invalid (NaN out, never retried) or crowd the buffer changes
nothing. Shapes ``α < 1`` use the boost ``Gamma(α) = Gamma(α + 1) · U^(1/α)``, taken in log
space, so ``log z`` is exact even where ``z`` itself underflows (``α ≲ 0.01`` in float32).

Gradients are implicit (no location-scale form exists for the shape): the engine's
``-(∂F/∂θ)/q`` with the incomplete gamma function's accurate derivative in ``α``
(:mod:`ml_networks_jax.special.gamma`). ``Gamma`` draws go through ``ExpGamma``, i.e. the
gradient is ``dz/dθ = z · d(log z)/dθ``, exact for tiny shapes.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special as jsp

from ml_networks_jax._indices import (
    draw_in_blocks,
    nan_unless,
    on_bucket,
    stream_uniforms,
    true_indices,
)
from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    Distribution,
    checked,
    dense_tangent,
    distribution,
    log_density_at_end,
    param,
)
from ml_networks_jax.special.gamma import (
    gammainc,
    gammainc_log,
    gammainc_log_shape_tangent,
    gammaincc,
    log_exp_gamma_density,
    log_gamma_density,
)

_RETRY_CANDIDATES = 4  # per element and round in the retry buffer: rejection <= 0.05⁴
_RETRY_ROUNDS = 8
_STREAMS = 1 + _RETRY_ROUNDS  # random streams per element: its first candidate, then one a retry


def _signed_uniforms(key: PRNGKey, streams: Array, n: int, dtype) -> Array:
    """``n`` uniform variates on the open interval ``(-1, 1)`` per stream, ``(n,) + shape``."""
    low = np.nextafter(np.asarray(-1.0, dtype), np.asarray(0.0, dtype))
    return jnp.maximum(2.0 * stream_uniforms(key, streams, n, dtype) - 1.0, low)


def _marsaglia_tsang(v: Array, d: Array) -> tuple[Array, Array, Array]:
    """``n`` candidates per element of ``d = α - 1/3`` (α >= 1), the first accepted one kept,
    from uniforms ``v`` on ``(-1, 1)`` of shape ``(2, n) + d.shape``.

    A candidate ``x ~ N(0, 1)``, ``v = (1 + x/√(9d))³`` is accepted when ``v > 0`` and
    ``U < h(x) = exp(x²/2 + d - d v + d log v)`` (``h <= 1``); then ``d·v ~ Gamma(α)``.

    Returns ``(log v, log(U / h(x)), accepted?)``. Given acceptance, ``U / h(x)`` is a uniform
    variate independent of ``v``: the boost for ``α < 1`` reuses it instead of drawing another.
    """
    # Uniforms on (-1, 1) serve both: x = √2 erf⁻¹(v₀) as in jax.random.normal, U = (1 + v₁)/2.
    x = np.sqrt(2.0).astype(d.dtype) * jax.lax.erf_inv(v[0])
    log_u = jnp.log1p(v[1]) - np.log(2.0).astype(d.dtype)
    t = 1.0 + x * jax.lax.rsqrt(9.0 * d)
    positive = t > 0
    log_v = 3.0 * jnp.log(jnp.where(positive, t, 1.0))
    log_u_over_h = log_u - (0.5 * x * x + d - d * jnp.exp(log_v) + d * log_v)
    accept = positive & (log_u_over_h < 0)
    if v.shape[1] == 1:
        return log_v[0], log_u_over_h[0], accept[0]
    first = jnp.argmax(accept, axis=0)[None]
    pick = lambda v: jnp.take_along_axis(v, first, axis=0)[0]  # noqa: E731
    return pick(log_v), pick(log_u_over_h), jnp.any(accept, axis=0)


def _retry_buffer(size: int) -> int:
    """The retry buffer's static size: above the expected rejections (<= 5% of ``size``)."""
    return max(64, size // 16)


def log_standard_gamma(key: PRNGKey, alpha: Array) -> Array:
    """``log z`` for ``z ~ Gamma(alpha, 1)``, one draw per element of ``alpha`` (any shape).

    Every element tries one Marsaglia–Tsang candidate (accepted with probability >= 0.95); the
    rejected ones, gathered into a buffer of static size, retry four candidates at a time for at
    most ``_RETRY_ROUNDS`` rounds; in blocks of at most 65,536 elements, each with its own key.
    Shapes ``α < 1`` use ``Gamma(α) = Gamma(α + 1) · U^(1/α)``, in log space.
    Computed in at least float32. NaN where ``alpha`` is invalid (NaN, ``<= 0`` or ``+inf``):
    such elements never enter the retry buffer. An element's draw depends only on the key, its
    position and its own ``alpha``, never on the other elements. An element still rejected after
    every round (probability below 1e-20) comes back NaN rather than biased.
    """
    alpha = jnp.asarray(alpha)
    dtype = alpha.dtype if jnp.finfo(alpha.dtype).bits >= 32 else jnp.float32
    # One compilation per bucketed length (on_bucket): the padding leaves every draw unchanged.
    return on_bucket(_log_standard_gamma_1d, (alpha.astype(dtype),), (1.0,), key)


@jax.jit
def _log_standard_gamma_1d(key: PRNGKey, alpha: Array) -> Array:
    """:func:`log_standard_gamma` of a 1-D ``alpha``, in blocks."""
    return draw_in_blocks(_log_standard_gamma_flat, key, (alpha,), (1.0,))


def _log_standard_gamma_flat(key: PRNGKey, alpha: Array) -> Array:
    """:func:`log_standard_gamma` of a 1-D ``alpha`` (one block).

    The candidates of element ``i`` come from random streams of its own (``stream_uniforms``),
    ``i·_STREAMS`` for the first and ``i·_STREAMS + 1 + r`` for its ``r``-th retry, not from its
    slot in the buffer: which other elements were rejected (or are invalid, or crowd the buffer
    for a round) does not change its draw.
    """
    valid = (alpha > 0) & (alpha < jnp.inf)  # False for NaN
    alpha = jnp.where(valid, alpha, 1.0)  # a finite stand-in, masked at the end
    d = jnp.where(alpha < 1, alpha + 1.0, alpha) - 1.0 / 3.0
    size = alpha.shape[0]
    first = _signed_uniforms(key, jnp.arange(size, dtype=jnp.int32) * _STREAMS, 2, d.dtype)
    log_v, log_u_over_h, accepted = _marsaglia_tsang(first.reshape(2, 1, size), d)
    buffer = _retry_buffer(size)

    def retry(state):
        draws, tries, i = state
        idx = true_indices(~draws[2], buffer)
        streams = idx * _STREAMS + 1 + tries.at[idx].get(mode="fill", fill_value=0)
        v = _signed_uniforms(key, streams, 2 * _RETRY_CANDIDATES, d.dtype)
        v = v.reshape(2, _RETRY_CANDIDATES, buffer)
        retried = _marsaglia_tsang(v, d.at[idx].get(mode="fill", fill_value=1.0))
        keep = retried[2]
        draws = tuple(
            old.at[idx].set(
                jnp.where(keep, new, old.at[idx].get(mode="fill", fill_value=0)), mode="drop"
            )
            for old, new in zip(draws, retried, strict=True)
        )
        return draws, tries.at[idx].add(1, mode="drop"), i + 1

    def pending(state):
        draws, _, i = state
        return jnp.logical_not(jnp.all(draws[2])) & (i < _RETRY_ROUNDS)

    state = ((log_v, log_u_over_h, accepted | ~valid), jnp.zeros_like(accepted, jnp.int32), 0)
    (log_v, log_boost_u, accepted), _, _ = jax.lax.while_loop(pending, retry, state)
    log_z = jnp.log(d) + log_v
    log_z = jnp.where(alpha < 1, log_z + log_boost_u / alpha, log_z)
    return nan_unless(accepted & valid, log_z)


#: The Bernoulli numbers B_2k, k = 1..9, for Stirling's series.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798)
_STIRLING = tuple(b / (2 * k * (2 * k - 1)) for k, b in enumerate(_BERNOULLI, start=1))
_ENTROPY_SERIES = tuple((b / (2 * k - 1), -b / (2 * k)) for k, b in enumerate(_BERNOULLI, start=1))
_ENTROPY_BIG = 10.0


def log_gamma_remainder(x: ArrayLike) -> Array:
    """Stirling's remainder ``r(x) = log Γ(x) - (x - ½) log x + x - ½ log 2π`` (``≈ 1/(12x)``)
    for ``x > 0``: ``Σ_k B_2k / (2k (2k - 1) x^(2k-1))`` (nine terms) from ``x = 10`` on (4 in
    float32), the definition below. Differences of ``log Γ`` at large arguments written with it
    keep their small value's accuracy (``log Γ(x)`` itself carries ``eps · x log x``)."""
    x = jnp.asarray(x)
    big = x >= (10.0 if x.dtype == jnp.float64 else 4.0)
    u = 1.0 / jnp.where(big, x, 10.0)
    series = jnp.zeros_like(u)
    for c in reversed(_STIRLING):
        series = (series + c) * u * u
    xs = jnp.where(big, 1.0, x)
    direct = jsp.gammaln(xs) - (xs - 0.5) * jnp.log(xs) + xs - 0.5 * math.log(2.0 * math.pi)
    return jnp.where(big, series / u, direct)


def standard_gamma_entropy(x: ArrayLike) -> Array:
    """``h(x) = x + log Γ(x) + (1 - x) ψ(x)``, the entropy of ``Gamma(x, 1)``, for ``x > 0``.

    The entropies of the Gamma family and of the laws built from it (inverse Gamma, Beta,
    Dirichlet, Student-t, F) are sums of ``h`` and a few logs or digammas with no large terms.
    The closed form cancels for large ``x`` (``log Γ(x) ≈ x log x`` against ``(x - 1) ψ(x)``:
    ``1e4`` times the result's rounding at ``x = 1e4``); from ``x = 10`` on it is its asymptotic
    series (Stirling's for ``log Γ``, ``ψ``)

        h(x) = ½ (1 + log 2πx) - 1/(2x) + Σ_k B_2k (x^(1-2k)/(2k - 1) - x^(-2k)/(2k)),

    nine terms (below 1e-17 from ``x = 10`` on).
    """
    x = jnp.asarray(x)
    big = x >= _ENTROPY_BIG
    xb = jnp.where(big, x, _ENTROPY_BIG)
    u = 1.0 / xb
    series = jnp.zeros_like(u)
    for odd, even in reversed(_ENTROPY_SERIES):  # Σ_k u^(2k-1) (odd + even u), by Horner in u²
        series = (series + odd + even * u) * u * u
    asymptotic = 0.5 * (1.0 + math.log(2.0 * math.pi) + jnp.log(xb)) - 0.5 * u + xb * series
    xs = jnp.where(big, 1.0, x)
    direct = xs + jsp.gammaln(xs) + (1.0 - xs) * jsp.digamma(xs)
    return jnp.where(big, asymptotic, direct)


def _gamma_cdf_tangent(dist: Distribution, ddist: Distribution, log_x: Array) -> Array:
    """``∂P(α, x)/∂θ · dθ`` over the density of ``log x`` at ``x = rate·z = exp(log_x)``.

    ``∂P/∂α = x q(x; α) · h`` (:func:`gammainc_log_shape_tangent`) and ``∂P/∂rate = x q(x; α) /
    rate`` (at fixed ``z``), with ``x q(x; α)`` the density of ``log x``: the ratio is
    ``h dα + drate / rate``.  Over the density of ``z`` itself, ``q(z) = x q(x; α) / z``, it is
    ``z`` times that.
    """
    tangents = (dense_tangent(dist, ddist),)
    (alpha, rate), (dalpha, drate) = jax.jvp(lambda d: d._shape_rate(), (dist,), tangents)
    return gammainc_log_shape_tangent(alpha, log_x) * dalpha + drate / rate


class _GammaLaw(Distribution):
    """Methods shared by the Gamma parameterizations; subclasses define ``_shape_rate()``."""

    _support = (0.0, math.inf)

    def _shape_rate(self) -> tuple[Array, Array]:
        raise NotImplementedError

    def _cdf_tangent(self, ddist: Distribution, z: Array) -> Array:
        _, rate = self._shape_rate()
        return z * _gamma_cdf_tangent(self, ddist, jnp.log(rate * z))

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return jnp.exp(self._exp_gamma()._draw(key, shape))

    def _exp_gamma(self) -> ExpGamma:
        return ExpGamma(*self._shape_rate())

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return jnp.exp(self._exp_gamma().rsample_implicit(key, sample_shape))

    def sample_and_log_prob(self, key: PRNGKey, sample_shape: Shape = ()) -> tuple[Array, Array]:
        """A draw and its log density, the latter from ``log z``: finite even where z underflows."""
        log_dist = self._exp_gamma()
        log_z = log_dist.rsample_implicit(key, sample_shape)
        return jnp.exp(log_z), log_dist.log_prob(log_z) - log_z

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``log q(x)``; at ``x = 0`` its limit (``q ~ rate^α x^(α-1)/Γ(α)``: ``log rate`` at
        ``α = 1``)."""
        alpha, rate = self._shape_rate()
        inside = x > 0
        log_rate = jnp.log(rate)
        # log(rate x) as a sum: the product underflows for tiny x; double-where: no NaN outside
        log_x = log_rate + jnp.log(jnp.where(inside, x, 1.0))
        edge = jnp.where(x == 0, log_density_at_end(alpha - 1.0, log_rate), -jnp.inf)
        return jnp.where(inside, log_gamma_density(alpha, log_x) + log_rate, edge)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        alpha, rate = self._shape_rate()
        return gammainc(alpha, rate * jnp.maximum(x, 0.0))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        alpha, rate = self._shape_rate()
        return jnp.log(gammaincc(alpha, rate * jnp.maximum(x, 0.0)))  # Q directly: exact tails

    @checked
    def mean(self) -> Array:
        alpha, rate = self._shape_rate()
        return alpha / rate

    @checked
    def mode(self) -> Array:
        """``(α - 1)/rate`` for ``α >= 1``, else 0."""
        alpha, rate = self._shape_rate()
        return jnp.maximum(alpha - 1.0, 0.0) / rate

    @checked
    def variance(self) -> Array:
        alpha, rate = self._shape_rate()
        return alpha / rate**2

    @checked
    def entropy(self) -> Array:
        """``α - log rate + log Γ(α) + (1 - α) ψ(α)`` (:func:`standard_gamma_entropy`)."""
        alpha, rate = self._shape_rate()
        return standard_gamma_entropy(alpha) - jnp.log(rate)


@distribution
class Gamma(_GammaLaw):
    """Gamma distribution: ``q(z) = rate^α z^(α-1) e^(-rate z) / Γ(α)`` for ``z > 0``.

    CDF ``P(α, rate·z)``, the regularized lower incomplete gamma function. The implicit gradient

        dz/dα = -(∂P(α, rate z)/∂α) / q(z),        dz/drate = -z / rate,

    comes from the engine, with ``∂P/∂α`` from :func:`ml_networks_jax.special.gamma.gammainc`.
    Draws go through :class:`ExpGamma`, so small shapes (``α`` down to 1e-4) keep exact
    gradients; use :meth:`sample_and_log_prob` when the log density of the draw is needed.

    Args:
        concentration: shape ``α > 0``.
        rate: inverse scale ``> 0``, broadcastable with ``concentration``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> mean_draw = lambda a: mnj.Gamma(a, 2.0).rsample(jax.random.key(0), (4096,)).mean()
        >>> grad = jax.jit(jax.grad(mean_draw))
        >>> round(float(grad(3.0)), 1)  # d E[z]/dα = 1/rate
        0.5
    """

    concentration: Array = param()
    rate: Array = param()

    _positive = ("concentration", "rate")

    def _shape_rate(self) -> tuple[Array, Array]:
        return self.concentration, self.rate


@distribution
class Chi2(_GammaLaw):
    """Chi-squared distribution with ``df`` degrees of freedom: ``Gamma(df/2, rate=1/2)``.

    Example:
        >>> import ml_networks_jax as mnj
        >>> round(float(mnj.Chi2(4.0).mean()), 6)
        4.0
    """

    df: Array = param()

    _positive = ("df",)

    def _shape_rate(self) -> tuple[Array, Array]:
        return 0.5 * self.df, jnp.full_like(self.df, 0.5)


@distribution
class ExpGamma(Distribution):
    """Law of ``u = log z`` for ``z ~ Gamma(concentration, rate)``.

    Density ``q(u) = rate^α e^(αu) exp(-rate e^u) / Γ(α)``; CDF ``P(α, rate e^u)`` evaluated from
    ``u`` directly, so both stay exact where ``e^u`` underflows: for ``α = 1e-4`` typical draws are
    ``u ≈ -10⁴``. This is the log-space sample that ``Gamma`` (and the Beta and Dirichlet families)
    build on: ``d u/dα = -(∂P/∂α)/q(u)``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> u = mnj.ExpGamma(1e-4, 1.0).rsample(jax.random.key(0), (3,))
        >>> bool((u < -100).all())
        True
    """

    concentration: Array = param()
    rate: Array = param()

    _positive = ("concentration", "rate")

    def _shape_rate(self) -> tuple[Array, Array]:
        return self.concentration, self.rate

    def _cdf_tangent(self, ddist: Distribution, u: Array) -> Array:
        return _gamma_cdf_tangent(self, ddist, u + jnp.log(self.rate))

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        log_z = log_standard_gamma(key, jnp.broadcast_to(self.concentration, shape)).reshape(shape)
        return (log_z - jnp.log(self.rate)).astype(self.dtype)

    @checked
    def log_prob(self, u: ArrayLike) -> Array:
        return log_exp_gamma_density(self.concentration, u + jnp.log(self.rate))

    @checked
    def cdf(self, u: ArrayLike) -> Array:
        return gammainc_log(self.concentration, u + jnp.log(self.rate))

    @checked
    def log_survival(self, u: ArrayLike) -> Array:
        """``log Q(α, e^v)``, ``v = u + log rate``: Q directly where ``e^v`` is representable
        (exact upper tail); ``1 - P`` below, where Q cannot be small."""
        log_x = u + jnp.log(self.rate)
        direct = log_x > -60.0
        q_direct = gammaincc(self.concentration, jnp.exp(jnp.where(direct, log_x, 0.0)))
        q_small_x = 1.0 - gammainc_log(self.concentration, jnp.where(direct, -60.0, log_x))
        return jnp.log(jnp.where(direct, q_direct, q_small_x))

    @checked
    def mean(self) -> Array:
        return jsp.digamma(self.concentration) - jnp.log(self.rate)

    @checked
    def mode(self) -> Array:
        return jnp.log(self.concentration) - jnp.log(self.rate)

    @checked
    def variance(self) -> Array:
        return jnp.broadcast_to(jsp.polygamma(1, self.concentration), self.batch_shape)
