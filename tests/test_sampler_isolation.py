"""The samplers with a retry path (rejection or root finding) treat every element on its own.

An element's draw depends only on the key, its position and its own parameters: invalid elements
(NaN, ``<= 0``, ``+inf``) come out NaN and leave the other elements' draws bit-identical, also
across the blocks of a long batch; and valid input never trips ``jax_debug_nans``, jitted,
eager, or with ``jax.disable_jit()`` (rejected candidates are tracked by a mask, not a NaN).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, float32_only
from conftest import FULL

import ml_networks_jax as mnj
from ml_networks_jax._indices import BLOCK, stream_uniforms, threefry2x32
from ml_networks_jax.distributions import gamma, von_mises


def lindley(theta):
    """A Factorized family without a sampler: draws invert its CDF (a root-finding loop)."""
    return mnj.Factorized(
        theta,
        cdf_fn=lambda x, t: 1 - (1 + t * x / (t + 1)) * jnp.exp(-t * x),
        log_prob_fn=lambda x, t: 2 * jnp.log(t) - jnp.log1p(t) + jnp.log1p(x) - t * x,
        low=0.0,
    )


#: Each family from one parameter array ``c`` of shape (rows,), the others fixed and valid. In
#: CI: the three samplers (Gamma, VonMises, Factorized's inversion) and Dirichlet (the gamma
#: sampler under a row of three); MNJ_FULL=1 adds every other family on the gamma sampler.
FAMILIES = {
    "Gamma": lambda c: mnj.Gamma(c, 2.0),
    "Dirichlet": lambda c: mnj.Dirichlet(
        jnp.stack([c, jnp.ones_like(c), 3 * jnp.ones_like(c)], -1)
    ),
    "VonMises": lambda c: mnj.VonMises(0.3, 1e3 * c),  # κ ~ 1e3: about a third rejected
    "Factorized": lindley,
}
WRAPPERS = {
    "Chi2": lambda c: mnj.Chi2(2.0 * c),
    "ExpGamma": lambda c: mnj.ExpGamma(c, 2.0),
    "InverseGamma": lambda c: mnj.InverseGamma(c, 2.0),
    "Beta": lambda c: mnj.Beta(c, 0.5),
    "LogitBeta": lambda c: mnj.LogitBeta(0.5, c),
    "StudentT": lambda c: mnj.StudentT(2.0 * c, 0.5, 3.0),
    "FisherSnedecor": lambda c: mnj.FisherSnedecor(c, 3.0),
}
ALL = {**FAMILIES, **WRAPPERS}
family_cases = pytest.mark.parametrize(
    "name",
    [
        *FAMILIES,
        *(
            pytest.param(n, marks=pytest.mark.skipif(not FULL, reason="MNJ_FULL=1"))
            for n in WRAPPERS
        ),
    ],
)

#: Rows of valid parameters (α = 1: the gamma sampler's highest rejection rate); the same batch
#: with four rows made invalid, the first one first (its elements precede every other element in
#: each block, the way they would crowd a retry buffer); and with those rows valid but different.
VALID = np.array([1.0, 0.3, 1.0, 1.0, 5.0, 1.0, 0.05, 2.0])
ROWS = [0, 3, 5, 7]
INVALID = VALID.copy()
INVALID[ROWS] = [np.nan, 0.0, -1.0, np.inf]
OTHER = VALID.copy()
OTHER[ROWS] = [0.7, 3.0, 0.2, 1.5]
#: Just over one block: Gamma draws in two blocks of 33,792 elements (Dirichlet, Beta: more).
SAMPLE_SHAPE = (BLOCK // len(VALID) + 8,)


@float32_only
@family_cases
def test_other_rows_never_change_a_rows_draws(name, key):
    """Rows 0, 3, 5, 7 turned NaN, 0, -1, +inf (Factorized: NaN) come out NaN, and every other
    row's draws are bit-identical to those of the all-valid batch (same shape, same key, one
    compilation), across the blocks; so are they with other valid values in rows 0, 3, 5, 7: a
    draw depends on its own parameters only. The all-valid draw runs under ``jax_debug_nans``."""
    make = ALL[name]
    invalid = INVALID.copy()
    if name == "Factorized":  # a user's family: only NaN is invalid by definition
        invalid[ROWS] = np.nan
    draw = jax.jit(lambda c: make(c).sample(key, SAMPLE_SHAPE))
    with jax.debug_nans(True):
        want = np.asarray(draw(jnp.asarray(VALID, DTYPE)))
    got, other = (np.asarray(draw(jnp.asarray(c, DTYPE))) for c in (invalid, OTHER))
    want, got, other = (v.reshape(*SAMPLE_SHAPE, len(VALID), -1) for v in (want, got, other))
    kept = np.setdiff1d(np.arange(len(VALID)), ROWS)
    np.testing.assert_array_equal(got[:, kept], want[:, kept])
    np.testing.assert_array_equal(other[:, kept], want[:, kept])
    assert (other[:, ROWS] != want[:, ROWS]).mean() > 0.99
    assert not np.isnan(want).any()  # (StudentT with ν = 0.1 overflows to ±inf, validly)
    assert np.isnan(got[:, ROWS]).all()


@float32_only
def test_buffer_crowding_never_changes_a_draw(key, monkeypatch):
    """Retry buffers shrunk so that rejected elements wait for later rounds: every even element's
    draw (α = 1, κ = 1e3) is the same whether the odd ones are valid (more waiting) or invalid
    (none of them in the buffers), as each element counts its own tries."""
    monkeypatch.setattr(gamma, "_retry_buffer", lambda size: 4)
    monkeypatch.setattr(von_mises, "_LOOP", (0.0, 8, 8))  # the nested buffer: 64 slots
    for sampler, c, n in (
        (gamma._log_standard_gamma_flat, 1.0, 256),
        (von_mises._von_mises_standard_1d.__wrapped__, 1e3, 4096),
    ):
        draw = jax.jit(sampler)  # traced afresh, with the smaller buffers
        valid = jnp.full((n,), c, DTYPE)
        want, got = (np.asarray(draw(key, v)) for v in (valid, valid.at[1::2].set(np.nan)))
        assert np.isfinite(want).all()
        np.testing.assert_array_equal(got[::2], want[::2])


@float32_only
def test_padding_to_a_bucketed_length_never_changes_a_draw(key):
    """The samplers pad their input to a bucketed length (5 -> 8, 9 -> 16 here) so that similar
    sizes share a compilation: the first elements' draws are the same at either length, and a
    2-D input's draws are those of its flattening."""
    params = jnp.asarray([0.3, 1.0, 2.5, 7.0, 40.0, 0.8, 3.0, 12.0, 0.05], DTYPE)
    for sampler in (gamma.log_standard_gamma, von_mises.von_mises_standard):
        short, long = (np.asarray(sampler(key, params[:n])) for n in (5, 9))
        np.testing.assert_array_equal(short, long[:5])
        square = np.asarray(sampler(key, params[:8].reshape(2, 4)))
        np.testing.assert_array_equal(square.ravel(), np.asarray(sampler(key, params[:8])))


