"""The exponential distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param, quantile


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
    _positive = ("rate",)

    rate: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        z = jax.random.exponential(key, shape, self.dtype) / self.rate
        return nan_unless(self._valid(), z)

    _draw = _explicit

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        return jnp.where(x >= 0, jnp.log(self.rate) - self.rate * x, -jnp.inf)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return -jnp.expm1(-self.rate * jnp.maximum(x, 0.0))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``-rate x``: exact in the upper tail."""
        return -self.rate * jnp.maximum(x, 0.0)

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        return -jnp.log1p(-p) / self.rate

    @checked
    def mean(self) -> Array:
        return 1.0 / self.rate

    @checked
    def mode(self) -> Array:
        return jnp.zeros_like(self.rate)

    @checked
    def variance(self) -> Array:
        return self.rate**-2

    @checked
    def entropy(self) -> Array:
        return 1.0 - jnp.log(self.rate)
