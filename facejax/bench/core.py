"""Timing facejax's jitted training step, the family's PyTorch eager baseline and the input pipeline.

The step is timed on one fixed batch of random arrays (the family's `bench_batch`), already on the
devices, so the input pipeline is excluded; `input_pipeline` times the pipeline alone. Every
number comes from the same executable the trainer runs: the family's train_step, jitted with the
trainer's shardings and donation (`trainer.jit_train_step`), compiled once ahead of time, so no
call can recompile.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax

# Dense peak FLOP/s per device, by compute dtype, for MFU. Matched on a lower-case substring of
# jax.Device.device_kind, first match wins (more specific names first). float32 on NVIDIA
# Ampere+ is the TF32 tensor-core peak (JAX's default matmul/conv precision on GPU); on TPU it is
# the bf16 peak (the default precision makes one bf16 pass). Sources: vendor data sheets.
PEAK_FLOPS = (
    ("h100 pcie", {"bfloat16": 756e12, "float32": 378e12}),
    ("h100 nvl", {"bfloat16": 835e12, "float32": 418e12}),
    ("h100", {"bfloat16": 989e12, "float32": 494e12}),  # SXM
    ("gh200", {"bfloat16": 989e12, "float32": 494e12}),
    ("h200", {"bfloat16": 989e12, "float32": 494e12}),
    ("b200", {"bfloat16": 2250e12, "float32": 1100e12}),
    ("a100", {"bfloat16": 312e12, "float32": 156e12}),
    ("l4", {"bfloat16": 121e12, "float32": 60e12}),
    ("v100", {"float32": 15.7e12}),  # no bfloat16 tensor cores
    ("tpu v6 lite", {"bfloat16": 918e12, "float32": 918e12}),  # v6e (Trillium)
    ("tpu v5 lite", {"bfloat16": 197e12, "float32": 197e12}),  # v5e
    ("tpu v5p", {"bfloat16": 459e12, "float32": 459e12}),
    ("tpu v5", {"bfloat16": 459e12, "float32": 459e12}),  # v5p reports "TPU v5"
    ("tpu v4", {"bfloat16": 275e12, "float32": 275e12}),
    ("tpu v3", {"bfloat16": 123e12, "float32": 123e12}),
)


def peak_flops(device_kind: str, dtype: str) -> float | None:
    """The device's dense peak FLOP/s for `dtype` compute, or None when unknown (e.g. CPUs)."""
    kind = device_kind.lower()
    for name, peaks in PEAK_FLOPS:
        if name in kind:
            return peaks.get(dtype)
    return None


@dataclasses.dataclass
class Timing:
    compile_s: float  # lowering + XLA compilation (or, for torch, 0: eager)
    step_s: list  # one entry per timed step, after warm-up

    @property
    def median_s(self) -> float:
        return statistics.median(self.step_s)


def time_calls(fns: dict, steps: int, warmup: int) -> dict:
    """{name: (wall seconds, process CPU seconds) of each timed call} of blocking callables, after
    `warmup` untimed calls of each. Several callables are timed in turn (a, b, a, b, ...), so that a
    machine shared with other work slows them alike; process CPU time is reported beside wall time
    because it is much less sensitive to such sharing."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out = {name: ([], []) for name in fns}
    for _ in range(steps):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out[name][0].append(time.perf_counter() - t0)
            out[name][1].append(time.process_time() - c0)
    return out


def _peak_bytes(compiled) -> tuple[int | None, str]:
    """Peak device memory: the allocator's high-water mark where the device reports one (GPU,
    TPU), else XLA's static estimate for the step (arguments + outputs + temporaries - aliased)."""
    stats = [d.memory_stats() for d in jax.local_devices()]
    peaks = [s.get("peak_bytes_in_use") for s in stats if s]
    if peaks and all(p is not None for p in peaks):
        return int(max(peaks)), "device memory_stats peak_bytes_in_use"
    m = compiled.memory_analysis()
    if m is None:
        return None, "unavailable"
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return int(total), "XLA memory_analysis of the step (per device)"


