"""AesGAN's face-parsing network as a Family (registry name ``aesgan_parsing``), trained by the shared trainer.

The original loads ``./model_parsing/model.ckpt`` (not released; its training code neither). facejax trains the
same network (parsing_net.py) on a dataset with parsing maps: Helen (11 classes, the original's class count) or
synthetic_faces (MT-style, 14 classes). Input: the image at img_size, ``tf.image.per_image_standardization`` (as
the in-painting loss feeds it); loss: mean pixel-wise softmax cross-entropy (the original's
sparse_softmax_cross_entropy_with_logits, mean); BatchNorm in training mode, its running statistics moved
(decay 0.999). Adam (lr, beta1, beta2); the statistics are in no optimizer.

Evaluation (``facejax eval``): pixel accuracy and mean IoU on the eval split, BatchNorm in the original's train
mode (batch statistics; what AesGAN uses) and in eval mode (running statistics).

State: params {P}, opt_state {P}, ema {} (no average: AesGAN reads params["P"] of the newest checkpoint).
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
from facejax.families.aesgan.layers import per_image_standardization
from facejax.families.aesgan.parsing_net import ParsingNet
from facejax.input import ops, streams
from facejax.metrics import report as eval_report
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state

ARCH = ("width", "num_classes")


def validate(config) -> None:
    p = config.parsing
    if p.width < 2 or p.num_classes < 2:
        raise FacejaxError(f"config.parsing.width={p.width}, num_classes={p.num_classes}: expected >= 2 each")
    if config.img_size % 32:
        raise FacejaxError(
            f"config.img_size={config.img_size}: the parsing network pools 5 times; expected a multiple of 32"
        )


def build(p, dtype=jnp.float32, rngs=None):
    return ParsingNet(p.width, p.num_classes, dtype=dtype, rngs=rngs or nnx.Rngs(0))


def cross_entropy(logits, labels):
    """Mean pixel-wise softmax cross-entropy; labels (B, H, W) int."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.sum(jax.nn.one_hot(labels, logits.shape[-1]) * logp, axis=-1))


# a fixed colour per class for pictures
PALETTE = (np.random.default_rng(5).integers(0, 256, (256, 3))).astype(np.uint8)
PALETTE[0] = 0


