"""Mixtures with implicit gradients to the weights and to every component parameter.

``MixtureSameFamily(mixture_logits, components)`` mixes the K distributions stacked along the last
batch dimension of one ``components`` distribution; ``Mixture(mixture_logits, components)`` mixes
univariate distributions of different families given as a tuple. With weights
``w = softmax(mixture_logits)`` the density and the CDF are

    q(z) = Σ_k w_k q_k(z),        F(z) = Σ_k w_k F_k(z),

both differentiable in the logits and, through each family's own CDF derivative, in every component
parameter. A draw picks a component index ``k ~ Categorical(w)`` and a value from component ``k``;
its implicit gradient is the engine's (:mod:`ml_networks_jax.implicit`) applied to the mixture CDF:

    dz = -(Σ_k F_k(z) dw_k + w_k ∂F_k/∂θ_k · dθ_k) / q(z)
       = Σ_k π_k dz_k - (T/q) Σ_k ρ_k (dl_k - Σ_j w_j dl_j),

with ``π_k = w_k q_k(z) / q(z)`` the responsibilities, ``dz_k = -(∂F_k/∂θ_k · dθ_k) / q_k(z)``
component k's own implicit tangent at ``z`` (``dloc + (z - loc)/scale · dscale`` for a
location-scale family), ``dl`` the logits' tangent, and ``T`` the smaller tail of the mixture
(``F``, or ``1 - F`` with the sign flipped) with ``ρ_k = w_k T_k / T``: all ratios formed in log
space, so draws in a far tail of the mixture keep finite, exact gradients.

Components with one event dim (``Independent(univariate, 1)``, diagonal, or a full-covariance
``MultivariateNormal``) use the distributional transform ``T_d(z) = F(z_d | z_<d) = Σ_k π_kd
F_kd(z_d | z_<d)`` with the posterior weights ``π_kd ∝ w_k q_k(z_<d)``; its triangular Jacobian is
solved by forward substitution in closed form (:meth:`MixtureSameFamily._standardize_solve`),
O(K D) per draw for diagonal components and O(K D²) for full covariances, instead of an autodiff
Jacobian.

Unlike a straight-through or a score-function treatment of ``k``, this is the exact pathwise
gradient of the mixture draw (Graves 2016; Figurnov, Mohamed & Mnih 2018), and second derivatives
follow by autodiff of the rule.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape
from ml_networks_jax.distributions.base import (
    LOG_2PI,
    Distribution,
    describe,
    distribution,
    has_placeholder_leaves,
    inside_support,
    interior_point,
    is_zero_tangent,
    param,
)
from ml_networks_jax.distributions.independent import Independent
from ml_networks_jax.distributions.multivariate_normal import MultivariateNormal, tril_solve
from ml_networks_jax.distributions.normal import Normal
from ml_networks_jax.distributions.von_mises import VonMises
from ml_networks_jax.implicit import cdf_tangent


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

    def _component_logs(self, method: str, x: Array) -> Array:
        """``component_k.method(x[..., k])`` (``log_prob``, ``log_cdf`` or ``log_survival``) with
        the limits outside each support (:func:`inside_support`): shape ``(..., K)``."""
        return inside_support(self._stacked, method, x, *self._stacked_support())

    def _mix_log(self, method: str, x: ArrayLike) -> Array:
        """``logsumexp_k(log w_k + component_k.method(x))`` (univariate components)."""
        x = jnp.asarray(x, self.dtype)[..., None]
        return jax.nn.logsumexp(self.log_weights() + self._component_logs(method, x), axis=-1)

    def _draw_index(self, key: PRNGKey, shape: tuple[int, ...]) -> tuple[Array, PRNGKey]:
        """The component index of each draw (shape ``sample_shape + batch_shape``) and the key
        left for the values: one split, shared by ``_draw`` and ``sample_component``."""
        key_index, key_value = jax.random.split(key)
        # Inversion of the weights' CDF: one uniform per draw (Gumbel-max would take K).
        weights = jax.nn.softmax(jax.lax.stop_gradient(self.log_weights()), axis=-1)
        cdf = jnp.cumsum(weights[..., :-1], axis=-1)
        u = jax.random.uniform(key_index, shape, weights.dtype)
        index = jnp.sum(u[..., None] >= cdf, axis=-1, dtype=jnp.int32)
        return index, key_value

    def sample_component(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """The component indices (int32, shape ``sample_shape + batch_shape``) of the draws that
        ``sample``, ``rsample`` and ``rsample_implicit`` make with the same ``key``."""
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        return self._draw_index(key, tuple(sample_shape) + self.batch_shape)[0]

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

    def _stacked_tangents(self, ddist: _Mixture, x: Array) -> Array | None:
        """Each component's ``(∂F_k/∂θ_k · dθ_k) / q_k(x[..., k])``, stacked on a trailing axis of
        size K, or None when no component parameter moves."""
        raise NotImplementedError

    def _cdf_tangent(self, ddist: _Mixture, z: Array) -> Array:
        """``(∂F/∂θ · dθ) / q(z)`` from the components' own ratios and the weights' term (the
        module docstring's formula)."""
        x = jnp.asarray(z, self.dtype)[..., None]
        low, high = self._stacked_support()
        x = jnp.broadcast_to(x, jnp.broadcast_shapes(x.shape, low.shape))
        log_w = self.log_weights()
        log_qk = self._component_logs("log_prob", x)
        log_q = jax.nn.logsumexp(log_w + log_qk, axis=-1, keepdims=True)
        out = jnp.zeros(x.shape[:-1], self.dtype)
        moving = self._stacked_tangents(ddist, interior_point(x, low, high))
        if moving is not None:  # Σ_k π_k (∂F_k/∂θ_k · dθ_k) / q_k
            out = out + jnp.sum(jnp.exp(log_w + log_qk - log_q) * moving, axis=-1)
        if not is_zero_tangent(ddist.mixture_logits):  # Σ_k F_k dw_k / q via the smaller tail
            log_fk = self._component_logs("log_cdf", x)
            log_sk = self._component_logs("log_survival", x)
            log_f = jax.nn.logsumexp(log_w + log_fk, axis=-1, keepdims=True)
            log_s = jax.nn.logsumexp(log_w + log_sk, axis=-1, keepdims=True)
            lower = jax.lax.stop_gradient(log_f <= log_s)
            log_rho = log_w + jnp.where(lower, log_fk - log_f, log_sk - log_s)
            dl = jnp.broadcast_to(ddist.mixture_logits, log_w.shape)
            dl = dl - jnp.sum(jnp.exp(log_w) * dl, axis=-1, keepdims=True)  # = dw_k / w_k
            ratio = jnp.exp(jnp.where(lower, log_f, log_s) - log_q) * jnp.where(lower, 1, -1)
            out = out + (ratio * jnp.sum(jnp.exp(log_rho) * dl, axis=-1, keepdims=True))[..., 0]
        return out

    def _weights_over_events(self) -> Array:
        """``w`` with the event dims appended, to weight per-component moments."""
        return jnp.exp(self.log_weights()).reshape(
            self.batch_shape + (self.num_components,) + (1,) * len(self.event_shape)
        )

    def mean(self) -> Array:
        """``Σ_k w_k μ_k``."""
        axis = -1 - len(self.event_shape)
        return jnp.sum(self._weights_over_events() * self._stacked("mean"), axis=axis)

    def variance(self) -> Array:
        """``Σ_k w_k (σ_k² + (μ_k - μ)²)`` (per coordinate for event components)."""
        axis = -1 - len(self.event_shape)
        w = self._weights_over_events()
        means = self._stacked("mean")
        mu = jnp.sum(w * means, axis=axis, keepdims=True)
        return jnp.sum(w * (self._stacked("variance") + (means - mu) ** 2), axis=axis)


@distribution
class MixtureSameFamily(_Mixture):
    """A mixture of the K distributions along the last batch dim of ``components``.

    ``q(z) = Σ_k softmax(mixture_logits)_k q_k(z)``; implicit gradients to the logits and every
    component parameter through the mixture CDF (see the module docstring). Batch shape: that of
    ``mixture_logits[..., 0]`` broadcast with ``components.batch_shape[:-1]``.

    Args:
        mixture_logits: unnormalized log weights, shape ``(..., K)``.
        components: a univariate distribution of batch shape ``(..., K)``, or
            ``Independent(univariate, 1)`` or ``MultivariateNormal`` of batch shape ``(..., K)``
            and event shape ``(D,)``.

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
                "MixtureSameFamily: components must be an ml_networks_jax distribution, "
                f"got {describe(self.components)}."
            )
        super().__post_init__()
        if has_placeholder_leaves(self):
            return
        _check_linear("MixtureSameFamily", (self.components,))
        comps = self.components
        if comps.event_ndims and not (
            isinstance(comps, MultivariateNormal)
            or isinstance(comps, Independent)
            and comps.reinterpreted_batch_ndims == 1
            and comps.base.event_ndims == 0
        ):
            raise ValueError(
                "MixtureSameFamily: components must be univariate, Independent(univariate, 1) or "
                f"MultivariateNormal, got {type(comps).__name__} of event_shape "
                f"{comps.event_shape}."
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

    @property
    def event_ndims(self) -> int:  # type: ignore[override]
        return self.components.event_ndims

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.components.event_shape

    def _stacked(self, method: str, x: Array | None = None) -> Array:
        out = getattr(self.components, method)(*(() if x is None else (x,)))
        ones = (1,) * (1 + self.event_ndims)
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, self.batch_shape + ones))

    def _stacked_tangents(self, ddist: MixtureSameFamily, x: Array) -> Array | None:
        if all(is_zero_tangent(t) for t in jax.tree.leaves(ddist.components)):
            return None
        return jnp.broadcast_to(cdf_tangent(self.components, ddist.components, x), x.shape)

    def _stacked_support(self) -> tuple[Array, Array]:
        shape = self.batch_shape + (self.num_components,)
        return tuple(jnp.broadcast_to(v, shape) for v in self.components.support())

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        """A draw from the picked component only: its parameters are gathered per draw (one
        draw instead of K)."""
        outer = shape[: len(shape) - len(self.event_shape)]  # sample_shape + batch_shape
        index, key = self._draw_index(key, outer)
        batch, k = self.batch_shape, self.num_components
        n_batch = math.prod(batch)

        def pick(p: Array, event: tuple[int, ...]) -> Array:
            # Gathered from (batch, K, event) per draw, never broadcast over the sample dims.
            p = jnp.broadcast_to(p, batch + (k,) + event).reshape((n_batch, k) + event)
            picked = p[jnp.arange(n_batch), index.reshape(-1, n_batch)]
            return picked.reshape(outer + event)

        comps = self.components
        if isinstance(comps, MultivariateNormal):
            d = self.event_shape
            picked = MultivariateNormal(pick(comps.loc, d), pick(comps.scale_tril, d + d))
        else:
            picked = jax.tree.map(lambda p: pick(p, self.event_shape), comps)
        return picked._draw(key, shape).astype(self.dtype)

    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        if self.event_shape != (1,):
            return super().rsample_implicit(key, sample_shape)
        # One coordinate: the univariate mixture (the same draw, a cheaper rule).
        comps = self.components
        if isinstance(comps, MultivariateNormal):
            squeezed = Normal(comps.loc[..., 0], comps.scale_tril[..., 0, 0])
        else:
            base = comps.base
            squeezed = jax.tree.map(lambda p: jnp.broadcast_to(p, base.batch_shape)[..., 0], base)
        univariate = MixtureSameFamily(self.mixture_logits, squeezed)
        return univariate.rsample_implicit(key, sample_shape)[..., None]

    def log_prob(self, x: ArrayLike) -> Array:
        if not self.event_ndims:
            return super().log_prob(x)
        x = jnp.expand_dims(jnp.asarray(x, self.dtype), -2)  # a K axis before the event axis
        return jax.nn.logsumexp(self.log_weights() + self.components.log_prob(x), axis=-1)

    # ---- the distributional transform of a mixture of multivariate components -----------------
    #
    # T_d(z) = F(z_d | z_<d) = Σ_k π_kd F_kd with the posterior weights π_kd ∝ w_k q_k(z_<d) =
    # w_k Π_(j<d) q_kj, where F_kd and q_kj are the conditional CDF and density of coordinate d
    # given z_<d under component k: for Independent components those of coordinate d alone, for a
    # multivariate normal N(μ, L Lᵀ) Φ(ε_kd) and φ(ε_kd)/L_dd with ε_k = L⁻¹(z - μ). The engine
    # solves (∂T/∂z) dz = dT; ∂T/∂z is lower triangular with diagonal q(z_d | z_<d) = Σ_k π_kd
    # q_kd and, below it,
    #
    #     ∂T_d/∂z_j = Σ_k π_kd F_kd (s_kj - Σ_m π_md s_mj) + Σ_k π_kd φ(ε_kd) ∂ε_kd/∂z_j,
    #
    # s_kj = ∂ log q_k(z_<d)/∂z_j; the last term only for full covariances. Each T_d is carried as
    # the log of its smaller tail, log T_d or log(1 - T_d), for accuracy in the tails.

    def _whitened(self, z: Array) -> Array:
        """``ε_k = L_k⁻¹(z - μ_k)`` of each multivariate normal component: shape ``(..., K, D)``."""
        comps = self.components
        return tril_solve(comps.scale_tril, jnp.expand_dims(z, -2) - comps.loc)

    def _tril_diagonal(self) -> Array:
        return jnp.diagonal(self.components.scale_tril, axis1=-2, axis2=-1)

    def _coordinate_logs(self, z: Array, methods: tuple[str, ...]) -> list[Array]:
        """``log q_kd``, ``log F_kd`` or ``log(1 - F_kd)`` (conditional on ``z_<d`` for a
        multivariate normal) of each component k and coordinate d: shape ``(..., K, D)``."""
        if isinstance(self.components, MultivariateNormal):
            eps = self._whitened(z)
            logs = {
                "log_prob": lambda: -0.5 * (eps * eps + LOG_2PI) - jnp.log(self._tril_diagonal()),
                "log_cdf": lambda: log_ndtr(eps),
                "log_survival": lambda: log_ndtr(-eps),
            }
            return [logs[m]() for m in methods]
        base = self.components.base
        low, high = base.support()
        z = jnp.expand_dims(z, -2)
        z = jnp.broadcast_to(z, jnp.broadcast_shapes(z.shape, low.shape))
        return [inside_support(lambda m, x: getattr(base, m)(x), m, z, low, high) for m in methods]

    def _coordinate_scores(self, z: Array) -> Array:
        """``∂ log q_kd/∂z_d`` at fixed ``z_<d``: shape ``(..., K, D)``."""
        if isinstance(self.components, MultivariateNormal):
            return -self._whitened(z) / self._tril_diagonal()
        return jax.jvp(
            lambda x: self._coordinate_logs(x, ("log_prob",))[0], (z,), (jnp.ones_like(z),)
        )[1]

    def _posterior_logs(self, log_q: Array) -> Array:
        """``log π_kd``: the log weight of component k given ``z_<d``, shape ``(..., K, D)``."""
        prefix = jnp.cumsum(log_q, axis=-1)
        prefix = jnp.concatenate([jnp.zeros_like(prefix[..., :1]), prefix[..., :-1]], axis=-1)
        joint = self.log_weights()[..., None] + prefix
        return joint - jax.nn.logsumexp(joint, axis=-2, keepdims=True)

    def _tails(self, z: Array) -> tuple[Array, Array, list[Array], Array]:
        """(log T, log(1 - T), the coordinate logs, log π) at ``z``."""
        logs = self._coordinate_logs(z, ("log_prob", "log_cdf", "log_survival"))
        log_pi = self._posterior_logs(logs[0])
        log_t = jax.nn.logsumexp(log_pi + logs[1], axis=-2)
        log_s = jax.nn.logsumexp(log_pi + logs[2], axis=-2)
        return log_t, log_s, logs, log_pi

    def _standardize(self, z: Array) -> Array:
        """``log T_d`` where ``T_d <= ½``, else ``log(1 - T_d)`` (the choice made at ``z``)."""
        log_t, log_s, _, _ = self._tails(z)
        lower = jax.lax.stop_gradient(log_t <= log_s)
        return jnp.where(lower, log_t, log_s)

    def _standardize_solve(self, z: Array, v: Array) -> Array:
        """``x`` with ``(∂U/∂z) x = v`` for ``U = self._standardize``, by forward substitution.

        Row d, with ``dT_d = T_d v_d`` (lower tail) or ``-(1 - T_d) v_d`` (upper), the centred
        running sums ``A_k - Σ_m π_md A_m`` of ``A_k = Σ_(j<d) s_kj x_j`` and, for full
        covariances, ``c_kd = Σ_(j<d) L_k,dj u_kj`` with ``u_k = L_k⁻¹ x`` (so that ``Σ_(j<d)
        (∂ε_kd/∂z_j) x_j = -c_kd / L_k,dd``):

            x_d = (dT_d - Σ_k π_kd F_kd (A_k - Ā)) / q_d + Σ_k r_kd c_kd,

        ``r_kd = π_kd q_kd / q_d`` the responsibilities; then ``u_kd = (x_d - c_kd) / L_k,dd`` and
        ``A_k += s_kd (x_d - c_kd)`` (``c = 0`` for Independent components). All ratios are formed
        in log space. O(K D) per draw, O(K D²) for full covariances."""
        log_t, log_s, (log_q, log_f, log_sf), log_pi = self._tails(z)
        lower = log_t <= log_s
        log_qd = jax.nn.logsumexp(log_pi + log_q, axis=-2)
        scale = jnp.where(lower, jnp.exp(log_t - log_qd), -jnp.exp(log_s - log_qd))
        lower_k, log_qd_k = lower[..., None, :], log_qd[..., None, :]
        coef = jnp.where(
            lower_k, jnp.exp(log_pi + log_f - log_qd_k), -jnp.exp(log_pi + log_sf - log_qd_k)
        )
        shape = coef.shape  # (..., K, D)
        v = jnp.broadcast_to(v, scale.shape)
        xs = [scale, coef, jnp.exp(log_pi), self._coordinate_scores(z), v]
        full = isinstance(self.components, MultivariateNormal)
        if full:  # the factors' rows and diagonals are not broadcast over the draws
            tril = self.components.scale_tril
            xs += [
                jnp.exp(log_pi + log_q - log_qd_k),
                jnp.moveaxis(tril, -2, -1),
                self._tril_diagonal(),
                jnp.eye(shape[-1], dtype=coef.dtype),  # row d: the indicator of d
            ]

        def row(carry, xs):
            acc, u = carry
            scale_d, coef_d, pi_d, score_d, v_d = xs[:5]
            centred = acc - jnp.sum(pi_d * acc, axis=-1, keepdims=True)
            x_d = scale_d * v_d - jnp.sum(coef_d * centred, axis=-1)
            if not full:
                return (acc + score_d * x_d[..., None], u), x_d
            resp_d, tril_d, diag_d, onehot_d = xs[5:]  # tril_d: row d of each L_k, (..., K, D)
            c_d = jnp.sum(tril_d * u, axis=-1)  # u_kj = 0 for j >= d
            x_d = x_d + jnp.sum(resp_d * c_d, axis=-1)
            r_d = x_d[..., None] - c_d
            u = u + (r_d / diag_d)[..., None] * onehot_d
            return (acc + score_d * r_d, u), x_d

        xs = [jnp.moveaxis(a, -1, 0) for a in xs]
        u0 = jnp.zeros(shape, coef.dtype) if full else None
        _, x = jax.lax.scan(row, (jnp.zeros_like(coef[..., 0]), u0), tuple(xs))
        return jnp.moveaxis(x, 0, -1)


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
            got = [describe(c) for c in comps] if isinstance(comps, (tuple, list)) else comps
            raise TypeError(
                f"Mixture: components must be a tuple of ml_networks_jax distributions, got {got}."
            )
        object.__setattr__(self, "components", tuple(comps))
        super().__post_init__()
        if has_placeholder_leaves(self):
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

    def _stacked_tangents(self, ddist: Mixture, x: Array) -> Array | None:
        def one(k: int) -> Array:
            comp, dcomp = self.components[k], ddist.components[k]
            if all(is_zero_tangent(t) for t in jax.tree.leaves(dcomp)):
                return jnp.zeros(x.shape[:-1], self.dtype)
            value = cdf_tangent(comp, dcomp, x[..., k])
            return jnp.broadcast_to(value, x.shape[:-1]).astype(self.dtype)

        if all(is_zero_tangent(t) for t in jax.tree.leaves(ddist.components)):
            return None
        return jnp.stack([one(k) for k in range(len(self.components))], axis=-1)

    def _stacked_support(self) -> tuple[Array, Array]:
        ends = [c.support() for c in self.components]
        return tuple(
            jnp.stack([jnp.broadcast_to(e[i], self.batch_shape) for e in ends], -1).astype(
                self.dtype
            )
            for i in (0, 1)
        )

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        """Every component drawn (families differ, so parameters cannot be gathered), then the
        picked one taken."""
        index, key = self._draw_index(key, shape)
        keys = jax.random.split(key, len(self.components))
        draws = [
            c._draw(k, shape).astype(self.dtype) for c, k in zip(self.components, keys, strict=True)
        ]
        return jnp.take_along_axis(jnp.stack(draws, axis=-1), index[..., None], axis=-1)[..., 0]


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
