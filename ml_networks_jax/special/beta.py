"""Regularized incomplete beta function with accurate derivatives in ``a``, ``b`` and ``x``.

Public functions (elementwise, NumPy broadcasting; result dtype = promoted floating dtype of the
inputs, float32 by default, float64 under ``jax_enable_x64``; bfloat16/float16 computed in float32):

* :func:`log_beta_logit_density` -- ``log q_t(t)``, the density of ``t = logit x``, x ~ Beta(a, b).
* :func:`betainc_logit` -- ``I_{σ(t)}(a, b)`` with a ``jax.custom_jvp`` in ``a``, ``b``, ``t``.
* :func:`betainc_logit_tangent` -- ``(h_a, h_b) = (∂I/∂a, ∂I/∂b) / q_t``: the implicit gradient
  of a logit-space draw is ``dt/da = -h_a``, ``dt/db = -h_b`` (Figurnov, Mohamed & Mnih 2018).
* :func:`betainc` -- ``I_x(a, b)`` for ``x`` in ``[0, 1]`` with a ``jax.custom_jvp``.

Shared quantities
-----------------
With ``p = a/(a+b)``, ``d = t - log(a/b)`` (so ``x = p`` at ``d = 0``) and the Kullback-Leibler
function ``κ(d) = -(p log(x/p) + q log((1-x)/q)) = log(1 + p expm1(d)) - p d`` (series in ``d`` for
``|d| < 1``, written in the orientation ``p <= ½``, with ``u - log1p(u)`` from its atanh series):

    log q_t = -(a+b) κ(d) + ½ log(a b / (2π (a+b))) + stirlerr(a+b) - stirlerr(a) - stirlerr(b)

(Stirling errors as in :mod:`ml_networks_jax.special.gamma`), accurate for large ``a, b``.
``log x - ψ(a) + ψ(a+b)`` and ``log(1-x) - ψ(b) + ψ(a+b)`` (the derivatives of ``log q_t``) are
built from ``log(x/p) = log1p((1-x) expm1(d))``, ``log((1-x)/q) = -log1p(p expm1(d))`` (no
cancellation when ``p`` or ``q`` is near 1) and differences ``(log - ψ)(z) - (log - ψ)(z + w)``
evaluated without cancellation when ``w << z``.

Regimes
-------
The smaller tail is always computed: for ``x`` above the mean (``d > 0``) the complement
``I_{1-x}(b, a)`` is, and ``∂I/∂a = -∂J/∂a`` comes from its own expression.  In the lower-tail
orientation ``(a', b', x')`` everything is written as ``I = q_t F / a'``, so that
``h_a = ((log x' - ψ(a'+1) + ψ(a'+b')) F + ∂F/∂a') / a'`` and likewise for ``b'``, with ``∂F/∂a'``,
``∂F/∂b'`` carried by hand along the recurrences (Boik & Robison-Cox 1998) in float32, by
forward-mode differentiation of them in float64:

1. The continued fraction, fixed depth (80 float64 / 20 float32): DiDonato & Morris' BFRAC form
   (TOMS 708), whose terms use ``λ = a' - (a'+b') x'`` computed from ``log(x'/p)`` (accurate near
   the mean and near 1), in float64; Numerical Recipes' even/odd form in float32, evaluated
   backwards (``f_j = 1 + d_j / f_(j+1)``, the more accurate order there) together with the
   fraction two terms shorter.  Below the mean it converges for every ``x'``, fastest where
   ``x'`` is small (where a power series would also do: one method instead of two costs less
   than sorting elements by method).  Convergence is checked on those two (value and the
   returned ``h_a``, ``h_b``: relative difference ``<= 2e-16`` in float64, ``<= 1e-5`` in
   float32, where rounding alone makes them differ by up to ~2e-6); elements that have not
   converged (large ``a, b`` near the mean, ``b << a`` with ``x`` near 1) use a deeper fraction
   (float32: 40 steps, then 600 for those still short; float64: 1200).  In float32 most
   elements converge within 20 steps (Beta(α ∈ [0.1, 10], 2) and Student-t(ν ∈ [1, 30]) draws:
   all but a few percent), so the first depth is the short one (figures in
   ``benchmarks/README.md``).
2. float32 with ``min(a, b) >= 30``: Temme's uniform asymptotic expansion in DiDonato & Morris'
   form (BASYM, terms to n = 6; :func:`_asym_ratio`), differentiated by forward-mode autodiff,
   with the exponent ``z₀ = √((a+b) κ)`` given its exact derivatives (:func:`_root_kl`).  It
   replaces the fraction there: its float32 recurrence loses accuracy for large parameters.
3. float32 with ``a' >= 100`` and ``b' < 30`` (``x'`` near 1, where the float32 fraction loses up
   to 1e-3): the ``a >> b`` expansion in incomplete gamma functions (BGRAT of TOMS 708, 8 terms;
   :func:`_bgrat_ratio`), ``Γ(b', z)`` by Legendre's fraction or, for ``z < 1.5``, a series
   free of cancellation for small ``b'``; forward-mode autodiff for the partials.

Performance: inputs are flattened and padded to a bucketed length (powers of two up to 4096,
then multiples of 4096: similar shapes share a compilation), and cut into blocks of at most 65,536
(``lax.map``: only one block's intermediates are live at once, while XLA still spreads each of
its loops over the cores).  The shared quantities and the continued fraction run on the whole
block.  The deeper fractions and the expansions, which few elements need, run on those elements
only (:func:`_on_subset`: above 1024 elements gathered into buffers of 1/16 (40 steps), 1/32
(600 steps) resp. 1/8 of the block, each evaluated under ``lax.cond`` only if it holds an
element; not at all when none needs them).
Under ``vmap`` the ``lax.cond`` becomes a select (every buffer evaluated): call the functions on
whole arrays rather than mapping them over scalars.

Accuracy (against mpmath quadrature, ``a, b`` in ``[1e-3, 1e4]``, quantiles ``1e-4 .. 1-1e-4``):
float64 meets ``1e-10`` for the value (smaller tail; measured: <= 4.2e-13, 103 eps (1 + cond)
outside the deep fraction's rows) and for ``dt/da``, ``dt/db`` (measured: <= 6.6e-11) everywhere on
the grid.  float32 meets ``50 eps (1 + cond)`` for the value (measured: <= 7.0 on the
``MNJ_FULL=1`` grid of ``tests/test_special_beta.py``) and ``1e-5`` for the gradients (measured:
<= 1.2e-6) everywhere on the grid.

References:
    A. R. DiDonato and A. H. Morris, "Algorithm 708: Significant digit computation of the
    incomplete beta function ratios", ACM TOMS 18(3), 1992.
    R. J. Boik and J. F. Robison-Cox, "Derivatives of the incomplete beta function", J. Stat.
    Software 3(1), 1998.
    W. H. Press et al., "Numerical Recipes", 3rd ed., §6.4.
    N. M. Temme, "Special Functions", Wiley 1996, ch. 11.
    M. Figurnov, S. Mohamed and A. Mnih, "Implicit reparameterization gradients", NeurIPS 2018.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from ml_networks_jax._indices import (
    BLOCK,
    BUCKET,
    bucket_length,
    map_blocks,
    nan_unless,
    on_bucket,
    true_indices,
)
from ml_networks_jax.special.gamma import (
    _A_T,
    _BERNOULLI,
    _HALF_LOG_2PI,
    _lgamma1p_digamma1p,
    _log_minus_digamma_big,
    _phi_parts,
    _poly,
    _promote,
    _stirlerr_big,
)
from ml_networks_jax.special.normal import _mills

__all__ = [
    "betainc",
    "betainc_logit",
    "betainc_logit_tangent",
    "log_beta_logit_density",
]


@dataclass(frozen=True)
class _Config:
    n_cf: int  # depth (number of partial numerators) of the continued fraction
    n_mid: int  # depth for the elements that have not converged at n_cf (0: none)
    n_taylor: int  # Taylor terms of φ(d) = e^d - 1 - d on |d| < 1.25
    n_atanh: int  # terms of the atanh series of u - log1p(u)
    n_cheb: int  # Chebyshev degree of lgamma(1+f)/f and ψ(1+f)
    cf_tol: float  # convergence test of the short continued fraction
    bfrac: bool  # DiDonato-Morris form (float64) or Numerical Recipes' form (float32)
    n_deep: int  # depth of the deep continued fraction (multiple of 4)
    asym_min: float  # Temme's expansion (BASYM) iff min(a, b) >= asym_min (inf: never)
    n_asym: int  # its number of terms (even)
    bgrat_min: float  # a' >> b' expansion (BGRAT) iff a' >= bgrat_min, b' < _BGRAT_MAX_B
    n_bgrat: int  # its number of terms
    n_gamma_cf: int  # depth of the continued fraction of Γ(b, z) inside it


_CFG64 = _Config(
    n_cf=80,
    n_mid=0,
    n_taylor=20,
    n_atanh=16,
    n_cheb=22,
    cf_tol=2e-16,
    n_deep=1200,
    bfrac=True,
    asym_min=float("inf"),
    n_asym=0,
    bgrat_min=float("inf"),
    n_bgrat=0,
    n_gamma_cf=0,
)
_CFG32 = _Config(
    n_cf=20,
    n_mid=40,
    n_taylor=11,
    n_atanh=8,
    n_cheb=11,
    # The float32 twins differ by up to ~2e-6 from rounding alone (Beta(14, ½) near x = 0.96):
    # a tighter test sends converged elements to the deep fraction, which returns the same.
    cf_tol=1e-5,
    n_deep=600,
    bfrac=False,
    asym_min=30.0,
    n_asym=6,
    bgrat_min=100.0,
    n_bgrat=8,
    n_gamma_cf=24,
)

_BGRAT_MAX_B = 30.0  # BGRAT is used (and validated) for b' below this; BASYM takes over above


def _cfg(dtype) -> _Config:
    return _CFG64 if jnp.dtype(dtype) == jnp.float64 else _CFG32


def _gamma_terms(z, n_cheb):
    """(stirlerr(z), log z - ψ(z + 1)) for z > 0 (z clamped by the caller).

    ``stirlerr(z) = lgamma(z) - (z - ½) log z + z - ½ log 2π``."""
    big = z >= _A_T
    zb = jnp.where(big, z, _A_T)
    zs = jnp.where(big, 1.0, z)
    lg1p, psi1p = _lgamma1p_digamma1p(zs, n_cheb)
    log_zs = jnp.log(zs)
    st = jnp.where(big, _stirlerr_big(zb), lg1p - (zs + 0.5) * log_zs + zs - _HALF_LOG_2PI)
    lmd1 = jnp.where(big, _log_minus_digamma_big(zb) - 1.0 / zb, log_zs - psi1p)
    return st, lmd1


# c_k = B_2k / (2k): log z - ψ(z) = 1/(2z) + Σ_k c_k z^(-2k) for large z.
_LMD_COEFFS = [float(b / (2 * j)) for j, b in enumerate(_BERNOULLI[:7], start=1)]
_N_SHIFT = 10


def _lmd_diff_big(z, w):
    """lmd(z) - lmd(z + w) for z >= _A_T (lmd = log - ψ), as w/(z s) times a positive-dominant
    sum (s = z + w): no cancellation however small w is."""
    s = z + w
    u, v = 1.0 / s, 1.0 / z
    # h_m = Σ_{j<=m} u^(m-j) v^j; v^(2k) - u^(2k) = (v - u) h_(2k-1).
    h = jnp.ones_like(z)  # h_0
    acc = 0.5 * jnp.ones_like(z)
    for m in range(1, 2 * len(_LMD_COEFFS)):
        h = u * h + v**m
        if m % 2:
            acc = acc + _LMD_COEFFS[m // 2] * h
    return w / (z * s) * acc


def _lmd_diff(z, w, lmd_z, lmd_s):
    """lmd(z) - lmd(z + w) (lmd = log - ψ) for z, w > 0, accurate also for w << z; ``lmd_z``
    and ``lmd_s`` are the separately computed values (used when w > z: no cancellation there)."""
    plain = lmd_z - lmd_s
    near = w <= z
    zn = jnp.where(near, z, 1.0)
    wn = jnp.where(near, w, 1.0)
    big = zn >= _A_T
    zb = jnp.where(big, zn, _A_T)
    d_big = _lmd_diff_big(zb, wn)
    # z < _A_T: shift by _N_SHIFT with ψ(z + N) = ψ(z) + Σ_{k<N} 1/(z + k).
    zs = jnp.where(big, 1.0, zn)
    sn = zs + wn
    zshift = zs + _N_SHIFT
    d_small = _lmd_diff_big(zshift, wn) + jnp.log1p(-_N_SHIFT * wn / (zshift * sn))
    for k in range(_N_SHIFT):
        d_small = d_small + wn / ((zs + k) * (sn + k))
    return jnp.where(near, jnp.where(big, d_big, d_small), plain)


def _log_ratio(a, b):
    """log(a / b) with absolute error ~eps (1 + |log(a/b)|) (a, b > 0 finite)."""
    near = (a <= 2.0 * b) & (b <= 2.0 * a)
    ratio = a / b
    ok = (ratio > 0) & jnp.isfinite(ratio)
    far = jnp.where(ok, jnp.log(jnp.where(ok, ratio, 1.0)), jnp.log(a) - jnp.log(b))
    return jnp.where(near, jnp.log1p(jnp.where(near, (a - b) / b, 0.0)), far)


def _u_minus_log1p(u, n_atanh):
    """u - log1p(u) for -0.5 <= u <= 1 via s = u/(2+u): u s - 2 Σ s^(2k+1)/(2k+1)."""
    s = u / (2.0 + u)
    s2 = s * s
    tail = _poly([2.0 / (2 * k + 3) for k in range(n_atanh)], s2)
    return u * s - s * s2 * tail


def _shared(a, b, t, cfg):
    """Quantities of the logit-space density, for valid a, b and finite t (clamped by callers).

    Returns a dict with, among others, ``log_q`` (log density of t) and the log ratios ``lx =
    log(x/p)``, ``ly = log((1-x)/q)`` (p = a/(a+b), q = b/(a+b)) at ``d = t - log(a/b)``."""
    r = a + b
    log_x = -jax.nn.softplus(-t)
    log_y = -jax.nn.softplus(t)
    d = t - _log_ratio(a, b)
    log_r = jnp.log(r)
    log_a = jnp.log(a)
    log_b = jnp.log(b)
    # log p = -log1p(b/a), log q = -log1p(a/b): accurate when p or q is close to 1.
    rba, rab = b / a, a / b
    log_p = jnp.where(jnp.isfinite(rba), -jnp.log1p(rba), log_a - log_r)
    log_q = jnp.where(jnp.isfinite(rab), -jnp.log1p(rab), log_b - log_r)
    p = a / r
    q = b / r
    # Near the mode, through u = p expm1(d) (no cancellation); elsewhere directly.
    small = jnp.abs(d) < 1.0
    ds = jnp.where(small, d, 0.0)
    # d in the orientation with the smaller of p, q (for kl below); one call on both.
    a_le_b = a <= b
    dm = jnp.where(a_le_b, ds, -ds)
    _, (e1, e1m), (_, phim) = _phi_parts(jnp.stack([ds, dm]), cfg.n_taylor)
    # log(x/p) = log1p(y expm1(d)) and log(y/q) = -log1p(p expm1(d)), free of cancellation
    # (the textbook d - log1p(p expm1(d)) loses digits for p near 1).
    em1 = ds * e1  # expm1(d)
    lx = jnp.where(small, jnp.log1p(jnp.exp(log_y) * em1), log_x - log_p)
    ly = jnp.where(small, -jnp.log1p(p * em1), log_y - log_q)
    # kl = η²/2 = -(p lx + q ly) >= 0, written in the orientation with the smaller of p, q.
    pm = jnp.where(a_le_b, p, q)
    um = pm * dm * e1m
    kl_small = pm * phim - _u_minus_log1p(um, cfg.n_atanh)
    kl = jnp.where(small, kl_small, -(p * lx + q * ly))
    kl = jnp.maximum(kl, 0.0)
    # One call on the three stacked (one copy of the series in the compiled program).
    (st_a, st_b, st_r), (lmd1_a, lmd1_b, lmd1_r) = _gamma_terms(jnp.stack([a, b, r]), cfg.n_cheb)
    log_dens = -r * kl + 0.5 * (log_a + log_b - log_r) - _HALF_LOG_2PI + st_r - st_a - st_b
    return dict(
        r=r, log_x=log_x, log_y=log_y, d=d, lx=lx, ly=ly, kl=kl, log_q=log_dens, lmd1_a=lmd1_a,
        lmd1_b=lmd1_b, lmd1_r=lmd1_r,
    )  # fmt: skip


def _along(u_a, u_b, along_a):
    """``u_a`` where a derivative is taken in ``a``, ``u_b`` where in ``b`` (``along_a``: a bool
    array, one direction per element)."""
    return jnp.where(along_a, u_a, u_b)


def _nr_pair(a, b, x, m, alongs):
    """Partial numerators d_(2m+1), d_(2m+2) of Numerical Recipes' form with their derivatives
    along ``alongs`` (:func:`_along`), as ((d_o, [∂d_o]), (d_e, [∂d_e])) (no division by
    b - m - 1)."""
    # Odd j = 2m + 1: d = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)).
    u = a + 2.0 * m
    iu, iv, iw = 1.0 / u, 1.0 / (u + 1.0), 1.0 / (u + 2.0)
    am = a + m
    rm = am + b
    xd = x * iu * iv
    do_b = -am * xd
    do = rm * do_b
    do_a = -(am + rm) * xd - do * (iu + iv)
    # Even j = 2m + 2: d = (m+1)(b-m-1) x / ((a+2m+1)(a+2m+2)).
    de_b = (m + 1.0) * x * iv * iw
    de = (b - m - 1.0) * de_b
    de_a = -de * (iv + iw)
    return (
        (do, tuple(_along(do_a, do_b, al) for al in alongs)),
        (de, tuple(_along(de_a, de_b, al) for al in alongs)),
    )


def _nr_back_step(f, d):
    """f <- 1 + d / f with its derivatives: f = (f, [∂f]), d = (d, [∂d])."""
    g = 1.0 / f[0]
    q = d[0] * g
    return 1.0 + q, tuple((dd - q * df) * g for dd, df in zip(d[1], f[1], strict=True))


def _cf_nr_d(a, b, x, n, alongs, pair=True):
    """((F_n, F_(n-2)), [(∂F_n, ∂F_(n-2)) along each of ``alongs``]) of Numerical Recipes'
    continued fraction ``F = 1/(1 + d_1/(1 + d_2/(1 + ...)))`` (:func:`_cf_nr_deep`), evaluated
    backwards (``f_j = 1 + d_j / f_(j+1)``, ``F = 1/f_1``), with the derivatives carried by hand
    (no autodiff through the loop).  The depth-(n-2) fraction runs in lockstep, sharing the
    partial numerators; ``pair=False`` leaves it out: ``(F_n, [∂F_n])``."""
    start = (jnp.ones_like(x), (jnp.zeros_like(x),) * len(alongs))
    top = n // 2 - 1
    d_o, d_e = _nr_pair(a, b, x, float(top), alongs)
    f1 = _nr_back_step(_nr_back_step(start, d_e), d_o)

    def body(i, carry):
        d_o, d_e = _nr_pair(a, b, x, jnp.asarray(top - 1 - i, x.dtype), alongs)
        return tuple(_nr_back_step(_nr_back_step(f, d_e), d_o) for f in carry)

    fs = jax.lax.fori_loop(0, top, body, (f1, start) if pair else (f1,))
    (v1, d1), *rest = ((1.0 / f[0], tuple(-u / (f[0] * f[0]) for u in f[1])) for f in fs)
    if not pair:
        return v1, d1
    ((v2, d2),) = rest
    return (v1, v2), tuple(zip(d1, d2, strict=True))


def _bfrac_setup(a, b, x, y, lam):
    """λ = a - (a+b) x as a function of (a, b) at fixed x: its value is the accurately computed
    ``lam`` (no cancellation for x near the mean or near 1) and its derivatives are exact."""
    sg = jax.lax.stop_gradient
    # Value: ``lam``; derivatives (any order, any input): those of a - (a+b) x.
    lam = sg(lam) + (a - sg(a)) * sg(y) - (b - sg(b)) * sg(x) - (a + b) * (x - sg(x))
    return 1.0 + lam, b / a, 1.0 + 1.0 / a, 1.0 + y


def _bfrac_step(a, b, x, consts, n, state):
    """One step of DiDonato & Morris' BFRAC recurrence (n >= 1, may be traced)."""
    c, c0, c1, yp1 = consts
    an, bn, anp1, bnp1 = state
    t = n / a
    w = n * (b - n) * x
    s = a + 2.0 * n - 1.0
    pp = 1.0 + (n - 1.0) / a
    e = a / s
    alpha = pp * (pp + c0) * e * e * (w * x)
    beta = n + w / s + (t + 1.0) / (c1 + t + t) * (c + n * yp1)
    an, anp1 = anp1, alpha * an + beta * anp1
    bn, bnp1 = bnp1, alpha * bn + beta * bnp1
    return an, bn, anp1, bnp1


