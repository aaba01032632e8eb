"""The Dirichlet distribution, sampled and differentiated through log-space Gamma draws.

``x = g / Σ g`` with independent ``g_k ~ Gamma(α_k, 1)``. The draws are made as ``u_k = log g_k``
(:class:`~ml_networks_jax.distributions.gamma.ExpGamma`, exact down to ``α = 1e-4``) and
normalized in log space, ``log x = u - logsumexp(u)``, so that no coordinate is lost to underflow
before the end. Each ``u_k`` carries its implicit gradient ``du_k/dα_k = -(∂P(α_k, g_k)/∂α_k) /
q(u_k)`` (Figurnov, Mohamed & Mnih 2018, §3): the Dirichlet gradient is the chain rule through
the normalization, with no Dirichlet CDF needed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy import special as jsp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param
from ml_networks_jax.distributions.gamma import ExpGamma, standard_gamma_entropy


def _log_normalize(log_g: Array) -> Array:
    """``log g - log Σ g`` as ``(log g - m) - log Σ e^(log g - m)``, ``m = max log g``: the
    differences are exact (logsumexp itself rounds to ``eps·|m|``, which for concentrations
    ~1e-3, ``|log g| ~ 1e3``, put float32 draws ``1e-5`` off the simplex)."""
    shifted = log_g - jax.lax.stop_gradient(jnp.max(log_g, axis=-1, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


@distribution
class Dirichlet(Distribution):
    """Dirichlet distribution on the simplex: ``q(x) = Π x_k^(α_k - 1) / B(α)``.

    ``B(α) = Π Γ(α_k) / Γ(α₀)`` with ``α₀ = Σ α_k``. Samples are ``softmax(u)`` of log-space
    Gamma draws ``u_k = log g_k`` and are reparameterized implicitly through them. For
    concentrations below ~0.01, float32 coordinates of a draw underflow to 0; the log-space draw
    (:meth:`log_rsample`) and :meth:`sample_and_log_prob` stay exact and finite down to
    ``α = 1e-3``.

    Args:
        concentration: ``α > 0``, shape ``batch_shape + (K,)``.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> d = mnj.Dirichlet(jnp.array([1.0, 2.0, 3.0]))
        >>> x = d.rsample(jax.random.key(0), (4,))
        >>> x.shape, bool(jnp.allclose(x.sum(-1), 1.0))
        ((4, 3), True)
        >>> d.mean()
        Array([0.16666667, 0.33333334, 0.5       ], dtype=float32)
    """

    concentration: Array = param(event_ndims=1)

    event_ndims = 1
    _positive = ("concentration",)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (jnp.shape(self.concentration)[-1],)

    def _log_gamma(self) -> ExpGamma:
        return ExpGamma(self.concentration, jnp.ones((), self.dtype))

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return jnp.exp(_log_normalize(self._log_gamma()._draw(key, shape)))

    def log_rsample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """``log x`` of a reparameterized draw: finite where coordinates of ``x`` underflow."""
        return _log_normalize(self._log_gamma().rsample_implicit(key, sample_shape))

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return jnp.exp(self.log_rsample(key, sample_shape))

    def sample_and_log_prob(self, key: PRNGKey, sample_shape: Shape = ()) -> tuple[Array, Array]:
        """A reparameterized draw and its log density, the latter from ``log x``."""
        log_x = self.log_rsample(key, sample_shape)
        return jnp.exp(log_x), self.log_prob_from_log(log_x)

    def _log_normalizer(self) -> Array:
        """``log B(α) = Σ log Γ(α_k) - log Γ(α₀)``."""
        alpha = self.concentration
        return jnp.sum(jsp.gammaln(alpha), -1) - jsp.gammaln(jnp.sum(alpha, -1))

    @checked
    def log_prob_from_log(self, log_x: ArrayLike) -> Array:
        """``log q(x)`` given ``log x`` (e.g. from :meth:`log_rsample`)."""
        return jnp.sum((self.concentration - 1.0) * log_x, -1) - self._log_normalizer()

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``Σ (α_k - 1) log x_k - log B(α)`` on the simplex; ``-inf`` off it: a negative
        coordinate, or a sum further from 1 than ``K eps`` (the rounding of ``K`` coordinates that
        were normalized in the working precision)."""
        x = jnp.asarray(x)
        k = self.event_shape[0]
        tolerance = k * jnp.finfo(jnp.result_type(x, self.dtype)).eps
        inside = jnp.all(x >= 0, -1) & (jnp.abs(jnp.sum(x, -1) - 1.0) <= tolerance)
        log_q = jnp.sum(jsp.xlogy(self.concentration - 1.0, x), -1) - self._log_normalizer()
        return jnp.where(inside, log_q, -jnp.inf)

    def _total(self) -> Array:
        return jnp.sum(self.concentration, -1, keepdims=True)

    @checked
    def mean(self) -> Array:
        shape = self.batch_shape + self.event_shape
        return jnp.broadcast_to(self.concentration / self._total(), shape)

    @checked
    def mode(self) -> Array:
        """``(α_k - 1)/(α₀ - K)`` when every ``α_k > 1``; NaN otherwise."""
        alpha, k = self.concentration, self.event_shape[0]
        m = (alpha - 1.0) / (self._total() - k)
        return nan_unless(jnp.all(alpha > 1, -1, keepdims=True), m)

    @checked
    def variance(self) -> Array:
        """``α_k (α₀ - α_k) / (α₀² (α₀ + 1))``, with ``α₀ - α_k`` summed from the other
        concentrations (the difference cancels when one ``α_k`` dominates)."""
        alpha, total = self.concentration, self._total()
        zero = jnp.zeros_like(alpha[..., :1])
        before = jnp.concatenate([zero, jnp.cumsum(alpha[..., :-1], -1)], -1)
        after = jnp.concatenate([jnp.cumsum(alpha[..., :0:-1], -1)[..., ::-1], zero], -1)
        return alpha * (before + after) / (total**2 * (total + 1.0))

    @checked
    def covariance(self) -> Array:
        """``(diag(m) - m mᵀ)/(α₀ + 1)`` with ``m = α/α₀``; shape ``batch + (K, K)``."""
        m = self.mean()
        outer = m[..., :, None] * m[..., None, :]
        diag = m[..., :, None] * jnp.eye(self.event_shape[0], dtype=m.dtype)
        return (diag - outer) / (self._total()[..., None] + 1.0)

    @checked
    def entropy(self) -> Array:
        """``log B(α) + (α₀ - K) ψ(α₀) - Σ (α_k - 1) ψ(α_k)``, evaluated as ``Σ h(α_k) - h(α₀) -
        (K - 1) ψ(α₀)`` with ``h`` the entropy of ``Gamma(·, 1)``
        (:func:`~ml_networks_jax.distributions.gamma.standard_gamma_entropy`; the normalized
        Gamma variates): the closed form cancels for large concentrations."""
        alpha, k = self.concentration, self.event_shape[0]
        total = jnp.sum(alpha, -1)
        h = standard_gamma_entropy
        return jnp.sum(h(alpha), -1) - h(total) - (k - 1) * jsp.digamma(total)
