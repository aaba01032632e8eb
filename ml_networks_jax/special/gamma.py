"""Regularized incomplete gamma functions with accurate derivatives in the shape parameter.

Public functions (elementwise, NumPy broadcasting; the result has the promoted floating dtype of
the inputs, float32 by default and float64 under ``jax_enable_x64``):

* :func:`log_gamma_density` -- ``log q(x; a)`` of the Gamma(a, 1) density at ``x = exp(log_x)``;
  :func:`log_exp_gamma_density` -- ``log(x q(x; a))``, the density of ``log x``.
* :func:`gammainc_log_shape_tangent` -- ``h = (∂P/∂a) / (x q)``: the implicit gradient of a
  log-space Gamma sample is ``d log z/da = -h``.
* :func:`gammainc_log` -- ``P(a, exp(log_x))`` with a ``jax.custom_jvp`` giving ``∂P/∂a``.
* :func:`gammainc` -- ``P(a, x)``; :func:`gammaincc` -- ``Q(a, x) = 1 - P(a, x)`` computed directly.

The shape derivative is what implicit reparameterization of Gamma samples needs (Figurnov, Mohamed
& Mnih 2018): ``dz/da = -(∂P(a, z)/∂a) / q(z; a)``.  All evaluation is branch free: every regime is
evaluated with FIXED term counts on (clamped, "double-where") inputs and the right one is selected
with ``jnp.where``, so the code vectorizes, never loops data-dependently and keeps NaNs out of the
unused branches and of their gradients.

Shared quantities
-----------------
Everything is computed from ``a`` and ``t = log x`` (``x`` may underflow), through ``l = t - log a =
log λ`` with ``λ = x / a`` and ``φ(l) = λ - 1 - log λ = e^l - 1 - l`` (a Taylor series for
``|l| < 1.25``), so that for large ``a`` no catastrophic cancellation occurs:

    log(x q(x; a)) = -a φ(l) + ½ log(a / 2π) - stirlerr(a)           (a >= 1)
                   = a t - x - lgamma(a)                            (a < 1)

with Stirling's error ``stirlerr(a) = lgamma(a) - (a - ½) log a + a - ½ log 2π`` (asymptotic series
for ``a >= 10``).  Every regime writes its ``∂/∂a`` as ``x q(x; a)`` times a well conditioned factor
using this same exponent, so ``dz/da = -(∂P/∂a)/q`` is accurate even in float32 at ``a = 1e4``.

Regimes (``A_T = 10``, ``η = sign(l) sqrt(2 φ(l))``)
----------------------------------------------------
1. Temme's uniform asymptotic expansion, ``a >= A_T`` and ``|η| <= 1`` (i.e. ``0.3 < λ < 2.36``, the
   transition region where the series and the continued fraction converge slowly or cancel):

       Q = ½ erfc(η sqrt(a/2)) + R,  P = ½ erfc(-η sqrt(a/2)) - R,
       R = e^{-aη²/2} / sqrt(2πa) · Σ_{k<K} c_k(η) a^{-k}

   (Temme 1979; Temme 1996 §11.2; DiDonato & Morris 1986 use the same expansion).  The ``c_k`` are
   evaluated as Taylor polynomials in ``η``; their coefficients are generated exactly (rational
   arithmetic) from ``c_0 = 1/μ - 1/η`` and ``c_k = η^{-1} c'_{k-1} + (-1)^k γ_k / μ``
   (``μ = λ - 1``,
   ``γ_k`` the Stirling coefficients of ``Γ*(a)``).  ``∂Q/∂a`` at fixed ``x`` is obtained
   analytically with ``dη/da = -μ/(aη)`` and ``d(aη²/2)/da = -log λ``:

       ∂Q/∂a = R_0 [μ/η - η/2 + S (log λ - 1/(2a)) - (μ/η) S'/a - Σ k c_k a^{-k-1}],
       R_0 = e^{-aη²/2} / sqrt(2πa),  S = Σ c_k a^{-k},  S' = Σ c'_k a^{-k}.

   ``K = 12, deg 27`` (float64) and ``K = 6, deg 13`` (float32).
2. Power series for ``P`` (DiDonato & Morris 1986, eq. 15), when ``a < A_T`` and
   ``x < a + max(c, sqrt a)`` (``c = 2`` in float64, ``1.5`` in float32), or ``a >= A_T`` and
   ``λ <= 0.3``:

       P = x^a e^{-x} / Γ(a+1) · S,   S = Σ_n x^n / ((a+1)...(a+n)),
       ∂P/∂a = x^a e^{-x} / Γ(a+1) · [S (log x - ψ(a+1)) + ∂S/∂a]

   with the term derivatives carried along the recurrence (no cancellation for ``x < a + 1/2`` and a
   bounded, small one up to the threshold).
3. Legendre's continued fraction for ``Q`` otherwise (DiDonato & Morris 1986, eq. 16; Numerical
   Recipes' even form), evaluated backwards with a fixed depth, differentiating the recurrence:

       Q = x^a e^{-x} / Γ(a) / (x+1-a - 1(1-a)/(x+3-a - 2(2-a)/(x+5-a - ...))).

   ``∂Q/∂a`` is obtained from ``Q``'s own expression, so for ``P`` near one ``∂P/∂a = -∂Q/∂a`` is
   never formed as a difference.

The ``jax.custom_jvp`` rule of :func:`gammainc_log` is built from differentiable JAX operations
(``∂P/∂log x = x q(x; a)`` is the density itself), so higher derivatives are obtained by autodiff.

References:
    A. R. DiDonato and A. H. Morris, "Computation of the incomplete gamma function ratios and their
    inverse", ACM TOMS 12(4), 1986.
    N. M. Temme, "The asymptotic expansion of the incomplete gamma functions", SIAM J. Math. Anal.
    10, 1979; N. M. Temme, "Special Functions", Wiley 1996, ch. 11.
    M. Figurnov, S. Mohamed and A. Mnih, "Implicit reparameterization gradients", NeurIPS 2018.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.scipy import special as jsp

from ml_networks_jax._indices import elementwise_in_blocks, nan_unless, on_bucket

__all__ = [
    "gammainc",
    "gammainc_log",
    "gammainc_log_shape_tangent",
    "gammaincc",
    "log_exp_gamma_density",
    "log_gamma_density",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_A_T = 10.0  # Temme / asymptotic-series threshold in a
_L_SWITCH = 1.25  # |log λ| below which φ and friends use Taylor series


@dataclass(frozen=True)
class _Config:
    n_series: int  # terms of the power series for P
    n_cf: int  # depth of the continued fraction for Q
    temme_k: int  # number of Temme coefficients c_k
    temme_deg: int  # Taylor degree of each c_k in η
    temme_scan: bool  # evaluate the c_k in a lax.scan over k (compile size) instead of unrolled
    n_taylor: int  # Taylor terms of e^l-type helpers on |l| < _L_SWITCH
    n_cheb: int  # Chebyshev degree of lgamma(1+f)/f and ψ(1+f) on [0, 1]
    n_dm: int  # terms of DiDonato & Morris' alternating series for Q (a < 1)
    x_small: float  # series iff x < a + max(x_small, sqrt(a)) (a < _A_T)
    eta_max: float  # Temme iff |η| <= eta_max (a >= _A_T)


_CFG64 = _Config(
    n_series=46,
    n_cf=44,
    temme_k=12,
    temme_deg=27,
    temme_scan=True,
    n_taylor=20,
    n_cheb=22,
    n_dm=28,
    x_small=2.0,
    eta_max=1.0,
)
_CFG32 = _Config(
    n_series=30,
    n_cf=24,
    temme_k=6,
    temme_deg=13,
    temme_scan=False,
    n_taylor=11,
    n_cheb=11,
    n_dm=14,
    x_small=1.5,
    eta_max=1.0,
)

# Bernoulli numbers B_2, B_4, ..., B_30.
_BERNOULLI = [
    Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
    Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798),
    Fraction(-174611, 330), Fraction(854513, 138), Fraction(-236364091, 2730),
    Fraction(8553103, 6), Fraction(-23749461029, 870), Fraction(8615841276005, 14322),
]  # fmt: skip


@functools.cache
def _temme_coefficients(k_max: int, deg: int) -> np.ndarray:
    """Taylor coefficients ``d[k, n]`` of Temme's ``c_k(η) = Σ_n d[k, n] η^n``, exactly."""
    m0 = deg + 2 * k_max + 2
    # μ(η) = Σ m_i η^i from μ μ' = η (1 + μ) (since η²/2 = μ - log(1 + μ)).
    m = [Fraction(0)] * (m0 + 3)
    m[1] = Fraction(1)
    for n in range(2, m0 + 3):
        s = sum((m[i] * (n + 1 - i) * m[n + 1 - i] for i in range(2, n)), Fraction(0))
        m[n] = (m[n - 1] - s) / (n + 1)
    # r(η) = η / μ(η).
    u = [m[i + 1] for i in range(m0 + 2)]
    r = [Fraction(0)] * (m0 + 2)
    r[0] = Fraction(1)
    for n in range(1, m0 + 2):
        r[n] = -sum((u[j] * r[n - j] for j in range(1, n + 1)), Fraction(0))
    # Stirling coefficients: Γ*(a) = exp(Σ_j B_2j / (2j (2j-1) a^(2j-1))) = Σ_k γ_k a^-k.
    ls = [Fraction(0)] * (k_max + 1)
    for j, b in enumerate(_BERNOULLI, start=1):
        if 2 * j - 1 <= k_max:
            ls[2 * j - 1] = b / (2 * j * (2 * j - 1))
    g = [Fraction(0)] * (k_max + 1)
    g[0] = Fraction(1)
    for n in range(1, k_max + 1):
        g[n] = sum((k * ls[k] * g[n - k] for k in range(1, n + 1)), Fraction(0)) / n
    # c_0 = 1/μ - 1/η = (r - 1)/η ;  c_k = (c'_{k-1} + (-1)^k γ_k r) / η.
    c = [[r[n + 1] for n in range(m0)]]
    for k in range(1, k_max):
        prev = c[-1]
        sk = (-1) ** k * g[k]
        assert prev[1] + sk == 0  # the η^-1 terms cancel
        c.append([(n + 2) * prev[n + 2] + sk * r[n + 1] for n in range(len(prev) - 2)])
    return np.array([[float(v) for v in ck[: deg + 1]] for ck in c])


