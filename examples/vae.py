"""A variational autoencoder on 5,000 MNIST digits, with the latent family as a switch.

The encoder maps a binarized digit ``x`` to raw outputs that :func:`ml_networks_jax.head` reads as
the parameters of ``q(z | x)`` and samples from; the decoder maps ``z`` to Bernoulli pixel logits.
Training minimizes the negative evidence lower bound, one sample per image,

    -ELBO(x) = -log p(x | z) + KL(q(z | x) ‖ p(z)),   z ~ q(z | x),

whose gradient reaches the encoder through the sample: implicit reparameterization
``dz/dθ = -(∂F(z; θ)/∂θ) / q(z; θ)`` for the Gamma, Beta, Dirichlet and von Mises latents, and for
the Normal either ``z = μ + σ ε`` (explicit) or the same draw with its gradient through the normal
CDF (implicit; the same gradient up to the rounding of ``(z - μ)/σ`` against ``ε``). The KL is in
closed form against the prior of each family:
``Normal(0, 1)``, ``Gamma(1, 1)``, ``Beta(1, 1)``, the flat ``Dirichlet(1, …, 1)`` and the uniform
angle ``Uniform(-π, π)``. Evaluation adds the importance-weighted bound (Burda et al., 2016)

    log p(x) ≥ E[log (1/k) Σ_i p(x | z_i) p(z_i) / q(z_i | x)],   z_i ~ q(z | x),

which tightens towards ``log p(x)`` as ``k`` grows.

``make demo`` runs ``python examples/vae.py``: a Normal baseline against Gamma and Dirichlet
latents, a table of the bounds and the time per step, and a figure in ``examples/results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import mnist
import numpy as np
import optax
from tqdm import tqdm

import ml_networks_jax as mnj

LATENTS = ("normal", "gamma", "beta", "dirichlet", "von_mises")
RESULTS = Path(__file__).with_name("results")


@dataclasses.dataclass(frozen=True)
class VAE:
    """An MLP encoder and decoder (one hidden layer each) around a latent of ``dim`` values.

    ``implicit`` (Normal latent only) differentiates the Normal draw through its CDF instead of
    ``μ + σ ε``: the same draw, and the same gradient up to float rounding.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = VAE("gamma", dim=4, hidden=16)
        >>> params = model.init(jax.random.key(0))
        >>> model.neg_elbo(params, jnp.ones((3, 784)), jax.random.key(1)).shape
        (3,)
    """

    latent: str = "gamma"
    dim: int = 10
    hidden: int = 256
    implicit: bool = False

    def __post_init__(self):
        if self.latent not in LATENTS:
            raise ValueError(f"VAE: unknown latent {self.latent!r}; choose one of {LATENTS}.")
        if self.implicit and self.latent != "normal":
            raise ValueError("VAE: implicit=True chooses between the Normal's two gradients.")

    @property
    def name(self) -> str:
        if self.latent != "normal":
            return self.latent
        return "normal (implicit)" if self.implicit else "normal (explicit)"

    # ---- parameters ------------------------------------------------------------------------

    def init(self, key: jax.Array) -> dict:
        """Glorot-uniform weights, zero biases."""
        # Raw head outputs: two parameters per latent, one concentration per Dirichlet component.
        encoder_out = self.dim if self.latent == "dirichlet" else 2 * self.dim
        decoder_in = 2 * self.dim if self.latent == "von_mises" else self.dim  # cos z, sin z
        shapes = {
            "enc_hidden": (784, self.hidden),
            "enc_out": (self.hidden, encoder_out),
            "dec_hidden": (decoder_in, self.hidden),
            "dec_out": (self.hidden, 784),
        }
        glorot = jax.nn.initializers.glorot_uniform()
        keys = jax.random.split(key, len(shapes))
        return {
            name: {"w": glorot(k, shape), "b": jnp.zeros(shape[1])}
            for k, (name, shape) in zip(keys, shapes.items(), strict=True)
        }

    # ---- the model -------------------------------------------------------------------------

    def encode(self, params: dict, x: jax.Array) -> jax.Array:
        """The raw outputs that ``mnj.head`` reads as the parameters of ``q(z | x)``."""
        return _dense(params["enc_out"], jax.nn.relu(_dense(params["enc_hidden"], x)))

    def posterior(self, params: dict, x: jax.Array, key: jax.Array) -> mnj.StochState:
        """``q(z | x)`` and one draw from it, as the state the head returns."""
        return self.sample(self.encode(params, x), key)

    def sample(self, raw: jax.Array, key: jax.Array) -> mnj.StochState:
        """The head: the state of ``q(z | x)`` with one draw, from the encoder's ``raw`` outputs."""
        state = mnj.head(raw, key, self.latent)
        if self.implicit:  # the same draw, differentiated through Φ instead of μ + σ ε
            z = mnj.rsample_implicit(key, mnj.Normal(state.mean, state.std))
            state = mnj.NormalStoch(state.mean, state.std, z)
        return state

    def prior(self) -> mnj.Distribution:
        """``p(z)``: one event of ``dim`` values."""
        ones, zeros = jnp.ones(self.dim), jnp.zeros(self.dim)
        base = {
            "normal": lambda: mnj.Normal(zeros, ones),
            "gamma": lambda: mnj.Gamma(ones, ones),
            "beta": lambda: mnj.Beta(ones, ones),
            "dirichlet": lambda: mnj.Dirichlet(ones[None]),  # one group of `dim` components
            "von_mises": lambda: mnj.Uniform(zeros - jnp.pi, zeros + jnp.pi),  # any angle
        }[self.latent]()
        return mnj.Independent(base, 1)

    def features(self, z: jax.Array) -> jax.Array:
        """The latent on the unbounded or centred scale the decoder reads: ``log z`` (Gamma),
        ``logit z`` (Beta), ``dim · z`` (Dirichlet: mean 1 per component), ``(cos z, sin z)``
        (von Mises: the point on the circle), ``z`` (Normal).

        Fed raw, the bounded latents trained to a worse bound (measured at 50 epochs: Beta, dim
        10, test −ELBO 135.0 raw against 120.0 as logits; Dirichlet, dim 20, 173.9 against 113.9;
        Gamma, dim 10, 124.4 against 117.8)."""
        if self.latent == "gamma":
            return jnp.log(z)
        if self.latent == "beta":
            return jnp.log(z) - jnp.log1p(-z)
        if self.latent == "dirichlet":
            return self.dim * z
        if self.latent == "von_mises":
            return jnp.concatenate([jnp.cos(z), jnp.sin(z)], axis=-1)
        return z

    def decode(self, params: dict, z: jax.Array) -> jax.Array:
        """Bernoulli logits of the 784 pixels, from :meth:`features` of ``z``."""
        h = jax.nn.relu(_dense(params["dec_hidden"], self.features(z)))
        return _dense(params["dec_out"], h)

    def log_likelihood(self, params: dict, x: jax.Array, z: jax.Array) -> jax.Array:
        """``log p(x | z)``, summed over the pixels."""
        logits = self.decode(params, z)
        return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)

    def neg_elbo(self, params: dict, x: jax.Array, key: jax.Array) -> jax.Array:
        """Single-sample ``-log p(x | z) + KL(q(z | x) ‖ p(z))``, ``z ~ q(z | x)``, per image, in
        nats (the KL in closed form)."""
        state = self.posterior(params, x, key)
        return mnj.kl_divergence(state, self.prior()) - self.log_likelihood(params, x, state.stoch)

    def loss(self, params: dict, x: jax.Array, key: jax.Array) -> jax.Array:
        """The mean of :meth:`neg_elbo` over the batch: what training minimizes."""
        return jnp.mean(self.neg_elbo(params, x, key))

    def iwae_bound(self, params: dict, x: jax.Array, key: jax.Array, k: int) -> jax.Array:
        """The ``k``-sample importance-weighted lower bound on ``log p(x)`` per image,

            log (1/k) Σ_i w_i,   log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x),

        ``z_i ~ q(z | x)`` (the encoder runs once, the head ``k`` times). Its mean is the ELBO at
        ``k = 1`` and rises towards ``log p(x)`` with ``k``."""
        raw, prior = self.encode(params, x), self.prior()

        def log_weight(key):
            state = self.sample(raw, key)
            z = state.stoch  # (B, dim); the prior's event may be (1, dim) (one Dirichlet group)
            log_prior = prior.log_prob(z.reshape(z.shape[:-1] + prior.event_shape))
            return self.log_likelihood(params, x, z) + log_prior - state.log_prob(z)

        log_w = jax.lax.map(log_weight, jax.random.split(key, k), batch_size=min(k, 10))
        return jax.nn.logsumexp(log_w, axis=0) - jnp.log(k)


