"""The table of distribution cases the generic tests run over, and the per-dtype tolerances."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FULL, float32_only, full_only  # noqa: F401 (re-exported)
from scipy import stats

import ml_networks_jax as mnj

X64 = jax.config.jax_enable_x64
DTYPE = jnp.float64 if X64 else jnp.float32

#: Statistical checks (KS, Monte Carlo) test the algorithm, not the precision: the float64 run
#: skips them unless MNJ_FULL=1 (every precision-sensitive check runs in both dtypes).
statistical = pytest.mark.skipif(
    X64 and not FULL, reason="statistical check, run in float32 (MNJ_FULL=1: float64 too)"
)

#: One table of tolerances, keyed by what is compared; the active row follows jax_enable_x64.
TOLERANCES = {
    "float32": {"value": 2e-5, "grad": 2e-4, "grad_atol": 1e-5, "explicit": 1e-5},
    "float64": {"value": 1e-11, "grad": 1e-6, "grad_atol": 1e-9, "explicit": 1e-12},
}
TOL = TOLERANCES["float64" if X64 else "float32"]


def kumaraswamy_cdf(x, a, b):
    return -np.expm1(b * np.log1p(-(x**a)))


class _Kumaraswamy:
    """Enough of a scipy frozen distribution for the tests (scipy has no Kumaraswamy)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def cdf(self, x):
        return kumaraswamy_cdf(np.clip(x, 0, 1), self.a, self.b)

    def ppf(self, p):
        return (-np.expm1(np.log1p(-p) / self.b)) ** (1 / self.a)

    def pdf(self, x):
        a, b = self.a, self.b
        return a * b * x ** (a - 1) * (1 - x**a) ** (b - 1)


@dataclasses.dataclass(frozen=True)
class Case:
    """A family, batched parameter values, and an independent (scipy) reference."""

    name: str
    make: Callable[..., mnj.Distribution]
    params: dict[str, tuple[float, ...]]
    reference: Callable[..., object]  # params -> frozen scipy-like distribution
    location_scale: bool = True  # explicit and implicit reparameterization coincide
    moments: bool = True  # finite mean and variance

    def dist(self, dtype=None, **override) -> mnj.Distribution:
        dtype = DTYPE if dtype is None else dtype
        values = {k: jnp.asarray(override.get(k, v), dtype) for k, v in self.params.items()}
        return self.make(**values)

    def ref(self):
        return self.reference(**{k: np.asarray(v, np.float64) for k, v in self.params.items()})

    def __repr__(self) -> str:
        return self.name