def _cfg(dtype) -> _Config:
    return _CFG64 if jnp.dtype(dtype) == jnp.float64 else _CFG32


def _poly(coeffs, x):
    """Horner evaluation of Σ coeffs[i] x^i (python-unrolled)."""
    acc = jnp.zeros_like(x) + coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = acc * x + c
    return acc


def _temme_sums(eta, u, cfg, need_da):
    """Temme's S = Σ_k c_k(η) u^k and, if need_da, S' = Σ_k c'_k(η) u^k and Σ_k k c_k(η) u^k, by
    Horner's rule in u (k from K - 1 down), each c_k and c'_k by Horner's rule in η."""
    k_max, deg = cfg.temme_k, cfg.temme_deg
    coef = _temme_coefficients(k_max, deg)
    # One row per k, taken from k = K - 1 down: the coefficients of c_k, those of c'_k, and k.
    dcoef = coef[:, 1:] * np.arange(1, deg + 1)
    rows = np.concatenate([coef, dcoef, np.arange(k_max)[:, None]], axis=1)[::-1]

    def step(sums, row):
        ck = _poly(row[: deg + 1], eta)
        if not need_da:
            return sums * u + ck, None
        s, s1, s2 = sums
        dck = _poly(row[deg + 1 : 2 * deg + 1], eta)
        return (s * u + ck, s1 * u + dck, s2 * u + row[-1] * ck), None

    zero = jnp.zeros_like(eta)
    sums = (zero, zero, zero) if need_da else zero
    if cfg.temme_scan:
        # A loop over k keeps the compiled kernels small.  Unrolled, the float64 table (12 chains
        # of degree 27, twice with need_da) put ~700 multiply-adds into one straight-line block per
        # element, fused with the rest of _core, and LLVM (post-RA scheduling) needed > 10 GB to
        # compile e.g. jit(vmap(grad)) over a 9-element batch.  float32 (6 chains of degree 13)
        # stays unrolled: it compiles in < 0.3 GB, and as a scan its vmap(grad) ran 2.5x slower.
        sums = jax.lax.scan(step, sums, jnp.asarray(rows, eta.dtype))[0]
    else:
        for row in rows:
            sums = step(sums, [float(v) for v in row])[0]
    return sums if need_da else (sums, None, None)


