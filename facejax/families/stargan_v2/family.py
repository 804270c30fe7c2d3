"""StarGAN v2 as a Family the shared trainer drives: nets, optimizers, the training iteration,
the input streams and the pictures.

One iteration is the original's (core/solver.py train): D update with a latent-guided fake, D
update with a reference-guided fake, G+F+E update (latent-guided), G-only update
(reference-guided), then EMA of G, F, E. It is one pure function, jitted once by the trainer.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import losses, model
from facejax.input import ops, sources
from facejax.train.state import TrainState, bind, count_params, ema_update, split_params, step_key

NETS = ("generator", "mapping_network", "style_encoder", "discriminator")
EMA_NETS = ("generator", "mapping_network", "style_encoder")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def validate(config) -> None:
    """One clear error per wrong value, naming the field and what was expected."""
    size = config.img_size
    if size < 32 or size & (size - 1):
        raise FacejaxError(f"config.img_size={size}: expected a power of two >= 32 (e.g. 32, 64, 256)")
    if config.model.num_domains < 1:
        raise FacejaxError(f"config.model.num_domains={config.model.num_domains}: expected >= 1")
    if config.batch_size < 1:
        raise FacejaxError(f"config.batch_size={config.batch_size}: expected >= 1")
    if config.total_steps < 0:
        raise FacejaxError(f"config.total_steps={config.total_steps}: expected >= 0")
    if config.dtype not in DTYPES:
        raise FacejaxError(f"config.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}")
    if config.model.w_hpf < 0:
        raise FacejaxError(f"config.model.w_hpf={config.model.w_hpf}: expected >= 0")
    for name in ("log_every", "checkpoint_every"):
        if config[name] < 1:
            raise FacejaxError(f"config.{name}={config[name]}: expected >= 1")


def _adam(lr, config):
    """torch.optim.Adam(lr, betas, weight_decay): L2 decay added to the gradient before Adam."""
    return optax.chain(optax.add_decayed_weights(config.weight_decay),
                       optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=1e-8),
                       optax.scale(-lr))


class _Nets:
    """Modules bound to a dict of parameters (inside jit: tracing-time objects only)."""

    def __init__(self, graphdefs, params):
        for name, p in params.items():
            setattr(self, name, bind(graphdefs[name], p))


class StarGANv2:
    name = "stargan_v2"
    architecture_fields = ("family", "img_size", "model.num_domains", "model.latent_dim",
                           "model.style_dim", "model.hidden_dim", "model.w_hpf", "model.dim_in",
                           "model.max_conv_dim", "model.generator", "model.discriminator",
                           "model.style")

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = DTYPES[config.dtype]
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        self.graphdefs = {k: split_params(m)[0] for k, m in abstract.items()}
        self._abstract_params = {k: split_params(m)[1] for k, m in abstract.items()}
        self.optimizers = self._optimizers()

    # ---------------------------------------------------------------- networks and optimizers

    def _build(self, rngs):
        c, m = self.config, self.config.model
        return {
            "generator": model.Generator(c.img_size, m.style_dim, m.max_conv_dim, m.w_hpf, m.dim_in,
                                         dtype=self.dtype, rngs=rngs),
            "mapping_network": model.MappingNetwork(m.latent_dim, m.style_dim, m.num_domains,
                                                    m.hidden_dim, dtype=self.dtype, rngs=rngs),
            "style_encoder": model.StyleEncoder(c.img_size, m.style_dim, m.num_domains,
                                                m.max_conv_dim, m.dim_in, dtype=self.dtype, rngs=rngs),
            "discriminator": model.Discriminator(c.img_size, m.num_domains, m.max_conv_dim, m.dim_in,
                                                 dtype=self.dtype, rngs=rngs),
        }

    def _optimizers(self):
        c = self.config
        opts = {k: _adam(c.f_lr if k == "mapping_network" else c.lr, c) for k in NETS}
        # Parameters the forward never uses (decoder conv1x1 when w_hpf > 0) get no gradient in
        # PyTorch, so Adam skips them (no decay either): freeze them here for an exact replica.
        frozen = model.frozen_parameter_mask(self._abstract_params["generator"], w_hpf=self.config.model.w_hpf)
        if any(jax.tree.leaves(frozen)):
            labels = jax.tree.map(lambda f: "frozen" if f else "train", frozen)
            opts["generator"] = optax.multi_transform(
                {"train": opts["generator"], "frozen": optax.set_to_zero()}, labels)
        return opts

    def param_counts(self) -> dict:
        return {k: count_params(v) for k, v in self._abstract_params.items()}

    def init(self, root_key_data) -> TrainState:
        if self.config.model.w_hpf > 0:
            raise FacejaxError(
                "config.model.w_hpf > 0 needs FAN heatmap masks from the StarGAN v2 release's "
                "wing.ckpt, which facejax does not load yet; train with --config.model.w_hpf=0 "
                "(the AFHQ architecture) for now")
        key = jax.random.wrap_key_data(root_key_data)
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))
        params = {k: split_params(m)[1] for k, m in nets.items()}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state={k: self.optimizers[k].init(params[k]) for k in NETS},
            # The original's EMA copies start from PyTorch's default init (deepcopy before
            # he_init); after 100k steps at 0.999 that start weighs e^-100, so start from params.
            ema={k: params[k] for k in EMA_NETS},
        )

    # ---------------------------------------------------------------- the training iteration

    def lambda_ds(self, step):
        """The original decrements lambda_ds by initial/ds_iter after every iteration."""
        c = self.config
        return c.lambda_ds * jnp.maximum(0.0, 1.0 - step.astype(jnp.float32) / c.ds_iter)

    def _update(self, names, loss_fn, params, opt_state):
        """One optimizer step of the nets in `names` on loss_fn(params restricted to names)."""
        sub = {k: params[k] for k in names}
        grads, aux = jax.grad(loss_fn, has_aux=True)(sub)
        params, opt_state = dict(params), dict(opt_state)
        for k in names:
            updates, opt_state[k] = self.optimizers[k].update(grads[k], opt_state[k], params[k])
            params[k] = optax.apply_updates(params[k], updates)
        return params, opt_state, aux

    def _d_update(self, params, opt_state, x_real, y_org, y_trg, guide):
        c = self.config
        nets = _Nets(self.graphdefs, params)
        s_trg = losses.target_style(nets, guide, y_trg)
        x_fake = jax.lax.stop_gradient(nets.generator(x_real, s_trg, None))

        def loss_fn(sub):
            n = _Nets(self.graphdefs, {**params, **sub})
            return losses.d_loss(n, x_real, y_org, y_trg, x_fake, c.lambda_reg)

        return self._update(("discriminator",), loss_fn, params, opt_state)

    def _g_update(self, names, params, opt_state, x_real, y_org, y_trg, guide, guide2, lambdas):
        def loss_fn(sub):
            n = _Nets(self.graphdefs, {**params, **sub})
            return losses.g_loss(n, x_real, y_org, y_trg, guide, guide2, lambdas)

        return self._update(names, loss_fn, params, opt_state)

    def train_step(self, state: TrainState, batch):
        c = self.config
        k1, k2 = jax.random.split(step_key(state))
        x_real, y_org = batch["x_src"], batch["y_src"]
        x_ref, x_ref2, y_trg = batch["x_ref"], batch["x_ref2"], batch["y_ref"]
        z_trg = jax.random.normal(k1, (x_real.shape[0], c.model.latent_dim))
        z_trg2 = jax.random.normal(k2, (x_real.shape[0], c.model.latent_dim))
        lambdas = {"sty": c.lambda_sty, "ds": self.lambda_ds(state.step), "cyc": c.lambda_cyc}
        p, o = state.params, state.opt_state

        p, o, d_lat = self._d_update(p, o, x_real, y_org, y_trg, ("latent", z_trg))
        p, o, d_ref = self._d_update(p, o, x_real, y_org, y_trg, ("reference", x_ref))
        p, o, g_lat = self._g_update(("generator", "mapping_network", "style_encoder"), p, o,
                                     x_real, y_org, y_trg, ("latent", z_trg), ("latent", z_trg2), lambdas)
        p, o, g_ref = self._g_update(("generator",), p, o, x_real, y_org, y_trg,
                                     ("reference", x_ref), ("reference", x_ref2), lambdas)
        ema = {k: ema_update(state.ema[k], p[k], c.ema_decay) for k in EMA_NETS}

        metrics = {f"D/latent_{k}": v for k, v in d_lat.items()}
        metrics.update({f"D/ref_{k}": v for k, v in d_ref.items()})
        metrics.update({f"G/latent_{k}": v for k, v in g_lat.items()})
        metrics.update({f"G/ref_{k}": v for k, v in g_ref.items()})
        metrics["G/lambda_ds"] = lambdas["ds"]
        new = state.replace(step=state.step + 1, params=p, opt_state=o, ema=ema)
        return new, metrics

    # ---------------------------------------------------------------- input

    def train_dataset(self, local_batch: int, process_index: int, process_count: int) -> tf.data.Dataset:
        """Batches of {x_src, y_src, x_ref, x_ref2, y_ref}: class-balanced sources, and references
        with a second image of the same domain (the original's InputFetcher)."""
        c = self.config
        src = sources.load_source(c.data, "train", process_index, process_count)
        self._check_domains(src.domains, "train")
        base = src.dataset.cache() if c.data.cache else src.dataset
        s = ops.seeds_for(c.seed, process_index, 1)
        k = len(src.domains)
        buf = c.data.shuffle_buffer
        source = ops.balanced([ops.domain_stream(base, d, s[0] + 7 * d, buf) for d in range(k)], s[1])
        refs = []
        for d in range(k):
            a = ops.domain_stream(base, d, s[2] + 7 * d + 1, buf)
            b = ops.domain_stream(base, d, s[2] + 7 * d + 2, buf)
            refs.append(tf.data.Dataset.zip(a, b))
        reference = ops.balanced(refs, s[3])

        size, prob, from_files = c.img_size, c.data.randcrop_prob, src.from_files

        def prepare(index, pair):
            ex, (r1, r2) = pair
            seeds = tf.random.experimental.stateless_split(ops.element_seed(s[0], index), 3)

            def load(e, seed):
                return ops.train_augment(ops.decode(e["image"], from_files), seed, size, prob)

            return {"x_src": load(ex, seeds[0]), "y_src": tf.cast(ex["label"], tf.int32),
                    "x_ref": load(r1, seeds[1]), "x_ref2": load(r2, seeds[2]),
                    "y_ref": tf.cast(r1["label"], tf.int32)}

        ds = tf.data.Dataset.zip(source, reference).enumerate()
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(local_batch, drop_remainder=True).prefetch(2)

    def _check_domains(self, domains, split):
        k = self.config.model.num_domains
        if len(domains) != k:
            raise FacejaxError(
                f"the {split} data has {len(domains)} domains ({', '.join(domains)}) but "
                f"config.model.num_domains={k}")

    def eval_examples(self, n_per_domain: int):
        """The first n images of each domain of the eval split, as [-1, 1] arrays (+ labels)."""
        c = self.config
        src = sources.load_source(c.data, "eval")
        self._check_domains(src.domains, "eval")
        k = len(src.domains)
        xs, ys = [[] for _ in range(k)], [[] for _ in range(k)]
        for ex in src.dataset.as_numpy_iterator():
            d = int(ex["label"])
            if len(xs[d]) < n_per_domain:
                img = ops.eval_transform(ops.decode(ex["image"], src.from_files), c.img_size)
                xs[d].append(img.numpy())
                ys[d].append(d)
            if all(len(x) >= n_per_domain for x in xs):
                break
        return xs, ys, src.domains

    # ---------------------------------------------------------------- sampling

    def translate(self, ema, x_src, guide, y_trg):
        """G_ema(x_src, s) with s from F_ema(z, y) or E_ema(x_ref, y)."""
        nets = _Nets(self.graphdefs, ema)
        return nets.generator(x_src, losses.target_style(nets, guide, y_trg), None)

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
        from facejax.families.stargan_v2 import sample

        return sample.grids(self, state.ema, inputs)
