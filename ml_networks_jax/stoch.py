"""Stochastic states: a latent sample together with the parameters that produced it.

A state is an immutable pytree (a frozen dataclass): build it, pass it and return it under ``jit``,
``vmap``, ``pmap`` and ``lax.scan``; constructors check shapes, never values. Every field has the
state's batch dims first, ``batch_shape = stoch.shape[:-1]``, and its own feature dims last:

=====================  ============================  =================================
state                  fields                        feature dims
=====================  ============================  =================================
``NormalStoch``        ``mean``, ``std``, ``stoch``  ``(D,)`` each
``CategoricalStoch``   ``logits``, ``probs``         ``(G, K)``; ``stoch``: ``(G*K,)``
``BernoulliStoch``     ``logits``, ``probs``         ``(G, K)``; ``stoch``: ``(G*K,)``
``DistributionStoch``  ``dist`` (any distribution)   its dims after ``batch_shape``;
                                                     ``stoch``: their product, flat
=====================  ============================  =================================

Array methods (``state[idx]``, ``reshape``, ``flatten``, ``squeeze``, ``expand_dims``,
``transpose``, ...) act on the batch dims of every field and carry the feature dims along, so the
fields stay consistent; ``cat_dist(states, dim=-1)`` joins the feature axis (the groups of a
categorical state, whose ``stoch`` stays flat). Each state is one event: ``log_prob``, ``entropy``
and ``kl_divergence`` sum over all feature dims and have shape ``batch_shape``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array, ArrayLike
from ml_networks_jax.distributions.base import (
    Distribution,
    expect_distribution,
    has_placeholder_leaves,
    is_static,
    register_restoring,
    restore,
    short_repr,
    static_field,
)
from ml_networks_jax.distributions.bernoulli import Bernoulli
from ml_networks_jax.distributions.categorical import OneHotCategorical
from ml_networks_jax.distributions.independent import Independent
from ml_networks_jax.distributions.kl import kl_divergence
from ml_networks_jax.distributions.mixture import MixtureSameFamily
from ml_networks_jax.distributions.normal import Normal


def _state(cls: type) -> type:
    """A frozen dataclass pytree; the constructor (with its shape checks) runs only when called
    directly, never when JAX rebuilds the tree (``tree.map``, shardings, ``vmap`` axes)."""
    return register_restoring(dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls))


def _axis(axis: int, ndim: int, what: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what} {axis} is out of range for {ndim} axes.")
    return axis % ndim


def _batch_index(idx: Any, nb: int) -> tuple:
    """``idx`` as a tuple over the batch dims (an Ellipsis expands to batch dims only)."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    ellipses = [i is Ellipsis for i in idx]
    used = sum(_dims_indexed(i) for i in idx)
    if used > nb:
        raise IndexError(
            f"Index {idx!r} addresses {used} dims; a state indexes only its {nb} batch dims "
            "(the feature dims of its fields differ, see ml_networks_jax.stoch)."
        )
    if sum(ellipses) > 1:
        raise IndexError("An index can only have a single ellipsis.")
    if any(ellipses):
        k = ellipses.index(True)
        idx = idx[:k] + (slice(None),) * (nb - used) + idx[k + 1 :]
    return idx


