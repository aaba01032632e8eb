"""Debugging tools (test layer 8): valid input never trips ``jax_debug_nans``.

People hunting a NaN switch on ``jax_debug_nans``; a library that trips it on valid input sends
them on a false trail. Every family's ``sample``, ``rsample``, ``rsample_implicit``, ``log_prob``,
``cdf``, ``entropy``, ``mean`` and ``variance`` (those it has), their values and reverse-mode
gradients in every parameter, run with ``jax.debug_nans(True)`` (set only inside the test):

* op by op (``jax.disable_jit()``: every operation is checked, even one whose NaN a ``where``
  discards later, inside loops and inside the library's own jitted functions), and
* under ``jax.jit`` (only the outputs are checked: a jitted function that returns no NaN is not
  re-run, so this pass finds NaN results, not masked ones).

``log_prob`` and ``cdf`` are evaluated at draws and, for univariate families, one unit beyond the
finite ends of the support (the branches ``inside_support`` masks). The head is checked through
its draws (plain, relaxed, deterministic) and the density and entropy of its states.

Op by op, each operation dispatches and compiles on its own, so the special functions cost seconds
each: the reduced run (float32) checks every family, each special function and each masked code
path once (``REDUCED``) and jits the cheap families; ``MNJ_FULL=1`` checks every method of every
family both ways, adds forward mode, and runs in float64 too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import pytest
from cases import CASES, DTYPE, FULL, float32_only

import ml_networks_jax as mnj
from ml_networks_jax.distributions.base import Distribution

pytestmark = float32_only  # the masked branches are the same code in both precisions
KEY = jax.random.key(1)
DRAWS = 4  # per batch element


def _a(*v):
    return jnp.asarray(v, DTYPE)


def _lindley(theta):
    return mnj.Factorized(
        theta,
        lambda x, t: 1 - (1 + t * x / (t + 1)) * jnp.exp(-t * x),
        lambda x, t: 2 * jnp.log(t) - jnp.log1p(t) + jnp.log1p(x) - t * x,
        low=0.0,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Family:
    """A family built by ``make(**params)`` and the methods it is checked in."""

    name: str
    make: Callable[..., Distribution]
    params: dict
    methods: tuple[str, ...]

    def __repr__(self) -> str:
        return self.name


UNIVARIATE = ("sample", "rsample", "rsample_implicit", "log_prob", "cdf")
EVENT = ("sample", "rsample", "rsample_implicit", "log_prob")
MOMENTS = ("mean", "variance")


def _from_case(case) -> Family:
    """The case's family; the reduced run takes its first two parameter values (the third, large
    ones send the special functions into their deep continued fractions and asymptotic
    expansions, which take tens of seconds op by op)."""
    cls = type(case.dist())
    has_entropy = cls.entropy is not Distribution.entropy
    methods = UNIVARIATE + ("entropy",) * has_entropy + MOMENTS * case.moments
    n = 3 if FULL else 2
    return Family(case.name, case.make, {k: _a(*v[:n]) for k, v in case.params.items()}, methods)


FAMILIES = [_from_case(c) for c in CASES]
if not FULL:  # left out of the reduced table of cases.py; their special functions are checked
    FAMILIES += [
        Family(
            "TruncatedNormal",
            mnj.TruncatedNormal,
            {
                "loc": _a(-1.0, 0.5),
                "scale": _a(0.5, 2.0),
                "low": _a(-2.0, 4.0),
                "high": _a(1.0, 9.0),
            },
            UNIVARIATE + ("entropy",) + MOMENTS,
        ),
        Family(
            "VonMises",
            mnj.VonMises,
            {"loc": _a(0.0, 1.0), "concentration": _a(0.3, 8.0)},
            UNIVARIATE + ("entropy",),
        ),
    ]
FAMILIES += [
    Family(
        "Dirichlet",
        mnj.Dirichlet,
        {"concentration": _a(0.5, 2.0, 7.0)},
        EVENT + ("entropy",) + MOMENTS,
    ),
    Family(
        "MultivariateNormal",
        mnj.MultivariateNormal,
        {"loc": _a(0.0, 1.0), "scale_tril": _a([1.0, 0.0], [0.5, 2.0])},
        EVENT + ("entropy",) + MOMENTS,
    ),
    Family(  # the mixture of issue 22
        "Mixture(Normal, Gamma)",
        lambda logits, loc, a: mnj.Mixture(logits, (mnj.Normal(loc, 1.0), mnj.Gamma(a, 1.0))),
        {"logits": _a(0.2, -0.3), "loc": _a(0.5), "a": _a(2.0)},
        UNIVARIATE + MOMENTS,
    ),
    Family(
        "Mixture(Normal, Gamma, Beta)",
        lambda logits, loc, a, b: mnj.Mixture(
            logits, (mnj.Normal(loc, 0.5), mnj.Gamma(a, 1.0), mnj.Beta(b, 5.0))
        ),
        {"logits": _a(0.2, -0.3, 0.1), "loc": _a(-1.0), "a": _a(0.5), "b": _a(2.0)},
        UNIVARIATE + MOMENTS,
    ),
    Family(
        "MixtureSameFamily(Normal)",
        lambda logits, loc, scale: mnj.MixtureSameFamily(logits, mnj.Normal(loc, scale)),
        {"logits": _a(0.3, -0.5, 0.1), "loc": _a(-2.0, 0.5, 3.0), "scale": _a(0.7, 1.5, 0.4)},
        UNIVARIATE + MOMENTS,
    ),
    Family(
        "MixtureSameFamily(Independent(Gamma))",
        lambda logits, a: mnj.MixtureSameFamily(logits, mnj.Independent(mnj.Gamma(a, 1.0), 1)),
        {"logits": _a(0.3, -0.5), "a": _a([0.5, 1.0, 2.0], [1.0, 3.0, 0.7])},
        EVENT + MOMENTS,
    ),
    Family(
        "MixtureSameFamily(MultivariateNormal)",
        lambda logits, loc, tril: mnj.MixtureSameFamily(logits, mnj.MultivariateNormal(loc, tril)),
        {
            "logits": _a(0.3, -0.5),
            "loc": _a([0.0, 1.0], [1.0, -1.0]),
            "tril": _a([[1.0, 0.0], [0.5, 2.0]], [[0.7, 0.0], [-0.3, 1.0]]),
        },
        EVENT + MOMENTS,
    ),
    Family("Factorized(Lindley)", _lindley, {"theta": _a(0.5, 2.0)}, UNIVARIATE),
    Family(
        "ExpGamma",
        mnj.ExpGamma,
        {"concentration": _a(0.2, 1.0, 30.0), "rate": _a(0.5, 1.0, 3.0)},
        UNIVARIATE + MOMENTS,
    ),
    Family(
        "LogitBeta",
        mnj.LogitBeta,
        {"concentration1": _a(0.5, 2.0, 30.0), "concentration0": _a(0.7, 3.0, 10.0)},
        UNIVARIATE + MOMENTS,
    ),
    Family(
        "OneHotCategorical",
        lambda logits: mnj.OneHotCategorical(logits=logits),
        {"logits": _a([0.1, -1.0, 2.0], [0.0, 0.0, 0.0])},
        ("sample", "rsample", "log_prob", "entropy") + MOMENTS,
    ),
    Family(
        "Bernoulli",
        lambda logits: mnj.Bernoulli(logits=logits),
        {"logits": _a(0.1, -1.0, 2.0)},
        ("sample", "rsample", "log_prob", "entropy") + MOMENTS,
    ),
    Family(
        "Independent(Normal)",
        lambda loc, scale: mnj.Independent(mnj.Normal(loc, scale), 1),
        {"loc": _a(-1.0, 0.5, 3.0), "scale": _a(0.1, 1.0, 4.0)},
        EVENT + ("entropy",) + MOMENTS,
    ),
]

#: The methods the reduced run checks op by op where a family's code is expensive that way (the
#: other families: every method but ``sample`` and ``rsample`` where ``rsample_implicit`` runs the
#: same sampler and ``rsample`` is ``rsample_implicit``). Each special function and each masked
#: code path is among them once: the mixture of issue 22 (its implicit rule, the component limits
#: of ``inside_support`` and the Gamma functions: series, continued fraction, Temme), the
#: incomplete beta (Beta), the normal tails (TruncatedNormal), the von Mises CDF, the Gamma and
#: Factorized samplers.
REDUCED = {
    "Gamma": ("cdf", "entropy"),
    "Beta": ("cdf",),
    "StudentT": ("log_prob", "entropy") + MOMENTS,
    "TruncatedNormal": ("cdf",),
    "VonMises": ("log_prob", "cdf"),
    "Mixture(Normal, Gamma)": ("rsample_implicit", "log_prob", "cdf") + MOMENTS,
    "Mixture(Normal, Gamma, Beta)": (),
    "MixtureSameFamily(Independent(Gamma))": (),
    "MixtureSameFamily(MultivariateNormal)": (),
    "MixtureSameFamily(Normal)": ("cdf",),
    "ExpGamma": MOMENTS,
    "LogitBeta": MOMENTS,
    "Dirichlet": ("entropy",) + MOMENTS,
    "OneHotCategorical": ("log_prob", "entropy"),
}
#: The families jitted in the reduced run (one compilation each, about a second).
JIT_REDUCED = ("Normal", "Uniform", "MultivariateNormal", "OneHotCategorical")


def _reduced(family: Family, method: str) -> bool:
    if family.name in REDUCED:
        return method in REDUCED[family.name]
    if method == "sample":
        return "rsample_implicit" not in family.methods
    if method == "rsample":
        return hasattr(family.make(**family.params), "_explicit")
    return True


@functools.cache
def _points(family: Family) -> jax.Array:
    """Where ``log_prob`` and ``cdf`` are evaluated: draws of an event family; for a univariate
    family a grid across its support, tails included (``rsample_implicit`` evaluates both at
    draws already), and one unit beyond each finite end."""
    d = family.make(**family.params)
    if d.event_ndims:
        with jax.disable_jit():  # (op by op: no sampler to compile)
            return d.sample(KEY, (DRAWS,))
    low, high = d.support()
    u = jnp.asarray([0.02, 0.3, 0.5, 0.7, 0.98], DTYPE).reshape((5,) + (1,) * low.ndim)
    odds = u / (1.0 - u)  # 0.02 ... 49 from a finite end
    grid = jnp.where(
        jnp.isfinite(low) & jnp.isfinite(high),
        low + (high - low) * u,
        jnp.where(
            jnp.isfinite(low),
            low + odds,
            jnp.where(jnp.isfinite(high), high - odds, 2.0 * jnp.log(odds)),
        ),
    )
    beyond = jnp.stack([low - 1.0, high + 1.0])
    return jnp.concatenate([grid, jnp.where(jnp.isfinite(beyond), beyond, grid[2])])


def _loss(family: Family, method: str) -> Callable:
    """``params -> Σ method`` (of draws, at :func:`_points`, or of the distribution itself)."""
    x = _points(family) if method in ("log_prob", "cdf") else None

    def loss(params):
        d = family.make(**params)
        if method in ("sample", "rsample", "rsample_implicit"):
            out = getattr(d, method)(KEY, (DRAWS,))
        elif x is not None:
            out = getattr(d, method)(x)
        else:
            out = getattr(d, method)()
        return jnp.sum(out)

    return loss


def _check_op_by_op(loss: Callable, params) -> None:
    """The value and the gradients of ``loss``, op by op, every operation checked for NaN."""
    with jax.debug_nans(True), jax.disable_jit():
        outputs = [loss(params), jax.grad(loss)(params)]
        if FULL:
            outputs.append(jax.jvp(loss, (params,), (jax.tree.map(jnp.ones_like, params),)))
    _assert_no_nan(outputs)


def _assert_no_nan(tree) -> None:
    """Besides debug_nans not raising: no NaN in what was returned."""
    for leaf in jax.tree.leaves(tree):
        assert not jnp.any(jnp.isnan(leaf)), leaf


@pytest.mark.parametrize(
    "family, method",
    [
        pytest.param(f, m, id=f"{f.name}-{m}")
        for f in FAMILIES
        for m in f.methods
        if FULL or _reduced(f, m)
    ],
)
def test_op_by_op_no_nan(family, method):
    _check_op_by_op(_loss(family, method), family.params)


@pytest.mark.parametrize("family", [f for f in FAMILIES if FULL or f.name in JIT_REDUCED], ids=repr)
def test_jit_no_nan(family):
    """One program per family: every method's value and gradient."""
    losses = {m: _loss(family, m) for m in family.methods}
    with jax.debug_nans(True):
        out = jax.jit(lambda p: {m: jax.value_and_grad(f)(p) for m, f in losses.items()})(
            family.params
        )
    _assert_no_nan(out)


