"""The Weibull distribution."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy import special

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import (
    EULER_GAMMA,
    Distribution,
    checked,
    distribution,
    log_density_at_end,
    open_uniform,
    param,
    quantile,
)
from ml_networks_jax.distributions.kumaraswamy import log_power_moments


@distribution
class Weibull(Distribution):
    """Weibull distribution: CDF ``F(z) = 1 - exp(-(z/scale)^k)`` for ``z >= 0``, ``k`` the
    concentration.

    Explicitly reparameterized through the inverse CDF, ``z = scale · E^(1/k)`` with
    ``E ~ Exp(1)``; the implicit gradient ``-(∂F/∂θ)/q`` is the same function of ``z``. Moments
    ``E[z^n] = scale^n Γ(1 + n/k)``; the variance as ``E[z]² (E[z²]/E[z]² - 1)`` with the ratio
    from :func:`~ml_networks_jax.distributions.kumaraswamy.log_power_moments` (``Γ(1 + 2/k) -
    Γ(1 + 1/k)²`` cancels to ``~1/k²`` for large ``k`` and is ``inf - inf`` for small ``k``).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> round(float(mnj.Weibull(1.0, 1.0).mean()), 6)  # k = 1 is Exp(1)
        1.0
    """

    _support = (0.0, math.inf)
    _positive = ("scale", "concentration")

    scale: Array = param()
    concentration: Array = param()

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        log_e = jnp.log(-jnp.log(open_uniform(key, shape, self.dtype)))
        z = self.scale * jnp.exp(log_e / self.concentration)
        return nan_unless(self._valid(), z)

    _draw = _explicit

    def _log_u(self, x: ArrayLike) -> tuple[Array, Array]:
        """``(x > 0, log(x/scale))``, with ``x = scale`` standing in at ``x <= 0``."""
        inside = x > 0
        return inside, jnp.log(jnp.where(inside, x, self.scale) / self.scale)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        k = self.concentration
        inside, log_u = self._log_u(x)
        log_q = jnp.log(k) - jnp.log(self.scale) + (k - 1.0) * log_u - jnp.exp(k * log_u)
        # At 0 the limit of k/scale · u^(k-1); -inf beyond either end.
        at_zero = log_density_at_end(k - 1.0, -jnp.log(self.scale))
        return jnp.where(inside, log_q, jnp.where(x == 0, at_zero, -jnp.inf))

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return -jnp.expm1(self.log_survival(x))

    @checked
    def log_cdf(self, x: ArrayLike) -> Array:
        """``log(1 - exp(-u^k))``, exact in the lower tail."""
        inside, log_u = self._log_u(x)
        value = jnp.log(-jnp.expm1(-jnp.exp(self.concentration * log_u)))
        return jnp.where(inside, value, jnp.where(x <= 0, -jnp.inf, 0.0))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``-u^k`` with ``u = x/scale``."""
        inside, log_u = self._log_u(x)
        value = -jnp.exp(self.concentration * log_u)
        return jnp.where(inside, value, jnp.where(x <= 0, 0.0, -jnp.inf))

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        """``scale · (-log(1 - p))^(1/k)``, in logs (the power alone overflows for small k)."""
        return jnp.exp(jnp.log(self.scale) + jnp.log(-jnp.log1p(-p)) / self.concentration)

    @checked
    def mean(self) -> Array:
        return jnp.exp(jnp.log(self.scale) + special.gammaln(1.0 + 1.0 / self.concentration))

    @checked
    def mode(self) -> Array:
        k = self.concentration
        return jnp.where(k > 1, self.scale * ((k - 1.0) / k) ** (1.0 / k), 0.0 * self.scale)

    @checked
    def variance(self) -> Array:
        c = 1.0 / self.concentration
        _, gap = log_power_moments(c, jnp.full_like(c, jnp.inf))
        # In logs (log(e^gap - 1) = gap + log(1 - e^-gap)): scale² Γ(1 + c)² and e^gap - 1
        # overflow separately for small k.
        log_m1 = jnp.log(self.scale) + special.gammaln(1.0 + c)
        return jnp.exp(2.0 * log_m1 + gap + jnp.log(-jnp.expm1(-gap)))

    @checked
    def entropy(self) -> Array:
        k = self.concentration
        return EULER_GAMMA * (1.0 - 1.0 / k) + jnp.log(self.scale / k) + 1.0
