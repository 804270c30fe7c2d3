"""IPM-Net as a Family the shared trainer drives: nets, optimizers, the training iteration, input, pictures.

One iteration is the original's (``trainer.py`` IPMNet_Trainer; makeup.md 2.6): dis_update, then gen_update,
with A = makeup faces, B = non-makeup faces, one generator shared by both domains, and random style codes
s ~ N(0, I) for the cross-domain decodes (MUNIT style; reference style codes are used only at test time).

  dis_update  x_ba = dec(c_b, s_a, r_b), x_ab = dec(c_a, s_b, r_a) (fresh codes and texture scales, no gradient);
              per scale of dis_a: mean(D(x_ba)^2) + mean((D(x_a) - 1)^2) + gp_w * mean_b sum (d sum D(x_a) / d x_a)^2,
              the same for dis_b with (x_ab, x_b); total = gan_w * (dis_a + dis_b)
  gen_update  encode both (fresh codes and scales), x_a_rec, x_b_rec, x_ba, x_ab, re-encode x_ab with (m_a, t_a)
              and x_ba with (m_b, t_b), x_aba, x_bab; terms (L1 = mean abs):
              gan_w        sum over scales mean((dis_a(x_ba) - 1)^2) + the same for dis_b(x_ab)
              recon_x_w    L1(x_a_rec, x_a) + L1(x_b_rec, x_b)
              recon_s_w    L1(s_a_rec, s_a) + L1(s_b_rec, s_b)          (the random codes)
              recon_c_w    L1(c_a_rec, c_a) + L1(c_b_rec, c_b)
              recon_x_cyc_w L1(x_aba, x_a) + L1(x_bab, x_b)
              vgg_w        L1(R(x_ba), R(x_b)) + L1(R(x_ab), R(x_a))   (R: the identity ResNet's features)
              back_w       L1(x_ab * m_a, x_a * m_a) + L1(x_ba * m_b, x_b * m_b)
              fore_w       L1(x_a_rec * (1 - m_a), x_a * (1 - m_a)) + the same for b

Optimizers: Adam (beta1, beta2) with coupled weight decay (PyTorch's ``weight_decay``: wd * p added to the
gradient), lr * gamma^((i + 1) // step_size) at iteration i (MUNIT's loop steps the StepLR before the updates).
``adam_double_step`` (default True, the original): the generator's parameters sit twice in its Adam's list
(gen_a + gen_b, the same module), so PyTorch steps each twice per iteration with the same gradient; False is
one step. Original bugs kept by default, with switches: the identity ResNet is never loaded (identity.pretrained
False) and its BatchNorm runs in train mode from the first image display on (identity.bn_train_from_step 500;
-1 = always eval, as intended); the texture scale is random in every encode call, test time included
(texture_random; eval and sampling use config.eval.texture_u / config.sample.texture_u).

State: params {G, D_A, D_B}, opt_state {G, D_A, D_B}, ema {} (the original keeps no average: sampling, evaluation
and export read params), frozen {R}: the identity ResNet, in no optimizer, randomly initialised from the seed, or
the weights of config.identity.weights read by ``load_pretrained`` when identity.pretrained.

``facejax prepare ipmnet_maps`` (``prepare_steps``) writes the masks and textures that ``facejax sample --src``
reads beside its images.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.ipmnet import evaluate, identity, model, preprocess, sample, torch_layout
from facejax.families.ipmnet.settings import resnet_layers, validate
from facejax.input import ops, pipelines, streams
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state, step_key

NETS = ("G", "D_A", "D_B")


def _flat(tree, path=()):
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, path + (k,)))
        return out
    return {path: tree}


def l1(a, b):
    return jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))


class IPMNet(base.Family):
    name = "ipmnet"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = (
        "family",
        "img_size",
        "model.gen.dim",
        "model.gen.mlp_dim",
        "model.gen.style_dim",
        "model.gen.n_downsample",
        "model.gen.n_res",
        "model.dis.dim",
        "model.dis.n_layer",
        "model.dis.num_scales",
        "identity.width",
        "identity.layers",
    )

    folder_inputs = base.FolderInputs(
        src="faces without makeup: DIR/images/<name> with DIR/segs/<name>.png (MT parsing maps) or DIR/mask/ + "
        "DIR/highcontract/ (facejax prepare ipmnet_maps)",
        ref="made-up faces: DIR/images/<name> or images directly in DIR",
        ref_required=True,
    )
    original_files = (
        base.OriginalFile(
            "gen_{step:08d}.pt",
            "{'a': G, 'b': G}: the shared generator (encoders, decoder), all that sampling uses",
            "huangzhikun1995/IPM-Net's trainer.save snapshots (outputs/<name>/checkpoints/)",
        ),
        base.OriginalFile(
            "dis_{step:08d}.pt",
            "{'a': dis_a, 'b': dis_b}: the discriminators; without it, training starts fresh ones",
            "the original's trainer.save snapshots",
            "optional",
        ),
        base.OriginalFile(
            "config.identity.weights",
            "the identity ResNet's weights (only with identity.pretrained; the original never loads any)",
            "a torchvision ResNet state_dict; asked for when training starts",
            "training",
        ),
    )
    headline_metrics = (base.Metric("FID/mean", "FID", "{:.2f}"), base.Metric("LPIPS/mean", "LPIPS", "{:.3f}"))

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        self.graphdefs, self._abstract = {}, {}
        for k, m in abstract.items():
            self.graphdefs[k], self._abstract[k] = split_state(m)
        self.optimizers = {k: self._adam() for k in NETS}
        self.sampler = sample.Sampler(config, self.makeup)

    # ---------------------------------------------------------------- networks and optimizers

    def _build(self, rngs):
        g, d, r = self.config.model.gen, self.config.model.dis, self.config.identity
        kw = dict(dtype=self.dtype, rngs=rngs)
        return {
            "G": model.Generator(g.dim, g.mlp_dim, g.style_dim, g.n_downsample, g.n_res, g.activ, g.pad_type, **kw),
            "D_A": model.Discriminator(d.dim, d.n_layer, d.num_scales, d.activ, d.pad_type, **kw),
            "D_B": model.Discriminator(d.dim, d.n_layer, d.num_scales, d.activ, d.pad_type, **kw),
            "R": model.ResNet(resnet_layers(self.config), r.width, rngs=rngs),
        }

    def _adam(self):
        """torch.optim.Adam(betas, eps 1e-8, weight_decay) without the learning rate (the step applies it)."""
        c = self.config
        return optax.chain(optax.add_decayed_weights(c.weight_decay), optax.scale_by_adam(c.beta1, c.beta2, 1e-8))

    def learning_rate(self, step):
        """StepLR(step_size, gamma) stepped before the updates of iteration `step` (0-based)."""
        c = self.config
        return c.lr * jnp.power(c.lr_gamma, ((step + 1) // c.lr_step).astype(jnp.float32))

    def param_counts(self) -> dict:
        out = {k: int(sum(np.prod(x.shape) for x in jax.tree.leaves(self._abstract[k]))) for k in NETS}
        r = {k: v for k, v in _flat(self._abstract["R"]).items() if k[-1] not in ("mean", "var")}
        out["R (identity, frozen)"] = int(sum(np.prod(x.shape) for x in r.values()))
        return out

    def init(self, root_key_data) -> TrainState:
        key = jax.random.wrap_key_data(root_key_data)
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))
        state = {k: split_state(m)[1] for k, m in nets.items()}
        params = {k: state[k] for k in NETS}
        opt_state = {k: self.optimizers[k].init(params[k]) for k in NETS}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state=opt_state,
            ema={},
            frozen={"R": state["R"]},
        )

    def identity_layout(self):
        return torch_layout.module_layout(torch_layout.abstract_net(self.config, "R"), "R")

    def _identity_weights(self):
        return jax.tree.map(jnp.asarray, identity.load(self.config.identity.weights, self.identity_layout()))

    def training_files(self) -> dict:
        """With identity.pretrained, R's weights (config.identity.weights): only training reads them, so `facejax
        import` and `facejax sample` go without them (base.TrainingFiles)."""
        if not self.config.identity.pretrained:
            return {}
        return {"R": base.TrainingFile("identity.weights", self._identity_weights)}

    def load_pretrained(self, state: TrainState) -> TrainState:
        """With identity.pretrained, R from config.identity.weights (the paper's intent; the original never does)."""
        if not self.config.identity.pretrained:
            return state
        return state.replace(frozen={**state.frozen, "R": self._identity_weights()})

    def torch_layout(self):
        return torch_layout.TorchLayout(self.config)

    def import_files(self, source: str, step=None):
        return torch_layout.import_files(self, source, step)

    # ---------------------------------------------------------------- the training iteration

    def _u(self, key, n):
        """The texture scale draws of n encode calls: U(0, 1) (the original's random.random()) or fixed."""
        if self.config.texture_random:
            return jax.random.uniform(key, (n,))
        return jnp.full((n,), self.config.texture_u, jnp.float32)

    def _identity_features(self, r_params, x, step, groups):
        net = bind(self.graphdefs["R"], r_params)
        k = self.config.identity.bn_train_from_step
        if k < 0:
            return net(x, False, groups)
        if k == 0:
            return net(x, True, groups)
        return jax.lax.cond(step >= k, lambda: net(x, True, groups), lambda: net(x, False, groups))

    def dis_loss(self, d_params, name, fake, real):
        """(gan_w-less loss of one MsImageDis, its per-scale gradient penalty sum)."""
        gp_w = self.config.gp_w
        d = bind(self.graphdefs[name], d_params)
        outs_fake = d(fake)
        outs_real, vjp = jax.vjp(lambda x: d(x), real)
        loss, reg = 0.0, 0.0
        for s, (o0, o1) in enumerate(zip(outs_fake, outs_real)):
            loss = loss + jnp.mean(o0**2) + jnp.mean((o1 - 1.0) ** 2)
            if gp_w > 0:
                cot = [jnp.ones_like(o) if i == s else jnp.zeros_like(o) for i, o in enumerate(outs_real)]
                (g,) = vjp(cot)
                reg = reg + jnp.mean(jnp.sum(jnp.square(g.astype(jnp.float32)).reshape(g.shape[0], -1), axis=1))
        return loss + gp_w * reg, reg

    def gen_loss(self, g_params, params, batch, s_a, s_b, u, step):
        """(total, terms): terms already weighted; u: (4,) texture draws of the 4 encode calls. params: the
        discriminators D_A, D_B and the identity net R (state.params with state.frozen)."""
        c = self.config
        G = bind(self.graphdefs["G"], g_params)
        x_a, m_a, t_a, x_b, m_b, t_b = (batch[k] for k in ("x_a", "m_a", "t_a", "x_b", "m_b", "t_b"))
        n = x_a.shape[0]
        cat = lambda *xs: jnp.concatenate(xs)  # noqa: E731
        per = lambda a, b: cat(jnp.full((n,), a), jnp.full((n,), b))  # noqa: E731
        cc, ss, rr = G.encode(cat(x_a, x_b), cat(m_a, m_b), cat(t_a, t_b), per(u[0], u[1]))
        c_a, c_b, sp_a, sp_b, r_a, r_b = cc[:n], cc[n:], ss[:n], ss[n:], rr[:n], rr[n:]
        outs = G.decode(cat(c_a, c_b, c_b, c_a), cat(sp_a, sp_b, s_a, s_b), cat(r_a, r_b, r_b, r_a))
        x_a_rec, x_b_rec, x_ba, x_ab = outs[:n], outs[n : 2 * n], outs[2 * n : 3 * n], outs[3 * n :]
        cc2, ss2, rr2 = G.encode(cat(x_ab, x_ba), cat(m_a, m_b), cat(t_a, t_b), per(u[2], u[3]))
        c_a_rec, c_b_rec, s_b_rec, s_a_rec = cc2[:n], cc2[n:], ss2[:n], ss2[n:]
        cyc = G.decode(cc2, cat(sp_a, sp_b), rr2)
        x_aba, x_bab = cyc[:n], cyc[n:]
        terms = {}
        if c.gan_w > 0:
            d_a, d_b = bind(self.graphdefs["D_A"], params["D_A"]), bind(self.graphdefs["D_B"], params["D_B"])
            terms["gan_a"] = c.gan_w * sum(jnp.mean((o - 1.0) ** 2) for o in d_a(x_ba))
            terms["gan_b"] = c.gan_w * sum(jnp.mean((o - 1.0) ** 2) for o in d_b(x_ab))
        terms["recon_x_a"] = c.recon_x_w * l1(x_a_rec, x_a)
        terms["recon_x_b"] = c.recon_x_w * l1(x_b_rec, x_b)
        terms["recon_s_a"] = c.recon_s_w * l1(s_a_rec, s_a)
        terms["recon_s_b"] = c.recon_s_w * l1(s_b_rec, s_b)
        terms["recon_c_a"] = c.recon_c_w * l1(c_a_rec, c_a)
        terms["recon_c_b"] = c.recon_c_w * l1(c_b_rec, c_b)
        terms["cyc_a"] = c.recon_x_cyc_w * l1(x_aba, x_a)
        terms["cyc_b"] = c.recon_x_cyc_w * l1(x_bab, x_b)
        if c.vgg_w > 0:
            f = self._identity_features(params["R"], cat(x_ba, x_b, x_ab, x_a), step, 4)
            terms["vgg_a"] = c.vgg_w * l1(f[:n], jax.lax.stop_gradient(f[n : 2 * n]))
            terms["vgg_b"] = c.vgg_w * l1(f[2 * n : 3 * n], jax.lax.stop_gradient(f[3 * n :]))
        terms["back_a"] = c.back_w * l1(x_ab * m_a, x_a * m_a)
        terms["back_b"] = c.back_w * l1(x_ba * m_b, x_b * m_b)
        terms["fore_a"] = c.fore_w * l1(x_a_rec * (1 - m_a), x_a * (1 - m_a))
        terms["fore_b"] = c.fore_w * l1(x_b_rec * (1 - m_b), x_b * (1 - m_b))
        return sum(terms.values()), terms

    def cross_decodes(self, g_params, batch, s_a, s_b, u):
        """(x_ba, x_ab) of dis_update: b's content with code s_a, a's with s_b; u: (2,) texture draws."""
        G = bind(self.graphdefs["G"], g_params)
        n = batch["x_a"].shape[0]
        cat = jnp.concatenate
        per = cat([jnp.full((n,), u[0]), jnp.full((n,), u[1])])
        cc, _, rr = G.encode(
            cat([batch["x_a"], batch["x_b"]]), cat([batch["m_a"], batch["m_b"]]), cat([batch["t_a"], batch["t_b"]]), per
        )
        out = G.decode(cat([cc[n:], cc[:n]]), cat([s_a, s_b]), cat([rr[n:], rr[:n]]))
        return out[:n], out[n:]

    def _apply(self, name, params, opt_state, grads, lr, times=1):
        p, o = params[name], opt_state[name]
        for _ in range(times):
            updates, o = self.optimizers[name].update(grads, o, p)
            p = jax.tree.map(lambda w, u: w - lr * u, p, updates)
        return {**params, name: p}, {**opt_state, name: o}

    def train_step(self, state: TrainState, batch):
        """One iteration (dis_update, gen_update); with config.grad_accum = k each update's gradient is the mean over
        k micro-batches (facejax/train/accum.py): the style codes are drawn for the whole batch and split with it,
        the texture draws u are per call (one for every example), so they are shared by the micro-batches. The
        identity net's train-mode BatchNorm (identity.bn_train_from_step) normalises each micro-batch by its own
        statistics (close to, not equal to, the big batch's)."""
        c = self.config
        k = accum.steps(c)
        batch = {name: batch[name] for name in ("x_a", "m_a", "t_a", "x_b", "m_b", "t_b")}
        keys = jax.random.split(step_key(state), 6)
        n, sd = batch["x_a"].shape[0], c.model.gen.style_dim
        u = self._u(keys[0], 6)
        lr = self.learning_rate(state.step)
        p, o = state.params, state.opt_state

        # dis_update
        codes = {"s_a": jax.random.normal(keys[1], (n, sd)), "s_b": jax.random.normal(keys[2], (n, sd))}
        micro = accum.split({**batch, **codes}, k)
        g_params = p["G"]

        def d_total(dp, m):
            x_ba, x_ab = jax.lax.stop_gradient(self.cross_decodes(g_params, m, m["s_a"], m["s_b"], u[:2]))
            la, ra = self.dis_loss(dp[0], "D_A", x_ba, m["x_a"])
            lb, rb = self.dis_loss(dp[1], "D_B", x_ab, m["x_b"])
            return c.gan_w * (la + lb), {"D/a": la, "D/b": lb, "D/gp_a": ra, "D/gp_b": rb}

        (d_loss, metrics), (g_a, g_b) = accum.value_and_grad(d_total, (p["D_A"], p["D_B"]), micro, k, has_aux=True)
        p, o = self._apply("D_A", p, o, g_a, lr)
        p, o = self._apply("D_B", p, o, g_b, lr)
        metrics = {**metrics, "D/total": d_loss}

        # gen_update
        codes = {"s_a": jax.random.normal(keys[3], (n, sd)), "s_b": jax.random.normal(keys[4], (n, sd))}
        micro = accum.split({**batch, **codes}, k)
        others = {**state.frozen, **p}

        def g_total(gp, m):
            return self.gen_loss(gp, others, m, m["s_a"], m["s_b"], u[2:], state.step)

        (g_loss, terms), grads = accum.value_and_grad(g_total, p["G"], micro, k, has_aux=True)
        p, o = self._apply("G", p, o, grads, lr, 2 if c.adam_double_step else 1)
        metrics.update({f"G/{name}": v for name, v in terms.items()})
        metrics["G/total"] = g_loss
        metrics["lr"] = lr
        return state.replace(step=state.step + 1, params=p, opt_state=o), metrics

    # ---------------------------------------------------------------- input

    def _source(self, split: str, process_index: int = 0, process_count: int = 1):
        return pipelines.load_makeup_source(self.config.data, split, process_index, process_count)

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x_a, m_a, t_a, parsing_a, x_b, ...}: A = makeup, B = non-makeup (preprocess.pair_element),
        with masks and textures computed from the parsing maps in the pipeline."""
        c = self.config
        plain, made_up = pipelines.split_makeup(self._source("train", process_index, process_count))
        seed = ops.seeds_for(c.seed, process_index, 3)[0]
        element = preprocess.pair_element(
            made_up,
            plain,
            pairing=c.data.pairing,
            seed=seed,
            img_size=c.img_size,
            load_size=c.data.load_size,
            flip=bool(c.data.flip),
            resize_method=c.data.resize,
        )
        return streams.batches(element, local_batch, start_batch)

    def eval_faces(self, max_each: int = 0):
        """(non-makeup, makeup) of the eval split: {"x", "parsing", "extra" (mask, texture: (N, S, S, 2)),
        "file_name"}, the first max_each of each (0 = all), loaded as in training without the flip."""
        c = self.config
        plain, made_up = pipelines.split_makeup(self._source("eval"))
        out = []
        for part in (plain, made_up):
            n = part.num_examples if not max_each else min(max_each, part.num_examples)
            if n == 0:
                raise FacejaxError(f"{part.name} is empty: the eval split needs makeup and non-makeup faces")
            xs, ps, extra = [], [], []
            for i in range(n):
                img, parsing, mask, tex = preprocess.load_example(
                    part.table["image"][i], part.table["parsing"][i], part.from_files, c.data.load_size, c.data.resize
                )
                d = preprocess.crop_and_flip(
                    {"x": img, "p": tf.cast(parsing, tf.int32), "m": mask, "t": tex}, c.img_size, tf.constant(False)
                )
                xs.append(d["x"].numpy() / 127.5 - 1.0)
                ps.append(d["p"].numpy()[..., 0])
                extra.append(np.concatenate([d["m"].numpy(), d["t"].numpy()], axis=-1))
            names = [
                f.decode() if isinstance(f, bytes) else str(f)
                for f in (part.table["file_name"][:n] if "file_name" in part.table else range(n))
            ]
            out.append(
                {
                    "x": np.stack(xs).astype(np.float32),
                    "parsing": np.stack(ps),
                    "extra": np.stack(extra).astype(np.float32),
                    "file_name": names,
                }
            )
        return out[0], out[1]

    # ---------------------------------------------------------------- inference (test.py)

    def makeup(self, g_params, x, mask, texture, ref, alpha, u):
        """test.py: content, S_x, r = E(x); S_y = E_S(ref); out = decode(content, a S_x + (1 - a) S_y, r).
        alpha: scalar or (B,); u: scalar or (B,) texture draw."""
        G = bind(self.graphdefs["G"], g_params)
        n = x.shape[0]
        content, s_x, r = G.encode(x, mask, texture, jnp.broadcast_to(jnp.asarray(u, jnp.float32), (n,)))
        s_y = G.enc_style(ref).astype(jnp.float32)
        a = jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), (n,))[:, None]
        return G.decode(content, a * s_x + (1.0 - a) * s_y, r)

    def transfer(self, params, x_src, x_ref, extra_src):
        """The evaluation protocol's output from params["G"]: level config.sample.level, texture draw
        config.eval.texture_u."""
        c = self.config
        return self.makeup(
            params["G"], x_src, extra_src[..., :1], extra_src[..., 1:], x_ref, c.sample.level, c.eval.texture_u
        )

    def sample_inputs(self, n: int):
        plain, made_up = self.eval_faces(n)
        return {"x_src": plain["x"], "extra_src": plain["extra"], "x_ref": made_up["x"]}

    def sample_grids(self, state, inputs) -> dict:
        return self.sampler.grids(state.params["G"], inputs)

    def sample_folders(self, state, request: base.FolderRequest, out_dir: str) -> dict:
        """facejax sample --src/--ref: every --src face (with its maps) with every --ref face's makeup
        (sample.py Sampler.folders)."""
        if not request.ref:
            raise FacejaxError(
                "family 'ipmnet': --ref is required with --src (the made-up faces whose makeup the --src faces take)"
            )
        return self.sampler.folders(state.params["G"], request.src, request.ref, out_dir)

    def translate_inputs(self) -> tuple:
        return (
            base.TranslateInput("src", "image", "face without makeup", required=True),
            base.TranslateInput(
                "parsing",
                "labels",
                "the source's MT face-parsing map (a PNG of labels 0..13, the file segs/ holds)",
                required=True,
                minimum=0,
                maximum=13,
                integer=True,
            ),
            base.TranslateInput("ref", "image", "made-up face whose makeup is transferred", required=True),
            base.TranslateInput(
                "alpha",
                "number",
                "makeup level: 0 = the reference's full makeup, 1 = none",
                default=float(self.config.sample.level),
                minimum=0.0,
                maximum=1.0,
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, parsing=None, alpha=None) -> np.ndarray:
        """uint8 (len(src), len(ref), S, S, 3): src[i] wearing ref[j]'s makeup at level alpha (0 = the reference's
        full makeup, 1 = none; default config.sample.level). parsing: one MT parsing map (labels 0..13) per source,
        from which the makeup mask and texture are computed as for --src's segs/ (sample.py)."""
        if mask is not None:
            raise FacejaxError("family 'ipmnet': the makeup area comes from parsing= (MT parsing maps), not a mask")
        return self.sampler.translate_arrays(state.params["G"], src, parsing, ref, alpha)

    # ---------------------------------------------------------------- evaluation

    def evaluator(self, mesh=None, *, features=None):
        """IPM-Net's Table 2 protocol (facejax/metrics/makeup_protocol.py, shared with BeautyGAN): every non-makeup
        eval face with a random makeup reference, FID and LPIPS, mean of config.eval.runs runs. Reads the metric
        weights now. evaluate(state, step, out_dir) -> results."""
        return evaluate.Evaluator(self, mesh, features=features)

    # ---------------------------------------------------------------- facejax prepare

    @classmethod
    def prepare_steps(cls) -> dict:
        return {
            "ipmnet_maps": base.PrepareStep(
                help="IPM-Net's mask and texture files for --manual_dir's images/ with their MT parsing maps segs/ "
                "(ipmnet_maps --manual_dir=DIR --out=OUT)",
                run=prepare_maps,
                summary=maps_summary,
            )
        }

    # ---------------------------------------------------------------- benchmarking (facejax bench)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        """Random images with face-like masks and textures shaped like train_dataset's batches."""
        s, rng = self.config.img_size, np.random.default_rng(seed)
        mask = np.ones((batch_size, s, s, 1), np.float32)
        q = s // 8
        mask[:, 2 * q : 7 * q, 2 * q : 6 * q] = 0.0
        out = {}
        for side in ("a", "b"):
            out[f"x_{side}"] = rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32)
            out[f"m_{side}"] = mask.copy()
            out[f"t_{side}"] = (rng.uniform(0, 0.3, mask.shape) * (1 - mask)).astype(np.float32)
        return out


def prepare_maps(args: base.PrepareArgs) -> dict:
    """`facejax prepare ipmnet_maps --manual_dir=DIR --out=OUT`: IPM-Net's mask and texture files for DIR/images
    with their MT parsing maps DIR/segs (preprocess.write_maps)."""
    manual_dir, out = args.manual_dir, args.out
    if not manual_dir or not os.path.isdir(os.path.join(manual_dir, "images")):
        raise FacejaxError(
            f"ipmnet_maps: --manual_dir {manual_dir!r} must hold images/ and segs/ (MT parsing maps of the same names)"
        )
    if not out:
        raise FacejaxError("ipmnet_maps: --out is required (it gets images/, mask/, highcontract/)")
    return preprocess.write_maps(os.path.join(manual_dir, "images"), os.path.join(manual_dir, "segs"), out)


def maps_summary(result: dict) -> str:
    return f"wrote {result['images']} image(s) with mask/ and highcontract/ into {result['out']}"
