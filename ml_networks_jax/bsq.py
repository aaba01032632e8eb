"""Binary spherical quantization (BSQ) codes (Zhao et al., 2024, arXiv:2406.07548).

BSQ projects a latent onto the unit sphere in ``d`` dimensions and quantizes each coordinate to
its sign, so a code is ``(2b - 1)/√d`` for bits ``b ∈ {0,1}^d``: one of the ``2^d`` corners of a
hypercube inscribed in the sphere. The codebook is implicit; these functions map between bits,
codes and integer indices (most significant bit first) without ever building it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array, ArrayLike, DTypeLike


def _index_dtype(dim: int) -> type:
    """The unsigned index dtype for ``dim`` bits: ``uint32`` up to 32, ``uint64`` up to 64."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim must be a Python int, got {dim!r} ({type(dim).__name__})")
    if not 1 <= dim <= 64:
        raise ValueError(f"dim must be in [1, 64] (indices are at most 64-bit), got {dim}")
    if dim <= 32:
        return jnp.uint32
    if not jax.config.jax_enable_x64:
        raise ValueError(f"dim={dim} > 32 needs uint64 indices: enable jax_enable_x64")
    return jnp.uint64


def _float_dtype(x: Array) -> DTypeLike:
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.result_type(float)


def bits_to_codes(bits: ArrayLike) -> Array:
    """Codes ``c = (2b - 1)/√d`` (``= (2b-1)/‖2b-1‖``) of bits ``b`` along the last axis (size d).

    Linear in ``b``, so gradients pass (``∂c/∂b = 2/√d``): use it with straight-through bits.
    Float bits keep their dtype; integer or bool bits give the default float dtype.

    Example:
        >>> from ml_networks_jax.bsq import bits_to_codes
        >>> bits_to_codes([[0, 1], [1, 0]])
        Array([[-0.70710677,  0.70710677],
               [ 0.70710677, -0.70710677]], dtype=float32)
    """
    b = jnp.asarray(bits)
    if b.ndim == 0 or b.shape[-1] == 0:
        raise ValueError(f"bits need a non-empty last axis, got shape {b.shape}")
    b = b.astype(_float_dtype(b))
    return (2 * b - 1) * (1 / math.sqrt(b.shape[-1]))


def codes_to_bits(codes: ArrayLike) -> Array:
    """Bits ``b = [c > 0]`` (0. or 1., the codes' float dtype); the inverse of `bits_to_codes`.

    Example:
        >>> from ml_networks_jax.bsq import codes_to_bits
        >>> codes_to_bits([[-0.5, 0.5]])
        Array([[0., 1.]], dtype=float32)
    """
    c = jnp.asarray(codes)
    return (c > 0).astype(_float_dtype(c))


def indices_to_codes(indices: ArrayLike, dim: int) -> Array:
    """Codes of integer indices: bit ``k`` of ``b`` is ``(i >> (dim - 1 - k)) & 1`` (MSB first).

    The output has shape ``indices.shape + (dim,)``: the code axis is appended, never squeezed
    (the reference implementation drops a trailing size-1 index axis). Indices are cast to
    ``uint32`` (``dim ≤ 32``) or ``uint64`` (``32 < dim ≤ 64``, needs ``jax_enable_x64``); signed
    inputs wrap (two's complement, ``-1`` is all ones) and only the low ``dim`` bits are used.

    Args:
        indices: integer array, any shape.
        dim: number of bits ``d``, a static Python int in ``[1, 64]``.

    Example:
        >>> import jax.numpy as jnp
        >>> from ml_networks_jax.bsq import indices_to_codes
        >>> indices_to_codes(jnp.array([[31], [19]]), 5).shape
        (2, 1, 5)
        >>> indices_to_codes(19, 5)
        Array([ 0.4472136, -0.4472136, -0.4472136,  0.4472136,  0.4472136], dtype=float32)
    """
    dtype = _index_dtype(dim)
    i = jnp.asarray(indices)
    if not jnp.issubdtype(i.dtype, jnp.integer):
        raise TypeError(f"indices must be integers, got dtype {i.dtype}")
    shifts = jnp.arange(dim - 1, -1, -1, dtype=dtype)
    return bits_to_codes((i.astype(dtype)[..., None] >> shifts) & 1)


def codes_to_indices(codes: ArrayLike) -> Array:
    """Indices ``i = Σ_k [c_k > 0] 2^(d-1-k)`` of codes (or of 0/1 bits) along the last axis.

    Returns ``uint32`` for ``d ≤ 32`` and ``uint64`` for ``32 < d ≤ 64`` (needs
    ``jax_enable_x64``); the inverse of `indices_to_codes`. Not differentiable (integer output).

    Example:
        >>> import jax.numpy as jnp
        >>> from ml_networks_jax.bsq import codes_to_indices
        >>> codes_to_indices(jnp.array([[0.5, -0.5, -0.5, 0.5, 0.5]]))
        Array([19], dtype=uint32)
    """
    c = jnp.asarray(codes)
    if c.ndim == 0 or c.shape[-1] == 0:
        raise ValueError(f"codes need a non-empty last axis, got shape {c.shape}")
    dim = c.shape[-1]
    dtype = _index_dtype(dim)
    shifts = jnp.arange(dim - 1, -1, -1, dtype=dtype)
    # The bits are disjoint, so the sum is an exact bitwise or.
    return jnp.sum((c > 0).astype(dtype) << shifts, axis=-1, dtype=dtype)
