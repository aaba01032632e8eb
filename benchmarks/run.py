"""Gamma sample + gradient, side by side: ml_networks_jax, TFP (JAX), numpyro, jax.random, torch.

Measured in one run, on the same inputs (CPU unless JAX/torch see an accelerator):

* throughput of a reparameterized draw plus its gradient, ``N`` shapes ``α ~ logU[0.1, 10]``;
* compile time of that jitted function (JAX libraries);
* accuracy of the pathwise gradient ``dz/dα`` of each library's own draws against mpmath,
  ``-(∂P(α, z)/∂α) / q(z; α)`` at 40 digits, for ``α`` in [1e-3, 1e4], float32 and float64;
* the import time ``import ml_networks_jax`` adds to ``import jax``.

Writes ``results/gamma.md`` (table), ``results/gamma.json`` and ``results/gamma.png``.

    python -m benchmarks.run            # full (make bench)
    python -m benchmarks.run --quick    # smaller N and grids (make bench-quick)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.peers import LIBRARIES, installed, make_gamma_grad

RESULTS = Path(__file__).parent / "results"
ALPHA_GRID = np.logspace(-3, 4, 15)


# ---- speed ------------------------------------------------------------------------------------


def _speed(libs: list[str], n: int, repeats: int) -> dict:
    """Seconds per call (median) and compile seconds (best of 3) for every library, timed in
    interleaved rounds so that load on the machine hits all of them alike. A library's slow calls
    stop after 5 once they have taken 20 s."""
    import jax
    import jax.numpy as jnp

    alpha = np.exp(np.random.default_rng(0).uniform(np.log(0.1), np.log(10.0), n)).astype("f4")
    fns = {lib: make_gamma_grad(lib) for lib in libs}
    if "torch" in libs:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    compile_s = {lib: None for lib in libs}
    a = jnp.asarray(alpha)
    for _ in tqdm(range(3), desc="compile"):
        for lib, f in fns.items():
            if hasattr(f, "traceable"):
                fresh = jax.jit(lambda a, key, f=f: f.traceable(a, key))  # new trace, new compile
                t0 = time.perf_counter()
                fresh.lower(a, jax.random.key(0)).compile()
                compile_s[lib] = min(compile_s[lib] or np.inf, time.perf_counter() - t0)

    calls = {}
    for lib, f in fns.items():
        if hasattr(f, "jitted"):
            calls[lib] = lambda seed, f=f: jax.block_until_ready(f.jitted(a, jax.random.key(seed)))
        else:
            calls[lib] = lambda seed, f=f: f(alpha, seed)
        calls[lib](repeats)  # warm-up (compiles the jitted entry)
    times = {lib: [] for lib in libs}
    for seed in tqdm(range(repeats), desc="speed"):
        for lib in libs:
            if len(times[lib]) >= 5 and sum(times[lib]) > 20.0:
                continue
            t0 = time.perf_counter()
            calls[lib](seed)
            times[lib].append(time.perf_counter() - t0)
    return {
        lib: {"seconds": float(np.median(times[lib])), "compile_s": compile_s[lib]} for lib in libs
    }


# ---- accuracy against mpmath ------------------------------------------------------------------


def _mp_dz_dalpha(alpha: float, z: float) -> float:
    """-(∂P(α, z)/∂α) / q(z; α), through whichever of P and Q is smaller (40 digits)."""
    import mpmath as mp

    with mp.workdps(40):
        a, x = mp.mpf(alpha), mp.mpf(z)
        p = mp.gammainc(a, 0, x, regularized=True)
        if p < 0.5:
            dp = mp.diff(lambda s: mp.gammainc(s, 0, x, regularized=True), a)
        else:
            dp = -mp.diff(lambda s: mp.gammainc(s, x, mp.inf, regularized=True), a)
        log_q = (a - 1) * mp.log(x) - x - mp.loggamma(a)
        return float(-dp / mp.exp(log_q))


def accuracy(lib: str, dtype: str, draws: int) -> dict:
    """Max relative error of dz/dα per α on ALPHA_GRID, and the fraction of draws that underflow."""
    f = make_gamma_grad(lib, dtype)
    alpha = np.repeat(ALPHA_GRID, draws).astype(dtype)
    z, g = f(alpha, 1)
    z, g = z.astype(np.float64), g.astype(np.float64)
    usable = (z > 0) & np.isfinite(z)
    errors, underflow = [], []
    for a in ALPHA_GRID.astype(dtype):
        m = alpha == a
        ok = m & usable
        # A non-finite gradient at a usable draw counts as an infinite error.
        err = [abs(g[i] / _mp_dz_dalpha(float(a), z[i]) - 1.0) for i in np.flatnonzero(ok)]
        err = [e if np.isfinite(e) else np.inf for e in err]
        errors.append(float(np.max(err)) if err else float("nan"))
        underflow.append(float(1.0 - ok.sum() / m.sum()))
    return {"alpha": ALPHA_GRID.tolist(), "max_rel_err": errors, "underflow": underflow}


def _accuracy_subprocess(lib: str, dtype: str, draws: int) -> dict:
    """Run :func:`accuracy` in a fresh interpreter (float64 needs JAX_ENABLE_X64 at start-up)."""
    env = dict(os.environ, JAX_ENABLE_X64="1" if dtype == "float64" else "0")
    cmd = [sys.executable, "-m", "benchmarks.run", "--accuracy-of", lib, dtype, str(draws)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---- import time ------------------------------------------------------------------------------


def _import_seconds(repeats: int = 10) -> dict:
    """Best-of-``repeats`` time of ``import jax`` and of ``import ml_networks_jax`` right after it,
    each timed inside a fresh interpreter (so interpreter start-up and exit are not counted)."""
    probe = (
        "import time; t0 = time.perf_counter(); import jax; t1 = time.perf_counter(); "
        "import ml_networks_jax; print(t1 - t0, time.perf_counter() - t1)"
    )
    best = {"jax": float("inf"), "mnj": float("inf")}
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)
        t_jax, t_mnj = map(float, out.stdout.split())
        best = {"jax": min(best["jax"], t_jax), "mnj": min(best["mnj"], t_mnj)}
    return best


# ---- report -----------------------------------------------------------------------------------


def _fmt(v, spec: str) -> str:
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def write_report(res: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gamma.json").write_text(json.dumps(res, indent=1))
    n = res["n"]
    base = res["speed"].get("tfp_jax", {}).get("seconds")
    lines = [
        f"# Gamma sample + gradient ({res['machine']})",
        "",
        f"`{res['command']}` — N = {n:,} shapes α ~ logU[0.1, 10], one draw each, float32, "
        "median of interleaved calls; accuracy: max relative error of each library's own dz/dα "
        "against mpmath over α in [1e-3, 1e4] (draws that underflow to 0 are excluded and "
        "counted).",
        "",
        "| library | M samples/s | × TFP | compile (s) | max rel. err f32 | max rel. err f64 "
        "| f32 draws = 0 at α = 1e-3 |",
        "|---|---|---|---|---|---|---|",
    ]
    for lib in LIBRARIES:
        if lib not in res["speed"]:
            continue
        s = res["speed"][lib]
        acc = res["accuracy"].get(lib, {})
        errs = {d: np.nanmax(acc[d]["max_rel_err"]) if d in acc else None for d in ("f32", "f64")}
        under = acc["f32"]["underflow"][0] if "f32" in acc else None
        ratio = base / s["seconds"] if base else None
        lines.append(
            f"| {lib} | {n / s['seconds'] / 1e6:.2f} | {_fmt(ratio, '.2f')} | "
            f"{_fmt(s['compile_s'], '.2f')} | {_fmt(errs['f32'], '.1e')} | "
            f"{_fmt(errs['f64'], '.1e')} | {_fmt(under, '.0%')} |"
        )
    imp = res["import"]
    lines += [
        "",
        f"Import: `import jax` {imp['jax']:.2f} s, then `import ml_networks_jax` "
        f"{imp['mnj']:.2f} s more (best of 10, each in a fresh interpreter).",
        "",
        "![throughput and accuracy](gamma.png)",
    ]
    (RESULTS / "gamma.md").write_text("\n".join(lines) + "\n")
    _plot(res)


def _plot(res: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    libs = [lib for lib in LIBRARIES if lib in res["speed"]]
    rates = [res["n"] / res["speed"][lib]["seconds"] / 1e6 for lib in libs]
    axes[0].barh(libs, rates, color=["C3" if lib == "ml_networks_jax" else "C0" for lib in libs])
    axes[0].set_xscale("log")
    axes[0].set_xlabel("M samples/s (sample + gradient)")
    for ax, dtype in zip(axes[1:], ("f32", "f64"), strict=True):
        for lib in libs:
            acc = res["accuracy"].get(lib, {}).get(dtype)
            if acc:
                ax.loglog(acc["alpha"], acc["max_rel_err"], "o-", ms=3, label=lib)
        ax.set_xlabel("α")
        ax.set_ylabel("max relative error of dz/dα")
        ax.set_title(dtype)
        ax.grid(True, which="major", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Gamma, N = {res['n']:,}, {res['machine']}")
    fig.tight_layout()
    fig.savefig(RESULTS / "gamma.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, fewer draws and repeats")
    parser.add_argument("--accuracy-of", nargs=3, metavar=("LIB", "DTYPE", "DRAWS"))
    args = parser.parse_args()
    if args.accuracy_of:
        lib, dtype, draws = args.accuracy_of
        print(json.dumps(accuracy(lib, dtype, int(draws))))
        return

    n, repeats, draws = (32_768, 5, 8) if args.quick else (262_144, 20, 32)
    libs = [lib for lib in LIBRARIES if installed(lib)]
    res = {
        "n": n,
        "command": "make bench-quick" if args.quick else "make bench",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_device()}",
        "speed": {},
        "accuracy": {},
    }
    _warm_up_jax()  # so that no library pays for JAX's one-time start-up in its compile time
    res["speed"] = _speed(libs, n, repeats)
    jobs = [(lib, d) for lib in libs for d in ("float32", "float64")]
    for lib, dtype in tqdm(jobs, desc="accuracy vs mpmath"):
        acc = _accuracy_subprocess(lib, dtype, draws)
        res["accuracy"].setdefault(lib, {})["f" + dtype[-2:]] = acc
    res["import"] = _import_seconds()
    write_report(res)
    print((RESULTS / "gamma.md").read_text())


def _warm_up_jax() -> None:
    import jax
    import jax.numpy as jnp

    grad = jax.jit(jax.grad(lambda a, key: jax.random.gamma(key, a).sum()))
    jax.block_until_ready(grad(jnp.ones(8), jax.random.key(0)))


def _device() -> str:
    import jax

    return str(jax.devices()[0].platform)


if __name__ == "__main__":
    main()
