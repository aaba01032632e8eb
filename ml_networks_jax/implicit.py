"""The implicit reparameterization engine (Figurnov, Mohamed & Mnih, NeurIPS 2018).

A sample ``z ~ q(z; θ)`` drawn by any (non-differentiable) sampler satisfies ``T(z; θ) = ε`` for a
standardizing map ``T`` whose value ``ε`` does not depend on θ. For a univariate family ``T`` is
the CDF ``F`` and ``ε`` a uniform variate; for an event family it is a triangular map (sequential
conditional standardization). Differentiating ``T(z(θ); θ) = ε`` gives the tangent

    dz = -(∂T/∂z)⁻¹ (∂T/∂θ · dθ),       univariate: dz = -(∂F/∂θ · dθ) / q(z; θ).

:func:`reparameterize` attaches exactly this tangent to an already drawn sample with
``jax.custom_jvp``; reverse mode follows by JAX's transposition. The rule is built from
differentiable JAX operations and evaluates the sample through :func:`reparameterize` itself, so
second derivatives (``jax.hessian``) pick up d²z/dθ² correctly. This module is the one place the
formula lives: a family contributes only its CDF (with accurate parameter derivatives where autodiff
of the CDF would not be, e.g. the incomplete gamma function in its shape) and its log density.

Only the parameters being differentiated cost anything: the rule receives JAX's symbolic zeros and
hands a family's ``_cdf_tangent`` the Python float ``0.0`` for a parameter that is not moving
(:func:`~ml_networks_jax.distributions.base.is_zero_tangent`), so e.g. a Beta differentiated in
one concentration runs one derivative recurrence, not two.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ml_networks_jax._indices import map_blocks
from ml_networks_jax._types import Array
from ml_networks_jax.distributions.base import Distribution, dense_tangent, is_zero_tangent


@jax.custom_jvp
def reparameterize(dist: Distribution, z: Array) -> Array:
    """Return ``z`` unchanged, with the implicit reparameterization tangent in ``dist``.

    Args:
        dist: the distribution ``z`` was drawn from; its array leaves are the parameters θ.
        z: a draw of shape ``sample_shape + batch_shape + event_shape``; any tangent it carries is
            ignored (the sampler's randomness does not depend on θ).

    Returns:
        ``z``, whose JVP is ``-(∂T/∂z)⁻¹ ∂T/∂θ · dθ`` (univariate: ``-(∂F/∂θ · dθ) / q(z)``).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> def mean_sample(a):
        ...     d = mnj.Gamma(a, 1.0)
        ...     return reparameterize(d, d.sample(jax.random.key(0), (4096,))).mean()
        >>> round(float(jax.grad(mean_sample)(3.0)), 1)  # d E[z] / dα = 1 for a unit rate
        1.0
    """
    return z


def _reparameterize_jvp(primals, tangents):
    dist, z = primals
    # Parameters that are not being differentiated arrive as symbolic zeros: Python 0.0 here.
    zero = jax.custom_derivatives.SymbolicZero
    ddist = jax.tree.map(lambda t: 0.0 if isinstance(t, zero) else t, tangents[0])
    z = reparameterize(dist, z)  # the output itself, so that a second derivative sees dz/dθ
    if all(is_zero_tangent(t) for t in jax.tree.leaves(ddist)):
        return z, jnp.zeros_like(z)  # only z's own tangent moves, and the sampler ignores it
    if dist.event_ndims == 0:
        dz = _univariate_tangent(dist, ddist, z)
    else:
        dz = _event_tangent(dist, ddist, z)
    return z, jnp.broadcast_to(dz, z.shape).astype(z.dtype)


reparameterize.defjvp(_reparameterize_jvp, symbolic_zeros=True)


#: Draws of an event family are differentiated in blocks of about this many scalars of ``z``
#: (a mixture of K components of event size D keeps ~K·D intermediates per draw and quantity).
_EVENT_BLOCK = 16384


def _event_tangent(dist: Distribution, ddist: Distribution, z: Array) -> Array:
    """``dz = -(∂T/∂z)⁻¹ (∂T/∂θ · dθ)`` for an event family, the draws in blocks.

    Draws are independent given θ: large samples are cut into blocks of draws (the last padded
    with copies of the first draw; :func:`~ml_networks_jax._indices.map_blocks`), each block's
    tangent under ``jax.checkpoint``, so that reverse mode recomputes a block's intermediates
    instead of keeping the whole sample's (figures in ``benchmarks/README.md``)."""
    tangent = dense_tangent(dist, ddist)

    def solve(_, zs):
        _, dt = jax.jvp(lambda d: d._standardize(zs), (dist,), (tangent,))
        return -dist._standardize_solve(zs, dt)

    n_sample = z.ndim - len(dist.batch_shape) - dist.event_ndims
    sample_shape, rest = z.shape[:n_sample], z.shape[n_sample:]
    per_draw = max(1, math.prod(rest))
    draws = math.prod(sample_shape)
    if draws * per_draw <= _EVENT_BLOCK or draws == 1:
        return solve(0, z)
    flat = z.reshape(draws, *rest)
    rows = max(1, _EVENT_BLOCK // per_draw)
    return map_blocks(jax.checkpoint(solve), (flat,), (None,), rows, 1).reshape(z.shape)


def _univariate_tangent(dist: Distribution, ddist: Distribution, z: Array) -> Array:
    """``dz = -(∂F/∂θ · dθ) / q(z)``."""
    return -cdf_tangent(dist, ddist, z)


def cdf_tangent(dist: Distribution, ddist: Distribution, z: Array) -> Array:
    """``(∂F/∂θ · dθ) / q(z)`` of a univariate family: the family's own ``_cdf_tangent`` (which
    computes the ratio directly, without ``1/q`` or ``∂F/∂θ`` having to be representable on their
    own) or :func:`_tail_cdf_tangent`."""
    own = getattr(dist, "_cdf_tangent", None)
    return _tail_cdf_tangent(dist, ddist, z) if own is None else own(ddist, z)


def _tail_cdf_tangent(dist: Distribution, ddist: Distribution, z: Array) -> Array:
    """``(∂F/∂θ · dθ) / q(z)`` through the smaller tail ``T`` (``F`` or ``1 - F``):
    ``±exp(log T - log q(z)) · (∂ log T/∂θ · dθ)``. Linear in the tangent, as JAX's transposition
    requires; families whose tails matter override ``log_cdf`` / ``log_survival`` with accurate
    versions.
    """

    def log_tails(d: Distribution) -> tuple[Array, Array]:
        return d.log_cdf(z), d.log_survival(z)

    (log_f, log_s), (dlog_f, dlog_s) = jax.jvp(log_tails, (dist,), (dense_tangent(dist, ddist),))
    lower = jax.lax.stop_gradient(log_f <= log_s)
    log_t = jnp.where(lower, log_f, log_s)
    return jnp.exp(log_t - dist.log_prob(z)) * jnp.where(lower, dlog_f, -dlog_s)
