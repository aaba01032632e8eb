"""The benchmarked cases: one table row per case, grouped into families (one report file each).

A case fixes how the ``N`` benchmark parameters are drawn, which parameter the gradient is taken
in (always the first of ``params``), the cotangent of the vector-Jacobian product, and, where a
reference is cheap, an accuracy grid and the mpmath value of the pathwise gradient
``dz/dθ = -(∂F(z; θ)/∂θ) / q(z; θ)`` at a given draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Params = tuple[np.ndarray, ...]


def _log_uniform(rng: np.random.Generator, low: float, high: float, shape) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), shape))


def _full(shape, value: float) -> np.ndarray:
    return np.full(shape, value)


@dataclass(frozen=True)
class Case:
    key: str  # JSON key and plot label
    family: str  # sampler table in peers.py, report file name in results/
    title: str  # one line, Markdown
    grad_name: str  # the parameter the gradient is taken in
    draws: str  # how the N parameters are drawn (Markdown)
    make_params: Callable[[int, np.random.Generator], Params]  # n scalars in total
    event_size: int = 1  # K for the Dirichlet: params have shape (n / K, K)
    bounds: tuple[float, float] | None = None  # truncated normal: the support checked
    reference: Callable[..., float] | None = None  # mpmath dz/dθ(z, *params_row)
    grid: Params | None = None  # accuracy grid: one parameter set per column, draws each
    grid_labels: tuple[str, ...] = ()
    unusable: str = "draws excluded (worst grid point)"  # column label for the excluded draws
    # draws the accuracy check can use (where the density is positive): z, grid params -> mask
    support: Callable[..., np.ndarray] = lambda z, *p: np.isfinite(z)
    accuracy_draws: tuple[int, int] = (8, 8)  # draws per grid point: (quick, full)
    # Unbiasedness, valid whatever path a library differentiates along: (h'(z, *params),
    # d/dθ E[h(z)](*params)); the mean of h'(z) dz/dθ over many draws must match the latter.
    mean_check: tuple[Callable[..., np.ndarray], Callable[..., float], str] | None = None

    def params(self, n: int, seed: int = 0) -> Params:
        p = self.make_params(n, np.random.default_rng(seed))
        shape = (n // self.event_size, self.event_size) if self.event_size > 1 else (n,)
        return tuple(np.broadcast_to(x, shape).astype("f4") for x in p)

    def cotangent(self, shape: tuple[int, ...]) -> np.ndarray:
        """Ones for a scalar family; for the Dirichlet fixed weights (k + 1) / K over the event
        axis, since the gradient of the plain sum of a simplex draw is identically 0."""
        if self.event_size == 1:
            return np.ones(shape, "f4")
        return np.broadcast_to((np.arange(self.event_size) + 1.0) / self.event_size, shape).astype(
            "f4"
        )


# ---- mpmath references (40 digits) ------------------------------------------------------------


def _implicit(lower, upper, log_q, theta) -> float:
    """-(∂F/∂θ) / q through whichever tail (``lower(θ) = F``, ``upper(θ) = 1 - F``) is smaller."""
    import mpmath as mp

    if lower(theta) < 0.5:
        dp = mp.diff(lower, theta)
    else:
        dp = -mp.diff(upper, theta)
    return float(-dp / mp.exp(log_q))


def gamma_dz(z: float, alpha: float) -> float:
    """Gamma(α, 1): -(∂P(α, z)/∂α) / q(z; α)."""
    import mpmath as mp

    with mp.workdps(40):
        a, x = mp.mpf(alpha), mp.mpf(z)
        log_q = (a - 1) * mp.log(x) - x - mp.loggamma(a)
        return _implicit(
            lambda s: mp.gammainc(s, 0, x, regularized=True),
            lambda s: mp.gammainc(s, x, mp.inf, regularized=True),
            log_q,
            a,
        )


def beta_dz(z: float, a: float, b: float) -> float:
    """Beta(a, b): -(∂I_z(a, b)/∂a) / q(z; a, b)."""
    import mpmath as mp

    with mp.workdps(40):
        a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(z)
        log_q = (a - 1) * mp.log(x) + (b - 1) * mp.log1p(-x) - mp.log(mp.beta(a, b))
        return _implicit(
            lambda s: mp.betainc(s, b, 0, x, regularized=True),
            lambda s: mp.betainc(s, b, x, 1, regularized=True),
            log_q,
            a,
        )


def student_t_dz(z: float, df: float, loc: float, scale: float) -> float:
    """Student-t(ν, loc, scale): -(∂F/∂ν) / q, with the tail ``½ I_{ν/(ν+t²)}(ν/2, ½)``."""
    import mpmath as mp

    with mp.workdps(40):
        nu, t = mp.mpf(df), (mp.mpf(z) - mp.mpf(loc)) / mp.mpf(scale)

        def tail(v):  # P(T < -|t|) = P(T > |t|)
            return mp.betainc(v / 2, 0.5, 0, v / (v + t * t), regularized=True) / 2

        log_q = (
            mp.loggamma((nu + 1) / 2)
            - mp.loggamma(nu / 2)
            - mp.log(mp.sqrt(nu * mp.pi))
            - (nu + 1) / 2 * mp.log1p(t * t / nu)
            - mp.log(mp.mpf(scale))
        )
        # t < 0: F = tail; t > 0: F = 1 - tail, so ∂F/∂ν = -∂tail/∂ν.
        sign = 1 if t < 0 else -1
        return float(-sign * mp.diff(tail, nu) / mp.exp(log_q))


def truncated_normal_dz(z: float, loc: float, scale: float, low: float, high: float) -> float:
    """Truncated normal: -(∂F/∂loc) / q, the normal masses taken from the nearer tail so that an
    interval far out (40 standard deviations) keeps its digits."""
    import mpmath as mp

    with mp.workdps(40):
        x, s, lo, hi = mp.mpf(z), mp.mpf(scale), mp.mpf(low), mp.mpf(high)

        def mass(u, v):  # Φ(v) - Φ(u)
            return mp.ncdf(-u) - mp.ncdf(-v) if u > 0 else mp.ncdf(v) - mp.ncdf(u)

        def lower(m):
            return mass((lo - m) / s, (x - m) / s) / mass((lo - m) / s, (hi - m) / s)

        def upper(m):
            return mass((x - m) / s, (hi - m) / s) / mass((lo - m) / s, (hi - m) / s)

        m = mp.mpf(loc)
        u = (x - m) / s
        log_q = -u * u / 2 - mp.log(mp.sqrt(2 * mp.pi) * s * mass((lo - m) / s, (hi - m) / s))
        return _implicit(lower, upper, log_q, m)


def student_t_dmean_abs(df: float, loc: float, scale: float) -> float:
    """d/dν E|T - loc| = scale · d/dν (2√ν Γ((ν+1)/2) / (√π (ν-1) Γ(ν/2))); NaN for ν ≤ 2, where
    the check's estimator has no finite variance."""
    import mpmath as mp

    if df <= 2.0:
        return float("nan")
    with mp.workdps(30):

        def mean_abs(v):
            return (
                2
                * mp.sqrt(v)
                * mp.gamma((v + 1) / 2)
                / (mp.sqrt(mp.pi) * (v - 1) * mp.gamma(v / 2))
            )

        return float(scale * mp.diff(mean_abs, mp.mpf(df)))


