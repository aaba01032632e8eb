"""Bad input gets a clear Python error at the boundary, before JAX sees it; reprs never raise.

Every error names the class (or function), the argument and what was expected. None of these
tests compiles anything: errors are raised while tracing at the latest, and the shapes that must
stay allowed are checked with ``jax.eval_shape``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cases import DTYPE, float32_only

import ml_networks_jax as mnj
from ml_networks_jax.distributions.base import distribution, param
from ml_networks_jax.distributions.bernoulli import relaxed_bernoulli
from ml_networks_jax.distributions.categorical import gumbel_softmax

KEY = jax.random.key(0)
F = "f64" if DTYPE == jnp.float64 else "f32"  # the short dtype name reprs use


def _ones(*shape):
    return jnp.ones(shape, DTYPE)


def _factorized(rate):  # an exponential distribution from its CDF and density
    return mnj.Factorized(
        rate,
        cdf_fn=lambda x, r: -jnp.expm1(-r * x),
        log_prob_fn=lambda x, r: jnp.log(r) - r * x,
        low=0.0,
    )


#: Every public family with batch shape (3,) (event shape (4,) for the event families).
FAMILIES = {
    "Normal": lambda: mnj.Normal(0 * _ones(3), 1.0),
    "Laplace": lambda: mnj.Laplace(0 * _ones(3), 1.0),
    "Logistic": lambda: mnj.Logistic(0 * _ones(3), 1.0),
    "Gumbel": lambda: mnj.Gumbel(0 * _ones(3), 1.0),
    "Cauchy": lambda: mnj.Cauchy(0 * _ones(3), 1.0),
    "Uniform": lambda: mnj.Uniform(0 * _ones(3), 1.0),
    "Exponential": lambda: mnj.Exponential(_ones(3)),
    "HalfNormal": lambda: mnj.HalfNormal(_ones(3)),
    "LogNormal": lambda: mnj.LogNormal(0 * _ones(3), 1.0),
    "Weibull": lambda: mnj.Weibull(_ones(3), 2.0),
    "Kumaraswamy": lambda: mnj.Kumaraswamy(2 * _ones(3), 3.0),
    "Gamma": lambda: mnj.Gamma(2 * _ones(3), 1.0),
    "Chi2": lambda: mnj.Chi2(3 * _ones(3)),
    "ExpGamma": lambda: mnj.ExpGamma(2 * _ones(3), 1.0),
    "InverseGamma": lambda: mnj.InverseGamma(5 * _ones(3), 1.0),
    "Beta": lambda: mnj.Beta(2 * _ones(3), 3.0),
    "LogitBeta": lambda: mnj.LogitBeta(2 * _ones(3), 3.0),
    "StudentT": lambda: mnj.StudentT(5 * _ones(3), 0.0, 1.0),
    "FisherSnedecor": lambda: mnj.FisherSnedecor(5 * _ones(3), 10.0),
    "VonMises": lambda: mnj.VonMises(0 * _ones(3), 2.0),
    "TruncatedNormal": lambda: mnj.TruncatedNormal(0 * _ones(3), 1.0, -1.0, 2.0),
    "Factorized": lambda: _factorized(_ones(3)),
    "Bernoulli": lambda: mnj.Bernoulli(logits=0 * _ones(3)),
    "OneHotCategorical": lambda: mnj.OneHotCategorical(logits=0 * _ones(3, 4)),
    "Dirichlet": lambda: mnj.Dirichlet(_ones(3, 4)),
    "MultivariateNormal": lambda: mnj.MultivariateNormal(0 * _ones(3, 4), jnp.eye(4, dtype=DTYPE)),
    "Independent": lambda: mnj.Independent(mnj.Normal(0 * _ones(3, 4), 1.0), 1),
    "MixtureSameFamily": lambda: mnj.MixtureSameFamily(0 * _ones(3, 2), mnj.Normal(_ones(2), 1.0)),
    "MixtureSameFamily(Independent)": lambda: mnj.MixtureSameFamily(
        0 * _ones(3, 2), mnj.Independent(mnj.Normal(0 * _ones(2, 4), 1.0), 1)
    ),
    "Mixture": lambda: mnj.Mixture(0 * _ones(3, 2), (mnj.Normal(0.0, 1.0), mnj.Gamma(2.0, 1.0))),
}
families = pytest.mark.parametrize("name", list(FAMILIES))
VALUE_METHODS = ("log_prob", "prob", "cdf", "log_cdf", "log_survival", "icdf")
DRAW_METHODS = ("sample", "rsample", "rsample_implicit", "sample_and_log_prob")


class Gamma:
    """Stands in for another library's distribution (TFP, distrax): it has ``sample``,
    ``log_prob`` and a float ``dtype``, but it is not ours."""

    dtype = jnp.float32
    batch_shape = event_shape = ()

    def sample(self, *args, **kwargs):
        raise AssertionError("never reached")

    def log_prob(self, x):
        raise AssertionError("never reached")


Gamma.__module__ = "tensorflow_probability.substrates.jax.distributions.gamma"
FOREIGN = "tensorflow_probability.substrates.jax.distributions.gamma.Gamma"


def test_the_table_has_every_family():
    public = {
        name
        for name in mnj.__all__
        if isinstance(getattr(mnj, name), type)
        and issubclass(getattr(mnj, name), mnj.Distribution)
        and name != "Distribution"
    }
    assert {type(make()).__name__ for make in FAMILIES.values()} == public


# ---- values: log_prob, cdf, ... -------------------------------------------------------------


def _argument(dist, method):
    return next(iter(inspect.signature(getattr(dist, method)).parameters))


@families
def test_values_that_do_not_broadcast_raise_for_every_method(name):
    d = FAMILIES[name]()
    bad = (2,) + d.event_shape  # batch dims 2 against 3
    for method in VALUE_METHODS:
        want = (
            rf"^{type(d).__name__}\.{method}: {_argument(d, method)} of shape "
            rf"{re.escape(str(bad))} does not broadcast with batch_shape \+ event_shape = "
            rf"\(3,\) \+ {re.escape(str(d.event_shape))}; values have shape sample_shape"
        )
        with pytest.raises(ValueError, match=want):
            getattr(d, method)(jnp.zeros(bad, DTYPE))
    for function in (mnj.log_prob, mnj.prob, mnj.cdf, mnj.icdf):  # the other spelling
        with pytest.raises(ValueError, match=rf"^{type(d).__name__}\.{function.__name__}: "):
            function(d, np.zeros(bad))


@float32_only
@families
def test_values_of_every_allowed_shape_pass(name):
    d = FAMILIES[name]()
    event = d.event_shape
    shapes = {  # value shape: log_prob shape
        (5, 3) + event: (5, 3),  # sample_shape + batch_shape + event_shape
        (5, 1) + event: (5, 3),
        event: (3,),  # fewer leading dims
        (1,) + event: (3,),
    }
    for shape, want in shapes.items():
        out = jax.eval_shape(d.log_prob, jax.ShapeDtypeStruct(shape, DTYPE))
        assert out.shape == want, (shape, out.shape)
    if not event and type(d).cdf is not mnj.Distribution.cdf:  # a univariate family's CDF
        assert jax.eval_shape(d.cdf, jax.ShapeDtypeStruct((5, 1), DTYPE)).shape == (5, 3)
        assert jax.eval_shape(d.log_prob, 0.5).shape == (3,)  # a Python number


@pytest.mark.parametrize(
    "name", [n for n in FAMILIES if FAMILIES[n]().event_shape], ids=lambda n: n
)
def test_values_of_a_wrong_event_size_raise(name):
    d = FAMILIES[name]()
    for shape in [(3, 5), (3, 1), ()]:  # another size; a size-1 axis; no event axis at all
        want = (
            rf"^{type(d).__name__}\.log_prob: x of shape {re.escape(str(shape))} must end with "
            rf"event_shape \(4,\)"
        )
        with pytest.raises(ValueError, match=want):
            d.log_prob(jnp.zeros(shape, DTYPE))


def test_value_checks_run_under_jit_and_vmap():
    d = mnj.Dirichlet(_ones(3, 4))
    with pytest.raises(ValueError, match=r"Dirichlet\.log_prob: x of shape \(3, 5\)"):
        jax.eval_shape(jax.jit(d.log_prob), jax.ShapeDtypeStruct((3, 5), DTYPE))
    xs = jax.ShapeDtypeStruct((7, 3, 4), DTYPE)
    assert jax.eval_shape(jax.vmap(d.log_prob), xs).shape == (7, 3)
    # A distribution vmapped over its parameters sees one row's batch shape inside.
    stacked = mnj.Normal(0 * _ones(7, 3), _ones(7, 3))
    out = jax.eval_shape(jax.vmap(lambda d, x: d.log_prob(x)), stacked, _ones(7, 3))
    assert out.shape == (7, 3)


# ---- kl_divergence -----------------------------------------------------------------------------


def test_kl_of_shapes_that_do_not_fit_raises():
    ours = r"ml_networks_jax\.distributions\.\w+\.{}"
    cases = [
        (mnj.Normal(0 * _ones(3), 1.0), mnj.Normal(0 * _ones(4), 1.0), "batch shapes", "Normal"),
        (mnj.Dirichlet(_ones(3)), mnj.Dirichlet(_ones(4)), "event shapes", "Dirichlet"),
        (FAMILIES["Independent"](), mnj.Independent(mnj.Normal(_ones(3, 5), 1.0), 1), "event", ""),
    ]
    for p, q, what, cls in cases:
        name = ours.format(cls or type(p).__name__)
        with pytest.raises(ValueError, match=rf"^kl_divergence\(p, q\): the {what}.*p \({name}\)"):
            mnj.kl_divergence(p, q)


@distribution
class UserGamma(mnj.Distribution):
    """A user's own family (a subclass of ours, in another module)."""

    rate: jax.Array = param()