def _rescale(state):
    sc = jax.lax.stop_gradient(1.0 / state[3])
    return tuple(v * sc for v in state)


def _cf(a, b, x, y, lam, n):
    """(F_n, F_{n-2}): convergents of DiDonato & Morris' continued fraction (TOMS 708 BFRAC),
    ``I_x(a, b) = q_t F / a`` with ``q_t = x^a (1-x)^b / B(a, b)``, ``λ = a - (a+b) x``."""
    consts = _bfrac_setup(a, b, x, y, lam)
    state = (jnp.zeros_like(x), jnp.ones_like(x), jnp.ones_like(x), consts[0] / consts[2])

    def body(j, st):
        return _rescale(_bfrac_step(a, b, x, consts, jnp.asarray(j + 1, x.dtype), st))

    # A rolled loop: unrolled, XLA's fusion of this recurrence compiles very slowly.
    state = jax.lax.fori_loop(0, n - 2, body, state, unroll=2)
    old = state[2] / state[3]
    for j in (n - 1, n):
        state = _bfrac_step(a, b, x, consts, float(j), state)
    return a * state[2] / state[3], a * old


def _cf_deep(a, b, x, y, lam, n):
    """The same continued fraction with n steps in a ``fori_loop`` (used only when some element
    of the batch needs it)."""
    consts = _bfrac_setup(a, b, x, y, lam)
    state = (jnp.zeros_like(x), jnp.ones_like(x), jnp.ones_like(x), consts[0] / consts[2])

    def body(j, st):
        return _rescale(_bfrac_step(a, b, x, consts, jnp.asarray(j + 1, x.dtype), st))

    state = jax.lax.fori_loop(0, n, body, state)
    return a * state[2] / state[3]


