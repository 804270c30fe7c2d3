"""The eye aesthetic assessment network as a Family (registry name ``aesgan_aesthetic``): trained by the shared
trainer on high / low eye crops, evaluated by held-out accuracy.

Loss per batch: softmax cross-entropy of the scoring head (dropout active, keep ``aesthetic.keep_prob``) with the
grade, plus ``lambda_recon`` * mean |reconstruction - crop| of the reconstruction branch (eyenet.py explains the
head and branch, which the original did not release). Adam (lr, beta1, beta2).

Data (``config.data.input``):
  crops  eye_aesthetics: the eye crops themselves, resized to ``aesthetic.input_size``; label high 1 / low 0
  faces  synthetic_faces: the in-painting loss's "eyes" crop (``aes_box`` centred on the eyes) of each face;
         high (1) when both eyes are open (``eyes_open`` > ``synthetic_open_threshold``: open eyes are in
         [0.65, 1]), low (0) when they are closed (20% of the faces); with ``masked_as_low`` > 0, that
         fraction of the faces (drawn per step) has its eyes erased by AesGAN's ellipse masks (``mask_axes``) and
         counts as low: AesGAN in-paints faces with closed or missing eyes, and a face whose eyes were erased
         is the in-painting network's input
``config.data.eval_split = "holdout"`` keeps a seeded ``holdout_fraction`` of the train split out of training
(eye_aesthetics often has one split); any other value names a split of the dataset.

State: params {E}, opt_state {E}, ema {} (no average: AesGAN reads params["E"] of the newest checkpoint).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax import images as images_lib
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.aesgan import common, torch_layout
from facejax.families.aesgan import data as data_lib
from facejax.families.aesgan.eyenet import EyeNet
from facejax.input import ops, streams
from facejax.metrics import report as eval_report
from facejax.nn import randomness
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state, step_key

ARCH = ("dim", "head_dim", "input_size")


def validate(config) -> None:
    a = config.aesthetic
    for f in ("dim", "head_dim", "input_size"):
        if a[f] < 1:
            raise FacejaxError(f"config.aesthetic.{f}={a[f]}: expected >= 1")
    if a.input_size % 4:
        raise FacejaxError(f"config.aesthetic.input_size={a.input_size}: expected a multiple of 4 (128 originally)")
    if not 0 < a.keep_prob <= 1:
        raise FacejaxError(f"config.aesthetic.keep_prob={a.keep_prob}: expected a keep probability in (0, 1]")
    if config.data.input not in ("crops", "faces"):
        raise FacejaxError(
            f"config.data.input={config.data.input!r}: expected 'crops' (eye_aesthetics) or "
            f"'faces' (synthetic_faces eye crops)"
        )
    if not 0 < config.data.holdout_fraction < 1:
        raise FacejaxError(f"config.data.holdout_fraction={config.data.holdout_fraction}: expected in (0, 1)")
    common.parse_box(config.aes_box, "aes_box")


def build(a, dtype=jnp.float32, rngs=None):
    return EyeNet(a.dim, a.head_dim, a.keep_prob, dtype=dtype, rngs=rngs or nnx.Rngs(0))


class AestheticNet(base.Family):
    """AesGAN's frozen eye aesthetic network, trained on its own. Capabilities: Evaluates (held-out accuracy),
    TorchInterop and ImportsOwnFiles (<step>_eyenet.pth)."""

    name = "aesgan_aesthetic"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = ("family", "aesthetic.dim", "aesthetic.head_dim", "aesthetic.input_size")
    description = "AesGAN's eye aesthetic network (high / low eye crops), read frozen by aesgan"
    headline_metrics = (
        base.Metric("accuracy", "accuracy"),
        base.Metric("accuracy/high", "high correct"),
        base.Metric("accuracy/low", "low correct"),
    )

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.graphdef, self._abstract = split_state(nnx.eval_shape(lambda: build(config.aesthetic, self.dtype)))
        self.optimizers = {"E": common.masked_adam(config.lr, config.beta1, config.beta2)}
        self.box = common.parse_box(config.aes_box, "aes_box")
        self._score_fn = jax.jit(lambda p, b: self.net(p).score(self.crops(b)))
        self._tables = {}

    def param_counts(self) -> dict:
        return {"E": int(sum(np.prod(x.shape) for x in jax.tree.leaves(self._abstract)))}

    def init(self, root_key_data) -> TrainState:
        params = {"E": common.pure_state(build(self.config.aesthetic, self.dtype, common.init_rngs(root_key_data)))}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state={"E": self.optimizers["E"].init(params["E"])},
            ema={},
        )

    def net(self, params) -> EyeNet:
        return bind(self.graphdef, params)

    # ---------------------------------------------------------------- the training step

    def crops(self, batch):
        """The network's input of a batch: the crops themselves, or the faces' eye crops."""
        if self.config.data.input == "crops":
            return batch["x"]
        return common.eye_crops(
            batch["x"], batch["eyes"], self.box, "eyes", self.config.img_size, self.config.aesthetic.input_size
        )

    def mask_some(self, batch, key):
        """faces mode with masked_as_low > 0: that fraction of the faces get their eyes erased (ellipse masks,
        mask_axes, drawn as analytic ellipses: this synthetic grade is facejax's, not the original's) and the low
        grade: "missing eyes" (the in-painting input) are not aesthetic."""
        p = self.config.data.get("masked_as_low", 0.0)
        if self.config.data.input != "faces" or p <= 0:
            return batch
        s = self.config.img_size
        axes = data_lib.mask_axes(self.config)
        erase = jax.random.bernoulli(key, p, batch["y"].shape)
        m = data_lib.eye_masks(batch["eyes"], s, axes, "analytic") * erase[:, None, None, None]
        return {**batch, "x": batch["x"] * (1 - m), "y": jnp.where(erase, 0, batch["y"])}

    def loss(self, params, batch, key):
        """(total, metrics) of a batch (or micro-batch) whose masks were applied (`mask_some`); key: one dropout key
        per example (nn/randomness.py)."""
        x = self.crops(batch)
        logits, recon = self.net(params)(x, key)
        ce = -jnp.mean(jnp.sum(jax.nn.one_hot(batch["y"], 2) * jax.nn.log_softmax(logits), axis=1))
        rec = jnp.mean(jnp.abs(recon - x))
        acc = jnp.mean((jnp.argmax(logits, -1) == batch["y"]).astype(jnp.float32))
        return ce + self.config.lambda_recon * rec, {"E/ce": ce, "E/recon": rec, "E/accuracy": acc}

    def train_step(self, state: TrainState, batch):
        """One Adam step; the eye masks and the dropout keys (one per example) are drawn for the whole batch, so
        config.grad_accum's micro-batches (facejax/train/accum.py) see the whole batch's draws."""
        k = accum.steps(self.config)
        k_mask, key = jax.random.split(step_key(state))
        batch = self.mask_some(batch, k_mask)
        micro = accum.split({**batch, "keys": randomness.example_keys(key, batch["y"].shape[0])}, k)
        (total, metrics), grads = accum.value_and_grad(
            lambda p, m: self.loss(p, m, m["keys"]), state.params["E"], micro, k, has_aux=True
        )
        updates, opt = self.optimizers["E"].update(grads, state.opt_state["E"], state.params["E"])
        new = optax.apply_updates(state.params["E"], updates)
        metrics["E/total"] = total
        return state.replace(step=state.step + 1, params={"E": new}, opt_state={"E": opt}), metrics

    # ---------------------------------------------------------------- input

    def table(self, part: str) -> dict:
        """{"image": encoded, "y": labels, "eyes": (N, 2, 2)} of "train" or "eval" (held-out rows excluded from
        train when data.eval_split = "holdout")."""
        if part in self._tables:
            return self._tables[part]
        d = self.config.data
        holdout = d.eval_split == "holdout"
        split = d.train_split if (part == "train" or holdout) else d.eval_split
        if d.input == "crops":
            t, _, _ = data_lib.load_columns(d, split, ("image", "label"))
            tab = {
                "image": t["image"],
                "y": t["label"].astype(np.int32),
                "eyes": np.full((len(t["image"]), 2, 2), 0.5, np.float32),
            }
        else:
            faces = data_lib.load_faces(d, split)
            tab = {
                "image": faces.images,
                "y": (faces.opened > self.config.synthetic_open_threshold).astype(np.int32),
                "eyes": faces.eyes,
            }
        if holdout:
            n = len(tab["y"])
            perm = np.random.default_rng([self.config.seed, 11]).permutation(n)
            k = max(1, int(round(n * d.holdout_fraction)))
            if n - k < 1:
                raise FacejaxError(
                    f"{d.name}: {n} example(s) cannot be split into train and a held-out {d.holdout_fraction:.0%}"
                )
            rows = np.sort(perm[:k] if part == "eval" else perm[k:])
            tab = {key: v[rows] for key, v in tab.items()}
        self._tables[part] = tab
        return tab

    def _size(self):
        c = self.config
        return c.aesthetic.input_size if c.data.input == "crops" else c.img_size

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x, eyes, y}: every training example once per epoch in a fresh random order."""
        tab = self.table("train")
        order = streams.Epochs(len(tab["y"]), ops.seeds_for(self.config.seed, 0, 5)[0], what="the training data")
        t = {k: tf.constant(v) for k, v in tab.items()}
        size = self._size()

        def element(position):
            row = order(position)
            return {
                "x": ops.eval_transform(ops.decode(tf.gather(t["image"], row), False), size),
                "eyes": tf.gather(t["eyes"], row),
                "y": tf.gather(t["y"], row),
            }

        return streams.batches(
            element, local_batch, start_batch, process_index=process_index, process_count=process_count
        )

    def eval_batch(self, n: int = 0) -> dict:
        tab = self.table("eval")
        n = len(tab["y"]) if not n else min(n, len(tab["y"]))
        return {"x": data_lib.decode_images(tab["image"][:n], self._size()), "eyes": tab["eyes"][:n], "y": tab["y"][:n]}

    # ---------------------------------------------------------------- scores, pictures, evaluation

    def scores(self, params, batch) -> jax.Array:
        return self._score_fn(params, batch)

    def sample_inputs(self, n: int):
        return self.eval_batch(max(n, 2) * 2)

    def sample_grids(self, state, inputs) -> dict:
        """Held-out crops sorted by score (highest first), each above its reconstruction."""
        e = state.params["E"]
        s = np.asarray(self.scores(e, inputs))
        x = np.asarray(jax.jit(self.crops)(inputs))
        rec = np.asarray(jax.jit(lambda p, x: self.net(p)(x)[1])(e, x))
        order = np.argsort(-s)
        tiles = np.concatenate([x[order], rec[order]])
        return {"scored": images_lib.make_grid(images_lib.to_uint8(tiles), ncol=len(order))}

    def evaluator(self, mesh=None):
        return AccuracyEvaluator(self)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        rng, s = np.random.default_rng(seed), self._size()
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "eyes": np.full((batch_size, 2, 2), 0.5, np.float32),
            "y": rng.integers(0, 2, batch_size).astype(np.int32),
        }

    def torch_layout(self):
        return torch_layout.TorchLayout(self, {"eyenet": ("E", nnx.eval_shape(lambda: build(self.config.aesthetic)))})

    def import_files(self, source: str, step=None):
        return torch_layout.import_files(self, source, step)


