"""The eye aesthetic assessment network (AesGAN Fig. 4): feature extractor, scoring module, reconstruction branch.

The extractor is the original's ``eyenet.py: conv_net`` (completion_beauty.md B.3), TF variable names kept:
``g_e0_c`` c7s1-g, ``g_e1_c`` c3s2-2g, ``g_e2_c`` c3s2-4g, then 9 residual blocks ``g_r{k}`` (``_c0`` conv3 ->
``_bn0`` -> ReLU -> ``_c1`` conv3 -> ``_bn1``, add, ReLU); every conv without bias (glorot-uniform weights, TF's
default), every "batch_norm" an instance norm (scale ~ N(1, 0.02)). Input (B, s, s, 3) in [-1, 1] (s = 128 in the
original), output (B, s/4, s/4, 4g) (32x32x256): the features AesGAN's aesthetic loss compares.

The scoring module and the reconstruction branch were not released (the repository holds the extractor only;
its module globals ``n_class = 2`` and ``dropout = 0.75`` (keep probability) point to a 2-way softmax head with
dropout). facejax builds them as the paper's figure describes, with its own choices (documented, config fields):

  scoring         global average pool -> ``s_fc1`` dense 4g -> head_dim, ReLU -> dropout (keep ``keep_prob``)
                  -> ``s_fc2`` dense -> 2 logits (low, high); the aesthetic score is softmax(logits)[high]
  reconstruction  ``r_d1`` ConvTranspose 3x3/2 4g -> 2g, ``r_in1``, ReLU, ``r_d2`` 2g -> g, ``r_in2``, ReLU,
                  ``r_c3`` c7s1-3, tanh: the input eye crop rebuilt from the features (an auxiliary L1 loss that
                  keeps the features specific to the eye: the "uniqueness of eye aesthetic" of the figure)

Only the extractor and the scorer are used after training (reference selection, evaluation, the in-painting
network's aesthetic loss reads the extractor's features).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.families.aesgan.layers import SameConv2d, TFInstanceNorm, glorot_uniform
from facejax.nn import randomness
from facejax.nn.conv_transpose import ConvTranspose2d
from facejax.nn.layers import Linear

N_RES = 9


class EyeNet(nnx.Module):
    def __init__(
        self, dim: int = 64, head_dim: int = 1024, keep_prob: float = 0.75, *, dtype=jnp.float32, rngs: nnx.Rngs
    ):
        self.dtype, self.keep_prob = dtype, keep_prob
        conv = dict(use_bias=False, kernel_init=glorot_uniform, dtype=dtype, rngs=rngs)
        nin = dict(dtype=dtype, rngs=rngs)
        self.g_e0_c = SameConv2d(3, dim, 7, 1, **conv)
        self.g_e0_bn = TFInstanceNorm(dim, **nin)
        self.g_e1_c = SameConv2d(dim, 2 * dim, 3, 2, **conv)
        self.g_e1_bn = TFInstanceNorm(2 * dim, **nin)
        self.g_e2_c = SameConv2d(2 * dim, 4 * dim, 3, 2, **conv)
        self.g_e2_bn = TFInstanceNorm(4 * dim, **nin)
        d = 4 * dim
        for k in range(1, N_RES + 1):
            setattr(self, f"g_r{k}_c0", SameConv2d(d, d, 3, 1, **conv))
            setattr(self, f"g_r{k}_bn0", TFInstanceNorm(d, **nin))
            setattr(self, f"g_r{k}_c1", SameConv2d(d, d, 3, 1, **conv))
            setattr(self, f"g_r{k}_bn1", TFInstanceNorm(d, **nin))
        dense = dict(kernel_init=glorot_uniform, dtype=dtype, rngs=rngs)
        self.s_fc1 = Linear(d, head_dim, **dense)
        self.s_fc2 = Linear(head_dim, 2, **dense)
        deconv = dict(kernel_init=glorot_uniform, dtype=dtype, rngs=rngs)
        self.r_d1 = ConvTranspose2d(d, 2 * dim, 3, 2, 1, 1, **deconv)
        self.r_in1 = TFInstanceNorm(2 * dim, **nin)
        self.r_d2 = ConvTranspose2d(2 * dim, dim, 3, 2, 1, 1, **deconv)
        self.r_in2 = TFInstanceNorm(dim, **nin)
        self.r_c3 = SameConv2d(dim, 3, 7, 1, kernel_init=glorot_uniform, dtype=dtype, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        """conv_net(x): (B, s/4, s/4, 4g)."""
        h = jax.nn.relu(self.g_e0_bn(self.g_e0_c(x.astype(self.dtype))))
        h = jax.nn.relu(self.g_e1_bn(self.g_e1_c(h)))
        h = jax.nn.relu(self.g_e2_bn(self.g_e2_c(h)))
        for k in range(1, N_RES + 1):
            r = jax.nn.relu(getattr(self, f"g_r{k}_bn0")(getattr(self, f"g_r{k}_c0")(h)))
            r = getattr(self, f"g_r{k}_bn1")(getattr(self, f"g_r{k}_c1")(r))
            h = jax.nn.relu(h + r)
        return h

    def logits(self, feats: jax.Array, dropout_key=None) -> jax.Array:
        """(B, 2) class logits (low, high); dropout only when a key is given (training)."""
        h = jax.nn.relu(self.s_fc1(jnp.mean(feats.astype(jnp.float32), axis=(1, 2))))
        if dropout_key is not None and self.keep_prob < 1.0:
            keep = randomness.bernoulli(dropout_key, self.keep_prob, h.shape)
            h = jnp.where(keep, h / self.keep_prob, 0.0)
        return self.s_fc2(h).astype(jnp.float32)

    def reconstruct(self, feats: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.r_in1(self.r_d1(feats)))
        h = jax.nn.relu(self.r_in2(self.r_d2(h)))
        return jnp.tanh(self.r_c3(h).astype(jnp.float32))

    def score(self, x: jax.Array) -> jax.Array:
        """(B,) aesthetic score in [0, 1]: the probability of the high grade."""
        return jax.nn.softmax(self.logits(self.features(x)), axis=-1)[:, 1]

    def __call__(self, x: jax.Array, dropout_key=None):
        """(logits, reconstruction) of eye crops x."""
        f = self.features(x)
        return self.logits(f, dropout_key), self.reconstruct(f)
