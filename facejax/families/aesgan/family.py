"""AesGAN's eye in-painting network as a Family the shared trainer drives (registry name ``aesgan``).

One iteration is the original's (``AesGAN.train``: opti_D, then opti_M, then the summary run), with x the target,
M its eye mask (two ellipses), r the reference and M_r the reference's eye mask:

  x~       = G(x (1 - M), 1 - M, r, M_r) * M + x (1 - M)                     (the composite)
  D update D([x, r], x M) real, D([x~, r], x~ M) fake (x~ without gradient), losses.d_loss; both calls share one
           power iteration of every spectral norm (the same TF session run)
  G update G's loss (losses.py) with the updated D (its spectral norms iterate once more); parsing and aesthetic
           networks frozen
  summary  with ``summary_power_iteration``, D runs once more (the original's summary op), moving the vectors a
           third time
Adam (lr * lr_mult, beta1 0.5, beta2 0.999) for G and D; lr_mult the original's decay (losses.lr_multiplier).

State: params {G, D}, opt_state {G, D}, ema {} (the original keeps no average: sampling, evaluation and export use
params), frozen {E (aesthetic net), P (parsing net)}. E and P are read from the facejax checkpoints of an
``aesgan_aesthetic`` and an ``aesgan_parsing`` run (config.aesthetic.checkpoint, config.parsing.checkpoint) by
``load_pretrained``; P stays zeros when lambda_parsing = 0.

Parsing loss inputs (config.parsing): the composite's random crop_size crop (tf.random_crop), per-image
standardised, through the parsing net with batch-statistics BatchNorm (``bn_train``); labels from the dataset
(synthetic_faces' maps), from the original's gt_labels folder (``labels_dir``/<stem>.png), or pseudo-labels
(argmax of the frozen net on the real image's same crop). The original compares a random crop with the whole
label map (``crop_labels`` False: the map resized to the crop); True crops the map at the same place.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.aesgan import aesthetic as aes_lib
from facejax.families.aesgan import common, evaluate, losses, model, references, sample, torch_layout
from facejax.families.aesgan import data as data_lib
from facejax.families.aesgan import parsing as parsing_lib
from facejax.families.aesgan.eyenet import EyeNet
from facejax.families.aesgan.layers import per_image_standardization
from facejax.families.aesgan.parsing_net import ParsingNet
from facejax.input import ops, streams
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state, step_key

NETS = ("G", "D")
LABEL_SOURCES = ("dataset", "folder", "pseudo")


def validate(config) -> None:
    c, m = config, config.model
    if c.img_size < 32 or c.img_size % 32:
        raise FacejaxError(
            f"config.img_size={c.img_size}: expected a multiple of 32 (the discriminator downsamples "
            f"5 times; 256 in the original)"
        )
    for f in ("g_dim", "d_dim"):
        if m[f] < 2:
            raise FacejaxError(f"config.model.{f}={m[f]}: expected >= 2")
    if m.g_res < 0:
        raise FacejaxError(f"config.model.g_res={m.g_res}: expected >= 0")
    if c.n_critic != 1:
        raise FacejaxError(
            f"config.n_critic={c.n_critic}: AesGAN trains D then G once per iteration (1); other "
            f"values are not supported"
        )
    for f in ("lr", "lambda_recon", "lambda_parsing", "lambda_aesthetic"):
        if c[f] < 0:
            raise FacejaxError(f"config.{f}={c[f]}: expected >= 0")
    if c.aes_crop not in ("fixed", "eyes"):
        raise FacejaxError(f"config.aes_crop={c.aes_crop!r}: expected 'fixed' (the original's box) or 'eyes'")
    common.parse_box(c.aes_box, "aes_box")
    try:
        ax = [float(v) for v in str(c.mask_axes).split(",")]
    except ValueError:
        ax = []
    if len(ax) != 2 or min(ax) <= 0:
        raise FacejaxError(
            f"config.mask_axes={c.mask_axes!r}: expected 'a,b', the ellipse semi-axes in pixels at "
            f"256 px (the original's 25,15)"
        )
    p = c.parsing
    if p.labels not in LABEL_SOURCES:
        raise FacejaxError(f"config.parsing.labels={p.labels!r}: expected one of {', '.join(LABEL_SOURCES)}")
    if p.crop_size < 32 or p.crop_size % 32 or p.crop_size > c.img_size:
        raise FacejaxError(
            f"config.parsing.crop_size={p.crop_size}: expected a multiple of 32 <= img_size ({c.img_size})"
        )
    if c.eval.targets not in ("last", "closed", "all"):
        raise FacejaxError(f"config.eval.targets={c.eval.targets!r}: expected 'last', 'closed' or 'all'")
    if c.eval.references not in ("same", "train"):
        raise FacejaxError(f"config.eval.references={c.eval.references!r}: expected 'same' or 'train'")
    if c.mask_raster not in data_lib.RASTERS:
        raise FacejaxError(
            f"config.mask_raster={c.mask_raster!r}: expected one of {', '.join(data_lib.RASTERS)} "
            f"('opencv': the pixels cv2.ellipse fills, the original's)"
        )
    if c.sample.reference not in ("auto", "given"):
        raise FacejaxError(f"config.sample.reference={c.sample.reference!r}: expected 'auto' or 'given'")
    a = c.aesthetic
    if min(a.dim, a.head_dim) < 1 or a.input_size < 4 or a.input_size % 4:
        raise FacejaxError(
            f"config.aesthetic: dim={a.dim}, head_dim={a.head_dim}, input_size={a.input_size}: "
            f"expected dims >= 1 and an input size that is a multiple of 4"
        )


class AesGAN(base.Family):
    """The eye in-painting network. Capabilities: LoadsPretrained (E and P into state.frozen), SamplesFolders
    (--src faces, --ref references), Evaluates, TorchInterop and ImportsOwnFiles (<step>_G.pth / <step>_D.pth)."""

    name = "aesgan"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    description = "AesGAN (CVPR 2020): eye in-painting with a reference, aesthetic and parsing losses"
    headline_metrics = evaluate.HEADLINE
    folder_inputs = sample.FOLDER_INPUTS
    original_files = (
        base.OriginalFile(
            "{step:06d}_G.pth",
            "the in-painting generator (encode_decode): all that sampling uses",
            "the original is TF1 with no release: a facejax export, or TF variables mapped by torch_ref.py's names",
        ),
        base.OriginalFile(
            "{step:06d}_D.pth", "the discriminator; without it, training starts a fresh one", "the same", "optional"
        ),
        base.OriginalFile(
            "config.aesthetic.checkpoint, config.parsing.checkpoint",
            "the frozen eye-aesthetic and face-parsing networks (training; reference='auto' sampling reads the "
            "aesthetic one)",
            "facejax runs of configs/aesgan.py:aesthetic and :parsing; asked for when training starts",
            "training",
        ),
    )
    architecture_fields = (
        "family",
        "img_size",
        "model.g_dim",
        "model.g_res",
        "model.d_dim",
        "aesthetic.dim",
        "aesthetic.head_dim",
        "aesthetic.input_size",
        "parsing.width",
        "parsing.num_classes",
    )

    @classmethod
    def prerequisites(cls, config) -> tuple[base.Prerequisite, ...]:
        """HasPrerequisites: the aesgan_aesthetic run (E: the aesthetic loss and the reference selection) and, with
        lambda_parsing > 0, the aesgan_parsing run (P), each with this config's architecture of that network;
        the `*_synthetic` presets on synthetic_faces, the real-data ones otherwise."""
        from facejax import configs

        suffix = "_synthetic" if config.data.name == "synthetic_faces" else ""
        parts = []
        for field, arch, what in (
            ("aesthetic", aes_lib.ARCH, "the frozen eye aesthetic network"),
            ("parsing", parsing_lib.ARCH, "the frozen face-parsing network"),
        ):
            if field == "parsing" and config.lambda_parsing <= 0:
                continue
            preset = f"aesgan:{field}{suffix}"
            part = configs.load(preset)
            for f in arch:
                part[field][f] = config[field][f]
            parts.append(base.Prerequisite(field, preset, part, f"{field}.checkpoint", what))
        return tuple(parts)

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.axes = data_lib.mask_axes(config)
        self.box = common.parse_box(config.aes_box, "aes_box")
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        self.graphdefs, self._abstract = {}, {}
        for k, mod in abstract.items():
            self.graphdefs[k], self._abstract[k] = split_state(mod)
        self.optimizers = {k: common.masked_adam(1.0, config.beta1, config.beta2) for k in NETS}
        self.sampler = sample.Sampler(self)
        self._frozen = {}
        self._pairs = {}

    def _build(self, rngs):
        c, m = self.config, self.config.model
        kw = dict(dtype=self.dtype, rngs=rngs)
        return {
            "G": model.Generator(m.g_dim, m.g_res, **kw),
            "D": model.Discriminator(c.img_size, m.d_dim, sn_grad=m.sn_power_iteration_grad, **kw),
            "E": EyeNet(c.aesthetic.dim, c.aesthetic.head_dim, c.aesthetic.keep_prob, **kw),
            "P": ParsingNet(c.parsing.width, c.parsing.num_classes, **kw),
        }

    def param_counts(self) -> dict:
        def count(tree, drop):
            flat = jax.tree_util.tree_flatten_with_path(tree)[0]
            return int(sum(np.prod(x.shape) for path, x in flat if str(getattr(path[-1], "key", "")) not in drop))

        return {
            "G": count(self._abstract["G"], ()),
            "D": count(self._abstract["D"], ("u", "v")),
            "E (aesthetic, frozen)": count(self._abstract["E"], ()),
            "P (parsing, frozen)": count(self._abstract["P"], ("mean", "var", "num_batches_tracked")),
        }

    def init(self, root_key_data) -> TrainState:
        """A fresh state; E and P hold zeros until ``load_pretrained`` reads the frozen networks."""
        rngs = common.init_rngs(root_key_data)
        c, m = self.config, self.config.model
        params = {
            "G": common.pure_state(model.Generator(m.g_dim, m.g_res, dtype=self.dtype, rngs=rngs)),
            "D": common.pure_state(
                model.Discriminator(c.img_size, m.d_dim, sn_grad=m.sn_power_iteration_grad, dtype=self.dtype, rngs=rngs)
            ),
        }
        frozen = {k: jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), self._abstract[k]) for k in ("E", "P")}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state={k: self.optimizers[k].init(params[k]) for k in NETS},
            ema={},
            frozen=frozen,
        )

    # ---------------------------------------------------------------- frozen networks

    def uses_parsing_net(self) -> bool:
        return self.config.lambda_parsing > 0

    def frozen(self, name: str):
        """E (always: the reference selection scores with it) or P (when lambda_parsing > 0), read once from
        the checkpoint its config field names."""
        if name not in self._frozen:
            c = self.config
            if name == "E":
                self._frozen[name] = common.load_frozen(c.aesthetic, "aesgan_aesthetic", "E", "aesthetic", aes_lib.ARCH)
            else:
                self._frozen[name] = common.load_frozen(c.parsing, "aesgan_parsing", "P", "parsing", parsing_lib.ARCH)
        return self._frozen[name]

    def training_files(self) -> dict:
        """E (config.aesthetic.checkpoint) and, with lambda_parsing > 0, P (config.parsing.checkpoint): training reads
        them, `facejax import` does not (base.TrainingFiles); sampling reads E only to choose references
        automatically (config.sample.reference='auto')."""
        out = {"E": base.TrainingFile("aesthetic.checkpoint", lambda: jax.tree.map(jnp.asarray, self.frozen("E")))}
        if self.uses_parsing_net():
            out["P"] = base.TrainingFile("parsing.checkpoint", lambda: jax.tree.map(jnp.asarray, self.frozen("P")))
        return out

    def load_pretrained(self, state: TrainState) -> TrainState:
        frozen = {**state.frozen, "E": jax.tree.map(jnp.asarray, self.frozen("E"))}
        if self.uses_parsing_net():
            frozen["P"] = jax.tree.map(jnp.asarray, self.frozen("P"))
        return state.replace(frozen=frozen)

    # ---------------------------------------------------------------- networks in use

    def net(self, name, params):
        return bind(self.graphdefs[name], params)

    def masks(self, eyes):
        return data_lib.eye_masks(eyes, self.config.img_size, self.axes, self.config.mask_raster)

    def inpaint(self, g_params, x, eyes, ref, ref_eyes):
        """(composite x~, raw generator output, mask M) for targets x with references ref."""
        m = self.masks(eyes)
        m3, mr3 = jnp.broadcast_to(m, x.shape), jnp.broadcast_to(self.masks(ref_eyes), x.shape)
        raw = self.net("G", g_params)(x * (1 - m3), 1 - m3, ref, mr3)
        return raw * m3 + x * (1 - m3), raw, m3

    def eye_crops(self, x, eyes):
        c = self.config
        return common.eye_crops(x, eyes, self.box, c.aes_crop, c.img_size, c.aesthetic.input_size)

    def eye_scores(self, e_params, x, eyes):
        """(B,) aesthetic score of the images' eye crops (compiled by the sampler)."""
        return self.sampler.eye_scores(e_params, x, eyes)

    def parsing_labels(self, p_params, batch, x_crop_real, offsets):
        p, s = self.config.parsing, self.config.parsing.crop_size
        if p.labels == "pseudo":
            net = self.net("P", p_params)
            return jax.lax.stop_gradient(jnp.argmax(net(per_image_standardization(x_crop_real), p.bn_train), -1))
        labels = batch["labels"]
        if p.crop_labels:
            return losses.crop_labels(labels, offsets, s)
        return losses.resize_labels_nearest(labels, s)

    # ---------------------------------------------------------------- the training iteration

    def lr(self, step):
        c = self.config
        return c.lr * losses.lr_multiplier(step, c.total_steps, c.lr_decay_start, c.lr_decay_offset, c.lr_decay_floor)

    def _apply(self, name, params, opt_state, grads, lr):
        updates, new_opt = self.optimizers[name].update(grads, opt_state[name], params[name])
        new = jax.tree.map(lambda p, u: p + lr * u, params[name], updates)
        return {**params, name: new}, {**opt_state, name: new_opt}

    def d_loss(self, d_params, x, ref, x_tilde, m3):
        d = self.net("D", d_params)
        n = x.shape[0]
        both = jnp.concatenate([x, x_tilde])
        logits = d(both, jnp.concatenate([ref, ref]), both * jnp.concatenate([m3, m3]))
        loss = losses.d_loss(logits[:n], logits[n:])
        return loss, (
            common.pure_state(d),
            {"D/loss": loss, "D/real": jnp.mean(logits[:n]), "D/fake": jnp.mean(logits[n:])},
        )

    def g_loss(self, g_params, params, frozen, batch, key, batch_size=None):
        """(total, (terms, new D state)) of a batch, or of a micro-batch (config.grad_accum) whose crop offsets
        (batch["offsets"]) were drawn for the whole batch of `batch_size` examples."""
        c = self.config
        x, ref = batch["x"], batch["ref"]
        x_tilde, _, m3 = self.inpaint(g_params, x, batch["eyes"], ref, batch["ref_eyes"])
        d = self.net("D", params["D"])
        terms = {"adv": losses.g_adv(d(x_tilde, ref, x_tilde * m3))}
        terms["recon"] = c.lambda_recon * losses.recon(x_tilde, x)
        if self.uses_parsing_net():
            crop, offsets = losses.random_crops(
                jnp.concatenate([x_tilde, x], -1),
                key,
                c.parsing.crop_size,
                c.parsing.random_crop,
                offsets=batch.get("offsets"),
            )
            fake_crop, real_crop = crop[..., :3], crop[..., 3:]
            labels = self.parsing_labels(frozen["P"], batch, real_crop, offsets)
            logits = self.net("P", frozen["P"])(per_image_standardization(fake_crop), c.parsing.bn_train)
            ce = losses.parsing_ce(logits, labels)
            n = x.shape[0] if batch_size is None else batch_size
            terms["parsing"] = c.lambda_parsing * ce / (n if c.parsing_per_batch else 1)
        if c.lambda_aesthetic > 0:
            # one pass over both crop batches (instance norm is per example, so this is the same as two)
            crops = jnp.concatenate([self.eye_crops(x_tilde, batch["eyes"]), self.eye_crops(ref, batch["ref_eyes"])])
            feats = self.net("E", frozen["E"]).features(crops)
            n = x.shape[0]
            terms["aesthetic"] = c.lambda_aesthetic * losses.aesthetic(feats[:n], jax.lax.stop_gradient(feats[n:]))
        return sum(terms.values()), (terms, common.pure_state(d))

    def train_step(self, state: TrainState, batch):
        """One iteration. With config.grad_accum = k (facejax/train/accum.py) each update's gradient is the mean over
        k micro-batches: the parsing crops are drawn for the whole batch, the parsing term divided by the whole
        batch's size (parsing_per_batch), and every micro-batch's D call starts from the same power-iteration
        vectors (their new vectors agree). The frozen parsing net's batch-statistics BatchNorm (parsing.bn_train)
        normalises each micro-batch by its own statistics: close to, not equal to, the big batch."""
        c = self.config
        k = accum.steps(c)
        p, o = state.params, state.opt_state
        lr = self.lr(state.step)
        n = batch["x"].shape[0]
        inputs = dict(batch)  # every entry is per example
        if self.uses_parsing_net():
            s = c.img_size
            inputs["offsets"] = losses.crop_offsets(
                step_key(state), n, s, s, c.parsing.crop_size, c.parsing.random_crop
            )
        micro = accum.split(inputs, k)
        g_params = p["G"]

        def composite(m):
            x_tilde, _, m3 = self.inpaint(g_params, m["x"], m["eyes"], m["ref"], m["ref_eyes"])
            return jax.lax.stop_gradient(x_tilde), jax.lax.stop_gradient(m3)

        micro["x_tilde"], micro["m3"] = accum.map_micro(composite, micro, k)
        (_, (d_state, metrics)), grads = accum.value_and_grad(
            lambda d, m: self.d_loss(d, m["x"], m["ref"], m["x_tilde"], m["m3"]), p["D"], micro, k, has_aux=True
        )
        p, o = self._apply("D", p, o, grads, lr)
        p = {**p, "D": common.with_state(p["D"], d_state)}
        others = dict(p)
        (g_total, (terms, d_state)), grads = accum.value_and_grad(
            lambda g, m: self.g_loss(g, others, state.frozen, m, None, n), p["G"], micro, k, has_aux=True
        )
        p = {**p, "D": common.with_state(p["D"], d_state)}
        p, o = self._apply("G", p, o, grads, lr)
        if c.summary_power_iteration:  # the power iteration reads the weights only: one micro-batch moves it
            d = self.net("D", p["D"])
            x, ref, xt, m3 = (micro[name][0] for name in ("x", "ref", "x_tilde", "m3"))
            both = jnp.concatenate([x, xt])
            d(both, jnp.concatenate([ref, ref]), both * jnp.concatenate([m3, m3]))
            p = {**p, "D": common.with_state(p["D"], common.pure_state(d))}
        metrics.update({f"G/{name}": v for name, v in terms.items()})
        metrics["G/total"] = g_total
        metrics["lr"] = lr
        return state.replace(step=state.step + 1, params=p, opt_state=o), metrics

    # ---------------------------------------------------------------- input

    def pairs(self, part: str) -> references.Pairs:
        """The train or eval (target, reference) pairs, selected once with the frozen aesthetic network."""
        if part not in self._pairs:
            d, e = self.config.data, self.frozen("E")
            want = self.config.parsing.labels == "dataset" and self.uses_parsing_net()
            if part == "train":
                self._pairs[part] = references.train_pairs(self, e, data_lib.load_faces(d, d.train_split, parsing=want))
            else:
                faces = data_lib.load_faces(d, d.eval_split)
                pool = data_lib.load_faces(d, d.train_split) if self.config.eval.references == "train" else None
                self._pairs[part] = references.eval_pairs(self, e, faces, pool)
        return self._pairs[part]

    def _label_paths(self, pairs) -> np.ndarray:
        """The original's ./gt_labels/<image stem>.png of each target (config.parsing.labels_dir)."""
        root = self.config.parsing.labels_dir
        if not root:
            raise FacejaxError(
                "config.parsing.labels='folder' reads the original's gt_labels/<image stem>.png maps "
                "(not released) from config.parsing.labels_dir, which is empty; set it, or use "
                "config.parsing.labels='pseudo' (the parsing network's labels of the real image)"
            )
        paths = []
        for name in pairs.faces.file_name[pairs.target]:
            path = os.path.join(root, os.path.splitext(os.path.basename(name))[0] + ".png")
            if not os.path.isfile(path):
                raise FacejaxError(
                    f"config.parsing.labels_dir={root}: no label map {path} for {name} (expected "
                    f"<labels_dir>/<image stem>.png, an integer map of "
                    f"{self.config.parsing.num_classes} classes)"
                )
            paths.append(path)
        return np.asarray(paths, dtype=object)

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x, eyes, ref, ref_eyes[, labels]}: every training pair once per epoch in a fresh random
        order (the original reshuffles its pair list every epoch); images resized to img_size, no augmentation."""
        c = self.config
        labels = c.parsing.labels if self.uses_parsing_net() else None
        if labels == "folder" and not c.parsing.labels_dir:
            self._label_paths(None)  # the error naming the empty field, before any pair is selected
        pr = self.pairs("train")
        f = pr.faces
        t = {
            "x": tf.constant(f.images[pr.target]),
            "eyes": tf.constant(f.eyes[pr.target]),
            "ref": tf.constant(f.images[pr.reference]),
            "ref_eyes": tf.constant(f.eyes[pr.reference]),
        }
        if labels == "dataset":
            t["labels"] = tf.constant(f.parsing[pr.target])
        elif labels == "folder":
            t["labels"] = tf.constant(self._label_paths(pr))
        order = streams.Epochs(len(pr.target), ops.seeds_for(c.seed, 0, 7)[0], what="the training pairs")
        s, minmax = c.img_size, bool(c.data.bytescale)

        def element(position):
            i = order(position)
            out = {
                "x": data_lib.image_transform(ops.decode(tf.gather(t["x"], i), False), s, minmax),
                "eyes": tf.gather(t["eyes"], i),
                "ref": data_lib.image_transform(ops.decode(tf.gather(t["ref"], i), False), s, minmax),
                "ref_eyes": tf.gather(t["ref_eyes"], i),
            }
            if "labels" in t:
                lab = ops.decode(tf.gather(t["labels"], i), labels == "folder", channels=1)
                out["labels"] = tf.cast(ops.resize_labels(lab, s)[..., 0], tf.int32)
            return out

        return streams.batches(
            element, local_batch, start_batch, process_index=process_index, process_count=process_count
        )

    # ---------------------------------------------------------------- sampling, evaluation

    def sample_inputs(self, n: int):
        pr = self.pairs("eval")
        return references.batch_of(
            pr, np.arange(min(n, len(pr.target))), self.config.img_size, minmax=self.config.data.bytescale
        )

    def sample_grids(self, state, inputs) -> dict:
        return sample.grids(self, state, inputs)

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        return sample.sample_folders(self, state, request, out_dir)

    def translate_inputs(self) -> tuple:
        eyes = self.config.sample.eye_centers
        where = "[y, x] of the left then the right eye, as fractions of the side"
        return (
            base.TranslateInput("src", "image", "face whose eyes are in-painted", required=True),
            base.TranslateInput("ref", "image", "reference face with open eyes", required=True),
            base.TranslateInput(
                "eyes", "numbers", f"the source's eyes: {where}", default=eyes, minimum=0.0, maximum=1.0, shape=(2, 2)
            ),
            base.TranslateInput(
                "ref_eyes",
                "numbers",
                f"the reference's eyes: {where}",
                default=eyes,
                minimum=0.0,
                maximum=1.0,
                shape=(2, 2),
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, eyes=None, ref_eyes=None) -> np.ndarray:
        """uint8 (len(src), S, S, 3): each face's eyes in-painted from its reference; eyes / ref_eyes (N, 2, 2) eye
        centres as fractions of the side (default config.sample.eye_centers); sample.py translate_arrays."""
        if mask is not None:
            raise FacejaxError("family 'aesgan': the hole is given by eye positions (eyes=), not a mask")
        return sample.translate_arrays(self, state, src, ref, eyes, ref_eyes)

    def evaluator(self, mesh=None, *, features=None):
        """evaluate(state, step, out_dir); `features` stands in for Inception (tests)."""
        return evaluate.Evaluator(self, mesh, features=features)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        rng, s = np.random.default_rng(seed), self.config.img_size
        img = lambda: rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32)  # noqa: E731
        eyes = np.broadcast_to(np.array([[0.45, 0.35], [0.45, 0.65]], np.float32), (batch_size, 2, 2)).copy()
        out = {"x": img(), "eyes": eyes, "ref": img(), "ref_eyes": eyes.copy()}
        if self.uses_parsing_net() and self.config.parsing.labels != "pseudo":
            out["labels"] = rng.integers(0, self.config.parsing.num_classes, (batch_size, s, s)).astype(np.int32)
        return out

    def torch_layout(self):
        return torch_layout.TorchLayout(
            self,
            {
                "G": ("G", nnx.eval_shape(lambda: self._build(nnx.Rngs(0))["G"])),
                "D": ("D", nnx.eval_shape(lambda: self._build(nnx.Rngs(0))["D"])),
            },
        )

    def import_files(self, source: str, step=None):
        return torch_layout.import_files(self, source, step)
