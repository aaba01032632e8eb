"""Every library's reparameterized sampler of every family, behind one signature.

``make_grad(family, lib, dtype)`` returns ``f(params, seed) -> (z, g)``: one draw per parameter
set (``params`` a tuple of NumPy arrays of one shape, the first being the parameter the gradient is
taken in) and the vector-Jacobian product ``g = wᵀ dz/dθ`` for the cotangent ``w`` given to it
(ones: the elementwise pathwise gradient), computed by the library's own gradient machinery. JAX
entries are jitted; torch runs eager. ``f.grad`` is False for a library that can draw but not
differentiate its draw (``g`` is then None and ``f.note`` says why). ``make_grad`` returns None
when the library is not installed or lacks the family (or, for ml_networks_jax, the class).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LIBRARIES = ("ml_networks_jax", "tfp_jax", "numpyro", "distrax", "jax.random", "torch")


def installed(lib: str) -> bool:
    module = {"tfp_jax": "tensorflow_probability", "jax.random": "jax"}.get(lib, lib)
    return importlib.util.find_spec(module) is not None


def _module(lib: str):
    """The namespace a sampler below is written against."""
    if lib == "tfp_jax":
        from tensorflow_probability.substrates import jax as tfp

        return tfp.distributions
    return importlib.import_module(
        {
            "numpyro": "numpyro.distributions",
            "jax.random": "jax.random",
            "torch": "torch.distributions",
        }.get(lib, lib)
    )


@dataclass(frozen=True)
class Sampler:
    """``build(namespace)`` gives ``draw(key, *params) -> z`` (torch: ``draw(*params)``)."""

    build: Callable
    grad: bool = True
    note: str = ""
    path: str = ""  # set when the gradient is not the CDF (implicit) one, e.g. through two Gammas


def _draw_only(build: Callable, note: str) -> Sampler:
    return Sampler(build, grad=False, note=note)


_GAMMA_RATIO = (
    "reparameterizes Beta(a, b) as X/(X + Y), X ~ Γ(a), Y ~ Γ(b), and differentiates through X "
    "with Y held fixed: a valid, unbiased pathwise gradient, but not the CDF one the per-draw "
    "error is taken against, so that error measures the difference of two estimators"
)
_NORMAL_GAMMA = (
    "reparameterizes Student-t(ν) as N·√(ν / (2G)), G ~ Γ(ν/2), and differentiates through G with "
    "N held fixed: a valid, unbiased pathwise gradient, but not the CDF one the per-draw error is "
    "taken against, so that error measures the difference of two estimators"
)


def _tn_jax_random(R):
    def draw(key, loc, scale, low, high):
        return loc + scale * R.truncated_normal(key, (low - loc) / scale, (high - loc) / scale)

    return draw


# SAMPLERS[family][lib]; a library missing from a family's table lacks the family ("—").
# ml_networks_jax: mnj.rsample (explicit where a family has a location-scale form, implicit
# otherwise: the Normal's is loc + scale·ε); Gamma keeps rsample_implicit, as measured before this
# table existed.
SAMPLERS: dict[str, dict[str, Sampler]] = {
    "normal": {  # params (scale, loc): the gradient is taken in the scale
        "ml_networks_jax": Sampler(lambda M: lambda k, s, m: M.rsample(k, M.Normal(m, s))),
        "tfp_jax": Sampler(lambda D: lambda k, s, m: D.Normal(m, s).sample(seed=k)),
        "numpyro": Sampler(lambda D: lambda k, s, m: D.Normal(m, s).rsample(k)),
        "distrax": Sampler(lambda D: lambda k, s, m: D.Normal(m, s).sample(seed=k)),
        "jax.random": Sampler(lambda R: lambda k, s, m: m + s * R.normal(k, s.shape, s.dtype)),
        "torch": Sampler(lambda D: lambda s, m: D.Normal(m, s).rsample()),
    },
    "gamma": {
        "ml_networks_jax": Sampler(lambda M: lambda k, a: M.rsample_implicit(k, M.Gamma(a, 1.0))),
        "tfp_jax": Sampler(lambda D: lambda k, a: D.Gamma(a, 1.0).sample(seed=k)),
        "numpyro": Sampler(lambda D: lambda k, a: D.Gamma(a, 1.0).rsample(k)),
        "jax.random": Sampler(lambda R: lambda k, a: R.gamma(k, a)),
        "torch": Sampler(lambda D: lambda a: D.Gamma(a, a.new_ones(())).rsample()),
    },
    "beta": {
        "ml_networks_jax": Sampler(lambda M: lambda k, a, b: M.rsample(k, M.Beta(a, b))),
        "tfp_jax": Sampler(
            lambda D: lambda k, a, b: D.Beta(a, b).sample(seed=k), path=_GAMMA_RATIO
        ),
        "numpyro": Sampler(lambda D: lambda k, a, b: D.Beta(a, b).rsample(k), path=_GAMMA_RATIO),
        "distrax": Sampler(
            lambda D: lambda k, a, b: D.Beta(a, b).sample(seed=k), path=_GAMMA_RATIO
        ),
        "jax.random": Sampler(lambda R: lambda k, a, b: R.beta(k, a, b), path=_GAMMA_RATIO),
        "torch": Sampler(lambda D: lambda a, b: D.Beta(a, b).rsample()),
    },
    "dirichlet": {
        "ml_networks_jax": Sampler(lambda M: lambda k, c: M.rsample(k, M.Dirichlet(c))),
        "tfp_jax": Sampler(lambda D: lambda k, c: D.Dirichlet(c).sample(seed=k)),
        "numpyro": Sampler(lambda D: lambda k, c: D.Dirichlet(c).rsample(k)),
        "distrax": Sampler(lambda D: lambda k, c: D.Dirichlet(c).sample(seed=k)),
        "jax.random": Sampler(lambda R: lambda k, c: R.dirichlet(k, c)),
        "torch": Sampler(lambda D: lambda c: D.Dirichlet(c).rsample()),
    },
    "student_t": {
        "ml_networks_jax": Sampler(lambda M: lambda k, v, m, s: M.rsample(k, M.StudentT(v, m, s))),
        "tfp_jax": Sampler(
            lambda D: lambda k, v, m, s: D.StudentT(v, m, s).sample(seed=k), path=_NORMAL_GAMMA
        ),
        "numpyro": Sampler(
            lambda D: lambda k, v, m, s: D.StudentT(v, m, s).rsample(k), path=_NORMAL_GAMMA
        ),
        "jax.random": Sampler(lambda R: lambda k, v, m, s: m + s * R.t(k, v), path=_NORMAL_GAMMA),
        "torch": Sampler(
            lambda D: lambda v, m, s: D.StudentT(v, m, s).rsample(), path=_NORMAL_GAMMA
        ),
    },
    "von_mises": {
        "ml_networks_jax": Sampler(lambda M: lambda k, c, m: M.rsample(k, M.VonMises(m, c))),
        "tfp_jax": Sampler(lambda D: lambda k, c, m: D.VonMises(m, c).sample(seed=k)),
        "distrax": Sampler(lambda D: lambda k, c, m: D.VonMises(m, c).sample(seed=k)),
        "numpyro": _draw_only(
            lambda D: lambda k, c, m: D.VonMises(m, c).sample(k),
            "no κ gradient: rsample raises NotImplementedError (has_rsample is False) and "
            "reverse mode through its sampler's lax.while_loop raises",
        ),
        "torch": _draw_only(
            lambda D: lambda c, m: D.VonMises(m, c).sample(),
            "no κ gradient: VonMises.has_rsample is False (rsample raises NotImplementedError)",
        ),
    },
    "truncated_normal": {
        "ml_networks_jax": Sampler(
            lambda M: lambda k, m, s, lo, hi: M.rsample(k, M.TruncatedNormal(m, s, lo, hi))
        ),
        "tfp_jax": Sampler(
            lambda D: lambda k, m, s, lo, hi: D.TruncatedNormal(m, s, lo, hi).sample(seed=k)
        ),
        "numpyro": Sampler(
            lambda D: lambda k, m, s, lo, hi: D.TruncatedNormal(m, s, low=lo, high=hi).rsample(k)
        ),
        "jax.random": Sampler(_tn_jax_random),
    },
}

MNJ_CLASS = {
    "normal": "Normal",
    "gamma": "Gamma",
    "beta": "Beta",
    "dirichlet": "Dirichlet",
    "student_t": "StudentT",
    "von_mises": "VonMises",
    "truncated_normal": "TruncatedNormal",
}


def available(family: str, lib: str) -> str | None:
    """None when ``lib`` can be measured on ``family``, else the reason ("—" in the tables)."""
    if lib not in SAMPLERS[family]:
        return "no such family"
    if not installed(lib):
        return "not installed"
    if lib == "ml_networks_jax":
        try:
            mnj = _module(lib)
        except Exception as e:  # the package is being edited: report, do not stop the run
            return f"import failed ({type(e).__name__}: {e})"
        if not hasattr(mnj, MNJ_CLASS[family]):
            return f"no {MNJ_CLASS[family]} yet, so skipped"
    return None


def make_grad(family: str, lib: str, dtype: str = "float32"):
    """``f(params: tuple[np.ndarray, ...], seed: int, w=None) -> (z, wᵀdz/dθ or None)`` as NumPy
    arrays (``w`` defaults to ones), or ``None`` (see :func:`available`)."""
    if available(family, lib) is not None:
        return None
    spec = SAMPLERS[family][lib]
    draw = spec.build(_module(lib))
    if lib == "torch":
        f = _torch_grad(draw, spec.grad, dtype)
    else:
        f = _jax_grad(draw, spec.grad, dtype)
    f.grad, f.note = spec.grad, spec.note
    return f


def _torch_grad(draw, grad: bool, dtype: str):
    import torch

    tdtype = getattr(torch, dtype)

    def torch_grad(params, seed, w=None):
        torch.manual_seed(seed)
        theta = torch.tensor(params[0], dtype=tdtype, requires_grad=grad)
        rest = [torch.tensor(p, dtype=tdtype) for p in params[1:]]
        if not grad:
            with torch.no_grad():
                return draw(theta, *rest).numpy(), None
        z = draw(theta, *rest)
        w = torch.ones_like(z) if w is None else torch.as_tensor(w, dtype=tdtype)
        (g,) = torch.autograd.grad(z, theta, grad_outputs=w)
        return z.detach().numpy(), g.numpy()

    return torch_grad


def _jax_grad(draw, grad: bool, dtype: str):
    import jax
    import jax.numpy as jnp

    def sample_and_grad(params, key, w):
        if not grad:
            return draw(key, *params), None
        z, vjp = jax.vjp(lambda t: draw(key, t, *params[1:]), params[0])
        return z, vjp(w.astype(z.dtype))[0]

    jitted = jax.jit(sample_and_grad)

    def jax_grad(params, seed, w=None):
        params = tuple(jnp.asarray(p, dtype) for p in params)
        w = jnp.ones(params[0].shape, dtype) if w is None else jnp.asarray(w, dtype)
        z, g = jitted(params, jax.random.key(seed), w)
        return np.asarray(z), None if g is None else np.asarray(g)

    jax_grad.jitted = jitted
    jax_grad.traceable = sample_and_grad  # for compile-time measurement
    return jax_grad
