"""Static-size index compaction, bucketed lengths and blockwise evaluation, shared by the
samplers and special functions, and the samplers' random streams and NaN for failed draws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._types import Array

#: Block length of :func:`map_blocks` for the samplers and special functions: 65,536 float32
#: values (256 KiB) per array, so that a block's few dozen temporaries take a few MB, yet enough
#: for XLA to spread a fused loop over the cores.
BLOCK = 65536

#: Kernels called on arrays of any shape see them flattened and padded to a bucketed length
#: (:func:`bucket_length`): eager calls on arrays of similar sizes share one compilation.
BUCKET = 4096


def bucket_length(size: int) -> int:
    """The padded length of ``size`` elements: the next power of two (at least 8) up to
    :data:`BUCKET`, the next multiple of it up to :data:`BLOCK`, ``size`` itself above (long
    arrays are cut into blocks anyway, and a sampler's blocks follow the length).

    Example:
        >>> [bucket_length(n) for n in (1, 9, 4097, 70000)]
        [8, 16, 8192, 70000]
    """
    if size > BLOCK:
        return size
    if size > BUCKET:
        return -(-size // BUCKET) * BUCKET
    return max(8, 1 << max(size - 1, 0).bit_length())


def on_bucket(kernel, args, fills, *lead):
    """``kernel(*lead, *flat)`` for same-shape arrays ``args``, ``flat`` their flattened values
    padded at the end with the harmless values ``fills`` to :func:`bucket_length`; the result (a
    pytree of arrays of that length, ``None`` leaves allowed) cut back and reshaped to the shape
    of ``args``.

    A jitted ``kernel`` called eagerly on arrays of similar sizes compiles once; under an outer
    jit the padding costs a copy. Padding leaves every element's position, so the draws of a
    sampler whose random streams are numbered by position do not change.

    Example:
        >>> import jax.numpy as jnp
        >>> on_bucket(lambda v: v * 2, (jnp.ones((2, 3)),), (0.0,)).shape
        (2, 3)
    """
    shape, size = args[0].shape, args[0].size
    pad = bucket_length(size) - size

    def flat(v, fill):
        v = jnp.ravel(v)
        return jnp.concatenate([v, jnp.full((pad,), fill, v.dtype)]) if pad else v

    out = kernel(*lead, *(flat(v, f) for v, f in zip(args, fills, strict=True)))
    return jax.tree.map(lambda v: v[:size].reshape(shape), out)


def true_indices(mask: Array, size: int) -> Array:
    """Positions of the ``True`` entries of a 1-D ``mask``, in order, padded with ``len(mask)``
    to ``size`` entries (those beyond ``size`` are dropped).

    ``jnp.nonzero(mask, size=size, fill_value=len(mask))[0]``, written with an associative scan:
    on CPU, XLA lowers ``cumsum`` (and so ``nonzero``) to a reduce-window, much slower on long
    masks (figures in ``benchmarks/README.md``).

    Example:
        >>> import jax.numpy as jnp
        >>> true_indices(jnp.array([False, True, False, True]), 3).tolist()
        [1, 3, 4]
    """
    n = mask.shape[0]
    slot = jax.lax.associative_scan(jnp.add, mask.astype(jnp.int32)) - 1
    slot = jnp.where(mask, slot, size)  # out of range: dropped
    idx = jnp.full((size,), n, jnp.int32)
    return idx.at[slot].set(jnp.arange(n, dtype=jnp.int32), mode="drop")


#: Threefry-2x32's rotation constants, for even and odd groups of four rounds.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(key: tuple[Array, Array], x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 block cipher with 20 rounds (Salmon, Moraes, Dror & Shaw, "Parallel
    random numbers: as easy as 1, 2, 3", SC 2011; the hash of JAX's default PRNG) of the uint32
    word pairs ``(x0, x1)`` under the uint32 ``key`` pair: a counter-based generator, pseudorandom
    words for any counters chosen. Plain ``lax`` arithmetic (wrapping uint32 adds, rotations,
    xors), so it fuses into one loop and keeps every transformation's typing (``shard_map``'s
    device-varying values included).

    Example:
        >>> import numpy as np
        >>> [hex(int(w)) for w in threefry2x32((np.uint32(0), np.uint32(0)), 0, 0)]  # Random123
        ['0x6b200159', '0x99ba4efe']
    """
    u32 = np.uint32
    k0, k1 = key
    keys = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0, x1 = jnp.asarray(x0, u32) + keys[0], jnp.asarray(x1, u32) + keys[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << u32(r)) | (x1 >> u32(32 - r))) ^ x0
        x0 = x0 + keys[(i + 1) % 3]
        x1 = x1 + keys[(i + 2) % 3] + u32(i + 1)
    return x0, x1


