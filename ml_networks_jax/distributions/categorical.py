"""The one-hot categorical distribution, its straight-through sampler and the Gumbel-softmax.

Discrete families have no pathwise gradient. ``rsample`` is the straight-through estimator
(Bengio et al. 2013; DreamerV2): the value is the one-hot draw, the gradient that of ``probs``.
:func:`gumbel_softmax` is the continuous relaxation (Jang et al. 2017; Maddison et al. 2017).
"""

from __future__ import annotations

import dataclasses
from typing import NoReturn

import jax
import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    Distribution,
    as_float_param,
    as_sample_shape,
    check_key,
    checked,
    param,
    register_restoring,
)


def discrete_distribution(cls: type) -> type:
    """Like ``distribution``, but unflattening restores the fields without calling the
    constructor, which takes ``logits`` or ``probs`` and converts them: tangents, cotangents and
    placeholders (``jax.tree.map``, ``vmap``, ``grad``) are stored as they come."""
    return register_restoring(
        dataclasses.dataclass(frozen=True, eq=False, repr=False, init=False)(cls)
    )


def safe_log(x: Array) -> Array:
    """``log x`` with ``-inf`` and a zero gradient (not NaN) where ``x = 0``."""
    return jnp.where(x > 0, jnp.log(jnp.where(x > 0, x, 1.0)), -jnp.inf)


def kl_terms(log_p: Array, log_q: Array) -> Array:
    """Elementwise ``p (log p - log q)``: 0 where ``p = 0``, ``+inf`` where ``q = 0 < p``; no NaN
    in values or gradients."""
    zero_p, zero_q = jnp.isneginf(log_p), jnp.isneginf(log_q)
    diff = jnp.where(zero_p | zero_q, 0.0, log_p - log_q)
    return jnp.where(zero_q & ~zero_p, jnp.inf, jnp.exp(log_p) * diff)


def straight_through(hard: Array, soft: Array) -> Array:
    """The value of ``hard`` (exactly), the gradient of ``soft``."""
    return hard + (soft - jax.lax.stop_gradient(soft))


