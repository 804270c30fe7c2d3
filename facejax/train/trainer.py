"""The one training loop every family runs in.

    state = train(config, workdir)

Resumes from the newest checkpoint in `<workdir>/checkpoints` (after checking that it fits the
config), runs jitted steps sharded over the `data` axis, logs progress (step, losses, images/s, ETA)
to the console and TensorBoard (and Weights & Biases with config.log.wandb; tracking.py, which also traces
config.profile_steps), writes sample grids, checkpoints periodically and on SIGTERM.

What keeps the last good checkpoint safe (README "When things go wrong"): one run per workdir
(lock.py); config values out of range refused before anything starts (facejax/train/config.py `check`); a non-finite
state never saved (finite.py: stop, or roll back and skip the batch / lower the learning rate);
checkpoints checksummed and a damaged newest one set aside for the previous one (`Run.restore_or_init`);
a full disk reported in one line (checkpoint.py).
"""

import functools
import logging
import sys
import time

import jax
from clu import periodic_actions
from etils import epath

from facejax import images, registry
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.input import prefetch
from facejax.train import accum, distributed, finite, prerequisites, tracking
from facejax.train import config as trainer_config
from facejax.train import mesh as mesh_lib
from facejax.train.checkpoint import Checkpointer, flatten_dict
from facejax.train.lock import WorkdirLock
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


def jit_train_step(family, mesh, phase=None, *, check_finite: bool = False):
    """(state shardings, jitted init, jitted train step) as every run (and `facejax bench`) uses
    them: state replicated (or split over `fsdp`, mesh.py), batch split over every device, the input
    state donated to the step.

    Families whose iteration changes over a run (GFC's loss stages, Beholder-GAN's resolutions) are
    `base.Phased`: ``phase(step) -> hashable`` and ``train_step(state, batch, phase)``; `phase` is static, so each phase
    compiles its own step (pass the phase to jit here; `Run.step_for` caches one per phase).

    `check_finite`: the step's metrics also hold finite.FINITE, whether every loss and updated parameter
    is finite (computed on the device; the trainer reads it only at log steps and before saves)."""
    rep = mesh_lib.replicated(mesh)
    abstract = jax.eval_shape(family.init, root_key_data(0))
    min_size = int(family.config.get("fsdp_min_size", 2**14))
    state_shardings = jax.tree.map(lambda a: mesh_lib.state_sharding(a, mesh, min_size), abstract)
    init_fn = jax.jit(family.init, out_shardings=state_shardings)
    fn = family.train_step
    if base.has(family, base.Phased):
        if phase is None:  # the last phase: the full iteration (what bench times)
            phase = family.phase(int(family.config.total_steps))
        fn = functools.partial(family.train_step, phase=phase)
    if check_finite:
        fn = finite.with_finite_flag(fn)
    step_fn = jax.jit(
        fn,
        in_shardings=(state_shardings, mesh_lib.batch_sharding(mesh)),
        out_shardings=(state_shardings, rep),
        donate_argnums=(0,),
    )
    return state_shardings, init_fn, step_fn