def _dense(layer: dict, x: jax.Array) -> jax.Array:
    return x @ layer["w"] + layer["b"]


# ---- training and evaluation ---------------------------------------------------------------


def make_epoch(model: VAE, optimizer: optax.GradientTransformation, batch: int):
    """A jitted epoch ``(params, opt_state, data, key) -> (params, opt_state, losses)``: the data
    shuffled, then one Adam step per full batch, scanned."""

    def step(carry, xs):
        params, opt_state = carry
        x, key = xs
        loss, grads = jax.value_and_grad(model.loss)(params, x, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def epoch(params, opt_state, data, key):
        shuffle_key, step_key = jax.random.split(key)
        steps = data.shape[0] // batch
        order = jax.random.permutation(shuffle_key, data.shape[0])[: steps * batch]
        batches = data[order].reshape(steps, batch, -1)
        keys = jax.random.split(step_key, steps)
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (batches, keys))
        return params, opt_state, losses

    return epoch


def train(
    model: VAE,
    data: np.ndarray,
    *,
    epochs: int = 50,
    batch: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict, dict]:
    """Adam on the mean negative ELBO. Returns the parameters and a record: the mean loss of each
    epoch and the time per step (the epochs after the first, which includes the compilation)."""
    init_key, key = jax.random.split(jax.random.key(seed))
    params = model.init(init_key)
    optimizer = optax.adam(lr)
    opt_state = optimizer.init(params)
    epoch = make_epoch(model, optimizer, batch)
    data = jnp.asarray(data)
    losses, times = [], []
    bar = tqdm(range(epochs), desc=model.name, disable=not progress, leave=False)
    for i in bar:
        start = time.perf_counter()
        params, opt_state, batch_losses = epoch(params, opt_state, data, jax.random.fold_in(key, i))
        losses.append(float(batch_losses.mean()))  # waits for the epoch
        times.append(time.perf_counter() - start)
        bar.set_postfix(neg_elbo=f"{losses[-1]:.1f}")
    steps = data.shape[0] // batch
    per_step = np.median(times[1:]) / steps if epochs > 1 else times[0] / steps
    return params, {"loss": losses, "seconds_per_step": float(per_step), "first_epoch": times[0]}


