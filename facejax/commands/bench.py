"""facejax bench --config=... [--steps=N] [--warmup=N] [--against=torch] [--input] [--json]

Times one training iteration of the config's family: compile time, median step time after
warm-up, images/s, peak memory, FLOPs per step from XLA's cost analysis and MFU where the
device's peak is known, and which kernel path ran (--config.kernels=auto|native|cpu_tuned).
The step runs on a fixed batch of random arrays (no input pipeline).
--against=torch also times the same iteration in PyTorch eager mode on the project's reference
modules, in the same process, and prints `speedup N.NN` (facejax images/s over PyTorch's) last.
--input times the family's input pipeline alone (decoded, augmented batches) instead.
"""

import json

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "time the training step (compile, step, images/s, memory, MFU); --against=torch, --input"
NEEDS_CONFIG = True

STEPS = flags.DEFINE_integer("steps", 5, "bench: timed steps (or input batches with --input)")
WARMUP = flags.DEFINE_integer("warmup", 2, "bench: untimed steps before timing (the first compiles)")
AGAINST = flags.DEFINE_enum("against", None, ["torch"], "bench: also time this baseline (PyTorch eager)")
INPUT = flags.DEFINE_bool("input", False, "bench: time the input pipeline alone instead of the step")


def _bytes(n) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0


def _flops(n) -> str:
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} FLOP"


def step_table(r: dict) -> list[str]:
    mfu = "n/a (peak FLOP/s of this device unknown)" if r["mfu"] is None else f"{100 * r['mfu']:.1f} %"
    return [
        f"{r['family']}: {r['img_size']} px, batch {r['batch_size']}"
        + (f" ({r['grad_accum']} micro-batches of {r['micro_batch_size']})" if r.get("grad_accum", 1) > 1 else "")
        + f", {r['dtype']} compute, device {r['device']}",
        f"{'kernels':<18}{r['kernels']} (config.kernels={r['kernels_setting']}; auto = cpu_tuned on a CPU "
        f"backend, native elsewhere)",
        f"{'compile':<18}{r['compile_s']:.2f} s",
        f"{'step (median)':<18}{r['step_ms_median']:.1f} ms over {r['steps']} steps after "
        f"{r['warmup']} warm-up (min {r['step_ms_min']:.1f} ms; {r['cpu_ms_median']:.0f} ms of process CPU time)",
        f"{'images/s':<18}{r['images_per_s']:.2f}",
        f"{'peak memory':<18}{_bytes(r['peak_bytes'])} ({r['peak_bytes_source']})",
        f"{'FLOPs/step':<18}{_flops(r['flops_per_step'])} (XLA cost analysis); "
        f"{_flops(r['achieved_flops_per_s'])}/s achieved",
        f"{'MFU':<18}{mfu}",
        f"{'donated state':<18}{'yes' if r['donated'] else 'NO'}; losses "
        f"{'finite' if r['losses_finite'] else 'NOT FINITE'}",
    ]


def torch_table(r: dict) -> list[str]:
    return [
        f"{'torch eager step':<18}{r['torch_step_ms_median']:.1f} ms (median, timed in turn with the jitted step; "
        f"{r['torch_cpu_ms_median']:.0f} ms of process CPU time; torch {r['torch_version']} on "
        f"{r['torch_device']}, {r['torch_threads']} threads, float32)",
        f"{'torch images/s':<18}{r['torch_images_per_s']:.2f}",
    ]


def input_table(r: dict) -> list[str]:
    return [
        f"{r['family']} input pipeline: {r['img_size']} px, batch {r['batch_size']}",
        f"{'first batch':<18}{r['input_first_batch_s']:.2f} s (building, caching, filling buffers)",
        f"{'batches/s':<18}{r['input_batches_per_s']:.2f} over {r['input_batches']} batches",
        f"{'images/s':<18}{r['input_images_per_s']:.1f} training examples "
        f"({r['input_decoded_images_per_s']:.1f} decoded images, {r['images_per_example']} per example)",
    ]


def main(config, args):
    if args:
        raise FacejaxError(f"bench takes no positional words, got {' '.join(args)}")
    from facejax.bench import core
    from facejax.train import distributed

    distributed.hide_accelerators_from_tensorflow()  # tf.data feeds the host only
    if STEPS.value < 1:
        raise FacejaxError(f"--steps={STEPS.value}: expected >= 1")
    if WARMUP.value < 0:
        raise FacejaxError(f"--warmup={WARMUP.value}: expected >= 0")
    if INPUT.value:
        if AGAINST.value:
            raise FacejaxError("--input times the input pipeline alone; it does not take --against")
        result = core.bench_input(config, STEPS.value, WARMUP.value)
        lines = input_table(result)
    else:
        # with --against=torch the PyTorch runner is built first: a config it cannot run fails before compiling
        result = core.bench_step(config, STEPS.value, WARMUP.value, against_torch=AGAINST.value == "torch")
        lines = step_table(result)
        if AGAINST.value == "torch":
            lines += torch_table(result) + [f"speedup {result['speedup']:.2f}"]
    if common.JSON.value:
        print(json.dumps(result))
    else:
        print("\n".join(lines))
