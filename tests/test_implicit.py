"""The engine itself: a user-defined family, linearity, stability where q underflows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from cases import DTYPE, X64

import ml_networks_jax as mnj
from ml_networks_jax.distributions.base import Distribution, distribution, open_uniform, param
from ml_networks_jax.implicit import reparameterize


@distribution
class Rayleigh(Distribution):
    """Only a sampler, a CDF and a log density: the engine supplies the gradient."""

    scale: jax.Array = param()

    def _draw(self, key, shape):
        return self.scale * jnp.sqrt(-2.0 * jnp.log(open_uniform(key, shape, self.dtype)))

    def cdf(self, x):
        return -jnp.expm1(-0.5 * (x / self.scale) ** 2)

    def log_prob(self, x):
        return jnp.log(x) - 2.0 * jnp.log(self.scale) - 0.5 * (x / self.scale) ** 2


def test_user_family_gets_the_scale_gradient(key):
    scale = jnp.asarray(2.0, DTYPE)
    z, dz = jax.jvp(
        lambda s: mnj.rsample_implicit(key, Rayleigh(s), (100,)), (scale,), (jnp.ones_like(scale),)
    )
    np.testing.assert_allclose(dz, z / scale, rtol=1e-5)  # a scale family: dz/ds = z/s


def test_far_tail_draw_keeps_a_finite_gradient():
    """A normal draw 30σ out: q(z) underflows in float32, the ratio -(∂F/∂θ)/q does not."""
    z = jnp.asarray(-30.0 if not X64 else -60.0, DTYPE)
    g = jax.grad(lambda loc, scale: reparameterize(mnj.Normal(loc, scale), z), (0, 1))(
        jnp.asarray(0.0, DTYPE), jnp.asarray(1.0, DTYPE)
    )
    np.testing.assert_allclose(g, [1.0, float(z)], rtol=1e-5)


def test_tangent_of_z_itself_is_ignored_and_dtype_kept():
    z = jnp.asarray(1.5, DTYPE)
    out, dz = jax.jvp(
        lambda z: reparameterize(mnj.Exponential(jnp.asarray(2.0, DTYPE)), z),
        (z,),
        (jnp.ones_like(z),),
    )
    assert out == z and dz == 0 and dz.dtype == DTYPE


def test_bfloat16_parameters_are_accepted(key):
    d = mnj.Normal(jnp.asarray(0.0, jnp.bfloat16), jnp.asarray(1.0, jnp.bfloat16))
    z = mnj.rsample_implicit(key, d, (4,))
    assert z.dtype == jnp.bfloat16 and jnp.isfinite(z).all()
