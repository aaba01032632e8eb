"""StudentT beyond the generic layers: the implicit gradient in df over a wide grid (heavy tails
to nearly normal), in both tails, and at the centre."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from cases import DTYPE, X64, float32_only
from scipy import stats

import ml_networks_jax as mnj
from ml_networks_jax.implicit import reparameterize

# dz/dν = ½ σ y (½ h_a + 1/ν) cancels like 1/ν: float32 keeps 1e-6 relative up to ν = 30
# (measured 9.1e-7), but only 1.6e-4 at ν = 1e3 and 1.4e-3 at ν = 1e4 (module doc).
DF = np.array([0.3, 1.0, 3.0, 30.0, 1e3]) if X64 else np.array([0.3, 1.0, 3.0, 10.0, 30.0])
QUANTILES = np.array([1e-4, 0.02, 0.3, 0.7, 0.98, 1 - 1e-4])


def _oracle(df, y):
    """``dy/dν = -(∂F/∂ν)/q(y)`` by central differences of scipy's smaller tail, float64."""
    h = 1e-5 * df
    upper = y > 0
    tail = lambda v: np.where(upper, -stats.t.sf(y, v), stats.t.cdf(y, v))  # noqa: E731
    return -(tail(df + h) - tail(df - h)) / (2 * h) / stats.t.pdf(y, df)


def test_df_gradient_matches_oracle_over_grid():
    df = np.repeat(DF, len(QUANTILES))
    y = stats.t.ppf(np.tile(QUANTILES, len(DF)), df).astype(DTYPE)
    want = _oracle(df, y.astype(np.float64))

    @jax.jit
    def grad(df, y):
        one = jnp.ones((), DTYPE)
        f = lambda df, y: reparameterize(mnj.StudentT(df, 0 * one, one), y)  # noqa: E731
        return jax.vmap(jax.grad(f))(df, y)

    got = grad(jnp.asarray(df, DTYPE), jnp.asarray(y))
    np.testing.assert_allclose(got, want, rtol=1e-7 if X64 else 5e-6, atol=1e-12)


@float32_only
def test_gradient_vanishes_at_the_centre_and_scales_with_scale():
    def dz(df, z, scale):
        return jax.grad(lambda v: reparameterize(mnj.StudentT(v, 0.0, scale), z))(df)

    df = jnp.asarray(3.0, DTYPE)
    assert float(dz(df, jnp.asarray(0.0, DTYPE), jnp.asarray(1.0, DTYPE))) == 0.0
    one = dz(df, jnp.asarray(1.5, DTYPE), jnp.asarray(1.0, DTYPE))
    two = dz(df, jnp.asarray(3.0, DTYPE), jnp.asarray(2.0, DTYPE))
    np.testing.assert_allclose(two, 2 * one, rtol=1e-5)


def test_heavy_and_light_tails_give_finite_draws_and_gradients(key):
    """Per-draw gradients (a sum of draws with df = 0.3 may overflow with mixed signs)."""

    @jax.jit
    def draws(df):
        loc, scale = jnp.zeros((), DTYPE), jnp.ones((), DTYPE)
        draw = lambda v: mnj.rsample(key, mnj.StudentT(v, loc, scale), (512,))  # noqa: E731
        z, dz = jax.jvp(draw, (df,), (jnp.ones_like(df),))
        return z, dz, mnj.StudentT(df, loc, scale).log_prob(z)

    for df in (0.3, 1e4):
        z, dz, lp = draws(jnp.asarray(df, DTYPE))
        assert bool(jnp.isfinite(z).all() & jnp.isfinite(dz).all() & jnp.isfinite(lp).all()), df
