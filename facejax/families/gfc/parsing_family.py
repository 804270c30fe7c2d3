"""GFC's face-parsing network as its own Family (registry name ``gfc_parsing``), trained first by the shared
trainer (presets ``configs/gfc.py:parsing`` on Helen, ``parsing_synthetic``), then read frozen by the completion
family from config.parsing_checkpoint (pretrained.py).

The original released only frozen Caffe weights (its solver has base_lr 0), so the recipe is facejax's: Adam
(config.lr, beta1, beta2), the pixel-mean softmax cross-entropy of Caffe's SoftmaxWithLoss, dropout 0.5 in the
decoder as the prototxt has it, random mirrors with left/right classes swapped.

State: params {P}, opt_state {P}, ema {} (the recipe keeps no EMA; the completion family reads params P).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf

from facejax import images
from facejax.families import base
from facejax.families.gfc import data, losses, model, torch_layout
from facejax.families.gfc.nets import abstract_net, init_rngs, parsing_args, validate_parsing
from facejax.input import streams
from facejax.nn import randomness
from facejax.train import accum
from facejax.train.state import TrainState, bind, split_state, step_key

# Colours of the 11 classes for pictures (background black).
PALETTE = np.array(
    [
        (0, 0, 0),
        (255, 204, 153),
        (102, 51, 0),
        (153, 76, 0),
        (0, 102, 255),
        (0, 204, 255),
        (255, 128, 0),
        (255, 0, 102),
        (128, 0, 64),
        (204, 0, 0),
        (96, 96, 96),
    ],
    np.uint8,
)


def build_parsing(config, rngs, dtype=jnp.float32) -> model.Parsing:
    return model.Parsing(*parsing_args(config), dtype=dtype, rngs=rngs)


def colorize(labels: np.ndarray) -> np.ndarray:
    """(..., H, W) class ids -> (..., H, W, 3) uint8."""
    return PALETTE[np.clip(np.asarray(labels), 0, len(PALETTE) - 1)]


class GFCParsing(base.Family):
    """The face-parsing network (Model_parsing.prototxt) trained on its own. Capabilities: TorchInterop,
    ImportsOwnFiles."""

    name = "gfc_parsing"
    accumulates_gradients = True  # config.grad_accum (facejax/train/accum.py)
    architecture_fields = (
        "family",
        "img_size",
        "model.parsing.widths",
        "model.parsing.last_width",
        "model.parsing.num_classes",
    )

    def __init__(self, config):
        validate_parsing(config)
        data.label_table(config)
        self.config = config
        self.dtype = base.compute_dtype(config)
        self.graphdef, self._abstract = split_state(abstract_net(model.Parsing, parsing_args(config), self.dtype))
        self.graphdefs = {"P": self.graphdef}
        self.optimizers = {"P": optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=1e-8)}
        self._init = jax.jit(self._fresh_state)  # traced once: the trainer traces init several times per run
        self._predict = jax.jit(lambda p, x: jnp.argmax(self.logits(p, x), axis=-1))

    def param_counts(self) -> dict:
        return {"P": int(sum(np.prod(x.shape) for x in jax.tree.leaves(self._abstract)))}

    def init(self, root_key_data) -> TrainState:
        return self._init(root_key_data)

    def _fresh_state(self, root_key_data) -> TrainState:
        p = split_state(build_parsing(self.config, init_rngs(root_key_data), self.dtype))[1]
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params={"P": p},
            opt_state={"P": self.optimizers["P"].init(p)},
            ema={},
        )

    def logits(self, p_params, x, dropout_key=None):
        return bind(self.graphdef, p_params)(x, dropout_key)

    def train_step(self, state: TrainState, batch):
        """One Adam step; dropout draws one mask per example (nn/randomness.py), so config.grad_accum's micro-batches
        (facejax/train/accum.py) use the whole batch's masks."""
        k = accum.steps(self.config)
        n = batch["x"].shape[0]
        keys = randomness.example_keys(step_key(state), n)
        micro = accum.split({"x": batch["x"], "labels": batch["parsing"][..., 0], "keys": keys}, k)

        def loss_fn(p, m):
            return losses.parsing_ce_mean(self.logits(p, m["x"], m["keys"]), m["labels"])

        loss, grads = accum.value_and_grad(loss_fn, state.params["P"], micro, k)
        updates, opt = self.optimizers["P"].update(grads, state.opt_state["P"], state.params["P"])
        p = optax.apply_updates(state.params["P"], updates)
        return state.replace(step=state.step + 1, params={"P": p}, opt_state={"P": opt}), {"P/ce": loss}

    # ---------------------------------------------------------------- input and pictures

    def train_dataset(
        self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0
    ) -> tf.data.Dataset:
        src = data.load_faces(self.config.data, "train", process_index, process_count, parsing=True)
        return streams.batches(data.parsing_element(src, self.config, process_index), local_batch, start_batch)

    def sample_inputs(self, n: int):
        ev = data.eval_images(self.config, n, parsing=True)
        return {"x": ev["x"], "parsing": ev["parsing"]}

    def predict(self, p_params, x) -> np.ndarray:
        return np.asarray(self._predict(p_params, x))

    def sample_grids(self, state, inputs) -> dict:
        """One row per face: the image, its predicted parsing (eval mode), the stored one."""
        x = inputs["x"]
        pred = self.predict(state.params["P"], x)
        tiles = np.stack([images.to_uint8(x), colorize(pred), colorize(inputs["parsing"])], axis=1)
        return {"parsing": images.make_grid(tiles.reshape((-1,) + tiles.shape[2:]), ncol=3)}

    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        s, rng = self.config.img_size, np.random.default_rng(seed)
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "parsing": rng.integers(0, self.config.model.parsing.num_classes, (batch_size, s, s, 1), np.int32),
        }

    def torch_layout(self):
        """Model_parsing_iter_<N>.pth (torch_layout.py)."""
        return torch_layout.TorchLayout(self.config, ("P",))

    def import_files(self, source: str, step=None):
        return torch_layout.import_files(self, source, step)
