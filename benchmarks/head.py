"""The head + balanced-KL step of a world model: ml_networks_jax against the same computation
written with distrax, in one run on the same inputs.

What DreamerV2/V3 runs every training step: raw outputs ``x_post``, ``x_prior`` ``(B, F)`` become
a posterior state (a straight-through sample) and a prior; the loss is the balanced KL (weight
0.8, mean over the batch) plus ``mean(stoch @ w)``, a stand-in for what consumes the sample (``w``
a vector, so that the distribution work is what is timed, not a matmul); ``jax.value_and_grad`` in
``(x_post, x_prior, w)``, jitted, float32. Latents: 32 categorical groups of 32 classes (F = 1024,
DreamerV2) and a diagonal normal with D = 32 (F = 64, std = softplus + 1e-6); B = 1024 (16 × 64,
batch × time) and 16,384.

* ml_networks_jax: ``mnj.head`` for both states, ``mnj.kl_balancing(post, prior, 0.8)``.
* distrax, written the usual way: ``Independent(straight_through_wrapper(OneHotCategorical)
  (logits), 1)`` (``Independent(Normal(mean, std), 1)``), ``sample(seed=key)``, and
  ``0.8 KL(sg(post) ‖ prior) + 0.2 KL(post ‖ sg(prior))`` by ``Distribution.kl_divergence``, the
  stopped sides rebuilt from ``jax.lax.stop_gradient`` of their parameters.

Before timing, both are evaluated at the same inputs and key and must agree: the KL terms, the
sample term and the total loss to 1e-5 (relative), the gradients to 1e-4 (relative to their
largest entry). Both libraries draw from the same key with the same Gumbel-max / normal noise, so
the full loss is compared; if the draws ever differ the sample term is left out of the check, and
the report says which. Median of interleaved calls after a warm-up, compile time best of three
fresh traces, jaxpr equations and optimized-HLO instructions of each step (``--quick``: 5
rounds, one trace).

    python -m benchmarks.head            # writes results/head.{md,json}
    python -m benchmarks.head --quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from benchmarks.report import run_info, save_report
from benchmarks.timing import BUDGET_S, MIN_CALLS, _interleaved

WEIGHT = 0.8
GROUPS, CLASSES, NORMAL_D = 32, 32, 32
LATENTS = {  # name: (features F, stoch size)
    "categorical": (GROUPS * CLASSES, GROUPS * CLASSES),
    "normal": (2 * NORMAL_D, NORMAL_D),
}
BATCHES = (1024, 16_384)
LIBS = ("ml_networks_jax", "distrax")
REPEATS, COMPILES = 20, 3
RTOL_LOSS, RTOL_GRAD = 1e-5, 1e-4


def _ours(latent: str):
    """``(x_post, x_prior, w, key) -> (kl, sample_term)`` with ml_networks_jax."""
    import jax.numpy as jnp

    import ml_networks_jax as mnj

    opts = {"n_groups": GROUPS} if latent == "categorical" else {}

    def parts(x_post, x_prior, w, key):
        post = mnj.head(x_post, key, latent, **opts)
        prior = mnj.head(x_prior, None, latent, deterministic=True, **opts)  # no draw needed
        return jnp.mean(mnj.kl_balancing(post, prior, WEIGHT)), jnp.mean(post.stoch @ w)

    return parts


def _distrax(latent: str):
    """The same with distrax, as a world model would write it."""
    import distrax
    import jax
    import jax.numpy as jnp

    sg = jax.lax.stop_gradient
    if latent == "categorical":
        straight_through = distrax.straight_through_wrapper(distrax.OneHotCategorical)

        def dist(x):
            logits = x.reshape(x.shape[:-1] + (GROUPS, CLASSES))
            return distrax.Independent(straight_through(logits=logits), 1)
    else:

        def dist(x):
            mean, raw = jnp.split(x, 2, axis=-1)
            return distrax.Independent(distrax.Normal(mean, jax.nn.softplus(raw) + 1e-6), 1)

    def parts(x_post, x_prior, w, key):
        post, prior = dist(x_post), dist(x_prior)
        stoch = post.sample(seed=key).reshape(x_post.shape[0], -1)
        kl = WEIGHT * dist(sg(x_post)).kl_divergence(prior) + (1 - WEIGHT) * post.kl_divergence(
            dist(sg(x_prior))
        )
        return jnp.mean(kl), jnp.mean(stoch @ w)

    return parts


BUILDERS = {"ml_networks_jax": _ours, "distrax": _distrax}


def _step(parts):
    import jax

    return jax.value_and_grad(lambda *a: sum(parts(*a)), argnums=(0, 1, 2))


def _inputs(latent: str, batch: int):
    import jax.numpy as jnp

    features, stoch = LATENTS[latent]
    rng = np.random.default_rng(batch + features)
    return (
        jnp.asarray(rng.normal(size=(batch, features)), jnp.float32),
        jnp.asarray(rng.normal(size=(batch, features)), jnp.float32),
        jnp.asarray(rng.normal(size=stoch) / np.sqrt(stoch), jnp.float32),
    )


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _check(latent: str, args) -> dict:
    """Both libraries at the same inputs and key: KL, sample term, loss and gradients."""
    import jax

    key = jax.random.key(12345)
    parts = {lib: jax.jit(BUILDERS[lib](latent))(*args, key) for lib in LIBS}
    steps = {lib: jax.jit(_step(BUILDERS[lib](latent)))(*args, key) for lib in LIBS}
    (kl_o, st_o), (kl_d, st_d) = (tuple(map(float, parts[lib])) for lib in LIBS)
    same_draws = _rel(st_o, st_d) <= RTOL_LOSS
    (loss_o, g_o), (loss_d, g_d) = steps["ml_networks_jax"], steps["distrax"]
    out = {
        "kl": {"ml_networks_jax": kl_o, "distrax": kl_d, "rel_diff": _rel(kl_o, kl_d)},
        "sample_term": {"ml_networks_jax": st_o, "distrax": st_d, "rel_diff": _rel(st_o, st_d)},
        "compared": "full loss (same draws)" if same_draws else "KL terms only (draws differ)",
        "loss_rel_diff": _rel(loss_o, loss_d) if same_draws else None,
        # with different draws the straight-through/pathwise part of the gradient differs too
        "grad_rel_diff": [_rel(a, b) for a, b in zip(g_o, g_d, strict=True)]
        if same_draws
        else None,
        "grads_finite": all(bool(np.isfinite(np.asarray(g)).all()) for g in (*g_o, *g_d)),
    }
    assert out["kl"]["rel_diff"] <= RTOL_LOSS, f"{latent}: KL terms differ: {out['kl']}"
    if same_draws:
        assert out["loss_rel_diff"] <= RTOL_LOSS, f"{latent}: losses differ: {out}"
        assert max(out["grad_rel_diff"]) <= RTOL_GRAD, f"{latent}: gradients differ: {out}"
    return out


def _op_counts(step, args, compiled) -> dict:
    import jax

    jaxpr = jax.make_jaxpr(step)(*args, jax.random.key(0))
    hlo = compiled.as_text()
    return {
        "jaxpr_eqns": len(jaxpr.eqns) + sum(_inner_eqns(e) for e in jaxpr.eqns),
        "hlo_instructions": sum(" = " in line for line in hlo.splitlines()),
    }


def _inner_eqns(eqn) -> int:
    """Equations inside the sub-jaxprs of ``eqn`` (pjit, custom_jvp, ...), recursively."""
    n = 0
    for p in eqn.params.values():
        inner = getattr(p, "jaxpr", None)
        inner = getattr(inner, "jaxpr", inner)  # ClosedJaxpr -> Jaxpr
        if inner is not None and hasattr(inner, "eqns"):
            n += len(inner.eqns) + sum(_inner_eqns(e) for e in inner.eqns)
    return n


def _measure(latent: str, batch: int, repeats: int, compiles: int) -> dict:
    """Compile each library's step (best of fresh traces), then time them in interleaved rounds."""
    import jax

    args = _inputs(latent, batch)
    check = _check(latent, args) if batch == BATCHES[0] else None
    out = {lib: {"compile_s": np.inf} for lib in LIBS}
    compiled = {}
    for _ in tqdm(range(compiles), desc=f"{latent}, B={batch}: compile", leave=False):
        for lib in LIBS:
            fresh = jax.jit(_step(BUILDERS[lib](latent)))  # new trace and compile
            t0 = time.perf_counter()
            compiled[lib] = fresh.lower(*args, jax.random.key(0)).compile()
            out[lib]["compile_s"] = min(out[lib]["compile_s"], time.perf_counter() - t0)
    keys = [jax.random.key(s) for s in range(repeats + 1)]
    calls = {
        lib: lambda s, c=compiled[lib]: jax.block_until_ready(c(*args, keys[s])) for lib in LIBS
    }
    for lib, call in calls.items():
        call(repeats)  # warm-up
        out[lib] |= _op_counts(_step(BUILDERS[lib](latent)), args, compiled[lib])
    seconds = _interleaved(calls, repeats, f"{latent}, B={batch}: speed", BUDGET_S, MIN_CALLS)
    for lib, s in seconds.items():
        out[lib] |= {"ms": 1e3 * s, "steps_per_s": 1.0 / s}
    ratio = seconds["distrax"] / seconds["ml_networks_jax"]
    return {"speed": out, "ratio": ratio, "check": check}