# Chebyshev coefficients (in T_k(2f - 1), f in [0, 1]) of lgamma(1 + f)/f and ψ(1 + f), computed
# with mpmath at 40 digits by interpolation at Chebyshev points (degree 22: max error ~2e-17).
_CHEB_LG1P = [
    -0.2647362369323025, 0.28587285859139466, -0.0235145763321575, 0.002685079974656731,
    -0.0003497552715727561, 4.880755320003236e-05, -7.098358790485804e-06, 1.060746616681459e-06,
    -1.6155933858435658e-07, 2.4955218012272827e-08, -3.896697345119788e-09, 6.137352658308378e-10,
    -9.734966110649396e-11, 1.5533015630980043e-11, -2.4909467297324567e-12,
    4.0120228240690897e-13, -6.486576014785446e-14, 1.0522714222229822e-14,
    -1.7121447861436083e-15, 2.7933134215621614e-16, -4.5682680603604713e-17,
    7.487528379346024e-18, -1.2296681078206545e-18,
]  # fmt: skip
_CHEB_PSI1P = [
    -0.01902854041760896, 0.49141539302938714, -0.05681574782124473, 0.008357821225914313,
    -0.0013332328579943426, 0.00022031328706930824, -3.704023817845688e-05, 6.28379365485499e-06,
    -1.071263908506185e-06, 1.8312839465484164e-07, -3.135350936180851e-08, 5.372808776200777e-09,
    -9.211681415978428e-10, 1.5798126521481822e-10, -2.7098646132380443e-11,
    4.648722859909681e-12, -7.975272563830237e-13, 1.3682723857469278e-13,
    -2.3475156060209325e-14, 4.0276307129396225e-15, -6.910251700370475e-16,
    1.1856038236090314e-16, -2.0341170724578538e-17,
]  # fmt: skip


