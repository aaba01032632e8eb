"""Type aliases (core JAX types only)."""

from collections.abc import Sequence

import jax

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
DTypeLike = jax.typing.DTypeLike
PRNGKey = jax.Array
Shape = Sequence[int]