def _nr_term(a, b, x, j):
    """Partial numerator d_j of Numerical Recipes' form I = q_t / a / (1 + d1/(1 + d2/...))."""
    m = j // 2
    if isinstance(j, int):
        odd = j % 2 == 1
    else:
        odd = None
    if odd is None:  # traced j (deep loop): both, selected
        mf = m.astype(x.dtype)
        d_odd = -(a + mf) * (a + b + mf) * x / ((a + 2 * mf) * (a + 2 * mf + 1))
        d_even = mf * (b - mf) * x / ((a + 2 * mf - 1) * (a + 2 * mf))
        return jnp.where(j % 2 == 1, d_odd, d_even)
    if odd:
        return -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
    return m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))


def _cf_nr(a, b, x, y, lam, n):
    """(F_n, F_{n-2}) of Numerical Recipes' even/odd continued fraction (forward recurrence,
    unrolled; used in float32, where it is the more accurate of the two forms)."""
    del y, lam

    def body(i, st):
        m = jnp.asarray(i).astype(x.dtype)
        for k in range(2):  # steps j = 2m + 1 (odd), 2m + 2 (even)
            a_prev, a_cur, b_prev, b_cur = st
            if k == 0:
                dj = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            else:
                dj = (m + 1) * (b - m - 1) * x / ((a + 2 * m + 1) * (a + 2 * m + 2))
            st = (a_cur, a_cur + dj * a_prev, b_cur, b_cur + dj * b_prev)
        sc = jax.lax.stop_gradient(1.0 / st[1])
        return tuple(v * sc for v in st)

    one, zero = jnp.ones_like(x), jnp.zeros_like(x)
    st = jax.lax.fori_loop(0, n // 2 - 1, body, (one, one, zero, one))
    c_old = st[3] / st[1]
    st = body(jnp.asarray(n // 2 - 1), st)
    return st[3] / st[1], c_old


def _cf_nr_deep(a, b, x, y, lam, n):
    """Numerical Recipes' continued fraction with n partial numerators, backwards in a loop."""
    del y, lam

    def body(i, carry):
        num, den = carry
        j = n - i
        num, den = num + _nr_term(a, b, x, j) * den, num
        sc = jax.lax.stop_gradient(1.0 / num)
        return num * sc, den * sc

    one = jnp.ones_like(x)
    num, den = jax.lax.fori_loop(0, n, body, (one, one))
    return den / num


@jax.custom_jvp
def _root_kl(a, b, t, f, lx, ly, lam):
    """``z₀ = √f``, ``f = (a+b) κ = -(a lx + b ly)`` in the lower-tail orientation (x <= p).

    Differentiated through ``∂f/∂a = -lx``, ``∂f/∂b = -ly``, ``∂f/∂t = -λ`` (λ = a - (a+b) x),
    so nothing cancels near the mean, where f, lx, ly and λ vanish together; at the mean itself
    the limits ``∂z₀/∂(a, b, t) = (b, -a, -ab) / √(2ab(a+b))``.  ``f, lx, ly, lam`` must be those
    of ``(a, b, t)``: their own tangents are not used."""
    del a, b, t, lx, ly, lam
    return jnp.sqrt(f)


@_root_kl.defjvp
def _root_kl_jvp(primals, tangents):
    a, b, t, f, lx, ly, lam = primals
    da, db, dt = tangents[:3]
    z0 = _root_kl(*primals)
    pos = z0 > 0
    half_inv = 0.5 / jnp.where(pos, z0, 1.0)
    lim = jax.lax.rsqrt(2.0 * a * b * (a + b))
    rate_a = jnp.where(pos, -lx * half_inv, b * lim)
    rate_b = jnp.where(pos, -ly * half_inv, -a * lim)
    rate_t = jnp.where(pos, -lam * half_inv, -a * b * lim)
    return z0, rate_a * da + rate_b * db + rate_t * dt


def _basym_coefficients(h, s, n_terms):
    """``d_0 .. d_n`` (``n = n_terms``) of Temme's expansion in DiDonato & Morris' recurrences
    (TOMS 708 BASYM) at ``h = min(a, b)/max(a, b)``, ``s = sign(b - a)``, for any number type
    (exact with ``Fraction``)."""
    r0 = 1 / (1 + h)
    r1 = s * (1 - h)
    a0, c, d = [r1 * 2 / 3], [], []
    c.append(-a0[0] / 2)
    d.append(-c[0])
    s_h, hn = 1, 1
    for n in range(2, n_terms + 1, 2):
        hn = hn * h * h
        a0.append(r0 * 2 * (h * hn + 1) / (n + 2))
        s_h = s_h + hn
        a0.append(r1 * 2 * s_h / (n + 3))
        for i in (n, n + 1):
            rr = -(i + 1) / Fraction(2)
            b0 = [rr * a0[0]]
            for m in range(2, i + 1):
                bsum = sum((j * rr - (m - j)) * a0[j - 1] * b0[m - j - 1] for j in range(1, m))
                b0.append(rr * a0[m - 1] + bsum / m)
            c.append(b0[i - 1] / (i + 1))
            d.append(-(sum((d[i - j - 1] * c[j - 1] for j in range(1, i)), 0) + c[i - 1]))
    return d


@functools.cache
def _basym_polynomials(n_terms):
    """``d_n = s^(n+1) r0^k P_n(h)``, ``r0 = 1/(1+h)``, ``k = ⌈n/2⌉``, with ``P_n`` a polynomial
    of degree ``⌊3(n+1)/2⌋``: the coefficients of each ``P_n``, lowest first, interpolated
    exactly (rational arithmetic) through :func:`_basym_coefficients` at ``h = 0 .. 2 n_terms``
    (enough nodes for ``n_terms >= 2``).  Checked in both signs ``s`` at a point off the nodes."""
    nodes = [Fraction(k) for k in range(2 * n_terms + 1)]

    def scaled(h, s):  # (1+h)^k d_n / s^(n+1)
        d = _basym_coefficients(h, s, n_terms)
        return [v * (1 + h) ** ((n + 1) // 2) * s ** (n + 1) for n, v in enumerate(d)]

    values = list(zip(*(scaled(h, 1) for h in nodes), strict=True))
    polys = []
    for ys in values:
        coef = [Fraction(0)] * len(nodes)
        for i, (xi, yi) in enumerate(zip(nodes, ys, strict=True)):  # Lagrange, monomial basis
            basis, denom = [Fraction(1)], Fraction(1)
            for xj in nodes[:i] + nodes[i + 1 :]:
                basis = [Fraction(0), *basis]
                for k in range(len(basis) - 1):
                    basis[k] -= xj * basis[k + 1]
                denom *= xi - xj
            coef = [u + yi * v / denom for u, v in zip(coef, basis, strict=True)]
        while coef and coef[-1] == 0:
            coef.pop()
        polys.append(coef)
    check = Fraction(3, 7)
    for sign in (1, -1):
        for p, want in zip(polys, scaled(check, sign), strict=True):
            assert sum(c * check**i for i, c in enumerate(p)) == want
    return tuple(tuple(float(c) for c in p) for p in polys)


def _asym_ratio(a, b, t, f, lx, ly, lam, n_terms):
    """``I_x(a, b) / q_t`` for large ``a`` and ``b`` (x below the mean): Temme's uniform
    expansion in DiDonato & Morris' form (TOMS 708 BASYM), ``I = q_t 2√2 √((a+b)/(ab)) S`` with

        S = J₀ + Σ_n d_n w₀ⁿ J_n,   J₀ = 2^(-3/2) R(z),   z = √(2f),

    ``R`` the Mills ratio (:mod:`ml_networks_jax.special.normal`, accurate derivative), ``w₀ =
    1/√(min(a, b)(1 + h))``, ``h = min/max``, and the coefficients ``d_n`` of h from DiDonato &
    Morris' recurrences, as polynomials in h (:func:`_basym_polynomials`).  Smooth in ``a``,
    ``b``, ``t`` (plain autodiff, any order)."""
    z0 = _root_kl(a, b, t, f, lx, ly, lam)
    z = math.sqrt(2.0) * z0
    z2 = 2.0 * z0 * z0
    a_lt_b = a < b
    lo = jnp.where(a_lt_b, a, b)
    hi = jnp.where(a_lt_b, b, a)
    h = lo / hi
    r0 = 1.0 / (1.0 + h)
    sign = jnp.where(a_lt_b, 1.0, -1.0)
    d = [
        _poly(p, h) * r0 ** ((n + 1) // 2) * (sign if n % 2 == 0 else 1.0)
        for n, p in enumerate(_basym_polynomials(n_terms))
    ]
    w0 = jax.lax.rsqrt(lo * (1.0 + h))
    e1 = 2.0**-1.5
    j0 = e1 * _mills(z, 0)[0]
    j1 = e1
    total = j0 + d[0] * w0 * j1
    w, znm1, zn = w0, z, z2
    for n in range(2, n_terms + 1, 2):
        j0 = e1 * znm1 + (n - 1.0) * j0
        j1 = e1 * zn + n * j1
        znm1 = z2 * znm1
        zn = z2 * zn
        w = w * w0
        t0 = d[n - 1] * w * j0
        w = w * w0
        total = total + t0 + d[n] * w * j1
    return 2.0 * math.sqrt(2.0) * jnp.sqrt((a + b) / (a * b)) * total


def _upper_gamma_scaled(s, z, cfg):
    """``g(s, z) = e^z z^(-s) Γ(s, z)`` for ``0 < s < 30``, ``z >= 0.85 s``, smooth (plain
    autodiff).  For ``z >= 1.5`` Legendre's continued fraction ``1/(z + 1 - s - 1(1 - s)/(z + 3 -
    s - 2(2 - s)/(...)))``, evaluated backwards (it converges for ``z >= 0.7 s``, the only large-s
    use here); below, for ``s < 2``, ``g = e^z [expm1(lgamma(1 + s) - s log z)/s - Σ_(k>=1)
    (-z)^k/(k! (s + k))]``, free of the cancellation of ``Γ(s) - γ(s, z)`` for small ``s``."""
    big = z >= 1.5
    zc = jnp.where(big, z, 2.0)
    n_cf = cfg.n_gamma_cf

    def step(i, f):
        k = jnp.asarray(n_cf - i, z.dtype)
        return zc + (2.0 * k - 1.0) - s - k * (k - s) / f

    g_cf = 1.0 / jax.lax.fori_loop(0, n_cf, step, zc + (2.0 * n_cf + 1.0) - s)
    # Below the mean of Beta(a, s) with a >= 100, z >= 0.85 s: the series serves s < 2 only.
    zs = jnp.where(big, 1.0, z)
    sc = jnp.where(big, 1.0, jnp.minimum(s, 2.0))

    def series_step(k, carry):  # z < 1.5: 20 terms reach 1e-14
        term, acc = carry
        k = jnp.asarray(k, z.dtype)
        term = term * (-zs / k)
        return term, acc + term / (sc + k)

    acc = jax.lax.fori_loop(1, 21, series_step, (jnp.ones_like(z), jnp.zeros_like(z)))[1]
    lg1p = _lgamma1p_digamma1p(sc, cfg.n_cheb)[0]
    g_series = jnp.exp(zs) * (jnp.expm1(lg1p - sc * jnp.log(zs)) / sc - acc)
    return jnp.where(big, g_cf, g_series)


def _bgrat_ratio(a, b, log_x, log_y, cfg):
    """``I_x(a, b) / q_t`` for ``a >> b`` (x below the mean): DiDonato & Morris' expansion
    (TOMS 708 BGRAT; Temme 1996 §11.3.3), with ``ν = a + (b-1)/2``, ``z = -ν log x``:

        I_x(a, b) = Γ(a+b)/(Γ(a) Γ(b)) ν^(-b) Σ_n d_n (2ν)^(-2n) Γ(b + 2n, z),

    ``d_n`` the coefficients of ``(sinh w / w)^(b-1) = Σ d_n w^(2n)``.  Divided by ``q_t = x^a
    y^b / B(a, b)``: ``I/q_t = (-log x / y)^b x^((b-1)/2) Σ_n d_n j_n`` with ``j_n = (2ν)^(-2n)
    e^z z^(-b) Γ(b + 2n, z)``, ``j_0 = g(b, z)`` (:func:`_upper_gamma_scaled`) and
    ``j_(n+1) = ((b+2n)(b+2n+1) j_n + (z + b + 2n + 1) (log x / 2)^(2n)) / (4ν²)``.
    Smooth in ``a``, ``b`` (plain autodiff, any order); accurate for ``a >= 100``, ``b < 30``."""
    y = jnp.exp(log_y)
    nu = a + 0.5 * (b - 1.0)
    z = -nu * log_x
    # log(-log x / y): for y <= ½ as log1p((-y - log1p(-y)) / y), no cancellation as y -> 0.
    near = y <= 0.5
    yn = jnp.where(near, y, 0.25)
    log_ratio = jnp.where(
        near,
        jnp.log1p(_u_minus_log1p(-yn, cfg.n_atanh) / yn),
        jnp.log(-jnp.where(near, -1.0, log_x)) - log_y,
    )
    prefactor = jnp.exp(b * log_ratio + 0.5 * (b - 1.0) * log_x)
    j = _upper_gamma_scaled(b, z, cfg)
    v = 0.25 / (nu * nu)
    t2 = 0.25 * log_x * log_x
    c, d = [1.0], [1.0]  # c_n = 1/(2n+1)!: sinh w / w = Σ c_n w^(2n)
    total, tpow = j, jnp.ones_like(z)
    for n in range(1, cfg.n_bgrat + 1):
        bp = b + 2.0 * (n - 1)
        j = (bp * (bp + 1.0) * j + (z + bp + 1.0) * tpow) * v
        tpow = tpow * t2
        c.append(c[-1] / ((2 * n) * (2 * n + 1)))
        d.append((b - 1.0) * c[n] + sum((i * b - n) * c[i] * d[n - i] for i in range(1, n)) / n)
        total = total + d[n] * j
    return prefactor * total


def _with_partials(fn, alongs, a, b, *args):
    """(f, [∂f along each of ``alongs``]) of f = fn(a, b, *args) (:func:`_along`) by forward-mode
    autodiff of the recurrence, all directions in one pass (one loop, tangents batched)."""
    seeds = jnp.stack([al.astype(a.dtype) for al in alongs])
    v, d = jax.vmap(
        lambda ta: jax.jvp(lambda a, b: fn(a, b, *args), (a, b), (ta, 1.0 - ta)),
        out_axes=(None, 0),
    )(seeds)
    return v, tuple(jax.tree.map(lambda u, k=k: u[k], d) for k in range(len(alongs)))


def _prepare(a, b, t):
    valid = (a > 0) & (b > 0) & jnp.isfinite(a) & jnp.isfinite(b) & ~jnp.isnan(t)
    a_c = jnp.where(valid, a, 1.0)
    b_c = jnp.where(valid, b, 1.0)
    t_fin = jnp.isfinite(t)
    t_c = jnp.where(t_fin, t, 0.0)
    return valid, a_c, b_c, t_c, t_fin


#: Longer arrays are cut into equal blocks of at most this size, evaluated one after another
#: (``lax.map``): only one block's intermediates are live at once, and XLA still spreads each of
#: its fused loops over the cores (figures in ``benchmarks/README.md``).
_BLOCK = BLOCK


def _core(a, b, t_in, wrt):
    """Return (I, 1 - I, (h_w for w in wrt), log q_t, valid) for same-shape float arrays:
    ``h_a = (∂I/∂a) / q_t``, ``h_b = (∂I/∂b) / q_t``, each computed only if asked for in ``wrt``
    (a tuple, ``()``, ``("a",)``, ``("b",)`` or ``("a", "b")``).  The smaller tail is always the
    one computed directly."""
    shape, size = a.shape, a.size
    # Padded to a bucketed length; long arrays to blocks of multiples of BUCKET.
    multiple = min(bucket_length(size), BUCKET)
    args = tuple(jnp.ravel(v) for v in (a, b, t_in))
    out = map_blocks(lambda _, *v: _core_flat(*v, wrt), args, (1.0, 1.0, 0.0), _BLOCK, multiple)
    return jax.tree.map(lambda v: v.reshape(shape), out)


def _on_subset(mask, fn, args, fill, rounds):
    """``fn(*args)`` (a tuple of arrays) where ``mask`` is set, zeros elsewhere, for methods
    that few elements need: their elements are gathered (``args`` padded with the harmless values
    ``fill``) into ``rounds`` buffers of ``⌈size/rounds⌉``, each evaluated under ``lax.cond`` only
    if it holds an element, so such a method costs about its own elements' share (a ``lax.scan``,
    differentiable in both modes); nothing at all when no element needs it.  ``rounds=1`` (small
    arrays) evaluates the whole array instead, non-members at ``fill``."""
    size = mask.shape[0]
    cap = -(-size // rounds)
    like = jax.eval_shape(fn, *(jax.ShapeDtypeStruct((cap,), v.dtype) for v in args))

    def zeros(n):
        return jax.tree.map(lambda u: jnp.zeros((n,), u.dtype), like)

    def compacted():
        idx = true_indices(mask, rounds * cap)

        def one_round(_, idx_r):
            def run():
                pairs = zip(args, fill, strict=True)
                return fn(*(v.at[idx_r].get(mode="fill", fill_value=c) for v, c in pairs))

            return None, jax.lax.cond(idx_r[0] < size, run, lambda: zeros(cap))

        _, ys = jax.lax.scan(one_round, None, idx.reshape(rounds, cap))
        return jax.tree.map(lambda z, y: z.at[idx].set(y.ravel(), mode="drop"), zeros(size), ys)

    def in_place():  # one round: the whole array, non-members given ``fill``
        return fn(*(jnp.where(mask, v, c) for v, c in zip(args, fill, strict=True)))

    return jax.lax.cond(jnp.any(mask), compacted if rounds > 1 else in_place, lambda: zeros(size))


def _expansion(fn, n_args, *args):
    """``F = a' I / q_t = a' fn(*args[:n_args])`` and its derivatives along the remaining
    ``args`` (:func:`_along`; ``a'``, ``b'`` are the first two)."""
    args, alongs = args[:n_args], args[n_args:]
    a1 = args[0]
    if not alongs:
        return (a1 * fn(*args),)
    g, g_d = _with_partials(fn, alongs, *args)
    return (a1 * g, *(_along(g, 0.0, al) + a1 * gd for al, gd in zip(alongs, g_d, strict=True)))


@functools.partial(jax.jit, static_argnames="wrt")
def _core_flat(a, b, t_in, wrt):
    """:func:`_core` on 1-D arrays of a bucketed length: shared quantities and the continued
    fraction for every element, the deeper fraction and the expansions (float32) on the elements
    that need them (:func:`_on_subset`)."""
    cfg = _cfg(a.dtype)
    size = a.shape[0]
    rounds_mid, rounds_deep, rounds_exp = (1, 1, 1) if size <= 1024 else (16, 32, 8)
    valid, a, b, t, t_fin = _prepare(a, b, t_in)
    sh = _shared(a, b, t, cfg)
    # Orientation: the lower tail (x below the mean) of (a', b', x') = (a, b, x) or (b, a, 1-x).
    swap = sh["d"] > 0
    flip = lambda u, v: jnp.where(swap, v, u)  # noqa: E731
    a1, b1 = flip(a, b), flip(b, a)
    log_x1, log_y1 = flip(sh["log_x"], sh["log_y"]), flip(sh["log_y"], sh["log_x"])
    lx1, ly1 = flip(sh["lx"], sh["ly"]), flip(sh["ly"], sh["lx"])
    x1, y1 = jnp.exp(log_x1), jnp.exp(log_y1)
    r = sh["r"]
    lam = -a1 * jnp.expm1(lx1)  # a' - (a'+b') x' >= 0
    # One derivative per parameter asked for, in the oriented parameters: ∂/∂a is ∂/∂a' where
    # the orientation is kept and ∂/∂b' where it is swapped (and ∂/∂b the other way round).
    alongs = tuple(~swap if w == "a" else swap for w in wrt)

    def log_q_partial(along_a):
        """∂ log(q_t / a') along a' (``along_a``) or b': log x' - ψ(a'+1) + ψ(a'+b') or
        log y' - ψ(b') + ψ(a'+b') (lmd = log - ψ, lmd1(z) = log z - ψ(z + 1) = lmd(z) - 1/z)."""
        lmd1_a1, lmd1_b1 = flip(sh["lmd1_a"], sh["lmd1_b"]), flip(sh["lmd1_b"], sh["lmd1_a"])
        lmd_r = sh["lmd1_r"] + 1.0 / r
        z, w = _along(a1, b1, along_a), _along(b1, a1, along_a)
        d_z = _lmd_diff(z, w, _along(lmd1_a1, lmd1_b1, along_a) + 1.0 / z, lmd_r)
        l_a = lx1 + jnp.where(b1 <= a1, d_z - 1.0 / a1, lmd1_a1 - lmd_r)
        return _along(l_a, ly1 + d_z, along_a)

    l_d = tuple(log_q_partial(al) for al in alongs)
    ok = valid & t_fin

    # F = a' I / q_t (and its derivatives along ``alongs``).  The expansions' elements (float32,
    # large parameters) first: the continued fraction's value there is discarded.
    expansions = []
    if cfg.n_asym:  # Temme's expansion (BASYM); fill: x at the mean of (20, 20)
        mask = ok & (jnp.minimum(a1, b1) >= cfg.asym_min)
        args = (a1, b1, flip(t, -t), r * sh["kl"], lx1, ly1, lam)
        fill = (20.0,) * 2 + (0.0,) * 5
        fn = functools.partial(_asym_ratio, n_terms=cfg.n_asym)
        expansions.append((mask, fn, args, fill))
    if cfg.n_bgrat:  # BGRAT
        taken = expansions[0][0] if expansions else False
        mask = ok & ~taken & (a1 >= cfg.bgrat_min) & (b1 < _BGRAT_MAX_B)
        args = (a1, b1, log_x1, log_y1)
        fill = (200.0, 0.5, math.log(0.99), math.log(0.01))
        expansions.append((mask, functools.partial(_bgrat_ratio, cfg=cfg), args, fill))
    main = functools.reduce(lambda m, e: m & ~e[0], expansions, ok)

    # The continued fraction; elsewhere x' at half the mean, where it converges at once.
    xc = jnp.where(main, x1, 0.5 * a1 / r)
    yc = jnp.where(main, y1, 1.0 - xc)
    lc = jnp.where(main, lam, 0.5 * a1)
    cf_fn, deep_fn = (_cf, _cf_deep) if cfg.bfrac else (_cf_nr, _cf_nr_deep)

    def fraction(n, a_, b_, x_, y_, l_, *rest):
        """(err, F, ∂F along each of ``alongs``) at depth n: ``err`` is the convergence test of
        the quantities returned, ``a' ∂I/∂a' / q_t = l_a F + ∂F/∂a'`` (< 0) and likewise for b'
        (> 0), relative to themselves, cancellation included (``rest``: the ``l`` then the
        ``alongs``)."""
        l_ks, al = rest[: len(rest) // 2], rest[len(rest) // 2 :]
        if not al:
            fc, fc2 = cf_fn(a_, b_, x_, y_, l_, n)
            return jnp.abs(fc - fc2) / fc, fc
        if cfg.bfrac:
            (fc, fc2), f_d = _with_partials(cf_fn, al, a_, b_, x_, y_, l_, n)
        else:
            (fc, fc2), f_d = _cf_nr_d(a_, b_, x_, n, al)
        err = jnp.abs(fc - fc2) / fc
        for l_k, (fk, fk2) in zip(l_ks, f_d, strict=True):
            err = err + jnp.abs(l_k * (fc - fc2) + (fk - fk2)) / jnp.abs(l_k * fc + fk)
        return err, fc, *(fk for fk, _ in f_d)

    # Padding of the gathered buffers: Beta(1, 1) at x' = 1/4, where the fraction converges at once.
    base, base_fill = (a1, b1, xc, yc, lc), (1.0, 1.0, 0.25, 0.75, 0.5)
    along_fill = (False,) * len(alongs)
    err, *f = fraction(cfg.n_cf, *base, *l_d, *alongs)
    if cfg.n_mid:  # the few that need more terms: the deeper fraction of depth n_mid
        need = main & ~(err <= cfg.cf_tol)
        args, fill = (*base, *l_d, *alongs), base_fill + (0.0,) * len(l_d) + along_fill
        out = _on_subset(need, functools.partial(fraction, cfg.n_mid), args, fill, rounds_mid)
        err, *f = (jnp.where(need, o, v) for o, v in zip(out, (err, *f), strict=True))
    f = tuple(f)

    # Not converged (large a and b near the mean, small b' with x' near 1): a deeper fraction.
    def deep(a_, b_, x_, y_, l_, *al):
        if not al:
            return (deep_fn(a_, b_, x_, y_, l_, cfg.n_deep),)
        if cfg.bfrac:
            fd, fd_d = _with_partials(deep_fn, al, a_, b_, x_, y_, l_, cfg.n_deep)
        else:
            fd, fd_d = _cf_nr_d(a_, b_, x_, cfg.n_deep, al, pair=False)
        return (fd, *fd_d)

    need = main & ~(err <= cfg.cf_tol)
    out = _on_subset(need, deep, (*base, *alongs), base_fill + along_fill, rounds_deep)
    f = tuple(jnp.where(need, d, s) for d, s in zip(out, f, strict=True))
    for mask, fn, args, fill in expansions:
        sub = functools.partial(_expansion, fn, len(args))
        out = _on_subset(mask, sub, (*args, *alongs), fill + (False,) * len(alongs), rounds_exp)
        f = tuple(jnp.where(mask, o, v) for o, v in zip(out, f, strict=True))

    log_q = sh["log_q"]
    tail = jnp.exp(log_q) * f[0] / a1  # I_{x'}(a', b'), the smaller tail
    i_val = jnp.where(swap, 1.0 - tail, tail)
    i_cmp = jnp.where(swap, tail, 1.0 - tail)
    # h = ∂I/∂θ / q_t = ±(l F + ∂F)/a' (∂I'/∂a' with I' = 1 - I where the orientation swaps).
    h = tuple(
        jnp.where(ok, jnp.where(swap, -g, g), 0.0)
        for g in ((l_k * f[0] + f_k) / a1 for l_k, f_k in zip(l_d, f[1:], strict=True))
    )
    # Limits: t = ±inf.
    up = t_in > 0
    i_val = jnp.where(t_fin, i_val, jnp.where(up, 1.0, 0.0))
    i_cmp = jnp.where(t_fin, i_cmp, jnp.where(up, 0.0, 1.0))
    log_q = jnp.where(t_fin, log_q, -jnp.inf)
    return i_val, i_cmp, h, log_q, valid


@jax.jit
def _log_density_flat(a, b, t):
    """log q_t with the validity masks (differentiable by plain autodiff), 1-D arrays."""
    valid, a_c, b_c, t_c, t_fin = _prepare(a, b, t)
    out = _shared(a_c, b_c, t_c, _cfg(a.dtype))["log_q"]
    out = jnp.where(t_fin, out, -jnp.inf)
    return nan_unless(valid, out)


def log_beta_logit_density(a, b, t):
    """Log density of ``t = logit(x) = log(x/(1-x))`` for ``x ~ Beta(a, b)``.

    ``log q_t(t) = a log x + b log(1-x) - log B(a, b)`` with ``log x = -softplus(-t)``,
    ``log(1-x) = -softplus(t)``, evaluated as ``-(a+b) κ(d) + ½ log(a b / (2π(a+b))) +
    stirlerr(a+b) - stirlerr(a) - stirlerr(b)`` (``d = t - log(a/b)``, ``κ`` the Kullback-Leibler
    function of the module doc), so that it stays accurate to a few ulps of its own size for
    ``a, b`` up to ``1e4`` and beyond.  ``t = ±inf`` gives ``-inf``; invalid ``a, b`` give NaN.
    Plain autodiff through it is correct to any order.

    Example:
        >>> from ml_networks_jax.special.beta import log_beta_logit_density
        >>> round(float(log_beta_logit_density(2.0, 3.0, 0.0)), 5)  # log(12 / 32)
        -0.98083
    """
    dtype, (a, b, t) = _promote(a, b, t)
    return on_bucket(_log_density_flat, (a, b, t), (1.0, 1.0, 0.0)).astype(dtype)


def betainc_logit_tangent(a, b, t, wrt="ab"):
    """``(h_a, h_b) = (∂I/∂a, ∂I/∂b) / q_t(t)`` at ``x = σ(t)``, ``I = I_x(a, b)``.

    ``q_t = exp(log_beta_logit_density(a, b, t))`` is the density of ``t``, so the implicit
    gradient of a logit-space Beta draw ``t`` is ``dt/da = -h_a``, ``dt/db = -h_b``.  Computed in
    this scaled form directly (no division by a density that may underflow), from the smaller tail
    (``I_x(a, b) = 1 - I_{1-x}(b, a)``).  ``t = ±inf`` gives ``(0, 0)``; invalid input NaN.

    Args:
        wrt: ``"ab"`` (both), ``"a"`` or ``"b"``: the partials returned, as a tuple in that
            order.  Each one costs a derivative recurrence, so ask only for those you use.

    Example:
        >>> from ml_networks_jax.special.beta import betainc_logit_tangent
        >>> h_a, h_b = betainc_logit_tangent(1.0, 1.0, 0.0)  # x = 1/2: ∓ x log x / (x (1-x))
        >>> round(float(h_a), 5), round(float(h_b), 5)
        (-1.38629, 1.38629)
        >>> (h_a,) = betainc_logit_tangent(1.0, 1.0, 0.0, wrt="a")
    """
    if wrt not in ("ab", "a", "b"):
        raise ValueError(f'wrt must be "ab", "a" or "b", got {wrt!r}')
    dtype, (a, b, t) = _promote(a, b, t)
    _, _, h, _, valid = _core(a, b, t, tuple(wrt))
    return tuple(nan_unless(valid, h_w).astype(dtype) for h_w in h)


def _is_zero(v):
    return isinstance(v, SymbolicZero)


def _moved(da, db):
    """``{"a": da, "b": db}`` without the parameters whose tangent is a symbolic zero: the
    partials a JVP rule needs (``wrt`` of :func:`_core`, in its order)."""
    return {w: dv for w, dv in (("a", da), ("b", db)) if not _is_zero(dv)}


@functools.partial(jax.custom_jvp)
def _betainc_logit(a, b, t):
    i, _, _, _, valid = _core(a, b, t, ())
    return nan_unless(valid, i)


def _betainc_logit_jvp(primals, tangents):
    """dI = q_t (h_a da + h_b db + dt), from differentiable JAX operations."""
    a, b, t = primals
    da, db, dt = tangents
    # One evaluation gives the value, the density and the partials h of the parameters moved.
    moved = _moved(da, db)
    i, _, h, log_q, valid = _core(a, b, t, tuple(moved))
    dens = nan_unless(valid, jnp.exp(log_q))
    rate = jnp.zeros_like(i)
    for h_w, dv in zip(h, moved.values(), strict=True):
        rate = rate + jnp.where(valid, h_w, 0.0) * jnp.asarray(dv, i.dtype)
    if not _is_zero(dt):
        rate = rate + jnp.asarray(dt, i.dtype)
    return nan_unless(valid, i), dens * rate


_betainc_logit.defjvp(_betainc_logit_jvp, symbolic_zeros=True)


def betainc_logit(a, b, t):
    """Regularized incomplete beta ``I_x(a, b)`` at ``x = σ(t) = 1/(1 + e^-t)``.

    Exact where ``σ(t)`` rounds to 0 or 1 (the smaller tail is computed directly;
    ``betainc_logit(b, a, -t) = 1 - betainc_logit(a, b, t)`` keeps full relative accuracy for
    the upper tail).  ``jax.custom_jvp`` in all three arguments: ``∂I/∂t = q_t(t)`` (the density
    of ``t``), ``∂I/∂a = q_t h_a``, ``∂I/∂b = q_t h_b`` (:func:`betainc_logit_tangent`); higher
    derivatives by autodiff of that rule.

    Example:
        >>> from ml_networks_jax.special.beta import betainc_logit
        >>> round(float(betainc_logit(2.0, 3.0, 0.0)), 6)  # I_{1/2}(2, 3) = 11/16
        0.6875
    """
    dtype, (a, b, t) = _promote(a, b, t)
    return _betainc_logit(a, b, t).astype(dtype)


def _betainc_x_parts(a, b, x, wrt):
    """``(I_x(a, b), h, log q_t, log x, log(1 - x), inside)`` with the partials ``h`` in ``wrt``
    (:func:`_core`) at ``t = logit(x)``, from one evaluation."""
    inside = (x > 0) & (x < 1)
    xs = jnp.where(inside, x, 0.5)
    log_x, log_y = jnp.log(xs), jnp.log1p(-xs)
    i, _, h, log_q, valid = _core(a, b, log_x - log_y, wrt)
    value = jnp.where(inside, i, jnp.where(x == 0, 0.0, 1.0))
    return nan_unless(valid & (x >= 0) & (x <= 1), value), h, log_q, log_x, log_y, inside


@jax.custom_jvp
def _betainc_x(a, b, x):
    return _betainc_x_parts(a, b, x, ())[0]


@_betainc_x.defjvp
def _betainc_x_jvp(primals, tangents):
    """dI = q_t (h_a da + h_b db) + q_x dx with q_x = q_t / (x (1 - x)) the density of x."""
    a, b, x = primals
    da, db, dx = tangents
    valid = (a > 0) & (b > 0) & jnp.isfinite(a) & jnp.isfinite(b) & ~jnp.isnan(x)
    moved = _moved(da, db)
    # One evaluation gives the value, the density and the partials h of the parameters moved.
    value, h, log_q, log_x, log_y, inside = _betainc_x_parts(a, b, x, tuple(moved))
    dens_t = jnp.where(inside, jnp.exp(log_q), 0.0)
    dens_t = nan_unless(valid, dens_t)
    out = jnp.zeros_like(value)
    for h_w, dv in zip(h, moved.values(), strict=True):
        out = out + dens_t * jnp.where(inside, h_w, 0.0) * jnp.asarray(dv, value.dtype)
    if not _is_zero(dx):
        # Density of x; at the edges its limit (inf, a B-dependent constant or 0).
        dens_x = jnp.exp(log_q - log_x - log_y)
        ac = jnp.where(valid, a, 1.0)
        bc = jnp.where(valid, b, 1.0)
        at0 = jnp.where(ac < 1, jnp.inf, jnp.where(ac == 1, bc, 0.0))
        at1 = jnp.where(bc < 1, jnp.inf, jnp.where(bc == 1, ac, 0.0))
        dens_x = jnp.where(inside, dens_x, jnp.where(x <= 0, at0, at1))
        dens_x = nan_unless(valid & (x >= 0) & (x <= 1), dens_x)
        out = out + dens_x * jnp.asarray(dx, value.dtype)
    return value, out


_betainc_x.defjvp(_betainc_x_jvp, symbolic_zeros=True)


def betainc(a, b, x):
    """Regularized incomplete beta ``I_x(a, b)`` for ``x`` in ``[0, 1]`` (``I_0 = 0``,
    ``I_1 = 1`` exactly; NaN outside), with a ``jax.custom_jvp`` in ``a``, ``b`` and ``x``.

    Built on :func:`betainc_logit` at ``t = log x - log1p(-x)``.

    Example:
        >>> from ml_networks_jax.special.beta import betainc
        >>> round(float(betainc(2.0, 3.0, 0.5)), 6)
        0.6875
    """
    dtype, (a, b, x) = _promote(a, b, x)
    return _betainc_x(a, b, x).astype(dtype)
