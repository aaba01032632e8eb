"""Binary spherical quantization codes: contract values, round trips, errors, transformations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import float32_only

from ml_networks_jax.bsq import bits_to_codes, codes_to_bits, codes_to_indices, indices_to_codes

X64 = jax.config.jax_enable_x64
DEFAULT_FLOAT = jnp.result_type(float)
S5 = 1 / np.sqrt(5)


def _indices(dim, n=64):
    """Fixed pseudo-random indices in [0, 2^dim), with both ends, as uint32 (dim ≤ 32)."""
    rng = np.random.default_rng(dim)
    i = rng.integers(0, 2**dim, size=n, dtype=np.uint64)
    return np.concatenate([[0, 2**dim - 1], i]).astype(np.uint32)


# --- the seed contract ---


def test_bits_to_codes_contract():
    np.testing.assert_allclose(
        bits_to_codes(jnp.array([[0, 1], [1, 0]])),
        [[-0.7071, 0.7071], [0.7071, -0.7071]],
        atol=5e-5,
    )
    np.testing.assert_allclose(
        bits_to_codes(jnp.array([[0, 0, 1], [1, 0, 0]])),
        [[-0.5774, -0.5774, 0.5774], [0.5774, -0.5774, -0.5774]],
        atol=5e-5,
    )


def test_indices_to_codes_contract():
    np.testing.assert_allclose(indices_to_codes(jnp.array(31), 5), [0.4472] * 5, atol=5e-5)
    np.testing.assert_allclose(
        indices_to_codes(jnp.array(19), 5), [0.4472, -0.4472, -0.4472, 0.4472, 0.4472], atol=5e-5
    )
    c = indices_to_codes(jnp.array([[31], [19]]), 5)  # the trailing code axis is appended
    assert c.shape == (2, 1, 5)
    np.testing.assert_allclose(c[:, 0], [[S5] * 5, [S5, -S5, -S5, S5, S5]], rtol=1e-6)
    np.testing.assert_array_equal(codes_to_indices(c), [[31], [19]])


# --- dtypes ---


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, DEFAULT_FLOAT])
def test_float_bits_keep_dtype(dtype):
    c = bits_to_codes(jnp.array([[0.0, 1.0, 1.0, 0.0]], dtype))
    assert c.dtype == dtype
    np.testing.assert_array_equal(np.asarray(c, np.float32), [[-0.5, 0.5, 0.5, -0.5]])
    assert codes_to_bits(c).dtype == dtype


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_int_and_bool_bits_give_default_float(dtype):
    c = bits_to_codes(jnp.array([[0, 1]], dtype))
    assert c.dtype == DEFAULT_FLOAT
    np.testing.assert_array_equal(codes_to_bits(c), [[0, 1]])


def test_index_dtypes():
    assert codes_to_indices(indices_to_codes(jnp.array(3, jnp.uint32), 32)).dtype == jnp.uint32
    assert codes_to_indices(jnp.ones((2, 1))).dtype == jnp.uint32


# --- round trips and norms ---


@pytest.mark.parametrize("dim", [1, 5, 17, 32])
def test_index_round_trip(dim):
    i = jnp.asarray(_indices(dim))
    c = indices_to_codes(i, dim)
    assert c.shape == (*i.shape, dim)
    out = codes_to_indices(c)
    assert out.dtype == jnp.uint32
    np.testing.assert_array_equal(out, i)
    np.testing.assert_array_equal(codes_to_indices(codes_to_bits(c)), i)  # bits work too


@pytest.mark.skipif(not X64, reason="64-bit indices need uint64: jax_enable_x64")
def test_index_round_trip_dim64():
    rng = np.random.default_rng(64)
    edges = np.array([0, 1, 2**63, 2**63 - 1, 2**64 - 1], np.uint64)
    i = jnp.asarray(np.concatenate([edges, rng.integers(0, 2**64 - 1, 64, np.uint64)]))
    c = indices_to_codes(i, 64)
    assert c.shape == (69, 64)
    out = codes_to_indices(c)
    assert out.dtype == jnp.uint64
    np.testing.assert_array_equal(out, i)
    np.testing.assert_array_equal(c[3] > 0, np.r_[False, [True] * 63])  # 2^63 - 1
    np.testing.assert_array_equal(c[2] > 0, np.r_[True, [False] * 63])  # 2^63
    np.testing.assert_array_equal(c[4], np.full(64, 0.125))  # 2^64 - 1


def test_bits_round_trip_and_unit_norm():
    bits = np.random.default_rng(0).integers(0, 2, size=(4, 3, 17)).astype(np.float32)
    c = bits_to_codes(jnp.asarray(bits))
    np.testing.assert_array_equal(codes_to_bits(c), bits)
    np.testing.assert_allclose(jnp.linalg.norm(c, axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dim", [1, 5, 32])
def test_index_codes_unit_norm(dim):
    c = indices_to_codes(jnp.asarray(_indices(dim)), dim)
    np.testing.assert_allclose(jnp.linalg.norm(c, axis=-1), 1.0, rtol=1e-6)


def test_dim64_codes_from_bits_in_float32():
    bits = np.random.default_rng(1).integers(0, 2, size=(3, 64)).astype(bool)
    c = bits_to_codes(jnp.asarray(bits, jnp.float32))
    assert c.dtype == jnp.float32
    np.testing.assert_array_equal(c, np.where(bits, 0.125, -0.125))
    np.testing.assert_array_equal(jnp.sum(c * c, axis=-1), 1.0)
    np.testing.assert_array_equal(codes_to_bits(c), bits)


def test_signed_indices_wrap():
    ref = indices_to_codes(jnp.array(31, jnp.uint32), 5)
    np.testing.assert_array_equal(indices_to_codes(jnp.array(-1, jnp.int32), 5), ref)
    np.testing.assert_array_equal(indices_to_codes(jnp.array(63, jnp.int32), 5), ref)  # low bits


# --- errors ---


@pytest.mark.parametrize("dim", [0, -3, 65, 128])
def test_dim_out_of_range(dim):
    with pytest.raises(ValueError, match=r"\[1, 64\]"):
        indices_to_codes(jnp.array(1), dim)


@float32_only
@pytest.mark.parametrize("dim", [5.0, "5", None, True])
def test_non_int_dim(dim):
    with pytest.raises(TypeError, match="dim must be a Python int"):
        indices_to_codes(jnp.array(1), dim)


@pytest.mark.skipif(X64, reason="under jax_enable_x64 dim 33 is allowed")
def test_dim33_needs_x64():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        indices_to_codes(jnp.array(1), 33)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        codes_to_indices(jnp.ones((2, 64)))


def test_codes_to_indices_dim65():
    with pytest.raises(ValueError, match=r"\[1, 64\]"):
        codes_to_indices(jnp.ones(65))


@float32_only
def test_bad_inputs():
    with pytest.raises(TypeError, match="integers"):
        indices_to_codes(jnp.array([1.0]), 5)
    for f in (bits_to_codes, codes_to_indices):
        with pytest.raises(ValueError, match="non-empty last axis"):
            f(jnp.array(1.0))
        with pytest.raises(ValueError, match="non-empty last axis"):
            f(jnp.zeros((3, 0)))


# --- transformations ---


@float32_only
def test_jit_and_vmap_equal_eager():
    i = jnp.asarray(_indices(17, 14)).reshape(4, 4)
    c = indices_to_codes(i, 17)
    jit_codes = jax.jit(indices_to_codes, static_argnums=1)
    np.testing.assert_array_equal(jit_codes(i, 17), c)
    np.testing.assert_array_equal(jax.vmap(indices_to_codes, (0, None))(i, 17), c)
    np.testing.assert_array_equal(jax.jit(codes_to_indices)(c), i)
    np.testing.assert_array_equal(jax.vmap(codes_to_indices)(c), i)
    bits = codes_to_bits(c)
    np.testing.assert_array_equal(jax.jit(codes_to_bits)(c), bits)
    np.testing.assert_array_equal(jax.vmap(codes_to_bits)(c), bits)
    np.testing.assert_array_equal(jax.jit(bits_to_codes)(bits), c)
    np.testing.assert_array_equal(jax.vmap(jax.vmap(bits_to_codes))(bits), c)


@float32_only
def test_grad_is_linear():
    # c = (2b - 1)/√d, so ∂ Σ w c / ∂b = 2w/√d.
    w = jnp.array([[0.5, -1.0, 2.0, 3.0], [1.0, 0.0, -0.25, 4.0]])
    b = jnp.array([[0.0, 1.0, 1.0, 0.0], [0.3, 0.7, 1.0, 0.0]])  # soft (straight-through) bits
    g = jax.grad(lambda b: jnp.sum(w * bits_to_codes(b)))(b)
    np.testing.assert_allclose(g, 2 * w / np.sqrt(4), rtol=1e-6)
