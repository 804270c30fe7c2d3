"""Beautification of real faces by latent recovery (tfutil.Network.reverse_gan_for_etalons, beautify_image.py).

For a face y: find (z, beta) with G(z, beta) ~ y, then render G(z, beta + delta) for a sweep of deltas
(completion_beauty.md C.6). The original's recovery, which facejax follows step for step:

  loss     alpha * MSE(G(z, beta), y) + (1 - alpha) * MSE(Phi(G(z, beta)), Phi(y)), alpha = 0.7, pixels in
           [-1, 1]; Phi = VGG-Face's last layer (face_features.py; skipped when alpha = 1), fed [-1, 1] pixels
           resized by TF1's legacy bilinear as the original (config.beautify.face_input)
  init     z = RandomState(z_seed = 800).randn(latent_size); beta ~ U(0, 1) per rater
  steps    plain gradient descent on z and beta together, lr 0.1, lr / 5 from iteration 1000 on and / 2 every
           20,000 iterations (lr_i = lr / 5^[i >= 1000] / 2^(i // 20000)), 100,000 iterations
  clipping stochastic clipping (Lipton & Tripathi): z entries outside [-1, 1] are redrawn U(-1, 1); beta entries
           outside [0, 1] are redrawn U(-1, 1) (the original's bug: it means U(0, 1), which
           config.beautify.beta_resample_fix=True gives)
  checks   the original looks at its loss and its learning-rate schedule every 50 iterations
           (config.beautify.check_every): the kept point is the best of iterations 0, 50, 100 ... and the
           learning rate of iteration i is the schedule's at 50 * (i // 50); check_every = 1 keeps the best of
           every iteration (facejax's earlier behaviour)
  result   the (z, beta) of the lowest loss seen at a check (the loss is evaluated before that iteration's step)

Faces are recovered together, batch_size at a time, split over the devices (each face its own z, beta and best
loss; G treats examples independently, so the batch changes nothing); the iterations run in jitted chunks of
config.beautify.chunk. The generator is the EMA one at the checkpoint's level of detail.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.beholder import face_features, preprocess
from facejax.metrics.preprocess import list_images
from facejax.train import mesh as mesh_lib


def validate(config) -> None:
    b = config.beautify
    if not 0 <= b.alpha <= 1:
        raise FacejaxError(f"config.beautify.alpha={b.alpha}: expected in [0, 1] (pixel weight; 0.7 in the original)")
    for name in ("iters", "chunk", "batch_size", "lr_halve_every", "check_every"):
        if b[name] < 1:
            raise FacejaxError(f"config.beautify.{name}={b[name]}: expected >= 1")
    if b.lr <= 0 or b.lr_drop_factor <= 0:
        raise FacejaxError(f"config.beautify.lr={b.lr}, lr_drop_factor={b.lr_drop_factor}: expected > 0")
    if b.resize_filter not in FILTERS:
        raise FacejaxError(f"config.beautify.resize_filter={b.resize_filter!r}: expected one of {', '.join(FILTERS)}")
    if b.face_input not in face_features.INPUTS:
        raise FacejaxError(
            f"config.beautify.face_input={b.face_input!r}: expected one of "
            f"{', '.join(face_features.INPUTS)} ('original': [-1, 1] pixels as beautify_image.py)"
        )
    if b.face_size < 32 or b.face_size % 32:
        raise FacejaxError(f"config.beautify.face_size={b.face_size}: expected a multiple of 32 (224: VGG-Face's)")


class Recovery:
    """recover(ema_g, faces, step) -> (z, beta, loss) per face; `render` gives the delta sweep."""

    def __init__(self, family, mesh=None, face_params=None):
        validate(family.config)
        self.family, self.config = family, family.config
        b = self.config.beautify
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        self.uses_phi = b.alpha < 1
        if self.uses_phi and face_params is None:
            face_params = face_features.load(b.face_weights, b.face_size)
        self.face_params = face_params if self.uses_phi else {}
        n = self.mesh.devices.size
        self.batch = max(n, -(-b.batch_size // n) * n)
        self._chunks = {}

    def lr(self, i):
        b = self.config.beautify
        drop = jnp.where(i >= b.lr_drop_iter, 1.0 / b.lr_drop_factor, 1.0)
        return b.lr * drop / 2.0 ** (i // b.lr_halve_every).astype(jnp.float32)

    def _phi(self, x):
        b = self.config.beautify
        return face_features.features(self.face_params, x, b.face_size, b.face_input)

    def _loss(self, g, z, beta, y, phi_y, level, fade):
        """Per-face losses (summed for the gradient: the faces do not interact)."""
        a = self.config.beautify.alpha
        x = self.family.render(g, z, beta, level, fade)
        loss = a * jnp.mean(jnp.square(x - y), axis=(1, 2, 3))
        if self.uses_phi:
            loss = loss + (1 - a) * jnp.mean(jnp.square(self._phi(x) - phi_y), axis=1)
        return jnp.sum(loss), loss

    def _chunk_fn(self, level, fade):
        key = (level, fade)
        if key in self._chunks:
            return self._chunks[key]
        b = self.config.beautify
        hi_beta = 1.0
        check = b.check_every
        lo_beta = 0.0 if b.beta_resample_fix else -1.0

        def run(g, carry, y, phi_y, start, rng, n_iter):
            def body(k, c):
                z, beta, bz, bb, bl = c
                i = start + k
                (_, per), (gz, gb) = jax.value_and_grad(self._loss, argnums=(1, 2), has_aux=True)(
                    g, z, beta, y, phi_y, level, fade
                )
                better = (per < bl) & (i % check == 0)
                bz, bb = jnp.where(better[:, None], z, bz), jnp.where(better[:, None], beta, bb)
                bl = jnp.where(better, per, bl)
                lr = self.lr(i // check * check)
                z, beta = z - lr * gz, beta - lr * gb
                kz, kb = jax.random.split(jax.random.fold_in(rng, i))
                z = jnp.where(jnp.abs(z) > 1.0, jax.random.uniform(kz, z.shape, minval=-1.0, maxval=1.0), z)
                out = (beta < 0.0) | (beta > 1.0)
                beta = jnp.where(out, jax.random.uniform(kb, beta.shape, minval=lo_beta, maxval=hi_beta), beta)
                return z, beta, bz, bb, bl

            return jax.lax.fori_loop(0, n_iter, body, carry)

        rep, data = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
        fn = jax.jit(run, static_argnums=(6,), in_shardings=(rep, data, data, data, rep, rep), out_shardings=data)
        self._chunks[key] = fn
        return fn

    def recover(self, g_params, faces: np.ndarray, step: int, seed: int = 0):
        """(z, beta, loss) of each face (numpy, rows as faces)."""
        c, b, fam = self.config, self.config.beautify, self.family
        level, fade = fam.level_of(step)
        n = len(faces)
        pad = (-n) % self.batch
        y_all = np.concatenate([faces, np.repeat(faces[-1:], pad, 0)]) if pad else np.asarray(faces)
        z0 = np.random.RandomState(b.z_seed).randn(fam.latent_size).astype(np.float32)
        beta0 = np.random.default_rng([b.z_seed, 1]).uniform(0, 1, c.num_raters).astype(np.float32)
        phi_fn = jax.jit(self._phi) if self.uses_phi else None
        outs = []
        for s in range(0, len(y_all), self.batch):
            y = jnp.asarray(y_all[s : s + self.batch])
            m = len(y)
            phi_y = phi_fn(y) if self.uses_phi else jnp.zeros((m, 1))
            z, beta = jnp.tile(z0, (m, 1)), jnp.tile(beta0, (m, 1))
            carry = (z, beta, z, beta, jnp.full((m,), jnp.inf))
            rng = jax.random.fold_in(jax.random.key(seed), s)
            done = 0
            while done < b.iters:
                k = min(b.chunk, b.iters - done)
                carry = self._chunk_fn(level, fade)(g_params, carry, y, phi_y, jnp.int32(done), rng, k)
                done += k
            outs.append([np.asarray(v) for v in carry[2:]])
        z, beta, loss = (np.concatenate([o[i] for o in outs])[:n] for i in range(3))
        return z, beta, loss

    def render(self, g_params, z, beta, step: int, deltas=None) -> np.ndarray:
        """(faces, deltas, S, S, 3): G(z, beta + delta) for each delta."""
        fam = self.family
        level, fade = fam.level_of(step)
        deltas = self.config.beautify.deltas if deltas is None else deltas
        gen = jax.jit(lambda g, z, b: fam.render(g, z, b, level, fade))
        return np.stack([np.asarray(gen(g_params, z, beta + np.float32(d))) for d in deltas], axis=1)


FILTERS = ("antialias", "bilinear")


def read_face(path: str, size: int, resize_filter: str = "antialias") -> np.ndarray:
    """A face file as float32 (size, size, 3) in [-1, 1]. "antialias": beautify_image.py's
    img.resize((res, res), Image.ANTIALIAS) (PIL's Lanczos), then / 127.5 - 1 (preprocess.py); "bilinear": PIL's
    bilinear."""
    _check_filter(resize_filter)
    return images.read(path, preprocess.recipe(size, resize_filter))


def _check_filter(resize_filter: str) -> None:
    if resize_filter not in FILTERS:
        raise FacejaxError(
            f"config.beautify.resize_filter={resize_filter!r}: expected one of {', '.join(FILTERS)} "
            f"('antialias': PIL's ANTIALIAS, as beautify_image.py)"
        )


def face_input(image, size: int, resize_filter: str = "antialias") -> np.ndarray:
    """A uint8 RGB image (array or PIL image) as read_face reads a file."""
    _check_filter(resize_filter)
    return images.prepare(image, preprocess.recipe(size, resize_filter))


def beautify_arrays(family, state, src, deltas=None) -> np.ndarray:
    """uint8 (len(src), len(deltas), S, S, 3): each face recovered, then swept over the deltas (default
    config.beautify.deltas: what `folder` writes as beautify/<stem>_delta<d>.png), for uint8 images read as
    read_face reads files."""
    c = family.config
    _check_filter(c.beautify.resize_filter)
    faces = np.stack([face_input(a, c.img_size, c.beautify.resize_filter) for a in src])
    return images.to_uint8(_recover_and_sweep(family, state, faces, deltas)[0])


def _recover_and_sweep(family, state, faces, deltas=None):
    rec = Recovery(family)
    g = state.sampling_params()["G"]  # Gs, the EMA generator
    z, beta, loss = rec.recover(g, faces, int(state.step))
    return rec.render(g, z, beta, int(state.step), deltas), z, beta, loss


def folder(family, state, src_dir: str, out_dir: str) -> dict:
    """Every face of src_dir (flat folder): recovered, then swept over config.beautify.deltas. Writes
    <out>/beautify/<stem>_delta<d>.png, the grid beautify.png (each row: the face, then the sweep; delta 0 is the
    recovery) and latents.npz (file names, z, beta, loss)."""
    size = family.config.img_size
    paths = list_images(src_dir, "--src folder")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    faces = np.stack([read_face(p, size, family.config.beautify.resize_filter) for p in paths])
    sweep, z, beta, loss = _recover_and_sweep(family, state, faces)
    deltas = family.config.beautify.deltas
    u8 = images.to_uint8(sweep)
    for i, s in enumerate(stems):
        for j, d in enumerate(deltas):
            images.save_png(os.path.join(out_dir, "beautify", f"{s}_delta{d:.2f}.png"), u8[i, j])
    rows = np.concatenate([faces[:, None], sweep], axis=1)
    grid = images.save_png(
        os.path.join(out_dir, "beautify.png"),
        images.make_grid(images.to_uint8(rows.reshape((-1,) + rows.shape[2:])), ncol=len(deltas) + 1),
    )
    latents = os.path.join(out_dir, "latents.npz")
    np.savez(latents, file_name=np.array(stems), z=z, beta=beta, loss=loss)
    return {
        "grid": grid,
        "count": len(stems) * len(deltas),
        "pairs": len(stems) * len(deltas),
        "latents": latents,
        "beautify_dir": os.path.join(out_dir, "beautify"),
    }
