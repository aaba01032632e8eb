"""The Kumaraswamy distribution."""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy import special

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, distribution, open_uniform, param

EULER_GAMMA = 0.5772156649015329


@distribution
class Kumaraswamy(Distribution):
    """Kumaraswamy distribution on ``(0, 1)``: ``q(z) = a b z^(a-1) (1 - z^a)^(b-1)``.

    CDF ``1 - (1 - z^a)^b`` with ``a = concentration1``, ``b = concentration0``. Explicitly
    reparameterized through its closed-form inverse CDF ``(1 - (1 - u)^(1/b))^(1/a)``, evaluated
    in log space so neither power underflows.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Kumaraswamy(1.0, 1.0).cdf(0.25)), 6)  # a = b = 1 is Uniform(0, 1)
        0.25
    """

    _support = (0.0, 1.0)

    concentration1: Array = param()
    concentration0: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return self.icdf(open_uniform(key, shape, self.dtype))

    _draw = _explicit

    def _log_parts(self, x: ArrayLike) -> tuple[Array, Array, Array]:
        """``(inside, log x, log S(x) = b log(1 - x^a))``, exact at both ends, with ``x``
        replaced outside ``(0, 1)`` so that no NaN reaches a gradient."""
        inside = (x > 0) & (x < 1)
        log_x = jnp.log(jnp.where(inside, x, 0.5))
        return inside, log_x, self.concentration0 * _log1mexp(self.concentration1 * log_x)

    def log_prob(self, x: ArrayLike) -> Array:
        a, b = self.concentration1, self.concentration0
        inside, log_x, log_s = self._log_parts(x)
        # log q = log(ab) + (a - 1) log x + (b - 1)/b log S.
        log_q = jnp.log(a) + jnp.log(b) + (a - 1.0) * log_x + (b - 1.0) / b * log_s
        return jnp.where(inside, log_q, -jnp.inf)

    def cdf(self, x: ArrayLike) -> Array:
        return jnp.exp(self.log_cdf(x))

    def log_cdf(self, x: ArrayLike) -> Array:
        """``log(1 - (1 - x^a)^b)``."""
        inside, _, log_s = self._log_parts(x)
        return jnp.where(inside, _log1mexp(log_s), jnp.where(x <= 0, -jnp.inf, 0.0))

    def log_survival(self, x: ArrayLike) -> Array:
        """``b log(1 - x^a)``, exact as ``x -> 1``."""
        inside, _, log_s = self._log_parts(x)
        return jnp.where(inside, log_s, jnp.where(x <= 0, 0.0, -jnp.inf))

    def icdf(self, p: ArrayLike) -> Array:
        log_one_minus_w = jnp.log1p(-p) / self.concentration0  # log (1 - p)^(1/b)
        return jnp.exp(jnp.log(-jnp.expm1(log_one_minus_w)) / self.concentration1)

    def _raw_moment(self, n: float) -> Array:
        """``E[z^n] = b B(1 + n/a, b)``."""
        a, b = self.concentration1, self.concentration0
        return b * jnp.exp(special.betaln(1.0 + n / a, b))

    def mean(self) -> Array:
        return self._raw_moment(1.0)

    def variance(self) -> Array:
        return self._raw_moment(2.0) - self._raw_moment(1.0) ** 2

    def mode(self) -> Array:
        """``((a-1)/(ab-1))^(1/a)`` for ``a >= 1, b >= 1`` (not both 1); NaN otherwise."""
        a, b = self.concentration1, self.concentration0
        m = ((a - 1.0) / (a * b - 1.0)) ** (1.0 / a)
        return nan_unless((a >= 1) & (b >= 1) & ((a > 1) | (b > 1)), m)

    def entropy(self) -> Array:
        a, b = self.concentration1, self.concentration0
        harmonic_b = special.digamma(b + 1.0) + EULER_GAMMA
        return (1.0 - 1.0 / b) + (1.0 - 1.0 / a) * harmonic_b - jnp.log(a * b)


def _log1mexp(u: Array) -> Array:
    """``log(1 - e^u)`` for ``u < 0``: ``log1p(-e^u)`` below ``-log 2``, ``log(-expm1(u))`` above
    (each exact where the other cancels)."""
    far = u < -0.6931471805599453
    return jnp.where(
        far,
        jnp.log1p(-jnp.exp(jnp.where(far, u, -1.0))),
        jnp.log(-jnp.expm1(jnp.where(far, -0.1, u))),
    )