class Run:
    """Everything a run sets up once: family, mesh, shardings, jitted functions, checkpointer."""

    def __init__(self, config, workdir: str, devices=None):
        """`devices`: the devices of the mesh (default: every device of every process). Prerequisite runs the
        family reads (prerequisites.py) are found in <workdir>/prereq/ when the config does not name them."""
        config = prerequisites.resolve(config, workdir, train=False)
        self.config = config
        self.workdir = epath.Path(workdir)
        self.family = registry.create(config)
        self.mesh = mesh_lib.make_mesh(devices, fsdp=config.get("fsdp", 1))
        first = self.family.phase(1) if base.has(self.family, base.Phased) else None
        self.state_shardings, self.init_fn, self.step_fn = jit_train_step(
            self.family, self.mesh, first, check_finite=True
        )
        self._step_fns = {first: self.step_fn}
        abstract = jax.eval_shape(self.family.init, root_key_data(config.seed))
        self.abstract_state = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, self.state_shardings
        )
        self.open_checkpointer()

    def open_checkpointer(self):
        """(Re)opens the run's checkpoint manager (closed at the end of each training attempt)."""
        self.checkpointer = Checkpointer(
            str(self.workdir), keep=self.config.keep_checkpoints, best_metric=best_metric(self.config)
        )

    def step_for(self, step: int):
        """The jitted train step that runs step number `step` (1-based): one per phase, compiled on first use."""
        if not base.has(self.family, base.Phased):
            return self.step_fn
        phase = self.family.phase(step)
        if phase not in self._step_fns:
            self._step_fns[phase] = jit_train_step(self.family, self.mesh, phase, check_finite=True)[2]
        return self._step_fns[phase]

    def check_checkpoint_fits(self):
        """Raises FacejaxError naming each field where the newest checkpoint differs from the config."""
        step = self.checkpointer.latest_step()
        if step is not None:
            self.checkpointer.check_fits(step, self.config.to_dict(), self.family.architecture_fields)

    def set_aside_damaged(self) -> None:
        """Checks the checkpoints' checksums from the newest on; each damaged one is reported by step and
        moved to <workdir>/checkpoints_damaged/, until an intact (or unverified) one is newest."""
        for step in reversed(self.checkpointer.all_steps()):
            problem = self.checkpointer.verify(step)
            if problem is None:
                return
            self._set_aside(step, problem)

    def _set_aside(self, step: int, problem: str) -> None:
        dest = self.checkpointer.move_aside(step)
        older = self.checkpointer.latest_step()
        then = f"restoring step {older} instead" if older is not None else "no older checkpoint is left"
        if older is not None and older == self.checkpointer.good_step:
            then += ", the newest good checkpoint (checksummed; kept beside the keep_checkpoints rotation)"
        _console(f"checkpoint step {step} is damaged ({problem}); moved to {dest}, {then}")
        if older is None:
            raise FacejaxError(
                f"every checkpoint in {self.checkpointer.directory} is damaged (the damaged ones are "
                f"in {dest.parent}); move that folder away to train from scratch"
            )

    def restore_or_init(self, iterator=None, *, training: bool = False):
        """The newest checkpoint's state (and iterator position), or a fresh state. A restored state that
        is not finite (saved before the non-finite guard existed) is refused; in `training`, it is set aside
        like a damaged one and the previous checkpoint restored."""
        while True:
            step = self.checkpointer.latest_step()
            if step is None:
                state = self.init_fn(root_key_data(self.config.seed))
                # Frozen pretrained networks (state.frozen) are read from files, outside jit.
                if base.has(self.family, base.LoadsPretrained):
                    return jax.device_put(self.family.load_pretrained(state), self.state_shardings)
                return state
            self.check_checkpoint_fits()
            _console(f"resuming from {self.checkpointer.directory / str(step)}")
            state = self.checkpointer.restore(step, self.abstract_state, iterator)
            if bool(jax.device_get(_all_finite(state.params, state.ema))):
                if training:  # frozen nets an import left out (base.TrainingFiles) are read now, from the config
                    filled = base.fill_training_files(self.family, state, log=_console)
                    if filled is not state:
                        state = jax.device_put(filled, self.state_shardings)
                return state
            if not training:
                raise FacejaxError(
                    f"the checkpoint at {self.checkpointer.directory / str(step)} holds non-finite "
                    f"parameters (a diverged run); `facejax train` sets it aside and resumes from "
                    f"the previous one"
                )
            self._set_aside(step, "its parameters are not finite")

    def restore_state(self):
        """The newest checkpoint's state without touching any data iterator (sampling, export)."""
        return self.restore_or_init(None) if self.checkpointer.latest_step() is not None else None


_all_finite = jax.jit(finite.all_finite)  # one program over the whole tree (op by op, it compiles per leaf)


def best_metric(config):
    """The evaluation metric whose best (lowest) checkpoint is kept besides the newest ones, if any."""
    return config.eval.get("best_metric") or None if "eval" in config else None


def make_evaluator(run: Run):
    """The family's evaluator when config.eval_every > 0 (its weight files are read now), else None."""
    every = run.config.get("eval_every", 0)
    if not every:
        return None
    if every < 0:
        raise FacejaxError(f"config.eval_every={every}: expected >= 0 (0 = no evaluation during training)")
    base.require(run.family, base.Evaluates, hint=f"set --config.eval_every=0 (it is {every})")
    return run.family.evaluator(run.mesh)


def _evaluate(run: Run, evaluator, state, step: int, writer) -> dict:
    """Runs the protocol on the state (the family picks its EMA weights where it keeps them), logs its numbers;
    returns them (checkpoint metrics)."""
    t0 = time.time()
    res = evaluator(state, step, run.workdir / "eval" / f"{step:06d}")
    metrics = {k: float(v) for k, v in res["metrics"].items()}
    writer.write_scalars(step, metrics)
    means = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if k.endswith("/mean"))
    _console(f"step {step}: eval {means} ({time.time() - t0:.0f}s; {run.workdir / 'eval' / f'{step:06d}'})")
    return metrics