def test_kl_errors_name_classes_with_their_module():
    ours = r"ml_networks_jax\.distributions\.gamma\.Gamma"
    with pytest.raises(NotImplementedError, match=rf"between {ours} and {__name__}\.UserGamma;"):
        mnj.kl_divergence(mnj.Gamma(1.0, 1.0), UserGamma(1.0))
    normal = r"ml_networks_jax\.distributions\.normal\.Normal"
    with pytest.raises(NotImplementedError, match=rf"between {normal} and {ours};"):
        mnj.kl_divergence(mnj.Normal(0.0, 1.0), mnj.Gamma(1.0, 1.0))
    want = rf"^kl_divergence\(p, q\): q: expected an ml_networks_jax distribution, got {FOREIGN}\.$"
    with pytest.raises(TypeError, match=want):
        mnj.kl_divergence(mnj.Gamma(1.0, 1.0), Gamma())
    with pytest.raises(TypeError, match=r"^kl_divergence\(p, q\): p: expected .*got None\.$"):
        mnj.kl_divergence(None, mnj.Gamma(1.0, 1.0))


# ---- other libraries' distributions ------------------------------------------------------------


def test_foreign_distributions_are_refused():
    expected = f"expected an ml_networks_jax distribution, got {FOREIGN}"
    calls = {
        r"sample\(key, dist, sample_shape\)": lambda: mnj.sample(KEY, Gamma()),
        r"rsample\(key, dist, sample_shape\)": lambda: mnj.rsample(KEY, Gamma(), (2,)),
        r"rsample_implicit\(key, dist, sample_shape\)": lambda: mnj.rsample_implicit(KEY, Gamma()),
        r"sample_and_log_prob\(key, dist, sample_shape\)": lambda: mnj.sample_and_log_prob(
            KEY, Gamma()
        ),
        r"log_prob\(dist, x\)": lambda: mnj.log_prob(Gamma(), 1.0),
        r"entropy\(dist\)": lambda: mnj.entropy(Gamma()),
        r"mean\(dist\)": lambda: mnj.mean(Gamma()),
        r"batch_shape\(dist\)": lambda: mnj.batch_shape(Gamma()),
        "Independent: base": lambda: mnj.Independent(Gamma(), 1),
        "DistributionStoch: dist": lambda: mnj.DistributionStoch(Gamma(), _ones(1, 1)),
    }
    for where, call in calls.items():
        with pytest.raises(TypeError, match=rf"^{where}: {re.escape(expected)}"):
            call()
    with pytest.raises(TypeError, match=r"^sample\(key, dist, sample_shape\): .*got an array key"):
        mnj.sample(mnj.Normal(0.0, 1.0), KEY)  # arguments swapped


