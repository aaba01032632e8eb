"""The logistic distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import distribution
from ml_networks_jax.distributions.location_scale import LocationScale


@distribution
class Logistic(LocationScale):
    """Logistic distribution: CDF ``σ(u) = 1/(1 + e^-u)``, ``u = (z - loc)/scale``.

    Density ``q(z) = e^-u / (scale (1 + e^-u)²)``, evaluated as ``-u - 2 softplus(-u)``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Logistic(0.0, 1.0).cdf(0.0)), 6)
        0.5
    """

    _std_variance = math.pi**2 / 3.0
    _std_entropy = 2.0
    _symmetric = True

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.logistic(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -u - 2.0 * jax.nn.softplus(-u)

    def _std_cdf(self, u: Array) -> Array:
        return jax.nn.sigmoid(u)

    def _std_log_cdf(self, u: Array) -> Array:
        return -jax.nn.softplus(-u)

    def _std_icdf(self, p: ArrayLike) -> Array:
        return jnp.log(p) - jnp.log1p(-p)