def _clenshaw(coeffs, s):
    """Σ coeffs[k] T_k(s) (python-unrolled Clenshaw recurrence)."""
    b1 = jnp.zeros_like(s)
    b2 = jnp.zeros_like(s)
    for c in coeffs[:0:-1]:
        b1, b2 = 2.0 * s * b1 - b2 + c, b1
    return s * b1 - b2 + coeffs[0]


def _lgamma1p_digamma1p(a, n_cheb):
    """(lgamma(1 + a), ψ(1 + a)) for 0 < a < _A_T: Chebyshev fits on [0, 1) plus the recurrence
    Γ(1 + f + n) = Γ(1 + f) Π_{j<=n} (f + j); relative accuracy for lgamma(1 + a) as a -> 0."""
    n = jnp.clip(jnp.floor(a), 0.0, _A_T - 1.0)
    f = a - n
    s = 2.0 * f - 1.0
    lg = f * _clenshaw(_CHEB_LG1P[: n_cheb + 1], s)
    psi = _clenshaw(_CHEB_PSI1P[: n_cheb + 1], s)
    den = jnp.ones_like(a)
    num = jnp.zeros_like(a)
    for j in range(1, int(_A_T)):
        m = n >= j
        fj = f + j
        num = jnp.where(m, num * fj + den, num)
        den = jnp.where(m, den * fj, den)
    return lg + jnp.log(den), psi + num / den


def _stirlerr_big(a):
    """lgamma(a) - (a - ½) log a + a - ½ log 2π for a >= _A_T (callers clamp a)."""
    u = 1.0 / a
    coeffs = [float(b / (2 * j * (2 * j - 1))) for j, b in enumerate(_BERNOULLI[:8], start=1)]
    return u * _poly(coeffs, u * u)


def _log_minus_digamma_big(a):
    """log a - ψ(a) for a >= _A_T (asymptotic series; callers pass a clamped a)."""
    u = 1.0 / a
    u2 = u * u
    coeffs = [0.0] + [float(b / (2 * j)) for j, b in enumerate(_BERNOULLI[:7], start=1)]
    return 0.5 * u + _poly(coeffs, u2)


