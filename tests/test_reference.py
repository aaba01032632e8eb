"""Every family's values against mpmath over wide parameter ranges (DESIGN.md, layer 7).

The references (``tests/data/reference.npz``) are mpmath values at 50 digits at the exact binary
inputs, made by ``tests/data/make_reference.py``, which documents the grids (shapes 1e-3 to 1e4,
scales 1e-3 to 1e3, locations ±1e3, truncation intervals far out and tiny; points from quantile
level 1e-300 to 1/2 on either side) and lists where scipy.stats disagrees with mpmath. Each family
is evaluated in ONE jitted call over its whole grid: log density, CDF, log CDF, log survival
function, quantile (where the family has one), mean, variance and entropy.

Errors. Log quantities ``g`` (log density, log CDF, log survival) are compared absolutely, which
is the relative error of the density or probability itself, and relative to ``|g|`` where
``|g| > 1`` (far tails); the CDF relative to itself; the quantile relative to ``|x| + w``, ``w``
the width ``T/q`` of the tail ``T = min(F, S)`` at ``x``; the mean relative to ``|m| + sd``, the
variance relative, the entropy like a log quantity. ``cond`` is the condition number stored in the
fixture: the change of the compared quantity under relative perturbations of size 1 of every
input, which rounding any input or intermediate by ``eps`` already costs ``eps · cond``.

Tolerances: float64, ``1e-9`` in the bulk, ``1e-6`` in the far tails (smaller tail below 1e-6) and
for moments (the issue's targets), plus ``K eps cond`` where the condition number alone exceeds
them; float32, ``K eps (1 + cond)`` with ``K`` in ``K32`` below. ``MNJ_FULL=1`` runs every row of
the grid, CI the rows flagged reduced.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FULL

import ml_networks_jax as mnj

X64 = bool(jax.config.jax_enable_x64)
DTYPE = np.float64 if X64 else np.float32
EPS, TINY = float(np.finfo(DTYPE).eps), float(np.finfo(DTYPE).tiny)
DATA = dict(np.load(os.path.join(os.path.dirname(__file__), "data", "reference.npz")))
COLUMNS = ("x", "lp", "cond_lp", "logF", "logS", "cond_F", "cond_S", "tail")

#: float64 targets.
BULK, TAIL, MOMENTS = 1e-9, 1e-6, 1e-6
FAR_TAIL = 1e-6  # points whose smaller tail is below this are in the far tails
#: Multiples of eps (times 1 + cond) allowed; measured maxima in the comments.
K32 = dict(lp=20.0, cdf=20.0, icdf=20.0, moments=20.0)
K64 = 20.0

SCALAR = ["Normal", "Laplace", "Logistic", "Gumbel", "Cauchy", "Uniform", "Exponential",
          "HalfNormal", "LogNormal", "Weibull", "Kumaraswamy", "Gamma", "Chi2", "InverseGamma",
          "Beta", "StudentT", "FisherSnedecor", "VonMises", "TruncatedNormal"]  # fmt: skip
VECTOR = ["Dirichlet", "MultivariateNormal", "Bernoulli"]


def _rows(name):
    """Row selection: the reduced grid in CI, every row under MNJ_FULL=1; float32 needs float32
    parameters."""
    rows = DATA[f"{name}.row_f32"] | X64
    return rows if FULL else rows & DATA[f"{name}.row_reduced"]


def _family(name, params):
    """The family at the grid's parameters, each of shape ``(rows, 1)`` (or with event dims)."""
    return getattr(mnj, name)(**{k: jnp.asarray(v, DTYPE) for k, v in params.items()})


def _has_icdf(dist) -> bool:
    try:
        jax.eval_shape(dist.icdf, jnp.zeros(dist.batch_shape, DTYPE))
    except NotImplementedError:
        return False
    return True


@functools.partial(jax.jit, static_argnames=("name", "icdf"))
def _scalar_values(name, params, x, p, icdf):
    d = _family(name, params)
    out = dict(
        lp=d.log_prob(x),
        cdf=d.cdf(x),
        logF=d.log_cdf(x),
        logS=d.log_survival(x),
        mean=d.mean(),
        var=d.variance(),
        ent=d.entropy(),
    )
    if icdf:
        out["icdf"] = d.icdf(p)
    return out


