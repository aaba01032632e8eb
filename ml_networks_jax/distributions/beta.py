"""The Beta family: ``Beta`` and ``LogitBeta`` (the law of ``t = log(x / (1 - x))``).

Draws are made in logit space, ``t = log g₁ - log g₀`` with ``g₁ ~ Gamma(a)``, ``g₀ ~ Gamma(b)``
drawn as exact log-space Gamma variates, so a draw keeps full precision where ``x`` itself
rounds to 0 or 1 (float32 with concentrations below ~0.1). Gradients are implicit, through the
Beta CDF itself (the regularized incomplete beta function ``I_x(a, b)``) evaluated at ``t``:

    dt/da = -(∂I/∂a) / q_t(t),    dt/db = -(∂I/∂b) / q_t(t),    x = σ(t),

with ``∂I/∂a``, ``∂I/∂b`` from :func:`ml_networks_jax.special.beta.betainc_logit_tangent`, which
returns them already divided by the density, so nothing underflows for concentrations down to
1e-3 or up to 1e4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy import special as jsp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    Distribution,
    checked,
    distribution,
    is_zero_tangent,
    param,
)
from ml_networks_jax.distributions.gamma import log_standard_gamma, standard_gamma_entropy
from ml_networks_jax.special.beta import (
    betainc,
    betainc_logit,
    betainc_logit_tangent,
    log_beta_logit_density,
)


def _log_beta(a: ArrayLike, b: ArrayLike) -> Array:
    """``log B(a, b)`` from three log-gamma values (``jax.scipy.special.betaln`` loses ~1e-8
    relative in float64 for moderate arguments)."""
    return jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)


@jax.custom_jvp
def sigmoid(t: Array) -> Array:
    """``σ(t) = 1/(1 + e^(-t))`` whose derivative ``σ(t) σ(-t)`` is exact where ``σ(t)`` rounds
    to 1 (the derivative of ``jax.nn.sigmoid`` there is 0)."""
    return jax.nn.sigmoid(t)


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    return sigmoid(t), sigmoid(t) * sigmoid(-t) * dt


def logit(x: ArrayLike) -> Array:
    """``log(x / (1 - x))``."""
    return jnp.log(x) - jnp.log1p(-x)


def _beta_tangent(a: Array, b: Array, da: Array, db: Array, t: Array) -> Array:
    """``(∂I/∂θ · dθ) / q_t(t) = h_a da + h_b db`` at logit ``t``, computing only the partials
    of the concentrations that move."""
    moved = {w: d for w, d in (("a", da), ("b", db)) if not is_zero_tangent(d)}
    h = betainc_logit_tangent(a, b, t, wrt="".join(moved)) if moved else ()
    return sum((h_w * d for h_w, d in zip(h, moved.values(), strict=True)), jnp.zeros_like(t))


@distribution
class LogitBeta(Distribution):
    """Law of ``t = log(x / (1 - x))`` for ``x ~ Beta(concentration1, concentration0)``.

    Density ``q(t) = σ(t)^a σ(-t)^b / B(a, b)`` on the real line; CDF ``I_{σ(t)}(a, b)``
    evaluated from ``t``. This is the log-space sample :class:`Beta` and
    :class:`~ml_networks_jax.FisherSnedecor` build on.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> t = mnj.LogitBeta(0.01, 0.01).rsample(jax.random.key(0), (3,))
        >>> bool((abs(t) > 1).all())  # x = σ(t) sits at 0 or 1; t keeps it exact
        True
    """

    concentration1: Array = param()
    concentration0: Array = param()

    _positive = ("concentration1", "concentration0")

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        a, b = (jnp.broadcast_to(p, shape) for p in (self.concentration1, self.concentration0))
        log_g = log_standard_gamma(key, jnp.stack([a, b])).reshape((2,) + shape)
        return (log_g[0] - log_g[1]).astype(self.dtype)

    def _cdf_tangent(self, ddist: LogitBeta, t: Array) -> Array:
        return _beta_tangent(
            self.concentration1,
            self.concentration0,
            ddist.concentration1,
            ddist.concentration0,
            t,
        )

    @checked
    def log_prob(self, t: ArrayLike) -> Array:
        return log_beta_logit_density(self.concentration1, self.concentration0, t)

    @checked
    def cdf(self, t: ArrayLike) -> Array:
        return betainc_logit(self.concentration1, self.concentration0, t)

    @checked
    def log_cdf(self, t: ArrayLike) -> Array:
        return jnp.log(self.cdf(t))

    @checked
    def log_survival(self, t: ArrayLike) -> Array:
        """``log(1 - I_x(a, b)) = log I_{1-x}(b, a)``: the upper tail directly."""
        return jnp.log(betainc_logit(self.concentration0, self.concentration1, -t))

    @checked
    def mean(self) -> Array:
        """``ψ(a) - ψ(b)``."""
        return jsp.digamma(self.concentration1) - jsp.digamma(self.concentration0)

    @checked
    def mode(self) -> Array:
        """``log(a / b)``."""
        return jnp.log(self.concentration1) - jnp.log(self.concentration0)

    @checked
    def variance(self) -> Array:
        """``ψ'(a) + ψ'(b)``."""
        a, b = self._broadcast(self.concentration1, self.concentration0)
        return jsp.polygamma(1, a) + jsp.polygamma(1, b)


@distribution
class Beta(Distribution):
    """Beta distribution on ``[0, 1]``: ``q(x) = x^(a-1) (1-x)^(b-1) / B(a, b)``.

    CDF ``I_x(a, b)``; implicit gradients in both concentrations through it,

        dx/da = -(∂I_x(a, b)/∂a) / q(x),        dx/db = -(∂I_x(a, b)/∂b) / q(x),

    evaluated at the logit of the draw (see :class:`LogitBeta`): unbiased and finite for
    concentrations from 1e-3 to 1e4 in float32. For ``a, b ≲ 0.1`` many float32 draws round to
    exactly 0 or 1; :meth:`sample_and_log_prob` still returns their exact, finite log density.

    Args:
        concentration1: ``a > 0`` (the exponent of ``x``).
        concentration0: ``b > 0`` (the exponent of ``1 - x``), broadcastable with ``a``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> def mean_draw(a):
        ...     return mnj.Beta(a, 2.0).rsample(jax.random.key(0), (20000,)).mean()
        >>> g = jax.jit(jax.grad(mean_draw))(2.0)  # d/da a/(a + b) = b/(a + b)² = 0.125
        >>> bool(abs(g - 0.125) < 0.01)
        True
    """

    _support = (0.0, 1.0)
    _positive = ("concentration1", "concentration0")

    concentration1: Array = param()
    concentration0: Array = param()

    def logit_beta(self) -> LogitBeta:
        """The law of ``log(x / (1 - x))``."""
        return LogitBeta(self.concentration1, self.concentration0)

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return jax.nn.sigmoid(self.logit_beta()._draw(key, shape))

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return sigmoid(self.logit_beta().rsample_implicit(key, sample_shape))

    def sample_and_log_prob(self, key: PRNGKey, sample_shape: Shape = ()) -> tuple[Array, Array]:
        """A draw and its log density, the latter from the logit: finite where ``x`` rounds."""
        t = self.logit_beta().rsample_implicit(key, sample_shape)
        # log q(x) = log q_t(t) - log x - log(1 - x), with -log x = softplus(-t).
        return sigmoid(t), self.logit_beta().log_prob(t) + jax.nn.softplus(-t) + jax.nn.softplus(t)

    def _cdf_tangent(self, ddist: Beta, x: Array) -> Array:
        # ∂I/∂θ / q(x) = (∂I/∂θ / q_t) · x (1 - x), q(x) = q_t / (x (1 - x)).
        a, b = self.concentration1, self.concentration0
        tangent = _beta_tangent(a, b, ddist.concentration1, ddist.concentration0, logit(x))
        return x * (1.0 - x) * tangent

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        a, b = self.concentration1, self.concentration0
        inside = (x > 0) & (x < 1)
        x_in = jnp.where(inside, x, 0.5)
        log_q = log_beta_logit_density(a, b, logit(x_in)) - jnp.log(x_in) - jnp.log1p(-x_in)
        # At the end points the plain formula is exact; outside it is -inf (x replaced, so that
        # no NaN reaches the gradient through the branch not taken).
        support = (x >= 0) & (x <= 1)
        x_edge = jnp.where(support, x, 0.5)
        edge = jsp.xlogy(a - 1.0, x_edge) + jsp.xlog1py(b - 1.0, -x_edge) - _log_beta(a, b)
        edge = jnp.where(support, edge, -jnp.inf)
        return jnp.where(inside, log_q, edge)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return betainc(self.concentration1, self.concentration0, jnp.clip(x, 0.0, 1.0))

    @checked
    def log_cdf(self, x: ArrayLike) -> Array:
        """``log I_x(a, b)``; ``-inf`` with a zero gradient for ``x <= 0``."""
        above = x > 0
        return jnp.where(above, jnp.log(self.cdf(jnp.where(above, x, 0.5))), -jnp.inf)

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``log I_{1-x}(b, a)``: the upper tail directly, from the logit of ``x`` (``1 - x``
        rounds); 0 for ``x <= 0`` and ``-inf`` with a zero gradient for ``x >= 1``."""
        inside = (x > 0) & (x < 1)
        value = self.logit_beta().log_survival(logit(jnp.where(inside, x, 0.5)))
        return jnp.where(inside, value, jnp.where(x <= 0, 0.0, -jnp.inf))

    @checked
    def mean(self) -> Array:
        a, b = self._broadcast(self.concentration1, self.concentration0)
        return a / (a + b)

    @checked
    def mode(self) -> Array:
        """``(a - 1)/(a + b - 2)`` for ``a, b > 1``; NaN otherwise (the density is unbounded or
        has its maximum at an end point)."""
        a, b = self._broadcast(self.concentration1, self.concentration0)
        return nan_unless((a > 1) & (b > 1), (a - 1.0) / (a + b - 2.0))

    @checked
    def variance(self) -> Array:
        a, b = self._broadcast(self.concentration1, self.concentration0)
        total = a + b
        return a * b / (total**2 * (total + 1.0))

    @checked
    def entropy(self) -> Array:
        """``log B(a, b) - (a-1) ψ(a) - (b-1) ψ(b) + (a+b-2) ψ(a+b)``, evaluated as ``h(a) +
        h(b) - h(a+b) - ψ(a+b)`` with ``h`` the entropy of ``Gamma(·, 1)``
        (:func:`~ml_networks_jax.distributions.gamma.standard_gamma_entropy`): the closed form
        cancels for large concentrations."""
        a, b = self._broadcast(self.concentration1, self.concentration0)
        h = standard_gamma_entropy
        return h(a) + h(b) - h(a + b) - jsp.digamma(a + b)
