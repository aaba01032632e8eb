"""The Cauchy distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import distribution
from ml_networks_jax.distributions.location_scale import LocationScale


def log1p_square(u: Array) -> Array:
    """``log(1 + u²)``, as ``2 log|u| + log(1 + u⁻²)`` for ``|u| > 1`` (``u²`` may overflow)."""
    big = jnp.abs(u) > 1.0
    v = jnp.where(big, u, 1.0)
    return jnp.where(big, 2.0 * jnp.log(jnp.abs(v)) + jnp.log1p(1.0 / (v * v)), jnp.log1p(u * u))


@distribution
class Cauchy(LocationScale):
    """Cauchy distribution: density ``1 / (π scale (1 + u²))``, CDF ``½ + arctan(u)/π``.

    The CDF is evaluated as ``atan2(1, -u)/π`` (``≈ 1/(π|u|)`` in the lower tail, where
    ``½ + arctan(u)/π`` cancels) and the quantile as ``-cot(πp)`` for ``p < ¼``, ``cot(π(1 - p))``
    for ``p > ¾`` and ``tan(π(p - ½))`` between, each exact where it is used. Mean and variance do
    not exist and are returned as NaN.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Cauchy(0.0, 1.0).icdf(0.75)), 6)
        1.0
    """

    _std_mean = math.nan
    _std_variance = math.nan
    _std_entropy = math.log(4.0 * math.pi)
    _symmetric = True

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.cauchy(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -math.log(math.pi) - log1p_square(u)

    def _std_cdf(self, u: Array) -> Array:
        return jnp.arctan2(1.0, -u) / math.pi

    def _std_icdf(self, p: ArrayLike) -> Array:
        tail = jnp.where(p < 0.5, -1.0 / jnp.tan(math.pi * p), 1.0 / jnp.tan(math.pi * (1.0 - p)))
        return jnp.where(jnp.abs(p - 0.5) < 0.25, jnp.tan(math.pi * (p - 0.5)), tail)
