"""The Cauchy distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import distribution
from ml_networks_jax.distributions.location_scale import LocationScale


@distribution
class Cauchy(LocationScale):
    """Cauchy distribution: density ``1 / (π scale (1 + u²))``, CDF ``½ + arctan(u)/π``.

    Mean and variance do not exist and are returned as NaN.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Cauchy(0.0, 1.0).icdf(0.75)), 6)
        1.0
    """

    _std_mean = math.nan
    _std_variance = math.nan
    _std_entropy = math.log(4.0 * math.pi)

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.cauchy(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -math.log(math.pi) - jnp.log1p(u * u)

    def _std_cdf(self, u: Array) -> Array:
        return 0.5 + jnp.arctan(u) / math.pi

    def _std_icdf(self, p: ArrayLike) -> Array:
        return jnp.tan(math.pi * (p - 0.5))
