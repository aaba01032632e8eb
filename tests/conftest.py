"""Shared test configuration: strict dtype promotion, warnings as errors (pyproject), a key."""

import os

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_enable_x64", os.environ.get("JAX_ENABLE_X64", "") not in ("", "0"))

#: Heavy sweeps run in full with MNJ_FULL=1 (``make test-full``); CI runs them reduced.
FULL = os.environ.get("MNJ_FULL", "") not in ("", "0")


@pytest.fixture
def key():
    return jax.random.key(0)