def _phi_parts(l, n_taylor):
    """Return (w, e1, φ) with w = 2φ/l², e1 = expm1(l)/l, φ = e^l - 1 - l, smooth in l."""
    small = jnp.abs(l) < _L_SWITCH
    ls = jnp.where(small, l, 0.0)
    w = _poly([2.0 / math.factorial(j + 2) for j in range(n_taylor)], ls)
    e1 = _poly([1.0 / math.factorial(j + 1) for j in range(n_taylor)], ls)
    lb = jnp.where(small, 1.0, l)
    phi = jnp.where(small, 0.5 * ls * ls * w, jnp.expm1(lb) - lb)
    return w, e1, phi


def _shared(a, t, l, cfg):
    """Quantities shared by the density and all regimes (a > 0 finite, t finite)."""
    w, e1, phi = _phi_parts(l, cfg.n_taylor)
    big = a >= _A_T
    a_big = jnp.where(big, a, _A_T)
    a_sm = jnp.where(big, 1.0, a)
    lg1p, psi1p = _lgamma1p_digamma1p(a_sm, cfg.n_cheb)
    # Stirling's error term (only used for a >= 1).
    st = jnp.where(
        big,
        _stirlerr_big(a_big),
        lg1p - (a_sm + 0.5) * jnp.log(a_sm) + a_sm - _HALF_LOG_2PI,
    )
    # log(x q(x; a)): direct for a < 1, through φ(log λ) for a >= 1.
    small = a < 1.0
    t_s = jnp.where(small, t, 0.0)
    u_small = a_sm * t_s - lg1p  # log(x^a / Γ(a + 1)), a < 1
    direct = u_small - jnp.exp(t_s) + jnp.log(a_sm)
    a_b = jnp.where(small, 1.0, a)
    phi_b = jnp.where(small, 0.0, phi)
    stirling = -a_b * phi_b + 0.5 * jnp.log(a_b) - _HALF_LOG_2PI - jnp.where(small, 0.0, st)
    log_xq = jnp.where(small, direct, stirling)
    return dict(
        w=w, e1=e1, phi=phi, big=big, a_big=a_big, a_sm=a_sm, psi1p=psi1p, st=st,
        u_small=u_small, log_xq=log_xq,
    )  # fmt: skip


def _prepare(a, t):
    """Validity masks, clamped inputs and l = log(x / a)."""
    dtype = a.dtype
    valid_a = (a > 0) & jnp.isfinite(a)
    a_c = jnp.where(valid_a, a, 1.0)
    t_fin = jnp.isfinite(t)
    t_c = jnp.where(t_fin, t, 0.0)
    log_a = jnp.log(a_c)
    # Beyond λ = e^60 the result is exactly P = 1 in every floating type; clamp to keep exp finite.
    t_max = 80.0 if dtype == jnp.float32 else 700.0
    huge = (t_c - log_a > 60.0) | (t_c > t_max)
    t_c = jnp.where(huge, jnp.minimum(log_a, t_max - 60.0), t_c)
    return valid_a, a_c, t_c, huge, t_c - log_a


def _core(a, t_in, need_da):
    """Return (P, Q, h or None, log(x q), valid_a) for same-shape float arrays a, t_in = log x,
    where h = (∂P/∂a) / (x q(x; a)) is the shape derivative per unit density of log x.  Eager
    calls compile one program per bucketed length (:func:`on_bucket`) instead of dispatching
    thousands of small ops; under an outer jit, vmap or autodiff it is inlined like any other
    function."""
    return on_bucket(functools.partial(_core_flat, need_da=need_da), (a, t_in), (1.0, 0.0))


@functools.partial(jax.jit, static_argnames="need_da")
def _core_flat(a, t_in, need_da):
    """:func:`_core` on 1-D arrays.  Long arrays in blocks: every regime runs on every element,
    so a block's temporaries are many."""
    fn = functools.partial(_core_elementwise, need_da=need_da)
    return elementwise_in_blocks(fn, (a, t_in), (1.0, 0.0))


