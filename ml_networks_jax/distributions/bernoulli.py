"""The Bernoulli distribution, its straight-through sampler and the binary Concrete relaxation.

As for :class:`~ml_networks_jax.distributions.categorical.OneHotCategorical`, ``rsample`` is
straight-through (the value of the draw, the gradient of ``probs``) and :func:`relaxed_bernoulli`
the continuous relaxation (Maddison et al. 2017; Jang et al. 2017).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    as_float_param,
    as_sample_shape,
    check_key,
    checked,
    param,
)
from ml_networks_jax.distributions.categorical import (
    Discrete,
    discrete_distribution,
    kl_terms,
    safe_log,
    straight_through,
)


@discrete_distribution
class Bernoulli(Discrete):
    """Bernoulli distribution on ``{0., 1.}``: ``P(x = 1) = p = sigmoid(logits)``.

    Give exactly one of ``logits`` or ``probs``. Given ``probs``, ``logits = log p - log1p(-p)``
    is stored: ``-inf`` at ``p = 0`` and ``+inf`` at ``p = 1`` (certain outcomes; every method
    handles them, with zero gradients there). ``log_prob(x) = x log p + (1 - x) log(1 - p)`` with
    ``log p = -softplus(-logits)``, ``log(1 - p) = -softplus(logits)``. Draws are
    ``1[logits + L > 0]`` with ``L`` standard logistic; ``rsample`` is straight-through,
    ``x + p - stop_gradient(p)``.

    Example:
        >>> import jax
        >>> from ml_networks_jax.distributions.bernoulli import Bernoulli
        >>> d = Bernoulli(probs=0.25)
        >>> d.sample(jax.random.key(0), (3,)).shape
        (3,)
        >>> round(float(d.log_prob(1.0)), 4), float(d.mode())
        (-1.3863, 0.0)
    """

    logits: Array = param()

    _support = (0.0, 1.0)

    def _from_probs(self, probs: Array) -> Array:
        below_one = probs < 1
        log1m = jnp.log1p(-jnp.where(below_one, probs, 0.0))
        return safe_log(probs) - jnp.where(below_one, log1m, -jnp.inf)

    @property
    def probs(self) -> Array:
        """``p = sigmoid(logits)``."""
        return jax.nn.sigmoid(self.logits)

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        noise = jax.random.logistic(key, shape, self.dtype)
        return (self.logits + noise > 0).astype(self.dtype)

    def _finite(self) -> tuple[Array, Array]:
        finite = jnp.isfinite(self.logits)
        return finite, jnp.where(finite, self.logits, 0.0)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``log p`` at ``x = 1``, ``log(1 - p)`` at ``x = 0``, each exact in its tail; at
        infinite logits 0 for the certain outcome and ``-inf`` otherwise; ``-inf`` for ``x``
        outside ``{0, 1}``."""
        x = self._as_float(x)
        finite, l = self._finite()
        value = jnp.where(x == 1, -jax.nn.softplus(-l), -jax.nn.softplus(l))
        certain = jnp.where(x == (self.logits > 0).astype(x.dtype), 0.0, -jnp.inf)
        value = jnp.where(finite, value, certain)
        return jnp.where((x == 0) | (x == 1), value, -jnp.inf)

    @checked
    def entropy(self) -> Array:
        """``p softplus(-l) + (1 - p) softplus(l)``; 0 at infinite logits."""
        finite, l = self._finite()
        h = jax.nn.sigmoid(l) * jax.nn.softplus(-l) + jax.nn.sigmoid(-l) * jax.nn.softplus(l)
        return jnp.where(finite, h, 0.0)

    @checked
    def mode(self) -> Array:
        """1 where ``p > 1/2``, else 0 (ties give 0)."""
        return (self.logits > 0).astype(self.dtype)

    @checked
    def variance(self) -> Array:
        return jax.nn.sigmoid(self.logits) * jax.nn.sigmoid(-self.logits)


def _log_probs(d: Bernoulli) -> tuple[Array, Array]:
    """``(log p, log(1 - p))``, ``-inf`` at the impossible outcome of an infinite logit."""
    return jax.nn.log_sigmoid(d.logits), jax.nn.log_sigmoid(-d.logits)


def kl_bernoulli(p: Bernoulli, q: Bernoulli) -> Array:
    """``KL(p ‖ q) = p (log p - log q) + (1 - p)(log(1 - p) - log(1 - q))``."""
    (p1, p0), (q1, q0) = _log_probs(p), _log_probs(q)
    return kl_terms(p1, q1) + kl_terms(p0, q0)


def relaxed_bernoulli(
    key: PRNGKey,
    logits: ArrayLike,
    temperature: ArrayLike,
    sample_shape: Shape = (),
    hard: bool = False,
) -> Array:
    """Binary Concrete draw ``sigmoid((logits + L) / τ)``, ``L`` standard logistic.

    Shape ``sample_shape + logits.shape``. As ``τ → 0`` draws approach ``{0, 1}`` with
    ``P(1) = sigmoid(logits)``; ``hard=True`` thresholds at 1/2 (the value equals
    :class:`Bernoulli`'s sample with the same key) with the soft draw's gradient.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from ml_networks_jax.distributions.bernoulli import relaxed_bernoulli
        >>> y = relaxed_bernoulli(jax.random.key(0), jnp.zeros(3), 0.5, (2,), hard=True)
        >>> y.shape, bool(((y == 0) | (y == 1)).all())
        ((2, 3), True)
    """
    where = "relaxed_bernoulli(key, logits, temperature, sample_shape)"
    check_key(key, where)
    logits = as_float_param(logits, "logits", "relaxed_bernoulli")
    temperature = as_float_param(temperature, "temperature", "relaxed_bernoulli")
    shape = as_sample_shape(sample_shape, where)
    noise = jax.random.logistic(key, shape + jnp.shape(logits), jnp.result_type(logits))
    perturbed = logits + noise
    soft = jax.nn.sigmoid(perturbed / temperature)
    if not hard:
        return soft
    return straight_through((perturbed > 0).astype(soft.dtype), soft)
