"""Beholder-GAN's rater predictors as a Family the shared trainer drives (registry name beholder_predictor).

train_beauty_prediction.py, one iteration: a batch of faces (flip, resize to 224, rotation +-10 degrees,
Normalize(0.5, 0.5)), the VGG-16-BN's outputs against beta = ratings / 5, MSE over the batch and the raters,
Adam (torch defaults, lr 1e-4). BatchNorm in train mode (running statistics written back, in no optimizer),
dropout active. The features are fine-tuned too: the original's ``param.require_grad = False`` is a typo of
requires_grad and freezes nothing (completion_beauty.md C.3).

The original splits all 5,500 faces 80/20 at random and keeps the epoch with the lowest validation loss;
facejax trains on the dataset's train split, evaluates on its test split (SCUT's 60/40 split by default) every
config.eval_every steps, and keeps the checkpoint with the lowest held-out MSE (config.eval.best_metric).

``facejax eval`` reports the Pearson correlation between the predicted and the human mean score of the held-out
faces (and per rater); ``facejax prepare beauty_labels`` labels an unlabeled dataset with it (labels.py).

State: params {net} (BatchNorm statistics included), opt_state {net}, ema {} (the original keeps no EMA).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.beholder import data, labels, predictor, torch_layout
from facejax.input import ops, streams
from facejax.nn import randomness
from facejax.train import accum
from facejax.train.state import TrainState, step_key


def validate(config) -> None:
    c, m = config, config.model
    if len(m.widths) != 5 or min(m.widths) < 1:
        raise FacejaxError(
            f"config.model.widths={tuple(m.widths)}: expected the 5 stage widths of VGG-16 (64, 128, 256, 512, 512)"
        )
    if m.input_size < 32 or m.input_size % 32:
        raise FacejaxError(
            f"config.model.input_size={m.input_size}: expected a multiple of 32 (5 max pools; 224 in the original)"
        )
    for name, low in (("hidden", 1), ("pool_size", 1)):
        if m[name] < low:
            raise FacejaxError(f"config.model.{name}={m[name]}: expected >= {low}")
    if not 0 <= m.dropout < 1:
        raise FacejaxError(f"config.model.dropout={m.dropout}: expected in [0, 1)")
    if c.num_raters < 1:
        raise FacejaxError(f"config.num_raters={c.num_raters}: expected >= 1")
    if c.lr <= 0:
        raise FacejaxError(f"config.lr={c.lr}: expected > 0")
    if c.imagenet_init and (m.input_size, tuple(m.widths), m.hidden, m.pool_size) != (
        224,
        (64, 128, 256, 512, 512),
        4096,
        7,
    ):
        raise FacejaxError(
            "config.imagenet_init=True needs torchvision's VGG-16-BN shapes (model.widths 64..512, "
            "hidden 4096, pool_size 7, input_size 224); set --config.imagenet_init=False for others"
        )


class BeholderPredictor(base.Family):
    """Beholder-GAN's rater predictors. Capabilities: LoadsPretrained (ImageNet VGG-16-BN init), Evaluates (Pearson
    correlation), TorchInterop and ImportsOwnFiles (VGG16_beauty_rates.pt)."""

    name = "beholder_predictor"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = ("family", "num_raters", "model.widths", "model.hidden", "model.pool_size")
    headline_metrics = (
        base.Metric("pearson_mean_score", "Pearson r (mean score)", "{:.4f}"),
        base.Metric("pearson_per_rater", "Pearson r (per rater)", "{:.4f}"),
        base.Metric("mse", "MSE", "{:.5f}"),
    )

    def __init__(self, config):
        validate(config)
        self.config = config
        self.graphdef, self._abstract = nnx.split(self.abstract_net())
        self._abstract = nnx.to_pure_dict(self._abstract)
        labels = predictor.trainable_labels
        adam = optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=1e-8)
        self.optimizer = optax.multi_transform({"train": adam, "stats": optax.set_to_zero()}, labels)
        self.optimizers = {"net": self.optimizer}

    def _build(self, rngs):
        m = self.config.model
        return predictor.VGG16BN(
            self.config.num_raters, tuple(m.widths), m.hidden, m.pool_size, m.dropout, m.bn_momentum, rngs=rngs
        )

    def abstract_net(self):
        return nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))

    def param_counts(self) -> dict:
        mask = predictor.trainable_labels(self._abstract)
        leaves = zip(jax.tree.leaves(self._abstract), jax.tree.leaves(mask))
        return {"net": int(sum(np.prod(x.shape) for x, m in leaves if m == "train"))}

    def init(self, root_key_data) -> TrainState:
        key = jax.random.wrap_key_data(root_key_data)
        params = nnx.to_pure_dict(nnx.state(self._build(nnx.Rngs(params=jax.random.fold_in(key, 0)))))
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params={"net": params},
            opt_state={"net": self.optimizer.init(params)},
            ema={},
        )

    def load_pretrained(self, state: TrainState) -> TrainState:
        """With imagenet_init: torchvision's ImageNet VGG-16-BN (features, classifier.0/.3) from
        config.imagenet_weights; the raters' head keeps its fresh init."""
        if not self.config.imagenet_init:
            return state
        loaded = torch_layout.imagenet_params(self, self.config.imagenet_weights)
        net = jax.device_get(state.params["net"])
        net = {
            **net,
            "features": {**net["features"], **loaded["features"]},
            "classifier": {**net["classifier"], **loaded["classifier"]},
        }
        net = jax.tree.map(jnp.asarray, net)
        return state.replace(params={"net": net}, opt_state={"net": self.optimizer.init(net)})

    # ---------------------------------------------------------------- the model

    def predict(self, params, x):
        """(N, raters) beta of [-1, 1] faces at the input size, BatchNorm in eval mode."""
        return nnx.merge(self.graphdef, nnx.State(params))(x, train=False)

    def loss(self, params, x, beta, key):
        net = nnx.merge(self.graphdef, nnx.State(params))
        out = net(x, train=True, key=key)
        loss = jnp.mean(jnp.square(out - beta))
        return loss, nnx.to_pure_dict(nnx.state(net))

    def train_step(self, state: TrainState, batch):
        """One Adam step, BatchNorm with batch statistics, dropout with one key per example. With config.grad_accum
        = k (facejax/train/accum.py) each micro-batch is normalised by its own statistics and the new running
        statistics are the micro-batches' mean: close to, not equal to, one batch k times larger."""
        p, o = state.params["net"], state.opt_state["net"]
        k = accum.steps(self.config)
        keys = randomness.example_keys(step_key(state), batch["x"].shape[0])
        micro = accum.split({"x": batch["x"], "beta": batch["beta"], "keys": keys}, k)
        (loss, after), grads = accum.value_and_grad(
            lambda q, m: self.loss(q, m["x"], m["beta"], m["keys"]), p, micro, k, has_aux=True, allow_int=True
        )
        grads = predictor.with_stats(grads, jax.tree.map(jnp.zeros_like, p))  # statistics: no gradient
        updates, o = self.optimizer.update(grads, o, p)
        p = predictor.with_stats(optax.apply_updates(p, updates), after)
        return state.replace(step=state.step + 1, params={"net": p}, opt_state={"net": o}), {"mse": loss}

    # ---------------------------------------------------------------- input

    def read_split(self, split: str, process_index: int = 0, process_count: int = 1) -> dict:
        d = self.config.data
        name = d.train_split if split == "train" else d.eval_split
        return data.read_table(d, name, process_index, process_count, self.config.num_raters)

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        c = self.config
        table = self.read_split("train", process_index, process_count)
        element = data.predictor_element(
            table,
            input_size=c.model.input_size,
            score_scale=c.data.score_scale,
            flip=bool(c.data.flip),
            rotation=float(c.data.rotation),
            seed=ops.seeds_for(c.seed, process_index, 4)[0],
        )
        return streams.batches(element, local_batch, start_batch)

    def sample_inputs(self, n: int):
        return {}

    def sample_grids(self, state, inputs) -> dict:
        return {}

    # ---------------------------------------------------------------- evaluation, labelling, export

    def evaluator(self, mesh=None):
        return labels.PredictorEvaluator(self, mesh)

    def torch_layout(self):
        """The original's VGG16_beauty_rates.pt (labels.py PredictorFile)."""
        return labels.PredictorFile(self)

    def import_files(self, source: str, step=None):
        return labels.import_predictor(self, source, step)

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        rng = np.random.default_rng(seed)
        s = self.config.model.input_size
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "beta": rng.uniform(0.2, 1, (batch_size, self.config.num_raters)).astype(np.float32),
        }