def _check(failures, what, err, bound, mask, where):
    """Record a failure unless ``err <= bound`` wherever ``mask``, naming the worst points."""
    bad = ~(err <= bound) & mask
    if np.any(bad):
        ratio = np.where(bad, np.nan_to_num(err / bound, nan=np.inf), 0.0)
        order = np.argsort(-ratio, axis=None)[: min(3, int(bad.sum()))]
        worst = [(where(np.unravel_index(i, err.shape)), float(err.flat[i])) for i in order]
        failures.append(f"{what}: {int(bad.sum())} of {int(mask.sum())} fail; worst {worst}")


def _match_nonfinite(failures, what, got, want, where):
    """Where the reference is infinite or undefined the library must give exactly that; returns
    where it is finite."""
    special = ~np.isfinite(want)
    bad = special & ~((got == want) | (np.isnan(got) & np.isnan(want)))
    for i in np.flatnonzero(bad)[:3]:
        failures.append(f"{what}: {got[i]} instead of {want[i]} at {where((i,))}")
    return ~special


def _bound(tail_level, k, cond, moments=False):
    if X64:
        rtol = MOMENTS if moments else np.where(tail_level < FAR_TAIL, TAIL, BULK)
        return rtol + K64 * EPS * cond
    return k * EPS * (1.0 + cond)


def _check_moments(failures, name, got, ref, where):
    """Mean relative to ``|m| + sd``, variance relative, entropy like a log quantity; references
    rounded to the dtype (overflow: inf), an absolute floor ``tiny/eps`` below the normal range
    (results there may be flushed to 0); infinite and undefined moments exactly."""
    mean, var, ent = ref["mean"], ref["var"], ref["ent"]
    sd = np.sqrt(np.where(np.isfinite(var), var, 0.0))
    for what, scale in (("mean", np.abs(mean) + sd), ("var", np.abs(var)),
                        ("ent", np.maximum(1.0, np.abs(ent)))):  # fmt: skip
        want = ref[what].astype(DTYPE).astype(np.float64)
        finite = _match_nonfinite(failures, f"{name}.{what}", got[what], want, where)
        scale = np.where(finite, np.maximum(scale, TINY / EPS), 1.0)
        err = np.abs(got[what] - want) / scale
        bound = _bound(0.0, K32["moments"], ref["d" + what] / scale, True)
        _check(failures, f"{name}.{what}", err, bound, finite, where)


# A known defect, kept visible: the float32 incomplete beta loses accuracy in the corner a << 1,
# b >> 1 near x = 0 (Beta.log_survival at a = 1e-3, b = 1e4, x = 9.5e-14: 5.6e-6 relative). The
# mark is strict: the day the corner is fixed, this test passes and the mark must go.
_KNOWN = {("Beta", False): "float32 incomplete beta, corner a << 1, b >> 1 near x = 0"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=_KNOWN[n, X64], strict=True))
        if (n, X64) in _KNOWN
        else n
        for n in SCALAR
    ],
)
@np.errstate(all="ignore")  # infinite and zero references are compared through inf and 0
def test_scalar_family_matches_mpmath(name):
    failures = []
    rows = _rows(name)
    param_names = [str(v) for v in DATA[f"{name}.names"]]
    theta = DATA[f"{name}.params"][rows]
    table = DATA[f"{name}.points"][rows]
    ref = {c: table[..., i] for i, c in enumerate(COLUMNS)}
    mask = np.isfinite(ref["x"]) & (DATA[f"{name}.pt_f32"][rows] | X64)
    # Rows have different numbers of points: fill the gaps with the row's first point.
    x = np.where(np.isfinite(ref["x"]), ref["x"], ref["x"][:, :1])
    params = {k: theta[:, i : i + 1] for i, k in enumerate(param_names)}

    def where(idx):
        return dict(zip(param_names, theta[idx[0]], strict=True)) | {"x": ref["x"][idx]}

    def row(idx):
        return dict(zip(param_names, theta[idx[0]], strict=True))

    # Quantile arguments: the CDF rounded to the dtype (lower half) or 1 - S (upper half); the
    # reference is one Newton step from x, ``x + (p - F(x))/q(x)``, exact to second order.
    tail, lower = ref["tail"], ref["logF"] <= ref["logS"]
    p = np.where(lower, tail, 1.0 - tail).astype(DTYPE).astype(np.float64)
    w = np.exp(np.log(tail) - ref["lp"])  # the width T/q of the tail at x
    x_ref = x + np.where(lower, p - tail, tail - (1.0 - p)) / tail * w
    icdf = _has_icdf(_family(name, params))
    got = jax.tree.map(
        lambda v: np.asarray(v, np.float64),
        _scalar_values(name, params, jnp.asarray(x, DTYPE), jnp.asarray(p, DTYPE), icdf),
    )
    far = np.where(mask, tail, 1.0)

    # Log density.
    err = np.abs(got["lp"] - ref["lp"]) / np.maximum(1.0, np.abs(ref["lp"]))
    cond = ref["cond_lp"] / np.maximum(1.0, np.abs(ref["lp"]))
    _check(failures, f"{name}.log_prob", err, _bound(far, K32["lp"], cond), mask, where)
    # CDF (relative), log CDF and log survival function.
    err = np.abs(got["cdf"] / np.exp(ref["logF"]) - 1.0)
    _check(failures, f"{name}.cdf", err, _bound(far, K32["cdf"], ref["cond_F"]), mask, where)
    for key, c, method in (("logF", "cond_F", "log_cdf"), ("logS", "cond_S", "log_survival")):
        scale = np.maximum(1.0, np.abs(ref[key]))
        err = np.abs(got[key] - ref[key]) / scale
        _check(failures, f"{name}.{method}", err, _bound(far, K32["cdf"], ref[c] / scale), mask,
               where)  # fmt: skip
    # Quantile: where p < 1 resolves the upper tail (S >= sqrt(eps): the one-step reference's
    # second-order term stays below eps of the tail's width) and the width is finite (heavy
    # tails: T/q overflows 1e308 at some float64 points of Weibull(k = 1e-3)).
    if icdf:
        ok = mask & (p < 1) & (lower | (tail >= np.sqrt(EPS))) & np.isfinite(w)
        cond_theta = np.maximum(np.where(lower, ref["cond_F"], ref["cond_S"]) - np.abs(x) / w, 0)
        err = np.abs(got["icdf"] - x_ref) / (np.abs(x_ref) + w * (1.0 + cond_theta))
        _check(failures, f"{name}.icdf", err, _bound(far, K32["icdf"], 0.0), ok, where)

    moments = DATA[f"{name}.moments"][rows].T
    ref = dict(zip(("mean", "dmean", "var", "dvar", "ent", "dent"), moments, strict=True))
    got = {k: got[k][:, 0] for k in ("mean", "var", "ent")}
    _check_moments(failures, name, got, ref, row)
    assert not failures, "\n".join(failures)


