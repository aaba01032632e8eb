"""The exponential distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, distribution, param


@distribution
class Exponential(Distribution):
    """Exponential distribution: ``q(z) = rate · exp(-rate z)`` for ``z >= 0``.

    A scale family (``z = E / rate``, ``E ~ Exp(1)``): ``dz/drate = -z/rate`` both ways.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Exponential(2.0).mean()), 6)
        0.5
    """

    _support = (0.0, math.inf)

    rate: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return jax.random.exponential(key, shape, self.dtype) / self.rate

    _draw = _explicit

    def log_prob(self, x: ArrayLike) -> Array:
        return jnp.where(x >= 0, jnp.log(self.rate) - self.rate * x, -jnp.inf)

    def cdf(self, x: ArrayLike) -> Array:
        return -jnp.expm1(-self.rate * jnp.maximum(x, 0.0))

    def icdf(self, p: ArrayLike) -> Array:
        return -jnp.log1p(-p) / self.rate

    def mean(self) -> Array:
        return 1.0 / self.rate

    def mode(self) -> Array:
        return jnp.zeros_like(self.rate)

    def variance(self) -> Array:
        return self.rate**-2

    def entropy(self) -> Array:
        return 1.0 - jnp.log(self.rate)
