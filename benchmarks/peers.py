"""Reparameterized Gamma samplers of every library, behind one signature.

``make_gamma_grad(lib, dtype)`` returns ``f(alpha, seed) -> (z, dz/dalpha)`` for a vector of
shapes (one draw per element, unit rate): the sample and the elementwise pathwise gradient of that
sample, computed by the library's own gradient machinery. JAX entries are jitted; torch runs eager.
``None`` when the library is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np

LIBRARIES = ("ml_networks_jax", "tfp_jax", "numpyro", "jax.random", "torch")


def installed(lib: str) -> bool:
    module = {"tfp_jax": "tensorflow_probability", "jax.random": "jax"}.get(lib, lib)
    return importlib.util.find_spec(module) is not None


def _jax_sampler(lib: str):
    import jax

    if lib == "ml_networks_jax":
        import ml_networks_jax as mnj

        return lambda key, a: mnj.rsample_implicit(key, mnj.Gamma(a, 1.0))
    if lib == "tfp_jax":
        from tensorflow_probability.substrates import jax as tfp

        return lambda key, a: tfp.distributions.Gamma(a, 1.0).sample(seed=key)
    if lib == "numpyro":
        import numpyro.distributions as nd

        return lambda key, a: nd.Gamma(a, 1.0).rsample(key)
    if lib == "jax.random":
        return lambda key, a: jax.random.gamma(key, a)
    raise ValueError(lib)


def make_gamma_grad(lib: str, dtype: str = "float32"):
    """``f(alpha: np.ndarray, seed: int) -> (z, dz/dalpha)`` as NumPy arrays, or ``None``."""
    if not installed(lib):
        return None
    if lib == "torch":
        import torch

        tdtype = getattr(torch, dtype)

        def torch_grad(alpha, seed):
            torch.manual_seed(seed)
            a = torch.tensor(alpha, dtype=tdtype, requires_grad=True)
            z = torch.distributions.Gamma(a, torch.ones((), dtype=tdtype)).rsample()
            (grad,) = torch.autograd.grad(z.sum(), a)
            return z.detach().numpy(), grad.numpy()

        return torch_grad

    import jax
    import jax.numpy as jnp

    sampler = _jax_sampler(lib)

    def sample_and_grad(a, key):
        z, vjp = jax.vjp(lambda a: sampler(key, a), a)
        return z, vjp(jnp.ones_like(z))[0]

    grad_fn = jax.jit(sample_and_grad)

    def jax_grad(alpha, seed):
        z, g = grad_fn(jnp.asarray(alpha, dtype), jax.random.key(seed))
        return np.asarray(z), np.asarray(g)

    jax_grad.jitted = grad_fn
    jax_grad.traceable = sample_and_grad  # for compile-time measurement
    return jax_grad