class AccuracyEvaluator:
    """`evaluator(state, step, out_dir)`: accuracy of the high/low prediction on the held-out examples."""

    def __init__(self, family: AestheticNet):
        self.family = family
        self.batch = family.eval_batch()

    def __call__(self, state, step: int, out_dir) -> dict:
        f, b = self.family, self.batch
        e = state.params["E"]
        bs = max(1, int(f.config.eval.batch_size))
        scores = np.concatenate(
            [np.asarray(f.scores(e, {k: v[i : i + bs] for k, v in b.items()})) for i in range(0, len(b["y"]), bs)]
        )
        pred = (scores > 0.5).astype(np.int32)
        y = b["y"]
        masked = {}
        if f.config.data.input == "faces" and f.config.data.get("masked_as_low", 0.0) > 0:
            m = np.asarray(data_lib.eye_masks(b["eyes"], f.config.img_size, data_lib.mask_axes(f.config), "analytic"))
            xm = {**b, "x": b["x"] * (1 - m)}
            sm = np.concatenate(
                [np.asarray(f.scores(e, {k: v[i : i + bs] for k, v in xm.items()})) for i in range(0, len(y), bs)]
            )
            masked = {"masked/accuracy": float(np.mean(sm <= 0.5)), "score/masked": float(np.mean(sm))}
        metrics = {
            "accuracy": float(np.mean(pred == y)),
            "accuracy/high": float(np.mean(pred[y == 1] == 1)) if np.any(y == 1) else float("nan"),
            "accuracy/low": float(np.mean(pred[y == 0] == 0)) if np.any(y == 0) else float("nan"),
            "score/high": float(np.mean(scores[y == 1])) if np.any(y == 1) else float("nan"),
            "score/low": float(np.mean(scores[y == 0])) if np.any(y == 0) else float("nan"),
            **masked,
        }
        d = f.config.data
        where = (
            f"{d.holdout_fraction:.0%} of {d.name}'s {d.train_split!r} split held out (seed {f.config.seed})"
            if d.eval_split == "holdout"
            else f"{d.name}'s {d.eval_split!r} split"
        )
        report = {
            "step": int(step),
            "metrics": metrics,
            "num_examples": int(len(y)),
            "num_high": int(np.sum(y == 1)),
            "held_out": where,
        }
        table = "\n".join(
            [
                f"Eye aesthetics at step {step}: {len(y)} held-out examples ({where})",
                "",
                "| accuracy | high correct | low correct | mean score high | mean score low |",
                "|---:|---:|---:|---:|---:|",
                f"| {metrics['accuracy']:.4f} | {metrics['accuracy/high']:.4f} | {metrics['accuracy/low']:.4f} | "
                f"{metrics['score/high']:.4f} | {metrics['score/low']:.4f} |",
            ]
            + (
                [
                    "",
                    f"The same faces with their eyes erased (low): {metrics['masked/accuracy']:.4f} correct, mean "
                    f"score {metrics['score/masked']:.4f}",
                ]
                if masked
                else []
            )
        )
        files = {"grids": []}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table))
        return {"metrics": metrics, "report": report, "files": files, "table": table}
