"""Generative Face Completion as a Family the shared trainer drives: nets, optimizers, the three training stages,
input, pictures, evaluation.

One iteration is the original's (demo_GFC_training.m; completion_beauty.md A.4-A.6): one D update on a fresh
batch, then one G update, each with its own random 64x64 holes (noise-filled; masks.py).

  stage 1 (steps <= stages.recon_end)   G only: L_r (no discriminator runs)
  stage 2 (<= stages.local_end)         + the local D update and lambda_local * local adversarial
  stage 3 (after)                       + the global D update, lambda_global * global adversarial and
                                        lambda_parsing * parsing loss

  D update   out = G(fill(x_d)) (no gradient); local D: crop(out) fake, crop(x_d) real at the hole; global D:
             composite(x_d, out) fake, x_d real; with mirror pairs only the first image of each pair
             (GFC_Gen_input_of_D1.m; config.d_first_of_pair); loss BCE mean over [fakes, reals] (losses.py);
             each D's own Adam, Caffe's update with its iteration counter held at 0 (bias correction of t = 1
             throughout, as the released script, which never advances the D solvers; config.d_adam_frozen_t1,
             ``caffe_adam_frozen_t1``)
  G update   out = G(fill(x)); L_r = smooth L1 over the whole image (context supervised too);
             local: -log D_local(crop(out)); global: -log D_global(composite(x, out)), whose input gradient the
             original adds to G's output over the WHOLE image (config.global_grad_full_image, a straight-through
             composite; False: autodiff, inside the hole only); parsing: softmax CE of P(composite) against
             argmax P(x), P frozen, dropout on in both (the original's TRAIN-phase nets; config.parsing_dropout)

The trainer compiles one step per stage (``phase``). State: params {G, D_local, D_global}, opt_state
{G, D_local, D_global}, ema {} (the original, Caffe, keeps no EMA: sampling, evaluation and export read params),
frozen {P}. P is read from config.parsing_checkpoint when a run starts (``load_pretrained``), G's VGG-19 convs
optionally from config.vgg19_weights (a pretrained initialisation of params G).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.gfc import data, evaluate, losses, masks, model, preprocess, pretrained, sample, torch_layout
from facejax.families.gfc.nets import abstract_net, g_widths, init_rngs, net_args, validate_parsing
from facejax.input import streams
from facejax.nn import randomness
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state, step_key

NETS = ("G", "D_local", "D_global")  # trained; the parsing network P is frozen


def validate(config) -> None:
    """One clear error per wrong value, naming the field and what was expected."""
    c, m = config, config.mask
    g_widths(c)
    validate_parsing(c)
    if c.data.get("test_resize", "torch7") not in preprocess.TEST_RESIZES:
        raise FacejaxError(
            f"config.data.test_resize={c.data.test_resize!r}: expected one of {', '.join(preprocess.TEST_RESIZES)}"
        )
    s = c.img_size
    if s < 32 or s % 32:
        raise FacejaxError(f"config.img_size={s}: expected a multiple of 32 (128 in the original)")
    if m.size < 8 or 4 * 2 ** model.num_d_stages(m.size) != m.size or m.size >= s:
        raise FacejaxError(
            f"config.mask.size={m.size}: expected 4 * 2^k >= 8 and < img_size={s} (64 at 128 px; the "
            f"local discriminator halves it down to 4x4)"
        )
    if m.g_offset < 0 or m.g_offset + s - m.size > s:
        raise FacejaxError(f"config.mask.g_offset={m.g_offset}: holes would leave the image (expected 0 or 1)")
    if m.d_offset < 0 or m.d_margin < 0 or s - m.size - m.d_margin < 1 or m.d_offset + s - m.d_margin > s:
        raise FacejaxError(
            f"config.mask.d_offset={m.d_offset}, d_margin={m.d_margin}: D holes must lie inside "
            f"the image (offset <= margin; the original: 4 and 10)"
        )
    for name in ("dec_width", "fc_dim"):
        if c.model.g[name] < 1:
            raise FacejaxError(f"config.model.g.{name}={c.model.g[name]}: expected >= 1")
    for name in ("local_base", "global_base", "max_width"):
        if c.model.d[name] < 1:
            raise FacejaxError(f"config.model.d.{name}={c.model.d[name]}: expected >= 1")
    if c.data.flip_pairs and c.batch_size % 2:
        raise FacejaxError(
            f"config.batch_size={c.batch_size}: expected an even number with data.flip_pairs (each "
            f"image with its mirror image)"
        )
    for name in ("lambda_local", "lambda_global", "lambda_parsing", "lr", "d_lr"):
        if c[name] < 0:
            raise FacejaxError(f"config.{name}={c[name]}: expected >= 0")
    if not 0 <= c.stages.recon_end <= c.stages.local_end:
        raise FacejaxError(
            f"config.stages.recon_end={c.stages.recon_end}, local_end={c.stages.local_end}: expected "
            f"0 <= recon_end <= local_end (stage 1 up to recon_end, stage 2 up to local_end, then 3)"
        )
    for name, spec in c.masks.items():
        masks.parse_box(spec, f"config.masks.{name}")
    for name in [n.strip() for n in c.eval.mask_types.split(",") if n.strip()] + [c.sample.mask_type]:
        if name not in c.masks:
            raise FacejaxError(
                f"mask type {name!r} (config.eval.mask_types / config.sample.mask_type) is not in "
                f"config.masks ({', '.join(sorted(c.masks))})"
            )


def scale_by_caffe_adam_frozen_t1(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """Caffe's AdamSolver::ComputeUpdateValue with the solver's ``iter_`` never advancing (t = iter_ + 1 = 1):

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   step = sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    The released demo_GFC_training.m updates the discriminators' solvers without ever calling ``set_iter`` on them
    (only the generator's solver gets it), so their bias correction stays sqrt(1 - b2) / (1 - b1) = 0.063 (b1 0.5,
    b2 0.999) for the whole run: about 16x smaller steps than standard Adam once its correction has decayed.
    eps is added to sqrt(v) as Caffe does (optax adds it to the bias-corrected sqrt(v_hat)). The state is optax's
    ScaleByAdamState (count counts updates and is not read), so a checkpoint has the same structure as with
    standard Adam."""
    corr = math.sqrt(1.0 - b2) / (1.0 - b1)

    def init(params):
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)  # noqa: E731
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros(), nu=zeros())

    def update(grads, state, params=None):
        del params
        mu = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.nu, grads)
        steps = jax.tree.map(lambda m, v: corr * m / (jnp.sqrt(v) + eps), mu, nu)
        return steps, optax.ScaleByAdamState(count=optax.safe_increment(state.count), mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def d_optimizer(config) -> optax.GradientTransformation:
    """A discriminator's Adam (Model_*D_solver: lr d_lr, betas d_beta1 / d_beta2, Caffe's delta 1e-8): Caffe's with
    t held at 1 (config.d_adam_frozen_t1, the original), else optax's standard Adam. Both are chain(scale, lr) with
    the same state structure."""
    c = config
    if c.d_adam_frozen_t1:
        return optax.chain(
            scale_by_caffe_adam_frozen_t1(c.d_beta1, c.d_beta2, 1e-8), optax.scale_by_learning_rate(c.d_lr)
        )
    return optax.adam(c.d_lr, b1=c.d_beta1, b2=c.d_beta2, eps=1e-8)


class GFC(base.Family):
    """Generative Face Completion. Capabilities: Phased (the paper's three stages), LoadsPretrained (the frozen
    parsing network, G's VGG-19 convs), SamplesFolders (--src with --mask), Evaluates, TorchInterop,
    ImportsOwnFiles (Caffe-named snapshots), Sweeps (the paper's ablation M1-M3, full), HasPrerequisites (the
    parsing run)."""

    name = "gfc"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = (
        "family",
        "img_size",
        "model.g.widths",
        "model.g.dec_width",
        "model.g.fc_dim",
        "model.d.local_base",
        "model.d.global_base",
        "model.d.max_width",
        "mask.size",
        "model.parsing.widths",
        "model.parsing.last_width",
        "model.parsing.num_classes",
    )

    # the paper's table: PSNR and SSIM per mask type (one column per type of config.eval.mask_types: `*`), then the
    # means over the types, the parsing agreement and FID
    headline_metrics = (
        base.Metric("*/PSNR", "PSNR *", "{:.3f}"),
        base.Metric("*/SSIM", "SSIM *", "{:.3f}"),
        base.Metric("PSNR/mean", "PSNR", "{:.3f}"),
        base.Metric("SSIM/mean", "SSIM", "{:.3f}"),
        base.Metric("parsing_mIoU/mean", "parsing mIoU", "{:.3f}"),
        base.Metric("FID/mean", "FID", "{:.2f}"),
    )
    folder_inputs = base.FolderInputs(
        src="folder of faces to complete (resized to img_size)",
        mask="the hole in every --src image: a mask image (white = hole), a folder of one mask per image "
        "(<image stem>.png), or a mask type of config.masks (eyes, mouth, ...); default config.sample.mask_type",
    )
    original_files = (
        base.OriginalFile(
            "Model_G_iter_{step}.pth",
            "the completion generator (Model_G.prototxt's layers): all that sampling uses",
            "the original's Caffe snapshots (Model_G_iter_N.caffemodel) with their blobs as a state_dict "
            "(torch_layout.py)",
        ),
        base.OriginalFile(
            "Model_localD_iter_{step}.pth, Model_globalD_iter_{step}.pth",
            "the local and global discriminators; without them, training starts fresh ones",
            "the same snapshots",
            "optional",
        ),
        base.OriginalFile(
            "Model_parsing_iter_{step}.pth or config.parsing_checkpoint",
            "the frozen face-parsing network of the parsing loss (stage 3) and the parsing score",
            "a facejax gfc_parsing run (facejax train --config=gfc:parsing); asked for when training starts",
            "training",
        ),
    )

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.graphdefs, self._abstract = {}, {}
        for k, (cls, args) in net_args(config).items():
            self.graphdefs[k], self._abstract[k] = split_state(abstract_net(cls, args, self.dtype))
        c = config
        self.optimizers = {
            "G": optax.adam(c.lr, b1=c.beta1, b2=c.beta2, eps=1e-8),
            "D_local": d_optimizer(c),
            "D_global": d_optimizer(c),
        }
        self._init = jax.jit(self._fresh_state)
        self.completer = sample.Completer(self)

    # ---------------------------------------------------------------- networks and optimizers

    def _build(self, rngs):
        return {k: cls(*args, dtype=self.dtype, rngs=rngs) for k, (cls, args) in net_args(self.config).items()}

    def phase(self, step: int) -> int:
        """The paper's stage of step number `step` (1-based): 1, 2 or 3, capped at the last stage whose terms are on
        (the ablations M1 / M2: no stage without a loss term, so no discriminator is trained that nothing reads)."""
        s, c = self.config.stages, self.config
        stage = 1 if step <= s.recon_end else 2 if step <= s.local_end else 3
        last = 3 if c.lambda_global > 0 or c.lambda_parsing > 0 else 2 if c.lambda_local > 0 else 1
        return min(stage, last)

    def needs_parsing(self) -> bool:
        c = self.config
        return (c.lambda_parsing > 0 and c.total_steps > c.stages.local_end) or bool(c.parsing_checkpoint)

    @classmethod
    def sweep_rows(cls) -> dict:
        """Sweeps: the paper's ablation rows M1-M3 and the full model (configs/gfc.py ABLATIONS)."""
        return {
            "M1": "M1: L_r (reconstruction only)",
            "M2": "M2: + local adversarial",
            "M3": "M3: + global adversarial",
            "full": "full: + parsing",
        }

    @classmethod
    def sweep_eval_files(cls) -> tuple:
        """The metric weight file the evaluation reads (FID's Inception)."""
        return ("eval.inception_weights",)

    @classmethod
    def prerequisites(cls, config) -> tuple[base.Prerequisite, ...]:
        """HasPrerequisites: the gfc_parsing run the parsing loss (stage 3) and the parsing score read, at this
        config's size and parsing widths: `parsing_synthetic` on synthetic_faces, `parsing` otherwise."""
        from facejax import configs

        c = config
        trains_with_it = c.lambda_parsing > 0 and c.total_steps > c.stages.local_end
        if not (trains_with_it or c.eval.parsing_score):
            return ()
        preset = "gfc:parsing_synthetic" if c.data.name == "synthetic_faces" else "gfc:parsing"
        part = configs.load(preset)
        part.img_size = c.img_size
        part.model.parsing = c.model.parsing.copy_and_resolve_references()
        what = "the frozen face-parsing network"
        return (base.Prerequisite("parsing", preset, part, "parsing_checkpoint", what),)

    def param_counts(self) -> dict:
        out = {k: int(sum(np.prod(x.shape) for x in jax.tree.leaves(self._abstract[k]))) for k in NETS}
        out["P (parsing, frozen)"] = int(sum(np.prod(x.shape) for x in jax.tree.leaves(self._abstract["P"])))
        return out

    def init(self, root_key_data) -> TrainState:
        """A fresh state; P is random here (``load_pretrained`` reads the trained one). Jitted once per family: the
        trainer traces init for every phase's step and again to initialise, and each trace builds the nets."""
        return self._init(root_key_data)

    def _fresh_state(self, root_key_data) -> TrainState:
        nets = {k: split_state(m)[1] for k, m in self._build(init_rngs(root_key_data)).items()}
        params = {k: nets[k] for k in NETS}
        opt_state = {k: self.optimizers[k].init(params[k]) for k in NETS}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state=opt_state,
            ema={},
            frozen={"P": nets["P"]},
        )

    def load_pretrained(self, state: TrainState) -> TrainState:
        """Frozen P from config.parsing_checkpoint (required when stage 3 trains with the parsing loss); G's VGG-19
        convs (params) from config.vgg19_weights when given."""
        params, frozen = dict(state.params), dict(state.frozen)
        if self.config.vgg19_weights:
            params["G"] = jax.tree.map(jnp.asarray, pretrained.load_g_vgg19(self.config, params["G"]))
        if self.needs_parsing():
            frozen["P"] = jax.tree.map(jnp.asarray, pretrained.load_parsing(self.config))
        return state.replace(params=params, frozen=frozen)

    def torch_layout(self):
        """Model_G / Model_localD / Model_globalD / Model_parsing _iter_<N>.pth (torch_layout.py)."""
        return torch_layout.TorchLayout(self.config, NETS)

    def training_files(self) -> dict:
        """The frozen parsing network P (config.parsing_checkpoint) when this config's training or evaluation reads
        it: `facejax import` and `facejax sample` go without it (base.TrainingFiles)."""
        if not self.needs_parsing():
            return {}
        load = lambda: jax.tree.map(jnp.asarray, pretrained.load_parsing(self.config))  # noqa: E731
        return {"P": base.TrainingFile("parsing_checkpoint", load)}

    def import_files(self, source: str, step=None):
        def missing(net):
            if net == "P" and self.needs_parsing():  # a zero placeholder: read when training starts
                return (
                    jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), self._abstract["P"]),
                    "no Model_parsing file for this step: P is read from config.parsing_checkpoint when training "
                    "starts",
                )
            return None, None

        return torch_layout.import_files(self, source, step, missing)

    # ---------------------------------------------------------------- networks applied

    def generate(self, g_params, x_in):
        return bind(self.graphdefs["G"], g_params)(x_in)

    def discriminate(self, name, d_params, x):
        return bind(self.graphdefs[name], d_params)(x)

    def parse(self, p_params, x, dropout_key=None):
        return bind(self.graphdefs["P"], p_params)(x, dropout_key)

    def complete(self, g_params, x, mask, key):
        """(masked input, G's output, completed image) of images x with holes `mask` (noise per config.mask.noise)."""
        x_in = masks.fill(x, mask, key, self.config.mask.noise)
        out = self.generate(g_params, x_in)
        return x_in, out, masks.composite(x, out, mask)

    # ---------------------------------------------------------------- the training iteration

    def _holes(self, key, n, for_d: bool):
        c, s, m = self.config, self.config.img_size, self.config.mask
        if for_d:
            corner = masks.corners(key, n, s, m.size, m.d_offset, s - m.size - m.d_margin, c.data.flip_pairs)
        else:
            corner = masks.corners(key, n, s, m.size, m.g_offset, s - m.size - m.g_offset + 1, c.data.flip_pairs)
        return corner, masks.square_masks(corner, s, m.size)

    def _d_update(self, name, params, opt_state, micro):
        """One update of D `name` on the micro-batches of `micro` (d_inputs of each): the mean of their gradients."""
        eps = self.config.bce_eps

        def loss_fn(d, m):
            fake, real = self._d_batch(m)[name]
            f, r = self.discriminate(name, d, fake), self.discriminate(name, d, real)
            return losses.d_bce(f, r, eps), {
                f"{name}/loss": losses.d_bce(f, r, eps),
                f"{name}/real": jnp.mean(jax.nn.sigmoid(r)),
                f"{name}/fake": jnp.mean(jax.nn.sigmoid(f)),
            }

        grads, metrics = accum.grad(loss_fn, params[name], micro, accum.steps(self.config), has_aux=True)
        updates, new_opt = self.optimizers[name].update(grads, opt_state[name], params[name])
        return ({**params, name: optax.apply_updates(params[name], updates)}, {**opt_state, name: new_opt}, metrics)

    @property
    def _group(self) -> int:
        """Rows that stay together in a micro-batch (config.grad_accum): a mirror pair with data.flip_pairs."""
        return 2 if self.config.data.flip_pairs else 1

    def _d_batch(self, m):
        """The discriminators' batches of one D update (GFC_Gen_input_of_D1.m) from a (micro-)batch {x_d, corner,
        mask, out = G's completion of x_d with fresh D holes, no gradient}: local (fake, real) = the hole's crop of
        G's output and of x_d, global (fake, real) = the composite and x_d. With mirror pairs and
        config.d_first_of_pair (the original) only the first image of each pair goes in (the original's D batch:
        one fake, one real); else every image."""
        c = self.config
        x_d, out, corner = m["x_d"], m["out"], m["corner"]
        comp = masks.composite(x_d, out, m["mask"])
        if c.data.flip_pairs and c.d_first_of_pair:
            x_d, out, comp, corner = x_d[0::2], out[0::2], comp[0::2], corner[0::2]
        return {
            "D_local": (masks.crop(out, corner, c.mask.size), masks.crop(x_d, corner, c.mask.size)),
            "D_global": (comp, x_d),
        }

    def d_updates(self, params, opt_state, x_d, key_holes, key_noise, phase: int = 3):
        """(params, opt_state, metrics) after the local D's update (stage >= 2) and the global D's (stage 3). The
        holes and their noise are drawn for the whole batch; G completes each micro-batch (config.grad_accum) once,
        without gradient, for both updates."""
        k, g_params = accum.steps(self.config), params["G"]
        corner, mask = self._holes(key_holes, x_d.shape[0], for_d=True)
        x_in = masks.fill(x_d, mask, key_noise, self.config.mask.noise)
        micro = accum.split({"x_d": x_d, "corner": corner, "mask": mask, "x_in": x_in}, k, self._group)
        micro["out"] = accum.map_micro(lambda x: jax.lax.stop_gradient(self.generate(g_params, x)), micro["x_in"], k)
        metrics = {}
        weights = {"D_local": self.config.lambda_local, "D_global": self.config.lambda_global}
        for name in ("D_local", "D_global")[: 1 if phase < 3 else 2]:
            if weights[name] <= 0:  # an ablation without this adversarial term: its D is not trained either
                continue
            params, opt_state, m = self._d_update(name, params, opt_state, micro)
            metrics.update(m)
        return params, opt_state, metrics

    def g_loss(self, g_params, params, x, x_in, mask, corner, phase: int, keys):
        """(total, terms) of the G update; terms already weighted. params: the discriminators' and P's."""
        c = self.config
        out = self.generate(g_params, x_in)
        terms = {"l1": losses.smooth_l1(out, x, c.l1_eps)}
        if phase >= 2 and c.lambda_local > 0:
            fake = masks.crop(out, corner, c.mask.size)
            terms["adv_local"] = c.lambda_local * losses.g_adv(
                self.discriminate("D_local", params["D_local"], fake), c.bce_eps
            )
        if phase >= 3:
            comp = masks.composite(x, out, mask)
            if c.lambda_global > 0:
                g_in = masks.global_input(x, out, mask, c.global_grad_full_image)
                terms["adv_global"] = c.lambda_global * losses.g_adv(
                    self.discriminate("D_global", params["D_global"], g_in), c.bce_eps
                )
            if c.lambda_parsing > 0:
                k_gt, k_out = keys if c.parsing_dropout else (None, None)
                labels = jax.lax.stop_gradient(jnp.argmax(self.parse(params["P"], x, k_gt), axis=-1))
                terms["parsing"] = c.lambda_parsing * losses.parsing_ce_sum(
                    self.parse(params["P"], comp, k_out), labels
                )
        return sum(terms.values()), terms

    def train_step(self, state: TrainState, batch, phase: int = 3):
        c = self.config
        x, x_d = batch["x"], batch["x_d"]
        n = x.shape[0]
        keys = jax.random.split(step_key(state), 6)
        p, o = state.params, state.opt_state
        metrics = {}
        if phase >= 2:  # the D update(s), on the fresh batch x_d
            p, o, m = self.d_updates(p, o, x_d, keys[0], keys[1], phase)
            metrics.update(m)
        corner, mask = self._holes(keys[2], n, for_d=False)
        x_in = masks.fill(x, mask, keys[3], c.mask.noise)
        # one parsing-dropout key per example (nn/randomness.py): micro-batches draw the whole batch's masks
        k_gt, k_out = randomness.example_keys(keys[4], n), randomness.example_keys(keys[5], n)
        k = accum.steps(c)
        micro = accum.split(
            {"x": x, "x_in": x_in, "mask": mask, "corner": corner, "k_gt": k_gt, "k_out": k_out}, k, self._group
        )
        others = {**p, **state.frozen}

        def loss_fn(g, m):
            return self.g_loss(g, others, m["x"], m["x_in"], m["mask"], m["corner"], phase, (m["k_gt"], m["k_out"]))

        (total, terms), grads = accum.value_and_grad(loss_fn, p["G"], micro, k, has_aux=True)
        updates, g_opt = self.optimizers["G"].update(grads, o["G"], p["G"])
        p = {**p, "G": optax.apply_updates(p["G"], updates)}
        o = {**o, "G": g_opt}
        metrics.update({f"G/{k}": v for k, v in terms.items()})
        metrics["G/total"] = total
        metrics["stage"] = jnp.asarray(phase, jnp.float32)
        return state.replace(step=state.step + 1, params=p, opt_state=o), metrics

    # ---------------------------------------------------------------- input

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x, x_d} (data.py); pairs of an image and its mirror image with data.flip_pairs."""
        src = data.load_faces(self.config.data, "train", process_index, process_count)
        return streams.batches(data.completion_element(src, self.config, process_index), local_batch, start_batch)

    # ---------------------------------------------------------------- sampling and evaluation

    def sample_inputs(self, n: int):
        return {"x": data.eval_images(self.config, n)["x"]}

    def sample_grids(self, state, inputs) -> dict:
        mask = masks.named_mask(self.config, self.config.sample.mask_type)
        grid = sample.completion_grid(self, state.sampling_params()["G"], inputs["x"], mask)
        return {f"completion_{self.config.sample.mask_type}": grid}

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        """facejax sample --src=DIR [--mask=FILE|TYPE]: every image completed (sample.py)."""
        if request.ref:
            raise FacejaxError(f"family {self.name}: give --src=FOLDER [--mask=FILE|TYPE]; it takes no --ref")
        return sample.complete_folder(
            self, state.sampling_params()["G"], request.src, request.mask or self.config.sample.mask_type, out_dir
        )

    def translate_inputs(self) -> tuple:
        return (
            base.TranslateInput("src", "image", "face to complete", required=True),
            base.TranslateInput(
                "mask",
                "mask",
                "the hole: a mask type, or a mask picture (white = the hole, resized to the model's size)",
                default=self.config.sample.mask_type,
                choices=tuple(sorted(self.config.masks)),
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None) -> np.ndarray:
        """uint8 (len(src), S, S, 3): each image completed in the hole `mask` (a mask type of config.masks, an
        image file, or an array with 1 = hole; default config.sample.mask_type), as `sample --src --mask` writes."""
        if ref is not None:
            raise FacejaxError(f"family {self.name}: give src [and mask]; it takes no ref")
        return sample.complete_arrays(self, state.sampling_params()["G"], src, mask)

    def evaluator(self, mesh=None, *, features=None):
        """The paper's protocol per mask type (evaluate.py): PSNR / SSIM of the hole, parsing agreement, FID."""
        return evaluate.Evaluator(self, mesh, features=features)

    # ---------------------------------------------------------------- benchmarking (facejax bench)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        s, rng = self.config.img_size, np.random.default_rng(seed)
        return {k: rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32) for k in ("x", "x_d")}