def _unpack(args: tuple) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike (NumPy's convention for shapes and axes)."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        return tuple(args[0])
    return args


def _dims_indexed(i: Any) -> int:
    """How many dims one index entry consumes (a boolean mask: its rank)."""
    if i is None or i is Ellipsis:
        return 0
    if hasattr(i, "dtype") and jnp.issubdtype(i.dtype, jnp.bool_):
        return i.ndim
    return 1


def _trailing_batch_ndims(dist: Distribution) -> int:
    """Batch dims the components of ``dist`` have beyond its own (the reinterpreted dims of an
    ``Independent``, the component axis of a ``MixtureSameFamily``)."""
    if isinstance(dist, Independent):
        return dist.reinterpreted_batch_ndims
    return 1 if isinstance(dist, MixtureSameFamily) else 0


def _broadcast_params(dist: Distribution, batch: tuple[int, ...]) -> Distribution:
    """``dist`` with batch shape ``batch`` and every parameter broadcast to it (plus the
    parameter's event dims and, in components, their own trailing batch dims), so that each leaf
    starts with the batch dims. Rebuilt without the constructor: nothing is recomputed."""
    values = {}
    for f in dataclasses.fields(dist):
        value = getattr(dist, f.name)
        if isinstance(value, Distribution) or (
            isinstance(value, tuple) and value and all(isinstance(v, Distribution) for v in value)
        ):
            n = _trailing_batch_ndims(dist)
            children = value if isinstance(value, tuple) else (value,)
            children = tuple(
                _broadcast_params(c, batch + c.batch_shape[len(c.batch_shape) - n :])
                for c in children
            )
            value = children if isinstance(value, tuple) else children[0]
        elif "event_ndims" in f.metadata:
            nd = f.metadata["event_ndims"]
            value = jnp.broadcast_to(value, batch + value.shape[value.ndim - nd :])
        values[f.name] = value
    return restore(type(dist), values)


class StochState:
    """Base class of the states; see the module docstring for the layout."""

    #: Named tuple type of ``.shape``.
    _shape_type: type

    # ---- layout --------------------------------------------------------------------------

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading dims every field shares: ``stoch.shape[:-1]``."""
        return tuple(self.stoch.shape[:-1])

    @property
    def batch_ndim(self) -> int:
        return len(self.stoch.shape) - 1

    @property
    def shape(self) -> tuple:
        """A named tuple of the fields' shapes, e.g. ``NormalShape(mean=(2, 10), ...)``."""
        return self._shape_type(
            **{f.name: tuple(jnp.shape(getattr(self, f.name))) for f in self._data_fields()}
        )

    def __repr__(self) -> str:
        """Fields summarized, ``NormalStoch(mean=f32[32,4], std=f32[32,4], stoch=f32[32,4])``
        (:func:`~ml_networks_jax.distributions.base.short_repr`): never the arrays' values."""
        return short_repr(self)

    @classmethod
    def _data_fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if not is_static(f)]

    def _map(self, fn) -> StochState:
        """Apply ``fn`` to every leaf; each leaf has the ``batch_ndim`` batch dims first."""
        return jax.tree.map(fn, self)

    def _features_are_batch(self) -> bool:
        """Whether the feature axis is a batch axis of the distribution (so ``cat_dist`` along
        it joins independent parts rather than changing the family)."""
        return True

    def _feature_shape(self) -> tuple[int, ...]:
        """Shape of one event of ``get_distribution(independent=False)`` after the batch dims."""
        base = self.get_distribution(independent=False)
        return (base.batch_shape + base.event_shape)[self.batch_ndim :]

    # ---- array methods: batch dims only ------------------------------------------------------

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError(f"len() of a {type(self).__name__} without batch dims.")
        return self.batch_shape[0]

    def __getitem__(self, idx: Any) -> StochState:
        """Index the batch dims of every field: ``state[0]``, ``state[:, 1:]``, ``state[mask]``."""
        idx = _batch_index(idx, self.batch_ndim)
        return self._map(lambda a: a[idx])

    def reshape(self, *shape: int | Sequence[int]) -> StochState:
        """New batch shape (``-1`` allowed); the feature dims are kept."""
        shape = _unpack(shape)
        nb = self.batch_ndim
        return self._map(lambda a: a.reshape(tuple(shape) + a.shape[nb:]))

    def flatten(self, start: int = 0, end: int = -1) -> StochState:
        """Merge batch dims ``start..end`` (inclusive) into one, like ``torch.flatten``."""
        batch = self.batch_shape
        if not batch:
            return self.reshape(1)
        s, e = _axis(start, len(batch), "start"), _axis(end, len(batch), "end")
        if s > e:
            raise ValueError(f"flatten: start {start} comes after end {end}.")
        return self.reshape(batch[:s] + (math.prod(batch[s : e + 1]),) + batch[e + 1 :])

    def squeeze(self, axis: int | Sequence[int] | None = None) -> StochState:
        """Drop batch dims of size one (all of them by default)."""
        batch = self.batch_shape
        if axis is None:
            axes = {i for i, n in enumerate(batch) if n == 1}
        else:
            axes = {_axis(a, len(batch), "axis") for a in np.atleast_1d(axis).tolist()}
            if any(batch[a] != 1 for a in axes):
                raise ValueError(f"Cannot squeeze axes {sorted(axes)} of batch shape {batch}.")
        return self.reshape(tuple(n for i, n in enumerate(batch) if i not in axes))

    def expand_dims(self, axis: int) -> StochState:
        """Insert a batch dim of size one at ``axis`` (counted over the new batch dims)."""
        batch = self.batch_shape
        a = _axis(axis, len(batch) + 1, "axis")
        return self.reshape(batch[:a] + (1,) + batch[a:])

    unsqueeze = expand_dims  # the torch spelling

    def transpose(self, *axes: int) -> StochState:
        """Permute the batch dims (reverse them by default)."""
        nb = self.batch_ndim
        axes = _unpack(axes)
        perm = tuple(_axis(a, nb, "axis") for a in axes) if axes else tuple(range(nb))[::-1]
        if sorted(perm) != list(range(nb)):
            raise ValueError(f"{axes} is not a permutation of the {nb} batch dims.")
        return self._map(lambda a: a.transpose(perm + tuple(range(nb, a.ndim))))

    def stop_gradient(self) -> StochState:
        """The same state with no gradient through any field (``jax.lax.stop_gradient``)."""
        return jax.lax.stop_gradient(self)

    def astype(self, dtype: Any) -> StochState:
        """Every field cast to the floating ``dtype``."""
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"A state holds floating arrays; got dtype {dtype}.")
        return self._map(lambda a: a.astype(dtype))

    # ---- the distribution ---------------------------------------------------------------

    def get_distribution(self, independent: bool = True) -> Distribution:
        """The distribution the sample came from: by default one event per batch element
        (``Independent`` over every feature dim), else the per-element family."""
        if not isinstance(independent, bool):
            raise TypeError(f"independent must be True or False, got {independent!r}.")
        base = self._base_distribution()
        n = len(base.batch_shape) - self.batch_ndim
        return Independent(base, n) if independent and n else base

    def _base_distribution(self) -> Distribution:
        raise NotImplementedError

    def _from_stoch(self, x: Array) -> Array:
        """Values in the layout of ``stoch`` as values of ``get_distribution()``."""
        return x.reshape(x.shape[:-1] + self._feature_shape())

    def log_prob(self, x: ArrayLike) -> Array:
        """``log q(x)`` summed over the feature dims, for ``x`` laid out like ``stoch``."""
        if getattr(self, "relaxed", None) is not None:
            raise ValueError(
                f"log_prob of a relaxed {type(self).__name__}: its sample is a continuous "
                "relaxation, which the discrete distribution gives no density to (KL and entropy "
                "of the distribution are defined)."
            )
        x = jnp.asarray(x)
        if x.shape[-1:] != self.stoch.shape[-1:]:
            raise ValueError(
                f"log_prob: x of shape {x.shape} must end with the {self.stoch.shape[-1]} "
                "features of stoch."
            )
        return self.get_distribution().log_prob(self._from_stoch(x))

    def entropy(self) -> Array:
        """Entropy of one event (all feature dims), shape ``batch_shape``."""
        return self.get_distribution().entropy()

    # ---- persistence -----------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Write every field to a NumPy ``.npz`` file; :func:`load_state` reads it back exactly."""
        arrays: dict[str, np.ndarray] = {}
        spec = _encode(self, "", arrays)
        np.savez(_npz(path), __spec__=np.array(json.dumps(spec)), **arrays)