def _core_elementwise(a, t_in, need_da):
    """:func:`_core` on arrays of any length."""
    cfg = _cfg(a.dtype)
    valid_a, a, t, huge, l = _prepare(a, t_in)
    t_fin = jnp.isfinite(t_in)
    sh = _shared(a, t, l, cfg)
    phi, big, a_big, a_sm = sh["phi"], sh["big"], sh["a_big"], sh["a_sm"]
    log_xq = sh["log_xq"]
    xq = jnp.exp(log_xq)
    x = jnp.exp(t)

    use_temme = big & (phi <= 0.5 * cfg.eta_max**2)
    x_split = a + jnp.maximum(cfg.x_small, jnp.sqrt(a))
    use_series = jnp.where(big, l < 0.0, x < x_split) & ~use_temme
    use_cf = ~use_series & ~use_temme

    # log x - ψ(a + 1) and log x - ψ(a) = log x - ψ(a + 1) + 1/a.
    tpsi1 = jnp.where(big, l + _log_minus_digamma_big(a_big) - 1.0 / a_big, t - sh["psi1p"])
    tpsi0 = tpsi1 + 1.0 / a

    # --- 2. power series for P (and, for a < 1, DiDonato & Morris' direct form of Q).
    xs = jnp.where(use_series, x, 0.0)
    term = jnp.ones_like(xs)
    ssum = term
    dterm = jnp.zeros_like(xs)
    dsum = dterm
    small_q = use_series & (a < 1.0)
    xj = jnp.where(small_q, xs, 0.0)
    jterm = jnp.ones_like(xs)  # (-x)^n / n!
    jsum = jnp.zeros_like(xs)  # Σ_{n>=1} (-x)^n / (n! (a + n))
    for n in range(1, cfg.n_series + 1):
        inv = 1.0 / (a + n)  # off the loop-carried chain: cheap
        r = xs * inv
        if need_da:
            dterm = (dterm - term * inv) * r
            dsum = dsum + dterm
        term = term * r
        ssum = ssum + term
        if n <= cfg.n_dm:
            jterm = jterm * xj * (-1.0 / n)
            jsum = jsum + jterm * inv
    small = a < 1.0
    log_pref = jnp.where(small, sh["u_small"] - x, log_xq - jnp.log(a))
    p_series = jnp.exp(log_pref) * ssum
    eu = jnp.exp(sh["u_small"])
    q_dm = -jnp.expm1(sh["u_small"]) - eu * a_sm * jsum
    q_series = jnp.where(small_q & (p_series > 0.5), q_dm, 1.0 - p_series)

    # --- 3. continued fraction for Q, evaluated backwards as a ratio num/den (no division/step).
    cf_ok = use_cf & (x < 1e6)  # beyond, Q underflows: any finite stand-in works
    xc = jnp.where(cf_ok, x, 10.0)
    ac = jnp.where(cf_ok, a, 1.0)
    num = xc + (2 * cfg.n_cf + 1) - ac
    den = jnp.ones_like(num)
    dnum = -jnp.ones_like(num)
    dden = jnp.zeros_like(num)
    for i, n in enumerate(range(cfg.n_cf, 0, -1)):
        an = n * (n - ac)
        b = xc + (2 * n - 1) - ac
        if need_da:
            dnum, dden = b * dnum - num + n * den - an * dden, dnum
        num, den = b * num - an * den, num
        if i % 3 == 2:
            sc = jax.lax.stop_gradient(1.0 / num)
            num, den = num * sc, den * sc
            if need_da:
                dnum, dden = dnum * sc, dden * sc
    inv_num = 1.0 / num
    cf = den * inv_num  # 1 / (x + 1 - a - ...)
    q_cf = xq * cf

    # --- 1. Temme's uniform expansion.
    lt = jnp.where(use_temme, l, 0.0)
    at = jnp.where(use_temme, a, _A_T)
    wt = jnp.where(use_temme, sh["w"], 1.0)
    e1t = jnp.where(use_temme, sh["e1"], 1.0)
    phit = jnp.where(use_temme, phi, 0.0)
    sw = jnp.sqrt(wt)
    eta = lt * sw
    mu_eta = e1t / sw
    u = 1.0 / at
    s_t, s1, s2 = _temme_sums(eta, u, cfg, need_da)
    r0 = jnp.exp(-at * phit - 0.5 * jnp.log(at) - _HALF_LOG_2PI)
    y = eta * jnp.sqrt(0.5 * at)
    e_abs = jsp.erfc(jnp.abs(y))
    erfc_y = jnp.where(y >= 0, e_abs, 2.0 - e_abs)
    erfc_my = jnp.where(y >= 0, 2.0 - e_abs, e_abs)
    q_t = 0.5 * erfc_y + r0 * s_t
    p_t = 0.5 * erfc_my - r0 * s_t

    p = jnp.where(use_series, p_series, jnp.where(use_cf, 1.0 - q_cf, p_t))
    q = jnp.where(use_series, q_series, jnp.where(use_cf, q_cf, q_t))

    h = None
    if need_da:
        # Every regime writes ∂P/∂a = x q(x; a) · h with a well conditioned h.
        h_series = (tpsi1 * ssum + dsum) / a
        h_cf = (dnum * den - num * dden) * inv_num * inv_num - tpsi0 * cf
        g = mu_eta - 0.5 * eta + s_t * (lt - 0.5 * u) - u * (mu_eta * s1 + s2)
        h_temme = -jnp.exp(jnp.where(use_temme, sh["st"], 0.0)) * u * g
        h = jnp.where(use_series, h_series, jnp.where(use_cf, h_cf, h_temme))
        h = jnp.where(huge | ~t_fin | ~valid_a, 0.0, h)

    # Limits and invalid input.
    p = jnp.where(huge, 1.0, p)
    q = jnp.where(huge, 0.0, q)
    p = jnp.where(t_fin, p, jnp.where(t_in > 0, 1.0, 0.0))
    q = jnp.where(t_fin, q, jnp.where(t_in > 0, 0.0, 1.0))
    log_xq = jnp.where(huge | ~t_fin, -jnp.inf, log_xq)
    return p, q, h, log_xq, valid_a


