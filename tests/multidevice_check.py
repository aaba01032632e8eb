"""The head, a KL loss and a Monte Carlo gradient on 4 simulated CPU devices.

Run by ``tests/test_multidevice.py`` in a subprocess (the device count is fixed when JAX starts),
or directly: ``python tests/multidevice_check.py``. Each check compares the multi-device result
with the same computation on one device (``vmap`` over the shards, same keys), prints the largest
error, and the script exits with status 1 if any check fails:

1. ``pmap``: value and gradient of a balanced-KL + reconstruction loss on a categorical and a
   normal head, ``pmean`` over the devices; states as outputs of ``pmap``.
2. ``shard_map`` over a ``Mesh``, keys placed with ``NamedSharding``: a Monte Carlo estimate of
   ``d/dα E[z²] = 2α + 1`` for ``z ~ Gamma(α, 1)`` (implicit reparameterization).
3. ``jit`` with ``in_shardings``/``out_shardings``: the head and the loss on a batch sharded over
   the devices.

Compilation dominates the run time, so the checks share compiled functions where they can and
draw their data with NumPy.
"""

from __future__ import annotations

import os
import sys
import time

N_DEVICES = 4
_FLAG = f"--xla_force_host_platform_device_count={N_DEVICES}"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
os.environ["JAX_PLATFORMS"] = "cpu"  # simulated devices are host (CPU) devices

import jax  # noqa: E402  (after XLA_FLAGS)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import ml_networks_jax as mnj  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

X64 = jax.config.jax_enable_x64
DTYPE = np.float64 if X64 else np.float32
#: Relative tolerance between the multi-device and the one-device result: the same keys and
#: arithmetic, up to the order of the reductions.
RTOL = 1e-12 if X64 else 1e-6

B, D_IN, G, K, D_NORMAL = 16, 8, 4, 8, 6
SHARD = B // N_DEVICES
N_PER_SHARD = 8192
ALPHA = 2.0
#: ``dist`` → (raw features the head reads, latent size of ``stoch``, ``n_groups``).
FAMILIES = {"categorical": (G * K, G * K, G), "normal": (2 * D_NORMAL, D_NORMAL, 1)}

RNG = np.random.default_rng(0)
FAILURES: list[str] = []


