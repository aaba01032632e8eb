"""The continuous uniform distribution."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, distribution, param


@distribution
class Uniform(Distribution):
    """Uniform distribution on ``[low, high)``: ``q(z) = 1/(high - low)``.

    A location-scale family (``z = low + (high - low) u``): explicit and implicit gradients agree,
    ``dz/dlow = 1 - u`` and ``dz/dhigh = u``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Uniform(0.0, 4.0).mean()), 6)
        2.0
    """

    low: Array = param()
    high: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return self.low + (self.high - self.low) * jax.random.uniform(key, shape, self.dtype)

    _draw = _explicit

    def support(self) -> tuple[Array, Array]:
        """``(low, high)`` broadcast to ``batch_shape``."""
        return tuple(jnp.broadcast_to(v, self.batch_shape) for v in (self.low, self.high))

    def log_prob(self, x: ArrayLike) -> Array:
        inside = (x >= self.low) & (x <= self.high)
        return jnp.where(inside, -jnp.log(self.high - self.low), -jnp.inf)

    def cdf(self, x: ArrayLike) -> Array:
        return jnp.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def icdf(self, p: ArrayLike) -> Array:
        return self.low + p * (self.high - self.low)

    def mean(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return 0.5 * (low + high)

    def variance(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return (high - low) ** 2 / 12.0

    def entropy(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return jnp.log(high - low)