def _promote(*args):
    dtype = jnp.result_type(*args)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    compute = dtype if dtype in (jnp.float32, jnp.float64) else jnp.float32
    arrs = jnp.broadcast_arrays(*[jnp.asarray(x, compute) for x in args])
    return dtype, arrs


@jax.jit
def _log_xq_public(a, t):
    """log(x q(x; a)) with the same masks as _core (differentiable)."""
    cfg = _cfg(a.dtype)
    valid_a = (a > 0) & jnp.isfinite(a)
    a_c = jnp.where(valid_a, a, 1.0)
    t_fin = jnp.isfinite(t)
    t_c = jnp.where(t_fin, t, 0.0)
    l = t_c - jnp.log(a_c)
    return _shared(a_c, t_c, l, cfg)["log_xq"], valid_a, t_fin


def log_gamma_density(a, log_x):
    """Log density of Gamma(a, 1) at ``x = exp(log_x)``: ``(a-1) log_x - x - lgamma(a)``.

    Computed as ``-a φ(log λ) + ½ log(a/2π) - stirlerr(a) - log_x``
    (``λ = x/a``, ``φ(l) = e^l - 1 - l``)
    for ``a >= 1`` and directly for ``a < 1``, so it is exact for large ``a`` and never needs ``x``
    itself.  ``log_x = -inf`` gives the limit (``+inf``, ``0``, ``-inf`` for ``a <, =, > 1``).
    ``a <= 0`` gives NaN.  Plain autodiff through it is correct to any order.
    """
    dtype, (a, t) = _promote(a, log_x)
    lxq, valid_a, t_fin = _log_xq_public(a, t)
    t_s = jnp.where(t_fin, t, 0.0)
    out = lxq - t_s
    lim0 = jnp.where(a < 1, jnp.inf, jnp.where(a == 1, 0.0, -jnp.inf))
    out = jnp.where(t_fin, out, jnp.where(t > 0, -jnp.inf, lim0))
    return nan_unless(valid_a & ~jnp.isnan(t), out).astype(dtype)


def log_exp_gamma_density(a, log_x):
    """Log density of ``u = log x`` for ``x ~ Gamma(a, 1)``: ``a u - e^u - lgamma(a)``, at
    ``u = log_x``.

    Same evaluation as :func:`log_gamma_density` (``= log_gamma_density(a, log_x) + log_x``) without
    the rounding of that last addition; ``log_x = ±inf`` gives ``-inf``.
    """
    dtype, (a, t) = _promote(a, log_x)
    lxq, valid_a, t_fin = _log_xq_public(a, t)
    out = jnp.where(t_fin, lxq, -jnp.inf)
    return nan_unless(valid_a & ~jnp.isnan(t), out).astype(dtype)