def _all_deleted(tree) -> bool:
    leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    return bool(leaves) and all(x.is_deleted() for x in leaves)


class StepBench:
    """The family's jitted train_step, compiled ahead of time on a fixed random batch already on the
    devices; `step()` runs one iteration and blocks; `result(...)` reports the figures."""

    def __init__(self, config, seed: int = 0):
        from facejax import registry
        from facejax.train import accum, trainer
        from facejax.train import mesh as mesh_lib
        from facejax.train.state import root_key_data

        self.config = config
        self.family = registry.create(config)
        self.mesh = mesh_lib.make_mesh()
        from facejax.nn import kernels

        _, init_fn, step_fn = trainer.jit_train_step(self.family, self.mesh)
        self.kernels = kernels.resolve()  # registry.create applied config.kernels; the step traces below
        state = init_fn(root_key_data(config.seed))
        # config.grad_accum micro-batches of config.batch_size: the step's effective batch
        local = self.family.bench_batch(accum.local_step_batch(config, self.mesh), seed)
        self.batch = mesh_lib.global_batch(local, self.mesh)
        jax.block_until_ready((state, self.batch))
        t0 = time.perf_counter()
        self.compiled = step_fn.lower(state, self.batch).compile()
        self.compile_s = time.perf_counter() - t0
        self.state, metrics = self.compiled(state, self.batch)
        jax.block_until_ready(self.state)
        self.donated = _all_deleted(state)  # the step consumed its input state's buffers
        self.metrics = metrics

    def step(self):
        self.state, self.metrics = self.compiled(self.state, self.batch)
        jax.block_until_ready(self.state)

    def result(self, wall_s: list, cpu_s: list, warmup: int) -> dict:
        from facejax.nn import kernels
        from facejax.train import accum

        c = self.config
        losses = [float(v) for v in jax.device_get(self.metrics).values()]
        n_dev = self.mesh.devices.size
        cost = self.compiled.cost_analysis() or {}
        flops = float(cost.get("flops", 0.0)) * n_dev  # cost analysis is of the per-device program
        median = statistics.median(wall_s)
        kind = jax.devices()[0].device_kind
        peak = peak_flops(kind, c.dtype)
        peak_bytes, peak_source = _peak_bytes(self.compiled)
        return {
            "family": self.family.name,
            "img_size": int(c.img_size),
            "batch_size": accum.step_batch(c),  # the effective batch: grad_accum micro-batches of config.batch_size
            "grad_accum": accum.steps(c),
            "micro_batch_size": int(c.batch_size),
            "dtype": c.dtype,
            "device": f"{n_dev} x {kind}" if n_dev > 1 else kind,
            "platform": jax.devices()[0].platform,
            "num_devices": n_dev,
            "kernels": self.kernels,  # the path the step was traced with: "native" or "cpu_tuned"
            "kernels_setting": kernels.setting(),  # config.kernels: "auto", "native" or "cpu_tuned"
            "compile_s": self.compile_s,
            "persistent_compilation_cache": bool(jax.config.jax_compilation_cache_dir),
            "steps": len(wall_s),
            "warmup": warmup,
            "step_ms_median": median * 1e3,
            "step_ms_min": min(wall_s) * 1e3,
            "cpu_ms_median": statistics.median(cpu_s) * 1e3,
            "images_per_s": accum.step_batch(c) / median,
            "peak_bytes": peak_bytes,
            "peak_bytes_source": peak_source,
            "flops_per_step": flops,
            "achieved_flops_per_s": flops / median,
            "peak_flops_per_s": None if peak is None else peak * n_dev,
            "mfu": None if peak is None else flops / median / (peak * n_dev),
            "donated": self.donated,
            "losses_finite": all(v == v and abs(v) != float("inf") for v in losses),
        }