@float32_only
def test_threefry_matches_the_random123_known_answers():
    """The known-answer vectors of Threefry-2x32 with 20 rounds (Random123's kat_vectors)."""
    u32 = np.uint32
    for key, counter, want in (
        ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
        ((2**32 - 1, 2**32 - 1), (2**32 - 1, 2**32 - 1), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ):
        got = threefry2x32(tuple(u32(k) for k in key), *(u32(c) for c in counter))
        assert tuple(int(w) for w in got) == want


def test_streams_are_independent_of_the_other_streams_requested():
    """A stream's variates are the same whatever other streams are drawn beside it; they lie in
    [0, 1) with all the mantissa bits of the dtype (float64: 52, not 23)."""
    key = jax.random.key(3)
    u = np.asarray(stream_uniforms(key, jnp.arange(4096), 5, DTYPE))
    v = np.asarray(stream_uniforms(key, jnp.array([9, 4000, 17]), 5, DTYPE))
    np.testing.assert_array_equal(v, u[:, [9, 4000, 17]])
    assert u.dtype == DTYPE and (u >= 0).all() and (u < 1).all()
    mantissa = np.finfo(DTYPE).nmant
    assert (np.modf(u * 2.0 ** (mantissa - 1))[0] != 0).any()  # the last bit is used
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)


def counting(fn, name, calls):
    """``fn`` that counts its calls in ``calls[name]``."""

    def counted(*args):
        calls[name] = calls.get(name, 0) + 1
        return fn(*args)

    return counted


@float32_only
def test_valid_parameters_never_trip_debug_nans_eagerly_or_without_jit(key, monkeypatch):
    """Eagerly, the families' own code runs op by op around the jitted samplers (in CI the four
    of FAMILIES, MNJ_FULL=1 all); under ``jax.disable_jit()`` the samplers' loops run op by op
    too, small: the candidate functions are counted to show that every retry stage ran."""
    c = jnp.asarray([1.0, 0.3, 2.0], DTYPE)
    calls = {}
    for module, name in ((gamma, "_marsaglia_tsang"), (von_mises, "_candidates")):
        monkeypatch.setattr(module, name, counting(getattr(module, name), name, calls))
    with jax.debug_nans(True):
        for make in (ALL if FULL else FAMILIES).values():
            assert not np.isnan(make(c).sample(key, (64,))).any()
        calls.clear()
        with jax.disable_jit():
            # α = 1 and κ = 1e3 reject about 5% and 34% of first candidates
            assert np.isfinite(gamma.log_standard_gamma(key, jnp.ones((64,), DTYPE))).all()
            assert np.isfinite(von_mises.von_mises_standard(key, jnp.full((64,), 1e3, DTYPE))).all()
            assert np.isfinite(lindley(c).sample(key, (2,))).all()
    assert calls["_marsaglia_tsang"] >= 2 and calls["_candidates"] >= 3  # first, buffer, loop
