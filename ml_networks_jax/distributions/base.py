"""The distribution base class: an immutable pytree with pure methods.

Every family is a frozen dataclass declared with :func:`distribution`. Array parameters are pytree
leaves; Python configuration marked ``static_field()`` is hashable metadata. Shapes are derived
from the arrays, never stored. Constructors only convert Python numbers to arrays and check static
properties (dtype kind, rank, broadcastability); they never look at values, so distributions can be
built, passed and returned under ``jit``, ``vmap`` and ``grad``.

A subclass provides

* ``_draw(key, shape)``: a raw (non-differentiable) sampler for the full ``shape =
  sample_shape + batch_shape + event_shape``;
* ``log_prob(x)`` and, for univariate families, ``cdf(x)`` differentiable in the parameters;
* optionally ``_explicit(key, shape)``: an explicit (location-scale) pathwise sampler, which
  ``rsample`` prefers;
* optionally ``_cdf_tangent(ddist, z)``: ``(∂F(z)/∂θ · dθ) / q(z)`` for a tangent ``ddist`` (the
  implicit tangent ``-dz``, :mod:`ml_networks_jax.implicit`), where a family has this ratio in a
  faster or more accurate form than autodiff of its log CDF over its density. A parameter not
  being differentiated has the tangent ``0.0`` (a Python float, :func:`is_zero_tangent`): it
  works in arithmetic, and a family may skip the partial it would multiply;
* the moments it has in closed form.

Samples have shape ``sample_shape + batch_shape + event_shape`` (the torch/TFP convention).

Bad input gets a clear error at the boundary, before JAX sees it, from checks written once here:
constructors take real numbers and float arrays only (:func:`as_float_param`); and
``Distribution.__init_subclass__`` wraps each family's own public value methods (``log_prob``,
``prob``, ``cdf``, ``log_cdf``, ``log_survival``, ``icdf``), which refuse a value that does not
end with ``event_shape`` or does not broadcast with ``batch_shape + event_shape``, and its
sampling methods (``sample``, ``rsample``, ``rsample_implicit``, ``sample_and_log_prob``), which
refuse anything but one PRNG key and turn ``sample_shape`` into a tuple of ints. The checks read
shapes and dtypes only, so they cost nothing in compiled code and work on tracers. Reprs summarize
leaves (``Gamma(concentration=f32[3], rate=f32[])``, :func:`short_repr`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import operator
import re
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey, Shape

_EVENT_NDIMS = "event_ndims"
_STATIC = "static"


def param(event_ndims: int = 0) -> Any:
    """A parameter field whose trailing ``event_ndims`` dims belong to one event."""
    return dataclasses.field(metadata={_EVENT_NDIMS: event_ndims})


def static_field(**kwargs: Any) -> Any:
    """A hashable, non-array configuration field (pytree metadata, not a leaf)."""
    return dataclasses.field(metadata={_STATIC: True}, **kwargs)


def distribution(cls: type) -> type:
    """Declare ``cls`` a frozen dataclass pytree: parameters are leaves, static fields metadata.
    The constructor runs when called, not when JAX rebuilds the tree (``register_restoring``)."""
    return register_restoring(dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls))


def is_static(f: dataclasses.Field) -> bool:
    """Whether a dataclass field is ``static_field`` metadata rather than a pytree leaf."""
    return bool(f.metadata.get(_STATIC))


def restore(cls: type, values: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass ``cls`` holding ``values``, its constructor skipped."""
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