def evaluate(model: VAE, params: dict, data: np.ndarray, *, k: int = 100, seed: int = 1) -> dict:
    """Means over ``data``: the single-sample negative ELBO and the negative ``k``-sample IWAE
    bound, both upper bounds on ``-log p(x)`` in nats (lower is better), and ``k``."""
    elbo_key, iwae_key = jax.random.split(jax.random.key(seed))
    x = jnp.asarray(data)
    neg_elbo = jax.jit(model.neg_elbo)(params, x, elbo_key)
    iwae = jax.jit(model.iwae_bound, static_argnums=3)(params, x, iwae_key, k)
    return {"neg_elbo": float(neg_elbo.mean()), "neg_iwae": float(-iwae.mean()), "k": k}


def run(
    latents: list[str],
    *,
    dim: int = 10,
    epochs: int = 50,
    seed: int = 0,
    k: int = 100,
    progress: bool = True,
) -> list[dict]:
    """Train and evaluate one VAE per latent (``"normal_implicit"`` names the Normal with implicit
    gradients); each row holds the model, its parameters and its figures."""
    (train_x, _), (test_x, _) = mnist.split()
    rows = []
    for latent in latents:
        implicit = latent == "normal_implicit"
        model = VAE("normal" if implicit else latent, dim=dim, implicit=implicit)
        params, record = train(model, train_x, epochs=epochs, seed=seed, progress=progress)
        rows.append(
            {"model": model, "params": params, **record, **evaluate(model, params, test_x, k=k)}
        )
    return rows


