"""State containers: layout, field-wise array methods, transformations, persistence, KL."""

from __future__ import annotations

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import float32_only

import ml_networks_jax as mnj

pytestmark = float32_only  # plumbing over the distributions, which run in both precisions
KEY = jax.random.key(0)


def _x(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def _mixture_state(seed=0):
    logits, loc = _x((2, 3, 4), seed), _x((2, 3, 4), seed + 1)
    d = mnj.MixtureSameFamily(logits, mnj.Normal(loc, jnp.ones((2, 3, 4))))
    return mnj.DistributionStoch(d, d.rsample(jax.random.key(seed)))


head = jax.jit(mnj.head, static_argnames=("dist", "n_groups", "spherical", "relaxed"))

#: One state of each kind, batch shape (2,), built by the head (seeded so that pairs differ).
STATES = {
    "normal": lambda s=0: head(_x((2, 6), s), jax.random.key(s), "normal"),
    "categorical": lambda s=0: head(_x((2, 12), s), jax.random.key(s), "categorical", n_groups=3),
    "spherical_bernoulli": lambda s=0: head(
        _x((2, 12), s), jax.random.key(s), "bernoulli", n_groups=3, spherical=True
    ),
    "gamma": lambda s=0: head(_x((2, 6), s), jax.random.key(s), "gamma"),
    "dirichlet": lambda s=0: head(_x((2, 12), s), jax.random.key(s), "dirichlet", n_groups=3),
    "mixture": _mixture_state,
}


def _equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)


# ---- the seed's doctests ------------------------------------------------------------------


def test_seed_shapes():
    normal = mnj.Head(10, "normal")(_x((2, 20)), KEY)
    assert type(normal).__name__ == "NormalStoch"
    assert normal.shape == ((2, 10),) * 3
    assert repr(normal.shape) == "NormalShape(mean=(2, 10), std=(2, 10), stoch=(2, 10))"
    cat = mnj.Head(10, "categorical", n_groups=2)(_x((2, 10)), KEY)
    assert repr(cat.shape) == "CategoricalShape(logits=(2, 2, 5), probs=(2, 2, 5), stoch=(2, 10))"
    bern = mnj.Head(10, "bernoulli", n_groups=2)(_x((2, 10)), KEY)
    assert repr(bern.shape) == "BernoulliShape(logits=(2, 2, 5), probs=(2, 2, 5), stoch=(2, 10))"


def test_seed_stack_and_cat():
    s1 = mnj.NormalStoch(_x((2, 3), 1), jnp.abs(_x((2, 3), 2)), _x((2, 3), 3))
    s2 = mnj.NormalStoch(_x((2, 3), 4), jnp.abs(_x((2, 3), 5)), _x((2, 3), 6))
    assert mnj.stack_dist((s1, s2)).shape == ((2, 2, 3),) * 3
    assert mnj.cat_dist((s1, s2)).shape == ((2, 6),) * 3


# ---- field-wise array methods keep every field consistent ---------------------------------


@jax.jit
def _own_log_prob(state):
    return state.log_prob(state.stoch)


def _consistent(state):
    """The fields agree with each other: log_prob of the state's own sample is its family's."""
    lp = _own_log_prob(state)
    assert lp.shape == state.batch_shape
    if not isinstance(state.get_distribution(independent=False), mnj.MixtureSameFamily):
        assert state.entropy().shape == state.batch_shape  # (a mixture has no closed form)
    return lp


@pytest.mark.parametrize("kind", STATES)
def test_array_methods(kind):
    state = STATES[kind]().reshape(2, 1)  # batch (2, 1)
    lp = _consistent(state)
    assert len(state) == 2 and state.batch_shape == (2, 1)
    # Fields stay aligned: the log density of the moved sample moves with it.
    np.testing.assert_allclose(_consistent(state[1]), lp[1], rtol=1e-6)
    np.testing.assert_allclose(_consistent(state.transpose()), lp.T, rtol=1e-6)
    stacked = mnj.stack_dist([state, state], dim=-1)
    np.testing.assert_allclose(_consistent(stacked), jnp.stack([lp, lp], -1), rtol=1e-6)
    # The rest: batch shapes and the sample, the other fields go the same way (one _map).
    z, mask = state.stoch, jnp.array([True, False])
    for moved, expected in [
        (state[..., 0], z[..., 0, :]),
        (state[mask], z[mask]),
        (state.squeeze(), z[:, 0]),
        (state.squeeze(-1), z[:, 0]),
        (state.expand_dims(0), z[None]),
        (state.unsqueeze(-1), z[:, :, None]),
        (state.reshape(-1), z[:, 0]),
        (mnj.cat_dist([state, state], dim=1), jnp.concatenate([z, z], 1)),
    ]:
        assert moved.batch_shape == expected.shape[:-1]
        np.testing.assert_array_equal(moved.stoch, expected)
    np.testing.assert_allclose(_consistent(state.flatten()), lp.reshape(-1), rtol=1e-6)
    # The feature axis: a state of twice the features is one event of both halves.
    other = STATES[kind](7).reshape(2, 1)
    joined = mnj.cat_dist([state, other])
    assert joined.stoch.shape[-1] == 2 * state.stoch.shape[-1]
    np.testing.assert_allclose(_consistent(joined), lp + _own_log_prob(other), rtol=1e-5, atol=1e-5)