def _write_samples(run: Run, state, inputs, step: int, writer) -> list[str]:
    grids = run.family.sample_grids(state, inputs)
    paths = []
    for name, grid in grids.items():
        paths.append(images.save_png(run.workdir / "samples" / f"{step:06d}_{name}.png", grid))
    writer.write_images(step, {f"samples/{k}": v[None] for k, v in grids.items()})
    return paths


def train(config, workdir: str):
    """Trains `config` in `workdir` until config.total_steps; returns the final TrainState.

    Holds the workdir's lock throughout. A non-finite step stops the run at its last good checkpoint
    (FacejaxError), or with config.nonfinite=skip_batch|lower_lr rolls back to it and continues, at most
    config.nonfinite_retries times."""
    trainer_config.check(config)
    policy, retries, factor = finite.check_policy(config)
    with WorkdirLock(workdir):
        # the runs the family reads frozen networks from: trained first (config.prerequisites.train) or found
        config = prerequisites.resolve(config, workdir, train=True)
        skip, tries, run = set(), 0, None
        while True:
            run = run or Run(config, workdir)  # a skip_batch retry keeps the compiled steps
            try:
                return _train(run, skip)
            except finite.NonFinite as e:
                run.open_checkpointer()
                good = run.checkpointer.latest_step()
                where = (
                    f"the run is back at its last good checkpoint, step {good}"
                    if good is not None
                    else "no checkpoint had been saved, the run is back at step 0"
                )
                if policy == "stop" or tries >= retries:
                    run.checkpointer.close()
                    advice = (
                        "lower the learning rate (config.lr), or set --config.nonfinite=skip_batch or "
                        "lower_lr to continue automatically"
                        if policy == "stop"
                        else f"config.nonfinite={policy} tried {tries} time(s) (config.nonfinite_retries)"
                    )
                    raise FacejaxError(f"{e}; nothing after it was saved and {where}; {advice}") from None
                tries += 1
                if policy == "skip_batch":
                    skip.add(e.example)
                    _console(f"{e}; {where}; skipping the batch at example {e.example} (retry {tries} of {retries})")
                else:
                    run.checkpointer.close()
                    run = None  # the learning rates are constants of the compiled step: a new one
                    config, changed = finite.lowered_lr(config, factor)
                    _console(
                        f"{e}; {where}; learning rates lowered for this launch: {', '.join(changed)} "
                        f"(retry {tries} of {retries})"
                    )


def _train(run: Run, skip: set):
    """One attempt of `train`: from the newest good checkpoint to the end, or to a NonFinite."""
    config, workdir = run.config, run.workdir
    run.set_aside_damaged()
    run.check_checkpoint_fits()
    evaluator = make_evaluator(run)  # before any input thread starts: a missing weight file stops here
    family, mesh = run.family, run.mesh
    local_bs = accum.local_step_batch(config, mesh)  # config.grad_accum micro-batches of config.batch_size
    pi, pc = jax.process_index(), jax.process_count()
    # Global batches formed ahead of the step; the checkpoint holds the stream position (in examples), so
    # batches read ahead and not consumed at a save are read again on resume.
    iterator = prefetch.DeviceIterator(
        lambda start_batch: family.train_dataset(local_bs, pi, pc, start_batch=start_batch),
        mesh_lib.batch_sharding(mesh),
        size=config.data.get("prefetch_to_device", 2),
        global_batch=accum.step_batch(config),
    )
    writer = None
    try:
        state = run.restore_or_init(iterator, training=True)
        start = int(jax.device_get(state.step))
        total = int(config.total_steps)

        writer = tracking.create_writer(config, workdir)  # TensorBoard, and W&B when config.log.wandb is set
        if start == 0:
            writer.write_hparams(
                {k: v for k, v in flatten_dict(config.to_dict()).items() if isinstance(v, (int, float, str, bool))}
            )
        return _loop(run, evaluator, iterator, state, start, total, writer, skip)
    finally:
        failing = sys.exc_info()[0] is not None
        iterator.close()
        try:
            run.checkpointer.close()
        except Exception as e:  # a second error while stopping (the disk still full) must not hide the first
            if not failing:
                raise
            _console(f"while stopping: {str(e).splitlines()[0][:300]}")
        if writer is not None:
            writer.flush()
            writer.close()