def _rate(steps_per_s: float) -> str:
    return f"{steps_per_s:,.0f}" if steps_per_s >= 100 else f"{steps_per_s:.3g}"


def _check_line(latent: str, c: dict) -> str:
    loss = "—" if c["loss_rel_diff"] is None else f"{c['loss_rel_diff']:.1e}"
    grads = "—" if c["grad_rel_diff"] is None else ", ".join(f"{g:.1e}" for g in c["grad_rel_diff"])
    return (
        f"- {latent}: {c['compared']} compared; KL {c['kl']['ml_networks_jax']:.6g} (rel. diff "
        f"{c['kl']['rel_diff']:.1e}), sample term rel. diff {c['sample_term']['rel_diff']:.1e}, "
        f"loss rel. diff {loss}, gradients in (x_post, x_prior, w) rel. diff {grads}; all "
        f"gradients finite: {c['grads_finite']}."
    )


def report(res: dict) -> str:
    ours, peer = LIBS
    rows = []
    for key, r in res["results"].items():
        s = r["speed"]
        rows.append(
            f"| {key} | {s[ours]['ms']:.2f} | {s[peer]['ms']:.2f} | "
            f"{_rate(s[ours]['steps_per_s'])} | {_rate(s[peer]['steps_per_s'])} | "
            f"**{r['ratio']:.2f}** | {s[ours]['compile_s']:.2f} / {s[peer]['compile_s']:.2f} | "
            f"{s[ours]['jaxpr_eqns']} / {s[peer]['jaxpr_eqns']} | "
            f"{s[ours]['hlo_instructions']} / {s[peer]['hlo_instructions']} |"
        )
    checks = [_check_line(latent, c) for latent, c in res["checks"].items()]
    return "\n".join(
        [
            f"# Head + balanced KL step ({res['machine']}, {res['date']})",
            "",
            f"`{res['command']}`: raw outputs `x_post`, `x_prior` (B × F) → posterior state "
            "(straight-through / reparameterized sample) and prior → balanced KL (weight 0.8, "
            "mean over the batch) + `mean(stoch @ w)`; `jax.value_and_grad` in "
            "`(x_post, x_prior, w)`, jitted, float32. ml_networks_jax: `mnj.head` + "
            "`mnj.kl_balancing`; distrax: `Independent(straight_through_wrapper("
            "OneHotCategorical)(logits), 1)` / `Independent(Normal(mean, softplus + 1e-6), 1)`, "
            "`sample(seed=key)`, `kl_divergence`, the stopped sides rebuilt from "
            "`jax.lax.stop_gradient` of the raw outputs. Median of "
            f"{res['repeats']} interleaved calls after a warm-up (a library whose calls have "
            f"taken over {res['budget_s']:g} s in all stops after {res['min_calls']}); "
            f"compile time best of {res['compiles']} fresh traces (tracing, lowering, XLA). "
            "× distrax: distrax's time over ours (> 1: ml_networks_jax is faster). Op counts: "
            "jaxpr equations (with sub-jaxprs) and instructions of the optimized HLO module.",
            "",
            "| latent, batch | ml_networks_jax (ms) | distrax (ms) | ours steps/s | "
            "distrax steps/s | × distrax | compile (s), ours / distrax | jaxpr eqns, ours / "
            "distrax | HLO instructions, ours / distrax |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Same computation, checked before timing (B = 1024, same inputs and key; tolerance "
            f"{RTOL_LOSS:g} relative on the loss terms, {RTOL_GRAD:g} on the gradients):",
            "",
            *checks,
            "",
        ]
    )


def main(quick: bool = False, command: str | None = None) -> None:

    repeats, compiles = (5, 1) if quick else (REPEATS, COMPILES)
    results, checks = {}, {}
    cases = [(latent, b) for latent in LATENTS for b in BATCHES]
    for latent, batch in tqdm(cases, desc="head: cases"):
        r = _measure(latent, batch, repeats, compiles)
        if r["check"] is not None:
            checks[latent] = r["check"]
        name = (
            f"{GROUPS}×{CLASSES} categorical" if latent == "categorical" else f"normal D={NORMAL_D}"
        )
        results[f"{name}, B={batch:,}"] = {"speed": r["speed"], "ratio": r["ratio"]}
    res = {
        **run_info(command or "python -m benchmarks.head" + " --quick" * quick),
        "repeats": repeats,
        "compiles": compiles,
        "budget_s": BUDGET_S,
        "min_calls": MIN_CALLS,
        "weight": WEIGHT,
        "results": results,
        "checks": checks,
    }
    save_report("head", res, report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds, one compile")
    parser.add_argument("--command", help=argparse.SUPPRESS)  # as recorded by benchmarks.run
    args = parser.parse_args()
    main(args.quick, args.command)
