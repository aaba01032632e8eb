"""Fit a Gamma and a LogNormal to data by stochastic gradient through their samples.

Each model draws a batch with ``mnj.rsample_implicit`` and is moved, by Adam, to minimize the
squared 1-D Wasserstein distance between its sorted draws and a sorted batch of data:

    W2²(model, data) ≈ mean_i (z_(i) - y_(i))²,   z = rsample_implicit(key, model, (B,)).

The gradient reaches the parameters only through the samples, via implicit reparameterization
``dz/dθ = -(∂F(z; θ)/∂θ) / q(z; θ)`` (for the Gamma shape, the derivative of the incomplete gamma
function). Run with ``make demo`` or ``python examples/fit_gamma.py [--steps N]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import trange

import ml_networks_jax as mnj

TRUTH = {
    "Gamma": {"concentration": 2.5, "rate": 1.5},
    "LogNormal": {"loc": 0.3, "scale": 0.6},
}
# Positive parameters are optimized through their logarithms.
START = {
    "Gamma": {"concentration": 1.0, "rate": 1.0},
    "LogNormal": {"loc": 0.0, "scale": 1.0},
}
LOG_PARAMS = {"concentration", "rate", "scale"}


def to_unconstrained(params: dict[str, float]) -> dict[str, jax.Array]:
    # float32 arrays, not weakly typed Python floats: the optimizer's updates are float32, so the
    # jitted step then sees the same types on every call and is traced once.
    arrays = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    return {k: jnp.log(v) if k in LOG_PARAMS else v for k, v in arrays.items()}


def to_constrained(raw: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: jnp.exp(v) if k in LOG_PARAMS else v for k, v in raw.items()}


def make_data(family: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = TRUTH[family]
    if family == "Gamma":
        return rng.gamma(p["concentration"], 1.0 / p["rate"], n).astype(np.float32)
    return rng.lognormal(p["loc"], p["scale"], n).astype(np.float32)


def make_step(family: str, data: jax.Array, batch: int, optimizer):
    """The jitted training step ``(raw, state, key) -> (raw, state, loss)``."""
    model = getattr(mnj, family)

    def loss(raw, key):
        key_model, key_data = jax.random.split(key)
        z = mnj.rsample_implicit(key_model, model(**to_constrained(raw)), (batch,))
        y = jax.random.choice(key_data, data, (batch,))
        return jnp.mean((jnp.sort(z) - jnp.sort(y)) ** 2)

    @jax.jit
    def step(raw, state, key):
        value, grads = jax.value_and_grad(loss)(raw, key)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(raw, updates), state, value

    return step


def fit(family: str, data: np.ndarray, steps: int, batch: int, seed: int) -> dict[str, float]:
    """Adam on W2² between sorted model draws and sorted data batches; returns the fit."""
    optimizer = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.02))
    step = make_step(family, jnp.asarray(data), batch, optimizer)
    raw = to_unconstrained(START[family])
    state = optimizer.init(raw)
    key = jax.random.key(seed)
    with trange(steps, desc=f"fit {family}", unit="step") as bar:
        for i in bar:
            raw, state, value = step(raw, state, jax.random.fold_in(key, i))
            if i % 100 == 0:
                bar.set_postfix(w2=f"{float(value):.4f}")
    return {k: float(v) for k, v in to_constrained(raw).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--n-data", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = []
    for family in TRUTH:
        data = make_data(family, args.n_data, args.seed)
        fitted = fit(family, data, args.steps, args.batch, args.seed)
        for name, true in TRUTH[family].items():
            rows.append((family, name, true, fitted[name]))

    print(f"\n{'family':<10} {'parameter':<14} {'truth':>8} {'fitted':>8} {'rel. error':>10}")
    for family, name, true, got in rows:
        print(f"{family:<10} {name:<14} {true:>8.3f} {got:>8.3f} {abs(got / true - 1):>10.2%}")


if __name__ == "__main__":
    main()
