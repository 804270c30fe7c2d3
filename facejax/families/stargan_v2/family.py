"""StarGAN v2 as a Family the shared trainer drives: nets, optimizers, the training iteration,
the input streams and the pictures.

One iteration is the original's (core/solver.py train): D update with a latent-guided fake, D
update with a reference-guided fake, G+F+E update (latent-guided), G-only update
(reference-guided), then EMA of G, F, E. It is one pure function, jitted once by the trainer.

The paper's Table 1 rows (configs/stargan_v2.py ABLATIONS) run on the same step:
  A  StarGAN v1: v1 generator (label channels), ACGAN D, WGAN-GP + domain classification, cycle.
  B  A with the multi-task D (WGAN critic value = the label's output), no classification.
  C  StarGAN v2's AdaIN generator fed the one-hot target label, multi-task D, non-saturating + R1.
  D  C with style [one_hot(y), z], a one-head style encoder predicting z, latent reconstruction.
  E  StarGAN v2 with lambda_ds = 0.   F  StarGAN v2.
model.generator / model.discriminator pick the nets, model.style the style source and adv_loss the
adversarial term (losses.py); only the nets a row uses are built, optimised and checkpointed. Rows
with reference-guided styles (D-F) make the two D and two G updates above; label rows (A-C) one D
update and one G update. With n_critic > 1 the G update(s) run on every n_critic-th step only, under
lax.cond. Design decisions for rows A-D are listed in ablation_nets.py.

With w_hpf > 0 (the CelebA-HQ setting) the generator takes FAN's heatmap masks (fan.py): computed once from
x_real for both D updates and both G forwards, and from x_fake for each cycle reconstruction, with no
gradient. FAN is frozen: it lives in the train state as frozen["fan"], is in no optimizer and no EMA update,
and is read from config.fan_weights (the release's wing.ckpt) when a run starts from scratch
(`load_pretrained`); export writes it into both nets and nets_ema files, as the original does.

Capabilities (facejax/families/base.py): LoadsPretrained (FAN), SamplesFolders (--src/--ref domain folders,
sample.py), Evaluates (FID/LPIPS, evaluate.py), TorchInterop (torch_layout.py, torch_ref.py, torch_wing.py),
TorchBaseline (torch_baseline.py) and Sweeps (Table 1 rows A-F).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.stargan_v2 import (
    ablation_nets,
    evaluate,
    fan,
    losses,
    model,
    pipeline,
    sample,
    torch_baseline,
    torch_layout,
)
from facejax.input import ops, sources, streams
from facejax.nn import gan_losses
from facejax.train import accum
from facejax.train.state import TrainState, bind, count_params, ema_update, split_params, step_key

EMA_NETS = ("generator", "mapping_network", "style_encoder")  # the generator side, where a row has them
CHOICES = {
    "model.generator": ("stargan_v2", "stargan_v1"),
    "model.discriminator": ("multitask", "acgan"),
    "model.style": tuple(losses.STYLES),
    "adv_loss": tuple(losses.D_ADV),
}


def validate(config) -> None:
    """One clear error per wrong value, naming the field and what was expected."""
    size = config.img_size
    if size < 32 or size & (size - 1):
        raise FacejaxError(f"config.img_size={size}: expected a power of two >= 32 (e.g. 32, 64, 256)")
    if config.model.num_domains < 1:
        raise FacejaxError(f"config.model.num_domains={config.model.num_domains}: expected >= 1")
    if config.model.w_hpf < 0:
        raise FacejaxError(f"config.model.w_hpf={config.model.w_hpf}: expected >= 0")
    fs = config.model.fan_img_size
    if fs < 64 or fs & (fs - 1):
        raise FacejaxError(f"config.model.fan_img_size={fs}: expected a power of two >= 64 (256 in the original)")
    if config.model.fan_width < 2 or config.model.fan_width % 2:
        raise FacejaxError(
            f"config.model.fan_width={config.model.fan_width}: expected an even number >= 2 (64 in the original)"
        )
    if config.n_critic < 1:
        raise FacejaxError(f"config.n_critic={config.n_critic}: expected >= 1")
    for field, allowed in CHOICES.items():
        value = config.model[field[6:]] if field.startswith("model.") else config[field]
        if value not in allowed:
            raise FacejaxError(f"config.{field}={value!r}: expected one of {', '.join(allowed)}")
    if config.model.generator == "stargan_v1" and config.model.style != "label":
        raise FacejaxError(
            f"config.model.generator='stargan_v1' takes the one-hot domain label: it needs "
            f"config.model.style='label', got {config.model.style!r}"
        )
    if config.model.discriminator == "acgan" and config.adv_loss != "wgan_gp":
        raise FacejaxError(
            f"config.model.discriminator='acgan' (row A's critic) is trained with "
            f"config.adv_loss='wgan_gp', got {config.adv_loss!r}"
        )


def _adam(lr, config):
    """torch.optim.Adam(lr, betas, weight_decay): L2 decay added to the gradient before Adam."""
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=1e-8),
        optax.scale(-lr),
    )


class _Nets:
    """Modules bound to a dict of parameters (inside jit: tracing-time objects only)."""

    def __init__(self, graphdefs, params):
        for name, p in params.items():
            setattr(self, name, bind(graphdefs[name], p))


# The paper's Table 1 (StarGAN v2, arXiv:1912.01865v2): what each row adds (configs/stargan_v2.py ABLATIONS)
ROW_NAMES = {
    "A": "Baseline StarGAN",
    "B": "+ Multi-task discriminator",
    "C": "+ Tuning",
    "D": "+ Latent code injection",
    "E": "+ Replace (D) with style code",
    "F": "+ Diversity regularization (StarGAN v2)",
}


class StarGANv2(base.Family):
    """StarGAN v2 and its Table 1 ablation rows on one training iteration."""

    name = "stargan_v2"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    description = "StarGAN v2 (Choi et al., CVPR 2020): multi-domain image-to-image translation"
    architecture_fields = (
        "family",
        "img_size",
        "model.num_domains",
        "model.latent_dim",
        "model.style_dim",
        "model.hidden_dim",
        "model.w_hpf",
        "model.dim_in",
        "model.max_conv_dim",
        "model.generator",
        "model.discriminator",
        "model.style",
        "model.v1_conv_dim",
        "model.v1_repeat_num",
        "model.fan_img_size",
        "model.fan_width",
    )
    # The paper's Table 1 columns: FID and LPIPS, latent- and reference-guided (evaluate.py).
    headline_metrics = (
        base.Metric("FID_latent/mean", "FID latent", "{:.2f}"),
        base.Metric("LPIPS_latent/mean", "LPIPS latent", "{:.4f}"),
        base.Metric("FID_reference/mean", "FID reference", "{:.2f}"),
        base.Metric("LPIPS_reference/mean", "LPIPS reference", "{:.4f}"),
    )
    folder_inputs = base.FolderInputs(
        src="folder of source images in <domain>/<image> sub-folders (each is translated with every reference)",
        ref="folder of reference images in <domain>/<image> sub-folders, one per model domain in sorted "
        "folder-name order (each gives its style and target domain)",
        ref_required=True,
    )
    original_files = (
        base.OriginalFile(
            "{step:06d}_nets_ema.ckpt",
            "the EMA generator, mapping_network, style_encoder (+ fan when w_hpf > 0): what sampling uses",
            "the release (clovaai/stargan-v2 download.sh pretrained-network-celeba-hq / -afhq: "
            "expr/checkpoints/<dataset>/100000_nets_ema.ckpt) or the original's training saves",
        ),
        base.OriginalFile(
            "{step:06d}_nets.ckpt",
            "the trained networks and the discriminator (without it, training resumes from nets_ema and a fresh "
            "discriminator)",
            "the original's training saves (not released)",
            "optional",
        ),
        base.OriginalFile(
            "{step:06d}_optims.ckpt", "the Adam states", "the original's training saves (not released)", "optional"
        ),
        base.OriginalFile(
            "wing.ckpt (config.fan_weights)",
            "FAN, the face-landmark network whose heatmaps the generator reads when w_hpf > 0 (celeba_hq): sampling "
            "needs it too; read when the nets files hold no 'fan'",
            "the release (download.sh wing: expr/checkpoints/wing.ckpt)",
            "optional",
        ),
    )

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.style = losses.STYLES[config.model.style](config.model)
        # FAN heatmap masks feed the generator's high-pass skips (the original's w_hpf > 0 path).
        self.uses_fan = config.model.w_hpf > 0 and config.model.generator == "stargan_v2"
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        self.graphdefs = {k: split_params(m)[0] for k, m in abstract.items()}
        self._abstract_params = {k: split_params(m)[1] for k, m in abstract.items()}
        self.ema_nets = tuple(k for k in EMA_NETS if k in abstract)
        self.optimizers = self._optimizers()  # the trained nets; FAN (frozen) has none
        if self.uses_fan:
            self.graphdefs["fan"], self._abstract_fan = split_params(
                nnx.eval_shape(lambda: self._build_fan(nnx.Rngs(0)))
            )
        self.sampler = sample.Sampler(self.translate, config)  # owns the jitted translators

    # ---------------------------------------------------------------- networks and optimizers

    def _build(self, rngs):
        c, m = self.config, self.config.model
        kw = dict(dtype=self.dtype, rngs=rngs)
        if m.generator == "stargan_v1":
            nets = {"generator": ablation_nets.GeneratorV1(m.num_domains, m.v1_conv_dim, m.v1_repeat_num, **kw)}
        else:
            nets = {"generator": model.Generator(c.img_size, self.style.dim, m.max_conv_dim, m.w_hpf, m.dim_in, **kw)}
        if m.style == "style":
            nets["mapping_network"] = model.MappingNetwork(m.latent_dim, m.style_dim, m.num_domains, m.hidden_dim, **kw)
            nets["style_encoder"] = model.StyleEncoder(
                c.img_size, m.style_dim, m.num_domains, m.max_conv_dim, m.dim_in, **kw
            )
        elif m.style == "latent":  # one head shared by all domains, predicting z
            nets["style_encoder"] = model.StyleEncoder(c.img_size, m.latent_dim, 1, m.max_conv_dim, m.dim_in, **kw)
        if m.discriminator == "acgan":
            nets["discriminator"] = ablation_nets.ACGANDiscriminator(c.img_size, m.num_domains, m.v1_conv_dim, **kw)
        else:
            nets["discriminator"] = model.Discriminator(c.img_size, m.num_domains, m.max_conv_dim, m.dim_in, **kw)
        return nets

    def _build_fan(self, rngs):
        return fan.FAN(self.config.model.fan_img_size, self.config.model.fan_width, rngs=rngs)

    def _optimizers(self):
        c = self.config
        opts = {k: _adam(c.f_lr if k == "mapping_network" else c.lr, c) for k in self._abstract_params}
        # Parameters the forward never uses (decoder conv1x1 when w_hpf > 0) get no gradient in
        # PyTorch, so Adam skips them (no decay either): freeze them here for an exact replica.
        frozen = model.frozen_parameter_mask(self._abstract_params["generator"], w_hpf=self.config.model.w_hpf)
        if any(jax.tree.leaves(frozen)):
            labels = jax.tree.map(lambda f: "frozen" if f else "train", frozen)
            opts["generator"] = optax.multi_transform(
                {"train": opts["generator"], "frozen": optax.set_to_zero()}, labels
            )
        return opts

    def param_counts(self) -> dict:
        return {k: count_params(v) for k, v in self._abstract_params.items()}

    def init(self, root_key_data) -> TrainState:
        """A fresh state. With FAN, state.frozen["fan"] holds zero placeholders here (random initialisers would
        only slow the compile): the trainer replaces them with config.fan_weights through `load_pretrained`
        (a file read, outside jit)."""
        key = jax.random.wrap_key_data(root_key_data)
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))
        params = {k: split_params(m)[1] for k, m in nets.items()}
        opt_state = {k: self.optimizers[k].init(params[k]) for k in params}
        # The original's EMA copies start from PyTorch's default init (deepcopy before
        # he_init); after 100k steps at 0.999 that start weighs e^-100, so start from params.
        ema = {k: params[k] for k in self.ema_nets}
        frozen = {}
        if self.uses_fan:
            frozen["fan"] = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), self._abstract_fan)
        return TrainState(
            step=jnp.zeros((), jnp.int32), rng=root_key_data, params=params, opt_state=opt_state, ema=ema, frozen=frozen
        )

    def load_pretrained(self, state: TrainState) -> TrainState:
        """The state with its frozen pretrained nets read from the files the config names (state.frozen["fan"]
        from config.fan_weights when w_hpf > 0); the trainer calls it once for a run that starts from scratch."""
        if not self.uses_fan:
            return state
        weights = torch_layout.read_fan_weights(self.config)
        return state.replace(frozen={**state.frozen, "fan": weights})

    def torch_layout(self):
        """The original PyTorch layout of this config's networks (export / import); see torch_layout.py."""
        return torch_layout.TorchLayout(self.config)

    # ---------------------------------------------------------------- the training iteration

    def lambda_ds(self, step):
        """The original decrements lambda_ds by initial/ds_iter after every iteration."""
        c = self.config
        return c.lambda_ds * jnp.maximum(0.0, 1.0 - step.astype(jnp.float32) / c.ds_iter)

    def _update(self, names, loss_fn, params, opt_state, micro):
        """One optimizer step of the nets in `names` on the mean over the step's micro-batches (config.grad_accum,
        facejax/train/accum.py) of loss_fn(params restricted to names, micro-batch)."""
        sub = {k: params[k] for k in names}
        grads, aux = accum.grad(loss_fn, sub, micro, accum.steps(self.config), has_aux=True)
        params, opt_state = dict(params), dict(opt_state)
        for k in names:
            updates, opt_state[k] = self.optimizers[k].update(grads[k], opt_state[k], params[k])
            params[k] = optax.apply_updates(params[k], updates)
        return params, opt_state, aux

    def _masks(self, nets, x):
        """FAN's (coarse, fine) masks of x, or None without the w_hpf > 0 path; never differentiated."""
        return fan.masks(nets.fan, x) if self.uses_fan else None

    @staticmethod
    def _guide(kind, m, name="guide"):
        return None if kind is None else (kind, m[name])

    def _d_update(self, params, opt_state, frozen, micro, kind, lambdas):
        def loss_fn(sub, m):
            nets = _Nets(self.graphdefs, {**frozen, **params})
            s_trg = self.style.target(nets, self._guide(kind, m), m["y_trg"])
            x_fake = jax.lax.stop_gradient(nets.generator(m["x_real"], s_trg, m.get("masks")))
            n = _Nets(self.graphdefs, {**frozen, **params, **sub})
            return losses.d_loss(
                n, self.config.adv_loss, m["x_real"], m["y_org"], m["y_trg"], x_fake, m.get("alpha"), lambdas
            )

        return self._update(("discriminator",), loss_fn, params, opt_state, micro)

    def _g_update(self, names, params, opt_state, frozen, micro, kind, lambdas):
        def loss_fn(sub, m):
            n = _Nets(self.graphdefs, {**frozen, **params, **sub})
            cycle_masks = (lambda x_fake: self._masks(n, x_fake)) if self.uses_fan else None
            return losses.g_loss(
                n,
                self.style,
                self.config.adv_loss,
                m["x_real"],
                m["y_org"],
                m["y_trg"],
                self._guide(kind, m),
                self._guide(kind, m, "guide2"),
                lambdas,
                masks=m.get("masks"),
                cycle_masks_fn=cycle_masks,
            )

        return self._update(names, loss_fn, params, opt_state, micro)

    def _update_pairs(self, state, batch):
        """(metric prefix, guide kind, {guide, guide2} per example, nets the G update trains) of each D / G update
        pair; the latent codes are drawn for the whole step's batch (all its micro-batches)."""
        if not self.style.reference_guided:
            return [("", None, {}, ("generator",))]
        k1, k2 = jax.random.split(step_key(state))
        shape = (batch["x_src"].shape[0], self.config.model.latent_dim)
        z_trg, z_trg2 = jax.random.normal(k1, shape), jax.random.normal(k2, shape)
        return [
            ("latent_", "latent", {"guide": z_trg, "guide2": z_trg2}, self.ema_nets),
            ("ref_", "reference", {"guide": batch["x_ref"], "guide2": batch["x_ref2"]}, ("generator",)),
        ]

    def _every_n_critic(self, step, update, params, opt_state):
        """update(params, opt_state) on every n_critic-th iteration; otherwise no change and zero metrics."""
        n = self.config.n_critic
        if n == 1:
            return update(params, opt_state)
        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(update, params, opt_state)[2])
        return jax.lax.cond((step + 1) % n == 0, update, lambda p, o: (p, o, zeros), params, opt_state)

    def train_step(self, state: TrainState, batch):
        """One iteration on the step's batch; with config.grad_accum = k, each update's gradient is the mean over k
        micro-batches (facejax/train/accum.py), so the iteration is that of one batch k times larger."""
        c = self.config
        k = accum.steps(c)
        x_real = batch["x_src"]
        lambdas = {
            "reg": c.lambda_reg,
            "gp": c.lambda_gp,
            "cls": c.lambda_cls,
            "sty": c.lambda_sty,
            "ds": self.lambda_ds(state.step),
            "cyc": c.lambda_cyc,
        }
        pairs = self._update_pairs(state, batch)
        d_keys = jax.random.split(jax.random.fold_in(step_key(state), 1), len(pairs))  # WGAN-GP interpolation
        p, o, frozen, metrics = state.params, state.opt_state, state.frozen, {}
        common = {"x_real": x_real, "y_org": batch["y_src"], "y_trg": batch["y_ref"]}
        micro = accum.split(common, k)
        if self.uses_fan:  # FAN is frozen: its masks are the same for every update
            fan_nets = _Nets(self.graphdefs, frozen)
            micro["masks"] = accum.map_micro(lambda x: self._masks(fan_nets, x), micro["x_real"], k)
        per_pair = []
        for (_, _, guides, _), key in zip(pairs, d_keys):
            extra = dict(guides)
            if c.adv_loss == "wgan_gp":  # the interpolation weights of the whole batch, split with it
                extra["alpha"] = gan_losses.interpolation_weights(key, x_real)
            per_pair.append({**micro, **accum.split(extra, k)})

        for (prefix, kind, _, _), m in zip(pairs, per_pair):
            p, o, d = self._d_update(p, o, frozen, m, kind, lambdas)
            metrics.update({f"D/{prefix}{name}": v for name, v in d.items()})

        def g_updates(p, o):
            out = {}
            for (prefix, kind, _, names), m in zip(pairs, per_pair):
                p, o, g = self._g_update(names, p, o, frozen, m, kind, lambdas)
                out.update({f"G/{prefix}{name}": v for name, v in g.items()})
            return p, o, out

        p, o, g = self._every_n_critic(state.step, g_updates, p, o)
        metrics.update(g)
        if self.style.reference_guided:
            metrics["G/lambda_ds"] = lambdas["ds"]
        ema = {**state.ema, **{k: ema_update(state.ema[k], p[k], c.ema_decay) for k in self.ema_nets}}
        new = state.replace(step=state.step + 1, params=p, opt_state=o, ema=ema)
        return new, metrics

    # ---------------------------------------------------------------- input

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x_src, y_src, x_ref, x_ref2, y_ref} from batch `start_batch` on: class-balanced
        sources, and references with a second image of the same domain (the original's InputFetcher;
        pipeline.train_element). A pure function of the position: resuming at batch n
        continues exactly."""
        c = self.config
        if c.data.split_over_processes:  # each process holds 1/N of the examples, its own stream
            src = sources.load_source(c.data, "train", process_index, process_count)
            seeds = ops.seeds_for(c.seed, process_index, 1)
            part = {}
        else:  # one global stream, each process its rows of every batch: independent of the layout
            src = sources.load_source(c.data, "train")
            seeds = ops.seeds_for(c.seed, 0, 1)
            part = dict(process_index=process_index, process_count=process_count)
        self._check_domains(src.domains, "train")
        element = pipeline.train_element(
            src,
            num_domains=len(src.domains),
            img_size=c.img_size,
            randcrop_prob=c.data.randcrop_prob,
            seeds=seeds,
            resize_method=c.data.resize,
        )
        return streams.batches(element, local_batch, start_batch, **part)

    def _check_domains(self, domains, split):
        k = self.config.model.num_domains
        if len(domains) != k:
            raise FacejaxError(
                f"the {split} data has {len(domains)} domains ({', '.join(domains)}) but config.model.num_domains={k}"
            )

    def eval_examples(self, n_per_domain: int):
        """The first n images of each domain of the eval split, as [-1, 1] arrays (+ labels)."""
        c = self.config
        src = sources.load_source(c.data, "eval")
        self._check_domains(src.domains, "eval")
        k = len(src.domains)
        xs, ys = [[] for _ in range(k)], [[] for _ in range(k)]
        for image, d in zip(src.table["image"], src.labels):
            if len(xs[d]) < n_per_domain:
                img = ops.eval_transform(ops.decode(image, src.from_files), c.img_size, c.data.resize)
                xs[d].append(img.numpy())
                ys[d].append(int(d))
            if all(len(x) >= n_per_domain for x in xs):
                break
        return xs, ys, src.domains

    # ---------------------------------------------------------------- sampling

    def translate(self, weights, x_src, guide, y_trg):
        """G_ema(x_src, s) with s the row's target style: F_ema(z, y) or E_ema(x_ref, y) (E, F), [one_hot(y), z
        or E_ema(x_ref)] (D), one_hot(y) (A-C: the guide is ignored, a reference gives its label only).
        `weights`: {net: params} of the EMA nets, with the frozen FAN where w_hpf > 0 (sample.sampling_weights)."""
        nets = _Nets(self.graphdefs, weights)
        return nets.generator(x_src, self.style.target(nets, guide, y_trg), self._masks(nets, x_src))

    def sample_inputs(self, n: int):
        k = self.config.model.num_domains
        per = max(1, -(-n // k))
        xs, ys, _ = self.eval_examples(per)
        order = [(d, i) for i in range(per) for d in range(k)][:n]
        x = np.stack([xs[d][i] for d, i in order]).astype(np.float32)
        y = np.array([ys[d][i] for d, i in order], np.int32)
        z = np.asarray(jax.random.normal(jax.random.key(self.config.seed), (n, self.config.model.latent_dim)))
        return {"x": x, "y": y, "z": z}

    def sample_grids(self, state, inputs) -> dict:
        return self.sampler.grids(sample.sampling_weights(state), inputs)

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        """Every --src image translated with every --ref image's style (sample.py translate_folders):
        {"grid": reference.png, "count": pairs written, "pairs": the same}."""
        if not request.ref:
            raise FacejaxError("StarGAN v2 translates --src images with the styles of --ref images: give both folders")
        if request.mask:
            raise FacejaxError("StarGAN v2 takes no --mask (give --src and --ref)")
        return self.sampler.translate_folders(state, request.src, request.ref, out_dir)

    def translate_inputs(self) -> tuple:
        k = self.config.model.num_domains
        return (
            base.TranslateInput("src", "image", "source image: its pose and shape are kept", required=True),
            base.TranslateInput("ref", "image", "reference image: its style is applied", required=True),
            base.TranslateInput(
                "ref_domains",
                "number",
                f"the reference's domain, 0..{k - 1} (its folder's index among the sorted domain folders)",
                required=True,
                default=0,
                minimum=0,
                maximum=k - 1,
                integer=True,
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, ref_domains=None) -> np.ndarray:
        """uint8 (len(src), len(ref), S, S, 3): src[i] with ref[j]'s style, in ref_domains[j] (an int for all, or one
        per reference: the index --ref's sorted domain folders give); the PNGs `sample --src --ref` writes."""
        if mask is not None:
            raise FacejaxError("StarGAN v2 takes no mask (give src, ref and ref_domains)")
        return self.sampler.translate_arrays(state, src, ref, ref_domains)

    # ---------------------------------------------------------------- evaluation

    def evaluator(self, mesh=None):
        """The original's FID/LPIPS protocol (evaluate.py); reads the metric weights now, so a missing
        file stops a run before training. Call it: evaluator(state, step, out_dir) -> results."""
        return evaluate.Evaluator(self, mesh)

    # ---------------------------------------------------------------- sweeps (launch/sweep.py)

    @classmethod
    def sweep_rows(cls) -> dict:
        """The paper's Table 1 rows A-F (configs/stargan_v2.py ABLATIONS) and what each adds."""
        return dict(ROW_NAMES)

    @classmethod
    def sweep_eval_files(cls) -> tuple:
        """The metric weight files evaluation reads (README, Evaluation)."""
        return ("eval.inception_weights", "eval.alexnet_weights")

    # ---------------------------------------------------------------- benchmarking (facejax bench)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        """A batch of random arrays shaped like train_dataset's (images in [-1, 1], balanced labels)."""
        c, rng = self.config, np.random.default_rng(seed)
        shape = (batch_size, c.img_size, c.img_size, 3)
        k = c.model.num_domains
        image = lambda: rng.uniform(-1.0, 1.0, shape).astype(np.float32)  # noqa: E731
        return {
            "x_src": image(),
            "y_src": (np.arange(batch_size) % k).astype(np.int32),
            "x_ref": image(),
            "x_ref2": image(),
            "y_ref": ((np.arange(batch_size) + 1) % k).astype(np.int32),
        }

    def bench_torch_step(self, seed: int = 0):
        """The same iteration in PyTorch eager mode on the reference modules (torch_baseline.py). A FacejaxError,
        before torch is imported, when this config (a Table 1 row other than F) has no PyTorch baseline."""
        torch_baseline.check_supported(self.config)
        return torch_baseline.TorchStarGANv2Step(self.config, seed)
