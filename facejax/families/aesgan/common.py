"""Pieces the three AesGAN families share: module state as pure dicts, the eye crop of the aesthetic loss, and
reading a frozen network from another family's facejax checkpoint. Splitting and binding modules is
facejax.train.state's (split_state, bind); compute dtypes are facejax.families.base's."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from ml_collections import ConfigDict

from facejax import registry
from facejax.errors import FacejaxError
from facejax.families.aesgan.layers import crop_resize, trained_mask
from facejax.train import state as state_lib
from facejax.train.checkpoint import Checkpointer, flatten_dict


def pure_state(module) -> dict:
    return nnx.to_pure_dict(nnx.state(module))


def init_rngs(root_key_data) -> nnx.Rngs:
    """The parameter initialisers' randomness: an RBG key seeded from the run's root key. Initialising these
    networks with threefry keys (one expanded hash per tensor) takes XLA:CPU minutes to compile; RBG seconds.
    Deterministic for a seed on a given platform."""
    key = jax.random.fold_in(jax.random.wrap_key_data(root_key_data), 0)
    return nnx.Rngs(params=jax.random.key(jax.random.bits(key, (), jnp.uint32), impl="rbg"))


def masked_adam(lr, b1: float, b2: float):
    """Adam (eps 1e-8) on the trained weights; BatchNorm statistics and spectral-norm vectors get no update (the
    forward pass sets them). ``lr`` may be a schedule-free scale applied by the caller (pass 1.0)."""
    labels = lambda p: jax.tree.map(lambda t: "train" if t else "state", trained_mask(p))  # noqa: E731
    return optax.multi_transform(
        {"train": optax.adam(lr, b1=b1, b2=b2, eps=1e-8), "state": optax.set_to_zero()}, labels
    )


def zero_int_grads(grads, params):
    """Gradients with the float0 entries of integer leaves (BatchNorm's num_batches_tracked) as zeros."""
    return jax.tree.map(lambda g, p: jnp.zeros_like(p) if g.dtype == jax.dtypes.float0 else g, grads, params)


def with_state(params, new_state):
    """``params`` with the non-trained leaves (BN statistics, SN vectors) taken from ``new_state``."""
    mask = trained_mask(params)
    return jax.tree.map(lambda m, p, n: p if m else n, mask, params, new_state)


def parse_box(text: str, field: str) -> tuple[float, float, float, float]:
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or vals[2] <= 0 or vals[3] <= 0:
        raise FacejaxError(
            f"config.{field}={text!r}: expected 'top,left,height,width' in pixels at 256 px, e.g. "
            f"'20,20,50,90' (the original's eye crop)"
        )
    return vals


def eye_crops(x, eyes, box, mode: str, img_size: int, out_size: int):
    """The aesthetic loss's eye crops of NHWC x, resized to out_size (completion_beauty.md B.8).

    box: (top, left, height, width) at 256 px, scaled to img_size. mode "fixed": that box for every image (the
    original's crop_to_bounding_box(20, 20, 50, 90)); "eyes": a box of that size centred on the midpoint of each
    image's two eye centres (eyes (B, 2, 2) [y, x] in [0, 1])."""
    k = img_size / 256.0
    top, left, h, w = (v * k for v in box)
    h, w = max(round(h), 1), max(round(w), 1)
    if mode == "eyes":
        mid = jnp.nan_to_num(jnp.mean(jnp.asarray(eyes, jnp.float32), axis=1), nan=0.5) * img_size  # (B, 2)
        top = jnp.clip(mid[:, 0] - h / 2.0, 0, img_size - h)
        left = jnp.clip(mid[:, 1] - w / 2.0, 0, img_size - w)
    return crop_resize(x, top, left, h, w, out_size)


def load_frozen(sub: ConfigDict, family_name: str, net: str, field: str, fields: tuple):
    """The params of network `net` from the newest checkpoint of the `family_name` run in ``sub.checkpoint``.

    The run's saved config must agree with ``sub`` on `fields` (the architecture); every problem is one
    FacejaxError naming config.<field>.checkpoint and what was expected. The aesthetic and parsing families keep
    no EMA: the network is the run's trained params."""
    workdir = sub.checkpoint
    what = f"config.{field}.checkpoint"
    if not workdir:
        raise FacejaxError(
            f"{what} is empty: AesGAN's frozen {field} network is read from a facejax run of "
            f"configs/aesgan.py:{field} (or :{field}_synthetic); train one and set {what}=<its workdir>"
        )
    ckdir = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(ckdir):
        raise FacejaxError(
            f"{what}={workdir}: no checkpoints folder {ckdir}; expected the --workdir of a "
            f"`facejax train --config=configs/aesgan.py:{field}` run"
        )
    ck = Checkpointer(workdir)
    try:
        step = ck.latest_step()
        if step is None:
            raise FacejaxError(f"{what}={workdir}: {ckdir} holds no checkpoint yet")
        saved = ck.saved_config(step)
        if saved.get("family") != family_name:
            raise FacejaxError(
                f"{what}={workdir} is a {saved.get('family')!r} run; expected a {family_name!r} run "
                f"(configs/aesgan.py:{field})"
            )
        s, c = flatten_dict(saved.get(field, {})), flatten_dict(sub.to_dict())
        bad = [
            f"{field}.{f}: checkpoint has {s.get(f)!r}, config has {c.get(f)!r}" for f in fields if s.get(f) != c.get(f)
        ]
        if bad:
            raise FacejaxError(f"{what}={workdir} (step {step}) does not fit the config: " + "; ".join(bad))
        family = registry.create(ConfigDict(saved))
        abstract = jax.eval_shape(family.init, state_lib.root_key_data(0))
        state = ck.restore(step, abstract)
    finally:
        ck.close()
    return jax.device_get(state.params[net])