def test_independent_arguments():
    base = mnj.Normal(0 * _ones(3), 1.0)
    for bad in (1.0, True, "1", None):
        with pytest.raises(TypeError, match="^Independent: reinterpreted_batch_ndims must be an"):
            mnj.Independent(base, bad)
    assert mnj.Independent(base, np.int64(1)).event_shape == (3,)
    with pytest.raises(TypeError, match=r"^Independent: base: expected .*, got builtins\.object"):
        mnj.Independent(object(), 1)


# ---- parameters --------------------------------------------------------------------------------

#: Bad parameter values and how the message goes on after "<Class>: <argument> must ".
SCALAR, ARRAY = "be a real number or a float array, got ", "have a real floating dtype, got "
BAD_PARAMETERS = {
    "None": (None, SCALAR + "None"),
    "a string": ("2.0", SCALAR + "str '2.0'"),
    "a bool": (True, SCALAR + "bool True"),
    "a complex number": (1 + 2j, SCALAR + r"complex \(1\+2j\)"),
    "a list of strings": (["a"], SCALAR + r"list \['a'\]"),
    "our distribution": (mnj.Normal(0.0, 1.0), SCALAR + r"ml_networks_jax\.distributions\.normal"),
    "another library's": (Gamma(), SCALAR + re.escape(FOREIGN)),
    "an object": (object(), SCALAR + r"builtins\.object"),
    "a complex array": (jnp.ones(3, jnp.complex64), ARRAY + "complex64"),
    "an integer JAX array": (jnp.ones(3, jnp.int32), ARRAY + "int32"),
    "a bool array": (np.ones(3, bool), ARRAY + "bool"),
}


