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


#: The slowest checks (seconds of compilation each), started first so that neither xdist worker
#: is left finishing one of them alone at the end of a run.
_SLOW_FIRST = (
    "test_readme_code_blocks_run",
    "test_multidevice_matches_single_device",
    "test_fisher_snedecor_and_inverse_gamma_against_scipy",
    "test_support_batching_and_composition",
    "test_hessian_through_gamma_sample_matches_fd",
    "test_blocked_path_matches_small_batches",
    "test_check_grads_logit",
    "test_draws_stay_inside_the_support",
    "test_explicit_and_implicit_agree",
    "test_outside_the_support_values_are_limits_with_zero_gradients",
    "test_small_concentration_gradient_is_unbiased",
    "test_extreme_concentrations_give_finite_draws_densities_and_gradients",
    "test_float32_expansions_value_and_derivatives_to_second_order",
    "test_zero_and_tiny_x",
    "test_second_derivatives_vs_finite_differences",
    "test_mixture_second_derivatives_follow_the_coupling",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(_SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.originalname, len(rank)))  # stable: order kept
