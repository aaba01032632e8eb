"""Location-scale families: ``z = loc + scale * u`` with ``u`` from a fixed standard law.

A subclass supplies the standard law (``_std_draw``, ``_std_log_prob``, ``_std_cdf`` and, where
closed, ``_std_icdf``, ``_std_mean``, ``_std_variance``, ``_std_entropy``, ``_std_mode``); the
shifted and scaled versions, the explicit sampler and the moments follow here once.

Explicit and implicit reparameterization agree exactly for these families: with
``u = (z - loc)/scale``, ``-(∂F/∂loc)/q = 1`` and ``-(∂F/∂scale)/q = u``, which is what
``loc + scale * u`` differentiates to.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param, quantile


@distribution
class LocationScale(Distribution):
    """Base of ``loc + scale * u`` families (``scale > 0``; otherwise every method gives NaN)."""

    loc: Array = param()
    scale: Array = param()

    _positive = ("scale",)
    #: The standard law is symmetric: ``log S(u) = log F(-u)``, exact in the upper tail.
    _symmetric: ClassVar[bool] = False

    def _std(self, x: ArrayLike) -> Array:
        return (x - self.loc) / self.scale

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        z = self.loc + self.scale * self._std_draw(key, shape, self.dtype)
        return nan_unless(self._valid(), z)

    _draw = _explicit  # identical draws for sample, rsample and rsample_implicit

    def _cdf_tangent(self, ddist: LocationScale, z: Array) -> Array:
        """``(∂F/∂θ · dθ) / q = -(dloc + u dscale)`` with ``u = (z - loc)/scale``: the tangent of
        ``loc + scale * u``, with no CDF evaluated."""
        return -(ddist.loc + self._std(z) * ddist.scale)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        return self._std_log_prob(self._std(x)) - jnp.log(self.scale)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return self._std_cdf(self._std(x))

    @checked
    def log_cdf(self, x: ArrayLike) -> Array:
        return self._std_log_cdf(self._std(x))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        return self._std_log_survival(self._std(x))

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        return self.loc + self.scale * self._std_icdf(p)

    @checked
    def mean(self) -> Array:
        loc, scale = self._broadcast(self.loc, self.scale)
        return loc + scale * self._std_mean

    @checked
    def mode(self) -> Array:
        loc, scale = self._broadcast(self.loc, self.scale)
        return loc + scale * self._std_mode

    @checked
    def variance(self) -> Array:
        (scale,) = self._broadcast(self.scale)
        return scale**2 * self._std_variance

    @checked
    def entropy(self) -> Array:
        (scale,) = self._broadcast(self.scale)
        return self._std_entropy + jnp.log(scale)

    # Standard law: overridden by each family.
    _std_mean = 0.0
    _std_mode = 0.0
    _std_variance = 1.0
    _std_entropy = 0.0

    def _std_draw(self, key: PRNGKey, shape: tuple[int, ...], dtype) -> Array:
        raise NotImplementedError

    def _std_log_prob(self, u: Array) -> Array:
        raise NotImplementedError

    def _std_cdf(self, u: Array) -> Array:
        raise NotImplementedError

    def _std_log_cdf(self, u: Array) -> Array:
        """``log F(u)``; families override it where ``F`` underflows."""
        return jnp.log(self._std_cdf(u))

    def _std_log_survival(self, u: Array) -> Array:
        """``log(1 - F(u))``: ``log F(-u)`` for symmetric laws, else as the family overrides."""
        if self._symmetric:
            return self._std_log_cdf(-u)
        return jnp.log1p(-self._std_cdf(u))

    def _std_icdf(self, p: Array) -> Array:
        """``F⁻¹(p)`` for ``0 < p < 1`` (:func:`quantile` handles the rest)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form icdf.")
