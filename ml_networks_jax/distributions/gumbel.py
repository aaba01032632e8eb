"""The Gumbel (maximum) distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import EULER_GAMMA, distribution
from ml_networks_jax.distributions.location_scale import LocationScale


@distribution
class Gumbel(LocationScale):
    """Gumbel distribution: CDF ``exp(-e^-u)``, density ``exp(-(u + e^-u)) / scale``.

    ``log F = -e^-u`` and ``log(1 - F) = log(-expm1(-e^-u))`` are exact in their tails. Below
    ``u = -7``, ``F = exp(-e^-u)`` underflows (``e^-1096``) in every float format: the CDF and
    ``log(1 - F)`` are evaluated at ``max(u, -7)`` there, so that ``e^-u`` never overflows into
    a gradient.

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
        return jnp.exp(-jnp.exp(-jnp.maximum(u, -7.0)))

    def _std_log_cdf(self, u: Array) -> Array:
        return -jnp.exp(-u)

    def _std_log_survival(self, u: Array) -> Array:
        return jnp.log(-jnp.expm1(-jnp.exp(-jnp.maximum(u, -7.0))))

    def _std_icdf(self, p: ArrayLike) -> Array:
        return -jnp.log(-jnp.log(p))