@functools.partial(jax.jit, static_argnames="name")
def _vector_values(name, params, x):
    d = getattr(mnj, name)(**params)
    return dict(lp=d.log_prob(x), mean=d.mean(), var=d.variance(), ent=d.entropy())


@pytest.mark.parametrize("name", VECTOR)
@np.errstate(all="ignore")
def test_vector_or_discrete_family_matches_mpmath(name):
    """Log density (mass) at points on the support (coordinates down to 1e-300 for the
    Dirichlet), mean and variance per coordinate, entropy."""
    failures = []
    rows = _rows(name)
    prefix = f"{name}.param."
    params = {k[len(prefix) :]: v[rows] for k, v in DATA.items() if k.startswith(prefix)}
    x = DATA[f"{name}.x"][rows]
    scalar_events = getattr(mnj, name).event_ndims == 0
    if scalar_events:  # (rows, points) against parameters (rows, 1)
        x = x[..., 0]
    else:  # parameters broadcast against the points: (rows, 1, ...)
        params = {k: v[:, None] for k, v in params.items()}
    got = jax.tree.map(
        lambda v: np.asarray(v, np.float64), _vector_values(name, params, jnp.asarray(x, DTYPE))
    )
    lp, cond_lp = DATA[f"{name}.lp"][rows], DATA[f"{name}.cond_lp"][rows]
    mask = DATA[f"{name}.pt_f32"][rows] | X64

    def row(idx):
        return {k: v[idx[0]].tolist() for k, v in params.items()}

    def where(idx):
        return row(idx) | {"x": x[idx].tolist()}

    scale = np.maximum(1.0, np.abs(lp))
    err = np.abs(got["lp"] - lp) / scale
    _check(failures, f"{name}.log_prob", err, _bound(1.0, K32["lp"], cond_lp / scale), mask, where)
    ref = {k: DATA[f"{name}.{k}"][rows] for k in ("mean", "dmean", "var", "dvar", "ent", "dent")}
    squeeze = (lambda v: v) if scalar_events else (lambda v: v[:, 0])
    got = {"mean": squeeze(got["mean"]), "var": squeeze(got["var"]), "ent": got["ent"][:, 0]}
    _check_moments(failures, name, got, ref, row)
    assert not failures, "\n".join(failures)