def test_categorical_feature_concatenation_joins_groups():
    """ml_networks raised on cat_dist of categorical states (flat stoch, grouped logits)."""
    a, b = STATES["categorical"](), STATES["categorical"](3)
    c = mnj.cat_dist((a, b))
    assert c.shape == ((2, 6, 4), (2, 6, 4), (2, 24))
    np.testing.assert_array_equal(c.stoch, jnp.concatenate([a.stoch, b.stoch], -1))
    np.testing.assert_array_equal(c.logits[:, 3:], b.logits)
    np.testing.assert_allclose(mnj.kl_divergence(c, c.stop_gradient()), jnp.zeros(2), atol=1e-6)


def test_index_errors_and_len():
    state = STATES["categorical"]()
    with pytest.raises(IndexError, match="batch dims"):
        state[0, 1]
    with pytest.raises(TypeError, match="without batch dims"):
        len(state[0])
    with pytest.raises(ValueError, match="squeeze"):
        state.squeeze(0)
    with pytest.raises(ValueError, match="permutation"):
        state.reshape(2, 1).transpose(0, 0)
    with pytest.raises(TypeError, match="floating"):
        state.astype(jnp.int32)


def test_constructor_shape_errors():
    with pytest.raises(ValueError, match="one shape"):
        mnj.NormalStoch(jnp.zeros((2, 3)), jnp.ones((2, 4)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(\*B, G\*K\)"):
        mnj.CategoricalStoch(jnp.zeros((2, 2, 5)), jnp.zeros((2, 2, 5)), jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="flat draw"):
        mnj.DistributionStoch(mnj.Dirichlet(jnp.ones((2, 3, 4))), jnp.zeros((2, 11)))
    with pytest.raises(TypeError, match="distribution"):
        mnj.DistributionStoch(jnp.ones(3), jnp.zeros((2, 3)))


def test_stack_and_cat_errors():
    n, c = STATES["normal"](), STATES["categorical"]()
    with pytest.raises(ValueError, match="one kind"):
        mnj.stack_dist([n, c])
    with pytest.raises(ValueError, match="one kind"):
        mnj.cat_dist([c, mnj.head(_x((2, 12)), KEY, "categorical", n_groups=3, spherical=True)])
    with pytest.raises(ValueError, match="differ"):
        mnj.stack_dist([n, n[:1]])
    with pytest.raises(ValueError, match="non-empty"):
        mnj.cat_dist([])
    with pytest.raises(ValueError, match="out of range"):
        mnj.stack_dist([n, n], dim=2)


# ---- transformations (ml_networks could not build its JAX state under jit) -----------------


@pytest.mark.parametrize("kind", STATES)
def test_jit_vmap_scan(kind):
    state = STATES[kind]()
    _equal(jax.jit(lambda s: s)(state), state)
    built = jax.jit(lambda s: type(s)(**{k: v for k, v in vars(s).items()}))(state)
    _equal(built, state)
    lp = jax.vmap(lambda s: s.log_prob(s.stoch))(state)
    np.testing.assert_allclose(lp, state.log_prob(state.stoch), rtol=1e-6)
    _, ys = jax.lax.scan(lambda c, s: (c, s.stop_gradient()), 0.0, state)
    _equal(ys, state)


def test_normal_state_built_under_jit_and_vmap():
    make = jax.vmap(lambda m, s, z: mnj.NormalStoch(m, s, z))
    state = jax.jit(make)(_x((4, 3)), -jnp.ones((4, 3)), _x((4, 3)))  # no value checks
    assert state.shape == ((4, 3),) * 3


# ---- copy, pickle, save/load ---------------------------------------------------------------


@pytest.mark.parametrize("kind", STATES)
def test_copy_pickle_save_load(kind, tmp_path):
    state = STATES[kind]()
    _equal(copy.copy(state), state)
    _equal(copy.deepcopy(state), state)
    _equal(pickle.loads(pickle.dumps(state)), state)
    path = str(tmp_path / "state.npz")
    state.save(path)
    loaded = mnj.load_state(path)
    assert type(loaded) is type(state)
    _equal(loaded, state)


def test_save_rejects_functions(tmp_path):
    d = mnj.Factorized(
        jnp.ones(3), lambda p, x: jax.nn.sigmoid(x / p), lambda p, x: jax.nn.log_sigmoid(x)
    )
    with pytest.raises(TypeError, match="function"):
        mnj.DistributionStoch(d, jnp.zeros(3)).save(str(tmp_path / "f.npz"))


# ---- distributions, log_prob, entropy, KL ---------------------------------------------------


def test_get_distribution_is_one_event_per_batch_element():
    """ml_networks reinterpreted one dim for get_distribution and two in get_dist (Bernoulli)."""
    for kind, state in ((k, make()) for k, make in STATES.items()):
        d = mnj.get_dist(state)
        assert d.batch_shape == state.batch_shape, kind
        if kind != "mixture":  # no closed form between mixtures
            np.testing.assert_allclose(mnj.kl_divergence(state, state), jnp.zeros(2), atol=1e-6)
        assert state.get_distribution(independent=False).batch_shape[:1] == (2,)


def test_log_prob_and_entropy_values():
    state = STATES["normal"]()
    ref = jax.scipy.stats.norm.logpdf(state.stoch, state.mean, state.std).sum(-1)
    np.testing.assert_allclose(state.log_prob(state.stoch), ref, rtol=1e-6)
    cat = STATES["categorical"]()
    onehot = cat.stoch.reshape(2, 3, 4)
    ref = jnp.sum(onehot * jax.nn.log_softmax(cat.logits), axis=(-2, -1))
    np.testing.assert_allclose(cat.log_prob(cat.stoch), ref, rtol=1e-6)
    ent = -jnp.sum(cat.probs * jax.nn.log_softmax(cat.logits), axis=(-2, -1))
    np.testing.assert_allclose(cat.entropy(), ent, rtol=1e-5)
    bern = STATES["spherical_bernoulli"]()  # ±1/√K codes map back to their bits
    bits = (bern.stoch > 0).reshape(2, 3, 4)
    ref = jnp.sum(
        jnp.where(bits, jax.nn.log_sigmoid(bern.logits), jax.nn.log_sigmoid(-bern.logits)),
        axis=(-2, -1),
    )
    np.testing.assert_allclose(bern.log_prob(bern.stoch), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="features of stoch"):
        state.log_prob(jnp.zeros((2, 5)))


def test_kl_on_states_and_balancing():
    def states(xp, xq):
        post = mnj.head(xp, KEY, "categorical", n_groups=4)
        prior = mnj.head(xq, KEY, "categorical", n_groups=4)
        return post, prior

    xp, xq = _x((3, 16), 1), _x((3, 16), 2)
    post, prior = states(xp, xq)
    p, q = jax.nn.softmax(post.logits), jax.nn.softmax(prior.logits)
    ref = jnp.sum(p * (jnp.log(p) - jnp.log(q)), axis=(-2, -1))
    np.testing.assert_allclose(mnj.kl_divergence(post, prior), ref, rtol=1e-5)
    np.testing.assert_allclose(mnj.kl_balancing(post, prior), ref, rtol=1e-5)

    def balanced(xp, xq, w):
        return mnj.kl_balancing(*states(xp, xq), weight=w).sum()

    def plain(xp, xq):
        return mnj.kl_divergence(*states(xp, xq)).sum()

    gp, gq = jax.grad(plain, argnums=(0, 1))(xp, xq)
    bp, bq = jax.grad(balanced, argnums=(0, 1))(xp, xq, 0.8)
    np.testing.assert_allclose(bp, 0.2 * gp, rtol=1e-5, atol=1e-7)  # posterior: 1 - w
    np.testing.assert_allclose(bq, 0.8 * gq, rtol=1e-5, atol=1e-7)  # prior: w


def test_stop_gradient_and_astype():
    f = lambda x: jnp.sum(mnj.head(x, KEY, "normal").stop_gradient().stoch)  # noqa: E731
    np.testing.assert_array_equal(jax.grad(f)(_x((2, 6))), 0.0)
    state = STATES["gamma"]().astype(jnp.float16)
    assert {leaf.dtype for leaf in jax.tree.leaves(state)} == {jnp.dtype(jnp.float16)}


# ---- regressions: tree rebuilds, broadcasting, joins, persistence ---------------------------


@pytest.mark.parametrize("kind", STATES)
def test_tree_rebuilds_skip_the_constructor(kind):
    """JAX rebuilds states with None, scalars or shardings as leaves (tree.map, out_shardings)."""
    state = STATES[kind]()
    assert jax.tree.leaves(jax.tree.map(lambda _: None, state)) == []
    means = jax.tree.map(jnp.mean, state)
    assert all(jnp.ndim(leaf) == 0 for leaf in jax.tree.leaves(means))
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    out = jax.jit(lambda s: s, out_shardings=jax.tree.map(lambda _: sharding, state))(state)
    _equal(out, state)


def test_distribution_parameters_are_broadcast_to_the_batch():
    """A scalar parameter, or components without the batch dims, still index and vmap."""
    rows = jax.jit(jax.vmap(_own_log_prob))
    gamma = mnj.Gamma(jnp.full((2, 3), 2.0), 1.0)
    state = mnj.DistributionStoch(gamma, jnp.full((2, 3), 0.5))
    np.testing.assert_allclose(rows(state), _own_log_prob(state), rtol=1e-6)
    mix = mnj.MixtureSameFamily(_x((2, 3, 5)), mnj.Normal(jnp.arange(5.0), jnp.ones(5)))
    state = mnj.DistributionStoch(mix, _x((2, 3)))
    np.testing.assert_allclose(_own_log_prob(state[1]), _own_log_prob(state)[1], rtol=1e-6)
    both = mnj.Mixture(jnp.zeros((2, 2)), (mnj.Normal(jnp.zeros(2), 1.0), mnj.Gamma(2.0, 1.0)))
    state = mnj.DistributionStoch(both, jnp.full((2, 1), 0.5))
    assert state[0].dist.batch_shape == ()
    assert rows(state).shape == (2,)


def test_cat_dist_refuses_to_join_events():
    """Two Dirichlet events of 4 are not one Dirichlet of 8."""
    d = mnj.Dirichlet(jnp.ones((2, 4)))
    state = mnj.DistributionStoch(d, d.sample(KEY))
    with pytest.raises(ValueError, match="change the family"):
        mnj.cat_dist([state, state])
    assert mnj.cat_dist([state, state], dim=0).batch_shape == (4,)


def test_save_load_exact_for_every_dtype_and_path(tmp_path):
    logits = jax.nn.log_softmax(_x((2, 3, 7)) * 30.0)  # log_softmax is not idempotent in float32
    d = mnj.OneHotCategorical(logits=logits)
    state = mnj.DistributionStoch(d, d.sample(KEY).reshape(2, 21))
    state.save(str(tmp_path / "cat"))  # NumPy appends .npz; load_state finds it the same way
    _equal(mnj.load_state(str(tmp_path / "cat")), state)
    half = STATES["normal"]().astype(jnp.bfloat16)
    half.save(str(tmp_path / "half.npz"))
    _equal(mnj.load_state(str(tmp_path / "half.npz")), half)


def test_more_errors():
    state = STATES["normal"]().reshape(2, 1)
    with pytest.raises(ValueError, match="comes after"):
        state.flatten(1, 0)
    with pytest.raises(TypeError, match="True or False"):
        state.get_distribution(independent=2)
    relaxed = mnj.head(_x((2, 12)), KEY, "categorical", n_groups=3, relaxed=0.5)
    with pytest.raises(ValueError, match="relaxed"):
        relaxed.log_prob(relaxed.stoch)
    assert relaxed.entropy().shape == (2,)


def test_kl_between_a_state_and_a_distribution():
    state = STATES["normal"]()
    prior = mnj.Independent(mnj.Normal(jnp.zeros((2, 3)), 1.0), 1)
    np.testing.assert_allclose(
        mnj.kl_divergence(state, prior), mnj.kl_divergence(state.get_distribution(), prior)
    )


def test_repr_summarizes_the_fields():
    s = mnj.NormalStoch(jnp.zeros((32, 4)), jnp.ones((32, 4)), jnp.zeros((32, 4)))
    assert repr(s) == "NormalStoch(mean=f32[32,4], std=f32[32,4], stoch=f32[32,4])"
    want = (
        "CategoricalStoch(logits=f32[2,3,4], probs=f32[2,3,4], stoch=f32[2,12], spherical=False, "
        "relaxed=None)"
    )
    assert repr(STATES["categorical"]()) == want
    gamma = "DistributionStoch(dist=Gamma(concentration=f32[2,3], rate=f32[2,3]), stoch=f32[2,3])"
    assert repr(STATES["gamma"]()) == gamma


@pytest.mark.parametrize("kind", list(STATES))
def test_repr_never_raises_for_any_leaf(kind):
    state = STATES[kind]()
    treedef = jax.tree.structure(state)
    seen = []
    jax.eval_shape(lambda s: seen.append(repr(s)) or 0.0, state)  # tracers
    variants = {
        "shapes (tuples)": jax.tree.map(jnp.shape, state),
        "None": jax.tree.map(lambda _: None, state),
        "ShapeDtypeStruct": jax.eval_shape(lambda: state),
        "Python scalars": jax.tree.map(lambda _: 0.5, state),
        "placeholders": treedef.unflatten([object()] * treedef.num_leaves),
    }
    texts = [seen[0], repr(state)] + [repr(v) for v in variants.values()]
    for text in texts:
        assert text.startswith(type(state).__name__ + "(") and len(text) < 250, text
    assert seen[0] == repr(state)  # a tracer shows as the array it stands for
