"""The von Mises CDF with an accurate derivative in the concentration, and Bessel-ratio helpers.

Public functions (elementwise, NumPy broadcasting; the result has the promoted floating dtype of
the inputs, float32 by default and float64 under ``jax_enable_x64``):

* :func:`von_mises_cdf` -- ``F(x; κ)`` of the von Mises law with location 0, extended by
  ``F(x + 2π) = F(x) + 1`` (the convention of SciPy and TFP), with a ``jax.custom_jvp`` in both
  ``x`` and ``κ``.
* :func:`von_mises_cdf_concentration_tangent` -- ``h = (∂F/∂κ) / q(x; κ)``: the implicit gradient
  of a sample is ``dz/dκ = -h``, with no division by a density that may underflow.
* :func:`von_mises_log_prob` -- ``log q(x; κ) = κ (cos x - 1) - log(2π I0e(κ))``.
* :func:`log_i0e`, :func:`log_i0` -- ``log(e^-κ I0(κ))`` and ``log I0(κ)``;
  :func:`bessel_ratio` -- ``A(κ) = I1(κ)/I0(κ)``; :func:`one_minus_bessel_ratio` -- ``1 - A(κ)``
  without cancellation for large ``κ`` (it is ``≈ 1/(2κ)``).

Density and CDF
---------------
``q(θ; κ) = exp(κ cos θ) / (2π I0(κ))`` on ``[-π, π)``. By symmetry ``F(x) = 1 - F(-x)``, so only
the lower tail ``T(x) = F(x)`` for ``x ∈ [-π, 0]`` is computed and ``F(x) = 1 - T(-x)`` for
``x > 0``; ``min(F, 1 - F) = T(-|x|)`` keeps full relative accuracy. With ``a = 2κ sin²(x/2)`` and
``W = 2κ cos²(x/2)`` (``a + W = 2κ``) and ``w = κ(cos x - cos θ)`` as the variable,

    T(x) = q(x) · J0,     J_m = ∫_0^W w^m e^{-w} / sqrt((a + w)(W - w)) dw,      (outer)
    T(x) = 1/2 - ∫_x^0 q(θ) dθ                                                  (inner)

and with ``∂q/∂κ = (cos θ - A) q`` the concentration derivative divided by the density is

    h = (∂T/∂κ)/q(x) = (1 - A) J0 - (a J0 + J1)/κ                               (outer)
    h = -e^{a} [(1 - A) M0 - M1/κ],  M_m = ∫_x^0 v^m e^{-v} dθ, v = κ(1 - cos θ)  (inner)

Both are evaluated with ONE fixed Gauss–Legendre rule of ``n`` nodes whose mapping is chosen per
element (branch free, ``jnp.where`` with double-where guards), with ``y² = w`` (or ``y² = v``) so
the weight is always ``e^{-y²}``:

1. Inner (``|x| <= π/2`` and ``a <= a₀``): ``y = sqrt(2κ) sin(θ/2) ∈ [0, sqrt a]``,
   ``dθ = 2 dy / sqrt(2κ - y²)``; smooth, the singularity ``y = sqrt(2κ)`` is far away.
2. Outer (otherwise): ``w = y²`` and ``y = sqrt(W)(1 - t²)`` remove both endpoint singularities:
   ``J0 = ∫ e^{-y²} 2y (a + y²)^{-1/2} (sqrt W + y)^{-1/2} 2 W^{1/4} dt``; the range is truncated
   to ``y² <= L`` (relative truncation error ``< e^{-L}``), which for large ``W`` narrows ``t``
   to ``[t_L, 1]``. The factor ``y/sqrt(a + y²)`` is smooth because ``a > a₀`` (or
   ``a >= W``) there.

``n = 30, a₀ = 2, L = 38`` in float64, ``n = 14, a₀ = 2, L = 16`` in float32 (``a₀`` small
enough that ``1/2 - ∫`` loses at most a factor ~20 of relative accuracy in the inner rule).
The same rule is used
for every ``κ`` and ``x``: there is no switch between series and asymptotic expansions, hence no
accuracy jump (TFP's Hill-series/normal switch at ``κ = 10.5`` loses six digits in float64).
``W`` is computed from ``x + π`` with a two-term ``π`` so the far tail near ``x = -π`` keeps its
relative accuracy. All errors are relative errors of the smaller tail ``min(F, 1 - F)`` and of
``h``; the only loss is the conditioning of ``T`` in its inputs (``∂ log T/∂ log κ ≈ -a``).

Bessel functions
----------------
``I0e`` comes from ``jax.scipy.special`` (Cephes Chebyshev fits; relative error ``< 5e-16`` in
float64 and ``< 3e-7`` in float32 over ``[1e-3, 3e4]``, checked against mpmath). ``1 - A(κ)``
would cancel in ``1 - I1e/I0e`` (``≈ 1/(2κ)``): below ``κ_A`` (25 in float64, 12 in float32) it
comes from the backward recurrence ``d_n = (2n - κ d_{n+1}) / (2n + κ - κ d_{n+1})`` for
``d_n = 1 - I_n/I_{n-1}`` (56 / 28 terms), above from the quotient of the Hankel asymptotic series
``e^{-κ} I_ν(κ) sqrt(2πκ) ~ Σ_k (-1)^k a_k(ν) κ^{-k}``, ``a_k(ν) = Π_{j<=k} (4ν² - (2j-1)²) /
(k! 8^k)``, with the difference ``a_k(0) - a_k(1)`` formed exactly (22 / 14 terms). Measured
relative error of ``1 - A``: ``1.1e-15`` (float64) and ``2.8e-7`` (float32) on ``[1e-3, 3e4]``.

References:
    G. W. Hill, "Algorithm 518: Incomplete Bessel function I0. The von Mises distribution",
    ACM TOMS 3 (1977) 279-284 (the series and asymptotic approach this module replaces).
    M. Abramowitz & I. Stegun, Handbook of Mathematical Functions, 9.7.1 (Hankel expansion).
    M. Figurnov, S. Mohamed & A. Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018
    (the von Mises CDF derivative is their motivating example).
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
from ml_networks_jax.special.gamma import _promote

_TWO_PI = 2.0 * math.pi
_LOG_2PI = math.log(_TWO_PI)
_PI_LO64 = 1.2246467991473532e-16  # π - fl64(π)


@dataclass(frozen=True)
class _Config:
    nodes: int  # Gauss–Legendre nodes of the single quadrature rule
    a_inner: float  # inner rule iff |x| <= π/2 and a = 2κ sin²(x/2) <= a_inner
    cut: float  # outer rule truncated to w = y² <= cut (relative error < e^-cut)
    k_asym: float  # 1 - A(κ) from the asymptotic series for κ >= k_asym
    n_asym: int  # terms of that series
    n_recur: int  # terms of the backward recurrence for 1 - A(κ) below k_asym


_CFG64 = _Config(nodes=30, a_inner=2.0, cut=38.0, k_asym=25.0, n_asym=22, n_recur=56)
_CFG32 = _Config(nodes=14, a_inner=2.0, cut=16.0, k_asym=12.0, n_asym=14, n_recur=28)


def _cfg(dtype) -> _Config:
    return _CFG64 if jnp.dtype(dtype) == jnp.float64 else _CFG32


@functools.cache
def _gauss_legendre(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(1 - ξ_i, w_i)`` of the n-point Gauss–Legendre rule on [-1, 1]."""
    xi, w = np.polynomial.legendre.leggauss(n)
    return tuple(float(v) for v in 1.0 - xi), tuple(float(v) for v in w)


