"""Mixtures with implicit gradients to the weights and to every component parameter.

``MixtureSameFamily(mixture_logits, components)`` mixes the K distributions stacked along the last
batch dimension of one ``components`` distribution; ``Mixture(mixture_logits, components)`` mixes
univariate distributions of different families given as a tuple. With weights
``w = softmax(mixture_logits)`` the density and the CDF are

    q(z) = Σ_k w_k q_k(z),        F(z) = Σ_k w_k F_k(z),

both differentiable in the logits and, through each family's own CDF derivative, in every component
parameter. A draw picks a component index ``k ~ Categorical(w)`` and a value from component ``k``;
its implicit gradient is the engine's (:mod:`ml_networks_jax.implicit`) applied to the mixture CDF:

    dz = -(Σ_k F_k(z) dw_k + w_k ∂F_k/∂θ_k · dθ_k) / q(z),

taken through the smaller tail in log space (``log F = logsumexp_k(log w_k + log F_k)``), so draws
in a far tail of the mixture keep finite, exact gradients. Unlike a straight-through or a
score-function treatment of ``k``, this is the exact pathwise gradient of the mixture draw (Graves
2016; Figurnov, Mohamed & Mnih 2018), and second derivatives follow by autodiff of the rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import Distribution, distribution, param
from ml_networks_jax.distributions.von_mises import VonMises


def _placeholder(tree) -> bool:
    """True during a JAX transformation that rebuilds the pytree with non-array leaves."""
    return any(not hasattr(leaf, "shape") for leaf in jax.tree.leaves(tree))


class _Mixture(Distribution):
    """What both mixtures share: everything is written over per-component values stacked on a
    trailing axis of size K (``_stacked``)."""

    def _stacked(self, method: str, x: Array | None = None) -> Array:
        """``component_k.method(x[..., k])`` (or ``.method()``) for every k, stacked on a trailing
        axis of size K: shape ``x.shape`` (or ``batch_shape + (K,)``)."""
        raise NotImplementedError

    def _stacked_support(self) -> tuple[Array, Array]:
        """The components' ``(low, high)``, each of shape ``batch_shape + (K,)``."""
        raise NotImplementedError

    def _draw_components(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        """A draw of every component, shape ``shape + (K,)``."""
        raise NotImplementedError

    @property
    def num_components(self) -> int:
        return self.mixture_logits.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(self.mixture_logits.shape[:-1], self._component_batch()))

    def log_weights(self) -> Array:
        """``log w = log_softmax(mixture_logits)``, shape ``batch_shape + (K,)``."""
        logits = jnp.broadcast_to(self.mixture_logits, self.batch_shape + (self.num_components,))
        return jax.nn.log_softmax(logits.astype(self.dtype), axis=-1)

    def _mix_log(self, method: str, x: ArrayLike) -> Array:
        """``logsumexp_k(log w_k + component_k.method(x))``, where ``method`` is ``log_prob``,
        ``log_cdf`` or ``log_survival``. A component is evaluated only strictly inside its support
        (an interior point stands in elsewhere, so that no NaN reaches the gradient through the
        branch not taken); outside, its values are the limits (-inf, or 0 for the log CDF above
        and the log survival below the support)."""
        x = jnp.asarray(x, self.dtype)[..., None]
        low, high = self._stacked_support()
        below, above = x <= low, x >= high
        finite_low, finite_high = jnp.isfinite(low), jnp.isfinite(high)
        interior = jnp.where(
            finite_low & finite_high,
            0.5 * (low + high),
            jnp.where(finite_low, low + 1.0, jnp.where(finite_high, high - 1.0, 0.0)),
        )
        inside = jnp.where(below | above, interior, x)
        value = self._stacked(method, inside)
        at_low, at_high = {"log_prob": (-jnp.inf, -jnp.inf), "log_cdf": (-jnp.inf, 0.0)}.get(
            method, (0.0, -jnp.inf)
        )
        value = jnp.where(below, at_low, jnp.where(above, at_high, value))
        return jax.nn.logsumexp(self.log_weights() + value, axis=-1)

    def _split(self, key: PRNGKey) -> tuple[PRNGKey, PRNGKey]:
        return tuple(jax.random.split(key))

    def sample_component(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """The component indices (int32, shape ``sample_shape + batch_shape``) of the draws that
        ``sample``, ``rsample`` and ``rsample_implicit`` make with the same ``key``."""
        shape = self._sample_shape(sample_shape)
        logits = jax.lax.stop_gradient(self.log_weights())
        return jax.random.categorical(self._split(key)[0], logits, shape=shape)

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        index = jax.random.categorical(self._split(key)[0], self.log_weights(), shape=shape)
        values = self._draw_components(self._split(key)[1], shape)
        return jnp.take_along_axis(values, index[..., None], axis=-1)[..., 0]

    def log_prob(self, x: ArrayLike) -> Array:
        return self._mix_log("log_prob", x)

    def cdf(self, x: ArrayLike) -> Array:
        return jnp.exp(self.log_cdf(x))

    def log_cdf(self, x: ArrayLike) -> Array:
        """``log F(x) = logsumexp_k(log w_k + log F_k(x))``: each family's accurate lower tail."""
        return self._mix_log("log_cdf", x)

    def log_survival(self, x: ArrayLike) -> Array:
        """``log(1 - F(x)) = logsumexp_k(log w_k + log(1 - F_k(x)))``."""
        return self._mix_log("log_survival", x)

    def mean(self) -> Array:
        """``Σ_k w_k μ_k``."""
        return jnp.sum(jnp.exp(self.log_weights()) * self._stacked("mean"), axis=-1)

    def variance(self) -> Array:
        """``Σ_k w_k (σ_k² + μ_k²) - μ²``, with the spread of the means written as
        ``Σ_k w_k (μ_k - μ)²`` (no cancellation)."""
        w = jnp.exp(self.log_weights())
        means = self._stacked("mean")
        mu = jnp.sum(w * means, axis=-1, keepdims=True)
        return jnp.sum(w * (self._stacked("variance") + (means - mu) ** 2), axis=-1)


@distribution
class MixtureSameFamily(_Mixture):
    """A mixture of the K distributions along the last batch dim of ``components``.

    ``q(z) = Σ_k softmax(mixture_logits)_k q_k(z)``; implicit gradients to the logits and every
    component parameter through the mixture CDF (see the module docstring). Batch shape: that of
    ``mixture_logits[..., 0]`` broadcast with ``components.batch_shape[:-1]``.

    Args:
        mixture_logits: unnormalized log weights, shape ``(..., K)``.
        components: a univariate distribution of batch shape ``(..., K)``.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> def mean_draw(logits, loc):
        ...     d = mnj.MixtureSameFamily(logits, mnj.Normal(loc, 1.0))
        ...     return d.rsample(jax.random.key(0), (20000,)).mean()
        >>> logits, loc = jnp.zeros(2), jnp.array([-2.0, 2.0])
        >>> g_logits, g_loc = jax.jit(jax.grad(mean_draw, argnums=(0, 1)))(logits, loc)
        >>> # E[z] = Σ w_k loc_k: d/dlogits = w_k (loc_k - E z) = (-1, 1), d/dloc = w = ½.
        >>> [round(float(v), 1) for v in g_logits], [round(float(v), 1) for v in g_loc]
        ([-1.0, 1.0], [0.5, 0.5])
    """

    mixture_logits: Array = param(event_ndims=1)
    components: Distribution = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.components, Distribution):
            raise TypeError(
                "MixtureSameFamily: components must be a distribution, "
                f"got {type(self.components).__name__}."
            )
        super().__post_init__()
        if _placeholder(self):
            return
        _check_linear("MixtureSameFamily", (self.components,))
        if self.components.event_ndims:
            raise ValueError(
                "MixtureSameFamily: components must be univariate (event_shape ()), got "
                f"event_shape {self.components.event_shape}."
            )
        k, batch = self.mixture_logits.shape[-1:], self.components.batch_shape
        if batch[-1:] != k:
            raise ValueError(
                f"MixtureSameFamily: components of batch shape {batch} do not hold the "
                f"{k[0]} components of mixture_logits (their last batch dim must be {k[0]})."
            )
        _check_components("MixtureSameFamily", self.mixture_logits, self._component_batch())

    def _component_batch(self) -> tuple[int, ...]:
        return self.components.batch_shape[:-1]

    @property
    def dtype(self):
        return jnp.result_type(self.mixture_logits.dtype, self.components.dtype)

    def _stacked(self, method: str, x: Array | None = None) -> Array:
        out = getattr(self.components, method)(*(() if x is None else (x,)))
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, self.batch_shape + (1,)))

    def _stacked_support(self) -> tuple[Array, Array]:
        shape = self.batch_shape + (self.num_components,)
        return tuple(jnp.broadcast_to(v, shape) for v in self.components.support())

    def _draw_components(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        return self.components._draw(key, shape + (self.num_components,)).astype(self.dtype)


@distribution
class Mixture(_Mixture):
    """A mixture of univariate distributions of different families.

    ``q(z) = Σ_k softmax(mixture_logits)_k q_k(z)`` with ``q_k`` the density of
    ``components[k]``; implicit gradients to the logits and to every component parameter (see
    the module docstring). Each component's batch shape broadcasts with ``mixture_logits[..., 0]``.

    Args:
        mixture_logits: unnormalized log weights, shape ``(..., K)``.
        components: a tuple of K univariate distributions.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> d = mnj.Mixture(jnp.zeros(3), (mnj.Normal(-1.0, 0.5), mnj.Gamma(2.0, 1.0),
        ...                                mnj.Beta(2.0, 5.0)))
        >>> round(float(d.mean()), 4)  # (-1 + 2 + 2/7) / 3
        0.4286
        >>> def mean_draw(a):
        ...     d = mnj.Mixture(jnp.zeros(2), (mnj.Gamma(a, 1.0), mnj.Normal(0.0, 1.0)))
        ...     return d.rsample(jax.random.key(0), (20000,)).mean()
        >>> round(float(jax.jit(jax.grad(mean_draw))(3.0)), 1)  # d/da of (a + 0)/2
        0.5
    """

    mixture_logits: Array = param(event_ndims=1)
    components: tuple = ()

    def __post_init__(self) -> None:
        comps = self.components
        if not isinstance(comps, (tuple, list)) or not all(
            isinstance(c, Distribution) for c in comps
        ):
            raise TypeError("Mixture: components must be a tuple of distributions.")
        object.__setattr__(self, "components", tuple(comps))
        super().__post_init__()
        if _placeholder(self):
            return
        _check_linear("Mixture", comps)
        if any(c.event_ndims for c in comps):
            raise ValueError("Mixture: components must be univariate (event_shape ()).")
        if self.mixture_logits.shape[-1:] != (len(comps),):
            raise ValueError(
                f"Mixture: mixture_logits has {self.mixture_logits.shape[-1:]} trailing dims "
                f"for {len(comps)} components."
            )
        _check_components("Mixture", self.mixture_logits, self._component_batch())

    def _component_batch(self) -> tuple[int, ...]:
        try:
            return tuple(np.broadcast_shapes(*(c.batch_shape for c in self.components)))
        except ValueError:
            shapes = [c.batch_shape for c in self.components]
            raise ValueError(
                f"Mixture: component batch shapes do not broadcast: {shapes}."
            ) from None

    @property
    def dtype(self):
        return jnp.result_type(self.mixture_logits.dtype, *(c.dtype for c in self.components))

    def _stacked(self, method: str, x: Array | None = None) -> Array:
        args = [() if x is None else (x[..., k],) for k in range(len(self.components))]
        outs = [getattr(c, method)(*a) for c, a in zip(self.components, args, strict=True)]
        shape = jnp.broadcast_shapes(self.batch_shape, *(o.shape for o in outs))
        return jnp.stack([jnp.broadcast_to(o, shape).astype(self.dtype) for o in outs], axis=-1)

    def _stacked_support(self) -> tuple[Array, Array]:
        ends = [c.support() for c in self.components]
        return tuple(
            jnp.stack([jnp.broadcast_to(e[i], self.batch_shape) for e in ends], -1).astype(
                self.dtype
            )
            for i in (0, 1)
        )

    def _draw_components(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        keys = jax.random.split(key, len(self.components))
        draws = [
            c._draw(k, shape).astype(self.dtype) for c, k in zip(self.components, keys, strict=True)
        ]
        return jnp.stack(draws, axis=-1)


def _check_components(name: str, logits: Array, component_batch: tuple) -> None:
    """A clear error for weights whose batch shape does not broadcast with the components'."""
    try:
        np.broadcast_shapes(logits.shape[:-1], component_batch)
    except ValueError:
        raise ValueError(
            f"{name}: the batch shape of mixture_logits {logits.shape[:-1]} does not broadcast "
            f"with the components' {component_batch}."
        ) from None


def _check_linear(name: str, components) -> None:
    """Von Mises components are refused: their CDF (``F(loc) = ½``, ``F(x + 2π) = F(x) + 1``) is
    not a CDF on one interval shared by the components, which the mixture CDF needs."""
    if any(isinstance(c, VonMises) for c in components):
        raise ValueError(f"{name}: von Mises (circular) components are not supported.")
