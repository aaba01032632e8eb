"""Shared test configuration: strict dtype promotion, warnings as errors (pyproject), a key."""

import os

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_enable_x64", os.environ.get("JAX_ENABLE_X64", "") not in ("", "0"))

#: Heavy sweeps run in full with MNJ_FULL=1 (``make test-full``); CI runs them reduced.
FULL = os.environ.get("MNJ_FULL", "") not in ("", "0")
_X64 = jax.config.jax_enable_x64

#: Checks that do not depend on the precision (transformations: jit, vmap, forward vs reverse,
#: NaN in; consistency: density vs CDF, second order vs finite differences, identities between
#: families): the float64 run skips them unless MNJ_FULL=1.
float32_only = pytest.mark.skipif(
    _X64 and not FULL,
    reason="precision-independent check, run in float32 (MNJ_FULL=1: float64 too)",
)

#: Checks whose compilation dominates the suite (second order through the heavier special
#: functions); ``make test-full`` runs them, the reduced run relies on the cheaper ones beside.
full_only = pytest.mark.skipif(not FULL, reason="compile-heavy: MNJ_FULL=1 (make test-full)")


@pytest.fixture
def key():
    return jax.random.key(0)


#: The longest tests (whole programs in a process of their own, the README's code): collected
#: first, so that pytest-xdist's workers start on them instead of one worker ending the run alone
#: on one of them while the other has nothing left to take.
_LONGEST = ("test_notebooks.py::", "test_multidevice.py::", "test_docs.py::test_readme")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not any(name in item.nodeid for name in _LONGEST))
