"""The Gumbel (maximum) distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import distribution
from ml_networks_jax.distributions.location_scale import LocationScale

EULER_GAMMA = 0.5772156649015329


@distribution
class Gumbel(LocationScale):
    """Gumbel distribution: CDF ``exp(-e^-u)``, density ``exp(-(u + e^-u)) / scale``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Gumbel(0.0, 1.0).mean()), 6)
        0.577216
    """

    _std_mean = EULER_GAMMA
    _std_variance = math.pi**2 / 6.0
    _std_entropy = 1.0 + EULER_GAMMA

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.gumbel(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -(u + jnp.exp(-u))

    def _std_cdf(self, u: Array) -> Array:
        return jnp.exp(-jnp.exp(-u))

    def _std_icdf(self, p: ArrayLike) -> Array:
        return -jnp.log(-jnp.log(p))
