"""The one training loop every family runs in.

    state = train(config, workdir)

Resumes from the newest checkpoint in `<workdir>/checkpoints` (after checking that it fits the
config), runs jitted steps sharded over the `data` axis, logs progress (step, losses, images/s, ETA)
to the console and TensorBoard, writes sample grids, checkpoints periodically and on SIGTERM.
"""

import logging
import time

import jax
import numpy as np
from clu import metric_writers, periodic_actions
from etils import epath

from facejax import images, registry
from facejax.train import mesh as mesh_lib
from facejax.train.checkpoint import Checkpointer, flatten_dict
from facejax.train.preemption import PreemptionGuard
from facejax.train.state import root_key_data

log = logging.getLogger("facejax")


def _console(msg: str) -> None:
    if jax.process_index() == 0:
        print(msg, flush=True)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Run:
    """Everything a run sets up once: family, mesh, shardings, jitted functions, checkpointer."""

    def __init__(self, config, workdir: str):
        self.config = config
        self.workdir = epath.Path(workdir)
        self.family = registry.create(config)
        self.mesh = mesh_lib.make_mesh()
        rep = mesh_lib.replicated(self.mesh)
        abstract = jax.eval_shape(self.family.init, root_key_data(config.seed))
        self.state_shardings = jax.tree.map(lambda _: rep, abstract)
        self.abstract_state = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, self.state_shardings)
        self.init_fn = jax.jit(self.family.init, out_shardings=self.state_shardings)
        self.step_fn = jax.jit(
            self.family.train_step,
            in_shardings=(self.state_shardings, mesh_lib.batch_sharding(self.mesh)),
            out_shardings=(self.state_shardings, rep),
            donate_argnums=(0,))
        self.checkpointer = Checkpointer(str(self.workdir), keep=config.keep_checkpoints)

    def check_checkpoint_fits(self):
        """Raises FacejaxError naming each field where the newest checkpoint differs from the config."""
        step = self.checkpointer.latest_step()
        if step is not None:
            self.checkpointer.check_fits(step, self.config.to_dict(), self.family.architecture_fields)

    def restore_or_init(self, iterator=None):
        """The newest checkpoint's state (and iterator position), or a fresh state."""
        step = self.checkpointer.latest_step()
        if step is None:
            return self.init_fn(root_key_data(self.config.seed))
        self.check_checkpoint_fits()
        _console(f"resuming from {self.checkpointer.directory / str(step)}")
        return self.checkpointer.restore(step, self.abstract_state, iterator)

    def restore_state(self):
        """The newest checkpoint's state without touching any data iterator (sampling, export)."""
        return self.restore_or_init(None) if self.checkpointer.latest_step() is not None else None


def _write_samples(run: Run, state, inputs, step: int, writer) -> list[str]:
    grids = run.family.sample_grids(state, inputs)
    paths = []
    for name, grid in grids.items():
        paths.append(images.save_png(run.workdir / "samples" / f"{step:06d}_{name}.png", grid))
    writer.write_images(step, {f"samples/{k}": v[None] for k, v in grids.items()})
    return paths


def train(config, workdir: str):
    """Trains `config` in `workdir` until config.total_steps; returns the final TrainState."""
    run = Run(config, workdir)
    run.check_checkpoint_fits()
    family, mesh = run.family, run.mesh
    local_bs = mesh_lib.local_batch_size(config.batch_size, mesh)
    dataset = family.train_dataset(local_bs, jax.process_index(), jax.process_count())
    iterator = iter(dataset)
    state = run.restore_or_init(iterator)
    start = int(jax.device_get(state.step))
    total = int(config.total_steps)

    writer = metric_writers.create_default_writer(
        str(workdir), just_logging=jax.process_index() > 0, asynchronous=True)
    if start == 0:
        writer.write_hparams({k: v for k, v in flatten_dict(config.to_dict()).items()
                              if isinstance(v, (int, float, str, bool))})
    progress = periodic_actions.ReportProgress(num_train_steps=total, writer=writer,
                                               every_steps=config.log_every)
    sample_inputs = family.sample_inputs(config.num_sample_images)
    guard = PreemptionGuard()
    counts = family.param_counts()
    _console(f"{family.name}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
             + f" parameters; {mesh.devices.size} device(s), {jax.process_count()} process(es); "
             f"batch {config.batch_size}; steps {start} -> {total}")

    t_start = time.time()
    t_last, step_last = t_start, start
    t_first = None
    metrics = None
    try:
        for step in range(start + 1, total + 1):
            batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(iterator)), mesh)
            state, metrics = run.step_fn(state, batch)
            progress(step)
            if t_first is None:
                jax.block_until_ready(state.step)
                t_first = time.time()
                t_last, step_last = t_first, step
                _console(f"step {step}: compiled and ran the first step in {t_first - t_start:.1f}s")
            if step % config.log_every == 0 or step == total:
                values = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.time()
                rate = (step - step_last) / max(now - t_last, 1e-9)
                t_last, step_last = now, step
                values["images_per_sec"] = rate * config.batch_size
                writer.write_scalars(step, values)
                loss_str = " ".join(f"{k}={v:.3f}" for k, v in values.items() if k != "images_per_sec")
                _console(f"step {step}/{total} | {loss_str} | {values['images_per_sec']:.1f} img/s"
                         f" | ETA {_fmt_eta((total - step) / max(rate, 1e-9))}")
            if config.sample_every and (step % config.sample_every == 0 or step == total):
                paths = _write_samples(run, state, sample_inputs, step, writer)
                _console(f"step {step}: samples {', '.join(paths)}")
            if guard.should_stop(step, run.checkpointer.manager):
                run.checkpointer.save(step, state, iterator, config.to_dict(), force=True)
                run.checkpointer.wait()
                _console(f"step {step}: SIGTERM received; checkpoint saved, exiting")
                break
            if step % config.checkpoint_every == 0 or step == total:
                run.checkpointer.save(step, state, iterator, config.to_dict(), force=True)
    finally:
        guard.close()
        run.checkpointer.close()
        writer.flush()
        writer.close()
    return state

