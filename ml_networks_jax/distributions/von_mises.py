"""The von Mises distribution on the circle, with implicit reparameterization in the concentration.

Sampling is Best & Fisher's (1979) wrapped-Cauchy rejection method, rewritten in the half-angle
variable so that it is exact in float32 for every concentration (the textbook form computes
``arccos`` of a number within ``1/κ`` of 1 and loses all precision near ``κ = 1e4``):

* a proposal ``t = γ tan(π(V - ½))``, ``θ = 2 atan(t)`` is wrapped Cauchy with
  ``γ = (1 - ρ)/(1 + ρ)`` (Best & Fisher's ``ρ``, computed without cancellation);
* with ``s = 1 - cos θ = 2t²/(1 + t²)`` the log ratio of target to proposal is
  ``g(s) = -κs + log(2γ² + (1 - γ²)s) + const``, maximal at ``s*``, ``κs* = 1 - 2κγ²/(1 - γ²)``,
  and ``g(s) - g(s*) = log1p(κd) - κd`` with ``κd = κs - κs*``: accept iff
  ``log U <= log1p(κd) - κd``. Every quantity is O(1), for ``κ`` from 1e-3 to 1e4 and beyond.

The acceptance rate is above ``√(e/2π) = 0.6577`` for every ``κ`` (its limit as ``κ → ∞``).
Vectorized with static shapes: every element tries one candidate; the rejected ones are gathered
into a buffer (about 36% of the batch) and try two candidates each; those still rejected go to a
smaller buffer, gathered from the first one only, and retry eight candidates at a time for at
most 8 rounds. Every element draws its candidates from random streams of its own (numbered by
its position and its count of tries, ``stream_uniforms``), so its draw depends on its own
concentration only, never on which other elements are rejected or invalid (invalid ones never
enter the buffers). An element rejected after all that (probability below 1e-31) is NaN, never a
biased value. Batches longer than 65,536 run this block by block (each with its own key,
``fold_in``): only one block's random bits and buffers are live at once, which keeps a jitted
training step's scratch memory small (figures in ``benchmarks/README.md``). ``tan``, ``atan``
and ``sin`` are vectorized polynomials: XLA's CPU versions are scalar library calls.

Gradients: ``loc`` is a location (``dz/dloc = 1``); the concentration is implicit,
``dz/dκ = -(∂F/∂κ)/q(z)``, with ``(∂F/∂κ)/q`` computed directly in scaled form by
:func:`ml_networks_jax.special.von_mises.von_mises_cdf_concentration_tangent`, accurate at
``κ = 1e4`` in float32 where ``q`` spans hundreds of orders of magnitude.

References:
    D. J. Best & N. I. Fisher, "Efficient simulation of the von Mises distribution", Applied
    Statistics 28 (1979) 152-157.
    M. Figurnov, S. Mohamed & A. Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ml_networks_jax._indices import draw_in_blocks, nan_unless, on_bucket, stream_uniforms
from ml_networks_jax._types import Array, ArrayLike, PRNGKey
from ml_networks_jax.distributions.base import Distribution, checked, distribution, param
from ml_networks_jax.special.von_mises import (
    _poly,
    log_i0e,
    one_minus_bessel_ratio,
    sin_quarter,
    von_mises_cdf,
    von_mises_cdf_concentration_tangent,
    von_mises_log_prob,
)

#: Retry stages: the rejected elements of the first pass (each with probability below
#: ``_REJECT``) are gathered into a buffer of :func:`_first_buffer` elements and try two
#: candidates each; the ones still rejected there (at most 0.343² ≈ 11.7%) are gathered into a
#: buffer of 15% of that one (+64) and retry eight candidates at a time, for at most 8 rounds
#: (one that does not fit waits for the next): failure probability < 0.343^67 < 1e-31.
_REJECT = 1.0 - math.sqrt(math.e / (2.0 * math.pi))  # the rejection rate's limit as κ → ∞
_FIRST_CANDIDATES = 2
_LOOP = (0.15, 8, 8)  # buffer fraction, candidates, rounds
_SLACK = 64
_STREAMS = 2 + _LOOP[2]  # random streams per element: first candidate, first buffer, each round


def _first_buffer(size: int) -> int:
    """``_REJECT·size + 4.5√size + 64`` (at most ``size``): the first pass's rejections, at most
    Binomial(size, ``_REJECT``), exceed it with probability below 1e-22 for every block size
    (4.5√size is about 9.5 standard deviations); an element that does not fit is never retried.
    """
    return min(size, int(_REJECT * size + 4.5 * math.sqrt(size)) + _SLACK)


def wrap_angle(x: ArrayLike) -> Array:
    """``x`` reduced to ``[-π, π)`` (``x - 2π·floor((x + π)/2π)``); derivative 1."""
    x = jnp.asarray(x)
    two_pi = np.asarray(2.0 * math.pi, x.dtype)
    pi = np.asarray(math.pi, x.dtype)
    y = x - two_pi * jax.lax.stop_gradient(jnp.floor((x + pi) / two_pi))
    return jnp.where(y >= pi, y - two_pi, y)


def _tan_pi(u: Array) -> Array:
    """``tan(πu)`` for ``u ∈ [-½, ½]`` as ``sin(π|u|)/sin(π(½ - |u|))`` with vectorized
    polynomials (XLA's CPU ``tan`` is a slow scalar call); ``±inf`` at ``u = ±½``."""
    a = jnp.abs(u)
    pi = np.asarray(math.pi, u.dtype)
    ratio = sin_quarter(pi * a) / sin_quarter(pi * (0.5 - a))
    return jnp.where(u < 0, -ratio, ratio)


def _atan(t: Array) -> Array:
    """``arctan(t)`` for any ``t`` (incl. ``±inf``): reduced to ``|y| <= tan(π/8)`` by
    ``atan t = π/2 - atan(1/t)`` and ``atan x = π/4 + atan((x - 1)/(x + 1))``, then Taylor."""
    dtype = t.dtype
    a = jnp.abs(t)
    inv = a > 1.0
    x = jnp.where(inv, 1.0 / jnp.where(inv, a, 1.0), a)  # in [0, 1]
    mid = x > np.asarray(math.tan(math.pi / 8), dtype)
    y = jnp.where(mid, (x - 1.0) / (x + 1.0), x)  # |y| <= tan(π/8)
    n = 22 if dtype == jnp.float64 else 9
    r = y * _poly(tuple((-1) ** j / (2 * j + 1) for j in range(n)), y * y)
    r = jnp.where(mid, r + np.asarray(math.pi / 4, dtype), r)
    r = jnp.where(inv, np.asarray(math.pi / 2, dtype) - r, r)
    return jnp.where(t < 0, -r, r)


def _proposal(kappa: Array) -> tuple[Array, Array]:
    """``(γ, κs*)`` of the wrapped-Cauchy envelope for concentration ``κ > 0``."""
    # q = sqrt(1 + 4κ²), τ = 1 + q, ρ = (τ - sqrt(2τ))/(2κ) = 2κτ / ((q + 1)(τ + sqrt(2τ))).
    big = kappa > 1.0
    kb = jnp.where(big, kappa, 1.0)
    q = jnp.where(big, kb * jnp.sqrt(4.0 + 1.0 / (kb * kb)), jnp.sqrt(1.0 + 4.0 * kappa * kappa))
    tau = 1.0 + q
    rho = 2.0 * kappa * tau / ((q + 1.0) * (tau + jnp.sqrt(2.0 * tau)))
    gamma = (1.0 - rho) / (1.0 + rho)
    m = 1.0 - 2.0 * kappa * gamma * gamma / ((1.0 - gamma) * (1.0 + gamma))
    return gamma, m


def _candidates(v: Array, params: tuple[Array, Array, Array]) -> tuple[Array, Array]:
    """``n`` candidates per element from uniforms ``v`` of shape ``(2, n) + κ.shape``, the first
    accepted one kept: ``(t, accepted?)`` with the half-angle tangent ``t = tan(θ/2)``."""
    kappa, gamma, m = params
    t = gamma * _tan_pi(v[0] - 0.5)
    s = 2.0 / (1.0 + 1.0 / (t * t))  # 1 - cos θ, also for t = 0 and t = ±inf
    kd = kappa * s - m
    accept = jnp.log1p(-v[1]) <= jnp.log1p(kd) - kd
    if v.shape[1] == 1:
        return t[0], accept[0]
    first = jnp.argmax(accept, axis=0)[None]
    return jnp.take_along_axis(t, first, axis=0)[0], jnp.any(accept, axis=0)


def _pending_sources(pending: Array, buffer: int) -> tuple[Array, Array]:
    """Indices of the first ``buffer`` pending elements (``size`` where there are fewer) and, for
    every element, its slot among the pending ones. Prefix sums and a branch-free binary search
    (gathers only: XLA's CPU scatter, cumsum and searchsorted are several times slower)."""
    size = pending.shape[0]
    count = jnp.cumsum(pending, dtype=jnp.int32)  # inclusive
    slot = count - 1
    j = jnp.arange(buffer, dtype=jnp.int32)
    top = max(size.bit_length() - 1, 0)

    def bisect(i, src):  # src = number of elements with count <= j
        cand = src + jnp.left_shift(1, top - i)
        ok = (cand <= size) & (count.at[cand - 1].get(mode="clip") <= j)
        return jnp.where(ok, cand, src)

    src = jax.lax.fori_loop(0, top + 1, bisect, jnp.zeros((buffer,), jnp.int32))
    return src, slot


def _gather(draws, buffer: int, arrays):
    """The first ``buffer`` rejected elements of ``draws``: ``(src, slot, arrays at src)``, with
    ``src`` their indices (``size`` past the last one, where ``arrays`` read 1) and ``slot`` every
    element's place among the rejected ones."""
    src, slot = _pending_sources(~draws[1], buffer)
    return src, slot, tuple(a.at[src].get(mode="fill", fill_value=1) for a in arrays)


def _merge(draws, slot: Array, sub):
    """``draws`` with its gathered rejected elements replaced by the buffer's draws ``sub``;
    also which elements were in the buffer."""
    has = ~draws[1] & (slot < sub[1].shape[0])
    got = tuple(v.at[slot].get(mode="clip") for v in sub)
    return (jnp.where(has, got[0], draws[0]), draws[1] | (has & got[1])), has


def _retry(key: PRNGKey, params, draws):
    """Redraw the rejected elements of ``draws`` (one block): gathered into a buffer of
    :func:`_first_buffer` elements, two candidates each; the ones still rejected there gathered
    into a nested buffer and retried eight at a time for at most ``rounds`` rounds (one that does
    not fit waits for the next). Element ``i`` draws its candidates from random streams of its own,
    ``i·_STREAMS + 1`` and then ``i·_STREAMS + 2 + r`` for its ``r``-th round in the loop."""
    size = draws[1].shape[0]
    buffer = _first_buffer(size)
    src, slot, (*sub_params, pos) = _gather(
        draws, buffer, (*params, jnp.arange(size, dtype=jnp.int32))
    )
    v = stream_uniforms(key, pos * _STREAMS + 1, 2 * _FIRST_CANDIDATES, params[0].dtype)
    t, accepted = _candidates(v.reshape(2, _FIRST_CANDIDATES, buffer), sub_params)
    sub = (t, accepted | (src == size))  # padding: nothing to redraw
    fraction, n, rounds = _LOOP
    inner = min(buffer, int(fraction * buffer) + _SLACK)

    def body(state):
        sub, tries, i = state
        _, inner_slot, (*inner_params, p, r) = _gather(sub, inner, (*sub_params, pos, tries))
        v = stream_uniforms(key, p * _STREAMS + 2 + r, 2 * n, params[0].dtype)
        sub, redrawn = _merge(sub, inner_slot, _candidates(v.reshape(2, n, inner), inner_params))
        return sub, tries + redrawn.astype(jnp.int32), i + 1

    def more(state):
        return ~jnp.all(state[0][1]) & (state[2] < rounds)

    sub = jax.lax.while_loop(more, body, (sub, jnp.zeros_like(src), 0))[0]
    return _merge(draws, slot, sub)[0]


def von_mises_standard(key: PRNGKey, concentration: Array) -> Array:
    """One draw ``θ ∈ [-π, π)`` of VonMises(0, κ) per element of ``concentration`` (any shape).

    Computed in at least float32; NaN for invalid ``κ`` (``<= 0``, ``+inf`` or NaN) and for an
    element still rejected after every stage (probability below 1e-31). An element's draw depends
    only on the key, its position and its own ``κ``: invalid ones never enter the retry buffers.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> theta = von_mises_standard(jax.random.key(0), jnp.full((1000,), 2.0))
        >>> bool((jnp.abs(theta) <= jnp.pi).all())
        True
    """
    concentration = jnp.asarray(concentration)
    dtype = concentration.dtype if jnp.finfo(concentration.dtype).bits >= 32 else jnp.float32
    # One compilation per bucketed length (on_bucket): the padding leaves every draw unchanged.
    return on_bucket(_von_mises_standard_1d, (concentration.astype(dtype),), (1.0,), key)


@jax.jit
def _von_mises_standard_1d(key: PRNGKey, kappa: Array) -> Array:
    """:func:`von_mises_standard` of a 1-D ``κ``, in blocks."""
    dtype = kappa.dtype
    valid = (kappa > 0) & (kappa < jnp.inf)  # False for NaN
    kappa = jnp.where(valid, kappa, 1.0)
    params = (kappa, *_proposal(kappa))

    def sample(key, valid, *params):  # the whole rejection sampler, one block at a time
        size = valid.shape[0]
        v = stream_uniforms(key, jnp.arange(size, dtype=jnp.int32) * _STREAMS, 2, dtype)
        t, accepted = _candidates(v.reshape(2, 1, size), params)
        draws = (t, accepted | ~valid)  # invalid κ: nothing to redraw
        return jax.lax.cond(jnp.all(draws[1]), lambda d: d, partial(_retry, key, params), draws)

    t, accepted = draw_in_blocks(sample, key, (valid, *params), (True, 1.0, 0.5, 0.0))
    theta = wrap_angle(2.0 * _atan(t))
    return nan_unless(accepted & valid, theta)


@distribution
class VonMises(Distribution):
    """Von Mises distribution on the circle ``[-π, π)``.

    Density ``q(z) = exp(κ cos(z - loc)) / (2π I0(κ))``; samples are wrapped into ``[-π, π)``.
    ``cdf(x) = F(x - loc; κ)`` with ``F(x + 2π) = F(x) + 1`` (SciPy's convention: ``cdf(loc) =
    1/2`` and ``cdf(x + 2π) = cdf(x) + 1``). Implicit reparameterization gradients

        dz/dκ = -(∂F(z - loc; κ)/∂κ) / q(z),        dz/dloc = 1,

    the first from :func:`ml_networks_jax.special.von_mises.von_mises_cdf_concentration_tangent`
    in scaled form, finite and accurate for ``κ`` from 1e-3 to 1e4 in float32 and float64.

    Args:
        loc: circular mean ``μ``, any shape.
        concentration: ``κ > 0``, broadcastable with ``loc``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from ml_networks_jax.distributions.von_mises import VonMises
        >>> def mean_cos(k):
        ...     return jnp.cos(VonMises(0.0, k).rsample(jax.random.key(0), (4096,))).mean()
        >>> round(float(jax.jit(jax.grad(mean_cos))(2.0)), 1)  # d E[cos z]/dκ = A'(2) = 0.21
        0.2
    """

    loc: Array = param()
    concentration: Array = param()

    _positive = ("concentration",)
    _circular = True

    def _draw(self, key: PRNGKey, shape: tuple[int, ...]) -> Array:
        theta = von_mises_standard(key, jnp.broadcast_to(self.concentration, shape))
        return wrap_angle(self.loc + theta.astype(self.dtype))

    def _cdf_tangent(self, ddist: Distribution, z: Array) -> Array:
        """``h dκ - dloc`` with ``h = (∂F/∂κ)/q`` at ``z - loc`` wrapped into ``[-π, π)``
        (``∂F/∂κ`` is 2π-periodic: the windings do not depend on ``κ``)."""
        h = von_mises_cdf_concentration_tangent(wrap_angle(z - self.loc), self.concentration)
        return (h * ddist.concentration - ddist.loc).astype(z.dtype)

    @checked
    def log_prob(self, x: ArrayLike) -> Array:
        return von_mises_log_prob(x - self.loc, self.concentration)

    @checked
    def cdf(self, x: ArrayLike) -> Array:
        return von_mises_cdf(x - self.loc, self.concentration)

    def log_survival(self, x: ArrayLike) -> Array:
        """``log(1 - F(x)) = log F(2 loc - x)`` (the law is symmetric about ``loc``): exact in
        the upper tail."""
        return self.log_cdf(2.0 * self.loc - x)

    @checked
    def mean(self) -> Array:
        """The circular mean ``loc``."""
        return jnp.broadcast_to(self.loc, self.batch_shape)

    @checked
    def mode(self) -> Array:
        return jnp.broadcast_to(self.loc, self.batch_shape)

    @checked
    def variance(self) -> Array:
        """The circular variance ``1 - A(κ)``, ``A = I1/I0``."""
        return jnp.broadcast_to(one_minus_bessel_ratio(self.concentration), self.batch_shape)

    @checked
    def entropy(self) -> Array:
        """``log(2π I0(κ)) - κ A(κ) = log 2π + log I0e(κ) + κ (1 - A(κ))``."""
        kappa = self.concentration
        h = math.log(2.0 * math.pi) + log_i0e(kappa) + kappa * one_minus_bessel_ratio(kappa)
        return jnp.broadcast_to(h, self.batch_shape)


def kl_von_mises(p: VonMises, q: VonMises) -> Array:
    """``KL(VonMises(μp, κp) ‖ VonMises(μq, κq))``.

    ``log I0(κq) - log I0(κp) + A(κp)(κp - κq cos(μp - μq))``, evaluated as

        log I0e(κq) - log I0e(κp) + (κq - κp)(1 - A(κp)) + 2 κq A(κp) sin²((μp - μq)/2)

    with scaled Bessel functions and ``1 - A`` computed without cancellation, so it is accurate
    (and exactly 0 for ``p = q``) at large concentrations.

    Example:
        >>> from ml_networks_jax.distributions.von_mises import VonMises, kl_von_mises
        >>> float(kl_von_mises(VonMises(0.0, 1e4), VonMises(0.0, 1e4)))
        0.0
    """
    kp, kq = p.concentration, q.concentration
    one_minus_a = one_minus_bessel_ratio(kp)
    half = jnp.sin(0.5 * (p.loc - q.loc))
    return (
        log_i0e(kq)
        - log_i0e(kp)
        + (kq - kp) * one_minus_a
        + 2.0 * kq * (1.0 - one_minus_a) * half * half
    )


def kl_von_mises_uniform(p: VonMises, q) -> Array:
    """``KL(VonMises(μ, κ) ‖ Uniform(l, h))``: ``log((h - l)/2π) + κ A(κ) - log I0(κ)`` when
    ``[l, h]`` holds the angles ``[-π, π]`` of the von Mises, ``+inf`` otherwise (angles kept in
    ``[0, 2π)`` need ``Uniform(-π, π)``, or a shift); NaN for ``κ <= 0``.

    ``κ A(κ) - log I0(κ) = log 2π - H(p)`` is evaluated as ``-log I0e(κ) - κ (1 - A(κ))``, and
    below ``κ = 0.1`` (float64: 0.01), where those two terms cancel, by its series in
    ``x = κ²/4``: ``x - 3x²/4 + 5x³/9``.

    Example:
        >>> import math
        >>> from ml_networks_jax.distributions.uniform import Uniform
        >>> from ml_networks_jax.distributions.von_mises import VonMises, kl_von_mises_uniform
        >>> kl = kl_von_mises_uniform(VonMises(0.0, 1e-3), Uniform(-math.pi, math.pi))
        >>> round(float(kl) / 2.5e-7, 5)  # ≈ κ²/4
        1.0
    """
    kappa = p.concentration
    x = kappa * kappa / 4.0
    small = 0.1 if jnp.finfo(kappa.dtype).bits <= 32 else 0.01
    kl = jnp.where(
        kappa < small,
        x * (1.0 - x * (0.75 - x * (5.0 / 9.0))),
        -log_i0e(kappa) - kappa * one_minus_bessel_ratio(kappa),
    )
    kl = nan_unless(kappa > 0, kl)  # κ <= 0 is invalid, as for the sampler
    inside = (q.low <= -math.pi) & (math.pi <= q.high)
    return jnp.where(inside, kl + jnp.log((q.high - q.low) / (2.0 * math.pi)), jnp.inf)