class TorchBench:
    """The family's PyTorch eager iteration (same nets, batch, losses, updates) on the CPU."""

    def __init__(self, config, seed: int = 0):
        from facejax import registry
        from facejax.bench.torch_common import import_torch
        from facejax.errors import FacejaxError
        from facejax.families import base

        self.config = config
        family = base.require(registry.create(config), base.TorchBaseline)
        self.torch = import_torch()
        if jax.default_backend() != "cpu" and not self.torch.cuda.is_available():
            raise FacejaxError(
                f"bench --against=torch: JAX runs on {jax.default_backend()} but torch {self.torch.__version__} "
                f"sees no CUDA device (torch.cuda.is_available() is False); a CPU baseline would mean nothing"
            )
        self.runner = family.bench_torch_step(seed)  # FacejaxError for a config without a PyTorch counterpart
        self.batch = self.runner.to_torch(family.bench_batch(config.batch_size, seed))

    def step(self):
        self.runner.step(self.batch)

    def result(self, wall_s: list, cpu_s: list) -> dict:
        median = statistics.median(wall_s)
        return {
            "torch_version": self.torch.__version__,
            "torch_threads": self.torch.get_num_threads(),
            "torch_device": str(self.runner.device),
            "torch_step_ms_median": median * 1e3,
            "torch_cpu_ms_median": statistics.median(cpu_s) * 1e3,
            "torch_images_per_s": self.config.batch_size / median,
        }


def bench_step(config, steps: int, warmup: int, against_torch: bool = False, seed: int = 0) -> dict:
    """Compile and time the jitted step (warm-up counts the first, compiling call); with
    against_torch also the PyTorch eager iteration, timed in turn with it, and the speedup. The PyTorch runner
    is built first, so a config without a PyTorch counterpart fails before anything compiles."""
    torch_bench = TorchBench(config, seed) if against_torch else None
    jax_bench = StepBench(config, seed)  # makes the first (compiling) call
    fns = {"jax": jax_bench.step}
    if against_torch:
        torch_bench.step()  # the same number of warm-up calls as the jitted step
        fns["torch"] = torch_bench.step
    times = time_calls(fns, steps, max(warmup - 1, 0))
    result = jax_bench.result(*times["jax"], warmup=max(warmup, 1))
    result.update(torch_images_per_s=None, speedup=None)
    if against_torch:
        result.update(torch_bench.result(*times["torch"]))
        result["speedup"] = result["images_per_s"] / result["torch_images_per_s"]
        result["speedup_cpu_time"] = result["torch_cpu_ms_median"] / result["cpu_ms_median"]
    return result


def bench_input(config, batches: int, warmup: int) -> dict:
    """Batches/s and images/s of the family's train_dataset alone (decode, augment, batch, and the
    conversion to numpy the trainer does), on this process's share of the global batch."""
    from facejax import registry
    from facejax.train import accum
    from facejax.train import mesh as mesh_lib

    family = registry.create(config)
    mesh = mesh_lib.make_mesh()
    local_bs = accum.local_step_batch(config, mesh)  # a step's examples (grad_accum micro-batches)
    t0 = time.perf_counter()
    iterator = iter(family.train_dataset(local_bs, jax.process_index(), jax.process_count()))
    first = jax.tree.map(lambda t: t._numpy(), next(iterator))
    first_s = time.perf_counter() - t0
    images_per_example = sum(1 for v in first.values() if getattr(v, "ndim", 0) == 4)

    def one_batch():
        jax.tree.map(lambda t: t._numpy(), next(iterator))

    total = sum(time_calls({"input": one_batch}, batches, warmup)["input"][0])
    return {
        "family": family.name,
        "img_size": int(config.img_size),
        "batch_size": local_bs,
        "input_batches": batches,
        "input_first_batch_s": first_s,
        "input_batches_per_s": batches / total,
        "input_images_per_s": batches * local_bs / total,
        "input_decoded_images_per_s": batches * local_bs * images_per_example / total,
        "images_per_example": images_per_example,
    }