class ParsingNetFamily(base.Family):
    """AesGAN's frozen face-parsing network, trained on its own. Capabilities: Evaluates (pixel accuracy, mean
    IoU), TorchInterop and ImportsOwnFiles (<step>_parsing.pth)."""

    name = "aesgan_parsing"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = ("family", "img_size", "parsing.width", "parsing.num_classes")
    description = "AesGAN's face-parsing network (Helen), read frozen by aesgan"
    headline_metrics = (
        base.Metric("batch_stats/pixel_accuracy", "pixel accuracy (batch stats)"),
        base.Metric("batch_stats/mean_iou", "mean IoU (batch stats)"),
        base.Metric("running_stats/pixel_accuracy", "pixel accuracy (running stats)"),
        base.Metric("running_stats/mean_iou", "mean IoU (running stats)"),
    )

    def __init__(self, config):
        validate(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.graphdef, self._abstract = split_state(nnx.eval_shape(lambda: build(config.parsing, self.dtype)))
        self.optimizers = {"P": common.masked_adam(config.lr, config.beta1, config.beta2)}
        self._tables = {}

    def param_counts(self) -> dict:
        flat = jax.tree_util.tree_flatten_with_path(self._abstract)[0]
        return {
            "P": int(
                sum(
                    np.prod(x.shape)
                    for path, x in flat
                    if str(getattr(path[-1], "key", "")) not in ("mean", "var", "num_batches_tracked")
                )
            )
        }

    def init(self, root_key_data) -> TrainState:
        params = {"P": common.pure_state(build(self.config.parsing, self.dtype, common.init_rngs(root_key_data)))}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state={"P": self.optimizers["P"].init(params["P"])},
            ema={},
        )

    def logits(self, params, x, train: bool = True):
        return bind(self.graphdef, params)(per_image_standardization(x), train, False)

    def train_step(self, state: TrainState, batch):
        """One Adam step, BatchNorm with batch statistics. With config.grad_accum = k (facejax/train/accum.py) each
        micro-batch is normalised by its own statistics and the new running statistics are the micro-batches'
        mean: close to, not equal to, one batch k times larger."""
        k = accum.steps(self.config)

        def loss(p, m):
            net = bind(self.graphdef, p)
            logits = net(per_image_standardization(m["x"]), True, True)
            acc = jnp.mean((jnp.argmax(logits, -1) == m["labels"]).astype(jnp.float32))
            return cross_entropy(logits, m["labels"]), (acc, common.pure_state(net))

        micro = accum.split({"x": batch["x"], "labels": batch["labels"]}, k)
        (ce, (acc, new_state)), grads = accum.value_and_grad(
            loss, state.params["P"], micro, k, has_aux=True, allow_int=True
        )
        grads = common.zero_int_grads(grads, state.params["P"])
        updates, opt = self.optimizers["P"].update(grads, state.opt_state["P"], state.params["P"])
        new = common.with_state(optax.apply_updates(state.params["P"], updates), new_state)
        return (
            state.replace(step=state.step + 1, params={"P": new}, opt_state={"P": opt}),
            {"P/ce": ce, "P/pixel_accuracy": acc},
        )

    # ---------------------------------------------------------------- input

    def table(self, part: str) -> dict:
        if part in self._tables:
            return self._tables[part]
        d = self.config.data
        holdout = d.eval_split == "holdout"
        split = d.train_split if (part == "train" or holdout) else d.eval_split
        t, _, _ = data_lib.load_columns(d, split, ("image", "parsing"))
        tab = {"image": t["image"], "parsing": t["parsing"]}
        if holdout:
            n = len(tab["image"])
            perm = np.random.default_rng([self.config.seed, 12]).permutation(n)
            k = max(1, int(round(n * d.holdout_fraction)))
            tab = {key: v[np.sort(perm[:k] if part == "eval" else perm[k:])] for key, v in tab.items()}
        self._tables[part] = tab
        return tab

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        """Batches of {x, labels}: every training image once per epoch, images resized to img_size (bilinear),
        maps (nearest); labels above num_classes - 1 are clipped to it (the eval split is checked)."""
        tab = self.table("train")
        n_cls = self.config.parsing.num_classes
        order = streams.Epochs(len(tab["image"]), ops.seeds_for(self.config.seed, 0, 6)[0], what="the training data")
        t = {k: tf.constant(v) for k, v in tab.items()}
        s = self.config.img_size

        def element(position):
            row = order(position)
            lab = tf.cast(ops.resize_labels(ops.decode(tf.gather(t["parsing"], row), False, 1), s)[..., 0], tf.int32)
            return {
                "x": ops.eval_transform(ops.decode(tf.gather(t["image"], row), False), s),
                "labels": tf.minimum(lab, n_cls - 1),
            }

        return streams.batches(
            element, local_batch, start_batch, process_index=process_index, process_count=process_count
        )

    def eval_batch(self, n: int = 0) -> dict:
        tab = self.table("eval")
        n = len(tab["image"]) if not n else min(n, len(tab["image"]))
        labels = data_lib.decode_labels(tab["parsing"][:n], self.config.img_size)
        if labels.max() >= self.config.parsing.num_classes:
            raise FacejaxError(
                f"{self.config.data.name}: parsing label {labels.max()} >= config.parsing.num_classes="
                f"{self.config.parsing.num_classes}"
            )
        return {"x": data_lib.decode_images(tab["image"][:n], self.config.img_size), "labels": labels}

    # ---------------------------------------------------------------- pictures, evaluation

    def sample_inputs(self, n: int):
        return self.eval_batch(max(n, 2))

    def sample_grids(self, state, inputs) -> dict:
        """Rows: image, true map, predicted map (BatchNorm with batch statistics, as AesGAN uses the net)."""
        pred = np.asarray(jnp.argmax(jax.jit(self.logits)(state.params["P"], inputs["x"]), -1))
        x = images_lib.to_uint8(inputs["x"])
        tiles = np.concatenate([x, PALETTE[inputs["labels"]], PALETTE[pred]])
        return {"parsing": images_lib.make_grid(tiles, ncol=len(x))}

    def evaluator(self, mesh=None):
        return ParsingEvaluator(self)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        rng, s = np.random.default_rng(seed), self.config.img_size
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "labels": rng.integers(0, self.config.parsing.num_classes, (batch_size, s, s)).astype(np.int32),
        }

    def torch_layout(self):
        return torch_layout.TorchLayout(self, {"parsing": ("P", nnx.eval_shape(lambda: build(self.config.parsing)))})

    def import_files(self, source: str, step=None):
        return torch_layout.import_files(self, source, step)


class ParsingEvaluator:
    """`evaluator(state, step, out_dir)`: pixel accuracy and mean IoU on the eval split, in both BatchNorm modes."""

    def __init__(self, family: ParsingNetFamily):
        self.family = family
        self.batch = family.eval_batch()
        self._fn = {m: jax.jit(lambda p, x, m=m: jnp.argmax(family.logits(p, x, m), -1)) for m in (True, False)}

    def __call__(self, state, step: int, out_dir) -> dict:
        f, b = self.family, self.batch
        bs = max(2, int(f.config.eval.batch_size))
        n_cls = f.config.parsing.num_classes
        metrics = {}
        for mode, name in ((True, "batch_stats"), (False, "running_stats")):
            pred = np.concatenate(
                [np.asarray(self._fn[mode](state.params["P"], b["x"][i : i + bs])) for i in range(0, len(b["x"]), bs)]
            )
            y = b["labels"]
            ious = [
                np.sum((pred == c) & (y == c)) / np.sum((pred == c) | (y == c)) for c in range(n_cls) if np.any(y == c)
            ]
            metrics[f"{name}/pixel_accuracy"] = float(np.mean(pred == y))
            metrics[f"{name}/mean_iou"] = float(np.mean(ious))
        report = {"step": int(step), "metrics": metrics, "num_images": int(len(b["x"]))}
        table = "\n".join(
            [
                f"Face parsing at step {step} ({len(b['x'])} eval images, {n_cls} classes)",
                "",
                "| BatchNorm | pixel accuracy | mean IoU |",
                "|---|---:|---:|",
            ]
            + [
                f"| {n} | {metrics[f'{n}/pixel_accuracy']:.4f} | {metrics[f'{n}/mean_iou']:.4f} |"
                for n in ("batch_stats", "running_stats")
            ]
        )
        files = {"grids": []}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report))
        return {"metrics": metrics, "report": report, "files": files, "table": table}