@families
def test_bad_parameters_raise_a_type_error_naming_class_and_argument(name):
    d = FAMILIES[name]()
    if isinstance(d, (mnj.Bernoulli, mnj.OneHotCategorical)):
        pytest.skip("logits or probs: test_discrete_parameters")
    fields = [f for f in dataclasses.fields(d) if "event_ndims" in f.metadata]
    if not fields:
        pytest.skip("no array parameter of its own (a base, components or a pytree)")
    valid = {f.name: getattr(d, f.name) for f in dataclasses.fields(d) if f.init}
    for f in fields:
        for value, got in BAD_PARAMETERS.values():
            want = rf"^{type(d).__name__}: {f.name} must {got}"
            with pytest.raises(TypeError, match=want):
                type(d)(**{**valid, f.name: value})


def test_discrete_parameters():
    for cls in (mnj.Bernoulli, mnj.OneHotCategorical):
        for arg in ("logits", "probs"):
            for value, got in BAD_PARAMETERS.values():
                if value is None:
                    continue  # neither given: a ValueError of its own (test_discrete.py)
                with pytest.raises(TypeError, match=rf"^{cls.__name__}: {arg} must {got}"):
                    cls(**{arg: value})
    with pytest.raises(ValueError, match=r"^OneHotCategorical: logits .* got shape \(3, 0\)"):
        mnj.OneHotCategorical(logits=jnp.zeros((3, 0)))
    abstract = mnj.OneHotCategorical(logits=jax.ShapeDtypeStruct((2, 5), DTYPE))
    assert abstract.batch_shape == (2,) and abstract.event_shape == (5,)


def test_parameters_of_every_accepted_kind():
    accepted = [2, 2.0, np.int64(2), np.float32(2.0), [2.0, 3.0], (2, 3), np.arange(1, 3)]
    accepted += [jnp.asarray(2.0, jnp.bfloat16), jax.ShapeDtypeStruct((2,), DTYPE), _ones(2)]
    for value in accepted:
        d = mnj.Gamma(value, 1.0)
        assert jnp.issubdtype(d.concentration.dtype, jnp.floating), value
    out = jax.eval_shape(lambda a: mnj.Gamma(a, 1.0).mean(), 2.0)  # a tracer
    assert out.shape == ()
    assert mnj.Gamma(2, 1).dtype == jnp.result_type(float)  # Python numbers stay weakly typed


# ---- keys and sample shapes ------------------------------------------------------------------

