"""Reparameterized draw + gradient, side by side: ml_networks_jax, TFP (JAX), numpyro, distrax,
jax.random, torch, for every family in ``benchmarks/families.py``; then (unless ``--family`` is
given) the mixture runner (``benchmarks/mixture.py``, against TFP) and the head + KL step
(``benchmarks/head.py``, against distrax), each in a fresh interpreter.

Measured in one run, on the same inputs (CPU unless JAX/torch see an accelerator), per case:

* throughput of a reparameterized draw plus its gradient in one parameter (``N`` scalars), and of
  the same at ``N`` = 4,096 … 262,144 for the throughput plot (not in ``--quick``);
* compile time of that jitted function (JAX libraries), best of 3 fresh traces;
* the share of non-finite gradients (and, with bounds, of draws outside them);
* where an mpmath reference is cheap (Gamma, Beta, Student-t, truncated normal), the accuracy of
  each library's own dz/dθ at its own draws, float32 and float64, in fresh interpreters;
* (Gamma) the import time ``import ml_networks_jax`` adds to ``import jax``.

Writes ``results/<family>.{md,json}``, ``results/<case>.png``, ``results/mixture.{md,json}``,
``results/head.{md,json}``, ``results/summary.md``, ``results/throughput.png`` and the "Latest
figures" table of ``benchmarks/README.md``.

    python -m benchmarks.run                      # everything (make bench)
    python -m benchmarks.run --quick              # smaller N, no batch sweep, fewer rounds
    python -m benchmarks.run --family beta        # one family only (repeatable), quick or not
    python -m benchmarks.run --report-only        # rewrite the reports from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from tqdm import tqdm

from benchmarks.accuracy import MEAN_DRAWS, accuracy_main, all_accuracy
from benchmarks.families import FAMILIES
from benchmarks.peers import LIBRARIES, available
from benchmarks.report import RESULTS, run_info, write_family, write_summary
from benchmarks.timing import speed

SWEEP = (4_096, 16_384, 65_536, 262_144)


def _import_seconds(repeats: int = 10) -> dict:
    """Best-of-``repeats`` time of ``import jax`` and of ``import ml_networks_jax`` right after it,
    each timed inside a fresh interpreter (so interpreter start-up and exit are not counted)."""
    probe = (
        "import time; t0 = time.perf_counter(); import jax; t1 = time.perf_counter(); "
        "import ml_networks_jax; print(t1 - t0, time.perf_counter() - t1)"
    )
    best = {"jax": float("inf"), "mnj": float("inf")}
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        if out.returncode:
            return {"error": out.stderr.strip().splitlines()[-1], "repeats": repeats}
        t_jax, t_mnj = map(float, out.stdout.split())
        best = {"jax": min(best["jax"], t_jax), "mnj": min(best["mnj"], t_mnj)}
    return best | {"repeats": repeats}


def _warm_up_jax() -> None:
    """So that no library pays for JAX's one-time start-up in its compile time."""
    import jax
    import jax.numpy as jnp

    grad = jax.jit(jax.grad(lambda a, key: jax.random.gamma(key, a).sum()))
    jax.block_until_ready(grad(jnp.ones(8), jax.random.key(0)))


def _extras(quick: bool, command: str) -> None:
    """The mixture and head runners, one fresh interpreter each (a failure is reported and the
    run goes on); they write their own reports."""
    for module in ("benchmarks.mixture", "benchmarks.head"):
        cmd = [sys.executable, "-m", module, "--command", command] + ["--quick"] * quick
        if subprocess.run(cmd).returncode:
            print(f"{module} failed; results/ keeps its last report", file=sys.stderr)


def _rewrite_extras() -> None:
    """results/mixture.md and results/head.md from their JSON, where present."""
    from benchmarks import head, mixture

    for name, report in (("mixture", mixture.report), ("head", head.report)):
        path = RESULTS / f"{name}.json"
        if path.exists():
            (RESULTS / f"{name}.md").write_text(report(json.loads(path.read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, fewer draws and repeats")
    parser.add_argument(
        "--family",
        action="append",
        choices=list(FAMILIES),
        help="run only this family (repeatable; no mixture or head step); default: all",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the Markdown and plots from the JSON in results/, measuring nothing",
    )
    parser.add_argument("--accuracy-of", nargs=2, metavar=("LIB", "DTYPE"), help=argparse.SUPPRESS)
    parser.add_argument("--family-keys", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.accuracy_of:
        accuracy_main(*args.accuracy_of, args.quick, args.family_keys)
        return

    if args.report_only:
        for family in args.family or list(FAMILIES):
            path = RESULTS / f"{family}.json"
            res = json.loads(path.read_text()) if path.exists() else {}
            if "cases" in res:  # not one from before the family table
                write_family(family, res)
        _rewrite_extras()
        write_summary()
        return

    n, repeats, compiles = (32_768, 5, 1) if args.quick else (262_144, 20, 3)
    sweep = () if args.quick else SWEEP
    families = args.family or list(FAMILIES)
    libs = [lib for lib in LIBRARIES if available("gamma", lib) != "not installed"]
    command = "make bench-quick" if args.quick else "make bench"
    if args.family:
        command = f"python -m benchmarks.run {'--quick ' * args.quick}" + " ".join(
            f"--family {f}" for f in families
        )
    meta = {"n": n, **run_info(command), "threads": os.cpu_count(), "compiles": compiles}
    _warm_up_jax()
    cases = [case for f in families for case in FAMILIES[f]]
    results = {}
    for case in tqdm(cases, desc="cases"):
        missing = {lib: why for lib in LIBRARIES if (why := available(case.family, lib))}
        measured = [lib for lib in libs if lib not in missing]
        timings, failed = speed(case, measured, n, repeats, compiles, sweep)
        results[case.key] = {"speed": timings, "missing": missing | failed}
    measured = {key: list(r["speed"]) for key, r in results.items()}
    for key, acc in all_accuracy(cases, measured, args.quick).items():
        results[key]["accuracy"] = acc
    for case in cases:
        results[case.key]["accuracy_draws"] = case.accuracy_draws[0 if args.quick else 1]
        results[case.key]["mean_draws"] = MEAN_DRAWS[0 if args.quick else 1]
    for family in families:
        res = {**meta, "cases": {c.key: results[c.key] for c in FAMILIES[family]}}
        if family == "gamma":
            res["import"] = _import_seconds(3 if args.quick else 10)
        write_family(family, res)
    for family in families:
        print((RESULTS / f"{family}.md").read_text())
    if not args.family:
        _extras(args.quick, command)
    write_summary()
    print((RESULTS / "summary.md").read_text())


if __name__ == "__main__":
    main()
