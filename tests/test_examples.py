"""The examples: the Gamma/LogNormal fit recovers its parameters, and the VAE of ``make demo``
trains, evaluates and writes its report; each run here with fewer steps."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from cases import X64

EXAMPLE = Path(__file__).parents[1] / "examples" / "fit_gamma.py"


def _load():
    spec = importlib.util.spec_from_file_location("fit_gamma", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(X64, reason="the demo runs in float32")
@pytest.mark.parametrize("family", ["Gamma", "LogNormal"])
def test_fit_recovers_parameters(family):
    demo = _load()
    data = demo.make_data(family, 20_000, seed=1)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes int step counts and floats
        fitted = demo.fit(family, data, steps=400, batch=1024, seed=1)
    for name, true in demo.TRUTH[family].items():
        assert abs(fitted[name] / true - 1) < 0.1, (name, fitted[name], true)


@pytest.mark.skipif(X64, reason="the demo runs in float32")
def test_training_step_is_compiled_once():
    demo = _load()
    optimizer = demo.optax.adam(1e-2)
    step = demo.make_step("Gamma", demo.make_data("Gamma", 256, seed=0), 64, optimizer)
    raw = demo.to_unconstrained(demo.START["Gamma"])
    state = optimizer.init(raw)
    with jax.numpy_dtype_promotion("standard"):
        for i in range(3):
            raw, state, _ = step(raw, state, jax.random.key(i))
    assert step._cache_size() == 1  # no retrace when the parameters come back from the optimizer


# ---- the VAE of `make demo` (examples/vae.py) on the MNIST digits of examples/data ----------

VAE_PATH = EXAMPLE.with_name("vae.py")


def _load_vae():
    sys.path.insert(0, str(VAE_PATH.parent))  # vae.py imports its neighbour mnist.py
    try:
        spec = importlib.util.spec_from_file_location("vae", VAE_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["vae"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(VAE_PATH.parent))
    return module


@pytest.mark.skipif(X64, reason="the demo runs in float32")
def test_mnist_digits_load_offline():
    vae = _load_vae()
    images, labels = vae.mnist.load()
    assert images.shape == (5000, 784) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() == 1
    assert np.bincount(labels).tolist() == [500] * 10
    (train_x, train_y), (test_x, test_y) = vae.mnist.split()
    assert (
        np.bincount(train_y).tolist() == [400] * 10 and np.bincount(test_y).tolist() == [100] * 10
    )
    assert set(np.unique(train_x)) == {0.0, 1.0}
    # a partition of the 5,000 images, the same on every call
    together = np.concatenate([train_x, test_x]).astype(bool)
    assert np.array_equal(np.unique(together, axis=0), np.unique(images > 0.5, axis=0))
    assert np.array_equal(vae.mnist.split()[1][0], test_x)


@pytest.mark.skipif(X64, reason="the demo runs in float32")
@pytest.mark.parametrize("latent", ["normal", "gamma", "beta", "dirichlet", "von_mises"])
def test_vae_one_sample_iwae_is_the_elbo(latent):
    """At k = 1 the IWAE bound is one draw of log p(x|z) + log p(z) - log q(z|x), whose mean is
    the ELBO: any wrong term (a dropped prior, a sign, an event shape) moves it off the
    closed-form-KL estimate by many standard errors."""
    vae = _load_vae()
    model = vae.VAE(latent, dim=3, hidden=16)
    params = model.init(jax.random.key(0))
    x = jax.numpy.asarray(vae.mnist.split()[1][0])  # 1,000 test digits
    # one program for both bounds (each on its own compiles the encoder and decoder again)
    elbo, iwae = jax.jit(
        lambda p: (
            -model.neg_elbo(p, x, jax.random.key(1)),
            model.iwae_bound(p, x, jax.random.key(2), 1),
        )
    )(params)
    se = np.sqrt((np.var(elbo) + np.var(iwae)) / len(x))
    assert abs(float(iwae.mean() - elbo.mean())) < 4 * se, (iwae.mean(), elbo.mean(), se)


@pytest.mark.skipif(X64, reason="the demo runs in float32")
def test_example_docstrings_run():
    import doctest

    vae = _load_vae()
    for module in (vae, vae.mnist):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted and not result.failed, (module.__name__, result)


@pytest.mark.skipif(X64, reason="the demo runs in float32")
def test_vae_normal_explicit_and_implicit_gradients_agree():
    vae = _load_vae()
    x = jax.numpy.asarray(vae.mnist.split()[0][0][:50])
    explicit, implicit = vae.VAE("normal", dim=3, hidden=32), vae.VAE("normal", 3, 32, True)
    params = explicit.init(jax.random.key(0))
    grads = [jax.grad(m.loss)(params, x, jax.random.key(1)) for m in (explicit, implicit)]
    for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
        # (z - μ)/σ against ε: the same number up to float32 rounding
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * float(np.abs(a).max()))


def test_vae_rejects_unknown_latents():
    vae = _load_vae()
    with pytest.raises(ValueError, match="unknown latent"):
        vae.VAE("laplace")
    with pytest.raises(ValueError, match="implicit=True"):
        vae.VAE("gamma", implicit=True)


@pytest.mark.skipif(X64, reason="the demo runs in float32")
def test_demo_command_trains_and_writes_its_table_and_figure(tmp_path, capsys, monkeypatch):
    """``make demo`` with three latents and two epochs: each VAE learns (the second epoch's mean
    loss at least 50 nats below the first's; 784 log 2 = 543 nats for a decoder that says ½
    everywhere), its IWAE bound is tighter than its ELBO, and the table and figure are written."""
    vae = _load_vae()
    rows = []
    run = vae.run
    monkeypatch.setattr(vae, "run", lambda *a, **kw: rows.extend(run(*a, **kw)) or rows)
    latents = ["normal", "gamma", "von_mises"]
    args = ["--latent", *latents, "--dim", "2", "--epochs", "2", "--k", "4"]
    with jax.numpy_dtype_promotion("standard"):  # optax mixes int step counts and floats
        vae.main([*args, "--out", str(tmp_path)])
    assert [row["model"].name for row in rows] == ["normal (explicit)", *latents[1:]]
    for row in rows:
        losses = row["loss"]
        assert losses[-1] < losses[0] - 50, (row["model"].name, losses)
        assert np.isfinite(row["neg_elbo"]) and row["neg_iwae"] < row["neg_elbo"], row
    table = (tmp_path / "vae_mnist.md").read_text()
    assert all(name in table for name in ("normal (explicit)", *latents[1:])), table
    assert (tmp_path / "vae_mnist.png").stat().st_size > 10_000
    assert table.strip() in capsys.readouterr().out
