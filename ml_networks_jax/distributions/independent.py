"""Reinterpret batch dimensions of a distribution as event dimensions."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    Distribution,
    distribution,
    expect_distribution,
    has_placeholder_leaves,
    static_field,
)


@distribution
class Independent(Distribution):
    """The product of ``base`` over its last ``reinterpreted_batch_ndims`` batch dims.

    ``log_prob`` and ``entropy`` sum over those dims; samples and their gradients are the base
    distribution's, so ``Independent(Normal(loc, scale), 1)`` is a diagonal Gaussian.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> d = mnj.Independent(mnj.Normal(jnp.zeros(3), 1.0), 1)
        >>> d.batch_shape, d.event_shape
        ((), (3,))
    """

    base: Distribution
    reinterpreted_batch_ndims: int = static_field(default=1)

    def __post_init__(self) -> None:
        expect_distribution(self.base, "Independent: base")
        n = self.reinterpreted_batch_ndims
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"Independent: reinterpreted_batch_ndims must be an int, got {n!r}.")
        object.__setattr__(self, "reinterpreted_batch_ndims", int(n))
        if has_placeholder_leaves(self.base):
            return
        n, base_batch = self.reinterpreted_batch_ndims, self.base.batch_shape
        if not 0 <= n <= len(base_batch):
            raise ValueError(
                f"Independent: reinterpreted_batch_ndims={n} must lie in [0, {len(base_batch)}] "
                f"for a base of batch shape {base_batch}."
            )

    @property
    def event_ndims(self) -> int:  # type: ignore[override]
        return self.base.event_ndims + self.reinterpreted_batch_ndims

    @property
    def batch_shape(self) -> tuple[int, ...]:
        shape = self.base.batch_shape
        return shape[: len(shape) - self.reinterpreted_batch_ndims]

    @property
    def event_shape(self) -> tuple[int, ...]:
        shape = self.base.batch_shape
        return shape[len(shape) - self.reinterpreted_batch_ndims :] + self.base.event_shape

    @property
    def dtype(self):
        return self.base.dtype

    def _reduce(self, x: Array) -> Array:
        return jnp.sum(x, axis=tuple(range(-self.reinterpreted_batch_ndims, 0)))

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return self.base._draw(key, shape)

    def sample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return self.base.sample(key, sample_shape)

    def rsample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return self.base.rsample(key, sample_shape)

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        return self.base.rsample_implicit(key, sample_shape)

    def sample_and_log_prob(self, key: PRNGKey, sample_shape: Shape = ()) -> tuple[Array, Array]:
        z, lp = self.base.sample_and_log_prob(key, sample_shape)
        return z, self._reduce(lp)

    def log_prob(self, x: ArrayLike) -> Array:
        return self._reduce(self.base.log_prob(x))

    def entropy(self) -> Array:
        return self._reduce(self.base.entropy())

    def mean(self) -> Array:
        return self.base.mean()

    def mode(self) -> Array:
        return self.base.mode()

    def variance(self) -> Array:
        return self.base.variance()