@_state
class NormalStoch(StochState):
    """A diagonal Gaussian state: ``stoch = mean + std * ε``, each field ``(*B, D)``.

    Example:
        >>> import jax.numpy as jnp, ml_networks_jax as mnj
        >>> s = mnj.NormalStoch(jnp.zeros((2, 10)), jnp.ones((2, 10)), jnp.zeros((2, 10)))
        >>> s.shape
        NormalShape(mean=(2, 10), std=(2, 10), stoch=(2, 10))
        >>> s.log_prob(s.stoch).shape
        (2,)
    """

    mean: Array
    std: Array
    stoch: Array

    _shape_type = namedtuple("NormalShape", ["mean", "std", "stoch"])

    def __post_init__(self) -> None:
        if has_placeholder_leaves((self.mean, self.std, self.stoch)):
            return
        shapes = {n: jnp.shape(getattr(self, n)) for n in ("mean", "std", "stoch")}
        if len(set(shapes.values())) != 1 or not shapes["stoch"]:
            raise ValueError(f"NormalStoch: mean, std and stoch need one shape (*B, D): {shapes}.")

    def _base_distribution(self) -> Distribution:
        return Normal(self.mean, self.std)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class _GroupedStoch(StochState):
    """Shared by the categorical and Bernoulli states: ``(*B, G, K)`` parameters, flat stoch,
    optionally as ``spherical`` codes ``(2b - 1) · _code_scale(K)``."""

    logits: Array
    probs: Array
    stoch: Array
    spherical: bool = static_field(default=False)
    relaxed: float | None = static_field(default=None)

    def __post_init__(self) -> None:
        if has_placeholder_leaves((self.logits, self.probs, self.stoch)):
            return
        lg, pr, st = (jnp.shape(a) for a in (self.logits, self.probs, self.stoch))
        if lg != pr or len(lg) < 2 or st != lg[:-2] + (lg[-2] * lg[-1],):
            raise ValueError(
                f"{type(self).__name__}: logits and probs need shape (*B, G, K) and stoch "
                f"(*B, G*K); got logits {lg}, probs {pr}, stoch {st}."
            )

    def _feature_shape(self) -> tuple[int, ...]:
        return tuple(self.logits.shape[-2:])

    def _base_distribution(self) -> Distribution:
        return self._family(logits=self.logits)

    @classmethod
    def _codes(cls, bits: Array) -> Array:
        """Spherical codes of bits (linear: the bits' straight-through gradient passes)."""
        return (2.0 * bits - 1.0) * cls._code_scale(bits.shape[-1])

    def _from_stoch(self, x: Array) -> Array:
        if self.spherical:  # codes back to bits: exact values, the inverse map's gradient
            bits = (x > 0).astype(x.dtype)
            scale = 0.5 / self._code_scale(self.logits.shape[-1])
            x = bits + (x - jax.lax.stop_gradient(x)) * scale
        return super()._from_stoch(x)