def normal(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(DTYPE)


def compare(name: str, got, want, rtol: float = RTOL) -> None:
    """Print the largest error between two pytrees (relative to the largest ``|want|``); record a
    failure above ``rtol``."""
    if jax.tree.structure(got) != jax.tree.structure(want):
        FAILURES.append(f"{name}: pytree structures differ")
        print(f"FAIL {name}: structures {jax.tree.structure(got)} vs {jax.tree.structure(want)}")
        return
    err, scale = 0.0, 0.0
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            FAILURES.append(f"{name}: shapes {g.shape} vs {w.shape}")
            print(f"FAIL {name}: shapes {g.shape} vs {w.shape}")
            return
        err = max(err, float(np.max(np.abs(g - w), initial=0.0)))
        scale = max(scale, float(np.max(np.abs(w), initial=0.0)))
    rel = err / scale if scale > 0 else err
    ok = bool(np.isfinite(rel)) and rel <= rtol
    print(
        f"{'ok  ' if ok else 'FAIL'} {name}: max abs err {err:.3e}, rel {rel:.3e} (tol {rtol:.0e})"
    )
    if not ok:
        FAILURES.append(f"{name}: relative error {rel:.3e} > {rtol:.0e}")


def require(name: str, condition: bool, detail: str) -> None:
    print(f"{'ok  ' if condition else 'FAIL'} {name}: {detail}")
    if not condition:
        FAILURES.append(f"{name}: {detail}")


# ---- the model: a posterior and a prior head per family, a linear decoder --------------------


def init_params() -> dict:
    params = {}
    for dist, (features, latent, _) in FAMILIES.items():
        params[dist] = {
            "post": normal(D_IN, features) / DTYPE(np.sqrt(D_IN)),
            "prior": normal(D_IN, features) / DTYPE(np.sqrt(D_IN)),
            "dec": normal(latent, D_IN) / DTYPE(np.sqrt(latent)),
        }
    return params


def heads(p: dict, x, key, dist: str):
    k_post, k_prior = jax.random.split(key)
    n_groups = FAMILIES[dist][2]
    post = mnj.head(x @ p["post"], k_post, dist, n_groups=n_groups)
    prior = mnj.head(x @ p["prior"], k_prior, dist, n_groups=n_groups)
    return post, prior


def family_loss(p: dict, x, key, dist: str):
    """Balanced KL plus a reconstruction through ``post.stoch`` (straight-through for the
    categorical head), averaged over the batch shard."""
    post, prior = heads(p, x, key, dist)
    recon = jnp.sum((post.stoch @ p["dec"] - x) ** 2, axis=-1)
    return jnp.mean(mnj.kl_balancing(post, prior) + recon)


def loss(params: dict, x, key):
    keys = jax.random.split(key, len(FAMILIES))
    return sum(family_loss(params[d], x, k, d) for d, k in zip(FAMILIES, keys, strict=True))


def recon_only(params: dict, x, key):
    """The reconstruction terms alone: their gradient reaches ``post`` only through ``stoch``."""
    keys = jax.random.split(key, len(FAMILIES))
    total = 0.0
    for dist, k in zip(FAMILIES, keys, strict=True):
        post, _ = heads(params[dist], x, k, dist)
        total = total + jnp.mean((post.stoch @ params[dist]["dec"]) ** 2)
    return total


# ---- 1. pmap --------------------------------------------------------------------------------


def check_pmap(key) -> None:
    params = init_params()
    xs = normal(N_DEVICES, SHARD, D_IN)
    keys = jax.random.split(key, N_DEVICES)

    def step(params, x, key):
        value, grad = jax.value_and_grad(loss)(params, x, key)
        return jax.lax.pmean(value, "d"), jax.lax.pmean(grad, "d")

    value, grad = jax.device_get(
        jax.pmap(step, axis_name="d", in_axes=(None, 0, 0))(params, xs, keys)
    )

    @jax.jit
    def one_device(params, xs, keys):
        values, grads = jax.vmap(jax.value_and_grad(loss), in_axes=(None, 0, 0))(params, xs, keys)
        mean = jax.tree.map(lambda a: jnp.mean(a, axis=0), (values, grads))
        return mean, jax.grad(recon_only)(params, xs[0], keys[0])

    (want_value, want_grad), recon_grad = jax.device_get(one_device(params, xs, keys))
    # pmean leaves one copy per device, each the mean over the shards.
    compare("pmap: loss (pmean) on every device", value, np.broadcast_to(want_value, value.shape))
    for dist in FAMILIES:
        for i in range(N_DEVICES):
            got = jax.tree.map(lambda a, i=i: a[i], grad[dist])
            compare(f"pmap: {dist} gradient (pmean) on device {i}", got, want_grad[dist])
        g = recon_grad[dist]["post"]
        require(
            f"pmap: {dist} reconstruction gradient reaches the head through post.stoch",
            bool(np.all(np.isfinite(g)) and np.any(g != 0)),
            f"max |d recon / d W_post| = {float(np.max(np.abs(g))):.3e}",
        )

    # States as outputs of pmap: the device axis in front of the batch axis.
    raw = normal(N_DEVICES, SHARD, G * K)

    def draw(x, key):  # the Gamma head's mode keeps compilation short (its draws: check 2)
        gamma = mnj.head(x[..., : 2 * D_NORMAL], None, "gamma", deterministic=True)
        return mnj.head(x, key, "categorical", n_groups=G), gamma

    states = jax.pmap(draw)(raw, keys)
    wants = jax.jit(jax.vmap(draw))(raw, keys)
    for state, want in zip(states, wants, strict=True):
        name = type(want).__name__
        require(
            f"pmap: {name} out of pmap",
            type(state) is type(want)
            and state.shape == want.shape
            and state.stoch.shape[:2] == (N_DEVICES, SHARD),
            f"{type(state).__name__} {state.shape}",
        )
        compare(f"pmap: {name} out of pmap vs vmap", state, want)


# ---- 2. shard_map over a mesh ---------------------------------------------------------------


def _shard_map(f, mesh, in_specs, out_specs):
    if hasattr(jax, "shard_map"):
        return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs)
    from jax.experimental.shard_map import shard_map  # jax < 0.7

    return shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs)


def shard_mean_sq(alpha, key):
    """One shard's Monte Carlo estimate of E[z²], z ~ Gamma(α, 1), implicitly reparameterized."""
    return jnp.mean(mnj.rsample_implicit(key, mnj.Gamma(alpha, 1.0), (N_PER_SHARD,)) ** 2)


