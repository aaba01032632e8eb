"""The multivariate normal distribution, parameterized by a Cholesky factor."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import LOG_2PI, Distribution, checked, distribution, param


def tril_matvec(tril: Array, v: Array) -> Array:
    """``L v`` over broadcast batch dims; entries above the diagonal are ignored, as in solves."""
    return jnp.einsum("...ij,...j->...i", jnp.tril(tril), v)


def tril_solve(tril: Array, b: Array) -> Array:
    """``L⁻¹ b`` for lower-triangular ``L``, broadcasting the batch dims of both."""
    batch = jnp.broadcast_shapes(tril.shape[:-2], b.shape[:-1])
    tril = jnp.broadcast_to(tril, batch + tril.shape[-2:])
    b = jnp.broadcast_to(b, batch + b.shape[-1:])
    return jax.lax.linalg.triangular_solve(tril, b[..., None], left_side=True, lower=True)[..., 0]


@distribution
class MultivariateNormal(Distribution):
    """Multivariate normal ``N(loc, L Lᵀ)`` with lower-triangular ``scale_tril = L``.

    ``log q(z) = -½‖L⁻¹(z - loc)‖² - Σ log|L_ii| - (d/2) log 2π``. Explicit draws are
    ``loc + L ε``. The implicit path standardizes with the triangular map ``ε = L⁻¹(z - loc)``
    and solves its Jacobian in closed form, ``dz = -L (∂ε/∂θ · dθ) = dloc + dL ε``: the explicit
    gradient exactly.

    Args:
        loc: mean, shape ``batch + (d,)``.
        scale_tril: lower-triangular factor with positive diagonal, shape ``batch + (d, d)``.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> cov = jnp.array([[2.0, 1.0], [1.0, 2.0]])
        >>> d = mnj.MultivariateNormal.from_covariance(jnp.zeros(2), cov)
        >>> d.sample(jax.random.key(0), (5,)).shape
        (5, 2)
    """

    loc: Array = param(event_ndims=1)
    scale_tril: Array = param(event_ndims=2)

    event_ndims = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        loc_shape = getattr(self.loc, "shape", None)
        tril_shape = getattr(self.scale_tril, "shape", None)
        if loc_shape is None or tril_shape is None:
            return
        d = loc_shape[-1]
        if tril_shape[-2:] != (d, d):
            raise ValueError(
                f"MultivariateNormal: scale_tril must end in ({d}, {d}) to match loc of shape "
                f"{tuple(loc_shape)}, got {tuple(tril_shape)}."
            )

    @classmethod
    def from_covariance(cls, loc: ArrayLike, covariance: ArrayLike) -> MultivariateNormal:
        """From a symmetric positive-definite covariance (via its Cholesky factor)."""
        return cls(loc, jnp.linalg.cholesky(jnp.asarray(covariance)))

    @classmethod
    def from_diag(cls, loc: ArrayLike, scale_diag: ArrayLike) -> MultivariateNormal:
        """With a diagonal scale (independent coordinates, standard deviations ``scale_diag``)."""
        scale_diag = jnp.asarray(scale_diag)
        return cls(
            loc, scale_diag[..., :, None] * jnp.eye(scale_diag.shape[-1], dtype=scale_diag.dtype)
        )

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (jnp.shape(self.loc)[-1],)

    def _valid(self) -> Array:
        """A positive diagonal of ``scale_tril`` and no NaN in ``loc`` or its lower triangle
        (entries above the diagonal are ignored)."""
        tril = jnp.tril(self.scale_tril)
        diagonal = jnp.diagonal(self.scale_tril, axis1=-2, axis2=-1)
        return (
            jnp.all(diagonal > 0, -1)
            & ~jnp.any(jnp.isnan(tril), (-2, -1))
            & ~jnp.any(jnp.isnan(self.loc), -1)
        )

    def _explicit(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        z = self.loc + tril_matvec(self.scale_tril, jax.random.normal(key, shape, self.dtype))
        return nan_unless(self._valid()[..., None], z)

    _draw = _explicit

    def _standardize(self, z: Array) -> Array:
        return tril_solve(self.scale_tril, z - self.loc)

    def _standardize_solve(self, z: Array, v: Array) -> Array:
        return tril_matvec(self.scale_tril, v)  # ∂ε/∂z = L⁻¹, so solving it is multiplying by L

    def _half_log_det(self) -> Array:
        return jnp.sum(jnp.log(jnp.abs(jnp.diagonal(self.scale_tril, axis1=-2, axis2=-1))), -1)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        eps = self._standardize(x)
        d = self.event_shape[0]
        return -0.5 * (jnp.sum(eps * eps, -1) + d * LOG_2PI) - self._half_log_det()

    @checked
    def mean(self) -> Array:
        return jnp.broadcast_to(self.loc, self.batch_shape + self.event_shape)

    mode = mean

    @checked
    def covariance(self) -> Array:
        """``L Lᵀ``, shape ``batch + (d, d)``."""
        cov = self.scale_tril @ jnp.swapaxes(self.scale_tril, -1, -2)
        return jnp.broadcast_to(cov, self.batch_shape + self.event_shape * 2)

    @checked
    def variance(self) -> Array:
        return jnp.broadcast_to(
            jnp.sum(self.scale_tril**2, -1), self.batch_shape + self.event_shape
        )

    @checked
    def entropy(self) -> Array:
        d = self.event_shape[0]
        h = 0.5 * d * (1.0 + LOG_2PI) + self._half_log_det()
        return jnp.broadcast_to(h, self.batch_shape)
