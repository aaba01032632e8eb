"""The Weibull distribution."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy import special

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, distribution, open_uniform, param

EULER_GAMMA = 0.5772156649015329


@distribution
class Weibull(Distribution):
    """Weibull distribution: CDF ``F(z) = 1 - exp(-(z/scale)^k)`` for ``z >= 0``, ``k`` the
    concentration.

    Explicitly reparameterized through the inverse CDF, ``z = scale · E^(1/k)`` with
    ``E ~ Exp(1)``; the implicit gradient ``-(∂F/∂θ)/q`` is the same function of ``z``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Weibull(1.0, 1.0).mean()), 6)  # k = 1 is Exp(1)
        1.0
    """

    _support = (0.0, math.inf)

    scale: Array = param()
    concentration: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        log_e = jnp.log(-jnp.log(open_uniform(key, shape, self.dtype)))
        return self.scale * jnp.exp(log_e / self.concentration)

    _draw = _explicit

    def log_prob(self, x: ArrayLike) -> Array:
        k, positive = self.concentration, x > 0
        log_u = jnp.log(jnp.where(positive, x, 1.0)) - jnp.log(self.scale)
        log_q = jnp.log(k) - jnp.log(self.scale) + (k - 1.0) * log_u - jnp.exp(k * log_u)
        # At 0 the limit: +inf for k < 1, 1/scale for k = 1, 0 for k > 1.
        at_zero = jnp.where(k < 1, jnp.inf, jnp.where(k == 1, -jnp.log(self.scale), -jnp.inf))
        return jnp.where(positive, log_q, jnp.where(x == 0, at_zero, -jnp.inf))

    def cdf(self, x: ArrayLike) -> Array:
        positive = x > 0  # (0^k would give a NaN k-gradient)
        u = jnp.where(positive, x, 1.0) / self.scale
        return jnp.where(positive, -jnp.expm1(-(u**self.concentration)), 0.0)

    def icdf(self, p: ArrayLike) -> Array:
        return self.scale * (-jnp.log1p(-p)) ** (1.0 / self.concentration)

    def mean(self) -> Array:
        return self.scale * jnp.exp(special.gammaln(1.0 + 1.0 / self.concentration))

    def mode(self) -> Array:
        k = self.concentration
        return jnp.where(k > 1, self.scale * ((k - 1.0) / k) ** (1.0 / k), 0.0 * self.scale)

    def variance(self) -> Array:
        k = self.concentration
        g1 = jnp.exp(special.gammaln(1.0 + 1.0 / k))
        g2 = jnp.exp(special.gammaln(1.0 + 2.0 / k))
        return self.scale**2 * (g2 - g1**2)

    def entropy(self) -> Array:
        k = self.concentration
        return EULER_GAMMA * (1.0 - 1.0 / k) + jnp.log(self.scale / k) + 1.0
