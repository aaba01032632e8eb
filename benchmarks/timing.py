"""Speed: compile time (best of fresh traces) and interleaved-round timing of every library on
one case, plus the checks that come free with the draws (non-finite gradients, bounds)."""

from __future__ import annotations

import os
import time

import numpy as np
from tqdm import tqdm

from benchmarks.families import Case
from benchmarks.peers import make_grad

# A library whose calls have taken this many seconds in all stops after MIN_CALLS calls.
BUDGET_S, MIN_CALLS = 20.0, 5
# Untimed interleaved calls before the timed rounds (at most WARM_UP_S seconds per library): on
# this CPU the first calls after compiling run up to 2x slower, for every library.
WARM_UP, WARM_UP_S = 5, 2.0


def _error(e: Exception) -> str:
    return f"failed ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})"


def _entries(case: Case, libs: list[str], errors: dict) -> dict:
    fns = {}
    for lib in libs:
        try:
            fns[lib] = make_grad(case.family, lib)
        except Exception as e:  # a peer that breaks is reported, not fatal
            errors[lib] = _error(e)
    if "torch" in fns:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    return {lib: f for lib, f in fns.items() if f is not None}


def _calls(fns: dict, case: Case, n: int, compile_rounds: int, desc: str, errors: dict):
    """One callable ``call(seed)`` per library, compiled for ``n`` scalars, and the best compile
    time over ``compile_rounds`` interleaved rounds, each from a fresh trace (JAX entries)."""
    import jax
    import jax.numpy as jnp

    params = case.params(n)
    w = case.cotangent(params[0].shape)
    dev = (tuple(jnp.asarray(p) for p in params), jnp.asarray(w))
    compile_s = {lib: None for lib in fns}
    compiled = {}
    for _ in tqdm(range(compile_rounds), desc=desc, leave=False):
        for lib, f in fns.items():
            if hasattr(f, "traceable") and lib not in errors:
                fresh = jax.jit(lambda p, k, w, f=f: f.traceable(p, k, w))  # new trace and compile
                t0 = time.perf_counter()
                try:
                    compiled[lib] = fresh.lower(dev[0], jax.random.key(0), dev[1]).compile()
                except Exception as e:
                    errors[lib] = _error(e)
                    continue
                compile_s[lib] = min(compile_s[lib] or np.inf, time.perf_counter() - t0)
    calls = {}
    for lib, f in fns.items():
        if lib in errors:
            continue
        if lib in compiled:
            calls[lib] = lambda s, c=compiled[lib]: jax.block_until_ready(
                c(dev[0], jax.random.key(s), dev[1])
            )
        else:
            calls[lib] = lambda s, f=f: f(params, s, w)
    return calls, compile_s, params


def _interleaved(calls: dict, repeats: int, desc: str, budget_s: float, min_calls: int) -> dict:
    """Median seconds per call, the libraries taking turns within each round."""
    times = {lib: [] for lib in calls}
    for seed in tqdm(range(repeats), desc=desc, leave=False):
        for lib, call in calls.items():
            if len(times[lib]) >= min_calls and sum(times[lib]) > budget_s:
                continue
            t0 = time.perf_counter()
            call(seed)
            times[lib].append(time.perf_counter() - t0)
    return {lib: float(np.median(t)) for lib, t in times.items()}


def _checks(case: Case, params, z, g) -> dict:
    """What the draws of one call say: non-finite gradients; for a bounded support, the share of
    draws that are finite and inside it."""
    z = np.asarray(z, np.float64)
    out = {"nonfinite_grad": None if g is None else float(np.mean(~np.isfinite(g)))}
    if case.bounds is not None:
        low, high = case.bounds
        out["in_bounds"] = float(np.mean(np.isfinite(z) & (z >= low) & (z <= high)))
        out["grad_finite"] = None if g is None else float(np.mean(np.isfinite(g)))
    return out


def speed(
    case: Case,
    libs: list[str],
    n: int,
    repeats: int,
    compiles: int = 3,
    sweep: tuple[int, ...] = (),
) -> tuple[dict, dict]:
    """For every measurable library: seconds per call at ``n`` (median of interleaved rounds),
    compile seconds (best of ``compiles`` fresh traces), the checks, and seconds per call at each
    ``sweep`` size (one compile, median of fewer rounds); and {lib: why} for those that failed."""
    import jax

    errors: dict = {}
    fns = _entries(case, libs, errors)
    calls, compile_s, params = _calls(fns, case, n, compiles, f"{case.key}: compile", errors)
    out = {}
    for lib, call in list(calls.items()):
        try:
            res = call(repeats)  # warm-up, and the draws the checks look at
        except Exception as e:
            errors[lib] = _error(e)
            del calls[lib]
            continue
        z, g = (np.asarray(x) if x is not None else None for x in jax.device_get(res))
        out[lib] = {
            "grad": fns[lib].grad,
            "note": fns[lib].note,
            "compile_s": compile_s[lib],
            "checks": _checks(case, params, z, g),
        }
    _interleaved(calls, WARM_UP, f"{case.key}: warm-up", WARM_UP_S, 1)
    seconds = _interleaved(calls, repeats, f"{case.key}: speed", BUDGET_S, MIN_CALLS)
    for lib, s in seconds.items():
        out[lib]["seconds"] = s
        out[lib]["sweep"] = {str(n): s}
    for m in tqdm([m for m in sweep if m != n], desc=f"{case.key}: batch sweep", leave=False):
        live = {lib: f for lib, f in fns.items() if lib in calls}
        calls_m, _, _ = _calls(live, case, m, 1, f"compile N={m}", errors)
        for call in calls_m.values():
            call(0)  # warm-up
        for lib, s in _interleaved(calls_m, max(repeats // 2, 3), "rounds", 5.0, 3).items():
            out[lib]["sweep"][str(m)] = s
    return out, errors
