"""Beholder-GAN as a Family the shared trainer drives: a beauty-conditioned progressive GAN (completion_beauty.md C).

One iteration is PGGAN's (train.py, loss.py D_wgangp_acgan / G_wgan_acgan with the AC-GAN label terms off, as
Beholder-GAN comments them out), at the phase's level of detail (schedule.py):

  reals     the batch's faces (full size) averaged down to 2^level; while the level fades in, blended with their
            2x2-averaged version by the fade weight (process_reals' FadeLOD)
  D update  fakes = G(z, beta) with the reals' own beta; loss = mean(D(fake) - D(real)
            + wgan_lambda / target^2 * (|grad D(mix)| - target)^2 + wgan_epsilon * D(real)^2),
            mix = lerp(real, fake, u), u ~ U(0, 1) per face; every D call sees the batch's beta. The gradient
            is the original's: with respect to the full-size (upscaled) mix, i.e. the phase-size gradient's norm
            / 2^(R - level) (config.gp_full_resolution; False penalises the phase-size norm itself)
  G EMA     ema <- lerp(G, ema, ema_decay), with G before this iteration's G update (the original runs
            Gs_update_op together with the D step)
  G update  loss = mean(-D(G(z', beta_g), beta_g)), beta_g = another face's scores (get_random_labels_tf)

Adam is TF's (beta1 0, beta2 0.99, eps 1e-8; schedule.tf_adam) with the learning rate of the phase's resolution
(lr, lr_overrides); both optimizers are reset at the start of every phase (reset_opt_for_new_lod).

Progressive growing in a fixed pytree: G and D hold every resolution from the start; the trainer compiles one
step per phase (``phase(step)`` = (level, fading)), each running only its levels' layers; the fade weight is
computed from the step inside the step. The batch size is fixed per run: the trainer needs the same batch shape
in every phase, and one data stream with a fixed batch keeps resuming exact. The original shrinks its minibatch
as the resolution grows (preset-v2-2gpus: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}); facejax
keeps the phase lengths in images shown (training_kimg / transition_kimg), so a phase takes
kimg * 1000 / batch_size steps, and uses the original's minibatch at the final resolution (16 at 128 px).
The lower resolutions of the reals are computed from the full-size face in float (the original's dataset_tool
stores each level rounded to uint8).

The minibatch stddev groups examples within each device's part of the batch, as the original does on several
GPUs (each GPU runs D on its own minibatch split); reals, fakes and mixes go through D in one call, interleaved
per example, so no step moves examples between devices. With config.grad_accum = k, micro-batch j holds rows j,
k + j, ... (facejax/train/accum.py): every stddev group of the k-times larger batch (rows m, m + M, m + 2M ... of
a device, M a multiple of k) lands whole in one micro-batch as one of its groups, so the step is that batch's
when each device's part of a micro-batch is a multiple of model.mbstd_group_size.

State: params {G, D}, opt_state {G, D}, ema {G} (Gs, what sampling, evaluation and beautification use).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.beholder import beautify, data, evaluate, labels, model, sample, torch_layout
from facejax.families.beholder.layers import downscale2d
from facejax.families.beholder.schedule import Schedule, tf_adam
from facejax.input import ops, streams
from facejax.nn.layers import upsample_nearest2
from facejax.train import accum
from facejax.train.state import TrainState, count_params, ema_update, split_params, step_key


def validate(config) -> None:
    c, m, s = config, config.model, config.schedule
    r = c.img_size
    if r < 4 or r & (r - 1):
        raise FacejaxError(f"config.img_size={r}: expected a power of two >= 4 (PGGAN grows 4 -> img_size)")
    init = s.initial_resolution
    if init < 4 or init & (init - 1) or init > r:
        raise FacejaxError(f"config.schedule.initial_resolution={init}: expected a power of two in [4, img_size={r}]")
    if s.training_kimg <= 0 or s.transition_kimg < 0:
        raise FacejaxError(
            f"config.schedule.training_kimg={s.training_kimg}, transition_kimg={s.transition_kimg}: "
            f"expected training_kimg > 0 and transition_kimg >= 0 (thousands of images)"
        )
    if s.minibatch_repeats < 1:
        raise FacejaxError(f"config.schedule.minibatch_repeats={s.minibatch_repeats}: expected >= 1")
    if c.num_raters < 1 or m.label_groups < 1 or c.num_raters % m.label_groups or m.label_groups > 4:
        raise FacejaxError(
            f"config.num_raters={c.num_raters}, config.model.label_groups={m.label_groups}: expected "
            f"1 <= label_groups <= 4 (the 4x4 label map holds them) dividing num_raters (60 / 4)"
        )
    for name in ("fmap_base", "fmap_max"):
        if m[name] < 1:
            raise FacejaxError(f"config.model.{name}={m[name]}: expected >= 1")
    if m.latent_size < 0:
        raise FacejaxError(f"config.model.latent_size={m.latent_size}: expected >= 0 (0 = nf(0))")
    g = min(m.mbstd_group_size, c.batch_size)
    if c.batch_size < 1 or (g > 1 and c.batch_size % g):
        raise FacejaxError(
            f"config.batch_size={c.batch_size}: expected a multiple of the minibatch-stddev group "
            f"size (config.model.mbstd_group_size={m.mbstd_group_size})"
        )
    for name in ("lr", "ema_decay", "wgan_lambda", "wgan_epsilon", "beta2"):
        if c[name] < 0:
            raise FacejaxError(f"config.{name}={c[name]}: expected >= 0")
    if c.wgan_target <= 0:
        raise FacejaxError(f"config.wgan_target={c.wgan_target}: expected > 0")
    if c.label_penalty not in ("", "mse", "softmax_ce"):
        raise FacejaxError(
            f"config.label_penalty={c.label_penalty!r}: expected '' (none: Beholder-GAN comments it "
            f"out), 'softmax_ce' (PGGAN's AC-GAN term) or 'mse' (a regression of beta)"
        )
    if c.dtype != "float32":
        raise FacejaxError(f"config.dtype={c.dtype!r}: Beholder-GAN runs in float32 (as the original)")
    conditioning = c.get("conditioning", True)  # configs saved before the field existed: conditioned
    if not isinstance(conditioning, bool) or (not conditioning and c.label_penalty):
        raise FacejaxError(
            f"config.conditioning={conditioning!r}: expected True, or False (the unconditioned PGGAN) with "
            f"config.label_penalty='' (it is {c.label_penalty!r})"
        )
    if c.data.score_scale <= 0:
        raise FacejaxError(f"config.data.score_scale={c.data.score_scale}: expected > 0 (5 for 1..5 ratings)")


def shards_for(batch_size: int, group_size: int) -> int:
    """The number of devices the batch is split over (1 when it does not split evenly into whole groups)."""
    n = jax.device_count()
    local = batch_size // n if batch_size % n == 0 else 0
    return n if local and local % min(group_size, local) == 0 else 1


def widths(config):
    m = config.model
    R = int(math.log2(config.img_size))
    f = [model.nf(s, m.fmap_base, m.fmap_decay, m.fmap_max) for s in range(R)]
    return f[1:], f[0], (m.latent_size or f[0])


def _beauty_labels(args: base.PrepareArgs) -> dict:
    return labels.prepare(args.config, args.workdir, args.source, args.out, args.data_dir)


def _beauty_labels_summary(result: dict) -> str:
    return f"{result['name']} prepared in {result['path']}: " + ", ".join(
        f"{k} {v}" for k, v in result["splits"].items()
    )


class Beholder(base.Family):
    """Beholder-GAN. Capabilities: Phased (PGGAN's levels of detail), SamplesFolders (beautification of --src faces),
    Evaluates (SWD, MS-SSIM, FID), TorchInterop, ImportsOwnFiles, Prepares (beauty_labels)."""

    name = "beholder"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = (
        "family",
        "img_size",
        "num_raters",
        "model.fmap_base",
        "model.fmap_decay",
        "model.fmap_max",
        "model.latent_size",
        "model.mbstd_group_size",
        "model.label_groups",
        "model.normalize_latents",
    )
    headline_metrics = (
        base.Metric("SWDx1e3_avg", "SWD x1e3 avg", "{:.3f}"),
        base.Metric("MS-SSIM", "MS-SSIM", "{:.4f}"),
        base.Metric("FID", "FID", "{:.2f}"),
    )
    folder_inputs = base.FolderInputs(src="folder of faces to beautify (latent recovery, then a sweep of beta)")
    original_files = (
        base.OriginalFile(
            "{step:06d}_nets_ema.ckpt",
            "{'generator': Gs}: the EMA generator, all that sampling (beautification) uses",
            "the original released none (Beholder-GAN issues #2, #4): a facejax export in torch_ref.py's layout",
        ),
        base.OriginalFile("{step:06d}_nets.ckpt", "G and D, to resume training", "the same", "optional"),
        base.OriginalFile(
            "vgg_face_dag.pth (config.beautify.face_weights)",
            "VGG-Face, whose features the latent recovery matches (beautify.alpha < 1): sampling reads it",
            "the VGG-Face release converted to PyTorch (vgg_face_dag.pth)",
            "optional",
        ),
    )

    @classmethod
    def prepare_steps(cls) -> dict[str, base.PrepareStep]:
        return {
            "beauty_labels": base.PrepareStep(
                help="label a TFDS dataset with the beauty predictor of --workdir (--config=configs/beholder.py:"
                "scut_fbp5500 --workdir=RUN --source=NAME[/CONFIG] --out=NAME [--data_dir=DIR])",
                run=_beauty_labels,
                summary=_beauty_labels_summary,
                needs_config=True,
            )
        }

    def __init__(self, config):
        validate(config)
        self.config = config
        self.R = int(math.log2(config.img_size))
        self.schedule = Schedule(config)
        self.widths, self.c0, self.latent_size = widths(config)
        abstract = self.abstract_nets()
        self.graphdefs, self._abstract = {}, {}
        for k, m in abstract.items():
            self.graphdefs[k], self._abstract[k] = split_params(m)
        self.optimizer = tf_adam(config.beta1, config.beta2, config.adam_eps)
        # The minibatch stddev groups within each device's part of the batch (the original's multi-GPU split).
        self.shards = shards_for(config.batch_size, config.model.mbstd_group_size)
        self.optimizers = {"G": self.optimizer, "D": self.optimizer}
        self.renderer = sample.Renderer(self)

    def _build(self, rngs):
        c, m = self.config, self.config.model
        return {
            "G": model.Generator(
                self.R, c.num_raters, self.latent_size, self.widths, normalize_latents=m.normalize_latents, rngs=rngs
            ),
            "D": model.Discriminator(
                self.R,
                c.num_raters,
                self.widths,
                self.c0,
                label_groups=m.label_groups,
                mbstd_group_size=m.mbstd_group_size,
                rngs=rngs,
            ),
        }

    def abstract_nets(self) -> dict:
        """{"G", "D"}: the networks with shapes only."""
        return nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))

    def param_counts(self) -> dict:
        return {k: count_params(v) for k, v in self._abstract.items()}

    def init(self, root_key_data) -> TrainState:
        key = jax.random.wrap_key_data(root_key_data)
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))
        params = {k: split_params(m)[1] for k, m in nets.items()}
        opt_state = {k: self.optimizer.init(params[k]) for k in ("G", "D")}
        return TrainState(
            step=jnp.zeros((), jnp.int32), rng=root_key_data, params=params, opt_state=opt_state, ema={"G": params["G"]}
        )

    # ---------------------------------------------------------------- networks

    def _beta(self, beta):
        """beta as the networks read it: zeros without config.conditioning (the unconditioned PGGAN row of the
        paper's table: G and D never see the scores)."""
        if self.config.get("conditioning", True):
            return beta
        return jnp.zeros((beta.shape[0], self.config.num_raters), jnp.float32)

    def G(self, g_params, z, beta, level: int, fade=None):
        return nnx.merge(self.graphdefs["G"], nnx.State(g_params))(z, self._beta(beta), level, fade)

    def D(self, d_params, img, beta, level: int, fade=None, chunks: int = 1, shards: int = 1):
        """(N, 1 + num_raters): D's score (column 0) and label outputs."""
        return nnx.merge(self.graphdefs["D"], nnx.State(d_params))(img, self._beta(beta), level, fade, chunks, shards)

    def label_penalty(self, out, beta):
        """Per-example AC-GAN label penalty on D's label outputs (config.label_penalty; "" = none, Beholder-GAN)."""
        kind = self.config.label_penalty
        if kind == "softmax_ce":  # PGGAN's softmax_cross_entropy_with_logits_v2(labels=beta, logits=...)
            return -jnp.sum(beta * jax.nn.log_softmax(out[:, 1:]), axis=1)
        return jnp.mean(jnp.square(out[:, 1:] - beta), axis=1)

    def render(self, g_params, z, beta, level: int | None = None, fade=None):
        """G's images at level (default: the full resolution), upscaled (nearest) to img_size as the original."""
        level = self.R if level is None else level
        img = self.G(g_params, z, beta, level, fade)
        for _ in range(self.R - level):
            img = upsample_nearest2(img)
        return img

    def lr(self, level: int) -> float:
        return float(self.config.lr_overrides.get(str(2**level), self.config.lr))

    # ---------------------------------------------------------------- the training iteration

    def phase(self, step: int):
        return self.schedule.phase(step)

    def process_reals(self, x, level: int, fade):
        for _ in range(self.R - level):
            x = downscale2d(x)
        if fade is not None:
            x = x + (upsample_nearest2(downscale2d(x)) - x) * fade
        return x

    def d_loss(self, d_params, g_params, reals, beta, z, u, level, fade):
        """D's WGAN-GP loss. Reals, fakes and their mixes go through D in one call of three interleaved minibatches
        (each its own minibatch-stddev groups, so the same function as the original's three calls)."""
        c = self.config
        n = reals.shape[0]
        fake = jax.lax.stop_gradient(self.G(g_params, z, beta, level, fade))
        mix = reals + (fake - reals) * u[:, None, None, None]
        # rows (example, call): each device keeps its own examples' three rows (no communication)
        x = jnp.stack([reals, fake, mix], axis=1).reshape((3 * n,) + reals.shape[1:])
        out, vjp = jax.vjp(
            lambda x: self.D(d_params, x, jnp.repeat(beta, 3, axis=0), level, fade, chunks=3, shards=self.shards), x
        )
        out = out.reshape(n, 3, -1)
        real_s, fake_s = out[:, 0, 0], out[:, 1, 0]
        (grad,) = vjp(jnp.zeros_like(out).at[:, 2, 0].set(1.0).reshape(3 * n, -1))  # d sum(D(mix)) / d mix
        grad = grad.reshape((n, 3) + reals.shape[1:])[:, 2]
        norms = jnp.sqrt(jnp.sum(jnp.square(grad), axis=(1, 2, 3)))
        if c.gp_full_resolution:
            # The original's D reads the full-size image (reals and fakes upscaled by 2^(R - level), D averages
            # them down again), so its gradient is this one spread over 4^(R - level) pixels, each / 4^(R - level):
            # the penalised norm is the phase-size norm / 2^(R - level).
            norms = norms / 2.0 ** (self.R - level)
        gp = jnp.square(norms - c.wgan_target)
        loss = fake_s - real_s + gp * (c.wgan_lambda / c.wgan_target**2) + jnp.square(real_s) * c.wgan_epsilon
        metrics = {
            "D/real": jnp.mean(real_s),
            "D/fake": jnp.mean(fake_s),
            "D/gp": jnp.mean(gp),
            "D/grad_norm": jnp.mean(norms),
        }
        if c.label_penalty:
            lp = self.label_penalty(out[:, 0], beta)
            if c.label_penalty_fakes:  # PGGAN: D's label outputs also learn the fakes' labels
                lp = lp + self.label_penalty(out[:, 1], beta)
            loss = loss + lp * c.cond_weight
            metrics["D/label_penalty"] = jnp.mean(lp)
        metrics["D/loss"] = jnp.mean(loss)
        return jnp.mean(loss), metrics

    def g_loss(self, g_params, d_params, beta_g, z, level, fade):
        fake = self.G(g_params, z, beta_g, level, fade)
        out = self.D(d_params, fake, beta_g, level, fade, shards=self.shards)
        loss = -out[:, 0]
        metrics = {}
        if self.config.label_penalty:
            lp = self.label_penalty(out, beta_g)
            loss = loss + lp * self.config.cond_weight
            metrics["G/label_penalty"] = jnp.mean(lp)
        metrics["G/loss"] = jnp.mean(loss)
        return jnp.mean(loss), metrics

    def _apply(self, params, opt_state, grads, lr):
        updates, opt_state = self.optimizer.update(grads, opt_state)
        return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state

    def train_step(self, state: TrainState, batch, phase):
        c = self.config
        level, fading = phase
        step = state.step + 1
        fade = self.schedule.fade(step) if fading else None
        lr = self.lr(level)
        k_d, k_g, k_u = jax.random.split(step_key(state), 3)
        n = batch["x"].shape[0]
        reals = self.process_reals(batch["x"], level, fade)
        beta, beta_g = batch["beta"], batch["beta_g"]
        p, o = state.params, state.opt_state
        if c.schedule.reset_optimizer:
            reset = self.schedule.starts_phase(step)
            o = jax.tree.map(
                lambda cur, new: jnp.where(reset, new, cur), o, {k: self.optimizer.init(p[k]) for k in ("G", "D")}
            )
        # latents and mixing weights drawn for the whole batch; with config.grad_accum = k each update's gradient
        # is the mean over k micro-batches (facejax/train/accum.py)
        k = accum.steps(c)
        z = jax.random.normal(k_d, (n, self.latent_size))
        u = jax.random.uniform(k_u, (n,))
        micro = accum.split({"reals": reals, "beta": beta, "z": z, "u": u}, k)
        g_params = p["G"]
        grads, m_d = accum.grad(
            lambda d, m: self.d_loss(d, g_params, m["reals"], m["beta"], m["z"], m["u"], level, fade),
            p["D"],
            micro,
            k,
            has_aux=True,
        )
        new_d, o_d = self._apply(p["D"], o["D"], grads, lr)
        ema = ema_update(state.ema["G"], p["G"], c.ema_decay)
        z_g = jax.random.normal(k_g, (n, self.latent_size))
        micro = accum.split({"beta_g": beta_g, "z": z_g}, k)
        grads, m_g = accum.grad(
            lambda g, m: self.g_loss(g, new_d, m["beta_g"], m["z"], level, fade), p["G"], micro, k, has_aux=True
        )
        new_g, o_g = self._apply(p["G"], o["G"], grads, lr)
        metrics = {**m_d, **m_g, "level": jnp.float32(level), "fade": jnp.float32(0.0) if fade is None else fade}
        return state.replace(
            step=step, params={"G": new_g, "D": new_d}, opt_state={"G": o_g, "D": o_d}, ema={"G": ema}
        ), metrics

    # ---------------------------------------------------------------- input

    def read_split(self, split: str, process_index: int = 0, process_count: int = 1) -> dict:
        d = self.config.data
        name = d.train_split if split == "train" else d.eval_split
        return data.read_table(d, name, process_index, process_count, self.config.num_raters)

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x (img_size faces in [-1, 1]), beta, beta_g}; see data.py."""
        c = self.config
        table = self.read_split("train", process_index, process_count)
        seed = ops.seeds_for(c.seed, process_index, 3)[0]
        element = data.gan_element(
            table, img_size=c.img_size, score_scale=c.data.score_scale, mirror=bool(c.data.mirror_augment), seed=seed
        )
        return streams.batches(element, local_batch, start_batch)

    def beta_pool(self, split: str = "eval") -> np.ndarray:
        """The dataset's beta vectors (scores / scale) of a split."""
        return self.read_split(split)["scores"] / self.config.data.score_scale

    # ---------------------------------------------------------------- sampling

    def level_of(self, step: int):
        """(level, fade) G renders at after `step` steps: the phase of the next step."""
        level, fading = self.schedule.phase(max(int(step), 0) + 1)
        return level, (float(self.schedule.fade(jnp.int32(int(step) + 1))) if fading else None)

    def sample_inputs(self, n: int):
        return sample.inputs(self, n)

    def sample_grids(self, state, inputs) -> dict:
        return sample.grids(self, state, inputs)

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        """facejax sample --src: latent recovery of every face in src_dir and its beauty sweep (no --mask)."""
        if request.mask:
            raise FacejaxError("--mask is for in-painting families; Beholder-GAN's sample takes --src=FACES alone")
        if request.ref:
            raise FacejaxError(f"family {self.name}: give --src=FOLDER; it takes no --ref")
        return beautify.folder(self, state, request.src, out_dir)

    def translate_inputs(self) -> tuple:
        deltas = ", ".join(f"{d:g}" for d in self.config.beautify.deltas)
        return (
            base.TranslateInput("src", "image", "face to beautify", required=True),
            base.TranslateInput(
                "delta",
                "number",
                f"beauty increase added to the face's recovered beauty; empty: the sweep {deltas}",
                minimum=-1.0,
                maximum=1.0,
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, delta=None) -> np.ndarray:
        """uint8 (len(src), len(config.beautify.deltas), S, S, 3): each face's latent recovered, then rendered at
        beta + each delta (beautify.py; what `sample --src` writes); delta=d: (len(src), 1, S, S, 3) at beta + d."""
        if ref is not None or mask is not None:
            raise FacejaxError(f"family {self.name}: give src (faces) alone; it takes no ref or mask")
        return beautify.beautify_arrays(self, state, src, None if delta is None else (float(delta),))

    # ---------------------------------------------------------------- evaluation and export

    @classmethod
    def sweep_rows(cls) -> dict:
        """Sweeps: the paper's comparison (configs/beholder.py ABLATIONS): Beholder-GAN and the unconditioned PGGAN."""
        return {"beholder": "Beholder-GAN (beauty-conditioned)", "pggan": "PGGAN (unconditioned)"}

    @classmethod
    def sweep_eval_files(cls) -> tuple:
        """None required: FID's Inception (eval.inception_weights) only where config.eval.fid is on."""
        return ()

    def evaluator(self, mesh=None, *, features=None):
        return evaluate.Evaluator(self, mesh, features=features)

    def torch_layout(self):
        """{step:06d}_nets.ckpt and _nets_ema.ckpt for torch_ref.py's modules (torch_layout.py)."""
        return torch_layout.GanLayout(self.config, self.abstract_nets())

    def import_files(self, source: str, step=None):
        return torch_layout.import_gan(self, source, step)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        rng = np.random.default_rng(seed)
        s, r = self.config.img_size, self.config.num_raters
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "beta": rng.uniform(0.2, 1, (batch_size, r)).astype(np.float32),
            "beta_g": rng.uniform(0.2, 1, (batch_size, r)).astype(np.float32),
        }
