"""The half-normal distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy import special

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param, quantile


@distribution
class HalfNormal(Distribution):
    """Half-normal distribution, ``|N(0, scale²)|``: ``q(z) = √(2/π)/scale · exp(-z²/(2 scale²))``.

    CDF ``erf(z / (scale √2))``; a scale family, so ``dz/dscale = z/scale`` both ways.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.HalfNormal(1.0).cdf(0.0)), 6)
        0.0
    """

    _support = (0.0, math.inf)
    _positive = ("scale",)

    scale: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        z = self.scale * jnp.abs(jax.random.normal(key, shape, self.dtype))
        return nan_unless(self._valid(), z)

    _draw = _explicit

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        u = x / self.scale
        log_q = 0.5 * math.log(2.0 / math.pi) - jnp.log(self.scale) - 0.5 * u * u
        return jnp.where(x >= 0, log_q, -jnp.inf)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return special.erf(jnp.maximum(x, 0.0) / (self.scale * math.sqrt(2.0)))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``log 2Φ(-x/scale)``: exact in the upper tail."""
        return math.log(2.0) + special.log_ndtr(-jnp.maximum(x, 0.0) / self.scale)

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        return self.scale * math.sqrt(2.0) * special.erfinv(p)

    @checked
    def mean(self) -> Array:
        return self.scale * math.sqrt(2.0 / math.pi)

    @checked
    def mode(self) -> Array:
        return jnp.zeros_like(self.scale)

    @checked
    def variance(self) -> Array:
        return self.scale**2 * (1.0 - 2.0 / math.pi)

    @checked
    def entropy(self) -> Array:
        return 0.5 * math.log(math.pi * math.e / 2.0) + jnp.log(self.scale)
