"""The Laplace distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import distribution
from ml_networks_jax.distributions.location_scale import LocationScale


@distribution
class Laplace(LocationScale):
    """Laplace distribution: ``q(z) = exp(-|z - loc|/scale) / (2 scale)``.

    CDF ``½ e^u`` for ``u < 0`` and ``1 - ½ e^-u`` otherwise (``u = (z - loc)/scale``), each branch
    evaluated where it is accurate.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> mnj.Laplace(0.0, 1.0).sample(jax.random.key(0), (2,)).shape
        (2,)
    """

    _std_variance = 2.0
    _std_entropy = 1.0 + math.log(2.0)

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.laplace(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -jnp.abs(u) - math.log(2.0)

    def _std_cdf(self, u: Array) -> Array:
        half_tail = 0.5 * jnp.exp(-jnp.abs(u))
        return jnp.where(u < 0, half_tail, 1.0 - half_tail)

    def _std_icdf(self, p: ArrayLike) -> Array:
        return -jnp.sign(p - 0.5) * jnp.log1p(-2.0 * jnp.abs(p - 0.5))