def gammainc_log_shape_tangent(a, log_x):
    """``h = (∂P/∂a) / (x q(x; a))`` at ``x = exp(log_x)``: the shape derivative of ``P(a, x)`` per
    unit density of ``log x``.

    ``x q(x; a) = exp(log_exp_gamma_density(a, log_x))``, so the implicit gradient of a log-space
    Gamma sample ``u = log z`` is ``du/da = -h``, with no division by a density that may underflow.
    Differentiable (autodiff through the series, which second derivatives use).

    Example:
        >>> from ml_networks_jax.special import gammainc_log_shape_tangent
        >>> # (∂P(1, x)/∂a) / (x e^-x) at x = 1
        >>> round(float(gammainc_log_shape_tangent(1.0, 0.0)), 5)
        -1.17356
    """
    dtype, (a, t) = _promote(a, log_x)
    _, _, h, _, valid_a = _core(a, t, need_da=True)
    return nan_unless(valid_a & ~jnp.isnan(t), h).astype(dtype)


def _incomplete_gamma_jvp(upper, primals, tangents):
    """JVP of P (or Q = 1 - P when ``upper``) in (a, t = log x): x q · (h da + dt)."""
    a, t = primals
    a_dot, t_dot = tangents
    need_da = not isinstance(a_dot, SymbolicZero)
    # Value and derivative in two passes: XLA fuses each into a few loops, but not both together.
    p, q, _, log_xq, valid_a = _core(a, t, need_da=False)
    h = None
    if need_da:
        # The barrier orders the derivative pass after the value pass: merged into one fusion,
        # the two made LLVM's float64 compile of a batched JVP need more than 8 GB of memory.
        a_d, t_d, _ = jax.lax.optimization_barrier((a, t, p))
        h = _core(a_d, t_d, need_da=True)[2]
    bad = ~valid_a | jnp.isnan(t)
    # NaN coefficients (not a NaN select) so that reverse mode propagates NaN too.
    dens = nan_unless(~bad, jnp.exp(log_xq))
    rate = jnp.zeros_like(p)
    if need_da:
        rate = rate + jnp.where(bad, 0.0, h) * jnp.asarray(a_dot, p.dtype)
    if not isinstance(t_dot, SymbolicZero):
        rate = rate + jnp.asarray(t_dot, p.dtype)
    value = nan_unless(~bad, q if upper else p)
    return value, (-dens if upper else dens) * rate


@jax.custom_jvp
def _gammainc_log(a, t):
    p, _, _, _, valid_a = _core(a, t, need_da=False)
    return nan_unless(valid_a & ~jnp.isnan(t), p)


@jax.custom_jvp
def _gammaincc_log(a, t):
    _, q, _, _, valid_a = _core(a, t, need_da=False)
    return nan_unless(valid_a & ~jnp.isnan(t), q)


_gammainc_log.defjvp(functools.partial(_incomplete_gamma_jvp, False), symbolic_zeros=True)
_gammaincc_log.defjvp(functools.partial(_incomplete_gamma_jvp, True), symbolic_zeros=True)


def gammainc_log(a, log_x):
    """Regularized lower incomplete gamma ``P(a, exp(log_x))``, accurate when ``exp(log_x)``
    underflows; differentiable in both arguments with an accurate ``∂P/∂a`` (see module doc)."""
    dtype, (a, t) = _promote(a, log_x)
    return _gammainc_log(a, t).astype(dtype)


def _at_x(fn, at_zero, a, x):
    """``fn(a, log x)`` for ``x > 0``, ``at_zero`` at ``x = 0`` (``a > 0``), NaN for ``x < 0``."""
    dtype, (a, x) = _promote(a, x)
    pos = x > 0
    value = fn(a, jnp.log(jnp.where(pos, x, 1.0)))
    value = jnp.where(pos, value, at_zero)
    return nan_unless(pos | ((x == 0) & (a > 0)), value).astype(dtype)


def gammainc(a, x):
    """Regularized lower incomplete gamma ``P(a, x)``; ``x = 0`` gives 0, ``x < 0`` NaN."""
    return _at_x(_gammainc_log, 0.0, a, x)


def gammaincc(a, x):
    """Regularized upper incomplete gamma ``Q(a, x) = 1 - P(a, x)``, computed directly (accurate
    when ``Q`` is tiny); ``x = 0`` gives 1, ``x < 0`` NaN; accurate ``∂Q/∂a``."""
    return _at_x(_gammaincc_log, 1.0, a, x)
