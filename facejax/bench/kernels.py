"""Micro-benchmark of each kernel that config.kernels switches, on both paths, on the default JAX backend.

    python -m facejax.bench.kernels [--batch=4] [--size=64] [--channels=64] [--steps=10] [--json]

Per kernel and path: median ms of the jitted forward + backward (the training use; the 4x4 stride-2 conv also
R1's double backward), and of SSIM's forward on --size images. Both paths are timed in turn (a, b, a, b, ...),
so that a machine shared with other work slows them alike. Shapes default to a StarGAN v2 block at 64 px.
"""

from __future__ import annotations

import argparse
import json
import statistics

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from facejax.bench.core import time_calls
from facejax.nn import kernels

PATHS = ("cpu_tuned", "native")


def _cases(b: int, s: int, c: int):
    """name -> (function of one array argument, that argument)."""
    from facejax.metrics.ssim import ssim
    from facejax.nn.conv_transpose import conv_transpose
    from facejax.nn.layers import Conv2d, conv3x3_avg_pool2, conv4x4_s2, upsample2_conv3x3

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((b, s, s, c)), jnp.float32)
    conv = Conv2d(c, c, 3, 1, 1, rngs=nnx.Rngs(0))
    k4 = jnp.asarray(rng.standard_normal((4, 4, c, c)) * 0.05, jnp.float32)
    kt = jnp.asarray(rng.standard_normal((4, 4, c // 2, c)) * 0.05, jnp.float32)  # BeautyGAN's (4, 2, 1)
    img = jnp.asarray(rng.uniform(-1, 1, (b, 4 * s, 4 * s, 3)), jnp.float32)

    def fwd_bwd(f):
        return jax.grad(lambda x, k: jnp.sum(jnp.tanh(f(x, k))), (0, 1))

    graphdef, state = nnx.split(conv)

    def module_fwd_bwd(f):
        return jax.grad(lambda st, x: jnp.sum(jnp.tanh(f(nnx.merge(graphdef, st), x))), (0, 1))

    def r1(x, k):  # R1: the squared input gradient, differentiated w.r.t. the kernel
        return jax.grad(lambda k: jnp.sum(jnp.square(jax.grad(lambda x: jnp.sum(jnp.tanh(conv4x4_s2(x, k))))(x))))(k)

    return {
        "conv4x4_s2 fwd+bwd": (lambda x: fwd_bwd(conv4x4_s2)(x, k4), x),
        "conv4x4_s2 R1 double bwd": (lambda x: r1(x, k4), x),
        "conv3x3_avg_pool2 fwd+bwd": (lambda x: module_fwd_bwd(conv3x3_avg_pool2)(state, x), x),
        "upsample2_conv3x3 fwd+bwd": (lambda x: module_fwd_bwd(upsample2_conv3x3)(state, x), x),
        "conv_transpose 4/2/1 fwd+bwd": (
            lambda x: fwd_bwd(lambda x, k: conv_transpose(x, k, (2, 2), (1, 1)))(x, kt),
            x,
        ),
        f"ssim {4 * s} px fwd": (lambda im: ssim(im, im[::-1], 2.0), img),
    }


def run(batch: int = 4, size: int = 64, channels: int = 64, steps: int = 10) -> list[dict]:
    rows = []
    for name, (fn, arg) in _cases(batch, size, channels).items():
        calls = {}
        for path in PATHS:
            with kernels.use(path):
                compiled = jax.jit(fn).lower(arg).compile()  # the path is fixed at tracing
            calls[path] = lambda c=compiled: jax.block_until_ready(c(arg))
        times = time_calls(calls, steps, warmup=2)
        ms = {p: statistics.median(times[p][0]) * 1e3 for p in PATHS}
        rows.append(
            {
                "kernel": name,
                **{f"{p}_ms": ms[p] for p in PATHS},
                "native_over_cpu_tuned": ms["native"] / ms["cpu_tuned"],
            }
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    rows = run(a.batch, a.size, a.channels, a.steps)
    device = jax.devices()[0].device_kind
    if a.json:
        print(
            json.dumps(
                {
                    "device": device,
                    "backend": jax.default_backend(),
                    "batch": a.batch,
                    "size": a.size,
                    "channels": a.channels,
                    "rows": rows,
                }
            )
        )
        return
    print(f"{device} ({jax.default_backend()}), batch {a.batch}, {a.size} px, {a.channels} channels; median ms")
    print(f"{'kernel':<30}{'cpu_tuned':>10}{'native':>10}{'native/tuned':>14}")
    for r in rows:
        print(f"{r['kernel']:<30}{r['cpu_tuned_ms']:>10.2f}{r['native_ms']:>10.2f}{r['native_over_cpu_tuned']:>14.2f}")


if __name__ == "__main__":
    main()
