"""The beauty predictor: torchvision's VGG-16-BN with one output per rater (completion_beauty.md C.3).

The original (beauty_prediction/train_beauty_prediction.py) takes ``models.vgg16_bn(pretrained=True)`` and
replaces ``classifier[6]`` by ``nn.Linear(4096, 60)``: one network whose 60 outputs regress each rater's score
/ 5 (MSE). Attribute names and ``Sequential`` indices are torchvision's, so a parameter path is a key of the
original's ``VGG16_beauty_rates.pt`` state_dict (``features.0.weight``, ``features.1.running_mean``,
``classifier.6.weight`` ...).

BatchNorm runs in train mode during training (batch statistics; running mean and unbiased variance updated with
momentum 0.1, ``num_batches_tracked`` counted) and in eval mode otherwise. Its running statistics live in the
params next to the weights they belong to, in no optimizer (``STAT_LEAVES``); the train step writes them back.
Dropout (p = 0.5 in the classifier) is active in training, as in torchvision's model.

Widths, hidden size, the adaptive pooling size and the input size are config fields (torchvision's by
default) so that tests and the synthetic preset run a small network.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from facejax.nn import randomness
from facejax.nn.layers import Conv2d, Linear, ReLU

STAT_LEAVES = ("mean", "var", "num_batches_tracked")
CONVS_PER_STAGE = (2, 2, 3, 3, 3)  # cfg "D"
BN_EPS = 1e-5

# torchvision VGG._initialize_weights: kaiming_normal_(fan_out, relu) for convs, N(0, 0.01) for linears.
conv_init = jax.nn.initializers.variance_scaling(2.0, "fan_out", "normal")
linear_init = jax.nn.initializers.normal(0.01)


def torch_linear_init(fan_in: int):
    """nn.Linear's default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias the same bound."""
    bound = 1.0 / np.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class BatchNorm(nnx.Module):
    """BatchNorm2d: ``scale``/``bias``/``mean``/``var``/``num_batches_tracked`` = weight/bias/running_mean/
    running_var/num_batches_tracked."""

    def __init__(self, num_features: int, momentum: float = 0.1):
        self.momentum = momentum
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.num_batches_tracked = nnx.Param(jnp.zeros((), jnp.int32))

    def __call__(self, x, train: bool):
        if train:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            n = x.shape[0] * x.shape[1] * x.shape[2]
            m = self.momentum
            self.mean[...] = (1 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
            self.var[...] = (1 - m) * self.var[...] + m * jax.lax.stop_gradient(var) * n / max(n - 1, 1)
            self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1
        else:
            mean, var = self.mean[...], self.var[...]
        return (x - mean) * jax.lax.rsqrt(var + BN_EPS) * self.scale[...] + self.bias[...]


class MaxPool(nnx.Module):
    def __call__(self, x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


class Dropout(nnx.Module):
    def __init__(self, rate: float):
        self.rate = rate

    def __call__(self, x, key):
        if key is None or self.rate <= 0:
            return x
        keep = randomness.bernoulli(key, 1.0 - self.rate, x.shape)
        return jnp.where(keep, x / (1.0 - self.rate), 0.0)


def adaptive_avg_pool(x, size: int):
    """nn.AdaptiveAvgPool2d((size, size)) on NHWC: bin i spans floor(i H / size) .. ceil((i + 1) H / size)."""
    h, w = x.shape[1:3]

    def bins(n):
        return [(i * n // size, -(-(i + 1) * n // size)) for i in range(size)]

    rows = [jnp.stack([jnp.mean(x[:, a:b, c:d], axis=(1, 2)) for c, d in bins(w)], axis=1) for a, b in bins(h)]
    return jnp.stack(rows, axis=1)


class VGG16BN(nnx.Module):
    def __init__(
        self,
        num_raters: int,
        widths=(64, 128, 256, 512, 512),
        hidden: int = 4096,
        pool_size: int = 7,
        dropout: float = 0.5,
        bn_momentum: float = 0.1,
        *,
        rngs: nnx.Rngs,
    ):
        self.pool_size = pool_size
        layers, cin = [], 3
        for w, n in zip(widths, CONVS_PER_STAGE):
            for _ in range(n):
                layers += [Conv2d(cin, w, 3, 1, 1, kernel_init=conv_init, rngs=rngs), BatchNorm(w, bn_momentum), ReLU()]
                cin = w
            layers.append(MaxPool())
        self.features = nnx.List(layers)
        flat = cin * pool_size * pool_size
        self.classifier = nnx.List(
            [
                Linear(flat, hidden, kernel_init=linear_init, rngs=rngs),
                ReLU(),
                Dropout(dropout),
                Linear(hidden, hidden, kernel_init=linear_init, rngs=rngs),
                ReLU(),
                Dropout(dropout),
                Linear(
                    hidden,
                    num_raters,
                    kernel_init=torch_linear_init(hidden),
                    bias_init=torch_linear_init(hidden),
                    rngs=rngs,
                ),
            ]
        )

    def __call__(self, x, train: bool = False, key=None):
        """(N, raters) predicted beta (ratings / 5) of NHWC images in [-1, 1] at the input size."""
        for layer in self.features:
            x = layer(x, train) if isinstance(layer, BatchNorm) else layer(x)
        x = adaptive_avg_pool(x, self.pool_size)
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # torch.flatten of NCHW
        keys = randomness.split(key, 2) if (train and key is not None) else [None, None]
        for layer in self.classifier:
            x = layer(x, keys.pop(0)) if isinstance(layer, Dropout) else layer(x)
        return x


def trainable_labels(tree):
    """'train' for weights, 'stats' for BatchNorm running statistics (in no optimizer)."""

    def label(path, _):
        return "stats" if str(getattr(path[-1], "key", path[-1])) in STAT_LEAVES else "train"

    return jax.tree_util.tree_map_with_path(label, tree)


def with_stats(params, stats_from):
    """params with the BatchNorm statistics of `stats_from` (the module state after a train-mode forward)."""

    def pick(path, p, s):
        return s if str(getattr(path[-1], "key", path[-1])) in STAT_LEAVES else p

    return jax.tree_util.tree_map_with_path(pick, params, stats_from)
