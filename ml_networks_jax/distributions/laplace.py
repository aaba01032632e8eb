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
    evaluated where it is accurate; likewise its log and the quantile ``log 2p`` (``p < ½``),
    ``-log 2(1 - p)`` (``p > ½``).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> mnj.Laplace(0.0, 1.0).sample(jax.random.key(0), (2,)).shape
        (2,)
    """

    _std_variance = 2.0
    _std_entropy = 1.0 + math.log(2.0)
    _symmetric = True

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.laplace(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -jnp.abs(u) - math.log(2.0)

    def _std_cdf(self, u: Array) -> Array:
        half_tail = 0.5 * jnp.exp(-jnp.abs(u))
        return jnp.where(u < 0, half_tail, 1.0 - half_tail)

    def _std_log_cdf(self, u: Array) -> Array:
        return jnp.where(u < 0, u - math.log(2.0), jnp.log1p(-0.5 * jnp.exp(-jnp.abs(u))))

    def _std_icdf(self, p: ArrayLike) -> Array:
        # p - 1/2 would lose the digits of a small p; 1 - p is exact for p >= 1/2.
        return jnp.where(p < 0.5, jnp.log(2.0 * p), -jnp.log(2.0 * (1.0 - p)))