# ---- the head ----------------------------------------------------------------------------------

#: ``(dist, features, n_groups)`` of each head family.
HEADS = [
    ("normal", 8, 1),
    ("gamma", 8, 1),
    ("beta", 8, 1),
    ("von_mises", 8, 1),
    ("student_t", 12, 1),
    ("dirichlet", 12, 2),
    ("categorical", 8, 2),
    ("bernoulli", 8, 2),
]
#: The reduced run: the deterministic and relaxed draws (the plain draws and the densities are
#: the families' own, checked above).
HEAD_REDUCED = ("deterministic", "relaxed")


def _head_cases():
    for dist, features, n_groups in HEADS:
        kinds = ("draw", "deterministic", "density")
        kinds += ("relaxed",) * (dist in ("categorical", "bernoulli"))
        for kind in kinds:
            if FULL or kind in HEAD_REDUCED:
                yield pytest.param(dist, features, n_groups, kind, id=f"{dist}-{kind}")


def _head_loss(dist: str, n_groups: int, kind: str, z: jax.Array | None) -> Callable:
    """``x -> Σ`` of the head's draw (``kind``: "draw", "relaxed" or "deterministic"), or of the
    log density at ``z`` and the entropy of its state ("density")."""

    def loss(x):
        if kind == "density":
            state = mnj.head(x, None, dist, n_groups=n_groups, deterministic=True)
            return jnp.sum(state.log_prob(z)) + jnp.sum(state.entropy())
        options = {
            "draw": {},
            "relaxed": {"relaxed": 0.5},
            "deterministic": {"deterministic": True},
        }
        return jnp.sum(mnj.head(x, KEY, dist, n_groups=n_groups, **options[kind]).stoch)

    return loss


@pytest.mark.parametrize("dist, features, n_groups, kind", list(_head_cases()))
def test_head_op_by_op_no_nan(dist, features, n_groups, kind):
    x = jax.random.normal(jax.random.key(3), (2, features), DTYPE)
    z = mnj.head(x, KEY, dist, n_groups=n_groups).stoch if kind == "density" else None
    _check_op_by_op(_head_loss(dist, n_groups, kind, z), x)
