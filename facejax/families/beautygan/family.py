"""BeautyGAN as a Family the shared trainer drives: nets, optimizers, the training iteration, input, pictures.

One iteration is the original's (wtjiang98/BeautyGAN_pytorch ``solver_makeup.py`` train(); makeup.md 3.5),
with A = the non-makeup source (org_A) and B = the makeup reference (ref_B):

  D_A update  LSGAN, D_A(ref_B) -> 1, D_A(fake_A) -> 0, loss halved (D_A judges the makeup domain)
  D_B update  D_B(org_A) -> 1, D_B(fake_B) -> 0, halved; (fake_A, fake_B) = G(org_A, ref_B), no gradient
  G update    (every n_critic-th iteration)
              adv       MSE(D_A(fake_A), 1) + MSE(D_B(fake_B), 1), with the updated discriminators
              identity  G(org_A, org_A) ~ (org_A, org_A), G(ref_B, ref_B) ~ (ref_B, ref_B): L1 * lambda_rec *
                        lambda_idt each, the sum halved
              cycle     (rec_B, rec_A) = G(fake_B, fake_A): L1(rec_A, org_A) + L1(rec_B, ref_B), * lambda_rec
              perceptual MSE(VGG(fake_A), VGG(org_A)) + MSE(VGG(fake_B), VGG(ref_B)) at VGG-19 relu4_1, * lambda_rec *
                        lambda_vgg; cycle + perceptual halved together (the original's loss_rec)
              makeup    histogram losses (losses.py): lips lambda_his, skin lambda_his * lambda_skin_1 (fake_A)
                        / lambda_skin_2 (fake_B), each eye's shadow lambda_his * lambda_eye; not halved

Each discriminator call runs one power iteration of its spectral norms (the original's custom SpectralNorm
iterates on every forward), so D_A's u/v advance three times per iteration (real, fake, G's adversarial term),
in that order, as in the original. The power-iteration vectors live in the params next to the weights they
normalise and are in no optimizer (facejax.nn.spectral_norm.trainable_mask); the step writes them back after
each update.

State: params {G, D_A, D_B}, opt_state {G, D_A, D_B} (separate Adams, as the original), ema {} (the original keeps
no average: sampling, evaluation and export read params), frozen {vgg} (only when lambda_vgg > 0): the VGG-19 (or
VGG-16, config.vgg) read from config.vgg_weights when a run starts (``load_pretrained``), like StarGAN v2's FAN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax import images
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.beautygan import evaluate, losses, model, preprocess, sample, torch_layout
from facejax.input import pipelines
from facejax.nn import vgg as vgg_lib
from facejax.nn.spectral_norm import spectral_state, trainable_mask, with_spectral_state
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state

NETS = ("G", "D_A", "D_B")


def _path(value) -> str:
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)


def validate(config) -> None:
    """One clear error per wrong value of BeautyGAN's fields, naming the field and what was expected (the trainer
    checks its own)."""
    c, m = config, config.model
    if c.img_size < 16 or c.img_size % 4:
        raise FacejaxError(f"config.img_size={c.img_size}: expected a multiple of 4 >= 16 (256 in the original)")
    for name in ("g_conv_dim", "d_conv_dim", "d_repeat_num"):
        if m[name] < 1:
            raise FacejaxError(f"config.model.{name}={m[name]}: expected >= 1")
    if m.g_repeat_num < 0:
        raise FacejaxError(f"config.model.g_repeat_num={m.g_repeat_num}: expected >= 0")
    if model.output_size(c.img_size, m.d_repeat_num) < 1:
        raise FacejaxError(
            f"config.model.d_repeat_num={m.d_repeat_num} downsamples img_size={c.img_size} below the "
            f"discriminator's 4x4 convs; use fewer or a larger image"
        )
    if c.n_critic < 1:
        raise FacejaxError(f"config.n_critic={c.n_critic}: expected >= 1")
    if c.steps_per_epoch < 0 or c.eye_margin < 0:
        bad = [f for f in ("steps_per_epoch", "eye_margin") if c[f] < 0][0]
        raise FacejaxError(f"config.{bad}={c[bad]}: expected >= 0")
    for name in (
        "lambda_rec",
        "lambda_idt",
        "lambda_vgg",
        "lambda_his",
        "lambda_skin_1",
        "lambda_skin_2",
        "lambda_eye",
        "lr",
        "d_lr",
    ):
        if c[name] < 0:
            raise FacejaxError(f"config.{name}={c[name]}: expected >= 0")
    if c.vgg not in ("vgg19", "vgg16"):
        raise FacejaxError(
            f"config.vgg={c.vgg!r}: expected 'vgg19' (the reference's net.VGG, vgg_conv.pth) or 'vgg16' (torchvision's)"
        )
    layers = vgg_lib.VGG19_LAYERS if c.vgg == "vgg19" else tuple(vgg_lib.LAYERS)
    if c.vgg_layer not in layers:
        raise FacejaxError(
            f"config.vgg_layer={c.vgg_layer!r}: expected one of {', '.join(layers)} for config.vgg={c.vgg!r} "
            f"(the reference: relu4_1)"
        )
    choices = {"eye_box": losses.EYE_BOXES, "n_critic_count": ("epoch", "global")}
    for name, allowed in choices.items():
        if c[name] not in allowed:
            raise FacejaxError(f"config.{name}={c[name]!r}: expected one of {', '.join(allowed)}")
    if c.data.pairing not in ("random", "epochs"):
        raise FacejaxError(
            f"config.data.pairing={c.data.pairing!r}: expected 'random' (the original: both sides drawn with "
            f"replacement) or 'epochs' (every source once per epoch)"
        )
    names = [s.strip() for s in c.cls_list.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise FacejaxError(
            f"config.cls_list={c.cls_list!r}: expected two different names 'A,B' (the original's "
            f"'SYMIX,MAKEMIX': D_<A> judges the makeup domain, D_<B> the non-makeup one)"
        )


def _adam(lr, config):
    """torch.optim.Adam(lr, betas, eps=1e-8), no weight decay."""
    return optax.adam(lr, b1=config.beta1, b2=config.beta2, eps=1e-8)


class BeautyGAN(base.Family):
    name = "beautygan"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = (
        "family",
        "img_size",
        "model.g_conv_dim",
        "model.g_repeat_num",
        "model.d_conv_dim",
        "model.d_repeat_num",
        "vgg_layer",
    )
    folder_inputs = base.FolderInputs(
        src="faces without makeup (images directly in DIR)",
        ref="made-up faces (images directly in DIR)",
        ref_required=True,
    )
    original_files = (
        base.OriginalFile(
            "{epoch}_{iter}_G.pth",
            "Generator_branch's state_dict: all that sampling (makeup transfer) uses",
            "wtjiang98/BeautyGAN_pytorch's save_models() snapshots (a generator named otherwise: rename it, e.g. "
            "1_1_G.pth; --config.steps_per_epoch turns epochs into steps)",
        ),
        base.OriginalFile(
            "{epoch}_{iter}_D_SYMIX.pth, {epoch}_{iter}_D_MAKEMIX.pth",
            "the two discriminators (config.cls_list names them); without them, training starts fresh ones",
            "the original's save_models() snapshots",
            "optional",
        ),
        base.OriginalFile(
            "vgg_conv.pth (config.vgg_weights; vgg16-397923af.pth with config.vgg=vgg16)",
            "VGG-19 of the perceptual loss, relu4_1 as the reference's net.VGG (lambda_vgg > 0)",
            "bethgelab's vgg_conv.pth (the reference's README; torchvision's vgg19-dcbb9e9d.pth holds the same "
            "convs and is read too); asked for when training starts",
            "training",
        ),
    )
    headline_metrics = (base.Metric("FID/mean", "FID", "{:.2f}"), base.Metric("LPIPS/mean", "LPIPS", "{:.3f}"))

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.uses_vgg = config.lambda_vgg > 0
        self.cls = tuple(s.strip() for s in config.cls_list.split(","))
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        self.graphdefs, self._abstract = {}, {}
        for k, m in abstract.items():
            self.graphdefs[k], self._abstract[k] = split_state(m)
        self.optimizers = {
            "G": _adam(config.lr, config),
            "D_A": self._d_optimizer(),
            "D_B": self._d_optimizer(),
        }
        c = config
        self.his_weights = {
            "lips": c.lambda_his if c.lips else 0.0,
            "skin_1": c.lambda_his * c.lambda_skin_1 if c.skin else 0.0,
            "skin_2": c.lambda_his * c.lambda_skin_2 if c.skin else 0.0,
            "eye": c.lambda_his * c.lambda_eye if c.eye else 0.0,
        }
        self.sampler = sample.Sampler(config, self.generate)

    # ---------------------------------------------------------------- networks and optimizers

    def _build(self, rngs):
        m = self.config.model
        kw = dict(dtype=self.dtype, rngs=rngs)
        return {
            "G": model.Generator(m.g_conv_dim, m.g_repeat_num, **kw),
            "D_A": model.Discriminator(m.d_conv_dim, m.d_repeat_num, **kw),
            "D_B": model.Discriminator(m.d_conv_dim, m.d_repeat_num, **kw),
        }

    def _d_optimizer(self):
        """Adam on the weights; the spectral-norm vectors u, v get no update from it (the step sets them)."""
        labels = lambda p: jax.tree.map(lambda t: "train" if t else "sn", trainable_mask(p))  # noqa: E731
        return optax.multi_transform({"train": _adam(self.config.d_lr, self.config), "sn": optax.set_to_zero()}, labels)

    def param_counts(self) -> dict:
        """Trained parameters per network (weights and biases; the discriminators' u, v vectors excluded)."""
        out = {}
        for k in NETS:
            tree = self._abstract[k]
            mask = trainable_mask(tree)
            out[k] = int(sum(np.prod(x.shape) for x, t in zip(jax.tree.leaves(tree), jax.tree.leaves(mask)) if t))
        return out

    def init(self, root_key_data) -> TrainState:
        """A fresh state. The perceptual network's slot of state.frozen (lambda_vgg > 0) holds zeros here;
        ``load_pretrained`` fills it."""
        key = jax.random.wrap_key_data(root_key_data)
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))
        params = {k: split_state(m)[1] for k, m in nets.items()}
        opt_state = {k: self.optimizers[k].init(params[k]) for k in NETS}
        frozen = {}
        if self.uses_vgg and self.config.vgg == "vgg19":
            frozen["vgg"] = {
                k: {name: jnp.zeros(s, jnp.float32) for name, s in v.items()}
                for k, v in vgg_lib.vgg19_used_shapes(self.config.vgg_layer).items()
            }
        elif self.uses_vgg:
            frozen["vgg"] = {
                k: jnp.zeros(s[2:] + s[1:2] + s[:1] if len(s) == 4 else s, jnp.float32)
                for k, s in vgg_lib.used_shapes(self.config.vgg_layer).items()
            }
        return TrainState(
            step=jnp.zeros((), jnp.int32), rng=root_key_data, params=params, opt_state=opt_state, ema={}, frozen=frozen
        )

    def vgg_weights(self) -> dict:
        """The frozen perceptual network (config.vgg) from config.vgg_weights: the bethgelab vgg_conv.pth (or
        torchvision's vgg19) for "vgg19", torchvision's vgg16 file for "vgg16"; read with torch.load(weights_only=True)
        (or an .npz of the same tensors), a one-line error naming the file when it is missing or another network."""
        c = self.config
        if c.vgg == "vgg19":
            return vgg_lib.load_vgg_conv(c.vgg_weights, c.vgg_layer, "config.vgg_weights")
        return vgg_lib.load_vgg16(c.vgg_weights, c.vgg_layer, "config.vgg_weights")

    def training_files(self) -> dict:
        """The perceptual loss's VGG (lambda_vgg > 0): only training reads it, so `facejax import` and `facejax sample`
        go without it (base.TrainingFiles)."""
        return {"vgg": base.TrainingFile("vgg_weights", self.vgg_weights)} if self.uses_vgg else {}

    def load_pretrained(self, state: TrainState) -> TrainState:
        """The state with the perceptual network's weights read from config.vgg_weights (when lambda_vgg > 0)."""
        if not self.uses_vgg:
            return state
        return state.replace(frozen={**state.frozen, "vgg": self.vgg_weights()})

    def torch_layout(self):
        """The original PyTorch files of this config's networks (export / import); see torch_layout.py."""
        return torch_layout.TorchLayout(self.config)

    def import_files(self, source: str, step=None):
        """(step, state, {kind: path}, notes) from the original's files (facejax import)."""
        return torch_layout.import_files(self, source, step)

    # ---------------------------------------------------------------- the training iteration

    def _nets(self, params):
        return {k: bind(self.graphdefs[k], params[k]) for k in NETS}

    def generate(self, g_params, x, y):
        """(fake_A, fake_B) = G(x, y): x wearing y's makeup, y with its makeup removed."""
        return bind(self.graphdefs["G"], g_params)(x, y)

    def _vgg(self, params, x):
        if self.config.vgg == "vgg19":
            return vgg_lib.vgg19_features(params["vgg"], x, self.config.vgg_layer)
        return vgg_lib.features(params["vgg"], x, self.config.vgg_layer)

    def _d_update(self, name, params, opt_state, real, fake, w):
        def loss_fn(sub):
            d = bind(self.graphdefs[name], sub)
            real_loss = losses.weighted_mean(losses.lsgan(d(real), 1.0), w)
            fake_loss = losses.weighted_mean(losses.lsgan(d(fake), 0.0), w)
            sn = spectral_state(nnx.to_pure_dict(nnx.state(d)))
            return 0.5 * (real_loss + fake_loss), ({"real": real_loss, "fake": fake_loss}, sn)

        grads, (metrics, sn) = jax.grad(loss_fn, has_aux=True)(params[name])
        updates, new_opt = self.optimizers[name].update(grads, opt_state[name], params[name])
        new = with_spectral_state(optax.apply_updates(params[name], updates), sn)
        return {**params, name: new}, {**opt_state, name: new_opt}, metrics

    def g_loss(self, g_params, fakes, params, org, ref, masks_a, masks_b, w, norm=None):
        """(total, (terms, new spectral state of D_A, of D_B)) of the G update; terms are batch means, already
        weighted. params: D_A, D_B and (lambda_vgg > 0) the frozen vgg (state.params with state.frozen). ``fakes`` =
        G(org, ref) (the caller differentiates through them with the vjp of that forward: one generator pass serves
        the discriminator updates and this loss)."""
        c = self.config
        lam = c.lambda_rec
        G = bind(self.graphdefs["G"], g_params)
        fake_a, fake_b = fakes
        d_a, d_b = bind(self.graphdefs["D_A"], params["D_A"]), bind(self.graphdefs["D_B"], params["D_B"])
        mean = lambda v: losses.weighted_mean(v, w, norm)  # noqa: E731
        terms = {}
        if c.lambda_idt > 0:  # G(org, org) and G(ref, ref) in one batch (instance norm is per example)
            both = jnp.concatenate([org, ref])
            idt1, idt2 = G(both, both)
            n = org.shape[0]
            k = lam * c.lambda_idt
            terms["idt"] = (
                0.5
                * k
                * mean(
                    losses.l1(idt1[:n], org)
                    + losses.l1(idt2[:n], org)
                    + losses.l1(idt1[n:], ref)
                    + losses.l1(idt2[n:], ref)
                )
            )
        terms["adv_A"] = mean(losses.lsgan(d_a(fake_a), 1.0))
        terms["adv_B"] = mean(losses.lsgan(d_b(fake_b), 1.0))
        rec_b, rec_a = G(fake_b, fake_a)
        terms["rec_A"] = 0.5 * lam * mean(losses.l1(rec_a, org))
        terms["rec_B"] = 0.5 * lam * mean(losses.l1(rec_b, ref))
        if self.uses_vgg:
            k = 0.5 * lam * c.lambda_vgg
            terms["vgg_A"] = k * mean(
                losses.mse(self._vgg(params, fake_a), jax.lax.stop_gradient(self._vgg(params, org)))
            )
            terms["vgg_B"] = k * mean(
                losses.mse(self._vgg(params, fake_b), jax.lax.stop_gradient(self._vgg(params, ref)))
            )
        for name, v in losses.makeup_terms(fake_a, fake_b, org, ref, masks_a, masks_b, self.his_weights).items():
            terms[name] = mean(v)
        total = sum(terms.values())
        sn_a = spectral_state(nnx.to_pure_dict(nnx.state(d_a)))
        sn_b = spectral_state(nnx.to_pure_dict(nnx.state(d_b)))
        return total, (terms, sn_a, sn_b)

    def _g_update(self, params, opt_state, frozen, fakes, fakes_vjp, org, ref, masks_a, masks_b, w):
        (g_direct, g_fakes), (terms, sn_a, sn_b) = jax.grad(self.g_loss, argnums=(0, 1), has_aux=True)(
            params["G"], fakes, {**frozen, **params}, org, ref, masks_a, masks_b, w
        )
        grads = jax.tree.map(jnp.add, g_direct, fakes_vjp(g_fakes)[0])
        return self._apply_g(params, opt_state, grads, terms, sn_a, sn_b)

    def _apply_g(self, params, opt_state, grads, terms, sn_a, sn_b):
        """(params, opt_state, metrics) after G's update by `grads`; the Ds keep the spectral-norm vectors of G's
        loss pass (sn_a, sn_b); metrics: G's loss terms and their total."""
        updates, new_opt = self.optimizers["G"].update(grads, opt_state["G"], params["G"])
        params = {
            **params,
            "G": optax.apply_updates(params["G"], updates),
            "D_A": with_spectral_state(params["D_A"], sn_a),
            "D_B": with_spectral_state(params["D_B"], sn_b),
        }
        metrics = {f"G/{k.replace('/', '_')}": v for k, v in terms.items()}
        metrics["G/total"] = sum(terms.values())
        return params, {**opt_state, "G": new_opt}, metrics

    def example_weights(self, masks_a, eyes_a, masks_b, eyes_b):
        """1 for the examples the iteration trains on: all, or (eye term on) those with both eyes in both maps."""
        if self.his_weights["eye"] > 0:
            return (eyes_a & eyes_b).astype(jnp.float32)
        return jnp.ones(eyes_a.shape, jnp.float32)

    def g_turn(self, step):
        """Whether iteration `step` (0-based) updates G: the original's (i + 1) % ndis == 0 with i the iteration
        within the epoch (config.n_critic_count "epoch", epochs of config.steps_per_epoch iterations) or the global
        step ("global", or steps_per_epoch 0)."""
        c = self.config
        i = step % c.steps_per_epoch if c.n_critic_count == "epoch" and c.steps_per_epoch > 0 else step
        return (i + 1) % c.n_critic == 0

    def train_step(self, state: TrainState, batch):
        """One iteration; with config.grad_accum = k (facejax/train/accum.py) each update's gradient is the mean over
        k micro-batches, each loss normalised by the whole batch's example weights (`_micro_updates`)."""
        c = self.config
        org, ref = batch["x_src"], batch["x_ref"]
        masks_a, eyes_a = losses.region_masks(batch["parsing_src"], c.eye_margin, c.eye_box)
        masks_b, eyes_b = losses.region_masks(batch["parsing_ref"], c.eye_margin, c.eye_box)
        w = self.example_weights(masks_a, eyes_a, masks_b, eyes_b)
        p, o = state.params, state.opt_state
        if accum.steps(c) > 1:
            p, o, metrics = self._micro_updates(state, org, ref, masks_a, masks_b, w)
            return self._finish(state, p, o, metrics, w)
        # One pass of G(org, ref): its outputs feed the D updates (no gradient) and the G loss, which reaches G's
        # weights through this pass's vjp (G is the same until its own update).
        fakes, fakes_vjp = jax.vjp(lambda g: self.generate(g, org, ref), p["G"])
        fake_a, fake_b = jax.lax.stop_gradient(fakes)
        p, o, m_a = self._d_update("D_A", p, o, ref, fake_a, w)
        p, o, m_b = self._d_update("D_B", p, o, org, fake_b, w)
        metrics = {"D_A/real": m_a["real"], "D_A/fake": m_a["fake"], "D_B/real": m_b["real"], "D_B/fake": m_b["fake"]}

        def g_update(p, o):
            return self._g_update(p, o, state.frozen, fakes, fakes_vjp, org, ref, masks_a, masks_b, w)

        if c.n_critic == 1:
            p, o, g = g_update(p, o)
        else:
            zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(g_update, p, o)[2])
            p, o, g = jax.lax.cond(self.g_turn(state.step), g_update, lambda p, o: (p, o, zeros), p, o)
        metrics.update(g)
        return self._finish(state, p, o, metrics, w)

    def _finish(self, state, p, o, metrics, w):
        metrics["examples_used"] = jnp.sum(w)
        if self.his_weights["eye"] > 0:  # no usable example: the original skips the iteration altogether
            keep = jnp.any(w > 0)
            p = jax.tree.map(lambda new, old: jnp.where(keep, new, old), p, state.params)
            o = jax.tree.map(lambda new, old: jnp.where(keep, new, old), o, state.opt_state)
        return state.replace(step=state.step + 1, params=p, opt_state=o), metrics

    def _micro_updates(self, state, org, ref, masks_a, masks_b, w):
        """(params, opt_state, metrics) of the iteration with config.grad_accum = k > 1: G(org, ref) is computed per
        micro-batch inside each update (no gradient in the D updates); each weighted mean divides by the whole
        batch's max(sum w, 1) / k, so the mean over micro-batches is the big batch's. Every micro-batch's D forward
        starts from the same power-iteration vectors, so their new vectors agree (averaged: the big batch's)."""
        c, k = self.config, accum.steps(self.config)
        norm = jnp.maximum(jnp.sum(w), 1.0) / k
        micro = accum.split({"org": org, "ref": ref, "masks_a": masks_a, "masks_b": masks_b, "w": w}, k)
        p, o, metrics = state.params, state.opt_state, {}

        def d_update(name, real_key, fake_index, p, o):
            g_params = p["G"]

            def loss_fn(sub, m):
                fake = jax.lax.stop_gradient(self.generate(g_params, m["org"], m["ref"])[fake_index])
                d = bind(self.graphdefs[name], sub)
                real_loss = losses.weighted_mean(losses.lsgan(d(m[real_key]), 1.0), m["w"], norm)
                fake_loss = losses.weighted_mean(losses.lsgan(d(fake), 0.0), m["w"], norm)
                sn = spectral_state(nnx.to_pure_dict(nnx.state(d)))
                return 0.5 * (real_loss + fake_loss), ({"real": real_loss, "fake": fake_loss}, sn)

            grads, (m_d, sn) = accum.grad(loss_fn, p[name], micro, k, has_aux=True)
            updates, new_opt = self.optimizers[name].update(grads, o[name], p[name])
            new = with_spectral_state(optax.apply_updates(p[name], updates), sn)
            return {**p, name: new}, {**o, name: new_opt}, m_d

        p, o, m_a = d_update("D_A", "ref", 0, p, o)
        p, o, m_b = d_update("D_B", "org", 1, p, o)
        metrics = {"D_A/real": m_a["real"], "D_A/fake": m_a["fake"], "D_B/real": m_b["real"], "D_B/fake": m_b["fake"]}

        def g_update(p, o):
            others = {**state.frozen, **p}

            def loss_fn(g_params, m):
                fakes = self.generate(g_params, m["org"], m["ref"])
                args = (m["org"], m["ref"], m["masks_a"], m["masks_b"], m["w"])
                return self.g_loss(g_params, fakes, others, *args, norm=norm)

            grads, (terms, sn_a, sn_b) = accum.grad(loss_fn, p["G"], micro, k, has_aux=True)
            return self._apply_g(p, o, grads, terms, sn_a, sn_b)

        if c.n_critic == 1:
            p, o, g = g_update(p, o)
        else:
            zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(g_update, p, o)[2])
            p, o, g = jax.lax.cond((state.step + 1) % c.n_critic == 0, g_update, lambda p, o: (p, o, zeros), p, o)
        metrics.update(g)
        return p, o, metrics

    # ---------------------------------------------------------------- input

    def _source(self, split: str, process_index: int = 0, process_count: int = 1):
        return pipelines.load_makeup_source(self.config.data, split, process_index, process_count)

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x_src, y_src, parsing_src, x_ref, y_ref, parsing_ref}: a random non-makeup face (source) with
        a random makeup face (reference), both drawn with replacement as the original's random.randint
        (config.data.pairing "random"; "epochs": every source once per epoch); images and parsing
        maps resized to img_size (bilinear / nearest). The original has no augmentation (config.data.flip and
        randcrop_prob default off). A pure function of the position: resuming continues exactly."""
        c = self.config
        src = self._source("train", process_index, process_count)
        return pipelines.makeup_pairs(
            src,
            local_batch,
            start_batch=start_batch,
            seed=c.seed,
            img_size=c.img_size,
            process_index=process_index,
            randcrop_prob=c.data.randcrop_prob,
            flip=bool(c.data.flip),
            source_draw="uniform" if c.data.pairing == "random" else "epochs",
            resize_method=c.data.resize,
        )

    def eval_faces(self, max_each: int = 0):
        """(non-makeup, makeup) of the eval split: dicts {"x": (N, S, S, 3) float32 [-1, 1], "parsing": (N, S, S)
        int32, "file_name": list} in table order, the first max_each of each (0 = all)."""
        c = self.config
        plain, made_up = pipelines.split_makeup(self._source("eval"))
        out = []
        for part in (plain, made_up):
            n = part.num_examples if not max_each else min(max_each, part.num_examples)
            if n == 0:
                raise FacejaxError(f"{part.name} is empty: the eval split needs makeup and non-makeup faces")
            xs, ps = [], []
            recipe, parsing_recipe = preprocess.recipe(c), preprocess.parsing_recipe(c)
            for i in range(n):  # as the reference's test loader: PIL's Resize(img_size) (preprocess.py)
                image, parsing = part.table["image"][i], part.table["parsing"][i]
                if part.from_files:
                    image, parsing = _path(image), _path(parsing)
                xs.append(images.prepare(image, recipe, f"{part.name} image {i}"))
                pm = images.prepare_map(parsing, parsing_recipe, "nearest", f"{part.name} parsing map {i}")
                ps.append(pm.astype(np.int32))
            names = [
                f.decode() if isinstance(f, bytes) else str(f)
                for f in (part.table["file_name"][:n] if "file_name" in part.table else [f"{i:05d}" for i in range(n)])
            ]
            out.append({"x": np.stack(xs).astype(np.float32), "parsing": np.stack(ps), "file_name": names})
        return out[0], out[1]

    # ---------------------------------------------------------------- sampling

    def transfer(self, params, x_src, x_ref):
        """G(x_src, x_ref)[0] from params["G"]: each source wearing its reference's makeup (the evaluation
        protocol's output)."""
        return self.generate(params["G"], x_src, x_ref)[0]

    def sample_inputs(self, n: int):
        plain, made_up = self.eval_faces(n)
        return {"x_src": plain["x"], "x_ref": made_up["x"]}

    def sample_grids(self, state, inputs) -> dict:
        return self.sampler.grids(state.params["G"], inputs)

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        """facejax sample --src/--ref: every source (non-makeup) with every reference (makeup), both directions
        (sample.py Sampler.folders)."""
        if not request.ref:
            raise FacejaxError(
                "family 'beautygan': --ref is required with --src (the made-up faces whose makeup the --src faces take)"
            )
        return self.sampler.folders(state.params["G"], request.src, request.ref, out_dir)

    def translate_inputs(self) -> tuple:
        return (
            base.TranslateInput("src", "image", "face without makeup", required=True),
            base.TranslateInput("ref", "image", "made-up face", required=True),
            base.TranslateInput(
                "direction",
                "choice",
                "makeup: the source wearing the reference's makeup; demakeup: the reference with its makeup removed",
                default="makeup",
                choices=("makeup", "demakeup"),
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, direction: str = "makeup") -> np.ndarray:
        """uint8 (len(src), len(ref), S, S, 3): src[i] (no makeup) wearing ref[j]'s makeup; direction="demakeup":
        (len(ref), len(src), S, S, 3), ref[j] with its makeup removed, guided by src[i] (sample.py)."""
        if ref is None or mask is not None:
            raise FacejaxError("family 'beautygan': give src (faces without makeup) and ref (made-up faces); no mask")
        return self.sampler.translate_arrays(state.params["G"], src, ref, direction)

    # ---------------------------------------------------------------- evaluation

    @classmethod
    def sweep_rows(cls) -> dict:
        """Sweeps: the histogram-loss ablation rows (configs/beautygan.py ABLATIONS: the original's --lips / --eye /
        --skin flags)."""
        return {
            "full": "full model",
            "no_lips": "w/o L_lips",
            "no_shadow": "w/o L_shadow",
            "no_face": "w/o L_face",
            "no_makeup": "w/o any makeup loss",
        }

    @classmethod
    def sweep_eval_files(cls) -> tuple:
        """The metric weight files the Table 2 protocol reads."""
        return ("eval.inception_weights", "eval.alexnet_weights")

    def evaluator(self, mesh=None, *, features=None):
        """IPM-Net's protocol (evaluate.py): FID and LPIPS of makeup transfers with random references, mean of
        config.eval.runs runs. Reads the metric weights now. evaluate(state, step, out_dir) -> results."""
        return evaluate.Evaluator(self, mesh, features=features)

    # ---------------------------------------------------------------- benchmarking (facejax bench)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        """Random images and face-like parsing maps (every region present) shaped like train_dataset's."""
        c, rng = self.config, np.random.default_rng(seed)
        s = c.img_size
        shape = (batch_size, s, s, 3)
        parsing = np.zeros((batch_size, s, s, 1), np.int32)
        q = s // 8
        parsing[:, 2 * q : 7 * q, 2 * q : 6 * q] = 1  # face
        parsing[:, 3 * q : int(3.5 * q), int(2.5 * q) : int(3.5 * q)] = 5
        parsing[:, 3 * q : int(3.5 * q), int(4.5 * q) : int(5.5 * q)] = 4
        parsing[:, 4 * q : 5 * q, int(3.5 * q) : int(4.5 * q)] = 6
        parsing[:, int(5.5 * q) : 6 * q, 3 * q : 5 * q] = 7
        parsing[:, 6 * q : int(6.5 * q), 3 * q : 5 * q] = 9
        image = lambda: rng.uniform(-1.0, 1.0, shape).astype(np.float32)  # noqa: E731
        return {
            "x_src": image(),
            "y_src": np.zeros((batch_size,), np.int32),
            "parsing_src": parsing,
            "x_ref": image(),
            "y_ref": np.ones((batch_size,), np.int32),
            "parsing_ref": parsing.copy(),
        }