#: Keys that are not one key: the error type and what its message says.
BAD_KEYS = {
    "an int seed": (0, TypeError, "got int 0: a seed, not a key"),
    "a NumPy int": (np.int64(0), TypeError, r"got an array i64\[\]: a seed, not a key"),
    "a JAX int": (jnp.asarray(0), TypeError, r"got an array i\d+\[\]: a seed, not a key"),
    "a float array": (jnp.zeros(2), TypeError, r"got an array f\d+\[2\]\.$"),
    "a shape (swapped arguments)": ((3,), TypeError, r"got tuple \(3,\)\.$"),
    "None": (None, TypeError, r"got None\.$"),
    "a batch of keys": (
        jax.random.split(KEY, 3),
        ValueError,
        r"single PRNG key, got a batch of keys of shape \(3,\); pass one key .* jax\.vmap",
    ),
    "a batch of legacy keys": (
        jax.random.split(jax.random.PRNGKey(0), 3),
        ValueError,
        r"got a batch of keys of shape \(3,\)",
    ),
}


@pytest.mark.parametrize(
    "name", ["Normal", "Gamma", "Dirichlet", "Bernoulli", "Independent", "MixtureSameFamily"]
)
def test_bad_keys_raise_for_every_sampler(name):
    d = FAMILIES[name]()
    for method in DRAW_METHODS:
        for key, error, says in BAD_KEYS.values():
            where = rf"^{type(d).__name__}\.{method}\(key, sample_shape\): key must be "
            with pytest.raises(error, match=where + ".*" + says):
                getattr(d, method)(key, (2,))
    with pytest.raises(TypeError, match=r"^\w+\.sample\(key, sample_shape\): key must be"):
        mnj.sample(0, d)


def test_typed_and_legacy_keys_pass_also_traced():
    d = mnj.Gamma(2 * _ones(3), 1.0)
    for key in (KEY, jax.random.PRNGKey(0)):
        assert jax.eval_shape(lambda k: d.rsample(k, (2,)), key).shape == (2, 3)
    keys = jax.random.split(KEY, 4)
    assert jax.eval_shape(jax.vmap(lambda k: d.sample(k)), keys).shape == (4, 3)
    with pytest.raises(ValueError, match="batch of keys of shape"):
        jax.eval_shape(jax.jit(lambda k: d.sample(k)), keys)


def test_sample_shapes():
    d = mnj.Normal(0 * _ones(3), 1.0)
    good = [
        (3, (3,)),
        (np.int64(3), (3,)),
        (jnp.asarray(3), (3,)),
        ((np.int64(2), jnp.asarray(1)), (2, 1)),
        ((), ()),
        ((0,), (0,)),
        (np.array([2, 1]), (2, 1)),
        ([2], (2,)),
    ]
    for sample_shape, want in good:
        out = jax.eval_shape(lambda s=sample_shape: d.sample(KEY, s))
        assert out.shape == want + (3,), sample_shape
    bad = [
        ((-1,), ValueError, r"sizes >= 0, got \(-1,\)"),
        ((2, -3), ValueError, r"sizes >= 0, got \(2, -3\)"),
        (True, TypeError, "an int or a tuple of ints, got bool True"),
        ((True, 2), TypeError, r"got tuple \(True, 2\)"),
        (2.0, TypeError, "got float 2.0"),
        ((2.0,), TypeError, r"got tuple \(2.0,\)"),
        ("3", TypeError, "got str '3'"),
        (None, TypeError, "got None"),
        (KEY, TypeError, r"got an array key"),
    ]
    for method in DRAW_METHODS:
        for sample_shape, error, says in bad:
            with pytest.raises(error, match=rf"^Normal\.{method}\(key, sample_shape\): .*{says}"):
                getattr(d, method)(KEY, sample_shape)
    with pytest.raises(TypeError, match="sample_shape must be static"):
        jax.eval_shape(jax.jit(lambda n: d.sample(KEY, n)), 3)


