"""Reparameterized mixture draws + gradient: ml_networks_jax against TFP's
``MixtureSameFamily(reparameterize=True)``, in one run on the same inputs.

K = 8 diagonal-Gaussian components (``Independent(Normal(loc, scale), 1)``), N = 1024 draws,
event sizes D = 1, 16, 128 (and ours with full-covariance components); the gradient of the sum of
the draws in the logits, locs and scales (TFP differentiates its mixture draws in the component
parameters and the logits). Jitted, float32,
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


def main() -> None:
    import jax

    results = {}
    for d in tqdm(SIZES, desc="event sizes"):
        rounds = {name: 20 for name in BUILDERS}
        if d >= 128:
            rounds["tfp_jax"] = 3  # seconds per call
            rounds["ml_networks_jax, full covariance"] = 5
        results[d] = _measure(d, rounds)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    device = f"{platform.machine()}, {jax.devices()[0].platform}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mixture.json").write_text(
        json.dumps({"date": stamp, "device": device, "K": K, "N": N, "results": results}, indent=1)
    )
    ours, full, tfp = BUILDERS
    rows = [
        f"| {d} | {r[ours]['ms']:.2f} | {r[tfp]['ms']:.2f} | "
        f"**{r[tfp]['ms'] / r[ours]['ms']:.1f}** | "
        f"{r[ours]['compile_s']:.1f} / {r[tfp]['compile_s']:.1f} | "
        f"{r[ours]['finite']} / {r[tfp]['finite']} | {r[full]['ms']:.2f} |"
        for d, r in results.items()
    ]
    (RESULTS / "mixture.md").write_text(
        "\n".join(
            [
                f"# Mixture draw + gradient ({device}, {stamp})",
                "",
                "`python -m benchmarks.mixture`: K = 8 diagonal-Gaussian components, N = 1024 "
                "draws, gradient of their sum in the logits, locs and scales; jitted, float32, "
                "median of interleaved calls (at event size 128: TFP 3, full covariance 5). TFP: "
                "`MixtureSameFamily(reparameterize=True)`. Last column: ours with "
                "full-covariance `MultivariateNormal` components (no peer has their gradient).",
                "",
                "| event size | ml_networks_jax (ms) | TFP (ms) | × TFP | compile (s), ours / TFP "
                "| gradients finite, ours / TFP | full covariance (ms) |",
                "|---|---|---|---|---|---|---|",
                *rows,
                "",
            ]
        )
    )
    print((RESULTS / "mixture.md").read_text())


if __name__ == "__main__":
    main()