@functools.cache
def _hankel(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients (in u = 1/κ) of ``sqrt(2πκ) I0e(κ)`` and of ``sqrt(2πκ) (I0e - I1e)(κ)``."""

    def a(k: int, nu: int) -> Fraction:
        p = Fraction(1)
        for j in range(1, k + 1):
            p *= 4 * nu * nu - (2 * j - 1) ** 2
        return p / (math.factorial(k) * 8**k)

    p0 = tuple(float((-1) ** k * a(k, 0)) for k in range(n))
    pd = tuple(float((-1) ** k * (a(k, 0) - a(k, 1))) for k in range(n))
    return p0, pd


def _poly(coeffs, x):
    """Horner evaluation of Σ coeffs[i] x^i (python-unrolled)."""
    acc = jnp.zeros_like(x) + coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = acc * x + c
    return acc


def _bessel(kappa, cfg):
    """``(log I0e(κ), A(κ), 1 - A(κ))`` for finite ``κ > 0`` (callers clamp)."""
    i0 = jsp.i0e(kappa)
    big = kappa >= cfg.k_asym
    u = 1.0 / jnp.where(big, kappa, cfg.k_asym)
    p0, pd = _hankel(cfg.n_asym)
    # κ < κ_A: backward recurrence for d_n = 1 - I_n/I_{n-1} (from r_n = κ/(2n + κ r_{n+1})),
    #   d_n = (2n - κ d_{n+1}) / (2n + κ - κ d_{n+1}),  d_{N+1} = 1,
    # free of the cancellation in 1 - I1e/I0e (the truncation error is ~(I_N/I_0)²).
    ks = jnp.where(big, cfg.k_asym, kappa)
    d = jnp.ones_like(kappa)

    def recur(i, d):
        two_n = 2.0 * (cfg.n_recur - i)
        kd = ks * d
        return (two_n - kd) / (two_n + ks - kd)

    d = jax.lax.fori_loop(0, cfg.n_recur, recur, d)  # a loop: quicker to compile, as fast
    one_minus = jnp.where(big, u * _poly(pd[1:], u) / _poly(p0, u), d)
    # A itself: 1 - d cancels for small κ (A ≈ κ/2); there I1e/I0e is exact to a few ulps.
    small = kappa < 1.0
    ratio = jnp.where(small, jsp.i1e(jnp.where(small, kappa, 1.0)) / i0, 1.0 - one_minus)
    return jnp.log(i0), ratio, one_minus


@functools.cache
def _sin_coefficients(n: int) -> tuple[float, ...]:
    """Taylor coefficients of ``sin(x)/x`` in ``x²``: ``(-1)^j / (2j + 1)!``."""
    return tuple((-1) ** j / math.factorial(2 * j + 1) for j in range(n))


def sin_quarter(x):
    """``sin(x)`` for ``|x| <= π/2`` by its Taylor polynomial (relative error < 1 ulp).

    XLA's CPU ``sin`` is a scalar library call, ~20x slower than this vectorized polynomial; the
    relative accuracy near 0 is that of the leading term. Degree 15 (float32) or 25 (float64).
    """
    n = 13 if x.dtype == jnp.float64 else 8
    return x * _poly(_sin_coefficients(n), x * x)


def _split_pi(dtype):
    """π as ``hi + lo`` in ``dtype`` (``hi`` rounded, ``lo`` the remainder)."""
    hi = np.asarray(math.pi, dtype)
    lo = np.asarray((math.pi - float(hi)) + _PI_LO64, dtype)
    return hi, lo


def _core(x, kappa, need_h=True):
    """``(F, h, log q, valid)`` for same-shape float arrays ``x`` and ``κ``.

    ``F`` is the CDF with windings, ``h = (∂F/∂κ)/q(x)``, ``log q`` the log density.  Eager
    calls compile one program per bucketed length (:func:`on_bucket`); inlined under an outer
    jit, vmap or autodiff.
    """
    return on_bucket(functools.partial(_core_flat, need_h=need_h), (x, kappa), (0.0, 1.0))


@functools.partial(jax.jit, static_argnames="need_h")
def _core_flat(x, kappa, need_h):
    """:func:`_core` on 1-D arrays.  Long arrays in blocks: what is live at once is one block's
    temporaries."""
    fn = functools.partial(_core_elementwise, need_h=need_h)
    return elementwise_in_blocks(fn, (x, kappa), (0.0, 1.0))


def _core_elementwise(x, kappa, need_h):
    """:func:`_core` on arrays of any shape."""
    cfg = _cfg(x.dtype)
    pi_hi, pi_lo = _split_pi(x.dtype)
    valid = (kappa > 0) & jnp.isfinite(kappa) & jnp.isfinite(x)
    k = jnp.where(valid, kappa, 1.0)
    x = jnp.where(valid, x, 0.0)
    # x = r + 2π n with r ∈ [-π, π): exact for |x| <= π (n = 0, or n = 1 at x = π).
    n = jnp.floor((x + pi_hi) / (2.0 * pi_hi))
    r = jnp.where(n == 0, x, x - 2.0 * pi_hi * n - 2.0 * pi_lo * n)
    neg = -jnp.abs(r)  # the lower-tail point x' ∈ [-π, 0]
    sin2 = jnp.square(sin_quarter(0.5 * neg))  # sin²(x'/2)
    a = 2.0 * k * sin2
    # W from x' + π = (x' + π_hi) + π_lo, accurate near the far tail. (The correction is applied
    # to sin, not to the sum, which XLA would reassociate into x' + fl(π).)
    d = neg + pi_hi  # exact (Sterbenz)
    sin_half = sin_quarter(0.5 * d) + 0.5 * pi_lo * sin_quarter(0.5 * (pi_hi - d))
    big_w = 2.0 * k * jnp.square(sin_half)
    log_i0e, _, one_minus_a = _bessel(k, cfg)
    log_norm = log_i0e + _LOG_2PI
    log_q = -a - log_norm

    inner = (jnp.abs(r) <= 0.5 * math.pi) & (a <= cfg.a_inner)
    # Outer mapping: y = sqrt(W) τ (2 - τ), τ = h_t (1 - ξ), truncated at y <= sqrt(cut).
    w_pos = big_w > 0
    w_c = jnp.where(w_pos, big_w, 1.0)
    sw = jnp.sqrt(w_c)
    ratio = jnp.where(w_c > cfg.cut, math.sqrt(cfg.cut) / sw, 1.0)
    cut = ratio < 1.0
    omt = ratio / (1.0 + jnp.where(cut, jnp.sqrt(jnp.where(cut, 1.0 - ratio, 1.0)), 0.0))  # 1 - t_L
    h_t = 0.5 * omt
    k_out = jnp.where(w_pos, 2.0 * omt * jnp.sqrt(sw), 0.0)
    # Inner mapping: y = sqrt(a) (1 + ξ)/2 = sqrt(a) - sqrt(a)/2 (1 - ξ).
    a_pos = inner & (a > 0)
    sa = jnp.where(a_pos, jnp.sqrt(jnp.where(a_pos, a, 1.0)), 0.0)
    # Both as y = c0 + u (c1 + c2 u), u = 1 - ξ;
    # integrand e^{-y²} · m(y) / sqrt((b0 + b1 y²)(b2 + b3 y)).
    c0 = jnp.where(inner, sa, 0.0)
    c1 = jnp.where(inner, -0.5 * sa, 2.0 * sw * h_t)
    c2 = jnp.where(inner, 0.0, -sw * h_t * h_t)
    b0 = jnp.where(inner, 2.0 * k, a)
    b1 = jnp.where(inner, -1.0, 1.0)
    b2 = jnp.where(inner, 1.0, sw)
    b3 = jnp.where(inner, 0.0, 1.0)
    scale = jnp.where(inner, sa, k_out)
    one = jnp.ones_like(x)
    s0 = jnp.zeros_like(x)
    s1 = jnp.zeros_like(x)
    nodes, weights = (np.asarray(v, x.dtype) for v in _gauss_legendre(cfg.nodes))

    def node(i, sums):
        u, w = jnp.asarray(nodes)[i], jnp.asarray(weights)[i]
        y = c0 + u * (c1 + c2 * u)
        y2 = y * y
        g = w * jnp.exp(-y2) * jnp.where(inner, one, y)
        g = g * jax.lax.rsqrt((b0 + b1 * y2) * (b2 + b3 * y))
        return sums[0] + g, sums[1] + g * y2 if need_h else sums[1]

    # A rolled loop: unrolled, XLA fuses the node sums into each of their consumers and computes
    # them several times, and float64 compiles slowly (figures in benchmarks/README.md).
    s0, s1 = jax.lax.fori_loop(0, cfg.nodes, node, (s0, s1))
    s0 = scale * s0
    norm = jnp.exp(log_norm)
    a_in = jnp.where(inner, a, 0.0)
    tail = jnp.where(inner, 0.5 - s0 / norm, jnp.exp(-a - log_norm) * s0)
    upper = r > 0
    cdf = jnp.where(upper, 1.0 - tail, tail) + n
    cdf = nan_unless(valid, cdf)
    log_q = nan_unless(valid, log_q)
    if not need_h:
        return cdf, None, log_q, valid
    s1 = scale * s1
    h_in = -jnp.exp(a_in) * (one_minus_a * s0 - s1 / k)
    h_out = one_minus_a * s0 - (2.0 * sin2 * s0 + s1 / k)
    h_tail = jnp.where(inner, h_in, h_out)  # (∂T/∂κ)/q at x' = -|r|
    h = jnp.where(upper, -h_tail, h_tail)
    return cdf, nan_unless(valid, h), log_q, valid


@jax.custom_jvp
def _cdf(x, kappa):
    return _core(x, kappa, need_h=False)[0]


def _cdf_jvp(primals, tangents):
    x, kappa = primals
    dx, dkappa = tangents
    cdf = _cdf(x, kappa)  # through itself, so that second derivatives use this rule again
    need_h = not isinstance(dkappa, SymbolicZero)
    _, h, log_q, _ = _core(x, kappa, need_h=need_h)
    rate = jnp.zeros_like(x)
    if not isinstance(dx, SymbolicZero):
        rate = rate + jnp.asarray(dx, x.dtype)
    if need_h:
        rate = rate + h * jnp.asarray(dkappa, x.dtype)
    return cdf, jnp.exp(log_q) * rate


_cdf.defjvp(_cdf_jvp, symbolic_zeros=True)


def von_mises_cdf(x, concentration):
    """CDF of the von Mises law with location 0, ``∫_{-π}^x exp(κ cos θ) dθ / (2π I0(κ))``.

    Defined for every real ``x`` by ``F(x + 2π) = F(x) + 1`` (SciPy's and TFP's convention), so
    ``F(-π) = 0`` and ``F(π) = 1``. Differentiable in both arguments (``jax.custom_jvp``):

        ∂F/∂x = q(x; κ),    ∂F/∂κ = ∫_{-π}^x (cos θ - A(κ)) q(θ; κ) dθ = q(x; κ) · h(x; κ)

    with ``h`` from :func:`von_mises_cdf_concentration_tangent`; both are accurate to a few ulps of
    the smaller tail ``min(F, 1 - F)`` for ``κ`` from 1e-3 to 1e4 and beyond (see the module doc).
    ``κ <= 0`` or NaN inputs give NaN.

    Args:
        x: angle(s), any real value.
        concentration: ``κ > 0``, broadcastable with ``x``.

    Returns:
        ``F(x; κ)`` with the broadcast shape and the promoted floating dtype.

    Example:
        >>> from ml_networks_jax.special.von_mises import von_mises_cdf
        >>> round(float(von_mises_cdf(1.0, 2.0)), 6)
        0.889578
    """
    dtype, (x, kappa) = _promote(x, concentration)
    return _cdf(x, kappa).astype(dtype)


def von_mises_cdf_concentration_tangent(x, concentration):
    """``h = (∂F(x; κ)/∂κ) / q(x; κ)``; the implicit gradient of a sample is ``dz/dκ = -h``.

    Computed directly in this scaled form (module doc), so it is finite and accurate where
    ``q`` underflows (far tails at large ``κ``). Odd and ``2π``-periodic in ``x``; ``h(0) = 0``.
    Plain autodiff through it gives second derivatives.

    Example:
        >>> from ml_networks_jax.special.von_mises import von_mises_cdf_concentration_tangent
        >>> round(float(von_mises_cdf_concentration_tangent(-1.0, 2.0)), 6)
        -0.338472
    """
    dtype, (x, kappa) = _promote(x, concentration)
    return _core(x, kappa, need_h=True)[1].astype(dtype)


def von_mises_log_prob(x, concentration):
    """``log q(x; κ) = -2κ sin²(x/2) - log(2π I0e(κ))`` (location 0, periodic in ``x``).

    Written with ``sin²(x/2)`` and the scaled Bessel function so it is exact for large ``κ``.

    Example:
        >>> from ml_networks_jax.special.von_mises import von_mises_log_prob
        >>> round(float(von_mises_log_prob(0.0, 1.0)), 6)
        -1.073792
    """
    dtype, (x, kappa) = _promote(x, concentration)
    cfg = _cfg(x.dtype)
    valid = kappa > 0
    k = jnp.where(valid, kappa, 1.0)
    log_i0e = _bessel(k, cfg)[0]
    pi_hi, _ = _split_pi(x.dtype)
    two_pi = 2.0 * pi_hi
    r = x - two_pi * jax.lax.stop_gradient(jnp.floor((x + pi_hi) / two_pi))  # in [-π, π]
    out = -2.0 * kappa * jnp.square(sin_quarter(0.5 * r)) - log_i0e - _LOG_2PI
    return nan_unless(valid, out).astype(dtype)


def _bessel_public(concentration, which):
    dtype, (kappa,) = _promote(concentration)
    valid = kappa > 0
    k = jnp.where(valid, kappa, 1.0)
    out = _bessel(k, _cfg(kappa.dtype))[which]
    if which == 0:
        # κ -> 0: I0e(κ) -> 1; keep the limit where the clamp above would change the value.
        out = jnp.where(kappa == 0, 0.0, out)
        valid = kappa >= 0
    return nan_unless(valid, out).astype(dtype)


def log_i0e(concentration):
    """``log(e^{-κ} I0(κ))`` for ``κ >= 0``; accurate for large ``κ`` where ``I0`` overflows.

    Example:
        >>> from ml_networks_jax.special.von_mises import log_i0e
        >>> round(float(log_i0e(1e4)), 4)  # ≈ -log(2π κ)/2
        -5.5241
    """
    return _bessel_public(concentration, 0)


def log_i0(concentration):
    """``log I0(κ) = log I0e(κ) + κ`` for ``κ >= 0``.

    Example:
        >>> from ml_networks_jax.special.von_mises import log_i0
        >>> round(float(log_i0(1.0)), 6)
        0.235914
    """
    dtype, (kappa,) = _promote(concentration)
    # κ < 1: log1p of the series I0(κ) - 1 = Σ_{j>=1} (κ²/4)^j / (j!)², exact where it is ≈ κ²/4.
    small = kappa < 1.0
    q = 0.25 * jnp.square(jnp.where(small, kappa, 0.0))
    n = 11 if kappa.dtype == jnp.float64 else 6
    series = jnp.log1p(q * _poly([1.0 / math.factorial(j + 1) ** 2 for j in range(n)], q))
    out = jnp.where(small, series, log_i0e(kappa) + kappa)
    return nan_unless(kappa >= 0, out).astype(dtype)


def bessel_ratio(concentration):
    """``A(κ) = I1(κ)/I0(κ)``, the mean resultant length of the von Mises law (``κ > 0``).

    ``A'(κ) = 1 - A/κ - A²``. Example:
        >>> from ml_networks_jax.special.von_mises import bessel_ratio
        >>> round(float(bessel_ratio(1.0)), 6)
        0.44639
    """
    return _bessel_public(concentration, 1)


def one_minus_bessel_ratio(concentration):
    """``1 - A(κ)``, the circular variance, without cancellation for large ``κ`` (``≈ 1/(2κ)``).

    Example:
        >>> from ml_networks_jax.special.von_mises import one_minus_bessel_ratio
        >>> float(one_minus_bessel_ratio(1e4)) > 0
        True
    """
    return _bessel_public(concentration, 2)
