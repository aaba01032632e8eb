"""The demo (``make demo``) recovers its parameters; run here with fewer steps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
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