@_state
class CategoricalStoch(_GroupedStoch):
    """``G`` one-hot categorical groups of ``K`` classes: logits/probs ``(*B, G, K)``, the
    straight-through one-hot sample flat in ``stoch`` ``(*B, G*K)`` (``±1`` if ``spherical``;
    a Gumbel-softmax sample at temperature ``relaxed``, if set).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> s = mnj.head(jax.random.normal(jax.random.key(0), (2, 10)), jax.random.key(1),
        ...              "categorical", n_groups=2)
        >>> s.shape
        CategoricalShape(logits=(2, 2, 5), probs=(2, 2, 5), stoch=(2, 10))
    """

    _shape_type = namedtuple("CategoricalShape", ["logits", "probs", "stoch"])

    @staticmethod
    def _code_scale(k: int) -> float:
        return 1.0  # one-hots to ±1

    _family = OneHotCategorical


@_state
class BernoulliStoch(_GroupedStoch):
    """``G`` groups of ``K`` Bernoulli bits: logits/probs ``(*B, G, K)``, the straight-through
    bits flat in ``stoch`` ``(*B, G*K)`` (BSQ codes ``(2b - 1)/√K`` per group if ``spherical``,
    :func:`ml_networks_jax.bsq.bits_to_codes`; a binary Concrete sample at temperature
    ``relaxed``, if set).

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> s = mnj.head(jax.random.normal(jax.random.key(0), (2, 10)), jax.random.key(1),
        ...              "bernoulli", n_groups=2)
        >>> s.shape
        BernoulliShape(logits=(2, 2, 5), probs=(2, 2, 5), stoch=(2, 10))
    """

    _shape_type = namedtuple("BernoulliShape", ["logits", "probs", "stoch"])

    @staticmethod
    def _code_scale(k: int) -> float:
        return 1.0 / math.sqrt(k)  # bits to points of the unit sphere

    _family = Bernoulli


