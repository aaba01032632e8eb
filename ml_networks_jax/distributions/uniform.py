"""The continuous uniform distribution."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param, quantile


@distribution
class Uniform(Distribution):
    """Uniform distribution on ``[low, high)``: ``q(z) = 1/(high - low)`` (``low < high``;
    otherwise every method gives NaN).

    A location-scale family (``z = low + (high - low) u``): explicit and implicit gradients agree,
    ``dz/dlow = 1 - u`` and ``dz/dhigh = u``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Uniform(0.0, 4.0).mean()), 6)
        2.0
    """

    low: Array = param()
    high: Array = param()

    def _valid(self) -> Array:
        return self.low < self.high

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        z = self.low + (self.high - self.low) * jax.random.uniform(key, shape, self.dtype)
        return nan_unless(self._valid(), z)

    _draw = _explicit

    def support(self) -> tuple[Array, Array]:
        """``(low, high)`` broadcast to ``batch_shape``."""
        return tuple(jnp.broadcast_to(v, self.batch_shape) for v in (self.low, self.high))

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        inside = (x >= self.low) & (x <= self.high)
        return jnp.where(inside, -jnp.log(self.high - self.low), -jnp.inf)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return jnp.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``log((high - x)/(high - low))``, exact up to ``high`` (``1 - F`` would round)."""
        s = jnp.clip((self.high - x) / (self.high - self.low), 0.0, 1.0)
        return jnp.where(s > 0, jnp.log(jnp.where(s > 0, s, 1.0)), -jnp.inf)

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        return self.low + p * (self.high - self.low)

    @checked
    def mean(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return 0.5 * (low + high)

    @checked
    def variance(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return (high - low) ** 2 / 12.0

    @checked
    def entropy(self) -> Array:
        low, high = self._broadcast(self.low, self.high)
        return jnp.log(high - low)
