"""The head: ml_networks' maths and shapes, its defects fixed, every family, transformations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FULL, float32_only

import ml_networks_jax as mnj

pytestmark = float32_only  # plumbing over the distributions, which run in both precisions
KEY = jax.random.key(0)
CONTINUOUS = ("normal", "gamma", "beta", "dirichlet", "von_mises", "student_t")
FEATURES = {"student_t": 12, "dirichlet": 12}  # others: 8 (4 latents of 2 parameters, 8 logits)


def _x(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


#: The head compiled as one program (much faster to build than op-by-op for the implicit rules).
jit_head = jax.jit(
    mnj.head,
    static_argnames=(
        "dist",
        "n_groups",
        "spherical",
        "deterministic",
        "min_std",
        "max_std",
        "relaxed",
    ),
)


def _head(dist, x=None, key=KEY, **kw):
    n = FEATURES.get(dist, 8)
    kw.setdefault("n_groups", 2 if dist in ("categorical", "bernoulli", "dirichlet") else 1)
    return jit_head(_x((3, n)) if x is None else x, key, dist, **kw)


# ---- ml_networks' maths -------------------------------------------------------------------


def test_normal_matches_ml_networks():
    x = _x((2, 20))
    state = mnj.head(x, KEY, "normal")
    mean, std = x[:, :10], jax.nn.softplus(x[:, 10:]) + 1e-6
    np.testing.assert_allclose(state.mean, mean)
    np.testing.assert_allclose(state.std, std, rtol=1e-6)
    np.testing.assert_allclose(state.stoch, mean + std * jax.random.normal(KEY, (2, 10)), rtol=1e-6)


def test_grouping_is_consecutive_slices():
    x = _x((2, 10))
    state = mnj.head(x, KEY, "categorical", n_groups=2)
    np.testing.assert_array_equal(state.logits[:, 1], x[:, 5:])
    np.testing.assert_allclose(state.probs, jax.nn.softmax(x.reshape(2, 2, 5)), rtol=1e-6)
    onehot = state.stoch.reshape(2, 2, 5)
    np.testing.assert_array_equal(onehot.sum(-1), 1.0)
    assert set(np.unique(onehot).tolist()) == {0.0, 1.0}


def test_min_and_max_std():
    x = jnp.concatenate([jnp.zeros((1, 3)), jnp.array([[-30.0, 0.0, 30.0]])], -1)
    state = mnj.head(x, KEY, "normal", min_std=0.1, max_std=2.0)
    np.testing.assert_allclose(state.std, [[0.1, 0.1 + np.log(2.0), 2.0]], rtol=1e-6)


# ---- the defects, as regression tests -------------------------------------------------------


def test_pass_a_key():
    """Defect 7: a plain key in, no RNG state; same key, same draw."""
    a, b = _head("normal"), _head("normal")
    np.testing.assert_array_equal(a.stoch, b.stoch)
    c = _head("normal", key=jax.random.key(1))
    assert not np.allclose(a.stoch, c.stoch)
    keys = jax.random.split(KEY, 5)
    states = jax.vmap(lambda k: _head("categorical", key=k))(keys)
    assert states.stoch.shape == (5, 3, 8)


@pytest.mark.parametrize("spherical", [False, True])
def test_deterministic_bernoulli_thresholds_probabilities(spherical):
    """Defect 2: deterministic Bernoulli was random (it thresholded a draw), and all zeros with
    spherical and K >= 4."""
    x = _x((3, 8))
    state = mnj.head(x, None, "bernoulli", n_groups=2, deterministic=True, spherical=spherical)
    bits = (jax.nn.sigmoid(x) > 0.5).astype(x.dtype)
    expected = (2.0 * bits - 1.0) / 2.0 if spherical else bits  # K = 4: ±1/√4
    np.testing.assert_array_equal(state.stoch, expected)


def test_deterministic_categorical_is_spherical():
    """Defect 3: spherical was not applied in deterministic mode."""
    x = _x((3, 8))
    state = mnj.head(x, None, "categorical", n_groups=2, deterministic=True, spherical=True)
    onehot = jax.nn.one_hot(jnp.argmax(x.reshape(3, 2, 4), -1), 4).reshape(3, 8)
    np.testing.assert_array_equal(state.stoch, 2.0 * onehot - 1.0)


@pytest.mark.parametrize("dist", CONTINUOUS)
def test_deterministic_is_the_mode_and_uses_no_key(dist):
    state = _head(dist, key=None, deterministic=True)
    d = state.get_distribution(independent=False)
    mode = d.mode()
    if dist == "gamma":  # α < 1: the mode 0 is where the density is infinite
        mode = jnp.where(d.concentration < 1, jnp.nan, mode)
    expected = jnp.where(jnp.isnan(mode), d.mean(), mode).reshape(state.stoch.shape)
    np.testing.assert_array_equal(state.stoch, expected)
    assert not np.isnan(state.stoch).any()


@pytest.mark.parametrize("dist", ("categorical", "bernoulli", *CONTINUOUS))
@pytest.mark.parametrize("inv_tmp", [0.5, 3.0])
def test_tempering_is_q_to_the_power_beta(dist, inv_tmp):
    """Defect 4: one rule for all families; the state holds q_β ∝ q^β, so log q_β - β log q is
    the same constant at every point."""
    x = 1.0 + jnp.abs(_x((3, FEATURES.get(dist, 8))))  # concentrations > 1: q^β stays proper
    plain = _head(dist, x).get_distribution(independent=False)
    tempered = _head(dist, x, inv_tmp=inv_tmp).get_distribution(independent=False)
    z = _head(dist, x, key=jax.random.key(3)).stoch
    zs = jnp.stack([z, _head(dist, x, key=jax.random.key(4)).stoch])
    zs = zs.reshape((2,) + plain.batch_shape + plain.event_shape)
    gap = tempered.log_prob(zs) - inv_tmp * plain.log_prob(zs)
    if dist in ("categorical", "bernoulli"):  # every outcome, not only the drawn ones
        diff = tempered.logits - inv_tmp * plain.logits  # normalizing: a constant per group
        expected = jnp.broadcast_to(diff[..., :1], diff.shape) if dist == "categorical" else 0.0
        np.testing.assert_allclose(diff, expected, atol=1e-5)
    np.testing.assert_allclose(gap[0], gap[1], rtol=1e-4, atol=1e-4)


def test_tempering_keeps_parameters_at_beta_one():
    for dist in ("categorical", *CONTINUOUS):
        a = jax.tree.leaves(_head(dist))
        b = jax.tree.leaves(_head(dist, inv_tmp=1.0))
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)


# ---- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "spherical", "factor"),
    [("categorical", False, 1.0), ("categorical", True, 2.0), ("bernoulli", True, 1.0)],
)
def test_straight_through_gradient(dist, spherical, factor):
    x, w = _x((3, 8)), _x((3, 8), 5)
    factor = factor if dist == "categorical" else 2.0 / np.sqrt(4)

    def through_sample(x):
        return jnp.sum(w * _head(dist, x, spherical=spherical).stoch)

    def through_probs(x):
        return factor * jnp.sum(w * _head(dist, x).probs.reshape(3, 8))

    np.testing.assert_allclose(jax.grad(through_sample)(x), jax.grad(through_probs)(x), rtol=1e-5)


@pytest.mark.parametrize("dist", ["categorical", "bernoulli"])
def test_relaxed(dist):
    state = _head(dist, relaxed=0.5)
    soft = state.stoch.reshape(3, 2, 4)
    assert ((soft > 0) & (soft < 1)).all()
    if dist == "categorical":
        np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
    g = jax.grad(lambda x: jnp.sum(_x((3, 8), 5) * _head(dist, x, relaxed=0.5).stoch))(_x((3, 8)))
    assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_gamma_head_gradient_is_unbiased():
    """d/dx E[stoch] through implicit Gamma draws, against d/dx of α/r (softplus + floor)."""
    x = jnp.array([[0.3, -0.2]])  # one latent: raw concentration, raw rate
    keys = jax.random.split(KEY, 20000)

    @jax.jit
    def mc(x):
        return jnp.mean(jax.vmap(lambda k: mnj.head(x, k, "gamma").stoch)(keys))

    def exact(x):
        alpha, rate = jax.nn.softplus(x[0]) + 1e-3
        return alpha / rate

    np.testing.assert_allclose(jax.grad(mc)(x), jax.grad(exact)(x), rtol=0.03)


# ---- every family, transformations, errors -----------------------------------------------------


@pytest.mark.parametrize("dist", ("categorical", "bernoulli", *CONTINUOUS))
def test_jit_vmap_and_traced_temperature(dist):
    x = _x((3, FEATURES.get(dist, 8)))
    n_groups = 2 if dist in ("categorical", "bernoulli", "dirichlet") else 1
    traced = _head(dist, x, KEY, inv_tmp=jnp.asarray(2.0))
    if FULL or dist in ("normal", "categorical", "bernoulli", "gamma"):  # eager: slow to build
        eager = mnj.head(x, KEY, dist, n_groups=n_groups, inv_tmp=2.0)
        for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(traced), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    x = _x((5, 3, FEATURES.get(dist, 8)))
    batched = jax.vmap(lambda x: _head(dist, x))(x)
    assert batched.stoch.shape[:2] == (5, 3)
    lp = batched.log_prob(batched.stoch)
    assert lp.shape == (5, 3) and not np.isnan(lp).any()  # +inf: a Beta draw rounded to 1


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: mnj.head(_x((2, 8)), KEY, "poisson"), ValueError, "unknown dist"),
        (lambda: mnj.head(_x((2, 7)), KEY, "normal"), ValueError, "multiple of 2"),
        (lambda: mnj.head(_x((2, 8)), KEY, "student_t"), ValueError, "multiple of 3"),
        (lambda: mnj.head(_x((2, 10)), KEY, "categorical", n_groups=3), ValueError, "divide"),
        (lambda: mnj.head(_x((2, 8)), KEY, "normal", n_groups=2), ValueError, "n_groups"),
        (lambda: mnj.head(_x((2, 8)), KEY, "gamma", spherical=True), ValueError, "spherical"),
        (lambda: mnj.head(_x((2, 8)), None, "normal"), ValueError, "key"),
        (lambda: mnj.head(jnp.ones((2, 8), int), KEY, "normal"), TypeError, "floating"),
        (lambda: mnj.Head(10, "normal")(_x((2, 10)), KEY), ValueError, "reads 20 features"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ml_networks_deterministic_onehot():
    """The seed's ``deterministic_onehot`` example: argmax one-hot of ``arange(6)/5``."""
    x = jnp.arange(6.0).reshape(2, 3) / 5.0
    state = mnj.head(x, None, "categorical", deterministic=True)
    np.testing.assert_array_equal(state.stoch, [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dist", ("categorical", "bernoulli", *CONTINUOUS))
def test_state_keeps_the_input_dtype(dist):
    """No field promoted (to the default or a wider float) on the way through the head."""
    x = _x((3, FEATURES.get(dist, 8)))
    assert {leaf.dtype for leaf in jax.tree.leaves(_head(dist, x))} == {x.dtype}


def test_one_temperature_per_row():
    x, beta = _x((3, 8)), jnp.array([0.5, 1.0, 2.0])
    cat = mnj.head(x, KEY, "categorical", n_groups=2, inv_tmp=beta)
    np.testing.assert_allclose(cat.logits, beta[:, None, None] * x.reshape(3, 2, 4), rtol=1e-6)
    normal = mnj.head(x, KEY, "normal", inv_tmp=beta)
    np.testing.assert_allclose(normal.std, mnj.head(x, KEY, "normal").std / jnp.sqrt(beta)[:, None])
    with pytest.raises(ValueError, match="broadcast to the batch"):
        mnj.head(x, KEY, "categorical", n_groups=2, inv_tmp=jnp.ones(4))


def test_deterministic_gamma_below_one_is_the_mean():
    x = jnp.array([[-3.0, 3.0, 0.0, 0.0]])  # α ≈ 0.05 and ≈ 3.05, rate ≈ 0.69
    state = mnj.head(x, None, "gamma", deterministic=True)
    alpha, rate = jax.nn.softplus(x[0, :2]) + 1e-3, jax.nn.softplus(x[0, 2:]) + 1e-3
    np.testing.assert_allclose(state.stoch[0], [alpha[0] / rate[0], (alpha[1] - 1) / rate[1]])


@pytest.mark.parametrize("dist", ["beta", "gamma", "dirichlet"])
def test_draws_stay_inside_the_support(dist):
    """Small concentrations: float32 draws round onto 0 or 1; the head keeps them inside."""
    x = jnp.full((64, FEATURES.get(dist, 8)), -6.0)

    def log_q(x):
        state = _head(dist, x)
        return state.log_prob(state.stoch).sum(), state.stoch

    (lp, z), g = jax.jit(jax.value_and_grad(log_q, has_aux=True))(x)
    assert ((z > 0) & (z < 1 if dist != "gamma" else z > 0)).all()
    assert np.isfinite(lp) and np.isfinite(g).all()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dist": "categorical", "relaxed": 0.0}, "temperature"),
        ({"dist": "normal", "min_std": 1.0, "max_std": 0.5}, "max_std"),
        ({"dist": "categorical", "n_groups": True}, "n_groups"),
    ],
)
def test_option_errors(options, match):
    with pytest.raises(ValueError, match=match):
        mnj.head(_x((2, 8)), KEY, **options)
    with pytest.raises(ValueError, match=match):
        mnj.Head(8, **options)


def test_head_config_errors_at_construction():
    with pytest.raises(ValueError, match="unknown dist"):
        mnj.Head(10, "poisson")
    with pytest.raises(ValueError, match="divisible"):
        mnj.Head(10, "categorical", n_groups=3)