def _step_fn(run: Run, step: int, state, batch, compiled: dict):
    """The step function for `step`. With several processes each phase's step is compiled ahead (AOT) and the
    processes meet at a barrier before running it, so none enters the step's first collective long before the
    others (distributed.barrier)."""
    fn = run.step_for(step)
    if jax.process_count() == 1:
        return fn
    if id(fn) not in compiled:
        compiled[id(fn)] = fn.lower(state, batch).compile()
        distributed.barrier(f"facejax-step-compiled-{len(compiled)}")
    return compiled[id(fn)]


def _batch_text(config) -> str:
    k = accum.steps(config)
    if k == 1:
        return f"{config.batch_size}"
    return f"{accum.step_batch(config)} ({k} micro-batches of {config.batch_size})"


def _loop(run: Run, evaluator, iterator, state, start: int, total: int, writer, skip: set):
    config, family, mesh = run.config, run.family, run.mesh
    progress = periodic_actions.ReportProgress(num_train_steps=total, writer=writer, every_steps=config.log_every)
    sample_inputs = family.sample_inputs(config.num_sample_images)
    guard = PreemptionGuard()
    watch = finite.FiniteWatch()
    trace = tracking.StepTrace(config, run.workdir, start)  # config.profile_steps
    counts = family.param_counts()
    _console(
        f"{family.name}: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f" parameters; {mesh.devices.size} device(s), {jax.process_count()} process(es); "
        f"batch {_batch_text(config)}; steps {start} -> {total}"
    )

    # XLA:CPU runs each device's share of a step on one shared thread pool. With several steps in flight, the
    # devices already waiting in step k+1's collective can hold every thread while another device still needs
    # one to finish step k: a deadlock that XLA ends by aborting the process (seen with 4 virtual devices on 2
    # cores). On CPU the loop therefore waits for each step; accelerators keep asynchronous dispatch.
    sync_each_step = jax.default_backend() == "cpu" and mesh.devices.size > 1
    compiled = {}
    t_start = time.time()
    t_last, step_last = t_start, start
    t_first = None
    try:
        for step in range(start + 1, total + 1):
            while iterator.example in skip:  # the batch a non-finite step read (config.nonfinite=skip_batch)
                iterator.seek_example(iterator.example + accum.step_batch(config))
            example = iterator.example
            batch = next(iterator)
            trace.before(step)
            state, metrics = _step_fn(run, step, state, batch, compiled)(state, batch)
            if traced := trace.after(step, state):
                _console(f"step {step}: profile of steps {trace.range[0]}..{step} in {traced}")
            metrics = watch.add(step, example, metrics)
            if sync_each_step:
                jax.block_until_ready(metrics)
            progress(step)
            if t_first is None:
                jax.block_until_ready(state.step)
                t_first = time.time()
                t_last, step_last = t_first, step
                _console(f"step {step}: compiled and ran the first step in {t_first - t_start:.1f}s")
            stop = guard.should_stop(step, run.checkpointer.manager)
            log_now = step % config.log_every == 0 or step == total
            sample_now = bool(config.sample_every) and (step % config.sample_every == 0 or step == total)
            eval_now = evaluator is not None and step % config.eval_every == 0
            save_now = stop or eval_now or step % config.checkpoint_every == 0 or step == total
            if log_now or sample_now or save_now:
                watch.check()  # raises finite.NonFinite: nothing below runs on a diverged state
            if log_now:
                values = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.time()
                speed = "first step (compile)"
                if step > step_last:  # no rate yet on the step that compiled
                    rate = (step - step_last) / max(now - t_last, 1e-9)
                    t_last, step_last = now, step
                    values["images_per_sec"] = rate * accum.step_batch(config)
                    speed = f"{values['images_per_sec']:.1f} img/s | ETA {_fmt_eta((total - step) / max(rate, 1e-9))}"
                writer.write_scalars(step, values)
                loss_str = " ".join(f"{k}={v:.3f}" for k, v in values.items() if k != "images_per_sec")
                _console(f"step {step}/{total} | {loss_str} | {speed}")
            if sample_now:
                paths = _write_samples(run, state, sample_inputs, step, writer)
                _console(f"step {step}: samples {', '.join(paths)}")
            eval_metrics = _evaluate(run, evaluator, state, step, writer) if eval_now else None
            if stop:
                run.checkpointer.save(step, state, iterator, config.to_dict(), force=True, metrics=eval_metrics)
                run.checkpointer.wait()
                _console(f"step {step}: SIGTERM received; checkpoint saved, exiting")
                break
            if save_now:
                run.checkpointer.save(step, state, iterator, config.to_dict(), force=True, metrics=eval_metrics)
    finally:
        trace.close()
        guard.close()
    return state