def von_mises_dmean_cos(kappa: float, loc: float) -> float:
    """d/dκ E[cos(z - loc)] = d/dκ I₁(κ)/I₀(κ) = 1 - A/κ - A², A = I₁/I₀."""
    import mpmath as mp

    with mp.workdps(30):
        k = mp.mpf(kappa)
        a = mp.besseli(1, k) / mp.besseli(0, k)
        return float(1 - a / k - a * a)


def _normal_params(n: int, rng: np.random.Generator) -> Params:
    """(scale, loc): the gradient is taken in the first parameter."""
    loc = rng.uniform(-2.0, 2.0, n)
    return _log_uniform(rng, 0.5, 2.0, n), loc


# ---- the table --------------------------------------------------------------------------------

_BETA_GRID = (
    (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0),
    (0.01, 2.0, 0.5, 2.0, 2.0, 0.3, 2.0, 50.0),
)
_DF_GRID = np.geomspace(0.1, 100.0, 8)
_KAPPA_GRID = np.geomspace(0.1, 100.0, 8)
_GAMMA_GRID = np.logspace(-3, 4, 15)
_TN_LOCS = np.linspace(-3.0, 3.0, 8)

CASES: tuple[Case, ...] = (
    Case(
        key="normal",
        family="normal",
        title="Normal(loc, scale), gradient in scale",
        grad_name="scale",
        draws="N values loc ~ U[-2, 2], scale ~ logU[0.5, 2], one draw each",
        make_params=_normal_params,
    ),
    Case(
        key="gamma",
        family="gamma",
        title="Gamma(α, 1), gradient in α",
        grad_name="α",
        draws="N shapes α ~ logU[0.1, 10], one draw each, unit rate",
        make_params=lambda n, rng: (_log_uniform(rng, 0.1, 10.0, n),),
        reference=gamma_dz,
        grid=(_GAMMA_GRID,),
        grid_labels=tuple(f"α={a:.0e}" for a in _GAMMA_GRID),
        unusable="f32 draws = 0 (worst α, i.e. α = 1e-3)",
        support=lambda z, a: np.isfinite(z) & (z > 0),
        accuracy_draws=(8, 32),
    ),
    Case(
        key="beta",
        family="beta",
        title="Beta(α, 2), gradient in α",
        grad_name="α",
        draws="N values α ~ logU[0.1, 10], β = 2, one draw each",
        make_params=lambda n, rng: (_log_uniform(rng, 0.1, 10.0, n), _full(n, 2.0)),
        reference=beta_dz,
        grid=tuple(np.array(g) for g in _BETA_GRID),
        grid_labels=tuple(f"({a:g}, {b:g})" for a, b in zip(*_BETA_GRID, strict=True)),
        unusable="f32 draws = 0 or 1 (worst (a, b), i.e. a = b = 0.01)",
        mean_check=(
            lambda z, a, b: np.ones_like(z),
            lambda a, b: b / (a + b) ** 2,
            "h(z) = z: d/da E[z] = b/(a + b)²",
        ),
        support=lambda z, a, b: (z > 0) & (z < 1),
    ),
    Case(
        key="dirichlet",
        family="dirichlet",
        title="Dirichlet, K = 8, gradient in all concentrations",
        grad_name="α",
        draws=(
            "concentrations α ~ logU[0.1, 10] of shape (N/8, 8): N/8 draws of an 8-simplex, "
            "**N counts scalars** (N/8 × 8); the gradient is that of Σ w·z with fixed weights "
            "w_k = (k + 1)/8 (the plain sum of a simplex draw is identically 1)"
        ),
        make_params=lambda n, rng: (_log_uniform(rng, 0.1, 10.0, (n // 8, 8)),),
        event_size=8,
    ),
    Case(
        key="student_t",
        family="student_t",
        title="Student-t(ν, 0, 1), gradient in ν",
        grad_name="ν",
        draws="N degrees of freedom ν ~ logU[1, 30], loc 0, scale 1, one draw each",
        make_params=lambda n, rng: (_log_uniform(rng, 1.0, 30.0, n), _full(n, 0.0), _full(n, 1.0)),
        reference=student_t_dz,
        grid=(_DF_GRID, np.zeros(8), np.ones(8)),
        grid_labels=tuple(f"ν={v:.2g}" for v in _DF_GRID),
        unusable="f32 draws non-finite (worst ν)",
        mean_check=(
            lambda z, v, m, s: np.sign(z - m),
            student_t_dmean_abs,
            "h(z) = |z|: d/dν E|z| in closed form (ν > 2 only, where the check has a finite "
            "variance)",
        ),
    ),
    Case(
        key="von_mises",
        family="von_mises",
        title="von Mises(0, κ), gradient in κ",
        grad_name="κ",
        draws="N concentrations κ ~ logU[0.1, 100], loc 0, one draw each",
        make_params=lambda n, rng: (_log_uniform(rng, 0.1, 100.0, n), _full(n, 0.0)),
        grid=(_KAPPA_GRID, np.zeros(8)),
        grid_labels=tuple(f"κ={k:.2g}" for k in _KAPPA_GRID),
        mean_check=(
            lambda z, k, m: -np.sin(z - m),
            von_mises_dmean_cos,
            "h(z) = cos z: d/dκ E[cos z] = d/dκ I₁(κ)/I₀(κ)",
        ),
    ),
    Case(
        key="truncated_normal",
        family="truncated_normal",
        title="Truncated normal on [-1, 2], gradient in loc",
        grad_name="loc",
        draws="N values loc ~ U[-2, 2], scale ~ logU[0.5, 2], interval [-1, 2], one draw each",
        make_params=lambda n, rng: (
            rng.uniform(-2.0, 2.0, n),
            _log_uniform(rng, 0.5, 2.0, n),
            _full(n, -1.0),
            _full(n, 2.0),
        ),
        bounds=(-1.0, 2.0),
        reference=truncated_normal_dz,
        grid=(_TN_LOCS, np.ones(8), np.full(8, -1.0), np.full(8, 2.0)),
        grid_labels=tuple(f"loc={m:.2g}" for m in _TN_LOCS),
        unusable="f32 draws outside [-1, 2] (worst loc)",
        support=lambda z, m, s, lo, hi: (z >= lo) & (z <= hi),
    ),
    Case(
        key="truncated_normal_tail",
        family="truncated_normal",
        title="Truncated normal on [40, 41] (40 σ out), gradient in loc",
        grad_name="loc",
        draws="loc 0, scale 1, interval [40, 41] for all N draws",
        make_params=lambda n, rng: (_full(n, 0.0), _full(n, 1.0), _full(n, 40.0), _full(n, 41.0)),
        bounds=(40.0, 41.0),
        reference=truncated_normal_dz,
        grid=(np.linspace(-1.0, 1.0, 8), np.ones(8), np.full(8, 40.0), np.full(8, 41.0)),
        grid_labels=tuple(f"loc={m:.2g}" for m in np.linspace(-1.0, 1.0, 8)),
        unusable="f32 draws outside [40, 41] (worst loc)",
        support=lambda z, m, s, lo, hi: (z >= lo) & (z <= hi),
    ),
)

FAMILY_TITLES = {
    "normal": "Normal",
    "gamma": "Gamma",
    "beta": "Beta",
    "dirichlet": "Dirichlet",
    "student_t": "Student-t",
    "von_mises": "von Mises",
    "truncated_normal": "Truncated normal",
}
FAMILIES: dict[str, tuple[Case, ...]] = {}
for _case in CASES:
    FAMILIES.setdefault(_case.family, ())
    FAMILIES[_case.family] += (_case,)
CASE_BY_KEY = {case.key: case for case in CASES}
