"""The head: a network's raw output and a PRNG key in, a stochastic state out.

``head(x, key, dist)`` reads the parameters of ``dist`` from the last axis of ``x`` (shape
``(*B, F)``), draws one reparameterized sample per batch element and returns the state that holds
both (:mod:`ml_networks_jax.stoch`). It is a pure function: no module, no RNG state; call it inside
``jit``, ``vmap``, ``pmap`` or ``lax.scan``.

========================  ===========  ==========================================================
``dist``                  ``F``        parameters (``D`` latents, ``G`` groups of ``K``)
========================  ===========  ==========================================================
``"normal"``              ``2D``       mean, ``std = min_std + softplus`` (capped at ``max_std``)
``"categorical"``         ``G K``      logits ``(*B, G, K)``: consecutive pieces of ``x``
``"bernoulli"``           ``G K``      logits ``(*B, G, K)``
``"gamma"``               ``2D``       concentration, rate: ``softplus + 1e-3`` each
``"beta"``                ``2D``       concentration1, concentration0: ``softplus + 1e-3``
``"dirichlet"``           ``G K``      concentration ``(*B, G, K)``: ``softplus + 1e-3``
``"von_mises"``           ``2D``       loc (wrapped into ``[-π, π)``), concentration
                                       ``softplus + 1e-3``
``"student_t"``           ``3D``       df ``softplus + 1e-3``, loc, scale as the normal std
========================  ===========  ==========================================================

Each group of ``x`` is a consecutive slice: ``x.reshape(*B, G, K)``.

Tempering, one rule for every family: ``inv_tmp = β`` gives the state of ``q_β(z) ∝ q(z)^β``
(``β > 1`` sharpens, ``β < 1`` flattens), in closed form, and the state stores the tempered
parameters it sampled from: logits ``β l`` (categorical, Bernoulli), ``std/√β`` (normal),
concentration ``α + (β - 1)(α - 1)`` and rate ``β r`` (Gamma, Beta, Dirichlet), ``β κ`` (von
Mises), ``df' = ν + (β - 1)(ν + 1)`` and ``scale √(ν/df')`` (Student-t). Where ``q^β`` cannot be
normalized (a concentration below one sharpened, or a small df flattened, past zero), the parameter
stops at its floor. The floors and ``min_std``/``max_std`` bound the untempered parameters. ``β``
is a number or an array that broadcasts to the batch shape ``B`` (one temperature per row).

Samples: reparameterized draws (explicit for the normal, implicit for Gamma, Beta, Dirichlet, von
Mises and Student-t), straight-through one-hot/bits for categorical/Bernoulli (value exact, gradient
of the probabilities), or with ``relaxed=τ`` the Gumbel-softmax / binary Concrete sample at
temperature ``τ`` (such a state has no ``log_prob``; its KL and entropy are the discrete ones). A
float32 Gamma, Beta or Dirichlet draw that rounds onto an end of its support (a Beta draw within
``6e-8`` of 1, a Gamma draw below the smallest float) becomes the nearest float inside it, so its
``log_prob`` stays finite; the gradient is the draw's. ``deterministic=True`` takes the mode, or
the mean where the density is unbounded at a support end (a Gamma, Beta or Dirichlet
concentration below one), with the same straight-through gradient, and uses no randomness
(``key`` may be ``None``). ``spherical`` maps categorical one-hots to ``±1`` and Bernoulli bits to
BSQ codes ``(2b - 1)/√K`` per group (:mod:`ml_networks_jax.bsq`).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, check_key, describe
from ml_networks_jax.distributions.bernoulli import Bernoulli, relaxed_bernoulli
from ml_networks_jax.distributions.beta import Beta
from ml_networks_jax.distributions.categorical import (
    OneHotCategorical,
    gumbel_softmax,
    straight_through,
)
from ml_networks_jax.distributions.dirichlet import Dirichlet
from ml_networks_jax.distributions.gamma import Gamma
from ml_networks_jax.distributions.normal import Normal
from ml_networks_jax.distributions.student_t import StudentT
from ml_networks_jax.distributions.von_mises import VonMises, wrap_angle
from ml_networks_jax.stoch import (
    BernoulliStoch,
    CategoricalStoch,
    DistributionStoch,
    NormalStoch,
    StochState,
)

#: Floor added to softplus for concentrations, rates and degrees of freedom.
FLOOR = 1e-3

#: Raw outputs per latent of the families that read parameters side by side.
_PARAMS_PER_LATENT = {"normal": 2, "gamma": 2, "beta": 2, "von_mises": 2, "student_t": 3}
_GROUPED = ("categorical", "bernoulli", "dirichlet")
FAMILIES = tuple(_PARAMS_PER_LATENT) + _GROUPED
_DISCRETE = ("categorical", "bernoulli")
#: Where the density peaks inside the support, the deterministic draw is the mode (a Gamma with
#: α < 1 peaks at 0, where the density is infinite; a Beta or Dirichlet needs every concentration
#: above 1); elsewhere it is the mean.
_PEAKED = {
    "gamma": lambda d: d.concentration >= 1,
    "beta": lambda d: (d.concentration1 > 1) & (d.concentration0 > 1),
    "dirichlet": lambda d: jnp.all(d.concentration > 1, axis=-1, keepdims=True),
}


def _positive(raw: Array) -> Array:
    return jax.nn.softplus(raw) + FLOOR


def _scale(raw: Array, min_std: float, max_std: float | None) -> Array:
    std = jax.nn.softplus(raw) + min_std
    return std if max_std is None else jnp.minimum(std, max_std)


def _tempered(value: Array, inv_tmp: ArrayLike, pivot: float) -> Array:
    """``v + (β - 1)(v - pivot)``, exact at ``β = 1``, stopped at the floor: a concentration of
    ``q^β`` (``pivot = 1``) or a Student-t df (``pivot = -1``)."""
    return jnp.maximum(value + (inv_tmp - 1.0) * (value - pivot), FLOOR)


def _grouped(x: Array, n_groups: int) -> Array:
    """``(*B, G*K)`` as ``(*B, G, K)``: group ``g`` is the ``g``-th consecutive slice."""
    return x.reshape(x.shape[:-1] + (n_groups, x.shape[-1] // n_groups))


def _distribution(x: Array, dist: str, n_groups: int, inv_tmp, min_std, max_std) -> Distribution:
    """The tempered distribution whose parameters ``x`` holds."""
    if dist in _GROUPED:
        grouped = _grouped(x, n_groups)
        inv_tmp = _per_row(inv_tmp, 2)
        if dist == "categorical":
            return OneHotCategorical(logits=inv_tmp * grouped)
        if dist == "bernoulli":
            return Bernoulli(logits=inv_tmp * grouped)
        return Dirichlet(_tempered(_positive(grouped), inv_tmp, 1.0))
    inv_tmp = _per_row(inv_tmp, 1)
    raw = jnp.split(x, _PARAMS_PER_LATENT[dist], axis=-1)
    if dist == "normal":
        return Normal(raw[0], _scale(raw[1], min_std, max_std) / jnp.sqrt(inv_tmp))
    if dist == "gamma":
        alpha = _tempered(_positive(raw[0]), inv_tmp, 1.0)
        return Gamma(alpha, inv_tmp * _positive(raw[1]))
    if dist == "beta":
        a, b = (_tempered(_positive(r), inv_tmp, 1.0) for r in raw)
        return Beta(a, b)
    if dist == "von_mises":
        return VonMises(wrap_angle(raw[0]), inv_tmp * _positive(raw[1]))
    df = _positive(raw[0])  # q^β of a Student-t is a Student-t: (ν' + 1) = β (ν + 1), ν' s'² = ν s²
    tempered_df = _tempered(df, inv_tmp, -1.0)
    scale = _scale(raw[2], min_std, max_std) * jnp.sqrt(df / tempered_df)
    return StudentT(tempered_df, raw[1], scale)


def _per_row(inv_tmp: ArrayLike, feature_ndims: int) -> ArrayLike:
    """A temperature per batch row, broadcast over the feature dims of the parameters."""
    if jnp.ndim(inv_tmp) == 0:
        return inv_tmp
    return jnp.expand_dims(inv_tmp, tuple(range(-feature_ndims, 0)))


def _open_support(z: Array, dist: str) -> Array:
    """Draws rounded onto a support end moved to the nearest float inside (the value only)."""
    if dist not in ("gamma", "beta", "dirichlet"):
        return z
    info = jnp.finfo(z.dtype)
    inside = (
        jnp.maximum(z, info.tiny) if dist == "gamma" else jnp.clip(z, info.tiny, 1 - info.epsneg)
    )
    return z + jax.lax.stop_gradient(inside - z)


def _draw(d: Distribution, key, dist: str, deterministic: bool, relaxed) -> Array:
    if deterministic:
        if dist in _DISCRETE:  # the probabilities' gradient
            return straight_through(d.mode(), d.mean())
        peaked = _PEAKED.get(dist)
        if peaked is None:
            return d.mode()
        # The mean where the mode is not an interior maximum: the mode is taken of stand-in
        # parameters there (double-where), so that no NaN is made for valid input.
        inside = peaked(d)
        stand_in = jax.tree.map(lambda p: jnp.where(inside, p, 2.0), d)
        return jnp.where(inside, stand_in.mode(), d.mean())
    if relaxed is not None:
        relax = gumbel_softmax if dist == "categorical" else relaxed_bernoulli
        return relax(key, d.logits, relaxed)
    return _open_support(d.rsample(key), dist)


def _check_options(dist: str, n_groups: Any, spherical, relaxed, min_std, max_std) -> int:
    """Validate the options that do not depend on ``x``; return ``n_groups`` as an int."""
    if dist not in FAMILIES:
        raise ValueError(f"head: unknown dist {dist!r}; choose one of {FAMILIES}.")
    if isinstance(n_groups, bool) or not hasattr(n_groups, "__index__") or n_groups < 1:
        raise ValueError(f"head: n_groups must be a positive int, got {n_groups!r}.")
    if n_groups != 1 and dist not in _GROUPED:
        raise ValueError(f"head: n_groups applies to {_GROUPED}, not to {dist!r}.")
    if (spherical or relaxed is not None) and dist not in _DISCRETE:
        raise ValueError(f"head: spherical and relaxed apply to {_DISCRETE}, not to {dist!r}.")
    if relaxed is not None and not relaxed > 0:
        raise ValueError(f"head: relaxed is a temperature > 0, got {relaxed!r}.")
    if max_std is not None and not max_std > min_std:
        raise ValueError(f"head: max_std={max_std} must exceed min_std={min_std}.")
    return operator.index(n_groups)


def _check(x: Any, key: Any, dist: str, n_groups: int, inv_tmp, deterministic) -> None:
    if not hasattr(x, "shape") or len(x.shape) < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"head: x must be a floating array of shape (*B, F), got {describe(x)}.")
    features = x.shape[-1]
    if dist in _GROUPED and (features == 0 or features % n_groups):
        raise ValueError(
            f"head: {features} features do not divide into n_groups={n_groups} equal groups."
        )
    per = _PARAMS_PER_LATENT.get(dist)
    if per and (features == 0 or features % per):
        raise ValueError(
            f"head: dist={dist!r} reads {per} parameters per latent from the last axis; "
            f"its size {features} is not a positive multiple of {per}."
        )
    batch = tuple(x.shape[:-1])
    try:
        fits = np.broadcast_shapes(np.shape(inv_tmp), batch) == batch
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"head: inv_tmp of shape {np.shape(inv_tmp)} must broadcast to the batch shape "
            f"{batch} (one temperature per row at most)."
        )
    if key is None and not deterministic:
        raise ValueError("head: a PRNG key is needed unless deterministic=True.")
    if key is not None:
        hint = "head draws every row from one key: pass one key, or jax.vmap head over the keys"
        check_key(key, "head", hint)


def head(
    x: Array,
    key: PRNGKey | None,
    dist: str = "normal",
    *,
    n_groups: int = 1,
    spherical: bool = False,
    deterministic: bool = False,
    inv_tmp: ArrayLike = 1.0,
    min_std: float = 1e-6,
    max_std: float | None = None,
    relaxed: float | None = None,
) -> StochState:
    """Map raw network outputs ``x`` ``(*B, F)`` and a key to a state (module docstring).

    Args:
        x: raw outputs; the last axis holds the parameters (layout in the module docstring).
        key: a PRNG key (``None`` allowed when ``deterministic``).
        dist: ``"normal"``, ``"categorical"``, ``"bernoulli"``, ``"gamma"``, ``"beta"``,
            ``"dirichlet"``, ``"von_mises"`` or ``"student_t"``.
        n_groups: groups ``G`` of the categorical, Bernoulli and Dirichlet latents.
        spherical: ``±1`` one-hots / BSQ codes (categorical, Bernoulli).
        deterministic: the mode instead of a draw.
        inv_tmp: inverse temperature ``β`` of ``q^β`` (may be a traced value).
        min_std, max_std: bounds of the normal std and the Student-t scale.
        relaxed: Gumbel-softmax / binary Concrete temperature (categorical, Bernoulli).

    Returns:
        ``NormalStoch``, ``CategoricalStoch``, ``BernoulliStoch`` or, for the other families,
        ``DistributionStoch``; ``stoch`` has shape ``(*B, D)`` or ``(*B, G*K)``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> x = jax.random.normal(jax.random.key(0), (2, 20))
        >>> state = mnj.head(x, jax.random.key(1), "normal")
        >>> state.shape
        NormalShape(mean=(2, 10), std=(2, 10), stoch=(2, 10))
        >>> mnj.head(x, jax.random.key(1), "gamma").stoch.shape
        (2, 10)
    """
    n_groups = _check_options(dist, n_groups, spherical, relaxed, min_std, max_std)
    _check(x, key, dist, n_groups, inv_tmp, deterministic)
    d = _distribution(x, dist, n_groups, inv_tmp, min_std, max_std)
    z = _draw(d, key, dist, deterministic, relaxed)
    batch = x.shape[:-1]
    if dist == "normal":
        return NormalStoch(d.loc, d.scale, z)
    if dist in _DISCRETE:
        state = CategoricalStoch if dist == "categorical" else BernoulliStoch
        z = state._codes(z) if spherical else z
        logits = _per_row(inv_tmp, 2) * _grouped(x, n_groups)  # as given, not normalized
        return state(logits, d.probs, z.reshape(batch + (-1,)), spherical, relaxed)
    return DistributionStoch(d, z.reshape(batch + (-1,)))


@dataclasses.dataclass(frozen=True)
class Head:
    """A head with its options fixed, checking the input size like ml_networks'
    ``Distribution(in_dim, dist, n_groups, spherical)``: ``in_dim`` latents (``G K`` for the
    grouped families).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> posterior = mnj.Head(10, "categorical", n_groups=2)
        >>> posterior(jax.random.normal(jax.random.key(0), (2, 10)), jax.random.key(1)).shape
        CategoricalShape(logits=(2, 2, 5), probs=(2, 2, 5), stoch=(2, 10))
    """

    in_dim: int
    dist: str = "normal"
    n_groups: int = 1
    spherical: bool = False
    min_std: float = 1e-6
    max_std: float | None = None
    relaxed: float | None = None

    def __post_init__(self) -> None:
        _check_options(
            self.dist, self.n_groups, self.spherical, self.relaxed, self.min_std, self.max_std
        )
        if self.dist in _GROUPED and self.in_dim % self.n_groups:
            raise ValueError(f"Head: in_dim={self.in_dim} is not divisible by n_groups.")

    @property
    def features(self) -> int:
        """The size ``F`` of the last axis the head reads."""
        return self.in_dim * _PARAMS_PER_LATENT.get(self.dist, 1)

    def __call__(
        self,
        x: Array,
        key: PRNGKey | None = None,
        deterministic: bool = False,
        inv_tmp: ArrayLike = 1.0,
    ) -> StochState:
        if getattr(x, "shape", (None,))[-1:] != (self.features,):
            raise ValueError(
                f"Head({self.in_dim}, {self.dist!r}) reads {self.features} features; "
                f"got x of shape {getattr(x, 'shape', None)}."
            )
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del options["in_dim"]
        return head(x, key, deterministic=deterministic, inv_tmp=inv_tmp, **options)
