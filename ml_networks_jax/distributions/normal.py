"""The normal distribution."""

from __future__ import annotations

import jax
from jax.scipy import special

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import LOG_2PI, distribution
from ml_networks_jax.distributions.location_scale import LocationScale


@distribution
class Normal(LocationScale):
    """Normal distribution ``N(loc, scale²)``.

    Density ``q(z) = exp(-u²/2) / (scale √(2π))`` with ``u = (z - loc)/scale``; CDF ``Φ(u)``.
    Explicit and implicit gradients coincide: ``dz/dloc = 1``, ``dz/dscale = u``.

    Args:
        loc: mean, any shape.
        scale: standard deviation (> 0), broadcastable with ``loc``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> d = mnj.Normal(0.0, 2.0)
        >>> d.rsample(jax.random.key(0), (3,)).shape
        (3,)
    """

    _std_variance = 1.0
    _std_entropy = 0.5 * (1.0 + LOG_2PI)
    _symmetric = True

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        return jax.random.normal(key, shape, dtype)

    def _std_log_prob(self, u: Array) -> Array:
        return -0.5 * (u * u + LOG_2PI)

    def _std_cdf(self, u: Array) -> Array:
        return special.ndtr(u)

    def _std_icdf(self, p: ArrayLike) -> Array:
        return special.ndtri(p)

    def _std_log_cdf(self, u: Array) -> Array:
        """``log Φ(u)``, accurate far in the lower tail."""
        return special.log_ndtr(u)
