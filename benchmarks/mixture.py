"""Reparameterized mixture draws + gradient: ml_networks_jax against TFP's
``MixtureSameFamily(reparameterize=True)``, in one run on the same inputs.

K = 8 diagonal-Gaussian components (``Independent(Normal(loc, scale), 1)``), N = 1024 draws,
event sizes D = 1, 16, 128; the gradient of the sum of the draws in the logits, locs and scales
(TFP differentiates its mixture draws in the component parameters and the logits). Jitted, float32,
CPU unless JAX sees an accelerator; median of interleaved calls after a warm-up, compile time of
one fresh trace. The other peers have no pathwise mixture gradient (numpyro and distrax give the
logits a silent zero, torch has no mixture rsample), so they are not timed.

    python -m benchmarks.mixture            # writes results/mixture.{md,json}
"""

from __future__ import annotations

import datetime
import json
import platform
import time

import numpy as np
from tqdm import tqdm

from benchmarks.report import RESULTS

K, N, SIZES = 8, 1024, (1, 16, 128)


def _ours(d: int):
    import jax
    import jax.numpy as jnp

    import ml_networks_jax as mnj

    def loss(logits, loc, scale, key):
        comps = mnj.Independent(mnj.Normal(loc, scale), 1)
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


def _measure(build, d: int, rounds: int) -> dict:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(d)
    args = (
        jnp.asarray(rng.normal(size=K), jnp.float32),
        jnp.asarray(rng.normal(size=(K, d)), jnp.float32),
        jnp.asarray(np.exp(0.3 * rng.normal(size=(K, d))), jnp.float32),
    )
    fn = jax.jit(build(d))
    t0 = time.perf_counter()
    compiled = fn.lower(*args, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args, jax.random.key(1)))
    times = []
    for i in range(rounds):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args, jax.random.key(2 + i)))
        times.append(time.perf_counter() - t0)
    finite = all(bool(np.isfinite(np.asarray(g)).all()) for g in out)
    return {"ms": 1e3 * float(np.median(times)), "compile_s": compile_s, "finite": finite}


def main() -> None:
    import jax

    results = {}
    for d in tqdm(SIZES, desc="event sizes"):
        rounds = 3 if d >= 128 else 20
        results[d] = {
            "ml_networks_jax": _measure(_ours, d, 20),
            "tfp_jax": _measure(_tfp, d, rounds),
        }
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    device = f"{platform.machine()}, {jax.devices()[0].platform}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mixture.json").write_text(
        json.dumps({"date": stamp, "device": device, "K": K, "N": N, "results": results}, indent=1)
    )
    rows = [
        f"| {d} | {r['ml_networks_jax']['ms']:.2f} | {r['tfp_jax']['ms']:.2f} | "
        f"**{r['tfp_jax']['ms'] / r['ml_networks_jax']['ms']:.1f}** | "
        f"{r['ml_networks_jax']['compile_s']:.1f} / {r['tfp_jax']['compile_s']:.1f} | "
        f"{r['ml_networks_jax']['finite']} / {r['tfp_jax']['finite']} |"
        for d, r in results.items()
    ]
    (RESULTS / "mixture.md").write_text(
        "\n".join(
            [
                f"# Mixture draw + gradient ({device}, {stamp})",
                "",
                "`python -m benchmarks.mixture`: K = 8 diagonal-Gaussian components, N = 1024 "
                "draws, gradient of their sum in the logits, locs and scales; jitted, float32, "
                "median of interleaved calls. TFP: `MixtureSameFamily(reparameterize=True)`.",
                "",
                "| event size | ml_networks_jax (ms) | TFP (ms) | × TFP | compile (s), ours / TFP "
                "| gradients finite, ours / TFP |",
                "|---|---|---|---|---|---|",
                *rows,
                "",
            ]
        )
    )
    print((RESULTS / "mixture.md").read_text())


if __name__ == "__main__":
    main()