def test_the_other_samplers_check_keys_and_sample_shapes():
    """The draws outside a family's four sampling methods: a mixture's component draws, the
    Dirichlet's log-space draws, and the relaxations of the discrete families."""
    mixture = FAMILIES["MixtureSameFamily"]()
    dirichlet = mnj.Dirichlet(_ones(3))
    logits = jnp.zeros(3, DTYPE)
    calls = {
        r"MixtureSameFamily\.sample_component\(key, sample_shape\)": mixture.sample_component,
        r"Dirichlet\.log_rsample\(key, sample_shape\)": dirichlet.log_rsample,
        r"gumbel_softmax\(key, logits, temperature, sample_shape\)": (
            lambda k, s: gumbel_softmax(k, logits, 0.5, s)
        ),
        r"relaxed_bernoulli\(key, logits, temperature, sample_shape\)": (
            lambda k, s: relaxed_bernoulli(k, logits, 0.5, s)
        ),
    }
    for where, call in calls.items():
        for key, error, says in BAD_KEYS.values():
            with pytest.raises(error, match=rf"^{where}: key must be .*{says}"):
                call(key, (2,))
        with pytest.raises(ValueError, match=rf"^{where}: sample_shape must have sizes >= 0"):
            call(KEY, (-1,))
        assert jax.eval_shape(lambda k, c=call: c(k, np.int64(2)), KEY).shape[0] == 2
    for bad in ("0.5", None):
        with pytest.raises(TypeError, match="^gumbel_softmax: temperature must be a real number"):
            gumbel_softmax(KEY, logits, bad)
        with pytest.raises(TypeError, match="^relaxed_bernoulli: logits must be a real number"):
            relaxed_bernoulli(KEY, bad, 0.5)


def test_head_keys():
    x = jnp.zeros((4, 6), DTYPE)
    with pytest.raises(ValueError, match=r"^head: key must be a single .*shape \(4,\).*jax\.vmap"):
        mnj.head(x, jax.random.split(KEY, 4), "gamma")
    with pytest.raises(TypeError, match="^head: key must be a PRNG key.*got int 0: a seed"):
        mnj.head(x, 0, "normal")
    with pytest.raises(ValueError, match="^head: key must be a single"):
        mnj.head(x, jax.random.split(KEY, 4), "normal", deterministic=True)
    assert jax.eval_shape(lambda k: mnj.head(x, k, "gamma").stoch, jax.random.PRNGKey(0)).shape
    per_row = jax.vmap(lambda x, k: mnj.head(x, k, "normal").stoch)
    assert jax.eval_shape(per_row, x, jax.random.split(KEY, 4)).shape == (4, 3)
    with pytest.raises(TypeError, match=r"^head: x must be a floating array .* got list"):
        mnj.head([[0.0, 1.0]], KEY, "normal")


# ---- printing ---------------------------------------------------------------------------------


def test_repr_summarizes_leaves():
    assert repr(mnj.Gamma(_ones(3), 2.0)) == f"Gamma(concentration={F}[3], rate={F}[])"
    d = mnj.Independent(mnj.Normal(0 * _ones(32, 4), 1.0), 1)
    assert repr(d) == (
        f"Independent(base=Normal(loc={F}[32,4], scale={F}[]), reinterpreted_batch_ndims=1)"
    )
    m = FAMILIES["Mixture"]()
    assert repr(m) == (
        f"Mixture(mixture_logits={F}[3,2], components=(Normal(loc={F}[], scale={F}[]), "
        f"Gamma(concentration={F}[], rate={F}[])))"
    )


@families
def test_repr_never_raises_for_any_leaf(name):
    d = FAMILIES[name]()
    cls = type(d).__name__
    treedef = jax.tree.structure(d)
    seen = []
    jax.eval_shape(lambda d: seen.append(repr(d)) or 0.0, d)  # tracers
    variants = {
        "arrays": d,
        "shapes (tuples)": jax.tree.map(jnp.shape, d),
        "None": jax.tree.map(lambda _: None, d),
        "ShapeDtypeStruct": jax.eval_shape(lambda: d),
        "Python scalars": jax.tree.map(lambda _: 1.5, d),
        "placeholders": treedef.unflatten([object()] * treedef.num_leaves),
        "tracers": seen[0],
    }
    for what, value in variants.items():
        text = value if isinstance(value, str) else repr(value)
        assert text.startswith(f"{cls}(") and len(text) < 300, (what, text)
    assert "f32[3]" in repr(jax.tree.map(lambda p: jnp.zeros(3, jnp.float32), d))
    assert "(3," in repr(jax.tree.map(jnp.shape, d))