CASES = [
    Case(
        "Normal",
        mnj.Normal,
        {"loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda loc, scale: stats.norm(loc, scale),
    ),
    Case(
        "Laplace",
        mnj.Laplace,
        {"loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda loc, scale: stats.laplace(loc, scale),
    ),
    Case(
        "Logistic",
        mnj.Logistic,
        {"loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda loc, scale: stats.logistic(loc, scale),
    ),
    Case(
        "Gumbel",
        mnj.Gumbel,
        {"loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda loc, scale: stats.gumbel_r(loc, scale),
    ),
    Case(
        "Cauchy",
        mnj.Cauchy,
        {"loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda loc, scale: stats.cauchy(loc, scale),
        moments=False,
    ),
    Case(
        "Uniform",
        mnj.Uniform,
        {"low": (-1.0, 0.5, 3.0), "high": (0.0, 2.0, 10.0)},
        lambda low, high: stats.uniform(low, high - low),
    ),
    Case(
        "Exponential",
        mnj.Exponential,
        {"rate": (0.1, 1.0, 20.0)},
        lambda rate: stats.expon(scale=1 / rate),
    ),
    Case(
        "HalfNormal",
        mnj.HalfNormal,
        {"scale": (0.1, 1.0, 20.0)},
        lambda scale: stats.halfnorm(scale=scale),
    ),
    Case(
        "LogNormal",
        mnj.LogNormal,
        {"loc": (-1.0, 0.0, 2.0), "scale": (0.1, 0.5, 1.0)},
        lambda loc, scale: stats.lognorm(s=scale, scale=np.exp(loc)),
    ),
    Case(
        "Weibull",
        mnj.Weibull,
        {"scale": (0.5, 1.0, 3.0), "concentration": (0.7, 1.5, 5.0)},
        lambda scale, concentration: stats.weibull_min(c=concentration, scale=scale),
    ),
    Case(
        "Kumaraswamy",
        mnj.Kumaraswamy,
        {"concentration1": (0.5, 2.0, 5.0), "concentration0": (0.7, 3.0, 10.0)},
        lambda concentration1, concentration0: _Kumaraswamy(concentration1, concentration0),
    ),
    Case(
        "Gamma",
        mnj.Gamma,
        {"concentration": (0.2, 1.0, 30.0), "rate": (0.5, 1.0, 3.0)},
        lambda concentration, rate: stats.gamma(concentration, scale=1 / rate),
        location_scale=False,
    ),
    Case(
        "InverseGamma",
        mnj.InverseGamma,
        {"concentration": (5.0, 8.0, 30.0), "scale": (0.5, 1.0, 3.0)},
        lambda concentration, scale: stats.invgamma(concentration, scale=scale),
        location_scale=False,
    ),
    Case(
        "Beta",
        mnj.Beta,
        {"concentration1": (0.5, 2.0, 30.0), "concentration0": (0.7, 3.0, 10.0)},
        lambda concentration1, concentration0: stats.beta(concentration1, concentration0),
        location_scale=False,
    ),
    Case(
        "StudentT",
        mnj.StudentT,
        {"df": (4.5, 8.0, 30.0), "loc": (-1.0, 0.5, 3.0), "scale": (0.1, 1.0, 4.0)},
        lambda df, loc, scale: stats.t(df, loc, scale),
    ),
    Case(
        "FisherSnedecor",
        mnj.FisherSnedecor,
        {"df1": (3.0, 5.0, 20.0), "df2": (9.0, 12.0, 30.0)},
        lambda df1, df2: stats.f(df1, df2),
        location_scale=False,
    ),
    Case(
        "VonMises",
        mnj.VonMises,
        # loc = 0: samples live on [-π, π) while scipy's CDF winds around loc (wrapped locations:
        # test_von_mises.py).
        # κ <= 8: scipy's CDF is too coarse above for finite differences (mpmath: test_von_mises).
        {"loc": (0.0, 0.0, 0.0), "concentration": (0.3, 2.0, 8.0)},
        lambda loc, concentration: stats.vonmises(concentration, loc=loc),
        location_scale=False,
        moments=False,  # scipy's var is the linear one; the circular moments: test_von_mises.py
    ),
    Case(
        "TruncatedNormal",
        mnj.TruncatedNormal,
        {
            "loc": (-1.0, 0.5, 3.0),
            "scale": (0.5, 1.0, 2.0),
            "low": (-2.0, 0.0, 4.0),
            "high": (1.0, 3.0, 9.0),
        },
        lambda loc, scale, low, high: stats.truncnorm(
            (low - loc) / scale, (high - loc) / scale, loc, scale
        ),
        location_scale=False,
    ),
    Case(
        "Chi2", mnj.Chi2, {"df": (0.5, 3.0, 40.0)}, lambda df: stats.chi2(df), location_scale=False
    ),
]

# Thin compositions of families tested in full: Chi2 is Gamma(df/2, rate=1/2) (identity checked
# in test_gamma.py), InverseGamma is 1/Gamma, FisherSnedecor a scaled Beta odds ratio (checked in
# test_beta.py). The reduced run leaves them to those checks.
#: Families whose second derivatives compile slowly; their generic second-order check is full-only.
HEAVY_SECOND_ORDER = {"Gamma", "InverseGamma", "Beta", "FisherSnedecor", "StudentT", "VonMises"}
HEAVY_SECOND_ORDER |= {"TruncatedNormal"}
# VonMises and TruncatedNormal have every layer in their own files (test_von_mises.py,
# test_truncated_normal.py, against mpmath); the generic layers repeat them under MNJ_FULL=1.
if not FULL:
    reduced_out = ("Chi2", "InverseGamma", "FisherSnedecor", "VonMises", "TruncatedNormal")
    CASES = [c for c in CASES if c.name not in reduced_out]
CASE_IDS = [c.name for c in CASES]
# Beta and StudentT run their samplers under jit, jvp and vmap of grad in their own files
# (test_beta.py, test_student_t.py, test_special_beta.py); the generic transformation layers
# (jit vs eager, vmap over the pytree, forward vs reverse, NaN in) repeat that under MNJ_FULL=1.
TRANSFORM_CASES = CASES if FULL else [c for c in CASES if c.name not in ("Beta", "StudentT")]