class Discrete(Distribution):
    """Shared by the discrete families: built from exactly one of ``logits`` or ``probs`` (stored
    as the field ``logits``), straight-through ``rsample``, no implicit reparameterization."""

    logits: Array

    def __init__(self, logits: ArrayLike | None = None, probs: ArrayLike | None = None) -> None:
        cls = type(self).__name__
        if logits is not None and probs is not None:
            raise ValueError(f"{cls}: give either logits or probs, not both logits and probs.")
        if logits is None and probs is None:
            raise ValueError(f"{cls}: give logits or probs (neither was given).")
        name, value = ("logits", logits) if probs is None else ("probs", probs)
        value = as_float_param(value, name, cls)
        shape = tuple(value.shape)
        if len(shape) < self.event_ndims or 0 in shape[len(shape) - self.event_ndims :]:
            raise ValueError(
                f"{cls}: {name} must have at least {self.event_ndims} dims, the last "
                f"{self.event_ndims} non-empty (one entry per outcome), got shape {shape}."
            )
        if isinstance(value, jax.Array):  # (a jax.ShapeDtypeStruct describes it: kept as is)
            value = self._from_logits(value) if probs is None else self._from_probs(value)
        object.__setattr__(self, "logits", value)

    def _from_logits(self, logits: Array) -> Array:
        return logits

    def _as_float(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(self.dtype)

    def rsample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """Straight-through: the value of :meth:`sample` (exactly), the gradient of ``probs``."""
        return straight_through(self.sample(key, sample_shape), self.probs)

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> NoReturn:
        raise NotImplementedError(
            f"{type(self).__name__} is discrete: it has no implicit reparameterization gradient. "
            "Use rsample (straight-through) or a continuous relaxation instead."
        )

    @checked
    def mean(self) -> Array:
        return self.probs


@discrete_distribution
class OneHotCategorical(Discrete):
    """Categorical distribution over one-hot vectors: ``P(x = e_k) = p_k``, event shape ``(K,)``.

    Give exactly one of ``logits`` (unnormalized log-probabilities) or ``probs`` (nonnegative
    weights, normalized here); both of shape ``batch_shape + (K,)``. The stored field ``logits``
    holds the normalized ``log p`` (``-inf`` where ``p_k = 0``); ``probs`` is ``exp(logits)``.
    ``log_prob(x) = Σ_k x_k log p_k``, ``entropy = -Σ p_k log p_k``. Draws invert the CDF
    (class probabilities exact up to the rounding of their cumulative sums, ``~1e-7`` in
    float32). ``rsample`` is straight-through: ``x + p - stop_gradient(p)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from ml_networks_jax.distributions.categorical import OneHotCategorical
        >>> d = OneHotCategorical(logits=jnp.log(jnp.array([0.2, 0.3, 0.5])))
        >>> x = d.rsample(jax.random.key(0), (4,))
        >>> x.shape, bool((x.sum(-1) == 1).all())
        ((4, 3), True)
        >>> d.mode()
        Array([0., 0., 1.], dtype=float32)
    """

    logits: Array = param(event_ndims=1)  # normalized log-probabilities

    event_ndims = 1

    def _from_logits(self, logits: Array) -> Array:
        return jax.nn.log_softmax(logits, axis=-1)

    def _from_probs(self, probs: Array) -> Array:
        return safe_log(probs) - jnp.log(jnp.sum(probs, axis=-1, keepdims=True))

    @property
    def probs(self) -> Array:
        """``p_k = exp(logits_k)``, summing to 1 over the last axis."""
        return jnp.exp(self.logits)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (jnp.shape(self.logits)[-1],)

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        # Inverse CDF: the first class whose cumulative probability exceeds u · total, one uniform
        # per draw (Gumbel-max needs K and was 4x slower on CPU); a class of p_k = 0 never wins.
        cdf = jnp.broadcast_to(jnp.cumsum(self.probs, axis=-1), shape)
        above = cdf > jax.random.uniform(key, shape[:-1] + (1,), self.dtype) * cdf[..., -1:]
        first = above & ~jnp.concatenate([jnp.zeros_like(above[..., :1]), above[..., :-1]], -1)
        return first.astype(self.dtype)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``Σ_k x_k log p_k`` for one-hot ``x``: ``-inf`` where ``x`` selects ``p_k = 0`` and
        where ``x`` is not one-hot."""
        x = self._as_float(x)
        impossible = jnp.isneginf(self.logits)
        lp = jnp.sum(x * jnp.where(impossible, 0.0, self.logits), axis=-1)
        one_hot = jnp.all((x == 0) | (x == 1), -1) & (jnp.sum(x, -1) == 1)
        return jnp.where(jnp.any(impossible & (x != 0), axis=-1) | ~one_hot, -jnp.inf, lp)

    @checked
    def entropy(self) -> Array:
        """``-Σ_k p_k log p_k`` (terms with ``p_k = 0`` count 0)."""
        return -jnp.sum(self.probs * jnp.where(jnp.isneginf(self.logits), 0.0, self.logits), -1)

    @checked
    def mode(self) -> Array:
        """One-hot at ``argmax p`` (the first index on ties)."""
        return jax.nn.one_hot(jnp.argmax(self.logits, -1), self.event_shape[0], dtype=self.dtype)

    @checked
    def variance(self) -> Array:
        return self.probs * -jnp.expm1(self.logits)


def kl_categorical(p: OneHotCategorical, q: OneHotCategorical) -> Array:
    """``KL(p ‖ q) = Σ_k p_k (log p_k - log q_k)``: 0 terms where ``p_k = 0``, ``+inf`` where
    ``q_k = 0 < p_k``."""
    return jnp.sum(kl_terms(p.logits, q.logits), axis=-1)


def gumbel_softmax(
    key: PRNGKey,
    logits: ArrayLike,
    temperature: ArrayLike,
    sample_shape: Shape = (),
    hard: bool = False,
) -> Array:
    """Relaxed one-hot draw ``softmax((logits + g) / τ)``, ``g_k`` i.i.d. standard Gumbel.

    Shape ``sample_shape + logits.shape``. As ``τ → 0`` draws approach one-hot vectors whose
    ``argmax`` (Gumbel-max) is distributed as ``softmax(logits)``. ``hard=True``: that one-hot
    ``argmax`` as the value, the soft draw's gradient.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from ml_networks_jax.distributions.categorical import gumbel_softmax
        >>> y = gumbel_softmax(jax.random.key(0), jnp.zeros(4), 0.5, (2,))
        >>> y.shape, bool(jnp.allclose(y.sum(-1), 1.0))
        ((2, 4), True)
    """
    where = "gumbel_softmax(key, logits, temperature, sample_shape)"
    check_key(key, where)
    logits = as_float_param(logits, "logits", "gumbel_softmax")
    temperature = as_float_param(temperature, "temperature", "gumbel_softmax")
    shape = as_sample_shape(sample_shape, where)
    shape = shape + jnp.shape(logits)
    perturbed = logits + jax.random.gumbel(key, shape, logits.dtype)
    soft = jax.nn.softmax(perturbed / temperature, axis=-1)
    if not hard:
        return soft
    one_hot = jax.nn.one_hot(jnp.argmax(perturbed, axis=-1), shape[-1], dtype=soft.dtype)
    return straight_through(one_hot, soft)