def register_restoring(cls: type) -> type:
    """Register the frozen dataclass ``cls`` as a pytree (``static_field`` fields are metadata)
    whose unflattening restores the fields without calling the constructor: what JAX puts back
    (tangents, shardings, ``None``, placeholders) is stored as it comes, never converted or
    checked again."""
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not is_static(f))
    meta = tuple(f.name for f in fields if is_static(f))
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten(obj: Any) -> tuple[tuple, tuple]:
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def flatten_with_keys(obj: Any) -> tuple[tuple, tuple]:
        leaves, aux = flatten(obj)
        return tuple(zip(keys, leaves, strict=True)), aux

    def unflatten(aux: tuple, leaves: Any) -> Any:
        return restore(
            cls, dict(zip(data, leaves, strict=True)) | dict(zip(meta, aux, strict=True))
        )

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def as_float_param(value: Any, name: str, owner: str | None = None) -> Any:
    """Parameter ``name`` of ``owner`` as a JAX float array.

    Python and NumPy numbers (integers too) become float arrays; float arrays, tracers and
    ``jax.ShapeDtypeStruct`` pass through. Anything else raises a ``TypeError`` naming ``owner``,
    ``name`` and what came: ``None``, strings, bools, complex or integer JAX arrays, a
    distribution, any other object. Only types and dtypes are read, never values.
    """
    where = f"{owner}: {name}" if owner else name
    if hasattr(value, "__jax_array__"):
        value = jnp.asarray(value)
    if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            raise TypeError(
                f"{where} must be a real number or a float array, got {describe(value)}."
            )
        array = array if array.dtype.kind == "f" else array.astype(float)
        # Python numbers stay weakly typed, so they adopt the dtype of the arrays they meet.
        return jnp.asarray(array.item()) if array.ndim == 0 else jnp.asarray(array)
    if not isinstance(value, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        raise TypeError(f"{where} must be a real number or a float array, got {describe(value)}.")
    numpy = isinstance(value, (np.ndarray, np.generic))
    if jnp.issubdtype(value.dtype, jnp.floating):
        return jnp.asarray(value) if numpy else value
    if numpy and value.dtype.kind in "iu":
        return jnp.asarray(value, dtype=jnp.result_type(float))
    raise TypeError(f"{where} must have a real floating dtype, got {value.dtype}.")


def is_zero_tangent(tangent: Any) -> bool:
    """Whether a tangent leaf handed to ``_cdf_tangent`` is a symbolic zero: the parameter is not
    being differentiated, and the engine passes the Python float ``0.0`` (real tangents are
    arrays)."""
    return isinstance(tangent, float)


def dense_tangent(dist: Any, ddist: Any) -> Any:
    """``ddist`` with its symbolic zeros (:func:`is_zero_tangent`) as zero arrays shaped like the
    parameters of ``dist``, as ``jax.jvp`` needs them."""
    return jax.tree.map(lambda p, t: jnp.zeros_like(p) if is_zero_tangent(t) else t, dist, ddist)


def has_placeholder_leaves(tree: Any) -> bool:
    """True while a JAX transformation rebuilds a pytree with non-array leaves (constructors then
    skip their shape checks)."""
    return any(not hasattr(leaf, "shape") for leaf in jax.tree.leaves(tree))


# ---- the boundary: what callers hand in, checked before JAX sees it --------------------------

_DTYPE_PREFIX = {"bfloat": "bf", "float": "f", "int": "i", "uint": "u", "complex": "c"}


def short_repr(obj: Any) -> str:
    """A one-line summary of a distribution, a state or any pytree leaf; it never raises.

    Arrays, tracers and ``jax.ShapeDtypeStruct`` show their dtype and shape, ``f32[32,4]`` (as
    equinox's ``tree_pformat`` does); dataclasses (distributions, states) and named tuples their
    fields; tuples, lists and dicts their items; numbers, strings and ``None`` themselves;
    functions their name; anything else its type.

    Example:
        >>> import jax.numpy as jnp, ml_networks_jax as mnj
        >>> mnj.Gamma(jnp.ones(3), 2.0)
        Gamma(concentration=f32[3], rate=f32[])
        >>> short_repr({"loc": jnp.zeros((32, 4)), "n": 3})
        "{'loc': f32[32,4], 'n': 3}"
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = [
            f"{f.name}={short_repr(getattr(obj, f.name, '?'))}" for f in dataclasses.fields(obj)
        ]
        return f"{type(obj).__name__}({', '.join(items)})"
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        items = [f"{n}={short_repr(v)}" for n, v in zip(obj._fields, obj, strict=False)]
        return f"{type(obj).__name__}({', '.join(items)})"
    if isinstance(obj, (tuple, list)):
        items = ", ".join(map(short_repr, obj))
        return f"[{items}]" if isinstance(obj, list) else f"({items}{',' * (len(obj) == 1)})"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {short_repr(v)}" for k, v in obj.items()) + "}"
    if obj is None or isinstance(obj, (bool, int, float, complex, str)):
        return repr(obj)
    try:
        dims = ",".join(str(n) for n in obj.shape)
        dtype = str(getattr(obj.dtype, "name", obj.dtype))
    except Exception:  # not an array (no shape or dtype), or a placeholder whose attributes raise
        return (
            getattr(obj, "__qualname__", type(obj).__name__)
            if callable(obj)
            else type(obj).__name__
        )
    short = re.fullmatch(r"(bfloat|float|uint|int|complex)([1-9]\d*)", dtype)
    return f"{_DTYPE_PREFIX[short[1]] + short[2] if short else dtype}[{dims}]"


def qualified_name(cls: type) -> str:
    """``module.Class``: errors name classes with their module, so that two libraries' ``Gamma``
    are told apart."""
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(value: Any) -> str:
    """How an error message names what it got: a number, string, tuple or list with its type and
    value, an array as dtype and shape, any other object as its class with its module."""
    if value is None:
        return "None"
    if isinstance(value, (bool, int, float, complex, str, tuple, list)):
        return f"{type(value).__name__} {short_repr(value)}"
    if isinstance(value, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return f"an array {short_repr(value)}"
    return qualified_name(type(value))


def check_key(key: Any, where: str, batch_hint: str = "") -> None:
    """Raise unless ``key`` is one PRNG key: a typed key (``jax.random.key(seed)``, shape ``()``)
    or a legacy ``uint32`` key (``jax.random.PRNGKey(seed)``, shape ``(2,)``). Integers (seeds)
    raise a ``TypeError``, batches of keys a ``ValueError`` saying what to do (``batch_hint``).
    Only the dtype and the shape are read, so tracers under ``jit`` and ``vmap`` are checked too.
    """
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and shape is not None:
        shape = tuple(shape)
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            batch = shape
        else:
            batch = shape[:-1] if dtype == np.uint32 and shape else None
        if batch == ():
            return
        if batch is not None:
            hint = batch_hint or (
                "pass one key (sample_shape sets the number of draws), or map over the keys "
                "with jax.vmap"
            )
            raise ValueError(
                f"{where}: key must be a single PRNG key, got a batch of keys of shape {batch}; "
                f"{hint}."
            )
    seed = isinstance(key, (int, np.integer)) and not isinstance(key, bool)
    seed = seed or shape == () and jnp.issubdtype(dtype, jnp.integer)
    raise TypeError(
        f"{where}: key must be a PRNG key, jax.random.key(seed) (or the legacy "
        f"jax.random.PRNGKey(seed)), got {describe(key)}"
        + (": a seed, not a key." if seed else ".")
    )


def as_sample_shape(sample_shape: Any, where: str) -> tuple[int, ...]:
    """``sample_shape`` as a tuple of non-negative ints: an int or a sequence of ints, NumPy
    integers and concrete integer JAX scalars included; not bools, floats or traced values (a
    shape is static)."""
    if isinstance(sample_shape, (tuple, list, range)) or getattr(sample_shape, "ndim", 0) == 1:
        dims = tuple(sample_shape)
    else:
        dims = (sample_shape,)
    shape = []
    for d in dims:
        integer = jnp.issubdtype(d.dtype, jnp.integer) if hasattr(d, "dtype") else True
        try:
            shape.append(operator.index(d) if integer and not isinstance(d, bool) else None)
        except jax.errors.TracerIntegerConversionError:
            raise TypeError(
                f"{where}: sample_shape must be static, got {describe(sample_shape)}: a traced "
                "value cannot set a shape (under jit, make it a static argument)."
            ) from None
        except TypeError:  # not an integer
            shape.append(None)
    if None in shape:
        raise TypeError(
            f"{where}: sample_shape must be an int or a tuple of ints, "
            f"got {describe(sample_shape)}."
        )
    if any(n < 0 for n in shape):
        raise ValueError(f"{where}: sample_shape must have sizes >= 0, got {tuple(shape)}.")
    return tuple(shape)


def _check_value(dist: Distribution, where: str, name: str, x: Any) -> None:
    """A ``ValueError`` naming ``where`` unless ``x`` can be a value of ``dist``: it ends with
    ``event_shape`` and broadcasts with ``batch_shape + event_shape`` (so ``sample_shape +
    batch_shape + event_shape`` and shapes with fewer leading dims pass). Shapes only."""
    try:
        shape = tuple(np.shape(x))
    except TypeError:  # e.g. a list of tracers: its shape is left to the method
        return
    if has_placeholder_leaves(dist):
        return
    batch, event = dist.batch_shape, dist.event_shape
    expected = (
        f"values have shape sample_shape + batch_shape + event_shape = sample_shape + {batch} + "
        f"{event}, or fewer leading dims that broadcast"
    )
    if len(shape) < len(event) or shape[len(shape) - len(event) :] != event:
        raise ValueError(
            f"{where}: {name} of shape {shape} must end with event_shape {event}; {expected}."
        )
    try:
        np.broadcast_shapes(shape, batch + event)
    except ValueError:
        raise ValueError(
            f"{where}: {name} of shape {shape} does not broadcast with batch_shape + event_shape "
            f"= {batch} + {event}; {expected}."
        ) from None


def _checks_value(method: Callable) -> Callable:
    """``method(self, x)`` (``log_prob``, ``cdf``, ...) after the shape check of ``x``."""
    name = list(inspect.signature(method).parameters)[1]

    @functools.wraps(method)
    def checked(self: Distribution, *args: Any, **kwargs: Any) -> Any:
        x = args[0] if args else kwargs.get(name)
        _check_value(self, f"{type(self).__name__}.{method.__name__}", name, x)
        return method(self, *args, **kwargs)

    checked.checks_boundary = True  # type: ignore[attr-defined]
    return checked


def _checks_draw(method: Callable) -> Callable:
    """``method(self, key, sample_shape)`` (``sample``, ``rsample``, ...) after the key check,
    with ``sample_shape`` as a tuple of ints."""

    @functools.wraps(method)
    def checked(self: Distribution, key: PRNGKey, sample_shape: Shape = (), *args, **kwargs):
        where = f"{type(self).__name__}.{method.__name__}(key, sample_shape)"
        check_key(key, where)
        return method(self, key, as_sample_shape(sample_shape, where), *args, **kwargs)

    checked.checks_boundary = True  # type: ignore[attr-defined]
    return checked


#: The public methods every call passes through, and their checks.
_BOUNDARY = {
    **dict.fromkeys(("log_prob", "prob", "cdf", "log_cdf", "log_survival", "icdf"), _checks_value),
    **dict.fromkeys(
        (
            "sample",
            "rsample",
            "rsample_implicit",
            "sample_and_log_prob",
            "sample_component",
            "log_rsample",
        ),
        _checks_draw,
    ),  # fmt: skip
}


#: Limits of each pointwise method below and above a univariate support.
_LIMITS = {
    "log_prob": (-math.inf, -math.inf),
    "cdf": (0.0, 1.0),
    "log_cdf": (-math.inf, 0.0),
    "log_survival": (0.0, -math.inf),
}


def inside_support(evaluate, method: str, x: Array, low: Array, high: Array) -> Array:
    """``evaluate(method, x)`` for ``log_prob``, ``cdf``, ``log_cdf`` or ``log_survival`` of a
    univariate family, evaluated only strictly inside its support ``(low, high)``: an interior
    point stands in elsewhere, so that no NaN reaches a gradient through the branch not taken, and
    the method's limits are returned there (``-inf`` density, CDF 0 below and 1 above)."""
    below, above = x <= low, x >= high
    value = evaluate(method, interior_point(x, low, high))
    at_low, at_high = _LIMITS[method]
    return jnp.where(below, at_low, jnp.where(above, at_high, value))


def log_density_at_end(exponent: Array, log_coefficient: Array) -> Array:
    """The log density at an end of the support where it behaves as ``C t^exponent`` (``t`` the
    distance to the end): ``+inf`` for a negative exponent, ``log C`` for 0, ``-inf`` for a
    positive one."""
    return jnp.where(exponent < 0, jnp.inf, jnp.where(exponent == 0, log_coefficient, -jnp.inf))


def interior_point(x: Array, low: Array, high: Array) -> Array:
    """``x`` where it lies strictly inside ``(low, high)``, else a fixed interior point (the
    midpoint, or 1 inside a finite end point, or 0)."""
    finite_low, finite_high = jnp.isfinite(low), jnp.isfinite(high)
    both = finite_low & finite_high  # (-inf + inf would be NaN in the branch not taken)
    interior = jnp.where(
        both,
        0.5 * (jnp.where(both, low, 0.0) + jnp.where(both, high, 0.0)),
        jnp.where(finite_low, low + 1.0, jnp.where(finite_high, high - 1.0, 0.0)),
    )
    return jnp.where((x <= low) | (x >= high), interior, x)


def checked(method):
    """Decorate a value method ``method(self)`` or ``method(self, x)``: NaN where the parameters
    are invalid (``self._valid()`` is False) or ``x`` is NaN (an event with a NaN entry), the
    method's value elsewhere; for ``log_prob``, ``cdf``, ``log_cdf`` and ``log_survival`` of a
    univariate family (unless circular) their limits at ``x = ±inf``, where the method sees an
    interior point instead (no ``inf - inf`` in a value, no NaN in a gradient). The method runs
    on every element, branch-free; what it computes for invalid ones is discarded."""

    limits = _LIMITS.get(method.__name__)

    @functools.wraps(method)
    def value_or_nan(self, *args):
        ok = self._valid()
        if not args:  # moments: batch_shape + event dims
            value = method(self)
            ok = jnp.broadcast_to(ok, self.batch_shape)
            ok = ok.reshape(ok.shape + (1,) * (jnp.ndim(value) - ok.ndim))
            return nan_unless(ok, value)
        x = jnp.asarray(args[0])
        if not jnp.issubdtype(x.dtype, jnp.inexact):  # counts: never NaN
            return nan_unless(ok, method(self, x))
        nan = jnp.isnan(x)
        ok = ok & ~jnp.any(nan, axis=tuple(range(nan.ndim - self.event_ndims, nan.ndim)))
        if limits is None or self.event_ndims or self._circular:
            return nan_unless(ok, method(self, x))
        infinite = jnp.isinf(x)
        value = method(self, jnp.where(infinite, interior_point(x, *self.support()), x))
        value = jnp.where(x == -jnp.inf, limits[0], jnp.where(x == jnp.inf, limits[1], value))
        return nan_unless(ok, value)

    return value_or_nan


def quantile(method):
    """Decorate ``icdf(self, p)`` written for ``0 < p < 1``: the ends of the support at ``p = 0``
    and ``p = 1``, NaN for ``p`` outside ``[0, 1]`` (and as :func:`checked`). The formula sees
    ``p = 1/2`` where it is not used, so no NaN or infinity reaches a gradient."""

    @checked
    @functools.wraps(method)
    def icdf(self, p):
        p = jnp.asarray(p)
        inside = (p > 0) & (p < 1)
        value = method(self, jnp.where(inside, p, 0.5))
        low, high = self.support()
        in_range = (p >= 0) & (p <= 1)
        return nan_unless(in_range, jnp.where(inside, value, jnp.where(p == 0, low, high)))

    return icdf


class Distribution:
    """Base class of every distribution. See the module docstring for the contract."""

    #: Number of trailing dims of a sample that form one event (0: univariate).
    event_ndims: ClassVar[int] = 0
    #: End points of the support of a univariate family with fixed support (see ``support``).
    _support: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    #: Parameters that must be positive (scales, rates, shapes): see ``_valid``.
    _positive: ClassVar[tuple[str, ...]] = ()
    #: A law on the circle has no limits at ``x = ±inf`` (see :func:`checked`).
    _circular: ClassVar[bool] = False

    def _valid(self) -> Array:
        """Where the parameters are valid (broadcastable to ``batch_shape``): no entry is NaN
        and those named in ``_positive`` are ``> 0``. Families with other constraints extend
        it; the value methods decorated with :func:`checked` give NaN elsewhere."""
        ok = jnp.asarray(True)
        for f in self._param_fields():
            p = jnp.asarray(getattr(self, f.name))
            good = p > 0 if f.name in self._positive else ~jnp.isnan(p)
            ok = ok & jnp.all(good, axis=tuple(range(p.ndim - f.metadata[_EVENT_NDIMS], p.ndim)))
        return ok

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give a family's own public value and sampling methods the boundary checks (the shape
        of ``x``; the key and ``sample_shape``): written once, here, they cover every family and
        both spellings, ``dist.log_prob(x)`` and ``log_prob(dist, x)``."""
        super().__init_subclass__(**kwargs)
        for name, check in _BOUNDARY.items():
            method = cls.__dict__.get(name)
            if inspect.isfunction(method) and not getattr(method, "checks_boundary", False):
                setattr(cls, name, check(method))

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in self._param_fields():
            value = as_float_param(getattr(self, f.name), f.name, owner)
            object.__setattr__(self, f.name, value)
        self._check_shapes()

    # ---- structure -------------------------------------------------------------------------

    @classmethod
    def _param_fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if _EVENT_NDIMS in f.metadata]

    def _params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in self._param_fields()}

    def _check_shapes(self) -> None:
        """Raise a clear error for parameters whose batch dims do not broadcast."""
        batch_shapes = {}
        for f in self._param_fields():
            shape = getattr(getattr(self, f.name), "shape", None)
            if shape is None:  # a placeholder leaf during a JAX transformation
                return
            nd = f.metadata[_EVENT_NDIMS]
            if len(shape) < nd:
                raise ValueError(
                    f"{type(self).__name__}: {f.name} must have at least {nd} dims, "
                    f"got shape {tuple(shape)}."
                )
            batch_shapes[f.name] = tuple(shape[: len(shape) - nd])
        try:
            np.broadcast_shapes(*batch_shapes.values())
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}: parameter batch shapes do not broadcast: {batch_shapes}."
            ) from None

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the independent, non-identical distributions this object holds."""
        shapes = []
        for f in self._param_fields():
            shape = jnp.shape(getattr(self, f.name))
            shapes.append(shape[: len(shape) - f.metadata[_EVENT_NDIMS]])
        return tuple(np.broadcast_shapes(*shapes))

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one draw. Univariate families: ``()``."""
        return ()

    @property
    def dtype(self) -> Any:
        """Floating dtype of samples (the promoted dtype of the parameters)."""
        return jnp.result_type(*self._params().values())

    def _sample_shape(self, sample_shape: Shape) -> tuple[int, ...]:
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        return tuple(sample_shape) + self.batch_shape + self.event_shape

    def _broadcast(self, *params: Array) -> list[Array]:
        """Parameters broadcast to ``batch_shape`` (univariate families)."""
        return [jnp.broadcast_to(p, self.batch_shape) for p in params]

    def __repr__(self) -> str:
        return short_repr(self)

    # ---- sampling --------------------------------------------------------------------------

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no sampler.")

    @_checks_draw
    def sample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """Draw ``sample_shape + batch_shape + event_shape`` values; no gradient flows."""
        dist = jax.lax.stop_gradient(self)
        return jax.lax.stop_gradient(dist._draw(key, dist._sample_shape(sample_shape)))

    @_checks_draw
    def rsample_implicit(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """Draw with implicit reparameterization gradients, dz/dθ = -(∂F/∂θ)/q(z)."""
        from ml_networks_jax.implicit import reparameterize

        return reparameterize(self, self.sample(key, sample_shape))

    @_checks_draw
    def rsample(self, key: PRNGKey, sample_shape: Shape = ()) -> Array:
        """Draw with the best pathwise gradient: explicit where a location-scale form exists."""
        explicit = getattr(self, "_explicit", None)
        if explicit is None:
            return self.rsample_implicit(key, sample_shape)
        return explicit(key, self._sample_shape(sample_shape))

    @_checks_draw
    def sample_and_log_prob(self, key: PRNGKey, sample_shape: Shape = ()) -> tuple[Array, Array]:
        """A reparameterized draw and its log density (computed stably where a family can)."""
        z = self.rsample(key, sample_shape)
        return z, self.log_prob(z)

    # ---- densities and moments -------------------------------------------------------------

    @_checks_value
    def log_prob(self, x: ArrayLike) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no log_prob.")

    @_checks_value
    def prob(self, x: ArrayLike) -> Array:
        """Density (or mass) at ``x``."""
        return jnp.exp(self.log_prob(x))

    @_checks_value
    def cdf(self, x: ArrayLike) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no cdf.")

    @_checks_value
    def log_cdf(self, x: ArrayLike) -> Array:
        """``log F(x)``: ``-inf`` with a zero gradient where ``F = 0`` (below the support);
        families override it where the lower tail needs more accuracy."""
        f = self.cdf(x)
        return jnp.where(f == 0, -jnp.inf, jnp.log(jnp.where(f == 0, 1.0, f)))  # NaN stays

    @_checks_value
    def log_survival(self, x: ArrayLike) -> Array:
        """``log(1 - F(x))``: ``-inf`` with a zero gradient where ``F = 1`` (above the support);
        families override it where the upper tail needs more accuracy."""
        f = self.cdf(x)
        return jnp.where(f == 1, -jnp.inf, jnp.log1p(-jnp.where(f == 1, 0.0, f)))  # NaN stays

    @_checks_value
    def icdf(self, p: ArrayLike) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form icdf.")

    def entropy(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form entropy.")

    def mean(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form mean.")

    def mode(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form mode.")

    def variance(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form variance.")

    def stddev(self) -> Array:
        """Standard deviation, ``sqrt(variance)``."""
        return jnp.sqrt(self.variance())

    def support(self) -> tuple[Array, Array]:
        """``(low, high)``, each of shape ``batch_shape``: the density is 0 outside
        ``[low, high]`` (univariate families; infinite end points for the real line)."""
        low, high = self._support
        return tuple(jnp.full(self.batch_shape, v, self.dtype) for v in (low, high))


def expect_distribution(obj: Any, where: str) -> None:
    """A ``TypeError`` unless ``obj`` is a distribution of this library (another library's, e.g.
    TFP's or distrax's, is not interchangeable with ours)."""
    if not isinstance(obj, Distribution):
        state = hasattr(obj, "get_distribution")
        raise TypeError(
            f"{where}: expected an ml_networks_jax distribution, got {describe(obj)}"
            + ("; a state's distribution is state.get_distribution()." if state else ".")
        )


# ---- the pure API: one implementation (the methods above), two spellings ----------------------


def sample(key: PRNGKey, dist: Distribution, sample_shape: Shape = ()) -> Array:
    """``dist.sample(key, sample_shape)``: a draw through which no gradient flows."""
    expect_distribution(dist, "sample(key, dist, sample_shape)")
    return dist.sample(key, sample_shape)


def rsample(key: PRNGKey, dist: Distribution, sample_shape: Shape = ()) -> Array:
    """``dist.rsample(key, sample_shape)``: explicit reparameterization where it exists."""
    expect_distribution(dist, "rsample(key, dist, sample_shape)")
    return dist.rsample(key, sample_shape)


def rsample_implicit(key: PRNGKey, dist: Distribution, sample_shape: Shape = ()) -> Array:
    """``dist.rsample_implicit(key, sample_shape)``: always the implicit (CDF) gradient.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> z = mnj.rsample_implicit(jax.random.key(0), mnj.Gamma(2.0, 1.0), (1000,))
        >>> z.shape
        (1000,)
    """
    expect_distribution(dist, "rsample_implicit(key, dist, sample_shape)")
    return dist.rsample_implicit(key, sample_shape)


def sample_and_log_prob(
    key: PRNGKey, dist: Distribution, sample_shape: Shape = ()
) -> tuple[Array, Array]:
    """``dist.sample_and_log_prob(key, sample_shape)``: reparameterized draw and its log density."""
    expect_distribution(dist, "sample_and_log_prob(key, dist, sample_shape)")
    return dist.sample_and_log_prob(key, sample_shape)


def log_prob(dist: Distribution, x: ArrayLike) -> Array:
    """``dist.log_prob(x)``."""
    expect_distribution(dist, "log_prob(dist, x)")
    return dist.log_prob(x)


def prob(dist: Distribution, x: ArrayLike) -> Array:
    """``dist.prob(x)``."""
    expect_distribution(dist, "prob(dist, x)")
    return dist.prob(x)


def cdf(dist: Distribution, x: ArrayLike) -> Array:
    """``dist.cdf(x)``."""
    expect_distribution(dist, "cdf(dist, x)")
    return dist.cdf(x)


def icdf(dist: Distribution, p: ArrayLike) -> Array:
    """``dist.icdf(p)``."""
    expect_distribution(dist, "icdf(dist, p)")
    return dist.icdf(p)


def entropy(dist: Distribution) -> Array:
    """``dist.entropy()``."""
    expect_distribution(dist, "entropy(dist)")
    return dist.entropy()


def mean(dist: Distribution) -> Array:
    """``dist.mean()``."""
    expect_distribution(dist, "mean(dist)")
    return dist.mean()


def mode(dist: Distribution) -> Array:
    """``dist.mode()``."""
    expect_distribution(dist, "mode(dist)")
    return dist.mode()


def variance(dist: Distribution) -> Array:
    """``dist.variance()``."""
    expect_distribution(dist, "variance(dist)")
    return dist.variance()


def stddev(dist: Distribution) -> Array:
    """``dist.stddev()``."""
    expect_distribution(dist, "stddev(dist)")
    return dist.stddev()


def batch_shape(dist: Distribution) -> tuple[int, ...]:
    """``dist.batch_shape``."""
    expect_distribution(dist, "batch_shape(dist)")
    return dist.batch_shape


def event_shape(dist: Distribution) -> tuple[int, ...]:
    """``dist.event_shape``."""
    expect_distribution(dist, "event_shape(dist)")
    return dist.event_shape


LOG_2PI = math.log(2 * math.pi)
#: The Euler-Mascheroni constant γ = -ψ(1).
EULER_GAMMA = 0.5772156649015329


def open_uniform(key: PRNGKey, shape: tuple[int, ...], dtype: Any) -> Array:
    """Uniform draws on the open interval (0, 1), so that logs of them are finite."""
    return jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