def stream_uniforms(key, streams: Array, n: int, dtype) -> Array:
    """``n`` uniform variates on ``[0, 1)`` of ``dtype`` (float32 or float64) for each entry of the
    integer array ``streams``, in an array of shape ``(n,) + streams.shape``: those of stream
    ``s`` come from :func:`threefry2x32` of the counter pairs ``(s, 0), (s, 1), …`` under a 64-bit
    key drawn from ``key`` (whatever its PRNG implementation).

    A rejection sampler that draws each element's candidates from streams of its own (numbered by
    its position and its count of tries) gives every element a draw that depends on its own
    parameters alone: which other elements are rejected or invalid, how many share a retry buffer
    and where the element sits in it change nothing. Each hash yields two 32-bit words: two
    float32 variates, or one float64 variate.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> u = stream_uniforms(jax.random.key(0), jnp.arange(3), 4, jnp.float32)
        >>> v = stream_uniforms(jax.random.key(0), jnp.array([7, 1]), 4, jnp.float32)
        >>> u.shape, bool((u[:, 1] == v[:, 1]).all())  # stream 1 is the same wherever it sits
        ((4, 3), True)
    """
    k = jax.random.bits(key, (2,), jnp.uint32)
    words = jnp.finfo(dtype).bits // 32  # words per variate
    shape = (-(-n * words // 2), *streams.shape)  # hashes per stream, streams
    counter = jnp.broadcast_to(streams.astype(jnp.uint32), shape)
    w = threefry2x32((k[0], k[1]), counter, jax.lax.broadcasted_iota(jnp.uint32, shape, 0))
    if words == 1:  # 23 random mantissa bits of a float in [1, 2)
        w = jnp.concatenate(w)[:n]
        one = jax.lax.bitcast_convert_type((w >> 9) | np.uint32(0x3F800000), jnp.float32)
    else:  # 52 bits from the two words
        w = (w[0].astype(jnp.uint64) << 32) | w[1].astype(jnp.uint64)
        one = jax.lax.bitcast_convert_type((w >> 12) | np.uint64(0x3FF0000000000000), dtype)
    return one - 1.0


def nan_unless(ok: Array, x: Array) -> Array:
    """``x`` where ``ok``, NaN elsewhere. The NaN is computed (``√-1``) at those elements only,
    not broadcast from a constant, so ``jax_debug_nans`` trips only where a NaN is returned.

    Example:
        >>> import jax.numpy as jnp
        >>> nan_unless(jnp.array([True, False]), jnp.array([1.0, 2.0])).tolist()
        [1.0, nan]
    """
    return jnp.where(ok, x, jnp.sqrt(ok.astype(x.dtype) - 1.0))


def map_blocks(fn, args, fills, block: int, multiple: int):
    """``fn(i, *chunks)`` over arrays ``args`` of one leading length, cut along their first axis
    into the fewest equal blocks of at most ``block`` rows, each a multiple of ``multiple`` long
    (the last padded with ``fills``; a fill ``None`` repeats the first row), evaluated one after
    another (``lax.map``; a single block directly, ``i = 0``).  ``fn`` returns a pytree of arrays
    whose first axis is its block's length; the result is that pytree over the whole length,
    padding removed.

    Memory, not speed, is the point: a block's temporaries (e.g. ~3 bytes of counter-based random
    bits per byte drawn) are all that is live at once, and XLA still spreads each block's fused
    loops over the cores.

    Example:
        >>> import jax.numpy as jnp
        >>> out = map_blocks(lambda i, v: 10 * i + v, (jnp.arange(5),), (0,), 2, 1)
        >>> out.tolist()  # blocks [0, 1], [2, 3], [4, pad]: 10 × block index + value
        [0, 1, 12, 13, 24]
    """
    size = args[0].shape[0]
    blocks = max(1, -(-size // block))
    n = max(1, -(-size // (blocks * multiple))) * multiple
    pad = blocks * n - size

    def cut(v, fill):
        if pad:
            tail = (pad, *v.shape[1:])
            rows = jnp.broadcast_to(v[:1], tail) if fill is None else jnp.full(tail, fill, v.dtype)
            v = jnp.concatenate([v, rows])
        return v.reshape(blocks, n, *v.shape[1:])

    chunks = tuple(cut(v, fill) for v, fill in zip(args, fills, strict=True))
    if blocks == 1:
        return jax.tree.map(lambda v: v[:size], fn(jnp.int32(0), *(c[0] for c in chunks)))
    out = jax.lax.map(lambda x: fn(x[0], *x[1]), (jnp.arange(blocks, dtype=jnp.int32), chunks))
    return jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:])[:size], out)


def draw_in_blocks(draw, key, args, fills):
    """``draw(key_i, *chunks)`` over blocks of at most :data:`BLOCK` elements of the 1-D
    ``args`` (:func:`map_blocks`), ``key_i = fold_in(key, i)`` for block ``i``: a sampler's
    random bits (threefry's temporaries are about three times their size) one block at a time.
    Arrays of one block are not padded."""
    multiple = 1024 if args[0].shape[0] > BLOCK else 1
    return map_blocks(
        lambda i, *chunks: draw(jax.random.fold_in(key, i), *chunks), args, fills, BLOCK, multiple
    )


def elementwise_in_blocks(fn, args, fills):
    """``fn(*args)`` for an elementwise ``fn`` of same-shape arrays, evaluated on the flattened
    arrays in blocks of at most :data:`BLOCK` (:func:`map_blocks`, padded with ``fills``) when they
    are longer, directly otherwise: what is live at once is one block's temporaries.  ``fn``
    returns a pytree of arrays of its inputs' shape (``None`` leaves allowed)."""
    shape = args[0].shape
    if args[0].size <= BLOCK:
        return fn(*args)
    flat = tuple(jnp.ravel(v) for v in args)
    out = map_blocks(lambda _, *chunks: fn(*chunks), flat, fills, BLOCK, 1024)
    return jax.tree.map(lambda v: v.reshape(shape), out)
