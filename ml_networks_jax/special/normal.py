"""Tail-accurate normal CDF pieces: ``log Φ``, ``log(Φ(b) - Φ(a))`` and the inverse of ``log Φ``.

Public functions (elementwise, NumPy broadcasting; float32 by default, float64 under
``jax_enable_x64``, half precision computed in float32 and cast back):

* :func:`log_ndtr` -- ``log Φ(x)``, accurate to a few ulps in both tails (``jax.scipy``'s loses
  all relative accuracy for ``x > 5`` in float32, where ``log Φ(x) ≈ -Φ(-x)``);
* :func:`log_ndtr_diff` -- ``log(Φ(b) - Φ(a))`` for ``a <= b``, accurate even when both bounds lie
  in the same far tail (``a = 40, b = 41`` in float32, where both ``Φ`` round to 1 and their
  difference underflows) or when the interval is narrow;
* :func:`ndtri_exp` -- ``x`` with ``log Φ(x) = log_p``, the inverse of :func:`log_ndtr`, accurate
  for ``log_p`` from ``-1e30`` to ``0``.

All three carry ``jax.custom_jvp`` rules with the exact derivative written without cancellation,

    d log Φ(x)/dx = φ(x)/Φ(x),   ∂ log(Φ(b) - Φ(a))/∂b = φ(b)/(Φ(b) - Φ(a)),
    d ndtri_exp(l)/dl = Φ(x)/φ(x),

built from differentiable JAX operations, so second derivatives work.

Building blocks
---------------
Everything is expressed through the integrals, for ``p >= 0`` and ``0 <= L <= ∞``,

    D_k(p, L) = ∫_0^L s^k exp(-p s - s²/2) ds,        k = 0, 1, 2,

i.e. the mass (k = 0) and the first moments of the standard normal on an interval next to a point
``m`` with ``|m| = p``, measured in units of ``φ(m)``: ``∫_m^{m+L} φ = φ(m) D_0(m, L)`` for
``m >= 0``. Any interval is split at the point closest to the mode 0 (its "anchor" ``r``), so that
both pieces are of this form and nothing large cancels:

    Φ(b) - Φ(a) = φ(r) · [D_0(|r|, b - r) + D_0(|r|, r - a)],     r = clip(0, a, b).

``D_k`` is computed by Gauss-Legendre quadrature when the integrand varies little over
``[0, L]`` (``w = pL + L²/2 <= 3``), and otherwise as a difference of the complete integrals
``T_k(p) = D_k(p, ∞)``, which then cancel by at most a factor two:

    D_k(p, L) = T_k(p) - e^{-w} Σ_j C(k, j) L^{k-j} T_j(p + L).

``T_0`` is the Mills ratio ``R(p) = Φ(-p)/φ(p) = √(π/2) erfcx(p/√2)``; ``T_1 = 1 - p R`` and
``T_2 = T_0 - p T_1`` (integration by parts). For ``p >= 3`` these two cancel, and the continued
fraction ``R = 1/(p + D₁)``, ``D_n = n/(p + D_{n+1})`` (Laplace; evaluated backwards with a fixed
depth) gives them without cancellation, ``R`` itself included: ``T_1 = R D₁``, ``T_2 = R D₁ D₂``.

References:
    M. Abramowitz and I. Stegun, "Handbook of Mathematical Functions", 26.2.14 (continued fraction).
    W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23, 1969.
    M. Mächler, "Accurately computing log(1 - exp(-|a|))", Rmpfr vignette, 2012.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special as jsp

from ml_networks_jax._indices import nan_unless

__all__ = ["log_ndtr", "log_ndtr_diff", "ndtri_exp"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_P_CF = 3.0  # the continued fraction replaces 1 - pR from here on
_W_GL = 3.0  # Gauss-Legendre for D_k when p L + L²/2 <= _W_GL


def _is64(dtype) -> bool:
    return jnp.dtype(dtype) == jnp.float64


def _cf_depth(dtype) -> int:
    return 48 if _is64(dtype) else 16


@functools.cache
def _gauss_legendre(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes and weights of ``n``-point Gauss-Legendre quadrature on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return tuple(0.5 * (x + 1.0)), tuple(0.5 * w)


def _gl_points(dtype) -> int:
    return 14 if _is64(dtype) else 8


def _erfcx(x):
    """``exp(x²) erfc(x)`` for ``x >= 0``: ``jsp.erfcx`` evaluates its asymptotic series at every
    ``x``, which is ``0·∞ = NaN`` where ``1/x²`` overflows (``x -> 0``), in the branch it does not
    take; below ``x = 1`` its own direct form is written here, so that it only sees ``x >= 1``."""
    near_zero = x < 1.0
    x_s = jnp.where(near_zero, x, 0.0)
    direct = jnp.exp(jnp.square(x_s)) * jsp.erfc(x_s)
    return jnp.where(near_zero, direct, jsp.erfcx(jnp.where(near_zero, 1.0, x)))


def _fraction(p):
    """``(p_c, D₁, D₂, D₃)`` of Laplace's continued fraction ``D_n = n/(p_c + D_{n+1})``, evaluated
    backwards from a fixed depth at ``p_c = p`` for finite ``p >= _P_CF`` and at ``p_c = _P_CF``
    elsewhere (where it is not used). Unrolled: XLA fuses it into one elementwise kernel."""
    pc = jnp.where((p < _P_CF) | ~jnp.isfinite(p), _P_CF, p)
    d = jnp.zeros_like(pc)
    d2 = d3 = d
    for k in range(_cf_depth(p.dtype), 0, -1):
        d = k / (pc + d)
        if k == 3:
            d3 = d
        elif k == 2:
            d2 = d
    return pc, d, d2, d3


def _mills_ratio(p, fraction=None):
    """``R(p) = Φ(-p)/φ(p)`` for ``p >= 0`` (``R(∞) = 0``): ``√(π/2) erfcx(p/√2)`` below
    ``_P_CF``, ``1/(p + D₁)`` from there on. (``jax.scipy.special.erfcx`` computes
    ``exp(x²) erfc(x)`` up to ``x ≈ 9.4`` in float32, and ``erfc`` flushes to 0 from
    ``x ≈ 9.19``: the fraction never meets that.)"""
    pc, d1, _, _ = _fraction(p) if fraction is None else fraction
    small = p < _P_CF
    direct = _SQRT_HALF_PI * _erfcx(jnp.where(small, p, 0.0) * _SQRT_HALF)
    far = jnp.where(jnp.isfinite(p), 1.0 / (pc + d1), jnp.where(p > 0, 0.0, p))
    return jnp.where(small, direct, far)


@jax.custom_jvp
def _mills4(p):
    """``(T_0, T_1, T_2, T_3)(p)`` for ``p >= 0`` (``p = ∞`` gives zeros); see the module doc.

    Differentiated by ``dT_k/dp = -T_{k+1}`` (``T_4 = 3 T_2 - p T_3``), not through ``erfcx``,
    whose autodiff derivative ``2x erfcx(x) - 2/√π`` loses ``x²`` ulps.
    """
    fraction = _fraction(p)
    _, d1, d2, d3 = fraction
    t0 = _mills_ratio(p, fraction)
    small = p < _P_CF
    t1_small = 1.0 - p * t0
    t2_small = t0 - p * t1_small
    t3_small = 2.0 * t1_small - p * t2_small
    t1 = jnp.where(small, t1_small, t0 * d1)
    t2 = jnp.where(small, t2_small, t1 * d2)
    t3 = jnp.where(small, t3_small, t2 * d3)
    return t0, t1, t2, t3


@_mills4.defjvp
def _mills4_jvp(primals, tangents):
    (p,), (dp,) = primals, tangents
    t0, t1, t2, t3 = _mills4(p)
    t4 = 3.0 * t2 - jnp.where(jnp.isfinite(p), p, 0.0) * t3
    return (t0, t1, t2, t3), (-t1 * dp, -t2 * dp, -t3 * dp, -t4 * dp)


def _mills(p, order: int = 1):
    """``(T_0, ..., T_order)(p)``."""
    return _mills4(p)[: order + 1]


# Jitted so that eager calls compile one program instead of dispatching hundreds of small ops;
# under an outer jit, vmap or autodiff they are inlined like any other function.
@functools.partial(jax.jit, static_argnames="order")
def tail_integrals(p, length, order: int = 1):
    """``(D_0, ..., D_order)`` with ``D_k = ∫_0^L s^k exp(-p s - s²/2) ds`` for ``p >= 0`` and
    ``0 <= L <= ∞`` (same-shape float arrays; ``order`` is 1 or 2). Relative accuracy of a few
    ulps everywhere, including ``L → 0`` and ``p → ∞`` (see the module doc)."""
    dtype = p.dtype
    finite = jnp.isfinite(length)
    lf = jnp.where(finite, length, 1.0)  # double-where: no inf * 0 in any derivative
    w = p * lf + 0.5 * lf * lf
    use_gl = finite & (w <= _W_GL)
    lg = jnp.where(use_gl, lf, 0.0)
    nodes, weights = _gauss_legendre(_gl_points(dtype))
    s = lg[..., None] * jnp.asarray(nodes, dtype)
    e = jnp.asarray(weights, dtype) * jnp.exp(-s * (p[..., None] + 0.5 * s))
    gl = [lg * jnp.sum(e * s**k, axis=-1) for k in range(order + 1)]

    finite = finite & ~use_gl
    lt = jnp.where(finite, lf, 1.0)
    e = jnp.where(finite, jnp.exp(-jnp.where(finite, w, 0.0)), 0.0)
    both = _mills(jnp.stack([p, p + lt]), order)  # one evaluation for T(p) and T(p + L)
    tp = [t[0] for t in both]
    tq = [t[1] for t in both]
    tail = [tp[0] - e * tq[0], tp[1] - e * (lt * tq[0] + tq[1])]
    if order == 2:
        tail.append(tp[2] - e * (lt * lt * tq[0] + 2.0 * lt * tq[1] + tq[2]))
    return tuple(jnp.where(use_gl, g, t) for g, t in zip(gl, tail, strict=True))


def tail_integrals_pair(p1, l1, p2, l2, order: int = 1):
    """:func:`tail_integrals` at two argument pairs, evaluated as one stacked call."""
    both = tail_integrals(jnp.stack([p1, p2]), jnp.stack([l1, l2]), order)
    return tuple(v[0] for v in both), tuple(v[1] for v in both)


def anchor(a, b, b_minus_a):
    """Split ``[a, b]`` at ``r``, its point closest to 0: ``(r, b - r, r - a, r == a, r == b)``.

    ``r`` is selected (never clipped, whose derivative at a tie would be ½), so that ``r`` and the
    two lengths are differentiable together: at ``a = 0`` exactly, ``r = 0`` and ``r - a = -a``.
    """
    at_a = a >= 0
    at_b = (b <= 0) & ~at_a
    r = jnp.where(at_a, a, jnp.where(at_b, b, 0.0))
    upper = jnp.where(at_a, b_minus_a, jnp.where(at_b, 0.0, b))
    lower = jnp.where(at_a, 0.0, jnp.where(at_b, b_minus_a, -a))
    return r, upper, lower, at_a, at_b


def anchored_mass(a, b, b_minus_a=None):
    """``(r, log M)`` with ``Φ(b) - Φ(a) = φ(r) M``, ``r`` the point of ``[a, b]`` closest to the
    mode (:func:`anchor`); ``M = D_0(|r|, b - r) + D_0(|r|, r - a)``.

    ``b_minus_a`` (optional) is ``b - a`` computed by the caller from unrounded quantities.
    """
    if b_minus_a is None:
        b_minus_a = b - a
    r, upper, lower, _, _ = anchor(a, b, b_minus_a)
    p = jnp.abs(r)
    up, lo = tail_integrals_pair(p, upper, p, lower, 1)
    return r, jnp.log(up[0] + lo[0])


def _promote(*args):
    dtype = jnp.result_type(*args)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    compute = dtype if dtype in (jnp.float32, jnp.float64) else jnp.float32
    return dtype, jnp.broadcast_arrays(*[jnp.asarray(x, compute) for x in args])


def _log_pdf(x):
    return -0.5 * x * x - _HALF_LOG_2PI


def _exp_neg_half_square(x):
    """``exp(-x²/2)`` without the rounding error of ``x²`` (relative ``x² ε`` otherwise): ``x`` is
    split into ``x_h`` with half the significand bits, whose square is exact, and ``x - x_h``."""
    scale = 2.0**20 if _is64(x.dtype) else 2.0**8
    limit = 40.0 if _is64(x.dtype) else 16.0  # beyond, exp(-x²/2) underflows anyway
    xc = jnp.clip(x, -limit, limit)
    xh = jnp.round(xc * scale) / scale
    xl = xc - xh
    return jnp.exp(-0.5 * xh * xh) * jnp.exp(-0.5 * xl * (xh + xc))


def _ndtr_lower(x):
    """``Φ(-|x|) = R(|x|) φ(x)``, relative accuracy of a few ulps."""
    return _mills_ratio(jnp.abs(x)) * _exp_neg_half_square(x) * (1.0 / math.sqrt(2.0 * math.pi))


@jax.jit
def _log_ndtr_impl(x):
    """``(log Φ(x), log φ(x) - log Φ(x))``."""
    neg = x < 0
    t0 = _mills_ratio(jnp.abs(x))  # R(|x|) = Φ(-|x|)/φ(x)
    log_t0 = jnp.log(t0)
    lower = log_t0 + _log_pdf(x)  # log Φ(-|x|)
    lower = jnp.where(jnp.isneginf(x), -jnp.inf, lower)
    upper = jnp.log1p(-_ndtr_lower(jnp.where(neg, 0.0, x)))
    value = jnp.where(neg, lower, upper)
    # d log Φ/dx = φ/Φ: 1/R(-x) below 0, φ(x)/Φ(x) above (Φ >= 1/2 there).
    log_ratio = jnp.where(neg, -log_t0, _log_pdf(x) - jnp.where(neg, 0.0, upper))
    return value, log_ratio


@jax.custom_jvp
def _log_ndtr(x):
    return _log_ndtr_impl(x)[0]


@_log_ndtr.defjvp
def _log_ndtr_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    value, log_ratio = _log_ndtr_impl(x)
    return value, jnp.exp(log_ratio) * dx


def log_ndtr(x):
    """``log Φ(x)``, the log of the standard normal CDF, accurate in both tails.

    For ``x < 0``: ``log R(-x) - x²/2 - ½ log 2π`` with the Mills ratio ``R(t) = Φ(-t)/φ(t) =
    √(π/2) erfcx(t/√2)``; for ``x >= 0``: ``log1p(-Φ(-x))``, so that ``log Φ(x) ≈ -Φ(-x)`` keeps
    its relative accuracy as ``x → ∞``. Derivative ``φ(x)/Φ(x)`` (``1/R(-x)`` for ``x < 0``).

    Example:
        >>> from ml_networks_jax.special.normal import log_ndtr
        >>> print(f"{float(log_ndtr(-40.0)):.2f} {float(log_ndtr(6.0)):.4e}")
        -804.61 -9.8659e-10
    """
    dtype, (x,) = _promote(x)
    return _log_ndtr(x).astype(dtype)


@jax.jit
def log_ndtr_diff_parts(a, b, b_minus_a=None):
    """``(log(Φ(b) - Φ(a)), log φ(a) - value, log φ(b) - value)`` without large cancellation;
    ``b_minus_a`` optionally gives ``b - a`` from unrounded quantities (see :func:`anchored_mass`).
    """
    bad = ~(a <= b)
    a_ = jnp.where(bad, 0.0, a)
    b_ = jnp.where(bad, 1.0, b)
    if b_minus_a is not None:
        b_minus_a = jnp.where(bad, 1.0, b_minus_a)
    fin_a, fin_b = jnp.isfinite(a_), jnp.isfinite(b_)
    r, log_m = anchored_mass(a_, b_, b_minus_a)
    # Wide intervals around the mode: log1p(-Φ(a) - Φ(-b)) keeps the relative accuracy near 0.
    tails = jnp.where(fin_a, _ndtr_lower(jnp.where(fin_a, a_, -40.0)), 0.0) + jnp.where(
        fin_b, _ndtr_lower(jnp.where(fin_b, b_, 40.0)), 0.0
    )
    wide = (r == 0) & (tails < 0.25)
    value = jnp.where(wide, jnp.log1p(-jnp.where(wide, tails, 0.0)), _log_pdf(r) + log_m)
    # log φ(a) - value = -(a - r)(a + r)/2 - log M  (the huge -r²/2 cancels analytically).
    a_s = jnp.where(fin_a, a_, r)
    b_s = jnp.where(fin_b, b_, r)
    ra = jnp.where(fin_a, -0.5 * (a_s - r) * (a_s + r) - log_m, -jnp.inf)
    rb = jnp.where(fin_b, -0.5 * (b_s - r) * (b_s + r) - log_m, -jnp.inf)
    return nan_unless(~bad, value), nan_unless(~bad, ra), nan_unless(~bad, rb)


@jax.custom_jvp
def _log_ndtr_diff(a, b):
    return log_ndtr_diff_parts(a, b)[0]


@_log_ndtr_diff.defjvp
def _log_ndtr_diff_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    value, ra, rb = log_ndtr_diff_parts(a, b)
    return value, jnp.exp(rb) * db - jnp.exp(ra) * da


def log_ndtr_diff(a, b):
    """``log(Φ(b) - Φ(a))`` for ``a <= b`` (``a = b`` gives ``-inf``, ``a > b`` NaN).

    Computed as ``log φ(r) + log[D_0(|r|, b - r) + D_0(|r|, r - a)]`` with ``r = clip(0, a, b)``
    (module doc): accurate to a few ulps of the result for intervals in either far tail, narrow or
    wide, finite or infinite. Partial derivatives ``∂/∂b = φ(b)/(Φ(b) - Φ(a))``,
    ``∂/∂a = -φ(a)/(Φ(b) - Φ(a))``, each evaluated as ``exp(-(b - r)(b + r)/2 - log M)``.

    Example:
        >>> from ml_networks_jax.special.normal import log_ndtr_diff
        >>> print(f"{float(log_ndtr_diff(40.0, 41.0)):.2f}")  # Φ(41) - Φ(40) underflows
        -804.61
    """
    dtype, (a, b) = _promote(a, b)
    return _log_ndtr_diff(a, b).astype(dtype)


@jax.jit
def _ndtri_exp_impl(log_p):
    dtype = log_p.dtype
    valid = log_p <= 0
    lp = jnp.where(valid, log_p, -1.0)
    # Start: ndtri on whichever of p and 1 - p is smaller; an asymptotic start far below.
    upper = lp > -0.6931471805599453
    q = -jnp.expm1(jnp.where(upper, lp, -1.0))  # 1 - p, exact near p = 1
    x_upper = -jsp.ndtri(jnp.clip(q, jnp.finfo(dtype).tiny, 0.5))
    far = lp < -20.0
    x_mid = jsp.ndtri(jnp.exp(jnp.where(upper | far, -1.0, lp)))
    # log Φ(-t) = -t²/2 - log t - ½ log 2π + O(t⁻²): solve by two fixed-point steps.
    s = -2.0 * jnp.where(far, lp, -30.0) - 2.0 * _HALF_LOG_2PI
    t = jnp.sqrt(s)
    for _ in range(2):
        t = jnp.sqrt(s - 2.0 * jnp.log(t))
    x = jnp.where(upper, x_upper, jnp.where(far, -t, x_mid))
    # Newton on log Φ(x) = log_p (derivative φ/Φ, given with it): the function is concave and
    # the start is within a few percent, so a fixed number of steps reaches the ulp level.
    for _ in range(3 if _is64(dtype) else 2):
        value, log_ratio = _log_ndtr_impl(x)
        x = x - (value - lp) * jnp.exp(-log_ratio)
    x = jnp.where(lp == 0, jnp.inf, x)
    x = jnp.where(jnp.isneginf(lp), -jnp.inf, x)
    return nan_unless(valid, x)


@jax.custom_jvp
def _ndtri_exp(log_p):
    return _ndtri_exp_impl(log_p)


@_ndtri_exp.defjvp
def _ndtri_exp_jvp(primals, tangents):
    (log_p,), (dlog_p,) = primals, tangents
    x = _ndtri_exp(log_p)
    _, log_ratio = _log_ndtr_impl(jnp.where(jnp.isfinite(x), x, 0.0))
    slope = jnp.where(jnp.isfinite(x), jnp.exp(-log_ratio), jnp.where(x > 0, jnp.inf, 0.0))
    return x, slope * dlog_p


def ndtri_exp(log_p):
    """The inverse of :func:`log_ndtr`: ``x`` with ``log Φ(x) = log_p`` (``log_p <= 0``).

    A start from ``ndtri`` (on ``1 - p = -expm1(log_p)`` near the top, on ``p`` in the middle) or
    from the asymptotic ``log Φ(-t) ≈ -t²/2 - log t - ½ log 2π`` (``log_p < -20``), then a fixed
    number of Newton steps on ``log Φ(x) - log_p`` with the tail-accurate :func:`log_ndtr`.
    Derivative ``dx/dlog_p = Φ(x)/φ(x)``. ``log_p = 0`` gives ``+inf``, ``-inf`` gives ``-inf``,
    positive values NaN.

    Example:
        >>> from ml_networks_jax.special.normal import ndtri_exp
        >>> print(f"{float(ndtri_exp(-804.6084)):.3f}")
        -40.000
    """
    dtype, (log_p,) = _promote(log_p)
    return _ndtri_exp(log_p).astype(dtype)
