"""The F (Fisher-Snedecor) distribution, a scaled odds ratio of a Beta variate."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy import special as jsp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    Distribution,
    checked,
    distribution,
    log_density_at_end,
    param,
)
from ml_networks_jax.distributions.beta import LogitBeta, _log_beta
from ml_networks_jax.distributions.gamma import standard_gamma_entropy
from ml_networks_jax.special.beta import (
    betainc_logit,
    betainc_logit_tangent,
    log_beta_logit_density,
)


@distribution
class FisherSnedecor(Distribution):
    """F distribution with ``df1 = d₁`` and ``df2 = d₂`` degrees of freedom.

    ``z = (d₂/d₁) x/(1 - x)`` for ``x ~ Beta(d₁/2, d₂/2)``, i.e. ``log z = t + log(d₂/d₁)`` with
    ``t ~ LogitBeta(d₁/2, d₂/2)``. CDF ``I_{σ(s)}(d₁/2, d₂/2)`` at ``s = log z + log(d₁/d₂)``,
    so the implicit gradient, with ``h = (∂I/∂a)/q_t`` from the Beta family, is

        d log z/dd₁ = -(½ h_a + 1/d₁),        d log z/dd₂ = -(½ h_b - 1/d₂).

    Example:
        >>> import ml_networks_jax as mnj
        >>> round(float(mnj.FisherSnedecor(4.0, 6.0).mean()), 6)  # d₂/(d₂ - 2)
        1.5
    """

    _support = (0.0, math.inf)
    _positive = ("df1", "df2")

    df1: Array = param()
    df2: Array = param()

    def _logit(self, x: ArrayLike) -> Array:
        """``s = log(d₁ x / d₂)``, the logit of the Beta variate."""
        return jnp.log(x) + jnp.log(self.df1) - jnp.log(self.df2)

    def _logit_beta(self) -> LogitBeta:
        return LogitBeta(0.5 * self.df1, 0.5 * self.df2)

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return jnp.exp(self._logit_beta()._draw(key, shape) + jnp.log(self.df2 / self.df1))

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        t = self._logit_beta().rsample_implicit(key, sample_shape)
        return jnp.exp(t + jnp.log(self.df2) - jnp.log(self.df1))

    def _cdf_tangent(self, ddist: FisherSnedecor, z: Array) -> Array:
        # ∂F/∂d₁ = q_t (½ h_a + 1/d₁), ∂F/∂d₂ = q_t (½ h_b - 1/d₂) at s = logit; q(z) = q_t / z.
        d1, d2 = self.df1, self.df2
        h_a, h_b = betainc_logit_tangent(0.5 * d1, 0.5 * d2, self._logit(z))
        return z * ((0.5 * h_a + 1.0 / d1) * ddist.df1 + (0.5 * h_b - 1.0 / d2) * ddist.df2)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``log q(x)``; at ``x = 0`` its limit, ``q ~ (d₁/d₂)^(d₁/2) x^(d₁/2 - 1) /
        B(d₁/2, d₂/2)`` (1 at ``d₁ = 2``)."""
        d1, d2 = self.df1, self.df2
        inside = x > 0
        x_in = jnp.where(inside, x, 1.0)
        # q(z) = q_t(s) |ds/dz| = q_t(s) / z.
        log_q = log_beta_logit_density(0.5 * d1, 0.5 * d2, self._logit(x_in)) - jnp.log(x_in)
        log_c = 0.5 * d1 * (jnp.log(d1) - jnp.log(d2)) - _log_beta(0.5 * d1, 0.5 * d2)
        edge = jnp.where(x == 0, log_density_at_end(0.5 * d1 - 1.0, log_c), -jnp.inf)
        return jnp.where(inside, log_q, edge)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        x = jnp.maximum(x, 0.0)
        return betainc_logit(0.5 * self.df1, 0.5 * self.df2, self._logit(x))

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        x = jnp.maximum(x, 0.0)
        return jnp.log(betainc_logit(0.5 * self.df2, 0.5 * self.df1, -self._logit(x)))

    @checked
    def mean(self) -> Array:
        """``d₂/(d₂ - 2)`` for ``d₂ > 2``; ``+inf`` otherwise (the integral diverges)."""
        d1, d2 = self._broadcast(self.df1, self.df2)
        return jnp.where(d2 > 2, d2 / jnp.where(d2 > 2, d2 - 2.0, 1.0), jnp.inf)

    @checked
    def mode(self) -> Array:
        """``(d₁ - 2)/d₁ · d₂/(d₂ + 2)`` for ``d₁ > 2``; NaN otherwise."""
        d1, d2 = self._broadcast(self.df1, self.df2)
        return nan_unless(d1 > 2, (d1 - 2.0) / d1 * d2 / (d2 + 2.0))

    @checked
    def variance(self) -> Array:
        """``2 d₂² (d₁ + d₂ - 2) / (d₁ (d₂ - 2)² (d₂ - 4))`` for ``d₂ > 4``; ``+inf`` otherwise
        (``E[z²]`` diverges)."""
        d1, d2 = self._broadcast(self.df1, self.df2)
        d2_ = jnp.where(d2 > 4, d2, 5.0)
        v = 2.0 * d2_**2 * (d1 + d2_ - 2.0) / (d1 * (d2_ - 2.0) ** 2 * (d2_ - 4.0))
        return jnp.where(d2 > 4, v, jnp.inf)

    @checked
    def entropy(self) -> Array:
        """``log(b/a) + log B(a, b) + (1 - a) ψ(a) - (1 + b) ψ(b) + (a + b) ψ(a + b)`` with
        ``a, b = d₁/2, d₂/2``, evaluated as ``log(b/a) + h(a) + h(b) - h(a + b) - 2ψ(b) +
        ψ(a + b)`` (``h`` the entropy of ``Gamma(·, 1)``, free of the cancellation of the
        closed form for large degrees of freedom)."""
        a, b = self._broadcast(0.5 * self.df1, 0.5 * self.df2)
        h = standard_gamma_entropy
        return (
            jnp.log(b) - jnp.log(a) + h(a) + h(b) - h(a + b)
            - 2.0 * jsp.digamma(b) + jsp.digamma(a + b)
        )  # fmt: skip
