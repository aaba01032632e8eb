"""The truncated normal distribution, with implicit gradients in all four parameters.

Notation: ``α = (low - loc)/σ``, ``β = (high - loc)/σ``, ``ζ = (z - loc)/σ`` and
``Z = Φ(β) - Φ(α)``. Every quantity is written relative to ``φ`` at a nearby point, never through
``Φ(α)`` and ``Φ(β)`` themselves, so that intervals 40σ or more out in either tail, narrow or wide,
keep full relative accuracy in float32 (where ``Φ(β) - Φ(α)`` underflows and ``log Z`` and
``-ζ²/2`` cancel to a few digits). The integrals ``D_k(p, L) = ∫_0^L s^k e^{-ps - s²/2} ds`` of
:mod:`ml_networks_jax.special.normal` are the building block: with ``r`` the point of
``[α, β]`` closest to 0, ``Z = φ(r)·[D_0(|r|, β - r) + D_0(|r|, r - α)] = φ(r) M``.

Implicit gradients. With ``F = (Φ(ζ) - Φ(α))/Z`` and ``S = 1 - F``,

    ∂z/∂low  = S φ(α)/φ(ζ),               ∂z/∂high = F φ(β)/φ(ζ),
    ∂z/∂loc  = F J₁⁺ + S J₁⁻,             ∂z/∂σ    = ζ ∂z/∂loc + (ζ - α) ∂z/∂low - (β - ζ) ∂z/∂high,

with ``J₁⁺ = ∫_ζ^β (ξ - ζ) φ(ξ)/φ(ζ) dξ`` and ``J₁⁻ = ∫_α^ζ (ζ - ξ) φ(ξ)/φ(ζ) dξ``. The last two
follow from ``-(∂F/∂θ)/q`` by writing ``∂F/∂loc`` as a covariance, ``F S (E[ξ | ξ < ζ] - E[ξ | ξ >
ζ])/σ``, and from the invariance of the family under affine maps; unlike the textbook
``1 - ∂z/∂low - ∂z/∂high`` they are sums of positive terms, exact where the sample is rigid (far
tails, narrow intervals, near a bound). All of them are evaluated in log space from the ``D_k``.

Sampling is by inversion in log space on the side of the mean where the interval lies mostly:
``log Φ(ζ) = logaddexp(log Φ(α), log u + log Z)``, ``ζ = ndtri_exp(·)`` (mirrored by
``ζ → -ζ`` when the interval is mostly above the mean), clamped strictly inside ``(low, high)``.
Its resolution in ``F`` is ``ε |log Φ(ζ)| Φ(ζ)/Z``, i.e. about one ulp of ``z`` for intervals
in the tails, but coarser for very narrow intervals near the mean (width 1e-3σ at the mean:
``F`` resolved to ~1e-4 in float32, ~1e-13 in float64). Gradients are exact at whatever ``z``
is drawn.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._indices import nan_unless
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import (
    Distribution,
    checked,
    distribution,
    open_uniform,
    param,
    quantile,
)
from ml_networks_jax.special.normal import (
    _gauss_legendre,
    _gl_points,
    anchor,
    anchored_mass,
    log_ndtr,
    log_ndtr_diff_parts,
    ndtri_exp,
    tail_integrals_pair,
)

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))
_NARROW = 2.0  # width (|centre| + width/2) below which dz/dσ takes the covariance form


def _compute_dtype(dtype):
    return dtype if dtype in (jnp.float32, jnp.float64) else jnp.float32


def _side_lengths(y, b, b_minus_y):
    """Split ``[y, b]`` at ``m = clip(0, y, b)``: ``(m, b - m, m - y)`` from exact differences."""
    m, upper, d, _, _ = anchor(y, b, b_minus_y)
    return m, upper, d


def _sides(y, a, b, y_minus_a, b_minus_y):
    """``(log c, v₀, v₁)`` for the right side ``[y, b]`` and the (mirrored) left side ``[a, y]``:
    ``J_k = ∫_y^b (ξ - y)^k φ(ξ)/φ(y) dξ = c v_k`` and likewise with ``(y - ξ)^k`` on the left.

    Each side is split at ``m = clip(0, ·)``: ``J_k = φ(m)/φ(y) · [∫_m^b + ∫_y^m]``, two pieces of
    the form ``D_k(|m|, L)``; nothing cancels but ``v₁``'s ``d D₀ - D₁ >= d D₀/2``. The four
    ``D_k`` evaluations are stacked into one call.
    """
    yy = jnp.stack([y, -y])
    m, upper, d = _side_lengths(yy, jnp.stack([b, -a]), jnp.stack([b_minus_y, y_minus_a]))
    p = jnp.abs(m)
    (d0u, d1u), (d0l, d1l) = tail_integrals_pair(p, upper, p, d, 1)
    log_c = -0.5 * d * (yy + m)  # log φ(m) - log φ(y)
    v0 = d0u + d0l
    v1 = d1u + d * v0 - d1l
    return (log_c[0], v0[0], v1[0]), (log_c[1], v0[1], v1[1])


@distribution
class TruncatedNormal(Distribution):
    """Normal ``N(loc, scale²)`` restricted to ``[low, high]``.

    Density ``q(z) = φ(ζ) / (σ Z)`` for ``low <= z <= high`` (``ζ = (z - loc)/σ``,
    ``Z = Φ(β) - Φ(α)``, ``α, β`` the standardized bounds); ``low = -inf`` and ``high = +inf``
    are allowed. Samples are exact inversions, strictly inside ``(low, high)``, with implicit
    gradients ``dz/dθ = -(∂F/∂θ)/q`` in all four parameters, accurate to a few ulps also when the
    interval lies 40σ or more in a tail (see the module doc for the formulas).

    Args:
        loc: mean of the untruncated normal.
        scale: its standard deviation (> 0).
        low: lower bound (may be ``-inf``).
        high: upper bound (may be ``+inf``), ``> low``; ``low >= high`` gives NaN.

    Example:
        >>> import jax, ml_networks_jax as mnj
        >>> from ml_networks_jax.distributions.truncated_normal import TruncatedNormal
        >>> d = TruncatedNormal(0.0, 1.0, 40.0, 41.0)  # 40σ out: mean ≈ low + 1/low
        >>> print(f"{float(d.mean()):.3f}")
        40.025
        >>> g = jax.jit(jax.grad(lambda lo: TruncatedNormal(0.0, 1.0, lo, 41.0).rsample(
        ...     jax.random.key(0), (4096,)).mean()))(40.0)
        >>> print(f"{float(g):.2f}")  # d E[z]/d low ≈ 1
        1.00
    """

    loc: Array = param()
    scale: Array = param()
    low: Array = param()
    high: Array = param()

    _positive = ("scale",)

    def _valid(self) -> Array:
        return super()._valid() & (self.low < self.high)

    # ---- helpers -----------------------------------------------------------------------------

    def _cparams(self):
        """The parameters broadcast to ``batch_shape``, in the compute dtype."""
        dtype = _compute_dtype(self.dtype)
        return [
            jnp.broadcast_to(jnp.asarray(p, dtype), self.batch_shape)
            for p in (self.loc, self.scale, self.low, self.high)
        ]

    def _std(self, x):
        """Standardized bounds and point, with differences taken before dividing."""
        loc, scale, low, high = self._cparams()
        x = jnp.asarray(x, loc.dtype)
        shape = jnp.broadcast_shapes(jnp.shape(x), loc.shape)
        x, loc, scale, low, high = (jnp.broadcast_to(v, shape) for v in (x, loc, scale, low, high))
        inv = 1.0 / scale
        # Infinite bounds: finite stand-ins inside the arithmetic (double-where), so that no
        # derivative meets inf * 0; the infinite values are selected afterwards.
        fin_lo, fin_hi = jnp.isfinite(low), jnp.isfinite(high)
        lo = jnp.where(fin_lo, low, loc - scale)
        hi = jnp.where(fin_hi, high, loc + scale)
        return dict(
            a=jnp.where(fin_lo, (lo - loc) * inv, low),
            b=jnp.where(fin_hi, (hi - loc) * inv, high),
            b_a=jnp.where(fin_lo & fin_hi, (hi - lo) * inv, jnp.inf),
            y=(x - loc) * inv,
            y_a=jnp.where(fin_lo, (x - lo) * inv, jnp.inf),
            b_y=jnp.where(fin_hi, (hi - x) * inv, jnp.inf),
            scale=scale,
            valid=low < high,
        )

    def _sides(self, x):
        """Log-space ``F`` and ``S`` at ``x`` and the side integrals.  At or beyond an end of
        the support an interior point stands in (no zero-length side reaches a gradient) and
        ``(log F, log S)`` take their limits there, ``(-inf, 0)`` or ``(0, -inf)``."""
        loc, scale, low, high = self._cparams()
        x = jnp.asarray(x, loc.dtype)
        valid = low < high
        below, above = x <= low, x >= high
        lo_fin, hi_fin = jnp.isfinite(low), jnp.isfinite(high)
        interior = jnp.where(
            lo_fin & hi_fin,
            0.5 * low + 0.5 * high,
            jnp.where(lo_fin, low + scale, jnp.where(hi_fin, high - scale, loc)),
        )
        xc = jnp.where(valid & (below | above), interior, x)
        s = self._std(xc)
        (lc_r, v0_r, v1_r), (lc_l, v0_l, v1_l) = _sides(s["y"], s["a"], s["b"], s["y_a"], s["b_y"])
        log_j0r = lc_r + jnp.log(v0_r)
        log_j0l = lc_l + jnp.log(v0_l)
        log_norm = jnp.logaddexp(log_j0l, log_j0r)  # log(Z/φ(y)) = -log(σ q(x))
        log_f = jnp.where(below, -jnp.inf, jnp.where(above, 0.0, log_j0l - log_norm))
        log_s = jnp.where(below, 0.0, jnp.where(above, -jnp.inf, log_j0r - log_norm))
        return s, log_f, log_s, (lc_r, v1_r, lc_l, v1_l)

    def _anchor_integrals(self, order: int):
        """``(s, r, [D_k(upper)], [D_k(lower)])`` for the whole interval split at ``r``."""
        s = self._std(jnp.zeros((), _compute_dtype(self.dtype)))
        a, b, b_a = s["a"], s["b"], s["b_a"]
        valid = s["valid"]
        a = jnp.where(valid, a, 0.0)
        b = jnp.where(valid, b, 1.0)
        b_a = jnp.where(valid, b_a, 1.0)
        r, upper, lower, _, _ = anchor(a, b, b_a)
        p = jnp.abs(r)
        up, lo = tail_integrals_pair(p, upper, p, lower, order)
        return s, r, up, lo

    def _out(self, x, valid):
        return nan_unless(valid, x).astype(self.dtype)

    # ---- sampling ----------------------------------------------------------------------------

    def _quantile(self, log_u, log_1mu):
        """``F⁻¹(u)`` from ``log u`` and ``log(1 - u)``, by inversion on the lower side."""
        loc, scale, low, high = self._cparams()
        s = self._std(loc)
        a, b = s["a"], s["b"]
        mirror = (low - loc) + (high - loc) > 0  # mostly above the mean: invert ζ → -ζ
        ac = jnp.where(mirror, -b, a)
        bc = jnp.where(mirror, -a, b)
        log_z = log_ndtr_diff_parts(ac, bc, s["b_a"])[0]
        log_target = jnp.logaddexp(log_ndtr(ac), jnp.where(mirror, log_1mu, log_u) + log_z)
        yc = ndtri_exp(jnp.minimum(log_target, 0.0))
        z = loc + scale * jnp.where(mirror, -yc, yc)
        # The neighbouring floats inside (low, high); at least the smallest normal number away,
        # since subnormals may be flushed to zero.
        tiny = jnp.finfo(loc.dtype).tiny
        lo, hi = jax.lax.stop_gradient((low, high))
        inside_low = jnp.where(lo == 0, tiny, jnp.nextafter(lo, hi))
        inside_high = jnp.where(hi == 0, -tiny, jnp.nextafter(hi, lo))
        z = jnp.clip(z, inside_low, jnp.maximum(inside_high, inside_low))
        return self._out(z, s["valid"])

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        u = open_uniform(key, shape, _compute_dtype(self.dtype))
        # u and 1 - u are equally distributed: the same variate serves both orientations.
        log_u = jnp.log(u)
        return self._quantile(log_u, log_u)

    @quantile
    def icdf(self, p: ArrayLike) -> Array:
        """Quantile function ``F⁻¹(p)``, by the sampler's inversion."""
        p = jnp.asarray(p, _compute_dtype(self.dtype))
        return self._quantile(jnp.log(p), jnp.log1p(-p))

    # ---- densities ---------------------------------------------------------------------------

    def support(self) -> tuple[Array, Array]:
        """``(low, high)`` broadcast to ``batch_shape``."""
        return tuple(jnp.broadcast_to(v, self.batch_shape) for v in (self.low, self.high))

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        """``log q(x) = -log σ - (ζ - r)(ζ + r)/2 - log M``; ``-inf`` outside ``[low, high]``."""
        loc, scale, low, high = self._cparams()
        x = jnp.asarray(x, loc.dtype)
        valid = low < high
        inside = (x >= low) & (x <= high)
        xs = jnp.where(inside, x, jnp.where(valid, low, 0.0))
        s = self._std(xs)
        a = jnp.where(valid, s["a"], 0.0)
        b = jnp.where(valid, s["b"], 1.0)
        b_a = jnp.where(valid, s["b_a"], 1.0)
        r, log_m = anchored_mass(a, b, b_a)
        _, _, _, at_a, at_b = anchor(a, b, b_a)
        y_r = jnp.where(at_a, s["y_a"], jnp.where(at_b, -s["b_y"], s["y"]))
        value = -jnp.log(scale) - 0.5 * y_r * (s["y"] + r) - log_m
        value = jnp.where(inside, value, -jnp.inf)
        value = nan_unless(~jnp.isnan(x), value)
        return self._out(value, valid)

    @checked
    def log_cdf(self, x: ArrayLike) -> Array:
        """``log F(x)``, accurate in both tails of the truncated law and 40σ out."""
        s, log_f, _, _ = self._sides(x)
        return self._out(log_f, s["valid"])

    @checked
    def log_survival(self, x: ArrayLike) -> Array:
        """``log(1 - F(x))``, computed directly (no ``1 - F``)."""
        s, _, log_s, _ = self._sides(x)
        return self._out(log_s, s["valid"])

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        """``F(x) = (Φ(ζ) - Φ(α))/Z``: 0 below ``low``, 1 above ``high``."""
        s, log_f, log_s, _ = self._sides(x)
        value = jnp.where(log_f < -0.6931471805599453, jnp.exp(log_f), -jnp.expm1(log_s))
        return self._out(value, s["valid"])

    # ---- implicit gradient -------------------------------------------------------------------

    def _sample_gradients(self, z):
        """``(dz/dloc, dz/dscale, dz/dlow, dz/dhigh)`` at ``z`` (module doc)."""
        s, log_f, log_s, (lc_r, v1_r, lc_l, v1_l) = self._sides(z)
        y, a, b, y_a, b_y = s["y"], s["a"], s["b"], s["y_a"], s["b_y"]
        fin_a, fin_b = jnp.isfinite(a), jnp.isfinite(b)
        d_loc = jnp.exp(log_f + lc_r) * v1_r + jnp.exp(log_s + lc_l) * v1_l
        a_s = jnp.where(fin_a, a, y - 1.0)
        b_s = jnp.where(fin_b, b, y + 1.0)
        ya_s = jnp.where(fin_a, y_a, 1.0)
        by_s = jnp.where(fin_b, b_y, 1.0)
        d_low = jnp.where(fin_a, jnp.exp(log_s + 0.5 * ya_s * (y + a_s)), 0.0)
        d_high = jnp.where(fin_b, jnp.exp(log_f - 0.5 * by_s * (y + b_s)), 0.0)
        d_scale = (
            y * d_loc + jnp.where(fin_a, ya_s * d_low, 0.0) - jnp.where(fin_b, by_s * d_high, 0.0)
        )
        # Narrow intervals: the last two terms cancel to O(width²); use the covariance form
        # dz/dσ = 2c dz/dloc + F K⁺ - S K⁻ about the centre c, K± = ∫ (ξ - c)² φ(ξ)/φ(ζ) dξ.
        b_a = s["b_a"]
        c = 0.5 * (a_s + b_s)
        narrow = fin_a & fin_b & (b_a * (jnp.abs(c) + 0.5 * b_a) <= _NARROW)
        y_c = 0.5 * (ya_s - by_s)
        lr = jnp.where(narrow, by_s, 0.0)
        ll = jnp.where(narrow, ya_s, 0.0)
        yn = jnp.where(narrow, y, 0.0)
        nodes, weights = _gauss_legendre(_gl_points(y.dtype))
        nodes, weights = jnp.asarray(nodes, y.dtype), jnp.asarray(weights, y.dtype)
        sr, sl = lr[..., None] * nodes, ll[..., None] * nodes
        k_r = jnp.sum(
            weights * (y_c[..., None] + sr) ** 2 * jnp.exp(-sr * (yn[..., None] + 0.5 * sr)), -1
        )
        k_l = jnp.sum(
            weights * (y_c[..., None] - sl) ** 2 * jnp.exp(sl * (yn[..., None] - 0.5 * sl)), -1
        )
        q2 = jnp.exp(log_f) * lr * k_r - jnp.exp(log_s) * ll * k_l
        d_scale = jnp.where(narrow, 2.0 * c * d_loc + q2, d_scale)
        return d_loc, d_scale, d_low, d_high

    def _cdf_tangent(self, ddist: TruncatedNormal, z: Array) -> Array:
        """``(∂F/∂θ · dθ) / q(z) = -dz``, from the sample gradients."""
        d_loc, d_scale, d_low, d_high = self._sample_gradients(z)
        t = [jnp.asarray(v, d_loc.dtype) for v in (ddist.loc, ddist.scale, ddist.low, ddist.high)]
        dz = d_loc * t[0] + d_scale * t[1] + d_low * t[2] + d_high * t[3]
        return -dz.astype(z.dtype)

    # ---- moments -----------------------------------------------------------------------------

    @checked
    def mean(self) -> Array:
        """``loc + σ (φ(α) - φ(β))/Z``, with ``φ(α) - φ(β)`` taken relative to ``φ(r)``."""
        s, r, up, lo = self._anchor_integrals(1)
        a, b, b_a = s["a"], s["b"], s["b_a"]
        fin_a, fin_b = jnp.isfinite(a), jnp.isfinite(b)
        a_s = jnp.where(fin_a, a, r)
        b_s = jnp.where(fin_b, b, r)
        ea = jnp.where(fin_a, 0.5 * (a_s - r) * (a_s + r), jnp.inf)
        eb = jnp.where(fin_b, 0.5 * (b_s - r) * (b_s + r), jnp.inf)
        delta = jnp.where(
            fin_a & fin_b,
            -0.5 * jnp.where(fin_a & fin_b, b_a, 1.0) * (a_s + b_s),
            jnp.where(fin_a, -jnp.inf, jnp.where(fin_b, jnp.inf, 0.0)),
        )  # ea - eb
        first = delta <= 0  # φ(α) >= φ(β)
        diff = jnp.where(
            first,
            -jnp.exp(-jnp.where(first, ea, 0.0)) * jnp.expm1(jnp.where(first, delta, 0.0)),
            jnp.exp(-jnp.where(first, 0.0, eb)) * jnp.expm1(jnp.where(first, 0.0, -delta)),
        )
        m = up[0] + lo[0]
        loc, scale, _, _ = self._cparams()
        return self._out(loc + scale * diff / m, s["valid"])

    def _anchored_moments(self):
        s, r, up, lo = self._anchor_integrals(2)
        m = up[0] + lo[0]
        e1 = (up[1] - lo[1]) / m  # E[ζ - r]
        e2 = (up[2] + lo[2]) / m  # E[(ζ - r)²]
        return s, r, m, e1, e2

    @checked
    def variance(self) -> Array:
        """``σ² (E[(ζ - r)²] - E[ζ - r]²)``: the anchored moments cancel by at most 4×."""
        s, _, _, e1, e2 = self._anchored_moments()
        return self._out(s["scale"] ** 2 * (e2 - e1 * e1), s["valid"])

    @checked
    def entropy(self) -> Array:
        """``log σ + log M + E[(ζ - r)²]/2 + r E[ζ - r]`` (``= log(√(2π) σ Z) + E[ζ²]/2``)."""
        s, r, m, e1, e2 = self._anchored_moments()
        return self._out(jnp.log(s["scale"]) + jnp.log(m) + 0.5 * e2 + r * e1, s["valid"])

    @checked
    def mode(self) -> Array:
        """``clip(loc, low, high)``."""
        loc, _, low, high = self._cparams()
        return self._out(jnp.clip(loc, low, high), low < high)


def kl_truncated_normal_uniform(p: TruncatedNormal, q) -> Array:
    """``KL(p ‖ q) = -H(p) + log(high_q - low_q)`` for a ``Uniform`` ``q`` whose support contains
    ``[low_p, high_p]``; ``+inf`` otherwise.

    Example:
        >>> import ml_networks_jax as mnj
        >>> from ml_networks_jax.distributions.truncated_normal import (
        ...     TruncatedNormal, kl_truncated_normal_uniform)
        >>> p, q = TruncatedNormal(0.0, 1.0, -1.0, 1.0), mnj.Uniform(-1.0, 1.0)
        >>> kl = kl_truncated_normal_uniform(p, q)
        >>> print(f"{float(kl):.4f}")
        0.0104
    """
    inside = (q.low <= p.low) & (p.high <= q.high)
    return jnp.where(inside, -p.entropy() + jnp.log(q.high - q.low), jnp.inf)