@_state
class DistributionStoch(StochState):
    """Any distribution of this library beside its sample: the state of the Gamma, Beta,
    Dirichlet, von Mises, Student-t or mixture heads. ``dist`` has batch shape ``(*B, ...)``;
    ``stoch`` is a draw laid out flat, ``(*B, prod(dist dims after B))``.

    Example:
        >>> import jax, jax.numpy as jnp, ml_networks_jax as mnj
        >>> d = mnj.Dirichlet(jnp.ones((2, 3, 4)))  # 3 groups of 4 per batch element
        >>> s = mnj.DistributionStoch(d, d.rsample(jax.random.key(0)).reshape(2, 12))
        >>> s.shape, s.log_prob(s.stoch).shape
        (DistributionShape(dist=(2, 3, 4), stoch=(2, 12)), (2,))
    """

    dist: Distribution
    stoch: Array

    _shape_type = namedtuple("DistributionShape", ["dist", "stoch"])

    def __post_init__(self) -> None:
        expect_distribution(self.dist, "DistributionStoch: dist")
        if has_placeholder_leaves((self.dist, self.stoch)):
            return
        full, st = self.dist.batch_shape + self.dist.event_shape, jnp.shape(self.stoch)
        nb = len(st) - 1
        if nb < 0 or full[:nb] != st[:nb] or math.prod(full[nb:]) != st[-1]:
            raise ValueError(
                f"DistributionStoch: stoch of shape {st} is not a flat draw of a distribution of "
                f"shape {full} (expected {full[:nb]} + ({math.prod(full[nb:])},))."
            )
        object.__setattr__(self, "dist", _broadcast_params(self.dist, self.dist.batch_shape))

    @property
    def shape(self) -> tuple:
        return self._shape_type(self.dist.batch_shape + self.dist.event_shape, self.stoch.shape)

    def _features_are_batch(self) -> bool:
        return len(self.dist.batch_shape) > self.batch_ndim

    def _base_distribution(self) -> Distribution:
        return self.dist


# ---- module functions ---------------------------------------------------------------------


def _same_kind(states: Sequence[StochState], what: str) -> list[StochState]:
    states = list(states)
    if not states or not all(isinstance(s, StochState) for s in states):
        raise ValueError(f"{what} needs a non-empty sequence of states.")
    structures = {jax.tree.structure(s) for s in states}
    batch_ndims = {s.batch_ndim for s in states}
    if len(structures) != 1 or len(batch_ndims) != 1:
        raise ValueError(
            f"{what}: the states must be of one kind (same class, distribution family, options "
            f"such as spherical, and number of batch dims); got {sorted(map(str, structures))} "
            f"with batch shapes {[s.batch_shape for s in states]}."
        )
    return states


def stack_dist(states: Sequence[StochState], dim: int = 0) -> StochState:
    """Stack states along a new batch dim ``dim`` (counted over the new batch dims).

    Example:
        >>> import jax.numpy as jnp, ml_networks_jax as mnj
        >>> s = mnj.NormalStoch(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)))
        >>> mnj.stack_dist((s, s)).shape
        NormalShape(mean=(2, 2, 3), std=(2, 2, 3), stoch=(2, 2, 3))
    """
    states = _same_kind(states, "stack_dist")
    if len({s.batch_shape for s in states}) != 1:
        raise ValueError(f"stack_dist: batch shapes differ: {[s.batch_shape for s in states]}.")
    axis = _axis(dim, states[0].batch_ndim + 1, "stack_dist: dim")
    return jax.tree.map(lambda *a: jnp.stack(a, axis), *states)


def cat_dist(states: Sequence[StochState], dim: int = -1) -> StochState:
    """Concatenate states along a batch dim, or along the feature axis with ``dim=-1`` (the
    default): the features of a normal state, the groups of a categorical or Bernoulli state.

    Example:
        >>> import jax.numpy as jnp, ml_networks_jax as mnj
        >>> s = mnj.NormalStoch(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)))
        >>> mnj.cat_dist((s, s)).shape
        NormalShape(mean=(2, 6), std=(2, 6), stoch=(2, 6))
    """
    states = _same_kind(states, "cat_dist")
    nb = states[0].batch_ndim
    axis = _axis(dim, nb + 1, "cat_dist: dim")  # axis nb: the feature axis
    if axis == nb and not states[0]._features_are_batch():
        raise ValueError(
            "cat_dist: the features of these states are one event of their distribution "
            f"({type(states[0].dist).__name__}); joining them would change the family. "
            "Concatenate along a batch dim, or build the joint distribution yourself."
        )
    others = {s.batch_shape[:axis] + s.batch_shape[axis + 1 :] for s in states}
    if len(others) != 1:
        raise ValueError(
            f"cat_dist: batch shapes {[s.batch_shape for s in states]} differ off axis {dim}."
        )
    return jax.tree.map(lambda *a: jnp.concatenate(a, axis), *states)


