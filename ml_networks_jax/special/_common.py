"""Helpers shared by the special functions and the families."""

from __future__ import annotations

import jax.numpy as jnp

from ml_networks_jax._types import Array, ArrayLike


def nan_unless(valid: ArrayLike, x: ArrayLike) -> Array:
    """``x`` where ``valid``, NaN elsewhere.

    The NaN is computed at the invalid elements only (``√-1``), never broadcast from a NaN
    constant: run op by op (``jax.disable_jit()``), ``jnp.where(valid, x, jnp.nan)`` makes an
    array of NaNs whatever ``valid`` holds, and trips ``jax_debug_nans`` on valid input.

    Example:
        >>> import jax.numpy as jnp
        >>> nan_unless(jnp.array([True, False]), jnp.array([1.0, 2.0])).tolist()
        [1.0, nan]
    """
    x = jnp.asarray(x)
    invalid = jnp.logical_not(valid)
    return jnp.where(invalid, jnp.sqrt(-invalid.astype(x.dtype)), x)
