"""Where a run's numbers and pictures go besides the console: TensorBoard always, Weights & Biases when
config.log.wandb says so, and a jax.profiler trace of the steps config.profile_steps names.

    --config.log.wandb=offline            a W&B run folder under <workdir>/wandb (upload later: `wandb sync DIR`)
    --config.log.wandb=online             logged as the run goes (`wandb login` first)
    --config.log.wandb_project=P --config.log.wandb_name=N
    --config.profile_steps=10,12          steps 10..12 traced into <workdir>/profile
                                          (`tensorboard --logdir <workdir>/profile`, Profile tab)

wandb is optional (`pip install wandb`, or the `[tracking]` extra) and imported only when config.log.wandb is
set. A resumed run continues the same W&B run (its id is kept in <workdir>/wandb_run_id).
"""

from __future__ import annotations

import uuid

import jax
import numpy as np
from clu import metric_writers
from etils import epath

from facejax.errors import FacejaxError
from facejax.train import config as trainer_config


def create_writer(config, workdir) -> metric_writers.MetricWriter:
    """The run's writer: console + TensorBoard (clu's default writer), and W&B on process 0 when config.log.wandb
    is set."""
    writer = metric_writers.create_default_writer(str(workdir), just_logging=jax.process_index() > 0, asynchronous=True)
    mode = config.log.get("wandb", "") if "log" in config else ""
    if not mode or jax.process_index() > 0:
        return writer
    return metric_writers.MultiWriter([writer, WandbWriter(config, workdir)])


class WandbWriter(metric_writers.MetricWriter):
    """A clu MetricWriter that logs scalars, images, texts, histograms and hyperparameters to a W&B run."""

    def __init__(self, config, workdir):
        mode = config.log.wandb
        if mode not in trainer_config.WANDB_MODES[1:]:
            raise FacejaxError(f"config.log.wandb={mode!r}: expected 'offline' or 'online' ('' = off)")
        try:
            import wandb
        except ImportError:
            raise FacejaxError(
                f"config.log.wandb={mode!r} needs Weights & Biases: `pip install wandb` (or facejax[tracking]), "
                f"or set --config.log.wandb='' to log to TensorBoard only"
            ) from None
        self._wandb = wandb
        workdir = epath.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        id_file = workdir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else ""
        if not run_id:
            run_id = uuid.uuid4().hex[:8]
            id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=config.log.wandb_project or "facejax",
            name=config.log.wandb_name or workdir.name,
            dir=str(workdir),
            mode=mode,
            id=run_id,
            resume="allow",
        )

    def write_summaries(self, step, values, metadata=None):
        self.write_scalars(step, {k: v for k, v in values.items() if np.ndim(v) == 0})

    def write_scalars(self, step, scalars):
        self.run.log({k: float(v) for k, v in scalars.items()}, step=int(step))

    def write_images(self, step, images):
        logged = {}
        for k, v in images.items():
            v = np.asarray(v)
            batch = [self._wandb.Image(im) for im in (v if v.ndim == 4 else v[None])]
            logged[k] = batch[0] if len(batch) == 1 else batch
        self.run.log(logged, step=int(step))

    def write_videos(self, step, videos):
        del step, videos  # the trainer writes none

    def write_audios(self, step, audios, *, sample_rate):
        del step, audios, sample_rate

    def write_texts(self, step, texts):
        self.run.log({k: str(v) for k, v in texts.items()}, step=int(step))

    def write_histograms(self, step, arrays, num_buckets=None):
        num_buckets = num_buckets or {}
        self.run.log(
            {k: self._wandb.Histogram(np.asarray(v), num_bins=num_buckets.get(k, 64)) for k, v in arrays.items()},
            step=int(step),
        )

    def write_hparams(self, hparams):
        self.run.config.update(dict(hparams), allow_val_change=True)

    def flush(self):
        pass

    def close(self):
        self.run.finish()


class StepTrace:
    """A jax.profiler trace of the steps config.profile_steps names ("A,B"), written into <workdir>/profile.

    Call before(step) before dispatching step `step` and after(step, state) once it is dispatched; close() ends a
    trace still open (a run stopped inside the range)."""

    def __init__(self, config, workdir, start: int):
        self.range = trainer_config.profile_range(config)
        self.dir = epath.Path(workdir) / "profile"
        self.start = start
        self.active = False

    def before(self, step: int) -> None:
        if self.range is None or self.active:
            return
        first, last = self.range
        if max(first, self.start + 1) == step and step <= last:
            self.dir.mkdir(parents=True, exist_ok=True)
            jax.profiler.start_trace(str(self.dir))
            self.active = True

    def after(self, step: int, state) -> str | None:
        """The trace folder when the trace ended with this step."""
        if self.active and step >= self.range[1]:
            jax.block_until_ready(state)
            self.close()
            return str(self.dir)
        return None

    def close(self) -> None:
        if self.active:
            self.active = False
            jax.profiler.stop_trace()
