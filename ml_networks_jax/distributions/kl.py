"""Closed-form Kullback-Leibler divergences, ``KL(p ‖ q) = E_p[log p(z) - log q(z)]``."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax.scipy import special as jsp

from ml_networks_jax._types import Array
from ml_networks_jax.distributions.base import (
    Distribution,
    expect_distribution,
    has_placeholder_leaves,
    qualified_name,
)
from ml_networks_jax.distributions.bernoulli import Bernoulli, kl_bernoulli
from ml_networks_jax.distributions.beta import Beta, _log_beta
from ml_networks_jax.distributions.categorical import OneHotCategorical, kl_categorical
from ml_networks_jax.distributions.dirichlet import Dirichlet
from ml_networks_jax.distributions.exponential import Exponential
from ml_networks_jax.distributions.gamma import _GammaLaw
from ml_networks_jax.distributions.independent import Independent
from ml_networks_jax.distributions.inverse_gamma import InverseGamma
from ml_networks_jax.distributions.kumaraswamy import Kumaraswamy
from ml_networks_jax.distributions.log_normal import LogNormal
from ml_networks_jax.distributions.multivariate_normal import MultivariateNormal, tril_solve
from ml_networks_jax.distributions.normal import Normal
from ml_networks_jax.distributions.truncated_normal import (
    TruncatedNormal,
    kl_truncated_normal_uniform,
)
from ml_networks_jax.distributions.uniform import Uniform
from ml_networks_jax.distributions.von_mises import VonMises, kl_von_mises, kl_von_mises_uniform

_REGISTRY: dict[tuple[type, type], Callable[[Distribution, Distribution], Array]] = {}


def register_kl(p_type: type, q_type: type) -> Callable:
    """Decorator registering a closed form for ``KL(p_type ‖ q_type)``."""

    def register(fn: Callable) -> Callable:
        _REGISTRY[p_type, q_type] = fn
        return fn

    return register


def kl_divergence(p: Distribution, q: Distribution) -> Array:
    """``KL(p ‖ q)``, batched over the broadcast batch shapes; a state
    (:mod:`ml_networks_jax.stoch`) stands for its distribution (one event per batch row).

    The closed form registered for the most specific pair of types in the two MROs is used;
    a pair with none raises ``NotImplementedError`` (estimate it by Monte Carlo instead). Batch
    shapes that do not broadcast and event shapes that differ raise a ``ValueError``; anything but
    a distribution of this library (or a state) a ``TypeError``.

    Example:
        >>> import ml_networks_jax as mnj
        >>> round(float(mnj.kl_divergence(mnj.Normal(0.0, 1.0), mnj.Normal(1.0, 1.0))), 6)
        0.5
    """
    p, q = (d.get_distribution() if hasattr(d, "get_distribution") else d for d in (p, q))
    expect_distribution(p, "kl_divergence(p, q): p")
    expect_distribution(q, "kl_divergence(p, q): q")
    _check_shapes(p, q)
    for p_cls in type(p).__mro__:
        for q_cls in type(q).__mro__:
            fn = _REGISTRY.get((p_cls, q_cls))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(
        f"No closed-form KL divergence between {qualified_name(type(p))} and "
        f"{qualified_name(type(q))}; estimate it by Monte Carlo (the mean of p.log_prob(z) - "
        "q.log_prob(z) over draws z of p)."
    )


def _check_shapes(p: Distribution, q: Distribution) -> None:
    """A ``ValueError`` naming both classes where the batch shapes do not broadcast or the event
    shapes differ (shapes only)."""
    if has_placeholder_leaves((p, q)):
        return
    names = f"p ({qualified_name(type(p))}) and q ({qualified_name(type(q))})"
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"kl_divergence(p, q): the event shapes of {names} must be equal, got "
            f"{p.event_shape} and {q.event_shape}."
        )
    try:
        np.broadcast_shapes(p.batch_shape, q.batch_shape)
    except ValueError:
        raise ValueError(
            f"kl_divergence(p, q): the batch shapes of {names} do not broadcast: "
            f"{p.batch_shape} and {q.batch_shape}."
        ) from None


@register_kl(Normal, Normal)
def _kl_normal(p: Normal, q: Normal) -> Array:
    """``½ (((μp - μq)/σq)² + expm1(2d)) - d`` with ``d = log σp - log σq``."""
    d = jnp.log(p.scale) - jnp.log(q.scale)
    return 0.5 * (((p.loc - q.loc) / q.scale) ** 2 + jnp.expm1(2.0 * d)) - d


@register_kl(LogNormal, LogNormal)
def _kl_log_normal(p: LogNormal, q: LogNormal) -> Array:
    return _kl_normal(Normal(p.loc, p.scale), Normal(q.loc, q.scale))  # invariant under exp


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Array:
    """``½ (‖Lq⁻¹ Lp‖²_F + ‖Lq⁻¹(μq - μp)‖² - d) + log|Lq| - log|Lp|``."""
    d = p.event_shape[0]
    a = tril_solve(q.scale_tril[..., None, :, :], jnp.swapaxes(p.scale_tril, -1, -2))
    delta = tril_solve(q.scale_tril, q.loc - p.loc)
    trace = jnp.sum(a**2, axis=(-2, -1))
    return 0.5 * (trace + jnp.sum(delta**2, -1) - d) + q._half_log_det() - p._half_log_det()


@register_kl(Independent, Independent)
def _kl_independent(p: Independent, q: Independent) -> Array:
    # Event shapes are equal here; reinterpreted dims that differ leave the bases' event shapes
    # different, which kl_divergence refuses.
    return p._reduce(kl_divergence(p.base, q.base))


@register_kl(_GammaLaw, _GammaLaw)  # Gamma and Chi2 in any combination
def _kl_gamma(p: _GammaLaw, q: _GammaLaw) -> Array:
    (ap, bp), (aq, bq) = p._shape_rate(), q._shape_rate()
    return (
        (ap - aq) * jsp.digamma(ap)
        - jsp.gammaln(ap)
        + jsp.gammaln(aq)
        + aq * (jnp.log(bp) - jnp.log(bq))
        + ap * (bq - bp) / bp
    )


@register_kl(InverseGamma, InverseGamma)
def _kl_inverse_gamma(p: InverseGamma, q: InverseGamma) -> Array:
    return _kl_gamma(p, q)  # KL is invariant under z -> 1/z, which maps them to Gamma(α, rate=β)


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet(p: Dirichlet, q: Dirichlet) -> Array:
    """``log B(β) - log B(α) + Σ (α_k - β_k)(ψ(α_k) - ψ(α₀))``."""
    alpha, beta = p.concentration, q.concentration
    total = jnp.sum(alpha, -1, keepdims=True)
    cross = jnp.sum((alpha - beta) * (jsp.digamma(alpha) - jsp.digamma(total)), -1)
    return q._log_normalizer() - p._log_normalizer() + cross


@register_kl(Exponential, Exponential)
def _kl_exponential(p: Exponential, q: Exponential) -> Array:
    ratio = q.rate / p.rate
    return ratio - 1.0 - jnp.log(ratio)


@register_kl(Uniform, Uniform)
def _kl_uniform(p: Uniform, q: Uniform) -> Array:
    """``log((hq - lq)/(hp - lp))`` when ``[lp, hp] ⊆ [lq, hq]``, else ``+inf``."""
    inside = (q.low <= p.low) & (p.high <= q.high)
    return jnp.where(inside, jnp.log((q.high - q.low) / (p.high - p.low)), jnp.inf)


@register_kl(Beta, Beta)
def _kl_beta(p: Beta, q: Beta) -> Array:
    """``log B(a_q, b_q) - log B(a_p, b_p) + (a_p - a_q) ψ(a_p) + (b_p - b_q) ψ(b_p)
    + (a_q - a_p + b_q - b_p) ψ(a_p + b_p)``."""
    ap, bp, aq, bq = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    return (
        _log_beta(aq, bq)
        - _log_beta(ap, bp)
        + (ap - aq) * jsp.digamma(ap)
        + (bp - bq) * jsp.digamma(bp)
        + (aq - ap + bq - bp) * jsp.digamma(ap + bp)
    )


def _kl_to_uniform(p: Distribution, q: Uniform, low: Array, high: Array) -> Array:
    """``KL(p ‖ U[l, h]) = log(h - l) - H(p)`` when the support ``[low, high]`` of ``p`` lies in
    ``[l, h]``; ``+inf`` otherwise."""
    inside = (q.low <= low) & (high <= q.high)
    return jnp.where(inside, jnp.log(q.high - q.low) - p.entropy(), jnp.inf)


@register_kl(Beta, Uniform)
@register_kl(Kumaraswamy, Uniform)
def _kl_unit_interval_uniform(p: Beta | Kumaraswamy, q: Uniform) -> Array:
    return _kl_to_uniform(p, q, 0.0, 1.0)


register_kl(VonMises, VonMises)(kl_von_mises)
register_kl(VonMises, Uniform)(kl_von_mises_uniform)
register_kl(TruncatedNormal, Uniform)(kl_truncated_normal_uniform)
register_kl(OneHotCategorical, OneHotCategorical)(kl_categorical)
register_kl(Bernoulli, Bernoulli)(kl_bernoulli)