def check_shard_map(key) -> None:
    mesh = Mesh(np.array(jax.devices()), ("d",))
    alpha = jnp.asarray(ALPHA, DTYPE)
    keys = jax.random.split(key, N_DEVICES)
    sharded_keys = jax.device_put(keys, NamedSharding(mesh, P("d")))
    require(
        "shard_map: keys sharded over the mesh",
        {s.data.shape for s in sharded_keys.addressable_shards} == {(1,)}
        and len(sharded_keys.addressable_shards) == N_DEVICES,
        f"{len(sharded_keys.addressable_shards)} shards of shape (1,)",
    )

    def per_device(alpha, keys):  # keys: this device's shard, shape (1,)
        # The gradient of the mean over the shards. Under shard_map's replication checking (the
        # default), the gradient with respect to a replicated input such as alpha is summed over
        # the devices, so ``pmean(grad(shard mean))`` would be 4 times the estimate.
        return jax.grad(lambda a: jax.lax.pmean(shard_mean_sq(a, keys[0]), "d"))(alpha)

    sharded = jax.jit(_shard_map(per_device, mesh, in_specs=(P(), P("d")), out_specs=P()))
    got = sharded(alpha, sharded_keys)
    require(
        "shard_map: estimate replicated on every device",
        len(got.addressable_shards) == N_DEVICES and got.sharding.is_fully_replicated,
        str(got.sharding),
    )

    # One device, the same keys: the shards' gradients, and the per-draw derivatives 2 z dz/dα
    # (forward mode) for the Monte Carlo standard error, in one jit.
    def per_shard(alpha, key):
        sample = lambda a: mnj.rsample_implicit(key, mnj.Gamma(a, 1.0), (N_PER_SHARD,))  # noqa: E731
        draws = jax.jvp(lambda a: sample(a) ** 2, (alpha,), (jnp.ones_like(alpha),))[1]
        return jax.grad(shard_mean_sq)(alpha, key), draws

    shard_grads, draws = jax.jit(jax.vmap(per_shard, in_axes=(None, 0)))(alpha, keys)
    want = np.mean(np.asarray(shard_grads, np.float64))
    compare("shard_map: MC gradient of E[z^2] vs one device (same keys)", got, want)
    draws = np.asarray(draws, np.float64).ravel()
    compare("shard_map: per-draw derivatives (forward mode) average to it", draws.mean(), want)
    exact = 2.0 * ALPHA + 1.0
    se = draws.std(ddof=1) / np.sqrt(draws.size)
    require(
        "shard_map: MC gradient vs exact 2 alpha + 1",
        abs(float(got) - exact) <= 4.0 * se,
        f"{float(got):.5f} vs {exact} (|err| {abs(float(got) - exact):.2e}, "
        f"4 SE = {4 * se:.2e}, N = {draws.size})",
    )


# ---- 3. jit with shardings ------------------------------------------------------------------


def check_jit_sharded(key) -> None:
    mesh = Mesh(np.array(jax.devices()), ("d",))
    batch, replicated = NamedSharding(mesh, P("d")), NamedSharding(mesh, P())
    params, raw, x = init_params(), normal(B, G * K), normal(B, D_IN)

    def f(params, raw, x, key):
        k1, k2 = jax.random.split(key)
        state = mnj.head(raw, k1, "categorical", n_groups=G)
        return state, jax.value_and_grad(loss)(params, x, k2)

    sharded = jax.jit(
        f,
        in_shardings=(replicated, batch, batch, replicated),
        out_shardings=(batch, replicated),  # the state's fields along the batch
    )
    state, value_grad = sharded(params, jax.device_put(raw, batch), jax.device_put(x, batch), key)
    want_state, want_value_grad = jax.jit(f)(params, raw, x, key)
    shard_shapes = {s.data.shape for s in state.stoch.addressable_shards}
    require(
        "jit sharded: head state sharded along the batch",
        len(state.stoch.addressable_shards) == N_DEVICES
        and shard_shapes == {(SHARD, G * K)}
        and all(a.sharding.is_equivalent_to(batch, a.ndim) for a in jax.tree.leaves(state)),
        f"stoch {state.stoch.sharding.spec}, shards {sorted(shard_shapes)}",
    )
    compare("jit sharded: head state vs unsharded", state, want_state)
    compare("jit sharded: loss and gradient vs unsharded", value_grad, want_value_grad)


def main() -> int:
    n = jax.device_count()
    print(f"jax {jax.__version__}, {n} {jax.devices()[0].platform} devices, {DTYPE.__name__}")
    if n != N_DEVICES:
        print(f"FAIL: expected {N_DEVICES} devices from XLA_FLAGS={os.environ['XLA_FLAGS']!r}")
        return 1
    keys = jax.random.split(jax.random.key(0), 3)
    for check, key in zip((check_pmap, check_shard_map, check_jit_sharded), keys, strict=True):
        start = time.perf_counter()
        check(key)
        print(f"---- {check.__name__}: {time.perf_counter() - start:.1f} s")
    if FAILURES:
        print(f"\n{len(FAILURES)} check(s) failed:\n  " + "\n  ".join(FAILURES))
        return 1
    print("\nall multi-device checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