def get_dist(state: StochState, independent: bool = True) -> Distribution:
    """``state.get_distribution(independent)``: one event per batch element by default."""
    return state.get_distribution(independent)


def kl_balancing(post: Any, prior: Any, weight: float = 0.8) -> Array:
    """DreamerV2's balanced KL (Hafner et al., 2021), for states or distributions:

    ``w KL(sg(post) ‖ prior) + (1 - w) KL(post ‖ sg(prior))``, ``sg`` = stop-gradient: the
    prior learns towards the posterior with weight ``w``, the posterior is regularized with
    ``1 - w``. Its value is ``KL(post ‖ prior)``; shape ``batch_shape``.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> post = mnj.head(jax.random.normal(k1, (4, 32)), k2, "categorical", n_groups=4)
        >>> prior = mnj.head(jax.random.normal(k2, (4, 32)), k1, "categorical", n_groups=4)
        >>> mnj.kl_balancing(post, prior).shape
        (4,)
    """
    sg = jax.lax.stop_gradient
    return weight * kl_divergence(sg(post), prior) + (1.0 - weight) * kl_divergence(post, sg(prior))


# ---- save / load ---------------------------------------------------------------------------


def _encode(obj: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON description of a state or distribution; its arrays go to ``arrays``."""
    if isinstance(obj, (StochState, Distribution)):
        spec: dict[str, Any] = {"type": type(obj).__name__, "static": {}, "fields": {}}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if is_static(f):
                if callable(value):
                    raise TypeError(f"Cannot save {type(obj).__name__}: {f.name} is a function.")
                spec["static"][f.name] = value
            elif "event_ndims" in f.metadata or hasattr(value, "shape"):
                array = np.asarray(value)
                # NumPy stores extension dtypes (bfloat16) as opaque bytes: keep the bits.
                native = array.dtype.type.__module__ == "numpy"
                arrays[f"{path}{f.name}"] = array if native else array.view(f"u{array.itemsize}")
                spec["fields"][f.name] = {"array": f"{path}{f.name}", "dtype": array.dtype.name}
            else:
                spec["fields"][f.name] = _encode(value, f"{path}{f.name}/", arrays)
        return spec
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, f"{path}{i}/", arrays) for i, v in enumerate(obj)]}
    raise TypeError(f"Cannot save a field of type {type(obj).__name__}.")


def _subclasses(cls: type) -> dict[str, type]:
    found = {}
    for sub in cls.__subclasses__():
        found[sub.__name__] = sub
        found.update(_subclasses(sub))
    return found


def _decode(spec: Any, arrays: Any) -> Any:
    if "tuple" in spec:
        return tuple(_decode(s, arrays) for s in spec["tuple"])
    if "array" in spec:
        return jnp.asarray(arrays[spec["array"]].view(jnp.dtype(spec["dtype"])))
    classes = {**_subclasses(StochState), **_subclasses(Distribution)}
    if spec["type"] not in classes:
        raise ValueError(f"Unknown state or distribution type {spec['type']!r} in the file.")
    fields = {name: _decode(s, arrays) for name, s in spec["fields"].items()}
    return restore(classes[spec["type"]], fields | spec["static"])  # exactly as saved


def _npz(path: str) -> str:
    """``path`` with the ``.npz`` suffix NumPy adds on saving."""
    path = str(path)
    return path if path.endswith(".npz") else path + ".npz"


def load_state(path: str) -> StochState:
    """Read a state written by :meth:`StochState.save` (exact round trip; no pickle).

    Example:
        >>> import os, tempfile, jax.numpy as jnp, ml_networks_jax as mnj
        >>> s = mnj.NormalStoch(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)))
        >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
        >>> s.save(path)
        >>> mnj.load_state(path).shape
        NormalShape(mean=(2, 3), std=(2, 3), stoch=(2, 3))
    """
    with np.load(_npz(path), allow_pickle=False) as arrays:
        return _decode(json.loads(str(arrays["__spec__"])), arrays)


__all__ = [
    "BernoulliStoch",
    "CategoricalStoch",
    "DistributionStoch",
    "NormalStoch",
    "StochState",
    "cat_dist",
    "get_dist",
    "kl_balancing",
    "load_state",
    "stack_dist",
]
