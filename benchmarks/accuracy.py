"""Accuracy of each library's own pathwise gradient against mpmath, at the library's own draws.

Every case with a ``reference`` draws ``draws`` samples at each parameter set of its grid; the
gradient dz/dθ the library returns is compared with ``-(∂F/∂θ) / q`` at 40 digits at that very
draw. Draws outside the support's interior (e.g. a float32 Gamma draw that underflows to 0) have no
gradient to check; their share is reported. Each (library, dtype) runs in a fresh interpreter:
float64 needs ``JAX_ENABLE_X64`` at start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
from tqdm import tqdm

from benchmarks.families import CASE_BY_KEY, Case
from benchmarks.peers import SAMPLERS, make_grad

TIMEOUT_S = 900  # per (library, dtype) process; one that hangs is reported, not waited on
MEAN_DRAWS = (1_024, 8_192)  # draws per grid point for the unbiasedness check: (quick, full)


def accuracy(case: Case, lib: str, dtype: str, draws: int, mean_draws: int) -> dict:
    """Per grid point: the max relative error of dz/dθ against the CDF gradient and the share of
    draws excluded (cases with a ``reference``); the z-score of the mean of h'(z) dz/dθ against
    the exact d/dθ E[h(z)] (cases with a ``mean_check``)."""
    f = make_grad(case.family, lib, dtype)
    points = len(case.grid[0])
    draws = draws if case.reference else 0
    mean_draws = mean_draws if case.mean_check else 0
    # One call (one compile) for both checks: per parameter set, `draws` for the per-draw
    # comparison, then `mean_draws` for the mean-gradient check.
    grid = tuple(np.repeat(np.asarray(p, dtype), draws + mean_draws) for p in case.grid)
    z_all, g_all = f(grid, 1)
    z_all, g_all = z_all.astype(np.float64), g_all.astype(np.float64)
    first = (np.arange(len(z_all)) % (draws + mean_draws)) < draws
    out: dict = {"grid": list(case.grid_labels)}
    if case.reference:
        z, g, sub = z_all[first], g_all[first], tuple(p[first] for p in grid)
        usable = case.support(z, *sub) & np.isfinite(z)
        errors, excluded = [], []
        for j in range(points):
            m = np.arange(len(z)) // draws == j
            rows = np.flatnonzero(m & usable)
            # A non-finite gradient at a usable draw counts as an infinite error.
            err = [abs(g[i] / case.reference(z[i], *(float(p[i]) for p in sub)) - 1) for i in rows]
            err = [e if np.isfinite(e) else np.inf for e in err]
            errors.append(float(np.max(err)) if err else float("nan"))
            excluded.append(float(1.0 - len(rows) / m.sum()))
        out |= {"max_rel_err": errors, "excluded": excluded}
    if case.mean_check:
        h_prime, exact, _ = case.mean_check
        z, g, sub = z_all[~first], g_all[~first], tuple(p[~first] for p in grid)
        terms = (h_prime(z, *sub) * g).reshape(points, -1)
        scores = []
        for j in range(points):
            target = exact(*(float(p[j * mean_draws]) for p in sub))
            t = terms[j]
            if not np.isfinite(target):
                scores.append(float("nan"))
            elif not np.all(np.isfinite(t)):
                scores.append(float("inf"))
            else:
                se = t.std(ddof=1) / np.sqrt(len(t))
                scores.append(float(abs(t.mean() - target) / se) if se > 0 else float("inf"))
        out["mean_z"] = scores
    return out


def accuracy_main(lib: str, dtype: str, quick: bool, keys: list[str]) -> None:
    """Subprocess entry point: one JSON object {case key: accuracy} on the last stdout line."""
    out = {}
    for key in keys:
        case = CASE_BY_KEY[key]
        q = 0 if quick else 1
        out[key] = accuracy(case, lib, dtype, case.accuracy_draws[q], MEAN_DRAWS[q])
    print(json.dumps(out))


def _subprocess(lib: str, dtype: str, quick: bool, keys: list[str]) -> dict:
    env = dict(os.environ, JAX_ENABLE_X64="1" if dtype == "float64" else "0")
    cmd = [sys.executable, "-m", "benchmarks.run", "--accuracy-of", lib, dtype]
    cmd += ["--quick"] * quick + ["--family-keys", *keys]
    out = subprocess.run(
        cmd, env=env, check=True, capture_output=True, text=True, timeout=TIMEOUT_S
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def all_accuracy(cases: list[Case], measured: dict[str, list[str]], quick: bool) -> dict:
    """{case key: {lib: {"f32": ..., "f64": ...}}} (quick: float32 only) for the libraries
    ``measured[case key]`` that give a gradient; the subprocesses run two at a time (after the
    timings, so they disturb none)."""
    jobs = []
    for lib in dict.fromkeys(lib for libs in measured.values() for lib in libs):
        keys = [
            c.key
            for c in cases
            if (c.reference or c.mean_check)
            and lib in measured[c.key]
            and SAMPLERS[c.family][lib].grad
        ]
        if keys:
            dtypes = ("float32",) if quick else ("float32", "float64")
            jobs += [(lib, dtype, keys) for dtype in dtypes]
    res: dict = {c.key: {} for c in cases}
    with ThreadPoolExecutor(2) as pool:
        futures = {pool.submit(_subprocess, lib, d, quick, keys): (lib, d) for lib, d, keys in jobs}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="accuracy vs mpmath"):
            lib, dtype = futures[fut]
            try:
                result = fut.result()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:  # not fatal
                tqdm.write(f"accuracy of {lib} {dtype} failed: {e}\n{str(e.stderr)[-2000:]}")
                continue
            for key, acc in result.items():
                res[key].setdefault(lib, {})["f" + dtype[-2:]] = acc
    return res
