"""Reparameterized mixture draws + gradient: ml_networks_jax against TFP's
``MixtureSameFamily(reparameterize=True)``, in one run on the same inputs.

K = 8 diagonal-Gaussian components (``Independent(Normal(loc, scale), 1)``), N = 1024 draws,
event sizes D = 1, 16, 128 (and ours with full-covariance components); the gradient of the sum of
the draws in the logits, locs and scales (TFP differentiates its mixture draws in the component
parameters and the logits). Jitted, float32, CPU unless JAX sees an accelerator; median of
interleaved calls after warm-up calls (sub-millisecond programs run slower in their first calls,
while the allocator maps fresh pages), compile time of one fresh trace.
The other peers have no pathwise mixture gradient (numpyro and distrax give the logits a silent
zero, torch has no mixture rsample), so they are not timed.

    python -m benchmarks.mixture            # writes results/mixture.{md,json}
    python -m benchmarks.mixture --quick    # 10 rounds (at D = 128: 5, TFP 2)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from benchmarks.report import run_info, save_report

K, N, SIZES = 8, 1024, (1, 16, 128)
WARM_UP = 20  # calls of each library before the timed rounds, below the largest size


def _ours(d: int):
    import jax
    import jax.numpy as jnp

    import ml_networks_jax as mnj

    def loss(logits, loc, scale, key):
        comps = mnj.Independent(mnj.Normal(loc, scale), 1)
        return jnp.sum(mnj.MixtureSameFamily(logits, comps).rsample(key, (N,)))

    return jax.grad(loss, argnums=(0, 1, 2))


def _ours_full(d: int):
    """Full-covariance components (no peer has these): the scale enters as the diagonal of a
    lower-triangular factor with fixed off-diagonal entries, so the inputs are the same."""
    import jax
    import jax.numpy as jnp

    import ml_networks_jax as mnj

    off = jnp.tril(0.1 * jax.random.normal(jax.random.key(7), (K, d, d)), -1)

    def loss(logits, loc, scale, key):
        comps = mnj.MultivariateNormal(loc, off + scale[..., None] * jnp.eye(d))
        return jnp.sum(mnj.MixtureSameFamily(logits, comps).rsample(key, (N,)))

    return jax.grad(loss, argnums=(0, 1, 2))


def _tfp(d: int):
    import jax
    import jax.numpy as jnp
    from tensorflow_probability.substrates import jax as tfp

    tfd = tfp.distributions

    def loss(logits, loc, scale, key):
        mix = tfd.MixtureSameFamily(
            tfd.Categorical(logits=logits),
            tfd.Independent(tfd.Normal(loc, scale), 1),
            reparameterize=True,
        )
        return jnp.sum(mix.sample(N, seed=key))

    return jax.grad(loss, argnums=(0, 1, 2))


BUILDERS = {
    "ml_networks_jax": _ours,
    "ml_networks_jax, full covariance": _ours_full,
    "tfp_jax": _tfp,
}


def _measure(d: int, rounds: dict[str, int]) -> dict:
    """Compile each library's function once, then time them in interleaved rounds."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(d)
    args = (
        jnp.asarray(rng.normal(size=K), jnp.float32),
        jnp.asarray(rng.normal(size=(K, d)), jnp.float32),
        jnp.asarray(np.exp(0.3 * rng.normal(size=(K, d))), jnp.float32),
    )
    compiled, out = {}, {}
    for name, build in BUILDERS.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(build(d)).lower(*args, jax.random.key(0)).compile()
        out[name] = {"compile_s": time.perf_counter() - t0, "times": []}
        grads = jax.block_until_ready(compiled[name](*args, jax.random.key(1)))
        out[name]["finite"] = all(bool(np.isfinite(np.asarray(g)).all()) for g in grads)
        for i in range(WARM_UP if d < SIZES[-1] else 0):  # first calls map fresh buffer pages
            jax.block_until_ready(compiled[name](*args, jax.random.key(1000 + i)))
    for i in range(max(rounds.values())):
        for name, fn in compiled.items():
            if i < rounds[name]:
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*args, jax.random.key(2 + i)))
                out[name]["times"].append(time.perf_counter() - t0)
    return {
        name: {"ms": 1e3 * float(np.median(r["times"])), "compile_s": r["compile_s"],
               "finite": r["finite"]}
        for name, r in out.items()
    }  # fmt: skip


def _rounds(quick: bool) -> dict[int, dict[str, int]]:
    """Interleaved rounds per event size and library (TFP takes seconds per call at D = 128)."""
    small, base, tfp128, full128 = (10, 5, 2, 2) if quick else (100, 20, 3, 5)
    out = {}
    for d in SIZES:
        out[d] = {name: small if d < SIZES[-1] else base for name in BUILDERS}
        if d >= 128:
            out[d] |= {"tfp_jax": tfp128, "ml_networks_jax, full covariance": full128}
    return out


def report(res: dict) -> str:
    """``results/mixture.md`` from the JSON ``main`` writes."""
    ours, full, tfp = BUILDERS
    command, machine = res["command"], res["machine"]
    big, small = res["rounds"][str(SIZES[-1])], res["rounds"][str(SIZES[0])][ours]
    rows = [
        f"| {d} | {r[ours]['ms']:.2f} | {r[tfp]['ms']:.2f} | "
        f"**{r[tfp]['ms'] / r[ours]['ms']:.1f}** | "
        f"{r[ours]['compile_s']:.1f} / {r[tfp]['compile_s']:.1f} | "
        f"{r[ours]['finite']} / {r[tfp]['finite']} | {r[full]['ms']:.2f} |"
        for d, r in res["results"].items()
    ]
    return "\n".join(
        [
            f"# Mixture draw + gradient ({machine}, {res['date']})",
            "",
            f"`{command}`: K = {res['K']} diagonal-Gaussian components, N = {res['N']} "
            "draws, gradient of their sum in the logits, locs and scales; jitted, float32, "
            f"median of {small} interleaved calls after {res.get('warm_up', 0)} warm-up calls "
            f"(at event size {SIZES[-1]}: {big[ours]}, TFP {big['tfp_jax']}, full covariance "
            f"{big[full]}, no warm-up). TFP: "
            "`MixtureSameFamily(reparameterize=True)`. × TFP: TFP's time over ours (> 1: "
            "ml_networks_jax is faster). Last column: ours with full-covariance "
            "`MultivariateNormal` components (no peer has their gradient).",
            "",
            "| event size | ml_networks_jax (ms) | TFP (ms) | × TFP | compile (s), ours / TFP "
            "| gradients finite, ours / TFP | full covariance (ms) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def main(quick: bool = False, command: str | None = None) -> None:

    rounds = _rounds(quick)
    results = {d: _measure(d, rounds[d]) for d in tqdm(SIZES, desc="mixture: event sizes")}
    res = {
        **run_info(command or "python -m benchmarks.mixture" + " --quick" * quick),
        "K": K,
        "N": N,
        "rounds": rounds,
        "warm_up": WARM_UP,
        "results": results,
    }
    save_report("mixture", res, report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer interleaved rounds")
    parser.add_argument("--command", help=argparse.SUPPRESS)  # as recorded by benchmarks.run
    args = parser.parse_args()
    main(args.quick, args.command)
