"""Make ``tests/data/reference.npz``: mpmath references for ``tests/test_reference.py``.

Run from the repository root (a few minutes on one core)::

    python tests/data/make_reference.py            # every family
    python tests/data/make_reference.py Beta Gamma  # regenerate some, keep the others

For each family and each row of its parameter grid (shapes 1e-3 to 1e4, scales 1e-3 to 1e3,
locations ±1e3, truncation intervals far out and tiny) it stores points from the far lower tail to
the far upper tail (quantile levels 1e-300 to 1/2 on either side, from scipy's quantile functions,
the family's closed form or a family-specific rule) and, at the exact binary values of parameters
and points, from mpmath at 50 digits (30 for the quadratures):

* ``lp``: the log density; ``logF``, ``logS``: the logs of the CDF and of the survival function,
  each computed directly (the smaller tail never as 1 minus the larger);
* ``cond_lp``, ``cond_F``, ``cond_S``: condition numbers ``Σ_v |v ∂g/∂v|`` of ``g = lp``,
  ``log F``, ``log S`` over the parameters and the point (central differences), i.e. the error
  of ``g`` that relative perturbations of size 1 of the inputs cause;
* per row ``mean``, ``var``, ``ent`` (±inf where the moment is infinite, NaN where undefined) and
  ``dmean``, ``dvar``, ``dent``: ``Σ_θ |θ ∂m/∂θ|`` for each.

Parameters are float32 values (the grid is rounded to float32 first) unless a row needs more
(a truncation interval narrower than float32 resolves); a point is the float32 rounding of its
level's quantile where that is finite and strictly inside the support, else the float64 value.
Flags ``row_f32``/``pt_f32`` mark what the float32 run may use (float32 points also need a tail
above 1e-30); ``row_reduced`` marks the CI subset (``MNJ_FULL=1`` runs every row).

The script also evaluates scipy.stats at every point and prints where it disagrees with mpmath
by more than 1e-9 (relative): these are the places where mpmath had to decide.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import mpmath as mp
import numpy as np
from scipy import special as sc
from scipy import stats

mp.mp.dps = 50
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.npz")
INF, NAN = math.inf, math.nan

LOWER = (1e-300, 1e-100, 1e-30, 1e-8, 0.02, 0.5)  # quantile levels, lower tail
UPPER = (0.02, 1e-8, 1e-30, 1e-100, 1e-300)  # survival levels, upper tail
F32_TAIL = 1e-30  # float32 points: the smaller tail at least this


def f32(v):
    with np.errstate(over="ignore"):
        return float(np.float32(v))


SHAPES = [f32(v) for v in (1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e3, 1e4)]
SHAPES_R = [f32(v) for v in (1e-3, 1.0, 1e4)]
SCALES = [f32(v) for v in np.logspace(-3, 3, 7)]
SCALES_R = [f32(v) for v in (1e-3, 1.0, 1e3)]
LOCS = [-1e3, -1.5, 0.0, 0.375, 1e3]
LOCS_R = [-1e3, 0.375, 1e3]


def grid(*axes):
    """Rows of the full grid and the flags of the reduced one: ``axes`` are (full, reduced)."""
    rows, reduced = [], []
    for idx in np.ndindex(*(len(full) for full, _ in axes)):
        row = tuple(full[i] for (full, _), i in zip(axes, idx, strict=True))
        rows.append(row)
        reduced.append(all(v in red for v, (_, red) in zip(row, axes, strict=True)))
    return rows, reduced


def M(v):
    """An exact mpmath number: binary floats as they are, mpmath numbers (perturbed inputs of
    the condition numbers) untouched."""
    return v if isinstance(v, mp.mpf) else mp.mpf(float(v))


def log1mexp(v):
    """``log(1 - e^v)`` for ``v < 0``."""
    return mp.log1p(-mp.exp(v)) if v < -mp.log(2) else mp.log(-mp.expm1(v))


# ---- the families: mpmath formulas ----------------------------------------------------------
# Each spec: params, rows/reduced, logpdf(θ, x), lower(θ, x) = F, upper(θ, x) = S (each accurate
# in its own tail), moments(θ) = (mean, var, entropy), support(θ), points(θ) -> [(x, tail level)],
# scipy(θ) -> frozen distribution (or None).


def location_scale(std_logpdf, std_lower, std_upper, std_moments, scipy_dist, levels):
    """Spec functions of ``loc + scale * u``; ``levels(p, upper)``: standard quantiles."""

    def u(t, x):
        return (M(x) - M(t[0])) / M(t[1])

    def moments(t):
        m, v, h = std_moments()
        loc, s = M(t[0]), M(t[1])
        return loc + s * m, s * s * v, h + mp.log(s)

    return dict(
        params=("loc", "scale"),
        logpdf=lambda t, x: std_logpdf(u(t, x)) - mp.log(M(t[1])),
        lower=lambda t, x: std_lower(u(t, x)),
        upper=lambda t, x: std_upper(u(t, x)),
        moments=moments,
        support=lambda t: (-INF, INF),
        points=lambda t: [
            (t[0] + t[1] * levels(p, up), p)
            for p, up in [(p, False) for p in LOWER] + [(p, True) for p in UPPER]
        ],
        scipy=lambda t: scipy_dist(loc=t[0], scale=t[1]),
    )


def std_levels(dist):
    return lambda p, up: float(dist.isf(p) if up else dist.ppf(p))


EULER = mp.euler
SPECS = {}
LS_ROWS = grid((LOCS, LOCS_R), (SCALES, SCALES_R))

SPECS["Normal"] = location_scale(
    lambda u: -u * u / 2 - mp.log(2 * mp.pi) / 2,
    lambda u: mp.ncdf(u),
    lambda u: mp.ncdf(-u),
    lambda: (0, 1, (1 + mp.log(2 * mp.pi)) / 2),
    stats.norm,
    std_levels(stats.norm),
)
SPECS["Laplace"] = location_scale(
    lambda u: -abs(u) - mp.log(2),
    lambda u: mp.exp(u) / 2 if u < 0 else 1 - mp.exp(-u) / 2,
    lambda u: mp.exp(-u) / 2 if u > 0 else 1 - mp.exp(u) / 2,
    lambda: (0, 2, 1 + mp.log(2)),
    stats.laplace,
    lambda p, up: -math.log(2 * p) if up else math.log(2 * p),
)
SPECS["Logistic"] = location_scale(
    lambda u: -u - 2 * mp.log1p(mp.exp(-u)),
    lambda u: 1 / (1 + mp.exp(-u)),
    lambda u: 1 / (1 + mp.exp(u)),
    lambda: (0, mp.pi**2 / 3, mp.mpf(2)),
    stats.logistic,
    lambda p, up: -(math.log(p) - math.log1p(-p)) if up else math.log(p) - math.log1p(-p),
)
SPECS["Gumbel"] = location_scale(
    lambda u: -(u + mp.exp(-u)),
    lambda u: mp.exp(-mp.exp(-u)),
    lambda u: -mp.expm1(-mp.exp(-u)),
    lambda: (EULER, mp.pi**2 / 6, 1 + EULER),
    stats.gumbel_r,
    lambda p, up: -math.log(-math.log1p(-p)) if up else -math.log(-math.log(p)),
)
SPECS["Cauchy"] = location_scale(
    lambda u: -mp.log(mp.pi * (1 + u * u)),
    lambda u: mp.atan2(1, -u) / mp.pi,
    lambda u: mp.atan2(1, u) / mp.pi,
    lambda: (NAN, NAN, mp.log(4 * mp.pi)),
    stats.cauchy,
    lambda p, up: 1 / math.tan(math.pi * p) if up else -1 / math.tan(math.pi * p),
)
for name in ("Normal", "Laplace", "Logistic", "Gumbel", "Cauchy"):
    SPECS[name]["rows"] = LS_ROWS


def _uniform():
    def width(t):
        return M(t[1]) - M(t[0])

    return dict(
        params=("low", "high"),
        rows=grid(([-1e3, -1.5, 0.0, 1e3], [-1.5, 1e3]), ([f32(1e-3), 1.0, 1e3], [f32(1e-3), 1e3])),
        logpdf=lambda t, x: -mp.log(width(t)),
        lower=lambda t, x: (M(x) - M(t[0])) / width(t),
        upper=lambda t, x: (M(t[1]) - M(x)) / width(t),
        moments=lambda t: ((M(t[0]) + M(t[1])) / 2, width(t) ** 2 / 12, mp.log(width(t))),
        support=lambda t: (t[0], t[1]),
        points=lambda t: (
            [(t[0] + (t[1] - t[0]) * p, p) for p in (1e-8, 0.02, 0.5)]
            + [(t[1] - (t[1] - t[0]) * p, p) for p in (0.02, 1e-8)]
        ),
        scipy=lambda t: stats.uniform(t[0], t[1] - t[0]),
    )


SPECS["Uniform"] = _uniform()
# Uniform(low, low + width): rows are (low, width) in the grid; convert to (low, high).
SPECS["Uniform"]["rows"] = (
    [(lo, f32(lo + w)) for lo, w in SPECS["Uniform"]["rows"][0]],
    SPECS["Uniform"]["rows"][1],
)

SPECS["Exponential"] = dict(
    params=("rate",),
    rows=grid((SCALES, SCALES_R)),
    logpdf=lambda t, x: mp.log(M(t[0])) - M(t[0]) * M(x),
    lower=lambda t, x: -mp.expm1(-M(t[0]) * M(x)),
    upper=lambda t, x: mp.exp(-M(t[0]) * M(x)),
    moments=lambda t: (1 / M(t[0]), 1 / M(t[0]) ** 2, 1 - mp.log(M(t[0]))),
    support=lambda t: (0.0, INF),
    points=lambda t: (
        [(-math.log1p(-p) / t[0], p) for p in LOWER] + [(-math.log(p) / t[0], p) for p in UPPER]
    ),
    scipy=lambda t: stats.expon(scale=1 / t[0]),
)


def _half_normal_points(t):
    d = stats.halfnorm(scale=t[0])
    lower = [(t[0] * math.sqrt(2) * float(sc.erfinv(p)), p) for p in LOWER]
    return lower + [(float(d.isf(p)), p) for p in UPPER]


SPECS["HalfNormal"] = dict(
    params=("scale",),
    rows=grid((SCALES, SCALES_R)),
    logpdf=lambda t, x: mp.log(mp.sqrt(2 / mp.pi) / M(t[0])) - (M(x) / M(t[0])) ** 2 / 2,
    lower=lambda t, x: mp.erf(M(x) / (M(t[0]) * mp.sqrt(2))),
    upper=lambda t, x: mp.erfc(M(x) / (M(t[0]) * mp.sqrt(2))),
    moments=lambda t: (
        M(t[0]) * mp.sqrt(2 / mp.pi),
        M(t[0]) ** 2 * (1 - 2 / mp.pi),
        mp.log(mp.pi * mp.e / 2) / 2 + mp.log(M(t[0])),
    ),
    support=lambda t: (0.0, INF),
    points=_half_normal_points,
    scipy=lambda t: stats.halfnorm(scale=t[0]),
)


def _lognormal_u(t, x):
    return (mp.log(M(x)) - M(t[0])) / M(t[1])


SPECS["LogNormal"] = dict(
    params=("loc", "scale"),
    rows=grid(([-50.0, 0.0, 0.375, 50.0], [-50.0, 0.375, 50.0]), (SCALES, SCALES_R)),
    logpdf=lambda t, x: (
        -(_lognormal_u(t, x) ** 2) / 2 - mp.log(M(t[1]) * M(x) * mp.sqrt(2 * mp.pi))
    ),
    lower=lambda t, x: mp.ncdf(_lognormal_u(t, x)),
    upper=lambda t, x: mp.ncdf(-_lognormal_u(t, x)),
    moments=lambda t: (
        mp.exp(M(t[0]) + M(t[1]) ** 2 / 2),
        mp.expm1(M(t[1]) ** 2) * mp.exp(2 * M(t[0]) + M(t[1]) ** 2),
        M(t[0]) + (1 + mp.log(2 * mp.pi)) / 2 + mp.log(M(t[1])),
    ),
    support=lambda t: (0.0, INF),
    points=lambda t: [
        (
            math.exp(
                min(
                    t[0] + t[1] * (float(stats.norm.isf(p)) if up else float(stats.norm.ppf(p))),
                    700,
                )
            ),
            p,
        )
        for p, up in [(p, False) for p in LOWER] + [(p, True) for p in UPPER]
    ],
    scipy=lambda t: stats.lognorm(s=t[1], scale=math.exp(t[0])),
)


def _weibull_moments(t):
    lam, k = M(t[0]), M(t[1])
    g1, g2 = mp.gamma(1 + 1 / k), mp.gamma(1 + 2 / k)
    return lam * g1, lam**2 * (g2 - g1**2), EULER * (1 - 1 / k) + mp.log(lam / k) + 1


def _weibull_points(t):
    lam, k = t

    def x(log_e):  # z = λ E^(1/k), E = -log(1 - p) or -log(s)
        return lam * math.exp(min(log_e / k, 700.0))

    return [(x(math.log(-math.log1p(-p))), p) for p in LOWER] + [
        (x(math.log(-math.log(p))), p) for p in UPPER
    ]


SPECS["Weibull"] = dict(
    params=("scale", "concentration"),
    rows=grid((SCALES, SCALES_R), (SHAPES, SHAPES_R)),
    logpdf=lambda t, x: (
        mp.log(M(t[1]) / M(t[0]))
        + (M(t[1]) - 1) * mp.log(M(x) / M(t[0]))
        - (M(x) / M(t[0])) ** M(t[1])
    ),
    lower=lambda t, x: -mp.expm1(-((M(x) / M(t[0])) ** M(t[1]))),
    upper=lambda t, x: mp.exp(-((M(x) / M(t[0])) ** M(t[1]))),
    moments=_weibull_moments,
    support=lambda t: (0.0, INF),
    points=_weibull_points,
    scipy=lambda t: stats.weibull_min(c=t[1], scale=t[0]),
)


def _kumaraswamy_moments(t):
    a, b = M(t[0]), M(t[1])
    m1 = b * mp.beta(1 + 1 / a, b)
    m2 = b * mp.beta(1 + 2 / a, b)
    harmonic = mp.digamma(b + 1) + EULER
    return m1, m2 - m1 * m1, (1 - 1 / b) + (1 - 1 / a) * harmonic - mp.log(a * b)


def _kumaraswamy_points(t):
    a, b = t

    def x(log_w):  # z = W^(1/a) with log W
        return math.exp(log_w / a)

    out = []
    for p in LOWER:  # 1 - W = (1 - p)^(1/b)
        out.append((x(math.log(-math.expm1(math.log1p(-p) / b))), p))
    for s in UPPER:  # 1 - W = s^(1/b)
        out.append((x(math.log1p(-math.exp(math.log(s) / b))), s))
    return out


SPECS["Kumaraswamy"] = dict(
    params=("concentration1", "concentration0"),
    rows=grid((SHAPES, SHAPES_R), (SHAPES, SHAPES_R)),
    logpdf=lambda t, x: (
        mp.log(M(t[0]) * M(t[1]))
        + (M(t[0]) - 1) * mp.log(M(x))
        + (M(t[1]) - 1) * log1mexp(M(t[0]) * mp.log(M(x)))
    ),
    lower=lambda t, x: -mp.expm1(M(t[1]) * log1mexp(M(t[0]) * mp.log(M(x)))),
    upper=lambda t, x: mp.exp(M(t[1]) * log1mexp(M(t[0]) * mp.log(M(x)))),
    moments=_kumaraswamy_moments,
    support=lambda t: (0.0, 1.0),
    points=_kumaraswamy_points,
    scipy=lambda t: None,
)


def _gamma_spec(shape_rate, params, rows, scipy_dist, transform=None):
    """Gamma(α, rate) after ``shape_rate(θ) = (α, rate)``."""

    def logpdf(t, x):
        a, r = shape_rate(t)
        x = M(x)
        return a * mp.log(r) + (a - 1) * mp.log(x) - r * x - mp.loggamma(a)

    def lower(t, x):
        a, r = shape_rate(t)
        return mp.gammainc(a, 0, r * M(x), regularized=True)

    def upper(t, x):
        a, r = shape_rate(t)
        return mp.gammainc(a, r * M(x), mp.inf, regularized=True)

    def moments(t):
        a, r = shape_rate(t)
        return a / r, a / r**2, a - mp.log(r) + mp.loggamma(a) + (1 - a) * mp.digamma(a)

    return dict(
        params=params,
        rows=rows,
        logpdf=logpdf,
        lower=lower,
        upper=upper,
        moments=moments,
        support=lambda t: (0.0, INF),
        points=lambda t: (
            [(float(scipy_dist(t).ppf(p)), p) for p in LOWER]
            + [(float(scipy_dist(t).isf(p)), p) for p in UPPER]
        ),
        scipy=scipy_dist,
    )


SPECS["Gamma"] = _gamma_spec(
    lambda t: (M(t[0]), M(t[1])),
    ("concentration", "rate"),
    grid((SHAPES, SHAPES_R), (SCALES, SCALES_R)),
    lambda t: stats.gamma(t[0], scale=1 / t[1]),
)
SPECS["Chi2"] = _gamma_spec(
    lambda t: (M(t[0]) / 2, mp.mpf(0.5)),
    ("df",),
    grid((SHAPES, SHAPES_R)),
    lambda t: stats.chi2(t[0]),
)


def _inverse_gamma_moments(t):
    a, b = M(t[0]), M(t[1])
    mean = b / (a - 1) if a > 1 else mp.inf
    var = b**2 / ((a - 1) ** 2 * (a - 2)) if a > 2 else mp.inf
    return mean, var, a + mp.log(b) + mp.loggamma(a) - (1 + a) * mp.digamma(a)


SPECS["InverseGamma"] = dict(
    params=("concentration", "scale"),
    rows=grid((SHAPES, SHAPES_R), (SCALES, SCALES_R)),
    logpdf=lambda t, x: (
        M(t[0]) * mp.log(M(t[1]))
        - (M(t[0]) + 1) * mp.log(M(x))
        - M(t[1]) / M(x)
        - mp.loggamma(M(t[0]))
    ),
    lower=lambda t, x: mp.gammainc(M(t[0]), M(t[1]) / M(x), mp.inf, regularized=True),
    upper=lambda t, x: mp.gammainc(M(t[0]), 0, M(t[1]) / M(x), regularized=True),
    moments=_inverse_gamma_moments,
    support=lambda t: (0.0, INF),
    points=lambda t: (
        [(float(stats.invgamma(t[0], scale=t[1]).ppf(p)), p) for p in LOWER]
        + [(float(stats.invgamma(t[0], scale=t[1]).isf(p)), p) for p in UPPER]
    ),
    scipy=lambda t: stats.invgamma(t[0], scale=t[1]),
)


def log_beta(a, b):
    return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)


def betainc_lower(a, b, x, x1=None):
    """``I_x(a, b)`` with ``x1 = 1 - x`` given exactly where known: mpmath's hypergeometric
    series, or for ``a, b >= 2000`` (where that takes minutes near the mean) the continued
    fraction DLMF 8.17.22, which converges where the points lie (the smaller tail)."""
    a, b, x = M(a), M(b), mp.mpf(x)
    x1 = 1 - x if x1 is None else mp.mpf(x1)
    if min(a, b) < 2000:
        if x1 < 1e-40:  # x = 1 - x1 loses x1's digits at 50: integrate from the exact x1;
            # I_x1(b, a) ~ x1^b / (b B(b, a)) < 0.9 for shapes >= 1e-3, so 1 - it keeps them all
            return 1 - mp.betainc(b, a, 0, x1, regularized=True)
        return mp.betainc(a, b, 0, x, regularized=True)
    if x > (a + 1) / (a + b + 2):  # the fraction converges on the other side
        return 1 - betainc_lower(b, a, x1, x)
    tiny, f, c, d = mp.mpf(10) ** -300, mp.mpf(1), mp.mpf(1), mp.mpf(0)
    for j in range(1, 100000):
        m = j // 2
        if j % 2:
            dj = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            dj = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1 + dj * d
        d = 1 / (d if d != 0 else tiny)
        c = 1 + dj / (c if c != 0 else tiny)
        f *= c * d
        if abs(c * d - 1) < mp.mpf(10) ** (-mp.mp.dps + 3):
            break
    return mp.exp(a * mp.log(x) + b * mp.log(x1) - mp.log(a) - log_beta(a, b)) / f


def _beta_moments(t):
    a, b = M(t[0]), M(t[1])
    n = a + b
    ent = (
        log_beta(a, b) - (a - 1) * mp.digamma(a) - (b - 1) * mp.digamma(b) + (n - 2) * mp.digamma(n)
    )
    return a / n, a * b / (n * n * (n + 1)), ent


def _quantile_points(make):
    def points(t):
        d = make(t)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lower = [(float(d.ppf(p)), p) for p in LOWER]
            upper = [(float(d.isf(p)), p) for p in UPPER]
        return lower + upper

    return points


SPECS["Beta"] = dict(
    params=("concentration1", "concentration0"),
    rows=grid((SHAPES, SHAPES_R), (SHAPES, SHAPES_R)),
    logpdf=lambda t, x: (
        (M(t[0]) - 1) * mp.log(M(x)) + (M(t[1]) - 1) * mp.log1p(-M(x)) - log_beta(M(t[0]), M(t[1]))
    ),
    lower=lambda t, x: betainc_lower(t[0], t[1], x),
    upper=lambda t, x: betainc_lower(t[1], t[0], 1 - M(x), M(x)),
    moments=_beta_moments,
    support=lambda t: (0.0, 1.0),
    points=_quantile_points(lambda t: stats.beta(t[0], t[1])),
    scipy=lambda t: stats.beta(t[0], t[1]),
)


def _t_tail(t, x):
    """``½ I_w(ν/2, ½)``, ``w = ν/(ν + y²)``: the tail beyond ``|y|``."""
    nu, y = M(t[0]), (M(x) - M(t[1])) / M(t[2])
    return betainc_lower(nu / 2, mp.mpf(0.5), nu / (nu + y * y), y * y / (nu + y * y)) / 2, y


def _t_lower(t, x):
    tail, y = _t_tail(t, x)
    return tail if y < 0 else 1 - tail


def _t_upper(t, x):
    tail, y = _t_tail(t, x)
    return tail if y > 0 else 1 - tail


def _t_moments(t):
    nu, loc, s = M(t[0]), M(t[1]), M(t[2])
    mean = loc if nu > 1 else mp.nan
    var = s * s * nu / (nu - 2) if nu > 2 else (mp.inf if nu > 1 else mp.nan)
    half = (nu + 1) / 2
    ent = (
        half * (mp.digamma(half) - mp.digamma(nu / 2))
        + mp.log(nu) / 2
        + log_beta(nu / 2, mp.mpf(0.5))
        + mp.log(s)
    )
    return mean, var, ent


SPECS["StudentT"] = dict(
    params=("df", "loc", "scale"),
    rows=grid(
        (SHAPES, SHAPES_R), ([-1e3, 0.375, 1e3], [0.375]), ([f32(1e-3), 1.0, 1e3], [f32(1e-3), 1e3])
    ),
    logpdf=lambda t, x: (
        mp.loggamma((M(t[0]) + 1) / 2)
        - mp.loggamma(M(t[0]) / 2)
        - mp.log(M(t[0]) * mp.pi) / 2
        - mp.log(M(t[2]))
        - (M(t[0]) + 1) / 2 * mp.log1p(((M(x) - M(t[1])) / M(t[2])) ** 2 / M(t[0]))
    ),
    lower=_t_lower,
    upper=_t_upper,
    moments=_t_moments,
    support=lambda t: (-INF, INF),
    points=_quantile_points(lambda t: stats.t(t[0], t[1], t[2])),
    scipy=lambda t: stats.t(t[0], t[1], t[2]),
)


def _f_moments(t):
    d1, d2 = M(t[0]), M(t[1])
    mean = d2 / (d2 - 2) if d2 > 2 else mp.inf
    var = 2 * d2**2 * (d1 + d2 - 2) / (d1 * (d2 - 2) ** 2 * (d2 - 4)) if d2 > 4 else mp.inf
    a, b = d1 / 2, d2 / 2
    ent = (
        mp.log(b / a)
        + log_beta(a, b)
        + (1 - a) * mp.digamma(a)
        - (1 + b) * mp.digamma(b)
        + (a + b) * mp.digamma(a + b)
    )
    return mean, var, ent


def _f_parts(t, x):
    d1, d2, x = M(t[0]), M(t[1]), M(x)
    return d1 / 2, d2 / 2, d1 * x / (d1 * x + d2), d2 / (d1 * x + d2)


SPECS["FisherSnedecor"] = dict(
    params=("df1", "df2"),
    rows=grid((SHAPES, SHAPES_R), (SHAPES, SHAPES_R)),
    logpdf=lambda t, x: (
        (
            (M(t[0]) * mp.log(M(t[0]) * M(x)) + M(t[1]) * mp.log(M(t[1])))
            - (M(t[0]) + M(t[1])) * mp.log(M(t[0]) * M(x) + M(t[1]))
        )
        / 2
        - mp.log(M(x))
        - log_beta(M(t[0]) / 2, M(t[1]) / 2)
    ),
    lower=lambda t, x: (lambda a, b, w, w1: betainc_lower(a, b, w, w1))(*_f_parts(t, x)),
    upper=lambda t, x: (lambda a, b, w, w1: betainc_lower(b, a, w1, w))(*_f_parts(t, x)),
    moments=_f_moments,
    support=lambda t: (0.0, INF),
    points=_quantile_points(lambda t: stats.f(t[0], t[1])),
    scipy=lambda t: stats.f(t[0], t[1]),
)


def _vm_tail_integral(k, y):
    """``∫_{|y|}^π exp(κ (cos s - 1)) ds``: with ``w = κ (cos y - cos s)`` this is
    ``e^{-2κ sin²(y/2)} / κ · ∫_0^W e^{-w} / |sin s| dw``, ``W = κ (1 + cos y)``, ``sin² s =
    (2 sin²(y/2) + w/κ)(W - w)/κ``: a smooth integrand decaying like ``e^{-w}`` (at most an
    inverse square root at the ends), which quadrature resolves at every κ."""
    h = 2 * mp.sin(y / 2) ** 2
    big_w = k * (1 + mp.cos(y))

    def f(w):
        sin2 = (h + w / k) * (big_w - w) / k
        return mp.exp(-w) / mp.sqrt(sin2) if sin2 > 0 else mp.mpf(0)  # (nodes at the ends)

    pts = [mp.mpf(0)] + [p for p in (1, 4, 16, 64, 256) if p < big_w] + [big_w]
    return mp.exp(-k * h) / k * mp.quad(f, pts)


def _vm_norm(k):
    return 2 * mp.pi * mp.besseli(0, k) * mp.exp(-k)  # ∫ exp(κ(cos s - 1)) over the circle


def _vm_tail(t, x, upper):
    """F(x) = ½ + ∫_0^y q with y = x - loc in (-π, π) (the library's convention, SciPy's)."""
    k, y = M(t[1]), M(x) - M(t[0])
    tail = _vm_tail_integral(k, y) / _vm_norm(k)  # beyond |y|
    return tail if (y > 0) == upper else 1 - tail


def _vm_moments(t):
    k = M(t[1])
    ratio = mp.besseli(1, k) / mp.besseli(0, k)
    return M(t[0]), 1 - ratio, mp.log(2 * mp.pi * mp.besseli(0, k)) - k * ratio


def _vm_points(t):
    loc, k = t
    out = []
    for p, up in [(p, False) for p in LOWER] + [(p, True) for p in UPPER]:
        if k >= 1:  # the normal approximation of the levels
            y = float(stats.norm.isf(p) if up else stats.norm.ppf(p)) / math.sqrt(k)
        else:  # nearly uniform
            y = math.pi - 2 * math.pi * p if up else -math.pi + 2 * math.pi * p
        if abs(y) < math.pi * (1 - 1e-6):
            out.append((loc + y, p))
    return out


SPECS["VonMises"] = dict(
    params=("loc", "concentration"),
    rows=grid(([0.0, 2.5, -3.0], [2.5]), (SHAPES, SHAPES_R)),
    logpdf=lambda t, x: (
        M(t[1]) * mp.cos(M(x) - M(t[0])) - mp.log(2 * mp.pi * mp.besseli(0, M(t[1])))
    ),
    lower=lambda t, x: _vm_tail(t, x, False),
    upper=lambda t, x: _vm_tail(t, x, True),
    moments=_vm_moments,
    support=lambda t: (-INF, INF),
    points=_vm_points,
    scipy=lambda t: stats.vonmises(t[1], loc=t[0]),
)


def _tn_std(t, x=0.0):
    loc, s = M(t[0]), M(t[1])
    a = (M(t[2]) - loc) / s if math.isfinite(t[2]) else M(t[2])
    b = (M(t[3]) - loc) / s if math.isfinite(t[3]) else M(t[3])
    return a, b, (M(x) - loc) / s


def _tn_parts(t, x=0.0):
    """``(Φ(ζ) - Φ(α), Φ(β) - Φ(ζ))``, each from the tail it lies in."""
    a, b, y = _tn_std(t, x)
    if a + b > 0:
        return mp.ncdf(-a) - mp.ncdf(-y), mp.ncdf(-y) - mp.ncdf(-b)
    return mp.ncdf(y) - mp.ncdf(a), mp.ncdf(b) - mp.ncdf(y)


def _tn_tail(t, x, upper):
    with mp.workdps(120):
        lo, hi = _tn_parts(t, x)
        return (hi if upper else lo) / (lo + hi)


def _tn_logpdf(t, x):
    with mp.workdps(120):
        lo, hi = _tn_parts(t, x)
        a, b, y = _tn_std(t, x)
        return -y * y / 2 - mp.log(M(t[1]) * mp.sqrt(2 * mp.pi) * (lo + hi))


def _tn_moments(t):
    with mp.workdps(120):
        a, b, _ = _tn_std(t)
        z = mp.ncdf(-a) - mp.ncdf(-b) if a + b > 0 else mp.ncdf(b) - mp.ncdf(a)
        pa, pb = (mp.npdf(v) if mp.isfinite(v) else 0 for v in (a, b))
        apa, bpb = (v * mp.npdf(v) if mp.isfinite(v) else 0 for v in (a, b))
        m = (pa - pb) / z
        var = 1 + (apa - bpb) / z - m * m
        ent = mp.log(mp.sqrt(2 * mp.pi * mp.e) * M(t[1]) * z) + (apa - bpb) / (2 * z)
        return M(t[0]) + M(t[1]) * m, M(t[1]) ** 2 * var, ent


#: Standardized intervals: central, one-sided, 40σ out (both sides), tiny, tiny and far out.
TN_INTERVALS = [(-1.0, 1.0), (-INF, -0.5), (2.0, INF), (-41.0, -40.0), (38.0, 39.0),
                (0.25, 0.25 + 2**-20), (30.0, 30.0 + 2**-16), (-INF, INF)]  # fmt: skip
TN_INTERVALS_R = [(-1.0, 1.0), (2.0, INF), (-41.0, -40.0), (30.0, 30.0 + 2**-16)]


def _tn_rows():
    rows, reduced = [], []
    for loc in (-1e3, 0.0, 1e3):
        for s in (f32(1e-3), 1.0, 1e3):
            for a, b in TN_INTERVALS:
                lo = loc + s * a if math.isfinite(a) else a
                hi = loc + s * b if math.isfinite(b) else b
                rows.append((loc, s, lo, hi))
                reduced.append((a, b) in TN_INTERVALS_R and loc == 0.0 and s in (1.0, 1e3))
    return rows, reduced


def _tn_points(t):
    loc, s, lo, hi = t
    a, b = ((v - loc) / s for v in (lo, hi))
    out = []
    if math.isfinite(a) and math.isfinite(b):
        ys = [a + (b - a) * f for f in (1e-9, 1e-4, 0.02, 0.5, 0.98, 1 - 1e-4, 1 - 1e-9)]
    elif math.isfinite(a):
        ys = [a + d for d in (1e-9 * max(1, abs(a)), 1e-3, 0.1)] + [a + 5 / max(1, a) + 3, a + 30]
    elif math.isfinite(b):
        ys = [b - d for d in (1e-9 * max(1, abs(b)), 1e-3, 0.1)] + [b - 5 / max(1, -b) - 3, b - 30]
    else:
        ys = [-30.0, -5.0, -1.0, 0.0, 1.0, 5.0, 30.0]
    for y in ys:
        out.append((loc + s * y, 0.5))
    return out


SPECS["TruncatedNormal"] = dict(
    params=("loc", "scale", "low", "high"),
    rows=_tn_rows(),
    logpdf=_tn_logpdf,
    lower=lambda t, x: _tn_tail(t, x, False),
    upper=lambda t, x: _tn_tail(t, x, True),
    moments=_tn_moments,
    support=lambda t: (t[2], t[3]),
    points=_tn_points,
    scipy=lambda t: stats.truncnorm((t[2] - t[0]) / t[1], (t[3] - t[0]) / t[1], t[0], t[1]),
)


# ---- families with vector events or discrete values: log density and moments only -----------


def _dirichlet_logpdf(alpha, x):
    total = sum(alpha)
    return (
        sum((a - 1) * mp.log(v) for a, v in zip(alpha, x, strict=True))
        - sum(mp.loggamma(a) for a in alpha)
        + mp.loggamma(total)
    )


def _dirichlet_moments(alpha):
    total = sum(alpha)
    k = len(alpha)
    mean = [a / total for a in alpha]
    var = [a * (total - a) / (total**2 * (total + 1)) for a in alpha]
    ent = (
        sum(mp.loggamma(a) for a in alpha)
        - mp.loggamma(total)
        + (total - k) * mp.digamma(total)
        - sum((a - 1) * mp.digamma(a) for a in alpha)
    )
    return mean, var, ent


def _dirichlet_rows():
    rows, reduced = [], []
    for a in SHAPES:
        rows.append(((a, a, a),))
        reduced.append(a in SHAPES_R)
    for alpha in [(1e-3, 1.0, 1e4), (1e4, 1e4, 0.5), (1e-3, 1e-3, 1e-2), (2.0, 3.0, 4.0)]:
        rows.append((tuple(f32(a) for a in alpha),))
        reduced.append(alpha[0] == 1e-3)
    return rows, reduced


def _dirichlet_points(params):
    out = [(1 / 3, 1 / 3, 1 / 3), (0.2, 0.3, 0.5)]
    for t in (1e-8, 1e-30, 1e-300):
        out += [(t, t, 1 - 2 * t), (1 - t - 0.25, t, 0.25)]
    return out


def _mvn_logpdf(params, x):
    loc, tril = params
    d = len(loc)
    eps = []
    for i in range(d):  # forward substitution, L eps = x - loc
        r = M(x[i]) - M(loc[i]) - sum(M(tril[i][j]) * eps[j] for j in range(i))
        eps.append(r / M(tril[i][i]))
    return (
        -sum(e * e for e in eps) / 2
        - sum(mp.log(abs(M(tril[i][i]))) for i in range(d))
        - d * mp.log(2 * mp.pi) / 2
    )


def _mvn_moments(params):
    loc, tril = params
    d = len(loc)
    var = [sum(M(tril[i][j]) ** 2 for j in range(i + 1)) for i in range(d)]
    ent = d * (1 + mp.log(2 * mp.pi)) / 2 + sum(mp.log(abs(M(tril[i][i]))) for i in range(d))
    return [M(v) for v in loc], var, ent


def _mvn_rows():
    rows, reduced = [], []
    for loc in (-1e3, 0.375, 1e3):
        for s in (f32(1e-3), 1.0, 1e3):
            tril = ((s, 0.0, 0.0), (f32(0.6 * s), f32(0.8 * s), 0.0), (f32(-0.3 * s), 0.5 * s, s))
            rows.append(((loc, f32(-0.5 * loc), 2.0), tril))
            reduced.append(s != 1.0 and loc == 0.375)
    return rows, reduced


def _mvn_points(params):
    loc, tril = params
    out = []
    for z in (0.0, 0.5, 5.0, 38.0):
        e = (z, -z, 0.5 * z)
        out.append(tuple(loc[i] + sum(tril[i][j] * e[j] for j in range(i + 1)) for i in range(3)))
    return out


def _bernoulli_logpdf(params, x):
    (l,) = params
    l = M(l[0])
    return -mp.log1p(mp.exp(-l)) if M(x[0]) == 1 else -mp.log1p(mp.exp(l))


def _bernoulli_moments(params):
    l = M(params[0][0])
    p, q = 1 / (1 + mp.exp(-l)), 1 / (1 + mp.exp(l))
    return [p], [p * q], p * mp.log1p(mp.exp(-l)) + q * mp.log1p(mp.exp(l))


VECTOR_SPECS = {
    "Dirichlet": dict(
        params=("concentration",),
        rows=_dirichlet_rows(),
        logpdf=lambda p, x: _dirichlet_logpdf([M(a) for a in p[0]], [M(v) for v in x]),
        moments=lambda p: _dirichlet_moments([M(a) for a in p[0]]),
        points=_dirichlet_points,
        scipy=lambda p: stats.dirichlet(np.array(p[0])),
    ),
    "MultivariateNormal": dict(
        params=("loc", "scale_tril"),
        rows=_mvn_rows(),
        logpdf=_mvn_logpdf,
        moments=_mvn_moments,
        points=_mvn_points,
        scipy=lambda p: stats.multivariate_normal(
            np.array(p[0]), np.array(p[1]) @ np.array(p[1]).T
        ),
    ),
    "Bernoulli": dict(
        params=("logits",),
        rows=(
            [((f32(v),),) for v in (-1e3, -40.0, -1.0, 0.0, 0.375, 1.0, 40.0, 1e3)],
            [v in (-1e3, 0.375, 40.0) for v in (-1e3, -40.0, -1.0, 0.0, 0.375, 1.0, 40.0, 1e3)],
        ),
        logpdf=_bernoulli_logpdf,
        moments=_bernoulli_moments,
        points=lambda p: [(0.0,), (1.0,)],
        scipy=None,
    ),
}


# ---- generation -----------------------------------------------------------------------------


def cond(f, args):
    """``Σ_i |v_i ∂f/∂v_i|`` by central differences (relative steps 1e-22)."""
    h, total = mp.mpf(10) ** -22, mp.mpf(0)
    for i, v in enumerate(args):
        if v == 0 or not mp.isfinite(v):
            continue
        up, down = list(args), list(args)
        up[i], down[i] = v * (1 + h), v * (1 - h)
        total += abs((f(up) - f(down)) / (2 * h))
    return total


TINY64, TINY32 = float(np.finfo(np.float64).tiny), float(np.finfo(np.float32).tiny)


def inside(spec, t, x, tiny=TINY64):
    """Strictly inside the support and not subnormal (XLA on CPU flushes subnormals to 0)."""
    lo, hi = spec["support"](t)
    return math.isfinite(x) and lo < x < hi and (x == 0 or abs(x) >= tiny)


#: Columns of ``{family}.points``.
COLUMNS = ("x", "lp", "cond_lp", "logF", "logS", "cond_F", "cond_S", "tail")


def scalar_point(spec, t, x):
    n = len(t)

    def split(v):
        return v[:n], v[n]

    args = [M(v) for v in t] + [M(x)]
    lp = spec["logpdf"](t, x)
    c_lp = cond(lambda v: spec["logpdf"](*split(v)), args)
    lower, upper = spec["lower"](t, x), spec["upper"](t, x)
    small_is_upper = upper < lower
    small = spec["upper"] if small_is_upper else spec["lower"]
    c_small = cond(lambda v: mp.log(small(*split(v))), args)
    tail = min(lower, upper)
    c_large = tail * c_small / (1 - tail)
    c_f, c_s = (c_large, c_small) if small_is_upper else (c_small, c_large)
    return [x, lp, c_lp, mp.log(lower), mp.log(upper), c_f, c_s, tail]


def moments_row(moments, t, flatten=lambda t: [M(v) for v in t], unflatten=lambda v: v):
    """``[mean, dmean, var, dvar, entropy, dentropy]`` (lists for vector families)."""
    vals = moments(t)
    out = []
    for i, v in enumerate(vals):
        items = v if isinstance(v, list) else [v]
        ds = []
        for j, item in enumerate(items):
            if not mp.isfinite(item):
                ds.append(mp.mpf(0))
                continue

            def g(p, i=i, j=j):
                r = moments(unflatten(p))[i]
                return r[j] if isinstance(r, list) else r

            ds.append(cond(g, flatten(t)))
        out += [v, ds if isinstance(v, list) else ds[0]]
    return out


def make_family(name, spec):
    rows, reduced = spec["rows"]
    n_pts = len(LOWER) + len(UPPER)
    table = np.full((len(rows), n_pts, len(COLUMNS)), np.nan)
    pt_f32 = np.zeros((len(rows), n_pts), bool)
    moments = np.full((len(rows), 6), np.nan)
    dropped = 0
    worst = {}
    for r, t in enumerate(rows):
        with mp.workdps(60):
            moments[r] = [float(v) for v in moments_row(spec["moments"], t)]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            candidates = spec["points"](t)
        seen, j = set(), 0
        for x64, _ in candidates:
            x32 = f32(x64) if math.isfinite(x64) else x64
            x = x32 if inside(spec, t, x32, TINY32) else x64
            if not inside(spec, t, x) or x in seen:
                dropped += 1
                continue
            seen.add(x)
            table[r, j] = [float(v) for v in scalar_point(spec, t, x)]
            pt_f32[r, j] = x == x32 and table[r, j, 7] >= F32_TAIL and (x == 0 or abs(x) >= TINY32)
            j += 1
        _compare_scipy(spec["scipy"](t), t, table[r], moments[r], worst)
    row_f32 = np.array([all(v == f32(v) for v in t if math.isfinite(v)) for t in rows])
    _print_worst(name, worst)
    print(
        f"  {name}: {len(rows)} rows, {int(np.isfinite(table[..., 0]).sum())} points, "
        f"{dropped} candidate points dropped (outside the support, duplicates, non-finite)"
    )
    return {
        f"{name}.names": np.array(spec["params"]),
        f"{name}.params": np.array(rows, np.float64),
        f"{name}.row_f32": row_f32,
        f"{name}.row_reduced": np.array(reduced),
        f"{name}.points": table,
        f"{name}.pt_f32": pt_f32 & row_f32[:, None],
        f"{name}.moments": moments,
    }


def make_vector_family(name, spec):
    rows, reduced = spec["rows"]
    shapes = [np.shape(v) for v in rows[0]]

    def flatten(t):
        return [M(v) for p in t for v in np.ravel(np.array(p, dtype=object))]

    def unflatten(v):
        out, i = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            out.append(np.array(v[i : i + n], dtype=object).reshape(shape).tolist())
            i += n
        return out

    xs, lps, conds, means, dmeans, vars_, dvars, ents, dents, pt_f32 = ([] for _ in range(10))
    worst = {}
    for t in rows:
        pts = spec["points"](t)
        xs.append(np.array(pts, np.float64))
        row_lp, row_c = [], []
        for x in pts:
            args = flatten(t) + [M(v) for v in x]
            n = len(args) - len(x)
            row_lp.append(spec["logpdf"](t, x))
            row_c.append(cond(lambda v, n=n: spec["logpdf"](unflatten(v[:n]), v[n:]), args))
        lps.append([float(v) for v in row_lp])
        conds.append([float(v) for v in row_c])
        pt_f32.append([all(v == f32(v) for v in x) for x in pts])
        with mp.workdps(60):
            m, dm, v, dv, h, dh = moments_row(spec["moments"], t, flatten, unflatten)
        means.append([float(a) for a in m])
        dmeans.append([float(a) for a in dm])
        vars_.append([float(a) for a in v])
        dvars.append([float(a) for a in dv])
        ents.append(float(h))
        dents.append(float(dh))
        if spec["scipy"] is not None:
            d = spec["scipy"](t)
            for x, want in zip(pts, lps[-1], strict=True):
                err = abs(float(d.logpdf(np.array(x))) - want) / max(1.0, abs(want))
                if err > worst.get("logpdf", (0.0,))[0]:
                    worst["logpdf"] = (err, (t, x))
            err = abs(float(d.entropy()) - ents[-1]) / max(1.0, abs(ents[-1]))
            if err > worst.get("entropy", (0.0,))[0]:
                worst["entropy"] = (err, t)
    _print_worst(name, worst)
    row_f32 = np.array([all(v == f32(v) for v in flatten(t)) for t in rows])
    out = {
        f"{name}.row_f32": row_f32,
        f"{name}.row_reduced": np.array(reduced),
        f"{name}.x": np.array(xs),
        f"{name}.lp": np.array(lps),
        f"{name}.cond_lp": np.array(conds),
        f"{name}.pt_f32": np.array(pt_f32) & row_f32[:, None],
        f"{name}.mean": np.array(means),
        f"{name}.dmean": np.array(dmeans),
        f"{name}.var": np.array(vars_),
        f"{name}.dvar": np.array(dvars),
        f"{name}.ent": np.array(ents),
        f"{name}.dent": np.array(dents),
    }
    for i, pname in enumerate(spec["params"]):
        out[f"{name}.param.{pname}"] = np.array([t[i] for t in rows], np.float64)
    print(f"  {name}: {len(rows)} rows, {sum(len(x) for x in xs)} points")
    return out


def _print_worst(name, worst):
    for what, (err, where) in sorted(worst.items()):
        if err > 1e-9:
            print(f"  scipy vs mpmath, {name}.{what}: {err:.1e} at {where}")


def _compare_scipy(d, t, table, moments, worst):
    """Largest disagreements of scipy with the references: log quantities relative to
    ``max(1, |ref|)``, moments relative (entropy like a log quantity)."""
    if d is None:
        return

    def record(what, got, want, where, scale):
        got = float(got)
        if np.isfinite(want):
            err = abs(got - want) / scale
        else:
            err = 0.0 if got == want or (np.isnan(got) and np.isnan(want)) else np.inf
        if not err <= worst.get(what, (0.0,))[0]:
            worst[what] = (err, where)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for row in table:
            x = row[0]
            if np.isfinite(x):
                for what, got, col in (("logpdf", d.logpdf(x), 1), ("logcdf", d.logcdf(x), 3),
                                       ("logsf", d.logsf(x), 4)):  # fmt: skip
                    record(what, got, row[col], (t, x), max(1.0, abs(row[col])))
        for what, got, col in (("mean", d.mean(), 0), ("var", d.var(), 2)):
            want = moments[col]
            record(what, got, want, t, abs(want) if np.isfinite(want) and want else 1.0)
        record("entropy", d.entropy(), moments[4], t, max(1.0, abs(moments[4])))


def main(names):
    data = dict(np.load(OUT)) if os.path.exists(OUT) and names else {}
    for name in names or [*SPECS, *VECTOR_SPECS]:
        t0 = time.time()
        print(name, flush=True)
        data = {k: v for k, v in data.items() if not k.startswith(name + ".")}
        if name in SPECS:
            data.update(make_family(name, SPECS[name]))
        else:
            data.update(make_vector_family(name, VECTOR_SPECS[name]))
        print(f"  {time.time() - t0:.0f} s", flush=True)
        np.savez_compressed(OUT, **data)


if __name__ == "__main__":
    main(sys.argv[1:])