def table(rows: list[dict], dim: int, epochs: int) -> str:
    """The results as a Markdown table."""
    k = rows[0]["k"]
    lines = [
        f"| latent (dim {dim}, {epochs} epochs) | test −ELBO (nats) | test −IWAE, k = {k} "
        "| ms / step | first epoch (s, with compilation) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model'].name} | {r['neg_elbo']:.2f} | {r['neg_iwae']:.2f} "
            f"| {1e3 * r['seconds_per_step']:.2f} | {r['first_epoch']:.1f} |"
        )
    return "\n".join(lines)


def figure(rows: list[dict], seed: int = 2):
    """Per latent: test digits over their reconstructions, decoded prior samples, and the test
    posterior means projected on their two principal axes, coloured by digit."""
    import matplotlib.pyplot as plt

    _, (test_x, test_y) = mnist.split()
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 2.6 * len(rows)), squeeze=False)
    for (ax_rec, ax_gen, ax_lat), r in zip(axes, rows, strict=True):
        model, params = r["model"], r["params"]
        key_rec, key_gen = jax.random.split(jax.random.key(seed))
        state = model.posterior(params, jnp.asarray(test_x), key_rec)
        recon = jax.nn.sigmoid(model.decode(params, state.stoch[:10]))
        z = model.prior().sample(key_gen, (20,)).reshape(20, -1)
        generated = jax.nn.sigmoid(model.decode(params, z))
        ax_rec.imshow(_mosaic(np.concatenate([test_x[:10], recon]), 10), cmap="gray_r")
        ax_rec.set_title(f"{model.name}: test digits / reconstructions", fontsize=9)
        ax_gen.imshow(_mosaic(generated, 10), cmap="gray_r")
        ax_gen.set_title("decoded draws of the prior", fontsize=9)
        means = state.get_distribution().mean().reshape(len(test_x), -1)
        features = model.features(means)  # on the decoder's scale
        ax_lat.scatter(*_principal_axes(np.asarray(features)).T, c=test_y, cmap="tab10", s=3)
        ax_lat.set_title("test posterior means (decoder's scale), two principal axes", fontsize=9)
        for ax in (ax_rec, ax_gen, ax_lat):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def _mosaic(images: np.ndarray, per_row: int) -> np.ndarray:
    rows = np.asarray(images).reshape(-1, per_row, mnist.SIDE, mnist.SIDE)
    return np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)


def _principal_axes(features: np.ndarray) -> np.ndarray:
    centred = features - features.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--latent",
        nargs="+",
        default=["normal", "gamma", "dirichlet"],
        choices=[*LATENTS, "normal_implicit"],
        help="latent families to train, one VAE each (default: normal gamma dirichlet)",
    )
    parser.add_argument("--dim", type=int, default=10, help="latent size (default 10)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=100, help="IWAE samples (default 100)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)

    rows = run(args.latent, dim=args.dim, epochs=args.epochs, seed=args.seed, k=args.k)
    text = table(rows, args.dim, args.epochs)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vae_mnist.md").write_text(text + "\n")
    import matplotlib

    matplotlib.use("Agg")
    figure(rows).savefig(args.out / "vae_mnist.png", dpi=90)
    print(f"wrote {args.out / 'vae_mnist.md'} and {args.out / 'vae_mnist.png'}")


if __name__ == "__main__":
    main()
